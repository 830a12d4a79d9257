//! Report cycles of `census-agent run` in a child process.
//!
//! The long-running agent mostly sleeps. A cycle (collect, TLS, HTTP/2, gzip, JSON) touches most of
//! the binary and allocates the whole inventory; run in the daemon itself, those pages stay resident
//! between runs (about 12.5 MiB measured, of which 10 MiB clean code pages). So `run` starts
//! `census-agent cycle` (a hidden subcommand, the same executable through `/proc/self/exe`, so a
//! package upgrade does not mix versions) for each cycle, and keeps only its scheduling: the idle
//! daemon stays small, and whatever a cycle allocates is returned to the system when it exits.
//!
//! # Protocol between the two
//! The child logs to the inherited stderr as the daemon would, and prints one JSON line
//! ([`CycleSummary`]) on stdout: what the scheduler needs (retry advice, spool size, failure). A
//! child that cannot be started, dies, or prints no summary is a failed cycle: the daemon logs why and
//! retries with backoff, and the spool keeps every report meanwhile (it is crash-safe by design).
//! A cycle that outlives its deadline (hung on a dead NFS mount, say) is killed and counts as failed:
//! in a child that is safe, where in process it would have stopped the agent for good.

use crate::reporter::CycleResult;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which half of the loop a cycle does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleKind {
    /// Collect the machine and report it (draining the spool first).
    Collect,
    /// Only retry the spool.
    Drain,
}

impl CycleKind {
    pub fn flag(self) -> &'static str {
        match self {
            CycleKind::Collect => "--collect",
            CycleKind::Drain => "--drain",
        }
    }
}

/// What the scheduler learns from one cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleSummary {
    /// The collector's `Retry-After`, when it gave one.
    pub retry_after_ms: Option<u64>,
    /// Reports still waiting in the spool.
    pub n_spooled: usize,
    /// Why the cycle failed, when it did (the spool is then retried with backoff).
    pub failed: Option<String>,
}

impl CycleSummary {
    pub fn of(result: &CycleResult) -> CycleSummary {
        CycleSummary {
            retry_after_ms: result
                .retry_after()
                .map(|after| after.as_millis().min(u64::MAX as u128) as u64),
            n_spooled: result.n_spooled,
            failed: None,
        }
    }

    pub fn failed(message: String, n_spooled: usize) -> CycleSummary {
        CycleSummary {
            retry_after_ms: None,
            n_spooled,
            failed: Some(message),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after_ms.map(Duration::from_millis)
    }

    /// The summary from a child's stdout: its last line that parses.
    pub fn from_stdout(stdout: &[u8]) -> Option<CycleSummary> {
        String::from_utf8_lossy(stdout)
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str(line).ok())
    }
}

/// How `run` starts a cycle: the executable and the arguments that give the child the daemon's
/// configuration (`--config`, `--state-dir`, `--log-format` as `run` was given them).
#[derive(Debug, Clone)]
pub struct ChildCycles {
    pub exe: PathBuf,
    pub common_args: Vec<OsString>,
    /// A cycle still running after this long is killed ([`cycle_deadline`]).
    pub deadline: Duration,
}

/// How long a cycle may run: the report interval (a cycle longer than that is stuck, and the next
/// one is due), at least 10 minutes (a long spool over a slow link is not stuck).
pub fn cycle_deadline(interval: Duration) -> Duration {
    interval.max(Duration::from_secs(600))
}

impl ChildCycles {
    /// This very executable: `/proc/self/exe` stays valid when a package upgrade replaces the file.
    pub fn this_executable(
        common_args: Vec<OsString>,
        deadline: Duration,
    ) -> std::io::Result<ChildCycles> {
        let exe = if cfg!(target_os = "linux") {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe()?
        };
        Ok(ChildCycles {
            exe,
            common_args,
            deadline,
        })
    }

    /// Runs one cycle to its end or its deadline (blocking) and returns its summary.
    pub fn run(&self, kind: CycleKind) -> Result<CycleSummary, String> {
        let mut child = Command::new(&self.exe)
            .arg("cycle")
            .arg(kind.flag())
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .args(&self.common_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("starting {} cycle: {error}", self.exe.display()))?;
        // Read on another thread, so that waiting for the deadline here never blocks on the pipe.
        let reader = child.stdout.take().map(|mut stdout| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = stdout.read_to_end(&mut bytes);
                bytes
            })
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the report cycle was still running after {} and was stopped; \
                         the spool keeps its reports for the next cycle",
                        crate::config::format_duration(self.deadline)
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(error) => return Err(format!("waiting for the report cycle: {error}")),
            }
        };
        let stdout = reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        match CycleSummary::from_stdout(&stdout) {
            Some(summary) => Ok(summary),
            None => Err(format!(
                "the report cycle ended ({status}) without a summary; see its log lines above"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_last_json_line_of_the_childs_stdout() {
        let summary = CycleSummary {
            retry_after_ms: Some(30_000),
            n_spooled: 2,
            failed: None,
        };
        let line = serde_json::to_string(&summary).unwrap();
        let stdout = format!("noise\n{line}\n");
        let back = CycleSummary::from_stdout(stdout.as_bytes()).unwrap();
        assert_eq!(back, summary);
        assert_eq!(back.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(CycleSummary::from_stdout(b"no summary here\n"), None);
        assert_eq!(CycleSummary::from_stdout(b""), None);
    }

    #[test]
    fn a_child_that_cannot_start_is_a_failed_cycle_with_the_reason() {
        let cycles = ChildCycles {
            exe: PathBuf::from("/nonexistent/census-agent"),
            common_args: Vec::new(),
            deadline: Duration::from_secs(10),
        };
        let error = cycles.run(CycleKind::Drain).unwrap_err();
        assert!(error.contains("/nonexistent/census-agent"), "{error}");
    }

    #[test]
    fn a_child_that_prints_no_summary_is_a_failed_cycle() {
        // `true` ignores its arguments, exits 0 and prints nothing: success without a summary is
        // still a failure for the scheduler.
        let cycles = ChildCycles {
            exe: PathBuf::from("true"),
            common_args: Vec::new(),
            deadline: Duration::from_secs(10),
        };
        let error = cycles.run(CycleKind::Collect).unwrap_err();
        assert!(error.contains("without a summary"), "{error}");
    }

    #[test]
    fn a_cycle_past_its_deadline_is_stopped_and_failed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let hung = dir.path().join("hung-cycle");
        std::fs::write(&hung, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&hung, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cycles = ChildCycles {
            exe: hung,
            common_args: Vec::new(),
            deadline: Duration::from_millis(300),
        };
        let started = Instant::now();
        let error = cycles.run(CycleKind::Collect).unwrap_err();
        assert!(error.contains("was stopped"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the child was not killed"
        );
    }

    #[test]
    fn the_deadline_is_the_interval_but_never_under_ten_minutes() {
        assert_eq!(
            cycle_deadline(Duration::from_secs(3600)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            cycle_deadline(Duration::from_secs(60)),
            Duration::from_secs(600)
        );
    }
}

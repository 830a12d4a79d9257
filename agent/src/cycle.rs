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

use crate::reporter::CycleResult;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

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
}

impl ChildCycles {
    /// This very executable: `/proc/self/exe` stays valid when a package upgrade replaces the file.
    pub fn this_executable(common_args: Vec<OsString>) -> std::io::Result<ChildCycles> {
        let exe = if cfg!(target_os = "linux") {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe()?
        };
        Ok(ChildCycles { exe, common_args })
    }

    /// Runs one cycle to its end (blocking) and returns its summary.
    pub fn run(&self, kind: CycleKind) -> Result<CycleSummary, String> {
        let output = Command::new(&self.exe)
            .arg("cycle")
            .arg(kind.flag())
            .args(&self.common_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| format!("starting {} cycle: {error}", self.exe.display()))?;
        match CycleSummary::from_stdout(&output.stdout) {
            Some(summary) => Ok(summary),
            None => Err(format!(
                "the report cycle ended ({}) without a summary; see its log lines above",
                output.status
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
        };
        let error = cycles.run(CycleKind::Collect).unwrap_err();
        assert!(error.contains("without a summary"), "{error}");
    }
}

//! CPU time a process has used, from `/proc/<pid>/stat`: the simulator shares the machine with the
//! collector it drives, so a phase's throughput alone cannot tell whose cores ran out. Reading both
//! processes' CPU around each phase gives the collector's cost per request, the figure that says
//! what the collector would take on cores of its own.

use std::io;

/// User + system CPU seconds of process `pid` (`None`: this process).
pub fn cpu_seconds(pid: Option<u32>) -> io::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path)?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: no utime/stime fields where Linux puts them"),
        )
    })?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// Field `n` (1-based, as in proc(5)) of one `/proc/<pid>/stat` line, from field 3 on. The command
/// name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted
/// after the last `)`.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(n.checked_sub(3)?)
}

/// `utime + stime` (clock ticks, fields 14 and 15) of one `/proc/<pid>/stat` line.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let utime: u64 = stat_field(stat, 14)?.parse().ok()?;
    let stime: u64 = stat_field(stat, 15)?.parse().ok()?;
    Some(utime + stime)
}

/// The processes whose parent is `pid` (field 4 of each `/proc/<pid>/stat`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| stat_field(&stat, 4)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// CPU used by the simulator and, when its pid is known, the collector since [`CpuMeter::start`].
pub struct CpuMeter {
    collector_pid: Option<u32>,
    collector: Option<f64>,
    simulator: Option<f64>,
}

impl CpuMeter {
    pub fn start(collector_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            collector_pid,
            collector: collector_pid.and_then(|pid| cpu_seconds(Some(pid)).ok()),
            simulator: cpu_seconds(None).ok(),
        }
    }

    /// Milliseconds of CPU per request since the start: `(collector, simulator)`; `None` where a
    /// reading failed (the collector exited, no /proc).
    pub fn per_request(&self, requests: usize) -> (Option<f64>, Option<f64>) {
        let per = |before: Option<f64>, now: io::Result<f64>| {
            let (before, now) = (before?, now.ok()?);
            (requests > 0).then(|| (now - before) * 1000.0 / requests as f64)
        };
        (
            self.collector_pid
                .and_then(|pid| per(self.collector, cpu_seconds(Some(pid)))),
            per(self.simulator, cpu_seconds(None)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_after_the_command_name() {
        // A real line from this machine, with a command name holding ") (" to trip naive splitting.
        let line = "5131 (cargo ) (x) S 1 5131 5131 0 -1 4194560 90520 1287713 0 3 1722 327 2651 433 20 0 4 0 \
                    4470512 106426368 22741 18446744073709551615 1 1 0 0 0 0 0 4096 1024 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_cpu_ticks(line), Some(1722 + 327));
    }

    #[test]
    fn this_process_is_a_child_of_its_parent() {
        let parent = rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get() as u32);
        let me = std::process::id();
        assert!(children_of(parent.unwrap()).contains(&me));
    }

    #[test]
    fn a_truncated_line_is_not_read_as_zero() {
        assert_eq!(parse_cpu_ticks("5131 (cargo) S 1 5131"), None);
        assert_eq!(parse_cpu_ticks("no name here"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin: u64 = (0..2_000_000u64).map(|n| n.wrapping_mul(n) % 7).sum();
        assert!(spin > 0);
        assert!(cpu_seconds(None).unwrap() > 0.0);
    }
}

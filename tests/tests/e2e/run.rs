//! `census-agent run` as the service runs it: each report cycle in a child process (`census-agent
//! cycle`), the daemon itself only scheduling. Observed from the outside: the report arrives, the
//! daemon keeps no child between cycles, SIGTERM stops it, and a cycle does not outlive a daemon
//! killed with SIGKILL.

use census_tests::cpu::children_of;
use census_tests::{CollectorProcess, binary, describe, run_ok};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agent_status(config: &Path) -> serde_json::Value {
    let output = run_ok(
        Command::new(binary("census-agent"))
            .args(["status", "--format", "json", "--config"])
            .arg(config),
    );
    serde_json::from_slice(&output.stdout).expect("status JSON")
}

/// Enrolls an agent with the collector; returns its configuration file (state under `dir/agent`).
fn enrolled_agent(dir: &Path, collector: &CollectorProcess) -> std::path::PathBuf {
    let token = collector.enroll_token(1);
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\ninterval = \"1h\"\nsplay = \"0s\"\n",
            dir.join("agent").display()
        ),
    )
    .unwrap();
    let mut enroll = Command::new(binary("census-agent"));
    enroll
        .args(["enroll", "--collector", &collector.url, "--token", &token])
        .arg("--ca")
        .arg(collector.ca_file())
        .arg("--config")
        .arg(&config);
    let output = enroll.output().unwrap();
    assert!(output.status.success(), "{}", describe(&enroll, &output));
    config
}

/// `census-agent run` started with `config`, its JSON log in `log`.
fn start_run(config: &Path, log: &Path) -> std::process::Child {
    Command::new(binary("census-agent"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits (up to `timeout`) for `run` to exit after a signal, and asserts it exited cleanly.
fn assert_stops_cleanly(run: &mut std::process::Child, timeout: Duration, log: &Path) {
    let mut status = None;
    wait_for("run to stop after SIGTERM", timeout, || {
        status = run.try_wait().unwrap();
        status.is_some()
    });
    let log = std::fs::read_to_string(log).unwrap_or_default();
    assert!(status.unwrap().success(), "{log}");
    assert!(log.contains("stopping"), "{log}");
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), signal)
        .unwrap();
}

/// Gone, or a zombie waiting for whoever adopted it.
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| census_tests::cpu::stat_field(&stat, 3) == Some("Z"))
        .unwrap_or(true)
}

#[test]
fn run_reports_in_a_child_cycle_keeps_no_child_between_cycles_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let config = enrolled_agent(dir.path(), &collector);

    let log = dir.path().join("run.log");
    let mut run = start_run(&config, &log);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the first report", Duration::from_secs(120), || {
        read_log().contains("report delivered")
    });
    let text = read_log();
    assert!(text.contains("child process"), "{text}");
    // The child's log lines reach the daemon's stderr in the daemon's format (JSON here).
    let delivered = text
        .lines()
        .find(|line| line.contains("report delivered"))
        .unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(delivered).is_ok(),
        "{delivered}"
    );
    assert_eq!(agent_status(&config)["last_report"]["outcome"], "delivered");
    assert_eq!(
        collector.api_get("/api/v1/agents").as_array().map(Vec::len),
        Some(1)
    );

    // Between cycles the daemon waits alone: the cycle's process has exited.
    wait_for("the cycle's child to exit", Duration::from_secs(30), || {
        children_of(run.id()).is_empty()
    });
    assert!(
        run.try_wait().unwrap().is_none(),
        "run exited: {}",
        read_log()
    );

    signal(run.id(), rustix::process::Signal::TERM);
    assert_stops_cleanly(&mut run, Duration::from_secs(30), &log);
}

#[test]
fn a_sigterm_during_the_first_cycle_stops_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let config = enrolled_agent(dir.path(), &collector);
    let log = dir.path().join("run.log");
    let mut run = start_run(&config, &log);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    // At once, while the first cycle collects and reports (it was once the default action then:
    // the process ended by the signal).
    wait_for("run to start", Duration::from_secs(30), || {
        read_log().contains("census-agent running")
    });
    signal(run.id(), rustix::process::Signal::TERM);
    assert_stops_cleanly(&mut run, Duration::from_secs(60), &log);
}

#[test]
fn a_cycle_stops_when_its_daemon_is_killed_with_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let config = enrolled_agent(dir.path(), &collector);
    // A frozen collector: connections are accepted by the kernel and never answered, so the first
    // cycle's report hangs (until its request timeout, far longer than this test).
    signal(collector.pid(), rustix::process::Signal::STOP);
    // Thawed however the test ends, so that stopping the collector works.
    struct Thaw(u32);
    impl Drop for Thaw {
        fn drop(&mut self) {
            signal(self.0, rustix::process::Signal::CONT);
        }
    }
    let _thaw = Thaw(collector.pid());
    let mut run = Command::new(binary("census-agent"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut cycle = 0;
    wait_for("the first cycle's child", Duration::from_secs(30), || {
        cycle = children_of(run.id()).first().copied().unwrap_or(0);
        cycle != 0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !exited(cycle),
        "the cycle should still be waiting on the frozen collector"
    );

    signal(run.id(), rustix::process::Signal::KILL);
    run.wait().unwrap();
    // At once: left alone, it would give up on the frozen collector only after its connect timeout
    // (~10 s) and could go on to its next step.
    wait_for("the orphaned cycle to stop", Duration::from_secs(3), || {
        exited(cycle)
    });
}

//! `census-agent run` as the service runs it: each report cycle in a child process (`census-agent
//! cycle`), the daemon itself only scheduling. Observed from the outside: the report arrives, the
//! daemon keeps no child between cycles, and SIGTERM stops it.

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

#[test]
fn run_reports_in_a_child_cycle_keeps_no_child_between_cycles_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let token = collector.enroll_token(1);
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\ninterval = \"1h\"\nsplay = \"0s\"\n",
            dir.path().join("agent").display()
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

    let log = dir.path().join("run.log");
    let mut run = Command::new(binary("census-agent"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
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

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(run.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let mut status = None;
    wait_for("run to stop after SIGTERM", Duration::from_secs(30), || {
        status = run.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "{}", read_log());
}

//! `census-collector quickstart`: a local collector and this machine's agent, reporting, in one command.

use census_tests::binary;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(dir: &Path) -> std::process::Child {
    Command::new(binary("census-collector"))
        .args(["quickstart", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("CENSUS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting quickstart")
}

/// Stops with SIGINT (as Ctrl-C would) and returns (exit status success, stdout, stderr).
fn interrupt(child: std::process::Child) -> (bool, String, String) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("sending SIGINT");
    let output = child.wait_with_output().expect("waiting for quickstart");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn quickstart_runs_a_collector_with_this_machines_agent_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("census-data");
    let acked = data.join("agent");

    let child = start(dir.path());
    // The agent has reported once the collector acknowledged an inventory (the agent keeps it).
    wait_for(
        "the local agent's first acknowledged report",
        Duration::from_secs(60),
        || {
            std::fs::read_dir(&acked)
                .map(|entries| {
                    entries
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().starts_with("acked"))
                })
                .unwrap_or(false)
        },
    );
    let (ok, stdout, stderr) = interrupt(child);
    assert!(
        ok,
        "quickstart did not stop cleanly\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("Census is running."), "{stdout}");
    assert!(stdout.contains("Census stopped"), "{stdout}");
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    assert!(
        stdout.contains(token.trim()),
        "the admin token is shown: {stdout}"
    );

    // Again on the same folder: same admin token, same agent, no second enrollment.
    let agent_id = std::fs::read_to_string(acked.join("enrollment.json")).ok();
    std::fs::remove_file(data.join("collector.url")).unwrap();
    let child = start(dir.path());
    wait_for("the collector URL", Duration::from_secs(30), || {
        std::fs::read_to_string(data.join("collector.url")).is_ok()
    });
    let (ok, stdout, stderr) = interrupt(child);
    assert!(
        ok,
        "second quickstart did not stop cleanly\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains(token.trim()),
        "the same admin token is reused: {stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(acked.join("enrollment.json")).ok(),
        agent_id
    );
}

//! Agent → collector over real TLS with the real binaries: enrollment, reports, check-ins, restarts,
//! outages and refusals, observed from the outside (agent status, the collector's API).

use census_tests::{CollectorProcess, binary, describe, enroll_token, run_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

fn collector_command(data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("census-collector"));
    command.args(args).arg("--data-dir").arg(data);
    command
}

fn agent(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("census-agent"));
    command.args(args).arg("--state-dir").arg(state);
    command
}

fn enroll(collector: &CollectorProcess, state: &Path, token: &str) -> Output {
    agent(
        state,
        &["enroll", "--collector", &collector.url, "--token", token],
    )
    .arg("--ca")
    .arg(collector.ca_file())
    .output()
    .expect("running census-agent enroll")
}

fn once(state: &Path, root: &Path) -> Output {
    let mut command = agent(state, &["once"]);
    command.arg("--root").arg(root);
    let output = command.output().expect("running census-agent once");
    assert!(output.status.success(), "{}", describe(&command, &output));
    output
}

fn status(state: &Path) -> Value {
    let output = run_ok(&mut agent(state, &["status", "--format", "json"]));
    serde_json::from_slice(&output.stdout).expect("status JSON")
}

/// A writable copy of a fixture machine, so a test can change it between reports.
fn machine_copy(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{FIXTURES}/debian"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    root
}

fn set_hostname(root: &Path, name: &str) {
    std::fs::write(root.join("etc/hostname"), format!("{name}\n")).unwrap();
}

fn hostnames(collector: &CollectorProcess) -> Vec<String> {
    let assets = collector.api_get("/api/v1/assets");
    let mut names: Vec<String> = assets["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["hostname"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn enroll_report_check_in_and_restart_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("agent");
    let root = machine_copy(dir.path(), "web-01");
    CollectorProcess::init(&data);
    let mut collector = CollectorProcess::start(&data);

    let token = enroll_token(&data, 1);
    let output = enroll(&collector, &state, &token);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    once(&state, &root);
    assert_eq!(status(&state)["last_report"]["outcome"], "delivered");
    assert_eq!(
        hostnames(&collector),
        ["web-01"],
        "the report is stored as a CI"
    );

    // Nothing changed: only a check-in goes out.
    once(&state, &root);
    assert_eq!(
        status(&state)["last_report"]["outcome"],
        "unchanged",
        "{}",
        status(&state)
    );

    // A clean restart keeps everything the collector acknowledged.
    assert!(collector.stop(), "the collector stops cleanly on SIGTERM");
    let collector = CollectorProcess::start_on(&data, collector.port());
    assert_eq!(hostnames(&collector), ["web-01"]);
    once(&state, &root);
    assert_eq!(
        status(&state)["last_report"]["outcome"],
        "unchanged",
        "the collector still holds the same inventory"
    );
    let agents = collector.api_get("/api/v1/agents");
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert_eq!(agents[0]["status"], "active");
}

/// The value of `census_reports_total{outcome="..."}` (0 when not yet counted).
fn reports_counted(collector: &CollectorProcess, outcome: &str) -> u64 {
    let metrics = collector.api_get_text("/metrics");
    let series = format!("census_reports_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

#[test]
fn a_second_agent_with_the_fleets_packages_sends_them_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let token = enroll_token(&data, 2);

    // The first machine: the collector holds no records yet, asks for all of them, the full form
    // follows.
    let first = dir.path().join("agent-1");
    assert!(enroll(&collector, &first, &token).status.success());
    once(&first, &machine_copy(dir.path(), "web-01"));
    assert_eq!(status(&first)["last_report"]["detail"], "full");
    assert_eq!(reports_counted(&collector, "need_packages"), 1);
    assert_eq!(reports_counted(&collector, "applied"), 1);
    let packages_before = packages_of(&collector);
    assert!(packages_before.len() > 10, "{packages_before:?}");

    // A second agent with the same packages: one request, every package named by digest.
    let second = dir.path().join("agent-2");
    let root = machine_copy(dir.path(), "web-02");
    set_hostname(&root, "web-02");
    assert!(enroll(&collector, &second, &token).status.success());
    once(&second, &root);
    assert_eq!(status(&second)["last_report"]["outcome"], "delivered");
    assert_eq!(
        status(&second)["last_report"]["detail"],
        "full, known packages by digest"
    );
    assert_eq!(reports_counted(&collector, "need_packages"), 1);
    assert_eq!(reports_counted(&collector, "applied"), 2);

    // The machine (the fixture's hardware identity, now under a second agent and a new name) holds
    // the whole package list, rebuilt from the digests.
    let packages_now = packages_of(&collector);
    assert_eq!(packages_now, packages_before);
    assert_eq!(hostnames(&collector), ["web-02"]);
}

/// The packages of the only CI, as the API shows them.
fn packages_of(collector: &CollectorProcess) -> Vec<Value> {
    let assets = collector.api_get("/api/v1/assets");
    let id = assets["items"][0]["id"].as_str().expect("a CI").to_string();
    collector.api_get(&format!("/api/v1/assets/{id}"))["inventory"]["software"]["packages"]
        .as_array()
        .expect("packages")
        .clone()
}

#[test]
fn reports_made_during_an_outage_are_spooled_then_delivered_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("agent");
    let root = machine_copy(dir.path(), "web-01");
    CollectorProcess::init(&data);
    let mut collector = CollectorProcess::start(&data);
    let port = collector.port();
    assert!(
        enroll(&collector, &state, &enroll_token(&data, 1))
            .status
            .success()
    );
    once(&state, &root);

    assert!(collector.stop());
    for name in ["web-02", "web-03", "web-04"] {
        set_hostname(&root, name);
        let output = once(&state, &root);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("spooled"), "{stderr}");
    }
    assert_eq!(status(&state)["spool_reports"], 3);

    let collector = CollectorProcess::start_on(&data, port);
    set_hostname(&root, "web-05");
    once(&state, &root);
    let after = status(&state);
    assert_eq!(after["spool_reports"], 0, "{after}");
    assert_eq!(
        hostnames(&collector),
        ["web-05"],
        "one machine, renamed: one CI"
    );

    // Each spooled report was applied once and in order: the CI's history shows the renames in turn.
    let ci = collector.api_get("/api/v1/assets")["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let history = collector.api_get(&format!("/api/v1/assets/{ci}/history?limit=100"));
    let renames: Vec<(String, String)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| entry["changes"].as_array().cloned().unwrap_or_default())
        .filter(|change| change["kind"] == "hostname_changed")
        .map(|change| {
            (
                change["from"].as_str().unwrap().to_string(),
                change["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("web-04", "web-05"),
        ("web-03", "web-04"),
        ("web-02", "web-03"),
        ("web-01", "web-02"),
    ]
    .iter()
    .map(|(from, to)| (from.to_string(), to.to_string()))
    .collect();
    assert_eq!(
        renames, expected,
        "newest first, each once, in order: {history}"
    );
}

#[test]
fn refusals_are_clear_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let other = dir.path().join("other");
    CollectorProcess::init(&data);
    CollectorProcess::init(&other);
    let collector = CollectorProcess::start(&data);

    // init never overwrites a collector.
    let ca_before = std::fs::read(data.join("ca.pem")).unwrap();
    let mut init_again = collector_command(&data, &["init"]);
    let output = init_again.output().unwrap();
    assert!(
        !output.status.success(),
        "{}",
        describe(&init_again, &output)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(data.join("ca.pem")).unwrap(), ca_before);

    // A used-up token.
    let token = enroll_token(&data, 1);
    assert!(
        enroll(&collector, &dir.path().join("a1"), &token)
            .status
            .success()
    );
    let output = enroll(&collector, &dir.path().join("a2"), &token);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("token"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A collector the agent's CA did not sign.
    let token = enroll_token(&data, 1);
    let mut command = agent(
        &dir.path().join("a3"),
        &["enroll", "--collector", &collector.url, "--token", &token],
    );
    command.arg("--ca").arg(other.join("ca.pem"));
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{}", describe(&command, &output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("CA"),
        "{}",
        describe(&command, &output)
    );

    // A revoked agent is refused from its next request on.
    let state = dir.path().join("a1");
    let agent_id = status(&state)["agent_id"].as_str().unwrap().to_string();
    run_ok(&mut collector_command(
        &data,
        &["agent", "revoke", &agent_id],
    ));
    let mut command = agent(&state, &["once"]);
    command.arg("--root").arg(format!("{FIXTURES}/alpine"));
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("revoked"),
        "{}",
        describe(&command, &output)
    );
    assert_eq!(
        hostnames(&collector),
        Vec::<String>::new(),
        "nothing was stored for the revoked agent"
    );

    // Plain HTTP on the HTTPS port.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", collector.port())).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("HTTPS"), "{answer}");
}

#[test]
fn admin_commands_work_with_the_collector_running_or_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    // Stopped: straight to the database.
    let stopped_token = enroll_token(&data, 2);
    let mut collector = CollectorProcess::start(&data);
    // Running: through its API.
    let running_token = enroll_token(&data, 1);
    assert!(
        stopped_token.starts_with("census_enroll_") && running_token.starts_with("census_enroll_")
    );
    let list = |data: &Path| {
        let output = run_ok(&mut collector_command(
            data,
            &["enroll-token", "list", "--json"],
        ));
        serde_json::from_slice::<Value>(&output.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(list(&data), 2, "both tokens, listed through the API");
    assert!(
        enroll(&collector, &dir.path().join("agent"), &stopped_token)
            .status
            .success()
    );
    assert!(collector.stop());
    assert_eq!(list(&data), 2, "listed from the database");
    let output = run_ok(&mut collector_command(&data, &["agent", "list", "--json"]));
    let agents: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(agents.as_array().unwrap().len(), 1);
}

#[test]
fn check_config_accepts_the_example_and_lists_every_problem_of_a_broken_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/collector.toml");
    run_ok(Command::new(binary("census-collector")).args(["check-config", "--config", example]));
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        broken.path(),
        "listen = \"nowhere\"\n[limits]\nmax_body_bytes = 0\n",
    )
    .unwrap();
    let mut command = Command::new(binary("census-collector"));
    command
        .arg("check-config")
        .arg("--config")
        .arg(broken.path());
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{}", describe(&command, &output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("listen") && stderr.contains("max_body_bytes"),
        "{stderr}"
    );
}

#[test]
fn a_machine_not_seen_for_the_configured_period_turns_stale_and_back_when_it_reports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("agent");
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[cmdb]\nstale_after = \"2s\"\n").unwrap();
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start_with(&data, &["--config", config.to_str().unwrap()]);
    assert!(
        enroll(&collector, &state, &enroll_token(&data, 1))
            .status
            .success()
    );
    once(&state, Path::new(&format!("{FIXTURES}/alpine")));
    let status_of = || {
        collector.api_get("/api/v1/assets")["items"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(status_of(), "in_use");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while status_of() != "stale" {
        assert!(
            std::time::Instant::now() < deadline,
            "the CI never turned stale"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // Seen again: in use again (the check-in of an unchanged machine counts as being seen).
    once(&state, Path::new(&format!("{FIXTURES}/alpine")));
    assert_eq!(status_of(), "in_use");
}

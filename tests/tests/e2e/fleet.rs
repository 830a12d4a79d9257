//! The fleet simulator against a real collector process: it must keep working, since the benchmarks
//! in BENCHMARKS.md are taken with it.

use census_tests::{CollectorProcess, binary, describe};
use std::process::Command;

#[test]
fn a_small_simulated_fleet_enrolls_reports_checks_in_and_sends_deltas_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let token = collector.enroll_token(12);

    let mut command = Command::new(binary("census-fleetsim"));
    command
        .args([
            "--collector",
            &collector.url,
            "--token",
            &token,
            "--agents",
            "12",
            "--concurrency",
            "4",
        ])
        .args([
            "--min-packages",
            "300",
            "--max-packages",
            "600",
            "--checkin-rounds",
            "1",
            "--checkin-seconds",
            "1",
            "--json",
        ])
        .args(["--collector-pid", &collector.pid().to_string()])
        .arg("--ca")
        .arg(collector.ca_file());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", describe(&command, &output));
    let phases: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let phase = |name: &str| {
        phases
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["phase"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(phase("enroll")["requests"], 12);
    assert_eq!(phase("full report")["errors"], 0);
    // Both processes' CPU is read around every phase: a full report costs the collector something.
    let full = phase("full report");
    assert!(
        full["collector_cpu_ms"].as_f64().unwrap() > 0.0,
        "{phases:#}"
    );
    assert!(
        full["simulator_cpu_ms"].as_f64().unwrap() > 0.0,
        "{phases:#}"
    );
    // Unchanged machines only check in; upgraded ones send deltas, never full documents.
    assert_eq!(phase("unchanged check-in")["unchanged"], 12, "{phases:#}");
    // Sustained check-ins: back to back on kept-alive connections, all answered "unchanged".
    let load = phase("sustained check-ins");
    assert_eq!(load["errors"], 0, "{phases:#}");
    assert!(load["requests"].as_u64().unwrap() > 12, "{phases:#}");
    assert_eq!(load["unchanged"], load["requests"], "{phases:#}");
    assert_eq!(phase("after upgrades")["deltas"], 12, "{phases:#}");
    // The outage burst: each agent's queued report lands, as a delta, whatever backpressure it met.
    let burst = phase("outage burst");
    assert_eq!(burst["requests"], 12, "{phases:#}");
    assert_eq!(burst["errors"], 0, "{phases:#}");
    assert_eq!(burst["deltas"], 12, "{phases:#}");
    assert_eq!(burst["throttled_without_retry_after"], 0, "{phases:#}");
    // No change was registered: every upgrade is flagged as unauthorized.
    let flags = collector.api_get("/api/v1/reports/unauthorized-changes?limit=500");
    assert!(
        flags["items"].as_array().unwrap().len() >= 12,
        "one flag per machine at least: {flags:#}"
    );
}

#[test]
fn a_fleet_that_registers_its_upgrades_as_a_change_raises_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    let collector = CollectorProcess::start(&data);
    let token = collector.enroll_token(6);
    let mut command = Command::new(binary("census-fleetsim"));
    command
        .args(["--collector", &collector.url, "--token", &token])
        .args([
            "--agents",
            "6",
            "--concurrency",
            "3",
            "--checkin-rounds",
            "0",
        ])
        .args(["--min-packages", "300", "--max-packages", "400", "--json"])
        .args(["--cover-upgrades-with", &collector.admin_token()])
        .arg("--ca")
        .arg(collector.ca_file());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", describe(&command, &output));
    let phases: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let upgrades = phases
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == "after upgrades")
        .unwrap();
    assert_eq!(upgrades["deltas"], 6, "{phases:#}");

    let changes = collector.api_get("/api/v1/changes");
    let items = changes["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{changes:#}");
    assert_eq!(items[0]["state"], "scheduled", "{changes:#}");
    assert_eq!(
        items[0]["affected_cis"].as_array().unwrap().len(),
        6,
        "{changes:#}"
    );
    let flags = collector.api_get("/api/v1/reports/unauthorized-changes");
    assert_eq!(flags["items"], serde_json::json!([]), "{flags:#}");
}

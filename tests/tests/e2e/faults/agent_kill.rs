//! kill -9 of the real `census-agent` at random moments, first while it spools (collector down), then
//! while it drains its spool into the collector: the spool stays readable (nothing quarantined), every
//! report that was spooled is delivered, in order, and none is applied twice.
//!
//! Every run reports a new hostname, so the CI's `hostname_changed` history lists exactly the reports
//! the collector applied, in the order it applied them.

use super::{Child, agent, agent_status, enroll_agent, machine_copy, renames, seed, set_hostname};
use census_tests::CollectorProcess;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Killed runs per phase.
const KILLS: usize = 10;

/// Starts `census-agent once` reporting hostname `name`.
fn start_once(state: &Path, root: &Path, name: &str) -> Child {
    set_hostname(root, name);
    let mut command = agent(state, &["once"]);
    command
        .arg("--root")
        .arg(root)
        .env("CENSUS_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Child::spawn(&mut command)
}

/// Runs `once` to its end; returns how long it took.
fn run_once(state: &Path, root: &Path, name: &str) -> Duration {
    let started = Instant::now();
    let mut child = start_once(state, root, name);
    let status = child
        .wait_timeout(Duration::from_secs(60))
        .expect("census-agent once finished within 60 s");
    assert!(status.success(), "census-agent once failed: {status}");
    started.elapsed()
}

/// Starts `once` with hostname `name` and SIGKILLs it after a random part of `span`; returns whether
/// it finished before the kill.
fn killed_run(state: &Path, root: &Path, name: &str, span: Duration, rng: &mut StdRng) -> bool {
    let mut child = start_once(state, root, name);
    let delay = span.mul_f64(rng.random_range(0.0..1.1));
    match child.wait_timeout(delay) {
        Some(status) => {
            assert!(status.success(), "census-agent once failed: {status}");
            true
        }
        None => !child.kill(),
    }
}

/// Files in the spool's quarantine (unreadable or refused reports).
fn quarantined(state: &Path) -> Vec<String> {
    std::fs::read_dir(state.join("spool/quarantine"))
        .map(|listing| {
            listing
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_of_the_agent_while_spooling_and_draining_loses_and_duplicates_nothing() {
    let seed = seed("agent kill -9");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("agent");
    let root = dir.path().join("machine");
    machine_copy(&root);
    CollectorProcess::init(&data);
    let mut collector = CollectorProcess::start(&data);
    let port = collector.port();
    enroll_agent(&collector, &data, &state);
    run_once(&state, &root, "host-000");

    // Phase 1: the collector is down; each run spools its report, unless killed first.
    assert!(collector.stop());
    let mut name_index = 0;
    let mut next_name = || {
        name_index += 1;
        format!("host-{name_index:03}")
    };
    let first = next_name();
    let spool_span = run_once(&state, &root, &first);
    let mut surely_spooled = vec![first];
    let mut n_cut_short = 0;
    for _ in 0..KILLS {
        let name = next_name();
        if killed_run(&state, &root, &name, spool_span, &mut rng) {
            surely_spooled.push(name);
        } else {
            n_cut_short += 1;
        }
    }
    let status = agent_status(&state);
    assert!(
        status["spool_reports"].as_u64().unwrap() as usize >= surely_spooled.len(),
        "every run that finished left its report in the spool: {status:#}"
    );
    assert_eq!(
        quarantined(&state),
        Vec::<String>::new(),
        "the spool stays readable"
    );

    // Phase 2: the collector is back; each run drains the spool oldest first, unless killed first.
    let collector = CollectorProcess::start_on(&data, port);
    let drain_span = run_once(&state, &root, &next_name());
    for _ in 0..KILLS {
        let name = next_name();
        if !killed_run(&state, &root, &name, drain_span, &mut rng) {
            n_cut_short += 1;
        }
    }
    let last = next_name();
    run_once(&state, &root, &last);
    let status = agent_status(&state);
    assert_eq!(status["spool_reports"], 0, "{status:#}");
    assert_eq!(
        quarantined(&state),
        Vec::<String>::new(),
        "the spool stays readable"
    );
    eprintln!(
        "agent kill -9: {} runs killed, {n_cut_short} of them before they finished; spooling run \
         {spool_span:?}, draining run {drain_span:?}",
        2 * KILLS
    );

    let assets = collector.api_get("/api/v1/assets");
    let items = assets["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one machine, one CI: {assets:#}");
    assert_eq!(items[0]["hostname"], last.as_str());
    let ci = items[0]["id"].as_str().unwrap();
    let applied = renames(&collector, ci);
    eprintln!("agent kill -9: {} reports applied", applied.len());
    let mut in_order = applied.clone();
    in_order.sort();
    in_order.dedup();
    assert_eq!(
        applied, in_order,
        "reports applied once each, in the order they were made"
    );
    for name in &surely_spooled {
        assert!(
            applied.contains(name),
            "{name} was spooled but never delivered: {applied:?}"
        );
    }
}

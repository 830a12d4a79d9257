//! kill -9 of the collector during sustained ingest, over and over: what it acknowledged survives,
//! the database opens every time, and no machine ever gets a second CI.
//!
//! Each simulated agent changes one package to a version no other report of it carries
//! ([`SimAgent::bump`]) before every report, so the CI's history says exactly which reports were
//! stored. A report the collector acknowledged must be in it; a report it did not acknowledge may be
//! there (applied, but the answer was lost with the process) or not; none may be there twice.

use super::{all_assets, enroll, enroll_token, history, runtime, seed, small_fleet, versions_of};
use census_shared::hash::content_hash;
use census_shared::inventory::Inventory;
use census_tests::CollectorProcess;
use census_tests::fleet::{Outcome, SimAgent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const CYCLES: usize = 20;
const AGENTS: usize = 6;

/// What one simulated agent sent and what the collector acknowledged.
#[derive(Default)]
struct Ledger {
    /// Versions sent, in order (each in exactly one report).
    sent: Vec<String>,
    /// Versions of the reports answered 200 (applied).
    acked: BTreeSet<String>,
    /// Version of the last acknowledged report.
    last_acked: Option<String>,
    /// Refusals that retrying cannot fix: there must be none.
    refused: Vec<String>,
}

/// Reports as fast as the collector allows until `stop`; a refused or failed report is simply
/// followed by the next (with the next change), as a real agent's next run would.
async fn drive(
    mut agent: SimAgent,
    mut ledger: Ledger,
    stop: Arc<AtomicBool>,
) -> (SimAgent, Ledger) {
    while !stop.load(Ordering::Relaxed) {
        let version = agent.bump();
        ledger.sent.push(version.clone());
        match agent.report_once().await {
            Ok(Outcome::Applied { .. } | Outcome::Unchanged) => {
                ledger.acked.insert(version.clone());
                ledger.last_acked = Some(version);
            }
            Ok(Outcome::Unreachable(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(Outcome::Failed(error)) => ledger.refused.push(error),
            Err(after) => {
                let wait = after.unwrap_or_default().min(Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
        }
    }
    (agent, ledger)
}

#[test]
fn kill_9_of_the_collector_during_ingest_loses_no_acknowledged_report_and_duplicates_no_ci() {
    kill_9_during_ingest("sled");
}

#[test]
fn kill_9_of_a_collector_on_redb_loses_no_acknowledged_report_and_duplicates_no_ci() {
    kill_9_during_ingest("redb");
}

/// The scenario on a data dir created with `init --engine ENGINE`.
fn kill_9_during_ingest(engine: &str) {
    let seed = seed(&format!("collector kill -9 ({engine})"));
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init_with(&data, &["--engine", engine]);
    assert_eq!(
        data.join("census.redb").is_file(),
        engine == "redb",
        "the database of `init --engine {engine}`"
    );
    let mut collector = CollectorProcess::start(&data);
    let port = collector.port();
    let runtime = runtime();
    let options = small_fleet(&collector, enroll_token(&data, AGENTS), AGENTS, seed);
    let mut agents = enroll(&runtime, &options);
    let mut ledgers: Vec<Ledger> = (0..AGENTS).map(|_| Ledger::default()).collect();

    let mut n_acked_in_cycles = Vec::new();
    for cycle in 0..CYCLES {
        if cycle > 0 {
            collector = CollectorProcess::start_on(&data, port);
        }
        let acked_before: usize = ledgers.iter().map(|ledger| ledger.acked.len()).sum();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = agents
            .drain(..)
            .zip(ledgers.drain(..))
            .map(|(agent, ledger)| runtime.spawn(drive(agent, ledger, Arc::clone(&stop))))
            .collect();
        // A random moment of sustained ingest: requests are in flight on every agent at any time.
        std::thread::sleep(Duration::from_millis(rng.random_range(150..700)));
        collector.kill();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let (agent, ledger) = runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(30), task).await })
                .expect("an agent stopped within 30 s of the kill")
                .expect("an agent task");
            agents.push(agent);
            ledgers.push(ledger);
        }
        let acked_after: usize = ledgers.iter().map(|ledger| ledger.acked.len()).sum();
        n_acked_in_cycles.push(acked_after - acked_before);
    }
    let total_acked: usize = ledgers.iter().map(|ledger| ledger.acked.len()).sum();
    let total_sent: usize = ledgers.iter().map(|ledger| ledger.sent.len()).sum();
    eprintln!(
        "collector kill -9 ({engine}): {CYCLES} kills, {total_sent} reports sent, {total_acked} \
         acknowledged"
    );
    for ledger in &ledgers {
        assert_eq!(
            ledger.refused,
            Vec::<String>::new(),
            "reports refused after a crash"
        );
    }
    assert!(
        total_acked >= CYCLES,
        "too little ingest between the kills to test anything: {total_acked} acknowledged"
    );

    // The database opens once more, with everything acknowledged in it.
    let collector = CollectorProcess::start_on(&data, port);
    let assets = all_assets(&collector);
    assert_eq!(
        assets.len(),
        AGENTS,
        "one CI per machine, never a duplicate: {assets:#?}"
    );
    let mut seen_hostnames = BTreeMap::new();
    for asset in &assets {
        let ci = asset["id"].as_str().unwrap();
        let detail = collector.api_get(&format!("/api/v1/assets/{ci}"));
        let inventory: Inventory =
            serde_json::from_value(detail["inventory"].clone()).expect("a stored inventory");
        let hostname = inventory.host.hostname.clone().unwrap_or_default();
        let index: usize = hostname
            .strip_prefix("sim-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("CI {ci} has an unexpected hostname '{hostname}'"));
        assert!(
            seen_hostnames.insert(index, ci.to_string()).is_none(),
            "two CIs for machine {hostname}"
        );
        let agent = &agents[index];
        let ledger = &ledgers[index];
        let package = agent.bumped_package().unwrap().to_string();

        let stored: Vec<String> = versions_of(&history(&collector, ci), &package);
        assert!(!stored.is_empty(), "{hostname}: no history");
        let unique: BTreeSet<&String> = stored.iter().collect();
        assert_eq!(
            unique.len(),
            stored.len(),
            "{hostname}: a report was applied twice: {stored:?}"
        );
        for version in &ledger.acked {
            assert!(
                unique.contains(version),
                "{hostname}: acknowledged report {version} is missing from the CI's history \
                 (stored: {stored:?})"
            );
        }
        let sent: BTreeSet<&String> = ledger.sent.iter().collect();
        for version in &stored {
            assert!(
                sent.contains(version),
                "{hostname}: {version} was never sent"
            );
        }
        // The current inventory is the last acknowledged one, or a later one whose answer was lost.
        let current = inventory
            .software
            .packages
            .iter()
            .find(|p| p.name == package)
            .map(|p| p.version.clone())
            .unwrap();
        let position = |version: &str| ledger.sent.iter().position(|v| v == version);
        if let Some(last) = &ledger.last_acked {
            assert!(
                position(&current) >= position(last),
                "{hostname}: the CI holds {current}, older than the acknowledged {last}"
            );
            if &current == last {
                assert_eq!(
                    Some(content_hash(&inventory).as_str()),
                    agent.acked_hash(),
                    "{hostname}: the stored inventory is not the acknowledged one"
                );
            }
        }
    }
    eprintln!("collector kill -9 ({engine}): acknowledged per cycle {n_acked_in_cycles:?}");
}

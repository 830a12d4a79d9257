//! Fault suites (issue 7): crashes, a full disk, a reconnect storm and hostile clients, against the
//! real `census-collector serve` process and real agents (the `census-agent` binary, or the fleet
//! simulator, which runs the agent's own transport and delivery code).
//!
//! Each test is bounded in time (short cycles, small inventories, timeouts on every wait) and reaps
//! every process it starts ([`CollectorProcess`] kills on drop; [`Child`] guards here do the same).
//! Randomised tests take their seed from `CENSUS_FAULT_SEED` when set, otherwise from the clock, and
//! print it first, so a failing run can be replayed exactly.

mod agent_kill;
mod collector_kill;
mod disk_full;
mod reconnect_storm;
mod slow_clients;

use census_tests::fleet::{self, FleetOptions, SimAgent};
use census_tests::{CollectorProcess, binary, describe, enroll_token, run_ok};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The seed of a randomised test, printed so the run can be replayed with `CENSUS_FAULT_SEED`.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("CENSUS_FAULT_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|since| since.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!("{test}: seed {seed} (replay with CENSUS_FAULT_SEED={seed})");
    seed
}

/// A runtime for the in-process simulated agents.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Small machines (tens of packages) keep each cycle short; the faults, not the volume, are tested.
fn small_fleet(
    collector: &CollectorProcess,
    token: String,
    agents: usize,
    seed: u64,
) -> FleetOptions {
    FleetOptions {
        collector_url: collector.url.clone(),
        ca_pem: std::fs::read_to_string(collector.ca_file()).expect("ca.pem"),
        token,
        agents,
        concurrency: 32,
        min_packages: 20,
        max_packages: 60,
        upgrades: 1,
        seed,
        max_retry_wait: Duration::from_millis(100),
    }
}

/// Enrolls `options.agents` simulated agents; every enrollment must succeed.
fn enroll(runtime: &tokio::runtime::Runtime, options: &FleetOptions) -> Vec<SimAgent> {
    let (agents, stats) = runtime.block_on(fleet::enroll_fleet(options));
    assert_eq!(stats.errors, 0, "enrollment failed: {stats:?}");
    assert_eq!(agents.len(), options.agents);
    agents
}

/// Every CI the collector holds (all pages).
fn all_assets(collector: &CollectorProcess) -> Vec<Value> {
    let mut assets = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/assets?limit=1000&cursor={cursor}"),
            None => "/api/v1/assets?limit=1000".to_string(),
        };
        let page = collector.api_get(&path);
        assets.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => return assets,
        }
    }
}

/// Every history entry of CI `ci` (all pages), newest first.
fn history(collector: &CollectorProcess, ci: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/assets/{ci}/history?limit=1000&cursor={cursor}"),
            None => format!("/api/v1/assets/{ci}/history?limit=1000"),
        };
        let page = collector.api_get(&path);
        entries.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_string()),
            _ => return entries,
        }
    }
}

/// Every version package `name` had in the CI's history `entries` (newest first): the `to` of each
/// `package_upgraded` change, then the `from` of the oldest one (the version the CI was created with).
fn versions_of(entries: &[Value], name: &str) -> Vec<String> {
    let changes: Vec<Value> = entries
        .iter()
        .flat_map(|entry| entry["changes"].as_array().cloned().unwrap_or_default())
        .filter(|change| change["kind"] == "package_upgraded" && change["name"] == name)
        .collect();
    let mut versions: Vec<String> = changes
        .iter()
        .filter_map(|change| change["to"].as_str().map(str::to_string))
        .collect();
    if let Some(created) = changes.last().and_then(|change| change["from"].as_str()) {
        versions.push(created.to_string());
    }
    versions
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

fn agent(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("census-agent"));
    command.args(args).arg("--state-dir").arg(state);
    command
}

fn agent_status(state: &Path) -> Value {
    let output = run_ok(&mut agent(state, &["status", "--format", "json"]));
    serde_json::from_slice(&output.stdout).expect("status JSON")
}

/// A writable copy of the Debian fixture machine at `root`, whose hostname a test changes per report.
fn machine_copy(root: &Path) {
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{FIXTURES}/debian"))
            .arg(root),
    );
}

fn set_hostname(root: &Path, name: &str) {
    std::fs::write(root.join("etc/hostname"), format!("{name}\n")).unwrap();
}

/// Enrolls the real agent with state dir `state` (with a one-use token of the collector at `data`).
fn enroll_agent(collector: &CollectorProcess, data: &Path, state: &Path) {
    let mut command = agent(
        state,
        &[
            "enroll",
            "--collector",
            &collector.url,
            "--token",
            &enroll_token(data, 1),
        ],
    );
    command.arg("--ca").arg(collector.ca_file());
    let output = command.output().expect("running census-agent enroll");
    assert!(output.status.success(), "{}", describe(&command, &output));
}

/// The hostnames CI `ci` was renamed to, oldest first: one per applied report of a renamed machine.
fn renames(collector: &CollectorProcess, ci: &str) -> Vec<String> {
    let mut names: Vec<String> = history(collector, ci)
        .iter()
        .flat_map(|entry| entry["changes"].as_array().cloned().unwrap_or_default())
        .filter(|change| change["kind"] == "hostname_changed")
        .filter_map(|change| change["to"].as_str().map(str::to_string))
        .collect();
    names.reverse();
    names
}

/// A child process killed and reaped when dropped, whatever the test's outcome.
struct Child(Option<std::process::Child>);

impl Child {
    fn spawn(command: &mut Command) -> Child {
        Child(Some(command.spawn().unwrap_or_else(|error| {
            panic!("starting {command:?} failed: {error}")
        })))
    }

    /// Waits up to `timeout` for the exit; `None` if it is still running.
    fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let child = self.0.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.0 = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL and reap; returns whether it was still running when killed.
    fn kill(&mut self) -> bool {
        let Some(mut child) = self.0.take() else {
            return false;
        };
        let running = matches!(child.try_wait(), Ok(None));
        let _ = child.kill();
        let _ = child.wait();
        running
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

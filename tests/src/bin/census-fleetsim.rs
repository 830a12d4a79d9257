//! `census-fleetsim`: a simulated fleet against a real collector, for load tests and benchmarks.
//!
//! ```sh
//! census-collector init --data-dir /tmp/bench && census-collector serve --data-dir /tmp/bench &
//! TOKEN=$(census-collector enroll-token create --data-dir /tmp/bench --max-uses 1000 | tail -1)
//! census-fleetsim --collector https://127.0.0.1:8443 --ca /tmp/bench/ca.pem --token "$TOKEN" --agents 1000
//! ```
//!
//! Phases: enroll, full report, unchanged check-ins, after upgrades, and the outage burst (each agent
//! queued `--outage-reports` reports while the collector was down, then all agents deliver at once).

use anyhow::Context;
use census_tests::cpu::CpuMeter;
use census_tests::fleet::{self, FleetOptions, PhaseStats};
use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "census-fleetsim",
    about = "Drive a real Census collector with a simulated fleet of agents"
)]
struct Args {
    /// The collector's URL (`https://127.0.0.1:8443`).
    #[arg(long)]
    collector: String,
    /// The collector's CA certificate (DATA_DIR/ca.pem).
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// An enrollment token with at least --agents uses.
    #[arg(long)]
    token: String,
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds of unchanged check-ins.
    #[arg(long, default_value_t = 3)]
    checkin_rounds: usize,
    #[arg(long, default_value_t = 300)]
    min_packages: usize,
    #[arg(long, default_value_t = 2000)]
    max_packages: usize,
    /// Packages upgraded per machine in the upgrade phase.
    #[arg(long, default_value_t = 3)]
    upgrades: usize,
    /// Reports each agent queued while the collector was down ("down for an hour": one hourly report
    /// each by default); then every agent delivers its queue at once. 0 skips the outage burst.
    #[arg(long, default_value_t = 1)]
    outage_reports: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of sustained check-ins (each agent back to back on its kept-alive connection, its hash
    /// computed once): the collector's check-in capacity. 0 skips the phase.
    #[arg(long, default_value_t = 0)]
    checkin_seconds: u64,
    /// The collector's process id, when it runs on this machine: each phase then reports the
    /// collector's CPU per request beside the simulator's own (they share the cores, so throughput
    /// alone cannot say which one ran out).
    #[arg(long, value_name = "PID")]
    collector_pid: Option<u32>,
    /// An API token (admin or approver): before the upgrade phase, register the upgrades as one
    /// scheduled standard change over every CI, so that none raises an unauthorized-change flag (a
    /// fleet that registers its routine updates). Without it every upgrade raises one.
    #[arg(long, value_name = "TOKEN")]
    cover_upgrades_with: Option<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().expect("an async runtime");
    if let Err(error) = runtime.block_on(run(args)) {
        eprintln!("census-fleetsim: {error:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let options = FleetOptions {
        collector_url: args.collector.trim_end_matches('/').to_string(),
        ca_pem: std::fs::read_to_string(&args.ca)
            .with_context(|| format!("reading {}", args.ca.display()))?,
        token: args.token,
        agents: args.agents,
        concurrency: args.concurrency,
        min_packages: args.min_packages,
        max_packages: args.max_packages.max(args.min_packages),
        upgrades: args.upgrades,
        seed: args.seed,
        max_retry_wait: fleet::DEFAULT_MAX_RETRY_WAIT,
    };
    let mut phases: Vec<PhaseStats> = Vec::new();
    let pid = args.collector_pid;
    // Started again after each phase's preparation (hashing, encoding), so that CPU per request is
    // what the deliveries cost.
    let mut meter = CpuMeter::start(pid);
    let mut record = |mut phase: PhaseStats, meter: &CpuMeter| {
        (phase.collector_cpu_ms, phase.simulator_cpu_ms) = meter.per_request(phase.requests);
        phases.push(phase);
    };
    let (agents, enroll) = fleet::enroll_fleet(&options).await;
    record(enroll, &meter);
    let ready = fleet::prepare_round(agents, |_| {});
    meter = CpuMeter::start(pid);
    let (mut agents, full) = fleet::deliver_round("full report", ready, options.concurrency).await;
    record(full, &meter);
    for _ in 0..args.checkin_rounds {
        let ready = fleet::prepare_round(agents, |_| {});
        meter = CpuMeter::start(pid);
        let (next, checkin) =
            fleet::deliver_round("unchanged check-in", ready, options.concurrency).await;
        agents = next;
        record(checkin, &meter);
    }
    if args.checkin_seconds > 0 {
        meter = CpuMeter::start(pid);
        let (next, load) =
            fleet::checkin_load(agents, std::time::Duration::from_secs(args.checkin_seconds)).await;
        agents = next;
        record(load, &meter);
    }
    if let Some(token) = &args.cover_upgrades_with {
        let covered = fleet::cover_fleet_with_change(&options, token.trim())
            .await
            .context("registering the upgrades as a change (--cover-upgrades-with)")?;
        eprintln!("census-fleetsim: one scheduled change covers the upgrades of {covered} CIs");
    }
    let upgrades = options.upgrades;
    let ready = fleet::prepare_round(agents, |agent| agent.upgrade_packages(upgrades));
    meter = CpuMeter::start(pid);
    let (agents, upgrade) =
        fleet::deliver_round("after upgrades", ready, options.concurrency).await;
    record(upgrade, &meter);
    if args.outage_reports > 0 {
        // Every agent at once, whatever --concurrency says: that is what a restart meets.
        let n_agents = agents.len();
        let ready = fleet::prepare_burst(agents, args.outage_reports, upgrades);
        meter = CpuMeter::start(pid);
        let (_, burst) = fleet::deliver_burst(ready, n_agents).await;
        record(burst, &meter);
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&phases)?);
    } else {
        println!(
            "{:<20} {:>8} {:>7} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>13} {:>13}",
            "phase",
            "requests",
            "errors",
            "throttled",
            "per second",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "collector cpu",
            "simulator cpu"
        );
        let cpu = |ms: Option<f64>| ms.map_or("-".to_string(), |ms| format!("{ms:.2} ms"));
        for phase in &phases {
            println!(
                "{:<20} {:>8} {:>7} {:>9} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>13} {:>13}",
                phase.phase,
                phase.requests,
                phase.errors,
                phase.throttled,
                phase.per_second,
                phase.p50_ms,
                phase.p90_ms,
                phase.p99_ms,
                phase.max_ms,
                cpu(phase.collector_cpu_ms),
                cpu(phase.simulator_cpu_ms)
            );
        }
    }
    let failed: Vec<&PhaseStats> = phases.iter().filter(|phase| phase.errors > 0).collect();
    if let Some(phase) = failed.first() {
        anyhow::bail!(
            "{} request(s) failed in '{}', first: {}",
            phase.errors,
            phase.phase,
            phase.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

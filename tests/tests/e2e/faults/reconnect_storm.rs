//! 2,000 agents reconnecting at once after an outage: the collector backs them off with 429 and
//! Retry-After (its report admission limit), stays responsive (the health check's p99 is recorded),
//! keeps its memory bounded (VmHWM), and drains the whole backlog.
//!
//! The agents are the fleet simulator's, in this process: each its own key, certificate and TLS
//! connection, delivering through the agent's own code. The outage is a real one: the collector is
//! killed, every agent queues a report, the collector comes back on the same port, and every agent
//! delivers at the same moment.

use super::{all_assets, enroll, enroll_token, runtime, seed, small_fleet};
use census_tests::CollectorProcess;
use census_tests::fleet::{self, PhaseStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const AGENTS: usize = 2_000;
/// File descriptors per agent: its connection here, the collector's end, and slack.
const FDS_PER_AGENT: u64 = 3;
/// The collector's peak RSS during the storm stays under this (issue 7 sets 1 GB for 100,000 CIs).
const MAX_COLLECTOR_HWM_KB: u64 = 512 * 1024;
/// Health checks during the storm, each on a new connection that may queue for a slot behind the herd,
/// answer within these (measured on the 2-core development machine: p50 ~0.1 s, p99 1.5–4 s, while
/// the backlog itself took ~35 s to drain).
const MAX_HEALTH_P50: Duration = Duration::from_secs(2);
const MAX_HEALTH_P99: Duration = Duration::from_secs(10);

/// Raises the soft RLIMIT_NOFILE to what `AGENTS` need (the collector, started afterwards, inherits
/// it); returns how many agents the limit allows.
fn agents_the_fd_limit_allows() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = AGENTS as u64 * FDS_PER_AGENT + 256;
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft < wanted {
        let raised = Rlimit {
            current: Some(wanted.min(hard)),
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            eprintln!("reconnect storm: raising RLIMIT_NOFILE failed: {error}");
        }
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let allowed = ((soft.saturating_sub(256)) / FDS_PER_AGENT) as usize;
    if allowed < AGENTS {
        eprintln!("reconnect storm: RLIMIT_NOFILE {soft} allows {allowed} agents, not {AGENTS}");
    }
    allowed.min(AGENTS)
}

/// `VmHWM` (peak resident set) of process `pid`, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// Asks for `/healthz` on a new connection every 100 ms until `stop`; returns the latencies.
fn probe_health(url: String, ca_pem: Vec<u8>, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut latencies = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            // A new client each time: probes from a load balancer do not ride agents' connections.
            let client = reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&ca_pem).unwrap()])
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let started = Instant::now();
            let response = client.get(format!("{url}/healthz")).send().await;
            let status = response.as_ref().map(|r| r.status().as_u16()).ok();
            assert_eq!(
                status,
                Some(200),
                "health check during the storm: {response:?}"
            );
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        latencies
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn print(stats: &PhaseStats) {
    eprintln!(
        "reconnect storm: {:<14} {:>5} requests {:>3} errors {:>6} throttled {:>5} reconnects \
         {:>8.1}/s p50 {:>7.1} ms p99 {:>7.1} ms max {:>7.1} ms ({:.1} s)",
        stats.phase,
        stats.requests,
        stats.errors,
        stats.throttled,
        stats.reconnects,
        stats.per_second,
        stats.p50_ms,
        stats.p99_ms,
        stats.max_ms,
        stats.seconds
    );
}

#[test]
fn two_thousand_agents_reconnecting_at_once_are_throttled_served_and_drained() {
    let n_agents = agents_the_fd_limit_allows();
    let seed = seed("reconnect storm");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    CollectorProcess::init(&data);
    // Every simulated agent connects from 127.0.0.1: without this, the per-address limit (half the
    // connection slots) would refuse most of them, which is its job against one real host.
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[limits]\nmax_connections_per_address = 4096\n").unwrap();
    let config_args = ["--config", config.to_str().unwrap()];
    let mut collector = CollectorProcess::start_with(&data, &config_args);
    let port = collector.port();
    let runtime = runtime();
    let mut options = small_fleet(&collector, enroll_token(&data, n_agents), n_agents, seed);
    options.concurrency = 64;
    let started = Instant::now();
    let agents = enroll(&runtime, &options);
    let (agents, first) = runtime.block_on(fleet::report_round("first report", agents, 64, |_| {}));
    print(&first);
    assert_eq!(first.errors, 0, "{first:?}");
    eprintln!(
        "reconnect storm: {n_agents} agents enrolled and reported in {:?}",
        started.elapsed()
    );

    // The outage: a crash, then the collector back on the same port.
    collector.kill();
    let collector = CollectorProcess::start_on_with(&data, port, &config_args);
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (url, ca, stop) = (
            collector.url.clone(),
            std::fs::read(collector.ca_file()).unwrap(),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || probe_health(url, ca, stop))
    };
    let (agents, burst) = runtime.block_on(fleet::outage_burst(agents, 1, 1, n_agents));
    stop.store(true, Ordering::Relaxed);
    let mut health = prober.join().expect("the health prober");
    health.sort();
    let hwm_kb = peak_rss_kb(collector.pid());
    print(&burst);
    eprintln!(
        "reconnect storm: health check during the burst: {} probes, p50 {:?}, p99 {:?}, max {:?}; \
         collector VmHWM {} MB",
        health.len(),
        percentile(&health, 0.5),
        percentile(&health, 0.99),
        health.last().copied().unwrap_or_default(),
        hwm_kb / 1024
    );

    assert_eq!(burst.errors, 0, "every queued report lands: {burst:?}");
    assert_eq!(burst.requests, n_agents);
    assert!(
        burst.throttled > 0,
        "the admission limit pushed back: {burst:?}"
    );
    assert_eq!(
        burst.throttled_without_retry_after, 0,
        "every 429/503 carries Retry-After: {burst:?}"
    );
    assert!(!health.is_empty(), "the health check was probed");
    assert!(
        percentile(&health, 0.5) < MAX_HEALTH_P50,
        "health check p50 {:?} during the storm",
        percentile(&health, 0.5)
    );
    assert!(
        percentile(&health, 0.99) < MAX_HEALTH_P99,
        "health check p99 {:?} during the storm",
        percentile(&health, 0.99)
    );
    assert!(
        hwm_kb < MAX_COLLECTOR_HWM_KB,
        "the collector peaked at {hwm_kb} kB"
    );
    for agent in &agents {
        assert_eq!(
            agent.acked_hash(),
            Some(agent.current_hash().as_str()),
            "agent {} holds an unacknowledged report",
            agent.index
        );
    }
    assert_eq!(all_assets(&collector).len(), n_agents, "one CI per agent");
}

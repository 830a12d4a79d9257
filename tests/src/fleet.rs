//! A simulated fleet: many agents, each with its own key, certificate and TLS connection, driving a real
//! collector through the agent's own transport and report code (`census_agent::reporter::deliver`).
//!
//! Phases: enroll every agent; a full first report each (generated inventories of 300–2,000 packages);
//! unchanged check-ins; reports after a few package upgrades (sent as deltas). Each phase records
//! latencies and errors; [`PhaseStats`] gives throughput and percentiles.

use census_agent::enroll::new_key_and_csr;
use census_agent::reporter::{Delivery, deliver};
use census_agent::spool::PendingReport;
use census_agent::state::Acked;
use census_agent::transport::{ClientOptions, HttpsClient};
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, Package, SCHEMA_VERSION};
use census_shared::protocol::{EnrollRequest, ReportHeader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Distinct package names in the simulated fleet: machines draw from one pool, as real fleets do.
const PACKAGE_POOL: usize = 4_000;

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub collector_url: String,
    pub ca_pem: String,
    pub token: String,
    pub agents: usize,
    /// Requests in flight at once across the fleet.
    pub concurrency: usize,
    pub min_packages: usize,
    pub max_packages: usize,
    /// Packages upgraded per machine in the upgrade phase.
    pub upgrades: usize,
    pub seed: u64,
}

/// One simulated machine.
pub struct SimAgent {
    pub index: usize,
    client: HttpsClient,
    inventory: Inventory,
    acked: Option<Acked>,
    seq: u64,
}

/// What one phase measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PhaseStats {
    pub phase: String,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Deliveries that were sent as deltas (upgrade phase) or needed no report (check-in phase).
    pub deltas: usize,
    pub unchanged: usize,
    /// 429/503 answers that were retried (backpressure working, not errors).
    pub throttled: usize,
    pub first_error: Option<String>,
}

impl PhaseStats {
    fn from(
        phase: &str,
        seconds: f64,
        mut latencies: Vec<f64>,
        outcomes: &[Outcome],
        throttled: &[usize],
    ) -> PhaseStats {
        latencies.sort_by(f64::total_cmp);
        let percentile = |p: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies[((latencies.len() - 1) as f64 * p).round() as usize]
            }
        };
        let errors = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count();
        PhaseStats {
            phase: phase.to_string(),
            requests: outcomes.len(),
            errors,
            seconds,
            per_second: if seconds > 0.0 {
                outcomes.len() as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile(0.50),
            p90_ms: percentile(0.90),
            p99_ms: percentile(0.99),
            max_ms: latencies.last().copied().unwrap_or(0.0),
            deltas: outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Applied { delta: true }))
                .count(),
            unchanged: outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Unchanged))
                .count(),
            throttled: throttled.iter().sum(),
            first_error: outcomes.iter().find_map(|o| match o {
                Outcome::Failed(message) => Some(message.clone()),
                _ => None,
            }),
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Applied { delta: bool },
    Unchanged,
    Failed(String),
}

/// A realistic package count: most machines carry 500–900 packages, some servers far more.
fn package_count(rng: &mut StdRng, min: usize, max: usize) -> usize {
    let spread = (max - min).max(1) as f64;
    // The square of a uniform draw skews towards the small end, like real fleets.
    let draw: f64 = rng.random::<f64>();
    min + (draw * draw * spread) as usize
}

/// The inventory of simulated machine `index`: unique identity, packages drawn from the fleet's pool.
pub fn machine(index: usize, options: &FleetOptions, rng: &mut StdRng) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = "2026-11-27T00:00:00Z".into();
    inventory.agent.version = env!("CARGO_PKG_VERSION").into();
    inventory.host.hostname = Some(format!("sim-{index:06}"));
    inventory.host.machine_id = Some(format!(
        "{:032x}",
        (index as u128 + 1) * 0x9e37_79b9_7f4a_7c15
    ));
    inventory.os.id = Some("debian".into());
    inventory.os.version = Some("12".into());
    inventory.hardware.system.vendor = Some("Simulated Systems".into());
    inventory.hardware.system.serial = Some(format!("SIM{index:08}"));
    inventory.hardware.system.uuid = Some(format!("00000000-0000-4000-8000-{index:012x}"));
    inventory.hardware.memory.total_bytes = Some(1 << (33 + index % 4));
    let count = package_count(rng, options.min_packages, options.max_packages);
    let mut names: Vec<usize> = (0..PACKAGE_POOL).collect();
    for i in 0..count.min(PACKAGE_POOL) {
        let j = rng.random_range(i..PACKAGE_POOL);
        names.swap(i, j);
    }
    inventory.software.packages = names[..count.min(PACKAGE_POOL)]
        .iter()
        .map(|&n| Package {
            manager: "dpkg".into(),
            name: format!("pkg-{n:04}"),
            version: format!("{}.{}.{}-1", n % 7, n % 13, n % 5),
            arch: Some("amd64".into()),
            source: Some(format!("src-{n:04}")),
            vendor: Some("Debian Developers <debian-devel@lists.debian.org>".into()),
            section: Some("utils".into()),
            installed_size_bytes: Some((n as u64 + 1) * 4096),
            installed_at: None,
        })
        .collect();
    inventory.canonicalize();
    inventory
}

/// Enrolls `options.agents` agents, `options.concurrency` at a time.
pub async fn enroll_fleet(options: &FleetOptions) -> (Vec<SimAgent>, PhaseStats) {
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..options.agents {
        let options = options.clone();
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.ok()?;
            let began = Instant::now();
            let result = enroll_one(index, &options).await;
            Some((index, began.elapsed().as_secs_f64() * 1000.0, result))
        });
    }
    let mut agents = Vec::new();
    let mut latencies = Vec::new();
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok(Some((_, latency, result))) = joined else {
            continue;
        };
        latencies.push(latency);
        match result {
            Ok(agent) => {
                agents.push(agent);
                outcomes.push(Outcome::Applied { delta: false });
            }
            Err(error) => outcomes.push(Outcome::Failed(error)),
        }
    }
    agents.sort_by_key(|agent| agent.index);
    let stats = PhaseStats::from(
        "enroll",
        started.elapsed().as_secs_f64(),
        latencies,
        &outcomes,
        &[],
    );
    (agents, stats)
}

async fn enroll_one(index: usize, options: &FleetOptions) -> Result<SimAgent, String> {
    let client_options = |identity| ClientOptions {
        collector_url: options.collector_url.clone(),
        ca_pem: options.ca_pem.clone(),
        ca_source: "the fleet simulator's --ca".into(),
        identity,
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(60),
    };
    let (key_pem, csr_pem) = new_key_and_csr().map_err(|e| e.to_string())?;
    let anonymous = HttpsClient::new(client_options(None)).map_err(|e| e.to_string())?;
    let request = EnrollRequest {
        token: options.token.clone(),
        csr_pem,
        hostname: Some(format!("sim-{index:06}")),
        agent_version: env!("CARGO_PKG_VERSION").into(),
    };
    let enrolled = anonymous
        .enroll(&request)
        .await
        .map_err(|e| e.to_string())?;
    let client = HttpsClient::new(client_options(Some((key_pem, enrolled.certificate_pem))))
        .map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(options.seed.wrapping_add(index as u64));
    Ok(SimAgent {
        index,
        client,
        inventory: machine(index, options, &mut rng),
        acked: None,
        seq: 0,
    })
}

/// One report round across the fleet: each agent runs the agent's own delivery (check-in, then delta or
/// full as the collector asks). `change` alters an agent's inventory before the round.
pub async fn report_round(
    phase: &str,
    agents: Vec<SimAgent>,
    concurrency: usize,
    change: impl Fn(&mut SimAgent) + Send + Sync + 'static,
) -> (Vec<SimAgent>, PhaseStats) {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let change = Arc::new(change);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut agent in agents {
        let semaphore = Arc::clone(&semaphore);
        let change = Arc::clone(&change);
        tasks.spawn(async move {
            change(&mut agent);
            let _permit = semaphore.acquire_owned().await.ok();
            let began = Instant::now();
            let (outcome, throttled) = agent.report().await;
            (
                agent,
                began.elapsed().as_secs_f64() * 1000.0,
                outcome,
                throttled,
            )
        });
    }
    let mut done = Vec::new();
    let mut latencies = Vec::new();
    let mut outcomes = Vec::new();
    let mut throttles = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((agent, latency, outcome, throttled)) = joined {
            done.push(agent);
            latencies.push(latency);
            outcomes.push(outcome);
            throttles.push(throttled);
        }
    }
    done.sort_by_key(|agent| agent.index);
    let stats = PhaseStats::from(
        phase,
        started.elapsed().as_secs_f64(),
        latencies,
        &outcomes,
        &throttles,
    );
    (done, stats)
}

/// How often one report is retried after 429/503 before it counts as failed.
const MAX_RETRIES: usize = 100;
/// The simulator waits at most this long between retries, whatever Retry-After says, so that a
/// benchmark measures the collector rather than the advice (real agents honour Retry-After in full).
const MAX_RETRY_WAIT: Duration = Duration::from_millis(200);

impl SimAgent {
    /// Delivers the current inventory, retrying on backpressure; returns the outcome and the retries.
    async fn report(&mut self) -> (Outcome, usize) {
        for attempt in 0..MAX_RETRIES {
            match self.report_once().await {
                Err(after) => {
                    let jitter = Duration::from_millis(rand::rng().random_range(0..50));
                    tokio::time::sleep(
                        after.unwrap_or(MAX_RETRY_WAIT).min(MAX_RETRY_WAIT) + jitter,
                    )
                    .await;
                    let _ = attempt;
                }
                Ok(outcome) => return (outcome, attempt),
            }
        }
        (
            Outcome::Failed(format!("still refused after {MAX_RETRIES} retries")),
            MAX_RETRIES,
        )
    }

    /// One delivery; `Err(retry_after)` when the collector asked to come back later.
    async fn report_once(&mut self) -> Result<Outcome, Option<Duration>> {
        self.seq += 1;
        let hash = content_hash(&self.inventory);
        let report = PendingReport {
            header: ReportHeader {
                epoch: 1,
                seq: self.seq,
                report_id: format!("sim-{}-{}", self.index, self.seq),
                hash: hash.clone(),
                collected_at: self.inventory.collected_at.clone(),
            },
            inventory: self.inventory.clone(),
        };
        Ok(
            match deliver(&self.client, &report, self.acked.as_ref()).await {
                Delivery::Applied { hash, delta } => {
                    self.acked = Some(Acked {
                        hash,
                        inventory: self.inventory.clone(),
                    });
                    Outcome::Applied { delta }
                }
                Delivery::Done(_) => {
                    if self.acked.is_none() {
                        self.acked = Some(Acked {
                            hash,
                            inventory: self.inventory.clone(),
                        });
                    }
                    Outcome::Unchanged
                }
                Delivery::Retry { error, after } if matches!(error.status(), Some(429 | 503)) => {
                    return Err(after);
                }
                Delivery::Retry { error, .. }
                | Delivery::Blocked { error }
                | Delivery::Rejected { error } => Outcome::Failed(error.to_string()),
            },
        )
    }

    /// Upgrades `n` of this machine's packages (a new Debian revision each).
    pub fn upgrade_packages(&mut self, n: usize) {
        let count = self.inventory.software.packages.len();
        for i in 0..n.min(count) {
            let package = &mut self.inventory.software.packages[(i * 97 + self.index) % count];
            package.version = format!("{}+sim{}", package.version, self.seq + 1);
        }
        self.inventory.canonicalize();
    }
}

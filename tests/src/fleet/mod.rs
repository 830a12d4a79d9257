//! A simulated fleet: many agents, each with its own key, certificate and TLS connection, driving a real
//! collector through the agent's own transport and report code (`census_agent::reporter::deliver`).
//!
//! Phases: enroll every agent; a full first report each (generated inventories of 300–2,000 packages);
//! unchanged check-ins; reports after a few package upgrades (sent as deltas); and an outage burst
//! ([`outage_burst`]: every agent queued reports while the collector was down, then all deliver at
//! once, oldest first, as agents draining their spools do). Each phase records latencies and errors;
//! [`PhaseStats`] gives throughput and percentiles.
//!
//! Before a phase's clock starts, every simulated machine makes its change and prepares its report:
//! content hash, and the body encoded as the agent encodes it (JSON, gzip), in full and as a delta
//! ([`Prepared`]). A real agent does that work on its own machine; done inside the clock, on the cores
//! the collector runs on, it made the simulator cost more CPU per report than the collector and the
//! phase measure the simulator. The agent's own `deliver` still runs each delivery and picks the body.
//!
//! The fault tests drive single agents too: [`SimAgent::report_once`] is one delivery with its
//! outcome, and [`SimAgent::bump`] makes a change whose version string identifies the report.

use census_agent::enroll::new_key_and_csr;
use census_agent::reporter::{Delivery, Form, Precomputed, deliver_precomputed};
use census_agent::spool::PendingReport;
use census_agent::state::Acked;
use census_agent::transport::{
    ClientOptions, HttpsClient, Transport, TransportError, encode_report,
};
use census_shared::delta;
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, Package, SCHEMA_VERSION};
use census_shared::package_digest::known_form;
use census_shared::protocol::{
    CheckIn, CheckInResponse, EnrollRequest, PROTOCOL_VERSION, Report, ReportBody, ReportHeader,
    ReportResponse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

mod cover;
mod phases;
mod prepared;

pub use cover::cover_fleet_with_change;
pub use phases::*;
pub use prepared::Prepared;
use prepared::PreparedTransport;

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
    /// The simulator waits at most this long between retries, whatever Retry-After says, so that a
    /// benchmark measures the collector rather than the advice (real agents honour Retry-After in
    /// full). [`DEFAULT_MAX_RETRY_WAIT`] unless a test needs otherwise.
    pub max_retry_wait: Duration,
}

/// See [`FleetOptions::max_retry_wait`].
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_millis(200);

/// One simulated machine.
pub struct SimAgent {
    pub index: usize,
    /// The id the collector assigned at enrollment.
    pub agent_id: String,
    client: HttpsClient,
    inventory: Inventory,
    acked: Option<Acked>,
    seq: u64,
    max_retry_wait: Duration,
    bumps: u64,
    /// Inventories this agent no longer needs, kept until the phase's clock stops: dropping 1,000
    /// packages is the simulated machine's work, not the collector's, and on the simulator's shared
    /// cores it was a third of its CPU per changed report.
    spent: Vec<Inventory>,
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
    /// Of those, answers without a usable Retry-After header (the collector should always send one).
    pub throttled_without_retry_after: usize,
    /// Transient failures (unreachable, timed out) retried, as agents retry them (outage burst only).
    pub reconnects: usize,
    pub first_error: Option<String>,
    /// Collector CPU (user + system) per request in this phase, when its pid was given.
    pub collector_cpu_ms: Option<f64>,
    /// The simulator's own CPU per request in this phase.
    pub simulator_cpu_ms: Option<f64>,
}

impl PhaseStats {
    fn from(
        phase: &str,
        seconds: f64,
        mut latencies: Vec<f64>,
        outcomes: &[Outcome],
        throttled: &[Throttles],
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
            .filter(|o| matches!(o, Outcome::Failed(_) | Outcome::Unreachable(_)))
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
            throttled: throttled.iter().map(|t| t.retried).sum(),
            throttled_without_retry_after: throttled.iter().map(|t| t.without_retry_after).sum(),
            reconnects: throttled.iter().map(|t| t.reconnects).sum(),
            first_error: outcomes.iter().find_map(|o| match o {
                Outcome::Failed(message) | Outcome::Unreachable(message) => Some(message.clone()),
                _ => None,
            }),
            collector_cpu_ms: None,
            simulator_cpu_ms: None,
        }
    }
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The collector stored the report (acknowledged with 200 after its write was durable).
    Applied { delta: bool },
    /// The collector already held this inventory (an unchanged check-in or a duplicate).
    Unchanged,
    /// A transient failure (unreachable, timed out, a 5xx other than 503): a real agent keeps the
    /// report and tries again later.
    Unreachable(String),
    /// A refusal that retrying cannot fix.
    Failed(String),
}

/// Backpressure met while delivering.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throttles {
    /// 429/503 answers that were retried.
    pub retried: usize,
    /// Of those, answers without a usable Retry-After.
    pub without_retry_after: usize,
    /// Transient failures retried.
    pub reconnects: usize,
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
        agent_id: enrolled.agent_id,
        client,
        inventory: machine(index, options, &mut rng),
        acked: None,
        seq: 0,
        max_retry_wait: options.max_retry_wait,
        bumps: 0,
        spent: Vec::new(),
    })
}

/// How often one report is retried after 429/503 before it counts as failed.
const MAX_RETRIES: usize = 100;
/// The same in an outage burst, where thousands of agents compete for a few report slots and a real
/// agent would simply keep its spool: high enough that a slow machine does not turn backpressure into
/// failures, still a bound.
const BURST_MAX_RETRIES: usize = 2_000;

impl SimAgent {
    /// Delivers `report`, retrying (the same report, as an agent retries its spool) after 429/503 and,
    /// in a `burst`, after transient failures too; at most [`MAX_RETRIES`] times each
    /// ([`BURST_MAX_RETRIES`] in a burst).
    async fn deliver_with_retries(
        &mut self,
        report: &mut Prepared,
        burst: bool,
    ) -> (Outcome, Throttles) {
        let max_retries = if burst {
            BURST_MAX_RETRIES
        } else {
            MAX_RETRIES
        };
        let mut throttles = Throttles::default();
        loop {
            let wait = match self.deliver(report).await {
                Ok(Outcome::Unreachable(_)) if burst && throttles.reconnects < max_retries => {
                    throttles.reconnects += 1;
                    self.max_retry_wait
                }
                Ok(outcome) => return (outcome, throttles),
                Err(_) if throttles.retried >= max_retries => {
                    let refused = format!("still refused after {max_retries} retries");
                    return (Outcome::Failed(refused), throttles);
                }
                Err(after) => {
                    throttles.retried += 1;
                    if after.is_none() {
                        throttles.without_retry_after += 1;
                    }
                    after
                        .unwrap_or(self.max_retry_wait)
                        .min(self.max_retry_wait)
                }
            };
            let jitter = Duration::from_millis(rand::rng().random_range(0..50));
            tokio::time::sleep(wait + jitter).await;
        }
    }

    /// One delivery of the current inventory under a new sequence number, through the agent's own
    /// code; `Err(retry_after)` when the collector asked to come back later (429/503).
    pub async fn report_once(&mut self) -> Result<Outcome, Option<Duration>> {
        self.seq += 1;
        let mut report = self.prepare(self.seq, self.acked.as_ref());
        let outcome = self.deliver(&mut report).await;
        self.drop_spent();
        outcome
    }

    /// The current inventory as a report with coordinates `seq`, hashed and encoded ahead of its
    /// delivery: in full, and as a delta against `base` (what the collector is expected to hold).
    fn prepare(&self, seq: u64, base: Option<&Acked>) -> Prepared {
        let report = PendingReport {
            header: ReportHeader {
                epoch: 1,
                seq,
                report_id: format!("sim-{}-{}", self.index, seq),
                hash: content_hash(&self.inventory),
                collected_at: self.inventory.collected_at.clone(),
            },
            inventory: self.inventory.clone(),
        };
        let encode = |body: ReportBody| {
            encode_report(&Report {
                protocol: PROTOCOL_VERSION,
                header: report.header.clone(),
                body,
            })
            .ok()
        };
        let full = encode(ReportBody::Full {
            inventory: Box::new(report.inventory.clone()),
        });
        let mut bodies = Precomputed::default();
        let known = {
            let form = known_form(&report.inventory, &[]);
            let n_known = form.known_packages.len();
            bodies.known = Some(form.clone());
            encode(form.into_body()).map(|encoded| (n_known, encoded))
        };
        let delta = base.and_then(|base| {
            let delta = delta::diff(&base.inventory, &report.inventory);
            bodies.delta = Some((base.hash.clone(), delta.clone()));
            let body = ReportBody::Delta {
                base_hash: base.hash.clone(),
                delta,
            };
            Some((base.hash.clone(), encode(body)?))
        });
        Prepared {
            report,
            bodies,
            full,
            known,
            delta,
        }
    }

    async fn deliver(&mut self, prepared: &mut Prepared) -> Result<Outcome, Option<Duration>> {
        let delivery = {
            let transport = PreparedTransport {
                client: &self.client,
                prepared,
            };
            deliver_precomputed(
                &transport,
                &prepared.report,
                self.acked.as_ref(),
                &prepared.bodies,
            )
            .await
        };
        Ok(match delivery {
            Delivery::Applied { hash, form } => {
                self.acknowledge(hash, prepared);
                Outcome::Applied {
                    delta: form == Form::Delta,
                }
            }
            // The collector holds this inventory: unchanged, or this very report applied before
            // (its answer lost): the next delta starts from it either way.
            Delivery::Done(_) => {
                let hash = prepared.report.header.hash.clone();
                self.acknowledge(hash, prepared);
                Outcome::Unchanged
            }
            Delivery::Retry { error, after } if matches!(error.status(), Some(429 | 503)) => {
                return Err(after);
            }
            Delivery::Retry { error, .. } => Outcome::Unreachable(error.to_string()),
            Delivery::Blocked { error } | Delivery::Rejected { error } => {
                Outcome::Failed(error.to_string())
            }
        })
    }

    /// The delivered report's inventory becomes the base of the next delta: moved out of the report,
    /// which is spent, and the previous base kept for [`drop_spent`](Self::drop_spent).
    fn acknowledge(&mut self, hash: String, prepared: &mut Prepared) {
        let inventory = std::mem::take(&mut prepared.report.inventory);
        if let Some(previous) = self.acked.replace(Acked { hash, inventory }) {
            self.spent.push(previous.inventory);
        }
    }

    /// Frees what [`acknowledge`](Self::acknowledge) set aside; phases call it once their clock stopped.
    pub fn drop_spent(&mut self) {
        self.spent.clear();
    }

    /// The content hash of the inventory the collector last acknowledged for this agent.
    pub fn acked_hash(&self) -> Option<&str> {
        self.acked.as_ref().map(|acked| acked.hash.as_str())
    }

    /// The hash of the current (possibly not yet delivered) inventory.
    pub fn current_hash(&self) -> String {
        content_hash(&self.inventory)
    }

    /// Upgrades this machine's first package to a version no other report of it carries, and returns
    /// that version: a history entry naming it proves this very change was stored.
    pub fn bump(&mut self) -> String {
        self.bumps += 1;
        let version = format!("9.{}", self.bumps);
        if let Some(package) = self.inventory.software.packages.first_mut() {
            package.version.clone_from(&version);
        }
        self.inventory.canonicalize();
        version
    }

    /// The name of the package [`bump`](Self::bump) changes.
    pub fn bumped_package(&self) -> Option<&str> {
        self.inventory
            .software
            .packages
            .first()
            .map(|package| package.name.as_str())
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

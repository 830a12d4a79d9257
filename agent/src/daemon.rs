//! Running the agent: one report (`once`) and the long-running loop (`run`).
//!
//! # Layout
//! - [`client_from_state`]: the mTLS client from the configuration and the enrolled identity.
//! - [`report_once`]: collect, renew the certificate if due, report (spooling on failure).
//! - [`run`]: report at start, then every `interval` plus a random splay; between reports, retry the
//!   spool with exponential backoff (full jitter) or as the collector's `Retry-After` says. Each cycle
//!   runs in a child process when [`run_with`] is given [`ChildCycles`] (what `census-agent run` does,
//!   see [`crate::cycle`]); [`cycle`] is what that child, or the daemon itself, runs.
//!
//! A report cycle holds the state lock, so `once` started beside a running `run` waits its turn instead
//! of interleaving sequence numbers.

use crate::backoff::Backoff;
use crate::collect::{self, Root};
use crate::config::{Config, format_duration};
use crate::cycle::{ChildCycles, CycleKind, CycleSummary};
use crate::enroll::{self, EnrollError};
use crate::reporter::{AGENT_VERSION, CycleResult, Reporter, ReporterError};
use crate::spool::{Spool, SpoolError};
use crate::state::{self, NextReport, StateDir, StateError, StateLock};
use crate::transport::{ClientOptions, HttpsClient, TransportError};
use rand::Rng;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("reading the CA file {path}: {error}; check ca_file in the configuration")]
    CaFile { path: String, error: std::io::Error },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Reporter(#[from] ReporterError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    #[error("a background task failed: {0}")]
    Task(String),
}

pub fn spool_of(config: &Config) -> Spool {
    Spool::new(
        &config.state_dir,
        config.spool_max_reports,
        config.spool_max_bytes,
    )
}

/// The mTLS client for an enrolled agent. The collector is trusted through the configured `ca_file`
/// (or the CA saved at enrollment) plus the CA the collector returned at enrollment.
pub fn client_from_state(config: &Config, state: &StateDir) -> Result<HttpsClient, DaemonError> {
    let enrollment = state.require_enrollment()?;
    state.recover_identity()?;
    let (mut ca_pem, ca_source) = match &config.ca_file {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|source| DaemonError::CaFile {
                path: path.display().to_string(),
                error: source,
            })?,
            path.display().to_string(),
        ),
        None => (
            state.read_pem(state::CA_FILE)?,
            state.path(state::CA_FILE).display().to_string(),
        ),
    };
    if let Ok(collector_ca) = std::fs::read_to_string(state.path(state::COLLECTOR_CA_FILE)) {
        ca_pem.push('\n');
        ca_pem.push_str(&collector_ca);
    }
    let identity = (
        state.read_pem(state::KEY_FILE)?,
        state.read_pem(state::CERT_FILE)?,
    );
    Ok(HttpsClient::new(ClientOptions {
        collector_url: config
            .collector_url
            .clone()
            .unwrap_or(enrollment.collector_url),
        ca_pem,
        ca_source,
        identity: Some(identity),
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
    })?)
}

async fn lock(state: &StateDir) -> Result<StateLock, DaemonError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.lock())
        .await
        .map_err(|error| DaemonError::Task(error.to_string()))?
        .map_err(DaemonError::from)
}

async fn collect_inventory(
    config: &Config,
    root: Root,
) -> Result<census_shared::Inventory, DaemonError> {
    let sections = config.sections.clone();
    tokio::task::spawn_blocking(move || {
        collect::inventory(&root, &sections, AGENT_VERSION, crate::now_rfc3339())
    })
    .await
    .map_err(|error| DaemonError::Task(error.to_string()))
}

/// The client, renewed first when the certificate is in the last third of its validity. A failed
/// renewal is logged and the old certificate used: it is still valid for a while.
async fn client_renewed(config: &Config, state: &StateDir) -> Result<HttpsClient, DaemonError> {
    let client = client_from_state(config, state)?;
    match enroll::renew_if_due(state, &client).await {
        Ok(Some(not_after)) => {
            tracing::info!(%not_after, "agent certificate renewed");
            client_from_state(config, state)
        }
        Ok(None) => Ok(client),
        Err(error) => {
            tracing::warn!(%error, "certificate renewal failed; retrying at the next report");
            Ok(client)
        }
    }
}

/// Collects the machine at `root` and reports it (or spools it).
pub async fn report_once(config: &Config, root: Root) -> Result<CycleResult, DaemonError> {
    let state = StateDir::new(&config.state_dir);
    state.require_enrollment()?;
    let inventory = collect_inventory(config, root).await?;
    let _lock = lock(&state).await?;
    let client = client_renewed(config, &state).await?;
    let spool = spool_of(config);
    let reporter = Reporter {
        transport: &client,
        state: &state,
        spool: &spool,
    };
    Ok(reporter.report(inventory).await?)
}

async fn drain_spool(config: &Config, state: &StateDir) -> Result<CycleResult, DaemonError> {
    let _lock = lock(state).await?;
    let client = client_from_state(config, state)?;
    let spool = spool_of(config);
    let reporter = Reporter {
        transport: &client,
        state,
        spool: &spool,
    };
    Ok(reporter.drain().await?)
}

fn log_cycle(result: &CycleResult) {
    if let Some(error) = result.blocked() {
        tracing::error!(%error, n_spooled = result.n_spooled, "reports kept in the spool until this is fixed");
    } else if result.delivered() {
        tracing::info!(
            n_delivered_from_spool = result.n_delivered_from_spool,
            n_spooled = result.n_spooled,
            "report delivered"
        );
    } else if result.n_spooled > 0 {
        tracing::warn!(
            n_spooled = result.n_spooled,
            "collector unavailable; reports kept in the spool"
        );
    }
}

/// Reports waiting in the spool (0 when it cannot be read: the next cycle will say why).
fn spooled(config: &Config) -> usize {
    spool_of(config).usage().map(|(n, _)| n).unwrap_or(0)
}

/// One cycle in this process, logged: collect and report, or only retry the spool.
pub async fn cycle(config: &Config, kind: CycleKind) -> CycleSummary {
    let state = StateDir::new(&config.state_dir);
    let outcome = match kind {
        CycleKind::Collect => report_once(config, Root::live()).await,
        CycleKind::Drain => drain_spool(config, &state).await,
    };
    match outcome {
        Ok(result) => {
            log_cycle(&result);
            CycleSummary::of(&result)
        }
        Err(error) => {
            tracing::error!(%error, "report cycle failed");
            CycleSummary::failed(error.to_string(), spooled(config))
        }
    }
}

/// A cycle in a child process (blocking wait on the blocking pool); a child that fails is a failed
/// cycle, retried with backoff like any other.
async fn child_cycle(config: &Config, children: &ChildCycles, kind: CycleKind) -> CycleSummary {
    let children = children.clone();
    let ran = tokio::task::spawn_blocking(move || children.run(kind))
        .await
        .unwrap_or_else(|error| Err(error.to_string()));
    ran.unwrap_or_else(|message| {
        tracing::error!(error = %message, "report cycle failed");
        CycleSummary::failed(message, spooled(config))
    })
}

/// `census-agent run` with every cycle in this process (tests, platforms without a child cycle).
pub async fn run(config: Config) -> Result<(), DaemonError> {
    run_with(config, None).await
}

/// `census-agent run`: reports until SIGTERM or Ctrl-C; each cycle in a child when `children` is set.
pub async fn run_with(config: Config, children: Option<ChildCycles>) -> Result<(), DaemonError> {
    let state = StateDir::new(&config.state_dir);
    let enrollment = state.require_enrollment()?;
    // Before anything is logged: once "running" is, a SIGTERM stops the agent cleanly.
    let shutdown = shutdown_signal();
    tracing::info!(
        agent_id = %enrollment.agent_id,
        collector = %config.collector_url.as_deref().unwrap_or(&enrollment.collector_url),
        interval = %format_duration(config.interval),
        splay = %format_duration(config.splay),
        cycles = if children.is_some() { "child process" } else { "in process" },
        "census-agent running"
    );
    let mut backoff = Backoff::new(config.retry_base, config.retry_max);
    let mut next_collect = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    loop {
        let now = tokio::time::Instant::now();
        let kind = if now >= next_collect {
            let splay = random_up_to(config.splay);
            next_collect = now + config.interval + splay;
            CycleKind::Collect
        } else {
            CycleKind::Drain
        };
        let summary = match &children {
            Some(children) => child_cycle(&config, children, kind).await,
            None => cycle(&config, kind).await,
        };
        let wake = if summary.n_spooled > 0 || summary.failed.is_some() {
            let delay = backoff.next_delay(summary.retry_after(), &mut rand::rng());
            let retry_at = tokio::time::Instant::now() + delay;
            tracing::info!(retry_in = %format_duration(delay), "retrying delivery later");
            retry_at.min(next_collect)
        } else {
            backoff.reset();
            next_collect
        };
        let kind = if wake < next_collect {
            "retry"
        } else {
            "collect"
        };
        let wait = wake.saturating_duration_since(tokio::time::Instant::now());
        let at = time::OffsetDateTime::now_utc() + wait;
        let _ = state.save_next_report(&NextReport {
            at: at
                .replace_nanosecond(0)
                .unwrap_or(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            kind: kind.to_string(),
        });
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = &mut shutdown => {
                tracing::info!("stopping");
                return Ok(());
            }
        }
    }
}

fn random_up_to(limit: Duration) -> Duration {
    Duration::from_millis(rand::rng().random_range(0..=limit.as_millis() as u64))
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled: `run` first polls it after its first cycle, and a signal before that
/// (systemd stopping the agent during its first report) would otherwise meet the default action
/// and end the process by the signal instead of a clean stop once the cycle is over.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |handler: Option<tokio::signal::unix::Signal>| async move {
            match handler {
                Some(mut handler) => {
                    handler.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(terminate.take()) => {}
            _ = wait(interrupt.take()) => {}
        }
    }
}

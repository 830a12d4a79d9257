//! `census-collector serve`: the HTTPS service until SIGTERM or SIGINT.

use super::{initialised_data_dir, open_database};
use crate::config::Config;
use crate::server::{self, DEFAULT_SHUTDOWN_GRACE, ServeSettings};
use anyhow::Context;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let data_dir = initialised_data_dir(&config)?;
    let store = open_database(&data_dir)?;
    let settings = ServeSettings {
        listen: config.listen,
        ca_pem: data_dir.read(&data_dir.ca_cert())?,
        ca_key_pem: data_dir.read(&data_dir.ca_key())?,
        server_cert_pem: data_dir.read(&data_dir.server_cert())?,
        server_key_pem: data_dir.read(&data_dir.server_key())?,
        store: Arc::clone(&store),
        limits: config.limits,
        require_approval: config.enrollment.require_approval,
        agent_cert_validity: config.enrollment.agent_cert_validity,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        stale_after: config.cmdb.stale_after,
        commit_delay: config.cmdb.commit_delay,
    };
    let running = server::bind(settings)
        .await
        .context("starting the HTTPS service")?;
    let url = endpoint_url(running.local_addr());
    // Admin commands and tests find the running collector here.
    data_dir.replace_public(&data_dir.endpoint(), format!("{url}\n").as_bytes())?;
    tracing::info!(%url, data_dir = %data_dir.root().display(), "census-collector serving");
    let staleness = tokio::spawn(mark_stale_periodically(
        running.cmdb(),
        config.cmdb.stale_after,
    ));
    let snapshots = tokio::spawn(crate::itsm::health_history::record_daily_periodically(
        running.cmdb(),
        Arc::clone(&store),
        config.cmdb.stale_after,
    ));
    running.run_until(shutdown).await;
    staleness.abort();
    snapshots.abort();
    store
        .flush()
        .context("writing the database to disk at shutdown")?;
    tracing::info!("census-collector stopped");
    Ok(())
}

/// How often staleness is checked: often enough that a CI turns stale within the hour it crosses the
/// limit, rarely enough to cost nothing.
const STALE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Marks CIs not seen for `stale_after` as stale, at start and then every [`STALE_CHECK_INTERVAL`]
/// (or `stale_after`, when shorter).
pub async fn mark_stale_periodically(
    cmdb: Arc<crate::cmdb::Cmdb>,
    stale_after: std::time::Duration,
) {
    let mut ticker = tokio::time::interval(
        STALE_CHECK_INTERVAL
            .min(stale_after)
            .max(std::time::Duration::from_secs(1)),
    );
    loop {
        ticker.tick().await;
        let now = time::OffsetDateTime::now_utc();
        let cutoff = now - stale_after;
        let format = |t: time::OffsetDateTime| {
            t.replace_nanosecond(0)
                .unwrap_or(t)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let (cutoff, now) = (format(cutoff), format(now));
        let cmdb = Arc::clone(&cmdb);
        match tokio::task::spawn_blocking(move || cmdb.mark_stale(&cutoff, &now)).await {
            Ok(Ok(marked)) if !marked.is_empty() => {
                tracing::info!(n_cis = marked.len(), "CIs marked stale")
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "marking stale CIs failed; retrying at the next check")
            }
            Err(error) => tracing::warn!(%error, "the staleness check panicked"),
        }
    }
}

/// The URL a local client uses to reach `address` (a wildcard listen address is reached on loopback).
pub fn endpoint_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("https://{}", SocketAddr::new(ip, address.port()))
}

/// Resolves on SIGTERM (systemd stop) or SIGINT (Ctrl-C). The handlers are installed when this is
/// called, not when the future is first polled: called before the database opens, a signal during
/// start-up (tens of seconds on a large CMDB) stops the collector cleanly once it is up, instead of
/// meeting the default action (the process ended by the signal, without the final flush).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate())
        .inspect_err(|error| {
            tracing::warn!(%error, "cannot listen for SIGTERM; stop with Ctrl-C");
        })
        .ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
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
            _ = wait(terminate) => tracing::info!("SIGTERM received: finishing requests in flight"),
            _ = wait(interrupt) => tracing::info!("interrupted: finishing requests in flight"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_are_reached_on_loopback() {
        assert_eq!(
            endpoint_url("0.0.0.0:8443".parse().unwrap()),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            endpoint_url("[::]:8443".parse().unwrap()),
            "https://[::1]:8443"
        );
        assert_eq!(
            endpoint_url("10.0.0.5:443".parse().unwrap()),
            "https://10.0.0.5:443"
        );
    }
}

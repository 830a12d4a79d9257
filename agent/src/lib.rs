//! census-agent: inventories one machine and reports it to a Census collector.
//!
//! # Layout
//! - [`collect`]: one module per inventory section; each is a pure parser plus a thin reader rooted at a
//!   configurable directory ([`collect::Root`]), so collectors run on fixture trees and offline images.
//! - [`config`]: the configuration file (`agent.toml`) and its defaults.
//! - [`state`]: the state directory (identity, sequence, acknowledged inventory), atomic writes.
//! - [`spool`]: undelivered reports on disk, delivered later in order.
//! - [`backoff`]: retry delays (exponential, full jitter) and `Retry-After`.
//! - [`transport`]: HTTPS with mutual TLS to the collector ([`transport::HttpsClient`]).
//! - [`reporter`]: the check-in / delta / full exchange and the spool around it.
//! - [`enroll`]: enrollment and certificate renewal.
//! - [`daemon`]: `once` and the `run` loop; [`status`]: what `status` shows; [`logging`]: stderr logs.

pub mod backoff;
pub mod cli;
pub mod collect;
pub mod config;
pub mod cycle;
pub mod daemon;
pub mod enroll;
pub mod logging;
pub mod parent;
pub mod reporter;
pub mod spool;
pub mod state;
pub mod status;
pub mod transport;

/// The current time as RFC 3339 UTC with second precision (`2026-11-26T22:15:05Z`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

//! census-agent: inventories one machine and reports it to a Census collector.
//!
//! # Layout
//! - [`collect`]: one module per inventory section; each is a pure parser plus a thin reader rooted at a
//!   configurable directory ([`collect::Root`]), so collectors run on fixture trees and offline images.

pub mod cli;
pub mod collect;

/// The current time as RFC 3339 UTC with second precision (`2026-11-26T22:15:05Z`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

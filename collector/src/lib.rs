//! census-collector: receives agent reports over HTTPS and keeps the configuration database.
//!
//! # Layout
//! - [`cmdb`]: configuration items: identity reconciliation, history, time travel, events, indexes.
//! - [`ingest`]: check-ins and reports: replay protection, delta application, one atomic write per report.
//! - [`store`]: the storage trait and its engines (sled on disk, memory for tests).
//!
//! Data flows agent report → `api` (decode, authenticate, limit) → ingest → reconcile → store → query.

pub mod cmdb;
pub mod ingest;
pub mod store;

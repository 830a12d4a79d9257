//! census-collector: receives agent reports over HTTPS and keeps the configuration database.
//!
//! # Layout
//! - [`ingest`]: check-ins and reports: replay protection, delta application, one atomic write per report.
//! - [`query`]: the asset query language (parse, evaluate, plan index lookups).
//! - [`store`]: the storage trait and its engines (sled on disk, memory for tests).
//!
//! Data flows agent report → `api` (decode, authenticate, limit) → ingest → reconcile → store → query.

pub mod ingest;
pub mod query;
pub mod store;

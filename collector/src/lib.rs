//! census-collector: receives agent reports over HTTPS and keeps the configuration database.
//!
//! # Layout
//! - [`cli`]: every subcommand and flag of `census-collector`.
//! - [`config`]: `collector.toml`: keys, defaults, validation reporting every problem at once.
//! - [`datadir`]: the data directory layout (CA, server certificate, admin token, database) and permissions.
//! - [`ingest`]: check-ins and reports: replay protection, delta application, one atomic write per report.
//! - [`itsm`]: incidents, changes, problems, CI relationships, impact, unauthorized-change detection.
//! - [`store`]: the storage trait and its engines (sled on disk, memory for tests).
//!
//! Data flows agent report → `api` (decode, authenticate, limit) → ingest → reconcile → store → query.

pub mod cli;
pub mod config;
pub mod datadir;
pub mod ingest;
pub mod itsm;
pub mod store;

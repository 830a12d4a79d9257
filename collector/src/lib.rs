//! census-collector: receives agent reports over HTTPS and keeps the configuration database.
//!
//! # Layout
//! - [`backup`]: the backup file format (database snapshot + data dir keys), read and write.
//! - [`cli`]: every subcommand and flag of `census-collector`.
//! - [`commands`]: what each subcommand does (init, serve, admin operations on a stopped or running collector).
//! - [`config`]: `collector.toml`: keys, defaults, validation reporting every problem at once.
//! - [`datadir`]: the data directory layout (CA, server certificate, admin token, database) and permissions.
//! - [`server`]: the HTTPS listener (TLS, plain-HTTP detection, connection limits, graceful shutdown).
//! - [`disk_space`]: the free-space reserve below which the server refuses writes (503).
//! - [`tls`]: the rustls configuration and the client-certificate policy.
//! - [`api`]: routes, request limits and decoding, JSON errors; agent and admin endpoints.
//! - [`pki`]: the collector's CA: server certificate, agent certificates from CSRs.
//! - [`enrollment`]: enrollment tokens and agent records (approve, revoke).
//! - [`auth`]: API bearer tokens for people and scripts, with roles.
//! - [`users`]: named users with a role, their tokens, disabling; every write audited.
//! - [`cmdb`]: configuration items: identity reconciliation, history, time travel, events, indexes.
//! - [`ingest`]: check-ins and reports: replay protection, delta application, one atomic write per report.
//! - [`itsm`]: incidents, changes, problems, CI relationships, impact, unauthorized-change detection.
//! - [`store`]: the storage trait and its engines (sled on disk, memory for tests), and group commit.
//! - [`secret`]: random ids, bearer secrets and their stored hashes.
//! - [`metrics`]: Prometheus counters and histograms (atomics) and scrape-time gauges.
//! - [`query`]: the asset query language (parse, evaluate, plan index lookups).
//! - [`web`]: the web console (server-rendered HTML at `/`, sessions from API tokens, CSRF).
//!
//! Data flows agent report → `api` (decode, authenticate, limit) → ingest → reconcile → store → query.

pub mod api;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod cmdb;
pub mod commands;
pub mod config;
pub mod datadir;
pub mod disk_space;
pub mod enrollment;
pub mod ingest;
pub mod itsm;
pub mod logging;
pub mod metrics;
pub mod per_address;
pub mod pki;
pub mod query;
pub mod secret;
pub mod server;
pub mod store;
pub mod tls;
pub mod users;
pub mod web;

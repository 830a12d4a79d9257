//! `census`, the command-line client of the Census CMDB, for asset managers and service-desk agents.
//!
//! It speaks only the collector's HTTPS JSON API (docs/api.md, docs/itsm.md) with a user's API token;
//! it never opens the database and needs no agent certificate.
//!
//! # Layout
//! - [`cli`]: every subcommand and flag (the contract users' scripts rely on); [`command`] builds it for
//!   man pages and completions.
//! - [`config`]: the stored login (0600) and the `CENSUS_*` environment overrides.
//! - [`client`]: the HTTPS client (trusts only the collector's CA) and its errors.
//! - [`resolve`]: CI ids or hostnames to CI ids.
//! - [`output`]: tables, CSV, the raw JSON, colour decisions.
//! - [`commands`]: what each subcommand does; [`run`] dispatches.
//! - [`exit`]: the documented exit codes and the error → code mapping.
//!
//! Limitations: listings print one page (`--limit`, `--cursor`); whole result sets are what `census
//! export` is for. Table widths count characters, not terminal cells.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod exit;
pub mod output;
pub mod resolve;

/// The whole command line, for man pages (`census-manpages`) and shell completions.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

/// Runs one parsed command line.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    commands::run(cli.command).await
}

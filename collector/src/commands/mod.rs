//! What each `census-collector` subcommand does, at the binary's edge (`anyhow` errors with context).
//!
//! - [`init`]: a new data directory: CA, server certificate, database, first admin token.
//! - [`quickstart`]: a local collector and this machine's agent in one process, for a first look.
//! - [`serve`]: the HTTPS service until SIGTERM/SIGINT.
//! - [`backup`]: `backup` (online through the admin API, or direct) and `restore` into an empty dir.
//! - [`admin`]: enrollment tokens and agents, directly on the database when the collector is stopped and
//!   through the running collector's API (with the admin token) when it is serving, since each storage
//!   engine admits one process per database.
//! - [`users`]: `user` and `token` (people and their API tokens), the same two ways as [`admin`].

pub mod admin;
pub mod backup;
pub mod init;
pub mod quickstart;
pub mod serve;
pub mod users;

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::datadir::DataDir;
use crate::store::Store;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The configuration: the explicit `--config` file (which must exist), else the default path when it
/// exists, else the built-in defaults; then `--data-dir` overrides.
pub fn load_config(explicit: Option<&Path>, data_dir: Option<&PathBuf>) -> anyhow::Result<Config> {
    let mut config = match explicit {
        Some(path) => Config::load(path)?,
        None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
            Config::load(Path::new(DEFAULT_CONFIG_PATH))?
        }
        None => Config::default(),
    };
    if let Some(dir) = data_dir {
        config.data_dir.clone_from(dir);
    }
    Ok(config)
}

/// The data dir named by the configuration, checked to be initialised.
pub fn initialised_data_dir(config: &Config) -> anyhow::Result<DataDir> {
    let data_dir = DataDir::new(&config.data_dir);
    data_dir
        .ensure_initialised()
        .context("the data directory is not ready")?;
    Ok(data_dir)
}

/// Opens the data directory's database with the engine it was created with (checked against the
/// schema this binary reads).
pub fn open_database(data_dir: &DataDir) -> anyhow::Result<Arc<dyn Store>> {
    let engine = data_dir.engine()?;
    let store = engine
        .open(data_dir.root())
        .with_context(|| format!("opening the {engine} database"))?;
    crate::store::schema::ensure_current(store.as_ref()).context("checking the database schema")?;
    tracing::debug!(%engine, "database opened");
    Ok(store)
}

/// The current time as RFC 3339 UTC, second precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

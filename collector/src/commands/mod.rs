//! What each `census-collector` subcommand does, at the binary's edge (`anyhow` errors with context).
//!
//! - [`init`]: a new data directory: CA, server certificate, database, first admin token.
//! - [`quickstart`]: a local collector and this machine's agent in one process, for a first look.
//! - [`serve`]: the HTTPS service until SIGTERM/SIGINT.
//! - [`backup`]: `backup` (online through the admin API, or direct) and `restore` into an empty dir.
//! - [`admin`]: enrollment tokens and agents, directly on the database when the collector is stopped and
//!   through the running collector's API (with the admin token) when it is serving, since sled admits
//!   one process per database.
//! - [`users`]: `user` and `token` (people and their API tokens), the same two ways as [`admin`].

pub mod admin;
pub mod backup;
pub mod init;
pub mod quickstart;
pub mod serve;
pub mod users;

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::datadir::DataDir;
use anyhow::Context;
use std::path::{Path, PathBuf};

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

/// The current time as RFC 3339 UTC, second precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

//! Logs: `tracing` to stderr as text (for people and journald) or JSON (for log pipelines).
//!
//! Under systemd (`JOURNAL_STREAM` set) the journal stamps every line itself, so no timestamps are
//! written; colours only when stderr is a terminal and `NO_COLOR` is unset. `CENSUS_LOG` (or `RUST_LOG`)
//! sets the filter in `tracing_subscriber::EnvFilter` syntax; the default is `info`.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat) {
    let filter = std::env::var("CENSUS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    // A second initialisation (tests, quickstart) is harmless: the first subscriber stays.
    let _ = match (format, under_journald) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
}

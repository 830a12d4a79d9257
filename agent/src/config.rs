//! The agent's configuration file (`/etc/census-agent/agent.toml`), parsed and checked.
//!
//! # Layout
//! - [`FileConfig`]: the file as written, every key optional (`deny_unknown_fields`, so a typo is an
//!   error rather than a silently ignored setting).
//! - [`Config`]: the resolved settings with defaults applied; command-line flags are applied on top by
//!   the command code (flags override the file).
//! - [`parse_duration`]: `"1h"`, `"90s"`, `"1h30m"`, `"500ms"`.
//!
//! Every key is documented in `config/agent.toml`, which a unit test parses so the example cannot rot.
//! Semantic problems (a bad duration, an unknown section, an `http://` URL) are all gathered and reported
//! at once; syntax errors and unknown keys are reported by the TOML parser, one at a time.

use crate::collect::Section;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the agent looks for its configuration when `--config` is not given; a missing file there is fine.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/census-agent/agent.toml";
/// Where the agent keeps its identity, sequence, acknowledged inventory and spool.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/census-agent";
/// Hourly: inventories change slowly, and an unchanged machine costs one ~300-byte check-in.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);
/// Up to this many reports wait in the spool while the collector is unreachable (100 hours at the
/// default interval: a long weekend of outage).
pub const DEFAULT_SPOOL_MAX_REPORTS: usize = 100;
/// A gzip inventory is typically 30–300 KiB; 64 MiB holds the default 100 reports of large machines.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// A collector that does not complete a TCP+TLS handshake in this time is treated as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request (a full report over a slow link included) must finish within this time.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// First retry delay after a failed delivery (before full jitter).
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
/// Retry delays double up to this cap.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(3600);
/// Shorter intervals would turn a fleet into a load test for the collector.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading configuration file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("configuration file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("configuration file {path} has {} error(s):\n  - {}", errors.len(), errors.join("\n  - "))]
    Invalid { path: PathBuf, errors: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines (no colours unless stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The configuration file exactly as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub collector_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub interval: Option<String>,
    pub splay: Option<String>,
    pub spool_max_reports: Option<i64>,
    pub spool_max_bytes: Option<i64>,
    pub sections: Option<Vec<String>>,
    pub log_format: Option<String>,
    pub connect_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub retry_base: Option<String>,
    pub retry_max: Option<String>,
}

/// Resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `https://host:port` of the collector; `None` means "the one recorded at enrollment".
    pub collector_url: Option<String>,
    /// The CA that signs the collector's certificate; `None` means "the one saved at enrollment".
    pub ca_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub interval: Duration,
    /// Each wait between reports is `interval` plus a random delay in `[0, splay]`.
    pub splay: Duration,
    pub spool_max_reports: usize,
    pub spool_max_bytes: u64,
    pub sections: Vec<Section>,
    pub log_format: LogFormat,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            collector_url: None,
            ca_file: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            interval: DEFAULT_INTERVAL,
            // 10 % of the interval spreads a fleet that booted together over six minutes.
            splay: DEFAULT_INTERVAL / 10,
            spool_max_reports: DEFAULT_SPOOL_MAX_REPORTS,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            sections: Section::ALL.to_vec(),
            log_format: LogFormat::Text,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }
}

impl Config {
    /// Loads `path`. `explicit` is true when the user named the file (`--config`): then a missing file is
    /// an error; the default file may be absent (defaults apply).
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                error: source,
            }),
        }
    }

    /// Parses the text of a configuration file (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: error.to_string().trim_end().to_string(),
        })?;
        file.resolve().map_err(|errors| ConfigError::Invalid {
            path: path.to_path_buf(),
            errors,
        })
    }
}

impl FileConfig {
    /// Applies defaults and checks every value, returning all problems at once.
    pub fn resolve(self) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let mut config = Config::default();
        let mut duration = |key: &str, value: &Option<String>, target: &mut Duration| {
            if let Some(text) = value {
                match parse_duration(text) {
                    Ok(parsed) => *target = parsed,
                    Err(message) => errors.push(format!("{key} = {text:?}: {message}")),
                }
            }
        };
        duration("interval", &self.interval, &mut config.interval);
        config.splay = config.interval / 10;
        duration("splay", &self.splay, &mut config.splay);
        duration(
            "connect_timeout",
            &self.connect_timeout,
            &mut config.connect_timeout,
        );
        duration(
            "request_timeout",
            &self.request_timeout,
            &mut config.request_timeout,
        );
        duration("retry_base", &self.retry_base, &mut config.retry_base);
        duration("retry_max", &self.retry_max, &mut config.retry_max);

        if let Some(url) = self.collector_url {
            match check_collector_url(&url) {
                Ok(()) => config.collector_url = Some(url),
                Err(message) => errors.push(format!("collector_url = {url:?}: {message}")),
            }
        }
        config.ca_file = self.ca_file;
        if let Some(dir) = self.state_dir {
            config.state_dir = dir;
        }
        if config.interval < MIN_INTERVAL {
            errors.push(format!(
                "interval must be at least {}s",
                MIN_INTERVAL.as_secs()
            ));
        }
        if config.splay > config.interval {
            errors.push("splay must not exceed interval".to_string());
        }
        if config.retry_base.is_zero() || config.retry_base > config.retry_max {
            errors.push("retry_base must be above zero and at most retry_max".to_string());
        }
        if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
            errors.push("timeouts must be above zero".to_string());
        }
        match self.spool_max_reports {
            Some(n) if n < 1 => errors.push(format!(
                "spool_max_reports = {n}: keep at least 1 report (the newest is never dropped)"
            )),
            Some(n) => config.spool_max_reports = usize::try_from(n).unwrap_or(usize::MAX),
            None => {}
        }
        match self.spool_max_bytes {
            Some(n) if n < 1 => errors.push(format!("spool_max_bytes = {n}: must be positive")),
            Some(n) => config.spool_max_bytes = n.unsigned_abs(),
            None => {}
        }
        if let Some(names) = self.sections {
            config.sections.clear();
            for name in names {
                match parse_section(&name) {
                    Some(section) if !config.sections.contains(&section) => {
                        config.sections.push(section)
                    }
                    Some(_) => {}
                    None => errors.push(format!(
                        "sections: unknown section {name:?}; known: {}",
                        section_names().join(", ")
                    )),
                }
            }
            config.sections.sort();
        }
        if let Some(format) = self.log_format {
            match format.as_str() {
                "text" => config.log_format = LogFormat::Text,
                "json" => config.log_format = LogFormat::Json,
                other => errors.push(format!("log_format = {other:?}: use \"text\" or \"json\"")),
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

/// The agent only speaks mutual TLS: a plain `http://` collector would expose every report.
pub fn check_collector_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("the collector URL must start with https:// (reports always use TLS)".into());
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the collector URL has no host".into());
    }
    Ok(())
}

fn parse_section(name: &str) -> Option<Section> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// The names `sections` accepts, in the configuration's spelling.
pub fn section_names() -> Vec<String> {
    Section::ALL
        .iter()
        .filter_map(|section| match serde_json::to_value(section) {
            Ok(serde_json::Value::String(name)) => Some(name),
            _ => None,
        })
        .collect()
}

/// Parses `"1h"`, `"90s"`, `"1h30m"`, `"500ms"`, `"2d"`: one or more `<integer><unit>` groups with units
/// `ms`, `s`, `m`, `h`, `d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    // One grammar for both programs' configuration files.
    census_shared::duration::parse(text).map_err(|error| error.to_string())
}

/// `Duration` in the configuration's spelling (`1h30m`, `90s`, `500ms`), for `status` and logs.
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("agent.toml"))
    }

    #[test]
    fn the_shipped_example_parses_and_sets_every_key() {
        let text = include_str!("../../config/agent.toml");
        let config = parse(text).expect("config/agent.toml must stay valid");
        assert_eq!(
            config.collector_url.as_deref(),
            Some("https://census.example.com:8443")
        );
        // Every key of FileConfig appears (uncommented) in the example, so every key is documented.
        let table: toml::Table = toml::from_str(text).unwrap();
        for key in [
            "collector_url",
            "ca_file",
            "state_dir",
            "interval",
            "splay",
            "spool_max_reports",
            "spool_max_bytes",
            "sections",
            "log_format",
            "connect_timeout",
            "request_timeout",
            "retry_base",
            "retry_max",
        ] {
            assert!(table.contains_key(key), "config/agent.toml lacks {key}");
        }
        assert_eq!(table.len(), 13, "a key in the example is not checked here");
    }

    #[test]
    fn fixture_configurations() {
        let minimal = parse(include_str!("../testdata/config/minimal.toml")).unwrap();
        assert_eq!(
            minimal.collector_url.as_deref(),
            Some("https://census.internal:8443")
        );
        assert_eq!(minimal.interval, DEFAULT_INTERVAL);
        assert_eq!(minimal.sections, Section::ALL.to_vec());
        let error = parse(include_str!("../testdata/config/invalid.toml")).unwrap_err();
        let ConfigError::Invalid { errors, .. } = error else {
            panic!("expected Invalid, got {error:?}");
        };
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(
            errors.iter().any(|e| e.contains("kernel_modules")),
            "{errors:#?}"
        );
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn the_default_splay_follows_the_interval() {
        let config = parse("interval = \"10m\"").unwrap();
        assert_eq!(config.interval, Duration::from_secs(600));
        assert_eq!(config.splay, Duration::from_secs(60));
    }

    #[test]
    fn all_semantic_errors_are_reported_at_once() {
        let error = parse(
            "collector_url = \"http://c:8443\"\ninterval = \"1 fortnight\"\n\
             sections = [\"packages\", \"kernels\"]\nlog_format = \"xml\"\nspool_max_reports = 0\n",
        )
        .unwrap_err();
        let ConfigError::Invalid { errors, .. } = &error else {
            panic!("expected Invalid, got {error:?}");
        };
        assert_eq!(errors.len(), 5, "{errors:#?}");
        let text = error.to_string();
        assert!(text.contains("must start with https://"), "{text}");
        assert!(text.contains("unknown section \"kernels\""), "{text}");
        assert!(text.contains("listening_ports"), "{text}");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let error = parse("intervall = \"1h\"").unwrap_err();
        assert!(matches!(error, ConfigError::Syntax { .. }));
        assert!(error.to_string().contains("intervall"), "{error}");
    }

    #[test]
    fn sections_are_parsed_deduplicated_and_sorted() {
        let config = parse("sections = [\"users\", \"hardware\", \"users\"]").unwrap();
        assert_eq!(config.sections, vec![Section::Hardware, Section::Users]);
    }

    #[test]
    fn a_missing_default_file_is_fine_but_an_explicit_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("agent.toml");
        assert_eq!(Config::load(&missing, false).unwrap(), Config::default());
        let error = Config::load(&missing, true).unwrap_err();
        assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
        assert!(error.to_string().contains("agent.toml"));
    }

    #[test]
    fn durations() {
        let check =
            |text: &str, secs: u64| assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        check("1h", 3600);
        check("90s", 90);
        check("1h30m", 5400);
        check("2d", 172_800);
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in [
            "",
            "10",
            "h",
            "5 minutes",
            "1y",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}

//! The collector's configuration file (`collector.toml`), its defaults and its validation.
//!
//! Every key is documented here and in `config/collector.toml`; a unit test parses that example so the
//! two cannot drift apart. Validation collects every problem before reporting, so `check-config` shows
//! them all at once (systemd runs it as `ExecStartPre=`).

use crate::api::Limits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Loopback by default: a collector is exposed to the fleet deliberately, not by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/census-collector";
pub const DEFAULT_CONFIG_PATH: &str = "/etc/census-collector/collector.toml";
/// Short-lived agent certificates limit what a stolen key is worth; agents renew at two thirds.
pub const DEFAULT_AGENT_CERT_VALIDITY: Duration = crate::pki::DEFAULT_AGENT_CERT_VALIDITY;
/// An agent reports hourly by default: a week of silence means the machine is gone or broken.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(7 * 86_400);
/// `cmdb.commit_delay`: see [`crate::store::group_commit`]. Over TLS with 1,000 agents on redb
/// (BENCHMARKS.md), changed reports per second against no delay: +10% at 1 ms, +30% at 4 ms, +35%
/// at 8 ms, with lower median latency (more reports share each flush).
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_millis(4);
/// The longest commit delay accepted: under load every report waits for it.
pub const MAX_COMMIT_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub enrollment: EnrollmentConfig,
    /// Request and connection limits; defaults and their reasons are in `api::body`.
    pub limits: Limits,
    pub cmdb: CmdbConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentConfig {
    /// New agents wait in `pending` until an administrator approves them.
    pub require_approval: bool,
    pub agent_cert_validity: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CmdbConfig {
    /// CIs not seen for this long are marked stale.
    pub stale_after: Duration,
    /// Under a stream of reports, how long a flush waits so that more reports share it.
    pub commit_delay: Duration,
}

/// The file as written: every key optional, unknown keys refused (a typo must not be silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    enrollment: RawEnrollment,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    cmdb: RawCmdb,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnrollment {
    require_approval: Option<bool>,
    agent_cert_validity: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_body_bytes: Option<usize>,
    max_decompressed_bytes: Option<usize>,
    max_json_depth: Option<usize>,
    max_string_bytes: Option<usize>,
    max_packages: Option<usize>,
    max_list_items: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    max_concurrent_reports: Option<usize>,
    report_queue_wait: Option<String>,
    request_timeout: Option<String>,
    handshake_timeout: Option<String>,
    min_free_disk_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCmdb {
    stale_after: Option<String>,
    commit_delay: Option<String>,
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_raw(RawConfig::default(), &mut Vec::new())
    }
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            source_name: path.display().to_string(),
            problems: vec![format!("cannot read the file: {error}")],
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            source_name: source_name.to_string(),
            problems,
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|error| fail(vec![error.to_string().trim().to_string()]))?;
        let mut problems = Vec::new();
        let config = Config::from_raw(raw, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    fn from_raw(raw: RawConfig, problems: &mut Vec<String>) -> Config {
        let defaults = Limits::default();
        let mut duration_problems = Vec::new();
        let mut duration = |key: &str, value: Option<String>, default: Duration| -> Duration {
            match value {
                None => default,
                Some(text) => census_shared::duration::parse(&text).unwrap_or_else(|error| {
                    duration_problems.push(format!("{key}: {error}"));
                    Duration::ZERO
                }),
            }
        };
        let agent_cert_validity = duration(
            "enrollment.agent_cert_validity",
            raw.enrollment.agent_cert_validity,
            DEFAULT_AGENT_CERT_VALIDITY,
        );
        let request_timeout = duration(
            "limits.request_timeout",
            raw.limits.request_timeout,
            defaults.request_timeout,
        );
        let report_queue_wait = duration(
            "limits.report_queue_wait",
            raw.limits.report_queue_wait,
            defaults.report_queue_wait,
        );
        let handshake_timeout = duration(
            "limits.handshake_timeout",
            raw.limits.handshake_timeout,
            defaults.tls_handshake_timeout,
        );
        let stale_after = duration(
            "cmdb.stale_after",
            raw.cmdb.stale_after,
            DEFAULT_STALE_AFTER,
        );
        let commit_delay = duration(
            "cmdb.commit_delay",
            raw.cmdb.commit_delay,
            DEFAULT_COMMIT_DELAY,
        );
        problems.append(&mut duration_problems);
        if commit_delay > MAX_COMMIT_DELAY {
            problems.push(format!(
                "cmdb.commit_delay: must be at most {}ms (under load every report waits for it; 0ms flushes at once)",
                MAX_COMMIT_DELAY.as_millis()
            ));
        }
        let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "listen: '{listen_text}' is not an address:port (write e.g. 0.0.0.0:8443)"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8443))
        });

        let limits = Limits {
            max_body_bytes: raw.limits.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            max_decoded_bytes: raw
                .limits
                .max_decompressed_bytes
                .unwrap_or(defaults.max_decoded_bytes),
            max_json_depth: raw.limits.max_json_depth.unwrap_or(defaults.max_json_depth),
            max_string_bytes: raw
                .limits
                .max_string_bytes
                .unwrap_or(defaults.max_string_bytes),
            max_packages: raw.limits.max_packages.unwrap_or(defaults.max_packages),
            max_list_items: raw.limits.max_list_items.unwrap_or(defaults.max_list_items),
            max_connections: raw
                .limits
                .max_connections
                .unwrap_or(defaults.max_connections),
            max_connections_per_address: raw
                .limits
                .max_connections_per_address
                .unwrap_or(defaults.max_connections_per_address),
            max_concurrent_reports: raw
                .limits
                .max_concurrent_reports
                .unwrap_or(defaults.max_concurrent_reports),
            report_queue_wait,
            request_timeout,
            tls_handshake_timeout: handshake_timeout,
            header_read_timeout: handshake_timeout,
            min_free_disk_bytes: raw
                .limits
                .min_free_disk_bytes
                .unwrap_or(defaults.min_free_disk_bytes),
            ..defaults
        };
        for (key, value) in [
            ("limits.max_body_bytes", limits.max_body_bytes),
            ("limits.max_decompressed_bytes", limits.max_decoded_bytes),
            ("limits.max_json_depth", limits.max_json_depth),
            ("limits.max_string_bytes", limits.max_string_bytes),
            ("limits.max_packages", limits.max_packages),
            ("limits.max_list_items", limits.max_list_items),
            ("limits.max_connections", limits.max_connections),
            (
                "limits.max_connections_per_address",
                limits.max_connections_per_address,
            ),
            (
                "limits.max_concurrent_reports",
                limits.max_concurrent_reports,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{key}: must be greater than 0"));
            }
        }
        if limits.max_decoded_bytes < limits.max_body_bytes {
            problems.push(
                "limits.max_decompressed_bytes: must be at least limits.max_body_bytes (a decompressed body is never smaller)"
                    .to_string(),
            );
        }
        for (key, value) in [
            ("enrollment.agent_cert_validity", agent_cert_validity),
            ("limits.request_timeout", request_timeout),
            ("limits.handshake_timeout", handshake_timeout),
            ("cmdb.stale_after", stale_after),
        ] {
            if value.is_zero() && !problems.iter().any(|p| p.starts_with(key)) {
                problems.push(format!("{key}: must be longer than 0s"));
            }
        }
        if agent_cert_validity < Duration::from_secs(3600) && !agent_cert_validity.is_zero() {
            problems.push(
                "enrollment.agent_cert_validity: must be at least 1h (agents renew at two thirds)"
                    .to_string(),
            );
        }

        Config {
            listen,
            data_dir: raw
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            log_format: raw.log_format.unwrap_or_default(),
            enrollment: EnrollmentConfig {
                require_approval: raw.enrollment.require_approval.unwrap_or(false),
                agent_cert_validity,
            },
            limits,
            cmdb: CmdbConfig {
                stale_after,
                commit_delay,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let config = Config::parse("", "empty").unwrap();
        assert_eq!(config.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(
            config.enrollment.agent_cert_validity,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(config.limits, Limits::default());
        assert!(!config.enrollment.require_approval);
        assert_eq!(config, Config::default());
    }

    #[test]
    fn the_shipped_example_parses_and_matches_the_defaults_it_documents() {
        let text = include_str!("../../config/collector.toml");
        let config = Config::parse(text, "config/collector.toml").unwrap();
        assert_eq!(config.limits, Config::default().limits);
        assert_eq!(config.cmdb, Config::default().cmdb);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            listen = "not an address"
            [enrollment]
            agent_cert_validity = "10 parsecs"
            [limits]
            max_body_bytes = 0
            request_timeout = "0s"
        "#;
        let error = Config::parse(text, "collector.toml").unwrap_err();
        assert_eq!(error.problems.len(), 4, "{error}");
        let message = error.to_string();
        for needle in [
            "listen:",
            "enrollment.agent_cert_validity:",
            "limits.max_body_bytes:",
            "limits.request_timeout:",
        ] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let error = Config::parse("[limits]\nmax_body_byte = 5\n", "collector.toml").unwrap_err();
        assert!(error.to_string().contains("max_body_byte"), "{error}");
    }

    #[test]
    fn the_commit_delay_defaults_may_be_zero_and_is_bounded() {
        assert_eq!(Config::default().cmdb.commit_delay, DEFAULT_COMMIT_DELAY);
        let none = Config::parse("[cmdb]\ncommit_delay = \"0ms\"\n", "collector.toml").unwrap();
        assert_eq!(none.cmdb.commit_delay, Duration::ZERO);
        let error = Config::parse("[cmdb]\ncommit_delay = \"2s\"\n", "collector.toml").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("cmdb.commit_delay: must be at most 1000ms"),
            "{error}"
        );
    }
}

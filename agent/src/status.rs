//! `census-agent status`: enrollment, last and next report, spool, certificate expiry.
//!
//! Reads only the state directory (no network), so it answers even when the collector is down.

use crate::config::Config;
use crate::enroll::{certificate_validity, renewal_due};
use crate::spool::QUARANTINE_DIR;
use crate::state::{self, LastReport, NextReport, Sequence, StateDir, StateError};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub state_dir: String,
    pub enrolled: bool,
    pub agent_id: Option<String>,
    pub collector_url: Option<String>,
    pub enrolled_at: Option<String>,
    /// RFC 3339.
    pub certificate_not_after: Option<String>,
    pub certificate_renewal_due: Option<bool>,
    pub last_report: Option<LastReport>,
    pub next_report: Option<NextReport>,
    pub sequence: Option<Sequence>,
    pub spool_reports: usize,
    pub spool_bytes: u64,
    pub spool_quarantined: usize,
}

pub fn gather(config: &Config) -> Result<Status, StateError> {
    let state = StateDir::new(&config.state_dir);
    let enrollment = state.enrollment()?;
    let (not_after, renewal) = match std::fs::read_to_string(state.path(state::CERT_FILE)) {
        Ok(pem) => match certificate_validity(&pem) {
            Ok((from, to)) => (
                to.format(&Rfc3339).ok(),
                Some(renewal_due(from, to, OffsetDateTime::now_utc())),
            ),
            Err(_) => (None, None),
        },
        Err(_) => (None, None),
    };
    let spool = crate::daemon::spool_of(config);
    let (spool_reports, spool_bytes) = spool.usage().unwrap_or((0, 0));
    let spool_quarantined = std::fs::read_dir(spool.dir().join(QUARANTINE_DIR))
        .map(|listing| listing.count())
        .unwrap_or(0);
    Ok(Status {
        state_dir: state.dir().display().to_string(),
        enrolled: enrollment.is_some(),
        agent_id: enrollment.as_ref().map(|e| e.agent_id.clone()),
        collector_url: config
            .collector_url
            .clone()
            .or_else(|| enrollment.as_ref().map(|e| e.collector_url.clone())),
        enrolled_at: enrollment.map(|e| e.enrolled_at),
        certificate_not_after: not_after,
        certificate_renewal_due: renewal,
        last_report: state.last_report()?,
        next_report: state.next_report()?,
        sequence: state.sequence()?,
        spool_reports,
        spool_bytes,
        spool_quarantined,
    })
}

/// The status for people.
pub fn render_text(status: &Status) -> String {
    let unknown = || "-".to_string();
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<14} {value}\n"));
    line("state dir", status.state_dir.clone());
    if status.enrolled {
        line("agent id", status.agent_id.clone().unwrap_or_else(unknown));
        line(
            "collector",
            status.collector_url.clone().unwrap_or_else(unknown),
        );
        line(
            "enrolled at",
            status.enrolled_at.clone().unwrap_or_else(unknown),
        );
    } else {
        line(
            "enrollment",
            "not enrolled: run `census-agent enroll --collector URL --ca FILE --token TOKEN`"
                .into(),
        );
    }
    line(
        "certificate",
        match (
            &status.certificate_not_after,
            status.certificate_renewal_due,
        ) {
            (Some(at), Some(true)) => format!("expires {at} (renewal due at the next report)"),
            (Some(at), _) => format!("expires {at}"),
            _ => unknown(),
        },
    );
    line(
        "last report",
        match &status.last_report {
            Some(last) => match &last.detail {
                Some(detail) => format!("{} {} ({detail})", last.at, last.outcome),
                None => format!("{} {}", last.at, last.outcome),
            },
            None => "never".into(),
        },
    );
    line(
        "next report",
        match &status.next_report {
            Some(next) if next.kind == "retry" => format!("{} (retrying the spool)", next.at),
            Some(next) => next.at.clone(),
            None => "- (census-agent run is not running here)".into(),
        },
    );
    line(
        "spool",
        format!(
            "{} report(s), {} bytes{}",
            status.spool_reports,
            status.spool_bytes,
            if status.spool_quarantined > 0 {
                format!(", {} quarantined", status.spool_quarantined)
            } else {
                String::new()
            }
        ),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unenrolled_state_dir_says_how_to_enroll() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let status = gather(&config).unwrap();
        assert!(!status.enrolled);
        assert_eq!(status.spool_reports, 0);
        let text = render_text(&status);
        assert!(text.contains("census-agent enroll"), "{text}");
        assert!(text.contains("last report    never"), "{text}");
    }

    #[test]
    fn status_shows_enrollment_last_report_and_spool() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let state = StateDir::new(dir.path());
        state
            .save_enrollment(&state::Enrollment {
                agent_id: "agt-123".into(),
                collector_url: "https://c:8443".into(),
                enrolled_at: "2026-11-26T22:00:00Z".into(),
            })
            .unwrap();
        state
            .save_last_report(&LastReport {
                at: "2026-11-26T22:15:05Z".into(),
                outcome: "spooled".into(),
                detail: Some("connection refused".into()),
            })
            .unwrap();
        let spool = crate::daemon::spool_of(&config);
        spool
            .push(&crate::spool::PendingReport {
                header: census_shared::protocol::ReportHeader {
                    epoch: 1,
                    seq: 1,
                    report_id: "r".into(),
                    hash: "0".repeat(64),
                    collected_at: String::new(),
                },
                inventory: Default::default(),
            })
            .unwrap();
        let status = gather(&config).unwrap();
        assert_eq!(status.agent_id.as_deref(), Some("agt-123"));
        assert_eq!(status.spool_reports, 1);
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["last_report"]["outcome"], "spooled");
        let text = render_text(&status);
        assert!(text.contains("agt-123"), "{text}");
        assert!(text.contains("spooled (connection refused)"), "{text}");
        assert!(text.contains("1 report(s)"), "{text}");
    }
}

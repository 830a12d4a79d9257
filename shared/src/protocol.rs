//! Agent ↔ collector messages, as JSON over HTTPS.
//!
//! | step | request | authenticated by |
//! |------|---------|------------------|
//! | enroll | `POST /api/v1/enroll` [`EnrollRequest`] → [`EnrollResponse`] | the enrollment token in the body |
//! | renew | `POST /api/v1/agent/renew` [`RenewRequest`] → [`RenewResponse`] | the agent's client certificate |
//! | check-in | `POST /api/v1/agent/checkin` [`CheckIn`] → [`CheckInResponse`] | the agent's client certificate |
//! | report | `POST /api/v1/agent/report` [`Report`] (gzip) → [`ReportResponse`] | the agent's client certificate |
//!
//! The agent id is never part of a request body: the collector takes it from the client certificate it
//! issued, so an agent can only ever write its own machine. Errors are [`ApiErrorBody`] with a stable
//! `code` (see [`error_code`]).

use crate::delta::Delta;
use crate::inventory::Inventory;
use crate::package_digest::PackageDigests;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// Bumped when a message changes incompatibly; the collector answers `unsupported_protocol` to others.
pub const PROTOCOL_VERSION: u32 = 1;

pub const PATH_ENROLL: &str = "/api/v1/enroll";
pub const PATH_RENEW: &str = "/api/v1/agent/renew";
pub const PATH_CHECKIN: &str = "/api/v1/agent/checkin";
pub const PATH_REPORT: &str = "/api/v1/agent/report";
pub const PATH_HEALTH: &str = "/healthz";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub token: String,
    /// PEM PKCS#10 request for a key generated on the agent; the private key never leaves the machine.
    /// The collector ignores the subject it asks for.
    pub csr_pem: String,
    pub hostname: Option<String>,
    pub agent_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// May report.
    Active,
    /// Enrolled, waiting for an administrator's approval; its reports are refused (and spooled) until then.
    Pending,
    /// Revoked by an administrator; its certificate is refused.
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// Server-assigned identity, also the client certificate's common name (`agt-…`).
    pub agent_id: String,
    pub status: AgentStatus,
    pub certificate_pem: String,
    /// The collector CA, so the agent can keep verifying the collector after a CA file is rotated.
    pub ca_pem: String,
    /// RFC 3339: the certificate's expiry; the agent renews well before.
    pub not_after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub csr_pem: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewResponse {
    pub certificate_pem: String,
    pub not_after: String,
}

/// Sequence coordinates that make every report unique and ordered: `epoch` starts a new sequence (a fresh
/// state dir), `seq` counts reports within it, `report_id` names one report for idempotent retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportHeader {
    pub epoch: u64,
    pub seq: u64,
    pub report_id: String,
    /// Content hash of the inventory this report describes ([`crate::hash::content_hash`]).
    pub hash: String,
    /// RFC 3339 UTC.
    pub collected_at: String,
}

/// The first, small request of every report: "my inventory hashes to this".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    pub protocol: u32,
    #[serde(flatten)]
    pub header: ReportHeader,
    pub agent_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum CheckInResponse {
    /// The collector holds this exact inventory; the check-in was recorded (last seen) and nothing more
    /// is needed.
    Unchanged,
    /// This report was already applied (a retry after a lost answer).
    Duplicate,
    /// Send a report. `base_hash` is the inventory the collector holds for this agent, if any: a delta
    /// against it is enough.
    SendReport { base_hash: Option<String> },
}

/// On the wire an internally tagged object: `{"kind": "full", "inventory": ...}`, `{"kind":
/// "delta", "base_hash": ..., "delta": ...}` or `{"kind": "known", "inventory": ...,
/// "known_packages": ["<base64>", ...]}`. Deserialised by hand ([`BodyFields`]), not derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReportBody {
    Full {
        inventory: Box<Inventory>,
    },
    /// Applies to the inventory with hash `base_hash`; the collector answers `base_mismatch` (409) when it
    /// holds another, and the agent then sends the full document.
    Delta {
        base_hash: String,
        delta: Delta,
    },
    /// The full document, with the packages whose records the collector may already hold named by
    /// digest ([`crate::package_digest`]): `inventory` carries the other packages, and the document
    /// is `inventory` plus the records of `known_packages`. The collector answers
    /// [`ReportOutcome::NeedPackages`] with the digests it does not hold (send those packages in full
    /// and the rest by digest again), or `hash_mismatch` (409) when the rebuilt document is not the
    /// one the header names (send the `full` form). A collector older than this form answers 400.
    Known {
        inventory: Box<Inventory>,
        known_packages: PackageDigests,
        /// The named packages' install times, in the order of `known_packages`; left out (empty)
        /// when none has one.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        known_installed_at: Vec<Option<String>>,
    },
}

/// On the wire the header's fields sit beside `protocol` and `body` (flattened). Deserialised by
/// hand ([`ReportFields`]), not derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub protocol: u32,
    #[serde(flatten)]
    pub header: ReportHeader,
    pub body: ReportBody,
}

// Why the two hand-written decoders: serde's `flatten` and internally tagged enums buffer the whole
// value into an intermediate tree before choosing fields or variant, so a 1,000-package report was
// parsed twice; perf showed that buffering as the largest cost of a report outside the CMDB. Plain
// structs with the same fields read the body in one pass and accept exactly what the derived forms
// accepted (unknown fields ignored, every required field required).

#[derive(Deserialize)]
struct ReportFields {
    protocol: u32,
    epoch: u64,
    seq: u64,
    report_id: String,
    hash: String,
    collected_at: String,
    body: ReportBody,
}

impl<'de> Deserialize<'de> for Report {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = ReportFields::deserialize(deserializer)?;
        Ok(Report {
            protocol: fields.protocol,
            header: ReportHeader {
                epoch: fields.epoch,
                seq: fields.seq,
                report_id: fields.report_id,
                hash: fields.hash,
                collected_at: fields.collected_at,
            },
            body: fields.body,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum BodyKind {
    Full,
    Delta,
    Known,
}

#[derive(Deserialize)]
struct BodyFields {
    kind: BodyKind,
    inventory: Option<Box<Inventory>>,
    base_hash: Option<String>,
    delta: Option<Delta>,
    known_packages: Option<PackageDigests>,
    known_installed_at: Option<Vec<Option<String>>>,
}

impl<'de> Deserialize<'de> for ReportBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = BodyFields::deserialize(deserializer)?;
        let missing = |field: &'static str| D::Error::missing_field(field);
        Ok(match fields.kind {
            BodyKind::Full => ReportBody::Full {
                inventory: fields.inventory.ok_or_else(|| missing("inventory"))?,
            },
            BodyKind::Delta => ReportBody::Delta {
                base_hash: fields.base_hash.ok_or_else(|| missing("base_hash"))?,
                delta: fields.delta.ok_or_else(|| missing("delta"))?,
            },
            BodyKind::Known => ReportBody::Known {
                inventory: fields.inventory.ok_or_else(|| missing("inventory"))?,
                known_packages: fields
                    .known_packages
                    .ok_or_else(|| missing("known_packages"))?,
                known_installed_at: fields.known_installed_at.unwrap_or_default(),
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// Stored durably.
    Applied,
    /// Already applied earlier (same or older `(epoch, seq)`); nothing was written again.
    Duplicate,
    /// Not applied: a `known` report named packages by digests the collector does not hold
    /// (`missing_packages`); send it again with those packages in full.
    NeedPackages,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResponse {
    pub outcome: ReportOutcome,
    /// The hash the collector now holds for this agent: the agent's next delta base.
    pub hash: String,
    /// With [`ReportOutcome::NeedPackages`]: the digests to send as whole packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_packages: Option<PackageDigests>,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// Stable, machine-readable (see [`error_code`]).
    pub code: String,
    /// For people: what went wrong and what to do.
    pub message: String,
}

/// The stable error codes clients act on.
pub mod error_code {
    /// 409 on a delta report: the collector holds another base; send the full inventory.
    pub const BASE_MISMATCH: &str = "base_mismatch";
    /// 409 on a report: the inventory, once applied, does not hash to the header's `hash`; send the full
    /// inventory (and if a full one is refused too, the agent and collector disagree on hashing).
    pub const HASH_MISMATCH: &str = "hash_mismatch";
    /// 403: the agent waits for an administrator's approval; keep the report and retry later.
    pub const AGENT_PENDING: &str = "agent_pending";
    /// 403: the agent was revoked; it must enroll again.
    pub const AGENT_REVOKED: &str = "agent_revoked";
    /// 401: no or unknown client certificate.
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// 503 with Retry-After: the collector cannot store right now (disk full, shutting down).
    pub const UNAVAILABLE: &str = "unavailable";
    /// 429 with Retry-After: too many concurrent reports.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// 401: the enrollment token is unknown, expired, revoked or used up.
    pub const INVALID_TOKEN: &str = "invalid_enrollment_token";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_check_in_is_small_on_the_wire() {
        let check_in = CheckIn {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1_764_201_600,
                seq: 123_456,
                report_id: "0b7a4c5e-6a43-4c35-9d87-2f1c7a0e9b11".into(),
                hash: "a".repeat(64),
                collected_at: "2026-11-26T22:15:05Z".into(),
            },
            agent_version: "0.1.0".into(),
        };
        let body = serde_json::to_vec(&check_in).unwrap();
        assert!(body.len() <= 512, "check-in body is {} bytes", body.len());
        let back: CheckIn = serde_json::from_slice(&body).unwrap();
        assert_eq!(back, check_in);
    }

    fn report(body: ReportBody) -> Report {
        Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq: 2,
                report_id: "r-2".into(),
                hash: "b".repeat(64),
                collected_at: "2026-11-26T22:15:05Z".into(),
            },
            body,
        }
    }

    #[test]
    fn reports_read_back_what_they_write_with_fields_in_any_order() {
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some("web-01".into());
        let full = report(ReportBody::Full {
            inventory: Box::new(inventory),
        });
        let delta = report(ReportBody::Delta {
            base_hash: "c".repeat(64),
            delta: Delta { ops: Vec::new() },
        });
        let known = report(ReportBody::Known {
            inventory: Box::new(Inventory::default()),
            known_packages: PackageDigests(vec![crate::package_digest::PackageDigest([7; 6])]),
            known_installed_at: Vec::new(),
        });
        let known_with_times = report(ReportBody::Known {
            inventory: Box::new(Inventory::default()),
            known_packages: PackageDigests(vec![crate::package_digest::PackageDigest([7; 6])]),
            known_installed_at: vec![Some("2026-11-01T10:00:00Z".into())],
        });
        for sent in [full, delta, known, known_with_times] {
            let bytes = serde_json::to_vec(&sent).unwrap();
            assert_eq!(serde_json::from_slice::<Report>(&bytes).unwrap(), sent);
            // Another client may write `kind` last and the header first: the same report.
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let mut body: Vec<(String, serde_json::Value)> = value["body"]
                .as_object()
                .unwrap()
                .clone()
                .into_iter()
                .collect();
            body.reverse();
            let mut reordered = serde_json::Map::new();
            reordered.insert(
                "body".into(),
                serde_json::Value::Object(body.into_iter().collect()),
            );
            for (key, field) in value.as_object().unwrap() {
                if key != "body" {
                    reordered.insert(key.clone(), field.clone());
                }
            }
            let text = serde_json::to_string(&reordered).unwrap();
            assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), sent);
        }
    }

    #[test]
    fn a_report_missing_what_its_kind_needs_is_refused_by_name() {
        let header =
            r#""protocol":1,"epoch":1,"seq":2,"report_id":"r","hash":"h","collected_at":"t""#;
        let cases = [
            (r#"{"kind":"full"}"#, "missing field `inventory`"),
            (
                r#"{"kind":"delta","delta":{"ops":[]}}"#,
                "missing field `base_hash`",
            ),
            (
                r#"{"kind":"delta","base_hash":"h"}"#,
                "missing field `delta`",
            ),
            (
                r#"{"kind":"known","inventory":{}}"#,
                "missing field `known_packages`",
            ),
            (
                r#"{"kind":"known","inventory":{},"known_packages":["AAE="]}"#,
                "not a multiple of 6",
            ),
            (r#"{"kind":"patch"}"#, "unknown variant `patch`"),
            (r#"{"inventory":{}}"#, "missing field `kind`"),
        ];
        for (body, expected) in cases {
            let text = format!(r#"{{{header},"body":{body}}}"#);
            let error = serde_json::from_str::<Report>(&text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{body}: {error}");
        }
        let no_seq = r#"{"protocol":1,"epoch":1,"report_id":"r","hash":"h","collected_at":"t","body":{"kind":"full","inventory":{}}}"#;
        let error = serde_json::from_str::<Report>(no_seq)
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing field `seq`"), "{error}");
    }

    #[test]
    fn only_a_need_packages_answer_carries_missing_packages() {
        let applied = ReportResponse {
            outcome: ReportOutcome::Applied,
            hash: "h".into(),
            missing_packages: None,
        };
        let json = serde_json::to_string(&applied).unwrap();
        assert_eq!(json, r#"{"outcome":"applied","hash":"h"}"#);
        // An answer from a collector that predates the field reads the same.
        assert_eq!(
            serde_json::from_str::<ReportResponse>(&json).unwrap(),
            applied
        );
        let need = ReportResponse {
            outcome: ReportOutcome::NeedPackages,
            hash: String::new(),
            missing_packages: Some(PackageDigests(vec![crate::package_digest::PackageDigest(
                [0, 1, 2, 3, 4, 5],
            )])),
        };
        let json = serde_json::to_string(&need).unwrap();
        assert_eq!(
            json,
            r#"{"outcome":"need_packages","hash":"","missing_packages":["AAECAwQF"]}"#
        );
        assert_eq!(serde_json::from_str::<ReportResponse>(&json).unwrap(), need);
    }

    #[test]
    fn check_in_answers_are_tagged_by_status() {
        let json = serde_json::to_value(CheckInResponse::SendReport { base_hash: None }).unwrap();
        assert_eq!(json["status"], "send_report");
        assert!(json["base_hash"].is_null());
    }
}

//! The audit log: every ITSM write by a person, with who, when, what and from where.
//!
//! Entries are appended in the same batch as the write they describe, so the log never claims a write
//! that did not happen nor misses one that did. Writes by the collector itself (unauthorized-change
//! flags raised during ingest) are not a person's and are not audited; they have record history.
//! Key: a 20-digit store-wide sequence number; the cursor of [`audit_list`] is that number.

use super::{Actor, ItsmError, MAX_PAGE, Page, Result, Role};
use crate::store::{Batch, Store};
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use time::OffsetDateTime;

pub const SPACE_AUDIT: &str = "itsm_audit";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub role: Role,
    /// Where the request came from (client IP).
    pub source: String,
    /// The record written, e.g. `INC-000012`, or a relationship `ci-1 depends_on ci-2`.
    pub record: String,
    /// What was done, e.g. `incident.create`, `change.transition`.
    pub action: String,
    /// A short human summary, e.g. `New -> In progress`.
    pub detail: Option<String>,
}

/// Which entries [`audit_list`] returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub record: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `change.`).
    pub action: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

impl AuditFilter {
    fn matches(&self, entry: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == entry.actor)
            && self.record.as_ref().is_none_or(|r| *r == entry.record)
            && self.action.as_ref().is_none_or(|a| {
                if a.ends_with('.') {
                    entry.action.starts_with(a.as_str())
                } else {
                    *a == entry.action
                }
            })
            && self.since.is_none_or(|since| entry.at >= since)
            && self.until.is_none_or(|until| entry.at < until)
    }
}

/// Adds an audit entry for `actor` doing `action` on `record` to `batch`.
pub(crate) fn append(
    store: &dyn Store,
    batch: &mut Batch,
    actor: &Actor,
    record: &str,
    action: &str,
    detail: Option<String>,
    at: OffsetDateTime,
) -> Result<()> {
    let seq = store.generate_id()?;
    let entry = AuditEntry {
        seq,
        at,
        actor: actor.name.clone(),
        role: actor.role,
        source: actor.source.clone(),
        record: record.to_string(),
        action: action.to_string(),
        detail,
    };
    let value = serde_json::to_vec(&entry).map_err(|error| ItsmError::Corrupt {
        space: SPACE_AUDIT.to_string(),
        key: seq.to_string(),
        message: error.to_string(),
    })?;
    batch.put(SPACE_AUDIT, format!("{seq:020}"), value);
    Ok(())
}

/// Audit entries matching `filter`, newest first, `limit` (at most [`MAX_PAGE`]) after `cursor`.
pub fn audit_list(
    store: &dyn Store,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<AuditEntry>> {
    let limit = limit.clamp(1, MAX_PAGE);
    let upper = match cursor {
        Some(cursor) => {
            let seq: u64 = cursor.parse().map_err(|_| ItsmError::Invalid {
                record: "audit".to_string(),
                message: format!(
                    "cursor '{cursor}' is not one this list returned; start over without a cursor"
                ),
            })?;
            Bound::Excluded(format!("{seq:020}").into_bytes())
        }
        None => Bound::Unbounded,
    };
    let mut items = Vec::new();
    let mut next_cursor = None;
    for entry in store.range(SPACE_AUDIT, Bound::Unbounded, upper, true) {
        let (key, value) = entry?;
        let entry: AuditEntry =
            serde_json::from_slice(&value).map_err(|error| ItsmError::Corrupt {
                space: SPACE_AUDIT.to_string(),
                key: String::from_utf8_lossy(&key).into_owned(),
                message: error.to_string(),
            })?;
        if !filter.matches(&entry) {
            continue;
        }
        if items.len() == limit {
            next_cursor = items.last().map(|last: &AuditEntry| last.seq.to_string());
            break;
        }
        items.push(entry);
    }
    Ok(Page { items, next_cursor })
}

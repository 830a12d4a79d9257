//! ITSM: service-desk records linked to configuration items (CIs).
//!
//! Incidents (`INC-000123`), changes (`CHG-000045`) and problems (`PRB-000007`) are kept as JSON values
//! in their own key spaces, with small secondary indexes by CI and by state. Relationships between CIs,
//! unauthorized-change flags (`UAC-000001`), a per-record field history and an audit log of every write by
//! a person live beside them. `docs/itsm.md` is the user-facing description (state tables, priority
//! matrix, impact and unauthorized-change rules); keep the two in step.
//!
//! # Layout
//! - [`numbering`]: record ids and their per-kind counters (never reused).
//! - [`record`]: the storage core every record kind shares: load, save with indexes and history, list.
//! - [`history`], [`audit`]: what changed on a record; who wrote what, when and from where.
//! - [`priority`]: impact × urgency → priority (pure).
//! - [`incident`], [`change`], [`problem`]: the records, their state machines and operations.
//! - [`cis`]: adding and removing the CIs a record is about; [`collision`]: overlapping change windows.
//! - [`relationship`]: typed links between CIs; [`impact`]: transitive impact over them.
//! - [`directory`]: [`CiDirectory`], the CMDB facts this module needs, and an in-memory implementation;
//!   [`cmdb_directory`]: the implementation over the CMDB, and the flagging of each report's changes.
//! - [`context`]: the incident context view and the per-CI record view.
//! - [`unauthorized`]: discovered changes no approved change covers.
//! - [`health`]: the CMDB health report (completeness, staleness, orphans, conflicts, unauthorized);
//!   [`health_history`]: its daily snapshots.
//!
//! Operations are plain functions over `&dyn Store`; the HTTP layer decodes a request, calls one, and
//! encodes the result. Every write runs under one process-wide lock (the database is single-process) and
//! commits one atomic [`Batch`](crate::store::Batch): record, indexes, history and audit together.
//! Time is an input (`now`) so that tests are exact; the caller passes `OffsetDateTime::now_utc()`.
//!
//! Limitations: list filters other than the CI filter scan the record space newest first, which is fine
//! for tens of thousands of records per kind; an index per filter would be the next step beyond that.

pub mod audit;
pub mod change;
pub mod cis;
pub mod cmdb_directory;
pub mod collision;
pub mod context;
pub mod directory;
pub mod health;
pub mod health_history;
pub mod history;
pub mod impact;
pub mod incident;
pub mod numbering;
pub mod priority;
pub mod problem;
pub mod record;
pub mod relationship;
pub mod unauthorized;

pub use directory::{
    CiDirectory, CiSummary, DiscoveredChange, DiscoveredChangeKind, MemoryCiDirectory,
};

use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};
use time::OffsetDateTime;

/// Largest page any list returns; bigger requests are cut to this.
pub const MAX_PAGE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ItsmError {
    #[error("{record} does not exist")]
    NotFound { record: String },
    #[error("'{id}' is not a record id; expected INC-000123, CHG-000045, PRB-000007 or UAC-000001")]
    BadId { id: String },
    #[error("configuration item '{ci}' does not exist; check the CI id (e.g. ci-000123)")]
    UnknownCi { ci: String },
    #[error("cannot move {record} from {from} to {to}; allowed: {allowed}")]
    IllegalTransition {
        record: String,
        from: String,
        to: String,
        allowed: String,
    },
    #[error("{record}: {message}")]
    Invalid { record: String, message: String },
    #[error("{record} is {state} and can no longer be changed")]
    Final { record: String, state: String },
    #[error("{actor} has role {role}; {action} needs the approver role")]
    Forbidden {
        actor: String,
        role: String,
        action: String,
    },
    #[error("relationship {from} {kind} {to} already exists")]
    DuplicateRelationship {
        from: String,
        kind: String,
        to: String,
    },
    #[error("relationship {from} {kind} {to} does not exist")]
    NoSuchRelationship {
        from: String,
        kind: String,
        to: String,
    },
    #[error("stored record '{key}' in '{space}' is unreadable: {message}")]
    Corrupt {
        space: String,
        key: String,
        message: String,
    },
    #[error("the CI directory failed: {0}")]
    Directory(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = ItsmError> = std::result::Result<T, E>;

/// What a person may do; the HTTP layer maps its authenticated user to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads, and writes incidents, problems, changes and relationships.
    Agent,
    /// Everything an agent does, plus approving and rejecting changes.
    Approver,
    /// Everything.
    Admin,
}

impl Role {
    pub fn can_approve(self) -> bool {
        matches!(self, Role::Approver | Role::Admin)
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// The person behind a write: who they are, their role, and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    /// Where the request came from (the HTTP layer passes the client IP).
    pub source: String,
}

impl Actor {
    pub fn new(name: impl Into<String>, role: Role, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            role,
            source: source.into(),
        }
    }
}

/// One page of a list, newest first; pass `next_cursor` back to get the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Something the caller should know although the operation succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable code, e.g. `window_overlap`.
    pub code: String,
    pub message: String,
    /// The other record involved, e.g. the change whose window overlaps.
    pub record: Option<String>,
    pub ci: Option<String>,
}

/// A record after a write, with the warnings the write produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome<T> {
    pub record: T,
    pub warnings: Vec<Warning>,
}

/// One move of a record's state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange<S> {
    pub from: S,
    pub to: S,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub note: Option<String>,
}

/// Serialises every read-modify-write of ITSM records in this process.
///
/// Lock order: ingest takes it while holding the CMDB's state lock (a report's flags are staged into
/// the report's commit), so code holding it must never wait for that lock: the ITSM module reads the
/// CMDB only through calls that take neither (`cmdb_directory.rs`).
static WRITE_LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn write_lock() -> MutexGuard<'static, ()> {
    WRITE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Refuses a move that `allowed` does not contain, listing the moves that are allowed.
pub(crate) fn check_transition<S: Copy + PartialEq + std::fmt::Display>(
    record: &str,
    from: S,
    to: S,
    allowed: &[S],
) -> Result<()> {
    if allowed.contains(&to) {
        return Ok(());
    }
    let allowed = if allowed.is_empty() {
        format!("none ({from} is final)")
    } else {
        allowed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ItsmError::IllegalTransition {
        record: record.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        allowed,
    })
}

/// Trims `text`; `None` when nothing is left (unknown values are null, never "").
pub(crate) fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// An optional text: trimmed, `None` when empty, at most `max` characters.
pub(crate) fn optional_text(
    record: &str,
    field: &str,
    text: Option<String>,
    max: usize,
) -> Result<Option<String>> {
    match clean(text) {
        Some(text) => required_text(record, field, &text, max).map(Some),
        None => Ok(None),
    }
}

/// A required short text: trimmed, non-empty, at most `max` characters.
pub(crate) fn required_text(record: &str, field: &str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ItsmError::Invalid {
            record: record.to_string(),
            message: format!("{field} is required"),
        });
    }
    if text.chars().count() > max {
        return Err(ItsmError::Invalid {
            record: record.to_string(),
            message: format!("{field} is longer than {max} characters; shorten it"),
        });
    }
    Ok(text.to_string())
}

#[cfg(test)]
pub(crate) mod testutil;

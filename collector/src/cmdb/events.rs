//! The change-event feed: every CI event in commit order, resumable from a cursor.
//!
//! Events are keyed by a sequence number (u64 BE in `cmdb_events`) allocated under the reconcile lock
//! and written in the same batch as the change they describe, so commit order is sequence order: a
//! reader that saw event `n` has seen every event before it, and resuming after `n` gives no gaps and no
//! duplicates, across restarts. Sequence numbers start at 1; cursor 0 reads from the beginning.
//!
//! An event about an inventory change (`changed`, `merged`) is stored with the number of the history
//! record that holds the change list (its `record` field) instead of a second copy of it (~460 bytes
//! for a few package upgrades); the record is written in the same batch, so it is always there.
//! [`Cmdb::events_since`] puts the list back; events stored before this carry their own list and are
//! read as they are.

use super::history::Change;
use super::journal;
use super::model::{Provenance, Status, parse_ci_id};
use super::{Cmdb, CmdbError, CmdbResult, SPACE_EVENTS};
use serde::{Deserialize, Serialize};
use std::ops::Bound;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: String,
    pub ci: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum EventKind {
    Created {
        agent_id: String,
    },
    /// The inventory changed (the component changes), or a new agent joined.
    Changed {
        agent_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change>,
        /// The CI's history record of this change (`GET /api/v1/assets/{ci}/history`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<u64>,
    },
    ManagedEdit {
        by: Provenance,
        changes: Vec<Change>,
    },
    /// A person resolved a conflict by attaching the agent to this CI.
    Merged {
        agent_id: String,
        conflict: String,
        by: Provenance,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<Change>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<u64>,
    },
    /// A person resolved a conflict by giving the agent this new CI.
    Split {
        agent_id: String,
        conflict: String,
        by: Provenance,
    },
    StatusChanged {
        from: Status,
        to: Status,
        by: Provenance,
    },
}

pub(crate) fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

impl Cmdb {
    /// Events after `cursor` (0 for the first), at most `limit`, and the cursor to resume from (the last
    /// returned sequence, or `cursor` itself when nothing is new).
    pub fn events_since(&self, cursor: u64, limit: usize) -> CmdbResult<(Vec<Event>, u64)> {
        let mut events = Vec::new();
        let from = Bound::Excluded(key(cursor).to_vec());
        for entry in self
            .store
            .range(SPACE_EVENTS, from, Bound::Unbounded, false)
            .take(limit)
        {
            let (key, value) = entry?;
            let mut event: Event =
                serde_json::from_slice(&value).map_err(|e| CmdbError::Corrupt {
                    what: "event",
                    key: hex::encode(&key),
                    message: e.to_string(),
                })?;
            self.fill_changes(&mut event)?;
            events.push(event);
        }
        let next = events.last().map_or(cursor, |event| event.seq);
        Ok((events, next))
    }

    /// Puts back the change list of an event stored with a reference to its history record.
    fn fill_changes(&self, event: &mut Event) -> CmdbResult<()> {
        let (changes, record) = match &mut event.kind {
            EventKind::Changed {
                changes,
                record: Some(record),
                ..
            }
            | EventKind::Merged {
                changes,
                record: Some(record),
                ..
            } if changes.is_empty() => (changes, *record),
            _ => return Ok(()),
        };
        let corrupt = |message: String| CmdbError::Corrupt {
            what: "event",
            key: event.seq.to_string(),
            message,
        };
        let ci = parse_ci_id(&event.ci)
            .ok_or_else(|| corrupt(format!("'{}' is not a CI id", event.ci)))?;
        *changes = journal::read(self.store.as_ref(), ci, record)?
            .ok_or_else(|| corrupt(format!("its history record {record} is missing")))?
            .entry
            .changes;
        Ok(())
    }
}

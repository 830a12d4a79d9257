//! The change-event feed: every CI event in commit order, resumable from a cursor.
//!
//! Events are keyed by a sequence number (u64 BE in `cmdb_events`) allocated under the reconcile lock
//! and written in the same batch as the change they describe, so commit order is sequence order: a
//! reader that saw event `n` has seen every event before it, and resuming after `n` gives no gaps and no
//! duplicates, across restarts. Sequence numbers start at 1; cursor 0 reads from the beginning.

use super::history::Change;
use super::model::{Provenance, Status};
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
        changes: Vec<Change>,
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
        changes: Vec<Change>,
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
            let event: Event = serde_json::from_slice(&value).map_err(|e| CmdbError::Corrupt {
                what: "event",
                key: hex::encode(&key),
                message: e.to_string(),
            })?;
            events.push(event);
        }
        let next = events.last().map_or(cursor, |event| event.seq);
        Ok((events, next))
    }
}

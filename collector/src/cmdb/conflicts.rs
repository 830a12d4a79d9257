//! The conflict queue: reports whose evidence is ambiguous wait here for a person.
//!
//! A conflict names the agent, the candidate CIs and why the rules could not decide. The agent gets no
//! CI (its reports are still stored by the ingest) until a person resolves it: `merge` attaches the agent
//! to one of the candidates, `split` gives it a new CI. An agent has at most one open conflict; its later
//! reports do not open more.

use super::index::{self, Tag};
use super::model::{Actor, Asset, CiNum, IdentityExplanation, Provenance, ci_id, parse_ci_id};
use super::{Cmdb, CmdbError, CmdbResult, SPACE_CONFLICTS, SPACE_INDEX};
use crate::ingest::SPACE_INVENTORIES;
use crate::store::Batch;
use census_shared::Inventory;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ConflictStatus {
    Open,
    Resolved {
        resolution: Resolution,
        ci: String,
        by: Provenance,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Resolution {
    /// Attach the agent to this CI (one of the candidates).
    Merge { into: String },
    /// Give the agent a CI of its own.
    Split,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// `cf-000001`.
    pub id: String,
    pub agent_id: String,
    pub candidates: Vec<String>,
    pub reason: String,
    pub opened_at: String,
    pub status: ConflictStatus,
}

pub fn conflict_id(number: u64) -> String {
    format!("cf-{number:06}")
}

fn parse_conflict_id(id: &str) -> Option<u64> {
    id.strip_prefix("cf-")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

pub(crate) fn open_marker(agent_id: &str, number: u64) -> Vec<u8> {
    let mut key = index::value_prefix(Tag::OpenConflict, agent_id);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

impl Cmdb {
    /// The open conflict of `agent_id`, if any.
    pub(crate) fn open_conflict_of(&self, agent_id: &str) -> CmdbResult<Option<u64>> {
        let prefix = index::value_prefix(Tag::OpenConflict, agent_id);
        match self.store.scan_prefix(SPACE_INDEX, &prefix).next() {
            Some(entry) => Ok(index::ci_of_key(&entry?.0)),
            None => Ok(None),
        }
    }

    pub(crate) fn conflict(&self, number: u64) -> CmdbResult<Option<Conflict>> {
        match self.store.get(SPACE_CONFLICTS, &number.to_be_bytes())? {
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| CmdbError::Corrupt {
                        what: "conflict",
                        key: conflict_id(number),
                        message: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// Conflicts, oldest first; only open ones unless `include_resolved`.
    pub fn list_conflicts(&self, include_resolved: bool) -> CmdbResult<Vec<Conflict>> {
        let mut conflicts = Vec::new();
        for entry in self.store.scan_prefix(SPACE_CONFLICTS, b"") {
            let (key, value) = entry?;
            let conflict: Conflict =
                serde_json::from_slice(&value).map_err(|e| CmdbError::Corrupt {
                    what: "conflict",
                    key: hex::encode(&key),
                    message: e.to_string(),
                })?;
            if include_resolved || conflict.status == ConflictStatus::Open {
                conflicts.push(conflict);
            }
        }
        Ok(conflicts)
    }

    pub fn get_conflict(&self, id: &str) -> CmdbResult<Option<Conflict>> {
        match parse_conflict_id(id) {
            Some(number) => self.conflict(number),
            None => Ok(None),
        }
    }

    /// Resolves conflict `id` as a person decided; returns the CI the agent now feeds.
    pub fn resolve_conflict(
        &self,
        id: &str,
        resolution: Resolution,
        actor: &Actor,
        now: &str,
    ) -> CmdbResult<Asset> {
        let mut state = self.lock_state();
        let number =
            parse_conflict_id(id).ok_or_else(|| CmdbError::UnknownConflict(id.to_string()))?;
        let mut conflict = self
            .conflict(number)?
            .ok_or_else(|| CmdbError::UnknownConflict(id.to_string()))?;
        if conflict.status != ConflictStatus::Open {
            return Err(CmdbError::ConflictResolved(id.to_string()));
        }
        let inventory = self.agent_inventory(&conflict.agent_id)?;
        let by = Provenance {
            source: actor.source,
            by: actor.name.clone(),
            at: now.to_string(),
        };
        let explanation = |note: String| IdentityExplanation {
            rule: None,
            values: Vec::new(),
            notes: vec![note],
            agent_id: conflict.agent_id.clone(),
            at: now.to_string(),
        };
        let mut tx = self.begin(&state, crate::store::Batch::new());
        let ci: CiNum = match &resolution {
            Resolution::Merge { into } => {
                let target = parse_ci_id(into)
                    .filter(|_| conflict.candidates.contains(into))
                    .ok_or_else(|| CmdbError::NotACandidate {
                        conflict: id.to_string(),
                        ci: into.clone(),
                        candidates: conflict.candidates.join(", "),
                    })?;
                let note = format!(
                    "merged by {} resolving {}: {}",
                    actor.name, conflict.id, conflict.reason
                );
                self.stage_merge(
                    &mut tx,
                    target,
                    &conflict.agent_id,
                    &inventory,
                    explanation(note),
                    &conflict.id,
                    &by,
                )?;
                target
            }
            Resolution::Split => {
                let note = format!(
                    "split by {} resolving {}: {}",
                    actor.name, conflict.id, conflict.reason
                );
                self.stage_split(
                    &mut tx,
                    &conflict.agent_id,
                    &inventory,
                    explanation(note),
                    &conflict.id,
                    &by,
                )?
            }
        };
        conflict.status = ConflictStatus::Resolved {
            resolution,
            ci: ci_id(ci),
            by,
        };
        tx.batch.put(
            SPACE_CONFLICTS,
            number.to_be_bytes().to_vec(),
            to_json(&conflict),
        );
        tx.batch
            .delete(SPACE_INDEX, open_marker(&conflict.agent_id, number));
        self.finish(&mut state, tx)?;
        drop(state);
        self.asset_by_num(ci)?
            .ok_or_else(|| CmdbError::UnknownCi(ci_id(ci)))
    }

    /// The latest inventory of `agent_id`, which waits in a conflict.
    fn agent_inventory(&self, agent_id: &str) -> CmdbResult<Inventory> {
        self.unattached_inventory(agent_id)?
            .ok_or_else(|| CmdbError::NoInventory(agent_id.to_string()))
    }

    /// The inventory kept for an agent without a CI (its report waits in a conflict).
    pub(crate) fn unattached_inventory(&self, agent_id: &str) -> CmdbResult<Option<Inventory>> {
        let Some(compressed) = self.store.get(SPACE_INVENTORIES, agent_id.as_bytes())? else {
            return Ok(None);
        };
        crate::ingest::decode_stored_inventory(&compressed)
            .map(Some)
            .map_err(|message| CmdbError::Corrupt {
                what: "agent inventory",
                key: agent_id.to_string(),
                message,
            })
    }
}

/// Keeps the inventory of an agent that has no CI yet (its report waits in a conflict), for the
/// person who resolves it and as the base of the agent's next delta.
pub(crate) fn stage_unattached_inventory(batch: &mut Batch, agent_id: &str, inventory: &Inventory) {
    batch.put(
        SPACE_INVENTORIES,
        agent_id.as_bytes().to_vec(),
        lz4_flex::compress_prepend_size(&to_json(inventory)),
    );
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own plain structs always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

//! The CMDB core: accepted reports become configuration items (CIs) with reconciled identity, history,
//! time travel, a change-event feed and secondary indexes.
//!
//! # Layout
//! - [`model`]: the CI record ([`model::CiHeader`] + inventory), statuses, managed fields, provenance.
//! - [`reconcile`]: pure identity rules (and the bogus-identifier table) deciding attach / create /
//!   conflict.
//! - [`history`]: pure per-component diff; [`journal`]: history records; [`timetravel`]: state at a time.
//! - [`events`]: the change feed; [`conflicts`]: the queue of ambiguous matches and their resolution.
//! - [`index`]: lookup keys and the in-memory package postings; [`codec`]: the compact inventory body.
//! - [`assets`]: reads and manual edits for the HTTP layer.
//!
//! # Writes
//! Every CMDB write happens under one lock (the *reconcile lock*, [`Cmdb::state`]): reconciliation
//! reads the indexes and must not race another report creating the same CI, and the event sequence must
//! be committed in order so that a reader never skips an event. Inside the lock a write stages its keys
//! into the caller's [`Batch`] (the ingest's agent state rides along), commits once, then updates the
//! in-memory indexes. Encoding work for new CIs is small (see `docs/cmdb-storage.md`), so one lock keeps
//! up with the ingest target. Unchanged check-ins take no lock: their last-seen times are held in
//! memory and written in batches ([`seen`]).
//!
//! # Limitations
//! An agent already attached to a CI stays with it even if later evidence points elsewhere (a moved
//! agent state dir); rules only decide for agents without a CI.

pub mod assets;
pub mod codec;
pub mod conflicts;
pub mod events;
pub mod history;
pub mod index;
pub mod journal;
mod lifecycle;
pub mod model;
pub mod patched;
pub mod reconcile;
pub mod search;
mod seen;
pub mod timetravel;
mod write;

#[cfg(test)]
mod tests;

use crate::store::{Batch, Store, StoreError};
use census_shared::inventory::Package;
use census_shared::package_digest::PackageDigest;
use codec::{CodecError, Interner};
use history::VersionCompare;
use index::{PackageIndex, PostingsBuilder};
use model::{CiHeader, CiNum, ci_id};
use reconcile::Rule;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use assets::{AssetPage, ListFilter};
pub use conflicts::{Conflict, ConflictStatus, Resolution};
pub use events::{Event, EventKind};
pub use journal::{EntryKind, HistoryEntry, HistoryFilter};
pub use model::{Actor, Asset, AssetState, ManagedFields, ManagedFieldsPatch, Status};

/// CI header (JSON), by CI number (u64 BE).
pub const SPACE_CI: &str = "cmdb_ci";
/// CI inventory body ([`codec`]), by CI number.
pub const SPACE_BODY: &str = "cmdb_body";
/// Agent id to the CI number it feeds.
pub const SPACE_AGENTS: &str = "cmdb_agents";
/// Lookup keys ([`index`]).
pub const SPACE_INDEX: &str = "cmdb_index";
/// Interned package records (JSON) by id (u32 BE).
pub const SPACE_PACKAGES: &str = "cmdb_packages";
/// Each CI's history: `(CI, record)` keys indexing [`SPACE_RECORDS`] ([`journal`]).
pub const SPACE_HISTORY: &str = "cmdb_history";
/// History records by number (u64 BE), in the order they were written ([`journal`]).
pub const SPACE_RECORDS: &str = "cmdb_records";
/// Time-travel checkpoints ([`timetravel`]).
pub const SPACE_CHECKPOINTS: &str = "cmdb_checkpoints";
/// Event feed by sequence (u64 BE).
pub const SPACE_EVENTS: &str = "cmdb_events";
/// Conflicts by number (u64 BE).
pub const SPACE_CONFLICTS: &str = "cmdb_conflicts";
/// Counters, written in every batch.
pub const SPACE_META: &str = "cmdb_meta";

const COUNTERS_KEY: &[u8] = b"counters";

/// A checkpoint every this many history records bounds time travel to this many delta applications.
pub const DEFAULT_CHECKPOINT_EVERY: u32 = 32;

#[derive(Debug, thiserror::Error)]
pub enum CmdbError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("stored {what} '{key}' is corrupt: {message}")]
    Corrupt {
        what: &'static str,
        key: String,
        message: String,
    },
    #[error("no CI '{0}' (CI ids look like ci-000123)")]
    UnknownCi(String),
    #[error("no conflict '{0}' (conflict ids look like cf-000001)")]
    UnknownConflict(String),
    #[error("conflict '{0}' is already resolved")]
    ConflictResolved(String),
    #[error(
        "conflict '{conflict}' can only be merged into one of its candidates ({candidates}), not '{ci}'"
    )]
    NotACandidate {
        conflict: String,
        ci: String,
        candidates: String,
    },
    #[error("the collector holds no inventory for agent '{0}'; wait for its next report")]
    NoInventory(String),
    #[error("time travel on '{ci}' failed: {message}")]
    TimeTravel { ci: String, message: String },
    #[error("'{0}' is not an RFC 3339 timestamp (like 2026-11-26T12:00:00Z)")]
    Timestamp(String),
}

pub type CmdbResult<T> = Result<T, CmdbError>;

#[derive(Debug, Clone, Copy)]
pub struct CmdbConfig {
    /// Version order for upgrade / downgrade detection (by default each package manager's own).
    pub version_compare: VersionCompare,
    pub checkpoint_every: u32,
}

impl Default for CmdbConfig {
    fn default() -> Self {
        Self {
            version_compare: history::package_manager_order,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        }
    }
}

/// Monotonic counters; the next value of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    pub next_ci: u64,
    pub next_event: u64,
    pub next_record: u64,
    pub next_conflict: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            next_ci: 1,
            next_event: 1,
            next_record: 1,
            next_conflict: 1,
        }
    }
}

/// What the CMDB did with a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum CiOutcome {
    /// A new CI.
    Created { ci: String },
    /// A new agent joined an existing CI by `rule`.
    Attached { ci: String, rule: Rule },
    /// The agent's CI took the new inventory.
    Updated { ci: String },
    /// Same inventory: only last seen moved.
    Seen { ci: String },
    /// The evidence is ambiguous: a person must decide (see [`Cmdb::resolve_conflict`]).
    Conflict { conflict: String },
}

impl CiOutcome {
    pub fn ci(&self) -> Option<&str> {
        match self {
            CiOutcome::Created { ci }
            | CiOutcome::Attached { ci, .. }
            | CiOutcome::Updated { ci }
            | CiOutcome::Seen { ci } => Some(ci),
            CiOutcome::Conflict { .. } => None,
        }
    }
}

pub(crate) struct State {
    pub counters: Counters,
}

/// The CMDB over a store. One per collector, shared by `Arc`.
pub struct Cmdb {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: CmdbConfig,
    /// The reconcile lock, with the counters it protects.
    state: Mutex<State>,
    interner: RwLock<Interner>,
    packages: RwLock<PackageIndex>,
    /// Unchanged check-ins not yet written to their CI headers ([`seen`]).
    pending_seen: RwLock<seen::PendingSeen>,
}

impl Cmdb {
    /// Opens the CMDB: loads counters and the package table, and rebuilds the in-memory package index
    /// from the CI bodies.
    pub fn open(store: Arc<dyn Store>, config: CmdbConfig) -> CmdbResult<Self> {
        let counters = match store.get(SPACE_META, COUNTERS_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| CmdbError::Corrupt {
                what: "counters",
                key: "counters".into(),
                message: e.to_string(),
            })?,
            None => Counters::default(),
        };
        let mut records = Vec::new();
        for entry in store.scan_prefix(SPACE_PACKAGES, b"") {
            let (key, value) = entry?;
            let package = serde_json::from_slice(&value).map_err(|e| CmdbError::Corrupt {
                what: "package record",
                key: hex::encode(&key),
                message: e.to_string(),
            })?;
            records.push(package);
        }
        let cmdb = Self {
            store,
            config,
            state: Mutex::new(State { counters }),
            interner: RwLock::new(Interner::from_records(records)),
            packages: RwLock::new(PackageIndex::default()),
            pending_seen: RwLock::new(seen::PendingSeen::default()),
        };
        cmdb.rebuild_package_index()?;
        Ok(cmdb)
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn interner(&self) -> RwLockReadGuard<'_, Interner> {
        self.interner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The package records named by `digests` (a `known` report), in order, as (record id, shared
    /// record); or every digest no single record answers to, for the agent to send those packages in
    /// full.
    pub fn resolve_packages(
        &self,
        digests: &[PackageDigest],
    ) -> Result<Vec<(u32, Arc<Package>)>, Vec<PackageDigest>> {
        let interner = self.interner();
        let mut records = Vec::with_capacity(digests.len());
        let mut missing = Vec::new();
        for digest in digests {
            let found = interner
                .id_by_digest(digest)
                .and_then(|id| Some((id, interner.record(id)?)));
            match found {
                Some(record) if missing.is_empty() => records.push(record),
                Some(_) => {}
                None => missing.push(*digest),
            }
        }
        if missing.is_empty() {
            Ok(records)
        } else {
            Err(missing)
        }
    }

    pub(crate) fn interner_mut(&self) -> RwLockWriteGuard<'_, Interner> {
        self.interner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn packages(&self) -> RwLockReadGuard<'_, PackageIndex> {
        self.packages
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn packages_mut(&self) -> RwLockWriteGuard<'_, PackageIndex> {
        self.packages
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn pending_seen(&self) -> RwLockReadGuard<'_, seen::PendingSeen> {
        self.pending_seen
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn pending_seen_mut(&self) -> RwLockWriteGuard<'_, seen::PendingSeen> {
        self.pending_seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The CI agent `agent_id` feeds, if any.
    pub fn ci_of_agent(&self, agent_id: &str) -> CmdbResult<Option<String>> {
        Ok(self.agent_ci(agent_id)?.map(ci_id))
    }

    pub(crate) fn agent_ci(&self, agent_id: &str) -> CmdbResult<Option<CiNum>> {
        match self.store.get(SPACE_AGENTS, agent_id.as_bytes())? {
            Some(bytes) => {
                let number: [u8; 8] =
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| CmdbError::Corrupt {
                            what: "agent mapping",
                            key: agent_id.to_string(),
                            message: format!("{} bytes, expected 8", bytes.len()),
                        })?;
                Ok(Some(CiNum::from_be_bytes(number)))
            }
            None => Ok(None),
        }
    }

    /// The CI header, with the last-seen times of check-ins not yet written ([`seen`]).
    pub(crate) fn header(&self, ci: CiNum) -> CmdbResult<Option<CiHeader>> {
        match self.store.get(SPACE_CI, &ci.to_be_bytes())? {
            Some(bytes) => {
                let mut header: CiHeader =
                    serde_json::from_slice(&bytes).map_err(|e| CmdbError::Corrupt {
                        what: "CI header",
                        key: ci_id(ci),
                        message: e.to_string(),
                    })?;
                self.pending_seen().overlay(&mut header);
                Ok(Some(header))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn inventory_of(&self, ci: CiNum) -> CmdbResult<Option<census_shared::Inventory>> {
        match self.store.get(SPACE_BODY, &ci.to_be_bytes())? {
            Some(body) => Ok(Some(codec::decode(&body, &self.interner(), &ci_id(ci))?)),
            None => Ok(None),
        }
    }

    /// The CI's inventory with an empty package list (cheap: package records are not cloned).
    pub(crate) fn inventory_without_packages(
        &self,
        ci: CiNum,
    ) -> CmdbResult<Option<census_shared::Inventory>> {
        match self.store.get(SPACE_BODY, &ci.to_be_bytes())? {
            Some(body) => Ok(Some(codec::decode_without_packages(&body, &ci_id(ci))?)),
            None => Ok(None),
        }
    }

    /// Rebuilds every index from the CI records: the lookup keys on disk and the package postings in
    /// memory. Indexes are derived data; this repairs them after a crash of an older version or a bug.
    pub fn rebuild_indexes(&self) -> CmdbResult<()> {
        let _state = self.lock_state();
        let mut stale = Batch::new();
        for entry in self.store.scan_prefix(SPACE_INDEX, b"") {
            let (key, _) = entry?;
            // Open-conflict markers are not derived from CIs: keep them.
            if key.first() != Some(&(index::Tag::OpenConflict as u8)) {
                stale.delete(SPACE_INDEX, key);
            }
        }
        self.store.commit(stale)?;
        let mut fresh = Batch::new();
        for entry in self.store.scan_prefix(SPACE_CI, b"") {
            let (key, _) = entry?;
            let ci = ci_num_of_key(&key)?;
            let header = self
                .header(ci)?
                .ok_or_else(|| CmdbError::UnknownCi(ci_id(ci)))?;
            fresh.put(
                SPACE_INDEX,
                index::status_key(header.status.value, ci),
                Vec::new(),
            );
            if let Some(inventory) = self.inventory_of(ci)? {
                for key in index::keys(ci, &inventory) {
                    fresh.put(SPACE_INDEX, key, Vec::new());
                }
            }
            if fresh.len() > 10_000 {
                self.store.commit(std::mem::take(&mut fresh))?;
            }
        }
        self.store.commit(fresh)?;
        self.rebuild_package_index()
    }

    fn rebuild_package_index(&self) -> CmdbResult<()> {
        let mut rebuilt = PackageIndex::default();
        {
            let interner = self.interner();
            for id in 0..interner.len() as u32 {
                if let Some(package) = interner.get(id) {
                    rebuilt.add_record(id, &package.name);
                }
            }
        }
        let mut postings = PostingsBuilder::default();
        for entry in self.store.scan_prefix(SPACE_BODY, b"") {
            let (key, body) = entry?;
            let ci = ci_num_of_key(&key)?;
            postings.add(ci, &codec::package_ids(&body, &ci_id(ci))?);
        }
        rebuilt.set_postings(postings);
        tracing::info!(
            postings = rebuilt.n_postings(),
            bytes = rebuilt.postings_bytes(),
            "package postings rebuilt (CIs per package record, in memory)"
        );
        *self.packages_mut() = rebuilt;
        Ok(())
    }
}

pub(crate) fn ci_num_of_key(key: &[u8]) -> CmdbResult<CiNum> {
    let number: [u8; 8] = key.try_into().map_err(|_| CmdbError::Corrupt {
        what: "CI key",
        key: hex::encode(key),
        message: "expected 8 bytes".into(),
    })?;
    Ok(CiNum::from_be_bytes(number))
}

//! Accepting agent reports: check-ins, replay protection, delta application, and the write of each
//! accepted report as one atomic batch.
//!
//! The HTTP layer authenticates the agent (its id comes from its client certificate) and decodes the
//! body; this module decides what the report means and writes it. It does not flush: the caller
//! acknowledges only after a group commit that started after [`Ingest::report`] returned.
//!
//! Reports from one agent are applied one at a time (a striped lock); different agents run in parallel.
//! With a CMDB attached ([`Ingest::with_cmdb`]), every applied report (changed or not) is handed to it and
//! its CI writes join the report's batch: one commit holds the agent state and the CI change. The
//! changes the report makes are checked for unauthorized ones before that commit, and the flags they
//! raise join the same batch (see [`crate::itsm::cmdb_directory`]): a report is never durable without
//! its flags.

use crate::cmdb::history::Change;
use crate::cmdb::patched::{PatchedInventory, ReportInventory};
use crate::cmdb::{CiOutcome, Cmdb, CmdbError};
use crate::itsm::unauthorized::{PlannedWindows, StagedFlags};
use crate::store::{Batch, Store, StoreError};
use census_shared::delta::{self, DeltaError};
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, SCHEMA_VERSION};
use census_shared::package_digest::PackageDigests;
use census_shared::protocol::{CheckInResponse, ReportBody, ReportHeader, ReportOutcome};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard};

/// Per-agent report state: sequence position and the inventory the collector holds.
pub const SPACE_AGENT_REPORTS: &str = "agent_reports";
/// Per-agent latest inventory, lz4-compressed JSON: without a CMDB, every agent's; with one, only
/// agents whose report waits in an identity conflict (the CI body serves the others).
pub const SPACE_INVENTORIES: &str = "agent_inventories";

const LOCK_STRIPES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(
        "the delta applies to inventory {sent}, but the collector holds {held}; send the full inventory"
    )]
    BaseMismatch { sent: String, held: String },
    #[error(
        "the report does not hash to {claimed} once applied (got {actual}); send the full inventory"
    )]
    HashMismatch { claimed: String, actual: String },
    #[error(
        "the report names {} package record(s) by digest that the collector does not hold; send them in full",
        missing.len()
    )]
    UnknownPackages {
        missing: PackageDigests,
        /// The hash the collector holds for the agent ("" before its first report).
        held: String,
    },
    #[error("invalid report: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cmdb(#[from] CmdbError),
}

/// What the collector remembers about one agent's reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentReportState {
    pub epoch: u64,
    pub seq: u64,
    pub last_report_id: String,
    /// Content hash of the stored inventory ("" before the first report).
    pub hash: String,
    /// RFC 3339: the last report (and, for an ingest without a CMDB, the last check-in; with one, the
    /// CI holds the last check-in time).
    pub last_seen: String,
    /// RFC 3339: the last report that changed the inventory.
    pub last_changed: String,
    pub n_reports: u64,
}

impl AgentReportState {
    /// True when `header` is not newer than what was already applied: a replay or a late retry.
    fn is_replay(&self, header: &ReportHeader) -> bool {
        (header.epoch, header.seq) <= (self.epoch, self.seq) && self.n_reports > 0
            || header.report_id == self.last_report_id
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestOutcome {
    pub outcome: ReportOutcome,
    /// The hash the collector now holds for the agent.
    pub hash: String,
    /// True when the report changed the stored inventory (a check-in that turned out equal did not).
    pub changed: bool,
    /// What the CMDB did with the report (`None` without a CMDB, or for a duplicate).
    pub ci: Option<CiOutcome>,
}

pub struct Ingest {
    store: Arc<dyn Store>,
    stripes: Vec<Mutex<()>>,
    cmdb: Option<Arc<Cmdb>>,
}

impl Ingest {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            cmdb: None,
        }
    }

    /// An ingest that hands every applied report to `cmdb`, in the same atomic batch.
    pub fn with_cmdb(store: Arc<dyn Store>, cmdb: Arc<Cmdb>) -> Self {
        Self {
            cmdb: Some(cmdb),
            ..Self::new(store)
        }
    }

    fn lock(&self, agent_id: &str) -> MutexGuard<'_, ()> {
        let stripe = agent_id.bytes().fold(0usize, |hash, b| {
            hash.wrapping_mul(31).wrapping_add(b as usize)
        });
        self.stripes[stripe % LOCK_STRIPES]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn state(&self, agent_id: &str) -> Result<Option<AgentReportState>, IngestError> {
        match self.store.get(SPACE_AGENT_REPORTS, agent_id.as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
                IngestError::Invalid(format!("stored state of agent {agent_id}: {error}"))
            }),
            None => Ok(None),
        }
    }

    /// The inventory the collector holds for `agent_id`: the base of its next delta.
    pub fn inventory(&self, agent_id: &str) -> Result<Option<Inventory>, IngestError> {
        if let Some(cmdb) = &self.cmdb {
            return Ok(cmdb.delta_base(agent_id)?);
        }
        let Some(compressed) = self.store.get(SPACE_INVENTORIES, agent_id.as_bytes())? else {
            return Ok(None);
        };
        decode_stored_inventory(&compressed)
            .map(Some)
            .map_err(|error| {
                IngestError::Invalid(format!("stored inventory of agent {agent_id}: {error}"))
            })
    }

    /// A check-in: records that the agent is alive and says whether a report is needed.
    pub fn check_in(
        &self,
        agent_id: &str,
        header: &ReportHeader,
        now: &str,
    ) -> Result<CheckInResponse, IngestError> {
        let _guard = self.lock(agent_id);
        let mut state = self.state(agent_id)?.unwrap_or_default();
        if state.n_reports > 0 && state.is_replay(header) {
            return Ok(CheckInResponse::Duplicate);
        }
        if state.n_reports > 0 && state.hash == header.hash {
            // Being seen is what keeps a CI from turning stale, so the CMDB hears of every check-in.
            // With a CMDB nothing is written per check-in: the time is held in memory and written in
            // batches (`cmdb::seen`), and an unchanged check-in's sequence number need not be durable
            // (a replayed check-in is harmless; reports carry higher numbers anyway).
            match &self.cmdb {
                Some(cmdb) => {
                    cmdb.seen(agent_id, now)?;
                }
                None => {
                    state.epoch = header.epoch;
                    state.seq = header.seq;
                    state.last_report_id.clone_from(&header.report_id);
                    state.last_seen = now.to_string();
                    let mut batch = Batch::new();
                    batch.put(SPACE_AGENT_REPORTS, agent_id.as_bytes(), to_json(&state));
                    self.store.commit(batch)?;
                }
            }
            return Ok(CheckInResponse::Unchanged);
        }
        let base_hash = (state.n_reports > 0).then(|| state.hash.clone());
        Ok(CheckInResponse::SendReport { base_hash })
    }

    /// Applies a full or delta report and writes it atomically (not yet flushed).
    pub fn report(
        &self,
        agent_id: &str,
        header: &ReportHeader,
        body: ReportBody,
        now: &str,
    ) -> Result<IngestOutcome, IngestError> {
        let _guard = self.lock(agent_id);
        let mut state = self.state(agent_id)?.unwrap_or_default();
        if state.n_reports > 0 && state.is_replay(header) {
            return Ok(IngestOutcome {
                outcome: ReportOutcome::Duplicate,
                hash: state.hash,
                changed: false,
                ci: None,
            });
        }
        let mut incoming = match body {
            ReportBody::Full { inventory } => Incoming::Full(*inventory),
            ReportBody::Delta { base_hash, delta } => {
                if state.n_reports == 0 || base_hash != state.hash {
                    return Err(IngestError::BaseMismatch {
                        sent: base_hash,
                        held: state.hash,
                    });
                }
                self.apply_delta(agent_id, &base_hash, &delta)?
            }
            ReportBody::Known {
                inventory,
                known_packages,
                known_installed_at,
            } => {
                if !known_installed_at.is_empty()
                    && known_installed_at.len() != known_packages.len()
                {
                    return Err(IngestError::Invalid(format!(
                        "known_installed_at has {} entries for {} package digests; send one per digest, or none",
                        known_installed_at.len(),
                        known_packages.len()
                    )));
                }
                let resolved = match &self.cmdb {
                    Some(cmdb) => cmdb.resolve_packages(&known_packages.0),
                    // Without a CMDB no records are kept: every package must come whole.
                    None if known_packages.is_empty() => Ok(Vec::new()),
                    None => Err(known_packages.0),
                };
                match resolved {
                    // The rebuilt document is checked against the header's hash below, like any.
                    Ok(records) => Incoming::Patched(PatchedInventory::from_known(
                        *inventory,
                        records,
                        known_installed_at,
                    )),
                    Err(missing) => {
                        return Err(IngestError::UnknownPackages {
                            missing: PackageDigests(missing),
                            held: state.hash,
                        });
                    }
                }
            }
        };
        validate(incoming.shell())?;
        let actual = incoming.canonical_hash();
        if actual != header.hash {
            return Err(IngestError::HashMismatch {
                claimed: header.hash.clone(),
                actual,
            });
        }
        let changed = state.hash != actual;
        state.epoch = header.epoch;
        state.seq = header.seq;
        state.last_report_id.clone_from(&header.report_id);
        state.hash = actual.clone();
        state.last_seen = now.to_string();
        if changed {
            state.last_changed = now.to_string();
        }
        state.n_reports += 1;

        let mut batch = Batch::new();
        batch.put(SPACE_AGENT_REPORTS, agent_id.as_bytes(), to_json(&state));
        // With a CMDB, the CI body is the agent's inventory (no second copy per agent).
        if changed && self.cmdb.is_none() {
            let json = match &incoming {
                Incoming::Full(inventory) => to_json(inventory),
                Incoming::Patched(patched) => to_json(&patched.materialize()),
            };
            batch.put(
                SPACE_INVENTORIES,
                agent_id.as_bytes(),
                lz4_flex::compress_prepend_size(&json),
            );
        }
        let ci = match &self.cmdb {
            Some(cmdb) => {
                let planned = if changed {
                    self.planned_windows(cmdb, agent_id)
                } else {
                    None
                };
                let (outcome, flags) = cmdb.apply_report_with(
                    batch,
                    agent_id,
                    incoming.report(),
                    changed,
                    now,
                    |ci, changes, batch| self.stage_unauthorized(ci, now, changes, batch, planned),
                )?;
                if let Some(Some(flags)) = flags {
                    flags.committed();
                }
                Some(outcome)
            }
            None => {
                self.store.commit(batch)?;
                None
            }
        };
        Ok(IngestOutcome {
            outcome: ReportOutcome::Applied,
            hash: actual,
            changed,
            ci,
        })
    }
}

/// A report's inventory once its delta, if any, is applied.
enum Incoming {
    Full(Inventory),
    /// The usual delta (packages only) applied to the CI body's shared package records, or a
    /// `known` report's digests resolved to them.
    Patched(PatchedInventory),
}

impl Incoming {
    fn shell(&self) -> &Inventory {
        self.report().shell()
    }

    fn report(&self) -> ReportInventory<'_> {
        match self {
            Incoming::Full(inventory) => ReportInventory::Full(inventory),
            Incoming::Patched(patched) => ReportInventory::Patched(patched),
        }
    }

    /// Puts the document in canonical form (a patched one already is) and returns its content hash.
    fn canonical_hash(&mut self) -> String {
        match self {
            Incoming::Full(inventory) => {
                inventory.canonicalize();
                content_hash(inventory)
            }
            Incoming::Patched(patched) => patched.content_hash(),
        }
    }
}

impl Ingest {
    /// Applies `delta` to the inventory the collector holds for `agent_id` (whose hash the caller
    /// checked is `base_hash`): on the CI body's shared records when the delta touches only packages,
    /// on the whole document otherwise.
    fn apply_delta(
        &self,
        agent_id: &str,
        base_hash: &str,
        delta: &delta::Delta,
    ) -> Result<Incoming, IngestError> {
        let invalid = |error: DeltaError| match error {
            DeltaError::Invalid(message) => IngestError::Invalid(message),
            other => IngestError::Invalid(other.to_string()),
        };
        if let Some(cmdb) = &self.cmdb
            && let Some(only) = delta::package_only(delta)
            && let Some(base) = cmdb.stored_base(agent_id)?
        {
            return base.apply(&only).map(Incoming::Patched).map_err(invalid);
        }
        let base = self
            .inventory(agent_id)?
            .ok_or_else(|| IngestError::BaseMismatch {
                sent: base_hash.to_string(),
                held: String::new(),
            })?;
        delta::apply_owned(base, delta)
            .map(Incoming::Full)
            .map_err(invalid)
    }

    /// The change windows planned on the agent's CI, read before the CMDB's lock is taken to apply
    /// its report (see [`PlannedWindows`]). `None` when the agent has no CI yet or the read fails (the
    /// staging reads them again).
    fn planned_windows(&self, cmdb: &Cmdb, agent_id: &str) -> Option<PlannedWindows> {
        let ci = cmdb.ci_of_agent(agent_id).ok()??;
        PlannedWindows::read(self.store.as_ref(), &ci).ok()
    }

    /// Stages into the report's batch the flags for the changes it records on `ci` that no approved
    /// change covers ([`crate::itsm::cmdb_directory::stage_report_flags`]): the report and its flags
    /// are committed together, and are durable together when the agent is answered. A failure is
    /// logged and stages nothing: the report itself is applied and must be acknowledged.
    fn stage_unauthorized(
        &self,
        ci: &str,
        now: &str,
        changes: &[Change],
        batch: &mut Batch,
        planned: Option<PlannedWindows>,
    ) -> Option<StagedFlags> {
        if changes.is_empty() {
            return None;
        }
        crate::itsm::cmdb_directory::stage_report_flags(
            self.store.as_ref(),
            ci,
            now,
            changes,
            batch,
            planned,
        )
        .inspect_err(|error| {
            tracing::error!(
                %error,
                ci,
                "checking the report's changes for unauthorized ones failed"
            );
        })
        .ok()
    }
}

/// An inventory as kept in [`SPACE_INVENTORIES`]: lz4-compressed JSON.
pub(crate) fn decode_stored_inventory(compressed: &[u8]) -> Result<Inventory, String> {
    let json = lz4_flex::decompress_size_prepended(compressed).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own plain structs always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Checks a report's inventory beyond what deserialising it proved.
fn validate(inventory: &Inventory) -> Result<(), IngestError> {
    if inventory.schema_version == 0 || inventory.schema_version > SCHEMA_VERSION {
        return Err(IngestError::Invalid(format!(
            "schema_version {} is not supported (this collector reads 1 to {SCHEMA_VERSION}); upgrade the collector",
            inventory.schema_version
        )));
    }
    if time::OffsetDateTime::parse(
        &inventory.collected_at,
        &time::format_description::well_known::Rfc3339,
    )
    .is_err()
    {
        return Err(IngestError::Invalid(format!(
            "collected_at '{}' is not an RFC 3339 timestamp",
            inventory.collected_at
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use census_shared::inventory::Package;

    const NOW: &str = "2026-11-26T12:00:00Z";

    fn machine(hostname: &str, n_packages: usize) -> Inventory {
        let mut inventory = Inventory::default();
        inventory.schema_version = SCHEMA_VERSION;
        inventory.collected_at = NOW.into();
        inventory.host.hostname = Some(hostname.into());
        inventory.software.packages = (0..n_packages)
            .map(|i| Package {
                manager: "dpkg".into(),
                name: format!("pkg{i}"),
                version: "1.0".into(),
                ..Package::default()
            })
            .collect();
        inventory.canonicalize();
        inventory
    }

    fn header(seq: u64, inventory: &Inventory) -> ReportHeader {
        ReportHeader {
            epoch: 1,
            seq,
            report_id: format!("report-{seq}"),
            hash: content_hash(inventory),
            collected_at: NOW.into(),
        }
    }

    fn ingest() -> Ingest {
        Ingest::new(Arc::new(MemoryStore::new()))
    }

    fn full(inventory: &Inventory) -> ReportBody {
        ReportBody::Full {
            inventory: Box::new(inventory.clone()),
        }
    }

    #[test]
    fn a_new_agent_is_asked_for_a_full_report_then_checks_in_unchanged() {
        let ingest = ingest();
        let first = machine("web-01", 3);
        assert_eq!(
            ingest.check_in("agt-1", &header(1, &first), NOW).unwrap(),
            CheckInResponse::SendReport { base_hash: None }
        );
        let outcome = ingest
            .report("agt-1", &header(1, &first), full(&first), NOW)
            .unwrap();
        assert_eq!(outcome.outcome, ReportOutcome::Applied);
        assert_eq!(ingest.inventory("agt-1").unwrap().unwrap(), first);
        assert_eq!(
            ingest.check_in("agt-1", &header(2, &first), NOW).unwrap(),
            CheckInResponse::Unchanged
        );
    }

    #[test]
    fn a_delta_against_the_held_inventory_is_applied() {
        let ingest = ingest();
        let first = machine("web-01", 3);
        ingest
            .report("agt-1", &header(1, &first), full(&first), NOW)
            .unwrap();
        let second = machine("web-01", 4);
        assert_eq!(
            ingest.check_in("agt-1", &header(2, &second), NOW).unwrap(),
            CheckInResponse::SendReport {
                base_hash: Some(content_hash(&first))
            }
        );
        let body = ReportBody::Delta {
            base_hash: content_hash(&first),
            delta: delta::diff(&first, &second),
        };
        let outcome = ingest
            .report("agt-1", &header(2, &second), body, NOW)
            .unwrap();
        assert_eq!(outcome.hash, content_hash(&second));
        assert_eq!(ingest.inventory("agt-1").unwrap().unwrap(), second);
    }

    #[test]
    fn a_delta_against_another_base_is_refused_and_writes_nothing() {
        let ingest = ingest();
        let first = machine("web-01", 3);
        ingest
            .report("agt-1", &header(1, &first), full(&first), NOW)
            .unwrap();
        let second = machine("web-01", 5);
        let body = ReportBody::Delta {
            base_hash: "f".repeat(64),
            delta: delta::diff(&first, &second),
        };
        let error = ingest
            .report("agt-1", &header(2, &second), body, NOW)
            .unwrap_err();
        assert!(matches!(error, IngestError::BaseMismatch { .. }), "{error}");
        assert_eq!(ingest.state("agt-1").unwrap().unwrap().seq, 1);
        assert_eq!(ingest.inventory("agt-1").unwrap().unwrap(), first);
    }

    #[test]
    fn a_replayed_report_is_applied_once() {
        let ingest = ingest();
        let first = machine("web-01", 3);
        ingest
            .report("agt-1", &header(1, &first), full(&first), NOW)
            .unwrap();
        let second = machine("web-01", 4);
        ingest
            .report("agt-1", &header(2, &second), full(&second), NOW)
            .unwrap();
        let replay = ingest
            .report("agt-1", &header(1, &first), full(&first), NOW)
            .unwrap();
        assert_eq!(replay.outcome, ReportOutcome::Duplicate);
        assert_eq!(ingest.inventory("agt-1").unwrap().unwrap(), second);
        assert_eq!(ingest.state("agt-1").unwrap().unwrap().n_reports, 2);
    }

    #[test]
    fn a_report_whose_hash_does_not_match_its_content_is_refused() {
        let ingest = ingest();
        let first = machine("web-01", 3);
        let mut lying = header(1, &first);
        lying.hash = "0".repeat(64);
        let error = ingest
            .report("agt-1", &lying, full(&first), NOW)
            .unwrap_err();
        assert!(matches!(error, IngestError::HashMismatch { .. }), "{error}");
        assert!(ingest.state("agt-1").unwrap().is_none());
    }

    #[test]
    fn an_unsupported_schema_version_is_refused_with_what_to_do() {
        let ingest = ingest();
        let mut future = machine("web-01", 1);
        future.schema_version = SCHEMA_VERSION + 1;
        let error = ingest
            .report("agt-1", &header(1, &future), full(&future), NOW)
            .unwrap_err();
        assert!(
            error.to_string().contains("upgrade the collector"),
            "{error}"
        );
    }
}

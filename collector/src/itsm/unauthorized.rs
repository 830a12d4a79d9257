//! Unauthorized changes: a change discovery saw on a CI that no authorized change covers.
//!
//! A discovered change at time `t` on CI `c` is authorized when some change record
//! - lists `c` among its affected CIs,
//! - is Approved, Scheduled, Implementing, Review or Closed, and
//! - has a planned window with `start - GRACE <= t <= end + GRACE` (both edges inclusive).
//!
//! [`GRACE`] absorbs clock skew and the agent's collection interval: the inventory that shows the change
//! is often collected a little after the work ends. Otherwise the change is flagged (`UAC-000001`) into
//! a persistent list, once: the same discovered change evaluated again (a replayed report) is not
//! flagged twice. A person then acknowledges a flag (with a note) or links it to the change that
//! explains it; both are audited and kept in the flag's history.

use super::change::{ChangeWindow, windows_on};
use super::history::{CREATED, CREATION_FIELD, HistoryEntry, history};
use super::numbering::{self, RecordKind};
use super::record::{self, Record, stage};
use super::{Actor, DiscoveredChange, DiscoveredChangeKind, ItsmError, Page, Result, write_lock};
use crate::itsm::change::Change;
use crate::store::{Batch, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub const SPACE_FLAGS: &str = "itsm_unauthorized";
/// Fingerprint of each discovered change already flagged → flag id.
pub const SPACE_FLAGGED: &str = "itsm_unauthorized_seen";
/// Margin around a change's window within which discovered changes still count as covered.
pub const GRACE: Duration = Duration::minutes(15);
const NOTE_MAX: usize = 5_000;
/// The actor of what discovery does.
const DISCOVERY: &str = "discovery";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    Open,
    Acknowledged,
    /// Linked to the change that explains it.
    Linked,
}

impl FlagStatus {
    pub fn key(self) -> &'static str {
        match self {
            FlagStatus::Open => "open",
            FlagStatus::Acknowledged => "acknowledged",
            FlagStatus::Linked => "linked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub id: String,
    pub ci: String,
    pub change: DiscoveredChange,
    pub status: FlagStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub acknowledged_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    pub note: Option<String>,
    pub linked_change: Option<String>,
    pub linked_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub linked_at: Option<OffsetDateTime>,
}

impl Record for Flag {
    const KIND: RecordKind = RecordKind::Flag;
    const SPACE: &'static str = SPACE_FLAGS;
    fn id(&self) -> &str {
        &self.id
    }
    fn cis(&self) -> &[String] {
        std::slice::from_ref(&self.ci)
    }
    fn state_key(&self) -> &'static str {
        self.status.key()
    }
    fn set_updated_at(&mut self, at: OffsetDateTime) {
        self.updated_at = at;
    }
    /// A flag is raised for every unapproved change discovery sees; its creation entry would say no
    /// more than `detected_at` and cost ~200 bytes a flag. [`flag_history`] rebuilds it.
    const STORES_CREATION_ENTRY: bool = false;
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagFilter {
    pub status: Option<FlagStatus>,
    pub ci: Option<String>,
    pub kind: Option<DiscoveredChangeKind>,
    /// Discovered at or after.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Discovered before.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

impl FlagFilter {
    fn matches(&self, flag: &Flag) -> bool {
        self.status.is_none_or(|s| s == flag.status)
            && self.ci.as_ref().is_none_or(|ci| *ci == flag.ci)
            && self.kind.is_none_or(|k| k == flag.change.kind)
            && self.since.is_none_or(|since| flag.change.at >= since)
            && self.until.is_none_or(|until| flag.change.at < until)
    }
}

/// Whether `change` authorizes what discovery saw at `at` on one of its CIs (see the module doc).
pub fn covers(change: &Change, at: OffsetDateTime) -> bool {
    window_covers(&ChangeWindow::of(change), at)
}

/// [`covers`] from the change's state and window alone.
fn window_covers(change: &ChangeWindow, at: OffsetDateTime) -> bool {
    change.state.authorizes()
        && change
            .window
            .is_some_and(|w| w.start - GRACE <= at && at <= w.end + GRACE)
}

/// The first change (lowest id) authorizing `discovered`, among `changes` on its CI.
pub fn covering_change<'a>(
    changes: &'a [Change],
    discovered: &DiscoveredChange,
) -> Option<&'a Change> {
    changes
        .iter()
        .filter(|c| c.affected_cis.contains(&discovered.ci))
        .find(|c| covers(c, discovered.at))
}

fn fingerprint(change: &DiscoveredChange) -> Result<String> {
    let json = serde_json::to_vec(change).map_err(|error| ItsmError::Corrupt {
        space: SPACE_FLAGGED.to_string(),
        key: change.ci.clone(),
        message: error.to_string(),
    })?;
    Ok(hex::encode(Sha256::digest(json)))
}

/// Flags the changes in `changes` (all on `ci`) that no authorized change covers, detected at `now`,
/// in a commit of their own; returns the flags raised now (not those raised by an earlier evaluation
/// of the same change). Ingest stages them into the report's commit instead
/// ([`stage_discovered_changes`]); this is the same evaluation for the tests of its rules.
#[cfg(test)]
pub(crate) fn evaluate_discovered_changes_at(
    store: &dyn Store,
    ci: &str,
    changes: &[DiscoveredChange],
    now: OffsetDateTime,
) -> Result<Vec<Flag>> {
    let mut batch = Batch::new();
    let staged = stage_discovered_changes(store, ci, changes, now, &mut batch, None)?;
    if !batch.is_empty() {
        store.commit(batch)?;
    }
    Ok(staged.committed())
}

/// The state and window of every change planned on one CI, read ahead of the evaluation: ingest reads
/// them before it takes the CMDB's lock to apply a report, so that reports covered by a change cost
/// that lock nothing. Evaluating against windows read a moment earlier is evaluating at that moment,
/// which is as valid as any: the discovered changes are dated before either.
pub struct PlannedWindows {
    ci: String,
    windows: Vec<ChangeWindow>,
}

impl PlannedWindows {
    pub fn read(store: &dyn Store, ci: &str) -> Result<Self> {
        Ok(Self {
            ci: ci.to_string(),
            windows: windows_on(store, ci)?,
        })
    }

    fn covers(&self, discovered: &DiscoveredChange) -> bool {
        self.windows
            .iter()
            .any(|change| window_covers(change, discovered.at))
    }
}

/// Flags staged into a caller's batch. The ITSM write lock is held until this is dropped: the caller
/// commits the batch first, so no other ITSM write reads the flag counter or the seen fingerprints
/// between the staging and the commit.
#[must_use = "commit the batch the flags were staged into, then call `committed`"]
pub struct StagedFlags {
    flags: Vec<Flag>,
    ci: String,
    _lock: Option<std::sync::MutexGuard<'static, ()>>,
}

impl StagedFlags {
    /// The flags raised, once the batch holding them is committed (logged; releases the lock).
    pub fn committed(self) -> Vec<Flag> {
        if !self.flags.is_empty() {
            tracing::info!(ci = %self.ci, n_flags = self.flags.len(), "unauthorized changes flagged");
        }
        self.flags
    }
}

/// Stages into `batch` a flag for each change in `changes` (all on `ci`) that no authorized change
/// covers and no earlier evaluation flagged. `planned` is the CI's change windows if already read
/// (they are read now otherwise). Nothing is staged when it fails, and the ITSM write lock is taken
/// only when some change is not covered. Ingest stages a report's flags into the report's own batch,
/// so the report and its flags are committed together.
pub fn stage_discovered_changes(
    store: &dyn Store,
    ci: &str,
    changes: &[DiscoveredChange],
    now: OffsetDateTime,
    batch: &mut Batch,
    planned: Option<PlannedWindows>,
) -> Result<StagedFlags> {
    if let Some(other) = changes.iter().find(|c| c.ci != ci) {
        return Err(ItsmError::Invalid {
            record: format!("discovered changes of {ci}"),
            message: format!(
                "one of them is on {}; evaluate each CI separately",
                other.ci
            ),
        });
    }
    let mut staged = StagedFlags {
        flags: Vec::new(),
        ci: ci.to_string(),
        _lock: None,
    };
    if changes.is_empty() {
        return Ok(staged);
    }
    // Every change listed in the windows has `ci` among its CIs (the CI index says so), as every
    // discovered change is on `ci`.
    let planned = match planned {
        Some(planned) if planned.ci == ci => planned,
        _ => PlannedWindows::read(store, ci)?,
    };
    let uncovered: Vec<&DiscoveredChange> = changes
        .iter()
        .filter(|discovered| !planned.covers(discovered))
        .collect();
    if uncovered.is_empty() {
        return Ok(staged);
    }
    staged._lock = Some(write_lock());
    let mut flag_writes = Batch::new();
    for discovered in uncovered {
        let print = fingerprint(discovered)?;
        if store.get(SPACE_FLAGGED, print.as_bytes())?.is_some()
            || staged.flags.iter().any(|flag| flag.change == *discovered)
        {
            continue;
        }
        let number = numbering::allocate_after(
            store,
            RecordKind::Flag,
            &mut flag_writes,
            staged.flags.len() as u64,
        )?;
        let flag = Flag {
            id: numbering::format_id(RecordKind::Flag, number),
            ci: ci.to_string(),
            change: discovered.clone(),
            status: FlagStatus::Open,
            detected_at: now,
            updated_at: now,
            acknowledged_by: None,
            acknowledged_at: None,
            note: None,
            linked_change: None,
            linked_by: None,
            linked_at: None,
        };
        stage(store, &mut flag_writes, None, &flag, DISCOVERY, now)?;
        flag_writes.put(
            SPACE_FLAGGED,
            print.into_bytes(),
            flag.id.clone().into_bytes(),
        );
        staged.flags.push(flag);
    }
    batch.extend(flag_writes);
    Ok(staged)
}

pub fn get_flag(store: &dyn Store, id: &str) -> Result<Flag> {
    record::load(store, id)
}

/// The field history of flag `id`, oldest first: its creation by discovery (rebuilt from the flag;
/// flags raised by earlier versions stored it), then what people did with it.
pub fn flag_history(store: &dyn Store, id: &str) -> Result<Vec<HistoryEntry>> {
    let flag = get_flag(store, id)?;
    let mut entries = history(store, id)?;
    if entries
        .first()
        .is_none_or(|entry| entry.field != CREATION_FIELD)
    {
        entries.insert(
            0,
            HistoryEntry {
                record: flag.id,
                at: flag.detected_at,
                actor: DISCOVERY.to_string(),
                field: CREATION_FIELD.to_string(),
                old: serde_json::Value::Null,
                new: serde_json::Value::from(CREATED),
            },
        );
    }
    Ok(entries)
}

/// Flags matching `filter`, newest first.
pub fn list_unauthorized(
    store: &dyn Store,
    filter: &FlagFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Flag>> {
    let narrow = match (&filter.ci, filter.status) {
        (Some(ci), _) => Some(record::Narrow::Ci(ci.clone())),
        (None, Some(status)) => Some(record::Narrow::State(status.key())),
        (None, None) => None,
    };
    record::list(store, cursor, limit, narrow, |f: &Flag| filter.matches(f))
}

/// A person has seen an open flag and says why it is fine (or what was done).
pub fn acknowledge(
    store: &dyn Store,
    id: &str,
    actor: &Actor,
    note: &str,
    now: OffsetDateTime,
) -> Result<Flag> {
    let note = super::required_text(id, "note", note, NOTE_MAX)?;
    record::modify(
        store,
        actor,
        id,
        "unauthorized.acknowledge",
        now,
        |flag: &mut Flag| {
            if flag.status != FlagStatus::Open {
                return Err(ItsmError::Invalid {
                    record: id.to_string(),
                    message: format!(
                        "only open flags can be acknowledged; this one is {}",
                        flag.status.key()
                    ),
                });
            }
            flag.status = FlagStatus::Acknowledged;
            flag.acknowledged_by = Some(actor.name.clone());
            flag.acknowledged_at = Some(now);
            flag.note = Some(note);
            Ok(None)
        },
    )
}

/// Links an open or acknowledged flag to the change that explains it.
pub fn link_to_change(
    store: &dyn Store,
    id: &str,
    change_id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Flag> {
    record::load::<Change>(store, change_id)?;
    record::modify(
        store,
        actor,
        id,
        "unauthorized.link_change",
        now,
        |flag: &mut Flag| {
            if flag.status == FlagStatus::Linked {
                return Err(ItsmError::Invalid {
                    record: id.to_string(),
                    message: format!(
                        "already linked to {}",
                        flag.linked_change.as_deref().unwrap_or("a change")
                    ),
                });
            }
            flag.status = FlagStatus::Linked;
            flag.linked_change = Some(change_id.to_string());
            flag.linked_by = Some(actor.name.clone());
            flag.linked_at = Some(now);
            Ok(Some(change_id.to_string()))
        },
    )
}

#[cfg(test)]
#[path = "unauthorized_tests.rs"]
mod tests;

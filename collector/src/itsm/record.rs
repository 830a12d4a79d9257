//! The storage core shared by every ITSM record kind.
//!
//! A record is a JSON value in its kind's space, keyed by its number (8 bytes big-endian, so key order is
//! creation order), stored without its empty (`null`) top-level fields: most of a new record's optional
//! fields are empty, and an unauthorized-change flag is raised for every unapproved package change
//! (a quarter of a flag's bytes were nulls). Reading puts them back: every such field is an `Option`
//! that defaults to `None`. Two small indexes hold no values, only keys:
//! - [`SPACE_BY_CI`]: `ci \0 PREFIX \0 number` for each CI the record is about;
//! - [`SPACE_BY_STATE`]: `PREFIX \0 state \0 number`.
//!
//! [`stage`] puts a record, its index changes and its history entries into one batch; [`create`] and
//! [`modify`] wrap that with the write lock, the audit entry and the commit, so each operation is one
//! atomic batch.

use super::numbering::{self, RecordKind};
use super::{Actor, ItsmError, MAX_PAGE, Page, Result, audit, history, write_lock};
use crate::store::{Batch, Store};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::ops::Bound;
use time::OffsetDateTime;

pub const SPACE_BY_CI: &str = "itsm_by_ci";
pub const SPACE_BY_STATE: &str = "itsm_by_state";

/// What the storage core needs from a record kind.
pub trait Record: Serialize + DeserializeOwned + Clone {
    const KIND: RecordKind;
    const SPACE: &'static str;
    fn id(&self) -> &str;
    fn cis(&self) -> &[String];
    /// The state as stored (snake_case), for the state index.
    fn state_key(&self) -> &'static str;
    fn set_updated_at(&mut self, at: OffsetDateTime);
    /// Stages what this kind keeps beside the record, under the record's `number` (a change's
    /// state and window: see `change::ChangeWindow`); nothing by default.
    fn stage_beside(&self, number: u64, batch: &mut Batch) {
        let _ = (number, batch);
    }
    /// Whether the history's creation entry is stored. A kind that says no rebuilds it from the
    /// record when its history is read (see `unauthorized::flag_history`).
    const STORES_CREATION_ENTRY: bool = true;
}

fn key(number: u64) -> [u8; 8] {
    number.to_be_bytes()
}

fn ci_index_key(ci: &str, kind: RecordKind, number: u64) -> Vec<u8> {
    let mut key = format!("{ci}\0{}\0", kind.prefix()).into_bytes();
    key.extend_from_slice(&number.to_be_bytes());
    key
}

fn state_index_key(kind: RecordKind, state: &str, number: u64) -> Vec<u8> {
    let mut key = format!("{}\0{state}\0", kind.prefix()).into_bytes();
    key.extend_from_slice(&number.to_be_bytes());
    key
}

fn corrupt(space: &str, key: &[u8], message: impl ToString) -> ItsmError {
    ItsmError::Corrupt {
        space: space.to_string(),
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.to_string(),
    }
}

fn decode<R: Record>(key: &[u8], bytes: &[u8]) -> Result<R> {
    serde_json::from_slice(bytes).map_err(|error| corrupt(R::SPACE, key, error))
}

fn number_from_suffix(space: &str, key: &[u8]) -> Result<u64> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(space, key, "index key too short"))
}

pub fn load_number<R: Record>(store: &dyn Store, number: u64) -> Result<Option<R>> {
    let key = key(number);
    match store.get(R::SPACE, &key)? {
        Some(bytes) => decode(&key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The record `id`; a clear error when the id is malformed, of another kind, or unknown.
pub fn load<R: Record>(store: &dyn Store, id: &str) -> Result<R> {
    let number = numbering::parse_kind(id, R::KIND)?;
    load_number(store, number)?.ok_or_else(|| ItsmError::NotFound {
        record: id.to_string(),
    })
}

/// The stored form of `record` (see the module doc): its JSON without the top-level `null` fields,
/// written from borrowed fields (a change may list thousands of CIs).
fn stored_bytes(record: &serde_json::Value) -> serde_json::Result<Vec<u8>> {
    match record {
        serde_json::Value::Object(fields) => serde_json::to_vec(
            &fields
                .iter()
                .filter(|(_, value)| !value.is_null())
                .collect::<std::collections::BTreeMap<_, _>>(),
        ),
        other => serde_json::to_vec(other),
    }
}

/// Puts `new` (replacing `old`) into `batch` with its index changes and history entries.
pub(crate) fn stage<R: Record>(
    store: &dyn Store,
    batch: &mut Batch,
    old: Option<&R>,
    new: &R,
    actor: &str,
    at: OffsetDateTime,
) -> Result<()> {
    let number = numbering::parse_kind(new.id(), R::KIND)?;
    let new_json =
        serde_json::to_value(new).map_err(|e| corrupt(R::SPACE, new.id().as_bytes(), e))?;
    let old_json = match old {
        Some(old) => {
            Some(serde_json::to_value(old).map_err(|e| corrupt(R::SPACE, old.id().as_bytes(), e))?)
        }
        None => None,
    };
    let bytes = stored_bytes(&new_json).map_err(|e| corrupt(R::SPACE, new.id().as_bytes(), e))?;
    batch.put(R::SPACE, key(number), bytes);
    new.stage_beside(number, batch);

    let old_cis: BTreeSet<&String> = old.map(|o| o.cis().iter().collect()).unwrap_or_default();
    let new_cis: BTreeSet<&String> = new.cis().iter().collect();
    for ci in old_cis.difference(&new_cis) {
        batch.delete(SPACE_BY_CI, ci_index_key(ci, R::KIND, number));
    }
    for ci in new_cis.difference(&old_cis) {
        batch.put(SPACE_BY_CI, ci_index_key(ci, R::KIND, number), Vec::new());
    }
    let old_state = old.map(Record::state_key);
    if old_state != Some(new.state_key()) {
        if let Some(old_state) = old_state {
            batch.delete(SPACE_BY_STATE, state_index_key(R::KIND, old_state, number));
        }
        batch.put(
            SPACE_BY_STATE,
            state_index_key(R::KIND, new.state_key(), number),
            Vec::new(),
        );
    }
    if old.is_none() && !R::STORES_CREATION_ENTRY {
        return Ok(());
    }
    let entries = history::diff(new.id(), old_json.as_ref(), &new_json, actor, at);
    history::append(store, batch, &entries)
}

/// Creates a record of kind `R`: `build` gets the new id. One batch: counter, record, history, audit.
pub(crate) fn create<R: Record>(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    now: OffsetDateTime,
    build: impl FnOnce(String) -> Result<R>,
) -> Result<R> {
    let _guard = write_lock();
    let mut batch = Batch::new();
    let number = numbering::allocate(store, R::KIND, &mut batch)?;
    let record = build(numbering::format_id(R::KIND, number))?;
    stage(store, &mut batch, None, &record, &actor.name, now)?;
    audit::append(store, &mut batch, actor, record.id(), action, None, now)?;
    store.commit(batch)?;
    Ok(record)
}

/// Loads `id`, lets `change` edit it (returning an audit detail), and writes it back in one batch.
pub(crate) fn modify<R: Record>(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    action: &str,
    now: OffsetDateTime,
    change: impl FnOnce(&mut R) -> Result<Option<String>>,
) -> Result<R> {
    let _guard = write_lock();
    let old: R = load(store, id)?;
    let mut new = old.clone();
    let detail = change(&mut new)?;
    new.set_updated_at(now);
    let mut batch = Batch::new();
    stage(store, &mut batch, Some(&old), &new, &actor.name, now)?;
    audit::append(store, &mut batch, actor, id, action, detail, now)?;
    store.commit(batch)?;
    Ok(new)
}

/// Like [`modify`] for a write that changes two records together (e.g. linking an incident to a
/// problem): both are loaded, edited by `change`, and written back in one batch with one audit entry
/// on the first.
pub(crate) fn modify_pair<A: Record, B: Record>(
    store: &dyn Store,
    actor: &Actor,
    (first_id, second_id): (&str, &str),
    action: &str,
    now: OffsetDateTime,
    change: impl FnOnce(&mut A, &mut B) -> Result<Option<String>>,
) -> Result<(A, B)> {
    let _guard = write_lock();
    let old_first: A = load(store, first_id)?;
    let old_second: B = load(store, second_id)?;
    let (mut first, mut second) = (old_first.clone(), old_second.clone());
    let detail = change(&mut first, &mut second)?;
    first.set_updated_at(now);
    second.set_updated_at(now);
    let mut batch = Batch::new();
    stage(
        store,
        &mut batch,
        Some(&old_first),
        &first,
        &actor.name,
        now,
    )?;
    stage(
        store,
        &mut batch,
        Some(&old_second),
        &second,
        &actor.name,
        now,
    )?;
    audit::append(store, &mut batch, actor, first_id, action, detail, now)?;
    store.commit(batch)?;
    Ok((first, second))
}

/// Numbers of the `R` records about `ci`, ascending.
pub fn numbers_for_ci<R: Record>(store: &dyn Store, ci: &str) -> Result<Vec<u64>> {
    let prefix = format!("{ci}\0{}\0", R::KIND.prefix());
    store
        .scan_prefix(SPACE_BY_CI, prefix.as_bytes())
        .map(|entry| number_from_suffix(SPACE_BY_CI, &entry?.0))
        .collect()
}

/// How many `R` records are in `state`, from the state index's keys (no record is read).
pub fn count_in_state<R: Record>(store: &dyn Store, state: &'static str) -> Result<u64> {
    let (space, prefix) = Narrow::State(state).prefix::<R>();
    let mut n = 0;
    for entry in store.scan_prefix(space, &prefix) {
        entry?;
        n += 1;
    }
    Ok(n)
}

/// The CIs with at least one `R` record in `state`, from the two indexes' keys alone (no record is
/// read: a fleet-wide report over hundreds of thousands of records stays small and fast).
pub fn cis_with_records_in_state<R: Record>(
    store: &dyn Store,
    state: &'static str,
) -> Result<BTreeSet<String>> {
    let (space, prefix) = Narrow::State(state).prefix::<R>();
    let mut numbers = std::collections::HashSet::new();
    for entry in store.scan_prefix(space, &prefix) {
        numbers.insert(number_from_suffix(space, &entry?.0)?);
    }
    let kind = format!("\0{}\0", R::KIND.prefix());
    let mut cis = BTreeSet::new();
    for entry in store.scan_prefix(SPACE_BY_CI, b"") {
        let (key, _) = entry?;
        // `ci \0 PREFIX \0 number`: this kind's entries, for the numbers in the state.
        let Some(split) = key.len().checked_sub(8 + kind.len()) else {
            continue;
        };
        if &key[split..split + kind.len()] == kind.as_bytes()
            && numbers.contains(&number_from_suffix(SPACE_BY_CI, &key)?)
        {
            cis.insert(String::from_utf8_lossy(&key[..split]).into_owned());
        }
    }
    Ok(cis)
}

/// Loads the records numbered `numbers`, skipping any that vanished.
pub fn load_all<R: Record>(store: &dyn Store, numbers: &[u64]) -> Result<Vec<R>> {
    let mut records = Vec::with_capacity(numbers.len());
    for &number in numbers {
        if let Some(record) = load_number(store, number)? {
            records.push(record);
        }
    }
    Ok(records)
}

/// Which index narrows a [`list`]: the records about one CI, or in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Narrow {
    Ci(String),
    State(&'static str),
}

impl Narrow {
    /// The index space and the key prefix of `R`'s entries in it.
    fn prefix<R: Record>(&self) -> (&'static str, Vec<u8>) {
        match self {
            Narrow::Ci(ci) => (
                SPACE_BY_CI,
                format!("{ci}\0{}\0", R::KIND.prefix()).into_bytes(),
            ),
            Narrow::State(state) => (
                SPACE_BY_STATE,
                format!("{}\0{state}\0", R::KIND.prefix()).into_bytes(),
            ),
        }
    }
}

/// A page of `R` records, newest first, strictly older than `cursor` (an id this list returned).
/// `narrow` walks an index instead of the whole space. Either way the walk starts at the cursor and
/// stops once the page is full, so every page costs the same however long the list (collecting the
/// whole index first made paging through 300,000 open flags quadratic: minutes).
pub fn list<R: Record>(
    store: &dyn Store,
    cursor: Option<&str>,
    limit: usize,
    narrow: Option<Narrow>,
    keep: impl Fn(&R) -> bool,
) -> Result<Page<R>> {
    let limit = limit.clamp(1, MAX_PAGE);
    let below = match cursor {
        Some(cursor) => Some(numbering::parse_kind(cursor, R::KIND)?),
        None => None,
    };
    let mut items: Vec<R> = Vec::new();
    let mut next_cursor = None;
    let mut visit = |record: R| -> bool {
        if !keep(&record) {
            return true;
        }
        if items.len() == limit {
            next_cursor = items.last().map(|last| last.id().to_string());
            return false;
        }
        items.push(record);
        true
    };
    match narrow {
        Some(narrow) => {
            let (space, prefix) = narrow.prefix::<R>();
            let upper = match below {
                Some(below) => {
                    let mut key = prefix.clone();
                    key.extend_from_slice(&below.to_be_bytes());
                    Bound::Excluded(key)
                }
                None => crate::store::prefix_successor(&prefix)
                    .map_or(Bound::Unbounded, Bound::Excluded),
            };
            for entry in store.range(space, Bound::Included(prefix), upper, true) {
                let number = number_from_suffix(space, &entry?.0)?;
                if let Some(record) = load_number::<R>(store, number)?
                    && !visit(record)
                {
                    break;
                }
            }
        }
        None => {
            let upper = below.map_or(Bound::Unbounded, |b| Bound::Excluded(key(b).to_vec()));
            for entry in store.range(R::SPACE, Bound::Unbounded, upper, true) {
                let (key, value) = entry?;
                if !visit(decode(&key, &value)?) {
                    break;
                }
            }
        }
    }
    Ok(Page { items, next_cursor })
}

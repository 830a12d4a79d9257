//! History records: one per change to a CI, newest first on read.
//!
//! A record is lz4-compressed JSON of [`Record`]: the visible [`HistoryEntry`] plus what time travel
//! needs to step back over it (the reverse inventory delta and the managed fields before a manual
//! edit). A report that changed only what history ignores (filesystem usage) still gets a record,
//! hidden from listings, so that time travel stays exact.
//!
//! Layout: the record under its number (u64 BE) in `cmdb_records`, and an empty value under
//! `ci (u64 BE), record (u64 BE)` in `cmdb_history` to find a CI's records. Record numbers grow across
//! the whole CMDB, so every record is written at the end of its space, which a B-tree engine keeps
//! packed; keyed by CI, records landed in the middle of the tree and left every leaf they split half
//! empty (redb: ~1.6 bytes of pages per byte of history; 1.2 appended). Records written before this
//! layout sit in `cmdb_history` itself (a non-empty value) and are read there.

use super::history::Change;
use super::model::{CiNum, ManagedFields, Source, ci_id};
use super::{CmdbError, SPACE_HISTORY, SPACE_RECORDS};
use crate::store::{Batch, Store};
use census_shared::delta::Delta;
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Created,
    Changed,
    ManualEdit,
    Merged,
    Split,
    StatusChanged,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Created => "created",
            EntryKind::Changed => "changed",
            EntryKind::ManualEdit => "manual_edit",
            EntryKind::Merged => "merged",
            EntryKind::Split => "split",
            EntryKind::StatusChanged => "status_changed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Position in the CI's history (increasing with time across the whole CMDB).
    pub record: u64,
    pub ci: String,
    pub at: String,
    pub kind: EntryKind,
    pub source: Source,
    /// Agent id or person.
    pub by: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub entry: HistoryEntry,
    /// Turns the inventory after this record into the one before it; `None` when the inventory did not
    /// change (a manual edit) or did not exist before (creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse: Option<Delta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_before: Option<ManagedFields>,
}

/// Which entries [`super::Cmdb::history`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryFilter {
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, inclusive.
    pub until: Option<String>,
    /// Change kinds (`package_upgraded`) or entry kinds (`manual_edit`); empty means all.
    pub kinds: Vec<String>,
}

pub(crate) fn key(ci: CiNum, record: u64) -> Vec<u8> {
    let mut key = ci.to_be_bytes().to_vec();
    key.extend_from_slice(&record.to_be_bytes());
    key
}

/// Stages `record` (numbered `number`) of `ci` into `batch`.
pub(crate) fn stage(batch: &mut Batch, ci: CiNum, number: u64, record: &Record) {
    batch.put(SPACE_RECORDS, number.to_be_bytes().to_vec(), encode(record));
    batch.put(SPACE_HISTORY, key(ci, number), Vec::new());
}

/// Record `number` of `ci`, `None` when the CI has no such record.
pub(crate) fn read(store: &dyn Store, ci: CiNum, number: u64) -> Result<Option<Record>, CmdbError> {
    match store.get(SPACE_HISTORY, &key(ci, number))? {
        Some(value) => resolve(store, ci, number, &value).map(Some),
        None => Ok(None),
    }
}

/// The record an entry of `cmdb_history` stands for: in `cmdb_records`, or inline (older layout).
fn resolve(store: &dyn Store, ci: CiNum, number: u64, value: &[u8]) -> Result<Record, CmdbError> {
    if !value.is_empty() {
        return decode(value, ci);
    }
    let bytes = store
        .get(SPACE_RECORDS, &number.to_be_bytes())?
        .ok_or_else(|| CmdbError::Corrupt {
            what: "history record",
            key: ci_id(ci),
            message: format!("record {number} is indexed but missing"),
        })?;
    decode(&bytes, ci)
}

fn record_number(key: &[u8], ci: CiNum) -> Result<u64, CmdbError> {
    key.get(8..16)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| CmdbError::Corrupt {
            what: "history key",
            key: ci_id(ci),
            message: format!("{} is not a CI and a record number", hex::encode(key)),
        })
}

fn encode(record: &Record) -> Vec<u8> {
    // Our own plain structs always serialise.
    lz4_flex::compress_prepend_size(&serde_json::to_vec(record).unwrap_or_default())
}

fn decode(bytes: &[u8], ci: CiNum) -> Result<Record, CmdbError> {
    let corrupt = |message: String| CmdbError::Corrupt {
        what: "history record",
        key: ci_id(ci),
        message,
    };
    let json = lz4_flex::decompress_size_prepended(bytes).map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
}

pub fn parse_time(value: &str) -> Result<OffsetDateTime, CmdbError> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| CmdbError::Timestamp(value.to_string()))
}

/// Records of `ci` with a record number below `before`, newest first.
pub(crate) fn newest_first(
    store: &dyn Store,
    ci: CiNum,
    before: Option<u64>,
) -> impl Iterator<Item = Result<Record, CmdbError>> + '_ {
    let from = Bound::Included(key(ci, 0));
    let to = Bound::Excluded(key(ci, before.unwrap_or(u64::MAX)));
    store
        .range(SPACE_HISTORY, from, to, true)
        .map(move |entry| {
            let (key, value) = entry?;
            resolve(store, ci, record_number(&key, ci)?, &value)
        })
}

fn matches(
    entry: &HistoryEntry,
    filter: &HistoryFilter,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
) -> Result<bool, CmdbError> {
    if entry.kind == EntryKind::Changed && entry.changes.is_empty() {
        return Ok(false);
    }
    let at = parse_time(&entry.at)?;
    if since.is_some_and(|since| at < since) || until.is_some_and(|until| at > until) {
        return Ok(false);
    }
    Ok(filter.kinds.is_empty()
        || filter.kinds.iter().any(|kind| {
            kind == entry.kind.as_str() || entry.changes.iter().any(|c| c.kind() == kind)
        }))
}

/// Entries of `ci` matching `filter`, newest first, at most `limit`, starting below `cursor` (the
/// `next_cursor` of the previous page); returns the page and the cursor of the next one.
pub(crate) fn list(
    store: &dyn Store,
    ci: CiNum,
    filter: &HistoryFilter,
    limit: usize,
    cursor: Option<u64>,
) -> Result<(Vec<HistoryEntry>, Option<u64>), CmdbError> {
    let since = filter.since.as_deref().map(parse_time).transpose()?;
    let until = filter.until.as_deref().map(parse_time).transpose()?;
    let mut page = Vec::new();
    for record in newest_first(store, ci, cursor) {
        let record = record?;
        if since.is_some_and(|since| parse_time(&record.entry.at).is_ok_and(|at| at < since)) {
            break;
        }
        if !matches(&record.entry, filter, since, until)? {
            continue;
        }
        if page.len() == limit {
            let next = page.last().map(|entry: &HistoryEntry| entry.record);
            return Ok((page, next));
        }
        page.push(record.entry);
    }
    Ok((page, None))
}

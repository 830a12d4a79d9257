//! The field history of every ITSM record: who changed which field when, old value → new value.
//!
//! Entries are computed, not written by hand: [`diff`] compares the record's JSON before and after a
//! write, field by field, so no operation can forget to record a change. For list fields (affected CIs,
//! notes, linked incidents) the entry carries what was removed as `old` and what was added as `new`,
//! not the whole lists. Bookkeeping fields (`updated_at`, `state_changes`) are left out: the state field
//! itself and the timestamps it sets already say what happened.
//!
//! Key: record id, `/`, then a 20-digit store-wide sequence number, so one record's entries are
//! contiguous and in write order.

use super::{ItsmError, Result};
use crate::store::{Batch, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

pub const SPACE_HISTORY: &str = "itsm_history";

/// The field of a record's creation entry, and its new value.
pub const CREATION_FIELD: &str = "record";
pub const CREATED: &str = "created";

/// Fields whose changes are not history entries (see the module doc).
const UNTRACKED: &[&str] = &["updated_at", "state_changes"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub record: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// A field name, or `record` for the creation entry.
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// One entry per changed field between `old` and `new` (two JSON objects); creation when `old` is None.
pub fn diff(
    record: &str,
    old: Option<&Value>,
    new: &Value,
    actor: &str,
    at: OffsetDateTime,
) -> Vec<HistoryEntry> {
    let entry = |field: &str, old: Value, new: Value| HistoryEntry {
        record: record.to_string(),
        at,
        actor: actor.to_string(),
        field: field.to_string(),
        old,
        new,
    };
    let Some(old) = old else {
        return vec![entry(CREATION_FIELD, Value::Null, Value::from(CREATED))];
    };
    let empty = serde_json::Map::new();
    let old_fields = old.as_object().unwrap_or(&empty);
    let new_fields = new.as_object().unwrap_or(&empty);
    let mut names: Vec<&String> = old_fields.keys().chain(new_fields.keys()).collect();
    names.sort();
    names.dedup();
    let mut entries = Vec::new();
    for name in names {
        if UNTRACKED.contains(&name.as_str()) {
            continue;
        }
        let before = old_fields.get(name).unwrap_or(&Value::Null);
        let after = new_fields.get(name).unwrap_or(&Value::Null);
        if before == after {
            continue;
        }
        match (before, after) {
            (Value::Array(before), Value::Array(after)) => {
                let removed: Vec<Value> = before
                    .iter()
                    .filter(|item| !after.contains(item))
                    .cloned()
                    .collect();
                let added: Vec<Value> = after
                    .iter()
                    .filter(|item| !before.contains(item))
                    .cloned()
                    .collect();
                entries.push(entry(name, Value::Array(removed), Value::Array(added)));
            }
            _ => entries.push(entry(name, before.clone(), after.clone())),
        }
    }
    entries
}

/// Adds `entries` to `batch`.
pub(crate) fn append(store: &dyn Store, batch: &mut Batch, entries: &[HistoryEntry]) -> Result<()> {
    for entry in entries {
        let key = format!("{}/{:020}", entry.record, store.generate_id()?);
        let value = serde_json::to_vec(entry).map_err(|error| ItsmError::Corrupt {
            space: SPACE_HISTORY.to_string(),
            key: key.clone(),
            message: error.to_string(),
        })?;
        batch.put(SPACE_HISTORY, key, value);
    }
    Ok(())
}

/// Every history entry of `record`, oldest first.
pub fn history(store: &dyn Store, record: &str) -> Result<Vec<HistoryEntry>> {
    let prefix = format!("{record}/");
    store
        .scan_prefix(SPACE_HISTORY, prefix.as_bytes())
        .map(|entry| {
            let (key, value) = entry?;
            serde_json::from_slice(&value).map_err(|error| ItsmError::Corrupt {
                space: SPACE_HISTORY.to_string(),
                key: String::from_utf8_lossy(&key).into_owned(),
                message: error.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn diff_reports_changed_scalars_and_list_additions_and_removals() {
        let at = datetime!(2026-01-02 03:04:05 UTC);
        let old = json!({"title": "a", "state": "new", "cis": ["ci-1", "ci-2"], "updated_at": "x"});
        let new = json!({"title": "a", "state": "in_progress", "cis": ["ci-2", "ci-3"], "updated_at": "y", "assignee": "bob"});
        let entries = diff("INC-000001", Some(&old), &new, "alice", at);
        let summary: Vec<(String, Value, Value)> = entries
            .into_iter()
            .map(|e| (e.field, e.old, e.new))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("assignee".into(), Value::Null, json!("bob")),
                ("cis".into(), json!(["ci-1"]), json!(["ci-3"])),
                ("state".into(), json!("new"), json!("in_progress")),
            ]
        );
    }

    #[test]
    fn creation_is_one_entry() {
        let at = datetime!(2026-01-02 03:04:05 UTC);
        let entries = diff("CHG-000001", None, &json!({"title": "x"}), "alice", at);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].field, "record");
        assert_eq!(entries[0].new, json!("created"));
    }
}

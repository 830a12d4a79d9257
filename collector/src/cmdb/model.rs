//! The configuration item (CI) as the CMDB stores and shows it.
//!
//! A CI is split in two records (see `docs/cmdb-storage.md`): the small [`CiHeader`] (status, dates,
//! agents, identity explanation, managed fields), rewritten on every report, and the inventory body,
//! rewritten only when the inventory changes. [`Asset`] joins them for callers.
//!
//! Discovery owns the inventory; people (or imports) own the [`ManagedFields`]. Every attribute carries
//! its [`Provenance`]: who set it and when.

use crate::cmdb::reconcile::{Identifiers, Rule};
use census_shared::inventory::Inventory;
use serde::{Deserialize, Serialize};

/// A CI's number; shown as [`ci_id`] (`ci-000123`). Allocated from a counter, never reused.
pub type CiNum = u64;

/// The readable id of CI number `num`.
pub fn ci_id(num: CiNum) -> String {
    format!("ci-{num:06}")
}

/// The number of a readable CI id, or `None` when `id` is not of the form `ci-<digits>`.
pub fn parse_ci_id(id: &str) -> Option<CiNum> {
    let digits = id.strip_prefix("ci-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lifecycle status. Discovery only ever moves `stale` back to `in_use`; every other status is a
/// person's decision and is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InUse,
    InStock,
    InRepair,
    Retired,
    /// No report for longer than the stale threshold (see `assets::mark_stale`).
    Stale,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::InUse,
        Status::InStock,
        Status::InRepair,
        Status::Retired,
        Status::Stale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::InUse => "in_use",
            Status::InStock => "in_stock",
            Status::InRepair => "in_repair",
            Status::Retired => "retired",
            Status::Stale => "stale",
        }
    }

    /// Parses the snake_case name, for query filters and HTTP parameters.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An agent's report.
    Agent,
    /// A person through the API or UI.
    Person,
    /// A bulk import.
    Import,
}

/// Who set a value, and when (RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub source: Source,
    /// The agent id, user name or import name.
    pub by: String,
    pub at: String,
}

/// A value with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributed<T> {
    pub value: T,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// Fields people manage; discovery never writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagedFields {
    pub asset_tag: Option<Attributed<String>>,
    pub owner: Option<Attributed<String>>,
    pub location: Option<Attributed<String>>,
    pub cost_center: Option<Attributed<String>>,
    pub notes: Option<Attributed<String>>,
}

impl ManagedFields {
    /// The fields by name, for diffing and display.
    pub fn fields(&self) -> [(&'static str, Option<&str>); 5] {
        fn value(field: &Option<Attributed<String>>) -> Option<&str> {
            field.as_ref().map(|a| a.value.as_str())
        }
        [
            ("asset_tag", value(&self.asset_tag)),
            ("owner", value(&self.owner)),
            ("location", value(&self.location)),
            ("cost_center", value(&self.cost_center)),
            ("notes", value(&self.notes)),
        ]
    }
}

/// An edit of managed fields: `None` leaves a field alone, `Some(None)` clears it, `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManagedFieldsPatch {
    pub asset_tag: Option<Option<String>>,
    pub owner: Option<Option<String>>,
    pub location: Option<Option<String>>,
    pub cost_center: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    /// A lifecycle decision (`in_stock`, `in_repair`, `retired` ...).
    pub status: Option<Status>,
}

/// Who edits: a person or an import, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub source: Source,
    pub name: String,
}

impl Actor {
    pub fn person(name: impl Into<String>) -> Self {
        Self {
            source: Source::Person,
            name: name.into(),
        }
    }
}

/// One agent that feeds (or fed) the CI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiAgent {
    pub agent_id: String,
    pub attached_at: String,
    pub last_seen: String,
}

/// Why the CI is the one it is: the rule that matched, with the values, when the last agent was attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityExplanation {
    /// `None` when the CI was created (nothing matched) or split off by a person.
    pub rule: Option<Rule>,
    /// The evidence the rule matched on (`("system.serial", "ABC123")`).
    pub values: Vec<(String, String)>,
    /// Supporting evidence (disk serials shared with the CI) and notes such as a refused clone match.
    pub notes: Vec<String>,
    pub agent_id: String,
    pub at: String,
}

/// Everything but the inventory: small, rewritten on every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiHeader {
    pub id: String,
    pub status: Attributed<Status>,
    pub first_seen: String,
    pub last_seen: String,
    pub agents: Vec<CiAgent>,
    pub identity: IdentityExplanation,
    pub managed: ManagedFields,
    /// Which agent last wrote the inventory, and when.
    pub inventory_provenance: Provenance,
    /// The identifying values of the current inventory, bogus values removed (reconciliation reads these
    /// instead of decoding inventories).
    pub identifiers: Identifiers,
    /// History records since the last time-travel checkpoint.
    pub records_since_checkpoint: u32,
}

/// A CI as callers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    #[serde(flatten)]
    pub header: CiHeader,
    pub inventory: Inventory,
}

/// A CI's state at a moment, as rebuilt by time travel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetState {
    pub inventory: Inventory,
    pub managed: ManagedFields,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_ids_are_readable_and_parse_back() {
        assert_eq!(ci_id(123), "ci-000123");
        assert_eq!(ci_id(12_345_678), "ci-12345678");
        assert_eq!(parse_ci_id("ci-000123"), Some(123));
        assert_eq!(parse_ci_id("ci-"), None);
        assert_eq!(parse_ci_id("ci-12a"), None);
        assert_eq!(parse_ci_id("agt-1"), None);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
        assert_eq!(Status::parse("broken"), None);
    }
}

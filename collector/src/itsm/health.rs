//! CMDB health: how complete, fresh, owned and trustworthy the configuration items are, as one
//! percentage per dimension with the CIs behind it, and one overall score (`docs/cmdb-health.md`).
//!
//! # Layout
//! - [`HealthTally`]: the pure part. It is fed one [`CiFacts`] at a time and keeps counts plus, per
//!   dimension, the first `drill_limit` CIs in id order; [`HealthTally::finish`] turns that into a
//!   [`HealthReport`]. Memory is bounded by `drill_limit`, not by the fleet.
//! - [`health_report`]: the I/O. It walks CI headers a page at a time, decodes one inventory at a
//!   time, asks the relationship index per CI, and takes the (small) sets of CIs with open identity
//!   conflicts and open unauthorized-change flags up front.
//!
//! Retired CIs are left out of every dimension: nobody expects them to report or be complete.
//!
//! Limitation: a report walks every CI (a few milliseconds per thousand CIs on the blocking pool);
//! nothing is cached between requests.

use super::relationship::{SPACE_RELATIONSHIPS, SPACE_RELATIONSHIPS_IN};
use super::unauthorized::{Flag, FlagStatus};
use super::{ItsmError, Result};
use crate::cmdb::Cmdb;
use crate::cmdb::model::{CiHeader, Status};
use crate::store::Store;
use census_shared::Inventory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The fields a complete CI has: (name in the report, what it is). Keep `docs/cmdb-health.md` in step.
pub const REQUIRED_FIELDS: [(&str, &str); 6] = [
    ("serial", "hardware serial number (discovered)"),
    ("hostname", "host name (discovered)"),
    ("os", "operating system name (discovered)"),
    ("memory", "installed memory size (discovered)"),
    ("owner", "owner (managed field, set by an asset manager)"),
    (
        "location",
        "location (managed field, set by an asset manager)",
    ),
];

/// CIs listed per dimension when the request does not say.
pub const DEFAULT_DRILL_LIMIT: usize = 50;

/// What the report needs to know about one CI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiFacts {
    pub id: String,
    pub hostname: Option<String>,
    pub status: Status,
    pub last_seen: Option<OffsetDateTime>,
    /// Names from [`REQUIRED_FIELDS`] that have no value.
    pub missing: Vec<&'static str>,
    pub has_owner: bool,
    pub has_relationship: bool,
    pub open_conflict: bool,
    pub open_unauthorized: bool,
}

impl CiFacts {
    /// The facts of a CI from its header and inventory; the other flags start false.
    pub fn from_asset(header: &CiHeader, inventory: &Inventory) -> Self {
        let managed = |field: &Option<crate::cmdb::model::Attributed<String>>| {
            field.as_ref().is_some_and(|a| !a.value.trim().is_empty())
        };
        let has_text =
            |value: &Option<String>| value.as_ref().is_some_and(|v| !v.trim().is_empty());
        let os = &inventory.os;
        let present = [
            has_text(&inventory.hardware.system.serial),
            has_text(&inventory.host.hostname),
            has_text(&os.pretty_name) || has_text(&os.name),
            inventory
                .hardware
                .memory
                .total_bytes
                .is_some_and(|bytes| bytes > 0),
            managed(&header.managed.owner),
            managed(&header.managed.location),
        ];
        let missing = REQUIRED_FIELDS
            .iter()
            .zip(present)
            .filter(|(_, present)| !present)
            .map(|((name, _), _)| *name)
            .collect();
        Self {
            id: header.id.clone(),
            hostname: inventory.host.hostname.clone(),
            status: header.status.value,
            last_seen: OffsetDateTime::parse(&header.last_seen, &Rfc3339).ok(),
            missing,
            has_owner: managed(&header.managed.owner),
            has_relationship: false,
            open_conflict: false,
            open_unauthorized: false,
        }
    }
}

/// One CI in a drill-down list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiRef {
    pub id: String,
    pub hostname: Option<String>,
    /// For completeness: the required fields it lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// One dimension: how many CIs are affected, as a share of all counted CIs, and which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// CIs with the problem (for completeness: CIs *without* it, i.e. complete ones).
    pub count: u64,
    /// `count` as a percentage of `total_cis`, one decimal; 100 for completeness of an empty CMDB, 0
    /// for the others.
    pub percent: f64,
    /// The first CIs concerned, by id (for completeness: the incomplete ones).
    pub cis: Vec<CiRef>,
    /// True when more CIs are concerned than `cis` lists.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// CIs counted: every CI except retired ones.
    pub total_cis: u64,
    /// Seconds without a report after which a CI counts as stale.
    pub stale_after_seconds: u64,
    /// 0–100, higher is better; see [`overall_score`].
    pub score: f64,
    /// Complete CIs (every [`REQUIRED_FIELDS`] entry present); `cis` lists incomplete ones.
    pub completeness: Dimension,
    /// Per required field: how many counted CIs lack it.
    pub missing_fields: Vec<FieldGap>,
    pub staleness: Dimension,
    pub orphans: Dimension,
    pub conflicts: Dimension,
    pub unauthorized_changes: Dimension,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldGap {
    pub field: String,
    pub missing: u64,
}

/// The overall score: the mean of completeness and the four "healthy" shares
/// (100 − stale %, 100 − orphan %, 100 − conflict %, 100 − unauthorized %), one decimal.
pub fn overall_score(
    complete: f64,
    stale: f64,
    orphans: f64,
    conflicts: f64,
    unauthorized: f64,
) -> f64 {
    let healthy = [
        complete,
        100.0 - stale,
        100.0 - orphans,
        100.0 - conflicts,
        100.0 - unauthorized,
    ];
    round1(healthy.iter().sum::<f64>() / healthy.len() as f64)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[derive(Debug, Default)]
struct Bucket {
    count: u64,
    cis: Vec<CiRef>,
}

impl Bucket {
    fn add(&mut self, facts: &CiFacts, limit: usize, missing: bool) {
        self.count += 1;
        if self.cis.len() < limit {
            self.cis.push(CiRef {
                id: facts.id.clone(),
                hostname: facts.hostname.clone(),
                missing: if missing {
                    facts.missing.iter().map(|name| name.to_string()).collect()
                } else {
                    Vec::new()
                },
            });
        }
    }

    fn finish(self, total: u64, count: u64, empty_percent: f64) -> Dimension {
        let percent = if total == 0 {
            empty_percent
        } else {
            round1(count as f64 * 100.0 / total as f64)
        };
        Dimension {
            truncated: self.count > self.cis.len() as u64,
            count,
            percent,
            cis: self.cis,
        }
    }
}

/// The running tally of a health report; feed CIs in id order with [`HealthTally::add`].
#[derive(Debug)]
pub struct HealthTally {
    now: OffsetDateTime,
    stale_after: time::Duration,
    drill_limit: usize,
    total: u64,
    incomplete: Bucket,
    missing: [u64; REQUIRED_FIELDS.len()],
    stale: Bucket,
    orphans: Bucket,
    conflicts: Bucket,
    unauthorized: Bucket,
}

impl HealthTally {
    pub fn new(now: OffsetDateTime, stale_after: std::time::Duration, drill_limit: usize) -> Self {
        Self {
            now,
            stale_after: time::Duration::try_from(stale_after).unwrap_or(time::Duration::MAX),
            drill_limit,
            total: 0,
            incomplete: Bucket::default(),
            missing: [0; REQUIRED_FIELDS.len()],
            stale: Bucket::default(),
            orphans: Bucket::default(),
            conflicts: Bucket::default(),
            unauthorized: Bucket::default(),
        }
    }

    /// Counts one CI (retired ones are skipped).
    pub fn add(&mut self, facts: &CiFacts) {
        if facts.status == Status::Retired {
            return;
        }
        self.total += 1;
        let limit = self.drill_limit;
        if !facts.missing.is_empty() {
            self.incomplete.add(facts, limit, true);
            for (index, (name, _)) in REQUIRED_FIELDS.iter().enumerate() {
                if facts.missing.contains(name) {
                    self.missing[index] += 1;
                }
            }
        }
        // Marked stale, or not seen for the period yet (the marking runs periodically). A CI with no
        // readable last-seen time has never been seen as far as anyone can tell.
        let overdue = facts
            .last_seen
            .is_none_or(|seen| self.now - seen > self.stale_after);
        if facts.status == Status::Stale || overdue {
            self.stale.add(facts, limit, false);
        }
        if !facts.has_owner && !facts.has_relationship {
            self.orphans.add(facts, limit, false);
        }
        if facts.open_conflict {
            self.conflicts.add(facts, limit, false);
        }
        if facts.open_unauthorized {
            self.unauthorized.add(facts, limit, false);
        }
    }

    pub fn finish(self) -> HealthReport {
        let total = self.total;
        let complete_count = total - self.incomplete.count;
        let completeness = self.incomplete.finish(total, complete_count, 100.0);
        let staleness = {
            let count = self.stale.count;
            self.stale.finish(total, count, 0.0)
        };
        let orphans = {
            let count = self.orphans.count;
            self.orphans.finish(total, count, 0.0)
        };
        let conflicts = {
            let count = self.conflicts.count;
            self.conflicts.finish(total, count, 0.0)
        };
        let unauthorized_changes = {
            let count = self.unauthorized.count;
            self.unauthorized.finish(total, count, 0.0)
        };
        let score = overall_score(
            completeness.percent,
            staleness.percent,
            orphans.percent,
            conflicts.percent,
            unauthorized_changes.percent,
        );
        HealthReport {
            generated_at: self.now,
            total_cis: total,
            stale_after_seconds: u64::try_from(self.stale_after.whole_seconds())
                .unwrap_or(u64::MAX),
            score,
            missing_fields: REQUIRED_FIELDS
                .iter()
                .zip(self.missing)
                .map(|((field, _), missing)| FieldGap {
                    field: field.to_string(),
                    missing,
                })
                .collect(),
            completeness,
            staleness,
            orphans,
            conflicts,
            unauthorized_changes,
        }
    }
}

/// The health report over the whole CMDB, one CI at a time.
pub fn health_report(
    cmdb: &Cmdb,
    store: &dyn Store,
    now: OffsetDateTime,
    stale_after: std::time::Duration,
    drill_limit: usize,
) -> Result<HealthReport> {
    let directory = |error: crate::cmdb::CmdbError| ItsmError::Directory(error.to_string());
    let conflicted: BTreeSet<String> = cmdb
        .list_conflicts(false)
        .map_err(directory)?
        .into_iter()
        .flat_map(|conflict| conflict.candidates)
        .collect();
    let flagged = cis_with_open_flags(store)?;
    let mut tally = HealthTally::new(now, stale_after, drill_limit);
    /// What stops the pass: the CMDB's reading, or this module's own lookups.
    enum Stop {
        Cmdb(crate::cmdb::CmdbError),
        Itsm(ItsmError),
    }
    impl From<crate::cmdb::CmdbError> for Stop {
        fn from(error: crate::cmdb::CmdbError) -> Self {
            Stop::Cmdb(error)
        }
    }
    // No fact here needs a package list.
    let pass = cmdb.for_each_without_packages(|header, inventory| {
        let mut facts = CiFacts::from_asset(&header, &inventory);
        facts.has_relationship = has_relationship(store, &facts.id).map_err(Stop::Itsm)?;
        facts.open_conflict = conflicted.contains(&facts.id);
        facts.open_unauthorized = flagged.contains(&facts.id);
        tally.add(&facts);
        Ok::<(), Stop>(())
    });
    match pass {
        Ok(()) => Ok(tally.finish()),
        Err(Stop::Cmdb(error)) => Err(directory(error)),
        Err(Stop::Itsm(error)) => Err(error),
    }
}

fn has_relationship(store: &dyn Store, ci: &str) -> Result<bool> {
    let prefix = format!("{ci}\0");
    for space in [SPACE_RELATIONSHIPS, SPACE_RELATIONSHIPS_IN] {
        if let Some(entry) = store.scan_prefix(space, prefix.as_bytes()).next() {
            entry?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// CIs with at least one open (unacknowledged, unlinked) unauthorized-change flag.
fn cis_with_open_flags(store: &dyn Store) -> Result<BTreeSet<String>> {
    super::record::cis_with_records_in_state::<Flag>(store, FlagStatus::Open.key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-27 12:00 UTC);
    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    /// A complete, owned, fresh CI; tests change what they look at.
    fn healthy(n: u32) -> CiFacts {
        CiFacts {
            id: format!("ci-{n:06}"),
            hostname: Some(format!("host-{n}")),
            status: Status::InUse,
            last_seen: Some(NOW - time::Duration::hours(1)),
            missing: Vec::new(),
            has_owner: true,
            has_relationship: false,
            open_conflict: false,
            open_unauthorized: false,
        }
    }

    fn report(cis: &[CiFacts], drill_limit: usize) -> HealthReport {
        let mut tally = HealthTally::new(NOW, WEEK, drill_limit);
        for ci in cis {
            tally.add(ci);
        }
        tally.finish()
    }

    fn ids(dimension: &Dimension) -> Vec<&str> {
        dimension.cis.iter().map(|ci| ci.id.as_str()).collect()
    }

    #[test]
    fn each_dimension_counts_its_cis_and_the_score_is_their_mean() {
        let mut cis: Vec<CiFacts> = (1..=10).map(healthy).collect();
        cis[0].missing = vec!["serial", "owner"];
        cis[0].has_owner = false; // and no relationship: an orphan too
        cis[1].status = Status::Stale;
        cis[2].last_seen = Some(NOW - time::Duration::days(8)); // overdue, not yet marked
        cis[3].has_owner = false;
        cis[3].has_relationship = true; // not an orphan: something depends on it
        cis[4].open_conflict = true;
        cis[5].open_unauthorized = true;
        cis[6].status = Status::Retired; // left out everywhere
        cis[6].missing = vec!["memory"];
        cis[7].last_seen = None;

        let report = report(&cis, 50);
        assert_eq!(report.total_cis, 9);
        assert_eq!(report.completeness.count, 8);
        assert_eq!(report.completeness.percent, 88.9);
        assert_eq!(ids(&report.completeness), ["ci-000001"]);
        assert_eq!(report.completeness.cis[0].missing, ["serial", "owner"]);
        assert_eq!(
            ids(&report.staleness),
            ["ci-000002", "ci-000003", "ci-000008"]
        );
        assert_eq!(report.staleness.percent, 33.3);
        assert_eq!(ids(&report.orphans), ["ci-000001"]);
        assert_eq!(ids(&report.conflicts), ["ci-000005"]);
        assert_eq!(ids(&report.unauthorized_changes), ["ci-000006"]);
        assert_eq!(report.unauthorized_changes.percent, 11.1);
        let gaps: Vec<(&str, u64)> = report
            .missing_fields
            .iter()
            .map(|gap| (gap.field.as_str(), gap.missing))
            .collect();
        assert_eq!(
            gaps,
            [
                ("serial", 1),
                ("hostname", 0),
                ("os", 0),
                ("memory", 0),
                ("owner", 1),
                ("location", 0)
            ]
        );
        // (88.9 + 66.7 + 88.9 + 88.9 + 88.9) / 5
        assert_eq!(report.score, 84.5);
        assert_eq!(report.stale_after_seconds, WEEK.as_secs());
    }

    #[test]
    fn drill_down_lists_stop_at_the_limit_and_say_so() {
        let cis: Vec<CiFacts> = (1..=5)
            .map(|n| CiFacts {
                open_conflict: true,
                ..healthy(n)
            })
            .collect();
        let report = report(&cis, 2);
        assert_eq!(report.conflicts.count, 5);
        assert_eq!(report.conflicts.percent, 100.0);
        assert_eq!(ids(&report.conflicts), ["ci-000001", "ci-000002"]);
        assert!(report.conflicts.truncated);
        assert!(!report.orphans.truncated);
    }

    #[test]
    fn an_empty_cmdb_is_complete_and_healthy() {
        let report = report(&[], 10);
        assert_eq!(report.total_cis, 0);
        assert_eq!(report.completeness.percent, 100.0);
        assert_eq!(report.staleness.percent, 0.0);
        assert_eq!(report.score, 100.0);
    }

    #[test]
    fn facts_come_from_the_inventory_and_the_managed_fields() {
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some("db-01".into());
        inventory.hardware.system.serial = Some("  ".into());
        inventory.os.name = Some("Debian GNU/Linux".into());
        inventory.hardware.memory.total_bytes = Some(8 << 30);
        let header: CiHeader = serde_json::from_value(serde_json::json!({
            "id": "ci-000042",
            "status": {"value": "in_use", "source": "agent", "by": "agt-1", "at": "2026-11-27T11:00:00Z"},
            "first_seen": "2026-11-01T00:00:00Z",
            "last_seen": "2026-11-27T11:00:00Z",
            "agents": [],
            "identity": {"rule": null, "values": [], "notes": [], "agent_id": "agt-1", "at": "2026-11-01T00:00:00Z"},
            "managed": {"owner": {"value": "dba team", "source": "person", "by": "alice", "at": "2026-11-02T00:00:00Z"}},
            "inventory_provenance": {"source": "agent", "by": "agt-1", "at": "2026-11-27T11:00:00Z"},
            "identifiers": {},
            "records_since_checkpoint": 0
        }))
        .unwrap();
        let facts = CiFacts::from_asset(&header, &inventory);
        assert_eq!(
            facts.missing,
            ["serial", "location"],
            "a blank serial is no serial"
        );
        assert!(facts.has_owner);
        assert_eq!(facts.last_seen, Some(datetime!(2026-11-27 11:00 UTC)));
        assert_eq!(facts.hostname.as_deref(), Some("db-01"));
    }
}

//! What ITSM needs to know about CIs, without depending on the CMDB's code.
//!
//! [`CiDirectory`] is implemented over the CMDB by the collector's wiring; [`MemoryCiDirectory`] is a
//! plain in-memory implementation for tests (here and in the API's tests).

use super::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// CI facts the ITSM layer reads.
pub trait CiDirectory: Send + Sync {
    fn exists(&self, ci: &str) -> Result<bool>;
    /// Changes discovery saw on `ci` with `since <= at < until`, oldest first.
    fn discovered_changes(
        &self,
        ci: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<DiscoveredChange>>;
    fn summary(&self, ci: &str) -> Result<Option<CiSummary>>;
    /// The name people know `ci` by (its hostname), for lists that show it beside the id; an
    /// implementation should answer it without reading the whole inventory.
    fn name(&self, ci: &str) -> Result<Option<String>> {
        Ok(self.summary(ci)?.and_then(|summary| summary.name))
    }
}

/// The names of the CIs in `ids` that have one, for display beside their ids.
pub fn ci_names<'a>(
    directory: &dyn CiDirectory,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<BTreeMap<String, String>> {
    let mut names = BTreeMap::new();
    for ci in ids {
        if !names.contains_key(ci)
            && let Some(name) = directory.name(ci)?
        {
            names.insert(ci.clone(), name);
        }
    }
    Ok(names)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveredChangeKind {
    PackageInstalled,
    PackageUpgraded,
    /// A package moved to an older version (a rollback is a change too).
    PackageDowngraded,
    PackageRemoved,
    HardwareChanged,
    OsUpgraded,
    /// Any other change discovery reports (a new disk, a renamed host...).
    Other,
}

/// One change discovery saw on a CI between two inventories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredChange {
    pub ci: String,
    /// When the change was observed (the inventory's collection time).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: DiscoveredChangeKind,
    /// What changed: a package name, `memory`, `os`, a device.
    pub subject: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The hardware and OS summary shown beside a CI in the incident context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiSummary {
    pub ci: String,
    pub name: Option<String>,
    pub os: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub disk_bytes: Option<u64>,
}

/// A [`CiDirectory`] held in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryCiDirectory {
    pub cis: BTreeMap<String, Option<CiSummary>>,
    pub changes: Vec<DiscoveredChange>,
}

impl MemoryCiDirectory {
    /// A directory knowing `cis`, without summaries or changes.
    pub fn with_cis<'a>(cis: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            cis: cis.into_iter().map(|ci| (ci.to_string(), None)).collect(),
            changes: Vec::new(),
        }
    }
}

impl CiDirectory for MemoryCiDirectory {
    fn exists(&self, ci: &str) -> Result<bool> {
        Ok(self.cis.contains_key(ci))
    }

    fn discovered_changes(
        &self,
        ci: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<DiscoveredChange>> {
        let mut found: Vec<DiscoveredChange> = self
            .changes
            .iter()
            .filter(|change| change.ci == ci && change.at >= since && change.at < until)
            .cloned()
            .collect();
        found.sort_by_key(|change| change.at);
        Ok(found)
    }

    fn summary(&self, ci: &str) -> Result<Option<CiSummary>> {
        Ok(self.cis.get(ci).cloned().flatten())
    }
}

//! [`CiDirectory`] over the CMDB, and the unauthorized-change check of each applied report.
//!
//! - `exists`: the CI has a header in the CMDB.
//! - `summary`: the hardware and OS summary of the CI's current (latest) inventory.
//! - `discovered_changes`: the CI's history entries written by discovery (agent reports) in the window,
//!   mapped by [`discovered`] to the ITSM kinds: packages installed / upgraded / downgraded / removed,
//!   hardware changed (disks, memory, CPU, PCI devices), OS upgraded (id, version, kernel), hostname as
//!   `other`. IP and MAC churn (DHCP, hot-plugged NICs) and people's edits are not discovered changes.
//!
//! [`stage_report_flags`] evaluates the changes a report records, before the report's batch is
//! committed, and stages the flags they raise into that batch: the report and its flags are committed
//! together (ingest), so a crash cannot keep one without the other. Evaluation is idempotent: a
//! discovered change evaluated again flags nothing twice.
//!
//! Limitation: history pages are read 500 at a time; a window holding many thousands of entries is slow.

use super::unauthorized::{PlannedWindows, StagedFlags, stage_discovered_changes};
use super::{CiDirectory, CiSummary, DiscoveredChange, DiscoveredChangeKind, ItsmError, Result};
use crate::cmdb::history::Change;
use crate::cmdb::journal::{EntryKind, HistoryFilter, parse_time};
use crate::cmdb::model::{Source, parse_ci_id};
use crate::cmdb::{Cmdb, CmdbError};
use crate::secret::rfc3339;
use crate::store::{Batch, Store};
use census_shared::inventory::Inventory;
use std::sync::Arc;
use time::OffsetDateTime;

const HISTORY_PAGE: usize = 500;

/// The CMDB seen as a [`CiDirectory`].
#[derive(Clone)]
pub struct CmdbDirectory {
    cmdb: Arc<Cmdb>,
}

impl CmdbDirectory {
    pub fn new(cmdb: Arc<Cmdb>) -> Self {
        Self { cmdb }
    }
}

fn directory_error(error: CmdbError) -> ItsmError {
    match error {
        CmdbError::Store(store) => ItsmError::Store(store),
        other => ItsmError::Directory(other.to_string()),
    }
}

impl CiDirectory for CmdbDirectory {
    fn exists(&self, ci: &str) -> Result<bool> {
        match parse_ci_id(ci) {
            Some(number) => Ok(self.cmdb.header(number).map_err(directory_error)?.is_some()),
            None => Ok(false),
        }
    }

    fn discovered_changes(
        &self,
        ci: &str,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<DiscoveredChange>> {
        if !self.exists(ci)? {
            return Ok(Vec::new());
        }
        let filter = HistoryFilter {
            since: Some(rfc3339(since)),
            until: Some(rfc3339(until)),
            kinds: Vec::new(),
        };
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let (entries, next) = self
                .cmdb
                .history(ci, &filter, HISTORY_PAGE, cursor)
                .map_err(directory_error)?;
            for entry in entries {
                if entry.kind != EntryKind::Changed || entry.source != Source::Agent {
                    continue;
                }
                let at = parse_time(&entry.at).map_err(directory_error)?;
                if at < since || at >= until {
                    continue;
                }
                found.extend(entry.changes.iter().filter_map(|c| discovered(ci, at, c)));
            }
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        // History reads newest first; the trait promises oldest first (stable within one entry).
        found.sort_by_key(|change| change.at);
        Ok(found)
    }

    fn summary(&self, ci: &str) -> Result<Option<CiSummary>> {
        let asset = self.cmdb.get_asset(ci).map_err(directory_error)?;
        Ok(asset.map(|asset| summarize(ci, &asset.inventory)))
    }

    fn name(&self, ci: &str) -> Result<Option<String>> {
        self.cmdb.ci_hostname(ci).map_err(directory_error)
    }
}

/// The summary shown beside a CI, from its inventory.
pub fn summarize(ci: &str, inventory: &Inventory) -> CiSummary {
    let hardware = &inventory.hardware;
    let disk_sizes: Vec<u64> = hardware.disks.iter().filter_map(|d| d.size_bytes).collect();
    CiSummary {
        ci: ci.to_string(),
        name: inventory
            .host
            .hostname
            .clone()
            .or_else(|| inventory.host.fqdn.clone()),
        os: inventory
            .os
            .pretty_name
            .clone()
            .or_else(|| inventory.os.name.clone()),
        vendor: hardware.system.vendor.clone(),
        model: hardware.system.product.clone(),
        serial: hardware.system.serial.clone(),
        cpu_model: hardware.cpu.model.clone(),
        cpu_cores: hardware.cpu.physical_cores.or(hardware.cpu.logical_cpus),
        memory_bytes: hardware.memory.total_bytes,
        disk_bytes: (!disk_sizes.is_empty()).then(|| disk_sizes.iter().sum()),
    }
}

fn package_subject(name: &str, arch: &Option<String>) -> String {
    match arch {
        Some(arch) => format!("{name}:{arch}"),
        None => name.to_string(),
    }
}

/// The ITSM view of one CMDB component change seen at `at`; `None` for changes that are not
/// configuration work (IP / MAC churn, people's edits, status moves).
pub fn discovered(ci: &str, at: OffsetDateTime, change: &Change) -> Option<DiscoveredChange> {
    use DiscoveredChangeKind as Kind;
    let (kind, subject, old, new) = match change {
        Change::PackageAdded {
            name,
            arch,
            version,
            ..
        } => (
            Kind::PackageInstalled,
            package_subject(name, arch),
            None,
            Some(version.clone()),
        ),
        Change::PackageRemoved {
            name,
            arch,
            version,
            ..
        } => (
            Kind::PackageRemoved,
            package_subject(name, arch),
            Some(version.clone()),
            None,
        ),
        Change::PackageUpgraded {
            name,
            arch,
            from,
            to,
            ..
        }
        | Change::PackageDowngraded {
            name,
            arch,
            from,
            to,
            ..
        }
        | Change::PackageChanged {
            name,
            arch,
            from,
            to,
            ..
        } => {
            let kind = match change {
                Change::PackageUpgraded { .. } => Kind::PackageUpgraded,
                Change::PackageDowngraded { .. } => Kind::PackageDowngraded,
                _ => Kind::Other,
            };
            (
                kind,
                package_subject(name, arch),
                Some(from.clone()),
                Some(to.clone()),
            )
        }
        Change::DiskAdded { name, model, .. } => (
            Kind::HardwareChanged,
            format!("disk {name}"),
            None,
            model.clone().or_else(|| Some(name.clone())),
        ),
        Change::DiskRemoved { name, model, .. } => (
            Kind::HardwareChanged,
            format!("disk {name}"),
            model.clone().or_else(|| Some(name.clone())),
            None,
        ),
        Change::MemoryModuleAdded {
            slot, size_bytes, ..
        } => (
            Kind::HardwareChanged,
            format!("memory module {slot}"),
            None,
            size_bytes.map(|b| b.to_string()),
        ),
        Change::MemoryModuleRemoved {
            slot, size_bytes, ..
        } => (
            Kind::HardwareChanged,
            format!("memory module {slot}"),
            size_bytes.map(|b| b.to_string()),
            None,
        ),
        Change::MemoryTotalChanged { from, to } => (
            Kind::HardwareChanged,
            "memory".to_string(),
            from.map(|b| b.to_string()),
            to.map(|b| b.to_string()),
        ),
        Change::CpuChanged { from, to } => (
            Kind::HardwareChanged,
            "cpu".to_string(),
            from.clone(),
            to.clone(),
        ),
        Change::PciDeviceAdded { slot, device, .. } => (
            Kind::HardwareChanged,
            format!("pci {slot}"),
            None,
            device.clone(),
        ),
        Change::PciDeviceRemoved { slot, device, .. } => (
            Kind::HardwareChanged,
            format!("pci {slot}"),
            device.clone(),
            None,
        ),
        Change::OsChanged { field, from, to } => {
            (Kind::OsUpgraded, field.clone(), from.clone(), to.clone())
        }
        Change::HostnameChanged { from, to } => (
            Kind::Other,
            "hostname".to_string(),
            from.clone(),
            to.clone(),
        ),
        Change::MacAdded { .. }
        | Change::MacRemoved { .. }
        | Change::IpAdded { .. }
        | Change::IpRemoved { .. }
        | Change::ManagedFieldChanged { .. }
        | Change::StatusChanged { .. }
        | Change::AgentAttached { .. } => return None,
    };
    Some(DiscoveredChange {
        ci: ci.to_string(),
        at,
        kind,
        subject,
        old,
        new,
    })
}

/// Stages into `batch` (the report's own, not yet committed) a flag for each of the `changes` a report
/// records on `ci` at `applied_at` (the `now` given to ingest, RFC 3339) that no authorized change
/// covers, against `planned` when the CI's change windows were read ahead; the returned
/// [`StagedFlags`] holds the ITSM write lock, when flags were staged, until the caller has committed
/// the batch.
pub fn stage_report_flags(
    store: &dyn Store,
    ci: &str,
    applied_at: &str,
    changes: &[Change],
    batch: &mut Batch,
    planned: Option<PlannedWindows>,
) -> Result<StagedFlags> {
    let at = parse_time(applied_at).map_err(directory_error)?;
    let discovered: Vec<DiscoveredChange> = changes
        .iter()
        .filter_map(|change| discovered(ci, at, change))
        .collect();
    stage_discovered_changes(
        store,
        ci,
        &discovered,
        OffsetDateTime::now_utc(),
        batch,
        planned,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdb::CmdbConfig;
    use crate::cmdb::patched::ReportInventory;
    use crate::itsm::unauthorized::{Flag, FlagFilter, list_unauthorized};
    use crate::store::memory::MemoryStore;
    use census_shared::inventory::{Disk, Package, SCHEMA_VERSION};
    use time::macros::datetime;

    fn machine(openssl: &str) -> Inventory {
        let mut inventory = Inventory::default();
        inventory.schema_version = SCHEMA_VERSION;
        inventory.collected_at = "2026-11-26T12:00:00Z".into();
        inventory.host.hostname = Some("db-01".into());
        inventory.hardware.system.vendor = Some("Dell Inc.".into());
        inventory.hardware.system.product = Some("PowerEdge R650".into());
        inventory.hardware.system.serial = Some("SN-42".into());
        inventory.hardware.cpu.model = Some("Xeon Gold 6338".into());
        inventory.hardware.cpu.physical_cores = Some(32);
        inventory.hardware.memory.total_bytes = Some(64 << 30);
        inventory.hardware.disks = vec![Disk {
            name: "sda".into(),
            serial: Some("D1".into()),
            size_bytes: Some(480 << 30),
            ..Disk::default()
        }];
        inventory.software.packages = vec![Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: openssl.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        }];
        inventory.canonicalize();
        inventory
    }

    #[test]
    fn component_changes_map_to_itsm_kinds_and_network_churn_is_left_out() {
        let at = datetime!(2026-11-26 12:00:00 UTC);
        let upgraded = Change::PackageUpgraded {
            manager: "dpkg".into(),
            name: "openssl".into(),
            arch: Some("amd64".into()),
            from: "3.0.2".into(),
            to: "3.0.13".into(),
        };
        let mapped = discovered("ci-000001", at, &upgraded).unwrap();
        assert_eq!(mapped.kind, DiscoveredChangeKind::PackageUpgraded);
        assert_eq!(mapped.subject, "openssl:amd64");
        assert_eq!(
            (mapped.old.as_deref(), mapped.new.as_deref()),
            (Some("3.0.2"), Some("3.0.13"))
        );
        let downgraded = Change::PackageDowngraded {
            manager: "dpkg".into(),
            name: "curl".into(),
            arch: None,
            from: "8".into(),
            to: "7".into(),
        };
        assert_eq!(
            discovered("ci-000001", at, &downgraded).unwrap().kind,
            DiscoveredChangeKind::PackageDowngraded
        );
        let memory = Change::MemoryTotalChanged {
            from: Some(1),
            to: Some(2),
        };
        assert_eq!(
            discovered("ci-000001", at, &memory).unwrap().kind,
            DiscoveredChangeKind::HardwareChanged
        );
        let kernel = Change::OsChanged {
            field: "os.kernel".into(),
            from: Some("6.1".into()),
            to: Some("6.8".into()),
        };
        assert_eq!(
            discovered("ci-000001", at, &kernel).unwrap().kind,
            DiscoveredChangeKind::OsUpgraded
        );
        let ip = Change::IpAdded {
            interface: "eth0".into(),
            address: "10.0.0.9".into(),
        };
        assert_eq!(discovered("ci-000001", at, &ip), None);
    }

    #[test]
    fn the_cmdb_directory_reads_summaries_and_history_and_flags_a_report() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let cmdb = Arc::new(Cmdb::open(Arc::clone(&store), CmdbConfig::default()).unwrap());
        let first = "2026-11-26T12:00:00Z";
        let second = "2026-11-26T13:00:00Z";
        let outcome = cmdb
            .apply_report(Batch::new(), "agt-1", &machine("3.0.2"), true, first)
            .unwrap();
        let ci = outcome.ci().unwrap().to_string();
        let upgrade = machine("3.0.13");
        let (_, changes) = cmdb
            .apply_report_with(
                Batch::new(),
                "agt-1",
                ReportInventory::Full(&upgrade),
                true,
                second,
                |_, changes, _| changes.to_vec(),
            )
            .unwrap();
        let changes = changes.expect("a CI took the report");

        let directory = CmdbDirectory::new(Arc::clone(&cmdb));
        assert!(directory.exists(&ci).unwrap());
        assert!(!directory.exists("ci-999999").unwrap());
        assert!(!directory.exists("not-a-ci").unwrap());
        let summary = directory.summary(&ci).unwrap().unwrap();
        assert_eq!(summary.name.as_deref(), Some("db-01"));
        assert_eq!(summary.model.as_deref(), Some("PowerEdge R650"));
        assert_eq!(summary.cpu_cores, Some(32));
        assert_eq!(summary.memory_bytes, Some(64 << 30));
        assert_eq!(summary.disk_bytes, Some(480 << 30));

        let all = directory
            .discovered_changes(
                &ci,
                datetime!(2026-11-26 00:00:00 UTC),
                datetime!(2026-11-27 00:00:00 UTC),
            )
            .unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].kind, DiscoveredChangeKind::PackageUpgraded);
        assert_eq!(all[0].at, datetime!(2026-11-26 13:00:00 UTC));
        let before = directory
            .discovered_changes(
                &ci,
                datetime!(2026-11-26 00:00:00 UTC),
                datetime!(2026-11-26 13:00:00 UTC),
            )
            .unwrap();
        assert!(before.is_empty(), "{before:?}");

        // The changes the staging hook is given are the ones the report's history record holds.
        let (mut newest, _) = cmdb
            .history(&ci, &HistoryFilter::default(), 1, None)
            .unwrap();
        assert_eq!(changes, newest.remove(0).changes);
        // Stages the flags `changes` raise at `at`, commits them, returns them.
        let flag = |at: &str| -> Result<Vec<Flag>> {
            let mut batch = Batch::new();
            let staged = stage_report_flags(store.as_ref(), &ci, at, &changes, &mut batch, None)?;
            store.commit(batch).unwrap();
            Ok(staged.committed())
        };
        let flags = flag(second).unwrap();
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].change.subject, "openssl:amd64");
        let again = flag(second).unwrap();
        assert!(again.is_empty(), "a replay must not flag twice");
        let listed = list_unauthorized(store.as_ref(), &FlagFilter::default(), None, 10).unwrap();
        assert_eq!(listed.items.len(), 1);
        let error = flag("yesterday").unwrap_err();
        assert!(error.to_string().contains("RFC 3339"), "{error}");
    }
}

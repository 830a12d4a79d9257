//! Scenario tests of the CMDB through the real report path: `Ingest::report` on a sled database in a
//! temporary directory, exactly as the server runs it.
//!
//! This file holds the harness and fixtures; [`identity`] the reconciliation scenarios, [`timeline`]
//! history and time travel, [`feed`] events, managed fields, indexes and concurrency; [`flags`] the unauthorized-change flags a
//! report raises.

mod feed;
mod flags;
mod identity;
mod known;
mod timeline;

use crate::cmdb::history::tests::dotted;
use crate::cmdb::*;
use crate::ingest::{Ingest, IngestOutcome};
use crate::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Disk, Interface, Inventory, IpAddress, Package, SCHEMA_VERSION};
use census_shared::protocol::{ReportBody, ReportHeader};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Minute `n` of the test day, RFC 3339.
pub(super) fn t(n: u32) -> String {
    format!("2026-11-26T{:02}:{:02}:00Z", 8 + n / 60, n % 60)
}

pub(super) struct Harness {
    pub(super) cmdb: Arc<Cmdb>,
    pub(super) ingest: Ingest,
    pub(super) seqs: HashMap<String, u64>,
}

impl Harness {
    pub(super) fn open(path: &Path, config: CmdbConfig) -> Self {
        // A test that drops a harness and reopens its database may find sled's own threads still
        // holding the file lock for a moment after the last handle went.
        let mut attempts = 0;
        let store = loop {
            match SledStore::open(path) {
                Err(crate::store::StoreError::Locked { .. }) if attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened.unwrap(),
            }
        };
        Self::over(Arc::new(store), config)
    }

    pub(super) fn over(store: Arc<dyn crate::store::Store>, config: CmdbConfig) -> Self {
        let cmdb = Arc::new(Cmdb::open(store.clone(), config).unwrap());
        let ingest = Ingest::with_cmdb(store, cmdb.clone());
        Self {
            cmdb,
            ingest,
            seqs: HashMap::new(),
        }
    }

    pub(super) fn new(dir: &tempfile::TempDir) -> Self {
        Self::open(&dir.path().join("db"), config())
    }

    pub(super) fn report(
        &mut self,
        agent: &str,
        inventory: &Inventory,
        now: &str,
    ) -> IngestOutcome {
        let seq = self.seqs.entry(agent.to_string()).or_insert(0);
        *seq += 1;
        let mut inventory = inventory.clone();
        inventory.collected_at = now.to_string();
        inventory.canonicalize();
        let header = ReportHeader {
            epoch: 1,
            seq: *seq,
            report_id: format!("{agent}-{seq}"),
            hash: content_hash(&inventory),
            collected_at: now.to_string(),
        };
        let body = ReportBody::Full {
            inventory: Box::new(inventory),
        };
        self.ingest.report(agent, &header, body, now).unwrap()
    }

    /// Reports and returns the CI the agent now feeds.
    pub(super) fn ci(&mut self, agent: &str, inventory: &Inventory, now: &str) -> String {
        let outcome = self.report(agent, inventory, now);
        outcome
            .ci
            .as_ref()
            .and_then(|ci| ci.ci())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no CI: {outcome:?}"))
    }

    pub(super) fn n_cis(&self) -> usize {
        self.cmdb
            .list_assets(&ListFilter::default(), 1000)
            .unwrap()
            .assets
            .len()
    }

    pub(super) fn n_open_conflicts(&self) -> usize {
        self.cmdb.list_conflicts(false).unwrap().len()
    }

    pub(super) fn history_kinds(&self, ci: &str) -> Vec<String> {
        let (entries, _) = self
            .cmdb
            .history(ci, &HistoryFilter::default(), 100, None)
            .unwrap();
        entries
            .iter()
            .flat_map(|e| e.changes.iter().map(|c| c.kind().to_string()))
            .collect()
    }
}

pub(super) fn config() -> CmdbConfig {
    CmdbConfig {
        version_compare: dotted,
        checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
    }
}

pub(super) fn nic(name: &str, mac: &str, ip: &str) -> Interface {
    Interface {
        name: name.into(),
        mac: Some(mac.into()),
        kind: Some("ethernet".into()),
        addresses: vec![IpAddress {
            address: ip.into(),
            prefix_len: 24,
            family: "inet".into(),
        }],
        ..Interface::default()
    }
}

/// A physical server; `None` leaves an identifier unknown.
pub(super) fn server(
    hostname: &str,
    serial: Option<&str>,
    uuid: Option<&str>,
    machine_id: &str,
    mac: &str,
) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = t(0);
    inventory.host.hostname = Some(hostname.into());
    inventory.host.machine_id = Some(machine_id.into());
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.product = Some("PowerEdge R650".into());
    inventory.hardware.system.serial = serial.map(str::to_string);
    inventory.hardware.system.uuid = uuid.map(str::to_string);
    inventory.hardware.memory.total_bytes = Some(64 << 30);
    inventory.hardware.disks = vec![Disk {
        name: "sda".into(),
        serial: Some(format!("DISK-{hostname}")),
        ..Disk::default()
    }];
    inventory.network.interfaces = vec![nic("eno1", mac, "10.0.0.10")];
    inventory.os.id = Some("debian".into());
    inventory.os.version = Some("12".into());
    inventory.software.packages =
        packages(&[("openssl", "3.0.2"), ("curl", "7.88"), ("vim", "9.0")]);
    inventory
}

pub(super) fn packages(list: &[(&str, &str)]) -> Vec<Package> {
    list.iter()
        .map(|(name, version)| Package {
            manager: "dpkg".into(),
            name: name.to_string(),
            version: version.to_string(),
            arch: Some("amd64".into()),
            ..Package::default()
        })
        .collect()
}

pub(super) const UUID_A: &str = "4c4c4544-0047-3310-8051-b3c04f4b3131";
pub(super) const UUID_B: &str = "4c4c4544-0047-3310-8051-b3c04f4b3132";

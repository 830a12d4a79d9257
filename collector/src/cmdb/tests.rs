//! Scenario tests of the CMDB through the real report path: `Ingest::report` on a sled database in a
//! temporary directory, exactly as the server runs it.

use super::history::tests::dotted;
use super::index::Lookup;
use super::model::{Actor, ManagedFieldsPatch, Status};
use super::reconcile::Rule;
use super::*;
use crate::ingest::{Ingest, IngestOutcome};
use crate::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Disk, Interface, Inventory, IpAddress, Package, SCHEMA_VERSION};
use census_shared::protocol::{ReportBody, ReportHeader};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Minute `n` of the test day, RFC 3339.
fn t(n: u32) -> String {
    format!("2026-11-26T{:02}:{:02}:00Z", 8 + n / 60, n % 60)
}

struct Harness {
    cmdb: Arc<Cmdb>,
    ingest: Ingest,
    seqs: HashMap<String, u64>,
}

impl Harness {
    fn open(path: &Path, config: CmdbConfig) -> Self {
        let store: Arc<dyn crate::store::Store> = Arc::new(SledStore::open(path).unwrap());
        let cmdb = Arc::new(Cmdb::open(store.clone(), config).unwrap());
        let ingest = Ingest::with_cmdb(store, cmdb.clone());
        Self {
            cmdb,
            ingest,
            seqs: HashMap::new(),
        }
    }

    fn new(dir: &tempfile::TempDir) -> Self {
        Self::open(&dir.path().join("db"), config())
    }

    fn report(&mut self, agent: &str, inventory: &Inventory, now: &str) -> IngestOutcome {
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
    fn ci(&mut self, agent: &str, inventory: &Inventory, now: &str) -> String {
        let outcome = self.report(agent, inventory, now);
        outcome
            .ci
            .as_ref()
            .and_then(|ci| ci.ci())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no CI: {outcome:?}"))
    }

    fn n_cis(&self) -> usize {
        self.cmdb
            .list_assets(&ListFilter::default(), 1000)
            .unwrap()
            .assets
            .len()
    }

    fn n_open_conflicts(&self) -> usize {
        self.cmdb.list_conflicts(false).unwrap().len()
    }

    fn history_kinds(&self, ci: &str) -> Vec<String> {
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

fn config() -> CmdbConfig {
    CmdbConfig {
        version_compare: dotted,
        checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
    }
}

fn nic(name: &str, mac: &str, ip: &str) -> Interface {
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
fn server(
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

fn packages(list: &[(&str, &str)]) -> Vec<Package> {
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

const UUID_A: &str = "4c4c4544-0047-3310-8051-b3c04f4b3131";
const UUID_B: &str = "4c4c4544-0047-3310-8051-b3c04f4b3132";

#[test]
fn a_reinstalled_machine_keeps_its_ci_and_lists_both_agents() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let before = server(
        "web-01",
        Some("7XK9LM2"),
        Some(UUID_A),
        "aaaa0001",
        "3c:ec:ef:00:00:01",
    );
    let first = h.report("agt-old", &before, &t(0));
    assert!(
        matches!(first.ci, Some(CiOutcome::Created { .. })),
        "{first:?}"
    );
    let after = server(
        "web-01",
        Some("7XK9LM2"),
        Some(UUID_A),
        "bbbb0002",
        "3c:ec:ef:00:00:01",
    );
    let second = h.report("agt-new", &after, &t(1));
    let Some(CiOutcome::Attached { ci, rule }) = second.ci else {
        panic!("{second:?}")
    };
    assert_eq!(rule, Rule::VendorSerial);
    assert_eq!(h.n_cis(), 1);
    assert_eq!(h.n_open_conflicts(), 0);
    let asset = h.cmdb.get_asset(&ci).unwrap().unwrap();
    let agents: Vec<&str> = asset
        .header
        .agents
        .iter()
        .map(|a| a.agent_id.as_str())
        .collect();
    assert_eq!(agents, ["agt-old", "agt-new"]);
    assert_eq!(asset.header.identity.rule, Some(Rule::VendorSerial));
    assert!(
        asset
            .header
            .identity
            .values
            .contains(&("system.serial".into(), "7XK9LM2".into()))
    );
    assert_eq!(
        h.cmdb.ci_of_agent("agt-new").unwrap().as_deref(),
        Some(ci.as_str())
    );
}

#[test]
fn vm_clones_sharing_machine_id_and_hostname_stay_two_cis() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let original = server("tmpl", None, Some(UUID_A), "cafe0001", "52:54:00:00:00:01");
    let clone = server("tmpl", None, Some(UUID_B), "cafe0001", "52:54:00:00:00:02");
    let a = h.ci("agt-a", &original, &t(0));
    let b = h.ci("agt-b", &clone, &t(1));
    assert_ne!(a, b);
    assert_eq!(h.n_cis(), 2);
    assert_eq!(h.n_open_conflicts(), 0);
    let notes = h.cmdb.get_asset(&b).unwrap().unwrap().header.identity.notes;
    assert!(notes.iter().any(|n| n.contains("clone")), "{notes:?}");
}

#[test]
fn bogus_serials_and_uuids_never_merge_and_the_next_valid_rule_matches() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let bogus_serial = Some("To Be Filled By O.E.M.");
    let bogus_uuid = Some("03000200-0400-0500-0006-000700080009");
    let mut one = server(
        "node-1",
        bogus_serial,
        bogus_uuid,
        "1111aaaa",
        "3c:ec:ef:00:01:01",
    );
    one.hardware.baseboard.serial = Some("BOARD-0001".into());
    let mut two = server(
        "node-2",
        bogus_serial,
        bogus_uuid,
        "2222bbbb",
        "3c:ec:ef:00:01:02",
    );
    two.hardware.baseboard.serial = Some("BOARD-0002".into());
    let ci_one = h.ci("agt-1", &one, &t(0));
    let ci_two = h.ci("agt-2", &two, &t(1));
    assert_ne!(ci_one, ci_two);
    // Node 1 reinstalled: new agent, new machine-id; the board serial is the first valid evidence.
    one.host.machine_id = Some("3333cccc".into());
    let outcome = h.report("agt-1b", &one, &t(2));
    assert_eq!(
        outcome.ci,
        Some(CiOutcome::Attached {
            ci: ci_one.clone(),
            rule: Rule::BoardSerial
        })
    );
    assert_eq!(h.n_cis(), 2);
    assert_eq!(h.n_open_conflicts(), 0);
}

#[test]
fn a_nic_swap_keeps_the_ci_and_history_shows_the_nic_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let before = server(
        "db-01",
        Some("SRV-42"),
        Some(UUID_A),
        "dddd0001",
        "3c:ec:ef:00:00:aa",
    );
    let ci = h.ci("agt-1", &before, &t(0));
    let after = server(
        "db-01",
        Some("SRV-42"),
        Some(UUID_A),
        "eeee0002",
        "3c:ec:ef:00:00:bb",
    );
    assert_eq!(h.ci("agt-2", &after, &t(1)), ci);
    assert_eq!(h.n_cis(), 1);
    let kinds = h.history_kinds(&ci);
    assert!(
        kinds.contains(&"mac_removed".to_string()) && kinds.contains(&"mac_added".to_string()),
        "{kinds:?}"
    );
    assert_eq!(
        h.cmdb
            .lookup(&Lookup::Mac("3C:EC:EF:00:00:BB".into()))
            .unwrap(),
        std::slice::from_ref(&ci)
    );
    assert!(
        h.cmdb
            .lookup(&Lookup::Mac("3c:ec:ef:00:00:aa".into()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_renamed_machine_stays_one_ci_with_the_rename_in_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let before = server(
        "old-name",
        Some("SRV-7"),
        Some(UUID_A),
        "abcd0001",
        "3c:ec:ef:00:00:07",
    );
    let ci = h.ci("agt-1", &before, &t(0));
    let mut after = before.clone();
    after.host.hostname = Some("new-name".into());
    assert_eq!(h.ci("agt-1", &after, &t(1)), ci);
    assert_eq!(h.n_cis(), 1);
    let (entries, _) = h
        .cmdb
        .history(
            &ci,
            &HistoryFilter {
                kinds: vec!["hostname_changed".into()],
                ..Default::default()
            },
            10,
            None,
        )
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].changes,
        [history::Change::HostnameChanged {
            from: Some("old-name".into()),
            to: Some("new-name".into())
        }]
    );
    assert!(
        h.cmdb
            .lookup(&Lookup::Hostname("OLD-NAME".into()))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.cmdb
            .lookup(&Lookup::HostnamePrefix("new-".into()))
            .unwrap(),
        [ci]
    );
}

#[test]
fn a_disk_swap_shows_the_old_disk_removed_and_the_new_one_added() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let before = server(
        "fs-01",
        Some("SRV-9"),
        Some(UUID_A),
        "f00d0001",
        "3c:ec:ef:00:00:09",
    );
    let ci = h.ci("agt-1", &before, &t(0));
    let mut after = before.clone();
    after.hardware.disks[0].serial = Some("DISK-NEW".into());
    h.report("agt-1", &after, &t(1));
    let (entries, _) = h
        .cmdb
        .history(&ci, &HistoryFilter::default(), 10, None)
        .unwrap();
    assert_eq!(
        entries[0].changes,
        [
            history::Change::DiskRemoved {
                name: "sda".into(),
                serial: Some("DISK-fs-01".into()),
                model: None,
                size_bytes: None
            },
            history::Change::DiskAdded {
                name: "sda".into(),
                serial: Some("DISK-NEW".into()),
                model: None,
                size_bytes: None
            },
        ]
    );
    assert_eq!(entries[1].kind, EntryKind::Created);
}

/// Two CIs, then an agent whose serial names the first and whose machine-id and MAC name the second.
fn ambiguous_setup(h: &mut Harness, agent: &str, now: &str) -> (String, String, String) {
    let first = server(
        "alpha",
        Some("SRV-A"),
        None,
        "1234aaaa",
        "3c:ec:ef:00:00:0a",
    );
    let second = server("beta", None, None, "5678bbbb", "3c:ec:ef:00:00:0b");
    let a = h.ci("agt-alpha", &first, &t(0));
    let b = h.ci("agt-beta", &second, &t(1));
    let confused = server("beta", Some("SRV-A"), None, "5678bbbb", "3c:ec:ef:00:00:0b");
    let outcome = h.report(agent, &confused, now);
    let Some(CiOutcome::Conflict { conflict }) = outcome.ci else {
        panic!("{outcome:?}")
    };
    (a, b, conflict)
}

#[test]
fn ambiguous_evidence_opens_exactly_one_conflict_resolved_by_merge() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let (a, b, conflict) = ambiguous_setup(&mut h, "agt-x", &t(2));
    assert_eq!(h.n_cis(), 2);
    // The agent reports again while the conflict waits: still one conflict, still no CI.
    let confused = server("beta", Some("SRV-A"), None, "5678bbbb", "3c:ec:ef:00:00:0b");
    let again = h.report("agt-x", &confused, &t(3));
    assert_eq!(
        again.ci,
        Some(CiOutcome::Conflict {
            conflict: conflict.clone()
        })
    );
    let open = h.cmdb.list_conflicts(false).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].candidates, [a.clone(), b.clone()]);
    assert!(h.cmdb.ci_of_agent("agt-x").unwrap().is_none());

    let person = Actor::person("alice");
    let error = h
        .cmdb
        .resolve_conflict(
            &conflict,
            Resolution::Merge {
                into: "ci-000999".into(),
            },
            &person,
            &t(4),
        )
        .unwrap_err();
    assert!(matches!(error, CmdbError::NotACandidate { .. }), "{error}");
    let merged = h
        .cmdb
        .resolve_conflict(
            &conflict,
            Resolution::Merge { into: a.clone() },
            &person,
            &t(4),
        )
        .unwrap();
    assert_eq!(merged.header.id, a);
    assert!(
        merged
            .header
            .agents
            .iter()
            .any(|agent| agent.agent_id == "agt-x")
    );
    assert_eq!(h.n_cis(), 2);
    assert_eq!(h.n_open_conflicts(), 0);
    assert_eq!(h.cmdb.ci_of_agent("agt-x").unwrap(), Some(a.clone()));
    let error = h
        .cmdb
        .resolve_conflict(&conflict, Resolution::Split, &person, &t(5))
        .unwrap_err();
    assert!(matches!(error, CmdbError::ConflictResolved(_)), "{error}");
    let (events, _) = h.cmdb.events_since(0, 100).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.ci == a && matches!(e.kind, EventKind::Merged { .. }))
    );
    // Once attached, the agent's reports update its CI like any other.
    assert_eq!(h.ci("agt-x", &confused, &t(6)), a);
}

#[test]
fn ambiguous_evidence_resolved_by_split_gets_a_new_ci() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let (a, b, conflict) = ambiguous_setup(&mut h, "agt-y", &t(2));
    let split = h
        .cmdb
        .resolve_conflict(&conflict, Resolution::Split, &Actor::person("bob"), &t(3))
        .unwrap();
    assert!(split.header.id != a && split.header.id != b);
    assert_eq!(h.n_cis(), 3);
    assert_eq!(h.n_open_conflicts(), 0);
    assert_eq!(h.cmdb.list_conflicts(true).unwrap().len(), 1);
    assert!(split.header.identity.notes[0].contains("split by bob"));
    let (events, _) = h.cmdb.events_since(0, 100).unwrap();
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::Split { .. }
    ));
}

#[test]
fn package_history_tells_upgrades_downgrades_additions_and_removals_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let mut inventory = server(
        "app-01",
        Some("SRV-1"),
        Some(UUID_A),
        "0000aaaa",
        "3c:ec:ef:00:00:01",
    );
    let ci = h.ci("agt-1", &inventory, &t(0));
    let steps: [&[(&str, &str)]; 4] = [
        &[("openssl", "3.0.10"), ("curl", "7.88"), ("vim", "9.0")],
        &[("openssl", "3.0.10"), ("curl", "7.80"), ("vim", "9.0")],
        &[
            ("openssl", "3.0.10"),
            ("curl", "7.80"),
            ("vim", "9.0"),
            ("jq", "1.6"),
        ],
        &[("openssl", "3.0.10"), ("curl", "7.80"), ("jq", "1.6")],
    ];
    for (i, step) in steps.iter().enumerate() {
        inventory.software.packages = packages(step);
        h.report("agt-1", &inventory, &t(1 + i as u32));
    }
    assert_eq!(
        h.history_kinds(&ci),
        [
            "package_removed",
            "package_added",
            "package_downgraded",
            "package_upgraded"
        ]
    );
    let (upgrades, _) = h
        .cmdb
        .history(
            &ci,
            &HistoryFilter {
                kinds: vec!["package_upgraded".into()],
                ..Default::default()
            },
            10,
            None,
        )
        .unwrap();
    assert_eq!(
        upgrades[0].changes,
        [history::Change::PackageUpgraded {
            manager: "dpkg".into(),
            name: "openssl".into(),
            arch: Some("amd64".into()),
            from: "3.0.2".into(),
            to: "3.0.10".into()
        }]
    );
    // Pages of two, resumed from the cursor, cover the five entries once.
    let (page1, cursor) = h
        .cmdb
        .history(&ci, &HistoryFilter::default(), 2, None)
        .unwrap();
    let (page2, cursor) = h
        .cmdb
        .history(&ci, &HistoryFilter::default(), 2, cursor)
        .unwrap();
    let (page3, cursor) = h
        .cmdb
        .history(&ci, &HistoryFilter::default(), 2, cursor)
        .unwrap();
    assert_eq!(
        (page1.len(), page2.len(), page3.len(), cursor),
        (2, 2, 1, None)
    );
    assert_eq!(page3[0].kind, EntryKind::Created);
    let (window, _) = h
        .cmdb
        .history(
            &ci,
            &HistoryFilter {
                since: Some(t(2)),
                until: Some(t(3)),
                ..Default::default()
            },
            10,
            None,
        )
        .unwrap();
    assert_eq!(window.len(), 2);
    let error = h
        .cmdb
        .history(
            &ci,
            &HistoryFilter {
                since: Some("yesterday".into()),
                ..Default::default()
            },
            10,
            None,
        )
        .unwrap_err();
    assert!(matches!(error, CmdbError::Timestamp(_)), "{error}");
}

fn check_time_travel(checkpoint_every: u32) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::open(
        &dir.path().join("db"),
        CmdbConfig {
            version_compare: dotted,
            checkpoint_every,
        },
    );
    let mut inventory = server(
        "tt-01",
        Some("SRV-T"),
        Some(UUID_A),
        "0000tttt",
        "3c:ec:ef:00:00:77",
    );
    let mut recorded: Vec<(u32, AssetState)> = Vec::new();
    let ci = h.ci("agt-1", &inventory, &t(10));
    let stored = |h: &Harness| {
        let asset = h.cmdb.get_asset(&ci).unwrap().unwrap();
        AssetState {
            inventory: asset.inventory,
            managed: asset.header.managed,
        }
    };
    recorded.push((10, stored(&h)));
    for step in 1..=7u32 {
        let minute = 10 + step * 10;
        match step % 3 {
            0 => inventory.host.hostname = Some(format!("tt-{step:02}")),
            1 => inventory
                .software
                .packages
                .push(packages(&[(&format!("pkg{step}"), "1.0")])[0].clone()),
            _ => {
                inventory.filesystems = vec![census_shared::inventory::Filesystem {
                    mount_point: "/".into(),
                    free_bytes: Some(u64::from(step)),
                    ..Default::default()
                }]
            }
        }
        h.report("agt-1", &inventory, &t(minute));
        recorded.push((minute, stored(&h)));
        if step == 4 {
            let patch = ManagedFieldsPatch {
                owner: Some(Some("team-web".into())),
                ..Default::default()
            };
            h.cmdb
                .patch_asset(&ci, &patch, &Actor::person("alice"), &t(minute + 5))
                .unwrap();
            recorded.push((minute + 5, stored(&h)));
        }
    }
    assert_eq!(h.cmdb.asset_as_of(&ci, &t(9)).unwrap(), None);
    for (i, (minute, state)) in recorded.iter().enumerate() {
        let next = recorded.get(i + 1).map_or(minute + 60, |(m, _)| *m);
        for probe in [*minute, (minute + next) / 2, next - 1] {
            let got = h.cmdb.asset_as_of(&ci, &t(probe)).unwrap();
            assert_eq!(
                got.as_ref(),
                Some(state),
                "as of minute {probe} (checkpoint every {checkpoint_every})"
            );
        }
    }
}

#[test]
fn time_travel_gives_back_every_recorded_state_exactly() {
    check_time_travel(DEFAULT_CHECKPOINT_EVERY);
}

#[test]
fn time_travel_from_checkpoints_gives_the_same_states() {
    check_time_travel(2);
}

#[test]
fn the_event_feed_resumes_from_a_cursor_across_restarts_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut seen = Vec::new();
    let cursor;
    {
        let mut h = Harness::open(&path, config());
        let mut a = server(
            "ev-a",
            Some("SRV-EA"),
            Some(UUID_A),
            "eeee000a",
            "3c:ec:ef:00:00:e1",
        );
        let ci = h.ci("agt-a", &a, &t(0));
        h.ci(
            "agt-b",
            &server(
                "ev-b",
                Some("SRV-EB"),
                Some(UUID_B),
                "eeee000b",
                "3c:ec:ef:00:00:e2",
            ),
            &t(1),
        );
        a.host.hostname = Some("ev-a2".into());
        h.report("agt-a", &a, &t(2));
        h.report("agt-a", &a, &t(3)); // unchanged: no event
        h.cmdb
            .patch_asset(
                &ci,
                &ManagedFieldsPatch {
                    asset_tag: Some(Some("TAG-1".into())),
                    ..Default::default()
                },
                &Actor::person("eve"),
                &t(4),
            )
            .unwrap();
        h.cmdb
            .patch_asset(
                &ci,
                &ManagedFieldsPatch {
                    status: Some(Status::InRepair),
                    ..Default::default()
                },
                &Actor::person("eve"),
                &t(5),
            )
            .unwrap();
        let (events, next) = h.cmdb.events_since(0, 3).unwrap();
        seen.extend(events);
        cursor = next;
        h.cmdb.store.flush().unwrap();
    }
    let mut h = Harness::open(&path, config());
    h.seqs.insert("agt-b".into(), 1);
    let mut b = server(
        "ev-b",
        Some("SRV-EB"),
        Some(UUID_B),
        "eeee000b",
        "3c:ec:ef:00:00:e2",
    );
    b.hardware.memory.total_bytes = Some(128 << 30);
    h.report("agt-b", &b, &t(6));
    let mut cursor = cursor;
    loop {
        let (events, next) = h.cmdb.events_since(cursor, 2).unwrap();
        if events.is_empty() {
            assert_eq!(next, cursor);
            break;
        }
        seen.extend(events);
        cursor = next;
    }
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| match &e.kind {
            EventKind::Created { .. } => "created",
            EventKind::Changed { .. } => "changed",
            EventKind::ManagedEdit { .. } => "managed_edit",
            EventKind::StatusChanged { .. } => "status_changed",
            EventKind::Merged { .. } => "merged",
            EventKind::Split { .. } => "split",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "created",
            "changed",
            "managed_edit",
            "status_changed",
            "changed"
        ]
    );
}

#[test]
fn managed_fields_survive_reports_and_carry_their_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let mut inventory = server(
        "mg-01",
        Some("SRV-M"),
        Some(UUID_A),
        "0000mmmm",
        "3c:ec:ef:00:00:31",
    );
    inventory.hardware.baseboard.asset_tag = Some("FROM-BIOS".into());
    let ci = h.ci("agt-1", &inventory, &t(0));
    let patch = ManagedFieldsPatch {
        owner: Some(Some("alice@example.org".into())),
        location: Some(Some("Paris DC2 / rack 12".into())),
        ..Default::default()
    };
    h.cmdb
        .patch_asset(&ci, &patch, &Actor::person("alice"), &t(1))
        .unwrap();
    inventory.host.hostname = Some("mg-02".into());
    assert!(matches!(
        h.report("agt-1", &inventory, &t(2)).ci,
        Some(CiOutcome::Updated { .. })
    ));
    assert!(matches!(
        h.report("agt-1", &inventory, &t(3)).ci,
        Some(CiOutcome::Seen { .. })
    ));
    let asset = h.cmdb.get_asset(&ci).unwrap().unwrap();
    let owner = asset.header.managed.owner.as_ref().unwrap();
    assert_eq!(owner.value, "alice@example.org");
    assert_eq!(
        (
            owner.provenance.source,
            owner.provenance.by.as_str(),
            owner.provenance.at.as_str()
        ),
        (model::Source::Person, "alice", t(1).as_str())
    );
    assert_eq!(asset.header.managed.asset_tag, None);
    assert_eq!(asset.header.last_seen, t(3));
    assert_eq!(asset.header.inventory_provenance.by, "agt-1");
    // Clearing a field is an edit too; an edit that changes nothing records nothing.
    let clear = ManagedFieldsPatch {
        location: Some(None),
        owner: Some(Some("alice@example.org".into())),
        ..Default::default()
    };
    let asset = h
        .cmdb
        .patch_asset(&ci, &clear, &Actor::person("bob"), &t(4))
        .unwrap();
    assert_eq!(asset.header.managed.location, None);
    let (edits, _) = h
        .cmdb
        .history(
            &ci,
            &HistoryFilter {
                kinds: vec!["manual_edit".into()],
                ..Default::default()
            },
            10,
            None,
        )
        .unwrap();
    assert_eq!(edits.len(), 2);
    assert_eq!(
        edits[0].changes,
        [history::Change::ManagedFieldChanged {
            field: "location".into(),
            from: Some("Paris DC2 / rack 12".into()),
            to: None
        }]
    );
    assert_eq!(edits[0].by, "bob");
    let error = h
        .cmdb
        .patch_asset("ci-424242", &clear, &Actor::person("bob"), &t(5))
        .unwrap_err();
    assert!(matches!(error, CmdbError::UnknownCi(_)), "{error}");
}

#[test]
fn indexes_follow_updates_and_a_rebuild_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut h = Harness::open(&path, config());
    let mut one = server(
        "idx-01",
        Some("SRV-I1"),
        Some(UUID_A),
        "1111iiii",
        "3c:ec:ef:00:00:41",
    );
    let two = server(
        "idx-02",
        Some("SRV-I2"),
        Some(UUID_B),
        "2222iiii",
        "3c:ec:ef:00:00:42",
    );
    let ci_one = h.ci("agt-1", &one, &t(0));
    let ci_two = h.ci("agt-2", &two, &t(1));
    one.software.packages = packages(&[("openssl", "3.0.10"), ("curl", "7.88")]);
    one.network.interfaces[0].addresses[0].address = "10.9.0.1".into();
    h.report("agt-1", &one, &t(2));
    h.cmdb
        .patch_asset(
            &ci_two,
            &ManagedFieldsPatch {
                status: Some(Status::InStock),
                ..Default::default()
            },
            &Actor::person("ops"),
            &t(3),
        )
        .unwrap();

    let answers = |h: &Harness| {
        let openssl: Vec<(String, String)> = h
            .cmdb
            .packages_named("openssl")
            .into_iter()
            .map(|p| (model::ci_id(p.ci), p.version))
            .collect();
        (
            openssl,
            h.cmdb.packages_named("vim").len(),
            h.cmdb.lookup(&Lookup::Serial("SRV-I1".into())).unwrap(),
            h.cmdb.lookup(&Lookup::Uuid(UUID_B.to_uppercase())).unwrap(),
            h.cmdb
                .lookup(&Lookup::Cidr("10.0.0.0".parse().unwrap(), 16))
                .unwrap(),
            h.cmdb
                .lookup(&Lookup::Ip("10.9.0.1".parse().unwrap()))
                .unwrap(),
            h.cmdb
                .lookup(&Lookup::MachineId("1111IIII".into()))
                .unwrap(),
            h.cmdb.lookup(&Lookup::Status(Status::InStock)).unwrap(),
            h.cmdb.lookup(&Lookup::Status(Status::InUse)).unwrap(),
            h.cmdb
                .lookup(&Lookup::HostnamePrefix("IDX-".into()))
                .unwrap(),
        )
    };
    let expected = (
        vec![
            (ci_one.clone(), "3.0.10".to_string()),
            (ci_two.clone(), "3.0.2".to_string()),
        ],
        1,
        vec![ci_one.clone()],
        vec![ci_two.clone()],
        vec![ci_two.clone()],
        vec![ci_one.clone()],
        vec![ci_one.clone()],
        vec![ci_two.clone()],
        vec![ci_one.clone()],
        vec![ci_one.clone(), ci_two.clone()],
    );
    assert_eq!(answers(&h), expected);
    h.cmdb.rebuild_indexes().unwrap();
    assert_eq!(answers(&h), expected);
    let in_stock = h
        .cmdb
        .list_assets(
            &ListFilter {
                status: Some(Status::InStock),
                after: None,
            },
            10,
        )
        .unwrap();
    assert_eq!(
        in_stock
            .assets
            .iter()
            .map(|a| a.id.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&ci_two)
    );
    h.cmdb.store.flush().unwrap();
    drop(h);
    // The package postings live in memory: reopening rebuilds them from the CI bodies.
    let h = Harness::open(&path, config());
    assert_eq!(answers(&h), expected);
}

#[test]
fn concurrent_first_reports_from_one_machine_create_one_ci() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(&dir);
    let ingest = Arc::new(h.ingest);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let ingest = ingest.clone();
            std::thread::spawn(move || {
                // Agents 0-3 are four agents on one machine (a broken re-enrollment loop); 4-7 are distinct.
                let (serial, uuid) = if i < 4 {
                    ("SAME".to_string(), UUID_A.to_string())
                } else {
                    (
                        format!("S{i}"),
                        format!("4c4c4544-0000-1111-2222-00000000000{i}"),
                    )
                };
                let mut inventory = server(
                    &format!("c-{i}"),
                    Some(&serial),
                    Some(&uuid),
                    &format!("{i:08}"),
                    &format!("3c:ec:ef:00:01:{i:02}"),
                );
                inventory.collected_at = t(0);
                inventory.canonicalize();
                let header = ReportHeader {
                    epoch: 1,
                    seq: 1,
                    report_id: format!("r{i}"),
                    hash: content_hash(&inventory),
                    collected_at: t(0),
                };
                ingest
                    .report(
                        &format!("agt-{i}"),
                        &header,
                        ReportBody::Full {
                            inventory: Box::new(inventory),
                        },
                        &t(0),
                    )
                    .unwrap()
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // The four same-machine agents disagree on machine-id and MAC only: one CI, by serial.
    assert_eq!(
        h.cmdb
            .list_assets(&ListFilter::default(), 100)
            .unwrap()
            .assets
            .len(),
        5
    );
    assert_eq!(h.cmdb.list_conflicts(false).unwrap().len(), 0);
    let (events, _) = h.cmdb.events_since(0, 100).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
}

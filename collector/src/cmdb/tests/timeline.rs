//! History of a sequence of reports, and time travel against recorded states.

use super::*;
use crate::cmdb::history;
use crate::cmdb::model::{Actor, ManagedFieldsPatch};
use crate::cmdb::*;

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
    assert_eq!(
        h.cmdb.asset_as_of_without_packages(&ci, &t(9)).unwrap(),
        None
    );
    for (i, (minute, state)) in recorded.iter().enumerate() {
        let next = recorded.get(i + 1).map_or(minute + 60, |(m, _)| *m);
        for probe in [*minute, (minute + next) / 2, next - 1] {
            let got = h.cmdb.asset_as_of(&ci, &t(probe)).unwrap();
            assert_eq!(
                got.as_ref(),
                Some(state),
                "as of minute {probe} (checkpoint every {checkpoint_every})"
            );
            // Without packages (searches that do not ask about them): the same state, no packages.
            let mut expected = state.clone();
            expected.inventory.software.packages.clear();
            let light = h.cmdb.asset_as_of_without_packages(&ci, &t(probe)).unwrap();
            assert_eq!(
                light,
                Some(expected),
                "without packages, as of minute {probe}"
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
fn records_are_appended_in_number_order_and_records_of_the_older_layout_still_read() {
    use crate::cmdb::{SPACE_HISTORY, SPACE_RECORDS};
    use crate::store::Batch;
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let mut inventory = server(
        "lay-01",
        Some("SRV-L"),
        Some(UUID_A),
        "0000llll",
        "3c:ec:ef:00:00:71",
    );
    let ci = h.ci("agt-l", &inventory, &t(0));
    for (i, version) in ["1.1", "1.2", "1.3"].iter().enumerate() {
        inventory.software.packages = packages(&[("openssl", version)]);
        h.report("agt-l", &inventory, &t(1 + i as u32));
    }
    let before = h.cmdb.history(&ci, &Default::default(), 10, None).unwrap();
    let past = h.cmdb.asset_as_of(&ci, &t(2)).unwrap().unwrap();
    let store = h.cmdb.store.clone();
    let index: Vec<(Vec<u8>, Vec<u8>)> = store
        .scan_prefix(SPACE_HISTORY, b"")
        .map(Result::unwrap)
        .collect();
    let records: Vec<(Vec<u8>, Vec<u8>)> = store
        .scan_prefix(SPACE_RECORDS, b"")
        .map(Result::unwrap)
        .collect();
    assert_eq!(index.len(), records.len());
    assert!(index.iter().all(|(_, value)| value.is_empty()));
    // The history keys name the records by number: the records space holds exactly those.
    let numbers: Vec<Vec<u8>> = index.iter().map(|(key, _)| key[8..].to_vec()).collect();
    let record_keys: Vec<Vec<u8>> = records.iter().map(|(key, _)| key.clone()).collect();
    assert_eq!(numbers, record_keys);

    // The older layout: every record inline in the CI's history, no records space.
    let mut older = Batch::new();
    for ((key, _), (record_key, value)) in index.iter().zip(&records) {
        older.put(SPACE_HISTORY, key.clone(), value.clone());
        older.delete(SPACE_RECORDS, record_key.clone());
    }
    store.commit(older).unwrap();
    assert_eq!(store.scan_prefix(SPACE_RECORDS, b"").count(), 0);
    assert_eq!(
        h.cmdb.history(&ci, &Default::default(), 10, None).unwrap(),
        before
    );
    assert_eq!(h.cmdb.asset_as_of(&ci, &t(2)).unwrap().unwrap(), past);
    let (events, _) = h.cmdb.events_since(0, 100).unwrap();
    assert!(events.iter().any(|event| matches!(
        &event.kind,
        EventKind::Changed { changes, record: Some(_), .. } if !changes.is_empty()
    )));
}

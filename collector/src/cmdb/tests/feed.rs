//! The event feed across restarts, managed fields, index consistency and concurrent reports.

use super::*;
use crate::cmdb::history;
use crate::cmdb::index::Lookup;
use crate::cmdb::model::{self, Actor, ManagedFieldsPatch, Status};
use crate::cmdb::*;
use census_shared::hash::content_hash;
use census_shared::protocol::{ReportBody, ReportHeader};
use std::sync::Arc;

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

#[test]
fn silent_cis_go_stale_and_come_back_in_use_on_their_next_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let quiet = server(
        "quiet",
        Some("SRV-Q"),
        Some(UUID_A),
        "0000qqqq",
        "3c:ec:ef:00:00:51",
    );
    let ci_quiet = h.ci("agt-q", &quiet, &t(0));
    let ci_busy = h.ci(
        "agt-b",
        &server(
            "busy",
            Some("SRV-B"),
            Some(UUID_B),
            "0000bbbb",
            "3c:ec:ef:00:00:52",
        ),
        &t(50),
    );
    assert_eq!(
        h.cmdb.mark_stale(&t(30), &t(60)).unwrap(),
        std::slice::from_ref(&ci_quiet)
    );
    assert_eq!(
        h.cmdb.lookup(&Lookup::Status(Status::Stale)).unwrap(),
        std::slice::from_ref(&ci_quiet)
    );
    assert_eq!(
        h.cmdb.lookup(&Lookup::Status(Status::InUse)).unwrap(),
        [ci_busy]
    );
    h.report("agt-q", &quiet, &t(70));
    let asset = h.cmdb.get_asset(&ci_quiet).unwrap().unwrap();
    assert_eq!(asset.header.status.value, Status::InUse);
    assert_eq!(asset.header.status.provenance.by, "agt-q");
    let (events, _) = h.cmdb.events_since(0, 100).unwrap();
    let moves: Vec<(Status, Status)> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StatusChanged { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        moves,
        [
            (Status::InUse, Status::Stale),
            (Status::Stale, Status::InUse)
        ]
    );
}

/// An unchanged check-in of `agent` at `now` through the ingest, as the server handles it.
fn check_in(h: &mut Harness, agent: &str, now: &str) {
    let seq = h.seqs.entry(agent.to_string()).or_insert(0);
    *seq += 1;
    let header = ReportHeader {
        epoch: 1,
        seq: *seq,
        report_id: format!("{agent}-{seq}"),
        hash: h.ingest.state(agent).unwrap().unwrap().hash,
        collected_at: now.to_string(),
    };
    let answer = h.ingest.check_in(agent, &header, now).unwrap();
    assert_eq!(answer, census_shared::protocol::CheckInResponse::Unchanged);
}

#[test]
fn check_ins_move_last_seen_at_once_and_reach_disk_on_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let machine = server(
        "web-01",
        Some("SRV-1"),
        Some(UUID_A),
        "0000aaaa",
        "3c:ec:ef:00:00:61",
    );
    let ci = {
        let mut h = Harness::open(&path, config());
        let ci = h.ci("agt-1", &machine, &t(0));
        check_in(&mut h, "agt-1", &t(10));
        // Readers see the check-in before it is written.
        let asset = h.cmdb.get_asset(&ci).unwrap().unwrap();
        assert_eq!(asset.header.last_seen, t(10));
        assert_eq!(asset.header.agents[0].last_seen, t(10));
        assert_eq!(h.cmdb.pending_seen_count(), 1);
        // Stale marking counts it: the CI was seen after the cutoff.
        assert!(h.cmdb.mark_stale(&t(5), &t(11)).unwrap().is_empty());
        check_in(&mut h, "agt-1", &t(20));
        assert_eq!(h.cmdb.flush_seen().unwrap(), 1);
        assert_eq!(h.cmdb.pending_seen_count(), 0);
        // Nothing else was written: an unchanged check-in is no history and no event.
        assert_eq!(h.history_kinds(&ci), Vec::<String>::new());
        ci
    };
    let h = Harness::open(&path, config());
    let asset = h.cmdb.get_asset(&ci).unwrap().unwrap();
    assert_eq!(asset.header.last_seen, t(20));
}

#[test]
fn a_stale_ci_checking_in_is_in_use_again_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let machine = server(
        "web-02",
        Some("SRV-2"),
        Some(UUID_B),
        "0000bbbb",
        "3c:ec:ef:00:00:62",
    );
    let ci = h.ci("agt-2", &machine, &t(0));
    assert_eq!(
        h.cmdb.mark_stale(&t(30), &t(60)).unwrap(),
        std::slice::from_ref(&ci)
    );
    check_in(&mut h, "agt-2", &t(70));
    let asset = h.cmdb.get_asset(&ci).unwrap().unwrap();
    assert_eq!(asset.header.status.value, Status::InUse);
    assert_eq!(h.cmdb.pending_seen_count(), 0, "written at once, not held");
}

#[test]
fn the_delta_base_is_the_ci_body_not_a_second_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let machine = server(
        "web-03",
        Some("SRV-3"),
        None,
        "0000cccc",
        "3c:ec:ef:00:00:63",
    );
    h.ci("agt-3", &machine, &t(0));
    let held = h.ingest.inventory("agt-3").unwrap().unwrap();
    assert_eq!(
        content_hash(&held),
        h.ingest.state("agt-3").unwrap().unwrap().hash
    );
    let copies = h
        .cmdb
        .store
        .scan_prefix(crate::ingest::SPACE_INVENTORIES, b"")
        .count();
    assert_eq!(copies, 0);
}

#[test]
fn a_change_event_is_stored_with_its_history_record_and_read_with_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::new(&dir);
    let mut inventory = server(
        "ref-01",
        Some("SRV-R"),
        Some(UUID_A),
        "0000rrrr",
        "3c:ec:ef:00:00:61",
    );
    let ci = h.ci("agt-r", &inventory, &t(0));
    inventory.host.hostname = Some("ref-02".into());
    h.report("agt-r", &inventory, &t(1));

    let (events, cursor) = h.cmdb.events_since(0, 100).unwrap();
    let (changes, record) = match &events.last().unwrap().kind {
        EventKind::Changed {
            changes,
            record: Some(record),
            ..
        } => (changes.clone(), *record),
        other => panic!("expected a change event with its record, got {other:?}"),
    };
    assert!(
        changes
            .iter()
            .any(|change| matches!(change, history::Change::HostnameChanged { .. })),
        "{changes:?}"
    );
    let (entries, _) = h.cmdb.history(&ci, &Default::default(), 10, None).unwrap();
    let entry = entries.iter().find(|e| e.record == record).unwrap();
    assert_eq!(
        entry.changes, changes,
        "the event reads the record's changes"
    );
    // Stored: the reference, not a second copy of the list.
    let stored = h
        .cmdb
        .store
        .get(SPACE_EVENTS, &cursor.to_be_bytes())
        .unwrap()
        .unwrap();
    let stored = String::from_utf8(stored).unwrap();
    assert!(!stored.contains("changes"), "{stored}");
    assert!(stored.contains(&format!("\"record\":{record}")), "{stored}");

    // An event stored before references carries its own list and reads as it is.
    let older = format!(
        r#"{{"seq":{},"at":"{}","ci":"{ci}","event":"changed","agent_id":"agt-r","changes":[{{"kind":"hostname_changed","from":"a","to":"b"}}]}}"#,
        cursor + 1,
        t(2)
    );
    h.cmdb
        .store
        .put(SPACE_EVENTS, &(cursor + 1).to_be_bytes(), older.as_bytes())
        .unwrap();
    let (events, _) = h.cmdb.events_since(cursor, 10).unwrap();
    match &events[..] {
        [event] => match &event.kind {
            EventKind::Changed {
                changes, record, ..
            } => {
                assert_eq!(*record, None);
                assert_eq!(
                    changes,
                    &[history::Change::HostnameChanged {
                        from: Some("a".into()),
                        to: Some("b".into())
                    }]
                );
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

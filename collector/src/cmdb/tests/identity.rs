//! Reconciliation scenarios: reinstall, clones, bogus identifiers, NIC swap, rename, disk swap, conflicts.

use super::*;
use crate::cmdb::history;
use crate::cmdb::index::Lookup;
use crate::cmdb::model::Actor;
use crate::cmdb::reconcile::Rule;
use crate::cmdb::*;

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

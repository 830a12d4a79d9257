use super::*;
use crate::itsm::audit::{AuditFilter, audit_list};
use crate::itsm::change::{
    ChangeState, ChangeTransition, ChangeType, NewChange, PlannedWindow, Risk, create_change,
    transition_change,
};
use crate::itsm::history::{HistoryEntry as Entry, append, history};
use crate::itsm::testutil::{T0, agent, approver, at, directory, memory, sled};

fn discovered(ci: &str, when: OffsetDateTime, subject: &str) -> DiscoveredChange {
    DiscoveredChange {
        ci: ci.into(),
        at: when,
        kind: DiscoveredChangeKind::PackageUpgraded,
        subject: subject.into(),
        old: Some("3.0.1".into()),
        new: Some("3.0.2".into()),
    }
}

/// A standard change on `ci` with window [T0, T0+60min], moved along `states`.
fn change_on(store: &dyn Store, ci: &str, states: &[ChangeState]) -> String {
    let request = NewChange {
        title: "openssl upgrade".into(),
        description: None,
        change_type: ChangeType::Standard,
        risk: Risk::Low,
        window: Some(PlannedWindow {
            start: at(0),
            end: at(60),
        }),
        implementation_plan: Some("apt-get upgrade".into()),
        backout_plan: Some("apt-get install openssl=3.0.1".into()),
        affected_cis: vec![ci.into()],
    };
    let id = create_change(store, &directory(), &agent(), request, T0)
        .unwrap()
        .record
        .id;
    for &state in states {
        let request = ChangeTransition {
            to: state,
            note: None,
        };
        transition_change(store, &approver(), &id, request, at(0)).unwrap();
    }
    id
}

#[test]
fn window_edges_with_grace_are_inclusive() {
    let store = memory();
    let store = store.as_ref();
    change_on(store, "ci-000001", &[ChangeState::Scheduled]);
    let second = time::Duration::seconds(1);
    let cases = [
        (at(-15), false),
        (at(-15) - second, true),
        (at(0), false),
        (at(75), false),
        (at(75) + second, true),
    ];
    for (n, (when, flagged)) in cases.into_iter().enumerate() {
        let change = discovered("ci-000001", when, &format!("pkg{n}"));
        let flags = evaluate_discovered_changes_at(store, "ci-000001", &[change], at(100)).unwrap();
        assert_eq!(flags.len(), usize::from(flagged), "case {n} at {when}");
    }
    // Another CI is not covered by a change that does not list it.
    let flags = evaluate_discovered_changes_at(
        store,
        "ci-000002",
        &[discovered("ci-000002", at(30), "x")],
        at(100),
    )
    .unwrap();
    assert_eq!(flags.len(), 1);
}

#[test]
fn only_authorized_states_cover() {
    use ChangeState::*;
    let cases: &[(&[ChangeState], bool)] = &[
        (&[], false),                               // Draft
        (&[Scheduled], true),                       // Scheduled
        (&[Scheduled, Implementing], true),         // Implementing
        (&[Scheduled, Implementing, Review], true), // Review
        (&[Scheduled, Implementing, Review, Closed], true),
        (&[Cancelled], false),
    ];
    for (n, (states, authorized)) in cases.iter().enumerate() {
        let store = memory();
        change_on(store.as_ref(), "ci-000003", states);
        let flags = evaluate_discovered_changes_at(
            store.as_ref(),
            "ci-000003",
            &[discovered("ci-000003", at(30), "nginx")],
            at(90),
        )
        .unwrap();
        assert_eq!(flags.is_empty(), *authorized, "case {n}: {states:?}");
    }
}

#[test]
fn flags_are_raised_once_and_can_be_acknowledged_or_linked_on_sled() {
    let (store, _guard) = sled();
    let store = store.as_ref();
    let changes = [
        discovered("ci-000001", at(10), "openssl"),
        discovered("ci-000001", at(20), "nginx"),
        discovered("ci-000001", at(20), "nginx"),
    ];
    let flags = evaluate_discovered_changes_at(store, "ci-000001", &changes, at(30)).unwrap();
    let ids: Vec<&str> = flags.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["UAC-000001", "UAC-000002"]);
    assert_eq!(
        evaluate_discovered_changes_at(store, "ci-000001", &changes, at(40)).unwrap(),
        []
    );

    let error = acknowledge(store, "UAC-000001", &agent(), "  ", at(50)).unwrap_err();
    assert_eq!(error.to_string(), "UAC-000001: note is required");
    let acked = acknowledge(
        store,
        "UAC-000001",
        &agent(),
        "emergency fix by the DBA",
        at(50),
    )
    .unwrap();
    assert_eq!(
        (
            acked.status,
            acked.acknowledged_by.as_deref(),
            acked.acknowledged_at
        ),
        (FlagStatus::Acknowledged, Some("alice"), Some(at(50)))
    );
    let error = acknowledge(store, "UAC-000001", &agent(), "again", at(51)).unwrap_err();
    assert!(error.to_string().contains("only open flags"), "{error}");

    let change = change_on(store, "ci-000001", &[]);
    let error = link_to_change(store, "UAC-000002", "CHG-000099", &agent(), at(52)).unwrap_err();
    assert_eq!(error.to_string(), "CHG-000099 does not exist");
    let linked = link_to_change(store, "UAC-000002", &change, &agent(), at(52)).unwrap();
    assert_eq!(
        (linked.status, linked.linked_change.as_deref()),
        (FlagStatus::Linked, Some(change.as_str()))
    );

    let open = list_unauthorized(
        store,
        &FlagFilter {
            status: Some(FlagStatus::Open),
            ..Default::default()
        },
        None,
        10,
    )
    .unwrap();
    assert_eq!(open.items, []);
    let all = list_unauthorized(store, &FlagFilter::default(), None, 1).unwrap();
    assert_eq!(all.items[0].id, "UAC-000002");
    let rest =
        list_unauthorized(store, &FlagFilter::default(), all.next_cursor.as_deref(), 1).unwrap();
    assert_eq!(
        (rest.items[0].id.as_str(), rest.next_cursor),
        ("UAC-000001", None)
    );

    let fields: Vec<(String, String)> = flag_history(store, "UAC-000001")
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.field))
        .collect();
    assert_eq!(
        fields,
        [
            ("discovery".into(), "record".into()),
            ("alice".into(), "acknowledged_at".into()),
            ("alice".into(), "acknowledged_by".into()),
            ("alice".into(), "note".into()),
            ("alice".into(), "status".into()),
        ]
    );
    let audit = AuditFilter {
        action: Some("unauthorized.".into()),
        ..Default::default()
    };
    let actions: Vec<String> = audit_list(store, &audit, None, 10)
        .unwrap()
        .items
        .into_iter()
        .map(|e| format!("{} {}", e.record, e.action))
        .collect();
    assert_eq!(
        actions,
        [
            "UAC-000002 unauthorized.link_change",
            "UAC-000001 unauthorized.acknowledge"
        ]
    );
}

#[test]
fn changes_of_another_ci_are_refused() {
    let store = memory();
    let error = evaluate_discovered_changes_at(
        store.as_ref(),
        "ci-000001",
        &[discovered("ci-000002", T0, "x")],
        T0,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "discovered changes of ci-000001: one of them is on ci-000002; evaluate each CI separately"
    );
}

#[test]
fn the_cis_with_open_flags_come_from_the_index_keys() {
    let (store, _guard) = sled();
    let store = store.as_ref();
    let open_cis = || {
        crate::itsm::record::cis_with_records_in_state::<Flag>(store, FlagStatus::Open.key())
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>()
    };
    for ci in ["ci-000001", "ci-000002", "ci-000010"] {
        evaluate_discovered_changes_at(store, ci, &[discovered(ci, at(10), "openssl")], at(30))
            .unwrap();
    }
    // An incident on another CI shares the by-CI index: it is not a flag.
    crate::itsm::incident::create_incident(
        store,
        &directory(),
        &agent(),
        crate::itsm::incident::NewIncident {
            title: "down".into(),
            description: None,
            caller: None,
            assignee: None,
            assignment_group: None,
            impact: crate::itsm::priority::Level::try_from(1).unwrap(),
            urgency: crate::itsm::priority::Level::try_from(1).unwrap(),
            affected_cis: vec!["ci-000003".into()],
        },
        at(31),
    )
    .unwrap();
    let open =
        || crate::itsm::record::count_in_state::<Flag>(store, FlagStatus::Open.key()).unwrap();
    assert_eq!(open_cis(), ["ci-000001", "ci-000002", "ci-000010"]);
    assert_eq!(open(), 3);
    acknowledge(store, "UAC-000002", &agent(), "planned", at(40)).unwrap();
    assert_eq!(open_cis(), ["ci-000001", "ci-000010"]);
    assert_eq!(open(), 2);
}

#[test]
fn a_flag_is_stored_without_its_empty_fields_and_older_flags_with_them_still_read() {
    let store = memory();
    let store = store.as_ref();
    let raised = evaluate_discovered_changes_at(
        store,
        "ci-000001",
        &[discovered("ci-000001", T0, "curl")],
        T0,
    )
    .unwrap();
    let flag = &raised[0];
    let number = numbering::parse_kind(&flag.id, RecordKind::Flag).unwrap();
    let stored = store
        .get(SPACE_FLAGS, &number.to_be_bytes())
        .unwrap()
        .unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    let fields = stored.as_object().unwrap();
    assert!(fields.values().all(|value| !value.is_null()), "{stored}");
    assert!(!fields.contains_key("acknowledged_by"), "{stored}");
    assert_eq!(&get_flag(store, &flag.id).unwrap(), flag);
    // The API still shows every field, empty ones as null.
    let shown = serde_json::to_value(flag).unwrap();
    assert!(shown["acknowledged_by"].is_null() && shown["linked_at"].is_null());

    // Stored before: with its nulls.
    store
        .put(
            SPACE_FLAGS,
            &number.to_be_bytes(),
            &serde_json::to_vec(flag).unwrap(),
        )
        .unwrap();
    assert_eq!(&get_flag(store, &flag.id).unwrap(), flag);
}

#[test]
fn a_changes_state_and_window_are_kept_beside_it_and_an_older_change_without_them_still_covers() {
    use crate::itsm::change::{SPACE_WINDOWS, windows_on};
    let store = memory();
    let store = store.as_ref();
    let id = change_on(store, "ci-000001", &[ChangeState::Scheduled]);
    let window = PlannedWindow {
        start: at(0),
        end: at(60),
    };
    let scheduled = ChangeWindow {
        state: ChangeState::Scheduled,
        window: Some(window),
    };
    assert_eq!(windows_on(store, "ci-000001").unwrap(), [scheduled]);
    assert_eq!(windows_on(store, "ci-000002").unwrap(), []);
    let inside = discovered("ci-000001", at(30), "openssl");
    let outside = discovered("ci-000001", at(200), "openssl");
    assert!(
        evaluate_discovered_changes_at(store, "ci-000001", std::slice::from_ref(&inside), at(31))
            .unwrap()
            .is_empty()
    );

    // Moves update it.
    let request = ChangeTransition {
        to: ChangeState::Implementing,
        note: None,
    };
    transition_change(store, &approver(), &id, request, at(1)).unwrap();
    assert_eq!(
        windows_on(store, "ci-000001").unwrap()[0].state,
        ChangeState::Implementing
    );

    // A change stored before the summaries existed is read whole, and covers the same.
    let number = numbering::parse_kind(&id, RecordKind::Change).unwrap();
    store.delete(SPACE_WINDOWS, &number.to_be_bytes()).unwrap();
    assert_eq!(
        windows_on(store, "ci-000001").unwrap()[0].state,
        ChangeState::Implementing
    );
    let mut later = inside;
    later.subject = "curl".into();
    assert!(
        evaluate_discovered_changes_at(store, "ci-000001", &[later], at(32))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        evaluate_discovered_changes_at(store, "ci-000001", &[outside], at(201))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn windows_read_ahead_are_used_for_their_own_ci_only() {
    let store = memory();
    let store = store.as_ref();
    let change = change_on(store, "ci-000001", &[ChangeState::Scheduled]);
    let covered = [discovered("ci-000001", at(30), "openssl")];
    let ahead = PlannedWindows::read(store, "ci-000001").unwrap();
    // The change is cancelled after the windows were read: the evaluation is the one of that moment.
    let request = ChangeTransition {
        to: ChangeState::Cancelled,
        note: None,
    };
    transition_change(store, &approver(), &change, request, at(1)).unwrap();
    // Stages with `planned`, commits, returns the flags raised.
    let evaluate = |planned: PlannedWindows| {
        let mut batch = Batch::new();
        let staged = stage_discovered_changes(
            store,
            "ci-000001",
            &covered,
            at(40),
            &mut batch,
            Some(planned),
        )
        .unwrap();
        store.commit(batch).unwrap();
        staged.committed()
    };
    assert_eq!(evaluate(ahead), []);

    // Windows read for another CI are not taken for this one's: they are read again (and the change,
    // cancelled, now covers nothing).
    let flags = evaluate(PlannedWindows::read(store, "ci-000002").unwrap());
    assert_eq!(flags.len(), 1);
    assert_eq!(get_flag(store, &flags[0].id).unwrap(), flags[0]);
}

#[test]
fn a_flags_creation_entry_is_rebuilt_not_stored_and_never_doubled() {
    let store = memory();
    let store = store.as_ref();
    let flags = evaluate_discovered_changes_at(
        store,
        "ci-000001",
        &[discovered("ci-000001", at(10), "openssl")],
        at(30),
    )
    .unwrap();
    let id = flags[0].id.as_str();
    assert_eq!(
        history(store, id).unwrap(),
        [],
        "nothing stored at creation"
    );
    let rebuilt = flag_history(store, id).unwrap();
    let creation = Entry {
        record: id.to_string(),
        at: at(30),
        actor: "discovery".into(),
        field: "record".into(),
        old: serde_json::Value::Null,
        new: serde_json::Value::from("created"),
    };
    assert_eq!(rebuilt, std::slice::from_ref(&creation));

    // A flag raised by an earlier version has its creation entry stored: it is not added twice.
    let mut batch = Batch::new();
    append(store, &mut batch, std::slice::from_ref(&creation)).unwrap();
    store.commit(batch).unwrap();
    acknowledge(store, id, &agent(), "seen", at(40)).unwrap();
    let fields: Vec<String> = flag_history(store, id)
        .unwrap()
        .into_iter()
        .map(|entry| entry.field)
        .collect();
    assert_eq!(fields[0], "record");
    assert_eq!(fields.iter().filter(|field| *field == "record").count(), 1);
    assert!(fields.contains(&"status".to_string()), "{fields:?}");
    assert!(flag_history(store, "UAC-999999").is_err());
}

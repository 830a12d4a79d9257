use super::*;
use crate::itsm::audit::{AuditFilter, audit_list};
use crate::itsm::testutil::{T0, agent, approver, at, directory, memory, sled};
use ChangeState::*;

fn window(from_minutes: i64, to_minutes: i64) -> PlannedWindow {
    PlannedWindow {
        start: at(from_minutes),
        end: at(to_minutes),
    }
}

fn new_change(change_type: ChangeType, cis: &[&str], window: Option<PlannedWindow>) -> NewChange {
    NewChange {
        title: "upgrade openssl".into(),
        description: None,
        change_type,
        risk: Risk::Moderate,
        window,
        implementation_plan: Some("apt-get install openssl".into()),
        backout_plan: Some("apt-get install openssl=3.0.1".into()),
        affected_cis: cis.iter().map(|c| c.to_string()).collect(),
    }
}

fn move_to(store: &dyn Store, id: &str, state: ChangeState) -> Result<Outcome<Change>> {
    let request = ChangeTransition {
        to: state,
        note: None,
    };
    transition_change(store, &approver(), id, request, at(1))
}

/// A change of `change_type` driven from Draft into `state`; None when the type never reaches it.
fn change_in(store: &dyn Store, change_type: ChangeType, state: ChangeState) -> Option<Change> {
    let approved: &[ChangeState] = &[Assessment, Approved];
    let path: Vec<ChangeState> = match (change_type, state) {
        (ChangeType::Standard, Assessment | Approved | Rejected) => return None,
        (_, Draft) => vec![],
        (_, Cancelled) => vec![Cancelled],
        (_, Assessment) => vec![Assessment],
        (_, Approved) => approved.to_vec(),
        (_, Rejected) => vec![Assessment, Rejected],
        (ChangeType::Standard, later) => {
            let all = [Scheduled, Implementing, Review, Closed];
            all.iter()
                .copied()
                .take_while(|s| *s != later)
                .chain([later])
                .collect()
        }
        (_, later) => {
            let all = [Scheduled, Implementing, Review, Closed];
            let tail = all
                .iter()
                .copied()
                .take_while(|s| *s != later)
                .chain([later]);
            approved.iter().copied().chain(tail).collect()
        }
    };
    let created = create_change(
        store,
        &directory(),
        &agent(),
        new_change(change_type, &[], Some(window(0, 60))),
        T0,
    )
    .unwrap()
    .record;
    let mut current = created;
    for step in path {
        current = move_to(store, &current.id, step).unwrap().record;
    }
    assert_eq!(current.state, state);
    Some(current)
}

#[test]
fn every_transition_of_every_type_is_allowed_or_refused_as_the_table_says() {
    let normal: &[(ChangeState, ChangeState)] = &[
        (Draft, Assessment),
        (Draft, Cancelled),
        (Assessment, Draft),
        (Assessment, Approved),
        (Assessment, Rejected),
        (Assessment, Cancelled),
        (Approved, Scheduled),
        (Approved, Cancelled),
        (Rejected, Draft),
        (Rejected, Closed),
        (Scheduled, Implementing),
        (Scheduled, Cancelled),
        (Implementing, Review),
        (Review, Closed),
    ];
    let mut emergency = normal.to_vec();
    emergency.push((Approved, Implementing));
    let standard: &[(ChangeState, ChangeState)] = &[
        (Draft, Scheduled),
        (Draft, Cancelled),
        (Scheduled, Implementing),
        (Scheduled, Cancelled),
        (Implementing, Review),
        (Review, Closed),
    ];
    let store = memory();
    for (change_type, legal) in [
        (ChangeType::Normal, normal),
        (ChangeType::Emergency, emergency.as_slice()),
        (ChangeType::Standard, standard),
    ] {
        for from in ChangeState::ALL {
            for target in ChangeState::ALL {
                let Some(change) = change_in(store.as_ref(), change_type, from) else {
                    continue;
                };
                let result = move_to(store.as_ref(), &change.id, target);
                let case = format!("{change_type:?} {from} -> {target}");
                if legal.contains(&(from, target)) {
                    let moved = result.unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_eq!(moved.record.state, target, "{case}");
                } else {
                    match result {
                        Err(ItsmError::IllegalTransition { allowed, .. }) => {
                            let expected: Vec<String> = ChangeState::ALL
                                .iter()
                                .filter(|to| legal.contains(&(from, **to)))
                                .map(ToString::to_string)
                                .collect();
                            let expected = if expected.is_empty() {
                                format!("none ({from} is final)")
                            } else {
                                expected.join(", ")
                            };
                            assert_eq!(allowed, expected, "{case}");
                        }
                        other => panic!("{case} should be refused, got {other:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn only_approvers_approve_or_reject_and_the_decision_is_kept() {
    let store = memory();
    let change = change_in(store.as_ref(), ChangeType::Normal, Assessment).unwrap();
    for target in [Approved, Rejected] {
        let request = ChangeTransition {
            to: target,
            note: None,
        };
        let error =
            transition_change(store.as_ref(), &agent(), &change.id, request, at(2)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "alice has role agent; moving {} to {target} needs the approver role",
                change.id
            )
        );
    }
    let request = ChangeTransition {
        to: Approved,
        note: Some("CAB 12 March".into()),
    };
    let approved = transition_change(store.as_ref(), &approver(), &change.id, request, at(3))
        .unwrap()
        .record;
    assert_eq!(approved.approver.as_deref(), Some("carol"));
    assert_eq!(approved.decided_at, Some(at(3)));
    assert_eq!(approved.decision_note.as_deref(), Some("CAB 12 March"));
}

#[test]
fn submitting_and_scheduling_need_plans_and_a_window() {
    let store = memory();
    let dir = directory();
    let mut request = new_change(ChangeType::Normal, &[], None);
    request.backout_plan = None;
    let change = create_change(store.as_ref(), &dir, &agent(), request, T0)
        .unwrap()
        .record;
    let error = move_to(store.as_ref(), &change.id, Assessment).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: submitting needs a backout_plan; set it first",
            change.id
        )
    );

    let standard = create_change(
        store.as_ref(),
        &dir,
        &agent(),
        new_change(ChangeType::Standard, &[], None),
        T0,
    )
    .unwrap()
    .record;
    let error = move_to(store.as_ref(), &standard.id, Scheduled).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: scheduling needs a planned window; set it first",
            standard.id
        )
    );

    let error = create_change(
        store.as_ref(),
        &dir,
        &agent(),
        new_change(ChangeType::Normal, &[], Some(window(10, 10))),
        T0,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the end must be after the start"),
        "{error}"
    );
}

#[test]
fn content_is_frozen_after_assessment_but_the_window_can_move_until_implementation() {
    let store = memory();
    let change = change_in(store.as_ref(), ChangeType::Normal, Approved).unwrap();
    let update = ChangeUpdate {
        risk: Some(Risk::High),
        ..Default::default()
    };
    let error = update_change(store.as_ref(), &agent(), &change.id, update, at(5)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: risk can only change in Draft, Assessment; the change is Approved",
            change.id
        )
    );
    let update = ChangeUpdate {
        window: Some(Some(window(120, 180))),
        ..Default::default()
    };
    let moved = update_change(store.as_ref(), &agent(), &change.id, update, at(5))
        .unwrap()
        .record;
    assert_eq!(moved.window, Some(window(120, 180)));
}

#[test]
fn overlapping_windows_on_a_shared_ci_warn_but_succeed() {
    let store = memory();
    let dir = directory();
    let scheduled = create_change(
        store.as_ref(),
        &dir,
        &agent(),
        new_change(ChangeType::Standard, &["ci-000001"], Some(window(0, 60))),
        T0,
    )
    .unwrap()
    .record;
    move_to(store.as_ref(), &scheduled.id, Scheduled).unwrap();
    // A draft is not active: nobody collides with it.
    create_change(
        store.as_ref(),
        &dir,
        &agent(),
        new_change(ChangeType::Normal, &["ci-000001"], Some(window(0, 60))),
        T0,
    )
    .unwrap();

    let cases = [
        (window(30, 90), &["ci-000001"][..], true),
        (window(-30, 1), &["ci-000001"][..], true),
        (window(60, 120), &["ci-000001"][..], false), // touching the end
        (window(-60, 0), &["ci-000001"][..], false),  // touching the start
        (window(30, 90), &["ci-000002"][..], false),  // another CI
    ];
    for (candidate, cis, warns) in cases {
        let outcome = create_change(
            store.as_ref(),
            &dir,
            &agent(),
            new_change(ChangeType::Normal, cis, Some(candidate)),
            T0,
        )
        .unwrap();
        if warns {
            assert_eq!(outcome.warnings.len(), 1, "{candidate:?}");
            let warning = &outcome.warnings[0];
            assert_eq!(warning.code, "window_overlap");
            assert_eq!(warning.record.as_deref(), Some(scheduled.id.as_str()));
            assert_eq!(warning.ci.as_deref(), Some("ci-000001"));
            assert!(warning.message.starts_with(&format!(
                "{} (Scheduled) is also planned on ci-000001",
                scheduled.id
            )));
        } else {
            assert_eq!(outcome.warnings, [], "{candidate:?}");
        }
    }
}

#[test]
fn scheduling_on_sled_warns_about_the_other_change_and_audits_every_write() {
    let (store, _guard) = sled();
    let dir = directory();
    let first = create_change(
        store.as_ref(),
        &dir,
        &agent(),
        new_change(ChangeType::Standard, &["ci-000003"], Some(window(0, 60))),
        T0,
    )
    .unwrap()
    .record;
    move_to(store.as_ref(), &first.id, Scheduled).unwrap();
    let second = create_change(
        store.as_ref(),
        &dir,
        &agent(),
        new_change(ChangeType::Standard, &["ci-000003"], Some(window(59, 61))),
        T0,
    )
    .unwrap();
    assert_eq!(second.warnings.len(), 1);
    let scheduled = move_to(store.as_ref(), &second.record.id, Scheduled).unwrap();
    assert_eq!(scheduled.warnings[0].record.as_deref(), Some("CHG-000001"));

    let page = audit_list(store.as_ref(), &AuditFilter::default(), None, 10).unwrap();
    let actions: Vec<(String, String, String, Option<String>)> = page
        .items
        .into_iter()
        .map(|e| (e.actor, e.record, e.action, e.detail))
        .collect();
    assert_eq!(
        actions,
        [
            (
                "carol".into(),
                "CHG-000002".into(),
                "change.transition".into(),
                Some("Draft -> Scheduled".into())
            ),
            (
                "alice".into(),
                "CHG-000002".into(),
                "change.create".into(),
                None
            ),
            (
                "carol".into(),
                "CHG-000001".into(),
                "change.transition".into(),
                Some("Draft -> Scheduled".into())
            ),
            (
                "alice".into(),
                "CHG-000001".into(),
                "change.create".into(),
                None
            ),
        ]
    );
    let only_first = AuditFilter {
        record: Some("CHG-000001".into()),
        action: Some("change.".into()),
        ..Default::default()
    };
    let page = audit_list(store.as_ref(), &only_first, None, 1).unwrap();
    assert_eq!(page.items[0].detail.as_deref(), Some("Draft -> Scheduled"));
    assert_eq!(page.items[0].source, "192.0.2.20");
    let cursor = page.next_cursor.expect("a second page");
    let page = audit_list(store.as_ref(), &only_first, Some(&cursor), 1).unwrap();
    assert_eq!(page.items[0].action, "change.create");
    assert_eq!(page.next_cursor, None);
}

#[test]
fn incidents_link_as_caused_by_or_resolves() {
    let store = memory();
    let dir = directory();
    let incident = crate::itsm::incident::create_incident(
        store.as_ref(),
        &dir,
        &agent(),
        crate::itsm::incident::NewIncident {
            title: "outage".into(),
            description: None,
            caller: None,
            assignee: None,
            assignment_group: None,
            impact: crate::itsm::priority::Level::HIGH,
            urgency: crate::itsm::priority::Level::HIGH,
            affected_cis: vec![],
        },
        T0,
    )
    .unwrap();
    let change = change_in(store.as_ref(), ChangeType::Normal, Closed).unwrap();
    let linked = link_change_incident(
        store.as_ref(),
        &agent(),
        &change.id,
        &incident.id,
        IncidentRelation::CausedBy,
        at(9),
    )
    .unwrap();
    assert_eq!(
        linked.related_incidents,
        [IncidentLink {
            incident: incident.id.clone(),
            relation: IncidentRelation::CausedBy
        }]
    );
    let error = link_change_incident(
        store.as_ref(),
        &agent(),
        &change.id,
        &incident.id,
        IncidentRelation::CausedBy,
        at(9),
    )
    .unwrap_err();
    assert!(error.to_string().contains("already linked"), "{error}");
    let error = link_change_incident(
        store.as_ref(),
        &agent(),
        &change.id,
        "INC-000099",
        IncidentRelation::Resolves,
        at(9),
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "INC-000099 does not exist");
    let unlinked =
        unlink_change_incident(store.as_ref(), &agent(), &change.id, &incident.id, at(10)).unwrap();
    assert_eq!(unlinked.related_incidents, []);
}

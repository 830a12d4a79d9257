use super::*;
use crate::itsm::history::history;
use crate::itsm::testutil::{T0, agent, at, directory, memory, sled};
use IncidentState::*;

fn new_incident(title: &str, impact: u8, urgency: u8, cis: &[&str]) -> NewIncident {
    NewIncident {
        title: title.to_string(),
        description: None,
        caller: Some("dave".into()),
        assignee: None,
        assignment_group: None,
        impact: Level::try_from(impact).unwrap(),
        urgency: Level::try_from(urgency).unwrap(),
        affected_cis: cis.iter().map(|c| c.to_string()).collect(),
    }
}

fn to(state: IncidentState) -> IncidentTransition {
    IncidentTransition {
        to: state,
        resolution_code: (state == Resolved).then_some(ResolutionCode::SolvedPermanently),
        resolution_notes: (state == Resolved).then(|| "restarted the service".to_string()),
        note: None,
    }
}

/// An incident driven from New into `state` along a legal path.
fn incident_in(store: &dyn Store, state: IncidentState) -> Incident {
    let incident = create_incident(
        store,
        &directory(),
        &agent(),
        new_incident("disk full", 2, 2, &[]),
        T0,
    )
    .unwrap();
    let path: &[IncidentState] = match state {
        New => &[],
        InProgress => &[InProgress],
        OnHold => &[OnHold],
        Resolved => &[Resolved],
        Closed => &[Resolved, Closed],
        Cancelled => &[Cancelled],
    };
    let mut current = incident;
    for (n, &step) in path.iter().enumerate() {
        current =
            transition_incident(store, &agent(), &current.id, to(step), at(n as i64 + 1)).unwrap();
    }
    assert_eq!(current.state, state);
    current
}

#[test]
fn every_transition_is_allowed_or_refused_as_the_table_says() {
    // The table of docs/itsm.md, written out independently of `allowed_next`.
    let legal: &[(IncidentState, IncidentState)] = &[
        (New, InProgress),
        (New, OnHold),
        (New, Resolved),
        (New, Cancelled),
        (InProgress, OnHold),
        (InProgress, Resolved),
        (InProgress, Cancelled),
        (OnHold, InProgress),
        (OnHold, Resolved),
        (OnHold, Cancelled),
        (Resolved, InProgress),
        (Resolved, Closed),
    ];
    let store = memory();
    for from in IncidentState::ALL {
        for target in IncidentState::ALL {
            let incident = incident_in(store.as_ref(), from);
            let result =
                transition_incident(store.as_ref(), &agent(), &incident.id, to(target), at(60));
            if legal.contains(&(from, target)) {
                let moved = result.unwrap_or_else(|e| panic!("{from} -> {target}: {e}"));
                assert_eq!(moved.state, target);
                let last = moved.state_changes.last().unwrap();
                assert_eq!((last.from, last.to, last.at), (from, target, at(60)));
            } else {
                match result {
                    Err(ItsmError::IllegalTransition {
                        record,
                        from: f,
                        to: t,
                        allowed,
                    }) => {
                        assert_eq!(record, incident.id);
                        assert_eq!((f, t), (from.to_string(), target.to_string()));
                        let expected: Vec<String> = legal
                            .iter()
                            .filter(|(a, _)| *a == from)
                            .map(|(_, b)| b.to_string())
                            .collect();
                        if expected.is_empty() {
                            assert_eq!(allowed, format!("none ({from} is final)"));
                        } else {
                            assert_eq!(allowed, expected.join(", "));
                        }
                    }
                    other => panic!("{from} -> {target} should be refused, got {other:?}"),
                }
            }
        }
    }
}

#[test]
fn the_error_message_lists_the_allowed_moves() {
    let store = memory();
    let incident = incident_in(store.as_ref(), New);
    let error =
        transition_incident(store.as_ref(), &agent(), &incident.id, to(Closed), at(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot move INC-000001 from New to Closed; allowed: In progress, On hold, Resolved, Cancelled"
    );
}

#[test]
fn resolving_needs_code_and_notes_and_reopening_clears_them() {
    let store = memory();
    let incident = incident_in(store.as_ref(), InProgress);
    let mut request = to(Resolved);
    request.resolution_notes = Some("   ".into());
    let error =
        transition_incident(store.as_ref(), &agent(), &incident.id, request, at(5)).unwrap_err();
    assert!(error.to_string().contains("resolution_notes"), "{error}");
    let mut request = to(Resolved);
    request.resolution_code = None;
    let error =
        transition_incident(store.as_ref(), &agent(), &incident.id, request, at(5)).unwrap_err();
    assert!(error.to_string().contains("resolution_code"), "{error}");

    let resolved =
        transition_incident(store.as_ref(), &agent(), &incident.id, to(Resolved), at(5)).unwrap();
    assert_eq!(resolved.resolved_at, Some(at(5)));
    assert_eq!(
        resolved.resolution_code,
        Some(ResolutionCode::SolvedPermanently)
    );
    let reopened = transition_incident(
        store.as_ref(),
        &agent(),
        &incident.id,
        to(InProgress),
        at(6),
    )
    .unwrap();
    assert_eq!(
        (reopened.resolved_at, reopened.resolution_code),
        (None, None)
    );
    let fields: Vec<String> = history(store.as_ref(), &incident.id)
        .unwrap()
        .into_iter()
        .filter(|e| e.at == at(6))
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "resolution_code",
            "resolution_notes",
            "resolved_at",
            "state"
        ]
    );
}

#[test]
fn numbers_are_sequential_per_kind_and_priority_follows_the_matrix() {
    let (store, _guard) = sled();
    let dir = directory();
    let first = create_incident(
        store.as_ref(),
        &dir,
        &agent(),
        new_incident("a", 1, 1, &[]),
        T0,
    )
    .unwrap();
    let second = create_incident(
        store.as_ref(),
        &dir,
        &agent(),
        new_incident("b", 3, 2, &[]),
        T0,
    )
    .unwrap();
    assert_eq!(
        (first.id.as_str(), first.priority),
        ("INC-000001", Priority::P1)
    );
    assert_eq!(
        (second.id.as_str(), second.priority),
        ("INC-000002", Priority::P4)
    );
    let update = IncidentUpdate {
        urgency: Some(Level::HIGH),
        ..Default::default()
    };
    let updated = update_incident(store.as_ref(), &agent(), &second.id, update, at(1)).unwrap();
    assert_eq!(updated.priority, Priority::P3);
    assert_eq!(get_incident(store.as_ref(), "INC-000002").unwrap(), updated);
    let entries = history(store.as_ref(), "INC-000002").unwrap();
    let changed: Vec<(&str, String, String)> = entries
        .iter()
        .map(|e| (e.field.as_str(), e.old.to_string(), e.new.to_string()))
        .collect();
    assert_eq!(
        changed,
        [
            ("record", "null".into(), "\"created\"".into()),
            ("priority", "\"P4\"".into(), "\"P3\"".into()),
            ("urgency", "2".into(), "1".into()),
        ]
    );
}

#[test]
fn unknown_cis_bad_titles_and_unknown_ids_are_refused() {
    let store = memory();
    let dir = directory();
    let error = create_incident(
        store.as_ref(),
        &dir,
        &agent(),
        new_incident("x", 1, 1, &["ci-999999"]),
        T0,
    )
    .unwrap_err();
    assert!(matches!(&error, ItsmError::UnknownCi { ci } if ci == "ci-999999"));
    let error = create_incident(
        store.as_ref(),
        &dir,
        &agent(),
        new_incident("  ", 1, 1, &[]),
        T0,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "new incident: title is required");
    assert!(matches!(
        get_incident(store.as_ref(), "INC-000001"),
        Err(ItsmError::NotFound { .. })
    ));
    assert!(matches!(
        get_incident(store.as_ref(), "CHG-000001"),
        Err(ItsmError::BadId { .. })
    ));
}

#[test]
fn notes_are_kept_with_author_time_and_visibility() {
    let store = memory();
    let incident = incident_in(store.as_ref(), InProgress);
    let note = NewNote {
        text: "called the user".into(),
        visibility: Visibility::Internal,
    };
    let updated = add_incident_note(store.as_ref(), &agent(), &incident.id, note, at(9)).unwrap();
    assert_eq!(
        updated.notes,
        [Note {
            author: "alice".into(),
            at: at(9),
            text: "called the user".into(),
            visibility: Visibility::Internal
        }]
    );
    let closed = incident_in(store.as_ref(), Closed);
    let note = NewNote {
        text: "late".into(),
        visibility: Visibility::Public,
    };
    let error = add_incident_note(store.as_ref(), &agent(), &closed.id, note, at(9)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{} is Closed and can no longer be changed", closed.id)
    );
}

#[test]
fn lists_filter_and_paginate_stably_newest_first() {
    let store = memory();
    let dir = directory();
    for n in 0..7 {
        let cis: &[&str] = if n % 2 == 0 { &["ci-000001"] } else { &[] };
        let title = if n % 3 == 0 {
            "Mail DOWN"
        } else {
            "printer jam"
        };
        create_incident(
            store.as_ref(),
            &dir,
            &agent(),
            new_incident(title, 1 + n % 3, 1, cis),
            at(n.into()),
        )
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list_incidents(
            store.as_ref(),
            &IncidentFilter::default(),
            cursor.as_deref(),
            3,
        )
        .unwrap();
        // A record created between pages must not shift the pages already walked.
        if cursor.is_none() {
            create_incident(
                store.as_ref(),
                &dir,
                &agent(),
                new_incident("later", 1, 1, &[]),
                at(99),
            )
            .unwrap();
        }
        seen.extend(page.items.into_iter().map(|i| i.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=7).rev().map(|n| format!("INC-{n:06}")).collect();
    assert_eq!(seen, expected);

    let ids = |filter: IncidentFilter| -> Vec<String> {
        list_incidents(store.as_ref(), &filter, None, 50)
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    let by_ci = ids(IncidentFilter {
        ci: Some("ci-000001".into()),
        ..Default::default()
    });
    assert_eq!(
        by_ci,
        ["INC-000007", "INC-000005", "INC-000003", "INC-000001"]
    );
    let by_text = ids(IncidentFilter {
        text: Some("mail down".into()),
        ..Default::default()
    });
    assert_eq!(by_text, ["INC-000007", "INC-000004", "INC-000001"]);
    let by_priority = ids(IncidentFilter {
        priority: Some(Priority::P2),
        state: Some(New),
        ..Default::default()
    });
    assert_eq!(by_priority, ["INC-000005", "INC-000002"]);
    // Walking an index page by page (from the cursor, not the whole index each time) gives the
    // same records in the same order as one big page.
    let paged = |filter: IncidentFilter| -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = list_incidents(store.as_ref(), &filter, cursor.as_deref(), 1).unwrap();
            seen.extend(page.items.into_iter().map(|i| i.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return seen,
            }
        }
    };
    let ci_filter = IncidentFilter {
        ci: Some("ci-000001".into()),
        ..Default::default()
    };
    assert_eq!(paged(ci_filter.clone()), ids(ci_filter));
    let state_filter = IncidentFilter {
        state: Some(New),
        ..Default::default()
    };
    assert_eq!(paged(state_filter.clone()).len(), 8);
    assert_eq!(paged(state_filter.clone()), ids(state_filter));
    let error = list_incidents(
        store.as_ref(),
        &IncidentFilter::default(),
        Some("garbage"),
        3,
    )
    .unwrap_err();
    assert!(matches!(error, ItsmError::BadId { .. }));
}

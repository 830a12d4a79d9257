//! Incidents and changes: their state machines, approvals and overlapping windows.

use super::*;

#[tokio::test]
async fn an_incident_moves_through_its_lifecycle_over_http_and_refuses_an_illegal_move() {
    let env = Env::start().await;
    let (_agent, ci) = env.machine("web-01").await;
    let desk = Role::ServiceDesk;

    let (status, created) = env
        .call(
            desk,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "web-01 returns 502", "impact": 1, "urgency": 2, "affected_cis": [ci], "assignee": "bob"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["priority"], "P2", "impact 1 × urgency 2 is P2");
    assert_eq!(created["state"], "new");
    assert_eq!(created["opened_by"], "servicedesk");

    let updated = env
        .ok(
            desk,
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"urgency": 1})),
        )
        .await;
    assert_eq!(updated["priority"], "P1");

    let (status, refused) = env
        .call(
            desk,
            Method::POST,
            &format!("/api/v1/incidents/{id}/transition"),
            Some(json!({"to": "closed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "conflict");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("allowed: In progress, On hold, Resolved, Cancelled"),
        "{message}"
    );

    env.ok(
        desk,
        Method::POST,
        &format!("/api/v1/incidents/{id}/transition"),
        Some(json!({"to": "in_progress"})),
    )
    .await;
    let (status, noted) = env
        .call(
            desk,
            Method::POST,
            &format!("/api/v1/incidents/{id}/notes"),
            Some(json!({"text": "restarted nginx", "visibility": "internal"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(noted["notes"][0]["text"], "restarted nginx");
    let (status, invalid) = env
        .call(
            desk,
            Method::POST,
            &format!("/api/v1/incidents/{id}/transition"),
            Some(json!({"to": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
    assert!(
        invalid["message"]
            .as_str()
            .unwrap()
            .contains("resolution_code")
    );
    let resolved = env
        .ok(
            desk,
            Method::POST,
            &format!("/api/v1/incidents/{id}/transition"),
            Some(json!({"to": "resolved", "resolution_code": "solved_permanently", "resolution_notes": "nginx restarted"})),
        )
        .await;
    assert_eq!(resolved["state"], "resolved");

    // Filters and pages.
    env.ok(
        desk,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"title": "disk full", "impact": 3, "urgency": 3})),
    )
    .await;
    let resolved_only = env
        .ok(
            Role::Auditor,
            Method::GET,
            "/api/v1/incidents?state=resolved",
            None,
        )
        .await;
    assert_eq!(ids(&resolved_only), [id.as_str()]);
    let by_ci = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/incidents?ci={ci}&assignee=bob&text=502"),
            None,
        )
        .await;
    assert_eq!(ids(&by_ci), [id.as_str()]);
    let first_page = env
        .ok(
            Role::Auditor,
            Method::GET,
            "/api/v1/incidents?limit=1",
            None,
        )
        .await;
    let cursor = first_page["next_cursor"].as_str().unwrap().to_string();
    let second_page = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/incidents?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(ids(&second_page), [id.as_str()]);
    assert_eq!(second_page["next_cursor"], Value::Null);
    let (status, _) = env
        .call(
            Role::Auditor,
            Method::GET,
            "/api/v1/incidents?priority=P9",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, missing) = env
        .call(
            Role::Auditor,
            Method::GET,
            "/api/v1/incidents/INC-999999",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    let (status, _) = env
        .call(
            desk,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "x", "impact": 1, "urgency": 1, "affected_cis": ["ci-999999"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let history = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/incidents/{id}/history"),
            None,
        )
        .await;
    let fields: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"record") && fields.contains(&"state"),
        "{fields:?}"
    );

    let records = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/assets/{ci}/records"),
            None,
        )
        .await;
    assert_eq!(records["incidents"][0]["id"], id.as_str());
    let (status, _) = env
        .call(
            Role::Auditor,
            Method::GET,
            "/api/v1/assets/ci-999999/records",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_change_is_approved_by_an_approver_only_and_overlapping_windows_warn() {
    let env = Env::start().await;
    let (_agent, ci) = env.machine("db-01").await;
    let desk = Role::ServiceDesk;

    let (status, created) = env
        .call(
            desk,
            Method::POST,
            "/api/v1/changes",
            Some(change_request(&ci, 60, 120)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["warnings"], json!([]));
    let id = created["record"]["id"].as_str().unwrap().to_string();
    let transition = format!("/api/v1/changes/{id}/transition");

    env.ok(
        desk,
        Method::POST,
        &transition,
        Some(json!({"to": "assessment"})),
    )
    .await;
    let (status, refused) = env
        .call(
            desk,
            Method::POST,
            &transition,
            Some(json!({"to": "approved"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("approver"));
    let (status, refused) = env
        .call(
            Role::Approver,
            Method::POST,
            &transition,
            Some(json!({"to": "scheduled"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an approver decides, it does not schedule: {refused}"
    );

    let approved = env
        .ok(
            Role::Approver,
            Method::POST,
            &transition,
            Some(json!({"to": "approved", "note": "low blast radius"})),
        )
        .await;
    assert_eq!(approved["record"]["state"], "approved");
    assert_eq!(approved["record"]["approver"], "approver");
    assert_eq!(approved["record"]["decision_note"], "low blast radius");

    let (status, illegal) = env
        .call(
            desk,
            Method::POST,
            &transition,
            Some(json!({"to": "closed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        illegal["message"]
            .as_str()
            .unwrap()
            .contains("allowed: Scheduled, Cancelled")
    );
    let scheduled = env
        .ok(
            desk,
            Method::POST,
            &transition,
            Some(json!({"to": "scheduled"})),
        )
        .await;
    assert_eq!(scheduled["record"]["state"], "scheduled");

    // A second change on the same CI whose window overlaps the first one's.
    let (status, overlapping) = env
        .call(
            desk,
            Method::POST,
            "/api/v1/changes",
            Some(change_request(&ci, 90, 150)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let warning = &overlapping["warnings"][0];
    assert_eq!(warning["code"], "window_overlap", "{overlapping}");
    assert_eq!(warning["record"], id.as_str());
    assert_eq!(warning["ci"], ci.as_str());
    let other = overlapping["record"]["id"].as_str().unwrap().to_string();
    let (status, bad_patch) = env
        .call(
            desk,
            Method::PATCH,
            &format!("/api/v1/changes/{other}"),
            Some(json!({"title": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad_patch}");

    let incident = env
        .ok(desk, Method::POST, "/api/v1/incidents", Some(json!({"title": "db slow after upgrade", "impact": 2, "urgency": 2, "affected_cis": [ci]})))
        .await;
    let linked = env
        .ok(
            desk,
            Method::POST,
            &format!("/api/v1/changes/{id}/incidents"),
            Some(json!({"incident": incident["id"], "relation": "caused_by"})),
        )
        .await;
    assert_eq!(linked["related_incidents"][0]["relation"], "caused_by");

    let scheduled_only = env
        .ok(
            Role::Approver,
            Method::GET,
            &format!("/api/v1/changes?state=scheduled&ci={ci}"),
            None,
        )
        .await;
    assert_eq!(ids(&scheduled_only), [id.as_str()]);
    let history = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/changes/{id}/history"),
            None,
        )
        .await;
    assert!(history.as_array().unwrap().len() >= 4, "{history}");

    // Problems group incidents.
    let (status, problem) = env
        .call(
            desk,
            Method::POST,
            "/api/v1/problems",
            Some(json!({"title": "upgrades slow the db", "linked_cis": [ci]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let problem_id = problem["id"].as_str().unwrap();
    let grouped = env
        .ok(
            desk,
            Method::POST,
            &format!("/api/v1/problems/{problem_id}/incidents"),
            Some(json!({"incident": incident["id"]})),
        )
        .await;
    assert_eq!(grouped["incidents"][0], incident["id"]);
    let (status, refused) = env
        .call(
            desk,
            Method::POST,
            &format!("/api/v1/problems/{problem_id}/transition"),
            Some(json!({"to": "known_error"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "New -> Known error is illegal: {refused}"
    );
    env.ok(
        desk,
        Method::POST,
        &format!("/api/v1/problems/{problem_id}/transition"),
        Some(json!({"to": "investigating"})),
    )
    .await;
    let listed = env
        .ok(
            Role::Auditor,
            Method::GET,
            "/api/v1/problems?state=investigating",
            None,
        )
        .await;
    assert_eq!(ids(&listed), [problem_id.to_string()]);
}

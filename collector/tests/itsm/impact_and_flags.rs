//! Impact across relationships, and unauthorized-change flags from real agent reports.

use super::*;

#[tokio::test]
async fn relationships_give_impact_across_a_cycle() {
    let env = Env::start().await;
    let (_a, app) = env.machine("app-01").await;
    let (_b, db) = env.machine("db-01").await;
    let (_c, cache) = env.machine("cache-01").await;
    let manager = Role::AssetManager;
    for (from, kind, to) in [
        (&app, "depends_on", &db),
        (&db, "depends_on", &cache),
        (&cache, "depends_on", &app),
    ] {
        let (status, created) = env
            .call(
                manager,
                Method::POST,
                "/api/v1/relationships",
                Some(json!({"from": from, "kind": kind, "to": to})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["created_by"], "assetmanager");
    }
    let (status, duplicate) = env
        .call(
            manager,
            Method::POST,
            "/api/v1/relationships",
            Some(json!({"from": app, "kind": "depends_on", "to": db})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");

    let impact = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/impact?ci={db}"),
            None,
        )
        .await;
    let impacted: Vec<(&str, u64)> = impact["cis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ci"].as_str().unwrap(), c["depth"].as_u64().unwrap()))
        .collect();
    // db is used by app (1 hop); app is used by cache (2 hops); the walk ends at the cycle.
    assert_eq!(
        impacted,
        [(app.as_str(), 1), (cache.as_str(), 2)],
        "{impact}"
    );
    assert_eq!(impact["truncated"], false);
    let both = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/impact?ci={db},{cache}"),
            None,
        )
        .await;
    assert_eq!(both["cis"].as_array().unwrap().len(), 1, "{both}");
    let (status, _) = env
        .call(Role::Auditor, Method::GET, "/api/v1/impact", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let views = env
        .ok(
            Role::AssetManager,
            Method::GET,
            &format!("/api/v1/relationships?ci={db}"),
            None,
        )
        .await;
    let labels: Vec<&str> = views["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["depends on", "used by"]);

    let deleted = env
        .ok(
            manager,
            Method::DELETE,
            &format!("/api/v1/relationships?from={cache}&kind=depends_on&to={app}"),
            None,
        )
        .await;
    assert_eq!(deleted["from"], cache.as_str());
    let (status, _) = env
        .call(
            manager,
            Method::DELETE,
            &format!("/api/v1/relationships?from={cache}&kind=depends_on&to={app}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = env
        .ok(
            Role::Auditor,
            Method::GET,
            "/api/v1/audit?action=relationship.",
            None,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "relationship.delete",
            "relationship.create",
            "relationship.create",
            "relationship.create"
        ]
    );
}

#[tokio::test]
async fn an_upgrade_reported_by_a_real_agent_is_flagged_unless_an_approved_change_covers_it() {
    let env = Env::start().await;
    let (mut rogue, rogue_ci) = env.machine("web-01").await;
    let (mut planned, planned_ci) = env.machine("web-02").await;
    assert_ne!(rogue_ci, planned_ci);

    // web-02 has an approved change whose window covers now; web-01 has none.
    let created = env
        .ok(
            Role::ServiceDesk,
            Method::POST,
            "/api/v1/changes",
            Some(change_request(&planned_ci, -30, 30)),
        )
        .await;
    let change = created["record"]["id"].as_str().unwrap().to_string();
    let transition = format!("/api/v1/changes/{change}/transition");
    env.ok(
        Role::ServiceDesk,
        Method::POST,
        &transition,
        Some(json!({"to": "assessment"})),
    )
    .await;
    env.ok(
        Role::Approver,
        Method::POST,
        &transition,
        Some(json!({"to": "approved"})),
    )
    .await;

    let report = "/api/v1/reports/unauthorized-changes";
    let before = env.ok(Role::Auditor, Method::GET, report, None).await;
    assert_eq!(
        ids(&before).len(),
        0,
        "first reports create CIs and flag nothing"
    );

    env.report(&mut rogue, &inventory("web-01", "3.0.13")).await;
    env.report(&mut planned, &inventory("web-02", "3.0.13"))
        .await;

    let flagged = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("{report}?ci={rogue_ci}"),
            None,
        )
        .await;
    let items = flagged["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{flagged}");
    assert_eq!(items[0]["status"], "open");
    assert_eq!(items[0]["change"]["kind"], "package_upgraded");
    assert_eq!(items[0]["change"]["subject"], "openssl:amd64");
    assert_eq!(items[0]["change"]["old"], "3.0.2");
    assert_eq!(items[0]["change"]["new"], "3.0.13");
    let covered = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("{report}?ci={planned_ci}"),
            None,
        )
        .await;
    assert_eq!(
        ids(&covered).len(),
        0,
        "the approved change covers web-02: {covered}"
    );
    let all = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("{report}?status=open&kind=package_upgraded"),
            None,
        )
        .await;
    assert_eq!(ids(&all).len(), 1);

    // A person handles the flag: the auditor may not, the service desk may.
    let flag = items[0]["id"].as_str().unwrap().to_string();
    let (status, _) = env
        .call(
            Role::Auditor,
            Method::POST,
            &format!("{report}/{flag}/acknowledge"),
            Some(json!({"note": "seen"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let acknowledged = env
        .ok(
            Role::ServiceDesk,
            Method::POST,
            &format!("{report}/{flag}/acknowledge"),
            Some(json!({"note": "security update by on-call"})),
        )
        .await;
    assert_eq!(acknowledged["status"], "acknowledged");
    let linked = env
        .ok(
            Role::ServiceDesk,
            Method::POST,
            &format!("{report}/{flag}/link"),
            Some(json!({"change": change})),
        )
        .await;
    assert_eq!(linked["status"], "linked");
    assert_eq!(linked["linked_change"], change.as_str());
    let history = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("{report}/{flag}/history"),
            None,
        )
        .await;
    let fields: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["actor"].as_str().unwrap(),
                entry["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(fields[0], ("discovery", "record"), "{history}");
    assert!(fields.contains(&("servicedesk", "note")), "{history}");
    assert!(
        fields.contains(&("servicedesk", "linked_change")),
        "{history}"
    );

    // The incident context shows the hardware summary and the discovered upgrade.
    let incident = env
        .ok(Role::ServiceDesk, Method::POST, "/api/v1/incidents", Some(json!({"title": "TLS handshakes fail", "impact": 2, "urgency": 1, "affected_cis": [rogue_ci]})))
        .await;
    let id = incident["id"].as_str().unwrap();
    let context = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/incidents/{id}/context?days=1"),
            None,
        )
        .await;
    let ci = &context["cis"][0];
    assert_eq!(ci["ci"], rogue_ci.as_str());
    assert_eq!(ci["summary"]["name"], "web-01");
    assert_eq!(ci["summary"]["model"], "PowerEdge R650");
    assert_eq!(ci["summary"]["serial"], "SN-web-01");
    assert_eq!(ci["summary"]["cpu_cores"], 32);
    assert_eq!(ci["summary"]["memory_bytes"], 64u64 << 30);
    let discovered = ci["discovered_changes"].as_array().unwrap();
    assert_eq!(discovered.len(), 1, "{context}");
    assert_eq!(discovered[0]["kind"], "package_upgraded");
    assert_eq!(discovered[0]["new"], "3.0.13");
    let (status, _) = env
        .call(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/incidents/{id}/context?days=0"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Every write by a person is audited with who, role and where from.
    let audit = env
        .ok(Role::Auditor, Method::GET, "/api/v1/audit?limit=500", None)
        .await;
    let entries = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "incident.create",
            "unauthorized.link_change",
            "unauthorized.acknowledge",
            "change.transition",
            "change.transition",
            "change.create",
        ]
    );
    let approval = &entries[3];
    assert_eq!(approval["actor"], "approver");
    assert_eq!(approval["role"], "approver");
    assert_eq!(approval["source"], "127.0.0.1");
    assert_eq!(approval["record"], change.as_str());
    let only_flags = env
        .ok(
            Role::Auditor,
            Method::GET,
            &format!("/api/v1/audit?record={flag}"),
            None,
        )
        .await;
    assert_eq!(only_flags["items"].as_array().unwrap().len(), 2);
    let (status, _) = env
        .call(
            Role::Auditor,
            Method::GET,
            "/api/v1/audit?since=yesterday",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

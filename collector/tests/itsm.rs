//! The ITSM HTTP API through the real path: TLS on 127.0.0.1:0, sled in a temp dir, API tokens for every
//! role, and CIs created by real enrolled agents sending real reports over mTLS.

mod common;

use census_collector::auth::Role;
use census_shared::inventory::{Disk, Inventory, Package, SCHEMA_VERSION};
use census_shared::protocol::{ReportOutcome, ReportResponse};
use common::{ROLES, TestCollector};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The shared test collector, plus this file's call helpers.
struct Env(TestCollector);

impl std::ops::Deref for Env {
    type Target = TestCollector;
    fn deref(&self) -> &TestCollector {
        &self.0
    }
}

/// An enrolled agent and its mTLS client.
struct Agent {
    id: String,
    http: reqwest::Client,
    seq: u64,
}

impl Env {
    async fn start() -> Self {
        Self(TestCollector::start().await)
    }

    /// One API call as `role`; the status and the JSON answer.
    async fn call(
        &self,
        role: Role,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.0
            .call(Some(self.token(role)), method, path, body)
            .await
    }

    async fn ok(&self, role: Role, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(role, method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    async fn enroll(&self) -> Agent {
        let (id, http) = self.0.enroll().await;
        Agent { id, http, seq: 0 }
    }

    /// Sends `inventory` as a full report and returns the agent's CI id.
    async fn report(&self, agent: &mut Agent, inventory: &Inventory) -> String {
        agent.seq += 1;
        let response = self
            .0
            .report(&agent.http, &agent.id, agent.seq, inventory)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: ReportResponse = response.json().await.unwrap();
        assert_eq!(answer.outcome, ReportOutcome::Applied);
        self.ci_of(&agent.id)
    }

    /// A new agent reporting a machine named `host`; returns the agent and its CI.
    async fn machine(&self, host: &str) -> (Agent, String) {
        let mut agent = self.enroll().await;
        let ci = self.report(&mut agent, &inventory(host, "3.0.2")).await;
        (agent, ci)
    }
}

fn inventory(host: &str, openssl: &str) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = rfc3339(OffsetDateTime::now_utc());
    inventory.host.hostname = Some(host.into());
    inventory.host.machine_id = Some(format!("machine-id-of-{host}"));
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.product = Some("PowerEdge R650".into());
    inventory.hardware.system.serial = Some(format!("SN-{host}"));
    inventory.hardware.cpu.model = Some("Intel(R) Xeon(R) Gold 6338".into());
    inventory.hardware.cpu.physical_cores = Some(32);
    inventory.hardware.memory.total_bytes = Some(64 << 30);
    inventory.hardware.disks = vec![Disk {
        name: "sda".into(),
        serial: Some(format!("DISK-{host}")),
        size_bytes: Some(480 << 30),
        ..Disk::default()
    }];
    inventory.software.packages = vec![
        Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: openssl.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        },
        Package {
            manager: "dpkg".into(),
            name: "bash".into(),
            version: "5.2.21-2".into(),
            arch: Some("amd64".into()),
            ..Package::default()
        },
    ];
    inventory.canonicalize();
    inventory
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

/// A normal change on `ci` with both plans and a window from `start` to `end` minutes from now.
fn change_request(ci: &str, start: i64, end: i64) -> Value {
    let now = OffsetDateTime::now_utc();
    json!({
        "title": "upgrade openssl",
        "change_type": "normal",
        "risk": "moderate",
        "window": {
            "start": rfc3339(now + time::Duration::minutes(start)),
            "end": rfc3339(now + time::Duration::minutes(end)),
        },
        "implementation_plan": "apt-get install openssl",
        "backout_plan": "apt-get install openssl=3.0.2",
        "affected_cis": [ci],
    })
}

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Group {
    ReadRecords,
    WriteIncidents,
    WriteChanges,
    ApproveChange,
    WriteRelationships,
    ReadAudit,
}

#[tokio::test]
async fn every_role_gets_exactly_its_endpoint_groups() {
    use Group::*;
    let env = Env::start().await;
    let (_a, ci) = env.machine("rbac-01").await;
    let (_b, other) = env.machine("rbac-02").await;
    // One change in Assessment per role, so each allowed approval meets a change it can decide.
    let mut changes = Vec::new();
    for _ in ROLES {
        let created = env
            .ok(
                Role::Admin,
                Method::POST,
                "/api/v1/changes",
                Some(change_request(&ci, 600, 660)),
            )
            .await;
        let id = created["record"]["id"].as_str().unwrap().to_string();
        env.ok(
            Role::Admin,
            Method::POST,
            &format!("/api/v1/changes/{id}/transition"),
            Some(json!({"to": "assessment"})),
        )
        .await;
        changes.push(id);
    }
    let table: [(Role, &[Group]); 5] = [
        (
            Role::Admin,
            &[
                ReadRecords,
                WriteIncidents,
                WriteChanges,
                ApproveChange,
                WriteRelationships,
                ReadAudit,
            ],
        ),
        (Role::AssetManager, &[WriteRelationships]),
        (
            Role::ServiceDesk,
            &[ReadRecords, WriteIncidents, WriteChanges],
        ),
        (Role::Auditor, &[ReadRecords, ReadAudit]),
        (Role::Approver, &[ReadRecords, ApproveChange]),
    ];
    let groups = [
        ReadRecords,
        WriteIncidents,
        WriteChanges,
        ApproveChange,
        WriteRelationships,
        ReadAudit,
    ];
    for (index, (role, granted)) in table.iter().enumerate() {
        for group in groups {
            let (method, path, body) = match group {
                ReadRecords => (Method::GET, "/api/v1/incidents".to_string(), None),
                WriteIncidents => (
                    Method::POST,
                    "/api/v1/incidents".to_string(),
                    Some(json!({"title": "rbac", "impact": 2, "urgency": 2, "affected_cis": [ci]})),
                ),
                WriteChanges => (
                    Method::POST,
                    "/api/v1/changes".to_string(),
                    Some(change_request(&ci, 900, 960)),
                ),
                ApproveChange => (
                    Method::POST,
                    format!("/api/v1/changes/{}/transition", changes[index]),
                    Some(json!({"to": "approved"})),
                ),
                WriteRelationships => (
                    Method::POST,
                    "/api/v1/relationships".to_string(),
                    Some(json!({"from": other, "kind": "depends_on", "to": ci})),
                ),
                ReadAudit => (Method::GET, "/api/v1/audit".to_string(), None),
            };
            let (status, answer) = env.call(*role, method, &path, body).await;
            if granted.contains(&group) {
                assert!(
                    status.is_success()
                        || (group == WriteRelationships && status == StatusCode::CONFLICT),
                    "{role:?} {group:?}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role:?} {group:?}: {answer}"
                );
                assert_eq!(answer["code"], "forbidden");
            }
        }
    }
    let response = env
        .http
        .get(env.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

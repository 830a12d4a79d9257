//! The CMDB health report over HTTPS on real sled, with CIs from real enrolled agents' reports; and the
//! role table for the endpoint groups added with it (users and tokens, the health report, the OpenAPI
//! document), every role against every group.

mod common;

use census_collector::auth::Role;
use census_collector::itsm::health_history;
use census_shared::inventory::{Inventory, Package, SCHEMA_VERSION};
use common::TestCollector;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

struct Env(TestCollector);

impl std::ops::Deref for Env {
    type Target = TestCollector;
    fn deref(&self) -> &TestCollector {
        &self.0
    }
}

impl Env {
    async fn start() -> Self {
        Self(TestCollector::start().await)
    }

    /// One call as `role` (no token when `None`); the status and the JSON answer.
    async fn call(
        &self,
        role: Option<Role>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let token = role.map(|role| self.token(role));
        self.0.call(token, method, path, body).await
    }

    async fn ok(&self, role: Role, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(Some(role), method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    /// A new agent reports `inventory`; returns its mTLS client, its id and its CI id.
    async fn machine(&self, inventory: &Inventory) -> (reqwest::Client, String, String) {
        let (agent_id, http) = self.enroll().await;
        self.send(&http, &agent_id, 1, inventory).await;
        let ci = self.ci_of(&agent_id);
        (http, agent_id, ci)
    }

    async fn send(&self, http: &reqwest::Client, agent_id: &str, seq: u64, inventory: &Inventory) {
        let response = self.report(http, agent_id, seq, inventory).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// A machine as an agent reports it; `serial: false` leaves the serial unknown.
fn inventory(host: &str, serial: bool, openssl: &str) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    inventory.host.hostname = Some(host.into());
    inventory.host.machine_id = Some(format!("machine-id-of-{host}"));
    inventory.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
    inventory.hardware.system.serial = serial.then(|| format!("SN-{host}"));
    inventory.hardware.memory.total_bytes = Some(16 << 30);
    inventory.software.packages = vec![Package {
        manager: "dpkg".into(),
        name: "openssl".into(),
        version: openssl.into(),
        arch: Some("amd64".into()),
        ..Package::default()
    }];
    inventory.canonicalize();
    inventory
}

fn ids(dimension: &Value) -> Vec<&str> {
    dimension["cis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ci| ci["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_live_report_judges_staleness_by_the_configured_period() {
    let env =
        Env(
            TestCollector::start_with(|settings| settings.stale_after = Duration::from_secs(1))
                .await,
        );
    let (_, _, ci) = env.machine(&inventory("app-01", true, "3.0.2")).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let report = env
        .ok(Role::Auditor, Method::GET, "/api/v1/reports/health", None)
        .await;
    assert_eq!(report["stale_after_seconds"], 1, "{report}");
    assert_eq!(ids(&report["staleness"]), [ci.as_str()], "{report}");
    // The query parameter still overrides it.
    let report = env
        .ok(
            Role::Auditor,
            Method::GET,
            "/api/v1/reports/health?stale_after=7d",
            None,
        )
        .await;
    assert_eq!(report["staleness"]["count"], 0, "{report}");
}

#[tokio::test]
async fn the_health_report_scores_each_dimension_over_real_reports() {
    let env = Env::start().await;
    let (_, _, first) = env.machine(&inventory("app-01", true, "3.0.2")).await;
    let (rogue, rogue_agent, second) = env.machine(&inventory("app-02", false, "3.0.2")).await;
    let (_, _, third) = env.machine(&inventory("app-03", true, "3.0.2")).await;
    let (_, _, fourth) = env.machine(&inventory("app-04", true, "3.0.2")).await;

    // app-01 complete and owned; app-03 owned by nobody but something depends on it; app-04 retired.
    for (ci, patch) in [
        (
            &first,
            json!({"owner": "web team", "location": "DC1 rack 4"}),
        ),
        (&third, json!({"location": "DC1 rack 5", "status": "stale"})),
        (&fourth, json!({"status": "retired"})),
    ] {
        env.ok(
            Role::AssetManager,
            Method::PATCH,
            &format!("/api/v1/assets/{ci}"),
            Some(patch),
        )
        .await;
    }
    env.ok(
        Role::AssetManager,
        Method::POST,
        "/api/v1/relationships",
        Some(json!({"from": first, "kind": "depends_on", "to": third})),
    )
    .await;
    // app-02 upgrades openssl with no change covering it: an open unauthorized change.
    env.report(
        &rogue,
        &rogue_agent,
        2,
        &inventory("app-02", false, "3.0.13"),
    )
    .await;

    let report = env
        .ok(
            Role::Auditor,
            Method::GET,
            "/api/v1/reports/health?limit=10",
            None,
        )
        .await;
    assert_eq!(
        report["total_cis"], 3,
        "the retired CI is not counted: {report}"
    );
    assert_eq!(report["completeness"]["count"], 1);
    assert_eq!(report["completeness"]["percent"], 33.3);
    assert_eq!(
        ids(&report["completeness"]),
        [second.as_str(), third.as_str()]
    );
    assert_eq!(
        report["completeness"]["cis"][0]["missing"],
        json!(["serial", "owner", "location"])
    );
    assert_eq!(report["completeness"]["cis"][0]["hostname"], "app-02");
    assert_eq!(ids(&report["staleness"]), [third.as_str()]);
    assert_eq!(
        ids(&report["orphans"]),
        [second.as_str()],
        "app-03 has a relationship"
    );
    assert_eq!(ids(&report["unauthorized_changes"]), [second.as_str()]);
    assert_eq!(report["conflicts"]["count"], 0);
    assert_eq!(report["stale_after_seconds"], 7 * 86_400);
    // (33.3 + 66.7 + 66.7 + 100 + 66.7) / 5
    assert_eq!(report["score"], 66.7);

    // A one-entry drill-down is marked truncated; a short stale period makes every CI stale.
    let report = env
        .ok(
            Role::AssetManager,
            Method::GET,
            "/api/v1/reports/health?limit=1&stale_after=1s",
            None,
        )
        .await;
    assert_eq!(ids(&report["completeness"]), [second.as_str()]);
    assert_eq!(report["completeness"]["truncated"], true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = env
        .ok(
            Role::Admin,
            Method::GET,
            "/api/v1/reports/health?stale_after=1s",
            None,
        )
        .await;
    assert_eq!(report["staleness"]["count"], 3, "{report}");
    let (status, answer) = env
        .call(
            Some(Role::Admin),
            Method::GET,
            "/api/v1/reports/health?stale_after=soon",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, answer) = env
        .call(
            Some(Role::Admin),
            Method::GET,
            "/api/v1/reports/health?colour=red",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");

    // The daily snapshot `serve` takes: once a day, listed newest first.
    let history = "/api/v1/reports/health/history";
    assert_eq!(
        env.ok(Role::Auditor, Method::GET, history, None).await,
        json!([])
    );
    let now = OffsetDateTime::now_utc();
    let week = Duration::from_secs(7 * 86_400);
    let cmdb = env.server.cmdb();
    assert!(health_history::record_today(&cmdb, env.store.as_ref(), now, week).unwrap());
    assert!(!health_history::record_today(&cmdb, env.store.as_ref(), now, week).unwrap());
    let snapshots = env.ok(Role::AssetManager, Method::GET, history, None).await;
    assert_eq!(snapshots.as_array().unwrap().len(), 1, "{snapshots}");
    assert_eq!(snapshots[0]["date"], health_history::date_of(now));
    assert_eq!(snapshots[0]["score"], 66.7);
    assert_eq!(snapshots[0]["total_cis"], 3);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    ReadUsers,
    WriteUsers,
    ReadTokens,
    WriteTokens,
    HealthReport,
    HealthHistory,
    OpenApi,
}

#[tokio::test]
async fn every_role_gets_exactly_the_user_token_and_report_groups() {
    use Group::*;
    let env = Env::start().await;
    let all = [
        ReadUsers,
        WriteUsers,
        ReadTokens,
        WriteTokens,
        HealthReport,
        HealthHistory,
        OpenApi,
    ];
    let table: [(Role, &[Group]); 5] = [
        (Role::Admin, &all),
        (Role::AssetManager, &[HealthReport, HealthHistory, OpenApi]),
        (Role::ServiceDesk, &[OpenApi]),
        (Role::Auditor, &[HealthReport, HealthHistory, OpenApi]),
        (Role::Approver, &[OpenApi]),
    ];
    for (role, granted) in table {
        for group in all {
            let name = format!("user-{role:?}").to_lowercase();
            let (method, path, body) = match group {
                ReadUsers => (Method::GET, "/api/v1/users".to_string(), None),
                WriteUsers => (
                    Method::POST,
                    "/api/v1/users".to_string(),
                    Some(json!({"name": name, "role": "auditor"})),
                ),
                ReadTokens => (Method::GET, "/api/v1/tokens".to_string(), None),
                WriteTokens => (
                    Method::POST,
                    "/api/v1/tokens".to_string(),
                    Some(json!({"user": "user-admin", "ttl_seconds": 60})),
                ),
                HealthReport => (Method::GET, "/api/v1/reports/health".to_string(), None),
                HealthHistory => (
                    Method::GET,
                    "/api/v1/reports/health/history".to_string(),
                    None,
                ),
                OpenApi => (Method::GET, "/api/v1/openapi.json".to_string(), None),
            };
            let (status, answer) = env.call(Some(role), method, &path, body).await;
            if granted.contains(&group) {
                assert!(status.is_success(), "{role:?} {group:?}: {status} {answer}");
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
    // Disabling and revoking are admin writes too.
    let (status, _) = env
        .call(
            Some(Role::Auditor),
            Method::POST,
            "/api/v1/users/user-admin/disable",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = env
        .call(
            Some(Role::AssetManager),
            Method::DELETE,
            "/api/v1/tokens/key-x",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = env
        .call(
            Some(Role::Admin),
            Method::DELETE,
            "/api/v1/tokens/key-x",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    // Without a token: the users, tokens and report need one; the OpenAPI document does not.
    for path in [
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/reports/health",
        "/api/v1/reports/health/history",
    ] {
        let (status, _) = env.call(None, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, document) = env
        .call(None, Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{document}"
    );
}

//! Every role against every endpoint group that `itsm.rs` (service-desk records) and `health.rs` (users,
//! tokens, reports, OpenAPI) leave out: inventory reads and edits, conflicts, the change feed,
//! relationships and impact, a CI's records, unauthorized changes, and the admin endpoints. Server-side
//! RBAC over HTTPS on real sled; a request without a token gets 401 everywhere.

mod common;

use census_collector::auth::Role;
use census_shared::inventory::{Inventory, SCHEMA_VERSION};
use common::{ROLES, TestCollector};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    ReadAssets,
    EditAssets,
    ResolveConflicts,
    ReadEvents,
    ReadRelationships,
    ReadCiRecords,
    ReadUnauthorized,
    AcknowledgeUnauthorized,
    Admin,
}

/// Which roles each group admits (the tables in docs/api.md and docs/itsm.md, "Roles").
fn admitted(group: Group) -> &'static [Role] {
    use Role::*;
    match group {
        Group::ReadAssets | Group::ReadEvents | Group::ReadRelationships => &ROLES,
        Group::EditAssets | Group::ResolveConflicts => &[Admin, AssetManager],
        Group::ReadCiRecords | Group::ReadUnauthorized => &[Admin, ServiceDesk, Auditor, Approver],
        Group::AcknowledgeUnauthorized => &[Admin, ServiceDesk],
        Group::Admin => &[Admin],
    }
}

/// The requests that stand for `group`; a missing id answers 404, which proves the role passed.
fn requests(group: Group, ci: &str) -> Vec<(Method, String, Option<Value>)> {
    let get = |path: String| (Method::GET, path, None);
    match group {
        Group::ReadAssets => vec![
            get("/api/v1/assets".into()),
            get(format!("/api/v1/assets/{ci}")),
            get(format!("/api/v1/assets/{ci}/history")),
            get("/api/v1/conflicts".into()),
        ],
        Group::EditAssets => vec![(
            Method::PATCH,
            format!("/api/v1/assets/{ci}"),
            Some(json!({"location": "DC2"})),
        )],
        Group::ResolveConflicts => vec![(
            Method::POST,
            "/api/v1/conflicts/cf-999999/resolve".into(),
            Some(json!({"action": "split"})),
        )],
        Group::ReadEvents => vec![get("/api/v1/events".into())],
        Group::ReadRelationships => vec![
            get(format!("/api/v1/relationships?ci={ci}")),
            get(format!("/api/v1/impact?ci={ci}")),
        ],
        Group::ReadCiRecords => vec![get(format!("/api/v1/assets/{ci}/records"))],
        Group::ReadUnauthorized => vec![get("/api/v1/reports/unauthorized-changes".into())],
        Group::AcknowledgeUnauthorized => vec![(
            Method::POST,
            "/api/v1/reports/unauthorized-changes/UAC-999999/acknowledge".into(),
            Some(json!({"note": "known maintenance"})),
        )],
        Group::Admin => vec![
            get("/api/v1/enroll-tokens".into()),
            get("/api/v1/agents".into()),
            get("/api/v1/admin/backup".into()),
        ],
    }
}

fn machine() -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = "2026-11-27T08:00:00Z".into();
    inventory.host.hostname = Some("roles-01".into());
    inventory.host.machine_id = Some("machine-id-of-roles-01".into());
    inventory.canonicalize();
    inventory
}

#[tokio::test]
async fn every_role_gets_exactly_the_inventory_link_and_admin_groups() {
    let collector = TestCollector::start().await;
    let (agent_id, agent) = collector.enroll().await;
    let response = collector.report(&agent, &agent_id, 1, &machine()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ci = collector.ci_of(&agent_id);

    let groups = [
        Group::ReadAssets,
        Group::EditAssets,
        Group::ResolveConflicts,
        Group::ReadEvents,
        Group::ReadRelationships,
        Group::ReadCiRecords,
        Group::ReadUnauthorized,
        Group::AcknowledgeUnauthorized,
        Group::Admin,
    ];
    for group in groups {
        for (method, path, body) in requests(group, &ci) {
            for role in ROLES {
                let token = Some(collector.token(role));
                let (status, answer) = collector
                    .call(token, method.clone(), &path, body.clone())
                    .await;
                if admitted(group).contains(&role) {
                    assert!(
                        status.is_success() || status == StatusCode::NOT_FOUND,
                        "{role:?} {group:?} {method} {path}: {status} {answer}"
                    );
                    if status == StatusCode::NOT_FOUND {
                        assert_eq!(answer["code"], "not_found", "{path}: {answer}");
                    }
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{role:?} {group:?} {method} {path}: {answer}"
                    );
                    assert_eq!(answer["code"], "forbidden");
                }
            }
            let (status, _) = collector.call(None, method.clone(), &path, body).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
        }
    }
}

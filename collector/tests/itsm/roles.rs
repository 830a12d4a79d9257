//! Which role reaches which ITSM endpoint group.

use super::*;

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

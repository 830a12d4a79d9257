//! The ITSM HTTP API under `/api/v1/`: incidents, changes, problems, relationships, impact, a CI's
//! records, unauthorized-change reports, audit and record history (see `docs/itsm.md`, "HTTP API").
//!
//! # Layout
//! - this file: [`routes`], the caller extractor [`Who`], role-based access ([`Permission`],
//!   [`allows`]), the mapping of [`ItsmError`] to API errors, and the shared request helpers;
//! - [`incidents`], [`changes`], [`problems`]: the record endpoints;
//! - [`links`]: relationships, impact, a CI's records, unauthorized changes and the audit log.
//! - [`health`]: the CMDB health report.
//!
//! Every handler checks the caller's permission first (server-side RBAC), decodes, runs one domain
//! function on the blocking pool and, for writes, waits for the group commit before answering. Writes
//! carry an [`Actor`]: the token's user, its role mapped to the ITSM role, and the client IP.
//!
//! Limitation: list filters are those of the domain filters; an unknown query parameter is refused (422)
//! rather than ignored, so a misspelt filter never silently returns everything.

pub mod changes;
pub mod health;
pub mod incidents;
pub mod links;
pub mod problems;

use super::body::{check_headers, decode_json, read_limited};
use super::error::{ApiError, CONFLICT, INVALID_REQUEST};
use super::{ApiState, blocking};
use crate::auth::{Caller, Role};
use crate::itsm::cmdb_directory::CmdbDirectory;
use crate::itsm::{self, Actor, ItsmError};
use crate::store::Store;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use time::OffsetDateTime;

/// Items per page when the request does not say.
pub const DEFAULT_LIMIT: usize = 50;

/// Every ITSM route; merged into [`super::router`].
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/incidents",
            post(incidents::create).get(incidents::list),
        )
        .route(
            "/api/v1/incidents/{id}",
            get(incidents::get_one).patch(incidents::update),
        )
        .route(
            "/api/v1/incidents/{id}/transition",
            post(incidents::transition),
        )
        .route("/api/v1/incidents/{id}/notes", post(incidents::add_note))
        .route("/api/v1/incidents/{id}/context", get(incidents::context))
        .route("/api/v1/incidents/{id}/history", get(incidents::history))
        .route("/api/v1/changes", post(changes::create).get(changes::list))
        .route(
            "/api/v1/changes/{id}",
            get(changes::get_one).patch(changes::update),
        )
        .route("/api/v1/changes/{id}/transition", post(changes::transition))
        .route(
            "/api/v1/changes/{id}/incidents",
            post(changes::link_incident),
        )
        .route("/api/v1/changes/{id}/history", get(changes::history))
        .route(
            "/api/v1/problems",
            post(problems::create).get(problems::list),
        )
        .route("/api/v1/problems/{id}", get(problems::get_one))
        .route(
            "/api/v1/problems/{id}/transition",
            post(problems::transition),
        )
        .route(
            "/api/v1/problems/{id}/incidents",
            post(problems::link_incident),
        )
        .route("/api/v1/problems/{id}/history", get(problems::history))
        .route(
            "/api/v1/relationships",
            post(links::create_relationship)
                .get(links::list_relationships)
                .delete(links::delete_relationship),
        )
        .route("/api/v1/impact", get(links::impact))
        .route("/api/v1/assets/{id}/records", get(links::ci_records))
        .route(
            "/api/v1/reports/unauthorized-changes",
            get(links::list_unauthorized),
        )
        .route(
            "/api/v1/reports/unauthorized-changes/{id}/acknowledge",
            post(links::acknowledge),
        )
        .route(
            "/api/v1/reports/unauthorized-changes/{id}/link",
            post(links::link_flag),
        )
        .route(
            "/api/v1/reports/unauthorized-changes/{id}/history",
            get(links::flag_history),
        )
        .route("/api/v1/audit", get(links::audit))
        .route("/api/v1/reports/health", get(health::report))
        .route("/api/v1/reports/health/history", get(health::history))
}

/// What an endpoint needs; [`allows`] decides per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Incidents, changes, problems, their history and context, a CI's records, unauthorized changes.
    ReadRecords,
    /// Create and edit incidents and problems.
    WriteIncidents,
    /// Create and edit changes (not approve them); acknowledge and link unauthorized changes.
    WriteChanges,
    /// Move a change to Approved or Rejected.
    ApproveChanges,
    /// Relationships and impact (the CI topology is inventory).
    ReadRelationships,
    WriteRelationships,
    ReadAudit,
}

/// The role table: admin everything; asset_manager reads inventory and writes relationships;
/// service_desk reads and manages incidents, problems and changes; auditor reads everything incl.
/// audit; approver reads and approves or rejects changes.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Admin => true,
        Role::AssetManager => matches!(permission, ReadRelationships | WriteRelationships),
        Role::ServiceDesk => matches!(
            permission,
            ReadRecords | ReadRelationships | WriteIncidents | WriteChanges
        ),
        Role::Auditor => matches!(permission, ReadRecords | ReadRelationships | ReadAudit),
        Role::Approver => matches!(permission, ReadRecords | ReadRelationships | ApproveChanges),
    }
}

/// The ITSM role of an authenticated user: approvers approve, admins do everything, the rest are agents.
pub fn itsm_role(role: Role) -> itsm::Role {
    match role {
        Role::Admin => itsm::Role::Admin,
        Role::Approver => itsm::Role::Approver,
        Role::AssetManager | Role::ServiceDesk | Role::Auditor => itsm::Role::Agent,
    }
}

fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{role:?}"))
}

/// The authenticated caller and where the request came from.
#[derive(Debug, Clone)]
pub struct Who {
    pub caller: Caller,
    /// The client IP, or `unknown` when the connection did not say.
    pub source: String,
}

impl Who {
    /// 403 unless the caller's role allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if allows(self.caller.role, permission) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "user '{}' has role '{}', which may not {}",
            self.caller.user,
            role_name(self.caller.role),
            match permission {
                Permission::ReadRecords => "read incidents, problems and changes",
                Permission::WriteIncidents => "create or edit incidents and problems",
                Permission::WriteChanges => "create or edit changes",
                Permission::ApproveChanges =>
                    "approve or reject changes (that needs 'approver' or 'admin')",
                Permission::ReadRelationships => "read relationships",
                Permission::WriteRelationships => "create or delete relationships",
                Permission::ReadAudit => "read the audit log",
            }
        )))
    }

    pub fn actor(&self) -> Actor {
        Actor::new(
            self.caller.user.clone(),
            itsm_role(self.caller.role),
            self.source.clone(),
        )
    }
}

impl FromRequestParts<ApiState> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |info| info.0.ip().to_string());
        Ok(Self { caller, source })
    }
}

impl From<ItsmError> for ApiError {
    fn from(error: ItsmError) -> Self {
        match error {
            ItsmError::NotFound { .. }
            | ItsmError::BadId { .. }
            | ItsmError::NoSuchRelationship { .. } => Self::not_found(error.to_string()),
            ItsmError::IllegalTransition { .. }
            | ItsmError::Final { .. }
            | ItsmError::DuplicateRelationship { .. } => Self::new(CONFLICT, error.to_string()),
            ItsmError::UnknownCi { .. } | ItsmError::Invalid { .. } => {
                Self::new(INVALID_REQUEST, error.to_string())
            }
            ItsmError::Forbidden { .. } => Self::forbidden(error.to_string()),
            ItsmError::Store(store) => Self::from(store),
            ItsmError::Corrupt { .. } | ItsmError::Directory(_) => Self::internal(error),
        }
    }
}

/// The CI directory handlers pass to the domain.
pub(crate) fn directory(state: &ApiState) -> CmdbDirectory {
    CmdbDirectory::new(state.cmdb.clone())
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id.trim().to_string())
        .map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))
}

pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(value)| value).map_err(|rejection| {
        ApiError::new(
            INVALID_REQUEST,
            format!("bad query parameters: {}", rejection.body_text()),
        )
    })
}

/// A small JSON body (size, encoding and shape limits of the admin endpoints).
pub(crate) async fn json_body<T: DeserializeOwned>(
    state: &ApiState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let encoding = check_headers(headers)?;
    let bytes = read_limited(headers, body, state.limits.max_small_body_bytes).await?;
    decode_json(&bytes, encoding, &state.limits)
}

/// Runs a read on the blocking pool.
pub(crate) async fn read<T: Send + 'static>(
    state: &ApiState,
    work: impl FnOnce(&dyn Store, &CmdbDirectory) -> itsm::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let (store, dir) = (state.store.clone(), directory(state));
    blocking(move || work(store.as_ref(), &dir).map_err(ApiError::from)).await
}

/// Runs a write on the blocking pool and answers once it is durable.
pub(crate) async fn write<T: Send + 'static>(
    state: &ApiState,
    work: impl FnOnce(&dyn Store, &CmdbDirectory) -> itsm::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let result = read(state, work).await?;
    state.group_commit.durable().await?;
    Ok(result)
}

/// `limit` from a request: default [`DEFAULT_LIMIT`], at most [`itsm::MAX_PAGE`].
pub(crate) fn limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, itsm::MAX_PAGE)
}

/// An optional RFC 3339 query parameter.
pub(crate) fn time_param(
    name: &str,
    value: Option<&str>,
) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    ApiError::new(
                        INVALID_REQUEST,
                        format!(
                            "{name} '{text}' is not an RFC 3339 time (like 2026-11-26T12:00:00Z)"
                        ),
                    )
                },
            )
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn the_role_table_gives_each_role_exactly_its_permissions() {
        let all = [
            ReadRecords,
            WriteIncidents,
            WriteChanges,
            ApproveChanges,
            ReadRelationships,
            WriteRelationships,
            ReadAudit,
        ];
        let expected: [(Role, &[Permission]); 5] = [
            (Role::Admin, &all),
            (Role::AssetManager, &[ReadRelationships, WriteRelationships]),
            (
                Role::ServiceDesk,
                &[ReadRecords, ReadRelationships, WriteIncidents, WriteChanges],
            ),
            (Role::Auditor, &[ReadRecords, ReadRelationships, ReadAudit]),
            (
                Role::Approver,
                &[ReadRecords, ReadRelationships, ApproveChanges],
            ),
        ];
        for (role, granted) in expected {
            for permission in all {
                assert_eq!(
                    allows(role, permission),
                    granted.contains(&permission),
                    "{role:?} {permission:?}"
                );
            }
        }
        assert_eq!(itsm_role(Role::Approver), itsm::Role::Approver);
        assert_eq!(itsm_role(Role::ServiceDesk), itsm::Role::Agent);
    }

    #[test]
    fn itsm_errors_get_the_documented_statuses() {
        use axum::http::StatusCode;
        let illegal = ApiError::from(ItsmError::IllegalTransition {
            record: "INC-000001".into(),
            from: "New".into(),
            to: "Closed".into(),
            allowed: "In progress, Resolved".into(),
        });
        assert_eq!(illegal.status, StatusCode::CONFLICT);
        assert!(illegal.message.contains("allowed: In progress"));
        let missing = ApiError::from(ItsmError::NotFound {
            record: "INC-000009".into(),
        });
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let invalid = ApiError::from(ItsmError::UnknownCi {
            ci: "ci-000404".into(),
        });
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

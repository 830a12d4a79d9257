//! Everything around the records: relationships between CIs, impact, a CI's records, the
//! unauthorized-change report (list, acknowledge, link to a change, history) and the audit log.

use super::{Permission, Who, json_body, limit, now, query, read, time_param, write};
use crate::api::ApiState;
use crate::api::error::{ApiError, INVALID_REQUEST};
use crate::itsm::audit::{AuditEntry, AuditFilter, audit_list};
use crate::itsm::context::{CiRecords, ci_records as records_of};
use crate::itsm::history::HistoryEntry;
use crate::itsm::impact::{Impact, ImpactLimits, impact as impact_of};
use crate::itsm::relationship::{
    NewRelationship, RelationKind, Relationship, RelationshipView, create_relationship as create,
    delete_relationship as delete, relationships_of,
};
use crate::itsm::unauthorized::{
    Flag, FlagFilter, FlagStatus, acknowledge as acknowledge_flag,
    flag_history as unauthorized_history, link_to_change, list_unauthorized as list_flags,
};
use crate::itsm::{CiDirectory, DiscoveredChangeKind, ItsmError, Page};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiQuery {
    pub ci: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationshipKey {
    pub from: String,
    pub kind: RelationKind,
    pub to: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagQuery {
    pub status: Option<FlagStatus>,
    pub ci: Option<String>,
    pub kind: Option<DiscoveredChangeKind>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub record: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagLink {
    pub change: String,
}

pub async fn create_relationship(
    State(state): State<ApiState>,
    who: Who,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Relationship>), ApiError> {
    who.require(Permission::WriteRelationships)?;
    let request: NewRelationship = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let relationship = write(&state, move |store, dir| {
        create(store, dir, &actor, request, now())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(relationship)))
}

/// `DELETE /api/v1/relationships?from=ci-1&kind=depends_on&to=ci-2`.
pub async fn delete_relationship(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<RelationshipKey>, QueryRejection>,
) -> Result<Json<Relationship>, ApiError> {
    who.require(Permission::WriteRelationships)?;
    let key = query(params)?;
    let actor = who.actor();
    write(&state, move |store, _| {
        delete(
            store,
            &actor,
            key.from.trim(),
            key.kind,
            key.to.trim(),
            now(),
        )
    })
    .await
    .map(Json)
}

/// A CI's relationships, both directions; one page (a CI has few).
pub async fn list_relationships(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<CiQuery>, QueryRejection>,
) -> Result<Json<Page<RelationshipView>>, ApiError> {
    who.require(Permission::ReadRelationships)?;
    let ci = query(params)?.ci.trim().to_string();
    let items = read(&state, move |store, _| relationships_of(store, &ci)).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// `GET /api/v1/impact?ci=ci-1&ci=ci-2` (or `ci=ci-1,ci-2`), optional `max_depth` and `max_cis`.
pub async fn impact(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Impact>, ApiError> {
    who.require(Permission::ReadRelationships)?;
    let mut cis: Vec<String> = Vec::new();
    let mut limits = ImpactLimits::default();
    for (name, value) in query(params)? {
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ApiError::new(
                        INVALID_REQUEST,
                        format!("{name} must be a positive number, got '{value}'"),
                    )
                })
        };
        match name.as_str() {
            "ci" => cis.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|ci| !ci.is_empty())
                    .map(str::to_string),
            ),
            "max_depth" => limits.max_depth = number()?,
            "max_cis" => limits.max_cis = number()?,
            other => {
                return Err(ApiError::new(
                    INVALID_REQUEST,
                    format!("unknown query parameter '{other}'; use ci, max_depth, max_cis"),
                ));
            }
        }
    }
    if cis.is_empty() {
        return Err(ApiError::new(
            INVALID_REQUEST,
            "name at least one CI: /api/v1/impact?ci=ci-000001",
        ));
    }
    read(&state, move |store, _| impact_of(store, &cis, limits))
        .await
        .map(Json)
}

/// `GET /api/v1/assets/{id}/records`: the CI's incidents, problems and changes, newest first.
pub async fn ci_records(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CiRecords>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let ci = super::path_id(id)?;
    read(&state, move |store, dir| {
        if !dir.exists(&ci)? {
            return Err(ItsmError::NotFound {
                record: format!("configuration item '{ci}'"),
            });
        }
        records_of(store, &ci)
    })
    .await
    .map(Json)
}

pub async fn list_unauthorized(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<FlagQuery>, QueryRejection>,
) -> Result<Json<Page<Flag>>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let params = query(params)?;
    let filter = FlagFilter {
        status: params.status,
        ci: params.ci,
        kind: params.kind,
        since: time_param("since", params.since.as_deref())?,
        until: time_param("until", params.until.as_deref())?,
    };
    let limit = limit(params.limit);
    read(&state, move |store, _| {
        list_flags(store, &filter, params.cursor.as_deref(), limit)
    })
    .await
    .map(Json)
}

pub async fn flag_history(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let id = super::path_id(id)?;
    read(&state, move |store, _| unauthorized_history(store, &id))
        .await
        .map(Json)
}

pub async fn acknowledge(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Flag>, ApiError> {
    who.require(Permission::WriteChanges)?;
    let id = super::path_id(id)?;
    let request: Acknowledgement = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        acknowledge_flag(store, &id, &actor, &request.note, now())
    })
    .await
    .map(Json)
}

pub async fn link_flag(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Flag>, ApiError> {
    who.require(Permission::WriteChanges)?;
    let id = super::path_id(id)?;
    let request: FlagLink = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        link_to_change(store, &id, request.change.trim(), &actor, now())
    })
    .await
    .map(Json)
}

pub async fn audit(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    who.require(Permission::ReadAudit)?;
    let params = query(params)?;
    let filter = AuditFilter {
        actor: params.actor,
        record: params.record,
        action: params.action,
        since: time_param("since", params.since.as_deref())?,
        until: time_param("until", params.until.as_deref())?,
    };
    let limit = limit(params.limit);
    read(&state, move |store, _| {
        audit_list(store, &filter, params.cursor.as_deref(), limit)
    })
    .await
    .map(Json)
}

//! `/api/v1/changes`: create, list, read, edit, transition (approving and rejecting need the approver
//! or admin role), link incidents, history. Writes answer `{ "record", "warnings" }` so that a window
//! overlapping another active change on the same CI comes back as a `window_overlap` warning.

use super::{Permission, Who, json_body, limit, now, path_id, query, read, write};
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::itsm::change::{
    Change, ChangeFilter, ChangeState, ChangeTransition, ChangeType, ChangeUpdate,
    IncidentRelation, NewChange, Risk, create_change, get_change, link_change_incident,
    list_changes, transition_change, update_change,
};
use crate::itsm::history::{HistoryEntry, history as record_history};
use crate::itsm::{Outcome, Page};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<ChangeState>,
    pub change_type: Option<ChangeType>,
    pub risk: Option<Risk>,
    pub ci: Option<String>,
    pub text: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkIncident {
    pub incident: String,
    pub relation: IncidentRelation,
}

pub async fn create(
    State(state): State<ApiState>,
    who: Who,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Outcome<Change>>), ApiError> {
    who.require(Permission::WriteChanges)?;
    let request: NewChange = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let outcome = write(&state, move |store, dir| {
        create_change(store, dir, &actor, request, now())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

pub async fn list(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Change>>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let params = query(params)?;
    let filter = ChangeFilter {
        state: params.state,
        change_type: params.change_type,
        risk: params.risk,
        ci: params.ci,
        text: params.text,
    };
    let limit = limit(params.limit);
    read(&state, move |store, _| {
        list_changes(store, &filter, params.cursor.as_deref(), limit)
    })
    .await
    .map(Json)
}

pub async fn get_one(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Change>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let id = path_id(id)?;
    read(&state, move |store, _| get_change(store, &id))
        .await
        .map(Json)
}

pub async fn update(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Outcome<Change>>, ApiError> {
    who.require(Permission::WriteChanges)?;
    let id = path_id(id)?;
    let request: ChangeUpdate = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        update_change(store, &actor, &id, request, now())
    })
    .await
    .map(Json)
}

pub async fn transition(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Outcome<Change>>, ApiError> {
    let id = path_id(id)?;
    let request: ChangeTransition = json_body(&state, &headers, body).await?;
    // Deciding is the approver's; every other move is the change manager's (service desk).
    if matches!(request.to, ChangeState::Approved | ChangeState::Rejected) {
        who.require(Permission::ApproveChanges)?;
    } else {
        who.require(Permission::WriteChanges)?;
    }
    let actor = who.actor();
    write(&state, move |store, _| {
        transition_change(store, &actor, &id, request, now())
    })
    .await
    .map(Json)
}

pub async fn link_incident(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Change>, ApiError> {
    who.require(Permission::WriteChanges)?;
    let id = path_id(id)?;
    let request: LinkIncident = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        link_change_incident(
            store,
            &actor,
            &id,
            request.incident.trim(),
            request.relation,
            now(),
        )
    })
    .await
    .map(Json)
}

pub async fn history(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let id = path_id(id)?;
    read(&state, move |store, _| {
        get_change(store, &id)?;
        record_history(store, &id)
    })
    .await
    .map(Json)
}

//! `/api/v1/incidents`: create, list (state, priority, assignee, CI, text; cursor pages), read, edit,
//! transition, notes, the incident context and the history.

use super::{Permission, Who, json_body, limit, now, path_id, query, read, write};
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::itsm::Page;
use crate::itsm::context::{IncidentContext, incident_context};
use crate::itsm::history::{HistoryEntry, history as record_history};
use crate::itsm::impact::ImpactLimits;
use crate::itsm::incident::{
    Incident, IncidentFilter, IncidentState, IncidentTransition, IncidentUpdate, NewIncident,
    NewNote, add_incident_note, create_incident, get_incident, list_incidents, transition_incident,
    update_incident,
};
use crate::itsm::priority::Priority;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// Look-back of the context when `days` is not given.
const DEFAULT_CONTEXT_DAYS: u32 = 7;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<IncidentState>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub ci: Option<String>,
    pub text: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextQuery {
    pub days: Option<u32>,
}

pub async fn create(
    State(state): State<ApiState>,
    who: Who,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Incident>), ApiError> {
    who.require(Permission::WriteIncidents)?;
    let request: NewIncident = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let incident = write(&state, move |store, dir| {
        create_incident(store, dir, &actor, request, now())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

pub async fn list(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Incident>>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let params = query(params)?;
    let filter = IncidentFilter {
        state: params.state,
        priority: params.priority,
        assignee: params.assignee,
        ci: params.ci,
        text: params.text,
    };
    let limit = limit(params.limit);
    read(&state, move |store, _| {
        list_incidents(store, &filter, params.cursor.as_deref(), limit)
    })
    .await
    .map(Json)
}

pub async fn get_one(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Incident>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let id = path_id(id)?;
    read(&state, move |store, _| get_incident(store, &id))
        .await
        .map(Json)
}

pub async fn update(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Incident>, ApiError> {
    who.require(Permission::WriteIncidents)?;
    let id = path_id(id)?;
    let request: IncidentUpdate = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        update_incident(store, &actor, &id, request, now())
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
) -> Result<Json<Incident>, ApiError> {
    who.require(Permission::WriteIncidents)?;
    let id = path_id(id)?;
    let request: IncidentTransition = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        transition_incident(store, &actor, &id, request, now())
    })
    .await
    .map(Json)
}

pub async fn add_note(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Incident>), ApiError> {
    who.require(Permission::WriteIncidents)?;
    let id = path_id(id)?;
    let note: NewNote = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let incident = write(&state, move |store, _| {
        add_incident_note(store, &actor, &id, note, now())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

pub async fn context(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<ContextQuery>, QueryRejection>,
) -> Result<Json<IncidentContext>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let id = path_id(id)?;
    let days = query(params)?.days.unwrap_or(DEFAULT_CONTEXT_DAYS);
    read(&state, move |store, dir| {
        incident_context(store, dir, &id, days, now(), ImpactLimits::default())
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
        get_incident(store, &id)?;
        record_history(store, &id)
    })
    .await
    .map(Json)
}

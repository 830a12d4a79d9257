//! `/api/v1/problems`: create, list, read, transition, group incidents, history.

use super::{Permission, Who, json_body, limit, now, path_id, query, read, write};
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::itsm::Page;
use crate::itsm::history::{HistoryEntry, history as record_history};
use crate::itsm::problem::{
    NewProblem, Problem, ProblemFilter, ProblemState, ProblemTransition, create_problem,
    get_problem, link_problem_incident, list_problems, transition_problem,
};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<ProblemState>,
    pub known_error: Option<bool>,
    pub assignee: Option<String>,
    pub ci: Option<String>,
    pub text: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkIncident {
    pub incident: String,
}

pub async fn create(
    State(state): State<ApiState>,
    who: Who,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Problem>), ApiError> {
    who.require(Permission::WriteIncidents)?;
    let request: NewProblem = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let problem = write(&state, move |store, dir| {
        create_problem(store, dir, &actor, request, now())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(problem)))
}

pub async fn list(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<Problem>>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let params = query(params)?;
    let filter = ProblemFilter {
        state: params.state,
        known_error: params.known_error,
        assignee: params.assignee,
        ci: params.ci,
        text: params.text,
    };
    let limit = limit(params.limit);
    read(&state, move |store, _| {
        list_problems(store, &filter, params.cursor.as_deref(), limit)
    })
    .await
    .map(Json)
}

pub async fn get_one(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Problem>, ApiError> {
    who.require(Permission::ReadRecords)?;
    let id = path_id(id)?;
    read(&state, move |store, _| get_problem(store, &id))
        .await
        .map(Json)
}

pub async fn transition(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Problem>, ApiError> {
    who.require(Permission::WriteIncidents)?;
    let id = path_id(id)?;
    let request: ProblemTransition = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        transition_problem(store, &actor, &id, request, now())
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
) -> Result<Json<Problem>, ApiError> {
    who.require(Permission::WriteIncidents)?;
    let id = path_id(id)?;
    let request: LinkIncident = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    write(&state, move |store, _| {
        link_problem_incident(store, &actor, &id, request.incident.trim(), now())
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
        get_problem(store, &id)?;
        record_history(store, &id)
    })
    .await
    .map(Json)
}

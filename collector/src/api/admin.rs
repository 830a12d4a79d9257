//! Administration endpoints: enrollment tokens and agents. Every one needs an API token with the
//! `admin` role (see [`crate::auth`]).

use super::body::{check_headers, decode_json, read_limited};
use super::error::{ApiError, INVALID_REQUEST};
use super::{ApiState, blocking};
use crate::auth::{Caller, Role};
use crate::enrollment::agents::{self, AgentRecord};
use crate::enrollment::tokens::{self, TokenInfo};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One day: long enough to roll out a batch of machines, short enough that a leaked token dies soon.
const DEFAULT_TOKEN_TTL_SECONDS: u64 = 24 * 3600;
/// A year; longer-lived enrollment tokens are a standing invitation.
const MAX_TOKEN_TTL_SECONDS: u64 = 365 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    #[serde(default)]
    pub max_uses: Option<u32>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// Shown once; only its hash is kept.
    pub secret: String,
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))
}

pub async fn create_enroll_token(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    caller.require(Role::Admin)?;
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_small_body_bytes).await?;
    let request: CreateTokenRequest = decode_json(&bytes, encoding, &state.limits)?;
    let ttl_seconds = request.ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL_SECONDS);
    if ttl_seconds == 0 || ttl_seconds > MAX_TOKEN_TTL_SECONDS {
        return Err(ApiError::new(
            INVALID_REQUEST,
            format!("ttl_seconds must be between 1 and {MAX_TOKEN_TTL_SECONDS}"),
        ));
    }
    let store = state.store.clone();
    let (token, secret) = blocking(move || {
        tokens::create(
            store.as_ref(),
            Duration::from_secs(ttl_seconds),
            request.max_uses.unwrap_or(1),
            request.note,
        )
        .map_err(ApiError::from)
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(token_id = %token.id, user = %caller.user, "enrollment token created");
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

pub async fn list_enroll_tokens(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    let store = state.store.clone();
    blocking(move || tokens::list(store.as_ref()).map_err(ApiError::from))
        .await
        .map(Json)
}

pub async fn revoke_enroll_token(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TokenInfo>, ApiError> {
    caller.require(Role::Admin)?;
    let id = path_id(id)?;
    let store = state.store.clone();
    let token =
        blocking(move || tokens::revoke(store.as_ref(), &id).map_err(ApiError::from)).await?;
    state.group_commit.durable().await?;
    tracing::info!(token_id = %token.id, user = %caller.user, "enrollment token revoked");
    Ok(Json(token))
}

pub async fn list_agents(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<AgentRecord>>, ApiError> {
    caller.require(Role::Admin)?;
    let store = state.store.clone();
    blocking(move || agents::list(store.as_ref()).map_err(ApiError::from))
        .await
        .map(Json)
}

pub async fn approve_agent(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AgentRecord>, ApiError> {
    caller.require(Role::Admin)?;
    let id = path_id(id)?;
    let store = state.store.clone();
    let agent =
        blocking(move || agents::approve(store.as_ref(), &id).map_err(ApiError::from)).await?;
    state.group_commit.durable().await?;
    tracing::info!(agent_id = %agent.agent_id, user = %caller.user, "agent approved");
    Ok(Json(agent))
}

pub async fn revoke_agent(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<AgentRecord>, ApiError> {
    caller.require(Role::Admin)?;
    let id = path_id(id)?;
    let store = state.store.clone();
    let agent =
        blocking(move || agents::revoke(store.as_ref(), &id).map_err(ApiError::from)).await?;
    state.group_commit.durable().await?;
    tracing::info!(agent_id = %agent.agent_id, user = %caller.user, "agent revoked");
    Ok(Json(agent))
}

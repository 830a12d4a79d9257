//! Users and their API tokens (`/api/v1/users`, `/api/v1/tokens`): admin role only.
//!
//! What `census-collector user …` and `token …` call while the collector is running. Writes are
//! audited with the caller's name and client IP (see [`crate::users`]); a created token's secret is in
//! the answer once and nowhere else.

use super::error::{ApiError, CONFLICT, INVALID_REQUEST};
use super::itsm::{Who, json_body, now, path_id, query};
use super::{ApiState, blocking};
use crate::auth::{Role, TokenRecord};
use crate::users::{
    self, CreatedToken, DisabledUser, NewToken, NewUser, RoleChanged, UserChange, UserError,
    UserRecord,
};
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The user and token routes, merged into [`super::router`].
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(add_user))
        .route("/api/v1/users/{name}", patch(change_user))
        .route("/api/v1/users/{name}/disable", post(disable_user))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    pub user: Option<String>,
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::NoSuchUser(_) | UserError::NoSuchToken(_) => {
                Self::not_found(error.to_string())
            }
            UserError::Exists(_) | UserError::Disabled(_) | UserError::OwnRole(_) => {
                Self::new(CONFLICT, error.to_string())
            }
            UserError::InvalidName(_) | UserError::TooLong { .. } | UserError::InvalidTtl => {
                Self::new(INVALID_REQUEST, error.to_string())
            }
            UserError::Store(store) => Self::from(store),
            UserError::Auth(_) | UserError::Audit(_) | UserError::Corrupt { .. } => {
                Self::internal(error)
            }
        }
    }
}

/// Runs `work` on the blocking pool after the admin check.
async fn admin_work<T: Send + 'static>(
    state: &ApiState,
    who: &Who,
    work: impl FnOnce(&dyn crate::store::Store) -> users::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    who.caller.require(Role::Admin)?;
    let store = state.store.clone();
    blocking(move || work(store.as_ref()).map_err(ApiError::from)).await
}

pub async fn list_users(
    State(state): State<ApiState>,
    who: Who,
) -> Result<Json<Vec<UserRecord>>, ApiError> {
    admin_work(&state, &who, users::list_users).await.map(Json)
}

pub async fn add_user(
    State(state): State<ApiState>,
    who: Who,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    who.caller.require(Role::Admin)?;
    let request: NewUser = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let user = admin_work(&state, &who, move |store| {
        users::add_user(store, request, &actor, now())
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(user = %user.name, by = %who.caller.user, "user created");
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn disable_user(
    State(state): State<ApiState>,
    who: Who,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<DisabledUser>, ApiError> {
    who.caller.require(Role::Admin)?;
    let name = path_id(name)?;
    let actor = who.actor();
    let disabled = admin_work(&state, &who, move |store| {
        users::disable_user(store, &name, &actor, now())
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(user = %disabled.user.name, by = %who.caller.user, "user disabled");
    Ok(Json(disabled))
}

/// `PATCH /api/v1/users/{name}` with `{"role": ...}`: the user and every token they hold take the role.
pub async fn change_user(
    State(state): State<ApiState>,
    who: Who,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RoleChanged>, ApiError> {
    who.caller.require(Role::Admin)?;
    let name = path_id(name)?;
    let change: UserChange = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let changed = admin_work(&state, &who, move |store| {
        users::set_role(store, &name, change, &actor, now())
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(user = %changed.user.name, role = users::role_name(changed.user.role), by = %who.caller.user, "user role changed");
    Ok(Json(changed))
}

pub async fn list_tokens(
    State(state): State<ApiState>,
    who: Who,
    params: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    who.caller.require(Role::Admin)?;
    let filter = query(params)?;
    admin_work(&state, &who, move |store| {
        users::list_tokens(store, filter.user.as_deref())
    })
    .await
    .map(Json)
}

pub async fn create_token(
    State(state): State<ApiState>,
    who: Who,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    who.caller.require(Role::Admin)?;
    let request: NewToken = json_body(&state, &headers, body).await?;
    let actor = who.actor();
    let created = admin_work(&state, &who, move |store| {
        users::create_token(store, request, &actor, now())
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(token_id = %created.token.id, user = %created.token.user, by = %who.caller.user, "API token created");
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn revoke_token(
    State(state): State<ApiState>,
    who: Who,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TokenRecord>, ApiError> {
    who.caller.require(Role::Admin)?;
    let id = path_id(id)?;
    let actor = who.actor();
    let token = admin_work(&state, &who, move |store| {
        users::revoke_token(store, &id, &actor, now())
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(token_id = %token.id, by = %who.caller.user, "API token revoked");
    Ok(Json(token))
}

//! The collector's HTTP API: routes, shared state, and the JSON answers for everything that is not a
//! handler's own (unknown paths, wrong methods, timeouts).
//!
//! # Layout
//! - [`agent`]: enrollment and the mTLS agent endpoints (renew, check-in, report).
//! - [`admin`]: enrollment tokens and agents, behind an admin API token.
//! - [`assets`]: the CMDB for asset managers: search, edits, history, events, conflicts, exports.
//! - [`body`]: [`Limits`] and request decoding (size caps, gzip, JSON shape limits).
//! - [`error`]: [`ApiError`](error::ApiError) and the code → status table.
//! - [`itsm`]: incidents, changes, problems, relationships, impact, unauthorized changes, audit.
//! - [`openapi`]: `/api/v1/openapi.json`, the maintained OpenAPI 3.1 document (tested against the routes).
//! - [`users`]: users and their API tokens, behind an admin API token.
//! - [`ops`]: `/readyz`, `/metrics`, and the request-id / logging / counting layer around every route.
//!
//! Handlers decode, call domain functions (`ingest`, `enrollment`, `auth`) and encode; synchronous store
//! work runs on the blocking pool so the async workers stay free for I/O.

pub mod admin;
pub mod agent;
pub mod assets;
pub mod body;
pub mod error;
pub mod itsm;
pub mod openapi;
pub mod ops;
pub mod users;

pub use body::Limits;

use crate::cmdb::Cmdb;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::pki::CertificateAuthority;
use crate::store::Store;
use crate::store::group_commit::GroupCommit;
use axum::extract::{FromRef, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use census_shared::protocol;
use error::{ApiError, METHOD_NOT_ALLOWED, REQUEST_TIMEOUT};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What every handler may need.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub cmdb: Arc<Cmdb>,
    pub ingest: Arc<Ingest>,
    pub group_commit: Arc<GroupCommit>,
    pub ca: Arc<CertificateAuthority>,
    pub limits: Limits,
    pub require_approval: bool,
    pub agent_cert_validity: Duration,
    /// Permits for reports in progress; see [`Limits::max_concurrent_reports`].
    pub report_slots: Arc<Semaphore>,
    /// Counters the request path updates (see [`crate::metrics`]).
    pub metrics: Arc<Metrics>,
    /// The configured `cmdb.stale_after`, the health report's default.
    pub stale_after: Duration,
}

impl ApiState {
    pub fn new(
        store: Arc<dyn Store>,
        cmdb: Arc<Cmdb>,
        ca: Arc<CertificateAuthority>,
        limits: Limits,
        require_approval: bool,
        agent_cert_validity: Duration,
    ) -> Self {
        Self {
            ingest: Arc::new(Ingest::with_cmdb(Arc::clone(&store), Arc::clone(&cmdb))),
            cmdb,
            group_commit: Arc::new(GroupCommit::new(Arc::clone(&store))),
            store,
            ca,
            report_slots: Arc::new(Semaphore::new(limits.max_concurrent_reports.max(1))),
            limits,
            require_approval,
            agent_cert_validity,
            metrics: Arc::new(Metrics::default()),
            stale_after: crate::config::DEFAULT_STALE_AFTER,
        }
    }
}

impl FromRef<ApiState> for Arc<dyn Store> {
    fn from_ref(state: &ApiState) -> Self {
        Arc::clone(&state.store)
    }
}

/// Every route of the collector's HTTPS service.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(protocol::PATH_HEALTH, get(health))
        .route(protocol::PATH_ENROLL, post(agent::enroll))
        .route(protocol::PATH_RENEW, post(agent::renew))
        .route(protocol::PATH_CHECKIN, post(agent::check_in))
        .route(protocol::PATH_REPORT, post(agent::report))
        .route(
            "/api/v1/enroll-tokens",
            post(admin::create_enroll_token).get(admin::list_enroll_tokens),
        )
        .route(
            "/api/v1/enroll-tokens/{id}",
            delete(admin::revoke_enroll_token),
        )
        .route("/api/v1/agents", get(admin::list_agents))
        .route("/api/v1/agents/{id}/approve", post(admin::approve_agent))
        .route("/api/v1/agents/{id}/revoke", post(admin::revoke_agent))
        .merge(assets::routes())
        .merge(itsm::routes())
        .merge(ops::routes())
        .merge(crate::web::routes())
        .merge(users::routes())
        .merge(openapi::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.limits.request_timeout,
            request_timeout,
        ))
        // Outermost, so that timeouts and fallbacks get a request id and are counted too. Routes
        // added after this line would miss it: merge new routes above.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            ops::observe,
        ))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "there is no {} {} on this collector",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Bounds the whole request (body read included). A report whose answer is lost this way is retried by
/// the agent and recognised as a duplicate.
async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            REQUEST_TIMEOUT,
            format!(
                "the request took longer than {} seconds; retry it",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Runs synchronous store work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)?
}

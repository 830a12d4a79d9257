//! Operations endpoints and the per-request observation layer.
//!
//! - `GET /readyz`: 200 when the store answers a read and the group-commit flusher completes a flush
//!   (both within [`READY_TIMEOUT`]); 503 with `{ "status": "unavailable", "reason" }` otherwise. No
//!   authentication, like `/healthz`: load balancers and orchestrators probe it.
//! - `GET /metrics`: Prometheus text. Open without a token to loopback clients (a Prometheus or node
//!   exporter on the collector's host); from anywhere else it needs an API token of any role.
//! - `GET /api/v1/admin/backup` (admin): a consistent database snapshot for `census-collector backup`.
//! - [`observe`]: every response carries `x-request-id` (the client's, when it sent a sane one, else a
//!   new one) and runs inside a `request` span (method, route template, request id, agent id when
//!   known); one event per request records status and latency, and the request counter moves.

use super::error::ApiError;
use super::{ApiState, blocking};
use crate::auth::{Caller, Role};
use crate::cmdb::SPACE_META;
use crate::metrics::{Gauges, Metrics};
use crate::secret::now_rfc3339;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

pub const PATH_READY: &str = "/readyz";
pub const PATH_METRICS: &str = "/metrics";
pub const PATH_BACKUP: &str = "/api/v1/admin/backup";
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// How long each readiness check may take before the collector counts as not ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest client-supplied request id kept; longer or odd ones are replaced.
const MAX_REQUEST_ID: usize = 64;

/// The request id of the request being handled (in the request's extensions).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The operations routes, merged into the main router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(PATH_READY, get(ready))
        .route(PATH_METRICS, get(metrics))
        .route(PATH_BACKUP, get(backup))
}

/// A database snapshot in the backup format (no data dir files: the `backup` command adds them).
/// Admin role. Writes pause while the store is read, not while the answer is sent.
async fn backup(State(state): State<ApiState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let store = state.store.clone();
    let bytes = blocking(move || {
        let mut out = Vec::new();
        crate::backup::write(&mut out, &[], store.as_ref(), &now_rfc3339())
            .map_err(ApiError::internal)?;
        Ok(out)
    })
    .await?;
    tracing::info!(user = %caller.user, bytes = bytes.len(), "database snapshot sent");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

async fn ready(State(state): State<ApiState>) -> Response {
    let store = state.store.clone();
    let read = tokio::time::timeout(
        READY_TIMEOUT,
        blocking(move || {
            store
                .get(SPACE_META, b"counters")
                .map_err(ApiError::internal)
        }),
    )
    .await;
    let reason = match read {
        Err(_) => Some("the database did not answer a read in time".to_string()),
        Ok(Err(_)) => Some("the database failed a read (see the collector's log)".to_string()),
        Ok(Ok(_)) => {
            match tokio::time::timeout(READY_TIMEOUT, state.group_commit.durable()).await {
                Err(_) => Some("the group-commit flusher did not complete a flush in time".into()),
                Ok(Err(error)) => Some(format!("the group-commit flusher failed: {error}")),
                Ok(Ok(())) => None,
            }
        }
    };
    match reason {
        None => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
        Some(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "unavailable", "reason": reason })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<ApiState>, request: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let loopback = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
    if !loopback {
        // Any role may read metrics; the extractor answers 401 without a valid token.
        Caller::from_request_parts(&mut parts, &state).await?;
    }
    let store = state.store.clone();
    let gauges = blocking(move || {
        Gauges::read(store.as_ref(), time::OffsetDateTime::now_utc()).map_err(ApiError::from)
    })
    .await?;
    let text = state
        .metrics
        .render(state.group_commit.flush_seconds(), &gauges);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The client's request id when it is 1..=64 characters of `[A-Za-z0-9-_]`.
pub fn sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The observation middleware; see the module documentation.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| sane_request_id(value))
        .map_or_else(new_request_id, str::to_string);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        agent_id = tracing::field::Empty,
    );
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    metrics
        .http_requests
        .inc(&[("route", &route), ("status", &status.to_string())]);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| {
        // Probes arrive every few seconds, and an unchanged fleet's check-ins are most of the traffic
        // (thousands a second at scale): both are counted in /metrics and logged at debug when they
        // succeed, so the default log shows what changed and what failed.
        let routine = matches!(route.as_str(), PATH_READY | PATH_METRICS | "/healthz")
            || (route == census_shared::protocol::PATH_CHECKIN && status < 300);
        if routine {
            tracing::debug!(status, latency_ms, "request");
        } else {
            tracing::info!(status, latency_ms, "request");
        }
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_propagated() {
        assert!(sane_request_id("abc-DEF_123"));
        assert!(sane_request_id(&"x".repeat(64)));
        for bad in ["", "a b", "a\nb", "ä", "../x", &"x".repeat(65)] {
            assert!(!sane_request_id(bad), "{bad:?}");
        }
        let generated = new_request_id();
        assert!(sane_request_id(&generated), "{generated}");
    }
}

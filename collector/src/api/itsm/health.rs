//! `GET /api/v1/reports/health`: the CMDB health report (see [`crate::itsm::health`] and
//! `docs/cmdb-health.md`), and `/history`, its daily snapshots. Roles: admin, asset_manager, auditor.

use super::query;
use crate::api::error::{ApiError, INVALID_REQUEST};
use crate::api::{ApiState, blocking};
use crate::auth::{Caller, Role};
use crate::itsm::MAX_PAGE;
use crate::itsm::health::{DEFAULT_DRILL_LIMIT, HealthReport, health_report};
use crate::itsm::health_history::{self, HealthSnapshot};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use time::OffsetDateTime;

/// Who may read the report: the people accountable for CMDB quality.
pub const HEALTH_READERS: &[Role] = &[Role::Admin, Role::AssetManager, Role::Auditor];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    /// A duration (`7d`, `36h`): no report for longer counts as stale. Default: the collector's
    /// configured `cmdb.stale_after` (7 days unless configured).
    pub stale_after: Option<String>,
    /// CIs listed per dimension (1 to 500, default 50).
    pub limit: Option<usize>,
}

pub async fn report(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<HealthQuery>, QueryRejection>,
) -> Result<Json<HealthReport>, ApiError> {
    caller.require_any(HEALTH_READERS)?;
    let params = query(params)?;
    let stale_after = match params.stale_after.as_deref() {
        None => state.stale_after,
        Some(text) => census_shared::duration::parse(text)
            .ok()
            .filter(|duration| !duration.is_zero())
            .ok_or_else(|| {
                ApiError::new(
                    INVALID_REQUEST,
                    format!("stale_after must be a duration such as 7d or 36h (got '{text}')"),
                )
            })?,
    };
    let limit = params
        .limit
        .unwrap_or(DEFAULT_DRILL_LIMIT)
        .clamp(1, MAX_PAGE);
    let (cmdb, store) = (state.cmdb.clone(), state.store.clone());
    blocking(move || {
        health_report(
            &cmdb,
            store.as_ref(),
            OffsetDateTime::now_utc(),
            stale_after,
            limit,
        )
        .map_err(ApiError::from)
    })
    .await
    .map(Json)
}

/// Snapshots listed when the request does not say: a month.
pub const DEFAULT_HISTORY_DAYS: usize = 30;
/// A year of daily snapshots at most per request.
pub const MAX_HISTORY_DAYS: usize = 366;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many daily snapshots, newest first (1 to 366, default 30).
    pub days: Option<usize>,
}

/// `GET /api/v1/reports/health/history`: the daily snapshots `serve` records, newest first.
pub async fn history(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Vec<HealthSnapshot>>, ApiError> {
    caller.require_any(HEALTH_READERS)?;
    let days = query(params)?
        .days
        .unwrap_or(DEFAULT_HISTORY_DAYS)
        .clamp(1, MAX_HISTORY_DAYS);
    let store = state.store.clone();
    blocking(move || health_history::history(store.as_ref(), days).map_err(ApiError::from))
        .await
        .map(Json)
}

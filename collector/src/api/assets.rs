//! The CMDB for people and tools: asset search (query language), asset detail, managed-field edits,
//! history, time travel, the change-event feed, identity conflicts, and streaming export.
//!
//! Every endpoint needs a bearer API token. Reading is open to every role; editing managed fields and
//! resolving identity conflicts needs `admin` or `asset_manager`.

use super::error::{ApiError, INVALID_QUERY, INVALID_REQUEST};
use super::{ApiState, blocking};
use crate::auth::{Caller, Role};
use crate::cmdb::model::Asset;
use crate::cmdb::search::{SearchPage, asset_matches};
use crate::cmdb::{Actor, HistoryFilter, ManagedFieldsPatch, Resolution};
use crate::query;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::convert::Infallible;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Reading inventory is every role's business.
const READERS: &[Role] = &[
    Role::Admin,
    Role::AssetManager,
    Role::ServiceDesk,
    Role::Auditor,
    Role::Approver,
];
/// Editing what people manage on a CI.
const EDITORS: &[Role] = &[Role::Admin, Role::AssetManager];
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1_000;
/// Rows fetched per step while streaming an export.
const EXPORT_PAGE: usize = 500;

pub fn routes() -> axum::Router<ApiState> {
    axum::Router::new()
        .route("/api/v1/assets", get(list))
        .route("/api/v1/assets/export", get(export))
        .route("/api/v1/assets/{id}", get(show).patch(patch))
        .route("/api/v1/assets/{id}/history", get(history))
        .route("/api/v1/events", get(events))
        .route("/api/v1/conflicts", get(conflicts))
        .route("/api/v1/conflicts/{id}/resolve", post(resolve))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub as_of: Option<String>,
    pub format: Option<String>,
}

/// What a list shows of each CI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssetSummary {
    pub id: String,
    pub hostname: Option<String>,
    pub serial: Option<String>,
    pub os: Option<String>,
    pub status: String,
    pub last_seen: String,
    pub first_seen: String,
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub asset_tag: Option<String>,
    pub owner: Option<String>,
    pub location: Option<String>,
}

impl AssetSummary {
    pub fn of(asset: &Asset) -> AssetSummary {
        let inventory = &asset.inventory;
        let managed = &asset.header.managed;
        let value = |field: &Option<crate::cmdb::model::Attributed<String>>| {
            field.as_ref().map(|a| a.value.clone())
        };
        let os = match (
            &inventory.os.pretty_name,
            &inventory.os.id,
            &inventory.os.version,
        ) {
            (Some(pretty), _, _) => Some(pretty.clone()),
            (None, Some(id), Some(version)) => Some(format!("{id} {version}")),
            (None, Some(id), None) => Some(id.clone()),
            _ => None,
        };
        AssetSummary {
            id: asset.header.id.clone(),
            hostname: inventory.host.hostname.clone(),
            serial: inventory.hardware.system.serial.clone(),
            os,
            status: asset.header.status.value.as_str().to_string(),
            last_seen: asset.header.last_seen.clone(),
            first_seen: asset.header.first_seen.clone(),
            vendor: inventory.hardware.system.vendor.clone(),
            product: inventory.hardware.system.product.clone(),
            asset_tag: value(&managed.asset_tag),
            owner: value(&managed.owner),
            location: value(&managed.location),
        }
    }
}

fn query_params<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params
        .map(|Query(params)| params)
        .map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))
}

/// The query, parsed; a parse error says where, with a caret under the position.
pub fn parse_query(q: Option<&str>) -> Result<Option<query::Expr>, ApiError> {
    match q.map(str::trim).filter(|q| !q.is_empty()) {
        None => Ok(None),
        Some(text) => query::parse(text).map(Some).map_err(|error| {
            ApiError::new(INVALID_QUERY, format!("{error}\n{}", error.render(text)))
        }),
    }
}

/// `2026-11-01T00:00:00Z`, or a duration back from now (`7d`).
pub fn parse_moment(text: &str, now: OffsetDateTime) -> Result<String, ApiError> {
    if OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return Ok(text.to_string());
    }
    let ago = census_shared::duration::parse(text).map_err(|_| {
        ApiError::new(
            INVALID_REQUEST,
            format!("'{text}' is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration back from now (7d)"),
        )
    })?;
    let moment =
        now - time::Duration::seconds(i64::try_from(ago.as_secs()).unwrap_or(i64::MAX / 2));
    moment.format(&Rfc3339).map_err(ApiError::internal)
}

fn limit_of(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::new(INVALID_REQUEST, "limit must be at least 1")),
        n if n > MAX_LIMIT => Err(ApiError::new(
            INVALID_REQUEST,
            format!("limit must be at most {MAX_LIMIT}"),
        )),
        n => Ok(n),
    }
}

/// One page of matching assets, as of now or of a past moment.
fn search_page(
    state: &ApiState,
    expr: Option<&query::Expr>,
    cursor: Option<&str>,
    limit: usize,
    as_of: Option<&str>,
    now: OffsetDateTime,
) -> Result<SearchPage, ApiError> {
    let Some(at) = as_of else {
        return Ok(state.cmdb.search(expr, cursor, limit, now)?);
    };
    // The indexes describe the present: a past state is found by rebuilding each CI as it was.
    let mut page = state.cmdb.search(None, cursor, usize::MAX, now)?;
    let mut assets = Vec::new();
    let mut next_cursor = None;
    for mut asset in page.assets.drain(..) {
        let Some(past) = state.cmdb.asset_as_of(&asset.header.id, at)? else {
            continue;
        };
        asset.inventory = past.inventory;
        asset.header.managed = past.managed;
        if expr.is_none_or(|e| asset_matches(e, &asset, now)) {
            if assets.len() == limit {
                next_cursor = assets.last().map(|a: &Asset| a.header.id.clone());
                break;
            }
            assets.push(asset);
        }
    }
    Ok(SearchPage {
        assets,
        next_cursor,
    })
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(READERS)?;
    let params = query_params(params)?;
    let limit = limit_of(params.limit)?;
    let now = OffsetDateTime::now_utc();
    let expr = parse_query(params.q.as_deref())?;
    let as_of = params
        .as_of
        .as_deref()
        .map(|text| parse_moment(text, now))
        .transpose()?;
    let page = blocking(move || {
        search_page(
            &state,
            expr.as_ref(),
            params.cursor.as_deref(),
            limit,
            as_of.as_deref(),
            now,
        )
    })
    .await?;
    let items: Vec<AssetSummary> = page.assets.iter().map(AssetSummary::of).collect();
    Ok(Json(
        json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowParams {
    as_of: Option<String>,
}

async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<ShowParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(READERS)?;
    let id = path_id(id)?;
    let params = query_params(params)?;
    let now = OffsetDateTime::now_utc();
    let as_of = params
        .as_of
        .as_deref()
        .map(|text| parse_moment(text, now))
        .transpose()?;
    blocking(move || {
        let not_found =
            || ApiError::not_found(format!("no asset '{id}' (asset ids look like ci-000123)"));
        let mut asset = state.cmdb.get_asset(&id)?.ok_or_else(not_found)?;
        if let Some(at) = &as_of {
            let past = state.cmdb.asset_as_of(&id, at)?.ok_or_else(|| {
                ApiError::not_found(format!("asset '{id}' did not exist yet at {at}"))
            })?;
            asset.inventory = past.inventory;
            asset.header.managed = past.managed;
        }
        let mut value = serde_json::to_value(&asset).map_err(ApiError::internal)?;
        value["summary"] =
            serde_json::to_value(AssetSummary::of(&asset)).map_err(ApiError::internal)?;
        if let Some(at) = as_of {
            value["as_of"] = at.into();
        }
        Ok(Json(value))
    })
    .await
}

async fn patch(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<ManagedFieldsPatch>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(EDITORS)?;
    let id = path_id(id)?;
    let Json(edit) =
        body.map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))?;
    let actor = Actor::person(&caller.user);
    let group_commit = state.group_commit.clone();
    let asset = blocking(move || {
        Ok(state
            .cmdb
            .patch_asset(&id, &edit, &actor, &crate::commands::now_rfc3339())?)
    })
    .await?;
    group_commit.durable().await?;
    tracing::info!(ci = %asset.header.id, user = %caller.user, "managed fields edited");
    Ok(Json(
        serde_json::to_value(&asset).map_err(ApiError::internal)?,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    since: Option<String>,
    until: Option<String>,
    /// Comma-separated entry kinds (`package_upgraded,hostname_changed`).
    kind: Option<String>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

async fn history(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(READERS)?;
    let id = path_id(id)?;
    let params = query_params(params)?;
    let now = OffsetDateTime::now_utc();
    let kinds: Vec<String> = match params.kind.as_deref() {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|kind| kind.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect(),
    };
    let filter = HistoryFilter {
        since: params
            .since
            .as_deref()
            .map(|t| parse_moment(t, now))
            .transpose()?,
        until: params
            .until
            .as_deref()
            .map(|t| parse_moment(t, now))
            .transpose()?,
        kinds,
    };
    let limit = limit_of(params.limit)?;
    let (entries, next) =
        blocking(move || Ok(state.cmdb.history(&id, &filter, limit, params.cursor)?)).await?;
    Ok(Json(json!({ "items": entries, "next_cursor": next })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventParams {
    since: Option<u64>,
    limit: Option<usize>,
}

async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<EventParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(READERS)?;
    let params = query_params(params)?;
    let limit = limit_of(params.limit)?;
    let (events, cursor) =
        blocking(move || Ok(state.cmdb.events_since(params.since.unwrap_or(0), limit)?)).await?;
    Ok(Json(json!({ "items": events, "next_cursor": cursor })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConflictParams {
    all: Option<bool>,
}

async fn conflicts(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<ConflictParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(READERS)?;
    let params = query_params(params)?;
    let conflicts =
        blocking(move || Ok(state.cmdb.list_conflicts(params.all.unwrap_or(false))?)).await?;
    Ok(Json(json!({ "items": conflicts })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "action", rename_all = "snake_case")]
enum ResolveRequest {
    Merge { into: String },
    Split,
}

async fn resolve(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<ResolveRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require_any(EDITORS)?;
    let id = path_id(id)?;
    let Json(request) = body.map_err(|rejection| {
        ApiError::new(
            INVALID_REQUEST,
            format!("{}; send {{\"action\": \"merge\", \"into\": \"ci-…\"}} or {{\"action\": \"split\"}}", rejection.body_text()),
        )
    })?;
    let resolution = match request {
        ResolveRequest::Merge { into } => Resolution::Merge { into },
        ResolveRequest::Split => Resolution::Split,
    };
    let actor = Actor::person(&caller.user);
    let group_commit = state.group_commit.clone();
    let asset = blocking(move || {
        Ok(state
            .cmdb
            .resolve_conflict(&id, resolution, &actor, &crate::commands::now_rfc3339())?)
    })
    .await?;
    group_commit.durable().await?;
    Ok(Json(
        serde_json::to_value(&asset).map_err(ApiError::internal)?,
    ))
}

/// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
pub fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

const CSV_HEADER: &str =
    "id,hostname,serial,os,status,last_seen,first_seen,vendor,product,asset_tag,owner,location\r\n";

fn csv_row(summary: &AssetSummary) -> String {
    let fields = [
        Some(summary.id.as_str()),
        summary.hostname.as_deref(),
        summary.serial.as_deref(),
        summary.os.as_deref(),
        Some(summary.status.as_str()),
        Some(summary.last_seen.as_str()),
        Some(summary.first_seen.as_str()),
        summary.vendor.as_deref(),
        summary.product.as_deref(),
        summary.asset_tag.as_deref(),
        summary.owner.as_deref(),
        summary.location.as_deref(),
    ];
    let mut row: Vec<String> = fields
        .iter()
        .map(|field| csv_field(field.unwrap_or_default()))
        .collect();
    let last = row.pop().unwrap_or_default();
    row.push(last);
    row.join(",") + "\r\n"
}

/// `GET /api/v1/assets/export?q=…&format=csv|json|ndjson`: every match, streamed page by page so a
/// 100,000-CI export never sits in memory.
async fn export(
    State(state): State<ApiState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_any(READERS)?;
    let params = query_params(params)?;
    let format = params.format.clone().unwrap_or_else(|| "csv".into());
    let content_type = match format.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "json" => "application/json",
        "ndjson" => "application/x-ndjson",
        other => {
            return Err(ApiError::new(
                INVALID_REQUEST,
                format!("format '{other}' is not one of csv, json, ndjson"),
            ));
        }
    };
    let now = OffsetDateTime::now_utc();
    let expr = parse_query(params.q.as_deref())?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let send = |text: String| sender.blocking_send(Bytes::from(text)).is_ok();
        let opening = match format.as_str() {
            "csv" => CSV_HEADER.to_string(),
            "json" => "[".to_string(),
            _ => String::new(),
        };
        if !send(opening) {
            return;
        }
        let mut cursor: Option<String> = None;
        let mut first = true;
        loop {
            let page = match state
                .cmdb
                .search(expr.as_ref(), cursor.as_deref(), EXPORT_PAGE, now)
            {
                Ok(page) => page,
                Err(error) => {
                    // Headers are gone: the client sees a truncated body, and the log says why.
                    tracing::error!(%error, "export stopped");
                    return;
                }
            };
            let mut chunk = String::new();
            for asset in &page.assets {
                let summary = AssetSummary::of(asset);
                match format.as_str() {
                    "csv" => chunk.push_str(&csv_row(&summary)),
                    "json" => {
                        if !first {
                            chunk.push(',');
                        }
                        chunk.push_str(&serde_json::to_string(&summary).unwrap_or_default());
                    }
                    _ => {
                        chunk.push_str(&serde_json::to_string(&summary).unwrap_or_default());
                        chunk.push('\n');
                    }
                }
                first = false;
            }
            if !chunk.is_empty() && !send(chunk) {
                return;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if format == "json" {
            send("]".to_string());
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<Bytes, Infallible>(chunk), receiver))
    });
    let mut response = Body::from_stream(stream).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_separators_or_quotes_are_quoted() {
        assert_eq!(csv_field("web-01"), "web-01");
        assert_eq!(csv_field("Dell, Inc."), "\"Dell, Inc.\"");
        assert_eq!(csv_field("19\" rack"), "\"19\"\" rack\"");
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    }

    #[test]
    fn moments_are_rfc3339_or_durations_back_from_now() {
        let now = OffsetDateTime::parse("2026-11-27T00:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse_moment("2026-11-01T00:00:00Z", now).unwrap(),
            "2026-11-01T00:00:00Z"
        );
        assert_eq!(parse_moment("7d", now).unwrap(), "2026-11-20T00:00:00Z");
        assert!(parse_moment("last tuesday", now).is_err());
    }

    #[test]
    fn a_query_that_does_not_parse_says_where() {
        let error = parse_query(Some("hostname ~")).unwrap_err();
        assert_eq!(error.code, INVALID_QUERY);
        assert!(error.message.contains('^'), "{}", error.message);
        assert!(error.message.contains("position"), "{}", error.message);
    }
}

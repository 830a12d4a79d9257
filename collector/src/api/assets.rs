//! The CMDB's HTTP API for asset managers: search, show, edit, history, the change feed, conflicts and
//! streaming exports (see `docs/api.md`).
//!
//! Every endpoint needs an API token. Reading is open to every role (admin, asset_manager,
//! service_desk, auditor, approver); edits and conflict resolution need admin or asset_manager.
//! Handlers validate parameters, run the synchronous CMDB work on the blocking pool and encode.
//! Lists answer `{"items": [...], "next_cursor": ...}`; a `null` cursor means there is nothing more.
//! Times (`as_of`, `since`, `until`) are RFC 3339 or a duration (`7d`: that long before now).
//!
//! Exports are produced page by page on the blocking pool and sent through a small channel as they
//! are found, so memory stays bounded whatever the fleet size and a client that goes away stops the
//! work. Limitation: an error in the middle of an export can only cut the response short (the status
//! line is gone); it is logged.

use super::body::{check_headers, decode_json, read_limited};
use super::error::{ApiError, INVALID_QUERY, INVALID_REQUEST};
use super::{ApiState, blocking};
use crate::auth::{Caller, Role};
use crate::cmdb::model::{Actor, Asset, ManagedFieldsPatch, parse_ci_id};
use crate::cmdb::search::{AssetSummary, Page};
use crate::cmdb::{Conflict, Event, HistoryEntry, HistoryFilter, Resolution};
use crate::query::{self, Expr};
use crate::secret::rfc3339;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::task::{Context, Poll};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

/// Roles that may read inventory, history and conflicts.
pub const READERS: &[Role] = &[
    Role::Admin,
    Role::AssetManager,
    Role::ServiceDesk,
    Role::Auditor,
    Role::Approver,
];
/// Roles that may edit managed fields and resolve conflicts.
pub const EDITORS: &[Role] = &[Role::Admin, Role::AssetManager];

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// Assets fetched per step of an export: large enough to amortise planning, small enough to stream.
const EXPORT_PAGE: usize = 500;
/// Chunks in flight between the export producer and the connection.
const EXPORT_CHANNEL: usize = 16;

/// The asset manager routes, merged into [`super::router`].
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/assets", get(list_assets))
        .route("/api/v1/assets/export", get(export_assets))
        .route("/api/v1/assets/{id}", get(show_asset).patch(patch_asset))
        .route("/api/v1/assets/{id}/history", get(asset_history))
        .route("/api/v1/events", get(events))
        .route("/api/v1/conflicts", get(list_conflicts))
        .route("/api/v1/conflicts/{id}/resolve", post(resolve_conflict))
}

/// Every query parameter the endpoints take; each reads the ones it knows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    pub q: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub as_of: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub kind: Option<String>,
    pub format: Option<String>,
    pub all: Option<String>,
}

fn params(query: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    query
        .map(|Query(params)| params)
        .map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|rejection| ApiError::new(INVALID_REQUEST, rejection.body_text()))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(INVALID_REQUEST, message)
}

/// `limit`: default [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`].
pub fn parse_limit(limit: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = limit else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "limit must be a number from 1 to {MAX_LIMIT} (got '{text}')"
        ))),
    }
}

/// A time parameter: RFC 3339, or a duration meaning that long before `now`; returns RFC 3339 UTC.
pub fn parse_time(name: &str, text: &str, now: OffsetDateTime) -> Result<String, ApiError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(rfc3339(at));
    }
    census_shared::duration::parse(text)
        .ok()
        .and_then(|ago| now.checked_sub(time::Duration::try_from(ago).ok()?))
        .map(rfc3339)
        .ok_or_else(|| {
            invalid(format!(
                "{name} must be an RFC 3339 time (2026-11-26T12:00:00Z) or a duration before now (7d, 12h); got '{text}'"
            ))
        })
}

fn time_param(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    value
        .map(|text| parse_time(name, text, OffsetDateTime::now_utc()))
        .transpose()
}

/// `q`: absent lists everything; a parse error is a 400 with the position and a caret under it.
pub fn parse_query(q: Option<&str>) -> Result<Option<Expr>, ApiError> {
    match q {
        None => Ok(None),
        Some(text) => query::parse(text).map(Some).map_err(|error| {
            ApiError::new(INVALID_QUERY, format!("{error}\n{}", error.render(text)))
        }),
    }
}

fn ci_cursor(cursor: Option<String>) -> Result<Option<String>, ApiError> {
    match cursor {
        Some(id) if parse_ci_id(&id).is_none() => Err(invalid(format!(
            "cursor '{id}' is not a next_cursor from a previous page; start without a cursor"
        ))),
        other => Ok(other),
    }
}

fn record_cursor(name: &str, cursor: Option<&str>) -> Result<Option<u64>, ApiError> {
    cursor
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                invalid(format!(
                    "{name} '{text}' is not a cursor from a previous answer (a number)"
                ))
            })
        })
        .transpose()
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub async fn list_assets(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    caller.require_any(READERS)?;
    let params = params(query)?;
    let expr = parse_query(params.q.as_deref())?;
    let limit = parse_limit(params.limit.as_deref())?;
    let cursor = ci_cursor(params.cursor)?;
    let as_of = time_param("as_of", params.as_of.as_deref())?;
    let cmdb = state.cmdb.clone();
    blocking(move || {
        cmdb.search(expr.as_ref(), cursor.as_deref(), limit, as_of.as_deref())
            .map_err(ApiError::from)
    })
    .await
    .map(Json)
}

pub async fn show_asset(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_any(READERS)?;
    let id = path_id(id)?;
    let as_of = time_param("as_of", params(query)?.as_of.as_deref())?;
    let cmdb = state.cmdb.clone();
    blocking(move || {
        let missing = || ApiError::not_found(format!("no asset '{id}' (ids look like ci-000123)"));
        let mut asset = cmdb.get_asset(&id)?.ok_or_else(missing)?;
        let Some(at) = as_of else {
            return serde_json::to_value(&asset).map_err(ApiError::internal);
        };
        let past = cmdb.asset_as_of(&id, &at)?.ok_or_else(|| {
            ApiError::not_found(format!("asset '{id}' did not exist yet at {at}"))
        })?;
        asset.header.managed = past.managed;
        asset.inventory = past.inventory;
        let mut value = serde_json::to_value(&asset).map_err(ApiError::internal)?;
        value["as_of"] = serde_json::Value::String(at);
        Ok(value)
    })
    .await
    .map(Json)
}

pub async fn patch_asset(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Asset>, ApiError> {
    caller.require_any(EDITORS)?;
    let id = path_id(id)?;
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_small_body_bytes).await?;
    let patch: ManagedFieldsPatch = decode_json(&bytes, encoding, &state.limits)?;
    let cmdb = state.cmdb.clone();
    let actor = Actor::person(caller.user.clone());
    let asset = blocking(move || {
        let now = rfc3339(OffsetDateTime::now_utc());
        cmdb.patch_asset(&id, &patch, &actor, &now)
            .map_err(ApiError::from)
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(ci = %asset.header.id, user = %caller.user, "asset edited");
    Ok(Json(asset))
}

pub async fn asset_history(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Items<HistoryEntry>>, ApiError> {
    caller.require_any(READERS)?;
    let id = path_id(id)?;
    let params = params(query)?;
    let filter = HistoryFilter {
        since: time_param("since", params.since.as_deref())?,
        until: time_param("until", params.until.as_deref())?,
        kinds: params
            .kind
            .iter()
            .flat_map(|kinds| kinds.split(','))
            .map(str::trim)
            .filter(|kind| !kind.is_empty())
            .map(str::to_string)
            .collect(),
    };
    let limit = parse_limit(params.limit.as_deref())?;
    let cursor = record_cursor("cursor", params.cursor.as_deref())?;
    let cmdb = state.cmdb.clone();
    let (items, next) = blocking(move || {
        cmdb.history(&id, &filter, limit, cursor)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(Items {
        items,
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// The change feed. `next_cursor` is always set: pass it as `since` to resume, even when no event was
/// new.
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Items<Event>>, ApiError> {
    caller.require_any(READERS)?;
    let params = params(query)?;
    let since = record_cursor("since", params.since.as_deref())?.unwrap_or(0);
    let limit = parse_limit(params.limit.as_deref())?;
    let cmdb = state.cmdb.clone();
    let (items, next) =
        blocking(move || cmdb.events_since(since, limit).map_err(ApiError::from)).await?;
    Ok(Json(Items {
        items,
        next_cursor: Some(next.to_string()),
    }))
}

pub async fn list_conflicts(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Items<Conflict>>, ApiError> {
    caller.require_any(READERS)?;
    let all = match params(query)?.all.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(invalid(format!(
                "all must be true or false (got '{other}')"
            )));
        }
    };
    let cmdb = state.cmdb.clone();
    let items = blocking(move || cmdb.list_conflicts(all).map_err(ApiError::from)).await?;
    Ok(Json(Items {
        items,
        next_cursor: None,
    }))
}

pub async fn resolve_conflict(
    State(state): State<ApiState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Asset>, ApiError> {
    caller.require_any(EDITORS)?;
    let id = path_id(id)?;
    let encoding = check_headers(&headers)?;
    let bytes = read_limited(&headers, body, state.limits.max_small_body_bytes).await?;
    let resolution: Resolution = decode_json(&bytes, encoding, &state.limits)?;
    let cmdb = state.cmdb.clone();
    let actor = Actor::person(caller.user.clone());
    let asset = blocking(move || {
        let now = rfc3339(OffsetDateTime::now_utc());
        cmdb.resolve_conflict(&id, resolution, &actor, &now)
            .map_err(ApiError::from)
    })
    .await?;
    state.group_commit.durable().await?;
    tracing::info!(ci = %asset.header.id, user = %caller.user, "conflict resolved");
    Ok(Json(asset))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text {
            None | Some("csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            Some("ndjson") => Ok(Format::Ndjson),
            Some(other) => Err(invalid(format!(
                "format must be csv, json or ndjson (got '{other}')"
            ))),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Appends `value` as one RFC 4180 field: quoted (with `"` doubled) when it holds a comma, a quote, a
/// line break or leading/trailing blanks; `None` is an empty field.
pub fn csv_field(out: &mut String, value: Option<&str>) {
    let Some(value) = value else { return };
    let needs_quotes = value.contains([',', '"', '\n', '\r'])
        || value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t']);
    if needs_quotes {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One CSV record, `\r\n`-terminated.
pub fn csv_record<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut line = String::new();
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            line.push(',');
        }
        csv_field(&mut line, field);
    }
    line.push_str("\r\n");
    line
}

fn encode_row(format: Format, item: &AssetSummary, first: bool) -> Result<String, ApiError> {
    match format {
        Format::Csv => Ok(csv_record(item.columns())),
        Format::Json => {
            let json = serde_json::to_string(item).map_err(ApiError::internal)?;
            Ok(format!("{}\n{json}", if first { "" } else { "," }))
        }
        Format::Ndjson => {
            let json = serde_json::to_string(item).map_err(ApiError::internal)?;
            Ok(format!("{json}\n"))
        }
    }
}

/// The receiving end of an export, as the `Stream` axum's `Body::from_stream` reads.
struct Chunks(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

pub async fn export_assets(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_any(READERS)?;
    let params = params(query)?;
    let expr = parse_query(params.q.as_deref())?;
    let format = Format::parse(params.format.as_deref())?;
    let as_of = time_param("as_of", params.as_of.as_deref())?;
    let (sender, receiver) = mpsc::channel(EXPORT_CHANNEL);
    let cmdb = state.cmdb.clone();
    let user = caller.user.clone();
    tokio::task::spawn_blocking(move || {
        let send = |text: String| sender.blocking_send(Ok(Bytes::from(text))).is_ok();
        let opening = match format {
            Format::Csv => csv_record(AssetSummary::COLUMNS.map(Some)),
            Format::Json => "[".to_string(),
            Format::Ndjson => String::new(),
        };
        if !send(opening) {
            return;
        }
        let mut cursor: Option<String> = None;
        let mut first = true;
        loop {
            let page = match cmdb.search(
                expr.as_ref(),
                cursor.as_deref(),
                EXPORT_PAGE,
                as_of.as_deref(),
            ) {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, %user, "asset export failed; the response was cut short");
                    let _ = sender.blocking_send(Err(std::io::Error::other(error.to_string())));
                    return;
                }
            };
            for item in &page.items {
                let Ok(row) = encode_row(format, item, first) else {
                    let _ = sender.blocking_send(Err(std::io::Error::other("unencodable row")));
                    return;
                };
                first = false;
                if !send(row) {
                    // The client went away: stop searching.
                    return;
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if format == Format::Json {
            send("\n]\n".to_string());
        }
    });
    let mut response = Body::from_stream(Chunks(receiver)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"assets.{}\"",
        format.extension()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed_and_quotes_are_doubled() {
        let line = csv_record([
            Some("web-01"),
            None,
            Some("Debian GNU/Linux 12 (bookworm)"),
            Some("Smith, Jane"),
            Some("the \"big\" one"),
            Some("two\nlines"),
            Some(" padded"),
        ]);
        assert_eq!(
            line,
            "web-01,,Debian GNU/Linux 12 (bookworm),\"Smith, Jane\",\"the \"\"big\"\" one\",\"two\nlines\",\" padded\"\r\n"
        );
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_before_now() {
        let now = OffsetDateTime::parse("2026-11-26T12:00:00Z", &Rfc3339).unwrap();
        assert_eq!(
            parse_time("as_of", "2026-11-26T14:00:00+02:00", now).unwrap(),
            "2026-11-26T12:00:00Z"
        );
        assert_eq!(
            parse_time("since", "7d", now).unwrap(),
            "2026-11-19T12:00:00Z"
        );
        assert_eq!(
            parse_time("since", "1h30m", now).unwrap(),
            "2026-11-26T10:30:00Z"
        );
        let error = parse_time("until", "yesterday", now).unwrap_err();
        assert_eq!(error.code, INVALID_REQUEST);
        assert!(
            error.message.contains("until") && error.message.contains("'yesterday'"),
            "{}",
            error.message
        );
    }

    #[test]
    fn limits_default_to_100_and_stay_within_1_to_1000() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten"] {
            let error = parse_limit(Some(bad)).unwrap_err();
            assert!(
                error.message.contains("1 to 1000"),
                "{bad}: {}",
                error.message
            );
        }
    }

    #[test]
    fn a_query_that_does_not_parse_is_a_400_with_position_and_caret() {
        let error = parse_query(Some("memory.total_bytes <")).unwrap_err();
        assert_eq!(error.code, INVALID_QUERY);
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            error.message.contains("at position 20")
                && error
                    .message
                    .ends_with("memory.total_bytes <\n                    ^"),
            "{}",
            error.message
        );
        assert_eq!(parse_query(None).unwrap(), None);
    }

    #[test]
    fn export_formats_parse_by_name() {
        assert_eq!(Format::parse(None).unwrap(), Format::Csv);
        assert_eq!(Format::parse(Some("ndjson")).unwrap(), Format::Ndjson);
        let error = Format::parse(Some("xlsx")).unwrap_err();
        assert!(error.message.contains("'xlsx'"), "{}", error.message);
    }
}

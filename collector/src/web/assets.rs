//! `/assets`: search with the query language, a page at a time; `/assets/{id}`: one CI
//! ([`asset_page`](super::asset_page) renders it); `/assets/{id}/edit`: the managed-fields form.
//!
//! Search calls [`Cmdb::search`](crate::cmdb::Cmdb::search) like `GET /api/v1/assets`: index-planned,
//! [`PAGE_SIZE`] CIs per page, the cursor being the last CI id shown, so a page costs the same on 100k
//! CIs as on ten. A query that does not parse is shown back with its message and a caret under the
//! offending position.

use super::asset_page;
use super::page::{self, HtmlPage};
use super::{PageError, PageResult, WebUser};
use crate::api::ApiState;
use crate::api::assets::{EDITORS, READERS};
use crate::api::error::ApiError;
use crate::cmdb::model::{ManagedFieldsPatch, Status, parse_ci_id};
use crate::cmdb::search::Page;
use crate::cmdb::{HistoryEntry, HistoryFilter};
use crate::itsm::cmdb_directory::CmdbDirectory;
use crate::itsm::context::{CiRecords, ci_records};
use crate::itsm::directory::ci_names;
use crate::itsm::relationship::{RelationshipView, relationships_of};
use crate::query;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

/// CIs per search page unless `limit` says otherwise (at most [`MAX_PAGE_SIZE`]).
pub const PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 200;
/// History entries shown on an asset page.
const HISTORY_SHOWN: usize = 25;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowQuery {
    /// Filter of the software table (a substring of the package name).
    pub pkg: Option<String>,
    pub saved: Option<String>,
    /// History cursor: the record after which older entries are shown.
    pub history: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    pub csrf: String,
    pub asset_tag: String,
    pub owner: String,
    pub location: String,
    pub cost_center: String,
    pub notes: String,
    pub status: String,
    pub status_was: String,
}

pub async fn search(
    State(state): State<ApiState>,
    user: WebUser,
    Query(params): Query<SearchQuery>,
) -> PageResult {
    user.caller()
        .require_any(READERS)
        .map_err(PageError::from)?;
    let text = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let limit = params
        .limit
        .as_deref()
        .and_then(|l| l.parse::<usize>().ok())
        .map_or(PAGE_SIZE, |l| l.clamp(1, MAX_PAGE_SIZE));
    let parsed = text.map(query::parse).transpose();
    let (status, result) = match parsed {
        Err(error) => {
            let shown = text.unwrap_or_default();
            (
                StatusCode::BAD_REQUEST,
                Err((error.to_string(), error.render(shown))),
            )
        }
        Ok(expr) => {
            let cursor = params.cursor.clone().filter(|c| parse_ci_id(c).is_some());
            let cmdb = state.cmdb.clone();
            let page = super::blocking(move || {
                cmdb.search(expr.as_ref(), cursor.as_deref(), limit, None)
                    .map_err(ApiError::from)
            })
            .await?;
            (StatusCode::OK, Ok(page))
        }
    };
    let limit_text = params.limit.as_deref().filter(|_| limit != PAGE_SIZE);
    let body = render_search(&user, text, limit_text, params.cursor.as_deref(), &result);
    Ok((status, body).into_response())
}

fn render_search(
    user: &WebUser,
    text: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
    result: &Result<Page, (String, String)>,
) -> HtmlPage {
    let content = html! {
        h1 { "Assets" }
        form.search method="get" action="/assets" role="search" {
            label for="q" { "Query" }
            div.search-row {
                input id="q" name="q" type="search" value=[text] spellcheck="false"
                    autocomplete="off" aria-describedby="q-help"
                    placeholder="os.id=debian and package:openssl version<3.0.7";
                button.primary type="submit" { "Search" }
            }
            p id="q-help" .muted.small {
                "Examples: " code { "hostname ~ \"web-*\"" } ", " code { "status=stale" } ", "
                code { "memory.total_bytes>=64GiB" } ", " code { "package:openssl version<3.0.7" }
                ". Combine with " code { "and" } ", " code { "or" } ", " code { "not" } "."
            }
        }
        @match result {
            Err((message, caret)) => {
                div.alert role="alert" {
                    p { strong { "The query does not parse: " } (message) }
                    pre.caret { (caret) }
                }
            }
            Ok(page) => {
                @if page.items.is_empty() && page.next_cursor.is_some() {
                    p.empty { "Nothing matched in the part of the inventory searched so far (a page searches for at most 10 seconds); the next page goes on from there." }
                } @else if page.items.is_empty() {
                    p.empty { "No configuration item matches." }
                } @else {
                    table.data {
                        caption { (page.items.len()) " CIs on this page" @if text.is_some() { " matching the query" } }
                        thead {
                            tr {
                                th scope="col" { "Host" }
                                th scope="col" { "Operating system" }
                                th scope="col" { "Model" }
                                th scope="col" { "Serial" }
                                th scope="col" { "Status" }
                                th scope="col" { "Owner" }
                                th scope="col" { "Last seen" }
                            }
                        }
                        tbody {
                            @for item in &page.items {
                                tr {
                                    th scope="row" {
                                        a href={ "/assets/" (item.id) } { (item.hostname.as_deref().unwrap_or(&item.id)) }
                                        br; span.muted.small { (item.id) }
                                    }
                                    td { (page::opt(item.os.as_deref())) }
                                    td {
                                        @match (&item.vendor, &item.product) {
                                            (Some(vendor), Some(product)) => { (vendor) " " (product) },
                                            (vendor, product) => (page::opt(vendor.as_deref().or(product.as_deref()))),
                                        }
                                    }
                                    td { (page::opt(item.serial.as_deref())) }
                                    td { (status_badge(item.status)) }
                                    td { (page::opt(item.owner.as_deref())) }
                                    td { (page::when(&item.last_seen)) }
                                }
                            }
                        }
                    }
                }
                (page::pager("/assets", &[("q", text), ("limit", limit)], cursor, page.next_cursor.as_deref()))
            }
        }
    };
    page::shell(user, "Assets", content)
}

pub fn status_badge(status: Status) -> maud::Markup {
    let tone = match status {
        Status::InUse => "ok",
        Status::Stale => "warn",
        Status::InRepair => "info",
        Status::InStock | Status::Retired => "muted",
    };
    page::badge(tone, &status.as_str().replace('_', " "))
}

/// Everything the asset page shows, read in one blocking call.
pub struct AssetView {
    pub asset: crate::cmdb::Asset,
    pub history: Vec<HistoryEntry>,
    /// Cursor of the next (older) history page, if any.
    pub next_history: Option<u64>,
    /// `None` when the user may not read service-desk records.
    pub records: Option<CiRecords>,
    /// `None` when the user may not read relationships.
    pub related: Option<Vec<RelationshipView>>,
    /// Names of the related CIs, by id.
    pub names: std::collections::BTreeMap<String, String>,
}

pub async fn show(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(params): Query<ShowQuery>,
) -> PageResult {
    user.caller()
        .require_any(READERS)
        .map_err(PageError::from)?;
    let read_records = user.can(crate::api::itsm::Permission::ReadRecords);
    let read_related = user.can(crate::api::itsm::Permission::ReadRelationships);
    let history_cursor = params
        .history
        .as_deref()
        .and_then(|h| h.parse::<u64>().ok());
    let (cmdb, store) = (state.cmdb.clone(), state.store.clone());
    let view = super::blocking(move || {
        let Some(asset) = cmdb.get_asset(&id)? else {
            return Ok(None);
        };
        let (history, next) = cmdb.history(
            &id,
            &HistoryFilter::default(),
            HISTORY_SHOWN,
            history_cursor,
        )?;
        let records = read_records
            .then(|| ci_records(store.as_ref(), &id))
            .transpose()
            .map_err(ApiError::from)?;
        let related = read_related
            .then(|| relationships_of(store.as_ref(), &id))
            .transpose()
            .map_err(ApiError::from)?;
        let directory = CmdbDirectory::new(Arc::clone(&cmdb));
        let others = related.iter().flatten().map(|relation| &relation.other);
        let names = ci_names(&directory, others).map_err(ApiError::from)?;
        Ok(Some(AssetView {
            asset,
            history,
            next_history: next,
            records,
            related,
            names,
        }))
    })
    .await?
    .ok_or_else(|| {
        PageError::not_found("there is no such configuration item (ids look like ci-000123)")
    })?;
    let can_edit = user.caller().require_any(EDITORS).is_ok();
    let filter = params
        .pkg
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    Ok(asset_page::render(&user, &view, can_edit, filter, params.saved.is_some()).into_response())
}

/// `Some(None)` clears a field left empty; the field is always sent, so the form is the truth.
fn field(value: &str) -> Option<Option<String>> {
    let value = value.trim();
    Some((!value.is_empty()).then(|| value.to_string()))
}

pub async fn edit(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<EditForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.caller()
        .require_any(EDITORS)
        .map_err(PageError::from)?;
    let status = match form.status.as_str() {
        "" => None,
        name => Some(Status::parse(name).ok_or_else(|| {
            PageError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("'{name}' is not a status"),
            )
        })?),
    };
    let patch = ManagedFieldsPatch {
        asset_tag: field(&form.asset_tag),
        owner: field(&form.owner),
        location: field(&form.location),
        cost_center: field(&form.cost_center),
        notes: field(&form.notes),
        // Only a status the person changed: resubmitting the form must not rewrite it.
        status: status.filter(|s| s.as_str() != form.status_was),
    };
    let target = id.clone();
    super::cmdb_write(&state, &user, move |cmdb, actor, now| {
        cmdb.patch_asset(&target, &patch, actor, now)
    })
    .await?;
    tracing::info!(ci = %id, user = %user.caller().user, "asset edited in the web console");
    Ok(Redirect::to(&format!("/assets/{}?saved=1", page::encode(&id))).into_response())
}

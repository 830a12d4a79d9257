//! `/reports/unauthorized`: changes discovery saw that no approved change covers, with an acknowledge
//! form on each open one (a note is required, as in the API).

use super::page;
use super::{PageResult, WebUser};
use crate::api::ApiState;
use crate::api::itsm::{Permission, now, read, write};
use crate::itsm::unauthorized::{
    FlagFilter, FlagStatus, acknowledge as acknowledge_flag, list_unauthorized,
};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;

const PAGE_SIZE: usize = 50;
const STATUSES: [(FlagStatus, &str); 3] = [
    (FlagStatus::Open, "open"),
    (FlagStatus::Acknowledged, "acknowledged"),
    (FlagStatus::Linked, "linked"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// `open` (the default), `acknowledged`, `linked` or `all`.
    pub status: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AckForm {
    pub csrf: String,
    pub note: String,
}

pub async fn unauthorized(
    State(state): State<ApiState>,
    user: WebUser,
    Query(params): Query<ListQuery>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let chosen = params.status.clone().unwrap_or_else(|| "open".to_string());
    let filter = FlagFilter {
        status: STATUSES
            .iter()
            .find(|(_, key)| *key == chosen)
            .map(|(s, _)| *s),
        ..FlagFilter::default()
    };
    let cursor = params.cursor.clone();
    let page = read(&state, move |store, _| {
        list_unauthorized(store, &filter, cursor.as_deref(), PAGE_SIZE)
    })
    .await?;
    let can_ack = user.can(Permission::WriteChanges);
    let content = html! {
        h1 { "Unauthorized changes" }
        p.lead { "Changes discovery saw on a CI that no approved change window covers. Acknowledge each one with a note saying why it is fine or what was done." }
        form.filters method="get" action="/reports/unauthorized" {
            label for="status" { "Show" }
            select id="status" name="status" {
                @for key in ["open", "acknowledged", "linked", "all"] {
                    option value=(key) selected[chosen == key] { (key) }
                }
            }
            button type="submit" { "Show" }
        }
        @if page.items.is_empty() {
            p.empty { "Nothing to review." }
        } @else {
            table.data {
                caption.sr { "Unauthorized changes, newest first" }
                thead { tr {
                    th scope="col" { "Flag" } th scope="col" { "CI" } th scope="col" { "Change" }
                    th scope="col" { "Seen" } th scope="col" { "Status" }
                    @if can_ack { th scope="col" { "Acknowledge" } }
                } }
                tbody {
                    @for flag in &page.items {
                        tr {
                            th scope="row" { (flag.id) }
                            td { a href={ "/assets/" (flag.ci) } { (flag.ci) } }
                            td {
                                (page::words(&flag.change.kind)) " " strong { (flag.change.subject) } br;
                                span.muted.small { (flag.change.old.as_deref().unwrap_or("none")) " → " (flag.change.new.as_deref().unwrap_or("none")) }
                            }
                            td { (page::at(flag.change.at)) }
                            td {
                                @match flag.status {
                                    FlagStatus::Open => (page::badge("bad", "open")),
                                    FlagStatus::Acknowledged => { (page::badge("ok", "acknowledged")) @if let Some(by) = &flag.acknowledged_by { br; span.muted.small { "by " (by) } } },
                                    FlagStatus::Linked => { (page::badge("info", "linked")) " " (flag.linked_change.as_deref().unwrap_or_default()) },
                                }
                            }
                            @if can_ack {
                                td {
                                    @if flag.status == FlagStatus::Open {
                                        form.inline method="post" action={ "/reports/unauthorized/" (flag.id) "/acknowledge" } {
                                            (page::csrf(&user))
                                            label.sr for={ "note-" (flag.id) } { "Note for " (flag.id) }
                                            input id={ "note-" (flag.id) } name="note" type="text" required placeholder="why this is fine";
                                            button type="submit" { "Acknowledge" }
                                        }
                                    } @else if let Some(note) = &flag.note {
                                        span.small { (note) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (page::pager("/reports/unauthorized", &[("status", Some(chosen.as_str()))], params.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(page::shell(&user, "Unauthorized changes", content).into_response())
}

pub async fn acknowledge(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AckForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.require(Permission::WriteChanges)?;
    let actor = user.who.actor();
    let target = id.trim().to_string();
    write(&state, move |store, _| {
        acknowledge_flag(store, &target, &actor, &form.note, now())
    })
    .await?;
    Ok(Redirect::to("/reports/unauthorized").into_response())
}

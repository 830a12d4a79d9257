//! `/changes`: the list and the detail page with one button per legal transition (the form that
//! creates one is in `change_form.rs`). Approving and
//! rejecting are shown to approvers and admins only, every other move to the roles that write
//! changes, exactly as `POST /api/v1/changes/{id}/transition` decides.

use super::page::{self, HtmlPage};
use super::{PageError, PageResult, WebUser};
use crate::api::ApiState;
use crate::api::itsm::{Permission, now, read, write};
use crate::itsm::Warning;
use crate::itsm::change::{
    Change, ChangeFilter, ChangeState, ChangeTransition, get_change, list_changes,
    transition_change,
};
use crate::itsm::directory::ci_names;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use std::collections::BTreeMap;

const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub state: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransitionForm {
    pub csrf: String,
    pub to: String,
    pub note: String,
}

fn state_by_key(key: &str) -> Option<ChangeState> {
    ChangeState::ALL.into_iter().find(|s| s.key() == key)
}

/// The permission a move to `to` needs.
pub fn permission_for(to: ChangeState) -> Permission {
    if matches!(to, ChangeState::Approved | ChangeState::Rejected) {
        Permission::ApproveChanges
    } else {
        Permission::WriteChanges
    }
}

fn tone(state: ChangeState) -> &'static str {
    match state {
        ChangeState::Approved | ChangeState::Closed => "ok",
        ChangeState::Rejected => "bad",
        ChangeState::Assessment | ChangeState::Implementing => "warn",
        ChangeState::Scheduled | ChangeState::Review => "info",
        ChangeState::Draft | ChangeState::Cancelled => "muted",
    }
}

fn label(to: ChangeState) -> String {
    match to {
        ChangeState::Approved => "Approve".into(),
        ChangeState::Rejected => "Reject".into(),
        ChangeState::Assessment => "Submit for assessment".into(),
        ChangeState::Cancelled => "Cancel change".into(),
        other => format!("Move to {other}"),
    }
}

pub async fn list(
    State(state): State<ApiState>,
    user: WebUser,
    Query(params): Query<ListQuery>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let state_filter = params.state.as_deref().filter(|s| !s.is_empty());
    let filter = ChangeFilter {
        state: state_filter.and_then(state_by_key),
        ..ChangeFilter::default()
    };
    let cursor = params.cursor.clone();
    let page = read(&state, move |store, _| {
        list_changes(store, &filter, cursor.as_deref(), PAGE_SIZE)
    })
    .await?;
    let content = html! {
        div.page-head {
            h1 { "Changes" }
            @if user.can(Permission::WriteChanges) {
                a.button.primary href="/changes/new" { "New change" }
            }
        }
        form.filters method="get" action="/changes" {
            (page::state_select(ChangeState::ALL.map(|s| (s.key(), s.to_string())), state_filter))
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.empty { "No change matches." }
        } @else {
            table.data {
                caption.sr { "Changes, newest first" }
                thead { tr {
                    th scope="col" { "Change" } th scope="col" { "Title" } th scope="col" { "Type" }
                    th scope="col" { "Risk" } th scope="col" { "State" } th scope="col" { "Window" }
                } }
                tbody {
                    @for change in &page.items {
                        tr {
                            th scope="row" { a href={ "/changes/" (change.id) } { (change.id) } }
                            td { (change.title) }
                            td { (page::words(&change.change_type)) }
                            td { (page::words(&change.risk)) }
                            td { (page::badge(tone(change.state), &change.state.to_string())) }
                            td { @match &change.window { Some(w) => { (page::at(w.start)) " – " (page::at(w.end)) }, None => (page::unknown()) } }
                        }
                    }
                }
            }
        }
        (page::pager("/changes", &[("state", state_filter)], params.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(page::shell(&user, "Changes", content).into_response())
}

pub async fn show(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let (change, names) = read(&state, move |store, dir| {
        let change = get_change(store, id.trim())?;
        let names = ci_names(dir, &change.affected_cis)?;
        Ok((change, names))
    })
    .await?;
    Ok(change_page(&user, &change, &names, &[]).into_response())
}

/// A change's page; `warnings` are those its creation raised (an overlapping window, ...).
pub fn change_page(
    user: &WebUser,
    change: &Change,
    names: &BTreeMap<String, String>,
    warnings: &[Warning],
) -> HtmlPage {
    let action = format!("/changes/{}/transition", change.id);
    let next: Vec<ChangeState> = change
        .state
        .allowed_next(change.change_type)
        .iter()
        .copied()
        .filter(|to| user.can(permission_for(*to)))
        .collect();
    let content = html! {
        p.crumbs { a href="/changes" { "Changes" } " / " (change.id) }
        @for warning in warnings { p.alert role="status" { "Created, with a warning: " (warning.message) } }
        div.page-head {
            h1 { (change.id) ": " (change.title) }
            div { (page::badge(tone(change.state), &change.state.to_string())) }
        }
        div.grid {
            section.card aria-labelledby="details" {
                h2 id="details" { "Details" }
                dl.facts {
                    div { dt { "Type" } dd { (page::words(&change.change_type)) } }
                    div { dt { "Risk" } dd { (page::words(&change.risk)) } }
                    div { dt { "Window" } dd { @match &change.window { Some(w) => { (page::at(w.start)) " – " (page::at(w.end)) }, None => (page::unknown()) } } }
                    div { dt { "Requested by" } dd { (change.requested_by) } }
                    div { dt { "Approver" } dd { (page::opt(change.approver.as_deref())) } }
                    div { dt { "Affected CIs" } dd { (page::ci_links(&change.affected_cis, names)) } }
                }
                @if let Some(text) = &change.description { p.description { (text) } }
                @if let Some(plan) = &change.implementation_plan { h3 { "Implementation plan" } p.description { (plan) } }
                @if let Some(plan) = &change.backout_plan { h3 { "Back-out plan" } p.description { (plan) } }
            }
            section.card aria-labelledby="actions" {
                h2 id="actions" { "Actions" }
                @if next.is_empty() {
                    p.muted { "No move is open to your role from " (change.state.to_string()) "." }
                } @else {
                    @for to in &next {
                        form.stack.action method="post" action=(action) {
                            (page::csrf(user))
                            input type="hidden" name="to" value=(to.key());
                            label for={ "note-" (to.key()) } { "Note (optional)" }
                            input id={ "note-" (to.key()) } name="note" type="text";
                            button type="submit" class=(if *to == ChangeState::Rejected || *to == ChangeState::Cancelled { "danger" } else { "primary" }) { (label(*to)) }
                        }
                    }
                }
            }
        }
    };
    page::shell(user, &change.id, content)
}

pub async fn transition(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TransitionForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    let to = state_by_key(&form.to).ok_or_else(|| {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("'{}' is not a change state", form.to),
        )
    })?;
    user.require(permission_for(to))?;
    let request = ChangeTransition {
        to,
        note: Some(form.note.trim().to_string()).filter(|n| !n.is_empty()),
    };
    let actor = user.who.actor();
    let target = id.trim().to_string();
    write(&state, move |store, _| {
        transition_change(store, &actor, &target, request, now())
    })
    .await?;
    Ok(Redirect::to(&format!("/changes/{}", page::encode(id.trim()))).into_response())
}

//! `/problems`: the list, the form that opens one, and the detail page with one form per legal
//! transition, as `POST /api/v1/problems` and `/api/v1/problems/{id}/transition` take them. Moving
//! to Known error asks for the root cause and the workaround, to Resolved for the root cause (the
//! API refuses them otherwise); the form comes back with what to fix.

use super::incidents::NewQuery;
use super::page::{self, HtmlPage};
use super::{PageError, PageResult, WebUser};
use crate::api::ApiState;
use crate::api::itsm::{Permission, now, read, write};
use crate::itsm::ItsmError;
use crate::itsm::directory::ci_names;
use crate::itsm::problem::{
    NewProblem, Problem, ProblemFilter, ProblemState, ProblemTransition, create_problem,
    get_problem, list_problems, transition_problem,
};
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
pub struct CreateForm {
    pub csrf: String,
    pub title: String,
    pub description: String,
    pub assignee: String,
    pub affected_cis: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransitionForm {
    pub csrf: String,
    pub to: String,
    pub root_cause: String,
    pub workaround: String,
    pub note: String,
}

fn state_by_key(key: &str) -> Option<ProblemState> {
    ProblemState::ALL.into_iter().find(|s| s.key() == key)
}

fn tone(state: ProblemState) -> &'static str {
    match state {
        ProblemState::Resolved | ProblemState::Closed => "ok",
        ProblemState::KnownError => "warn",
        ProblemState::Investigating => "info",
        ProblemState::New | ProblemState::Cancelled => "muted",
    }
}

fn label(to: ProblemState) -> String {
    match to {
        ProblemState::KnownError => "Record as known error".into(),
        ProblemState::Cancelled => "Cancel problem".into(),
        other => format!("Move to {other}"),
    }
}

/// Text typed in a form: trimmed, empty as none.
fn text(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

pub async fn list(
    State(state): State<ApiState>,
    user: WebUser,
    Query(params): Query<ListQuery>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let state_filter = params.state.as_deref().filter(|s| !s.is_empty());
    let filter = ProblemFilter {
        state: state_filter.and_then(state_by_key),
        ..ProblemFilter::default()
    };
    let cursor = params.cursor.clone();
    let page = read(&state, move |store, _| {
        list_problems(store, &filter, cursor.as_deref(), PAGE_SIZE)
    })
    .await?;
    let content = html! {
        div.page-head {
            h1 { "Problems" }
            @if user.can(Permission::WriteIncidents) {
                a.button.primary href="/problems/new" { "New problem" }
            }
        }
        form.filters method="get" action="/problems" {
            (page::state_select(ProblemState::ALL.map(|s| (s.key(), s.to_string())), state_filter))
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.empty { "No problem matches." }
        } @else {
            table.data {
                caption.sr { "Problems, newest first" }
                thead { tr {
                    th scope="col" { "Problem" } th scope="col" { "Title" } th scope="col" { "State" }
                    th scope="col" { "Assignee" } th scope="col" { "Incidents" } th scope="col" { "Opened" }
                } }
                tbody {
                    @for problem in &page.items {
                        tr {
                            th scope="row" { a href={ "/problems/" (problem.id) } { (problem.id) } }
                            td { (problem.title) }
                            td { (page::badge(tone(problem.state), &problem.state.to_string())) }
                            td { (page::opt(problem.assignee.as_deref())) }
                            td { (problem.incidents.len()) }
                            td { (page::at(problem.opened_at)) }
                        }
                    }
                }
            }
        }
        (page::pager("/problems", &[("state", state_filter)], params.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(page::shell(&user, "Problems", content).into_response())
}

fn new_page(user: &WebUser, form: &CreateForm, error: Option<&str>) -> HtmlPage {
    let content = html! {
        p.crumbs { a href="/problems" { "Problems" } " / new" }
        h1 { "New problem" }
        @if let Some(error) = error { p.alert role="alert" { (error) } }
        form.stack method="post" action="/problems" {
            (page::csrf(user))
            (page::title_and_description(&form.title, &form.description))
            label for="f-assignee" { "Assignee (optional)" }
            input id="f-assignee" name="assignee" type="text" value=(form.assignee);
            (page::affected_cis_field(&form.affected_cis))
            button.primary type="submit" { "Open problem" }
        }
    };
    page::shell(user, "New problem", content)
}

pub async fn new_form(user: WebUser, Query(params): Query<NewQuery>) -> PageResult {
    user.require(Permission::WriteIncidents)?;
    let form = CreateForm {
        affected_cis: params.ci.unwrap_or_default(),
        ..CreateForm::default()
    };
    Ok(new_page(&user, &form, None).into_response())
}

pub async fn create(
    State(state): State<ApiState>,
    user: WebUser,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.require(Permission::WriteIncidents)?;
    let request = NewProblem {
        title: form.title.clone(),
        description: text(&form.description),
        assignee: text(&form.assignee),
        linked_cis: page::affected_cis(&form.affected_cis),
    };
    let actor = user.who.actor();
    let created = write(&state, move |store, dir| {
        match create_problem(store, dir, &actor, request, now()) {
            Ok(problem) => Ok(Ok(problem)),
            // The person fixes these in the form.
            Err(error @ (ItsmError::Invalid { .. } | ItsmError::UnknownCi { .. })) => {
                Ok(Err(error.to_string()))
            }
            Err(other) => Err(other),
        }
    })
    .await?;
    match created {
        Ok(problem) => {
            Ok(Redirect::to(&format!("/problems/{}", page::encode(&problem.id))).into_response())
        }
        Err(message) => {
            let page = new_page(&user, &form, Some(&message));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

pub async fn show(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let (problem, names) = read(&state, move |store, dir| {
        let problem = get_problem(store, id.trim())?;
        let names = ci_names(dir, &problem.linked_cis)?;
        Ok((problem, names))
    })
    .await?;
    Ok(problem_page(&user, &problem, &names, None).into_response())
}

/// A problem's page; `error` is what a refused transition asks the person to fix.
fn problem_page(
    user: &WebUser,
    problem: &Problem,
    names: &BTreeMap<String, String>,
    error: Option<&str>,
) -> HtmlPage {
    let action = format!("/problems/{}/transition", problem.id);
    let next: &[ProblemState] = if user.can(Permission::WriteIncidents) {
        problem.state.allowed_next()
    } else {
        &[]
    };
    let content = html! {
        p.crumbs { a href="/problems" { "Problems" } " / " (problem.id) }
        @if let Some(error) = error { p.alert role="alert" { (error) } }
        div.page-head {
            h1 { (problem.id) ": " (problem.title) }
            div { (page::badge(tone(problem.state), &problem.state.to_string())) }
        }
        div.grid {
            section.card aria-labelledby="details" {
                h2 id="details" { "Details" }
                dl.facts {
                    div { dt { "Assignee" } dd { (page::opt(problem.assignee.as_deref())) } }
                    div { dt { "Opened" } dd { (page::at(problem.opened_at)) " by " (problem.opened_by) } }
                    div { dt { "Known error" } dd { @if problem.known_error { "yes" } @else { "no" } } }
                    div { dt { "Linked CIs" } dd { (page::ci_links(&problem.linked_cis, names)) } }
                    div { dt { "Incidents" } dd {
                        @if problem.incidents.is_empty() { (page::unknown()) }
                        @for (n, incident) in problem.incidents.iter().enumerate() {
                            @if n > 0 { ", " }
                            a href={ "/incidents/" (incident) } { (incident) }
                        }
                    } }
                }
                @if let Some(text) = &problem.description { p.description { (text) } }
                @if let Some(cause) = &problem.root_cause { h3 { "Root cause" } p.description { (cause) } }
                @if let Some(workaround) = &problem.workaround { h3 { "Workaround" } p.description { (workaround) } }
            }
            section.card aria-labelledby="actions" {
                h2 id="actions" { "Actions" }
                @if next.is_empty() {
                    p.muted { "No move is open to your role from " (problem.state.to_string()) "." }
                }
                @for to in next {
                    form.stack.action method="post" action=(action) {
                        (page::csrf(user))
                        input type="hidden" name="to" value=(to.key());
                        @if matches!(to, ProblemState::KnownError | ProblemState::Resolved) {
                            label for={ "cause-" (to.key()) } { "Root cause" }
                            textarea id={ "cause-" (to.key()) } name="root_cause" rows="2" required { (problem.root_cause.as_deref().unwrap_or_default()) }
                        }
                        @if *to == ProblemState::KnownError {
                            label for={ "workaround-" (to.key()) } { "Workaround" }
                            textarea id={ "workaround-" (to.key()) } name="workaround" rows="2" required { (problem.workaround.as_deref().unwrap_or_default()) }
                        }
                        label for={ "note-" (to.key()) } { "Note (optional)" }
                        input id={ "note-" (to.key()) } name="note" type="text";
                        button type="submit" class=(if *to == ProblemState::Cancelled { "danger" } else { "primary" }) { (label(*to)) }
                    }
                }
            }
        }
    };
    page::shell(user, &problem.id, content)
}

pub async fn transition(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TransitionForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.require(Permission::WriteIncidents)?;
    let to = state_by_key(&form.to).ok_or_else(|| {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("'{}' is not a problem state", form.to),
        )
    })?;
    let request = ProblemTransition {
        to,
        root_cause: text(&form.root_cause),
        workaround: text(&form.workaround),
        note: text(&form.note),
    };
    let actor = user.who.actor();
    let target = id.trim().to_string();
    let moved = write(&state, move |store, dir| {
        match transition_problem(store, &actor, &target, request, now()) {
            Ok(_) => Ok(Ok(())),
            // What the person can fix (a missing root cause, a move no longer open) comes back on
            // the problem's page.
            Err(
                error @ (ItsmError::Invalid { .. }
                | ItsmError::IllegalTransition { .. }
                | ItsmError::Final { .. }),
            ) => {
                let problem = get_problem(store, &target)?;
                let names = ci_names(dir, &problem.linked_cis)?;
                Ok(Err((error.to_string(), problem, names)))
            }
            Err(other) => Err(other),
        }
    })
    .await?;
    match moved {
        Ok(()) => {
            Ok(Redirect::to(&format!("/problems/{}", page::encode(id.trim()))).into_response())
        }
        Err((message, problem, names)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            problem_page(&user, &problem, &names, Some(&message)),
        )
            .into_response()),
    }
}

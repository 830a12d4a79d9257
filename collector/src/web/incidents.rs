//! `/incidents`: the list (state and priority filters, cursor pages), the new-incident form (opened
//! from an asset page with its CI filled in), the detail page with its context (affected hardware,
//! recent changes, impact) and one button per legal state transition.
//!
//! Permissions are the JSON API's: reading needs `ReadRecords`, creating and moving `WriteIncidents`.

use super::dashboard::priority_badge;
use super::page::{self, HtmlPage};
use super::{PageError, PageResult, WebUser, incident_page};
use crate::api::ApiState;
use crate::api::itsm::{Permission, now, read, write};
use crate::itsm::ItsmError;
use crate::itsm::context::incident_context;
use crate::itsm::directory::ci_names;
use crate::itsm::impact::ImpactLimits;
use crate::itsm::incident::{
    IncidentFilter, IncidentState, IncidentTransition, NewIncident, ResolutionCode,
    create_incident, list_incidents, transition_incident,
};
use crate::itsm::priority::{Level, Priority};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;

const PAGE_SIZE: usize = 50;
/// Look-back of the context shown on an incident page, in days.
const CONTEXT_DAYS: u32 = 7;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub state: Option<String>,
    pub priority: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewQuery {
    pub ci: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    pub csrf: String,
    pub title: String,
    pub description: String,
    pub impact: String,
    pub urgency: String,
    pub assignee: String,
    pub affected_cis: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TransitionForm {
    pub csrf: String,
    pub to: String,
    pub note: String,
    pub resolution_code: String,
    pub resolution_notes: String,
}

/// A snake_case enum value from a form or query (`in_progress`, `P2`).
fn parse_name<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

pub fn state_tone(state: IncidentState) -> &'static str {
    match state {
        IncidentState::New => "info",
        IncidentState::InProgress => "warn",
        IncidentState::OnHold => "muted",
        IncidentState::Resolved | IncidentState::Closed => "ok",
        IncidentState::Cancelled => "muted",
    }
}

pub async fn list(
    State(state): State<ApiState>,
    user: WebUser,
    Query(params): Query<ListQuery>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let state_filter = params.state.as_deref().filter(|s| !s.is_empty());
    let priority_filter = params.priority.as_deref().filter(|s| !s.is_empty());
    let filter = IncidentFilter {
        state: state_filter.and_then(parse_name),
        priority: priority_filter.and_then(parse_name),
        ..IncidentFilter::default()
    };
    let cursor = params.cursor.clone();
    let (page, names) = read(&state, move |store, dir| {
        let page = list_incidents(store, &filter, cursor.as_deref(), PAGE_SIZE)?;
        let names = ci_names(dir, page.items.iter().flat_map(|i| &i.affected_cis))?;
        Ok((page, names))
    })
    .await?;
    let pairs = [("state", state_filter), ("priority", priority_filter)];
    let content = html! {
        div.page-head {
            h1 { "Incidents" }
            @if user.can(Permission::WriteIncidents) {
                a.button.primary href="/incidents/new" { "New incident" }
            }
        }
        form.filters method="get" action="/incidents" {
            (page::state_select(IncidentState::ALL.map(|s| (s.key(), s.to_string())), state_filter))
            label for="priority" { "Priority" }
            select id="priority" name="priority" {
                option value="" { "Any" }
                @for p in [Priority::P1, Priority::P2, Priority::P3, Priority::P4, Priority::P5] {
                    @let key = format!("{p:?}");
                    option value=(key) selected[priority_filter == Some(key.as_str())] { (p.to_string()) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.empty { "No incident matches." }
        } @else {
            table.data {
                caption.sr { "Incidents, newest first" }
                thead { tr {
                    th scope="col" { "Incident" } th scope="col" { "Title" } th scope="col" { "Priority" }
                    th scope="col" { "State" } th scope="col" { "Affected CIs" } th scope="col" { "Opened" }
                } }
                tbody {
                    @for incident in &page.items {
                        tr {
                            th scope="row" { a href={ "/incidents/" (incident.id) } { (incident.id) } }
                            td { (incident.title) }
                            td { (priority_badge(incident.priority)) }
                            td { (page::badge(state_tone(incident.state), &incident.state.to_string())) }
                            td { (page::ci_links(&incident.affected_cis, &names)) }
                            td { (page::at(incident.opened_at)) }
                        }
                    }
                }
            }
        }
        (page::pager("/incidents", &pairs, params.cursor.as_deref(), page.next_cursor.as_deref()))
    };
    Ok(page::shell(&user, "Incidents", content).into_response())
}

fn level_select(name: &str, label: &str, chosen: &str) -> maud::Markup {
    html! {
        label for={ "f-" (name) } { (label) }
        select id={ "f-" (name) } name=(name) {
            @for (value, text) in [("1", "1 – high"), ("2", "2 – medium"), ("3", "3 – low")] {
                option value=(value) selected[chosen == value] { (text) }
            }
        }
    }
}

fn new_page(user: &WebUser, form: &CreateForm, error: Option<&str>) -> HtmlPage {
    let content = html! {
        p.crumbs { a href="/incidents" { "Incidents" } " / new" }
        h1 { "New incident" }
        section.card.narrow {
            @if let Some(error) = error { p.alert role="alert" { (error) } }
            form.stack method="post" action="/incidents" {
                (page::csrf(user))
                (page::title_and_description(&form.title, &form.description))
                div.pair {
                    div { (level_select("impact", "Impact", if form.impact.is_empty() { "2" } else { &form.impact })) }
                    div { (level_select("urgency", "Urgency", if form.urgency.is_empty() { "2" } else { &form.urgency })) }
                }
                label for="f-assignee" { "Assignee" }
                input id="f-assignee" name="assignee" type="text" value=(form.assignee);
                (page::affected_cis_field(&form.affected_cis))
                button.primary type="submit" { "Create incident" }
            }
        }
    };
    page::shell(user, "New incident", content)
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
    let level = |text: &str| {
        text.parse::<u8>()
            .ok()
            .and_then(|n| Level::try_from(n).ok())
    };
    let (Some(impact), Some(urgency)) = (level(&form.impact), level(&form.urgency)) else {
        let page = new_page(&user, &form, Some("impact and urgency must be 1, 2 or 3"));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
    let request = NewIncident {
        title: form.title.clone(),
        description: text(&form.description),
        caller: None,
        assignee: text(&form.assignee),
        assignment_group: None,
        impact,
        urgency,
        affected_cis: page::affected_cis(&form.affected_cis),
    };
    let actor = user.who.actor();
    let created = write(&state, move |store, dir| {
        match create_incident(store, dir, &actor, request, now()) {
            Ok(incident) => Ok(Ok(incident)),
            // The person fixes these in the form.
            Err(error @ (ItsmError::Invalid { .. } | ItsmError::UnknownCi { .. })) => {
                Ok(Err(error.to_string()))
            }
            Err(other) => Err(other),
        }
    })
    .await?;
    match created {
        Ok(incident) => {
            Ok(Redirect::to(&format!("/incidents/{}", page::encode(&incident.id))).into_response())
        }
        Err(message) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            new_page(&user, &form, Some(&message)),
        )
            .into_response()),
    }
}

pub async fn show(
    State(state): State<ApiState>,
    user: WebUser,
    Path(id): Path<String>,
) -> PageResult {
    user.require(Permission::ReadRecords)?;
    let (context, names) = read(&state, move |store, dir| {
        let context = incident_context(
            store,
            dir,
            id.trim(),
            CONTEXT_DAYS,
            now(),
            ImpactLimits::default(),
        )?;
        let linked = context.incident.affected_cis.iter();
        let names = ci_names(
            dir,
            linked.chain(context.impact.cis.iter().map(|ci| &ci.ci)),
        )?;
        Ok((context, names))
    })
    .await?;
    Ok(incident_page::render(&user, &context, &names).into_response())
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
    let to: IncidentState = parse_name(&form.to).ok_or_else(|| {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("'{}' is not an incident state", form.to),
        )
    })?;
    let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
    let request = IncidentTransition {
        to,
        resolution_code: parse_name::<ResolutionCode>(&form.resolution_code),
        resolution_notes: text(&form.resolution_notes),
        note: text(&form.note),
    };
    let actor = user.who.actor();
    let target = id.trim().to_string();
    write(&state, move |store, _| {
        transition_incident(store, &actor, &target, request, now())
    })
    .await?;
    Ok(Redirect::to(&format!("/incidents/{}", page::encode(id.trim()))).into_response())
}

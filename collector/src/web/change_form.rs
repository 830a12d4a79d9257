//! `/changes/new` and `POST /changes`: the form a service-desk agent plans a change with, as
//! `POST /api/v1/changes` takes it (type, risk, planned window, plans, affected CIs). The window is
//! entered in UTC, as the API stores it. Mistakes the person can fix come back in the form with
//! what to fix; warnings of a created change (an overlapping window) are shown on its page.

use super::changes::change_page;
use super::incidents::NewQuery;
use super::page::{self, HtmlPage};
use super::{PageResult, WebUser};
use crate::api::ApiState;
use crate::api::itsm::{Permission, now, write};
use crate::itsm::ItsmError;
use crate::itsm::change::{ChangeType, NewChange, PlannedWindow, Risk, create_change};
use crate::itsm::directory::ci_names;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use time::{OffsetDateTime, PrimitiveDateTime};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    pub csrf: String,
    pub title: String,
    pub description: String,
    pub change_type: String,
    pub risk: String,
    /// `datetime-local` values (`2026-12-01T22:00`), UTC.
    pub window_start: String,
    pub window_end: String,
    pub implementation_plan: String,
    pub backout_plan: String,
    pub affected_cis: String,
}

const TYPES: [(&str, &str); 3] = [
    ("normal", "Normal (assessed and approved)"),
    ("standard", "Standard (pre-approved)"),
    ("emergency", "Emergency"),
];
const RISKS: [(&str, &str); 3] = [("low", "Low"), ("moderate", "Moderate"), ("high", "High")];

fn select(name: &str, label: &str, options: &[(&str, &str)], chosen: &str) -> maud::Markup {
    html! {
        label for={ "f-" (name) } { (label) }
        select id={ "f-" (name) } name=(name) {
            @for (value, text) in options {
                option value=(value) selected[chosen == *value] { (text) }
            }
        }
    }
}

fn new_page(user: &WebUser, form: &CreateForm, error: Option<&str>) -> HtmlPage {
    let content = html! {
        p.crumbs { a href="/changes" { "Changes" } " / new" }
        h1 { "New change" }
        section.card.narrow {
            @if let Some(error) = error { p.alert role="alert" { (error) } }
            form.stack method="post" action="/changes" {
                (page::csrf(user))
                (page::title_and_description(&form.title, &form.description))
                div.pair {
                    div { (select("change_type", "Type", &TYPES, if form.change_type.is_empty() { "normal" } else { &form.change_type })) }
                    div { (select("risk", "Risk", &RISKS, if form.risk.is_empty() { "moderate" } else { &form.risk })) }
                }
                div.pair {
                    div {
                        label for="f-window-start" { "Window start (UTC)" }
                        input id="f-window-start" name="window_start" type="datetime-local" value=(form.window_start);
                    }
                    div {
                        label for="f-window-end" { "Window end (UTC)" }
                        input id="f-window-end" name="window_end" type="datetime-local" value=(form.window_end);
                    }
                }
                label for="f-plan" { "Implementation plan" }
                textarea id="f-plan" name="implementation_plan" rows="3" { (form.implementation_plan) }
                label for="f-backout" { "Back-out plan" }
                textarea id="f-backout" name="backout_plan" rows="3" { (form.backout_plan) }
                (page::affected_cis_field(&form.affected_cis))
                button.primary type="submit" { "Create change" }
            }
        }
    };
    page::shell(user, "New change", content)
}

pub async fn new_form(user: WebUser, Query(params): Query<NewQuery>) -> PageResult {
    user.require(Permission::WriteChanges)?;
    let form = CreateForm {
        affected_cis: params.ci.unwrap_or_default(),
        ..CreateForm::default()
    };
    Ok(new_page(&user, &form, None).into_response())
}

/// A `datetime-local` value as UTC; empty is none.
fn utc(field: &str, value: &str) -> Result<Option<OffsetDateTime>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let with_seconds =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    PrimitiveDateTime::parse(value, minutes)
        .or_else(|_| PrimitiveDateTime::parse(value, with_seconds))
        .map(|at| Some(at.assume_utc()))
        .map_err(|_| format!("{field} '{value}' is not a date and time (e.g. 2026-12-01T22:00)"))
}

/// The form as the API's request, or what the person must fix.
fn request_of(form: &CreateForm) -> Result<NewChange, String> {
    let change_type = match form.change_type.as_str() {
        "standard" => ChangeType::Standard,
        "emergency" => ChangeType::Emergency,
        "normal" | "" => ChangeType::Normal,
        other => return Err(format!("'{other}' is not a change type")),
    };
    let risk = match form.risk.as_str() {
        "low" => Risk::Low,
        "high" => Risk::High,
        "moderate" | "" => Risk::Moderate,
        other => return Err(format!("'{other}' is not a risk level")),
    };
    let window = match (
        utc("window start", &form.window_start)?,
        utc("window end", &form.window_end)?,
    ) {
        (Some(start), Some(end)) => Some(PlannedWindow { start, end }),
        (None, None) => None,
        _ => return Err("give both ends of the window, or neither".to_string()),
    };
    let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
    Ok(NewChange {
        title: form.title.clone(),
        description: text(&form.description),
        change_type,
        risk,
        window,
        implementation_plan: text(&form.implementation_plan),
        backout_plan: text(&form.backout_plan),
        affected_cis: page::affected_cis(&form.affected_cis),
    })
}

pub async fn create(
    State(state): State<ApiState>,
    user: WebUser,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    user.require(Permission::WriteChanges)?;
    let refused = |message: &str| {
        let page = new_page(&user, &form, Some(message));
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let request = match request_of(&form) {
        Ok(request) => request,
        Err(message) => return refused(&message),
    };
    let actor = user.who.actor();
    let created = write(&state, move |store, dir| {
        match create_change(store, dir, &actor, request, now()) {
            Ok(outcome) => {
                let names = ci_names(dir, &outcome.record.affected_cis)?;
                Ok(Ok((outcome, names)))
            }
            // The person fixes these in the form.
            Err(error @ (ItsmError::Invalid { .. } | ItsmError::UnknownCi { .. })) => {
                Ok(Err(error.to_string()))
            }
            Err(other) => Err(other),
        }
    })
    .await?;
    match created {
        Ok((outcome, _)) if outcome.warnings.is_empty() => Ok(Redirect::to(&format!(
            "/changes/{}",
            page::encode(&outcome.record.id)
        ))
        .into_response()),
        Ok((outcome, names)) => Ok((
            StatusCode::CREATED,
            change_page(&user, &outcome.record, &names, &outcome.warnings),
        )
            .into_response()),
        Err(message) => refused(&message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> CreateForm {
        CreateForm {
            title: "upgrade openssl".into(),
            change_type: "standard".into(),
            risk: "low".into(),
            window_start: "2026-12-01T22:00".into(),
            window_end: "2026-12-01T23:30:00".into(),
            affected_cis: "ci-000001, ci-000002".into(),
            ..CreateForm::default()
        }
    }

    #[test]
    fn the_form_becomes_the_api_request_with_a_utc_window() {
        let request = request_of(&form()).unwrap();
        assert_eq!(request.change_type, ChangeType::Standard);
        assert_eq!(request.risk, Risk::Low);
        let window = request.window.unwrap();
        assert_eq!(window.start, time::macros::datetime!(2026-12-01 22:00 UTC));
        assert_eq!(window.end, time::macros::datetime!(2026-12-01 23:30 UTC));
        assert_eq!(request.affected_cis, ["ci-000001", "ci-000002"]);
        assert_eq!(request.description, None);
    }

    #[test]
    fn mistakes_say_what_to_fix() {
        let mut half = form();
        half.window_end.clear();
        assert!(request_of(&half).unwrap_err().contains("both ends"));
        let mut bad = form();
        bad.window_start = "tomorrow".into();
        assert!(
            request_of(&bad)
                .unwrap_err()
                .contains("'tomorrow' is not a date")
        );
        let mut kind = form();
        kind.change_type = "sneaky".into();
        assert!(request_of(&kind).unwrap_err().contains("not a change type"));
    }
}

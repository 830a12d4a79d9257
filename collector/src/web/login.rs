//! `/login` and `/logout`: paste an API token, get a session cookie; sign out ends the session.
//!
//! The sign-in form has no session yet, so it carries no CSRF token: a forged sign-in could only sign
//! the victim in as the attacker with a token the attacker gives away, and the Origin check below
//! refuses posts from other sites anyway.

use super::page::{self, HtmlPage};
use super::{PageError, PageResult, WebUser, check_origin, safe_next, session};
use crate::api::ApiState;
use crate::api::error::ApiError;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use time::OffsetDateTime;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextQuery {
    pub next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginForm {
    pub token: String,
    pub next: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub csrf: String,
}

fn login_page(next: &str, error: Option<&str>) -> HtmlPage {
    page::bare(
        "Sign in",
        html! {
            section.card.narrow {
                h1 { "Sign in" }
                p.muted { "Paste your API token (it starts with " code { "census_" } "). "
                    code { "census-collector init" } " prints the first administrator's token; administrators give every user their own." }
                @if let Some(error) = error {
                    p.alert role="alert" id="login-error" { (error) }
                }
                form.stack method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label for="token" { "API token" }
                    input id="token" name="token" type="password" autocomplete="current-password"
                        required placeholder="census_…" aria-describedby=[error.map(|_| "login-error")];
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub async fn form(Query(query): Query<NextQuery>) -> HtmlPage {
    let next = safe_next(query.next.as_deref());
    login_page(&next, None)
}

pub async fn submit(
    State(state): State<ApiState>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    check_origin(&headers, host)?;
    let next = safe_next(form.next.as_deref());
    let store = state.store.clone();
    let token = form.token;
    let signed_in = super::blocking(move || {
        Ok(session::sign_in(
            store.as_ref(),
            &token,
            OffsetDateTime::now_utc(),
        ))
    })
    .await?;
    match signed_in {
        Ok((id, session)) => {
            tracing::info!(user = %session.caller.user, "signed in to the web console");
            let mut response = Redirect::to(&next).into_response();
            let cookie = HeaderValue::from_str(&session::set_cookie(&id))
                .map_err(|e| PageError::from(ApiError::internal(e)))?;
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(response)
        }
        Err(session::SessionError::Refused(reason)) => {
            Ok((StatusCode::UNAUTHORIZED, login_page(&next, Some(&reason))).into_response())
        }
        Err(other) => Err(PageError::from(ApiError::internal(other))),
    }
}

pub async fn logout(
    State(state): State<ApiState>,
    user: WebUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    user.check_post(&form.csrf, &headers)?;
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(session::cookie_value)
        .map(str::to_string);
    if let Some(id) = cookie {
        let store = state.store.clone();
        super::blocking(move || session::sign_out(store.as_ref(), &id).map_err(ApiError::internal))
            .await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::clear_cookie())
            .map_err(|e| PageError::from(ApiError::internal(e)))?,
    );
    Ok(response)
}

//! The web console: server-rendered HTML pages for asset managers and service-desk agents, served by
//! the collector at `/` beside the JSON API (see `docs/web-console.md`).
//!
//! # Layout
//! - this file: [`routes`], the signed-in user extractor ([`WebUser`]), CSRF checks, the page error
//!   type and the security headers every response carries.
//! - [`session`]: sign-in with an API token, server-side sessions, cookies.
//! - [`page`]: the page shell (skip link, navigation, sign-out), shared widgets, URL encoding.
//! - [`charts`]: fleet aggregates (OS versions, hardware age) and their SVG bar charts.
//! - [`login`], [`dashboard`], [`assets`], [`incidents`], [`changes`], [`reports`]: one page group each;
//!   [`asset_page`] and [`incident_page`] render the two largest pages; [`change_form`] plans a change;
//!   [`relationships`] records one from an asset page; [`conflicts`] settles reconciliation conflicts.
//!
//! Pages call the same domain functions as the JSON handlers (`Cmdb::search`, `itsm::incident::…`)
//! with the same role checks ([`crate::api::assets::READERS`], [`crate::api::itsm::allows`]); nothing
//! goes through HTTP to the API. Templates are `maud`, which escapes every interpolated value;
//! `PreEscaped` is used only on constant markup, never on data. No inline script or style: the
//! Content-Security-Policy is `default-src 'self'` and every page works without JavaScript.
//!
//! # Limitations
//! Sessions live in the collector's own store, so a console is bound to one collector. The dashboard
//! charts read every CI (without packages) at most every [`charts::REFRESH`], in the background.

pub mod asset_page;
pub mod assets;
pub mod change_form;
pub mod changes;
pub mod charts;
pub mod conflicts;
pub mod dashboard;
pub mod incident_page;
pub mod incidents;
pub mod login;
pub mod page;
pub mod problems;
pub mod relationships;
pub mod reports;
pub mod session;

use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::itsm::{Permission, Who};
use crate::auth::Caller;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use time::OffsetDateTime;

const CSS: &str = include_str!("static/census.css");

/// Every console route; merged into [`crate::api::router`].
pub fn routes() -> Router<ApiState> {
    let charts = Arc::new(charts::ChartCache::default());
    Router::new()
        .route("/", get(dashboard::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/assets", get(assets::search))
        .route("/assets/{id}", get(assets::show))
        .route("/assets/{id}/edit", post(assets::edit))
        .route("/assets/{id}/relationships", post(relationships::create))
        .route("/incidents", get(incidents::list).post(incidents::create))
        .route("/incidents/new", get(incidents::new_form))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/transition", post(incidents::transition))
        .route("/changes", get(changes::list).post(change_form::create))
        .route("/changes/new", get(change_form::new_form))
        .route("/changes/{id}", get(changes::show))
        .route("/changes/{id}/transition", post(changes::transition))
        .route("/problems", get(problems::list).post(problems::create))
        .route("/problems/new", get(problems::new_form))
        .route("/problems/{id}", get(problems::show))
        .route("/problems/{id}/transition", post(problems::transition))
        .route("/reports/unauthorized", get(reports::unauthorized))
        .route("/conflicts", get(conflicts::list))
        .route("/conflicts/{id}/resolve", post(conflicts::resolve))
        .route(
            "/reports/unauthorized/{id}/acknowledge",
            post(reports::acknowledge),
        )
        .route("/static/census.css", get(stylesheet))
        .layer(axum::Extension(charts))
        .layer(axum::middleware::map_response(security_headers))
}

/// The headers every console response carries: no framing, no inline script, no sniffing, no
/// referrer to other sites, and no caching of pages that show inventory (the stylesheet says its own).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // A day: the file changes only with the collector, and a reload after an upgrade fixes it.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        CSS,
    )
        .into_response()
}

/// A page that could not be shown: the status and a message that says what to do.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        // ApiError's messages are already safe to show (internal details are logged, not carried).
        Self::new(error.status, error.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            status if status.is_client_error() => "Request refused",
            _ => "Something went wrong",
        };
        (self.status, page::error_page(title, &self.message)).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// The signed-in user of a console request. Requests without a live session are sent to `/login`.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub who: Who,
    pub csrf: String,
    /// The path (and query) of this request, for `aria-current` and sign-in redirects.
    pub path: String,
    /// The host the browser asked for (`Host`, or the HTTP/2 `:authority`), for the Origin check.
    pub host: Option<String>,
}

impl WebUser {
    pub fn caller(&self) -> &Caller {
        &self.who.caller
    }

    pub fn can(&self, permission: Permission) -> bool {
        crate::api::itsm::allows(self.who.caller.role, permission)
    }

    /// 403 unless the user's role allows `permission` (the JSON API's rule and message).
    pub fn require(&self, permission: Permission) -> Result<(), PageError> {
        self.who.require(permission).map_err(PageError::from)
    }

    /// Refuses a form post whose CSRF token is not this session's, or that comes from another site.
    pub fn check_post(&self, form_csrf: &str, headers: &HeaderMap) -> Result<(), PageError> {
        if !session::same_secret(form_csrf, &self.csrf) {
            return Err(PageError::forbidden(
                "this form has expired or did not come from this console (its CSRF token is missing or wrong); go back, reload the page and try again",
            ));
        }
        check_origin(headers, self.host.as_deref())
    }
}

/// When the browser says where a post comes from (Origin, else Referer), it must be this host.
pub fn check_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), PageError> {
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok());
    match (source, host) {
        (None, _) => Ok(()),
        (Some(source), Some(host)) if url_host(source) == Some(host) => Ok(()),
        (Some(source), _) => Err(PageError::forbidden(format!(
            "this form was sent from '{source}', not from this console; sign in here and use its pages"
        ))),
    }
}

/// `host[:port]` of an absolute `https://…` or `http://…` URL.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|host| !host.is_empty())
}

impl FromRequestParts<ApiState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        let id = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(session::cookie_value);
        let live = match id {
            Some(id) => session::load(state.store.as_ref(), id, OffsetDateTime::now_utc())
                .map_err(|error| {
                    tracing::error!(%error, "reading a web session failed");
                    PageError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the collector could not read your session; the details are in its log",
                    )
                    .into_response()
                })?,
            None => None,
        };
        let Some(live) = live else {
            // A post cannot be replayed after sign-in; send the user back to the page it came from.
            let next = if parts.method == axum::http::Method::GET {
                path.clone()
            } else {
                "/".to_string()
            };
            let target = format!("/login?next={}", page::encode(&next));
            return Err(Redirect::to(&target).into_response());
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_string()));
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |info| info.0.ip().to_string());
        Ok(WebUser {
            who: Who {
                caller: live.caller,
                source,
            },
            csrf: live.csrf,
            path,
            host,
        })
    }
}

/// Where to go after signing in: only a local path (`/…`, not `//host` or `/\host`), else the dashboard.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.starts_with("/\\")
                && !next.chars().any(|c| c.is_control()) =>
        {
            next.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A person's write to the CMDB from a page (an edit, a conflict settled): `work` gets the CMDB, the
/// signed-in user as the actor and the time, runs on the blocking pool, and is durable when this
/// returns, as the JSON handlers' writes are.
pub(crate) async fn cmdb_write<T: Send + 'static>(
    state: &ApiState,
    user: &WebUser,
    work: impl FnOnce(
        &crate::cmdb::Cmdb,
        &crate::cmdb::model::Actor,
        &str,
    ) -> crate::cmdb::CmdbResult<T>
    + Send
    + 'static,
) -> Result<T, PageError> {
    let actor = crate::cmdb::model::Actor::person(user.caller().user.clone());
    let cmdb = state.cmdb.clone();
    let done = blocking(move || {
        let now = crate::secret::rfc3339(OffsetDateTime::now_utc());
        work(&cmdb, &actor, &now).map_err(ApiError::from)
    })
    .await?;
    state
        .group_commit
        .durable()
        .await
        .map_err(|error| PageError::from(ApiError::from(error)))?;
    Ok(done)
}

/// Runs synchronous store work on the blocking pool, as the JSON handlers do.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, PageError> {
    crate::api::blocking(work).await.map_err(PageError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_accepts_only_local_paths() {
        assert_eq!(
            safe_next(Some("/assets?q=os.id%3Ddebian")),
            "/assets?q=os.id%3Ddebian"
        );
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "assets",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn posts_from_another_origin_are_refused() {
        let mut headers = HeaderMap::new();
        let host = Some("127.0.0.1:8443");
        assert!(
            check_origin(&headers, host).is_ok(),
            "no Origin or Referer: the CSRF token decides"
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:8443"),
        );
        assert!(check_origin(&headers, host).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        let error = check_origin(&headers, host).unwrap_err();
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert!(error.message.contains("evil.example"), "{}", error.message);
        headers.remove(header::ORIGIN);
        headers.insert(
            header::REFERER,
            HeaderValue::from_static("https://127.0.0.1:8443/assets/ci-000001"),
        );
        assert!(check_origin(&headers, host).is_ok());
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(
            check_origin(&headers, host).is_err(),
            "an opaque origin is not this console"
        );
        assert_eq!(url_host("https://a.example:1/x?y"), Some("a.example:1"));
        assert_eq!(url_host("ftp://a.example"), None);
    }
}

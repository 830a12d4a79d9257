//! The page shell and the small widgets every console page uses.
//!
//! [`shell`] wraps a page's content: a skip link, the navigation (`aria-current` on the section being
//! shown), who is signed in with a sign-out form, and `<main id="main">`. Values are always
//! interpolated through maud, which escapes them; the only `PreEscaped` here is the constant doctype.

use super::WebUser;
use crate::api::itsm::Permission;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;

/// An HTML response of `markup`.
pub struct HtmlPage(pub Markup);

impl IntoResponse for HtmlPage {
    fn into_response(self) -> Response {
        let mut response = self.0.into_string().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        response
    }
}

/// The sections of the navigation: label, path, and the permission that shows it (None: everyone).
const SECTIONS: [(&str, &str, Option<Permission>); 7] = [
    ("Dashboard", "/", None),
    ("Assets", "/assets", None),
    ("Conflicts", "/conflicts", None),
    ("Incidents", "/incidents", Some(Permission::ReadRecords)),
    ("Changes", "/changes", Some(Permission::ReadRecords)),
    ("Problems", "/problems", Some(Permission::ReadRecords)),
    (
        "Unauthorized changes",
        "/reports/unauthorized",
        Some(Permission::ReadRecords),
    ),
];

/// Whether `path` (a request path, maybe with a query) is in the section rooted at `section`.
pub fn in_section(path: &str, section: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    if section == "/" {
        return path == "/";
    }
    path == section || path.starts_with(&format!("{section}/"))
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Census" }
            link rel="stylesheet" href="/static/census.css";
        }
    }
}

/// A full page for a signed-in user.
pub fn shell(user: &WebUser, title: &str, content: Markup) -> HtmlPage {
    let caller = user.caller();
    HtmlPage(html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to main content" }
                header.top {
                    a.brand href="/" { span.logo aria-hidden="true" { "◆" } " Census" }
                    nav aria-label="Main" {
                        ul {
                            @for (label, href, permission) in SECTIONS {
                                @if permission.is_none_or(|p| user.can(p)) {
                                    li {
                                        @if in_section(&user.path, href) {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (caller.user) " " span.role { (role_label(caller.role)) } }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (content)
                }
                footer { "Census " (env!("CARGO_PKG_VERSION")) " · configuration database and service desk" }
            }
        }
    })
}

/// A page for people who are not signed in (sign-in, errors).
pub fn bare(title: &str, content: Markup) -> HtmlPage {
    HtmlPage(html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                a.skip href="#main" { "Skip to main content" }
                main id="main" tabindex="-1" {
                    div.brand-large { span.logo aria-hidden="true" { "◆" } " Census" }
                    (content)
                }
            }
        }
    })
}

/// An error page: what happened and where to go.
pub fn error_page(title: &str, message: &str) -> HtmlPage {
    bare(
        title,
        html! {
            section.card.narrow {
                h1 { (title) }
                p role="alert" { (message) }
                p { a href="/" { "Back to the dashboard" } }
            }
        },
    )
}

pub fn role_label(role: crate::auth::Role) -> &'static str {
    use crate::auth::Role;
    match role {
        Role::Admin => "admin",
        Role::AssetManager => "asset manager",
        Role::ServiceDesk => "service desk",
        Role::Auditor => "auditor",
        Role::Approver => "approver",
    }
}

/// Percent-encodes `text` for a query value: everything but RFC 3986 unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string from `(name, value)` pairs, leaving out absent and empty values.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={}", encode(v)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `2026-11-27 14:05 UTC` from an RFC 3339 text (shown as is when it does not parse).
pub fn when(text: &str) -> String {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_or_else(|_| text.to_string(), at)
}

/// `2026-11-27 14:05 UTC`.
pub fn at(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute()
    )
}

/// `64 GiB`, `480 GiB`, `1.5 TiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() < 0.05 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An enum's wire name in words: `package_upgraded` → `package upgraded`.
pub fn words<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

/// An unknown value, shown as a muted dash with its meaning for screen readers.
pub fn unknown() -> Markup {
    html! { span.muted title="unknown" { "—" span.sr { "unknown" } } }
}

/// `value`, or the unknown marker.
pub fn opt(value: Option<&str>) -> Markup {
    match value {
        Some(value) => html! { (value) },
        None => unknown(),
    }
}

/// Links to the CIs `ids`, each by its name where `names` has one ("web-01 (ci-000123)"): people know
/// machines by their hostnames, not by CI numbers.
pub fn ci_links(ids: &[String], names: &std::collections::BTreeMap<String, String>) -> Markup {
    html! {
        @for ci in ids {
            a href={ "/assets/" (ci) } {
                @match names.get(ci) {
                    Some(name) => { (name) " " span.muted.small { "(" (ci) ")" } },
                    None => (ci),
                }
            }
            " "
        }
    }
}

/// The "Affected CIs" field of the forms that create records about CIs.
pub fn affected_cis_field(value: &str) -> Markup {
    html! {
        label for="f-cis" { "Affected CIs" }
        input id="f-cis" name="affected_cis" type="text" value=(value)
            aria-describedby="f-cis-help" placeholder="ci-000123, ci-000124";
        p id="f-cis-help" .muted.small { "CI ids, separated by commas." }
    }
}

/// The title and description fields every new-record form starts with.
pub fn title_and_description(title: &str, description: &str) -> Markup {
    html! {
        label for="f-title" { "Title" }
        input id="f-title" name="title" type="text" required maxlength="200" value=(title);
        label for="f-description" { "Description" }
        textarea id="f-description" name="description" rows="4" { (description) }
    }
}

/// A `state` select for a list's filter form: "Any", then each `(key, label)`, `chosen` selected.
pub fn state_select<'a>(
    states: impl IntoIterator<Item = (&'a str, String)>,
    chosen: Option<&str>,
) -> Markup {
    html! {
        label for="state" { "State" }
        select id="state" name="state" {
            option value="" { "Any" }
            @for (key, label) in states {
                option value=(key) selected[chosen == Some(key)] { (label) }
            }
        }
    }
}

/// The CI ids typed in [`affected_cis_field`]: separated by commas or spaces.
pub fn affected_cis(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|ci| !ci.is_empty())
        .map(str::to_string)
        .collect()
}

/// A status pill; `tone` picks its colour (`ok`, `warn`, `bad`, `info`, `muted`).
pub fn badge(tone: &str, text: &str) -> Markup {
    html! { span class={ "badge " (tone) } { (text) } }
}

/// A hidden CSRF field for a form of `user`'s session.
pub fn csrf(user: &WebUser) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// "Next page" and "First page" links of a cursor-paginated list.
pub fn pager(
    base: &str,
    pairs: &[(&str, Option<&str>)],
    cursor: Option<&str>,
    next: Option<&str>,
) -> Markup {
    let next_href = next.map(|next| {
        let mut with_cursor = pairs.to_vec();
        with_cursor.push(("cursor", Some(next)));
        format!("{base}{}", query(&with_cursor))
    });
    html! {
        nav.pager aria-label="Pages" {
            @if cursor.is_some() {
                a href={ (base) (query(pairs)) } { "← First page" }
            }
            @if let Some(href) = next_href {
                a rel="next" href=(href) { "Next page →" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("os.id=debian and x<3"),
            "os.id%3Ddebian%20and%20x%3C3"
        );
        assert_eq!(encode("/assets?q=a&b"), "%2Fassets%3Fq%3Da%26b");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(
            query(&[("q", Some("a b")), ("cursor", None), ("x", Some(""))]),
            "?q=a%20b"
        );
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn sections_match_their_subpages_only() {
        assert!(in_section("/", "/"));
        assert!(!in_section("/assets", "/"));
        assert!(in_section("/assets?q=x", "/assets"));
        assert!(in_section("/assets/ci-000001", "/assets"));
        assert!(!in_section("/assetsx", "/assets"));
    }

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(bytes(64 << 30), "64 GiB");
        assert_eq!(bytes(1536 << 30), "1.5 TiB");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(when("2026-11-27T14:05:09Z"), "2026-11-27 14:05 UTC");
        assert_eq!(when("soon"), "soon");
    }
}

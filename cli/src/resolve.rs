//! Naming an asset the way people do: a CI id (`ci-000123`) is used as it is; anything else is a
//! hostname (or FQDN), looked up with the query API.
//!
//! [`pick`] decides from the search answer (pure): no match is [`ResolveError::NoMatch`] (exit 4),
//! several are [`ResolveError::Ambiguous`] listing them so the user can choose an id (exit 6).

use crate::client::Client;
use crate::output::text_at;
use serde_json::Value;

/// More matches than this are not listed one by one: the hostname is plainly not specific.
const MAX_LISTED: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "no asset has the id or hostname '{name}'; find it with `census assets list 'hostname ~ \"{name}*\"'`"
    )]
    NoMatch { name: String },
    #[error(
        "'{name}' names {} assets; give the CI id of the one you mean:\n  {}",
        matches.len(),
        matches.join("\n  ")
    )]
    Ambiguous { name: String, matches: Vec<String> },
}

/// `ci-` followed by digits: the collector's CI ids.
pub fn is_ci_id(text: &str) -> bool {
    text.strip_prefix("ci-")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `text` as a quoted value of the query language (escapes `\` and `"`).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The query that finds assets called `name` (hostname or FQDN, ignoring case).
pub fn name_query(name: &str) -> String {
    let value = quote(name);
    format!("hostname = {value} or fqdn = {value}")
}

/// The one CI id among `items` (a search answer's items), or why there is not exactly one.
pub fn pick(name: &str, items: &[Value]) -> Result<String, ResolveError> {
    match items {
        [] => Err(ResolveError::NoMatch { name: name.into() }),
        [one] => text_at(one, "/id").ok_or_else(|| ResolveError::NoMatch { name: name.into() }),
        many => Err(ResolveError::Ambiguous {
            name: name.into(),
            matches: many
                .iter()
                .map(|item| {
                    let get = |pointer| text_at(item, pointer).unwrap_or_else(|| "-".into());
                    format!(
                        "{}  {}  serial {}  last seen {}",
                        get("/id"),
                        get("/hostname"),
                        get("/serial"),
                        get("/last_seen")
                    )
                })
                .collect(),
        }),
    }
}

/// The CI id of `name`: itself when it is one, else the one asset with that hostname or FQDN.
pub async fn ci(client: &Client, name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    if is_ci_id(name) {
        return Ok(name.to_string());
    }
    let answer = client
        .get(
            &["api", "v1", "assets"],
            &[
                ("q", name_query(name)),
                ("limit", (MAX_LISTED + 1).to_string()),
            ],
        )
        .await?;
    let items = answer.value["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(pick(name, &items)?)
}

/// Each of `names` resolved, in order.
pub async fn cis(client: &Client, names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        ids.push(ci(client, name).await?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ci_ids_are_recognised_and_everything_else_is_a_name() {
        assert!(is_ci_id("ci-000123"));
        assert!(!is_ci_id("ci-"));
        assert!(!is_ci_id("ci-12a"));
        assert!(!is_ci_id("web-01"));
    }

    #[test]
    fn names_are_quoted_for_the_query_language() {
        assert_eq!(
            name_query("web-01"),
            "hostname = \"web-01\" or fqdn = \"web-01\""
        );
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("and"), "\"and\"");
    }

    #[test]
    fn one_match_is_its_id_none_is_not_found_and_several_are_listed() {
        let web = json!({"id": "ci-000001", "hostname": "web-01", "serial": "SRV-1",
                         "last_seen": "2026-11-26T11:58:02Z"});
        assert_eq!(
            pick("web-01", std::slice::from_ref(&web)).unwrap(),
            "ci-000001"
        );

        let error = pick("nope", &[]).unwrap_err();
        assert!(matches!(error, ResolveError::NoMatch { .. }));
        assert!(
            error
                .to_string()
                .contains("census assets list 'hostname ~ \"nope*\"'"),
            "{error}"
        );

        let twin = json!({"id": "ci-000007", "hostname": "web-01", "serial": null,
                          "last_seen": "2026-11-20T08:00:00Z"});
        let error = pick("web-01", &[web, twin]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "'web-01' names 2 assets; give the CI id of the one you mean:\n  \
             ci-000001  web-01  serial SRV-1  last seen 2026-11-26T11:58:02Z\n  \
             ci-000007  web-01  serial -  last seen 2026-11-20T08:00:00Z"
        );
    }
}

//! A fleet that registers its routine updates: one scheduled standard change over every CI, through
//! the collector's API, so that the upgrade phase's package changes are authorized and raise no
//! unauthorized-change flag (without it, every upgrade raises one: the worst case).

use super::FleetOptions;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Registers the change with the API token `token` (admin or approver); returns how many CIs it covers.
pub async fn cover_fleet_with_change(options: &FleetOptions, token: &str) -> anyhow::Result<usize> {
    let ca = reqwest::Certificate::from_pem(options.ca_pem.as_bytes()).context("reading the CA")?;
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .context("building the API client")?;
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{}{path}", options.collector_url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request
                .send()
                .await
                .context("calling the collector's API")?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("the collector answered {status}: {answer}");
            }
            Ok(answer)
        }
    };

    let mut cis = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/api/v1/assets?limit=500&cursor={cursor}"),
            None => "/api/v1/assets?limit=500".to_string(),
        };
        let page = call(reqwest::Method::GET, &path, None).await?;
        for item in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = item["id"].as_str() {
                cis.push(id.to_string());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let now = OffsetDateTime::now_utc();
    let at = |offset: Duration| (now + offset).format(&Rfc3339).unwrap_or_default();
    let created = call(
        reqwest::Method::POST,
        "/api/v1/changes",
        Some(json!({
            "title": "routine package updates (census-fleetsim)",
            "change_type": "standard",
            "risk": "low",
            "window": { "start": at(-Duration::hours(1)), "end": at(Duration::hours(3)) },
            "implementation_plan": "unattended upgrades",
            "backout_plan": "install the previous versions",
            "affected_cis": cis,
        })),
    )
    .await?;
    let Some(id) = created["record"]["id"].as_str() else {
        bail!("the collector created a change without an id: {created}");
    };
    call(
        reqwest::Method::POST,
        &format!("/api/v1/changes/{id}/transition"),
        Some(json!({ "to": "scheduled" })),
    )
    .await?;
    Ok(cis.len())
}

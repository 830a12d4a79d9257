//! `enroll-token` and `agent` subcommands, whether or not the collector is running (`user` and `token`
//! extend [`Target`] in [`super::users`]).
//!
//! A storage engine admits one process per database. When no collector holds it, these commands open
//! the database directly; when `serve` holds it, they call the running collector's admin API at the
//! URL it wrote in `collector.url`, authenticated with `admin.token` and verified against `ca.pem`,
//! all from the data dir.

use crate::cli::OutputArgs;
use crate::datadir::DataDir;
use crate::enrollment::agents::{self, AgentRecord};
use crate::enrollment::tokens::{self, TokenInfo};
use crate::store::{Store, StoreError};
use anyhow::{Context, anyhow, bail};
use census_shared::protocol::ApiErrorBody;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Where admin operations go.
pub enum Target {
    /// The collector is stopped: the database itself.
    Direct(Arc<dyn Store>),
    /// The collector is serving: its admin API.
    Remote(Remote),
}

pub struct Remote {
    client: reqwest::Client,
    url: String,
    token: String,
}

#[derive(Deserialize)]
struct CreatedToken {
    token: TokenInfo,
    secret: String,
}

#[derive(Serialize)]
struct CreateTokenRequest<'a> {
    ttl_seconds: u64,
    max_uses: u32,
    note: Option<&'a str>,
}

impl Target {
    pub fn connect(data_dir: &DataDir) -> anyhow::Result<Target> {
        let engine = data_dir.engine()?;
        match engine.open(data_dir.root()) {
            Ok(store) => Ok(Target::Direct(store)),
            Err(StoreError::Locked { .. }) => Remote::from_data_dir(data_dir).map(Target::Remote),
            Err(error) => Err(error).context("opening the collector database"),
        }
    }

    /// Which way this command went, for people who wonder.
    pub fn describe(&self) -> String {
        match self {
            Target::Direct(_) => {
                "the collector is stopped: changed the database directly".to_string()
            }
            Target::Remote(remote) => format!(
                "the collector is running: changed it through {}",
                remote.url
            ),
        }
    }

    pub async fn create_token(
        &self,
        ttl: Duration,
        max_uses: u32,
        note: Option<&str>,
    ) -> anyhow::Result<(TokenInfo, String)> {
        match self {
            Target::Direct(store) => {
                let created =
                    tokens::create(store.as_ref(), ttl, max_uses, note.map(str::to_string))?;
                store.flush()?;
                Ok(created)
            }
            Target::Remote(remote) => {
                let request = CreateTokenRequest {
                    ttl_seconds: ttl.as_secs(),
                    max_uses,
                    note,
                };
                let created: CreatedToken = remote
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/enroll-tokens",
                        Some(&request),
                    )
                    .await?;
                Ok((created.token, created.secret))
            }
        }
    }

    pub async fn list_tokens(&self) -> anyhow::Result<Vec<TokenInfo>> {
        match self {
            Target::Direct(store) => Ok(tokens::list(store.as_ref())?),
            Target::Remote(remote) => {
                remote
                    .call::<(), _>(reqwest::Method::GET, "/api/v1/enroll-tokens", None)
                    .await
            }
        }
    }

    pub async fn revoke_token(&self, id: &str) -> anyhow::Result<TokenInfo> {
        match self {
            Target::Direct(store) => {
                let token = tokens::revoke(store.as_ref(), id)?;
                store.flush()?;
                Ok(token)
            }
            Target::Remote(remote) => {
                let path = format!("/api/v1/enroll-tokens/{}", url_segment(id)?);
                remote
                    .call::<(), _>(reqwest::Method::DELETE, &path, None)
                    .await
            }
        }
    }

    pub async fn list_agents(&self) -> anyhow::Result<Vec<AgentRecord>> {
        match self {
            Target::Direct(store) => Ok(agents::list(store.as_ref())?),
            Target::Remote(remote) => {
                remote
                    .call::<(), _>(reqwest::Method::GET, "/api/v1/agents", None)
                    .await
            }
        }
    }

    /// `approve` or `revoke`.
    pub async fn set_agent(&self, id: &str, approve: bool) -> anyhow::Result<AgentRecord> {
        match self {
            Target::Direct(store) => {
                let agent = if approve {
                    agents::approve(store.as_ref(), id)?
                } else {
                    agents::revoke(store.as_ref(), id)?
                };
                store.flush()?;
                Ok(agent)
            }
            Target::Remote(remote) => {
                let action = if approve { "approve" } else { "revoke" };
                let path = format!("/api/v1/agents/{}/{action}", url_segment(id)?);
                remote
                    .call::<(), _>(reqwest::Method::POST, &path, None)
                    .await
            }
        }
    }
}

/// Ids and user names are `[A-Za-z0-9._-]`, not starting with `.`; anything else cannot be one and
/// must not reach a URL path.
pub(crate) fn url_segment(id: &str) -> anyhow::Result<&str> {
    if !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Ok(id)
    } else {
        bail!("'{id}' is not an id (ids look like tok-…, agt-… or key-…; user names like alice)")
    }
}

impl Remote {
    fn from_data_dir(data_dir: &DataDir) -> anyhow::Result<Remote> {
        let in_use = "the database is in use by a running collector";
        let url = data_dir.read(&data_dir.endpoint()).with_context(|| {
            format!(
                "{in_use}, but it has not announced its URL; is another process holding {}?",
                data_dir.root().display()
            )
        })?;
        let token = data_dir.read(&data_dir.admin_token()).with_context(|| {
            format!("{in_use}; its admin API needs the admin token, which is missing")
        })?;
        let ca = data_dir.read(&data_dir.ca_cert())?;
        let roots =
            reqwest::Certificate::from_pem_bundle(ca.as_bytes()).context("reading ca.pem")?;
        let client = reqwest::Client::builder()
            .tls_certs_only(roots)
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTPS client")?;
        Ok(Remote {
            client,
            url: url.trim().to_string(),
            token: token.trim().to_string(),
        })
    }

    /// GETs `path` and returns the raw body (a backup snapshot).
    pub async fn download(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.url);
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            // A snapshot of a large database takes longer than an admin call.
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .with_context(|| {
                format!("calling the running collector at {url} (is it still running?)")
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the collector's answer")?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ApiErrorBody>(&bytes)
                .map(|error| format!("{} ({})", error.message, error.code))
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(anyhow!("the collector answered {status}: {message}"));
        }
        Ok(bytes.to_vec())
    }

    pub(crate) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.url);
        let mut request = self.client.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| {
            format!("calling the running collector at {url} (is it still running?)")
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the collector's answer")?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ApiErrorBody>(&bytes)
                .map(|error| format!("{} ({})", error.message, error.code))
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(anyhow!("the collector answered {status}: {message}"));
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("the collector's answer from {url} is not what was expected"))
    }
}

/// Prints `value` as JSON with `--json`, else the table `table` renders.
pub fn print<T: Serialize>(
    output: &OutputArgs,
    value: &T,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if output.json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", table());
    }
    Ok(())
}

/// Lines of a left-aligned table: a header and rows, columns as wide as their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

pub fn token_rows(tokens: &[TokenInfo]) -> Vec<Vec<String>> {
    tokens
        .iter()
        .map(|token| {
            let state = if token.revoked {
                "revoked"
            } else if token.uses >= token.max_uses {
                "used up"
            } else {
                "usable"
            };
            vec![
                token.id.clone(),
                state.to_string(),
                format!("{}/{}", token.uses, token.max_uses),
                token.expires_at.clone(),
                token.note.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

pub fn agent_rows(agents: &[AgentRecord]) -> Vec<Vec<String>> {
    agents
        .iter()
        .map(|agent| {
            vec![
                agent.agent_id.clone(),
                serde_json::to_value(agent.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                agent.hostname.clone().unwrap_or_default(),
                agent.enrolled_at.clone(),
                agent.cert_not_after.clone(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_to_the_widest_cell() {
        let rendered = table(
            &["ID", "STATE"],
            &[
                vec!["tok-1".into(), "usable".into()],
                vec!["t".into(), "x".into()],
            ],
        );
        assert_eq!(rendered, "ID     STATE\ntok-1  usable\nt      x");
    }

    #[test]
    fn ids_that_could_escape_a_url_path_are_refused() {
        assert!(url_segment("agt-abc123").is_ok());
        for bad in ["", "../agents", "..", "a/b", "a?b", &"x".repeat(65)] {
            assert!(url_segment(bad).is_err(), "{bad}");
        }
    }
}

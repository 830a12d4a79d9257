//! The HTTPS client of the collector's JSON API, authenticated with the user's API token.
//!
//! TLS is rustls trusting only the collector's CA (no system roots, no way to turn verification off),
//! like the collector's own admin client. Ids given by the user are put in the URL as escaped path
//! segments, never pasted into the path.
//!
//! Errors are [`ApiError`]: unreachable (connection, DNS or TLS failure), an HTTP error status with the
//! collector's `{code, message}` and a hint saying what to do, or an answer that is not JSON.
//! [`crate::exit::Exit::of`] maps them to exit codes.

use crate::config::Session;
use serde_json::Value;
use std::time::Duration;

/// Connecting must be quick; a collector that does not answer a TCP handshake in this long is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A JSON call (search, show, create) answers well within this; exports have no overall limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Between two chunks of an export: the collector streams as it finds, so a longer silence is a hang.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "cannot reach the collector at {url}: {cause}; check the URL, that the collector is running, and that the CA is the collector's (census login --ca FILE)"
    )]
    Unreachable { url: String, cause: String },
    #[error("the collector answered {status}: {message}{}{hint}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        status: u16,
        code: Option<String>,
        message: String,
        hint: &'static str,
    },
    #[error("cannot set up the HTTPS client: {0}")]
    Client(String),
    #[error("the collector's answer to {url} is not what census expects: {message}")]
    Answer { url: String, message: String },
}

/// What to do next, by status.
fn hint(status: u16) -> &'static str {
    match status {
        401 => {
            "; the token is unknown, expired or revoked: run `census login --collector URL --ca FILE` with a valid token"
        }
        403 => "; ask an administrator for a token whose role allows this (docs/cli.md, Roles)",
        500..=599 => "; the collector logged the details, retry later or tell its administrator",
        _ => "",
    }
}

/// The error for a non-success answer, from its status and body.
pub fn status_error(status: u16, body: &[u8]) -> ApiError {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        code: Option<String>,
        message: String,
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => (error.code, error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            (
                None,
                if text.is_empty() {
                    "no details".into()
                } else {
                    text
                },
            )
        }
    };
    ApiError::Status {
        status,
        code,
        message,
        hint: hint(status),
    }
}

/// Every cause of a transport error, outermost first (reqwest's own message alone says little).
fn causes(error: &reqwest::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A JSON answer: the bytes as sent (printed unchanged by `--format json`) and their parse.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Vec<u8>,
    pub value: Value,
}

pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    token: String,
}

impl Client {
    pub fn new(session: &Session) -> Result<Self, ApiError> {
        let roots =
            reqwest::Certificate::from_pem_bundle(session.ca_pem.as_bytes()).map_err(|error| {
                ApiError::Client(format!("the collector CA is unreadable: {error}"))
            })?;
        if roots.is_empty() {
            return Err(ApiError::Client(
                "the collector CA holds no certificate; run `census login` again with --ca".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .tls_certs_only(roots)
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("census/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ApiError::Client(causes(&error)))?;
        let base = reqwest::Url::parse(&session.collector)
            .map_err(|_| ApiError::Client(format!("'{}' is not a URL", session.collector)))?;
        Ok(Self {
            http,
            base,
            token: session.token.clone(),
        })
    }

    /// `segments` appended to the collector URL as escaped path segments, plus a query string.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(name, value)| (*name, value.as_str())));
        }
        url
    }

    /// Sends a request and returns the response when its status is a success.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|error| ApiError::Unreachable {
                url: self.base.as_str().trim_end_matches('/').to_string(),
                cause: causes(&error),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(status_error(status.as_u16(), &body))
    }

    async fn answer(
        &self,
        request: reqwest::RequestBuilder,
        url: reqwest::Url,
    ) -> Result<Answer, ApiError> {
        let response = self.send(request.timeout(CALL_TIMEOUT)).await?;
        let body = response
            .bytes()
            .await
            .map_err(|error| ApiError::Unreachable {
                url: url.to_string(),
                cause: causes(&error),
            })?;
        let value = serde_json::from_slice(&body).map_err(|error| ApiError::Answer {
            url: url.to_string(),
            message: error.to_string(),
        })?;
        Ok(Answer {
            body: body.to_vec(),
            value,
        })
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Answer, ApiError> {
        let url = self.url(segments, query);
        self.answer(self.http.get(url.clone()), url).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Answer, ApiError> {
        let url = self.url(segments, &[]);
        self.answer(self.http.post(url.clone()).json(body), url)
            .await
    }

    /// A GET whose body is read by the caller as it arrives (exports).
    pub async fn stream(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<reqwest::Response, ApiError> {
        let url = self.url(segments, query);
        self.send(self.http.get(url)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_carry_the_collectors_message_and_what_to_do() {
        let error = status_error(
            401,
            br#"{"code":"unauthorized","message":"the API token is unknown"}"#,
        );
        assert_eq!(
            error.to_string(),
            "the collector answered 401: the API token is unknown (unauthorized); the token is unknown, expired or revoked: run `census login --collector URL --ca FILE` with a valid token"
        );
        let error = status_error(409, br#"{"code":"conflict","message":"cannot move INC-000001 from New to Closed; allowed: In progress"}"#);
        assert!(matches!(error, ApiError::Status { status: 409, .. }));
        assert!(
            error
                .to_string()
                .ends_with("allowed: In progress (conflict)"),
            "{error}"
        );
        let error = status_error(502, b"bad gateway\n");
        assert_eq!(
            error.to_string(),
            "the collector answered 502: bad gateway; the collector logged the details, retry later or tell its administrator"
        );
        assert!(status_error(500, b"").to_string().contains("no details"));
    }

    #[test]
    fn user_ids_are_escaped_path_segments() {
        let session = Session {
            collector: "https://collector.example:8443".into(),
            ca_pem: include_str!("../testdata/ca.pem").into(),
            token: "census_x".into(),
        };
        let client = Client::new(&session).unwrap();
        let url = client.url(
            &["api", "v1", "assets", "../admin?x"],
            &[("q", "hostname = \"web 01\"".to_string())],
        );
        assert_eq!(
            url.as_str(),
            "https://collector.example:8443/api/v1/assets/..%2Fadmin%3Fx?q=hostname+%3D+%22web+01%22"
        );
    }

    #[test]
    fn a_ca_without_certificates_is_refused_with_what_to_do() {
        let session = Session {
            collector: "https://collector.example:8443".into(),
            ca_pem: "not a certificate".into(),
            token: "census_x".into(),
        };
        let error = Client::new(&session).err().unwrap();
        assert!(error.to_string().contains("census login"), "{error}");
    }
}

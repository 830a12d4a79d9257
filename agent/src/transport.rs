//! The agent's side of the wire: HTTPS requests to the collector, always verified against the configured
//! CA, with the agent's client certificate once it is enrolled.
//!
//! # Layout
//! - [`Transport`]: the two calls a report needs (check-in, report). The reporter is generic over it,
//!   so its decisions are unit-tested with a fake.
//! - [`HttpsClient`]: the real client, built from in-memory PEMs ([`ClientOptions`]) so a fleet
//!   simulator can run thousands of identities in one process; it also enrolls and renews.
//! - [`TransportError`]: what went wrong, classified (unreachable, untrusted collector, refused
//!   certificate, an API error with its stable code and `Retry-After`).
//!
//! # Security
//! The collector is verified against the given CA certificates only: no system roots, and no option to
//! switch verification off. Plain `http://` is refused.

use crate::backoff::parse_retry_after;
use census_shared::protocol::{
    ApiErrorBody, CheckIn, CheckInResponse, EnrollRequest, EnrollResponse, PATH_CHECKIN,
    PATH_ENROLL, PATH_RENEW, PATH_REPORT, RenewRequest, RenewResponse, Report, ReportResponse,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Serialize, de::DeserializeOwned};
use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "cannot reach the collector at {url}: {message}; check collector_url, the network, and that the \
         collector is running (the report is kept and retried)"
    )]
    Unreachable { url: String, message: String },
    #[error(
        "the collector's certificate at {url} is not signed by the CA in {ca}: check --ca (or ca_file) \
         ({message})"
    )]
    UntrustedCollector {
        url: String,
        ca: String,
        message: String,
    },
    #[error(
        "the collector at {url} refused this agent's client certificate ({message}); if the agent was \
         revoked or its certificate expired, enroll it again"
    )]
    CertificateRefused { url: String, message: String },
    #[error("the collector answered {status}{}: {message}", code.as_deref().map(|code| format!(" ({code})")).unwrap_or_default())]
    Api {
        status: u16,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the collector's answer to {path} could not be read: {message}")]
    BadAnswer { path: String, message: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

impl TransportError {
    /// The stable error code of an API error (see `census_shared::protocol::error_code`).
    pub fn code(&self) -> Option<&str> {
        match self {
            TransportError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            TransportError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What the reporter needs from the wire.
pub trait Transport {
    fn check_in(
        &self,
        check_in: &CheckIn,
    ) -> impl Future<Output = Result<CheckInResponse, TransportError>> + Send;
    fn report(
        &self,
        report: &Report,
    ) -> impl Future<Output = Result<ReportResponse, TransportError>> + Send;
}

/// Everything an [`HttpsClient`] is built from, in memory.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `https://host:port`, without a trailing path.
    pub collector_url: String,
    /// PEM CA certificates that may sign the collector's certificate (one or more, concatenated).
    pub ca_pem: String,
    /// Where `ca_pem` came from, for error messages (`/etc/census-agent/ca.pem`).
    pub ca_source: String,
    /// The agent's private key and certificate (PEM); `None` before enrollment.
    pub identity: Option<(String, String)>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpsClient {
    client: reqwest::Client,
    base: String,
    ca_source: String,
}

impl HttpsClient {
    pub fn new(options: ClientOptions) -> Result<Self, TransportError> {
        crate::config::check_collector_url(&options.collector_url).map_err(|message| {
            TransportError::Setup(format!("{}: {message}", options.collector_url))
        })?;
        let roots =
            reqwest::Certificate::from_pem_bundle(options.ca_pem.as_bytes()).map_err(|error| {
                TransportError::Setup(format!(
                    "{} holds no usable PEM CA certificate ({error}); check --ca",
                    options.ca_source
                ))
            })?;
        if roots.is_empty() {
            return Err(TransportError::Setup(format!(
                "{} holds no PEM CA certificate; check --ca",
                options.ca_source
            )));
        }
        let mut builder = reqwest::Client::builder()
            .tls_certs_only(roots)
            .https_only(true)
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("census-agent/", env!("CARGO_PKG_VERSION")));
        if let Some((key_pem, cert_pem)) = &options.identity {
            let identity = reqwest::Identity::from_pem(format!("{key_pem}\n{cert_pem}").as_bytes())
                .map_err(|error| {
                    TransportError::Setup(format!(
                        "the agent's key or certificate is unreadable ({error}); enroll again"
                    ))
                })?;
            builder = builder.identity(identity);
        }
        let client = builder
            .build()
            .map_err(|error| TransportError::Setup(chain(&error)))?;
        Ok(Self {
            client,
            base: options.collector_url.trim_end_matches('/').to_string(),
            ca_source: options.ca_source,
        })
    }

    pub fn collector_url(&self) -> &str {
        &self.base
    }

    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.post(PATH_ENROLL, request).await
    }

    pub async fn renew(&self, request: &RenewRequest) -> Result<RenewResponse, TransportError> {
        self.post(PATH_RENEW, request).await
    }

    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, TransportError> {
        let json =
            serde_json::to_vec(body).map_err(|error| TransportError::Setup(error.to_string()))?;
        self.post_encoded(path, Encoded::Plain(json)).await
    }

    /// Sends a report body already encoded by [`encode_report`]: the same request [`Transport::report`]
    /// makes, for a caller that encoded it ahead of time (the fleet simulator prepares every simulated
    /// machine's body before its clock starts, as each real agent encodes on its own machine).
    pub async fn report_encoded(&self, gzipped: Vec<u8>) -> Result<ReportResponse, TransportError> {
        self.post_encoded(PATH_REPORT, Encoded::Gzip(gzipped)).await
    }

    async fn post_encoded<Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: Encoded,
    ) -> Result<Resp, TransportError> {
        let url = format!("{}{path}", self.base);
        let request = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let request = match body {
            Encoded::Gzip(bytes) => request
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(bytes),
            Encoded::Plain(bytes) => request.body(bytes),
        };
        let response = request
            .send()
            .await
            .map_err(|error| self.classify(&url, &error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.classify(&url, &error))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|error| TransportError::BadAnswer {
                path: path.to_string(),
                message: error.to_string(),
            });
        }
        let (code, message) = match serde_json::from_slice::<ApiErrorBody>(&bytes) {
            Ok(body) => (Some(body.code), body.message),
            Err(_) => (
                None,
                status
                    .canonical_reason()
                    .unwrap_or("unexpected answer")
                    .to_lowercase(),
            ),
        };
        Err(TransportError::Api {
            status: status.as_u16(),
            code,
            message,
            retry_after,
        })
    }

    /// Turns a failed request into the error a user can act on.
    fn classify(&self, url: &str, error: &reqwest::Error) -> TransportError {
        let message = chain(error);
        if let Some(tls) = find_rustls_error(error) {
            use rustls::{AlertDescription, Error as Tls};
            match tls {
                Tls::InvalidCertificate(_) => {
                    return TransportError::UntrustedCollector {
                        url: self.base.clone(),
                        ca: self.ca_source.clone(),
                        message: tls.to_string(),
                    };
                }
                Tls::AlertReceived(
                    AlertDescription::BadCertificate
                    | AlertDescription::CertificateRequired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::UnknownCA
                    | AlertDescription::AccessDenied,
                ) => {
                    return TransportError::CertificateRefused {
                        url: self.base.clone(),
                        message: tls.to_string(),
                    };
                }
                _ => {}
            }
        }
        TransportError::Unreachable {
            url: url.to_string(),
            message,
        }
    }
}

impl Transport for HttpsClient {
    async fn check_in(&self, check_in: &CheckIn) -> Result<CheckInResponse, TransportError> {
        // Tiny, so not compressed: gzip's header would make it larger.
        self.post(PATH_CHECKIN, check_in).await
    }

    async fn report(&self, report: &Report) -> Result<ReportResponse, TransportError> {
        self.report_encoded(encode_report(report)?).await
    }
}

/// A request body as it goes on the wire.
enum Encoded {
    Plain(Vec<u8>),
    Gzip(Vec<u8>),
}

/// A report body exactly as [`Transport::report`] sends it: JSON, gzip-compressed.
pub fn encode_report(report: &Report) -> Result<Vec<u8>, TransportError> {
    let json =
        serde_json::to_vec(report).map_err(|error| TransportError::Setup(error.to_string()))?;
    Ok(gzip_bytes(&json))
}

pub fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Compressing into memory cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// The `rustls::Error` behind a failed request, if TLS is what failed. `io::Error` hides a wrapped error
/// from `source()`, so each `io::Error` in the chain is opened explicitly.
fn find_rustls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(tls) = find_rustls_error(inner)
        {
            return Some(tls);
        }
        current = error.source();
    }
    None
}

/// `error` and its causes on one line, without repeats.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(ca_pem: &str) -> ClientOptions {
        ClientOptions {
            collector_url: "https://127.0.0.1:1".into(),
            ca_pem: ca_pem.into(),
            ca_source: "/etc/census-agent/ca.pem".into(),
            identity: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_naming_it() {
        let error = HttpsClient::new(options("not a certificate")).unwrap_err();
        assert!(matches!(error, TransportError::Setup(_)), "{error:?}");
        assert!(
            error.to_string().contains("/etc/census-agent/ca.pem"),
            "{error}"
        );
    }

    #[test]
    fn plain_http_is_refused() {
        let mut options = options("");
        options.collector_url = "http://127.0.0.1:1".into();
        let error = HttpsClient::new(options).unwrap_err();
        assert!(error.to_string().contains("https://"), "{error}");
    }

    #[test]
    fn api_errors_show_their_code() {
        let error = TransportError::Api {
            status: 403,
            code: Some("agent_pending".into()),
            message: "waiting for approval".into(),
            retry_after: None,
        };
        assert_eq!(
            error.to_string(),
            "the collector answered 403 (agent_pending): waiting for approval"
        );
        assert_eq!(error.code(), Some("agent_pending"));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip_bytes(b"{\"a\":1}")[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "{\"a\":1}");
    }

    #[test]
    fn an_encoded_report_is_the_report_as_gzipped_json() {
        use census_shared::protocol::{PROTOCOL_VERSION, ReportBody, ReportHeader};
        let mut inventory = census_shared::inventory::Inventory::default();
        inventory.host.hostname = Some("web-01".into());
        let report = Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq: 7,
                report_id: "r-7".into(),
                hash: "0".repeat(64),
                collected_at: "2026-11-27T00:00:00Z".into(),
            },
            body: ReportBody::Full {
                inventory: Box::new(inventory),
            },
        };
        let encoded = encode_report(&report).unwrap();
        let decoded: Report =
            serde_json::from_reader(flate2::read::GzDecoder::new(&encoded[..])).unwrap();
        assert_eq!(
            serde_json::to_value(&decoded).unwrap(),
            serde_json::to_value(&report).unwrap()
        );
    }
}

//! The agent's transport over real TLS, against a small test-only collector that implements just enough
//! of the protocol: enrollment (signing the agent's CSR), check-in and report.
//!
//! Proves: the agent verifies the collector against its CA and refuses a collector certified by another
//! CA with a clear error; it presents its client certificate (the server requires one); report bodies
//! arrive gzip-compressed; a 503 with Retry-After or a refused connection leads to spooling.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use census_agent::collect::Root;
use census_agent::config::Config;
use census_agent::daemon;
use census_agent::enroll::{self, EnrollError, EnrollParams};
use census_agent::reporter::Delivery;
use census_agent::state::StateDir;
use census_agent::transport::{ClientOptions, HttpsClient, Transport, TransportError};
use census_shared::protocol::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1: (cert PEM, key PEM).
    fn server_cert(&self) -> (String, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn sign_csr(&self, csr_pem: &str, agent_id: &str) -> String {
        self.sign_csr_valid(csr_pem, agent_id, None)
    }

    /// Signs with the given validity (default: rcgen's, decades).
    fn sign_csr_valid(
        &self,
        csr_pem: &str,
        agent_id: &str,
        validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    ) -> String {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        if let Some((not_before, not_after)) = validity {
            csr.params.not_before = not_before;
            csr.params.not_after = not_after;
        }
        csr.params.distinguished_name = rcgen::DistinguishedName::new();
        csr.params
            .distinguished_name
            .push(rcgen::DnType::CommonName, agent_id);
        csr.signed_by(&self.issuer).unwrap().pem()
    }
}

#[derive(Default)]
struct Recorded {
    check_ins: Vec<CheckIn>,
    reports: Vec<Report>,
    report_encodings: Vec<Option<String>>,
    /// When set, report endpoints answer 503 with this Retry-After.
    unavailable: Option<u64>,
    /// When set, enrollment issues a certificate already in the last third of its validity.
    short_lived: bool,
    /// Public keys (PEM CSRs) the renew endpoint was sent.
    renewals: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    ca: Arc<Ca>,
    recorded: Arc<Mutex<Recorded>>,
}

fn api_error(status: StatusCode, code: &str, retry_after: Option<u64>) -> Response {
    let body = axum::Json(ApiErrorBody {
        code: code.into(),
        message: format!("test server says {code}"),
    });
    match retry_after {
        Some(seconds) => (status, [("retry-after", seconds.to_string())], body).into_response(),
        None => (status, body).into_response(),
    }
}

async fn enroll_handler(State(app): State<AppState>, body: Bytes) -> Response {
    let request: EnrollRequest = serde_json::from_slice(&body).unwrap();
    if request.token != "good-token" {
        return api_error(StatusCode::UNAUTHORIZED, error_code::INVALID_TOKEN, None);
    }
    let now = time::OffsetDateTime::now_utc();
    let validity = app.recorded.lock().unwrap().short_lived.then(|| {
        (
            now - time::Duration::days(20),
            now + time::Duration::days(1),
        )
    });
    axum::Json(EnrollResponse {
        agent_id: "agt-test".into(),
        status: AgentStatus::Active,
        certificate_pem: app
            .ca
            .sign_csr_valid(&request.csr_pem, "agt-test", validity),
        ca_pem: app.ca.pem(),
        not_after: "2027-01-01T00:00:00Z".into(),
    })
    .into_response()
}

async fn renew_handler(State(app): State<AppState>, body: Bytes) -> Response {
    let request: RenewRequest = serde_json::from_slice(&body).unwrap();
    app.recorded
        .lock()
        .unwrap()
        .renewals
        .push(request.csr_pem.clone());
    axum::Json(RenewResponse {
        certificate_pem: app.ca.sign_csr(&request.csr_pem, "agt-test"),
        not_after: "4096-01-01T00:00:00Z".into(),
    })
    .into_response()
}

async fn check_in_handler(State(app): State<AppState>, body: Bytes) -> Response {
    let mut recorded = app.recorded.lock().unwrap();
    if let Some(seconds) = recorded.unavailable {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::UNAVAILABLE,
            Some(seconds),
        );
    }
    recorded
        .check_ins
        .push(serde_json::from_slice(&body).unwrap());
    axum::Json(CheckInResponse::SendReport { base_hash: None }).into_response()
}

async fn report_handler(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let encoding = headers
        .get("content-encoding")
        .map(|value| value.to_str().unwrap().to_string());
    let mut json = Vec::new();
    if encoding.as_deref() == Some("gzip") {
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut json)
            .unwrap();
    } else {
        json = body.to_vec();
    }
    let report: Report = serde_json::from_slice(&json).unwrap();
    let hash = report.header.hash.clone();
    let mut recorded = app.recorded.lock().unwrap();
    recorded.report_encodings.push(encoding);
    recorded.reports.push(report);
    axum::Json(ReportResponse {
        outcome: ReportOutcome::Applied,
        hash,
        missing_packages: None,
    })
    .into_response()
}

struct TestServer {
    addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    recorded: Arc<Mutex<Recorded>>,
}

impl TestServer {
    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Serves the test collector with a certificate from `server_ca`; client certificates signed by
/// `ca` are required when `require_client_cert`.
async fn serve(ca: Arc<Ca>, server_ca: &Ca, require_client_cert: bool) -> TestServer {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (cert_pem, key_pem) = server_ca.server_cert();
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let config = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca.pem().as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap()
    } else {
        builder
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap()
    };
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let app = Router::new()
        .route(PATH_ENROLL, post(enroll_handler))
        .route(PATH_RENEW, post(renew_handler))
        .route(PATH_CHECKIN, post(check_in_handler))
        .route(PATH_REPORT, post(report_handler))
        .with_state(AppState {
            ca,
            recorded: recorded.clone(),
        });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
    )
    .unwrap()
    .handle(handle.clone());
    tokio::spawn(server.serve(app.into_make_service()));
    TestServer {
        addr,
        handle,
        recorded,
    }
}

fn enroll_params(url: String, ca: &Ca, token: &str) -> EnrollParams {
    EnrollParams {
        collector_url: url,
        ca_pem: ca.pem(),
        ca_source: "/etc/census-agent/ca.pem".into(),
        token: token.into(),
        hostname: Some("web-01".into()),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        force: false,
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn enrollment_stores_a_private_identity_and_refuses_bad_tokens() {
    let ca = Arc::new(Ca::new("Census test CA"));
    let server = serve(ca.clone(), &ca, false).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path().join("state"));

    let error = enroll::enroll(&state, &enroll_params(server.url(), &ca, "stale"))
        .await
        .unwrap_err();
    assert!(matches!(error, EnrollError::TokenRefused), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("ask your administrator for a new one")
    );
    assert!(!state.dir().exists(), "a refused enrollment writes nothing");

    let (enrollment, status) =
        enroll::enroll(&state, &enroll_params(server.url(), &ca, "good-token"))
            .await
            .unwrap();
    assert_eq!(enrollment.agent_id, "agt-test");
    assert_eq!(status, AgentStatus::Active);
    assert_eq!(mode(state.dir()), 0o700);
    assert_eq!(mode(&state.path("agent.key")), 0o600);
    assert_eq!(mode(&state.path("agent.crt")), 0o600);
    assert!(
        state
            .read_pem("ca.pem")
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        state
            .read_pem("collector-ca.pem")
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    let again = enroll::enroll(&state, &enroll_params(server.url(), &ca, "good-token"))
        .await
        .unwrap_err();
    assert!(
        matches!(again, EnrollError::AlreadyEnrolled { .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_collector_certified_by_another_ca_is_refused_clearly() {
    let ca = Arc::new(Ca::new("Census test CA"));
    let impostor_ca = Ca::new("Impostor CA");
    let server = serve(ca.clone(), &impostor_ca, false).await;
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let error = enroll::enroll(&state, &enroll_params(server.url(), &ca, "good-token"))
        .await
        .unwrap_err();
    let EnrollError::Transport(TransportError::UntrustedCollector { ca: source, .. }) = &error
    else {
        panic!("expected UntrustedCollector, got {error:?}");
    };
    assert_eq!(source, "/etc/census-agent/ca.pem");
    let text = error.to_string();
    assert!(
        text.contains("not signed by the CA in /etc/census-agent/ca.pem: check --ca"),
        "{text}"
    );
}

/// Enrolls against an open server, then points the agent at a server that requires client certificates.
async fn enrolled_agent(ca: &Arc<Ca>, dir: &std::path::Path) -> Config {
    enrolled_agent_with(ca, dir, false).await
}

async fn enrolled_agent_with(ca: &Arc<Ca>, dir: &std::path::Path, short_lived: bool) -> Config {
    let enroll_server = serve(ca.clone(), ca, false).await;
    enroll_server.recorded.lock().unwrap().short_lived = short_lived;
    let state = StateDir::new(dir);
    enroll::enroll(
        &state,
        &enroll_params(enroll_server.url(), ca, "good-token"),
    )
    .await
    .unwrap();
    Config {
        state_dir: dir.to_path_buf(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

#[tokio::test]
async fn reports_travel_over_mutual_tls_gzip_compressed() {
    let ca = Arc::new(Ca::new("Census test CA"));
    let dir = tempfile::tempdir().unwrap();
    let mut config = enrolled_agent(&ca, dir.path()).await;
    let server = serve(ca.clone(), &ca, true).await;
    config.collector_url = Some(server.url());

    let root = tempfile::tempdir().unwrap();
    let result = daemon::report_once(&config, Root::new(root.path()))
        .await
        .unwrap();
    assert!(result.delivered(), "{result:?}");
    let recorded = server.recorded.lock().unwrap();
    assert_eq!(recorded.check_ins.len(), 1);
    assert_eq!(recorded.check_ins[0].header.seq, 1);
    assert!(serde_json::to_vec(&recorded.check_ins[0]).unwrap().len() <= 512);
    assert_eq!(recorded.report_encodings, vec![Some("gzip".to_string())]);
    assert!(matches!(recorded.reports[0].body, ReportBody::Full { .. }));
    assert_eq!(recorded.reports[0].header, recorded.check_ins[0].header);
}

#[tokio::test]
async fn an_agent_without_a_client_certificate_is_refused() {
    let ca = Arc::new(Ca::new("Census test CA"));
    let server = serve(ca.clone(), &ca, true).await;
    let client = HttpsClient::new(ClientOptions {
        collector_url: server.url(),
        ca_pem: ca.pem(),
        ca_source: "ca.pem".into(),
        identity: None,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    })
    .unwrap();
    let check_in = CheckIn {
        protocol: PROTOCOL_VERSION,
        header: ReportHeader {
            epoch: 1,
            seq: 1,
            report_id: "r".into(),
            hash: "0".repeat(64),
            collected_at: "2026-11-26T22:15:05Z".into(),
        },
        agent_version: "test".into(),
    };
    let error = client.check_in(&check_in).await.unwrap_err();
    assert!(
        matches!(error, TransportError::CertificateRefused { .. }),
        "{error:?}"
    );
    assert!(server.recorded.lock().unwrap().check_ins.is_empty());
}

#[tokio::test]
async fn an_unavailable_or_unreachable_collector_means_spooling() {
    let ca = Arc::new(Ca::new("Census test CA"));
    let dir = tempfile::tempdir().unwrap();
    let mut config = enrolled_agent(&ca, dir.path()).await;
    let root = tempfile::tempdir().unwrap();

    // 503 with Retry-After.
    let server = serve(ca.clone(), &ca, true).await;
    server.recorded.lock().unwrap().unavailable = Some(120);
    config.collector_url = Some(server.url());
    let result = daemon::report_once(&config, Root::new(root.path()))
        .await
        .unwrap();
    assert!(!result.delivered());
    assert_eq!(result.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(result.n_spooled, 1);

    // Connection refused: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    config.collector_url = Some(closed_url);
    let result = daemon::report_once(&config, Root::new(root.path()))
        .await
        .unwrap();
    assert!(
        matches!(
            result.stopped,
            Some(Delivery::Retry {
                error: TransportError::Unreachable { .. },
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(result.n_spooled, 2);

    // Recovery: both spooled reports arrive in order.
    server.recorded.lock().unwrap().unavailable = None;
    config.collector_url = Some(server.url());
    let result = daemon::report_once(&config, Root::new(root.path()))
        .await
        .unwrap();
    assert!(result.delivered(), "{result:?}");
    assert_eq!(result.n_spooled, 0);
    let seqs: Vec<u64> = server
        .recorded
        .lock()
        .unwrap()
        .check_ins
        .iter()
        .map(|check_in| check_in.header.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_certificate_near_expiry_is_renewed_with_a_new_key_before_reporting() {
    let ca = Arc::new(Ca::new("Census test CA"));
    let dir = tempfile::tempdir().unwrap();
    let mut config = enrolled_agent_with(&ca, dir.path(), true).await;
    let state = StateDir::new(dir.path());
    let old_key = state.read_pem("agent.key").unwrap();
    let server = serve(ca.clone(), &ca, true).await;
    config.collector_url = Some(server.url());

    let root = tempfile::tempdir().unwrap();
    let result = daemon::report_once(&config, Root::new(root.path()))
        .await
        .unwrap();
    assert!(result.delivered(), "{result:?}");
    assert_eq!(server.recorded.lock().unwrap().renewals.len(), 1);
    assert_ne!(
        state.read_pem("agent.key").unwrap(),
        old_key,
        "renewal uses a new key pair"
    );
    assert_eq!(mode(&state.path("agent.key")), 0o600);
    let (_, not_after) =
        enroll::certificate_validity(&state.read_pem("agent.crt").unwrap()).unwrap();
    assert!(not_after > time::OffsetDateTime::now_utc() + time::Duration::days(365));

    // Not due any more: the next report does not renew again.
    daemon::report_once(&config, Root::new(root.path()))
        .await
        .unwrap();
    assert_eq!(server.recorded.lock().unwrap().renewals.len(), 1);
}

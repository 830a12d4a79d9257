//! The collector's HTTPS service through the real path: TLS on 127.0.0.1:0, sled on disk in a temp
//! dir, a reqwest client with rustls and a client identity from PEM. Every refused write is followed by
//! a check that the store holds nothing new.

use census_collector::api::Limits;
use census_collector::auth::{self, Role};
use census_collector::cmdb::{Cmdb, CmdbConfig, SPACE_BODY};
use census_collector::enrollment::{SPACE_AGENTS, tokens};
use census_collector::ingest::{Ingest, SPACE_AGENT_REPORTS};
use census_collector::pki::{CertificateAuthority, certificate_identity, first_certificate_der};
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::Store;
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, Package, SCHEMA_VERSION};
use census_shared::protocol::{
    AgentStatus, ApiErrorBody, CheckIn, CheckInResponse, EnrollRequest, EnrollResponse,
    PROTOCOL_VERSION, RenewRequest, RenewResponse, Report, ReportBody, ReportHeader, ReportOutcome,
    ReportResponse,
};
use flate2::Compression;
use flate2::write::GzEncoder;
use rcgen::{CertificateParams, DnType, KeyPair};
use reqwest::StatusCode;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NOW: &str = "2026-11-26T12:00:00Z";

struct Collector {
    server: RunningServer,
    store: Arc<SledStore>,
    ca: Arc<CertificateAuthority>,
}

impl Collector {
    async fn start(
        dir: &Path,
        ca: Arc<CertificateAuthority>,
        require_approval: bool,
        limits: Limits,
    ) -> Self {
        let store = Arc::new(open_store(dir).await);
        let (server_cert_pem, server_key_pem) = ca
            .issue_server_certificate(&["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let settings = ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ca_pem: ca.cert_pem().into(),
            ca_key_pem: ca.key_pem().into(),
            server_cert_pem,
            server_key_pem,
            store: store.clone(),
            limits,
            require_approval,
            agent_cert_validity: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
            stale_after: census_collector::config::DEFAULT_STALE_AFTER,
        };
        let server = server::bind(settings).await.unwrap();
        Self { server, store, ca }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn n_entries(&self, space: &'static str) -> usize {
        self.store.scan_prefix(space, b"").count()
    }

    /// Agent records, report states and CI inventories: what a refused write must not change.
    fn written(&self) -> [usize; 3] {
        [
            self.n_entries(SPACE_AGENTS),
            self.n_entries(SPACE_AGENT_REPORTS),
            self.n_entries(SPACE_BODY),
        ]
    }

    fn admin_token(&self) -> String {
        auth::create_token(self.store.as_ref(), "admin", Role::Admin, None).unwrap()
    }
}

/// sled's file lock is released when the last handle (the server's flusher thread holds one) drops.
async fn open_store(dir: &Path) -> SledStore {
    for _ in 0..100 {
        match SledStore::open(&dir.join("db")) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    SledStore::open(&dir.join("db")).unwrap()
}

fn client(ca_pem: &str, identity: Option<&Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(identity) = identity {
        let pem = format!("{}{}", identity.cert_pem, identity.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

struct Identity {
    agent_id: String,
    key: KeyPair,
    cert_pem: String,
    key_pem: String,
}

fn csr(key: &KeyPair, common_name: &str) -> String {
    let mut params = CertificateParams::new(vec!["victim.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.serialize_request(key).unwrap().pem().unwrap()
}

async fn enroll(collector: &Collector, token: &str) -> reqwest::Response {
    let key = KeyPair::generate().unwrap();
    let request = EnrollRequest {
        token: token.into(),
        csr_pem: csr(&key, "agt-victim"),
        hostname: Some("web-01".into()),
        agent_version: "0.1.0".into(),
    };
    client(collector.ca.cert_pem(), None)
        .post(collector.url("/api/v1/enroll"))
        .json(&request)
        .send()
        .await
        .unwrap()
}

/// Creates a token and enrolls with it; returns the agent's identity and the enrollment answer.
async fn enrolled_agent(collector: &Collector) -> (Identity, EnrollResponse) {
    let (_, secret) =
        tokens::create(collector.store.as_ref(), Duration::from_secs(60), 1, None).unwrap();
    let key = KeyPair::generate().unwrap();
    let request = EnrollRequest {
        token: secret,
        csr_pem: csr(&key, "agt-victim"),
        hostname: Some("web-01".into()),
        agent_version: "0.1.0".into(),
    };
    let response = client(collector.ca.cert_pem(), None)
        .post(collector.url("/api/v1/enroll"))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: EnrollResponse = response.json().await.unwrap();
    let identity = Identity {
        agent_id: answer.agent_id.clone(),
        key_pem: key.serialize_pem(),
        key,
        cert_pem: answer.certificate_pem.clone(),
    };
    (identity, answer)
}

fn machine(n_packages: usize) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = NOW.into();
    inventory.host.hostname = Some("web-01".into());
    inventory.software.packages = (0..n_packages)
        .map(|i| Package {
            manager: "dpkg".into(),
            name: format!("pkg{i}"),
            version: "1.0".into(),
            ..Package::default()
        })
        .collect();
    inventory.canonicalize();
    inventory
}

fn header(seq: u64, inventory: &Inventory) -> ReportHeader {
    ReportHeader {
        epoch: 1,
        seq,
        report_id: format!("report-{seq}"),
        hash: content_hash(inventory),
        collected_at: NOW.into(),
    }
}

fn check_in(seq: u64, inventory: &Inventory) -> CheckIn {
    CheckIn {
        protocol: PROTOCOL_VERSION,
        header: header(seq, inventory),
        agent_version: "0.1.0".into(),
    }
}

fn full_report(seq: u64, inventory: &Inventory) -> Report {
    Report {
        protocol: PROTOCOL_VERSION,
        header: header(seq, inventory),
        body: ReportBody::Full {
            inventory: Box::new(inventory.clone()),
        },
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post_gzip(client: &reqwest::Client, url: &str, json: &[u8]) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(json))
        .send()
        .await
        .unwrap()
}

async fn send_check_in(
    client: &reqwest::Client,
    collector: &Collector,
    seq: u64,
    inventory: &Inventory,
) -> reqwest::Response {
    client
        .post(collector.url("/api/v1/agent/checkin"))
        .json(&check_in(seq, inventory))
        .send()
        .await
        .unwrap()
}

async fn error_of(response: reqwest::Response, status: StatusCode) -> ApiErrorBody {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn ca() -> Arc<CertificateAuthority> {
    Arc::new(CertificateAuthority::generate("Census test CA").unwrap())
}

#[tokio::test]
async fn an_agent_enrolls_checks_in_and_reports_over_mtls_and_is_revoked_on_its_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let (agent, answer) = enrolled_agent(&collector).await;

    // The CSR asked for "agt-victim": the certificate names the server-assigned id instead.
    assert_ne!(answer.agent_id, "agt-victim");
    assert!(answer.agent_id.starts_with("agt-") && answer.agent_id.len() == 30);
    assert_eq!(answer.status, AgentStatus::Active);
    let der = first_certificate_der(&answer.certificate_pem).unwrap();
    let identity = certificate_identity(&der).unwrap();
    assert_eq!(
        identity.common_name.as_deref(),
        Some(answer.agent_id.as_str())
    );
    assert_eq!(answer.ca_pem, collector.ca.cert_pem());

    let http = client(collector.ca.cert_pem(), Some(&agent));
    let inventory = machine(50);
    let response = send_check_in(&http, &collector, 1, &inventory).await;
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN h2 is served"
    );
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::SendReport { base_hash: None }
    );

    let report = serde_json::to_vec(&full_report(1, &inventory)).unwrap();
    let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
    assert_eq!(response.status(), StatusCode::OK);
    let applied: ReportResponse = response.json().await.unwrap();
    assert_eq!(applied.outcome, ReportOutcome::Applied);
    assert_eq!(applied.hash, content_hash(&inventory));
    let stored = Ingest::with_cmdb(collector.store.clone(), collector.server.cmdb())
        .inventory(&agent.agent_id)
        .unwrap();
    assert_eq!(stored.unwrap(), inventory);

    let response = send_check_in(&http, &collector, 2, &inventory).await;
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::Unchanged
    );

    let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
    let replay: ReportResponse = response.json().await.unwrap();
    assert_eq!(replay.outcome, ReportOutcome::Duplicate);

    // Without a client certificate the agent endpoints refuse.
    let anonymous = client(collector.ca.cert_pem(), None);
    let response = send_check_in(&anonymous, &collector, 3, &inventory).await;
    let error = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "unauthenticated");
    assert!(
        error.message.contains("client certificate"),
        "{}",
        error.message
    );

    // Renewal: a new certificate for a new key, still naming the same agent, which then works.
    let new_key = KeyPair::generate().unwrap();
    let response = http
        .post(collector.url("/api/v1/agent/renew"))
        .json(&RenewRequest {
            csr_pem: csr(&new_key, "agt-victim"),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: RenewResponse = response.json().await.unwrap();
    let der = first_certificate_der(&renewed.certificate_pem).unwrap();
    let renewed_identity = certificate_identity(&der).unwrap();
    assert_eq!(
        renewed_identity.common_name.as_deref(),
        Some(agent.agent_id.as_str())
    );
    assert_ne!(renewed_identity.serial_hex, identity.serial_hex);
    let renewed_agent = Identity {
        agent_id: agent.agent_id.clone(),
        key_pem: new_key.serialize_pem(),
        key: new_key,
        cert_pem: renewed.certificate_pem,
    };
    // Until the agent uses its new certificate, the one it renewed with still works (had the answer
    // been lost, the agent could not renew again otherwise).
    let response = send_check_in(&http, &collector, 3, &inventory).await;
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::Unchanged
    );
    let response = send_check_in(
        &client(collector.ca.cert_pem(), Some(&renewed_agent)),
        &collector,
        4,
        &inventory,
    )
    .await;
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::Unchanged
    );
    // From then on the superseded certificate (a copy left on a cloned disk, a stolen key) is refused,
    // though it has not expired.
    let response = send_check_in(&http, &collector, 5, &inventory).await;
    let error = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "certificate_superseded");
    assert!(
        error.message.contains("replaced by a renewal"),
        "{}",
        error.message
    );

    // Revoked by an administrator: refused on the very next request, over the same connection pool.
    let admin = collector.admin_token();
    let response = anonymous
        .post(collector.url(&format!("/api/v1/agents/{}/revoke", agent.agent_id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let before = collector.written();
    let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
    let error = error_of(response, StatusCode::FORBIDDEN).await;
    assert_eq!(error.code, "agent_revoked");
    assert_eq!(collector.written(), before);

    collector.server.shutdown().await;
}

#[tokio::test]
async fn used_up_expired_and_revoked_enrollment_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let store = collector.store.as_ref();
    let (_, once) = tokens::create(store, Duration::from_secs(60), 1, None).unwrap();
    assert_eq!(enroll(&collector, &once).await.status(), StatusCode::OK);
    let (_, expired) = tokens::create(store, Duration::ZERO, 5, None).unwrap();
    let (revoked_info, revoked) = tokens::create(store, Duration::from_secs(60), 5, None).unwrap();
    tokens::revoke(store, &revoked_info.id).unwrap();

    let before = collector.written();
    for (token, reason) in [
        (once.as_str(), "used up"),
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        ("census_enroll_guess", "unknown"),
    ] {
        let error = error_of(enroll(&collector, token).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error.code, "invalid_enrollment_token");
        assert!(
            error.message.contains(reason),
            "{reason}: {}",
            error.message
        );
        assert_eq!(collector.written(), before);
    }
    collector.server.shutdown().await;
}

#[tokio::test]
async fn an_expired_agent_certificate_gets_a_clear_401() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let (agent, _) = enrolled_agent(&collector).await;
    let now = time::OffsetDateTime::now_utc();
    let expired = collector
        .ca
        .sign_agent_csr_between(
            &csr(&agent.key, "ignored"),
            &agent.agent_id,
            now - time::Duration::days(40),
            now - time::Duration::days(10),
        )
        .unwrap();
    let stale = Identity {
        cert_pem: expired.pem,
        ..agent
    };
    let response = client(collector.ca.cert_pem(), Some(&stale))
        .post(collector.url("/api/v1/agent/checkin"))
        .json(&check_in(1, &machine(1)))
        .send()
        .await
        .unwrap();
    let error = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "certificate_expired");
    assert!(
        error.message.contains("expired on") && error.message.contains("enroll again"),
        "{}",
        error.message
    );
    collector.server.shutdown().await;
}

#[tokio::test]
async fn a_client_refuses_a_collector_certificate_from_another_ca_and_the_collector_refuses_foreign_agents()
 {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let other = CertificateAuthority::generate("Another CA").unwrap();
    let error = client(other.cert_pem(), None)
        .get(collector.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    // An agent certificate signed by another CA does not get through the handshake.
    let key = KeyPair::generate().unwrap();
    let foreign = other
        .sign_agent_csr(&csr(&key, "x"), "agt-foreign", Duration::from_secs(3600))
        .unwrap();
    let identity = Identity {
        agent_id: "agt-foreign".into(),
        key_pem: key.serialize_pem(),
        key,
        cert_pem: foreign.pem,
    };
    let result = client(collector.ca.cert_pem(), Some(&identity))
        .post(collector.url("/api/v1/agent/checkin"))
        .json(&check_in(1, &machine(1)))
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    collector.server.shutdown().await;
}

#[tokio::test]
async fn hostile_bodies_are_refused_with_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_body_bytes: 1024 * 1024,
        max_decoded_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let collector = Collector::start(dir.path(), ca().await, false, limits).await;
    let (agent, _) = enrolled_agent(&collector).await;
    let http = client(collector.ca.cert_pem(), Some(&agent));
    let url = collector.url("/api/v1/agent/report");
    let before = collector.written();

    let oversized = vec![b' '; 2 * 1024 * 1024];
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    let error = error_of(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(error.message.contains("1048576 bytes"), "{}", error.message);
    assert_eq!(collector.written(), before);

    // 100 MB of zeros compress to ~100 KB: under the wire limit, far over the decoded one.
    let bomb = vec![0u8; 100 * 1024 * 1024];
    let response = post_gzip(&http, &url, &bomb).await;
    let error = error_of(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(
        error.message.contains("once decompressed"),
        "{}",
        error.message
    );
    assert_eq!(collector.written(), before);

    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"protocol": 1, "epoch": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response, StatusCode::BAD_REQUEST).await.code,
        "invalid_json"
    );

    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let response = post_gzip(&http, &url, deep.as_bytes()).await;
    let error = error_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error.code, "limit_exceeded");
    assert!(
        error.message.contains("deeper than 32"),
        "{}",
        error.message
    );

    let long = serde_json::json!({ "protocol": 1, "report_id": "x".repeat(5000) }).to_string();
    let response = post_gzip(&http, &url, long.as_bytes()).await;
    let error = error_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        error.message.contains("longer than 4096 bytes"),
        "{}",
        error.message
    );

    let response = http.post(&url).body("{}").send().await.unwrap();
    let error = error_of(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(error.code, "unsupported_media_type");

    // Valid JSON of the wrong shape: 422, not 500.
    let response = post_gzip(&http, &url, br#"{"protocol": 1}"#).await;
    assert_eq!(
        error_of(response, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .code,
        "invalid_request"
    );

    // A report whose hash does not match its content.
    let inventory = machine(3);
    let mut lying = full_report(1, &inventory);
    lying.header.hash = "0".repeat(64);
    let response = post_gzip(&http, &url, &serde_json::to_vec(&lying).unwrap()).await;
    assert_eq!(
        error_of(response, StatusCode::CONFLICT).await.code,
        "hash_mismatch"
    );

    let response = http.get(collector.url("/nowhere")).send().await.unwrap();
    assert_eq!(
        error_of(response, StatusCode::NOT_FOUND).await.code,
        "not_found"
    );
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(
        error_of(response, StatusCode::METHOD_NOT_ALLOWED)
            .await
            .code,
        "method_not_allowed"
    );

    assert_eq!(collector.written(), before);
    collector.server.shutdown().await;
}

#[tokio::test]
async fn plain_http_to_the_https_port_gets_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let mut stream = tokio::net::TcpStream::connect(collector.addr())
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("HTTPS only"), "{answer}");

    // And the health check answers over HTTPS, HTTP/1.1 included.
    let http1 = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(collector.ca.cert_pem().as_bytes()).unwrap(),
        ])
        .http1_only()
        .build()
        .unwrap();
    let response = http1.get(collector.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    collector.server.shutdown().await;
}

#[tokio::test]
async fn a_pending_agent_is_refused_until_an_admin_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, true, Limits::default()).await;
    let (agent, answer) = enrolled_agent(&collector).await;
    assert_eq!(answer.status, AgentStatus::Pending);
    let http = client(collector.ca.cert_pem(), Some(&agent));
    let checkin = || {
        http.post(collector.url("/api/v1/agent/checkin"))
            .json(&check_in(1, &machine(1)))
            .send()
    };
    let error = error_of(checkin().await.unwrap(), StatusCode::FORBIDDEN).await;
    assert_eq!(error.code, "agent_pending");

    let anonymous = client(collector.ca.cert_pem(), None);
    let approve = collector.url(&format!("/api/v1/agents/{}/approve", agent.agent_id));
    let error = error_of(
        anonymous.post(&approve).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(error.message.contains("Bearer"), "{}", error.message);
    let auditor = auth::create_token(collector.store.as_ref(), "eve", Role::Auditor, None).unwrap();
    let response = anonymous
        .post(&approve)
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response, StatusCode::FORBIDDEN).await.code,
        "forbidden"
    );

    let admin = collector.admin_token();
    let response = anonymous
        .post(&approve)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(checkin().await.unwrap().status(), StatusCode::OK);

    // Enrollment tokens through the admin API: created, listed, revoked.
    let response = anonymous
        .post(collector.url("/api/v1/enroll-tokens"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "ttl_seconds": 600, "max_uses": 3, "note": "rack 4" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: serde_json::Value = response.json().await.unwrap();
    let token_id = created["token"]["id"].as_str().unwrap().to_string();
    assert!(
        created["secret"]
            .as_str()
            .unwrap()
            .starts_with("census_enroll_")
    );
    let listed: serde_json::Value = anonymous
        .get(collector.url("/api/v1/enroll-tokens"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let response = anonymous
        .delete(collector.url(&format!("/api/v1/enroll-tokens/{token_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let agents: serde_json::Value = anonymous
        .get(collector.url("/api/v1/agents"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents[0]["status"], "active");
    collector.server.shutdown().await;
}

#[tokio::test]
async fn an_acknowledged_report_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca().await;
    let inventory = machine(200);
    let agent_id = {
        let collector = Collector::start(dir.path(), ca.clone(), false, Limits::default()).await;
        let (agent, _) = enrolled_agent(&collector).await;
        let http = client(collector.ca.cert_pem(), Some(&agent));
        let report = serde_json::to_vec(&full_report(1, &inventory)).unwrap();
        let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
        assert_eq!(response.status(), StatusCode::OK);
        drop(http);
        let Collector { server, store, .. } = collector;
        server.shutdown().await;
        drop(store);
        agent.agent_id
    };
    let store = Arc::new(open_store(dir.path()).await);
    let cmdb = Arc::new(Cmdb::open(store.clone(), CmdbConfig::default()).unwrap());
    let stored = Ingest::with_cmdb(store, cmdb).inventory(&agent_id).unwrap();
    assert_eq!(stored.unwrap(), inventory);
}

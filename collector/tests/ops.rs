//! Operations through the real HTTPS server: readiness, Prometheus metrics, request ids, and online
//! backup with restore into a new data dir.

use census_collector::api::{ApiState, Limits, router};
use census_collector::auth::{self, Role};
use census_collector::cmdb::{Cmdb, CmdbConfig};
use census_collector::enrollment::tokens;
use census_collector::pki::CertificateAuthority;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::Store;
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, SCHEMA_VERSION};
use census_shared::protocol::{
    CheckIn, CheckInResponse, EnrollRequest, EnrollResponse, PROTOCOL_VERSION, Report, ReportBody,
    ReportHeader,
};
use rcgen::{CertificateParams, KeyPair};
use reqwest::StatusCode;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const NOW: &str = "2026-11-26T12:00:00Z";

pub struct Collector {
    pub server: RunningServer,
    pub store: Arc<SledStore>,
    pub ca: Arc<CertificateAuthority>,
}

impl Collector {
    pub async fn start(dir: &Path, ca: Arc<CertificateAuthority>, limits: Limits) -> Self {
        let store = Arc::new(SledStore::open(&dir.join("db")).unwrap());
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
            require_approval: false,
            agent_cert_validity: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
            stale_after: census_collector::config::DEFAULT_STALE_AFTER,
            commit_delay: census_collector::config::DEFAULT_COMMIT_DELAY,
        };
        let server = server::bind(settings).await.unwrap();
        Self { server, store, ca }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }
}

pub fn client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// Enrolls an agent; returns its id and an mTLS client.
pub async fn enrolled_agent(collector: &Collector) -> (String, reqwest::Client) {
    let (_, secret) =
        tokens::create(collector.store.as_ref(), Duration::from_secs(60), 1, None).unwrap();
    let key = KeyPair::generate().unwrap();
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let request = EnrollRequest {
        token: secret,
        csr_pem: csr,
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
    let http = client(
        collector.ca.cert_pem(),
        Some((&answer.certificate_pem, &key.serialize_pem())),
    );
    (answer.agent_id, http)
}

pub fn machine() -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = NOW.into();
    inventory.host.hostname = Some("web-01".into());
    inventory.canonicalize();
    inventory
}

pub fn header(seq: u64, inventory: &Inventory) -> ReportHeader {
    ReportHeader {
        epoch: 1,
        seq,
        report_id: format!("report-{seq}"),
        hash: content_hash(inventory),
        collected_at: NOW.into(),
    }
}

pub async fn report(collector: &Collector, http: &reqwest::Client, inventory: &Inventory) {
    let report = Report {
        protocol: PROTOCOL_VERSION,
        header: header(1, inventory),
        body: ReportBody::Full {
            inventory: Box::new(inventory.clone()),
        },
    };
    let response = http
        .post(collector.url("/api/v1/agent/report"))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn ca() -> Arc<CertificateAuthority> {
    Arc::new(CertificateAuthority::generate("Census test CA").unwrap())
}

/// The value of the sample `name{labels}` in a Prometheus text page, 0 when absent.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn readyz_answers_200_and_every_response_carries_a_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca(), Limits::default()).await;
    let http = client(collector.ca.cert_pem(), None);

    let response = http.get(collector.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 32, "{generated}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");

    let response = http
        .get(collector.url("/healthz"))
        .header("x-request-id", "lb-7f3a_01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "lb-7f3a_01");

    // Unknown paths too; a hostile id is replaced, not echoed.
    let response = http
        .get(collector.url("/nowhere"))
        .header("x-request-id", "a".repeat(65))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let replaced = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(replaced.len(), 32, "{replaced}");
    collector.server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_check_ins_refused_reports_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let collector = Collector::start(dir.path(), ca(), limits).await;
    let (_, http) = enrolled_agent(&collector).await;
    let inventory = machine();

    let response = http
        .post(collector.url("/api/v1/agent/checkin"))
        .json(&CheckIn {
            protocol: PROTOCOL_VERSION,
            header: header(1, &inventory),
            agent_version: "0.1.0".into(),
        })
        .send()
        .await
        .unwrap();
    assert!(matches!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::SendReport { .. }
    ));
    let response = http
        .post(collector.url("/api/v1/agent/report"))
        .header("content-type", "application/json")
        .body(vec![b' '; 128 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    report(&collector, &http, &inventory).await;

    // From loopback, no token is needed.
    let response = http.get(collector.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let page = response.text().await.unwrap();
    assert_eq!(
        sample(&page, "census_checkins_total{outcome=\"send_report\"}"),
        1.0,
        "{page}"
    );
    assert_eq!(
        sample(
            &page,
            "census_reports_total{outcome=\"refused\",reason=\"payload_too_large\"}"
        ),
        1.0,
        "{page}"
    );
    assert_eq!(
        sample(&page, "census_reports_total{outcome=\"applied\"}"),
        1.0
    );
    assert_eq!(
        sample(&page, "census_enrollments_total{outcome=\"active\"}"),
        1.0
    );
    assert_eq!(sample(&page, "census_ingest_duration_seconds_count"), 2.0);
    assert!(sample(&page, "census_group_commit_flush_seconds_count") >= 1.0);
    assert_eq!(
        sample(
            &page,
            "census_http_requests_total{route=\"/api/v1/agent/report\",status=\"413\"}"
        ),
        1.0,
        "{page}"
    );
    assert_eq!(sample(&page, "census_active_agents"), 1.0, "{page}");
    assert_eq!(sample(&page, "census_agents{status=\"active\"}"), 1.0);
    assert_eq!(sample(&page, "census_cis_total"), 1.0, "{page}");
    assert_eq!(sample(&page, "census_cis_stale"), 0.0);
    assert!(sample(&page, "census_store_size_bytes") > 0.0);
    collector.server.shutdown().await;
}

#[tokio::test]
async fn metrics_need_a_token_of_any_role_from_outside_loopback() {
    let store: Arc<dyn Store> = Arc::new(census_collector::store::memory::MemoryStore::new());
    let cmdb = Arc::new(Cmdb::open(Arc::clone(&store), CmdbConfig::default()).unwrap());
    let state = ApiState::new(
        Arc::clone(&store),
        cmdb,
        ca(),
        Limits::default(),
        false,
        Duration::from_secs(3600),
    );
    let remote: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let request = |token: Option<&str>| {
        let mut builder = axum::http::Request::get("/metrics");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let mut request = builder.body(axum::body::Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(remote));
        request
    };
    let response = router(state.clone()).oneshot(request(None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let token = auth::create_token(store.as_ref(), "grafana", Role::Auditor, None).unwrap();
    let response = router(state).oneshot(request(Some(&token))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

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
            commit_delay: census_collector::config::DEFAULT_COMMIT_DELAY,
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

mod agents;
mod durability;
mod refusals;

//! Helpers shared by the collector's HTTP test binaries: a collector on 127.0.0.1:0 over real sled,
//! API tokens for every role, enrolled agents and their reports.
//!
//! Each test binary uses part of this module; the rest would be dead code in that binary.
#![allow(dead_code)]

use census_collector::api::Limits;
use census_collector::auth::{self, Role};
use census_collector::cmdb;
use census_collector::datadir::DataDir;
use census_collector::enrollment::tokens;
use census_collector::pki::CertificateAuthority;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::sled::SledStore;
use census_collector::store::{Store, schema};
use census_shared::hash::content_hash;
use census_shared::inventory::Inventory;
use census_shared::protocol::{
    EnrollRequest, EnrollResponse, PROTOCOL_VERSION, Report, ReportBody, ReportHeader,
};
use rcgen::{CertificateParams, DnType, KeyPair};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::AssetManager,
    Role::ServiceDesk,
    Role::Auditor,
    Role::Approver,
];

/// A collector serving a sled store in a temp dir, with one API token per role.
pub struct TestCollector {
    pub dir: tempfile::TempDir,
    pub server: RunningServer,
    pub store: Arc<SledStore>,
    pub ca: Arc<CertificateAuthority>,
    /// Trusts the collector CA; no client certificate.
    pub http: reqwest::Client,
    /// A token per role, for the user named after the role (`admin`, `assetmanager`, …).
    pub tokens: Vec<(Role, String)>,
}

impl TestCollector {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`TestCollector::start`] with `adjust` applied to the server's settings first.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeSettings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
        let ca = Arc::new(CertificateAuthority::generate("Census test CA").unwrap());
        let (server_cert_pem, server_key_pem) = ca
            .issue_server_certificate(&["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let pems = [
            ca.cert_pem(),
            ca.key_pem(),
            &server_cert_pem,
            &server_key_pem,
        ];
        let mut settings = settings(store.clone(), pems);
        adjust(&mut settings);
        let server = server::bind(settings).await.unwrap();
        let tokens = ROLES
            .iter()
            .map(|role| {
                let user = format!("{role:?}").to_lowercase();
                let secret = auth::create_token(store.as_ref(), &user, *role, None).unwrap();
                (*role, secret)
            })
            .collect();
        let http = https_client(ca.cert_pem(), None);
        Self {
            dir,
            server,
            store,
            ca,
            http,
            tokens,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    pub fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// One API call with `token` (none when `None`); the status and the JSON answer (a string when
    /// the answer is not JSON).
    pub async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Enrolls a new agent; returns its id and its mTLS client.
    pub async fn enroll(&self) -> (String, reqwest::Client) {
        let (agent_id, pem) =
            enrolled_identity_pem(&self.http, &self.url("/api/v1/enroll"), self.store.as_ref())
                .await;
        (agent_id, https_client(self.ca.cert_pem(), Some(&pem)))
    }

    /// Sends `inventory` as full report number `seq` of `agent_id`; returns the answer's status.
    pub async fn report(
        &self,
        agent: &reqwest::Client,
        agent_id: &str,
        seq: u64,
        inventory: &Inventory,
    ) -> reqwest::Response {
        let report = Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq,
                report_id: format!("{agent_id}-{seq}"),
                hash: content_hash(inventory),
                collected_at: inventory.collected_at.clone(),
            },
            body: ReportBody::Full {
                inventory: Box::new(inventory.clone()),
            },
        };
        agent
            .post(self.url("/api/v1/agent/report"))
            .json(&report)
            .send()
            .await
            .unwrap()
    }

    /// The CI that `agent_id`'s reports feed.
    pub fn ci_of(&self, agent_id: &str) -> String {
        let number = self
            .store
            .get(cmdb::SPACE_AGENTS, agent_id.as_bytes())
            .unwrap()
            .expect("the agent's report created a CI");
        cmdb::model::ci_id(u64::from_be_bytes(number.try_into().unwrap()))
    }
}

/// A collector on 127.0.0.1:0 with default limits, from `[CA cert, CA key, server cert, server key]`.
fn settings(store: Arc<dyn Store>, [ca, ca_key, cert, key]: [&str; 4]) -> ServeSettings {
    ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        ca_pem: ca.to_string(),
        ca_key_pem: ca_key.to_string(),
        server_cert_pem: cert.to_string(),
        server_key_pem: key.to_string(),
        store,
        limits: Limits::default(),
        require_approval: false,
        agent_cert_validity: Duration::from_secs(3600),
        shutdown_grace: Duration::from_secs(5),
        stale_after: census_collector::config::DEFAULT_STALE_AFTER,
        commit_delay: census_collector::config::DEFAULT_COMMIT_DELAY,
    }
}

/// An HTTPS client trusting `ca_pem`, presenting `identity_pem` (certificate and key) when given.
pub fn https_client(ca_pem: &str, identity_pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(pem) = identity_pem {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// Serves the data dir as `serve` does, including the `collector.url` the CLI reads.
pub async fn serve_data_dir(data_dir: &DataDir) -> (RunningServer, Arc<dyn Store>, String) {
    let store = open_when_free(data_dir).await;
    schema::ensure_current(store.as_ref()).unwrap();
    let read = |path: std::path::PathBuf| data_dir.read(&path).unwrap();
    let ca_pem = read(data_dir.ca_cert());
    let (ca_key, cert, key) = (
        read(data_dir.ca_key()),
        read(data_dir.server_cert()),
        read(data_dir.server_key()),
    );
    let pems = [ca_pem.as_str(), &ca_key, &cert, &key];
    let server = server::bind(settings(store.clone(), pems)).await.unwrap();
    let url = format!("https://127.0.0.1:{}", server.local_addr().port());
    data_dir
        .replace_public(&data_dir.endpoint(), format!("{url}\n").as_bytes())
        .unwrap();
    (server, store, ca_pem)
}

/// Opens the data dir's database with its engine, waiting for a stopped server's flusher thread to
/// let go of it.
pub async fn open_when_free(data_dir: &DataDir) -> Arc<dyn Store> {
    let engine = data_dir.engine().unwrap();
    for _ in 0..100 {
        if let Ok(store) = engine.open(data_dir.root()) {
            return store;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.open(data_dir.root()).unwrap()
}

/// Enrolls a new agent at `enroll_url` with a fresh one-use token from `store`; returns the agent's
/// assigned id, and its certificate and key as one PEM, ready for `reqwest::Identity::from_pem`.
pub async fn enrolled_identity_pem(
    http: &reqwest::Client,
    enroll_url: &str,
    store: &dyn Store,
) -> (String, String) {
    let (_, secret) = tokens::create(store, Duration::from_secs(60), 1, None).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["agent.example".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "agent");
    let request = EnrollRequest {
        token: secret,
        csr_pem: params.serialize_request(&key).unwrap().pem().unwrap(),
        hostname: None,
        agent_version: "0.1.0".into(),
    };
    let response = http.post(enroll_url).json(&request).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: EnrollResponse = response.json().await.unwrap();
    let pem = format!("{}{}", answer.certificate_pem, key.serialize_pem());
    (answer.agent_id, pem)
}

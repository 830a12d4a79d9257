//! Helpers shared by the web console's test binaries (`web.rs`, `browser.rs`): a collector on real TLS
//! and sled, machines created by real enrolled agents sending real reports, and signed-in sessions.
//! Each binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use census_collector::api::Limits;
use census_collector::auth::{self, Role};
use census_collector::cmdb;
use census_collector::pki::CertificateAuthority;
use census_collector::secret::rfc3339;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::Store;
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Disk, Inventory, Package, SCHEMA_VERSION};
use census_shared::protocol::{
    PROTOCOL_VERSION, Report, ReportBody, ReportHeader, ReportOutcome, ReportResponse,
};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

pub struct Console {
    _dir: tempfile::TempDir,
    pub server: RunningServer,
    pub store: Arc<SledStore>,
    pub ca: Arc<CertificateAuthority>,
    pub server_cert_pem: String,
    /// Trusts the collector CA and never follows redirects, so tests see each 303.
    pub http: reqwest::Client,
}

/// An enrolled agent: its mTLS client and report sequence.
pub struct Agent {
    pub id: String,
    http: reqwest::Client,
    seq: u64,
}

/// A browser's view of a session: the cookie to send back and the CSRF token of its forms.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// What a machine reports.
pub struct Machine<'a> {
    pub hostname: &'a str,
    pub os_name: &'a str,
    pub os_version: &'a str,
    pub bios_date: Option<&'a str>,
    pub openssl: &'a str,
}

impl<'a> Machine<'a> {
    pub fn debian(hostname: &'a str) -> Self {
        Self {
            hostname,
            os_name: "Debian GNU/Linux",
            os_version: "12",
            bios_date: Some("03/15/2022"),
            openssl: "3.0.11-1~deb12u2",
        }
    }
}

impl Console {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
        let ca = Arc::new(CertificateAuthority::generate("Census test CA").unwrap());
        let (server_cert_pem, server_key_pem) = ca
            .issue_server_certificate(&["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let settings = ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ca_pem: ca.cert_pem().into(),
            ca_key_pem: ca.key_pem().into(),
            server_cert_pem: server_cert_pem.clone(),
            server_key_pem,
            store: store.clone(),
            limits: Limits::default(),
            require_approval: false,
            agent_cert_validity: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
            stale_after: census_collector::config::DEFAULT_STALE_AFTER,
            commit_delay: census_collector::config::DEFAULT_COMMIT_DELAY,
        };
        let server = server::bind(settings).await.unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            _dir: dir,
            server,
            store,
            ca,
            server_cert_pem,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    /// A new API token for `user` with `role`.
    pub fn token(&self, user: &str, role: Role) -> String {
        auth::create_token(self.store.as_ref(), user, role, None).unwrap()
    }

    /// Enrolls a new agent that reports `machine` once; returns the CI it created.
    pub async fn machine(&self, machine: &Machine<'_>) -> String {
        self.machine_agent(machine).await.1
    }

    /// Enrolls a new agent that reports `machine` once; returns the agent (to report again) and its CI.
    pub async fn machine_agent(&self, machine: &Machine<'_>) -> (Agent, String) {
        let mut agent = self.agent().await;
        self.report(&mut agent, machine).await;
        let ci = self.ci_of(&agent.id);
        (agent, ci)
    }

    /// The CI agent `agent_id` reports to (it must have one).
    pub fn ci_of(&self, agent_id: &str) -> String {
        let number = self
            .store
            .get(cmdb::SPACE_AGENTS, agent_id.as_bytes())
            .unwrap()
            .expect("the agent's report created or joined a CI");
        cmdb::model::ci_id(u64::from_be_bytes(number.try_into().unwrap()))
    }

    /// Enrolls a new agent that has not reported yet.
    pub async fn agent(&self) -> Agent {
        let (agent_id, pem) = common::enrolled_identity_pem(
            &self.http,
            &self.url("/api/v1/enroll"),
            self.store.as_ref(),
        )
        .await;
        let http = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap(),
            ])
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        Agent {
            id: agent_id,
            http,
            seq: 0,
        }
    }

    /// Sends `machine`'s inventory as `agent`'s next full report.
    pub async fn report(&self, agent: &mut Agent, machine: &Machine<'_>) {
        self.report_inventory(agent, inventory(machine)).await;
    }

    /// Sends `inventory` as `agent`'s next full report.
    pub async fn report_inventory(&self, agent: &mut Agent, inventory: Inventory) {
        agent.seq += 1;
        let report = Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq: agent.seq,
                report_id: format!("{}-{}", agent.id, agent.seq),
                hash: content_hash(&inventory),
                collected_at: inventory.collected_at.clone(),
            },
            body: ReportBody::Full {
                inventory: Box::new(inventory),
            },
        };
        let response = agent
            .http
            .post(self.url("/api/v1/agent/report"))
            .json(&report)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let answer: ReportResponse = response.json().await.unwrap();
        assert_eq!(answer.outcome, ReportOutcome::Applied);
    }

    /// Signs in with `token` through the form; returns the cookie and the CSRF token of the pages.
    pub async fn sign_in(&self, token: &str) -> Session {
        let response = self
            .http
            .post(self.url("/login"))
            .header("content-type", FORM)
            .body(form(&[("token", token), ("next", "/")]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let page = self.get(&cookie, "/").await;
        assert_eq!(page.0, StatusCode::OK, "{}", page.1);
        Session {
            csrf: csrf_of(&page.1),
            cookie,
        }
    }

    /// GET `path` with `cookie`: the status and the body.
    pub async fn get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// POST a form to `path` as a browser on this origin would; the response.
    pub async fn post(
        &self,
        session: &Session,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("cookie", &session.cookie)
            .header("origin", self.url(""))
            .header("content-type", FORM)
            .body(form(fields))
            .send()
            .await
            .unwrap()
    }
}

pub const FORM: &str = "application/x-www-form-urlencoded";

/// An `application/x-www-form-urlencoded` body, as a browser sends a form.
pub fn form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    char::from(byte).to_string()
                }
                b' ' => "+".to_string(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn inventory(machine: &Machine<'_>) -> Inventory {
    let host = machine.hostname;
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = rfc3339(OffsetDateTime::now_utc());
    inventory.host.hostname = Some(host.into());
    inventory.host.machine_id = Some(format!("machine-id-of-{host}"));
    inventory.os.name = Some(machine.os_name.into());
    inventory.os.version = Some(machine.os_version.into());
    inventory.os.pretty_name = Some(format!("{} {}", machine.os_name, machine.os_version));
    inventory.os.id = Some(machine.os_name.split(' ').next().unwrap().to_lowercase());
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.product = Some("PowerEdge R650".into());
    inventory.hardware.system.serial = Some(format!("SN-{host}"));
    inventory.hardware.bios.version = Some("1.9.2".into());
    inventory.hardware.bios.date = machine.bios_date.map(str::to_string);
    inventory.hardware.cpu.model = Some("Intel(R) Xeon(R) Gold 6338".into());
    inventory.hardware.cpu.physical_cores = Some(32);
    inventory.hardware.memory.total_bytes = Some(64 << 30);
    inventory.hardware.disks = vec![Disk {
        name: "sda".into(),
        model: Some("PERC H755".into()),
        serial: Some(format!("DISK-{host}")),
        size_bytes: Some(480 << 30),
        ..Disk::default()
    }];
    inventory.software.packages = ["openssl", "bash", "nginx", "libssl3"]
        .iter()
        .map(|name| Package {
            manager: "dpkg".into(),
            name: (*name).into(),
            version: if *name == "openssl" || *name == "libssl3" {
                machine.openssl.into()
            } else {
                "5.2.15-2+b7".into()
            },
            arch: Some("amd64".into()),
            ..Package::default()
        })
        .collect();
    inventory.canonicalize();
    inventory
}

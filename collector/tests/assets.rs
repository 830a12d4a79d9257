//! The asset API through the real path: a collector on 127.0.0.1:0 with sled on disk, agents enrolled and
//! reporting with the agent's own transport and delivery code, then searches, edits, history, time
//! travel, the event feed and export over HTTPS with API tokens of several roles.

use census_agent::reporter::{Delivery, deliver};
use census_agent::spool::PendingReport;
use census_agent::state::Acked;
use census_agent::transport::{ClientOptions, HttpsClient};
use census_collector::auth::{self, Role};
use census_collector::pki::CertificateAuthority;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Interface, Inventory, IpAddress, Package, SCHEMA_VERSION};
use census_shared::protocol::{EnrollRequest, ReportHeader};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct Fleet {
    server: RunningServer,
    ca_pem: String,
    admin: String,
    auditor: String,
    manager: String,
    http: reqwest::Client,
}

impl Fleet {
    async fn start(dir: &std::path::Path) -> Fleet {
        let store = Arc::new(SledStore::open(&dir.join("db")).unwrap());
        let ca = CertificateAuthority::generate("test CA").unwrap();
        let (server_cert_pem, server_key_pem) =
            ca.issue_server_certificate(&["127.0.0.1".into()]).unwrap();
        let admin = auth::create_token(store.as_ref(), "alice", Role::Admin, None).unwrap();
        let auditor = auth::create_token(store.as_ref(), "audrey", Role::Auditor, None).unwrap();
        let manager = auth::create_token(store.as_ref(), "max", Role::AssetManager, None).unwrap();
        let settings = ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ca_pem: ca.cert_pem().into(),
            ca_key_pem: ca.key_pem().into(),
            server_cert_pem,
            server_key_pem,
            store: store.clone(),
            limits: Default::default(),
            require_approval: false,
            agent_cert_validity: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(5),
        };
        let server = server::bind(settings).await.unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap()])
            .build()
            .unwrap();
        Fleet {
            server,
            ca_pem: ca.cert_pem().into(),
            admin,
            auditor,
            manager,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    async fn get(&self, token: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn patch(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Hostnames of the assets a query returns, following every cursor.
    async fn hostnames(&self, q: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/assets?limit=2&q={}", urlencode(q));
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = self.get(Some(&self.auditor), &path).await;
            assert_eq!(status, StatusCode::OK, "{q}: {page}");
            for item in page["items"].as_array().unwrap() {
                names.push(item["hostname"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        names.sort();
        names
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A machine reporting through the agent's own code.
struct Machine {
    client: HttpsClient,
    inventory: Inventory,
    acked: Option<Acked>,
    seq: u64,
}

impl Machine {
    async fn enroll(fleet: &Fleet, store_token: &str, inventory: Inventory) -> Machine {
        let options = |identity| ClientOptions {
            collector_url: fleet.url(""),
            ca_pem: fleet.ca_pem.clone(),
            ca_source: "test".into(),
            identity,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        };
        let (key, csr) = census_agent::enroll::new_key_and_csr().unwrap();
        let request = EnrollRequest {
            token: store_token.into(),
            csr_pem: csr,
            hostname: inventory.host.hostname.clone(),
            agent_version: "test".into(),
        };
        let enrolled = HttpsClient::new(options(None))
            .unwrap()
            .enroll(&request)
            .await
            .unwrap();
        let client = HttpsClient::new(options(Some((key, enrolled.certificate_pem)))).unwrap();
        Machine {
            client,
            inventory,
            acked: None,
            seq: 0,
        }
    }

    async fn report(&mut self) {
        self.seq += 1;
        self.inventory.canonicalize();
        let report = PendingReport {
            header: ReportHeader {
                epoch: 1,
                seq: self.seq,
                report_id: format!("r{}", self.seq),
                hash: content_hash(&self.inventory),
                collected_at: self.inventory.collected_at.clone(),
            },
            inventory: self.inventory.clone(),
        };
        match deliver(&self.client, &report, self.acked.as_ref()).await {
            Delivery::Applied { hash, .. } => {
                self.acked = Some(Acked {
                    hash,
                    inventory: self.inventory.clone(),
                })
            }
            Delivery::Done(_) => {}
            other => panic!("report not delivered: {other:?}"),
        }
    }
}

fn machine(
    hostname: &str,
    os: &str,
    openssl: (&str, &str),
    ip: &str,
    memory_gib: u64,
) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = "2026-11-26T12:00:00Z".into();
    inventory.host.hostname = Some(hostname.into());
    inventory.host.machine_id = Some(format!(
        "{:0>32}",
        hostname.len() * 7 + hostname.as_bytes()[0] as usize
    ));
    inventory.os.id = Some(os.into());
    inventory.os.version = Some("12".into());
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.serial = Some(format!("SN-{hostname}"));
    inventory.hardware.memory.total_bytes = Some(memory_gib << 30);
    inventory.network.interfaces = vec![Interface {
        name: "eth0".into(),
        mac: Some(format!(
            "52:54:00:00:00:{:02x}",
            hostname.as_bytes()[hostname.len() - 1]
        )),
        addresses: vec![IpAddress {
            address: ip.into(),
            prefix_len: 16,
            family: "inet".into(),
        }],
        ..Interface::default()
    }];
    inventory.software.packages = vec![
        Package {
            manager: openssl.0.into(),
            name: "openssl".into(),
            version: openssl.1.into(),
            ..Package::default()
        },
        Package {
            manager: openssl.0.into(),
            name: "bash".into(),
            version: "5.2.15-2".into(),
            ..Package::default()
        },
    ];
    inventory
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_managers_search_edit_and_travel_in_time_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::start(dir.path()).await;

    // Enrollment tokens are created through the admin API (the database is the server's).
    let mut machines = Vec::new();
    for inventory in [
        machine(
            "web-01",
            "debian",
            ("dpkg", "3.0.2-0ubuntu1"),
            "10.1.2.3",
            64,
        ),
        machine(
            "web-02",
            "debian",
            ("dpkg", "3.0.11-1~deb12u2"),
            "10.1.5.6",
            16,
        ),
        machine(
            "db-01",
            "debian",
            ("dpkg", "3.0.2-0ubuntu1"),
            "192.168.1.10",
            32,
        ),
        machine("app-01", "rhel", ("rpm", "1:3.0.7-6.el9"), "10.2.0.1", 8),
    ] {
        let response = fleet
            .http
            .post(fleet.url("/api/v1/enroll-tokens"))
            .bearer_auth(&fleet.admin)
            .json(&json!({"max_uses": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let token: Value = response.json().await.unwrap();
        let mut machine =
            Machine::enroll(&fleet, token["secret"].as_str().unwrap(), inventory).await;
        machine.report().await;
        machines.push(machine);
    }

    // Every read needs a token.
    assert_eq!(
        fleet.get(None, "/api/v1/assets").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, all) = fleet.get(Some(&fleet.auditor), "/api/v1/assets").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["items"].as_array().unwrap().len(), 4, "{all}");
    assert!(all["next_cursor"].is_null());

    // The query language, with each package manager's own version order.
    let vulnerable = "package:openssl version<3.0.7 and os.id=debian and not status=retired";
    assert_eq!(fleet.hostnames(vulnerable).await, ["db-01", "web-01"]);
    assert_eq!(
        fleet.hostnames("ip in 10.1.0.0/16").await,
        ["web-01", "web-02"]
    );
    assert_eq!(
        fleet.hostnames("hostname ~ \"web-*\"").await,
        ["web-01", "web-02"]
    );
    assert_eq!(
        fleet.hostnames("memory.total_bytes >= 32GiB").await,
        ["db-01", "web-01"]
    );
    assert_eq!(
        fleet
            .hostnames("package:openssl version>=3.0.7 manager=rpm")
            .await,
        ["app-01"]
    );

    // Pagination: one at a time, no duplicates, nothing missed.
    let mut seen = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/assets?limit=1{cursor}");
        let (_, page) = fleet.get(Some(&fleet.auditor), &path).await;
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_string()),
                "duplicate {item}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);

    // A query that does not parse says where.
    let (status, error) = fleet
        .get(Some(&fleet.auditor), "/api/v1/assets?q=hostname%20~")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid_query");
    assert!(error["message"].as_str().unwrap().contains('^'), "{error}");

    // Managed fields: auditors read, asset managers edit; discovery never overwrites them.
    let id = |name: &str| {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["hostname"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (web01, db01) = (id("web-01"), id("db-01"));
    let (status, _) = fleet
        .patch(
            &fleet.auditor,
            &format!("/api/v1/assets/{web01}"),
            json!({"owner": "ops"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = fleet
        .patch(
            &fleet.manager,
            &format!("/api/v1/assets/{web01}"),
            json!({"owner": "web team", "asset_tag": "A-1001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = fleet
        .patch(
            &fleet.manager,
            &format!("/api/v1/assets/{db01}"),
            json!({"status": "retired"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fleet.hostnames(vulnerable).await,
        ["web-01"],
        "retired machines drop out"
    );

    // Time travel needs a moment between the first reports and the upgrade.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before_upgrade = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let web = &mut machines[0];
    web.inventory.software.packages[1].version = "3.0.13-1~deb12u1".into();
    web.report().await;

    let (_, asset) = fleet
        .get(Some(&fleet.auditor), &format!("/api/v1/assets/{web01}"))
        .await;
    assert_eq!(asset["managed"]["owner"]["value"], "web team", "{asset}");
    assert_eq!(asset["managed"]["owner"]["source"], "person", "{asset}");
    let openssl = |asset: &Value| {
        asset["inventory"]["software"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "openssl")
            .unwrap()["version"]
            .clone()
    };
    assert_eq!(openssl(&asset), "3.0.13-1~deb12u1");
    let (_, past) = fleet
        .get(
            Some(&fleet.auditor),
            &format!("/api/v1/assets/{web01}?as_of={before_upgrade}"),
        )
        .await;
    assert_eq!(openssl(&past), "3.0.2-0ubuntu1", "{past}");

    let (_, history) = fleet
        .get(
            Some(&fleet.auditor),
            &format!("/api/v1/assets/{web01}/history"),
        )
        .await;
    let text = history.to_string();
    assert!(
        text.contains("package_upgraded") && text.contains("3.0.13-1~deb12u1"),
        "{history}"
    );
    assert!(
        text.contains("3.0.2-0ubuntu1"),
        "the upgrade names its old version: {history}"
    );

    // The event feed, resumed from a cursor, gives every event once.
    let (_, first) = fleet
        .get(Some(&fleet.auditor), "/api/v1/events?limit=3")
        .await;
    let cursor = first["next_cursor"].as_u64().unwrap();
    let (_, rest) = fleet
        .get(
            Some(&fleet.auditor),
            &format!("/api/v1/events?since={cursor}&limit=1000"),
        )
        .await;
    let (_, everything) = fleet
        .get(Some(&fleet.auditor), "/api/v1/events?limit=1000")
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        first["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len(),
        everything["items"].as_array().unwrap().len()
    );

    // Export, streamed as CSV.
    let response = fleet
        .http
        .get(fleet.url(&format!(
            "/api/v1/assets/export?format=csv&q={}",
            urlencode("hostname ~ \"web-*\"")
        )))
        .bearer_auth(&fleet.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("id,hostname,serial,os,status"),
        "{csv}"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains("web-01") && lines[1].contains("A-1001"),
        "{csv}"
    );
    assert!(lines[2].contains("web-02"), "{csv}");

    fleet.server.shutdown().await;
}

//! The asset manager API through the real path: TLS on 127.0.0.1:0, sled in a temp dir, agents enrolled
//! over HTTPS sending real reports of crafted inventories, then queries, edits, history, time travel,
//! the event feed, exports and role checks over HTTPS with API tokens.

mod common;

use census_collector::api::Limits;
use census_collector::auth::{self, Role};
use census_collector::pki::CertificateAuthority;
use census_collector::secret::rfc3339;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Interface, Inventory, IpAddress, Package, SCHEMA_VERSION};
use census_shared::protocol::{PROTOCOL_VERSION, Report, ReportBody, ReportHeader};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct Collector {
    server: RunningServer,
    ca: Arc<CertificateAuthority>,
    http: reqwest::Client,
    admin: String,
    auditor: String,
    manager: String,
    store: Arc<SledStore>,
}

impl Collector {
    async fn start(dir: &std::path::Path) -> Self {
        let ca = Arc::new(CertificateAuthority::generate("Census test CA").unwrap());
        let store = Arc::new(SledStore::open(&dir.join("db")).unwrap());
        let token =
            |user: &str, role| auth::create_token(store.as_ref(), user, role, None).unwrap();
        let (admin, auditor, manager) = (
            token("root", Role::Admin),
            token("audit-carol", Role::Auditor),
            token("manager-bob", Role::AssetManager),
        );
        let (server_cert_pem, server_key_pem) =
            ca.issue_server_certificate(&["127.0.0.1".into()]).unwrap();
        let settings = ServeSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ca_pem: ca.cert_pem().into(),
            ca_key_pem: ca.key_pem().into(),
            server_cert_pem,
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
        let http = client(ca.cert_pem(), None);
        Self {
            server,
            ca,
            http,
            admin,
            auditor,
            manager,
            store,
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    async fn get(&self, token: &str, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        let url = reqwest::Url::parse_with_params(&self.url(path), query).unwrap();
        self.http.get(url).bearer_auth(token).send().await.unwrap()
    }

    async fn json(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self.get(&self.auditor, path, query).await;
        assert_eq!(response.status(), StatusCode::OK, "{path} {query:?}");
        response.json().await.unwrap()
    }

    /// Hostnames of the assets matching `q`, in id order.
    async fn hosts(&self, q: &str) -> Vec<String> {
        let page = self.json("/api/v1/assets", &[("q", q)]).await;
        assert_eq!(page["next_cursor"], Value::Null);
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["hostname"].as_str().unwrap().to_string())
            .collect()
    }

    async fn patch(&self, token: &str, id: &str, body: Value) -> reqwest::Response {
        self.http
            .patch(self.url(&format!("/api/v1/assets/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn client(ca_pem: &str, identity: Option<String>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// An enrolled agent with its mTLS client and its report sequence.
struct Agent {
    http: reqwest::Client,
    seq: u64,
}

impl Agent {
    async fn enroll(collector: &Collector) -> Self {
        let (_, pem) = common::enrolled_identity_pem(
            &collector.http,
            &collector.url("/api/v1/enroll"),
            collector.store.as_ref(),
        )
        .await;
        Self {
            http: client(collector.ca.cert_pem(), Some(pem)),
            seq: 0,
        }
    }

    async fn report(&mut self, collector: &Collector, inventory: &Inventory) {
        self.seq += 1;
        let report = Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq: self.seq,
                report_id: format!("report-{}", self.seq),
                hash: content_hash(inventory),
                collected_at: inventory.collected_at.clone(),
            },
            body: ReportBody::Full {
                inventory: Box::new(inventory.clone()),
            },
        };
        let response = self
            .http
            .post(collector.url("/api/v1/agent/report"))
            .json(&report)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

struct Machine {
    hostname: &'static str,
    n: u8,
    os: &'static str,
    openssl: &'static str,
    ip: &'static str,
    memory_gib: u64,
}

fn inventory(m: &Machine) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = rfc3339(time::OffsetDateTime::now_utc());
    inventory.host.hostname = Some(m.hostname.into());
    inventory.host.machine_id = Some(format!("{:032x}", m.n));
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.product = Some("PowerEdge R650".into());
    inventory.hardware.system.serial = Some(format!("SRV-{}", m.n));
    inventory.hardware.memory.total_bytes = Some(m.memory_gib << 30);
    inventory.os.id = Some(m.os.into());
    inventory.os.pretty_name = Some(format!("{} (test), \"{}\"", m.os, m.n));
    inventory.network.interfaces = vec![Interface {
        name: "eno1".into(),
        mac: Some(format!("52:54:00:00:00:{:02x}", m.n)),
        kind: Some("ethernet".into()),
        addresses: vec![IpAddress {
            address: m.ip.into(),
            prefix_len: 16,
            family: "inet".into(),
        }],
        ..Interface::default()
    }];
    inventory.software.packages = [("openssl", m.openssl), ("curl", "7.88.1-10")]
        .iter()
        .map(|(name, version)| Package {
            manager: "dpkg".into(),
            name: name.to_string(),
            version: version.to_string(),
            arch: Some("amd64".into()),
            ..Package::default()
        })
        .collect();
    inventory.canonicalize();
    inventory
}

const FLEET: [Machine; 4] = [
    Machine {
        hostname: "web-01",
        n: 1,
        os: "debian",
        openssl: "3.0.2-0ubuntu1",
        ip: "10.1.0.5",
        memory_gib: 64,
    },
    Machine {
        hostname: "web-02",
        n: 2,
        os: "debian",
        openssl: "3.0.11-1~deb12u2",
        ip: "10.1.3.4",
        memory_gib: 16,
    },
    Machine {
        hostname: "db-01",
        n: 3,
        os: "ubuntu",
        openssl: "3.0.2-0ubuntu1",
        ip: "192.168.5.5",
        memory_gib: 128,
    },
    Machine {
        hostname: "web-03",
        n: 4,
        os: "debian",
        openssl: "3.0.2-0ubuntu1",
        ip: "10.2.0.1",
        memory_gib: 8,
    },
];

fn strings(value: &Value, key: &str) -> Vec<String> {
    value["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| match &item[key] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn asset_managers_query_edit_follow_and_export_the_fleet_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path()).await;
    let mut agents = Vec::new();
    for machine in &FLEET {
        let mut agent = Agent::enroll(&collector).await;
        agent.report(&collector, &inventory(machine)).await;
        agents.push(agent);
    }

    // Every asset, then the contract's example queries.
    let all = collector.json("/api/v1/assets", &[]).await;
    let ids = strings(&all, "id");
    assert_eq!(ids.len(), 4);
    assert_eq!(
        strings(&all, "hostname"),
        ["web-01", "web-02", "db-01", "web-03"]
    );
    let first = &all["items"][0];
    assert_eq!(first["serial"], "SRV-1");
    assert_eq!(first["status"], "in_use");
    assert_eq!(first["vendor"], "Dell Inc.");
    assert!(first["last_seen"].is_string() && first["os"].is_string());
    let vulnerable = "package:openssl version<3.0.7 and os.id=debian and not status=retired";
    assert_eq!(collector.hosts(vulnerable).await, ["web-01", "web-03"]);
    assert_eq!(
        collector.hosts("ip in 10.1.0.0/16").await,
        ["web-01", "web-02"]
    );
    assert_eq!(
        collector.hosts("hostname ~ \"web-*\"").await,
        ["web-01", "web-02", "web-03"]
    );
    assert_eq!(
        collector.hosts("memory.total_bytes >= 32GiB").await,
        ["web-01", "db-01"]
    );

    // Pages of one: every asset once, in order, and the last page says there is no more.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", "1")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let page = collector.json("/api/v1/assets", &query).await;
        paged.extend(strings(&page, "id"));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, ids);

    // A query that does not parse says where.
    let response = collector
        .get(
            &collector.auditor,
            "/api/v1/assets",
            &[("q", "memory.total_bytes <")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "invalid_query");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("at position 20") && message.ends_with("\n                    ^"),
        "{message}"
    );

    // Roles: no token, an auditor writing, an asset manager writing.
    let response = collector
        .http
        .get(collector.url("/api/v1/assets"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let web01 = &ids[0];
    let web03 = &ids[3];
    let edit = json!({"owner": "Smith, Jane", "asset_tag": "A-1001"});
    let response = collector
        .patch(&collector.auditor, web01, edit.clone())
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = collector.patch(&collector.manager, web01, edit).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = collector
        .patch(&collector.admin, web03, json!({"status": "retired"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(collector.hosts(vulnerable).await, ["web-01"]);
    assert_eq!(collector.hosts("owner = \"smith, jane\"").await, ["web-01"]);

    // A later report upgrades openssl on web-01 and leaves the managed fields alone.
    let before_upgrade = rfc3339(time::OffsetDateTime::now_utc());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut upgraded = inventory(&FLEET[0]);
    upgraded.software.packages[1].version = "3.0.13-1~deb12u1".into();
    assert_eq!(upgraded.software.packages[1].name, "openssl");
    agents[0].report(&collector, &upgraded).await;

    let asset = collector
        .json(&format!("/api/v1/assets/{web01}"), &[])
        .await;
    assert_eq!(asset["managed"]["owner"]["value"], "Smith, Jane");
    assert_eq!(asset["managed"]["owner"]["source"], "person");
    assert_eq!(asset["managed"]["owner"]["by"], "manager-bob");
    assert_eq!(asset["agents"].as_array().unwrap().len(), 1);
    assert!(asset["identity"].is_object());
    let openssl = |asset: &Value| {
        asset["inventory"]["software"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "openssl")
            .map(|p| p["version"].as_str().unwrap().to_string())
    };
    assert_eq!(openssl(&asset).as_deref(), Some("3.0.13-1~deb12u1"));
    assert!(collector.hosts(vulnerable).await.is_empty());

    let history = collector
        .json(
            &format!("/api/v1/assets/{web01}/history"),
            &[("kind", "package_upgraded")],
        )
        .await;
    let changes = &history["items"][0]["changes"];
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "package_upgraded"
                && c["name"] == "openssl"
                && c["from"] == "3.0.2-0ubuntu1"
                && c["to"] == "3.0.13-1~deb12u1"),
        "{changes}"
    );
    let past = collector
        .json(
            &format!("/api/v1/assets/{web01}"),
            &[("as_of", before_upgrade.as_str())],
        )
        .await;
    assert_eq!(openssl(&past).as_deref(), Some("3.0.2-0ubuntu1"));
    assert_eq!(past["as_of"], before_upgrade.as_str());
    let then = collector
        .json(
            "/api/v1/assets",
            &[
                ("q", "package:openssl version<3.0.7 hostname=web-01"),
                ("as_of", before_upgrade.as_str()),
            ],
        )
        .await;
    assert_eq!(strings(&then, "id"), std::slice::from_ref(web01));

    // The event feed, read two at a time, resumes without gaps or repeats.
    let everything = collector.json("/api/v1/events", &[("limit", "1000")]).await;
    let all_seqs = strings(&everything, "seq");
    assert!(all_seqs.len() >= 7, "{everything}");
    let mut resumed = Vec::new();
    let mut since = "0".to_string();
    loop {
        let page = collector
            .json("/api/v1/events", &[("since", &since), ("limit", "2")])
            .await;
        let seqs = strings(&page, "seq");
        since = page["next_cursor"].as_str().unwrap().to_string();
        if seqs.is_empty() {
            break;
        }
        resumed.extend(seqs);
    }
    assert_eq!(resumed, all_seqs);
    assert_eq!(since, *all_seqs.last().unwrap());
    let unique: BTreeSet<&String> = resumed.iter().collect();
    assert_eq!(unique.len(), resumed.len());

    // Exports: CSV with a header and quoting, JSON as one array.
    let response = collector
        .get(
            &collector.auditor,
            "/api/v1/assets/export",
            &[("q", "ip in 10.1.0.0/16"), ("format", "csv")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(
        lines[0],
        "id,hostname,serial,os,os_id,os_version,status,first_seen,last_seen,asset_tag,owner,location,vendor,product"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{web01},web-01,SRV-1,\"debian (test), \"\"1\"\"\",debian,,in_use,"
        )),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",A-1001,\"Smith, Jane\",,Dell Inc.,PowerEdge R650"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with(&format!("{},web-02,", ids[1])));
    let response = collector
        .get(
            &collector.auditor,
            "/api/v1/assets/export",
            &[("q", "hostname ~ \"web-*\""), ("format", "json")],
        )
        .await;
    let exported: Value = response.json().await.unwrap();
    let hosts: Vec<&str> = exported
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["web-01", "web-02", "web-03"]);

    // Conflicts: none open; resolving needs an editor and an existing conflict.
    let conflicts = collector
        .json("/api/v1/conflicts", &[("all", "true")])
        .await;
    assert_eq!(conflicts["items"], json!([]));
    let resolve = |token: &str| {
        collector
            .http
            .post(collector.url("/api/v1/conflicts/cf-000009/resolve"))
            .bearer_auth(token)
            .json(&json!({"action": "split"}))
            .send()
    };
    assert_eq!(
        resolve(&collector.auditor).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        resolve(&collector.manager).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let missing = collector
        .get(&collector.auditor, "/api/v1/assets/ci-999999", &[])
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    drop(agents);
    collector.server.shutdown().await;
}

//! The hostile-input table (issue 7), end to end: each row is a request built by hand and sent over
//! real TLS to a real collector (the HTTPS server on 127.0.0.1, sled on disk), with the status and
//! error code it must get. After every refused row the store must hold exactly what it held before.
//! The table is documented in `docs/hostile-inputs.md`; keep the two in step.
//!
//! Also here: idle keep-alive clients holding every connection slot must not lock a new client out.

mod common;

use census_collector::api::Limits;
use census_collector::auth::{self, Role};
use census_collector::cmdb::{SPACE_CI, SPACE_HISTORY};
use census_collector::enrollment::SPACE_AGENTS;
use census_collector::ingest::{SPACE_AGENT_REPORTS, SPACE_INVENTORIES};
use census_collector::pki::CertificateAuthority;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::Store;
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, SCHEMA_VERSION};
use census_shared::protocol::{PROTOCOL_VERSION, Report, ReportBody, ReportHeader};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: &str = "2026-11-27T03:00:00Z";
const SCRIPT_HOSTNAME: &str = "<script>alert(1)</script>";

/// One request of the table.
enum Request {
    /// `POST /api/v1/agent/report` as the enrolled agent.
    Report {
        content_type: &'static str,
        gzip: bool,
        body: Vec<u8>,
    },
    /// `GET` of an API path (query already encoded) with the admin token.
    Get(String),
}

struct Row {
    name: &'static str,
    request: Request,
    status: u16,
    /// The error code for refusals; `None` for accepted rows.
    code: Option<&'static str>,
    /// A fragment the error message must contain (the limit it names).
    message: Option<&'static str>,
}

fn refused(
    name: &'static str,
    request: Request,
    status: u16,
    code: &'static str,
    message: Option<&'static str>,
) -> Row {
    Row {
        name,
        request,
        status,
        code: Some(code),
        message,
    }
}

fn json_report(body: Vec<u8>) -> Request {
    Request::Report {
        content_type: "application/json",
        gzip: false,
        body,
    }
}

fn gzip_report(body: Vec<u8>) -> Request {
    Request::Report {
        content_type: "application/json",
        gzip: true,
        body,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn inventory(hostname: &str) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = NOW.into();
    inventory.host.hostname = Some(hostname.into());
    inventory.canonicalize();
    inventory
}

/// A full report of a machine called `hostname`, as JSON text.
fn report_json(seq: u64, hostname: &str) -> String {
    let inventory = inventory(hostname);
    let report = Report {
        protocol: PROTOCOL_VERSION,
        header: ReportHeader {
            epoch: 1,
            seq,
            report_id: format!("hostile-{seq}"),
            hash: content_hash(&inventory),
            collected_at: NOW.into(),
        },
        body: ReportBody::Full {
            inventory: Box::new(inventory),
        },
    };
    serde_json::to_string(&report).unwrap()
}

/// A million packages, compressed as they are generated: the document itself never exists in memory
/// here, and the collector must refuse it at the array limit while decompressing.
fn million_packages_gzip() -> Vec<u8> {
    let head = report_json(1, "many");
    let (before, after) = head
        .split_once(r#""packages":[]"#)
        .expect("an empty package list to fill");
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(before.as_bytes()).unwrap();
    encoder.write_all(br#""packages":["#).unwrap();
    for i in 0..1_000_000u32 {
        if i > 0 {
            encoder.write_all(b",").unwrap();
        }
        write!(
            encoder,
            r#"{{"manager":"dpkg","name":"package-{i:07}","version":"1.0.{i}-1","arch":"amd64"}}"#
        )
        .unwrap();
    }
    encoder.write_all(b"]").unwrap();
    encoder.write_all(after.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn table() -> Vec<Row> {
    let valid = report_json(1, "web-01");
    let with = |from: &str, to: &str| -> Vec<u8> {
        assert!(valid.contains(from), "{from} not in {valid}");
        valid.replacen(from, to, 1).into_bytes()
    };
    let mut invalid_utf8 = valid.clone().into_bytes();
    let at = valid.find("web-01").unwrap();
    invalid_utf8[at + 4] = 0xff;
    invalid_utf8[at + 5] = 0xfe;
    vec![
        refused(
            "huge string (1 MiB hostname)",
            json_report(report_json(1, &"h".repeat(1 << 20)).into_bytes()),
            422,
            "limit_exceeded",
            Some("longer than 4096 bytes"),
        ),
        refused(
            "deep nesting (100,000 arrays)",
            json_report(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()),
            422,
            "limit_exceeded",
            Some("deeper than 32"),
        ),
        refused(
            "10^6 packages, gzip, refused while decompressing",
            gzip_report(million_packages_gzip()),
            422,
            "limit_exceeded",
            Some("more than 100000 items"),
        ),
        refused(
            "invalid UTF-8 in a string",
            json_report(invalid_utf8),
            400,
            "invalid_json",
            None,
        ),
        refused(
            "raw NUL byte in a string",
            json_report(with("web-01", "web\u{0}01")),
            400,
            "invalid_json",
            None,
        ),
        refused(
            "escaped NUL (\\u0000) in a string",
            json_report(with("web-01", "web\\u000001")),
            422,
            "limit_exceeded",
            Some("NUL character"),
        ),
        refused(
            "duplicate JSON key",
            json_report(with("{", r#"{"protocol":1,"#)),
            422,
            "invalid_request",
            Some("duplicate field"),
        ),
        refused(
            "wrong type (seq as a string)",
            json_report(with(r#""seq":1"#, r#""seq":"one""#)),
            422,
            "invalid_request",
            None,
        ),
        refused(
            "package digests that are not base64 (known form)",
            json_report(with(
                r#""kind":"full""#,
                r#""kind":"known","known_packages":["<script>"]"#,
            )),
            422,
            "invalid_request",
            Some("not valid base64"),
        ),
        refused(
            "package digests cut inside a digest (known form)",
            json_report(with(
                r#""kind":"full""#,
                r#""kind":"known","known_packages":["AAECAw=="]"#,
            )),
            422,
            "invalid_request",
            Some("not a multiple of 6"),
        ),
        refused(
            "gzip bomb (100 MiB of zeros)",
            gzip_report(gzip(&vec![0u8; 100 << 20])),
            413,
            "payload_too_large",
            Some("once decompressed"),
        ),
        refused(
            "oversized body (9 MiB)",
            json_report(vec![b' '; 9 << 20]),
            413,
            "payload_too_large",
            Some("8388608 bytes"),
        ),
        refused(
            "wrong content type",
            Request::Report {
                content_type: "text/plain",
                gzip: false,
                body: valid.clone().into_bytes(),
            },
            415,
            "unsupported_media_type",
            None,
        ),
        refused(
            "path traversal in an asset id",
            Request::Get("/api/v1/assets/..%2F..%2F..%2Fetc%2Fpasswd".into()),
            404,
            "not_found",
            None,
        ),
        refused(
            "dot segments in an asset id",
            Request::Get("/api/v1/assets/%2e%2e/history".into()),
            404,
            "not_found",
            None,
        ),
        refused(
            "SQL injection as a query",
            Request::Get(format!(
                "/api/v1/assets?q={}",
                url_encoded("' OR 1=1; DROP TABLE assets; --")
            )),
            400,
            "invalid_query",
            None,
        ),
        Row {
            name: "SQL injection inside a quoted value (matches nothing)",
            request: Request::Get(format!(
                "/api/v1/assets?q={}",
                url_encoded(r#"hostname = "x' OR '1'='1""#)
            )),
            status: 200,
            code: None,
            message: None,
        },
        Row {
            name: "HTML/script in the hostname (stored as data)",
            request: json_report(report_json(2, SCRIPT_HOSTNAME).into_bytes()),
            status: 200,
            code: None,
            message: None,
        },
    ]
}

struct Collector {
    server: RunningServer,
    store: Arc<SledStore>,
    ca: CertificateAuthority,
}

impl Collector {
    async fn start(dir: &std::path::Path, limits: Limits) -> Collector {
        let ca = CertificateAuthority::generate("Census hostile-input CA").unwrap();
        let store = Arc::new(SledStore::open(&dir.join("db")).unwrap());
        let (server_cert_pem, server_key_pem) =
            ca.issue_server_certificate(&["127.0.0.1".into()]).unwrap();
        let server = server::bind(ServeSettings {
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
        })
        .await
        .unwrap();
        Collector { server, store, ca }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    /// Entry counts of every space a report writes to.
    fn written(&self) -> Vec<usize> {
        [
            SPACE_AGENTS,
            SPACE_AGENT_REPORTS,
            SPACE_INVENTORIES,
            SPACE_CI,
            SPACE_HISTORY,
        ]
        .iter()
        .map(|space| self.store.scan_prefix(space, b"").count())
        .collect()
    }
}

fn client(ca_pem: &str, identity_pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(60));
    if let Some(pem) = identity_pem {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_input_gets_its_documented_answer_and_refusals_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), Limits::default()).await;
    let anonymous = client(collector.ca.cert_pem(), None);
    let (_, identity) = common::enrolled_identity_pem(
        &anonymous,
        &collector.url("/api/v1/enroll"),
        collector.store.as_ref(),
    )
    .await;
    let agent = client(collector.ca.cert_pem(), Some(&identity));
    let admin = client(collector.ca.cert_pem(), None);
    let token = auth::create_token(collector.store.as_ref(), "admin", Role::Admin, None).unwrap();

    let mut failures = Vec::new();
    for row in table() {
        let before = collector.written();
        let started = Instant::now();
        let response = match row.request {
            Request::Report {
                content_type,
                gzip: compressed,
                body,
            } => {
                let mut request = agent
                    .post(collector.url("/api/v1/agent/report"))
                    .header("content-type", content_type);
                if compressed {
                    request = request.header("content-encoding", "gzip");
                }
                request.body(body).send().await
            }
            Request::Get(path) => {
                admin
                    .get(collector.url(&path))
                    .bearer_auth(&token)
                    .send()
                    .await
            }
        };
        let response = response.unwrap_or_else(|error| panic!("{}: {error}", row.name));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let nosniff = response
            .headers()
            .get("x-content-type-options")
            .is_some_and(|value| value == "nosniff");
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        eprintln!(
            "{:<55} {status} {} ({:?})",
            row.name,
            body["code"].as_str().unwrap_or("-"),
            started.elapsed()
        );
        if status != row.status || body["code"].as_str() != row.code {
            failures.push(format!(
                "{}: expected {} {:?}, got {status} {body}",
                row.name, row.status, row.code
            ));
        }
        if !content_type.starts_with("application/json") || !nosniff {
            failures.push(format!(
                "{}: answered as '{content_type}' (nosniff: {nosniff})",
                row.name
            ));
        }
        if let Some(fragment) = row.message {
            let message = body["message"].as_str().unwrap_or_default();
            if !message.contains(fragment) {
                failures.push(format!(
                    "{}: message '{message}' lacks '{fragment}'",
                    row.name
                ));
            }
        }
        if row.code.is_some() && collector.written() != before {
            failures.push(format!(
                "{}: a refused request wrote to the store ({before:?} → {:?})",
                row.name,
                collector.written()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The script hostname is data: stored as sent, returned inside JSON, never as markup.
    let response = admin
        .get(collector.url(&format!(
            "/api/v1/assets?q={}",
            url_encoded(&format!("hostname = \"{SCRIPT_HOSTNAME}\""))
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let page: serde_json::Value = response.json().await.unwrap();
    assert_eq!(page["items"][0]["hostname"], SCRIPT_HOSTNAME, "{page}");
    collector.server.shutdown().await;
}

/// Connection slots held by idle keep-alive clients go to a new client at once, not after the idle
/// timeout: with 2 slots, both held by clients that were served and now wait, a third client is
/// served within a second although the timeout is 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_make_room_for_a_new_client_when_every_slot_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections: 2,
        tls_handshake_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let collector = Collector::start(dir.path(), limits).await;
    let (server, ca) = (collector.server, collector.ca);
    let url = format!("https://127.0.0.1:{}/healthz", server.local_addr().port());
    // Each client has its own pool, so each holds its own connection, idle after its request.
    let idle: Vec<reqwest::Client> = (0..2).map(|_| client(ca.cert_pem(), None)).collect();
    for http in &idle {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    }
    let started = Instant::now();
    let newcomer = client(ca.cert_pem(), None);
    let response = tokio::time::timeout(Duration::from_secs(10), newcomer.get(&url).send())
        .await
        .expect("the new client was served before the 10 s test timeout")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served after {:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

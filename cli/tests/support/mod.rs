//! A real collector for the `census` tests: TLS on 127.0.0.1:0 with a fresh CA, sled in a temp dir,
//! API tokens for several roles, agents enrolled over HTTPS sending real reports. And a runner for the
//! real `census` binary that prints the command, stdout and stderr when an expectation fails.

use census_collector::api::Limits;
use census_collector::auth::{self, Role};
use census_collector::enrollment::tokens;
use census_collector::pki::CertificateAuthority;
use census_collector::server::{self, RunningServer, ServeSettings};
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Disk, Interface, Inventory, IpAddress, Package, SCHEMA_VERSION};
use census_shared::protocol::{
    EnrollRequest, EnrollResponse, PROTOCOL_VERSION, Report, ReportBody, ReportHeader,
};
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub struct Collector {
    pub dir: tempfile::TempDir,
    pub server: RunningServer,
    pub store: Arc<SledStore>,
    pub ca: Arc<CertificateAuthority>,
    pub http: reqwest::Client,
    /// The collector CA as a file, as users pass it to `--ca`.
    pub ca_file: PathBuf,
    pub admin: String,
    pub service_desk: String,
    pub approver: String,
}

/// An enrolled agent and its mTLS client.
pub struct Agent {
    pub id: String,
    http: reqwest::Client,
    seq: u64,
}

impl Collector {
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
        let token =
            |user: &str, role| auth::create_token(store.as_ref(), user, role, None).unwrap();
        let (admin, service_desk, approver) = (
            token("root", Role::Admin),
            token("desk-dave", Role::ServiceDesk),
            token("approver-alice", Role::Approver),
        );
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        let http = https(ca.cert_pem(), None);
        Self {
            dir,
            server,
            store,
            ca,
            http,
            ca_file,
            admin,
            service_desk,
            approver,
        }
    }

    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.local_addr().port())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// A GET as admin; the body's bytes (asserting success).
    pub async fn get_bytes(&self, path: &str, query: &[(&str, &str)]) -> Vec<u8> {
        let url = reqwest::Url::parse_with_params(&self.url(path), query).unwrap();
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().await.unwrap().to_vec()
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        serde_json::from_slice(&self.get_bytes(path, query).await).unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn enroll(&self) -> Agent {
        let (_, secret) =
            tokens::create(self.store.as_ref(), Duration::from_secs(60), 1, None).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["agent.example".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "agent");
        let request = EnrollRequest {
            token: secret,
            csr_pem: params.serialize_request(&key).unwrap().pem().unwrap(),
            hostname: None,
            agent_version: "0.1.0".into(),
        };
        let response = self
            .http
            .post(self.url("/api/v1/enroll"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "enroll: {}",
            response.status()
        );
        let answer: EnrollResponse = response.json().await.unwrap();
        let pem = format!("{}{}", answer.certificate_pem, key.serialize_pem());
        let http = https(self.ca.cert_pem(), Some(&pem));
        Agent {
            id: answer.agent_id,
            http,
            seq: 0,
        }
    }

    /// Sends `inventory` as a full report from `agent`.
    pub async fn report(&self, agent: &mut Agent, inventory: &Inventory) {
        agent.seq += 1;
        let report = Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq: agent.seq,
                report_id: format!("{}-{}", agent.id, agent.seq),
                hash: content_hash(inventory),
                collected_at: inventory.collected_at.clone(),
            },
            body: ReportBody::Full {
                inventory: Box::new(inventory.clone()),
            },
        };
        let response = agent
            .http
            .post(self.url("/api/v1/agent/report"))
            .json(&report)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "report: {}",
            response.status()
        );
    }

    /// A new agent reporting machine `n` named `host`; returns the agent and the CI id.
    pub async fn machine(&self, host: &str, n: u8, openssl: &str) -> (Agent, String) {
        let mut agent = self.enroll().await;
        self.report(&mut agent, &inventory(host, n, openssl)).await;
        let page = self
            .get("/api/v1/assets", &[("q", &format!("serial = SN-{n}"))])
            .await;
        let id = page["items"][0]["id"].as_str().unwrap().to_string();
        (agent, id)
    }

    /// A runner for the `census` binary with its own empty config directory and no `CENSUS_*`
    /// variables from the environment the tests run in.
    pub fn census(&self) -> Census {
        let config = tempfile::tempdir_in(self.dir.path()).unwrap();
        Census {
            config,
            env: Vec::new(),
        }
    }

    /// The environment that logs `census` in with `token` without a login file.
    pub fn session_env(&self, token: &str) -> Vec<(String, String)> {
        vec![
            ("CENSUS_COLLECTOR".into(), self.base()),
            ("CENSUS_CA".into(), self.ca_file.display().to_string()),
            ("CENSUS_TOKEN".into(), token.into()),
        ]
    }
}

/// An HTTPS client trusting only `ca_pem`, with a client certificate when given (agents).
fn https(ca_pem: &str, identity_pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()]);
    if let Some(pem) = identity_pem {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

pub fn inventory(host: &str, n: u8, openssl: &str) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    inventory.host.hostname = Some(host.into());
    inventory.host.machine_id = Some(format!("{n:032x}"));
    inventory.os.id = Some("debian".into());
    inventory.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.product = Some("PowerEdge R650".into());
    inventory.hardware.system.serial = Some(format!("SN-{n}"));
    inventory.hardware.cpu.model = Some("Intel(R) Xeon(R) Gold 6338".into());
    inventory.hardware.cpu.physical_cores = Some(32);
    inventory.hardware.memory.total_bytes = Some(64 << 30);
    inventory.hardware.disks = vec![Disk {
        name: "sda".into(),
        serial: Some(format!("DISK-{n}")),
        size_bytes: Some(480 << 30),
        ..Disk::default()
    }];
    inventory.network.interfaces = vec![Interface {
        name: "eno1".into(),
        mac: Some(format!("52:54:00:00:00:{n:02x}")),
        kind: Some("ethernet".into()),
        addresses: vec![IpAddress {
            address: format!("10.1.0.{n}"),
            prefix_len: 16,
            family: "inet".into(),
        }],
        ..Interface::default()
    }];
    inventory.software.packages = vec![Package {
        manager: "dpkg".into(),
        name: "openssl".into(),
        version: openssl.into(),
        arch: Some("amd64".into()),
        ..Package::default()
    }];
    inventory.canonicalize();
    inventory
}

/// The `census` binary with a private config directory.
pub struct Census {
    pub config: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// What one run of `census` did.
pub struct Run {
    pub line: String,
    pub code: Option<i32>,
    pub stdout_bytes: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.line, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code and returns self for further checks.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "{}", self.describe());
        self
    }

    pub fn ok(self) -> Self {
        self.expect(0)
    }

    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error})\n{}", self.describe()))
    }
}

impl Census {
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env.extend(env);
        self
    }

    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    /// Runs `census args...` with `stdin` piped in (empty when `None`), on the blocking pool so the
    /// in-process collector keeps serving.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>, extra_env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_census"));
        command
            .args(args)
            .env_remove("CENSUS_TOKEN")
            .env_remove("CENSUS_COLLECTOR")
            .env_remove("CENSUS_CA")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env("CENSUS_CONFIG_DIR", self.config.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let line = format!("census {}", args.join(" "));
        let input = stdin.unwrap_or("").to_string();
        let output = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = command.spawn().expect("the census binary runs");
            let mut pipe = child.stdin.take().unwrap();
            // The child may exit before reading (usage errors): a closed pipe is fine.
            let _ = pipe.write_all(input.as_bytes());
            drop(pipe);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        Run {
            line,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stdout_bytes: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

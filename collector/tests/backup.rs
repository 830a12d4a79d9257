//! Backup and restore through the real paths: an online backup from a serving collector (admin API),
//! a direct one from a stopped collector, restores into empty dirs that then serve the same CMDB, and
//! the refusals (tampered file, non-empty dir). Also the schema migration of an unstamped database.

mod common;

use census_collector::cmdb::{Cmdb, CmdbConfig};
use census_collector::commands::{backup, init};
use census_collector::datadir::DataDir;
use census_collector::enrollment::tokens;
use census_collector::ingest::Ingest;
use census_collector::server::RunningServer;
use census_collector::store::Store;
use census_collector::store::engine::Engine;
use census_collector::store::schema::{self, SCHEMA_VERSION};
use census_collector::store::sled::SledStore;
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, SCHEMA_VERSION as INVENTORY_SCHEMA};
use census_shared::protocol::{
    EnrollRequest, EnrollResponse, PROTOCOL_VERSION, Report, ReportBody, ReportHeader,
};
use rcgen::{CertificateParams, KeyPair};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Serving {
    server: RunningServer,
    store: Arc<dyn Store>,
    ca_pem: String,
}

/// Serves the data dir as `serve` does (including `collector.url`).
async fn serve(data_dir: &DataDir) -> Serving {
    let (server, store, ca_pem) = common::serve_data_dir(data_dir).await;
    Serving {
        server,
        store,
        ca_pem,
    }
}

impl Serving {
    fn url(&self, path: &str) -> String {
        format!(
            "https://127.0.0.1:{}{path}",
            self.server.local_addr().port()
        )
    }

    /// Enrolls an agent and has it report `inventory`; returns the agent id.
    async fn agent_reports(&self, inventory: &Inventory) -> String {
        let roots = [reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap()];
        let (_, secret) =
            tokens::create(self.store.as_ref(), Duration::from_secs(60), 1, None).unwrap();
        let key = KeyPair::generate().unwrap();
        let request = EnrollRequest {
            token: secret,
            csr_pem: CertificateParams::default()
                .serialize_request(&key)
                .unwrap()
                .pem()
                .unwrap(),
            hostname: Some("web-01".into()),
            agent_version: "0.1.0".into(),
        };
        let http = reqwest::Client::builder()
            .tls_certs_only(roots.clone())
            .build()
            .unwrap();
        let answer: EnrollResponse = http
            .post(self.url("/api/v1/enroll"))
            .json(&request)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let identity = format!("{}{}", answer.certificate_pem, key.serialize_pem());
        let http = reqwest::Client::builder()
            .tls_certs_only(roots)
            .identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap())
            .build()
            .unwrap();
        let report = Report {
            protocol: PROTOCOL_VERSION,
            header: ReportHeader {
                epoch: 1,
                seq: 1,
                report_id: "r-1".into(),
                hash: content_hash(inventory),
                collected_at: inventory.collected_at.clone(),
            },
            body: ReportBody::Full {
                inventory: Box::new(inventory.clone()),
            },
        };
        let response = http
            .post(self.url("/api/v1/agent/report"))
            .json(&report)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        answer.agent_id
    }
}

fn machine() -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = INVENTORY_SCHEMA;
    inventory.collected_at = "2026-11-26T12:00:00Z".into();
    inventory.host.hostname = Some("web-01".into());
    inventory.canonicalize();
    inventory
}

/// Restores `file` into a new dir kept by `engine`, serves it, and checks the agent's inventory and
/// CI are there.
async fn restore_and_check(
    file: &Path,
    (target, engine): (&Path, Engine),
    agent_id: &str,
    inventory: &Inventory,
) {
    let restored = DataDir::new(target);
    let header = backup::restore(file, &restored, engine).unwrap();
    assert_eq!(Engine::present(target), [engine]);
    for (name, mode) in [
        ("ca.key", 0o600),
        ("server.key", 0o600),
        ("admin.token", 0o600),
        ("ca.pem", 0o644),
    ] {
        let found = std::fs::metadata(target.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(found, mode, "{name}");
    }
    let serving = serve(&restored).await;
    assert!(serving.store.generate_id().unwrap() > header.next_id);
    let cmdb = Arc::new(Cmdb::open(serving.store.clone(), CmdbConfig::default()).unwrap());
    let stored = Ingest::with_cmdb(serving.store.clone(), Arc::clone(&cmdb))
        .inventory(agent_id)
        .unwrap();
    assert_eq!(stored.as_ref(), Some(inventory));
    assert!(cmdb.ci_of_agent(agent_id).unwrap().is_some());
    assert_eq!(
        schema::stored_version(serving.store.as_ref()).unwrap(),
        SCHEMA_VERSION
    );
    // A second agent reports on the restored collector: ids continue, the CA signs.
    let mut other = machine();
    other.host.hostname = Some("web-02".into());
    serving.agent_reports(&other).await;
    serving.server.shutdown().await;
}

#[tokio::test]
async fn online_and_offline_backups_restore_into_a_collector_that_serves_the_same_cmdb() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(work.path().join("data"));
    init::run(&data_dir, &[], Default::default()).unwrap();
    let inventory = machine();

    let serving = serve(&data_dir).await;
    let agent_id = serving.agent_reports(&inventory).await;
    let online = work.path().join("online.backup");
    let summary = backup::backup(&data_dir, &online).await.unwrap();
    assert!(summary.online);
    assert_eq!(
        std::fs::metadata(&online).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The output is never overwritten.
    assert!(backup::backup(&data_dir, &online).await.is_err());
    serving.server.shutdown().await;
    drop(serving.store);

    // Stopped: wait for the flusher thread to let go of the database, then back up directly.
    drop(common::open_when_free(&data_dir).await);
    let offline = work.path().join("offline.backup");
    let summary = backup::backup(&data_dir, &offline).await.unwrap();
    assert!(!summary.online);

    restore_and_check(
        &online,
        (&work.path().join("restored-online"), Engine::Sled),
        &agent_id,
        &inventory,
    )
    .await;
    restore_and_check(
        &offline,
        // The same backup moves the database to the other engine.
        (&work.path().join("restored-offline"), Engine::Redb),
        &agent_id,
        &inventory,
    )
    .await;

    // A non-empty data dir is refused and left as it was.
    let error = backup::restore(&offline, &data_dir, Engine::Sled).unwrap_err();
    assert!(format!("{error:#}").contains("not empty"), "{error:#}");

    // A damaged file is refused before anything is written.
    let mut bytes = std::fs::read(&offline).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let tampered = work.path().join("tampered.backup");
    std::fs::write(&tampered, &bytes).unwrap();
    let target = work.path().join("restored-tampered");
    let error = backup::restore(&tampered, &DataDir::new(&target), Engine::Redb).unwrap_err();
    assert!(format!("{error:#}").contains("damaged"), "{error:#}");
    assert!(!target.exists());
}

#[test]
fn an_unstamped_sled_database_is_stamped_at_startup_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = SledStore::open(&path).unwrap();
        store.put("agents", b"agt-1", b"{}").unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(&path).unwrap();
    assert_eq!(schema::stored_version(&store).unwrap(), 0);
    assert_eq!(schema::ensure_current(&store).unwrap(), 0);
    drop(store);
    let store = SledStore::open(&path).unwrap();
    assert_eq!(schema::stored_version(&store).unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.get("agents", b"agt-1").unwrap().as_deref(),
        Some(&b"{}"[..])
    );
}

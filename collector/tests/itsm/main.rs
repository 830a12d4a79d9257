//! The ITSM HTTP API through the real path: TLS on 127.0.0.1:0, sled in a temp dir, API tokens for every
//! role, and CIs created by real enrolled agents sending real reports over mTLS.

#[path = "../common/mod.rs"]
mod common;

use census_collector::auth::Role;
use census_shared::inventory::{Disk, Inventory, Package, SCHEMA_VERSION};
use census_shared::protocol::{ReportOutcome, ReportResponse};
use common::{ROLES, TestCollector};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The shared test collector, plus this file's call helpers.
struct Env(TestCollector);

impl std::ops::Deref for Env {
    type Target = TestCollector;
    fn deref(&self) -> &TestCollector {
        &self.0
    }
}

/// An enrolled agent and its mTLS client.
struct Agent {
    id: String,
    http: reqwest::Client,
    seq: u64,
}

impl Env {
    async fn start() -> Self {
        Self(TestCollector::start().await)
    }

    /// One API call as `role`; the status and the JSON answer.
    async fn call(
        &self,
        role: Role,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.0
            .call(Some(self.token(role)), method, path, body)
            .await
    }

    async fn ok(&self, role: Role, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(role, method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        value
    }

    async fn enroll(&self) -> Agent {
        let (id, http) = self.0.enroll().await;
        Agent { id, http, seq: 0 }
    }

    /// Sends `inventory` as a full report and returns the agent's CI id.
    async fn report(&self, agent: &mut Agent, inventory: &Inventory) -> String {
        agent.seq += 1;
        let response = self
            .0
            .report(&agent.http, &agent.id, agent.seq, inventory)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: ReportResponse = response.json().await.unwrap();
        assert_eq!(answer.outcome, ReportOutcome::Applied);
        self.ci_of(&agent.id)
    }

    /// A new agent reporting a machine named `host`; returns the agent and its CI.
    async fn machine(&self, host: &str) -> (Agent, String) {
        let mut agent = self.enroll().await;
        let ci = self.report(&mut agent, &inventory(host, "3.0.2")).await;
        (agent, ci)
    }
}

fn inventory(host: &str, openssl: &str) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = rfc3339(OffsetDateTime::now_utc());
    inventory.host.hostname = Some(host.into());
    inventory.host.machine_id = Some(format!("machine-id-of-{host}"));
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.product = Some("PowerEdge R650".into());
    inventory.hardware.system.serial = Some(format!("SN-{host}"));
    inventory.hardware.cpu.model = Some("Intel(R) Xeon(R) Gold 6338".into());
    inventory.hardware.cpu.physical_cores = Some(32);
    inventory.hardware.memory.total_bytes = Some(64 << 30);
    inventory.hardware.disks = vec![Disk {
        name: "sda".into(),
        serial: Some(format!("DISK-{host}")),
        size_bytes: Some(480 << 30),
        ..Disk::default()
    }];
    inventory.software.packages = vec![
        Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: openssl.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        },
        Package {
            manager: "dpkg".into(),
            name: "bash".into(),
            version: "5.2.21-2".into(),
            arch: Some("amd64".into()),
            ..Package::default()
        },
    ];
    inventory.canonicalize();
    inventory
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

/// A normal change on `ci` with both plans and a window from `start` to `end` minutes from now.
fn change_request(ci: &str, start: i64, end: i64) -> Value {
    let now = OffsetDateTime::now_utc();
    json!({
        "title": "upgrade openssl",
        "change_type": "normal",
        "risk": "moderate",
        "window": {
            "start": rfc3339(now + time::Duration::minutes(start)),
            "end": rfc3339(now + time::Duration::minutes(end)),
        },
        "implementation_plan": "apt-get install openssl",
        "backout_plan": "apt-get install openssl=3.0.2",
        "affected_cis": [ci],
    })
}

mod impact_and_flags;
mod incidents_and_changes;
mod roles;

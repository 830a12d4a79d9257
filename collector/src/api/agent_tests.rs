//! Agent endpoints: back-pressure (429, 503 on a full disk), list limits, protocol version, known form.

use super::*;
use crate::api::router;
use crate::enrollment::tokens;
use crate::pki::{CertificateAuthority, first_certificate_der};
use crate::store::intercepted::{Intercept, Intercepted};
use crate::store::memory::MemoryStore;
use crate::store::{Store, StoreError, StoreResult};
use axum::http::{Request, StatusCode, header};
use census_shared::hash::content_hash;
use census_shared::protocol::ReportHeader;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// A disk that is full: commits land in memory, flushes fail.
#[derive(Default)]
struct FullDiskFlush;

impl Intercept for FullDiskFlush {
    fn flush(&self, _: &dyn Store) -> StoreResult<()> {
        Err(StoreError::DiskFull)
    }
}

type FullDisk = Intercepted<MemoryStore, FullDiskFlush>;

/// State with one enrolled, active agent, and that agent's certificate.
fn enrolled(store: Arc<dyn Store>) -> (ApiState, ClientCertificate) {
    let ca = Arc::new(CertificateAuthority::generate("test").unwrap());
    let (_, secret) = tokens::create(store.as_ref(), Duration::from_secs(60), 1, None).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let request = EnrollRequest {
        token: secret,
        csr_pem: csr,
        hostname: None,
        agent_version: "0.1.0".into(),
    };
    let options = EnrollOptions {
        require_approval: false,
        cert_validity: Duration::from_secs(3600),
    };
    let (_, certificate) = agents::enroll(store.as_ref(), &ca, &request, options).unwrap();
    let der = first_certificate_der(&certificate.pem).unwrap();
    let cmdb = Arc::new(
        crate::cmdb::Cmdb::open(Arc::clone(&store), crate::cmdb::CmdbConfig::default()).unwrap(),
    );
    let state = ApiState::new(
        store,
        cmdb,
        ca,
        Limits::default(),
        false,
        Duration::from_secs(3600),
    );
    (state, ClientCertificate(Arc::new(der)))
}

async fn send_report(state: ApiState, certificate: ClientCertificate) -> axum::response::Response {
    let mut inventory = Inventory::default();
    inventory.schema_version = census_shared::SCHEMA_VERSION;
    inventory.collected_at = "2026-11-26T12:00:00Z".into();
    let report = Report {
        protocol: PROTOCOL_VERSION,
        header: ReportHeader {
            epoch: 1,
            seq: 1,
            report_id: "r-1".into(),
            hash: content_hash(&inventory),
            collected_at: inventory.collected_at.clone(),
        },
        body: ReportBody::Full {
            inventory: Box::new(inventory),
        },
    };
    let mut request = Request::post(census_shared::protocol::PATH_REPORT)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&report).unwrap()))
        .unwrap();
    request.extensions_mut().insert(certificate);
    router(state).oneshot(request).await.unwrap()
}

#[tokio::test]
async fn a_saturated_collector_answers_429_with_retry_after() {
    let (mut state, certificate) = enrolled(Arc::new(MemoryStore::new()));
    state.report_slots = Arc::new(tokio::sync::Semaphore::new(0));
    state.limits.report_queue_wait = Duration::from_millis(50);
    let response = send_report(state.clone(), certificate.clone()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    state.report_slots = Arc::new(tokio::sync::Semaphore::new(1));
    assert_eq!(
        send_report(state, certificate).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_report_waits_for_a_slot_freed_within_the_queue_wait() {
    let (mut state, certificate) = enrolled(Arc::new(MemoryStore::new()));
    let slots = Arc::new(tokio::sync::Semaphore::new(0));
    state.report_slots = Arc::clone(&slots);
    state.limits.report_queue_wait = Duration::from_secs(30);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        slots.add_permits(1);
    });
    assert_eq!(
        send_report(state, certificate).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_full_disk_answers_503_unavailable_with_retry_after() {
    let (state, certificate) = enrolled(Arc::new(FullDisk::default()));
    let response = send_report(state, certificate).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let error: census_shared::protocol::ApiErrorBody = serde_json::from_slice(&body).unwrap();
    assert_eq!(error.code, error_code::UNAVAILABLE);
}

#[test]
fn list_limits_name_the_list() {
    let limits = Limits {
        max_packages: 2,
        max_list_items: 1,
        ..Limits::default()
    };
    let mut inventory = Inventory::default();
    inventory.software.packages = vec![Default::default(); 2];
    check_inventory_lists(&inventory, &limits).unwrap();
    inventory.users = vec![Default::default(); 2];
    let error = check_inventory_lists(&inventory, &limits).unwrap_err();
    assert!(
        error.message.contains("users has 2 items; at most 1"),
        "{}",
        error.message
    );
    inventory.software.packages = vec![Default::default(); 3];
    let error = check_inventory_lists(&inventory, &limits).unwrap_err();
    assert!(
        error.message.contains("software.packages"),
        "{}",
        error.message
    );
}

#[test]
fn only_this_protocol_version_is_accepted() {
    check_protocol(PROTOCOL_VERSION).unwrap();
    let error = check_protocol(PROTOCOL_VERSION + 1).unwrap_err();
    assert_eq!(error.code, UNSUPPORTED_PROTOCOL);
}

#[test]
fn a_known_report_of_a_large_machine_passes_the_limits_and_its_digests_count_as_packages() {
    use census_shared::inventory::Package;
    let mut inventory = Inventory::default();
    inventory.software.packages = (0..2_000)
        .map(|i| Package {
            manager: "dpkg".into(),
            name: format!("package-{i:04}"),
            version: "1.0".into(),
            ..Package::default()
        })
        .collect();
    let body = census_shared::package_digest::known_form(&inventory, &[]).into_body();
    let report = Report {
        protocol: PROTOCOL_VERSION,
        header: ReportHeader {
            epoch: 1,
            seq: 1,
            report_id: "r-1".into(),
            hash: content_hash(&inventory),
            collected_at: "2026-11-27T12:00:00Z".into(),
        },
        body,
    };
    let bytes = serde_json::to_vec(&report).unwrap();
    // 2,000 digests are 16 KB of base64: split so that no string meets the 4 KiB string limit.
    let decoded = decode_report(&bytes, Encoding::Identity, &Limits::default()).unwrap();
    assert_eq!(decoded, report);

    let limits = Limits {
        max_packages: 1_999,
        ..Limits::default()
    };
    let error = decode_report(&bytes, Encoding::Identity, &limits).unwrap_err();
    assert_eq!(error.code, "limit_exceeded");
}

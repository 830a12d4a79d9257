//! Helpers shared by the collector's HTTP test binaries.

use census_collector::enrollment::tokens;
use census_collector::store::Store;
use census_shared::protocol::{EnrollRequest, EnrollResponse};
use rcgen::{CertificateParams, DnType, KeyPair};
use reqwest::StatusCode;
use std::time::Duration;

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

//! Enrollment and certificate renewal.
//!
//! Enrollment: the agent generates an ECDSA P-256 key pair locally, sends a CSR with the one-time token
//! (`POST /api/v1/enroll`, verified against the CA given with `--ca`), and stores key, certificate, both
//! CAs and its identity in the state directory. The private key never leaves the machine.
//!
//! Renewal: when less than a third of the certificate's validity remains, the agent generates a NEW key
//! pair and asks for a certificate over mutual TLS with its current one (`POST /api/v1/agent/renew`).
//! The new pair replaces the old only once the collector has answered.

use crate::state::{self, Enrollment, StateDir, StateError};
use crate::transport::{ClientOptions, HttpsClient, TransportError};
use census_shared::protocol::{AgentStatus, EnrollRequest, RenewRequest, error_code};
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(
        "enrollment token refused: it is expired, used up or revoked; ask your administrator for a new one"
    )]
    TokenRefused,
    #[error(
        "this state directory is already enrolled as {agent_id} with {collector_url}; pass --force to \
         enroll again (the old identity is replaced)"
    )]
    AlreadyEnrolled {
        agent_id: String,
        collector_url: String,
    },
    #[error("generating the agent's key pair: {0}")]
    Key(String),
    #[error("the agent's certificate in {path} is unreadable ({message}); enroll again")]
    BadCertificate { path: String, message: String },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// What enrollment needs, resolved from flags, environment and configuration.
#[derive(Debug, Clone)]
pub struct EnrollParams {
    pub collector_url: String,
    pub ca_pem: String,
    /// Where `ca_pem` came from, for messages.
    pub ca_source: String,
    pub token: String,
    pub hostname: Option<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Replace an existing enrollment.
    pub force: bool,
}

/// A fresh key and a CSR for it (PEM). The subject is a placeholder: the collector names the agent.
pub fn new_key_and_csr() -> Result<(String, String), EnrollError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|error| EnrollError::Key(error.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "census-agent");
    let csr = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|error| EnrollError::Key(error.to_string()))?;
    Ok((key.serialize_pem(), csr))
}

/// Enrolls: returns the new identity and the status the collector gave (active or pending approval).
pub async fn enroll(
    state: &StateDir,
    params: &EnrollParams,
) -> Result<(Enrollment, AgentStatus), EnrollError> {
    if !params.force
        && let Some(existing) = state.enrollment()?
    {
        return Err(EnrollError::AlreadyEnrolled {
            agent_id: existing.agent_id,
            collector_url: existing.collector_url,
        });
    }
    let client = HttpsClient::new(ClientOptions {
        collector_url: params.collector_url.clone(),
        ca_pem: params.ca_pem.clone(),
        ca_source: params.ca_source.clone(),
        identity: None,
        connect_timeout: params.connect_timeout,
        request_timeout: params.request_timeout,
    })?;
    let (key_pem, csr_pem) = new_key_and_csr()?;
    let request = EnrollRequest {
        token: params.token.clone(),
        csr_pem,
        hostname: params.hostname.clone(),
        agent_version: crate::reporter::AGENT_VERSION.to_string(),
    };
    let response = match client.enroll(&request).await {
        Ok(response) => response,
        Err(error) if error.code() == Some(error_code::INVALID_TOKEN) => {
            return Err(EnrollError::TokenRefused);
        }
        Err(error) => return Err(error.into()),
    };
    state.create()?;
    state.install_identity(&key_pem, &response.certificate_pem)?;
    state.write_file(state::CA_FILE, params.ca_pem.as_bytes(), 0o644)?;
    state.write_file(state::COLLECTOR_CA_FILE, response.ca_pem.as_bytes(), 0o644)?;
    let enrollment = Enrollment {
        agent_id: response.agent_id,
        collector_url: client.collector_url().to_string(),
        enrolled_at: crate::now_rfc3339(),
    };
    state.save_enrollment(&enrollment)?;
    // A new identity starts a fresh conversation: the old delta base belongs to another agent id.
    state.clear_acked()?;
    Ok((enrollment, response.status))
}

/// Validity of a PEM certificate: `(not_before, not_after)`.
pub fn certificate_validity(cert_pem: &str) -> Result<(OffsetDateTime, OffsetDateTime), String> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|error| error.to_string())?;
    let cert = pem.parse_x509().map_err(|error| error.to_string())?;
    let validity = cert.validity();
    Ok((
        validity.not_before.to_datetime(),
        validity.not_after.to_datetime(),
    ))
}

/// True when less than a third of the validity `[not_before, not_after]` remains at `now`.
pub fn renewal_due(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    let lifetime = not_after - not_before;
    not_after - now < lifetime / 3
}

/// Renews the client certificate when due. Returns the new expiry when it renewed.
pub async fn renew_if_due(
    state: &StateDir,
    client: &HttpsClient,
) -> Result<Option<OffsetDateTime>, EnrollError> {
    let cert_pem = state.read_pem(state::CERT_FILE)?;
    let (not_before, not_after) =
        certificate_validity(&cert_pem).map_err(|message| EnrollError::BadCertificate {
            path: state.path(state::CERT_FILE).display().to_string(),
            message,
        })?;
    if !renewal_due(not_before, not_after, OffsetDateTime::now_utc()) {
        return Ok(None);
    }
    tracing::info!(%not_after, "renewing the agent certificate");
    let (key_pem, csr_pem) = new_key_and_csr()?;
    let response = client.renew(&RenewRequest { csr_pem }).await?;
    state.install_identity(&key_pem, &response.certificate_pem)?;
    let (_, new_not_after) =
        certificate_validity(&response.certificate_pem).map_err(|message| {
            EnrollError::BadCertificate {
                path: "the renewed certificate".into(),
                message,
            }
        })?;
    Ok(Some(new_not_after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renewal_is_due_in_the_last_third_of_validity() {
        let from = datetime!(2026-01-01 0:00 UTC);
        let to = datetime!(2026-01-31 0:00 UTC);
        assert!(!renewal_due(from, to, datetime!(2026-01-15 0:00 UTC)));
        assert!(!renewal_due(from, to, datetime!(2026-01-21 0:00 UTC)));
        assert!(renewal_due(from, to, datetime!(2026-01-21 1:00 UTC)));
        assert!(renewal_due(from, to, datetime!(2026-02-15 0:00 UTC)));
    }

    #[test]
    fn a_generated_csr_is_p256_and_the_key_is_pem() {
        let (key_pem, csr_pem) = new_key_and_csr().unwrap();
        assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let csr = rcgen::CertificateSigningRequestParams::from_pem(&csr_pem).unwrap();
        assert_eq!(csr.public_key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
    }

    #[test]
    fn certificate_validity_reads_the_dates() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["agent".into()]).unwrap();
        params.not_before = datetime!(2026-01-01 0:00 UTC);
        params.not_after = datetime!(2026-04-01 0:00 UTC);
        let cert = params.self_signed(&key).unwrap();
        let (from, to) = certificate_validity(&cert.pem()).unwrap();
        assert_eq!(from, datetime!(2026-01-01 0:00 UTC));
        assert_eq!(to, datetime!(2026-04-01 0:00 UTC));
        assert!(certificate_validity("garbage").is_err());
    }
}

//! Agent records: the identities the collector issued, their status and current certificate.
//!
//! The agent id (`agt-` + 26 base32 characters = 128 random bits) is assigned here, never chosen by the
//! agent. A new agent starts `active`, or `pending` when the collector requires approval. Revocation
//! is checked by the HTTP layer on every request against this record (no cache), so it takes effect
//! on the agent's next request. So is the certificate: a renewal supersedes every earlier certificate
//! of the agent, except the one the renewal was requested with until the new one is first used.

use super::{EnrollmentError, SPACE_AGENTS, decode, encode, lock, tokens};
use crate::pki::{CertificateAuthority, IssuedCertificate};
use crate::secret::{random_id, rfc3339};
use crate::store::{Batch, Store};
use census_shared::protocol::{AgentStatus, EnrollRequest};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// Hostnames are informative; longer than a DNS name is certainly not one.
const MAX_HOSTNAME_BYTES: usize = 253;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub agent_id: String,
    pub status: AgentStatus,
    /// As the agent stated it at enrollment: informative, not an identity.
    pub hostname: Option<String>,
    pub agent_version: Option<String>,
    /// RFC 3339 UTC.
    pub enrolled_at: String,
    /// The id of the enrollment token used.
    pub token_id: String,
    /// Serial (hex) and expiry (RFC 3339) of the latest certificate issued.
    pub cert_serial: String,
    pub cert_not_after: String,
    /// The certificate a renewal was requested with, still accepted until the agent first uses the new
    /// one ([`confirm_current_certificate`]): an agent whose renewal answer was lost keeps working and
    /// renews again. Any other earlier certificate is refused: a renewal supersedes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cert_serial: Option<String>,
    /// RFC 3339 UTC of the last status change by an administrator.
    pub status_changed_at: Option<String>,
}

/// How new agents are admitted.
#[derive(Debug, Clone, Copy)]
pub struct EnrollOptions {
    /// New agents start `pending` and may not report until approved.
    pub require_approval: bool,
    pub cert_validity: Duration,
}

/// Enrolls an agent: consumes one use of the token, assigns an id, signs the CSR and stores the
/// record, all or nothing (a bad CSR does not consume the token).
pub fn enroll(
    store: &dyn Store,
    ca: &CertificateAuthority,
    request: &EnrollRequest,
    options: EnrollOptions,
) -> Result<(AgentRecord, IssuedCertificate), EnrollmentError> {
    if let Some(hostname) = &request.hostname
        && hostname.len() > MAX_HOSTNAME_BYTES
    {
        return Err(EnrollmentError::Invalid(format!(
            "hostname is {} bytes long; at most {MAX_HOSTNAME_BYTES} are accepted",
            hostname.len()
        )));
    }
    let _guard = lock();
    let now = OffsetDateTime::now_utc();
    let (token, mut batch) = tokens::consume_locked(store, &request.token, now)?;
    let agent_id = random_id::<16>("agt-");
    let certificate = ca.sign_agent_csr(&request.csr_pem, &agent_id, options.cert_validity)?;
    let record = AgentRecord {
        agent_id: agent_id.clone(),
        status: if options.require_approval {
            AgentStatus::Pending
        } else {
            AgentStatus::Active
        },
        hostname: request.hostname.clone(),
        agent_version: Some(request.agent_version.clone()),
        enrolled_at: rfc3339(now),
        token_id: token.id,
        cert_serial: certificate.serial_hex.clone(),
        cert_not_after: rfc3339(certificate.not_after),
        previous_cert_serial: None,
        status_changed_at: None,
    };
    batch.put(SPACE_AGENTS, agent_id.as_bytes(), encode(&record));
    store.commit(batch)?;
    Ok((record, certificate))
}

/// Issues a new certificate to an enrolled, unrevoked agent for the key in `csr_pem`. `presented_serial`
/// is the certificate the request came with: it stays accepted until the new one is first used.
pub fn renew(
    store: &dyn Store,
    ca: &CertificateAuthority,
    agent_id: &str,
    csr_pem: &str,
    validity: Duration,
    presented_serial: &str,
) -> Result<(AgentRecord, IssuedCertificate), EnrollmentError> {
    let _guard = lock();
    let mut record = get(store, agent_id)?
        .ok_or_else(|| EnrollmentError::AgentNotFound(agent_id.to_string()))?;
    if record.status == AgentStatus::Revoked {
        return Err(EnrollmentError::AgentRevoked(agent_id.to_string()));
    }
    let certificate = ca.sign_agent_csr(csr_pem, agent_id, validity)?;
    record.cert_serial.clone_from(&certificate.serial_hex);
    record.cert_not_after = rfc3339(certificate.not_after);
    record.previous_cert_serial = Some(presented_serial.to_string());
    let mut batch = Batch::new();
    batch.put(SPACE_AGENTS, agent_id.as_bytes(), encode(&record));
    store.commit(batch)?;
    Ok((record, certificate))
}

/// Whether a certificate with serial `serial` may act for the agent of `record`: its current one, or
/// the one it renewed from while the new one has not been used yet.
pub fn accepts_certificate(record: &AgentRecord, serial: &str) -> bool {
    record.cert_serial == serial || record.previous_cert_serial.as_deref() == Some(serial)
}

/// The agent used its current certificate: the one it renewed from is refused from now on.
pub fn confirm_current_certificate(
    store: &dyn Store,
    agent_id: &str,
    serial: &str,
) -> Result<(), EnrollmentError> {
    let _guard = lock();
    let Some(mut record) = get(store, agent_id)? else {
        return Ok(());
    };
    if record.cert_serial != serial || record.previous_cert_serial.is_none() {
        return Ok(());
    }
    record.previous_cert_serial = None;
    let mut batch = Batch::new();
    batch.put(SPACE_AGENTS, agent_id.as_bytes(), encode(&record));
    store.commit(batch)?;
    Ok(())
}

pub fn get(store: &dyn Store, agent_id: &str) -> Result<Option<AgentRecord>, EnrollmentError> {
    match store.get(SPACE_AGENTS, agent_id.as_bytes())? {
        Some(bytes) => decode(agent_id, &bytes).map(Some),
        None => Ok(None),
    }
}

pub fn list(store: &dyn Store) -> Result<Vec<AgentRecord>, EnrollmentError> {
    store
        .scan_prefix(SPACE_AGENTS, b"")
        .map(|entry| {
            let (key, value) = entry?;
            decode(&String::from_utf8_lossy(&key), &value)
        })
        .collect()
}

/// Lets a pending agent report. A revoked agent cannot be approved: it must enroll again.
pub fn approve(store: &dyn Store, agent_id: &str) -> Result<AgentRecord, EnrollmentError> {
    set_status(store, agent_id, AgentStatus::Active)
}

/// Refuses the agent's certificate from its next request on.
pub fn revoke(store: &dyn Store, agent_id: &str) -> Result<AgentRecord, EnrollmentError> {
    set_status(store, agent_id, AgentStatus::Revoked)
}

fn set_status(
    store: &dyn Store,
    agent_id: &str,
    status: AgentStatus,
) -> Result<AgentRecord, EnrollmentError> {
    let _guard = lock();
    let mut record = get(store, agent_id)?
        .ok_or_else(|| EnrollmentError::AgentNotFound(agent_id.to_string()))?;
    if record.status == AgentStatus::Revoked && status != AgentStatus::Revoked {
        return Err(EnrollmentError::AgentRevoked(agent_id.to_string()));
    }
    if record.status != status {
        record.status = status;
        record.status_changed_at = Some(rfc3339(OffsetDateTime::now_utc()));
        store.put(SPACE_AGENTS, agent_id.as_bytes(), &encode(&record))?;
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use rcgen::{CertificateParams, KeyPair};

    fn request(token: &str) -> EnrollRequest {
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap();
        EnrollRequest {
            token: token.into(),
            csr_pem: csr.pem().unwrap(),
            hostname: Some("web-01".into()),
            agent_version: "0.1.0".into(),
        }
    }

    const OPTIONS: EnrollOptions = EnrollOptions {
        require_approval: true,
        cert_validity: Duration::from_secs(3600),
    };

    #[test]
    fn enrolling_creates_a_pending_agent_that_can_be_approved_then_revoked() {
        let store = MemoryStore::new();
        let ca = CertificateAuthority::generate("test").unwrap();
        let (token, secret) = tokens::create(&store, Duration::from_secs(60), 1, None).unwrap();
        let (record, certificate) = enroll(&store, &ca, &request(&secret), OPTIONS).unwrap();
        assert!(record.agent_id.starts_with("agt-") && record.agent_id.len() == 30);
        assert_eq!(record.status, AgentStatus::Pending);
        assert_eq!(record.token_id, token.id);
        assert_eq!(record.cert_serial, certificate.serial_hex);
        assert_eq!(list(&store).unwrap(), std::slice::from_ref(&record));

        assert_eq!(
            approve(&store, &record.agent_id).unwrap().status,
            AgentStatus::Active
        );
        assert_eq!(
            revoke(&store, &record.agent_id).unwrap().status,
            AgentStatus::Revoked
        );
        let error = approve(&store, &record.agent_id).unwrap_err();
        assert!(matches!(error, EnrollmentError::AgentRevoked(_)), "{error}");
        let error = renew(
            &store,
            &ca,
            &record.agent_id,
            &request("").csr_pem,
            OPTIONS.cert_validity,
            &record.cert_serial,
        )
        .unwrap_err();
        assert!(matches!(error, EnrollmentError::AgentRevoked(_)), "{error}");
    }

    #[test]
    fn a_bad_csr_does_not_consume_the_token() {
        let store = MemoryStore::new();
        let ca = CertificateAuthority::generate("test").unwrap();
        let (token, secret) = tokens::create(&store, Duration::from_secs(60), 1, None).unwrap();
        let mut bad = request(&secret);
        bad.csr_pem =
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".into();
        let error = enroll(&store, &ca, &bad, OPTIONS).unwrap_err();
        assert!(matches!(error, EnrollmentError::Certificate(_)), "{error}");
        assert_eq!(tokens::get(&store, &token.id).unwrap().uses, 0);
        assert!(list(&store).unwrap().is_empty());
        enroll(&store, &ca, &request(&secret), OPTIONS).unwrap();
    }

    #[test]
    fn renewing_records_the_new_certificate() {
        let store = MemoryStore::new();
        let ca = CertificateAuthority::generate("test").unwrap();
        let (_, secret) = tokens::create(&store, Duration::from_secs(60), 1, None).unwrap();
        let (record, _) = enroll(&store, &ca, &request(&secret), OPTIONS).unwrap();
        let (renewed, certificate) = renew(
            &store,
            &ca,
            &record.agent_id,
            &request("").csr_pem,
            OPTIONS.cert_validity,
            &record.cert_serial,
        )
        .unwrap();
        assert_eq!(renewed.cert_serial, certificate.serial_hex);
        assert_ne!(renewed.cert_serial, record.cert_serial);
        assert_eq!(get(&store, &record.agent_id).unwrap().unwrap(), renewed);
    }

    #[test]
    fn the_certificate_renewed_from_works_until_the_new_one_is_used() {
        let store = MemoryStore::new();
        let ca = CertificateAuthority::generate("test").unwrap();
        let (_, secret) = tokens::create(&store, Duration::from_secs(60), 1, None).unwrap();
        let (first, _) = enroll(&store, &ca, &request(&secret), OPTIONS).unwrap();
        let renew_with = |presented: &str| {
            renew(
                &store,
                &ca,
                &first.agent_id,
                &request("").csr_pem,
                OPTIONS.cert_validity,
                presented,
            )
            .unwrap()
            .0
        };
        // The answer to this renewal is lost: the agent still holds the first certificate.
        let lost = renew_with(&first.cert_serial);
        assert!(accepts_certificate(&lost, &first.cert_serial));
        assert!(accepts_certificate(&lost, &lost.cert_serial));
        // It renews again with the first one; the lost certificate is superseded at once.
        let second = renew_with(&first.cert_serial);
        assert!(accepts_certificate(&second, &first.cert_serial));
        assert!(!accepts_certificate(&second, &lost.cert_serial));
        // Once the agent uses its new certificate, the first one is refused too.
        confirm_current_certificate(&store, &first.agent_id, &second.cert_serial).unwrap();
        let confirmed = get(&store, &first.agent_id).unwrap().unwrap();
        assert!(accepts_certificate(&confirmed, &second.cert_serial));
        assert!(!accepts_certificate(&confirmed, &first.cert_serial));
        assert_eq!(confirmed.previous_cert_serial, None);
    }
}

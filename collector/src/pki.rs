//! The collector's own certificate authority: it signs the collector's server certificate and every
//! agent's client certificate.
//!
//! Agents enroll by sending a PKCS#10 request for a key they generated; [`CertificateAuthority::sign_agent_csr`]
//! takes only the public key from it. Subject, SANs and requested extensions are ignored: the issued
//! certificate names the server-assigned agent id (CN) and allows client authentication only, so an
//! agent cannot obtain a certificate for another agent or a server certificate.
//!
//! Keys are ECDSA P-256. Accepted agent keys: ECDSA P-256/P-384 and Ed25519 (RSA is refused: agents
//! generate their key with this project's code, and keeping one family keeps the TLS surface small).
//!
//! Limitation: no CRL or OCSP; revocation is enforced by the collector itself on every request (the
//! agent record's status), and agent certificates are short-lived.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SubjectPublicKeyInfo,
};
use std::net::IpAddr;
use std::time::Duration;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

/// CA certificates live long: replacing the CA means re-enrolling every agent.
const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// The server certificate is re-issued by `init`/upgrade; two years keeps clients' rules happy.
const SERVER_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Tolerate clocks a little behind the collector's.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// The default life of an agent certificate; agents renew well before.
pub const DEFAULT_AGENT_CERT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating a key failed: {0}")]
    KeyGeneration(String),
    #[error("the CA private key is not a readable PEM key: {0}")]
    CaKey(String),
    #[error("the CA certificate is not a readable PEM certificate: {0}")]
    CaCertificate(String),
    #[error("the CA certificate does not match the CA private key")]
    CaKeyMismatch,
    #[error("'{0}' is not a valid DNS name or IP address for the server certificate")]
    ServerName(String),
    #[error("the certificate request is not a PEM PKCS#10 request: {0}")]
    CsrParse(String),
    #[error(
        "the certificate request's signature does not verify (the request was altered or is not signed by its key)"
    )]
    CsrSignature,
    #[error("the certificate request's key type is not supported: {0}; use an ECDSA P-256 key")]
    UnsupportedKey(String),
    #[error("signing the certificate failed: {0}")]
    Signing(String),
}

pub type Result<T, E = PkiError> = std::result::Result<T, E>;

/// A certificate issued to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub pem: String,
    /// Lowercase hex of the serial number.
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

pub struct CertificateAuthority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed CA named `name` (its CN).
    pub fn generate(name: &str) -> Result<Self> {
        let key =
            KeyPair::generate().map_err(|error| PkiError::KeyGeneration(error.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial().0);
        let cert = params
            .self_signed(&key)
            .map_err(|error| PkiError::Signing(error.to_string()))?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();
        Self::from_pem(&cert_pem, &key_pem)
    }

    /// Loads a CA written earlier by [`Self::cert_pem`] and [`Self::key_pem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pem(key_pem).map_err(|error| PkiError::CaKey(error.to_string()))?;
        let der = first_certificate_der(cert_pem).map_err(PkiError::CaCertificate)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|error| PkiError::CaCertificate(error.to_string()))?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(PkiError::CaKeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&der.into(), key)
            .map_err(|error| PkiError::CaCertificate(error.to_string()))?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM PKCS#8. Store it with mode 0600.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A server certificate for `names` (DNS names and IP addresses), with a fresh key.
    /// Returns `(certificate PEM, private key PEM)`.
    pub fn issue_server_certificate(&self, names: &[String]) -> Result<(String, String)> {
        let key =
            KeyPair::generate().map_err(|error| PkiError::KeyGeneration(error.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let common_name = names
            .first()
            .map(String::as_str)
            .unwrap_or("census-collector");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for name in names {
            let san = match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    name.clone()
                        .try_into()
                        .map_err(|_| PkiError::ServerName(name.clone()))?,
                ),
            };
            params.subject_alt_names.push(san);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + SERVER_VALIDITY;
        params.serial_number = Some(random_serial().0);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|error| PkiError::Signing(error.to_string()))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Signs an agent's CSR: only its public key is used (after checking the request's signature).
    pub fn sign_agent_csr(
        &self,
        csr_pem: &str,
        agent_id: &str,
        validity: Duration,
    ) -> Result<IssuedCertificate> {
        let now = OffsetDateTime::now_utc();
        self.sign_agent_csr_between(csr_pem, agent_id, now - BACKDATE, now + validity)
    }

    /// As [`Self::sign_agent_csr`] with an explicit validity period (tests issue expired certificates).
    pub fn sign_agent_csr_between(
        &self,
        csr_pem: &str,
        agent_id: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<IssuedCertificate> {
        let public_key = verified_csr_public_key(csr_pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, agent_id);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        // X.509 times have second precision; keep the returned values equal to what is encoded.
        let not_before = not_before.replace_nanosecond(0).unwrap_or(not_before);
        let not_after = not_after.replace_nanosecond(0).unwrap_or(not_after);
        params.not_before = not_before;
        params.not_after = not_after;
        let (serial, serial_hex) = random_serial();
        params.serial_number = Some(serial);
        let cert = params
            .signed_by(&public_key, &self.issuer)
            .map_err(|error| PkiError::Signing(error.to_string()))?;
        Ok(IssuedCertificate {
            pem: cert.pem(),
            serial_hex,
            not_before,
            not_after,
        })
    }
}

/// Parses a CSR, checks its self-signature and returns its public key if the key type is accepted.
fn verified_csr_public_key(csr_pem: &str) -> Result<SubjectPublicKeyInfo> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem.as_bytes())
        .map_err(|error| PkiError::CsrParse(error.to_string()))?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(PkiError::CsrParse(format!(
            "found a PEM '{}' block, expected 'CERTIFICATE REQUEST'",
            pem.label
        )));
    }
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
            .map_err(|error| PkiError::CsrParse(error.to_string()))?;
    csr.verify_signature().map_err(|_| PkiError::CsrSignature)?;
    let spki = SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
        .map_err(|error| PkiError::UnsupportedKey(error.to_string()))?;
    let algorithm = spki.algorithm();
    let accepted = [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ];
    if !accepted.contains(&algorithm) {
        return Err(PkiError::UnsupportedKey(format!("{algorithm:?}")));
    }
    Ok(spki)
}

/// 16 random bytes, positive (top bit clear) and without a leading zero byte, as RFC 5280 asks.
fn random_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    (SerialNumber::from_slice(&bytes), hex::encode(bytes))
}

/// The DER of the first certificate in `pem`.
pub fn first_certificate_der(pem: &str) -> std::result::Result<Vec<u8>, String> {
    for item in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let item = item.map_err(|error| error.to_string())?;
        if item.label == "CERTIFICATE" {
            return Ok(item.contents);
        }
    }
    Err("no 'CERTIFICATE' block found".to_string())
}

/// The identity fields the collector reads from a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    pub common_name: Option<String>,
    pub serial_hex: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Reads the CN, serial and validity of a DER certificate.
pub fn certificate_identity(der: &[u8]) -> std::result::Result<CertificateIdentity, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|error| error.to_string())?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    Ok(CertificateIdentity {
        common_name,
        serial_hex: hex::encode(cert.raw_serial()),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(common_name: &str) -> (KeyPair, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let csr = params.serialize_request(&key).unwrap();
        (key, csr.pem().unwrap())
    }

    #[test]
    fn an_agent_certificate_names_the_assigned_id_whatever_the_request_asks() {
        let ca = CertificateAuthority::generate("Census test CA").unwrap();
        let (_, csr_pem) = csr("agt-someone-else");
        let issued = ca
            .sign_agent_csr(&csr_pem, "agt-mine", DEFAULT_AGENT_CERT_VALIDITY)
            .unwrap();
        let der = first_certificate_der(&issued.pem).unwrap();
        let identity = certificate_identity(&der).unwrap();
        assert_eq!(identity.common_name.as_deref(), Some("agt-mine"));
        assert_eq!(identity.serial_hex, issued.serial_hex);
        assert_eq!(identity.not_after, issued.not_after);

        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth && !eku.any);
        assert!(cert.subject_alternative_name().unwrap().is_none());
        assert!(!cert.is_ca());
        let ca_der = first_certificate_der(ca.cert_pem()).unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
    }

    #[test]
    fn a_tampered_request_is_refused() {
        let ca = CertificateAuthority::generate("Census test CA").unwrap();
        let (_, csr_pem) = csr("agt-x");
        let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem.as_bytes()).unwrap();
        let mut der = pem.contents.clone();
        // Flip a bit inside the subject: the signature no longer covers these bytes.
        let position = der
            .windows(5)
            .position(|window| window == b"agt-x")
            .unwrap();
        der[position + 4] = b'y';
        let tampered = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der)
        );
        let error = ca
            .sign_agent_csr(&tampered, "agt-1", DEFAULT_AGENT_CERT_VALIDITY)
            .unwrap_err();
        assert!(matches!(error, PkiError::CsrSignature), "{error}");
        let error = ca
            .sign_agent_csr("not a csr", "agt-1", DEFAULT_AGENT_CERT_VALIDITY)
            .unwrap_err();
        assert!(matches!(error, PkiError::CsrParse(_)), "{error}");
    }

    #[test]
    fn a_ca_reloaded_from_pem_signs_verifiable_server_certificates() {
        let generated = CertificateAuthority::generate("Census test CA").unwrap();
        let ca = CertificateAuthority::from_pem(generated.cert_pem(), generated.key_pem()).unwrap();
        let (cert_pem, key_pem) = ca
            .issue_server_certificate(&["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        assert!(key_pem.contains("PRIVATE KEY"));
        let der = first_certificate_der(&cert_pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(sans.value.general_names.len(), 2);

        let other = CertificateAuthority::generate("Other").unwrap();
        let error =
            CertificateAuthority::from_pem(generated.cert_pem(), other.key_pem()).unwrap_err();
        assert!(matches!(error, PkiError::CaKeyMismatch), "{error}");
    }

    #[test]
    fn serials_are_random_and_positive() {
        let (_, a) = random_serial();
        let (_, b) = random_serial();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(u8::from_str_radix(&a[..2], 16).unwrap() < 0x80);
    }
}

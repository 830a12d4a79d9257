//! TLS for the collector: the rustls server configuration and the client-certificate policy.
//!
//! - TLS 1.2 and 1.3 only, ALPN `h2` then `http/1.1`, the aws-lc-rs provider.
//! - Client certificates are *optional* at the TLS layer (an enrolling agent has none yet) and, when
//!   presented, must chain to the collector CA with the clientAuth usage; a certificate from any
//!   other CA fails the handshake.
//! - The validity period is deliberately left to the application: [`AppValidityVerifier`] checks the
//!   chain and signatures as of a moment inside the certificate's own validity, so an expired agent
//!   certificate completes the handshake and the agent gets a readable HTTP 401 ("certificate expired
//!   on …; enroll again") instead of an opaque TLS alert.
//!
//! **Invariant**: a [`ClientCertificate`] in a request's extensions has a verified chain but may be
//! expired; the only code that turns it into an agent identity (`api::agent`) refuses expired and
//! not-yet-valid certificates, and checks the agent record on every request.

use crate::pki::certificate_identity;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::sync::Arc;
use std::time::Duration;

/// The peer's end-entity certificate (DER), inserted into each request's extensions by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub Arc<Vec<u8>>);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the {what} PEM holds no usable certificate: {message}")]
    Certificate { what: &'static str, message: String },
    #[error("the server private key PEM is not usable: {0}")]
    PrivateKey(String),
    #[error("building the TLS configuration failed: {0}")]
    Config(String),
}

/// The rustls configuration for the collector's HTTPS port.
pub fn server_config(
    ca_pem: &str,
    server_cert_pem: &str,
    server_key_pem: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in certificates("CA", ca_pem)? {
        roots.add(ca).map_err(|error| TlsError::Certificate {
            what: "CA",
            message: error.to_string(),
        })?;
    }
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .allow_unauthenticated()
        .build()
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let verifier = Arc::new(AppValidityVerifier { inner });
    let chain = certificates("server certificate", server_cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(server_key_pem.as_bytes())
        .map_err(|error| TlsError::PrivateKey(error.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::Config(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn certificates(what: &'static str, pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Certificate {
            what,
            message: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Certificate {
            what,
            message: "no 'CERTIFICATE' block found".into(),
        });
    }
    Ok(certificates)
}

/// Verifies client chains as of a moment within the end-entity certificate's validity period; see the
/// module documentation for why.
#[derive(Debug)]
pub struct AppValidityVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for AppValidityVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let at = match certificate_identity(end_entity) {
            Ok(identity) => {
                let now_secs = now.as_secs() as i64;
                let not_before = identity.not_before.unix_timestamp();
                let not_after = identity.not_after.unix_timestamp();
                if now_secs > not_after {
                    UnixTime::since_unix_epoch(Duration::from_secs(not_after.max(0) as u64))
                } else if now_secs < not_before {
                    UnixTime::since_unix_epoch(Duration::from_secs(not_before.max(0) as u64))
                } else {
                    now
                }
            }
            // Unparseable: let webpki refuse it with its own error.
            Err(_) => now,
        };
        self.inner.verify_client_cert(end_entity, intermediates, at)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The provider the collector uses, for callers that build clients in tests.
pub fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertificateAuthority, first_certificate_der};
    use rcgen::{CertificateParams, KeyPair};

    fn agent_cert(ca: &CertificateAuthority, not_after_offset: time::Duration) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let issued = ca
            .sign_agent_csr_between(
                &csr,
                "agt-test",
                now - time::Duration::days(60),
                now + not_after_offset,
            )
            .unwrap();
        first_certificate_der(&issued.pem).unwrap()
    }

    fn verifier(ca: &CertificateAuthority) -> AppValidityVerifier {
        let mut roots = RootCertStore::empty();
        roots
            .add(first_certificate_der(ca.cert_pem()).unwrap().into())
            .unwrap();
        let inner =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider()))
                .allow_unauthenticated()
                .build()
                .unwrap();
        AppValidityVerifier { inner }
    }

    #[test]
    fn expired_certificates_of_our_ca_pass_the_handshake_but_other_cas_do_not() {
        let ca = CertificateAuthority::generate("ours").unwrap();
        let other = CertificateAuthority::generate("theirs").unwrap();
        let verifier = verifier(&ca);
        assert!(!verifier.client_auth_mandatory());
        let expired = agent_cert(&ca, -time::Duration::days(1));
        verifier
            .verify_client_cert(&expired.into(), &[], UnixTime::now())
            .unwrap();
        let valid = agent_cert(&ca, time::Duration::days(1));
        verifier
            .verify_client_cert(&valid.into(), &[], UnixTime::now())
            .unwrap();
        let foreign = agent_cert(&other, time::Duration::days(1));
        let error = verifier
            .verify_client_cert(&foreign.into(), &[], UnixTime::now())
            .unwrap_err();
        assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    }

    #[test]
    fn a_server_config_offers_h2_and_http1() {
        let ca = CertificateAuthority::generate("ours").unwrap();
        let (cert, key) = ca.issue_server_certificate(&["localhost".into()]).unwrap();
        let config = server_config(ca.cert_pem(), &cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let error = server_config("garbage", &cert, &key).unwrap_err();
        assert!(error.to_string().contains("CA"), "{error}");
    }
}

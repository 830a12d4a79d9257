//! Graceful shutdown: a request already in flight when the collector is told to stop is finished and
//! answered, then the server stops.

use census_collector::enrollment::tokens;
use census_collector::pki::CertificateAuthority;
use census_collector::server::{self, ServeSettings};
use census_collector::store::sled::SledStore;
use census_shared::protocol::EnrollRequest;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_shutdown_is_answered_before_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let (server_cert_pem, server_key_pem) =
        ca.issue_server_certificate(&["127.0.0.1".into()]).unwrap();
    let (_, token) = tokens::create(store.as_ref(), Duration::from_secs(60), 1, None).unwrap();
    let running = server::bind(ServeSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        ca_pem: ca.cert_pem().into(),
        ca_key_pem: ca.key_pem().into(),
        server_cert_pem,
        server_key_pem,
        store: store.clone(),
        limits: Default::default(),
        require_approval: false,
        agent_cert_validity: Duration::from_secs(3600),
        shutdown_grace: Duration::from_secs(10),
        stale_after: census_collector::config::DEFAULT_STALE_AFTER,
        commit_delay: census_collector::config::DEFAULT_COMMIT_DELAY,
    })
    .await
    .unwrap();
    let address = running.local_addr();

    // A TLS connection that sends an enrollment request in two halves, with the shutdown in between.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();

    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    let body = serde_json::to_vec(&EnrollRequest {
        token,
        csr_pem: csr.pem().unwrap(),
        hostname: Some("web-01".into()),
        agent_version: "test".into(),
    })
    .unwrap();
    let head = format!(
        "POST /api/v1/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    tls.write_all(&body[..half]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "the server must wait for the request in flight"
    );

    tls.write_all(&body[half..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("certificate_pem"), "{answer}");

    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops")
        .unwrap();
    // A new connection is refused once it has stopped.
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}

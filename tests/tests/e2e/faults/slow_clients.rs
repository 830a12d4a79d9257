//! Slow and idle clients against the real collector, with short limits from its config file
//! (`[limits] handshake_timeout`, `max_connections`): a TLS handshake sent one byte a second, request
//! headers sent one byte at a time after a completed handshake, and a flood of idle connections above
//! the connection limit. Each is cut off by a timeout, and an ordinary client is still served.

use census_tests::CollectorProcess;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The limits under test, short so the test is quick.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_CONNECTIONS: usize = 16;
/// A connection is cut off at most this long after the timeout that should cut it off. The TLS
/// handshake is bounded twice (the first byte, then the handshake), hence two timeouts plus slack.
const CUT_OFF_WITHIN: Duration = Duration::from_secs(4);

fn collector(dir: &std::path::Path) -> CollectorProcess {
    collector_with(
        dir,
        &format!(
            "handshake_timeout = \"{}s\"\nmax_connections = {MAX_CONNECTIONS}\n",
            HANDSHAKE_TIMEOUT.as_secs()
        ),
    )
}

/// A collector whose config file has `limits` as its `[limits]` section.
fn collector_with(dir: &std::path::Path, limits: &str) -> CollectorProcess {
    let data = dir.join("data");
    let config = dir.join("collector.toml");
    std::fs::write(&config, format!("[limits]\n{limits}")).unwrap();
    CollectorProcess::init(&data);
    CollectorProcess::start_with(&data, &["--config", config.to_str().unwrap()])
}

fn tls_config(ca_pem: &[u8], alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// True once the peer has closed the connection (EOF or reset), polling reads for up to `wait`.
fn closed_by_peer(stream: &mut impl Read, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Sends a real ClientHello one byte per second; returns how long until the collector hung up.
fn slow_tls_handshake(port: u16, ca_pem: &[u8]) -> Duration {
    let mut client = rustls::ClientConnection::new(
        tls_config(ca_pem, b"http/1.1"),
        ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let started = Instant::now();
    for byte in hello {
        if stream.write_all(&[byte]).is_err() || closed_by_peer(&mut stream, Duration::from_secs(1))
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < HANDSHAKE_TIMEOUT + CUT_OFF_WITHIN,
            "a handshake sent one byte a second was not cut off"
        );
    }
    panic!("the whole ClientHello went through one byte a second without being cut off");
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
/// The header of a HEADERS frame (stream 1, END_HEADERS) announcing 1,000 bytes that never all come.
const H2_HEADERS_FRAME: &[u8] = b"\0\x03\xe8\x01\x04\0\0\0\x01";

/// Completes TLS with `alpn`, sends `prefix` at once, then `dribble` one byte every 100 ms; returns how
/// long until the collector hung up, and what it answered meanwhile.
fn slow_after_tls(
    port: u16,
    ca_pem: &[u8],
    alpn: &[u8],
    prefix: &[u8],
    dribble: &[u8],
) -> (Duration, String) {
    let client = rustls::ClientConnection::new(
        tls_config(ca_pem, alpn),
        ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut stream = rustls::StreamOwned::new(client, socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("the TLS handshake completes");
    }
    // Short reads from here on: the loop below polls for the collector hanging up.
    stream
        .sock
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(
        stream.conn.alpn_protocol(),
        Some(alpn),
        "the protocol under test"
    );
    stream.write_all(prefix).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for byte in dribble.iter().chain(std::iter::repeat(&b'a')) {
        if stream
            .write_all(&[*byte])
            .and_then(|()| stream.flush())
            .is_err()
        {
            break;
        }
        let mut buffer = [0u8; 4096];
        let closed = match stream.read(&mut buffer) {
            Ok(0) => true,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                false
            }
            Err(error) => !matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        };
        if closed {
            break;
        }
        assert!(
            started.elapsed() < HANDSHAKE_TIMEOUT + CUT_OFF_WITHIN,
            "a slow {} client was not cut off",
            String::from_utf8_lossy(alpn)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

/// HTTP/1.1 request headers, one byte at a time.
fn slow_headers(port: u16, ca_pem: &[u8]) -> (Duration, String) {
    slow_after_tls(
        port,
        ca_pem,
        b"http/1.1",
        b"",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
    )
}

/// An HTTP/2 connection whose first HEADERS frame trickles in.
fn slow_h2_headers(port: u16, ca_pem: &[u8]) -> (Duration, String) {
    slow_after_tls(port, ca_pem, b"h2", H2_PREFACE, H2_HEADERS_FRAME)
}

fn timed_health(collector: &CollectorProcess) -> Duration {
    let started = Instant::now();
    assert_eq!(collector.api_get("/healthz")["status"], "ok");
    started.elapsed()
}

#[test]
fn slowloris_clients_and_connection_floods_are_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let collector = collector(dir.path());
    let port = collector.port();
    let ca_pem = std::fs::read(collector.ca_file()).unwrap();

    // The three slow clients at once, while an ordinary client asks for the health check.
    let (tls_ca, header_ca, h2_ca) = (ca_pem.clone(), ca_pem.clone(), ca_pem.clone());
    let slow_tls = std::thread::spawn(move || slow_tls_handshake(port, &tls_ca));
    let slow_header = std::thread::spawn(move || slow_headers(port, &header_ca));
    let slow_h2 = std::thread::spawn(move || slow_h2_headers(port, &h2_ca));
    std::thread::sleep(Duration::from_millis(300));
    let during_slowloris = timed_health(&collector);
    let tls_cut = slow_tls.join().unwrap();
    let (header_cut, answer) = slow_header.join().unwrap();
    let (h2_cut, _) = slow_h2.join().unwrap();
    eprintln!(
        "slow clients: TLS handshake cut off after {tls_cut:?}, HTTP/1.1 headers after \
         {header_cut:?}, HTTP/2 headers after {h2_cut:?}, health check meanwhile {during_slowloris:?}"
    );
    for cut in [tls_cut, header_cut, h2_cut] {
        assert!(
            cut >= HANDSHAKE_TIMEOUT / 2,
            "cut off before the timeout: {cut:?}"
        );
    }
    assert!(
        !answer.contains("200 OK"),
        "the slow request must not be served: {answer}"
    );
    assert!(
        during_slowloris < Duration::from_secs(2),
        "{during_slowloris:?}"
    );

    // A flood of idle connections, four times the limit: they are dropped after the handshake
    // timeout, max_connections at a time, and the health check queued behind them gets through.
    let mut flood: Vec<TcpStream> = (0..4 * MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("a connection"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let during_flood = timed_health(&collector);
    eprintln!(
        "connection flood: {} idle connections, health check answered in {during_flood:?}",
        flood.len()
    );
    // Queued behind the flood, which drains max_connections per handshake timeout.
    let waves = (flood.len() / MAX_CONNECTIONS) as u32;
    assert!(
        during_flood < waves * HANDSHAKE_TIMEOUT + CUT_OFF_WITHIN,
        "{during_flood:?}"
    );
    let deadline = Instant::now() + 4 * HANDSHAKE_TIMEOUT + CUT_OFF_WITHIN;
    for stream in &mut flood {
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_by_peer(stream, left.max(Duration::from_millis(50))),
            "an idle connection was never closed"
        );
    }
    assert!(timed_health(&collector) < Duration::from_secs(2));
}

/// `GET /healthz` from the local address `from` (any of 127.0.0.0/8 reaches the collector on
/// 127.0.0.1 on Linux): the collector sees another client address.
fn health_from(collector: &CollectorProcess, from: std::net::IpAddr) -> String {
    let ca = std::fs::read(collector.ca_file()).unwrap();
    let url = format!("https://127.0.0.1:{}/healthz", collector.port());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .local_address(from)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let response = client.get(&url).send().await.expect("served");
        let body: serde_json::Value = response.json().await.unwrap();
        body["status"].as_str().unwrap_or_default().to_string()
    })
}

#[test]
fn one_address_cannot_take_every_connection_while_others_are_served() {
    const PER_ADDRESS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    // A handshake timeout long enough for idle connections to stay open through the test.
    let collector = collector_with(
        dir.path(),
        &format!(
            "handshake_timeout = \"30s\"\nmax_connections = {MAX_CONNECTIONS}\n\
             max_connections_per_address = {PER_ADDRESS}\n"
        ),
    );
    let port = collector.port();
    let connect = || {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("a connection");
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        stream
    };
    let mut held: Vec<TcpStream> = (0..PER_ADDRESS).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(300));

    // One more from the same address is closed at once, not queued.
    let started = Instant::now();
    let mut refused = connect();
    assert!(
        closed_by_peer(&mut refused, Duration::from_secs(3)),
        "a connection beyond max_connections_per_address was kept open"
    );
    let refused_after = started.elapsed();
    // The address's own connections stay open meanwhile.
    assert!(!closed_by_peer(&mut held[0], Duration::from_millis(300)));

    // Another address is served (the global limit, 16, is far from reached).
    let other = std::net::IpAddr::from([127, 0, 0, 2]);
    assert_eq!(health_from(&collector, other), "ok");

    // Once one of its connections closes, the address gets a slot again.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = connect();
    assert!(
        !closed_by_peer(&mut again, Duration::from_millis(500)),
        "a freed slot was not given back to the address"
    );
    eprintln!(
        "per-address limit {PER_ADDRESS}: the extra connection was closed after {refused_after:?}; \
         127.0.0.2 was served"
    );
}

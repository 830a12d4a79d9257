//! Hostile bodies and plain HTTP: clear errors, nothing written.

use super::*;

#[tokio::test]
async fn hostile_bodies_are_refused_with_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_body_bytes: 1024 * 1024,
        max_decoded_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    let collector = Collector::start(dir.path(), ca().await, false, limits).await;
    let (agent, _) = enrolled_agent(&collector).await;
    let http = client(collector.ca.cert_pem(), Some(&agent));
    let url = collector.url("/api/v1/agent/report");
    let before = collector.written();

    let oversized = vec![b' '; 2 * 1024 * 1024];
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    let error = error_of(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(error.message.contains("1048576 bytes"), "{}", error.message);
    assert_eq!(collector.written(), before);

    // 100 MB of zeros compress to ~100 KB: under the wire limit, far over the decoded one.
    let bomb = vec![0u8; 100 * 1024 * 1024];
    let response = post_gzip(&http, &url, &bomb).await;
    let error = error_of(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(
        error.message.contains("once decompressed"),
        "{}",
        error.message
    );
    assert_eq!(collector.written(), before);

    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"protocol": 1, "epoch": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response, StatusCode::BAD_REQUEST).await.code,
        "invalid_json"
    );

    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    let response = post_gzip(&http, &url, deep.as_bytes()).await;
    let error = error_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error.code, "limit_exceeded");
    assert!(
        error.message.contains("deeper than 32"),
        "{}",
        error.message
    );

    let long = serde_json::json!({ "protocol": 1, "report_id": "x".repeat(5000) }).to_string();
    let response = post_gzip(&http, &url, long.as_bytes()).await;
    let error = error_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        error.message.contains("longer than 4096 bytes"),
        "{}",
        error.message
    );

    let response = http.post(&url).body("{}").send().await.unwrap();
    let error = error_of(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(error.code, "unsupported_media_type");

    // Valid JSON of the wrong shape: 422, not 500.
    let response = post_gzip(&http, &url, br#"{"protocol": 1}"#).await;
    assert_eq!(
        error_of(response, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .code,
        "invalid_request"
    );

    // A report whose hash does not match its content.
    let inventory = machine(3);
    let mut lying = full_report(1, &inventory);
    lying.header.hash = "0".repeat(64);
    let response = post_gzip(&http, &url, &serde_json::to_vec(&lying).unwrap()).await;
    assert_eq!(
        error_of(response, StatusCode::CONFLICT).await.code,
        "hash_mismatch"
    );

    let response = http.get(collector.url("/nowhere")).send().await.unwrap();
    assert_eq!(
        error_of(response, StatusCode::NOT_FOUND).await.code,
        "not_found"
    );
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(
        error_of(response, StatusCode::METHOD_NOT_ALLOWED)
            .await
            .code,
        "method_not_allowed"
    );

    assert_eq!(collector.written(), before);
    collector.server.shutdown().await;
}

#[tokio::test]
async fn plain_http_to_the_https_port_gets_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let mut stream = tokio::net::TcpStream::connect(collector.addr())
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("HTTPS only"), "{answer}");

    // And the health check answers over HTTPS, HTTP/1.1 included.
    let http1 = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(collector.ca.cert_pem().as_bytes()).unwrap(),
        ])
        .http1_only()
        .build()
        .unwrap();
    let response = http1.get(collector.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    collector.server.shutdown().await;
}

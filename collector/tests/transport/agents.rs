//! Enrollment, check-ins, reports, certificates and approval over mutual TLS.

use super::*;

#[tokio::test]
async fn an_agent_enrolls_checks_in_and_reports_over_mtls_and_is_revoked_on_its_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let (agent, answer) = enrolled_agent(&collector).await;

    // The CSR asked for "agt-victim": the certificate names the server-assigned id instead.
    assert_ne!(answer.agent_id, "agt-victim");
    assert!(answer.agent_id.starts_with("agt-") && answer.agent_id.len() == 30);
    assert_eq!(answer.status, AgentStatus::Active);
    let der = first_certificate_der(&answer.certificate_pem).unwrap();
    let identity = certificate_identity(&der).unwrap();
    assert_eq!(
        identity.common_name.as_deref(),
        Some(answer.agent_id.as_str())
    );
    assert_eq!(answer.ca_pem, collector.ca.cert_pem());

    let http = client(collector.ca.cert_pem(), Some(&agent));
    let inventory = machine(50);
    let response = send_check_in(&http, &collector, 1, &inventory).await;
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN h2 is served"
    );
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::SendReport { base_hash: None }
    );

    let report = serde_json::to_vec(&full_report(1, &inventory)).unwrap();
    let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
    assert_eq!(response.status(), StatusCode::OK);
    let applied: ReportResponse = response.json().await.unwrap();
    assert_eq!(applied.outcome, ReportOutcome::Applied);
    assert_eq!(applied.hash, content_hash(&inventory));
    let stored = Ingest::with_cmdb(collector.store.clone(), collector.server.cmdb())
        .inventory(&agent.agent_id)
        .unwrap();
    assert_eq!(stored.unwrap(), inventory);

    let response = send_check_in(&http, &collector, 2, &inventory).await;
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::Unchanged
    );

    let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
    let replay: ReportResponse = response.json().await.unwrap();
    assert_eq!(replay.outcome, ReportOutcome::Duplicate);

    // Without a client certificate the agent endpoints refuse.
    let anonymous = client(collector.ca.cert_pem(), None);
    let response = send_check_in(&anonymous, &collector, 3, &inventory).await;
    let error = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "unauthenticated");
    assert!(
        error.message.contains("client certificate"),
        "{}",
        error.message
    );

    // Renewal: a new certificate for a new key, still naming the same agent, which then works.
    let new_key = KeyPair::generate().unwrap();
    let response = http
        .post(collector.url("/api/v1/agent/renew"))
        .json(&RenewRequest {
            csr_pem: csr(&new_key, "agt-victim"),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: RenewResponse = response.json().await.unwrap();
    let der = first_certificate_der(&renewed.certificate_pem).unwrap();
    let renewed_identity = certificate_identity(&der).unwrap();
    assert_eq!(
        renewed_identity.common_name.as_deref(),
        Some(agent.agent_id.as_str())
    );
    assert_ne!(renewed_identity.serial_hex, identity.serial_hex);
    let renewed_agent = Identity {
        agent_id: agent.agent_id.clone(),
        key_pem: new_key.serialize_pem(),
        key: new_key,
        cert_pem: renewed.certificate_pem,
    };
    // Until the agent uses its new certificate, the one it renewed with still works (had the answer
    // been lost, the agent could not renew again otherwise).
    let response = send_check_in(&http, &collector, 3, &inventory).await;
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::Unchanged
    );
    let response = send_check_in(
        &client(collector.ca.cert_pem(), Some(&renewed_agent)),
        &collector,
        4,
        &inventory,
    )
    .await;
    assert_eq!(
        response.json::<CheckInResponse>().await.unwrap(),
        CheckInResponse::Unchanged
    );
    // From then on the superseded certificate (a copy left on a cloned disk, a stolen key) is refused,
    // though it has not expired.
    let response = send_check_in(&http, &collector, 5, &inventory).await;
    let error = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "certificate_superseded");
    assert!(
        error.message.contains("replaced by a renewal"),
        "{}",
        error.message
    );

    // Revoked by an administrator: refused on the very next request, over the same connection pool.
    let admin = collector.admin_token();
    let response = anonymous
        .post(collector.url(&format!("/api/v1/agents/{}/revoke", agent.agent_id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let before = collector.written();
    let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
    let error = error_of(response, StatusCode::FORBIDDEN).await;
    assert_eq!(error.code, "agent_revoked");
    assert_eq!(collector.written(), before);

    collector.server.shutdown().await;
}

#[tokio::test]
async fn used_up_expired_and_revoked_enrollment_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let store = collector.store.as_ref();
    let (_, once) = tokens::create(store, Duration::from_secs(60), 1, None).unwrap();
    assert_eq!(enroll(&collector, &once).await.status(), StatusCode::OK);
    let (_, expired) = tokens::create(store, Duration::ZERO, 5, None).unwrap();
    let (revoked_info, revoked) = tokens::create(store, Duration::from_secs(60), 5, None).unwrap();
    tokens::revoke(store, &revoked_info.id).unwrap();

    let before = collector.written();
    for (token, reason) in [
        (once.as_str(), "used up"),
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        ("census_enroll_guess", "unknown"),
    ] {
        let error = error_of(enroll(&collector, token).await, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error.code, "invalid_enrollment_token");
        assert!(
            error.message.contains(reason),
            "{reason}: {}",
            error.message
        );
        assert_eq!(collector.written(), before);
    }
    collector.server.shutdown().await;
}

#[tokio::test]
async fn an_expired_agent_certificate_gets_a_clear_401() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let (agent, _) = enrolled_agent(&collector).await;
    let now = time::OffsetDateTime::now_utc();
    let expired = collector
        .ca
        .sign_agent_csr_between(
            &csr(&agent.key, "ignored"),
            &agent.agent_id,
            now - time::Duration::days(40),
            now - time::Duration::days(10),
        )
        .unwrap();
    let stale = Identity {
        cert_pem: expired.pem,
        ..agent
    };
    let response = client(collector.ca.cert_pem(), Some(&stale))
        .post(collector.url("/api/v1/agent/checkin"))
        .json(&check_in(1, &machine(1)))
        .send()
        .await
        .unwrap();
    let error = error_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error.code, "certificate_expired");
    assert!(
        error.message.contains("expired on") && error.message.contains("enroll again"),
        "{}",
        error.message
    );
    collector.server.shutdown().await;
}

#[tokio::test]
async fn a_client_refuses_a_collector_certificate_from_another_ca_and_the_collector_refuses_foreign_agents()
 {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, false, Limits::default()).await;
    let other = CertificateAuthority::generate("Another CA").unwrap();
    let error = client(other.cert_pem(), None)
        .get(collector.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    // An agent certificate signed by another CA does not get through the handshake.
    let key = KeyPair::generate().unwrap();
    let foreign = other
        .sign_agent_csr(&csr(&key, "x"), "agt-foreign", Duration::from_secs(3600))
        .unwrap();
    let identity = Identity {
        agent_id: "agt-foreign".into(),
        key_pem: key.serialize_pem(),
        key,
        cert_pem: foreign.pem,
    };
    let result = client(collector.ca.cert_pem(), Some(&identity))
        .post(collector.url("/api/v1/agent/checkin"))
        .json(&check_in(1, &machine(1)))
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    collector.server.shutdown().await;
}

#[tokio::test]
async fn a_pending_agent_is_refused_until_an_admin_approves_it() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path(), ca().await, true, Limits::default()).await;
    let (agent, answer) = enrolled_agent(&collector).await;
    assert_eq!(answer.status, AgentStatus::Pending);
    let http = client(collector.ca.cert_pem(), Some(&agent));
    let checkin = || {
        http.post(collector.url("/api/v1/agent/checkin"))
            .json(&check_in(1, &machine(1)))
            .send()
    };
    let error = error_of(checkin().await.unwrap(), StatusCode::FORBIDDEN).await;
    assert_eq!(error.code, "agent_pending");

    let anonymous = client(collector.ca.cert_pem(), None);
    let approve = collector.url(&format!("/api/v1/agents/{}/approve", agent.agent_id));
    let error = error_of(
        anonymous.post(&approve).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(error.message.contains("Bearer"), "{}", error.message);
    let auditor = auth::create_token(collector.store.as_ref(), "eve", Role::Auditor, None).unwrap();
    let response = anonymous
        .post(&approve)
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(response, StatusCode::FORBIDDEN).await.code,
        "forbidden"
    );

    let admin = collector.admin_token();
    let response = anonymous
        .post(&approve)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(checkin().await.unwrap().status(), StatusCode::OK);

    // Enrollment tokens through the admin API: created, listed, revoked.
    let response = anonymous
        .post(collector.url("/api/v1/enroll-tokens"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "ttl_seconds": 600, "max_uses": 3, "note": "rack 4" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: serde_json::Value = response.json().await.unwrap();
    let token_id = created["token"]["id"].as_str().unwrap().to_string();
    assert!(
        created["secret"]
            .as_str()
            .unwrap()
            .starts_with("census_enroll_")
    );
    let listed: serde_json::Value = anonymous
        .get(collector.url("/api/v1/enroll-tokens"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let response = anonymous
        .delete(collector.url(&format!("/api/v1/enroll-tokens/{token_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let agents: serde_json::Value = anonymous
        .get(collector.url("/api/v1/agents"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents[0]["status"], "active");
    collector.server.shutdown().await;
}

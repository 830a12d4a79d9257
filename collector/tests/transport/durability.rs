//! An acknowledged report survives a restart.

use super::*;

#[tokio::test]
async fn an_acknowledged_report_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca().await;
    let inventory = machine(200);
    let agent_id = {
        let collector = Collector::start(dir.path(), ca.clone(), false, Limits::default()).await;
        let (agent, _) = enrolled_agent(&collector).await;
        let http = client(collector.ca.cert_pem(), Some(&agent));
        let report = serde_json::to_vec(&full_report(1, &inventory)).unwrap();
        let response = post_gzip(&http, &collector.url("/api/v1/agent/report"), &report).await;
        assert_eq!(response.status(), StatusCode::OK);
        drop(http);
        let Collector { server, store, .. } = collector;
        server.shutdown().await;
        drop(store);
        agent.agent_id
    };
    let store = Arc::new(open_store(dir.path()).await);
    let cmdb = Arc::new(Cmdb::open(store.clone(), CmdbConfig::default()).unwrap());
    let stored = Ingest::with_cmdb(store, cmdb).inventory(&agent_id).unwrap();
    assert_eq!(stored.unwrap(), inventory);
}

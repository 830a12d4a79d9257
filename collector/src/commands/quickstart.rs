//! `census-collector quickstart`: everything on one machine in one command, for a first look.
//!
//! A collector on 127.0.0.1 with its data in a local folder (`./census-data` by default), and this
//! machine's own agent enrolled against it and reporting, in the same process. Running it again reuses
//! the same data (same CA, same admin token, same agent identity); Ctrl-C stops both cleanly.

use super::serve::{endpoint_url, shutdown_signal};
use super::{init, open_database};
use crate::config::Config;
use crate::datadir::DataDir;
use crate::enrollment::tokens;
use crate::server::{self, DEFAULT_SHUTDOWN_GRACE, ServeSettings};
use crate::store::engine::Engine;
use anyhow::Context;
use census_agent::state::StateDir;
use std::sync::Arc;
use std::time::Duration;

/// The data folder quickstart uses when none is given: beside the user, easy to find and delete.
pub const DEFAULT_QUICKSTART_DIR: &str = "census-data";

pub async fn run(config: Config) -> anyhow::Result<()> {
    let data_dir = DataDir::new(&config.data_dir);
    let admin_token = if data_dir.ensure_initialised().is_ok() {
        data_dir
            .read(&data_dir.admin_token())
            .context("reading the admin token")?
            .trim()
            .to_string()
    } else {
        init::run(&data_dir, &[], Engine::default())?.admin_token
    };
    let shutdown = shutdown_signal();
    let store = open_database(&data_dir)?;
    let ca_pem = data_dir.read(&data_dir.ca_cert())?;
    let settings = ServeSettings {
        listen: config.listen,
        ca_pem: ca_pem.clone(),
        ca_key_pem: data_dir.read(&data_dir.ca_key())?,
        server_cert_pem: data_dir.read(&data_dir.server_cert())?,
        server_key_pem: data_dir.read(&data_dir.server_key())?,
        store: Arc::clone(&store),
        limits: config.limits,
        require_approval: false,
        agent_cert_validity: config.enrollment.agent_cert_validity,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        stale_after: config.cmdb.stale_after,
        commit_delay: config.cmdb.commit_delay,
    };
    let running = server::bind(settings).await.with_context(|| {
        format!(
            "starting the collector on {} (another port: --listen 127.0.0.1:PORT)",
            config.listen
        )
    })?;
    let url = endpoint_url(running.local_addr());
    data_dir.replace_public(&data_dir.endpoint(), format!("{url}\n").as_bytes())?;

    let agent_config = census_agent::config::Config {
        state_dir: data_dir.root().join("agent"),
        collector_url: Some(url.clone()),
        ..census_agent::config::Config::default()
    };
    let agent_state = StateDir::new(&agent_config.state_dir);
    if agent_state.enrollment().ok().flatten().is_none() {
        let (_, secret) = tokens::create(
            store.as_ref(),
            Duration::from_secs(600),
            1,
            Some("quickstart agent".into()),
        )?;
        store.flush()?;
        let params = census_agent::enroll::EnrollParams {
            collector_url: url.clone(),
            ca_pem,
            ca_source: data_dir.ca_cert().display().to_string(),
            token: secret,
            hostname: None,
            connect_timeout: agent_config.connect_timeout,
            request_timeout: agent_config.request_timeout,
            force: false,
        };
        census_agent::enroll::enroll(&agent_state, &params)
            .await
            .context("enrolling this machine's agent")?;
    }
    let agent = tokio::spawn(census_agent::daemon::run(agent_config));

    let dir = data_dir.root().display();
    println!();
    println!("Census is running.");
    println!(
        "  collector API   {url}/api/v1/   (CA: {})",
        data_dir.ca_cert().display()
    );
    println!("  admin token     {admin_token}");
    println!("  data            {dir}   (run quickstart again to reuse it)");
    println!("  this machine's agent reports now and every hour");
    println!("Try:");
    println!(
        "  curl --cacert {dir}/ca.pem -H \"Authorization: Bearer $(cat {dir}/admin.token)\" {url}/api/v1/assets"
    );
    println!(
        "  curl --cacert {dir}/ca.pem -H \"Authorization: Bearer $(cat {dir}/admin.token)\" {url}/api/v1/agents"
    );
    println!("  census-collector enroll-token create --data-dir {dir}    # enroll another machine");
    println!("Stop with Ctrl-C.");

    running.run_until(shutdown).await;
    // The agent loop listens for the same signal; give it a moment to finish its cycle.
    match tokio::time::timeout(Duration::from_secs(10), agent).await {
        Ok(Ok(Err(error))) => tracing::warn!(%error, "the local agent stopped with an error"),
        Ok(Err(error)) => tracing::warn!(%error, "the local agent task failed"),
        Ok(Ok(Ok(()))) | Err(_) => {}
    }
    store
        .flush()
        .context("writing the database to disk at shutdown")?;
    println!("Census stopped; data kept in {dir}.");
    Ok(())
}

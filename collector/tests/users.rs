//! `census-collector user` / `token` through the real binary, both ways: straight to the database with
//! the collector stopped, and through the admin API while a collector serves the same data dir. Then
//! what the tokens do over HTTPS: a user's token has the user's role, an expired token and a disabled
//! user's token get 401, and no secret is ever written to the database in clear.

mod common;

use census_collector::commands::init;
use census_collector::datadir::DataDir;
use census_collector::secret::secret_hash;
use census_collector::server::RunningServer;
use census_collector::store::engine::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `census-collector ARGS --data-dir DIR`; prints everything when `expect_success` is not met.
async fn cli_raw(data_dir: &DataDir, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_census-collector"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir.root())
        .env_remove("CENSUS_COLLECTOR_CONFIG")
        .env_remove("CENSUS_DATA_DIR");
    let shown = format!("{command:?}");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let output = Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!(
        "$ {shown}\n--- stdout\n{}--- stderr\n{}",
        output.stdout, output.stderr
    );
    output
}

async fn cli(data_dir: &DataDir, args: &[&str]) -> String {
    let output = cli_raw(data_dir, args).await;
    assert!(output.success, "{args:?} failed: {}", output.stderr);
    output.stdout
}

/// The secret printed alone on the last line of `token create`.
fn secret_of(stdout: &str) -> String {
    let secret = stdout.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("census_"), "{stdout}");
    secret
}

/// Every byte of every file under `dir`.
fn bytes_under(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(bytes_under(&path));
        } else {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The database holds each token's hash (proof the search reaches the records) and never the secret.
fn assert_stored_hashed(data_dir: &DataDir, secrets: &[&str]) {
    let bytes = bytes_under(&data_dir.database(Engine::Sled));
    for secret in secrets {
        assert!(
            contains(&bytes, &secret_hash(secret)),
            "the token's hash is missing from the database"
        );
        assert!(
            !contains(&bytes, secret),
            "a token secret is stored in clear"
        );
    }
}

struct Http {
    client: reqwest::Client,
    url: String,
}

impl Http {
    fn new(ca_pem: &str, server: &RunningServer) -> Self {
        let client = common::https_client(ca_pem, None);
        let url = format!("https://127.0.0.1:{}", server.local_addr().port());
        Self { client, url }
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_tokens_are_managed_with_the_collector_stopped_and_running() {
    let work = tempfile::tempdir().unwrap();
    let data_dir = DataDir::new(work.path().join("data"));
    let admin_token = init::run(&data_dir, &[], Default::default())
        .unwrap()
        .admin_token;

    // Stopped: the CLI writes the database itself.
    let out = cli(
        &data_dir,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "service_desk",
            "--display-name",
            "Alice Example",
        ],
    )
    .await;
    assert!(
        out.contains("User alice created with role service_desk")
            && out.contains("collector is stopped"),
        "{out}"
    );
    let out = cli(
        &data_dir,
        &[
            "token", "create", "--user", "alice", "--ttl", "30d", "--note", "laptop",
        ],
    )
    .await;
    assert!(out.contains("collector is stopped"), "{out}");
    let alice = secret_of(&out);
    let refused = cli_raw(&data_dir, &["user", "add", "eve", "--role", "root"]).await;
    assert!(
        !refused.success && refused.stderr.contains("asset_manager"),
        "{}",
        refused.stderr
    );
    let refused = cli_raw(&data_dir, &["token", "create", "--user", "nobody"]).await;
    assert!(
        !refused.success && refused.stderr.contains("user add"),
        "{}",
        refused.stderr
    );
    let refused = cli_raw(&data_dir, &["user", "add", "alice", "--role", "auditor"]).await;
    assert!(
        !refused.success && refused.stderr.contains("already exists"),
        "{}",
        refused.stderr
    );
    let out = cli(&data_dir, &["user", "add", "carol", "--role", "auditor"]).await;
    assert!(out.contains("created"), "{out}");
    let out = cli(
        &data_dir,
        &["user", "set-role", "carol", "--role", "asset_manager"],
    )
    .await;
    assert!(
        out.contains("User carol now has role asset_manager; 0 token(s) updated")
            && out.contains("collector is stopped"),
        "{out}"
    );
    assert_stored_hashed(&data_dir, &[&alice]);

    // Running: the database is locked by the server, so the same commands go through its admin API.
    let (server, store, ca_pem) = common::serve_data_dir(&data_dir).await;
    let http = Http::new(&ca_pem, &server);
    let (status, _) = http.get(&alice, "/api/v1/incidents").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a service_desk token reads incidents"
    );
    let (status, answer) = http.get(&alice, "/api/v1/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = http.get(&alice, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "service_desk: {answer}");
    let out = cli(
        &data_dir,
        &["user", "set-role", "alice", "--role", "auditor"],
    )
    .await;
    assert!(
        out.contains("User alice now has role auditor; 1 token(s) updated")
            && out.contains("collector is running"),
        "{out}"
    );
    let (status, answer) = http.get(&alice, "/api/v1/audit").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same token now reads the audit log: {answer}"
    );

    let out = cli(&data_dir, &["user", "add", "bob", "--role", "auditor"]).await;
    assert!(out.contains("collector is running"), "{out}");
    let bob = secret_of(&cli(&data_dir, &["token", "create", "--user", "bob"]).await);
    let short = secret_of(
        &cli(
            &data_dir,
            &["token", "create", "--user", "bob", "--ttl", "1s"],
        )
        .await,
    );
    let (status, answer) = http.get(&bob, "/api/v1/audit").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an auditor reads the audit log: {answer}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, answer) = http.get(&short, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("expired"),
        "{answer}"
    );

    let out = cli(&data_dir, &["user", "disable", "bob"]).await;
    assert!(
        out.contains("User bob disabled; 2 token(s) revoked"),
        "{out}"
    );
    let (status, answer) = http.get(&bob, "/api/v1/audit").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let refused = cli_raw(&data_dir, &["token", "create", "--user", "bob"]).await;
    assert!(
        !refused.success && refused.stderr.contains("disabled"),
        "{}",
        refused.stderr
    );

    let users: Value =
        serde_json::from_str(&cli(&data_dir, &["user", "list", "--json"]).await).unwrap();
    let states: Vec<(String, bool)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|user| {
            (
                user["name"].as_str().unwrap().to_string(),
                user["disabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("alice".to_string(), false),
            ("bob".to_string(), true),
            ("carol".to_string(), false)
        ]
    );
    let listed = cli(&data_dir, &["token", "list", "--user", "alice", "--json"]).await;
    assert!(!listed.contains(&alice), "token list never shows a secret");
    let tokens: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert_eq!(tokens[0]["note"], "laptop");
    let alice_id = tokens[0]["id"].as_str().unwrap().to_string();
    let table = cli(&data_dir, &["token", "list"]).await;
    assert!(
        table.contains("revoked") && table.contains("laptop"),
        "{table}"
    );

    // Both ways are audited: directly as the local administrator, remotely as the admin token's user.
    let audited = |action: &'static str| {
        let http = &http;
        let admin_token = &admin_token;
        async move {
            let path = format!("/api/v1/audit?action={action}");
            let (status, audit) = http.get(admin_token, &path).await;
            assert_eq!(status, StatusCode::OK, "{audit}");
            audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| {
                    let text = |key: &str| entry[key].as_str().unwrap().to_string();
                    format!(
                        "{} by {} from {}",
                        text("record"),
                        text("actor"),
                        text("source")
                    )
                })
                .collect::<Vec<String>>()
        }
    };
    assert_eq!(
        audited("user.create").await,
        [
            "user:bob by admin from 127.0.0.1",
            "user:carol by local-admin from local",
            "user:alice by local-admin from local",
        ]
    );
    assert_eq!(
        audited("user.role").await,
        [
            "user:alice by admin from 127.0.0.1",
            "user:carol by local-admin from local",
        ]
    );
    server.shutdown().await;
    drop(store);

    // Stopped again: revoke directly, once the server has let go of the database.
    drop(common::open_when_free(&data_dir).await);
    let out = cli(&data_dir, &["token", "revoke", &alice_id]).await;
    assert!(
        out.contains(&format!("API token {alice_id} of alice revoked"))
            && out.contains("collector is stopped"),
        "{out}"
    );
    let tokens: Value = serde_json::from_str(
        &cli(&data_dir, &["token", "list", "--user", "alice", "--json"]).await,
    )
    .unwrap();
    assert_eq!(tokens[0]["revoked"], true);
    let refused = cli_raw(&data_dir, &["token", "revoke", "key-doesnotexist"]).await;
    assert!(
        !refused.success && refused.stderr.contains("does not exist"),
        "{}",
        refused.stderr
    );
    assert_stored_hashed(&data_dir, &[&alice, &bob, &short, &admin_token]);
}

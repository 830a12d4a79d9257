//! The real `census` binary against a real collector (in-process, TLS on 127.0.0.1:0, sled in a temp
//! dir, agents enrolled over HTTPS sending real reports): login, assets, incidents, changes, impact,
//! export, exit codes, colour and completions.

mod support;

use serde_json::{Value, json};
use support::{Collector, inventory};

/// web-01 (upgraded openssl once), app-01 depending on web-01, and two machines both called dup-01,
/// the second with an old openssl.
struct Fleet {
    collector: Collector,
    web: String,
    app: String,
}

async fn fleet() -> Fleet {
    let collector = Collector::start().await;
    let (mut web_agent, web) = collector.machine("web-01", 1, "3.0.2-1").await;
    collector
        .report(&mut web_agent, &inventory("web-01", 1, "3.0.11-1"))
        .await;
    let (_, app) = collector.machine("app-01", 2, "3.0.11-1").await;
    collector.machine("dup-01", 3, "3.0.11-1").await;
    collector.machine("dup-01", 4, "1.1.1w-0").await;
    collector
        .post(
            "/api/v1/relationships",
            json!({"from": app, "kind": "depends_on", "to": web}),
        )
        .await;
    Fleet {
        collector,
        web,
        app,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_token_before_storing_it_privately_and_logout_forgets_it() {
    let collector = Collector::start().await;
    let census = collector.census();
    let base = collector.base();
    let ca = collector.ca_file.display().to_string();
    let login = ["login", "--collector", base.as_str(), "--ca", ca.as_str()];
    let stored = census.config_dir().join("login.toml");

    census
        .run(&["assets", "list"], None, &[])
        .await
        .expect(3)
        .stderr_has("not logged in")
        .stderr_has("run `census login --collector URL --ca FILE`");

    census
        .run(&login, Some("census_not_a_real_token\n"), &[])
        .await
        .expect(3)
        .stderr_has("401")
        .stderr_has("nothing was saved");
    assert!(!stored.exists());

    census
        .run(&login, Some(&format!("{}\n", collector.admin)), &[])
        .await
        .ok()
        .stderr_has("logged in to");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&stored).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&stored).unwrap();
    assert!(text.contains(&collector.admin) && text.contains("BEGIN CERTIFICATE"));

    // The stored login works on its own; the CA file may go away (its content was copied).
    std::fs::remove_file(&collector.ca_file).unwrap();
    census
        .run(&["assets", "list"], None, &[])
        .await
        .ok()
        .stdout_has("ID");
    // An environment token overrides the stored one.
    census
        .run(
            &["assets", "list"],
            None,
            &[("CENSUS_TOKEN", "census_wrong")],
        )
        .await
        .expect(3);

    census
        .run(&["logout"], None, &[])
        .await
        .ok()
        .stderr_has("logged out");
    assert!(!stored.exists());
    census.run(&["assets", "list"], None, &[]).await.expect(3);

    // A CA that is not a certificate is refused before any token is asked for.
    let bogus = collector.dir.path().join("bogus.pem");
    std::fs::write(&bogus, "hello").unwrap();
    let bogus = bogus.display().to_string();
    census
        .run(
            &[
                "login",
                "--collector",
                base.as_str(),
                "--ca",
                bogus.as_str(),
            ],
            Some("x\n"),
            &[],
        )
        .await
        .expect(1)
        .stderr_has("holds no PEM certificate");
    collector.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_list_show_and_history_in_every_format() {
    let fleet = fleet().await;
    let collector = &fleet.collector;
    let census = collector
        .census()
        .with_env(collector.session_env(&collector.admin));

    let run = census
        .run(
            &["assets", "list", "package:openssl version<3.0.7"],
            None,
            &[],
        )
        .await
        .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("ID "), "{}", run.stdout);
    assert!(
        lines[1].contains("dup-01") && lines[1].contains("SN-4"),
        "{}",
        run.stdout
    );

    let run = census
        .run(&["assets", "list", "hostname ~ \"web-*\""], None, &[])
        .await
        .ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stdout.contains(&fleet.web) && run.stdout.contains("web-01"));
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when stdout is a pipe"
    );

    let api = collector
        .get_bytes("/api/v1/assets", &[("q", "os.id=debian")])
        .await;
    let run = census
        .run(
            &["assets", "list", "os.id=debian", "--format", "json"],
            None,
            &[],
        )
        .await
        .ok();
    assert_eq!(run.stdout_bytes.trim_ascii_end(), api.trim_ascii_end());

    let run = census
        .run(&["assets", "list", "--format", "csv"], None, &[])
        .await
        .ok();
    let mut rows = run.stdout.split("\r\n");
    assert!(
        rows.next()
            .unwrap()
            .starts_with("id,hostname,serial,os,os_id,")
    );
    assert_eq!(run.stdout.matches("\r\n").count(), 5, "{}", run.stdout);

    census
        .run(&["assets", "list", "memory.total_bytes <"], None, &[])
        .await
        .expect(6)
        .stderr_has("invalid_query")
        .stderr_has("position");

    // show: by hostname, same as by id; json is the API's answer.
    let by_name = census
        .run(&["assets", "show", "web-01"], None, &[])
        .await
        .ok();
    for expected in [
        "id:",
        &fleet.web,
        "Dell Inc.",
        "SN-1",
        "Intel(R) Xeon(R) Gold 6338 (32 cores",
        "64.0 GiB",
        "10.1.0.1/16",
    ] {
        assert!(
            by_name.stdout.contains(expected),
            "{expected}\n{}",
            by_name.stdout
        );
    }
    let by_id = census
        .run(&["assets", "show", &fleet.web], None, &[])
        .await
        .ok();
    assert_eq!(by_name.stdout, by_id.stdout);
    let json = census
        .run(&["assets", "show", "web-01", "--format", "json"], None, &[])
        .await
        .ok()
        .json();
    let api = collector
        .get(&format!("/api/v1/assets/{}", fleet.web), &[])
        .await;
    assert_eq!(json, api);
    census
        .run(&["assets", "show", "web-01", "--format", "csv"], None, &[])
        .await
        .ok()
        .stdout_has("field,value\r\n")
        .stdout_has("serial,SN-1\r\n");

    census
        .run(&["assets", "show", "nosuch-01"], None, &[])
        .await
        .expect(4)
        .stderr_has("no asset has the id or hostname 'nosuch-01'");
    census
        .run(&["assets", "show", "ci-999999"], None, &[])
        .await
        .expect(4)
        .stderr_has("404");
    census
        .run(&["assets", "show", "dup-01"], None, &[])
        .await
        .expect(6)
        .stderr_has("'dup-01' names 2 assets")
        .stderr_has("SN-3")
        .stderr_has("SN-4");

    // history: the upgrade and the creation, newest first, filterable by kind.
    let run = census
        .run(&["assets", "history", "web-01", "--since", "7d"], None, &[])
        .await
        .ok()
        .stdout_has("package_upgraded openssl 3.0.2-1 → 3.0.11-1");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("AT "), "{}", run.stdout);
    assert!(
        lines[1].contains("changed") && lines[2].contains("created"),
        "{}",
        run.stdout
    );
    let json = census
        .run(
            &[
                "assets",
                "history",
                "web-01",
                "--kind",
                "package_upgraded",
                "--format",
                "json",
            ],
            None,
            &[],
        )
        .await
        .ok()
        .json();
    assert_eq!(json["items"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["items"][0]["changes"][0]["kind"], "package_upgraded");
    census
        .run(
            &["assets", "history", "web-01", "--format", "csv"],
            None,
            &[],
        )
        .await
        .ok()
        .stdout_has("record,at,kind,source,by,changes\r\n");
    census
        .run(&["assets", "history", "web-01", "--since", "7"], None, &[])
        .await
        .expect(2)
        .stderr_has("unit is missing");
    fleet.collector.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_changes_through_their_lifecycles_with_roles_and_impact() {
    let fleet = fleet().await;
    let collector = &fleet.collector;
    let desk = collector
        .census()
        .with_env(collector.session_env(&collector.service_desk));

    let created = desk
        .run(
            &[
                "incidents",
                "create",
                "--ci",
                "web-01",
                "--impact",
                "2",
                "--urgency",
                "1",
                "Disk failing",
            ],
            None,
            &[],
        )
        .await
        .ok()
        .stderr_has("priority P2");
    let id = created.stdout.trim().to_string();
    assert_eq!(id, "INC-000001", "{}", created.stdout);

    let show = desk.run(&["incidents", "show", &id], None, &[]).await.ok();

    for expected in [
        "title:",
        "Disk failing",
        &format!("Affected {}", fleet.web),
        "Dell Inc.",
        "PowerEdge R650",
        "Impact of",
        &format!(
            "{} (web-01) <-depends_on- {} (app-01)",
            fleet.web, fleet.app
        ),
    ] {
        assert!(
            show.stdout.contains(expected),
            "{expected}\n{}",
            show.stdout
        );
    }
    let json = desk
        .run(&["incidents", "show", &id, "--format", "json"], None, &[])
        .await
        .ok()
        .json();
    assert_eq!(json["incident"]["id"], id.as_str());
    assert_eq!(json["cis"][0]["summary"]["serial"], "SN-1");

    desk.run(&["incidents", "list"], None, &[])
        .await
        .ok()
        .stdout_has("Disk failing")
        .stdout_has("P2");
    let csv = desk
        .run(
            &["incidents", "list", "--ci", "web-01", "--format", "csv"],
            None,
            &[],
        )
        .await
        .ok();
    assert!(
        csv.stdout
            .starts_with("id,priority,state,title,affected_cis,"),
        "{}",
        csv.stdout
    );
    assert_eq!(csv.stdout.matches("\r\n").count(), 2);

    desk.run(&["incidents", "transition", &id, "in_progress"], None, &[])
        .await
        .ok()
        .stdout_has("in_progress");
    desk.run(&["incidents", "transition", &id, "closed"], None, &[])
        .await
        .expect(6)
        .stderr_has("allowed:");
    desk.run(&["incidents", "show", "INC-000404"], None, &[])
        .await
        .expect(4);

    // Changes: the desk creates and submits, only an approver approves.
    let created = desk
        .run(
            &[
                "changes",
                "create",
                "Upgrade openssl",
                "--risk",
                "low",
                "--ci",
                "web-01",
                "--start",
                "2030-01-01T22:00:00Z",
                "--end",
                "2030-01-01T23:00:00Z",
                "--plan",
                "apt-get install openssl",
                "--backout",
                "apt-get install openssl=3.0.2-1",
            ],
            None,
            &[],
        )
        .await
        .ok();
    let change = created.stdout.trim().to_string();
    assert_eq!(change, "CHG-000001", "{}", created.stderr);
    desk.run(&["changes", "transition", &change, "assessment"], None, &[])
        .await
        .ok()
        .stdout_has("assessment");
    desk.run(&["changes", "approve", &change], None, &[])
        .await
        .expect(3)
        .stderr_has("403")
        .stderr_has("approver");
    let approver = collector
        .census()
        .with_env(collector.session_env(&collector.approver));
    let approved = approver
        .run(
            &[
                "changes",
                "approve",
                &change,
                "--note",
                "low blast radius",
                "--format",
                "json",
            ],
            None,
            &[],
        )
        .await
        .ok()
        .json();
    assert_eq!(approved["record"]["state"], "approved");
    desk.run(&["changes", "show", &change], None, &[])
        .await
        .ok()
        .stdout_has("approver-alice")
        .stdout_has("2030-01-01 22:00");
    desk.run(&["changes", "list", "--state", "approved"], None, &[])
        .await
        .ok()
        .stdout_has(&change);

    // Impact on its own.
    let impact = desk.run(&["impact", "web-01"], None, &[]).await.ok();
    assert!(
        impact.stdout.contains(&format!("{}  app-01", fleet.app)),
        "{}",
        impact.stdout
    );
    let json: Value = desk
        .run(&["impact", "web-01", "--format", "json"], None, &[])
        .await
        .ok()
        .json();
    assert_eq!(json["cis"][0]["ci"], fleet.app.as_str());
    assert_eq!(json["cis"][0]["via"][0], "depends_on");
    fleet.collector.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_streams_the_apis_bytes_and_errors_have_their_exit_codes() {
    let fleet = fleet().await;
    let collector = &fleet.collector;
    let census = collector
        .census()
        .with_env(collector.session_env(&collector.admin));

    let api = collector
        .get_bytes(
            "/api/v1/assets/export",
            &[("q", "os.id=debian"), ("format", "csv")],
        )
        .await;
    let run = census
        .run(&["export", "os.id=debian", "--format", "csv"], None, &[])
        .await
        .ok();
    assert_eq!(run.stdout_bytes, api);
    assert_eq!(
        api.split(|&b| b == b'\n').count(),
        6,
        "header, 4 assets, end"
    );
    assert!(
        run.stderr.is_empty(),
        "no progress off a terminal: {}",
        run.stderr
    );

    let file = collector.dir.path().join("all.ndjson");
    let file_arg = file.display().to_string();
    census
        .run(
            &["export", "--format", "ndjson", "-o", file_arg.as_str()],
            None,
            &[],
        )
        .await
        .ok();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 4);

    // Colour: never through a pipe, forced by CLICOLOR_FORCE, and NO_COLOR always wins.
    let forced = census
        .run(&["assets", "list"], None, &[("CLICOLOR_FORCE", "1")])
        .await
        .ok();
    assert!(
        forced.stdout.starts_with("\x1b[1mID"),
        "{:?}",
        forced.stdout
    );
    let plain = census
        .run(
            &["assets", "list"],
            None,
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        )
        .await
        .ok();
    assert!(!plain.stdout.contains('\x1b'), "{:?}", plain.stdout);

    // An unreachable collector: a port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nowhere = format!("https://127.0.0.1:{port}");
    census
        .run(
            &["assets", "list"],
            None,
            &[("CENSUS_COLLECTOR", nowhere.as_str())],
        )
        .await
        .expect(5)
        .stderr_has("cannot reach the collector");
    // A collector whose certificate is not signed by the given CA is a TLS failure: exit 5 too.
    let other_ca = collector.dir.path().join("other-ca.pem");
    let other = census_collector::pki::CertificateAuthority::generate("Someone else").unwrap();
    std::fs::write(&other_ca, other.cert_pem()).unwrap();
    census
        .run(
            &["assets", "list"],
            None,
            &[("CENSUS_CA", other_ca.display().to_string().as_str())],
        )
        .await
        .expect(5);

    census
        .run(&["assets", "frobnicate"], None, &[])
        .await
        .expect(2);

    let bash = census.run(&["completions", "bash"], None, &[]).await.ok();
    assert!(
        bash.stdout.contains("_census()") && bash.stdout.contains("complete -F _census"),
        "{}",
        &bash.stdout[..bash.stdout.len().min(300)]
    );
    census
        .run(&["--help"], None, &[])
        .await
        .ok()
        .stdout_has("Exit codes:")
        .stdout_has("5  collector unreachable");
    fleet.collector.server.shutdown().await;
}

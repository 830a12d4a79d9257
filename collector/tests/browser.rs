//! The web console in a real browser: headless Chromium from Debian driven over WebDriver
//! (chromedriver) with fantoccini, against a collector on real TLS and sled with CIs from real agent
//! reports. Flow: sign in with a token → dashboard → search with the query language → asset detail →
//! create an incident on that CI → the incident shows its affected hardware → move it to In progress.
//!
//! Needs `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`; `.ci/run` installs
//! them); without them the test fails and says so. Screenshots of the main pages are taken on every
//! run and checked to be PNGs; with `CENSUS_SCREENSHOTS=DIR` they are also written to DIR (the README's
//! come from `CENSUS_SCREENSHOTS=docs/screenshots cargo test -p census-collector --test browser`).

mod console;

use base64::Engine;
use census_collector::auth::Role;
use console::{Console, Machine};
use fantoccini::{Client, ClientBuilder, Locator};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WIDTH: u32 = 1280;

/// Stops chromedriver (and with it the browser) however the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromedriver() -> (Driver, u16) {
    for program in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            Path::new(program).exists(),
            "{program} is missing: the browser test needs Debian's Chromium and its WebDriver; run `apt-get install chromium chromium-driver` (CI's .ci/run does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("starting {CHROMEDRIVER} failed: {error}"));
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (driver, port)
}

/// base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what Chromium's SPKI allow-list takes.
fn spki_pin(cert_pem: &str) -> String {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(cert.public_key().raw))
}

async fn browser(port: u16, profile: &Path, server_cert_pem: &str) -> Client {
    // The collector's certificate comes from its own CA, which this throwaway profile does not trust.
    // Rather than --ignore-certificate-errors (any certificate at all), the browser is told to accept
    // exactly this server's key; Chromium honours the list only with a dedicated --user-data-dir.
    let args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--no-first-run".to_string(),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--disable-sync".to_string(),
        "--hide-scrollbars".to_string(),
        "--force-device-scale-factor=1".to_string(),
        format!("--window-size={WIDTH},900"),
        format!("--user-data-dir={}", profile.display()),
        format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_pin(server_cert_pem)
        ),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|error| panic!("chromedriver refused a Chromium session: {error}"))
}

/// Takes a screenshot of the page at `height` px, checks it is a PNG, and keeps it when asked to.
async fn screenshot(client: &Client, name: &str, height: u32) {
    client.set_window_size(WIDTH, height).await.unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{name}: not a PNG"
    );
    if let Some(dir) = std::env::var_os("CENSUS_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        // Relative paths are from the workspace root, where the README lives.
        let dir = if dir.is_absolute() {
            dir
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    let found = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await;
    match found {
        Ok(element) => element.text().await.unwrap(),
        Err(error) => {
            let url = client.current_url().await;
            let source = client.source().await.unwrap_or_default();
            panic!("no '{css}' on {url:?}: {error}\n{source}")
        }
    }
}

/// Clicks what `locator` finds and waits until the browser has left the page (a new document
/// replaces the old one, even when the form redirects back to the same URL).
async fn click_through(client: &Client, locator: Locator<'_>) {
    let old_page = client.find(Locator::Css("html")).await.unwrap();
    client.find(locator).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while old_page.tag_name().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the page did not change within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_desk_agent_signs_in_finds_a_machine_and_opens_an_incident_on_it() {
    let console = Console::start().await;
    let (mut web01, ci) = console.machine_agent(&Machine::debian("web-01")).await;
    for host in ["web-02", "web-03", "db-01"] {
        console.machine(&Machine::debian(host)).await;
    }
    let mut old = Machine::debian("legacy-erp");
    (old.os_name, old.os_version, old.bios_date) =
        ("Red Hat Enterprise Linux", "8.10", Some("06/02/2017"));
    console.machine(&old).await;
    let mut ubuntu = Machine::debian("ci-runner-07");
    (ubuntu.os_name, ubuntu.os_version, ubuntu.bios_date) = ("Ubuntu", "24.04", None);
    console.machine(&ubuntu).await;
    // An upgrade no approved change covers: the unauthorized-change report has something to show.
    let mut upgraded = Machine::debian("web-01");
    upgraded.openssl = "3.0.15-1~deb12u1";
    console.report(&mut web01, &upgraded).await;
    // A load balancer in front of web-01: the incident's impact lists it.
    let lb = console.machine(&Machine::debian("lb-01")).await;
    let admin = console.token("root", Role::Admin);
    let response = console
        .http
        .post(console.url("/api/v1/relationships"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "from": lb, "kind": "depends_on", "to": ci }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let token = console.token("dana", Role::ServiceDesk);

    let (_driver, port) = start_chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(port, profile.path(), &console.server_cert_pem).await;

    // Sign in: the dashboard is behind /login.
    client.goto(&console.url("/")).await.unwrap();
    assert_eq!(path_of(&client).await, "/login");
    screenshot(&client, "login", 600).await;
    client
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    click_through(&client, Locator::Css("form button[type=submit]")).await;
    assert_eq!(text_of(&client, "main h1").await, "Dashboard");
    let tiles = text_of(&client, ".tiles").await;
    assert!(
        tiles.contains("Configuration items") && tiles.contains('7'),
        "{tiles}"
    );
    text_of(&client, "svg.chart").await;

    // Search with the query language.
    click_through(&client, Locator::LinkText("Assets")).await;
    let query = client.find(Locator::Id("q")).await.unwrap();
    query
        .send_keys("hostname ~ \"web-*\" and package:openssl version>=3.0.11")
        .await
        .unwrap();
    click_through(&client, Locator::Css("form.search button")).await;
    let results = text_of(&client, "table.data tbody").await;
    assert!(
        results.contains("web-01") && results.contains("web-03") && !results.contains("db-01"),
        "{results}"
    );
    screenshot(&client, "assets", 700).await;

    // The asset page, then an incident on it.
    click_through(&client, Locator::LinkText("web-01")).await;
    assert_eq!(path_of(&client).await, format!("/assets/{ci}"));
    let hardware = text_of(&client, "section[aria-labelledby=hardware]").await;
    assert!(
        hardware.contains("PowerEdge R650") && hardware.contains("64 GiB"),
        "{hardware}"
    );
    screenshot(&client, "asset", 1500).await;
    click_through(&client, Locator::LinkText("Create incident on this CI")).await;
    let title = client.find(Locator::Id("f-title")).await.unwrap();
    title
        .send_keys("web-01 returns 502 after openssl upgrade")
        .await
        .unwrap();
    client
        .find(Locator::Css("#f-impact option[value='1']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_through(&client, Locator::Css("form.stack button[type=submit]")).await;
    let heading = text_of(&client, "main h1").await;
    assert!(
        heading.starts_with("INC-") && heading.contains("returns 502"),
        "{heading}"
    );
    let affected = text_of(&client, "section[aria-labelledby=affected]").await;
    assert!(
        affected.contains(&ci)
            && affected.contains("PowerEdge R650")
            && affected.contains("SN-web-01"),
        "{affected}"
    );
    assert!(
        affected.contains("openssl"),
        "the discovered upgrade is in the context: {affected}"
    );
    let impact = text_of(&client, "section[aria-labelledby=impact]").await;
    assert!(
        impact.contains(&format!("lb-01 ({lb})")) && impact.contains(&format!("web-01 ({ci})")),
        "the impact names the machines: {impact}"
    );

    // Only legal moves are offered; take one.
    let actions = text_of(&client, "section[aria-labelledby=actions]").await;
    assert!(
        actions.contains("Start work") && !actions.contains("Close"),
        "{actions}"
    );
    click_through(
        &client,
        Locator::XPath("//button[normalize-space()='Start work']"),
    )
    .await;
    let log = text_of(&client, "section[aria-labelledby=log]").await;
    assert!(
        log.contains("New → In progress") && log.contains("dana"),
        "{log}"
    );
    screenshot(&client, "incident", 1200).await;

    client
        .goto(&console.url("/reports/unauthorized"))
        .await
        .unwrap();
    let report = text_of(&client, "table.data tbody").await;
    assert!(
        report.contains("openssl") && report.contains(&ci),
        "{report}"
    );
    screenshot(&client, "unauthorized", 700).await;

    // Back on the dashboard, the new incident is counted by priority.
    click_through(&client, Locator::LinkText("Dashboard")).await;
    let tiles = text_of(&client, ".tiles").await;
    assert!(tiles.contains("1\nOpen incidents"), "{tiles}");
    screenshot(&client, "dashboard", 1000).await;

    client.close().await.unwrap();
}

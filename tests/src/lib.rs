//! Helpers shared by the end-to-end tests and the fleet simulator: finding the built binaries, running
//! them with their output shown on failure, a collector process on an ephemeral port, and [`fleet`].

pub mod cpu;
pub mod fleet;
pub mod manpages;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of one of the workspace's binaries (`census-agent`, `census-collector`), built next to this
/// test executable. `CENSUS_BIN_DIR` overrides the directory (to test installed packages).
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("CENSUS_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("the test executable's path");
            // target/<profile>/deps/e2e-<hash> → target/<profile>
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("a target directory")
                .to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`) or set CENSUS_BIN_DIR",
        path.display()
    );
    path
}

/// Runs `command`, and on a non-zero exit fails with the command line, its stdout and stderr.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("running {command:?} failed: {error}"));
    assert!(output.status.success(), "{}", describe(command, &output));
    output
}

/// The command, its exit status and its output, for failure messages.
pub fn describe(command: &Command, output: &Output) -> String {
    format!(
        "command: {command:?}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A `census-collector serve` process on 127.0.0.1 with an ephemeral port, over a data dir of its own.
/// A new enrollment token for the collector data dir `data`, with `max_uses` uses; works with the
/// collector running or stopped.
pub fn enroll_token(data: &std::path::Path, max_uses: usize) -> String {
    let output = run_ok(
        Command::new(binary("census-collector"))
            .args(["enroll-token", "create", "--max-uses"])
            .arg(max_uses.to_string())
            .arg("--data-dir")
            .arg(data),
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a token line")
        .to_string()
}

pub struct CollectorProcess {
    child: Option<std::process::Child>,
    pub data_dir: PathBuf,
    /// `https://127.0.0.1:PORT`, read from the `collector.url` file `serve` writes once it listens.
    pub url: String,
}

impl CollectorProcess {
    /// Runs `census-collector init` on `data_dir` (which must not hold a collector yet).
    pub fn init(data_dir: &std::path::Path) {
        Self::init_with(data_dir, &[]);
    }

    /// As [`init`](Self::init), with extra arguments (`--engine redb`).
    pub fn init_with(data_dir: &std::path::Path, extra: &[&str]) {
        run_ok(
            Command::new(binary("census-collector"))
                .arg("init")
                .arg("--data-dir")
                .arg(data_dir)
                .args(extra),
        );
    }

    /// Starts `serve` on an initialised `data_dir` and waits until it accepts connections.
    pub fn start(data_dir: &std::path::Path) -> CollectorProcess {
        Self::start_with(data_dir, &[])
    }

    /// As [`start`](Self::start), on a given port (to come back where agents expect the collector).
    pub fn start_on(data_dir: &std::path::Path, port: u16) -> CollectorProcess {
        Self::launch(data_dir, &format!("127.0.0.1:{port}"), &[])
    }

    /// As [`start_on`](Self::start_on), with extra arguments for `serve`.
    pub fn start_on_with(
        data_dir: &std::path::Path,
        port: u16,
        extra: &[&str],
    ) -> CollectorProcess {
        Self::launch(data_dir, &format!("127.0.0.1:{port}"), extra)
    }

    /// As [`start`](Self::start), with extra arguments for `serve`.
    pub fn start_with(data_dir: &std::path::Path, extra: &[&str]) -> CollectorProcess {
        Self::launch(data_dir, "127.0.0.1:0", extra)
    }

    fn launch(data_dir: &std::path::Path, listen: &str, extra: &[&str]) -> CollectorProcess {
        let endpoint = data_dir.join("collector.url");
        let _ = std::fs::remove_file(&endpoint);
        let child = Command::new(binary("census-collector"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen)
            .args(extra)
            // Warnings and errors still reach the test output; routine lines would drown failures.
            .env("CENSUS_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("starting census-collector serve");
        let mut process = CollectorProcess {
            child: Some(child),
            data_dir: data_dir.to_path_buf(),
            url: String::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(url) = std::fs::read_to_string(&endpoint) {
                process.url = url.trim().to_string();
                return process;
            }
            if let Some(status) = process
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                panic!("census-collector serve exited early with {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "census-collector serve did not start within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.data_dir.join("ca.pem")
    }

    /// A new enrollment token with `max_uses` uses (`census-collector enroll-token create`).
    pub fn enroll_token(&self, max_uses: usize) -> String {
        enroll_token(&self.data_dir, max_uses)
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin.token"))
            .expect("admin.token")
            .trim()
            .to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a port in the collector URL")
    }

    /// `GET path` on the collector's API with the admin token, as JSON.
    pub fn api_get(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&self.api_get_text(path)).expect("JSON")
    }

    /// `GET path` on the collector's API with the admin token, as text (e.g. `/metrics`).
    pub fn api_get_text(&self, path: &str) -> String {
        let ca = std::fs::read(self.ca_file()).expect("ca.pem");
        let url = format!("{}{path}", self.url);
        let token = self.admin_token();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let client = reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("a CA certificate")])
                .build()
                .expect("an HTTPS client");
            let response = client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .expect("the collector answers");
            assert!(
                response.status().is_success(),
                "GET {url}: {}",
                response.status()
            );
            response.text().await.expect("a body")
        })
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(std::process::Child::id)
            .unwrap_or(0)
    }

    /// SIGTERM, then waits for a clean exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        signal(child.id(), rustix::process::Signal::TERM);
        child.wait().map(|status| status.success()).unwrap_or(false)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

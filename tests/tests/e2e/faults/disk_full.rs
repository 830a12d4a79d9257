//! A full disk under the collector: ingest answers 503 with Retry-After, agents keep their reports in
//! their spools, nothing acknowledged is lost, and once space returns ingest recovers by itself.
//!
//! "Full" is the collector's view: free space below its reserve (`[limits] min_free_disk_bytes`), the
//! point where it stops writing so that the storage engine never meets ENOSPC (sled cannot continue
//! after a failed log write; see `collector/src/disk_space.rs`). The filler leaves less than the
//! reserve, but not zero.
//!
//! The data dir is a small tmpfs mounted for the test (the tests run as root, locally and in CI); a
//! machine that forbids the mount fails the test with the reason, rather than skipping it silently.
//! [`Mount`] unmounts on drop, after the collector (declared later) has been killed.

use super::{
    Child, agent, agent_status, enroll, enroll_agent, enroll_token, machine_copy, renames, runtime,
    set_hostname, small_fleet,
};
use census_tests::CollectorProcess;
use census_tests::fleet::Outcome;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Room for a fresh collector's database and a few small reports, small enough to fill in a blink.
const TMPFS_SIZE: &str = "64m";
/// The collector's reserve in this test, and what the filler leaves free: less than the reserve.
const RESERVE: u64 = 16 << 20;
const LEFT_FREE: u64 = 4 << 20;

/// A tmpfs mounted at `path` for the test's lifetime.
struct Mount {
    path: PathBuf,
}

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("census-disk-full")
            .arg(path)
            .output()
            .expect("running mount");
        assert!(
            output.status.success(),
            "the disk-full test needs a small tmpfs as the collector's data dir, and mounting one \
             failed (run the tests as root, or in a container with CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Mount {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Free bytes on the file system holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let stat = rustix::fs::statvfs(path).expect("statvfs");
    stat.f_bavail * stat.f_frsize
}

/// Writes a filler file at `path` until at most `leave` bytes are free; returns the bytes written.
fn fill(path: &Path, leave: u64) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1u64 << 20, 4096] {
        let block = vec![0x5a_u8; chunk as usize];
        while free_bytes(path) > leave + chunk {
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            written += chunk;
        }
    }
    written
}

/// `census-agent once` on `root` with hostname `name`; bounded so a hung agent fails the test.
fn once(state: &Path, root: &Path, name: &str) -> Value {
    set_hostname(root, name);
    let mut command = agent(state, &["once"]);
    command.arg("--root").arg(root);
    let mut child = Child::spawn(
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let status = child
        .wait_timeout(Duration::from_secs(60))
        .expect("census-agent once finished within 60 s");
    assert!(status.success(), "census-agent once failed: {status}");
    agent_status(state)
}

#[test]
fn a_full_disk_answers_503_keeps_agents_spooling_and_recovers_by_itself() {
    full_disk("sled");
}

#[test]
fn a_full_disk_under_redb_answers_503_and_recovers_by_itself() {
    full_disk("redb");
}

/// The scenario on a data dir created with `init --engine ENGINE`.
fn full_disk(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mount = Mount::tmpfs(&dir.path().join("mnt"), TMPFS_SIZE);
    let data = mount.path.join("data");
    let filler = mount.path.join("filler");
    let state = dir.path().join("agent");
    let root = dir.path().join("machine");
    machine_copy(&root);
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!("[limits]\nmin_free_disk_bytes = {RESERVE}\n"),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap().to_string();
    CollectorProcess::init_with(&data, &["--engine", engine]);
    assert_eq!(
        data.join("census.redb").is_file(),
        engine == "redb",
        "the database of `init --engine {engine}`"
    );
    let mut collector = CollectorProcess::start_with(&data, &["--config", &config_arg]);
    let port = collector.port();
    enroll_agent(&collector, &data, &state);
    let runtime = runtime();
    let options = small_fleet(&collector, enroll_token(&data, 1), 1, 11);
    let mut sim = enroll(&runtime, &options).remove(0);

    // Before: both deliver.
    assert_eq!(
        once(&state, &root, "web-01")["last_report"]["outcome"],
        "delivered"
    );
    sim.bump();
    assert_eq!(
        runtime.block_on(sim.report_once()),
        Ok(Outcome::Applied { delta: false })
    );

    // Full. Writes that still fit in blocks the database already holds may succeed (and are then
    // durable: checked after the crash below); the first that needs a new block must be refused.
    let filled = fill(&filler, LEFT_FREE);
    let mut n_fitted = 0;
    let retry_after = loop {
        sim.upgrade_packages(usize::MAX);
        match runtime.block_on(sim.report_once()) {
            Ok(Outcome::Applied { .. }) => n_fitted += 1,
            Err(Some(retry_after)) => break retry_after,
            other => {
                panic!("a report on a full disk must be refused with Retry-After, got {other:?}")
            }
        }
        assert!(n_fitted < 200, "200 reports were stored on a full disk");
    };
    eprintln!(
        "disk full ({engine}): wrote {filled} bytes of filler; {n_fitted} report(s) still fitted, then 503 with \
         Retry-After {retry_after:?}"
    );
    assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
    let acked_before = sim.acked_hash().map(str::to_string);
    let refused = runtime.block_on(sim.report_once());
    assert!(matches!(refused, Err(Some(_))), "still full: {refused:?}");
    assert_eq!(sim.acked_hash(), acked_before.as_deref());
    for (name, spooled) in [("web-02", 1), ("web-03", 2)] {
        let status = once(&state, &root, name);
        assert_eq!(status["spool_reports"], spooled, "{status:#}");
        let detail = status["last_report"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("503"), "the agent saw why: {status:#}");
    }
    // The health check still answers (reads need no space).
    let health = collector.api_get("/healthz");
    assert!(health.is_object(), "{health}");

    // Space returns: ingest recovers without a restart, and the spool drains in order.
    std::fs::remove_file(&filler).unwrap();
    let mut answers = Vec::new();
    for _ in 0..50 {
        sim.bump();
        match runtime.block_on(sim.report_once()) {
            Ok(Outcome::Applied { .. }) => break,
            answer => answers.push(answer),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        answers.len() < 50,
        "ingest did not recover within 10 s of space returning: {answers:?}"
    );
    let status = once(&state, &root, "web-04");
    assert_eq!(status["spool_reports"], 0, "{status:#}");
    assert_eq!(status["last_report"]["outcome"], "delivered", "{status:#}");
    let acked_after = sim.acked_hash().map(str::to_string);

    // Nothing acknowledged is lost, even across a crash.
    collector.kill();
    let collector = CollectorProcess::start_on_with(&data, port, &["--config", &config_arg]);
    let assets = collector.api_get("/api/v1/assets?q=hostname%20~%20%22web-*%22");
    let items = assets["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{assets:#}");
    assert_eq!(items[0]["hostname"], "web-04");
    let ci = items[0]["id"].as_str().unwrap();
    assert_eq!(
        renames(&collector, ci),
        ["web-02", "web-03", "web-04"],
        "each spooled report once, in order"
    );
    let sim_assets = collector.api_get("/api/v1/assets?q=hostname%20~%20%22sim-*%22");
    let sim_ci = sim_assets["items"][0]["id"].as_str().unwrap();
    let detail = collector.api_get(&format!("/api/v1/assets/{sim_ci}"));
    let inventory: census_shared::inventory::Inventory =
        serde_json::from_value(detail["inventory"].clone()).unwrap();
    assert_eq!(
        Some(census_shared::hash::content_hash(&inventory)),
        acked_after
    );
    drop(collector);
    drop(mount);
}

//! `census-agent inventory` as a process: on this machine, and on fixture root trees whose whole
//! document is known.

use census_tests::{binary, describe, run_ok};
use serde_json::Value;
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

fn inventory(args: &[&str]) -> Value {
    let output = run_ok(
        Command::new(binary("census-agent"))
            .arg("inventory")
            .args(args),
    );
    serde_json::from_slice(&output.stdout).expect("the inventory is JSON")
}

#[test]
fn inventory_prints_a_versioned_json_document() {
    let document = inventory(&[]);
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["agent"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        document["collected_at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z'))
    );
    assert!(document["host"]["hostname"].is_string());
}

#[test]
fn pretty_output_is_the_same_document() {
    let compact = inventory(&["--root", &format!("{FIXTURES}/alpine")]);
    let pretty = inventory(&["--root", &format!("{FIXTURES}/alpine"), "--pretty"]);
    assert_eq!(normalised(compact), normalised(pretty));
}

/// The document with what differs between runs by design (time, agent version) fixed.
fn normalised(mut document: Value) -> Value {
    document["collected_at"] = "2026-01-01T00:00:00Z".into();
    document["agent"]["version"] = "test".into();
    document
}

/// `inventory --root tests/fixtures/<distro>` yields exactly `tests/fixtures/expected/<distro>.json`.
/// After a deliberate change, regenerate with `CENSUS_REGENERATE_FIXTURES=1` and review the diff.
fn check_fixture(distro: &str) {
    let root = format!("{FIXTURES}/{distro}");
    let mut actual = normalised(inventory(&["--root", &root]));
    if distro == "rhel" {
        // The RHEL tree's rpm database is read with the rpm command, which a machine may lack; the
        // packages test covers both cases, this one compares everything else.
        actual["software"]["packages"] = Value::Array(Vec::new());
        if let Some(errors) = actual["collection_errors"].as_array_mut() {
            errors.retain(|error| error["section"] != "software.packages.rpm");
        }
    }
    let expected_path = format!("{FIXTURES}/expected/{distro}.json");
    if std::env::var_os("CENSUS_REGENERATE_FIXTURES").is_some() {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&expected_path, text).unwrap();
    }
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    if actual != expected {
        let dir = tempfile::tempdir().unwrap();
        let actual_path = dir.path().join(format!("{distro}.json"));
        std::fs::write(&actual_path, serde_json::to_string_pretty(&actual).unwrap()).unwrap();
        let diff = Command::new("diff")
            .arg("-u")
            .arg(&expected_path)
            .arg(&actual_path)
            .output();
        let shown = diff
            .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
            .unwrap_or_default();
        panic!("inventory of {root} differs from {expected_path}:\n{shown}");
    }
}

#[test]
fn debian_fixture_yields_exactly_the_expected_document() {
    check_fixture("debian");
}

#[test]
fn ubuntu_fixture_yields_exactly_the_expected_document() {
    check_fixture("ubuntu");
}

#[test]
fn rhel_fixture_yields_exactly_the_expected_document() {
    check_fixture("rhel");
}

#[test]
fn alpine_fixture_yields_exactly_the_expected_document() {
    check_fixture("alpine");
}

#[test]
fn arch_fixture_yields_exactly_the_expected_document() {
    check_fixture("arch");
}

#[test]
fn a_root_that_is_not_a_directory_is_refused_with_a_clear_message() {
    let mut command = Command::new(binary("census-agent"));
    command.args(["inventory", "--root", "/nonexistent/census-root"]);
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{}", describe(&command, &output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a directory"),
        "{}",
        describe(&command, &output)
    );
}

#[test]
fn an_empty_root_gives_a_document_with_collection_errors_not_a_failure() {
    let empty = tempfile::tempdir().unwrap();
    let document = inventory(&["--root", empty.path().to_str().unwrap()]);
    assert!(document["host"]["hostname"].is_null());
    let sections: Vec<&str> = document["collection_errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["section"].as_str())
        .collect();
    for section in ["host.hostname", "os"] {
        assert!(
            sections.iter().any(|s| s.starts_with(section)),
            "no error for {section}: {sections:?}"
        );
    }
}

#[test]
fn an_ordinary_user_gets_an_inventory_with_what_needs_root_left_null() {
    let mut command = if rustix::process::geteuid().is_root() {
        // Drop to nobody, as an unprivileged user would run it.
        let mut setpriv = Command::new("setpriv");
        setpriv
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(binary("census-agent"));
        setpriv
    } else {
        Command::new(binary("census-agent"))
    };
    command.arg("inventory");
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", describe(&command, &output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("the inventory is JSON");
    assert!(
        document["host"]["hostname"].is_string(),
        "{}",
        describe(&command, &output)
    );
    assert!(
        !document["software"]["packages"]
            .as_array()
            .unwrap()
            .is_empty(),
        "packages are readable by anyone"
    );
    for error in document["collection_errors"].as_array().unwrap() {
        let text = error["error"].as_str().unwrap_or_default();
        assert!(
            !text.is_empty() && !text.contains("panicked"),
            "unhelpful error: {error}"
        );
    }
}

#[test]
fn version_and_every_subcommands_help_are_available() {
    let output = run_ok(Command::new(binary("census-agent")).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("census-agent {}", env!("CARGO_PKG_VERSION"))
    );
    for subcommand in [
        "inventory",
        "enroll",
        "run",
        "once",
        "status",
        "check-config",
    ] {
        let output = run_ok(Command::new(binary("census-agent")).args([subcommand, "--help"]));
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Usage: census-agent"), "{subcommand}: {help}");
    }
    for subcommand in [
        "quickstart",
        "init",
        "serve",
        "check-config",
        "enroll-token",
        "agent",
    ] {
        let output = run_ok(Command::new(binary("census-collector")).args([subcommand, "--help"]));
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.contains("Usage: census-collector"),
            "{subcommand}: {help}"
        );
    }
}

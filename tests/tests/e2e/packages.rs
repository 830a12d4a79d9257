//! `census-agent inventory`'s package list, checked against the package managers' own tools.

use census_tests::{binary, describe, run_ok};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

/// The inventory of `root` (the live machine when `None`).
fn inventory(root: Option<&str>) -> Value {
    let mut command = Command::new(binary("census-agent"));
    command.arg("inventory");
    if let Some(root) = root {
        command.arg("--root").arg(root);
    }
    let output = run_ok(&mut command);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", describe(&command, &output)))
}

fn packages<'a>(inventory: &'a Value, manager: &str) -> Vec<&'a Value> {
    inventory["software"]["packages"]
        .as_array()
        .expect("software.packages is a list")
        .iter()
        .filter(|package| package["manager"] == manager)
        .collect()
}

fn package_errors(inventory: &Value) -> Vec<&Value> {
    inventory["collection_errors"]
        .as_array()
        .expect("collection_errors is a list")
        .iter()
        .filter(|error| {
            error["section"]
                .as_str()
                .is_some_and(|section| section.starts_with("software.packages"))
        })
        .collect()
}

/// What dpkg-query lists in `admindir`: `name:arch version` of every installed package, how many of
/// those are `ii` (wanted and installed), and how many are installed another way (`hi` held, `ri` marked
/// for removal, `it`/`iW` waiting for triggers). The agent counts a package when its current state (the
/// second letter) is installed (`i`) or only waiting for triggers (`t`, `W`), whatever was wanted: a held
/// package is still on disk. Without holds or pending triggers that is exactly the `ii` lines.
fn dpkg_query_installed(admindir: Option<&str>) -> (BTreeSet<String>, usize, usize) {
    let mut command = Command::new("dpkg-query");
    if let Some(admindir) = admindir {
        command.arg(format!("--admindir={admindir}"));
    }
    command
        .arg("-W")
        .arg("-f")
        .arg("${db:Status-Abbrev}|${Package}:${Architecture} ${Version}\n");
    let output = command.output().unwrap_or_else(|error| {
        panic!(
            "dpkg-query cannot run ({error}): this test checks the agent against dpkg's own count and \
             needs a Debian-family machine with dpkg installed"
        )
    });
    assert!(output.status.success(), "{}", describe(&command, &output));
    let text = String::from_utf8(output.stdout).expect("dpkg-query prints UTF-8");
    let mut installed = BTreeSet::new();
    let (mut n_ii, mut n_other) = (0, 0);
    for line in text.lines() {
        let (abbrev, package) = line.split_once('|').expect("abbrev|package line");
        if !matches!(abbrev.chars().nth(1), Some('i' | 't' | 'W')) {
            continue;
        }
        if abbrev.starts_with("ii") {
            n_ii += 1;
        } else {
            n_other += 1;
        }
        installed.insert(package.to_string());
    }
    (installed, n_ii, n_other)
}

fn agent_dpkg(inventory: &Value) -> BTreeSet<String> {
    packages(inventory, "dpkg")
        .iter()
        .map(|p| {
            format!(
                "{}:{} {}",
                p["name"].as_str().unwrap(),
                p["arch"].as_str().unwrap_or(""),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_live_machine_has_as_many_dpkg_packages_as_dpkg_query_says() {
    let (expected, n_ii, n_other) = dpkg_query_installed(None);
    let inventory = inventory(None);
    assert_eq!(package_errors(&inventory), Vec::<&Value>::new());
    let listed = agent_dpkg(&inventory);
    assert_eq!(
        listed.len(),
        expected.len(),
        "dpkg-query: {n_ii} ii + {n_other} held or awaiting triggers; only in the agent: {:?}; \
         only in dpkg-query: {:?}",
        listed.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&listed).collect::<Vec<_>>()
    );
    assert_eq!(listed, expected);
    // This machine holds nothing and has no pending triggers: dpkg's `ii` lines are the whole list.
    assert_eq!(
        listed.len(),
        n_ii,
        "some packages are held or await triggers"
    );
}

#[test]
fn fixture_dpkg_databases_agree_with_dpkg_query_on_them() {
    for tree in ["debian", "ubuntu"] {
        let root = format!("{FIXTURES}/{tree}");
        let (expected, _, _) = dpkg_query_installed(Some(&format!("{root}/var/lib/dpkg")));
        let inventory = inventory(Some(&root));
        assert_eq!(package_errors(&inventory), Vec::<&Value>::new(), "{tree}");
        assert!(!expected.is_empty(), "{tree}");
        assert_eq!(agent_dpkg(&inventory), expected, "{tree}");
    }
}

#[test]
fn the_alpine_fixture_lists_its_apk_packages() {
    let root = format!("{FIXTURES}/alpine");
    let database = std::fs::read_to_string(format!("{root}/lib/apk/db/installed")).unwrap();
    let expected: BTreeSet<&str> = database
        .lines()
        .filter_map(|line| line.strip_prefix("P:"))
        .collect();
    let inventory = inventory(Some(&root));
    assert_eq!(package_errors(&inventory), Vec::<&Value>::new());
    let apk = packages(&inventory, "apk");
    let listed: BTreeSet<&str> = apk.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(listed, expected);
    assert_eq!(
        apk.len(),
        inventory["software"]["packages"].as_array().unwrap().len()
    );
    let musl = apk.iter().find(|p| p["name"] == "musl").unwrap();
    assert_eq!(musl["version"], "1.2.5-r0");
    assert_eq!(musl["arch"], "x86_64");
    assert_eq!(musl["installed_size_bytes"], 643072);
}

#[test]
fn the_arch_fixture_lists_its_pacman_packages_with_install_dates() {
    let inventory = inventory(Some(&format!("{FIXTURES}/arch")));
    assert_eq!(package_errors(&inventory), Vec::<&Value>::new());
    let pacman = packages(&inventory, "pacman");
    assert_eq!(pacman.len(), 6);
    let bash = pacman.iter().find(|p| p["name"] == "bash").unwrap();
    assert_eq!(bash["installed_at"], "2024-12-12T14:05:45Z");
}

#[test]
fn the_rhel_fixture_is_read_with_rpm_or_reported_as_needing_it() {
    let inventory = inventory(Some(&format!("{FIXTURES}/rhel")));
    let rpm = packages(&inventory, "rpm");
    if Command::new("rpm").arg("--version").output().is_ok() {
        assert_eq!(package_errors(&inventory), Vec::<&Value>::new());
        let names: BTreeSet<&str> = rpm.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            BTreeSet::from([
                "bash",
                "glibc",
                "glibc-langpack-en",
                "openssl-libs",
                "tzdata"
            ])
        );
    } else {
        assert!(rpm.is_empty());
        let errors = package_errors(&inventory);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0]["section"], "software.packages.rpm");
        assert!(
            errors[0]["error"]
                .as_str()
                .unwrap()
                .contains("the rpm command is not installed; install rpm"),
            "{errors:?}"
        );
    }
}

#[test]
fn a_damaged_database_is_a_collection_error_and_the_inventory_still_comes_out() {
    let dir = tempfile::tempdir().unwrap();
    let dpkg = dir.path().join("var/lib/dpkg");
    std::fs::create_dir_all(&dpkg).unwrap();
    std::fs::write(
        dpkg.join("status"),
        "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b8\n\nPackage: sed\nStatus: fine\n",
    )
    .unwrap();
    let inventory = inventory(Some(dir.path().to_str().unwrap()));
    assert!(packages(&inventory, "dpkg").is_empty());
    let errors = package_errors(&inventory);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["section"], "software.packages.dpkg");
    assert_eq!(
        errors[0]["error"],
        "/var/lib/dpkg/status line 6: unknown Status \"fine\"; the package database looks damaged, \
         check it with the package manager"
    );
}

//! Diff and apply: keyed-list patches, refusals, typed packages against the generic path, round trips.

use super::*;
use crate::inventory::{Disk, Package};
use proptest::prelude::*;

fn package(name: &str, version: &str) -> Package {
    Package {
        manager: "dpkg".into(),
        name: name.into(),
        version: version.into(),
        arch: Some("amd64".into()),
        ..Package::default()
    }
}

fn machine(packages: Vec<Package>) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = 1;
    inventory.host.hostname = Some("web-01".into());
    inventory.software.packages = packages;
    inventory.canonicalize();
    inventory
}

#[test]
fn an_upgrade_is_one_patch_with_one_removal_and_one_insertion() {
    let mut packages: Vec<_> = (0..1000)
        .map(|i| package(&format!("pkg{i:04}"), "1.0-1"))
        .collect();
    let old = machine(packages.clone());
    packages[10] = package("pkg0010", "1.1-1");
    let new = machine(packages);
    let delta = diff(&old, &new);
    assert_eq!(delta.ops.len(), 1);
    let DeltaOp::Patch {
        path,
        remove,
        upsert,
    } = &delta.ops[0]
    else {
        panic!("expected a patch")
    };
    assert_eq!(path, &["software", "packages"]);
    assert_eq!(
        remove,
        &[vec![
            Value::from("dpkg"),
            "pkg0010".into(),
            "amd64".into(),
            "1.0-1".into()
        ]]
    );
    assert_eq!(upsert.len(), 1);
    assert!(serde_json::to_vec(&delta).unwrap().len() < 300);
    assert_eq!(apply(&old, &delta).unwrap(), new);
}

#[test]
fn a_few_and_many_packages_removed_or_replaced_apply_alike() {
    // A few doomed packages are compared, many go through a set (`FEW_DOOMED`): both must patch
    // exactly the packages named, including one whose name matches but whose arch does not.
    let mut base: Vec<_> = (0..60)
        .map(|i| package(&format!("pkg{i:02}"), "1.0-1"))
        .collect();
    base.push(Package {
        arch: Some("i386".into()),
        ..package("pkg00", "1.0-1")
    });
    let old = machine(base.clone());
    for changed in [2, FEW_DOOMED, FEW_DOOMED + 1, 40] {
        let mut packages = base.clone();
        for package in packages.iter_mut().take(changed / 2) {
            package.version = "2.0-1".into();
        }
        packages.truncate(packages.len() - (changed - changed / 2));
        let new = machine(packages);
        let delta = diff(&old, &new);
        assert_eq!(
            apply(&old, &delta).unwrap(),
            new,
            "{changed} packages changed"
        );
    }
}

#[test]
fn an_upgrade_with_a_new_collection_time_keeps_the_rest_of_the_base() {
    let mut old = machine(vec![package("bash", "5.1"), package("curl", "7.88")]);
    old.collected_at = "2026-11-26T10:00:00Z".into();
    old.services = vec![crate::inventory::Service {
        name: "ssh.service".into(),
        ..Default::default()
    }];
    let mut new = old.clone();
    new.collected_at = "2026-11-26T11:00:00Z".into();
    new.software.packages[0] = package("bash", "5.2");
    let delta = diff(&old, &new);
    assert_eq!(delta.ops.len(), 2, "{delta:?}");
    assert_eq!(apply_owned(old.clone(), &delta).unwrap(), new);
    assert_eq!(apply_generic(&old, &delta).unwrap(), new);
}

#[test]
fn equal_documents_give_an_empty_delta() {
    let a = machine(vec![package("bash", "5.2")]);
    assert!(diff(&a, &a.clone()).ops.is_empty());
}

#[test]
fn a_patch_on_an_unkeyed_path_is_refused_with_the_paths_that_can_be_patched() {
    let delta = Delta {
        ops: vec![DeltaOp::Patch {
            path: vec!["host".into()],
            remove: vec![],
            upsert: vec![],
        }],
    };
    let error = apply(&Inventory::default(), &delta).unwrap_err();
    assert!(error.to_string().contains("software.packages"), "{error}");
}

#[test]
fn a_set_below_a_missing_object_is_refused() {
    let delta = Delta {
        ops: vec![DeltaOp::Set {
            path: vec!["nowhere".into(), "x".into()],
            value: Value::Null,
        }],
    };
    assert_eq!(
        apply(&Inventory::default(), &delta).unwrap_err(),
        DeltaError::MissingPath("nowhere.x".into())
    );
}

#[test]
fn a_set_that_breaks_the_schema_is_refused() {
    let delta = Delta {
        ops: vec![DeltaOp::Set {
            path: vec!["schema_version".into()],
            value: "one".into(),
        }],
    };
    assert!(matches!(
        apply(&Inventory::default(), &delta),
        Err(DeltaError::Invalid(_))
    ));
}

fn arbitrary_inventory() -> impl Strategy<Value = Inventory> {
    let packages = prop::collection::vec(("[a-e]{1,3}", "[0-2]\\.[0-2]"), 0..12);
    let disks = prop::collection::vec(("sd[a-c]", prop::option::of("[A-Z0-9]{4}")), 0..3);
    (
        prop::option::of("[a-z]{1,6}"),
        packages,
        disks,
        any::<Option<u64>>(),
        "2026-11-2[0-2]T00:00:00Z",
    )
        .prop_map(|(hostname, packages, disks, memory, collected_at)| {
            let mut inventory = machine(
                packages
                    .into_iter()
                    .map(|(name, version)| package(&name, &version))
                    .collect(),
            );
            inventory.collected_at = collected_at;
            inventory.host.hostname = hostname;
            inventory.hardware.memory.total_bytes = memory;
            inventory.hardware.disks = disks
                .into_iter()
                .map(|(name, serial)| Disk {
                    name,
                    serial,
                    ..Disk::default()
                })
                .collect();
            inventory.canonicalize();
            inventory
        })
}

/// The delta the generic JSON path gives, as a reference for the typed package path.
fn generic_diff(old: &Inventory, new: &Inventory) -> Delta {
    let mut ops = Vec::new();
    diff_value(&mut Vec::new(), &to_value(old), &to_value(new), &mut ops);
    Delta { ops }
}

fn sorted(mut delta: Delta) -> Vec<String> {
    let mut ops: Vec<String> = delta
        .ops
        .drain(..)
        .map(|op| serde_json::to_string(&op).unwrap())
        .collect();
    ops.sort();
    ops
}

#[test]
fn the_shell_is_the_document_without_its_packages() {
    let mut inventory = machine(vec![package("bash", "5.2"), package("curl", "7.88")]);
    inventory.hardware.disks = vec![Disk {
        name: "sda".into(),
        ..Disk::default()
    }];
    let mut without = inventory.clone();
    without.software.packages.clear();
    assert_eq!(shell(&inventory), to_value(&without));
}

#[test]
fn a_delta_touching_software_otherwise_takes_the_generic_path() {
    let base = machine(vec![package("bash", "5.2")]);
    let delta = Delta {
        ops: vec![DeltaOp::Set {
            path: vec!["software".into(), "packages".into()],
            value: serde_json::to_value(vec![package("zsh", "5.9")]).unwrap(),
        }],
    };
    let patched = apply(&base, &delta).unwrap();
    assert_eq!(patched.software.packages, vec![package("zsh", "5.9")]);
}

#[test]
fn a_package_upsert_of_the_wrong_shape_is_refused() {
    let base = machine(vec![package("bash", "5.2")]);
    let delta = Delta {
        ops: vec![DeltaOp::Patch {
            path: vec!["software".into(), "packages".into()],
            remove: vec![],
            upsert: vec![Value::from("not a package")],
        }],
    };
    assert!(matches!(apply(&base, &delta), Err(DeltaError::Invalid(_))));
}

proptest! {
    #[test]
    fn the_typed_package_path_gives_the_generic_delta_and_result(
        a in arbitrary_inventory(),
        b in arbitrary_inventory(),
    ) {
        let typed = diff(&a, &b);
        prop_assert_eq!(sorted(typed.clone()), sorted(generic_diff(&a, &b)));
        prop_assert_eq!(apply(&a, &typed).unwrap(), apply_generic(&a, &typed).unwrap());
    }

    #[test]
    fn two_documents_alike_but_for_packages_and_time_diff_as_the_generic_path_does(
        a in arbitrary_inventory(),
        other in arbitrary_inventory(),
    ) {
        // The struct comparison's fast path: only the packages and the collection time differ.
        let mut b = a.clone();
        b.software.packages = other.software.packages;
        b.collected_at = other.collected_at;
        let typed = diff(&a, &b);
        prop_assert_eq!(sorted(typed.clone()), sorted(generic_diff(&a, &b)));
        prop_assert_eq!(apply(&a, &typed).unwrap(), b);
    }

    #[test]
    fn applying_the_diff_of_two_documents_gives_the_second(
        a in arbitrary_inventory(),
        b in arbitrary_inventory(),
    ) {
        let delta = diff(&a, &b);
        prop_assert_eq!(apply(&a, &delta).unwrap(), b);
    }
}

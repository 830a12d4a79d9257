//! Full reports in the `known` form: package records named by digest, rebuilt from the records the
//! CMDB holds, checked against the report's content hash.

use super::*;
use crate::ingest::IngestError;
use census_shared::inventory::AsPackageRef;
use census_shared::package_digest::{PackageDigests, known_form, package_digest};
use census_shared::protocol::ReportOutcome;

fn header(agent: &str, seq: u64, inventory: &Inventory) -> ReportHeader {
    ReportHeader {
        epoch: 1,
        seq,
        report_id: format!("{agent}-{seq}"),
        hash: content_hash(inventory),
        collected_at: t(1),
    }
}

fn known(
    inventory: &Inventory,
    in_full: &[census_shared::package_digest::PackageDigest],
) -> ReportBody {
    known_form(inventory, in_full).into_body()
}

/// The inventory the CI fed by `outcome`'s report now holds.
fn stored_inventory(harness: &Harness, outcome: &crate::ingest::IngestOutcome) -> Inventory {
    let ci = outcome.ci.as_ref().and_then(|ci| ci.ci()).expect("a CI");
    harness.cmdb.get_asset(ci).unwrap().unwrap().inventory
}

/// A CMDB holding one machine's report, and a second machine with the same packages.
fn one_machine_reported() -> (tempfile::TempDir, Harness, Inventory) {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = Harness::new(&dir);
    harness.ci(
        "agt-1",
        &server("web-01", Some("SN1"), None, "m1", "aa:00:00:00:00:01"),
        &t(0),
    );
    let mut second = server("web-02", Some("SN2"), None, "m2", "aa:00:00:00:00:02");
    second.collected_at = t(1);
    second.canonicalize();
    (dir, harness, second)
}

#[test]
fn a_machine_whose_records_the_fleet_shares_is_stored_from_digests() {
    let (_dir, harness, second) = one_machine_reported();

    let outcome = harness
        .ingest
        .report(
            "agt-2",
            &header("agt-2", 1, &second),
            known(&second, &[]),
            &t(1),
        )
        .unwrap();
    assert_eq!(outcome.outcome, ReportOutcome::Applied);
    assert_eq!(outcome.hash, content_hash(&second));
    let stored = stored_inventory(&harness, &outcome);
    assert_eq!(stored.software.packages, second.software.packages);
    assert_eq!(content_hash(&stored), content_hash(&second));
}

#[test]
fn records_the_collector_lacks_are_asked_for_and_nothing_is_written_meanwhile() {
    let (_dir, harness, mut second) = one_machine_reported();

    second
        .software
        .packages
        .extend(packages(&[("nginx", "1.22")]));
    second.canonicalize();
    let nginx = second
        .software
        .packages
        .iter()
        .find(|p| p.name == "nginx")
        .unwrap();
    let nginx_digest = package_digest(&nginx.package_ref());
    let error = harness
        .ingest
        .report(
            "agt-2",
            &header("agt-2", 1, &second),
            known(&second, &[]),
            &t(1),
        )
        .unwrap_err();
    match error {
        IngestError::UnknownPackages { missing, held } => {
            assert_eq!(missing, PackageDigests(vec![nginx_digest]));
            assert_eq!(held, "");
        }
        other => panic!("expected unknown packages, got {other}"),
    }
    assert!(harness.ingest.state("agt-2").unwrap().is_none());
    assert_eq!(harness.n_cis(), 1);

    // Sent again with that record whole: applied, and the next machine may name it by digest.
    let outcome = harness
        .ingest
        .report(
            "agt-2",
            &header("agt-2", 1, &second),
            known(&second, &[nginx_digest]),
            &t(1),
        )
        .unwrap();
    assert_eq!(outcome.outcome, ReportOutcome::Applied);
    assert_eq!(harness.n_cis(), 2);
    assert!(harness.cmdb.resolve_packages(&[nginx_digest]).is_ok());
}

#[test]
fn a_digest_that_names_another_record_cannot_store_a_wrong_inventory() {
    let (_dir, harness, second) = one_machine_reported();

    // As if the agent's vim 9.1 record had the digest of the collector's vim 9.0 (a collision).
    let body = known(&second, &[]);
    let mut upgraded = second.clone();
    for package in &mut upgraded.software.packages {
        if package.name == "vim" {
            package.version = "9.1".into();
        }
    }
    let error = harness
        .ingest
        .report("agt-2", &header("agt-2", 1, &upgraded), body, &t(1))
        .unwrap_err();
    assert!(matches!(error, IngestError::HashMismatch { .. }), "{error}");
    assert_eq!(harness.n_cis(), 1);
}

#[test]
fn install_times_travel_beside_the_digests_and_land_on_this_machine_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = Harness::new(&dir);
    // rpm records when each package was installed: a per-machine value, not part of the record.
    let installed = |inventory: &mut Inventory, at: &str| {
        for package in &mut inventory.software.packages {
            package.installed_at = Some(at.to_string());
        }
    };
    let mut first = server("web-01", Some("SN1"), None, "m1", "aa:00:00:00:00:01");
    installed(&mut first, "2026-01-01T00:00:00Z");
    let first_ci = harness.ci("agt-1", &first, &t(0));

    let mut second = server("web-02", Some("SN2"), None, "m2", "aa:00:00:00:00:02");
    installed(&mut second, "2026-06-30T12:00:00Z");
    second.collected_at = t(1);
    second.canonicalize();
    let body = known(&second, &[]);
    let ReportBody::Known {
        inventory,
        known_packages,
        known_installed_at,
    } = &body
    else {
        unreachable!()
    };
    assert!(inventory.software.packages.is_empty());
    assert_eq!(known_installed_at.len(), known_packages.len());

    let outcome = harness
        .ingest
        .report("agt-2", &header("agt-2", 1, &second), body.clone(), &t(1))
        .unwrap();
    assert_eq!(outcome.hash, content_hash(&second));
    let stored = stored_inventory(&harness, &outcome);
    assert!(
        stored
            .software
            .packages
            .iter()
            .all(|p| p.installed_at.as_deref() == Some("2026-06-30T12:00:00Z"))
    );
    let untouched = harness
        .cmdb
        .get_asset(&first_ci)
        .unwrap()
        .unwrap()
        .inventory;
    assert!(
        untouched
            .software
            .packages
            .iter()
            .all(|p| p.installed_at.as_deref() == Some("2026-01-01T00:00:00Z"))
    );

    // One time too few: refused by name, nothing written.
    let ReportBody::Known {
        inventory,
        known_packages,
        mut known_installed_at,
    } = body
    else {
        unreachable!()
    };
    known_installed_at.pop();
    let short = ReportBody::Known {
        inventory,
        known_packages,
        known_installed_at,
    };
    let error = harness
        .ingest
        .report("agt-3", &header("agt-3", 1, &second), short, &t(1))
        .unwrap_err();
    assert!(error.to_string().contains("known_installed_at"), "{error}");
    assert!(harness.ingest.state("agt-3").unwrap().is_none());
}

#[test]
fn a_reinstalled_machine_in_the_known_form_attaches_to_its_ci_with_its_whole_inventory() {
    let (_dir, harness, _) = one_machine_reported();
    // The same server (serial SN1) reinstalled: a new agent and machine-id, a package more.
    let mut reinstalled = server("web-01", Some("SN1"), None, "m1-new", "aa:00:00:00:00:01");
    reinstalled.collected_at = t(1);
    reinstalled
        .software
        .packages
        .extend(packages(&[("nginx", "1.22")]));
    reinstalled.canonicalize();
    let nginx_digest = reinstalled
        .software
        .packages
        .iter()
        .find(|package| package.name == "nginx")
        .map(|package| package_digest(&package.package_ref()))
        .unwrap();

    let outcome = harness
        .ingest
        .report(
            "agt-9",
            &header("agt-9", 1, &reinstalled),
            known(&reinstalled, &[nginx_digest]),
            &t(1),
        )
        .unwrap();
    assert!(
        matches!(&outcome.ci, Some(CiOutcome::Attached { ci, .. }) if ci == "ci-000001"),
        "{outcome:?}"
    );
    assert_eq!(harness.n_cis(), 1);
    assert_eq!(stored_inventory(&harness, &outcome), reinstalled);
}

#[test]
fn a_known_report_that_opens_an_identity_conflict_is_kept_whole_while_it_waits() {
    let (_dir, mut harness, _) = one_machine_reported();
    // A second CI; then a machine whose serial names the first and whose machine-id and MAC name
    // the second.
    harness.ci(
        "agt-2",
        &server("web-02", None, None, "m2", "aa:00:00:00:00:02"),
        &t(0),
    );
    let mut confused = server("web-02", Some("SN1"), None, "m2", "aa:00:00:00:00:02");
    confused.collected_at = t(1);
    confused.canonicalize();

    let outcome = harness
        .ingest
        .report(
            "agt-x",
            &header("agt-x", 1, &confused),
            known(&confused, &[]),
            &t(1),
        )
        .unwrap();
    assert!(
        matches!(outcome.ci, Some(CiOutcome::Conflict { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        harness.cmdb.unattached_inventory("agt-x").unwrap(),
        Some(confused)
    );
}

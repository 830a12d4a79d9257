//! Reporter decisions against a fake collector that follows the protocol (check-in, delta, full,
//! replay protection) and can be told to fail.

use super::*;
use crate::spool::Spool;
use census_shared::inventory::{AsPackageRef, Package};
use census_shared::package_digest::{PackageDigest, package_digest};
use census_shared::protocol::{CheckIn, ReportResponse};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A collector in memory: what it holds, what it was sent, and failures to inject.
#[derive(Default)]
struct FakeCollector {
    inner: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    held: Option<(String, Inventory)>,
    last: (u64, u64),
    /// Injected failures, consumed one per request before normal behaviour.
    failures: VecDeque<TransportError>,
    /// Injected failures of report requests only (the check-in passes).
    report_failures: VecDeque<TransportError>,
    /// When set, every request fails this way (the collector is down).
    down: bool,
    /// Every request: "checkin <seq>", "delta <seq>", "full <seq>", "known <seq>".
    log: Vec<String>,
    /// The package records of every inventory applied so far, by digest (for `known` reports).
    records: HashMap<PackageDigest, Package>,
    /// Answer `known` reports as a collector that predates them does (400).
    refuse_known: bool,
    /// The last `known` body applied: (packages sent whole, packages named by digest).
    last_known: Option<(usize, usize)>,
    /// The last delta received.
    last_delta: Option<delta::Delta>,
    check_in_bytes: Vec<usize>,
}

fn unreachable() -> TransportError {
    TransportError::Unreachable {
        url: "https://127.0.0.1:1".into(),
        message: "connection refused".into(),
    }
}

fn api(status: u16, code: &str, retry_after: Option<Duration>) -> TransportError {
    TransportError::Api {
        status,
        code: Some(code.into()),
        message: "fake".into(),
        retry_after,
    }
}

impl FakeCollector {
    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap()
    }

    fn fail(&self, state: &mut FakeState) -> Option<TransportError> {
        if state.down {
            return Some(unreachable());
        }
        state.failures.pop_front()
    }

    fn log(&self) -> Vec<String> {
        std::mem::take(&mut self.state().log)
    }
}

impl Transport for FakeCollector {
    async fn check_in(&self, check_in: &CheckIn) -> Result<CheckInResponse, TransportError> {
        let mut state = self.state();
        state.log.push(format!("checkin {}", check_in.header.seq));
        state
            .check_in_bytes
            .push(serde_json::to_vec(check_in).unwrap().len());
        if let Some(error) = self.fail(&mut state) {
            return Err(error);
        }
        let header = &check_in.header;
        if state.held.is_some() && (header.epoch, header.seq) <= state.last {
            return Ok(CheckInResponse::Duplicate);
        }
        match &state.held {
            Some((hash, _)) if *hash == header.hash => {
                state.last = (header.epoch, header.seq);
                Ok(CheckInResponse::Unchanged)
            }
            held => Ok(CheckInResponse::SendReport {
                base_hash: held.as_ref().map(|(hash, _)| hash.clone()),
            }),
        }
    }

    async fn report(&self, report: &Report) -> Result<ReportResponse, TransportError> {
        let mut state = self.state();
        let kind = match report.body {
            ReportBody::Full { .. } => "full",
            ReportBody::Delta { .. } => "delta",
            ReportBody::Known { .. } => "known",
        };
        state.log.push(format!("{kind} {}", report.header.seq));
        if let Some(error) = self.fail(&mut state) {
            return Err(error);
        }
        if let Some(error) = state.report_failures.pop_front() {
            return Err(error);
        }
        if state.refuse_known && kind == "known" {
            return Err(api(400, "invalid_report", None));
        }
        let header = &report.header;
        if let Some((hash, _)) = &state.held
            && (header.epoch, header.seq) <= state.last
        {
            let hash = hash.clone();
            return Ok(ReportResponse {
                outcome: ReportOutcome::Duplicate,
                hash,
                missing_packages: None,
            });
        }
        let inventory =
            match &report.body {
                ReportBody::Full { inventory } => (**inventory).clone(),
                ReportBody::Delta { base_hash, delta } => match &state.held.clone() {
                    Some((hash, base)) if hash == base_hash => {
                        state.last_delta = Some(delta.clone());
                        delta::apply(base, delta).unwrap()
                    }
                    _ => return Err(api(409, error_code::BASE_MISMATCH, None)),
                },
                ReportBody::Known {
                    inventory,
                    known_packages,
                    known_installed_at,
                } => {
                    let missing: Vec<PackageDigest> = known_packages
                        .0
                        .iter()
                        .filter(|digest| !state.records.contains_key(digest))
                        .copied()
                        .collect();
                    if !missing.is_empty() {
                        return Ok(ReportResponse {
                            outcome: ReportOutcome::NeedPackages,
                            hash: String::new(),
                            missing_packages: Some(PackageDigests(missing)),
                        });
                    }
                    state.last_known =
                        Some((inventory.software.packages.len(), known_packages.len()));
                    let mut whole = (**inventory).clone();
                    let times = known_installed_at
                        .iter()
                        .cloned()
                        .chain(std::iter::repeat(None));
                    whole
                        .software
                        .packages
                        .extend(known_packages.0.iter().zip(times).map(
                            |(digest, installed_at)| Package {
                                installed_at,
                                ..state.records[digest].clone()
                            },
                        ));
                    whole.canonicalize();
                    whole
                }
            };
        let hash = content_hash(&inventory);
        if hash != header.hash {
            return Err(api(409, error_code::HASH_MISMATCH, None));
        }
        for package in &inventory.software.packages {
            let mut record = package.clone();
            record.installed_at = None;
            state
                .records
                .insert(package_digest(&package.package_ref()), record);
        }
        state.held = Some((hash.clone(), inventory));
        state.last = (header.epoch, header.seq);
        Ok(ReportResponse {
            outcome: ReportOutcome::Applied,
            hash,
            missing_packages: None,
        })
    }
}

fn machine(n_packages: usize) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = 1;
    inventory.collected_at = "2026-11-26T22:15:05Z".into();
    inventory.host.hostname = Some("web-01".into());
    for index in 0..n_packages {
        inventory
            .software
            .packages
            .push(serde_json::from_value(serde_json::json!({
                "manager": "dpkg", "name": format!("pkg{index:04}"), "version": "1.0", "arch": "amd64"
            })).unwrap());
    }
    inventory.canonicalize();
    inventory
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: StateDir,
    spool: Spool,
    collector: FakeCollector,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let spool = Spool::new(dir.path(), 100, u64::MAX);
        Self {
            _dir: dir,
            state,
            spool,
            collector: FakeCollector::default(),
        }
    }

    fn reporter(&self) -> Reporter<'_, FakeCollector> {
        Reporter {
            transport: &self.collector,
            state: &self.state,
            spool: &self.spool,
        }
    }

    fn spooled_seqs(&self) -> Vec<u64> {
        self.spool
            .entries()
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn the_first_report_is_full_then_unchanged_is_a_small_check_in_only() {
    let fx = Fixture::new();
    block_on(async {
        let first = fx.reporter().report(machine(50)).await.unwrap();
        assert!(matches!(
            first.delivery,
            Some(Delivery::Applied {
                form: Form::Full,
                ..
            })
        ));
        // Nothing is known to this collector yet: it asks for every record, so the full form follows.
        assert_eq!(fx.collector.log(), vec!["checkin 1", "known 1", "full 1"]);

        let second = fx.reporter().report(machine(50)).await.unwrap();
        assert!(matches!(
            second.delivery,
            Some(Delivery::Done(Done::Unchanged))
        ));
        assert_eq!(fx.collector.log(), vec!["checkin 2"]);
    });
    assert!(
        fx.collector
            .state()
            .check_in_bytes
            .iter()
            .all(|n| *n <= 512)
    );
    assert_eq!(
        fx.state.last_report().unwrap().unwrap().outcome,
        "unchanged"
    );
}

#[test]
fn a_change_is_sent_as_a_delta_against_the_acknowledged_inventory() {
    let fx = Fixture::new();
    block_on(async {
        fx.reporter().report(machine(50)).await.unwrap();
        fx.collector.log();
        let changed = fx.reporter().report(machine(51)).await.unwrap();
        assert!(matches!(
            changed.delivery,
            Some(Delivery::Applied {
                form: Form::Delta,
                ..
            })
        ));
        // The inventory changed since the acknowledged one: no check-in, the delta names its base.
        assert_eq!(fx.collector.log(), vec!["delta 2"]);
    });
    assert_eq!(fx.state.acked().unwrap().inventory, machine(51));
}

#[test]
fn a_collector_that_lost_the_base_gets_the_full_inventory_after_the_delta() {
    let fx = Fixture::new();
    block_on(async {
        fx.reporter().report(machine(5)).await.unwrap();
        // The collector's database was restored from an older backup: it holds nothing for us.
        fx.collector.state().held = None;
        fx.collector.state().last = (0, 0);
        fx.collector.log();
        let result = fx.reporter().report(machine(6)).await.unwrap();
        assert!(matches!(
            result.delivery,
            Some(Delivery::Applied {
                form: Form::Known,
                ..
            })
        ));
        // The whole inventory follows in the `known` form: the one new record is asked for, then sent.
        assert_eq!(fx.collector.log(), vec!["delta 2", "known 2", "known 2"]);
        // And unchanged from then on: one check-in.
        fx.reporter().report(machine(6)).await.unwrap();
        assert_eq!(fx.collector.log(), vec!["checkin 3"]);
    });
    assert_eq!(fx.state.acked().unwrap().inventory, machine(6));
}

#[test]
fn a_base_mismatch_is_answered_with_the_full_inventory() {
    let fx = Fixture::new();
    block_on(async {
        fx.reporter().report(machine(5)).await.unwrap();
        fx.collector.log();
        // The collector's copy changed under the same name: the delta applies but hashes wrong.
        fx.collector.state().held.as_mut().unwrap().1.host.hostname = Some("rebuilt".into());
        let result = fx.reporter().report(machine(6)).await.unwrap();
        assert!(matches!(
            result.delivery,
            Some(Delivery::Applied {
                form: Form::Known,
                ..
            })
        ));
        assert_eq!(fx.collector.log(), vec!["delta 2", "known 2", "known 2"]);

        // The collector moved on to a base the agent does not know.
        fx.collector
            .state()
            .report_failures
            .push_back(api(409, error_code::BASE_MISMATCH, None));
        let result = fx.reporter().report(machine(7)).await.unwrap();
        assert!(matches!(
            result.delivery,
            Some(Delivery::Applied {
                form: Form::Known,
                ..
            })
        ));
        assert_eq!(fx.collector.log(), vec!["delta 3", "known 3", "known 3"]);
    });
}

#[test]
fn without_a_matching_base_the_report_is_full() {
    let fx = Fixture::new();
    block_on(async {
        fx.reporter().report(machine(5)).await.unwrap();
        fx.state.clear_acked().unwrap();
        fx.collector.log();
        fx.reporter().report(machine(6)).await.unwrap();
        assert_eq!(fx.collector.log(), vec!["checkin 2", "known 2", "known 2"]);
    });
}

#[test]
fn an_unreachable_collector_spools_and_recovery_delivers_in_order() {
    let fx = Fixture::new();
    block_on(async {
        fx.collector.state().down = true;
        for n in 1..=3 {
            let result = fx.reporter().report(machine(n)).await.unwrap();
            assert!(!result.delivered());
            assert!(matches!(
                result.stopped,
                Some(Delivery::Retry { after: None, .. })
            ));
        }
        assert_eq!(fx.spooled_seqs(), vec![1, 2, 3]);
        assert_eq!(fx.state.last_report().unwrap().unwrap().outcome, "spooled");
        fx.collector.log();

        fx.collector.state().down = false;
        let result = fx.reporter().report(machine(4)).await.unwrap();
        assert!(result.delivered(), "{result:?}");
        assert_eq!(result.n_delivered_from_spool, 4);
        assert_eq!(result.n_spooled, 0);
        assert_eq!(
            fx.collector.log(),
            vec![
                "checkin 1",
                "known 1",
                "full 1",
                "delta 2",
                "delta 3",
                "delta 4"
            ]
        );
    });
    assert_eq!(fx.collector.state().held.as_ref().unwrap().1, machine(4));
    assert!(fx.spooled_seqs().is_empty());
}

#[test]
fn a_replayed_report_answered_duplicate_leaves_the_spool() {
    let fx = Fixture::new();
    block_on(async {
        // The report reaches the collector, but the answer is lost, so the agent spools it again.
        fx.reporter().report(machine(1)).await.unwrap();
        let spooled = PendingReport {
            header: ReportHeader {
                epoch: fx.state.sequence().unwrap().unwrap().epoch,
                seq: 1,
                report_id: "retry".into(),
                hash: content_hash(&machine(1)),
                collected_at: String::new(),
            },
            inventory: machine(1),
        };
        fx.spool.push(&spooled).unwrap();
        fx.collector.log();
        let result = fx.reporter().drain().await.unwrap();
        assert!(matches!(
            result.delivery,
            Some(Delivery::Done(Done::Duplicate))
        ));
        assert_eq!(fx.collector.log(), vec!["checkin 1"]);
    });
    assert!(fx.spooled_seqs().is_empty());
}

#[test]
fn rate_limiting_keeps_the_report_and_passes_retry_after_on() {
    let fx = Fixture::new();
    block_on(async {
        fx.collector.state().failures.push_back(api(
            429,
            error_code::RATE_LIMITED,
            Some(Duration::from_secs(42)),
        ));
        let result = fx.reporter().report(machine(1)).await.unwrap();
        assert_eq!(result.retry_after(), Some(Duration::from_secs(42)));
        assert_eq!(fx.spooled_seqs(), vec![1]);
        let result = fx.reporter().drain().await.unwrap();
        assert!(result.delivery.as_ref().is_some_and(Delivery::is_delivered));
        assert!(fx.spooled_seqs().is_empty());
    });
}

#[test]
fn a_pending_agent_keeps_its_reports_and_a_revoked_one_is_blocked() {
    let fx = Fixture::new();
    block_on(async {
        fx.collector
            .state()
            .failures
            .push_back(api(403, error_code::AGENT_PENDING, None));
        let result = fx.reporter().report(machine(1)).await.unwrap();
        assert!(matches!(result.stopped, Some(Delivery::Retry { .. })));
        fx.collector
            .state()
            .failures
            .push_back(api(403, error_code::AGENT_REVOKED, None));
        let result = fx.reporter().report(machine(2)).await.unwrap();
        let error = result.blocked().expect("revocation needs a person");
        assert_eq!(error.code(), Some(error_code::AGENT_REVOKED));
    });
    assert_eq!(fx.spooled_seqs(), vec![1, 2]);
}

#[test]
fn a_rejected_report_is_quarantined_and_does_not_block_the_next() {
    let fx = Fixture::new();
    block_on(async {
        fx.collector.state().down = true;
        fx.reporter().report(machine(1)).await.unwrap();
        fx.collector.state().down = false;
        // Report 1's check-in passes, then the report itself is refused as invalid: in the `known`
        // form (which an older collector would refuse too, so the full form follows) and in full.
        for _ in 0..2 {
            fx.collector
                .state()
                .report_failures
                .push_back(api(400, "invalid_report", None));
        }
        let result = fx.reporter().report(machine(2)).await.unwrap();
        assert!(result.delivered(), "{result:?}");
    });
    assert!(fx.spooled_seqs().is_empty());
    assert!(
        fx.spool
            .dir()
            .join(crate::spool::QUARANTINE_DIR)
            .join(crate::spool::file_name(
                fx.state.sequence().unwrap().unwrap().epoch,
                1
            ))
            .exists()
    );
}

#[test]
fn a_whole_report_names_the_records_the_collector_holds_by_digest() {
    let fx = Fixture::new();
    block_on(async {
        // Another machine of the fleet reported these packages: every record is known.
        fx.reporter().report(machine(6)).await.unwrap();
        fx.state.clear_acked().unwrap();
        fx.collector.state().held = None;
        fx.collector.log();
        let mut renamed = machine(6);
        renamed.host.hostname = Some("web-02".into());
        let result = fx.reporter().report(renamed).await.unwrap();
        assert!(result.delivered(), "{result:?}");
        assert_eq!(fx.collector.log(), vec!["checkin 2", "known 2"]);
    });
    // No package went whole; six went as 6-byte digests.
    assert_eq!(fx.collector.state().last_known, Some((0, 6)));
}

#[test]
fn precomputed_bodies_are_sent_when_they_match_and_computed_when_not() {
    let fx = Fixture::new();
    block_on(async {
        fx.reporter().report(machine(5)).await.unwrap();
    });
    let acked = fx.state.acked().unwrap();
    let epoch = fx.state.sequence().unwrap().unwrap().epoch;
    let report = |seq: u64, inventory: Inventory| PendingReport {
        header: ReportHeader {
            epoch,
            seq,
            report_id: format!("r-{seq}"),
            hash: content_hash(&inventory),
            collected_at: inventory.collected_at.clone(),
        },
        inventory,
    };
    // A delta prepared for the acknowledged base goes out as it is (the upserts diff would give,
    // listed in another order, so the collector's copy shows which one was sent).
    let mut value = serde_json::to_value(delta::diff(&acked.inventory, &machine(7))).unwrap();
    let upserts = value["ops"][0]["upsert"].as_array_mut().unwrap();
    assert_eq!(upserts.len(), 2);
    upserts.reverse();
    let prepared: delta::Delta = serde_json::from_value(value).unwrap();
    let bodies = Precomputed {
        delta: Some((acked.hash.clone(), prepared.clone())),
        known: None,
    };
    let delivery = block_on(deliver_precomputed(
        &fx.collector,
        &report(2, machine(7)),
        Some(&acked),
        &bodies,
    ));
    assert!(delivery.is_delivered(), "{delivery:?}");
    assert_eq!(fx.collector.state().last_delta, Some(prepared));

    // Prepared for another base: ignored, the delta is computed from the acknowledged inventory.
    let acked = Acked {
        hash: content_hash(&machine(7)),
        inventory: machine(7),
    };
    let stale = Precomputed {
        delta: Some(("f".repeat(64), delta::Delta { ops: Vec::new() })),
        known: None,
    };
    let delivery = block_on(deliver_precomputed(
        &fx.collector,
        &report(3, machine(8)),
        Some(&acked),
        &stale,
    ));
    assert!(delivery.is_delivered(), "{delivery:?}");
    assert_eq!(
        fx.collector.state().last_delta,
        Some(delta::diff(&machine(7), &machine(8)))
    );
}

#[test]
fn install_times_go_beside_the_digests() {
    let fx = Fixture::new();
    let installed_on = |at: &str| {
        let mut inventory = machine(4);
        for package in &mut inventory.software.packages {
            package.installed_at = Some(at.to_string());
        }
        inventory
    };
    block_on(async {
        fx.reporter()
            .report(installed_on("2026-01-01T00:00:00Z"))
            .await
            .unwrap();
        fx.state.clear_acked().unwrap();
        fx.collector.state().held = None;
        fx.collector.log();
        // The same records installed at another time (another machine of the fleet, or a reinstall).
        let result = fx
            .reporter()
            .report(installed_on("2026-06-30T12:00:00Z"))
            .await
            .unwrap();
        assert!(result.delivered(), "{result:?}");
        assert_eq!(fx.collector.log(), vec!["checkin 2", "known 2"]);
    });
    assert_eq!(fx.collector.state().last_known, Some((0, 4)));
    // The collector rebuilt the document with this machine's times: it hashed as the header said.
    assert_eq!(
        fx.collector.state().held.as_ref().unwrap().1,
        installed_on("2026-06-30T12:00:00Z")
    );
}

#[test]
fn a_collector_that_predates_the_known_form_gets_the_full_form() {
    let fx = Fixture::new();
    fx.collector.state().refuse_known = true;
    block_on(async {
        fx.reporter().report(machine(3)).await.unwrap();
        fx.state.clear_acked().unwrap();
        fx.collector.log();
        let result = fx.reporter().report(machine(4)).await.unwrap();
        assert!(matches!(
            result.delivery,
            Some(Delivery::Applied {
                form: Form::Full,
                ..
            })
        ));
        assert_eq!(fx.collector.log(), vec!["checkin 2", "known 2", "full 2"]);
    });
    assert_eq!(fx.state.acked().unwrap().inventory, machine(4));
}

#[test]
fn failures_are_classified() {
    assert_eq!(
        classify(&unreachable(), Form::Full),
        Failure::Retry { after: None }
    );
    assert_eq!(
        classify(
            &api(503, error_code::UNAVAILABLE, Some(Duration::from_secs(5))),
            Form::Full
        ),
        Failure::Retry {
            after: Some(Duration::from_secs(5))
        }
    );
    assert_eq!(
        classify(&api(409, error_code::BASE_MISMATCH, None), Form::Delta),
        Failure::ResendFull
    );
    assert_eq!(
        classify(&api(409, error_code::HASH_MISMATCH, None), Form::Known),
        Failure::ResendFull
    );
    // An older collector refuses the `known` form as an invalid body; a full one it takes.
    assert_eq!(
        classify(&api(400, "invalid_report", None), Form::Known),
        Failure::ResendFull
    );
    assert_eq!(
        classify(&api(409, error_code::HASH_MISMATCH, None), Form::Full),
        Failure::Rejected
    );
    assert_eq!(
        classify(&api(401, error_code::UNAUTHENTICATED, None), Form::Full),
        Failure::Blocked
    );
    assert_eq!(
        classify(&api(400, "invalid_report", None), Form::Full),
        Failure::Rejected
    );
}

#[test]
fn check_in_answers_plan_the_report() {
    let acked = Acked {
        hash: "a".repeat(64),
        inventory: machine(1),
    };
    let send = |base: Option<&str>| CheckInResponse::SendReport {
        base_hash: base.map(str::to_string),
    };
    assert_eq!(
        plan_after_check_in(&CheckInResponse::Unchanged, Some(&acked)),
        Plan::Done(Done::Unchanged)
    );
    assert_eq!(
        plan_after_check_in(&CheckInResponse::Duplicate, None),
        Plan::Done(Done::Duplicate)
    );
    assert_eq!(
        plan_after_check_in(&send(Some(&"a".repeat(64))), Some(&acked)),
        Plan::SendDelta {
            base_hash: "a".repeat(64)
        }
    );
    assert_eq!(
        plan_after_check_in(&send(Some(&"b".repeat(64))), Some(&acked)),
        Plan::SendFull
    );
    assert_eq!(
        plan_after_check_in(&send(None), Some(&acked)),
        Plan::SendFull
    );
    // Before any check-in: only a changed inventory with an acknowledged base skips it.
    assert_eq!(
        plan_before_check_in(&"b".repeat(64), Some(&acked)),
        Some(Plan::SendDelta {
            base_hash: "a".repeat(64)
        })
    );
    assert_eq!(plan_before_check_in(&"a".repeat(64), Some(&acked)), None);
    assert_eq!(plan_before_check_in(&"b".repeat(64), None), None);
    assert_eq!(
        plan_after_check_in(&send(Some(&"a".repeat(64))), None),
        Plan::SendFull
    );
}

//! The unauthorized-change flags a report raises are written in the report's own commit: a report is
//! never stored without its flags, nor flags without their report.

use super::*;
use crate::itsm::unauthorized::{FlagFilter, list_unauthorized};
use crate::store::intercepted::{Intercept, Intercepted};
use crate::store::{Batch, Store, StoreError, StoreResult};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counts commits, and refuses them while `refuse` is set.
#[derive(Default)]
struct Tripwire {
    commits: AtomicUsize,
    refuse: AtomicBool,
}

impl Intercept for Tripwire {
    fn before_commit(&self, _: &Batch) -> StoreResult<()> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(StoreError::DiskFull);
        }
        Ok(())
    }
    fn after_commit(&self) {
        self.commits.fetch_add(1, Ordering::SeqCst);
    }
}

type Watched = Intercepted<SledStore, Tripwire>;

fn flags(store: &dyn Store) -> Vec<(String, String, String)> {
    list_unauthorized(store, &FlagFilter::default(), None, 100)
        .unwrap()
        .items
        .into_iter()
        .map(|flag| (flag.id, flag.ci, flag.change.subject))
        .collect()
}

/// A harness over a [`Tripwire`], its first report applied; and the same machine after two upgrades.
fn reported(dir: &tempfile::TempDir) -> (Arc<Watched>, Harness, String, Inventory) {
    let store = Arc::new(Intercepted {
        inner: SledStore::open(&dir.path().join("db")).unwrap(),
        intercept: Tripwire::default(),
    });
    let mut harness = Harness::over(store.clone(), config());
    let machine = server("db-01", Some("SN1"), None, "m1", "aa:00:00:00:00:01");
    let ci = harness.ci("agt-1", &machine, &t(0));
    let mut upgraded = machine;
    upgraded.software.packages =
        packages(&[("openssl", "3.0.13"), ("curl", "8.5"), ("vim", "9.0")]);
    (store, harness, ci, upgraded)
}

#[test]
fn a_reports_flags_are_committed_with_it_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut harness, ci, upgraded) = reported(&dir);
    let before = store.intercept.commits.load(Ordering::SeqCst);
    harness.report("agt-1", &upgraded, &t(10));
    assert_eq!(
        store.intercept.commits.load(Ordering::SeqCst) - before,
        1,
        "the report and its flags take one commit"
    );
    let mut raised = flags(store.as_ref());
    raised.sort();
    assert_eq!(
        raised,
        vec![
            ("UAC-000001".into(), ci.clone(), "curl:amd64".into()),
            ("UAC-000002".into(), ci, "openssl:amd64".into()),
        ]
    );
}

#[test]
fn a_report_whose_commit_fails_leaves_no_flag_and_its_retry_raises_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, harness, ci, upgraded) = reported(&dir);
    store.intercept.refuse.store(true, Ordering::SeqCst);
    let seq = harness.seqs["agt-1"] + 1;
    let mut inventory = upgraded.clone();
    inventory.collected_at = t(10);
    inventory.canonicalize();
    let header = ReportHeader {
        epoch: 1,
        seq,
        report_id: format!("agt-1-{seq}"),
        hash: content_hash(&inventory),
        collected_at: t(10),
    };
    let body = || ReportBody::Full {
        inventory: Box::new(inventory.clone()),
    };
    let refused = harness.ingest.report("agt-1", &header, body(), &t(10));
    assert!(refused.is_err(), "{refused:?}");
    assert!(flags(store.as_ref()).is_empty());

    // The ITSM write lock was released with the failed commit, and no flag number was used up.
    store.intercept.refuse.store(false, Ordering::SeqCst);
    harness
        .ingest
        .report("agt-1", &header, body(), &t(11))
        .unwrap();
    let mut raised = flags(store.as_ref());
    raised.sort();
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert_eq!(raised[0], ("UAC-000001".into(), ci, "curl:amd64".into()));
}

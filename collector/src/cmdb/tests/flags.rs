//! The unauthorized-change flags a report raises are written in the report's own commit: a report is
//! never stored without its flags, nor flags without their report.

use super::*;
use crate::itsm::unauthorized::{FlagFilter, list_unauthorized};
use crate::store::{Batch, Entry, Store, StoreError, StoreResult};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A sled store that counts commits and refuses them while `refuse` is set.
struct Tripwire {
    inner: SledStore,
    commits: AtomicUsize,
    refuse: AtomicBool,
}

impl Store for Tripwire {
    fn get(&self, space: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(space, key)
    }
    fn range(
        &self,
        space: &'static str,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<Entry>> + Send + '_> {
        self.inner.range(space, from, to, reverse)
    }
    fn commit(&self, batch: Batch) -> StoreResult<()> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(StoreError::DiskFull);
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(batch)
    }
    fn flush(&self) -> StoreResult<()> {
        self.inner.flush()
    }
    fn generate_id(&self) -> StoreResult<u64> {
        self.inner.generate_id()
    }
    fn size_on_disk(&self) -> StoreResult<u64> {
        self.inner.size_on_disk()
    }
}

fn flags(store: &dyn Store) -> Vec<(String, String, String)> {
    list_unauthorized(store, &FlagFilter::default(), None, 100)
        .unwrap()
        .items
        .into_iter()
        .map(|flag| (flag.id, flag.ci, flag.change.subject))
        .collect()
}

/// A harness over a [`Tripwire`], its first report applied; and the same machine after two upgrades.
fn reported(dir: &tempfile::TempDir) -> (Arc<Tripwire>, Harness, String, Inventory) {
    let store = Arc::new(Tripwire {
        inner: SledStore::open(&dir.path().join("db")).unwrap(),
        commits: AtomicUsize::new(0),
        refuse: AtomicBool::new(false),
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
    let before = store.commits.load(Ordering::SeqCst);
    harness.report("agt-1", &upgraded, &t(10));
    assert_eq!(
        store.commits.load(Ordering::SeqCst) - before,
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
    store.refuse.store(true, Ordering::SeqCst);
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
    store.refuse.store(false, Ordering::SeqCst);
    harness
        .ingest
        .report("agt-1", &header, body(), &t(11))
        .unwrap();
    let mut raised = flags(store.as_ref());
    raised.sort();
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert_eq!(raised[0], ("UAC-000001".into(), ci, "curl:amd64".into()));
}

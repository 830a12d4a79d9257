//! The free-space reserve: while the device holding the database has less than
//! [`Limits::min_free_disk_bytes`](crate::api::Limits) free, the server answers writes with 503 and
//! Retry-After before they reach the store; reads go on.
//!
//! Why a reserve rather than handling the engine's "no space left" error: sled treats a failed write of
//! its log as fatal for the open database, and every later operation returns that error until the
//! database is reopened (found by the disk-full fault test, `tests/tests/e2e/faults/disk_full.rs`).
//! With a reserve the engine never meets the error, and ingest resumes by itself as soon as space
//! returns. Limitation: a disk filled by another process within one check interval, or by more than
//! the reserve at once, can still reach the engine; `/readyz` then reports it, and a restart reopens the
//! database.

use crate::store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one reading of the free space is trusted: one `statvfs` per interval at most, however
/// many requests arrive; short enough that writes resume right after space returns.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Decides whether writes may go ahead, from the store's free space.
pub struct DiskSpace {
    store: Arc<dyn Store>,
    reserve: u64,
    last: Mutex<Option<(Instant, Option<u64>)>>,
}

impl DiskSpace {
    pub fn new(store: Arc<dyn Store>, reserve: u64) -> Self {
        Self {
            store,
            reserve,
            last: Mutex::new(None),
        }
    }

    /// `Err(message for the client)` while writes must wait for space.
    pub fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let free = match *last {
            Some((at, free)) if at.elapsed() < CHECK_INTERVAL => free,
            _ => {
                let free = match self.store.free_bytes() {
                    Ok(free) => free,
                    Err(error) => {
                        // Unknown is not full: a failing statvfs must not stop ingest.
                        tracing::warn!(%error, "reading the free disk space failed");
                        None
                    }
                };
                *last = Some((Instant::now(), free));
                free
            }
        };
        verdict(free, self.reserve)
    }
}

/// Writes may go ahead when the free space is unknown or at least `reserve`.
pub fn verdict(free: Option<u64>, reserve: u64) -> Result<(), String> {
    match free {
        Some(free) if free < reserve => Err(format!(
            "the collector's disk is full ({} MiB free, {} MiB kept in reserve); the write was not \
             made: retry after the delay in Retry-After (operators: free space under the data dir, \
             or lower limits.min_free_disk_bytes)",
            free / (1024 * 1024),
            reserve / (1024 * 1024)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn writes_wait_below_the_reserve_and_go_on_at_or_above_it_or_when_unknown() {
        assert_eq!(verdict(Some(100), 100), Ok(()));
        assert_eq!(verdict(None, 100), Ok(()));
        let error = verdict(Some(99), 100 << 20).unwrap_err();
        assert!(
            error.contains("0 MiB free, 100 MiB kept in reserve"),
            "{error}"
        );
        assert!(error.contains("min_free_disk_bytes"), "{error}");
    }

    #[test]
    fn a_store_without_a_device_never_blocks_writes() {
        let space = DiskSpace::new(Arc::new(MemoryStore::new()), u64::MAX);
        assert_eq!(space.check(), Ok(()));
    }

    #[test]
    fn a_sled_store_reports_the_free_space_of_its_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled::SledStore::open(&dir.path().join("db")).unwrap();
        let free = store.free_bytes().unwrap().expect("a device");
        assert!(free > 0);
        let space = DiskSpace::new(Arc::new(store), free.saturating_mul(1024));
        assert!(
            space.check().is_err(),
            "a reserve above the disk's free space blocks writes"
        );
    }
}

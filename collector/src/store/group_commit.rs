//! Group commit: many writers share one [`Store::flush`].
//!
//! A flush on sled costs ~20 ms whatever it carries, so flushing once per report would cap ingest at a
//! few dozen reports per second. Instead each writer commits its batch, then awaits
//! [`GroupCommit::durable`], which resolves after a flush that *started after the call*: everything the
//! writer committed before calling is then on disk. One background thread runs flushes back to back
//! while anyone waits, so all writers arriving during a flush share the next one.
//!
//! Under a steady stream of reports a flush carries only the few that committed while the previous
//! one ran, and each flush costs CPU of its own (on redb a durable commit and two `fdatasync`s): with
//! a commit delay, a flush asked for soon after the previous one ended (within [`STREAMING`], or the
//! delay itself when longer) first waits that long, so that more writers share it (PostgreSQL's `commit_delay`, for the same reason). A
//! lone report after a quiet spell is flushed at once.
//!
//! Layout: flush generations are numbered. `durable` asks for generation `started + 1` (the next flush
//! to start, which necessarily starts after the call because starting takes the same lock) and waits on
//! a watch channel until a flush of that generation or a later one completes.

use super::{Store, StoreError};
use crate::metrics::{Histogram, LATENCY_BUCKETS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The outcome of the latest finished flush: its generation and, on failure, the error (kept as
/// `DiskFull` or a message, since [`StoreError`] is not `Clone`).
#[derive(Debug, Clone)]
struct Finished {
    generation: u64,
    error: Option<FlushFailure>,
}

#[derive(Debug, Clone)]
enum FlushFailure {
    DiskFull,
    Other(String),
}

#[derive(Debug, Default)]
struct Schedule {
    /// The highest generation some writer waits for.
    wanted: u64,
    /// The generation of the flush running or last started.
    started: u64,
    closed: bool,
}

struct Shared {
    schedule: Mutex<Schedule>,
    wake: Condvar,
    /// The commit delay in microseconds (see the module documentation); 0 flushes at once.
    delay_micros: AtomicU64,
}

/// A flush asked for within this long (or the commit delay, when longer) after the previous one
/// ended finds reports streaming in, and waits for the commit delay first.
pub const STREAMING: Duration = Duration::from_millis(10);

/// Shares flushes among writers; see the module documentation. Dropping it stops the flusher thread
/// once the flush in progress (if any) ends.
pub struct GroupCommit {
    shared: Arc<Shared>,
    finished: watch::Receiver<Finished>,
    /// How long each flush took (for `census_group_commit_flush_seconds`).
    flush_seconds: Arc<Histogram>,
}

impl GroupCommit {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let shared = Arc::new(Shared {
            schedule: Mutex::new(Schedule::default()),
            wake: Condvar::new(),
            delay_micros: AtomicU64::new(0),
        });
        let (sender, finished) = watch::channel(Finished {
            generation: 0,
            error: None,
        });
        let flush_seconds = Arc::new(Histogram::new(LATENCY_BUCKETS));
        let flusher_shared = Arc::clone(&shared);
        let flusher_histogram = Arc::clone(&flush_seconds);
        // A plain thread: a flush blocks for milliseconds and must not occupy an async worker.
        let spawned = std::thread::Builder::new()
            .name("census-group-commit".into())
            .spawn(move || {
                run_flusher(&flusher_shared, store.as_ref(), &sender, &flusher_histogram)
            });
        if let Err(error) = spawned {
            // Without the thread every `durable` would wait forever; fail those waits instead.
            tracing::error!(%error, "starting the group-commit thread failed");
            lock(&shared.schedule).closed = true;
        }
        Self {
            shared,
            finished,
            flush_seconds,
        }
    }

    /// Sets the commit delay (`cmdb.commit_delay`); zero, the default, flushes at once.
    pub fn set_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_micros.store(micros, Ordering::Relaxed);
    }

    /// Durations of the flushes run so far.
    pub fn flush_seconds(&self) -> &Histogram {
        &self.flush_seconds
    }

    /// Resolves once everything committed before this call is durable.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let target = {
            let mut schedule = lock(&self.shared.schedule);
            if schedule.closed {
                return Err(StoreError::Flush {
                    message: "the collector is shutting down".into(),
                });
            }
            let target = schedule.started + 1;
            schedule.wanted = schedule.wanted.max(target);
            target
        };
        self.shared.wake.notify_one();
        let mut finished = self.finished.clone();
        let outcome = finished
            .wait_for(|finished| finished.generation >= target)
            .await
            .map_err(|_| StoreError::Flush {
                message: "the group-commit thread stopped".into(),
            })?
            .clone();
        match outcome.error {
            None => Ok(()),
            Some(FlushFailure::DiskFull) => Err(StoreError::DiskFull),
            Some(FlushFailure::Other(message)) => Err(StoreError::Flush { message }),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.schedule).closed = true;
        self.shared.wake.notify_all();
    }
}

fn run_flusher(
    shared: &Shared,
    store: &dyn Store,
    sender: &watch::Sender<Finished>,
    flush_seconds: &Histogram,
) {
    let mut last_ended: Option<Instant> = None;
    loop {
        let generation = {
            let mut schedule = lock(&shared.schedule);
            while schedule.wanted <= schedule.started && !schedule.closed {
                schedule = shared
                    .wake
                    .wait(schedule)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if schedule.wanted <= schedule.started {
                return; // closed and nobody waits
            }
            let delay = Duration::from_micros(shared.delay_micros.load(Ordering::Relaxed));
            if !delay.is_zero()
                && !schedule.closed
                && last_ended.is_some_and(|ended| ended.elapsed() < STREAMING.max(delay))
            {
                // Writers arriving meanwhile ask for this same generation: `started` moves on only
                // below, so they share the flush.
                drop(schedule);
                std::thread::sleep(delay);
                schedule = lock(&shared.schedule);
            }
            schedule.started += 1;
            schedule.started
        };
        let started_at = Instant::now();
        let flushed = store.flush();
        flush_seconds.observe(started_at.elapsed());
        let error = match flushed {
            Ok(()) => None,
            Err(StoreError::DiskFull) => Some(FlushFailure::DiskFull),
            Err(other) => {
                tracing::error!(error = %other, "flushing the database failed");
                Some(FlushFailure::Other(other.to_string()))
            }
        };
        sender.send_replace(Finished { generation, error });
        last_ended = Some(Instant::now());
    }
}

fn lock(schedule: &Mutex<Schedule>) -> std::sync::MutexGuard<'_, Schedule> {
    schedule
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreResult;
    use crate::store::intercepted::{Intercept, Intercepted};
    use crate::store::memory::MemoryStore;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    /// Counts commits, and records how many commits each completed flush covers (those committed
    /// before it started).
    #[derive(Default)]
    struct Counting {
        commits: AtomicU64,
        durable_commits: AtomicU64,
        flushes: AtomicU64,
        disk_full: AtomicBool,
    }

    impl Intercept for Counting {
        fn after_commit(&self) {
            self.commits.fetch_add(1, Ordering::SeqCst);
        }
        fn flush(&self, _: &dyn Store) -> StoreResult<()> {
            let covered = self.commits.load(Ordering::SeqCst);
            self.flushes.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            if self.disk_full.load(Ordering::SeqCst) {
                return Err(StoreError::DiskFull);
            }
            self.durable_commits.fetch_max(covered, Ordering::SeqCst);
            Ok(())
        }
    }

    type CountingStore = Intercepted<MemoryStore, Counting>;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_waits_for_a_flush_that_started_after_the_call_and_writers_share_flushes() {
        let store = Arc::new(CountingStore::default());
        let group = Arc::new(GroupCommit::new(store.clone()));
        let n_writers = 60u64;
        let mut tasks = Vec::new();
        for writer in 0..n_writers {
            let store = Arc::clone(&store);
            let group = Arc::clone(&group);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(writer % 7 * 3)).await;
                store.put("reports", &writer.to_be_bytes(), b"x").unwrap();
                let committed_so_far = store.intercept.commits.load(Ordering::SeqCst);
                group.durable().await.unwrap();
                // The flush that released us covered at least every commit made before we asked.
                assert!(store.intercept.durable_commits.load(Ordering::SeqCst) >= committed_so_far);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let flushes = store.intercept.flushes.load(Ordering::SeqCst);
        assert!(flushes >= 1);
        assert!(
            flushes < n_writers / 3,
            "{flushes} flushes for {n_writers} writers: flushes are not shared"
        );
    }

    #[tokio::test]
    async fn a_failed_flush_is_reported_to_its_waiters() {
        let store = Arc::new(CountingStore::default());
        let group = GroupCommit::new(store.clone());
        store.intercept.disk_full.store(true, Ordering::SeqCst);
        let error = group.durable().await.unwrap_err();
        assert!(matches!(error, StoreError::DiskFull), "{error}");
        store.intercept.disk_full.store(false, Ordering::SeqCst);
        group.durable().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_a_commit_delay_a_streaming_flush_waits_and_carries_more_and_a_lone_one_does_not()
    {
        let store = Arc::new(CountingStore::default());
        let group = Arc::new(GroupCommit::new(store.clone()));
        let delay = Duration::from_millis(300);
        group.set_delay(delay);
        let write = |key: u64| {
            let (store, group) = (Arc::clone(&store), Arc::clone(&group));
            async move {
                store.put("reports", &key.to_be_bytes(), b"x").unwrap();
                let asked = Instant::now();
                group.durable().await.unwrap();
                asked.elapsed()
            }
        };
        // The first flush follows no other: at once.
        assert!(write(1).await < delay);
        // Right after it, reports stream in: the next flush waits for the delay, and a report
        // committed meanwhile shares it.
        let second = tokio::spawn(write(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let third = tokio::spawn(write(3));
        assert!(second.await.unwrap() >= delay);
        third.await.unwrap();
        assert_eq!(store.intercept.flushes.load(Ordering::SeqCst), 2);
        // After a quiet spell longer than the delay, a lone report is flushed at once.
        tokio::time::sleep(delay + Duration::from_millis(100)).await;
        assert!(write(4).await < delay);
        assert_eq!(store.intercept.flushes.load(Ordering::SeqCst), 3);
    }
}

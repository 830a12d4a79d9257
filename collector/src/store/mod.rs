//! The collector's storage, behind one trait.
//!
//! [`Store`] is a small ordered key-value interface with named key spaces and atomic multi-space batches;
//! every domain module (enrollment, CMDB, ITSM) is written against it and names its own spaces. Each
//! engine lives in one module that alone names it: [`sled`](self::sled) (the default) and
//! [`redb`](self::redb); [`engine`] picks one for a data directory. [`memory`] is the test double. All
//! of them pass the same contract tests.
//!
//! Durability: [`Store::commit`] makes a batch atomic and visible; [`Store::flush`] makes everything
//! committed so far survive a crash. Callers acknowledge a write to a client only after a flush that
//! started after their commit (see `GroupCommit`, which shares one flush among many writers).

pub mod engine;
pub mod group_commit;
#[cfg(test)]
pub(crate) mod intercepted;
pub mod memory;
pub mod redb;
pub mod schema;
pub mod sled;

use std::ops::Bound;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the database at '{path}' failed: {message}")]
    Open { path: String, message: String },
    #[error(
        "the database at '{path}' is in use by another process (is a collector already running on this data dir?)"
    )]
    Locked { path: String },
    #[error("reading '{space}' failed: {message}")]
    Read { space: String, message: String },
    #[error("writing failed: {message}")]
    Write { message: String },
    #[error("no space left on the device holding the database")]
    DiskFull,
    #[error("making writes durable failed: {message}")]
    Flush { message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One key-value pair read from a space.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Receives every (space, key, value) of [`Store::export`].
pub type ExportSink<'a> = dyn FnMut(&str, &[u8], &[u8]) -> StoreResult<()> + 'a;

/// One write: a space, a key, and the new value (`None` deletes).
pub(crate) type Write = (&'static str, Vec<u8>, Option<Vec<u8>>);

/// Writes applied together: all of them or none.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub(crate) ops: Vec<Write>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, space: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((space, key.into(), Some(value.into())));
    }
    pub fn delete(&mut self, space: &'static str, key: impl Into<Vec<u8>>) {
        self.ops.push((space, key.into(), None));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// Adds `other`'s writes after this batch's.
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }
}

/// An ordered key-value store with named spaces.
pub trait Store: Send + Sync + 'static {
    fn get(&self, space: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Entries with keys in `(from, to)`, ascending, or descending when `reverse`.
    fn range(
        &self,
        space: &'static str,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<Entry>> + Send + '_>;

    /// Applies every write of `batch` atomically.
    fn commit(&self, batch: Batch) -> StoreResult<()>;

    /// Makes everything committed so far durable.
    fn flush(&self) -> StoreResult<()>;

    /// A new number, unique for the life of the database (monotonic, possibly with gaps after a crash).
    fn generate_id(&self) -> StoreResult<u64>;

    /// Bytes the database occupies on disk (0 for memory).
    fn size_on_disk(&self) -> StoreResult<u64>;

    /// Bytes free for the database on the device holding it; `None` when the engine has no device
    /// (memory). The server refuses writes below a reserve (`disk_space`).
    fn free_bytes(&self) -> StoreResult<Option<u64>> {
        Ok(None)
    }

    /// Every entry of every space, from one consistent view across spaces (writes wait while it runs),
    /// passed to `sink` as (space, key, value); returns a number above every id
    /// [`Store::generate_id`] has issued, for a restore to continue from. Engines that cannot do
    /// this (test doubles) refuse.
    fn export(&self, sink: &mut ExportSink<'_>) -> StoreResult<u64> {
        let _ = sink;
        Err(StoreError::Read {
            space: "*".into(),
            message: "this storage engine cannot export a snapshot".into(),
        })
    }

    /// Writes raw entries into the space `name` (restore: spaces come from a backup, not from code).
    /// Engines that cannot restore (test doubles) refuse.
    fn import(&self, name: &str, entries: Vec<Entry>) -> StoreResult<()> {
        let _ = entries;
        Err(StoreError::Write {
            message: format!("this storage engine cannot import a backup (space '{name}')"),
        })
    }

    /// Makes every future [`Store::generate_id`] greater than `floor` (restore).
    fn raise_id_floor(&self, floor: u64) -> StoreResult<()> {
        Err(StoreError::Write {
            message: format!("this storage engine cannot raise its id floor to {floor}"),
        })
    }

    /// Entries whose key starts with `prefix`, ascending.
    fn scan_prefix(
        &self,
        space: &'static str,
        prefix: &[u8],
    ) -> Box<dyn Iterator<Item = StoreResult<Entry>> + Send + '_> {
        let to = match prefix_successor(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        self.range(space, Bound::Included(prefix.to_vec()), to, false)
    }

    fn put(&self, space: &'static str, key: &[u8], value: &[u8]) -> StoreResult<()> {
        let mut batch = Batch::new();
        batch.put(space, key, value);
        self.commit(batch)
    }

    fn delete(&self, space: &'static str, key: &[u8]) -> StoreResult<()> {
        let mut batch = Batch::new();
        batch.delete(space, key);
        self.commit(batch)
    }
}

/// The smallest key greater than every key starting with `prefix`, if there is one.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod contract {
    //! The behaviour every [`Store`] implementation must have; run against each of them.
    use super::*;

    pub fn check(store: &dyn Store) {
        store.put("a", b"k1", b"v1").unwrap();
        store.put("a", b"k2", b"v2").unwrap();
        store.put("b", b"k1", b"other space").unwrap();
        assert_eq!(store.get("a", b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(store.get("a", b"missing").unwrap(), None);

        let keys: Vec<Vec<u8>> = store
            .scan_prefix("a", b"k")
            .map(|entry| entry.unwrap().0)
            .collect();
        assert_eq!(keys, [b"k1".to_vec(), b"k2".to_vec()]);
        let reversed: Vec<Vec<u8>> = store
            .range("a", Bound::Unbounded, Bound::Unbounded, true)
            .map(|entry| entry.unwrap().0)
            .collect();
        assert_eq!(reversed, [b"k2".to_vec(), b"k1".to_vec()]);

        let mut batch = Batch::new();
        batch.put("a", b"k3".to_vec(), b"v3".to_vec());
        batch.delete("a", b"k1".to_vec());
        batch.put("c", b"x".to_vec(), b"y".to_vec());
        store.commit(batch).unwrap();
        assert_eq!(store.get("a", b"k1").unwrap(), None);
        assert_eq!(store.get("a", b"k3").unwrap().as_deref(), Some(&b"v3"[..]));
        assert_eq!(store.get("c", b"x").unwrap().as_deref(), Some(&b"y"[..]));
        assert_eq!(
            store.get("b", b"k1").unwrap().as_deref(),
            Some(&b"other space"[..])
        );

        let first = store.generate_id().unwrap();
        let second = store.generate_id().unwrap();
        assert!(second > first);
        store.flush().unwrap();
    }

    #[test]
    fn prefix_successor_skips_trailing_ff_bytes() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
    }
}

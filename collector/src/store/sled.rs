//! [`Store`] on sled: the embedded default. The only module that names sled.

use super::{Batch, Entry, ExportSink, Store, StoreError, StoreResult};
use sled::Transactional;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// In sled's default tree (never a key space): the floor added to sled's id counter, set by a restore
/// so that ids continue above every id the backed-up database issued.
const ID_FLOOR_KEY: &[u8] = b"census_id_floor";
/// sled's own default tree, which holds no key space.
const DEFAULT_TREE: &[u8] = b"__sled__default";

pub struct SledStore {
    db: sled::Db,
    path: String,
    /// Trees are opened once and kept: `open_tree` takes a lock and a lookup.
    trees: Mutex<BTreeMap<&'static str, sled::Tree>>,
    /// Commits hold it shared; [`Store::export`] holds it exclusively, so that the trees it reads one
    /// after the other form one consistent state (sled iterators are consistent per tree only).
    gate: RwLock<()>,
    id_floor: AtomicU64,
}

impl SledStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        let display = path.display().to_string();
        let db = sled::Config::new()
            .path(path)
            // Cache for hot CIs and index pages; the collector's RSS budget is 1 GB at 100k CIs.
            .cache_capacity(256 * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|error| open_error(&display, error))?;
        let id_floor = match db.get(ID_FLOOR_KEY).map_err(|e| open_error(&display, e))? {
            Some(bytes) => {
                u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| StoreError::Open {
                    path: display.clone(),
                    message: "the id floor record is not 8 bytes".into(),
                })?)
            }
            None => 0,
        };
        Ok(Self {
            db,
            path: display,
            trees: Mutex::new(BTreeMap::new()),
            gate: RwLock::new(()),
            id_floor: AtomicU64::new(id_floor),
        })
    }

    fn tree(&self, space: &'static str) -> StoreResult<sled::Tree> {
        let mut trees = self
            .trees
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tree) = trees.get(space) {
            return Ok(tree.clone());
        }
        let tree = self.db.open_tree(space).map_err(|error| StoreError::Read {
            space: space.to_string(),
            message: error.to_string(),
        })?;
        trees.insert(space, tree.clone());
        Ok(tree)
    }
}

fn open_error(path: &str, error: sled::Error) -> StoreError {
    let message = error.to_string();
    if message.contains("WouldBlock") || message.contains("Resource temporarily unavailable") {
        StoreError::Locked {
            path: path.to_string(),
        }
    } else {
        StoreError::Open {
            path: path.to_string(),
            message,
        }
    }
}

fn write_error(error: impl std::fmt::Display) -> StoreError {
    let message = error.to_string();
    if message.contains("No space left") || message.contains("os error 28") {
        StoreError::DiskFull
    } else {
        StoreError::Write { message }
    }
}

impl Store for SledStore {
    fn import(&self, name: &str, entries: Vec<Entry>) -> StoreResult<()> {
        let tree = self.db.open_tree(name).map_err(write_error)?;
        let mut batch = sled::Batch::default();
        for (key, value) in entries {
            batch.insert(key, value);
        }
        tree.apply_batch(batch).map_err(write_error)
    }

    fn raise_id_floor(&self, floor: u64) -> StoreResult<()> {
        if floor > self.id_floor.load(Ordering::Acquire) {
            self.db
                .insert(ID_FLOOR_KEY, &floor.to_be_bytes())
                .map_err(write_error)?;
            self.id_floor.store(floor, Ordering::Release);
        }
        Ok(())
    }

    fn get(&self, space: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.tree(space)?
            .get(key)
            .map(|value| value.map(|v| v.to_vec()))
            .map_err(|error| StoreError::Read {
                space: space.to_string(),
                message: error.to_string(),
            })
    }

    fn range(
        &self,
        space: &'static str,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<Entry>> + Send + '_> {
        let tree = match self.tree(space) {
            Ok(tree) => tree,
            Err(error) => return Box::new(std::iter::once(Err(error))),
        };
        let iter = tree.range::<Vec<u8>, _>((from, to));
        let convert = move |item: sled::Result<(sled::IVec, sled::IVec)>| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|error| StoreError::Read {
                    space: space.to_string(),
                    message: error.to_string(),
                })
        };
        if reverse {
            Box::new(iter.rev().map(convert))
        } else {
            Box::new(iter.map(convert))
        }
    }

    fn commit(&self, batch: Batch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Group the writes per tree, then apply all trees' batches in one transaction.
        let mut per_space: BTreeMap<&'static str, sled::Batch> = BTreeMap::new();
        for (space, key, value) in batch.ops {
            let tree_batch = per_space.entry(space).or_default();
            match value {
                Some(value) => tree_batch.insert(key, value),
                None => tree_batch.remove(key),
            }
        }
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        // One tree: its batch is atomic on its own, without a transaction's locking and retries (the
        // common case of a check-in, which writes only the agent's report state).
        if per_space.len() == 1
            && let Some((space, tree_batch)) = per_space.pop_first()
        {
            return self
                .tree(space)?
                .apply_batch(tree_batch)
                .map_err(|error| write_error(error.to_string()));
        }
        let mut trees = Vec::with_capacity(per_space.len());
        let mut batches = Vec::with_capacity(per_space.len());
        for (space, tree_batch) in per_space {
            trees.push(self.tree(space)?);
            batches.push(tree_batch);
        }
        trees
            .as_slice()
            .transaction(|transactional| {
                for (tree, tree_batch) in transactional.iter().zip(&batches) {
                    tree.apply_batch(tree_batch)?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|error| write_error(format!("{error:?}")))
    }

    fn flush(&self) -> StoreResult<()> {
        self.db.flush().map(|_| ()).map_err(|error| {
            let message = error.to_string();
            if message.contains("No space left") || message.contains("os error 28") {
                StoreError::DiskFull
            } else {
                StoreError::Flush { message }
            }
        })
    }

    fn generate_id(&self) -> StoreResult<u64> {
        Ok(self.id_floor.load(Ordering::Acquire) + self.db.generate_id().map_err(write_error)?)
    }

    fn export(&self, sink: &mut ExportSink<'_>) -> StoreResult<u64> {
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let read_error = |name: &str, error: sled::Error| StoreError::Read {
            space: name.to_string(),
            message: error.to_string(),
        };
        for name in self.db.tree_names() {
            if name.as_ref() == DEFAULT_TREE {
                continue;
            }
            let name = String::from_utf8_lossy(&name).into_owned();
            let tree = self.db.open_tree(&name).map_err(|e| read_error(&name, e))?;
            for item in tree.iter() {
                let (key, value) = item.map_err(|e| read_error(&name, e))?;
                sink(&name, &key, &value)?;
            }
        }
        self.generate_id()
    }

    fn free_bytes(&self) -> StoreResult<Option<u64>> {
        let stat = rustix::fs::statvfs(self.path.as_str()).map_err(|error| StoreError::Read {
            space: self.path.clone(),
            message: format!("reading the free space of its file system: {error}"),
        })?;
        Ok(Some(stat.f_bavail.saturating_mul(stat.f_frsize)))
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        self.db.size_on_disk().map_err(|error| StoreError::Read {
            space: self.path.clone(),
            message: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sled_store_meets_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("db")).unwrap();
        super::super::contract::check(&store);
    }

    #[test]
    fn committed_and_flushed_writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = SledStore::open(&path).unwrap();
            store.put("cis", b"ci-1", b"web-01").unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(&path).unwrap();
        assert_eq!(
            store.get("cis", b"ci-1").unwrap().as_deref(),
            Some(&b"web-01"[..])
        );
    }

    #[test]
    fn a_second_process_on_the_same_database_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let _first = SledStore::open(&path).unwrap();
        // sled locks the database file with flock, which a second open file description cannot take,
        // even within one process.
        let error = SledStore::open(&path)
            .err()
            .expect("a second open must fail");
        assert!(matches!(error, StoreError::Locked { .. }), "{error}");
        assert!(error.to_string().contains("another process"));
    }
}

//! [`Store`] on redb: a copy-on-write B-tree in one file, whose freed pages are reused, so the file
//! tracks the live data instead of growing with every rewrite (sled 0.34's log does; BENCHMARKS.md).
//! The only module that names redb.
//!
//! Durability maps directly: [`Store::commit`] is a write transaction committed without fsync
//! (visible at once, in memory), [`Store::flush`] an empty transaction committed durably, which redb
//! guarantees persists every commit before it. Ids come from a counter whose ceiling is reserved in
//! blocks inside the database; a reservation is committed before any id under it is handed out, so a
//! durable write that uses an id implies a durable reservation, and ids never repeat after a crash.

use super::{Batch, Entry, ExportSink, Store, StoreError, StoreResult};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableError, TableHandle,
};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The engine's own table (never a key space): the id ceiling.
const INTERNAL_TABLE: &str = "__census_store";
const ID_CEILING_KEY: &[u8] = b"id_ceiling";
/// Ids reserved per write of the ceiling.
const ID_BLOCK: u64 = 4096;
/// Page cache; the collector's RSS budget is 1 GB at 100k CIs (the same as sled's cache).
const CACHE_BYTES: usize = 256 * 1024 * 1024;

type Table<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

pub struct RedbStore {
    db: Database,
    path: PathBuf,
    /// (next id to hand out, first id not reserved yet).
    ids: Mutex<(u64, u64)>,
}

impl RedbStore {
    /// Opens the database file at `path`, creating it when missing.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let display = path.display().to_string();
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|error| match error {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                    path: display.clone(),
                },
                other => StoreError::Open {
                    path: display.clone(),
                    message: other.to_string(),
                },
            })?;
        let store = Self {
            db,
            path: path.to_path_buf(),
            ids: Mutex::new((0, 0)),
        };
        let ceiling = store.stored_ceiling().map_err(|error| StoreError::Open {
            path: display,
            message: error.to_string(),
        })?;
        *store.ids.lock().unwrap_or_else(|p| p.into_inner()) = (ceiling, ceiling);
        Ok(store)
    }

    /// Where the file's bytes go: (allocated to pages, of which data, of which lost to
    /// fragmentation inside pages), as redb counts them (benchmarks and diagnostics).
    pub fn space_use(&self) -> StoreResult<(u64, u64, u64)> {
        let txn = self.db.begin_write().map_err(write_error)?;
        let stats = txn.stats().map_err(write_error)?;
        let used = (
            stats.allocated_pages() * stats.page_size() as u64,
            stats.stored_bytes() + stats.metadata_bytes(),
            stats.fragmented_bytes(),
        );
        txn.abort().map_err(write_error)?;
        Ok(used)
    }

    /// Per table: (name, bytes in its leaf and branch pages, bytes of keys and values stored), as
    /// redb counts them (benchmarks: which space costs the disk).
    pub fn table_use(&self) -> StoreResult<Vec<(String, u64, u64)>> {
        let page_size = {
            let txn = self.db.begin_write().map_err(write_error)?;
            let size = txn.stats().map_err(write_error)?.page_size() as u64;
            txn.abort().map_err(write_error)?;
            size
        };
        let txn = self.db.begin_read().map_err(|e| self.read_error("*", e))?;
        let mut tables = Vec::new();
        for handle in txn.list_tables().map_err(|e| self.read_error("*", e))? {
            let name = handle.name().to_string();
            let table = txn
                .open_table(Table::new(&name))
                .map_err(|e| self.read_error(&name, e))?;
            let stats = table.stats().map_err(|e| self.read_error(&name, e))?;
            let pages = stats.leaf_pages() + stats.branch_pages();
            tables.push((name, pages * page_size, stats.stored_bytes()));
        }
        Ok(tables)
    }

    fn stored_ceiling(&self) -> StoreResult<u64> {
        let Some(bytes) = self.get(INTERNAL_TABLE, ID_CEILING_KEY)? else {
            return Ok(1);
        };
        let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| StoreError::Read {
            space: INTERNAL_TABLE.into(),
            message: "the id ceiling record is not 8 bytes; the database is damaged".into(),
        })?;
        Ok(u64::from_be_bytes(bytes))
    }

    fn write_ceiling(&self, ceiling: u64) -> StoreResult<()> {
        let mut batch = Batch::new();
        batch.put(INTERNAL_TABLE, ID_CEILING_KEY, ceiling.to_be_bytes());
        self.commit(batch)
    }

    fn begin_write(&self) -> StoreResult<redb::WriteTransaction> {
        let mut txn = self.db.begin_write().map_err(write_error)?;
        txn.set_durability(Durability::None).map_err(write_error)?;
        Ok(txn)
    }

    fn read_error(&self, space: &str, error: impl Into<redb::Error>) -> StoreError {
        StoreError::Read {
            space: space.to_string(),
            message: error.into().to_string(),
        }
    }
}

/// Classifies a redb error: a full device is reported as such, so the server answers 503 and waits.
fn write_error(error: impl Into<redb::Error>) -> StoreError {
    let error = error.into();
    if let redb::Error::Io(io) = &error
        && (io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28))
    {
        return StoreError::DiskFull;
    }
    StoreError::Write {
        message: error.to_string(),
    }
}

/// `true` when the range cannot hold a key (redb, like `BTreeMap`, refuses inverted bounds).
fn is_empty_range(from: &Bound<Vec<u8>>, to: &Bound<Vec<u8>>) -> bool {
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl Store for RedbStore {
    fn import(&self, name: &str, entries: Vec<Entry>) -> StoreResult<()> {
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(Table::new(name)).map_err(write_error)?;
            for (key, value) in &entries {
                table
                    .insert(key.as_slice(), value.as_slice())
                    .map_err(write_error)?;
            }
        }
        txn.commit().map_err(write_error)
    }

    fn raise_id_floor(&self, floor: u64) -> StoreResult<()> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if floor + 1 > ids.0 {
            self.write_ceiling(floor + 1)?;
            *ids = (floor + 1, floor + 1);
        }
        Ok(())
    }

    fn get(&self, space: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.read_error(space, e))?;
        let table = match txn.open_table(Table::new(space)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(self.read_error(space, error)),
        };
        let value = table.get(key).map_err(|e| self.read_error(space, e))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn range(
        &self,
        space: &'static str,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<Entry>> + Send + '_> {
        if is_empty_range(&from, &to) {
            return Box::new(std::iter::empty());
        }
        let opened = self
            .db
            .begin_read()
            .map_err(|e| self.read_error(space, e))
            .and_then(|txn| match txn.open_table(Table::new(space)) {
                Ok(table) => Ok(Some(table)),
                Err(TableError::TableDoesNotExist(_)) => Ok(None),
                Err(error) => Err(self.read_error(space, error)),
            });
        let table = match opened {
            Ok(Some(table)) => table,
            Ok(None) => return Box::new(std::iter::empty()),
            Err(error) => return Box::new(std::iter::once(Err(error))),
        };
        // The range owns its read transaction: it sees one snapshot however long it is iterated.
        let range = match table.range::<&[u8]>((as_slice(&from), as_slice(&to))) {
            Ok(range) => range,
            Err(error) => return Box::new(std::iter::once(Err(self.read_error(space, error)))),
        };
        let convert = move |item: Result<_, redb::StorageError>| {
            item.map(
                |(key, value): (redb::AccessGuard<&[u8]>, redb::AccessGuard<&[u8]>)| {
                    (key.value().to_vec(), value.value().to_vec())
                },
            )
            .map_err(|error| StoreError::Read {
                space: space.to_string(),
                message: error.to_string(),
            })
        };
        if reverse {
            Box::new(range.rev().map(convert))
        } else {
            Box::new(range.map(convert))
        }
    }

    fn commit(&self, batch: Batch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Grouped by space (a stable sort keeps each space's writes in order), one table open each.
        let mut ops = batch.ops;
        ops.sort_by_key(|(space, _, _)| *space);
        let txn = self.begin_write()?;
        for group in ops.chunk_by(|a, b| a.0 == b.0) {
            let mut table = txn
                .open_table(Table::new(group[0].0))
                .map_err(write_error)?;
            for (_, key, value) in group {
                match value {
                    Some(value) => table.insert(key.as_slice(), value.as_slice()),
                    None => table.remove(key.as_slice()).map(|_| None),
                }
                .map_err(write_error)?;
            }
        }
        txn.commit().map_err(write_error)
    }

    fn flush(&self) -> StoreResult<()> {
        let mut txn = self.db.begin_write().map_err(write_error)?;
        txn.set_durability(Durability::Immediate)
            .map_err(write_error)?;
        txn.commit().map_err(|error| match write_error(error) {
            StoreError::Write { message } => StoreError::Flush { message },
            other => other,
        })
    }

    fn generate_id(&self) -> StoreResult<u64> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            let ceiling = ids.0 + ID_BLOCK;
            self.write_ceiling(ceiling)?;
            ids.1 = ceiling;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// The blocks the file holds, not its length: redb extends the file ahead of use and the
    /// extension stays sparse until pages are written there.
    fn size_on_disk(&self) -> StoreResult<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path)
            .map(|meta| meta.blocks() * 512)
            .map_err(|error| StoreError::Read {
                space: self.path.display().to_string(),
                message: error.to_string(),
            })
    }

    fn free_bytes(&self) -> StoreResult<Option<u64>> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let stat = rustix::fs::statvfs(dir).map_err(|error| StoreError::Read {
            space: self.path.display().to_string(),
            message: format!("reading the free space of its file system: {error}"),
        })?;
        Ok(Some(stat.f_bavail.saturating_mul(stat.f_frsize)))
    }

    /// One read transaction over every table: a consistent view without stopping writers.
    fn export(&self, sink: &mut ExportSink<'_>) -> StoreResult<u64> {
        let txn = self.db.begin_read().map_err(|e| self.read_error("*", e))?;
        let names: Vec<String> = txn
            .list_tables()
            .map_err(|e| self.read_error("*", e))?
            .map(|handle| handle.name().to_string())
            .filter(|name| name != INTERNAL_TABLE)
            .collect();
        for name in &names {
            let table = txn
                .open_table(Table::new(name))
                .map_err(|e| self.read_error(name, e))?;
            for item in table.iter().map_err(|e| self.read_error(name, e))? {
                let (key, value) = item.map_err(|e| self.read_error(name, e))?;
                sink(name, key.value(), value.value())?;
            }
        }
        drop(txn);
        self.generate_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redb_store_meets_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("census.redb")).unwrap();
        super::super::contract::check(&store);
    }

    #[test]
    fn committed_and_flushed_writes_survive_reopening_and_ids_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.redb");
        let before = {
            let store = RedbStore::open(&path).unwrap();
            store.put("cis", b"ci-1", b"web-01").unwrap();
            let id = store.generate_id().unwrap();
            store.flush().unwrap();
            id
        };
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(
            store.get("cis", b"ci-1").unwrap().as_deref(),
            Some(&b"web-01"[..])
        );
        assert!(store.generate_id().unwrap() > before);
    }

    #[test]
    fn the_size_on_disk_holds_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("census.redb")).unwrap();
        let empty = store.size_on_disk().unwrap();
        let value = vec![0x5a_u8; 64 * 1024];
        for n in 0u32..64 {
            store.put("blobs", &n.to_be_bytes(), &value).unwrap();
        }
        store.flush().unwrap();
        let full = store.size_on_disk().unwrap();
        assert!(full >= 64 * value.len() as u64, "{empty} -> {full}");
        assert!(full > empty);
    }

    #[test]
    fn inverted_and_missing_ranges_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("census.redb")).unwrap();
        store.put("a", b"k", b"v").unwrap();
        let inverted = store.range(
            "a",
            Bound::Included(b"z".to_vec()),
            Bound::Excluded(b"a".to_vec()),
            false,
        );
        assert_eq!(inverted.count(), 0);
        assert_eq!(store.scan_prefix("never-written", b"").count(), 0);
        assert_eq!(store.get("never-written", b"k").unwrap(), None);
    }

    #[test]
    fn the_id_floor_of_a_restore_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.redb");
        {
            let store = RedbStore::open(&path).unwrap();
            store.raise_id_floor(1_000_000).unwrap();
            assert!(store.generate_id().unwrap() > 1_000_000);
            store.flush().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert!(store.generate_id().unwrap() > 1_000_000);
    }

    #[test]
    fn a_second_open_of_the_same_database_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("census.redb");
        let _first = RedbStore::open(&path).unwrap();
        let error = RedbStore::open(&path)
            .err()
            .expect("a second open must fail");
        assert!(matches!(error, StoreError::Locked { .. }), "{error}");
    }
}

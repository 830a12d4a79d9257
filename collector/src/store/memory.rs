//! [`Store`] in memory: for unit tests of domain logic and as the second implementation that keeps the
//! trait honest. Not durable by design.

use super::{Batch, Entry, Store, StoreResult};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

type Space = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Default)]
pub struct MemoryStore {
    spaces: RwLock<BTreeMap<&'static str, Space>>,
    next_id: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn get(&self, space: &'static str, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let spaces = self
            .spaces
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(spaces
            .get(space)
            .and_then(|entries| entries.get(key).cloned()))
    }

    fn range(
        &self,
        space: &'static str,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = StoreResult<Entry>> + Send + '_> {
        let spaces = self
            .spaces
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A snapshot: iterators must not hold the lock while the caller writes.
        let mut entries: Vec<Entry> = spaces
            .get(space)
            .map(|entries| {
                entries
                    .range((from, to))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if reverse {
            entries.reverse();
        }
        Box::new(entries.into_iter().map(Ok))
    }

    fn commit(&self, batch: Batch) -> StoreResult<()> {
        let mut spaces = self
            .spaces
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (space, key, value) in batch.ops {
            let entries = spaces.entry(space).or_default();
            match value {
                Some(value) => entries.insert(key, value),
                None => entries.remove(&key),
            };
        }
        Ok(())
    }

    fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    fn generate_id(&self) -> StoreResult<u64> {
        Ok(self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_meets_the_store_contract() {
        super::super::contract::check(&super::MemoryStore::new());
    }
}

//! A test double: a real store whose commits and flushes a test watches or refuses (a full disk, a
//! failing commit, counting what a write path commits).

use super::{Batch, Entry, Store, StoreResult};
use std::ops::Bound;

/// What a test does around the wrapped store's writes; by default, nothing.
pub(crate) trait Intercept: Send + Sync + 'static {
    /// Before each commit; an error refuses it (nothing is written).
    fn before_commit(&self, batch: &Batch) -> StoreResult<()> {
        let _ = batch;
        Ok(())
    }
    /// After each commit that succeeded.
    fn after_commit(&self) {}
    /// The flush, by default the wrapped store's.
    fn flush(&self, inner: &dyn Store) -> StoreResult<()> {
        inner.flush()
    }
}

/// `inner` with `intercept` around its writes; reads go straight through.
#[derive(Default)]
pub(crate) struct Intercepted<S, I> {
    pub inner: S,
    pub intercept: I,
}

impl<S: Store, I: Intercept> Store for Intercepted<S, I> {
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
        self.intercept.before_commit(&batch)?;
        self.inner.commit(batch)?;
        self.intercept.after_commit();
        Ok(())
    }
    fn flush(&self) -> StoreResult<()> {
        self.intercept.flush(&self.inner)
    }
    fn generate_id(&self) -> StoreResult<u64> {
        self.inner.generate_id()
    }
    fn size_on_disk(&self) -> StoreResult<u64> {
        self.inner.size_on_disk()
    }
}

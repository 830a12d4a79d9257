//! Shared test fixtures: actors, a fixed clock, a CI directory, and both store engines.

use super::{Actor, MemoryCiDirectory, Role};
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::store::sled::SledStore;
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

pub const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

/// `T0` plus `minutes`.
pub fn at(minutes: i64) -> OffsetDateTime {
    T0 + time::Duration::minutes(minutes)
}

pub fn agent() -> Actor {
    Actor::new("alice", Role::Agent, "192.0.2.10")
}

pub fn approver() -> Actor {
    Actor::new("carol", Role::Approver, "192.0.2.20")
}

pub fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// A sled store in a fresh temporary directory (kept alive by the returned guard).
pub fn sled() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SledStore::open(&dir.path().join("db")).expect("open sled");
    (Arc::new(store), dir)
}

pub fn directory() -> MemoryCiDirectory {
    MemoryCiDirectory::with_cis([
        "ci-000001",
        "ci-000002",
        "ci-000003",
        "ci-000004",
        "ci-000005",
    ])
}

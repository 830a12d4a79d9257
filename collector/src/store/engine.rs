//! Which storage engine holds a data directory's database, and opening it.
//!
//! The engine is chosen once, when the data directory is created (`init --engine`, or `restore
//! --engine` to move a database to the other engine), and recognised afterwards from what the
//! directory holds: `db/` for sled, `census.redb` for redb. Nothing else in the collector names an
//! engine: commands open a data directory's database through [`Engine::open`] and work on the
//! [`Store`] trait.

use super::redb::RedbStore;
use super::sled::SledStore;
use super::{Store, StoreResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A storage engine behind [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// sled 0.34, the default: log-structured; its files grow with every change and give little
    /// space back (~14 KB on disk per history entry).
    #[default]
    Sled,
    /// redb 4: a B-tree in one file that reuses freed pages (about a third of sled's disk for the
    /// same history, at the same write rate).
    Redb,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::Sled, Engine::Redb];

    /// The name used in flags, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sled => "sled",
            Engine::Redb => "redb",
        }
    }

    /// The database's name inside a data directory (a directory for sled, a file for redb).
    pub fn file_name(self) -> &'static str {
        match self {
            Engine::Sled => "db",
            Engine::Redb => "census.redb",
        }
    }

    /// Where this engine keeps its database inside the data directory `root`.
    pub fn database(self, root: &Path) -> PathBuf {
        root.join(self.file_name())
    }

    /// Opens (creating when missing) this engine's database inside the data directory `root`.
    pub fn open(self, root: &Path) -> StoreResult<Arc<dyn Store>> {
        let path = self.database(root);
        Ok(match self {
            Engine::Sled => Arc::new(SledStore::open(&path)?),
            Engine::Redb => Arc::new(RedbStore::open(&path)?),
        })
    }

    /// The engines whose database exists inside `root` (normally one; none before `init`).
    pub fn present(root: &Path) -> Vec<Engine> {
        Engine::ALL
            .into_iter()
            .filter(|engine| engine.database(root).exists())
            .collect()
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_reopens_what_it_wrote_and_is_recognised_by_its_file() {
        for engine in Engine::ALL {
            let dir = tempfile::tempdir().unwrap();
            assert!(Engine::present(dir.path()).is_empty());
            {
                let store = engine.open(dir.path()).unwrap();
                store.put("a", b"k", engine.name().as_bytes()).unwrap();
                store.flush().unwrap();
            }
            assert_eq!(Engine::present(dir.path()), [engine]);
            let store = engine.open(dir.path()).unwrap();
            assert_eq!(
                store.get("a", b"k").unwrap().as_deref(),
                Some(engine.name().as_bytes())
            );
        }
    }
}

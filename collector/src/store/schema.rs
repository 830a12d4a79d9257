//! The database schema version, stored in the database, and the migrations between versions.
//!
//! The version lives in the `meta` space under `schema_version` (decimal text). Startup runs
//! [`ensure_current`]: a database newer than this binary is refused (a downgrade would misread it), an
//! older one is migrated step by step through [`STEPS`]. Version 0 is "created before the version was
//! recorded"; its only migration is stamping the version.

use super::{Store, StoreError};

/// Key space for collector-wide metadata.
pub const SPACE_META: &str = "meta";
pub const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";
/// The schema this binary reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the database has schema version {found}, newer than this collector understands ({supported}); run a newer census-collector"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("the stored schema version '{0}' is not a number; the database is damaged")]
    Corrupt(String),
    #[error("no migration from schema version {0}")]
    NoStep(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One migration: from `from` to `from + 1`.
pub struct Step {
    pub from: u32,
    pub what: &'static str,
    pub apply: fn(&dyn Store) -> Result<(), SchemaError>,
}

/// Every migration, in order. Each step's last write stamps its target version.
pub const STEPS: &[Step] = &[
    Step {
        from: 0,
        what: "stamp the version on databases created before it was recorded",
        apply: |_| Ok(()),
    },
    Step {
        from: 1,
        // Nothing to rewrite: version 2 reads version 1's data as it is. The stamp keeps older
        // binaries away, which would misread what version 2 writes.
        what: "history records go to cmdb_records and change events name their record from now on",
        apply: |_| Ok(()),
    },
];

/// The stored version; 0 when none is recorded.
pub fn stored_version(store: &dyn Store) -> Result<u32, SchemaError> {
    match store.get(SPACE_META, SCHEMA_VERSION_KEY)? {
        None => Ok(0),
        Some(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            text.trim().parse().map_err(|_| SchemaError::Corrupt(text))
        }
    }
}

/// Records `version` (and makes it durable).
pub fn stamp(store: &dyn Store, version: u32) -> Result<(), SchemaError> {
    store.put(
        SPACE_META,
        SCHEMA_VERSION_KEY,
        version.to_string().as_bytes(),
    )?;
    store.flush()?;
    Ok(())
}

/// Runs the steps from `from` up to `to`, stamping each version reached.
pub fn migrate(store: &dyn Store, from: u32, to: u32) -> Result<(), SchemaError> {
    for version in from..to {
        let step = STEPS
            .iter()
            .find(|step| step.from == version)
            .ok_or(SchemaError::NoStep(version))?;
        tracing::info!(
            from = version,
            to = version + 1,
            what = step.what,
            "migrating the database"
        );
        (step.apply)(store)?;
        stamp(store, version + 1)?;
    }
    Ok(())
}

/// Checks the stored version at startup and migrates an older database; returns the version found.
pub fn ensure_current(store: &dyn Store) -> Result<u32, SchemaError> {
    let found = stored_version(store)?;
    if found > SCHEMA_VERSION {
        return Err(SchemaError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    migrate(store, found, SCHEMA_VERSION)?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn an_unstamped_database_is_migrated_to_the_current_version() {
        let store = MemoryStore::new();
        store.put("agents", b"agt-1", b"{}").unwrap();
        assert_eq!(stored_version(&store).unwrap(), 0);
        assert_eq!(ensure_current(&store).unwrap(), 0);
        assert_eq!(stored_version(&store).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            store.get("agents", b"agt-1").unwrap().as_deref(),
            Some(&b"{}"[..])
        );
        // Idempotent.
        assert_eq!(ensure_current(&store).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_database_is_refused_and_a_damaged_version_is_reported() {
        let store = MemoryStore::new();
        stamp(&store, SCHEMA_VERSION + 1).unwrap();
        let error = ensure_current(&store).unwrap_err();
        assert!(matches!(error, SchemaError::TooNew { .. }), "{error}");
        assert!(error.to_string().contains("newer census-collector"));
        store.put(SPACE_META, SCHEMA_VERSION_KEY, b"x").unwrap();
        assert!(matches!(
            ensure_current(&store),
            Err(SchemaError::Corrupt(_))
        ));
    }

    #[test]
    fn every_version_below_the_current_one_has_a_step() {
        for version in 0..SCHEMA_VERSION {
            assert!(STEPS.iter().any(|step| step.from == version), "{version}");
        }
        let store = MemoryStore::new();
        assert!(matches!(migrate(&store, 7, 8), Err(SchemaError::NoStep(7))));
    }
}

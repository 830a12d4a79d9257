//! The content hash that names an inventory on both sides of the wire.
//!
//! The agent sends only this hash when nothing changed, and a delta names the hash of the document it
//! applies to; the collector recomputes it after applying a delta. Both must therefore hash the same
//! bytes: the canonical JSON of the document with `collected_at` blanked (the moment of collection is not
//! a change to the machine).

use crate::inventory::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the canonical form of `inventory` (which must already be canonicalized).
pub fn content_hash(inventory: &Inventory) -> String {
    let mut writer = HashWriter(Sha256::new());
    // Serialising our own plain structs into a hasher cannot fail: no maps with non-string keys, no
    // custom serialisers, and the writer never errors.
    let _ = serde_json::to_writer(&mut writer, &Unstamped::of(inventory));
    hex::encode(writer.0.finalize())
}

/// The document as hashed: every field of [`Inventory`] by reference, `collected_at` blank. Borrowing
/// instead of cloning keeps hashing a 1,000-package inventory allocation-free.
#[derive(Serialize)]
struct Unstamped<'a> {
    schema_version: u32,
    collected_at: &'static str,
    agent: &'a AgentInfo,
    host: &'a Host,
    os: &'a Os,
    hardware: &'a Hardware,
    filesystems: &'a [Filesystem],
    network: &'a Network,
    software: &'a Software,
    users: &'a [User],
    groups: &'a [Group],
    services: &'a [Service],
    listening_ports: &'a [ListeningPort],
    collection_errors: &'a [CollectionError],
}

impl<'a> Unstamped<'a> {
    fn of(inventory: &'a Inventory) -> Self {
        // Destructuring (not field access) makes a new Inventory field a compile error here.
        let Inventory {
            schema_version,
            collected_at: _,
            agent,
            host,
            os,
            hardware,
            filesystems,
            network,
            software,
            users,
            groups,
            services,
            listening_ports,
            collection_errors,
        } = inventory;
        Unstamped {
            schema_version: *schema_version,
            collected_at: "",
            agent,
            host,
            os,
            hardware,
            filesystems,
            network,
            software,
            users,
            groups,
            services,
            listening_ports,
            collection_errors,
        }
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// True when `value` looks like a hash this module produced (64 lowercase hex digits).
pub fn is_content_hash(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_time_does_not_change_the_hash() {
        let mut a = Inventory::default();
        a.host.hostname = Some("web-01".into());
        a.collected_at = "2026-11-01T00:00:00Z".into();
        let mut b = a.clone();
        b.collected_at = "2026-11-02T00:00:00Z".into();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert!(is_content_hash(&content_hash(&a)));
    }

    #[test]
    fn the_hashed_view_is_the_document_with_a_blank_collection_time() {
        let mut inventory = Inventory::default();
        inventory.collected_at = "2026-11-01T00:00:00Z".into();
        inventory.host.hostname = Some("web-01".into());
        let mut expected = serde_json::to_value(&inventory).unwrap();
        expected["collected_at"] = "".into();
        assert_eq!(
            serde_json::to_value(Unstamped::of(&inventory)).unwrap(),
            expected
        );
    }

    #[test]
    fn any_change_to_the_machine_changes_the_hash() {
        let mut a = Inventory::default();
        a.host.hostname = Some("web-01".into());
        let mut b = a.clone();
        b.host.hostname = Some("web-02".into());
        assert_ne!(content_hash(&a), content_hash(&b));
    }
}

//! The compact CI inventory body, and the fleet-wide package interner it relies on.
//!
//! A 1,000-package inventory is ~89 KB of JSON, almost all of it package records that thousands of
//! machines share. The body therefore stores everything but the packages as JSON, and the packages as a
//! sorted list of interned package ids, delta + LEB128-encoded (~1.5 bytes a package), plus the rare
//! per-machine `installed_at` values. The whole is lz4-compressed. See `docs/cmdb-storage.md`.
//!
//! Body layout (before lz4): `varint json_len, json, varint n_ids, n × varint id_delta,
//! varint n_installed, n × (varint position, varint len, utf-8)`.

use census_shared::inventory::*;
use census_shared::package_digest::{PackageDigest, package_digest};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("CI body of {ci} is corrupt: {message}")]
    Corrupt { ci: String, message: String },
    #[error("CI body of {ci} names package id {id}, which the package table does not hold")]
    UnknownPackage { ci: String, id: u32 },
}

/// A package record as the fleet shares it: everything but `installed_at`, which is per machine.
#[derive(Debug, Clone)]
struct TupleKey(Arc<Package>);

/// The fields that make a package record, borrowed. Interning looks records up through this view (see
/// the `Borrow` impl below), so a package already known costs a hash and a comparison, not a clone.
type RecordFields<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<u64>,
);

trait RecordView {
    fn fields(&self) -> RecordFields<'_>;
}

impl RecordView for Package {
    fn fields(&self) -> RecordFields<'_> {
        (
            &self.manager,
            &self.name,
            &self.version,
            self.arch.as_deref(),
            self.source.as_deref(),
            self.vendor.as_deref(),
            self.section.as_deref(),
            self.installed_size_bytes,
        )
    }
}

impl RecordView for TupleKey {
    fn fields(&self) -> RecordFields<'_> {
        self.0.fields()
    }
}

impl Hash for dyn RecordView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fields().hash(state);
    }
}

impl PartialEq for dyn RecordView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl Eq for dyn RecordView + '_ {}

impl<'a> std::borrow::Borrow<dyn RecordView + 'a> for TupleKey {
    fn borrow(&self) -> &(dyn RecordView + 'a) {
        self
    }
}

// Hash and equality of the key are those of its borrowed view, as `Borrow` requires.
impl Hash for TupleKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn RecordView).hash(state);
    }
}

impl PartialEq for TupleKey {
    fn eq(&self, other: &Self) -> bool {
        self.fields() == other.fields()
    }
}

impl Eq for TupleKey {}

/// Package records interned to `u32` ids, shared by every CI. Ids are allocated in order and never
/// reused; new records stay *pending* until the batch that persists them is committed.
#[derive(Debug, Default)]
pub struct Interner {
    by_key: HashMap<TupleKey, u32>,
    /// Record digests (`known` reports name records by them); [`AMBIGUOUS`] where two records share
    /// one, so such a record is always asked for in full.
    by_digest: HashMap<PackageDigest, u32>,
    tuples: Vec<Arc<Package>>,
    persisted: usize,
}

/// In `by_digest`: more than one record has this digest.
const AMBIGUOUS: u32 = u32::MAX;

impl Interner {
    /// Loads persisted records, in id order (ids must be 0..n).
    pub fn from_records(records: Vec<Package>) -> Self {
        let mut interner = Interner::default();
        for record in records {
            let record = Arc::new(record);
            let id = interner.tuples.len() as u32;
            interner.by_key.insert(TupleKey(record.clone()), id);
            interner.index_digest(&record, id);
            interner.tuples.push(record);
        }
        interner.persisted = interner.tuples.len();
        interner
    }

    /// The id of `package` (its `installed_at` ignored), allocating one if it is new.
    pub fn intern(&mut self, package: &Package) -> u32 {
        if let Some(id) = self.by_key.get(package as &dyn RecordView) {
            return *id;
        }
        let mut shared = package.clone();
        shared.installed_at = None;
        let key = TupleKey(Arc::new(shared));
        if let Some(id) = self.by_key.get(&key) {
            return *id;
        }
        let id = self.tuples.len() as u32;
        self.index_digest(&key.0, id);
        self.tuples.push(key.0.clone());
        self.by_key.insert(key, id);
        id
    }

    fn index_digest(&mut self, record: &Package, id: u32) {
        self.by_digest
            .entry(package_digest(&record.package_ref()))
            .and_modify(|held| *held = AMBIGUOUS)
            .or_insert(id);
    }

    /// The record named by `digest`, if exactly one record has it.
    pub fn by_digest(&self, digest: &PackageDigest) -> Option<&Package> {
        self.id_by_digest(digest).and_then(|id| self.get(id))
    }

    /// The id of the one record with this digest, if exactly one has it.
    pub fn id_by_digest(&self, digest: &PackageDigest) -> Option<u32> {
        match self.by_digest.get(digest) {
            Some(&AMBIGUOUS) | None => None,
            Some(&id) => Some(id),
        }
    }

    pub fn get(&self, id: u32) -> Option<&Package> {
        self.tuples.get(id as usize).map(|p| p.as_ref())
    }

    /// The shared record `id`, for holding beyond this lock.
    pub fn record(&self, id: u32) -> Option<Arc<Package>> {
        self.tuples.get(id as usize).cloned()
    }

    pub fn len(&self) -> usize {
        self.tuples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tuples.is_empty()
    }

    /// Records allocated since the last [`Interner::confirm`], with their ids: to be written.
    pub fn pending(&self) -> impl Iterator<Item = (u32, &Package)> {
        self.tuples[self.persisted..]
            .iter()
            .enumerate()
            .map(|(i, p)| ((self.persisted + i) as u32, p.as_ref()))
    }

    /// The pending records were committed.
    pub fn confirm(&mut self) {
        self.persisted = self.tuples.len();
    }

    /// The batch holding the pending records failed: forget them so their ids are allocated again.
    pub fn rollback(&mut self) {
        for (at, record) in self.tuples.drain(self.persisted..).enumerate() {
            let id = (self.persisted + at) as u32;
            let digest = package_digest(&record.package_ref());
            // An ambiguous digest stays so: conservative, the record is then asked for in full.
            if self.by_digest.get(&digest) == Some(&id) {
                self.by_digest.remove(&digest);
            }
            self.by_key.remove(&TupleKey(record));
        }
    }
}

/// The inventory without its packages, borrowed, for serialisation.
#[derive(Serialize)]
struct WithoutPackages<'a> {
    schema_version: u32,
    collected_at: &'a str,
    agent: &'a AgentInfo,
    host: &'a Host,
    os: &'a Os,
    hardware: &'a Hardware,
    filesystems: &'a [Filesystem],
    network: &'a Network,
    users: &'a [User],
    groups: &'a [Group],
    services: &'a [Service],
    listening_ports: &'a [ListeningPort],
    collection_errors: &'a [CollectionError],
}

impl<'a> WithoutPackages<'a> {
    fn of(inventory: &'a Inventory) -> Self {
        // Destructuring makes a new Inventory field a compile error here rather than silent data loss.
        let Inventory {
            schema_version,
            collected_at,
            agent,
            host,
            os,
            hardware,
            filesystems,
            network,
            software: _,
            users,
            groups,
            services,
            listening_ports,
            collection_errors,
        } = inventory;
        WithoutPackages {
            schema_version: *schema_version,
            collected_at,
            agent,
            host,
            os,
            hardware,
            filesystems,
            network,
            users,
            groups,
            services,
            listening_ports,
            collection_errors,
        }
    }
}

/// One package of a body: its record id and the machine's own `installed_at`.
pub type Entry = (u32, Option<String>);

/// Encodes `inventory`; returns the body and its sorted package ids (the write path encodes through
/// `patched::ReportInventory::encode`).
#[cfg(test)]
pub fn encode(inventory: &Inventory, interner: &mut Interner) -> (Vec<u8>, Vec<u32>) {
    let (body, entries) = encode_entries(inventory, interner);
    (body, entries.into_iter().map(|(id, _)| id).collect())
}

/// Encodes `inventory`; returns the body and its package entries, sorted by id.
pub fn encode_entries(inventory: &Inventory, interner: &mut Interner) -> (Vec<u8>, Vec<Entry>) {
    let packages: Vec<(u32, Option<&str>)> = inventory
        .software
        .packages
        .iter()
        .map(|p| (interner.intern(p), p.installed_at.as_deref()))
        .collect();
    encode_interned(inventory, packages)
}

/// Encodes `inventory` without its packages, and `packages` as (record id, install time); returns
/// the body and its package entries, sorted by id.
pub fn encode_interned(
    inventory: &Inventory,
    mut packages: Vec<(u32, Option<&str>)>,
) -> (Vec<u8>, Vec<Entry>) {
    packages.sort_unstable();
    packages.dedup_by_key(|(id, _)| *id);
    // Our own plain structs always serialise.
    let json = serde_json::to_vec(&WithoutPackages::of(inventory)).unwrap_or_default();
    let mut out = Vec::with_capacity(json.len() + packages.len() * 2 + 16);
    put_varint(&mut out, json.len() as u64);
    out.extend_from_slice(&json);
    put_varint(&mut out, packages.len() as u64);
    let mut previous = 0u32;
    for (id, _) in &packages {
        put_varint(&mut out, u64::from(id - previous));
        previous = *id;
    }
    let installed: Vec<(usize, &str)> = packages
        .iter()
        .enumerate()
        .filter_map(|(position, (_, at))| at.map(|at| (position, at)))
        .collect();
    put_varint(&mut out, installed.len() as u64);
    for (position, at) in installed {
        put_varint(&mut out, position as u64);
        put_varint(&mut out, at.len() as u64);
        out.extend_from_slice(at.as_bytes());
    }
    let entries = packages
        .into_iter()
        .map(|(id, at)| (id, at.map(str::to_string)))
        .collect();
    (lz4_flex::compress_prepend_size(&out), entries)
}

/// A body's inventory without packages, and its package entries sorted by id: what a report's diff
/// needs from the previous body (packages in both bodies need not be materialised).
pub fn decode_parts(body: &[u8], ci: &str) -> Result<(Inventory, Vec<Entry>), CodecError> {
    let raw = decompress(body, ci)?;
    let mut reader = Reader {
        bytes: &raw,
        at: 0,
        ci,
    };
    let json_len = reader.varint()? as usize;
    let json = reader.take(json_len)?;
    let inventory: Inventory = serde_json::from_slice(json).map_err(|e| reader.corrupt(e))?;
    let mut entries: Vec<Entry> = reader.ids()?.into_iter().map(|id| (id, None)).collect();
    let n_installed = reader.varint()?;
    for _ in 0..n_installed {
        let position = reader.varint()? as usize;
        let len = reader.varint()? as usize;
        let at = std::str::from_utf8(reader.take(len)?).map_err(|e| reader.corrupt(e))?;
        let entry = entries
            .get_mut(position)
            .ok_or_else(|| reader.corrupt("installed_at position out of range"))?;
        entry.1 = Some(at.to_string());
    }
    Ok((inventory, entries))
}

/// The packages of `entries`, from the interner.
pub fn packages_of(
    entries: &[Entry],
    interner: &Interner,
    ci: &str,
) -> Result<Vec<Package>, CodecError> {
    entries
        .iter()
        .map(|(id, installed_at)| {
            let mut package = interner
                .get(*id)
                .ok_or_else(|| CodecError::UnknownPackage {
                    ci: ci.to_string(),
                    id: *id,
                })?
                .clone();
            package.installed_at.clone_from(installed_at);
            Ok(package)
        })
        .collect()
}

/// A copy of `inventory` with an empty package list, without cloning the packages.
pub fn without_packages(inventory: &Inventory) -> Inventory {
    let Inventory {
        schema_version,
        collected_at,
        agent,
        host,
        os,
        hardware,
        filesystems,
        network,
        software: _,
        users,
        groups,
        services,
        listening_ports,
        collection_errors,
    } = inventory;
    Inventory {
        schema_version: *schema_version,
        collected_at: collected_at.clone(),
        agent: agent.clone(),
        host: host.clone(),
        os: os.clone(),
        hardware: hardware.clone(),
        filesystems: filesystems.clone(),
        network: network.clone(),
        software: Software::default(),
        users: users.clone(),
        groups: groups.clone(),
        services: services.clone(),
        listening_ports: listening_ports.clone(),
        collection_errors: collection_errors.clone(),
    }
}

/// Entries of `a` that are not in `b` (both sorted by id): packages added, removed or re-installed.
pub fn entries_not_in(a: &[Entry], b: &[Entry]) -> Vec<Entry> {
    let mut j = 0;
    let mut only = Vec::new();
    for entry in a {
        while j < b.len() && b[j].0 < entry.0 {
            j += 1;
        }
        if j >= b.len() || b[j] != *entry {
            only.push(entry.clone());
        }
    }
    only
}

/// The package ids of a body, without decoding the rest (index rebuilds).
pub fn package_ids(body: &[u8], ci: &str) -> Result<Vec<u32>, CodecError> {
    let raw = decompress(body, ci)?;
    let mut reader = Reader {
        bytes: &raw,
        at: 0,
        ci,
    };
    let json_len = reader.varint()? as usize;
    reader.take(json_len)?;
    reader.ids()
}

/// Decodes a body's inventory without its packages: fleet-wide summaries (the web console's OS and
/// hardware-age charts) need only the OS and hardware, and cloning a thousand package records per CI
/// would dominate a pass over the fleet.
pub fn decode_without_packages(body: &[u8], ci: &str) -> Result<Inventory, CodecError> {
    let raw = decompress(body, ci)?;
    let mut reader = Reader {
        bytes: &raw,
        at: 0,
        ci,
    };
    let json_len = reader.varint()? as usize;
    let json = reader.take(json_len)?;
    serde_json::from_slice(json).map_err(|e| reader.corrupt(e))
}

/// Decodes a body back into the inventory it was encoded from.
pub fn decode(body: &[u8], interner: &Interner, ci: &str) -> Result<Inventory, CodecError> {
    let (mut inventory, entries) = decode_parts(body, ci)?;
    inventory.software.packages = packages_of(&entries, interner, ci)?;
    inventory.canonicalize();
    Ok(inventory)
}

fn decompress(body: &[u8], ci: &str) -> Result<Vec<u8>, CodecError> {
    lz4_flex::decompress_size_prepended(body).map_err(|e| CodecError::Corrupt {
        ci: ci.to_string(),
        message: e.to_string(),
    })
}

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    ci: &'a str,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, message: impl std::fmt::Display) -> CodecError {
        CodecError::Corrupt {
            ci: self.ci.to_string(),
            message: format!("{message} (at byte {})", self.at),
        }
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| self.corrupt("truncated varint"))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.corrupt("varint too long"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.corrupt("truncated"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn ids(&mut self) -> Result<Vec<u32>, CodecError> {
        let n = self.varint()? as usize;
        let mut ids = Vec::with_capacity(n.min(1 << 20));
        let mut previous = 0u64;
        for _ in 0..n {
            previous += self.varint()?;
            ids.push(u32::try_from(previous).map_err(|e| self.corrupt(e))?);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(n_packages: usize, hostname: &str) -> Inventory {
        let mut inventory = Inventory::default();
        inventory.schema_version = 1;
        inventory.host.hostname = Some(hostname.into());
        inventory.software.packages = (0..n_packages)
            .map(|i| Package {
                manager: "dpkg".into(),
                name: format!("package-number-{i}"),
                version: format!("1.{i}.0-1+deb12u1"),
                arch: Some("amd64".into()),
                vendor: Some("Debian Developers <debian-devel@lists.debian.org>".into()),
                section: Some("libs".into()),
                installed_size_bytes: Some(1024 * i as u64),
                installed_at: (i % 100 == 0).then(|| format!("2026-01-01T00:00:{:02}Z", i % 60)),
                ..Package::default()
            })
            .collect();
        inventory.canonicalize();
        inventory
    }

    #[test]
    fn only_packages_that_differ_are_materialised_and_they_rebuild_the_whole() {
        let mut interner = Interner::default();
        let old = machine(300, "web-01");
        let mut new = old.clone();
        new.software.packages[5].version = "9.9-1".into();
        new.software.packages[100].installed_at = Some("2026-02-02T00:00:00Z".into());
        new.software.packages.remove(7);
        new.canonicalize();
        let (old_body, _) = encode(&old, &mut interner);
        let (_, new_entries) = encode_entries(&new, &mut interner);
        let (shell, old_entries) = decode_parts(&old_body, "ci-000001").unwrap();
        assert_eq!(shell, without_packages(&old));
        // Upgraded (old record), removed, and re-installed (same record, other installed_at).
        let gone = entries_not_in(&old_entries, &new_entries);
        assert_eq!(gone.len(), 3);
        let came = entries_not_in(&new_entries, &old_entries);
        assert_eq!(came.len(), 2);
        let mut rebuilt: Vec<Package> = packages_of(&old_entries, &interner, "ci").unwrap();
        rebuilt.sort();
        let mut expected = old.software.packages.clone();
        expected.sort();
        assert_eq!(rebuilt, expected);
        assert!(matches!(
            packages_of(&[(99_999, None)], &interner, "ci-000002"),
            Err(CodecError::UnknownPackage { id: 99_999, .. })
        ));
    }

    #[test]
    fn a_body_decodes_to_the_inventory_it_was_encoded_from() {
        let mut interner = Interner::default();
        let inventory = machine(300, "web-01");
        let (body, ids) = encode(&inventory, &mut interner);
        assert_eq!(ids.len(), 300);
        assert_eq!(decode(&body, &interner, "ci-000001").unwrap(), inventory);
        assert_eq!(package_ids(&body, "ci-000001").unwrap(), ids);
    }

    #[test]
    fn a_second_machine_with_the_same_packages_interns_nothing_new_and_stays_small() {
        let mut interner = Interner::default();
        encode(&machine(1000, "web-01"), &mut interner);
        interner.confirm();
        let (body, _) = encode(&machine(1000, "web-02"), &mut interner);
        assert_eq!(interner.pending().count(), 0);
        assert!(body.len() < 4 * 1024, "body is {} bytes", body.len());
    }

    #[test]
    fn a_rolled_back_record_is_forgotten_and_its_id_given_again() {
        let mut interner = Interner::default();
        let package = Package {
            manager: "rpm".into(),
            name: "bash".into(),
            version: "5".into(),
            ..Package::default()
        };
        let digest = census_shared::package_digest::package_digest(&package.package_ref());
        assert_eq!(interner.intern(&package), 0);
        assert_eq!(interner.by_digest(&digest), Some(&package));
        interner.rollback();
        assert!(interner.is_empty());
        assert_eq!(interner.by_digest(&digest), None);
        assert_eq!(interner.intern(&package), 0);
        interner.confirm();
        assert_eq!(interner.pending().count(), 0);
        // Loaded from the store, records answer to their digests as well.
        let loaded = Interner::from_records(vec![package.clone()]);
        assert_eq!(loaded.by_digest(&digest), Some(&package));
    }

    #[test]
    fn a_truncated_body_is_refused_with_the_ci_named() {
        let mut interner = Interner::default();
        let (body, _) = encode(&machine(10, "web-01"), &mut interner);
        let raw = lz4_flex::decompress_size_prepended(&body).unwrap();
        let cut = lz4_flex::compress_prepend_size(&raw[..raw.len() / 2]);
        let error = decode(&cut, &interner, "ci-000009").unwrap_err();
        assert!(error.to_string().contains("ci-000009"), "{error}");
    }
}

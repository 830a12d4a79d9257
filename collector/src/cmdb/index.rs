//! Secondary indexes: derived data, rebuilt from the CI records by `Cmdb::rebuild_indexes`.
//!
//! Identity and lookup values live in the `cmdb_index` space as empty-valued keys
//! `tag, value, 0x00, ci (u64 big-endian)`, written in the same batch as the CI, so that a lookup is a
//! prefix scan and a hostname prefix query a range scan. IP addresses are stored as
//! `tag, family (4|6), octets, ci` so a CIDR query is one range. Tags: see [`Tag`].
//!
//! Packages are indexed in memory ([`PackageIndex`]): a posting list of CIs per interned package record,
//! rebuilt at startup from the CI bodies' package ids (no per-package keys on disk, which cost ~300 KB
//! and 8 ms a CI in sled; see `docs/cmdb-storage.md`). A `package:openssl version<3.0.7` query reads the
//! postings of the records named `openssl` and never decodes a document.

use super::model::{CiNum, Status};
use super::reconcile::Identifiers;
use census_shared::inventory::{Inventory, Package};
use roaring::RoaringBitmap;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// The one-byte tags of index keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// Any serial (system, baseboard, chassis) as reported, trimmed.
    Serial = b'S',
    /// Lowercase system vendor, 0x1f, system serial: reconciliation rule 1.
    VendorSerial = b'V',
    /// Lowercase SMBIOS UUID.
    Uuid = b'U',
    /// Baseboard or chassis serial: rule 3.
    BoardSerial = b'B',
    MachineId = b'M',
    /// Lowercase MAC of any interface (physical NICs' permanent MAC as well).
    Mac = b'A',
    Ip = b'I',
    /// Lowercase hostname and FQDN.
    Hostname = b'H',
    DiskSerial = b'D',
    Status = b'Z',
    /// Agent with an open conflict, to the conflict number (not a CI).
    OpenConflict = b'C',
}

/// A lookup the query layer or reconciliation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Serial(String),
    Uuid(String),
    Mac(String),
    Ip(IpAddr),
    /// Every address within `network/prefix_len`.
    Cidr(IpAddr, u8),
    Hostname(String),
    HostnamePrefix(String),
    MachineId(String),
    Status(Status),
    VendorSerial(Option<String>, String),
    BoardSerial(String),
    DiskSerial(String),
}

/// `tag, value, 0x00`: the prefix of every key of `value`.
pub fn value_prefix(tag: Tag, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(value.len() + 10);
    key.push(tag as u8);
    key.extend_from_slice(value.as_bytes());
    key.push(0);
    key
}

fn with_ci(mut prefix: Vec<u8>, ci: CiNum) -> Vec<u8> {
    prefix.extend_from_slice(&ci.to_be_bytes());
    prefix
}

pub fn ip_prefix(address: IpAddr) -> Vec<u8> {
    let mut key = vec![Tag::Ip as u8];
    match address {
        IpAddr::V4(v4) => {
            key.push(4);
            key.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            key.push(6);
            key.extend_from_slice(&v6.octets());
        }
    }
    key
}

/// The first and last address of `network/prefix_len`, as key prefixes; `None` for a prefix longer than
/// the address.
pub fn cidr_bounds(network: IpAddr, prefix_len: u8) -> Option<(Vec<u8>, Vec<u8>)> {
    let (first, last) = match network {
        IpAddr::V4(v4) => {
            if prefix_len > 32 {
                return None;
            }
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            let base = u32::from(v4) & mask;
            (
                IpAddr::from(std::net::Ipv4Addr::from(base)),
                IpAddr::from(std::net::Ipv4Addr::from(base | !mask)),
            )
        }
        IpAddr::V6(v6) => {
            if prefix_len > 128 {
                return None;
            }
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            let base = u128::from(v6) & mask;
            (
                IpAddr::from(std::net::Ipv6Addr::from(base)),
                IpAddr::from(std::net::Ipv6Addr::from(base | !mask)),
            )
        }
    };
    Some((ip_prefix(first), ip_prefix(last)))
}

pub fn status_key(status: Status, ci: CiNum) -> Vec<u8> {
    with_ci(value_prefix(Tag::Status, status.as_str()), ci)
}

pub fn vendor_serial_value(vendor: Option<&str>, serial: &str) -> String {
    format!("{}\u{1f}{serial}", vendor.unwrap_or(""))
}

/// Every index key of CI `ci` with `inventory` (status keys apart: see [`status_key`]).
pub fn keys(ci: CiNum, inventory: &Inventory) -> BTreeSet<Vec<u8>> {
    let mut keys = BTreeSet::new();
    let mut add = |tag: Tag, value: &str| {
        let value = value.trim();
        if !value.is_empty() && !value.contains('\0') {
            keys.insert(with_ci(value_prefix(tag, value), ci));
        }
    };
    let hardware = &inventory.hardware;
    let identifiers = Identifiers::of(inventory);
    for serial in [
        &hardware.system.serial,
        &hardware.baseboard.serial,
        &hardware.chassis.serial,
    ]
    .into_iter()
    .flatten()
    {
        add(Tag::Serial, serial);
    }
    if let Some(serial) = &identifiers.system_serial {
        add(
            Tag::VendorSerial,
            &vendor_serial_value(identifiers.system_vendor.as_deref(), serial),
        );
    }
    if let Some(uuid) = &hardware.system.uuid {
        add(Tag::Uuid, &uuid.to_ascii_lowercase());
    }
    for serial in &identifiers.board_serials {
        add(Tag::BoardSerial, serial);
    }
    if let Some(id) = &inventory.host.machine_id {
        add(Tag::MachineId, &id.to_ascii_lowercase());
    }
    for name in [&inventory.host.hostname, &inventory.host.fqdn]
        .into_iter()
        .flatten()
    {
        add(Tag::Hostname, &name.to_lowercase());
    }
    for disk in &hardware.disks {
        if let Some(serial) = &disk.serial {
            add(Tag::DiskSerial, serial);
        }
    }
    let mut ips = Vec::new();
    for interface in &inventory.network.interfaces {
        for mac in [&interface.mac, &interface.permanent_mac]
            .into_iter()
            .flatten()
        {
            add(Tag::Mac, &mac.to_ascii_lowercase());
        }
        ips.extend(
            interface
                .addresses
                .iter()
                .filter_map(|a| a.address.parse::<IpAddr>().ok()),
        );
    }
    for ip in ips {
        keys.insert(with_ci(ip_prefix(ip), ci));
    }
    keys
}

/// The CI number at the end of an index key.
pub fn ci_of_key(key: &[u8]) -> Option<CiNum> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(CiNum::from_be_bytes(tail))
}

/// The position after `at` and the repeats of `value` there.
fn past(list: &[u32], mut at: usize, value: u32) -> usize {
    while list.get(at) == Some(&value) {
        at += 1;
    }
    at
}

/// Gathers the CIs of every record for [`PackageIndex::set_postings`]. The start-up rebuild adds a
/// whole fleet's postings (50 million at 100,000 CIs of 500 packages): inserted one by one into
/// compressed sets they cost ~4 times a plain list's push (three pointers to follow per insert, for
/// a different set each time), and gathered whole as lists they would cost the lists' memory at
/// start (~200 MB at that scale). So CIs are gathered as lists a slice at a time, and each slice is
/// appended to the sets in one step per record.
#[derive(Debug)]
pub struct PostingsBuilder {
    sets: Vec<RoaringBitmap>,
    /// Postings gathered before they are appended to the sets.
    slice: usize,
    /// Per record, the CIs of the current slice (cleared, not freed, between slices).
    pending: Vec<Vec<u32>>,
    /// The records with pending CIs.
    touched: Vec<u32>,
    pending_len: usize,
    last_ci: Option<u32>,
}

impl Default for PostingsBuilder {
    fn default() -> Self {
        Self {
            sets: Vec::new(),
            // 4 MB of lists.
            slice: 1 << 20,
            pending: Vec::new(),
            touched: Vec::new(),
            pending_len: 0,
            last_ci: None,
        }
    }
}

impl PostingsBuilder {
    /// CI `ci` holds records `ids` (sorted; repeats are ignored).
    pub fn add(&mut self, ci: CiNum, ids: &[u32]) {
        let ci = ci as u32;
        if self.last_ci.is_some_and(|last| last >= ci) {
            // Out of order (the store gives CIs ascending, so this is a safeguard): what is
            // pending goes first, then this CI straight into the sets.
            self.append_pending();
            for &id in ids {
                self.set(id).insert(ci);
            }
            return;
        }
        self.last_ci = Some(ci);
        let mut previous = None;
        for &id in ids {
            if previous == Some(id) {
                continue;
            }
            previous = Some(id);
            if self.pending.len() <= id as usize {
                self.pending.resize_with(id as usize + 1, Vec::new);
            }
            let list = &mut self.pending[id as usize];
            if list.is_empty() {
                self.touched.push(id);
            }
            list.push(ci);
            self.pending_len += 1;
        }
        if self.pending_len >= self.slice {
            self.append_pending();
        }
    }

    fn set(&mut self, id: u32) -> &mut RoaringBitmap {
        if self.sets.len() <= id as usize {
            self.sets.resize_with(id as usize + 1, RoaringBitmap::new);
        }
        &mut self.sets[id as usize]
    }

    fn append_pending(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            let mut cis = std::mem::take(&mut self.pending[id as usize]);
            let set = self.set(id);
            // Pending CIs are above `last_ci` when they were added, so above every CI in the sets:
            // `append` takes them in one step. Inserting them one by one is only a safeguard.
            if set.append(cis.iter().copied()).is_err() {
                set.extend(cis.iter().copied());
            }
            cis.clear();
            self.pending[id as usize] = cis;
        }
        self.pending_len = 0;
    }

    fn finish(mut self) -> Vec<RoaringBitmap> {
        self.append_pending();
        for set in &mut self.sets {
            set.optimize();
            // roaring has no shrink_to_fit: a clone allocates each container at its length.
            *set = set.clone();
        }
        self.sets
    }
}

/// One CI holding a package with the given name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagePosting {
    pub ci: CiNum,
    pub manager: String,
    pub version: String,
    pub arch: Option<String>,
}

/// CIs per interned package record, in memory.
#[derive(Debug, Default)]
pub struct PackageIndex {
    /// Per package record id, the CI numbers holding it, as a compressed bitmap: a record most of
    /// the fleet holds costs a bit per CI (or a few bytes per run of CIs) instead of the four bytes
    /// per CI of a sorted `Vec<u32>`, which at 100,000 CIs of 500 packages was ~200 MB of the
    /// collector's 1 GB. u32 numbers: CI numbers are far below 4 billion.
    postings: Vec<RoaringBitmap>,
    /// Package name, ASCII-lowercased (queries ignore its case), to the record ids with that name.
    by_name: HashMap<String, Vec<u32>>,
}

impl PackageIndex {
    /// Makes record `id` (named `name`) known; ids arrive in order.
    pub fn add_record(&mut self, id: u32, name: &str) {
        if self.postings.len() <= id as usize {
            self.postings
                .resize_with(id as usize + 1, RoaringBitmap::new);
        }
        let ids = self.by_name.entry(name.to_ascii_lowercase()).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// CI `ci` held records `old` and now holds `new` (both sorted; repeats are ignored).
    pub fn update(&mut self, ci: CiNum, old: &[u32], new: &[u32]) {
        let ci = ci as u32;
        // One merge of the two sorted lists finds what left and what came, without building sets:
        // this runs for every report that changes a CI and for every CI at start.
        let (mut at_old, mut at_new) = (0, 0);
        loop {
            match (old.get(at_old).copied(), new.get(at_new).copied()) {
                (None, None) => break,
                (Some(a), Some(b)) if a == b => {
                    at_old = past(old, at_old, a);
                    at_new = past(new, at_new, b);
                }
                (Some(a), Some(b)) if a < b => {
                    self.remove_posting(a, ci);
                    at_old = past(old, at_old, a);
                }
                (Some(a), None) => {
                    self.remove_posting(a, ci);
                    at_old = past(old, at_old, a);
                }
                (_, Some(b)) => {
                    self.add_posting(b, ci);
                    at_new = past(new, at_new, b);
                }
            }
        }
    }

    fn remove_posting(&mut self, id: u32, ci: u32) {
        if let Some(cis) = self.postings.get_mut(id as usize) {
            cis.remove(ci);
        }
    }

    fn add_posting(&mut self, id: u32, ci: u32) {
        if self.postings.len() <= id as usize {
            self.postings
                .resize_with(id as usize + 1, RoaringBitmap::new);
        }
        self.postings[id as usize].insert(ci);
    }

    /// Every CI holding a package named `name`, with the version it holds, by CI then version.
    pub fn named(
        &self,
        name: &str,
        record: impl Fn(u32) -> Option<Package>,
    ) -> Vec<PackagePosting> {
        let mut postings = Vec::new();
        for id in self.records_named_ignoring_case(name) {
            let Some(package) = record(*id).filter(|package| package.name == name) else {
                continue;
            };
            for ci in self.cis_of_record(*id) {
                postings.push(PackagePosting {
                    ci: CiNum::from(ci),
                    manager: package.manager.clone(),
                    version: package.version.clone(),
                    arch: package.arch.clone(),
                });
            }
        }
        postings.sort_by(|a, b| (a.ci, &a.version).cmp(&(b.ci, &b.version)));
        postings
    }

    /// The ids of the records whose name equals `name` ignoring ASCII case: what `package:NAME`
    /// judges, instead of every record the CMDB ever saw.
    pub fn records_named_ignoring_case(&self, name: &str) -> &[u32] {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// The CI numbers holding record `id`, ascending.
    pub fn cis_of_record(&self, id: u32) -> impl Iterator<Item = u32> + '_ {
        self.postings.get(id as usize).into_iter().flatten()
    }

    /// Replaces every record's CIs with what `built` gathered (the start-up rebuild), each set in
    /// its smallest form (runs where CI numbers are consecutive) and at its exact size.
    pub fn set_postings(&mut self, built: PostingsBuilder) {
        let records = self.postings.len();
        self.postings = built.finish();
        if self.postings.len() < records {
            self.postings.resize_with(records, RoaringBitmap::new);
        }
        self.postings.shrink_to_fit();
    }

    /// Number of (record, CI) postings: a size measure for tests and metrics.
    pub fn n_postings(&self) -> u64 {
        self.postings.iter().map(RoaringBitmap::len).sum()
    }

    /// Bytes the postings' sets take in roaring's portable form: close to their heap size, which
    /// the benchmarks print beside the number of postings.
    pub fn postings_bytes(&self) -> usize {
        self.postings
            .iter()
            .map(RoaringBitmap::serialized_size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_shared::inventory::{Interface, IpAddress};

    #[test]
    fn cidr_bounds_cover_exactly_the_network() {
        let (first, last) = cidr_bounds("10.1.2.3".parse().unwrap(), 24).unwrap();
        assert_eq!(first, ip_prefix("10.1.2.0".parse().unwrap()));
        assert_eq!(last, ip_prefix("10.1.2.255".parse().unwrap()));
        let (first, last) = cidr_bounds("10.1.2.3".parse().unwrap(), 0).unwrap();
        assert_eq!(first, ip_prefix("0.0.0.0".parse().unwrap()));
        assert_eq!(last, ip_prefix("255.255.255.255".parse().unwrap()));
        assert!(cidr_bounds("10.1.2.3".parse().unwrap(), 33).is_none());
        let (first, _) = cidr_bounds("fd00::1".parse().unwrap(), 64).unwrap();
        assert_eq!(first, ip_prefix("fd00::".parse().unwrap()));
    }

    #[test]
    fn keys_hold_the_lookup_values_and_end_with_the_ci() {
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some("Web-01".into());
        inventory.hardware.system.serial = Some("ABC123".into());
        inventory.network.interfaces = vec![Interface {
            name: "eth0".into(),
            mac: Some("AA:00:00:00:00:01".into()),
            addresses: vec![IpAddress {
                address: "10.0.0.5".into(),
                prefix_len: 24,
                family: "inet".into(),
            }],
            ..Interface::default()
        }];
        let keys = keys(42, &inventory);
        assert!(keys.contains(&with_ci(value_prefix(Tag::Hostname, "web-01"), 42)));
        assert!(keys.contains(&with_ci(value_prefix(Tag::Serial, "ABC123"), 42)));
        assert!(keys.contains(&with_ci(value_prefix(Tag::Mac, "aa:00:00:00:00:01"), 42)));
        assert!(keys.contains(&with_ci(ip_prefix("10.0.0.5".parse().unwrap()), 42)));
        assert!(keys.iter().all(|key| ci_of_key(key) == Some(42)));
    }

    #[test]
    fn package_postings_follow_updates() {
        let mut index = PackageIndex::default();
        index.add_record(0, "openssl");
        index.add_record(1, "openssl");
        index.update(1, &[], &[0]);
        index.update(2, &[], &[0]);
        index.update(1, &[0], &[1]);
        let record = |id: u32| {
            Some(Package {
                manager: "dpkg".into(),
                name: "openssl".into(),
                version: format!("3.0.{id}"),
                ..Package::default()
            })
        };
        let found: Vec<(CiNum, String)> = index
            .named("openssl", record)
            .into_iter()
            .map(|p| (p.ci, p.version))
            .collect();
        assert_eq!(found, [(1, "3.0.1".to_string()), (2, "3.0.0".to_string())]);
        assert!(index.named("curl", record).is_empty());
        assert!(
            index.named("OpenSSL", record).is_empty(),
            "named() is exact"
        );
        assert_eq!(index.n_postings(), 2);
    }

    proptest::proptest! {
        /// The merge gives what the set difference of the two lists gives, whatever the order in
        /// which CIs come and go.
        #[test]
        fn postings_are_what_the_sets_say(
            steps in proptest::collection::vec(
                (0u64..6, proptest::collection::vec(0u32..12, 0..10)),
                1..30,
            ),
        ) {
            let mut index = PackageIndex::default();
            let mut held: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
            for (ci, mut new) in steps {
                new.sort_unstable();
                let old = held.insert(ci, new.clone()).unwrap_or_default();
                index.update(ci, &old, &new);
            }
            for id in 0..12u32 {
                let expected: Vec<u32> = held
                    .iter()
                    .filter(|(_, ids)| ids.contains(&id))
                    .map(|(ci, _)| *ci as u32)
                    .collect();
                let actual: Vec<u32> = index.cis_of_record(id).collect();
                proptest::prop_assert_eq!(actual, expected, "record {}", id);
            }
        }
    }

    proptest::proptest! {
        /// The start-up rebuild gives the same postings as one update per CI, whatever the order
        /// of the CIs and wherever the slices end; records no CI holds stay known.
        #[test]
        fn rebuilt_postings_are_what_updates_give(
            holdings in proptest::collection::btree_map(
                0u64..200,
                proptest::collection::vec(0u32..12, 0..10),
                0..40,
            ),
            reversed_from in 0usize..40,
            slice in 1usize..20,
        ) {
            let mut holdings: Vec<(u64, Vec<u32>)> = holdings.into_iter().collect();
            for (_, ids) in &mut holdings {
                ids.sort_unstable();
            }
            // Ascending as the store gives them, then some out of order.
            let cut = reversed_from.min(holdings.len());
            holdings[cut..].reverse();
            let mut updated = PackageIndex::default();
            let mut built = PackageIndex::default();
            let mut builder = PostingsBuilder { slice, ..PostingsBuilder::default() };
            for id in 0..14u32 {
                updated.add_record(id, "p");
                built.add_record(id, "p");
            }
            for (ci, ids) in &holdings {
                updated.update(*ci, &[], ids);
                builder.add(*ci, ids);
            }
            built.set_postings(builder);
            proptest::prop_assert_eq!(built.postings.len(), updated.postings.len());
            for id in 0..14u32 {
                let from_build: Vec<u32> = built.cis_of_record(id).collect();
                let from_updates: Vec<u32> = updated.cis_of_record(id).collect();
                proptest::prop_assert_eq!(from_build, from_updates, "record {}", id);
            }
            proptest::prop_assert_eq!(built.n_postings(), updated.n_postings());
        }
    }

    #[test]
    fn records_are_found_by_name_ignoring_case() {
        let mut index = PackageIndex::default();
        index.add_record(0, "openssl");
        index.add_record(1, "OpenSSL");
        index.add_record(2, "curl");
        assert_eq!(index.records_named_ignoring_case("OPENSSL"), [0, 1]);
        assert_eq!(index.records_named_ignoring_case("curl"), [2]);
        assert!(index.records_named_ignoring_case("wget").is_empty());
    }
}

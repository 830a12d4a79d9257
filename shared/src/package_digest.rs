//! Naming a package record by a short digest, so a full report can leave out records the collector
//! already holds.
//!
//! A fleet shares most of its package records (the same `openssl 3.0.15-1~deb12u1` on thousands of
//! machines), and the collector keeps each record once. A full report in the `known` form
//! ([`crate::protocol::ReportBody::Known`]) sends every package without an install time as the
//! [`PackageDigest`] of its record: 6 bytes instead of ~250 of JSON. The collector rebuilds the
//! document from its records and checks it against the report's content hash (SHA-256 of the whole
//! document), so a digest that names the wrong record (a 48-bit collision) cannot store a wrong
//! inventory: the report is refused with `hash_mismatch` and the agent sends the full document.

use crate::inventory::{AsPackageRef, Inventory, PackageRef};
use crate::package_json;
use crate::protocol::ReportBody;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Bytes of a digest: collisions are settled by the content hash, so it only has to make them rare
/// (about one pair among 24 million records), while every byte costs ~1 KB per 1,000 packages.
pub const DIGEST_BYTES: usize = 6;

/// The first [`DIGEST_BYTES`] of the SHA-256 of a package record's JSON (the package as
/// `serde_json` writes it, with no install time: the record fleet machines share).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageDigest(pub [u8; DIGEST_BYTES]);

/// The digest of `package`'s record (its `installed_at` ignored).
pub fn package_digest(package: &PackageRef<'_>) -> PackageDigest {
    let record = PackageRef {
        installed_at: None,
        ..*package
    };
    let mut json = Vec::with_capacity(256);
    package_json::write_package(&mut json, &record);
    let hash = Sha256::digest(&json);
    let mut digest = [0; DIGEST_BYTES];
    digest.copy_from_slice(&hash[..DIGEST_BYTES]);
    PackageDigest(digest)
}

/// A list of digests; on the wire an array of base64 strings (standard alphabet), each the
/// concatenation of up to [`DIGESTS_PER_STRING`] digests, which gzip leaves at ~6 bytes per package
/// (an array of one string per digest would cost twice that). Strings stay under the collector's
/// 4 KiB string limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageDigests(pub Vec<PackageDigest>);

/// Digests per string: 3,060 bytes, 4,080 base64 characters (whole 3-byte groups, so no padding
/// inside the list).
pub const DIGESTS_PER_STRING: usize = 510;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestsError {
    #[error("package digests are not valid base64: {0}")]
    Base64(String),
    #[error("package digests are {0} bytes, not a multiple of {DIGEST_BYTES}")]
    Length(usize),
}

impl PackageDigests {
    /// The wire form: base64 strings of up to [`DIGESTS_PER_STRING`] digests each.
    pub fn to_base64(&self) -> Vec<String> {
        self.0
            .chunks(DIGESTS_PER_STRING)
            .map(|chunk| {
                let bytes: Vec<u8> = chunk.iter().flat_map(|digest| digest.0).collect();
                STANDARD.encode(bytes)
            })
            .collect()
    }

    /// Reads the wire form back (any split into strings is accepted, each a whole number of digests).
    pub fn from_base64<S: AsRef<str>>(strings: &[S]) -> Result<Self, DigestsError> {
        let mut digests = Vec::new();
        for text in strings {
            let bytes = STANDARD
                .decode(text.as_ref())
                .map_err(|error| DigestsError::Base64(error.to_string()))?;
            if bytes.len() % DIGEST_BYTES != 0 {
                return Err(DigestsError::Length(bytes.len()));
            }
            digests.extend(bytes.chunks_exact(DIGEST_BYTES).map(|chunk| {
                let mut digest = [0; DIGEST_BYTES];
                digest.copy_from_slice(chunk);
                PackageDigest(digest)
            }));
        }
        Ok(PackageDigests(digests))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for PackageDigests {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_base64().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PackageDigests {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let strings = Vec::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        PackageDigests::from_base64(&strings).map_err(serde::de::Error::custom)
    }
}

/// A document in the `known` form, the parts of [`ReportBody::Known`].
#[derive(Debug, Clone, PartialEq)]
pub struct KnownForm {
    /// The document with only the packages sent whole.
    pub inventory: Inventory,
    /// The other packages, by record digest.
    pub known_packages: PackageDigests,
    /// Each named package's install time (per machine, not part of the shared record), in the
    /// order of `known_packages`; empty when none has one (dpkg and apk record none).
    pub known_installed_at: Vec<Option<String>>,
}

impl KnownForm {
    pub fn into_body(self) -> ReportBody {
        ReportBody::Known {
            inventory: Box::new(self.inventory),
            known_packages: self.known_packages,
            known_installed_at: self.known_installed_at,
        }
    }
}

/// `inventory` in the `known` form: packages whose digest is in `in_full` stay whole in the
/// returned inventory; every other package is named by its digest, its install time beside it.
pub fn known_form(inventory: &Inventory, in_full: &[PackageDigest]) -> KnownForm {
    // A set: a collector may ask for every one of 100,000 packages.
    let in_full: HashSet<PackageDigest> = in_full.iter().copied().collect();
    let mut shell = inventory.clone();
    shell.software.packages.clear();
    let n_packages = inventory.software.packages.len();
    let mut known = Vec::with_capacity(n_packages);
    let mut installed_at = Vec::with_capacity(n_packages);
    for package in &inventory.software.packages {
        let digest = package_digest(&package.package_ref());
        if in_full.contains(&digest) {
            shell.software.packages.push(package.clone());
        } else {
            known.push(digest);
            installed_at.push(package.installed_at.clone());
        }
    }
    if installed_at.iter().all(Option::is_none) {
        installed_at.clear();
    }
    KnownForm {
        inventory: shell,
        known_packages: PackageDigests(known),
        known_installed_at: installed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Package;

    fn openssl() -> Package {
        Package {
            manager: "dpkg".into(),
            name: "openssl".into(),
            version: "3.0.15-1~deb12u1".into(),
            arch: Some("amd64".into()),
            source: Some("openssl".into()),
            vendor: Some("Debian OpenSSL Team".into()),
            section: Some("utils".into()),
            installed_size_bytes: Some(2_312_192),
            installed_at: None,
        }
    }

    #[test]
    fn the_digest_is_the_head_of_the_sha256_of_the_records_json() {
        let package = openssl();
        let mut record = package.clone();
        record.installed_at = None;
        let json = serde_json::to_vec(&record).unwrap();
        let expected = &Sha256::digest(&json)[..DIGEST_BYTES];
        assert_eq!(package_digest(&package.package_ref()).0, expected);
    }

    #[test]
    fn the_install_time_is_not_part_of_the_record() {
        let package = openssl();
        let mut installed = package.clone();
        installed.installed_at = Some("2026-11-01T10:00:00Z".into());
        assert_eq!(
            package_digest(&package.package_ref()),
            package_digest(&installed.package_ref())
        );
        let mut other = package.clone();
        other.version = "3.0.16-1~deb12u1".into();
        assert_ne!(
            package_digest(&package.package_ref()),
            package_digest(&other.package_ref())
        );
    }

    #[test]
    fn the_known_form_names_shared_records_and_keeps_the_rest_whole() {
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some("web-01".into());
        let mut curl = openssl();
        curl.name = "curl".into();
        let mut installed = openssl();
        installed.name = "libssl3".into();
        installed.installed_at = Some("2026-11-01T10:00:00Z".into());
        inventory.software.packages = vec![openssl(), curl.clone(), installed.clone()];

        // Every package by digest; the install time of the one that has one travels beside it.
        let form = known_form(&inventory, &[]);
        assert_eq!(form.inventory.host.hostname.as_deref(), Some("web-01"));
        assert!(form.inventory.software.packages.is_empty());
        assert_eq!(
            form.known_packages.0,
            vec![
                package_digest(&openssl().package_ref()),
                package_digest(&curl.package_ref()),
                package_digest(&installed.package_ref()),
            ]
        );
        assert_eq!(
            form.known_installed_at,
            vec![None, None, Some("2026-11-01T10:00:00Z".to_string())]
        );

        // Those the collector asked for go whole; without install times the list is left out.
        let form = known_form(&inventory, &[package_digest(&installed.package_ref())]);
        assert_eq!(form.inventory.software.packages, vec![installed]);
        assert_eq!(form.known_packages.len(), 2);
        assert!(form.known_installed_at.is_empty());
    }

    /// The collector's side, in miniature: the records it holds by digest, the document rebuilt
    /// from a `known` form, in canonical order.
    fn rebuild(
        form: &KnownForm,
        records: &std::collections::HashMap<PackageDigest, Package>,
    ) -> Inventory {
        let mut whole = form.inventory.clone();
        let times = form
            .known_installed_at
            .iter()
            .cloned()
            .chain(std::iter::repeat(None));
        for (digest, installed_at) in form.known_packages.0.iter().zip(times) {
            whole.software.packages.push(Package {
                installed_at,
                ..records[digest].clone()
            });
        }
        whole.canonicalize();
        whole
    }

    proptest::proptest! {
        #[test]
        fn a_document_rebuilt_from_its_known_form_has_its_content_hash(
            packages in proptest::collection::vec(
                (
                    "[a-z]{1,6}",
                    "[0-9]\\.[0-9]{1,2}",
                    proptest::option::of("[a-z0-9]{0,5}"),
                    proptest::option::of("2026-0[1-9]-1[0-9]T00:00:00Z"),
                ),
                0..40,
            ),
            whole_every in 1usize..5,
        ) {
            let mut inventory = Inventory::default();
            inventory.host.hostname = Some("web-01".into());
            inventory.software.packages = packages
                .into_iter()
                .map(|(name, version, vendor, installed_at)| Package {
                    manager: "rpm".into(),
                    name,
                    version,
                    vendor,
                    installed_at,
                    ..Package::default()
                })
                .collect();
            inventory.canonicalize();
            let records: std::collections::HashMap<PackageDigest, Package> = inventory
                .software
                .packages
                .iter()
                .map(|p| (package_digest(&p.package_ref()), Package { installed_at: None, ..p.clone() }))
                .collect();
            // Some packages asked for whole, the rest by digest: the same document either way.
            let in_full: Vec<PackageDigest> = inventory
                .software
                .packages
                .iter()
                .step_by(whole_every)
                .map(|p| package_digest(&p.package_ref()))
                .collect();
            for asked in [&[][..], &in_full[..]] {
                let form = known_form(&inventory, asked);
                let rebuilt = rebuild(&form, &records);
                proptest::prop_assert_eq!(
                    crate::hash::content_hash(&rebuilt),
                    crate::hash::content_hash(&inventory)
                );
            }
        }
    }

    #[test]
    fn digests_travel_as_base64_strings_and_come_back_equal() {
        let digests = PackageDigests(vec![
            PackageDigest([0, 1, 2, 3, 4, 5]),
            PackageDigest([250, 251, 252, 253, 254, 255]),
        ]);
        let json = serde_json::to_string(&digests).unwrap();
        assert_eq!(json, r#"["AAECAwQF+vv8/f7/"]"#);
        let back: PackageDigests = serde_json::from_str(&json).unwrap();
        assert_eq!(back, digests);
        let empty: PackageDigests = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "[]");
    }

    #[test]
    fn long_lists_are_split_into_strings_under_the_collectors_string_limit() {
        let digests = PackageDigests(
            (0..2_000u32)
                .map(|i| {
                    let b = i.to_be_bytes();
                    PackageDigest([b[0], b[1], b[2], b[3], 0, 1])
                })
                .collect(),
        );
        let strings = digests.to_base64();
        assert_eq!(strings.len(), 4);
        assert!(strings.iter().all(|s| s.len() <= 4_080 && !s.contains('=')));
        assert_eq!(PackageDigests::from_base64(&strings).unwrap(), digests);
    }

    #[test]
    fn damaged_digest_lists_are_refused_with_the_reason() {
        assert!(matches!(
            PackageDigests::from_base64(&["not base64!"]),
            Err(DigestsError::Base64(_))
        ));
        // 4 bytes: not a whole digest.
        assert_eq!(
            PackageDigests::from_base64(&["AAECAwQF", "AAECAw=="]),
            Err(DigestsError::Length(4))
        );
        let error = serde_json::from_str::<PackageDigests>(r#""AAECAwQF""#).unwrap_err();
        assert!(error.to_string().contains("sequence"), "{error}");
    }
}

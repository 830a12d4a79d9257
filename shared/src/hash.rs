//! The content hash that names an inventory on both sides of the wire.
//!
//! The agent sends only this hash when nothing changed, and a delta names the hash of the document it
//! applies to; the collector recomputes it after applying a delta. Both must therefore hash the same
//! bytes: the canonical JSON of the document with `collected_at` blanked (the moment of collection is not
//! a change to the machine).

use crate::inventory::*;
use crate::package_json;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the canonical form of `inventory` (which must already be canonicalized).
pub fn content_hash(inventory: &Inventory) -> String {
    content_hash_with_packages(inventory, &inventory.software.packages)
}

/// [`content_hash`] of `shell` with `packages` as its package list (the shell's own are ignored):
/// the same bytes are hashed, without a [`Package`] being built for records held elsewhere.
/// `packages` must be in canonical order ([`canonicalize_packages`]).
pub fn content_hash_with_packages<T: AsPackageRef>(shell: &Inventory, packages: &[T]) -> String {
    // The document goes through serde with an empty package list; the packages (~90% of the bytes)
    // are written by hand (`package_json`, byte-identical) into the place that list leaves.
    let empty = Software::default();
    let mut head = Vec::with_capacity(4096);
    // Serialising our own plain structs cannot fail (see `hash_of`).
    let _ = serde_json::to_writer(&mut head, &Unstamped::of(shell, &empty));
    let Some(split) = packages_position(&head) else {
        return hash_of(&Unstamped::of(shell, with_packages(packages)));
    };
    let mut hasher = Sha256::new();
    hasher.update(&head[..split]);
    let mut buffer = Vec::with_capacity(PACKAGE_BUFFER);
    for (position, package) in packages.iter().enumerate() {
        if position > 0 {
            buffer.push(b',');
        }
        package_json::write_package(&mut buffer, &package.package_ref());
        if buffer.len() >= PACKAGE_BUFFER / 2 {
            hasher.update(&buffer);
            buffer.clear();
        }
    }
    hasher.update(&buffer);
    hasher.update(&head[split..]);
    hex::encode(hasher.finalize())
}

/// Bytes of package JSON handed to SHA-256 at a time.
const PACKAGE_BUFFER: usize = 32 * 1024;

/// Where the package list's items go in the document serialised with an empty list: right after
/// `"software":{"packages":[`. That text can only be structural: inside a JSON string every `"` is
/// escaped, and here the quote after `software` follows a letter, not a backslash.
fn packages_position(head: &[u8]) -> Option<usize> {
    const MARKER: &[u8] = br#""software":{"packages":["#;
    head.windows(MARKER.len())
        .position(|window| window == MARKER)
        .map(|at| at + MARKER.len())
}

fn with_packages<T: AsPackageRef>(packages: &[T]) -> SoftwareWith<'_, T> {
    SoftwareWith {
        packages: PackagesOf(packages),
    }
}

fn hash_of(document: &impl Serialize) -> String {
    let mut writer = HashWriter(Sha256::new());
    // Serialising our own plain structs into a hasher cannot fail: no maps with non-string keys, no
    // custom serialisers, and the writer never errors.
    let _ = serde_json::to_writer(&mut writer, document);
    hex::encode(writer.0.finalize())
}

/// [`Software`] with its packages from elsewhere; every field of [`Software`], in its order.
#[derive(Serialize)]
#[serde(bound = "")]
struct SoftwareWith<'a, T: AsPackageRef> {
    packages: PackagesOf<'a, T>,
}

struct PackagesOf<'a, T>(&'a [T]);

impl<T: AsPackageRef> Serialize for PackagesOf<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|package| package.package_ref()))
    }
}

/// The document as hashed: every field of [`Inventory`] by reference, `collected_at` blank. Borrowing
/// instead of cloning keeps hashing a 1,000-package inventory allocation-free.
#[derive(Serialize)]
struct Unstamped<'a, S: Serialize> {
    schema_version: u32,
    collected_at: &'static str,
    agent: &'a AgentInfo,
    host: &'a Host,
    os: &'a Os,
    hardware: &'a Hardware,
    filesystems: &'a [Filesystem],
    network: &'a Network,
    software: S,
    users: &'a [User],
    groups: &'a [Group],
    services: &'a [Service],
    listening_ports: &'a [ListeningPort],
    collection_errors: &'a [CollectionError],
}

impl<'a, S: Serialize> Unstamped<'a, S> {
    fn of(inventory: &'a Inventory, software: S) -> Self {
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
            software: _,
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
            serde_json::to_value(Unstamped::of(&inventory, &inventory.software)).unwrap(),
            expected
        );
    }

    /// The definition: SHA-256 of serde_json's form of the whole document, collection time blank.
    fn by_serde(inventory: &Inventory) -> String {
        hash_of(&Unstamped::of(
            inventory,
            with_packages(&inventory.software.packages),
        ))
    }

    #[test]
    fn the_hand_written_package_list_hashes_as_serde_writes_it() {
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some(r#"host "software":{"packages":[ \"#.into());
        assert_eq!(content_hash(&inventory), by_serde(&inventory));
        inventory.software.packages = (0..3000)
            .map(|i| Package {
                manager: "dpkg".into(),
                name: format!("lib{i}-\u{e9}\t\"x\""),
                version: format!("1.{i}"),
                installed_size_bytes: (i % 2 == 0).then_some(i),
                ..Package::default()
            })
            .collect();
        inventory.canonicalize();
        assert_eq!(content_hash(&inventory), by_serde(&inventory));
    }

    #[test]
    fn packages_given_apart_hash_as_the_whole_document() {
        let package = |name: &str, installed_at: Option<&str>| Package {
            manager: "rpm".into(),
            name: name.into(),
            version: "1.2-3.el9".into(),
            arch: Some("x86_64".into()),
            source: Some("src \"quoted\" \u{1}".into()),
            vendor: None,
            section: Some("System/Base".into()),
            installed_size_bytes: Some(12_345),
            installed_at: installed_at.map(str::to_string),
        };
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some("web-01".into());
        inventory.software.packages = vec![
            package("bash", Some("2026-11-01T00:00:00Z")),
            package("zlib", None),
        ];
        // Shared records without install times, and this machine's install times beside them.
        let records = [package("bash", None), package("zlib", None)];
        let held: Vec<(&Package, Option<&str>)> = vec![
            (&records[0], Some("2026-11-01T00:00:00Z")),
            (&records[1], None),
        ];
        struct Held<'a>(&'a Package, Option<&'a str>);
        impl AsPackageRef for Held<'_> {
            fn package_ref(&self) -> PackageRef<'_> {
                self.0.with_installed_at(self.1)
            }
        }
        let held: Vec<Held<'_>> = held.into_iter().map(|(p, at)| Held(p, at)).collect();
        let mut shell = inventory.clone();
        shell.software.packages.clear();
        assert_eq!(
            content_hash_with_packages(&shell, &held),
            content_hash(&inventory)
        );
        assert_eq!(
            content_hash_with_packages(&inventory, &inventory.software.packages),
            content_hash(&inventory)
        );
        assert_ne!(
            content_hash_with_packages(&shell, &held[..1]),
            content_hash(&inventory)
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

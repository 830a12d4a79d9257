//! A report's inventory in the CMDB's own form, for the usual changed report.
//!
//! A changed report is mostly a delta of a few package upgrades against the CI's body. Rebuilding
//! that body as a whole [`Inventory`] copies every one of its ~1,000 shared package records (several
//! strings each) only to hash the result and intern the same records again. Instead,
//! [`Cmdb::stored_base`] reads the body as references to the shared records,
//! [`StoredBase::apply`] patches that list, [`PatchedInventory::content_hash`] hashes the very
//! bytes the agent hashed (`census_shared::hash::content_hash_with_packages`), and
//! [`ReportInventory`] hands the result to the CMDB's write, which already works on record ids.
//! A delta that touches anything but packages and the collection time takes the whole-document path.

use super::codec::{self, CodecError, Entry, Interner};
use super::{Cmdb, CmdbResult, ci_id};
use census_shared::delta::{DeltaError, PackageOnly};
use census_shared::hash;
use census_shared::inventory::{
    AsPackageRef, Inventory, Package, PackageRef, canonicalize_packages,
};
use std::sync::Arc;

/// One package of a [`PatchedInventory`].
#[derive(Debug, Clone)]
pub enum PackageItem {
    /// A record the CMDB holds (shared, without install time), with this machine's install time.
    Stored {
        id: u32,
        record: Arc<Package>,
        installed_at: Option<String>,
    },
    /// A package the report brought (boxed: a few per report, and the list's items stay small to
    /// sort and move).
    New(Box<Package>),
}

impl AsPackageRef for PackageItem {
    fn package_ref(&self) -> PackageRef<'_> {
        match self {
            PackageItem::Stored {
                record,
                installed_at,
                ..
            } => record.with_installed_at(installed_at.as_deref()),
            PackageItem::New(package) => package.package_ref(),
        }
    }
}

/// A CI body as its shell and references to its package records, in record-id order: the base of a
/// delta ([`Cmdb::stored_base`]).
#[derive(Debug, Clone)]
pub struct StoredBase {
    shell: Inventory,
    packages: Vec<PackageItem>,
}

impl StoredBase {
    /// From a body's parts ([`codec::decode_parts`]): its shell and its entries.
    pub(crate) fn from_parts(
        mut shell: Inventory,
        entries: Vec<Entry>,
        interner: &Interner,
        ci: &str,
    ) -> Result<Self, CodecError> {
        let packages = entries
            .into_iter()
            .map(|(id, installed_at)| {
                let record = interner
                    .record(id)
                    .ok_or_else(|| CodecError::UnknownPackage {
                        ci: ci.to_string(),
                        id,
                    })?;
                Ok(PackageItem::Stored {
                    id,
                    record,
                    installed_at,
                })
            })
            .collect::<Result<Vec<_>, CodecError>>()?;
        // The shell's own lists are small: ordering them again costs little and, as `codec::decode`
        // does, does not rely on how an older version wrote the body.
        shell.canonicalize();
        Ok(Self { shell, packages })
    }

    /// The base with a package-only delta ([`census_shared::delta::package_only`]) applied, in
    /// canonical order. Any other delta must be applied to the whole document.
    pub fn apply(self, only: &PackageOnly<'_>) -> Result<PatchedInventory, DeltaError> {
        let Self {
            mut shell,
            mut packages,
        } = self;
        if let Some(at) = only.collected_at {
            shell.collected_at = at.to_string();
        }
        only.patch(&mut packages, |package| PackageItem::New(Box::new(package)))?;
        // Bodies keep their entries by record id; the document's order is the canonical one.
        canonicalize_packages(&mut packages);
        Ok(PatchedInventory { shell, packages })
    }
}

/// An inventory whose packages are [`PackageItem`]s in canonical order; `shell` holds none.
#[derive(Debug, Clone)]
pub struct PatchedInventory {
    pub shell: Inventory,
    pub packages: Vec<PackageItem>,
}

impl PatchedInventory {
    /// A `known` report's document: `inventory` with its own packages (those the agent sent whole)
    /// and the shared `records` its digests named, each with its install time on this machine from
    /// `installed_at` (by position; none when shorter). Canonical, as the whole-document path makes
    /// it; the records are referenced, not copied.
    pub fn from_known(
        mut inventory: Inventory,
        records: Vec<(u32, Arc<Package>)>,
        installed_at: Vec<Option<String>>,
    ) -> Self {
        inventory.canonicalize();
        let whole = std::mem::take(&mut inventory.software.packages);
        let mut installed_at = installed_at.into_iter();
        let mut packages: Vec<PackageItem> = whole
            .into_iter()
            .map(|package| PackageItem::New(Box::new(package)))
            .chain(records.into_iter().map(|(id, record)| PackageItem::Stored {
                id,
                record,
                installed_at: installed_at.next().flatten(),
            }))
            .collect();
        canonicalize_packages(&mut packages);
        Self {
            shell: inventory,
            packages,
        }
    }

    /// The content hash of the whole document (`census_shared::hash::content_hash`).
    pub fn content_hash(&self) -> String {
        hash::content_hash_with_packages(&self.shell, &self.packages)
    }

    /// The whole document, for the paths that need one (an agent whose CI went away meanwhile).
    pub fn materialize(&self) -> Inventory {
        let mut inventory = self.shell.clone();
        inventory.software.packages = self
            .packages
            .iter()
            .map(|item| match item {
                PackageItem::Stored {
                    record,
                    installed_at,
                    ..
                } => Package {
                    installed_at: installed_at.clone(),
                    ..Package::clone(record)
                },
                PackageItem::New(package) => Package::clone(package),
            })
            .collect();
        inventory
    }
}

/// A report's inventory as the CMDB's write takes it.
#[derive(Debug, Clone, Copy)]
pub enum ReportInventory<'a> {
    Full(&'a Inventory),
    Patched(&'a PatchedInventory),
}

impl<'a> ReportInventory<'a> {
    /// Everything but the packages (for a full inventory, its packages are there but not to be read
    /// through this).
    pub fn shell(&self) -> &'a Inventory {
        match self {
            ReportInventory::Full(inventory) => inventory,
            ReportInventory::Patched(patched) => &patched.shell,
        }
    }

    /// The whole document: borrowed when it is one, built otherwise (paths that keep a report
    /// whole, such as an identity conflict's waiting inventory).
    pub(crate) fn whole(&self) -> std::borrow::Cow<'a, Inventory> {
        match self {
            ReportInventory::Full(inventory) => std::borrow::Cow::Borrowed(inventory),
            ReportInventory::Patched(patched) => std::borrow::Cow::Owned(patched.materialize()),
        }
    }

    /// A copy without packages.
    pub(crate) fn without_packages(&self) -> Inventory {
        match self {
            ReportInventory::Full(inventory) => codec::without_packages(inventory),
            ReportInventory::Patched(patched) => patched.shell.clone(),
        }
    }

    /// The CI body for this inventory and its package entries (sorted by record id), interning the
    /// records the CMDB does not hold yet.
    pub(crate) fn encode(&self, interner: &mut Interner) -> (Vec<u8>, Vec<codec::Entry>) {
        let packages = self.intern(interner);
        codec::encode_interned(self.shell(), packages)
    }

    /// (record id, install time) of every package, interning the ones the CMDB does not hold yet.
    pub(crate) fn intern(&self, interner: &mut Interner) -> Vec<(u32, Option<&'a str>)> {
        match self {
            ReportInventory::Full(inventory) => inventory
                .software
                .packages
                .iter()
                .map(|package| (interner.intern(package), package.installed_at.as_deref()))
                .collect(),
            ReportInventory::Patched(patched) => patched
                .packages
                .iter()
                .map(|item| match item {
                    PackageItem::Stored {
                        id, installed_at, ..
                    } => (*id, installed_at.as_deref()),
                    PackageItem::New(package) => {
                        (interner.intern(package), package.installed_at.as_deref())
                    }
                })
                .collect(),
        }
    }
}

impl Cmdb {
    /// `agent_id`'s delta base as shared records, when its CI holds it; `None` when the agent has no
    /// CI (a base kept during a conflict is read whole: [`Cmdb::delta_base`]).
    pub fn stored_base(&self, agent_id: &str) -> CmdbResult<Option<StoredBase>> {
        let Some(ci) = self.agent_ci(agent_id)? else {
            return Ok(None);
        };
        let Some(body) = self.store.get(super::SPACE_BODY, &ci.to_be_bytes())? else {
            return Ok(None);
        };
        let id = ci_id(ci);
        let (shell, entries) = codec::decode_parts(&body, &id)?;
        Ok(Some(StoredBase::from_parts(
            shell,
            entries,
            &self.interner(),
            &id,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_shared::delta::{self, Delta};
    use census_shared::hash::content_hash;

    fn package(name: &str, version: &str, installed_at: Option<&str>) -> Package {
        Package {
            manager: "rpm".into(),
            name: name.into(),
            version: version.into(),
            arch: Some("x86_64".into()),
            vendor: Some("Example".into()),
            installed_at: installed_at.map(str::to_string),
            ..Package::default()
        }
    }

    fn machine(packages: Vec<Package>) -> Inventory {
        let mut inventory = Inventory::default();
        inventory.schema_version = 1;
        inventory.collected_at = "2026-11-27T10:00:00Z".into();
        inventory.host.hostname = Some("db-01".into());
        inventory.software.packages = packages;
        inventory.canonicalize();
        inventory
    }

    /// The base as the CMDB holds it: encoded into a body, read back as shared records.
    fn stored(inventory: &Inventory, interner: &mut Interner) -> StoredBase {
        let (body, _) = codec::encode_entries(inventory, interner);
        let (shell, entries) = codec::decode_parts(&body, "ci-000001").unwrap();
        StoredBase::from_parts(shell, entries, interner, "ci-000001").unwrap()
    }

    #[test]
    fn a_package_delta_on_shared_records_gives_the_document_the_agent_hashed() {
        // Names chosen so that record ids (order of first sight) differ from the canonical order.
        let base = machine(vec![
            package("zlib", "1.2", None),
            package("kernel", "5.14.0-1", Some("2026-01-02T03:04:05Z")),
            package("bash", "5.1", None),
            package("openssl", "3.0.1", None),
        ]);
        let mut new = base.clone();
        new.collected_at = "2026-11-27T11:00:00Z".into();
        new.software.packages.retain(|p| p.name != "openssl");
        new.software
            .packages
            .push(package("openssl", "3.0.7", None));
        new.software
            .packages
            .push(package("kernel", "5.14.0-2", Some("2026-11-27T10:30:00Z")));
        new.canonicalize();
        let delta = delta::diff(&base, &new);

        let mut interner = Interner::default();
        let only = delta::package_only(&delta).expect("a package-only delta");
        let patched = stored(&base, &mut interner).apply(&only).unwrap();
        assert_eq!(patched.content_hash(), content_hash(&new));
        assert_eq!(patched.materialize(), new);
        assert_eq!(patched.shell.collected_at, "2026-11-27T11:00:00Z");
        let new_items = patched
            .packages
            .iter()
            .filter(|item| matches!(item, PackageItem::New(_)))
            .count();
        assert_eq!(new_items, 2, "only the upgraded packages are new");

        // Interning gives the records a whole-document encode would (it finds them all, then).
        let records_before = interner.len();
        let ids = ReportInventory::Patched(&patched).intern(&mut interner);
        assert_eq!(interner.len(), records_before + 2);
        let expected = ReportInventory::Full(&new).intern(&mut interner);
        assert_eq!(interner.len(), records_before + 2);
        let (mut ids, mut expected) = (ids, expected);
        ids.sort_unstable();
        expected.sort_unstable();
        assert_eq!(ids, expected);
    }

    #[test]
    fn a_delta_touching_more_than_packages_is_left_to_the_whole_document() {
        let base = machine(vec![package("bash", "5.1", None)]);
        let mut new = base.clone();
        new.host.hostname = Some("db-02".into());
        let delta = delta::diff(&base, &new);
        assert!(delta::package_only(&delta).is_none());
    }

    #[test]
    fn a_malformed_package_in_a_delta_is_refused() {
        let base = machine(vec![package("bash", "5.1", None)]);
        let delta: Delta = serde_json::from_value(serde_json::json!({"ops": [
            {"op": "patch", "path": ["software", "packages"], "upsert": [{"name": 7}]}
        ]}))
        .unwrap();
        let mut interner = Interner::default();
        let only = delta::package_only(&delta).expect("a package patch only");
        let error = stored(&base, &mut interner).apply(&only).unwrap_err();
        assert!(matches!(error, DeltaError::Invalid(_)), "{error}");
    }
}

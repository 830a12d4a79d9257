//! A package as a borrowed view ([`PackageRef`]) and the canonical order of package lists.
//!
//! The collector keeps package records shared between machines and patches a machine's list as
//! references to them; the view lets such a list take part in the canonical order and the content
//! hash exactly as a list of [`Package`]s would, without copying a record.

use crate::inventory::Package;
use serde::Serialize;

/// A package borrowed field by field, with the install time of one machine: it orders, compares and
/// serialises exactly as [`Package`] (same fields, same order), so records held elsewhere (the
/// collector's shared package records) take part in the canonical order and the content hash without
/// being copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PackageRef<'a> {
    pub manager: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub arch: Option<&'a str>,
    pub source: Option<&'a str>,
    pub vendor: Option<&'a str>,
    pub section: Option<&'a str>,
    pub installed_size_bytes: Option<u64>,
    pub installed_at: Option<&'a str>,
}

impl<'a> PackageRef<'a> {
    /// The package's identity in a keyed list: manager, name, arch, version (see `delta::KEYED_LISTS`).
    pub fn identity(&self) -> (&'a str, &'a str, Option<&'a str>, &'a str) {
        (self.manager, self.name, self.arch, self.version)
    }
}

impl Package {
    /// This package as a [`PackageRef`] with `installed_at` in place of its own install time.
    pub fn with_installed_at<'a>(&'a self, installed_at: Option<&'a str>) -> PackageRef<'a> {
        // Destructuring (not field access) makes a new Package field a compile error here.
        let Package {
            manager,
            name,
            version,
            arch,
            source,
            vendor,
            section,
            installed_size_bytes,
            installed_at: _,
        } = self;
        PackageRef {
            manager,
            name,
            version,
            arch: arch.as_deref(),
            source: source.as_deref(),
            vendor: vendor.as_deref(),
            section: section.as_deref(),
            installed_size_bytes: *installed_size_bytes,
            installed_at,
        }
    }
}

/// Something that reads as a package: a [`Package`], or a collector's reference to a shared record.
pub trait AsPackageRef {
    fn package_ref(&self) -> PackageRef<'_>;
}

impl AsPackageRef for Package {
    fn package_ref(&self) -> PackageRef<'_> {
        self.with_installed_at(self.installed_at.as_deref())
    }
}

/// Puts a package list in canonical order: sorted by identity, the whole package as tie-breaker, one
/// package per identity (the first in that order), as [`Inventory::canonicalize`] does.
///
/// [`Inventory::canonicalize`]: crate::inventory::Inventory::canonicalize
pub fn canonicalize_packages<T: AsPackageRef>(packages: &mut Vec<T>) {
    // Each package's view is built once (~10,000 comparisons for 1,000 packages would build them
    // anew) and the sort moves positions, not the ~150-byte views: moving views (or the packages
    // themselves) was most of a changed report's cost on the collector.
    let order: Option<Vec<usize>> = {
        let views: Vec<PackageRef<'_>> = packages.iter().map(AsPackageRef::package_ref).collect();
        // The position breaks ties, so equal packages keep their order: the sort is stable.
        let by_view = |a: usize, b: usize| canonical_order(&views[a], &views[b]).then(a.cmp(&b));
        let mut order: Vec<usize> = (0..views.len()).collect();
        if !order.is_sorted_by(|a, b| by_view(*a, *b).is_le()) {
            if views
                .windows(2)
                .all(|pair| pair[0].manager == pair[1].manager)
            {
                // One package manager (the usual machine): the name decides first, and its first
                // sixteen bytes as a number decide most comparisons without reading the strings
                // (823 of this machine's 846 dpkg names differ in them; 622 in eight).
                let mut keyed: Vec<(u128, usize)> = views
                    .iter()
                    .enumerate()
                    .map(|(position, view)| (name_prefix(view.name), position))
                    .collect();
                keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| by_view(a.1, b.1)));
                order = keyed.into_iter().map(|(_, position)| position).collect();
            } else {
                order.sort_unstable_by(|a, b| by_view(*a, *b));
            }
        }
        // One package per identity: the first in canonical order.
        order.dedup_by(|later, kept| views[*later].identity() == views[*kept].identity());
        let unchanged =
            order.len() == views.len() && order.iter().enumerate().all(|(i, p)| i == *p);
        (!unchanged).then_some(order)
    };
    if let Some(order) = order {
        let mut slots: Vec<Option<T>> = packages.drain(..).map(Some).collect();
        packages.extend(
            order
                .into_iter()
                .filter_map(|position| slots[position].take()),
        );
    }
}

/// The first sixteen bytes of `name` as a big-endian number, zero-padded: a smaller number means a
/// smaller name (a zero byte is the least, so a name shorter than sixteen bytes sorts as the prefix
/// it is), and equal numbers say nothing.
fn name_prefix(name: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let head = &name.as_bytes()[..name.len().min(16)];
    bytes[..head.len()].copy_from_slice(head);
    u128::from_be_bytes(bytes)
}

/// The canonical order of packages: identity first, then the whole package.
fn canonical_order(a: &PackageRef<'_>, b: &PackageRef<'_>) -> std::cmp::Ordering {
    a.identity().cmp(&b.identity()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_package_ref_orders_and_serialises_as_its_package() {
        let package = |name: &str, version: &str, arch: Option<&str>, at: Option<&str>| Package {
            manager: "rpm".into(),
            name: name.into(),
            version: version.into(),
            arch: arch.map(str::to_string),
            source: None,
            vendor: Some("Vendor".into()),
            section: None,
            installed_size_bytes: Some(7),
            installed_at: at.map(str::to_string),
        };
        let packages = [
            package("kernel", "5.14", Some("x86_64"), None),
            package(
                "kernel",
                "5.14",
                Some("x86_64"),
                Some("2026-01-01T00:00:00Z"),
            ),
            package("kernel", "5.9", None, None),
            package("bash", "5.1", Some("x86_64"), None),
            package("bash", "5.1", Some("aarch64"), None),
        ];
        for a in &packages {
            assert_eq!(
                serde_json::to_string(&a.package_ref()).unwrap(),
                serde_json::to_string(a).unwrap()
            );
            for b in &packages {
                assert_eq!(a.package_ref().cmp(&b.package_ref()), a.cmp(b));
            }
        }
        let mut sorted = packages.to_vec();
        canonicalize_packages(&mut sorted);
        let names: Vec<_> = sorted
            .iter()
            .map(|p| (p.name.as_str(), p.arch.as_deref(), p.installed_at.is_some()))
            .collect();
        assert_eq!(
            names,
            [
                ("bash", Some("aarch64"), false),
                ("bash", Some("x86_64"), false),
                ("kernel", None, false),
                ("kernel", Some("x86_64"), false),
            ]
        );
    }

    fn small_package() -> impl Strategy<Value = Package> {
        // Few distinct values, so that identities and whole packages collide often.
        let word = || prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string);
        (
            word(),
            word(),
            word(),
            prop::option::of(word()),
            prop::option::of(word()),
            prop::option::of(0u64..3),
            prop::option::of(word()),
        )
            .prop_map(
                |(manager, name, version, arch, vendor, installed_size_bytes, installed_at)| {
                    Package {
                        manager,
                        name,
                        version,
                        arch,
                        source: None,
                        vendor,
                        section: None,
                        installed_size_bytes,
                        installed_at,
                    }
                },
            )
    }

    /// The canonical order as documented, done the plain way: a stable sort by identity then the
    /// whole package, then the first of each identity.
    fn canonical_by_definition(packages: &[Package]) -> Vec<Package> {
        let mut sorted = packages.to_vec();
        sorted.sort_by(|a, b| {
            let (a, b) = (a.package_ref(), b.package_ref());
            a.identity().cmp(&b.identity()).then_with(|| a.cmp(&b))
        });
        sorted.dedup_by(|a, b| a.package_ref().identity() == b.package_ref().identity());
        sorted
    }

    proptest! {
        #[test]
        fn the_canonical_order_is_a_stable_sort_by_identity_then_package_deduplicated(
            packages in prop::collection::vec(small_package(), 0..40),
        ) {
            let expected = canonical_by_definition(&packages);
            let mut canonical = packages;
            canonicalize_packages(&mut canonical);
            prop_assert_eq!(canonical, expected);
        }

        #[test]
        fn names_sharing_their_first_sixteen_bytes_still_sort_by_the_whole_name(
            mut packages in prop::collection::vec(small_package(), 0..40),
            names in prop::collection::vec(prop::sample::select(vec![
                "", "lib", "libreoffice", "libreoffice-core", "libreoffice-core-nogui",
                "libreoffice-cord", "libreoffice-cor\u{0}", "libreoffice-cor",
                "libreoffice-cor\u{0}\u{0}x", "libreoffice-core\u{0}", "zz",
            ]), 40),
        ) {
            // One manager: the path that sorts by the name's first bytes.
            for (package, name) in packages.iter_mut().zip(names) {
                package.manager = "dpkg".into();
                package.name = name.into();
            }
            let expected = canonical_by_definition(&packages);
            let mut canonical = packages;
            canonicalize_packages(&mut canonical);
            prop_assert_eq!(canonical, expected);
        }
    }
}

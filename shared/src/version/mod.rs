//! Package-manager version ordering: "is the installed openssl older than 3.0.7?".
//!
//! Every package manager orders versions its own way, and a CMDB that answers vulnerability questions
//! must use the same rules as the manager that installed the package. [`compare`] dispatches on the
//! inventory's `Package::manager` value:
//!
//! - [`dpkg`]: Debian policy 5.6.12, a port of dpkg's `verrevcmp` (`~` sorts before everything, even the
//!   end of the string; letters before other characters; numbers numerically), with the epoch compared
//!   numerically and a missing revision equal to `0`.
//! - [`rpm`]: rpm's `rpmvercmp` (alphanumeric segments, `~` before anything, `^` after the end but before
//!   any further segment, numbers beat letters) applied to epoch, version and release.
//! - [`apk`]: apk-tools' Gentoo-style rules (`_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git <
//!   _hg < _p`, then the `-rN` package revision).
//! - [`pacman`]: libalpm's `alpm_pkg_vercmp` (its own variant of `rpmvercmp`, epoch, `pkgrel`).
//! - anything else: [`natural`], digit runs compared as numbers and the rest case-insensitively.
//!
//! # Guarantees and limitations
//! No function here panics, whatever the input (they are fuzzed through the query language). Each
//! comparison is a total order on the strings it is given, with one exception inherited on purpose from
//! pacman: a version without `pkgrel` compares equal to the same version with any `pkgrel`, so pacman's
//! ordering is only transitive over complete `version-pkgrel` strings, which is what installed packages
//! carry, and libalpm's segment rules are not transitive on runs of separators (`1. < 1.0 < 1.+a < 1.`),
//! which real versions do not contain. Malformed versions are compared leniently (a non-numeric dpkg epoch is read as part of the
//! upstream version) instead of being rejected: the inventory reports what the machine has.

pub mod apk;
pub mod dpkg;
pub mod pacman;
pub mod rpm;

use std::cmp::Ordering;

pub use dpkg::DpkgVersion;
pub use rpm::RpmEvr;

/// Orders two versions of packages installed by `manager` (`dpkg`, `rpm`, `apk`, `pacman`; the aliases
/// `deb`, `apt`, `dnf`, `yum`, `zypper` and `alpm` are accepted; case does not matter).
/// Unknown managers get [`natural`].
pub fn compare(manager: &str, a: &str, b: &str) -> Ordering {
    let is = |names: &[&str]| names.iter().any(|name| manager.eq_ignore_ascii_case(name));
    if is(&["dpkg", "deb", "apt"]) {
        dpkg::compare(a, b)
    } else if is(&["rpm", "dnf", "yum", "zypper"]) {
        rpm::compare(a, b)
    } else if is(&["apk"]) {
        apk::compare(a, b)
    } else if is(&["pacman", "alpm"]) {
        pacman::compare(a, b)
    } else {
        natural(a, b)
    }
}

/// A generic "natural" order for versions whose scheme is unknown (`os.version`, BIOS versions):
/// the strings are cut into runs of digits and runs of other characters; digit runs compare as numbers
/// (leading zeros ignored, any length), other runs compare byte-wise ignoring ASCII case, a digit run
/// sorts after a non-digit run at the same place, and a string that is a prefix of the other sorts first.
/// So `9 < 10`, `12.4 < 12.10`, `1.0 < 1.0.1` and `Focal = focal`.
pub fn natural(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    loop {
        let (Some(&ca), Some(&cb)) = (a.get(i), b.get(j)) else {
            return (i < a.len()).cmp(&(j < b.len()));
        };
        let (a_digit, b_digit) = (ca.is_ascii_digit(), cb.is_ascii_digit());
        if a_digit != b_digit {
            return a_digit.cmp(&b_digit);
        }
        let end_a = run_end(a, i, a_digit);
        let end_b = run_end(b, j, b_digit);
        let order = if a_digit {
            cmp_digits(&a[i..end_a], &b[j..end_b])
        } else {
            let lower = |bytes: &[u8]| bytes.iter().map(u8::to_ascii_lowercase).collect::<Vec<_>>();
            lower(&a[i..end_a]).cmp(&lower(&b[j..end_b]))
        };
        if order != Ordering::Equal {
            return order;
        }
        (i, j) = (end_a, end_b);
    }
}

/// The end of the run of digits (or of non-digits) starting at `start`.
fn run_end(bytes: &[u8], start: usize, digits: bool) -> usize {
    bytes[start..]
        .iter()
        .position(|byte| byte.is_ascii_digit() != digits)
        .map_or(bytes.len(), |offset| start + offset)
}

/// Compares two runs of ASCII digits as numbers of any length: leading zeros are dropped, then the longer
/// number is the larger, then the digits decide.
pub(crate) fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |digits: &[u8]| {
        let first = digits
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(digits.len());
        digits[first..].to_vec()
    };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared helpers for the per-manager tables and properties.
    use std::cmp::Ordering;

    /// Checks `compare(a, b)` against an expected sign (-1, 0, 1), and the mirrored comparison.
    pub fn check_table(
        name: &str,
        compare: fn(&str, &str) -> Ordering,
        cases: &[(&str, &str, i8)],
    ) {
        for &(a, b, expected) in cases {
            let expected = expected.cmp(&0);
            assert_eq!(compare(a, b), expected, "{name}: compare({a:?}, {b:?})");
            assert_eq!(
                compare(b, a),
                expected.reverse(),
                "{name}: compare({b:?}, {a:?})"
            );
        }
    }

    /// Reflexivity, antisymmetry and transitivity of `compare` on three versions.
    pub fn check_total_order(compare: fn(&str, &str) -> Ordering, a: &str, b: &str, c: &str) {
        assert_eq!(compare(a, a), Ordering::Equal, "reflexive on {a:?}");
        assert_eq!(
            compare(a, b),
            compare(b, a).reverse(),
            "antisymmetric on {a:?} {b:?}"
        );
        let mut sorted = [a, b, c];
        sorted.sort_by(|x, y| compare(x, y));
        let [x, y, z] = sorted;
        assert_ne!(compare(x, y), Ordering::Greater, "sorted {x:?} {y:?}");
        assert_ne!(compare(y, z), Ordering::Greater, "sorted {y:?} {z:?}");
        assert_ne!(
            compare(x, z),
            Ordering::Greater,
            "transitive {x:?} <= {y:?} <= {z:?}"
        );
        if compare(x, y) == Ordering::Equal && compare(y, z) == Ordering::Equal {
            assert_eq!(compare(x, z), Ordering::Equal, "equality is transitive");
        }
    }

    /// Version-like strings: the characters every scheme treats specially, plus some it does not.
    pub const VERSION_CHARS: &str = "[0-9a-zA-Z.+~^_:-]{0,12}";
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn natural_orders_numbers_numerically_and_text_without_case() {
        testing::check_table(
            "natural",
            natural,
            &[
                ("9", "10", -1),
                ("12.4", "12.10", -1),
                ("1.0", "1.0.1", -1),
                ("Focal", "focal", 0),
                ("007", "7", 0),
                ("", "1", -1),
                ("a", "1", -1),
                ("2.0a", "2.0b", -1),
                ("99999999999999999999999", "100000000000000000000000", -1),
            ],
        );
    }

    #[test]
    fn compare_dispatches_on_the_manager_name() {
        // `1.0~rc1` is older than `1.0` for dpkg and rpm; natural order has no notion of `~`.
        assert_eq!(compare("dpkg", "1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("RPM", "1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("unknown", "1.0~rc1", "1.0"), Ordering::Greater);
        // apk: `_rc` is a pre-release; pacman: a trailing letter is a pre-release.
        assert_eq!(compare("apk", "1.0_rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("pacman", "1.0rc1-1", "1.0-1"), Ordering::Less);
        // rpm reads `1:` as an epoch, natural order reads it as digits.
        assert_eq!(compare("dnf", "1:1.0-1", "2.0-1"), Ordering::Greater);
    }

    proptest! {
        #[test]
        fn natural_is_a_total_order(a in ".{0,10}", b in ".{0,10}", c in ".{0,10}") {
            testing::check_total_order(natural, &a, &b, &c);
        }

        #[test]
        fn compare_never_panics(manager in "dpkg|rpm|apk|pacman|other", a in "\\PC{0,16}", b in "\\PC{0,16}") {
            let forward = compare(&manager, &a, &b);
            prop_assert_eq!(forward, compare(&manager, &b, &a).reverse());
        }
    }
}

//! Arch Linux (pacman/libalpm) version ordering, a port of `alpm_pkg_vercmp` in `lib/libalpm/version.c`.
//!
//! A version is `[epoch:]pkgver[-pkgrel]`. The epoch (missing = `0`), the pkgver and the pkgrel compare
//! with libalpm's own variant of `rpmvercmp`, which differs from rpm's: it knows neither `~` nor `^`,
//! a longer run of separators is newer (`2___a > 2_a`), and when one version runs out, a remaining
//! letter run makes the other one newer (`1.5b < 1.5`) while anything else makes it older
//! (`1.5 < 1.5.a`). The pkgrel is compared only when both versions have one: `1.5 == 1.5-1`, as in
//! pacman. That makes the order non-transitive across versions with and without pkgrel; installed
//! packages always carry one.

use std::cmp::Ordering;

/// Orders two pacman versions (`alpm_pkg_vercmp`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return Ordering::Equal;
    }
    let (epoch_a, version_a, release_a) = parse_evr(a);
    let (epoch_b, version_b, release_b) = parse_evr(b);
    vercmp(epoch_a, epoch_b)
        .then_with(|| vercmp(version_a, version_b))
        .then_with(|| match (release_a, release_b) {
            (Some(release_a), Some(release_b)) => vercmp(release_a, release_b),
            _ => Ordering::Equal,
        })
}

/// libalpm's `parseEVR`: epoch (default `"0"`), version, and the release after the last `-`.
fn parse_evr(evr: &str) -> (&str, &str, Option<&str>) {
    let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
    let (epoch, rest) = if evr.as_bytes().get(digits) == Some(&b':') {
        let epoch = &evr[..digits];
        (
            if epoch.is_empty() { "0" } else { epoch },
            &evr[digits + 1..],
        )
    } else {
        ("0", evr)
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// libalpm's `rpmvercmp` on one part.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (start_a, start_b) = (i, j);
        while i < a.len() && !a[i].is_ascii_alphanumeric() {
            i += 1;
        }
        while j < b.len() && !b[j].is_ascii_alphanumeric() {
            j += 1;
        }
        if i == a.len() || j == b.len() {
            break;
        }
        // Different separator lengths decide: the longer one is newer.
        if i - start_a != j - start_b {
            return (i - start_a).cmp(&(j - start_b));
        }
        let numeric = a[i].is_ascii_digit();
        let in_segment = |byte: &u8| {
            if numeric {
                byte.is_ascii_digit()
            } else {
                byte.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|b| in_segment(b)).count();
        let end_b = j + b[j..].iter().take_while(|b| in_segment(b)).count();
        if end_b == j {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            super::cmp_digits(&a[i..end_a], &b[j..end_b])
        } else {
            a[i..end_a].cmp(&b[j..end_b])
        };
        if order != Ordering::Equal {
            return order;
        }
        (i, j) = (end_a, end_b);
    }
    let (rest_a, rest_b) = (&a[i..], &b[j..]);
    if rest_a.is_empty() && rest_b.is_empty() {
        return Ordering::Equal;
    }
    // "We never want a remaining alpha string to beat an empty string."
    let starts_alpha = |rest: &[u8]| rest.first().is_some_and(u8::is_ascii_alphabetic);
    if (rest_a.is_empty() && !starts_alpha(rest_b)) || starts_alpha(rest_a) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testing;
    use proptest::prelude::*;

    /// pacman's `test/util/vercmptest.sh`.
    const VERCMPTEST_CASES: &[(&str, &str, i8)] = &[
        ("1.5.0", "1.5.0", 0),
        ("1.5.1", "1.5.0", 1),
        ("1.5.1", "1.5", 1),
        ("1.5.0-1", "1.5.0-1", 0),
        ("1.5.0-1", "1.5.0-2", -1),
        ("1.5.0-1", "1.5.1-1", -1),
        ("1.5.0-2", "1.5.1-1", -1),
        ("1.5-1", "1.5.1-1", -1),
        ("1.5-2", "1.5.1-1", -1),
        ("1.5-2", "1.5.1-2", -1),
        ("1.5", "1.5-1", 0),
        ("1.1-1", "1.1", 0),
        ("1.0-1", "1.1", -1),
        ("1.1-1", "1.0", 1),
        ("1.5b-1", "1.5-1", -1),
        ("1.5b", "1.5", -1),
        ("1.5b-1", "1.5", -1),
        ("1.5b", "1.5.1", -1),
        ("1.0a", "1.0alpha", -1),
        ("1.0alpha", "1.0b", -1),
        ("1.0b", "1.0beta", -1),
        ("1.0beta", "1.0rc", -1),
        ("1.0rc", "1.0", -1),
        ("1.5.a", "1.5", 1),
        ("1.5.b", "1.5.a", 1),
        ("1.5.1", "1.5.b", 1),
        ("1.5.b-1", "1.5.b", 0),
        ("1.5-1", "1.5.b", -1),
        ("2.0", "2_0", 0),
        ("2.0_a", "2_0.a", 0),
        ("2.0a", "2.0.a", -1),
        ("2___a", "2_a", 1),
        ("0:1.0", "0:1.0", 0),
        ("0:1.0", "0:1.1", -1),
        ("1:1.0", "0:1.0", 1),
        ("1:1.0", "0:1.1", 1),
        ("1:1.0", "2:1.1", -1),
        ("1:1.0", "0:1.0-1", 1),
        ("1:1.0-1", "0:1.1-1", 1),
        ("0:1.0", "1.0", 0),
        ("0:1.0", "1.1", -1),
        ("0:1.1", "1.0", 1),
        ("1:1.0", "1.0", 1),
        ("1:1.0", "1.1", 1),
        ("1:1.1", "1.1", 1),
    ];

    #[test]
    fn matches_pacmans_test_suite() {
        testing::check_table("pacman", compare, VERCMPTEST_CASES);
    }

    #[test]
    fn real_arch_versions() {
        testing::check_table(
            "pacman",
            compare,
            &[
                ("3.3.2-1", "3.3.10-1", -1),
                ("1:1.2.13-2", "1.3.1-1", 1),
                ("6.10.arch1-1", "6.9.arch1-1", 1),
                ("2.40+r16+gd4d4a55ce-1", "2.40-1", 1),
            ],
        );
    }

    /// Alphanumeric runs joined by single separators, with a pkgrel: the shape of real pacman versions.
    /// (libalpm's own order is not transitive on runs of separators: `1. < 1.0 < 1.+a < 1.`.)
    const WELL_FORMED: &str = "([0-9]:)?[0-9a-z]{1,3}([._+][0-9a-z]{1,3}){0,3}-[0-9]{1,2}";

    #[test]
    fn separator_runs_are_where_libalpm_stops_being_transitive() {
        // Documented so nobody "fixes" a test into asserting transitivity on such strings.
        assert_eq!(vercmp("1.", "1.0"), Ordering::Less);
        assert_eq!(vercmp("1.0", "1.+a"), Ordering::Less);
        assert_eq!(vercmp("1.+a", "1."), Ordering::Less);
    }

    proptest! {
        #[test]
        fn is_a_total_order_on_versions_with_pkgrel(
            a in WELL_FORMED,
            b in WELL_FORMED,
            c in WELL_FORMED,
        ) {
            testing::check_total_order(compare, &a, &b, &c);
        }

        #[test]
        fn never_panics_and_is_antisymmetric(a in "\\PC{0,16}", b in "\\PC{0,16}") {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }
    }
}

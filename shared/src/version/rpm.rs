//! RPM version ordering, as rpm implements it in `rpmio/rpmvercmp.c` and `lib/rpmver.c`.
//!
//! A full version is `[epoch:]version[-release]`. Each part is compared with [`rpmvercmp`]: the strings
//! are cut into runs of ASCII digits and runs of ASCII letters (everything else only separates);
//! numeric runs compare as numbers and always beat alphabetic ones; `~` sorts before anything, even the
//! end of the string (`1.0~rc1 < 1.0`); `^` sorts after the end but before any further run
//! (`1.0 < 1.0^git1 < 1.0.1`). A missing epoch is `0`; a missing release sorts before any release, as in
//! `rpmverCmp`.

use std::cmp::Ordering;

/// An RPM version split into epoch, version and release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpmEvr<'a> {
    /// The digits before the first `:`, when the version starts with digits and a colon.
    pub epoch: Option<&'a str>,
    pub version: &'a str,
    /// What follows the last `-`.
    pub release: Option<&'a str>,
}

impl<'a> RpmEvr<'a> {
    /// Splits `evr` as rpm's `parseEVR` does (surrounding whitespace ignored).
    pub fn parse(evr: &'a str) -> Self {
        let evr = evr.trim();
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = if evr.as_bytes().get(digits) == Some(&b':') {
            (
                Some(&evr[..digits]).filter(|e| !e.is_empty()),
                &evr[digits + 1..],
            )
        } else {
            (None, evr)
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((version, release)) => (version, Some(release)),
            None => (rest, None),
        };
        Self {
            epoch,
            version,
            release,
        }
    }
}

impl Ord for RpmEvr<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        rpmvercmp(self.epoch.unwrap_or("0"), other.epoch.unwrap_or("0"))
            .then_with(|| rpmvercmp(self.version, other.version))
            .then_with(|| match (self.release, other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (a, b) => a.is_some().cmp(&b.is_some()),
            })
    }
}

impl PartialOrd for RpmEvr<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders two full RPM versions (`EPOCH:VERSION-RELEASE`).
pub fn compare(a: &str, b: &str) -> Ordering {
    RpmEvr::parse(a).cmp(&RpmEvr::parse(b))
}

/// rpm's `rpmvercmp` on one part (epoch, version or release).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |byte: u8| !byte.is_ascii_alphanumeric() && byte != b'~' && byte != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        // A tilde sorts before everything else, the end of the string included.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // A caret sorts after the end of the string but before any other segment.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
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
        // Different kinds of segment: numbers are newer than letters.
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
    // All segments equal: the string with something left over (after separators) is newer.
    (i < a.len()).cmp(&(j < b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testing;
    use proptest::prelude::*;

    /// rpm's `tests/rpmvercmp.at`.
    const RPMVERCMP_CASES: &[(&str, &str, i8)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("10xyz", "10.1xyz", -1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("xyz.4", "2", -1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "6.5p1", -1),
        ("6.0.rc1", "6.0", 1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.0001", "10.0039", -1),
        ("4.999.9", "5.0", -1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_", 0),
        ("+", "_", 0),
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git1", "1.01", -1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
    ];

    #[test]
    fn rpmvercmp_matches_rpms_test_suite() {
        testing::check_table("rpmvercmp", rpmvercmp, RPMVERCMP_CASES);
    }

    #[test]
    fn full_versions_compare_epoch_then_version_then_release() {
        testing::check_table(
            "rpm",
            compare,
            &[
                ("1:1.0-1", "2.0-1", 1),
                ("0:1.0-1", "1.0-1", 0),
                ("1.0-1.el9", "1.0-2.el9", -1),
                ("3.0.7-24.el9", "3.0.7-27.el9_4", -1),
                ("1:3.0.7-27.el9", "1:3.0.7-27.el9", 0),
                ("3.0.7-1", "3.0.10-1", -1),
                ("1.0", "1.0-1", -1),
                ("2.0-1.fc40", "10.0-1.fc40", -1),
                ("1.0~rc1-1", "1.0-1", -1),
            ],
        );
        let parsed = RpmEvr::parse("2:4.18.0-553.el8_10");
        assert_eq!(parsed.epoch, Some("2"));
        assert_eq!(parsed.version, "4.18.0");
        assert_eq!(parsed.release, Some("553.el8_10"));
        assert_eq!(RpmEvr::parse(":1.0").epoch, None);
    }

    proptest! {
        #[test]
        fn rpmvercmp_is_a_total_order(
            a in testing::VERSION_CHARS,
            b in testing::VERSION_CHARS,
            c in testing::VERSION_CHARS,
        ) {
            testing::check_total_order(rpmvercmp, &a, &b, &c);
        }

        #[test]
        fn full_compare_is_a_total_order(
            a in testing::VERSION_CHARS,
            b in testing::VERSION_CHARS,
            c in testing::VERSION_CHARS,
        ) {
            testing::check_total_order(compare, &a, &b, &c);
        }
    }
}

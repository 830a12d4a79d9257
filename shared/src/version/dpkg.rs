//! Debian version ordering (Debian policy 5.6.12), as dpkg implements it in `lib/dpkg/version.c`.
//!
//! A version is `[epoch:]upstream[-revision]`: the epoch is the digits before the first `:`, the
//! revision is what follows the last `-`. Epochs compare as numbers; upstream and revision with
//! [`verrevcmp`]. A missing revision compares equal to `0` (`1.0 == 1.0-0`), exactly as in dpkg.
//!
//! Leniency: dpkg rejects malformed versions; here a non-numeric epoch is read as part of the upstream
//! version, and an epoch too large for `u64` saturates, so every string still has a place in the order.

use std::cmp::Ordering;

/// A Debian version split into its three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpkgVersion<'a> {
    pub epoch: u64,
    pub upstream: &'a str,
    /// `""` when the version has no `-`.
    pub revision: &'a str,
}

impl<'a> DpkgVersion<'a> {
    /// Splits `version` as dpkg does, leniently (see the module documentation); surrounding whitespace is
    /// ignored.
    pub fn parse(version: &'a str) -> Self {
        let version = version.trim();
        let (epoch, rest) = match version.split_once(':') {
            Some((digits, rest))
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (digits.parse::<u64>().unwrap_or(u64::MAX), rest)
            }
            _ => (0, version),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Self {
            epoch,
            upstream,
            revision,
        }
    }
}

impl Ord for DpkgVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream, other.upstream))
            .then_with(|| verrevcmp(self.revision, other.revision))
    }
}

impl PartialOrd for DpkgVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders two full Debian versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    DpkgVersion::parse(a).cmp(&DpkgVersion::parse(b))
}

/// The weight of one character in the non-digit parts: `~` first (even before the end of the string),
/// then the end and digits, then letters, then everything else. Bytes are unsigned here, where dpkg's
/// `char` may be signed: the only difference is where non-ASCII bytes (invalid in Debian versions) sort.
fn order(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(b) if b.is_ascii_digit() => 0,
        Some(b) if b.is_ascii_alphabetic() => i32::from(b),
        Some(b'~') => -1,
        Some(b) => i32::from(b) + 256,
    }
}

/// dpkg's `verrevcmp`: compares an upstream version or a revision, alternating a non-digit part
/// (character by character, weighted by [`order`]) and a digit part (numerically).
pub fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_digit = |bytes: &[u8], k: usize| bytes.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (weight_a, weight_b) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if weight_a != weight_b {
                return weight_a.cmp(&weight_b);
            }
            // Equal weights here mean both sides hold a non-digit character, so neither is at its end.
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testing;
    use proptest::prelude::*;

    #[test]
    fn parse_splits_epoch_upstream_and_revision() {
        let parsed = DpkgVersion::parse("1:2.30-0ubuntu1-3");
        assert_eq!(parsed.epoch, 1);
        assert_eq!(parsed.upstream, "2.30-0ubuntu1");
        assert_eq!(parsed.revision, "3");
        let plain = DpkgVersion::parse(" 3.0.7 ");
        assert_eq!(
            (plain.epoch, plain.upstream, plain.revision),
            (0, "3.0.7", "")
        );
        // A colon without a numeric epoch before it stays in the upstream version.
        assert_eq!(DpkgVersion::parse("a:1").upstream, "a:1");
        assert_eq!(
            DpkgVersion::parse("99999999999999999999999:1").epoch,
            u64::MAX
        );
    }

    #[test]
    fn orders_like_dpkg_and_apt() {
        testing::check_table(
            "dpkg",
            compare,
            &[
                // Basics, epochs and revisions (dpkg t-version.c, apt compareversion tests).
                ("1.0", "1.0", 0),
                ("1.0", "1.0-0", 0),
                ("0:1.0", "1.0", 0),
                ("1.0", "1.1", -1),
                ("1.9", "1.10", -1),
                ("1.0", "1.0.0", -1),
                ("001", "1", 0),
                ("1:0.1", "2.0", 1),
                ("2:1", "1:9", 1),
                ("1.0-1", "1.0-2", -1),
                ("1.0-1", "1.0.1-1", -1),
                ("1.2.3-1ubuntu1", "1.2.3-1", 1),
                ("7.6p2-4", "7.6-0", 1),
                ("1.0.3-3", "1.0-1", 1),
                ("1.3", "1.2.2-2", 1),
                ("0-pre", "0-pre", 0),
                ("0-pre", "0-pree", -1),
                ("1.1.6r2-2", "1.1.6r-1", 1),
                ("2.6b2-1", "2.6b-2", 1),
                ("98.1p5-1", "98.1-pre2-b6-2", -1),
                ("0.4a6-2", "0.4-1", 1),
                ("1:3.0.5-2", "1:3.0.5.1", -1),
                // Policy's example: ~~ < ~~a < ~ < (end) < a.
                ("1.0~~", "1.0~~a", -1),
                ("1.0~~a", "1.0~", -1),
                ("1.0~", "1.0", -1),
                ("1.0", "1.0a", -1),
                ("1.0~rc1", "1.0", -1),
                ("1.0~rc1-1", "1.0-1", -1),
                ("1.0-1~bpo12+1", "1.0-1", -1),
                ("3.0.7-1~deb12u1", "3.0.7-1", -1),
                // Letters sort before other characters.
                ("1.0a", "1.0+", -1),
                ("1.0+dfsg", "1.0", 1),
                ("1.0.1", "1.0+b1", 1),
                ("3.0.11-1~deb12u2", "3.0.9-1", 1),
                ("2.36-9+deb12u4", "2.36-9+deb12u10", -1),
                ("1:9.18.28-1~deb12u2", "1:9.18.19-1~deb12u1", 1),
            ],
        );
    }

    #[test]
    fn verrevcmp_handles_huge_numbers_without_overflow() {
        assert_eq!(
            verrevcmp(
                "123456789012345678901234567890",
                "123456789012345678901234567891"
            ),
            Ordering::Less
        );
        assert_eq!(verrevcmp("", "0"), Ordering::Equal);
        assert_eq!(verrevcmp("~", ""), Ordering::Less);
    }

    proptest! {
        #[test]
        fn is_a_total_order(
            a in testing::VERSION_CHARS,
            b in testing::VERSION_CHARS,
            c in testing::VERSION_CHARS,
        ) {
            testing::check_total_order(compare, &a, &b, &c);
        }

        #[test]
        fn never_panics_on_any_text(a in "\\PC{0,20}", b in "\\PC{0,20}") {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }
    }
}

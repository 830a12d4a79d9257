//! Alpine (apk-tools) version ordering, following apk-tools 2.14/3.x `src/version.c`.
//!
//! A version is `digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]`, e.g. `1.2.3b_rc2-r1`. Tokens
//! compare left to right while both versions have the same kind of token:
//! - numbers numerically, except that a part after a `.` with a leading zero compares as a string
//!   (Gentoo's rule: `1.01 < 1.1`, `1.0 < 1.00`);
//! - the single letter by its character;
//! - suffixes in the order `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`;
//! - `~hash` as a string, then the `-rN` package revision numerically.
//!
//! When one version runs out of tokens (or breaks the grammar) first, the other one is newer, unless
//! what it has left is a pre-release suffix (`1.0_rc1 < 1.0`). A token that breaks the grammar ends the
//! comparison as apk does: `1.0bc` is "invalid" after `1.0b`, and two invalid tails compare equal.
//! Numbers too large for `u64` saturate.

use std::cmp::Ordering;

/// Token kinds; the numeric order matters (it is apk's `enum PARTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; `NONE` (no suffix) is the pivot between pre- and post-release suffixes.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
const SUFFIX_NONE: u8 = 4;

/// The current token of one version being read.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    /// The token's text (digits, letter, suffix name or hash).
    value: &'a [u8],
    number: u64,
    /// Rank in [`SUFFIXES`], with no-suffix at [`SUFFIX_NONE`] shifting the post-release ones up by one.
    suffix: u8,
}

/// Splits the leading run of bytes matching `class` off `rest`.
fn take_while<'a>(rest: &mut &'a [u8], class: impl Fn(u8) -> bool) -> &'a [u8] {
    let length = rest.iter().take_while(|&&b| class(b)).count();
    let (taken, left) = rest.split_at(length);
    *rest = left;
    taken
}

fn parse_digits<'a>(token: &mut Token<'a>, rest: &mut &'a [u8]) {
    token.value = take_while(rest, |b| b.is_ascii_digit());
    token.number = token.value.iter().fold(0u64, |number, digit| {
        number
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    });
    if token.value.is_empty() {
        token.kind = Kind::Invalid;
    }
}

fn first_token<'a>(rest: &mut &'a [u8]) -> Token<'a> {
    let mut token = Token {
        kind: Kind::InitialDigit,
        value: &[],
        number: 0,
        suffix: 0,
    };
    parse_digits(&mut token, rest);
    token
}

/// apk's `token_next`: reads the next token, checking that it may follow the previous one.
fn next_token<'a>(token: &mut Token<'a>, rest: &mut &'a [u8]) {
    let Some(&first) = rest.first() else {
        token.kind = Kind::End;
        return;
    };
    let previous = token.kind;
    token.kind = Kind::Invalid;
    match first {
        b'a'..=b'z' if previous <= Kind::Digit => {
            token.value = &rest[..1];
            token.kind = Kind::Letter;
            *rest = &rest[1..];
        }
        b'.' | b'0'..=b'9' => {
            if first == b'.' {
                if previous > Kind::Digit {
                    return;
                }
                *rest = &rest[1..];
            }
            token.kind = match previous {
                Kind::InitialDigit | Kind::Digit => Kind::Digit,
                Kind::Suffix => Kind::SuffixNo,
                _ => return,
            };
            parse_digits(token, rest);
        }
        b'_' if previous <= Kind::SuffixNo => {
            *rest = &rest[1..];
            token.value = take_while(rest, |b| b.is_ascii_lowercase());
            if let Some(rank) = SUFFIXES.iter().position(|s| s.as_bytes() == token.value) {
                let rank = rank as u8;
                token.suffix = if rank < SUFFIX_NONE { rank } else { rank + 1 };
                token.kind = Kind::Suffix;
            }
        }
        b'~' if previous < Kind::CommitHash => {
            *rest = &rest[1..];
            token.value = take_while(rest, |b| b.is_ascii_hexdigit());
            if !token.value.is_empty() {
                token.kind = Kind::CommitHash;
            }
        }
        b'-' if previous < Kind::RevisionNo && rest.starts_with(b"-r") => {
            *rest = &rest[2..];
            token.kind = Kind::RevisionNo;
            parse_digits(token, rest);
        }
        _ => {}
    }
}

/// apk's `token_cmp` for two tokens of the same kind.
fn token_cmp(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        // A leading zero after a dot means "compare as a string" (Gentoo's rule).
        Kind::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        Kind::Digit | Kind::InitialDigit | Kind::SuffixNo | Kind::RevisionNo => {
            a.number.cmp(&b.number)
        }
        Kind::Letter => a.value.first().cmp(&b.value.first()),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        Kind::CommitHash | Kind::End | Kind::Invalid => a.value.cmp(b.value),
    }
}

/// Orders two apk versions (`apk_version_compare`); surrounding whitespace is ignored.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut rest_a, mut rest_b) = (a.trim().as_bytes(), b.trim().as_bytes());
    let mut token_a = first_token(&mut rest_a);
    let mut token_b = first_token(&mut rest_b);
    while token_a.kind == token_b.kind && token_a.kind < Kind::End {
        let order = token_cmp(&token_a, &token_b);
        if order != Ordering::Equal {
            return order;
        }
        next_token(&mut token_a, &mut rest_a);
        next_token(&mut token_b, &mut rest_b);
    }
    if token_a.kind == token_b.kind {
        return Ordering::Equal;
    }
    // Equal so far and one goes on: it is newer, unless what follows is a pre-release suffix.
    let pre_release = |token: &Token<'_>| token.kind == Kind::Suffix && token.suffix < SUFFIX_NONE;
    if pre_release(&token_a) {
        return Ordering::Less;
    }
    if pre_release(&token_b) {
        return Ordering::Greater;
    }
    // A later kind means the version left the grammar's earlier parts: it is the older one.
    token_b.kind.cmp(&token_a.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::testing;
    use proptest::prelude::*;

    #[test]
    fn orders_like_apk_tools() {
        // A selection from apk-tools' `test/version.data`, plus the suffix ladder.
        testing::check_table(
            "apk",
            compare,
            &[
                ("2.34", "0.1.0_alpha", 1),
                ("23_foo", "4_beta", 1),
                ("1.0", "1.0bc", -1),
                ("0.1.0_alpha", "0.1.0_alpha", 0),
                ("0.1.0_alpha2", "0.1.0_alpha", 1),
                ("1.0.4-r3", "1.0.4-r4", -1),
                ("1.1", "1.1_alpha1", 1),
                ("1.2.1", "1.2", 1),
                ("0.8_beta4", "4.8-r1", -1),
                ("2.3.0b-r1", "2.3.0b-r2", -1),
                ("1.06-r6", "006", -1),
                ("006", "1.0.0", 1),
                ("1.2.2-r1", "1.2.2", 1),
                ("3.9.8-r5", "2.01.01_alpha10", 1),
                ("2.01.01_alpha10", "0.94", 1),
                ("1.39", "1.00_beta2", 1),
                ("3.0.20060720", "20060720", -1),
                ("2.5.1-r8", "2.5.1a-r1", -1),
                ("20040401", "2.0.0_rc3-r1", 1),
                ("3.9_pre20060124", "0.01", 1),
                ("1.1.7", "6b-r7", -1),
                ("0.10.0", "0.10.1_rc1", -1),
                ("1.0-r1", "0.15.1b", 1),
                ("22.7.3-r1", "22.7", 1),
                ("2.10.1", "02.08.01b", 1),
                ("1.6d", "1.2.07.8", 1),
                ("1.2.07.8", "1.2.12.04", -1),
                ("0.20070118", "0.20070207_rc1", -1),
                ("0.20070207_rc1", "1.0", -1),
                ("4.5_p1-r1", "4.5_p1", 1),
                ("1.7", "1.7b", -1),
                ("1.8.5", "1.8.5_p2", -1),
                ("2.9.11_pre20051101-r3", "2.9.11_pre20051101", 1),
                ("0.9.28.1", "087-r1", -1),
                ("104-r11", "104-r9", 1),
                ("2.12r-r4", "2.12r-r5", -1),
                ("7.0.17", "7.0.174", -1),
                ("1.3_pre1-r1", "1.3.2", -1),
                ("1.0_p10-r0", "1.0_p9-r0", 1),
                ("0.1.0_alpha_pre2", "0.1.0_alpha", -1),
                (
                    "1.0.0_pre20191002222144-r0",
                    "1.0.0_pre20210530193627-r0",
                    -1,
                ),
                // The suffix ladder and the revision.
                ("1.0_alpha", "1.0_beta", -1),
                ("1.0_beta", "1.0_pre", -1),
                ("1.0_pre", "1.0_rc", -1),
                ("1.0_rc1", "1.0", -1),
                ("1.0", "1.0_cvs", -1),
                ("1.0_cvs", "1.0_svn", -1),
                ("1.0_svn", "1.0_git", -1),
                ("1.0_git", "1.0_hg", -1),
                ("1.0_hg", "1.0_p", -1),
                ("1.01", "1.1", -1),
                ("1.0", "1.00", -1),
                ("1.0-r0", "1.0", 1),
                ("3.0.7-r0", "3.0.10-r0", -1),
                ("1.0~abc1", "1.0~abc2", -1),
                ("1.0~abc1-r1", "1.0-r1", 1),
            ],
        );
    }

    #[test]
    fn malformed_versions_compare_without_panicking() {
        assert_eq!(compare("1.0-foo", "1.0-bar"), Ordering::Equal);
        assert_eq!(compare("", ""), Ordering::Equal);
        assert_eq!(compare("", "0"), Ordering::Less);
        assert_eq!(
            compare(
                "1.99999999999999999999999999",
                "1.99999999999999999999999998"
            ),
            Ordering::Equal,
            "values beyond u64 saturate"
        );
    }

    proptest! {
        #[test]
        fn is_a_total_order(
            a in "[0-9a-z._~-]{0,12}",
            b in "[0-9a-z._~-]{0,12}",
            c in "[0-9a-z._~-]{0,12}",
        ) {
            testing::check_total_order(compare, &a, &b, &c);
        }

        #[test]
        fn is_a_total_order_on_well_formed_versions(
            a in "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}[a-c]?(_(alpha|rc|p|git)[0-9]?)?(-r[0-9])?",
            b in "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}[a-c]?(_(alpha|rc|p|git)[0-9]?)?(-r[0-9])?",
            c in "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}[a-c]?(_(alpha|rc|p|git)[0-9]?)?(-r[0-9])?",
        ) {
            testing::check_total_order(compare, &a, &b, &c);
        }
    }
}

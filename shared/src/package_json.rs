//! A package's JSON written by hand, byte for byte as `serde_json` writes a [`Package`].
//!
//! Packages are ~90% of the bytes the content hash covers, and going through serde's serializer (a
//! call per field, keys escaped anew, many small writes into the hasher) costs more than the SHA-256
//! of the result. The content hash writes them with this instead; the rest of the document still
//! goes through serde. Exactness is what matters (agent and collector must hash the same bytes): the
//! tests compare against `serde_json` on every byte that JSON escapes and on generated packages.
//!
//! [`Package`]: crate::inventory::Package

use crate::inventory::PackageRef;

/// Appends the compact JSON of `package` to `out`, as `serde_json::to_writer` would.
pub fn write_package(out: &mut Vec<u8>, package: &PackageRef<'_>) {
    // Destructuring makes a new field a compile error here (it would change the JSON).
    let PackageRef {
        manager,
        name,
        version,
        arch,
        source,
        vendor,
        section,
        installed_size_bytes,
        installed_at,
    } = package;
    out.extend_from_slice(br#"{"manager":"#);
    write_str(out, manager);
    out.extend_from_slice(br#","name":"#);
    write_str(out, name);
    out.extend_from_slice(br#","version":"#);
    write_str(out, version);
    out.extend_from_slice(br#","arch":"#);
    write_optional_str(out, *arch);
    out.extend_from_slice(br#","source":"#);
    write_optional_str(out, *source);
    out.extend_from_slice(br#","vendor":"#);
    write_optional_str(out, *vendor);
    out.extend_from_slice(br#","section":"#);
    write_optional_str(out, *section);
    out.extend_from_slice(br#","installed_size_bytes":"#);
    match installed_size_bytes {
        Some(size) => write_u64(out, *size),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","installed_at":"#);
    write_optional_str(out, *installed_at);
    out.push(b'}');
}

fn write_optional_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => write_str(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, control characters as `\b \t \n \f
/// \r` or `\u00xx` (lowercase hex), everything else (including non-ASCII and DEL) as it is.
fn write_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Eight bytes at a time while none needs escaping, as in nearly every package string:
        // testing each byte on its own was 7% of the collector's CPU per changed report.
        if let Some(chunk) = bytes.get(at..at + 8)
            && let Ok(word) = <[u8; 8]>::try_from(chunk)
            && !needs_escape(u64::from_le_bytes(word))
        {
            at += 8;
            continue;
        }
        let byte = bytes[at];
        at += 1;
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..at - 1]);
        match byte {
            b'"' => out.extend_from_slice(br#"\""#),
            b'\\' => out.extend_from_slice(br"\\"),
            0x08 => out.extend_from_slice(br"\b"),
            0x09 => out.extend_from_slice(br"\t"),
            0x0a => out.extend_from_slice(br"\n"),
            0x0c => out.extend_from_slice(br"\f"),
            0x0d => out.extend_from_slice(br"\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(br"\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
        }
        start = at;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `word` is below 0x20, a quote or a backslash: the bytes JSON
/// escapes. Exact both ways ("Determine if a word has a byte less than n", Bit Twiddling Hacks):
/// a byte below `n` (at most 128) borrows into its own high bit, and bytes of 0x80 and above are
/// masked out by `!word`.
fn needs_escape(word: u64) -> bool {
    let has_byte_below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH_BITS != 0;
    has_byte_below(word, 0x20)
        || has_byte_below(word ^ (ONES * u64::from(b'"')), 1)
        || has_byte_below(word ^ (ONES * u64::from(b'\\')), 1)
}

fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{AsPackageRef, Package};
    use proptest::prelude::*;

    fn by_hand(package: &Package) -> String {
        let mut out = Vec::new();
        write_package(&mut out, &package.package_ref());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_character_json_escapes_is_written_as_serde_json_writes_it() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        let package = Package {
            manager: every_ascii.clone(),
            name: "naïve \u{1f600} \u{2028}".into(),
            version: String::new(),
            arch: None,
            source: Some(every_ascii),
            vendor: Some(r#"Joe "the \ packager" <joe@example.org>"#.into()),
            section: None,
            installed_size_bytes: Some(u64::MAX),
            installed_at: Some("2026-11-27T10:00:00Z".into()),
        };
        assert_eq!(by_hand(&package), serde_json::to_string(&package).unwrap());
        let plain = Package {
            installed_size_bytes: Some(0),
            ..Package::default()
        };
        assert_eq!(by_hand(&plain), serde_json::to_string(&plain).unwrap());
    }

    fn text() -> impl Strategy<Value = String> {
        // Mostly package-like text, with any character now and then.
        prop_oneof![
            3 => "[a-z0-9.+~:-]{0,24}",
            1 => any::<String>(),
        ]
    }

    #[test]
    fn every_byte_value_at_every_place_of_a_plain_word_is_judged_as_json_judges_it() {
        for at in 0..8 {
            for byte in 0..=u8::MAX {
                let mut bytes = *b"abcdefgh";
                bytes[at] = byte;
                let expected = byte < 0x20 || byte == b'"' || byte == b'\\';
                assert_eq!(
                    needs_escape(u64::from_le_bytes(bytes)),
                    expected,
                    "{byte:#04x} at {at}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn a_word_needs_escaping_exactly_when_one_of_its_bytes_does(word in any::<u64>(), at in 0usize..8, byte in any::<u8>()) {
            // Random words rarely hold a quote or a backslash: plant one byte of any value.
            let mut bytes = word.to_le_bytes();
            bytes[at] = byte;
            let expected = bytes.iter().any(|b| *b < 0x20 || *b == b'"' || *b == b'\\');
            prop_assert_eq!(needs_escape(u64::from_le_bytes(bytes)), expected);
        }

        #[test]
        fn generated_packages_are_written_as_serde_json_writes_them(
            manager in text(), name in text(), version in text(),
            arch in proptest::option::of(text()), source in proptest::option::of(text()),
            vendor in proptest::option::of(text()), section in proptest::option::of(text()),
            installed_size_bytes in proptest::option::of(any::<u64>()),
            installed_at in proptest::option::of(text()),
        ) {
            let package = Package {
                manager, name, version, arch, source, vendor, section, installed_size_bytes,
                installed_at,
            };
            prop_assert_eq!(by_hand(&package), serde_json::to_string(&package).unwrap());
        }
    }
}

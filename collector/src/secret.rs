//! Random identifiers and bearer secrets, and how secrets are stored.
//!
//! Secrets (enrollment tokens, API tokens) are 256 random bits and are stored only as their SHA-256.
//! A fast hash is the right tool here: a slow password hash (argon2, bcrypt) protects *low-entropy*
//! secrets against guessing, but nobody can enumerate 2^256 candidates, so a leaked hash gives nothing
//! away, and a fast hash keeps authentication cheap on every request.

use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet, lowercase: no `i`, `l`, `o`, `u`, so ids read aloud and typed survive.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Base32 (Crockford, lowercase, no padding) of `bytes`.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut n_bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        n_bits += 8;
        while n_bits >= 5 {
            n_bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> n_bits) & 31) as usize]));
        }
    }
    if n_bits > 0 {
        out.push(char::from(
            ALPHABET[((buffer << (5 - n_bits)) & 31) as usize],
        ));
    }
    out
}

/// `prefix` followed by the base32 of `N` random bytes.
pub fn random_id<const N: usize>(prefix: &str) -> String {
    let bytes: [u8; N] = rand::random();
    format!("{prefix}{}", base32(&bytes))
}

/// Lowercase hex SHA-256 of a secret: the only form in which secrets are stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The current time, RFC 3339 UTC, second precision.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

pub fn rfc3339(at: time::OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_encodes_like_crockford() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(&[0xff]), "zw");
        assert_eq!(base32(&[0, 0, 0, 0, 0]), "00000000");
        // 128 bits -> 26 characters, as agent ids promise.
        assert_eq!(random_id::<16>("agt-").len(), 4 + 26);
        assert_ne!(random_id::<16>(""), random_id::<16>(""));
    }

    #[test]
    fn secrets_are_stored_as_sha256() {
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        let at = time::macros::datetime!(2026-11-26 12:00:00.5 +01:00);
        assert_eq!(rfc3339(at), "2026-11-26T11:00:00Z");
    }
}

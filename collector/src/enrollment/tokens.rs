//! Enrollment tokens: created by an administrator, shown once, consumed by agents when they enroll.
//!
//! A token has an expiry, a number of uses and can be revoked. The secret (`census_enroll_` + 52
//! base32 characters = 256 random bits) is stored only as its SHA-256 (see [`crate::secret`]), indexed
//! so that presenting a secret is one lookup.

use super::{
    EnrollmentError, SPACE_ENROLL_TOKEN_HASHES, SPACE_ENROLL_TOKENS, decode, encode, lock,
};
use crate::secret::{random_id, rfc3339, secret_hash};
use crate::store::{Batch, Store};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

const SECRET_PREFIX: &str = "census_enroll_";

/// What is known about a token; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
    pub max_uses: u32,
    pub uses: u32,
    pub revoked: bool,
    pub note: Option<String>,
    /// SHA-256 of the secret, lowercase hex.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    secret_sha256: String,
}

impl TokenInfo {
    /// Why the token cannot be used at `now`, if it cannot.
    fn refusal(&self, now: OffsetDateTime) -> Option<&'static str> {
        let expired = OffsetDateTime::parse(
            &self.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(true, |expires_at| now >= expires_at);
        if self.revoked {
            Some("was revoked")
        } else if expired {
            Some("has expired")
        } else if self.uses >= self.max_uses {
            Some("has been used up")
        } else {
            None
        }
    }

    /// The record as shown to administrators (no hash).
    pub fn public(&self) -> TokenInfo {
        TokenInfo {
            secret_sha256: String::new(),
            ..self.clone()
        }
    }
}

/// Creates a token valid for `ttl` and `max_uses` enrollments. Returns its record and its secret,
/// which is not stored and cannot be shown again.
pub fn create(
    store: &dyn Store,
    ttl: Duration,
    max_uses: u32,
    note: Option<String>,
) -> Result<(TokenInfo, String), EnrollmentError> {
    if max_uses == 0 {
        return Err(EnrollmentError::Invalid(
            "max_uses must be at least 1".into(),
        ));
    }
    let secret = random_id::<32>(SECRET_PREFIX);
    let now = OffsetDateTime::now_utc();
    let info = TokenInfo {
        id: random_id::<8>("tok-"),
        created_at: rfc3339(now),
        expires_at: rfc3339(now + ttl),
        max_uses,
        uses: 0,
        revoked: false,
        note,
        secret_sha256: secret_hash(&secret),
    };
    let mut batch = Batch::new();
    batch.put(SPACE_ENROLL_TOKENS, info.id.as_bytes(), encode(&info));
    batch.put(
        SPACE_ENROLL_TOKEN_HASHES,
        info.secret_sha256.as_bytes(),
        info.id.as_bytes(),
    );
    store.commit(batch)?;
    Ok((info.public(), secret))
}

/// Every token, oldest id order.
pub fn list(store: &dyn Store) -> Result<Vec<TokenInfo>, EnrollmentError> {
    store
        .scan_prefix(SPACE_ENROLL_TOKENS, b"")
        .map(|entry| {
            let (key, value) = entry?;
            let info: TokenInfo = decode(&String::from_utf8_lossy(&key), &value)?;
            Ok(info.public())
        })
        .collect()
}

pub fn get(store: &dyn Store, id: &str) -> Result<TokenInfo, EnrollmentError> {
    let bytes = store
        .get(SPACE_ENROLL_TOKENS, id.as_bytes())?
        .ok_or_else(|| EnrollmentError::TokenNotFound(id.to_string()))?;
    decode(id, &bytes)
}

/// Revokes a token: it can no longer be used; agents already enrolled with it are unaffected.
pub fn revoke(store: &dyn Store, id: &str) -> Result<TokenInfo, EnrollmentError> {
    let _guard = lock();
    let mut info = get(store, id)?;
    info.revoked = true;
    store.put(SPACE_ENROLL_TOKENS, id.as_bytes(), &encode(&info))?;
    Ok(info.public())
}

/// Checks that `secret` names a usable token and returns the write that consumes one use.
/// The caller must hold [`super::lock`] from this call until that write is committed.
pub(crate) fn consume_locked(
    store: &dyn Store,
    secret: &str,
    now: OffsetDateTime,
) -> Result<(TokenInfo, Batch), EnrollmentError> {
    if !secret.starts_with(SECRET_PREFIX) {
        return Err(EnrollmentError::InvalidToken(
            "is not a Census enrollment token (they start with 'census_enroll_')",
        ));
    }
    let unknown = EnrollmentError::InvalidToken("is unknown");
    let Some(id) = store.get(SPACE_ENROLL_TOKEN_HASHES, secret_hash(secret).as_bytes())? else {
        return Err(unknown);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    let mut info = match get(store, &id) {
        Ok(info) => info,
        Err(EnrollmentError::TokenNotFound(_)) => return Err(unknown),
        Err(other) => return Err(other),
    };
    if let Some(reason) = info.refusal(now) {
        return Err(EnrollmentError::InvalidToken(reason));
    }
    info.uses += 1;
    let mut batch = Batch::new();
    batch.put(SPACE_ENROLL_TOKENS, id.as_bytes(), encode(&info));
    Ok((info.public(), batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn consume(store: &dyn Store, secret: &str) -> Result<TokenInfo, EnrollmentError> {
        let _guard = lock();
        let (info, batch) = consume_locked(store, secret, OffsetDateTime::now_utc())?;
        store.commit(batch)?;
        Ok(info)
    }

    #[test]
    fn a_token_is_usable_max_uses_times_then_refused() {
        let store = MemoryStore::new();
        let (info, secret) =
            create(&store, Duration::from_secs(3600), 2, Some("rack 4".into())).unwrap();
        assert!(secret.starts_with(SECRET_PREFIX) && secret.len() == SECRET_PREFIX.len() + 52);
        assert_eq!(consume(&store, &secret).unwrap().uses, 1);
        assert_eq!(consume(&store, &secret).unwrap().uses, 2);
        let error = consume(&store, &secret).unwrap_err();
        assert!(error.to_string().contains("used up"), "{error}");
        assert_eq!(get(&store, &info.id).unwrap().uses, 2);
    }

    #[test]
    fn expired_revoked_and_unknown_tokens_are_refused() {
        let store = MemoryStore::new();
        let (_, expired) = create(&store, Duration::ZERO, 1, None).unwrap();
        let error = consume(&store, &expired).unwrap_err();
        assert!(error.to_string().contains("expired"), "{error}");

        let (info, revoked) = create(&store, Duration::from_secs(60), 1, None).unwrap();
        revoke(&store, &info.id).unwrap();
        let error = consume(&store, &revoked).unwrap_err();
        assert!(error.to_string().contains("revoked"), "{error}");

        let error = consume(&store, &format!("{SECRET_PREFIX}{}", "0".repeat(52))).unwrap_err();
        assert!(error.to_string().contains("unknown"), "{error}");
        assert!(matches!(
            revoke(&store, "tok-missing").unwrap_err(),
            EnrollmentError::TokenNotFound(_)
        ));
    }

    #[test]
    fn listed_tokens_never_carry_the_secret_or_its_hash() {
        let store = MemoryStore::new();
        let (_, secret) = create(&store, Duration::from_secs(60), 1, None).unwrap();
        let listed = list(&store).unwrap();
        assert_eq!(listed.len(), 1);
        let json = serde_json::to_string(&listed).unwrap();
        assert!(!json.contains(&secret) && !json.contains(&secret_hash(&secret)));
    }
}

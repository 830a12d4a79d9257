//! Web console sessions: sign-in with an API token, a server-side session, CSRF tokens.
//!
//! Signing in checks the pasted API token with [`auth::authenticate`] and creates a session: a random
//! 256-bit id sent to the browser in the `census_session` cookie and stored only as its SHA-256 (like
//! every Census secret, see [`crate::secret`]) in the `web_sessions` space, with the user, the token's
//! hash, a per-session CSRF token and its times. A session ends after [`IDLE_TIMEOUT`] without a
//! request, [`ABSOLUTE_TIMEOUT`] after sign-in, at sign-out, or as soon as its API token is revoked or
//! expires: the token record is read on every request, so the role shown is always the token's.
//!
//! Limitation: expired sessions are deleted when they are next presented and by the sweep at each
//! sign-in, not by a timer.

use crate::auth::{self, Caller, Role, SPACE_API_TOKENS, TokenRecord};
use crate::secret::{random_id, secret_hash};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// SHA-256 of a session id -> [`SessionRecord`].
pub const SPACE_WEB_SESSIONS: &str = "web_sessions";
pub const COOKIE_NAME: &str = "census_session";
/// A working day without a request signs the user out.
pub const IDLE_TIMEOUT: time::Duration = time::Duration::hours(8);
/// Even an active session signs in again every day, so a stolen cookie is not good forever.
pub const ABSOLUTE_TIMEOUT: time::Duration = time::Duration::hours(24);
/// `last_seen` is rewritten at most this often: a store write per page view buys nothing.
const TOUCH_EVERY: time::Duration = time::Duration::minutes(1);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The pasted token was refused; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored web session is unreadable: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user: String,
    pub role: Role,
    /// The API token the session was opened with (its stored hash), checked on every request.
    pub token_hash: String,
    pub csrf: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen: i64,
}

/// A live session, as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
}

/// Signs in with `bearer`; returns the session id for the cookie (not stored) and the session.
pub fn sign_in(
    store: &dyn Store,
    bearer: &str,
    now: OffsetDateTime,
) -> Result<(String, Session), SessionError> {
    let caller = match auth::authenticate(store, bearer.trim()) {
        Ok(caller) => caller,
        Err(auth::AuthError::Refused(reason)) => {
            return Err(SessionError::Refused(format!(
                "this API token {reason}; paste a valid token (ask an administrator for one)"
            )));
        }
        Err(auth::AuthError::Store(error)) => return Err(SessionError::Store(error)),
        Err(other) => return Err(SessionError::Corrupt(other.to_string())),
    };
    sweep_expired(store, now)?;
    let id = random_id::<32>("");
    let record = SessionRecord {
        user: caller.user.clone(),
        role: caller.role,
        token_hash: secret_hash(bearer.trim()),
        csrf: random_id::<32>(""),
        created_at: now.unix_timestamp(),
        last_seen: now.unix_timestamp(),
    };
    put(store, &secret_hash(&id), &record)?;
    let session = Session {
        caller,
        csrf: record.csrf,
    };
    Ok((id, session))
}

/// The session `id` names, if it is live now; a dead one is deleted.
pub fn load(
    store: &dyn Store,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<Session>, SessionError> {
    let key = secret_hash(id);
    let Some(bytes) = store.get(SPACE_WEB_SESSIONS, key.as_bytes())? else {
        return Ok(None);
    };
    let mut record: SessionRecord =
        serde_json::from_slice(&bytes).map_err(|e| SessionError::Corrupt(e.to_string()))?;
    let role = if expired(&record, now) {
        None
    } else {
        token_role(store, &record.token_hash, now)?
    };
    let Some(role) = role else {
        store.delete(SPACE_WEB_SESSIONS, key.as_bytes())?;
        return Ok(None);
    };
    if now.unix_timestamp() - record.last_seen >= TOUCH_EVERY.whole_seconds() {
        record.last_seen = now.unix_timestamp();
        put(store, &key, &record)?;
    }
    Ok(Some(Session {
        caller: Caller {
            user: record.user,
            role,
        },
        csrf: record.csrf,
    }))
}

/// Ends the session `id` (sign-out); an unknown id is not an error.
pub fn sign_out(store: &dyn Store, id: &str) -> Result<(), SessionError> {
    store.delete(SPACE_WEB_SESSIONS, secret_hash(id).as_bytes())?;
    Ok(())
}

fn put(store: &dyn Store, key: &str, record: &SessionRecord) -> Result<(), SessionError> {
    let value = serde_json::to_vec(record).map_err(|e| SessionError::Corrupt(e.to_string()))?;
    store.put(SPACE_WEB_SESSIONS, key.as_bytes(), &value)?;
    Ok(())
}

/// Past its idle or absolute lifetime.
pub fn expired(record: &SessionRecord, now: OffsetDateTime) -> bool {
    let now = now.unix_timestamp();
    now - record.last_seen >= IDLE_TIMEOUT.whole_seconds()
        || now - record.created_at >= ABSOLUTE_TIMEOUT.whole_seconds()
}

/// The role of the API token stored under `token_hash`, if it is still valid at `now`.
fn token_role(
    store: &dyn Store,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<Role>, SessionError> {
    let Some(bytes) = store.get(SPACE_API_TOKENS, token_hash.as_bytes())? else {
        return Ok(None);
    };
    let token: TokenRecord =
        serde_json::from_slice(&bytes).map_err(|e| SessionError::Corrupt(e.to_string()))?;
    let expired = token.expires_at.as_deref().is_some_and(|at| {
        OffsetDateTime::parse(at, &Rfc3339).map_or(true, |expires_at| now >= expires_at)
    });
    Ok((!token.revoked && !expired).then_some(token.role))
}

/// Deletes every expired session (sessions are few: one per signed-in browser).
fn sweep_expired(store: &dyn Store, now: OffsetDateTime) -> Result<(), SessionError> {
    let mut dead = Vec::new();
    for entry in store.scan_prefix(SPACE_WEB_SESSIONS, b"") {
        let (key, value) = entry?;
        let record = serde_json::from_slice::<SessionRecord>(&value);
        if record.is_ok_and(|record| !expired(&record, now)) {
            continue;
        }
        dead.push(key);
    }
    for key in dead {
        store.delete(SPACE_WEB_SESSIONS, &key)?;
    }
    Ok(())
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// The session id in a `Cookie` header value, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that stores `id`: only over HTTPS, never to scripts, never cross-site.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE_NAME}={id}; HttpOnly; Secure; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::time::Duration;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_session_lives_until_idle_absolute_timeout_or_sign_out_and_stores_no_secret() {
        let store = MemoryStore::new();
        let token = auth::create_token(&store, "alice", Role::ServiceDesk, None).unwrap();
        let (id, session) = sign_in(&store, &format!(" {token}\n"), at(0)).unwrap();
        assert_eq!(session.caller.user, "alice");
        assert_eq!(session.csrf.len(), 52);
        for entry in store.scan_prefix(SPACE_WEB_SESSIONS, b"") {
            let (key, value) = entry.unwrap();
            let stored = format!(
                "{}{}",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&value)
            );
            assert!(
                !stored.contains(&id) && !stored.contains(&token),
                "{stored}"
            );
        }
        let loaded = load(&store, &id, at(7 * 3600)).unwrap().unwrap();
        assert_eq!(loaded, session);
        // Touched at 7 h, so still alive 14 h in; the absolute limit ends it at 24 h regardless.
        assert!(load(&store, &id, at(14 * 3600)).unwrap().is_some());
        assert!(load(&store, &id, at(21 * 3600)).unwrap().is_some());
        assert_eq!(load(&store, &id, at(24 * 3600)).unwrap(), None);

        let (id, _) = sign_in(&store, &token, at(0)).unwrap();
        assert_eq!(load(&store, &id, at(8 * 3600)).unwrap(), None, "idle 8 h");
        let (id, _) = sign_in(&store, &token, at(0)).unwrap();
        sign_out(&store, &id).unwrap();
        assert_eq!(load(&store, &id, at(1)).unwrap(), None);
        assert_eq!(load(&store, "not-a-session", at(1)).unwrap(), None);
    }

    #[test]
    fn revoking_or_expiring_the_token_ends_its_sessions() {
        let store = MemoryStore::new();
        let token = auth::create_token(&store, "bob", Role::Auditor, None).unwrap();
        let now = OffsetDateTime::now_utc();
        let (id, _) = sign_in(&store, &token, now).unwrap();
        let record = &auth::list_tokens(&store).unwrap()[0];
        auth::revoke_token(&store, &record.id).unwrap();
        assert_eq!(load(&store, &id, now).unwrap(), None);

        let short = auth::create_token(&store, "carol", Role::Admin, Some(Duration::from_secs(60)))
            .unwrap();
        let (id, _) = sign_in(&store, &short, now).unwrap();
        assert!(load(&store, &id, now).unwrap().is_some());
        assert_eq!(
            load(&store, &id, now + time::Duration::minutes(2)).unwrap(),
            None
        );
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let store = MemoryStore::new();
        let error = sign_in(&store, "hunter2", at(0)).unwrap_err();
        assert!(
            error.to_string().contains("not a Census API token"),
            "{error}"
        );
        let error = sign_in(&store, &format!("census_{}", "0".repeat(52)), at(0)).unwrap_err();
        assert!(error.to_string().contains("is unknown"), "{error}");
        assert_eq!(store.scan_prefix(SPACE_WEB_SESSIONS, b"").count(), 0);
    }

    #[test]
    fn cookies_are_parsed_by_name_and_set_with_every_protection() {
        assert_eq!(cookie_value("a=1; census_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("census_session="), None);
        assert_eq!(cookie_value("other=census_session"), None);
        let cookie = set_cookie("abc");
        for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(flag), "{cookie}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }
}

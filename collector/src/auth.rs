//! API bearer tokens for people and scripts: each belongs to a named user with one role.
//!
//! Tokens look like `census_` + 52 base32 characters (256 random bits) so that secret scanners and
//! people recognise them. Only their SHA-256 is stored (see [`crate::secret`] for why a fast hash is
//! right), keyed by that hash, so authenticating is one lookup. Tokens may expire and be revoked.
//!
//! [`Caller`] is the axum extractor: it answers 401 with a JSON message when the `Authorization:
//! Bearer` header is missing, malformed, unknown, expired or revoked. Handlers then check the role.
//!
//! User records, disabling and token management with audit live in [`crate::users`]; this module is
//! the token format, its storage and authentication (which also refuses tokens of disabled users).
//!
//! Limitation: roles are a flat list, one per user; what each may do is decided per endpoint group.

use crate::api::error::ApiError;
use crate::secret::{random_id, rfc3339, secret_hash};
use crate::store::{Batch, Store, StoreError};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// SHA-256 of a token secret -> [`TokenRecord`].
pub const SPACE_API_TOKENS: &str = "api_tokens";
const TOKEN_PREFIX: &str = "census_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    AssetManager,
    ServiceDesk,
    Auditor,
    Approver,
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(text.to_string()))
            .map_err(|_| AuthError::UnknownRole(text.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("unknown role '{0}'; use one of admin, asset_manager, service_desk, auditor, approver")]
    UnknownRole(String),
    #[error("the user name must be 1 to 128 characters")]
    InvalidUser,
    #[error("the API token {0}")]
    Refused(&'static str),
    #[error("API token '{0}' does not exist")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored API token record is unreadable: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub user: String,
    pub role: Role,
    pub created_at: String,
    /// RFC 3339 UTC; `None` never expires.
    pub expires_at: Option<String>,
    pub revoked: bool,
    /// What the token is for (from `token create --note`); older records have none.
    #[serde(default)]
    pub note: Option<String>,
}

/// Who is calling: the outcome of authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the '{}' role; user '{}' has '{}'",
                role_name(role),
                self.user,
                role_name(self.role)
            )))
        }
    }
}

impl Caller {
    /// 403 unless the caller has one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let names: Vec<String> = roles.iter().map(|role| role_name(*role)).collect();
        Err(ApiError::forbidden(format!(
            "this needs one of the roles {}; user '{}' has '{}'",
            names.join(", "),
            self.user,
            role_name(self.role)
        )))
    }
}

fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Creates a token for `user` with `role`, valid for `ttl` (or forever). Returns the secret, which is
/// not stored and cannot be shown again.
pub fn create_token(
    store: &dyn Store,
    user: &str,
    role: Role,
    ttl: Option<Duration>,
) -> Result<String, AuthError> {
    let mut batch = Batch::new();
    let (_, secret) = stage_token(&mut batch, user, role, ttl, None, OffsetDateTime::now_utc())?;
    store.commit(batch)?;
    Ok(secret)
}

/// Adds a new token for `user` to `batch`; returns its record and the secret (shown once, never
/// stored: the key is its hash).
pub(crate) fn stage_token(
    batch: &mut Batch,
    user: &str,
    role: Role,
    ttl: Option<Duration>,
    note: Option<String>,
    now: OffsetDateTime,
) -> Result<(TokenRecord, String), AuthError> {
    if user.is_empty() || user.chars().count() > 128 {
        return Err(AuthError::InvalidUser);
    }
    let secret = random_id::<32>(TOKEN_PREFIX);
    let record = TokenRecord {
        id: random_id::<8>("key-"),
        user: user.to_string(),
        role,
        created_at: rfc3339(now),
        expires_at: ttl.map(|ttl| rfc3339(now + ttl)),
        revoked: false,
        note,
    };
    batch.put(
        SPACE_API_TOKENS,
        secret_hash(&secret).into_bytes(),
        encode(&record)?,
    );
    Ok((record, secret))
}

pub(crate) fn encode(record: &TokenRecord) -> Result<Vec<u8>, AuthError> {
    serde_json::to_vec(record).map_err(|error| AuthError::Corrupt(error.to_string()))
}

/// Every token record with its store key (the secret's hash), in key order.
pub(crate) fn token_entries(
    store: &dyn Store,
) -> impl Iterator<Item = Result<(Vec<u8>, TokenRecord), AuthError>> + '_ {
    store.scan_prefix(SPACE_API_TOKENS, b"").map(|entry| {
        let (key, value) = entry?;
        let record = serde_json::from_slice(&value)
            .map_err(|error| AuthError::Corrupt(error.to_string()))?;
        Ok((key, record))
    })
}

/// Every token's record (never a secret).
pub fn list_tokens(store: &dyn Store) -> Result<Vec<TokenRecord>, AuthError> {
    token_entries(store)
        .map(|entry| entry.map(|(_, record)| record))
        .collect()
}

/// Revokes the token with record id `id` (`key-…`).
pub fn revoke_token(store: &dyn Store, id: &str) -> Result<(), AuthError> {
    for entry in token_entries(store) {
        let (key, mut record) = entry?;
        if record.id == id {
            record.revoked = true;
            store.put(SPACE_API_TOKENS, &key, &encode(&record)?)?;
            return Ok(());
        }
    }
    Err(AuthError::NotFound(id.to_string()))
}

/// Who `bearer` (the secret) belongs to, if it is valid now.
pub fn authenticate(store: &dyn Store, bearer: &str) -> Result<Caller, AuthError> {
    if !bearer.starts_with(TOKEN_PREFIX) {
        return Err(AuthError::Refused(
            "is not a Census API token (they start with 'census_')",
        ));
    }
    let Some(value) = store.get(SPACE_API_TOKENS, secret_hash(bearer).as_bytes())? else {
        return Err(AuthError::Refused("is unknown"));
    };
    let record: TokenRecord =
        serde_json::from_slice(&value).map_err(|error| AuthError::Corrupt(error.to_string()))?;
    if record.revoked {
        return Err(AuthError::Refused("was revoked"));
    }
    if let Some(expires_at) = &record.expires_at {
        let expired =
            OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
                .map_or(true, |expires_at| OffsetDateTime::now_utc() >= expires_at);
        if expired {
            return Err(AuthError::Refused("has expired"));
        }
    }
    // Disabling a user revokes their tokens too; this check also covers a token written while the
    // user was being disabled.
    if crate::users::is_disabled(store, &record.user)? {
        return Err(AuthError::Refused("belongs to a disabled user"));
    }
    Ok(Caller {
        user: record.user,
        role: record.role,
    })
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "this endpoint needs an API token: send 'Authorization: Bearer census_…'",
                )
            })?;
        let bearer = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be 'Bearer <token>'")
            })?;
        let store = Arc::<dyn Store>::from_ref(state);
        match authenticate(store.as_ref(), bearer) {
            Ok(caller) => Ok(caller),
            Err(AuthError::Refused(reason)) => Err(ApiError::unauthenticated(format!(
                "the API token {reason}; ask an administrator for a valid one"
            ))),
            Err(AuthError::Store(error)) => Err(ApiError::from(error)),
            Err(other) => Err(ApiError::internal(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn a_token_authenticates_its_user_until_revoked() {
        let store = MemoryStore::new();
        let secret = create_token(&store, "alice", Role::Admin, None).unwrap();
        assert!(secret.starts_with("census_") && secret.len() == 7 + 52);
        let caller = authenticate(&store, &secret).unwrap();
        assert_eq!(
            caller,
            Caller {
                user: "alice".into(),
                role: Role::Admin
            }
        );
        assert!(caller.require(Role::Admin).is_ok());

        let records = list_tokens(&store).unwrap();
        assert_eq!(records.len(), 1);
        revoke_token(&store, &records[0].id).unwrap();
        let error = authenticate(&store, &secret).unwrap_err();
        assert!(error.to_string().contains("revoked"), "{error}");
    }

    #[test]
    fn expired_unknown_and_foreign_tokens_are_refused() {
        let store = MemoryStore::new();
        let expired = create_token(&store, "bob", Role::Auditor, Some(Duration::ZERO)).unwrap();
        let error = authenticate(&store, &expired).unwrap_err();
        assert!(error.to_string().contains("expired"), "{error}");
        let error = authenticate(&store, &format!("census_{}", "0".repeat(52))).unwrap_err();
        assert!(error.to_string().contains("unknown"), "{error}");
        let error = authenticate(&store, "hunter2").unwrap_err();
        assert!(
            error.to_string().contains("not a Census API token"),
            "{error}"
        );
    }

    #[test]
    fn roles_parse_by_name_and_are_checked() {
        assert_eq!("service_desk".parse::<Role>().unwrap(), Role::ServiceDesk);
        let error = "root".parse::<Role>().unwrap_err();
        assert!(error.to_string().contains("asset_manager"), "{error}");
        let caller = Caller {
            user: "carol".into(),
            role: Role::Auditor,
        };
        let error = caller.require(Role::Admin).unwrap_err();
        assert_eq!(error.code, "forbidden");
        assert!(caller.require_any(&[Role::Admin, Role::Auditor]).is_ok());
        let error = caller
            .require_any(&[Role::Admin, Role::AssetManager])
            .unwrap_err();
        assert_eq!(error.code, "forbidden");
        assert!(
            error.message.contains("admin, asset_manager") && error.message.contains("'auditor'"),
            "{}",
            error.message
        );
    }
}

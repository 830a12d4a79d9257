//! People (and scripts) who hold API tokens: named users with one role each, and their tokens.
//!
//! A user record says who someone is (name, optional display name and email), which [`Role`] they have
//! and whether they are disabled. Tokens ([`crate::auth`]) carry the user's name and role; a token is
//! created for an existing, enabled user and takes that user's role. Disabling a user revokes every
//! token they hold, and [`crate::auth::authenticate`] also refuses any token of a disabled user.
//!
//! Every write here is a person's (an administrator, through the admin API or the CLI), so each one is
//! committed in one batch with its entry in the audit log ([`crate::itsm::audit`]): the log never
//! claims a write that did not happen nor misses one that did. Secrets are never stored nor audited.
//!
//! Changing a user's role ([`set_role`]) changes it on every token they hold in the same batch, so a
//! demoted user's tokens lose the old rights at once. Limitation: tokens created before user records
//! existed (the `admin` token written by `init`, for one) belong to a name with no record and keep
//! their role until revoked.

use crate::auth::{self, AuthError, Role, SPACE_API_TOKENS, TokenRecord};
use crate::itsm::{self, Actor, ItsmError, audit};
use crate::secret::rfc3339;
use crate::store::{Batch, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// User name -> [`UserRecord`] (JSON).
pub const SPACE_USERS: &str = "api_users";
/// User names are short and URL-safe: they appear in paths (`/api/v1/users/{name}/disable`).
pub const NAME_MAX: usize = 64;
/// Display names, emails and token notes are for people; this is plenty.
const TEXT_MAX: usize = 200;
/// What a new token lives for when the request does not say: a quarter, a common rotation period.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(90 * 86_400);
/// Two years; a longer-lived token is forgotten before it is rotated.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(2 * 366 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub disabled_at: Option<String>,
}

/// A user to create (the body of `POST /api/v1/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// A token to create (the body of `POST /api/v1/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub user: String,
    /// Lifetime in seconds, 1 to [`MAX_TOKEN_TTL`]; absent means [`DEFAULT_TOKEN_TTL`].
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A token just created: its record and the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: TokenRecord,
    pub secret: String,
}

/// A disabled user and the ids of the tokens that were revoked with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisabledUser {
    pub user: UserRecord,
    pub revoked_tokens: Vec<String>,
}

/// A change to a user (the body of `PATCH /api/v1/users/{name}`): only the role, for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Role,
}

/// A user whose role changed, and the ids of the tokens that took the new role with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleChanged {
    pub user: UserRecord,
    pub updated_tokens: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(
        "user name '{0}' is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("user '{0}' already exists; pick another name")]
    Exists(String),
    #[error("user '{0}' does not exist; create it first with `census-collector user add`")]
    NoSuchUser(String),
    #[error("user '{0}' is disabled and cannot get new tokens")]
    Disabled(String),
    #[error("you cannot change your own role ('{0}'); ask another administrator")]
    OwnRole(String),
    #[error("{field} is longer than {TEXT_MAX} characters; shorten it")]
    TooLong { field: &'static str },
    #[error("the token lifetime must be between 1 second and {} days", MAX_TOKEN_TTL.as_secs() / 86_400)]
    InvalidTtl,
    #[error("API token '{0}' does not exist; `census-collector token list` shows the ids")]
    NoSuchToken(String),
    #[error("stored user '{key}' is unreadable: {message}")]
    Corrupt { key: String, message: String },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("writing the audit entry failed: {0}")]
    Audit(#[from] ItsmError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = UserError> = std::result::Result<T, E>;

/// Checks a user name: ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(UserError::InvalidName(name.to_string()))
    }
}

fn optional_text(field: &'static str, text: Option<String>) -> Result<Option<String>> {
    match itsm::clean(text) {
        Some(text) if text.chars().count() > TEXT_MAX => Err(UserError::TooLong { field }),
        other => Ok(other),
    }
}

/// The record of user `name`, if there is one.
pub fn get_user(store: &dyn Store, name: &str) -> Result<Option<UserRecord>> {
    let Some(value) = store.get(SPACE_USERS, name.as_bytes())? else {
        return Ok(None);
    };
    serde_json::from_slice(&value)
        .map(Some)
        .map_err(|error| UserError::Corrupt {
            key: name.to_string(),
            message: error.to_string(),
        })
}

/// Whether `name` has a user record that is disabled (a name without a record is not).
pub fn is_disabled(store: &dyn Store, name: &str) -> Result<bool, AuthError> {
    match get_user(store, name) {
        Ok(user) => Ok(user.is_some_and(|user| user.disabled)),
        Err(UserError::Store(error)) => Err(AuthError::Store(error)),
        Err(other) => Err(AuthError::Corrupt(other.to_string())),
    }
}

/// Every user, by name.
pub fn list_users(store: &dyn Store) -> Result<Vec<UserRecord>> {
    store
        .scan_prefix(SPACE_USERS, b"")
        .map(|entry| {
            let (key, value) = entry?;
            serde_json::from_slice(&value).map_err(|error| UserError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                message: error.to_string(),
            })
        })
        .collect()
}

fn stage_user(batch: &mut Batch, user: &UserRecord) -> Result<()> {
    let value = serde_json::to_vec(user).map_err(|error| UserError::Corrupt {
        key: user.name.clone(),
        message: error.to_string(),
    })?;
    batch.put(SPACE_USERS, user.name.clone().into_bytes(), value);
    Ok(())
}

/// Creates user `new`; refuses a name that is taken.
pub fn add_user(
    store: &dyn Store,
    new: NewUser,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<UserRecord> {
    let name = new.name.trim().to_string();
    check_name(&name)?;
    let user = UserRecord {
        display_name: optional_text("display_name", new.display_name)?,
        email: optional_text("email", new.email)?,
        name,
        role: new.role,
        disabled: false,
        created_at: rfc3339(now),
        disabled_at: None,
    };
    let _guard = itsm::write_lock();
    if get_user(store, &user.name)?.is_some() {
        return Err(UserError::Exists(user.name));
    }
    let mut batch = Batch::new();
    stage_user(&mut batch, &user)?;
    let detail = format!("role {}", role_name(user.role));
    commit_audited(store, batch, actor, &user.name, "user.create", detail, now)?;
    Ok(user)
}

/// Disables user `name` and revokes every token they hold, in one batch.
pub fn disable_user(
    store: &dyn Store,
    name: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<DisabledUser> {
    let _guard = itsm::write_lock();
    let mut user = get_user(store, name)?.ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
    let mut batch = Batch::new();
    let mut revoked_tokens = Vec::new();
    for entry in auth::token_entries(store) {
        let (key, mut token) = entry?;
        if token.user == user.name && !token.revoked {
            token.revoked = true;
            batch.put(SPACE_API_TOKENS, key, auth::encode(&token)?);
            revoked_tokens.push(token.id);
        }
    }
    if !user.disabled {
        user.disabled = true;
        user.disabled_at = Some(rfc3339(now));
    }
    stage_user(&mut batch, &user)?;
    let detail = format!("{} token(s) revoked", revoked_tokens.len());
    commit_audited(store, batch, actor, &user.name, "user.disable", detail, now)?;
    Ok(DisabledUser {
        user,
        revoked_tokens,
    })
}

/// Gives user `name` the role `change.role`, on the record and on every token they hold (revoked ones
/// too, so that no record says otherwise), in one audited batch. An administrator cannot change their
/// own role: demoting oneself by mistake would leave no one able to undo it.
pub fn set_role(
    store: &dyn Store,
    name: &str,
    change: UserChange,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<RoleChanged> {
    if actor.name == name {
        return Err(UserError::OwnRole(name.to_string()));
    }
    let _guard = itsm::write_lock();
    let mut user = get_user(store, name)?.ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
    let before = user.role;
    user.role = change.role;
    let mut batch = Batch::new();
    let mut updated_tokens = Vec::new();
    for entry in auth::token_entries(store) {
        let (key, mut token) = entry?;
        if token.user == user.name && token.role != user.role {
            token.role = user.role;
            batch.put(SPACE_API_TOKENS, key, auth::encode(&token)?);
            updated_tokens.push(token.id);
        }
    }
    stage_user(&mut batch, &user)?;
    let detail = format!(
        "role {} -> {}; {} token(s) updated",
        role_name(before),
        role_name(user.role),
        updated_tokens.len()
    );
    commit_audited(store, batch, actor, &user.name, "user.role", detail, now)?;
    Ok(RoleChanged {
        user,
        updated_tokens,
    })
}

/// Creates a token for an existing, enabled user, with the user's role.
pub fn create_token(
    store: &dyn Store,
    request: NewToken,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<CreatedToken> {
    let ttl = match request.ttl_seconds {
        None => DEFAULT_TOKEN_TTL,
        Some(seconds) => Duration::from_secs(seconds),
    };
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(UserError::InvalidTtl);
    }
    let note = optional_text("note", request.note)?;
    let name = request.user.trim();
    let _guard = itsm::write_lock();
    let user = get_user(store, name)?.ok_or_else(|| UserError::NoSuchUser(name.to_string()))?;
    if user.disabled {
        return Err(UserError::Disabled(user.name));
    }
    let mut batch = Batch::new();
    let (token, secret) =
        auth::stage_token(&mut batch, &user.name, user.role, Some(ttl), note, now)?;
    let detail = format!("{} for {}", token.id, user.name);
    commit_audited(store, batch, actor, &user.name, "token.create", detail, now)?;
    Ok(CreatedToken { token, secret })
}

/// Token records (never secrets), of `user` only when given, oldest first.
pub fn list_tokens(store: &dyn Store, user: Option<&str>) -> Result<Vec<TokenRecord>> {
    let mut tokens = Vec::new();
    for entry in auth::token_entries(store) {
        let (_, token) = entry?;
        if user.is_none_or(|user| user == token.user) {
            tokens.push(token);
        }
    }
    tokens.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    Ok(tokens)
}

/// Revokes the token with record id `id` (`key-…`); revoking a revoked token is not an error.
pub fn revoke_token(
    store: &dyn Store,
    id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<TokenRecord> {
    let _guard = itsm::write_lock();
    for entry in auth::token_entries(store) {
        let (key, mut token) = entry?;
        if token.id != id {
            continue;
        }
        token.revoked = true;
        let mut batch = Batch::new();
        batch.put(SPACE_API_TOKENS, key, auth::encode(&token)?);
        let detail = format!("{} of {}", token.id, token.user);
        commit_audited(
            store,
            batch,
            actor,
            &token.user,
            "token.revoke",
            detail,
            now,
        )?;
        return Ok(token);
    }
    Err(UserError::NoSuchToken(id.to_string()))
}

/// Commits `batch` with the audit entry of `action` on user `name` (record `user:NAME`) in it.
fn commit_audited(
    store: &dyn Store,
    mut batch: Batch,
    actor: &Actor,
    name: &str,
    action: &str,
    detail: String,
    now: OffsetDateTime,
) -> Result<()> {
    let record = format!("user:{name}");
    audit::append(store, &mut batch, actor, &record, action, Some(detail), now)?;
    store.commit(batch)?;
    Ok(())
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::AssetManager => "asset_manager",
        Role::ServiceDesk => "service_desk",
        Role::Auditor => "auditor",
        Role::Approver => "approver",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::audit::{AuditFilter, audit_list};
    use crate::store::memory::MemoryStore;

    fn admin() -> Actor {
        Actor::new("root", itsm::Role::Admin, "127.0.0.1")
    }

    fn new_user(name: &str, role: Role) -> NewUser {
        NewUser {
            name: name.into(),
            role,
            display_name: Some("  Alice Example ".into()),
            email: Some(" ".into()),
        }
    }

    fn token_for(user: &str, ttl_seconds: Option<u64>) -> NewToken {
        NewToken {
            user: user.into(),
            ttl_seconds,
            note: Some("ci pipeline".into()),
        }
    }

    #[test]
    fn a_user_gets_tokens_with_their_role_until_disabled() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        let alice = add_user(&store, new_user("alice", Role::ServiceDesk), &admin(), now).unwrap();
        assert_eq!(alice.display_name.as_deref(), Some("Alice Example"));
        assert_eq!(alice.email, None, "blank is unknown, never \"\"");
        let first = create_token(&store, token_for("alice", None), &admin(), now).unwrap();
        let second = create_token(&store, token_for("alice", Some(60)), &admin(), now).unwrap();
        assert_eq!(first.token.role, Role::ServiceDesk);
        assert_eq!(first.token.note.as_deref(), Some("ci pipeline"));
        let caller = auth::authenticate(&store, &second.secret).unwrap();
        assert_eq!(
            (caller.user.as_str(), caller.role),
            ("alice", Role::ServiceDesk)
        );
        assert_eq!(list_tokens(&store, Some("alice")).unwrap().len(), 2);
        assert!(list_tokens(&store, Some("bob")).unwrap().is_empty());

        let disabled = disable_user(&store, "alice", &admin(), now).unwrap();
        assert!(disabled.user.disabled);
        assert_eq!(disabled.revoked_tokens.len(), 2);
        for secret in [&first.secret, &second.secret] {
            let error = auth::authenticate(&store, secret).unwrap_err();
            assert!(error.to_string().contains("revoked"), "{error}");
        }
        let error = create_token(&store, token_for("alice", None), &admin(), now).unwrap_err();
        assert!(matches!(error, UserError::Disabled(_)), "{error}");

        let actions: Vec<String> = audit_list(&store, &AuditFilter::default(), None, 50)
            .unwrap()
            .items
            .into_iter()
            .map(|entry| format!("{} {}", entry.action, entry.record))
            .collect();
        assert_eq!(
            actions,
            [
                "user.disable user:alice",
                "token.create user:alice",
                "token.create user:alice",
                "user.create user:alice"
            ]
        );
    }

    #[test]
    fn a_role_change_reaches_every_token_of_the_user_and_is_audited() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        add_user(&store, new_user("alice", Role::Admin), &admin(), now).unwrap();
        add_user(&store, new_user("bob", Role::Admin), &admin(), now).unwrap();
        let alice = create_token(&store, token_for("alice", None), &admin(), now).unwrap();
        let bob = create_token(&store, token_for("bob", None), &admin(), now).unwrap();
        let changed = set_role(
            &store,
            "alice",
            UserChange {
                role: Role::Auditor,
            },
            &admin(),
            now,
        )
        .unwrap();
        assert_eq!(changed.user.role, Role::Auditor);
        assert_eq!(changed.updated_tokens, [alice.token.id]);
        assert_eq!(
            get_user(&store, "alice").unwrap().unwrap().role,
            Role::Auditor
        );
        let caller = auth::authenticate(&store, &alice.secret).unwrap();
        assert_eq!(
            caller.role,
            Role::Auditor,
            "the old token lost its admin rights"
        );
        assert_eq!(
            auth::authenticate(&store, &bob.secret).unwrap().role,
            Role::Admin
        );
        let entries = audit_list(&store, &AuditFilter::default(), None, 50).unwrap();
        assert!(
            entries.items.iter().any(|entry| entry.action == "user.role"
                && entry.detail.as_deref() == Some("role admin -> auditor; 1 token(s) updated")),
            "{entries:?}"
        );
    }

    #[test]
    fn an_admin_cannot_change_their_own_role_and_unknown_users_are_named() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        add_user(&store, new_user("root", Role::Admin), &admin(), now).unwrap();
        let change = UserChange {
            role: Role::Auditor,
        };
        let own = set_role(&store, "root", change.clone(), &admin(), now).unwrap_err();
        assert!(matches!(own, UserError::OwnRole(_)), "{own}");
        assert_eq!(get_user(&store, "root").unwrap().unwrap().role, Role::Admin);
        let unknown = set_role(&store, "nobody", change, &admin(), now).unwrap_err();
        assert!(
            unknown.to_string().contains("'nobody' does not exist"),
            "{unknown}"
        );
    }

    #[test]
    fn a_token_written_for_a_disabled_user_is_still_refused() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        add_user(&store, new_user("carol", Role::Auditor), &admin(), now).unwrap();
        disable_user(&store, "carol", &admin(), now).unwrap();
        // A token that escaped revocation (written directly, e.g. by an older tool).
        let secret = auth::create_token(&store, "carol", Role::Auditor, None).unwrap();
        let error = auth::authenticate(&store, &secret).unwrap_err();
        assert!(error.to_string().contains("disabled user"), "{error}");
    }

    #[test]
    fn bad_names_duplicates_unknown_users_and_lifetimes_are_refused() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        for bad in ["", ".hidden", "a/b", "x y", "é", &"n".repeat(65)] {
            let error = add_user(&store, new_user(bad, Role::Admin), &admin(), now).unwrap_err();
            assert!(matches!(error, UserError::InvalidName(_)), "{bad}: {error}");
        }
        add_user(&store, new_user("ops-bot.2", Role::Admin), &admin(), now).unwrap();
        let error =
            add_user(&store, new_user("ops-bot.2", Role::Auditor), &admin(), now).unwrap_err();
        assert!(matches!(error, UserError::Exists(_)), "{error}");
        let error = create_token(&store, token_for("nobody", None), &admin(), now).unwrap_err();
        assert!(error.to_string().contains("user add"), "{error}");
        for ttl in [0, MAX_TOKEN_TTL.as_secs() + 1] {
            let error =
                create_token(&store, token_for("ops-bot.2", Some(ttl)), &admin(), now).unwrap_err();
            assert!(matches!(error, UserError::InvalidTtl), "{ttl}: {error}");
        }
        let error = revoke_token(&store, "key-none", &admin(), now).unwrap_err();
        assert!(matches!(error, UserError::NoSuchToken(_)), "{error}");
        let error = disable_user(&store, "nobody", &admin(), now).unwrap_err();
        assert!(matches!(error, UserError::NoSuchUser(_)), "{error}");
    }

    #[test]
    fn revoking_one_token_leaves_the_others() {
        let store = MemoryStore::new();
        let now = OffsetDateTime::now_utc();
        add_user(&store, new_user("dave", Role::Approver), &admin(), now).unwrap();
        let kept = create_token(&store, token_for("dave", None), &admin(), now).unwrap();
        let gone = create_token(&store, token_for("dave", None), &admin(), now).unwrap();
        let revoked = revoke_token(&store, &gone.token.id, &admin(), now).unwrap();
        assert!(revoked.revoked);
        assert!(auth::authenticate(&store, &gone.secret).is_err());
        assert!(auth::authenticate(&store, &kept.secret).is_ok());
    }
}

//! `user` and `token` subcommands: people who hold API tokens, whether or not the collector is running.
//!
//! They go the same two ways as `enroll-token` ([`Target`]): straight to the database when the
//! collector is stopped, through its admin API (`/api/v1/users`, `/api/v1/tokens`, with the data dir's
//! `admin.token`) when it is serving. Both ways end in the same [`crate::users`] functions, so both
//! audit the write: directly as [`LOCAL_ACTOR`] from `local`, remotely as the admin token's user from
//! the client IP.

use super::admin::{Target, print, table, url_segment};
use super::initialised_data_dir;
use crate::auth::TokenRecord;
use crate::cli::{TokenCommand, UserCommand};
use crate::config::Config;
use crate::itsm::{self, Actor};
use crate::store::Store;
use crate::users::{
    self, CreatedToken, DisabledUser, NewToken, NewUser, RoleChanged, UserChange, UserRecord,
    role_name,
};
use anyhow::Context;
use reqwest::Method;
use time::OffsetDateTime;

/// Who the audit log names for a write made directly on the database (whoever can read the data dir).
pub const LOCAL_ACTOR: &str = "local-admin";

fn local_actor() -> Actor {
    Actor::new(LOCAL_ACTOR, itsm::Role::Admin, "local")
}

/// Flushes after a direct write, so that a crash right after the command loses nothing it reported.
fn flushed<T>(store: &dyn Store, value: users::Result<T>) -> anyhow::Result<T> {
    let value = value?;
    store.flush().context("writing the database to disk")?;
    Ok(value)
}

impl Target {
    pub async fn add_user(&self, new: NewUser) -> anyhow::Result<UserRecord> {
        match self {
            Target::Direct(store) => flushed(
                store.as_ref(),
                users::add_user(
                    store.as_ref(),
                    new,
                    &local_actor(),
                    OffsetDateTime::now_utc(),
                ),
            ),
            Target::Remote(remote) => remote.call(Method::POST, "/api/v1/users", Some(&new)).await,
        }
    }

    pub async fn list_users(&self) -> anyhow::Result<Vec<UserRecord>> {
        match self {
            Target::Direct(store) => Ok(users::list_users(store.as_ref())?),
            Target::Remote(remote) => {
                remote
                    .call::<(), _>(Method::GET, "/api/v1/users", None)
                    .await
            }
        }
    }

    pub async fn disable_user(&self, name: &str) -> anyhow::Result<DisabledUser> {
        match self {
            Target::Direct(store) => flushed(
                store.as_ref(),
                users::disable_user(
                    store.as_ref(),
                    name,
                    &local_actor(),
                    OffsetDateTime::now_utc(),
                ),
            ),
            Target::Remote(remote) => {
                let path = format!("/api/v1/users/{}/disable", url_segment(name)?);
                remote.call::<(), _>(Method::POST, &path, None).await
            }
        }
    }

    pub async fn set_user_role(
        &self,
        name: &str,
        change: UserChange,
    ) -> anyhow::Result<RoleChanged> {
        match self {
            Target::Direct(store) => flushed(
                store.as_ref(),
                users::set_role(
                    store.as_ref(),
                    name,
                    change,
                    &local_actor(),
                    OffsetDateTime::now_utc(),
                ),
            ),
            Target::Remote(remote) => {
                let path = format!("/api/v1/users/{}", url_segment(name)?);
                remote.call(Method::PATCH, &path, Some(&change)).await
            }
        }
    }

    pub async fn create_api_token(&self, request: NewToken) -> anyhow::Result<CreatedToken> {
        match self {
            Target::Direct(store) => flushed(
                store.as_ref(),
                users::create_token(
                    store.as_ref(),
                    request,
                    &local_actor(),
                    OffsetDateTime::now_utc(),
                ),
            ),
            Target::Remote(remote) => {
                remote
                    .call(Method::POST, "/api/v1/tokens", Some(&request))
                    .await
            }
        }
    }

    pub async fn list_api_tokens(&self, user: Option<&str>) -> anyhow::Result<Vec<TokenRecord>> {
        match self {
            Target::Direct(store) => Ok(users::list_tokens(store.as_ref(), user)?),
            Target::Remote(remote) => {
                let path = match user {
                    Some(user) => format!("/api/v1/tokens?user={}", url_segment(user)?),
                    None => "/api/v1/tokens".to_string(),
                };
                remote.call::<(), _>(Method::GET, &path, None).await
            }
        }
    }

    pub async fn revoke_api_token(&self, id: &str) -> anyhow::Result<TokenRecord> {
        match self {
            Target::Direct(store) => flushed(
                store.as_ref(),
                users::revoke_token(
                    store.as_ref(),
                    id,
                    &local_actor(),
                    OffsetDateTime::now_utc(),
                ),
            ),
            Target::Remote(remote) => {
                let path = format!("/api/v1/tokens/{}", url_segment(id)?);
                remote.call::<(), _>(Method::DELETE, &path, None).await
            }
        }
    }
}

/// `census-collector user …`.
pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let target = Target::connect(&initialised_data_dir(config)?)?;
    match command {
        UserCommand::Add(args) => {
            let role = args.role.parse().context("--role")?;
            let new = NewUser {
                name: args.name,
                role,
                display_name: args.display_name,
                email: args.email,
            };
            let user = target.add_user(new).await?;
            println!(
                "User {} created with role {}; {}.",
                user.name,
                role_name(user.role),
                target.describe()
            );
            println!(
                "Give them a token with: census-collector token create --user {}",
                user.name
            );
        }
        UserCommand::List(output) => {
            let users = target.list_users().await?;
            print(&output, &users, || {
                table(
                    &["USER", "ROLE", "STATE", "CREATED", "DISPLAY NAME", "EMAIL"],
                    &user_rows(&users),
                )
            })?;
        }
        UserCommand::Disable { name } => {
            let disabled = target.disable_user(&name).await?;
            println!(
                "User {} disabled; {} token(s) revoked ({}).",
                disabled.user.name,
                disabled.revoked_tokens.len(),
                target.describe()
            );
        }
        UserCommand::SetRole { name, role } => {
            let role = role.parse().context("--role")?;
            let changed = target.set_user_role(&name, UserChange { role }).await?;
            println!(
                "User {} now has role {}; {} token(s) updated ({}).",
                changed.user.name,
                role_name(changed.user.role),
                changed.updated_tokens.len(),
                target.describe()
            );
        }
    }
    Ok(())
}

/// `census-collector token …`.
pub async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let target = Target::connect(&initialised_data_dir(config)?)?;
    match command {
        TokenCommand::Create(args) => {
            let ttl = census_shared::duration::parse(&args.ttl).context("--ttl")?;
            let created = target
                .create_api_token(NewToken {
                    user: args.user,
                    ttl_seconds: Some(ttl.as_secs()),
                    note: args.note,
                })
                .await?;
            let token = &created.token;
            println!(
                "API token {} created for {} (role {}), valid until {}; {}.",
                token.id,
                token.user,
                role_name(token.role),
                token.expires_at.as_deref().unwrap_or("forever"),
                target.describe()
            );
            println!(
                "It is shown once and stored only as a hash; send it as 'Authorization: Bearer <token>':"
            );
            println!("{}", created.secret);
        }
        TokenCommand::List(args) => {
            let tokens = target.list_api_tokens(args.user.as_deref()).await?;
            print(&args.output, &tokens, || {
                table(
                    &["ID", "USER", "ROLE", "STATE", "EXPIRES", "NOTE"],
                    &token_rows(&tokens, OffsetDateTime::now_utc()),
                )
            })?;
        }
        TokenCommand::Revoke { id } => {
            let token = target.revoke_api_token(&id).await?;
            println!(
                "API token {} of {} revoked ({}).",
                token.id,
                token.user,
                target.describe()
            );
        }
    }
    Ok(())
}

pub fn user_rows(users: &[UserRecord]) -> Vec<Vec<String>> {
    users
        .iter()
        .map(|user| {
            vec![
                user.name.clone(),
                role_name(user.role).to_string(),
                if user.disabled { "disabled" } else { "enabled" }.to_string(),
                user.created_at.clone(),
                user.display_name.clone().unwrap_or_default(),
                user.email.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

/// Rows of `token list`; a token is `revoked`, `expired` (at `now`) or `valid`.
pub fn token_rows(tokens: &[TokenRecord], now: OffsetDateTime) -> Vec<Vec<String>> {
    let now = crate::secret::rfc3339(now);
    tokens
        .iter()
        .map(|token| {
            // RFC 3339 UTC with the same precision compares as text.
            let state = if token.revoked {
                "revoked"
            } else if token.expires_at.as_ref().is_some_and(|at| *at <= now) {
                "expired"
            } else {
                "valid"
            };
            vec![
                token.id.clone(),
                token.user.clone(),
                role_name(token.role).to_string(),
                state.to_string(),
                token.expires_at.clone().unwrap_or_else(|| "never".into()),
                token.note.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn token_rows_say_whether_each_token_is_usable() {
        let now = OffsetDateTime::now_utc();
        let token = |id: &str, expires_at: Option<String>, revoked: bool| TokenRecord {
            id: id.into(),
            user: "alice".into(),
            role: Role::Auditor,
            created_at: crate::secret::rfc3339(now),
            expires_at,
            revoked,
            note: None,
        };
        let later = Some(crate::secret::rfc3339(now + time::Duration::days(1)));
        let earlier = Some(crate::secret::rfc3339(now - time::Duration::days(1)));
        let rows = token_rows(
            &[
                token("key-a", later.clone(), false),
                token("key-b", earlier, false),
                token("key-c", later, true),
                token("key-d", None, false),
            ],
            now,
        );
        let states: Vec<(&str, &str)> = rows
            .iter()
            .map(|row| (row[3].as_str(), row[4].as_str()))
            .map(|(state, expires)| (state, if expires == "never" { "never" } else { "date" }))
            .collect();
        assert_eq!(
            states,
            [
                ("valid", "date"),
                ("expired", "date"),
                ("revoked", "date"),
                ("valid", "never")
            ]
        );
        assert_eq!(rows[0][2], "auditor");
    }
}

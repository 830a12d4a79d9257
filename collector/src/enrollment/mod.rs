//! Enrollment: how a machine becomes a known agent.
//!
//! An administrator creates an enrollment token ([`tokens`]); an agent presents it once with a CSR and
//! receives a server-assigned identity and a client certificate ([`agents::enroll`]). Agents may then
//! be listed, approved (when the collector requires approval) and revoked.
//!
//! These are plain functions over `&dyn Store`; the HTTP layer only decodes, calls and encodes.
//! Read-modify-write sequences (consuming a token, changing an agent's status) run under one
//! process-wide lock: sled is single-process, so a mutex is all the atomicity they need, and enrollment
//! is rare enough that one lock costs nothing.

pub mod agents;
pub mod tokens;

use crate::pki::PkiError;
use crate::store::StoreError;
use std::sync::{Mutex, MutexGuard};

/// Enrollment token records, by id.
pub const SPACE_ENROLL_TOKENS: &str = "enroll_tokens";
/// SHA-256 of a token secret -> token id.
pub const SPACE_ENROLL_TOKEN_HASHES: &str = "enroll_token_hashes";
/// Agent records, by agent id.
pub const SPACE_AGENTS: &str = "agents";

#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    #[error("the enrollment token {0}; ask an administrator for a new one")]
    InvalidToken(&'static str),
    #[error("enrollment token '{0}' does not exist")]
    TokenNotFound(String),
    #[error("agent '{0}' does not exist")]
    AgentNotFound(String),
    #[error("agent '{0}' is revoked; it must enroll again")]
    AgentRevoked(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Certificate(#[from] PkiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored record '{key}' is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

static LOCK: Mutex<()> = Mutex::new(());

/// Serialises read-modify-write sequences on enrollment records.
pub(crate) fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
) -> Result<T, EnrollmentError> {
    serde_json::from_slice(bytes).map_err(|error| EnrollmentError::Corrupt {
        key: key.to_string(),
        message: error.to_string(),
    })
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Our own plain records always serialise.
    serde_json::to_vec(value).unwrap_or_default()
}

//! The API's one error type and its table of stable codes.
//!
//! Every refusal is `{ "code", "message" }` ([`ApiErrorBody`]) with the status the [`CODES`] table
//! gives its code, so clients act on codes and people read messages that say what to do. Internal
//! errors are logged with their detail and answered with a generic message: nothing about the store
//! or the host leaks to clients.

use crate::cmdb::CmdbError;
use crate::enrollment::EnrollmentError;
use crate::ingest::IngestError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use census_shared::protocol::{ApiErrorBody, error_code};

pub const INVALID_JSON: &str = "invalid_json";
pub const INVALID_REQUEST: &str = "invalid_request";
/// An asset query that does not parse; the message holds the position and a caret under it.
pub const INVALID_QUERY: &str = "invalid_query";
pub const LIMIT_EXCEEDED: &str = "limit_exceeded";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const UNSUPPORTED_PROTOCOL: &str = "unsupported_protocol";
pub const NOT_FOUND: &str = "not_found";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const FORBIDDEN: &str = "forbidden";
pub const CERTIFICATE_EXPIRED: &str = "certificate_expired";
/// 401: an agent certificate superseded by a renewal (the agent must use its newer one).
pub const CERTIFICATE_SUPERSEDED: &str = "certificate_superseded";
pub const HASH_MISMATCH: &str = "hash_mismatch";
pub const INVALID_CSR: &str = "invalid_csr";
pub const REQUEST_TIMEOUT: &str = "request_timeout";
pub const INTERNAL: &str = "internal";
/// The request is valid but contradicts the record's current state (a resolved conflict, an illegal transition).
pub const CONFLICT: &str = "conflict";

/// Every code and its HTTP status: the one place that decides.
pub const CODES: &[(&str, StatusCode)] = &[
    (INVALID_JSON, StatusCode::BAD_REQUEST),
    (INVALID_QUERY, StatusCode::BAD_REQUEST),
    (UNSUPPORTED_PROTOCOL, StatusCode::BAD_REQUEST),
    (error_code::UNAUTHENTICATED, StatusCode::UNAUTHORIZED),
    (CERTIFICATE_EXPIRED, StatusCode::UNAUTHORIZED),
    (CERTIFICATE_SUPERSEDED, StatusCode::UNAUTHORIZED),
    (error_code::INVALID_TOKEN, StatusCode::UNAUTHORIZED),
    (FORBIDDEN, StatusCode::FORBIDDEN),
    (error_code::AGENT_PENDING, StatusCode::FORBIDDEN),
    (error_code::AGENT_REVOKED, StatusCode::FORBIDDEN),
    (NOT_FOUND, StatusCode::NOT_FOUND),
    (METHOD_NOT_ALLOWED, StatusCode::METHOD_NOT_ALLOWED),
    (REQUEST_TIMEOUT, StatusCode::REQUEST_TIMEOUT),
    (error_code::BASE_MISMATCH, StatusCode::CONFLICT),
    (HASH_MISMATCH, StatusCode::CONFLICT),
    (CONFLICT, StatusCode::CONFLICT),
    (PAYLOAD_TOO_LARGE, StatusCode::PAYLOAD_TOO_LARGE),
    (UNSUPPORTED_MEDIA_TYPE, StatusCode::UNSUPPORTED_MEDIA_TYPE),
    (INVALID_REQUEST, StatusCode::UNPROCESSABLE_ENTITY),
    (LIMIT_EXCEEDED, StatusCode::UNPROCESSABLE_ENTITY),
    (INVALID_CSR, StatusCode::UNPROCESSABLE_ENTITY),
    (error_code::RATE_LIMITED, StatusCode::TOO_MANY_REQUESTS),
    (INTERNAL, StatusCode::INTERNAL_SERVER_ERROR),
    (error_code::UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE),
];

/// Seconds a client should wait after a 429 or 503.
const RETRY_AFTER_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `code`'s status from [`CODES`].
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let status = CODES
            .iter()
            .find(|(known, _)| *known == code)
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, |(_, status)| *status);
        let retry_after = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        .then_some(RETRY_AFTER_SECONDS);
        Self {
            status,
            code,
            message: message.into(),
            retry_after,
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(error_code::UNAUTHENTICATED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(NOT_FOUND, message)
    }

    /// Logs `error` and answers a 500 that says nothing about it.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error while answering a request");
        Self::new(
            INTERNAL,
            "the collector failed to handle this request; the details are in its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            code: self.code.to_string(),
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::DiskFull => Self::new(
                error_code::UNAVAILABLE,
                "the collector's disk is full; keep the data and retry later",
            ),
            other => Self::internal(other),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::BaseMismatch { .. } => {
                Self::new(error_code::BASE_MISMATCH, error.to_string())
            }
            IngestError::HashMismatch { .. } => Self::new(HASH_MISMATCH, error.to_string()),
            // The report handler answers this one itself (200, `need_packages`); elsewhere a conflict.
            IngestError::UnknownPackages { .. } => Self::new(CONFLICT, error.to_string()),
            IngestError::Invalid(_) => Self::new(INVALID_REQUEST, error.to_string()),
            IngestError::Store(store) => Self::from(store),
            IngestError::Cmdb(cmdb) => Self::from(cmdb),
        }
    }
}

impl From<CmdbError> for ApiError {
    fn from(error: CmdbError) -> Self {
        match error {
            CmdbError::Store(store) => Self::from(store),
            CmdbError::UnknownCi(_) | CmdbError::UnknownConflict(_) => {
                Self::not_found(error.to_string())
            }
            CmdbError::ConflictResolved(_) | CmdbError::NotACandidate { .. } => {
                Self::new(CONFLICT, error.to_string())
            }
            CmdbError::Timestamp(_) | CmdbError::NoInventory(_) => {
                Self::new(INVALID_REQUEST, error.to_string())
            }
            CmdbError::Codec(_) | CmdbError::Corrupt { .. } | CmdbError::TimeTravel { .. } => {
                Self::internal(error)
            }
        }
    }
}

impl From<EnrollmentError> for ApiError {
    fn from(error: EnrollmentError) -> Self {
        match error {
            EnrollmentError::InvalidToken(_) => {
                Self::new(error_code::INVALID_TOKEN, error.to_string())
            }
            EnrollmentError::TokenNotFound(_) | EnrollmentError::AgentNotFound(_) => {
                Self::not_found(error.to_string())
            }
            EnrollmentError::AgentRevoked(_) => {
                Self::new(error_code::AGENT_REVOKED, error.to_string())
            }
            EnrollmentError::Invalid(_) => Self::new(INVALID_REQUEST, error.to_string()),
            EnrollmentError::Certificate(pki) => match pki {
                crate::pki::PkiError::CsrParse(_)
                | crate::pki::PkiError::CsrSignature
                | crate::pki::PkiError::UnsupportedKey(_) => {
                    Self::new(INVALID_CSR, pki.to_string())
                }
                other => Self::internal(other),
            },
            EnrollmentError::Store(store) => Self::from(store),
            EnrollmentError::Corrupt { .. } => Self::internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_status_and_unknown_codes_are_internal() {
        for (index, (code, _)) in CODES.iter().enumerate() {
            assert!(
                CODES[index + 1..].iter().all(|(other, _)| other != code),
                "{code} listed twice"
            );
        }
        assert_eq!(
            ApiError::new(error_code::AGENT_REVOKED, "x").status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ApiError::new("no_such_code", "x").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_full_disk_is_a_503_with_retry_after_and_internal_errors_leak_nothing() {
        let error = ApiError::from(StoreError::DiskFull);
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.retry_after, Some(RETRY_AFTER_SECONDS));
        let error = ApiError::from(StoreError::Write {
            message: "sled: /var/lib/census/db/blobs corrupt".into(),
        });
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.message.contains("/var/lib"));
    }
}

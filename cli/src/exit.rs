//! The exit codes of `census`, a public contract that users' scripts test (documented in `docs/cli.md`
//! and in `census --help`).
//!
//! [`Exit::of`] finds the code for an error by walking its chain for the typed errors of this crate
//! ([`ApiError`], [`ConfigError`], [`ResolveError`]); anything else is [`Exit::Other`]. Usage errors
//! (2) are clap's own and never reach this mapping.

use crate::client::ApiError;
use crate::config::ConfigError;
use crate::resolve::ResolveError;

/// Why `census` stopped. The numbers never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Anything not listed below (a local file that cannot be written, a malformed answer ...).
    Other = 1,
    /// Bad command line (clap's usage errors).
    Usage = 2,
    /// Not logged in, token refused (401) or role not allowed (403).
    Auth = 3,
    /// The asset or record does not exist (404, or no asset has that hostname).
    NotFound = 4,
    /// The collector could not be reached, or its certificate was not trusted.
    Unreachable = 5,
    /// The collector refused the request as it stands: an illegal move or duplicate (409), invalid
    /// values (400, 422), or a hostname that names several assets.
    Conflict = 6,
}

/// The table printed in `census --help` and `docs/cli.md`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  any other error
  2  usage error (unknown flag, missing argument)
  3  not logged in, token refused (401) or role not allowed (403)
  4  not found (404, or no asset with that hostname)
  5  collector unreachable or its TLS certificate not trusted
  6  conflict or invalid request (409, 422, 400; a hostname naming several assets)";

impl Exit {
    /// The code for an HTTP error status from the collector.
    pub fn from_status(status: u16) -> Exit {
        match status {
            401 | 403 => Exit::Auth,
            404 => Exit::NotFound,
            400 | 409 | 422 => Exit::Conflict,
            _ => Exit::Other,
        }
    }

    /// The code for an error that ends the program: the first typed error found in its chain.
    pub fn of(error: &anyhow::Error) -> Exit {
        for cause in error.chain() {
            if let Some(api) = cause.downcast_ref::<ApiError>() {
                return match api {
                    ApiError::Unreachable { .. } => Exit::Unreachable,
                    ApiError::Status { status, .. } => Exit::from_status(*status),
                    ApiError::Client(_) | ApiError::Answer { .. } => Exit::Other,
                };
            }
            if let Some(config) = cause.downcast_ref::<ConfigError>() {
                return match config {
                    ConfigError::NotLoggedIn { .. } => Exit::Auth,
                    _ => Exit::Other,
                };
            }
            if let Some(resolve) = cause.downcast_ref::<ResolveError>() {
                return match resolve {
                    ResolveError::NoMatch { .. } => Exit::NotFound,
                    ResolveError::Ambiguous { .. } => Exit::Conflict,
                };
            }
        }
        Exit::Other
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn status_error(status: u16) -> anyhow::Error {
        anyhow::Error::new(ApiError::Status {
            status,
            code: Some("x".into()),
            message: "refused".into(),
            hint: "",
        })
    }

    #[test]
    fn statuses_map_to_the_documented_codes() {
        let cases = [
            (401, Exit::Auth),
            (403, Exit::Auth),
            (404, Exit::NotFound),
            (400, Exit::Conflict),
            (409, Exit::Conflict),
            (422, Exit::Conflict),
            (500, Exit::Other),
            (503, Exit::Other),
        ];
        for (status, expected) in cases {
            assert_eq!(Exit::of(&status_error(status)), expected, "{status}");
        }
    }

    #[test]
    fn typed_errors_are_found_under_added_context() {
        let unreachable = Err::<(), _>(ApiError::Unreachable {
            url: "https://c:8443".into(),
            cause: "connection refused".into(),
        })
        .context("listing assets")
        .unwrap_err();
        assert_eq!(Exit::of(&unreachable), Exit::Unreachable);
        assert_eq!(Exit::of(&unreachable).code(), 5);

        let not_logged_in = anyhow::Error::new(ConfigError::NotLoggedIn { missing: "token" })
            .context("reading the session");
        assert_eq!(Exit::of(&not_logged_in), Exit::Auth);

        let ambiguous = anyhow::Error::new(ResolveError::Ambiguous {
            name: "web".into(),
            matches: vec!["ci-000001 web".into(), "ci-000002 web".into()],
        });
        assert_eq!(Exit::of(&ambiguous), Exit::Conflict);
        let none = anyhow::Error::new(ResolveError::NoMatch { name: "x".into() });
        assert_eq!(Exit::of(&none), Exit::NotFound);
    }

    #[test]
    fn anything_else_is_1_and_the_help_lists_every_code() {
        let io = anyhow::Error::new(std::io::Error::other("disk full")).context("writing out");
        assert_eq!(Exit::of(&io), Exit::Other);
        for code in [
            Exit::Ok,
            Exit::Other,
            Exit::Usage,
            Exit::Auth,
            Exit::NotFound,
            Exit::Unreachable,
            Exit::Conflict,
        ] {
            let line = format!("  {}  ", code.code());
            assert!(
                EXIT_CODES_HELP.contains(&line),
                "{code:?} is not documented"
            );
        }
    }
}

//! Installed packages, from every package manager whose database is present under the root.
//!
//! # Layout
//! One file per manager, each a pure parser of the database's text plus a short reader:
//! - [`dpkg`] reads `/var/lib/dpkg/status` (and the `updates/` journal dpkg has not merged yet);
//! - [`rpm`] queries the rpm database with `rpm --root DIR -qa --queryformat ...` (that module says why);
//! - [`apk`] reads `/lib/apk/db/installed`;
//! - [`pacman`] reads `/var/lib/pacman/local/<name>-<version>/desc`.
//!
//! A machine may hold several databases (an rpm database on a Debian box that installed `rpm`, say): each
//! one present is read. A manager whose database is absent contributes nothing and is not an error; a
//! database that exists but cannot be read or parsed is one collection error for the section
//! `software.packages.<manager>`, and the other managers' packages still stand.
//!
//! # Limitations
//! - Snap, Flatpak, language package managers (pip, npm ...) and software installed by hand are not
//!   inventoried here.
//! - dpkg does not record when a package was installed, so dpkg packages have no `installed_at`.

pub mod apk;
pub mod dpkg;
pub mod pacman;
pub mod rpm;

use super::{Errors, ReadError, Root};
use census_shared::inventory::Package;

/// Why one package database could not be inventoried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "{path} line {line}: {message}; the package database looks damaged, check it with the package manager"
    )]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "rpm database found at {db} but the rpm command is not installed; install rpm to inventory it"
    )]
    RpmMissing { db: String },
    #[error("`{command}` failed: {detail}; run it by hand to see why")]
    RpmFailed { command: String, detail: String },
}

/// A database text that does not parse: where, and what is wrong. Turned into [`Error::Parse`] once the
/// reader knows which file it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number in the parsed text.
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }

    pub fn in_file(self, path: &str) -> Error {
        Error::Parse {
            path: path.to_string(),
            line: self.line,
            message: self.message,
        }
    }
}

/// One manager's reader: its packages, or `None` when its database is absent.
type Reader = fn(&Root) -> Result<Option<Vec<Package>>, Error>;

/// Reads every package database present under `root`.
pub fn collect(root: &Root, errors: &mut Errors) -> Vec<Package> {
    let mut packages = Vec::new();
    let managers: [(&str, Reader); 4] = [
        ("dpkg", dpkg::collect),
        ("rpm", rpm::collect),
        ("apk", apk::collect),
        ("pacman", pacman::collect),
    ];
    for (manager, read) in managers {
        match read(root) {
            Ok(Some(found)) => {
                tracing::debug!(manager, n_packages = found.len(), "read package database");
                packages.extend(found);
            }
            Ok(None) => {}
            Err(error) => errors.record(&format!("software.packages.{manager}"), error),
        }
    }
    packages
}

/// A database value as the inventory keeps it: trimmed, and `None` when blank.
fn value(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Unix seconds as RFC 3339 UTC; `None` for values no calendar holds.
fn unix_to_rfc3339(seconds: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Reads `path` under `root`; `Ok(None)` when it does not exist (the manager is not on this machine).
fn read_if_present(root: &Root, path: &str) -> Result<Option<String>, Error> {
    match root.read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_root(name: &str) -> Root {
        Root::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/").to_string() + name)
    }

    #[test]
    fn an_empty_root_has_no_packages_and_no_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut errors = Errors::default();
        let packages = collect(&Root::new(dir.path()), &mut errors);
        assert!(packages.is_empty());
        assert!(errors.is_empty(), "{:?}", errors.iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_damaged_database_is_one_error_for_its_manager_and_the_others_still_count() {
        let dir = tempfile::tempdir().unwrap();
        let dpkg = dir.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&dpkg).unwrap();
        std::fs::write(
            dpkg.join("status"),
            "Package: bash\nthis line has no colon\n",
        )
        .unwrap();
        let apk = dir.path().join("lib/apk/db");
        std::fs::create_dir_all(&apk).unwrap();
        std::fs::write(apk.join("installed"), "P:musl\nV:1.2.5-r0\nA:x86_64\n\n").unwrap();

        let mut errors = Errors::default();
        let packages = collect(&Root::new(dir.path()), &mut errors);
        let errors: Vec<_> = errors.iter().collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].section, "software.packages.dpkg");
        assert!(
            errors[0].error.contains("/var/lib/dpkg/status line 2"),
            "{}",
            errors[0].error
        );
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].manager, "apk");
    }

    #[test]
    fn fixture_trees_list_their_own_managers_packages() {
        for (tree, manager) in [
            ("debian", "dpkg"),
            ("ubuntu", "dpkg"),
            ("alpine", "apk"),
            ("arch", "pacman"),
        ] {
            let mut errors = Errors::default();
            let packages = collect(&fixture_root(tree), &mut errors);
            assert!(
                errors.is_empty(),
                "{tree}: {:?}",
                errors.iter().collect::<Vec<_>>()
            );
            assert!(!packages.is_empty(), "{tree} has no packages");
            assert!(
                packages.iter().all(|p| p.manager == manager),
                "{tree}: {packages:?}"
            );
        }
    }

    #[test]
    fn unix_times_become_rfc3339_utc() {
        assert_eq!(
            unix_to_rfc3339(1_717_171_717).as_deref(),
            Some("2024-05-31T16:08:37Z")
        );
        assert_eq!(unix_to_rfc3339(i64::MAX), None);
    }
}

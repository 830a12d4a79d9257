//! The collector's data directory: what lives where, and with which permissions.
//!
//! ```text
//! DIR/            0700  created by `init`
//!   ca.pem        0644  the collector CA certificate, given to agents (`--ca`)
//!   ca.key        0600  the CA private key: signs server and agent certificates
//!   server.pem    0644  the HTTPS server certificate (names given to `init --hostname`)
//!   server.key    0600
//!   admin.token   0600  the first admin API token, created by `init`
//!   collector.url 0644  written by `serve`: where the running collector answers (for admin commands)
//!   db/                 the database, when its engine is sled (the default; one process at a time)
//!   census.redb   0600  the database, when its engine is redb (`init --engine redb`)
//! ```

use crate::store::engine::Engine;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "{path} already holds a collector ({what} exists); refusing to overwrite it. Use another --data-dir, or remove it deliberately"
    )]
    AlreadyInitialised { path: String, what: &'static str },
    #[error(
        "{path} is not initialised ({missing} is missing): run `census-collector init --data-dir {path}` first"
    )]
    NotInitialised { path: String, missing: String },
    #[error(
        "{path} holds two databases ({first} and {second}); keep the one this collector uses and move the other away"
    )]
    TwoDatabases {
        path: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("{operation} {path} failed: {source}")]
    Io {
        operation: &'static str,
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.root.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.root.join("server.key")
    }
    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }
    pub fn endpoint(&self) -> PathBuf {
        self.root.join("collector.url")
    }
    /// Where `engine` keeps the database in this directory.
    pub fn database(&self, engine: Engine) -> PathBuf {
        engine.database(&self.root)
    }

    /// The engine of the database this directory holds; sled, the default, when it holds none yet.
    pub fn engine(&self) -> Result<Engine, DataDirError> {
        match Engine::present(&self.root)[..] {
            [] => Ok(Engine::default()),
            [engine] => Ok(engine),
            [first, second, ..] => Err(DataDirError::TwoDatabases {
                path: self.display(),
                first: first.file_name(),
                second: second.file_name(),
            }),
        }
    }

    /// Creates the directory (0700) for a new collector; refuses when a CA or database is already there.
    pub fn create(&self) -> Result<(), DataDirError> {
        let files = [(self.ca_cert(), "ca.pem"), (self.ca_key(), "ca.key")];
        let databases = Engine::ALL.map(|engine| (self.database(engine), engine.file_name()));
        for (path, what) in files.into_iter().chain(databases) {
            if path.exists() {
                return Err(DataDirError::AlreadyInitialised {
                    path: self.display(),
                    what,
                });
            }
        }
        fs::create_dir_all(&self.root).map_err(|source| self.io("creating", &self.root, source))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(|source| self.io("restricting permissions of", &self.root, source))?;
        Ok(())
    }

    /// Checks that `init` ran here.
    pub fn ensure_initialised(&self) -> Result<(), DataDirError> {
        for path in [
            self.ca_cert(),
            self.ca_key(),
            self.server_cert(),
            self.server_key(),
        ] {
            if !path.is_file() {
                return Err(DataDirError::NotInitialised {
                    path: self.display(),
                    missing: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    /// Writes a new secret file readable by the owner only; never replaces an existing one.
    pub fn write_secret(&self, path: &Path, contents: &[u8]) -> Result<(), DataDirError> {
        self.write_new(path, contents, 0o600)
    }

    /// Writes a new file others may read (certificates); never replaces an existing one.
    pub fn write_public(&self, path: &Path, contents: &[u8]) -> Result<(), DataDirError> {
        self.write_new(path, contents, 0o644)
    }

    /// Replaces a small public file atomically (write a temporary file, then rename).
    pub fn replace_public(&self, path: &Path, contents: &[u8]) -> Result<(), DataDirError> {
        let temporary = path.with_extension("tmp");
        let _ = fs::remove_file(&temporary);
        self.write_new(&temporary, contents, 0o644)?;
        fs::rename(&temporary, path).map_err(|source| self.io("renaming into", path, source))
    }

    pub fn read(&self, path: &Path) -> Result<String, DataDirError> {
        fs::read_to_string(path).map_err(|source| self.io("reading", path, source))
    }

    fn write_new(&self, path: &Path, contents: &[u8], mode: u32) -> Result<(), DataDirError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|source| self.io("creating", path, source))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|source| self.io("writing", path, source))
    }

    fn display(&self) -> String {
        self.root.display().to_string()
    }

    fn io(&self, operation: &'static str, path: &Path, source: std::io::Error) -> DataDirError {
        DataDirError::Io {
            operation,
            path: path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_a_private_directory_and_refuses_to_overwrite_a_collector() {
        let parent = tempfile::tempdir().unwrap();
        let dir = DataDir::new(parent.path().join("data"));
        dir.create().unwrap();
        let mode = fs::metadata(dir.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        dir.write_secret(&dir.ca_key(), b"secret").unwrap();
        assert_eq!(
            fs::metadata(dir.ca_key()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let error = dir.create().unwrap_err();
        assert!(
            error.to_string().contains("refusing to overwrite"),
            "{error}"
        );
    }

    #[test]
    fn the_engine_is_recognised_from_the_database_the_directory_holds() {
        let parent = tempfile::tempdir().unwrap();
        let dir = DataDir::new(parent.path());
        assert_eq!(dir.engine().unwrap(), Engine::Sled, "none yet: the default");
        fs::write(dir.database(Engine::Redb), b"").unwrap();
        assert_eq!(dir.engine().unwrap(), Engine::Redb);
        let error = dir.create().unwrap_err();
        assert!(error.to_string().contains("census.redb exists"), "{error}");
        fs::create_dir(dir.database(Engine::Sled)).unwrap();
        let error = dir.engine().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("two databases (db and census.redb)"),
            "{error}"
        );
    }

    #[test]
    fn secrets_are_never_replaced() {
        let parent = tempfile::tempdir().unwrap();
        let dir = DataDir::new(parent.path());
        dir.write_secret(&dir.admin_token(), b"first").unwrap();
        assert!(dir.write_secret(&dir.admin_token(), b"second").is_err());
        assert_eq!(dir.read(&dir.admin_token()).unwrap(), "first");
    }

    #[test]
    fn an_uninitialised_directory_says_how_to_initialise_it() {
        let parent = tempfile::tempdir().unwrap();
        let error = DataDir::new(parent.path())
            .ensure_initialised()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("census-collector init --data-dir"),
            "{error}"
        );
    }
}

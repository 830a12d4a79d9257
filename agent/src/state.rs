//! The agent's state directory (`/var/lib/census-agent`): identity, report sequence, the last inventory
//! the collector acknowledged, and what `status` shows.
//!
//! # Layout
//! ```text
//! <state-dir>/            0700
//!   agent.key             0600  the private key (generated here; never leaves the machine)
//!   agent.crt             0600  the client certificate the collector issued
//!   ca.pem                      the CA given to `enroll --ca`
//!   collector-ca.pem            the CA the collector returned at enrollment
//!   enrollment.json             agent id, collector URL, enrollment time
//!   sequence.json               { epoch, seq } of the last report
//!   acked.json.gz               the last inventory the collector acknowledged, and its hash
//!   last-report.json            when the last report ran and how it ended
//!   next-report.json            when `run` reports next
//!   lock                        held while a report is being made
//!   spool/                      undelivered reports (see `spool`)
//! ```
//! Every file is written atomically ([`write_atomic`]): a crash leaves the old or the new version,
//! never a mixture.

use census_shared::inventory::Inventory;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "agent.key";
pub const CERT_FILE: &str = "agent.crt";
pub const CA_FILE: &str = "ca.pem";
pub const COLLECTOR_CA_FILE: &str = "collector-ca.pem";
const ENROLLMENT_FILE: &str = "enrollment.json";
const SEQUENCE_FILE: &str = "sequence.json";
const ACKED_FILE: &str = "acked.json.gz";
const LAST_REPORT_FILE: &str = "last-report.json";
const NEXT_REPORT_FILE: &str = "next-report.json";
const LOCK_FILE: &str = "lock";
/// Files being written carry this prefix until renamed; readers skip them.
pub const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{op} {path}: {error}")]
    Io {
        op: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is damaged ({message}); delete it and the agent rebuilds it")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "not enrolled: no identity in {dir}; run `census-agent enroll --collector URL --ca FILE --token TOKEN` \
         (with --state-dir {dir} if that is not the default)"
    )]
    NotEnrolled { dir: PathBuf },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_path_buf(),
        error: source,
    }
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same directory is written,
/// synced, renamed over `path`, and the directory is synced so the rename survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{name}.{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(io("creating", &temp))?;
        file.write_all(bytes).map_err(io("writing", &temp))?;
        file.sync_all().map_err(io("syncing", &temp))?;
        fs::rename(&temp, path).map_err(io("renaming into place", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Makes renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io("syncing directory", dir))
}

/// gzip-compressed JSON: the on-disk form of inventories (a 1 MiB document shrinks ~10×).
pub fn to_gzip_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing our own serialisable types into memory cannot fail.
    let _ = serde_json::to_writer(&mut encoder, value);
    encoder.finish().unwrap_or_default()
}

pub fn from_gzip_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut json = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(|error| format!("not gzip: {error}"))?;
    serde_json::from_slice(&json).map_err(|error| format!("not the expected JSON: {error}"))
}

/// Who this agent is, recorded at enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub agent_id: String,
    pub collector_url: String,
    /// RFC 3339.
    pub enrolled_at: String,
}

/// Sequence position: `epoch` is fixed when the file is first created, `seq` counts reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub epoch: u64,
    pub seq: u64,
}

/// The last inventory the collector acknowledged: the base for the next delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acked {
    pub hash: String,
    pub inventory: Inventory,
}

/// How the last report ended, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastReport {
    /// RFC 3339.
    pub at: String,
    /// `delivered`, `unchanged`, `spooled` or `failed`.
    pub outcome: String,
    pub detail: Option<String>,
}

/// When `run` reports next (or retries the spool), for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextReport {
    /// RFC 3339.
    pub at: String,
    /// `collect` or `retry`.
    pub kind: String,
}

/// A handle on the state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates the directory (0700: it holds the private key) or tightens an existing one.
    pub fn create(&self) -> Result<(), StateError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io("creating state directory", &self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(io("setting permissions of", &self.dir))
    }

    fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StateError> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|error| StateError::Corrupt {
                        path,
                        message: error.to_string(),
                    })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                op: "reading",
                path,
                error: source,
            }),
        }
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
        write_atomic(&self.path(name), &bytes, 0o600)
    }

    pub fn enrollment(&self) -> Result<Option<Enrollment>, StateError> {
        self.read_json(ENROLLMENT_FILE)
    }

    /// The enrollment, or the error that tells the user to enroll.
    pub fn require_enrollment(&self) -> Result<Enrollment, StateError> {
        self.enrollment()?.ok_or_else(|| StateError::NotEnrolled {
            dir: self.dir.clone(),
        })
    }

    pub fn save_enrollment(&self, enrollment: &Enrollment) -> Result<(), StateError> {
        self.write_json(ENROLLMENT_FILE, enrollment)
    }

    /// Reads a PEM file of the identity (`agent.key`, `agent.crt`, `ca.pem` ...).
    pub fn read_pem(&self, name: &str) -> Result<String, StateError> {
        let path = self.path(name);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(StateError::NotEnrolled {
                    dir: self.dir.clone(),
                })
            }
            Err(source) => Err(StateError::Io {
                op: "reading",
                path,
                error: source,
            }),
        }
    }

    /// Installs a key and its certificate. The key is renamed into place first and the certificate
    /// second; [`StateDir::recover_identity`] finishes an install a crash interrupted.
    pub fn install_identity(&self, key_pem: &str, cert_pem: &str) -> Result<(), StateError> {
        let key_new = self.path(&format!("{KEY_FILE}.new"));
        let cert_new = self.path(&format!("{CERT_FILE}.new"));
        write_atomic(&key_new, key_pem.as_bytes(), 0o600)?;
        write_atomic(&cert_new, cert_pem.as_bytes(), 0o600)?;
        self.recover_identity()
    }

    /// Completes or discards an interrupted [`StateDir::install_identity`]: with both `.new` files
    /// present, both are installed; with only the certificate left, the key was already renamed and the
    /// certificate follows. A lone `.new` key (the certificate never written) is discarded: the old pair
    /// is still whole.
    pub fn recover_identity(&self) -> Result<(), StateError> {
        let key_new = self.path(&format!("{KEY_FILE}.new"));
        let cert_new = self.path(&format!("{CERT_FILE}.new"));
        let key = self.path(KEY_FILE);
        let cert = self.path(CERT_FILE);
        match (key_new.exists(), cert_new.exists()) {
            (true, true) => {
                fs::rename(&key_new, &key).map_err(io("renaming into place", &key))?;
                fs::rename(&cert_new, &cert).map_err(io("renaming into place", &cert))?;
            }
            (false, true) => {
                fs::rename(&cert_new, &cert).map_err(io("renaming into place", &cert))?;
            }
            (true, false) => {
                fs::remove_file(&key_new).map_err(io("removing", &key_new))?;
            }
            (false, false) => return Ok(()),
        }
        sync_dir(&self.dir)
    }

    pub fn write_file(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), StateError> {
        write_atomic(&self.path(name), bytes, mode)
    }

    /// The coordinates of the next report. The new sequence number is written (atomically) before it
    /// is returned, so a crash can skip a number but never reuse one.
    pub fn next_sequence(&self, now_unix: u64) -> Result<Sequence, StateError> {
        let current = self.sequence()?.unwrap_or(Sequence {
            epoch: now_unix,
            seq: 0,
        });
        let next = Sequence {
            epoch: current.epoch,
            seq: current.seq + 1,
        };
        self.write_json(SEQUENCE_FILE, &next)?;
        Ok(next)
    }

    pub fn sequence(&self) -> Result<Option<Sequence>, StateError> {
        self.read_json(SEQUENCE_FILE)
    }

    /// The last acknowledged inventory. A damaged file is not fatal: without a base the agent sends a
    /// full report, so it is logged and treated as absent.
    pub fn acked(&self) -> Option<Acked> {
        let path = self.path(ACKED_FILE);
        let bytes = fs::read(&path).ok()?;
        match from_gzip_json(&bytes) {
            Ok(acked) => Some(acked),
            Err(message) => {
                tracing::warn!(path = %path.display(), %message, "ignoring the damaged acknowledged inventory; the next report is full");
                None
            }
        }
    }

    pub fn save_acked(&self, acked: &Acked) -> Result<(), StateError> {
        write_atomic(&self.path(ACKED_FILE), &to_gzip_json(acked), 0o600)
    }

    /// Forgets the delta base (the collector holds something this agent does not know).
    pub fn clear_acked(&self) -> Result<(), StateError> {
        let path = self.path(ACKED_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                op: "removing",
                path,
                error: source,
            }),
        }
    }

    pub fn last_report(&self) -> Result<Option<LastReport>, StateError> {
        self.read_json(LAST_REPORT_FILE)
    }

    pub fn save_last_report(&self, last: &LastReport) -> Result<(), StateError> {
        self.write_json(LAST_REPORT_FILE, last)
    }

    pub fn next_report(&self) -> Result<Option<NextReport>, StateError> {
        self.read_json(NEXT_REPORT_FILE)
    }

    pub fn save_next_report(&self, next: &NextReport) -> Result<(), StateError> {
        self.write_json(NEXT_REPORT_FILE, next)
    }

    /// Takes the state lock (blocking): `run` and `once` may share a state directory, and reports must
    /// not interleave (sequence numbers, spool order). The lock is released when the guard drops.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        let path = self.path(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("opening", &path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|errno| {
            StateError::Io {
                op: "locking",
                path: path.clone(),
                error: errno.into(),
            }
        })?;
        Ok(StateLock { _file: file })
    }
}

/// Holds the state lock until dropped (closing the file releases the `flock`).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_grow_within_a_fixed_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let first = state.next_sequence(1_000).unwrap();
        let second = state.next_sequence(2_000).unwrap();
        assert_eq!(
            first,
            Sequence {
                epoch: 1_000,
                seq: 1
            }
        );
        assert_eq!(
            second,
            Sequence {
                epoch: 1_000,
                seq: 2
            }
        );
        assert_eq!(state.sequence().unwrap(), Some(second));
    }

    #[test]
    fn a_damaged_sequence_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        fs::write(state.path(SEQUENCE_FILE), "{").unwrap();
        let error = state.next_sequence(1).unwrap_err();
        assert!(matches!(error, StateError::Corrupt { .. }), "{error:?}");
        assert!(error.to_string().contains("sequence.json"));
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files_and_set_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn the_state_directory_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        state.create().unwrap();
        let mode = fs::metadata(state.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn acked_inventories_round_trip_and_damage_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.acked(), None);
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some("web-01".into());
        let acked = Acked {
            hash: "ab".repeat(32),
            inventory,
        };
        state.save_acked(&acked).unwrap();
        assert_eq!(state.acked(), Some(acked));
        fs::write(state.path(ACKED_FILE), b"not gzip").unwrap();
        assert_eq!(state.acked(), None);
    }

    #[test]
    fn an_interrupted_identity_install_is_completed_or_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.install_identity("key-1", "cert-1").unwrap();
        // Crash after the key was renamed, before the certificate: the certificate follows.
        fs::write(state.path(KEY_FILE), "key-2").unwrap();
        fs::write(state.path("agent.crt.new"), "cert-2").unwrap();
        state.recover_identity().unwrap();
        assert_eq!(state.read_pem(CERT_FILE).unwrap(), "cert-2");
        // Crash before the certificate was written: the lone new key is discarded.
        fs::write(state.path("agent.key.new"), "key-3").unwrap();
        state.recover_identity().unwrap();
        assert_eq!(state.read_pem(KEY_FILE).unwrap(), "key-2");
        assert!(!state.path("agent.key.new").exists());
    }

    #[test]
    fn a_missing_identity_says_how_to_enroll() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let error = state.require_enrollment().unwrap_err();
        assert!(error.to_string().contains("census-agent enroll"), "{error}");
    }
}

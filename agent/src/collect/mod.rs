//! Inventory collection: one module per section, each a pure parser plus a thin reader.
//!
//! Every reader takes a [`Root`]: `/` on a live machine, or any directory holding a machine's files (a
//! fixture tree in tests, a mounted disk image, a container's filesystem). Whatever the root lacks or
//! refuses becomes a [`CollectionError`] for that section; a failing section never fails the inventory.
//!
//! Facts that exist only on a running system (interface addresses, mount usage, systemd's unit states,
//! the kernel's own uname when `/proc/sys` is absent) are read from the live system only when the root is
//! `/`; for any other root they are left out (null) rather than mixed in from the machine running the agent.

pub mod filesystem;
pub mod hardware;
pub mod host;
pub mod net;
pub mod os;
pub mod packages;
pub mod ports;
pub mod services;
pub mod users;
pub mod virt;

use census_shared::inventory::{CollectionError, Inventory, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The directory the machine's files are read from.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The running machine's own root, `/`.
    pub fn live() -> Self {
        Self::new("/")
    }

    /// True when reading the running machine itself, so live-only facts may be gathered.
    pub fn is_live(&self) -> bool {
        self.dir == Path::new("/")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `path` (absolute, as on the machine: `/etc/os-release`) under this root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path.trim_start_matches('/'))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    pub fn read_to_string(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(self.path(path)).map_err(|source| ReadError::new(path, source))
    }

    pub fn read_bytes(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        std::fs::read(self.path(path)).map_err(|source| ReadError::new(path, source))
    }

    /// A small attribute file (sysfs, `/etc/hostname`), trimmed; `None` when absent, unreadable or blank.
    pub fn read_value(&self, path: &str) -> Option<String> {
        let bytes = std::fs::read(self.path(path)).ok()?;
        census_shared::inventory::clean(&String::from_utf8_lossy(&bytes))
    }

    /// Entry names of a directory, sorted; an error when it cannot be listed.
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        let entries =
            std::fs::read_dir(self.path(path)).map_err(|source| ReadError::new(path, source))?;
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Where the symbolic link at `path` points (its last component is often what sysfs means: a driver).
    pub fn read_link(&self, path: &str) -> Option<PathBuf> {
        std::fs::read_link(self.path(path)).ok()
    }
}

/// A file or directory that could not be read, with a message that says what to do about it.
#[derive(Debug, thiserror::Error)]
pub struct ReadError {
    pub path: String,
    pub source: io::Error,
}

impl ReadError {
    pub fn new(path: impl Into<String>, source: io::Error) -> Self {
        Self {
            path: path.into(),
            source,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.source.kind() == io::ErrorKind::NotFound
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source.kind() {
            io::ErrorKind::PermissionDenied => {
                write!(
                    f,
                    "reading {} needs root (permission denied); run the agent as root",
                    self.path
                )
            }
            io::ErrorKind::NotFound => write!(f, "{} does not exist", self.path),
            _ => write!(f, "reading {} failed: {}", self.path, self.source),
        }
    }
}

/// Collection errors gathered while building one inventory.
#[derive(Debug, Default)]
pub struct Errors {
    errors: Vec<CollectionError>,
}

impl Errors {
    /// Records that `section` (its JSON path without the leading dot) could not be fully read.
    pub fn record(&mut self, section: &str, error: impl fmt::Display) {
        self.errors.push(CollectionError {
            section: section.to_string(),
            error: error.to_string(),
        });
    }

    pub fn into_vec(self) -> Vec<CollectionError> {
        self.errors
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &CollectionError> {
        self.errors.iter()
    }
}

/// Inventory sections that can be switched off in the agent's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Hardware,
    Filesystems,
    Network,
    Packages,
    Users,
    Services,
    ListeningPorts,
}

impl Section {
    pub const ALL: [Section; 7] = [
        Section::Hardware,
        Section::Filesystems,
        Section::Network,
        Section::Packages,
        Section::Users,
        Section::Services,
        Section::ListeningPorts,
    ];
}

/// Collects the inventory of the machine at `root`, with the given sections (host and OS identity are
/// always collected: the collector needs them to know which machine this is).
pub fn inventory(
    root: &Root,
    sections: &[Section],
    agent_version: &str,
    collected_at: String,
) -> Inventory {
    let enabled = |section: Section| sections.contains(&section);
    let mut inventory = Inventory {
        schema_version: SCHEMA_VERSION,
        collected_at,
        ..Inventory::default()
    };
    inventory.agent.version = agent_version.to_string();

    // Packages dominate the run time (a dpkg status file is megabytes); read them beside everything else.
    let (packages, mut errors) = std::thread::scope(|scope| {
        let packages = enabled(Section::Packages).then(|| {
            scope.spawn(|| {
                let mut errors = Errors::default();
                (packages::collect(root, &mut errors), errors)
            })
        });
        let mut errors = Errors::default();
        inventory.host = host::collect(root, &mut errors);
        inventory.host.virtualization = virt::detect(root);
        inventory.os = os::collect(root, &mut errors);
        if enabled(Section::Hardware) {
            inventory.hardware = hardware::collect(root, &mut errors);
        }
        if enabled(Section::Filesystems) {
            inventory.filesystems = filesystem::collect(root, &mut errors);
        }
        if enabled(Section::Network) {
            inventory.network = net::collect(root, &mut errors);
        }
        if enabled(Section::Users) {
            (inventory.users, inventory.groups) = users::collect(root, &mut errors);
        }
        if enabled(Section::Services) {
            inventory.services = services::collect(root, &mut errors);
        }
        if enabled(Section::ListeningPorts) {
            inventory.listening_ports = ports::collect(root, &mut errors);
        }
        let packages = packages.map(|handle| handle.join());
        (packages, errors)
    });
    match packages {
        Some(Ok((packages, package_errors))) => {
            inventory.software.packages = packages;
            errors.errors.extend(package_errors.into_vec());
        }
        Some(Err(_)) => errors.record(
            "software.packages",
            "the package collector crashed; please report a bug",
        ),
        None => {}
    }
    inventory.collection_errors = errors.into_vec();
    inventory.canonicalize();
    inventory
}

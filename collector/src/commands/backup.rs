//! `census-collector backup` and `restore`.
//!
//! Backup works whether or not the collector runs: stopped, it opens the database directly; serving
//! (sled admits one process), it downloads the database snapshot from the admin API
//! (`GET /api/v1/admin/backup`, admin token from the data dir) and adds the data dir's key files
//! itself. Either way the output file is created 0600 (it holds the CA key) and never overwritten.
//!
//! Restore refuses a data dir that holds anything, reads the backup once to check its versions and
//! checksum before writing a byte, then writes the key files (modes as `init`), the database, the id
//! floor and the schema version, and flushes.

use super::admin::{Remote, Target};
use super::now_rfc3339;
use crate::backup::{self, BackupError, FILES, Record};
use crate::datadir::DataDir;
use crate::store::engine::Engine;
use crate::store::{Entry, schema};
use anyhow::{Context, bail};
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Entries written to the database per batch during a restore.
const RESTORE_BATCH: usize = 10_000;

/// What a backup wrote, for the caller to show.
pub struct BackupSummary {
    pub online: bool,
    pub header: backup::Header,
}

/// Writes a backup of the collector in `data_dir` to `out`.
pub async fn backup(data_dir: &DataDir, out: &Path) -> anyhow::Result<BackupSummary> {
    let files = data_dir_files(data_dir)?;
    let file = create_secret_file(out)?;
    let written = match Target::connect(data_dir)? {
        Target::Direct(store) => {
            backup::write(BufWriter::new(file), &files, store.as_ref(), &now_rfc3339())
                .map(|header| BackupSummary {
                    online: false,
                    header,
                })
                .map_err(anyhow::Error::from)
        }
        Target::Remote(remote) => online(&remote, file, &files).await,
    };
    if written.is_err() {
        let _ = fs::remove_file(out);
    }
    written
}

async fn online(
    remote: &Remote,
    file: File,
    files: &[(String, Vec<u8>)],
) -> anyhow::Result<BackupSummary> {
    let snapshot = remote.download("/api/v1/admin/backup").await?;
    let mut records: Vec<Record> = files
        .iter()
        .map(|(name, content)| Record::File {
            name: name.clone(),
            content: content.clone(),
        })
        .collect();
    let header = backup::read(&snapshot[..], |record| {
        if let Record::Entry { .. } = record {
            records.push(record);
        }
        Ok(())
    })
    .context("checking the snapshot the collector sent")?;
    backup::write_records(BufWriter::new(file), &header, records)?;
    Ok(BackupSummary {
        online: true,
        header,
    })
}

fn data_dir_files(data_dir: &DataDir) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for (name, _) in FILES {
        let path = data_dir.root().join(name);
        match fs::read(&path) {
            Ok(content) => files.push((name.to_string(), content)),
            // A collector without an admin token file (removed after use) is still complete.
            Err(error)
                if error.kind() == std::io::ErrorKind::NotFound && *name == "admin.token" => {}
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        }
    }
    Ok(files)
}

fn create_secret_file(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))
}

/// Restores the backup `from` into the empty (or missing) `data_dir`, in a database kept by `engine`
/// (a backup does not depend on the engine that wrote it: restoring is how a database changes engine).
pub fn restore(from: &Path, data_dir: &DataDir, engine: Engine) -> anyhow::Result<backup::Header> {
    let root = data_dir.root();
    if root.exists() {
        let mut entries =
            fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; restore only into an empty or new directory (nothing was changed)",
                root.display()
            );
        }
    }
    let open = || -> anyhow::Result<BufReader<File>> {
        File::open(from)
            .map(BufReader::new)
            .with_context(|| format!("opening {}", from.display()))
    };
    // First pass: versions and checksum, before anything is written.
    backup::read(open()?, |record| match record {
        Record::File { name, .. } if !FILES.iter().any(|(known, _)| *known == name) => Err(
            BackupError::Damaged(format!("it carries an unexpected file '{name}'")),
        ),
        _ => Ok(()),
    })
    .with_context(|| format!("checking {}", from.display()))?;

    data_dir.create()?;
    let store = engine
        .open(data_dir.root())
        .with_context(|| format!("creating the {engine} database"))?;
    let mut pending: Option<(String, Vec<Entry>)> = None;
    let mut import_error: Option<anyhow::Error> = None;
    let header = backup::read(open()?, |record| {
        let result = match record {
            Record::File { name, content } => write_file(data_dir, &name, &content),
            Record::Entry { space, key, value } => {
                let batch = match pending.take() {
                    Some((current, entries)) if current == space => Ok(entries),
                    Some((current, entries)) => store
                        .import(&current, entries)
                        .map(|()| Vec::new())
                        .map_err(anyhow::Error::from),
                    None => Ok(Vec::new()),
                };
                batch.and_then(|mut entries| {
                    entries.push((key, value));
                    if entries.len() >= RESTORE_BATCH {
                        store.import(&space, entries)?;
                        entries = Vec::new();
                    }
                    pending = Some((space, entries));
                    Ok(())
                })
            }
        };
        result.map_err(|error| {
            let message = format!("{error:#}");
            import_error = Some(error);
            BackupError::Damaged(message)
        })
    });
    if let Some(error) = import_error {
        return Err(error.context(format!(
            "restoring into {}; remove it before trying again",
            root.display()
        )));
    }
    let header = header.with_context(|| format!("reading {}", from.display()))?;
    if let Some((space, entries)) = pending {
        store.import(&space, entries)?;
    }
    store.raise_id_floor(header.next_id)?;
    schema::ensure_current(store.as_ref()).context("bringing the restored database up to date")?;
    store.flush().context("writing the database to disk")?;
    Ok(header)
}

fn write_file(data_dir: &DataDir, name: &str, content: &[u8]) -> anyhow::Result<()> {
    let secret = FILES
        .iter()
        .find(|(known, _)| *known == name)
        .is_some_and(|(_, secret)| *secret);
    let path = data_dir.root().join(name);
    if secret {
        data_dir.write_secret(&path, content)?;
    } else {
        data_dir.write_public(&path, content)?;
    }
    Ok(())
}

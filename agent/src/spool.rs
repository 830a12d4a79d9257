//! The spool: reports the collector has not acknowledged yet, kept on disk so none is lost.
//!
//! # Layout
//! ```text
//! <state-dir>/spool/
//!   00000001764201600-00000000000000042.json.gz   one report: {header, inventory}, gzip JSON
//!   .tmp-…                                        a report being written (ignored by readers)
//!   quarantine/                                   files that could not be read back
//! ```
//! Names are the zero-padded `(epoch, seq)`, so a directory listing sorted by name is delivery order.
//! Each file is written atomically (temporary file, fsync, rename, fsync of the directory): a crash
//! leaves a whole report or an ignored temporary file, never half a report.
//!
//! Every spooled report is a complete snapshot of the machine, so a later one supersedes an earlier one.
//! When the spool exceeds its bounds the OLDEST report is therefore dropped (with a warning): the
//! collector only loses one step of the machine's history, never its current state. The newest report
//! is never dropped, whatever the bounds.

use crate::state::{self, StateError, TEMP_PREFIX};
use census_shared::inventory::Inventory;
use census_shared::protocol::ReportHeader;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

pub const QUARANTINE_DIR: &str = "quarantine";
const SUFFIX: &str = ".json.gz";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {op}: {error}")]
    Io {
        op: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// One report waiting for delivery: its coordinates and the full inventory it describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReport {
    pub header: ReportHeader,
    pub inventory: Inventory,
}

/// A spooled file, as listed (not yet read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub path: PathBuf,
    pub epoch: u64,
    pub seq: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    max_reports: usize,
    max_bytes: u64,
}

/// `(epoch, seq)` from a spool file name; `None` for anything else (temporary files, strays).
pub fn parse_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (epoch, seq) = stem.split_once('-')?;
    if epoch.len() != 20 || seq.len() != 20 {
        return None;
    }
    Some((epoch.parse().ok()?, seq.parse().ok()?))
}

pub fn file_name(epoch: u64, seq: u64) -> String {
    format!("{epoch:020}-{seq:020}{SUFFIX}")
}

impl Spool {
    /// The spool under `state_dir`, keeping at most `max_reports` reports and `max_bytes` bytes (but
    /// always at least the newest report).
    pub fn new(state_dir: &Path, max_reports: usize, max_bytes: u64) -> Self {
        Self {
            dir: state_dir.join("spool"),
            max_reports: max_reports.max(1),
            max_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io<'a>(&'a self, op: &'static str) -> impl FnOnce(std::io::Error) -> SpoolError + 'a {
        move |source| SpoolError::Io {
            op,
            path: self.dir.clone(),
            error: source,
        }
    }

    /// Writes `report` durably, then enforces the bounds. Returns the entries dropped to make room.
    pub fn push(&self, report: &PendingReport) -> Result<Vec<SpoolEntry>, SpoolError> {
        fs::create_dir_all(&self.dir).map_err(self.io("creating the directory"))?;
        let path = self
            .dir
            .join(file_name(report.header.epoch, report.header.seq));
        state::write_atomic(&path, &state::to_gzip_json(report), 0o600)?;
        self.enforce_bounds()
    }

    fn enforce_bounds(&self) -> Result<Vec<SpoolEntry>, SpoolError> {
        let mut entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|entry| entry.bytes).sum();
        let mut dropped = Vec::new();
        while entries.len() > 1 && (entries.len() > self.max_reports || total > self.max_bytes) {
            let oldest = entries.remove(0);
            total -= oldest.bytes;
            tracing::warn!(
                epoch = oldest.epoch,
                seq = oldest.seq,
                max_reports = self.max_reports,
                max_bytes = self.max_bytes,
                "spool full: dropping the oldest undelivered report (later reports supersede it)"
            );
            self.remove(&oldest)?;
            dropped.push(oldest);
        }
        Ok(dropped)
    }

    /// The spooled reports, oldest first. Temporary files and strays are skipped.
    pub fn entries(&self) -> Result<Vec<SpoolEntry>, SpoolError> {
        let listing = match fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SpoolError::Io {
                    op: "listing",
                    path: self.dir.clone(),
                    error: source,
                });
            }
        };
        let mut entries = Vec::new();
        for dir_entry in listing.flatten() {
            let name = dir_entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let Some((epoch, seq)) = parse_name(&name) else {
                continue;
            };
            let Ok(metadata) = dir_entry.metadata() else {
                continue;
            };
            if metadata.is_file() {
                entries.push(SpoolEntry {
                    path: dir_entry.path(),
                    epoch,
                    seq,
                    bytes: metadata.len(),
                });
            }
        }
        entries.sort_by_key(|entry| (entry.epoch, entry.seq));
        Ok(entries)
    }

    /// Number of reports and their total size.
    pub fn usage(&self) -> Result<(usize, u64), SpoolError> {
        let entries = self.entries()?;
        Ok((entries.len(), entries.iter().map(|entry| entry.bytes).sum()))
    }

    /// Reads a spooled report. A file that cannot be decoded is moved to `quarantine/` with a warning
    /// and `None` is returned, so one damaged file never blocks the reports behind it.
    pub fn load(&self, entry: &SpoolEntry) -> Result<Option<PendingReport>, SpoolError> {
        let bytes = fs::read(&entry.path).map_err(|source| SpoolError::Io {
            op: "reading",
            path: entry.path.clone(),
            error: source,
        })?;
        match state::from_gzip_json::<PendingReport>(&bytes) {
            Ok(report) => Ok(Some(report)),
            Err(message) => {
                let target = self.quarantine(entry)?;
                tracing::warn!(
                    path = %entry.path.display(),
                    quarantined = %target.display(),
                    %message,
                    "unreadable spooled report moved to quarantine"
                );
                Ok(None)
            }
        }
    }

    /// Moves `entry` to `quarantine/` (kept for inspection, never retried); returns its new path.
    pub fn quarantine(&self, entry: &SpoolEntry) -> Result<PathBuf, SpoolError> {
        let quarantine = self.dir.join(QUARANTINE_DIR);
        fs::create_dir_all(&quarantine).map_err(self.io("creating quarantine/"))?;
        let target = quarantine.join(entry.path.file_name().unwrap_or_default());
        fs::rename(&entry.path, &target).map_err(|source| SpoolError::Io {
            op: "moving to quarantine",
            path: entry.path.clone(),
            error: source,
        })?;
        state::sync_dir(&self.dir)?;
        Ok(target)
    }

    /// Writes a report the collector refused straight into `quarantine/`, for inspection.
    pub fn put_quarantine(&self, report: &PendingReport) -> Result<PathBuf, SpoolError> {
        let quarantine = self.dir.join(QUARANTINE_DIR);
        fs::create_dir_all(&quarantine).map_err(self.io("creating quarantine/"))?;
        let path = quarantine.join(file_name(report.header.epoch, report.header.seq));
        state::write_atomic(&path, &state::to_gzip_json(report), 0o600)?;
        Ok(path)
    }

    /// Removes a delivered (or superseded) report.
    pub fn remove(&self, entry: &SpoolEntry) -> Result<(), SpoolError> {
        match fs::remove_file(&entry.path) {
            Ok(()) => Ok(state::sync_dir(&self.dir)?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Io {
                op: "removing",
                path: entry.path.clone(),
                error: source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: u64, seq: u64) -> PendingReport {
        let mut inventory = Inventory::default();
        inventory.host.hostname = Some(format!("host-{seq}"));
        PendingReport {
            header: ReportHeader {
                epoch,
                seq,
                report_id: format!("id-{seq}"),
                hash: "0".repeat(64),
                collected_at: "2026-11-26T22:15:05Z".into(),
            },
            inventory,
        }
    }

    fn seqs(spool: &Spool) -> Vec<u64> {
        spool
            .entries()
            .unwrap()
            .iter()
            .map(|entry| entry.seq)
            .collect()
    }

    #[test]
    fn reports_come_back_oldest_first_whatever_the_write_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 100, u64::MAX);
        for seq in [10, 2, 9, 100] {
            spool.push(&report(5, seq)).unwrap();
        }
        // A later epoch (a rebuilt state dir) sorts after every report of the earlier one.
        spool.push(&report(6, 1)).unwrap();
        assert_eq!(seqs(&spool), vec![2, 9, 10, 100, 1]);
        let first = &spool.entries().unwrap()[0];
        assert_eq!(spool.load(first).unwrap(), Some(report(5, 2)));
    }

    #[test]
    fn temporary_files_of_an_interrupted_write_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 100, u64::MAX);
        spool.push(&report(1, 1)).unwrap();
        // What a crash between write and rename leaves behind.
        let partial = spool
            .dir()
            .join(format!("{TEMP_PREFIX}{}.1234", file_name(1, 2)));
        fs::write(&partial, b"\x1f\x8b half a report").unwrap();
        fs::write(spool.dir().join("notes.txt"), b"stray").unwrap();
        assert_eq!(seqs(&spool), vec![1]);
        assert_eq!(spool.usage().unwrap().0, 1);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_but_never_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 3, u64::MAX);
        for seq in 1..=5 {
            spool.push(&report(1, seq)).unwrap();
        }
        assert_eq!(seqs(&spool), vec![3, 4, 5]);

        // A byte bound smaller than one report still keeps the newest.
        let tiny = Spool::new(dir.path(), 100, 1);
        let dropped = tiny.push(&report(1, 6)).unwrap();
        assert_eq!(
            dropped.iter().map(|entry| entry.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(seqs(&tiny), vec![6]);
    }

    #[test]
    fn a_corrupt_file_is_quarantined_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 100, u64::MAX);
        spool.push(&report(1, 2)).unwrap();
        fs::write(spool.dir().join(file_name(1, 1)), b"garbage").unwrap();
        let entries = spool.entries().unwrap();
        assert_eq!(entries[0].seq, 1);
        assert_eq!(spool.load(&entries[0]).unwrap(), None);
        assert!(
            spool
                .dir()
                .join(QUARANTINE_DIR)
                .join(file_name(1, 1))
                .exists()
        );
        assert_eq!(seqs(&spool), vec![2]);
        // Valid gzip around invalid JSON is quarantined too.
        let gzip_not_report = state::to_gzip_json(&serde_json::json!({"hello": 1}));
        fs::write(spool.dir().join(file_name(1, 3)), gzip_not_report).unwrap();
        let third = spool.entries().unwrap().pop().unwrap();
        assert_eq!(spool.load(&third).unwrap(), None);
        assert_eq!(seqs(&spool), vec![2]);
    }

    #[test]
    fn a_spool_left_on_disk_is_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path(), 100, u64::MAX);
        fs::create_dir_all(spool.dir()).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/spool");
        for entry in fs::read_dir(fixture).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), spool.dir().join(entry.file_name())).unwrap();
        }
        assert_eq!(seqs(&spool), vec![7, 9, 12]);
        let mut hostnames = Vec::new();
        for entry in spool.entries().unwrap() {
            if let Some(report) = spool.load(&entry).unwrap() {
                assert_eq!(report.header.epoch, 1_764_201_600);
                hostnames.push(report.inventory.host.hostname.unwrap());
            }
        }
        assert_eq!(hostnames, vec!["web-07", "web-12"]);
        assert_eq!(
            seqs(&spool),
            vec![7, 12],
            "the truncated report is quarantined"
        );
        assert!(
            spool
                .dir()
                .join(QUARANTINE_DIR)
                .join(file_name(1_764_201_600, 9))
                .exists()
        );
    }

    #[test]
    fn names_sort_as_numbers() {
        assert_eq!(
            parse_name(&file_name(1_764_201_600, 42)),
            Some((1_764_201_600, 42))
        );
        assert!(file_name(1, 9) < file_name(1, 10));
        assert_eq!(parse_name("1-2.json.gz"), None);
        assert_eq!(parse_name(&format!("{TEMP_PREFIX}x")), None);
    }
}

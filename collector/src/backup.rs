//! Backups of a whole collector: the database and the data dir's key files, in one file.
//!
//! # Format (version 1)
//! A gzip stream of: `u32` BE length + JSON [`Header`]; records, each a tag byte: `F` a file
//! (`u16` name length, name, `u64` length, content), `E` an entry (`u16` space length, space, `u32`
//! key length, key, `u32` value length, value), `Z` the end; then the SHA-256 of every byte before it.
//! All lengths are big-endian. The database part comes from [`Store::export`], one consistent view.
//!
//! A backup holds the CA private key and the admin token: it is a secret, written 0600.
//!
//! Limitation: the online backup is assembled in the collector's memory (compressed) before it is
//! sent; a very large database needs the collector stopped and a direct backup instead.

use crate::store::schema::SCHEMA_VERSION;
use crate::store::{Store, StoreError};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

pub const FORMAT: &str = "census-backup";
pub const FORMAT_VERSION: u32 = 1;
/// Data dir files a backup carries; `(name, secret)`.
pub const FILES: &[(&str, bool)] = &[
    ("ca.pem", false),
    ("ca.key", true),
    ("server.pem", false),
    ("server.key", true),
    ("admin.token", true),
];
/// Longest file, key or value read back: bounds memory on a damaged file.
const MAX_ITEM: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("reading or writing the backup failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this is not a Census backup ({0})")]
    NotABackup(String),
    #[error(
        "the backup has format version {found}, newer than this collector reads ({supported}); restore it with a newer census-collector"
    )]
    FormatTooNew { found: u32, supported: u32 },
    #[error(
        "the backup's database has schema version {found}, newer than this collector understands ({supported}); restore it with a newer census-collector"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error("the backup's checksum does not match its content: the file is damaged or was altered")]
    Checksum,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub schema_version: u32,
    pub created_at: String,
    pub collector_version: String,
    /// Above every id the database issued: the restored database continues from here.
    pub next_id: u64,
}

/// One item of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    File {
        name: String,
        content: Vec<u8>,
    },
    Entry {
        space: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
}

/// Writes `records` after the header; hashes as it goes.
struct Writer<W: Write> {
    out: GzEncoder<W>,
    hash: Sha256,
}

impl<W: Write> Writer<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }
    fn record(&mut self, record: &Record) -> std::io::Result<()> {
        match record {
            Record::File { name, content } => {
                self.put(b"F")?;
                self.put(&(name.len() as u16).to_be_bytes())?;
                self.put(name.as_bytes())?;
                self.put(&(content.len() as u64).to_be_bytes())?;
                self.put(content)
            }
            Record::Entry { space, key, value } => self.entry(space, key, value),
        }
    }
    fn entry(&mut self, space: &str, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        self.put(b"E")?;
        self.put(&(space.len() as u16).to_be_bytes())?;
        self.put(space.as_bytes())?;
        self.put(&(key.len() as u32).to_be_bytes())?;
        self.put(key)?;
        self.put(&(value.len() as u32).to_be_bytes())?;
        self.put(value)
    }
}

/// Writes a backup of `files` and the whole of `store` to `out`; returns the header written.
pub fn write(
    out: impl Write,
    files: &[(String, Vec<u8>)],
    store: &dyn Store,
    created_at: &str,
) -> Result<Header, BackupError> {
    let mut entries = Vec::new();
    // The snapshot is taken first (writes pause only while the store is read), then written out.
    let next_id = store.export(&mut |space, key, value| {
        entries.push(Record::Entry {
            space: space.to_string(),
            key: key.to_vec(),
            value: value.to_vec(),
        });
        Ok(())
    })?;
    let header = Header {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        schema_version: crate::store::schema::stored_version(store).unwrap_or(SCHEMA_VERSION),
        created_at: created_at.into(),
        collector_version: env!("CARGO_PKG_VERSION").into(),
        next_id,
    };
    let files = files.iter().map(|(name, content)| Record::File {
        name: name.clone(),
        content: content.clone(),
    });
    write_records(out, &header, files.chain(entries))?;
    Ok(header)
}

/// Writes a header and records, then the checksum.
pub fn write_records(
    out: impl Write,
    header: &Header,
    records: impl IntoIterator<Item = Record>,
) -> Result<(), BackupError> {
    let mut writer = Writer {
        out: GzEncoder::new(out, Compression::default()),
        hash: Sha256::new(),
    };
    let json = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    writer.put(&(json.len() as u32).to_be_bytes())?;
    writer.put(&json)?;
    for record in records {
        writer.record(&record)?;
    }
    writer.put(b"Z")?;
    let digest = writer.hash.clone().finalize();
    writer.out.write_all(&digest)?;
    writer.out.finish()?.flush()?;
    Ok(())
}

/// Reads a backup, checking format, versions and checksum, and calls `each` for every record. Records
/// arrive before the checksum is known: callers that must not act on a damaged file read twice.
pub fn read(
    input: impl Read,
    mut each: impl FnMut(Record) -> Result<(), BackupError>,
) -> Result<Header, BackupError> {
    let mut reader = Reader {
        input: GzDecoder::new(input),
        hash: Sha256::new(),
    };
    let length = u32::from_be_bytes(reader.array().map_err(|e| not_a_backup(&e))?);
    if u64::from(length) > 1 << 20 {
        return Err(BackupError::NotABackup("no backup header".into()));
    }
    let json = reader
        .bytes(u64::from(length))
        .map_err(|e| not_a_backup(&e))?;
    let header: Header = serde_json::from_slice(&json)
        .map_err(|e| BackupError::NotABackup(format!("unreadable header: {e}")))?;
    if header.format != FORMAT {
        return Err(BackupError::NotABackup(format!(
            "format '{}'",
            header.format
        )));
    }
    if header.version > FORMAT_VERSION {
        return Err(BackupError::FormatTooNew {
            found: header.version,
            supported: FORMAT_VERSION,
        });
    }
    if header.schema_version > SCHEMA_VERSION {
        return Err(BackupError::SchemaTooNew {
            found: header.schema_version,
            supported: SCHEMA_VERSION,
        });
    }
    loop {
        let [tag] = reader.array()?;
        let record = match tag {
            b'Z' => break,
            b'F' => {
                let name = reader.text_u16()?;
                let length = u64::from_be_bytes(reader.array()?);
                let content = reader.bytes(length)?;
                Record::File { name, content }
            }
            b'E' => {
                let space = reader.text_u16()?;
                let key_length = u32::from_be_bytes(reader.array()?);
                let key = reader.bytes(u64::from(key_length))?;
                let value_length = u32::from_be_bytes(reader.array()?);
                let value = reader.bytes(u64::from(value_length))?;
                Record::Entry { space, key, value }
            }
            other => {
                return Err(BackupError::Damaged(format!(
                    "unknown record tag {other:#x}"
                )));
            }
        };
        each(record)?;
    }
    let expected = reader.hash.clone().finalize();
    let mut stored = [0u8; 32];
    reader.input.read_exact(&mut stored).map_err(damaged)?;
    if stored[..] != expected[..] {
        return Err(BackupError::Checksum);
    }
    Ok(header)
}

struct Reader<R: Read> {
    input: GzDecoder<R>,
    hash: Sha256,
}

impl<R: Read> Reader<R> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BackupError> {
        let mut buffer = [0u8; N];
        self.input.read_exact(&mut buffer).map_err(damaged)?;
        self.hash.update(buffer);
        Ok(buffer)
    }
    fn bytes(&mut self, length: u64) -> Result<Vec<u8>, BackupError> {
        if length > MAX_ITEM {
            return Err(BackupError::Damaged(format!("an item of {length} bytes")));
        }
        let mut buffer = Vec::new();
        (&mut self.input)
            .take(length)
            .read_to_end(&mut buffer)
            .map_err(damaged)?;
        if buffer.len() as u64 != length {
            return Err(BackupError::Damaged("the file is truncated".into()));
        }
        self.hash.update(&buffer);
        Ok(buffer)
    }
    fn text_u16(&mut self) -> Result<String, BackupError> {
        let length = u16::from_be_bytes(self.array()?);
        String::from_utf8(self.bytes(u64::from(length))?)
            .map_err(|_| BackupError::Damaged("a name is not UTF-8".into()))
    }
}

fn damaged(error: std::io::Error) -> BackupError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        BackupError::Damaged("the file is truncated".into())
    } else {
        BackupError::Damaged(error.to_string())
    }
}

fn not_a_backup(error: &BackupError) -> BackupError {
    BackupError::NotABackup(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            schema_version: SCHEMA_VERSION,
            created_at: "2026-11-26T12:00:00Z".into(),
            collector_version: "0.1.0".into(),
            next_id: 42,
        }
    }

    fn records() -> Vec<Record> {
        vec![
            Record::File {
                name: "ca.pem".into(),
                content: b"-----BEGIN".to_vec(),
            },
            Record::Entry {
                space: "agents".into(),
                key: b"agt-1".to_vec(),
                value: vec![0, 1, 2],
            },
        ]
    }

    fn encoded(header: &Header) -> Vec<u8> {
        let mut out = Vec::new();
        write_records(&mut out, header, records()).unwrap();
        out
    }

    #[test]
    fn a_backup_reads_back_what_was_written() {
        let mut seen = Vec::new();
        let read_header = read(&encoded(&header())[..], |record| {
            seen.push(record);
            Ok(())
        })
        .unwrap();
        assert_eq!(read_header, header());
        assert_eq!(seen, records());
    }

    #[test]
    fn an_altered_backup_fails_its_checksum() {
        // Re-compress an altered payload so that gzip's own CRC does not catch it first.
        let mut plain = Vec::new();
        GzDecoder::new(&encoded(&header())[..])
            .read_to_end(&mut plain)
            .unwrap();
        let at = plain.windows(3).position(|w| w == [0, 1, 2]).unwrap();
        plain[at + 2] = 9;
        let mut altered = GzEncoder::new(Vec::new(), Compression::fast());
        altered.write_all(&plain).unwrap();
        let error = read(&altered.finish().unwrap()[..], |_| Ok(())).unwrap_err();
        assert!(matches!(error, BackupError::Checksum), "{error}");
    }

    #[test]
    fn newer_formats_and_schemas_and_foreign_files_are_refused_clearly() {
        let newer = Header {
            version: FORMAT_VERSION + 1,
            ..header()
        };
        let error = read(&encoded(&newer)[..], |_| Ok(())).unwrap_err();
        assert!(matches!(error, BackupError::FormatTooNew { .. }), "{error}");
        let newer = Header {
            schema_version: SCHEMA_VERSION + 1,
            ..header()
        };
        let error = read(&encoded(&newer)[..], |_| Ok(())).unwrap_err();
        assert!(
            error.to_string().contains("newer census-collector"),
            "{error}"
        );
        let error = read(&b"not gzip at all"[..], |_| Ok(())).unwrap_err();
        assert!(matches!(error, BackupError::NotABackup(_)), "{error}");
        let mut truncated = encoded(&header());
        truncated.truncate(truncated.len() - 20);
        assert!(read(&truncated[..], |_| Ok(())).is_err());
    }
}

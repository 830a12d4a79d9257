//! SMBIOS (DMI) table parser, in pure Rust: no dmidecode, no subprocess.
//!
//! Layout: [`parse_smbios`] takes the optional entry point (`/sys/firmware/dmi/tables/smbios_entry_point`,
//! for the version) and the raw structure table (`.../DMI`) and returns [`SmbiosInfo`]. Each structure is a
//! 4-byte header (type, length, handle), a formatted area of `length` bytes, then a string set ended by two
//! NULs; a field that names a string holds its 1-based index (0 = no string). Types read: 0 BIOS, 1 system,
//! 2 baseboard, 3 chassis, 4 processor, 17 memory device; 127 ends the table. [`read`] is the thin reader.
//!
//! The input is untrusted (a fixture, a mounted image, a buggy firmware): every access is bounds-checked,
//! a structure that runs past the end of the table is an error, and nothing is allocated beyond the size
//! of the input. The entry-point checksum is not verified: the kernel already did so before exposing it.
//! Limitations: only the first structure of types 0-3 is used; a table over [`MAX_TABLE_BYTES`] is refused.

use super::dmi::{chassis_type_name, meaningful, serial_number};
use crate::collect::{ReadError, Root};
use census_shared::inventory::{Baseboard, Bios, Chassis, MemoryModule, System};
use std::io::Read;

pub const ENTRY_POINT_PATH: &str = "/sys/firmware/dmi/tables/smbios_entry_point";
pub const TABLE_PATH: &str = "/sys/firmware/dmi/tables/DMI";
/// Real tables are a few kilobytes; SMBIOS 3 allows 4 GiB in theory, which an agent must never allocate.
pub const MAX_TABLE_BYTES: u64 = 4 * 1024 * 1024;

/// What the table says about the machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SmbiosInfo {
    /// `(major, minor)` from the entry point, when one was given.
    pub version: Option<(u8, u8)>,
    pub bios: Bios,
    pub system: System,
    pub baseboard: Baseboard,
    pub chassis: Chassis,
    pub processors: Vec<Processor>,
    /// Memory devices holding a module; empty slots (size 0) are left out.
    pub modules: Vec<MemoryModule>,
}

/// One type 4 structure: a processor socket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Processor {
    pub socket: Option<String>,
    pub populated: bool,
    pub manufacturer: Option<String>,
    pub version: Option<String>,
    pub core_count: Option<u32>,
    pub thread_count: Option<u32>,
}

impl SmbiosInfo {
    /// Number of populated processor sockets, `None` when the table lists no processor.
    pub fn populated_sockets(&self) -> Option<u32> {
        let populated = self.processors.iter().filter(|p| p.populated).count();
        (populated > 0).then(|| u32::try_from(populated).unwrap_or(u32::MAX))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmbiosError {
    #[error("smbios entry point is {len} bytes, too short for a {anchor} entry point")]
    EntryPointTooShort { anchor: &'static str, len: usize },
    #[error("smbios entry point has no known anchor (_SM3_, _SM_ or _DMI_)")]
    UnknownEntryPoint,
    #[error("smbios table is empty")]
    EmptyTable,
    #[error("smbios structure at offset {offset} is truncated: the table ends at byte {table_len}")]
    Truncated { offset: usize, table_len: usize },
    #[error(
        "smbios structure at offset {offset} declares length {length}, shorter than its 4-byte header"
    )]
    BadLength { offset: usize, length: u8 },
    #[error("smbios structure at offset {offset} (type {kind}) has no string-set terminator")]
    UnterminatedStrings { offset: usize, kind: u8 },
}

/// Why the raw table could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path} is larger than {MAX_TABLE_BYTES} bytes; refusing to parse it")]
    TooLarge { path: &'static str },
    #[error("{TABLE_PATH} is not a valid SMBIOS table: {0}")]
    Parse(#[from] SmbiosError),
}

/// Reads and parses the raw table under `root`.
pub fn read(root: &Root) -> Result<SmbiosInfo, TableError> {
    let table = read_capped(root, TABLE_PATH)?;
    // The entry point only adds the version; a missing one is no reason to drop the table.
    let entry_point = read_capped(root, ENTRY_POINT_PATH).ok();
    Ok(parse_smbios(entry_point.as_deref(), &table)?)
}

fn read_capped(root: &Root, path: &'static str) -> Result<Vec<u8>, TableError> {
    let file = std::fs::File::open(root.path(path)).map_err(|e| ReadError::new(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_TABLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::new(path, e))?;
    if bytes.len() as u64 > MAX_TABLE_BYTES {
        return Err(TableError::TooLarge { path });
    }
    Ok(bytes)
}

struct EntryPoint {
    major: u8,
    minor: u8,
    /// Exact table length (2.x) or its maximum (3.x).
    table_len: usize,
}

fn parse_entry_point(bytes: &[u8]) -> Result<EntryPoint, SmbiosError> {
    let need = |anchor: &'static str, len: usize| {
        if bytes.len() < len {
            Err(SmbiosError::EntryPointTooShort {
                anchor,
                len: bytes.len(),
            })
        } else {
            Ok(())
        }
    };
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    if bytes.starts_with(b"_SM3_") {
        need("_SM3_", 0x18)?;
        let max = u32::from_le_bytes([bytes[0x0C], bytes[0x0D], bytes[0x0E], bytes[0x0F]]);
        Ok(EntryPoint {
            major: bytes[0x07],
            minor: bytes[0x08],
            table_len: usize::try_from(max).unwrap_or(usize::MAX),
        })
    } else if bytes.starts_with(b"_SM_") {
        // 0x1E is allowed too: SMBIOS 2.1 documented the wrong length and some firmware followed it.
        need("_SM_", 0x1E)?;
        Ok(EntryPoint {
            major: bytes[0x06],
            minor: bytes[0x07],
            table_len: u16_at(0x16),
        })
    } else if bytes.starts_with(b"_DMI_") {
        need("_DMI_", 0x0F)?;
        let bcd = bytes[0x0E];
        Ok(EntryPoint {
            major: bcd >> 4,
            minor: bcd & 0x0F,
            table_len: u16_at(0x06),
        })
    } else {
        Err(SmbiosError::UnknownEntryPoint)
    }
}

/// One structure, borrowed from the table.
struct Structure<'a> {
    kind: u8,
    /// The formatted area, header included, so field offsets match the specification's.
    formatted: &'a [u8],
    strings: &'a [u8],
}

impl<'a> Structure<'a> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.formatted.get(at).copied()
    }

    fn word(&self, at: usize) -> Option<u16> {
        let bytes = self.formatted.get(at..at + 2)?;
        Some(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn dword(&self, at: usize) -> Option<u32> {
        let bytes = self.formatted.get(at..at + 4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The string named by the index at `at`, with firmware placeholders turned into `None`.
    fn string(&self, at: usize) -> Option<String> {
        let raw = self.raw_string(at)?;
        meaningful(&String::from_utf8_lossy(raw))
    }

    fn serial(&self, at: usize) -> Option<String> {
        serial_number(&String::from_utf8_lossy(self.raw_string(at)?))
    }

    fn raw_string(&self, at: usize) -> Option<&'a [u8]> {
        let index = usize::from(self.byte(at)?);
        if index == 0 || self.strings.is_empty() {
            return None;
        }
        self.strings.split(|&b| b == 0).nth(index - 1)
    }
}

/// Splits the next structure off `table` at `offset`; `Ok(None)` at the end of the table.
fn next_structure(
    table: &[u8],
    offset: usize,
) -> Result<Option<(Structure<'_>, usize)>, SmbiosError> {
    if offset >= table.len() {
        return Ok(None);
    }
    let truncated = SmbiosError::Truncated {
        offset,
        table_len: table.len(),
    };
    let header = table.get(offset..offset + 4).ok_or(truncated.clone())?;
    let (kind, length) = (header[0], header[1]);
    if length < 4 {
        return Err(SmbiosError::BadLength { offset, length });
    }
    let strings_start = offset + usize::from(length);
    let formatted = table.get(offset..strings_start).ok_or(truncated)?;
    let rest = &table[strings_start..];
    let end = rest
        .windows(2)
        .position(|pair| pair == [0, 0])
        .ok_or(SmbiosError::UnterminatedStrings { offset, kind })?;
    let structure = Structure {
        kind,
        formatted,
        strings: &rest[..end],
    };
    Ok(Some((structure, strings_start + end + 2)))
}

/// Parses a raw SMBIOS structure table; `entry_point` (when given) supplies the version and table length.
pub fn parse_smbios(entry_point: Option<&[u8]>, table: &[u8]) -> Result<SmbiosInfo, SmbiosError> {
    let entry_point = entry_point.map(parse_entry_point).transpose()?;
    let mut info = SmbiosInfo {
        version: entry_point.as_ref().map(|ep| (ep.major, ep.minor)),
        ..SmbiosInfo::default()
    };
    let table = match &entry_point {
        Some(ep) if ep.table_len > 0 && ep.table_len < table.len() => &table[..ep.table_len],
        _ => table,
    };
    if table.is_empty() {
        return Err(SmbiosError::EmptyTable);
    }
    // Before 2.6 the UUID's first three fields were stored big-endian; without a version, assume modern.
    let uuid_little_endian = info.version.is_none_or(|v| v >= (2, 6));
    let (mut seen_bios, mut seen_system, mut seen_board, mut seen_chassis) =
        (false, false, false, false);
    let mut offset = 0;
    while let Some((structure, next)) = next_structure(table, offset)? {
        match structure.kind {
            0 if !seen_bios => {
                seen_bios = true;
                info.bios = bios(&structure);
            }
            1 if !seen_system => {
                seen_system = true;
                info.system = system(&structure, uuid_little_endian);
            }
            2 if !seen_board => {
                seen_board = true;
                info.baseboard = baseboard(&structure);
            }
            3 if !seen_chassis => {
                seen_chassis = true;
                info.chassis = chassis(&structure);
            }
            4 => info.processors.push(processor(&structure)),
            17 => info.modules.extend(memory_device(&structure)),
            127 => break,
            _ => {}
        }
        offset = next;
    }
    info.system.chassis_type = info.chassis.chassis_type.clone();
    Ok(info)
}

fn bios(s: &Structure) -> Bios {
    // 0xFF in both release bytes means "not supported" (SMBIOS 2.4+).
    let release = match (s.byte(0x14), s.byte(0x15)) {
        (Some(major), Some(minor)) if (major, minor) != (0xFF, 0xFF) => {
            Some(format!("{major}.{minor}"))
        }
        _ => None,
    };
    Bios {
        vendor: s.string(0x04),
        version: s.string(0x05),
        date: s.string(0x08),
        release,
    }
}

fn system(s: &Structure, uuid_little_endian: bool) -> System {
    System {
        vendor: s.string(0x04),
        product: s.string(0x05),
        version: s.string(0x06),
        serial: s.serial(0x07),
        uuid: s
            .formatted
            .get(0x08..0x18)
            .and_then(|bytes| format_uuid(bytes, uuid_little_endian)),
        sku: s.string(0x19),
        family: s.string(0x1A),
        chassis_type: None,
    }
}

/// Formats the 16 UUID bytes; all-zero ("not set") and all-FF ("not present") give `None`.
pub fn format_uuid(bytes: &[u8], little_endian: bool) -> Option<String> {
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    if bytes.iter().all(|&b| b == 0) || bytes.iter().all(|&b| b == 0xFF) {
        return None;
    }
    let mut ordered = bytes;
    if little_endian {
        ordered[0..4].reverse();
        ordered[4..6].reverse();
        ordered[6..8].reverse();
    }
    let hex = hex::encode(ordered);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn baseboard(s: &Structure) -> Baseboard {
    Baseboard {
        vendor: s.string(0x04),
        product: s.string(0x05),
        version: s.string(0x06),
        serial: s.serial(0x07),
        asset_tag: s.string(0x08),
    }
}

fn chassis(s: &Structure) -> Chassis {
    Chassis {
        vendor: s.string(0x04),
        // Bit 7 is the "chassis lock present" flag, not part of the type.
        chassis_type: s
            .byte(0x05)
            .and_then(|b| chassis_type_name(b & 0x7F))
            .map(str::to_string),
        serial: s.serial(0x07),
        asset_tag: s.string(0x08),
    }
}

fn processor(s: &Structure) -> Processor {
    // Counts of 0xFF mean "see the 2-byte field" (SMBIOS 3.0); 0 means unknown.
    let count = |short: usize, long: usize| match s.byte(short) {
        Some(0xFF) => s.word(long).map(u32::from).filter(|&n| n > 0),
        Some(0) | None => None,
        Some(n) => Some(u32::from(n)),
    };
    Processor {
        socket: s.string(0x04),
        // Status bit 6: "CPU socket populated".
        populated: s.byte(0x18).is_some_and(|status| status & 0x40 != 0),
        manufacturer: s.string(0x07),
        version: s.string(0x10),
        core_count: count(0x23, 0x2A),
        thread_count: count(0x25, 0x2E),
    }
}

/// A type 17 structure as a module, or `None` for an empty slot.
fn memory_device(s: &Structure) -> Option<MemoryModule> {
    let size_bytes = match s.word(0x0C)? {
        0 => return None,
        0xFFFF => None,
        // Sizes of 32 GiB and up live in the extended-size dword, in MiB (bit 31 reserved).
        0x7FFF => s
            .dword(0x1C)
            .map(|mib| u64::from(mib & 0x7FFF_FFFF) << 20)
            .filter(|&bytes| bytes > 0),
        // Bit 15 is the granularity: set means KiB, clear means MiB.
        size if size & 0x8000 != 0 => Some(u64::from(size & 0x7FFF) << 10),
        size => Some(u64::from(size) << 20),
    };
    let speed = |short: usize, extended: usize| match s.word(short) {
        Some(0) | None => None,
        Some(0xFFFF) => s.dword(extended).filter(|&mts| mts > 0),
        Some(mts) => Some(u32::from(mts)),
    };
    Some(MemoryModule {
        slot: s.string(0x10).unwrap_or_else(|| "unknown".to_string()),
        bank: s.string(0x11),
        size_bytes,
        memory_type: s.byte(0x12).and_then(memory_type_name).map(str::to_string),
        form_factor: s.byte(0x0E).and_then(form_factor_name).map(str::to_string),
        speed_mts: speed(0x15, 0x54),
        configured_speed_mts: speed(0x20, 0x58),
        vendor: s.string(0x17),
        serial: s.serial(0x18),
        part_number: s.string(0x1A),
    })
}

/// SMBIOS 3.7 table 76, memory device type; "Other"/"Unknown" and reserved codes give `None`.
fn memory_type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x03 => "DRAM",
        0x04 => "EDRAM",
        0x05 => "VRAM",
        0x06 => "SRAM",
        0x07 => "RAM",
        0x08 => "ROM",
        0x09 => "Flash",
        0x0A => "EEPROM",
        0x0B => "FEPROM",
        0x0C => "EPROM",
        0x0D => "CDRAM",
        0x0E => "3DRAM",
        0x0F => "SDRAM",
        0x10 => "SGRAM",
        0x11 => "RDRAM",
        0x12 => "DDR",
        0x13 => "DDR2",
        0x14 => "DDR2 FB-DIMM",
        0x18 => "DDR3",
        0x19 => "FBD2",
        0x1A => "DDR4",
        0x1B => "LPDDR",
        0x1C => "LPDDR2",
        0x1D => "LPDDR3",
        0x1E => "LPDDR4",
        0x1F => "Logical non-volatile device",
        0x20 => "HBM",
        0x21 => "HBM2",
        0x22 => "DDR5",
        0x23 => "LPDDR5",
        0x24 => "HBM3",
        _ => return None,
    })
}

/// SMBIOS 3.7 table 75, memory device form factor.
fn form_factor_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x03 => "SIMM",
        0x04 => "SIP",
        0x05 => "Chip",
        0x06 => "DIP",
        0x07 => "ZIP",
        0x08 => "Proprietary Card",
        0x09 => "DIMM",
        0x0A => "TSOP",
        0x0B => "Row of chips",
        0x0C => "RIMM",
        0x0D => "SODIMM",
        0x0E => "SRIMM",
        0x0F => "FB-DIMM",
        0x10 => "Die",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

//! Memory totals from `/proc/meminfo`; the modules come from the SMBIOS table (see `smbios.rs`).
//!
//! Layout: [`parse_meminfo`] (pure) reads `MemTotal` and `SwapTotal`, which the kernel prints in KiB
//! (labelled "kB"), and returns bytes. `MemTotal` is what the kernel manages, a little less than the
//! installed modules' sum (firmware and kernel reservations).

use census_shared::inventory::Memory;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeminfoError {
    #[error("/proc/meminfo has no MemTotal line")]
    NoTotal,
    #[error("/proc/meminfo line {line:?} is not `Key: <number> kB`")]
    BadLine { line: String },
}

pub fn parse_meminfo(text: &str) -> Result<Memory, MeminfoError> {
    let mut memory = Memory::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut memory.total_bytes,
            "SwapTotal" => &mut memory.swap_bytes,
            _ => continue,
        };
        let kib = value
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .map_err(|_| MeminfoError::BadLine {
                line: line.to_string(),
            })?;
        *slot = Some(kib.saturating_mul(1024));
    }
    if memory.total_bytes.is_none() {
        return Err(MeminfoError::NoTotal);
    }
    Ok(memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_machine_meminfo() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/hardware/meminfo/xeon-vm");
        let memory = parse_meminfo(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(memory.total_bytes, Some(24_684_084 * 1024));
        assert_eq!(memory.swap_bytes, Some(0));
        assert!(memory.modules.is_empty());
    }

    #[test]
    fn swap_is_optional_but_total_is_not() {
        let memory = parse_meminfo("MemTotal:        8000000 kB\n").unwrap();
        assert_eq!(memory.total_bytes, Some(8_192_000_000));
        assert_eq!(memory.swap_bytes, None);
        assert_eq!(
            parse_meminfo("SwapTotal: 0 kB\n"),
            Err(MeminfoError::NoTotal)
        );
        assert_eq!(
            parse_meminfo("MemTotal: lots kB\n"),
            Err(MeminfoError::BadLine {
                line: "MemTotal: lots kB".into()
            })
        );
    }
}

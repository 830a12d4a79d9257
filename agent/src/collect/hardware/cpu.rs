//! Processor: model, vendor, topology and frequency from `/proc/cpuinfo` and `/sys/devices/system/cpu`.
//!
//! Layout: [`parse_cpuinfo`] (pure) understands x86 blocks (`model name`, `vendor_id`, `physical id`,
//! `core id` ...) and arm64 blocks (`CPU implementer`/`CPU part` codes, named with [`arm_names`]);
//! [`Topology::from_pairs`] counts sockets and cores from sysfs `(physical_package_id, core_id)` pairs,
//! which win over cpuinfo (arm64 cpuinfo has no topology at all). [`read`] is the thin reader.
//! Limitation: offline CPUs have no topology directory and are not counted.

use crate::collect::Root;
use census_shared::inventory::{Cpu, clean};
use std::collections::BTreeSet;

/// What `/proc/cpuinfo` says.
#[derive(Debug, Default, PartialEq)]
pub struct CpuInfo {
    pub cpu: Cpu,
    /// `(physical id, core id)` per logical CPU, when the blocks carry them (x86).
    pub pairs: Vec<(i64, i64)>,
    /// Highest `cpu MHz` seen (x86); a fallback for the maximum frequency.
    pub max_current_mhz: Option<f64>,
}

pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let mut logical = 0u32;
    let mut arm_parts: Vec<(u32, u32)> = Vec::new();
    for block in text.split("\n\n") {
        let mut physical_id = None;
        let mut core_id = None;
        let mut implementer = None;
        let mut part = None;
        let mut is_processor = false;
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            let first = |slot: &mut Option<String>| {
                if slot.is_none() {
                    *slot = clean(value);
                }
            };
            match key {
                "processor" => is_processor = value.parse::<u32>().is_ok(),
                "model name" => first(&mut info.cpu.model),
                "vendor_id" => first(&mut info.cpu.vendor),
                "microcode" => first(&mut info.cpu.microcode),
                "cpu family" => info.cpu.family = info.cpu.family.or(value.parse().ok()),
                "model" => info.cpu.model_number = info.cpu.model_number.or(value.parse().ok()),
                "stepping" => info.cpu.stepping = info.cpu.stepping.or(value.parse().ok()),
                "physical id" => physical_id = value.parse().ok(),
                "core id" => core_id = value.parse().ok(),
                "cpu MHz" => {
                    if let Ok(mhz) = value.parse::<f64>() {
                        info.max_current_mhz =
                            Some(info.max_current_mhz.map_or(mhz, |m| m.max(mhz)));
                    }
                }
                "CPU implementer" => implementer = parse_hex(value),
                "CPU part" => part = parse_hex(value),
                _ => {}
            }
        }
        if !is_processor {
            continue;
        }
        logical += 1;
        if let (Some(physical), Some(core)) = (physical_id, core_id) {
            info.pairs.push((physical, core));
        }
        if let (Some(implementer), Some(part)) = (implementer, part)
            && !arm_parts.contains(&(implementer, part))
        {
            arm_parts.push((implementer, part));
        }
    }
    info.cpu.logical_cpus = (logical > 0).then_some(logical);
    if info.cpu.model.is_none() && !arm_parts.is_empty() {
        // big.LITTLE parts list every core kind: "Cortex-A76, Cortex-A55".
        let (implementer, _) = arm_parts[0];
        let (vendor, _) = arm_names(implementer, 0);
        info.cpu.vendor = info.cpu.vendor.take().or(vendor.map(str::to_string));
        let names: Vec<&str> = arm_parts
            .iter()
            .filter_map(|&(implementer, part)| arm_names(implementer, part).1)
            .collect();
        info.cpu.model = (!names.is_empty()).then(|| names.join(", "));
    }
    if !info.pairs.is_empty() {
        let topology = Topology::from_pairs(&info.pairs);
        info.cpu.sockets = Some(topology.sockets);
        info.cpu.physical_cores = Some(topology.cores);
    }
    info
}

fn parse_hex(value: &str) -> Option<u32> {
    u32::from_str_radix(value.trim_start_matches("0x"), 16).ok()
}

/// Implementer name and part name for arm64 `CPU implementer` / `CPU part` codes (the common ones, as
/// util-linux `lscpu-arm.c` names them).
pub fn arm_names(implementer: u32, part: u32) -> (Option<&'static str>, Option<&'static str>) {
    let vendor = match implementer {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x48 => "HiSilicon",
        0x4E => "NVIDIA",
        0x50 => "APM",
        0x51 => "Qualcomm",
        0x53 => "Samsung",
        0x61 => "Apple",
        0xC0 => "Ampere",
        _ => return (None, None),
    };
    let part = match (implementer, part) {
        (0x41, 0xD03) => "Cortex-A53",
        (0x41, 0xD04) => "Cortex-A35",
        (0x41, 0xD05) => "Cortex-A55",
        (0x41, 0xD07) => "Cortex-A57",
        (0x41, 0xD08) => "Cortex-A72",
        (0x41, 0xD09) => "Cortex-A73",
        (0x41, 0xD0A) => "Cortex-A75",
        (0x41, 0xD0B) => "Cortex-A76",
        (0x41, 0xD0C) => "Neoverse-N1",
        (0x41, 0xD0D) => "Cortex-A77",
        (0x41, 0xD40) => "Neoverse-V1",
        (0x41, 0xD41) => "Cortex-A78",
        (0x41, 0xD44) => "Cortex-X1",
        (0x41, 0xD46) => "Cortex-A510",
        (0x41, 0xD47) => "Cortex-A710",
        (0x41, 0xD48) => "Cortex-X2",
        (0x41, 0xD49) => "Neoverse-N2",
        (0x41, 0xD4F) => "Neoverse-V2",
        (0x61, 0x022) => "M1 Icestorm",
        (0x61, 0x023) => "M1 Firestorm",
        (0x61, 0x032) => "M2 Blizzard",
        (0x61, 0x033) => "M2 Avalanche",
        (0xC0, 0xAC3) => "Ampere-1",
        (0xC0, 0xAC4) => "Ampere-1a",
        (0x51, 0x800) => "Kryo 2XX Gold",
        (0x51, 0x801) => "Kryo 2XX Silver",
        (0x51, 0x802) => "Kryo 3XX Gold",
        (0x51, 0x803) => "Kryo 3XX Silver",
        (0x51, 0x804) => "Kryo 4XX Gold",
        (0x51, 0x805) => "Kryo 4XX Silver",
        (0x51, 0xC00) => "Falkor",
        _ => return (Some(vendor), None),
    };
    (Some(vendor), Some(part))
}

/// Sockets and physical cores counted from `(package, core)` pairs.
#[derive(Debug, PartialEq)]
pub struct Topology {
    pub sockets: u32,
    pub cores: u32,
}

impl Topology {
    pub fn from_pairs(pairs: &[(i64, i64)]) -> Self {
        let sockets: BTreeSet<i64> = pairs.iter().map(|&(package, _)| package).collect();
        let cores: BTreeSet<&(i64, i64)> = pairs.iter().collect();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Topology {
            sockets: count(sockets.len()),
            cores: count(cores.len()),
        }
    }
}

/// Reads cpuinfo, then sysfs topology and cpufreq; `Err` only when `/proc/cpuinfo` is unreadable.
pub fn read(root: &Root) -> Result<Cpu, crate::collect::ReadError> {
    let text = root.read_to_string("/proc/cpuinfo")?;
    let info = parse_cpuinfo(&text);
    let mut cpu = info.cpu;
    let mut pairs = Vec::new();
    let cpus = root.list_dir("/sys/devices/system/cpu").unwrap_or_default();
    for name in cpus.iter().filter(|name| {
        name.strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }) {
        let value = |file: &str| {
            root.read_value(&format!("/sys/devices/system/cpu/{name}/topology/{file}"))
                .and_then(|v| v.parse::<i64>().ok())
        };
        if let (Some(package), Some(core)) = (value("physical_package_id"), value("core_id")) {
            pairs.push((package, core));
        }
    }
    if !pairs.is_empty() {
        let topology = Topology::from_pairs(&pairs);
        cpu.sockets = Some(topology.sockets);
        cpu.physical_cores = Some(topology.cores);
    }
    let max_khz = root
        .read_value("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        .and_then(|khz| khz.parse::<u64>().ok());
    cpu.max_mhz = match max_khz {
        Some(khz) => u32::try_from(khz / 1000).ok(),
        // `as` saturates; cpuinfo MHz values are small positive numbers anyway.
        None => info.max_current_mhz.map(|mhz| mhz.round() as u32),
    };
    Ok(cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/hardware/cpuinfo")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn x86_vm_cpuinfo_copied_from_the_build_machine() {
        let info = parse_cpuinfo(&testdata("x86-xeon-vm"));
        assert_eq!(
            info.cpu.model.as_deref(),
            Some("Intel(R) Xeon(R) Processor")
        );
        assert_eq!(info.cpu.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(info.cpu.family, Some(6));
        assert_eq!(info.cpu.model_number, Some(167));
        assert_eq!(info.cpu.stepping, Some(1));
        assert_eq!(info.cpu.microcode.as_deref(), Some("0x1"));
        assert_eq!(info.cpu.logical_cpus, Some(2));
        assert_eq!(info.cpu.sockets, Some(1));
        assert_eq!(info.cpu.physical_cores, Some(2));
        assert_eq!(info.max_current_mhz, Some(2599.998));
    }

    #[test]
    fn x86_two_socket_server_with_hyperthreading() {
        let info = parse_cpuinfo(&testdata("x86-2socket-xeon-silver"));
        assert_eq!(
            info.cpu.model.as_deref(),
            Some("Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz")
        );
        assert_eq!(info.cpu.logical_cpus, Some(32));
        assert_eq!(info.cpu.sockets, Some(2));
        assert_eq!(info.cpu.physical_cores, Some(16));
        assert_eq!(info.cpu.model_number, Some(85));
    }

    #[test]
    fn arm64_raspberry_pi_is_named_from_part_codes() {
        let info = parse_cpuinfo(&testdata("arm64-raspberry-pi-4"));
        assert_eq!(info.cpu.vendor.as_deref(), Some("ARM"));
        assert_eq!(info.cpu.model.as_deref(), Some("Cortex-A72"));
        assert_eq!(info.cpu.logical_cpus, Some(4));
        // arm64 cpuinfo carries no topology: sockets come from sysfs only.
        assert_eq!(info.cpu.sockets, None);
        assert_eq!(info.max_current_mhz, None);
    }

    #[test]
    fn arm64_big_little_lists_each_core_kind() {
        let text = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd05\n\n\
                    processor\t: 1\nCPU implementer\t: 0x41\nCPU part\t: 0xd05\n\n\
                    processor\t: 2\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n";
        let info = parse_cpuinfo(text);
        assert_eq!(info.cpu.model.as_deref(), Some("Cortex-A55, Cortex-A76"));
        assert_eq!(info.cpu.logical_cpus, Some(3));
        assert_eq!(arm_names(0x41, 0xD0C), (Some("ARM"), Some("Neoverse-N1")));
        assert_eq!(arm_names(0xC0, 0xFFF), (Some("Ampere"), None));
        assert_eq!(arm_names(0x99, 0x1), (None, None));
    }

    #[test]
    fn empty_cpuinfo_gives_unknowns() {
        assert_eq!(parse_cpuinfo(""), CpuInfo::default());
    }

    #[test]
    fn topology_counts_distinct_packages_and_cores() {
        let pairs = [(0, 0), (0, 0), (0, 1), (1, 0), (1, 0), (1, 1)];
        assert_eq!(
            Topology::from_pairs(&pairs),
            Topology {
                sockets: 2,
                cores: 4
            }
        );
    }
}

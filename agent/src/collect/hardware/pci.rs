//! PCI devices from `/sys/bus/pci/devices/*`, named from the `pci.ids` database when the root has one.
//!
//! Layout: [`read`] reads each device's `class`, `vendor`, `device`, `subsystem_*`, `revision` and its
//! `driver` link; [`lookup_names`] (pure) streams `pci.ids` once, keeping only the names of the ids it
//! was asked for (the file is 1.3 MB; a full map would cost far more memory and time than the few dozen
//! names a machine needs). Class names are the subclass's (`SATA controller`), as `lspci` prints them.

use crate::collect::Root;
use census_shared::inventory::PciDevice;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

const PCI_IDS: &[&str] = &["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"];

/// Ids to name, and the names found. Keys are lowercase hex as `pci.ids` writes them.
#[derive(Debug, Default, PartialEq)]
pub struct Names {
    pub vendors: BTreeMap<String, String>,
    pub devices: BTreeMap<(String, String), String>,
    /// `(class, subclass)` -> subclass name; `(class, "")` -> class name.
    pub classes: BTreeMap<(String, String), String>,
}

/// Streams a `pci.ids` file and returns the names of the wanted vendors, devices and classes.
pub fn lookup_names(
    ids: impl BufRead,
    vendors: &BTreeSet<String>,
    devices: &BTreeSet<(String, String)>,
    classes: &BTreeSet<(String, String)>,
) -> Names {
    let mut names = Names::default();
    // The vendor or class block we are in, when it is one we care about.
    let mut vendor: Option<String> = None;
    let mut class: Option<String> = None;
    for line in ids.split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let depth = line.bytes().take_while(|&b| b == b'\t').count();
        let entry = &line[depth..];
        let Some((id, name)) = entry.split_once("  ") else {
            continue;
        };
        let name = name.trim().to_string();
        match depth {
            0 if id.starts_with("C ") => {
                vendor = None;
                let code = id[2..].trim().to_ascii_lowercase();
                let wanted = classes.iter().any(|(c, _)| *c == code);
                if wanted {
                    names.classes.insert((code.clone(), String::new()), name);
                }
                class = wanted.then_some(code);
            }
            0 => {
                class = None;
                let code = id.to_ascii_lowercase();
                // A line of another section (`X 00`, `L ...`) is not a 4-digit vendor: ignore it.
                vendor = (vendors.contains(&code)).then_some(code);
                if let Some(code) = &vendor {
                    names.vendors.insert(code.clone(), name);
                }
            }
            1 => {
                let code = id.to_ascii_lowercase();
                if let Some(v) = &vendor {
                    let key = (v.clone(), code);
                    if devices.contains(&key) {
                        names.devices.insert(key, name);
                    }
                } else if let Some(c) = &class {
                    let key = (c.clone(), code);
                    if classes.contains(&key) {
                        names.classes.insert(key, name);
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// `0x8086\n` -> `8086`: sysfs prints ids with a `0x` prefix.
fn hex_id(value: Option<String>, digits: usize) -> Option<String> {
    let value = value?;
    let hex = value.trim().trim_start_matches("0x").to_ascii_lowercase();
    (hex.len() >= digits && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex[..digits].to_string())
}

pub fn read(root: &Root) -> Result<Vec<PciDevice>, crate::collect::ReadError> {
    let slots = root.list_dir("/sys/bus/pci/devices")?;
    let mut devices: Vec<PciDevice> = slots
        .iter()
        .map(|slot| {
            let dir = format!("/sys/bus/pci/devices/{slot}");
            let value = |file: &str| root.read_value(&format!("{dir}/{file}"));
            let subsystem = match (
                hex_id(value("subsystem_vendor"), 4),
                hex_id(value("subsystem_device"), 4),
            ) {
                (Some(v), Some(d)) if v != "0000" => Some(format!("{v}:{d}")),
                _ => None,
            };
            PciDevice {
                slot: slot.clone(),
                class_id: hex_id(value("class"), 4),
                vendor_id: hex_id(value("vendor"), 4),
                device_id: hex_id(value("device"), 4),
                subsystem_id: subsystem,
                revision: hex_id(value("revision"), 2),
                driver: root
                    .read_link(&format!("{dir}/driver"))
                    .and_then(|target| Some(target.file_name()?.to_string_lossy().into_owned())),
                ..PciDevice::default()
            }
        })
        .collect();
    name_devices(root, &mut devices);
    Ok(devices)
}

fn name_devices(root: &Root, devices: &mut [PciDevice]) {
    let Some(file) = PCI_IDS
        .iter()
        .find_map(|path| std::fs::File::open(root.path(path)).ok())
    else {
        return;
    };
    let vendors: BTreeSet<String> = devices.iter().filter_map(|d| d.vendor_id.clone()).collect();
    let pairs: BTreeSet<(String, String)> = devices
        .iter()
        .filter_map(|d| Some((d.vendor_id.clone()?, d.device_id.clone()?)))
        .collect();
    let classes: BTreeSet<(String, String)> = devices
        .iter()
        .filter_map(|d| {
            d.class_id
                .as_ref()
                .map(|c| (c[..2].to_string(), c[2..].to_string()))
        })
        .collect();
    let names = lookup_names(std::io::BufReader::new(file), &vendors, &pairs, &classes);
    for device in devices {
        if let Some(vendor) = &device.vendor_id {
            device.vendor = names.vendors.get(vendor).cloned();
            if let Some(id) = &device.device_id {
                device.device = names.devices.get(&(vendor.clone(), id.clone())).cloned();
            }
        }
        if let Some(class) = &device.class_id {
            let (base, sub) = (class[..2].to_string(), class[2..].to_string());
            device.class_name = names
                .classes
                .get(&(base.clone(), sub))
                .or_else(|| names.classes.get(&(base, String::new())))
                .cloned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &str = "# comment\n\
        8086  Intel Corporation\n\
        \t1521  I350 Gigabit Network Connection\n\
        \t\t1028 1f60  Gigabit 4P I350-t rNDC\n\
        \t1572  Ethernet Controller X710 for 10GbE SFP+\n\
        1af4  Red Hat, Inc.\n\
        \t1042  Virtio 1.0 block device\n\
        C 01  Mass storage controller\n\
        \t06  SATA controller\n\
        \t\t01  AHCI 1.0\n\
        C 02  Network controller\n\
        \t00  Ethernet controller\n\
        \t80  Network controller\n";

    fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
        items.iter().cloned().collect()
    }

    #[test]
    fn only_wanted_names_are_kept() {
        let names = lookup_names(
            IDS.as_bytes(),
            &set(&["8086".to_string()]),
            &set(&[("8086".to_string(), "1572".to_string())]),
            &set(&[("02".to_string(), "00".to_string())]),
        );
        assert_eq!(names.vendors.len(), 1);
        assert_eq!(names.vendors["8086"], "Intel Corporation");
        assert_eq!(
            names.devices[&("8086".to_string(), "1572".to_string())],
            "Ethernet Controller X710 for 10GbE SFP+"
        );
        assert_eq!(names.devices.len(), 1, "subsystem lines are not devices");
        assert_eq!(
            names.classes[&("02".to_string(), "00".to_string())],
            "Ethernet controller"
        );
        assert_eq!(
            names.classes[&("02".to_string(), String::new())],
            "Network controller"
        );
        assert!(
            !names
                .classes
                .contains_key(&("02".to_string(), "80".to_string()))
        );
    }

    #[test]
    fn garbage_lines_are_ignored() {
        let names = lookup_names(
            "\u{0}\u{1}garbage\n\t\t\tdeep  x\nzz\n".as_bytes(),
            &set(&["8086".to_string()]),
            &BTreeSet::new(),
            &BTreeSet::new(),
        );
        assert_eq!(names, Names::default());
    }

    #[test]
    fn sysfs_ids_lose_their_prefix() {
        assert_eq!(hex_id(Some("0x060000".into()), 4).as_deref(), Some("0600"));
        assert_eq!(hex_id(Some("0x8086".into()), 4).as_deref(), Some("8086"));
        assert_eq!(hex_id(Some("0x01".into()), 2).as_deref(), Some("01"));
        assert_eq!(hex_id(Some("bogus".into()), 4), None);
        assert_eq!(hex_id(None, 4), None);
    }
}

//! Machine identity from the kernel's DMI attributes, `/sys/class/dmi/id/*`.
//!
//! Layout: [`read`] reads each attribute file once into a [`DmiSysfs`]; [`meaningful`] and
//! [`serial_number`] turn firmware placeholders ("To Be Filled By O.E.M.", "Not Specified", "0000") into
//! `None`; [`chassis_type_name`] maps the SMBIOS chassis code to its name (shared with the raw table parser).
//!
//! The serial and UUID files are mode 0400 (root only): their paths are kept in `denied` so the caller
//! records one error, not one per file. Limitation: arm64 boards without SMBIOS (device tree only) have no
//! `/sys/class/dmi` at all; their identity is left null here.

use crate::collect::Root;
use census_shared::inventory::{Baseboard, Bios, Chassis, System, clean};
use std::io;

pub const DMI_DIR: &str = "/sys/class/dmi/id";

/// What `/sys/class/dmi/id` held.
#[derive(Debug, Default, PartialEq)]
pub struct DmiSysfs {
    /// False when the directory does not exist (container without /sys/class/dmi, non-SMBIOS platform).
    pub present: bool,
    pub system: System,
    pub bios: Bios,
    pub baseboard: Baseboard,
    pub chassis: Chassis,
    /// Attribute files that exist but could not be read for lack of privilege.
    pub denied: Vec<String>,
}

pub fn read(root: &Root) -> DmiSysfs {
    let mut dmi = DmiSysfs {
        present: root.path(DMI_DIR).is_dir(),
        ..DmiSysfs::default()
    };
    if !dmi.present {
        return dmi;
    }
    let mut attribute = |name: &str| -> Option<String> {
        let path = format!("{DMI_DIR}/{name}");
        match std::fs::read(root.path(&path)) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                dmi.denied.push(path);
                None
            }
            Err(_) => None,
        }
    };
    let text = |value: Option<String>| value.as_deref().and_then(meaningful);
    let serial = |value: Option<String>| value.as_deref().and_then(serial_number);
    let system = System {
        vendor: text(attribute("sys_vendor")),
        product: text(attribute("product_name")),
        version: text(attribute("product_version")),
        serial: serial(attribute("product_serial")),
        uuid: attribute("product_uuid")
            .as_deref()
            .and_then(clean)
            .map(|uuid| uuid.to_ascii_lowercase())
            .filter(|uuid| uuid.chars().any(|c| c != '0' && c != '-' && c != 'f')),
        sku: text(attribute("product_sku")),
        family: text(attribute("product_family")),
        chassis_type: None,
    };
    let bios = Bios {
        vendor: text(attribute("bios_vendor")),
        version: text(attribute("bios_version")),
        date: text(attribute("bios_date")),
        release: text(attribute("bios_release")),
    };
    let baseboard = Baseboard {
        vendor: text(attribute("board_vendor")),
        product: text(attribute("board_name")),
        version: text(attribute("board_version")),
        serial: serial(attribute("board_serial")),
        asset_tag: text(attribute("board_asset_tag")),
    };
    let chassis = Chassis {
        vendor: text(attribute("chassis_vendor")),
        chassis_type: attribute("chassis_type")
            .and_then(|code| code.trim().parse::<u8>().ok())
            .and_then(|code| chassis_type_name(code & 0x7F))
            .map(str::to_string),
        serial: serial(attribute("chassis_serial")),
        asset_tag: text(attribute("chassis_asset_tag")),
    };
    dmi.system = System {
        chassis_type: chassis.chassis_type.clone(),
        ..system
    };
    dmi.bios = bios;
    dmi.baseboard = baseboard;
    dmi.chassis = chassis;
    dmi
}

/// Values firmware writes when the vendor filled nothing in; they identify nothing.
const PLACEHOLDERS: &[&str] = &[
    "not specified",
    "not applicable",
    "not available",
    "not present",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "n/a",
    "none",
    "unknown",
    "system serial number",
    "system product name",
    "system manufacturer",
    "system version",
    "chassis serial number",
    "base board serial number",
    "o.e.m.",
    "no asset information",
    "no asset tag",
];

/// A trimmed value, or `None` when blank or a known firmware placeholder.
pub fn meaningful(value: &str) -> Option<String> {
    let value = clean(value)?;
    let lower = value.to_ascii_lowercase();
    (!PLACEHOLDERS.contains(&lower.as_str())).then_some(value)
}

/// As [`meaningful`], and a serial made only of zeros (or spaces/dashes) is no serial either.
pub fn serial_number(value: &str) -> Option<String> {
    meaningful(value).filter(|serial| serial.chars().any(|c| !matches!(c, '0' | ' ' | '-')))
}

/// SMBIOS 3.7 table 17, system enclosure or chassis types; `None` for reserved codes.
pub fn chassis_type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "Other",
        0x02 => "Unknown",
        0x03 => "Desktop",
        0x04 => "Low Profile Desktop",
        0x05 => "Pizza Box",
        0x06 => "Mini Tower",
        0x07 => "Tower",
        0x08 => "Portable",
        0x09 => "Laptop",
        0x0A => "Notebook",
        0x0B => "Hand Held",
        0x0C => "Docking Station",
        0x0D => "All in One",
        0x0E => "Sub Notebook",
        0x0F => "Space-saving",
        0x10 => "Lunch Box",
        0x11 => "Main Server Chassis",
        0x12 => "Expansion Chassis",
        0x13 => "SubChassis",
        0x14 => "Bus Expansion Chassis",
        0x15 => "Peripheral Chassis",
        0x16 => "RAID Chassis",
        0x17 => "Rack Mount Chassis",
        0x18 => "Sealed-case PC",
        0x19 => "Multi-system chassis",
        0x1A => "Compact PCI",
        0x1B => "Advanced TCA",
        0x1C => "Blade",
        0x1D => "Blade Enclosure",
        0x1E => "Tablet",
        0x1F => "Convertible",
        0x20 => "Detachable",
        0x21 => "IoT Gateway",
        0x22 => "Embedded PC",
        0x23 => "Mini PC",
        0x24 => "Stick PC",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_unknown_values() {
        assert_eq!(meaningful("To Be Filled By O.E.M.\n"), None);
        assert_eq!(meaningful("Not Specified"), None);
        assert_eq!(meaningful("  "), None);
        assert_eq!(meaningful("Dell Inc.\n"), Some("Dell Inc.".to_string()));
        assert_eq!(serial_number("00000000"), None);
        assert_eq!(serial_number("0000-0000"), None);
        assert_eq!(
            serial_number("CN7016385B0012"),
            Some("CN7016385B0012".into())
        );
    }

    #[test]
    fn chassis_codes_map_to_smbios_names() {
        assert_eq!(chassis_type_name(23), Some("Rack Mount Chassis"));
        assert_eq!(chassis_type_name(10), Some("Notebook"));
        assert_eq!(chassis_type_name(1), Some("Other"));
        assert_eq!(chassis_type_name(0), None);
        assert_eq!(chassis_type_name(0x7F), None);
    }

    #[test]
    fn a_root_without_dmi_reports_absent() {
        let dir = tempfile::tempdir().unwrap();
        let dmi = read(&Root::new(dir.path()));
        assert!(!dmi.present);
        assert_eq!(dmi.system, System::default());
    }

    #[test]
    fn attributes_are_read_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&id).unwrap();
        for (name, value) in [
            ("sys_vendor", "LENOVO\n"),
            ("product_name", "20XW0055GE\n"),
            ("product_serial", "PF2ABCDE\n"),
            ("product_uuid", "4C4C4544-0042-3610-8052-B4C04F4A3532\n"),
            ("board_serial", "Not Specified\n"),
            ("chassis_type", "10\n"),
        ] {
            std::fs::write(id.join(name), value).unwrap();
        }
        let dmi = read(&Root::new(dir.path()));
        assert!(dmi.present);
        assert_eq!(dmi.system.vendor.as_deref(), Some("LENOVO"));
        assert_eq!(dmi.system.serial.as_deref(), Some("PF2ABCDE"));
        assert_eq!(
            dmi.system.uuid.as_deref(),
            Some("4c4c4544-0042-3610-8052-b4c04f4a3532")
        );
        assert_eq!(dmi.baseboard.serial, None);
        assert_eq!(dmi.system.chassis_type.as_deref(), Some("Notebook"));
        assert!(dmi.denied.is_empty());
    }
}

//! Hardware inventory: identity (DMI/SMBIOS), CPU, memory, disks, PCI and USB devices, batteries.
//!
//! Layout: one submodule per concern, each a pure parser plus a thin reader taking a [`Root`]:
//! [`dmi`] (`/sys/class/dmi/id`), [`smbios`] (the raw table, for what sysfs lacks: serials and memory
//! modules), [`cpu`], [`memory`], [`disk`], [`pci`], [`usb`], [`battery`]. [`collect`] merges them: sysfs
//! DMI values first, then the raw table fills the gaps.
//!
//! Errors are per subsection, never per attribute file: a container without `/sys/class/dmi` gets one
//! `hardware.system` error; an agent not running as root gets one `hardware.system.serial` error (the
//! serial and UUID files are mode 0400) and one `hardware.memory.modules` error (the raw table is 0400).
//! A machine without a USB bus or power supplies simply has none: that is not an error.
//! Every file is read once and nothing is spawned, so the whole section takes a few milliseconds.

pub mod battery;
pub mod cpu;
pub mod disk;
pub mod dmi;
pub mod memory;
pub mod pci;
pub mod smbios;
#[cfg(test)]
mod smbios_builder;
pub mod usb;

pub use smbios::{SmbiosError, SmbiosInfo, parse_smbios};

use super::{Errors, ReadError, Root};
use census_shared::inventory::*;
use dmi::DmiSysfs;
use smbios::TableError;

pub fn collect(root: &Root, errors: &mut Errors) -> Hardware {
    let dmi = dmi::read(root);
    let table = smbios::read(root);
    let mut hardware = Hardware::default();
    merge_identity(&mut hardware, dmi, &table, errors);

    match cpu::read(root) {
        Ok(cpu) => hardware.cpu = cpu,
        Err(error) => errors.record("hardware.cpu", error),
    }
    if hardware.cpu.sockets.is_none() {
        hardware.cpu.sockets = table.as_ref().ok().and_then(SmbiosInfo::populated_sockets);
    }

    match root.read_to_string("/proc/meminfo") {
        Ok(text) => match memory::parse_meminfo(&text) {
            Ok(memory) => hardware.memory = memory,
            Err(error) => errors.record("hardware.memory", error),
        },
        Err(error) => errors.record("hardware.memory", error),
    }
    if let Ok(info) = table {
        hardware.memory.modules = info.modules;
    }

    match disk::read(root) {
        Ok(disks) => hardware.disks = disks,
        Err(error) => errors.record("hardware.disks", error),
    }
    hardware.pci_devices = optional_bus(pci::read(root), "hardware.pci_devices", errors);
    hardware.usb_devices = optional_bus(usb::read(root), "hardware.usb_devices", errors);
    hardware.batteries = optional_bus(battery::read(root), "hardware.batteries", errors);
    hardware
}

/// A bus directory that does not exist means the machine has no such bus; other failures are errors.
fn optional_bus<T>(
    result: Result<Vec<T>, ReadError>,
    section: &str,
    errors: &mut Errors,
) -> Vec<T> {
    match result {
        Ok(items) => items,
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => {
            errors.record(section, error);
            Vec::new()
        }
    }
}

/// Fills system, BIOS, baseboard and chassis from sysfs then the raw table, and records what is missing.
fn merge_identity(
    hardware: &mut Hardware,
    dmi: DmiSysfs,
    table: &Result<SmbiosInfo, TableError>,
    errors: &mut Errors,
) {
    let info = table.as_ref().ok();
    if !dmi.present && info.is_none() {
        errors.record(
            "hardware.system",
            format!(
                "no DMI data: {} does not exist (container or non-SMBIOS platform)",
                dmi::DMI_DIR
            ),
        );
        return;
    }
    if let Err(error) = table {
        errors.record("hardware.memory.modules", error);
    }
    if !dmi.denied.is_empty() && info.is_none() {
        errors.record(
            "hardware.system.serial",
            format!(
                "reading {} needs root (permission denied); serial numbers and the system UUID stay null \
                 until the agent runs as root",
                dmi.denied.join(", ")
            ),
        );
    }
    let empty = SmbiosInfo::default();
    let raw = info.unwrap_or(&empty);
    let (s, b, bb, c) = (dmi.system, dmi.bios, dmi.baseboard, dmi.chassis);
    hardware.system = System {
        vendor: s.vendor.or_else(|| raw.system.vendor.clone()),
        product: s.product.or_else(|| raw.system.product.clone()),
        version: s.version.or_else(|| raw.system.version.clone()),
        serial: s.serial.or_else(|| raw.system.serial.clone()),
        uuid: s.uuid.or_else(|| raw.system.uuid.clone()),
        sku: s.sku.or_else(|| raw.system.sku.clone()),
        family: s.family.or_else(|| raw.system.family.clone()),
        chassis_type: s.chassis_type.or_else(|| raw.system.chassis_type.clone()),
    };
    hardware.bios = Bios {
        vendor: b.vendor.or_else(|| raw.bios.vendor.clone()),
        version: b.version.or_else(|| raw.bios.version.clone()),
        date: b.date.or_else(|| raw.bios.date.clone()),
        release: b.release.or_else(|| raw.bios.release.clone()),
    };
    hardware.baseboard = Baseboard {
        vendor: bb.vendor.or_else(|| raw.baseboard.vendor.clone()),
        product: bb.product.or_else(|| raw.baseboard.product.clone()),
        version: bb.version.or_else(|| raw.baseboard.version.clone()),
        serial: bb.serial.or_else(|| raw.baseboard.serial.clone()),
        asset_tag: bb.asset_tag.or_else(|| raw.baseboard.asset_tag.clone()),
    };
    hardware.chassis = Chassis {
        vendor: c.vendor.or_else(|| raw.chassis.vendor.clone()),
        chassis_type: c.chassis_type.or_else(|| raw.chassis.chassis_type.clone()),
        serial: c.serial.or_else(|| raw.chassis.serial.clone()),
        asset_tag: c.asset_tag.or_else(|| raw.chassis.asset_tag.clone()),
    };
}

#[cfg(test)]
mod tests;

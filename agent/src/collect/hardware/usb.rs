//! USB devices from `/sys/bus/usb/devices/*`.
//!
//! The directory mixes devices (`1-2`, `1-2.3`), interfaces (`1-2:1.0`) and root hubs (`usb1`). Only
//! devices carry `idVendor`; root hubs are the host controller's built-in hub (vendor 1d6b, Linux
//! Foundation), already inventoried as the PCI controller, so they are left out.

use crate::collect::Root;
use census_shared::inventory::UsbDevice;

/// True for a USB device entry (not an interface, not a root hub).
pub fn is_device_entry(name: &str) -> bool {
    !name.starts_with("usb") && !name.contains(':')
}

pub fn read(root: &Root) -> Result<Vec<UsbDevice>, crate::collect::ReadError> {
    let names = root.list_dir("/sys/bus/usb/devices")?;
    Ok(names
        .iter()
        .filter(|name| is_device_entry(name))
        .filter_map(|name| {
            let dir = format!("/sys/bus/usb/devices/{name}");
            let value = |file: &str| root.read_value(&format!("{dir}/{file}"));
            let vendor_id = value("idVendor")?.to_ascii_lowercase();
            Some(UsbDevice {
                bus_path: name.clone(),
                vendor_id: Some(vendor_id),
                product_id: value("idProduct").map(|id| id.to_ascii_lowercase()),
                manufacturer: value("manufacturer"),
                product: value("product"),
                serial: value("serial").and_then(|s| super::dmi::serial_number(&s)),
                class_id: value("bDeviceClass"),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_and_root_hubs_are_not_devices() {
        assert!(is_device_entry("1-2"));
        assert!(is_device_entry("3-1.4.2"));
        assert!(!is_device_entry("1-2:1.0"));
        assert!(!is_device_entry("usb1"));
    }
}

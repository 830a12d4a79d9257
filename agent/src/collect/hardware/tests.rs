//! `collect` on the fixture machines under `tests/fixtures/`, and the error rules of `merge_identity`.

use super::*;
use std::io;

fn fixture(name: &str) -> Root {
    Root::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name),
    )
}

fn collect_fixture(name: &str) -> (Hardware, Vec<CollectionError>) {
    let mut errors = Errors::default();
    let hardware = collect(&fixture(name), &mut errors);
    (hardware, errors.into_vec())
}

fn s(value: &str) -> Option<String> {
    Some(value.to_string())
}

#[test]
fn debian_dell_r640_exact_values() {
    let (hw, errors) = collect_fixture("debian");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        hw.system,
        System {
            vendor: s("Dell Inc."),
            product: s("PowerEdge R640"),
            version: None,
            serial: s("7XK9PQ2"),
            uuid: s("4c4c4544-0037-5810-804b-b9c04f505132"),
            sku: s("SKU=NotProvided;ModelName=PowerEdge R640"),
            family: s("PowerEdge"),
            chassis_type: s("Rack Mount Chassis"),
        }
    );
    assert_eq!(
        hw.bios,
        Bios {
            vendor: s("Dell Inc."),
            version: s("2.19.1"),
            date: s("06/04/2023"),
            release: s("2.19"),
        }
    );
    assert_eq!(
        hw.baseboard,
        Baseboard {
            vendor: s("Dell Inc."),
            product: s("0H28RR"),
            version: s("A06"),
            serial: s(".7XK9PQ2.CNFCP0099T00EN."),
            asset_tag: None,
        }
    );
    assert_eq!(hw.chassis.serial.as_deref(), Some("7XK9PQ2"));
    assert_eq!(
        hw.cpu,
        Cpu {
            model: s("Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz"),
            vendor: s("GenuineIntel"),
            sockets: Some(2),
            physical_cores: Some(16),
            logical_cpus: Some(32),
            max_mhz: Some(3000),
            family: Some(6),
            model_number: Some(85),
            stepping: Some(4),
            microcode: s("0x2007006"),
        }
    );
    assert_eq!(hw.memory.total_bytes, Some(65_524_880 * 1024));
    assert_eq!(hw.memory.swap_bytes, Some(8_388_604 * 1024));
    let slots: Vec<_> = hw.memory.modules.iter().map(|m| m.slot.as_str()).collect();
    assert_eq!(slots, ["A1", "A2", "B1", "B2"]);
    assert_eq!(
        hw.memory.modules[3],
        MemoryModule {
            slot: "B2".into(),
            bank: None,
            size_bytes: Some(16 << 30),
            memory_type: s("DDR4"),
            form_factor: s("DIMM"),
            speed_mts: Some(2666),
            configured_speed_mts: Some(2400),
            vendor: s("00AD063200AD"),
            serial: s("3A2B1C04"),
            part_number: s("HMA82GR7CJR8N-VK"),
        }
    );
    assert_eq!(
        hw.disks,
        [
            Disk {
                name: "nvme0n1".into(),
                model: s("SAMSUNG MZQL21T9HCJR-00A07"),
                vendor: None,
                serial: s("S64GNE0R900123"),
                wwn: s("eui.36344730529001230025384500000001"),
                firmware: s("GDC5602Q"),
                size_bytes: Some(3_750_748_848 * 512),
                rotational: Some(false),
                removable: Some(false),
                transport: s("nvme"),
            },
            Disk {
                name: "sda".into(),
                model: s("INTEL SSDSC2KB48"),
                vendor: None,
                serial: s("PHYF8123004C480BGN"),
                wwn: s("0x55cd2e414f6c6d9e"),
                firmware: s("0132"),
                size_bytes: Some(937_703_088 * 512),
                rotational: Some(false),
                removable: Some(false),
                transport: s("sata"),
            },
            Disk {
                name: "sdb".into(),
                model: s("INTEL SSDSC2KB48"),
                vendor: None,
                serial: s("PHYF8123007H480BGN"),
                wwn: s("0x55cd2e414f6c6da1"),
                firmware: s("0132"),
                size_bytes: Some(937_703_088 * 512),
                rotational: Some(false),
                removable: Some(false),
                transport: s("sata"),
            },
        ]
    );
    assert_eq!(hw.pci_devices.len(), 4);
    let nic = hw
        .pci_devices
        .iter()
        .find(|d| d.slot == "0000:19:00.0")
        .unwrap();
    assert_eq!(
        *nic,
        PciDevice {
            slot: "0000:19:00.0".into(),
            class_id: s("0200"),
            class_name: s("Ethernet controller"),
            vendor_id: s("8086"),
            device_id: s("1572"),
            vendor: s("Intel Corporation"),
            device: s("Ethernet Controller X710 for 10GbE SFP+"),
            subsystem_id: s("8086:0007"),
            revision: s("02"),
            driver: s("i40e"),
        }
    );
    let host_bridge = &hw.pci_devices[0];
    assert_eq!(host_bridge.class_name.as_deref(), Some("Host bridge"));
    assert_eq!(host_bridge.device, None, "not in the pci.ids excerpt");
    assert_eq!(host_bridge.driver, None);
    assert_eq!(
        hw.usb_devices,
        [UsbDevice {
            bus_path: "1-14".into(),
            vendor_id: s("413c"),
            product_id: s("a102"),
            manufacturer: s("Avocent"),
            product: s("Keyboard/Mouse Function"),
            serial: None,
            class_id: s("00"),
        }]
    );
    assert!(hw.batteries.is_empty());
}

#[test]
fn ubuntu_thinkpad_laptop() {
    let (hw, errors) = collect_fixture("ubuntu");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        hw.system.version.as_deref(),
        Some("ThinkPad X1 Carbon Gen 9")
    );
    assert_eq!(hw.system.chassis_type.as_deref(), Some("Notebook"));
    assert_eq!(hw.chassis.asset_tag, None);
    assert_eq!(hw.cpu.sockets, Some(1));
    assert_eq!(hw.cpu.physical_cores, Some(4));
    assert_eq!(hw.cpu.logical_cpus, Some(8));
    assert_eq!(hw.cpu.max_mhz, Some(4700));
    assert_eq!(hw.memory.modules.len(), 2);
    let names: Vec<_> = hw
        .disks
        .iter()
        .map(|d| (d.name.as_str(), d.transport.as_deref()))
        .collect();
    assert_eq!(names, [("nvme0n1", Some("nvme")), ("sda", Some("usb"))]);
    assert_eq!(hw.disks[1].removable, Some(true));
    assert_eq!(hw.disks[1].vendor.as_deref(), Some("SanDisk"));
    let usb: Vec<_> = hw.usb_devices.iter().map(|d| d.bus_path.as_str()).collect();
    assert_eq!(usb, ["2-1", "3-10", "3-3"]);
    assert_eq!(
        hw.batteries,
        [Battery {
            name: "BAT0".into(),
            vendor: s("SMP"),
            model: s("5B10W13975"),
            serial: s("1234"),
            technology: s("Li-poly"),
            design_capacity_wh: Some(57.0),
            full_capacity_wh: Some(51.39),
        }]
    );
}

#[test]
fn rhel_vmware_vm_without_raw_table() {
    let (hw, errors) = collect_fixture("rhel");
    assert_eq!(hw.system.vendor.as_deref(), Some("VMware, Inc."));
    assert_eq!(hw.system.version, None, "\"None\" is VMware's placeholder");
    assert_eq!(
        hw.system.serial.as_deref(),
        Some("VMware-42 1a 2b 3c 4d 5e 6f 70-81 92 a3 b4 c5 d6 e7 f8")
    );
    assert_eq!(hw.system.chassis_type.as_deref(), Some("Other"));
    assert_eq!(hw.baseboard.serial, None);
    assert_eq!(hw.cpu.sockets, Some(4));
    assert_eq!(hw.cpu.physical_cores, Some(4));
    assert_eq!(hw.cpu.max_mhz, Some(2494));
    assert!(hw.memory.modules.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].section, "hardware.memory.modules");
    assert!(
        errors[0]
            .error
            .contains("/sys/firmware/dmi/tables/DMI does not exist")
    );
    let disks: Vec<_> = hw
        .disks
        .iter()
        .map(|d| (d.name.as_str(), d.transport.as_deref()))
        .collect();
    assert_eq!(disks, [("sda", Some("scsi")), ("sr0", Some("sata"))]);
    assert_eq!(hw.disks[0].vendor.as_deref(), Some("VMware"));
    let names: Vec<_> = hw.pci_devices.iter().map(|d| d.device.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some("SVGA II Adapter"),
            Some("PVSCSI SCSI Controller"),
            Some("VMXNET3 Ethernet Controller")
        ]
    );
}

#[test]
fn alpine_qemu_vm_with_virtio_disk() {
    let (hw, errors) = collect_fixture("alpine");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        hw.system.product.as_deref(),
        Some("Standard PC (Q35 + ICH9, 2009)")
    );
    assert_eq!(hw.system.serial, None);
    assert_eq!(hw.bios.vendor.as_deref(), Some("SeaBIOS"));
    assert_eq!(hw.cpu.max_mhz, Some(2600));
    assert_eq!(hw.memory.modules[0].slot, "DIMM 0");
    assert_eq!(hw.disks.len(), 1);
    assert_eq!(hw.disks[0].transport.as_deref(), Some("virtio"));
    assert_eq!(hw.disks[0].serial.as_deref(), Some("census-root"));
    assert_eq!(hw.disks[0].vendor, None, "0x1af4 is an id, not a name");
    assert!(
        hw.pci_devices.iter().all(|d| d.vendor.is_none()),
        "no pci.ids on this root"
    );
    assert_eq!(
        crate::collect::virt::detect(&fixture("alpine")).as_deref(),
        Some("kvm")
    );
}

#[test]
fn arch_raspberry_pi_without_dmi() {
    let (hw, errors) = collect_fixture("arch");
    assert_eq!(
        errors,
        [CollectionError {
            section: "hardware.system".into(),
            error:
                "no DMI data: /sys/class/dmi/id does not exist (container or non-SMBIOS platform)"
                    .into(),
        }]
    );
    assert_eq!(hw.system, System::default());
    assert_eq!(hw.cpu.vendor.as_deref(), Some("ARM"));
    assert_eq!(hw.cpu.model.as_deref(), Some("Cortex-A72"));
    assert_eq!(hw.cpu.sockets, Some(1));
    assert_eq!(hw.cpu.physical_cores, Some(4));
    assert_eq!(hw.cpu.max_mhz, Some(1800));
    assert_eq!(hw.disks[0].model.as_deref(), Some("SC64G"));
    assert_eq!(hw.disks[0].transport.as_deref(), Some("mmc"));
    assert_eq!(hw.usb_devices.len(), 1);
    assert!(hw.batteries.is_empty());
}

#[test]
fn unreadable_serials_and_table_give_one_error_each() {
    let mut dmi = DmiSysfs {
        present: true,
        denied: vec![
            "/sys/class/dmi/id/product_serial".into(),
            "/sys/class/dmi/id/product_uuid".into(),
        ],
        ..DmiSysfs::default()
    };
    dmi.system.vendor = s("LENOVO");
    let denied = io::Error::from(io::ErrorKind::PermissionDenied);
    let table = Err(TableError::Read(ReadError::new(smbios::TABLE_PATH, denied)));
    let mut errors = Errors::default();
    let mut hardware = Hardware::default();
    merge_identity(&mut hardware, dmi, &table, &mut errors);
    let errors = errors.into_vec();
    let sections: Vec<_> = errors.iter().map(|e| e.section.as_str()).collect();
    assert_eq!(
        sections,
        ["hardware.memory.modules", "hardware.system.serial"]
    );
    assert!(
        errors.iter().all(|e| e.error.contains("needs root")),
        "{errors:?}"
    );
    assert_eq!(hardware.system.vendor.as_deref(), Some("LENOVO"));
    assert_eq!(hardware.system.serial, None);
}

#[test]
fn a_readable_table_fills_what_sysfs_refused() {
    let dmi = DmiSysfs {
        present: true,
        denied: vec!["/sys/class/dmi/id/product_serial".into()],
        ..DmiSysfs::default()
    };
    let (entry_point, table) = smbios_builder::dell_r640();
    let info = parse_smbios(Some(&entry_point), &table).map_err(TableError::from);
    let mut errors = Errors::default();
    let mut hardware = Hardware::default();
    merge_identity(&mut hardware, dmi, &info, &mut errors);
    assert!(errors.is_empty());
    assert_eq!(hardware.system.serial.as_deref(), Some("7XK9PQ2"));
    assert_eq!(hardware.bios.release.as_deref(), Some("2.19"));
}

#[test]
fn live_machine_collects_without_panicking_and_lists_its_cpus() {
    let mut errors = Errors::default();
    let hardware = collect(&Root::live(), &mut errors);
    let logical = std::fs::read_to_string("/proc/cpuinfo")
        .map(|text| text.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    assert_eq!(hardware.cpu.logical_cpus.map(|n| n as usize), Some(logical));
    assert!(hardware.memory.total_bytes.is_some_and(|bytes| bytes > 0));
}

//! Disks from `/sys/block/*`: each entry is a symlink into `/sys/devices/...`, whose path tells the bus.
//!
//! Layout: [`is_physical_disk`] keeps real disks (sd, nvme, vd, xvd, hd, mmcblk, sr) and drops virtual
//! block devices (loop, ram, zram, dm-, md, nbd, mmc boot/rpmb partitions); [`transport_from_path`]
//! derives the bus from the link target; [`vpd_serial`] and [`wwn_from_wwid`] decode identifiers.
//! [`read`] reads per disk: `size` (512-byte sectors, whatever the logical block size), `removable`,
//! `queue/rotational`, and from `device/` (the SCSI device, the NVMe controller or the virtio device) the
//! model, vendor, firmware revision, serial and WWID.
//! Limitations: md arrays and device-mapper volumes are logical, not hardware, and are left to the
//! filesystem section; the ATA vendor placeholder "ATA" is dropped (the model usually names the maker).

use crate::collect::Root;
use census_shared::inventory::Disk;

const SKIPPED_PREFIXES: &[&str] = &[
    "loop", "ram", "zram", "dm-", "md", "nbd", "rbd", "drbd", "fd",
];

pub fn is_physical_disk(name: &str) -> bool {
    if SKIPPED_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
    {
        return false;
    }
    // eMMC boot areas and the replay-protected block are exposed as disks but are parts of mmcblkN.
    !(name.starts_with("mmcblk") && (name.contains("boot") || name.ends_with("rpmb")))
}

/// The bus a disk hangs off, from its `/sys/devices/...` path.
pub fn transport_from_path(path: &str, name: &str) -> Option<&'static str> {
    let components: Vec<&str> = path.split('/').collect();
    let has = |test: &dyn Fn(&str) -> bool| components.iter().any(|c| test(c));
    let numbered = |c: &str, prefix: &str| {
        c.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    if name.starts_with("nvme") || has(&|c| c == "nvme" || c.starts_with("nvme-subsys")) {
        Some("nvme")
    } else if has(&|c| numbered(c, "usb")) {
        Some("usb")
    } else if has(&|c| numbered(c, "ata")) {
        Some("sata")
    } else if has(&|c| numbered(c, "virtio")) {
        Some("virtio")
    } else if has(&|c| numbered(c, "mmc") || c.starts_with("mmc_host")) {
        Some("mmc")
    } else if has(&|c| c.starts_with("end_device-") || c.starts_with("expander-")) {
        Some("sas")
    } else if has(&|c| c.starts_with("vbd-")) {
        Some("xen")
    } else if has(&|c| c.starts_with("target") && c.contains(':')) {
        Some("scsi")
    } else {
        None
    }
}

/// The unit serial number from a SCSI VPD page 0x80 (4-byte header, then ASCII padded with spaces).
pub fn vpd_serial(page: &[u8]) -> Option<String> {
    if page.len() < 4 || page[1] != 0x80 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([page[2], page[3]]));
    let serial = page.get(4..4 + len).or_else(|| page.get(4..))?;
    super::dmi::serial_number(&String::from_utf8_lossy(serial))
}

/// A WWN as `lsblk` shows it: `naa.5002538e40a1b2c3` becomes `0x5002538e40a1b2c3`; NVMe `eui.`/`nvme.`
/// identifiers are kept; SCSI `t10.` strings (vendor+model+serial, not a world-wide name) are not WWNs.
pub fn wwn_from_wwid(wwid: &str) -> Option<String> {
    let wwid = wwid.trim();
    if let Some(naa) = wwid.strip_prefix("naa.") {
        Some(format!("0x{}", naa.to_ascii_lowercase()))
    } else if wwid.starts_with("eui.") || wwid.starts_with("nvme.") || wwid.starts_with("uuid.") {
        Some(wwid.to_string())
    } else {
        None
    }
}

pub fn read(root: &Root) -> Result<Vec<Disk>, crate::collect::ReadError> {
    let names = root.list_dir("/sys/block")?;
    Ok(names
        .iter()
        .filter(|name| is_physical_disk(name))
        .map(|name| read_disk(root, name))
        .collect())
}

fn read_disk(root: &Root, name: &str) -> Disk {
    let dir = format!("/sys/block/{name}");
    let value = |file: &str| root.read_value(&format!("{dir}/{file}"));
    let flag = |file: &str| value(file).map(|v| v == "1");
    let link = root
        .read_link(&dir)
        .map(|target| target.to_string_lossy().into_owned())
        .unwrap_or_default();
    let transport = transport_from_path(&link, name);
    let vendor = value("device/vendor").filter(|v| v != "ATA" && !v.starts_with("0x"));
    let serial = value("device/serial")
        .or_else(|| value("serial"))
        .and_then(|s| super::dmi::serial_number(&s))
        .or_else(|| {
            std::fs::read(root.path(&format!("{dir}/device/vpd_pg80")))
                .ok()
                .and_then(|page| vpd_serial(&page))
        });
    // NVMe namespaces carry their own `wwid`; SCSI devices carry it on the device.
    let wwn = value("wwid")
        .or_else(|| value("device/wwid"))
        .and_then(|wwid| wwn_from_wwid(&wwid));
    Disk {
        name: name.to_string(),
        // MMC/SD cards name their product in `name`, not `model`.
        model: value("device/model").or_else(|| value("device/name")),
        vendor,
        serial,
        wwn,
        firmware: value("device/firmware_rev").or_else(|| value("device/rev")),
        size_bytes: value("size")
            .and_then(|sectors| sectors.parse::<u64>().ok())
            .map(|sectors| sectors.saturating_mul(512)),
        rotational: flag("queue/rotational"),
        removable: flag("removable"),
        transport: transport.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_block_devices_are_not_disks() {
        for name in ["sda", "nvme0n1", "vda", "xvda", "hdc", "mmcblk0", "sr0"] {
            assert!(is_physical_disk(name), "{name}");
        }
        for name in [
            "loop0",
            "ram1",
            "zram0",
            "dm-0",
            "md127",
            "nbd3",
            "mmcblk0boot0",
            "mmcblk0rpmb",
        ] {
            assert!(!is_physical_disk(name), "{name}");
        }
    }

    #[test]
    fn transport_follows_the_device_path() {
        let check = |path: &str, name: &str, expected: Option<&str>| {
            assert_eq!(transport_from_path(path, name), expected, "{path}");
        };
        check(
            "../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda",
            "sda",
            Some("sata"),
        );
        check(
            "../devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdc",
            "sdc",
            Some("usb"),
        );
        check(
            "../devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0/nvme/nvme0/nvme0n1",
            "nvme0n1",
            Some("nvme"),
        );
        check(
            "../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1",
            "nvme0n1",
            Some("nvme"),
        );
        check(
            "../devices/pci0000:00/0000:00:02.0/virtio1/block/vda",
            "vda",
            Some("virtio"),
        );
        check(
            "../devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0",
            "mmcblk0",
            Some("mmc"),
        );
        check(
            "../devices/pci0000:00/0000:00:01.0/0000:01:00.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0/block/sda",
            "sda",
            Some("sas"),
        );
        check(
            "../devices/pci0000:00/0000:00:15.0/0000:03:00.0/host2/target2:0:0/2:0:0:0/block/sda",
            "sda",
            Some("scsi"),
        );
        check("../devices/vbd-51712/block/xvda", "xvda", Some("xen"));
        check("", "weird0", None);
    }

    #[test]
    fn vpd_page_80_gives_the_serial() {
        let mut page = vec![0x00, 0x80, 0x00, 0x14];
        page.extend_from_slice(b"  PHYF8123004C480BGN");
        assert_eq!(vpd_serial(&page).as_deref(), Some("PHYF8123004C480BGN"));
        assert_eq!(vpd_serial(&[0x00, 0x83, 0x00, 0x00]), None);
        assert_eq!(vpd_serial(&[0x00]), None);
        // A length past the end reads what is there rather than failing.
        assert_eq!(
            vpd_serial(&[0x00, 0x80, 0x00, 0x40, b'A', b'B']).as_deref(),
            Some("AB")
        );
    }

    #[test]
    fn wwids_become_lsblk_style_wwns() {
        assert_eq!(
            wwn_from_wwid("naa.55CD2E414F6C6D9E\n").as_deref(),
            Some("0x55cd2e414f6c6d9e")
        );
        assert_eq!(
            wwn_from_wwid("eui.0025388b91b0b2c1").as_deref(),
            Some("eui.0025388b91b0b2c1")
        );
        assert_eq!(
            wwn_from_wwid("t10.ATA     QEMU HARDDISK                           QM00001"),
            None
        );
    }

    #[test]
    fn build_machine_virtio_disk_fixture() {
        let root = Root::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/hardware/sysfs-vda"),
        );
        let disks = read(&root).unwrap();
        assert_eq!(
            disks,
            [Disk {
                name: "vda".into(),
                serial: Some("overlayblk".into()),
                size_bytes: Some(536_870_912 * 512),
                rotational: Some(true),
                removable: Some(false),
                transport: Some("virtio".into()),
                ..Disk::default()
            }]
        );
    }
}

//! The inventory document: everything an agent knows about one machine at one moment.
//!
//! Field by field documentation lives in `docs/inventory-schema.md`; the JSON paths named there are a
//! contract that users' scripts rely on, so fields are only ever added. Unknown values are `null`, never
//! `""` (see [`clean`]). Every list is kept in a canonical order (see [`Inventory::canonicalize`]) so that
//! two collections of an unchanged machine serialise to the same bytes and hash to the same value.

use serde::{Deserialize, Serialize};

/// Version of the document layout. Bumped only for incompatible changes; additions keep the version.
pub const SCHEMA_VERSION: u32 = 1;

/// One machine's inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    pub schema_version: u32,
    /// When collection started, RFC 3339 in UTC (`2026-11-26T22:15:05Z`).
    pub collected_at: String,
    pub agent: AgentInfo,
    pub host: Host,
    pub os: Os,
    pub hardware: Hardware,
    pub filesystems: Vec<Filesystem>,
    pub network: Network,
    pub software: Software,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
    pub listening_ports: Vec<ListeningPort>,
    /// One entry per section (or part of one) that could not be read; the rest of the document stands.
    pub collection_errors: Vec<CollectionError>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentInfo {
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Host {
    pub hostname: Option<String>,
    pub fqdn: Option<String>,
    pub domain: Option<String>,
    /// `/etc/machine-id`: 32 lowercase hex digits, regenerated when a machine is reinstalled or cloned
    /// properly (so it identifies an installation, not hardware).
    pub machine_id: Option<String>,
    /// RFC 3339 UTC, from `/proc/stat` `btime`.
    pub boot_time: Option<String>,
    /// IANA name (`Europe/Paris`), from `/etc/timezone` or the `/etc/localtime` link.
    pub timezone: Option<String>,
    /// `none`, or the hypervisor / container technology in systemd-detect-virt's vocabulary:
    /// `kvm`, `qemu`, `vmware`, `microsoft` (Hyper-V), `xen`, `oracle`, `amazon`, `docker`, `podman`,
    /// `lxc`, `wsl`, `container-other` ...
    pub virtualization: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Os {
    /// os-release `NAME` (`Debian GNU/Linux`).
    pub name: Option<String>,
    /// os-release `ID` (`debian`, `ubuntu`, `rhel`, `alpine`, `arch`).
    pub id: Option<String>,
    /// os-release `ID_LIKE`, split on spaces.
    pub id_like: Vec<String>,
    /// os-release `VERSION_ID` (`12`), or for rolling releases `BUILD_ID`.
    pub version: Option<String>,
    /// The exact point release where the distribution records one (`/etc/debian_version` `12.11`).
    pub version_full: Option<String>,
    pub codename: Option<String>,
    pub pretty_name: Option<String>,
    /// Kernel release (`uname -r`).
    pub kernel: Option<String>,
    /// Kernel build string (`uname -v`).
    pub kernel_version: Option<String>,
    /// Machine architecture (`uname -m`: `x86_64`, `aarch64`).
    pub arch: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hardware {
    pub system: System,
    pub bios: Bios,
    pub baseboard: Baseboard,
    pub chassis: Chassis,
    pub cpu: Cpu,
    pub memory: Memory,
    pub disks: Vec<Disk>,
    pub pci_devices: Vec<PciDevice>,
    pub usb_devices: Vec<UsbDevice>,
    pub batteries: Vec<Battery>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct System {
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub serial: Option<String>,
    /// SMBIOS system UUID, lowercase, hyphenated.
    pub uuid: Option<String>,
    pub sku: Option<String>,
    pub family: Option<String>,
    /// SMBIOS chassis type name (`Desktop`, `Notebook`, `Rack Mount Chassis`, `Other` ...).
    pub chassis_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bios {
    pub vendor: Option<String>,
    pub version: Option<String>,
    /// As the firmware states it (SMBIOS: `MM/DD/YYYY`).
    pub date: Option<String>,
    pub release: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Baseboard {
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub serial: Option<String>,
    pub asset_tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Chassis {
    pub vendor: Option<String>,
    pub chassis_type: Option<String>,
    pub serial: Option<String>,
    pub asset_tag: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    pub model: Option<String>,
    /// `GenuineIntel`, `AuthenticAMD`, or the arm64 implementer name (`ARM`, `Apple`, `Ampere` ...).
    pub vendor: Option<String>,
    pub sockets: Option<u32>,
    pub physical_cores: Option<u32>,
    pub logical_cpus: Option<u32>,
    pub max_mhz: Option<u32>,
    pub family: Option<u32>,
    pub model_number: Option<u32>,
    pub stepping: Option<u32>,
    pub microcode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub total_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    /// SMBIOS type 17 devices that hold a module (empty slots are left out).
    pub modules: Vec<MemoryModule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryModule {
    /// Device locator (`DIMM_A1`, `ChannelA-DIMM0`).
    pub slot: String,
    pub bank: Option<String>,
    pub size_bytes: Option<u64>,
    /// `DDR4`, `DDR5`, `LPDDR5` ...
    pub memory_type: Option<String>,
    pub form_factor: Option<String>,
    /// Maximum rated speed in MT/s.
    pub speed_mts: Option<u32>,
    pub configured_speed_mts: Option<u32>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    pub part_number: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    /// Kernel name (`sda`, `nvme0n1`, `vda`).
    pub name: String,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub firmware: Option<String>,
    pub size_bytes: Option<u64>,
    pub rotational: Option<bool>,
    pub removable: Option<bool>,
    /// `sata`, `sas`, `nvme`, `usb`, `virtio`, `scsi`, `mmc` ...
    pub transport: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PciDevice {
    /// `0000:00:1f.2`.
    pub slot: String,
    /// Class code as 4 hex digits (`0106`).
    pub class_id: Option<String>,
    pub class_name: Option<String>,
    pub vendor_id: Option<String>,
    pub device_id: Option<String>,
    pub vendor: Option<String>,
    pub device: Option<String>,
    pub subsystem_id: Option<String>,
    pub revision: Option<String>,
    pub driver: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsbDevice {
    /// sysfs bus path (`1-2.3`).
    pub bus_path: String,
    pub vendor_id: Option<String>,
    pub product_id: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    pub class_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Battery {
    pub name: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub technology: Option<String>,
    pub design_capacity_wh: Option<f64>,
    pub full_capacity_wh: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filesystem {
    pub device: Option<String>,
    pub mount_point: String,
    pub fs_type: Option<String>,
    pub total_bytes: Option<u64>,
    /// Free bytes, rounded down to 1% of the total so that a busy disk does not change the inventory's
    /// hash on every run (a check-in stays a check-in until usage moves by a full percent).
    pub free_bytes: Option<u64>,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    pub interfaces: Vec<Interface>,
    pub default_gateways: Vec<Gateway>,
    pub dns_servers: Vec<String>,
    pub search_domains: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub name: String,
    /// Lowercase `aa:bb:cc:dd:ee:ff`; null for interfaces without one (loopback, tun).
    pub mac: Option<String>,
    /// The burned-in address when the current one was changed (bonding, spoofing): the stable identity.
    pub permanent_mac: Option<String>,
    pub mtu: Option<u32>,
    pub speed_mbps: Option<u32>,
    /// `up`, `down`, `dormant`, `lowerlayerdown`, `unknown` (sysfs `operstate`).
    pub oper_state: Option<String>,
    /// `ethernet`, `loopback`, `wireless`, `bridge`, `bond`, `vlan`, `tun`, `veth` ...
    pub kind: Option<String>,
    /// False only for interfaces backed by a device (a NIC); virtual ones have no `device` in sysfs.
    pub r#virtual: bool,
    pub driver: Option<String>,
    pub addresses: Vec<IpAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct IpAddress {
    pub address: String,
    pub prefix_len: u8,
    /// `inet` or `inet6`.
    pub family: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Gateway {
    pub address: String,
    pub interface: Option<String>,
    pub family: String,
}

pub use crate::package_ref::{AsPackageRef, PackageRef, canonicalize_packages};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Software {
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Package {
    /// `dpkg`, `rpm`, `apk`, `pacman`.
    pub manager: String,
    pub name: String,
    /// The full version as the manager writes it (dpkg `1:2.3-4`, rpm `EPOCH:VERSION-RELEASE`).
    pub version: String,
    pub arch: Option<String>,
    pub source: Option<String>,
    /// Maintainer, Vendor or Packager.
    pub vendor: Option<String>,
    pub section: Option<String>,
    pub installed_size_bytes: Option<u64>,
    /// RFC 3339 UTC where the database records it (rpm, pacman; dpkg and apk do not).
    pub installed_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub full_name: Option<String>,
    pub home: Option<String>,
    pub shell: Option<String>,
    /// RFC 3339 UTC from lastlog, where recorded.
    pub last_login: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    /// Unit name (`ssh.service`).
    pub name: String,
    pub description: Option<String>,
    /// systemd ACTIVE state (`active`, `inactive`, `failed`); null when systemd is not running (offline root).
    pub state: Option<String>,
    /// systemd SUB state (`running`, `exited`, `dead`).
    pub sub_state: Option<String>,
    /// Unit file state (`enabled`, `disabled`, `static`, `masked`, `generated` ...).
    pub enabled: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct ListeningPort {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub address: String,
    pub port: u16,
    /// Process name (`comm`); null where the socket's owner cannot be read (another user's, without root).
    pub process: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectionError {
    /// The section, as its JSON path without the dot (`hardware.memory.modules`, `software.packages.rpm`).
    pub section: String,
    pub error: String,
}

/// Trims a value read from the machine and turns "nothing" into `None`, so the document never holds `""`.
pub fn clean(value: &str) -> Option<String> {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if trimmed.is_empty() {
        None
    } else {
        Some(trimmed.to_string())
    }
}

impl Inventory {
    /// Puts every list in its canonical order and drops exact duplicates, so that equal machines give equal
    /// documents whatever order the kernel or a database listed things in.
    pub fn canonicalize(&mut self) {
        use std::cmp::Ordering;
        /// Sorts by identity and keeps one item per identity: keyed lists (see `delta::KEYED_LISTS`) must
        /// not hold two items with one identity.
        fn by_identity<T>(items: &mut Vec<T>, identity: impl Fn(&T, &T) -> Ordering) {
            items.sort_by(&identity);
            items.dedup_by(|a, b| identity(a, b) == Ordering::Equal);
        }
        /// As `by_identity`, with the whole item as tie-breaker so the survivor does not depend on input order.
        fn by_identity_then_all<T: Ord>(items: &mut Vec<T>, identity: impl Fn(&T, &T) -> Ordering) {
            items.sort_by(|a, b| identity(a, b).then_with(|| a.cmp(b)));
            items.dedup_by(|a, b| identity(a, b) == Ordering::Equal);
        }
        fn sort_dedup<T: Ord>(items: &mut Vec<T>) {
            items.sort();
            items.dedup();
        }
        let hardware = &mut self.hardware;
        by_identity(&mut hardware.memory.modules, |a, b| a.slot.cmp(&b.slot));
        by_identity(&mut hardware.disks, |a, b| a.name.cmp(&b.name));
        by_identity(&mut hardware.pci_devices, |a, b| a.slot.cmp(&b.slot));
        by_identity(&mut hardware.usb_devices, |a, b| {
            a.bus_path.cmp(&b.bus_path)
        });
        by_identity(&mut hardware.batteries, |a, b| a.name.cmp(&b.name));
        by_identity(&mut self.filesystems, |a, b| {
            a.mount_point.cmp(&b.mount_point)
        });
        for interface in &mut self.network.interfaces {
            sort_dedup(&mut interface.addresses);
        }
        by_identity(&mut self.network.interfaces, |a, b| a.name.cmp(&b.name));
        sort_dedup(&mut self.network.default_gateways);
        canonicalize_packages(&mut self.software.packages);
        by_identity_then_all(&mut self.users, |a, b| a.name.cmp(&b.name));
        for group in &mut self.groups {
            sort_dedup(&mut group.members);
        }
        by_identity_then_all(&mut self.groups, |a, b| a.name.cmp(&b.name));
        by_identity_then_all(&mut self.services, |a, b| a.name.cmp(&b.name));
        by_identity_then_all(&mut self.listening_ports, |a, b| {
            (&a.protocol, &a.address, a.port).cmp(&(&b.protocol, &b.address, b.port))
        });
        sort_dedup(&mut self.collection_errors);
    }

    /// Records that `section` could not be read, keeping the rest of the document.
    pub fn add_error(&mut self, section: impl Into<String>, error: impl std::fmt::Display) {
        self.collection_errors.push(CollectionError {
            section: section.into(),
            error: error.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_turns_blank_and_nul_padded_values_into_none() {
        assert_eq!(clean(""), None);
        assert_eq!(clean("  \n"), None);
        assert_eq!(clean("\0\0"), None);
        assert_eq!(clean(" Dell Inc.\n"), Some("Dell Inc.".to_string()));
    }

    #[test]
    fn unknown_values_serialise_as_null_not_empty_strings() {
        let json = serde_json::to_value(Inventory::default()).unwrap();
        assert!(json["host"]["hostname"].is_null());
        assert!(json["hardware"]["system"]["serial"].is_null());
        assert!(
            json["hardware"]["memory"]["modules"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn canonicalize_sorts_and_deduplicates_packages() {
        let package = |name: &str| Package {
            manager: "dpkg".into(),
            name: name.into(),
            version: "1".into(),
            ..Package::default()
        };
        let mut inventory = Inventory::default();
        inventory.software.packages = vec![package("zlib1g"), package("bash"), package("zlib1g")];
        inventory.canonicalize();
        let names: Vec<_> = inventory
            .software
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["bash", "zlib1g"]);
    }

    #[test]
    fn a_document_from_an_older_agent_with_missing_sections_still_parses() {
        let parsed: Inventory =
            serde_json::from_str(r#"{"schema_version":1,"host":{"hostname":"web-01"}}"#).unwrap();
        assert_eq!(parsed.host.hostname.as_deref(), Some("web-01"));
        assert!(parsed.software.packages.is_empty());
    }
}

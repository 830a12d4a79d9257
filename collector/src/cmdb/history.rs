//! What changed on a CI, component by component, and the history records that keep it.
//!
//! [`component_diff`] is pure: it compares two inventories and lists the changes a person cares about
//! (packages added / removed / upgraded / downgraded, disks, memory modules, CPU, PCI devices, memory
//! total, MACs, IP addresses, hostname, OS version and kernel). Filesystem usage, uptime and the like are
//! deliberately not history: they change all the time and mean nothing for configuration.
//!
//! Version order is not decided here: it comes through [`VersionCompare`] (the package-manager
//! comparison lives in `census_shared::version`); without one, a version change is `package_changed`.

use census_shared::inventory::{Disk, Inventory, Package};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Orders two versions of one package of `manager`; `None` when they cannot be ordered.
pub type VersionCompare = fn(manager: &str, a: &str, b: &str) -> Option<Ordering>;

/// No order known: every version change is recorded as `package_changed` (used in tests that are
/// about something else than version order).
pub fn unknown_order(_manager: &str, _a: &str, _b: &str) -> Option<Ordering> {
    None
}

/// Each package manager's own version order (dpkg, rpm, apk, pacman), so history says upgraded or
/// downgraded the way the manager itself would.
pub fn package_manager_order(manager: &str, a: &str, b: &str) -> Option<Ordering> {
    Some(census_shared::version::compare(manager, a, b))
}

/// One change to one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Change {
    PackageAdded {
        manager: String,
        name: String,
        arch: Option<String>,
        version: String,
    },
    PackageRemoved {
        manager: String,
        name: String,
        arch: Option<String>,
        version: String,
    },
    PackageUpgraded {
        manager: String,
        name: String,
        arch: Option<String>,
        from: String,
        to: String,
    },
    PackageDowngraded {
        manager: String,
        name: String,
        arch: Option<String>,
        from: String,
        to: String,
    },
    /// A version change whose direction is unknown (no version order for the manager).
    PackageChanged {
        manager: String,
        name: String,
        arch: Option<String>,
        from: String,
        to: String,
    },
    DiskAdded {
        name: String,
        serial: Option<String>,
        model: Option<String>,
        size_bytes: Option<u64>,
    },
    DiskRemoved {
        name: String,
        serial: Option<String>,
        model: Option<String>,
        size_bytes: Option<u64>,
    },
    MemoryModuleAdded {
        slot: String,
        size_bytes: Option<u64>,
        serial: Option<String>,
    },
    MemoryModuleRemoved {
        slot: String,
        size_bytes: Option<u64>,
        serial: Option<String>,
    },
    MemoryTotalChanged {
        from: Option<u64>,
        to: Option<u64>,
    },
    CpuChanged {
        from: Option<String>,
        to: Option<String>,
    },
    PciDeviceAdded {
        slot: String,
        vendor: Option<String>,
        device: Option<String>,
    },
    PciDeviceRemoved {
        slot: String,
        vendor: Option<String>,
        device: Option<String>,
    },
    MacAdded {
        interface: String,
        mac: String,
    },
    MacRemoved {
        interface: String,
        mac: String,
    },
    IpAdded {
        interface: String,
        address: String,
    },
    IpRemoved {
        interface: String,
        address: String,
    },
    HostnameChanged {
        from: Option<String>,
        to: Option<String>,
    },
    OsChanged {
        field: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// A person's (or an import's) edit of a managed field.
    ManagedFieldChanged {
        field: String,
        from: Option<String>,
        to: Option<String>,
    },
    StatusChanged {
        from: String,
        to: String,
    },
    AgentAttached {
        agent_id: String,
    },
}

impl Change {
    /// The `kind` tag, as filters name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::PackageAdded { .. } => "package_added",
            Change::PackageRemoved { .. } => "package_removed",
            Change::PackageUpgraded { .. } => "package_upgraded",
            Change::PackageDowngraded { .. } => "package_downgraded",
            Change::PackageChanged { .. } => "package_changed",
            Change::DiskAdded { .. } => "disk_added",
            Change::DiskRemoved { .. } => "disk_removed",
            Change::MemoryModuleAdded { .. } => "memory_module_added",
            Change::MemoryModuleRemoved { .. } => "memory_module_removed",
            Change::MemoryTotalChanged { .. } => "memory_total_changed",
            Change::CpuChanged { .. } => "cpu_changed",
            Change::PciDeviceAdded { .. } => "pci_device_added",
            Change::PciDeviceRemoved { .. } => "pci_device_removed",
            Change::MacAdded { .. } => "mac_added",
            Change::MacRemoved { .. } => "mac_removed",
            Change::IpAdded { .. } => "ip_added",
            Change::IpRemoved { .. } => "ip_removed",
            Change::HostnameChanged { .. } => "hostname_changed",
            Change::OsChanged { .. } => "os_changed",
            Change::ManagedFieldChanged { .. } => "managed_field_changed",
            Change::StatusChanged { .. } => "status_changed",
            Change::AgentAttached { .. } => "agent_attached",
        }
    }
}

/// The changes from `old` to `new`, in a stable order (hardware, network, host, OS, packages).
pub fn component_diff(old: &Inventory, new: &Inventory, compare: VersionCompare) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_disks(&old.hardware.disks, &new.hardware.disks, &mut changes);
    diff_keyed(
        &old.hardware.memory.modules,
        &new.hardware.memory.modules,
        |m| (m.slot.clone(), m.serial.clone(), m.size_bytes),
        |m, added| {
            let (slot, size_bytes, serial) = (m.slot.clone(), m.size_bytes, m.serial.clone());
            if added {
                Change::MemoryModuleAdded {
                    slot,
                    size_bytes,
                    serial,
                }
            } else {
                Change::MemoryModuleRemoved {
                    slot,
                    size_bytes,
                    serial,
                }
            }
        },
        &mut changes,
    );
    if old.hardware.memory.total_bytes != new.hardware.memory.total_bytes {
        changes.push(Change::MemoryTotalChanged {
            from: old.hardware.memory.total_bytes,
            to: new.hardware.memory.total_bytes,
        });
    }
    if old.hardware.cpu.model != new.hardware.cpu.model {
        changes.push(Change::CpuChanged {
            from: old.hardware.cpu.model.clone(),
            to: new.hardware.cpu.model.clone(),
        });
    }
    diff_keyed(
        &old.hardware.pci_devices,
        &new.hardware.pci_devices,
        |d| (d.slot.clone(), d.vendor_id.clone(), d.device_id.clone()),
        |d, added| {
            let (slot, vendor, device) = (d.slot.clone(), d.vendor.clone(), d.device.clone());
            if added {
                Change::PciDeviceAdded {
                    slot,
                    vendor,
                    device,
                }
            } else {
                Change::PciDeviceRemoved {
                    slot,
                    vendor,
                    device,
                }
            }
        },
        &mut changes,
    );
    diff_network(old, new, &mut changes);
    if old.host.hostname != new.host.hostname {
        changes.push(Change::HostnameChanged {
            from: old.host.hostname.clone(),
            to: new.host.hostname.clone(),
        });
    }
    for (field, from, to) in [
        ("os.id", &old.os.id, &new.os.id),
        ("os.version", &old.os.version, &new.os.version),
        (
            "os.version_full",
            &old.os.version_full,
            &new.os.version_full,
        ),
        ("os.kernel", &old.os.kernel, &new.os.kernel),
    ] {
        if from != to {
            changes.push(Change::OsChanged {
                field: field.into(),
                from: from.clone(),
                to: to.clone(),
            });
        }
    }
    diff_packages(
        &old.software.packages,
        &new.software.packages,
        compare,
        &mut changes,
    );
    changes
}

/// Items of two lists compared by a key; an item whose key changed is a removal plus an addition.
fn diff_keyed<T, K: Ord>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> K,
    change: impl Fn(&T, bool) -> Change,
    changes: &mut Vec<Change>,
) {
    let old_keys: BTreeSet<K> = old.iter().map(&key).collect();
    let new_keys: BTreeSet<K> = new.iter().map(&key).collect();
    changes.extend(
        old.iter()
            .filter(|i| !new_keys.contains(&key(i)))
            .map(|i| change(i, false)),
    );
    changes.extend(
        new.iter()
            .filter(|i| !old_keys.contains(&key(i)))
            .map(|i| change(i, true)),
    );
}

fn diff_disks(old: &[Disk], new: &[Disk], changes: &mut Vec<Change>) {
    // A disk is the same disk when its serial is; without a serial, its kernel name is all we have.
    diff_keyed(
        old,
        new,
        |d| {
            d.serial
                .clone()
                .unwrap_or_else(|| format!("name:{}", d.name))
        },
        |d, added| {
            let (name, serial, model, size_bytes) = (
                d.name.clone(),
                d.serial.clone(),
                d.model.clone(),
                d.size_bytes,
            );
            if added {
                Change::DiskAdded {
                    name,
                    serial,
                    model,
                    size_bytes,
                }
            } else {
                Change::DiskRemoved {
                    name,
                    serial,
                    model,
                    size_bytes,
                }
            }
        },
        changes,
    );
}

fn diff_network(old: &Inventory, new: &Inventory, changes: &mut Vec<Change>) {
    type Pairs = BTreeSet<(String, String)>;
    fn macs(inventory: &Inventory) -> Pairs {
        inventory
            .network
            .interfaces
            .iter()
            .filter_map(|i| {
                i.permanent_mac
                    .as_ref()
                    .or(i.mac.as_ref())
                    .map(|m| (i.name.clone(), m.clone()))
            })
            .collect()
    }
    fn ips(inventory: &Inventory) -> Pairs {
        inventory
            .network
            .interfaces
            .iter()
            .flat_map(|i| {
                i.addresses
                    .iter()
                    .map(|a| (i.name.clone(), format!("{}/{}", a.address, a.prefix_len)))
            })
            .collect()
    }
    let (old_macs, new_macs) = (macs(old), macs(new));
    for (interface, mac) in old_macs.difference(&new_macs) {
        changes.push(Change::MacRemoved {
            interface: interface.clone(),
            mac: mac.clone(),
        });
    }
    for (interface, mac) in new_macs.difference(&old_macs) {
        changes.push(Change::MacAdded {
            interface: interface.clone(),
            mac: mac.clone(),
        });
    }
    let (old_ips, new_ips) = (ips(old), ips(new));
    for (interface, address) in old_ips.difference(&new_ips) {
        changes.push(Change::IpRemoved {
            interface: interface.clone(),
            address: address.clone(),
        });
    }
    for (interface, address) in new_ips.difference(&old_ips) {
        changes.push(Change::IpAdded {
            interface: interface.clone(),
            address: address.clone(),
        });
    }
}

type PackageKey = (String, String, Option<String>);

fn diff_packages(
    old: &[Package],
    new: &[Package],
    compare: VersionCompare,
    changes: &mut Vec<Change>,
) {
    fn versions(packages: &[Package]) -> BTreeMap<PackageKey, BTreeSet<&str>> {
        let mut map: BTreeMap<PackageKey, BTreeSet<&str>> = BTreeMap::new();
        for p in packages {
            map.entry((p.manager.clone(), p.name.clone(), p.arch.clone()))
                .or_default()
                .insert(p.version.as_str());
        }
        map
    }
    let (old_versions, new_versions) = (versions(old), versions(new));
    let empty = BTreeSet::new();
    let keys: BTreeSet<&PackageKey> = old_versions.keys().chain(new_versions.keys()).collect();
    for key in keys {
        let before = old_versions.get(key).unwrap_or(&empty);
        let after = new_versions.get(key).unwrap_or(&empty);
        let removed: Vec<&str> = before.difference(after).copied().collect();
        let added: Vec<&str> = after.difference(before).copied().collect();
        let (manager, name, arch) = key.clone();
        // One version replaced by another is an upgrade or a downgrade; several side by side (kernels)
        // are plain additions and removals.
        if let ([from], [to]) = (removed.as_slice(), added.as_slice()) {
            let (from, to) = (from.to_string(), to.to_string());
            changes.push(match compare(&manager, &from, &to) {
                Some(Ordering::Less) => Change::PackageUpgraded {
                    manager,
                    name,
                    arch,
                    from,
                    to,
                },
                Some(Ordering::Greater) => Change::PackageDowngraded {
                    manager,
                    name,
                    arch,
                    from,
                    to,
                },
                _ => Change::PackageChanged {
                    manager,
                    name,
                    arch,
                    from,
                    to,
                },
            });
            continue;
        }
        for version in removed {
            changes.push(Change::PackageRemoved {
                manager: manager.clone(),
                name: name.clone(),
                arch: arch.clone(),
                version: version.to_string(),
            });
        }
        for version in added {
            changes.push(Change::PackageAdded {
                manager: manager.clone(),
                name: name.clone(),
                arch: arch.clone(),
                version: version.to_string(),
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use census_shared::inventory::{Filesystem, Interface, IpAddress};

    /// Dotted-number order for test fixtures only (`1.10 > 1.9`); the product uses the package
    /// managers' own rules from `census_shared::version`.
    pub(crate) fn dotted(_manager: &str, a: &str, b: &str) -> Option<Ordering> {
        let parse = |v: &str| {
            v.split('.')
                .map(|p| p.parse::<u64>().ok())
                .collect::<Option<Vec<_>>>()
        };
        Some(parse(a)?.cmp(&parse(b)?))
    }

    fn package(name: &str, version: &str) -> Package {
        Package {
            manager: "dpkg".into(),
            name: name.into(),
            version: version.into(),
            ..Package::default()
        }
    }

    fn machine(packages: &[(&str, &str)]) -> Inventory {
        let mut inventory = Inventory::default();
        inventory.software.packages = packages.iter().map(|(n, v)| package(n, v)).collect();
        inventory.canonicalize();
        inventory
    }

    fn kinds(changes: &[Change]) -> Vec<&'static str> {
        changes.iter().map(Change::kind).collect()
    }

    #[test]
    fn package_upgrades_downgrades_additions_and_removals_are_told_apart() {
        let old = machine(&[
            ("openssl", "3.0.2"),
            ("curl", "7.88"),
            ("vim", "9.0"),
            ("bash", "5.1"),
        ]);
        let new = machine(&[
            ("openssl", "3.0.10"),
            ("curl", "7.80"),
            ("bash", "5.1"),
            ("jq", "1.6"),
        ]);
        let changes = component_diff(&old, &new, dotted);
        assert_eq!(
            changes,
            vec![
                Change::PackageDowngraded {
                    manager: "dpkg".into(),
                    name: "curl".into(),
                    arch: None,
                    from: "7.88".into(),
                    to: "7.80".into()
                },
                Change::PackageAdded {
                    manager: "dpkg".into(),
                    name: "jq".into(),
                    arch: None,
                    version: "1.6".into()
                },
                Change::PackageUpgraded {
                    manager: "dpkg".into(),
                    name: "openssl".into(),
                    arch: None,
                    from: "3.0.2".into(),
                    to: "3.0.10".into()
                },
                Change::PackageRemoved {
                    manager: "dpkg".into(),
                    name: "vim".into(),
                    arch: None,
                    version: "9.0".into()
                },
            ]
        );
        assert_eq!(
            kinds(&component_diff(&old, &new, unknown_order))[0],
            "package_changed"
        );
    }

    #[test]
    fn a_second_kernel_installed_beside_the_first_is_an_addition() {
        let old = machine(&[("linux-image", "6.1")]);
        let new = machine(&[("linux-image", "6.1"), ("linux-image", "6.12")]);
        assert_eq!(
            kinds(&component_diff(&old, &new, dotted)),
            ["package_added"]
        );
    }

    #[test]
    fn a_swapped_disk_is_a_removal_and_an_addition_even_under_the_same_name() {
        let mut old = Inventory::default();
        old.hardware.disks = vec![Disk {
            name: "sda".into(),
            serial: Some("WD-1".into()),
            ..Disk::default()
        }];
        let mut new = old.clone();
        new.hardware.disks[0].serial = Some("WD-2".into());
        assert_eq!(
            kinds(&component_diff(&old, &new, dotted)),
            ["disk_removed", "disk_added"]
        );
    }

    #[test]
    fn filesystem_usage_is_not_history_but_hostname_ip_mac_and_os_are() {
        let mut old = Inventory::default();
        old.filesystems = vec![Filesystem {
            mount_point: "/".into(),
            free_bytes: Some(10),
            ..Filesystem::default()
        }];
        old.network.interfaces = vec![Interface {
            name: "eth0".into(),
            mac: Some("aa:00:00:00:00:01".into()),
            addresses: vec![IpAddress {
                address: "10.0.0.1".into(),
                prefix_len: 24,
                family: "inet".into(),
            }],
            ..Interface::default()
        }];
        let mut new = old.clone();
        new.filesystems[0].free_bytes = Some(20);
        assert!(component_diff(&old, &new, dotted).is_empty());
        new.host.hostname = Some("web-02".into());
        new.os.kernel = Some("6.12.0".into());
        new.network.interfaces[0].mac = Some("aa:00:00:00:00:02".into());
        new.network.interfaces[0].addresses[0].address = "10.0.0.2".into();
        assert_eq!(
            kinds(&component_diff(&old, &new, dotted)),
            [
                "mac_removed",
                "mac_added",
                "ip_removed",
                "ip_added",
                "hostname_changed",
                "os_changed"
            ]
        );
    }
}

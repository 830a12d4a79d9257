//! Network: interfaces (sysfs), their addresses, default gateways and DNS resolvers.
//!
//! Layout: `mod.rs` reads `/sys/class/net/<name>/` per interface ([`interface_kind`] is the pure rule
//! for its kind); [`routes`] parses `/proc/net/{route,ipv6_route,if_inet6}` and `resolv.conf`;
//! [`netlink`] dumps addresses from the kernel.
//!
//! Sources and limits:
//! - IPv6 addresses come from the root's `/proc/net/if_inet6`; IPv4 addresses exist only in the kernel
//!   (rtnetlink), so they are read on the live machine only. An offline root therefore lists IPv6 only.
//! - `speed_mbps` is reported only for interfaces that are up (sysfs says -1 or refuses otherwise).
//! - `virtual` is true when sysfs has no `device` link for the interface (bridges, bonds, tun, veth ...).
//! - `permanent_mac` is read from bonding slave data only (`bonding_slave/perm_hwaddr`); reading it for
//!   other NICs needs an ethtool ioctl, not worth the cost here.

pub mod netlink;
pub mod routes;

use super::{Errors, Root};
use census_shared::inventory::{Interface, Network, clean};
use std::collections::BTreeMap;

pub fn collect(root: &Root, errors: &mut Errors) -> Network {
    let mut network = Network::default();
    let vlans: Vec<String> = root
        .list_dir("/proc/net/vlan")
        .unwrap_or_default()
        .into_iter()
        .filter(|name| name != "config")
        .collect();
    let names = match root.list_dir("/sys/class/net") {
        Ok(names) => names,
        Err(error) => {
            errors.record("network.interfaces", error);
            Vec::new()
        }
    };
    let mut by_index: BTreeMap<u32, usize> = BTreeMap::new();
    for name in names
        .iter()
        .filter(|name| !name.starts_with('.') && *name != "bonding_masters")
    {
        let interface = read_interface(root, name, &vlans);
        if let Some(index) = root
            .read_value(&format!("/sys/class/net/{name}/ifindex"))
            .and_then(|v| v.parse().ok())
        {
            by_index.insert(index, network.interfaces.len());
        }
        network.interfaces.push(interface);
    }

    match root.read_to_string("/proc/net/if_inet6") {
        Ok(text) => {
            for (name, address) in routes::parse_if_inet6(&text) {
                if let Some(interface) = network.interfaces.iter_mut().find(|i| i.name == name) {
                    interface.addresses.push(address);
                }
            }
        }
        // A kernel without IPv6, or an offline root without /proc: nothing to add.
        Err(error) if error.is_not_found() => {}
        Err(error) => errors.record("network.interfaces", error),
    }
    if root.is_live() {
        match netlink::dump_addresses() {
            Ok(addresses) => {
                for (index, address) in addresses.into_iter().filter(|(_, a)| a.family == "inet") {
                    if let Some(&position) = by_index.get(&index) {
                        network.interfaces[position].addresses.push(address);
                    }
                }
            }
            Err(error) => errors.record("network.interfaces", error),
        }
    }

    for (path, parse) in [
        ("/proc/net/route", routes::parse_route as fn(&str) -> _),
        ("/proc/net/ipv6_route", routes::parse_ipv6_route),
    ] {
        match root.read_to_string(path) {
            Ok(text) => network.default_gateways.extend(parse(&text)),
            Err(error) if error.is_not_found() && (!root.is_live() || path.contains("ipv6")) => {}
            Err(error) => errors.record("network.default_gateways", error),
        }
    }

    match root.read_to_string("/etc/resolv.conf") {
        Ok(text) => {
            let (mut servers, mut search) = routes::parse_resolv_conf(&text);
            if routes::is_resolved_stub(&servers)
                && let Ok(upstream) = root.read_to_string("/run/systemd/resolve/resolv.conf")
            {
                (servers, search) = routes::parse_resolv_conf(&upstream);
            }
            network.dns_servers = servers;
            network.search_domains = search;
        }
        Err(error) if error.is_not_found() => {}
        Err(error) => errors.record("network.dns_servers", error),
    }
    network
}

/// What sysfs says about one interface, as far as [`interface_kind`] needs it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KindHints {
    /// `type` (ARPHRD_*): 1 ether, 772 loopback, 801 IEEE 802.11, 65534 none (tun) ...
    pub arp_type: Option<u32>,
    /// `DEVTYPE=` from `uevent` (`bridge`, `bond`, `vlan`, `wlan`, `wwan` ...).
    pub devtype: Option<String>,
    pub has_bridge_dir: bool,
    pub has_bonding_dir: bool,
    pub has_wireless: bool,
    pub has_tun_flags: bool,
    pub in_proc_vlan: bool,
    pub driver: Option<String>,
}

/// The interface kind from sysfs hints, most specific first.
pub fn interface_kind(hints: &KindHints) -> Option<String> {
    let kind = match hints.devtype.as_deref() {
        Some("bridge") => "bridge",
        Some("bond") => "bond",
        Some("vlan") => "vlan",
        Some("wlan") => "wireless",
        Some("wwan") => "wwan",
        Some("wireguard") => "wireguard",
        Some("vxlan") => "vxlan",
        Some("macvlan") => "macvlan",
        _ if hints.arp_type == Some(772) => "loopback",
        _ if hints.has_bridge_dir => "bridge",
        _ if hints.has_bonding_dir => "bond",
        _ if hints.in_proc_vlan => "vlan",
        _ if hints.has_wireless || hints.arp_type == Some(801) => "wireless",
        _ if hints.has_tun_flags => "tun",
        _ if hints.driver.as_deref() == Some("veth") => "veth",
        _ => match hints.arp_type {
            Some(1) => "ethernet",
            Some(32) => "infiniband",
            Some(512) => "ppp",
            Some(768) => "ipip",
            Some(776) => "sit",
            Some(778) => "gre",
            Some(823) => "ip6gre",
            Some(65534) => "none",
            _ => return None,
        },
    };
    Some(kind.to_string())
}

/// A MAC address as sysfs prints it, lowercased; null when blank or all zeros (loopback, tun).
pub fn clean_mac(value: Option<String>) -> Option<String> {
    let mac = value?.to_ascii_lowercase();
    let all_zero = mac.chars().all(|c| c == '0' || c == ':');
    (!all_zero).then_some(mac)
}

fn read_interface(root: &Root, name: &str, vlans: &[String]) -> Interface {
    let dir = format!("/sys/class/net/{name}");
    let value = |attribute: &str| root.read_value(&format!("{dir}/{attribute}"));
    let has = |entry: &str| std::fs::symlink_metadata(root.path(&format!("{dir}/{entry}"))).is_ok();
    // Real sysfs: /sys/class/net/eth0 links to /sys/devices/virtual/net/eth0 for virtual interfaces.
    let under_virtual = root
        .read_link(&dir)
        .is_some_and(|target| target.to_string_lossy().contains("/devices/virtual/"));
    let is_virtual = under_virtual || !has("device");
    let driver = root
        .read_link(&format!("{dir}/device/driver"))
        .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()));
    let devtype = root
        .read_to_string(&format!("{dir}/uevent"))
        .ok()
        .and_then(|uevent| {
            uevent
                .lines()
                .find_map(|line| line.strip_prefix("DEVTYPE=").and_then(clean))
        });
    let oper_state = value("operstate");
    let speed_mbps = if oper_state.as_deref() == Some("up") {
        value("speed")
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|v| u32::try_from(v).ok())
    } else {
        None
    };
    let hints = KindHints {
        arp_type: value("type").and_then(|v| v.parse().ok()),
        devtype,
        has_bridge_dir: has("bridge"),
        has_bonding_dir: has("bonding"),
        has_wireless: has("wireless") || has("phy80211"),
        has_tun_flags: has("tun_flags"),
        in_proc_vlan: vlans.iter().any(|vlan| vlan == name),
        driver: driver.clone(),
    };
    Interface {
        name: name.to_string(),
        mac: clean_mac(value("address")),
        permanent_mac: clean_mac(value("bonding_slave/perm_hwaddr")),
        mtu: value("mtu").and_then(|v| v.parse().ok()),
        speed_mbps,
        oper_state,
        kind: interface_kind(&hints),
        r#virtual: is_virtual,
        driver,
        addresses: Vec::new(),
    }
}

#[cfg(test)]
mod tests;

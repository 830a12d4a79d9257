//! Network collection on the fixture trees, and the live machine.

use super::*;
use census_shared::inventory::{Gateway, IpAddress};
use std::path::PathBuf;

fn fixture(distro: &str) -> Network {
    let root = Root::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(distro),
    );
    let mut errors = Errors::default();
    let network = collect(&root, &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.into_vec());
    network
}

fn v6(address: &str, prefix_len: u8) -> IpAddress {
    IpAddress {
        address: address.into(),
        prefix_len,
        family: "inet6".into(),
    }
}

fn gateway(address: &str, interface: &str, family: &str) -> Gateway {
    Gateway {
        address: address.into(),
        interface: Some(interface.into()),
        family: family.into(),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn loopback() -> Interface {
    Interface {
        name: "lo".into(),
        mac: None,
        permanent_mac: None,
        mtu: Some(65536),
        speed_mbps: None,
        oper_state: Some("unknown".into()),
        kind: Some("loopback".into()),
        r#virtual: true,
        driver: None,
        addresses: vec![v6("::1", 128)],
    }
}

fn nic(
    name: &str,
    mac: &str,
    state: &str,
    speed: Option<u32>,
    kind: &str,
    driver: &str,
) -> Interface {
    Interface {
        name: name.into(),
        mac: Some(mac.into()),
        permanent_mac: None,
        mtu: Some(1500),
        speed_mbps: speed,
        oper_state: Some(state.into()),
        kind: Some(kind.into()),
        r#virtual: false,
        driver: Some(driver.into()),
        addresses: vec![],
    }
}

fn virtual_if(name: &str, mac: &str, state: &str, speed: Option<u32>, kind: &str) -> Interface {
    Interface {
        r#virtual: true,
        driver: None,
        ..nic(name, mac, state, speed, kind, "")
    }
}

#[test]
fn debian_bonded_server() {
    let mut bond0 = virtual_if("bond0", "3c:ec:ef:12:34:56", "up", Some(1000), "bond");
    bond0.addresses = vec![
        v6("2001:db8:10::15", 64),
        v6("fe80::3eec:efff:fe12:3456", 64),
    ];
    let mut eno1 = nic(
        "eno1",
        "3c:ec:ef:12:34:56",
        "up",
        Some(1000),
        "ethernet",
        "igb",
    );
    eno1.permanent_mac = Some("3c:ec:ef:12:34:56".into());
    let mut eno2 = nic(
        "eno2",
        "3c:ec:ef:12:34:56",
        "up",
        Some(1000),
        "ethernet",
        "igb",
    );
    eno2.permanent_mac = Some("3c:ec:ef:12:34:57".into());
    assert_eq!(
        fixture("debian"),
        Network {
            interfaces: vec![bond0, eno1, eno2, loopback()],
            default_gateways: vec![
                gateway("10.20.0.1", "bond0", "inet"),
                gateway("2001:db8:10::1", "bond0", "inet6"),
            ],
            dns_servers: strings(&["10.20.0.53", "10.20.0.54"]),
            search_domains: strings(&["example.com"]),
        }
    );
}

#[test]
fn ubuntu_laptop_with_wifi_and_resolved() {
    let mut wlan0 = nic(
        "wlan0",
        "8c:c6:81:aa:bb:cc",
        "up",
        None,
        "wireless",
        "iwlwifi",
    );
    wlan0.addresses = vec![
        v6("2a01:e0a:1b2:3c40:1234:5678:9abc:def0", 64),
        v6("fe80::8ec6:81ff:feaa:bbcc", 64),
    ];
    assert_eq!(
        fixture("ubuntu"),
        Network {
            interfaces: vec![
                virtual_if("docker0", "02:42:7a:1b:2c:3d", "down", None, "bridge"),
                nic(
                    "enp0s31f6",
                    "54:e1:ad:11:22:33",
                    "down",
                    None,
                    "ethernet",
                    "e1000e"
                ),
                loopback(),
                wlan0,
            ],
            default_gateways: vec![
                gateway("192.168.1.254", "wlan0", "inet"),
                gateway("fe80::1", "wlan0", "inet6"),
            ],
            dns_servers: strings(&["192.168.1.254", "2a01:e0a:1b2:3c40::1"]),
            search_domains: strings(&["home"]),
        }
    );
}

#[test]
fn rhel_vmware_vm() {
    let mut ens192 = nic(
        "ens192",
        "00:50:56:8a:1b:2c",
        "up",
        Some(10000),
        "ethernet",
        "vmxnet3",
    );
    ens192.addresses = vec![v6("fe80::250:56ff:fe8a:1b2c", 64)];
    assert_eq!(
        fixture("rhel"),
        Network {
            interfaces: vec![ens192, loopback()],
            default_gateways: vec![gateway("10.30.0.1", "ens192", "inet")],
            dns_servers: strings(&["10.30.0.10", "10.30.0.11"]),
            search_domains: strings(&["corp.example.net"]),
        }
    );
}

#[test]
fn alpine_kvm_vm_with_vlan() {
    // virtio-net reports speed -1 even when up: unknown, not a number.
    let mut eth0 = nic(
        "eth0",
        "52:54:00:12:34:56",
        "up",
        None,
        "ethernet",
        "virtio_net",
    );
    eth0.addresses = vec![v6("fe80::5054:ff:fe12:3456", 64)];
    let mut vlan = virtual_if("eth0.10", "52:54:00:12:34:56", "up", None, "vlan");
    vlan.addresses = vec![v6("fe80::5054:ff:fe12:3456", 64)];
    assert_eq!(
        fixture("alpine"),
        Network {
            interfaces: vec![eth0, vlan, loopback()],
            default_gateways: vec![gateway("192.168.122.1", "eth0", "inet")],
            dns_servers: strings(&["192.168.122.1"]),
            search_domains: strings(&["lan.example.org"]),
        }
    );
}

#[test]
fn arch_arm_board() {
    let mut end0 = nic(
        "end0",
        "dc:a6:32:01:02:03",
        "up",
        Some(1000),
        "ethernet",
        "bcmgenet",
    );
    end0.addresses = vec![v6("fe80::dea6:32ff:fe01:203", 64)];
    assert_eq!(
        fixture("arch"),
        Network {
            interfaces: vec![
                end0,
                loopback(),
                nic(
                    "wlan0",
                    "dc:a6:32:01:02:04",
                    "down",
                    None,
                    "wireless",
                    "brcmfmac"
                ),
            ],
            default_gateways: vec![gateway("192.168.1.1", "end0", "inet")],
            dns_servers: strings(&["192.168.1.1"]),
            search_domains: vec![],
        }
    );
}

#[test]
fn kind_rules() {
    let hints = |arp_type: u32| KindHints {
        arp_type: Some(arp_type),
        ..KindHints::default()
    };
    assert_eq!(interface_kind(&hints(1)).as_deref(), Some("ethernet"));
    assert_eq!(interface_kind(&hints(772)).as_deref(), Some("loopback"));
    assert_eq!(
        interface_kind(&KindHints {
            has_tun_flags: true,
            ..hints(65534)
        })
        .as_deref(),
        Some("tun")
    );
    assert_eq!(
        interface_kind(&KindHints {
            driver: Some("veth".into()),
            ..hints(1)
        })
        .as_deref(),
        Some("veth")
    );
    assert_eq!(interface_kind(&KindHints::default()), None);
    assert_eq!(clean_mac(Some("00:00:00:00:00:00".into())), None);
    assert_eq!(
        clean_mac(Some("AA:BB:CC:00:11:22".into())).as_deref(),
        Some("aa:bb:cc:00:11:22")
    );
}

#[test]
fn live_machine_has_ipv4_on_loopback() {
    let mut errors = Errors::default();
    let network = collect(&Root::live(), &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.into_vec());
    let lo = network
        .interfaces
        .iter()
        .find(|i| i.name == "lo")
        .expect("lo exists");
    assert!(
        lo.addresses
            .iter()
            .any(|a| a.address == "127.0.0.1" && a.prefix_len == 8)
    );
    assert_eq!(lo.kind.as_deref(), Some("loopback"));
}

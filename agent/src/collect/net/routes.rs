//! Pure parsers of the kernel's routing and address tables and of `resolv.conf`.
//!
//! `/proc/net/route` prints IPv4 addresses as the in-memory `u32` in hex, so on the little-endian machines
//! the agent runs on (x86_64, arm64) `010200C0` is `192.0.2.1`. `/proc/net/ipv6_route` and
//! `/proc/net/if_inet6` print the 16 bytes in network order.

use census_shared::inventory::{Gateway, IpAddress};
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv4 default routes (destination 0.0.0.0/0 with the gateway flag) from `/proc/net/route`.
pub fn parse_route(text: &str) -> Vec<Gateway> {
    const RTF_GATEWAY: u32 = 0x2;
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (interface, destination, gateway, flags, mask) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            if *destination != "00000000" || *mask != "00000000" || flags & RTF_GATEWAY == 0 {
                return None;
            }
            Some(Gateway {
                address: ipv4_from_hex(gateway)?.to_string(),
                interface: Some(interface.to_string()),
                family: "inet".into(),
            })
        })
        .collect()
}

/// An IPv4 address printed by the kernel as a little-endian `u32` in hex.
pub fn ipv4_from_hex(hex: &str) -> Option<Ipv4Addr> {
    let value = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(value.to_le_bytes()))
}

/// 32 hex digits in network byte order, as in `if_inet6` and `ipv6_route`.
pub fn ipv6_from_hex(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    let value = u128::from_str_radix(hex, 16).ok()?;
    Some(Ipv6Addr::from(value))
}

/// IPv6 default routes (`::/0` with a next hop) from `/proc/net/ipv6_route`; the `lo` reject route that
/// every kernel carries has no next hop and is skipped.
pub fn parse_ipv6_route(text: &str) -> Vec<Gateway> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[1] != "00" || !ipv6_from_hex(fields[0])?.is_unspecified()
            {
                return None;
            }
            let next_hop = ipv6_from_hex(fields[4])?;
            if next_hop.is_unspecified() {
                return None;
            }
            Some(Gateway {
                address: next_hop.to_string(),
                interface: Some(fields[9].to_string()),
                family: "inet6".into(),
            })
        })
        .collect()
}

/// IPv6 addresses per interface from `/proc/net/if_inet6`: `address ifindex prefix_len scope flags name`.
pub fn parse_if_inet6(text: &str) -> Vec<(String, IpAddress)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, prefix, name) = (fields.first()?, fields.get(2)?, fields.get(5)?);
            Some((
                name.to_string(),
                IpAddress {
                    address: ipv6_from_hex(address)?.to_string(),
                    prefix_len: u8::from_str_radix(prefix, 16).ok()?,
                    family: "inet6".into(),
                },
            ))
        })
        .collect()
}

/// Name servers and search domains from `resolv.conf` (`domain` counts as a one-entry search list).
pub fn parse_resolv_conf(text: &str) -> (Vec<String>, Vec<String>) {
    let mut servers = Vec::new();
    let mut search = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(str::to_string)),
            Some("search") | Some("domain") => {
                // The last search/domain line wins, as in the resolver.
                search = words.map(str::to_string).collect();
            }
            _ => {}
        }
    }
    (servers, search)
}

/// True when the only name server is systemd-resolved's local stub, so the real upstream servers are in
/// `/run/systemd/resolve/resolv.conf`.
pub fn is_resolved_stub(servers: &[String]) -> bool {
    !servers.is_empty()
        && servers
            .iter()
            .all(|server| server == "127.0.0.53" || server == "127.0.0.54")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/net/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn gateway(address: &str, interface: &str, family: &str) -> Gateway {
        Gateway {
            address: address.into(),
            interface: Some(interface.into()),
            family: family.into(),
        }
    }

    #[test]
    fn ipv4_default_route_from_real_sample() {
        assert_eq!(
            parse_route(&testdata("route")),
            vec![gateway("192.0.2.1", "eth0", "inet")]
        );
    }

    #[test]
    fn ipv6_default_route_skips_the_lo_reject_route() {
        assert_eq!(
            parse_ipv6_route(&testdata("ipv6_route")),
            vec![gateway("fd00::1", "eth0", "inet6")]
        );
    }

    #[test]
    fn if_inet6_real_sample() {
        let parsed = parse_if_inet6(&testdata("if_inet6"));
        let rendered: Vec<String> = parsed
            .iter()
            .map(|(name, a)| format!("{name} {}/{} {}", a.address, a.prefix_len, a.family))
            .collect();
        assert_eq!(
            rendered,
            [
                "lo ::1/128 inet6",
                "eth0 fd00::2/64 inet6",
                "eth0 fe80::fc:ff:fe00:1/64 inet6"
            ]
        );
    }

    #[test]
    fn resolv_conf_variants() {
        let (servers, search) = parse_resolv_conf(
            "# generated\nnameserver 10.0.0.2\nnameserver fd00::53 # v6\ndomain old.example\n\
             search example.com corp.example.com\noptions edns0\n",
        );
        assert_eq!(servers, ["10.0.0.2", "fd00::53"]);
        assert_eq!(search, ["example.com", "corp.example.com"]);
        let (servers, search) =
            parse_resolv_conf("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n");
        assert!(is_resolved_stub(&servers));
        assert_eq!(search, ["."]);
        assert!(!is_resolved_stub(&[]));
        assert!(!is_resolved_stub(&["127.0.0.53".into(), "1.1.1.1".into()]));
    }

    #[test]
    fn hex_addresses() {
        assert_eq!(ipv4_from_hex("0100007F"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(ipv4_from_hex("zz"), None);
        assert_eq!(
            ipv6_from_hex("00000000000000000000000000000001"),
            Some(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(ipv6_from_hex("0001"), None);
    }
}

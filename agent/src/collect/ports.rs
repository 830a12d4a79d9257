//! Listening sockets: TCP in LISTEN state and bound, unconnected UDP sockets, with the owning process.
//!
//! Layout: [`parse_proc_net`] reads `/proc/net/{tcp,tcp6,udp,udp6}` (pure); [`collect`] maps socket inodes
//! to processes through `/proc/<pid>/fd/*` links (`socket:[inode]`) and `/proc/<pid>/comm`.
//!
//! Addresses are printed by the kernel as in-memory 32-bit words in hex: IPv4 `0100007F` is 127.0.0.1 on
//! little-endian machines, and IPv6 is four such words, each byte-swapped. The agent runs on x86_64 and
//! arm64 (little-endian); big-endian machines are not supported.
//!
//! Process names are read on the live machine only; other users' file descriptors need root, so when
//! some were unreadable the section carries one error saying so. A socket shared by several processes
//! (pre-fork servers) is listed once, with the first name in alphabetical order.

use super::{Errors, Root};
use census_shared::inventory::ListeningPort;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// A listening socket and its inode (to find its process).
#[derive(Debug, Clone, PartialEq)]
pub struct Socket {
    pub port: ListeningPort,
    pub inode: u64,
}

pub fn collect(root: &Root, errors: &mut Errors) -> Vec<ListeningPort> {
    let mut sockets = Vec::new();
    for (file, protocol) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ] {
        let path = format!("/proc/net/{file}");
        match root.read_to_string(&path) {
            Ok(text) => sockets.extend(parse_proc_net(&text, protocol)),
            // No IPv6 in the kernel, or an offline root without /proc.
            Err(error) if error.is_not_found() && (file.ends_with('6') || !root.is_live()) => {}
            Err(error) => errors.record("listening_ports", error),
        }
    }
    if root.is_live() && !sockets.is_empty() {
        let wanted: BTreeSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        let (owners, skipped) = socket_owners(root, &wanted);
        if skipped && !rustix::process::geteuid().is_root() {
            errors.record(
                "listening_ports",
                "some sockets belong to other users' processes; process names need root",
            );
        }
        for socket in &mut sockets {
            socket.port.process = owners.get(&socket.inode).cloned();
        }
    }
    dedupe(sockets.into_iter().map(|s| s.port).collect())
}

/// One entry per (protocol, address, port), keeping a known process name over an unknown one.
fn dedupe(mut ports: Vec<ListeningPort>) -> Vec<ListeningPort> {
    ports.sort_by(|a, b| {
        (
            &a.protocol,
            &a.address,
            a.port,
            a.process.is_none(),
            &a.process,
        )
            .cmp(&(
                &b.protocol,
                &b.address,
                b.port,
                b.process.is_none(),
                &b.process,
            ))
    });
    ports.dedup_by(|later, kept| {
        (&later.protocol, &later.address, later.port) == (&kept.protocol, &kept.address, kept.port)
    });
    ports
}

/// Maps wanted socket inodes to process names; also says whether some fd directory was unreadable.
fn socket_owners(root: &Root, wanted: &BTreeSet<u64>) -> (BTreeMap<u64, String>, bool) {
    let mut owners = BTreeMap::new();
    let mut skipped = false;
    let pids = root.list_dir("/proc").unwrap_or_default();
    for pid in pids
        .iter()
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
    {
        let fd_dir = format!("/proc/{pid}/fd");
        let fds = match root.list_dir(&fd_dir) {
            Ok(fds) => fds,
            Err(error) => {
                // A process that exited meanwhile is not a problem; a refusal is.
                skipped |= !error.is_not_found();
                continue;
            }
        };
        let mut comm = None;
        for fd in fds {
            let Some(target) = root.read_link(&format!("{fd_dir}/{fd}")) else {
                continue;
            };
            let Some(inode) = socket_inode(&target.to_string_lossy()) else {
                continue;
            };
            if !wanted.contains(&inode) || owners.contains_key(&inode) {
                continue;
            }
            let name = comm.get_or_insert_with(|| root.read_value(&format!("/proc/{pid}/comm")));
            if let Some(name) = name {
                owners.insert(inode, name.clone());
            }
        }
        if owners.len() == wanted.len() {
            break;
        }
    }
    (owners, skipped)
}

/// `socket:[12345]` -> 12345.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Listening sockets from one `/proc/net/{tcp,tcp6,udp,udp6}` table.
pub fn parse_proc_net(text: &str, protocol: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state, inode) = (
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(9)?,
            );
            let listening = match protocol {
                "tcp" => *state == TCP_LISTEN,
                _ => *state == UDP_UNCONNECTED && remote.split(':').nth(1) == Some("0000"),
            };
            if !listening {
                return None;
            }
            let (address, port) = decode_endpoint(local)?;
            Some(Socket {
                port: ListeningPort {
                    protocol: protocol.to_string(),
                    address,
                    port,
                    process: None,
                },
                inode: inode.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:0035` -> (`127.0.0.1`, 53); IPv6 as four byte-swapped 32-bit words.
pub fn decode_endpoint(field: &str) -> Option<(String, u16)> {
    let (address, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match address.len() {
        8 => Ipv4Addr::from(u32::from_str_radix(address, 16).ok()?.to_le_bytes()).to_string(),
        32 => {
            let mut bytes = [0u8; 16];
            for (word_idx, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = address.get(word_idx * 8..word_idx * 8 + 8)?;
                chunk.copy_from_slice(&u32::from_str_radix(word, 16).ok()?.to_le_bytes());
            }
            Ipv6Addr::from(bytes).to_string()
        }
        _ => return None,
    };
    Some((address, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/ports/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn port(protocol: &str, address: &str, number: u16) -> ListeningPort {
        ListeningPort {
            protocol: protocol.into(),
            address: address.into(),
            port: number,
            process: None,
        }
    }

    fn ports_of(text: &str, protocol: &str) -> Vec<ListeningPort> {
        parse_proc_net(text, protocol)
            .into_iter()
            .map(|s| s.port)
            .collect()
    }

    #[test]
    fn endpoints_decode_both_families() {
        assert_eq!(
            decode_endpoint("0100007F:0035"),
            Some(("127.0.0.1".into(), 53))
        );
        assert_eq!(
            decode_endpoint("00000000000000000000000001000000:0016"),
            Some(("::1".into(), 22))
        );
        assert_eq!(
            decode_endpoint("0000FEFD000000000000000002000000:1F90"),
            Some(("fdfe::2".into(), 8080))
        );
        assert_eq!(decode_endpoint("xyz"), None);
        assert_eq!(decode_endpoint("0100007F:zz"), None);
    }

    #[test]
    fn tcp_keeps_listeners_only() {
        assert_eq!(
            parse_proc_net(&testdata("tcp"), "tcp"),
            vec![
                Socket {
                    port: port("tcp", "0.0.0.0", 2024),
                    inode: 640
                },
                Socket {
                    port: port("tcp", "127.0.0.1", 5432),
                    inode: 24311
                },
            ]
        );
        assert_eq!(
            ports_of(&testdata("tcp6"), "tcp"),
            vec![port("tcp", "::", 22), port("tcp", "::1", 5432)]
        );
    }

    #[test]
    fn udp_keeps_unconnected_bound_sockets() {
        assert_eq!(
            ports_of(&testdata("udp"), "udp"),
            vec![port("udp", "127.0.0.54", 53), port("udp", "0.0.0.0", 68)]
        );
        assert_eq!(
            ports_of(&testdata("udp6"), "udp"),
            vec![port("udp", "fe80::21c:42ff:fe1f:e1b1", 546)]
        );
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode("socket:[24311]"), Some(24311));
        assert_eq!(socket_inode("pipe:[1]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn dedupe_prefers_a_known_process() {
        let mut named = port("tcp", "0.0.0.0", 80);
        named.process = Some("nginx".into());
        let deduped = dedupe(vec![
            port("tcp", "0.0.0.0", 80),
            named.clone(),
            port("tcp", "::", 80),
        ]);
        assert_eq!(deduped, vec![named, port("tcp", "::", 80)]);
    }

    #[test]
    fn live_listener_is_found_with_its_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let number = listener.local_addr().unwrap().port();
        let mut errors = Errors::default();
        let found = collect(&Root::live(), &mut errors);
        let ours = found
            .iter()
            .find(|p| p.protocol == "tcp" && p.address == "127.0.0.1" && p.port == number)
            .expect("our listener is listed");
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(ours.process.as_deref(), Some(comm.trim()));
    }

    fn fixture(distro: &str) -> Vec<ListeningPort> {
        let root = Root::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures")
                .join(distro),
        );
        let mut errors = Errors::default();
        let found = collect(&root, &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        found
    }

    #[test]
    fn debian_server() {
        assert_eq!(
            fixture("debian"),
            vec![
                port("tcp", "0.0.0.0", 22),
                port("tcp", "0.0.0.0", 80),
                port("tcp", "0.0.0.0", 443),
                port("tcp", "127.0.0.1", 5432),
                port("tcp", "::", 22),
                port("tcp", "::", 80),
                port("tcp", "::", 443),
                port("udp", "0.0.0.0", 123),
                port("udp", "127.0.0.1", 323),
                port("udp", "::1", 323),
            ]
        );
    }

    #[test]
    fn ubuntu_laptop() {
        assert_eq!(
            fixture("ubuntu"),
            vec![
                port("tcp", "127.0.0.1", 631),
                port("tcp", "127.0.0.53", 53),
                port("tcp", "127.0.0.54", 53),
                port("tcp", "::1", 631),
                port("udp", "0.0.0.0", 5353),
                port("udp", "127.0.0.53", 53),
                port("udp", "127.0.0.54", 53),
                port("udp", "::", 5353),
            ]
        );
    }

    #[test]
    fn rhel_alpine_arch() {
        assert_eq!(
            fixture("rhel"),
            vec![
                port("tcp", "0.0.0.0", 22),
                port("tcp", "0.0.0.0", 3306),
                port("tcp", "::", 22),
                port("udp", "127.0.0.1", 323),
                port("udp", "::1", 323),
            ]
        );
        assert_eq!(
            fixture("alpine"),
            vec![port("tcp", "0.0.0.0", 22), port("tcp", "::", 22)]
        );
        assert_eq!(
            fixture("arch"),
            vec![port("tcp", "0.0.0.0", 22), port("tcp", "::", 22)]
        );
    }
}

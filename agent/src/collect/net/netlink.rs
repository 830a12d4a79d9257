//! Interface addresses from the kernel over rtnetlink (`RTM_GETADDR` dump), the only source of IPv4
//! addresses with their prefix length (procfs has no per-interface IPv4 list).
//!
//! Layout: [`dump_addresses`] does the I/O (one datagram socket, one request, replies until `NLMSG_DONE`);
//! [`parse_addr_messages`] is the pure parser of the reply bytes. Netlink uses the host's byte order.
//! No C library: the socket calls go through rustix.

use census_shared::inventory::IpAddress;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, netlink};
use std::net::{Ipv4Addr, Ipv6Addr};

const NLMSG_HEADER_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// A dump never needs more than a few hundred replies; stop rather than loop on a confused kernel.
const MAX_REPLIES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket call failed: {0}")]
    Io(#[from] rustix::io::Errno),
    #[error("the kernel refused the address dump (errno {0})")]
    Refused(i32),
    #[error("malformed netlink reply: {0}")]
    Malformed(&'static str),
    #[error("the address dump did not end after {MAX_REPLIES} replies")]
    TooLong,
}

/// What one reply datagram held: addresses by interface index, and whether the dump is complete.
#[derive(Debug, Default, PartialEq)]
pub struct Reply {
    pub addresses: Vec<(u32, IpAddress)>,
    pub done: bool,
}

/// Every address of every interface, as `(interface index, address)`.
pub fn dump_addresses() -> Result<Vec<(u32, IpAddress)>, NetlinkError> {
    let socket = rustix::net::socket(
        AddressFamily::NETLINK,
        SocketType::RAW,
        None, // NETLINK_ROUTE is protocol 0.
    )?;
    let sequence: u32 = 1;
    let mut request = Vec::with_capacity(NLMSG_HEADER_LEN + IFADDRMSG_LEN);
    request.extend_from_slice(&((NLMSG_HEADER_LEN + IFADDRMSG_LEN) as u32).to_ne_bytes());
    request.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&sequence.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(&[0u8; IFADDRMSG_LEN]); // AF_UNSPEC: both families.
    rustix::net::sendto(
        &socket,
        &request,
        SendFlags::empty(),
        &netlink::SocketAddrNetlink::new(0, 0),
    )?;
    let mut addresses = Vec::new();
    let mut buffer = vec![0u8; 32 * 1024];
    for _ in 0..MAX_REPLIES {
        let (received, _) = rustix::net::recv(&socket, &mut buffer[..], RecvFlags::empty())?;
        let reply = parse_addr_messages(&buffer[..received.min(buffer.len())])?;
        addresses.extend(reply.addresses);
        if reply.done {
            return Ok(addresses);
        }
    }
    Err(NetlinkError::TooLong)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn align4(length: usize) -> usize {
    (length + 3) & !3
}

/// Parses one datagram of an `RTM_GETADDR` dump reply.
pub fn parse_addr_messages(mut bytes: &[u8]) -> Result<Reply, NetlinkError> {
    let mut reply = Reply::default();
    while bytes.len() >= NLMSG_HEADER_LEN {
        let length = u32_at(bytes, 0).ok_or(NetlinkError::Malformed("short header"))? as usize;
        let kind = u16_at(bytes, 4).ok_or(NetlinkError::Malformed("short header"))?;
        if length < NLMSG_HEADER_LEN || length > bytes.len() {
            return Err(NetlinkError::Malformed("message length out of bounds"));
        }
        let body = &bytes[NLMSG_HEADER_LEN..length];
        match kind {
            NLMSG_DONE => reply.done = true,
            NLMSG_ERROR => {
                let code = body
                    .get(0..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or(NetlinkError::Malformed("short error message"))?;
                if code != 0 {
                    return Err(NetlinkError::Refused(-code));
                }
            }
            RTM_NEWADDR => reply.addresses.extend(parse_ifaddrmsg(body)?),
            _ => {}
        }
        bytes = bytes.get(align4(length)..).unwrap_or(&[]);
    }
    Ok(reply)
}

/// One `ifaddrmsg` and its attributes. IPv4 prefers `IFA_LOCAL` (on point-to-point links `IFA_ADDRESS`
/// is the peer); IPv6 has only `IFA_ADDRESS`.
fn parse_ifaddrmsg(body: &[u8]) -> Result<Option<(u32, IpAddress)>, NetlinkError> {
    if body.len() < IFADDRMSG_LEN {
        return Err(NetlinkError::Malformed("short ifaddrmsg"));
    }
    let (family, prefix_len) = (body[0], body[1]);
    let index = u32_at(body, 4).ok_or(NetlinkError::Malformed("short ifaddrmsg"))?;
    let mut attributes = &body[IFADDRMSG_LEN..];
    let (mut address, mut local) = (None, None);
    while attributes.len() >= 4 {
        let length = usize::from(u16_at(attributes, 0).unwrap_or(0));
        let kind = u16_at(attributes, 2).unwrap_or(0);
        if length < 4 || length > attributes.len() {
            return Err(NetlinkError::Malformed("attribute length out of bounds"));
        }
        let value = &attributes[4..length];
        match kind {
            IFA_ADDRESS => address = Some(value),
            IFA_LOCAL => local = Some(value),
            _ => {}
        }
        attributes = attributes.get(align4(length)..).unwrap_or(&[]);
    }
    let rendered = match family {
        AF_INET => local
            .or(address)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(|v| (Ipv4Addr::from(v).to_string(), "inet")),
        AF_INET6 => address
            .and_then(|v| <[u8; 16]>::try_from(v).ok())
            .map(|v| (Ipv6Addr::from(v).to_string(), "inet6")),
        _ => None,
    };
    Ok(rendered.map(|(address, family)| {
        (
            index,
            IpAddress {
                address,
                prefix_len,
                family: family.into(),
            },
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a reply message the way the kernel lays it out.
    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((NLMSG_HEADER_LEN + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&[0u8; 10]);
        out.extend_from_slice(body);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    fn ifaddr(family: u8, prefix: u8, index: u32, attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![family, prefix, 0, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        for (kind, value) in attributes {
            body.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        body
    }

    #[test]
    fn parses_ipv4_local_and_ipv6_and_done() {
        let mut bytes = message(
            RTM_NEWADDR,
            &ifaddr(
                AF_INET,
                24,
                2,
                &[
                    (IFA_ADDRESS, &[10, 0, 0, 1]),
                    (IFA_LOCAL, &[192, 0, 2, 10]),
                    (3, b"eth0\0"),
                ],
            ),
        );
        let v6 = "fd00::2".parse::<Ipv6Addr>().unwrap().octets();
        bytes.extend(message(
            RTM_NEWADDR,
            &ifaddr(AF_INET6, 64, 2, &[(IFA_ADDRESS, &v6)]),
        ));
        bytes.extend(message(NLMSG_DONE, &0i32.to_ne_bytes()));
        let reply = parse_addr_messages(&bytes).unwrap();
        assert!(reply.done);
        let rendered: Vec<String> = reply
            .addresses
            .iter()
            .map(|(i, a)| format!("{i} {}/{} {}", a.address, a.prefix_len, a.family))
            .collect();
        assert_eq!(rendered, ["2 192.0.2.10/24 inet", "2 fd00::2/64 inet6"]);
    }

    #[test]
    fn kernel_error_and_truncation_are_errors() {
        let refused = message(NLMSG_ERROR, &(-13i32).to_ne_bytes());
        assert!(matches!(
            parse_addr_messages(&refused),
            Err(NetlinkError::Refused(13))
        ));
        let mut truncated = message(
            RTM_NEWADDR,
            &ifaddr(AF_INET, 8, 1, &[(IFA_LOCAL, &[127, 0, 0, 1])]),
        );
        truncated.truncate(20);
        truncated[0] = 200;
        assert!(matches!(
            parse_addr_messages(&truncated),
            Err(NetlinkError::Malformed(_))
        ));
    }

    #[test]
    fn live_dump_includes_loopback() {
        let addresses = dump_addresses().unwrap();
        assert!(
            addresses
                .iter()
                .any(|(_, a)| a.address == "127.0.0.1" && a.prefix_len == 8)
        );
    }
}

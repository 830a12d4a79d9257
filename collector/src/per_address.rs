//! Open connections counted per client address, so that one address cannot take every connection
//! slot (`[limits] max_connections_per_address`).
//!
//! The accept loop asks for a slot right after `accept`, before the connection waits for a global
//! slot or costs a TLS handshake: a refused connection is closed at once. IPv4 addresses seen as
//! IPv6 (`::ffff:a.b.c.d`, dual-stack sockets) count as the IPv4 address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The per-address counts, shared by the accept loop and every connection it spawned.
#[derive(Debug)]
pub struct PerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, Count>>,
}

#[derive(Debug, Default)]
struct Count {
    open: usize,
    /// A refusal was logged since the address last went below the limit (one warning per episode).
    warned: bool,
}

/// One open connection of an address; dropping it frees the slot.
#[derive(Debug)]
pub struct AddressSlot {
    owner: Arc<PerAddress>,
    address: IpAddr,
}

/// A connection refused because its address holds `limit` connections already.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub address: IpAddr,
    pub limit: usize,
    /// True for the first refusal since the address was last below the limit: worth a warning.
    pub first: bool,
}

impl PerAddress {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `address`, unless it holds the limit already.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Result<AddressSlot, Refused> {
        let address = address.to_canonical();
        let mut open = self.lock();
        let count = open.entry(address).or_default();
        if count.open >= self.limit {
            let first = !count.warned;
            count.warned = true;
            return Err(Refused {
                address,
                limit: self.limit,
                first,
            });
        }
        count.open += 1;
        Ok(AddressSlot {
            owner: Arc::clone(self),
            address,
        })
    }

    /// Connections `address` holds now.
    #[cfg(test)]
    fn open(&self, address: IpAddr) -> usize {
        self.lock()
            .get(&address.to_canonical())
            .map_or(0, |count| count.open)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Count>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.lock();
        if let Some(count) = open.get_mut(&self.address) {
            count.open = count.open.saturating_sub(1);
            if count.open == 0 {
                // Addresses come and go: the map holds only those with a connection open.
                open.remove(&self.address);
            } else if count.open < self.owner.limit {
                count.warned = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_address_gets_at_most_the_limit_and_others_are_not_affected() {
        let limits = PerAddress::new(2);
        let first = limits.take(A).unwrap();
        let _second = limits.take(A).unwrap();
        let refused = limits.take(A).unwrap_err();
        assert_eq!(
            refused,
            Refused {
                address: A,
                limit: 2,
                first: true
            }
        );
        assert!(
            !limits.take(A).unwrap_err().first,
            "one warning per episode"
        );
        let _other = limits.take(B).unwrap();
        assert_eq!(limits.open(A), 2);

        drop(first);
        assert_eq!(limits.open(A), 1);
        let _again = limits.take(A).unwrap();
        assert!(
            limits.take(A).unwrap_err().first,
            "a new episode warns again"
        );
    }

    #[test]
    fn closed_connections_leave_no_entry_and_mapped_ipv4_counts_as_ipv4() {
        let limits = PerAddress::new(1);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        let slot = limits.take(mapped).unwrap();
        assert!(limits.take(A).is_err(), "the same client either way");
        drop(slot);
        assert!(limits.lock().is_empty());
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let _slot = limits.take(v6).unwrap();
        assert!(limits.take(A).is_ok());
    }
}

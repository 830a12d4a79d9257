//! Identity reconciliation: which CI does a report describe?
//!
//! Pure logic, no store: [`Identifiers::of`] draws the identifying values from an inventory (bogus
//! values dropped, see [`bogus`]); [`rules::decide`] weighs the CIs an index lookup found for each rule
//! and answers attach, create, or conflict. The rules and their order are documented in
//! `docs/reconciliation.md`.

pub mod bogus;
pub mod rules;

pub use rules::{Candidates, Decision, Rule, decide};

use census_shared::inventory::Inventory;
use serde::{Deserialize, Serialize};

/// The identifying values of one inventory, normalised and without bogus values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identifiers {
    /// `hardware.system.vendor`, lowercase (rule 1 needs a serial; the vendor may be unknown).
    pub system_vendor: Option<String>,
    pub system_serial: Option<String>,
    /// SMBIOS system UUID, lowercase.
    pub system_uuid: Option<String>,
    /// Baseboard and chassis serials.
    pub board_serials: Vec<String>,
    pub machine_id: Option<String>,
    /// Hardware addresses of physical NICs (the permanent address where the current one was changed).
    pub macs: Vec<String>,
    /// Lowercase short hostname.
    pub hostname: Option<String>,
    pub disk_serials: Vec<String>,
}

impl Identifiers {
    pub fn of(inventory: &Inventory) -> Self {
        let hardware = &inventory.hardware;
        let serial = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !bogus::is_bogus_serial(v))
                .map(str::to_string)
        };
        let mut board_serials: Vec<String> = [&hardware.baseboard.serial, &hardware.chassis.serial]
            .into_iter()
            .filter_map(serial)
            .collect();
        board_serials.sort();
        board_serials.dedup();
        let mut macs: Vec<String> = inventory
            .network
            .interfaces
            .iter()
            .filter(|interface| !interface.r#virtual)
            .filter_map(|interface| interface.permanent_mac.as_ref().or(interface.mac.as_ref()))
            .map(|mac| mac.trim().to_ascii_lowercase())
            .filter(|mac| !bogus::is_bogus_mac(mac))
            .collect();
        macs.sort();
        macs.dedup();
        let mut disk_serials: Vec<String> = hardware
            .disks
            .iter()
            .filter_map(|d| serial(&d.serial))
            .collect();
        disk_serials.sort();
        disk_serials.dedup();
        Self {
            system_vendor: hardware
                .system
                .vendor
                .as_deref()
                .map(|v| v.trim().to_lowercase()),
            system_serial: serial(&hardware.system.serial),
            system_uuid: hardware
                .system
                .uuid
                .as_deref()
                .map(|u| u.trim().to_ascii_lowercase())
                .filter(|u| !bogus::is_bogus_uuid(u)),
            board_serials,
            machine_id: inventory
                .host
                .machine_id
                .as_deref()
                .map(|m| m.trim().to_ascii_lowercase())
                .filter(|m| !bogus::is_bogus_serial(m)),
            macs,
            hostname: inventory
                .host
                .hostname
                .as_deref()
                .map(|h| h.trim().to_lowercase())
                .filter(|h| !bogus::is_bogus_hostname(h)),
            disk_serials,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_shared::inventory::Interface;

    #[test]
    fn bogus_values_are_dropped_and_the_rest_normalised() {
        let mut inventory = Inventory::default();
        inventory.hardware.system.vendor = Some("Dell Inc.".into());
        inventory.hardware.system.serial = Some("To Be Filled By O.E.M.".into());
        inventory.hardware.system.uuid = Some("03000200-0400-0500-0006-000700080009".into());
        inventory.hardware.baseboard.serial = Some(" /7XK9LM2/CNFCW0012345/ ".into());
        inventory.hardware.chassis.serial = Some("Chassis Serial Number".into());
        inventory.host.hostname = Some("Web-01".into());
        inventory.network.interfaces = vec![
            Interface {
                name: "eno1".into(),
                mac: Some("3C:EC:EF:01:02:03".into()),
                ..Interface::default()
            },
            Interface {
                name: "docker0".into(),
                mac: Some("02:42:ac:11:00:01".into()),
                r#virtual: true,
                ..Interface::default()
            },
        ];
        let ids = Identifiers::of(&inventory);
        assert_eq!(ids.system_serial, None);
        assert_eq!(ids.system_uuid, None);
        assert_eq!(ids.system_vendor.as_deref(), Some("dell inc."));
        assert_eq!(ids.board_serials, ["/7XK9LM2/CNFCW0012345/"]);
        assert_eq!(ids.macs, ["3c:ec:ef:01:02:03"]);
        assert_eq!(ids.hostname.as_deref(), Some("web-01"));
    }
}

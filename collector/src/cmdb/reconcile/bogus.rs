//! Identifier values that identify nothing: firmware placeholders, template serials, null UUIDs.
//!
//! Vendors ship boards with placeholder strings in SMBIOS, and VM templates copy one serial to every
//! clone; matching on such a value would merge unrelated machines. This is the one table of them (also
//! in `docs/reconciliation.md`). Comparison is case-insensitive on the trimmed value. Beyond the table,
//! values made of one repeated character (`00000000`, `XXXXXXXX`), shorter than three characters, or with
//! no letter or digit at all are bogus too.
//!
//! Limitation: a placeholder we have not seen yet is trusted until it is added here; the conflict queue
//! catches the merges it would cause when other evidence disagrees.

/// Serial numbers (system, baseboard, chassis, disk) that are placeholders.
pub const BOGUS_SERIALS: &[&str] = &[
    "To Be Filled By O.E.M.",
    "To Be Filled By O.E.M",
    "Default string",
    "System Serial Number",
    "Chassis Serial Number",
    "Base Board Serial Number",
    "Not Specified",
    "Not Applicable",
    "Not Available",
    "NotAvailable",
    "Not Defined",
    "None",
    "N/A",
    "NA",
    "OEM",
    "O.E.M.",
    "0123456789",
    "123456789",
    "1234567890",
    "12345678",
    "Unknown",
    "Invalid",
    "Empty",
    "Serial",
    "SerialNumber",
    "Serial Number",
    "SN",
    "System Serial",
    "Type1 - SerialNumber",
    "Type2 - Board Serial Number",
    "Type3 - Chassis Serial Number",
    "ChangeMe",
    "Default",
    "No Asset Tag",
    // VM templates: one serial shared by every machine made from the image.
    "VMware-00 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00",
    "Parallels Virtual Platform",
    "Google",
    "ec2",
];

/// SMBIOS UUIDs that are placeholders (lowercase).
pub const BOGUS_UUIDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    // The AMI/ASRock default: every board of several series reports it.
    "03000200-0400-0500-0006-000700080009",
    // The same with a byte-swapped first groups, as some dmidecode versions print it.
    "00020003-0004-0005-0006-000700080009",
    // A common template UUID in cheap boards and some QEMU setups without `-uuid`.
    "12345678-1234-5678-90ab-cddeefaabbcc",
    "4c4c4544-0000-0000-0000-000000000000",
];

/// MAC addresses that identify nothing.
pub const BOGUS_MACS: &[&str] = &["00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"];

/// Hostnames every fresh install has.
pub const BOGUS_HOSTNAMES: &[&str] = &["localhost", "localhost.localdomain", "ubuntu", "debian"];

/// True when no identity can be drawn from `value` as a serial number.
pub fn is_bogus_serial(value: &str) -> bool {
    let value = value.trim();
    is_degenerate(value)
        || BOGUS_SERIALS
            .iter()
            .any(|bogus| bogus.eq_ignore_ascii_case(value))
}

/// True when no identity can be drawn from `value` as an SMBIOS UUID.
pub fn is_bogus_uuid(value: &str) -> bool {
    let value = value.trim();
    let hex: String = value.chars().filter(|c| *c != '-').collect();
    is_degenerate(&hex)
        || BOGUS_UUIDS
            .iter()
            .any(|bogus| bogus.eq_ignore_ascii_case(value))
}

/// True when `value` is not a usable unicast hardware address.
pub fn is_bogus_mac(value: &str) -> bool {
    let value = value.trim();
    let Some(first) = value
        .split(':')
        .next()
        .and_then(|octet| u8::from_str_radix(octet, 16).ok())
    else {
        return true;
    };
    // Multicast addresses belong to groups, not to a NIC.
    first & 1 == 1
        || value.len() != 17
        || BOGUS_MACS
            .iter()
            .any(|bogus| bogus.eq_ignore_ascii_case(value))
}

/// True when the hostname is an installer default that many machines share.
pub fn is_bogus_hostname(value: &str) -> bool {
    let value = value.trim();
    value.is_empty()
        || BOGUS_HOSTNAMES
            .iter()
            .any(|bogus| bogus.eq_ignore_ascii_case(value))
}

/// Too short, one character repeated, or no letter or digit.
fn is_degenerate(value: &str) -> bool {
    let mut chars = value.chars();
    let Some(first) = chars.next() else {
        return true;
    };
    value.chars().count() < 3
        || chars.all(|c| c.eq_ignore_ascii_case(&first))
        || !value.chars().any(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_serial(value: &str, bogus: bool) {
        assert_eq!(is_bogus_serial(value), bogus, "serial {value:?}");
    }

    #[test]
    fn every_listed_serial_is_bogus_whatever_its_case_and_padding() {
        for value in BOGUS_SERIALS {
            check_serial(value, true);
            check_serial(&value.to_uppercase(), true);
            check_serial(&format!("  {value} "), true);
        }
    }

    #[test]
    fn placeholder_patterns_are_bogus_and_real_serials_are_not() {
        for value in ["0", "00000000", "XXXXXXXXXX", "fffff", "-----", "", "  "] {
            check_serial(value, true);
        }
        // Real serials from a Dell, a Lenovo, a Supermicro board and a VMware guest.
        for value in [
            "7XK9LM2",
            "PF2ABCDE",
            "ZM18AS012345",
            "VMware-56 4d 1a 2b 3c 4d 5e 6f-70 81 92 a3 b4 c5 d6 e7",
        ] {
            check_serial(value, false);
        }
    }

    #[test]
    fn null_and_template_uuids_are_bogus() {
        for value in BOGUS_UUIDS {
            assert!(is_bogus_uuid(value), "{value}");
            assert!(is_bogus_uuid(&value.to_uppercase()), "{value}");
        }
        assert!(is_bogus_uuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"));
        assert!(!is_bogus_uuid("4c4c4544-0047-3310-8051-b3c04f4b3132"));
        assert!(!is_bogus_uuid("a1f2c3d4-1111-2222-3333-444455556666"));
    }

    #[test]
    fn null_broadcast_multicast_and_malformed_macs_are_bogus() {
        for value in [
            "00:00:00:00:00:00",
            "ff:ff:ff:ff:ff:ff",
            "01:00:5e:00:00:01",
            "52:54:00",
            "zz:00:00:00:00:01",
        ] {
            assert!(is_bogus_mac(value), "{value}");
        }
        // QEMU's locally administered prefix is a real, per-VM address.
        assert!(!is_bogus_mac("52:54:00:12:34:56"));
        assert!(!is_bogus_mac("3c:ec:ef:01:02:03"));
    }

    #[test]
    fn installer_default_hostnames_are_bogus() {
        assert!(is_bogus_hostname("localhost"));
        assert!(is_bogus_hostname("LOCALHOST.localdomain"));
        assert!(!is_bogus_hostname("web-01"));
    }
}

//! The fields a query can name: each with its names, its kind (which decides how values are parsed and
//! compared) and where its values come from (the inventory document, or the CMDB record).
//!
//! A field may hold several values (`ip`: every address of every interface); a condition holds when
//! any of them satisfies it. The table is flat on purpose: adding a field is one line.

use census_shared::Inventory;

/// How a field's values are parsed in a query and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Case-insensitive text; ordering uses the natural order (`web-9 < web-10`).
    Text,
    /// Text ordered as a version with [`census_shared::version::natural`].
    Version,
    /// A whole number.
    Count,
    /// A number of bytes; values take units (`32GiB`, `500GB`).
    Bytes,
    /// A moment: RFC 3339, a date, or a duration meaning "that long ago".
    Time,
    /// An IP address; `in` takes networks (`10.1.0.0/16`).
    Ip,
    /// A MAC address, compared without regard to case or `-`/`:` separators.
    Mac,
}

/// CMDB fields: kept by the collector, not reported by the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaField {
    Id,
    Status,
    AssetTag,
    Owner,
    Location,
    CostCenter,
    FirstSeen,
    LastSeen,
}

/// Where a field's values come from.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    Text(for<'a> fn(&'a Inventory, &mut Vec<&'a str>)),
    Number(fn(&Inventory, &mut Vec<u64>)),
    Meta(MetaField),
}

/// One row of the field table.
pub struct FieldDef {
    /// The first name is the canonical one (used when printing a query); the others are accepted too.
    pub names: &'static [&'static str],
    pub kind: FieldKind,
    pub(crate) access: Access,
}

/// A field named in a query: an index into [`FIELDS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Field(u16);

impl Field {
    /// Looks a name up, ignoring ASCII case.
    pub fn lookup(name: &str) -> Option<Field> {
        FIELDS
            .iter()
            .position(|def| def.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|index| u16::try_from(index).ok())
            .map(Field)
    }

    pub fn def(self) -> &'static FieldDef {
        &FIELDS[usize::from(self.0)]
    }

    pub fn name(self) -> &'static str {
        self.def().names[0]
    }

    pub fn kind(self) -> FieldKind {
        self.def().kind
    }

    /// The CMDB field behind this one, if it is not an inventory field.
    pub fn meta(self) -> Option<MetaField> {
        match self.def().access {
            Access::Meta(meta) => Some(meta),
            _ => None,
        }
    }

    /// Every field, in table order.
    pub fn all() -> impl Iterator<Item = Field> {
        (0..FIELDS.len()).filter_map(|index| u16::try_from(index).ok().map(Field))
    }

    /// The known name closest to `name` when it is a plausible typo (for "did you mean").
    pub fn suggest(name: &str) -> Option<&'static str> {
        let name = name.to_ascii_lowercase();
        FIELDS
            .iter()
            .flat_map(|def| def.names.iter().copied())
            .map(|candidate| (edit_distance(&name, candidate), candidate))
            .filter(|&(distance, candidate)| distance <= (candidate.len() / 4).max(1))
            .min_by_key(|&(distance, _)| distance)
            .map(|(_, candidate)| candidate)
    }
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// A single optional text value of the inventory (`one!(host.hostname)`).
macro_rules! one {
    ($($path:ident).+) => {
        Access::Text(|inventory, out| out.extend(inventory.$($path).+.as_deref()))
    };
}

/// A single optional number of the inventory.
macro_rules! number {
    ($($path:ident).+) => {
        Access::Number(|inventory, out| out.extend(inventory.$($path).+.map(u64::from)))
    };
}

/// One optional text value per item of an inventory list (`each!(hardware.disks => serial)`).
macro_rules! each {
    ($($list:ident).+ => $item:ident) => {
        Access::Text(|inventory, out| {
            out.extend(inventory.$($list).+.iter().filter_map(|item| item.$item.as_deref()))
        })
    };
}

const fn field(names: &'static [&'static str], kind: FieldKind, access: Access) -> FieldDef {
    FieldDef {
        names,
        kind,
        access,
    }
}

use FieldKind::{Bytes, Count, Ip, Mac, Text, Time, Version};

/// Every field a query can name. See `docs/query-language.md`.
pub static FIELDS: &[FieldDef] = &[
    // The CMDB record.
    field(&["id"], Text, Access::Meta(MetaField::Id)),
    field(&["status"], Text, Access::Meta(MetaField::Status)),
    field(&["asset_tag"], Text, Access::Meta(MetaField::AssetTag)),
    field(&["owner"], Text, Access::Meta(MetaField::Owner)),
    field(&["location"], Text, Access::Meta(MetaField::Location)),
    field(&["cost_center"], Text, Access::Meta(MetaField::CostCenter)),
    field(&["first_seen"], Time, Access::Meta(MetaField::FirstSeen)),
    field(&["last_seen"], Time, Access::Meta(MetaField::LastSeen)),
    // Host and operating system.
    field(&["hostname", "host.hostname"], Text, one!(host.hostname)),
    field(&["fqdn", "host.fqdn"], Text, one!(host.fqdn)),
    field(&["domain", "host.domain"], Text, one!(host.domain)),
    field(
        &["machine_id", "host.machine_id"],
        Text,
        one!(host.machine_id),
    ),
    field(&["timezone", "host.timezone"], Text, one!(host.timezone)),
    field(
        &["virtualization", "host.virtualization"],
        Text,
        one!(host.virtualization),
    ),
    field(&["boot_time", "host.boot_time"], Time, one!(host.boot_time)),
    field(
        &["collected_at"],
        Time,
        Access::Text(|inventory, out| out.push(&inventory.collected_at)),
    ),
    field(
        &["agent.version"],
        Version,
        Access::Text(|inventory, out| out.push(&inventory.agent.version)),
    ),
    field(&["os.id"], Text, one!(os.id)),
    field(
        &["os.id_like"],
        Text,
        Access::Text(|inventory, out| out.extend(inventory.os.id_like.iter().map(String::as_str))),
    ),
    field(&["os.name"], Text, one!(os.name)),
    field(&["os.version"], Version, one!(os.version)),
    field(&["os.version_full"], Version, one!(os.version_full)),
    field(&["os.codename"], Text, one!(os.codename)),
    field(&["os.pretty_name"], Text, one!(os.pretty_name)),
    field(&["kernel", "os.kernel"], Version, one!(os.kernel)),
    field(&["os.arch"], Text, one!(os.arch)),
    // Hardware.
    field(
        &["vendor", "hardware.system.vendor"],
        Text,
        one!(hardware.system.vendor),
    ),
    field(
        &["product", "model", "hardware.system.product"],
        Text,
        one!(hardware.system.product),
    ),
    field(
        &["serial", "hardware.system.serial"],
        Text,
        one!(hardware.system.serial),
    ),
    field(
        &["uuid", "hardware.system.uuid"],
        Text,
        one!(hardware.system.uuid),
    ),
    field(&["hardware.system.sku"], Text, one!(hardware.system.sku)),
    field(
        &["hardware.system.family"],
        Text,
        one!(hardware.system.family),
    ),
    field(
        &["chassis_type", "hardware.system.chassis_type"],
        Text,
        one!(hardware.system.chassis_type),
    ),
    field(
        &["bios.vendor", "hardware.bios.vendor"],
        Text,
        one!(hardware.bios.vendor),
    ),
    field(
        &["bios.version", "hardware.bios.version"],
        Version,
        one!(hardware.bios.version),
    ),
    field(
        &["bios.date", "hardware.bios.date"],
        Text,
        one!(hardware.bios.date),
    ),
    field(
        &["hardware.baseboard.serial"],
        Text,
        one!(hardware.baseboard.serial),
    ),
    field(
        &["hardware.chassis.serial"],
        Text,
        one!(hardware.chassis.serial),
    ),
    field(
        &["hardware.chassis.asset_tag"],
        Text,
        one!(hardware.chassis.asset_tag),
    ),
    field(
        &["cpu.model", "hardware.cpu.model"],
        Text,
        one!(hardware.cpu.model),
    ),
    field(
        &["cpu.vendor", "hardware.cpu.vendor"],
        Text,
        one!(hardware.cpu.vendor),
    ),
    field(
        &["cpu.sockets", "hardware.cpu.sockets"],
        Count,
        number!(hardware.cpu.sockets),
    ),
    field(
        &["cpu.cores", "hardware.cpu.physical_cores"],
        Count,
        number!(hardware.cpu.physical_cores),
    ),
    field(
        &["cpu.logical_cpus", "hardware.cpu.logical_cpus", "cpus"],
        Count,
        number!(hardware.cpu.logical_cpus),
    ),
    field(
        &["cpu.max_mhz", "hardware.cpu.max_mhz"],
        Count,
        number!(hardware.cpu.max_mhz),
    ),
    field(
        &[
            "memory.total_bytes",
            "hardware.memory.total_bytes",
            "memory",
        ],
        Bytes,
        number!(hardware.memory.total_bytes),
    ),
    field(
        &["memory.swap_bytes", "hardware.memory.swap_bytes", "swap"],
        Bytes,
        number!(hardware.memory.swap_bytes),
    ),
    field(
        &["disk.name", "hardware.disks.name"],
        Text,
        Access::Text(|inventory, out| {
            out.extend(
                inventory
                    .hardware
                    .disks
                    .iter()
                    .map(|disk| disk.name.as_str()),
            )
        }),
    ),
    field(
        &["disk.serial", "hardware.disks.serial"],
        Text,
        each!(hardware.disks => serial),
    ),
    field(
        &["disk.model", "hardware.disks.model"],
        Text,
        each!(hardware.disks => model),
    ),
    field(
        &["disk.vendor", "hardware.disks.vendor"],
        Text,
        each!(hardware.disks => vendor),
    ),
    field(
        &["disk.transport", "hardware.disks.transport"],
        Text,
        each!(hardware.disks => transport),
    ),
    field(
        &["disk.size_bytes", "hardware.disks.size_bytes"],
        Bytes,
        Access::Number(|inventory, out| {
            out.extend(
                inventory
                    .hardware
                    .disks
                    .iter()
                    .filter_map(|disk| disk.size_bytes),
            )
        }),
    ),
    // Network.
    field(
        &["ip", "network.interfaces.addresses.address"],
        Ip,
        Access::Text(|inventory, out| {
            let interfaces = inventory.network.interfaces.iter();
            out.extend(interfaces.flat_map(|i| i.addresses.iter().map(|a| a.address.as_str())))
        }),
    ),
    field(
        &["mac", "network.interfaces.mac"],
        Mac,
        Access::Text(|inventory, out| {
            for interface in &inventory.network.interfaces {
                out.extend(interface.mac.as_deref());
                out.extend(interface.permanent_mac.as_deref());
            }
        }),
    ),
    field(
        &["interface", "network.interfaces.name"],
        Text,
        Access::Text(|inventory, out| {
            out.extend(inventory.network.interfaces.iter().map(|i| i.name.as_str()))
        }),
    ),
    field(
        &["gateway", "network.default_gateways.address"],
        Ip,
        Access::Text(|inventory, out| {
            out.extend(
                inventory
                    .network
                    .default_gateways
                    .iter()
                    .map(|g| g.address.as_str()),
            )
        }),
    ),
    field(
        &["dns_server", "network.dns_servers"],
        Ip,
        Access::Text(|inventory, out| {
            out.extend(inventory.network.dns_servers.iter().map(String::as_str))
        }),
    ),
    // Software and configuration.
    field(
        &["mount", "filesystems.mount_point"],
        Text,
        Access::Text(|inventory, out| {
            out.extend(
                inventory
                    .filesystems
                    .iter()
                    .map(|fs| fs.mount_point.as_str()),
            )
        }),
    ),
    field(
        &["fs_type", "filesystems.fs_type"],
        Text,
        each!(filesystems => fs_type),
    ),
    field(
        &["user", "users.name"],
        Text,
        Access::Text(|inventory, out| out.extend(inventory.users.iter().map(|u| u.name.as_str()))),
    ),
    field(
        &["group", "groups.name"],
        Text,
        Access::Text(|inventory, out| out.extend(inventory.groups.iter().map(|g| g.name.as_str()))),
    ),
    field(
        &["service", "services.name"],
        Text,
        Access::Text(|inventory, out| {
            out.extend(inventory.services.iter().map(|s| s.name.as_str()))
        }),
    ),
    field(
        &["port", "listening_ports.port"],
        Count,
        Access::Number(|inventory, out| {
            out.extend(inventory.listening_ports.iter().map(|p| u64::from(p.port)))
        }),
    ),
    field(
        &["process", "listening_ports.process"],
        Text,
        each!(listening_ports => process),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for def in FIELDS {
            for name in def.names {
                assert_eq!(*name, name.to_ascii_lowercase());
                assert!(seen.insert(*name), "{name} is listed twice");
            }
        }
    }

    #[test]
    fn lookup_accepts_aliases_in_any_case_and_suggests_close_names() {
        assert_eq!(Field::lookup("host.hostname"), Field::lookup("hostname"));
        assert_eq!(
            Field::lookup("Memory.Total_Bytes").map(Field::name),
            Some("memory.total_bytes")
        );
        assert_eq!(
            Field::lookup("memory"),
            Field::lookup("hardware.memory.total_bytes")
        );
        assert_eq!(Field::lookup("nope"), None);
        assert_eq!(Field::suggest("hostnme"), Some("hostname"));
        assert_eq!(Field::suggest("os.vresion"), Some("os.version"));
        assert_eq!(Field::suggest("completely-unrelated"), None);
    }
}

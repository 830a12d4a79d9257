//! `census assets list|show|history`: the CMDB search, one asset, and its history.
//!
//! The "show" view picks what people look at first (identity, hardware, OS, network, managed fields);
//! `--format json` has everything the collector knows. History rows summarise each entry's changes
//! with [`describe_change`] (pure, tested below).

use super::{items, page_query, written};
use crate::cli::AssetsCommand;
use crate::client::Client;
use crate::output::{Column, Printer, View, column, human_bytes, short_time, text_at, time_column};
use crate::resolve;
use serde_json::{Value, json};

/// The search columns (the export's too); tables show the first few people scan for.
pub const ASSET_COLUMNS: [Column; 14] = [
    column("id", "/id", true),
    column("hostname", "/hostname", true),
    column("serial", "/serial", true),
    column("os", "/os", true),
    column("os_id", "/os_id", false),
    column("os_version", "/os_version", false),
    column("status", "/status", true),
    time_column("first_seen", "/first_seen", false),
    time_column("last_seen", "/last_seen", true),
    column("asset_tag", "/asset_tag", false),
    column("owner", "/owner", true),
    column("location", "/location", false),
    column("vendor", "/vendor", false),
    column("product", "/product", false),
];

const HISTORY_COLUMNS: [Column; 6] = [
    column("record", "/record", false),
    time_column("at", "/at", true),
    column("kind", "/kind", true),
    column("source", "/source", false),
    column("by", "/by", true),
    column("changes", "/changes", true),
];

pub async fn run(client: &Client, command: AssetsCommand) -> anyhow::Result<()> {
    match command {
        AssetsCommand::List {
            query,
            as_of,
            page,
            output,
        } => {
            let mut params = Vec::new();
            if let Some(query) = &query {
                params.push(("q", query.clone()));
            }
            if let Some(as_of) = as_of {
                params.push(("as_of", as_of));
            }
            page_query(&page, &mut params);
            let answer = client.get(&["api", "v1", "assets"], &params).await?;
            let (items, next) = items(&answer.value)?;
            let again = match &query {
                Some(query) => format!("census assets list '{query}'"),
                None => "census assets list".to_string(),
            };
            written(Printer::stdout(output.format).list(
                &answer.body,
                items,
                &ASSET_COLUMNS,
                next.map(|cursor| (cursor, again.as_str())),
            ))
        }
        AssetsCommand::Show {
            asset,
            as_of,
            output,
        } => {
            let id = resolve::ci(client, &asset).await?;
            let params: Vec<(&str, String)> = as_of.into_iter().map(|t| ("as_of", t)).collect();
            let answer = client.get(&["api", "v1", "assets", &id], &params).await?;
            written(Printer::stdout(output.format).view(&answer.body, &asset_view(&answer.value)))
        }
        AssetsCommand::History {
            asset,
            since,
            until,
            kind,
            page,
            output,
        } => {
            let id = resolve::ci(client, &asset).await?;
            let mut params = Vec::new();
            if let Some(since) = since {
                params.push(("since", since));
            }
            if let Some(until) = until {
                params.push(("until", until));
            }
            if !kind.is_empty() {
                params.push(("kind", kind.join(",")));
            }
            page_query(&page, &mut params);
            let answer = client
                .get(&["api", "v1", "assets", &id, "history"], &params)
                .await?;
            let (entries, next) = items(&answer.value)?;
            let rows: Vec<Value> = entries.iter().map(history_row).collect();
            let again = format!("census assets history {id}");
            written(Printer::stdout(output.format).list(
                &answer.body,
                &rows,
                &HISTORY_COLUMNS,
                next.map(|cursor| (cursor, again.as_str())),
            ))
        }
    }
}

/// One history entry as a row: its changes summarised in one cell.
fn history_row(entry: &Value) -> Value {
    let changes: Vec<String> = entry["changes"]
        .as_array()
        .map(|changes| changes.iter().map(describe_change).collect())
        .unwrap_or_default();
    json!({
        "record": entry["record"],
        "at": entry["at"],
        "kind": entry["kind"],
        "source": entry["source"],
        "by": entry["by"],
        "changes": changes.join("; "),
    })
}

/// One change of a history entry in a few words: `package_upgraded openssl 3.0.2 → 3.0.11`,
/// `ip_added eno1 10.1.0.5`. Kinds this version does not know still read sensibly (subject and
/// value are looked up by the common field names).
pub fn describe_change(change: &Value) -> String {
    let get = |name: &str| text_at(change, &format!("/{name}"));
    let kind = get("kind").unwrap_or_else(|| "change".into());
    let subject = ["name", "slot", "interface", "field", "agent_id"]
        .iter()
        .find_map(|name| get(name));
    let bytes_or_text = |name: &str| match change.get(name) {
        Some(Value::Number(n)) if name.ends_with("bytes") => n.as_u64().map(human_bytes),
        _ => get(name),
    };
    let value = if change.get("from").is_some() || change.get("to").is_some() {
        let side = |name: &str| {
            let value = change.get(name).and_then(|v| match v {
                Value::Number(n) if kind == "memory_total_changed" => n.as_u64().map(human_bytes),
                other => crate::output::text_of(other),
            });
            value.unwrap_or_else(|| "-".into())
        };
        Some(format!("{} → {}", side("from"), side("to")))
    } else {
        ["version", "address", "mac", "serial", "size_bytes"]
            .iter()
            .find_map(|name| bytes_or_text(name))
    };
    [Some(kind), subject, value]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The "show" view of an asset.
pub fn asset_view(asset: &Value) -> View {
    let at = |pointer: &str| text_at(asset, pointer);
    let inventory = &asset["inventory"];
    let cpu = inventory.pointer("/hardware/cpu").map(|cpu| {
        let model = text_at(cpu, "/model").unwrap_or_else(|| "unknown CPU".into());
        match (
            text_at(cpu, "/physical_cores"),
            text_at(cpu, "/logical_cpus"),
        ) {
            (Some(cores), Some(threads)) => format!("{model} ({cores} cores, {threads} threads)"),
            (Some(cores), None) => format!("{model} ({cores} cores)"),
            (None, Some(threads)) => format!("{model} ({threads} CPUs)"),
            _ => model,
        }
    });
    let disks: Vec<String> = list(inventory, "/hardware/disks")
        .iter()
        .map(|disk| {
            [
                text_at(disk, "/name"),
                disk["size_bytes"].as_u64().map(human_bytes),
                text_at(disk, "/model"),
                text_at(disk, "/serial").map(|s| format!("serial {s}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
        })
        .collect();
    let mut view = View::default();
    let mut fields = vec![
        ("id".to_string(), at("/id")),
        ("hostname".into(), at("/inventory/host/hostname")),
        ("fqdn".into(), at("/inventory/host/fqdn")),
        ("status".into(), at("/status/value")),
        ("os".into(), at("/inventory/os/pretty_name")),
        ("kernel".into(), at("/inventory/os/kernel")),
        ("vendor".into(), at("/inventory/hardware/system/vendor")),
        ("product".into(), at("/inventory/hardware/system/product")),
        ("serial".into(), at("/inventory/hardware/system/serial")),
        ("cpu".into(), cpu),
        (
            "memory".into(),
            inventory
                .pointer("/hardware/memory/total_bytes")
                .and_then(Value::as_u64)
                .map(human_bytes),
        ),
        (
            "disks".into(),
            (!disks.is_empty()).then(|| disks.join("; ")),
        ),
        (
            "packages".into(),
            Some(list(inventory, "/software/packages").len().to_string()),
        ),
    ];
    for managed in ["asset_tag", "owner", "location", "cost_center", "notes"] {
        fields.push((managed.into(), at(&format!("/managed/{managed}/value"))));
    }
    fields.extend([
        (
            "first_seen".into(),
            at("/first_seen").map(|t| short_time(&t)),
        ),
        ("last_seen".into(), at("/last_seen").map(|t| short_time(&t))),
        (
            "agents".into(),
            Some(
                list(asset, "/agents")
                    .iter()
                    .filter_map(|agent| text_at(agent, "/agent_id"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|agents| !agents.is_empty()),
        ),
        ("identified_by".into(), at("/identity/rule")),
    ]);
    if let Some(as_of) = at("/as_of") {
        fields.push(("as_of".into(), Some(as_of)));
    }
    view.fields("", "", fields);
    let network: Vec<Vec<(String, String)>> = list(inventory, "/network/interfaces")
        .iter()
        .map(|interface| {
            let addresses: Vec<String> = list(interface, "/addresses")
                .iter()
                .filter_map(|address| {
                    let ip = text_at(address, "/address")?;
                    Some(match text_at(address, "/prefix_len") {
                        Some(prefix) => format!("{ip}/{prefix}"),
                        None => ip,
                    })
                })
                .collect();
            vec![
                (
                    "interface".into(),
                    text_at(interface, "/name").unwrap_or_else(|| "-".into()),
                ),
                (
                    "mac".into(),
                    text_at(interface, "/mac").unwrap_or_else(|| "-".into()),
                ),
                (
                    "addresses".into(),
                    if addresses.is_empty() {
                        "-".into()
                    } else {
                        addresses.join(", ")
                    },
                ),
            ]
        })
        .collect();
    view.list(
        "network",
        "Network",
        network,
        "no network interfaces reported",
    );
    view
}

/// The array at `pointer`, or an empty slice.
fn list<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Format;

    #[test]
    fn changes_read_as_a_few_words() {
        let cases = [
            (
                json!({"kind": "package_upgraded", "manager": "dpkg", "name": "openssl", "arch": null,
                       "from": "3.0.2-1", "to": "3.0.11-1"}),
                "package_upgraded openssl 3.0.2-1 → 3.0.11-1",
            ),
            (
                json!({"kind": "package_added", "manager": "dpkg", "name": "curl", "version": "7.88.1"}),
                "package_added curl 7.88.1",
            ),
            (
                json!({"kind": "ip_added", "interface": "eno1", "address": "10.1.0.5"}),
                "ip_added eno1 10.1.0.5",
            ),
            (
                json!({"kind": "memory_total_changed", "from": 17179869184u64, "to": null}),
                "memory_total_changed 16.0 GiB → -",
            ),
            (
                json!({"kind": "disk_added", "name": "sdb", "serial": null, "model": "X", "size_bytes": 1073741824u64}),
                "disk_added sdb 1.0 GiB",
            ),
            (
                json!({"kind": "managed_field_changed", "field": "owner", "from": null, "to": "Smith, Jane"}),
                "managed_field_changed owner - → Smith, Jane",
            ),
            (
                json!({"kind": "agent_attached", "agent_id": "agt-1"}),
                "agent_attached agt-1",
            ),
            (json!({"kind": "teleported"}), "teleported"),
        ];
        for (change, expected) in cases {
            assert_eq!(describe_change(&change), expected);
        }
    }

    #[test]
    fn the_asset_view_shows_hardware_network_and_managed_fields() {
        let asset = json!({
            "id": "ci-000001", "status": {"value": "in_use", "source": "agent"},
            "first_seen": "2026-11-20T08:00:00Z", "last_seen": "2026-11-26T11:58:02Z",
            "agents": [{"agent_id": "agt-abc"}], "identity": {"rule": "machine_id"},
            "managed": {"owner": {"value": "Smith, Jane", "source": "person"}},
            "inventory": {
                "host": {"hostname": "web-01"},
                "os": {"pretty_name": "Debian GNU/Linux 12 (bookworm)"},
                "hardware": {"system": {"vendor": "Dell Inc.", "serial": "SRV-1"},
                             "cpu": {"model": "Xeon", "physical_cores": 8, "logical_cpus": 16},
                             "memory": {"total_bytes": 34359738368u64},
                             "disks": [{"name": "sda", "size_bytes": 1099511627776u64, "model": "PERC"}]},
                "network": {"interfaces": [{"name": "eno1", "mac": "52:54:00:00:00:01",
                    "addresses": [{"address": "10.1.0.5", "prefix_len": 16}]}]},
                "software": {"packages": [{"name": "openssl"}, {"name": "curl"}]}
            }
        });
        let text = asset_view(&asset).render(Format::Table, false);
        for expected in [
            "id:            ci-000001\n",
            "cpu:           Xeon (8 cores, 16 threads)\n",
            "memory:        32.0 GiB\n",
            "disks:         sda 1.0 TiB PERC\n",
            "packages:      2\n",
            "owner:         Smith, Jane\n",
            "location:      -\n",
            "agents:        agt-abc\n",
            "eno1       52:54:00:00:00:01  10.1.0.5/16\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let csv = asset_view(&asset).render(Format::Csv, false);
        assert!(csv.contains("network.0.addresses,10.1.0.5/16\r\n"), "{csv}");
        assert!(csv.contains("owner,\"Smith, Jane\"\r\n"), "{csv}");
    }
}

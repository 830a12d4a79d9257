//! The asset detail page: identity and the rule that matched, hardware summary, managed fields (a
//! form for editors), software with a filter, the history timeline, linked records and related CIs.

use super::WebUser;
use super::assets::{AssetView, status_badge};
use super::dashboard::priority_badge;
use super::page::{self, HtmlPage};
use crate::api::itsm::Permission;
use crate::cmdb::history::Change;
use crate::cmdb::model::Status;
use crate::itsm::relationship::RelationKind;
use maud::{Markup, html};

/// Software rows shown at once; a filter narrows the rest.
const SOFTWARE_SHOWN: usize = 200;
/// Changes listed per history entry before "and N more".
const CHANGES_SHOWN: usize = 8;

fn arrow(from: Option<&str>, to: Option<&str>) -> String {
    format!("{} → {}", from.unwrap_or("none"), to.unwrap_or("none"))
}

fn size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown size".to_string(), page::bytes)
}

/// One history change in words.
pub fn describe(change: &Change) -> String {
    use Change::*;
    match change {
        PackageAdded { name, version, .. } => format!("installed {name} {version}"),
        PackageRemoved { name, version, .. } => format!("removed {name} {version}"),
        PackageUpgraded { name, from, to, .. } => format!("upgraded {name} {from} → {to}"),
        PackageDowngraded { name, from, to, .. } => format!("downgraded {name} {from} → {to}"),
        PackageChanged { name, from, to, .. } => format!("changed {name} {from} → {to}"),
        DiskAdded {
            name,
            model,
            size_bytes,
            ..
        } => format!(
            "disk {name} added ({}, {})",
            model.as_deref().unwrap_or("unknown model"),
            size(*size_bytes)
        ),
        DiskRemoved {
            name,
            model,
            size_bytes,
            ..
        } => format!(
            "disk {name} removed ({}, {})",
            model.as_deref().unwrap_or("unknown model"),
            size(*size_bytes)
        ),
        MemoryModuleAdded {
            slot, size_bytes, ..
        } => {
            format!("memory module added in {slot} ({})", size(*size_bytes))
        }
        MemoryModuleRemoved {
            slot, size_bytes, ..
        } => {
            format!("memory module removed from {slot} ({})", size(*size_bytes))
        }
        MemoryTotalChanged { from, to } => format!(
            "memory {}",
            arrow(
                from.map(page::bytes).as_deref(),
                to.map(page::bytes).as_deref()
            )
        ),
        CpuChanged { from, to } => format!("CPU {}", arrow(from.as_deref(), to.as_deref())),
        PciDeviceAdded { slot, device, .. } => {
            format!(
                "PCI device {slot} added ({})",
                device.as_deref().unwrap_or("unknown")
            )
        }
        PciDeviceRemoved { slot, device, .. } => {
            format!(
                "PCI device {slot} removed ({})",
                device.as_deref().unwrap_or("unknown")
            )
        }
        MacAdded { interface, mac } => format!("MAC {mac} added on {interface}"),
        MacRemoved { interface, mac } => format!("MAC {mac} removed from {interface}"),
        IpAdded { interface, address } => format!("address {address} added on {interface}"),
        IpRemoved { interface, address } => format!("address {address} removed from {interface}"),
        HostnameChanged { from, to } => {
            format!("hostname {}", arrow(from.as_deref(), to.as_deref()))
        }
        OsChanged { field, from, to } => {
            format!("OS {field} {}", arrow(from.as_deref(), to.as_deref()))
        }
        ManagedFieldChanged { field, from, to } => {
            format!(
                "{} {}",
                field.replace('_', " "),
                arrow(from.as_deref(), to.as_deref())
            )
        }
        StatusChanged { from, to } => format!("status {from} → {to}"),
        AgentAttached { agent_id } => format!("agent {agent_id} attached"),
    }
}

fn dl_row(term: &str, value: Markup) -> Markup {
    html! { div { dt { (term) } dd { (value) } } }
}

fn identity(view: &AssetView) -> Markup {
    let header = &view.asset.header;
    let rule = header.identity.rule.map(|rule| page::words(&rule));
    html! {
        section.card aria-labelledby="identity" {
            h2 id="identity" { "Identity" }
            dl.facts {
                (dl_row("CI id", html! { code { (header.id) } }))
                (dl_row("Status", status_badge(header.status.value)))
                (dl_row("First seen", html! { (page::when(&header.first_seen)) }))
                (dl_row("Last seen", html! { (page::when(&header.last_seen)) }))
                (dl_row("Matched by", match &rule {
                    Some(rule) => html! { "rule " strong { (rule) } },
                    None => html! { "no rule: created from its first report" },
                }))
                @if !header.identity.values.is_empty() {
                    (dl_row("Evidence", html! {
                        ul.plain { @for (name, value) in &header.identity.values { li { code { (name) } " = " (value) } } }
                    }))
                }
                @if !header.identity.notes.is_empty() {
                    (dl_row("Notes", html! { ul.plain { @for note in &header.identity.notes { li { (note) } } } }))
                }
                (dl_row("Agents", html! {
                    ul.plain { @for agent in &header.agents { li { code { (agent.agent_id) } " · last seen " (page::when(&agent.last_seen)) } } }
                }))
            }
        }
    }
}

fn hardware(view: &AssetView) -> Markup {
    let inventory = &view.asset.inventory;
    let system = &inventory.hardware.system;
    let cpu = &inventory.hardware.cpu;
    let disks: u64 = inventory
        .hardware
        .disks
        .iter()
        .filter_map(|d| d.size_bytes)
        .sum();
    let os = inventory
        .os
        .pretty_name
        .as_deref()
        .or(inventory.os.name.as_deref());
    html! {
        section.card aria-labelledby="hardware" {
            h2 id="hardware" { "Hardware and OS" }
            dl.facts {
                (dl_row("Vendor", page::opt(system.vendor.as_deref())))
                (dl_row("Model", page::opt(system.product.as_deref())))
                (dl_row("Serial", page::opt(system.serial.as_deref())))
                (dl_row("BIOS", html! {
                    (page::opt(inventory.hardware.bios.version.as_deref()))
                    @if let Some(date) = &inventory.hardware.bios.date { " (" (date) ")" }
                }))
                (dl_row("CPU", html! {
                    (page::opt(cpu.model.as_deref()))
                    @if let Some(cores) = cpu.physical_cores { " · " (cores) " cores" }
                }))
                (dl_row("Memory", page::opt(inventory.hardware.memory.total_bytes.map(page::bytes).as_deref())))
                (dl_row("Disks", html! {
                    (inventory.hardware.disks.len()) " · " (page::bytes(disks)) " in total"
                }))
                (dl_row("OS", page::opt(os)))
                (dl_row("Kernel", page::opt(inventory.os.kernel_version.as_deref().or(inventory.os.kernel.as_deref()))))
            }
        }
    }
}

fn managed(user: &WebUser, view: &AssetView, can_edit: bool, saved: bool) -> Markup {
    let header = &view.asset.header;
    let id = &header.id;
    let fields = header.managed.fields();
    let labels = [
        ("asset_tag", "Asset tag"),
        ("owner", "Owner"),
        ("location", "Location"),
        ("cost_center", "Cost center"),
        ("notes", "Notes"),
    ];
    html! {
        section.card aria-labelledby="managed" {
            h2 id="managed" { "Managed fields" }
            @if saved { p.notice role="status" { "Saved." } }
            @if can_edit {
                form.stack method="post" action={ "/assets/" (id) "/edit" } {
                    (page::csrf(user))
                    input type="hidden" name="status_was" value=(header.status.value.as_str());
                    @for ((name, value), (_, label)) in fields.iter().zip(labels) {
                        label for={ "f-" (name) } { (label) }
                        @if *name == "notes" {
                            textarea id={ "f-" (name) } name=(name) rows="3" { (value.unwrap_or_default()) }
                        } @else {
                            input id={ "f-" (name) } name=(name) type="text" value=(value.unwrap_or_default());
                        }
                    }
                    label for="f-status" { "Lifecycle status" }
                    select id="f-status" name="status" {
                        @for status in Status::ALL {
                            option value=(status.as_str()) selected[status == header.status.value] {
                                (status.as_str().replace('_', " "))
                            }
                        }
                    }
                    button.primary type="submit" { "Save" }
                }
            } @else {
                dl.facts {
                    @for ((_, value), (_, label)) in fields.iter().zip(labels) {
                        (dl_row(label, page::opt(*value)))
                    }
                }
                p.muted.small { "Editing needs the asset manager or admin role." }
            }
        }
    }
}

fn software(view: &AssetView, filter: Option<&str>) -> Markup {
    let packages = &view.asset.inventory.software.packages;
    let needle = filter.map(str::to_lowercase);
    let matching: Vec<_> = packages
        .iter()
        .filter(|p| {
            needle
                .as_ref()
                .is_none_or(|n| p.name.to_lowercase().contains(n))
        })
        .collect();
    let id = &view.asset.header.id;
    html! {
        section.card.wide aria-labelledby="software" {
            h2 id="software" { "Software " span.muted { "(" (packages.len()) " packages)" } }
            form.inline method="get" action={ "/assets/" (id) } {
                label for="pkg" { "Filter packages" }
                input id="pkg" name="pkg" type="search" value=[filter] placeholder="openssl";
                button type="submit" { "Filter" }
                @if filter.is_some() { a href={ "/assets/" (id) "#software" } { "Clear" } }
            }
            @if matching.is_empty() {
                p.empty { "No package matches." }
            } @else {
                table.data.compact {
                    caption.sr { "Installed packages" }
                    thead { tr { th scope="col" { "Package" } th scope="col" { "Version" } th scope="col" { "Arch" } th scope="col" { "Manager" } } }
                    tbody {
                        @for package in matching.iter().take(SOFTWARE_SHOWN) {
                            tr {
                                th scope="row" { (package.name) }
                                td { code { (package.version) } }
                                td { (page::opt(package.arch.as_deref())) }
                                td { (package.manager) }
                            }
                        }
                    }
                }
                @if matching.len() > SOFTWARE_SHOWN {
                    p.muted.small { (matching.len() - SOFTWARE_SHOWN) " more; narrow the filter to see them." }
                }
            }
        }
    }
}

fn timeline(view: &AssetView) -> Markup {
    html! {
        section.card.wide aria-labelledby="history" {
            h2 id="history" { "History" }
            @if view.history.is_empty() { p.empty { "No history yet." } }
            ol.timeline {
                @for entry in &view.history {
                    li {
                        p.when {
                            time datetime=(entry.at) { (page::when(&entry.at)) }
                            " · " strong { (entry.kind.as_str().replace('_', " ")) }
                            " by " (entry.by)
                        }
                        @if !entry.changes.is_empty() {
                            ul.plain.changes {
                                @for change in entry.changes.iter().take(CHANGES_SHOWN) { li { (describe(change)) } }
                                @if entry.changes.len() > CHANGES_SHOWN {
                                    li.muted { "and " (entry.changes.len() - CHANGES_SHOWN) " more" }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = view.next_history {
                nav.pager aria-label="History pages" {
                    a rel="next" href={ "/assets/" (view.asset.header.id) "?history=" (next) "#history" } { "Older entries →" }
                }
            }
        }
    }
}

fn records(user: &WebUser, view: &AssetView) -> Markup {
    html! {
        @if let Some(records) = &view.records {
            section.card aria-labelledby="records" {
                h2 id="records" { "Incidents, changes and problems" }
                @if records.incidents.is_empty() && records.changes.is_empty() && records.problems.is_empty() {
                    p.empty { "None recorded on this CI." }
                }
                ul.plain.records {
                    @for incident in &records.incidents {
                        li { a href={ "/incidents/" (incident.id) } { (incident.id) } " " (incident.title) " "
                             (priority_badge(incident.priority)) " " span.muted { (incident.state.to_string()) } }
                    }
                    @for change in &records.changes {
                        li { a href={ "/changes/" (change.id) } { (change.id) } " " (change.title) " "
                             span.muted { (change.state.to_string()) } }
                    }
                    @for problem in &records.problems {
                        li { code { (problem.id) } " " (problem.title) " " span.muted { (page::words(&problem.state)) } }
                    }
                }
            }
        }
        @if let Some(related) = &view.related {
            section.card aria-labelledby="related" {
                h2 id="related" { "Related CIs" }
                @if related.is_empty() { p.empty { "No relationships recorded." } }
                ul.plain {
                    @for relation in related {
                        li { (relation.label) " " (page::ci_links(std::slice::from_ref(&relation.other), &view.names)) }
                    }
                }
                @if user.can(Permission::WriteRelationships) {
                    form.stack method="post" action={ "/assets/" (view.asset.header.id) "/relationships" } {
                        (page::csrf(user))
                        label for="r-kind" { "This CI" }
                        select id="r-kind" name="kind" {
                            @for kind in RelationKind::ALL { option value=(kind.key()) { (kind.name()) } }
                        }
                        label for="r-to" { "CI" }
                        input id="r-to" name="to" type="text" required placeholder="ci-000123";
                        button type="submit" { "Add relationship" }
                    }
                }
            }
        }
    }
}

pub fn render(
    user: &WebUser,
    view: &AssetView,
    can_edit: bool,
    filter: Option<&str>,
    saved: bool,
) -> HtmlPage {
    let header = &view.asset.header;
    let name = view
        .asset
        .inventory
        .host
        .hostname
        .clone()
        .unwrap_or_else(|| header.id.clone());
    let content = html! {
        div.page-head {
            div {
                p.crumbs { a href="/assets" { "Assets" } " / " (header.id) }
                h1 { (name) " " (status_badge(header.status.value)) }
            }
            div.actions {
                @if user.can(Permission::WriteIncidents) {
                    a.button.primary href={ "/incidents/new" (page::query(&[("ci", Some(&header.id))])) } { "Create incident on this CI" }
                    " " a.button href={ "/problems/new" (page::query(&[("ci", Some(&header.id))])) } { "Open a problem" }
                }
                @if user.can(Permission::WriteChanges) {
                    " " a.button href={ "/changes/new" (page::query(&[("ci", Some(&header.id))])) } { "Plan a change" }
                }
            }
        }
        div.grid {
            (identity(view))
            (hardware(view))
            (managed(user, view, can_edit, saved))
            (records(user, view))
            (software(view, filter))
            (timeline(view))
        }
    };
    page::shell(user, &name, content)
}

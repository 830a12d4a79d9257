//! Services: systemd `.service` units (or OpenRC init scripts on Alpine), with their enablement and, on
//! a live systemd machine, their active and sub state.
//!
//! Layout: `mod.rs` walks the unit directories; [`units`] holds the pure parsers.
//!
//! Enablement is read from the filesystem, so it works on any root (as `systemctl list-unit-files`):
//! - unit files are looked up in `/etc/systemd/system`, `/run/systemd/system`, `/usr/lib/systemd/system`,
//!   `/lib/systemd/system`, first found wins; a link to `/dev/null` is `masked`;
//! - `enabled` when linked from a `*.wants/` or `*.requires/` directory of `/etc/systemd/system`;
//!   otherwise `static` (no `[Install]`), `indirect` (only `Also=`) or `disabled`;
//! - aliases (a link named differently from its target, `sshd.service -> ssh.service`) are not listed
//!   separately, and templates (`getty@.service`) only through their enabled instances (`getty@tty1`).
//!
//! Active/sub state comes from one `systemctl list-units` run, only on the live machine and only when
//! systemd is PID 1 (`/run/systemd/system` exists); elsewhere it is null, which is not an error. Loaded
//! units without a unit file in those directories (generated, transient) are added from that list.
//!
//! OpenRC (no systemd unit directory, `/etc/runlevels` present): every `/etc/init.d` script is a
//! service, `enabled` when linked from a runlevel; state is null.
//!
//! Limitations: drop-ins (`*.service.d/`) and user units are not read; `generated` is reported only for
//! units systemctl lists from `/run/systemd/generator*`.

pub mod units;

use super::{Errors, Root};
use census_shared::inventory::Service;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

pub fn collect(root: &Root, errors: &mut Errors) -> Vec<Service> {
    let mut services = systemd_units(root);
    if services.is_empty() && root.exists("/etc/runlevels") {
        return openrc_services(root);
    }
    if root.is_live() && root.exists("/run/systemd/system") {
        match run_list_units() {
            Ok(output) => merge_states(root, &mut services, &units::parse_list_units(&output)),
            Err(error) => errors.record("services", error),
        }
    }
    services.into_values().collect()
}

fn run_list_units() -> Result<String, String> {
    let output = std::process::Command::new("systemctl")
        .args([
            "list-units",
            "--type=service",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
        ])
        .output()
        .map_err(|error| format!("running systemctl failed: {error}; is systemd installed?"))?;
    if !output.status.success() {
        return Err(format!(
            "systemctl list-units failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Adds live states to the services found on disk; loaded units without a file on disk are added.
fn merge_states(
    root: &Root,
    services: &mut BTreeMap<String, Service>,
    listed: &[units::ListedUnit],
) {
    for unit in listed
        .iter()
        .filter(|u| u.load == "loaded" && u.name.ends_with(".service"))
    {
        let service = services.entry(unit.name.clone()).or_insert_with(|| {
            let generated = ["/run/systemd/generator", "/run/systemd/generator.late"]
                .iter()
                .any(|dir| root.exists(&format!("{dir}/{}", unit.name)));
            Service {
                name: unit.name.clone(),
                description: unit.description.clone(),
                enabled: generated.then(|| "generated".to_string()),
                ..Service::default()
            }
        });
        service.state = Some(unit.active.clone());
        service.sub_state = Some(unit.sub.clone());
    }
}

/// Reads a unit file; absolute link targets are resolved inside the root, not on the agent's machine.
fn read_unit(root: &Root, path: &str) -> Option<units::UnitFile> {
    let full = root.path(path);
    let text = match std::fs::symlink_metadata(&full) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(&full).ok()?;
            let resolved = resolve_in_root(root, Path::new(path), &target);
            std::fs::read_to_string(resolved).ok()?
        }
        _ => std::fs::read_to_string(full).ok()?,
    };
    Some(units::parse_unit_file(&text))
}

fn resolve_in_root(root: &Root, link: &Path, target: &Path) -> PathBuf {
    if target.is_absolute() {
        root.path(&target.to_string_lossy())
    } else {
        let parent = link.parent().unwrap_or(Path::new("/"));
        root.path(&parent.join(target).to_string_lossy())
    }
}

fn systemd_units(root: &Root) -> BTreeMap<String, Service> {
    let mut services = BTreeMap::new();
    let mut templates: BTreeMap<String, units::UnitFile> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for dir in UNIT_DIRS {
        for name in root.list_dir(dir).unwrap_or_default() {
            if !name.ends_with(".service") || !seen.insert(name.clone()) {
                continue;
            }
            let path = format!("{dir}/{name}");
            let link = root.read_link(&path);
            if link.as_deref() == Some(Path::new("/dev/null")) {
                services.insert(name.clone(), masked(&name));
                continue;
            }
            let is_alias = link
                .as_deref()
                .and_then(Path::file_name)
                .is_some_and(|target| target.to_string_lossy() != name);
            if is_alias {
                continue;
            }
            let Some(unit) = read_unit(root, &path) else {
                continue;
            };
            if name.ends_with("@.service") {
                templates.insert(name, unit);
            } else {
                services.insert(name.clone(), service(&name, &unit));
            }
        }
    }
    for (name, target) in wanted_units(root) {
        // The link's own name first (an alias or instance name), then what it points to.
        let known = [&name, &target]
            .into_iter()
            .find(|n| services.contains_key(*n))
            .cloned();
        if let Some(service) = known.and_then(|n| services.get_mut(&n)) {
            if service.enabled.as_deref() != Some("masked") {
                service.enabled = Some("enabled".into());
            }
            continue;
        }
        // An enabled instance of a template: getty@tty1.service from getty@.service.
        let Some((prefix, instance_name)) = name.trim_end_matches(".service").split_once('@')
        else {
            continue;
        };
        if instance_name.is_empty() {
            continue;
        }
        if let Some(template) = templates.get(&format!("{prefix}@.service")) {
            let mut instance = service(&name, template);
            instance.enabled = Some("enabled".into());
            // Expand the instance specifiers as systemd does for the description ("Getty on tty1").
            instance.description = instance
                .description
                .map(|d| d.replace("%i", instance_name).replace("%I", instance_name));
            services.insert(name.clone(), instance);
        }
    }
    services
}

fn masked(name: &str) -> Service {
    Service {
        name: name.to_string(),
        enabled: Some("masked".into()),
        ..Service::default()
    }
}

fn service(name: &str, unit: &units::UnitFile) -> Service {
    Service {
        name: name.to_string(),
        description: unit.description.clone(),
        state: None,
        sub_state: None,
        enabled: Some(unit.unlinked_state.to_string()),
    }
}

/// `(link name, link target's name)` of every `.service` link in `/etc/systemd/system/*.{wants,requires}`.
fn wanted_units(root: &Root) -> Vec<(String, String)> {
    let base = "/etc/systemd/system";
    let mut wanted = Vec::new();
    for dir in root.list_dir(base).unwrap_or_default() {
        if !(dir.ends_with(".wants") || dir.ends_with(".requires")) {
            continue;
        }
        for name in root.list_dir(&format!("{base}/{dir}")).unwrap_or_default() {
            if !name.ends_with(".service") {
                continue;
            }
            let target = root
                .read_link(&format!("{base}/{dir}/{name}"))
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| name.clone());
            wanted.push((name, target));
        }
    }
    wanted
}

fn openrc_services(root: &Root) -> Vec<Service> {
    let mut enabled = BTreeSet::new();
    for level in root.list_dir("/etc/runlevels").unwrap_or_default() {
        enabled.extend(
            root.list_dir(&format!("/etc/runlevels/{level}"))
                .unwrap_or_default(),
        );
    }
    root.list_dir("/etc/init.d")
        .unwrap_or_default()
        .into_iter()
        .filter(|name| !name.starts_with('.') && !name.ends_with(".sh"))
        .map(|name| {
            let description = root
                .read_to_string(&format!("/etc/init.d/{name}"))
                .ok()
                .and_then(|script| units::openrc_description(&script));
            let state = if enabled.contains(&name) {
                "enabled"
            } else {
                "disabled"
            };
            Service {
                description,
                enabled: Some(state.to_string()),
                name,
                state: None,
                sub_state: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! Virtualization detection in systemd-detect-virt's vocabulary, from files only (no CPUID, no subprocess).
//!
//! Layout: [`detect`] gathers [`Evidence`] from the root, [`classify`] (pure) decides. Containers win over
//! VMs, as in systemd: a container in a VM is reported as the container. Container evidence, strongest
//! first: the manager PID 1 declares (`/run/systemd/container`, `/run/host/container-manager`,
//! `container=` in `/proc/1/environ`, which needs root), marker files (`/run/.containerenv` podman,
//! `/.dockerenv` docker), `/proc/1/cgroup` paths, then a Microsoft kernel (WSL). VM evidence: DMI vendor
//! strings, `/sys/hypervisor/type`, then the cpuinfo `hypervisor` flag (refined by the clock source:
//! `kvm-clock`, `hyperv_clocksource*`, `xen`).
//! Limitation: without CPUID, a QEMU guest without KVM and without DMI is only `vm-other`.

use super::Root;

/// Everything the decision uses, read once.
#[derive(Debug, Default, PartialEq)]
pub struct Evidence {
    pub container_manager: Option<String>,
    pub containerenv: bool,
    pub dockerenv: bool,
    pub pid1_cgroup: Option<String>,
    pub osrelease: Option<String>,
    pub dmi: Vec<String>,
    pub hypervisor_type: Option<String>,
    pub hypervisor_flag: bool,
    pub clocksources: Option<String>,
}

pub fn detect(root: &Root) -> Option<String> {
    Some(classify(&gather(root)).to_string())
}

pub fn gather(root: &Root) -> Evidence {
    let container_manager = root
        .read_value("/run/systemd/container")
        .or_else(|| root.read_value("/run/host/container-manager"))
        .or_else(|| {
            let environ = root.read_bytes("/proc/1/environ").ok()?;
            environ
                .split(|&b| b == 0)
                .find_map(|var| var.strip_prefix(b"container="))
                .and_then(|value| census_shared::inventory::clean(&String::from_utf8_lossy(value)))
        });
    let cpuinfo = root.read_to_string("/proc/cpuinfo").unwrap_or_default();
    Evidence {
        container_manager,
        containerenv: root.exists("/run/.containerenv"),
        dockerenv: root.exists("/.dockerenv"),
        pid1_cgroup: root.read_to_string("/proc/1/cgroup").ok(),
        osrelease: root.read_value("/proc/sys/kernel/osrelease"),
        dmi: ["product_name", "sys_vendor", "board_vendor", "bios_vendor"]
            .iter()
            .filter_map(|file| root.read_value(&format!("/sys/class/dmi/id/{file}")))
            .collect(),
        hypervisor_type: root.read_value("/sys/hypervisor/type"),
        hypervisor_flag: cpuinfo
            .lines()
            .find(|line| line.starts_with("flags"))
            .is_some_and(|line| line.split_whitespace().any(|flag| flag == "hypervisor")),
        clocksources: root
            .read_value("/sys/devices/system/clocksource/clocksource0/available_clocksource"),
    }
}

/// DMI vendor prefixes, as systemd's `detect_vm_dmi` table has them.
const DMI_VENDORS: &[(&str, &str)] = &[
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Oracle Corporation", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
    ("Google", "google"),
];

pub fn classify(evidence: &Evidence) -> &'static str {
    if let Some(manager) = &evidence.container_manager {
        return match manager.as_str() {
            "docker" => "docker",
            "podman" => "podman",
            "lxc" => "lxc",
            "lxc-libvirt" => "lxc-libvirt",
            "systemd-nspawn" => "systemd-nspawn",
            "rkt" => "rkt",
            "wsl" => "wsl",
            "proot" => "proot",
            "pouch" => "pouch",
            _ => "container-other",
        };
    }
    if evidence.containerenv {
        return "podman";
    }
    if evidence.dockerenv {
        return "docker";
    }
    if let Some(cgroup) = &evidence.pid1_cgroup {
        if cgroup.contains("/docker/") || cgroup.contains("/docker-") {
            return "docker";
        }
        if cgroup.contains("/libpod-") || cgroup.contains("/libpod_parent") {
            return "podman";
        }
        if cgroup.contains("/lxc/") || cgroup.contains("/lxc.payload") {
            return "lxc";
        }
        if cgroup.contains("kubepods") {
            return "container-other";
        }
    }
    if let Some(release) = &evidence.osrelease {
        let lower = release.to_ascii_lowercase();
        if lower.contains("microsoft") || lower.contains("wsl") {
            return "wsl";
        }
    }
    vm(evidence)
}

fn vm(evidence: &Evidence) -> &'static str {
    let clock = |name: &str| {
        evidence
            .clocksources
            .as_deref()
            .is_some_and(|sources| sources.split_whitespace().any(|s| s.starts_with(name)))
    };
    // Hyper-V presents itself as "Microsoft Corporation"; so do Surface laptops, hence the product check.
    if evidence.dmi.iter().any(|v| v == "Virtual Machine")
        && evidence.dmi.iter().any(|v| v == "Microsoft Corporation")
    {
        return "microsoft";
    }
    for value in &evidence.dmi {
        if let Some((_, name)) = DMI_VENDORS
            .iter()
            .find(|(prefix, _)| value.starts_with(prefix))
        {
            // QEMU accelerated by KVM says QEMU in DMI; systemd reports kvm (from CPUID), and so do we
            // when the paravirtual KVM clock is offered.
            return if *name == "qemu" && clock("kvm-clock") {
                "kvm"
            } else {
                name
            };
        }
    }
    match evidence.hypervisor_type.as_deref() {
        Some("xen") => return "xen",
        Some(_) => return "vm-other",
        None => {}
    }
    if evidence.hypervisor_flag {
        return if clock("kvm-clock") {
            "kvm"
        } else if clock("hyperv_clocksource") {
            "microsoft"
        } else if clock("xen") {
            "xen"
        } else {
            "vm-other"
        };
    }
    "none"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Root {
        Root::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/virt")
                .join(name),
        )
    }

    #[test]
    fn fixture_roots() {
        for (root, expected) in [
            ("docker", "docker"),
            ("podman", "podman"),
            ("lxc-cgroup", "lxc"),
            ("wsl2", "wsl"),
            ("vmware", "vmware"),
            ("hyperv", "microsoft"),
            ("qemu-kvm", "kvm"),
            ("firecracker", "kvm"),
            ("bare-metal", "none"),
        ] {
            assert_eq!(detect(&fixture(root)).as_deref(), Some(expected), "{root}");
        }
    }

    #[test]
    fn classification_table() {
        let ev = |f: &dyn Fn(&mut Evidence)| {
            let mut evidence = Evidence::default();
            f(&mut evidence);
            classify(&evidence)
        };
        assert_eq!(ev(&|_| {}), "none");
        assert_eq!(
            ev(&|e| e.container_manager = Some("oci".into())),
            "container-other"
        );
        assert_eq!(
            ev(&|e| {
                e.container_manager = Some("podman".into());
                e.dockerenv = true
            }),
            "podman"
        );
        assert_eq!(
            ev(&|e| e.pid1_cgroup = Some("0::/kubepods/besteffort/pod1\n".into())),
            "container-other"
        );
        assert_eq!(
            ev(&|e| e.dmi = vec!["Surface Laptop 5".into(), "Microsoft Corporation".into()]),
            "none"
        );
        assert_eq!(
            ev(&|e| e.dmi = vec!["HVM domU".into(), "Xen".into()]),
            "xen"
        );
        assert_eq!(
            ev(&|e| e.dmi = vec!["VirtualBox".into(), "innotek GmbH".into()]),
            "oracle"
        );
        assert_eq!(
            ev(&|e| e.dmi = vec!["m5.large".into(), "Amazon EC2".into()]),
            "amazon"
        );
        assert_eq!(
            ev(&|e| e.dmi = vec!["Google Compute Engine".into()]),
            "google"
        );
        assert_eq!(
            ev(&|e| e.dmi = vec!["Standard PC (i440FX + PIIX, 1996)".into(), "QEMU".into()]),
            "qemu"
        );
        assert_eq!(ev(&|e| e.hypervisor_type = Some("xen".into())), "xen");
        assert_eq!(ev(&|e| e.hypervisor_flag = true), "vm-other");
    }
}

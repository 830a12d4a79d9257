//! Operating system identity: distribution (os-release), point release, kernel and architecture.
//!
//! Layout: [`parse_os_release`] reads the freedesktop `os-release` format (shell-like assignments with
//! double quotes + backslash escapes, or single quotes taken literally); [`version_full`] picks the exact
//! point release from the distribution's own file (`/etc/debian_version`, `/etc/redhat-release`,
//! `/etc/alpine-release`) or from os-release `VERSION` (Ubuntu's `24.04.1 LTS`).
//!
//! Kernel facts come from `uname` on the live machine. For any other root they come from that root's
//! `proc/sys/kernel/{osrelease,version,arch}` when it holds a captured copy, and are null otherwise:
//! the kernel running the agent says nothing about a mounted image.
//!
//! Limitations: only os-release-era distributions (2012+); no LSB `lsb_release` fallback.

use super::{Errors, Root};
use census_shared::inventory::{Os, clean};
use std::collections::HashMap;

pub fn collect(root: &Root, errors: &mut Errors) -> Os {
    let mut os = Os::default();
    match root
        .read_to_string("/etc/os-release")
        .or_else(|_| root.read_to_string("/usr/lib/os-release"))
    {
        Ok(text) => {
            let release = parse_os_release(&text);
            let distro_file = |path: &str| root.read_value(path);
            os = from_os_release(&release, distro_file);
        }
        Err(error) if error.is_not_found() => errors.record(
            "os",
            "no os-release: neither /etc/os-release nor /usr/lib/os-release exists",
        ),
        Err(error) => errors.record("os", error),
    }
    if root.is_live() {
        let uname = rustix::system::uname();
        os.kernel = clean(&uname.release().to_string_lossy());
        os.kernel_version = clean(&uname.version().to_string_lossy());
        os.arch = clean(&uname.machine().to_string_lossy());
    } else {
        os.kernel = root.read_value("/proc/sys/kernel/osrelease");
        os.kernel_version = root.read_value("/proc/sys/kernel/version");
        os.arch = root.read_value("/proc/sys/kernel/arch");
    }
    os
}

/// Builds the OS section from parsed os-release keys; `distro_file` reads a release file from the root.
pub fn from_os_release(
    release: &HashMap<String, String>,
    distro_file: impl Fn(&str) -> Option<String>,
) -> Os {
    let get = |key: &str| release.get(key).and_then(|value| clean(value));
    let id = get("ID");
    let id_like: Vec<String> = get("ID_LIKE")
        .map(|value| value.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let version = get("VERSION_ID").or_else(|| get("BUILD_ID")).or_else(|| {
        // Arch (and Arch Linux ARM) are rolling releases; older images carry neither key.
        let is_arch = id.as_deref().is_some_and(|id| id.starts_with("arch"))
            || id_like.iter().any(|like| like == "arch");
        is_arch.then(|| "rolling".to_string())
    });
    let is = |name: &str| id.as_deref() == Some(name) || id_like.iter().any(|like| like == name);
    let version_full = if id.as_deref() == Some("debian") {
        distro_file("/etc/debian_version").filter(|v| starts_with_digit(v))
    } else if id.as_deref() == Some("alpine") {
        distro_file("/etc/alpine-release").filter(|v| starts_with_digit(v))
    } else if is("rhel") || is("fedora") || is("centos") {
        distro_file("/etc/redhat-release").and_then(|line| redhat_release_version(&line))
    } else {
        None
    }
    .or_else(|| {
        // Ubuntu and others: VERSION starts with the point release ("24.04.1 LTS (Noble Numbat)").
        let first = get("VERSION")?.split_whitespace().next()?.to_string();
        let base = version.as_deref()?;
        (first.starts_with(base) && starts_with_digit(&first)).then_some(first)
    });
    Os {
        name: get("NAME"),
        id,
        id_like,
        version,
        version_full,
        codename: get("VERSION_CODENAME").or_else(|| get("UBUNTU_CODENAME")),
        pretty_name: get("PRETTY_NAME"),
        kernel: None,
        kernel_version: None,
        arch: None,
    }
}

fn starts_with_digit(value: &str) -> bool {
    value.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// `Red Hat Enterprise Linux release 9.4 (Plow)` -> `9.4`.
pub fn redhat_release_version(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(" release ")?;
    let version = rest.split_whitespace().next()?;
    starts_with_digit(version).then(|| version.to_string())
}

/// Parses os-release: `KEY=value` lines, `#` comments, values unquoted, "double-quoted" (with `\"`, `\\`,
/// `\$`, `` \` `` escapes) or 'single-quoted' (literal). Malformed lines are skipped, as systemd does.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        values.insert(key.to_string(), unquote(raw.trim()));
    }
    values
}

/// Shell-style unquoting of one os-release value.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (None, '#') => break,
            (_, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture_root(distro: &str) -> Root {
        Root::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures")
                .join(distro),
        )
    }

    #[test]
    fn quoting_rules_follow_os_release_spec() {
        let parsed = parse_os_release(
            "# comment\nA=plain\nB=\"double \\\"quoted\\\" \\$x\"\nC='single \\n'\n\nbroken line\nD=\"\"\n",
        );
        assert_eq!(parsed["A"], "plain");
        assert_eq!(parsed["B"], "double \"quoted\" $x");
        assert_eq!(parsed["C"], "single \\n");
        assert_eq!(parsed["D"], "");
        assert_eq!(parsed.len(), 4);
    }

    #[test]
    fn redhat_release_line_gives_point_release() {
        assert_eq!(
            redhat_release_version("Red Hat Enterprise Linux release 9.4 (Plow)").as_deref(),
            Some("9.4")
        );
        assert_eq!(redhat_release_version("garbage"), None);
    }

    fn check(distro: &str, expected: Os) {
        let mut errors = Errors::default();
        let os = collect(&fixture_root(distro), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        assert_eq!(os, expected);
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn debian_12() {
        check(
            "debian",
            Os {
                name: Some("Debian GNU/Linux".into()),
                id: Some("debian".into()),
                id_like: vec![],
                version: Some("12".into()),
                version_full: Some("12.11".into()),
                codename: Some("bookworm".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                kernel: Some("6.1.0-37-amd64".into()),
                kernel_version: Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.140-1 (2025-05-22)".into()),
                arch: Some("x86_64".into()),
            },
        );
    }

    #[test]
    fn ubuntu_24_04() {
        check(
            "ubuntu",
            Os {
                name: Some("Ubuntu".into()),
                id: Some("ubuntu".into()),
                id_like: strings(&["debian"]),
                version: Some("24.04".into()),
                version_full: Some("24.04.1".into()),
                codename: Some("noble".into()),
                pretty_name: Some("Ubuntu 24.04.1 LTS".into()),
                kernel: Some("6.8.0-45-generic".into()),
                kernel_version: Some(
                    "#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024".into(),
                ),
                arch: Some("x86_64".into()),
            },
        );
    }

    #[test]
    fn rhel_9() {
        check(
            "rhel",
            Os {
                name: Some("Red Hat Enterprise Linux".into()),
                id: Some("rhel".into()),
                id_like: strings(&["fedora"]),
                version: Some("9.4".into()),
                version_full: Some("9.4".into()),
                codename: None,
                pretty_name: Some("Red Hat Enterprise Linux 9.4 (Plow)".into()),
                kernel: Some("5.14.0-427.13.1.el9_4.x86_64".into()),
                kernel_version: Some("#1 SMP PREEMPT_DYNAMIC Wed Apr 10 10:29:16 EDT 2024".into()),
                arch: Some("x86_64".into()),
            },
        );
    }

    #[test]
    fn alpine_3_20() {
        check(
            "alpine",
            Os {
                name: Some("Alpine Linux".into()),
                id: Some("alpine".into()),
                id_like: vec![],
                version: Some("3.20.3".into()),
                version_full: Some("3.20.3".into()),
                codename: None,
                pretty_name: Some("Alpine Linux v3.20".into()),
                kernel: Some("6.6.49-0-virt".into()),
                kernel_version: Some("#1-Alpine SMP PREEMPT_DYNAMIC 2024-09-04 22:07:14".into()),
                arch: Some("x86_64".into()),
            },
        );
    }

    #[test]
    fn arch_linux_arm() {
        check(
            "arch",
            Os {
                name: Some("Arch Linux ARM".into()),
                id: Some("archarm".into()),
                id_like: strings(&["arch"]),
                version: Some("rolling".into()),
                version_full: None,
                codename: None,
                pretty_name: Some("Arch Linux ARM".into()),
                kernel: Some("6.10.6-1-aarch64-ARCH".into()),
                kernel_version: Some("#1 SMP PREEMPT_DYNAMIC Tue Aug 20 10:51:32 MDT 2024".into()),
                arch: Some("aarch64".into()),
            },
        );
    }

    #[test]
    fn arch_without_build_id_is_rolling() {
        let release = parse_os_release("NAME=\"Arch Linux\"\nID=arch\n");
        assert_eq!(
            from_os_release(&release, |_| None).version.as_deref(),
            Some("rolling")
        );
    }

    #[test]
    fn missing_os_release_is_a_collection_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut errors = Errors::default();
        let os = collect(&Root::new(dir.path()), &mut errors);
        assert_eq!(os.name, None);
        let errors = errors.into_vec();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].section, "os");
        assert!(
            errors[0]
                .error
                .contains("neither /etc/os-release nor /usr/lib/os-release exists"),
            "{}",
            errors[0].error
        );
    }

    #[test]
    fn live_machine_reports_kernel_and_arch() {
        let mut errors = Errors::default();
        let os = collect(&Root::live(), &mut errors);
        assert!(os.kernel.is_some());
        assert_eq!(os.arch.as_deref(), Some(std::env::consts::ARCH));
    }
}

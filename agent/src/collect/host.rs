//! Host identity: hostname, FQDN and domain, machine-id, boot time, timezone.
//!
//! Layout: small pure parsers ([`fqdn_from_hosts`], [`parse_btime`], [`timezone_from_link`],
//! [`parse_sysconfig_clock`]) and [`collect`], which reads the files under a [`Root`].
//!
//! The FQDN comes from `/etc/hosts` only (the first name with a dot on a line that names the host), never
//! from DNS: a query would make collection slow and its result depend on the network of the moment.
//! `virtualization` is filled by [`super::virt`], not here.

use super::{Errors, Root};
use census_shared::inventory::{Host, clean};

pub fn collect(root: &Root, errors: &mut Errors) -> Host {
    let hostname = root
        .read_value("/etc/hostname")
        .or_else(|| root.read_value("/proc/sys/kernel/hostname"))
        .and_then(|text| text.lines().next().and_then(clean));
    if hostname.is_none() {
        errors.record(
            "host.hostname",
            "no hostname: /etc/hostname and /proc/sys/kernel/hostname are both missing or empty",
        );
    }
    let fqdn = hostname.as_deref().and_then(|name| {
        if name.contains('.') {
            return Some(name.to_string());
        }
        let hosts = root.read_to_string("/etc/hosts").ok()?;
        fqdn_from_hosts(&hosts, name)
    });
    let domain = fqdn
        .as_deref()
        .and_then(|fqdn| fqdn.split_once('.'))
        .and_then(|(_, domain)| clean(domain));
    Host {
        hostname,
        fqdn,
        domain,
        machine_id: machine_id(root, errors),
        boot_time: boot_time(root, errors),
        timezone: timezone(root),
        virtualization: None,
    }
}

fn machine_id(root: &Root, errors: &mut Errors) -> Option<String> {
    let mut problem = None;
    for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        match root.read_to_string(path) {
            Ok(text) => match valid_machine_id(&text) {
                Some(id) => return Some(id),
                None => {
                    problem.get_or_insert(format!(
                        "{path} does not hold 32 hex digits (an uninitialised image?); \
                         run systemd-machine-id-setup"
                    ));
                }
            },
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                problem.get_or_insert(error.to_string());
            }
        }
    }
    errors.record(
        "host.machine_id",
        problem.unwrap_or_else(|| "/etc/machine-id does not exist".to_string()),
    );
    None
}

/// The machine-id if `text` is one: 32 hex digits (lowercased), surrounded by whitespace at most.
pub fn valid_machine_id(text: &str) -> Option<String> {
    let id = text.trim();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

fn boot_time(root: &Root, errors: &mut Errors) -> Option<String> {
    match root.read_to_string("/proc/stat") {
        Ok(text) => {
            let boot = parse_btime(&text).and_then(rfc3339_from_unix);
            if boot.is_none() {
                errors.record("host.boot_time", "/proc/stat has no valid btime line");
            }
            boot
        }
        // An offline image has no /proc: not knowing its boot time is expected, not a failure.
        Err(error) if error.is_not_found() && !root.is_live() => None,
        Err(error) => {
            errors.record("host.boot_time", error);
            None
        }
    }
}

/// The `btime` (boot time, seconds since the epoch) line of `/proc/stat`.
pub fn parse_btime(stat: &str) -> Option<i64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// Seconds since the epoch as RFC 3339 UTC (`2025-06-01T08:00:00Z`).
pub fn rfc3339_from_unix(seconds: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn timezone(root: &Root) -> Option<String> {
    if let Some(zone) = root.read_value("/etc/timezone") {
        return Some(zone);
    }
    if let Some(zone) = root
        .read_link("/etc/localtime")
        .and_then(|target| timezone_from_link(&target.to_string_lossy()))
    {
        return Some(zone);
    }
    // RHEL 6 era and SUSE keep it in /etc/sysconfig/clock; Alpine's setup-timezone may write /etc/TZ.
    root.read_to_string("/etc/sysconfig/clock")
        .ok()
        .and_then(|text| parse_sysconfig_clock(&text))
        .or_else(|| root.read_value("/etc/TZ").filter(|tz| tz.contains('/')))
}

/// `/usr/share/zoneinfo/Europe/Paris` (or `../usr/share/zoneinfo/posix/Europe/Paris`) -> `Europe/Paris`.
pub fn timezone_from_link(target: &str) -> Option<String> {
    let (_, zone) = target.rsplit_once("zoneinfo/")?;
    let zone = zone
        .strip_prefix("posix/")
        .or_else(|| zone.strip_prefix("right/"))
        .unwrap_or(zone);
    clean(zone)
}

/// `ZONE="Europe/Paris"` or `TZ=...` from `/etc/sysconfig/clock`.
pub fn parse_sysconfig_clock(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        matches!(key.trim(), "ZONE" | "TZ")
            .then(|| clean(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// The FQDN for `hostname` from `/etc/hosts`: on a line naming the host (short or long), the first name
/// containing a dot whose first label is the host name.
pub fn fqdn_from_hosts(hosts: &str, hostname: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        let names_host = names
            .iter()
            .any(|name| *name == hostname || name.split('.').next() == Some(hostname));
        if !names_host {
            return None;
        }
        names
            .iter()
            .find(|name| name.contains('.') && name.split('.').next() == Some(hostname))
            .map(|name| name.to_string())
    })
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
    fn fqdn_is_first_dotted_name_for_the_host() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.9 web-01.old.example web-01\n\
                     127.0.1.1 web-01.example.com web-01\n10.0.0.5 web-01.other.net\n";
        assert_eq!(
            fqdn_from_hosts(hosts, "web-01").as_deref(),
            Some("web-01.example.com")
        );
        assert_eq!(fqdn_from_hosts("127.0.0.1 localhost\n", "web-01"), None);
        assert_eq!(fqdn_from_hosts("127.0.1.1 web-01\n", "web-01"), None);
    }

    #[test]
    fn btime_and_rfc3339() {
        assert_eq!(
            parse_btime("cpu 1 2 3\nbtime 1748764800\nprocesses 5\n"),
            Some(1748764800)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
        assert_eq!(
            rfc3339_from_unix(1748764800).as_deref(),
            Some("2025-06-01T08:00:00Z")
        );
    }

    #[test]
    fn timezone_sources() {
        assert_eq!(
            timezone_from_link("../usr/share/zoneinfo/posix/America/New_York").as_deref(),
            Some("America/New_York")
        );
        assert_eq!(timezone_from_link("/etc/somewhere"), None);
        assert_eq!(
            parse_sysconfig_clock("# x\nZONE=\"Europe/Berlin\"\nUTC=true\n").as_deref(),
            Some("Europe/Berlin")
        );
    }

    #[test]
    fn machine_id_validation() {
        assert_eq!(
            valid_machine_id("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n").as_deref(),
            Some("3d1219c7c4c5404aaa1f6d2a48adfda4")
        );
        assert_eq!(valid_machine_id("uninitialized\n"), None);
        assert_eq!(valid_machine_id(""), None);
    }

    #[test]
    fn empty_machine_id_is_null_with_an_error_saying_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/machine-id"), "").unwrap();
        std::fs::write(dir.path().join("etc/hostname"), "web-01\n").unwrap();
        let mut errors = Errors::default();
        let host = collect(&Root::new(dir.path()), &mut errors);
        assert_eq!(host.machine_id, None);
        let errors = errors.into_vec();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].section, "host.machine_id");
        assert!(errors[0].error.contains("systemd-machine-id-setup"));
    }

    fn check(distro: &str, expected: Host) {
        let mut errors = Errors::default();
        let host = collect(&fixture_root(distro), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        assert_eq!(host, expected);
    }

    fn host(name: &str, fqdn: Option<&str>, id: &str, boot: &str, tz: &str) -> Host {
        Host {
            hostname: Some(name.into()),
            fqdn: fqdn.map(Into::into),
            domain: fqdn
                .and_then(|f| f.split_once('.'))
                .map(|(_, d)| d.to_string()),
            machine_id: Some(id.into()),
            boot_time: Some(boot.into()),
            timezone: Some(tz.into()),
            virtualization: None,
        }
    }

    #[test]
    fn debian_server() {
        let expected = host(
            "web-01",
            Some("web-01.example.com"),
            "5f1a9c0e2b7d4e8f9a3c6b1d0e2f4a7c",
            "2025-06-01T08:00:00Z",
            "Europe/Paris",
        );
        assert_eq!(expected.domain.as_deref(), Some("example.com"));
        check("debian", expected);
    }

    #[test]
    fn ubuntu_laptop() {
        check(
            "ubuntu",
            host(
                "lap-jdoe",
                None,
                "a8c2e4f6b0d1436587a9cbdef0123456",
                "2025-06-02T07:12:30Z",
                "America/New_York",
            ),
        );
    }

    #[test]
    fn rhel_vm() {
        check(
            "rhel",
            host(
                "db-02.corp.example.net",
                Some("db-02.corp.example.net"),
                "0f8e7d6c5b4a49382716a5b4c3d2e1f0",
                "2025-05-28T21:45:10Z",
                "UTC",
            ),
        );
    }

    #[test]
    fn alpine_vm() {
        check(
            "alpine",
            host(
                "edge-gw",
                Some("edge-gw.lan.example.org"),
                "c0ffee00deadbeef0123456789abcdef",
                "2025-06-03T12:00:00Z",
                "Europe/Berlin",
            ),
        );
    }

    #[test]
    fn arch_arm_board() {
        check(
            "arch",
            host(
                "alarm-pi",
                None,
                "7b3e9f1c2a4d4b6e8f0a1c3e5d7b9f2a",
                "2025-06-04T05:30:00Z",
                "Asia/Tokyo",
            ),
        );
    }

    #[test]
    fn live_machine_has_a_hostname_and_boot_time() {
        let mut errors = Errors::default();
        let host = collect(&Root::live(), &mut errors);
        assert!(host.hostname.is_some());
        assert!(host.boot_time.is_some());
    }
}

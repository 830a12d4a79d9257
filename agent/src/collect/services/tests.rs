//! Services on the fixture trees, and the live machine.

use super::*;
use std::path::PathBuf;

fn fixture(distro: &str) -> Vec<Service> {
    let root = Root::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(distro),
    );
    let mut errors = Errors::default();
    let found = collect(&root, &mut errors);
    assert!(errors.is_empty(), "{:?}", errors.into_vec());
    found
}

fn svc(name: &str, description: Option<&str>, enabled: &str) -> Service {
    Service {
        name: name.into(),
        description: description.map(Into::into),
        state: None,
        sub_state: None,
        enabled: Some(enabled.into()),
    }
}

#[test]
fn debian_server() {
    assert_eq!(
        fixture("debian"),
        vec![
            svc("apache2.service", None, "masked"),
            svc(
                "chrony.service",
                Some("chrony, an NTP client/server"),
                "enabled"
            ),
            svc(
                "cron.service",
                Some("Regular background program processing daemon"),
                "enabled"
            ),
            svc("getty@tty1.service", Some("Getty on tty1"), "enabled"),
            svc(
                "nginx.service",
                Some("A high performance web server and a reverse proxy server"),
                "enabled"
            ),
            svc("postgresql.service", Some("PostgreSQL RDBMS"), "enabled"),
            svc(
                "rsync.service",
                Some("fast remote file copy program daemon"),
                "disabled"
            ),
            svc(
                "ssh.service",
                Some("OpenBSD Secure Shell server"),
                "enabled"
            ),
            svc(
                "systemd-journald.service",
                Some("Journal Service"),
                "static"
            ),
        ]
    );
}

#[test]
fn ubuntu_laptop() {
    assert_eq!(
        fixture("ubuntu"),
        vec![
            svc(
                "NetworkManager-dispatcher.service",
                Some("Network Manager Script Dispatcher Service"),
                "disabled"
            ),
            svc("NetworkManager.service", Some("Network Manager"), "enabled"),
            svc("bluetooth.service", Some("Bluetooth service"), "enabled"),
            svc("cups.service", Some("CUPS Scheduler"), "enabled"),
            svc(
                "docker.service",
                Some("Docker Application Container Engine"),
                "disabled"
            ),
            svc(
                "snapd.seeded.service",
                Some("Wait until snapd is fully seeded"),
                "enabled"
            ),
            svc("snapd.service", Some("Snap Daemon"), "enabled"),
            svc(
                "systemd-journald.service",
                Some("Journal Service"),
                "static"
            ),
            svc(
                "systemd-resolved.service",
                Some("Network Name Resolution"),
                "enabled"
            ),
        ]
    );
}

#[test]
fn rhel_vm() {
    assert_eq!(
        fixture("rhel"),
        vec![
            svc("chronyd.service", Some("NTP client/server"), "enabled"),
            svc("firewalld.service", None, "masked"),
            svc(
                "kdump.service",
                Some("Crash recovery kernel arming"),
                "disabled"
            ),
            svc(
                "mysqld.service",
                Some("MySQL 8.0 database server"),
                "enabled"
            ),
            svc("sshd.service", Some("OpenSSH server daemon"), "enabled"),
            svc(
                "systemd-journald.service",
                Some("Journal Service"),
                "static"
            ),
            svc(
                "vmtoolsd.service",
                Some("Service for virtual machines hosted on VMware"),
                "enabled"
            ),
        ]
    );
}

#[test]
fn alpine_openrc() {
    assert_eq!(
        fixture("alpine"),
        vec![
            svc("chronyd", Some("NTP daemon"), "enabled"),
            svc("crond", None, "enabled"),
            svc("devfs", Some("Set up the /dev directory"), "enabled"),
            svc(
                "hostname",
                Some("Sets the hostname of the machine."),
                "enabled"
            ),
            svc(
                "networking",
                Some("Configures network interfaces."),
                "enabled"
            ),
            svc(
                "nginx",
                Some("Nginx http and reverse proxy server"),
                "disabled"
            ),
            svc("sshd", Some("OpenBSD Secure Shell server"), "enabled"),
        ]
    );
}

#[test]
fn arch_board() {
    assert_eq!(
        fixture("arch"),
        vec![
            svc("getty@tty1.service", Some("Getty on tty1"), "enabled"),
            svc("sshd.service", Some("OpenSSH Daemon"), "enabled"),
            svc(
                "systemd-journald.service",
                Some("Journal Service"),
                "static"
            ),
            svc(
                "systemd-networkd.service",
                Some("Network Configuration"),
                "enabled"
            ),
            svc(
                "systemd-timesyncd.service",
                Some("Network Time Synchronization"),
                "enabled"
            ),
        ]
    );
}

#[test]
fn live_states_are_merged_and_unknown_loaded_units_added() {
    let root = Root::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join("debian"),
    );
    let mut services = systemd_units(&root);
    let listed = units::parse_list_units(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/services/list-units.txt"
        ))
        .unwrap(),
    );
    merge_states(&root, &mut services, &listed);
    let ssh = &services["ssh.service"];
    assert_eq!(
        (ssh.state.as_deref(), ssh.sub_state.as_deref()),
        (Some("active"), Some("running"))
    );
    assert_eq!(services["nginx.service"].state.as_deref(), Some("failed"));
    // dbus.service has no unit file in the fixture: added from systemctl, enablement unknown.
    let dbus = &services["dbus.service"];
    assert_eq!(
        dbus.description.as_deref(),
        Some("D-Bus System Message Bus")
    );
    assert_eq!(dbus.enabled, None);
    // Not loaded units are not invented.
    assert!(!services.contains_key("plymouth-quit-wait.service"));
    assert_eq!(services["rsync.service"].state, None);
}

#[test]
fn live_machine_without_systemd_running_is_not_an_error() {
    let mut errors = Errors::default();
    let found = collect(&Root::live(), &mut errors);
    if !std::path::Path::new("/run/systemd/system").exists() {
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        assert!(found.iter().all(|s| s.state.is_none()));
    } else {
        assert!(
            found.iter().any(|s| s.state.is_some()),
            "{:?}",
            errors.into_vec()
        );
    }
}

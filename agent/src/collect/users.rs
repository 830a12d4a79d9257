//! Local user accounts and groups: `/etc/passwd`, `/etc/group`, last logins from `/var/log/lastlog`.
//!
//! Rules:
//! - Users: accounts with `UID_MIN <= uid <= UID_MAX` from the root's `/etc/login.defs` (default 1000 and
//!   60000, the value of every major distribution): people, not system accounts. That leaves out
//!   `nobody` (65534), systemd's dynamic users and snap's `snap_daemon` (584788). Directory accounts
//!   (LDAP, SSSD) are not local and not listed.
//! - Groups: every group with a gid in that range, plus every group that lists one of those users as a
//!   member (`sudo`, `wheel`, `adm`, `docker` ...): that says which person holds which privilege.
//!   `members` is the explicit member list of `/etc/group`; primary-group membership is in `User::gid`.
//! - Last login: the lastlog record of each listed uid, read by seeking (lastlog is a sparse file indexed
//!   by uid, possibly terabytes long for high uids). A record is 292 bytes on Linux x86_64 and arm64
//!   (`int32 ll_time; char ll_line[32]; char ll_host[256]`); time 0 means never. Distributions that
//!   replaced lastlog with `wtmpdb`/`lastlog2` (SQLite) give null here.

use super::{Errors, Root};
use census_shared::inventory::{Group, User, clean};
use std::io::{Read, Seek, SeekFrom};

/// `login.defs` defaults of shadow-utils, used when the file or a key is missing.
const DEFAULT_UID_RANGE: (u32, u32) = (1000, 60000);
pub const LASTLOG_RECORD_LEN: u64 = 292;

pub fn collect(root: &Root, errors: &mut Errors) -> (Vec<User>, Vec<Group>) {
    let range = root
        .read_to_string("/etc/login.defs")
        .map(|text| parse_login_defs(&text))
        .unwrap_or(DEFAULT_UID_RANGE);
    let mut users = match root.read_to_string("/etc/passwd") {
        Ok(text) => parse_passwd(&text, range),
        Err(error) => {
            errors.record("users", error);
            Vec::new()
        }
    };
    let groups = match root.read_to_string("/etc/group") {
        Ok(text) => parse_group(&text, range, &users),
        Err(error) => {
            errors.record("groups", error);
            Vec::new()
        }
    };
    if !users.is_empty() {
        match std::fs::File::open(root.path("/var/log/lastlog")) {
            Ok(mut file) => {
                for user in &mut users {
                    user.last_login =
                        read_lastlog(&mut file, user.uid).and_then(super::host::rfc3339_from_unix);
                }
            }
            // Absent on systems that moved to lastlog2/wtmpdb, and on minimal images: no login data.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => errors.record("users", super::ReadError::new("/var/log/lastlog", error)),
        }
    }
    (users, groups)
}

/// The login time recorded for `uid`, or `None` when never logged in or the file is shorter.
fn read_lastlog(file: &mut std::fs::File, uid: u32) -> Option<i64> {
    let mut record = [0u8; LASTLOG_RECORD_LEN as usize];
    file.seek(SeekFrom::Start(u64::from(uid) * LASTLOG_RECORD_LEN))
        .ok()?;
    file.read_exact(&mut record).ok()?;
    parse_lastlog_record(&record)
}

/// The `ll_time` of one lastlog record (native-endian `int32`); 0 means never.
pub fn parse_lastlog_record(record: &[u8]) -> Option<i64> {
    let time = i32::from_ne_bytes(record.get(0..4)?.try_into().ok()?);
    (time > 0).then_some(i64::from(time))
}

/// `(UID_MIN, UID_MAX)` from `/etc/login.defs`, defaults for missing keys.
pub fn parse_login_defs(text: &str) -> (u32, u32) {
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(key))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
    };
    (
        value("UID_MIN").unwrap_or(DEFAULT_UID_RANGE.0),
        value("UID_MAX").unwrap_or(DEFAULT_UID_RANGE.1),
    )
}

/// Accounts of people from `/etc/passwd` (`name:x:uid:gid:gecos:home:shell`) with a uid in `range`;
/// NIS `+`/`-` lines are skipped.
pub fn parse_passwd(text: &str, (min, max): (u32, u32)) -> Vec<User> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 7 || fields[0].starts_with(['+', '-', '#']) {
                return None;
            }
            let uid: u32 = fields[2].parse().ok()?;
            if uid < min || uid > max {
                return None;
            }
            Some(User {
                name: fields[0].to_string(),
                uid,
                gid: fields[3].parse().ok()?,
                full_name: fields[4].split(',').next().and_then(clean),
                home: clean(fields[5]),
                shell: clean(fields[6]),
                last_login: None,
            })
        })
        .collect()
}

/// Groups worth listing from `/etc/group` (`name:x:gid:member,member`); see the module rules.
pub fn parse_group(text: &str, (min, max): (u32, u32), users: &[User]) -> Vec<Group> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 || fields[0].starts_with(['+', '-', '#']) {
                return None;
            }
            let gid: u32 = fields[2].parse().ok()?;
            let members: Vec<String> = fields[3].split(',').filter_map(clean).collect();
            let kept = (min..=max).contains(&gid)
                || members.iter().any(|m| users.iter().any(|u| &u.name == m));
            kept.then(|| Group {
                name: fields[0].to_string(),
                gid,
                members,
            })
        })
        .collect()
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

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/users/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn user(
        name: &str,
        uid: u32,
        full_name: Option<&str>,
        shell: &str,
        last: Option<&str>,
    ) -> User {
        User {
            name: name.into(),
            uid,
            gid: uid,
            full_name: full_name.map(Into::into),
            home: Some(format!("/home/{name}")),
            shell: Some(shell.into()),
            last_login: last.map(Into::into),
        }
    }

    fn group(name: &str, gid: u32, members: &[&str]) -> Group {
        Group {
            name: name.into(),
            gid,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn passwd_keeps_people_only() {
        let users = parse_passwd(&testdata("passwd"), DEFAULT_UID_RANGE);
        assert_eq!(
            users,
            vec![
                user("alice", 1000, Some("Alice Martin"), "/bin/bash", None),
                user("bob", 1001, None, "/usr/bin/zsh", None),
            ]
        );
    }

    #[test]
    fn group_keeps_privileged_and_user_groups() {
        assert_eq!(
            parse_group(
                &testdata("group"),
                DEFAULT_UID_RANGE,
                &parse_passwd(&testdata("passwd"), DEFAULT_UID_RANGE)
            ),
            vec![
                group("adm", 4, &["syslog", "alice"]),
                group("sudo", 27, &["alice"]),
                group("alice", 1000, &[]),
                group("bob", 1001, &[]),
                group("docker", 998, &["alice", "bob"]),
            ]
        );
    }

    #[test]
    fn login_defs_range() {
        assert_eq!(
            parse_login_defs("# UID_MIN 5\nUID_MIN\t\t  500\nGID_MIN 500\n"),
            (500, 60000)
        );
        assert_eq!(parse_login_defs(""), DEFAULT_UID_RANGE);
    }

    #[test]
    fn lastlog_is_read_by_seeking_into_a_sparse_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lastlog");
        let mut file = std::fs::File::create(&path).unwrap();
        // uid 1001 logged in at 2025-06-01T08:00:00Z; uid 1000 never; the file ends after uid 1001.
        let mut record = vec![0u8; LASTLOG_RECORD_LEN as usize];
        record[..4].copy_from_slice(&1_748_764_800i32.to_ne_bytes());
        record[4..9].copy_from_slice(b"pts/0");
        file.seek(SeekFrom::Start(1001 * LASTLOG_RECORD_LEN))
            .unwrap();
        std::io::Write::write_all(&mut file, &record).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        assert_eq!(read_lastlog(&mut file, 1001), Some(1_748_764_800));
        assert_eq!(read_lastlog(&mut file, 1000), None);
        assert_eq!(read_lastlog(&mut file, 60000), None);
        assert_eq!(parse_lastlog_record(&[1, 0]), None);
    }

    fn check(distro: &str, users: Vec<User>, groups: Vec<Group>) {
        let mut errors = Errors::default();
        let found = collect(&fixture_root(distro), &mut errors);
        assert!(errors.is_empty(), "{:?}", errors.into_vec());
        assert_eq!(found, (users, groups));
    }

    #[test]
    fn debian_server() {
        check(
            "debian",
            vec![
                user(
                    "jdupont",
                    1000,
                    Some("Jean Dupont"),
                    "/bin/bash",
                    Some("2025-06-01T09:14:07Z"),
                ),
                user(
                    "deploy",
                    1001,
                    Some("Deployment"),
                    "/bin/bash",
                    Some("2025-06-02T23:00:01Z"),
                ),
            ],
            vec![
                group("adm", 4, &["jdupont"]),
                group("sudo", 27, &["jdupont"]),
                group("www-data", 33, &["deploy"]),
                group("jdupont", 1000, &[]),
                group("deploy", 1001, &[]),
            ],
        );
    }

    #[test]
    fn ubuntu_laptop() {
        check(
            "ubuntu",
            vec![user("jdoe", 1000, Some("John Doe"), "/bin/bash", None)],
            vec![
                group("adm", 4, &["syslog", "jdoe"]),
                group("cdrom", 24, &["jdoe"]),
                group("sudo", 27, &["jdoe"]),
                group("dip", 30, &["jdoe"]),
                group("plugdev", 46, &["jdoe"]),
                group("users", 100, &["jdoe"]),
                group("lpadmin", 114, &["jdoe"]),
                group("jdoe", 1000, &[]),
            ],
        );
    }

    #[test]
    fn rhel_vm() {
        check(
            "rhel",
            vec![user(
                "svc_app",
                1000,
                Some("Application account"),
                "/bin/bash",
                None,
            )],
            vec![
                group("wheel", 10, &["svc_app"]),
                group("svc_app", 1000, &[]),
            ],
        );
    }

    #[test]
    fn alpine_vm() {
        check(
            "alpine",
            vec![user("ops", 1000, Some("Linux User"), "/bin/ash", None)],
            vec![
                group("wheel", 10, &["root", "ops"]),
                group("ops", 1000, &[]),
            ],
        );
    }

    #[test]
    fn arch_board() {
        check(
            "arch",
            vec![user("alarm", 1000, None, "/bin/bash", None)],
            vec![group("wheel", 998, &["alarm"]), group("alarm", 1000, &[])],
        );
    }
}

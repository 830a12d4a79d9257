//! Pure parsers for systemd: unit files (`[Unit] Description=`, `[Install]`), `systemctl list-units`
//! output, and OpenRC init scripts' `description=`.

/// What a unit file says that the inventory needs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UnitFile {
    pub description: Option<String>,
    /// The unit-file state the `[Install]` section implies when the unit is not linked anywhere:
    /// `disabled` (it can be enabled), `indirect` (only `Also=`), `static` (nothing to install).
    pub unlinked_state: &'static str,
}

/// Parses a unit file: `[Section]` headers, `Key=Value` lines, `#`/`;` comments.
pub fn parse_unit_file(text: &str) -> UnitFile {
    let mut section = "";
    let mut description = None;
    let (mut installable, mut also) = (false, false);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = if name == "Unit" {
                "Unit"
            } else if name == "Install" {
                "Install"
            } else {
                "other"
            };
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match (section, key) {
            ("Unit", "Description") => description = census_shared::inventory::clean(value),
            ("Install", "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias") if !value.is_empty() => {
                installable = true
            }
            ("Install", "Also") if !value.is_empty() => also = true,
            _ => {}
        }
    }
    UnitFile {
        description,
        unlinked_state: if installable {
            "disabled"
        } else if also {
            "indirect"
        } else {
            "static"
        },
    }
}

/// One line of `systemctl list-units --type=service --all --plain --no-legend --no-pager`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedUnit {
    pub name: String,
    pub load: String,
    pub active: String,
    pub sub: String,
    pub description: Option<String>,
}

/// Parses `systemctl list-units` output; a leading `●`/`*` (failed or not-found marker) is dropped.
pub fn parse_list_units(text: &str) -> Vec<ListedUnit> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches(['●', '*']);
            let words: Vec<&str> = line.split_whitespace().collect();
            let (name, load, active, sub) =
                (words.first()?, words.get(1)?, words.get(2)?, words.get(3)?);
            if !name.contains('.') {
                return None;
            }
            Some(ListedUnit {
                name: name.to_string(),
                load: load.to_string(),
                active: active.to_string(),
                sub: sub.to_string(),
                description: census_shared::inventory::clean(&words[4..].join(" ")),
            })
        })
        .collect()
}

/// `description="..."` of an OpenRC init script.
pub fn openrc_description(script: &str) -> Option<String> {
    script.lines().find_map(|line| {
        let value = line.trim().strip_prefix("description=")?;
        census_shared::inventory::clean(value.trim_matches(['"', '\'']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/services/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn unit_file_states() {
        let ssh = parse_unit_file(&testdata("ssh.service"));
        assert_eq!(
            ssh.description.as_deref(),
            Some("OpenBSD Secure Shell server")
        );
        assert_eq!(ssh.unlinked_state, "disabled");
        let journald = parse_unit_file(&testdata("systemd-journald.service"));
        assert_eq!(journald.description.as_deref(), Some("Journal Service"));
        assert_eq!(journald.unlinked_state, "static");
        let indirect = parse_unit_file("[Unit]\nDescription=x\n[Install]\nAlso=y.socket\n");
        assert_eq!(indirect.unlinked_state, "indirect");
        let empty = parse_unit_file("");
        assert_eq!(
            empty,
            UnitFile {
                description: None,
                unlinked_state: "static"
            }
        );
    }

    #[test]
    fn systemctl_list_units_output() {
        let units = parse_list_units(&testdata("list-units.txt"));
        assert_eq!(units.len(), 6);
        assert_eq!(
            units[0],
            ListedUnit {
                name: "cron.service".into(),
                load: "loaded".into(),
                active: "active".into(),
                sub: "running".into(),
                description: Some("Regular background program processing daemon".into()),
            }
        );
        let failed = units.iter().find(|u| u.name == "nginx.service").unwrap();
        assert_eq!(
            (failed.active.as_str(), failed.sub.as_str()),
            ("failed", "failed")
        );
        let missing = units
            .iter()
            .find(|u| u.name == "plymouth-quit-wait.service")
            .unwrap();
        assert_eq!(missing.load, "not-found");
        assert_eq!(
            missing.description.as_deref(),
            Some("plymouth-quit-wait.service")
        );
    }

    #[test]
    fn openrc_script_description() {
        assert_eq!(
            openrc_description(
                "#!/sbin/openrc-run\n\ndescription=\"OpenBSD Secure Shell server\"\n"
            )
            .as_deref(),
            Some("OpenBSD Secure Shell server")
        );
        assert_eq!(openrc_description("#!/sbin/openrc-run\n"), None);
    }
}

//! Debian packages: `/var/lib/dpkg/status`, the database dpkg itself keeps.
//!
//! The file is a list of RFC 822-like stanzas separated by blank lines: `Field: value` lines, with
//! continuation lines (starting with a space or tab) for multi-line values such as `Description` and
//! `Conffiles`. It is several megabytes on a desktop, so the parser borrows `&str` slices from the text and
//! allocates only for the packages it keeps. Entries that dpkg wrote but has not yet merged into `status`
//! (numbered files in `/var/lib/dpkg/updates/`, left after an interrupted run) override the status file,
//! as they do for `dpkg-query`.
//!
//! # Which packages count as installed
//! The `Status` field holds three words: the wanted state (`install`, `hold`, `deinstall`, `purge`,
//! `unknown`), an error flag (`ok`, `reinstreq`) and the current state. A package is inventoried when its
//! current state is `installed`, `triggers-awaited` or `triggers-pending`: its files are on disk and it is
//! configured (trigger processing does not unconfigure it). The wanted state does not matter: a held
//! package (`hi` in `dpkg -l`) or one marked for removal (`ri`) is still installed until dpkg acts. Not
//! counted: `not-installed`, `config-files` (removed, only its configuration files remain), and the
//! transient `half-installed`, `unpacked` and `half-configured` (an interrupted or unfinished
//! installation: the package is not usable until `dpkg --configure -a` finishes it).
//!
//! So the count equals `dpkg-query -W -f '${db:Status-Abbrev}\n'` lines whose second letter is `i`, `t` or
//! `W`; on a machine without holds or pending triggers that is exactly the lines starting with `ii`.
//!
//! # Fields
//! `version` is `Version` as written (`1:2.38.1-5+deb12u3`, epoch included); `arch` is `Architecture`
//! (a `Multi-Arch: same` library installed for two architectures is two packages with one name); `source`
//! is `Source` without its `(version)`, or the package's own name when absent (dpkg's own rule);
//! `vendor` is `Maintainer`; `Installed-Size` is in KiB. dpkg keeps no installation time.

use super::{Error, Package, ParseError, Root, read_if_present, value};
use std::collections::HashMap;

const STATUS: &str = "/var/lib/dpkg/status";
const UPDATES: &str = "/var/lib/dpkg/updates";

/// The installed dpkg packages under `root`; `None` when there is no dpkg database.
pub fn collect(root: &Root) -> Result<Option<Vec<Package>>, Error> {
    let Some(status) = read_if_present(root, STATUS)? else {
        return Ok(None);
    };
    let mut stanzas = parse_status(&status).map_err(|error| error.in_file(STATUS))?;

    // The journal is rarely non-empty; its texts must outlive the borrowed stanzas, hence two passes.
    let journal = read_updates(root)?;
    if !journal.is_empty() {
        let mut index: HashMap<(&str, Option<&str>), usize> = stanzas
            .iter()
            .enumerate()
            .map(|(idx, stanza)| ((stanza.package, stanza.architecture), idx))
            .collect();
        for (path, text) in &journal {
            for stanza in parse_status(text).map_err(|error| error.in_file(path))? {
                match index.get(&(stanza.package, stanza.architecture)) {
                    Some(&idx) => stanzas[idx] = stanza,
                    None => {
                        index.insert((stanza.package, stanza.architecture), stanzas.len());
                        stanzas.push(stanza);
                    }
                }
            }
        }
    }
    Ok(Some(
        stanzas
            .iter()
            .filter(|stanza| stanza.is_installed())
            .map(Stanza::to_package)
            .collect(),
    ))
}

/// The journal files of `/var/lib/dpkg/updates/` in the order dpkg applies them (numeric names only:
/// `tmp.i` is a half-written file dpkg itself ignores).
fn read_updates(root: &Root) -> Result<Vec<(String, String)>, Error> {
    let names = match root.list_dir(UPDATES) {
        Ok(names) => names,
        Err(error) if error.is_not_found() => return Ok(Vec::new()),
        Err(error) => return Err(error.into()),
    };
    let mut numbered: Vec<(u64, String)> = names
        .into_iter()
        .filter_map(|name| Some((name.parse().ok()?, name)))
        .collect();
    numbered.sort();
    let mut journal = Vec::with_capacity(numbered.len());
    for (_, name) in numbered {
        let path = format!("{UPDATES}/{name}");
        if let Some(text) = read_if_present(root, &path)? {
            journal.push((path, text));
        }
    }
    Ok(journal)
}

/// The fields of one stanza the inventory uses, borrowed from the status text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stanza<'a> {
    pub package: &'a str,
    pub status: Status,
    pub architecture: Option<&'a str>,
    pub version: &'a str,
    pub source: Option<&'a str>,
    pub maintainer: Option<&'a str>,
    pub section: Option<&'a str>,
    pub installed_size_kib: Option<u64>,
}

/// dpkg's current state of a package (the third word of `Status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Status {
    #[default]
    NotInstalled,
    ConfigFiles,
    HalfInstalled,
    Unpacked,
    HalfConfigured,
    TriggersAwaited,
    TriggersPending,
    Installed,
}

impl Stanza<'_> {
    pub fn is_installed(&self) -> bool {
        matches!(
            self.status,
            Status::Installed | Status::TriggersPending | Status::TriggersAwaited
        )
    }

    pub fn to_package(&self) -> Package {
        Package {
            manager: "dpkg".to_string(),
            name: self.package.to_string(),
            version: self.version.to_string(),
            arch: self.architecture.and_then(value),
            source: Some(self.source.unwrap_or(self.package).to_string()),
            vendor: self.maintainer.and_then(value),
            section: self.section.and_then(value),
            installed_size_bytes: self.installed_size_kib.map(|kib| kib.saturating_mul(1024)),
            installed_at: None,
        }
    }
}

/// Every stanza of a status file, installed or not, in file order.
pub fn parse_status(text: &str) -> Result<Vec<Stanza<'_>>, ParseError> {
    let mut stanzas = Vec::with_capacity(text.len() / 800);
    let mut current: Option<(usize, Stanza<'_>)> = None;
    let mut in_field = false;
    for (idx, line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if let Some((start, stanza)) = current.take() {
                stanzas.push(finish(start, stanza)?);
            }
            in_field = false;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // The rest of a multi-line value (Description, Conffiles): none of the fields kept span lines.
            if !in_field {
                return Err(ParseError::new(
                    line_no,
                    "continuation line without a field before it",
                ));
            }
            continue;
        }
        let Some((name, field_value)) = line.split_once(':') else {
            return Err(ParseError::new(
                line_no,
                format!("expected `Field: value`, found {line:?}"),
            ));
        };
        in_field = true;
        let (_, stanza) = current.get_or_insert_with(|| (line_no, Stanza::default()));
        let field_value = field_value.trim();
        // dpkg field names are case-insensitive; the common spellings are checked first.
        let is = |wanted: &str| name == wanted || name.eq_ignore_ascii_case(wanted);
        if is("Package") {
            stanza.package = field_value;
        } else if is("Status") {
            stanza.status = parse_status_field(field_value).ok_or_else(|| {
                ParseError::new(line_no, format!("unknown Status {field_value:?}"))
            })?;
        } else if is("Version") {
            stanza.version = field_value;
        } else if is("Architecture") {
            stanza.architecture = Some(field_value);
        } else if is("Source") {
            // `Source: glibc (2.36-9)`: the version is there when it differs from the binary's.
            let source = field_value
                .split_once(' ')
                .map_or(field_value, |(name, _)| name);
            stanza.source = Some(source);
        } else if is("Maintainer") {
            stanza.maintainer = Some(field_value);
        } else if is("Section") {
            stanza.section = Some(field_value);
        } else if is("Installed-Size") {
            let kib = field_value.parse().map_err(|_| {
                ParseError::new(
                    line_no,
                    format!("Installed-Size {field_value:?} is not a number"),
                )
            })?;
            stanza.installed_size_kib = Some(kib);
        }
    }
    if let Some((start, stanza)) = current.take() {
        stanzas.push(finish(start, stanza)?);
    }
    Ok(stanzas)
}

/// Checks what every stanza must have: a name, and a version when the package is installed.
fn finish(start: usize, stanza: Stanza<'_>) -> Result<Stanza<'_>, ParseError> {
    if stanza.package.is_empty() {
        return Err(ParseError::new(start, "stanza without a Package field"));
    }
    if stanza.is_installed() && stanza.version.is_empty() {
        return Err(ParseError::new(
            start,
            format!("installed package {} has no Version", stanza.package),
        ));
    }
    Ok(stanza)
}

/// `install ok installed` → the current state; `None` when any of the three words is unknown to dpkg.
fn parse_status_field(text: &str) -> Option<Status> {
    let mut words = text.split_ascii_whitespace();
    let want = words.next()?;
    let flag = words.next()?;
    let state = words.next()?;
    if words.next().is_some()
        || !matches!(want, "unknown" | "install" | "hold" | "deinstall" | "purge")
        || !matches!(flag, "ok" | "reinstreq" | "hold" | "hold-reinstreq")
    {
        return None;
    }
    Some(match state {
        "not-installed" => Status::NotInstalled,
        "config-files" => Status::ConfigFiles,
        "half-installed" => Status::HalfInstalled,
        "unpacked" => Status::Unpacked,
        "half-configured" => Status::HalfConfigured,
        "triggers-awaited" => Status::TriggersAwaited,
        "triggers-pending" => Status::TriggersPending,
        "installed" => Status::Installed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A real excerpt of a Debian 12 status file plus crafted stanzas for every state (see its README).
    const STATUS_FIXTURE: &str = include_str!("../../../testdata/packages/dpkg/status");

    fn installed(text: &str) -> Vec<Package> {
        parse_status(text)
            .unwrap()
            .iter()
            .filter(|stanza| stanza.is_installed())
            .map(Stanza::to_package)
            .collect()
    }

    fn names_and_arches(packages: &[Package]) -> Vec<String> {
        packages
            .iter()
            .map(|p| format!("{}:{}", p.name, p.arch.as_deref().unwrap_or("-")))
            .collect()
    }

    #[test]
    fn only_configured_packages_count_whatever_was_wanted() {
        // dpkg-query --admindir on this fixture prints ii for 9 instances, plus hi, ri, it and iW.
        let packages = installed(STATUS_FIXTURE);
        assert_eq!(
            names_and_arches(&packages),
            [
                "base-files:amd64",
                "bash:amd64",
                "libc6:amd64",
                "login:amd64",
                "gcc:amd64",
                "tzdata:all",
                "zlib1g:amd64",
                "dpkg:amd64",
                "libc6:i386",
                "postgresql-15:amd64",  // hold ok installed
                "man-db:amd64",         // install ok triggers-pending
                "libpam-systemd:amd64", // install ok triggers-awaited
                "telnet:all",           // deinstall ok installed: still on disk
            ]
        );
    }

    #[test]
    fn removed_interrupted_and_unfinished_packages_are_left_out() {
        let stanzas = parse_status(STATUS_FIXTURE).unwrap();
        let state = |name: &str| {
            let stanza = stanzas.iter().find(|s| s.package == name).unwrap();
            (stanza.status, stanza.is_installed())
        };
        assert_eq!(state("nginx-common"), (Status::ConfigFiles, false));
        assert_eq!(
            state("linux-image-6.1.0-37-amd64"),
            (Status::HalfInstalled, false)
        );
        assert_eq!(state("docker-ce"), (Status::Unpacked, false));
        assert_eq!(state("openssh-server"), (Status::HalfConfigured, false));
        assert_eq!(state("ftp"), (Status::NotInstalled, false));
    }

    #[test]
    fn fields_are_mapped_with_epochs_sources_and_sizes() {
        let packages = installed(STATUS_FIXTURE);
        let find = |name: &str| packages.iter().find(|p| p.name == name).unwrap();
        let bash = find("bash");
        assert_eq!(
            bash,
            &Package {
                manager: "dpkg".into(),
                name: "bash".into(),
                version: "5.2.15-2+b8".into(),
                arch: Some("amd64".into()),
                // `Source: bash (5.2.15-2)`: a binNMU names its source's version, which is dropped.
                source: Some("bash".into()),
                vendor: Some("Matthias Klose <doko@debian.org>".into()),
                section: Some("shells".into()),
                installed_size_bytes: Some(7164 * 1024),
                installed_at: None,
            }
        );
        assert_eq!(find("login").version, "1:4.13+dfsg1-1+deb12u1");
        assert_eq!(find("login").source.as_deref(), Some("shadow"));
        assert_eq!(find("gcc").version, "4:12.2.0-3");
        assert_eq!(find("gcc").source.as_deref(), Some("gcc-defaults"));
        // No Source field: the source package has the binary's name.
        assert_eq!(find("dpkg").source.as_deref(), Some("dpkg"));
    }

    #[test]
    fn a_multi_arch_library_is_one_package_per_architecture() {
        let packages = installed(STATUS_FIXTURE);
        let libc: Vec<_> = packages.iter().filter(|p| p.name == "libc6").collect();
        assert_eq!(libc.len(), 2);
        assert_eq!(libc[0].arch.as_deref(), Some("amd64"));
        assert_eq!(libc[1].arch.as_deref(), Some("i386"));
        assert_eq!(libc[1].installed_size_bytes, Some(12354 * 1024));
    }

    #[test]
    fn continuation_lines_windows_line_ends_and_field_case_are_tolerated() {
        let text = "package: a\r\nSTATUS: install ok installed\r\nVersion: 1.0\r\nDescription: x\r\n \
                    more\r\n\t.\r\n and more\r\n\r\n\r\nPackage: b\nStatus: install ok installed\nVersion: 2\n";
        let packages = installed(text);
        assert_eq!(names_and_arches(&packages), ["a:-", "b:-"]);
        assert_eq!(packages[0].version, "1.0");
    }

    fn check_error(text: &str, line: usize, message: &str) {
        let error = parse_status(text).unwrap_err();
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.contains(message), "{error}");
    }

    #[test]
    fn malformed_status_files_are_errors_with_their_line() {
        check_error("Package: a\nno colon here\n", 2, "expected `Field: value`");
        check_error(
            " continuation first\n",
            1,
            "continuation line without a field",
        );
        check_error(
            "Package: a\nStatus: install ok exploded\n",
            2,
            "unknown Status",
        );
        check_error("Package: a\nStatus: install ok\n", 2, "unknown Status");
        check_error(
            "Package: a\nInstalled-Size: lots\n",
            2,
            "Installed-Size \"lots\" is not a number",
        );
        check_error("Package: a\n\nVersion: 1\n", 3, "without a Package field");
        check_error(
            "Package: a\nStatus: install ok installed\n",
            1,
            "installed package a has no Version",
        );
    }

    #[test]
    fn an_empty_status_file_has_no_packages() {
        assert_eq!(parse_status("").unwrap(), []);
        assert_eq!(parse_status("\n\n").unwrap(), []);
    }

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_updates_journal_overrides_the_status_file_in_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "var/lib/dpkg/status",
            "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n\
             Package: b\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n",
        );
        // `a` upgraded then removed, `c` newly installed, `b` untouched; `tmp.i` is ignored as dpkg does.
        write(
            dir.path(),
            "var/lib/dpkg/updates/0009",
            "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2\n",
        );
        write(
            dir.path(),
            "var/lib/dpkg/updates/0010",
            "Package: a\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 2\n",
        );
        write(
            dir.path(),
            "var/lib/dpkg/updates/0011",
            "Package: c\nStatus: install ok installed\nArchitecture: all\nVersion: 3\n",
        );
        write(dir.path(), "var/lib/dpkg/updates/tmp.i", "garbage");
        let packages = collect(&Root::new(dir.path())).unwrap().unwrap();
        assert_eq!(names_and_arches(&packages), ["b:amd64", "c:all"]);
    }

    #[test]
    fn no_status_file_means_no_dpkg_and_no_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(collect(&Root::new(dir.path())).unwrap().is_none());
    }

    #[test]
    fn a_damaged_journal_entry_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "var/lib/dpkg/status", "");
        write(dir.path(), "var/lib/dpkg/updates/0001", "Package a\n");
        let error = collect(&Root::new(dir.path())).unwrap_err().to_string();
        assert!(
            error.starts_with("/var/lib/dpkg/updates/0001 line 1: expected `Field: value`"),
            "{error}"
        );
    }
}

//! Arch Linux packages: pacman's local database, one directory per installed package.
//!
//! `/var/lib/pacman/local/<name>-<version>-<release>/desc` holds `%FIELD%` headers, each followed by its
//! values one per line and closed by a blank line. Used here: `%NAME%`, `%VERSION%` (`[epoch:]ver-rel`),
//! `%ARCH%`, `%BASE%` (the source package, `pkgbase`), `%PACKAGER%`, `%SIZE%` (bytes) and `%INSTALLDATE%`
//! (unix seconds). `ALPM_DB_VERSION` beside the directories is the database's format version, not a
//! package.
//!
//! # Limitations
//! pacman before 4.2 could write dates as text (`Mon Jan  2 ...`); such a date is left null rather than
//! guessed in an unknown time zone.

use super::{Error, Package, ParseError, Root, unix_to_rfc3339, value};

const LOCAL: &str = "/var/lib/pacman/local";

/// The installed pacman packages under `root`; `None` when there is no pacman database.
pub fn collect(root: &Root) -> Result<Option<Vec<Package>>, Error> {
    let entries = match root.list_dir(LOCAL) {
        Ok(entries) => entries,
        Err(error) if error.is_not_found() => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mut packages = Vec::with_capacity(entries.len());
    for entry in entries {
        let dir = format!("{LOCAL}/{entry}");
        if entry == "ALPM_DB_VERSION" || !root.path(&dir).is_dir() {
            continue;
        }
        let path = format!("{dir}/desc");
        let text = root.read_to_string(&path)?;
        packages.push(parse_desc(&text).map_err(|error| error.in_file(&path))?);
    }
    Ok(Some(packages))
}

/// One package's `desc` file.
pub fn parse_desc(text: &str) -> Result<Package, ParseError> {
    let mut package = Package {
        manager: "pacman".to_string(),
        ..Package::default()
    };
    let mut field: Option<&str> = None;
    for (idx, line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            field = None;
            continue;
        }
        let Some(current) = field else {
            if line.len() > 2 && line.starts_with('%') && line.ends_with('%') {
                field = Some(line);
                continue;
            }
            return Err(ParseError::new(
                line_no,
                format!("expected a `%FIELD%` header, found {line:?}"),
            ));
        };
        // Multi-valued fields (%LICENSE%, %DEPENDS% ...) have more lines; the kept ones take the first.
        match current {
            "%NAME%" if package.name.is_empty() => package.name = line.trim().to_string(),
            "%VERSION%" if package.version.is_empty() => package.version = line.trim().to_string(),
            "%ARCH%" => package.arch = value(line),
            "%BASE%" => package.source = value(line),
            "%PACKAGER%" => package.vendor = value(line),
            "%SIZE%" => {
                let bytes = line.trim().parse().map_err(|_| {
                    ParseError::new(line_no, format!("%SIZE% {line:?} is not a number"))
                })?;
                package.installed_size_bytes = Some(bytes);
            }
            "%INSTALLDATE%" => {
                package.installed_at = line.trim().parse().ok().and_then(unix_to_rfc3339);
            }
            _ => {}
        }
    }
    if package.name.is_empty() {
        return Err(ParseError::new(1, "no %NAME%"));
    }
    if package.version.is_empty() {
        return Err(ParseError::new(
            1,
            format!("package {} has no %VERSION%", package.name),
        ));
    }
    Ok(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(name: &str) -> String {
        let path = format!(
            "{}/testdata/packages/pacman/{name}.desc",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    #[test]
    fn a_desc_file_gives_name_version_base_packager_size_and_install_date() {
        assert_eq!(
            parse_desc(&desc("bash")).unwrap(),
            Package {
                manager: "pacman".into(),
                name: "bash".into(),
                version: "5.2.037-1".into(),
                arch: Some("x86_64".into()),
                source: Some("bash".into()),
                vendor: Some("Tobias Powalowski <tpowa@archlinux.org>".into()),
                section: None,
                installed_size_bytes: Some(9356452),
                installed_at: Some("2024-12-12T14:05:45Z".into()),
            }
        );
    }

    #[test]
    fn epochs_and_split_packages_are_kept_as_written() {
        assert_eq!(parse_desc(&desc("vi")).unwrap().version, "1:070224-6");
        let whence = parse_desc(&desc("linux-firmware-whence")).unwrap();
        assert_eq!(whence.source.as_deref(), Some("linux-firmware"));
        assert_eq!(whence.arch.as_deref(), Some("any"));
    }

    #[test]
    fn a_textual_install_date_from_old_pacman_is_left_unknown() {
        let package = parse_desc(
            "%NAME%\nold\n\n%VERSION%\n1-1\n\n%INSTALLDATE%\nMon Jan  2 10:00:00 2012\n",
        )
        .unwrap();
        assert_eq!(package.installed_at, None);
    }

    fn check_error(text: &str, line: usize, message: &str) {
        let error = parse_desc(text).unwrap_err();
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.contains(message), "{error}");
    }

    #[test]
    fn malformed_desc_files_are_errors() {
        check_error("bash\n", 1, "expected a `%FIELD%` header");
        check_error(
            "%NAME%\nbash\n\n%SIZE%\nbig\n",
            5,
            "%SIZE% \"big\" is not a number",
        );
        check_error("%VERSION%\n1-1\n", 1, "no %NAME%");
        check_error("%NAME%\nbash\n", 1, "package bash has no %VERSION%");
    }

    #[test]
    fn the_database_version_file_is_not_a_package() {
        let root = Root::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/arch"
        ));
        let packages = collect(&root).unwrap().unwrap();
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bash",
                "glibc",
                "linux-firmware-whence",
                "pacman",
                "tzdata",
                "vi"
            ]
        );
    }

    #[test]
    fn a_package_directory_without_desc_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/pacman/local/bash-5.2.037-1")).unwrap();
        let error = collect(&Root::new(dir.path())).unwrap_err().to_string();
        assert_eq!(
            error,
            "/var/lib/pacman/local/bash-5.2.037-1/desc does not exist"
        );
    }
}

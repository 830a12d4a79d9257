//! RPM packages (RHEL, Fedora, SUSE ...): the rpm database, queried through the `rpm` command.
//!
//! # Why the command
//! The database is a binary store whose format changed with rpm releases: SQLite (`rpmdb.sqlite`, rpm
//! 4.16+: RHEL 9, Fedora 33+, SUSE 15.5+), Berkeley DB (`Packages`, RHEL 7/8) and rpm's own ndb
//! (`Packages.db`, older SUSE). Each row is an rpm header blob. Reading SQLite or Berkeley DB from Rust
//! means a C library (ruled out for this project) or a hand-written page reader for each format; `rpm`
//! itself reads all of them and is on every machine whose packages it manages. So the agent runs
//! `rpm --root ROOT --dbpath DBPATH -qa --queryformat FORMAT` once and parses its output, a pure function
//! tested on fixture text. `--dbpath` is explicit because distributions differ in their default (Debian's
//! rpm uses `~/.rpmdb`).
//!
//! The format separates fields with the ASCII unit separator (0x1f) and records with the record separator
//! (0x1e): no package field contains either, whereas free-text fields may hold tabs or newlines.
//!
//! # Fields
//! `version` is `EPOCH:VERSION-RELEASE`, the epoch left out when the package has none (`(none)`);
//! `vendor` is `VENDOR`, `section` is `GROUP` (`Unspecified` on Fedora and RHEL 8+, where the tag is unused:
//! kept as written), `source` is the source rpm's name without `-VERSION-RELEASE.src.rpm`,
//! `installed_size_bytes` is `LONGSIZE` (`SIZE` is 32 bits), `installed_at` is `INSTALLTIME`.
//!
//! `gpg-pubkey` entries (arch `(none)`) are skipped: they are the signing keys `rpm --import` stored in the
//! database, not software (`dnf list installed` does not show them either).
//!
//! # Limitations
//! When `rpm` is not installed on the machine running the agent (inventorying a mounted RHEL image from a
//! Debian host, say), the database is reported as a collection error saying so, and nothing is guessed.

use super::{Error, Package, ParseError, Root, unix_to_rfc3339};
use std::process::Command;

/// Where the database lives, newest layout first (`/var/lib/rpm` is a link to the first on Fedora 36+).
const DB_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];
/// The files that mean a database is there: SQLite, Berkeley DB, ndb.
const DB_FILES: [&str; 3] = ["rpmdb.sqlite", "Packages", "Packages.db"];

const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';
/// The fields, in the order [`parse_query`] expects them.
const TAGS: [&str; 10] = [
    "NAME",
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "VENDOR",
    "INSTALLTIME",
    "LONGSIZE",
    "SOURCERPM",
    "GROUP",
];

/// The `--queryformat` argument: `%{NAME}<US>%{EPOCH}<US>...<RS>`.
pub fn query_format() -> String {
    let fields: Vec<String> = TAGS.iter().map(|tag| format!("%{{{tag}}}")).collect();
    format!("{}{RECORD}", fields.join(&FIELD.to_string()))
}

/// The installed rpm packages under `root`; `None` when there is no rpm database.
pub fn collect(root: &Root) -> Result<Option<Vec<Package>>, Error> {
    let Some(db_dir) = DB_DIRS.into_iter().find(|dir| {
        DB_FILES
            .iter()
            .any(|file| root.path(&format!("{dir}/{file}")).is_file())
    }) else {
        return Ok(None);
    };
    // rpm insists on an absolute --root.
    let root_dir = std::path::absolute(root.dir()).map_err(|error| Error::RpmFailed {
        command: "rpm --root".to_string(),
        detail: format!("{} has no absolute path: {error}", root.dir().display()),
    })?;
    let mut command = Command::new("rpm");
    command
        .arg("--root")
        .arg(&root_dir)
        .arg("--dbpath")
        .arg(db_dir)
        .arg("-qa")
        .arg("--queryformat")
        .arg(query_format())
        .env("LC_ALL", "C");
    let shown = format!(
        "rpm --root {} --dbpath {db_dir} -qa --queryformat ...",
        root_dir.display()
    );
    let output = match command.output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::RpmMissing {
                db: format!("{db_dir} under {}", root.dir().display()),
            });
        }
        Err(error) => {
            return Err(Error::RpmFailed {
                command: shown,
                detail: error.to_string(),
            });
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::RpmFailed {
            command: shown,
            detail: format!("{}: {}", output.status, stderr.trim()),
        });
    }
    if !stderr.trim().is_empty() {
        // rpm warns and goes on, e.g. when it falls back to another database backend.
        tracing::debug!(stderr = %stderr.trim(), "rpm warned while listing packages");
    }
    parse_query(&String::from_utf8_lossy(&output.stdout))
        .map(Some)
        .map_err(|error| error.in_file(&format!("output of `{shown}`")))
}

/// `rpm -qa --queryformat` output in the [`query_format`] layout; `line` in errors counts records.
pub fn parse_query(text: &str) -> Result<Vec<Package>, ParseError> {
    let mut packages = Vec::new();
    for (idx, record) in text.split(RECORD).enumerate() {
        if record.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = record.split(FIELD).collect();
        let [
            name,
            epoch,
            version,
            release,
            arch,
            vendor,
            installed,
            size,
            source_rpm,
            group,
        ] = fields[..]
        else {
            return Err(ParseError::new(
                idx + 1,
                format!(
                    "expected {} fields, found {}: {record:?}",
                    TAGS.len(),
                    fields.len()
                ),
            ));
        };
        // A stray newline (a hand-made or piped capture) before a record is not part of the name.
        let name = name.trim_start();
        let arch = known(arch);
        if name == "gpg-pubkey" && arch.is_none() {
            continue;
        }
        let (Some(version), Some(release)) = (known(version), known(release)) else {
            return Err(ParseError::new(
                idx + 1,
                format!("package {name} has no version or release"),
            ));
        };
        let number = |field: &str, text: &str| -> Result<Option<u64>, ParseError> {
            known(text)
                .map(|text| {
                    text.parse().map_err(|_| {
                        ParseError::new(
                            idx + 1,
                            format!("{field} {text:?} of {name} is not a number"),
                        )
                    })
                })
                .transpose()
        };
        let version = match number("EPOCH", epoch)? {
            Some(epoch) => format!("{epoch}:{version}-{release}"),
            None => format!("{version}-{release}"),
        };
        let installed_at = number("INSTALLTIME", installed)?
            .and_then(|seconds| i64::try_from(seconds).ok())
            .and_then(unix_to_rfc3339);
        packages.push(Package {
            manager: "rpm".to_string(),
            name: name.to_string(),
            version,
            arch: arch.map(str::to_string),
            source: known(source_rpm).and_then(source_name).map(str::to_string),
            vendor: known(vendor).map(str::to_string),
            section: known(group).map(str::to_string),
            installed_size_bytes: number("LONGSIZE", size)?,
            installed_at,
        });
    }
    Ok(packages)
}

/// A field's value; `None` for rpm's `(none)` (tag absent) and for blanks.
fn known(field: &str) -> Option<&str> {
    let field = field.trim();
    (!field.is_empty() && field != "(none)").then_some(field)
}

/// `glibc-2.34-100.el9_4.2.src.rpm` → `glibc`: name, version and release are separated by the last two
/// hyphens (names may contain hyphens, versions and releases may not).
fn source_name(source_rpm: &str) -> Option<&str> {
    let stem = source_rpm
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))?;
    let (name_version, _release) = stem.rsplit_once('-')?;
    let (name, _version) = name_version.rsplit_once('-')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `rpm -qa --queryformat` output (rpm 4.18) of the `tests/fixtures/rhel` database.
    const RHEL9: &str = include_str!("../../../testdata/packages/rpm/rhel9.out");

    /// One record as rpm prints it: the fields joined by the unit separator, closed by the record one.
    fn record(fields: &[&str]) -> String {
        format!("{}{RECORD}", fields.join(&FIELD.to_string()))
    }

    #[test]
    fn the_query_format_asks_for_every_parsed_tag_in_order() {
        assert_eq!(
            query_format(),
            "%{NAME}\u{1f}%{EPOCH}\u{1f}%{VERSION}\u{1f}%{RELEASE}\u{1f}%{ARCH}\u{1f}%{VENDOR}\u{1f}\
             %{INSTALLTIME}\u{1f}%{LONGSIZE}\u{1f}%{SOURCERPM}\u{1f}%{GROUP}\u{1e}"
        );
    }

    #[test]
    fn real_output_gives_every_package_but_the_signing_key() {
        let packages = parse_query(RHEL9).unwrap();
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "openssl-libs",
                "glibc-langpack-en",
                "glibc",
                "bash",
                "tzdata"
            ]
        );
        assert_eq!(
            packages[1],
            Package {
                manager: "rpm".into(),
                name: "glibc-langpack-en".into(),
                version: "2.34-100.el9_4.2".into(),
                arch: Some("x86_64".into()),
                // A subpackage: its source rpm is glibc's.
                source: Some("glibc".into()),
                vendor: Some("Red Hat, Inc.".into()),
                section: Some("Unspecified".into()),
                installed_size_bytes: Some(41000),
                installed_at: Some("2026-11-27T00:23:11Z".into()),
            }
        );
    }

    #[test]
    fn an_epoch_is_written_before_the_version_and_none_is_left_out() {
        let packages = parse_query(RHEL9).unwrap();
        assert_eq!(packages[0].version, "1:3.0.7-27.el9");
        assert_eq!(packages[3].version, "5.1.8-9.el9");
        // Epoch 0 set explicitly is still an epoch: rpm's own `%{EVR}` shows it too.
        let zero = record(&[
            "kernel", "0", "5.14.0", "427.el9", "x86_64", "(none)", "(none)", "(none)", "(none)",
            "(none)",
        ]);
        let kernel = &parse_query(&zero).unwrap()[0];
        assert_eq!(kernel.version, "0:5.14.0-427.el9");
        assert_eq!(
            (
                &kernel.vendor,
                &kernel.installed_at,
                kernel.installed_size_bytes,
                &kernel.source
            ),
            (&None, &None, None, &None)
        );
    }

    #[test]
    fn a_public_key_pseudo_package_is_skipped_but_a_package_named_so_with_an_arch_is_not() {
        let fields = [
            "gpg-pubkey",
            "(none)",
            "fd431d51",
            "4ae0493b",
            "(none)",
            "(none)",
            "1700000000",
            "0",
            "(none)",
            "Public Keys",
        ];
        assert_eq!(parse_query(&record(&fields)).unwrap(), []);
        let mut real = fields;
        real[4] = "noarch";
        assert_eq!(parse_query(&record(&real)).unwrap().len(), 1);
    }

    #[test]
    fn source_names_keep_their_hyphens() {
        assert_eq!(
            source_name("python-setuptools-53.0.0-12.el9.src.rpm"),
            Some("python-setuptools")
        );
        assert_eq!(
            source_name("kernel-5.14.0-427.el9.nosrc.rpm"),
            Some("kernel")
        );
        assert_eq!(source_name("bash.src.rpm"), None);
        assert_eq!(source_name("not-a-source-rpm"), None);
    }

    #[test]
    fn empty_output_is_an_empty_database() {
        assert_eq!(parse_query("").unwrap(), []);
        assert_eq!(parse_query("\n").unwrap(), []);
    }

    #[test]
    fn malformed_output_is_an_error_naming_the_record() {
        let valid = record(&[
            "bash", "(none)", "5.1.8", "9.el9", "x86_64", "(none)", "1", "1", "(none)", "(none)",
        ]);
        let short = format!("{valid}{}", record(&["bash", "(none)"]));
        let error = parse_query(&short).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(
            error.message.starts_with("expected 10 fields, found 2"),
            "{error}"
        );

        let bad_size = record(&[
            "bash", "(none)", "5.1.8", "9.el9", "x86_64", "(none)", "1", "big", "(none)", "(none)",
        ]);
        let error = parse_query(&bad_size).unwrap_err();
        assert_eq!(error.message, "LONGSIZE \"big\" of bash is not a number");

        let no_version = record(&[
            "bash", "(none)", "(none)", "9.el9", "x86_64", "(none)", "1", "1", "(none)", "(none)",
        ]);
        let error = parse_query(&no_version).unwrap_err();
        assert_eq!(error.message, "package bash has no version or release");
    }

    #[test]
    fn a_root_without_an_rpm_database_has_no_rpm_packages() {
        let dir = tempfile::tempdir().unwrap();
        // Debian's rpm package leaves an empty /var/lib/rpm behind: no database in it.
        std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        assert!(collect(&Root::new(dir.path())).unwrap().is_none());
    }

    #[test]
    fn the_fixture_database_is_read_through_rpm_or_reported_as_needing_it() {
        let root = Root::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/rhel"
        ));
        let rpm_installed = Command::new("rpm").arg("--version").output().is_ok();
        match collect(&root) {
            Ok(Some(packages)) => {
                assert!(rpm_installed);
                assert_eq!(packages, parse_query(RHEL9).unwrap());
            }
            Err(Error::RpmMissing { db }) => {
                assert!(!rpm_installed);
                assert!(db.starts_with("/var/lib/rpm under "), "{db}");
            }
            other => panic!("unexpected result: {other:?}"),
        }
    }
}

//! Alpine packages: `/lib/apk/db/installed`, apk-tools' database of installed packages.
//!
//! The file is a list of blocks separated by blank lines; each line is one letter, a colon and a value
//! (`P:musl`, `V:1.2.5-r0`). Used here: `P` name, `V` version, `A` architecture, `o` origin (the source
//! package, `aports` directory), `m` maintainer, `I` installed size in bytes. The file and checksum lines
//! (`F`, `R`, `a`, `M`, `Z`) make up most of the file and are skipped.
//!
//! # Limitations
//! apk records when a package was built (`t`), not when it was installed, so `installed_at` stays null.
//! apk-tools 3 keeps the same text database (`/lib/apk/db/installed`); its binary `installed.adb` form is not
//! used for installed packages as of apk-tools 3.0.

use super::{Error, Package, ParseError, Root, read_if_present, value};

const INSTALLED: &str = "/lib/apk/db/installed";

/// The installed apk packages under `root`; `None` when there is no apk database.
pub fn collect(root: &Root) -> Result<Option<Vec<Package>>, Error> {
    let Some(text) = read_if_present(root, INSTALLED)? else {
        return Ok(None);
    };
    parse_installed(&text)
        .map(Some)
        .map_err(|error| error.in_file(INSTALLED))
}

/// Every package of an `installed` database, in file order.
pub fn parse_installed(text: &str) -> Result<Vec<Package>, ParseError> {
    let mut packages = Vec::new();
    let mut current: Option<(usize, Package)> = None;
    for (idx, line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if let Some((start, package)) = current.take() {
                packages.push(finish(start, package)?);
            }
            continue;
        }
        let Some((key, field_value)) = line.split_once(':').filter(|(key, _)| key.len() == 1)
        else {
            return Err(ParseError::new(
                line_no,
                format!("expected a one-letter field such as `P:name`, found {line:?}"),
            ));
        };
        let (_, package) = current.get_or_insert_with(|| {
            (
                line_no,
                Package {
                    manager: "apk".to_string(),
                    ..Package::default()
                },
            )
        });
        match key {
            "P" => package.name = field_value.trim().to_string(),
            "V" => package.version = field_value.trim().to_string(),
            "A" => package.arch = value(field_value),
            "o" => package.source = value(field_value),
            "m" => package.vendor = value(field_value),
            "I" => {
                let bytes = field_value.trim().parse().map_err(|_| {
                    ParseError::new(
                        line_no,
                        format!("installed size {field_value:?} is not a number"),
                    )
                })?;
                package.installed_size_bytes = Some(bytes);
            }
            _ => {}
        }
    }
    if let Some((start, package)) = current.take() {
        packages.push(finish(start, package)?);
    }
    Ok(packages)
}

fn finish(start: usize, package: Package) -> Result<Package, ParseError> {
    if package.name.is_empty() {
        return Err(ParseError::new(start, "package without a name (P:)"));
    }
    if package.version.is_empty() {
        return Err(ParseError::new(
            start,
            format!("package {} has no version (V:)", package.name),
        ));
    }
    Ok(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Alpine 3.20 `installed` database (see `testdata/packages/README.md`).
    const INSTALLED: &str = include_str!("../../../testdata/packages/apk/installed");

    #[test]
    fn every_block_is_a_package_with_its_origin_and_maintainer() {
        let packages = parse_installed(INSTALLED).unwrap();
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "musl",
                "busybox",
                "alpine-baselayout",
                "libcrypto3",
                "apk-tools",
                "scanelf"
            ]
        );
        assert_eq!(
            packages[3],
            Package {
                manager: "apk".into(),
                name: "libcrypto3".into(),
                version: "3.3.1-r3".into(),
                arch: Some("x86_64".into()),
                source: Some("openssl".into()),
                vendor: Some("Ariadne Conill <ariadne@dereferenced.org>".into()),
                section: None,
                installed_size_bytes: Some(4435968),
                // `t:` is the build time; apk does not record when a package was installed.
                installed_at: None,
            }
        );
        assert_eq!(
            packages[0].vendor.as_deref(),
            Some("Timo Teräs <timo.teras@iki.fi>")
        );
    }

    #[test]
    fn a_file_without_a_final_blank_line_keeps_its_last_package() {
        let packages = parse_installed("P:a\nV:1-r0\n\nP:b\nV:2-r0").unwrap();
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[1].version, "2-r0");
        assert_eq!(packages[1].arch, None);
    }

    fn check_error(text: &str, line: usize, message: &str) {
        let error = parse_installed(text).unwrap_err();
        assert_eq!(error.line, line, "{error}");
        assert!(error.message.contains(message), "{error}");
    }

    #[test]
    fn malformed_databases_are_errors_with_their_line() {
        check_error("P:a\nnot a field\n", 2, "expected a one-letter field");
        check_error("P:a\nPV:1\n", 2, "expected a one-letter field");
        check_error(
            "P:a\nV:1\nI:huge\n",
            3,
            "installed size \"huge\" is not a number",
        );
        check_error("V:1\nA:x86_64\n\n", 1, "package without a name");
        check_error("P:a\nV:1\n\nP:b\nA:x86_64\n", 4, "package b has no version");
    }
}

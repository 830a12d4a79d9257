//! The fuzz corpus (`fuzz/corpus/<target>/`) as a regression suite: every file of the agent's fuzz
//! targets goes through the same call as its target in `fuzz/fuzz_targets/`, so CI replays the seeds
//! and every crash input kept there without needing libFuzzer (see docs/fuzzing.md). Files named
//! `valid-*` are real fixtures and must parse; any other file must give an `Err` or an `Ok`, never a
//! panic, and an `Err` must say something.

use census_agent::collect::hardware::parse_smbios;
use census_agent::collect::packages::{apk, dpkg, rpm};
use std::fmt::Display;
use std::path::PathBuf;

/// `(file name, contents)` of every corpus file of `target`, sorted; fails when the folder is empty.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fuzz/corpus/{target}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no corpus file", dir.display());
    files
}

/// Checks one result against the file's name; returns whether it was `Ok`.
fn check<T, E: Display>(target: &str, name: &str, result: Result<T, E>) -> bool {
    match result {
        Ok(_) => true,
        Err(error) => {
            assert!(
                !name.starts_with("valid-"),
                "{target}/{name} is a valid fixture but failed: {error}"
            );
            assert!(
                !error.to_string().is_empty(),
                "{target}/{name}: empty error"
            );
            false
        }
    }
}

fn replay<T, E: Display>(target: &str, call: impl Fn(&[u8]) -> Result<T, E>) {
    let files = corpus(target);
    let ok = files
        .iter()
        .filter(|(name, data)| check(target, name, call(data)))
        .count();
    assert!(ok > 0, "no file of {target} parsed: the seeds are lost");
}

#[test]
fn the_dpkg_corpus_replays() {
    replay("dpkg_status", |data| {
        dpkg::parse_status(&String::from_utf8_lossy(data)).map(|stanzas| stanzas.len())
    });
}

#[test]
fn the_rpm_corpus_replays() {
    replay("rpm_query", |data| {
        rpm::parse_query(&String::from_utf8_lossy(data))
    });
}

#[test]
fn the_apk_corpus_replays() {
    replay("apk_installed", |data| {
        apk::parse_installed(&String::from_utf8_lossy(data))
    });
}

#[test]
fn the_smbios_corpus_replays() {
    // Same split as fuzz/fuzz_targets/smbios.rs: one length byte, the entry point, the table.
    replay("smbios", |data| {
        let (&n, rest) = data
            .split_first()
            .expect("smbios corpus files are not empty");
        let n = usize::from(n).min(rest.len());
        let (entry_point, table) = rest.split_at(n);
        parse_smbios((n > 0).then_some(entry_point), table)
    });
}

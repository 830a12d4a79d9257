//! The collector's fuzz corpora (`fuzz/corpus/{report_decode,query_parse}/`) as regression suites,
//! through the same calls as their targets in `fuzz/fuzz_targets/`: CI replays the seeds and every
//! crash input kept there without libFuzzer (see docs/fuzzing.md). Files named `valid-*` must be
//! accepted, files named `invalid-*` refused with a message; any other file (a crash input kept after
//! its fix) just must not panic.

use census_collector::api::Limits;
use census_collector::api::agent::decode_report;
use census_collector::api::body::Encoding;
use census_collector::query::{AssetView, matches, parse};
use std::path::PathBuf;

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

fn check(name: &str, result: Result<(), String>) {
    match result {
        Ok(()) => assert!(!name.starts_with("invalid-"), "{name} was accepted"),
        Err(error) => {
            assert!(!name.starts_with("valid-"), "{name} was refused: {error}");
            assert!(!error.is_empty(), "{name}: empty error");
        }
    }
}

#[test]
fn the_report_corpus_replays() {
    // Same encoding choice and limits as fuzz/fuzz_targets/report_decode.rs.
    let limits = Limits {
        max_decoded_bytes: 1 << 20,
        ..Limits::default()
    };
    for (name, data) in corpus("report_decode") {
        let encoding = if data.starts_with(&[0x1f, 0x8b]) {
            Encoding::Gzip
        } else {
            Encoding::Identity
        };
        let result = decode_report(&data, encoding, &limits)
            .map(|_| ())
            .map_err(|error| error.message);
        check(&name, result);
    }
}

#[test]
fn the_query_corpus_replays_and_prints_back_to_the_same_tree() {
    for (name, data) in corpus("query_parse") {
        let text = String::from_utf8_lossy(&data);
        let result = parse(&text).map_err(|error| error.to_string());
        if let Ok(expr) = &result {
            let printed = expr.to_string();
            assert_eq!(parse(&printed).as_ref(), Ok(expr), "{name}: {printed}");
            matches(
                expr,
                &AssetView::default(),
                time::OffsetDateTime::UNIX_EPOCH,
            );
        }
        check(&name, result.map(|_| ()));
    }
}

//! `census_agent::collect::packages::apk::parse_installed` on arbitrary text (invalid UTF-8
//! replaced). The corpus replays in `agent/tests/fuzz_corpus.rs`.
#![no_main]

use census_agent::collect::packages::apk::parse_installed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_installed(&String::from_utf8_lossy(data));
});

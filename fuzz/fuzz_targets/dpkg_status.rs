//! `census_agent::collect::packages::dpkg::parse_status` on arbitrary text (invalid UTF-8
//! replaced). The corpus replays in `agent/tests/fuzz_corpus.rs`.
#![no_main]

use census_agent::collect::packages::dpkg::parse_status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_status(&String::from_utf8_lossy(data));
});

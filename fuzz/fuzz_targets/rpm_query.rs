//! `census_agent::collect::packages::rpm::parse_query` on arbitrary text (invalid UTF-8
//! replaced). The corpus replays in `agent/tests/fuzz_corpus.rs`.
#![no_main]

use census_agent::collect::packages::rpm::parse_query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_query(&String::from_utf8_lossy(data));
});

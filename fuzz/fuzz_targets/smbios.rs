//! The SMBIOS table parser. Input: one byte N, then N bytes of entry point (none when N is 0), then
//! the structure table. The corpus replays in `agent/tests/fuzz_corpus.rs` with the same convention.
#![no_main]

use census_agent::collect::hardware::parse_smbios;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n).min(rest.len());
    let (entry_point, table) = rest.split_at(n);
    let _ = parse_smbios((n > 0).then_some(entry_point), table);
});

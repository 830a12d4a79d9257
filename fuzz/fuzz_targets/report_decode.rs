//! The collector's report decoding: gzip (when the body starts with the gzip magic), JSON shape
//! limits, serde into `Report`, protocol and list checks. The corpus replays in
//! `collector/tests/fuzz_corpus.rs` with the same input convention.
#![no_main]

use census_collector::api::Limits;
use census_collector::api::agent::decode_report;
use census_collector::api::body::Encoding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let encoding = if data.starts_with(&[0x1f, 0x8b]) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    };
    // Smaller caps than production so the fuzzer reaches them; the code paths are the same.
    let limits = Limits {
        max_decoded_bytes: 1 << 20,
        ..Limits::default()
    };
    let _ = decode_report(data, encoding, &limits);
});

//! The query language parser; a parsed query must print canonically and parse back to the same tree
//! (the property `collector/src/query/ast.rs` documents), and evaluate without panicking.
#![no_main]

use census_collector::query::{AssetView, matches, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Lossy, as the corpus test reads the files.
    let text = String::from_utf8_lossy(data);
    if let Ok(expr) = parse(&text) {
        let printed = expr.to_string();
        let reparsed = parse(&printed);
        assert_eq!(reparsed.as_ref(), Ok(&expr), "canonical form: {printed}");
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let _ = matches(&expr, &AssetView::default(), now);
    }
});

//! `delta::apply` of an arbitrary JSON delta to a fixed real inventory (the Debian fixture). When the
//! delta applies, diffing the base against the result and applying that must give the result again
//! (the invariant `shared/src/delta.rs` states for canonical documents).
#![no_main]

use census_shared::Inventory;
use census_shared::delta::{Delta, apply, diff};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static BASE: LazyLock<Inventory> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../tests/fixtures/expected/debian.json"))
        .expect("the Debian fixture is a valid inventory")
});

fuzz_target!(|data: &[u8]| {
    let Ok(delta) = serde_json::from_slice::<Delta>(data) else {
        return;
    };
    if let Ok(patched) = apply(&BASE, &delta) {
        let again = apply(&BASE, &diff(&BASE, &patched)).expect("a computed delta applies");
        assert_eq!(again, patched);
    }
});

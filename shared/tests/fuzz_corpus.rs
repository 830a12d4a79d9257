//! The `delta_apply` fuzz corpus (`fuzz/corpus/delta_apply/`) as a regression suite, through the same
//! calls as `fuzz/fuzz_targets/delta_apply.rs`: apply each delta to the Debian fixture and, when it
//! applies, check that `apply(base, diff(base, patched)) == patched`. Files named `valid-*` must apply;
//! the others must be refused with an error (a delta that is not even JSON of a delta counts as one).

use census_shared::Inventory;
use census_shared::delta::{Delta, apply, diff};
use std::path::PathBuf;

#[test]
fn the_delta_corpus_replays() {
    let base: Inventory =
        serde_json::from_str(include_str!("../../tests/fixtures/expected/debian.json"))
            .expect("the Debian fixture is a valid inventory");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/delta_apply");
    let mut applied = 0;
    for entry in std::fs::read_dir(&dir).expect("the delta_apply corpus exists") {
        let path = entry.expect("corpus entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let data = std::fs::read(&path).expect("corpus file");
        let result = serde_json::from_slice::<Delta>(&data)
            .map_err(|error| error.to_string())
            .and_then(|delta| apply(&base, &delta).map_err(|error| error.to_string()));
        match result {
            Ok(patched) => {
                assert!(!name.starts_with("invalid-"), "{name} applied");
                let again = apply(&base, &diff(&base, &patched)).expect("a computed delta applies");
                assert_eq!(
                    again, patched,
                    "{name}: diff then apply is not the identity"
                );
                applied += 1;
            }
            Err(error) => {
                assert!(!name.starts_with("valid-"), "{name} was refused: {error}");
                assert!(!error.is_empty(), "{name}: empty error");
            }
        }
    }
    assert!(
        applied > 0,
        "no delta of the corpus applied: the seeds are lost"
    );
}

//! `census-agent inventory` as a process.

use census_tests::{binary, run_ok};
use std::process::Command;

#[test]
fn inventory_prints_a_versioned_json_document() {
    let output = run_ok(Command::new(binary("census-agent")).arg("inventory"));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["agent"]["version"], env!("CARGO_PKG_VERSION"));
}

//! Helpers shared by the end-to-end tests (and later the fleet simulator): finding the built binaries,
//! running them with their output shown on failure.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of one of the workspace's binaries (`census-agent`, `census-collector`), built next to this
/// test executable. `CENSUS_BIN_DIR` overrides the directory (to test installed packages).
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("CENSUS_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("the test executable's path");
            // target/<profile>/deps/e2e-<hash> → target/<profile>
            exe.parent()
                .and_then(|deps| deps.parent())
                .expect("a target directory")
                .to_path_buf()
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`) or set CENSUS_BIN_DIR",
        path.display()
    );
    path
}

/// Runs `command`, and on a non-zero exit fails with the command line, its stdout and stderr.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("running {command:?} failed: {error}"));
    assert!(output.status.success(), "{}", describe(command, &output));
    output
}

/// The command, its exit status and its output, for failure messages.
pub fn describe(command: &Command, output: &Output) -> String {
    format!(
        "command: {command:?}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

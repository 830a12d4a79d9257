//! `census`: parse the command line, run it on a small runtime, print the error chain and exit with the
//! documented code (see `census --help` and docs/cli.md). A closed stdout (`census ... | head`) is not
//! an error.

use census_cli::exit::Exit;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Usage errors exit with 2 here, help and version with 0 (clap's codes, as documented).
    let cli = census_cli::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("census: cannot start the async runtime: {error}");
            return ExitCode::from(Exit::Other.code());
        }
    };
    match runtime.block_on(census_cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("census: {error:#}");
            ExitCode::from(Exit::of(&error).code())
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

//! The `census-agent` command: parses arguments and dispatches; the work lives in the library.

use anyhow::Context;
use census_agent::cli::{Cli, Command, InventoryArgs};
use census_agent::collect::{self, Root, Section};
use clap::Parser;
use std::io::Write;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inventory(args) => inventory(args),
    };
    if let Err(error) = result {
        // A closed pipe (`census-agent inventory | head`) is the reader's choice, not an error.
        if error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        eprintln!("census-agent: {error:#}");
        std::process::exit(1);
    }
}

fn inventory(args: InventoryArgs) -> anyhow::Result<()> {
    let root = match args.root {
        Some(dir) => {
            anyhow::ensure!(dir.is_dir(), "--root {}: not a directory", dir.display());
            Root::new(dir)
        }
        None => Root::live(),
    };
    let collected_at = census_agent::now_rfc3339();
    let inventory = collect::inventory(
        &root,
        &Section::ALL,
        env!("CARGO_PKG_VERSION"),
        collected_at,
    );
    let mut stdout = std::io::stdout().lock();
    if args.pretty {
        serde_json::to_writer_pretty(&mut stdout, &inventory)
    } else {
        serde_json::to_writer(&mut stdout, &inventory)
    }
    .context("writing the inventory to stdout")?;
    writeln!(stdout).context("writing the inventory to stdout")?;
    Ok(())
}

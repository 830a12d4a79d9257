//! The `census-agent` command line: every subcommand and flag, with the help users read.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "census-agent",
    version,
    about = "Census inventory agent: inventories this machine and reports it to a Census collector",
    long_about = "Census inventory agent.\n\nCollects this machine's hardware and software inventory \
                  (SMBIOS identity, CPU, memory, disks, network, OS, packages, users, services, listening \
                  ports) and reports it over mutual TLS to a Census collector.\n\nStart with \
                  `census-agent inventory --pretty` to see what it collects; no collector is needed for that."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this machine's inventory as JSON on stdout (no collector needed).
    Inventory(InventoryArgs),
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Indent the JSON for people.
    #[arg(long)]
    pub pretty: bool,
    /// Inventory the machine whose files are under DIR (a mounted image, a container's root, a fixture
    /// tree) instead of this one. What DIR lacks is reported in `collection_errors`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

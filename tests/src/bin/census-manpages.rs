//! `census-manpages DIR`: writes the manual pages of census-agent, census-collector and census (one per
//! command and subcommand, roff, uncompressed) into DIR, creating it, and prints each path. Used by
//! `packaging/build-deb.sh`.

use anyhow::Context;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        anyhow::bail!("usage: census-manpages DIR (the directory the .1 pages are written into)");
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let written = census_tests::manpages::render_all(&dir)
        .with_context(|| format!("writing manual pages into {}", dir.display()))?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

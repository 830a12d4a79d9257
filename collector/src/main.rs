//! The `census-collector` command.

fn main() -> anyhow::Result<()> {
    Ok(())
}

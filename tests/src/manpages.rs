//! Manual pages for `census-agent`, `census-collector` and the `census` client, rendered from their
//! clap definitions so the pages can never disagree with `--help`.
//!
//! Layout: [`commands`] lists the three programs' command lines; [`render_all`] writes one page per
//! command and per visible subcommand (`census-agent.1`, `census-agent-enroll.1`,
//! `census-collector-enroll-token-create.1` ...) into a directory. The `census-manpages` binary calls it;
//! `packaging/build-deb.sh` gzips the result into the packages' `usr/share/man/man1`.
//!
//! Limitations: the pages carry only what clap knows (about, flags, subcommands, version); there is no
//! hand-written EXAMPLES or FILES section. They carry no date, so a rebuild gives identical pages.

use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// The manual the pages belong to (the centre of the page footer/header).
const MANUAL: &str = "Census Manual";

/// The command lines of the programs, fully built (subcommands know their `census-x-y` names).
pub fn commands() -> Vec<clap::Command> {
    [
        census_agent::cli::Cli::command(),
        census_collector::cli::Cli::command(),
        census_cli::command(),
    ]
    .into_iter()
    .map(|command| {
        let mut command = command.disable_help_subcommand(true);
        command.build();
        command
    })
    .collect()
}

/// Writes every page into `dir` (which must exist) and returns their paths, top-level pages first.
pub fn render_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for command in commands() {
        render_tree(command, dir, &mut written)?;
    }
    Ok(written)
}

fn render_tree(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let subcommands: Vec<clap::Command> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    let page = clap_mangen::Man::new(command).manual(MANUAL);
    written.push(page.generate_to(dir)?);
    for sub in subcommands {
        render_tree(sub, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every visible subcommand name of `command`.
    fn visible_subcommands(command: &clap::Command) -> Vec<String> {
        command
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .map(|sub| sub.get_name().to_string())
            .collect()
    }

    #[test]
    fn each_top_level_page_mentions_every_subcommand_and_each_has_its_own_page() {
        let dir = tempfile::tempdir().unwrap();
        let written = render_all(dir.path()).unwrap();
        for command in commands() {
            let name = command.get_name().to_string();
            let page = std::fs::read_to_string(dir.path().join(format!("{name}.1"))).unwrap();
            assert!(page.starts_with(".ie"), "{name}.1 is not roff: {page:.80}");
            assert!(page.contains(MANUAL), "{name}.1 lacks the manual name");
            let subcommands = visible_subcommands(&command);
            assert!(subcommands.len() >= 5, "{name}: {subcommands:?}");
            for sub in subcommands {
                // roff escapes '-' as '\-' in running text.
                let escaped = sub.replace('-', "\\-");
                assert!(
                    page.contains(&sub) || page.contains(&escaped),
                    "{name}.1 does not mention the subcommand {sub}"
                );
                let own = dir.path().join(format!("{name}-{sub}.1"));
                assert!(written.contains(&own), "no page {}", own.display());
            }
        }
    }

    #[test]
    fn nested_subcommands_get_pages_and_the_help_pseudo_command_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let written = render_all(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect();
        for expected in [
            "census-agent.1",
            "census-agent-check-config.1",
            "census-collector-enroll-token-create.1",
            "census-collector-agent-approve.1",
            "census.1",
            "census-assets-history.1",
            "census-incidents-create.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("-help")), "{names:?}");
        let enroll = std::fs::read_to_string(dir.path().join("census-agent-enroll.1")).unwrap();
        assert!(enroll.contains("token\\-file"), "{enroll}");
    }
}

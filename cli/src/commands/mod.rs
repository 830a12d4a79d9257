//! What each subcommand does: one module per command group, each resolving names, calling the API and
//! handing the answer to [`crate::output`].
//!
//! # Layout
//! - [`login`]: `login`, `logout`; [`assets`]: `assets list|show|history`; [`incidents`],
//!   [`changes`]: the ITSM records; [`impact`]; [`export`] (streaming).
//! - this file: [`run`] (dispatch), [`connect`] (session from the login and environment), and small
//!   helpers the command modules share.

pub mod assets;
pub mod changes;
pub mod export;
pub mod impact;
pub mod incidents;
pub mod login;

use crate::cli::{Command, PageArgs};
use crate::client::{Answer, Client};
use crate::config;
use crate::output::{Column, Format, Printer, text_at};
use crate::resolve;
use anyhow::Context;
use serde_json::Value;

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => login::login(args).await,
        Command::Logout => login::logout(),
        Command::Assets(command) => assets::run(&connect()?, command).await,
        Command::Incidents(command) => incidents::run(&connect()?, command).await,
        Command::Changes(command) => changes::run(&connect()?, command).await,
        Command::Impact(args) => impact::run(&connect()?, args).await,
        Command::Export(args) => export::run(&connect()?, args).await,
        Command::Completions { shell } => {
            let mut command = crate::command();
            let mut stdout = std::io::stdout().lock();
            clap_complete::generate(shell, &mut command, "census", &mut stdout);
            Ok(())
        }
    }
}

/// A client for the session of the stored login and the `CENSUS_*` environment.
pub fn connect() -> anyhow::Result<Client> {
    let dir = config::config_dir_from_env()?;
    let stored = config::load(&dir)?;
    let session = config::resolve(stored, &config::Overrides::from_env(), |path| {
        std::fs::read_to_string(path)
    })?;
    Ok(Client::new(&session)?)
}

/// `limit` and `cursor` query parameters from the page flags.
pub fn page_query(page: &PageArgs, query: &mut Vec<(&'static str, String)>) {
    if let Some(limit) = page.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = &page.cursor {
        query.push(("cursor", cursor.clone()));
    }
}

/// One page of ITSM records (`incidents`, `changes`): on the asset `ci` if given, with the other
/// `filters` that are set.
pub async fn list_records(
    client: &Client,
    kind: &str,
    ci: Option<String>,
    filters: Vec<(&'static str, Option<String>)>,
    page: &PageArgs,
    format: Format,
    columns: &[Column],
) -> anyhow::Result<()> {
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some(ci) = ci {
        params.push(("ci", resolve::ci(client, &ci).await?));
    }
    params.extend(
        filters
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?))),
    );
    page_query(page, &mut params);
    let answer = client.get(&["api", "v1", kind], &params).await?;
    let (items, next) = items(&answer.value)?;
    let again = format!("census {kind} list");
    written(Printer::stdout(format).list(
        &answer.body,
        items,
        columns,
        next.map(|cursor| (cursor, again.as_str())),
    ))
}

/// The answer to a create: the JSON as it came, or the new id alone on stdout (for `id=$(census ...)`)
/// with `detail` (the JSON pointer of a field worth saying, e.g. the priority) on stderr.
pub fn created(
    answer: &Answer,
    format: Format,
    record: &str,
    detail: (&str, &str),
) -> anyhow::Result<()> {
    let printer = Printer::stdout(format);
    if format == Format::Json {
        return written(printer.raw_json(&answer.body));
    }
    let id = text_at(&answer.value, &format!("{record}/id")).unwrap_or_default();
    let (label, pointer) = detail;
    let value = text_at(&answer.value, &format!("{record}{pointer}")).unwrap_or_else(|| "-".into());
    eprintln!("created {id} with {label} {value}");
    written(printer.write(&format!("{id}\n")))
}

/// A listing's items and next cursor.
pub fn items(value: &Value) -> anyhow::Result<(&[Value], Option<&str>)> {
    let items = value["items"].as_array().context(
        "the collector's answer has no item list; is it a Census collector of this version?",
    )?;
    Ok((items.as_slice(), value["next_cursor"].as_str()))
}

/// Writing to stdout; a closed pipe ends the program quietly (see main.rs).
pub fn written(result: std::io::Result<()>) -> anyhow::Result<()> {
    result.context("writing to standard output")
}

/// An ITSM record id (`INC-000123`) as given, trimmed and upper-cased so `inc-123`-style typing of
/// the prefix works.
pub fn record_id(id: &str) -> String {
    id.trim().to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_normalised_and_page_flags_become_parameters() {
        assert_eq!(record_id(" inc-000123 "), "INC-000123");
        let mut query = Vec::new();
        page_query(
            &PageArgs {
                limit: Some(20),
                cursor: Some("INC-000041".into()),
            },
            &mut query,
        );
        assert_eq!(
            query,
            vec![
                ("limit", "20".to_string()),
                ("cursor", "INC-000041".to_string())
            ]
        );
    }
}

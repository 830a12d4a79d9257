//! `census changes create|list|show|transition|approve|reject`.
//!
//! Change writes answer `{ "record", "warnings" }`; warnings (a planned window overlapping another
//! active change on the same CI) go to stderr, so a script's stdout holds only the result.

use super::incidents::put;
use super::{created, list_records, record_id, written};
use crate::cli::ChangesCommand;
use crate::client::{Answer, Client};
use crate::output::{Column, Format, Printer, View, column, short_time, text_at, time_column};
use crate::resolve;
use serde_json::{Map, Value, json};

const CHANGE_COLUMNS: [Column; 12] = [
    column("id", "/id", true),
    column("state", "/state", true),
    column("change_type", "/change_type", true),
    column("risk", "/risk", true),
    column("title", "/title", true),
    column("affected_cis", "/affected_cis", true),
    time_column("window_start", "/window/start", true),
    time_column("window_end", "/window/end", false),
    column("requested_by", "/requested_by", false),
    column("approver", "/approver", false),
    time_column("created_at", "/created_at", false),
    time_column("updated_at", "/updated_at", false),
];

pub async fn run(client: &Client, command: ChangesCommand) -> anyhow::Result<()> {
    match command {
        ChangesCommand::Create {
            title,
            change_type,
            risk,
            cis,
            start,
            end,
            description,
            implementation_plan,
            backout_plan,
            output,
        } => {
            let affected = resolve::cis(client, &cis).await?;
            let mut body = Map::new();
            body.insert("title".into(), json!(title));
            body.insert("change_type".into(), json!(change_type));
            body.insert("risk".into(), json!(risk));
            body.insert("affected_cis".into(), json!(affected));
            if let (Some(start), Some(end)) = (start, end) {
                body.insert("window".into(), json!({"start": start, "end": end}));
            }
            put(&mut body, "description", description);
            put(&mut body, "implementation_plan", implementation_plan);
            put(&mut body, "backout_plan", backout_plan);
            let answer = client
                .post(&["api", "v1", "changes"], &Value::Object(body))
                .await?;
            warn(&answer.value);
            created(&answer, output.format, "/record", ("state", "/state"))
        }
        ChangesCommand::List {
            state,
            change_type,
            risk,
            ci,
            text,
            page,
            output,
        } => {
            let filters = vec![
                ("state", state),
                ("change_type", change_type),
                ("risk", risk),
                ("text", text),
            ];
            list_records(
                client,
                "changes",
                ci,
                filters,
                &page,
                output.format,
                &CHANGE_COLUMNS,
            )
            .await
        }
        ChangesCommand::Show { id, output } => {
            let answer = client
                .get(&["api", "v1", "changes", &record_id(&id)], &[])
                .await?;
            show(&answer, &answer.value, output.format)
        }
        ChangesCommand::Transition {
            id,
            state,
            note,
            output,
        } => transition(client, &id, &state, note, output.format).await,
        ChangesCommand::Approve { id, note, output } => {
            transition(client, &id, "approved", note, output.format).await
        }
        ChangesCommand::Reject { id, note, output } => {
            transition(client, &id, "rejected", note, output.format).await
        }
    }
}

async fn transition(
    client: &Client,
    id: &str,
    state: &str,
    note: Option<String>,
    format: Format,
) -> anyhow::Result<()> {
    let mut body = Map::new();
    body.insert("to".into(), json!(state));
    put(&mut body, "note", note);
    let answer = client
        .post(
            &["api", "v1", "changes", &record_id(id), "transition"],
            &Value::Object(body),
        )
        .await?;
    warn(&answer.value);
    show(&answer, &answer.value["record"], format)
}

/// Window-overlap and other warnings of a change write, on stderr.
fn warn(outcome: &Value) {
    for warning in outcome["warnings"].as_array().into_iter().flatten() {
        eprintln!(
            "warning: {}",
            text_at(warning, "/message").unwrap_or_else(|| warning.to_string())
        );
    }
}

fn show(answer: &Answer, change: &Value, format: Format) -> anyhow::Result<()> {
    let mut view = View::default();
    view.fields("", "", change_fields(change));
    written(Printer::stdout(format).view(&answer.body, &view))
}

/// A change's fields, in the order people read them.
pub fn change_fields(change: &Value) -> Vec<(String, Option<String>)> {
    let at = |pointer: &str| text_at(change, pointer);
    let time = |pointer: &str| at(pointer).map(|t| short_time(&t));
    let related: Vec<String> = change["related_incidents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| {
            Some(format!(
                "{} ({})",
                text_at(link, "/incident")?,
                text_at(link, "/relation")?
            ))
        })
        .collect();
    vec![
        ("id".into(), at("/id")),
        ("title".into(), at("/title")),
        ("state".into(), at("/state")),
        ("type".into(), at("/change_type")),
        ("risk".into(), at("/risk")),
        ("affected_cis".into(), at("/affected_cis")),
        ("window_start".into(), time("/window/start")),
        ("window_end".into(), time("/window/end")),
        ("requested_by".into(), at("/requested_by")),
        ("approver".into(), at("/approver")),
        ("decided_at".into(), time("/decided_at")),
        ("decision_note".into(), at("/decision_note")),
        (
            "related_incidents".into(),
            (!related.is_empty()).then(|| related.join(", ")),
        ),
        ("implementation_plan".into(), at("/implementation_plan")),
        ("backout_plan".into(), at("/backout_plan")),
        ("created_at".into(), time("/created_at")),
        ("updated_at".into(), time("/updated_at")),
        ("description".into(), at("/description")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_with_its_window_decision_and_incidents() {
        let change = json!({"id": "CHG-000001", "title": "upgrade openssl", "state": "approved",
            "change_type": "normal", "risk": "low", "affected_cis": ["ci-000001", "ci-000002"],
            "window": {"start": "2026-11-27T22:00:00Z", "end": "2026-11-27T23:00:00Z"},
            "approver": "alice", "decision_note": "low blast radius",
            "related_incidents": [{"incident": "INC-000001", "relation": "resolves"}]});
        let mut view = View::default();
        view.fields("", "", change_fields(&change));
        let text = view.render(Format::Table, false);
        for expected in [
            "affected_cis:        ci-000001, ci-000002\n",
            "window_start:        2026-11-27 22:00\n",
            "related_incidents:   INC-000001 (resolves)\n",
            "decided_at:          -\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
    }
}

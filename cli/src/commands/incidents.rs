//! `census incidents create|list|show|transition`.
//!
//! `show` reads the incident context (docs/itsm.md, "Incident context"): the incident, each affected
//! CI's hardware summary, the changes discovery saw and the change records planned on it in the last
//! `--days` days, the other open incidents on it, and the impact of all affected CIs.

use super::impact::{hostnames, impact_section, impacted_ids};
use super::{created, list_records, record_id, written};
use crate::cli::IncidentsCommand;
use crate::client::Client;
use crate::output::{
    Column, Format, Printer, View, column, human_bytes, short_time, text_at, time_column,
};
use crate::resolve;
use serde_json::{Map, Value, json};

const INCIDENT_COLUMNS: [Column; 14] = [
    column("id", "/id", true),
    column("priority", "/priority", true),
    column("state", "/state", true),
    column("title", "/title", true),
    column("affected_cis", "/affected_cis", true),
    column("assignee", "/assignee", true),
    time_column("opened_at", "/opened_at", true),
    column("impact", "/impact", false),
    column("urgency", "/urgency", false),
    column("caller", "/caller", false),
    column("assignment_group", "/assignment_group", false),
    time_column("updated_at", "/updated_at", false),
    time_column("resolved_at", "/resolved_at", false),
    time_column("closed_at", "/closed_at", false),
];

/// Inserts `value` under `name` when it is given.
pub fn put(body: &mut Map<String, Value>, name: &str, value: Option<String>) {
    if let Some(value) = value {
        body.insert(name.into(), Value::String(value));
    }
}

pub async fn run(client: &Client, command: IncidentsCommand) -> anyhow::Result<()> {
    match command {
        IncidentsCommand::Create {
            title,
            cis,
            impact,
            urgency,
            description,
            caller,
            assignee,
            assignment_group,
            output,
        } => {
            let affected = resolve::cis(client, &cis).await?;
            let mut body = Map::new();
            body.insert("title".into(), json!(title));
            body.insert("impact".into(), json!(impact));
            body.insert("urgency".into(), json!(urgency));
            body.insert("affected_cis".into(), json!(affected));
            put(&mut body, "description", description);
            put(&mut body, "caller", caller);
            put(&mut body, "assignee", assignee);
            put(&mut body, "assignment_group", assignment_group);
            let answer = client
                .post(&["api", "v1", "incidents"], &Value::Object(body))
                .await?;
            created(&answer, output.format, "", ("priority", "/priority"))
        }
        IncidentsCommand::List {
            state,
            priority,
            assignee,
            ci,
            text,
            page,
            output,
        } => {
            let filters = vec![
                ("state", state),
                ("priority", priority),
                ("assignee", assignee),
                ("text", text),
            ];
            list_records(
                client,
                "incidents",
                ci,
                filters,
                &page,
                output.format,
                &INCIDENT_COLUMNS,
            )
            .await
        }
        IncidentsCommand::Show { id, days, output } => {
            let id = record_id(&id);
            let answer = client
                .get(
                    &["api", "v1", "incidents", &id, "context"],
                    &[("days", days.to_string())],
                )
                .await?;
            let printer = Printer::stdout(output.format);
            if printer.format == Format::Json {
                return written(printer.raw_json(&answer.body));
            }
            let names = hostnames(client, &impacted_ids(&answer.value["impact"])).await?;
            written(printer.view(&answer.body, &context_view(&answer.value, &names)))
        }
        IncidentsCommand::Transition {
            id,
            state,
            resolution_code,
            resolution_notes,
            note,
            output,
        } => {
            let id = record_id(&id);
            let mut body = Map::new();
            body.insert("to".into(), json!(state));
            put(&mut body, "resolution_code", resolution_code);
            put(&mut body, "resolution_notes", resolution_notes);
            put(&mut body, "note", note);
            let answer = client
                .post(
                    &["api", "v1", "incidents", &id, "transition"],
                    &Value::Object(body),
                )
                .await?;
            let printer = Printer::stdout(output.format);
            if printer.format == Format::Json {
                return written(printer.raw_json(&answer.body));
            }
            let mut view = View::default();
            view.fields("", "", incident_fields(&answer.value));
            written(printer.view(&answer.body, &view))
        }
    }
}

/// The incident's own fields, in the order people read them.
pub fn incident_fields(incident: &Value) -> Vec<(String, Option<String>)> {
    let at = |name: &str| text_at(incident, &format!("/{name}"));
    let time = |name: &str| at(name).map(|t| short_time(&t));
    vec![
        ("id".into(), at("id")),
        ("title".into(), at("title")),
        ("state".into(), at("state")),
        ("priority".into(), at("priority")),
        ("impact".into(), at("impact")),
        ("urgency".into(), at("urgency")),
        ("affected_cis".into(), at("affected_cis")),
        ("assignee".into(), at("assignee")),
        ("assignment_group".into(), at("assignment_group")),
        ("caller".into(), at("caller")),
        ("problem".into(), at("problem")),
        ("opened_by".into(), at("opened_by")),
        ("opened_at".into(), time("opened_at")),
        ("updated_at".into(), time("updated_at")),
        ("resolved_at".into(), time("resolved_at")),
        ("resolution_code".into(), at("resolution_code")),
        ("resolution_notes".into(), at("resolution_notes")),
        ("description".into(), at("description")),
    ]
}

fn rows<const N: usize>(items: &Value, columns: [(&str, &str); N]) -> Vec<Vec<(String, String)>> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            columns
                .iter()
                .map(|(name, pointer)| {
                    let value = text_at(item, pointer).unwrap_or_else(|| "-".into());
                    let value = if name.ends_with("at") || name.starts_with("window") {
                        short_time(&value)
                    } else {
                        value
                    };
                    (name.to_string(), value)
                })
                .collect()
        })
        .collect()
}

/// The "show" view of an incident context answer.
pub fn context_view(context: &Value, names: &std::collections::BTreeMap<String, String>) -> View {
    let incident = &context["incident"];
    let since = text_at(context, "/since")
        .map(|t| short_time(&t))
        .unwrap_or_default();
    let mut view = View::default();
    view.fields("", "", incident_fields(incident));
    for ci in context["cis"].as_array().into_iter().flatten() {
        let id = text_at(ci, "/ci").unwrap_or_default();
        let summary = &ci["summary"];
        let get = |name: &str| text_at(summary, &format!("/{name}"));
        let bytes = |name: &str| summary[name].as_u64().map(human_bytes);
        let cpu = match (get("cpu_model"), get("cpu_cores")) {
            (Some(model), Some(cores)) => Some(format!("{model} ({cores} cores)")),
            (model, _) => model,
        };
        let title = match get("name") {
            Some(name) => format!("Affected {id} ({name})"),
            None => format!("Affected {id}"),
        };
        view.fields(
            &id,
            &title,
            vec![
                ("name".into(), get("name")),
                ("os".into(), get("os")),
                ("vendor".into(), get("vendor")),
                ("model".into(), get("model")),
                ("serial".into(), get("serial")),
                ("cpu".into(), cpu),
                ("memory".into(), bytes("memory_bytes")),
                ("disk".into(), bytes("disk_bytes")),
            ],
        );
        view.list(
            &format!("{id}.discovered"),
            &format!("Changes seen on {id} since {since}"),
            rows(
                &ci["discovered_changes"],
                [
                    ("at", "/at"),
                    ("kind", "/kind"),
                    ("subject", "/subject"),
                    ("old", "/old"),
                    ("new", "/new"),
                ],
            ),
            "none",
        );
        view.list(
            &format!("{id}.planned"),
            &format!("Change records on {id} since {since}"),
            rows(
                &ci["planned_changes"],
                [
                    ("id", "/id"),
                    ("state", "/state"),
                    ("type", "/change_type"),
                    ("window_start", "/window/start"),
                    ("title", "/title"),
                ],
            ),
            "none",
        );
        view.list(
            &format!("{id}.open_incidents"),
            &format!("Other open incidents on {id}"),
            rows(
                &ci["open_incidents"],
                [
                    ("id", "/id"),
                    ("priority", "/priority"),
                    ("state", "/state"),
                    ("title", "/title"),
                ],
            ),
            "none",
        );
    }
    let affected = text_at(incident, "/affected_cis").unwrap_or_else(|| "no CI".into());
    impact_section(&mut view, &context["impact"], names, &affected);
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_context_view_shows_hardware_changes_and_impact() {
        let context = json!({
            "incident": {"id": "INC-000001", "title": "Disk failing", "state": "new",
                         "priority": "P2", "impact": 2, "urgency": 1,
                         "affected_cis": ["ci-000001"], "opened_at": "2026-11-26T10:00:00Z"},
            "since": "2026-11-19T10:00:00Z",
            "cis": [{"ci": "ci-000001",
                     "summary": {"name": "web-01", "vendor": "Dell Inc.", "cpu_model": "Xeon",
                                 "cpu_cores": 8, "memory_bytes": 17179869184u64},
                     "discovered_changes": [{"at": "2026-11-25T09:00:00Z", "kind": "package_upgraded",
                                             "subject": "openssl", "old": "3.0.2", "new": "3.0.11"}],
                     "planned_changes": [], "open_incidents": []}],
            "impact": {"cis": [], "truncated": false}
        });
        let text = context_view(&context, &BTreeMap::new()).render(Format::Table, false);
        for expected in [
            "priority:         P2\n",
            "Affected ci-000001 (web-01)\n",
            "cpu:    Xeon (8 cores)\n",
            "memory: 16.0 GiB\n",
            "Changes seen on ci-000001 since 2026-11-19 10:00\n",
            "2026-11-25 09:00  package_upgraded  openssl  3.0.2  3.0.11\n",
            "Change records on ci-000001 since 2026-11-19 10:00\nnone\n",
            "Impact of ci-000001\nnothing depends on these CIs\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let csv = context_view(&context, &BTreeMap::new()).render(Format::Csv, false);
        assert!(csv.contains("ci-000001.name,web-01\r\n"), "{csv}");
        assert!(
            csv.contains("ci-000001.discovered.0.subject,openssl\r\n"),
            "{csv}"
        );
    }
}

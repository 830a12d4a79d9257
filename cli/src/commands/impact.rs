//! `census impact ASSET...`: every CI that depends on the given ones, transitively, with the path.
//!
//! The collector walks the relationships (docs/itsm.md, "Impact"); this command names each CI by its
//! hostname too, fetched in one search per [`IDS_PER_QUERY`] CIs rather than one request per CI.
//! [`format_path`] draws a path with the direction of each relationship (pure, tested below).

use super::written;
use crate::cli::ImpactArgs;
use crate::client::Client;
use crate::output::{Printer, View, text_at};
use crate::resolve;
use serde_json::Value;
use std::collections::BTreeMap;

/// CI ids per `id in (...)` search: keeps the query well under the collector's 4096-byte limit.
const IDS_PER_QUERY: usize = 200;

pub async fn run(client: &Client, args: ImpactArgs) -> anyhow::Result<()> {
    let ids = resolve::cis(client, &args.assets).await?;
    let mut params: Vec<(&str, String)> = ids.iter().map(|id| ("ci", id.clone())).collect();
    if let Some(depth) = args.max_depth {
        params.push(("max_depth", depth.to_string()));
    }
    if let Some(max) = args.max_cis {
        params.push(("max_cis", max.to_string()));
    }
    let answer = client.get(&["api", "v1", "impact"], &params).await?;
    let printer = Printer::stdout(args.output.format);
    if printer.format == crate::output::Format::Json {
        return written(printer.raw_json(&answer.body));
    }
    let names = hostnames(client, &impacted_ids(&answer.value)).await?;
    let mut view = View::default();
    impact_section(&mut view, &answer.value, &names, &ids.join(", "));
    written(printer.view(&answer.body, &view))
}

/// Every CI id an impact answer mentions (targets and the CIs along their paths).
pub fn impacted_ids(impact: &Value) -> Vec<String> {
    let mut ids: Vec<String> = impact["cis"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|ci| ci["path"].as_array().into_iter().flatten())
        .filter_map(|id| id.as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The hostnames of `ids` (those that have one), by id.
pub async fn hostnames(
    client: &Client,
    ids: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut names = BTreeMap::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let query = format!("id in ({})", chunk.join(", "));
        let answer = client
            .get(
                &["api", "v1", "assets"],
                &[("q", query), ("limit", chunk.len().to_string())],
            )
            .await?;
        for item in answer.value["items"].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (text_at(item, "/id"), text_at(item, "/hostname")) {
                names.insert(id, name);
            }
        }
    }
    Ok(names)
}

/// `ci` with its hostname when known: `ci-000002 (app-01)`.
pub fn named(ci: &str, names: &BTreeMap<String, String>) -> String {
    match names.get(ci) {
        Some(name) => format!("{ci} ({name})"),
        None => ci.to_string(),
    }
}

/// A path from an affected CI to a dependent, each hop showing which way the relationship points:
/// `ci-1 <-depends_on- ci-2` (ci-2 depends on ci-1), `ci-1 -hosts-> ci-2` (ci-1 hosts ci-2).
pub fn format_path(path: &[Value], via: &[Value], names: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (index, ci) in path.iter().enumerate() {
        let ci = ci.as_str().unwrap_or("?");
        if index > 0 {
            let kind = via.get(index - 1).and_then(Value::as_str).unwrap_or("?");
            // depends_on and runs_on are stored on the dependent; hosts on the host.
            if kind == "hosts" {
                out.push_str(&format!(" -{kind}-> "));
            } else {
                out.push_str(&format!(" <-{kind}- "));
            }
        }
        out.push_str(&named(ci, names));
    }
    out
}

/// The impact answer as a list section of `view`.
pub fn impact_section(view: &mut View, impact: &Value, names: &BTreeMap<String, String>, of: &str) {
    let rows: Vec<Vec<(String, String)>> = impact["cis"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ci| {
            let empty = Vec::new();
            let path = ci["path"].as_array().unwrap_or(&empty);
            let via = ci["via"].as_array().unwrap_or(&empty);
            vec![
                ("ci".into(), text_at(ci, "/ci").unwrap_or_default()),
                (
                    "hostname".into(),
                    text_at(ci, "/ci")
                        .and_then(|id| names.get(&id).cloned())
                        .unwrap_or_else(|| "-".into()),
                ),
                ("depth".into(), text_at(ci, "/depth").unwrap_or_default()),
                ("path".into(), format_path(path, via, names)),
            ]
        })
        .collect();
    let truncated = impact["truncated"].as_bool().unwrap_or(false);
    let title = if truncated {
        format!("Impact of {of} (truncated: a depth or size limit stopped the walk)")
    } else {
        format!("Impact of {of}")
    };
    view.list("impact", &title, rows, "nothing depends on these CIs");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Format;
    use serde_json::json;

    #[test]
    fn paths_show_the_direction_of_each_relationship_and_hostnames() {
        let names = BTreeMap::from([("ci-000001".to_string(), "db-01".to_string())]);
        let path = [json!("ci-000001"), json!("ci-000002"), json!("ci-000003")];
        let via = [json!("depends_on"), json!("hosts")];
        assert_eq!(
            format_path(&path, &via, &names),
            "ci-000001 (db-01) <-depends_on- ci-000002 -hosts-> ci-000003"
        );
    }

    #[test]
    fn an_impact_answer_becomes_a_table_with_every_dependent() {
        let impact = json!({"cis": [
            {"ci": "ci-000002", "depth": 1, "path": ["ci-000001", "ci-000002"], "via": ["depends_on"]},
            {"ci": "ci-000003", "depth": 2, "path": ["ci-000001", "ci-000002", "ci-000003"],
             "via": ["depends_on", "runs_on"]}
        ], "truncated": false});
        assert_eq!(
            impacted_ids(&impact),
            vec!["ci-000001", "ci-000002", "ci-000003"]
        );
        let names = BTreeMap::from([("ci-000002".to_string(), "app-01".to_string())]);
        let mut view = View::default();
        impact_section(&mut view, &impact, &names, "ci-000001");
        assert_eq!(
            view.render(Format::Table, false),
            "Impact of ci-000001\n\
             CI         HOSTNAME  DEPTH  PATH\n\
             ci-000002  app-01    1      ci-000001 <-depends_on- ci-000002 (app-01)\n\
             ci-000003  -         2      ci-000001 <-depends_on- ci-000002 (app-01) <-runs_on- ci-000003\n"
        );
        let mut empty = View::default();
        impact_section(
            &mut empty,
            &json!({"cis": [], "truncated": true}),
            &names,
            "x",
        );
        assert!(empty.render(Format::Table, false).contains("truncated"));
    }
}

//! How results reach the user: `--format table` (aligned, for people), `json` (the collector's answer,
//! byte for byte, for scripts) or `csv`.
//!
//! # Layout
//! - [`table`]: the table and `label: value` renderers and CSV records (pure).
//! - this file: [`Format`], [`Column`] (a list column read from the API's JSON by pointer), [`View`]
//!   (the sections of a "show"), the value formatters ([`text_of`], [`short_time`], [`human_bytes`]),
//!   whether to use colour ([`colour_enabled`]) and [`Printer`], which writes to stdout.
//!
//! A listing in CSV has every column (tables leave some out to fit a terminal); a "show" in CSV is
//! `field,value` pairs, sections prefixed with their key (`ci-000001.memory`).

pub mod table;

use serde_json::Value;
use std::io::Write;
use table::{Table, csv_record, heading, render_fields};

/// The output format of listings and "show" commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people (colour on a terminal unless NO_COLOR is set).
    #[default]
    Table,
    /// The collector's JSON answer, unchanged.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// How a column's JSON value becomes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// RFC 3339; tables show `2026-11-26 11:58`, CSV the full value.
    Time,
    /// A byte count; tables show `16.0 GiB`, CSV the number.
    Bytes,
}

/// One column of a listing.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// CSV header (the API's field name).
    pub name: &'static str,
    /// JSON pointer into one item (`/status/value`).
    pub pointer: &'static str,
    pub kind: Kind,
    /// Shown in tables too (CSV always has every column).
    pub in_table: bool,
}

pub const fn column(name: &'static str, pointer: &'static str, in_table: bool) -> Column {
    Column {
        name,
        pointer,
        kind: Kind::Text,
        in_table,
    }
}

pub const fn time_column(name: &'static str, pointer: &'static str, in_table: bool) -> Column {
    Column {
        name,
        pointer,
        kind: Kind::Time,
        in_table,
    }
}

/// Text for a JSON value: strings as they are, numbers and booleans printed, arrays joined with ", ";
/// `null`, empty strings and empty arrays are `None` (shown as `-` in tables, empty in CSV).
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text_of).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Object(_) => Some(value.to_string()),
    }
}

/// The text at `pointer` in `value`, if any.
pub fn text_at(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(text_of)
}

/// `2026-11-26T11:58:02.123Z` → `2026-11-26 11:58` (UTC stays implicit); anything else unchanged.
pub fn short_time(text: &str) -> String {
    let bytes = text.as_bytes();
    let looks_rfc3339 = bytes.len() >= 16
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && text.is_char_boundary(16);
    if looks_rfc3339 && (text.ends_with('Z') || text.ends_with("+00:00")) {
        format!("{} {}", &text[..10], &text[11..16])
    } else {
        text.to_string()
    }
}

/// Bytes in binary units with one decimal: `17179869184` → `16.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn cell(item: &Value, column: &Column, for_table: bool) -> Option<String> {
    let value = item.pointer(column.pointer)?;
    match (column.kind, for_table) {
        (Kind::Time, true) => text_of(value).map(|text| short_time(&text)),
        (Kind::Bytes, true) => value.as_u64().map(human_bytes),
        _ => text_of(value),
    }
}

/// A listing as a table (columns marked `in_table`) or CSV (every column).
pub fn render_list(format: Format, colour: bool, items: &[Value], columns: &[Column]) -> String {
    match format {
        Format::Csv => {
            let mut out = csv_record(columns.iter().map(|c| Some(c.name)));
            for item in items {
                let cells: Vec<Option<String>> =
                    columns.iter().map(|c| cell(item, c, false)).collect();
                out.push_str(&csv_record(cells.iter().map(Option::as_deref)));
            }
            out
        }
        Format::Table | Format::Json => {
            let shown: Vec<&Column> = columns.iter().filter(|c| c.in_table).collect();
            let mut table = Table::new(
                shown
                    .iter()
                    .map(|c| c.name.replace('_', " ").to_uppercase()),
            );
            for item in items {
                table.push(
                    shown
                        .iter()
                        .map(|c| cell(item, c, true).unwrap_or_else(|| "-".into())),
                );
            }
            table.render(colour)
        }
    }
}

/// One part of a "show" view.
#[derive(Debug, Clone)]
pub enum Body {
    Fields(Vec<(String, String)>),
    Table(Table, Vec<Vec<(String, String)>>),
    /// A line of text (e.g. "no open incidents"); tables only.
    Note(String),
}

#[derive(Debug, Clone)]
pub struct Section {
    /// The CSV prefix of this section's fields; empty for the record's own fields.
    pub key: String,
    /// Heading shown above the section in tables; empty for none.
    pub title: String,
    pub body: Body,
}

/// A record and what belongs to it, in sections.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub sections: Vec<Section>,
}

impl View {
    pub fn fields(&mut self, key: &str, title: &str, fields: Vec<(String, Option<String>)>) {
        let fields = fields
            .into_iter()
            .map(|(label, value)| (label, value.unwrap_or_else(|| "-".into())))
            .collect();
        self.sections.push(Section {
            key: key.into(),
            title: title.into(),
            body: Body::Fields(fields),
        });
    }

    /// A list inside the view: `rows` are `(column, value)` pairs, the first row's columns are the
    /// header. An empty list shows `empty` instead.
    pub fn list(&mut self, key: &str, title: &str, rows: Vec<Vec<(String, String)>>, empty: &str) {
        let body = match rows.first() {
            None => Body::Note(empty.into()),
            Some(first) => {
                let mut table = Table::new(first.iter().map(|(name, _)| name.to_uppercase()));
                for row in &rows {
                    table.push(row.iter().map(|(_, value)| value.clone()));
                }
                Body::Table(table, rows)
            }
        };
        self.sections.push(Section {
            key: key.into(),
            title: title.into(),
            body,
        });
    }

    pub fn render(&self, format: Format, colour: bool) -> String {
        let mut out = String::new();
        if format == Format::Csv {
            out.push_str(&csv_record([Some("field"), Some("value")]));
            for section in &self.sections {
                let prefix = |label: &str| match section.key.as_str() {
                    "" => label.to_string(),
                    key => format!("{key}.{label}"),
                };
                let mut pair = |label: String, value: &str| {
                    let value = (value != "-").then_some(value);
                    out.push_str(&csv_record([Some(label.as_str()), value]));
                };
                match &section.body {
                    Body::Fields(fields) => {
                        for (label, value) in fields {
                            pair(prefix(label), value);
                        }
                    }
                    Body::Table(_, rows) => {
                        for (index, row) in rows.iter().enumerate() {
                            for (label, value) in row {
                                pair(prefix(&format!("{index}.{label}")), value);
                            }
                        }
                    }
                    Body::Note(_) => {}
                }
            }
            return out;
        }
        for (index, section) in self.sections.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            if !section.title.is_empty() {
                out.push_str(&heading(&section.title, colour));
            }
            match &section.body {
                Body::Fields(fields) => out.push_str(&render_fields(fields, colour)),
                Body::Table(table, _) => out.push_str(&table.render(colour)),
                Body::Note(note) => {
                    out.push_str(&table::clean(note));
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// Colour on a terminal (or when `CLICOLOR_FORCE` is set, e.g. under `less -R` or in tests), and never
/// when `NO_COLOR` is set to anything but the empty string (<https://no-color.org>): NO_COLOR wins.
pub fn colour_enabled(
    is_terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    force: Option<&std::ffi::OsStr>,
) -> bool {
    let set = |value: Option<&std::ffi::OsStr>| value.is_some_and(|v| !v.is_empty() && v != "0");
    !set(no_color) && (is_terminal || set(force))
}

/// Writes results to stdout in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: Format,
    pub colour: bool,
}

impl Printer {
    /// A printer for stdout, deciding colour from the terminal and `NO_COLOR`.
    pub fn stdout(format: Format) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR");
        let force = std::env::var_os("CLICOLOR_FORCE");
        Self {
            format,
            colour: colour_enabled(
                std::io::stdout().is_terminal(),
                no_color.as_deref(),
                force.as_deref(),
            ),
        }
    }

    pub fn write(&self, text: &str) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()
    }

    /// The collector's JSON answer as it came, ending in a line break.
    pub fn raw_json(&self, body: &[u8]) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(body)?;
        if !body.ends_with(b"\n") {
            stdout.write_all(b"\n")?;
        }
        stdout.flush()
    }

    /// A page of a listing; `next_cursor` is mentioned on stderr in tables so scripts' stdout stays clean.
    pub fn list(
        &self,
        body: &[u8],
        items: &[Value],
        columns: &[Column],
        next: Option<(&str, &str)>,
    ) -> std::io::Result<()> {
        if self.format == Format::Json {
            return self.raw_json(body);
        }
        self.write(&render_list(self.format, self.colour, items, columns))?;
        if let (Format::Table, Some((cursor, command))) = (self.format, next) {
            eprintln!("more results: {command} --cursor {cursor}");
        }
        Ok(())
    }

    pub fn view(&self, body: &[u8], view: &View) -> std::io::Result<()> {
        if self.format == Format::Json {
            return self.raw_json(body);
        }
        self.write(&view.render(self.format, self.colour))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLUMNS: [Column; 4] = [
        column("id", "/id", true),
        column("status", "/status/value", true),
        time_column("last_seen", "/last_seen", true),
        column("owner", "/owner", false),
    ];

    #[test]
    fn a_listing_renders_as_table_or_csv_from_the_same_columns() {
        let items = vec![
            json!({"id": "ci-000001", "status": {"value": "in_use"},
                   "last_seen": "2026-11-26T11:58:02Z", "owner": "Smith, Jane"}),
            json!({"id": "ci-000002", "status": {"value": "retired"}, "last_seen": null}),
        ];
        assert_eq!(
            render_list(Format::Table, false, &items, &COLUMNS),
            "ID         STATUS   LAST SEEN\n\
             ci-000001  in_use   2026-11-26 11:58\n\
             ci-000002  retired  -\n"
        );
        assert_eq!(
            render_list(Format::Csv, false, &items, &COLUMNS),
            "id,status,last_seen,owner\r\n\
             ci-000001,in_use,2026-11-26T11:58:02Z,\"Smith, Jane\"\r\n\
             ci-000002,retired,,\r\n"
        );
    }

    #[test]
    fn values_become_text_and_empty_values_none() {
        assert_eq!(text_of(&json!(["a", null, 3])), Some("a, 3".into()));
        assert_eq!(text_of(&json!([])), None);
        assert_eq!(text_of(&json!("")), None);
        assert_eq!(text_of(&json!(true)), Some("true".into()));
        assert_eq!(human_bytes(17_179_869_184), "16.0 GiB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(short_time("2026-11-26T11:58:02.5Z"), "2026-11-26 11:58");
        assert_eq!(
            short_time("2026-11-26T11:58:02+01:00"),
            "2026-11-26T11:58:02+01:00"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn a_view_renders_sections_and_flattens_to_field_value_csv() {
        let mut view = View::default();
        view.fields(
            "",
            "",
            vec![
                ("id".into(), Some("INC-000001".into())),
                ("assignee".into(), None),
            ],
        );
        view.list(
            "ci-000001",
            "ci-000001 changes",
            vec![vec![
                ("kind".into(), "ip_added".into()),
                ("subject".into(), "eno1".into()),
            ]],
            "none",
        );
        view.list("impact", "Impact", vec![], "nothing depends on these CIs");
        assert_eq!(
            view.render(Format::Table, false),
            "id:       INC-000001\nassignee: -\n\nci-000001 changes\nKIND      SUBJECT\nip_added  eno1\n\nImpact\nnothing depends on these CIs\n"
        );
        assert_eq!(
            view.render(Format::Csv, false),
            "field,value\r\nid,INC-000001\r\nassignee,\r\nci-000001.0.kind,ip_added\r\nci-000001.0.subject,eno1\r\n"
        );
    }

    #[test]
    fn colour_needs_a_terminal_or_a_force_and_no_color_always_wins() {
        use std::ffi::OsStr;
        let on = Some(OsStr::new("1"));
        assert!(colour_enabled(true, None, None));
        assert!(colour_enabled(true, Some(OsStr::new("")), None));
        assert!(!colour_enabled(true, on, None));
        assert!(!colour_enabled(false, None, None));
        assert!(colour_enabled(false, None, on));
        assert!(!colour_enabled(false, None, Some(OsStr::new("0"))));
        assert!(!colour_enabled(true, on, on));
    }
}

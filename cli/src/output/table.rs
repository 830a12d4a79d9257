//! A small aligned-table renderer for people's terminals, and CSV records for scripts.
//!
//! Columns are as wide as their widest cell; two spaces separate them and the last column is not
//! padded, so lines carry no trailing blanks. Cells are cleaned first: line breaks and tabs become
//! spaces and other control characters become `?`, because cell text comes from agents' inventories and
//! must never move the cursor or change the colours of the reader's terminal.
//!
//! Limitation: widths count characters, not terminal columns, so wide (CJK) characters misalign.

/// The escape sequences for bold text, used for headers when colour is on.
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// A table: a header row and data rows, every cell already text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty and extra cells are dropped.
    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = row.into_iter().map(|cell| clean(&cell.into())).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines ending in `\n`; the header in bold when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let header: Vec<String> = self.header.iter().map(|cell| clean(cell)).collect();
        let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String], bold: bool| {
            let mut text = String::new();
            for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                if index > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                if index + 1 < cells.len() {
                    let pad = width - cell.chars().count();
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            let text = text.trim_end();
            if bold {
                out.push_str(BOLD);
                out.push_str(text);
                out.push_str(RESET);
            } else {
                out.push_str(text);
            }
            out.push('\n');
        };
        line(&header, colour);
        for row in &self.rows {
            line(row, false);
        }
        out
    }
}

/// `label: value` lines with the labels aligned (the "show" view of one record).
pub fn render_fields(fields: &[(String, String)], colour: bool) -> String {
    let width = fields
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in fields {
        let label = clean(label);
        let pad = width - label.chars().count();
        if colour {
            out.push_str(BOLD);
        }
        out.push_str(&label);
        out.push(':');
        if colour {
            out.push_str(RESET);
        }
        out.extend(std::iter::repeat_n(' ', pad + 1));
        out.push_str(clean(value).trim_end());
        out.push('\n');
    }
    out
}

/// A heading line above a section of a "show" view.
pub fn heading(text: &str, colour: bool) -> String {
    if colour {
        format!("{BOLD}{}{RESET}\n", clean(text))
    } else {
        format!("{}\n", clean(text))
    }
}

/// Cell text safe to print: no line breaks, tabs or terminal control sequences.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

/// Appends `value` as one RFC 4180 field: quoted (with `"` doubled) when it holds a comma, a quote, a
/// line break or leading/trailing blanks; `None` is an empty field. The collector's exports quote
/// the same way, so a `--format csv` listing and `census export` read alike.
pub fn csv_field(out: &mut String, value: Option<&str>) {
    let Some(value) = value else { return };
    let needs_quotes = value.contains([',', '"', '\n', '\r'])
        || value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t']);
    if needs_quotes {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One CSV record, `\r\n`-terminated.
pub fn csv_record<'a>(fields: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut line = String::new();
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            line.push(',');
        }
        csv_field(&mut line, field);
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell_without_trailing_blanks() {
        let mut table = Table::new(["ID", "HOSTNAME", "OS"]);
        table.push(["ci-000001", "web-01", "Debian GNU/Linux 12 (bookworm)"]);
        table.push(["ci-000002", "db-primary-01", ""]);
        assert_eq!(
            table.render(false),
            "ID         HOSTNAME       OS\n\
             ci-000001  web-01         Debian GNU/Linux 12 (bookworm)\n\
             ci-000002  db-primary-01\n"
        );
    }

    #[test]
    fn the_header_is_bold_only_with_colour_and_rows_are_never_coloured() {
        let mut table = Table::new(["A", "B"]);
        table.push(["1", "2"]);
        assert_eq!(table.render(true), "\x1b[1mA  B\x1b[0m\n1  2\n");
        assert!(!table.render(false).contains('\x1b'));
    }

    #[test]
    fn cells_from_inventories_cannot_break_lines_or_drive_the_terminal() {
        let mut table = Table::new(["HOST", "NOTE"]);
        table.push(["evil\x1b[2Jhost", "two\nlines\tand tab"]);
        table.push(["short"]);
        let text = table.render(false);
        assert_eq!(
            text,
            "HOST          NOTE\n\
             evil?[2Jhost  two lines and tab\n\
             short\n"
        );
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut table = Table::new(["NAME", "X"]);
        table.push(["Müller", "1"]);
        table.push(["Smith", "2"]);
        assert_eq!(table.render(false), "NAME    X\nMüller  1\nSmith   2\n");
    }

    #[test]
    fn fields_line_up_after_their_labels() {
        let fields = vec![
            ("id".to_string(), "ci-000001".to_string()),
            ("hostname".to_string(), "web-01".to_string()),
        ];
        assert_eq!(
            render_fields(&fields, false),
            "id:       ci-000001\nhostname: web-01\n"
        );
        assert_eq!(
            render_fields(&fields[..1], true),
            "\x1b[1mid:\x1b[0m ci-000001\n"
        );
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(
            csv_record([
                Some("web-01"),
                None,
                Some("Smith, Jane"),
                Some("the \"big\" one"),
                Some(" padded"),
            ]),
            "web-01,,\"Smith, Jane\",\"the \"\"big\"\" one\",\" padded\"\r\n"
        );
    }
}

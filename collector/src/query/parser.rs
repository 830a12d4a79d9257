//! The query grammar, parsed by recursive descent (see `docs/query-language.md`):
//!
//! ```text
//! query     = or
//! or        = and { "or" and }
//! and       = unary { ["and"] unary }            adjacent conditions are joined by "and"
//! unary     = "not" unary | primary
//! primary   = "(" or ")" | "has" FIELD | package | FIELD OP value | FIELD "in" list
//! package   = "package" ":" value { ("version" | "arch" | "manager") OP value }
//! OP        = "=" | "!=" | "<" | "<=" | ">" | ">=" | "~"
//! list      = "(" value { "," value } ")" | value
//! value     = bare word | "quoted string" | null
//! ```
//!
//! Keywords and field names ignore case. Values are typed here, by the field they meet (see
//! [`FieldKind`]), so every mistake is reported with its byte position and what was expected.
//! Inputs are bounded: [`MAX_QUERY_BYTES`] and [`MAX_DEPTH`] nested groups.

use std::net::IpAddr;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use super::ast::{Expr, IpNet, Op, PackageTerm, Qualifier, QualifierKey, TimeValue, Value};
use super::fields::{Field, FieldKind};
use super::lexer::{Cursor, RawValue};

/// Longest query accepted, in bytes: far beyond any hand-written query, small enough to parse in
/// microseconds and to keep URLs sane.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest nesting of parentheses and `not`s: bounds the parser's recursion.
pub const MAX_DEPTH: usize = 32;

/// A query that does not parse: what was expected, and where (a byte offset into the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }

    /// The input on one line and a `^` under the offending position, for terminals and API errors:
    ///
    /// ```text
    /// os.id = debian and version <
    ///                            ^
    /// ```
    pub fn render(&self, input: &str) -> String {
        let line: String = input
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        let column = input
            .get(..self.position.min(input.len()))
            .map_or(0, |before| before.chars().count());
        format!("{line}\n{}^", " ".repeat(column))
    }
}

/// Parses a query.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(ParseError::new(
            MAX_QUERY_BYTES,
            format!(
                "the query is {} bytes long; the limit is {MAX_QUERY_BYTES}: split it or use 'in (...)' lists",
                input.len()
            ),
        ));
    }
    let mut parser = Parser {
        cursor: Cursor::new(input),
    };
    if parser.cursor.at_end() {
        return Err(ParseError::new(
            0,
            "the query is empty: write a condition such as os.id = debian",
        ));
    }
    let expr = parser.or(0)?;
    if !parser.cursor.at_end() {
        let position = parser.cursor.pos();
        let found = parser.cursor.describe_next();
        let message = if found == "')'" {
            "unexpected ')' with no '(' before it".to_string()
        } else {
            format!("expected 'and', 'or' or the end of the query, found {found}")
        };
        return Err(ParseError::new(position, message));
    }
    Ok(expr)
}

struct Parser<'a> {
    cursor: Cursor<'a>,
}

/// Joins parsed operands: one stays itself, several make a group.
fn group(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        make(items)
    }
}

impl Parser<'_> {
    fn or(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.and(depth)?];
        while self.cursor.eat_keyword("or") {
            items.push(self.and(depth)?);
        }
        Ok(group(items, Expr::Or))
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            if self.cursor.at_end()
                || self.cursor.peek() == Some(')')
                || self.cursor.peek_keyword("or")
            {
                break;
            }
            self.cursor.eat_keyword("and");
            items.push(self.unary(depth)?);
        }
        Ok(group(items, Expr::And))
    }

    fn nest(&mut self, depth: usize) -> Result<usize, ParseError> {
        if depth >= MAX_DEPTH {
            return Err(ParseError::new(
                self.cursor.pos(),
                format!("the query nests more than {MAX_DEPTH} levels of parentheses and 'not'"),
            ));
        }
        Ok(depth + 1)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        if self.cursor.eat_keyword("not") {
            let depth = self.nest(depth)?;
            return Ok(Expr::Not(Box::new(self.unary(depth)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let start = self.cursor.pos();
        if self.cursor.eat('(') {
            let depth = self.nest(depth)?;
            let inner = self.or(depth)?;
            if !self.cursor.eat(')') {
                let position = self.cursor.pos();
                return Err(ParseError::new(
                    position,
                    format!(
                        "expected ')' to close the '(' at position {start}, found {}",
                        self.cursor.describe_next()
                    ),
                ));
            }
            return Ok(inner);
        }
        if self.cursor.eat_keyword("has") {
            let (_, field) = self.field()?;
            return Ok(Expr::Has(field));
        }
        if self.cursor.peek_keyword("package") {
            let checkpoint = self.cursor.pos();
            self.cursor.name();
            if self.cursor.eat(':') {
                return self.package();
            }
            return Err(ParseError::new(
                checkpoint,
                "expected ':' after 'package' (write package:NAME, e.g. package:openssl)",
            ));
        }
        let (_, field) = self.field()?;
        let op_start = self.cursor.pos();
        if self.cursor.eat_keyword("in") {
            return self.in_list(field, op_start);
        }
        let Some(op) = self.cursor.op() else {
            return Err(ParseError::new(
                op_start,
                format!(
                    "expected an operator (=, !=, <, <=, >, >=, ~ or in) after '{}', found {}",
                    &field.name(),
                    self.cursor.describe_next()
                ),
            ));
        };
        check_op(field, op, op_start)?;
        let raw = self.expect_value(op.symbol())?;
        if !raw.quoted && raw.text.eq_ignore_ascii_case("null") {
            return match op {
                Op::Eq => Ok(Expr::Not(Box::new(Expr::Has(field)))),
                Op::Ne => Ok(Expr::Has(field)),
                _ => Err(ParseError::new(
                    raw.start,
                    format!(
                        "'{field}' cannot be compared with null using '{}': use = null or != null (or \"null\" in quotes for the word)",
                        op.symbol()
                    ),
                )),
            };
        }
        let value = typed_value(field, op, &raw)?;
        Ok(Expr::Compare { field, op, value })
    }

    /// A field name, with "did you mean" help for unknown ones.
    fn field(&mut self) -> Result<(usize, Field), ParseError> {
        let position = self.cursor.pos();
        let Some((start, name)) = self.cursor.name() else {
            return Err(ParseError::new(
                position,
                format!(
                    "expected a condition (a field such as os.id, package:NAME, 'not' or '('), found {}",
                    self.cursor.describe_next()
                ),
            ));
        };
        if let Some(field) = Field::lookup(name) {
            return Ok((start, field));
        }
        let lowered = name.to_ascii_lowercase();
        let message = if ["version", "arch", "manager"].contains(&lowered.as_str()) {
            format!(
                "'{name}' qualifies a package: write it right after package:NAME, e.g. package:openssl version<3.0.7"
            )
        } else if matches!(lowered.as_str(), "and" | "or" | "not" | "in" | "has") {
            format!("expected a condition before '{name}'")
        } else {
            let hint = Field::suggest(name)
                .map(|close| format!("did you mean '{close}'? "))
                .unwrap_or_default();
            format!("unknown field '{name}' ({hint}fields are listed in docs/query-language.md)")
        };
        Err(ParseError::new(start, message))
    }

    fn expect_value(&mut self, after: &str) -> Result<RawValue, ParseError> {
        let position = self.cursor.pos();
        let keyword = ["and", "or", "not"]
            .iter()
            .find(|k| self.cursor.peek_keyword(k));
        match (keyword, self.cursor.value()?) {
            (None, Some(raw)) => Ok(raw),
            (Some(keyword), _) => Err(ParseError::new(
                position,
                format!(
                    "expected a value after '{after}', found the keyword '{keyword}' (quote it to mean the word)"
                ),
            )),
            (None, None) => Err(ParseError::new(
                position,
                format!(
                    "expected a value after '{after}', found {}",
                    self.cursor.describe_next()
                ),
            )),
        }
    }

    fn in_list(&mut self, field: Field, op_start: usize) -> Result<Expr, ParseError> {
        let mut raws = Vec::new();
        if self.cursor.eat('(') {
            loop {
                raws.push(self.expect_value(if raws.is_empty() { "in (" } else { "," })?);
                if self.cursor.eat(',') {
                    continue;
                }
                if self.cursor.eat(')') {
                    break;
                }
                let position = self.cursor.pos();
                return Err(ParseError::new(
                    position,
                    format!(
                        "expected ',' or ')' in the list after 'in', found {}",
                        self.cursor.describe_next()
                    ),
                ));
            }
        } else {
            raws.push(self.expect_value("in")?);
        }
        let values = raws
            .iter()
            .map(|raw| typed_in_value(field, raw))
            .collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() {
            return Err(ParseError::new(
                op_start,
                "an 'in' list needs at least one value",
            ));
        }
        Ok(Expr::In { field, values })
    }

    fn package(&mut self) -> Result<Expr, ParseError> {
        let name = self.expect_value("package:")?;
        if name.text.is_empty() {
            return Err(ParseError::new(
                name.start,
                "expected a package name after 'package:'",
            ));
        }
        let mut qualifiers = Vec::new();
        loop {
            let key = if self.cursor.peek_keyword("version") {
                QualifierKey::Version
            } else if self.cursor.peek_keyword("arch") {
                QualifierKey::Arch
            } else if self.cursor.peek_keyword("manager") {
                QualifierKey::Manager
            } else {
                break;
            };
            self.cursor.name();
            let op_start = self.cursor.pos();
            let Some(op) = self.cursor.op() else {
                return Err(ParseError::new(
                    op_start,
                    format!(
                        "expected an operator after '{}', found {}",
                        key.name(),
                        self.cursor.describe_next()
                    ),
                ));
            };
            if key != QualifierKey::Version && op.is_ordering() {
                return Err(ParseError::new(
                    op_start,
                    format!("'{}' takes =, != or ~, not '{}'", key.name(), op.symbol()),
                ));
            }
            let value = self.expect_value(op.symbol())?;
            qualifiers.push(Qualifier {
                key,
                op,
                value: value.text,
            });
        }
        Ok(Expr::Package(PackageTerm {
            name: name.text,
            qualifiers,
        }))
    }
}

fn kind_noun(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Version => "a version",
        FieldKind::Count => "a number",
        FieldKind::Bytes => "a size",
        FieldKind::Time => "a time",
        FieldKind::Ip => "an IP address",
        FieldKind::Mac => "a MAC address",
    }
}

/// Rejects operators that mean nothing for the field's kind.
fn check_op(field: Field, op: Op, position: usize) -> Result<(), ParseError> {
    let kind = field.kind();
    let glob_ok = matches!(
        kind,
        FieldKind::Text | FieldKind::Version | FieldKind::Ip | FieldKind::Mac
    );
    if op == Op::Glob && !glob_ok {
        return Err(ParseError::new(
            position,
            format!(
                "'~' matches text; '{field}' is {}: use =, !=, <, <=, > or >=",
                kind_noun(kind)
            ),
        ));
    }
    if op.is_ordering() && kind == FieldKind::Ip {
        return Err(ParseError::new(
            position,
            format!(
                "'{}' does not apply to '{field}': use =, !=, ~ or in 10.0.0.0/8",
                op.symbol()
            ),
        ));
    }
    Ok(())
}

/// Types a value compared with `field` by `op`.
fn typed_value(field: Field, op: Op, raw: &RawValue) -> Result<Value, ParseError> {
    let text = raw.text.as_str();
    let fail = |expected: &str| {
        Err(ParseError::new(
            raw.start,
            format!(
                "expected {expected} after '{}', found '{text}'",
                op.symbol()
            ),
        ))
    };
    if op == Op::Glob {
        return Ok(Value::Text(text.to_string()));
    }
    match field.kind() {
        FieldKind::Text | FieldKind::Version => Ok(Value::Text(text.to_string())),
        FieldKind::Mac => Ok(Value::Text(normalize_mac(text))),
        FieldKind::Count => match text.parse::<u64>() {
            Ok(number) => Ok(Value::Number(number)),
            Err(_) => fail("a whole number"),
        },
        FieldKind::Bytes => match parse_size(text) {
            Some(bytes) => Ok(Value::Number(bytes)),
            None => fail(
                "a size such as 32GiB or 500GB (units: B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)",
            ),
        },
        FieldKind::Time => match parse_time(text) {
            Some(time) => Ok(Value::Time(time)),
            None => fail(
                "a date (2026-11-01), a timestamp (2026-11-01T08:00:00Z) or a duration (7d; units s, m, h, d, w)",
            ),
        },
        FieldKind::Ip => match text.parse::<IpAddr>() {
            Ok(ip) => Ok(Value::Ip(ip)),
            Err(_) => fail("an IP address (for a network, write ip in 10.1.0.0/16)"),
        },
    }
}

/// Types one value of an `in` list: as after `=`, except that IP fields also take networks.
fn typed_in_value(field: Field, raw: &RawValue) -> Result<Value, ParseError> {
    if field.kind() == FieldKind::Ip {
        if let Some(net) = parse_net(&raw.text) {
            return Ok(Value::Net(net));
        }
        return match raw.text.parse::<IpAddr>() {
            Ok(ip) => Ok(Value::Ip(ip)),
            Err(_) => Err(ParseError::new(
                raw.start,
                format!(
                    "expected an IP address or a network such as 10.1.0.0/16 or fd00::/8, found '{}'",
                    raw.text
                ),
            )),
        };
    }
    typed_value(field, Op::Eq, raw)
}

fn parse_net(text: &str) -> Option<IpNet> {
    let (addr, prefix) = text.split_once('/')?;
    IpNet::new(addr.parse().ok()?, prefix.parse().ok()?)
}

/// Lowercase with `:` separators, as the inventory writes MAC addresses.
pub(crate) fn normalize_mac(text: &str) -> String {
    text.to_ascii_lowercase().replace('-', ":")
}

/// `32GiB`, `500GB`, `1.5TB`, `4096` (bytes).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        _ => return None,
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    if number.contains('.') {
        let value: f64 = number.parse().ok()?;
        let bytes = (value * multiplier as f64).round();
        // Casting is exact enough here: sizes with a fraction are approximate by nature.
        (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
    } else {
        number.parse::<u64>().ok()?.checked_mul(multiplier)
    }
}

/// A timestamp, a date (midnight UTC), or a duration meaning "so long before now".
pub(crate) fn parse_time(text: &str) -> Option<TimeValue> {
    if let Some(unit) = text.chars().last().filter(|_| text.len() > 1) {
        let seconds_per_unit: Option<u64> = match unit {
            's' => Some(1),
            'm' => Some(60),
            'h' => Some(3_600),
            'd' => Some(86_400),
            'w' => Some(604_800),
            _ => None,
        };
        // The unit may be any character (a typo, a non-ASCII letter): cut it off by its UTF-8 length.
        let digits = &text[..text.len() - unit.len_utf8()];
        if let Some(per_unit) = seconds_per_unit
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return digits
                .parse::<u64>()
                .ok()?
                .checked_mul(per_unit)
                .map(TimeValue::Ago);
        }
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(TimeValue::At(at));
    }
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    Some(TimeValue::At(date.with_time(Time::MIDNIGHT).assume_utc()))
}

//! Evaluating a parsed query against one asset.
//!
//! The CMDB implements [`Subject`] for its asset records (or builds an [`AssetView`]): the latest
//! inventory, if any, plus the fields the collector keeps itself. Evaluation is pure and allocation-light;
//! `now` is passed in so relative times (`last_seen < 7d`) are testable and consistent across a scan.
//!
//! Semantics: a condition on a multi-valued field (`ip`, `disk.serial`) holds when any value satisfies
//! it; `!=` is the negation of `=` (`ip != 10.0.0.1`: no interface has that address), so a missing
//! value satisfies `!=` and fails every other comparison. Text compares ignoring ASCII case.

use std::cmp::Ordering;
use std::net::IpAddr;

use census_shared::Inventory;
use census_shared::inventory::Package;
use census_shared::version;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::ast::{Expr, Op, PackageTerm, QualifierKey, TimeValue, Value};
use super::fields::{Access, Field, FieldKind, MetaField};
use super::parser::normalize_mac;

/// What a query is evaluated against.
pub trait Subject {
    /// The asset's latest inventory; `None` for assets registered by hand that no agent reports.
    fn inventory(&self) -> Option<&Inventory>;
    /// A text CMDB field (`id`, `status`, `asset_tag`, `owner`, `location`, `cost_center`).
    fn meta_text(&self, field: MetaField) -> Option<&str>;
    /// A time CMDB field (`first_seen`, `last_seen`).
    fn meta_time(&self, field: MetaField) -> Option<OffsetDateTime>;
    /// Whether one installed package satisfies `term`; by default, from the inventory's package list
    /// (a store may answer from its own package records instead).
    fn has_package(&self, term: &PackageTerm) -> bool {
        self.inventory().is_some_and(|inventory| {
            inventory
                .software
                .packages
                .iter()
                .any(|p| package_matches(term, p))
        })
    }
}

/// A ready-made [`Subject`] over borrowed parts.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssetView<'a> {
    pub inventory: Option<&'a Inventory>,
    pub id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub asset_tag: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub location: Option<&'a str>,
    pub cost_center: Option<&'a str>,
    pub first_seen: Option<OffsetDateTime>,
    pub last_seen: Option<OffsetDateTime>,
}

impl Subject for AssetView<'_> {
    fn inventory(&self) -> Option<&Inventory> {
        self.inventory
    }

    fn meta_text(&self, field: MetaField) -> Option<&str> {
        match field {
            MetaField::Id => self.id,
            MetaField::Status => self.status,
            MetaField::AssetTag => self.asset_tag,
            MetaField::Owner => self.owner,
            MetaField::Location => self.location,
            MetaField::CostCenter => self.cost_center,
            MetaField::FirstSeen | MetaField::LastSeen => None,
        }
    }

    fn meta_time(&self, field: MetaField) -> Option<OffsetDateTime> {
        match field {
            MetaField::FirstSeen => self.first_seen,
            MetaField::LastSeen => self.last_seen,
            _ => None,
        }
    }
}

/// Whether `subject` satisfies `expr`, with relative times measured back from `now`.
pub fn matches<S: Subject + ?Sized>(expr: &Expr, subject: &S, now: OffsetDateTime) -> bool {
    match expr {
        Expr::Or(items) => items.iter().any(|item| matches(item, subject, now)),
        Expr::And(items) => items.iter().all(|item| matches(item, subject, now)),
        Expr::Not(inner) => !matches(inner, subject, now),
        Expr::Has(field) => !values(*field, subject).is_empty(),
        Expr::Compare {
            field,
            op: Op::Ne,
            value,
        } => !compare(*field, Op::Eq, value, subject, now),
        Expr::Compare { field, op, value } => compare(*field, *op, value, subject, now),
        Expr::In { field, values } => values
            .iter()
            .any(|value| compare(*field, Op::Eq, value, subject, now)),
        Expr::Package(term) => subject.has_package(term),
    }
}

/// A field's values for one subject.
enum Values<'a> {
    Text(Vec<&'a str>),
    Number(Vec<u64>),
    Time(Vec<OffsetDateTime>),
}

impl Values<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Values::Text(values) => values.is_empty(),
            Values::Number(values) => values.is_empty(),
            Values::Time(values) => values.is_empty(),
        }
    }
}

fn values<S: Subject + ?Sized>(field: Field, subject: &S) -> Values<'_> {
    match field.def().access {
        Access::Meta(meta) if field.kind() == FieldKind::Time => {
            Values::Time(subject.meta_time(meta).into_iter().collect())
        }
        Access::Meta(meta) => Values::Text(subject.meta_text(meta).into_iter().collect()),
        Access::Text(read) => {
            let mut out = Vec::new();
            if let Some(inventory) = subject.inventory() {
                read(inventory, &mut out);
            }
            if field.kind() == FieldKind::Time {
                // The inventory writes times as RFC 3339; one it cannot parse is no value.
                let parse = |text: &&str| OffsetDateTime::parse(text, &Rfc3339).ok();
                Values::Time(out.iter().filter_map(parse).collect())
            } else {
                Values::Text(out)
            }
        }
        Access::Number(read) => {
            let mut out = Vec::new();
            if let Some(inventory) = subject.inventory() {
                read(inventory, &mut out);
            }
            Values::Number(out)
        }
    }
}

/// `field op value` for every operator but `!=` (the negation of `=`).
fn compare<S: Subject + ?Sized>(
    field: Field,
    op: Op,
    value: &Value,
    subject: &S,
    now: OffsetDateTime,
) -> bool {
    match (values(field, subject), value) {
        (Values::Text(texts), Value::Text(pattern)) if op == Op::Glob => {
            texts.iter().any(|text| glob_match(pattern, text))
        }
        (Values::Text(texts), Value::Text(wanted)) => match field.kind() {
            FieldKind::Mac => {
                let wanted = normalize_mac(wanted);
                texts
                    .iter()
                    .any(|text| op.accepts(normalize_mac(text).cmp(&wanted)))
            }
            FieldKind::Version => texts
                .iter()
                .any(|text| op.accepts(version::natural(text, wanted))),
            _ => texts
                .iter()
                .any(|text| op.accepts(compare_text(text, wanted))),
        },
        (Values::Text(texts), Value::Ip(wanted)) => texts
            .iter()
            .any(|text| parse_ip(text).is_some_and(|ip| op.accepts(ip.cmp(wanted)))),
        (Values::Text(texts), Value::Net(net)) => texts
            .iter()
            .any(|text| parse_ip(text).is_some_and(|ip| net.contains(ip))),
        (Values::Number(numbers), Value::Number(wanted)) => {
            numbers.iter().any(|number| op.accepts(number.cmp(wanted)))
        }
        (Values::Time(times), Value::Time(wanted)) => {
            let wanted = match *wanted {
                TimeValue::At(at) => at,
                TimeValue::Ago(seconds) => {
                    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
                    now.checked_sub(Duration::seconds(seconds))
                        .unwrap_or(PrimitiveDateTime::MIN.assume_utc())
                }
            };
            times.iter().any(|time| op.accepts(time.cmp(&wanted)))
        }
        // The parser types values by field, so other pairs do not occur; they match nothing.
        _ => false,
    }
}

/// Text equality ignores ASCII case; ordering is natural (`web-9 < web-10`), also ignoring case.
fn compare_text(text: &str, wanted: &str) -> Ordering {
    if text.eq_ignore_ascii_case(wanted) {
        Ordering::Equal
    } else {
        version::natural(text, wanted).then_with(|| {
            let lower = |s: &str| s.to_ascii_lowercase();
            lower(text).cmp(&lower(wanted))
        })
    }
}

/// An interface address as the inventory writes it: bare, maybe with a `%zone` or a `/prefix`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.split(['%', '/']).next().unwrap_or(text);
    text.parse().ok()
}

/// True when `package` satisfies `term` (name, then every qualifier).
pub fn package_matches(term: &PackageTerm, package: &Package) -> bool {
    let name_matches = if term.name.contains(['*', '?']) {
        glob_match(&term.name, &package.name)
    } else {
        term.name.eq_ignore_ascii_case(&package.name)
    };
    name_matches
        && term.qualifiers.iter().all(|qualifier| {
            let (op, wanted) = (qualifier.op, qualifier.value.as_str());
            match qualifier.key {
                QualifierKey::Version if op == Op::Glob => glob_match(wanted, &package.version),
                QualifierKey::Version => {
                    op.accepts(version::compare(&package.manager, &package.version, wanted))
                }
                QualifierKey::Arch => text_qualifier(op, wanted, package.arch.as_deref()),
                QualifierKey::Manager => text_qualifier(op, wanted, Some(&package.manager)),
            }
        })
}

fn text_qualifier(op: Op, wanted: &str, actual: Option<&str>) -> bool {
    match (op, actual) {
        (Op::Glob, Some(actual)) => glob_match(wanted, actual),
        (Op::Ne, actual) => !actual.is_some_and(|a| a.eq_ignore_ascii_case(wanted)),
        (_, Some(actual)) => actual.eq_ignore_ascii_case(wanted),
        (_, None) => false,
    }
}

/// Glob match ignoring ASCII case: `*` matches any run of characters, `?` exactly one. Linear-time
/// backtracking to the last `*` only, so hostile patterns cannot blow up.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let text: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

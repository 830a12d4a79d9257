//! Index planning: what must hold for ANY match, in a form secondary indexes can answer.
//!
//! A scan of 100k assets evaluates the query 100k times; most queries name something indexable
//! (a package, a hostname, an address). [`index_hints`] returns, conservatively, sets of index lookups
//! such that every matching asset is found by at least one lookup of EACH set. The CMDB picks one set
//! (see [`IndexHints::best`]), unions its lookups' results into candidates, and evaluates the full query
//! on those only. No hints means a full scan.
//!
//! Text lookups carry ASCII-lowercased values (the query language ignores case), so the CMDB's
//! indexes must be keyed on lowercased values too. MAC addresses are lowercase with `:`.

use std::net::IpAddr;

use super::ast::{Expr, IpNet, Op, PackageTerm, Value};
use super::fields::{Field, MetaField};
use super::parser::normalize_mac;

/// One secondary-index lookup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// Assets with an installed package of this (lowercased) name satisfying the term's qualifiers
    /// (version, arch, manager): answered from the package records, so it is exact, not a superset.
    Package(PackageTerm),
    /// `host.hostname`, lowercased.
    Hostname(String),
    /// Hostnames starting with this lowercased prefix.
    HostnamePrefix(String),
    /// `hardware.system.serial`, lowercased.
    Serial(String),
    /// Any interface address equal to this one.
    Ip(IpAddr),
    /// Any interface address inside this network.
    Network(IpNet),
    /// Any interface MAC (or permanent MAC), lowercase with colons.
    Mac(String),
    /// The CMDB status, lowercased.
    Status(String),
    /// The asset id, as written.
    Id(String),
}

impl Lookup {
    /// A rough cost: how many assets one lookup may return, relative to an exact identifier.
    pub fn cost(&self) -> u32 {
        match self {
            Lookup::Id(_)
            | Lookup::Serial(_)
            | Lookup::Mac(_)
            | Lookup::Ip(_)
            | Lookup::Hostname(_) => 1,
            Lookup::Package(_) => 4,
            Lookup::HostnamePrefix(_) => 8,
            Lookup::Network(_) => 16,
            Lookup::Status(_) => 64,
        }
    }
}

/// Index lookups every match satisfies: each entry is a set whose union holds all matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexHints {
    pub candidate_sets: Vec<Vec<Lookup>>,
}

impl IndexHints {
    /// True when no index helps: scan everything.
    pub fn is_empty(&self) -> bool {
        self.candidate_sets.is_empty()
    }

    /// The cheapest set by [`Lookup::cost`], if any.
    pub fn best(&self) -> Option<&[Lookup]> {
        self.candidate_sets
            .iter()
            .min_by_key(|set| set.iter().map(Lookup::cost).sum::<u32>())
            .map(Vec::as_slice)
    }
}

/// Extracts the index lookups implied by `expr`.
pub fn index_hints(expr: &Expr) -> IndexHints {
    IndexHints {
        candidate_sets: sets(expr),
    }
}

fn sets(expr: &Expr) -> Vec<Vec<Lookup>> {
    match expr {
        // Every conjunct must hold, so each one's sets are valid for the whole.
        Expr::And(items) => items.iter().flat_map(sets).collect(),
        // A match satisfies one of the alternatives: the union of one set from each covers it, and
        // only when every alternative has one.
        Expr::Or(items) => {
            let mut union = Vec::new();
            for item in items {
                let hints = IndexHints {
                    candidate_sets: sets(item),
                };
                match hints.best() {
                    Some(best) => union.extend(best.iter().cloned()),
                    None => return Vec::new(),
                }
            }
            union.dedup();
            vec![union]
        }
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Not(twice) => sets(twice),
            _ => Vec::new(),
        },
        Expr::Package(term) if !term.name.contains(['*', '?']) => {
            vec![vec![Lookup::Package(PackageTerm {
                name: term.name.to_ascii_lowercase(),
                qualifiers: term.qualifiers.clone(),
            })]]
        }
        Expr::Compare { field, op, value } => match (op, value) {
            (Op::Eq, value) => lookup(*field, value)
                .map(|l| vec![vec![l]])
                .unwrap_or_default(),
            (Op::Glob, Value::Text(pattern)) if Some(*field) == hostname() => {
                let prefix: String = pattern
                    .chars()
                    .take_while(|c| !matches!(c, '*' | '?'))
                    .collect();
                let prefix = prefix.to_ascii_lowercase();
                if prefix.len() == pattern.len() {
                    vec![vec![Lookup::Hostname(prefix)]]
                } else if prefix.is_empty() {
                    Vec::new()
                } else {
                    vec![vec![Lookup::HostnamePrefix(prefix)]]
                }
            }
            _ => Vec::new(),
        },
        Expr::In { field, values } => {
            let lookups: Option<Vec<Lookup>> =
                values.iter().map(|value| lookup(*field, value)).collect();
            lookups.map(|set| vec![set]).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

fn hostname() -> Option<Field> {
    Field::lookup("hostname")
}

/// The lookup finding assets whose `field` equals `value`, if an index exists for it.
fn lookup(field: Field, value: &Value) -> Option<Lookup> {
    let is = |name: &str| Field::lookup(name) == Some(field);
    match value {
        Value::Text(text) if field.meta() == Some(MetaField::Status) => {
            Some(Lookup::Status(text.to_ascii_lowercase()))
        }
        Value::Text(text) if field.meta() == Some(MetaField::Id) => Some(Lookup::Id(text.clone())),
        Value::Text(text) if is("hostname") => Some(Lookup::Hostname(text.to_ascii_lowercase())),
        Value::Text(text) if is("serial") => Some(Lookup::Serial(text.to_ascii_lowercase())),
        Value::Text(text) if is("mac") => Some(Lookup::Mac(normalize_mac(text))),
        Value::Ip(ip) if is("ip") => Some(Lookup::Ip(*ip)),
        Value::Net(net) if is("ip") => Some(Lookup::Network(*net)),
        _ => None,
    }
}

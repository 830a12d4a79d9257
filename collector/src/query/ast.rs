//! The query's syntax tree, and its printing.
//!
//! Values are typed by the parser according to the field they are compared with (a size for
//! `memory.total_bytes`, a network for `ip in`), so evaluation never parses text and a bad value is an
//! error at its position. [`Display`](std::fmt::Display) prints a canonical query that parses back to
//! the same tree: every text value quoted, every nested group parenthesised, units resolved.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::fields::Field;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// At least one of (two or more) conditions.
    Or(Vec<Expr>),
    /// All of (two or more) conditions.
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `field op value`; `~` (glob) carries its pattern as [`Value::Text`].
    Compare {
        field: Field,
        op: Op,
        value: Value,
    },
    /// `field in (v1, v2, ...)`: any value equals one of the list (or lies in one of the networks).
    In {
        field: Field,
        values: Vec<Value>,
    },
    /// `has field`: the field has at least one value (`field != null`).
    Has(Field),
    /// `package:NAME [version OP V]... [arch OP A] [manager OP M]`: one installed package satisfies all.
    Package(PackageTerm),
}

impl Expr {
    /// True when evaluating the expression may read the package list (a `package:` term anywhere).
    pub fn mentions_packages(&self) -> bool {
        match self {
            Expr::Package(_) => true,
            Expr::Or(items) | Expr::And(items) => items.iter().any(Expr::mentions_packages),
            Expr::Not(inner) => inner.mentions_packages(),
            Expr::Compare { .. } | Expr::In { .. } | Expr::Has(_) => false,
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~`: glob match (`*` any run of characters, `?` one character), ignoring case.
    Glob,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Glob => "~",
        }
    }

    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// Whether `order` (the field's value compared with the query's) satisfies this operator.
    /// `Glob` is never satisfied by an ordering; it is evaluated by matching.
    pub fn accepts(self, order: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Eq => order == Equal,
            Op::Ne => order != Equal,
            Op::Lt => order == Less,
            Op::Le => order != Greater,
            Op::Gt => order == Greater,
            Op::Ge => order != Less,
            Op::Glob => false,
        }
    }
}

/// A typed value from the query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    /// A count, or a size in bytes once its unit is applied.
    Number(u64),
    Time(TimeValue),
    Ip(IpAddr),
    Net(IpNet),
}

/// A moment in a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeValue {
    At(OffsetDateTime),
    /// So many seconds before the evaluation's "now": `last_seen < 7d` is "last seen before 7 days ago".
    Ago(u64),
}

/// An IP network; the address is stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// A network from an address and a prefix length; `None` when the prefix is too long for the family.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from((u32::from(v4) & mask).to_be_bytes())
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from((u128::from(v6) & mask).to_be_bytes())
            }
            _ => return None,
        };
        Some(Self { addr, prefix })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) belongs to IPv4 networks too.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        IpNet::new(ip, self.prefix).is_some_and(|net| net.addr == self.addr)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A package condition: a name (exact, or a glob when it holds `*` or `?`) and qualifiers that must
/// hold for that same package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageTerm {
    pub name: String,
    pub qualifiers: Vec<Qualifier>,
}

/// `version OP V`, `arch OP A` or `manager OP M` after a `package:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Qualifier {
    pub key: QualifierKey,
    pub op: Op,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QualifierKey {
    /// Compared with the package manager's own version rules.
    Version,
    Arch,
    Manager,
}

impl QualifierKey {
    pub fn name(self) -> &'static str {
        match self {
            QualifierKey::Version => "version",
            QualifierKey::Arch => "arch",
            QualifierKey::Manager => "manager",
        }
    }
}

/// Writes `text` as a quoted string the lexer reads back unchanged.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(text) => write_quoted(f, text),
            Value::Number(number) => write!(f, "{number}"),
            Value::Time(TimeValue::At(at)) => match at.format(&Rfc3339) {
                Ok(text) => f.write_str(&text),
                Err(_) => Err(fmt::Error),
            },
            Value::Time(TimeValue::Ago(seconds)) => {
                let units = [(604_800, "w"), (86_400, "d"), (3_600, "h"), (60, "m")];
                match units
                    .iter()
                    .find(|(size, _)| *seconds > 0 && seconds % size == 0)
                {
                    Some((size, unit)) => write!(f, "{}{unit}", seconds / size),
                    None => write!(f, "{seconds}s"),
                }
            }
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Net(net) => write!(f, "{net}"),
        }
    }
}

impl Expr {
    fn is_group(&self) -> bool {
        matches!(self, Expr::And(_) | Expr::Or(_))
    }
}

/// Writes `expr`, in parentheses when it is an `and`/`or` group, so the tree's shape survives printing.
fn write_operand(f: &mut fmt::Formatter<'_>, expr: &Expr, parenthesise: bool) -> fmt::Result {
    if parenthesise {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items) | Expr::And(items) => {
                let (separator, is_or) = match self {
                    Expr::Or(_) => (" or ", true),
                    _ => (" and ", false),
                };
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(separator)?;
                    }
                    // `and` binds tighter than `or`, so an `and` inside an `or` needs no parentheses.
                    let parenthesise = match item {
                        Expr::And(_) => !is_or,
                        Expr::Or(_) => true,
                        _ => false,
                    };
                    write_operand(f, item, parenthesise)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("not ")?;
                write_operand(f, inner, inner.is_group())
            }
            Expr::Compare { field, op, value } => write!(f, "{field} {} {value}", op.symbol()),
            Expr::In { field, values } => {
                write!(f, "{field} in (")?;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str(")")
            }
            Expr::Has(field) => write!(f, "has {field}"),
            Expr::Package(term) => {
                f.write_str("package:")?;
                write_quoted(f, &term.name)?;
                for qualifier in &term.qualifiers {
                    write!(f, " {} {} ", qualifier.key.name(), qualifier.op.symbol())?;
                    write_quoted(f, &qualifier.value)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_clear_host_bits_and_contain_their_addresses() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let net = IpNet::new(ip("10.1.2.3"), 16).unwrap();
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert!(net.contains(ip("10.1.255.1")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        assert!(!net.contains(ip("fd00::1")));
        let v6 = IpNet::new(ip("2001:db8::1"), 32).unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(
            IpNet::new(ip("10.0.0.0"), 0)
                .unwrap()
                .contains(ip("192.168.1.1"))
        );
        assert_eq!(IpNet::new(ip("10.0.0.0"), 33), None);
    }

    #[test]
    fn durations_print_in_their_largest_exact_unit() {
        let print = |seconds| Value::Time(TimeValue::Ago(seconds)).to_string();
        assert_eq!(print(7 * 86_400), "1w");
        assert_eq!(print(3 * 86_400), "3d");
        assert_eq!(print(90), "90s");
        assert_eq!(print(0), "0s");
    }
}

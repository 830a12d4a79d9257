//! The asset query language: `package:openssl version<3.0.7 and os.id=debian and not status=retired`.
//!
//! Used by `GET /api/v1/assets?q=EXPR` and the command line. The language is documented for users in
//! `docs/query-language.md`; in short: conditions `FIELD OP VALUE` (`= != < <= > >= ~`), `FIELD in
//! (...)`, `has FIELD`, and `package:NAME` with `version`/`arch`/`manager` qualifiers bound to that same
//! package, combined with `not` > `and` (also implicit between adjacent conditions) > `or` and
//! parentheses.
//!
//! # Layout
//! - [`lexer`]: scanning (field names vs. bare values, quoted strings).
//! - [`parser`]: the grammar, value typing by field kind, positioned errors ([`ParseError::render`]).
//! - [`ast`]: the tree ([`Expr`]) and its canonical printing (parses back to the same tree).
//! - [`fields`]: the field table (names, kinds, where values come from).
//! - [`eval`]: evaluation against a [`Subject`] (an inventory plus CMDB fields), at a given `now`.
//! - [`plan`]: [`index_hints`], the index lookups any match satisfies, so the CMDB avoids full scans.
//!
//! # Limitations
//! Fields are a fixed table, not arbitrary JSON paths (evaluation must not serialise 100k documents).
//! Glob patterns cannot escape `*` or `?`.

pub mod ast;
pub mod eval;
pub mod fields;
mod lexer;
pub mod parser;
pub mod plan;

pub use ast::{Expr, IpNet, Op, PackageTerm, Qualifier, QualifierKey, TimeValue, Value};
pub use eval::{AssetView, Subject, glob_match, matches, package_matches};
pub use fields::{Field, FieldKind, MetaField};
pub use parser::{MAX_DEPTH, MAX_QUERY_BYTES, ParseError, parse};
pub use plan::{IndexHints, Lookup, index_hints};

#[cfg(test)]
mod tests;

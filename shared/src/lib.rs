//! census-shared: what the agent and the collector must agree on.
//!
//! # Layout
//! - [`inventory`]: the versioned inventory document (`schema_version`), field by field as documented in
//!   `docs/inventory-schema.md`. This is a public contract: fields are added, never renamed.
//! - [`protocol`]: the agent ↔ collector messages (enrollment, check-in, delta and full reports, errors).
//! - [`hash`]: the canonical content hash of an inventory, so both sides name the same document the same way.
//!   [`package_json`] writes its packages, byte for byte as serde_json would, at a fraction of the cost.
//! - [`package_digest`]: a package record named by 6 bytes, for full reports that leave out the records
//!   the collector already holds.
//! - [`duration`]: human durations (`90s`, `1h30m`, `30d`) as both sides read them in configuration.
//! - [`delta`]: the difference between two inventories and its application (`apply(a, diff(a, b)) == b`).
//! - [`version`]: package-manager version ordering (dpkg, rpm, apk, pacman), used by the collector's
//!   query language (`package:openssl version<3.0.7`).
//!
//! # Invariants
//! This crate does no I/O and depends on no runtime, store or HTTP library: everything in it is a pure
//! function of its inputs, unit-tested on fixtures.

pub mod delta;
pub mod duration;
pub mod hash;
pub mod inventory;
pub mod package_digest;
pub mod package_json;
pub mod package_ref;
pub mod protocol;
pub mod version;

pub use inventory::{Inventory, SCHEMA_VERSION};

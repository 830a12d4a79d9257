//! Typed relationships between CIs: `depends_on`, `runs_on`, `connected_to`, `hosts`.
//!
//! A relationship reads `from kind to` ("app-1 runs_on vm-7"); the inverse names are for display from
//! the other end ("vm-7 runs app-1"). Each carries its source: `manual` (created by a person, audited)
//! or `discovery` (derived by the collector from inventories, not audited), with who and when.
//! Self-links and duplicates are refused; `connected_to` is symmetric, so `a connected_to b` also
//! duplicates `b connected_to a`.
//!
//! Storage: [`SPACE_RELATIONSHIPS`] keyed `from \0 kind \0 to` holds the record; [`SPACE_RELATIONSHIPS_IN`]
//! keyed `to \0 kind \0 from` lets a CI's incoming links be listed without a scan.

use super::{Actor, CiDirectory, ItsmError, Result, audit, write_lock};
use crate::store::{Batch, Store};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

pub const SPACE_RELATIONSHIPS: &str = "itsm_relationships";
pub const SPACE_RELATIONSHIPS_IN: &str = "itsm_relationships_in";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    DependsOn,
    RunsOn,
    ConnectedTo,
    Hosts,
}

impl RelationKind {
    pub const ALL: [RelationKind; 4] = [
        RelationKind::DependsOn,
        RelationKind::RunsOn,
        RelationKind::ConnectedTo,
        RelationKind::Hosts,
    ];

    pub fn key(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "depends_on",
            RelationKind::RunsOn => "runs_on",
            RelationKind::ConnectedTo => "connected_to",
            RelationKind::Hosts => "hosts",
        }
    }

    /// How the relationship reads from its `from` end.
    pub fn name(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "depends on",
            RelationKind::RunsOn => "runs on",
            RelationKind::ConnectedTo => "connected to",
            RelationKind::Hosts => "hosts",
        }
    }

    /// How the relationship reads from its `to` end.
    pub fn inverse_name(self) -> &'static str {
        match self {
            RelationKind::DependsOn => "used by",
            RelationKind::RunsOn => "runs",
            RelationKind::ConnectedTo => "connected to",
            RelationKind::Hosts => "hosted on",
        }
    }

    fn from_key(key: &str) -> Option<RelationKind> {
        RelationKind::ALL.into_iter().find(|kind| kind.key() == key)
    }
}

impl fmt::Display for RelationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationSource {
    Manual,
    Discovery,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relationship {
    pub from: String,
    pub kind: RelationKind,
    pub to: String,
    pub source: RelationSource,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelationship {
    pub from: String,
    pub kind: RelationKind,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The CI is the relationship's `from`.
    Outgoing,
    /// The CI is the relationship's `to`.
    Incoming,
}

/// A relationship seen from one of its CIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipView {
    pub direction: Direction,
    /// The relationship's name read from this CI: `runs on` outgoing, `runs` incoming.
    pub label: String,
    /// The CI at the other end.
    pub other: String,
    pub relationship: Relationship,
}

fn key(from: &str, kind: RelationKind, to: &str) -> Vec<u8> {
    format!("{from}\0{}\0{to}", kind.key()).into_bytes()
}

fn describe(from: &str, kind: RelationKind, to: &str) -> String {
    format!("{from} {kind} {to}")
}

fn get(
    store: &dyn Store,
    from: &str,
    kind: RelationKind,
    to: &str,
) -> Result<Option<Relationship>> {
    let key = key(from, kind, to);
    match store.get(SPACE_RELATIONSHIPS, &key)? {
        Some(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| ItsmError::Corrupt {
                    space: SPACE_RELATIONSHIPS.to_string(),
                    key: describe(from, kind, to),
                    message: error.to_string(),
                })
        }
        None => Ok(None),
    }
}

fn exists(store: &dyn Store, from: &str, kind: RelationKind, to: &str) -> Result<bool> {
    Ok(get(store, from, kind, to)?.is_some()
        || (kind == RelationKind::ConnectedTo && get(store, to, kind, from)?.is_some()))
}

/// Checks the link and stages it; `Ok(None)` when it already exists.
fn stage(store: &dyn Store, batch: &mut Batch, relationship: &Relationship) -> Result<Option<()>> {
    let (from, kind, to) = (&relationship.from, relationship.kind, &relationship.to);
    if from == to {
        return Err(ItsmError::Invalid {
            record: describe(from, kind, to),
            message: "a CI cannot be related to itself".to_string(),
        });
    }
    if exists(store, from, kind, to)? {
        return Ok(None);
    }
    let value = serde_json::to_vec(relationship).map_err(|error| ItsmError::Corrupt {
        space: SPACE_RELATIONSHIPS.to_string(),
        key: describe(from, kind, to),
        message: error.to_string(),
    })?;
    batch.put(SPACE_RELATIONSHIPS, key(from, kind, to), value);
    batch.put(SPACE_RELATIONSHIPS_IN, key(to, kind, from), Vec::new());
    Ok(Some(()))
}

/// A relationship created by a person; refuses unknown CIs, self-links and duplicates.
pub fn create_relationship(
    store: &dyn Store,
    dir: &dyn CiDirectory,
    actor: &Actor,
    request: NewRelationship,
    now: OffsetDateTime,
) -> Result<Relationship> {
    let from = request.from.trim().to_string();
    let to = request.to.trim().to_string();
    for ci in [&from, &to] {
        if !dir.exists(ci)? {
            return Err(ItsmError::UnknownCi { ci: ci.clone() });
        }
    }
    let relationship = Relationship {
        from,
        kind: request.kind,
        to,
        source: RelationSource::Manual,
        created_by: actor.name.clone(),
        created_at: now,
    };
    let name = describe(&relationship.from, relationship.kind, &relationship.to);
    let _guard = write_lock();
    let mut batch = Batch::new();
    if stage(store, &mut batch, &relationship)?.is_none() {
        return Err(ItsmError::DuplicateRelationship {
            from: relationship.from,
            kind: relationship.kind.key().to_string(),
            to: relationship.to,
        });
    }
    audit::append(
        store,
        &mut batch,
        actor,
        &name,
        "relationship.create",
        None,
        now,
    )?;
    store.commit(batch)?;
    Ok(relationship)
}

/// A relationship derived by discovery: created when new, left alone when it exists (a manual one
/// included). Returns whether it was created. Not audited: no person wrote it.
pub fn ensure_discovered_relationship(
    store: &dyn Store,
    from: &str,
    kind: RelationKind,
    to: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let relationship = Relationship {
        from: from.to_string(),
        kind,
        to: to.to_string(),
        source: RelationSource::Discovery,
        created_by: "discovery".to_string(),
        created_at: now,
    };
    let _guard = write_lock();
    let mut batch = Batch::new();
    if stage(store, &mut batch, &relationship)?.is_none() {
        return Ok(false);
    }
    store.commit(batch)?;
    Ok(true)
}

pub fn delete_relationship(
    store: &dyn Store,
    actor: &Actor,
    from: &str,
    kind: RelationKind,
    to: &str,
    now: OffsetDateTime,
) -> Result<Relationship> {
    let _guard = write_lock();
    let Some(relationship) = get(store, from, kind, to)? else {
        return Err(ItsmError::NoSuchRelationship {
            from: from.to_string(),
            kind: kind.key().to_string(),
            to: to.to_string(),
        });
    };
    let mut batch = Batch::new();
    batch.delete(SPACE_RELATIONSHIPS, key(from, kind, to));
    batch.delete(SPACE_RELATIONSHIPS_IN, key(to, kind, from));
    let name = describe(from, kind, to);
    audit::append(
        store,
        &mut batch,
        actor,
        &name,
        "relationship.delete",
        None,
        now,
    )?;
    store.commit(batch)?;
    Ok(relationship)
}

/// Splits an index key `a \0 kind \0 b`.
fn split(space: &str, key: &[u8]) -> Result<(String, RelationKind, String)> {
    let text = String::from_utf8_lossy(key);
    let mut parts = text.splitn(3, '\0');
    let parsed = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(kind), Some(b)) => {
            RelationKind::from_key(kind).map(|k| (a.to_string(), k, b.to_string()))
        }
        _ => None,
    };
    parsed.ok_or_else(|| ItsmError::Corrupt {
        space: space.to_string(),
        key: text.replace('\0', " "),
        message: "expected 'ci \\0 kind \\0 ci'".to_string(),
    })
}

/// Relationships from `ci`: (kind, to), sorted by kind key then CI.
pub fn outgoing(store: &dyn Store, ci: &str) -> Result<Vec<(RelationKind, String)>> {
    let prefix = format!("{ci}\0");
    store
        .scan_prefix(SPACE_RELATIONSHIPS, prefix.as_bytes())
        .map(|entry| split(SPACE_RELATIONSHIPS, &entry?.0).map(|(_, kind, to)| (kind, to)))
        .collect()
}

/// Relationships to `ci`: (kind, from), sorted by kind then CI.
pub fn incoming(store: &dyn Store, ci: &str) -> Result<Vec<(RelationKind, String)>> {
    let prefix = format!("{ci}\0");
    store
        .scan_prefix(SPACE_RELATIONSHIPS_IN, prefix.as_bytes())
        .map(|entry| split(SPACE_RELATIONSHIPS_IN, &entry?.0).map(|(_, kind, from)| (kind, from)))
        .collect()
}

/// Every relationship of `ci`, outgoing then incoming.
pub fn relationships_of(store: &dyn Store, ci: &str) -> Result<Vec<RelationshipView>> {
    let mut views = Vec::new();
    for (kind, to) in outgoing(store, ci)? {
        if let Some(relationship) = get(store, ci, kind, &to)? {
            views.push(RelationshipView {
                direction: Direction::Outgoing,
                label: kind.name().to_string(),
                other: to,
                relationship,
            });
        }
    }
    for (kind, from) in incoming(store, ci)? {
        if let Some(relationship) = get(store, &from, kind, ci)? {
            views.push(RelationshipView {
                direction: Direction::Incoming,
                label: kind.inverse_name().to_string(),
                other: from,
                relationship,
            });
        }
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::audit::{AuditFilter, audit_list};
    use crate::itsm::testutil::{T0, agent, at, directory, memory, sled};

    fn link(from: &str, kind: RelationKind, to: &str) -> NewRelationship {
        NewRelationship {
            from: from.into(),
            kind,
            to: to.into(),
        }
    }

    #[test]
    fn relationships_are_listed_from_both_ends_with_inverse_names() {
        let (store, _guard) = sled();
        let store = store.as_ref();
        let dir = directory();
        create_relationship(
            store,
            &dir,
            &agent(),
            link("ci-000001", RelationKind::RunsOn, "ci-000002"),
            T0,
        )
        .unwrap();
        assert!(
            ensure_discovered_relationship(
                store,
                "ci-000003",
                RelationKind::Hosts,
                "ci-000002",
                at(1)
            )
            .unwrap()
        );
        assert!(
            !ensure_discovered_relationship(
                store,
                "ci-000003",
                RelationKind::Hosts,
                "ci-000002",
                at(2)
            )
            .unwrap()
        );

        let views: Vec<(Direction, String, String, RelationSource, String)> =
            relationships_of(store, "ci-000002")
                .unwrap()
                .into_iter()
                .map(|v| {
                    (
                        v.direction,
                        v.label,
                        v.other,
                        v.relationship.source,
                        v.relationship.created_by,
                    )
                })
                .collect();
        assert_eq!(
            views,
            [
                (
                    Direction::Incoming,
                    "hosted on".into(),
                    "ci-000003".into(),
                    RelationSource::Discovery,
                    "discovery".into()
                ),
                (
                    Direction::Incoming,
                    "runs".into(),
                    "ci-000001".into(),
                    RelationSource::Manual,
                    "alice".into()
                ),
            ]
        );
        let from_one = relationships_of(store, "ci-000001").unwrap();
        assert_eq!(
            (from_one[0].direction, from_one[0].label.as_str()),
            (Direction::Outgoing, "runs on")
        );

        let audited = audit_list(store, &AuditFilter::default(), None, 10)
            .unwrap()
            .items;
        assert_eq!(
            audited.len(),
            1,
            "discovery links are not a person's writes"
        );
        assert_eq!(audited[0].record, "ci-000001 runs_on ci-000002");
    }

    #[test]
    fn self_links_duplicates_and_unknown_cis_are_refused() {
        let store = memory();
        let store = store.as_ref();
        let dir = directory();
        let error = create_relationship(
            store,
            &dir,
            &agent(),
            link("ci-000001", RelationKind::DependsOn, "ci-000001"),
            T0,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ci-000001 depends_on ci-000001: a CI cannot be related to itself"
        );
        create_relationship(
            store,
            &dir,
            &agent(),
            link("ci-000001", RelationKind::ConnectedTo, "ci-000002"),
            T0,
        )
        .unwrap();
        for duplicate in [
            link("ci-000001", RelationKind::ConnectedTo, "ci-000002"),
            link("ci-000002", RelationKind::ConnectedTo, "ci-000001"),
        ] {
            let error = create_relationship(store, &dir, &agent(), duplicate, T0).unwrap_err();
            assert!(
                matches!(error, ItsmError::DuplicateRelationship { .. }),
                "{error}"
            );
        }
        // Not symmetric: the reverse dependency is another relationship.
        create_relationship(
            store,
            &dir,
            &agent(),
            link("ci-000001", RelationKind::DependsOn, "ci-000002"),
            T0,
        )
        .unwrap();
        create_relationship(
            store,
            &dir,
            &agent(),
            link("ci-000002", RelationKind::DependsOn, "ci-000001"),
            T0,
        )
        .unwrap();
        let error = create_relationship(
            store,
            &dir,
            &agent(),
            link("ci-000001", RelationKind::DependsOn, "ci-777777"),
            T0,
        )
        .unwrap_err();
        assert!(matches!(error, ItsmError::UnknownCi { ci } if ci == "ci-777777"));

        delete_relationship(
            store,
            &agent(),
            "ci-000001",
            RelationKind::ConnectedTo,
            "ci-000002",
            at(1),
        )
        .unwrap();
        assert_eq!(relationships_of(store, "ci-000001").unwrap().len(), 2);
        let error = delete_relationship(
            store,
            &agent(),
            "ci-000001",
            RelationKind::ConnectedTo,
            "ci-000002",
            at(1),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "relationship ci-000001 connected_to ci-000002 does not exist"
        );
    }
}

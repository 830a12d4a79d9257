//! The difference between two inventories, and its application.
//!
//! A delta is a list of operations on the document's JSON form. Scalars and unkeyed lists are replaced
//! whole (`set`); lists whose items have an identity (packages, disks, interfaces ... see [`KEYED_LISTS`])
//! are patched item by item (`patch`: remove these keys, insert or replace these items), so upgrading two
//! packages out of 1,000 costs two removals and two insertions on the wire.
//!
//! Invariant (property-tested): for canonical documents `a` and `b`, `apply(a, &diff(a, b)) == b`.
//!
//! Packages are most of a document (1,000 of them are ~90% of its bytes), so they are diffed and
//! patched as typed records rather than through JSON values; the result is the same delta as the
//! generic path would give (property-tested against it), at a fraction of the allocations.

use crate::inventory::{
    AgentInfo, AsPackageRef, CollectionError, Filesystem, Group, Hardware, Host, Inventory,
    ListeningPort, Network, Os, Package, Service, Software, User,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The keyed list diffed and patched as typed records.
const PACKAGES_PATH: [&str; 2] = ["software", "packages"];

/// Lists patched by item identity: the path from the document root, and the fields that identify an item.
/// A package's version is part of its identity because several versions of one package can be installed
/// side by side (rpm kernels); an upgrade is therefore a removal plus an insertion.
pub const KEYED_LISTS: &[(&[&str], &[&str])] = &[
    (
        &["software", "packages"],
        &["manager", "name", "arch", "version"],
    ),
    (&["hardware", "disks"], &["name"]),
    (&["hardware", "memory", "modules"], &["slot"]),
    (&["hardware", "pci_devices"], &["slot"]),
    (&["hardware", "usb_devices"], &["bus_path"]),
    (&["filesystems"], &["mount_point"]),
    (&["network", "interfaces"], &["name"]),
    (&["users"], &["name"]),
    (&["groups"], &["name"]),
    (&["services"], &["name"]),
    (&["listening_ports"], &["protocol", "address", "port"]),
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub ops: Vec<DeltaOp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum DeltaOp {
    /// Replace (or add) the value at `path`.
    Set { path: Vec<String>, value: Value },
    /// Remove the object key at `path`.
    Unset { path: Vec<String> },
    /// In the keyed list at `path`: drop the items whose identity is in `remove`, then insert or replace
    /// the items in `upsert`.
    Patch {
        path: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        remove: Vec<Vec<Value>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        upsert: Vec<Value>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeltaError {
    #[error("delta path '{0}' does not exist in the base inventory")]
    MissingPath(String),
    #[error("delta path '{0}' is not a keyed list; only {known} can be patched", known = keyed_list_names())]
    NotAKeyedList(String),
    #[error("patched inventory is not a valid document: {0}")]
    Invalid(String),
}

fn keyed_list_names() -> String {
    KEYED_LISTS
        .iter()
        .map(|(path, _)| path.join("."))
        .collect::<Vec<_>>()
        .join(", ")
}

fn identity_fields(path: &[String]) -> Option<&'static [&'static str]> {
    KEYED_LISTS
        .iter()
        .find(|(list_path, _)| {
            list_path
                .iter()
                .copied()
                .eq(path.iter().map(String::as_str))
        })
        .map(|(_, fields)| *fields)
}

fn identity(item: &Value, fields: &[&str]) -> Vec<Value> {
    fields
        .iter()
        .map(|field| item.get(*field).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Ordered map key for an identity (serde_json values are not `Ord`).
fn identity_key(identity: &[Value]) -> String {
    Value::Array(identity.to_vec()).to_string()
}

/// What changed from `old` to `new`.
pub fn diff(old: &Inventory, new: &Inventory) -> Delta {
    let mut ops = Vec::new();
    if same_but_packages_and_collection_time(old, new) {
        // The usual changed report (and the collector's reverse delta for its history): comparing
        // the structs spares building both shells as JSON trees. The ops are those the generic
        // diff gives: a differing top-level key is one `Set` of its new value.
        if old.collected_at != new.collected_at {
            ops.push(DeltaOp::Set {
                path: vec!["collected_at".to_string()],
                value: Value::String(new.collected_at.clone()),
            });
        }
    } else {
        diff_value(&mut Vec::new(), &shell(old), &shell(new), &mut ops);
    }
    diff_packages(&old.software.packages, &new.software.packages, &mut ops);
    Delta { ops }
}

/// Whether `old` and `new` differ at most in their packages and collection time.
fn same_but_packages_and_collection_time(old: &Inventory, new: &Inventory) -> bool {
    ShellParts::of(old) == ShellParts::of(new)
}

fn to_value(inventory: &Inventory) -> Value {
    // Our plain structs always serialise.
    serde_json::to_value(inventory).unwrap_or(Value::Null)
}

/// Every field of a document but its packages and collection time, borrowed: what [`shell`] writes
/// and [`diff`] compares. Every field is named (no `..`) so that a new field of [`Inventory`] or
/// [`Software`] fails to compile here instead of silently missing from deltas.
#[derive(PartialEq, Serialize)]
struct ShellParts<'a> {
    schema_version: u32,
    agent: &'a AgentInfo,
    host: &'a Host,
    os: &'a Os,
    hardware: &'a Hardware,
    filesystems: &'a [Filesystem],
    network: &'a Network,
    users: &'a [User],
    groups: &'a [Group],
    services: &'a [Service],
    listening_ports: &'a [ListeningPort],
    collection_errors: &'a [CollectionError],
}

impl<'a> ShellParts<'a> {
    fn of(inventory: &'a Inventory) -> Self {
        let Inventory {
            schema_version,
            collected_at: _,
            agent,
            host,
            os,
            hardware,
            filesystems,
            network,
            software,
            users,
            groups,
            services,
            listening_ports,
            collection_errors,
        } = inventory;
        let Software { packages: _ } = software;
        ShellParts {
            schema_version: *schema_version,
            agent,
            host,
            os,
            hardware,
            filesystems,
            network,
            users,
            groups,
            services,
            listening_ports,
            collection_errors,
        }
    }
}

/// The document's JSON form with an empty package list.
fn shell(inventory: &Inventory) -> Value {
    // Our plain structs always serialise.
    let mut value = serde_json::to_value(ShellParts::of(inventory)).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.insert(
            "collected_at".into(),
            Value::String(inventory.collected_at.clone()),
        );
        fields.insert("software".into(), serde_json::json!({ "packages": [] }));
    }
    value
}

/// A package's identity (see [`KEYED_LISTS`]): manager, name, arch, version.
type PackageKey<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

fn package_key(package: &Package) -> PackageKey<'_> {
    (
        &package.manager,
        &package.name,
        package.arch.as_deref(),
        &package.version,
    )
}

/// The identity as the wire writes it, in [`KEYED_LISTS`] field order.
fn package_identity(package: &Package) -> Vec<Value> {
    vec![
        Value::from(package.manager.as_str()),
        Value::from(package.name.as_str()),
        package.arch.as_deref().map_or(Value::Null, Value::from),
        Value::from(package.version.as_str()),
    ]
}

/// A wire identity back as a key; `None` when it cannot name any package (wrong types or length).
fn key_of_identity(identity: &[Value]) -> Option<PackageKey<'_>> {
    match identity {
        [
            Value::String(manager),
            Value::String(name),
            arch,
            Value::String(version),
        ] => {
            let arch = match arch {
                Value::Null => None,
                Value::String(arch) => Some(arch.as_str()),
                _ => return None,
            };
            Some((manager, name, arch, version))
        }
        _ => None,
    }
}

fn diff_packages(old: &[Package], new: &[Package], ops: &mut Vec<DeltaOp>) {
    let old_by_key: HashMap<PackageKey<'_>, &Package> = old
        .iter()
        .map(|package| (package_key(package), package))
        .collect();
    let new_keys: HashSet<PackageKey<'_>> = new.iter().map(package_key).collect();
    let remove: Vec<Vec<Value>> = old
        .iter()
        .filter(|package| !new_keys.contains(&package_key(package)))
        .map(package_identity)
        .collect();
    let upsert: Vec<Value> = new
        .iter()
        .filter(|package| old_by_key.get(&package_key(package)) != Some(package))
        // Our plain structs always serialise.
        .map(|package| serde_json::to_value(package).unwrap_or(Value::Null))
        .collect();
    if !remove.is_empty() || !upsert.is_empty() {
        ops.push(DeltaOp::Patch {
            path: PACKAGES_PATH.iter().map(|part| part.to_string()).collect(),
            remove,
            upsert,
        });
    }
}

/// Removes the packages named in `remove` or replaced by `upsert`, then adds `upsert`.
/// Up to this many packages removed or replaced, [`patch_packages`] compares instead of hashing.
const FEW_DOOMED: usize = 16;

fn patch_packages<T: AsPackageRef>(
    packages: &mut Vec<T>,
    remove: &[Vec<Value>],
    upsert: &[Value],
    item: &mut impl FnMut(Package) -> T,
) -> Result<(), DeltaError> {
    let upsert: Vec<Package> = upsert
        .iter()
        .map(|item| {
            Package::deserialize(item)
                .map_err(|error| DeltaError::Invalid(format!("software.packages: {error}")))
        })
        .collect::<Result<_, _>>()?;
    let doomed: Vec<PackageKey<'_>> = remove
        .iter()
        .filter_map(|identity| key_of_identity(identity))
        .chain(upsert.iter().map(package_key))
        .collect();
    // A delta names a few packages in a list of ~1,000: comparing names (lengths first, then bytes)
    // against a handful is several times cheaper than hashing every package's identity. A long list
    // of removals (a machine wiped) still goes through a set.
    if doomed.len() <= FEW_DOOMED {
        packages.retain(|package| {
            let (manager, name, arch, version) = package.package_ref().identity();
            !doomed.iter().any(|doomed| {
                doomed.1 == name && doomed.3 == version && doomed.0 == manager && doomed.2 == arch
            })
        });
    } else {
        let doomed: HashSet<PackageKey<'_>> = doomed.into_iter().collect();
        packages.retain(|package| !doomed.contains(&package.package_ref().identity()));
    }
    packages.extend(upsert.into_iter().map(item));
    Ok(())
}

/// `delta` without its package-list patches: for a document kept without its packages (time travel
/// for a question that does not ask about them).
pub fn without_package_ops(delta: &Delta) -> Delta {
    Delta {
        ops: delta
            .ops
            .iter()
            .filter(|op| !matches!(op, DeltaOp::Patch { path, .. } if is_packages_path(path)))
            .cloned()
            .collect(),
    }
}

fn is_packages_path(path: &[String]) -> bool {
    path.iter().map(String::as_str).eq(PACKAGES_PATH)
}

fn diff_value(path: &mut Vec<String>, old: &Value, new: &Value, ops: &mut Vec<DeltaOp>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Array(old_items), Value::Array(new_items)) if identity_fields(path).is_some() => {
            let fields = identity_fields(path).unwrap_or_default();
            diff_keyed_list(path, fields, old_items, new_items, ops);
        }
        (Value::Object(old_map), Value::Object(new_map)) => {
            for (key, new_value) in new_map {
                path.push(key.clone());
                match old_map.get(key) {
                    Some(old_value) => diff_value(path, old_value, new_value, ops),
                    None => ops.push(DeltaOp::Set {
                        path: path.clone(),
                        value: new_value.clone(),
                    }),
                }
                path.pop();
            }
            for key in old_map.keys().filter(|key| !new_map.contains_key(*key)) {
                let mut removed = path.clone();
                removed.push(key.clone());
                ops.push(DeltaOp::Unset { path: removed });
            }
        }
        _ => ops.push(DeltaOp::Set {
            path: path.clone(),
            value: new.clone(),
        }),
    }
}

fn diff_keyed_list(
    path: &[String],
    fields: &[&str],
    old_items: &[Value],
    new_items: &[Value],
    ops: &mut Vec<DeltaOp>,
) {
    let old_by_key: BTreeMap<String, &Value> = old_items
        .iter()
        .map(|item| (identity_key(&identity(item, fields)), item))
        .collect();
    let new_keys: BTreeSet<String> = new_items
        .iter()
        .map(|item| identity_key(&identity(item, fields)))
        .collect();
    let remove: Vec<Vec<Value>> = old_items
        .iter()
        .map(|item| identity(item, fields))
        .filter(|id| !new_keys.contains(&identity_key(id)))
        .collect();
    let upsert: Vec<Value> = new_items
        .iter()
        .filter(|item| old_by_key.get(&identity_key(&identity(item, fields))) != Some(item))
        .cloned()
        .collect();
    if !remove.is_empty() || !upsert.is_empty() {
        ops.push(DeltaOp::Patch {
            path: path.to_vec(),
            remove,
            upsert,
        });
    }
}

/// `base` with `delta` applied, in canonical form.
pub fn apply(base: &Inventory, delta: &Delta) -> Result<Inventory, DeltaError> {
    apply_owned(base.clone(), delta)
}

/// [`apply`] consuming the base: the collector's base is decoded for this one report, so its
/// packages are patched in place instead of copied.
pub fn apply_owned(mut base: Inventory, delta: &Delta) -> Result<Inventory, DeltaError> {
    // The usual report (a few upgrades and a new collection time) touches nothing else: the rest
    // of the base is kept as it is instead of going through its JSON form.
    if let Some(only) = package_only(delta) {
        if let Some(at) = only.collected_at {
            base.collected_at = at.to_string();
        }
        only.patch(&mut base.software.packages, |package| package)?;
        base.canonicalize();
        return Ok(base);
    }
    // Anything under `software` other than the package patch takes the generic path.
    let typed = delta.ops.iter().all(|op| match op {
        DeltaOp::Patch { path, .. } if is_packages_path(path) => true,
        DeltaOp::Set { path, .. } | DeltaOp::Unset { path } | DeltaOp::Patch { path, .. } => {
            path.first().map(String::as_str) != Some("software")
        }
    });
    if !typed {
        return apply_generic(&base, delta);
    }
    let mut packages = std::mem::take(&mut base.software.packages);
    let mut document = shell(&base);
    for op in &delta.ops {
        if !matches!(op, DeltaOp::Patch { path, .. } if is_packages_path(path)) {
            apply_op(&mut document, op)?;
        }
    }
    let mut patched: Inventory =
        serde_json::from_value(document).map_err(|error| DeltaError::Invalid(error.to_string()))?;
    for op in &delta.ops {
        if let DeltaOp::Patch {
            path,
            remove,
            upsert,
        } = op
            && is_packages_path(path)
        {
            patch_packages(&mut packages, remove, upsert, &mut |package| package)?;
        }
    }
    patched.software.packages = packages;
    patched.canonicalize();
    Ok(patched)
}

/// A delta that changes nothing but packages and the collection time (the usual report): its
/// package patches apply to a list of any form of package ([`PackageOnly::patch`]), such as the
/// collector's references to shared records.
#[derive(Debug)]
pub struct PackageOnly<'a> {
    /// The new collection time, when the delta sets one.
    pub collected_at: Option<&'a str>,
    patches: Vec<(&'a [Vec<Value>], &'a [Value])>,
}

/// `Some` when `delta` touches nothing but the package list and `collected_at`.
pub fn package_only(delta: &Delta) -> Option<PackageOnly<'_>> {
    let mut only = PackageOnly {
        collected_at: None,
        patches: Vec::new(),
    };
    for op in &delta.ops {
        match op {
            DeltaOp::Patch {
                path,
                remove,
                upsert,
            } if is_packages_path(path) => only.patches.push((remove, upsert)),
            DeltaOp::Set {
                path,
                value: Value::String(at),
            } if path.len() == 1 && path[0] == "collected_at" => only.collected_at = Some(at),
            _ => return None,
        }
    }
    Some(only)
}

impl PackageOnly<'_> {
    /// Applies the package patches to `packages`, making each new package an item with `item`. The
    /// result still needs [`crate::inventory::canonicalize_packages`].
    pub fn patch<T: AsPackageRef>(
        &self,
        packages: &mut Vec<T>,
        mut item: impl FnMut(Package) -> T,
    ) -> Result<(), DeltaError> {
        for (remove, upsert) in &self.patches {
            patch_packages(packages, remove, upsert, &mut item)?;
        }
        Ok(())
    }
}

/// [`apply`] through the JSON form of the whole document.
fn apply_generic(base: &Inventory, delta: &Delta) -> Result<Inventory, DeltaError> {
    let mut document = to_value(base);
    for op in &delta.ops {
        apply_op(&mut document, op)?;
    }
    let mut patched: Inventory =
        serde_json::from_value(document).map_err(|error| DeltaError::Invalid(error.to_string()))?;
    patched.canonicalize();
    Ok(patched)
}

fn apply_op(document: &mut Value, op: &DeltaOp) -> Result<(), DeltaError> {
    match op {
        DeltaOp::Set { path, value } => {
            let (parent, key) = parent_of(document, path)?;
            parent.insert(key.to_string(), value.clone());
        }
        DeltaOp::Unset { path } => {
            let (parent, key) = parent_of(document, path)?;
            parent.remove(key);
        }
        DeltaOp::Patch {
            path,
            remove,
            upsert,
        } => {
            let fields =
                identity_fields(path).ok_or_else(|| DeltaError::NotAKeyedList(path.join(".")))?;
            let list = lookup_mut(document, path)
                .and_then(Value::as_array_mut)
                .ok_or_else(|| DeltaError::MissingPath(path.join(".")))?;
            let mut doomed: BTreeSet<String> = remove.iter().map(|id| identity_key(id)).collect();
            doomed.extend(
                upsert
                    .iter()
                    .map(|item| identity_key(&identity(item, fields))),
            );
            list.retain(|item| !doomed.contains(&identity_key(&identity(item, fields))));
            list.extend(upsert.iter().cloned());
        }
    }
    Ok(())
}

fn lookup_mut<'a>(document: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(document, |value, key| value.get_mut(key))
}

fn parent_of<'a, 'p>(
    document: &'a mut Value,
    path: &'p [String],
) -> Result<(&'a mut Map<String, Value>, &'p str), DeltaError> {
    let missing = || DeltaError::MissingPath(path.join("."));
    let (key, parent_path) = path.split_last().ok_or_else(missing)?;
    let parent = lookup_mut(document, parent_path)
        .and_then(Value::as_object_mut)
        .ok_or_else(missing)?;
    Ok((parent, key))
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;

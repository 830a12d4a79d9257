//! Impact: every CI that depends on the given ones, transitively, with the path that makes it so.
//!
//! A CI Y is directly impacted by X when Y `depends_on` X, Y `runs_on` X, or X `hosts` Y.
//! `connected_to` says nothing about which side fails with the other, so it is not followed.
//! The walk is breadth-first from all affected CIs at once, neighbours in CI-id order, each CI visited
//! once: cycles terminate, and a CI reachable along several paths (a diamond) is reported once, along
//! the shortest path found first. The walk stops at [`ImpactLimits`] and says so (`truncated`).

use super::Result;
use super::relationship::{RelationKind, incoming, outgoing};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactLimits {
    /// Hops from an affected CI.
    pub max_depth: usize,
    /// Impacted CIs reported.
    pub max_cis: usize,
}

impl Default for ImpactLimits {
    /// Deep enough for app → VM → host → rack chains, small enough for one page of the UI.
    fn default() -> Self {
        Self {
            max_depth: 8,
            max_cis: 500,
        }
    }
}

/// One impacted CI. `path` runs from an affected CI to this one; `via[i]` is the relationship
/// between `path[i]` and `path[i + 1]` (stored as `path[i+1] kind path[i]` for depends_on and runs_on,
/// `path[i] hosts path[i+1]` for hosts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactedCi {
    pub ci: String,
    pub depth: usize,
    pub path: Vec<String>,
    pub via: Vec<RelationKind>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    /// In walk order: nearest first.
    pub cis: Vec<ImpactedCi>,
    /// True when a limit stopped the walk before it was complete.
    pub truncated: bool,
}

/// The breadth-first walk, over any neighbour function (pure: the store version is [`impact`]).
pub fn traverse(
    affected: &[String],
    limits: ImpactLimits,
    mut neighbours: impl FnMut(&str) -> Result<Vec<(String, RelationKind)>>,
) -> Result<Impact> {
    let mut visited: HashSet<String> = affected.iter().cloned().collect();
    // Each queue item: the CI, its path and the relationships along it.
    let mut queue: VecDeque<(String, Vec<String>, Vec<RelationKind>)> = VecDeque::new();
    let mut seen_sources = HashSet::new();
    for ci in affected {
        if seen_sources.insert(ci.clone()) {
            queue.push_back((ci.clone(), vec![ci.clone()], Vec::new()));
        }
    }
    let mut impact = Impact::default();
    while let Some((ci, path, via)) = queue.pop_front() {
        let mut next = neighbours(&ci)?;
        next.sort();
        next.dedup_by(|a, b| a.0 == b.0);
        let unvisited: Vec<(String, RelationKind)> = next
            .into_iter()
            .filter(|(n, _)| !visited.contains(n))
            .collect();
        if unvisited.is_empty() {
            continue;
        }
        if via.len() == limits.max_depth {
            impact.truncated = true;
            continue;
        }
        for (neighbour, kind) in unvisited {
            if impact.cis.len() == limits.max_cis {
                impact.truncated = true;
                return Ok(impact);
            }
            visited.insert(neighbour.clone());
            let mut path = path.clone();
            path.push(neighbour.clone());
            let mut via = via.clone();
            via.push(kind);
            impact.cis.push(ImpactedCi {
                ci: neighbour.clone(),
                depth: via.len(),
                path: path.clone(),
                via: via.clone(),
            });
            queue.push_back((neighbour, path, via));
        }
    }
    Ok(impact)
}

/// CIs directly impacted when `ci` fails, with the relationship that says so.
pub fn impacted_by(store: &dyn Store, ci: &str) -> Result<Vec<(String, RelationKind)>> {
    let mut found: BTreeSet<(String, RelationKind)> = BTreeSet::new();
    for (kind, from) in incoming(store, ci)? {
        if matches!(kind, RelationKind::DependsOn | RelationKind::RunsOn) {
            found.insert((from, kind));
        }
    }
    for (kind, to) in outgoing(store, ci)? {
        if kind == RelationKind::Hosts {
            found.insert((to, kind));
        }
    }
    Ok(found.into_iter().collect())
}

/// The impact of `affected` over the stored relationships.
pub fn impact(store: &dyn Store, affected: &[String], limits: ImpactLimits) -> Result<Impact> {
    traverse(affected, limits, |ci| impacted_by(store, ci))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::relationship::ensure_discovered_relationship;
    use crate::itsm::testutil::{T0, memory, sled};
    use RelationKind::*;

    fn graph(store: &dyn Store, edges: &[(&str, RelationKind, &str)]) {
        for (from, kind, to) in edges {
            ensure_discovered_relationship(store, from, *kind, to, T0).unwrap();
        }
    }

    fn paths(impact: &Impact) -> Vec<String> {
        impact.cis.iter().map(|c| c.path.join(">")).collect()
    }

    fn walk(store: &dyn Store, affected: &[&str], limits: ImpactLimits) -> Impact {
        let affected: Vec<String> = affected.iter().map(|c| c.to_string()).collect();
        impact(store, &affected, limits).unwrap()
    }

    #[test]
    fn a_diamond_is_reported_once_along_the_first_shortest_path() {
        let store = memory();
        // db <- app1, db <- app2 (depends_on); web depends on both apps.
        graph(
            store.as_ref(),
            &[
                ("app1", DependsOn, "db"),
                ("app2", DependsOn, "db"),
                ("web", DependsOn, "app1"),
                ("web", DependsOn, "app2"),
            ],
        );
        let impact = walk(store.as_ref(), &["db"], ImpactLimits::default());
        assert_eq!(paths(&impact), ["db>app1", "db>app2", "db>app1>web"]);
        assert_eq!(impact.cis[2].via, [DependsOn, DependsOn]);
        assert_eq!(impact.cis[2].depth, 2);
        assert!(!impact.truncated);
    }

    #[test]
    fn cycles_terminate() {
        let (store, _guard) = sled();
        graph(
            store.as_ref(),
            &[
                ("b", DependsOn, "a"),
                ("c", DependsOn, "b"),
                ("a", DependsOn, "c"),
            ],
        );
        let impact = walk(store.as_ref(), &["a"], ImpactLimits::default());
        assert_eq!(paths(&impact), ["a>b", "a>b>c"]);
    }

    #[test]
    fn hosts_and_runs_on_point_the_right_way_and_connected_to_is_not_followed() {
        let store = memory();
        graph(
            store.as_ref(),
            &[
                ("hv", Hosts, "vm"),
                ("app", RunsOn, "vm"),
                ("vm", ConnectedTo, "switch"),
                ("hv", DependsOn, "san"),
            ],
        );
        let impact = walk(store.as_ref(), &["san"], ImpactLimits::default());
        assert_eq!(paths(&impact), ["san>hv", "san>hv>vm", "san>hv>vm>app"]);
        assert_eq!(impact.cis[2].via, [DependsOn, Hosts, RunsOn]);
        // Upwards there is nothing: the VM failing does not take the hypervisor down.
        assert_eq!(
            walk(store.as_ref(), &["vm"], ImpactLimits::default())
                .cis
                .len(),
            1
        );
        assert_eq!(
            walk(store.as_ref(), &["switch"], ImpactLimits::default()).cis,
            []
        );
    }

    #[test]
    fn limits_cut_the_walk_and_say_so() {
        let store = memory();
        graph(
            store.as_ref(),
            &[
                ("b", DependsOn, "a"),
                ("c", DependsOn, "b"),
                ("d", DependsOn, "c"),
                ("e", DependsOn, "a"),
            ],
        );
        let shallow = walk(
            store.as_ref(),
            &["a"],
            ImpactLimits {
                max_depth: 2,
                max_cis: 100,
            },
        );
        assert_eq!(paths(&shallow), ["a>b", "a>e", "a>b>c"]);
        assert!(shallow.truncated);
        let small = walk(
            store.as_ref(),
            &["a"],
            ImpactLimits {
                max_depth: 10,
                max_cis: 2,
            },
        );
        assert_eq!(paths(&small), ["a>b", "a>e"]);
        assert!(small.truncated);
        let exact = walk(
            store.as_ref(),
            &["a"],
            ImpactLimits {
                max_depth: 3,
                max_cis: 4,
            },
        );
        assert_eq!(exact.cis.len(), 4);
        assert!(!exact.truncated);
    }

    #[test]
    fn several_affected_cis_are_walked_together_and_not_reported_as_impacted() {
        let store = memory();
        graph(
            store.as_ref(),
            &[
                ("x", DependsOn, "a"),
                ("b", DependsOn, "a"),
                ("y", DependsOn, "b"),
            ],
        );
        let impact = walk(store.as_ref(), &["a", "b"], ImpactLimits::default());
        assert_eq!(paths(&impact), ["a>x", "b>y"]);
    }
}

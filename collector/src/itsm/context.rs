//! Read views joining records, CIs and relationships: the incident context and a CI's records.
//!
//! The incident context answers "what is this incident about and what changed there": for each affected
//! CI its hardware summary, the changes discovery saw and the change records planned on it in the last
//! `days` days (Rejected and Cancelled ones left out: they did not happen), the other open incidents on
//! it, and the impact on every CI depending on the affected ones.

use super::change::{Change, ChangeState, ChangeType, PlannedWindow, changes_on};
use super::impact::{Impact, ImpactLimits, impact};
use super::incident::{Incident, IncidentState, get_incident, open_incidents_on};
use super::priority::Priority;
use super::problem::{Problem, ProblemState};
use super::record;
use super::{CiDirectory, CiSummary, DiscoveredChange, ItsmError, Result};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Longest look-back the context accepts, in days.
pub const MAX_CONTEXT_DAYS: u32 = 366;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentBrief {
    pub id: String,
    pub title: String,
    pub state: IncidentState,
    pub priority: Priority,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
}

impl From<&Incident> for IncidentBrief {
    fn from(incident: &Incident) -> Self {
        Self {
            id: incident.id.clone(),
            title: incident.title.clone(),
            state: incident.state,
            priority: incident.priority,
            opened_at: incident.opened_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeBrief {
    pub id: String,
    pub title: String,
    pub state: ChangeState,
    pub change_type: ChangeType,
    pub window: Option<PlannedWindow>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Change> for ChangeBrief {
    fn from(change: &Change) -> Self {
        Self {
            id: change.id.clone(),
            title: change.title.clone(),
            state: change.state,
            change_type: change.change_type,
            window: change.window,
            created_at: change.created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemBrief {
    pub id: String,
    pub title: String,
    pub state: ProblemState,
    pub known_error: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
}

impl From<&Problem> for ProblemBrief {
    fn from(problem: &Problem) -> Self {
        Self {
            id: problem.id.clone(),
            title: problem.title.clone(),
            state: problem.state,
            known_error: problem.known_error,
            opened_at: problem.opened_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiContext {
    pub ci: String,
    /// `None` when the CMDB no longer has the CI or holds no summary for it.
    pub summary: Option<CiSummary>,
    pub discovered_changes: Vec<DiscoveredChange>,
    /// Change records touching the CI in the period, newest first.
    pub planned_changes: Vec<ChangeBrief>,
    /// Other open incidents on the CI, newest first.
    pub open_incidents: Vec<IncidentBrief>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentContext {
    pub incident: Incident,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub cis: Vec<CiContext>,
    pub impact: Impact,
}

/// A change touches the period when its window overlaps it, or, without a window, when it was
/// created in it.
fn touches(change: &Change, since: OffsetDateTime, until: OffsetDateTime) -> bool {
    match change.window {
        Some(window) => window.start <= until && since <= window.end,
        None => since <= change.created_at && change.created_at <= until,
    }
}

pub fn incident_context(
    store: &dyn Store,
    dir: &dyn CiDirectory,
    incident_id: &str,
    days: u32,
    now: OffsetDateTime,
    limits: ImpactLimits,
) -> Result<IncidentContext> {
    if days == 0 || days > MAX_CONTEXT_DAYS {
        return Err(ItsmError::Invalid {
            record: incident_id.to_string(),
            message: format!("days must be between 1 and {MAX_CONTEXT_DAYS}, got {days}"),
        });
    }
    let incident = get_incident(store, incident_id)?;
    let since = now - Duration::days(i64::from(days));
    let mut cis = Vec::with_capacity(incident.affected_cis.len());
    for ci in &incident.affected_cis {
        let mut planned: Vec<Change> = changes_on(store, ci)?
            .into_iter()
            .filter(|c| !matches!(c.state, ChangeState::Rejected | ChangeState::Cancelled))
            .filter(|c| touches(c, since, now))
            .collect();
        planned.reverse();
        let open: Vec<IncidentBrief> = open_incidents_on(store, ci)?
            .iter()
            .filter(|other| other.id != incident.id)
            .map(IncidentBrief::from)
            .collect();
        cis.push(CiContext {
            ci: ci.clone(),
            summary: dir.summary(ci)?,
            discovered_changes: dir.discovered_changes(ci, since, now)?,
            planned_changes: planned.iter().map(ChangeBrief::from).collect(),
            open_incidents: open,
        });
    }
    let impact = impact(store, &incident.affected_cis, limits)?;
    Ok(IncidentContext {
        incident,
        since,
        cis,
        impact,
    })
}

/// Every incident, problem and change about a CI, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiRecords {
    pub ci: String,
    pub incidents: Vec<IncidentBrief>,
    pub problems: Vec<ProblemBrief>,
    pub changes: Vec<ChangeBrief>,
}

pub fn ci_records(store: &dyn Store, ci: &str) -> Result<CiRecords> {
    fn newest_first<R: record::Record>(store: &dyn Store, ci: &str) -> Result<Vec<R>> {
        let mut numbers = record::numbers_for_ci::<R>(store, ci)?;
        numbers.reverse();
        record::load_all(store, &numbers)
    }
    Ok(CiRecords {
        ci: ci.to_string(),
        incidents: newest_first::<Incident>(store, ci)?
            .iter()
            .map(IncidentBrief::from)
            .collect(),
        problems: newest_first::<Problem>(store, ci)?
            .iter()
            .map(ProblemBrief::from)
            .collect(),
        changes: newest_first::<Change>(store, ci)?
            .iter()
            .map(ChangeBrief::from)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::change::{NewChange, Risk, create_change};
    use crate::itsm::directory::DiscoveredChangeKind;
    use crate::itsm::incident::{NewIncident, create_incident};
    use crate::itsm::priority::Level;
    use crate::itsm::problem::{NewProblem, create_problem};
    use crate::itsm::relationship::{RelationKind, ensure_discovered_relationship};
    use crate::itsm::testutil::{T0, agent, at, directory, memory};

    fn incident(store: &dyn Store, title: &str, cis: &[&str], when: OffsetDateTime) -> Incident {
        let request = NewIncident {
            title: title.into(),
            description: None,
            caller: None,
            assignee: None,
            assignment_group: None,
            impact: Level::HIGH,
            urgency: Level::MEDIUM,
            affected_cis: cis.iter().map(|c| c.to_string()).collect(),
        };
        create_incident(store, &directory(), &agent(), request, when).unwrap()
    }

    fn change(
        store: &dyn Store,
        title: &str,
        window: Option<(i64, i64)>,
        when: OffsetDateTime,
    ) -> String {
        let request = NewChange {
            title: title.into(),
            description: None,
            change_type: ChangeType::Normal,
            risk: Risk::Low,
            window: window.map(|(a, b)| PlannedWindow {
                start: at(a),
                end: at(b),
            }),
            implementation_plan: None,
            backout_plan: None,
            affected_cis: vec!["ci-000001".into()],
        };
        create_change(store, &directory(), &agent(), request, when)
            .unwrap()
            .record
            .id
    }

    #[test]
    fn the_context_joins_summary_changes_open_incidents_and_impact() {
        let store = memory();
        let store = store.as_ref();
        let mut dir = directory();
        dir.cis.insert(
            "ci-000001".into(),
            Some(CiSummary {
                ci: "ci-000001".into(),
                name: Some("db-01".into()),
                memory_bytes: Some(64 << 30),
                ..Default::default()
            }),
        );
        let seen = DiscoveredChange {
            ci: "ci-000001".into(),
            at: at(-60),
            kind: DiscoveredChangeKind::PackageUpgraded,
            subject: "postgresql-16".into(),
            old: Some("16.1".into()),
            new: Some("16.2".into()),
        };
        let too_old = DiscoveredChange {
            at: at(-60 * 24 * 10),
            ..seen.clone()
        };
        dir.changes = vec![seen.clone(), too_old];
        let days = 7;
        let minutes_ago = |m: i64| -m;
        let recent = change(
            store,
            "recent window",
            Some((minutes_ago(120), minutes_ago(60))),
            at(-60 * 24 * 30),
        );
        change(
            store,
            "old window",
            Some((-60 * 24 * 9, -60 * 24 * 8)),
            at(-60 * 24 * 30),
        );
        let windowless = change(store, "no window yet", None, at(-10));
        ensure_discovered_relationship(
            store,
            "ci-000002",
            RelationKind::DependsOn,
            "ci-000001",
            T0,
        )
        .unwrap();
        let earlier = incident(store, "db slow", &["ci-000001"], at(-30));
        let current = incident(store, "db down", &["ci-000001"], T0);

        let context =
            incident_context(store, &dir, &current.id, days, T0, ImpactLimits::default()).unwrap();
        assert_eq!(context.since, at(-60 * 24 * 7));
        let ci = &context.cis[0];
        assert_eq!(
            ci.summary.as_ref().and_then(|s| s.name.as_deref()),
            Some("db-01")
        );
        assert_eq!(ci.discovered_changes, [seen]);
        let planned: Vec<&str> = ci.planned_changes.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(planned, [windowless.as_str(), recent.as_str()]);
        let open: Vec<&str> = ci.open_incidents.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(open, [earlier.id.as_str()]);
        assert_eq!(context.impact.cis[0].path, ["ci-000001", "ci-000002"]);

        let error =
            incident_context(store, &dir, &current.id, 0, T0, ImpactLimits::default()).unwrap_err();
        assert!(
            error.to_string().contains("days must be between 1 and 366"),
            "{error}"
        );
    }

    #[test]
    fn a_ci_lists_its_records_newest_first() {
        let store = memory();
        let store = store.as_ref();
        let first = incident(store, "a", &["ci-000001"], T0);
        incident(store, "elsewhere", &["ci-000002"], T0);
        let second = incident(store, "b", &["ci-000001"], at(1));
        let change_id = change(store, "c", None, T0);
        let problem = NewProblem {
            title: "p".into(),
            description: None,
            assignee: None,
            linked_cis: vec!["ci-000001".into()],
        };
        let problem = create_problem(store, &directory(), &agent(), problem, T0).unwrap();
        let records = ci_records(store, "ci-000001").unwrap();
        let incidents: Vec<&str> = records.incidents.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(incidents, [second.id.as_str(), first.id.as_str()]);
        assert_eq!(records.changes[0].id, change_id);
        assert_eq!(records.problems[0].id, problem.id);
    }
}

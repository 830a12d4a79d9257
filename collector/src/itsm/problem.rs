//! Problems (`PRB-000007`): the unknown cause behind one or more incidents.
//!
//! State machine: New → Investigating / Cancelled; Investigating → Known error / Resolved / Cancelled;
//! Known error → Resolved / Investigating (the workaround or analysis proved wrong); Resolved → Closed /
//! Investigating (it came back). Closed and Cancelled are final.
//! Entering Known error needs a root cause and a workaround and sets the `known_error` flag, which stays
//! set afterwards (it was a known error); resolving needs a root cause. Incidents are grouped under at
//! most one problem: linking writes both records in one batch.

use super::incident::Incident;
use super::record::{self, Record};
use super::{
    Actor, CiDirectory, ItsmError, Page, Result, StateChange, check_transition, clean,
    optional_text, required_text,
};
use crate::itsm::incident::known_cis;
use crate::itsm::numbering::RecordKind;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

pub const SPACE_PROBLEMS: &str = "itsm_problems";
const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemState {
    New,
    Investigating,
    KnownError,
    Resolved,
    Closed,
    Cancelled,
}

impl ProblemState {
    pub const ALL: [ProblemState; 6] = [
        ProblemState::New,
        ProblemState::Investigating,
        ProblemState::KnownError,
        ProblemState::Resolved,
        ProblemState::Closed,
        ProblemState::Cancelled,
    ];

    pub fn allowed_next(self) -> &'static [ProblemState] {
        use ProblemState::*;
        match self {
            New => &[Investigating, Cancelled],
            Investigating => &[KnownError, Resolved, Cancelled],
            KnownError => &[Investigating, Resolved],
            Resolved => &[Investigating, Closed],
            Closed | Cancelled => &[],
        }
    }

    pub fn key(self) -> &'static str {
        use ProblemState::*;
        match self {
            New => "new",
            Investigating => "investigating",
            KnownError => "known_error",
            Resolved => "resolved",
            Closed => "closed",
            Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ProblemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProblemState::*;
        f.write_str(match self {
            New => "New",
            Investigating => "Investigating",
            KnownError => "Known error",
            Resolved => "Resolved",
            Closed => "Closed",
            Cancelled => "Cancelled",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub assignee: Option<String>,
    pub state: ProblemState,
    /// Set on entering Known error and kept afterwards.
    pub known_error: bool,
    pub root_cause: Option<String>,
    pub workaround: Option<String>,
    pub linked_cis: Vec<String>,
    pub incidents: Vec<String>,
    pub state_changes: Vec<StateChange<ProblemState>>,
    pub opened_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

impl Record for Problem {
    const KIND: RecordKind = RecordKind::Problem;
    const SPACE: &'static str = SPACE_PROBLEMS;
    fn id(&self) -> &str {
        &self.id
    }
    fn cis(&self) -> &[String] {
        &self.linked_cis
    }
    fn state_key(&self) -> &'static str {
        self.state.key()
    }
    fn set_updated_at(&mut self, at: OffsetDateTime) {
        self.updated_at = at;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProblem {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub linked_cis: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemTransition {
    pub to: ProblemState,
    /// Sets or replaces the root cause (needed for Known error and Resolved).
    #[serde(default)]
    pub root_cause: Option<String>,
    /// Sets or replaces the workaround (needed for Known error).
    #[serde(default)]
    pub workaround: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemFilter {
    pub state: Option<ProblemState>,
    pub known_error: Option<bool>,
    pub assignee: Option<String>,
    pub ci: Option<String>,
    pub text: Option<String>,
}

impl ProblemFilter {
    fn matches(&self, problem: &Problem) -> bool {
        self.state.is_none_or(|s| s == problem.state)
            && self.known_error.is_none_or(|k| k == problem.known_error)
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| problem.assignee.as_ref() == Some(a))
            && self
                .ci
                .as_ref()
                .is_none_or(|ci| problem.linked_cis.contains(ci))
            && self
                .text
                .as_ref()
                .is_none_or(|text| problem.title.to_lowercase().contains(&text.to_lowercase()))
    }
}

pub fn create_problem(
    store: &dyn Store,
    dir: &dyn CiDirectory,
    actor: &Actor,
    request: NewProblem,
    now: OffsetDateTime,
) -> Result<Problem> {
    let title = required_text("new problem", "title", &request.title, TITLE_MAX)?;
    let description = optional_text("new problem", "description", request.description, TEXT_MAX)?;
    let cis = known_cis(dir, &request.linked_cis)?;
    record::create(store, actor, "problem.create", now, |id| {
        Ok(Problem {
            id,
            title,
            description,
            assignee: clean(request.assignee),
            state: ProblemState::New,
            known_error: false,
            root_cause: None,
            workaround: None,
            linked_cis: cis,
            incidents: Vec::new(),
            state_changes: Vec::new(),
            opened_by: actor.name.clone(),
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            closed_at: None,
        })
    })
}

pub fn get_problem(store: &dyn Store, id: &str) -> Result<Problem> {
    record::load(store, id)
}

pub fn transition_problem(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    request: ProblemTransition,
    now: OffsetDateTime,
) -> Result<Problem> {
    record::modify(
        store,
        actor,
        id,
        "problem.transition",
        now,
        |problem: &mut Problem| {
            let from = problem.state;
            let to = request.to;
            check_transition(id, from, to, from.allowed_next())?;
            if let Some(cause) = optional_text(id, "root_cause", request.root_cause, TEXT_MAX)? {
                problem.root_cause = Some(cause);
            }
            if let Some(workaround) = optional_text(id, "workaround", request.workaround, TEXT_MAX)?
            {
                problem.workaround = Some(workaround);
            }
            let missing = |what: &str, doing: &str| ItsmError::Invalid {
                record: id.to_string(),
                message: format!("{doing} needs a {what}; send it with the transition"),
            };
            match to {
                ProblemState::KnownError => {
                    if problem.root_cause.is_none() {
                        return Err(missing("root_cause", "a known error"));
                    }
                    if problem.workaround.is_none() {
                        return Err(missing("workaround", "a known error"));
                    }
                    problem.known_error = true;
                }
                ProblemState::Resolved => {
                    if problem.root_cause.is_none() {
                        return Err(missing("root_cause", "resolving"));
                    }
                    problem.resolved_at = Some(now);
                }
                ProblemState::Investigating => problem.resolved_at = None,
                ProblemState::Closed | ProblemState::Cancelled => problem.closed_at = Some(now),
                ProblemState::New => {}
            }
            problem.state = to;
            problem.state_changes.push(StateChange {
                from,
                to,
                by: actor.name.clone(),
                at: now,
                note: clean(request.note),
            });
            Ok(Some(format!("{from} -> {to}")))
        },
    )
}

/// Groups `incident_id` under `problem_id`; an incident belongs to at most one problem.
pub fn link_problem_incident(
    store: &dyn Store,
    actor: &Actor,
    problem_id: &str,
    incident_id: &str,
    now: OffsetDateTime,
) -> Result<Problem> {
    let (problem, _) = record::modify_pair(
        store,
        actor,
        (problem_id, incident_id),
        "problem.link_incident",
        now,
        |problem: &mut Problem, incident: &mut Incident| {
            if problem.state.allowed_next().is_empty() {
                return Err(ItsmError::Final {
                    record: problem_id.to_string(),
                    state: problem.state.to_string(),
                });
            }
            if let Some(other) = &incident.problem {
                let message = if other == problem_id {
                    format!("{incident_id} is already linked to it")
                } else {
                    format!("{incident_id} belongs to {other}; unlink it there first")
                };
                return Err(ItsmError::Invalid {
                    record: problem_id.to_string(),
                    message,
                });
            }
            problem.incidents.push(incident_id.to_string());
            incident.problem = Some(problem_id.to_string());
            Ok(Some(incident_id.to_string()))
        },
    )?;
    Ok(problem)
}

pub fn unlink_problem_incident(
    store: &dyn Store,
    actor: &Actor,
    problem_id: &str,
    incident_id: &str,
    now: OffsetDateTime,
) -> Result<Problem> {
    let (problem, _) = record::modify_pair(
        store,
        actor,
        (problem_id, incident_id),
        "problem.unlink_incident",
        now,
        |problem: &mut Problem, incident: &mut Incident| {
            if incident.problem.as_deref() != Some(problem_id) {
                return Err(ItsmError::Invalid {
                    record: problem_id.to_string(),
                    message: format!("{incident_id} is not linked to it"),
                });
            }
            problem.incidents.retain(|id| id != incident_id);
            incident.problem = None;
            Ok(Some(incident_id.to_string()))
        },
    )?;
    Ok(problem)
}

pub fn list_problems(
    store: &dyn Store,
    filter: &ProblemFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Problem>> {
    let narrow = match (&filter.ci, filter.state) {
        (Some(ci), _) => Some(record::Narrow::Ci(ci.clone())),
        (None, Some(state)) => Some(record::Narrow::State(state.key())),
        (None, None) => None,
    };
    record::list(store, cursor, limit, narrow, |p: &Problem| {
        filter.matches(p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::history::history;
    use crate::itsm::incident::{NewIncident, create_incident, get_incident};
    use crate::itsm::priority::Level;
    use crate::itsm::testutil::{T0, agent, at, directory, memory, sled};
    use ProblemState::*;

    fn new_problem(store: &dyn Store) -> Problem {
        let request = NewProblem {
            title: "disks fill up nightly".into(),
            description: None,
            assignee: None,
            linked_cis: vec!["ci-000001".into()],
        };
        create_problem(store, &directory(), &agent(), request, T0).unwrap()
    }

    fn to(state: ProblemState) -> ProblemTransition {
        ProblemTransition {
            to: state,
            root_cause: matches!(state, KnownError | Resolved)
                .then(|| "log rotation disabled".into()),
            workaround: (state == KnownError).then(|| "delete old logs".into()),
            note: None,
        }
    }

    fn problem_in(store: &dyn Store, state: ProblemState) -> Problem {
        let path: &[ProblemState] = match state {
            New => &[],
            Investigating => &[Investigating],
            KnownError => &[Investigating, KnownError],
            Resolved => &[Investigating, Resolved],
            Closed => &[Investigating, Resolved, Closed],
            Cancelled => &[Cancelled],
        };
        let mut problem = new_problem(store);
        for &step in path {
            problem = transition_problem(store, &agent(), &problem.id, to(step), at(1)).unwrap();
        }
        problem
    }

    #[test]
    fn every_transition_is_allowed_or_refused_as_the_table_says() {
        let legal: &[(ProblemState, ProblemState)] = &[
            (New, Investigating),
            (New, Cancelled),
            (Investigating, KnownError),
            (Investigating, Resolved),
            (Investigating, Cancelled),
            (KnownError, Investigating),
            (KnownError, Resolved),
            (Resolved, Investigating),
            (Resolved, Closed),
        ];
        let store = memory();
        for from in ProblemState::ALL {
            for target in ProblemState::ALL {
                let problem = problem_in(store.as_ref(), from);
                let result =
                    transition_problem(store.as_ref(), &agent(), &problem.id, to(target), at(2));
                if legal.contains(&(from, target)) {
                    assert_eq!(result.unwrap().state, target, "{from} -> {target}");
                } else {
                    let error = result.unwrap_err();
                    let expected: Vec<String> = ProblemState::ALL
                        .iter()
                        .filter(|s| legal.contains(&(from, **s)))
                        .map(ToString::to_string)
                        .collect();
                    let expected = if expected.is_empty() {
                        format!("none ({from} is final)")
                    } else {
                        expected.join(", ")
                    };
                    assert_eq!(
                        error.to_string(),
                        format!(
                            "cannot move {} from {from} to {target}; allowed: {expected}",
                            problem.id
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn a_known_error_needs_cause_and_workaround_and_keeps_its_flag() {
        let store = memory();
        let problem = problem_in(store.as_ref(), Investigating);
        let request = ProblemTransition {
            to: KnownError,
            root_cause: Some("cron job".into()),
            workaround: None,
            note: None,
        };
        let error =
            transition_problem(store.as_ref(), &agent(), &problem.id, request, at(3)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: a known error needs a workaround; send it with the transition",
                problem.id
            )
        );
        let known =
            transition_problem(store.as_ref(), &agent(), &problem.id, to(KnownError), at(4))
                .unwrap();
        assert!(known.known_error);
        let resolved =
            transition_problem(store.as_ref(), &agent(), &problem.id, to(Resolved), at(5)).unwrap();
        assert!(resolved.known_error);
        assert_eq!(resolved.resolved_at, Some(at(5)));
    }

    #[test]
    fn incidents_are_grouped_under_one_problem_on_sled() {
        let (store, _guard) = sled();
        let store = store.as_ref();
        let first = new_problem(store);
        let second = new_problem(store);
        let request = NewIncident {
            title: "disk full".into(),
            description: None,
            caller: None,
            assignee: None,
            assignment_group: None,
            impact: Level::MEDIUM,
            urgency: Level::MEDIUM,
            affected_cis: vec![],
        };
        let incident = create_incident(store, &directory(), &agent(), request, T0).unwrap();
        let linked =
            link_problem_incident(store, &agent(), &first.id, &incident.id, at(1)).unwrap();
        assert_eq!(linked.incidents, std::slice::from_ref(&incident.id));
        assert_eq!(
            get_incident(store, &incident.id).unwrap().problem,
            Some(first.id.clone())
        );
        let error =
            link_problem_incident(store, &agent(), &second.id, &incident.id, at(2)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: {} belongs to {}; unlink it there first",
                second.id, incident.id, first.id
            )
        );
        let unlinked =
            unlink_problem_incident(store, &agent(), &first.id, &incident.id, at(3)).unwrap();
        assert_eq!(unlinked.incidents, Vec::<String>::new());
        assert_eq!(unlinked.updated_at, at(3));
        assert_eq!(get_incident(store, &incident.id).unwrap().updated_at, at(3));
        let error =
            unlink_problem_incident(store, &agent(), &first.id, &incident.id, at(4)).unwrap_err();
        assert!(
            error.to_string().ends_with("is not linked to it"),
            "{error}"
        );
        // Both writes are audited on the problem with the incident as detail; refusals are not.
        let audited: Vec<(String, Option<String>)> = crate::itsm::audit::audit_list(
            store,
            &crate::itsm::audit::AuditFilter {
                record: Some(first.id.clone()),
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap()
        .items
        .into_iter()
        .map(|entry| (entry.action, entry.detail))
        .collect();
        assert_eq!(
            audited,
            [
                (
                    "problem.unlink_incident".to_string(),
                    Some(incident.id.clone())
                ),
                (
                    "problem.link_incident".to_string(),
                    Some(incident.id.clone())
                ),
                ("problem.create".to_string(), None),
            ]
        );
        let incident_history: Vec<String> = history(store, &incident.id)
            .unwrap()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(incident_history, ["record", "problem", "problem"]);

        let known = list_problems(
            store,
            &ProblemFilter {
                ci: Some("ci-000001".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .unwrap();
        let ids: Vec<String> = known.items.into_iter().map(|p| p.id).collect();
        assert_eq!(ids, [second.id, first.id]);
    }
}

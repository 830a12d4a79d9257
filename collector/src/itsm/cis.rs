//! Adding and removing the CIs a record is about: an incident's affected CIs, a change's affected CIs, a
//! problem's linked CIs. One pair of functions for all three, dispatched on the id's prefix.
//!
//! Final records (Closed, Cancelled) are read-only. A change's CIs follow its window: they may change in
//! Draft, Assessment, Approved and Scheduled only, and adding one answers with overlap warnings.

use super::change::{self, Change, ChangeState};
use super::incident::Incident;
use super::numbering::{RecordKind, parse_id};
use super::problem::Problem;
use super::record;
use super::{Actor, CiDirectory, ItsmError, Outcome, Result, Warning};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The CIs of a record after an add or remove.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordCis {
    pub record: String,
    pub cis: Vec<String>,
}

const CHANGE_CI_STATES: &[ChangeState] = &[
    ChangeState::Draft,
    ChangeState::Assessment,
    ChangeState::Approved,
    ChangeState::Scheduled,
];

pub fn add_ci(
    store: &dyn Store,
    dir: &dyn CiDirectory,
    actor: &Actor,
    record_id: &str,
    ci: &str,
    now: OffsetDateTime,
) -> Result<Outcome<RecordCis>> {
    let ci = ci.trim();
    if !dir.exists(ci)? {
        return Err(ItsmError::UnknownCi { ci: ci.to_string() });
    }
    let edit = |cis: &mut Vec<String>| {
        if cis.iter().any(|known| known == ci) {
            return Err(ItsmError::Invalid {
                record: record_id.to_string(),
                message: format!("{ci} is already on it"),
            });
        }
        cis.push(ci.to_string());
        Ok(())
    };
    edit_cis(store, actor, record_id, "add_ci", ci, now, edit)
}

pub fn remove_ci(
    store: &dyn Store,
    actor: &Actor,
    record_id: &str,
    ci: &str,
    now: OffsetDateTime,
) -> Result<Outcome<RecordCis>> {
    let edit = |cis: &mut Vec<String>| {
        let before = cis.len();
        cis.retain(|known| known != ci);
        if cis.len() == before {
            return Err(ItsmError::Invalid {
                record: record_id.to_string(),
                message: format!("{ci} is not on it"),
            });
        }
        Ok(())
    };
    edit_cis(store, actor, record_id, "remove_ci", ci, now, edit)
}

fn edit_cis(
    store: &dyn Store,
    actor: &Actor,
    record_id: &str,
    verb: &str,
    ci: &str,
    now: OffsetDateTime,
    edit: impl Fn(&mut Vec<String>) -> Result<()>,
) -> Result<Outcome<RecordCis>> {
    let detail = Some(ci.to_string());
    let (kind, _) = parse_id(record_id)?;
    let (cis, warnings): (Vec<String>, Vec<Warning>) = match kind {
        RecordKind::Incident => {
            let action = format!("incident.{verb}");
            let incident =
                record::modify(store, actor, record_id, &action, now, |i: &mut Incident| {
                    not_final(
                        record_id,
                        i.state.allowed_next().is_empty(),
                        &i.state.to_string(),
                    )?;
                    edit(&mut i.affected_cis)?;
                    Ok(detail.clone())
                })?;
            (incident.affected_cis, Vec::new())
        }
        RecordKind::Problem => {
            let action = format!("problem.{verb}");
            let problem =
                record::modify(store, actor, record_id, &action, now, |p: &mut Problem| {
                    not_final(
                        record_id,
                        p.state.allowed_next().is_empty(),
                        &p.state.to_string(),
                    )?;
                    edit(&mut p.linked_cis)?;
                    Ok(detail.clone())
                })?;
            (problem.linked_cis, Vec::new())
        }
        RecordKind::Change => {
            let action = format!("change.{verb}");
            let change = record::modify(
                store,
                actor,
                record_id,
                &action,
                now,
                |c: &mut Change| {
                    if !CHANGE_CI_STATES.contains(&c.state) {
                        return Err(ItsmError::Invalid {
                            record: record_id.to_string(),
                            message: format!(
                                "affected CIs can only change in Draft, Assessment, Approved, Scheduled; the change is {}",
                                c.state
                            ),
                        });
                    }
                    edit(&mut c.affected_cis)?;
                    Ok(detail.clone())
                },
            )?;
            let warnings = change::collisions(store, &change)?;
            (change.affected_cis, warnings)
        }
        RecordKind::Flag => {
            return Err(ItsmError::BadId {
                id: record_id.to_string(),
            });
        }
    };
    Ok(Outcome {
        record: RecordCis {
            record: record_id.to_string(),
            cis,
        },
        warnings,
    })
}

fn not_final(record: &str, is_final: bool, state: &str) -> Result<()> {
    if is_final {
        return Err(ItsmError::Final {
            record: record.to_string(),
            state: state.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::change::{ChangeType, NewChange, PlannedWindow, Risk, create_change};
    use crate::itsm::history::history;
    use crate::itsm::incident::{IncidentFilter, NewIncident, create_incident, list_incidents};
    use crate::itsm::priority::Level;
    use crate::itsm::testutil::{T0, agent, at, directory, memory};

    #[test]
    fn cis_are_added_and_removed_with_index_history_and_checks() {
        let store = memory();
        let store = store.as_ref();
        let dir = directory();
        let request = NewIncident {
            title: "slow".into(),
            description: None,
            caller: None,
            assignee: None,
            assignment_group: None,
            impact: Level::LOW,
            urgency: Level::LOW,
            affected_cis: vec!["ci-000001".into()],
        };
        let incident = create_incident(store, &dir, &agent(), request, T0).unwrap();
        let added = add_ci(store, &dir, &agent(), &incident.id, "ci-000002", at(1)).unwrap();
        assert_eq!(added.record.cis, ["ci-000001", "ci-000002"]);
        let error = add_ci(store, &dir, &agent(), &incident.id, "ci-000002", at(1)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{}: ci-000002 is already on it", incident.id)
        );
        let error = add_ci(store, &dir, &agent(), &incident.id, "ci-424242", at(1)).unwrap_err();
        assert!(matches!(error, ItsmError::UnknownCi { .. }));
        let removed = remove_ci(store, &agent(), &incident.id, "ci-000001", at(2)).unwrap();
        assert_eq!(removed.record.cis, ["ci-000002"]);

        let on = |ci: &str| {
            let filter = IncidentFilter {
                ci: Some(ci.into()),
                ..Default::default()
            };
            list_incidents(store, &filter, None, 10)
                .unwrap()
                .items
                .len()
        };
        assert_eq!((on("ci-000001"), on("ci-000002")), (0, 1));
        let entries: Vec<(String, String, String)> = history(store, &incident.id)
            .unwrap()
            .into_iter()
            .skip(1)
            .map(|e| (e.field, e.old.to_string(), e.new.to_string()))
            .collect();
        assert_eq!(
            entries,
            [
                ("affected_cis".into(), "[]".into(), "[\"ci-000002\"]".into()),
                ("affected_cis".into(), "[\"ci-000001\"]".into(), "[]".into()),
            ]
        );
    }

    #[test]
    fn adding_a_ci_to_a_change_reports_window_overlaps() {
        let store = memory();
        let store = store.as_ref();
        let dir = directory();
        let window = PlannedWindow {
            start: at(0),
            end: at(60),
        };
        let request = |cis: &[&str]| NewChange {
            title: "patch".into(),
            description: None,
            change_type: ChangeType::Normal,
            risk: Risk::Low,
            window: Some(window),
            implementation_plan: Some("apply".into()),
            backout_plan: Some("revert".into()),
            affected_cis: cis.iter().map(|c| c.to_string()).collect(),
        };
        let first = create_change(store, &dir, &agent(), request(&["ci-000004"]), T0)
            .unwrap()
            .record;
        crate::itsm::change::transition_change(
            store,
            &agent(),
            &first.id,
            crate::itsm::change::ChangeTransition {
                to: ChangeState::Assessment,
                note: None,
            },
            at(1),
        )
        .unwrap();
        let second = create_change(store, &dir, &agent(), request(&[]), T0).unwrap();
        assert_eq!(second.warnings, []);
        let added = add_ci(store, &dir, &agent(), &second.record.id, "ci-000004", at(2)).unwrap();
        assert_eq!(added.warnings.len(), 1);
        assert_eq!(added.warnings[0].record.as_deref(), Some(first.id.as_str()));
        let error = add_ci(store, &dir, &agent(), "UAC-000001", "ci-000004", at(2)).unwrap_err();
        assert!(matches!(error, ItsmError::BadId { .. }));
    }
}

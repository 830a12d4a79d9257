//! Incidents (`INC-000123`): an interruption or degradation of a service, linked to the CIs it touches.
//!
//! State machine (see `docs/itsm.md` for the table):
//! New → In progress / On hold / Resolved / Cancelled; In progress ⇄ On hold; In progress / On hold →
//! Resolved / Cancelled; Resolved → In progress (reopen) / Closed. Closed and Cancelled are final.
//! Resolving needs a resolution code and notes; reopening clears them (the history keeps them).
//! Priority is derived from impact and urgency ([`priority`](super::priority)).

use super::priority::{Level, Priority, priority};
use super::record::{self, Record};
use super::{
    Actor, CiDirectory, ItsmError, Page, Result, StateChange, check_transition, clean,
    required_text,
};
use crate::itsm::numbering::RecordKind;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

pub const SPACE_INCIDENTS: &str = "itsm_incidents";
const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    New,
    InProgress,
    OnHold,
    Resolved,
    Closed,
    Cancelled,
}

impl IncidentState {
    pub const ALL: [IncidentState; 6] = [
        IncidentState::New,
        IncidentState::InProgress,
        IncidentState::OnHold,
        IncidentState::Resolved,
        IncidentState::Closed,
        IncidentState::Cancelled,
    ];

    /// The states this one may move to.
    pub fn allowed_next(self) -> &'static [IncidentState] {
        use IncidentState::*;
        match self {
            New => &[InProgress, OnHold, Resolved, Cancelled],
            InProgress => &[OnHold, Resolved, Cancelled],
            OnHold => &[InProgress, Resolved, Cancelled],
            Resolved => &[InProgress, Closed],
            Closed | Cancelled => &[],
        }
    }

    /// Not resolved, closed or cancelled: someone still has work to do.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            IncidentState::New | IncidentState::InProgress | IncidentState::OnHold
        )
    }

    pub fn key(self) -> &'static str {
        match self {
            IncidentState::New => "new",
            IncidentState::InProgress => "in_progress",
            IncidentState::OnHold => "on_hold",
            IncidentState::Resolved => "resolved",
            IncidentState::Closed => "closed",
            IncidentState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for IncidentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IncidentState::New => "New",
            IncidentState::InProgress => "In progress",
            IncidentState::OnHold => "On hold",
            IncidentState::Resolved => "Resolved",
            IncidentState::Closed => "Closed",
            IncidentState::Cancelled => "Cancelled",
        })
    }
}

/// How an incident was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionCode {
    SolvedPermanently,
    SolvedWorkaround,
    SolvedRemotely,
    NotReproducible,
    TooCostly,
    ResolvedByCaller,
    Duplicate,
}

/// Who may read a note: `public` comments are shown to the caller, `internal` work notes are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub text: String,
    pub visibility: Visibility,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub caller: Option<String>,
    pub assignee: Option<String>,
    pub assignment_group: Option<String>,
    pub impact: Level,
    pub urgency: Level,
    /// Derived from impact and urgency; never set directly.
    pub priority: Priority,
    pub state: IncidentState,
    pub affected_cis: Vec<String>,
    /// The problem this incident is grouped under.
    pub problem: Option<String>,
    pub resolution_code: Option<ResolutionCode>,
    pub resolution_notes: Option<String>,
    pub notes: Vec<Note>,
    pub state_changes: Vec<StateChange<IncidentState>>,
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

impl Record for Incident {
    const KIND: RecordKind = RecordKind::Incident;
    const SPACE: &'static str = SPACE_INCIDENTS;
    fn id(&self) -> &str {
        &self.id
    }
    fn cis(&self) -> &[String] {
        &self.affected_cis
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
pub struct NewIncident {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub assignment_group: Option<String>,
    pub impact: Level,
    pub urgency: Level,
    #[serde(default)]
    pub affected_cis: Vec<String>,
}

/// Fields to change; absent fields stay as they are, `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub caller: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub assignment_group: Option<Option<String>>,
    #[serde(default)]
    pub impact: Option<Level>,
    #[serde(default)]
    pub urgency: Option<Level>,
}

/// Tells a field sent as `null` (`Some(None)`: clear it) from an absent one (`None`: keep it).
pub(crate) fn present<'de, D, T>(
    deserializer: D,
) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentTransition {
    pub to: IncidentState,
    /// Required to resolve.
    #[serde(default)]
    pub resolution_code: Option<ResolutionCode>,
    /// Required to resolve.
    #[serde(default)]
    pub resolution_notes: Option<String>,
    /// Why (e.g. what the incident waits for when put on hold).
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub text: String,
    pub visibility: Visibility,
}

/// Which incidents [`list_incidents`] returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentFilter {
    pub state: Option<IncidentState>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub ci: Option<String>,
    /// Case-insensitive substring of the title.
    pub text: Option<String>,
}

impl IncidentFilter {
    fn matches(&self, incident: &Incident) -> bool {
        self.state.is_none_or(|s| s == incident.state)
            && self.priority.is_none_or(|p| p == incident.priority)
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| incident.assignee.as_ref() == Some(a))
            && self
                .ci
                .as_ref()
                .is_none_or(|ci| incident.affected_cis.contains(ci))
            && self
                .text
                .as_ref()
                .is_none_or(|text| incident.title.to_lowercase().contains(&text.to_lowercase()))
    }
}

/// Checks that every CI in `cis` exists and returns them deduplicated, in the order given.
pub(crate) fn known_cis(dir: &dyn CiDirectory, cis: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for ci in cis {
        let ci = ci.trim();
        if !dir.exists(ci)? {
            return Err(ItsmError::UnknownCi { ci: ci.to_string() });
        }
        if !out.iter().any(|known| known == ci) {
            out.push(ci.to_string());
        }
    }
    Ok(out)
}

pub fn create_incident(
    store: &dyn Store,
    dir: &dyn CiDirectory,
    actor: &Actor,
    request: NewIncident,
    now: OffsetDateTime,
) -> Result<Incident> {
    let title = required_text("new incident", "title", &request.title, TITLE_MAX)?;
    let cis = known_cis(dir, &request.affected_cis)?;
    record::create(store, actor, "incident.create", now, |id| {
        Ok(Incident {
            id,
            title,
            description: clean(request.description),
            caller: clean(request.caller),
            assignee: clean(request.assignee),
            assignment_group: clean(request.assignment_group),
            impact: request.impact,
            urgency: request.urgency,
            priority: priority(request.impact, request.urgency),
            state: IncidentState::New,
            affected_cis: cis,
            problem: None,
            resolution_code: None,
            resolution_notes: None,
            notes: Vec::new(),
            state_changes: Vec::new(),
            opened_by: actor.name.clone(),
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            closed_at: None,
        })
    })
}

pub fn get_incident(store: &dyn Store, id: &str) -> Result<Incident> {
    record::load(store, id)
}

fn ensure_not_final(incident: &Incident) -> Result<()> {
    if incident.state.allowed_next().is_empty() {
        return Err(ItsmError::Final {
            record: incident.id.clone(),
            state: incident.state.to_string(),
        });
    }
    Ok(())
}

pub fn update_incident(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    update: IncidentUpdate,
    now: OffsetDateTime,
) -> Result<Incident> {
    record::modify(
        store,
        actor,
        id,
        "incident.update",
        now,
        |incident: &mut Incident| {
            ensure_not_final(incident)?;
            if let Some(title) = update.title {
                incident.title = required_text(id, "title", &title, TITLE_MAX)?;
            }
            if let Some(description) = update.description {
                incident.description = clean(description);
            }
            if let Some(caller) = update.caller {
                incident.caller = clean(caller);
            }
            if let Some(assignee) = update.assignee {
                incident.assignee = clean(assignee);
            }
            if let Some(group) = update.assignment_group {
                incident.assignment_group = clean(group);
            }
            incident.impact = update.impact.unwrap_or(incident.impact);
            incident.urgency = update.urgency.unwrap_or(incident.urgency);
            incident.priority = priority(incident.impact, incident.urgency);
            Ok(None)
        },
    )
}

pub fn transition_incident(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    request: IncidentTransition,
    now: OffsetDateTime,
) -> Result<Incident> {
    record::modify(
        store,
        actor,
        id,
        "incident.transition",
        now,
        |incident: &mut Incident| {
            let from = incident.state;
            let to = request.to;
            check_transition(id, from, to, from.allowed_next())?;
            match to {
                IncidentState::Resolved => {
                    let code = request.resolution_code.ok_or_else(|| ItsmError::Invalid {
                        record: id.to_string(),
                        message: "resolving needs a resolution_code".to_string(),
                    })?;
                    let notes =
                        clean(request.resolution_notes).ok_or_else(|| ItsmError::Invalid {
                            record: id.to_string(),
                            message: "resolving needs resolution_notes saying what was done"
                                .to_string(),
                        })?;
                    incident.resolution_code = Some(code);
                    incident.resolution_notes =
                        Some(required_text(id, "resolution_notes", &notes, TEXT_MAX)?);
                    incident.resolved_at = Some(now);
                }
                IncidentState::InProgress if from == IncidentState::Resolved => {
                    incident.resolution_code = None;
                    incident.resolution_notes = None;
                    incident.resolved_at = None;
                }
                IncidentState::Closed | IncidentState::Cancelled => incident.closed_at = Some(now),
                _ => {}
            }
            incident.state = to;
            incident.state_changes.push(StateChange {
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

/// Adds a public comment or an internal work note.
pub fn add_incident_note(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    note: NewNote,
    now: OffsetDateTime,
) -> Result<Incident> {
    let text = required_text(id, "note text", &note.text, TEXT_MAX)?;
    let action = match note.visibility {
        Visibility::Public => "incident.comment",
        Visibility::Internal => "incident.work_note",
    };
    record::modify(store, actor, id, action, now, |incident: &mut Incident| {
        ensure_not_final(incident)?;
        incident.notes.push(Note {
            author: actor.name.clone(),
            at: now,
            text,
            visibility: note.visibility,
        });
        Ok(None)
    })
}

/// Incidents matching `filter`, newest first; `cursor` is the last id of the previous page.
pub fn list_incidents(
    store: &dyn Store,
    filter: &IncidentFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Incident>> {
    let narrow = match (&filter.ci, filter.state) {
        (Some(ci), _) => Some(record::Narrow::Ci(ci.clone())),
        (None, Some(state)) => Some(record::Narrow::State(state.key())),
        (None, None) => None,
    };
    record::list(store, cursor, limit, narrow, |i: &Incident| {
        filter.matches(i)
    })
}

/// Open incidents (New, In progress, On hold) about `ci`, newest first.
pub fn open_incidents_on(store: &dyn Store, ci: &str) -> Result<Vec<Incident>> {
    let numbers = record::numbers_for_ci::<Incident>(store, ci)?;
    let mut incidents: Vec<Incident> = record::load_all(store, &numbers)?;
    incidents.retain(|i| i.state.is_open());
    incidents.reverse();
    Ok(incidents)
}

#[cfg(test)]
#[path = "incident_tests.rs"]
mod tests;

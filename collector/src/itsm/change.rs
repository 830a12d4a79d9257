//! Changes (`CHG-000045`): planned work on CIs, approved before it is done.
//!
//! Three types, following ITIL:
//! - normal: Draft → Assessment → Approved / Rejected → Scheduled → Implementing → Review → Closed;
//! - emergency: as normal, but an approved emergency change may go straight to Implementing;
//! - standard: pre-approved, so Draft → Scheduled directly (no Assessment, no approval).
//!
//! Assessment → Draft sends a change back for rework; Rejected → Draft revises it, Rejected → Closed ends
//! it. Anything before Implementing may be Cancelled. Approving and rejecting need an approver
//! ([`Role::can_approve`](super::Role::can_approve)); submitting needs both plans; scheduling and
//! implementing need a planned window. Plans, risk and texts are editable in Draft and Assessment; the
//! window also in Approved and Scheduled (rescheduling). A window that overlaps another active change on
//! the same CI is allowed but answered with a `window_overlap` warning naming the other change.

pub use super::collision::collisions;
use super::incident::{Incident, present};
use super::record::{self, Record};
use super::{
    Actor, ItsmError, Outcome, Page, Result, StateChange, check_transition, clean, optional_text,
    required_text,
};
use crate::itsm::CiDirectory;
use crate::itsm::incident::known_cis;
use crate::itsm::numbering::RecordKind;
use crate::store::{Batch, Store};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

pub const SPACE_CHANGES: &str = "itsm_changes";
const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    Standard,
    Normal,
    Emergency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Moderate,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    Draft,
    Assessment,
    Approved,
    Rejected,
    Scheduled,
    Implementing,
    Review,
    Closed,
    Cancelled,
}

impl ChangeState {
    pub const ALL: [ChangeState; 9] = [
        ChangeState::Draft,
        ChangeState::Assessment,
        ChangeState::Approved,
        ChangeState::Rejected,
        ChangeState::Scheduled,
        ChangeState::Implementing,
        ChangeState::Review,
        ChangeState::Closed,
        ChangeState::Cancelled,
    ];

    /// The states a change of type `change_type` may move to from this one.
    pub fn allowed_next(self, change_type: ChangeType) -> &'static [ChangeState] {
        use ChangeState::*;
        match (change_type, self) {
            (ChangeType::Standard, Draft) => &[Scheduled, Cancelled],
            // A standard change never enters these; nothing leads out of them.
            (ChangeType::Standard, Assessment | Approved | Rejected) => &[],
            (_, Draft) => &[Assessment, Cancelled],
            (_, Assessment) => &[Draft, Approved, Rejected, Cancelled],
            (ChangeType::Emergency, Approved) => &[Scheduled, Implementing, Cancelled],
            (_, Approved) => &[Scheduled, Cancelled],
            (_, Rejected) => &[Draft, Closed],
            (_, Scheduled) => &[Implementing, Cancelled],
            (_, Implementing) => &[Review],
            (_, Review) => &[Closed],
            (_, Closed | Cancelled) => &[],
        }
    }

    /// Work is planned or under way: its window counts for collisions.
    pub fn is_active(self) -> bool {
        use ChangeState::*;
        matches!(
            self,
            Assessment | Approved | Scheduled | Implementing | Review
        )
    }

    /// The change was authorized: a discovered change inside its window is expected.
    pub fn authorizes(self) -> bool {
        use ChangeState::*;
        matches!(self, Approved | Scheduled | Implementing | Review | Closed)
    }

    pub fn key(self) -> &'static str {
        use ChangeState::*;
        match self {
            Draft => "draft",
            Assessment => "assessment",
            Approved => "approved",
            Rejected => "rejected",
            Scheduled => "scheduled",
            Implementing => "implementing",
            Review => "review",
            Closed => "closed",
            Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ChangeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key();
        let mut chars = key.chars();
        if let Some(first) = chars.next() {
            write!(f, "{}{}", first.to_ascii_uppercase(), chars.as_str())?;
        }
        Ok(())
    }
}

/// When the work is planned: `start <= t < end`; `end` is after `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWindow {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl PlannedWindow {
    /// Half-open windows overlap when each starts before the other ends (touching ones do not).
    pub fn overlaps(&self, other: &PlannedWindow) -> bool {
        self.start < other.end && other.start < self.end
    }

    fn check(&self, record: &str) -> Result<()> {
        if self.end <= self.start {
            return Err(ItsmError::Invalid {
                record: record.to_string(),
                message: format!(
                    "the planned window ends at {} but starts at {}; the end must be after the start",
                    rfc3339(self.end),
                    rfc3339(self.start)
                ),
            });
        }
        Ok(())
    }
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// How an incident relates to a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentRelation {
    /// The incident was caused by this change.
    CausedBy,
    /// This change resolves the incident.
    Resolves,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentLink {
    pub incident: String,
    pub relation: IncidentRelation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub change_type: ChangeType,
    pub state: ChangeState,
    pub risk: Risk,
    pub window: Option<PlannedWindow>,
    pub implementation_plan: Option<String>,
    pub backout_plan: Option<String>,
    pub affected_cis: Vec<String>,
    pub related_incidents: Vec<IncidentLink>,
    pub requested_by: String,
    /// Who approved or rejected it, when, and why.
    pub approver: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decision_note: Option<String>,
    pub state_changes: Vec<StateChange<ChangeState>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

/// A change's state and window, kept beside it (`itsm_change_windows`, by change number): all the
/// unauthorized-change check needs to know whether the change covers a report. The check runs on
/// every changed report; reading the whole change instead meant parsing every CI it lists, and a
/// standing change for routine updates lists the fleet (20,000 CIs halved the report rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWindow {
    pub state: ChangeState,
    pub window: Option<PlannedWindow>,
}

pub const SPACE_WINDOWS: &str = "itsm_change_windows";

impl ChangeWindow {
    pub fn of(change: &Change) -> ChangeWindow {
        ChangeWindow {
            state: change.state,
            window: change.window,
        }
    }
}

/// The state and window of every change on `ci`, lowest number first. A change written before these
/// were kept beside it is read whole.
pub fn windows_on(store: &dyn Store, ci: &str) -> Result<Vec<ChangeWindow>> {
    let mut windows = Vec::new();
    for number in record::numbers_for_ci::<Change>(store, ci)? {
        let window = match store.get(SPACE_WINDOWS, &number.to_be_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| ItsmError::Corrupt {
                space: SPACE_WINDOWS.to_string(),
                key: number.to_string(),
                message: error.to_string(),
            })?,
            None => match record::load_number::<Change>(store, number)? {
                Some(change) => ChangeWindow::of(&change),
                None => continue,
            },
        };
        windows.push(window);
    }
    Ok(windows)
}

impl Record for Change {
    const KIND: RecordKind = RecordKind::Change;
    const SPACE: &'static str = SPACE_CHANGES;
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
    fn stage_beside(&self, number: u64, batch: &mut Batch) {
        // A plain struct of enums and times always serialises.
        let summary = serde_json::to_vec(&ChangeWindow::of(self)).unwrap_or_default();
        batch.put(SPACE_WINDOWS, number.to_be_bytes().to_vec(), summary);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChange {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub change_type: ChangeType,
    pub risk: Risk,
    #[serde(default)]
    pub window: Option<PlannedWindow>,
    #[serde(default)]
    pub implementation_plan: Option<String>,
    #[serde(default)]
    pub backout_plan: Option<String>,
    #[serde(default)]
    pub affected_cis: Vec<String>,
}

/// Fields to change; absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeUpdate {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub risk: Option<Risk>,
    #[serde(default, deserialize_with = "present")]
    pub window: Option<Option<PlannedWindow>>,
    #[serde(default, deserialize_with = "present")]
    pub implementation_plan: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub backout_plan: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeTransition {
    pub to: ChangeState,
    /// Why; kept as the decision note when approving or rejecting.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeFilter {
    pub state: Option<ChangeState>,
    pub change_type: Option<ChangeType>,
    pub risk: Option<Risk>,
    pub ci: Option<String>,
    /// Case-insensitive substring of the title.
    pub text: Option<String>,
}

impl ChangeFilter {
    fn matches(&self, change: &Change) -> bool {
        self.state.is_none_or(|s| s == change.state)
            && self.change_type.is_none_or(|t| t == change.change_type)
            && self.risk.is_none_or(|r| r == change.risk)
            && self
                .ci
                .as_ref()
                .is_none_or(|ci| change.affected_cis.contains(ci))
            && self
                .text
                .as_ref()
                .is_none_or(|text| change.title.to_lowercase().contains(&text.to_lowercase()))
    }
}

pub fn create_change(
    store: &dyn Store,
    dir: &dyn CiDirectory,
    actor: &Actor,
    request: NewChange,
    now: OffsetDateTime,
) -> Result<Outcome<Change>> {
    let title = required_text("new change", "title", &request.title, TITLE_MAX)?;
    if let Some(window) = &request.window {
        window.check("new change")?;
    }
    let cis = known_cis(dir, &request.affected_cis)?;
    let description = optional_text("new change", "description", request.description, TEXT_MAX)?;
    let implementation_plan = optional_text(
        "new change",
        "implementation_plan",
        request.implementation_plan,
        TEXT_MAX,
    )?;
    let backout_plan = optional_text("new change", "backout_plan", request.backout_plan, TEXT_MAX)?;
    let change = record::create(store, actor, "change.create", now, |id| {
        Ok(Change {
            id,
            title,
            description,
            change_type: request.change_type,
            state: ChangeState::Draft,
            risk: request.risk,
            window: request.window,
            implementation_plan,
            backout_plan,
            affected_cis: cis,
            related_incidents: Vec::new(),
            requested_by: actor.name.clone(),
            approver: None,
            decided_at: None,
            decision_note: None,
            state_changes: Vec::new(),
            created_at: now,
            updated_at: now,
            closed_at: None,
        })
    })?;
    let warnings = collisions(store, &change)?;
    Ok(Outcome {
        record: change,
        warnings,
    })
}

pub fn get_change(store: &dyn Store, id: &str) -> Result<Change> {
    record::load(store, id)
}

fn only_in(change: &Change, field: &str, states: &[ChangeState]) -> Result<()> {
    if states.contains(&change.state) {
        return Ok(());
    }
    let names: Vec<String> = states.iter().map(ToString::to_string).collect();
    Err(ItsmError::Invalid {
        record: change.id.clone(),
        message: format!(
            "{field} can only change in {}; the change is {}",
            names.join(", "),
            change.state
        ),
    })
}

const CONTENT_STATES: &[ChangeState] = &[ChangeState::Draft, ChangeState::Assessment];
const WINDOW_STATES: &[ChangeState] = &[
    ChangeState::Draft,
    ChangeState::Assessment,
    ChangeState::Approved,
    ChangeState::Scheduled,
];

pub fn update_change(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    update: ChangeUpdate,
    now: OffsetDateTime,
) -> Result<Outcome<Change>> {
    let change = record::modify(
        store,
        actor,
        id,
        "change.update",
        now,
        |change: &mut Change| {
            if let Some(title) = update.title {
                only_in(change, "title", CONTENT_STATES)?;
                change.title = required_text(id, "title", &title, TITLE_MAX)?;
            }
            if let Some(description) = update.description {
                only_in(change, "description", CONTENT_STATES)?;
                change.description = optional_text(id, "description", description, TEXT_MAX)?;
            }
            if let Some(risk) = update.risk {
                only_in(change, "risk", CONTENT_STATES)?;
                change.risk = risk;
            }
            if let Some(plan) = update.implementation_plan {
                only_in(change, "implementation_plan", CONTENT_STATES)?;
                change.implementation_plan =
                    optional_text(id, "implementation_plan", plan, TEXT_MAX)?;
            }
            if let Some(plan) = update.backout_plan {
                only_in(change, "backout_plan", CONTENT_STATES)?;
                change.backout_plan = optional_text(id, "backout_plan", plan, TEXT_MAX)?;
            }
            if let Some(window) = update.window {
                only_in(change, "window", WINDOW_STATES)?;
                if let Some(window) = &window {
                    window.check(id)?;
                }
                if window.is_none() && change.state == ChangeState::Scheduled {
                    return Err(ItsmError::Invalid {
                        record: id.to_string(),
                        message: "a scheduled change needs its window; set a new one instead"
                            .into(),
                    });
                }
                change.window = window;
            }
            Ok(None)
        },
    )?;
    let warnings = collisions(store, &change)?;
    Ok(Outcome {
        record: change,
        warnings,
    })
}

fn require(change: &Change, what: &str, value: &Option<impl Sized>, doing: &str) -> Result<()> {
    if value.is_none() {
        return Err(ItsmError::Invalid {
            record: change.id.clone(),
            message: format!("{doing} needs {what}; set it first"),
        });
    }
    Ok(())
}

pub fn transition_change(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    request: ChangeTransition,
    now: OffsetDateTime,
) -> Result<Outcome<Change>> {
    let to = request.to;
    let change = record::modify(
        store,
        actor,
        id,
        "change.transition",
        now,
        |change: &mut Change| {
            let from = change.state;
            check_transition(id, from, to, from.allowed_next(change.change_type))?;
            let note = clean(request.note);
            match to {
                ChangeState::Approved | ChangeState::Rejected => {
                    if !actor.role.can_approve() {
                        return Err(ItsmError::Forbidden {
                            actor: actor.name.clone(),
                            role: actor.role.name().to_string(),
                            action: format!("moving {id} to {to}"),
                        });
                    }
                    change.approver = Some(actor.name.clone());
                    change.decided_at = Some(now);
                    change.decision_note.clone_from(&note);
                }
                ChangeState::Assessment => {
                    require(
                        change,
                        "an implementation_plan",
                        &change.implementation_plan,
                        "submitting",
                    )?;
                    require(change, "a backout_plan", &change.backout_plan, "submitting")?;
                }
                ChangeState::Scheduled | ChangeState::Implementing => {
                    let doing = if to == ChangeState::Scheduled {
                        "scheduling"
                    } else {
                        "implementing"
                    };
                    require(
                        change,
                        "an implementation_plan",
                        &change.implementation_plan,
                        doing,
                    )?;
                    require(change, "a backout_plan", &change.backout_plan, doing)?;
                    require(change, "a planned window", &change.window, doing)?;
                }
                ChangeState::Draft => {
                    // Revising clears the earlier decision: the change must be decided again.
                    change.approver = None;
                    change.decided_at = None;
                    change.decision_note = None;
                }
                ChangeState::Closed | ChangeState::Cancelled => change.closed_at = Some(now),
                ChangeState::Review => {}
            }
            change.state = to;
            change.state_changes.push(StateChange {
                from,
                to,
                by: actor.name.clone(),
                at: now,
                note,
            });
            Ok(Some(format!("{from} -> {to}")))
        },
    )?;
    let warnings = if matches!(to, ChangeState::Scheduled | ChangeState::Implementing) {
        collisions(store, &change)?
    } else {
        Vec::new()
    };
    Ok(Outcome {
        record: change,
        warnings,
    })
}

/// Links an incident to a change (allowed in every state: a cause is often found after closure).
pub fn link_change_incident(
    store: &dyn Store,
    actor: &Actor,
    change_id: &str,
    incident_id: &str,
    relation: IncidentRelation,
    now: OffsetDateTime,
) -> Result<Change> {
    record::load::<Incident>(store, incident_id)?;
    record::modify(
        store,
        actor,
        change_id,
        "change.link_incident",
        now,
        |change: &mut Change| {
            let link = IncidentLink {
                incident: incident_id.to_string(),
                relation,
            };
            if change.related_incidents.contains(&link) {
                return Err(ItsmError::Invalid {
                    record: change_id.to_string(),
                    message: format!("{incident_id} is already linked this way"),
                });
            }
            change.related_incidents.push(link);
            Ok(Some(format!("{incident_id} {relation:?}")))
        },
    )
}

pub fn unlink_change_incident(
    store: &dyn Store,
    actor: &Actor,
    change_id: &str,
    incident_id: &str,
    now: OffsetDateTime,
) -> Result<Change> {
    record::modify(
        store,
        actor,
        change_id,
        "change.unlink_incident",
        now,
        |change: &mut Change| {
            let before = change.related_incidents.len();
            change
                .related_incidents
                .retain(|link| link.incident != incident_id);
            if change.related_incidents.len() == before {
                return Err(ItsmError::Invalid {
                    record: change_id.to_string(),
                    message: format!("{incident_id} is not linked to it"),
                });
            }
            Ok(Some(incident_id.to_string()))
        },
    )
}

pub fn list_changes(
    store: &dyn Store,
    filter: &ChangeFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Change>> {
    let narrow = match (&filter.ci, filter.state) {
        (Some(ci), _) => Some(record::Narrow::Ci(ci.clone())),
        (None, Some(state)) => Some(record::Narrow::State(state.key())),
        (None, None) => None,
    };
    record::list(store, cursor, limit, narrow, |c: &Change| filter.matches(c))
}

/// Every change about `ci`, oldest first.
pub fn changes_on(store: &dyn Store, ci: &str) -> Result<Vec<Change>> {
    let numbers = record::numbers_for_ci::<Change>(store, ci)?;
    record::load_all(store, &numbers)
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;

//! The incident detail page: the record, one form per legal state transition, and its context:
//! affected hardware, recent discovered and planned changes, other open incidents, and the impact on
//! dependent CIs as a nested list (each CI under the one it depends on).

use super::WebUser;
use super::dashboard::priority_badge;
use super::incidents::state_tone;
use super::page::{self, HtmlPage};
use crate::api::itsm::Permission;
use crate::itsm::context::{CiContext, IncidentContext};
use crate::itsm::impact::{Impact, ImpactedCi};
use crate::itsm::incident::{Incident, IncidentState};
use crate::itsm::relationship::RelationKind;
use maud::{Markup, html};

/// Resolution codes offered when resolving: (value, label).
const RESOLUTION_CODES: [(&str, &str); 7] = [
    ("solved_permanently", "Solved permanently"),
    ("solved_workaround", "Solved with a workaround"),
    ("solved_remotely", "Solved remotely"),
    ("not_reproducible", "Not reproducible"),
    ("too_costly", "Too costly to fix"),
    ("resolved_by_caller", "Resolved by the caller"),
    ("duplicate", "Duplicate"),
];

fn action_label(from: IncidentState, to: IncidentState) -> String {
    match (from, to) {
        (IncidentState::Resolved, IncidentState::InProgress) => "Reopen".to_string(),
        (_, IncidentState::InProgress) => "Start work".to_string(),
        (_, IncidentState::OnHold) => "Put on hold".to_string(),
        (_, IncidentState::Resolved) => "Resolve".to_string(),
        (_, IncidentState::Closed) => "Close".to_string(),
        (_, IncidentState::Cancelled) => "Cancel incident".to_string(),
        (_, to) => format!("Move to {to}"),
    }
}

/// One form per state the incident may move to; resolving asks for a code and notes.
fn transitions(user: &WebUser, incident: &Incident) -> Markup {
    let next = incident.state.allowed_next();
    let action = format!("/incidents/{}/transition", incident.id);
    html! {
        section.card aria-labelledby="actions" {
            h2 id="actions" { "Actions" }
            @if next.is_empty() {
                p.muted { "This incident is " (incident.state.to_string()) "; it can no longer change." }
            } @else if !user.can(Permission::WriteIncidents) {
                p.muted { "Moving incidents needs the service desk or admin role." }
            } @else {
                div.actions {
                    @for to in next.iter().filter(|to| **to != IncidentState::Resolved) {
                        form method="post" action=(action) {
                            (page::csrf(user))
                            input type="hidden" name="to" value=(to.key());
                            button type="submit" class=(if *to == IncidentState::Cancelled { "danger" } else { "" }) {
                                (action_label(incident.state, *to))
                            }
                        }
                    }
                }
                @if next.contains(&IncidentState::Resolved) {
                    details.resolve {
                        summary { "Resolve…" }
                        form.stack method="post" action=(action) {
                            (page::csrf(user))
                            input type="hidden" name="to" value="resolved";
                            label for="resolution_code" { "Resolution code" }
                            select id="resolution_code" name="resolution_code" required {
                                @for (value, label) in RESOLUTION_CODES { option value=(value) { (label) } }
                            }
                            label for="resolution_notes" { "What was done" }
                            textarea id="resolution_notes" name="resolution_notes" rows="3" required {}
                            button.primary type="submit" { "Resolve" }
                        }
                    }
                }
            }
        }
    }
}

fn hardware(ci: &CiContext) -> Markup {
    html! {
        article.ci aria-labelledby={ "hw-" (ci.ci) } {
            h3 id={ "hw-" (ci.ci) } {
                a href={ "/assets/" (ci.ci) } { (ci.summary.as_ref().and_then(|s| s.name.clone()).unwrap_or_else(|| ci.ci.clone())) }
                " " span.muted.small { (ci.ci) }
            }
            @match &ci.summary {
                None => p.muted { "The CMDB holds no summary for this CI." },
                Some(summary) => {
                    table.kv {
                        caption.sr { "Hardware of " (ci.ci) }
                        tbody {
                            tr { th scope="row" { "Model" } td { (page::opt(summary.vendor.as_deref())) " " (summary.model.as_deref().unwrap_or_default()) } }
                            tr { th scope="row" { "Serial" } td { (page::opt(summary.serial.as_deref())) } }
                            tr { th scope="row" { "OS" } td { (page::opt(summary.os.as_deref())) } }
                            tr { th scope="row" { "CPU" } td {
                                (page::opt(summary.cpu_model.as_deref()))
                                @if let Some(cores) = summary.cpu_cores { " · " (cores) " cores" }
                            } }
                            tr { th scope="row" { "Memory" } td { (page::opt(summary.memory_bytes.map(page::bytes).as_deref())) } }
                            tr { th scope="row" { "Disk" } td { (page::opt(summary.disk_bytes.map(page::bytes).as_deref())) } }
                        }
                    }
                }
            }
            @if !ci.discovered_changes.is_empty() {
                h4 { "Discovered changes" }
                ul.plain.changes {
                    @for change in &ci.discovered_changes {
                        li {
                            time datetime=(page::at(change.at)) { (page::at(change.at)) } " · "
                            (page::words(&change.kind)) " " strong { (change.subject) } " "
                            (change.old.as_deref().unwrap_or("none")) " → " (change.new.as_deref().unwrap_or("none"))
                        }
                    }
                }
            }
            @if !ci.planned_changes.is_empty() {
                h4 { "Change records" }
                ul.plain {
                    @for change in &ci.planned_changes {
                        li { a href={ "/changes/" (change.id) } { (change.id) } " " (change.title) " " span.muted { (change.state.to_string()) } }
                    }
                }
            }
            @if !ci.open_incidents.is_empty() {
                h4 { "Other open incidents" }
                ul.plain {
                    @for other in &ci.open_incidents {
                        li { a href={ "/incidents/" (other.id) } { (other.id) } " " (other.title) " " (priority_badge(other.priority)) }
                    }
                }
            }
        }
    }
}

/// How a dependent CI relates to the one above it in the impact tree.
fn impact_label(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::DependsOn => "depends on it:",
        RelationKind::RunsOn => "runs on it:",
        RelationKind::Hosts => "hosted on it:",
        RelationKind::ConnectedTo => "connected to it:",
    }
}

/// The impacted CIs under `parent_path` (the path from an affected CI), nested by dependency.
fn impact_tree(impact: &Impact, names: &Names, parent_path: &[String]) -> Markup {
    let children: Vec<&ImpactedCi> = impact
        .cis
        .iter()
        .filter(|ci| ci.path.len() == parent_path.len() + 1 && ci.path.starts_with(parent_path))
        .collect();
    html! {
        @if !children.is_empty() {
            ul.tree {
                @for child in children {
                    li {
                        span.muted.small { (child.via.last().map(|kind| impact_label(*kind)).unwrap_or_default()) " " }
                        (page::ci_links(std::slice::from_ref(&child.ci), names))
                        (impact_tree(impact, names, &child.path))
                    }
                }
            }
        }
    }
}

fn impact(context: &IncidentContext, names: &Names) -> Markup {
    html! {
        section.card aria-labelledby="impact" {
            h2 id="impact" { "Impact" }
            @if context.impact.cis.is_empty() {
                p.muted { "No other CI depends on the affected ones." }
            } @else {
                p { "Dependent CIs: " (context.impact.cis.len()) "." @if context.impact.truncated { " The walk stopped at its limit; there may be more." } }
                ul.tree {
                    @for ci in &context.incident.affected_cis {
                        li { strong { (page::ci_links(std::slice::from_ref(ci), names)) } "(affected)" (impact_tree(&context.impact, names, std::slice::from_ref(ci))) }
                    }
                }
            }
        }
    }
}

/// CI names by id, for the CIs the page links to.
pub type Names = std::collections::BTreeMap<String, String>;

pub fn render(user: &WebUser, context: &IncidentContext, names: &Names) -> HtmlPage {
    let incident = &context.incident;
    let content = html! {
        p.crumbs { a href="/incidents" { "Incidents" } " / " (incident.id) }
        div.page-head {
            h1 { (incident.id) ": " (incident.title) }
            div { (priority_badge(incident.priority)) " " (page::badge(state_tone(incident.state), &incident.state.to_string())) }
        }
        div.grid.two {
            section.card aria-labelledby="details" {
                h2 id="details" { "Details" }
                dl.facts {
                    div { dt { "State" } dd { (incident.state.to_string()) } }
                    div { dt { "Impact × urgency" } dd { (incident.impact.get()) " × " (incident.urgency.get()) " → " (incident.priority.to_string()) } }
                    div { dt { "Assignee" } dd { (page::opt(incident.assignee.as_deref())) } }
                    div { dt { "Opened" } dd { (page::at(incident.opened_at)) " by " (incident.opened_by) } }
                    @if let Some(notes) = &incident.resolution_notes { div { dt { "Resolution" } dd { (notes) } } }
                }
                @if let Some(description) = &incident.description { p.description { (description) } }
            }
            (transitions(user, incident))
            section.card.wide aria-labelledby="affected" {
                h2 id="affected" { "Affected hardware" }
                @if context.cis.is_empty() { p.muted { "No CI is linked to this incident." } }
                div.cis { @for ci in &context.cis { (hardware(ci)) } }
                p.muted.small { "Changes since " (page::at(context.since)) "." }
            }
            (impact(context, names))
            section.card aria-labelledby="log" {
                h2 id="log" { "State history" }
                @if incident.state_changes.is_empty() { p.muted { "Not moved yet." } }
                ol.timeline {
                    @for change in &incident.state_changes {
                        li { p.when { (page::at(change.at)) " · " (change.from.to_string()) " → " strong { (change.to.to_string()) } " by " (change.by) }
                             @if let Some(note) = &change.note { p { (note) } } }
                    }
                }
            }
        }
    };
    page::shell(user, &incident.id, content)
}

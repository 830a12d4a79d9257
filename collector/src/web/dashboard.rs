//! `/`: the dashboard. Counts of CIs (by status, from the status index keys: no CI is read), stale
//! CIs, open incidents by priority, open unauthorized changes, and the fleet charts ([`super::charts`]).
//!
//! Service-desk counts need the `ReadRecords` permission, as in the JSON API; other roles see the
//! inventory half only.

use super::charts::{self, ChartCache};
use super::page::{self, HtmlPage};
use super::{PageResult, WebUser};
use crate::api::ApiState;
use crate::api::error::ApiError;
use crate::api::itsm::Permission;
use crate::cmdb::SPACE_INDEX;
use crate::cmdb::index::{Tag, value_prefix};
use crate::cmdb::model::Status;
use crate::itsm::MAX_PAGE;
use crate::itsm::incident::{IncidentFilter, IncidentState, list_incidents};
use crate::itsm::priority::Priority;
use crate::itsm::unauthorized::{Flag, FlagStatus};
use crate::store::Store;
use axum::Extension;
use axum::extract::State;
use axum::response::IntoResponse;
use maud::html;
use std::sync::Arc;

/// What the dashboard counts.
#[derive(Debug, Default)]
struct Counts {
    by_status: Vec<(Status, u64)>,
    /// `None` when the user may not read service-desk records.
    incidents: Option<Vec<(Priority, u64)>>,
    unauthorized: Option<u64>,
}

fn count_statuses(store: &dyn Store) -> Result<Vec<(Status, u64)>, ApiError> {
    let mut out = Vec::new();
    for status in Status::ALL {
        let mut n = 0u64;
        for entry in store.scan_prefix(SPACE_INDEX, &value_prefix(Tag::Status, status.as_str())) {
            entry?;
            n += 1;
        }
        out.push((status, n));
    }
    Ok(out)
}

fn count_open_incidents(store: &dyn Store) -> crate::itsm::Result<Vec<(Priority, u64)>> {
    let priorities = [
        Priority::P1,
        Priority::P2,
        Priority::P3,
        Priority::P4,
        Priority::P5,
    ];
    let mut counts = [0u64; 5];
    for state in IncidentState::ALL.into_iter().filter(|s| s.is_open()) {
        let filter = IncidentFilter {
            state: Some(state),
            ..IncidentFilter::default()
        };
        let mut cursor: Option<String> = None;
        loop {
            let page = list_incidents(store, &filter, cursor.as_deref(), MAX_PAGE)?;
            for incident in &page.items {
                if let Some(slot) = priorities.iter().position(|p| *p == incident.priority) {
                    counts[slot] += 1;
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(priorities.into_iter().zip(counts).collect())
}

/// Open unauthorized-change flags, counted from the state index (a fleet may hold hundreds of
/// thousands; decoding each on every dashboard view took seconds at 100,000 CIs).
fn count_open_flags(store: &dyn Store) -> crate::itsm::Result<u64> {
    crate::itsm::record::count_in_state::<Flag>(store, FlagStatus::Open.key())
}

fn priority_tone(priority: Priority) -> &'static str {
    match priority {
        Priority::P1 => "bad",
        Priority::P2 => "warn",
        Priority::P3 => "info",
        Priority::P4 | Priority::P5 => "muted",
    }
}

pub fn priority_badge(priority: Priority) -> maud::Markup {
    page::badge(priority_tone(priority), &priority.to_string())
}

pub async fn show(
    State(state): State<ApiState>,
    Extension(cache): Extension<Arc<ChartCache>>,
    user: WebUser,
) -> PageResult {
    let records = user.can(Permission::ReadRecords);
    let store = state.store.clone();
    let counts = super::blocking(move || {
        let by_status = count_statuses(store.as_ref())?;
        if !records {
            return Ok(Counts {
                by_status,
                ..Counts::default()
            });
        }
        Ok(Counts {
            by_status,
            incidents: Some(count_open_incidents(store.as_ref()).map_err(ApiError::from)?),
            unauthorized: Some(count_open_flags(store.as_ref()).map_err(ApiError::from)?),
        })
    })
    .await?;
    let charts = cache.get(state.cmdb.clone()).await;
    let total: u64 = counts.by_status.iter().map(|(_, n)| n).sum();
    let stale = counts
        .by_status
        .iter()
        .find(|(s, _)| *s == Status::Stale)
        .map_or(0, |(_, n)| *n);
    let open_incidents: Option<u64> = counts
        .incidents
        .as_ref()
        .map(|by| by.iter().map(|(_, n)| n).sum());
    let content = html! {
        h1 { "Dashboard" }
        section.tiles aria-label="Key figures" {
            a.tile href="/assets" {
                span.tile-value { (total) }
                span.tile-label { "Configuration items" }
            }
            a.tile.warn[stale > 0] href={ "/assets" (page::query(&[("q", Some("status=stale"))])) } {
                span.tile-value { (stale) }
                span.tile-label { "Stale CIs (no recent report)" }
            }
            @if let Some(open) = open_incidents {
                a.tile href="/incidents" {
                    span.tile-value { (open) }
                    span.tile-label { "Open incidents" }
                }
            }
            @if let Some(flags) = counts.unauthorized {
                a.tile.bad[flags > 0] href="/reports/unauthorized" {
                    span.tile-value { (flags) }
                    span.tile-label { "Unauthorized changes to review" }
                }
            }
        }
        div.grid.two {
            @match &charts {
                Some(charts) => {
                    section.card {
                        h2 { "Operating systems" }
                        (charts::bar_chart("os-chart", "CIs per operating system version",
                            &format!("Bar chart of {} configuration items by OS name and version.", charts.n_cis), &charts.os))
                    }
                    section.card {
                        h2 { "Hardware age" }
                        (charts::bar_chart("age-chart", "CIs per hardware age",
                            "Bar chart of configuration items by years since the BIOS release date.", &charts.age))
                        p.muted.small {
                            "From the BIOS release date; "
                            (charts.age_estimated) " of " (charts.n_cis)
                            " CIs report none and are counted from their first sighting (a lower bound)."
                            @if let Some(at) = charts.computed_at { " Computed " (page::at(at)) "." }
                        }
                    }
                }
                None => {
                    section.card {
                        h2 { "Fleet charts" }
                        p role="status" { "The OS and hardware-age charts are being computed; reload in a moment." }
                    }
                }
            }
        }
        div.grid.two {
            @if let Some(by_priority) = &counts.incidents {
                section.card {
                    h2 { "Open incidents by priority" }
                    table {
                        caption.sr { "Open incidents (new, in progress, on hold) by priority" }
                        thead { tr { th scope="col" { "Priority" } th.num scope="col" { "Open" } } }
                        tbody {
                            @for (priority, n) in by_priority {
                                tr {
                                    th scope="row" {
                                        a href={ "/incidents" (page::query(&[("priority", Some(&format!("{priority:?}")))])) } {
                                            (priority_badge(*priority))
                                        }
                                    }
                                    td.num { (n) }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "CIs by status" }
                table {
                    caption.sr { "Configuration items by lifecycle status" }
                    thead { tr { th scope="col" { "Status" } th.num scope="col" { "CIs" } } }
                    tbody {
                        @for (status, n) in &counts.by_status {
                            tr {
                                th scope="row" {
                                    a href={ "/assets" (page::query(&[("q", Some(&format!("status={}", status.as_str())))])) } {
                                        (status.as_str().replace('_', " "))
                                    }
                                }
                                td.num { (n) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(&user, content).into_response())
}

fn shell(user: &WebUser, content: maud::Markup) -> HtmlPage {
    page::shell(user, "Dashboard", content)
}

//! Change collisions: another active change planned on the same CI at an overlapping time.
//!
//! Collisions never block a write: the caller gets a `window_overlap` [`Warning`] naming the other change
//! and decides. Active means Assessment, Approved, Scheduled, Implementing or Review
//! ([`ChangeState::is_active`]); windows are half-open, so back-to-back windows do not collide.

use super::change::{Change, ChangeState, changes_on, rfc3339};
use super::{Result, Warning};
use crate::store::Store;

/// One warning per other active change whose window overlaps `change`'s on a shared CI.
pub fn collisions(store: &dyn Store, change: &Change) -> Result<Vec<Warning>> {
    let Some(window) = change.window else {
        return Ok(Vec::new());
    };
    if matches!(
        change.state,
        ChangeState::Rejected | ChangeState::Closed | ChangeState::Cancelled
    ) {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    for ci in &change.affected_cis {
        for other in changes_on(store, ci)? {
            let Some(other_window) = other.window else {
                continue;
            };
            if other.id == change.id || !other.state.is_active() || !window.overlaps(&other_window)
            {
                continue;
            }
            warnings.push(Warning {
                code: "window_overlap".to_string(),
                message: format!(
                    "{} ({}) is also planned on {ci} from {} to {}, overlapping this window",
                    other.id,
                    other.state,
                    rfc3339(other_window.start),
                    rfc3339(other_window.end)
                ),
                record: Some(other.id.clone()),
                ci: Some(ci.clone()),
            });
        }
    }
    Ok(warnings)
}

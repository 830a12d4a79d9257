//! "Last seen" for unchanged check-ins, kept in memory and written in batches.
//!
//! Most of a fleet's traffic is unchanged check-ins (every agent, every hour or more often). Writing
//! each one into its CI header would take the reconcile lock and rewrite a ~1 KB header per check-in,
//! which caps a collector far below the 10,000 check-ins a second it should take. A check-in of a CI
//! that is not stale only records `agent -> time` here; readers see it at once (every header read goes
//! through [`Cmdb::header`], which overlays the pending time), and [`Cmdb::flush_seen`] writes the
//! pending times into the headers in one batch: periodically (`serve`), before stale marking, and at
//! shutdown. A crash loses at most one interval of "last seen" moves, never a report.
//!
//! A check-in from a *stale* CI still takes the locked path at once: it changes the CI's status, which
//! is history and an event, not just a time.

use super::conflicts::to_json;
use super::model::{CiHeader, CiNum, Status, ci_id};
use super::{Cmdb, CmdbResult, SPACE_CI};
use crate::store::Batch;
use std::collections::HashMap;

/// Headers written per batch by [`Cmdb::flush_seen`], so one flush never builds a huge batch.
const FLUSH_CHUNK: usize = 2_000;

/// Agent id -> the latest unchanged check-in time (RFC 3339) not yet in its CI header.
#[derive(Default)]
pub(crate) struct PendingSeen {
    by_agent: HashMap<String, String>,
}

impl PendingSeen {
    fn record(&mut self, agent_id: &str, now: &str) {
        match self.by_agent.get_mut(agent_id) {
            Some(at) if at.as_str() >= now => {}
            Some(at) => now.clone_into(at),
            None => {
                self.by_agent.insert(agent_id.to_string(), now.to_string());
            }
        }
    }

    /// Raises the header's times to the pending ones of its agents (times only move forward).
    pub(crate) fn overlay(&self, header: &mut CiHeader) {
        if self.by_agent.is_empty() {
            return;
        }
        for agent in &mut header.agents {
            if let Some(at) = self.by_agent.get(&agent.agent_id) {
                if *at > agent.last_seen {
                    agent.last_seen.clone_from(at);
                }
                if *at > header.last_seen {
                    header.last_seen.clone_from(at);
                }
            }
        }
    }

    pub(crate) fn forget(&mut self, agent_id: &str) {
        self.by_agent.remove(agent_id);
    }

    pub(crate) fn len(&self) -> usize {
        self.by_agent.len()
    }
}

impl Cmdb {
    /// An unchanged check-in from `agent_id` at `now`: its CI was seen. Returns the CI, if the agent has
    /// one. The CI's last-seen time is recorded in memory, unless the CI is stale: that one is brought
    /// back to `in_use` at once.
    pub fn seen(&self, agent_id: &str, now: &str) -> CmdbResult<Option<String>> {
        let Some(ci) = self.agent_ci(agent_id)? else {
            return Ok(None);
        };
        let Some(header) = self.header(ci)? else {
            return Ok(None);
        };
        if header.status.value == Status::Stale {
            return self.seen_now(ci, agent_id, now);
        }
        self.pending_seen_mut().record(agent_id, now);
        Ok(Some(ci_id(ci)))
    }

    /// The locked path: the header is written now (and a stale CI is in use again).
    fn seen_now(&self, ci: CiNum, agent_id: &str, now: &str) -> CmdbResult<Option<String>> {
        let mut state = self.lock_state();
        let mut tx = self.begin(&state, Batch::new());
        let mut seen = None;
        if let Some(header) = self.header(ci)? {
            self.stage_report(&mut tx, ci, header, agent_id, None, None, now)?;
            seen = Some(ci_id(ci));
        }
        self.finish(&mut state, tx)?;
        Ok(seen)
    }

    /// Writes every pending last-seen time into its CI header; returns how many agents it covered.
    pub fn flush_seen(&self) -> CmdbResult<usize> {
        let pending: Vec<(String, String)> = {
            let seen = self.pending_seen();
            seen.by_agent
                .iter()
                .map(|(agent, at)| (agent.clone(), at.clone()))
                .collect()
        };
        for chunk in pending.chunks(FLUSH_CHUNK) {
            // Under the reconcile lock, so a report staging the same header cannot interleave.
            let _state = self.lock_state();
            let mut batch = Batch::new();
            for (agent_id, _) in chunk {
                let Some(ci) = self.agent_ci(agent_id)? else {
                    continue;
                };
                // The read overlays the pending time: the header written holds it.
                if let Some(header) = self.header(ci)? {
                    batch.put(SPACE_CI, ci.to_be_bytes().to_vec(), to_json(&header));
                }
            }
            self.store.commit(batch)?;
            let mut seen = self.pending_seen_mut();
            for (agent_id, at) in chunk {
                // A newer check-in that arrived meanwhile stays pending.
                if seen.by_agent.get(agent_id) == Some(at) {
                    seen.forget(agent_id);
                }
            }
        }
        Ok(pending.len())
    }

    /// Agents whose last check-in is not yet written to their CI.
    pub fn pending_seen_count(&self) -> usize {
        self.pending_seen().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdb::model::{CiAgent, IdentityExplanation};

    fn header(agents: &[(&str, &str)]) -> CiHeader {
        let mut header: CiHeader = serde_json::from_value(serde_json::json!({
            "id": "ci-000001",
            "status": {"value": "in_use", "source": "agent", "by": "a", "at": "2026-01-01T00:00:00Z"},
            "first_seen": "2026-01-01T00:00:00Z",
            "last_seen": "2026-01-02T00:00:00Z",
            "agents": [],
            "identity": serde_json::to_value(IdentityExplanation {
                rule: None,
                values: Vec::new(),
                notes: Vec::new(),
                agent_id: "a".into(),
                at: "2026-01-01T00:00:00Z".into(),
            })
            .unwrap(),
            "managed": {},
            "inventory_provenance": {"source": "agent", "by": "a", "at": "2026-01-01T00:00:00Z"},
            "identifiers": {},
            "records_since_checkpoint": 0
        }))
        .unwrap();
        header.agents = agents
            .iter()
            .map(|(id, at)| CiAgent {
                agent_id: id.to_string(),
                attached_at: "2026-01-01T00:00:00Z".into(),
                last_seen: at.to_string(),
            })
            .collect();
        header
    }

    #[test]
    fn a_pending_check_in_raises_the_ci_and_agent_times() {
        let mut pending = PendingSeen::default();
        pending.record("a", "2026-01-03T00:00:00Z");
        let mut ci = header(&[("a", "2026-01-02T00:00:00Z"), ("b", "2026-01-02T00:00:00Z")]);
        pending.overlay(&mut ci);
        assert_eq!(ci.last_seen, "2026-01-03T00:00:00Z");
        assert_eq!(ci.agents[0].last_seen, "2026-01-03T00:00:00Z");
        assert_eq!(ci.agents[1].last_seen, "2026-01-02T00:00:00Z");
    }

    #[test]
    fn times_only_move_forward() {
        let mut pending = PendingSeen::default();
        pending.record("a", "2026-01-03T00:00:00Z");
        pending.record("a", "2026-01-01T00:00:00Z");
        assert_eq!(pending.by_agent["a"], "2026-01-03T00:00:00Z");
        // A header already newer than the pending time (a report after the check-in) keeps its time.
        let mut ci = header(&[("a", "2026-01-04T00:00:00Z")]);
        ci.last_seen = "2026-01-04T00:00:00Z".into();
        pending.overlay(&mut ci);
        assert_eq!(ci.last_seen, "2026-01-04T00:00:00Z");
        assert_eq!(ci.agents[0].last_seen, "2026-01-04T00:00:00Z");
    }
}

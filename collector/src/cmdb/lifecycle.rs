//! Lifecycle changes staged into the write path's batch: merging an agent into an existing CI,
//! splitting it off into a CI of its own, and status changes. They share [`Tx`] with `write.rs`.

use super::events::EventKind;
use super::history::Change;
use super::index;
use super::journal::{EntryKind, HistoryEntry, Record};
use super::model::{
    Attributed, CiAgent, CiHeader, CiNum, IdentityExplanation, Provenance, Status, ci_id,
};
use super::patched::ReportInventory;
use super::write::{Tx, to_json};
use super::{Cmdb, CmdbError, CmdbResult, SPACE_AGENTS, SPACE_CI, SPACE_INDEX};
use crate::ingest::SPACE_INVENTORIES;
use census_shared::Inventory;

impl Cmdb {
    /// A person attached `agent_id` to `ci` resolving `conflict`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stage_merge(
        &self,
        tx: &mut Tx,
        ci: CiNum,
        agent_id: &str,
        inventory: &Inventory,
        identity: IdentityExplanation,
        conflict: &str,
        by: &Provenance,
    ) -> CmdbResult<()> {
        let mut header = self
            .header(ci)?
            .ok_or_else(|| CmdbError::UnknownCi(ci_id(ci)))?;
        header.identity = identity;
        header.last_seen = by.at.clone();
        header.agents.retain(|agent| agent.agent_id != agent_id);
        header.agents.push(CiAgent {
            agent_id: agent_id.to_string(),
            attached_at: by.at.clone(),
            last_seen: by.at.clone(),
        });
        tx.batch.put(
            SPACE_AGENTS,
            agent_id.as_bytes().to_vec(),
            ci.to_be_bytes().to_vec(),
        );
        tx.batch
            .delete(SPACE_INVENTORIES, agent_id.as_bytes().to_vec());
        let extra = vec![Change::AgentAttached {
            agent_id: agent_id.to_string(),
        }];
        let (_, record) = self.stage_inventory(
            tx,
            ci,
            &mut header,
            ReportInventory::Full(inventory),
            EntryKind::Merged,
            by,
            extra,
        )?;
        let event = EventKind::Merged {
            agent_id: agent_id.to_string(),
            conflict: conflict.to_string(),
            by: by.clone(),
            changes: Vec::new(),
            record: Some(record),
        };
        self.push_event(tx, &by.at, ci, event);
        tx.batch
            .put(SPACE_CI, ci.to_be_bytes().to_vec(), to_json(&header));
        Ok(())
    }

    /// A person gave `agent_id` a CI of its own resolving `conflict`.
    pub(crate) fn stage_split(
        &self,
        tx: &mut Tx,
        agent_id: &str,
        inventory: &Inventory,
        identity: IdentityExplanation,
        conflict: &str,
        by: &Provenance,
    ) -> CmdbResult<CiNum> {
        self.stage_create(
            tx,
            agent_id,
            ReportInventory::Full(inventory),
            identity,
            &by.at,
            Some((conflict, by)),
        )
    }

    /// Moves the CI to `status`, with a history record and an event.
    pub(crate) fn stage_status(
        &self,
        tx: &mut Tx,
        ci: CiNum,
        header: &mut CiHeader,
        status: Status,
        by: Provenance,
    ) {
        let from = header.status.value;
        if from == status {
            return;
        }
        tx.batch.delete(SPACE_INDEX, index::status_key(from, ci));
        tx.batch
            .put(SPACE_INDEX, index::status_key(status, ci), Vec::new());
        header.status = Attributed {
            value: status,
            provenance: by.clone(),
        };
        let change = Change::StatusChanged {
            from: from.as_str().into(),
            to: status.as_str().into(),
        };
        let entry = HistoryEntry {
            record: 0,
            ci: ci_id(ci),
            at: by.at.clone(),
            kind: EntryKind::StatusChanged,
            source: by.source,
            by: by.by.clone(),
            changes: vec![change],
        };
        self.push_record(
            tx,
            ci,
            header,
            Record {
                entry,
                reverse: None,
                managed_before: None,
            },
            None,
        );
        let at = by.at.clone();
        self.push_event(
            tx,
            &at,
            ci,
            EventKind::StatusChanged {
                from,
                to: status,
                by,
            },
        );
    }
}

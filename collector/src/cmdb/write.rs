//! The write path: a report (or a conflict resolution) staged into one batch under the reconcile lock.
//!
//! [`Tx`] collects the writes and the counter values they consume; [`Cmdb::finish`] adds the counters
//! and any newly interned package records, commits the batch once, and only then publishes the new
//! counters and package postings in memory. A failed commit rolls the interner back, so nothing in
//! memory refers to data that was not written.

use super::events::{self, Event, EventKind};
use super::history::{Change, component_diff};
use super::index;
use super::journal::{self, EntryKind, HistoryEntry, Record};
use super::model::*;
use super::patched::ReportInventory;
use super::reconcile::{Candidates, Decision, Identifiers, decide};
use super::{
    COUNTERS_KEY, CiOutcome, Cmdb, CmdbError, CmdbResult, Counters, SPACE_AGENTS, SPACE_BODY,
    SPACE_CI, SPACE_CONFLICTS, SPACE_EVENTS, SPACE_INDEX, SPACE_META, SPACE_PACKAGES, State, codec,
    conflicts, timetravel,
};
use crate::ingest::SPACE_INVENTORIES;
use crate::store::Batch;
use census_shared::Inventory;
use census_shared::delta;

pub(crate) struct Tx {
    pub batch: Batch,
    counters: Counters,
    package_updates: Vec<(CiNum, Vec<u32>, Vec<u32>)>,
    /// The changes an agent's report recorded in its CI's history: what
    /// [`Cmdb::apply_report_with`]'s `stage_also` is given (the unauthorized-change check).
    report_changes: Vec<Change>,
}

impl Tx {
    fn next_event(&mut self) -> u64 {
        let seq = self.counters.next_event;
        self.counters.next_event += 1;
        seq
    }
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    conflicts::to_json(value)
}

impl Cmdb {
    pub(crate) fn begin(&self, state: &State, batch: Batch) -> Tx {
        Tx {
            batch,
            counters: state.counters,
            package_updates: Vec::new(),
            report_changes: Vec::new(),
        }
    }

    pub(crate) fn finish(&self, state: &mut State, mut tx: Tx) -> CmdbResult<()> {
        let new_records: Vec<(u32, String)> = {
            let interner = self.interner();
            interner
                .pending()
                .map(|(id, package)| {
                    tx.batch
                        .put(SPACE_PACKAGES, id.to_be_bytes().to_vec(), to_json(package));
                    (id, package.name.clone())
                })
                .collect()
        };
        tx.batch
            .put(SPACE_META, COUNTERS_KEY.to_vec(), to_json(&tx.counters));
        if let Err(error) = self.store.commit(tx.batch) {
            self.interner_mut().rollback();
            return Err(error.into());
        }
        self.interner_mut().confirm();
        state.counters = tx.counters;
        let mut packages = self.packages_mut();
        for (id, name) in new_records {
            packages.add_record(id, &name);
        }
        for (ci, old, new) in tx.package_updates {
            packages.update(ci, &old, &new);
        }
        Ok(())
    }

    /// The inventory `agent_id`'s next delta applies to: its CI's latest inventory, or the one kept
    /// while its report waits in a conflict. `None` when the collector holds none (a full report is due).
    pub fn delta_base(&self, agent_id: &str) -> CmdbResult<Option<Inventory>> {
        match self.agent_ci(agent_id)? {
            Some(ci) => self.inventory_of(ci),
            None => self.unattached_inventory(agent_id),
        }
    }

    /// Hands an applied report to the CMDB: reconciles the agent to a CI, records the changes, and
    /// commits `batch` (the ingest's writes) together with the CMDB's, once. `changed` is false when the
    /// agent's inventory is the one it reported last time.
    pub fn apply_report(
        &self,
        batch: Batch,
        agent_id: &str,
        inventory: &Inventory,
        changed: bool,
        now: &str,
    ) -> CmdbResult<CiOutcome> {
        self.apply_report_with(
            batch,
            agent_id,
            ReportInventory::Full(inventory),
            changed,
            now,
            |_, _, _| (),
        )
        .map(|(outcome, _)| outcome)
    }

    /// [`Cmdb::apply_report`] for an inventory in either form ([`ReportInventory`]). When a CI takes
    /// the report, `stage_also` is given the CI's id, the changes the report records on it and the
    /// batch about to be committed, to stage writes that must be committed with the report (the
    /// unauthorized-change flags); what it returns (a lock to hold until then, say) is kept until the
    /// commit is done, then handed back.
    pub fn apply_report_with<G>(
        &self,
        batch: Batch,
        agent_id: &str,
        report: ReportInventory<'_>,
        changed: bool,
        now: &str,
        stage_also: impl FnOnce(&str, &[Change], &mut Batch) -> G,
    ) -> CmdbResult<(CiOutcome, Option<G>)> {
        let mut state = self.lock_state();
        let mut tx = self.begin(&state, batch);
        let mapped = match self.agent_ci(agent_id)? {
            Some(ci) => self.header(ci)?.map(|header| (ci, header)),
            None => None,
        };
        if let Some((ci, header)) = mapped {
            let unchanged = !changed && self.store.get(SPACE_BODY, &ci.to_be_bytes())?.is_some();
            self.stage_report(
                &mut tx,
                ci,
                header,
                agent_id,
                (!unchanged).then_some(report),
                None,
                now,
            )?;
            let also = stage_also(&ci_id(ci), &tx.report_changes, &mut tx.batch);
            self.finish(&mut state, tx)?;
            let outcome = if unchanged {
                CiOutcome::Seen { ci: ci_id(ci) }
            } else {
                CiOutcome::Updated { ci: ci_id(ci) }
            };
            return Ok((outcome, Some(also)));
        }
        // An agent without a CI: a new machine's first report (a `known` one on shared records, or
        // a full one), or a patched one whose CI went away between reading the base and this write.
        let outcome = if let Some(number) = self.open_conflict_of(agent_id)? {
            conflicts::stage_unattached_inventory(&mut tx.batch, agent_id, &report.whole());
            CiOutcome::Conflict {
                conflict: conflicts::conflict_id(number),
            }
        } else {
            let identifiers = Identifiers::of(report.shell());
            let candidates = self.candidates(&identifiers)?;
            match decide(&identifiers, &candidates) {
                Decision::Attach {
                    ci,
                    rule,
                    values,
                    notes,
                } => {
                    let header = self
                        .header(ci)?
                        .ok_or_else(|| CmdbError::UnknownCi(ci_id(ci)))?;
                    let explanation = IdentityExplanation {
                        rule: Some(rule),
                        values,
                        notes,
                        agent_id: agent_id.to_string(),
                        at: now.to_string(),
                    };
                    self.stage_report(
                        &mut tx,
                        ci,
                        header,
                        agent_id,
                        Some(report),
                        Some(explanation),
                        now,
                    )?;
                    CiOutcome::Attached {
                        ci: ci_id(ci),
                        rule,
                    }
                }
                Decision::Create { notes } => {
                    let explanation = IdentityExplanation {
                        rule: None,
                        values: Vec::new(),
                        notes,
                        agent_id: agent_id.to_string(),
                        at: now.to_string(),
                    };
                    let ci =
                        self.stage_create(&mut tx, agent_id, report, explanation, now, None)?;
                    CiOutcome::Created { ci: ci_id(ci) }
                }
                Decision::Conflict { candidates, reason } => {
                    let number = tx.counters.next_conflict;
                    tx.counters.next_conflict += 1;
                    let conflict = conflicts::Conflict {
                        id: conflicts::conflict_id(number),
                        agent_id: agent_id.to_string(),
                        candidates: candidates.iter().map(|ci| ci_id(*ci)).collect(),
                        reason,
                        opened_at: now.to_string(),
                        status: conflicts::ConflictStatus::Open,
                    };
                    tracing::warn!(conflict = %conflict.id, agent = agent_id, reason = %conflict.reason, "identity conflict queued");
                    conflicts::stage_unattached_inventory(&mut tx.batch, agent_id, &report.whole());
                    tx.batch.put(
                        SPACE_CONFLICTS,
                        number.to_be_bytes().to_vec(),
                        to_json(&conflict),
                    );
                    tx.batch.put(
                        SPACE_INDEX,
                        conflicts::open_marker(agent_id, number),
                        Vec::new(),
                    );
                    CiOutcome::Conflict {
                        conflict: conflict.id,
                    }
                }
            }
        };
        let also = outcome
            .ci()
            .map(|ci| stage_also(ci, &tx.report_changes, &mut tx.batch));
        self.finish(&mut state, tx)?;
        Ok((outcome, also))
    }

    /// Every CI sharing an identifying value with `identifiers`, with its own identifiers.
    fn candidates(&self, identifiers: &Identifiers) -> CmdbResult<Candidates> {
        use index::Tag;
        let mut lookups: Vec<Vec<u8>> = Vec::new();
        if let Some(serial) = &identifiers.system_serial {
            let value = index::vendor_serial_value(identifiers.system_vendor.as_deref(), serial);
            lookups.push(index::value_prefix(Tag::VendorSerial, &value));
            // A CI whose serial matches under another vendor name still deserves a look (contradiction).
            lookups.push(index::value_prefix(Tag::Serial, serial));
        }
        if let Some(uuid) = &identifiers.system_uuid {
            lookups.push(index::value_prefix(Tag::Uuid, uuid));
        }
        for serial in &identifiers.board_serials {
            lookups.push(index::value_prefix(Tag::BoardSerial, serial));
        }
        if let Some(id) = &identifiers.machine_id {
            lookups.push(index::value_prefix(Tag::MachineId, id));
        }
        for mac in &identifiers.macs {
            lookups.push(index::value_prefix(Tag::Mac, mac));
        }
        for serial in &identifiers.disk_serials {
            lookups.push(index::value_prefix(Tag::DiskSerial, serial));
        }
        let mut candidates = Candidates::new();
        for prefix in lookups {
            for entry in self.store.scan_prefix(SPACE_INDEX, &prefix) {
                let (key, _) = entry?;
                let Some(ci) = index::ci_of_key(&key) else {
                    continue;
                };
                if candidates.contains_key(&ci) {
                    continue;
                }
                if let Some(header) = self.header(ci)? {
                    candidates.insert(ci, header.identifiers);
                }
            }
        }
        Ok(candidates)
    }

    /// A new CI for `agent_id`; `split` names the conflict and person when a person asked for it.
    pub(crate) fn stage_create(
        &self,
        tx: &mut Tx,
        agent_id: &str,
        report: ReportInventory<'_>,
        identity: IdentityExplanation,
        now: &str,
        split: Option<(&str, &Provenance)>,
    ) -> CmdbResult<CiNum> {
        // Identifiers and index keys come from the shell: packages are neither.
        let inventory = report.shell();
        let ci = tx.counters.next_ci;
        tx.counters.next_ci += 1;
        let agent_provenance = Provenance {
            source: Source::Agent,
            by: agent_id.to_string(),
            at: now.to_string(),
        };
        let mut header = CiHeader {
            id: ci_id(ci),
            status: Attributed {
                value: Status::InUse,
                provenance: agent_provenance.clone(),
            },
            first_seen: now.to_string(),
            last_seen: now.to_string(),
            agents: vec![CiAgent {
                agent_id: agent_id.to_string(),
                attached_at: now.to_string(),
                last_seen: now.to_string(),
            }],
            identity,
            managed: ManagedFields::default(),
            inventory_provenance: agent_provenance,
            identifiers: Identifiers::of(inventory),
            records_since_checkpoint: 0,
        };
        let (body, entries) = report.encode(&mut self.interner_mut());
        let ids: Vec<u32> = entries.into_iter().map(|(id, _)| id).collect();
        tx.batch.put(SPACE_BODY, ci.to_be_bytes().to_vec(), body);
        // From now on the CI body is the agent's delta base; a copy kept during a conflict goes.
        tx.batch
            .delete(SPACE_INVENTORIES, agent_id.as_bytes().to_vec());
        for key in index::keys(ci, inventory) {
            tx.batch.put(SPACE_INDEX, key, Vec::new());
        }
        tx.batch.put(
            SPACE_INDEX,
            index::status_key(Status::InUse, ci),
            Vec::new(),
        );
        tx.package_updates.push((ci, Vec::new(), ids));
        tx.batch.put(
            SPACE_AGENTS,
            agent_id.as_bytes().to_vec(),
            ci.to_be_bytes().to_vec(),
        );
        let (kind, event, source, by) = match split {
            Some((conflict, by)) => (
                EntryKind::Split,
                EventKind::Split {
                    agent_id: agent_id.to_string(),
                    conflict: conflict.to_string(),
                    by: by.clone(),
                },
                by.source,
                by.by.clone(),
            ),
            None => (
                EntryKind::Created,
                EventKind::Created {
                    agent_id: agent_id.to_string(),
                },
                Source::Agent,
                agent_id.to_string(),
            ),
        };
        let entry = HistoryEntry {
            record: 0,
            ci: ci_id(ci),
            at: now.to_string(),
            kind,
            source,
            by,
            changes: Vec::new(),
        };
        self.push_record(
            tx,
            ci,
            &mut header,
            Record {
                entry,
                reverse: None,
                managed_before: None,
            },
            None,
        );
        self.push_event(tx, now, ci, event);
        tx.batch
            .put(SPACE_CI, ci.to_be_bytes().to_vec(), to_json(&header));
        Ok(ci)
    }

    /// A report for CI `ci` from `agent_id`: `inventory` is `None` when it did not change; `attach` is
    /// the explanation when the agent joins the CI now.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stage_report(
        &self,
        tx: &mut Tx,
        ci: CiNum,
        mut header: CiHeader,
        agent_id: &str,
        inventory: Option<ReportInventory<'_>>,
        attach: Option<IdentityExplanation>,
        now: &str,
    ) -> CmdbResult<()> {
        header.last_seen = now.to_string();
        // This header write carries the agent's latest time: nothing is pending for it any more.
        self.pending_seen_mut().forget(agent_id);
        let mut extra = Vec::new();
        if let Some(identity) = attach {
            header.identity = identity;
            tx.batch
                .delete(SPACE_INVENTORIES, agent_id.as_bytes().to_vec());
            tx.batch.put(
                SPACE_AGENTS,
                agent_id.as_bytes().to_vec(),
                ci.to_be_bytes().to_vec(),
            );
            extra.push(Change::AgentAttached {
                agent_id: agent_id.to_string(),
            });
        }
        match header
            .agents
            .iter_mut()
            .find(|agent| agent.agent_id == agent_id)
        {
            Some(agent) => agent.last_seen = now.to_string(),
            None => header.agents.push(CiAgent {
                agent_id: agent_id.to_string(),
                attached_at: now.to_string(),
                last_seen: now.to_string(),
            }),
        }
        if header.status.value == Status::Stale {
            let by = Provenance {
                source: Source::Agent,
                by: agent_id.to_string(),
                at: now.to_string(),
            };
            self.stage_status(tx, ci, &mut header, Status::InUse, by);
        }
        if let Some(inventory) = inventory {
            let by = Provenance {
                source: Source::Agent,
                by: agent_id.to_string(),
                at: now.to_string(),
            };
            let (changes, record) = self.stage_inventory(
                tx,
                ci,
                &mut header,
                inventory,
                EntryKind::Changed,
                &by,
                extra,
            )?;
            if !changes.is_empty() {
                self.push_event(
                    tx,
                    now,
                    ci,
                    EventKind::Changed {
                        agent_id: agent_id.to_string(),
                        changes: Vec::new(),
                        record: Some(record),
                    },
                );
            }
            tx.report_changes = changes;
        }
        tx.batch
            .put(SPACE_CI, ci.to_be_bytes().to_vec(), to_json(&header));
        Ok(())
    }

    /// Replaces the CI's inventory: body, indexes, postings, a history record; returns the changes
    /// and the number of the record that holds them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_inventory(
        &self,
        tx: &mut Tx,
        ci: CiNum,
        header: &mut CiHeader,
        inventory: ReportInventory<'_>,
        kind: EntryKind,
        by: &Provenance,
        extra: Vec<Change>,
    ) -> CmdbResult<(Vec<Change>, u64)> {
        // Only packages that differ between the two bodies are materialised: the diff and the
        // reverse delta of the unchanged 99% would be empty anyway.
        let (old_shell, old_entries) = match self.store.get(SPACE_BODY, &ci.to_be_bytes())? {
            Some(body) => codec::decode_parts(&body, &ci_id(ci))?,
            None => (Inventory::default(), Vec::new()),
        };
        let (body, new_entries) = inventory.encode(&mut self.interner_mut());
        let (mut old, mut new) = (old_shell, inventory.without_packages());
        {
            let interner = self.interner();
            old.software.packages = codec::packages_of(
                &codec::entries_not_in(&old_entries, &new_entries),
                &interner,
                &ci_id(ci),
            )?;
            new.software.packages = codec::packages_of(
                &codec::entries_not_in(&new_entries, &old_entries),
                &interner,
                &ci_id(ci),
            )?;
        }
        old.canonicalize();
        new.canonicalize();
        let mut changes = extra;
        changes.extend(component_diff(&old, &new, self.config.version_compare));
        let reverse = delta::diff(&new, &old);
        let old_keys = index::keys(ci, &old);
        let new_keys = index::keys(ci, inventory.shell());
        for key in old_keys.difference(&new_keys) {
            tx.batch.delete(SPACE_INDEX, key.clone());
        }
        for key in new_keys.difference(&old_keys) {
            tx.batch.put(SPACE_INDEX, key.clone(), Vec::new());
        }
        let old_ids: Vec<u32> = old_entries.iter().map(|(id, _)| *id).collect();
        let ids: Vec<u32> = new_entries.iter().map(|(id, _)| *id).collect();
        tx.package_updates.push((ci, old_ids, ids));
        header.identifiers = Identifiers::of(inventory.shell());
        header.inventory_provenance = by.clone();
        let entry = HistoryEntry {
            record: 0,
            ci: ci_id(ci),
            at: by.at.clone(),
            kind,
            source: by.source,
            by: by.by.clone(),
            changes: changes.clone(),
        };
        let record = self.push_record(
            tx,
            ci,
            header,
            Record {
                entry,
                reverse: Some(reverse),
                managed_before: None,
            },
            Some(&body),
        );
        tx.batch.put(SPACE_BODY, ci.to_be_bytes().to_vec(), body);
        Ok((changes, record))
    }

    /// Writes a history record (numbering it) and, every `checkpoint_every` records, a checkpoint of
    /// the state after it (`body`: the new inventory body when the record changed it); returns the
    /// record's number.
    pub(crate) fn push_record(
        &self,
        tx: &mut Tx,
        ci: CiNum,
        header: &mut CiHeader,
        mut record: Record,
        body: Option<&[u8]>,
    ) -> u64 {
        let number = tx.counters.next_record;
        tx.counters.next_record += 1;
        record.entry.record = number;
        let at = record.entry.at.clone();
        journal::stage(&mut tx.batch, ci, number, &record);
        header.records_since_checkpoint += 1;
        if header.records_since_checkpoint >= self.config.checkpoint_every {
            let body = match body {
                Some(body) => Some(body.to_vec()),
                None => self.store.get(SPACE_BODY, &ci.to_be_bytes()).ok().flatten(),
            };
            if let Some(body) = body {
                timetravel::stage_checkpoint(
                    &mut tx.batch,
                    ci,
                    number,
                    &at,
                    &header.managed,
                    &body,
                );
                header.records_since_checkpoint = 0;
            }
        }
        number
    }

    pub(crate) fn push_event(&self, tx: &mut Tx, at: &str, ci: CiNum, kind: EventKind) {
        let seq = tx.next_event();
        let event = Event {
            seq,
            at: at.to_string(),
            ci: ci_id(ci),
            kind,
        };
        tx.batch
            .put(SPACE_EVENTS, events::key(seq).to_vec(), to_json(&event));
    }
}

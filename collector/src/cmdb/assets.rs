//! Reads and manual edits of CIs: what the HTTP handlers call.
//!
//! Lists page by CI number (`after` is the last id of the previous page). Lookups serve the query
//! layer's index hints ([`Lookup`]) from the `cmdb_index` space and package names from the in-memory
//! postings; they return CI ids without decoding any document.

use super::history::Change;
use super::index::{self, Lookup, PackagePosting, Tag};
use super::journal::{self, EntryKind, HistoryEntry, HistoryFilter, Record};
use super::model::*;
use super::{Cmdb, CmdbError, CmdbResult, SPACE_BODY, SPACE_CI, SPACE_INDEX, ci_num_of_key, codec};
use crate::store::{Batch, prefix_successor};
use census_shared::Inventory;
use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// Filters of [`Cmdb::list_assets`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListFilter {
    pub status: Option<Status>,
    /// The last CI id of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetPage {
    pub assets: Vec<CiHeader>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl Cmdb {
    pub fn get_asset(&self, id: &str) -> CmdbResult<Option<Asset>> {
        match parse_ci_id(id) {
            Some(ci) => self.asset_by_num(ci),
            None => Ok(None),
        }
    }

    /// Calls `visit` with every CI's header and its inventory without packages, in CI order: the
    /// fleet-wide passes (dashboard charts, the health report) need no package list, and decoding
    /// 100,000 CIs' packages took minutes where this takes seconds.
    pub fn for_each_without_packages<E: From<CmdbError>>(
        &self,
        mut visit: impl FnMut(CiHeader, Inventory) -> Result<(), E>,
    ) -> Result<(), E> {
        for entry in self.store.scan_prefix(SPACE_CI, b"") {
            let (key, value) = entry.map_err(CmdbError::from)?;
            let ci = ci_num_of_key(&key)?;
            let header: CiHeader =
                serde_json::from_slice(&value).map_err(|e| CmdbError::Corrupt {
                    what: "CI header",
                    key: ci_id(ci),
                    message: e.to_string(),
                })?;
            let inventory = match self.store.get(SPACE_BODY, &key).map_err(CmdbError::from)? {
                Some(body) => {
                    codec::decode_without_packages(&body, &header.id).map_err(CmdbError::from)?
                }
                None => Inventory::default(),
            };
            visit(header, inventory)?;
        }
        Ok(())
    }

    /// The CI's hostname (lowercase, short) from its header alone, without decoding its inventory.
    pub fn ci_hostname(&self, id: &str) -> CmdbResult<Option<String>> {
        let Some(ci) = parse_ci_id(id) else {
            return Ok(None);
        };
        Ok(self
            .header(ci)?
            .and_then(|header| header.identifiers.hostname))
    }

    pub(crate) fn asset_by_num(&self, ci: CiNum) -> CmdbResult<Option<Asset>> {
        let Some(header) = self.header(ci)? else {
            return Ok(None);
        };
        let inventory = self.inventory_of(ci)?.unwrap_or_default();
        Ok(Some(Asset { header, inventory }))
    }

    /// CI headers (no inventories) in id order, `limit` at a time.
    pub fn list_assets(&self, filter: &ListFilter, limit: usize) -> CmdbResult<AssetPage> {
        let after = match &filter.after {
            Some(id) => Some(parse_ci_id(id).ok_or_else(|| CmdbError::UnknownCi(id.clone()))?),
            None => None,
        };
        let numbers: Box<dyn Iterator<Item = CmdbResult<CiNum>>> = match filter.status {
            Some(status) => {
                let prefix = index::value_prefix(Tag::Status, status.as_str());
                let mut from = prefix.clone();
                from.extend_from_slice(&after.map_or(0, |a| a + 1).to_be_bytes());
                let to = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
                Box::new(
                    self.store
                        .range(SPACE_INDEX, Bound::Included(from), to, false)
                        .map(|entry| {
                            let (key, _) = entry?;
                            index::ci_of_key(&key).ok_or_else(|| CmdbError::Corrupt {
                                what: "status index key",
                                key: hex::encode(&key),
                                message: "too short".into(),
                            })
                        }),
                )
            }
            None => {
                let from = Bound::Included(after.map_or(0, |a| a + 1).to_be_bytes().to_vec());
                Box::new(
                    self.store
                        .range(SPACE_CI, from, Bound::Unbounded, false)
                        .map(|entry| ci_num_of_key(&entry?.0)),
                )
            }
        };
        let mut assets = Vec::new();
        for number in numbers {
            if assets.len() == limit {
                let next = assets.last().map(|h: &CiHeader| h.id.clone());
                return Ok(AssetPage { assets, next });
            }
            if let Some(header) = self.header(number?)? {
                assets.push(header);
            }
        }
        Ok(AssetPage { assets, next: None })
    }

    /// Edits managed fields (and the lifecycle status); discovery never overwrites them.
    pub fn patch_asset(
        &self,
        id: &str,
        patch: &ManagedFieldsPatch,
        actor: &Actor,
        now: &str,
    ) -> CmdbResult<Asset> {
        let mut state = self.lock_state();
        let ci = parse_ci_id(id).ok_or_else(|| CmdbError::UnknownCi(id.to_string()))?;
        let mut header = self
            .header(ci)?
            .ok_or_else(|| CmdbError::UnknownCi(id.to_string()))?;
        let by = Provenance {
            source: actor.source,
            by: actor.name.clone(),
            at: now.to_string(),
        };
        let before = header.managed.clone();
        let managed = &mut header.managed;
        for (field, edit) in [
            (&mut managed.asset_tag, &patch.asset_tag),
            (&mut managed.owner, &patch.owner),
            (&mut managed.location, &patch.location),
            (&mut managed.cost_center, &patch.cost_center),
            (&mut managed.notes, &patch.notes),
        ] {
            if let Some(value) = edit {
                let value = value.as_deref().and_then(census_shared::inventory::clean);
                if field.as_ref().map(|a| &a.value) != value.as_ref() {
                    *field = value.map(|value| Attributed {
                        value,
                        provenance: by.clone(),
                    });
                }
            }
        }
        let changes: Vec<Change> = before
            .fields()
            .iter()
            .zip(header.managed.fields())
            .filter(|((_, from), (_, to))| from != to)
            .map(|((field, from), (_, to))| Change::ManagedFieldChanged {
                field: field.to_string(),
                from: from.map(str::to_string),
                to: to.map(str::to_string),
            })
            .collect();
        let mut tx = self.begin(&state, Batch::new());
        if !changes.is_empty() {
            let entry = HistoryEntry {
                record: 0,
                ci: ci_id(ci),
                at: now.to_string(),
                kind: EntryKind::ManualEdit,
                source: actor.source,
                by: actor.name.clone(),
                changes: changes.clone(),
            };
            self.push_record(
                &mut tx,
                ci,
                &mut header,
                Record {
                    entry,
                    reverse: None,
                    managed_before: Some(before),
                },
                None,
            );
            self.push_event(
                &mut tx,
                now,
                ci,
                super::EventKind::ManagedEdit {
                    by: by.clone(),
                    changes,
                },
            );
        }
        if let Some(status) = patch.status {
            self.stage_status(&mut tx, ci, &mut header, status, by);
        }
        tx.batch.put(
            SPACE_CI,
            ci.to_be_bytes().to_vec(),
            serde_json::to_vec(&header).unwrap_or_default(),
        );
        self.finish(&mut state, tx)?;
        drop(state);
        self.asset_by_num(ci)?
            .ok_or_else(|| CmdbError::UnknownCi(id.to_string()))
    }

    /// Marks `stale` every `in_use` CI last seen before `cutoff` (RFC 3339); returns their ids.
    pub fn mark_stale(&self, cutoff: &str, now: &str) -> CmdbResult<Vec<String>> {
        let cutoff = journal::parse_time(cutoff)?;
        // Check-ins held in memory count: write them first so the headers judged are current.
        self.flush_seen()?;
        let mut state = self.lock_state();
        let mut tx = self.begin(&state, Batch::new());
        let mut marked = Vec::new();
        let prefix = index::value_prefix(Tag::Status, Status::InUse.as_str());
        let in_use: Vec<CiNum> = self
            .store
            .scan_prefix(SPACE_INDEX, &prefix)
            .map(|entry| entry.map(|(key, _)| index::ci_of_key(&key)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        for ci in in_use {
            let Some(mut header) = self.header(ci)? else {
                continue;
            };
            if journal::parse_time(&header.last_seen)? >= cutoff {
                continue;
            }
            let by = Provenance {
                source: Source::Agent,
                by: "census-collector".into(),
                at: now.to_string(),
            };
            self.stage_status(&mut tx, ci, &mut header, Status::Stale, by);
            tx.batch.put(
                SPACE_CI,
                ci.to_be_bytes().to_vec(),
                serde_json::to_vec(&header).unwrap_or_default(),
            );
            marked.push(ci_id(ci));
        }
        self.finish(&mut state, tx)?;
        Ok(marked)
    }

    /// History of CI `id`, newest first: see [`journal::list`].
    pub fn history(
        &self,
        id: &str,
        filter: &HistoryFilter,
        limit: usize,
        cursor: Option<u64>,
    ) -> CmdbResult<(Vec<HistoryEntry>, Option<u64>)> {
        let ci = parse_ci_id(id).ok_or_else(|| CmdbError::UnknownCi(id.to_string()))?;
        if self.header(ci)?.is_none() {
            return Err(CmdbError::UnknownCi(id.to_string()));
        }
        journal::list(self.store.as_ref(), ci, filter, limit, cursor)
    }

    /// CI ids matching one index lookup, ascending.
    pub fn lookup(&self, lookup: &Lookup) -> CmdbResult<Vec<String>> {
        let scan = |tag: Tag, value: &str| self.scan_cis(index::value_prefix(tag, value), None);
        let mut cis = match lookup {
            Lookup::Serial(serial) => scan(Tag::Serial, serial.trim())?,
            Lookup::Uuid(uuid) => scan(Tag::Uuid, &uuid.trim().to_ascii_lowercase())?,
            Lookup::Mac(mac) => scan(Tag::Mac, &mac.trim().to_ascii_lowercase())?,
            Lookup::Ip(ip) => self.scan_cis(index::ip_prefix(*ip), None)?,
            Lookup::Cidr(network, prefix_len) => match index::cidr_bounds(*network, *prefix_len) {
                Some((first, last)) => self.scan_cis(first, Some(last))?,
                None => Vec::new(),
            },
            Lookup::Hostname(name) => scan(Tag::Hostname, &name.trim().to_lowercase())?,
            Lookup::HostnamePrefix(prefix) => {
                let mut key = vec![Tag::Hostname as u8];
                key.extend_from_slice(prefix.trim().to_lowercase().as_bytes());
                self.scan_cis(key, None)?
            }
            Lookup::MachineId(id) => scan(Tag::MachineId, &id.trim().to_ascii_lowercase())?,
            Lookup::Status(status) => scan(Tag::Status, status.as_str())?,
            Lookup::VendorSerial(vendor, serial) => {
                let vendor = vendor.as_deref().map(|v| v.trim().to_lowercase());
                scan(
                    Tag::VendorSerial,
                    &index::vendor_serial_value(vendor.as_deref(), serial.trim()),
                )?
            }
            Lookup::BoardSerial(serial) => scan(Tag::BoardSerial, serial.trim())?,
            Lookup::DiskSerial(serial) => scan(Tag::DiskSerial, serial.trim())?,
        };
        cis.sort_unstable();
        cis.dedup();
        Ok(cis.into_iter().map(ci_id).collect())
    }

    /// Keys from `from` up to every key starting with `last` (or with `from` when `last` is `None`).
    fn scan_cis(&self, from: Vec<u8>, last: Option<Vec<u8>>) -> CmdbResult<Vec<CiNum>> {
        let to = prefix_successor(last.as_ref().unwrap_or(&from))
            .map_or(Bound::Unbounded, Bound::Excluded);
        let mut cis = Vec::new();
        for entry in self
            .store
            .range(SPACE_INDEX, Bound::Included(from), to, false)
        {
            let (key, _) = entry?;
            cis.extend(index::ci_of_key(&key));
        }
        Ok(cis)
    }

    /// Every CI holding a package named `name`, with manager, version and arch, from memory.
    pub fn packages_named(&self, name: &str) -> Vec<PackagePosting> {
        let interner = self.interner();
        self.packages().named(name, |id| interner.get(id).cloned())
    }
}

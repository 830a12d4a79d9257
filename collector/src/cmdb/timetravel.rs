//! Time travel: a CI's inventory and managed fields as they were at a given moment.
//!
//! Each history record keeps the *reverse* delta of its inventory change (and the managed fields
//! before a manual edit), so the state at `t` is the current state stepped back over every record newer
//! than `t`. Every `checkpoint_every` records the state after a record is stored whole (compact body +
//! managed fields, key `ci, record` in `cmdb_checkpoints`), so a query starts from the oldest checkpoint
//! newer than `t` instead of from today: at most `checkpoint_every` delta applications.
//!
//! Only inventories that changed something are recorded: the state returned carries the
//! `collected_at` of the last *changed* report at or before `t`, not of a later check-in.

use super::codec::{self, put_varint};
use super::journal::{self, EntryKind, parse_time};
use super::model::{AssetState, CiNum, ManagedFields, ci_id, parse_ci_id};
use super::{Cmdb, CmdbError, CmdbResult, SPACE_CHECKPOINTS};
use crate::store::Batch;
use census_shared::delta;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    at: String,
    managed: ManagedFields,
}

pub(crate) fn stage_checkpoint(
    batch: &mut Batch,
    ci: CiNum,
    record: u64,
    at: &str,
    managed: &ManagedFields,
    body: &[u8],
) {
    // Our own plain structs always serialise.
    let meta = serde_json::to_vec(&CheckpointMeta {
        at: at.to_string(),
        managed: managed.clone(),
    })
    .unwrap_or_default();
    let mut value = Vec::with_capacity(meta.len() + body.len() + 4);
    put_varint(&mut value, meta.len() as u64);
    value.extend_from_slice(&meta);
    value.extend_from_slice(body);
    batch.put(SPACE_CHECKPOINTS, journal::key(ci, record), value);
}

fn split_checkpoint(value: &[u8], ci: CiNum) -> CmdbResult<(CheckpointMeta, &[u8])> {
    let corrupt = |message: String| CmdbError::Corrupt {
        what: "checkpoint",
        key: ci_id(ci),
        message,
    };
    let mut len = 0usize;
    let mut at = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *value.get(at).ok_or_else(|| corrupt("truncated".into()))?;
        at += 1;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let meta_bytes = value
        .get(at..at + len)
        .ok_or_else(|| corrupt("truncated".into()))?;
    let meta = serde_json::from_slice(meta_bytes).map_err(|e| corrupt(e.to_string()))?;
    Ok((meta, &value[at + len..]))
}

impl Cmdb {
    /// CI `ci` as it was at `at` (RFC 3339), or `None` when it did not exist yet.
    pub fn asset_as_of(&self, ci: &str, at: &str) -> CmdbResult<Option<AssetState>> {
        self.state_as_of(ci, at, true)
    }

    /// [`Cmdb::asset_as_of`] without the package list (left empty): what a search that does not ask
    /// about packages needs, without decoding and patching every CI's packages.
    pub(crate) fn asset_as_of_without_packages(
        &self,
        ci: &str,
        at: &str,
    ) -> CmdbResult<Option<AssetState>> {
        self.state_as_of(ci, at, false)
    }

    fn state_as_of(&self, ci: &str, at: &str, packages: bool) -> CmdbResult<Option<AssetState>> {
        let moment = parse_time(at)?;
        let number = parse_ci_id(ci).ok_or_else(|| CmdbError::UnknownCi(ci.to_string()))?;
        let header = self
            .header(number)?
            .ok_or_else(|| CmdbError::UnknownCi(ci.to_string()))?;
        let travel_error = |message: String| CmdbError::TimeTravel {
            ci: ci.to_string(),
            message,
        };

        let mut start = None;
        for entry in self
            .store
            .scan_prefix(SPACE_CHECKPOINTS, &number.to_be_bytes())
        {
            let (key, value) = entry?;
            let (meta, body) = split_checkpoint(&value, number)?;
            if parse_time(&meta.at)? > moment {
                let record = u64::from_be_bytes(
                    key[8..16]
                        .try_into()
                        .map_err(|_| travel_error("bad checkpoint key".into()))?,
                );
                let inventory = if packages {
                    codec::decode(body, &self.interner(), ci)?
                } else {
                    codec::decode_without_packages(body, ci)?
                };
                start = Some((record, inventory, meta.managed));
                break;
            }
        }
        let (mut inventory, mut managed, before) = match start {
            Some((record, inventory, managed)) => (inventory, managed, Some(record + 1)),
            None => {
                let current = if packages {
                    self.inventory_of(number)?
                } else {
                    self.inventory_without_packages(number)?
                };
                let inventory =
                    current.ok_or_else(|| travel_error("the CI has no inventory".into()))?;
                (inventory, header.managed, None)
            }
        };
        for record in journal::newest_first(self.store.as_ref(), number, before) {
            let record = record?;
            if parse_time(&record.entry.at)? <= moment {
                return Ok(Some(AssetState { inventory, managed }));
            }
            if matches!(record.entry.kind, EntryKind::Created | EntryKind::Split) {
                return Ok(None);
            }
            if let Some(reverse) = &record.reverse {
                // In place: a reverse delta is mostly package patches, which the owned path applies
                // to the typed list instead of going through a JSON tree of the whole document.
                let applied = if packages {
                    delta::apply_owned(inventory, reverse)
                } else {
                    delta::apply_owned(inventory, &delta::without_package_ops(reverse))
                };
                inventory = applied
                    .map_err(|e| travel_error(format!("record {}: {e}", record.entry.record)))?;
            }
            if let Some(before) = record.managed_before {
                managed = before;
            }
        }
        Ok(None)
    }
}

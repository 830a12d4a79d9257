//! Record ids: a kind prefix and a zero-padded sequence number (`INC-000123`).
//!
//! Each kind has its own counter in [`SPACE_COUNTERS`], advanced in the same batch that creates the
//! record, under the ITSM write lock: numbers are dense and never reused (a deleted record, if deletion
//! ever exists, leaves its number behind). Padding is six digits; number 1 000 000 simply has seven.
//! Records are keyed by the number as 8 big-endian bytes so that key order is creation order at any width.

use super::{ItsmError, Result};
use crate::store::{Batch, Store};

/// Per-kind last issued number, 8 bytes big-endian, keyed by the prefix.
pub const SPACE_COUNTERS: &str = "itsm_counters";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Incident,
    Change,
    Problem,
    /// An unauthorized-change flag.
    Flag,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [
        RecordKind::Incident,
        RecordKind::Change,
        RecordKind::Problem,
        RecordKind::Flag,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            RecordKind::Incident => "INC",
            RecordKind::Change => "CHG",
            RecordKind::Problem => "PRB",
            RecordKind::Flag => "UAC",
        }
    }
}

pub fn format_id(kind: RecordKind, number: u64) -> String {
    format!("{}-{number:06}", kind.prefix())
}

/// Splits `INC-000123` into its kind and number; case matters, as ids are shown as issued.
pub fn parse_id(id: &str) -> Result<(RecordKind, u64)> {
    let bad = || ItsmError::BadId { id: id.to_string() };
    let (prefix, digits) = id.split_once('-').ok_or_else(bad)?;
    let kind = RecordKind::ALL
        .into_iter()
        .find(|kind| kind.prefix() == prefix)
        .ok_or_else(bad)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: u64 = digits.parse().map_err(|_| bad())?;
    if number == 0 || format_id(kind, number) != id {
        return Err(bad());
    }
    Ok((kind, number))
}

/// Parses `id` and checks it is of `kind`.
pub fn parse_kind(id: &str, kind: RecordKind) -> Result<u64> {
    match parse_id(id)? {
        (found, number) if found == kind => Ok(number),
        _ => Err(ItsmError::BadId { id: id.to_string() }),
    }
}

/// The next number of `kind`; the counter update goes into `batch`. Call under the write lock.
pub(crate) fn allocate(store: &dyn Store, kind: RecordKind, batch: &mut Batch) -> Result<u64> {
    allocate_after(store, kind, batch, 0)
}

/// Like [`allocate`], when `already` numbers of `kind` were allocated into the same uncommitted batch.
pub(crate) fn allocate_after(
    store: &dyn Store,
    kind: RecordKind,
    batch: &mut Batch,
    already: u64,
) -> Result<u64> {
    let last = match store.get(SPACE_COUNTERS, kind.prefix().as_bytes())? {
        Some(bytes) => {
            let bytes: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| ItsmError::Corrupt {
                    space: SPACE_COUNTERS.to_string(),
                    key: kind.prefix().to_string(),
                    message: format!("expected 8 bytes, found {}", bytes.len()),
                })?;
            u64::from_be_bytes(bytes)
        }
        None => 0,
    };
    let next = last + already + 1;
    batch.put(SPACE_COUNTERS, kind.prefix().as_bytes(), next.to_be_bytes());
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn ids_are_zero_padded_and_parse_back() {
        assert_eq!(format_id(RecordKind::Incident, 123), "INC-000123");
        assert_eq!(format_id(RecordKind::Change, 45), "CHG-000045");
        assert_eq!(format_id(RecordKind::Problem, 7), "PRB-000007");
        assert_eq!(format_id(RecordKind::Flag, 1_234_567), "UAC-1234567");
        assert_eq!(parse_id("INC-000123").unwrap(), (RecordKind::Incident, 123));
        assert_eq!(
            parse_id("UAC-1234567").unwrap(),
            (RecordKind::Flag, 1_234_567)
        );
        assert_eq!(parse_kind("CHG-000045", RecordKind::Change).unwrap(), 45);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "INC",
            "INC-",
            "INC-12",
            "inc-000001",
            "XYZ-000001",
            "INC-000000",
            "INC-0000001",
            "INC-00001a",
            "INC-+00001",
        ] {
            let error = parse_id(bad).unwrap_err();
            assert!(
                matches!(&error, ItsmError::BadId { id } if id == bad),
                "{bad}: {error}"
            );
        }
        assert!(matches!(
            parse_kind("INC-000001", RecordKind::Change),
            Err(ItsmError::BadId { .. })
        ));
    }

    #[test]
    fn counters_advance_per_kind_only_when_committed() {
        let store = MemoryStore::new();
        let mut batch = Batch::new();
        assert_eq!(
            allocate(&store, RecordKind::Incident, &mut batch).unwrap(),
            1
        );
        // Not committed: the next allocation sees the same counter.
        assert_eq!(
            allocate(&store, RecordKind::Incident, &mut Batch::new()).unwrap(),
            1
        );
        store.commit(batch).unwrap();
        let mut batch = Batch::new();
        assert_eq!(
            allocate(&store, RecordKind::Incident, &mut batch).unwrap(),
            2
        );
        store.commit(batch).unwrap();
        assert_eq!(
            allocate(&store, RecordKind::Change, &mut Batch::new()).unwrap(),
            1
        );
    }
}

//! Daily snapshots of the CMDB health report, so that its numbers can be followed over time.
//!
//! One [`HealthSnapshot`] per UTC day, keyed by the date (`2026-11-27`, which sorts by time): the
//! score and the five percentages of [`HealthReport`], without drill-down lists. The first snapshot
//! of a day is kept; later runs that day leave it alone, so a restart never rewrites history.
//! `serve` takes the day's snapshot with the configured `cmdb.stale_after` (see
//! [`record_daily_periodically`]); `GET /api/v1/reports/health/history` lists them newest first.
//!
//! Limitation: a day the collector did not run has no snapshot; the list simply skips it.

use super::health::{HealthReport, health_report};
use super::{ItsmError, Result};
use crate::cmdb::Cmdb;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Date (`YYYY-MM-DD`, UTC) -> [`HealthSnapshot`] (JSON).
pub const SPACE_HEALTH_HISTORY: &str = "itsm_health_history";
/// How often `serve` checks whether today's snapshot exists: cheap, and a day is never missed by more
/// than this after midnight UTC.
pub const SNAPSHOT_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub total_cis: u64,
    pub stale_after_seconds: u64,
    pub score: f64,
    pub completeness: f64,
    pub staleness: f64,
    pub orphans: f64,
    pub conflicts: f64,
    pub unauthorized_changes: f64,
}

impl HealthSnapshot {
    pub fn of(report: &HealthReport) -> Self {
        let at = report.generated_at;
        Self {
            date: date_of(at),
            generated_at: at,
            total_cis: report.total_cis,
            stale_after_seconds: report.stale_after_seconds,
            score: report.score,
            completeness: report.completeness.percent,
            staleness: report.staleness.percent,
            orphans: report.orphans.percent,
            conflicts: report.conflicts.percent,
            unauthorized_changes: report.unauthorized_changes.percent,
        }
    }
}

/// The UTC day of `at`, `YYYY-MM-DD`: the snapshot key.
pub fn date_of(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

fn corrupt(key: &[u8], error: impl ToString) -> ItsmError {
    ItsmError::Corrupt {
        space: SPACE_HEALTH_HISTORY.to_string(),
        key: String::from_utf8_lossy(key).into_owned(),
        message: error.to_string(),
    }
}

/// Whether the UTC day of `now` has a snapshot already.
pub fn has_snapshot(store: &dyn Store, now: OffsetDateTime) -> Result<bool> {
    Ok(store
        .get(SPACE_HEALTH_HISTORY, date_of(now).as_bytes())?
        .is_some())
}

/// Keeps `snapshot` unless its day has one already; returns whether it was written.
pub fn record(store: &dyn Store, snapshot: &HealthSnapshot) -> Result<bool> {
    let key = snapshot.date.as_bytes();
    if store.get(SPACE_HEALTH_HISTORY, key)?.is_some() {
        return Ok(false);
    }
    let value = serde_json::to_vec(snapshot).map_err(|error| corrupt(key, error))?;
    store.put(SPACE_HEALTH_HISTORY, key, &value)?;
    Ok(true)
}

/// The newest `days` snapshots, newest first.
pub fn history(store: &dyn Store, days: usize) -> Result<Vec<HealthSnapshot>> {
    store
        .range(
            SPACE_HEALTH_HISTORY,
            Bound::Unbounded,
            Bound::Unbounded,
            true,
        )
        .take(days)
        .map(|entry| {
            let (key, value) = entry?;
            serde_json::from_slice(&value).map_err(|error| corrupt(&key, error))
        })
        .collect()
}

/// Computes and keeps today's snapshot when there is none yet; returns whether one was written.
pub fn record_today(
    cmdb: &Cmdb,
    store: &dyn Store,
    now: OffsetDateTime,
    stale_after: Duration,
) -> Result<bool> {
    if has_snapshot(store, now)? {
        return Ok(false);
    }
    // Drill-down lists are not kept: one entry each is the cheapest report.
    let report = health_report(cmdb, store, now, stale_after, 1)?;
    record(store, &HealthSnapshot::of(&report))
}

/// `serve`'s task: today's snapshot at start, then checked every [`SNAPSHOT_CHECK_INTERVAL`].
pub async fn record_daily_periodically(
    cmdb: Arc<Cmdb>,
    store: Arc<dyn Store>,
    stale_after: Duration,
) {
    let mut ticker = tokio::time::interval(SNAPSHOT_CHECK_INTERVAL);
    loop {
        ticker.tick().await;
        let (cmdb, store) = (Arc::clone(&cmdb), Arc::clone(&store));
        let work = move || {
            record_today(
                &cmdb,
                store.as_ref(),
                OffsetDateTime::now_utc(),
                stale_after,
            )
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(Ok(true)) => tracing::info!("CMDB health snapshot recorded"),
            Ok(Ok(false)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "recording the CMDB health snapshot failed; retrying later")
            }
            Err(error) => tracing::warn!(%error, "the CMDB health snapshot panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itsm::health::HealthTally;
    use crate::store::memory::MemoryStore;
    use time::macros::datetime;

    fn snapshot(at: OffsetDateTime) -> HealthSnapshot {
        HealthSnapshot::of(&HealthTally::new(at, Duration::from_secs(86_400), 1).finish())
    }

    #[test]
    fn one_snapshot_per_day_is_kept_and_listed_newest_first() {
        let store = MemoryStore::new();
        let first = snapshot(datetime!(2026-11-25 00:30 UTC));
        assert_eq!(first.date, "2026-11-25");
        assert_eq!(first.score, 100.0);
        assert!(record(&store, &first).unwrap());
        // Later the same day: the first one stays.
        assert!(!record(&store, &snapshot(datetime!(2026-11-25 23:59 UTC))).unwrap());
        assert!(has_snapshot(&store, datetime!(2026-11-25 12:00 UTC)).unwrap());
        assert!(!has_snapshot(&store, datetime!(2026-11-26 00:00 UTC)).unwrap());
        record(&store, &snapshot(datetime!(2026-11-27 08:00 UTC))).unwrap();
        record(&store, &snapshot(datetime!(2026-11-26 08:00 UTC))).unwrap();

        let dates: Vec<String> = history(&store, 10)
            .unwrap()
            .into_iter()
            .map(|s| s.date)
            .collect();
        assert_eq!(dates, ["2026-11-27", "2026-11-26", "2026-11-25"]);
        assert_eq!(history(&store, 1).unwrap().len(), 1);
        assert_eq!(
            history(&store, 10).unwrap()[2].generated_at,
            datetime!(2026-11-25 00:30 UTC)
        );
    }
}

//! Prometheus metrics of the collector, in the text exposition format (version 0.0.4), hand-rolled.
//!
//! Why hand-rolled rather than `prometheus-client`: the collector needs counters, a few labelled
//! counters and two histograms; the format is a page of text, and the atomics below are all the
//! machinery there is. No new dependency, no global registry.
//!
//! # Layout
//! - [`Histogram`]: fixed buckets, one atomic per bucket, sum in nanoseconds.
//! - [`LabelledCounters`]: a fixed-capacity, lock-free table of counters keyed by a rendered label set
//!   (`outcome="applied"`). Slots are claimed once with a `OnceLock`; the hot path is a hash, a probe
//!   and an atomic add. Label sets beyond the capacity are counted in `census_metrics_dropped_total`.
//! - [`Metrics`]: every counter the request path updates; [`Gauges`]: values computed at scrape time
//!   from the store (agents, CIs, database size), so that nothing on the hot path maintains them.
//!
//! Limitation: label values must be bounded by the caller (route templates, error codes, outcomes),
//! never raw paths or ids.

use crate::cmdb::SPACE_INDEX;
use crate::cmdb::index::{Tag, value_prefix};
use crate::cmdb::model::Status;
use crate::enrollment::SPACE_AGENTS;
use crate::enrollment::agents::AgentRecord;
use crate::ingest::{AgentReportState, SPACE_AGENT_REPORTS};
use crate::store::{Store, StoreResult};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

/// Latency buckets (seconds): from a cached check-in to a report stuck behind a slow disk.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// An agent that reported within this window counts as active.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Distinct label sets one labelled counter keeps (routes × statuses stays far below this).
const LABEL_SLOTS: usize = 256;

/// A histogram with fixed upper bounds; observations are a few atomic adds.
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts; the last is `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        let mut cumulative = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = match self.bounds.get(index) {
                Some(bound) => bound.to_string(),
                None => "+Inf".to_string(),
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

struct Slot {
    labels: OnceLock<Box<str>>,
    value: AtomicU64,
}

/// Counters keyed by a rendered label set; lock-free (see the module documentation).
pub struct LabelledCounters {
    slots: Box<[Slot]>,
    dropped: AtomicU64,
}

impl Default for LabelledCounters {
    fn default() -> Self {
        Self {
            slots: (0..LABEL_SLOTS)
                .map(|_| Slot {
                    labels: OnceLock::new(),
                    value: AtomicU64::new(0),
                })
                .collect(),
            dropped: AtomicU64::new(0),
        }
    }
}

impl LabelledCounters {
    /// Adds one to the counter of `labels` (`(name, value)` pairs, in a fixed order per metric).
    pub fn inc(&self, labels: &[(&str, &str)]) {
        let rendered = render_labels(labels);
        let start = fixed_hash(&rendered) as usize;
        for probe in 0..self.slots.len() {
            let slot = &self.slots[(start + probe) % self.slots.len()];
            let claimed = slot
                .labels
                .get_or_init(|| rendered.clone().into_boxed_str());
            if **claimed == *rendered {
                slot.value.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The count of exactly `labels`, 0 when never counted.
    pub fn get(&self, labels: &[(&str, &str)]) -> u64 {
        let rendered = render_labels(labels);
        self.slots
            .iter()
            .find(|slot| slot.labels.get().is_some_and(|l| **l == *rendered))
            .map_or(0, |slot| slot.value.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "counter");
        let mut lines: Vec<(&str, u64)> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let labels = slot.labels.get()?;
                Some((&**labels, slot.value.load(Ordering::Relaxed)))
            })
            .collect();
        lines.sort_unstable();
        for (labels, value) in lines {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// FNV-1a: deterministic, so a label set always starts probing at the same slot.
fn fixed_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (index, (name, value)) in labels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape(value));
    }
    out
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

/// Everything the request path counts. One per collector, shared by `Arc`.
pub struct Metrics {
    /// `outcome`: unchanged, duplicate, send_report, refused (with `reason`).
    pub checkins: LabelledCounters,
    /// `outcome`: applied, duplicate, refused (with `reason`: the API error code).
    pub reports: LabelledCounters,
    /// `outcome`: active, pending, refused (with `reason`).
    pub enrollments: LabelledCounters,
    /// `route` (the route template, `unmatched` otherwise) and `status`.
    pub http_requests: LabelledCounters,
    /// Report handling from the first byte of the body to the durable answer.
    pub ingest_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            checkins: LabelledCounters::default(),
            reports: LabelledCounters::default(),
            enrollments: LabelledCounters::default(),
            http_requests: LabelledCounters::default(),
            ingest_seconds: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

impl Metrics {
    /// The exposition text: counters, the group-commit `flush` histogram and the scrape-time `gauges`.
    pub fn render(&self, flush: &Histogram, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        self.checkins.render(
            &mut out,
            "census_checkins_total",
            "Agent check-ins by outcome.",
        );
        self.reports.render(
            &mut out,
            "census_reports_total",
            "Agent reports by outcome; refusals by error code.",
        );
        self.enrollments.render(
            &mut out,
            "census_enrollments_total",
            "Enrollment requests by outcome; refusals by error code.",
        );
        self.http_requests.render(
            &mut out,
            "census_http_requests_total",
            "HTTP requests by route template and status.",
        );
        self.ingest_seconds.render(
            &mut out,
            "census_ingest_duration_seconds",
            "Report handling time, including the wait for durability.",
        );
        flush.render(
            &mut out,
            "census_group_commit_flush_seconds",
            "Duration of each group-commit flush of the database.",
        );
        gauge(
            &mut out,
            "census_active_agents",
            "Agents that checked in or reported in the last 24 hours.",
            gauges.active_agents,
        );
        header(
            &mut out,
            "census_agents",
            "Enrolled agents by status.",
            "gauge",
        );
        for (status, n) in &gauges.agents_by_status {
            let _ = writeln!(out, "census_agents{{status=\"{}\"}} {n}", escape(status));
        }
        gauge(
            &mut out,
            "census_cis_total",
            "Configuration items in the CMDB.",
            gauges.cis_total,
        );
        gauge(
            &mut out,
            "census_cis_stale",
            "Configuration items whose status is stale.",
            gauges.cis_stale,
        );
        gauge(
            &mut out,
            "census_store_size_bytes",
            "Bytes the database occupies on disk.",
            gauges.store_size_bytes,
        );
        let dropped = [
            &self.checkins,
            &self.reports,
            &self.enrollments,
            &self.http_requests,
        ]
        .iter()
        .map(|counters| counters.dropped.load(Ordering::Relaxed))
        .sum();
        gauge(
            &mut out,
            "census_metrics_dropped_total",
            "Increments lost because a labelled counter ran out of label slots.",
            dropped,
        );
        out
    }
}

/// Values read from the store at scrape time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Gauges {
    pub active_agents: u64,
    /// (status, count), ordered by status.
    pub agents_by_status: Vec<(String, u64)>,
    pub cis_total: u64,
    pub cis_stale: u64,
    pub store_size_bytes: u64,
}

impl Gauges {
    /// Reads the gauges: one pass over agent records and report states (small values), and counts of
    /// the CMDB's status index keys (empty values), never the CI bodies.
    pub fn read(store: &dyn Store, now: OffsetDateTime) -> StoreResult<Gauges> {
        let mut gauges = Gauges::default();
        let mut by_status = std::collections::BTreeMap::<String, u64>::new();
        for entry in store.scan_prefix(SPACE_AGENTS, b"") {
            let (_, value) = entry?;
            // An unreadable record is the API's problem to report, not the scrape's.
            if let Ok(record) = serde_json::from_slice::<AgentRecord>(&value) {
                let status = serde_json::to_value(record.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "unknown".into());
                *by_status.entry(status).or_default() += 1;
            }
        }
        gauges.agents_by_status = by_status.into_iter().collect();
        let since = now - ACTIVE_WINDOW;
        for entry in store.scan_prefix(SPACE_AGENT_REPORTS, b"") {
            let (_, value) = entry?;
            let seen = serde_json::from_slice::<AgentReportState>(&value)
                .ok()
                .and_then(|state| {
                    OffsetDateTime::parse(
                        &state.last_seen,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()
                });
            if seen.is_some_and(|seen| seen >= since) {
                gauges.active_agents += 1;
            }
        }
        for status in Status::ALL {
            let prefix = value_prefix(Tag::Status, status.as_str());
            let mut n = 0u64;
            for entry in store.scan_prefix(SPACE_INDEX, &prefix) {
                entry?;
                n += 1;
            }
            gauges.cis_total += n;
            if status == Status::Stale {
                gauges.cis_stale = n;
            }
        }
        gauges.store_size_bytes = store.size_on_disk()?;
        Ok(gauges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let histogram = Histogram::new(&[0.01, 0.1]);
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_millis(50));
        histogram.observe(Duration::from_secs(1));
        let mut out = String::new();
        histogram.render(&mut out, "x_seconds", "help");
        assert!(out.contains("x_seconds_bucket{le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.1\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum 1.055\n"), "{out}");
        assert!(out.contains("x_seconds_count 3\n"), "{out}");
        assert!(out.contains("# TYPE x_seconds histogram\n"), "{out}");
    }

    #[test]
    fn labelled_counters_keep_label_sets_apart_and_escape_values() {
        let counters = LabelledCounters::default();
        counters.inc(&[("outcome", "applied")]);
        counters.inc(&[("outcome", "applied")]);
        counters.inc(&[("outcome", "refused"), ("reason", "a\"b")]);
        assert_eq!(counters.get(&[("outcome", "applied")]), 2);
        assert_eq!(counters.get(&[("outcome", "duplicate")]), 0);
        let mut out = String::new();
        counters.render(&mut out, "c_total", "help");
        assert!(out.contains("c_total{outcome=\"applied\"} 2\n"), "{out}");
        assert!(
            out.contains("c_total{outcome=\"refused\",reason=\"a\\\"b\"} 1\n"),
            "{out}"
        );
    }

    #[test]
    fn label_sets_beyond_capacity_are_counted_as_dropped_not_lost_silently() {
        let counters = LabelledCounters::default();
        for n in 0..LABEL_SLOTS + 3 {
            counters.inc(&[("n", &n.to_string())]);
        }
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(counters.get(&[("n", "0")]), 1);
    }

    #[test]
    fn concurrent_increments_are_all_counted() {
        let counters = std::sync::Arc::new(LabelledCounters::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        counters.inc(&[("k", &((t + i) % 5).to_string())]);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let total: u64 = (0..5).map(|k| counters.get(&[("k", &k.to_string())])).sum();
        assert_eq!(total, 4000);
    }
}

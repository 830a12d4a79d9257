//! Fleet aggregates for the dashboard (OS versions, hardware age) and their SVG bar charts.
//!
//! The aggregates need every CI's OS and BIOS date, so they are computed by one pass over the CI
//! headers and inventory bodies (decoded without their packages, see
//! [`codec::decode_without_packages`](crate::cmdb::codec::decode_without_packages)) on the blocking
//! pool, and cached for [`REFRESH`]. A page never waits more than [`WAIT`] for a pass: on a large
//! fleet the first view shows the counts and says the charts are being computed.
//!
//! Hardware age is the time since the BIOS release date (SMBIOS `MM/DD/YYYY`), a good proxy for the
//! machine's build date; when the firmware does not say, the CI's first sighting stands in (a lower
//! bound) and the chart says how many ages are estimated that way.
//!
//! The charts are inline SVG with `role="img"`, a `<title>` and `<desc>` naming the chart, a `<title>`
//! per bar (the exact value), and visible text labels, so they read without colour or a mouse.

use crate::cmdb::{Cmdb, CmdbError};
use census_shared::Inventory;
use maud::{Markup, html};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::{Date, Month, OffsetDateTime};

/// How long a computed set of charts is shown before the next pass.
pub const REFRESH: Duration = Duration::from_secs(300);
/// How long a page waits for a pass before it shows the page without charts.
pub const WAIT: Duration = Duration::from_secs(3);
/// Bars in the OS chart; the rest are summed into "Other".
const MAX_OS_BARS: usize = 8;

/// Hardware age buckets, upper bounds in whole years (exclusive); the last one is open.
pub const AGE_BUCKETS: [(&str, Option<i64>); 5] = [
    ("Under 1 year", Some(1)),
    ("1–3 years", Some(3)),
    ("3–5 years", Some(5)),
    ("5–7 years", Some(7)),
    ("7 years or more", None),
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetCharts {
    /// (OS label, CIs), largest first, at most [`MAX_OS_BARS`] + "Other".
    pub os: Vec<(String, u64)>,
    /// (bucket label, CIs) in [`AGE_BUCKETS`] order.
    pub age: Vec<(String, u64)>,
    /// Ages taken from the first sighting because the BIOS date was unknown.
    pub age_estimated: u64,
    pub n_cis: u64,
    pub computed_at: Option<OffsetDateTime>,
}

/// Counts being accumulated over the fleet (pure: fed one CI at a time).
#[derive(Debug, Default)]
pub struct Tally {
    os: BTreeMap<String, u64>,
    age: [u64; AGE_BUCKETS.len()],
    age_estimated: u64,
    n_cis: u64,
}

impl Tally {
    pub fn add(&mut self, inventory: &Inventory, first_seen: &str, today: Date) {
        self.n_cis += 1;
        *self.os.entry(os_label(inventory)).or_default() += 1;
        let built = inventory.hardware.bios.date.as_deref().and_then(bios_date);
        let since = built.or_else(|| {
            self.age_estimated += 1;
            first_seen.get(..10).and_then(iso_date)
        });
        if let Some(since) = since {
            self.age[age_bucket(since, today)] += 1;
        }
    }

    pub fn finish(self, computed_at: OffsetDateTime) -> FleetCharts {
        let mut os: Vec<(String, u64)> = self.os.into_iter().collect();
        os.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if os.len() > MAX_OS_BARS + 1 {
            let other: u64 = os.drain(MAX_OS_BARS..).map(|(_, n)| n).sum();
            os.push(("Other".to_string(), other));
        }
        FleetCharts {
            os,
            age: AGE_BUCKETS
                .iter()
                .zip(self.age)
                .map(|((label, _), n)| (label.to_string(), n))
                .collect(),
            age_estimated: self.age_estimated,
            n_cis: self.n_cis,
            computed_at: Some(computed_at),
        }
    }
}

/// `Debian GNU/Linux 12`, from os-release's name and version id; `Unknown OS` when neither is known.
pub fn os_label(inventory: &Inventory) -> String {
    let os = &inventory.os;
    match (&os.name, &os.version) {
        (Some(name), Some(version)) => format!("{name} {version}"),
        (Some(name), None) => name.clone(),
        (None, _) => os
            .pretty_name
            .clone()
            .unwrap_or_else(|| "Unknown OS".to_string()),
    }
}

/// An SMBIOS BIOS date (`MM/DD/YYYY`, sometimes `MM/DD/YY`) or an ISO date.
pub fn bios_date(text: &str) -> Option<Date> {
    let text = text.trim();
    if let Some(date) = iso_date(text) {
        return Some(date);
    }
    let mut parts = text.split('/');
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    let year_text = parts.next()?;
    let mut year: i32 = year_text.parse().ok()?;
    if year_text.len() == 2 {
        // Two-digit years are from firmware of the 1990s and 2000s.
        year += if year >= 90 { 1900 } else { 2000 };
    }
    if parts.next().is_some() || !(1980..=2100).contains(&year) {
        return None;
    }
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

fn iso_date(text: &str) -> Option<Date> {
    let mut parts = text.split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// The index in [`AGE_BUCKETS`] of hardware built on `since`, seen `today`.
pub fn age_bucket(since: Date, today: Date) -> usize {
    let mut years = i64::from(today.year() - since.year());
    if (today.month() as u8, today.day()) < (since.month() as u8, since.day()) {
        years -= 1;
    }
    AGE_BUCKETS
        .iter()
        .position(|(_, below)| below.is_none_or(|below| years < below))
        .unwrap_or(AGE_BUCKETS.len() - 1)
}

/// One pass over the fleet: every CI header and its inventory without packages.
pub fn compute(cmdb: &Cmdb, now: OffsetDateTime) -> Result<FleetCharts, CmdbError> {
    let mut tally = Tally::default();
    cmdb.for_each_without_packages(|header, inventory| {
        tally.add(&inventory, &header.first_seen, now.date());
        Ok::<(), CmdbError>(())
    })?;
    Ok(tally.finish(now))
}

/// The last charts computed and when; one pass at a time.
#[derive(Debug, Default)]
pub struct ChartCache {
    last: Mutex<Option<(Instant, Arc<FleetCharts>)>>,
    running: tokio::sync::Mutex<()>,
}

impl ChartCache {
    /// Fresh charts, or `None` when a pass takes longer than [`WAIT`] (it goes on in the background and
    /// fills the cache for the next view).
    pub async fn get(self: &Arc<Self>, cmdb: Arc<Cmdb>) -> Option<Arc<FleetCharts>> {
        if let Some(fresh) = self.fresh() {
            return Some(fresh);
        }
        let cache = Arc::clone(self);
        let pass = tokio::spawn(async move {
            let _one_pass = cache.running.lock().await;
            if let Some(fresh) = cache.fresh() {
                return Some(fresh);
            }
            let computed =
                tokio::task::spawn_blocking(move || compute(&cmdb, OffsetDateTime::now_utc()))
                    .await;
            match computed {
                Ok(Ok(charts)) => {
                    let charts = Arc::new(charts);
                    *cache.lock() = Some((Instant::now(), Arc::clone(&charts)));
                    Some(charts)
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "computing the dashboard charts failed");
                    None
                }
                Err(error) => {
                    tracing::error!(%error, "the dashboard chart pass panicked");
                    None
                }
            }
        });
        match tokio::time::timeout(WAIT, pass).await {
            Ok(Ok(charts)) => charts,
            _ => self.lock().as_ref().map(|(_, charts)| Arc::clone(charts)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<FleetCharts>)>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn fresh(&self) -> Option<Arc<FleetCharts>> {
        self.lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < REFRESH)
            .map(|(_, charts)| Arc::clone(charts))
    }
}

/// A horizontal bar chart: one row per `(label, value)`, the value written at the end of each bar.
pub fn bar_chart(id: &str, title: &str, description: &str, bars: &[(String, u64)]) -> Markup {
    const WIDTH: u64 = 600;
    const LABEL: u64 = 220;
    const ROW: u64 = 30;
    const BAR: u64 = 18;
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let room = WIDTH - LABEL - 60;
    let height = (bars.len() as u64).max(1) * ROW + 8;
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" viewBox={ "0 0 " (WIDTH) " " (height) }
            aria-labelledby={ (title_id) " " (desc_id) } {
            title id=(title_id) { (title) }
            desc id=(desc_id) { (description) }
            @if bars.is_empty() {
                text x="0" y="20" class="chart-label" { "No data yet" }
            }
            @for (index, (label, value)) in bars.iter().enumerate() {
                @let y = index as u64 * ROW + 4;
                @let length = if *value == 0 { 0 } else { (room * value / max).max(2) };
                g {
                    title { (label) ": " (value) }
                    text.chart-label x={ (LABEL - 10) } y={ (y + BAR - 4) } text-anchor="end" { (shorten(label, 30)) }
                    rect.chart-bar x=(LABEL) y=(y) width=(length) height=(BAR) rx="3" {}
                    text.chart-value x={ (LABEL + length + 6) } y={ (y + BAR - 4) } { (value) }
                }
            }
        }
    }
}

fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let cut: String = label.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn machine(name: Option<&str>, version: Option<&str>, bios: Option<&str>) -> Inventory {
        let mut inventory = Inventory::default();
        inventory.os.name = name.map(str::to_string);
        inventory.os.version = version.map(str::to_string);
        inventory.hardware.bios.date = bios.map(str::to_string);
        inventory
    }

    #[test]
    fn bios_dates_parse_in_smbios_and_iso_forms() {
        assert_eq!(bios_date("03/15/2021"), Some(date!(2021 - 03 - 15)));
        assert_eq!(bios_date("12/01/99"), Some(date!(1999 - 12 - 01)));
        assert_eq!(bios_date("2019-07-04"), Some(date!(2019 - 07 - 04)));
        for bad in [
            "",
            "13/01/2020",
            "Not Specified",
            "01/02/2020/3",
            "01/01/1970",
        ] {
            assert_eq!(bios_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ages_fall_in_whole_year_buckets() {
        let today = date!(2026 - 11 - 27);
        assert_eq!(age_bucket(date!(2026 - 01 - 01), today), 0);
        assert_eq!(
            age_bucket(date!(2025 - 11 - 28), today),
            0,
            "not yet a year"
        );
        assert_eq!(age_bucket(date!(2025 - 11 - 27), today), 1);
        assert_eq!(
            age_bucket(date!(2021 - 11 - 27), today),
            3,
            "exactly 5 years"
        );
        assert_eq!(age_bucket(date!(2009 - 01 - 01), today), 4);
    }

    #[test]
    fn the_tally_counts_os_versions_and_estimates_unknown_ages_from_first_seen() {
        let today = date!(2026 - 11 - 27);
        let mut tally = Tally::default();
        let debian = machine(Some("Debian GNU/Linux"), Some("12"), Some("03/15/2024"));
        tally.add(&debian, "2026-01-01T00:00:00Z", today);
        tally.add(&debian, "2026-01-01T00:00:00Z", today);
        let rhel = machine(Some("Red Hat Enterprise Linux"), Some("9.4"), None);
        tally.add(&rhel, "2026-06-01T00:00:00Z", today);
        tally.add(&machine(None, None, Some("01/01/2015")), "bad", today);
        let charts = tally.finish(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            charts.os,
            vec![
                ("Debian GNU/Linux 12".to_string(), 2),
                ("Red Hat Enterprise Linux 9.4".to_string(), 1),
                ("Unknown OS".to_string(), 1),
            ]
        );
        let ages: Vec<u64> = charts.age.iter().map(|(_, n)| *n).collect();
        assert_eq!(ages, vec![1, 2, 0, 0, 1]);
        assert_eq!(charts.age_estimated, 1);
        assert_eq!(charts.n_cis, 4);
    }

    #[test]
    fn many_os_versions_are_cut_to_the_largest_and_other() {
        let today = date!(2026 - 11 - 27);
        let mut tally = Tally::default();
        for n in 0..12u64 {
            for _ in 0..=n {
                tally.add(&machine(Some("OS"), Some(&n.to_string()), None), "", today);
            }
        }
        let charts = tally.finish(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(charts.os.len(), MAX_OS_BARS + 1);
        assert_eq!(charts.os[0], ("OS 11".to_string(), 12));
        assert_eq!(
            charts.os.last().unwrap(),
            &("Other".to_string(), 1 + 2 + 3 + 4)
        );
    }

    #[test]
    fn charts_label_every_bar_and_escape_labels() {
        let svg = bar_chart(
            "os",
            "OS versions",
            "CIs per OS version",
            &[
                ("<script>x</script>".to_string(), 3),
                ("Debian 12".to_string(), 0),
            ],
        )
        .into_string();
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(
            svg.contains("aria-labelledby=\"os-title os-desc\""),
            "{svg}"
        );
        assert!(svg.contains("<title>Debian 12: 0</title>"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;") && !svg.contains("<script>"),
            "{svg}"
        );
    }
}

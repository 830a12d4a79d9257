//! Retry timing: exponential backoff with full jitter, and the collector's `Retry-After`.
//!
//! Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): after the n-th consecutive
//! failure wait a uniformly random time in `[0, min(cap, base * 2^n)]`. When a collector comes back
//! after an outage, a fleet retrying this way arrives spread out instead of in synchronised waves.
//! A floor of one second keeps an unlucky draw of zero from turning into a hot loop.
//!
//! When the collector says when to come back (`Retry-After` on 429 and 503), the agent waits at least
//! that long, plus up to 10 % more so the fleet it turned away does not return in the same second.

use rand::Rng;
use std::time::{Duration, SystemTime};

/// The shortest wait between two attempts.
pub const MIN_DELAY: Duration = Duration::from_secs(1);
/// A `Retry-After` beyond this is treated as this (a misconfigured proxy should not silence an agent
/// for weeks).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a success: the next failure starts again from `base`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The upper bound of the next delay: `min(cap, base * 2^failures)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Records a failure and returns how long to wait before the next attempt. `retry_after` is the
    /// collector's own answer, which wins over the computed delay.
    pub fn next_delay(&mut self, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        match retry_after {
            Some(after) => {
                let after = after.min(MAX_RETRY_AFTER);
                let spread = rng.random_range(0..=after.as_millis() as u64 / 10);
                (after + Duration::from_millis(spread)).max(MIN_DELAY)
            }
            None => {
                let jittered = rng.random_range(0..=ceiling.as_millis() as u64);
                Duration::from_millis(jittered).max(MIN_DELAY)
            }
        }
    }
}

/// Parses a `Retry-After` header: delay-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`), relative to `now`. A date in the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc();
    let at =
        SystemTime::UNIX_EPOCH + Duration::try_from(at - time::OffsetDateTime::UNIX_EPOCH).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_stay_within_full_jitter_bounds_and_reach_the_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_secs(30);
        let cap = Duration::from_secs(3600);
        let mut backoff = Backoff::new(base, cap);
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            let ceiling = backoff.ceiling();
            ceilings.push(ceiling.as_secs());
            let delay = backoff.next_delay(None, &mut rng);
            assert!(
                delay >= MIN_DELAY && delay <= ceiling,
                "{delay:?} > {ceiling:?}"
            );
        }
        assert_eq!(&ceilings[..8], &[30, 60, 120, 240, 480, 960, 1920, 3600]);
        assert_eq!(*ceilings.last().unwrap(), 3600);
        backoff.reset();
        assert_eq!(backoff.ceiling(), base);
    }

    #[test]
    fn delays_are_spread_not_synchronised() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<u128> = (0..50)
            .map(|_| {
                let mut backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3600));
                backoff.next_delay(None, &mut rng).as_millis()
            })
            .collect();
        assert!(delays.len() > 40, "only {} distinct delays", delays.len());
    }

    #[test]
    fn a_retry_after_is_honoured_with_a_little_spread() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3600));
        for _ in 0..20 {
            let delay = backoff.next_delay(Some(Duration::from_secs(120)), &mut rng);
            assert!(delay >= Duration::from_secs(120) && delay <= Duration::from_secs(132));
        }
        let delay = backoff.next_delay(Some(Duration::from_secs(90 * 86_400)), &mut rng);
        assert!(delay <= MAX_RETRY_AFTER + MAX_RETRY_AFTER / 10);
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_792_480_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // MDN's example date, 60 s after `now`.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_420);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}

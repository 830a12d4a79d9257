//! Human durations in configuration files and command lines: `500ms`, `90s`, `15m`, `1h`, `30d`, `2w`,
//! `1h30m`.
//!
//! Used by both the agent (report interval, splay, timeouts) and the collector (certificate validity,
//! token lifetimes, staleness), so both read durations the same way.

use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a duration: {reason} (write e.g. 500ms, 90s, 15m, 1h, 30d, 2w or 1h30m)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses `input` as a sum of `<number><unit>` parts with units ms, s, m, h, d, w.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let error = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(error("it is empty"));
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error("expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| error("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms_per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(error("a unit is missing after the number")),
            _ => return Err(error("unknown unit")),
        };
        rest = &rest[unit_len..];
        total_ms = number
            .checked_mul(ms_per_unit)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| error("it is too long"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats `duration` in the largest whole units (`1h30m`, `30d`), the inverse of [`parse`] for whole seconds.
pub fn format(duration: Duration) -> String {
    Display(duration).to_string()
}

struct Display(Duration);

impl fmt::Display for Display {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seconds = self.0.as_secs();
        if seconds == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("w", 604_800),
            ("d", 86_400),
            ("h", 3_600),
            ("m", 60),
            ("s", 1),
        ] {
            if seconds >= size {
                write!(f, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_combined_units() {
        for (input, seconds) in [
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("30d", 2_592_000),
            ("2w", 1_209_600),
            ("1h30m", 5400),
        ] {
            assert_eq!(
                parse(input).unwrap(),
                Duration::from_secs(seconds),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration_and_says_how_to_write_one() {
        for input in ["", "h", "10", "10x", "-5m", "1.5h", "99999999999999999999w"] {
            let error = parse(input).unwrap_err();
            assert!(
                error.to_string().contains("write e.g. 500ms, 90s"),
                "{input}: {error}"
            );
        }
    }

    #[test]
    fn format_is_the_inverse_of_parse() {
        for input in ["0s", "1m30s", "1h30m", "4w2d", "2w1d", "1w2d3h4m5s"] {
            assert_eq!(format(parse(input).unwrap()), input);
        }
        assert_eq!(format(parse("30d").unwrap()), "4w2d");
    }
}

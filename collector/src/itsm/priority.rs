//! Incident priority from impact and urgency: the standard ITIL 3×3 matrix (pure).
//!
//! Impact and urgency are 1 (high) to 3 (low). Priority is never set by hand: it is derived whenever
//! impact or urgency changes, so the two can never disagree.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Impact or urgency: 1 = high, 2 = medium, 3 = low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    pub const HIGH: Level = Level(1);
    pub const MEDIUM: Level = Level(2);
    pub const LOW: Level = Level(3);

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            1..=3 => Ok(Level(value)),
            _ => Err(format!(
                "{value} is not a valid level; use 1 (high), 2 (medium) or 3 (low)"
            )),
        }
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        level.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    pub fn label(self) -> &'static str {
        match self {
            Priority::P1 => "Critical",
            Priority::P2 => "High",
            Priority::P3 => "Moderate",
            Priority::P4 => "Low",
            Priority::P5 => "Planning",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}", self, self.label())
    }
}

/// Rows are impact 1..3, columns urgency 1..3.
const MATRIX: [[Priority; 3]; 3] = [
    [Priority::P1, Priority::P2, Priority::P3],
    [Priority::P2, Priority::P3, Priority::P4],
    [Priority::P3, Priority::P4, Priority::P5],
];

pub fn priority(impact: Level, urgency: Level) -> Priority {
    MATRIX[usize::from(impact.0 - 1)][usize::from(urgency.0 - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_matrix() {
        use Priority::*;
        let expected = [
            (1, 1, P1),
            (1, 2, P2),
            (2, 1, P2),
            (1, 3, P3),
            (2, 2, P3),
            (3, 1, P3),
            (2, 3, P4),
            (3, 2, P4),
            (3, 3, P5),
        ];
        for (impact, urgency, want) in expected {
            let got = priority(
                Level::try_from(impact).unwrap(),
                Level::try_from(urgency).unwrap(),
            );
            assert_eq!(got, want, "impact {impact} urgency {urgency}");
        }
        assert_eq!(P1.to_string(), "P1 Critical");
        assert_eq!(P5.label(), "Planning");
    }

    #[test]
    fn levels_outside_one_to_three_are_refused() {
        for bad in [0u8, 4, 255] {
            let error = Level::try_from(bad).unwrap_err();
            assert!(error.contains("use 1 (high)"), "{error}");
        }
        let parsed: Result<Level, _> = serde_json::from_str("4");
        assert!(
            parsed
                .unwrap_err()
                .to_string()
                .contains("not a valid level")
        );
        assert_eq!(serde_json::to_string(&Level::HIGH).unwrap(), "1");
    }
}

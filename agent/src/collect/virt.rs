//! Virtualization detection (placeholder until the collector lands).

use super::Root;

pub fn detect(_root: &Root) -> Option<String> {
    None
}

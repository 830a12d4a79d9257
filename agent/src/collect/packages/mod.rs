//! Installed packages (placeholder until the collectors land).

use super::{Errors, Root};
use census_shared::inventory::*;

pub fn collect(_root: &Root, _errors: &mut Errors) -> Vec<Package> {
    Default::default()
}

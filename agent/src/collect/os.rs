//! Operating system (placeholder until the collector lands).

use super::{Errors, Root};
use census_shared::inventory::*;

pub fn collect(_root: &Root, _errors: &mut Errors) -> Os {
    Default::default()
}

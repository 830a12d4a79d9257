//! Hardware: DMI/SMBIOS identity, CPU, memory, disks, devices (placeholder until the collector lands).

use super::{Errors, Root};
use census_shared::inventory::*;

pub fn collect(_root: &Root, _errors: &mut Errors) -> Hardware {
    Default::default()
}

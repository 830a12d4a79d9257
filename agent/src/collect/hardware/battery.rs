//! Batteries from `/sys/class/power_supply/*` entries whose `type` is `Battery`.
//!
//! Capacities are reported in watt-hours: from `energy_full_design`/`energy_full` (µWh) when the driver
//! gives energy, else from `charge_*` (µAh) times `voltage_min_design` (µV). Batteries of peripherals
//! (`scope` = `Device`: a wireless mouse, a headset) are not the machine's and are left out.

use crate::collect::Root;
use census_shared::inventory::Battery;

/// Watt-hours from a µWh value, or a µAh value and a µV voltage; rounded to 0.01 Wh for stable documents.
pub fn watt_hours(
    micro_wh: Option<u64>,
    micro_ah: Option<u64>,
    micro_v: Option<u64>,
) -> Option<f64> {
    let wh = match (micro_wh, micro_ah, micro_v) {
        (Some(uwh), _, _) => uwh as f64 / 1e6,
        (None, Some(uah), Some(uv)) => uah as f64 * uv as f64 / 1e12,
        _ => return None,
    };
    (wh > 0.0).then(|| (wh * 100.0).round() / 100.0)
}

pub fn read(root: &Root) -> Result<Vec<Battery>, crate::collect::ReadError> {
    let names = root.list_dir("/sys/class/power_supply")?;
    Ok(names
        .iter()
        .filter_map(|name| {
            let dir = format!("/sys/class/power_supply/{name}");
            let value = |file: &str| root.read_value(&format!("{dir}/{file}"));
            let number = |file: &str| value(file).and_then(|v| v.parse::<u64>().ok());
            if value("type").as_deref() != Some("Battery")
                || value("scope").as_deref() == Some("Device")
            {
                return None;
            }
            let voltage = number("voltage_min_design");
            Some(Battery {
                name: name.clone(),
                vendor: value("manufacturer"),
                model: value("model_name"),
                serial: value("serial_number").and_then(|s| super::dmi::serial_number(&s)),
                technology: value("technology").filter(|t| t != "Unknown"),
                design_capacity_wh: watt_hours(
                    number("energy_full_design"),
                    number("charge_full_design"),
                    voltage,
                ),
                full_capacity_wh: watt_hours(number("energy_full"), number("charge_full"), voltage),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_in_watt_hours() {
        assert_eq!(watt_hours(Some(57_000_000), None, None), Some(57.0));
        assert_eq!(
            watt_hours(None, Some(4_000_000), Some(11_550_000)),
            Some(46.2)
        );
        assert_eq!(watt_hours(None, Some(4_000_000), None), None);
        assert_eq!(watt_hours(Some(0), None, None), None);
    }
}

//! Bytes a full report puts on the wire, in the `full` form and in the `known` form (every package
//! record named by its digest, as for a machine whose packages the fleet already reported), both
//! encoded and gzip-compressed exactly as the agent sends them (BENCHMARKS.md, "Wire").
//!
//! ```sh
//! census-agent inventory > census.json
//! cargo run --release -p census-agent --example report_bytes -- census.json
//! ```

use census_agent::transport::encode_report;
use census_shared::hash::content_hash;
use census_shared::inventory::Inventory;
use census_shared::package_digest::known_form;
use census_shared::protocol::{PROTOCOL_VERSION, Report, ReportBody, ReportHeader};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: report_bytes INVENTORY.json"))?;
    let mut inventory: Inventory = serde_json::from_slice(&std::fs::read(&path)?)?;
    inventory.canonicalize();
    let header = ReportHeader {
        epoch: 1_764_201_600,
        seq: 1,
        report_id: "0b7a4c5e-6a43-4c35-9d87-2f1c7a0e9b11".into(),
        hash: content_hash(&inventory),
        collected_at: inventory.collected_at.clone(),
    };
    let encoded = |body: ReportBody| {
        encode_report(&Report {
            protocol: PROTOCOL_VERSION,
            header: header.clone(),
            body,
        })
    };
    let full = encoded(ReportBody::Full {
        inventory: Box::new(inventory.clone()),
    })?;
    let form = known_form(&inventory, &[]);
    let (whole, named) = (
        form.inventory.software.packages.len(),
        form.known_packages.len(),
    );
    let known = encoded(form.into_body())?;
    println!(
        "{} packages: full form {} bytes gzip; known form {} bytes gzip ({named} by digest, {whole} whole), {:.2} of the full form",
        inventory.software.packages.len(),
        full.len(),
        known.len(),
        known.len() as f64 / full.len() as f64
    );
    Ok(())
}

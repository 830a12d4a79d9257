//! Criterion benchmarks of the collector's hot pure paths: decoding a 1,000-package full report as the
//! `report` handler does (shape scan, serde, checks) then hashing it, parsing a query and evaluating it
//! over 1,000 assets, and the reconciliation rules against 100 candidate CIs. Inputs are generated in
//! code, deterministically.
//!
//! `cargo bench -p census-collector --bench hot_paths` measures (release); `cargo test -p
//! census-collector --benches` runs each benchmark once in debug so CI keeps them working.
//! Figures: BENCHMARKS.md.

use census_collector::api::Limits;
use census_collector::api::agent::decode_report;
use census_collector::api::body::Encoding;
use census_collector::cmdb::reconcile::{Candidates, Identifiers, decide};
use census_collector::query::{AssetView, matches, parse};
use census_shared::Inventory;
use census_shared::hash::content_hash;
use census_shared::inventory::Package;
use census_shared::protocol::{PROTOCOL_VERSION, Report, ReportBody, ReportHeader};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use time::OffsetDateTime;

/// A canonical inventory of host `n` with `packages` dpkg or rpm packages.
fn inventory(n: usize, packages: usize) -> Inventory {
    let (os, manager) = if n.is_multiple_of(3) {
        ("rhel", "rpm")
    } else {
        ("debian", "dpkg")
    };
    let mut inventory = Inventory::default();
    inventory.host.hostname = Some(format!("web-{n:04}"));
    inventory.os.id = Some(os.into());
    inventory.os.version = Some(format!("{}", 9 + n % 4));
    inventory.hardware.memory.total_bytes = Some((4 + (n % 8) as u64 * 4) << 30);
    inventory.software.packages = (0..packages)
        .map(|i| Package {
            manager: manager.into(),
            name: if i == 0 {
                "openssl".into()
            } else {
                format!("package-{i:04}")
            },
            version: format!("{}.{}.{}-{}", 1 + (n + i) % 4, i % 13, i % 5, n % 3),
            arch: Some("amd64".into()),
            source: Some(format!("source-{}", i / 3)),
            vendor: Some("Debian Developers <debian-devel@lists.debian.org>".into()),
            section: Some("libs".into()),
            installed_size_bytes: Some(1024 * (i as u64 % 997)),
            installed_at: None,
        })
        .collect();
    inventory.canonicalize();
    inventory
}

fn report(c: &mut Criterion) {
    let inventory = inventory(1, 1_000);
    let report = Report {
        protocol: PROTOCOL_VERSION,
        header: ReportHeader {
            epoch: 1,
            seq: 1,
            report_id: "bench".into(),
            hash: content_hash(&inventory),
            collected_at: "2026-01-01T00:00:00Z".into(),
        },
        body: ReportBody::Full {
            inventory: Box::new(inventory),
        },
    };
    let bytes = serde_json::to_vec(&report).expect("serialises");
    let limits = Limits::default();
    c.bench_function("report_1000_packages/decode_and_content_hash", |b| {
        b.iter(|| {
            let report = decode_report(black_box(&bytes), Encoding::Identity, &limits)
                .expect("a valid report");
            match report.body {
                ReportBody::Full { inventory } | ReportBody::Known { inventory, .. } => {
                    content_hash(&inventory)
                }
                ReportBody::Delta { base_hash, .. } => base_hash,
            }
        })
    });
}

fn query(c: &mut Criterion) {
    let text = "package:openssl version < 3.0.7 and os.id in (debian, ubuntu) and memory >= 16GiB";
    c.bench_function("query/parse", |b| b.iter(|| parse(black_box(text))));
    let expr = parse(text).expect("the benchmark query parses");
    let inventories: Vec<Inventory> = (0..1_000).map(|n| inventory(n, 50)).collect();
    let assets: Vec<AssetView> = inventories
        .iter()
        .map(|inventory| AssetView {
            inventory: Some(inventory),
            status: Some("active"),
            ..AssetView::default()
        })
        .collect();
    let now = OffsetDateTime::UNIX_EPOCH;
    let hits = assets.iter().filter(|a| matches(&expr, *a, now)).count();
    assert!(hits > 0 && hits < assets.len(), "{hits} of 1,000 match");
    c.bench_function("query/matches_over_1000_assets", |b| {
        b.iter(|| {
            assets
                .iter()
                .filter(|asset| matches(black_box(&expr), *asset, now))
                .count()
        })
    });
}

fn identifiers(n: usize) -> Identifiers {
    Identifiers {
        system_vendor: Some("dell inc.".into()),
        system_serial: Some(format!("SRV{n:05}")),
        system_uuid: Some(format!("4c4c4544-0000-1000-8000-{n:012x}")),
        board_serials: vec![format!("BRD{n:05}")],
        machine_id: Some(format!("{n:032x}")),
        macs: vec![format!("52:54:00:00:{:02x}:{:02x}", n / 256, n % 256)],
        hostname: Some(format!("web-{n:04}")),
        disk_serials: vec![format!("DSK{n:05}")],
    }
}

fn reconcile(c: &mut Criterion) {
    let candidates: Candidates = (0..100).map(|n| (n, identifiers(n as usize))).collect();
    let report = identifiers(42);
    c.bench_function("reconcile/decide_against_100_candidates", |b| {
        b.iter(|| decide(black_box(&report), black_box(&candidates)))
    });
}

criterion_group!(benches, report, query, reconcile);
criterion_main!(benches);

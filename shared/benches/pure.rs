//! Criterion benchmarks of census-shared's hot pure paths: parsing and hashing a 1,000-package
//! inventory, `delta::diff` and `delta::apply` between two such inventories a few upgrades apart, the
//! canonical order of a shuffled package list, and version comparison on dpkg and rpm tables. Inputs
//! are generated in code, deterministically.
//!
//! `cargo bench -p census-shared` measures (release); `cargo test -p census-shared --benches` runs each
//! benchmark once in debug so CI keeps them compiling and working. Figures: BENCHMARKS.md.

use census_shared::Inventory;
use census_shared::delta::{apply, diff};
use census_shared::hash::content_hash;
use census_shared::inventory::{Package, canonicalize_packages};
use census_shared::version;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A canonical inventory of `count` dpkg packages; packages in `upgraded` carry a newer revision.
fn inventory(count: usize, upgraded: &[usize]) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.host.hostname = Some("bench-01".into());
    inventory.os.id = Some("debian".into());
    inventory.software.packages = (0..count)
        .map(|i| Package {
            manager: "dpkg".into(),
            name: format!("package-{i:04}"),
            version: format!(
                "{}.{}.{}-{}",
                i % 7,
                i % 13,
                i % 5,
                if upgraded.contains(&i) { 2 } else { 1 }
            ),
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

fn parse_and_hash(c: &mut Criterion) {
    let json = serde_json::to_string(&inventory(1_000, &[])).expect("serialises");
    c.bench_function("inventory_1000_packages/parse_and_content_hash", |b| {
        b.iter(|| {
            let parsed: Inventory = serde_json::from_str(black_box(&json)).expect("parses");
            content_hash(&parsed)
        })
    });
    let parsed: Inventory = serde_json::from_str(&json).expect("parses");
    c.bench_function("inventory_1000_packages/content_hash", |b| {
        b.iter(|| content_hash(black_box(&parsed)))
    });
    // What an agent computes for a whole report in the `known` form, and the collector for each
    // record it loads at start.
    c.bench_function("inventory_1000_packages/known_form", |b| {
        b.iter(|| census_shared::package_digest::known_form(black_box(&parsed), &[]))
    });
}

fn delta(c: &mut Criterion) {
    let old = inventory(1_000, &[]);
    let new = inventory(1_000, &[10, 500, 990]);
    let delta = diff(&old, &new);
    assert_eq!(apply(&old, &delta).as_ref(), Ok(&new));
    c.bench_function("delta_1000_packages_3_upgrades/diff", |b| {
        b.iter(|| diff(black_box(&old), black_box(&new)))
    });
    c.bench_function("delta_1000_packages_3_upgrades/apply", |b| {
        b.iter(|| apply(black_box(&old), black_box(&delta)))
    });
}

/// Putting a machine's packages in canonical order, as the collector does with a changed report's
/// packages (it holds them in record-id order, so shuffled), names shaped like a Debian system's:
/// long shared prefixes (`libreoffice-`, `python3-`, `fonts-`) and short unique ones.
fn package_order(c: &mut Criterion) {
    const PREFIXES: &[&str] = &[
        "lib",
        "libreoffice-",
        "python3-",
        "fonts-",
        "linux-image-",
        "gir1.2-",
        "",
        "node-",
    ];
    const WORDS: &[&str] = &[
        "core", "common", "data", "dev", "utils", "gtk-3", "calc", "client", "doc", "runtime",
    ];
    let mut packages: Vec<Package> = (0..1_000)
        .map(|i| Package {
            manager: "dpkg".into(),
            name: format!(
                "{}{}{}",
                PREFIXES[i % PREFIXES.len()],
                WORDS[(i / PREFIXES.len()) % WORDS.len()],
                i / (PREFIXES.len() * WORDS.len())
            ),
            version: format!("{}.{}-1", i % 7, i % 13),
            arch: Some("amd64".into()),
            source: None,
            vendor: Some("Debian Developers <debian-devel@lists.debian.org>".into()),
            section: Some("libs".into()),
            installed_size_bytes: Some(1024 * (i as u64 % 997)),
            installed_at: None,
        })
        .collect();
    // A deterministic shuffle (xorshift): record ids follow first sight across the fleet.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..packages.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        packages.swap(i, (state % (i as u64 + 1)) as usize);
    }
    c.bench_function("package_order_1000/canonicalize_shuffled", |b| {
        b.iter_batched(
            || packages.clone(),
            |mut packages| {
                canonicalize_packages(&mut packages);
                packages
            },
            BatchSize::SmallInput,
        )
    });
}

/// Pairs as real package databases write them: epochs, revisions, `~` pre-releases, `+` rebuilds.
const DPKG: &[(&str, &str)] = &[
    ("1:2.3-4", "1:2.3-4+b1"),
    ("3.0.11-1~deb12u2", "3.0.11-1"),
    ("5.2.15-2+b8", "5.2.15-2+b9"),
    ("2.36-9+deb12u10", "2.36-9+deb12u9"),
    ("1.0~rc1", "1.0"),
    ("0.9.8zh-1", "0.9.8-1"),
    ("252.38-1~deb12u1", "252.39-1~deb12u1"),
    ("1:9.18.33-1~deb12u2", "9.18.33-1~deb12u2"),
];
const RPM: &[(&str, &str)] = &[
    ("0:3.0.7-27.el9", "1:3.0.7-27.el9"),
    ("5.1.8-6.el9", "5.1.8-9.el9"),
    ("2.34-100.el9_4.2", "2.34-100.el9_4.12"),
    ("1.0~rc1-1", "1.0-1"),
    ("1.0^git1-1", "1.0-1"),
    ("252-32.el9_4", "252-32.el9_4.7"),
    ("4.18.0-553.el8_10", "4.18.0-477.el8"),
    ("1.2.3a-1", "1.2.3-1"),
];

fn versions(c: &mut Criterion) {
    for (manager, table) in [("dpkg", DPKG), ("rpm", RPM)] {
        c.bench_function(&format!("version_compare/{manager}_table_of_8"), |b| {
            b.iter(|| {
                table
                    .iter()
                    .map(|(x, y)| version::compare(manager, black_box(x), black_box(y)))
                    .filter(|order| order.is_lt())
                    .count()
            })
        });
    }
}

criterion_group!(benches, parse_and_hash, delta, package_order, versions);
criterion_main!(benches);

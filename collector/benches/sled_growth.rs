//! sled alone, writing what a changed report writes, to show how its file grows (BENCHMARKS.md,
//! "Bytes per history entry"): per "report", one transaction over five trees that updates a CI's
//! header (850 B) and body (1.4 KB) in place and inserts a history entry (620 B), three events (150 B)
//! and three package records (230 B), then a flush, as the collector does.
//!
//! ```sh
//! cargo bench -p census-collector --bench sled_growth -- --cis 500 --rounds 40 --mode mixed
//! cargo bench -p census-collector --bench sled_growth -- --cis 500 --rounds 40 --mode updates
//! ```
//!
//! `--mode updates` leaves the inserts out (the header and body updates only). It prints the file's
//! size against the bytes inserted so far every 5 rounds. `cargo test --benches` runs a few rounds
//! so that it keeps working.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

const TREES: [&str; 5] = ["header", "body", "history", "events", "packages"];

/// Deterministic bytes that do not compress away (sled does not compress without its feature, but
/// the figures should not depend on that).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b' ' + (x % 64) as u8
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let quick = !args.iter().any(|arg| arg == "--bench");
    let cis: u64 = value("--cis").map_or(if quick { 20 } else { 500 }, |v| {
        v.parse().expect("--cis N")
    });
    let rounds: u64 = value("--rounds").map_or(if quick { 2 } else { 40 }, |v| {
        v.parse().expect("--rounds N")
    });
    let inserts = value("--mode").as_deref() != Some("updates");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("db");
    let db = sled::Config::new()
        .path(&path)
        .cache_capacity(256 * 1024 * 1024)
        .open()
        .expect("sled opens");
    let trees: Vec<sled::Tree> = TREES
        .iter()
        .map(|name| db.open_tree(name).expect("a tree"))
        .collect();
    let file_len = || std::fs::metadata(path.join("db")).map_or(0, |m| m.len());
    let mut inserted = 0usize;
    let mut report = 0u64;
    println!(
        "sled_growth: {cis} CIs x {rounds} rounds, {}",
        if inserts {
            "updates and inserts"
        } else {
            "updates only"
        }
    );
    for round in 1..=rounds {
        for ci in 0..cis {
            report += 1;
            let key = ci.to_be_bytes();
            let mut batches: Vec<sled::Batch> =
                TREES.iter().map(|_| sled::Batch::default()).collect();
            batches[0].insert(&key, bytes(850, report));
            batches[1].insert(&key, bytes(1_400, report + 1));
            if inserts {
                let history_key = [key, round.to_be_bytes()].concat();
                batches[2].insert(history_key, bytes(620, report + 2));
                inserted += 620;
                for n in 0..3u64 {
                    let event_key = (report * 4 + n).to_be_bytes();
                    batches[3].insert(&event_key, bytes(150, report + 3 + n));
                    let package_key = format!("pkg{:05}-{round}-{n}", (ci * 7 + n) % 3_000);
                    batches[4].insert(package_key.as_bytes(), bytes(230, report + 6 + n));
                    inserted += 380;
                }
            }
            let refs: Vec<&sled::Tree> = trees.iter().collect();
            refs.as_slice()
                .transaction(|trees| {
                    for (tree, batch) in trees.iter().zip(&batches) {
                        tree.apply_batch(batch)?;
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                })
                .expect("the transaction commits");
            db.flush().expect("sled flushes");
        }
        if round % 5 == 0 || round == rounds {
            let live = inserted as u64 + cis * (850 + 1_400);
            println!(
                "round {round:>3}: file {:>9} KB, live data {:>9} KB, file / live {:.1}",
                file_len() / 1024,
                live / 1024,
                file_len() as f64 / live as f64
            );
        }
    }
}

//! The CMDB engine at fleet scale, in process: real sled on disk, the real `Ingest` + `Cmdb` write path
//! (reconciliation, compact bodies, history, indexes, events), without HTTP or TLS in front (those are
//! measured end to end by `census-fleetsim`). It answers the questions of the fleet-scale goals that a
//! network benchmark on a 2-core machine cannot isolate: how many new CIs, changed reports and
//! check-ins per second the engine takes, how many bytes a CI and a history entry cost on disk, and how
//! long the asset queries take at 100,000 CIs.
//!
//! ```sh
//! cargo bench -p census-collector --bench cmdb_scale -- --cis 100000 --packages 500 --threads 2
//! cargo bench -p census-collector --bench cmdb_scale -- --cis 2000 --packages 500 --rounds 40
//! ```
//! `--db PATH` writes into that sled database and keeps it (BENCHMARKS.md measures `census-collector
//! serve` over a 100,000-CI database made this way).
//! `--rounds N` sends N rounds of changed reports (three more package upgrades each) to every CI and
//! reports the bytes per history entry from the slope between round 1 and round N, logical (keys and
//! values) and on disk (the sled directory after a flush). sled reclaims rewritten pages lazily, and a
//! checkpoint is written every 32 records, so only a run of many rounds shows the steady state.
//! `--covered`: one scheduled change covers every CI over every round (routine updates registered as a
//! change), so the upgrades raise no unauthorized-change flags; without it each upgrade raises one.
//! `cargo test -p census-collector --benches` runs it once with a small fleet (two rounds) so it
//! cannot rot.
//! Figures: BENCHMARKS.md.

use census_collector::cmdb::{Cmdb, CmdbConfig};
use census_collector::ingest::Ingest;
use census_collector::query;
use census_collector::store::Store;
use census_collector::store::group_commit::GroupCommit;
use census_collector::store::redb::RedbStore;
use census_collector::store::sled::SledStore;
use census_shared::delta;
use census_shared::hash::content_hash;
use census_shared::inventory::{Inventory, Package, SCHEMA_VERSION};
use census_shared::protocol::{ReportBody, ReportHeader};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Distinct package names across the fleet (machines draw from one pool, as real fleets do).
const POOL: usize = 4_000;

struct Options {
    cis: usize,
    packages: usize,
    threads: usize,
    queries: usize,
    /// Rounds of changed reports sent to every CI (each three more package upgrades).
    rounds: usize,
    /// `--db PATH`: write into this sled database and keep it (e.g. the `db` of a data directory made
    /// by `census-collector init`, to measure `serve` over it); a temporary one otherwise.
    db: Option<std::path::PathBuf>,
    /// `--engine sled|redb`: the storage engine (sled, the default, unless named).
    engine: String,
    /// `--group-commit`: every report waits for a shared flush before the next, as the server
    /// acknowledges them; otherwise the store is flushed once per round.
    group_commit: bool,
    /// `--covered`: a scheduled change covers every CI's upgrades (no unauthorized-change flags).
    covered: bool,
}

fn options() -> Options {
    let mut options = Options {
        cis: 2_000,
        packages: 1_000,
        threads: 2,
        queries: 200,
        rounds: 1,
        db: None,
        engine: "sled".into(),
        group_commit: false,
        covered: false,
    };
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` passes no options: a quick run that only proves the bench still works.
    if !args.iter().any(|arg| arg == "--bench") {
        options = Options {
            cis: 60,
            packages: 200,
            threads: 2,
            queries: 5,
            // Two rounds, so the per-history-entry slope is computed (and cannot rot) too.
            rounds: 2,
            db: None,
            engine: "sled".into(),
            group_commit: false,
            covered: false,
        };
    }
    let value = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|at| args.get(at + 1))
            .and_then(|text| text.parse::<usize>().ok())
    };
    if let Some(cis) = value("--cis") {
        options.cis = cis;
    }
    if let Some(packages) = value("--packages") {
        options.packages = packages;
    }
    if let Some(threads) = value("--threads") {
        options.threads = threads.max(1);
    }
    if let Some(queries) = value("--queries") {
        options.queries = queries.max(1);
    }
    if let Some(rounds) = value("--rounds") {
        options.rounds = rounds.max(1);
    }
    options.db = args
        .iter()
        .position(|arg| arg == "--db")
        .and_then(|at| args.get(at + 1))
        .map(std::path::PathBuf::from);
    if let Some(engine) = args
        .iter()
        .position(|arg| arg == "--engine")
        .and_then(|at| args.get(at + 1))
    {
        options.engine = engine.clone();
    }
    options.group_commit = args.iter().any(|arg| arg == "--group-commit");
    options.covered = args.iter().any(|arg| arg == "--covered");
    options
}

/// One standard change, scheduled, whose window spans every round and whose CIs are the whole fleet:
/// what an organisation registers for its routine updates.
fn cover_every_ci(store: &dyn Store, cmdb: &Arc<Cmdb>, cis: usize, rounds: usize) {
    use census_collector::itsm::change::{
        ChangeState, ChangeTransition, ChangeType, NewChange, PlannedWindow, Risk, create_change,
        transition_change,
    };
    use census_collector::itsm::cmdb_directory::CmdbDirectory;
    use census_collector::itsm::{Actor, Role};
    let at = |round: usize| {
        time::OffsetDateTime::parse(
            &round_time(round),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("a round's time")
    };
    let affected_cis = (0..cis)
        .map(|i| {
            cmdb.ci_of_agent(&format!("agent-{i}"))
                .expect("the CMDB answers")
                .expect("every machine has its CI")
        })
        .collect();
    let request = NewChange {
        title: "routine security updates".into(),
        description: None,
        change_type: ChangeType::Standard,
        risk: Risk::Low,
        window: Some(PlannedWindow {
            start: at(0),
            end: at(rounds + 1),
        }),
        implementation_plan: Some("unattended-upgrades".into()),
        backout_plan: Some("install the previous version".into()),
        affected_cis,
    };
    let directory = CmdbDirectory::new(Arc::clone(cmdb));
    let admin = Actor::new("bench", Role::Admin, "127.0.0.1");
    let id = create_change(store, &directory, &admin, request, at(0))
        .expect("the change is created")
        .record
        .id;
    let approver = Actor::new("bench-approver", Role::Approver, "127.0.0.1");
    let to = ChangeTransition {
        to: ChangeState::Scheduled,
        note: None,
    };
    transition_change(store, &approver, &id, to, at(0)).expect("the change is scheduled");
}

/// A small deterministic generator (splitmix64) so runs are comparable.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn package(name: usize, variant: u64) -> Package {
    Package {
        manager: "dpkg".into(),
        name: if name == 0 {
            "openssl".into()
        } else {
            format!("pkg-{name:04}")
        },
        // Most of a fleet runs the same few versions of each package.
        version: if name == 0 {
            [
                "3.0.2-0ubuntu1",
                "3.0.11-1~deb12u2",
                "3.0.15-1~deb12u1",
                "1.1.1w-0+deb11u1",
            ][variant as usize % 4]
                .to_string()
        } else {
            format!(
                "{}.{}.{}-{}",
                name % 7,
                name % 13,
                variant % 3,
                1 + variant % 2
            )
        },
        arch: Some("amd64".into()),
        source: Some(format!("src-{name:04}")),
        vendor: Some("Debian Developers <debian-devel@lists.debian.org>".into()),
        section: Some("utils".into()),
        installed_size_bytes: Some((name as u64 + 1) * 4096),
        installed_at: None,
    }
}

/// Machine `index`: a unique identity, a web/db/app hostname, `count` packages from the pool.
fn machine(index: usize, count: usize) -> Inventory {
    let mut inventory = Inventory::default();
    inventory.schema_version = SCHEMA_VERSION;
    inventory.collected_at = "2026-11-27T00:00:00Z".into();
    inventory.agent.version = "bench".into();
    let role = ["web", "db", "app", "cache"][index % 4];
    inventory.host.hostname = Some(format!("{role}-{index:06}"));
    inventory.host.machine_id = Some(format!("{:032x}", mix(index as u64)));
    inventory.os.id = Some("debian".into());
    inventory.os.version = Some(format!("{}", 10 + index % 3));
    inventory.hardware.system.vendor = Some("Dell Inc.".into());
    inventory.hardware.system.serial = Some(format!("SRV{index:08}"));
    inventory.hardware.system.uuid = Some(format!("4c4c4544-0000-4000-8000-{index:012x}"));
    inventory.hardware.memory.total_bytes = Some(1 << (33 + index % 4));
    let mut seed = mix(index as u64 ^ 0x5eed);
    let mut names = vec![0usize];
    while names.len() < count.min(POOL) {
        seed = mix(seed);
        let name = 1 + (seed as usize % (POOL - 1));
        if !names.contains(&name) {
            names.push(name);
        }
    }
    inventory.software.packages = names
        .iter()
        .map(|&name| package(name, mix(seed ^ name as u64) % 100 / 30))
        .collect();
    inventory.canonicalize();
    inventory
}

/// Machine `index` after `round` rounds of upgrades (round 0: as first reported). Round k upgrades
/// three packages (the k-th offset, every 97th), so each round's report is a delta of a few upgrades
/// against the previous one, as a fleet's security updates are.
fn upgraded(index: usize, count: usize, round: usize) -> Inventory {
    let mut inventory = machine(index, count);
    let span = inventory
        .software
        .packages
        .len()
        .saturating_sub(1)
        .clamp(1, 97);
    for k in 1..=round {
        for package in inventory
            .software
            .packages
            .iter_mut()
            .skip(1 + (k - 1) % span)
            .step_by(97)
            .take(3)
        {
            package.version.push_str(&format!("+sec{k}"));
        }
    }
    inventory.canonicalize();
    inventory
}

/// When round `round` of changed reports arrives: an hour after the previous one.
fn round_time(round: usize) -> String {
    // 2026-11-27T12:00:00Z, when the full reports arrive.
    const START: i64 = 1_795_780_800;
    time::OffsetDateTime::from_unix_timestamp(START + 3_600 * round as i64)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .expect("a representable time")
}

fn header(seq: u64, inventory: &Inventory) -> ReportHeader {
    ReportHeader {
        epoch: 1,
        seq,
        report_id: format!(
            "r{seq}-{}",
            inventory.host.hostname.as_deref().unwrap_or("")
        ),
        hash: content_hash(inventory),
        collected_at: inventory.collected_at.clone(),
    }
}

/// Runs `work(i)` for every i in 0..n on `threads` threads; returns the wall time.
/// A prepared report, taken by the one thread that sends it.
type ReportSlot = std::sync::Mutex<Option<(ReportHeader, ReportBody)>>;

/// Sends `reports[k]` as agent `chunk[k]` across `threads`; the wall time of the sending alone.
/// Makes each report durable before the next one, sharing flushes as the server does.
struct Durable {
    runtime: tokio::runtime::Runtime,
    group: GroupCommit,
}

impl Durable {
    fn wait(&self) {
        self.runtime
            .block_on(self.group.durable())
            .expect("the report is made durable");
    }
}

fn send_all(
    ingest: &Ingest,
    durable: Option<&Durable>,
    threads: usize,
    chunk: &[usize],
    reports: &[ReportSlot],
    at: &str,
) -> Duration {
    parallel(chunk.len(), threads, |k| {
        let (header, body) = reports[k]
            .lock()
            .expect("report slot")
            .take()
            .expect("each report is sent once");
        ingest
            .report(&format!("agent-{}", chunk[k]), &header, body, at)
            .expect("the report is applied");
        if let Some(durable) = durable {
            durable.wait();
        }
    })
}

fn parallel(n: usize, threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    work(i);
                }
            });
        }
    });
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn rate(label: &str, n: usize, wall: Duration) {
    println!(
        "{label:<34} {n:>8} in {:>8.2} s = {:>9.0} /s",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64()
    );
}

/// Bytes of a database on disk: a file (redb) or a directory's files (sled).
fn dir_size(path: &std::path::Path) -> u64 {
    disk_use(path).0
}

/// (bytes the file system holds for `path`, from its blocks; the files' lengths). They differ when a
/// file is sparse: redb extends its file ahead of use (doubling it while it is small) and writes the
/// new pages only as it fills them.
fn disk_use(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return (0, 0);
    };
    if !meta.is_dir() {
        return (meta.blocks() * 512, meta.len());
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries.flatten().fold((0, 0), |(blocks, length), entry| {
                let (b, l) = disk_use(&entry.path());
                (blocks + b, length + l)
            })
        })
        .unwrap_or((0, 0))
}

/// Every key space of the store: (name, entries, key + value bytes).
fn space_sizes(store: &dyn Store) -> Vec<(&'static str, u64, u64)> {
    let mut spaces = Vec::new();
    for space in [
        "cmdb_ci",
        "cmdb_body",
        "cmdb_packages",
        "cmdb_index",
        "cmdb_history",
        "cmdb_records",
        "cmdb_checkpoints",
        "cmdb_events",
        "cmdb_agents",
        "agent_reports",
        "agent_inventories",
        "itsm_unauthorized",
        "itsm_unauthorized_seen",
        "itsm_history",
        "itsm_by_ci",
        "itsm_by_state",
    ] {
        let (mut entries, mut bytes) = (0u64, 0u64);
        for entry in store.range(
            space,
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            false,
        ) {
            let (key, value) = entry.expect("readable");
            entries += 1;
            bytes += (key.len() + value.len()) as u64;
        }
        spaces.push((space, entries, bytes));
    }
    spaces
}

/// The store's size at one moment: the sled directory after a flush, and every space's logical size.
type Snapshot = (u64, Vec<(&'static str, u64, u64)>);

/// How many history entries the CMDB holds, from a [`space_sizes`] list.
fn history_entries(spaces: &[(&str, u64, u64)]) -> u64 {
    spaces
        .iter()
        .find(|(space, _, _)| *space == "cmdb_history")
        .map_or(0, |(_, entries, _)| *entries)
}

/// The growth from round 1 to the last round, per history entry added: logical (the history record,
/// the CMDB's spaces, the unauthorized-change flags the ITSM side raises for each upgrade, all) and on
/// disk.
fn history_slope(first: &Snapshot, last: &Snapshot) {
    let sum = |spaces: &[(&str, u64, u64)], pick: &dyn Fn(&str) -> bool| {
        spaces
            .iter()
            .filter(|(space, _, _)| pick(space))
            .map(|(_, _, bytes)| *bytes)
            .sum::<u64>()
    };
    let added = history_entries(&last.1).saturating_sub(history_entries(&first.1));
    assert!(
        added > 0,
        "every round after the first adds history entries"
    );
    let growth = |pick: &dyn Fn(&str) -> bool| {
        (sum(&last.1, pick) as f64 - sum(&first.1, pick) as f64) / added as f64
    };
    println!(
        "history after round 1: {added} entries added; per entry, logical: {:.0} bytes the record \
         (cmdb_history + cmdb_records), {:.0} bytes all CMDB spaces (events, checkpoints, new package \
         records included), {:.0} bytes unauthorized-change flags (itsm_*), {:.0} bytes in all; \
         on disk {:.0} bytes (blocks the file system holds, after flush)",
        growth(&|space| space == "cmdb_history" || space == "cmdb_records"),
        growth(&|space| !space.starts_with("itsm_")),
        growth(&|space| space.starts_with("itsm_")),
        growth(&|_| true),
        (last.0 as f64 - first.0 as f64) / added as f64,
    );
}

/// Per redb table, the pages it gained from round 1 to the end, per history entry added.
fn redb_table_slope(first: &[(String, u64, u64)], last: &[(String, u64, u64)], added: u64) {
    println!("redb pages gained per history entry, by table (rounds 2 to the end):");
    for (table, pages, stored) in last {
        let (pages_before, stored_before) = first
            .iter()
            .find(|(name, _, _)| name == table)
            .map_or((0, 0), |(_, pages, stored)| (*pages, *stored));
        let per = |now: u64, before: u64| (now as f64 - before as f64) / added as f64;
        println!(
            "  {table:<24} {:>8.0} bytes of pages for {:>6.0} bytes stored",
            per(*pages, pages_before),
            per(*stored, stored_before)
        );
    }
}

fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = options.db.clone().unwrap_or_else(|| dir.path().join("db"));
    let mut redb = None;
    let store: Arc<dyn Store> = match options.engine.as_str() {
        "sled" => Arc::new(SledStore::open(&path).expect("sled opens")),
        "redb" => {
            let store = Arc::new(RedbStore::open(&path).expect("redb opens"));
            redb = Some(Arc::clone(&store));
            store
        }
        other => panic!("--engine {other}: sled or redb"),
    };
    let cmdb = Arc::new(Cmdb::open(Arc::clone(&store), CmdbConfig::default()).expect("cmdb"));
    let ingest = Ingest::with_cmdb(Arc::clone(&store), Arc::clone(&cmdb));
    let durable = options.group_commit.then(|| Durable {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to wait on flushes"),
        group: GroupCommit::new(Arc::clone(&store)),
    });
    let now = "2026-11-27T12:00:00Z";
    println!(
        "cmdb_scale: {} CIs x {} packages, {} threads, {} at {}",
        options.cis,
        options.packages,
        options.threads,
        options.engine,
        path.display()
    );

    // Inputs are generated outside the timed sections (in chunks, so 100k machines never sit in
    // memory at once): the figures are the engine's, not the generator's.
    let hashes: Vec<std::sync::Mutex<String>> = (0..options.cis)
        .map(|_| std::sync::Mutex::new(String::new()))
        .collect();
    let mut wall = Duration::ZERO;
    for chunk in (0..options.cis).collect::<Vec<_>>().chunks(1_000) {
        let reports: Vec<ReportSlot> = chunk
            .iter()
            .map(|&i| {
                let inventory = machine(i, options.packages);
                let header = header(1, &inventory);
                *hashes[i].lock().expect("hash slot") = header.hash.clone();
                let body = ReportBody::Full {
                    inventory: Box::new(inventory),
                };
                std::sync::Mutex::new(Some((header, body)))
            })
            .collect();
        wall += send_all(
            &ingest,
            durable.as_ref(),
            options.threads,
            chunk,
            &reports,
            now,
        );
    }
    rate("new-machine full reports", options.cis, wall);
    store.flush().expect("flush");
    let after_full = dir_size(&path);

    let wall = parallel(options.cis, options.threads, |i| {
        let header = ReportHeader {
            epoch: 1,
            seq: 2,
            report_id: format!("c{i}"),
            hash: hashes[i].lock().expect("hash slot").clone(),
            collected_at: now.to_string(),
        };
        let answer = ingest
            .check_in(&format!("agent-{i}"), &header, now)
            .expect("check-in");
        assert_eq!(
            answer,
            census_shared::protocol::CheckInResponse::Unchanged,
            "machine {i} is unchanged"
        );
    });
    rate("unchanged check-ins", options.cis, wall);
    if options.covered {
        cover_every_ci(store.as_ref(), &cmdb, options.cis, options.rounds);
    }

    // Round 1 is the single changed report of the default run; later rounds give the history slope.
    let mut after_round_1 = (0u64, Vec::new());
    let mut redb_tables_round_1 = Vec::new();
    let mut after_delta = 0;
    for round in 1..=options.rounds {
        let mut wall = Duration::ZERO;
        for chunk in (0..options.cis).collect::<Vec<_>>().chunks(1_000) {
            let reports: Vec<ReportSlot> = chunk
                .iter()
                .map(|&i| {
                    let old = upgraded(i, options.packages, round - 1);
                    let new = upgraded(i, options.packages, round);
                    let body = ReportBody::Delta {
                        base_hash: content_hash(&old),
                        delta: delta::diff(&old, &new),
                    };
                    std::sync::Mutex::new(Some((header(2 + round as u64, &new), body)))
                })
                .collect();
            let at = round_time(round);
            wall += send_all(
                &ingest,
                durable.as_ref(),
                options.threads,
                chunk,
                &reports,
                &at,
            );
        }
        store.flush().expect("flush");
        let on_disk = dir_size(&path);
        if options.rounds == 1 {
            rate("changed reports (3 upgrades, delta)", options.cis, wall);
        } else {
            rate(
                &format!("round {round}: changed reports (delta)"),
                options.cis,
                wall,
            );
            println!(
                "  on disk {:.1} MB = {:.1} KB/CI (+{:.0} bytes per report this round); files' length {:.1} MB",
                on_disk as f64 / 1e6,
                on_disk as f64 / options.cis as f64 / 1024.0,
                (on_disk as f64 - after_delta.max(after_full) as f64) / options.cis as f64,
                disk_use(&path).1 as f64 / 1e6
            );
            if let Some(redb) = &redb {
                let (allocated, stored, fragmented) = redb.space_use().expect("redb stats");
                println!(
                    "  redb: pages allocated {:.1} MB, data {:.1} MB, fragmented {:.1} MB",
                    allocated as f64 / 1e6,
                    stored as f64 / 1e6,
                    fragmented as f64 / 1e6
                );
            }
        }
        if round == 1 {
            after_round_1 = (on_disk, space_sizes(store.as_ref()));
            if let Some(redb) = &redb {
                redb_tables_round_1 = redb.table_use().expect("redb table stats");
            }
        }
        after_delta = on_disk;
    }
    let spaces = space_sizes(store.as_ref());

    println!(
        "{:<20} {:>10} {:>14} {:>12}",
        "space", "entries", "bytes", "per CI"
    );
    for (space, entries, bytes) in &spaces {
        println!(
            "{space:<20} {entries:>10} {bytes:>14} {:>12.0}",
            *bytes as f64 / options.cis as f64
        );
    }
    if let Some(redb) = &redb {
        println!(
            "{:<20} {:>14} {:>14}",
            "redb table", "page bytes", "stored bytes"
        );
        for (table, pages, stored) in redb.table_use().expect("redb table stats") {
            println!("{table:<20} {pages:>14} {stored:>14}");
        }
    }
    let logical: u64 = spaces.iter().map(|(_, _, bytes)| bytes).sum();
    let after_first_delta = after_round_1.0;
    println!(
        "logical {:.1} KB/CI; on disk after full reports {:.1} KB/CI, after one changed report each {:.1} KB/CI (+{:.2} KB per history entry)",
        logical as f64 / options.cis as f64 / 1024.0,
        after_full as f64 / options.cis as f64 / 1024.0,
        after_first_delta as f64 / options.cis as f64 / 1024.0,
        (after_first_delta.saturating_sub(after_full)) as f64 / options.cis as f64 / 1024.0,
    );
    println!(
        "database on disk: {:.1} MB after full reports, {:.1} MB now",
        after_full as f64 / 1e6,
        after_delta as f64 / 1e6
    );
    if options.rounds > 1 {
        history_slope(&after_round_1, &(after_delta, spaces.clone()));
        if let Some(redb) = &redb {
            let added = history_entries(&spaces) - history_entries(&after_round_1.1);
            let tables = redb.table_use().expect("redb table stats");
            redb_table_slope(&redb_tables_round_1, &tables, added);
        }
    }

    for text in [
        "package:openssl version<3.0.7",
        "hostname ~ \"web-*\"",
        "os.version=11 and memory.total_bytes >= 32GiB",
    ] {
        let expr = query::parse(text).expect("the benchmark queries parse");
        let mut times = Vec::with_capacity(options.queries);
        let mut matched = 0;
        for _ in 0..options.queries {
            let started = Instant::now();
            let page = cmdb
                .search(Some(&expr), None, 50, None)
                .expect("the query runs");
            times.push(started.elapsed());
            matched = page.items.len();
        }
        assert!(matched > 0, "'{text}' matches some of the fleet");
        times.sort();
        println!(
            "query {text:<48} first page of {matched:>3}: p50 {:>7.2} ms  p99 {:>7.2} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    // What `serve` does at start: load the package records and rebuild the postings from every body.
    let started = Instant::now();
    let reopened = Cmdb::open(Arc::clone(&store), CmdbConfig::default()).expect("cmdb reopens");
    println!(
        "Cmdb::open over {} CIs (start of serve): {:.2} s",
        options.cis,
        started.elapsed().as_secs_f64()
    );
    drop(reopened);
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|line| line.starts_with("VmHWM"))
    {
        println!("peak RSS (whole benchmark process, generator included): {line}");
    }
}

//! Runs one workload of the engine benchmarks a given number of times, without criterion, for
//! profilers: `valgrind --tool=callgrind engine-ops redb adapter reads 100000` and the same with
//! `raw` give the instructions each spends per operation (run twice with different counts and
//! subtract, so that the preloading cancels out).
//!
//! `engine-ops <lmdb|lsm|redb|mem> <adapter|raw> <workload> <count>` (and `lmdb raw-force-sync`:
//! commits with `NO_SYNC` then `force_sync`, instead of the adapter's synced commit),
//! workloads: `reads`,
//! `reads_1k`, `scans`, `writes`, `writes_1k`, `batch_writes`. The store is
//! preloaded with `BENCH_SIZE` keys (10,000 by default) in `BENCH_DIR` (the temporary
//! directory by default).

use std::process::ExitCode;
use std::time::Instant;

use bench::raw::btree::RawBTree;
use bench::raw::fjall::RawFjall;
use bench::raw::lmdb::{RawLmdb, RawLmdbForceSync};
use bench::raw::redb::RawRedb;
use bench::workload::{BATCH_SIZE, SCAN_LEN, SEED};
use bench::{
    Adapter, BenchResult, BenchSize, BenchStore, Dataset, LARGE_VALUE_LEN, SMALL_VALUE_LEN,
};
use engine_lmdb::LmdbEngine;
use engine_lsm::FjallEngine;
use engine_mem::MemEngine;
use engine_redb::RedbEngine;

const USAGE: &str = "usage: engine-ops <lmdb|lsm|redb|mem> <adapter|raw> \
    <reads|reads_1k|scans|writes|writes_1k|batch_writes> <count>";

fn run<S: BenchStore>(workload: &str, count: u64, size: BenchSize) -> BenchResult<()> {
    let value_len = if workload.ends_with("_1k") {
        LARGE_VALUE_LEN
    } else {
        SMALL_VALUE_LEN
    };
    let data = Dataset::generate(size.keys, value_len, SEED);
    let dir = tempfile::Builder::new()
        .prefix("engine-ops-")
        .tempdir_in(bench::scratch_dir())?;
    let store = S::create(dir.path())?;
    for chunk in data.pairs().chunks(100_000) {
        store.put_all(chunk)?;
    }
    let start = Instant::now();
    match workload {
        "reads" | "reads_1k" => {
            let (_, sum) = store.read_cycle(data.pairs(), count)?;
            if sum != data.checksum(count) {
                return Err("reads read wrong values".into());
            }
        }
        "scans" => {
            store.scan_cycle(data.pairs(), count, SCAN_LEN)?;
        }
        "writes" | "writes_1k" | "batch_writes" => {
            let batch = if workload == "batch_writes" {
                BATCH_SIZE
            } else {
                1
            };
            let pool = Dataset::generate(size.keys.max(batch), value_len, SEED + 1);
            let mut at = 0;
            for _ in 0..count {
                if at + batch > pool.len() {
                    at = 0;
                }
                store.put_all(&pool.pairs()[at..at + batch])?;
                at += batch;
            }
        }
        other => return Err(format!("unknown workload {other:?}\n{USAGE}").into()),
    }
    let elapsed = start.elapsed();
    eprintln!(
        "{count} × {workload}: {:?} ({:?} each)",
        elapsed,
        elapsed / u32::try_from(count.max(1)).unwrap_or(u32::MAX)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [engine, variant, workload, count] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let size = match BenchSize::from_env() {
        Ok(size) => size,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match (engine.as_str(), variant.as_str()) {
        ("lmdb", "adapter") => run::<Adapter<LmdbEngine>>(workload, count, size),
        ("lmdb", "raw") => run::<RawLmdb>(workload, count, size),
        ("lmdb", "raw-force-sync") => run::<RawLmdbForceSync>(workload, count, size),
        ("lsm", "adapter") => run::<Adapter<FjallEngine>>(workload, count, size),
        ("lsm", "raw") => run::<RawFjall>(workload, count, size),
        ("redb", "adapter") => run::<Adapter<RedbEngine>>(workload, count, size),
        ("redb", "raw") => run::<RawRedb>(workload, count, size),
        ("mem", "adapter") => run::<Adapter<MemEngine>>(workload, count, size),
        ("mem", "raw") => run::<RawBTree>(workload, count, size),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("engine-ops: {e}");
            ExitCode::FAILURE
        }
    }
}

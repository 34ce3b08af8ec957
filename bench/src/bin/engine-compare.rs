//! Compares each engine adapter with its raw crate on every workload in alternating rounds
//! (see `bench::paired`), and prints a markdown table: the figure to trust for adapter ÷ raw on
//! a machine shared with other work.
//!
//! `engine-compare [engine...]` (default: `lmdb lsm redb mem`); `BENCH_SIZE` as for the
//! criterion benchmarks, `BENCH_BUDGET_SECS` the wall time per workload and engine (default 4).
//! `lmdb-force-sync` is no adapter: in its rows, "adapter" is raw LMDB committing with `NO_SYNC`
//! and then `force_sync`, "raw" is raw LMDB committing as the adapter does.

use std::process::ExitCode;
use std::time::Duration;

use bench::paired::{Paired, compare};
use bench::raw::btree::RawBTree;
use bench::raw::fjall::RawFjall;
use bench::raw::lmdb::{RawLmdb, RawLmdbForceSync};
use bench::raw::redb::RawRedb;
use bench::report::format_ns;
use bench::workload::{Runner, Workload, Workloads};
use bench::{Adapter, BenchResult, BenchSize, BenchStore};
use engine_lmdb::LmdbEngine;
use engine_lsm::FjallEngine;
use engine_mem::MemEngine;
use engine_redb::RedbEngine;

fn engine<A: BenchStore, B: BenchStore>(
    name: &str,
    data: &Workloads,
    budget: Duration,
) -> BenchResult<()> {
    let mut adapter = Runner::<A>::new(data);
    let mut raw = Runner::<B>::new(data);
    for workload in Workload::ALL {
        let p = compare(&mut adapter, &mut raw, workload, budget)?;
        adapter.done_with(workload);
        raw.done_with(workload);
        print_row(name, &p);
    }
    Ok(())
}

fn print_row(engine: &str, p: &Paired) {
    let mark = if p.ratio < bench::report::ADAPTER_TARGET {
        " ✗"
    } else {
        ""
    };
    println!(
        "| {} | {engine} | {} | {} | {:.2}×{mark} | {:.2}–{:.2} | {} × {} |",
        p.workload.name(),
        format_ns(p.a_ns),
        format_ns(p.b_ns),
        p.ratio,
        p.ratio_q1,
        p.ratio_q3,
        p.rounds,
        p.iters,
    );
}

fn main() -> ExitCode {
    let mut engines: Vec<String> = std::env::args().skip(1).collect();
    if engines.is_empty() {
        engines = ["lmdb", "lsm", "redb", "mem"].map(String::from).to_vec();
    }
    let size = match BenchSize::from_env() {
        Ok(size) => size,
        Err(e) => {
            eprintln!("engine-compare: {e}");
            return ExitCode::FAILURE;
        }
    };
    let budget = std::env::var("BENCH_BUDGET_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(4), Duration::from_secs_f64);
    let data = Workloads::new(size);
    println!(
        "| workload | engine | adapter | raw | adapter speed / raw (median) | quartiles | rounds × iterations |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for name in &engines {
        let result = match name.as_str() {
            "lmdb" => engine::<Adapter<LmdbEngine>, RawLmdb>(name, &data, budget),
            "lsm" => engine::<Adapter<FjallEngine>, RawFjall>(name, &data, budget),
            "redb" => engine::<Adapter<RedbEngine>, RawRedb>(name, &data, budget),
            "mem" => engine::<Adapter<MemEngine>, RawBTree>(name, &data, budget),
            // Not an adapter: raw LMDB committing with NO_SYNC then force_sync, against raw
            // LMDB committing as the adapter does (NO_SYNC off around the commit).
            "lmdb-force-sync" => engine::<RawLmdbForceSync, RawLmdb>(name, &data, budget),
            other => Err(format!(
                "unknown engine {other:?}: lmdb, lsm, redb, mem or lmdb-force-sync"
            )
            .into()),
        };
        if let Err(e) = result {
            eprintln!("engine-compare: {name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

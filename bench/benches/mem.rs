//! The memory engine through its adapter, beside a `BTreeMap` behind an `RwLock`.
//!
//! `cargo bench -p bench --bench mem` (`BENCH_SIZE=full` for 1M keys); see `BENCHMARKS.engines.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bench::raw::btree::RawBTree;
use bench::workload::Workloads;
use bench::{Adapter, BenchSize};
use criterion::{Criterion, criterion_group, criterion_main};
use engine_mem::MemEngine;

fn mem(c: &mut Criterion) {
    let size = BenchSize::from_env().unwrap();
    Workloads::new(size).run_pair::<Adapter<MemEngine>, RawBTree>(c, "mem", ("adapter", "raw"));
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = mem
}
criterion_main!(benches);

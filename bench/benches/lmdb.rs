//! LMDB (through heed) through its adapter, beside the raw crate set up the same way.
//!
//! `cargo bench -p bench --bench lmdb` (`BENCH_SIZE=full` for 1M keys); see `BENCHMARKS.engines.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bench::raw::lmdb::RawLmdb;
use bench::workload::Workloads;
use bench::{Adapter, BenchSize};
use criterion::{Criterion, criterion_group, criterion_main};

fn lmdb(c: &mut Criterion) {
    let size = BenchSize::from_env().unwrap();
    Workloads::new(size).run_pair::<Adapter<engine_lmdb::LmdbEngine>, RawLmdb>(
        c,
        "lmdb",
        ("adapter", "raw"),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = lmdb
}
criterion_main!(benches);

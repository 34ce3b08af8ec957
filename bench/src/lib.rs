//! Benchmarks of the storage engines, each [`StorageEngine`](engine_api::StorageEngine) adapter
//! beside the raw crate it wraps, so that the adapter's overhead shows as a ratio.
//!
//! The workloads follow redb's published `lmdb_benchmark` (24-byte random keys, 150-byte
//! values, a fixed seed): bulk load, individual `Sync` writes, batches of 1,000 `Sync` writes,
//! random point reads and 10-key range scans through a read snapshot, removals in batches; and
//! point reads and writes with 1 KiB values ([`workload`]). They run on any [`BenchStore`]:
//! [`Adapter`] — the one generic implementation over every `StorageEngine` — and the raw crates
//! in [`raw`], set up exactly as their adapters set them up.
//!
//! Three ways to run them, for three questions:
//!
//! * the criterion targets in `benches/` (one per engine; `cargo bench -p bench`), and the
//!   `bench-report` binary that tables criterion's results ([`report`]): absolute figures;
//! * the `engine-compare` binary ([`paired`]): adapter ÷ raw, measured in alternating rounds so
//!   that a machine shared with other work does not skew the ratio;
//! * the `engine-ops` binary and `callgrind-ops.sh`: one workload alone, for profilers, and the
//!   instructions each store spends per operation.
//!
//! Beside them, [`loadgen`] (the `loadgen` binary) loads a whole running cluster over its HTTP
//! API: concurrent clients, a read/write mix, throughput and latency quantiles.
//!
//! The number of keys comes from [`BenchSize::from_env`] (`BENCH_SIZE=quick|full|<keys>`).
//! Results and commands are in `BENCHMARKS.engines.md` at the workspace root.
//!
//! ```
//! use bench::{Adapter, BenchStore, Dataset};
//! use engine_mem::MemEngine;
//!
//! # fn main() -> bench::BenchResult<()> {
//! let data = Dataset::generate(100, 150, 3);
//! let dir = tempfile::tempdir()?;
//! let store = Adapter::<MemEngine>::create(dir.path())?;
//! store.put_all(data.pairs())?;
//! let (_elapsed, checksum) = store.read_cycle(data.pairs(), 100)?;
//! assert_eq!(checksum, data.checksum(100));
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod adapter;
pub mod compare;
mod data;
pub mod loadgen;
pub mod paired;
pub mod raw;
pub mod report;
mod size;
mod store;
pub mod workload;

pub use adapter::Adapter;
pub use data::{Dataset, KEY_LEN, LARGE_VALUE_LEN, Pair, SMALL_VALUE_LEN};
pub use size::BenchSize;
pub use store::{BenchResult, BenchStore, KEYSPACE, max_size_bytes, scratch_dir};

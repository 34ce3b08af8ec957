//! The workloads of redb's `lmdb_benchmark`, as criterion benchmarks over any [`BenchStore`].
//!
//! Each workload is a criterion group named after it; each store in it a benchmark
//! `<engine>/<variant>` (`lmdb/adapter`, `lmdb/raw`, ...), so criterion writes its estimates to
//! `target/criterion/<workload>/<engine>/<variant>/new/estimates.json`. What one criterion
//! iteration is, per workload:
//!
//! | workload | one iteration | untimed setup |
//! |---|---|---|
//! | `bulk_load` | write all N pairs in one transaction, `Sync` | a new, empty store |
//! | `individual_writes` | write one pair in its own transaction, `Sync` | store preloaded with N pairs |
//! | `batch_writes` | write 1,000 pairs in one transaction, `Sync` | (same store) |
//! | `random_reads` | one point read through a snapshot | (same store); opening the snapshot |
//! | `range_scans` | one forward scan of 10 entries from a random existing key | (same store); opening the snapshot |
//! | `removals` | delete all N keys, 1,000 per `Sync` transaction | a new store preloaded with N pairs |
//! | `random_reads_1k` | one point read, 1 KiB values | a store preloaded with N pairs of 1 KiB values |
//! | `individual_writes_1k` | write one pair of a 1 KiB value, `Sync` | (same store) |
//!
//! Writes insert fresh keys from a pool of N pairs (another seed); once the pool is used up they
//! overwrite its keys from the start again, so a store holds between N and 2N keys. The stores
//! live in [`crate::scratch_dir`] and are removed when done.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;

use crate::{BenchResult, BenchSize, BenchStore, Dataset, LARGE_VALUE_LEN, SMALL_VALUE_LEN};

/// Pairs per transaction of `batch_writes` and `removals`, as in redb's benchmark.
pub const BATCH_SIZE: usize = 1_000;
/// Entries read by each scan of `range_scans`, as in redb's benchmark.
pub const SCAN_LEN: usize = 10;
/// Seed of the preloaded pairs; the write pools use the next seeds.
pub const SEED: u64 = 3;
/// Pairs per transaction when preloading a store (untimed).
const PRELOAD_BATCH: usize = 100_000;

/// The workloads (criterion group names), in the order they run.
pub const WORKLOADS: [&str; 8] = [
    "bulk_load",
    "random_reads",
    "range_scans",
    "individual_writes",
    "batch_writes",
    "removals",
    "random_reads_1k",
    "individual_writes_1k",
];

/// The data of every workload for one size, generated once per process.
#[derive(Debug)]
pub struct Workloads {
    small: Dataset,
    small_pool: Dataset,
    large: Dataset,
    large_pool: Dataset,
}

impl Workloads {
    /// The data for `size`: N pairs of 150-byte values and N of 1 KiB values, each with a pool
    /// of N more for the write workloads.
    pub fn new(size: BenchSize) -> Self {
        let n = size.keys;
        let pool = n.max(BATCH_SIZE);
        Self {
            small: Dataset::generate(n, SMALL_VALUE_LEN, SEED),
            small_pool: Dataset::generate(pool, SMALL_VALUE_LEN, SEED + 1),
            large: Dataset::generate(n, LARGE_VALUE_LEN, SEED + 2),
            large_pool: Dataset::generate(pool, LARGE_VALUE_LEN, SEED + 3),
        }
    }

    /// Runs every workload on the stores `A` and `B` of engine `engine`, named `a` and `b`
    /// (normally the adapter and its raw crate), one after the other within each workload so
    /// that both see the same machine conditions.
    ///
    /// Stores are made lazily, inside the benchmarks: a criterion filter that skips a benchmark
    /// also skips its setup.
    ///
    /// # Panics
    /// When a store fails (a benchmark cannot go on without it), with the store's error.
    pub fn run_pair<A: BenchStore, B: BenchStore>(
        &self,
        c: &mut Criterion,
        engine: &str,
        (a, b): (&str, &str),
    ) {
        let mut stores_a = Stores::<A>::default();
        let mut stores_b = Stores::<B>::default();
        let n = self.small.len() as u64;

        let mut g = group(c, "bulk_load", Kind::Slow, n);
        self.bulk_load::<A>(&mut g, BenchmarkId::new(engine, a));
        self.bulk_load::<B>(&mut g, BenchmarkId::new(engine, b));
        g.finish();

        let mut g = group(c, "random_reads", Kind::Fast, 1);
        random_reads(
            &mut g,
            BenchmarkId::new(engine, a),
            &mut stores_a.small,
            &self.small,
        );
        random_reads(
            &mut g,
            BenchmarkId::new(engine, b),
            &mut stores_b.small,
            &self.small,
        );
        g.finish();

        let mut g = group(c, "range_scans", Kind::Fast, SCAN_LEN as u64);
        range_scans(
            &mut g,
            BenchmarkId::new(engine, a),
            &mut stores_a.small,
            &self.small,
        );
        range_scans(
            &mut g,
            BenchmarkId::new(engine, b),
            &mut stores_b.small,
            &self.small,
        );
        g.finish();

        let mut g = group(c, "individual_writes", Kind::Slow, 1);
        let (sa, sb) = (&mut stores_a.small, &mut stores_b.small);
        writes(
            &mut g,
            BenchmarkId::new(engine, a),
            sa,
            &self.small,
            &self.small_pool,
            1,
        );
        writes(
            &mut g,
            BenchmarkId::new(engine, b),
            sb,
            &self.small,
            &self.small_pool,
            1,
        );
        g.finish();

        let mut g = group(c, "batch_writes", Kind::Slow, BATCH_SIZE as u64);
        writes(
            &mut g,
            BenchmarkId::new(engine, a),
            sa,
            &self.small,
            &self.small_pool,
            BATCH_SIZE,
        );
        // Close A's store before B runs, so that no background work of A (an LSM tree's
        // compactions) runs while B is timed.
        stores_a.small = None;
        writes(
            &mut g,
            BenchmarkId::new(engine, b),
            sb,
            &self.small,
            &self.small_pool,
            BATCH_SIZE,
        );
        stores_b.small = None;
        g.finish();

        let mut g = group(c, "removals", Kind::Slow, n);
        self.removals::<A>(&mut g, BenchmarkId::new(engine, a));
        self.removals::<B>(&mut g, BenchmarkId::new(engine, b));
        g.finish();

        let mut g = group(c, "random_reads_1k", Kind::Fast, 1);
        random_reads(
            &mut g,
            BenchmarkId::new(engine, a),
            &mut stores_a.large,
            &self.large,
        );
        random_reads(
            &mut g,
            BenchmarkId::new(engine, b),
            &mut stores_b.large,
            &self.large,
        );
        g.finish();

        let mut g = group(c, "individual_writes_1k", Kind::Slow, 1);
        let (la, lb) = (&mut stores_a.large, &mut stores_b.large);
        writes(
            &mut g,
            BenchmarkId::new(engine, a),
            la,
            &self.large,
            &self.large_pool,
            1,
        );
        stores_a.large = None;
        writes(
            &mut g,
            BenchmarkId::new(engine, b),
            lb,
            &self.large,
            &self.large_pool,
            1,
        );
        stores_b.large = None;
        g.finish();
    }

    fn bulk_load<S: BenchStore>(&self, g: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId) {
        g.bench_function(id, |bencher| {
            bencher.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let fresh = must("creating a store", Loaded::<S>::empty());
                    let start = Instant::now();
                    must("bulk load", fresh.store.put_all(self.small.pairs()));
                    total += start.elapsed();
                }
                total
            });
        });
    }

    fn removals<S: BenchStore>(&self, g: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId) {
        g.bench_function(id, |bencher| {
            bencher.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let full = must("preloading a store", Loaded::<S>::preloaded(&self.small));
                    let start = Instant::now();
                    for chunk in self.small.pairs().chunks(BATCH_SIZE) {
                        must("removal", full.store.delete_all(chunk));
                    }
                    total += start.elapsed();
                }
                total
            });
        });
    }
}

/// How criterion samples a workload.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Sub-millisecond iterations: criterion's default linear sampling.
    Fast,
    /// Iterations of a millisecond or more (fsyncs, whole loads): 10 samples of equal size.
    Slow,
}

fn group<'c>(
    c: &'c mut Criterion,
    name: &str,
    kind: Kind,
    elements: u64,
) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements));
    g.warm_up_time(Duration::from_secs(1));
    match kind {
        Kind::Fast => {
            g.sample_size(50).measurement_time(Duration::from_secs(2));
        }
        Kind::Slow => {
            g.sampling_mode(SamplingMode::Flat)
                .sample_size(10)
                .measurement_time(Duration::from_secs(3));
        }
    }
    g
}

/// The stores of one variant that several workloads share.
struct Stores<S> {
    /// Preloaded with the 150-byte pairs.
    small: Option<Loaded<S>>,
    /// Preloaded with the 1 KiB pairs.
    large: Option<Loaded<S>>,
}

impl<S> Default for Stores<S> {
    fn default() -> Self {
        Self {
            small: None,
            large: None,
        }
    }
}

/// A store in its own scratch directory, removed when dropped (after the store is closed).
struct Loaded<S> {
    store: S,
    /// Next pair of the write pool to write.
    cursor: usize,
    _dir: TempDir,
}

impl<S: BenchStore> Loaded<S> {
    fn empty() -> BenchResult<Self> {
        let dir = tempfile::Builder::new()
            .prefix("engine-bench-")
            .tempdir_in(crate::scratch_dir())?;
        let store = S::create(dir.path())?;
        Ok(Self {
            store,
            cursor: 0,
            _dir: dir,
        })
    }

    fn preloaded(data: &Dataset) -> BenchResult<Self> {
        let loaded = Self::empty()?;
        for chunk in data.pairs().chunks(PRELOAD_BATCH) {
            loaded.store.put_all(chunk)?;
        }
        Ok(loaded)
    }

    /// The `len` pairs of `pool` to write next.
    fn next_writes<'p>(&mut self, pool: &'p Dataset, len: usize) -> &'p [crate::Pair] {
        if self.cursor + len > pool.len() {
            self.cursor = 0;
        }
        let pairs = &pool.pairs()[self.cursor..self.cursor + len];
        self.cursor += len;
        pairs
    }
}

fn shared<'s, S: BenchStore>(slot: &'s mut Option<Loaded<S>>, data: &Dataset) -> &'s mut Loaded<S> {
    slot.get_or_insert_with(|| must("preloading a store", Loaded::preloaded(data)))
}

fn random_reads<S: BenchStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    slot: &mut Option<Loaded<S>>,
    data: &Dataset,
) {
    g.bench_function(id, |bencher| {
        let loaded = shared(slot, data);
        bencher.iter_custom(|iters| {
            let (elapsed, sum) = must("random reads", loaded.store.read_cycle(data.pairs(), iters));
            assert_eq!(sum, data.checksum(iters), "random reads read wrong values");
            elapsed
        });
    });
}

fn range_scans<S: BenchStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    slot: &mut Option<Loaded<S>>,
    data: &Dataset,
) {
    g.bench_function(id, |bencher| {
        let loaded = shared(slot, data);
        bencher.iter_custom(|iters| {
            let (elapsed, entries) = must(
                "range scans",
                loaded.store.scan_cycle(data.pairs(), iters, SCAN_LEN),
            );
            // Every scan starts at an existing key, so it reads at least that one.
            assert!(
                entries >= iters,
                "range scans read {entries} entries in {iters} scans"
            );
            elapsed
        });
    });
}

fn writes<S: BenchStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    slot: &mut Option<Loaded<S>>,
    data: &Dataset,
    pool: &Dataset,
    batch: usize,
) {
    g.bench_function(id, |bencher| {
        let loaded = shared(slot, data);
        bencher.iter_custom(|iters| {
            // Timed as a whole: picking the next pairs is an index computation, cheaper than
            // reading the clock around every write of the memory engine.
            let start = Instant::now();
            for _ in 0..iters {
                let pairs = loaded.next_writes(pool, batch);
                must("writes", loaded.store.put_all(pairs));
            }
            start.elapsed()
        });
    });
}

/// The value of `result`, or a panic naming the workload: a benchmark cannot go on without its
/// store.
fn must<T>(what: &str, result: BenchResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

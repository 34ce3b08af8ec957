//! The workloads of redb's `lmdb_benchmark`, over any [`BenchStore`]: as criterion benchmarks
//! ([`Workloads::run_pair`]) and as an interleaved comparison of two stores
//! ([`crate::paired`]), both through the same [`Runner`].
//!
//! Each workload is a criterion group named after it; each store in it a benchmark
//! `<engine>/<variant>` (`lmdb/adapter`, `lmdb/raw`, ...), so criterion writes its estimates to
//! `target/criterion/<workload>/<engine>/<variant>/new/estimates.json`. What one iteration is,
//! per workload:
//!
//! | workload | one iteration | untimed setup |
//! |---|---|---|
//! | `bulk_load` | write all N pairs in one transaction, `Sync` | a new, empty store |
//! | `random_reads` | one point read through a snapshot | store preloaded with N pairs; opening the snapshot |
//! | `range_scans` | one forward scan of 10 entries from a random existing key | (same store); opening the snapshot |
//! | `individual_writes` | write one pair in its own transaction, `Sync` | (same store) |
//! | `batch_writes` | write 1,000 pairs in one transaction, `Sync` | (same store) |
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

use crate::{BenchResult, BenchSize, BenchStore, Dataset, LARGE_VALUE_LEN, Pair, SMALL_VALUE_LEN};

/// Pairs per transaction of `batch_writes` and `removals`, as in redb's benchmark.
pub const BATCH_SIZE: usize = 1_000;
/// Entries read by each scan of `range_scans`, as in redb's benchmark.
pub const SCAN_LEN: usize = 10;
/// Seed of the preloaded pairs; the write pools and the 1 KiB data use the next seeds.
pub const SEED: u64 = 3;
/// Pairs per transaction when preloading a store (untimed).
const PRELOAD_BATCH: usize = 100_000;

/// One workload; see the module documentation for what an iteration of each is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// All N pairs in one `Sync` transaction into a new store.
    BulkLoad,
    /// One point read through a snapshot.
    RandomReads,
    /// One scan of [`SCAN_LEN`] entries through a snapshot.
    RangeScans,
    /// One pair in its own `Sync` transaction.
    IndividualWrites,
    /// [`BATCH_SIZE`] pairs in one `Sync` transaction.
    BatchWrites,
    /// Every key of a preloaded store deleted, [`BATCH_SIZE`] per `Sync` transaction.
    Removals,
    /// One point read of a 1 KiB value.
    RandomReads1k,
    /// One pair with a 1 KiB value in its own `Sync` transaction.
    IndividualWrites1k,
}

/// How criterion samples a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Sub-millisecond iterations: criterion's default linear sampling.
    Fast,
    /// Iterations of a millisecond or more (fsyncs, whole loads): 10 samples of equal size.
    Slow,
}

impl Workload {
    /// Every workload, in the order they run.
    pub const ALL: [Workload; 8] = [
        Workload::BulkLoad,
        Workload::RandomReads,
        Workload::RangeScans,
        Workload::IndividualWrites,
        Workload::BatchWrites,
        Workload::Removals,
        Workload::RandomReads1k,
        Workload::IndividualWrites1k,
    ];

    /// The criterion group name.
    pub const fn name(self) -> &'static str {
        match self {
            Workload::BulkLoad => "bulk_load",
            Workload::RandomReads => "random_reads",
            Workload::RangeScans => "range_scans",
            Workload::IndividualWrites => "individual_writes",
            Workload::BatchWrites => "batch_writes",
            Workload::Removals => "removals",
            Workload::RandomReads1k => "random_reads_1k",
            Workload::IndividualWrites1k => "individual_writes_1k",
        }
    }

    /// The workload called `name`.
    pub fn from_name(name: &str) -> Option<Workload> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    /// What one iteration is, in a few words.
    pub const fn iteration(self) -> &'static str {
        match self {
            Workload::BulkLoad => "all N keys in one transaction",
            Workload::RandomReads => "1 read via snapshot",
            Workload::RangeScans => "1 scan of 10 entries",
            Workload::IndividualWrites => "1 key, own transaction, Sync",
            Workload::BatchWrites => "1,000 keys, one transaction, Sync",
            Workload::Removals => "all N keys, 1,000 per Sync txn",
            Workload::RandomReads1k => "1 read via snapshot, 1 KiB value",
            Workload::IndividualWrites1k => "1 key of 1 KiB, own txn, Sync",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Workload::RandomReads | Workload::RangeScans | Workload::RandomReads1k => Kind::Fast,
            _ => Kind::Slow,
        }
    }

    /// Keys or entries handled by one iteration, for criterion's throughput.
    fn elements(self, n: usize) -> u64 {
        match self {
            Workload::BulkLoad | Workload::Removals => n as u64,
            Workload::BatchWrites => BATCH_SIZE as u64,
            Workload::RangeScans => SCAN_LEN as u64,
            _ => 1,
        }
    }

    /// True when this is the last workload using the store preloaded with the 150-byte or the
    /// 1 KiB pairs: it can be closed afterwards.
    fn last_use(self) -> bool {
        matches!(self, Workload::BatchWrites | Workload::IndividualWrites1k)
    }
}

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

    /// Number of keys of each store (N).
    pub fn keys(&self) -> usize {
        self.small.len()
    }

    /// Runs every workload as criterion benchmarks on the stores `A` and `B` of engine `engine`,
    /// named `a` and `b` (normally the adapter and its raw crate), one after the other within
    /// each workload so that both see similar machine conditions.
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
        let mut runner_a = Runner::<A>::new(self);
        let mut runner_b = Runner::<B>::new(self);
        for workload in Workload::ALL {
            let mut g = group(c, workload, self.keys());
            bench(&mut g, BenchmarkId::new(engine, a), &mut runner_a, workload);
            // Close A's store before B runs, so that no background work of A (an LSM tree's
            // compactions) runs while B is timed.
            runner_a.done_with(workload);
            bench(&mut g, BenchmarkId::new(engine, b), &mut runner_b, workload);
            runner_b.done_with(workload);
            g.finish();
        }
    }
}

fn group<'c>(c: &'c mut Criterion, workload: Workload, n: usize) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(workload.name());
    g.throughput(Throughput::Elements(workload.elements(n)));
    g.warm_up_time(Duration::from_secs(1));
    match workload.kind() {
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

fn bench<S: BenchStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    runner: &mut Runner<'_, S>,
    workload: Workload,
) {
    g.bench_function(id, |bencher| {
        bencher.iter_custom(|iters| must(workload.name(), runner.run(workload, iters)));
    });
}

/// Runs the workloads on stores of type `S`, keeping the preloaded stores that several
/// workloads share.
pub struct Runner<'w, S> {
    data: &'w Workloads,
    /// Preloaded with the 150-byte pairs.
    small: Option<Loaded<S>>,
    /// Preloaded with the 1 KiB pairs.
    large: Option<Loaded<S>>,
}

impl<'w, S: BenchStore> Runner<'w, S> {
    /// A runner over `data`, with no store yet.
    pub fn new(data: &'w Workloads) -> Self {
        Self {
            data,
            small: None,
            large: None,
        }
    }

    /// Runs `iters` iterations of `workload` and returns the time they took, setup excluded
    /// (see the module documentation). Makes and preloads the shared store on first use.
    ///
    /// # Errors
    /// A failure of the store, or a read that did not find what was written.
    pub fn run(&mut self, workload: Workload, iters: u64) -> BenchResult<Duration> {
        let data = self.data;
        match workload {
            Workload::BulkLoad => {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let fresh = Loaded::<S>::empty()?;
                    let start = Instant::now();
                    fresh.store.put_all(data.small.pairs())?;
                    total += start.elapsed();
                }
                Ok(total)
            }
            Workload::Removals => {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let full = Loaded::<S>::preloaded(&data.small)?;
                    let start = Instant::now();
                    for chunk in data.small.pairs().chunks(BATCH_SIZE) {
                        full.store.delete_all(chunk)?;
                    }
                    total += start.elapsed();
                }
                Ok(total)
            }
            Workload::RandomReads => {
                reads(shared(&mut self.small, &data.small)?, &data.small, iters)
            }
            Workload::RandomReads1k => {
                reads(shared(&mut self.large, &data.large)?, &data.large, iters)
            }
            Workload::RangeScans => {
                let loaded = shared(&mut self.small, &data.small)?;
                let (elapsed, entries) =
                    loaded
                        .store
                        .scan_cycle(data.small.pairs(), iters, SCAN_LEN)?;
                // Every scan starts at an existing key, so it reads at least that one.
                if entries < iters {
                    return Err(format!("{iters} scans read only {entries} entries").into());
                }
                Ok(elapsed)
            }
            Workload::IndividualWrites => writes(
                shared(&mut self.small, &data.small)?,
                &data.small_pool,
                1,
                iters,
            ),
            Workload::BatchWrites => writes(
                shared(&mut self.small, &data.small)?,
                &data.small_pool,
                BATCH_SIZE,
                iters,
            ),
            Workload::IndividualWrites1k => writes(
                shared(&mut self.large, &data.large)?,
                &data.large_pool,
                1,
                iters,
            ),
        }
    }

    /// Closes the shared store that `workload` used when no later workload uses it.
    pub fn done_with(&mut self, workload: Workload) {
        if workload.last_use() {
            match workload {
                Workload::IndividualWrites1k => self.large = None,
                _ => self.small = None,
            }
        }
    }
}

fn reads<S: BenchStore>(loaded: &Loaded<S>, data: &Dataset, iters: u64) -> BenchResult<Duration> {
    let (elapsed, sum) = loaded.store.read_cycle(data.pairs(), iters)?;
    if sum != data.checksum(iters) {
        return Err("random reads read wrong values".into());
    }
    Ok(elapsed)
}

fn writes<S: BenchStore>(
    loaded: &mut Loaded<S>,
    pool: &Dataset,
    batch: usize,
    iters: u64,
) -> BenchResult<Duration> {
    // Timed as a whole: picking the next pairs is an index computation, cheaper than reading
    // the clock around every write of the memory engine.
    let start = Instant::now();
    for _ in 0..iters {
        let pairs = loaded.next_writes(pool, batch);
        loaded.store.put_all(pairs)?;
    }
    Ok(start.elapsed())
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
    fn next_writes<'p>(&mut self, pool: &'p Dataset, len: usize) -> &'p [Pair] {
        if self.cursor + len > pool.len() {
            self.cursor = 0;
        }
        let pairs = &pool.pairs()[self.cursor..self.cursor + len];
        self.cursor += len;
        pairs
    }
}

fn shared<'s, S: BenchStore>(
    slot: &'s mut Option<Loaded<S>>,
    data: &Dataset,
) -> BenchResult<&'s mut Loaded<S>> {
    if slot.is_none() {
        *slot = Some(Loaded::preloaded(data)?);
    }
    slot.as_mut().ok_or_else(|| "store vanished".into())
}

/// The value of `result`, or a panic naming the workload: a benchmark cannot go on without its
/// store.
fn must<T>(what: &str, result: BenchResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what} failed: {e}"),
    }
}

//! [`BenchStore`]: what every benchmarked store offers the workloads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Pair;

/// Errors of the benchmark harness: any engine's or crate's error, boxed, since a benchmark only
/// reports them.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Name of the one keyspace (LMDB database, fjall keyspace, redb table) the benchmarks use.
pub const KEYSPACE: &str = "data";

/// One store under test: an engine adapter ([`crate::Adapter`]) or a raw crate
/// ([`crate::raw`]) set up the way its adapter sets it up.
///
/// Each method does a whole loop of operations, so that the call through this trait costs
/// nothing per operation, and every implementation does the same work per operation: the same
/// transactions, the same durability (an fsync where the adapter's `Durability::Sync` does one),
/// the same checks of the results.
pub trait BenchStore: Sized {
    /// Opens a new, empty store in `dir`, an empty directory.
    ///
    /// # Errors
    /// Any failure of the store.
    fn create(dir: &Path) -> BenchResult<Self>;

    /// Writes every pair in one atomic transaction, durable (as `Durability::Sync`) on return.
    ///
    /// # Errors
    /// Any failure of the store.
    fn put_all(&self, pairs: &[Pair]) -> BenchResult<()>;

    /// Deletes the key of every pair in one atomic transaction, durable on return.
    ///
    /// # Errors
    /// Any failure of the store.
    fn delete_all(&self, pairs: &[Pair]) -> BenchResult<()>;

    /// Opens one read snapshot (read transaction), then reads the keys of `pairs` in order, `n`
    /// reads in all, starting over at the first pair after the last. Returns the time the reads
    /// took — not counting the opening of the snapshot — and the sum of the first byte of every
    /// value read.
    ///
    /// # Errors
    /// Any failure of the store, and a key of `pairs` that is missing.
    fn read_cycle(&self, pairs: &[Pair], n: u64) -> BenchResult<(Duration, u64)>;

    /// Opens one read snapshot, then runs `n` forward scans, each from the key of the next pair
    /// of `starts` (cyclically) and reading up to `len` entries. Returns the time the scans took
    /// — not counting the opening of the snapshot — and the number of entries read.
    ///
    /// # Errors
    /// Any failure of the store.
    fn scan_cycle(&self, starts: &[Pair], n: u64, len: usize) -> BenchResult<(Duration, u64)>;
}

/// The error for a key that a read did not find although it was written.
pub(crate) fn missing(key: &[u8]) -> Box<dyn std::error::Error + Send + Sync> {
    format!("key {key:02x?} was written but is missing").into()
}

/// First byte of a value read, added to the checksums (0 for an empty value).
#[inline]
pub(crate) fn first_byte(value: &[u8]) -> u64 {
    u64::from(value.first().copied().unwrap_or(0))
}

/// `n` as an iteration count.
#[inline]
pub(crate) fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Where the benchmarks make their stores: `$BENCH_DIR` when set, else the system's temporary
/// directory. It must be on a disk (not tmpfs) for the fsync figures to mean anything.
pub fn scratch_dir() -> PathBuf {
    std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// The size limit the stores are opened with: `$BENCH_MAX_SIZE_BYTES` when set, else none (each
/// engine's default; LMDB then reserves a 1 TiB map, which valgrind cannot map, so
/// `callgrind-ops.sh` sets a smaller one). Given to the adapters as
/// `EngineConfig::max_size_bytes` and to raw LMDB as its map size, rounded up as the LMDB
/// adapter rounds it.
pub fn max_size_bytes() -> Option<u64> {
    std::env::var("BENCH_MAX_SIZE_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
}

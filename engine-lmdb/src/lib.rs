//! The LMDB storage engine of the Dynamo store: [`LmdbEngine`], LMDB through heed 0.23.
//!
//! # What it is
//!
//! One LMDB environment per store directory (`data.mdb`, `lock.mdb`, and the
//! [`engine_api::marker`] file that claims the directory for this engine), with one LMDB named
//! database per keyspace. LMDB is a copy-on-write B+tree in a memory-mapped file: reads are
//! served from the map with no locks, readers never block the writer, and writes are serialized
//! by LMDB's writer lock (a write waits for the write before it, never for readers).
//!
//! - [`StorageEngine::write`](engine_api::StorageEngine::write) applies a whole
//!   [`engine_api::WriteBatch`], over any keyspaces, in one LMDB write transaction: all of it or
//!   nothing.
//! - A [`LmdbSnapshot`] is one LMDB read transaction; its iterators ([`LmdbIter`]) borrow it.
//!   Read transactions are not tied to threads (heed's `read_txn_without_tls`), so a thread may
//!   hold snapshots and still call `get` and `write`.
//! - `get` opens a short read transaction of its own, so it sees the latest commit.
//! - Keys are 1 to 511 bytes ([`engine_api::MAX_KEY_LEN`], LMDB's own limit); values may be
//!   empty or large (large values go to overflow pages).
//!
//! # What it is not
//!
//! - Not self-growing: the map size is fixed when the store is opened. It is
//!   [`EngineConfig::max_size_bytes`](engine_api::EngineConfig::max_size_bytes) rounded up to
//!   64 KiB (at least [`MIN_MAP_SIZE`]), or [`DEFAULT_MAP_SIZE`] (1 TiB on 64-bit targets) when
//!   that is `None`. The map is a reservation of address space, not of disk or memory: the data
//!   file grows only as pages are written. A write that does not fit fails with
//!   [`engine_api::Error::Full`], applying nothing; the store stays usable (deleting frees
//!   pages), and reopening it with a larger `max_size_bytes` raises the limit.
//! - Not checksummed: LMDB stores no checksums. Damage inside keys or values reads back as
//!   different data; see "Damaged files" below for what is detected.
//! - Not a cache manager: `cache_size_bytes` is ignored, since the OS page cache is LMDB's cache.
//! - Not for network file systems (LMDB's locks and shared map need a local one), and a store
//!   must not be opened twice by one process: the second [`open`](engine_api::StorageEngine::open)
//!   fails with [`engine_api::Error::Backend`] saying the store is already open.
//! - Not for sharing between processes: LMDB's lock file would keep them safe from each
//!   other, but the structural check that every `open` runs (see "Damaged files") assumes that
//!   no other process writes the store while it runs.
//! - Not for long-lived snapshots: a snapshot keeps every page it sees from being reused, so the
//!   file grows while it lives; and each live snapshot (and each running `get`) holds one of the
//!   [`MAX_READERS`] reader slots.
//!
//! # Durability
//!
//! The environment is opened with `MDB_NOSYNC` (and without `MDB_WRITEMAP`): a `Buffered`
//! commit writes its pages and then its meta page to the data file (`pwrite(2)`,
//! `pwritev(2)`) before `write` returns, but does not fsync. For a `Sync` write the engine
//! turns `MDB_NOSYNC` off around the commit (writers are serialized by a lock), so LMDB commits
//! in its own crash-safe order: the data pages are written and fdatasynced, then the meta page
//! is written and synced, before `write` returns.
//!
//! | level | process crash (SIGKILL, panic, OOM kill) | power loss (the OS page cache is lost) |
//! |---|---|---|
//! | `Buffered` | kept: the commit is in the OS page cache before `write` returns | may be lost since the last `Sync` write, `flush` or clean close; and since nothing orders LMDB's writes without a sync, on a file system that does not keep write order the store can be left inconsistent (LMDB's `MDB_NOSYNC` caveat; the open-time check below reports structural damage as `Corruption`) |
//! | `Sync` | kept | kept: data pages synced, then the meta page synced, before `write` returns; this also makes every earlier `Buffered` write durable |
//!
//! The process-crash column is tested: `tests/buffered_crash.rs` SIGKILLs a process writing
//! `Buffered` batches, the conformance suite's crash test one writing `Sync` batches, and every
//! acknowledged batch is found whole after reopening. The power-loss column follows from what
//! the code asks of the OS and is not tested.
//!
//! A power loss *during* a `Sync` write, before it returns, loses at most that write (LMDB's
//! two meta pages: the previous one stays valid until the new one is synced), unless
//! `Buffered` writes were made just before it without a sync in between, which fall under the
//! `Buffered` caveat. [`flush`](engine_api::StorageEngine::flush) fdatasyncs the data file, and
//! so does dropping the engine (a clean close). If an fsync fails, the engine is poisoned: that
//! call returns the I/O error, and every later `write` and `flush` returns
//! [`engine_api::Error::Poisoned`] (the OS may have dropped the pages it failed to write, so a
//! later sync succeeding would prove nothing); reopen the store.
//!
//! # Damaged files
//!
//! LMDB trusts every byte it maps: damage to page numbers, offsets or sizes makes it read
//! outside a page or past the end of the file, and the process dies of SIGSEGV or SIGBUS (or an
//! assertion's abort in debug builds) instead of getting an error. So every `open` first checks
//! the structure of the data file with ordinary reads, before LMDB reads any data page: every
//! branch and leaf page reached from the current meta page, every node bound, every overflow
//! run, and the free-page lists. Damage it finds is [`engine_api::Error::Corruption`]; damaged
//! or foreign meta pages are `Corruption` too (LMDB's `MDB_INVALID`), and a data file of another
//! LMDB format version is [`engine_api::Error::WrongFormat`]. The check reads every branch and
//! leaf page once: about 0.2 s per 500 MB of data file from the page cache on our test machine.
//! It cannot see damage inside keys and values, keys out of order, or a stale page that is still
//! well-formed; nor damage done to the file while the store is open. An empty `data.mdb` (what
//! a crash during the creation of a store leaves) is taken by LMDB for a new store.
//!
//! # Example
//!
//! ```
//! use engine_api::{Direction, Durability, EngineConfig, KeyRange, Snapshot, StorageEngine, WriteBatch};
//! use engine_lmdb::LmdbEngine;
//!
//! # fn main() -> engine_api::Result<()> {
//! let dir = tempfile::tempdir().map_err(|e| engine_api::Error::io("tmp", e))?;
//! let mut config = EngineConfig::new(dir.path().join("store"), ["data", "hints"]);
//! config.max_size_bytes = Some(64 << 20); // a 64 MiB map; None means 1 TiB
//! let engine = LmdbEngine::open(&config)?;
//! let data = engine.keyspace("data")?;
//! let hints = engine.keyspace("hints")?;
//!
//! // One atomic batch over two keyspaces, fsynced before `write` returns.
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"k1"[..], &b"v1"[..]);
//! batch.put(hints, &b"k1"[..], &b"for node 3"[..]);
//! engine.write(&batch, Durability::Sync)?;
//!
//! // A snapshot does not see later writes; its iterator borrows it.
//! let snap = engine.snapshot()?;
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"k2"[..], &b"v2"[..]);
//! engine.write(&batch, Durability::Buffered)?;
//! let keys: Vec<_> = snap
//!     .scan(data, KeyRange::all(), Direction::Forward)?
//!     .map(|item| item.map(|(k, _)| k))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(keys, [&b"k1"[..]]);
//! assert_eq!(engine.get(data, b"k2")?.as_deref(), Some(&b"v2"[..]));
//! drop(snap);
//!
//! // A clean close syncs; the store opens again with its data.
//! drop(engine);
//! let engine = LmdbEngine::open(&config)?;
//! assert_eq!(engine.get(data, b"k2")?.as_deref(), Some(&b"v2"[..]));
//! # Ok(())
//! # }
//! ```
//!
//! # Unsafe code
//!
//! heed's `EnvOpenOptions::open` (and its `flags`) are `unsafe fn`s: the memory map is
//! undefined behaviour if the file changes behind LMDB's back. The crate denies unsafe code
//! except in that one function (`env.rs`), whose `SAFETY` comments say why the calls are sound.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod engine;
mod env;
mod error;
mod snapshot;
mod verify;

pub use engine::LmdbEngine;
pub use env::{DEFAULT_MAP_SIZE, MAX_READERS, MIN_MAP_SIZE};
pub use snapshot::{LmdbIter, LmdbSnapshot};

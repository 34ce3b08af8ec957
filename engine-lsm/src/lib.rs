//! The LSM-tree storage engine of the Dynamo store: [`FjallEngine`], the
//! [`engine_api::StorageEngine`] on [fjall](https://crates.io/crates/fjall) 3.1.
//!
//! # What it is
//!
//! One fjall database per store, one fjall keyspace (an LSM tree of its own, with its own
//! memtables and table files) per engine keyspace, all sharing one journal (write-ahead log).
//! Writes go to the journal and to an in-memory memtable; fjall's background threads flush
//! memtables to sorted, checksummed, LZ4-compressed table files and compact them. That makes
//! writes cheap and sequential, at the price of reads that may look in several places: the
//! engine for write-heavy stores such as a Dynamo node's data and hints.
//!
//! - **Batches** ([`engine_api::WriteBatch`]) become one fjall batch: one journal record with a
//!   start marker, the operations, and an end marker with an xxh3 checksum, then applied to the
//!   memtables under fjall's journal lock with one sequence number, and only then *published*.
//!   A batch is atomic across keyspaces, both for readers and after a crash.
//! - **Snapshots** ([`FjallSnapshot`]) are fjall's cross-keyspace snapshots: one sequence number
//!   for every keyspace, so a batch is seen whole in all of them or not at all. Iterators
//!   ([`FjallIter`]) borrow the snapshot and walk forward or in reverse; an empty or inverted
//!   range yields nothing. While a snapshot lives, compactions keep the versions it sees.
//! - **Point reads** ([`engine_api::StorageEngine::get`]) read at the last published sequence
//!   number, like a snapshot taken at that moment: unlike fjall's own `Keyspace::get`, they never
//!   see part of a batch that another thread is still applying (`tests/concurrency.rs` checks
//!   that a point read never runs ahead of a snapshot taken after it, which fjall's
//!   `Keyspace::get` fails).
//! - Keys and values pass between the API and fjall as [`bytes::Bytes`] without being copied
//!   (fjall's `bytes_1` feature).
//!
//! # What it is not
//!
//! - Not bounded in size: [`engine_api::EngineConfig::max_size_bytes`] is ignored (fjall has no
//!   such limit; a full disk gives [`engine_api::Error::Full`]). Only the journals are bounded
//!   (see [Configuration](#configuration)).
//! - Not shared between processes or engine instances: fjall locks its directory, and a second
//!   `open` of an open store fails (with [`engine_api::Error::Backend`], "already open").
//! - Values are limited to 4 GiB − 1 bytes (fjall's journal stores 32-bit lengths); a larger one
//!   is refused with [`engine_api::Error::Unsupported`] before anything is written.
//!
//! # Files
//!
//! ```text
//! <path>/DYNAMO_ENGINE   our marker: engine=lsm, layout format 1 (engine_api::marker)
//! <path>/fjall/          fjall's database (see FJALL_DIR): version, lock, <n>.jnl journals
//!                        (64 MiB or more each, see Configuration),
//!                        keyspaces/<id>/{current, v<n>, tables/<n>}
//! ```
//!
//! The marker is claimed before fjall touches anything, so a directory of another engine or of
//! unknown files is refused with [`engine_api::Error::WrongFormat`] and left alone. If the very
//! first open of a store was cut short (fjall's directory has no `version` file and no keyspace
//! yet, hence no data), the next open starts fjall's directory afresh.
//!
//! # Configuration
//!
//! [`FjallEngine::open_with`] takes [`LsmOptions`] beside the [`engine_api::EngineConfig`];
//! [`engine_api::StorageEngine::open`] uses [`LsmOptions::default`].
//!
//! | setting | default | what it does |
//! |---|---|---|
//! | [`EngineConfig::cache_size_bytes`](engine_api::EngineConfig::cache_size_bytes) | 32 MiB | fjall's block cache |
//! | [`EngineConfig::max_size_bytes`](engine_api::EngineConfig::max_size_bytes) | — | ignored: fjall has no size limit |
//! | [`LsmOptions::max_journal_bytes`] | 64 MiB ([`DEFAULT_MAX_JOURNAL_BYTES`], also fjall's least) | bound on the journals' total size (fjall's `max_journaling_size`, 512 MiB by fjall's default); the journals peak at about the bound plus two 64 MiB files |
//! | memtable size (fixed) | 64 MiB per keyspace | fjall's default: a keyspace flushes its memtable to a table past this size |
//!
//! **Journals.** Every keyspace shares the journals, and fjall deletes a journal only once each
//! keyspace with writes in it has flushed them to its tables (which fjall fsyncs first, so no
//! write is lost). A rarely written keyspace (a node's hints or metadata) would keep every
//! journal until it flushes, which with fjall's default bound meant 512 MiB of journals for a
//! few MiB of data. With the bound, fjall flushes such a keyspace once the sealed journals
//! reach it. One case escapes fjall: a keyspace whose memtable is empty and whose newest flushed
//! writes were deletions that a compaction then dropped (hints written, delivered and deleted)
//! no longer has a table as new as what a sealed journal recorded for it, and asking it to flush
//! does nothing. So every 8 MiB written the engine looks at the journals, and when they exceed
//! the bound by more than three files it gives each keyspace with an empty memtable a deletion
//! of a key no caller can use (longer than [`engine_api::MAX_KEY_LEN`]) and flushes it, which
//! frees the journals. Measured with `examples/journal_usage.rs` (10,000 keys of 1 KiB
//! overwritten until 500 MiB were written, beside two keyspaces written once): the journals
//! peak at 195 MB and settle at one journal of 67–95 MB, against 576 MB kept with fjall's
//! default bound; over 1.5 GB written, the write throughput stays within a few percent.
//!
//! # Durability
//!
//! "Process crash" is the process dying (SIGKILL, panic, OOM kill) with the machine up; "power
//! loss" is the machine stopping and losing the operating system's page cache.
//!
//! | engine | `Buffered`: process crash | `Buffered`: power loss | `Sync`: process crash | `Sync`: power loss |
//! |---|---|---|---|---|
//! | `lsm` (`FjallEngine`) | kept: fjall's 8 KiB journal buffer is written out (`write(2)`, fjall's `PersistMode::Buffer`) before `write` returns, so the batch is in the OS page cache | batches since the last `Sync` write, `flush` or clean close may be lost; recovery keeps the batches before the first damaged one, each whole or not at all (see the caveat below) | kept | kept: the journal is fsynced (`fsync`, fjall's `PersistMode::SyncAll`) before the batch is applied and `write` returns |
//!
//! - A `Sync` write and [`engine_api::StorageEngine::flush`] fsync the one active journal file,
//!   which holds every earlier `Buffered` batch too (fjall fsyncs a journal before it starts the
//!   next one, and table and manifest files when it writes them). An empty batch written with
//!   `Sync` still fsyncs the journal.
//! - Dropping the engine (a clean close) fsyncs the journal as well; fjall only logs an error of
//!   that last fsync, so call `flush` first when it matters.
//! - An fsync that fails poisons fjall: that `write` or `flush` returns the I/O error, and every
//!   later write returns [`engine_api::Error::Poisoned`]; reopen the store.
//! - The crash tests prove the process-crash columns: the conformance suite's
//!   `sync_writes_survive_sigkill` for `Sync`, and this crate's `buffered_crash` test, which
//!   SIGKILLs a process after its `Buffered` writes returned, for `Buffered`.
//!
//! **Caveat (power loss, journal recovery).** fjall's recovery reads the journal up to the
//! first entry that does not decode and truncates it there, silently: that is how it drops a
//! torn tail, and also how it finds the end of a journal (a new journal is preallocated with
//! zeros). Consequences, each shown by `tests/corruption.rs`:
//! - a torn last batch is dropped without an error, and the store opens with every batch before
//!   it (the expected LSM behaviour);
//! - a damaged entry *header* in the middle of the journal is taken for its end: the batches
//!   after it are dropped without an error;
//! - a damaged batch whose entries still decode fails its checksum, and fjall then refuses to
//!   open the store ([`engine_api::Error::Corruption`]), even when that batch is the last one.
//!   So after a power loss, a batch that was in flight and was torn inside its value bytes (the
//!   page holding its end marker reached the disk, an earlier one did not) makes the store fail
//!   to open instead of being dropped. Nothing acknowledged by a `Sync` write is lost in that
//!   case, but opening the store needs the journal's tail cut by hand.
//!
//! # Errors
//!
//! fjall's and lsm-tree's errors map onto [`engine_api::Error`], keeping them as the source:
//!
//! | fjall / lsm-tree | engine error |
//! |---|---|
//! | I/O error: out of space or quota | [`Full`](engine_api::Error::Full) |
//! | I/O error: unexpected end of file, invalid data, a file named by fjall's manifests missing | [`Corruption`](engine_api::Error::Corruption) |
//! | any other I/O error (permission denied included) | [`Io`](engine_api::Error::Io), with the fjall directory as path (fjall does not say which file) |
//! | checksum mismatch, bad block header or trailer, invalid tag, decompression failure, journal recovery error, "unrecoverable" | [`Corruption`](engine_api::Error::Corruption) |
//! | unknown fjall or LSM-tree format version, unreadable `version` file | [`WrongFormat`](engine_api::Error::WrongFormat) |
//! | poisoned after a failed fsync | [`Poisoned`](engine_api::Error::Poisoned) |
//! | locked (store already open), anything else | [`Backend`](engine_api::Error::Backend) |
//!
//! fjall and lsm-tree can panic on damaged files (a debug assertion in the journal decoder
//! does, in debug builds). The engine catches panics at every call into fjall (open, reads,
//! scan steps, writes) and returns [`engine_api::Error::Corruption`] instead. A panic in one of
//! fjall's background threads poisons fjall, and writes then return `Poisoned`. Some damage
//! shows up as a plain [`engine_api::Error::Io`]: an emptied manifest file makes fjall seek
//! before its start, which the OS refuses with `EINVAL`.
//!
//! # Example
//!
//! ```
//! use engine_api::{Direction, Durability, EngineConfig, KeyRange, Snapshot, StorageEngine, WriteBatch};
//! use engine_lsm::FjallEngine;
//!
//! # fn main() -> engine_api::Result<()> {
//! let dir = tempfile::tempdir().expect("temporary directory");
//! let engine = FjallEngine::open(&EngineConfig::new(dir.path().join("store"), ["data", "hints"]))?;
//! let data = engine.keyspace("data")?;
//! let hints = engine.keyspace("hints")?;
//!
//! // One atomic batch over two keyspaces, fsynced before `write` returns.
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"user/1"[..], &b"alice"[..]);
//! batch.put(data, &b"user/2"[..], &b"bob"[..]);
//! batch.put(hints, &b"node-b/user/2"[..], &b"bob"[..]);
//! engine.write(&batch, Durability::Sync)?;
//! assert_eq!(engine.get(data, b"user/1")?.as_deref(), Some(&b"alice"[..]));
//!
//! // A snapshot does not see later writes; its scans go either way.
//! let snapshot = engine.snapshot()?;
//! let mut batch = WriteBatch::new();
//! batch.delete(data, &b"user/1"[..]);
//! engine.write(&batch, Durability::Buffered)?;
//! let keys: Vec<_> = snapshot
//!     .scan(data, KeyRange::prefix(b"user/"), Direction::Reverse)?
//!     .map(|item| item.map(|(key, _)| key))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(keys, [&b"user/2"[..], &b"user/1"[..]]);
//! assert_eq!(engine.get(data, b"user/1")?, None);
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod engine;
mod error;
mod journal;
mod layout;
mod options;
mod snapshot;

pub use engine::FjallEngine;
pub use layout::FJALL_DIR;
pub use options::{DEFAULT_MAX_JOURNAL_BYTES, LsmOptions, MIN_MAX_JOURNAL_BYTES};
pub use snapshot::{FjallIter, FjallSnapshot};

/// The engine's short name, as in [`engine_api::StorageEngine::NAME`].
const ENGINE: &str = "lsm";

//! The redb storage engine of the Dynamo store: a copy-on-write B-tree in one file.
//!
//! [`RedbEngine`] implements [`engine_api::StorageEngine`] over [redb] 4: one database file,
//! `data.redb`, in the store's directory (beside the `DYNAMO_ENGINE` marker that
//! [`engine_api::marker::claim_dir`] checks before redb touches anything), and one redb table of
//! byte-string keys and values per keyspace, created when the engine opens. A [`WriteBatch`]
//! is one redb write transaction, so it is atomic across keyspaces; a [`RedbSnapshot`] is one
//! redb read transaction (an MVCC snapshot that never blocks the writer), whose iterators borrow
//! it. Pure Rust, no `unsafe` here.
//!
//! What it is not: not shared between processes (redb locks the file; a second open, even in
//! the same process, fails with a clear [`Error::Backend`]); not a writer of concurrent
//! transactions (redb runs one write transaction at a time; readers run beside it); not bounded
//! in size (`max_size_bytes` is ignored: the file grows as needed, and a full disk gives
//! [`Error::Full`]). `cache_size_bytes` sets redb's page cache (redb's default is 1 GiB).
//!
//! # Durability
//!
//! A [`Durability::Sync`] write commits with redb's `Durability::Immediate`: the commit is
//! written with checksums and fsynced (`fdatasync`) before `write` returns; after a crash redb
//! falls back to the newest commit whose checksums verify. A [`Durability::Buffered`] write
//! commits with `Durability::None`, redb's cheapest commit: the transaction is visible to every
//! later read at once, but the header slot naming it is only updated in redb's memory, and its
//! pages stay in redb's write buffer (written to the file only under cache pressure, and even
//! then named by no on-disk header) until a later durable commit. So it is lost by a process
//! crash as well as by power loss, together with every other `Buffered` write since the last
//! durable commit (a `Sync` write, [`StorageEngine::flush`], or closing the engine); the store
//! then opens in the state of that last durable commit. Closing the engine cleanly (dropping
//! it, or [`RedbEngine::close`], not while the thread is panicking) makes the pending `Buffered`
//! writes durable: redb's close ends with a durable commit (which also records its allocator
//! state, so that the next open needs no repair).
//!
//! | engine | `Buffered`: process crash | `Buffered`: power loss | `Sync`: process crash | `Sync`: power loss |
//! |---|---|---|---|---|
//! | `redb` (`RedbEngine`) | lost since the last durable commit (a `Sync` write, `flush`, or a clean close): redb commits with `Durability::None`, which no on-disk header names until a durable commit | lost since the last durable commit | kept | kept: the commit is written with checksums and fsynced (`fdatasync`) before `write` returns |
//!
//! After an unclean shutdown, the next open verifies the checksums of the whole file and rebuilds
//! redb's allocator state (slow for a large store). While `Buffered` writes are pending, the
//! pages of the durable state that they replace cannot be reused, so a long run of them without
//! a durable commit makes the file grow.
//!
//! Reads: [`StorageEngine::get`] runs one redb read transaction per call; a [`RedbSnapshot`]
//! opens each keyspace's table once, on first use, and keeps it. Values and keys are copied out
//! of redb's page cache into [`Bytes`](bytes::Bytes) (redb hands out guards on its pages, which
//! must not outlive the transaction).
//!
//! # Errors and damaged files
//!
//! redb's errors map onto [`engine_api::Error`] by kind, keeping redb's error as the source: the
//! operating system's errors are [`Error::Io`] with the file's path (so a permission error
//! stays `PermissionDenied`), except a full disk ([`Error::Full`]); checksum failures, failed
//! repairs, a `data.redb` that is empty, truncated or not a redb file are [`Error::Corruption`];
//! a redb file of another format version is [`Error::WrongFormat`]. After any failed I/O
//! operation (a failed fsync, a full disk), redb refuses every later operation until the store
//! is reopened: the failing call returns the I/O error, later ones [`Error::Poisoned`].
//!
//! Normal reads do not verify checksums (only the open after an unclean shutdown and
//! [`RedbEngine::check_integrity`] do), and redb may panic on bytes damaged behind its back.
//! Every call into redb therefore runs under `catch_unwind`, and a panic becomes
//! [`Error::Corruption`] (the panic hook still prints the panic's message); this guard does
//! nothing in a build with `panic = "abort"`. A read that follows a damaged page reference past
//! the end of the file is an I/O error to redb, so the calls after it return
//! [`Error::Poisoned`] until the store is reopened.
//!
//! # Example
//!
//! ```
//! use engine_api::{Direction, Durability, EngineConfig, KeyRange, Snapshot, StorageEngine, WriteBatch};
//! use engine_redb::RedbEngine;
//!
//! # fn main() -> engine_api::Result<()> {
//! let dir = tempfile::tempdir().map_err(|e| engine_api::Error::io("/tmp", e))?;
//! let engine = RedbEngine::open(&EngineConfig::new(dir.path().join("store"), ["data", "hints"]))?;
//! let data = engine.keyspace("data")?;
//! let hints = engine.keyspace("hints")?;
//!
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"k1"[..], &b"v1"[..]);
//! batch.put(hints, &b"k1"[..], &b"h1"[..]);
//! engine.write(&batch, Durability::Sync)?; // fsynced, in both keyspaces or neither
//!
//! let snap = engine.snapshot()?;
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"k2"[..], &b"v2"[..]);
//! engine.write(&batch, Durability::Buffered)?; // visible now, durable at the next flush
//! assert_eq!(engine.get(data, b"k2")?.as_deref(), Some(&b"v2"[..]));
//!
//! // The snapshot still sees the store as it was.
//! let keys: Vec<_> = snap
//!     .scan(data, KeyRange::all(), Direction::Reverse)?
//!     .map(|item| item.map(|(k, _)| k))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(keys, [&b"k1"[..]]);
//! drop(snap);
//!
//! engine.close()?; // makes the Buffered write durable, and reports any failure
//! # Ok(())
//! # }
//! ```
//!
//! [redb]: https://www.redb.org
//! [`WriteBatch`]: engine_api::WriteBatch
//! [`Durability::Sync`]: engine_api::Durability::Sync
//! [`Durability::Buffered`]: engine_api::Durability::Buffered
//! [`StorageEngine::flush`]: engine_api::StorageEngine::flush
//! [`StorageEngine::get`]: engine_api::StorageEngine::get
//! [`Error::Backend`]: engine_api::Error::Backend
//! [`Error::Full`]: engine_api::Error::Full
//! [`Error::Io`]: engine_api::Error::Io
//! [`Error::Corruption`]: engine_api::Error::Corruption
//! [`Error::WrongFormat`]: engine_api::Error::WrongFormat
//! [`Error::Poisoned`]: engine_api::Error::Poisoned

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod engine;
mod error;
mod snapshot;

pub use engine::{DATA_FILE, RedbEngine};
pub use snapshot::{RedbIter, RedbSnapshot};

/// The engine's short name, as in its directory marker and in `engine-any`.
pub(crate) const NAME: &str = "redb";

/// Version of our layout on top of redb's file (recorded in the directory marker).
pub(crate) const FORMAT: u32 = 1;

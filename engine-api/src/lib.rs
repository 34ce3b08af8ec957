//! The storage engine interface of the Dynamo store.
//!
//! One trait, [`StorageEngine`], that every local persistence engine implements — as the Dynamo
//! paper swapped Berkeley DB and MySQL under one interface. This crate depends on no engine:
//! engines depend on it (`engine-mem`, `engine-lmdb`, `engine-lsm`, `engine-redb`), and the
//! choice among them at run time lives in `engine-any`. It knows nothing of Dynamo either.
//!
//! What the trait offers: named keyspaces opened up front; point reads; atomic
//! [`WriteBatch`]es over several keyspaces with a [`Durability`]; ordered range scans, forward
//! and reverse, on a consistent [`Snapshot`] whose iterators borrow it; `flush`; and one typed
//! [`Error`].
//!
//! With the `conformance` feature, the `conformance` module holds the suite that every engine crate runs
//! from its `tests/conformance.rs`, so that all engines are proven to behave the same.
//!
//! # What each durability level guarantees
//!
//! "Process crash" is the process being killed (SIGKILL, panic, OOM kill) while the machine
//! stays up; "power loss" is the machine stopping, losing the operating system's page cache.
//!
//! | engine | `Buffered`: process crash | `Buffered`: power loss | `Sync`: process crash | `Sync`: power loss |
//! |---|---|---|---|---|
//! | `mem` (`MemEngine`) | everything lost on a real crash; `simulate_crash` (the simulator's crash) drops exactly the writes since the last `Sync` | lost | lost on a real crash; kept by `simulate_crash` | lost |
//! | `lmdb` (`LmdbEngine`) | kept: the commit is written to the data file (OS page cache; `MDB_NOSYNC`, no `MDB_WRITEMAP`) before `write` returns | may be lost since the last `Sync` write, `flush` or clean close; nothing orders LMDB's writes without a sync, so on a file system that does not keep write order the store can be left inconsistent (LMDB's `MDB_NOSYNC` caveat), reported as `Corruption` by the open-time structural check | kept | kept: the engine turns `MDB_NOSYNC` off around the commit, so LMDB syncs the data pages, then writes and syncs the meta page, before `write` returns |
//! | `lsm` (`FjallEngine`) | kept: fjall's journal buffer is written out (`write(2)`, `PersistMode::Buffer`) before `write` returns | batches since the last `Sync` write, `flush` or clean close may be lost; recovery keeps the batches before the first damaged one, each whole or not at all (a batch torn inside its values can stop the store from opening until the journal tail is cut; see engine-lsm's docs) | kept | kept: the journal is fsynced (`PersistMode::SyncAll`) before `write` returns |
//! | `redb` (`RedbEngine`) | lost since the last durable commit (a `Sync` write, `flush`, or a clean close): `Buffered` commits use redb's `Durability::None`, which no on-disk header names until a durable commit | lost since the last durable commit | kept | kept: the commit is written with checksums and fsynced before `write` returns |
//!
//! A `Sync` write also makes every earlier `Buffered` write of the same engine durable. Each
//! persistent engine's crash test (a child process writing with `Sync`, killed with SIGKILL at a
//! random moment) proves the `Sync` column for process crashes.
//!
//! # Example
//!
//! ```
//! use engine_api::{Direction, Durability, EngineConfig, KeyRange, StorageEngine, WriteBatch, Snapshot};
//!
//! fn roundtrip<E: StorageEngine>(dir: &std::path::Path) -> engine_api::Result<()> {
//!     let engine = E::open(&EngineConfig::new(dir, ["data", "meta"]))?;
//!     let data = engine.keyspace("data")?;
//!     let mut batch = WriteBatch::new();
//!     batch.put(data, &b"k1"[..], &b"v1"[..]);
//!     engine.write(&batch, Durability::Sync)?;
//!     assert_eq!(engine.get(data, b"k1")?.as_deref(), Some(&b"v1"[..]));
//!     let snap = engine.snapshot()?;
//!     let n = snap.scan(data, KeyRange::all(), Direction::Forward)?.count();
//!     assert_eq!(n, 1);
//!     Ok(())
//! }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod engine;
mod error;
pub mod marker;
mod range;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use batch::{BatchOp, Durability, WriteBatch};
pub use engine::{
    EngineConfig, Keyspace, MAX_KEY_LEN, Snapshot, StorageEngine, check_batch, check_key,
    check_keyspace,
};
pub use error::{BoxError, Error, Result};
pub use range::{Direction, KeyRange, prefix_successor};

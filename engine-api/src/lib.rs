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
//! With the `conformance` feature, [`conformance`] holds the suite that every engine crate runs
//! from its `tests/conformance.rs`, so that all engines are proven to behave the same.
//!
//! # What each durability level guarantees
//!
//! "Process crash" is the process being killed (SIGKILL, panic, OOM kill) while the machine
//! stays up; "power loss" is the machine stopping, losing the operating system's page cache.
//!
//! | engine | `Buffered`: process crash | `Buffered`: power loss | `Sync`: process crash | `Sync`: power loss |
//! |---|---|---|---|---|
//! | `mem` (`MemEngine`) | everything lost (only `simulate_crash` keeps the `Sync`ed state, for the simulator) | lost | lost on a real crash; kept by `simulate_crash` | lost |
//! | `lmdb` (`LmdbEngine`) | kept: each commit is written to the data file (the OS page cache) before `write` returns | the last commits may be lost; the store stays consistent on file systems that keep write order | kept | kept: the commit is fsynced before `write` returns |
//! | `lsm` (`FjallEngine`) | kept: the batch is in fjall's journal in the OS page cache before `write` returns | the last batches may be lost; recovery truncates a torn journal tail | kept | kept: the journal is fsynced before `write` returns |
//! | `redb` (`RedbEngine`) | lost since the last `Sync` write: redb commits with `Durability::None`, which are only made durable by a later durable commit | lost since the last `Sync` write | kept | kept: redb's two-phase-free commit with checksums is fsynced before `write` returns |
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

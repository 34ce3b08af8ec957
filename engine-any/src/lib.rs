//! Run-time choice among the storage engines compiled into this build.
//!
//! The Dynamo paper's nodes could persist to Berkeley DB or MySQL; ours to LMDB, fjall's LSM
//! tree, redb, or memory. Each engine is a cargo feature of this crate (`mem`, `lmdb`, `lsm`,
//! `redb`; all four by default). [`Engine`] lists every engine whatever the build and parses
//! names with aliases; [`Engine::open`] opens one as an [`AnyEngine`], which implements
//! [`engine_api::StorageEngine`] by forwarding. Asking for an engine this build lacks is a
//! clear error ("not available in this build"), not a compile error.
//!
//! `engine-api` depends on no engine, so this choice lives here, in the one crate that depends
//! on all of them; the server and the benchmarks use it.
//!
//! ```
//! use engine_any::Engine;
//! use engine_api::{Durability, EngineConfig, StorageEngine, WriteBatch};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let engine: Engine = "mem".parse().unwrap();
//! let store = engine.open(&EngineConfig::new(dir.path().join("store"), ["data"])).unwrap();
//! let data = store.keyspace("data").unwrap();
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"k"[..], &b"v"[..]);
//! store.write(&batch, Durability::Sync).unwrap();
//! assert_eq!(store.get(data, b"k").unwrap().as_deref(), Some(&b"v"[..]));
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod any;
mod choice;

pub use any::{AnyEngine, AnyIter, AnySnapshot};
pub use choice::{Engine, UnknownEngine};

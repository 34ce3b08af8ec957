//! Versioning: how concurrent writes to one key are told apart, kept and reconciled
//! (Dynamo paper §4.4, with Riak's dotted version vectors and actor epochs).
//!
//! Dynamo accepts writes on any replica at any time, even during partitions, so one key can
//! receive writes that did not know of each other. Each write is therefore tagged with
//! causal information, and replicas compare tags to decide, for every pair of versions,
//! whether one **descends** the other (it was written by someone who had seen the other, so
//! the older is obsolete and can be dropped: *syntactic reconciliation*) or they are
//! **concurrent** (both are kept as *siblings*, returned together on read, and the client
//! resolves them by writing back a value with a context that saw them all: *semantic
//! reconciliation*).
//!
//! The pieces:
//!
//! - [`Actor`] and [`Dot`]: who numbers write events (a node in one epoch of its
//!   life) and one numbered event;
//! - [`vclock`]: vector clocks, the paper's tags, with `descends` / `dominates` /
//!   `concurrent`, `merge` and truncation;
//! - [`context`]: the [`Context`] a client reads and sends back with its next write: the set
//!   of write events it has seen, used the same way in every mode;
//! - [`dvv`]: dotted version vector sets, which tag each value with the exact event that
//!   wrote it, so that a write replaces exactly what its context saw and concurrent writers
//!   never multiply siblings;
//! - [`siblings`]: the [`SiblingSet`] a replica stores per key, with the write, delete and
//!   merge rules of each [`VersioningMode`] and the sibling cap;
//! - [`epoch`]: choosing the epoch at start so that a node that lost data never reuses
//!   counters (Riak's KV679).
//!
//! Everything here is pure: no I/O, no clock (timestamps are arguments), no randomness.
//!
//! # Example: a key's life at one replica
//!
//! ```
//! use bytes::Bytes;
//! use dynamo_core::version::{ContentType, Context, EpochState, SiblingSet, VersioningMode};
//! use dynamo_core::{NodeId, Timestamp, record};
//!
//! // The node's actor for this run (the epoch state is persisted in its meta keyspace).
//! let epoch = EpochState::on_start(None, Timestamp(1_000), None);
//! let me = epoch.actor(NodeId::new("n1")?);
//! let ct = ContentType::new("text/plain")?;
//!
//! // Two clients write without a context: both values are kept, as siblings.
//! let mut set = SiblingSet::new(VersioningMode::Dvv);
//! set.apply_put(&Context::new(), Bytes::from_static(b"x"), ct.clone(), &me, Timestamp(1_001))?;
//! set.apply_put(&Context::new(), Bytes::from_static(b"y"), ct.clone(), &me, Timestamp(1_002))?;
//! assert_eq!(set.len(), 2);
//!
//! // A read returns both and the context, as an opaque token for an HTTP header...
//! let token = set.context().to_token()?;
//! // ... which the client sends back with its resolved value.
//! let ctx = Context::from_token(&token)?;
//! set.apply_put(&ctx, Bytes::from_static(b"xy"), ct, &me, Timestamp(1_003))?;
//! assert_eq!(set.len(), 1);
//!
//! // What the storage engine keeps.
//! let stored = record::encode(&set)?;
//! assert_eq!(record::decode(&stored)?, set);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod actor;
pub mod context;
pub mod dvv;
pub mod epoch;
pub mod error;
pub mod siblings;
pub mod vclock;

pub use actor::{Actor, Dot};
pub use context::Context;
pub use dvv::DvvSet;
pub use epoch::EpochState;
pub use error::VersionError;
pub use siblings::{
    ContentType, InvalidContentType, Limits, Metadata, Sibling, SiblingSet, VersioningMode,
};
pub use vclock::{Causality, Entry, VClock};

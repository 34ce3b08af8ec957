//! The Dynamo node as a deterministic, sans-IO state machine.
//!
//! Work in progress: the pure data structures every mechanism rests on.
//!
//! - [`version`]: vector clocks, dotted version vectors, sibling sets and reconciliation,
//!   actor epochs;
//! - [`record`]: the stored encoding of a sibling set, and the client-facing causal context;
//! - [`ring`]: partitions, ownership and preference lists;
//! - [`antientropy`]: incrementally maintained Merkle trees;
//! - [`ids`]: node ids and timestamps;
//! - [`rng`]: the seeded generator, the node's only randomness.
//!
//! No I/O, no clock, no global randomness: time and seeds are inputs.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod antientropy;
pub mod failure;
pub mod handoff;
pub mod ids;
pub mod membership;
pub mod node;
pub mod proto;
pub mod record;
pub mod ring;
pub mod rng;
pub mod transfer;
pub mod version;

pub use ids::{InvalidNodeId, NodeId, Timestamp};
pub use node::{Input, Node, NodeConfig, NodeEvent, Output};

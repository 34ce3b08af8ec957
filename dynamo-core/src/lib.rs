//! The Dynamo node as a deterministic, sans-IO state machine.
//!
//! [`Node`] turns inputs (client requests, peer messages, the passing of time, the outcome of
//! a commit) into outputs (messages to send, replies, events, commits for the driver to
//! apply); the server and the simulator are drivers of the same node. The modules, from the
//! bottom up:
//!
//! - [`ids`]: node ids and timestamps;
//! - [`rng`]: the seeded generator, the node's only randomness;
//! - [`version`]: vector clocks, dotted version vectors, sibling sets and reconciliation,
//!   actor epochs;
//! - [`serde_helpers`]: the serde forms of the types that cross the network without one of
//!   their own (bytes, contexts, content types, versioning modes);
//! - [`record`]: the stored encoding of a sibling set, the client-facing causal context, and
//!   [`KeyedRecord`](record::KeyedRecord), a record with its key as replicas send it;
//! - [`ring`]: partitions, ownership, preference lists and storage keys;
//! - [`membership`]: the cluster state (members, ring, bucket properties) and its gossip;
//! - [`failure`]: the local failure detector;
//! - [`antientropy`]: incrementally maintained Merkle trees and the exchange protocol
//!   between replicas;
//! - [`transfer`]: the partition transfer protocol on a ring change;
//! - [`proto`]: what crosses the network — client requests and responses, peer messages;
//! - [`node`]: the state machine itself, which drives all of the above: coordination,
//!   replicas, storage and group commit, hinted handoff, membership, transfers,
//!   anti-entropy and tombstone reaping (see its module documentation).
//!
//! Each module depends only on modules above it in this list, so the dependencies between
//! modules have no cycle: nothing but [`node`] depends on [`node`].
//!
//! No I/O, no clock, no global randomness: time and seeds are inputs.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod antientropy;
pub mod failure;
pub mod ids;
pub mod listing;
pub mod membership;
pub mod node;
pub mod proto;
pub mod record;
pub mod ring;
pub mod rng;
pub mod serde_helpers;
pub mod transfer;
pub mod version;

pub use ids::{InvalidNodeId, NodeId, Timestamp};
pub use node::{Input, Node, NodeConfig, NodeEvent, Output};

//! A deterministic simulator for the Dynamo node.
//!
//! Many nodes in one process, virtual time, and a seeded network that delays, loses,
//! duplicates and reorders messages and can be partitioned (also one way). A run is determined
//! by its seed: a failure seen once is replayed exactly.
//!
//! Work in progress: the network model is here; the node driver and the scenarios follow with
//! the node itself.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod network;

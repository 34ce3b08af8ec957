//! Anti-entropy (paper §4.7): replicas of a partition compare Merkle trees and sync the keys
//! that differ.
//!
//! Work in progress: [`merkle`] holds the incrementally maintained tree; the exchange between
//! replicas comes with the node.

pub mod merkle;

pub use merkle::{MerkleTree, NodeIndex};

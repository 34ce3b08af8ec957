//! Anti-entropy (paper §4.7): replicas of a partition compare Merkle trees and sync the keys
//! that differ.
//!
//! - [`merkle`]: the incrementally maintained tree of one partition;
//! - [`exchange`]: the exchange protocol between two replicas (messages, the initiator's
//!   state machine, throttling limits); the node drives it.

pub mod exchange;
pub mod merkle;

pub use exchange::{
    AeKey, AeMessage, AeOutcome, AeReport, AeStats, AntiEntropy, AntiEntropyConfig, Exchange,
    KeyDigest, Step,
};
pub use merkle::{MerkleTree, NodeIndex};

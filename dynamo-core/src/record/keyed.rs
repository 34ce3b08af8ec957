//! A record with the key it belongs to, as one replica hands it to another.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::serde_helpers::bytes_serde;

/// An encoded record and its bucket and key, sent for the receiver to merge: the records of
/// an anti-entropy push ([`AeMessage::Push`](crate::antientropy::AeMessage::Push),
/// [`AeMessage::PushReply`](crate::antientropy::AeMessage::PushReply)) and of a partition
/// transfer ([`TransferBatch`](crate::transfer::TransferBatch)).
///
/// On the wire: bucket, key and record, in that order, each a byte string (the field order
/// is part of the peer protocol).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyedRecord {
    /// The bucket.
    #[serde(with = "bytes_serde")]
    pub bucket: Bytes,
    /// The key.
    #[serde(with = "bytes_serde")]
    pub key: Bytes,
    /// The encoded sibling set ([`encode`](super::encode)).
    #[serde(with = "bytes_serde")]
    pub record: Bytes,
}

//! The layout of data keys in the storage engine.
//!
//! ```text
//! storage key = be32(partition) || be16(len(bucket)) || bucket || key
//! ```
//!
//! The partition comes first, big-endian, so that byte order is partition order and a
//! partition is one contiguous key range: handing a partition off or building its Merkle tree
//! is one range scan ([`partition_key_range`]). The bucket is length-prefixed so that a key
//! decodes back to exactly one (partition, bucket, key), and so that one bucket's keys within
//! a partition are contiguous too ([`bucket_key_range`]). The key is last and needs no length.
//!
//! A storage key is at most [`MAX_STORAGE_KEY_LEN`] bytes, the longest key every engine
//! accepts ([`engine_api::MAX_KEY_LEN`]), so bucket and key together have at most 505 bytes;
//! encoding checks it, so an oversized client key is refused before it reaches an engine.

use engine_api::KeyRange;

use super::PartitionId;
use super::StorageKeyError;

/// Bytes before the bucket: the partition id (4) and the bucket length (2).
pub const STORAGE_KEY_HEADER_LEN: usize = 6;

/// Longest storage key, in bytes: the engines' limit, [`engine_api::MAX_KEY_LEN`].
pub const MAX_STORAGE_KEY_LEN: usize = engine_api::MAX_KEY_LEN;

/// Longest bucket and key together, in bytes (505).
pub const MAX_BUCKET_AND_KEY_LEN: usize = MAX_STORAGE_KEY_LEN - STORAGE_KEY_HEADER_LEN;

/// A storage key taken apart, borrowing from the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StorageKeyRef<'a> {
    /// The partition the key belongs to.
    pub partition: PartitionId,
    /// The bucket name.
    pub bucket: &'a [u8],
    /// The key within the bucket.
    pub key: &'a [u8],
}

/// Appends the storage key of (`partition`, `bucket`, `key`) to `out` (reusing a buffer
/// avoids an allocation per write).
///
/// # Errors
/// [`StorageKeyError::TooLong`] when bucket and key exceed [`MAX_BUCKET_AND_KEY_LEN`]; `out`
/// is left unchanged.
pub fn encode_storage_key_into(
    out: &mut Vec<u8>,
    partition: PartitionId,
    bucket: &[u8],
    key: &[u8],
) -> Result<(), StorageKeyError> {
    let blen = check_len(bucket, key)?;
    out.reserve(STORAGE_KEY_HEADER_LEN + bucket.len() + key.len());
    out.extend_from_slice(&partition.0.to_be_bytes());
    out.extend_from_slice(&blen.to_be_bytes());
    out.extend_from_slice(bucket);
    out.extend_from_slice(key);
    Ok(())
}

/// The storage key of (`partition`, `bucket`, `key`).
///
/// # Errors
/// [`StorageKeyError::TooLong`] when bucket and key exceed [`MAX_BUCKET_AND_KEY_LEN`].
pub fn encode_storage_key(
    partition: PartitionId,
    bucket: &[u8],
    key: &[u8],
) -> Result<Vec<u8>, StorageKeyError> {
    let mut out = Vec::new();
    encode_storage_key_into(&mut out, partition, bucket, key)?;
    Ok(out)
}

/// Takes a storage key apart. Never panics, whatever the bytes (it accepts any bucket length
/// the 16-bit prefix can state; only encoding enforces the length limit).
///
/// # Errors
/// [`StorageKeyError::Truncated`] when the key is shorter than its header,
/// [`StorageKeyError::BucketOverrun`] when the bucket length points past the end.
pub fn decode_storage_key(bytes: &[u8]) -> Result<StorageKeyRef<'_>, StorageKeyError> {
    let Some((header, rest)) = bytes.split_first_chunk::<STORAGE_KEY_HEADER_LEN>() else {
        return Err(StorageKeyError::Truncated { len: bytes.len() });
    };
    let partition = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let declared = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if declared > rest.len() {
        return Err(StorageKeyError::BucketOverrun {
            declared,
            available: rest.len(),
        });
    }
    let (bucket, key) = rest.split_at(declared);
    Ok(StorageKeyRef {
        partition: PartitionId(partition),
        bucket,
        key,
    })
}

/// The 4-byte prefix shared by every storage key of `partition`.
pub fn partition_prefix(partition: PartitionId) -> [u8; 4] {
    partition.0.to_be_bytes()
}

/// Every storage key of `partition`, as a range for
/// [`Snapshot::scan`](engine_api::Snapshot::scan): `be32(p) ..` up to
/// `be32(p + 1)` excluded (unbounded for the last possible id).
pub fn partition_key_range(partition: PartitionId) -> KeyRange {
    KeyRange::prefix(&partition_prefix(partition))
}

/// Every storage key of `bucket` within `partition`.
///
/// # Errors
/// [`StorageKeyError::TooLong`] when the bucket exceeds [`MAX_BUCKET_AND_KEY_LEN`].
pub fn bucket_key_range(
    partition: PartitionId,
    bucket: &[u8],
) -> Result<KeyRange, StorageKeyError> {
    let prefix = encode_storage_key(partition, bucket, b"")?;
    Ok(KeyRange::prefix(&prefix))
}

/// Checks the length limit; returns the bucket length for the prefix.
fn check_len(bucket: &[u8], key: &[u8]) -> Result<u16, StorageKeyError> {
    let len = STORAGE_KEY_HEADER_LEN + bucket.len() + key.len();
    match u16::try_from(bucket.len()) {
        Ok(blen) if len <= MAX_STORAGE_KEY_LEN => Ok(blen),
        _ => Err(StorageKeyError::TooLong {
            len,
            max: MAX_STORAGE_KEY_LEN,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_as_documented() {
        let k = encode_storage_key(PartitionId(0x0102_0304), b"ab", b"c");
        assert_eq!(
            k.as_deref(),
            Ok(&[1u8, 2, 3, 4, 0, 2, b'a', b'b', b'c'][..])
        );
        let k2 = encode_storage_key(PartitionId(0x0102_0304), b"a", b"bc");
        assert_ne!(k, k2);
    }

    #[test]
    fn bad_keys_are_errors() {
        assert_eq!(
            decode_storage_key(&[0, 0, 0]),
            Err(StorageKeyError::Truncated { len: 3 })
        );
        assert_eq!(
            decode_storage_key(&[0, 0, 0, 1, 0, 5, b'x']),
            Err(StorageKeyError::BucketOverrun {
                declared: 5,
                available: 1
            })
        );
        let long = vec![b'b'; MAX_BUCKET_AND_KEY_LEN];
        assert!(matches!(
            encode_storage_key(PartitionId(0), &long, b"k"),
            Err(StorageKeyError::TooLong { len: 512, max: 511 })
        ));
        assert_eq!(
            encode_storage_key(PartitionId(0), &long[1..], b"k").map(|k| k.len()),
            Ok(MAX_STORAGE_KEY_LEN)
        );
        let mut out = vec![9u8];
        assert!(encode_storage_key_into(&mut out, PartitionId(0), &long, b"k").is_err());
        assert_eq!(out, [9u8]);
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The storage-key layout: round trips, ordering, partition and bucket ranges.

use dynamo_core::ring::{
    MAX_BUCKET_AND_KEY_LEN, MAX_STORAGE_KEY_LEN, PartitionId, StorageKeyError, StorageKeyRef,
    bucket_key_range, decode_storage_key, encode_storage_key, encode_storage_key_into,
    partition_key_range,
};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

#[test]
fn header_and_errors() {
    let k = encode_storage_key(PartitionId(7), b"users", b"alice").unwrap();
    assert_eq!(&k[..6], &[0, 0, 0, 7, 0, 5]);
    assert_eq!(
        decode_storage_key(&k).unwrap(),
        StorageKeyRef {
            partition: PartitionId(7),
            bucket: b"users",
            key: b"alice"
        }
    );
    let max = vec![b'b'; MAX_BUCKET_AND_KEY_LEN - 1];
    let k = encode_storage_key(PartitionId(1), &max, b"k").unwrap();
    assert_eq!(k.len(), MAX_STORAGE_KEY_LEN);
    assert_eq!(decode_storage_key(&k).unwrap().bucket, &max[..]);
    assert_eq!(
        encode_storage_key(PartitionId(1), &max, b"kk"),
        Err(StorageKeyError::TooLong {
            len: MAX_STORAGE_KEY_LEN + 1,
            max: MAX_STORAGE_KEY_LEN
        })
    );
    let too_long = vec![b'b'; MAX_BUCKET_AND_KEY_LEN + 1];
    assert!(bucket_key_range(PartitionId(1), &too_long).is_err());
    // Decoding accepts any length the prefix can state.
    let mut big = vec![0, 0, 0, 1, 0xff, 0xff];
    big.extend(std::iter::repeat_n(b'x', 70_000));
    assert_eq!(decode_storage_key(&big).unwrap().bucket.len(), 65_535);
    assert_eq!(
        decode_storage_key(b""),
        Err(StorageKeyError::Truncated { len: 0 })
    );
}

#[test]
fn last_partition_range_is_bounded_by_the_next_id() {
    let r = partition_key_range(PartitionId(255));
    assert!(r.contains(&encode_storage_key(PartitionId(255), b"z", b"z").unwrap()));
    assert!(!r.contains(&encode_storage_key(PartitionId(256), b"", b"").unwrap()));
    let top = partition_key_range(PartitionId(u32::MAX));
    assert!(top.contains(&encode_storage_key(PartitionId(u32::MAX), b"z", b"\xff").unwrap()));
}

proptest! {
    #[test]
    fn round_trip(p in any::<u32>(), bucket in bytes(250), key in bytes(250)) {
        let k = encode_storage_key(PartitionId(p), &bucket, &key).unwrap();
        prop_assert!(k.len() <= MAX_STORAGE_KEY_LEN);
        let d = decode_storage_key(&k).unwrap();
        prop_assert_eq!(d.partition, PartitionId(p));
        prop_assert_eq!(d.bucket, &bucket[..]);
        prop_assert_eq!(d.key, &key[..]);
        let mut buf = b"prefix".to_vec();
        encode_storage_key_into(&mut buf, PartitionId(p), &bucket, &key).unwrap();
        prop_assert_eq!(&buf[6..], &k[..]);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(raw in bytes(64)) {
        if let Ok(d) = decode_storage_key(&raw) {
            // Whatever decodes re-encodes to the same bytes: the layout is unambiguous.
            prop_assert_eq!(encode_storage_key(d.partition, d.bucket, d.key).unwrap(), raw);
        }
    }

    #[test]
    fn byte_order_is_partition_order(
        (p1, b1, k1) in (0u32..1024, bytes(8), bytes(8)),
        (p2, b2, k2) in (0u32..1024, bytes(8), bytes(8)),
    ) {
        let e1 = encode_storage_key(PartitionId(p1), &b1, &k1).unwrap();
        let e2 = encode_storage_key(PartitionId(p2), &b2, &k2).unwrap();
        if p1 != p2 {
            prop_assert_eq!(p1 < p2, e1 < e2);
        }
        // Partition and bucket ranges hold exactly their own keys.
        prop_assert!(partition_key_range(PartitionId(p1)).contains(&e1));
        prop_assert_eq!(partition_key_range(PartitionId(p1)).contains(&e2), p1 == p2);
        let br = bucket_key_range(PartitionId(p1), &b1).unwrap();
        prop_assert!(br.contains(&e1));
        prop_assert_eq!(br.contains(&e2), p1 == p2 && b1 == b2);
    }
}

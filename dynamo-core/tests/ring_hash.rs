#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The key → partition function is part of the stored format: these values must never change.

use dynamo_core::ring::{PartitionId, RingConfig, SIPHASH_K0, SIPHASH_K1, key_hash};
use proptest::prelude::*;

/// (bucket, key, SipHash-2-4 value, partition at Q = 256, partition at Q = 1024).
type Pinned = (&'static [u8], &'static [u8], u64, u32, u32);

const PINNED: [Pinned; 6] = [
    (b"", b"", 0x39d3_851c_a076_81a7, 57, 231),
    (b"users", b"alice", 0x78a1_19d3_ba60_12dd, 120, 482),
    (b"ab", b"c", 0x700c_6bdb_64d8_dea6, 112, 448),
    (b"a", b"bc", 0x4445_d9be_c4cc_de88, 68, 273),
    (
        b"bucket",
        b"\x00\xff binary",
        0xb086_aa77_40df_89a5,
        176,
        706,
    ),
    (
        b"photos",
        b"2007/sosp/dynamo.pdf",
        0x81bc_ae5b_215f_a661,
        129,
        518,
    ),
];

#[test]
fn pinned_values_never_change() {
    let q256 = RingConfig::new(256).unwrap();
    let q1024 = RingConfig::new(1024).unwrap();
    for (bucket, key, hash, p256, p1024) in PINNED {
        assert_eq!(key_hash(bucket, key), hash, "{bucket:?}/{key:?}");
        assert_eq!(q256.partition_of(bucket, key), PartitionId(p256));
        assert_eq!(q1024.partition_of(bucket, key), PartitionId(p1024));
    }
}

#[test]
fn bucket_and_key_boundaries_are_unambiguous() {
    assert_ne!(key_hash(b"ab", b"c"), key_hash(b"a", b"bc"));
    assert_ne!(key_hash(b"", b"abc"), key_hash(b"abc", b""));
}

#[test]
fn partition_is_the_top_bits() {
    for (bucket, key, hash, _, _) in PINNED {
        for bits in 0..=14u32 {
            let cfg = RingConfig::new(1 << bits).unwrap();
            let want = if bits == 0 {
                0
            } else {
                (hash >> (64 - bits)) as u32
            };
            assert_eq!(cfg.partition_of(bucket, key), PartitionId(want));
            assert!(cfg.hash_range(PartitionId(want)).contains(&hash));
        }
    }
}

/// The input bytes as documented: be64(len(bucket)) || bucket || key.
fn documented_input(bucket: &[u8], key: &[u8]) -> Vec<u8> {
    let mut m = (bucket.len() as u64).to_be_bytes().to_vec();
    m.extend_from_slice(bucket);
    m.extend_from_slice(key);
    m
}

/// std's (deprecated, but frozen) SipHasher is SipHash-2-4: an independent implementation.
#[allow(deprecated)]
fn std_siphash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::SipHasher::new_with_keys(SIPHASH_K0, SIPHASH_K1);
    h.write(bytes);
    h.finish()
}

proptest! {
    #[test]
    fn equals_an_independent_siphash(
        bucket in proptest::collection::vec(any::<u8>(), 0..40),
        key in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        prop_assert_eq!(key_hash(&bucket, &key), std_siphash(&documented_input(&bucket, &key)));
    }

    #[test]
    fn partitions_are_in_range(bucket in any::<Vec<u8>>(), key in any::<Vec<u8>>(), bits in 0u32..=14) {
        let cfg = RingConfig::new(1 << bits).unwrap();
        prop_assert!(cfg.contains(cfg.partition_of(&bucket, &key)));
    }
}

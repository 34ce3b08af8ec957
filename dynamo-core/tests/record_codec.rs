//! The stored record encoding: round trips, and rejection of anything else without panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod version_support;

use bytes::Bytes;
use dynamo_core::record::{self, DecodeError, RECORD_FORMAT_VERSION};
use proptest::prelude::*;
use version_support::{history, mode, play};

/// A valid record from a random history (3 replicas, every mode; the first replica's set,
/// or the merge of all).
fn record() -> impl Strategy<Value = (dynamo_core::version::SiblingSet, Vec<u8>)> {
    (mode(), history(30), any::<bool>()).prop_map(|(m, ops, all)| {
        let p = play(m, &ops);
        let set = if all {
            version_support::merge_all(&p.replicas)
        } else {
            p.replicas[0].clone()
        };
        let bytes = record::encode(&set).unwrap();
        (set, bytes)
    })
}

/// Frames `body` as a record with a correct checksum: what a forger (or a writer bug)
/// produces. The parser must survive any content.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut v = vec![RECORD_FORMAT_VERSION];
    v.extend_from_slice(body);
    let crc = crc32fast::hash(&v);
    v.extend_from_slice(&crc.to_be_bytes());
    v
}

proptest! {
    #[test]
    fn round_trip((set, bytes) in record()) {
        let back = record::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &set);
        prop_assert_eq!(back.mode(), set.mode());
        prop_assert_eq!(record::decode_shared(&Bytes::from(bytes.clone())).unwrap(), set);
        // Sized exactly up front: encoding allocates once and never grows the buffer.
        prop_assert_eq!(bytes.capacity(), bytes.len());
        // Canonical: re-encoding gives the same bytes.
        prop_assert_eq!(record::encode(&back).unwrap(), bytes);
    }

    #[test]
    fn every_truncation_is_rejected((_set, bytes) in record()) {
        for cut in 0..bytes.len() {
            prop_assert!(record::decode(&bytes[..cut]).is_err(), "prefix of {} accepted", cut);
        }
    }

    #[test]
    fn every_single_bit_flip_is_caught((_set, bytes) in record(), seed in any::<u64>()) {
        // All bits of short records, a spread of 256 bits of long ones.
        let bits = bytes.len() * 8;
        let picks: Vec<usize> = if bits <= 2048 {
            (0..bits).collect()
        } else {
            (0..256u64).map(|i| (seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % bits as u64) as usize).collect()
        };
        for bit in picks {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match record::decode(&b) {
                Err(DecodeError::Checksum { .. }) => {}
                Err(DecodeError::UnknownVersion(_)) => prop_assert!(bit < 8),
                other => prop_assert!(false, "bit {} flipped: {:?}", bit, other),
            }
        }
    }

    #[test]
    fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(record::decode(&bytes).is_err());
    }

    #[test]
    fn random_bytes_after_the_version_byte_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut v = vec![RECORD_FORMAT_VERSION];
        v.extend(bytes);
        prop_assert!(record::decode(&v).is_err());
    }

    /// Random content behind a correct checksum: the parser never panics, never allocates
    /// from a forged count (lengths are bounded by the input), and whatever it accepts is a
    /// canonical record.
    #[test]
    fn forged_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let v = sealed(&body);
        if let Ok(set) = record::decode(&v) {
            prop_assert_eq!(record::encode(&set).unwrap(), v);
        }
    }

    /// Mutations of a valid body, re-sealed with a correct checksum: still no panic, and
    /// anything accepted re-encodes to the same bytes.
    #[test]
    fn resealed_mutations_never_panic(
        (_set, bytes) in record(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut body = bytes[1..bytes.len() - 4].to_vec();
        for (at, val) in edits {
            if !body.is_empty() {
                let i = at % body.len();
                body[i] = val;
            }
        }
        if !body.is_empty() && cut % 3 == 0 {
            body.truncate(cut % body.len());
        }
        let v = sealed(&body);
        if let Ok(set) = record::decode(&v) {
            prop_assert_eq!(record::encode(&set).unwrap(), v);
        }
    }
}

#[test]
fn absurd_counts_are_rejected_before_allocating() {
    // Sibling count u32::MAX, actor count u16::MAX, value length u32::MAX: each claims more
    // than the input holds.
    let mut no_siblings = vec![1u8]; // mode dvv
    no_siblings.extend([0, 0]); // actors
    no_siblings.extend([0, 0]); // clock
    no_siblings.extend([0, 0, 0, 0]); // cloud
    let mut huge = no_siblings.clone();
    huge.extend(u32::MAX.to_be_bytes());
    assert_eq!(record::decode(&sealed(&huge)), Err(DecodeError::Truncated));
    let mut actors = vec![1u8, 0xff, 0xff];
    actors.extend([0u8; 16]);
    assert_eq!(
        record::decode(&sealed(&actors)),
        Err(DecodeError::Truncated)
    );
    let mut empty = no_siblings.clone();
    empty.extend(0u32.to_be_bytes());
    assert!(record::decode(&sealed(&empty)).unwrap().is_empty());
}

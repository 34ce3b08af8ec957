//! Merge of cluster states is a join-semilattice: commutative, associative, idempotent, and
//! its outcome flags tell the truth. Serde and the binary encoding round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod membership_support;

use dynamo_core::membership::{ClusterState, decode_cluster_state, encode_cluster_state};
use membership_support::{build, merged, state_spec};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn merge_is_commutative(a in state_spec(), b in state_spec()) {
        let (a, b) = (build(&a), build(&b));
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merge_is_associative(a in state_spec(), b in state_spec(), c in state_spec()) {
        let (a, b, c) = (build(&a), build(&b), build(&c));
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merge_is_idempotent(a in state_spec(), b in state_spec()) {
        let (a, b) = (build(&a), build(&b));
        prop_assert_eq!(merged(&a, &a), a.clone());
        let ab = merged(&a, &b);
        prop_assert_eq!(merged(&ab, &b), ab.clone());
        prop_assert_eq!(merged(&ab, &a), ab);
    }

    #[test]
    fn outcome_flags_are_exact(a in state_spec(), b in state_spec()) {
        let (a, b) = (build(&a), build(&b));
        let mut x = a.clone();
        let out = x.merge(&b);
        prop_assert_eq!(out.changed, x != a);
        prop_assert_eq!(out.sender_behind, x != b);
        prop_assert_eq!(out.ring_changed, x.ring() != a.ring() || x.ring_version() != a.ring_version());
    }

    #[test]
    fn merge_keeps_the_higher_versions(a in state_spec(), b in state_spec()) {
        let (a, b) = (build(&a), build(&b));
        let m = merged(&a, &b);
        prop_assert_eq!(m.ring_version(), a.ring_version().max(b.ring_version()));
        for (node, info) in m.members() {
            let va = a.member(node).map(|i| i.version);
            let vb = b.member(node).map(|i| i.version);
            prop_assert_eq!(Some(info.version), va.max(vb));
        }
    }

    #[test]
    fn binary_and_serde_round_trip(a in state_spec(), b in state_spec()) {
        let s = merged(&build(&a), &build(&b));
        let bytes = encode_cluster_state(&s);
        prop_assert_eq!(&decode_cluster_state(&bytes).unwrap(), &s);
        let json = serde_json::to_vec(&s).unwrap();
        prop_assert_eq!(&serde_json::from_slice::<ClusterState>(&json).unwrap(), &s);
    }

    #[test]
    fn decoding_any_corruption_is_an_error_never_a_panic(
        a in state_spec(),
        flip in any::<proptest::sample::Index>(),
        bit in 0..8u8,
        cut in any::<proptest::sample::Index>(),
    ) {
        let bytes = encode_cluster_state(&build(&a));
        let mut bad = bytes.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(decode_cluster_state(&bad).is_err());
        let n = cut.index(bytes.len());
        prop_assert!(decode_cluster_state(&bytes[..n]).is_err());
    }
}

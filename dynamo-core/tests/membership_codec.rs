//! The binary encoding of cluster states (format version 6, and versions 1 to 5 still read):
//! committed fixtures keep being read, and every kind of damage is a typed error.
//!
//! Write the version 6 fixture (only when deliberately creating a new one, never to "fix"
//! this test) with `cargo test -p dynamo-core --test membership_codec -- --ignored`. The
//! version 1 to 5 fixtures were written by their encoders and are never rewritten.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod membership_support;

use std::path::PathBuf;

use bytes::Bytes;
use dynamo_core::membership::keys::{Access, AccessKey, Grant};
use dynamo_core::membership::{
    BucketProps, CLUSTER_FORMAT_VERSION, ClusterState, DurabilityMode, MemberStatus,
    decode_cluster_state, encode_cluster_state,
};
use dynamo_core::record::DecodeError;
use dynamo_core::ring::{RingConfig, Zone};
use dynamo_core::version::VersioningMode;
use membership_support::id;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-state-v1.bin")
}

fn fixture_v2() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-state-v2.bin")
}

fn fixture_v3() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-state-v3.bin")
}

fn fixture_v4() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-state-v4.bin")
}

fn fixture_v5() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-state-v5.bin")
}

fn fixture_v6() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster-state-v6.bin")
}

/// [`sample_v5`] with client endpoints announced by two members (the third announced none).
fn sample_v6() -> ClusterState {
    let mut s = sample_v5();
    let members: Vec<_> = s.members().keys().cloned().collect();
    s.update_client(
        &members[0],
        "http=https://10.0.0.1:8001 binary=10.0.0.1:7001",
    )
    .unwrap();
    s.update_client(&members[1], "http=http://10.0.0.2:8001")
        .unwrap();
    s
}

/// [`sample_v4`] with access keys: an admin key, a key with grants (one of every bucket), a
/// revoked key.
fn sample_v5() -> ClusterState {
    let mut s = sample_v4();
    let key = |admin, grants: Vec<Grant>| AccessKey {
        secret_digest: [0xab; 32],
        admin,
        grants,
        created_ms: 1_700_000_000_000,
        revoked: false,
    };
    s.add_key("admin-1".into(), key(true, vec![])).unwrap();
    s.add_key(
        "app_2".into(),
        key(
            false,
            vec![
                Grant {
                    bucket: Bytes::from_static(b"users"),
                    read: true,
                    write: true,
                },
                Grant {
                    bucket: Bytes::new(),
                    read: true,
                    write: false,
                },
            ],
        ),
    )
    .unwrap();
    s.add_key("old".into(), key(false, vec![])).unwrap();
    s.revoke_key("old").unwrap();
    s
}

/// [`sample_v3`] with durabilities other than `all`: the defaults `one`, a bucket `none`.
fn sample_v4() -> ClusterState {
    let mut s = sample_v3();
    let defaults = BucketProps::new(3, 2, 2, VersioningMode::Dvv)
        .unwrap()
        .with_durability(DurabilityMode::One);
    s.set_default_props(defaults).unwrap();
    s.set_bucket_props(
        Bytes::from_static(b"cache"),
        BucketProps::new(2, 1, 1, VersioningMode::Dvv)
            .unwrap()
            .with_durability(DurabilityMode::None),
    )
    .unwrap();
    s
}

/// [`sample_with_epochs`] with the cluster's default bucket properties.
fn sample_v3() -> ClusterState {
    let mut s = sample_with_epochs();
    s.set_default_props(BucketProps::new(3, 2, 2, VersioningMode::Dvv).unwrap())
        .unwrap();
    s
}

/// [`sample`] with the epochs its members announced.
fn sample_with_epochs() -> ClusterState {
    let mut s = sample();
    s.set_epoch(&id("n1"), 1_700_000_000_123).unwrap();
    s.set_epoch(&id("n4"), 42).unwrap();
    s
}

/// Three founders in two zones, a fourth node admitted, a fifth that left, a sixth still
/// joining, two buckets.
fn sample() -> ClusterState {
    let z1 = Zone::new("z1").unwrap();
    let z2 = Zone::new("z2").unwrap();
    let mut s = ClusterState::new_cluster(
        RingConfig::new(32).unwrap().with_target_n(3).unwrap(),
        [
            (id("n1"), Some(z1.clone()), "10.0.0.1:7000".to_owned()),
            (id("n2"), Some(z2.clone()), "10.0.0.2:7000".to_owned()),
            (id("n3"), Some(z1.clone()), "10.0.0.3:7000".to_owned()),
            (id("n5"), None, "10.0.0.5:7000".to_owned()),
        ],
    )
    .unwrap();
    s.merge(&ClusterState::joining(id("n4"), Some(z2), "10.0.0.4:7000".into()).unwrap());
    s.leave(&id("n5")).unwrap();
    s.claim(&id("n1")).unwrap();
    s.finish_leave(&id("n5")).unwrap();
    s.merge(&ClusterState::joining(id("n6"), None, "[::1]:7006".into()).unwrap());
    s.set_bucket_props(
        Bytes::from_static(b"users"),
        BucketProps::new(5, 3, 3, VersioningMode::VClock).unwrap(),
    )
    .unwrap();
    s.set_bucket_props(
        Bytes::from_static(b"\x00binary\xff"),
        BucketProps::new(1, 1, 1, VersioningMode::Lww).unwrap(),
    )
    .unwrap();
    s
}

#[test]
#[ignore = "writes the fixture"]
fn write_fixture() {
    std::fs::write(fixture_v6(), encode_cluster_state(&sample_v6())).unwrap();
}

#[test]
fn fixture_v6_decodes_with_client_endpoints() {
    let bytes = std::fs::read(fixture_v6()).unwrap();
    assert_eq!(bytes[0], 6);
    let s = decode_cluster_state(&bytes).unwrap();
    assert_eq!(s, sample_v6());
    let clients: Vec<&str> = s.members().values().map(|m| m.client.as_str()).collect();
    assert_eq!(
        clients[..2],
        [
            "http=https://10.0.0.1:8001 binary=10.0.0.1:7001",
            "http=http://10.0.0.2:8001"
        ]
    );
    assert!(clients[2..].iter().all(|c| c.is_empty()));
    assert_eq!(encode_cluster_state(&s), bytes);
}

#[test]
fn client_endpoints_spread_by_merge() {
    let mut a = sample_v5();
    let b = sample_v6();
    assert!(a.merge(&b).changed);
    assert_eq!(a, b);
    // The same endpoints again change nothing.
    let me = a.members().keys().next().cloned().unwrap();
    let before = a.clone();
    let ep = a.members()[&me].client.clone();
    assert!(!a.update_client(&me, &ep).unwrap());
    assert_eq!(a, before);
}

#[test]
fn fixture_v5_decodes_with_access_keys() {
    let bytes = std::fs::read(fixture_v5()).unwrap();
    assert_eq!(bytes[0], 5);
    let s = decode_cluster_state(&bytes).unwrap();
    assert_eq!(s, sample_v5());
    assert!(s.members().values().all(|m| m.client.is_empty()));
    let keys = s.keys();
    assert!(keys["admin-1"].is_admin());
    assert!(keys["app_2"].allows(b"users", Access::Write));
    assert!(keys["app_2"].allows(b"other", Access::Read));
    assert!(!keys["app_2"].allows(b"other", Access::Write));
    assert!(keys["old"].revoked);
    // Written again, it takes the current format.
    assert_eq!(encode_cluster_state(&s)[0], CLUSTER_FORMAT_VERSION);
}

#[test]
fn access_keys_merge_and_revocations_win() {
    let mut a = sample_v4();
    let mut b = sample_v4();
    let key = AccessKey {
        secret_digest: [1; 32],
        admin: false,
        grants: vec![],
        created_ms: 5,
        revoked: false,
    };
    a.add_key("k".into(), key.clone()).unwrap();
    assert!(a.add_key("k".into(), key).is_err(), "ids are unique");
    b.merge(&a);
    assert!(b.keys().contains_key("k"));
    b.revoke_key("k").unwrap();
    // The revocation reaches a, and a's older copy never undoes it.
    a.merge(&b);
    assert!(a.keys()["k"].revoked);
    b.merge(&sample_v4());
    assert!(b.keys()["k"].revoked);
    assert_eq!(a, b);
}

#[test]
fn fixture_v4_decodes_with_durability() {
    let bytes = std::fs::read(fixture_v4()).unwrap();
    assert_eq!(bytes[0], 4);
    let s = decode_cluster_state(&bytes).unwrap();
    assert_eq!(
        s.default_props().map(|p| p.durability),
        Some(DurabilityMode::One)
    );
    assert_eq!(
        s.bucket_props(b"cache").map(|p| p.durability),
        Some(DurabilityMode::None)
    );
    assert_eq!(
        s.bucket_props(b"users").map(|p| p.durability),
        Some(DurabilityMode::All)
    );
    assert_eq!(s, sample_v4());
    // Written again, it takes the current format.
    assert_eq!(encode_cluster_state(&s)[0], CLUSTER_FORMAT_VERSION);
}

#[test]
fn fixture_v3_decodes_with_default_props() {
    let bytes = std::fs::read(fixture_v3()).unwrap();
    assert_eq!(bytes[0], 3);
    let s = decode_cluster_state(&bytes).unwrap();
    let defaults = BucketProps::new(3, 2, 2, VersioningMode::Dvv).unwrap();
    assert_eq!(s.default_props(), Some(&defaults));
    assert_eq!(s.default_props_entry().unwrap().version, 1);
    // A bucket without its own properties gets the cluster's; one with them keeps them.
    assert_eq!(s.bucket_props(b"other"), Some(&defaults));
    assert_eq!(
        s.bucket_props(b"users"),
        Some(&BucketProps::new(5, 3, 3, VersioningMode::VClock).unwrap())
    );
    assert_eq!(s, sample_v3());
    // Version 3 has no durability: every bucket is `all`; rewritten as version 4.
    assert!(
        s.buckets()
            .values()
            .all(|e| e.props.durability == DurabilityMode::All)
    );
    assert_eq!(encode_cluster_state(&s)[0], CLUSTER_FORMAT_VERSION);
}

#[test]
fn fixture_v2_decodes_with_epochs() {
    let bytes = std::fs::read(fixture_v2()).unwrap();
    assert_eq!(bytes[0], 2);
    let s = decode_cluster_state(&bytes).unwrap();
    let epochs: Vec<(String, u64, u64)> = s
        .members()
        .iter()
        .map(|(n, m)| (n.to_string(), m.version, m.epoch))
        .collect();
    assert_eq!(
        epochs,
        vec![
            ("n1".into(), 2, 1_700_000_000_123),
            ("n2".into(), 1, 0),
            ("n3".into(), 1, 0),
            ("n4".into(), 3, 42),
            ("n5".into(), 3, 0),
            ("n6".into(), 1, 0),
        ]
    );
    // Version 2 has no default properties.
    assert_eq!(s.default_props(), None);
    assert_eq!(s, sample_with_epochs());
    assert_eq!(encode_cluster_state(&s)[0], CLUSTER_FORMAT_VERSION);
}

#[test]
fn fixture_v1_still_decodes() {
    let bytes = std::fs::read(fixture()).unwrap();
    assert_eq!(bytes[0], 1);
    let s = decode_cluster_state(&bytes).unwrap();
    // Field by field, not only against today's encoder.
    assert_eq!(s.ring_version(), 2);
    let status: Vec<(String, MemberStatus, u64)> = s
        .members()
        .iter()
        .map(|(n, m)| (n.to_string(), m.status, m.version))
        .collect();
    assert_eq!(
        status,
        vec![
            ("n1".into(), MemberStatus::Valid, 1),
            ("n2".into(), MemberStatus::Valid, 1),
            ("n3".into(), MemberStatus::Valid, 1),
            ("n4".into(), MemberStatus::Valid, 2),
            ("n5".into(), MemberStatus::Exiting, 3),
            ("n6".into(), MemberStatus::Joining, 1),
        ]
    );
    assert_eq!(s.address(&id("n6")), Some("[::1]:7006"));
    assert_eq!(
        s.member(&id("n4")).unwrap().zone,
        Some(Zone::new("z2").unwrap())
    );
    let ring = s.ring().unwrap();
    assert_eq!(ring.partition_count(), 32);
    assert_eq!(ring.config().target_n(), 3);
    let owners: Vec<String> = ring.members().iter().map(|m| m.node.to_string()).collect();
    assert_eq!(owners, ["n1", "n2", "n3", "n4"]);
    assert!(ring.ownership_counts().iter().all(|(_, c)| *c == 8));
    assert_eq!(
        s.bucket_props(b"users"),
        Some(&BucketProps::new(5, 3, 3, VersioningMode::VClock).unwrap())
    );
    assert_eq!(s.buckets().len(), 2);
    // Version 1 has no epochs: every member reads as epoch 0, and the state equals the
    // one built today (which today's encoder writes as version 2).
    assert!(s.members().values().all(|m| m.epoch == 0));
    assert_eq!(s, sample());
    assert_eq!(encode_cluster_state(&s)[0], CLUSTER_FORMAT_VERSION);
}

fn reseal(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

#[test]
fn damage_is_a_typed_error() {
    let good = encode_cluster_state(&sample_v6());
    assert_eq!(CLUSTER_FORMAT_VERSION, 6);
    assert_eq!(decode_cluster_state(&[]), Err(DecodeError::Truncated));
    assert_eq!(
        decode_cluster_state(&[1, 0, 0]),
        Err(DecodeError::Truncated)
    );
    let mut v7 = good.clone();
    v7[0] = 7;
    assert_eq!(
        decode_cluster_state(&v7),
        Err(DecodeError::UnknownVersion(7))
    );
    let mut flipped = good.clone();
    flipped[20] ^= 0x10;
    assert!(matches!(
        decode_cluster_state(&flipped),
        Err(DecodeError::Checksum { .. })
    ));
    for cut in 0..good.len() {
        assert!(decode_cluster_state(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Checksummed but malformed: trailing bytes, bad ring flag, a count far too large.
    let body = &good[..good.len() - 4];
    let mut trailing = body.to_vec();
    trailing.push(0);
    assert!(matches!(
        decode_cluster_state(&reseal(trailing)),
        Err(DecodeError::Malformed(_))
    ));
    let mut flag = body.to_vec();
    flag[9] = 7;
    assert!(matches!(
        decode_cluster_state(&reseal(flag)),
        Err(DecodeError::Malformed(_))
    ));
    // A state without ring whose member count claims billions of entries.
    let mut huge = vec![3];
    huge.extend_from_slice(&0u64.to_be_bytes());
    huge.push(0);
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        decode_cluster_state(&reseal(huge)),
        Err(DecodeError::Truncated)
    );
    // A ring without a ring version breaks the state's invariant.
    let mut no_version = body.to_vec();
    no_version[1..9].copy_from_slice(&0u64.to_be_bytes());
    assert!(matches!(
        decode_cluster_state(&reseal(no_version)),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn serde_rejects_states_that_break_invariants() {
    let good = serde_json::to_value(sample()).unwrap();
    let mut bad = good.clone();
    bad["ring_version"] = 0.into();
    assert!(serde_json::from_value::<ClusterState>(bad).is_err());
    let mut bad = good.clone();
    bad["members"].as_array_mut().unwrap().remove(0);
    assert!(
        serde_json::from_value::<ClusterState>(bad).is_err(),
        "a ring member missing from the members"
    );
    let mut bad = good.clone();
    let first = bad["members"][0].clone();
    bad["members"].as_array_mut().unwrap().push(first);
    assert!(
        serde_json::from_value::<ClusterState>(bad).is_err(),
        "duplicate member"
    );
    let mut bad = good.clone();
    bad["buckets"][0]["props"]["r"] = 9.into();
    assert!(serde_json::from_value::<ClusterState>(bad).is_err());
    let mut bad = good;
    bad["members"][0][1]["status"] = "zombie".into();
    assert!(serde_json::from_value::<ClusterState>(bad).is_err());
}

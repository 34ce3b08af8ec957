//! Format version 1 must stay readable: decode committed fixture files and check every
//! field. Regenerate (only when deliberately creating a new fixture, never to "fix" this
//! test) with `cargo test -p dynamo-core --test record_fixture -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use bytes::Bytes;
use dynamo_core::record;
use dynamo_core::version::{Actor, ContentType, Context, Dot, SiblingSet, VersioningMode};
use dynamo_core::{NodeId, Timestamp};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn actor(name: &str, epoch: u64) -> Actor {
    Actor::new(NodeId::new(name).unwrap(), epoch)
}

const T0: u64 = 1_700_000_000_000;

/// DVV: two concurrent puts, then a delete whose context saw the first put and an isolated
/// write of n3 (so the causal context has a dot cloud).
fn dvv_set() -> SiblingSet {
    let (a, b, c) = (actor("n1", T0), actor("n2", 7), actor("n3", 0));
    let mut s = SiblingSet::new(VersioningMode::Dvv);
    let seen_hello = s
        .apply_put(
            &Context::new(),
            Bytes::from_static(b"hello"),
            ContentType::new("text/plain").unwrap(),
            &a,
            Timestamp(T0 + 1),
        )
        .unwrap();
    s.apply_put(
        &Context::new(),
        Bytes::from_static(&[0, 1, 2, 255]),
        ContentType::octet_stream(),
        &b,
        Timestamp(T0 + 2),
    )
    .unwrap();
    let mut ctx = seen_hello;
    ctx.add(Dot::new(c.clone(), 5), Timestamp(T0 + 3));
    s.apply_delete(&ctx, &c, Timestamp(T0 + 4)).unwrap();
    s
}

/// Vector clocks: the paper's D3/D4 siblings.
fn vclock_set() -> SiblingSet {
    let (sx, sy, sz) = (actor("sx", 1), actor("sy", 1), actor("sz", 1));
    let ct = ContentType::new("application/json").unwrap();
    let mut s = SiblingSet::new(VersioningMode::VClock);
    let c1 = s
        .apply_put(
            &Context::new(),
            Bytes::from_static(b"{\"v\":1}"),
            ct.clone(),
            &sx,
            Timestamp(T0 + 10),
        )
        .unwrap();
    let c2 = s
        .apply_put(
            &c1,
            Bytes::from_static(b"{\"v\":2}"),
            ct.clone(),
            &sx,
            Timestamp(T0 + 20),
        )
        .unwrap();
    let mut z = s.clone();
    s.apply_put(
        &c2,
        Bytes::from_static(b"{\"v\":3}"),
        ct.clone(),
        &sy,
        Timestamp(T0 + 30),
    )
    .unwrap();
    z.apply_put(
        &c2,
        Bytes::from_static(b"{\"v\":4}"),
        ct,
        &sz,
        Timestamp(T0 + 40),
    )
    .unwrap();
    s.merge(&z).unwrap();
    s
}

#[test]
#[ignore = "writes the fixtures; run once when creating a format version"]
fn generate_fixtures() {
    std::fs::create_dir_all(fixture("")).unwrap();
    std::fs::write(
        fixture("record-v1.bin"),
        record::encode(&dvv_set()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        fixture("record-v1-vclock.bin"),
        record::encode(&vclock_set()).unwrap(),
    )
    .unwrap();
}

fn clock_of(ctx: &Context) -> Vec<(String, u64, u64, u64)> {
    ctx.clock()
        .entries()
        .iter()
        .map(|e| {
            (
                e.actor().node().to_string(),
                e.actor().epoch(),
                e.counter(),
                e.timestamp().millis(),
            )
        })
        .collect()
}

#[test]
fn record_v1_dvv_fixture_decodes_to_its_exact_contents() {
    let bytes = std::fs::read(fixture("record-v1.bin")).unwrap();
    assert_eq!(bytes[0], 1, "format version byte");
    let set = record::decode(&bytes).unwrap();
    assert_eq!(set.mode(), VersioningMode::Dvv);

    let causal = set.causal();
    assert_eq!(
        clock_of(causal),
        [
            ("n1".to_owned(), T0, 1, T0 + 1),
            ("n2".to_owned(), 7, 1, T0 + 2),
        ]
    );
    let cloud: Vec<_> = causal
        .cloud()
        .map(|(d, t)| {
            (
                d.actor.node().to_string(),
                d.actor.epoch(),
                d.counter,
                t.millis(),
            )
        })
        .collect();
    assert_eq!(
        cloud,
        [
            ("n3".to_owned(), 0, 5, T0 + 3),
            ("n3".to_owned(), 0, 6, T0 + 4)
        ]
    );

    let entries: Vec<_> = set
        .entries()
        .iter()
        .map(|(d, s)| {
            (
                d.actor.node().to_string(),
                d.counter,
                s.is_tombstone(),
                s.timestamp().millis(),
                s.content_type().as_str().to_owned(),
                s.bytes().to_vec(),
                s.clock().len(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "n2".to_owned(),
                1,
                false,
                T0 + 2,
                "application/octet-stream".to_owned(),
                vec![0, 1, 2, 255],
                0
            ),
            ("n3".to_owned(), 6, true, T0 + 4, String::new(), vec![], 0),
        ]
    );
    assert!(!set.is_tombstone_only());
    assert_eq!(set.live().count(), 1);

    // The code still produces these bytes, and reads them back identically.
    assert_eq!(set, dvv_set());
    assert_eq!(record::encode(&set).unwrap(), bytes);
}

#[test]
fn record_v1_vclock_fixture_decodes_to_its_exact_contents() {
    let bytes = std::fs::read(fixture("record-v1-vclock.bin")).unwrap();
    assert_eq!(bytes[0], 1, "format version byte");
    let set = record::decode(&bytes).unwrap();
    assert_eq!(set.mode(), VersioningMode::VClock);
    let entries: Vec<_> = set
        .entries()
        .iter()
        .map(|(d, s)| {
            let clock: Vec<_> = s
                .clock()
                .entries()
                .iter()
                .map(|e| {
                    (
                        e.actor().node().to_string(),
                        e.counter(),
                        e.timestamp().millis(),
                    )
                })
                .collect();
            (
                d.actor.node().to_string(),
                d.counter,
                String::from_utf8(s.bytes().to_vec()).unwrap(),
                s.content_type().as_str().to_owned(),
                clock,
            )
        })
        .collect();
    let json = "application/json".to_owned();
    assert_eq!(
        entries,
        [
            (
                "sy".to_owned(),
                1,
                "{\"v\":3}".to_owned(),
                json.clone(),
                vec![("sx".to_owned(), 2, T0 + 20), ("sy".to_owned(), 1, T0 + 30)]
            ),
            (
                "sz".to_owned(),
                1,
                "{\"v\":4}".to_owned(),
                json,
                vec![("sx".to_owned(), 2, T0 + 20), ("sz".to_owned(), 1, T0 + 40)]
            ),
        ]
    );
    assert_eq!(
        clock_of(set.causal()),
        [
            ("sx".to_owned(), 1, 2, T0 + 20),
            ("sy".to_owned(), 1, 1, T0 + 30),
            ("sz".to_owned(), 1, 1, T0 + 40),
        ]
    );
    assert_eq!(set, vclock_set());
    assert_eq!(record::encode(&set).unwrap(), bytes);
}

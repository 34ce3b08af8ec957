//! The behavioural scenarios every engine must pass. Each panics (fails the test) on the first
//! difference from the contract of [`crate::StorageEngine`].
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use super::{TestDir, needs_persistence};
use crate::{
    Direction, Durability, EngineConfig, Error, KeyRange, Keyspace, MAX_KEY_LEN, Snapshot,
    StorageEngine, WriteBatch,
};

fn put<E: StorageEngine>(e: &E, ks: Keyspace, k: &[u8], v: &[u8], d: Durability) {
    let mut b = WriteBatch::new();
    b.put(ks, k.to_vec(), v.to_vec());
    e.write(&b, d).unwrap();
}

fn del<E: StorageEngine>(e: &E, ks: Keyspace, k: &[u8]) {
    let mut b = WriteBatch::new();
    b.delete(ks, k.to_vec());
    e.write(&b, Durability::Buffered).unwrap();
}

fn scan_all<S: Snapshot>(
    s: &S,
    ks: Keyspace,
    range: KeyRange,
    dir: Direction,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    s.scan(ks, range, dir)
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

fn keys<S: Snapshot>(s: &S, ks: Keyspace, range: KeyRange, dir: Direction) -> Vec<Vec<u8>> {
    scan_all(s, ks, range, dir)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub fn get_put_delete<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    assert_eq!(e.get(ks, b"k").unwrap(), None);
    put(&e, ks, b"k", b"v1", Durability::Sync);
    assert_eq!(e.get(ks, b"k").unwrap(), Some(Bytes::from_static(b"v1")));
    del(&e, ks, b"k");
    assert_eq!(e.get(ks, b"k").unwrap(), None);
    put(&e, ks, b"k", b"v2", Durability::Buffered);
    assert_eq!(e.get(ks, b"k").unwrap().as_deref(), Some(&b"v2"[..]));
    let snap = e.snapshot().unwrap();
    assert_eq!(snap.get(ks, b"k").unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(snap.get(ks, b"missing").unwrap(), None);
}

pub fn overwrite_and_delete_absent<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    for i in 0..10u8 {
        put(&e, ks, b"k", &[i; 3], Durability::Buffered);
    }
    assert_eq!(e.get(ks, b"k").unwrap().as_deref(), Some(&[9u8; 3][..]));
    // Deleting a key that was never written is not an error and changes nothing.
    del(&e, ks, b"never");
    assert_eq!(e.get(ks, b"never").unwrap(), None);
    assert_eq!(e.get(ks, b"k").unwrap().as_deref(), Some(&[9u8; 3][..]));
}

pub fn batch_applies_in_order<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    let mut batch = WriteBatch::new();
    batch.put(ks, b("a"), b("1"));
    batch.delete(ks, b("a"));
    batch.delete(ks, b("b"));
    batch.put(ks, b("b"), b("2"));
    batch.put(ks, b("c"), b("x"));
    batch.put(ks, b("c"), b("3"));
    e.write(&batch, Durability::Sync).unwrap();
    assert_eq!(e.get(ks, b"a").unwrap(), None);
    assert_eq!(e.get(ks, b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(e.get(ks, b"c").unwrap().as_deref(), Some(&b"3"[..]));
}

pub fn batch_is_atomic_across_keyspaces<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data", "hints", "meta"]).unwrap();
    let data = e.keyspace("data").unwrap();
    let hints = e.keyspace("hints").unwrap();
    let meta = e.keyspace("meta").unwrap();
    put(&e, meta, b"old", b"x", Durability::Sync);

    let mut batch = WriteBatch::new();
    batch.put(data, b("k"), b("d"));
    batch.put(hints, b("k"), b("h"));
    batch.delete(meta, b("old"));
    e.write(&batch, Durability::Sync).unwrap();
    assert_eq!(e.get(data, b"k").unwrap().as_deref(), Some(&b"d"[..]));
    assert_eq!(e.get(hints, b"k").unwrap().as_deref(), Some(&b"h"[..]));
    assert_eq!(e.get(meta, b"old").unwrap(), None);

    // A batch with a bad operation in the middle applies nothing at all.
    for bad in [BadOp::Keyspace, BadOp::EmptyKey, BadOp::LongKey] {
        let mut batch = WriteBatch::new();
        batch.put(data, b("k2"), b("d2"));
        batch.delete(hints, b("k"));
        match bad {
            BadOp::Keyspace => batch.put(Keyspace::from_index(99), b("k"), b("v")),
            BadOp::EmptyKey => batch.put(meta, Vec::new(), b("v")),
            BadOp::LongKey => batch.put(meta, vec![7u8; MAX_KEY_LEN + 1], b("v")),
        }
        batch.put(meta, b("new"), b("m"));
        let err = e.write(&batch, Durability::Sync).unwrap_err();
        match bad {
            BadOp::Keyspace => assert!(matches!(err, Error::UnknownKeyspace(_)), "{err:?}"),
            BadOp::EmptyKey => assert!(matches!(err, Error::InvalidKey { len: 0 }), "{err:?}"),
            BadOp::LongKey => assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}"),
        }
        assert_eq!(e.get(data, b"k2").unwrap(), None);
        assert_eq!(e.get(hints, b"k").unwrap().as_deref(), Some(&b"h"[..]));
        assert_eq!(e.get(meta, b"new").unwrap(), None);
    }

    // Readers never see half a batch: a snapshot taken before a batch sees none of it.
    let snap = e.snapshot().unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..100u32 {
        batch.put(data, format!("atomic{i:03}").into_bytes(), b("x"));
        batch.put(hints, format!("atomic{i:03}").into_bytes(), b("y"));
    }
    e.write(&batch, Durability::Buffered).unwrap();
    assert!(keys(&snap, data, KeyRange::prefix(b"atomic"), Direction::Forward).is_empty());
    drop(snap);
    let snap = e.snapshot().unwrap();
    assert_eq!(
        keys(&snap, data, KeyRange::prefix(b"atomic"), Direction::Forward).len(),
        100
    );
    assert_eq!(
        keys(
            &snap,
            hints,
            KeyRange::prefix(b"atomic"),
            Direction::Forward
        )
        .len(),
        100
    );
}

enum BadOp {
    Keyspace,
    EmptyKey,
    LongKey,
}

/// Keys `a`..=`j`, each with value = its key uppercased.
fn ten_keys<E: StorageEngine>(e: &E, ks: Keyspace) {
    let mut batch = WriteBatch::new();
    for c in b'a'..=b'j' {
        batch.put(ks, vec![c], vec![c.to_ascii_uppercase()]);
    }
    e.write(&batch, Durability::Buffered).unwrap();
}

fn range_cases() -> Vec<(KeyRange, &'static str)> {
    use Bound::*;
    let r = |s: Bound<&[u8]>, e: Bound<&[u8]>| KeyRange::new(s, e);
    vec![
        (KeyRange::all(), "abcdefghij"),
        (r(Included(b"c"), Excluded(b"f")), "cde"),
        (r(Included(b"c"), Included(b"f")), "cdef"),
        (r(Excluded(b"c"), Excluded(b"f")), "de"),
        (r(Excluded(b"c"), Included(b"f")), "def"),
        (r(Unbounded, Excluded(b"c")), "ab"),
        (r(Unbounded, Included(b"c")), "abc"),
        (r(Included(b"h"), Unbounded), "hij"),
        (r(Excluded(b"h"), Unbounded), "ij"),
        // bounds that fall between keys
        (r(Included(b"cc"), Excluded(b"ff")), "def"),
        (r(Excluded(b"b0"), Included(b"d0")), "cd"),
        // bounds outside the keys
        (r(Included(b"0"), Included(b"z")), "abcdefghij"),
        (r(Included(b"x"), Unbounded), ""),
        (r(Unbounded, Excluded(b"a")), ""),
        // empty and inverted ranges
        (r(Included(b"c"), Excluded(b"c")), ""),
        (r(Excluded(b"c"), Excluded(b"c")), ""),
        (r(Excluded(b"c"), Included(b"c")), ""),
        (r(Included(b"c"), Included(b"c")), "c"),
        (r(Included(b"f"), Included(b"c")), ""),
        (r(Excluded(b"f"), Excluded(b"c")), ""),
    ]
}

fn check_ranges<E: StorageEngine>(direction: Direction) {
    let dir = TestDir::new();
    let e: E = dir.open(&["before", "data", "zafter"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    ten_keys(&e, ks);
    // Neighbouring keyspaces hold keys around ours; none may leak into a scan.
    for other in ["before", "zafter"] {
        let o = e.keyspace(other).unwrap();
        put(&e, o, b"0", b"x", Durability::Buffered);
        put(&e, o, b"c", b"x", Durability::Buffered);
        put(&e, o, b"zz", b"x", Durability::Buffered);
    }
    let snap = e.snapshot().unwrap();
    for (range, expected) in range_cases() {
        let mut expected: Vec<(Vec<u8>, Vec<u8>)> = expected
            .bytes()
            .map(|c| (vec![c], vec![c.to_ascii_uppercase()]))
            .collect();
        if direction == Direction::Reverse {
            expected.reverse();
        }
        let got = scan_all(&snap, ks, range.clone(), direction);
        assert_eq!(got, expected, "{direction:?} scan of {range:?}");
    }
}

pub fn range_bounds_forward<E: StorageEngine>() {
    check_ranges::<E>(Direction::Forward);
}

pub fn range_bounds_reverse<E: StorageEngine>() {
    check_ranges::<E>(Direction::Reverse);
}

pub fn range_prefix_and_order<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    // Keys inserted in a scrambled order, with bytes across the whole 0..=255 range.
    let mut model = BTreeMap::new();
    let mut rng = super::SplitMix64::new(7);
    let mut batch = WriteBatch::new();
    for _ in 0..1000 {
        let len = 1 + rng.below(6) as usize;
        let key: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        let value = rng.next_u64().to_be_bytes().to_vec();
        batch.put(ks, key.clone(), value.clone());
        model.insert(key, value);
    }
    e.write(&batch, Durability::Buffered).unwrap();
    let snap = e.snapshot().unwrap();
    let all: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(
        scan_all(&snap, ks, KeyRange::all(), Direction::Forward),
        all
    );
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(
        scan_all(&snap, ks, KeyRange::all(), Direction::Reverse),
        rev
    );
    for prefix in [
        &[0x00u8][..],
        &[0x7f],
        &[0xff],
        &[0xff, 0xff],
        &[0x10, 0x20],
    ] {
        let expected: Vec<_> = model
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            scan_all(&snap, ks, KeyRange::prefix(prefix), Direction::Forward),
            expected,
            "prefix {prefix:?}"
        );
    }
}

pub fn snapshot_isolation<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data", "meta"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    let meta = e.keyspace("meta").unwrap();
    ten_keys(&e, ks);
    put(&e, meta, b"m", b"1", Durability::Sync);
    let snap = e.snapshot().unwrap();
    let before = scan_all(&snap, ks, KeyRange::all(), Direction::Forward);

    // Overwrite, delete, insert, in both keyspaces, with both durabilities.
    put(&e, ks, b"a", b"changed", Durability::Sync);
    del(&e, ks, b"b");
    put(&e, ks, b"bb", b"new", Durability::Buffered);
    put(&e, meta, b"m", b"2", Durability::Buffered);

    assert_eq!(snap.get(ks, b"a").unwrap().as_deref(), Some(&b"A"[..]));
    assert_eq!(snap.get(ks, b"b").unwrap().as_deref(), Some(&b"B"[..]));
    assert_eq!(snap.get(ks, b"bb").unwrap(), None);
    assert_eq!(snap.get(meta, b"m").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        scan_all(&snap, ks, KeyRange::all(), Direction::Forward),
        before
    );

    // The engine itself and a new snapshot see the writes.
    assert_eq!(e.get(ks, b"a").unwrap().as_deref(), Some(&b"changed"[..]));
    let now = e.snapshot().unwrap();
    assert_eq!(now.get(ks, b"b").unwrap(), None);
    assert_eq!(now.get(ks, b"bb").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(now.get(meta, b"m").unwrap().as_deref(), Some(&b"2"[..]));
    // The old snapshot is still consistent after a newer one was taken.
    assert_eq!(
        scan_all(&snap, ks, KeyRange::all(), Direction::Reverse).len(),
        10
    );
}

pub fn iterator_stable_while_writing<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    ten_keys(&e, ks);
    for direction in [Direction::Forward, Direction::Reverse] {
        let snap = e.snapshot().unwrap();
        let mut iter = snap.scan(ks, KeyRange::all(), direction).unwrap();
        let mut seen = Vec::new();
        for (i, item) in iter.by_ref().enumerate() {
            let (k, v) = item.unwrap();
            seen.push(k.to_vec());
            assert_eq!(v.as_ref(), &[k[0].to_ascii_uppercase()][..]);
            // Write between every step: delete an unseen key, insert new ones, overwrite.
            let mut batch = WriteBatch::new();
            batch.put(ks, format!("{}{i}", k[0] as char).into_bytes(), b("new"));
            batch.delete(ks, b("e"));
            batch.put(ks, b("j"), b("J2"));
            e.write(&batch, Durability::Buffered).unwrap();
        }
        let mut expected: Vec<Vec<u8>> = (b'a'..=b'j').map(|c| vec![c]).collect();
        if direction == Direction::Reverse {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{direction:?}");
        // Restore the ten keys for the next direction.
        drop(iter);
        drop(snap);
        let snap = e.snapshot().unwrap();
        let extra = keys(&snap, ks, KeyRange::all(), Direction::Forward);
        drop(snap);
        let mut batch = WriteBatch::new();
        for k in extra {
            batch.delete(ks, k);
        }
        e.write(&batch, Durability::Buffered).unwrap();
        ten_keys(&e, ks);
    }
}

pub fn reopen_keeps_data<E: StorageEngine>() {
    if !needs_persistence::<E>("reopen_keeps_data") {
        return;
    }
    let dir = TestDir::new();
    {
        let e: E = dir.open(&["data", "meta"]).unwrap();
        let ks = e.keyspace("data").unwrap();
        let meta = e.keyspace("meta").unwrap();
        put(&e, ks, b"sync", b"1", Durability::Sync);
        put(&e, ks, b"gone", b"x", Durability::Sync);
        del(&e, ks, b"gone");
        put(&e, meta, b"buffered", b"2", Durability::Buffered);
        // Dropped without flush: a clean close keeps Buffered writes too.
    }
    {
        let e: E = dir.open(&["data", "meta"]).unwrap();
        let ks = e.keyspace("data").unwrap();
        let meta = e.keyspace("meta").unwrap();
        assert_eq!(e.get(ks, b"sync").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(e.get(ks, b"gone").unwrap(), None);
        assert_eq!(
            e.get(meta, b"buffered").unwrap().as_deref(),
            Some(&b"2"[..])
        );
        put(&e, ks, b"second", b"3", Durability::Buffered);
        e.flush().unwrap();
    }
    let e: E = dir.open(&["data", "meta"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    let snap = e.snapshot().unwrap();
    assert_eq!(
        keys(&snap, ks, KeyRange::all(), Direction::Forward),
        vec![b("second"), b("sync")]
    );
}

pub fn reopen_adds_keyspace<E: StorageEngine>() {
    if !needs_persistence::<E>("reopen_adds_keyspace") {
        return;
    }
    let dir = TestDir::new();
    {
        let e: E = dir.open(&["data"]).unwrap();
        put(
            &e,
            e.keyspace("data").unwrap(),
            b"k",
            b"v",
            Durability::Sync,
        );
    }
    // Reopening with more keyspaces, in another order, creates the new one and keeps the old.
    let e: E = dir.open(&["extra", "data"]).unwrap();
    let data = e.keyspace("data").unwrap();
    let extra = e.keyspace("extra").unwrap();
    assert_eq!(data, Keyspace::from_index(1));
    assert_eq!(e.get(data, b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(e.get(extra, b"k").unwrap(), None);
    put(&e, extra, b"k", b"e", Durability::Sync);
    assert_eq!(e.get(extra, b"k").unwrap().as_deref(), Some(&b"e"[..]));
    assert_eq!(e.get(data, b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

pub fn large_values<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    let sizes = [1 << 20, (1 << 20) + 1, 3 << 20, 8 << 20];
    let value = |size: usize, seed: u64| -> Vec<u8> {
        let mut rng = super::SplitMix64::new(seed);
        (0..size).map(|_| rng.next_u64() as u8).collect()
    };
    for (i, &size) in sizes.iter().enumerate() {
        put(
            &e,
            ks,
            &[i as u8 + 1],
            &value(size, i as u64),
            Durability::Sync,
        );
    }
    for (i, &size) in sizes.iter().enumerate() {
        let got = e.get(ks, &[i as u8 + 1]).unwrap().unwrap();
        assert_eq!(got.len(), size);
        assert!(
            got.as_ref() == value(size, i as u64).as_slice(),
            "value {i} differs"
        );
    }
    let snap = e.snapshot().unwrap();
    let lens: Vec<usize> = snap
        .scan(ks, KeyRange::all(), Direction::Reverse)
        .unwrap()
        .map(|r| r.unwrap().1.len())
        .collect();
    let mut expected = sizes.to_vec();
    expected.reverse();
    assert_eq!(lens, expected);
    // Overwrite a large value with a small one and back.
    put(&e, ks, &[1], b"small", Durability::Buffered);
    assert_eq!(e.get(ks, &[1]).unwrap().as_deref(), Some(&b"small"[..]));
    if needs_persistence::<E>("large_values (reopen part)") {
        drop(snap);
        drop(e);
        let e: E = dir.open(&["data"]).unwrap();
        let got = e.get(ks, &[4]).unwrap().unwrap();
        assert!(got.as_ref() == value(8 << 20, 3).as_slice());
    }
}

pub fn empty_values_and_invalid_keys<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    // Empty values are stored and distinct from absence.
    put(&e, ks, b"empty", b"", Durability::Sync);
    assert_eq!(e.get(ks, b"empty").unwrap(), Some(Bytes::new()));
    let snap = e.snapshot().unwrap();
    assert_eq!(
        scan_all(&snap, ks, KeyRange::all(), Direction::Forward),
        vec![(b("empty"), vec![])]
    );
    drop(snap);
    // The one-byte keys at both ends of the byte range and the longest key are fine.
    let longest = vec![0xffu8; MAX_KEY_LEN];
    for key in [&[0x00u8][..], &[0xff], &longest] {
        put(&e, ks, key, b"v", Durability::Buffered);
        assert_eq!(e.get(ks, key).unwrap().as_deref(), Some(&b"v"[..]));
    }
    // Empty and over-long keys are rejected the same way by every engine, for reads and writes.
    for key in [Vec::new(), vec![1u8; MAX_KEY_LEN + 1]] {
        let mut batch = WriteBatch::new();
        batch.put(ks, key.clone(), b("v"));
        let err = e.write(&batch, Durability::Sync).unwrap_err();
        assert!(
            matches!(err, Error::InvalidKey { len } if len == key.len()),
            "{err:?}"
        );
        let mut batch = WriteBatch::new();
        batch.delete(ks, key.clone());
        assert!(matches!(
            e.write(&batch, Durability::Sync),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(e.get(ks, &key), Err(Error::InvalidKey { .. })));
        let snap = e.snapshot().unwrap();
        assert!(matches!(snap.get(ks, &key), Err(Error::InvalidKey { .. })));
    }
    let snap = e.snapshot().unwrap();
    assert_eq!(
        scan_all(&snap, ks, KeyRange::all(), Direction::Forward).len(),
        4
    );
}

pub fn many_keyspaces<E: StorageEngine>() {
    let dir = TestDir::new();
    let names: Vec<String> = (0..40).map(|i| format!("space-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let e: E = dir.open(&refs).unwrap();
    assert_eq!(e.keyspace_names(), names.as_slice());
    let mut batch = WriteBatch::new();
    for (i, name) in names.iter().enumerate() {
        let ks = e.keyspace(name).unwrap();
        assert_eq!(ks.index(), i);
        batch.put(ks, b("shared"), format!("value-{i}").into_bytes());
        batch.put(ks, format!("only-{i:02}").into_bytes(), b("x"));
    }
    e.write(&batch, Durability::Sync).unwrap();
    let snap = e.snapshot().unwrap();
    for (i, name) in names.iter().enumerate() {
        let ks = e.keyspace(name).unwrap();
        assert_eq!(
            e.get(ks, b"shared").unwrap().unwrap().as_ref(),
            format!("value-{i}").as_bytes()
        );
        assert_eq!(
            keys(&snap, ks, KeyRange::all(), Direction::Forward),
            vec![format!("only-{i:02}").into_bytes(), b("shared")]
        );
    }
}

pub fn unknown_keyspace<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    assert!(matches!(e.keyspace("nope"), Err(Error::UnknownKeyspace(_))));
    let bogus = Keyspace::from_index(1);
    assert!(matches!(e.get(bogus, b"k"), Err(Error::UnknownKeyspace(_))));
    let snap = e.snapshot().unwrap();
    assert!(matches!(
        snap.get(bogus, b"k"),
        Err(Error::UnknownKeyspace(_))
    ));
    assert!(matches!(
        snap.scan(bogus, KeyRange::all(), Direction::Forward),
        Err(Error::UnknownKeyspace(_))
    ));
}

pub fn flush_and_empty_batch<E: StorageEngine>() {
    let dir = TestDir::new();
    let e: E = dir.open(&["data"]).unwrap();
    let ks = e.keyspace("data").unwrap();
    e.write(&WriteBatch::new(), Durability::Sync).unwrap();
    e.write(&WriteBatch::new(), Durability::Buffered).unwrap();
    put(&e, ks, b"k", b"v", Durability::Buffered);
    e.flush().unwrap();
    e.flush().unwrap();
    assert_eq!(e.get(ks, b"k").unwrap().as_deref(), Some(&b"v"[..]));
}

pub fn invalid_config<E: StorageEngine>() {
    let dir = TestDir::new();
    for keyspaces in [
        vec![],
        vec!["ok", "ok"],
        vec![""],
        vec!["has space"],
        vec!["slash/"],
    ] {
        let config = EngineConfig::new(dir.store_path(), keyspaces.iter().copied());
        match E::open(&config) {
            Err(Error::InvalidConfig(_)) => {}
            Err(other) => panic!("{keyspaces:?}: expected InvalidConfig, got {other:?}"),
            Ok(_) => panic!("{keyspaces:?}: opened with an invalid configuration"),
        }
    }
}

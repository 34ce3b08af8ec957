//! `simulate_crash` drops exactly the writes that were not made durable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_api::{Direction, Durability, KeyRange, Snapshot, StorageEngine, WriteBatch};
use engine_mem::MemEngine;

fn write(e: &MemEngine, ops: &[(&str, Option<&str>)], d: Durability) {
    let ks = e.keyspace("data").unwrap();
    let mut batch = WriteBatch::new();
    for (k, v) in ops {
        match v {
            Some(v) => batch.put(ks, k.as_bytes().to_vec(), v.as_bytes().to_vec()),
            None => batch.delete(ks, k.as_bytes().to_vec()),
        }
    }
    e.write(&batch, d).unwrap();
}

fn contents(e: &MemEngine) -> Vec<(String, String)> {
    let ks = e.keyspace("data").unwrap();
    let snap = e.snapshot().unwrap();
    snap.scan(ks, KeyRange::all(), Direction::Forward)
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn crash_keeps_synced_and_drops_buffered() {
    let e = MemEngine::with_keyspaces(["data"]).unwrap();
    write(&e, &[("a", Some("1")), ("b", Some("1"))], Durability::Sync);
    write(
        &e,
        &[("a", Some("2")), ("b", None), ("c", Some("2"))],
        Durability::Buffered,
    );
    write(&e, &[("a", Some("3"))], Durability::Buffered);
    assert_eq!(contents(&e), pairs(&[("a", "3"), ("c", "2")]));
    assert_eq!(e.pending_undurable(), 4);
    e.simulate_crash();
    assert_eq!(contents(&e), pairs(&[("a", "1"), ("b", "1")]));
    assert_eq!(e.pending_undurable(), 0);
}

#[test]
fn sync_write_makes_earlier_buffered_writes_durable() {
    let e = MemEngine::with_keyspaces(["data"]).unwrap();
    write(&e, &[("a", Some("1"))], Durability::Buffered);
    write(&e, &[("b", Some("1"))], Durability::Sync);
    write(&e, &[("c", Some("1"))], Durability::Buffered);
    e.simulate_crash();
    assert_eq!(contents(&e), pairs(&[("a", "1"), ("b", "1")]));
}

#[test]
fn flush_makes_buffered_writes_durable() {
    let e = MemEngine::with_keyspaces(["data"]).unwrap();
    write(
        &e,
        &[("a", Some("1")), ("a", Some("2"))],
        Durability::Buffered,
    );
    e.flush().unwrap();
    write(&e, &[("a", None)], Durability::Buffered);
    e.simulate_crash();
    assert_eq!(contents(&e), pairs(&[("a", "2")]));
}

#[test]
fn snapshot_taken_before_crash_is_unchanged() {
    let e = MemEngine::with_keyspaces(["data"]).unwrap();
    write(&e, &[("a", Some("1"))], Durability::Buffered);
    let ks = e.keyspace("data").unwrap();
    let snap = e.snapshot().unwrap();
    e.simulate_crash();
    assert_eq!(snap.get(ks, b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(e.get(ks, b"a").unwrap(), None);
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Readers running beside a writer see whole batches only: a snapshot sees one batch in every
//! keyspace or in none, and a point read never runs ahead of a snapshot taken after it.

use std::sync::atomic::{AtomicBool, Ordering};

use engine_api::{Durability, EngineConfig, Keyspace, Snapshot, StorageEngine, WriteBatch};
use engine_lsm::FjallEngine;

const BATCHES: u64 = 3000;

fn counter(v: Option<bytes::Bytes>) -> u64 {
    v.map_or(0, |b| u64::from_be_bytes(b.as_ref().try_into().unwrap()))
}

#[test]
fn readers_never_see_part_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine =
        FjallEngine::open(&EngineConfig::new(dir.path().join("store"), ["a", "b"])).unwrap();
    let (a, b) = (Keyspace::from_index(0), Keyspace::from_index(1));
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut checks = 0u64;
                    while !done.load(Ordering::Acquire) {
                        // The same batch wrote both keyspaces: a snapshot sees both or neither.
                        let snap = engine.snapshot().unwrap();
                        let in_a = counter(snap.get(a, b"x").unwrap());
                        let in_b = counter(snap.get(b, b"x").unwrap());
                        assert_eq!(in_a, in_b, "a snapshot saw part of a batch");
                        drop(snap);
                        // What a point read saw, a later snapshot sees too.
                        let read = counter(engine.get(a, b"x").unwrap());
                        let later = counter(engine.snapshot().unwrap().get(b, b"x").unwrap());
                        assert!(
                            later >= read,
                            "get saw batch {read}, a later snapshot {later}"
                        );
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        for i in 1..=BATCHES {
            let mut batch = WriteBatch::new();
            batch.put(a, &b"x"[..], i.to_be_bytes().to_vec());
            for k in 0..8u64 {
                batch.put(a, format!("k{k}").into_bytes(), i.to_be_bytes().to_vec());
            }
            batch.put(b, &b"x"[..], i.to_be_bytes().to_vec());
            engine.write(&batch, Durability::Buffered).unwrap();
        }
        done.store(true, Ordering::Release);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    });
    assert_eq!(counter(engine.get(b, b"x").unwrap()), BATCHES);
}

//! A store that went through heavy churn — inserts, overwrites, deletes, large values, deep
//! trees, long-held snapshots that swell LMDB's free lists, reopens — passes the structural
//! check that every open runs, and still holds exactly what was written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use engine_api::conformance::SplitMix64;
use engine_api::{
    Direction, Durability, EngineConfig, KeyRange, Keyspace, Snapshot, StorageEngine, WriteBatch,
};
use engine_lmdb::LmdbEngine;

const KEYSPACES: [&str; 3] = ["data", "hints", "meta"];

fn key(rng: &mut SplitMix64) -> Vec<u8> {
    // Long keys make small fan-out, hence deep trees; a small id space makes collisions.
    let id = rng.below(3000);
    let len = match rng.below(4) {
        0 => 400 + rng.below(112) as usize,
        _ => 4 + rng.below(40) as usize,
    };
    let mut k = format!("{id:06}").into_bytes();
    k.resize(len.max(6), b'k');
    k
}

fn value(rng: &mut SplitMix64) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 3000 + rng.below(30_000) as usize, // overflow pages
        1 => 0,
        _ => rng.below(300) as usize,
    };
    let byte = rng.next_u64() as u8;
    vec![byte; len]
}

#[test]
fn churned_store_passes_the_open_check_and_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::new(dir.path().join("store"), KEYSPACES);
    let mut model: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = vec![BTreeMap::new(); KEYSPACES.len()];
    let mut rng = SplitMix64::new(0x5eed);
    for round in 0..12 {
        let engine = LmdbEngine::open(&config)
            .unwrap_or_else(|e| panic!("round {round}: a healthy store fails to open: {e}"));
        let mut held = None;
        for step in 0..60 {
            if step % 15 == 0 {
                // A snapshot held across writes keeps old pages alive: the free lists swell.
                held = Some(engine.snapshot().unwrap());
            }
            let mut batch = WriteBatch::new();
            for _ in 0..1 + rng.below(60) {
                let ks = rng.below(KEYSPACES.len() as u64) as usize;
                let k = key(&mut rng);
                if rng.below(3) == 0 {
                    batch.delete(Keyspace::from_index(ks as u32), k.clone());
                    model[ks].remove(&k);
                } else {
                    let v = value(&mut rng);
                    batch.put(Keyspace::from_index(ks as u32), k.clone(), v.clone());
                    model[ks].insert(k, v);
                }
            }
            let durability = if rng.below(4) == 0 {
                Durability::Sync
            } else {
                Durability::Buffered
            };
            engine.write(&batch, durability).unwrap();
        }
        drop(held);
        // Every few rounds, delete most keys: trees shrink and pages go back to the free lists.
        if round % 4 == 3 {
            let mut batch = WriteBatch::new();
            for (ks, map) in model.iter_mut().enumerate() {
                let doomed: Vec<Vec<u8>> = map.keys().filter(|k| k[5] % 4 != 0).cloned().collect();
                for k in doomed {
                    batch.delete(Keyspace::from_index(ks as u32), k.clone());
                    map.remove(&k);
                }
            }
            engine.write(&batch, Durability::Buffered).unwrap();
        }
        let snap = engine.snapshot().unwrap();
        for (ks, map) in model.iter().enumerate() {
            let got: Vec<(Vec<u8>, Vec<u8>)> = snap
                .scan(
                    Keyspace::from_index(ks as u32),
                    KeyRange::all(),
                    Direction::Forward,
                )
                .unwrap()
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                .collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> =
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert!(
                got == expected,
                "round {round}: keyspace {ks} differs from the model"
            );
        }
    }
    // The final state, after one more check at open.
    let engine = LmdbEngine::open(&config).unwrap();
    for (ks, map) in model.iter().enumerate() {
        for (k, v) in map {
            let got = engine.get(Keyspace::from_index(ks as u32), k).unwrap();
            assert_eq!(got.as_deref(), Some(v.as_slice()));
        }
    }
}

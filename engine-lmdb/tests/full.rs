//! A store that reaches its size limit: `Error::Full` saying how to raise it, nothing of the
//! failed batch applied, everything before intact, and the store still usable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_api::{
    Direction, Durability, EngineConfig, Error, KeyRange, Keyspace, Snapshot, StorageEngine,
    WriteBatch,
};
use engine_lmdb::LmdbEngine;

const MAX_SIZE: u64 = 1 << 20;

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    vec![i as u8; 3000]
}

fn config(dir: &std::path::Path, max: u64) -> EngineConfig {
    let mut config = EngineConfig::new(dir.join("store"), ["data", "meta"]);
    config.max_size_bytes = Some(max);
    config
}

#[test]
fn full_map_is_a_typed_error_and_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LmdbEngine::open(&config(dir.path(), MAX_SIZE)).unwrap();
    let data = engine.keyspace("data").unwrap();
    let meta = engine.keyspace("meta").unwrap();

    // Fill the map, ten values and one counter overwrite per batch, until it refuses.
    let mut written = 0u32;
    let err = loop {
        let mut batch = WriteBatch::new();
        for i in written..written + 10 {
            batch.put(data, key(i), value(i));
        }
        batch.put(meta, &b"counter"[..], (written + 10).to_be_bytes().to_vec());
        match engine.write(&batch, Durability::Sync) {
            Ok(()) => written += 10,
            Err(e) => break e,
        }
        assert!(written < 10_000, "a 1 MiB map took 30 MB of values");
    };
    assert!(written > 0, "not a single batch fitted");
    match &err {
        Error::Full {
            engine: "lmdb",
            message,
            source,
        } => {
            assert!(message.contains("max_size_bytes"), "{message}");
            assert!(message.contains(&MAX_SIZE.to_string()), "{message}");
            assert!(source.is_some(), "the heed error is kept as the source");
        }
        other => panic!("expected Full, got {other:?}"),
    }

    // Nothing of the failed batch, everything before it.
    let check = |engine: &LmdbEngine, written: u32| {
        assert_eq!(
            engine.get(meta, b"counter").unwrap().as_deref(),
            Some(&written.to_be_bytes()[..])
        );
        assert_eq!(engine.get(data, &key(written)).unwrap(), None);
        for i in 0..written {
            assert_eq!(
                engine.get(data, &key(i)).unwrap().as_deref(),
                Some(value(i).as_slice())
            );
        }
        let snap = engine.snapshot().unwrap();
        let items = snap
            .scan(data, KeyRange::all(), Direction::Reverse)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let n = items.len();
        assert_eq!(n, written as usize);
    };
    check(&engine, written);

    // Still usable: deleting frees pages, and new writes fit again.
    let mut batch = WriteBatch::new();
    for i in (0..written).step_by(2) {
        batch.delete(data, key(i));
    }
    engine.write(&batch, Durability::Sync).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(data, &b"after-full"[..], &b"fits"[..]);
    engine.write(&batch, Durability::Sync).unwrap();
    assert_eq!(
        engine.get(data, b"after-full").unwrap().as_deref(),
        Some(&b"fits"[..])
    );
    drop(engine);

    // Reopened with a larger limit, as the message says, the store takes more.
    let engine = LmdbEngine::open(&config(dir.path(), 4 * MAX_SIZE)).unwrap();
    let mut batch = WriteBatch::new();
    for i in written..written + 100 {
        batch.put(data, key(i), value(i));
    }
    engine.write(&batch, Durability::Sync).unwrap();
    assert_eq!(
        engine.get(data, &key(written + 99)).unwrap().as_deref(),
        Some(value(written + 99).as_slice())
    );
}

#[test]
fn tiny_or_huge_limits_are_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    for max in [0, 1000, engine_lmdb::MIN_MAP_SIZE - 1, u64::MAX] {
        match LmdbEngine::open(&config(dir.path(), max)) {
            Err(Error::InvalidConfig(_)) => {}
            other => panic!("max_size_bytes = {max}: expected InvalidConfig, got {other:?}"),
        }
    }
    // The smallest accepted limit opens and takes a write.
    let engine = LmdbEngine::open(&config(dir.path(), engine_lmdb::MIN_MAP_SIZE)).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(Keyspace::from_index(0), &b"k"[..], &b"v"[..]);
    engine.write(&batch, Durability::Sync).unwrap();
}

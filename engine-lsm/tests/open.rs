#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Opening: one engine instance per store at a time, the configuration's cache size, and the
//! lsm options.

use engine_api::{Durability, EngineConfig, Error, StorageEngine, WriteBatch};
use engine_lsm::{FJALL_DIR, FjallEngine, LsmOptions, MIN_MAX_JOURNAL_BYTES};

#[test]
fn a_store_opens_once_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = EngineConfig::new(&store, ["data"]);
    let first = FjallEngine::open(&config).unwrap();
    assert_eq!(first.fjall_dir(), store.join(FJALL_DIR));
    match FjallEngine::open(&config) {
        Err(Error::Backend { message, .. }) => {
            assert!(message.contains("already open"), "{message}");
        }
        Err(other) => panic!("expected Backend (locked), got {other:?}"),
        Ok(_) => panic!("opened a store that is already open"),
    }
    drop(first);
    // Dropping the engine releases fjall's lock.
    FjallEngine::open(&config).unwrap();
}

#[test]
fn cache_size_is_taken_and_size_limit_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("store"), ["data"]);
    config.cache_size_bytes = Some(1 << 20);
    config.max_size_bytes = Some(1 << 20);
    let engine = FjallEngine::open(&config).unwrap();
    let data = engine.keyspace("data").unwrap();
    // More than `max_size_bytes`: fjall has no size limit, and the engine does not invent one.
    let mut batch = WriteBatch::new();
    for i in 0..64u32 {
        batch.put(data, i.to_be_bytes().to_vec(), vec![7u8; 64 << 10]);
    }
    engine.write(&batch, Durability::Buffered).unwrap();
    assert_eq!(
        engine
            .get(data, &5u32.to_be_bytes())
            .unwrap()
            .unwrap()
            .len(),
        64 << 10
    );
}

#[test]
fn a_journal_bound_under_fjalls_least_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = EngineConfig::new(&store, ["data"]);
    let options = LsmOptions::default().max_journal_bytes(MIN_MAX_JOURNAL_BYTES - 1);
    match FjallEngine::open_with(&config, &options) {
        Err(Error::InvalidConfig(message)) => {
            assert!(message.contains("max_journal_bytes"), "{message}");
        }
        Err(other) => panic!("expected InvalidConfig, got {other:?}"),
        Ok(_) => panic!("opened with a journal bound fjall refuses"),
    }
    assert!(!store.exists());
    // The least fjall takes is accepted.
    let options = LsmOptions::default().max_journal_bytes(MIN_MAX_JOURNAL_BYTES);
    FjallEngine::open_with(&config, &options).unwrap();
}

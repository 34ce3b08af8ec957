//! LMDB must not open one environment twice in a process (the second open would release the
//! first one's locks): opening a store that is open already is a clear error, whatever the
//! spelling of its path, and the store opens again once the first engine is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_api::{Durability, EngineConfig, Error, Keyspace, StorageEngine, WriteBatch};
use engine_lmdb::LmdbEngine;

fn expect_already_open(result: engine_api::Result<LmdbEngine>) {
    match result {
        Err(Error::Backend {
            engine: "lmdb",
            message,
            ..
        }) => assert!(message.contains("already open"), "{message}"),
        Err(other) => panic!("expected an already-open error, got {other:?}"),
        Ok(_) => panic!("the store was opened twice"),
    }
}

#[test]
fn second_open_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let config = EngineConfig::new(&store, ["data"]);
    let first = LmdbEngine::open(&config).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(Keyspace::from_index(0), &b"k"[..], &b"v"[..]);
    first.write(&batch, Durability::Sync).unwrap();

    expect_already_open(LmdbEngine::open(&config));
    // Another spelling of the same directory, and a symbolic link to it.
    let other_spelling = dir.path().join("store/../store/.");
    expect_already_open(LmdbEngine::open(&EngineConfig::new(
        other_spelling,
        ["data"],
    )));
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&store, &link).unwrap();
    expect_already_open(LmdbEngine::open(&EngineConfig::new(&link, ["data"])));

    // From another thread too, while the first engine is in use.
    std::thread::scope(|s| {
        s.spawn(|| expect_already_open(LmdbEngine::open(&config)));
    });

    // The refused opens left the first engine working.
    assert_eq!(
        first.get(Keyspace::from_index(0), b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    drop(first);
    let again = LmdbEngine::open(&config).unwrap();
    assert_eq!(
        again.get(Keyspace::from_index(0), b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Opening a store: the database file's name and creation, a second open of an open store,
//! leftovers of an interrupted creation, the cache setting.

mod common;

use std::fs;

use common::{config, data_file, open, write_batches};
use engine_api::marker::MARKER_FILE;
use engine_api::{Durability, Error, Keyspace, StorageEngine};
use engine_redb::{DATA_FILE, RedbEngine};

#[test]
fn a_new_store_is_the_marker_and_one_database_file() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let engine = open(&store).unwrap();
    assert_eq!(engine.data_file(), store.join(DATA_FILE));
    let mut names: Vec<String> = fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [MARKER_FILE, DATA_FILE]);
}

#[test]
fn a_second_open_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let first = open(&store).unwrap();
    write_batches(&first, 0, 1, Durability::Sync);
    match open(&store) {
        Err(Error::Backend { message, .. }) => {
            assert!(message.contains("already open"), "{message}")
        }
        other => panic!("expected a Backend error saying the store is open, got {other:?}"),
    }
    // The first engine is unaffected, and once it is closed the store opens again.
    write_batches(&first, 1, 2, Durability::Sync);
    drop(first);
    let again = open(&store).unwrap();
    assert!(
        again
            .get(Keyspace::from_index(0), &common::key(1, 0))
            .unwrap()
            .is_some()
    );
}

#[test]
fn an_interrupted_creation_is_started_over() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    drop(open(&store).unwrap());
    // As if the first open had died after writing the marker, half-way through building the
    // database file under its temporary name.
    fs::remove_file(data_file(&store)).unwrap();
    fs::write(store.join("data.redb.new"), vec![0x42u8; 10_000]).unwrap();
    let engine = open(&store).unwrap();
    write_batches(&engine, 0, 1, Durability::Sync);
    drop(engine);
    assert!(!store.join("data.redb.new").exists());
    let engine = open(&store).unwrap();
    assert!(
        engine
            .get(Keyspace::from_index(1), &common::key(0, 3))
            .unwrap()
            .is_some()
    );
}

#[test]
fn an_empty_database_file_is_damage_not_a_new_store() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let engine = open(&store).unwrap();
    write_batches(&engine, 0, 1, Durability::Sync);
    drop(engine);
    fs::write(data_file(&store), b"").unwrap();
    assert!(matches!(open(&store), Err(Error::Corruption { .. })));
    // And the failed open did not initialise it.
    assert_eq!(fs::metadata(data_file(&store)).unwrap().len(), 0);
}

#[test]
fn cache_size_is_taken() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    for cache in [0, 1 << 16, 1 << 20, u64::MAX] {
        let mut cfg = config(&store);
        cfg.cache_size_bytes = Some(cache);
        cfg.max_size_bytes = Some(1 << 20); // ignored by redb
        let engine = RedbEngine::open(&cfg).unwrap();
        write_batches(&engine, 0, 3, Durability::Buffered);
        let outcome = common::read_everything(&engine, 3);
        assert_eq!(
            common::assert_batch_prefix(outcome.state.as_ref().unwrap(), 3..=3),
            3
        );
    }
}

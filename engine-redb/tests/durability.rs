#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The durability table of the crate documentation, process-crash columns, checked on crash
//! images: the store's files copied while the engine has them open, which is what a process
//! killed at that moment leaves on disk (everything redb wrote to the file, nothing it held in
//! memory). The `Sync` column is also proven by the conformance suite's SIGKILL test.

mod common;

use common::{assert_batch_prefix, copy_store, open, read_everything, write_batches};
use engine_api::{Durability, StorageEngine, WriteBatch};

/// Takes the crash image of `live` now, opens it, and returns how many whole batches (of the
/// `written` ones) it holds.
fn batches_after_crash(live: &std::path::Path, written: u64) -> u64 {
    let image = tempfile::tempdir().unwrap();
    let store = image.path().join("store");
    copy_store(live, &store);
    let engine = open(&store).unwrap();
    let outcome = read_everything(&engine, written);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=written)
}

#[test]
fn buffered_writes_are_lost_by_a_process_crash() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let engine = open(&live).unwrap();
    write_batches(&engine, 0, 4, Durability::Sync);
    write_batches(&engine, 4, 10, Durability::Buffered);
    // Visible to reads at once...
    let outcome = read_everything(&engine, 10);
    assert_batch_prefix(outcome.state.as_ref().unwrap(), 10..=10);
    // ...but only the Sync batches are in the file.
    assert_eq!(batches_after_crash(&live, 10), 4);
}

#[test]
fn buffered_writes_are_lost_by_a_crash_even_when_many() {
    // Enough Buffered data to overflow redb's write buffer into the file: still not reachable
    // from any durable header after a crash.
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let engine = open(&live).unwrap();
    write_batches(&engine, 0, 1, Durability::Sync);
    write_batches(&engine, 1, 200, Durability::Buffered);
    assert_eq!(batches_after_crash(&live, 200), 1);
}

#[test]
fn sync_write_makes_earlier_buffered_writes_durable() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let engine = open(&live).unwrap();
    write_batches(&engine, 0, 5, Durability::Buffered);
    write_batches(&engine, 5, 6, Durability::Sync);
    assert_eq!(batches_after_crash(&live, 6), 6);
}

#[test]
fn flush_and_empty_sync_batch_make_buffered_writes_durable() {
    let root = tempfile::tempdir().unwrap();
    let live = root.path().join("live");
    let engine = open(&live).unwrap();
    write_batches(&engine, 0, 3, Durability::Buffered);
    engine.flush().unwrap();
    assert_eq!(batches_after_crash(&live, 3), 3);
    write_batches(&engine, 3, 6, Durability::Buffered);
    engine.write(&WriteBatch::new(), Durability::Sync).unwrap();
    assert_eq!(batches_after_crash(&live, 6), 6);
    // An empty Buffered batch changes nothing.
    write_batches(&engine, 6, 7, Durability::Buffered);
    engine
        .write(&WriteBatch::new(), Durability::Buffered)
        .unwrap();
    assert_eq!(batches_after_crash(&live, 7), 6);
}

#[test]
fn clean_close_keeps_buffered_writes() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    // Dropped.
    let engine = open(&store).unwrap();
    write_batches(&engine, 0, 3, Durability::Buffered);
    drop(engine);
    // Closed, with the result reported.
    let engine = open(&store).unwrap();
    write_batches(&engine, 3, 6, Durability::Buffered);
    engine.close().unwrap();
    let engine = open(&store).unwrap();
    let outcome = read_everything(&engine, 6);
    assert_eq!(
        assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=6),
        6
    );
}

#[test]
fn a_cleanly_closed_file_verifies() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("store");
    let engine = open(&store).unwrap();
    write_batches(&engine, 0, 4, Durability::Buffered);
    engine.close().unwrap();
    let mut engine = open(&store).unwrap();
    assert!(engine.check_integrity().unwrap());
    let outcome = read_everything(&engine, 4);
    assert_eq!(
        assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=4),
        4
    );
}

//! Damaged files give a typed error, never a panic or a crash.
//!
//! LMDB keeps no checksums and trusts every byte it maps, so on its own it would crash the
//! process (SIGSEGV, SIGBUS, or an assertion's abort) on many kinds of damage to data pages.
//! The engine checks the structure of the data file at every open, before LMDB reads a data
//! page (see `src/verify.rs`); these tests damage the files in the ways a disk or an operator
//! can, and check that opening and reading give `Ok` or a typed error. Damage inside keys and
//! values themselves cannot be seen without checksums: it reads back as different data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use engine_api::conformance::SplitMix64;
use engine_api::{
    Direction, Durability, EngineConfig, Error, KeyRange, Keyspace, Snapshot, StorageEngine,
    WriteBatch,
};
use engine_lmdb::LmdbEngine;

const KEYSPACES: [&str; 3] = ["data", "hints", "meta"];
const KEYS: u32 = 1500;

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    // Every 97th value is large, so the file holds overflow pages too.
    let len = if i.is_multiple_of(97) {
        9000
    } else {
        1 + (i % 50) as usize
    };
    vec![i as u8; len]
}

fn config(store: &Path) -> EngineConfig {
    EngineConfig::new(store, KEYSPACES)
}

/// A healthy store with three keyspaces, branch, leaf and overflow pages, and free pages.
fn healthy_store(root: &Path) -> PathBuf {
    let store = root.join("store");
    let engine = LmdbEngine::open(&config(&store)).unwrap();
    for ks in 0..KEYSPACES.len() as u32 {
        let mut batch = WriteBatch::new();
        for i in 0..KEYS {
            batch.put(Keyspace::from_index(ks), key(i), value(i));
        }
        engine.write(&batch, Durability::Sync).unwrap();
    }
    // Overwrites and deletes leave pages on LMDB's free lists.
    let mut batch = WriteBatch::new();
    for i in (0..KEYS).step_by(7) {
        batch.delete(Keyspace::from_index(1), key(i));
    }
    engine.write(&batch, Durability::Sync).unwrap();
    store
}

fn data_file(store: &Path) -> PathBuf {
    store.join("data.mdb")
}

/// LMDB's page size, as the first meta page records it (the OS page size at creation).
fn page_size(data: &[u8]) -> usize {
    u32::from_le_bytes(data[40..44].try_into().unwrap()) as usize
}

/// Opens the store and reads everything; every call must give `Ok` or a typed error.
/// Returns the first error, if any.
fn open_and_read_all(store: &Path) -> Option<Error> {
    let engine = match LmdbEngine::open(&config(store)) {
        Ok(engine) => engine,
        Err(e) => return Some(e),
    };
    let mut first = None;
    let mut note = |r: Result<(), Error>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    for ks in 0..KEYSPACES.len() as u32 {
        let ks = Keyspace::from_index(ks);
        for i in 0..KEYS {
            note(engine.get(ks, &key(i)).map(drop));
        }
        match engine.snapshot() {
            Ok(snap) => {
                for direction in [Direction::Forward, Direction::Reverse] {
                    match snap.scan(ks, KeyRange::all(), direction) {
                        Ok(iter) => iter.for_each(|r| note(r.map(drop))),
                        Err(e) => note(Err(e)),
                    }
                }
            }
            Err(e) => note(Err(e)),
        }
    }
    let mut batch = WriteBatch::new();
    batch.put(Keyspace::from_index(0), &b"after"[..], &b"damage"[..]);
    note(engine.write(&batch, Durability::Sync));
    first
}

fn expect_corruption(store: &Path, what: &str) -> String {
    match LmdbEngine::open(&config(store)) {
        Err(Error::Corruption {
            engine: "lmdb",
            message,
            ..
        }) => message,
        Err(other) => panic!("{what}: expected Corruption, got {other:?}"),
        Ok(_) => panic!("{what}: the damaged store opened"),
    }
}

#[test]
fn healthy_store_reads_back() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    assert!(open_and_read_all(&store).is_none());
    let engine = LmdbEngine::open(&config(&store)).unwrap();
    assert_eq!(
        engine
            .get(Keyspace::from_index(2), &key(970))
            .unwrap()
            .as_deref(),
        Some(value(970).as_slice())
    );
}

#[test]
fn truncated_to_a_few_bytes() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let data = fs::read(data_file(&store)).unwrap();
    fs::write(data_file(&store), &data[..10]).unwrap();
    // LMDB reads the meta pages and finds them cut: MDB_INVALID.
    expect_corruption(&store, "a data file of 10 bytes");
}

#[test]
fn truncated_in_the_middle() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let data = fs::read(data_file(&store)).unwrap();
    let page = page_size(&data);
    // The meta pages are whole, but the pages they lead to are gone: without the check, LMDB
    // would read past the end of its map and die of SIGBUS.
    for keep in [2 * page, 3 * page, data.len() / 2, data.len() - page] {
        fs::write(data_file(&store), &data[..keep]).unwrap();
        let message = expect_corruption(&store, &format!("a data file cut to {keep} bytes"));
        assert!(
            message.contains("outside") || message.contains("ends"),
            "{message}"
        );
    }
    // Put back whole, the store is fine.
    fs::write(data_file(&store), &data).unwrap();
    assert!(open_and_read_all(&store).is_none());
}

#[test]
fn truncated_to_nothing_is_a_new_store() {
    // An empty data file is what a crash leaves while LMDB creates a store, so LMDB takes it
    // for a new store. This documents that behaviour: the data is gone, the store opens empty.
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    fs::write(data_file(&store), b"").unwrap();
    let engine = LmdbEngine::open(&config(&store)).unwrap();
    assert_eq!(engine.get(Keyspace::from_index(0), &key(1)).unwrap(), None);
}

#[test]
fn meta_pages_overwritten_with_garbage() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let healthy = fs::read(data_file(&store)).unwrap();
    let page = page_size(&healthy);
    let mut rng = SplitMix64::new(42);
    // Both meta pages, then each one alone: LMDB checks both (MDB_INVALID).
    for pages in [0..2, 0..1, 1..2] {
        let mut data = healthy.clone();
        for b in &mut data[pages.start * page..pages.end * page] {
            *b = rng.next_u64() as u8;
        }
        fs::write(data_file(&store), &data).unwrap();
        expect_corruption(&store, &format!("garbage in meta pages {pages:?}"));
    }
}

#[test]
fn meta_page_of_another_lmdb_version() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let mut data = fs::read(data_file(&store)).unwrap();
    let page = page_size(&data);
    // mm_version, after the 16-byte page header and the 4-byte magic number.
    for meta in 0..2 {
        data[meta * page + 20..meta * page + 24].copy_from_slice(&999u32.to_le_bytes());
    }
    fs::write(data_file(&store), &data).unwrap();
    match LmdbEngine::open(&config(&store)) {
        Err(Error::WrongFormat {
            expected: "lmdb", ..
        }) => {}
        other => panic!("expected WrongFormat, got {other:?}"),
    }
}

/// The page numbers of `data` whose header says they are leaf (`0x02`) or branch (`0x01`)
/// pages. Some are free pages that keep the content they had when they were freed.
fn tree_pages(data: &[u8]) -> Vec<usize> {
    let page = page_size(data);
    (2..data.len() / page)
        .filter(|&p| {
            let header = &data[p * page..];
            let pgno = u64::from_le_bytes(header[..8].try_into().unwrap());
            let flags = u16::from_le_bytes([header[10], header[11]]);
            pgno == p as u64 && (flags == 1 || flags == 2)
        })
        .collect()
}

/// True when the store holds exactly what [`healthy_store`] wrote.
fn holds_healthy_data(engine: &LmdbEngine) -> bool {
    let snap = engine.snapshot().unwrap();
    (0..KEYSPACES.len() as u32).all(|ks| {
        let expected: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS)
            .filter(|i| ks != 1 || !i.is_multiple_of(7))
            .map(|i| (key(i), value(i)))
            .collect();
        let got: Vec<(Vec<u8>, Vec<u8>)> = snap
            .scan(
                Keyspace::from_index(ks),
                KeyRange::all(),
                Direction::Forward,
            )
            .unwrap()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        got == expected
    })
}

#[test]
fn damaged_page_headers() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let healthy = fs::read(data_file(&store)).unwrap();
    let page_size = page_size(&healthy);
    let pages = tree_pages(&healthy);
    assert!(pages.len() > 20, "the store has {} tree pages", pages.len());
    let mut detected = 0;
    // Each field of the header of each tree page: its page number, its type, its bounds.
    for &page in &pages {
        for (offset, garbage) in [(0, 0x77u8), (10, 0x04), (10, 0x00), (12, 0xff), (15, 0x80)] {
            let mut data = healthy.clone();
            data[page * page_size + offset] = garbage;
            fs::write(data_file(&store), &data).unwrap();
            let what = format!("byte {offset} of page {page} = {garbage:#x}");
            match LmdbEngine::open(&config(&store)) {
                Err(Error::Corruption { message, .. }) => {
                    assert!(
                        message.contains(&format!("page {page}")),
                        "{what}: {message}"
                    );
                    detected += 1;
                }
                Err(other) => panic!("{what}: expected Corruption, got {other:?}"),
                // Only a free page, which no tree reaches, may be damaged unnoticed.
                Ok(engine) => assert!(holds_healthy_data(&engine), "{what}: wrong data"),
            }
        }
    }
    assert!(
        detected >= 5 * 20,
        "only {detected} damaged headers detected"
    );
}

#[test]
fn random_bytes_flipped_in_data_pages() {
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let healthy = fs::read(data_file(&store)).unwrap();
    let (mut detected, mut undetected) = (0, 0);
    for seed in 0..150u64 {
        let mut rng = SplitMix64::new(seed);
        let mut data = healthy.clone();
        let flips = [1, 4, 16, 64][seed as usize % 4];
        let metas = 2 * page_size(&data);
        for _ in 0..flips {
            let at = metas + rng.below((data.len() - metas) as u64) as usize;
            data[at] ^= 1 << rng.below(8);
        }
        fs::write(data_file(&store), &data).unwrap();
        // Reaching the next line at all means no crash and no panic.
        match open_and_read_all(&store) {
            None => undetected += 1,
            Some(Error::Corruption { .. }) => detected += 1,
            Some(other) => panic!("seed {seed}: an untyped or unexpected error: {other:?}"),
        }
    }
    println!("{detected} damaged copies detected, {undetected} read without error");
    // Flips in keys and values go unseen (LMDB has no checksums); flips in structure are seen.
    assert!(
        detected > 30,
        "only {detected} of 150 damaged copies were detected"
    );
    assert!(undetected > 0);
}

#[test]
fn garbage_lock_file_is_rebuilt() {
    // The lock file holds no data: LMDB rebuilds it when it is the only process using it.
    let root = tempfile::tempdir().unwrap();
    let store = healthy_store(root.path());
    let len = fs::metadata(store.join("lock.mdb")).unwrap().len() as usize;
    let mut rng = SplitMix64::new(7);
    let garbage: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    fs::write(store.join("lock.mdb"), garbage).unwrap();
    assert!(open_and_read_all(&store).is_none());
}

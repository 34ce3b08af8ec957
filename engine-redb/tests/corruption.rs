#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Damaged database files give a typed error, never a panic.
//!
//! The cases: `data.redb` truncated at many lengths, its 320-byte header garbled, and random
//! bytes flipped in its pages, both after a clean close and in the image a process crash leaves
//! (the file copied while the engine has it open). After each, the store is opened and read in
//! full, then written, flushed and closed: every call returns `Ok` or a typed error.
//!
//! Where redb detects the damage the variant is asserted: truncation, a bad magic number and
//! failed checksums are [`Error::Corruption`]. redb panics on many kinds of damaged pages
//! (slice indices read from the page, "Invalid page type byte", allocator assertions); the
//! engine catches those panics and returns `Corruption` too, which these tests exercise.
//! Panic messages of those caught panics appear in the test output.
//!
//! After a clean close redb does not verify checksums on open or on reads, so damage inside
//! values reads back silently; the tests assert that such damage is then found by
//! [`RedbEngine::check_integrity`]. After a crash, the open verifies every checksum, so a store
//! that opens holds exactly a prefix of the `Sync` batches, with the right values.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{
    State, assert_batch_prefix, assert_corruption, copy_store, data_file, flip_bytes, make_store,
    open, read_everything, write_batches,
};
use engine_api::conformance::SplitMix64;
use engine_api::{Durability, Error, Keyspace, StorageEngine, WriteBatch};
use engine_redb::RedbEngine;

/// Batches in the test stores (20 keys each, in both keyspaces: about 2 MB of data).
const BATCHES: u64 = 20;

/// Size of redb's file header: magic number, god byte, layout, two 128-byte commit slots.
const HEADER_LEN: u64 = 320;

struct Fixture {
    root: tempfile::TempDir,
    template: PathBuf,
    len: u64,
    next: std::cell::Cell<u32>,
}

impl Fixture {
    /// A cleanly closed store of [`BATCHES`] batches, to copy for each case.
    fn clean() -> Self {
        let root = tempfile::tempdir().unwrap();
        let template = root.path().join("template");
        make_store(&template, BATCHES);
        Self::with_template(root, template)
    }

    /// The image a process crash leaves: [`BATCHES`] `Sync` batches then 5 `Buffered` ones,
    /// copied while the engine has the store open.
    fn crashed() -> Self {
        let root = tempfile::tempdir().unwrap();
        let live = root.path().join("live");
        let template = root.path().join("template");
        let engine = open(&live).unwrap();
        write_batches(&engine, 0, BATCHES, Durability::Sync);
        write_batches(&engine, BATCHES, BATCHES + 5, Durability::Buffered);
        copy_store(&live, &template);
        drop(engine);
        Self::with_template(root, template)
    }

    fn with_template(root: tempfile::TempDir, template: PathBuf) -> Self {
        let len = fs::metadata(data_file(&template)).unwrap().len();
        Self {
            root,
            template,
            len,
            next: std::cell::Cell::new(0),
        }
    }

    /// A fresh copy of the template store.
    fn copy(&self) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        let store = self.root.path().join(format!("case-{n}"));
        copy_store(&self.template, &store);
        store
    }

    /// Two copies of the template, damaged alike by `damage`.
    fn damaged_pair(&self, damage: impl Fn(&Path)) -> (PathBuf, PathBuf) {
        let a = self.copy();
        damage(&data_file(&a));
        let b = self.copy();
        fs::copy(data_file(&a), data_file(&b)).unwrap();
        (a, b)
    }
}

/// The full content of the template stores.
fn full_state() -> State {
    let mut state = State::new();
    for ks in 0..common::KEYSPACES.len() {
        let mut map = std::collections::BTreeMap::new();
        for b in 0..BATCHES {
            for j in 0..common::KEYS_PER_BATCH {
                map.insert(common::key(b, j), common::value(b, j, ks));
            }
        }
        state.push(map);
    }
    state
}

/// Opens a damaged store and uses it in every way: reads everything, writes, flushes,
/// closes. Nothing may panic. An error of the open or of a read must be `Corruption` (what
/// redb reports for damage it detects, and what a caught panic becomes), or `Poisoned` after
/// one. Returns what the reads gave, or `None` when the store did not open.
fn exercise(store: &Path, batches: u64, what: &str) -> Option<common::Outcome> {
    let engine = match open(store) {
        Ok(engine) => engine,
        Err(e) => {
            assert_corruption(&e, what);
            return None;
        }
    };
    let outcome = read_everything(&engine, batches);
    // A read of a damaged page reference can run past the end of the file: an I/O error, after
    // which redb refuses everything until reopened (`Poisoned`).
    let mut failed = false;
    for e in &outcome.errors {
        if !(failed && matches!(e, Error::Poisoned { engine: "redb" })) {
            assert_corruption(e, what);
        }
        failed = true;
    }
    // Writing to a damaged store may fail in any typed way, or succeed.
    let mut batch = WriteBatch::new();
    batch.put(Keyspace::from_index(0), b"after".to_vec(), vec![7u8; 5000]);
    batch.delete(Keyspace::from_index(1), common::key(0, 1));
    let _ = engine.write(&batch, Durability::Buffered);
    let _ = engine.write(&batch, Durability::Sync);
    let _ = engine.get(Keyspace::from_index(0), b"after");
    let _ = engine.flush();
    let _ = engine.close();
    Some(outcome)
}

/// Runs `check_integrity` on a damaged store before reading anything, then reads it: damage
/// that changed what reads return must have been reported.
///
/// `expect_all`: the damage cannot have made the open fall back to an older commit (damaged
/// pages of a cleanly closed store, whose open verifies nothing), so a passed check means
/// that every batch is there.
fn check_then_read(store: &Path, what: &str, expect_all: bool) {
    let mut engine: RedbEngine = match open(store) {
        Ok(engine) => engine,
        Err(e) => {
            assert_corruption(&e, what);
            return;
        }
    };
    match engine.check_integrity() {
        Ok(true) => {
            // Every checksum verified: reads give whole batches with the right values; all of
            // them when the open did not have to fall back to an older commit.
            let outcome = read_everything(&engine, BATCHES);
            assert!(outcome.errors.is_empty(), "{what}: {:?}", outcome.errors);
            let n = assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=BATCHES);
            if n < BATCHES {
                println!("{what}: opened at an older commit, with {n} batches");
            }
            assert!(
                n == BATCHES || !expect_all,
                "{what}: check_integrity passed but batches are missing"
            );
        }
        Ok(false) => {
            // Repaired by going back to an intact commit: whole batches, right values.
            let outcome = read_everything(&engine, BATCHES);
            assert!(outcome.errors.is_empty(), "{what}: {:?}", outcome.errors);
            assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=BATCHES);
        }
        Err(e) => assert_corruption(&e, what),
    }
}

fn truncate(file: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn truncated_file_is_corruption() {
    let fx = Fixture::clean();
    let len = fx.len;
    for cut in [
        0,
        1,
        8,
        100,
        HEADER_LEN - 1,
        4096,
        8192,
        len / 2,
        len - 4096,
        len - 1,
    ] {
        let store = fx.copy();
        truncate(&data_file(&store), cut);
        match open(&store) {
            Err(e) => assert_corruption(&e, &format!("truncated to {cut} bytes")),
            Ok(_) => panic!("a data file truncated to {cut} of {len} bytes opened"),
        }
        // Nothing was changed by the failed open: it fails again the same way.
        assert_eq!(fs::metadata(data_file(&store)).unwrap().len(), cut);
        assert!(matches!(open(&store), Err(Error::Corruption { .. })));
    }
}

#[test]
fn truncated_crash_image_is_corruption() {
    let fx = Fixture::crashed();
    for cut in [0, 100, fx.len / 2, fx.len - 1] {
        let store = fx.copy();
        truncate(&data_file(&store), cut);
        match open(&store) {
            Err(e) => assert_corruption(&e, &format!("crash image truncated to {cut} bytes")),
            Ok(_) => panic!("a crash image truncated to {cut} bytes opened"),
        }
    }
}

#[test]
fn bad_magic_number_is_corruption() {
    let fx = Fixture::clean();
    for garbage in [&b"not redb!"[..], &[0u8; 9], &[0xffu8; 9]] {
        let store = fx.copy();
        let mut bytes = fs::read(data_file(&store)).unwrap();
        bytes[..9].copy_from_slice(garbage);
        fs::write(data_file(&store), bytes).unwrap();
        let err = open(&store).unwrap_err();
        assert_corruption(&err, "bad magic number");
        let Error::Corruption { source, .. } = &err else {
            unreachable!()
        };
        assert!(source.is_some(), "redb's error is kept as the source");
    }
    // A foreign file in place of the database.
    let store = fx.copy();
    fs::write(data_file(&store), b"{\"json\": \"not a database\"}").unwrap();
    assert_corruption(&open(&store).unwrap_err(), "foreign file");
}

#[test]
fn garbled_header_never_panics() {
    for fx in [Fixture::clean(), Fixture::crashed()] {
        let mut rng = SplitMix64::new(11);
        let mut opened = 0;
        for case in 0..24 {
            // God byte and layout, commit slot 0, commit slot 1, or anywhere in the header.
            let range = match case % 4 {
                0 => 9..64,
                1 => 64..192,
                2 => 192..HEADER_LEN,
                _ => 0..HEADER_LEN,
            };
            let flips = 1 + rng.below(4) as usize;
            let seed = rng.next_u64();
            let (a, b) = fx.damaged_pair(|file| flip_bytes(file, range.clone(), flips, seed));
            let what = format!("header bytes {range:?} ({flips} flipped, seed {seed})");
            if let Some(outcome) = exercise(&a, BATCHES + 5, &what) {
                opened += 1;
                // A header redb accepts names a commit it verified or trusts: what reads give is
                // whole batches with the right values (the `Buffered` batches of the crash image
                // were never durable, so they are not there).
                if let Some(state) = &outcome.state {
                    assert_batch_prefix(state, 0..=BATCHES);
                }
            }
            check_then_read(&b, &what, false);
        }
        println!("{opened} of 24 garbled headers opened");
    }
}

#[test]
fn flipped_bytes_after_clean_close() {
    let fx = Fixture::clean();
    let len = fx.len;
    let mut silent = 0;
    for seed in 0..12u64 {
        for (pattern, flips) in [("few", 4), ("many", 200)] {
            let (a, b) = fx.damaged_pair(|file| flip_bytes(file, 4096..len, flips, seed));
            let what = format!("{flips} bytes flipped after a clean close (seed {seed})");
            if let Some(outcome) = exercise(&a, BATCHES, &what)
                && outcome.errors.is_empty()
                && outcome.state.as_ref() != Some(&full_state())
            {
                // Read back wrong without an error: redb verifies no checksum on reads.
                silent += 1;
            }
            check_then_read(&b, &format!("{what}, {pattern}"), true);
        }
    }
    println!("{silent} damaged stores read back wrong data without an error");
}

#[test]
fn garbled_page_headers_after_clean_close() {
    let fx = Fixture::clean();
    for seed in 0..10u64 {
        // The first bytes of a quarter of the pages: page type, entry counts, offsets.
        let (a, b) = fx.damaged_pair(|file| garble_page_starts(file, seed));
        let what = format!("page headers garbled after a clean close (seed {seed})");
        exercise(&a, BATCHES, &what);
        check_then_read(&b, &what, true);
    }
}

#[test]
fn flipped_bytes_after_unclean_close() {
    let fx = Fixture::crashed();
    let len = fx.len;
    let mut opened = 0;
    for seed in 0..16u64 {
        let flips = [1, 2, 8, 200][seed as usize % 4];
        let (a, b) = fx.damaged_pair(|file| flip_bytes(file, 4096..len, flips, seed));
        let what = format!("{flips} bytes flipped in a crash image (seed {seed})");
        // The open after a crash verifies every checksum: a store that opens holds whole
        // `Sync` batches with the right values, and reads without error.
        if let Some(outcome) = exercise(&a, BATCHES + 5, &what) {
            opened += 1;
            assert!(outcome.errors.is_empty(), "{what}: {:?}", outcome.errors);
            assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=BATCHES);
        }
        check_then_read(&b, &what, false);
    }
    println!("{opened} of 16 damaged crash images opened");
}

#[test]
fn garbled_page_headers_after_unclean_close() {
    let fx = Fixture::crashed();
    for seed in 0..6u64 {
        let (a, b) = fx.damaged_pair(|file| garble_page_starts(file, seed));
        let what = format!("page headers garbled in a crash image (seed {seed})");
        if let Some(outcome) = exercise(&a, BATCHES + 5, &what) {
            assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=BATCHES);
        }
        check_then_read(&b, &what, false);
    }
}

/// XORs one of the first 48 bytes of about a quarter of the 4 KiB pages after the first.
fn garble_page_starts(file: &Path, seed: u64) {
    let mut bytes = fs::read(file).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut at = 4096;
    while at + 48 <= bytes.len() {
        if rng.below(4) == 0 {
            let offset = rng.below(48) as usize;
            bytes[at + offset] ^= 1 + rng.below(255) as u8;
        }
        at += 4096;
    }
    fs::write(file, bytes).unwrap();
}

#[test]
fn undamaged_stores_read_back_whole() {
    // The baseline of the tests above: the same stores, undamaged.
    let fx = Fixture::clean();
    let outcome = exercise(&fx.copy(), BATCHES, "clean store").unwrap();
    assert!(outcome.errors.is_empty());
    assert!(outcome.state.as_ref() == Some(&full_state()));
    let mut engine = open(&fx.copy()).unwrap();
    assert!(engine.check_integrity().unwrap());

    let fx = Fixture::crashed();
    let outcome = exercise(&fx.copy(), BATCHES + 5, "crash image").unwrap();
    assert!(outcome.errors.is_empty());
    // Every Sync batch, and none of the Buffered ones.
    assert_eq!(
        assert_batch_prefix(outcome.state.as_ref().unwrap(), 0..=BATCHES),
        BATCHES
    );
}

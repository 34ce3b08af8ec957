//! Helpers shared by the integration tests: a deterministic store content, crash images,
//! damage, and a reader that exercises every read path.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use engine_api::conformance::SplitMix64;
use engine_api::{
    Direction, Durability, EngineConfig, Error, KeyRange, Keyspace, Snapshot, StorageEngine,
    WriteBatch,
};
use engine_redb::{DATA_FILE, RedbEngine};

pub const KEYSPACES: [&str; 2] = ["data", "meta"];
pub const KEYS_PER_BATCH: u64 = 20;

pub fn config(store: &Path) -> EngineConfig {
    EngineConfig::new(store, KEYSPACES)
}

pub fn open(store: &Path) -> Result<RedbEngine, Error> {
    RedbEngine::open(&config(store))
}

/// Key `j` of batch `b`.
pub fn key(b: u64, j: u64) -> Vec<u8> {
    format!("batch-{b:04}/key-{j:03}").into_bytes()
}

/// The value of key `j` of batch `b` in keyspace `ks`: 1 byte to about 20 KiB.
pub fn value(b: u64, j: u64, ks: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(b * 1_000_003 + j * 31 + ks as u64);
    let len = if j == 0 {
        20_000
    } else {
        1 + rng.below(3000) as usize
    };
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Writes batches `from..to`, each putting [`KEYS_PER_BATCH`] new keys in every keyspace.
pub fn write_batches(engine: &RedbEngine, from: u64, to: u64, durability: Durability) {
    for b in from..to {
        let mut batch = WriteBatch::new();
        for j in 0..KEYS_PER_BATCH {
            for ks in 0..KEYSPACES.len() {
                batch.put(Keyspace::from_index(ks as u32), key(b, j), value(b, j, ks));
            }
        }
        engine.write(&batch, durability).unwrap();
    }
}

/// A store in `store` holding batches `0..batches`, written with `Sync`, closed cleanly.
pub fn make_store(store: &Path, batches: u64) {
    let engine = open(store).unwrap();
    write_batches(&engine, 0, batches, Durability::Sync);
    engine.close().unwrap();
}

/// Copies the store's files (marker and database) from `from` into a new directory `to`:
/// taken while an engine has the store open, that is the image a process crash leaves (what
/// redb wrote to the file, without what it held in memory).
pub fn copy_store(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

pub fn data_file(store: &Path) -> PathBuf {
    store.join(DATA_FILE)
}

/// XORs `count` random bytes of `file` within `range` (byte offsets) with non-zero masks.
pub fn flip_bytes(file: &Path, range: std::ops::Range<u64>, count: usize, seed: u64) {
    let mut bytes = fs::read(file).unwrap();
    let mut rng = SplitMix64::new(seed);
    let end = range.end.min(bytes.len() as u64);
    for _ in 0..count {
        let at = range.start + rng.below(end - range.start);
        let mask = 1 + rng.below(255) as u8;
        bytes[at as usize] ^= mask;
    }
    fs::write(file, bytes).unwrap();
}

/// What a store holds, keyspace by keyspace.
pub type State = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

/// What reading a store gave: the full scans (when they all succeeded) and every error.
#[derive(Debug, Default)]
pub struct Outcome {
    pub state: Option<State>,
    pub errors: Vec<Error>,
}

/// Reads everything the store may hold through every read path: forward and reverse scans of
/// each keyspace, then `get` on the engine and on a snapshot for every key ever written
/// (batches `0..batches`). No call may panic; each returns `Ok` or a typed error, and reading
/// goes on after an error.
pub fn read_everything(engine: &RedbEngine, batches: u64) -> Outcome {
    let mut out = Outcome::default();
    let mut state = State::new();
    let mut complete = true;
    match engine.snapshot() {
        Ok(snap) => {
            for ks in 0..KEYSPACES.len() {
                let space = Keyspace::from_index(ks as u32);
                let mut forward = BTreeMap::new();
                for direction in [Direction::Forward, Direction::Reverse] {
                    match snap.scan(space, KeyRange::all(), direction) {
                        Ok(iter) => {
                            for item in iter {
                                match item {
                                    Ok((k, v)) => {
                                        if direction == Direction::Forward {
                                            forward.insert(k.to_vec(), v.to_vec());
                                        }
                                    }
                                    Err(e) => {
                                        complete = false;
                                        out.errors.push(e);
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            complete = false;
                            out.errors.push(e);
                        }
                    }
                }
                state.push(forward);
                for b in 0..batches {
                    for j in 0..KEYS_PER_BATCH {
                        if let Err(e) = snap.get(space, &key(b, j)) {
                            out.errors.push(e);
                        }
                    }
                }
            }
        }
        Err(e) => {
            complete = false;
            out.errors.push(e);
        }
    }
    for ks in 0..KEYSPACES.len() {
        for b in 0..batches {
            for j in 0..KEYS_PER_BATCH {
                if let Err(e) = engine.get(Keyspace::from_index(ks as u32), &key(b, j)) {
                    out.errors.push(e);
                }
            }
        }
    }
    if complete {
        out.state = Some(state);
    }
    out
}

/// Asserts that `state` holds exactly batches `0..n` for some `n` within `allowed`, whole and in
/// every keyspace, with the right values, and nothing else. Returns `n`.
pub fn assert_batch_prefix(state: &State, allowed: std::ops::RangeInclusive<u64>) -> u64 {
    let n = state[0].len() as u64 / KEYS_PER_BATCH;
    assert!(
        allowed.contains(&n),
        "{n} batches present, expected {allowed:?}"
    );
    for (ks, map) in state.iter().enumerate() {
        assert_eq!(
            map.len() as u64,
            n * KEYS_PER_BATCH,
            "keyspace {ks} holds part of a batch, or other keys"
        );
        for b in 0..n {
            for j in 0..KEYS_PER_BATCH {
                assert!(
                    map.get(&key(b, j)).map(Vec::as_slice) == Some(value(b, j, ks).as_slice()),
                    "keyspace {ks}: key {j} of batch {b} missing or wrong"
                );
            }
        }
    }
    n
}

/// Asserts that `err` is a corruption error.
pub fn assert_corruption(err: &Error, what: &str) {
    assert!(
        matches!(err, Error::Corruption { engine: "redb", .. }),
        "{what}: expected Corruption, got {err:?}"
    );
}

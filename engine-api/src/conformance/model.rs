//! Model-based test: random operation sequences applied to an engine and to a `BTreeMap` per
//! keyspace must give the same answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::TestDir;
use crate::{Direction, Durability, KeyRange, Keyspace, Snapshot, StorageEngine, WriteBatch};

const KEYSPACES: [&str; 3] = ["data", "hints", "meta"];

type Model = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One step of a generated sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// A batch of puts (`Some`) and deletes (`None`).
    Write(Vec<(usize, Vec<u8>, Option<Vec<u8>>)>, Durability),
    /// A point read.
    Get(usize, Vec<u8>),
    /// A range scan.
    Scan(usize, Bound<Vec<u8>>, Bound<Vec<u8>>, Direction),
    /// Take a snapshot (replacing the one held), remembering the model at that moment.
    TakeSnapshot,
    /// Compare the held snapshot, read in full, with the model remembered for it.
    CheckSnapshot(usize, Direction),
    /// Drop the engine and open it again (persistent engines only).
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet so that operations collide on the same keys.
    prop::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(b'a'), Just(b'b'), Just(0xff)],
        1..4,
    )
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..16),
        1 => (0usize..5000).prop_map(|n| vec![0xab; n]),
    ]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => key().prop_map(Bound::Included),
        2 => key().prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let write_op = (
        0..KEYSPACES.len(),
        key(),
        prop::option::weighted(0.7, value()),
    );
    let durability = prop_oneof![Just(Durability::Buffered), Just(Durability::Sync)];
    let direction = prop_oneof![Just(Direction::Forward), Just(Direction::Reverse)];
    prop_oneof![
        6 => (prop::collection::vec(write_op, 1..6), durability).prop_map(|(w, d)| Op::Write(w, d)),
        3 => (0..KEYSPACES.len(), key()).prop_map(|(s, k)| Op::Get(s, k)),
        3 => (0..KEYSPACES.len(), bound(), bound(), direction.clone())
            .prop_map(|(s, a, b, d)| Op::Scan(s, a, b, d)),
        1 => Just(Op::TakeSnapshot),
        1 => (0..KEYSPACES.len(), direction).prop_map(|(s, d)| Op::CheckSnapshot(s, d)),
        1 => Just(Op::Reopen),
    ]
}

fn model_scan(
    map: &BTreeMap<Vec<u8>, Vec<u8>>,
    range: &KeyRange,
    direction: Direction,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<_> = map
        .iter()
        .filter(|(k, _)| range.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if direction == Direction::Reverse {
        out.reverse();
    }
    out
}

fn engine_scan<S: Snapshot>(
    snap: &S,
    ks: usize,
    range: KeyRange,
    direction: Direction,
) -> Result<Pairs, TestCaseError> {
    let iter = snap
        .scan(Keyspace::from_index(ks as u32), range, direction)
        .map_err(|e| TestCaseError::fail(format!("scan: {e}")))?;
    iter.map(|r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(|e| TestCaseError::fail(format!("scan item: {e}")))
    })
    .collect()
}

fn run_sequence<E: StorageEngine>(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = TestDir::new();
    let mut engine: E = dir
        .open(&KEYSPACES)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    // The held snapshot borrows the engine, so it lives in an inner scope per stretch of
    // operations between reopens.
    let mut i = 0;
    while i < ops.len() {
        let mut snapshot: Option<(E::Snapshot<'_>, Model)> = None;
        let mut reopen = false;
        while i < ops.len() {
            let op = &ops[i];
            i += 1;
            match op {
                Op::Write(writes, durability) => {
                    let mut batch = WriteBatch::new();
                    for (ks, k, v) in writes {
                        let space = Keyspace::from_index(*ks as u32);
                        match v {
                            Some(v) => {
                                batch.put(space, k.clone(), v.clone());
                                model[*ks].insert(k.clone(), v.clone());
                            }
                            None => {
                                batch.delete(space, k.clone());
                                model[*ks].remove(k);
                            }
                        }
                    }
                    engine
                        .write(&batch, *durability)
                        .map_err(|e| TestCaseError::fail(format!("write: {e}")))?;
                }
                Op::Get(ks, k) => {
                    let got = engine
                        .get(Keyspace::from_index(*ks as u32), k)
                        .map_err(|e| TestCaseError::fail(format!("get: {e}")))?;
                    prop_assert_eq!(got.map(|b| b.to_vec()), model[*ks].get(k).cloned());
                }
                Op::Scan(ks, start, end, direction) => {
                    let range = KeyRange {
                        start: start.clone(),
                        end: end.clone(),
                    };
                    let snap = engine
                        .snapshot()
                        .map_err(|e| TestCaseError::fail(format!("snapshot: {e}")))?;
                    let got = engine_scan(&snap, *ks, range.clone(), *direction)?;
                    prop_assert_eq!(got, model_scan(&model[*ks], &range, *direction));
                }
                Op::TakeSnapshot => {
                    let snap = engine
                        .snapshot()
                        .map_err(|e| TestCaseError::fail(format!("snapshot: {e}")))?;
                    snapshot = Some((snap, model.clone()));
                }
                Op::CheckSnapshot(ks, direction) => {
                    if let Some((snap, then)) = &snapshot {
                        let got = engine_scan(snap, *ks, KeyRange::all(), *direction)?;
                        prop_assert_eq!(got, model_scan(&then[*ks], &KeyRange::all(), *direction));
                    }
                }
                Op::Reopen => {
                    if E::PERSISTENT {
                        reopen = true;
                        break;
                    }
                }
            }
        }
        drop(snapshot);
        if reopen {
            drop(engine);
            engine = dir
                .open(&KEYSPACES)
                .map_err(|e| TestCaseError::fail(format!("reopen: {e}")))?;
        }
    }
    // Finally, everything the model holds is in the engine and nothing else.
    let snap = engine
        .snapshot()
        .map_err(|e| TestCaseError::fail(format!("snapshot: {e}")))?;
    for (ks, map) in model.iter().enumerate() {
        let got = engine_scan(&snap, ks, KeyRange::all(), Direction::Forward)?;
        prop_assert_eq!(got, model_scan(map, &KeyRange::all(), Direction::Forward));
    }
    Ok(())
}

/// Runs the model test: `PROPTEST_CASES` sequences (default 64) of up to 60 operations.
///
/// # Panics
/// On the first sequence where the engine and the model disagree, with the shrunk sequence.
pub fn run<E: StorageEngine>() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..60), |ops| {
        run_sequence::<E>(&ops)
    });
    if let Err(e) = result {
        panic!("{} engine differs from the BTreeMap model: {e}", E::NAME);
    }
}

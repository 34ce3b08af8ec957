//! Every benchmarked store does what the workloads expect of it: the same results through the
//! adapter and the raw crate, so that their timings compare the same work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bench::raw::btree::RawBTree;
use bench::raw::fjall::RawFjall;
use bench::raw::lmdb::RawLmdb;
use bench::raw::redb::RawRedb;
use bench::{Adapter, BenchStore, Dataset};
use engine_lmdb::LmdbEngine;
use engine_lsm::FjallEngine;
use engine_mem::MemEngine;
use engine_redb::RedbEngine;

/// Loads, reads, scans, overwrites and deletes through `S`, checking every result.
fn exercise<S: BenchStore>() {
    let dir = tempfile::tempdir().unwrap();
    let store = S::create(dir.path()).unwrap();
    let data = Dataset::generate(2_500, 150, 7);
    for chunk in data.pairs().chunks(1_000) {
        store.put_all(chunk).unwrap();
    }

    // Reads: every key, cyclically past the end.
    let (_, sum) = store.read_cycle(data.pairs(), 3_000).unwrap();
    assert_eq!(sum, data.checksum(3_000));

    // Scans: 10 entries from each start key, fewer only near the end of the key space.
    let mut sorted: Vec<_> = data.pairs().iter().map(|(k, _)| k.clone()).collect();
    sorted.sort();
    let expected: u64 = data
        .pairs()
        .iter()
        .take(100)
        .map(|(k, _)| {
            let at = sorted.binary_search(k).unwrap();
            (sorted.len() - at).min(10) as u64
        })
        .sum();
    let (_, entries) = store.scan_cycle(&data.pairs()[..100], 100, 10).unwrap();
    assert_eq!(entries, expected);

    // Overwrite with other values, then delete half.
    let other = Dataset::generate(2_500, 150, 8);
    let overwritten: Vec<_> = data
        .pairs()
        .iter()
        .zip(other.pairs())
        .map(|((k, _), (_, v))| (k.clone(), v.clone()))
        .collect();
    store.put_all(&overwritten).unwrap();
    let (_, sum) = store.read_cycle(&overwritten, 2_500).unwrap();
    let expected: u64 = other.pairs().iter().map(|(_, v)| u64::from(v[0])).sum();
    assert_eq!(sum, expected);

    store.delete_all(&data.pairs()[..1_250]).unwrap();
    assert!(
        store.read_cycle(&data.pairs()[..1], 1).is_err(),
        "a deleted key was found"
    );
    store.read_cycle(&overwritten[1_250..], 1_250).unwrap();
}

#[test]
fn mem_adapter_and_btree() {
    exercise::<Adapter<MemEngine>>();
    exercise::<RawBTree>();
}

#[test]
fn lmdb_adapter_and_raw() {
    exercise::<Adapter<LmdbEngine>>();
    exercise::<RawLmdb>();
}

#[test]
fn lsm_adapter_and_raw() {
    exercise::<Adapter<FjallEngine>>();
    exercise::<RawFjall>();
}

#[test]
fn redb_adapter_and_raw() {
    exercise::<Adapter<RedbEngine>>();
    exercise::<RawRedb>();
}

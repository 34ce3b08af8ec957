#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Writes under duplication, reordering and a changing cut-off node, over many seeds.
//!
//! - Blind writes: every acknowledged write is stored somewhere, a full read after healing
//!   returns every acknowledged write held by a primary, exactly once, and read repair leaves
//!   the primaries identical.
//! - Read-modify-write of sets with contexts: no acknowledged element is lost (it is in the
//!   final full read, or in a hint awaiting handoff).
//!
//! Each test runs `SEEDS` seeds; raise it to search harder (a failure names its seed).

mod node_support;

use std::collections::{BTreeMap, BTreeSet};

use dynamo_core::node::{BucketProps, Location};
use dynamo_core::proto::{ClientRequest, ClientResponse, RequestError};
use dynamo_core::rng::Rng;
use dynamo_core::version::{Context, SiblingSet};
use node_support::*;

fn live_values(set: &SiblingSet) -> Vec<String> {
    set.live()
        .map(|s| String::from_utf8(s.bytes().to_vec()).unwrap())
        .collect()
}

fn run(seed: u64) -> (usize, usize) {
    let mut c = Cluster::mem(5, seed, BucketProps::default());
    c.dup_per_million = 200_000;
    c.reorder = true;
    let mut rng = Rng::seeded(seed ^ 0x5eed);
    let mut acked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut failed = 0;
    for step in 0..60 {
        if step % 15 == 0 {
            c.cut.clear();
            if rng.chance(600_000) {
                c.cut.insert(id(&format!("n{}", rng.below(5) + 1)));
            }
        }
        let key = format!("k{}", rng.below(4));
        let at = format!("n{}", rng.below(5) + 1);
        if c.cut.contains(&id(&at)) {
            continue;
        }
        let value = format!("s{seed}-{step}");
        match c.put(&at, &key, &value, Context::new()) {
            Ok(_) => {
                acked.entry(key).or_default().insert(value);
            }
            Err(RequestError::Unavailable { .. }) => failed += 1,
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    // Heal, and let time pass in small steps (timeouts, then probes, mark everyone up).
    c.cut.clear();
    for _ in 0..50 {
        c.advance(100);
    }

    let members: Vec<_> = c.nodes.keys().cloned().collect();
    for (key, written) in &acked {
        // Durability: each acknowledged value is held as data or as a hint somewhere.
        let mut stored = BTreeSet::new();
        for n in &members {
            let node = &c.nodes[n];
            let locations = std::iter::once(Location::Data)
                .chain(members.iter().map(|m| Location::Hint(m.clone())));
            for loc in locations {
                if let Some(set) = node.local_record(&loc, b"b", key.as_bytes()).unwrap() {
                    stored.extend(live_values(&set));
                }
            }
        }
        let missing: Vec<_> = written.difference(&stored).collect();
        assert!(missing.is_empty(), "seed {seed} {key}: lost {missing:?}");

        // A full read (R = N) sees every acknowledged value a primary holds, each once.
        let primaries: Vec<_> = c
            .node("n1")
            .ring()
            .unwrap()
            .preference_list_for_key(b"b", key.as_bytes(), 3)
            .into_iter()
            .cloned()
            .collect();
        let mut on_primaries = BTreeSet::new();
        for p in &primaries {
            if let Some(set) = c.nodes[p]
                .local_record(&Location::Data, b"b", key.as_bytes())
                .unwrap()
            {
                on_primaries.extend(live_values(&set));
            }
        }
        let req = ClientRequest::Get {
            bucket: "b".into(),
            key: key.clone().into(),
            r: Some(3),
        };
        let read = match c.call("n1", req) {
            ClientResponse::Get(Ok(r)) => r,
            other => panic!("seed {seed} {key}: {other:?}"),
        };
        let got: Vec<String> = values(&read);
        let distinct: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(
            got.len(),
            distinct.len(),
            "seed {seed} {key}: a write appears twice"
        );
        for v in written.intersection(&on_primaries) {
            assert!(distinct.contains(v), "seed {seed} {key}: read misses {v}");
        }
        // Read repair made the primaries identical.
        c.settle();
        let records: Vec<_> = primaries
            .iter()
            .map(|p| {
                c.nodes[p]
                    .local_record(&Location::Data, b"b", key.as_bytes())
                    .unwrap()
            })
            .collect();
        assert!(
            records.windows(2).all(|w| w[0] == w[1]),
            "seed {seed} {key}: primaries differ after read repair"
        );
    }
    (acked.values().map(BTreeSet::len).sum(), failed)
}

#[test]
fn acknowledged_blind_writes_survive_duplication_reordering_and_cut_offs() {
    let mut total = (0, 0);
    // Seeds per run; raise it to search harder (400 seeds take about 10 s in debug builds).
    const SEEDS: u64 = 30;
    for seed in 0..SEEDS {
        let (ok, failed) = run(seed);
        total.0 += ok;
        total.1 += failed;
    }
    println!(
        "acknowledged {} writes, {} unavailable, over {SEEDS} seeds",
        total.0, total.1
    );
    assert!(total.0 > 1_000);
}

/// The elements of a set value ("a,b,c").
fn elements(v: &str) -> BTreeSet<String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Read-modify-write of sets (union of siblings, add one element, write with the context):
/// every acknowledged element is in the final full read or in a hint not yet handed off.
fn run_sets(seed: u64) -> (usize, usize) {
    let mut c = Cluster::mem(5, seed, BucketProps::default());
    c.dup_per_million = 100_000;
    c.reorder = true;
    let mut rng = Rng::seeded(seed ^ 0x5e75);
    let mut acked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut failed = 0;
    for step in 0..80 {
        if step % 20 == 0 {
            c.cut.clear();
            if rng.chance(600_000) {
                c.cut.insert(id(&format!("n{}", rng.below(5) + 1)));
            }
        }
        let key = format!("k{}", rng.below(3));
        let at = format!("n{}", rng.below(5) + 1);
        if c.cut.contains(&id(&at)) {
            continue;
        }
        let Ok(read) = c.get(&at, &key) else {
            failed += 1;
            continue;
        };
        let mut set: BTreeSet<String> = BTreeSet::new();
        for v in values(&read) {
            set.extend(elements(&v));
        }
        let element = format!("e{step}");
        set.insert(element.clone());
        let value = set.into_iter().collect::<Vec<_>>().join(",");
        match c.put(&at, &key, &value, read.context) {
            Ok(_) => {
                acked.entry(key).or_default().insert(element);
            }
            Err(RequestError::Unavailable { .. }) => failed += 1,
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    c.cut.clear();
    for _ in 0..50 {
        c.advance(100);
    }
    let members: Vec<_> = c.nodes.keys().cloned().collect();
    for (key, written) in &acked {
        let req = ClientRequest::Get {
            bucket: "b".into(),
            key: key.clone().into(),
            r: Some(3),
        };
        let read = match c.call("n1", req) {
            ClientResponse::Get(Ok(r)) => r,
            other => panic!("seed {seed} {key}: {other:?}"),
        };
        let mut found = BTreeSet::new();
        for v in values(&read) {
            found.extend(elements(&v));
        }
        for n in &members {
            for m in &members {
                let hint = c.nodes[n]
                    .local_record(&Location::Hint(m.clone()), b"b", key.as_bytes())
                    .unwrap();
                for v in hint.iter().flat_map(live_values) {
                    found.extend(elements(&v));
                }
            }
        }
        let missing: Vec<_> = written.difference(&found).collect();
        assert!(missing.is_empty(), "seed {seed} {key}: lost {missing:?}");
    }
    (acked.values().map(BTreeSet::len).sum(), failed)
}

#[test]
fn read_modify_write_sets_lose_no_acknowledged_element() {
    const SEEDS: u64 = 30;
    let mut total = (0, 0);
    for seed in 0..SEEDS {
        let (ok, failed) = run_sets(seed);
        total.0 += ok;
        total.1 += failed;
    }
    println!(
        "acknowledged {} elements, {} requests failed, over {SEEDS} seeds",
        total.0, total.1
    );
    assert!(total.0 > 1_000);
}

//! Ring micro-benchmarks: key hashing, preference lists (plain and sloppy), storage keys,
//! and claim (a first ring, a join).
//!
//! ```text
//! cargo bench -p dynamo-core --bench ring -- --warm-up-time 1 --measurement-time 2
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dynamo_core::NodeId;
use dynamo_core::ring::{
    PartitionId, Ring, RingConfig, decode_storage_key, encode_storage_key_into, key_hash,
};

fn nodes(s: usize) -> Vec<NodeId> {
    (0..s)
        .map(|i| NodeId::new(format!("node-{i:03}")).unwrap())
        .collect()
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/hash");
    let key16 = *b"0123456789abcdef";
    let key100 = [7u8; 100];
    let cfg = RingConfig::default();
    g.bench_function("key_hash/16B", |b| {
        b.iter(|| key_hash(black_box(b"users"), black_box(&key16)))
    });
    g.bench_function("key_hash/100B", |b| {
        b.iter(|| key_hash(black_box(b"users"), black_box(&key100)))
    });
    g.bench_function("partition_of/16B", |b| {
        b.iter(|| cfg.partition_of(black_box(b"users"), black_box(&key16)))
    });
    let mut buf = Vec::with_capacity(64);
    g.bench_function("storage_key/encode", |b| {
        b.iter(|| {
            buf.clear();
            encode_storage_key_into(&mut buf, PartitionId(42), b"users", black_box(&key16))
                .unwrap();
            buf.len()
        })
    });
    let encoded = {
        let mut v = Vec::new();
        encode_storage_key_into(&mut v, PartitionId(42), b"users", &key16).unwrap();
        v
    };
    g.bench_function("storage_key/decode", |b| {
        b.iter(|| decode_storage_key(black_box(&encoded)).unwrap().key.len())
    });
    g.finish();
}

fn preference(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/preference_list");
    for s in [3usize, 10, 100] {
        let ring = Ring::new(RingConfig::default(), nodes(s)).unwrap();
        let q = ring.partition_count();
        let mut p = 0u32;
        g.bench_with_input(
            BenchmarkId::new("N=3", format!("S={s}")),
            &ring,
            |b, ring| {
                b.iter(|| {
                    p = (p + 1) % q;
                    ring.preference_list(PartitionId(p), 3).len()
                })
            },
        );
        let down = ring.owner(PartitionId(0)).unwrap().clone();
        g.bench_with_input(
            BenchmarkId::new("sloppy N=3, one node down", format!("S={s}")),
            &ring,
            |b, ring| {
                b.iter(|| {
                    p = (p + 1) % q;
                    ring.sloppy_preference_list(PartitionId(p), 3, |n| *n != down)
                        .len()
                })
            },
        );
    }
    let ring = Ring::new(RingConfig::default(), nodes(10)).unwrap();
    g.bench_function("for_key N=3/S=10", |b| {
        b.iter(|| {
            ring.preference_list_for_key(b"users", black_box(b"0123456789abcdef"), 3)
                .len()
        })
    });
    g.finish();
}

fn claim(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/claim");
    g.sample_size(20);
    for q in [256u32, 1024] {
        let cfg = RingConfig::new(q).unwrap();
        for s in [10usize, 100] {
            let ring = Ring::new(cfg, nodes(s)).unwrap();
            let bigger = nodes(s + 1);
            g.bench_function(format!("join/Q={q}/S={s}->{}", s + 1), |b| {
                b.iter(|| ring.rebalance(bigger.iter()).unwrap())
            });
            let members = nodes(s);
            g.bench_function(format!("new/Q={q}/S={s}"), |b| {
                b.iter(|| Ring::new(cfg, members.iter()).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, hashing, preference, claim);
criterion_main!(benches);

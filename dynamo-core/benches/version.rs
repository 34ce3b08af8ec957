//! Micro-benchmarks of the versioning hot paths: clock comparison and merge, a put with
//! context into a sibling set, and record encode/decode.
//!
//! `cargo bench -p dynamo-core --bench version`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynamo_core::record;
use dynamo_core::version::{
    Actor, ContentType, Context, Entry, SiblingSet, VClock, VersioningMode,
};
use dynamo_core::{NodeId, Timestamp};

fn actor(i: usize) -> Actor {
    Actor::new(
        NodeId::new(format!("node-{i:02}")).unwrap(),
        1_700_000_000_000,
    )
}

/// A 10-entry clock; `bump` raises one counter so that the pair is concurrent or ordered.
fn clock(base: u64, bump: Option<usize>) -> VClock {
    VClock::from_entries((0..10).filter_map(|i| {
        let c = base + i as u64 + u64::from(bump == Some(i));
        Entry::new(actor(i), c, Timestamp(1_000 + i as u64))
    }))
}

fn clocks(c: &mut Criterion) {
    let a = clock(5, Some(3));
    let b = clock(5, Some(7));
    let older = clock(5, None);
    let mut g = c.benchmark_group("vclock");
    g.bench_function("descends_10_entries_true", |bch| {
        bch.iter(|| black_box(&a).descends(black_box(&older)))
    });
    g.bench_function("compare_10_entries_concurrent", |bch| {
        bch.iter(|| black_box(&a).compare(black_box(&b)))
    });
    g.bench_function("merge_10_entries", |bch| {
        bch.iter(|| {
            let mut m = black_box(&a).clone();
            m.merge(black_box(&b));
            m
        })
    });
    g.finish();
}

fn value(n: usize, len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i + n) as u8).collect::<Vec<_>>())
}

/// A set with `siblings` concurrent values of `len` bytes written by different nodes.
fn set_with(mode: VersioningMode, siblings: usize, len: usize) -> SiblingSet {
    let mut s = SiblingSet::new(mode);
    for i in 0..siblings {
        s.apply_put(
            &Context::new(),
            value(i, len),
            ContentType::octet_stream(),
            &actor(i),
            Timestamp(10 + i as u64),
        )
        .unwrap();
    }
    s
}

fn sibling_sets(c: &mut Criterion) {
    let mut g = c.benchmark_group("sibling_set");
    for mode in [VersioningMode::Dvv, VersioningMode::VClock] {
        let base = set_with(mode, 3, 1024);
        let ctx = base.context();
        let v = value(99, 1024);
        g.bench_function(
            format!("{mode:?}_put_with_context_3_siblings_1KiB"),
            |bch| {
                bch.iter(|| {
                    let mut s = base.clone();
                    s.apply_put(
                        black_box(&ctx),
                        v.clone(),
                        ContentType::octet_stream(),
                        &actor(1),
                        Timestamp(100),
                    )
                    .unwrap();
                    s
                })
            },
        );
        g.bench_function(format!("{mode:?}_blind_put_3_siblings_1KiB"), |bch| {
            bch.iter(|| {
                let mut s = base.clone();
                s.apply_put(
                    &Context::new(),
                    v.clone(),
                    ContentType::octet_stream(),
                    &actor(1),
                    Timestamp(100),
                )
                .unwrap();
                s
            })
        });
        let mut other = base.clone();
        other
            .apply_put(
                &Context::new(),
                v.clone(),
                ContentType::octet_stream(),
                &actor(5),
                Timestamp(50),
            )
            .unwrap();
        g.bench_function(format!("{mode:?}_merge_replicas_3_vs_4_siblings"), |bch| {
            bch.iter(|| {
                let mut s = base.clone();
                s.merge(black_box(&other)).unwrap();
                s
            })
        });
    }
    let base = set_with(VersioningMode::Dvv, 3, 1024);
    g.bench_function("Dvv_clone_only_3_siblings_1KiB (baseline)", |bch| {
        bch.iter(|| black_box(&base).clone())
    });
    g.finish();
}

fn records(c: &mut Criterion) {
    let set = set_with(VersioningMode::Dvv, 3, 1024);
    let bytes = record::encode(&set).unwrap();
    let shared = Bytes::from(bytes.clone());
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode_3_siblings_1KiB", |bch| {
        bch.iter(|| record::encode(black_box(&set)).unwrap())
    });
    g.bench_function("decode_3_siblings_1KiB", |bch| {
        bch.iter(|| record::decode(black_box(&bytes)).unwrap())
    });
    g.bench_function("decode_shared_3_siblings_1KiB", |bch| {
        bch.iter(|| record::decode_shared(black_box(&shared)).unwrap())
    });
    g.finish();

    let ctx = set.context();
    let token = ctx.to_token().unwrap();
    let mut g = c.benchmark_group("context_token");
    g.bench_function("to_token_3_actors", |bch| {
        bch.iter(|| black_box(&ctx).to_token().unwrap())
    });
    g.bench_function("from_token_3_actors", |bch| {
        bch.iter(|| Context::from_token(black_box(&token)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, clocks, sibling_sets, records);
criterion_main!(benches);

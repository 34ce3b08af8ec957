//! Key listing on a real 3-node cluster (`dynamo node` processes on 127.0.0.1, engine lsm):
//!
//! - 10,000 keys written are listed exactly once each across pages, in the same order by
//!   every node, and keys deleted (with the context of a read) are absent;
//! - the bucket has N = 2, so a third of the partitions are not on the node asked and its
//!   slices travel to a replica over the peer protocol;
//! - the same holds with one node killed (SIGKILL): each partition is read from a live
//!   replica;
//! - a bad limit, a malformed token and a forged or altered token are each a JSON `400`;
//! - `GET /buckets` names the bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use std::collections::BTreeSet;

use bytes::Bytes;
use cluster_support::{Cluster, raw_http, request};
use dynamo_client::{BucketPropsUpdate, Client, DeleteOptions, PutOptions};

const BUCKET: &str = "listed";
const KEYS: usize = 10_000;
const WRITERS: usize = 16;

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

/// Every key of the bucket through `client`, page by page, each page at most `limit` keys.
async fn list_all(client: &Client, limit: u32) -> Vec<Bytes> {
    let mut pages = client.list_keys(BUCKET, Some(limit));
    let mut all = Vec::new();
    while let Some(page) = pages.next_page().await {
        let page = page.unwrap();
        assert!(page.keys.len() <= limit as usize);
        all.extend(page.keys);
    }
    all
}

/// Asserts `listed` holds every key of `expected` exactly once, and nothing else.
fn assert_exactly_once(listed: &[Bytes], expected: &BTreeSet<Bytes>, what: &str) {
    let unique: BTreeSet<Bytes> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "{what}: a key listed twice");
    let missing: Vec<_> = expected.difference(&unique).take(5).collect();
    let extra: Vec<_> = unique.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} listed, {} expected; missing {missing:?}, extra {extra:?}",
        unique.len(),
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_cover_every_key_once_also_with_a_node_down() {
    let mut cluster = Cluster::start(3, "lsm", &[]).await;
    let clients = cluster.clients();
    let update = BucketPropsUpdate {
        n: Some(2),
        r: Some(1),
        w: Some(2),
        ..BucketPropsUpdate::default()
    };
    clients[0].set_bucket_props(BUCKET, &update).await.unwrap();

    // 10,000 keys, written through every node.
    let mut tasks = Vec::new();
    for t in 0..WRITERS {
        let client = clients[t % clients.len()].clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..KEYS).step_by(WRITERS) {
                client
                    .put(BUCKET, key(i), "v", &PutOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("write {i}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every 20th key deleted, with the context of a read (a tombstone replacing the value).
    let mut expected: BTreeSet<Bytes> = BTreeSet::new();
    for i in 0..KEYS {
        if i % 20 == 0 {
            let read = clients[1].get(BUCKET, key(i)).await.unwrap();
            let options = DeleteOptions {
                context: read.context,
                w: None,
                dw: None,
            };
            clients[1].delete(BUCKET, key(i), &options).await.unwrap();
        } else {
            expected.insert(Bytes::from(key(i)));
        }
    }

    // Every node lists every live key exactly once, in the same order.
    let first = list_all(&clients[0], 1_000).await;
    assert_exactly_once(&first, &expected, "through n1, pages of 1,000");
    for (i, c) in clients.iter().enumerate().skip(1) {
        let other = list_all(c, 777).await;
        assert_eq!(other, first, "n{} lists in another order", i + 1);
    }
    let one_page = clients[2]
        .list_keys_page(BUCKET, Some(10_000), None)
        .await
        .unwrap();
    assert_eq!(one_page.keys, first, "one page of 10,000");
    assert!(one_page.continuation.is_none());

    // The buckets.
    let buckets = clients[0].buckets().await.unwrap();
    assert!(
        buckets.contains(&Bytes::from_static(BUCKET.as_bytes())),
        "{buckets:?}"
    );

    // Bad limits and tokens: 400 with the API's JSON error.
    let addr = cluster.nodes[0].http;
    let good = clients[0]
        .list_keys_page(BUCKET, Some(10), None)
        .await
        .unwrap()
        .continuation
        .unwrap();
    let mut forged = good.clone().into_bytes();
    let at = forged.len() / 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let other_bucket = format!("/buckets/other/keys?continuation={good}");
    for path in [
        format!("/buckets/{BUCKET}/keys?limit=0"),
        format!("/buckets/{BUCKET}/keys?limit=10001"),
        format!("/buckets/{BUCKET}/keys?limit=ten"),
        format!("/buckets/{BUCKET}/keys?limit=-1"),
        format!("/buckets/{BUCKET}/keys?continuation=%%%"),
        format!("/buckets/{BUCKET}/keys?continuation=not-a-token"),
        format!("/buckets/{BUCKET}/keys?continuation={forged}"),
        format!("/buckets/{BUCKET}/keys?continuation={}", "A".repeat(3_000)),
        format!("/buckets/{BUCKET}/keys?cursor=x"),
        other_bucket,
    ] {
        let answer = raw_http(addr, &request("GET", &path, &[], b"")).await;
        answer.assert_error(400, "bad_request");
    }
    // The good token still works and resumes after the first 10 keys.
    let rest = clients[0]
        .list_keys_page(BUCKET, Some(5), Some(&good))
        .await
        .unwrap();
    assert_eq!(rest.keys, first[10..15]);

    // One node killed: every key is still listed once, from the live replicas.
    cluster.nodes[2].kill();
    for c in &clients[..2] {
        let listed = list_all(c, 1_000).await;
        assert_exactly_once(&listed, &expected, "with n3 killed");
        assert_eq!(listed, first, "with n3 killed, another order");
    }
}

//! The binary client against a real server: a single node (n = r = w = 1, memory engine)
//! started with [`Server::start`] on 127.0.0.1 with a binary listener, reached over its
//! binary address (and over HTTP, to check that both protocols mean the same thing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use bytes::Bytes;
use dynamo_client::{
    BinaryClient, BinaryOptions, BucketPropsUpdate, Client, ClientError, Context, DeleteOptions,
    GetOptions, PutOptions,
};
use dynamo_server::{Server, ServerConfig};

const MAX_VALUE: usize = 64 * 1024;

/// A server on free ports of 127.0.0.1; a binary client and an HTTP client of it.
struct TestNode {
    binary: BinaryClient,
    http: Client,
    server: Server,
    _dir: tempfile::TempDir,
}

impl TestNode {
    async fn start() -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(ServerConfig {
            node_id: "n1".into(),
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
            binary_addr: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_owned()),
            engine: Some("mem".into()),
            n: Some(1),
            r: Some(1),
            w: Some(1),
            max_value_size: MAX_VALUE,
            seed: Some(11),
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let address = server.binary_addr().expect("a binary listener").to_string();
        TestNode {
            binary: BinaryClient::connect(&address).await.unwrap(),
            http: Client::new(&format!("http://{}", server.http_addr())).unwrap(),
            server,
            _dir: dir,
        }
    }
}

fn text() -> PutOptions {
    PutOptions {
        content_type: Some("text/plain".into()),
        ..PutOptions::default()
    }
}

#[tokio::test]
async fn put_get_update_delete() {
    let node = TestNode::start().await;
    let c = &node.binary;
    c.ping().await.unwrap();

    let absent = c.get("b", "k").await.unwrap();
    assert!(absent.is_absent() && absent.is_not_found() && !absent.is_deleted());
    assert!(absent.context.is_some(), "even an absent key has a context");

    let put = c.put("b", "k", "v1", &text()).await.unwrap();
    assert!(put.context.is_some() && put.body.is_none());
    let read = c.get("b", "k").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from_static(b"v1")));
    assert_eq!(read.siblings[0].content_type, "text/plain");
    assert!(read.siblings[0].last_modified.is_some_and(|t| t > 0));
    assert!(!read.has_siblings());
    // The same answer as over HTTP.
    assert_eq!(node.http.get("b", "k").await.unwrap(), read);

    // Update with the context, asking for the body back.
    let put = c
        .put(
            "b",
            "k",
            Bytes::from_static(b"v2"),
            &PutOptions {
                context: read.context.clone(),
                return_body: true,
                w: Some(1),
                dw: None,
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    let body = put.body.unwrap();
    assert_eq!(body.value(), Some(&Bytes::from_static(b"v2")));
    assert_eq!(body.siblings[0].content_type, "application/octet-stream");
    assert_eq!(put.context, body.context);

    // Delete with the context: the key reads as deleted, with a context.
    let read = c
        .get_with("b", "k", &GetOptions { r: Some(1) })
        .await
        .unwrap();
    let ctx = c
        .delete(
            "b",
            "k",
            &DeleteOptions {
                context: read.context,
                w: None,
                dw: None,
            },
        )
        .await
        .unwrap();
    assert!(ctx.is_some());
    let read = c.get("b", "k").await.unwrap();
    assert!(read.is_deleted() && read.is_not_found());
    assert!(read.siblings[0].deleted && read.siblings[0].value.is_empty());
    // Writing with the tombstone's context brings the key back without a sibling.
    c.put("b", "k", "v3", &PutOptions::with_context(read.context))
        .await
        .unwrap();
    let read = c.get("b", "k").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from_static(b"v3")));

    // Any bytes are a key, `..` and the empty value included.
    let key: &[u8] = b"a/b c?d#e%\x00\xff..";
    c.put("b/x", key, "", &PutOptions::default()).await.unwrap();
    assert_eq!(
        c.get("b/x", key).await.unwrap().value(),
        Some(&Bytes::new())
    );
    assert!(c.get("b", "..").await.unwrap().is_absent());
    node.server.shutdown().await;
}

#[tokio::test]
async fn siblings_and_contexts_cross_protocols() {
    let node = TestNode::start().await;
    let (bin, http) = (&node.binary, &node.http);
    // Concurrent blind writes, one per protocol: siblings.
    let (ta, tb) = (text(), PutOptions::default());
    let (a, b) = tokio::join!(bin.put("b", "s", "A", &ta), http.put("b", "s", "B", &tb));
    a.unwrap();
    b.unwrap();
    let read = bin.get("b", "s").await.unwrap();
    assert!(read.has_siblings());
    let mut values: Vec<(&[u8], &str)> = read
        .siblings
        .iter()
        .map(|s| (&s.value[..], s.content_type.as_str()))
        .collect();
    values.sort();
    assert_eq!(
        values,
        vec![
            (&b"A"[..], "text/plain"),
            (&b"B"[..], "application/octet-stream")
        ]
    );
    // A context read over binary resolves them over HTTP, and the other way round.
    http.put("b", "s", "AB", &PutOptions::with_context(read.context))
        .await
        .unwrap();
    let read = http.get("b", "s").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from_static(b"AB")));
    let put = bin
        .put("b", "s", "ABC", &PutOptions::with_context(read.context))
        .await
        .unwrap();
    assert_eq!(
        http.get("b", "s").await.unwrap().value(),
        Some(&Bytes::from_static(b"ABC"))
    );
    // A write's own context replaces that write.
    bin.put("b", "s", "D", &PutOptions::with_context(put.context))
        .await
        .unwrap();
    let read = http.get("b", "s").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from_static(b"D")));
    node.server.shutdown().await;
}

#[tokio::test]
async fn errors_are_typed() {
    let node = TestNode::start().await;
    let c = &node.binary;
    let e = c
        .get_with("b", "k", &GetOptions { r: Some(2) })
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");
    let e = c
        .put(
            "b",
            "k",
            "v",
            &PutOptions::with_context(Some(Context::from_token("garbage"))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::BadRequest { ref message } if message.contains("context")),
        "{e}"
    );
    let e = c
        .put("b", "k", vec![0u8; MAX_VALUE + 1], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::TooLarge { .. }), "{e}");
    let e = c.get("", "k").await.unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidName { what: "bucket", .. }),
        "{e}"
    );

    // n = 3 on a one-node ring: a write cannot reach W = 2 replicas, and is refused before
    // it is applied (nobody answered).
    node.http
        .set_bucket_props(
            "wide",
            &BucketPropsUpdate {
                n: Some(3),
                r: Some(2),
                w: Some(2),
                versioning: None,
                durability: None,
            },
        )
        .await
        .unwrap();
    let e = c
        .put("wide", "k", "v", &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Unavailable {
                needed: Some(2),
                answered: Some(0),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_retryable());
    // Errors answered by the node leave the connection usable.
    c.ping().await.unwrap();

    // A node that stops: requests fail (never hang), and a new connection is refused.
    let binary = node.server.binary_addr().unwrap().to_string();
    node.server.shutdown().await;
    let e = c.ping().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let e = BinaryClient::connect(&binary).await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_pipeline_on_one_client() {
    let node = TestNode::start().await;
    const TASKS: usize = 64;
    const ROUNDS: usize = 20;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let c = node.binary.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("task{t}");
            let mut context = None;
            for round in 0..ROUNDS {
                let value = format!("{t}-{round}");
                let put = c
                    .put("p", &key, value.clone(), &PutOptions::with_context(context))
                    .await
                    .unwrap();
                let read = c.get("p", &key).await.unwrap();
                // Each task reads its own last write, never another task's answer.
                assert_eq!(read.value(), Some(&Bytes::from(value)), "{key}");
                context = read.context;
                assert!(put.context.is_some());
            }
            // Every task also writes one shared key, blind: a sibling each.
            c.put("p", "shared", key.clone(), &PutOptions::default())
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The shared key holds one sibling per task, each that task's name.
    let shared = node.binary.get("p", "shared").await.unwrap();
    let names: HashSet<Bytes> = shared.values().cloned().collect();
    let expected: HashSet<Bytes> = (0..TASKS)
        .map(|t| Bytes::from(format!("task{t}")))
        .collect();
    assert_eq!(names, expected);
    let stats = node.http.stats().await.unwrap();
    let puts = stats["metrics"]["puts"].as_u64().unwrap();
    assert_eq!(puts, (TASKS * ROUNDS + TASKS) as u64, "{stats}");
    node.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_connections_serve_one_client() {
    let node = TestNode::start().await;
    let address = node.server.binary_addr().unwrap().to_string();
    let options = BinaryOptions {
        connections: 3,
        ..BinaryOptions::default()
    };
    let c = BinaryClient::connect_with(&address, options).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let key = format!("k{t}-{i}");
                c.put("m", &key, key.clone(), &PutOptions::default())
                    .await
                    .unwrap();
                let read = c.get("m", &key).await.unwrap();
                assert_eq!(read.value(), Some(&Bytes::from(key)));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    node.server.shutdown().await;
}

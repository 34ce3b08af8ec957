//! The client against a real node: a single node (n = r = w = 1, memory engine) on its own
//! thread, behind the server's HTTP router on 127.0.0.1, fed by a small loop standing in for
//! the server's driver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dynamo_client::{
    BucketPropsUpdate, Client, ClientError, Context, DeleteOptions, GetOptions, PutOptions,
};
use dynamo_core::node::{BucketProps, Input, KEYSPACES, Node, NodeConfig, Output};
use dynamo_core::proto::{ClientId, ClientResponse};
use dynamo_core::version::VersioningMode;
use dynamo_core::{NodeId, Timestamp};
use dynamo_server::http::{HttpState, router};
use dynamo_server::{Command, Metrics, NodeHandle, ServerNode};
use engine_any::Engine;
use engine_api::EngineConfig;
use tokio::sync::oneshot;

const MAX_VALUE: usize = 64 * 1024;

/// A node serving HTTP on 127.0.0.1; the client points at it.
struct TestNode {
    client: Client,
    handle: NodeHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestNode {
    async fn start() -> TestNode {
        let id = NodeId::new("n1").unwrap();
        let (handle, rx) = NodeHandle::channel(id.clone(), 1024);
        let engine = Engine::Mem
            .open(&EngineConfig::new("unused", KEYSPACES))
            .unwrap();
        let mut config = NodeConfig::new(id.clone(), 11, vec![id.clone()]);
        config.default_bucket = BucketProps::new(1, 1, 1, VersioningMode::Dvv).unwrap();
        config.max_value_size = MAX_VALUE;
        config.addresses.insert(id, "127.0.0.1:1".into());
        let node = Node::new(config, engine, now()).unwrap();
        let thread = std::thread::spawn(move || run(node, rx));
        let app = router(HttpState {
            handle: handle.clone(),
            metrics: Arc::new(Metrics::default()),
            max_value_size: MAX_VALUE,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestNode {
            client: Client::new(&format!("http://{addr}")).unwrap(),
            handle,
            thread: Some(thread),
        }
    }

    async fn stop(mut self) {
        self.handle.shutdown().await.unwrap();
        self.thread.take().unwrap().join().unwrap();
    }
}

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

/// The node loop: commands in, ticks when due, replies to their waiting senders.
fn run(mut node: ServerNode, rx: Receiver<Command>) {
    let mut waiting: HashMap<ClientId, oneshot::Sender<ClientResponse>> = HashMap::new();
    let mut next_id = 0u64;
    let mut last = now();
    let mut clock = || {
        last = last.max(now());
        last
    };
    loop {
        let t = clock();
        let wait = node.next_deadline().map_or(Duration::from_millis(50), |d| {
            Duration::from_millis(d.0.saturating_sub(t.0))
        });
        let mut commands = Vec::new();
        match rx.recv_timeout(wait) {
            Ok(c) => commands.push(c),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        commands.extend(rx.try_iter());
        for command in commands {
            match command {
                Command::Client { request, reply } => {
                    next_id += 1;
                    waiting.insert(ClientId(next_id), reply);
                    node.handle(
                        clock(),
                        Input::Client {
                            id: ClientId(next_id),
                            request,
                        },
                    );
                }
                Command::Peer { from, message } => {
                    node.handle(clock(), Input::Peer { from, message });
                }
                Command::Inspect(f) => f(&node),
                Command::Address { .. } => {}
                Command::Shutdown(done) => {
                    node.shutdown(clock()).unwrap();
                    drain(&mut node, &mut waiting);
                    let _ = done.send(());
                    return;
                }
            }
        }
        let t = clock();
        if node.next_deadline().is_some_and(|d| d <= t) {
            node.handle(t, Input::Tick);
        }
        drain(&mut node, &mut waiting);
    }
}

fn drain(node: &mut ServerNode, waiting: &mut HashMap<ClientId, oneshot::Sender<ClientResponse>>) {
    while let Some(out) = node.poll_output() {
        if let Output::Reply { id, response } = out
            && let Some(tx) = waiting.remove(&id)
        {
            let _ = tx.send(response);
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
    let c = &node.client;
    c.ping().await.unwrap();

    let absent = c.get("b", "k").await.unwrap();
    assert!(absent.is_absent() && absent.is_not_found() && !absent.is_deleted());
    assert!(absent.context.is_some(), "even an absent key has a context");

    let put = c.put("b", "k", "v1", &text()).await.unwrap();
    assert!(put.context.is_some() && put.body.is_none());
    let read = c.get("b", "k").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from_static(b"v1")));
    assert_eq!(read.siblings[0].content_type, "text/plain");
    assert!(read.siblings[0].last_modified.is_some());
    assert!(!read.has_siblings());

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
            },
        )
        .await
        .unwrap();
    assert!(ctx.is_some());
    let read = c.get("b", "k").await.unwrap();
    assert!(read.is_deleted() && read.is_not_found());
    assert!(read.siblings[0].deleted && read.siblings[0].value.is_empty());
    assert_eq!(read.values().count(), 0);
    // Writing with the tombstone's context brings the key back without a sibling.
    c.put("b", "k", "v3", &PutOptions::with_context(read.context))
        .await
        .unwrap();
    let read = c.get("b", "k").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from_static(b"v3")));

    // Bytes that need escaping travel intact.
    let key: &[u8] = b"a/b c?d#e%\x00\xff";
    c.put("b/x", key, "bin", &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(
        c.get("b/x", key).await.unwrap().value(),
        Some(&Bytes::from_static(b"bin"))
    );
    assert!(c.get("b", key).await.unwrap().is_absent());
    node.stop().await;
}

#[tokio::test]
async fn concurrent_blind_writes_are_siblings_until_resolved() {
    let node = TestNode::start().await;
    let c = &node.client;
    let (ta, tb) = (text(), PutOptions::default());
    let (a, b) = tokio::join!(c.put("b", "s", "A", &ta), c.put("b", "s", "B", &tb));
    a.unwrap();
    b.unwrap();
    let read = c.get("b", "s").await.unwrap();
    assert!(read.has_siblings());
    assert_eq!(read.value(), None);
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
    let merged: Vec<u8> = read.values().flat_map(|v| v.to_vec()).collect();
    c.put("b", "s", merged, &PutOptions::with_context(read.context))
        .await
        .unwrap();
    let read = c.get("b", "s").await.unwrap();
    assert!(!read.has_siblings());
    assert_eq!(read.values().count(), 1);
    node.stop().await;
}

#[tokio::test]
async fn errors_are_typed() {
    let node = TestNode::start().await;
    let c = &node.client;
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
    let e = c.get("b", "..").await.unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidName { what: "key", .. }),
        "{e}"
    );
    let e = c.get("", "k").await.unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidName { what: "bucket", .. }),
        "{e}"
    );

    // n = 3 on a one-node ring: a write cannot reach W = 2 replicas.
    c.set_bucket_props(
        "wide",
        &BucketPropsUpdate {
            n: Some(3),
            r: Some(2),
            w: Some(2),
            versioning: None,
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
                answered: Some(1),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_retryable());

    // Nobody listening: a transport error.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = Client::new(&format!("http://{closed}"))
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Transport(_)), "{e}");
    node.stop().await;
}

#[tokio::test]
async fn props_stats_ring_members_admin() {
    let node = TestNode::start().await;
    let c = &node.client;
    let p = c.bucket_props("p").await.unwrap();
    assert_eq!((p.n, p.r, p.w, p.versioning.as_str()), (1, 1, 1, "dvv"));
    let p = c
        .set_bucket_props(
            "p",
            &BucketPropsUpdate {
                versioning: Some("vclock".into()),
                ..BucketPropsUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.versioning, "vclock");
    assert_eq!(c.bucket_props("p").await.unwrap(), p);
    let e = c
        .set_bucket_props(
            "p",
            &BucketPropsUpdate {
                w: Some(5),
                ..BucketPropsUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");

    c.put("b", "k", "v", &PutOptions::default()).await.unwrap();
    let stats = c.stats().await.unwrap();
    assert_eq!(stats["node"], "n1");
    assert_eq!(stats["metrics"]["puts"], 1);
    assert!(c.metrics().await.unwrap().contains("dynamo_puts_total 1\n"));

    let ring = c.ring(None).await.unwrap();
    assert_eq!(ring.node, "n1");
    assert!(ring.version >= 1 && ring.digest.is_some());
    assert_eq!(ring.partitions.len(), ring.partition_count as usize);
    assert!(
        ring.partitions
            .iter()
            .all(|p| p.owner == "n1" && p.preference_list == ["n1"])
    );
    assert_eq!(ring.members[0].partitions, ring.partitions.len());
    assert_eq!(c.ring(Some(3)).await.unwrap().n, 3);

    let members = c.members().await.unwrap();
    assert_eq!(members.members.len(), 1);
    assert_eq!(members.members[0].node, "n1");
    assert_eq!(members.members[0].status, "valid");
    assert!(members.members[0].up);

    let status = c.status().await.unwrap();
    assert_eq!(status.node, "n1");
    assert_eq!(status.status.as_deref(), Some("valid"));
    assert_eq!(status.ring_digest, ring.digest);
    assert_eq!(status.hints_total(), 0);
    assert_eq!(status.transfers_in_progress().count(), 0);

    let e = c.join("bad id", "127.0.0.1:9").await.unwrap_err();
    assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");
    let status = c.join("n2", "127.0.0.1:9").await.unwrap();
    assert_eq!(status.status.as_deref(), Some("joining"));
    node.stop().await;
}

#[tokio::test]
async fn leave_makes_the_node_leave() {
    let node = TestNode::start().await;
    let status = node.client.leave().await.unwrap();
    assert_eq!(status.node, "n1");
    assert!(
        matches!(status.status.as_deref(), Some("leaving" | "exiting")),
        "{status:?}"
    );
    node.stop().await;
}

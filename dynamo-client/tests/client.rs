//! The client against a real server: a single node (n = r = w = 1, memory engine) started
//! with [`Server::start`] on 127.0.0.1, reached over its HTTP address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use dynamo_client::{
    BucketPropsUpdate, Client, ClientError, Context, DeleteOptions, GetOptions, PutOptions,
};
use dynamo_server::{HandleError, Server, ServerConfig};

const MAX_VALUE: usize = 64 * 1024;

/// A server on free ports of 127.0.0.1; the client points at its HTTP address.
struct TestNode {
    client: Client,
    server: Server,
    /// The data directory (the memory engine keeps nothing there, but the server looks in it
    /// for another engine's files).
    _dir: tempfile::TempDir,
}

impl TestNode {
    async fn start() -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(ServerConfig {
            node_id: "n1".into(),
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
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
        TestNode {
            client: Client::new(&format!("http://{}", server.http_addr())).unwrap(),
            server,
            _dir: dir,
        }
    }

    /// Stops the server, checking that the node thread lived to the end, shut down cleanly
    /// (its last commit and the engine's close did not fail) and is gone.
    async fn stop(self) {
        let handle = self.server.handle();
        let metrics = self.server.metrics();
        handle.inspect(|_| ()).await.unwrap();
        self.server.shutdown().await;
        assert_eq!(metrics.storage_failures.get(), 0);
        assert!(matches!(
            handle.inspect(|_| ()).await,
            Err(HandleError::Stopped)
        ));
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
    // Its message names the reason once, and nothing repeats it as a source.
    let text = e.to_string();
    assert!(text.contains("refused"), "{text}");
    assert_eq!(text.matches("error sending request").count(), 1, "{text}");
    assert!(std::error::Error::source(&e).is_none());
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
    assert_eq!(p.durability, "all");
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

    // Durability is set like the other properties, and a write may ask for its own dw.
    let p = c
        .set_bucket_props(
            "p",
            &BucketPropsUpdate {
                durability: Some("none".into()),
                ..BucketPropsUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.durability, "none");
    let synced = PutOptions {
        dw: Some(1),
        ..PutOptions::default()
    };
    c.put("p", "k", "v", &synced).await.unwrap();
    let too_many = PutOptions {
        dw: Some(2),
        ..PutOptions::default()
    };
    let e = c.put("p", "k", "v", &too_many).await.unwrap_err();
    assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");
    let gone = DeleteOptions {
        dw: Some(0),
        ..DeleteOptions::default()
    };
    c.delete("p", "k", &gone).await.unwrap();

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

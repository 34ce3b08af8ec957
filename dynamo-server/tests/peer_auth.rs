//! Peer authentication between real servers on 127.0.0.1: nodes that share the cluster secret
//! replicate; a node started with another secret is refused by every handshake, counted on
//! both sides, and neither reads nor changes the others' data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dynamo_core::proto::{ClientRequest, ClientResponse, RequestError};
use dynamo_core::version::{ContentType, Context};
use dynamo_server::secure::ClusterSecret;
use dynamo_server::{Listeners, Server, ServerConfig};

const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` every 20 ms until it returns `Some`, or fails the test after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts founders n1..=n{secrets.len()}, node i with `secrets[i]`.
async fn start(root: &Path, secrets: &[&ClusterSecret]) -> Vec<Server> {
    let mut listeners = Vec::new();
    for _ in secrets {
        let c = ServerConfig {
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
            ..ServerConfig::default()
        };
        listeners.push(Listeners::bind(&c).await.unwrap());
    }
    let members: Vec<String> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| format!("n{}@{}", i + 1, l.peer.local_addr().unwrap()))
        .collect();
    let mut servers = Vec::new();
    for (i, (l, secret)) in listeners.into_iter().zip(secrets).enumerate() {
        let config = ServerConfig {
            node_id: format!("n{}", i + 1),
            data_dir: Some(root.join(format!("n{}", i + 1))),
            engine: Some("mem".into()),
            members: members.clone(),
            cluster_secret: Some(secret.to_hex()),
            r: Some(1),
            seed: Some(i as u64),
            ..ServerConfig::default()
        };
        servers.push(Server::start_with(config, l).await.unwrap());
    }
    servers
}

fn put(key: &str, w: u8) -> ClientRequest {
    ClientRequest::Put {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context: Context::default(),
        value: Bytes::from_static(b"v"),
        content_type: ContentType::octet_stream(),
        w: Some(w),
        dw: None,
        return_body: false,
    }
}

fn get(key: &str) -> ClientRequest {
    ClientRequest::Get {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        r: Some(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_the_secret_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let secret = ClusterSecret::generate().unwrap();
    let servers = start(dir.path(), &[&secret, &secret]).await;
    let (a, b) = (servers[0].handle(), servers[1].handle());
    // W = 2 needs the other node: the handshake and the sealed frames work.
    eventually("a write acknowledged by both nodes", || async {
        matches!(
            a.request(put("k", 2)).await.unwrap(),
            ClientResponse::Put(Ok(_))
        )
        .then_some(())
    })
    .await;
    match b.request(get("k")).await.unwrap() {
        ClientResponse::Get(Ok(read)) => assert_eq!(read.siblings.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(servers[0].metrics().peer_auth_failures.get(), 0);
    assert_eq!(servers[1].metrics().peer_auth_failures.get(), 0);
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_secret_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (
        ClusterSecret::generate().unwrap(),
        ClusterSecret::generate().unwrap(),
    );
    // n1 and n2 share the secret; n3, listed as a founder by all, has another one.
    let servers = start(dir.path(), &[&ours, &ours, &theirs]).await;
    let (a, impostor) = (servers[0].handle(), servers[2].handle());
    eventually("a write acknowledged by n1 and n2", || async {
        matches!(
            a.request(put("k", 2)).await.unwrap(),
            ClientResponse::Put(Ok(_))
        )
        .then_some(())
    })
    .await;
    // Handshakes between n3 and the others fail both ways, and are counted.
    eventually("refused handshakes on both sides", || async {
        (servers[0].metrics().peer_auth_failures.get() > 0
            && servers[2].metrics().peer_auth_failures.get() > 0)
            .then_some(())
    })
    .await;
    // A write needing every replica cannot be acknowledged.
    match a.request(put("all", 3)).await.unwrap() {
        ClientResponse::Put(Err(RequestError::Unavailable { needed: 3, .. })) => {}
        other => panic!("a write needing the impostor was acknowledged: {other:?}"),
    }
    // The cluster's writes never reach n3, and n3's (if it takes any) never reach the cluster.
    for i in 0..10 {
        let key = format!("ours-{i}");
        assert!(matches!(
            a.request(put(&key, 2)).await.unwrap(),
            ClientResponse::Put(Ok(_))
        ));
        match impostor.request(get(&key)).await.unwrap() {
            ClientResponse::Get(Ok(read)) => assert!(read.siblings.is_empty(), "{key} crossed"),
            ClientResponse::Get(Err(RequestError::Unavailable { .. })) => {}
            other => panic!("{other:?}"),
        }
        let key = format!("theirs-{i}");
        let _ = impostor.request(put(&key, 1)).await.unwrap();
        match a.request(get(&key)).await.unwrap() {
            ClientResponse::Get(Ok(read)) => assert!(read.siblings.is_empty(), "{key} crossed"),
            other => panic!("{other:?}"),
        }
    }
    // Not one frame of n3's was accepted by n1 or n2, nor of theirs by n3.
    assert_eq!(servers[2].metrics().peer_frames_in.get(), 0);
    for s in servers {
        s.shutdown().await;
    }
}

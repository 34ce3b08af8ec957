//! Three servers in one process on 127.0.0.1 (ports chosen by the OS), talking over the real
//! peer transport: a write through one node is read through another, garbage on a peer port
//! (which never completes the cluster-secret handshake) closes that connection and nothing
//! else, and a node restarted on its data directory comes
//! back with its data and membership.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dynamo_core::membership::BucketProps;
use dynamo_core::node::Location;
use dynamo_core::proto::{ClientRequest, ClientResponse, ReadResult};
use dynamo_core::version::{ContentType, Context, VersioningMode};
use dynamo_server::{Listeners, NodeHandle, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// The configuration of node `i` of a 3-node cluster whose peers listen at `peers`.
fn config(i: usize, engine: &str, root: &Path, peers: &[String]) -> ServerConfig {
    ServerConfig {
        node_id: format!("n{}", i + 1),
        data_dir: Some(root.join(format!("n{}", i + 1))),
        engine: Some(engine.into()),
        members: peers
            .iter()
            .enumerate()
            .map(|(j, a)| format!("n{}@{a}", j + 1))
            .collect(),
        seed: Some(i as u64),
        ..ServerConfig::default()
    }
}

/// Binds 3 pairs of listeners on free ports.
async fn bind3() -> Vec<Listeners> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let c = ServerConfig {
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
            ..ServerConfig::default()
        };
        out.push(Listeners::bind(&c).await.unwrap());
    }
    out
}

/// Binds the listeners again on the addresses a stopped server had.
async fn rebind(http: std::net::SocketAddr, peer: std::net::SocketAddr) -> Listeners {
    let c = ServerConfig {
        http_addr: http.to_string(),
        peer_addr: peer.to_string(),
        ..ServerConfig::default()
    };
    Listeners::bind(&c).await.unwrap()
}

async fn start3(engine: &str, root: &Path) -> Vec<Server> {
    let listeners = bind3().await;
    let peers: Vec<String> = listeners
        .iter()
        .map(|l| l.peer.local_addr().unwrap().to_string())
        .collect();
    let mut servers = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        servers.push(
            Server::start_with(config(i, engine, root, &peers), l)
                .await
                .unwrap(),
        );
    }
    servers
}

fn put(key: &str, value: &str, w: u8) -> ClientRequest {
    ClientRequest::Put {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context: Context::default(),
        value: Bytes::copy_from_slice(value.as_bytes()),
        content_type: ContentType::octet_stream(),
        w: Some(w),
        dw: None,
        return_body: false,
    }
}

fn get(key: &str, r: u8) -> ClientRequest {
    ClientRequest::Get {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        r: Some(r),
    }
}

/// Puts until the write quorum answers (the first writes may race the first connections).
async fn put_until_ok(handle: &NodeHandle, key: &str, value: &str, w: u8) {
    eventually("a successful put", || async {
        match handle.request(put(key, value, w)).await.unwrap() {
            ClientResponse::Put(Ok(_)) => Some(()),
            ClientResponse::Put(Err(_)) => None,
            other => panic!("unexpected answer {other:?}"),
        }
    })
    .await;
}

async fn read(handle: &NodeHandle, key: &str, r: u8) -> Option<ReadResult> {
    match handle.request(get(key, r)).await.unwrap() {
        ClientResponse::Get(Ok(result)) => Some(result),
        ClientResponse::Get(Err(_)) => None,
        other => panic!("unexpected answer {other:?}"),
    }
}

fn values(result: &ReadResult) -> Vec<&[u8]> {
    result.values().map(|v| &v[..]).collect()
}

async fn put_through_one_get_through_another(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let servers = start3(engine, dir.path()).await;
    let (a, b) = (servers[0].handle(), servers[1].handle());
    put_until_ok(&a, "k", "hello", 2).await;
    let result = read(&b, "k", 2).await.expect("read quorum");
    assert_eq!(values(&result), vec![&b"hello"[..]]);
    // Frames went over the sockets both ways between the two nodes asked (the third may
    // still be answering).
    for s in &servers[..2] {
        let m = s.metrics();
        assert!(m.peer_frames_out.get() > 0 && m.peer_frames_in.get() > 0);
        assert!(m.peer_connects.get() > 0);
    }
    for s in &servers {
        assert_eq!(s.metrics().peer_bad_frames.get(), 0);
    }
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_through_one_node_get_through_another_mem() {
    put_through_one_get_through_another("mem").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_through_one_node_get_through_another_lsm() {
    put_through_one_get_through_another("lsm").await;
}

/// Writes `bytes` on a fresh connection to `addr` and waits until the server closes it.
async fn send_and_expect_close(addr: std::net::SocketAddr, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a bad connection open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_peer_port_closes_that_connection_only() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start3("mem", dir.path()).await;
    let target = &servers[0];
    let metrics = target.metrics();
    put_until_ok(&target.handle(), "before", "1", 3).await;

    // An HTTP request on the peer port: its first four bytes read as a huge length.
    send_and_expect_close(target.peer_addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // A well-formed frame of another protocol version.
    let mut frame = dynamo_server::wire::encode(
        &dynamo_server::wire::Frame::Message(dynamo_core::proto::PeerMessage::Ping { nonce: 1 }),
        1 << 20,
    )
    .unwrap();
    frame[4] = 9;
    send_and_expect_close(target.peer_addr(), &frame).await;
    // A message before any hello.
    frame[4] = dynamo_server::wire::PROTOCOL_VERSION;
    send_and_expect_close(target.peer_addr(), &frame).await;
    // A hello, then bytes that are no frame.
    let mut bytes = dynamo_server::wire::encode(
        &dynamo_server::wire::Frame::Hello(dynamo_server::wire::Hello {
            node: dynamo_core::NodeId::new("intruder").unwrap(),
            peer_addr: String::new(),
        }),
        1 << 20,
    )
    .unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 3, 1, 0xff, 0xff]);
    send_and_expect_close(target.peer_addr(), &bytes).await;

    // None of it completes the cluster-secret handshake: each is refused before any frame is
    // read (the handshake's own tests, and bad frames after a valid one, are in
    // `secure.rs` and `cluster_bad_input.rs`).
    eventually("four refused handshakes counted", || {
        let m = metrics.clone();
        async move { (m.peer_auth_failures.get() == 4).then_some(()) }
    })
    .await;
    assert_eq!(metrics.peer_bad_frames.get(), 0);
    // The node still serves, and its peers still reach it.
    put_until_ok(&target.handle(), "after", "2", 3).await;
    let result = read(&servers[2].handle(), "after", 3).await.unwrap();
    assert_eq!(values(&result), vec![&b"2"[..]]);
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_its_data_and_membership() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start3("lsm", dir.path()).await;
    let addrs: Vec<_> = servers
        .iter()
        .map(|s| (s.http_addr(), s.peer_addr()))
        .collect();
    let peers: Vec<String> = addrs.iter().map(|(_, p)| p.to_string()).collect();
    let h1 = servers[0].handle();
    // W = 3: every node holds the key durably before the answer.
    put_until_ok(&h1, "k", "kept", 3).await;
    // A cluster-state change (persisted): new properties for a bucket, gossiped to all.
    let props = BucketProps::new(2, 1, 1, VersioningMode::Lww).unwrap();
    let answer = h1
        .request(ClientRequest::SetBucketProps {
            bucket: Bytes::from_static(b"photos"),
            props,
        })
        .await
        .unwrap();
    assert!(
        matches!(answer, ClientResponse::BucketProps(Ok(_))),
        "{answer:?}"
    );
    for s in &servers {
        let h = s.handle();
        eventually("the bucket properties to spread", || {
            let h = h.clone();
            async move {
                let p = h.inspect(|n| n.bucket_props(b"photos")).await.unwrap();
                (p == props).then_some(())
            }
        })
        .await;
    }
    let ring_before = h1
        .inspect(|n| n.membership().state().ring_version())
        .await
        .unwrap();
    for s in servers {
        s.shutdown().await;
    }

    // n1 alone, on its directory: what it knows comes from its disk, not from its peers.
    let (http, peer) = addrs[0];
    let n1 = Server::start_with(
        config(0, "lsm", dir.path(), &peers),
        rebind(http, peer).await,
    )
    .await
    .unwrap();
    let h1 = n1.handle();
    let (props_after, members, ring_after, local) = h1
        .inspect(|n| {
            let local = n
                .local_record(&Location::Data, b"b", b"k")
                .unwrap()
                .map(|set| {
                    set.live()
                        .filter_map(|s| s.data().cloned())
                        .collect::<Vec<_>>()
                });
            (
                n.bucket_props(b"photos"),
                n.membership().state().members().len(),
                n.membership().state().ring_version(),
                local,
            )
        })
        .await
        .unwrap();
    assert_eq!(props_after, props);
    assert_eq!(members, 3);
    assert_eq!(ring_after, ring_before);
    assert_eq!(local, Some(vec![Bytes::from_static(b"kept")]));

    // The other two come back; a read that needs all three answers.
    let mut others = Vec::new();
    for (i, &(http, peer)) in addrs.iter().enumerate().skip(1) {
        others.push(
            Server::start_with(
                config(i, "lsm", dir.path(), &peers),
                rebind(http, peer).await,
            )
            .await
            .unwrap(),
        );
    }
    let h2 = others[0].handle();
    let result = eventually("a read from all three", || {
        let h2 = h2.clone();
        async move { read(&h2, "k", 3).await }
    })
    .await;
    assert_eq!(values(&result), vec![&b"kept"[..]]);
    n1.shutdown().await;
    for s in others {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_keeps_its_engine() {
    let dir = tempfile::tempdir().unwrap();
    let base = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        data_dir: Some(dir.path().join("n1")),
        engine: Some("lsm".into()),
        ..ServerConfig::default()
    };
    let s = Server::start(base.clone()).await.unwrap();
    s.shutdown().await;
    let other = ServerConfig {
        engine: Some("redb".into()),
        ..base.clone()
    };
    let err = Server::start(other).await.unwrap_err();
    assert!(err.to_string().contains("lsm"), "{err}");
    // No engine named: the directory's own.
    let s = Server::start(ServerConfig {
        engine: None,
        ..base
    })
    .await
    .unwrap();
    let kind = s.handle().inspect(|n| n.engine().kind()).await.unwrap();
    assert_eq!(kind, engine_any::Engine::Lsm);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_reconnect_to_a_node_that_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers = start3("lsm", dir.path()).await;
    let peers: Vec<String> = servers.iter().map(|s| s.peer_addr().to_string()).collect();
    let h1 = servers[0].handle();
    put_until_ok(&h1, "k1", "a", 3).await;
    let n3 = servers.pop().unwrap();
    let (http, peer) = (n3.http_addr(), n3.peer_addr());
    n3.shutdown().await;

    // W = 2 still succeeds with n3 gone; W = 3 cannot.
    put_until_ok(&h1, "k2", "b", 2).await;
    let answer = h1.request(put("k3", "c", 3)).await.unwrap();
    assert!(matches!(answer, ClientResponse::Put(Err(_))), "{answer:?}");
    let failures_before = servers[0].metrics().peer_connect_failures.get();
    assert!(failures_before > 0, "n1 tried to reach n3 and failed");

    // n3 comes back on the same address: n1's and n2's peer tasks, backing off, reconnect.
    let n3 = Server::start_with(
        config(2, "lsm", dir.path(), &peers),
        rebind(http, peer).await,
    )
    .await
    .unwrap();
    put_until_ok(&h1, "k3", "c", 3).await;
    let result = read(&n3.handle(), "k1", 3).await.unwrap();
    assert_eq!(values(&result), vec![&b"a"[..]]);
    n3.shutdown().await;
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_through_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start3("mem", dir.path()).await;
    let h1 = servers[0].handle();
    for i in 0..20 {
        put_until_ok(&h1, &format!("k{i}"), &format!("v{i}"), 3).await;
    }
    // n4 knows only n1's peer address; the others learn its address from its hello and the
    // gossiped cluster state.
    let n4 = Server::start(ServerConfig {
        node_id: "n4".into(),
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        data_dir: Some(dir.path().join("n4")),
        engine: Some("mem".into()),
        seeds: vec![format!("n1@{}", servers[0].peer_addr())],
        seed: Some(4),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let n4_id = dynamo_core::NodeId::new("n4").unwrap();
    let mut all: Vec<NodeHandle> = servers.iter().map(Server::handle).collect();
    all.push(n4.handle());
    eventually("n4 valid, one ring on every node, transfers done", || {
        let all = all.clone();
        let n4_id = n4_id.clone();
        async move {
            let mut digests = Vec::new();
            for h in &all {
                let n4_id = n4_id.clone();
                let (valid, digest, pending) = h
                    .inspect(move |n| {
                        let state = n.membership().state();
                        (
                            state.member(&n4_id).map(|m| m.status)
                                == Some(dynamo_core::membership::MemberStatus::Valid),
                            state
                                .ring()
                                .filter(|r| r.contains_node(&n4_id))
                                .map(|r| r.digest()),
                            n.transfers().pending(),
                        )
                    })
                    .await
                    .unwrap();
                if !valid || pending > 0 {
                    return None;
                }
                digests.push(digest?);
            }
            digests.windows(2).all(|w| w[0] == w[1]).then_some(())
        }
    })
    .await;
    // Every key is readable with all three of its replicas answering, through the new node.
    let h4 = n4.handle();
    for i in 0..20 {
        let key = format!("k{i}");
        let result = eventually("a read of every replica", || {
            let h4 = h4.clone();
            let key = key.clone();
            async move { read(&h4, &key, 3).await }
        })
        .await;
        assert_eq!(values(&result), vec![format!("v{i}").as_bytes()]);
    }
    n4.shutdown().await;
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_hangs_up_at_once_is_redialled_with_backoff() {
    // A "peer" that accepts every connection and closes it at once, noting when.
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap();
    let (tx, mut accepts) = tokio::sync::mpsc::unbounded_channel();
    let acceptor = tokio::spawn(async move {
        loop {
            let (stream, _) = fake.accept().await.unwrap();
            drop(stream);
            let _ = tx.send(Instant::now());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let listeners = bind3().await.into_iter().next().unwrap();
    let me = listeners.peer.local_addr().unwrap();
    let server = Server::start_with(
        ServerConfig {
            node_id: "n1".into(),
            data_dir: Some(dir.path().join("n1")),
            engine: Some("mem".into()),
            members: vec![format!("n1@{me}"), format!("n2@{fake_addr}")],
            ..ServerConfig::default()
        },
        listeners,
    )
    .await
    .unwrap();
    // n1 gossips to n2 within a second and keeps trying to keep a connection to it.
    let mut times = Vec::new();
    while times.len() < 5 {
        let t = tokio::time::timeout(DEADLINE, accepts.recv())
            .await
            .expect("n1 keeps redialling")
            .unwrap();
        times.push(t);
    }
    // Backoff between the attempts: at least 50 + 100 + 200 + 400 ms over four gaps (a
    // redial loop would make them microseconds apart).
    let spread = times[4] - times[0];
    assert!(spread >= Duration::from_millis(700), "{spread:?}");
    acceptor.abort();
    server.shutdown().await;
}

//! Bad input against a real 3-node cluster (engine lsm, a small maximum value size of 4 KiB):
//! malformed contexts, bad or unknown query parameters and over-large bodies on the HTTP
//! port are each answered with the documented JSON error (400 `bad_request`, 413
//! `too_large`). On the peer port, bytes from a process that does not complete the
//! cluster-secret handshake — garbage, plain frames, a well-formed hello and `ReplicaPut` —
//! close that connection (counted in `peer_auth_failures`) and change nothing; after a valid
//! handshake, garbage, an oversized length prefix, a wrong protocol version or a message
//! before the hello close it too (counted in `peer_bad_frames`).
//! After all of it the attacked node's process is alive, it still serves reads and writes
//! that need every replica, and its peers still see it up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use std::net::SocketAddr;

use bytes::Bytes;
use cluster_support::{Cluster, DEADLINE, eventually, raw_http, read_with, request, values};
use dynamo_client::{Client, ClientError, PutOptions};
use dynamo_core::proto::{OpId, PeerMessage};
use dynamo_core::version::{Actor, ContentType, Context, SiblingSet, VersioningMode};
use dynamo_core::{NodeId, Timestamp, record};
use dynamo_server::secure::{self, ClusterSecret};
use dynamo_server::wire::{self, Frame, Hello, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A request of the table of bad requests: method, path and query, headers.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

/// The maximum value size the nodes are started with.
const MAX_VALUE: usize = 4096;

/// Writes `bytes` on a new connection to `addr` — sealed after a valid handshake when
/// `handshake`, raw otherwise — and waits until the node closes it (without sending anything
/// after the handshake: the peer protocol never answers a bad frame).
async fn expect_peer_close(addr: SocketAddr, handshake: bool, bytes: &[u8], what: &str) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let bytes = if handshake {
        // The nodes listen on loopback only, with no secret configured: the development one.
        let mut sealer = secure::dial_handshake(&mut stream, &ClusterSecret::loopback_default())
            .await
            .unwrap();
        let mut sealed = Vec::new();
        sealer.seal_into(bytes, &mut sealed).unwrap();
        sealed
    } else {
        bytes.to_vec()
    };
    // The node may close before reading everything: a failed write is fine.
    let _ = stream.write_all(&bytes).await;
    let closed = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 64];
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("{what}: the node answered {:?}", &buf[..n]),
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: the node kept the connection open");
}

/// A write needing every replica and a read needing every replica, through `client`.
async fn still_serves(client: &Client, key: &str, value: &str) {
    let options = PutOptions {
        w: Some(3),
        dw: None,
        ..PutOptions::default()
    };
    eventually(&format!("a write of {key} with W=3"), || async {
        client.put("b", key, value.to_owned(), &options).await.ok()
    })
    .await;
    let read = read_with(client, "b", key, 3).await;
    assert_eq!(values(&read), [value]);
}

async fn counter(client: &Client, name: &str) -> u64 {
    client.stats().await.unwrap()["metrics"][name]
        .as_u64()
        .unwrap()
}

/// A `ReplicaPut` of `value` for `b/key`, as a coordinator would send it: a valid record.
fn replica_put(key: &str, value: &str) -> PeerMessage {
    let mut set = SiblingSet::new(VersioningMode::Dvv);
    let actor = Actor::new(NodeId::new("intruder").unwrap(), 1);
    set.apply_put(
        &Context::new(),
        Bytes::from(value.to_owned()),
        ContentType::octet_stream(),
        &actor,
        Timestamp(1),
    )
    .unwrap();
    PeerMessage::ReplicaPut {
        op: OpId {
            origin: NodeId::new("intruder").unwrap(),
            seq: 1,
        },
        bucket: Bytes::from_static(b"b"),
        key: Bytes::from(key.to_owned()),
        record: Bytes::from(record::encode(&set).unwrap()),
        hinted_for: None,
        sync: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_documented_errors_and_the_node_keeps_serving() {
    let max = MAX_VALUE.to_string();
    let mut cluster = Cluster::start(3, "lsm", &["--max-value-size", &max]).await;
    let target = &cluster.nodes[0];
    let (http, peer) = (target.http, target.peer);
    let client = target.client();
    still_serves(&client, "before", "1").await;

    // A context to mangle, from a real read.
    let context = client.get("b", "before").await.unwrap().context.unwrap();
    let mut truncated = context.as_str().to_owned();
    truncated.truncate(truncated.len() / 2);

    // 400 bad_request: malformed contexts, bad or unknown parameters.
    let bad_requests: Vec<Case> = vec![
        (
            "PUT",
            "/buckets/b/keys/k".into(),
            vec![("X-Dynamo-Context", "not-a-context")],
        ),
        (
            "PUT",
            "/buckets/b/keys/k".into(),
            vec![("X-Dynamo-Context", "AAAA")],
        ),
        (
            "PUT",
            "/buckets/b/keys/k".into(),
            vec![("X-Dynamo-Context", &truncated)],
        ),
        (
            "DELETE",
            "/buckets/b/keys/k".into(),
            vec![("X-Dynamo-Context", "!!")],
        ),
        ("GET", "/buckets/b/keys/k?r=abc".into(), vec![]),
        ("GET", "/buckets/b/keys/k?r=0".into(), vec![]),
        ("GET", "/buckets/b/keys/k?r=4".into(), vec![]), // above n = 3
        ("GET", "/buckets/b/keys/k?r=-1".into(), vec![]),
        ("PUT", "/buckets/b/keys/k?w=0".into(), vec![]),
        ("PUT", "/buckets/b/keys/k?w=99999".into(), vec![]),
        ("PUT", "/buckets/b/keys/k?returnbody=yes".into(), vec![]),
        ("GET", "/buckets/b/keys/k?unknown=1".into(), vec![]),
        ("PUT", "/buckets/b/keys/k?r=1".into(), vec![]),
        ("DELETE", "/buckets/b/keys/k?returnbody=true".into(), vec![]),
        ("GET", "/buckets/b/keys/k?r=1&r=2".into(), vec![]),
        ("GET", "/buckets/b/keys/%zz".into(), vec![]),
        (
            "PUT",
            "/buckets/b/props".into(),
            vec![("Content-Type", "application/json")],
        ),
        ("POST", "/admin/join?seed=nowhere".into(), vec![]),
    ];
    for (method, path, headers) in &bad_requests {
        let body: &[u8] = if path.ends_with("/props") {
            b"{bad json"
        } else {
            b"v"
        };
        let r = raw_http(http, &request(method, path, headers, body)).await;
        r.assert_error(400, "bad_request");
    }
    // The client reports them as such.
    let err = client
        .put(
            "b",
            "k",
            "v",
            &PutOptions::with_context(Some(dynamo_client::Context::from_token("garbage"))),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::BadRequest { .. }), "{err}");

    // 413 too_large: a body one byte over the maximum, announced or streamed in chunks, and
    // a huge announced length with no body at all.
    let big = vec![b'x'; MAX_VALUE + 1];
    let r = raw_http(http, &request("PUT", "/buckets/b/keys/big", &[], &big)).await;
    r.assert_error(413, "too_large");
    let mut chunked = b"PUT /buckets/b/keys/big HTTP/1.1\r\nHost: t\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n", MAX_VALUE / 2).as_bytes());
        chunked.extend(std::iter::repeat_n(b'z', MAX_VALUE / 2));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    raw_http(http, &chunked)
        .await
        .assert_error(413, "too_large");
    let r = raw_http(
        http,
        b"PUT /buckets/b/keys/big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
          Content-Length: 1000000000000\r\n\r\n",
    )
    .await;
    r.assert_error(413, "too_large");
    let err = client
        .put("b", "big", big.clone(), &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::TooLarge { .. }), "{err}");
    // Exactly the maximum is fine.
    let r = raw_http(
        http,
        &request("PUT", "/buckets/b/keys/big", &[], &big[..MAX_VALUE]),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    // Bytes that are no HTTP on the HTTP port: 400 from the HTTP layer.
    let r = raw_http(http, b"\x00\x01\x02 garbage\r\n\r\n").await;
    assert_eq!(r.status, 400, "{r:?}");

    // The peer port, without the handshake: a well-formed hello and ReplicaPut, plain frames
    // and garbage are each refused (in parallel: some wait out the handshake's timeout).
    let refused_before = counter(&client, "peer_auth_failures").await;
    let hello = wire::encode(
        &Frame::Hello(Hello {
            node: NodeId::new("intruder").unwrap(),
            peer_addr: String::new(),
        }),
        1 << 20,
    )
    .unwrap();
    let mut forged_write = hello.clone();
    forged_write
        .extend(wire::encode(&Frame::Message(replica_put("forged", "owned")), 1 << 20).unwrap());
    let ping = wire::encode(&Frame::Message(PeerMessage::Ping { nonce: 7 }), 1 << 20).unwrap();
    tokio::join!(
        expect_peer_close(
            peer,
            false,
            &forged_write,
            "a hello and a ReplicaPut without the handshake"
        ),
        expect_peer_close(peer, false, &ping, "a plain message"),
        expect_peer_close(
            peer,
            false,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP on the peer port"
        ),
        expect_peer_close(
            peer,
            false,
            &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            "a 4 GiB length prefix"
        ),
    );
    let refused = eventually("four refused handshakes counted", || async {
        let n = counter(&client, "peer_auth_failures").await - refused_before;
        (n >= 4).then_some(n)
    })
    .await;
    assert_eq!(refused, 4);

    // After a valid handshake: each bad frame closes its connection, and is counted.
    let frames_before = counter(&client, "peer_bad_frames").await;
    expect_peer_close(
        peer,
        true,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "HTTP on the peer port",
    )
    .await;
    expect_peer_close(
        peer,
        true,
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        "a 4 GiB length prefix",
    )
    .await;
    // Just over the 64 MiB frame limit, the body never sent: refused from the prefix alone.
    let over = u32::try_from(dynamo_server::config::DEFAULT_MAX_FRAME_SIZE + 1).unwrap();
    expect_peer_close(
        peer,
        true,
        &over.to_be_bytes(),
        "a length prefix over the limit",
    )
    .await;
    let mut wrong_version = ping.clone();
    wrong_version[wire::LENGTH_BYTES] = PROTOCOL_VERSION + 1;
    expect_peer_close(peer, true, &wrong_version, "another protocol version").await;
    expect_peer_close(peer, true, &ping, "a message before the hello").await;
    let mut hello_then_garbage = hello.clone();
    hello_then_garbage.extend_from_slice(&[0, 0, 0, 5, PROTOCOL_VERSION, 0xff, 0xfe, 0xfd, 0xfc]);
    expect_peer_close(peer, true, &hello_then_garbage, "a hello, then garbage").await;
    // A frame of the right version and a plausible length whose payload is noise.
    let mut noise = 4096u32.to_be_bytes().to_vec();
    noise.push(PROTOCOL_VERSION);
    noise.extend((1..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    expect_peer_close(peer, true, &noise, "a frame of noise").await;
    let counted = eventually("seven bad frames counted", || async {
        let n = counter(&client, "peer_bad_frames").await - frames_before;
        (n >= 7).then_some(n)
    })
    .await;
    assert_eq!(counted, 7);
    // The forged write changed nothing.
    let read = read_with(&client, "b", "forged", 3).await;
    assert!(read.is_absent(), "{read:?}");

    // The node is alive and serves requests needing all three replicas; its peers see it up
    // (and reach it over the peer port it was attacked on).
    assert!(cluster.nodes[0].is_running(), "the node died");
    still_serves(&client, "after", "2").await;
    let other = cluster.nodes[2].client();
    still_serves(&other, "after-2", "3").await;
    for c in cluster.clients() {
        let status = c.status().await.unwrap();
        assert!(status.members.iter().all(|m| m.up), "{status:?}");
    }
    // Nothing the bad requests carried was stored.
    let read = read_with(&client, "b", "k", 3).await;
    assert!(read.is_absent(), "{read:?}");
    let read = read_with(&client, "b", "big", 3).await;
    assert_eq!(read.value().map(|v| v.len()), Some(MAX_VALUE));
    cluster.stop_all().await;
}

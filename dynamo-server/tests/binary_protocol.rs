//! The binary client protocol against a real server on 127.0.0.1, spoken with raw frames
//! (the `dynamo-client` crate has its own tests of its client): the same answers as over
//! HTTP, pipelined requests answered by id, limits, and bad frames that close only their own
//! connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use dynamo_protocol::{
    ErrorKind, Read, Request, RequestFrame, Response, ResponseFrame, decode, encode_into,
};
use dynamo_server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX: usize = 64 << 20;

async fn server(dir: &std::path::Path) -> Server {
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        binary_addr: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        engine: Some("mem".into()),
        max_value_size: 1 << 20,
        ..ServerConfig::default()
    };
    Server::start(config).await.unwrap()
}

/// One connection: sends frames, reads answers.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(server: &Server) -> Conn {
        let addr = server.binary_addr().expect("binary protocol configured");
        Conn {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, frames: &[RequestFrame]) {
        let mut out = Vec::new();
        for f in frames {
            encode_into(f, MAX, &mut out).unwrap();
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next answer; `None` when the server closed the connection.
    async fn answer(&mut self) -> Option<ResponseFrame> {
        loop {
            if let Some((frame, used)) = decode::<ResponseFrame>(&self.buf, MAX).unwrap() {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            if n == 0 {
                assert!(self.buf.is_empty(), "closed inside a frame");
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn call(
        &mut self,
        id: u64,
        request: Request,
    ) -> Result<Response, dynamo_protocol::ErrorReply> {
        self.send(&[RequestFrame { id, request }]).await;
        let answer = self.answer().await.expect("an answer");
        assert_eq!(answer.id, id);
        answer.result
    }
}

fn get(key: &str) -> Request {
    Request::Get {
        bucket: "b".into(),
        key: Bytes::copy_from_slice(key.as_bytes()),
        r: None,
    }
}

fn put(key: &str, value: &str, context: Option<String>) -> Request {
    Request::Put {
        bucket: "b".into(),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context,
        value: Bytes::copy_from_slice(value.as_bytes()),
        content_type: Some("text/plain".into()),
        w: None,
        dw: None,
        return_body: false,
    }
}

fn read(r: Result<Response, dynamo_protocol::ErrorReply>) -> Read {
    match r {
        Ok(Response::Read(read)) => read,
        other => panic!("expected a read, got {other:?}"),
    }
}

fn values(read: &Read) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = read.siblings.iter().map(|s| &s.value[..]).collect();
    v.sort();
    v
}

#[tokio::test]
async fn get_put_delete_and_siblings_mean_what_they_mean_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut c = Conn::open(&server).await;

    assert_eq!(c.call(1, Request::Ping).await, Ok(Response::Pong));
    let absent = read(c.call(2, get("k")).await);
    assert!(absent.siblings.is_empty());

    // Two blind writes are concurrent: two siblings, one context covering both.
    c.call(3, put("k", "one", None)).await.unwrap();
    c.call(4, put("k", "two", None)).await.unwrap();
    let both = read(c.call(5, get("k")).await);
    assert_eq!(values(&both), vec![&b"one"[..], b"two"]);
    assert_eq!(both.siblings[0].content_type, "text/plain");

    // A write with the read's context replaces both; return_body shows the result.
    let mut merge = put("k", "merged", both.context.clone());
    if let Request::Put { return_body, .. } = &mut merge {
        *return_body = true;
    }
    match c.call(6, merge).await.unwrap() {
        Response::Written {
            context: Some(_),
            body: Some(body),
        } => assert_eq!(values(&body), vec![&b"merged"[..]]),
        other => panic!("{other:?}"),
    }

    // The context is the HTTP API's token: an HTTP read sees the same version.
    let http = dynamo_client::Client::new(&format!("http://{}", server.http_addr())).unwrap();
    let over_http = http.get("b", "k").await.unwrap();
    assert_eq!(over_http.values().collect::<Vec<_>>(), vec![&b"merged"[..]]);

    // Delete with the context: the key reads as deleted (one tombstone).
    let current = read(c.call(7, get("k")).await);
    let deleted = c
        .call(
            8,
            Request::Delete {
                bucket: "b".into(),
                key: "k".into(),
                context: current.context,
                w: None,
                dw: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(deleted, Response::Written { body: None, .. }));
    let gone = read(c.call(9, get("k")).await);
    assert!(gone.siblings.iter().all(|s| s.deleted) && !gone.siblings.is_empty());

    let stats = server.metrics();
    // Four gets over the binary protocol and one over HTTP, in the same figures.
    assert_eq!(stats.gets.get(), 5);
    assert_eq!(stats.puts.get(), 3);
    assert_eq!(stats.deletes.get(), 1);
    assert_eq!(stats.not_found.get(), 2);
    assert_eq!(stats.binary_connections.get(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn pipelined_requests_are_all_answered_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut c = Conn::open(&server).await;
    // 2,000 requests in one write: more than a connection may have in flight, so the server
    // must stop reading and resume as answers go out.
    let frames: Vec<RequestFrame> = (0..2_000u64)
        .map(|i| RequestFrame {
            id: i + 1,
            request: if i % 2 == 0 {
                put(&format!("k{}", i / 2), &format!("v{}", i / 2), None)
            } else {
                get(&format!("k{}", i / 2))
            },
        })
        .collect();
    c.send(&frames).await;
    let mut answers = HashMap::new();
    while answers.len() < frames.len() {
        let a = c
            .answer()
            .await
            .expect("every answer before the connection closes");
        assert!(answers.insert(a.id, a.result).is_none(), "answered twice");
    }
    for i in (0..2_000u64).filter(|i| i % 2 == 0) {
        assert!(matches!(answers[&(i + 1)], Ok(Response::Written { .. })));
    }
    // A get pipelined after its put, on the same connection, sees it: the node takes the
    // connection's requests in order.
    for i in (0..2_000u64).filter(|i| i % 2 == 1) {
        let r = read(answers.remove(&(i + 1)).unwrap());
        assert_eq!(values(&r), vec![format!("v{}", i / 2).as_bytes()]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_answered_and_bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut c = Conn::open(&server).await;

    // Checked as over HTTP, answered, and the connection carries on.
    let too_large = Request::Put {
        bucket: "b".into(),
        key: "k".into(),
        context: None,
        value: vec![0u8; (1 << 20) + 1].into(),
        content_type: None,
        w: None,
        dw: None,
        return_body: false,
    };
    let e = c.call(1, too_large).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLarge { max: 1 << 20 });
    let bad_context = Request::Delete {
        bucket: "b".into(),
        key: "k".into(),
        context: Some("!!".into()),
        w: None,
        dw: None,
    };
    assert_eq!(
        c.call(2, bad_context).await.unwrap_err().kind,
        ErrorKind::BadRequest
    );
    let e = c
        .call(
            3,
            Request::Get {
                bucket: "b".into(),
                key: "k".into(),
                r: Some(9),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadRequest, "{e:?}");
    assert_eq!(c.call(4, Request::Ping).await, Ok(Response::Pong));

    // Garbage: an error frame of id 0, then the server closes the connection.
    let mut other = Conn::open(&server).await;
    other
        .stream
        .write_all(&[0, 0, 0, 3, dynamo_protocol::VERSION, 0xff, 0xff])
        .await
        .unwrap();
    let broken = other.answer().await.expect("an error frame");
    assert_eq!(broken.id, 0);
    assert_eq!(broken.result.unwrap_err().kind, ErrorKind::Protocol);
    assert!(
        other.answer().await.is_none(),
        "the server closes the connection"
    );
    // An announced length above the limit is refused before it is read.
    let mut huge = Conn::open(&server).await;
    huge.stream
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .unwrap();
    assert_eq!(huge.answer().await.unwrap().id, 0);
    assert!(huge.answer().await.is_none());

    // The first connection is unaffected.
    c.call(5, put("k", "v", None)).await.unwrap();
    assert_eq!(values(&read(c.call(6, get("k")).await)), vec![&b"v"[..]]);
    assert_eq!(server.metrics().binary_bad_frames.get(), 2);
    assert_eq!(server.metrics().bad_requests.get(), 3);
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_without_binary_addr_has_no_binary_listener() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        data_dir: Some(dir.path().to_path_buf()),
        engine: Some("mem".into()),
        ..ServerConfig::default()
    };
    let server = Server::start(config).await.unwrap();
    assert_eq!(server.binary_addr(), None);
    server.shutdown().await;
}

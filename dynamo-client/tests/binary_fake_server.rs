//! The binary client against a fake node in the test: a TCP listener on 127.0.0.1 that decodes
//! the client's frames with `dynamo_protocol` and answers as each scenario says (out of order,
//! with errors, with garbage, or not at all), to check what a real node rarely does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use dynamo_client::{
    BinaryClient, BinaryOptions, ClientError, Context, DeleteOptions, GetOptions, PutOptions,
};
use dynamo_protocol::{
    ErrorKind, ErrorReply, Read, Request, RequestFrame, Response, ResponseFrame, Sibling, VERSION,
    decode, encode_into,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const MAX: usize = 1 << 20;

/// The fake node's side of one connection.
struct Peer {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Peer {
    /// The next request, or `None` when the client closed the connection.
    async fn request(&mut self) -> Option<RequestFrame> {
        self.request_within(MAX).await
    }

    /// The next request, which may be up to `max` bytes long.
    async fn request_up_to(&mut self, max: usize) -> RequestFrame {
        self.request_within(max)
            .await
            .expect("the client closed early")
    }

    async fn request_within(&mut self, max: usize) -> Option<RequestFrame> {
        loop {
            if let Some((frame, used)) = decode::<RequestFrame>(&self.buffer, max).unwrap() {
                self.buffer.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                assert!(self.buffer.is_empty(), "a partial frame before the close");
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next `count` requests.
    async fn requests(&mut self, count: usize) -> Vec<RequestFrame> {
        let mut all = Vec::new();
        for _ in 0..count {
            all.push(self.request().await.expect("the client closed early"));
        }
        all
    }

    async fn answer(&mut self, id: u64, result: Result<Response, ErrorReply>) {
        self.answer_up_to(id, result, MAX).await;
    }

    async fn answer_up_to(&mut self, id: u64, result: Result<Response, ErrorReply>, max: usize) {
        let mut wire = Vec::new();
        encode_into(&ResponseFrame { id, result }, max, &mut wire).unwrap();
        self.stream.write_all(&wire).await.unwrap();
    }

    async fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }
}

/// A fake node: a listener on a free port of 127.0.0.1.
struct Fake {
    listener: TcpListener,
}

impl Fake {
    async fn bind() -> (Fake, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        (Fake { listener }, address)
    }

    async fn accept(&self) -> Peer {
        let (stream, _) = self.listener.accept().await.unwrap();
        Peer {
            stream,
            buffer: Vec::new(),
        }
    }
}

/// Runs the fake node's script in a task, handing it the listener.
fn serve<F, Fut>(fake: Fake, script: F) -> JoinHandle<()>
where
    F: FnOnce(Fake) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(script(fake))
}

fn read_of(context: &str, values: &[&str]) -> Read {
    Read {
        context: Some(context.into()),
        siblings: values
            .iter()
            .map(|v| Sibling {
                value: Bytes::copy_from_slice(v.as_bytes()),
                content_type: "text/plain".into(),
                last_modified: 1_700_000_000_000,
                deleted: false,
            })
            .collect(),
    }
}

fn key_of(request: &Request) -> String {
    match request {
        Request::Get { key, .. } | Request::Put { key, .. } | Request::Delete { key, .. } => {
            String::from_utf8(key.to_vec()).unwrap()
        }
        Request::Ping | Request::Auth { .. } => String::new(),
    }
}

fn error(kind: ErrorKind) -> ErrorReply {
    ErrorReply {
        kind,
        message: "from the fake".into(),
    }
}

/// Short: scenarios where the fake never answers wait this long.
fn quick() -> BinaryOptions {
    BinaryOptions {
        request_timeout: Duration::from_millis(300),
        ..BinaryOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_get_their_own_answers_in_any_order() {
    let (fake, address) = Fake::bind().await;
    const CALLERS: usize = 64;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        // Every request is read before any is answered: they were all in flight at once on
        // the one connection. Answered last first.
        let mut requests = peer.requests(CALLERS).await;
        requests.reverse();
        for frame in requests {
            let key = key_of(&frame.request);
            let answer = Response::Read(read_of(&format!("ctx-{key}"), &[&key]));
            peer.answer(frame.id, Ok(answer)).await;
        }
        assert!(peer.request().await.is_none());
    });
    let client = BinaryClient::connect(&address).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..CALLERS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            let read = client.get("b", &key).await.unwrap();
            assert_eq!(read.value().unwrap(), key.as_bytes());
            assert_eq!(
                read.context,
                Some(Context::from_token(format!("ctx-{key}")))
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(client);
    // Dropping the last clone closes the connection: the fake sees the end of its stream.
    node.await.unwrap();
}

#[tokio::test]
async fn requests_carry_their_options_and_answers_map_to_the_http_types() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        // get_with r.
        let f = peer.request().await.unwrap();
        assert_eq!(
            f.request,
            Request::Get {
                bucket: "b".into(),
                key: "k".into(),
                r: Some(2)
            }
        );
        let mut read = read_of("c1", &["a", "b"]);
        read.siblings[1].deleted = true;
        read.siblings[1].value = Bytes::new();
        peer.answer(f.id, Ok(Response::Read(read))).await;
        // A put with a context, a content type, quorums and return_body.
        let f = peer.request().await.unwrap();
        assert_eq!(
            f.request,
            Request::Put {
                bucket: "b".into(),
                key: "k".into(),
                context: Some("c1".into()),
                value: "v".into(),
                content_type: Some("text/plain".into()),
                w: Some(1),
                dw: Some(0),
                return_body: true,
            }
        );
        let answer = Response::Written {
            context: Some("c2".into()),
            body: Some(read_of("c2", &["v"])),
        };
        peer.answer(f.id, Ok(answer)).await;
        // A blind put of binary bytes.
        let f = peer.request().await.unwrap();
        let Request::Put {
            key,
            context,
            value,
            content_type,
            return_body,
            ..
        } = f.request
        else {
            panic!("{f:?}");
        };
        assert_eq!(&key[..], b"\x00/\xff");
        assert_eq!((context, content_type, return_body), (None, None, false));
        assert_eq!(&value[..], b"\x01\x02");
        let answer = Response::Written {
            context: Some("c3".into()),
            body: None,
        };
        peer.answer(f.id, Ok(answer)).await;
        // A delete with a context.
        let f = peer.request().await.unwrap();
        assert_eq!(
            f.request,
            Request::Delete {
                bucket: "b".into(),
                key: "k".into(),
                context: Some("c3".into()),
                w: None,
                dw: Some(1),
            }
        );
        let answer = Response::Written {
            context: Some("c4".into()),
            body: None,
        };
        peer.answer(f.id, Ok(answer)).await;
        // A ping; a get of an absent key.
        let f = peer.request().await.unwrap();
        assert_eq!(f.request, Request::Ping);
        peer.answer(f.id, Ok(Response::Pong)).await;
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Read(read_of("c0", &[]))))
            .await;
        // The wrong kind of answer fails that request only.
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Pong)).await;
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Pong)).await;
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let read = c
        .get_with("b", "k", &GetOptions { r: Some(2) })
        .await
        .unwrap();
    assert_eq!(read.siblings.len(), 2);
    assert!(read.has_siblings() && !read.is_not_found());
    assert_eq!(read.values().collect::<Vec<_>>(), [&Bytes::from("a")]);
    assert!(read.siblings[1].deleted);
    assert_eq!(read.siblings[0].content_type, "text/plain");
    assert_eq!(read.siblings[0].last_modified, Some(1_700_000_000_000));

    let put = c
        .put(
            "b",
            "k",
            "v",
            &PutOptions {
                context: read.context,
                content_type: Some("text/plain".into()),
                w: Some(1),
                dw: Some(0),
                return_body: true,
            },
        )
        .await
        .unwrap();
    let body = put.body.unwrap();
    assert_eq!(body.value(), Some(&Bytes::from("v")));
    assert_eq!(put.context, Some(Context::from_token("c2")));
    assert_eq!(put.context, body.context);

    let put = c
        .put(b"b", b"\x00/\xff", vec![1u8, 2], &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(put.context, Some(Context::from_token("c3")));
    assert!(put.body.is_none());

    let deleted = c
        .delete(
            "b",
            "k",
            &DeleteOptions {
                context: put.context,
                w: None,
                dw: Some(1),
            },
        )
        .await
        .unwrap();
    assert_eq!(deleted, Some(Context::from_token("c4")));
    c.ping().await.unwrap();
    let absent = c.get("b", "absent").await.unwrap();
    assert!(absent.is_absent() && absent.context.is_some());

    let e = c.get("b", "k").await.unwrap_err();
    assert!(
        matches!(e, ClientError::Protocol(ref m) if m.contains("pong")),
        "{e}"
    );
    let e = c
        .delete("b", "k", &DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Protocol(_)), "{e}");
    node.await.unwrap();
}

#[tokio::test]
async fn error_answers_are_the_http_clients_variants() {
    let (fake, address) = Fake::bind().await;
    let kinds = [
        ErrorKind::Unavailable {
            needed: 2,
            answered: 1,
        },
        ErrorKind::Overloaded,
        ErrorKind::Stopped,
        ErrorKind::BadRequest,
        ErrorKind::TooLarge { max: 1024 },
        ErrorKind::TooManySiblings { limit: 5 },
        ErrorKind::Storage,
        ErrorKind::Internal,
    ];
    let node = serve(fake, move |fake| async move {
        let mut peer = fake.accept().await;
        for kind in kinds {
            let f = peer.request().await.unwrap();
            peer.answer(f.id, Err(error(kind))).await;
        }
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let e = c
        .put("b", "k", "v", &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Unavailable {
                needed: Some(2),
                answered: Some(1),
                ref message
            } if message == "from the fake"
        ),
        "{e}"
    );
    for _ in 0..2 {
        let e = c.get("b", "k").await.unwrap_err();
        assert!(matches!(e, ClientError::Overloaded { .. }), "{e}");
        assert!(e.is_retryable());
    }
    let e = c.get("b", "k").await.unwrap_err();
    assert!(matches!(e, ClientError::BadRequest { .. }), "{e}");
    let e = c
        .put("b", "k", "v", &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::TooLarge { .. }), "{e}");
    let e = c
        .put("b", "k", "v", &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::TooManySiblings { limit: Some(5), .. }),
        "{e}"
    );
    let e = c.get("b", "k").await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 500, ref kind, .. } if kind == "storage"));
    let e = c
        .delete("b", "k", &DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 500, ref kind, .. } if kind == "internal"));
    node.await.unwrap();
}

#[tokio::test]
async fn garbage_fails_every_request_in_flight_and_the_next_request_reconnects() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        peer.requests(3).await;
        // A frame of another protocol version.
        peer.raw(&[0, 0, 0, 2, VERSION + 1, 0]).await;
        // The client closed its side.
        assert!(peer.request().await.is_none());
        // A frame whose payload is not an answer.
        let mut peer = fake.accept().await;
        peer.requests(1).await;
        peer.raw(&[0, 0, 0, 4, VERSION, 0xff, 0xff, 0xff]).await;
        // Then a connection that works.
        let mut peer = fake.accept().await;
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Pong)).await;
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let blind = PutOptions::default();
    let (a, b, p) = tokio::join!(c.get("b", "1"), c.put("b", "2", "v", &blind), c.ping());
    for e in [a.unwrap_err(), b.unwrap_err(), p.unwrap_err()] {
        assert!(
            matches!(e, ClientError::Protocol(ref m) if m.contains("version")),
            "{e}"
        );
        assert!(!e.is_retryable());
    }
    let e = c.ping().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Protocol(ref m) if m.contains("malformed")),
        "{e}"
    );
    c.ping().await.unwrap();
    node.await.unwrap();
}

#[tokio::test]
async fn a_close_mid_request_fails_the_callers_and_the_next_request_reconnects() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        let first = peer.requests(2).await;
        // Half an answer, then the close.
        let mut wire = Vec::new();
        let answer = ResponseFrame {
            id: first[0].id,
            result: Ok(Response::Pong),
        };
        encode_into(&answer, MAX, &mut wire).unwrap();
        peer.raw(&wire[..wire.len() - 1]).await;
        drop(peer);
        let mut peer = fake.accept().await;
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Pong)).await;
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let (a, b) = tokio::join!(c.ping(), c.get("b", "k"));
    for e in [a.unwrap_err(), b.unwrap_err()] {
        // The close is seen as an end of stream, or as a reset when the fake's socket still
        // held unread bytes.
        assert!(
            matches!(
                e,
                ClientError::ConnectionClosed | ClientError::Connection(_)
            ),
            "{e}"
        );
        assert!(e.is_retryable());
    }
    c.ping().await.unwrap();
    node.await.unwrap();
}

#[tokio::test]
async fn a_connection_error_from_the_node_fails_every_caller() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        peer.requests(2).await;
        peer.answer(0, Err(error(ErrorKind::Protocol))).await;
        let mut peer = fake.accept().await;
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Pong)).await;
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let (a, b) = tokio::join!(c.ping(), c.ping());
    for e in [a.unwrap_err(), b.unwrap_err()] {
        assert!(
            matches!(e, ClientError::Protocol(ref m) if m.contains("from the fake")),
            "{e}"
        );
    }
    c.ping().await.unwrap();
    node.await.unwrap();
}

#[tokio::test]
async fn an_unanswered_request_times_out_and_its_late_answer_is_dropped() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        let late = peer.request().await.unwrap();
        let next = peer.request().await.unwrap();
        // The first caller gave up before its answer: the answer goes nowhere, and the
        // connection serves the next.
        peer.answer(late.id, Ok(Response::Pong)).await;
        peer.answer(next.id, Ok(Response::Read(read_of("c", &["v"]))))
            .await;
    });
    let c = BinaryClient::connect_with(&address, quick()).await.unwrap();
    let e = c.ping().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Timeout(t) if t == Duration::from_millis(300)),
        "{e}"
    );
    assert!(e.is_retryable());
    let read = c.get("b", "k").await.unwrap();
    assert_eq!(read.value(), Some(&Bytes::from("v")));
    node.await.unwrap();
}

#[tokio::test]
async fn frames_above_the_maximum_are_refused_both_ways() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        let f = peer.request().await.unwrap();
        assert_eq!(f.request, Request::Ping, "the oversized put was not sent");
        // An answer announcing more than the client's maximum.
        peer.raw(&(1u32 << 20).to_be_bytes()).await;
        assert!(peer.request().await.is_none());
    });
    let options = BinaryOptions {
        max_frame: 1024,
        ..quick()
    };
    let c = BinaryClient::connect_with(&address, options).await.unwrap();
    let e = c
        .put("b", "k", vec![0u8; 2000], &PutOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::TooLarge { .. }), "{e}");
    let e = c.ping().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Protocol(ref m) if m.contains("exceeds")),
        "{e}"
    );
    drop(c);
    node.await.unwrap();
}

#[tokio::test]
async fn empty_names_are_refused_before_sending() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        // Only the ping arrives.
        let f = peer.request().await.unwrap();
        assert_eq!(f.request, Request::Ping);
        peer.answer(f.id, Ok(Response::Pong)).await;
        assert!(peer.request().await.is_none());
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let e = c.get("", "k").await.unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidName { what: "bucket", .. }),
        "{e}"
    );
    let e = c
        .put("b", "", "v", &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidName { what: "key", .. }),
        "{e}"
    );
    let e = c
        .delete("", "", &DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::InvalidName { .. }), "{e}");
    c.ping().await.unwrap();
    drop(c);
    node.await.unwrap();
}

#[tokio::test]
async fn several_connections_share_the_requests_and_nobody_listening_is_a_connect_error() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        // Four connections, opened by connect_with; each gets one of four requests sent
        // round-robin and answers it.
        let mut peers = Vec::new();
        for _ in 0..4 {
            peers.push(fake.accept().await);
        }
        for peer in &mut peers {
            let f = peer.request().await.unwrap();
            peer.answer(f.id, Ok(Response::Pong)).await;
        }
    });
    let options = BinaryOptions {
        connections: 4,
        ..BinaryOptions::default()
    };
    let c = BinaryClient::connect_with(&address, options).await.unwrap();
    let (a, b, d, e) = tokio::join!(c.ping(), c.ping(), c.ping(), c.ping());
    for r in [a, b, d, e] {
        r.unwrap();
    }
    node.await.unwrap();

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let e = BinaryClient::connect(&closed).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Connect { ref address, .. } if *address == closed),
        "{e}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_node_that_goes_away_fails_the_next_request_with_a_connect_error() {
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let peer = fake.accept().await;
        // The node closes the connection and stops listening.
        drop(peer);
        drop(fake);
    });
    let c = BinaryClient::connect_with(&address, quick()).await.unwrap();
    node.await.unwrap();
    // The first request finds the connection closed (or closing); the one after cannot
    // reconnect.
    let first = c.ping().await.unwrap_err();
    assert!(first.is_retryable(), "{first}");
    let e = c.ping().await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
}

#[tokio::test]
async fn large_frames_travel_whole_both_ways() {
    const BIG: usize = 5 << 20;
    let (fake, address) = Fake::bind().await;
    let node = serve(fake, |fake| async move {
        let mut peer = fake.accept().await;
        let f = peer.request_up_to(BIG + 1024).await;
        let Request::Put { value, .. } = &f.request else {
            panic!("{f:?}");
        };
        assert!(value.len() == BIG && value.iter().all(|&b| b == 7));
        let read = Read {
            context: Some("c".into()),
            siblings: vec![Sibling {
                value: value.clone(),
                content_type: "application/octet-stream".into(),
                last_modified: 1,
                deleted: false,
            }],
        };
        let answer = Response::Written {
            context: Some("c".into()),
            body: Some(read),
        };
        peer.answer_up_to(f.id, Ok(answer), BIG + 1024).await;
        let f = peer.request().await.unwrap();
        peer.answer(f.id, Ok(Response::Pong)).await;
    });
    let c = BinaryClient::connect(&address).await.unwrap();
    let options = PutOptions {
        return_body: true,
        ..PutOptions::default()
    };
    let put = c.put("b", "k", vec![7u8; BIG], &options).await.unwrap();
    let body = put.body.unwrap();
    assert_eq!(body.value().unwrap().len(), BIG);
    // The connection is still in step after it.
    c.ping().await.unwrap();
    node.await.unwrap();
}

//! The HTTP API against a real server: a single node (n = r = w = 1, memory engine) started
//! with [`Server::start`] on 127.0.0.1, driven in-process through the router (on the
//! server's node handle and metrics) with `tower::ServiceExt::oneshot`, and over the
//! server's own HTTP address where a real socket matters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dynamo_server::http::{HttpState, router};
use dynamo_server::{HandleError, Metrics, Server, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

const MAX_VALUE: usize = 64 * 1024;

/// Request headers of a test case.
type Headers<'a> = &'a [(&'a str, &'a str)];
const LONG_TYPE: &str = "text/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A server and a router in front of its node (sharing the server's metrics).
/// Shards of the test node.
const SHARDS: u16 = 4;

struct TestNode {
    server: Server,
    router: Router,
    metrics: Arc<Metrics>,
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
            seed: Some(7),
            // Several shards whatever the machine: the API must not depend on them.
            shards: Some(SHARDS),
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let metrics = server.metrics();
        let router = router(HttpState {
            handle: server.handle(),
            metrics: metrics.clone(),
            max_value_size: MAX_VALUE,
            keys: None,
            listing_key: dynamo_server::http::listing::TokenKey::from_secret(
                &dynamo_server::secure::ClusterSecret::loopback_default(),
            ),
        });
        TestNode {
            server,
            router,
            metrics,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn call(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let response = self.send(b.body(Body::from(body.to_vec())).unwrap()).await;
        Reply::read(response).await
    }

    /// Where the server's own HTTP listener is (the same API on a real socket).
    fn addr(&self) -> SocketAddr {
        self.server.http_addr()
    }

    /// Stops the server, checking that the node thread lived to the end, shut down cleanly
    /// (its last commit and the engine's close did not fail) and is gone.
    async fn stop(self) {
        let handle = self.server.handle();
        handle.inspect(|_| ()).await.unwrap();
        self.server.shutdown().await;
        assert_eq!(self.metrics.storage_failures.get(), 0);
        assert!(matches!(
            handle.inspect(|_| ()).await,
            Err(HandleError::Stopped)
        ));
    }
}

/// A response, read whole.
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    async fn read(response: Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Reply {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn context(&self) -> String {
        self.header("x-dynamo-context")
            .expect("a context header")
            .to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a JSON error of this status and kind.
    fn assert_error(&self, status: StatusCode, kind: &str) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v = self.json();
        assert_eq!(v["error"], kind, "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

/// A `multipart/mixed` body parsed independently of the server's encoder: each part's
/// headers (lower-cased names) and body.
fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<(HashMap<String, String>, Vec<u8>)> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("a boundary")
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let positions: Vec<usize> = (0..text.len().saturating_sub(delimiter.len() - 1))
        .filter(|&i| text[i..].starts_with(delimiter.as_bytes()))
        .collect();
    assert!(positions.len() >= 2, "at least one part and the close");
    let last = *positions.last().unwrap();
    assert!(
        text[last + delimiter.len()..].starts_with(b"--"),
        "closing delimiter"
    );
    for w in positions.windows(2) {
        // Part: after "--boundary\r\n", up to the "\r\n" before the next delimiter.
        let start = w[0] + delimiter.len() + 2;
        let end = w[1] - 2;
        assert_eq!(&text[end..w[1]], b"\r\n");
        let part = &text[start..end];
        let split = part
            .windows(4)
            .position(|x| x == b"\r\n\r\n")
            .map(|p| (p, p + 4))
            .or_else(|| part.starts_with(b"\r\n").then_some((0, 2)))
            .expect("headers end");
        let headers = std::str::from_utf8(&part[..split.0])
            .unwrap()
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        parts.push((headers, part[split.1..].to_vec()));
    }
    parts
}

#[tokio::test]
async fn put_get_update_with_context() {
    let node = TestNode::start().await;
    let r = node
        .call(
            "PUT",
            "/buckets/b/keys/k",
            &[("content-type", "text/plain")],
            b"v1",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let put_ctx = r.context();

    let r = node.call("GET", "/buckets/b/keys/k", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"v1");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert!(r.header("x-dynamo-deleted").is_none());
    let ctx = r.context();
    assert!(!put_ctx.is_empty());

    // Update with the context: replaces v1, no sibling.
    let r = node
        .call(
            "PUT",
            "/buckets/b/keys/k?w=1",
            &[
                ("x-dynamo-context", &ctx),
                ("content-type", "application/json"),
            ],
            b"{\"v\":2}",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = node.call("GET", "/buckets/b/keys/k?r=1", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"{\"v\":2}");
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Same with JSON.
    let r = node
        .call(
            "GET",
            "/buckets/b/keys/k",
            &[("accept", "application/json")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["context"], r.context());
    assert_eq!(v["siblings"].as_array().unwrap().len(), 1);
    assert_eq!(v["siblings"][0]["value"], STANDARD.encode(b"{\"v\":2}"));
    assert_eq!(v["siblings"][0]["content_type"], "application/json");
    assert_eq!(v["siblings"][0]["deleted"], false);

    // returnbody answers like a read.
    let r = node
        .call(
            "PUT",
            "/buckets/b/keys/k?returnbody=true",
            &[("x-dynamo-context", v["context"].as_str().unwrap())],
            b"v3",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"v3");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.header("x-dynamo-context").is_some());

    // Binary, percent-encoded bucket and key.
    let r = node
        .call("PUT", "/buckets/b%2Fx/keys/%00%FF%20", &[], b"bin")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = node
        .call("GET", "/buckets/b%2Fx/keys/%00%FF%20", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"bin");
    let r = node
        .call("GET", "/buckets/b/keys/%00%FF%20", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(node.metrics.puts.get(), 4);
    assert_eq!(node.metrics.gets.get(), 5);
    assert_eq!(node.metrics.not_found.get(), 1);
    assert!(node.metrics.get_latency.count() == 5 && node.metrics.put_latency.count() == 4);
    node.stop().await;
}

#[tokio::test]
async fn blind_puts_make_siblings_and_the_merged_context_resolves_them() {
    let node = TestNode::start().await;
    // Two concurrent writers, neither with a context.
    let (a, b) = tokio::join!(
        node.call(
            "PUT",
            "/buckets/b/keys/s",
            &[("content-type", "text/plain")],
            b"from A"
        ),
        node.call(
            "PUT",
            "/buckets/b/keys/s",
            &[("content-type", "application/x-b")],
            b"from B"
        ),
    );
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(b.status, StatusCode::NO_CONTENT);

    // Default: 300 with a multipart/mixed body, one part per sibling with its type.
    let r = node.call("GET", "/buckets/b/keys/s", &[], b"").await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let ct = r.header("content-type").unwrap().to_owned();
    assert!(ct.starts_with("multipart/mixed; boundary="), "{ct}");
    let mut parts: Vec<(String, Vec<u8>)> = parse_multipart(&ct, &r.body)
        .into_iter()
        .map(|(h, b)| {
            assert!(!h.contains_key("x-dynamo-deleted"));
            (h["content-type"].clone(), b)
        })
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![
            ("application/x-b".to_owned(), b"from B".to_vec()),
            ("text/plain".to_owned(), b"from A".to_vec()),
        ]
    );
    let ctx = r.context();

    // JSON: the same siblings, status 300, same context.
    let r = node
        .call(
            "GET",
            "/buckets/b/keys/s",
            &[("accept", "application/json")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let v = r.json();
    assert_eq!(v["context"], ctx.as_str());
    let mut values: Vec<Vec<u8>> = v["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["deleted"], false);
            STANDARD.decode(s["value"].as_str().unwrap()).unwrap()
        })
        .collect();
    values.sort();
    assert_eq!(values, vec![b"from A".to_vec(), b"from B".to_vec()]);
    assert_eq!(node.metrics.sibling_reads.get(), 2);

    // Resolve with the merged context: one value again.
    let r = node
        .call(
            "PUT",
            "/buckets/b/keys/s",
            &[("x-dynamo-context", &ctx)],
            b"merged",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = node.call("GET", "/buckets/b/keys/s", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"merged");
    node.stop().await;
}

#[tokio::test]
async fn delete_leaves_a_tombstone_404_with_its_context() {
    let node = TestNode::start().await;
    let r = node.call("GET", "/buckets/b/keys/gone", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "absent");
    assert!(r.header("x-dynamo-deleted").is_none());

    let r = node.call("PUT", "/buckets/b/keys/gone", &[], b"x").await;
    let ctx = r.context();
    let r = node
        .call(
            "DELETE",
            "/buckets/b/keys/gone",
            &[("x-dynamo-context", &ctx)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.header("x-dynamo-context").is_some());

    let r = node.call("GET", "/buckets/b/keys/gone", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("x-dynamo-deleted"), Some("true"));
    let tomb_ctx = r.context();

    let r = node
        .call(
            "GET",
            "/buckets/b/keys/gone",
            &[("accept", "application/json")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.header("x-dynamo-deleted"), Some("true"));
    let v = r.json();
    assert_eq!(v["siblings"][0]["deleted"], true);

    // A write with the tombstone's context replaces it: no sibling.
    let r = node
        .call(
            "PUT",
            "/buckets/b/keys/gone",
            &[("x-dynamo-context", &tomb_ctx)],
            b"back",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = node.call("GET", "/buckets/b/keys/gone", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"back");

    // A blind delete becomes a sibling of the value: 300 with a tombstone part.
    let r = node.call("DELETE", "/buckets/b/keys/gone", &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = node.call("GET", "/buckets/b/keys/gone", &[], b"").await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let parts = parse_multipart(r.header("content-type").unwrap(), &r.body);
    assert_eq!(parts.len(), 2);
    let tomb: Vec<_> = parts
        .iter()
        .filter(|(h, _)| h.get("x-dynamo-deleted").map(String::as_str) == Some("true"))
        .collect();
    assert_eq!(tomb.len(), 1);
    assert!(tomb[0].1.is_empty());
    assert_eq!(node.metrics.deletes.get(), 2);
    assert_eq!(node.metrics.not_found.get(), 3);
    node.stop().await;
}

#[tokio::test]
async fn bad_input_is_answered_with_documented_errors() {
    let node = TestNode::start().await;
    let bad = StatusCode::BAD_REQUEST;
    let cases: &[(&str, &str, Headers)] = &[
        ("GET", "/buckets/b/keys/k?r=abc", &[]),
        ("GET", "/buckets/b/keys/k?r=0", &[]),
        ("GET", "/buckets/b/keys/k?r=300", &[]),
        ("GET", "/buckets/b/keys/k?r=2", &[]), // above n = 1: refused by the node
        ("GET", "/buckets/b/keys/k?x=1", &[]),
        ("GET", "/buckets/b/keys/k?r=1&r=1", &[]),
        ("GET", "/buckets/b/keys/k?w=1", &[]),
        ("GET", "/buckets/b/keys/%zz", &[]),
        ("PUT", "/buckets/b/keys/k?returnbody=yes", &[]),
        ("PUT", "/buckets/b/keys/k?r=1", &[]),
        (
            "PUT",
            "/buckets/b/keys/k",
            &[("x-dynamo-context", "not-a-context")],
        ),
        ("PUT", "/buckets/b/keys/k", &[("x-dynamo-context", "")]),
        ("PUT", "/buckets/b/keys/k", &[("x-dynamo-context", "AAAA")]),
        ("DELETE", "/buckets/b/keys/k", &[("x-dynamo-context", "!!")]),
        ("DELETE", "/buckets/b/keys/k?returnbody=true", &[]),
        ("PUT", "/buckets/b/keys/k", &[("content-type", "t\u{e9}")]),
        ("PUT", "/buckets/b/keys/k", &[("content-type", LONG_TYPE)]),
        ("GET", "/buckets/b/props?x=1", &[]),
        ("GET", "/ring?n=0", &[]),
        ("GET", "/stats?verbose=1", &[]),
        ("POST", "/admin/join", &[]),
        ("POST", "/admin/join?seed=n2", &[]),
        ("POST", "/admin/join?seed=n2@nowhere", &[]),
    ];
    for (i, (method, uri, headers)) in cases.iter().enumerate() {
        let r = node.call(method, uri, headers, b"x").await;
        r.assert_error(bad, "bad_request");
        assert_eq!(
            node.metrics.bad_requests.get(),
            i as u64 + 1,
            "{method} {uri}"
        );
    }
    // A key too long for the store.
    let long = "k".repeat(dynamo_core::node::MAX_CLIENT_KEY_LEN);
    let r = node
        .call("GET", &format!("/buckets/b/keys/{long}"), &[], b"")
        .await;
    r.assert_error(bad, "bad_request");

    // Oversized: announced by Content-Length...
    let big = vec![7u8; MAX_VALUE + 1];
    let r = node.call("PUT", "/buckets/b/keys/big", &[], &big).await;
    r.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    // ... or streamed without a length, over a real socket.
    let addr = node.addr();
    let mut request = b"PUT /buckets/b/keys/big HTTP/1.1\r\nHost: t\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for _ in 0..5 {
        request.extend_from_slice(format!("{:x}\r\n", MAX_VALUE / 4).as_bytes());
        request.extend(std::iter::repeat_n(b'z', MAX_VALUE / 4));
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_http(addr, &request).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("\"too_large\""), "{body}");
    // A huge Content-Length is refused before any of the body is sent.
    let (status, body) = raw_http(
        addr,
        b"PUT /buckets/b/keys/big HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\n",
    )
    .await;
    assert_eq!(status, 413, "{body}");
    // Garbage is not HTTP: the connection gets a 400 from the server, nothing panics.
    let (status, _) = raw_http(addr, b"\x00\x01garbage\r\n\r\n").await;
    assert_eq!(status, 400);
    // Exactly the maximum is accepted.
    let r = node
        .call("PUT", "/buckets/b/keys/big", &[], &big[..MAX_VALUE])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // n = 3 on a one-node ring: W = 2 cannot be met, a 503 saying so, refused before
    // anything is written (a read with R = 1 finds nothing).
    let r = node
        .call("PUT", "/buckets/wide/props", &[], br#"{"n":3,"r":2,"w":2}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = node.call("PUT", "/buckets/wide/keys/k", &[], b"v").await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let v = r.json();
    assert_eq!(
        (v["needed"].as_u64(), v["answered"].as_u64()),
        (Some(2), Some(0))
    );
    let r = node.call("GET", "/buckets/wide/keys/k", &[], b"").await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(node.metrics.unavailable.get(), 2);
    let r = node.call("GET", "/buckets/wide/keys/k?r=1", &[], b"").await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "the refused write was not applied"
    );

    // The durable-write quorum: 0 and 1 are met by the one node, 2 is above n, and it is a
    // number.
    for dw in ["0", "1"] {
        let r = node
            .call("PUT", &format!("/buckets/b/keys/dw{dw}?dw={dw}"), &[], b"v")
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "dw={dw}");
    }
    let r = node.call("PUT", "/buckets/b/keys/dw?dw=2", &[], b"v").await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let r = node
        .call("DELETE", "/buckets/b/keys/dw?dw=x", &[], b"")
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request");

    // Unknown route: JSON 404. Wrong method: 405.
    let r = node.call("GET", "/nope", &[], b"").await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = node.call("POST", "/buckets/b/keys/k", &[], b"").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    // The node still serves.
    let r = node.call("GET", "/buckets/b/keys/big", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), MAX_VALUE);
    node.stop().await;
}

/// Sends `request` on a new connection and reads one response: its status and the rest as
/// text (headers and body, up to the announced length).
async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading all of a refused body: a failed write
    // is expected then.
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + len {
                break;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test]
async fn bucket_props_get_and_put() {
    let node = TestNode::start().await;
    let r = node.call("GET", "/buckets/p/props", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        serde_json::json!({"n": 1, "r": 1, "w": 1, "versioning": "dvv", "durability": "all"})
    );
    let r = node
        .call(
            "PUT",
            "/buckets/p/props",
            &[("content-type", "application/json")],
            br#"{"versioning":"lww"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["versioning"], "lww");
    let r = node.call("GET", "/buckets/p/props", &[], b"").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"n": 1, "r": 1, "w": 1, "versioning": "lww", "durability": "all"})
    );
    // Another bucket keeps the defaults.
    let r = node.call("GET", "/buckets/q/props", &[], b"").await;
    assert_eq!(r.json()["versioning"], "dvv");
    // Durability is a property like the others.
    let r = node
        .call("PUT", "/buckets/p/props", &[], br#"{"durability":"none"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["durability"], "none");
    let r = node.call("GET", "/buckets/p/props", &[], b"").await;
    assert_eq!(r.json()["durability"], "none");
    assert_eq!(r.json()["versioning"], "lww");

    for body in [
        &br#"{"r":2}"#[..],          // r above n
        br#"{"n":0}"#,               // n = 0
        br#"{"n":300}"#,             // not a u8
        br#"{"versioning":"git"}"#,  // unknown mode
        br#"{"durability":"most"}"#, // unknown durability
        br#"{"colour":"blue"}"#,     // unknown field
        b"not json",
    ] {
        let r = node.call("PUT", "/buckets/p/props", &[], body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    // In lww mode, blind writes replace each other: no siblings.
    node.call("PUT", "/buckets/p/keys/k", &[], b"1").await;
    node.call("PUT", "/buckets/p/keys/k", &[], b"2").await;
    let r = node.call("GET", "/buckets/p/keys/k", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"2");
    node.stop().await;
}

#[tokio::test]
async fn cluster_default_props_get_and_put() {
    let node = TestNode::start().await;
    let r = node.call("GET", "/props", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        serde_json::json!({"n": 1, "r": 1, "w": 1, "versioning": "dvv", "durability": "all"})
    );
    // A bucket with its own properties keeps them when the defaults change.
    let r = node
        .call(
            "PUT",
            "/buckets/own/props",
            &[],
            br#"{"versioning":"vclock"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = node
        .call("PUT", "/props", &[], br#"{"versioning":"lww"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["versioning"], "lww");
    assert_eq!(
        node.call("GET", "/props", &[], b"").await.json()["versioning"],
        "lww"
    );
    let r = node.call("GET", "/buckets/any/props", &[], b"").await;
    assert_eq!(r.json()["versioning"], "lww", "buckets without their own");
    let r = node.call("GET", "/buckets/own/props", &[], b"").await;
    assert_eq!(r.json()["versioning"], "vclock");
    for body in [&br#"{"w":2}"#[..], br#"{"colour":"blue"}"#, b"{"] {
        let r = node.call("PUT", "/props", &[], body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let r = node.call("GET", "/props?x=1", &[], b"").await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    node.stop().await;
}

#[tokio::test]
async fn ping_stats_metrics_ring_members_and_admin() {
    let node = TestNode::start().await;
    let r = node.call("GET", "/ping", &[], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"OK"[..]));

    node.call("PUT", "/buckets/b/keys/k", &[], b"v").await;
    node.call("GET", "/buckets/b/keys/k", &[], b"").await;
    node.call("GET", "/buckets/b/keys/k?r=x", &[], b"").await;

    let r = node.call("GET", "/stats", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["node"], "n1");
    assert_eq!(v["status"], "valid");
    assert_eq!(v["members"], 1);
    assert_eq!(v["members_up"], 1);
    assert_eq!(v["open_operations"], 0);
    assert_eq!(v["hints_pending_total"], 0);
    assert_eq!(v["metrics"]["puts"], 1);
    assert_eq!(v["metrics"]["gets"], 2);
    assert_eq!(v["metrics"]["bad_requests"], 1);
    assert_eq!(v["metrics"]["get_latency_seconds"]["count"], 2);

    // Per shard: queue depth and the requests each took; keys spread over every shard.
    for i in 0..20 {
        let r = node
            .call("PUT", &format!("/buckets/spread/keys/k{i}"), &[], b"v")
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "k{i}");
    }
    let v = node.call("GET", "/stats", &[], b"").await.json();
    let shards = v["shards"].as_array().unwrap();
    assert_eq!(shards.len(), usize::from(SHARDS), "{v}");
    let requests: Vec<u64> = shards
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    assert!(
        requests.iter().all(|r| *r > 0),
        "20 keys reach every one of 4 shards: {requests:?}"
    );
    // 21 puts and the one get that reached the node (the bad one was refused before).
    assert_eq!(requests.iter().sum::<u64>(), 22, "{requests:?}");
    assert!(shards.iter().all(|s| s["queue_depth"].as_u64().is_some()));

    let r = node.call("GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.body).unwrap();
    for shard in 0..SHARDS {
        for name in ["dynamo_shard_queue_depth", "dynamo_shard_requests_total"] {
            let line = format!("{name}{{shard=\"{shard}\"}} ");
            assert!(text.contains(&line), "{line:?} missing from:\n{text}");
        }
    }
    for line in [
        "dynamo_puts_total 21\n",
        "dynamo_gets_total 2\n",
        "dynamo_bad_requests_total 1\n",
        "dynamo_get_latency_seconds_count 2\n",
        "# TYPE dynamo_open_operations gauge\n",
        "dynamo_members 1\n",
        "dynamo_hints_pending_total 0\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }

    let r = node.call("GET", "/ring", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let parts = v["partitions"].as_array().unwrap();
    assert_eq!(v["partition_count"].as_u64().unwrap() as usize, parts.len());
    assert!(!parts.is_empty());
    assert!(v["version"].as_u64().unwrap() >= 1);
    assert!(v["digest"].is_u64());
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["id"], i as u64);
        assert_eq!(p["owner"], "n1");
        assert_eq!(p["preference_list"], serde_json::json!(["n1"]));
    }
    assert_eq!(v["members"][0]["node"], "n1");
    assert_eq!(
        v["members"][0]["partitions"].as_u64().unwrap() as usize,
        parts.len()
    );

    let r = node.call("GET", "/members", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["node"], "n1");
    assert_eq!(v["members"].as_array().unwrap().len(), 1);
    assert_eq!(v["members"][0]["node"], "n1");
    assert_eq!(v["members"][0]["status"], "valid");
    assert_eq!(v["members"][0]["address"], node.server.advertised_addr());
    assert_eq!(v["members"][0]["up"], true);

    let r = node.call("GET", "/admin/status", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["node"], "n1");
    assert_eq!(v["status"], "valid");
    assert_eq!(v["members"][0]["node"], "n1");
    assert_eq!(v["transfers_pending"], 0);

    // A node alone in its ring may join another cluster: it becomes joining.
    let r = node
        .call("POST", "/admin/join?seed=n2@127.0.0.1:9", &[], b"")
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["status"], "joining");
    node.stop().await;
}

#[tokio::test]
async fn a_stopped_node_answers_503() {
    let node = TestNode::start().await;
    let router = node.router.clone();
    let metrics = node.metrics.clone();
    node.stop().await;
    let response = router
        .oneshot(
            Request::builder()
                .uri("/buckets/b/keys/k")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let r = Reply::read(response).await;
    r.assert_error(StatusCode::SERVICE_UNAVAILABLE, "stopped");
    assert_eq!(metrics.gets.get(), 1);
}

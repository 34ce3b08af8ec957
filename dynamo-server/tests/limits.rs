//! Connection limits on a real server on 127.0.0.1: idle and slow clients are closed within
//! the header timeout and counted, a full listener closes new connections at once, oversized
//! headers get `431`, a binary frame left unfinished is closed; and through all of it the node
//! keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dynamo_client::{Client, PutOptions};
use dynamo_server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The header timeout the servers here run with.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1_000);

async fn server(dir: &std::path::Path, max_connections: usize) -> Server {
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        binary_addr: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        engine: Some("mem".into()),
        max_connections,
        header_timeout_ms: u64::try_from(HEADER_TIMEOUT.as_millis()).unwrap(),
        ..ServerConfig::default()
    };
    Server::start(config).await.unwrap()
}

/// Waits until the server closes `stream` (reads end), answering anything before it; fails
/// after `within`. Returns what was read.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    got
}

async fn serves(server: &Server, key: &str) {
    let client = Client::new(&format!("http://{}", server.http_addr())).unwrap();
    client
        .put("b", key, "v", &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(
        client
            .get("b", key)
            .await
            .unwrap()
            .values()
            .collect::<Vec<_>>(),
        vec![&b"v"[..]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_do_not_stop_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 4_096).await;
    let mut idle = Vec::new();
    for _ in 0..1_000 {
        idle.push(TcpStream::connect(server.http_addr()).await.unwrap());
    }
    // Served beside them.
    serves(&server, "k").await;
    // Each idle one is closed once its headers are overdue, and counted.
    let start = Instant::now();
    for stream in &mut idle {
        closed_within(stream, HEADER_TIMEOUT * 10).await;
    }
    assert!(start.elapsed() < HEADER_TIMEOUT * 10);
    // Counted as each connection's task ends, just after its socket closed.
    let counted = Instant::now();
    while server.metrics().http_header_timeouts.get() < 1_000 {
        assert!(
            counted.elapsed() < HEADER_TIMEOUT * 10,
            "{} of 1,000 counted",
            server.metrics().http_header_timeouts.get()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    serves(&server, "k2").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_loris_is_closed_and_oversized_headers_get_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 4_096).await;
    let mut slow = TcpStream::connect(server.http_addr()).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let start = Instant::now();
    closed_within(&mut slow, HEADER_TIMEOUT * 5).await;
    assert!(start.elapsed() >= HEADER_TIMEOUT / 2);

    let mut big = TcpStream::connect(server.http_addr()).await.unwrap();
    let header = "a".repeat(100 * 1024);
    let request = format!("GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {header}\r\n\r\n");
    let _ = big.write_all(request.as_bytes()).await;
    let answer = closed_within(&mut big, HEADER_TIMEOUT * 5).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(80)])
    );
    let m = server.metrics();
    // Counted as each connection's task ends, just after its socket closed.
    let counted = Instant::now();
    while m.http_header_timeouts.get() < 1 || m.http_headers_too_large.get() < 1 {
        assert!(counted.elapsed() < HEADER_TIMEOUT * 10, "not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(m.http_headers_too_large.get(), 1);
    serves(&server, "k").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_listener_closes_new_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 3).await;
    for addr in [server.http_addr(), server.binary_addr().unwrap()] {
        let before = server.metrics().connections_refused.get();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        // The fourth is accepted and closed at once: well before any timeout.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        closed_within(&mut extra, HEADER_TIMEOUT / 2).await;
        assert_eq!(server.metrics().connections_refused.get(), before + 1);
        drop(held);
        // Once they are gone, new connections are served again.
        wait_served(addr).await;
    }
    server.shutdown().await;
}

/// Waits until a new connection to `addr` stays open (its listener has room again).
async fn wait_served(addr: SocketAddr) {
    let start = Instant::now();
    loop {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1];
        let open = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf))
            .await
            .is_err();
        if open {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no room again");
    }
}

#[tokio::test]
async fn an_unfinished_binary_frame_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), 4_096).await;
    let addr = server.binary_addr().unwrap();
    // Idle between frames is fine: still open after the timeout.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    assert!(
        tokio::time::timeout(HEADER_TIMEOUT * 2, idle.read(&mut buf))
            .await
            .is_err()
    );
    // A frame started and never finished is closed.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(&[0, 0, 1, 0, dynamo_protocol::VERSION])
        .await
        .unwrap();
    closed_within(&mut slow, HEADER_TIMEOUT * 5).await;
    server.shutdown().await;
}

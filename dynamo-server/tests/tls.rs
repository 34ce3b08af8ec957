//! TLS on the client ports. In process: a node with `tls_cert` and `tls_key` serves HTTP and
//! the binary protocol to clients that trust its CA, and to nobody else (no CA, another CA,
//! plain text, a silent connection), counting the failed handshakes. As real processes:
//! `dynamo up --tls --auth` starts a cluster that the `dynamo` CLI uses end to end with
//! `--ca` and a key, and refuses without the CA.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster_support::{DYNAMO, eventually, run_cli};
use dynamo_client::{
    BinaryClient, BinaryOptions, Client, ClientError, GetOptions, PutOptions, TlsConfig,
};
use dynamo_server::tls::LocalPki;
use dynamo_server::{Server, ServerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn hosts() -> Vec<String> {
    vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
}

/// One node on 127.0.0.1 with TLS on both client ports, a header timeout of `timeout_ms`.
async fn tls_node(dir: &Path, pki: &LocalPki, timeout_ms: u64) -> Server {
    let config = ServerConfig {
        http_addr: "127.0.0.1:0".into(),
        peer_addr: "127.0.0.1:0".into(),
        binary_addr: Some("127.0.0.1:0".into()),
        tls_cert: Some(pki.node_cert.clone()),
        tls_key: Some(pki.node_key.clone()),
        header_timeout_ms: timeout_ms,
        data_dir: Some(dir.join("n1")),
        engine: Some("mem".into()),
        ..ServerConfig::default()
    };
    Server::start(config).await.unwrap()
}

/// Waits until the node has counted at least `n` failed handshakes (the count follows the
/// client's failure by a moment: the server sees the connection end after the client does).
async fn failures_reach(server: &Server, n: u64) {
    let metrics = server.metrics();
    eventually(&format!("{n} failed TLS handshakes"), || {
        let seen = metrics.tls_handshake_failures.get();
        std::future::ready((seen >= n).then_some(()))
    })
    .await;
}

/// The whole chain of an error's causes, for matching on the TLS reason.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_node_serves_only_clients_that_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LocalPki::make_or_keep(&dir.path().join("tls"), &hosts()).unwrap();
    let server = tls_node(dir.path(), &pki, 10_000).await;
    let ca = TlsConfig::from_ca_file(&pki.ca_cert).unwrap();
    let port = server.http_addr().port();

    // HTTPS with the CA, by address and by name: both are in the certificate.
    for host in ["127.0.0.1", "localhost"] {
        let client = Client::builder(&format!("https://{host}:{port}"))
            .tls(ca.clone())
            .build()
            .unwrap();
        client
            .put("cart", host, "apples", &PutOptions::default())
            .await
            .unwrap();
        let read = client.get("cart", host).await.unwrap();
        assert_eq!(read.values().collect::<Vec<_>>(), vec![&b"apples"[..]]);
    }

    // The binary protocol over TLS reads what HTTPS wrote.
    let binary_addr = server.binary_addr().unwrap().to_string();
    let options = BinaryOptions {
        tls: Some(ca.clone()),
        ..BinaryOptions::default()
    };
    let binary = BinaryClient::connect_with(&binary_addr, options)
        .await
        .unwrap();
    let read = binary.get("cart", "localhost").await.unwrap();
    assert_eq!(read.values().collect::<Vec<_>>(), vec![&b"apples"[..]]);
    binary
        .put("cart", "binary", "pears", &PutOptions::default())
        .await
        .unwrap();
    assert_eq!(server.metrics().tls_handshake_failures.get(), 0);

    // Another CA: the handshake fails on the client's side, nothing is sent, counted.
    let other = tempfile::tempdir().unwrap();
    let other = LocalPki::make_or_keep(other.path(), &hosts()).unwrap();
    let stranger = Client::builder(&format!("https://127.0.0.1:{port}"))
        .tls(TlsConfig::from_ca_file(&other.ca_cert).unwrap())
        .build()
        .unwrap();
    let e = stranger
        .put("cart", "stranger", "x", &PutOptions::default())
        .await
        .unwrap_err();
    assert!(
        chain(&e).contains("certificate"),
        "expected a certificate error, got {}",
        chain(&e)
    );
    failures_reach(&server, 1).await;

    // Plain HTTP to the TLS port: no answer but a closed connection, counted.
    let plain = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
    assert!(matches!(
        plain.get("cart", "127.0.0.1").await,
        Err(ClientError::Transport(_))
    ));
    failures_reach(&server, 2).await;

    // The binary protocol in plain text, and over TLS with the wrong CA.
    // (The node's TLS alert, if it reads one, is not a frame: a protocol error.)
    let plain_binary = BinaryClient::connect(&binary_addr).await.unwrap();
    let e = plain_binary.get("cart", "localhost").await.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::ConnectionClosed | ClientError::Connection(_) | ClientError::Protocol(_)
        ),
        "{e}"
    );
    failures_reach(&server, 3).await;
    let wrong_ca = BinaryOptions {
        tls: Some(TlsConfig::from_ca_file(&other.ca_cert).unwrap()),
        ..BinaryOptions::default()
    };
    let e = BinaryClient::connect_with(&binary_addr, wrong_ca)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Tls { message } if message.contains("certificate")),
        "{e}"
    );
    failures_reach(&server, 4).await;

    // Nothing the refused clients sent was applied.
    let trusted = Client::builder(&format!("https://127.0.0.1:{port}"))
        .tls(ca)
        .build()
        .unwrap();
    let read = trusted
        .get_with("cart", "stranger", &GetOptions::default())
        .await
        .unwrap();
    assert!(read.is_not_found());
    let read = trusted.get("cart", "binary").await.unwrap();
    assert_eq!(read.values().collect::<Vec<_>>(), vec![&b"pears"[..]]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = LocalPki::make_or_keep(&dir.path().join("tls"), &hosts()).unwrap();
    let server = tls_node(dir.path(), &pki, 300).await;
    for addr in [server.http_addr(), server.binary_addr().unwrap()] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        // The server closes it: end of stream (or a reset), well before the test's deadline.
        let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut buf))
            .await
            .expect("the silent connection was not closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
    failures_reach(&server, 2).await;
    // A plain-text request after that still gets no answer, but the node serves TLS clients.
    let mut plain = TcpStream::connect(server.http_addr()).await.unwrap();
    plain
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "plain text answered");
    let client = Client::builder(&format!("https://{}", server.http_addr()))
        .tls(TlsConfig::from_ca_file(&pki.ca_cert).unwrap())
        .build()
        .unwrap();
    client.ping().await.unwrap();
    server.shutdown().await;
}

/// `dynamo up` as a child process; killed (and its nodes with it) when dropped.
struct Up {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Up {
    /// Starts `dynamo up` with `args` and waits for it to print `ready` (the last line it
    /// prints once its nodes answer); `None` if it exited first (a port already taken, say).
    async fn start(args: &[String], ready: &str) -> Option<Up> {
        let mut child = Command::new(DYNAMO)
            .arg("up")
            .args(args)
            .args(["--log", "warn"])
            .env_remove("RUST_LOG")
            .env_remove("DYNAMO_TOKEN")
            .env_remove("DYNAMO_CA")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut up = Up { child, lines };
        let ready = eventually("dynamo up to start its cluster or fail", || {
            let started = up.lines.lock().unwrap().iter().any(|l| l.contains(ready));
            let exited = up.child.try_wait().unwrap().is_some();
            std::future::ready((started || exited).then_some(started))
        })
        .await;
        ready.then_some(up)
    }

    /// The value of the printed `export NAME=value` line.
    fn exported(&self, name: &str) -> String {
        let prefix = format!("export {name}=");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {prefix} line in {:?}", self.lines.lock().unwrap()))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // SIGTERM: `up` stops its nodes cleanly; they also stop if it dies.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_from_dynamo_up_works_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cluster");
    // `up` takes consecutive ports; below the ephemeral range, so that the other tests'
    // port-0 sockets never hold them. A base already taken is retried elsewhere.
    let mut up = None;
    for attempt in 0..8u32 {
        let base = 15_000 + (std::process::id() * 7 + attempt * 1_000) % 14_000;
        let args: Vec<String> = ["--tls", "--auth", "--nodes", "3", "--engine", "mem"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain([
                "--data-dir".to_owned(),
                data.display().to_string(),
                "--http-port".to_owned(),
                base.to_string(),
                "--peer-port".to_owned(),
                (base + 10).to_string(),
                "--binary-port".to_owned(),
                (base + 20).to_string(),
            ])
            .collect();
        if let Some(started) = Up::start(&args, "export DYNAMO_TOKEN=").await {
            up = Some((started, base));
            break;
        }
    }
    let (up, base) = up.expect("dynamo up never started");
    let ca = up.exported("DYNAMO_CA");
    let token = up.exported("DYNAMO_TOKEN");
    assert_eq!(Path::new(&ca), data.join("tls").join("ca.pem"));
    let node = |i: u32| format!("https://127.0.0.1:{}", base + i);

    // Write through one node and read through another, with the CA and the key.
    let put = run_cli(&[
        "put",
        "demo",
        "greeting",
        "hello",
        "--node",
        &node(0),
        "--ca",
        &ca,
        "--token",
        &token,
    ])
    .await;
    assert!(put.status.success(), "put failed: {}", stderr(&put));
    let get = eventually("the value to be readable on another node", || {
        let (node, ca, token) = (node(1), ca.clone(), token.clone());
        async move {
            let get = run_cli(&[
                "get", "demo", "greeting", "--node", &node, "--ca", &ca, "--token", &token,
            ])
            .await;
            (get.status.success() && stdout(&get).trim() == "hello").then_some(get)
        }
    })
    .await;
    assert_eq!(stdout(&get).trim(), "hello");
    let status = run_cli(&[
        "admin",
        "status",
        "--node",
        &format!("https://localhost:{}", base + 2),
        "--ca",
        &ca,
        "--token",
        &token,
    ])
    .await;
    assert!(
        status.status.success(),
        "status failed: {}",
        stderr(&status)
    );
    assert!(stdout(&status).contains("n3"), "{}", stdout(&status));

    // Without the CA the node's certificate is not trusted; over plain HTTP nothing answers.
    let untrusted = run_cli(&[
        "get",
        "demo",
        "greeting",
        "--node",
        &node(0),
        "--token",
        &token,
    ])
    .await;
    assert!(!untrusted.status.success());
    assert!(
        stderr(&untrusted).contains("certificate"),
        "expected a certificate error: {}",
        stderr(&untrusted)
    );
    let plain = run_cli(&[
        "get",
        "demo",
        "greeting",
        "--node",
        &format!("http://127.0.0.1:{base}"),
        "--token",
        &token,
    ])
    .await;
    assert!(!plain.status.success());

    // The binary protocol of the same cluster speaks TLS too.
    let options = BinaryOptions {
        tls: Some(TlsConfig::from_ca_file(&ca).unwrap()),
        token: Some(token.clone()),
        ..BinaryOptions::default()
    };
    let binary = BinaryClient::connect_with(&format!("127.0.0.1:{}", base + 22), options)
        .await
        .unwrap();
    let read = binary.get("demo", "greeting").await.unwrap();
    assert_eq!(read.values().collect::<Vec<_>>(), vec![&b"hello"[..]]);
    drop(up);
}

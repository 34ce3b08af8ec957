//! The load generator over the Redis protocol, against a tiny RESP server written here (a
//! `HashMap` behind a TCP listener answering `GET`, `SET` and `PING`): closed loop with a
//! preload and a read-back, open loop at a fixed rate, error replies counted as failures, and
//! an unreachable node refused up front.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bench::loadgen::{LoadConfig, LoadError, Protocol, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake server stores and counts.
#[derive(Default)]
struct Store {
    data: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    gets: AtomicU64,
    sets: AtomicU64,
    /// Answer every `SET` with an error reply instead of storing.
    refuse_sets: bool,
}

/// Parses one request (an array of bulk strings) at the start of `buf`: its arguments and
/// the bytes it took, or `None` when incomplete. Malformed requests fail the test.
fn parse_request(buf: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
        let at = buf[from..].windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[from..from + at], from + at + 2))
    }
    fn number(bytes: &[u8]) -> usize {
        std::str::from_utf8(bytes).unwrap().parse().unwrap()
    }
    let (header, mut at) = line(buf, 0)?;
    assert_eq!(header[0], b'*', "not an array: {header:?}");
    let count = number(&header[1..]);
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let (header, next) = line(buf, at)?;
        assert_eq!(header[0], b'$', "not a bulk string: {header:?}");
        let len = number(&header[1..]);
        if buf.len() < next + len + 2 {
            return None;
        }
        assert_eq!(&buf[next + len..next + len + 2], b"\r\n");
        args.push(buf[next..next + len].to_vec());
        at = next + len + 2;
    }
    Some((args, at))
}

/// The reply to `args`.
fn answer(store: &Store, args: &[Vec<u8>]) -> Vec<u8> {
    match (args[0].to_ascii_uppercase().as_slice(), args.len()) {
        (b"PING", 1) => b"+PONG\r\n".to_vec(),
        (b"GET", 2) => {
            store.gets.fetch_add(1, Ordering::Relaxed);
            match store.data.lock().unwrap().get(&args[1]) {
                Some(value) => {
                    let mut reply = format!("${}\r\n", value.len()).into_bytes();
                    reply.extend_from_slice(value);
                    reply.extend_from_slice(b"\r\n");
                    reply
                }
                None => b"$-1\r\n".to_vec(),
            }
        }
        (b"SET", 3) if store.refuse_sets => b"-ERR read only replica\r\n".to_vec(),
        (b"SET", 3) => {
            store.sets.fetch_add(1, Ordering::Relaxed);
            store
                .data
                .lock()
                .unwrap()
                .insert(args[1].clone(), args[2].clone());
            b"+OK\r\n".to_vec()
        }
        _ => b"-ERR unknown command\r\n".to_vec(),
    }
}

/// Serves one connection until the client closes it.
async fn serve(mut socket: TcpStream, store: Arc<Store>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some((args, used)) = parse_request(&buf) {
            buf.drain(..used);
            let reply = answer(&store, &args);
            if socket.write_all(&reply).await.is_err() {
                return;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Starts the fake server on a port chosen by the OS: its address and its store.
async fn start_server(refuse_sets: bool) -> (String, Arc<Store>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let store = Arc::new(Store {
        refuse_sets,
        ..Store::default()
    });
    let shared = Arc::clone(&store);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, Arc::clone(&shared)));
        }
    });
    (address, store)
}

/// Closed loop, both address forms, a preload, Zipf keys, a read-back; the CPU of this
/// process (where the server runs) is watched as the node's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_closed_loop_reads_writes_and_verifies() {
    let (address, store) = start_server(false).await;
    let config = LoadConfig {
        protocol: Protocol::Resp,
        nodes: vec![address.clone(), format!("redis://{address}")],
        clients: 4,
        duration: Duration::from_millis(1000),
        warmup: Duration::from_millis(100),
        keys: 200,
        value_size: 128,
        read_ratio: 0.5,
        zipf: Some(0.9),
        preload: true,
        verify: true,
        seed: 3,
        cpu_pids: vec![std::process::id()],
        ..LoadConfig::default()
    };
    let report = run(&config).await.unwrap();
    let text = report.to_text();
    eprintln!("{text}");
    let m = &report.measured;
    assert!(m.get.ok() > 0 && m.put.ok() > 0, "{text}");
    assert_eq!(report.errors().total(), 0, "{text}");
    assert_eq!(report.preloaded, 200, "{text}");
    assert_eq!(report.preload_errors, 0, "{text}");
    // Every key was preloaded: no read finds nothing, every key is read back.
    assert_eq!(m.not_found, 0, "{text}");
    assert_eq!(m.max_siblings, 1, "{text}");
    assert_eq!(m.puts_with_context, 0, "{text}");
    let verify = report.verify.as_ref().unwrap();
    assert!(verify.passed(), "{text}");
    assert_eq!(verify.keys_checked, 200, "{text}");
    // The server saw at least what was reported (and the preload, warm-up and read-back).
    assert!(store.gets.load(Ordering::Relaxed) >= m.get.ok() + 200);
    assert!(store.sets.load(Ordering::Relaxed) >= m.put.ok() + 200);
    // Closed loop: no schedule.
    assert_eq!(report.intended_rate, None);
    assert_eq!(m.late_starts, 0);

    let json = report.to_json();
    assert_eq!(json["protocol"], "resp");
    assert_eq!(json["ops"], report.ops());
    assert!(json["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(json["intended_rate"].is_null());
    assert!(json["achieved_rate"].as_f64().unwrap() >= json["ops_per_sec"].as_f64().unwrap());
    assert_eq!(json["late_starts"], 0);
    assert!(json["get"]["latency_us"]["p99"].as_u64().unwrap() > 0);
    assert_eq!(json["verify"]["passed"], true);
    // CPU figures are there wherever /proc is.
    if std::path::Path::new("/proc/self/stat").exists() {
        assert!(json["node_cpu_us_per_op"].is_number(), "{json:#}");
        assert!(json["node_cores"].is_number(), "{json:#}");
        assert!(json["loadgen_cpu_us_per_op"].is_number(), "{json:#}");
        assert_eq!(json["cpu"]["node_pids"][0], std::process::id());
    }
}

/// Open loop at 1000 operations per second: the achieved rate is close to it, every
/// operation sent has its latency recorded (counted from its intended start), and the
/// read-back still passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_open_loop_keeps_the_intended_rate() {
    let (address, _store) = start_server(false).await;
    let rate = 1000.0;
    let config = LoadConfig {
        protocol: Protocol::Resp,
        nodes: vec![address],
        clients: 8,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(200),
        keys: 1000,
        value_size: 64,
        read_ratio: 0.7,
        verify: true,
        seed: 5,
        rate: Some(rate),
        ..LoadConfig::default()
    };
    let report = run(&config).await.unwrap();
    let text = report.to_text();
    eprintln!("{text}");
    assert_eq!(report.errors().total(), 0, "{text}");
    let achieved = report.achieved_rate();
    // At most the schedule's slots in the measured phase (1500, plus one at the edge) over at
    // least 1.5 s; at least 80% of them on a busy machine.
    assert!(
        (0.8 * rate..=1.01 * rate).contains(&achieved),
        "achieved {achieved} ops/s:\n{text}"
    );
    let m = &report.measured;
    let recorded = m.get.latency_us.count() + m.put.latency_us.count();
    assert_eq!(recorded, report.ops(), "{text}");
    assert!(recorded >= 1200, "{text}");
    assert!(m.get.latency_us.quantile(0.5) > 0, "{text}");
    assert!(report.verify.as_ref().unwrap().passed(), "{text}");
    // Reads of keys not written yet are successful reads of nothing.
    assert!(m.not_found > 0, "{text}");

    let json = report.to_json();
    assert_eq!(json["intended_rate"], rate);
    assert_eq!(json["achieved_rate"].as_f64().unwrap(), achieved);
    assert!(json["late_starts"].as_u64().unwrap() <= recorded);
    assert!(json["unsent_slots"].is_u64());
    assert!(text.contains("open loop: 1000 ops/s intended"), "{text}");
}

/// Error replies are failures of kind "other", with the server's message; reads still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_error_replies_are_failures() {
    let (address, store) = start_server(true).await;
    let config = LoadConfig {
        protocol: Protocol::Resp,
        nodes: vec![address],
        clients: 2,
        duration: Duration::from_millis(300),
        warmup: Duration::ZERO,
        keys: 50,
        read_ratio: 0.5,
        ..LoadConfig::default()
    };
    let report = run(&config).await.unwrap();
    let text = report.to_text();
    let m = &report.measured;
    assert_eq!(m.put.ok(), 0, "{text}");
    assert!(m.put.errors.other > 0, "{text}");
    assert_eq!(report.errors().total(), m.put.errors.other, "{text}");
    assert!(m.get.ok() > 0 && m.not_found == m.get.ok(), "{text}");
    let first = m.first_errors[2].as_deref().unwrap();
    assert!(first.contains("read only replica"), "{first}");
    assert_eq!(store.sets.load(Ordering::Relaxed), 0);
}

/// A RESP node where nothing listens is reported before any load.
#[tokio::test]
async fn resp_unreachable_node_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let config = LoadConfig {
        protocol: Protocol::Resp,
        nodes: vec![address],
        duration: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        ..LoadConfig::default()
    };
    let e = run(&config).await.unwrap_err();
    assert!(matches!(e, LoadError::UnreachableResp { .. }), "{e}");
}

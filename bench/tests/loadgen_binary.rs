//! The load generator over the binary protocol against a real three-node cluster started in
//! this process (`Server::start_with`, ports chosen by the OS, memory engine): it does work,
//! sees no failure, carries contexts as over HTTP, and every key it wrote reads back with only
//! values it wrote to that key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bench::loadgen::{LoadConfig, Protocol, WriteMode, run};
use dynamo_client::{BinaryClient, GetOptions, PutOptions};
use dynamo_server::{Listeners, Server, ServerConfig};

const DEADLINE: Duration = Duration::from_secs(20);

/// Starts `count` founders of one cluster on 127.0.0.1, each with a binary listener.
async fn start_cluster(count: usize, root: &std::path::Path) -> Vec<Server> {
    let mut listeners = Vec::new();
    for _ in 0..count {
        let any = ServerConfig {
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
            binary_addr: Some("127.0.0.1:0".into()),
            ..ServerConfig::default()
        };
        listeners.push(Listeners::bind(&any).await.unwrap());
    }
    let members: Vec<String> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| format!("n{}@{}", i + 1, l.peer.local_addr().unwrap()))
        .collect();
    let mut servers = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let config = ServerConfig {
            node_id: format!("n{}", i + 1),
            data_dir: Some(root.join(format!("n{}", i + 1))),
            engine: Some("mem".into()),
            members: members.clone(),
            seed: Some(i as u64),
            ..ServerConfig::default()
        };
        servers.push(Server::start_with(config, l).await.unwrap());
    }
    servers
}

/// Waits until a write through every node reaches all `count` replicas, so that the run does
/// not race the first peer connections.
async fn wait_ready(nodes: &[String], count: u8) {
    let start = Instant::now();
    for (i, node) in nodes.iter().enumerate() {
        let client = BinaryClient::connect(node).await.unwrap();
        let options = PutOptions {
            w: Some(count),
            ..PutOptions::default()
        };
        loop {
            let probe = match client.put("probe", format!("p{i}"), "x", &options).await {
                Ok(_) => client
                    .get_with("probe", format!("p{i}"), &GetOptions { r: Some(count) })
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if probe.is_ok() {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "cluster not ready: {probe:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Three nodes (N=3, R=W=2 by default), context mode, Zipf-popular keys, a preload: every key
/// is written and read back, over the binary protocol only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_context_mode_over_binary() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_cluster(3, dir.path()).await;
    let nodes: Vec<String> = servers
        .iter()
        .map(|s| s.binary_addr().unwrap().to_string())
        .collect();
    wait_ready(&nodes, 3).await;
    let config = LoadConfig {
        protocol: Protocol::Binary,
        nodes,
        clients: 6,
        duration: Duration::from_millis(1000),
        warmup: Duration::from_millis(100),
        keys: 200,
        value_size: 256,
        read_ratio: 0.5,
        mode: WriteMode::Context,
        zipf: Some(0.9),
        preload: true,
        verify: true,
        seed: 7,
        ..LoadConfig::default()
    };
    let report = run(&config).await.unwrap();
    let text = report.to_text();
    eprintln!("{text}");
    assert!(text.contains("binary"), "{text}");
    assert!(
        report.measured.get.ok() > 0 && report.measured.put.ok() > 0,
        "{text}"
    );
    assert_eq!(report.errors().total(), 0, "failures:\n{text}");
    assert_eq!(
        (report.preloaded, report.preload_errors),
        (200, 0),
        "{text}"
    );
    let verify = report.verify.as_ref().expect("verify was asked");
    assert!(verify.passed(), "read-back failed:\n{text}");
    assert_eq!(verify.keys_checked, 200, "{text}");
    assert_eq!(report.measured.not_found, 0, "{text}");
    // Context mode: after the preload every key has a context, so every write carries one.
    assert_eq!(
        report.measured.puts_with_context,
        report.measured.put.ok(),
        "{text}"
    );
    assert_eq!(report.to_json()["protocol"], "binary");
    for s in servers {
        s.shutdown().await;
    }
}

/// A binary address where nothing listens is reported before any load.
#[tokio::test]
async fn unreachable_binary_node_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = LoadConfig {
        protocol: Protocol::Binary,
        nodes: vec![addr.to_string()],
        duration: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        ..LoadConfig::default()
    };
    let e = run(&config).await.unwrap_err();
    assert!(e.to_string().contains(&addr.to_string()), "{e}");
}

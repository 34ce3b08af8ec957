//! The load generator against real clusters started in this process (`Server::start`, ports
//! chosen by the OS, data in a temporary directory): it does work, sees no failure, and every
//! key it wrote reads back with only values it wrote to that key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use bench::loadgen::{LoadConfig, LoadReport, Routing, WriteMode, run};
use dynamo_client::{Client, GetOptions, PutOptions};
use dynamo_server::{Listeners, Server, ServerConfig};

const DEADLINE: Duration = Duration::from_secs(20);

/// Starts `count` founders of one cluster on 127.0.0.1, each on `engine` under `root`.
async fn start_cluster(count: usize, engine: &str, root: &Path) -> Vec<Server> {
    let mut listeners = Vec::new();
    for _ in 0..count {
        let any = ServerConfig {
            http_addr: "127.0.0.1:0".into(),
            peer_addr: "127.0.0.1:0".into(),
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
            engine: Some(engine.into()),
            members: members.clone(),
            seed: Some(i as u64),
            ..ServerConfig::default()
        };
        servers.push(Server::start_with(config, l).await.unwrap());
    }
    servers
}

fn urls(servers: &[Server]) -> Vec<String> {
    servers
        .iter()
        .map(|s| format!("http://{}", s.http_addr()))
        .collect()
}

/// Waits until a write through every node reaches all `count` replicas, so that the run does
/// not race the first peer connections.
async fn wait_ready(nodes: &[String], count: u8) {
    let start = Instant::now();
    for (i, url) in nodes.iter().enumerate() {
        let client = Client::new(url).unwrap();
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

fn assert_clean(report: &LoadReport) {
    let text = report.to_text();
    assert!(report.ops() > 0, "no operation done:\n{text}");
    assert!(
        report.measured.get.ok() > 0 && report.measured.put.ok() > 0,
        "{text}"
    );
    assert_eq!(report.errors().total(), 0, "failures:\n{text}");
    assert_eq!(report.preload_errors, 0, "{text}");
    let verify = report.verify.as_ref().expect("verify was asked");
    assert!(verify.passed(), "read-back failed:\n{text}");
    assert!(verify.keys_checked > 0, "{text}");
    // The JSON rendering carries the same figures.
    let json = report.to_json();
    assert_eq!(json["ops"], report.ops());
    assert_eq!(json["errors"]["total"], 0);
    assert_eq!(json["verify"]["passed"], true);
}

/// Three nodes (N=3, R=W=2 by default), memory engine, context mode, Zipf-popular keys, a
/// preload: every key is written and read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_context_mode() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_cluster(3, "mem", dir.path()).await;
    let nodes = urls(&servers);
    wait_ready(&nodes, 3).await;
    let config = LoadConfig {
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
    eprintln!("{}", report.to_text());
    assert_clean(&report);
    assert_eq!(report.preloaded, 200);
    // Every key was preloaded, so every key is checked and no read finds nothing.
    let verify = report.verify.as_ref().unwrap();
    assert_eq!(verify.keys_checked, 200);
    assert_eq!(report.measured.not_found, 0, "{}", report.to_text());
    // Context mode: only writes that found no context yet are blind, and after a preload
    // every key has one.
    assert_eq!(
        report.measured.puts_with_context,
        report.measured.put.ok(),
        "{}",
        report.to_text()
    );
    for s in servers {
        s.shutdown().await;
    }
}

/// One node of the persistent `lsm` engine, blind writes with explicit quorums: two writes to
/// one key are siblings, and still each of them is a value written to that key. (500 keys: some
/// key is written twice, yet none nears the cap of 100 siblings, however fast the machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_blind_writes() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_cluster(1, "lsm", dir.path()).await;
    let nodes = urls(&servers);
    wait_ready(&nodes, 1).await;
    let config = LoadConfig {
        nodes,
        clients: 4,
        duration: Duration::from_millis(800),
        warmup: Duration::ZERO,
        keys: 500,
        value_size: 64,
        read_ratio: 0.3,
        mode: WriteMode::Blind,
        r: Some(1),
        w: Some(1),
        verify: true,
        seed: 11,
        ..LoadConfig::default()
    };
    let report = run(&config).await.unwrap();
    eprintln!("{}", report.to_text());
    assert_clean(&report);
    assert_eq!(report.measured.puts_with_context, 0);
    // Blind writes to one key are concurrent: the key keeps them all.
    assert!(
        report.verify.as_ref().unwrap().keys_with_siblings > 0,
        "{}",
        report.to_text()
    );
    for s in servers {
        s.shutdown().await;
    }
}

/// A node that does not answer is reported before any load.
#[tokio::test]
async fn unreachable_node_is_an_error() {
    // A port just freed: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = LoadConfig {
        nodes: vec![format!("http://{addr}")],
        duration: Duration::from_millis(100),
        timeout: Duration::from_secs(2),
        ..LoadConfig::default()
    };
    let e = run(&config).await.unwrap_err();
    assert!(e.to_string().contains("dynamo up"), "{e}");
}

/// Four nodes with N = 3: routed through any node, the requests for keys that node does not
/// store are forwarded; routed by the partition-aware client, none is, and the run is as
/// clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_aware_routing_forwards_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_cluster(4, "mem", dir.path()).await;
    let nodes = urls(&servers);
    wait_ready(&nodes, 3).await;
    let config = |routing| LoadConfig {
        nodes: nodes.clone(),
        routing,
        // Each run its own bucket: the read-back knows only its own run's writes.
        bucket: format!("routing-{routing}"),
        clients: 4,
        duration: Duration::from_millis(800),
        warmup: Duration::from_millis(100),
        keys: 200,
        value_size: 128,
        read_ratio: 0.5,
        preload: true,
        verify: true,
        seed: 3,
        ..LoadConfig::default()
    };
    let any = run(&config(Routing::Any)).await.unwrap();
    eprintln!("{}", any.to_text());
    assert_clean(&any);
    assert!(any.forwards.unwrap() > 0, "{}", any.to_text());
    let routed = run(&config(Routing::PartitionAware)).await.unwrap();
    eprintln!("{}", routed.to_text());
    assert_clean(&routed);
    assert_eq!(routed.forwards, Some(0), "{}", routed.to_text());
    assert_eq!(routed.to_json()["routing"], "partition-aware");
    for s in servers {
        s.shutdown().await;
    }
}

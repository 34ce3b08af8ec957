//! The partition-aware client against real node processes on 127.0.0.1: it learns every
//! node from one seed, sends each request to a coordinator of its key (no node forwards,
//! where a client of one node makes most requests forwarded), keeps working while a node is
//! killed or paused (SIGSTOP), and follows a ring change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use std::process::Command;
use std::time::Duration;

use cluster_support::{Cluster, eventually, run_cli};
use dynamo_client::{Client, ClusterClient, ClusterOptions, PutOptions};

/// Sum of a counter over the running nodes.
async fn total(clients: &[Client], name: &str) -> u64 {
    let mut sum = 0;
    for c in clients {
        if let Ok(stats) = c.stats().await {
            sum += stats["metrics"][name].as_u64().unwrap();
        }
    }
    sum
}

fn quick() -> ClusterOptions {
    ClusterOptions {
        attempt_timeout: Duration::from_millis(500),
        breaker_cooldown: Duration::from_millis(300),
        ..ClusterOptions::default()
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_to_coordinators_and_survive_a_dead_or_paused_node() {
    // Four nodes with N = 3: each node stores three quarters of the keys.
    let mut cluster = Cluster::start(4, "mem", &["--gossip-interval-ms", "200"]).await;
    let clients = cluster.clients();
    let seed = cluster.nodes[0].url();
    let routed = ClusterClient::connect(&[seed.as_str()], quick())
        .await
        .unwrap();
    // Every node is learned from the one seed (once gossip has carried every node's
    // endpoints to it: a node announces them in its own entry).
    let mut urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    urls.sort();
    eventually("the client to know every node", || {
        let (routed, urls) = (routed.clone(), urls.clone());
        async move {
            routed.refresh().await.ok()?;
            let mut known = routed.route("b", "k");
            known.sort();
            (known == urls).then_some(())
        }
    })
    .await;

    // Through the routing client, nothing is forwarded.
    let before = total(&clients, "forwards").await;
    for i in 0..60 {
        let key = format!("k{i}");
        routed
            .put("b", &key, format!("v{i}"), &PutOptions::default())
            .await
            .unwrap();
        let read = routed.get("b", &key).await.unwrap();
        assert_eq!(read.values().count(), 1);
    }
    assert_eq!(total(&clients, "forwards").await, before);
    // Through one node, the requests for keys it does not store are forwarded.
    for i in 0..60 {
        clients[0].get("b", format!("k{i}")).await.unwrap();
    }
    let forwarded = total(&clients, "forwards").await - before;
    assert!(forwarded > 0, "no request through n1 alone was forwarded");

    // Kill n2: every request still succeeds (a refused connection moves on at once).
    cluster.nodes[1].kill();
    for i in 0..40 {
        let key = format!("dead{i}");
        routed
            .put("b", &key, "v", &PutOptions::default())
            .await
            .unwrap_or_else(|e| panic!("write {key} with n2 dead: {e}"));
        routed.get("b", &key).await.unwrap();
    }

    // Pause n3 too. Its breaker opens at the first request that waits on it, after which
    // requests go to the other replicas: at most that first write has an unknown outcome.
    let paused = cluster.nodes[2].pid().unwrap();
    signal(paused, "-STOP");
    let mut failed = Vec::new();
    for i in 0..30 {
        let key = format!("p{i}");
        if let Err(e) = routed.put("b", &key, "v", &PutOptions::default()).await {
            failed.push(format!("write {key}: {e}"));
        }
        if let Err(e) = routed.get("b", &key).await {
            failed.push(format!("read {key}: {e}"));
        }
    }
    signal(paused, "-CONT");
    assert!(
        failed.len() <= 2,
        "{} requests failed with a node paused: {failed:?}",
        failed.len()
    );
    assert!(
        failed
            .iter()
            .all(|f| f.contains("outcome unknown") || f.starts_with("read")),
        "{failed:?}"
    );

    // n2 comes back: the client goes to it again once its breaker's probe sees it.
    cluster.nodes[1].restart().await;
    let n2 = cluster.nodes[1].url();
    let key = (0..100)
        .map(|i| format!("n2-{i}"))
        .find(|k| routed.route("b", k)[..1] == [n2.clone()])
        .unwrap();
    eventually("a request to n2 once it is back", || {
        let (routed, key, n2) = (routed.clone(), key.clone(), n2.clone());
        async move {
            routed
                .put("b", &key, "v", &PutOptions::default())
                .await
                .ok()?;
            (routed.route("b", &key)[0] == n2).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_change_is_noticed_from_the_answers() {
    let mut cluster = Cluster::start(2, "mem", &["--gossip-interval-ms", "200"]).await;
    let seed = cluster.nodes[0].url();
    let routed = ClusterClient::connect(&[seed.as_str()], quick())
        .await
        .unwrap();
    let first = routed.ring_version();
    assert!(first > 0);
    // The CLI takes several nodes and gets through when the first is unreachable.
    let nodes = format!("http://127.0.0.1:1,{seed}");
    let put = run_cli(&["put", "b", "cli", "hello", "--node", &nodes]).await;
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let get = run_cli(&["get", "b", "cli", "--node", &nodes]).await;
    assert_eq!(String::from_utf8_lossy(&get.stdout), "hello");
    // A third node joins through n1.
    let seeds = vec!["--seeds".to_owned(), cluster.nodes[0].peer_spec()];
    let url = cluster.add("n3", &seeds).await.url();
    eventually("the client to route to the new node", || {
        let routed = routed.clone();
        let url = url.clone();
        async move {
            // Any answer carries the ring version; a newer one makes the client refetch.
            routed.get("b", "k").await.ok()?;
            let knows = (0..50).any(|i| routed.route("b", format!("k{i}")).contains(&url));
            (routed.ring_version() > first && knows).then_some(())
        }
    })
    .await;
}

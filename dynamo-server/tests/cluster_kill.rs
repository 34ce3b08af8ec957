//! SIGKILL one node of a real 4-node cluster (N = 3, R = W = 2, engine lsm) in the middle of
//! a stream of writes, restart it on its data directory, and check that nothing acknowledged
//! was lost:
//!
//! - while it is down, writes keep succeeding (a few around the kill may fail: counted) and
//!   the nodes standing in for it keep hints;
//! - once it is back, every hint is delivered (`hints_pending` 0 on every node);
//! - every key written reads back with R = 3 as exactly the acknowledged value, in a pass in
//!   which no replica needed a read repair (all replicas already agreed);
//! - after a clean stop, the data directories themselves, opened with the engine and decoded
//!   with dynamo-core's storage-key and record functions, hold every acknowledged key on each
//!   of its three replicas (and nowhere else), with identical records, and no hint is left.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cluster_support::{Cluster, eventually, read_store};
use dynamo_client::{Client, GetOptions, PutOptions};

const BUCKET: &str = "b";
const WRITERS: usize = 4;
/// The node killed and restarted (index into the cluster's nodes).
const VICTIM: usize = 2;

/// What the writers share.
#[derive(Default)]
struct Log {
    /// Acknowledged writes: key → value.
    acked: Mutex<BTreeMap<String, String>>,
    /// Writes that failed: key → error.
    failed: Mutex<BTreeMap<String, String>>,
    /// Acknowledgements so far.
    acks: AtomicUsize,
    /// Writers leave the victim alone while this is set.
    victim_down: AtomicBool,
    /// Writers stop when this is set.
    stop: AtomicBool,
}

/// Writes distinct keys through the nodes in turn (skipping the victim while it is down),
/// recording each outcome.
async fn writer(t: usize, clients: Vec<Client>, log: Arc<Log>) {
    let options = PutOptions {
        w: Some(2),
        ..PutOptions::default()
    };
    let mut i = 0usize;
    while !log.stop.load(Ordering::SeqCst) {
        let node = (t + i) % clients.len();
        if node == VICTIM && log.victim_down.load(Ordering::SeqCst) {
            i += 1;
            continue;
        }
        let key = format!("w{t}-{i:05}");
        let value = format!("value {t} {i} via n{}", node + 1);
        match clients[node]
            .put(BUCKET, &key, value.clone(), &options)
            .await
        {
            Ok(_) => {
                log.acked.lock().unwrap().insert(key, value);
                log.acks.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                log.failed.lock().unwrap().insert(key, e.to_string());
            }
        }
        i += 1;
    }
}

/// Waits until `n` more writes than `from` were acknowledged.
async fn acks_reach(log: &Log, n: usize, what: &str) {
    eventually(what, || {
        std::future::ready((log.acks.load(Ordering::SeqCst) >= n).then_some(()))
    })
    .await;
}

/// Total of a metric over every node.
async fn metric_total(clients: &[Client], name: &str) -> u64 {
    let mut total = 0;
    for c in clients {
        let stats = c.stats().await.unwrap();
        total += stats["metrics"][name].as_u64().unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(4, "lsm", &["--n", "3", "--r", "2", "--w", "2"]).await;
    let clients = cluster.clients();
    let victim_id = cluster.nodes[VICTIM].id.clone();
    let log = Arc::new(Log::default());
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| tokio::spawn(writer(t, clients.clone(), Arc::clone(&log))))
        .collect();

    // Phase 1: all four nodes up.
    acks_reach(&log, 100, "100 acknowledged writes before the kill").await;
    cluster.nodes[VICTIM].kill();
    log.victim_down.store(true, Ordering::SeqCst);
    let killed_at = Instant::now();
    let acks_at_kill = log.acks.load(Ordering::SeqCst);

    // Phase 2: the victim is down. Writes keep being acknowledged, and once the others
    // notice, they keep hints for it.
    let others: Vec<Client> = clients
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != VICTIM)
        .map(|(_, c)| c.clone())
        .collect();
    acks_reach(
        &log,
        acks_at_kill + 150,
        "150 writes acknowledged without the victim",
    )
    .await;
    let hinted = eventually("hints kept for the victim", || {
        let others = others.clone();
        let victim_id = victim_id.clone();
        async move {
            let mut total = 0;
            for c in &others {
                total += c
                    .status()
                    .await
                    .ok()?
                    .hints_pending
                    .get(&victim_id)
                    .copied()
                    .unwrap_or(0);
            }
            (total > 0).then_some(total)
        }
    })
    .await;
    let down_for = killed_at.elapsed();
    let acks_while_down = log.acks.load(Ordering::SeqCst) - acks_at_kill;
    let failed_while_down = log.failed.lock().unwrap().len();

    // Phase 3: the victim comes back on its data directory and addresses.
    cluster.nodes[VICTIM].restart().await;
    log.victim_down.store(false, Ordering::SeqCst);
    let acks_at_restart = log.acks.load(Ordering::SeqCst);
    acks_reach(&log, acks_at_restart + 100, "100 writes after the restart").await;
    log.stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = log.acked.lock().unwrap().clone();
    let failed = log.failed.lock().unwrap().clone();
    eprintln!(
        "writes: {} acknowledged ({acks_while_down} in the {down_for:?} the victim was down, \
         {hinted} hints seen), {} failed ({failed_while_down} by the end of the downtime)",
        acked.len(),
        failed.len(),
    );
    for (key, error) in failed.iter().take(10) {
        eprintln!("  failed {key}: {error}");
    }
    // Most writes succeed even around the kill: failures are the writes in flight to or
    // through the victim, and those racing its detection.
    assert!(failed.len() * 4 < acked.len(), "{} failed", failed.len());

    // Every node sees every other up again, and every hint is delivered.
    cluster.wait_converged(4).await;
    eventually("no hint pending on any node", || {
        let clients = clients.clone();
        async move {
            for c in &clients {
                if c.status().await.ok()?.hints_total() > 0 {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(metric_total(&clients, "hints_delivered").await >= hinted as u64);

    // Every key, acknowledged or not, read with R = 3 (every replica answers) until a whole
    // pass needs no read repair: then every replica of every key holds the same record.
    let keys: Vec<String> = acked.keys().chain(failed.keys()).cloned().collect();
    let mut passes = 0;
    eventually("a pass of R=3 reads without a read repair", || {
        let clients = clients.clone();
        let keys = keys.clone();
        let acked = acked.clone();
        passes += 1;
        async move {
            let before = metric_total(&clients, "read_repairs").await;
            let mut tasks = Vec::new();
            for (t, chunk) in keys.chunks(keys.len().div_ceil(4)).enumerate() {
                let chunk = chunk.to_vec();
                let clients = clients.clone();
                let acked = acked.clone();
                tasks.push(tokio::spawn(async move {
                    let mut all_read = true;
                    for (i, key) in chunk.iter().enumerate() {
                        let c = &clients[(t + i) % clients.len()];
                        let Ok(read) = c.get_with(BUCKET, key, &GetOptions { r: Some(3) }).await
                        else {
                            all_read = false;
                            continue;
                        };
                        let got: Vec<&[u8]> = read.values().map(|v| &v[..]).collect();
                        match acked.get(key) {
                            Some(value) => {
                                assert_eq!(got, [value.as_bytes()], "acknowledged {key} lost")
                            }
                            // A failed write may or may not have landed, never twice.
                            None => assert!(got.len() <= 1, "{key}: {got:?}"),
                        }
                    }
                    all_read
                }));
            }
            let mut all_read = true;
            for t in tasks {
                all_read &= t.await.unwrap();
            }
            let after = metric_total(&clients, "read_repairs").await;
            (all_read && after == before).then_some(())
        }
    })
    .await;
    eprintln!("{} keys read back in {passes} pass(es)", keys.len());

    // The ring, to know each key's replicas, then a clean stop.
    let ring = clients[0].ring(Some(3)).await.unwrap();
    let preference: BTreeMap<u32, Vec<String>> = ring
        .partitions
        .iter()
        .map(|p| (p.id, p.preference_list.clone()))
        .collect();
    let ring_config = dynamo_core::ring::RingConfig::new(ring.partition_count).unwrap();
    cluster.stop_all().await;

    // The data directories, read directly.
    let dumps: BTreeMap<String, _> = cluster
        .nodes
        .iter()
        .map(|n| (n.id.clone(), read_store(&n.data_dir, "lsm")))
        .collect();
    for (node, dump) in &dumps {
        assert_eq!(dump.hints, 0, "{node} still keeps hints");
    }
    let mut stored: BTreeSet<String> = BTreeSet::new();
    for dump in dumps.values() {
        for (bucket, key) in dump.data.keys() {
            if bucket == BUCKET.as_bytes() {
                stored.insert(String::from_utf8(key.clone()).unwrap());
            }
        }
    }
    for key in &stored {
        assert!(
            acked.contains_key(key) || failed.contains_key(key),
            "{key} was never written"
        );
    }
    for key in acked.keys() {
        assert!(stored.contains(key), "acknowledged {key} is on no disk");
    }
    for key in &stored {
        let partition = ring_config.partition_of(BUCKET.as_bytes(), key.as_bytes());
        let replicas = &preference[&partition.0];
        assert_eq!(replicas.len(), 3);
        let storage_key = (BUCKET.as_bytes().to_vec(), key.as_bytes().to_vec());
        let records: Vec<_> = replicas
            .iter()
            .map(|r| {
                dumps[r]
                    .data
                    .get(&storage_key)
                    .unwrap_or_else(|| panic!("{key} missing on its replica {r}"))
            })
            .collect();
        for (r, record) in replicas.iter().zip(&records).skip(1) {
            assert_eq!(
                *record, records[0],
                "{key}: replica {r} differs from {}",
                replicas[0]
            );
        }
        let live: Vec<&[u8]> = records[0]
            .live()
            .filter_map(|s| s.data())
            .map(|b| &b[..])
            .collect();
        if let Some(value) = acked.get(key) {
            assert_eq!(live, [value.as_bytes()], "{key} on disk");
        }
        for (node, dump) in &dumps {
            if !replicas.contains(node) {
                assert!(
                    !dump.data.contains_key(&storage_key),
                    "{key} stored on {node}, not one of its replicas {replicas:?}"
                );
            }
        }
    }
    eprintln!(
        "{} keys on disk, each identical on its 3 replicas",
        stored.len()
    );
}

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

use std::collections::BTreeMap;
use std::time::Instant;

use cluster_support::{
    Cluster, Writers, check_stores, eventually, metric_total, read_back_until_no_repair, read_store,
};
use dynamo_client::Client;

const BUCKET: &str = "b";
/// The node killed and restarted (index into the cluster's nodes).
const VICTIM: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_writes_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(4, "lsm", &["--n", "3", "--r", "2", "--w", "2"]).await;
    let clients = cluster.clients();
    let victim_id = cluster.nodes[VICTIM].id.clone();
    // Four writers, through every node in turn.
    let writers = Writers::start(4, clients.clone(), BUCKET, 2, 0);

    // Phase 1: all four nodes up.
    writers
        .wait_more(100, "100 acknowledged writes before the kill")
        .await;
    cluster.nodes[VICTIM].kill();
    writers.pause(VICTIM, true);
    let killed_at = Instant::now();
    let acks_at_kill = writers.acks();

    // Phase 2: the victim is down. Writes keep being acknowledged, and once the others
    // notice, they keep hints for it.
    let others: Vec<Client> = clients
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != VICTIM)
        .map(|(_, c)| c.clone())
        .collect();
    writers
        .wait_more(150, "150 writes acknowledged without the victim")
        .await;
    let hinted = eventually("hints kept for the victim", || {
        let others = others.clone();
        let victim_id = victim_id.clone();
        async move {
            let mut total = 0;
            for c in &others {
                let status = c.status().await.ok()?;
                total += status.hints_pending.get(&victim_id).copied().unwrap_or(0);
            }
            (total > 0).then_some(total)
        }
    })
    .await;
    let down_for = killed_at.elapsed();
    let acks_while_down = writers.acks() - acks_at_kill;
    let failed_while_down = writers.failures();

    // Phase 3: the victim comes back on its data directory and addresses.
    cluster.nodes[VICTIM].restart().await;
    writers.pause(VICTIM, false);
    writers.wait_more(100, "100 writes after the restart").await;
    let written = writers.stop().await;
    eprintln!(
        "writes: {} acknowledged ({acks_while_down} in the {down_for:?} the victim was down, \
         {hinted} hints seen), {} failed ({failed_while_down} by the end of the downtime)",
        written.acked.len(),
        written.failed.len(),
    );
    for (key, error) in written.failed.iter().take(10) {
        eprintln!("  failed {key}: {error}");
    }
    // Most writes succeed even around the kill: failures are the writes in flight to or
    // through the victim, and those racing its detection.
    assert!(
        written.failed.len() * 4 < written.acked.len(),
        "{} failed",
        written.failed.len()
    );

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
    let passes = read_back_until_no_repair(&clients, BUCKET, &written, 3).await;
    eprintln!(
        "{} keys read back in {passes} pass(es)",
        written.keys().len()
    );

    // The ring, to know each key's replicas, then a clean stop, and the data directories
    // read directly.
    let ring = clients[0].ring(Some(3)).await.unwrap();
    cluster.stop_all().await;
    let dumps: BTreeMap<String, _> = cluster
        .nodes
        .iter()
        .map(|n| (n.id.clone(), read_store(&n.data_dir, "lsm")))
        .collect();
    let stored = check_stores(&dumps, &ring, BUCKET, &written);
    eprintln!("{stored} keys on disk, each identical on its 3 replicas");
}

//! The real `dynamo_core::Node` in the simulator, through the adapter of `dynamo_sim::dynamo`:
//! the plumbing works (requests answered, replicas written, restarts through the factory),
//! and the grow-set workload runs against it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use dynamo_core::Node;
use dynamo_core::NodeId;
use dynamo_core::proto::{ClientRequest, ClientResponse};
use dynamo_core::version::{ContentType, Context};
use dynamo_sim::check::convergence::{check_replicas_agree, run_until_converged};
use dynamo_sim::check::growset::{GrowSet, GrowSetConfig};
use dynamo_sim::dynamo::{default_config, node_factory};
use dynamo_sim::{HistoryMode, NetConfig, SharedMemEngine, Sim, SimConfig, StartKind, Summary};

type Real = Node<SharedMemEngine>;

fn cluster(config: SimConfig, n: usize) -> Sim<Real> {
    let mut sim = Sim::new(config);
    for i in 0..n {
        let id = NodeId::new(format!("n{i}")).unwrap();
        sim.add_node(id, node_factory(default_config).unwrap());
    }
    sim.start_all();
    assert_eq!(sim.up_nodes().len(), n, "{}", sim.history().render());
    sim
}

fn put(key: &str, value: &str) -> ClientRequest {
    ClientRequest::Put {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        context: Context::default(),
        value: Bytes::copy_from_slice(value.as_bytes()),
        content_type: ContentType::octet_stream(),
        w: None,
        return_body: false,
    }
}

fn get(key: &str) -> ClientRequest {
    ClientRequest::Get {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::copy_from_slice(key.as_bytes()),
        r: None,
    }
}

#[test]
fn put_get_and_three_replicas() {
    let mut sim = cluster(SimConfig::new(1), 4);
    let w = sim.submit(0, put("k", "v"));
    sim.run_for(500);
    let r = sim.submit(3, get("k"));
    sim.run_for(500);
    let done = sim.take_completions();
    let result = |id| done.iter().find(|c| c.id == id).map(|c| c.result.clone());
    assert!(
        matches!(result(w), Some(Ok(ClientResponse::Put(Ok(_))))),
        "{:?}",
        result(w)
    );
    match result(r) {
        Some(Ok(ClientResponse::Get(Ok(read)))) => {
            let values: Vec<&Bytes> = read.values().collect();
            assert_eq!(values, vec![&Bytes::from_static(b"v")]);
        }
        other => panic!("{other:?}"),
    }
    let took = run_until_converged(&mut sim, 5_000, 50, |d| check_replicas_agree(d, Some(3)));
    assert!(took.is_ok(), "{took:?}");
}

#[test]
fn restart_keeps_acknowledged_writes() {
    let mut sim = cluster(SimConfig::new(2), 3);
    let w = sim.submit(0, put("k", "v"));
    sim.run_for(500);
    let done = sim.take_completions();
    assert_eq!(done[0].id, w);
    assert!(matches!(done[0].result, Ok(ClientResponse::Put(Ok(_)))));
    for kind in [StartKind::AfterCrash, StartKind::Restart] {
        sim.restart(0, kind);
        let dump = &sim.dumps()[0].1;
        assert_eq!(dump.data.len(), 1, "{kind:?}: {dump:?}");
    }
    sim.restart(0, StartKind::Wiped);
    assert!(sim.dumps()[0].1.data.is_empty());
}

/// Grow-set on 3 real nodes (N=3, R=W=2) with loss, duplication and reordering; no partition
/// and no crash, so that the node's mechanisms still in progress (hints, anti-entropy) are not
/// needed for convergence.
fn grow_set(seed: u64) -> Result<Summary, String> {
    let mut config = SimConfig::new(seed);
    config.history = HistoryMode::Digest;
    config.net = NetConfig {
        min_delay: 1,
        max_delay: 10,
        loss_per_million: 0,
        duplicate_per_million: 50_000,
    };
    let mut sim = cluster(config, 3);
    let mut grow = GrowSet::new(
        GrowSetConfig {
            clients: 4,
            keys: 2,
            stop_at: 3_000,
            ..GrowSetConfig::default()
        },
        &mut sim,
    );
    grow.start(&mut sim);
    grow.run(&mut sim, 3_000);
    let report = grow.final_check(&mut sim, 5_000);
    let mut summary = sim.summary();
    report.fill(&mut summary);
    report.check()?;
    Ok(summary)
}

#[test]
fn grow_set_on_real_nodes() {
    let report = dynamo_sim::sweep(dynamo_sim::seeds_from_env(3), grow_set);
    let summary = report.into_result().unwrap_or_else(|e| panic!("{e}"));
    println!("real nodes, grow-set, duplication:\n{summary}");
    assert!(summary.acknowledged_writes > 50, "{summary}");
}

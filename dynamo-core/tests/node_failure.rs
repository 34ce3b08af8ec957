#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The minimal failure view: silent peers are marked down, probed, and marked up again.

mod node_support;

use dynamo_core::NodeEvent;
use dynamo_core::node::BucketProps;
use dynamo_core::version::Context;
use node_support::*;

fn pings_to(c: &Cluster<engine_mem::MemEngine>, from: &str, to: &str) -> usize {
    c.history
        .iter()
        .filter(|h| {
            h.contains(&format!(
                " {from} -> Send {{ to: NodeId(\"{to}\"), message: Ping"
            ))
        })
        .count()
}

#[test]
fn a_silent_peer_is_marked_down_probed_and_marked_up_when_it_answers() {
    let mut c = Cluster::mem(3, 2, BucketProps::default());
    c.cut.insert(id("n3"));
    c.put("n1", "k", "v", Context::new()).unwrap();
    assert!(c.node("n1").failure_detector().is_up(&id("n3")));
    c.advance(1_000);
    assert!(!c.node("n1").failure_detector().is_up(&id("n3")));
    assert!(
        c.events
            .contains(&(id("n1"), NodeEvent::PeerDown(id("n3"))))
    );

    // While it stays silent it is pinged once per probe interval.
    for _ in 0..50 {
        c.advance(100);
    }
    let pings = pings_to(&c, "n1", "n3");
    assert!((4..=6).contains(&pings), "{pings} pings in 5 s");

    // Once reachable, the next probe's pong marks it up.
    c.cut.clear();
    for _ in 0..10 {
        c.advance(100);
    }
    assert!(c.node("n1").failure_detector().is_up(&id("n3")));
    assert!(c.events.contains(&(id("n1"), NodeEvent::PeerUp(id("n3")))));
    assert_eq!(
        c.node("n1").failure_detector().next_deadline(),
        None,
        "no probe pending once everyone is up"
    );
    let before = pings_to(&c, "n1", "n3");
    c.advance(5_000);
    assert_eq!(pings_to(&c, "n1", "n3"), before, "no probes once up");
}

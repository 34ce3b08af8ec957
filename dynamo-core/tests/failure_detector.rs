//! The local failure detector as a state machine: down after `threshold` consecutive
//! timeouts, up on any message, probes of down peers every `probe_interval`, pings timed out
//! by the detector itself, deterministic deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dynamo_core::failure::{FailureConfig, FailureDetector, FailureEvent, PingRequest};
use dynamo_core::{NodeId, Timestamp};

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn t(ms: u64) -> Timestamp {
    Timestamp(ms)
}

fn config(threshold: u32) -> FailureConfig {
    FailureConfig {
        threshold,
        probe_interval: Duration::from_millis(1_000),
        ping_timeout: Duration::from_millis(300),
    }
}

#[test]
fn unknown_peers_are_up_and_nothing_is_due() {
    let fd = FailureDetector::new(FailureConfig::default());
    assert_eq!(fd.config().threshold, 2);
    assert!(fd.is_up(&id("x")));
    assert_eq!(fd.down_peers().count(), 0);
    assert_eq!(fd.next_deadline(), None);
}

#[test]
fn down_after_threshold_consecutive_timeouts() {
    for threshold in 1..=4 {
        let b = id("b");
        let mut fd = FailureDetector::new(config(threshold));
        fd.request_sent(&b, t(0));
        for i in 1..threshold {
            assert_eq!(fd.timed_out(&b, t(u64::from(i) * 10)), None);
            assert!(fd.is_up(&b));
        }
        assert_eq!(
            fd.timed_out(&b, t(100)),
            Some(FailureEvent::Down(b.clone()))
        );
        assert!(!fd.is_up(&b));
        assert_eq!(
            fd.down_peers().cloned().collect::<Vec<_>>(),
            vec![b.clone()]
        );
        let h = fd.health(&b).unwrap();
        assert_eq!(h.down_since, Some(t(100)));
        assert_eq!(h.consecutive_timeouts, threshold);
        assert_eq!(h.last_sent, Some(t(0)));
        // Further timeouts raise no second event.
        assert_eq!(fd.timed_out(&b, t(200)), None);
        assert!(!fd.is_up(&b));
    }
}

#[test]
fn an_answer_resets_the_count() {
    let b = id("b");
    let mut fd = FailureDetector::new(config(2));
    assert_eq!(fd.timed_out(&b, t(10)), None);
    assert_eq!(fd.request_answered(&b, t(20)), None);
    assert_eq!(fd.timed_out(&b, t(30)), None, "not consecutive");
    assert!(fd.is_up(&b));
    assert_eq!(fd.timed_out(&b, t(40)), Some(FailureEvent::Down(b.clone())));
    // A threshold of 0 means 1.
    let mut fd = FailureDetector::new(config(0));
    assert_eq!(fd.config().threshold, 1);
    assert_eq!(fd.timed_out(&b, t(1)), Some(FailureEvent::Down(b)));
}

#[test]
fn up_again_on_any_message() {
    let (b, c) = (id("b"), id("c"));
    let mut fd = FailureDetector::new(config(1));
    fd.timed_out(&b, t(0));
    fd.timed_out(&c, t(0));
    assert_eq!(fd.down_peers().count(), 2);
    // Gossip, a request, anything.
    assert_eq!(
        fd.message_received(&b, t(50)),
        Some(FailureEvent::Up(b.clone()))
    );
    assert_eq!(fd.message_received(&b, t(60)), None, "already up");
    assert!(fd.is_up(&b));
    assert_eq!(fd.health(&b).unwrap().last_heard, Some(t(60)));
    assert_eq!(fd.health(&b).unwrap().consecutive_timeouts, 0);
    // A pong with a nonce nobody sent still proves c alive.
    assert_eq!(
        fd.pong_received(&c, 999, t(70)),
        Some(FailureEvent::Up(c.clone()))
    );
    assert_eq!(fd.down_peers().count(), 0);
    assert_eq!(fd.next_deadline(), None, "no probes for peers that are up");
}

#[test]
fn down_peers_are_probed_every_interval() {
    let b = id("b");
    let mut fd = FailureDetector::new(config(1));
    assert_eq!(
        fd.timed_out(&b, t(1_000)),
        Some(FailureEvent::Down(b.clone()))
    );
    assert_eq!(fd.next_deadline(), Some(t(2_000)));
    // Early: nothing.
    let p = fd.poll(t(1_999));
    assert!(p.pings.is_empty() && p.events.is_empty());

    // Due: one ping; its answer deadline is now the earliest.
    let p = fd.poll(t(2_000));
    assert_eq!(p.pings.len(), 1);
    let PingRequest { to, nonce: n1 } = p.pings[0].clone();
    assert_eq!(to, b);
    assert_eq!(fd.next_deadline(), Some(t(2_300)));
    // Unanswered: a timeout (no new event, b was already down), next probe at 3000.
    let p = fd.poll(t(2_300));
    assert!(p.pings.is_empty() && p.events.is_empty());
    assert_eq!(fd.health(&b).unwrap().consecutive_timeouts, 2);
    assert_eq!(fd.next_deadline(), Some(t(3_000)));
    // Late pong for the first ping: b is up, probing stops.
    let p = fd.poll(t(3_000));
    assert_eq!(p.pings.len(), 1);
    let n2 = p.pings[0].nonce;
    assert_ne!(n1, n2);
    assert_eq!(
        fd.pong_received(&b, n1, t(3_100)),
        Some(FailureEvent::Up(b.clone()))
    );
    // The second ping is still outstanding; when answered, nothing is due any more.
    assert_eq!(fd.pong_received(&b, n2, t(3_150)), None);
    assert_eq!(fd.next_deadline(), None);
    let p = fd.poll(t(10_000));
    assert!(p.pings.is_empty() && p.events.is_empty());
}

#[test]
fn a_slow_poll_probes_once_and_reschedules_from_now() {
    let b = id("b");
    let mut fd = FailureDetector::new(config(1));
    fd.timed_out(&b, t(0));
    let p = fd.poll(t(5_500));
    assert_eq!(p.pings.len(), 1, "one probe, not one per missed interval");
    fd.pong_received(&b, p.pings[0].nonce, t(5_600));
    fd.timed_out(&b, t(6_000));
    assert_eq!(fd.next_deadline(), Some(t(7_000)));
}

#[test]
fn explicit_pings_count_as_timeouts_when_unanswered() {
    let b = id("b");
    let mut fd = FailureDetector::new(config(2));
    let n1 = fd.ping(&b, t(0));
    let n2 = fd.ping(&b, t(100));
    assert_ne!(n1, n2);
    assert_eq!(fd.next_deadline(), Some(t(300)));
    let p = fd.poll(t(300));
    assert!(p.events.is_empty());
    assert!(fd.is_up(&b));
    let p = fd.poll(t(400));
    assert_eq!(p.events, vec![FailureEvent::Down(b.clone())]);
    // The first probe comes one interval after going down.
    assert_eq!(fd.next_deadline(), Some(t(1_400)));
    // A pong answering the right nonce from the wrong peer does not cancel the ping.
    let n3 = fd.ping(&b, t(1_000));
    fd.pong_received(&id("c"), n3, t(1_010));
    assert_eq!(fd.next_deadline(), Some(t(1_300)));
}

#[test]
fn forget_drops_a_peer_and_its_pings() {
    let b = id("b");
    let mut fd = FailureDetector::new(config(1));
    fd.timed_out(&b, t(0));
    fd.ping(&b, t(0));
    fd.forget(&b);
    assert!(fd.is_up(&b));
    assert_eq!(fd.next_deadline(), None);
    assert!(fd.poll(t(100_000)).pings.is_empty());
}

#[test]
fn same_inputs_same_outputs() {
    let run = || {
        let mut fd = FailureDetector::new(FailureConfig::default());
        let peers = ["b", "c", "d"].map(id);
        let mut log = Vec::new();
        for step in 0..200u64 {
            let now = t(step * 137);
            let p = &peers[(step % 3) as usize];
            match step % 7 {
                0 | 3 | 5 => log.extend(fd.timed_out(p, now).map(|e| format!("{e:?}"))),
                1 => log.extend(fd.message_received(p, now).map(|e| format!("{e:?}"))),
                _ => {
                    let out = fd.poll(now);
                    log.push(format!("{out:?}"));
                }
            }
            log.push(format!("{:?}", fd.next_deadline()));
        }
        (log, fd)
    };
    assert_eq!(run(), run());
}

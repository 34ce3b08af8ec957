//! Local failure detection (Dynamo paper §4.8.3): each node decides on its own, from its own
//! traffic, which peers it cannot reach right now, and routes around them.
//!
//! There is no global view and no heartbeat traffic while everything works: a peer is
//! *down* for this node after [`FailureConfig::threshold`] consecutive timeouts — requests it
//! did not answer in time, or pings it did not answer — and *up* again as soon as any message
//! from it arrives. While a peer is down the node pings it every
//! [`FailureConfig::probe_interval`] ([`FailureDetector::poll`]), so that it notices the peer's
//! return even without traffic of its own to send it. Unknown peers are up.
//!
//! Being down is a local, temporary opinion: it changes preference lists (sloppy quorum,
//! hinted handoff) and gossip targets, never membership, which only an explicit leave
//! changes.
//!
//! The detector is pure and deterministic: time comes in as `now`, and the ping nonces it
//! hands out are a counter.
//!
//! ```
//! use dynamo_core::{NodeId, Timestamp};
//! use dynamo_core::failure::{FailureConfig, FailureDetector, FailureEvent};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let b = NodeId::new("b")?;
//! let mut fd = FailureDetector::new(FailureConfig::default());
//! assert_eq!(fd.timed_out(&b, Timestamp(100)), None); // one timeout: still up
//! assert_eq!(fd.timed_out(&b, Timestamp(200)), Some(FailureEvent::Down(b.clone())));
//! assert!(!fd.is_up(&b));
//! // A probe is due one probe interval later.
//! let poll = fd.poll(Timestamp(1_200));
//! assert_eq!(poll.pings.len(), 1);
//! // Any message from b brings it back.
//! assert_eq!(fd.message_received(&b, Timestamp(1_250)), Some(FailureEvent::Up(b.clone())));
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{NodeId, Timestamp};

/// Tuning of the [`FailureDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureConfig {
    /// Consecutive timeouts after which a peer is down (at least 1). Default 2: one lost
    /// message is not a failure.
    pub threshold: u32,
    /// How often a down peer is pinged. Default 1 s.
    pub probe_interval: Duration,
    /// How long a ping may stay unanswered before it counts as a timeout. Default 500 ms.
    pub ping_timeout: Duration,
}

impl Default for FailureConfig {
    fn default() -> Self {
        FailureConfig {
            threshold: 2,
            probe_interval: Duration::from_secs(1),
            ping_timeout: Duration::from_millis(500),
        }
    }
}

/// A change of a peer's health, for the node to report (`NodeEvent::PeerDown/PeerUp`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailureEvent {
    /// The peer reached the timeout threshold.
    Down(NodeId),
    /// A message arrived from a peer that was down.
    Up(NodeId),
}

/// A ping to send: `Ping { nonce }` to `to`. The detector times it out by itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PingRequest {
    /// The peer to probe.
    pub to: NodeId,
    /// The nonce to put in the ping; its pong carries it back.
    pub nonce: u64,
}

/// What [`FailureDetector::poll`] asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailurePoll {
    /// Pings to send now (probes of down peers).
    pub pings: Vec<PingRequest>,
    /// Health changes caused by pings that timed out.
    pub events: Vec<FailureEvent>,
}

/// What this node knows of one peer's health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerHealth {
    /// Timeouts since the last message received from the peer.
    pub consecutive_timeouts: u32,
    /// When it was marked down (`None`: up).
    pub down_since: Option<Timestamp>,
    /// When a message from it last arrived.
    pub last_heard: Option<Timestamp>,
    /// When a request was last sent to it.
    pub last_sent: Option<Timestamp>,
    /// When the next probe is due (down peers only).
    next_probe: Option<Timestamp>,
}

/// The local failure detector; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetector {
    config: FailureConfig,
    peers: BTreeMap<NodeId, PeerHealth>,
    /// Outstanding pings by nonce: the peer and the deadline of the answer.
    pings: BTreeMap<u64, (NodeId, Timestamp)>,
    next_nonce: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    Timestamp(t.0.saturating_add(ms(d)))
}

impl FailureDetector {
    /// A detector that considers every peer up. A threshold of 0 counts as 1.
    pub fn new(config: FailureConfig) -> Self {
        FailureDetector {
            config: FailureConfig {
                threshold: config.threshold.max(1),
                ..config
            },
            peers: BTreeMap::new(),
            pings: BTreeMap::new(),
            next_nonce: 1,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> FailureConfig {
        self.config
    }

    /// True unless `peer` is down (unknown peers are up).
    pub fn is_up(&self, peer: &NodeId) -> bool {
        self.peers.get(peer).is_none_or(|h| h.down_since.is_none())
    }

    /// The peers currently down, by node id.
    pub fn down_peers(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.peers
            .iter()
            .filter(|(_, h)| h.down_since.is_some())
            .map(|(n, _)| n)
    }

    /// Mirrors another detector's verdicts: exactly the peers in `down` are down from now
    /// (marked at `now` when they were up), without probes — for a follower shard of a node,
    /// which reads the health of peers from its control shard's detector.
    pub fn adopt_down(&mut self, down: &std::collections::BTreeSet<NodeId>, now: Timestamp) {
        for (peer, h) in &mut self.peers {
            if h.down_since.is_some() && !down.contains(peer) {
                h.down_since = None;
                h.consecutive_timeouts = 0;
                h.next_probe = None;
            }
        }
        for peer in down {
            let h = self.peers.entry(peer.clone()).or_default();
            if h.down_since.is_none() {
                h.down_since = Some(now);
            }
            h.next_probe = None;
        }
    }

    /// What is known of `peer`, if anything happened with it.
    pub fn health(&self, peer: &NodeId) -> Option<&PeerHealth> {
        self.peers.get(peer)
    }

    /// A request (any message expecting an answer) was sent to `peer`. Only recorded: the
    /// caller owns the request's timeout and reports it with [`timed_out`](Self::timed_out).
    pub fn request_sent(&mut self, peer: &NodeId, now: Timestamp) {
        self.peers.entry(peer.clone()).or_default().last_sent = Some(now);
    }

    /// Any message arrived from `peer` (an answer, a request, gossip, a pong): it is up,
    /// and its timeout count restarts. Returns [`FailureEvent::Up`] if it was down.
    pub fn message_received(&mut self, peer: &NodeId, now: Timestamp) -> Option<FailureEvent> {
        let h = self.peers.entry(peer.clone()).or_default();
        h.last_heard = Some(now);
        h.consecutive_timeouts = 0;
        h.next_probe = None;
        h.down_since.take().map(|_| FailureEvent::Up(peer.clone()))
    }

    /// `peer` answered a request: same as [`message_received`](Self::message_received).
    pub fn request_answered(&mut self, peer: &NodeId, now: Timestamp) -> Option<FailureEvent> {
        self.message_received(peer, now)
    }

    /// A request to `peer` got no answer in time. Returns [`FailureEvent::Down`] when this
    /// timeout reaches the threshold; the first probe is then due one probe interval later.
    pub fn timed_out(&mut self, peer: &NodeId, now: Timestamp) -> Option<FailureEvent> {
        let threshold = self.config.threshold;
        let probe = self.config.probe_interval;
        let h = self.peers.entry(peer.clone()).or_default();
        h.consecutive_timeouts = h.consecutive_timeouts.saturating_add(1);
        if h.down_since.is_none() && h.consecutive_timeouts >= threshold {
            h.down_since = Some(now);
            h.next_probe = Some(after(now, probe));
            return Some(FailureEvent::Down(peer.clone()));
        }
        None
    }

    /// Sends a ping to `peer` outside the probe schedule (e.g. to check a peer before
    /// relying on it): returns the nonce to put in the `Ping`; if no pong comes within
    /// [`FailureConfig::ping_timeout`], [`poll`](Self::poll) counts a timeout.
    pub fn ping(&mut self, peer: &NodeId, now: Timestamp) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        self.pings
            .insert(nonce, (peer.clone(), after(now, self.config.ping_timeout)));
        nonce
    }

    /// A `Pong { nonce }` arrived from `peer`: the ping is answered and the peer is up (see
    /// [`message_received`](Self::message_received)). A pong whose nonce is unknown (late,
    /// duplicated) still proves the peer is alive.
    pub fn pong_received(
        &mut self,
        peer: &NodeId,
        nonce: u64,
        now: Timestamp,
    ) -> Option<FailureEvent> {
        if self.pings.get(&nonce).is_some_and(|(p, _)| p == peer) {
            self.pings.remove(&nonce);
        }
        self.message_received(peer, now)
    }

    /// Forgets `peer` (it left the cluster): it is up again, with no event, and its pings
    /// are dropped.
    pub fn forget(&mut self, peer: &NodeId) {
        self.peers.remove(peer);
        self.pings.retain(|_, (p, _)| p != peer);
    }

    /// Call at or after [`next_deadline`](Self::next_deadline): times out the pings whose
    /// answer is late (each counts as a timeout of its peer) and returns the probes due —
    /// one ping to each down peer whose probe time came — scheduling the next probe one
    /// interval later.
    pub fn poll(&mut self, now: Timestamp) -> FailurePoll {
        let mut out = FailurePoll::default();
        let expired: Vec<u64> = self
            .pings
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(n, _)| *n)
            .collect();
        for nonce in expired {
            if let Some((peer, _)) = self.pings.remove(&nonce)
                && let Some(ev) = self.timed_out(&peer, now)
            {
                out.events.push(ev);
            }
        }
        let probe = self.config.probe_interval;
        let mut due = Vec::new();
        for (peer, h) in &mut self.peers {
            if let Some(at) = h.next_probe
                && at <= now
            {
                h.next_probe = Some(after(now, probe));
                due.push(peer.clone());
            }
        }
        for peer in due {
            let nonce = self.ping(&peer, now);
            out.pings.push(PingRequest { to: peer, nonce });
        }
        out
    }

    /// The earliest time [`poll`](Self::poll) has something to do: a probe due or a ping
    /// to time out.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let probes = self.peers.values().filter_map(|h| h.next_probe);
        let pings = self.pings.values().map(|(_, d)| *d);
        probes.chain(pings).min()
    }
}

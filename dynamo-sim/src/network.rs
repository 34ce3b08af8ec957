//! The simulated network: a priority queue of messages in flight, with seeded faults.
//!
//! Every message gets a delivery time drawn from the configured delay range, so messages
//! between the same two nodes overtake each other (reordering) as on a real network under
//! load. Loss and duplication are drawn per message. A partition blocks links one way or both;
//! a message on a blocked link is dropped when it would be delivered, so a partition also cuts
//! messages already in flight. All draws come from one seeded generator.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use dynamo_core::rng::Rng;

/// Index of a simulated node.
pub type Addr = usize;

/// Virtual time, in milliseconds since the start of the run.
pub type Millis = u64;

/// Fault rates and delays of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Shortest delivery delay.
    pub min_delay: Millis,
    /// Longest delivery delay; delays are uniform in `min_delay..=max_delay`.
    pub max_delay: Millis,
    /// Probability that a message is lost, per million messages.
    pub loss_per_million: u32,
    /// Probability that a message is delivered twice, per million messages.
    pub duplicate_per_million: u32,
}

impl Default for NetConfig {
    /// A healthy LAN: 1 to 5 ms, no loss, no duplication.
    fn default() -> Self {
        NetConfig {
            min_delay: 1,
            max_delay: 5,
            loss_per_million: 0,
            duplicate_per_million: 0,
        }
    }
}

/// A message with its routing and timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<M> {
    /// Sender.
    pub from: Addr,
    /// Receiver.
    pub to: Addr,
    /// When it was sent.
    pub sent_at: Millis,
    /// When it is delivered.
    pub deliver_at: Millis,
    /// The message.
    pub message: M,
}

/// Counters of what the network did, for the simulator's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages delivered (duplicates counted each time).
    pub delivered: u64,
    /// Messages lost by the loss rate.
    pub lost: u64,
    /// Messages dropped by a partition.
    pub partitioned: u64,
    /// Extra copies made by the duplication rate.
    pub duplicated: u64,
}

/// The simulated network between nodes `0..n`.
#[derive(Debug)]
pub struct Network<M> {
    config: NetConfig,
    rng: Rng,
    /// Delivery order: (time, sequence number), earliest first; ties in send order.
    queue: BinaryHeap<Reverse<(Millis, u64)>>,
    in_flight: BTreeMap<u64, Envelope<M>>,
    next_seq: u64,
    /// Links (from, to) that drop every message.
    blocked: BTreeSet<(Addr, Addr)>,
    stats: NetStats,
}

impl<M: Clone> Network<M> {
    /// A network with the given faults, drawing from `seed`.
    pub fn new(config: NetConfig, seed: u64) -> Self {
        Network {
            config,
            rng: Rng::seeded(seed),
            queue: BinaryHeap::new(),
            in_flight: BTreeMap::new(),
            next_seq: 0,
            blocked: BTreeSet::new(),
            stats: NetStats::default(),
        }
    }

    /// The fault configuration in force.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Changes the fault configuration for messages sent from now on.
    pub fn set_config(&mut self, config: NetConfig) {
        self.config = config;
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Number of messages in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Sends `message` from `from` to `to` at time `now`.
    pub fn send(&mut self, now: Millis, from: Addr, to: Addr, message: M) {
        self.stats.sent += 1;
        if self.rng.chance(self.config.loss_per_million) {
            self.stats.lost += 1;
            return;
        }
        if self.rng.chance(self.config.duplicate_per_million) {
            self.stats.duplicated += 1;
            self.enqueue(now, from, to, message.clone());
        }
        self.enqueue(now, from, to, message);
    }

    fn enqueue(&mut self, now: Millis, from: Addr, to: Addr, message: M) {
        let delay = self.rng.between(
            self.config.min_delay,
            self.config.max_delay.max(self.config.min_delay),
        );
        let deliver_at = now + delay;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse((deliver_at, seq)));
        self.in_flight.insert(
            seq,
            Envelope {
                from,
                to,
                sent_at: now,
                deliver_at,
                message,
            },
        );
    }

    /// When the next message is due, if any is in flight.
    pub fn next_delivery(&self) -> Option<Millis> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// The next message due at or before `now`, in delivery order. Messages on blocked links
    /// are dropped on the way.
    pub fn deliver_due(&mut self, now: Millis) -> Option<Envelope<M>> {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > now {
                return None;
            }
            self.queue.pop();
            let Some(envelope) = self.in_flight.remove(&seq) else {
                continue;
            };
            if self.blocked.contains(&(envelope.from, envelope.to)) {
                self.stats.partitioned += 1;
                continue;
            }
            self.stats.delivered += 1;
            return Some(envelope);
        }
        None
    }

    /// Blocks every link from a node of `from` to a node of `to` (one way).
    pub fn block(&mut self, from: &[Addr], to: &[Addr]) {
        for &a in from {
            for &b in to {
                if a != b {
                    self.blocked.insert((a, b));
                }
            }
        }
    }

    /// Splits the nodes into two sides that cannot talk to each other in either direction.
    pub fn partition(&mut self, side_a: &[Addr], side_b: &[Addr]) {
        self.block(side_a, side_b);
        self.block(side_b, side_a);
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// True when messages from `from` to `to` currently get through.
    pub fn link_up(&self, from: Addr, to: Addr) -> bool {
        !self.blocked.contains(&(from, to))
    }

    /// Drops every message in flight to `to` (its process died: sockets are gone).
    pub fn drop_messages_to(&mut self, to: Addr) {
        self.in_flight.retain(|_, e| e.to != to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(net: &mut Network<u32>, until: Millis) -> Vec<(Millis, u32)> {
        let mut out = Vec::new();
        let mut now = 0;
        while let Some(at) = net.next_delivery() {
            if at > until {
                break;
            }
            now = now.max(at);
            while let Some(e) = net.deliver_due(now) {
                out.push((e.deliver_at, e.message));
            }
        }
        out
    }

    #[test]
    fn same_seed_same_schedule() {
        let config = NetConfig {
            min_delay: 1,
            max_delay: 50,
            loss_per_million: 100_000,
            duplicate_per_million: 100_000,
        };
        let run = |seed| {
            let mut net = Network::new(config.clone(), seed);
            for i in 0..200 {
                net.send(i as Millis, 0, 1, i);
            }
            drain(&mut net, Millis::MAX)
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn delays_reorder_and_faults_happen_at_their_rates() {
        let config = NetConfig {
            min_delay: 1,
            max_delay: 100,
            loss_per_million: 200_000,
            duplicate_per_million: 100_000,
        };
        let mut net = Network::new(config, 1);
        for i in 0..10_000u32 {
            net.send(0, 0, 1, i);
        }
        let got = drain(&mut net, Millis::MAX);
        let stats = net.stats();
        assert!((1_700..2_300).contains(&stats.lost), "{stats:?}");
        assert!((600..1_000).contains(&stats.duplicated), "{stats:?}");
        assert_eq!(got.len() as u64, stats.delivered);
        assert_eq!(stats.delivered, stats.sent - stats.lost + stats.duplicated);
        // Delivered in time order, but not in send order.
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(got.windows(2).any(|w| w[0].1 > w[1].1));
    }

    #[test]
    fn partitions_cut_links_and_in_flight_messages() {
        let mut net = Network::new(NetConfig::default(), 2);
        net.send(0, 0, 1, 1);
        net.partition(&[0], &[1, 2]);
        net.send(0, 1, 0, 2);
        net.send(0, 1, 2, 3);
        assert!(!net.link_up(0, 1) && !net.link_up(1, 0) && net.link_up(1, 2));
        let got: Vec<u32> = drain(&mut net, Millis::MAX)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(got, vec![3]);
        assert_eq!(net.stats().partitioned, 2);

        // One way: 0 hears 2, 2 does not hear 0.
        net.heal();
        net.block(&[0], &[2]);
        net.send(10, 0, 2, 4);
        net.send(10, 2, 0, 5);
        let got: Vec<u32> = drain(&mut net, Millis::MAX)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(got, vec![5]);
    }
}

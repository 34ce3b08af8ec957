//! Convergence of membership by gossip: simulated nodes exchange their states with random
//! (seeded) peers, push-pull, over a network that can drop every message on a link in one or
//! both directions. Every scenario must reach one state on every node — equal members,
//! buckets and ring (hence equal ring digests) — with a settled, balanced ring, within a
//! bounded number of rounds, for every seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod membership_support;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use dynamo_core::membership::{BucketProps, ClusterState, Gossiper, MemberStatus};
use dynamo_core::ring::RingConfig;
use dynamo_core::rng::Rng;
use dynamo_core::version::VersioningMode;
use dynamo_core::{NodeId, Timestamp};
use membership_support::id;

const INTERVAL_MS: u64 = 1_000;
const SEEDS: u64 = 40;

struct SimNode {
    state: ClusterState,
    gossiper: Gossiper,
    rng: Rng,
    seed: Option<NodeId>,
}

struct Sim {
    nodes: BTreeMap<NodeId, SimNode>,
    /// Links that drop every message, as (from, to).
    blocked: BTreeSet<(NodeId, NodeId)>,
    rng: Rng,
    now: Timestamp,
    config: RingConfig,
    messages: u64,
    /// Probability (per million) that any message is lost.
    loss_per_million: u32,
}

impl Sim {
    fn new(seed: u64, founders: &[&str]) -> Sim {
        let config = RingConfig::new(64).unwrap();
        let state = ClusterState::new_cluster(
            config,
            founders
                .iter()
                .map(|n| (id(n), None, format!("{n}.local:7000"))),
        )
        .unwrap();
        let mut sim = Sim {
            nodes: BTreeMap::new(),
            blocked: BTreeSet::new(),
            rng: Rng::seeded(seed),
            now: Timestamp(0),
            config,
            messages: 0,
            loss_per_million: 0,
        };
        for n in founders {
            sim.add(n, state.clone(), None);
        }
        sim
    }

    fn add(&mut self, name: &str, state: ClusterState, seed: Option<NodeId>) {
        let rng = self.rng.fork();
        self.nodes.insert(
            id(name),
            SimNode {
                state,
                gossiper: Gossiper::new(
                    std::time::Duration::from_millis(INTERVAL_MS),
                    Timestamp(self.now.0 + self.rng.below(INTERVAL_MS)),
                ),
                rng,
                seed,
            },
        );
    }

    /// A new node joins through `seed`.
    fn join(&mut self, name: &str, seed: &str) {
        let state = ClusterState::joining(id(name), None, format!("{name}.local:7000")).unwrap();
        self.add(name, state, Some(id(seed)));
    }

    fn state(&self, name: &str) -> &ClusterState {
        &self.nodes[&id(name)].state
    }

    fn state_mut(&mut self, name: &str) -> &mut ClusterState {
        &mut self.nodes.get_mut(&id(name)).unwrap().state
    }

    fn partition(&mut self, side_a: &[&str], side_b: &[&str]) {
        for a in side_a {
            for b in side_b {
                self.blocked.insert((id(a), id(b)));
                self.blocked.insert((id(b), id(a)));
            }
        }
    }

    fn heal(&mut self) {
        self.blocked.clear();
    }

    fn delivers(&mut self, from: &NodeId, to: &NodeId) -> bool {
        !self.blocked.contains(&(from.clone(), to.clone()))
            && !self.rng.chance(self.loss_per_million)
    }

    /// Local upkeep of a node: the claimant's rule, and a leaving node whose partitions are
    /// no longer in the ring exits (its transfers are instantaneous here).
    fn upkeep(&mut self, me: &NodeId) {
        let node = self.nodes.get_mut(me).unwrap();
        node.state.claim(me).unwrap();
        let leaving = node
            .state
            .member(me)
            .is_some_and(|m| m.status == MemberStatus::Leaving);
        if leaving && !node.state.ring().unwrap().contains_node(me) {
            node.state.finish_leave(me).unwrap();
        }
    }

    /// One gossip period: every node, in a random order, does its upkeep and, when its
    /// gossiper says so, pushes its state to a random peer, which merges and answers with
    /// its own state if the sender was behind.
    fn round(&mut self) {
        self.now = Timestamp(self.now.0 + INTERVAL_MS);
        let mut order: Vec<NodeId> = self.nodes.keys().cloned().collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        for me in order {
            self.upkeep(&me);
            let now = self.now;
            let node = self.nodes.get_mut(&me).unwrap();
            let peers: Vec<NodeId> = node
                .state
                .gossip_peers(&me)
                .cloned()
                .chain(node.seed.clone())
                .collect();
            let Some(to) = node
                .gossiper
                .poll(now, &me, &peers, |_| true, &mut node.rng)
            else {
                continue;
            };
            let pushed = node.state.clone();
            self.messages += 1;
            if !self.delivers(&me, &to) {
                continue;
            }
            let receiver = self.nodes.get_mut(&to).unwrap();
            let out = receiver.state.merge(&pushed);
            self.upkeep(&to);
            if out.sender_behind {
                let reply = self.nodes[&to].state.clone();
                self.messages += 1;
                if self.delivers(&to, &me) {
                    self.nodes.get_mut(&me).unwrap().state.merge(&reply);
                    self.upkeep(&me);
                }
            }
        }
    }

    /// True when all `names` hold one settled state.
    fn converged_among(&self, names: &[NodeId]) -> bool {
        let first = &self.nodes[&names[0]].state;
        first.is_settled() && names[1..].iter().all(|n| self.nodes[n].state == *first)
    }

    /// True when all `names` hold one state, settled or not.
    fn equal_among(&self, names: &[NodeId]) -> bool {
        let first = &self.nodes[&names[0]].state;
        names[1..].iter().all(|n| self.nodes[n].state == *first)
    }

    fn converged(&self) -> bool {
        let all: Vec<NodeId> = self.nodes.keys().cloned().collect();
        self.converged_among(&all)
    }

    /// Runs rounds until converged; returns how many it took, or panics after `max`.
    fn run_until_converged(&mut self, max: u32, what: &str, seed: u64) -> u32 {
        for r in 1..=max {
            self.round();
            if self.converged() {
                return r;
            }
        }
        panic!("seed {seed}: {what} did not converge in {max} rounds");
    }

    fn run(&mut self, rounds: u32) {
        for _ in 0..rounds {
            self.round();
        }
    }
}

/// The ring is balanced among exactly `owners`, and every node holds the same digest.
fn check_ring(sim: &Sim, owners: &[&str]) {
    let state = sim.nodes.values().next().unwrap();
    let ring = state.state.ring().unwrap();
    let want: Vec<NodeId> = owners.iter().map(|n| id(n)).collect();
    let got: Vec<NodeId> = ring.members().iter().map(|m| m.node.clone()).collect();
    assert_eq!(got, want);
    let q = sim.config.partitions() as usize;
    let s = owners.len();
    for (node, count) in ring.ownership_counts() {
        assert!(
            count == q / s || count == q.div_ceil(s),
            "{node} owns {count} of {q} partitions over {s} nodes"
        );
    }
    let digest = ring.digest();
    assert!(
        sim.nodes
            .values()
            .all(|n| n.state.ring().unwrap().digest() == digest)
    );
}

fn statuses(sim: &Sim) -> BTreeMap<String, MemberStatus> {
    let state = &sim.nodes.values().next().unwrap().state;
    state
        .members()
        .iter()
        .map(|(n, m)| (n.to_string(), m.status))
        .collect()
}

#[test]
fn a_node_joins_through_a_seed() {
    let mut worst = 0;
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &["a", "b", "c", "d"]);
        assert!(sim.converged());
        let before = sim.state("a").ring_version();
        sim.join("e", "c");
        assert!(sim.state("e").ring().is_none());
        let rounds = sim.run_until_converged(30, "join", seed);
        worst = worst.max(rounds);
        check_ring(&sim, &["a", "b", "c", "d", "e"]);
        assert!(statuses(&sim).values().all(|s| *s == MemberStatus::Valid));
        assert!(sim.state("a").ring_version() > before);
    }
    println!("join of a 5th node converged within {worst} rounds over {SEEDS} seeds");
}

#[test]
fn several_nodes_join_at_once_through_different_seeds() {
    let mut worst = 0;
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &["a", "b", "c"]);
        sim.join("d", "a");
        sim.join("e", "b");
        sim.join("f", "a");
        sim.join("g", "c");
        let rounds = sim.run_until_converged(40, "joins", seed);
        worst = worst.max(rounds);
        check_ring(&sim, &["a", "b", "c", "d", "e", "f", "g"]);
    }
    println!("4 concurrent joins converged within {worst} rounds over {SEEDS} seeds");
}

#[test]
fn a_node_leaves_and_exits() {
    let mut worst = 0;
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &["a", "b", "c", "d", "e"]);
        sim.state_mut("b").leave(&id("b")).unwrap();
        let rounds = sim.run_until_converged(30, "leave", seed);
        worst = worst.max(rounds);
        check_ring(&sim, &["a", "c", "d", "e"]);
        let st = statuses(&sim);
        assert_eq!(st["b"], MemberStatus::Exiting);
        assert!(sim.state("a").gossip_peers(&id("a")).all(|p| *p != id("b")));
    }
    println!("a leave converged within {worst} rounds over {SEEDS} seeds");
}

#[test]
fn the_claimant_leaving_hands_the_role_over() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &["a", "b", "c"]);
        assert_eq!(sim.state("c").claimant(), Some(&id("a")));
        sim.state_mut("a").leave(&id("a")).unwrap();
        sim.run_until_converged(30, "claimant leave", seed);
        check_ring(&sim, &["b", "c"]);
        assert_eq!(sim.state("c").claimant(), Some(&id("b")));
        assert_eq!(statuses(&sim)["a"], MemberStatus::Exiting);
    }
}

#[test]
fn concurrent_changes_on_both_sides_of_a_healed_partition() {
    let mut worst = 0;
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &["a", "b", "c", "d", "e"]);
        sim.partition(&["a", "b", "c", "f"], &["d", "e", "g"]);
        // Side 1 (with the claimant, a): f joins, and a bucket gets properties.
        sim.join("f", "b");
        let p1 = BucketProps::new(3, 1, 3, VersioningMode::Dvv).unwrap();
        sim.state_mut("c")
            .set_bucket_props(Bytes::from_static(b"shared"), p1)
            .unwrap();
        // Side 2 (no claimant): g asks to join, e to leave; the same bucket gets other
        // properties.
        sim.join("g", "d");
        sim.state_mut("e").leave(&id("e")).unwrap();
        let p2 = BucketProps::new(5, 3, 3, VersioningMode::Lww).unwrap();
        sim.state_mut("d")
            .set_bucket_props(Bytes::from_static(b"shared"), p2)
            .unwrap();
        sim.state_mut("e")
            .set_bucket_props(Bytes::from_static(b"side2"), BucketProps::default())
            .unwrap();

        sim.run(25);
        let side1 = ["a", "b", "c", "f"].map(id);
        let side2 = ["d", "e", "g"].map(id);
        // Every node still sees a as the claimant: only side 1 can change the ring.
        assert!(
            sim.converged_among(&side1),
            "seed {seed}: side 1 did not settle"
        );
        assert!(sim.equal_among(&side2), "seed {seed}: side 2 did not agree");
        assert_eq!(sim.state("g").claimant(), Some(&id("a")));
        let side2_ring = sim.state("d").ring().unwrap();
        assert!(side2_ring.contains_node(&id("e")) && !side2_ring.contains_node(&id("g")));
        assert_eq!(
            sim.state("d").member(&id("g")).unwrap().status,
            MemberStatus::Joining
        );
        assert!(sim.state("a").ring().unwrap().contains_node(&id("f")));

        sim.heal();
        let rounds = sim.run_until_converged(40, "heal", seed);
        worst = worst.max(rounds);
        check_ring(&sim, &["a", "b", "c", "d", "f", "g"]);
        let st = statuses(&sim);
        assert_eq!(st["e"], MemberStatus::Exiting);
        assert_eq!(st["f"], MemberStatus::Valid);
        assert_eq!(st["g"], MemberStatus::Valid);
        let s = sim.state("g");
        // Equal versions (1 on each side): the tie-break keeps the greater props everywhere.
        assert_eq!(s.bucket_props(b"shared"), Some(&p1.max(p2)));
        assert_eq!(s.bucket_props(b"side2"), Some(&BucketProps::default()));
    }
    println!("healed partition converged within {worst} rounds over {SEEDS} seeds");
}

#[test]
fn one_way_reachability_does_not_prevent_convergence() {
    let mut worst = 0;
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &["a", "b", "c"]);
        // a cannot reach b (b can reach a); c reaches both.
        sim.blocked.insert((id("a"), id("b")));
        sim.state_mut("a")
            .set_bucket_props(Bytes::from_static(b"from-a"), BucketProps::default())
            .unwrap();
        sim.join("d", "a");
        sim.state_mut("b").leave(&id("b")).unwrap();
        let rounds = sim.run_until_converged(40, "one-way", seed);
        worst = worst.max(rounds);
        check_ring(&sim, &["a", "c", "d"]);
        assert!(sim.state("b").bucket_props(b"from-a").is_some());
    }
    println!("one-way link: converged within {worst} rounds over {SEEDS} seeds");
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let run = |seed| {
        let mut sim = Sim::new(seed, &["a", "b", "c"]);
        sim.join("d", "b");
        sim.state_mut("c").leave(&id("c")).unwrap();
        let rounds = sim.run_until_converged(40, "replay", seed);
        (rounds, sim.messages, sim.state("a").clone())
    };
    assert_eq!(run(7), run(7));
}

#[test]
fn a_larger_cluster_converges_through_heavy_message_loss() {
    let founders = [
        "n00", "n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09", "n10", "n11",
    ];
    let mut worst = 0;
    let mut messages = 0;
    for seed in 0..SEEDS {
        let mut sim = Sim::new(seed, &founders);
        sim.loss_per_million = 300_000;
        sim.join("n12", "n05");
        sim.join("n13", "n11");
        sim.join("n14", "n00");
        sim.join("m99", "n03");
        sim.state_mut("n00").leave(&id("n00")).unwrap();
        sim.state_mut("n07").leave(&id("n07")).unwrap();
        let rounds = sim.run_until_converged(80, "large lossy", seed);
        worst = worst.max(rounds);
        messages = messages.max(sim.messages);
        let mut owners: Vec<&str> = founders
            .iter()
            .copied()
            .filter(|n| *n != "n00" && *n != "n07")
            .chain(["n12", "n13", "n14"])
            .collect();
        owners.insert(0, "m99");
        check_ring(&sim, &owners);
    }
    println!(
        "16 nodes, 4 joins and 2 leaves, 30% loss: converged within {worst} rounds \
         (at most {messages} messages) over {SEEDS} seeds"
    );
}

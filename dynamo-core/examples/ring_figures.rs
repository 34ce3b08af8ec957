//! Figures for the ring (as the Dynamo paper's Figure 8 and §6.2), printed as markdown tables.
//!
//! ```text
//! cargo run --release -p dynamo-core --example ring_figures
//! ```
//!
//! (a) Load balance: 1M keys (16 random bytes each, from a fixed seed) over S nodes, for our
//!     ring (strategy 3: Q equal partitions, balanced claim) with Q = 256 and 1024, and for
//!     the paper's strategy 1 (T random tokens per node, the key goes to the first token
//!     clockwise), implemented here for comparison only.
//! (b) Partitions moved when a node joins or leaves, against the optimum.
//! (c) Zones: how often consecutive partitions share a zone, and whether preference lists
//!     span distinct zones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dynamo_core::NodeId;
use dynamo_core::ring::{Member, Ring, RingConfig, Zone, key_hash};

const KEYS: usize = 1_000_000;
const SEED: u64 = 0x5eed_d1a0_0000_0001;
const TOKENS_PER_NODE: usize = 8;
const N: usize = 3;

/// SplitMix64: a tiny seeded generator, enough for test keys and tokens.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn node(i: usize) -> NodeId {
    NodeId::new(format!("n{i:03}")).unwrap()
}

fn nodes(s: usize) -> Vec<NodeId> {
    (1..=s).map(node).collect()
}

/// Strategy 1 of the paper: each node draws T random tokens; a key belongs to the first token
/// at or after its hash (wrapping), and its N replicas are the first N distinct nodes from there.
struct RandomTokens {
    /// (token, node index), sorted by token.
    tokens: Vec<(u64, usize)>,
}

impl RandomTokens {
    fn new(s: usize, t: usize, seed: u64) -> Self {
        let mut rng = SplitMix(seed);
        let mut tokens: Vec<(u64, usize)> = (0..s)
            .flat_map(|n| (0..t).map(move |_| n))
            .map(|n| (rng.next(), n))
            .collect();
        tokens.sort_unstable();
        RandomTokens { tokens }
    }

    /// Index of the token range (the "partition") holding `hash`.
    fn range_of(&self, hash: u64) -> usize {
        let i = self.tokens.partition_point(|&(t, _)| t < hash);
        if i == self.tokens.len() { 0 } else { i }
    }

    fn replicas(&self, range: usize, n: usize, out: &mut Vec<usize>) {
        out.clear();
        for k in 0..self.tokens.len() {
            let node = self.tokens[(range + k) % self.tokens.len()].1;
            if !out.contains(&node) {
                out.push(node);
                if out.len() == n {
                    break;
                }
            }
        }
    }
}

fn max_over_mean(counts: &[u64]) -> f64 {
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
    max / mean
}

fn load_balance(hashes: &[u64]) {
    println!("### (a) Load balance: {KEYS} keys, N = {N}\n");
    println!(
        "Max/mean ratio (1.00 = perfect). \"primary\": keys whose first replica is the node; \
         \"replicas\": keys the node stores as one of N = {N}; \"partition\": keys per partition \
         (per token range for strategy 1). Strategy 1: T = {TOKENS_PER_NODE} random tokens per \
         node, seeded.\n"
    );
    println!(
        "| S | strategy | partitions | primary max/mean | replicas max/mean | partition max/mean |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    for s in [3usize, 5, 10, 20, 50, 100] {
        for q in [256u32, 1024] {
            let ring = Ring::new(RingConfig::new(q).unwrap(), nodes(s)).unwrap();
            let cfg = ring.config();
            let mut per_partition = vec![0u64; q as usize];
            for &h in hashes {
                per_partition[cfg.partition_for_hash(h).index()] += 1;
            }
            let mut primary = vec![0u64; s];
            let mut replicas = vec![0u64; s];
            let index = |n: &NodeId| ring.members().iter().position(|m| m.node == *n).unwrap();
            for p in cfg.partition_ids() {
                let keys = per_partition[p.index()];
                let list = ring.preference_list(p, N);
                primary[index(list[0])] += keys;
                for n in list {
                    replicas[index(n)] += keys;
                }
            }
            println!(
                "| {s} | 3 (ours) | {q} | {:.3} | {:.3} | {:.3} |",
                max_over_mean(&primary),
                max_over_mean(&replicas),
                max_over_mean(&per_partition)
            );
        }
        let tokens = RandomTokens::new(s, TOKENS_PER_NODE, SEED ^ s as u64);
        let mut per_range = vec![0u64; tokens.tokens.len()];
        for &h in hashes {
            per_range[tokens.range_of(h)] += 1;
        }
        let mut primary = vec![0u64; s];
        let mut replicas = vec![0u64; s];
        let mut list = Vec::new();
        for (r, &keys) in per_range.iter().enumerate() {
            tokens.replicas(r, N, &mut list);
            primary[list[0]] += keys;
            for &n in &list {
                replicas[n] += keys;
            }
        }
        println!(
            "| {s} | 1 (T = {TOKENS_PER_NODE} random tokens) | {} | {:.3} | {:.3} | {:.3} |",
            tokens.tokens.len(),
            max_over_mean(&primary),
            max_over_mean(&replicas),
            max_over_mean(&per_range)
        );
    }
    println!();
}

struct MoveStats {
    s: usize,
    join_moved: usize,
    join_optimum: usize,
    join_only_to_new: bool,
    join_crowded: usize,
    leave_moved: usize,
    leave_optimum: usize,
    leave_only_from_leaver: bool,
    leave_crowded: usize,
    fresh_crowded: usize,
}

fn movement(q: u32) -> Vec<MoveStats> {
    let cfg = RingConfig::new(q).unwrap();
    let mut out = Vec::new();
    // Grow a cluster one join at a time, as a real one grows.
    let mut ring = Ring::new(cfg, nodes(1)).unwrap();
    for s in 2..=101usize {
        let next = ring.rebalance(nodes(s)).unwrap();
        let prev_s = s - 1;
        if prev_s >= 3 {
            let moves = ring.transfers_to(&next).unwrap();
            let newcomer = node(s);
            // The leave: the member in the middle of the name order leaves the S-node ring.
            let leaver = node(prev_s.div_ceil(2));
            let remaining: Vec<NodeId> =
                nodes(prev_s).into_iter().filter(|n| *n != leaver).collect();
            let smaller = ring.rebalance(remaining).unwrap();
            let leave_moves = ring.transfers_to(&smaller).unwrap();
            out.push(MoveStats {
                s: prev_s,
                join_moved: moves.len(),
                join_optimum: q as usize / s,
                join_only_to_new: moves.iter().all(|t| t.to == newcomer),
                join_crowded: next.crowded_windows(N),
                leave_moved: leave_moves.len(),
                leave_optimum: ring.partitions_owned_by(&leaver).len(),
                leave_only_from_leaver: leave_moves.iter().all(|t| t.from == leaver),
                leave_crowded: smaller.crowded_windows(N),
                fresh_crowded: Ring::new(cfg, nodes(prev_s)).unwrap().crowded_windows(N),
            });
        }
        ring = next;
    }
    out
}

fn movement_tables() {
    println!("### (b) Partitions moved on a join and on a leave\n");
    println!(
        "A cluster grown one join at a time from 1 node. Join: node S+1 joins the S-node ring; \
         optimum = floor(Q/(S+1)), the least the newcomer must take. Leave: the middle node \
         (by name) leaves the S-node ring; optimum = its partitions. \"crowded\": partitions \
         whose {N} consecutive owners are not {N} distinct nodes after the change (fresh: for a \
         ring built at once with S nodes).\n"
    );
    for q in [256u32, 1024] {
        let stats = movement(q);
        println!("Q = {q}:\n");
        println!(
            "| S | join moved | join optimum | only to newcomer | crowded after join | leave moved | leave optimum | only from leaver | crowded after leave | crowded, fresh ring |"
        );
        println!("|---:|---:|---:|---|---:|---:|---:|---|---:|---:|");
        for st in stats
            .iter()
            .filter(|st| [3, 4, 5, 6, 8, 10, 16, 20, 32, 50, 64, 100].contains(&st.s))
        {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                st.s,
                st.join_moved,
                st.join_optimum,
                if st.join_only_to_new { "yes" } else { "NO" },
                st.join_crowded,
                st.leave_moved,
                st.leave_optimum,
                if st.leave_only_from_leaver {
                    "yes"
                } else {
                    "NO"
                },
                st.leave_crowded,
                st.fresh_crowded,
            );
        }
        let joins_optimal = stats
            .iter()
            .filter(|s| s.join_moved == s.join_optimum)
            .count();
        let leaves_optimal = stats
            .iter()
            .filter(|s| s.leave_moved == s.leave_optimum)
            .count();
        let all_to_new = stats.iter().all(|s| s.join_only_to_new);
        let all_from_leaver = stats.iter().all(|s| s.leave_only_from_leaver);
        let crowded_joins = stats.iter().filter(|s| s.join_crowded > 0).count();
        let crowded_leaves = stats.iter().filter(|s| s.leave_crowded > 0).count();
        let worst_join = stats.iter().map(|s| s.join_crowded).max().unwrap_or(0);
        let worst_leave = stats.iter().map(|s| s.leave_crowded).max().unwrap_or(0);
        println!(
            "\nOver all {} sizes S = 3..100: joins at the optimum {joins_optimal}, leaves at the \
             optimum {leaves_optimal}; every join moved only to the newcomer: {all_to_new}; \
             every leave moved only the leaver's partitions: {all_from_leaver}. Rings with \
             crowded windows: {crowded_joins} after joins (worst {worst_join} of {q} \
             partitions), {crowded_leaves} after leaves (worst {worst_leave}).\n",
            stats.len()
        );
    }
}

fn zone_of(ring: &Ring, n: &NodeId) -> String {
    let m = ring.member(n).unwrap();
    m.zone
        .as_ref()
        .map_or_else(|| n.to_string(), ToString::to_string)
}

/// Partitions whose `w` consecutive owners are not in `w` distinct zones.
fn zone_crowded(ring: &Ring, w: usize) -> usize {
    let zones: Vec<String> = ring.owners().map(|(_, n)| zone_of(ring, n)).collect();
    let q = zones.len();
    (0..q)
        .filter(|&p| {
            let mut v: Vec<&String> = (0..w).map(|d| &zones[(p + d) % q]).collect();
            v.sort();
            v.dedup();
            v.len() < w
        })
        .count()
}

/// Fraction of partitions whose preference list spans min(N, zones) distinct zones.
fn zone_diverse_lists(ring: &Ring) -> f64 {
    let want = N.min(ring.zone_count());
    let ok = ring
        .config()
        .partition_ids()
        .filter(|&p| {
            let mut z: Vec<String> = ring
                .preference_list(p, N)
                .into_iter()
                .map(|n| zone_of(ring, n))
                .collect();
            z.sort();
            z.dedup();
            z.len() == want
        })
        .count();
    ok as f64 / f64::from(ring.partition_count())
}

fn zone_table() {
    println!(
        "### (c) Zones (Q = 256, N = {N})
"
    );
    println!(
        "S nodes spread round-robin over Z zones; then one node joins zone z0 (the largest). \
         \"zone-crowded\": partitions whose min(N, Z) consecutive owners are not in distinct \
         zones (the preference list then walks further); \"lists spanning min(N, Z) zones\": \
         share of partitions whose preference list has replicas in min(N, Z) zones.\n"
    );
    println!(
        "| S | Z | zone-crowded, first ring | lists spanning min(N, Z) zones | zone-crowded after join | lists spanning min(N, Z) zones after join |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let cfg = RingConfig::default();
    for (s, z) in [
        (6usize, 2usize),
        (6, 3),
        (9, 3),
        (12, 4),
        (20, 5),
        (30, 3),
        (60, 6),
    ] {
        let member =
            |i: usize| Member::in_zone(node(i), Zone::new(format!("z{}", (i - 1) % z)).unwrap());
        let members: Vec<Member> = (1..=s).map(member).collect();
        let ring = Ring::new(cfg, members.clone()).unwrap();
        let mut bigger = members;
        bigger.push(Member::in_zone(node(s + 1), Zone::new("z0").unwrap()));
        let joined = ring.rebalance(bigger).unwrap();
        let w = N.min(z);
        println!(
            "| {s} | {z} | {} | {:.0}% | {} | {:.0}% |",
            zone_crowded(&ring, w),
            100.0 * zone_diverse_lists(&ring),
            zone_crowded(&joined, w),
            100.0 * zone_diverse_lists(&joined),
        );
    }
    println!();
}

fn main() {
    let mut rng = SplitMix(SEED);
    let hashes: Vec<u64> = (0..KEYS)
        .map(|_| {
            let key: [u8; 16] = {
                let (a, b) = (rng.next(), rng.next());
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&a.to_le_bytes());
                k[8..].copy_from_slice(&b.to_le_bytes());
                k
            };
            key_hash(b"figures", &key)
        })
        .collect();
    load_balance(&hashes);
    movement_tables();
    zone_table();
}

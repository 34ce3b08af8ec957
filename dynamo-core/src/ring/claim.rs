//! Claim: which node owns which partition (the paper's strategy 3, with riak's spacing goal).
//!
//! Three goals, in order of priority:
//!
//! 1. **Balance.** With `S` members, every member owns exactly `floor(Q/S)` or `ceil(Q/S)`
//!    partitions ([`targets`]).
//! 2. **Minimal movement.** A change of membership moves only what balance requires: the
//!    partitions of members that left, plus each remaining member's excess over its target,
//!    and they move only to members under their target. Which members keep the extra
//!    partition of `Q mod S` is chosen to minimise that sum (members already holding more keep
//!    more), so a join moves exactly `floor(Q/(S+1))` partitions, all to the new node, and a
//!    leave moves exactly the leaver's partitions.
//! 3. **Spacing.** Within those constraints, the partitions that move are placed so that any
//!    `target_n` consecutive partitions have distinct nodes, and, where there are enough
//!    zones, distinct zones. This is what makes the `N` consecutive owners of a preference list
//!    `N` distinct machines, so that every node carries an equal share of replicas.
//!
//! Spacing is scored by a conflict cost: for partition `p` held by node `x`, each partition
//! `q` at distance `d < target_n` also held by `x` costs `NODE_WEIGHT * (target_n - d)`, and
//! each one held by a node in `x`'s zone costs `(zone_window - d)`. A node conflict outweighs
//! every zone conflict together, and near conflicts outweigh far ones.
//!
//! The partitions to move are chosen greedily, cheapest first (orphans of departed nodes
//! before the excess of staying ones), then improved by swapping the new owners of moved
//! partitions — never creating a move that balance did not require. A first ring is built both
//! by a round-robin walk that skips each node holding one partition fewer exactly once (a
//! construction with no conflict at all whenever `S > target_n`) and by the greedy, and the one
//! with the lower cost wins. Ties are broken by fixed rules and by SipHash of node names, never
//! by randomness or hash-map order, so every node derives the same ring.

use std::collections::{BTreeSet, VecDeque};

use super::hash::sip;

/// Marks a partition that has no owner yet (a fresh ring, or its owner left).
pub(super) const NONE: u32 = u32::MAX;

/// Spacing geometry: the windows within which nodes and zones should not repeat.
pub(super) struct Spacing<'a> {
    /// Partitions on the ring.
    q: usize,
    /// How far (in partitions) a node conflict reaches: `min(target_n, S) - 1`.
    radius_n: usize,
    /// How far a zone conflict reaches: `min(target_n, zones) - 1`.
    radius_z: usize,
    wn: i64,
    wz: i64,
    node_weight: i64,
    /// Effective zone of each member (a member without zone is a zone of its own).
    zone_of: &'a [u32],
}

impl<'a> Spacing<'a> {
    pub(super) fn new(q: usize, target_n: u32, zone_of: &'a [u32], zones: usize) -> Self {
        let t = target_n as usize;
        let wn = t.min(zone_of.len()).max(1);
        let wz = t.min(zones).max(1);
        // Never look so far that both directions reach the same partition.
        let half = q.saturating_sub(1) / 2;
        let radius_n = (wn - 1).min(half);
        let radius_z = (wz - 1).min(radius_n);
        let wz_i = wz as i64;
        Spacing {
            q,
            radius_n,
            radius_z,
            wn: wn as i64,
            wz: wz_i,
            node_weight: wz_i * (wz_i - 1) + 1,
            zone_of,
        }
    }

    /// Conflict cost of member `x` holding partition `p`, given the other owners.
    pub(super) fn cost(&self, owners: &[u32], p: usize, x: u32) -> i64 {
        let zx = self.zone_of[x as usize];
        let mut c = 0;
        for d in 1..=self.radius_n {
            for n in [(p + d) % self.q, (p + self.q - d) % self.q] {
                let o = owners[n];
                if o == NONE {
                    continue;
                }
                if o == x {
                    c += self.node_weight * (self.wn - d as i64);
                }
                if d <= self.radius_z && self.zone_of[o as usize] == zx {
                    c += self.wz - d as i64;
                }
            }
        }
        c
    }

    /// Total conflict cost of an assignment (each conflicting pair counted once).
    pub(super) fn total(&self, owners: &[u32]) -> i64 {
        let sum: i64 = (0..self.q)
            .filter(|&p| owners[p] != NONE)
            .map(|p| self.cost(owners, p, owners[p]))
            .sum();
        sum / 2
    }
}

/// Balanced partition counts for members currently holding `current` partitions: each gets
/// `floor(Q/S)`, and the `Q mod S` extra partitions go to the members holding the most now
/// (ties to the lower member index), which minimises the partitions that must move.
pub(super) fn targets(q: usize, current: &[usize]) -> Vec<usize> {
    let s = current.len();
    if s == 0 {
        return Vec::new();
    }
    let (f, r) = (q / s, q % s);
    let mut order: Vec<usize> = (0..s).collect();
    order.sort_by(|&a, &b| current[b].cmp(&current[a]).then(a.cmp(&b)));
    let mut t = vec![f; s];
    for &i in &order[..r] {
        t[i] = f + 1;
    }
    t
}

/// How ties between equally good placements are broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TieBreak {
    /// Lowest partition first: fills a fresh ring round-robin.
    Sequential,
    /// In bit-reversed order of the partition, offset per receiving node: the partitions a
    /// joining node takes are spread evenly around the ring.
    Spread,
}

/// Fills the partitions marked [`NONE`] and moves the excess of members above their target
/// to members below it, with minimal movement and the least spacing cost found.
///
/// `owners` holds member indices (or [`NONE`]); `targets[x]` is member `x`'s balanced count;
/// `salt[x]` is a per-member tie-break offset. On return every member holds its target.
pub(super) fn fill(
    spacing: &Spacing<'_>,
    owners: &mut [u32],
    targets: &[usize],
    salt: &[u64],
    tie: TieBreak,
) {
    let q = owners.len();
    let s = targets.len();
    let original: Vec<u32> = owners.to_vec();
    let mut count = vec![0usize; s];
    for &o in owners.iter() {
        if o != NONE {
            count[o as usize] += 1;
        }
    }
    let mut excess: Vec<usize> = (0..s)
        .map(|x| count[x].saturating_sub(targets[x]))
        .collect();
    let mut deficit: Vec<usize> = (0..s)
        .map(|x| targets[x].saturating_sub(count[x]))
        .collect();
    let mut receivers: Vec<u32> = (0..s as u32).filter(|&x| deficit[x as usize] > 0).collect();
    let bits = q.trailing_zeros();

    // Candidate key: (tier, delta, tie, partition). Tier 0 = orphan (must move), 1 = excess of
    // a staying member (may move).
    type Key = (u8, i64, u64, u32);
    // How one receiver ranks for one partition: cost change, larger deficit first, tie, index.
    type Rank = (i64, std::cmp::Reverse<usize>, u64, u32);
    let eligible = |owners: &[u32], excess: &[usize], p: usize| {
        owners[p] == NONE || excess[owners[p] as usize] > 0
    };
    let best = |owners: &[u32], deficit: &[usize], receivers: &[u32], p: usize| {
        let base = match owners[p] {
            NONE => 0,
            o => spacing.cost(owners, p, o),
        };
        let mut choice: Option<(Rank, u32)> = None;
        for &y in receivers {
            let delta = spacing.cost(owners, p, y) - base;
            let t = tie_key(tie, p, salt[y as usize], bits);
            let k = (delta, std::cmp::Reverse(deficit[y as usize]), t, y);
            if choice.as_ref().is_none_or(|(best, _)| k < *best) {
                choice = Some((k, y));
            }
        }
        choice.map(|((delta, _, t, _), y)| {
            let tier = u8::from(owners[p] != NONE);
            ((tier, delta, t, p as u32), y)
        })
    };

    let mut keys: Vec<Option<Key>> = vec![None; q];
    let mut queue: BTreeSet<Key> = BTreeSet::new();
    for (p, slot) in keys.iter_mut().enumerate() {
        if eligible(owners, &excess, p)
            && let Some((k, _)) = best(owners, &deficit, &receivers, p)
        {
            *slot = Some(k);
            queue.insert(k);
        }
    }

    while !receivers.is_empty() {
        let Some(k) = queue.pop_first() else {
            // Cannot happen: remaining deficit always equals orphans plus remaining excess.
            break;
        };
        let p = k.3 as usize;
        keys[p] = None;
        if !eligible(owners, &excess, p) {
            continue;
        }
        let Some((fresh, y)) = best(owners, &deficit, &receivers, p) else {
            continue;
        };
        if fresh != k {
            // Stale key (a receiver filled up, or deficits changed): re-queue at its real rank.
            keys[p] = Some(fresh);
            queue.insert(fresh);
            continue;
        }
        let old = owners[p];
        owners[p] = y;
        if old != NONE {
            excess[old as usize] -= 1;
        }
        deficit[y as usize] -= 1;
        if deficit[y as usize] == 0 {
            receivers.retain(|&r| r != y);
        }
        // The neighbours' costs changed: re-rank them now (others are checked lazily on pop).
        for d in 1..=spacing.radius_n {
            for n in [(p + d) % q, (p + q - d) % q] {
                if let Some(old_key) = keys[n].take() {
                    queue.remove(&old_key);
                }
                if !receivers.is_empty()
                    && eligible(owners, &excess, n)
                    && let Some((k, _)) = best(owners, &deficit, &receivers, n)
                {
                    keys[n] = Some(k);
                    queue.insert(k);
                }
            }
        }
    }

    improve_by_swaps(spacing, owners, &original);
}

fn tie_key(tie: TieBreak, p: usize, salt: u64, bits: u32) -> u64 {
    match tie {
        TieBreak::Sequential => p as u64,
        TieBreak::Spread if bits == 0 => 0,
        TieBreak::Spread => {
            let mask = (1u64 << bits) - 1;
            let v = (p as u64).wrapping_add(salt) & mask;
            v.reverse_bits() >> (64 - bits)
        }
    }
}

/// Swaps the new owners of two moved partitions when that lowers the spacing cost, keeping
/// every count and never handing a partition back to the member it came from (so the set of
/// moves stays as small as balance requires).
fn improve_by_swaps(spacing: &Spacing<'_>, owners: &mut [u32], original: &[u32]) {
    let moved: Vec<usize> = (0..owners.len())
        .filter(|&p| owners[p] != original[p])
        .collect();
    if moved.len() < 2 {
        return;
    }
    for _pass in 0..8 {
        let mut improved = false;
        for &p in &moved {
            if spacing.cost(owners, p, owners[p]) == 0 {
                continue;
            }
            for &r in &moved {
                let (a, b) = (owners[p], owners[r]);
                if a == b || b == original[p] || a == original[r] {
                    continue;
                }
                let before = spacing.cost(owners, p, a) + spacing.cost(owners, r, b);
                owners[p] = b;
                owners[r] = a;
                let after = spacing.cost(owners, p, b) + spacing.cost(owners, r, a);
                if after < before {
                    improved = true;
                    if spacing.cost(owners, p, owners[p]) == 0 {
                        break;
                    }
                } else {
                    owners[p] = a;
                    owners[r] = b;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// Members in an order that alternates zones: the first member of each zone, then the second
/// of each, and so on (largest zones first).
fn zone_interleaved_order(zone_of: &[u32]) -> Vec<u32> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut group_of_zone: Vec<(u32, usize)> = Vec::new();
    for (x, &z) in zone_of.iter().enumerate() {
        match group_of_zone.iter().find(|(zz, _)| *zz == z) {
            Some(&(_, g)) => groups[g].push(x as u32),
            None => {
                group_of_zone.push((z, groups.len()));
                groups.push(vec![x as u32]);
            }
        }
    }
    // Stable sort: equal sizes keep the order of their first member.
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let rounds = groups.first().map_or(0, Vec::len);
    let mut order = Vec::with_capacity(zone_of.len());
    for i in 0..rounds {
        for g in &groups {
            if let Some(&x) = g.get(i) {
                order.push(x);
            }
        }
    }
    order
}

/// The round-robin construction for a first ring: walk the members cyclically, emitting one
/// per partition, and skip each of the `S - (Q mod S)` members that get one partition fewer
/// exactly once, never more than `S - target_n` skips within `target_n - 1` consecutive
/// partitions (so every window stays distinct). `None` when the skips do not fit.
fn construct(q: usize, target_n: u32, zone_of: &[u32]) -> Option<Vec<u32>> {
    let s = zone_of.len();
    let order = zone_interleaved_order(zone_of);
    let w = (target_n as usize).min(s).max(1);
    let r = q % s;
    if r == 0 || s <= w {
        // Plain round robin: no skip needed, or none possible without a repeat.
        return Some((0..q).map(|p| order[p % s]).collect());
    }
    let k = s - r;
    let mut skip = vec![false; s];
    for i in 0..k {
        skip[(2 * i + 1) * s / (2 * k)] = true;
    }
    let budget = s - w;
    let mut recent: VecDeque<usize> = VecDeque::new();
    let mut remaining = k;
    let mut cur = 0usize;
    let mut owners = Vec::with_capacity(q);
    for p in 0..q {
        let mut here = 0;
        let used: usize = recent.iter().sum();
        if p + 1 >= w {
            while remaining > 0 && skip[cur] && used + here < budget {
                skip[cur] = false;
                remaining -= 1;
                here += 1;
                cur = (cur + 1) % s;
            }
        }
        owners.push(order[cur]);
        cur = (cur + 1) % s;
        recent.push_back(here);
        if recent.len() > w.saturating_sub(2) {
            recent.pop_front();
        }
    }
    (remaining == 0 && cur == 0).then_some(owners)
}

/// Per-member tie-break offsets: SipHash of the node name, the same on every node.
pub(super) fn salts<'n>(names: impl Iterator<Item = &'n str>) -> Vec<u64> {
    names.map(|n| sip(n.as_bytes())).collect()
}

/// The assignment of a first ring: the better of the round-robin construction and the greedy.
pub(super) fn first_assignment(
    q: usize,
    target_n: u32,
    zone_of: &[u32],
    zones: usize,
    salt: &[u64],
) -> Vec<u32> {
    let spacing = Spacing::new(q, target_n, zone_of, zones);
    let mut greedy = vec![NONE; q];
    let t = targets(q, &vec![0; zone_of.len()]);
    fill(&spacing, &mut greedy, &t, salt, TieBreak::Sequential);
    match construct(q, target_n, zone_of) {
        Some(built) if spacing.total(&built) <= spacing.total(&greedy) => built,
        _ => greedy,
    }
}

/// The assignment after a membership change: `owners` holds the new member index of each
/// partition's previous owner, or [`NONE`] where that owner left.
pub(super) fn reassign(
    mut owners: Vec<u32>,
    target_n: u32,
    zone_of: &[u32],
    zones: usize,
    salt: &[u64],
) -> Vec<u32> {
    let q = owners.len();
    let spacing = Spacing::new(q, target_n, zone_of, zones);
    let mut count = vec![0usize; zone_of.len()];
    for &o in &owners {
        if o != NONE {
            count[o as usize] += 1;
        }
    }
    let t = targets(q, &count);
    fill(&spacing, &mut owners, &t, salt, TieBreak::Spread);
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_balanced_and_favour_current_holders() {
        assert_eq!(targets(10, &[0, 0, 0]), vec![4, 3, 3]);
        assert_eq!(targets(10, &[0, 5, 5]), vec![3, 4, 3]);
        assert_eq!(targets(2, &[0, 0, 0]), vec![1, 1, 0]);
    }

    #[test]
    fn construction_has_no_conflicts_when_nodes_outnumber_target() {
        for s in 5..=40usize {
            let zone_of: Vec<u32> = (0..s as u32).collect();
            let spacing = Spacing::new(256, 4, &zone_of, s);
            let built = construct(256, 4, &zone_of);
            let Some(built) = built else {
                panic!("construction failed for S = {s}");
            };
            assert_eq!(spacing.total(&built), 0, "S = {s}");
        }
    }

    #[test]
    fn interleaving_alternates_zones() {
        // Members 0,1 in zone 0; 2,3 in zone 1; 4 alone.
        assert_eq!(
            zone_interleaved_order(&[0, 0, 1, 1, 2]),
            vec![0, 2, 4, 1, 3]
        );
    }
}

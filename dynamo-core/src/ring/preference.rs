//! Preference lists: who stores a partition, and who stands in when some of them are down.

use std::collections::VecDeque;

use super::{PartitionId, Ring};
use crate::NodeId;

/// One member of a sloppy preference list: a node that should receive a replica, and, when
/// it is a substitute, the unreachable primary it stands in for.
///
/// A substitute keeps what it receives as a *hint* addressed to `stands_in_for`, and delivers
/// it there when that node is reachable again (hinted handoff, paper §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Replica<'a> {
    /// The node to send the replica to.
    pub node: &'a NodeId,
    /// `None` when `node` is itself one of the N primaries; otherwise the primary whose slot
    /// `node` fills — the hint's destination.
    pub stands_in_for: Option<&'a NodeId>,
}

impl Replica<'_> {
    /// True when this node is a substitute holding a hint rather than a primary replica.
    pub fn is_fallback(&self) -> bool {
        self.stands_in_for.is_some()
    }
}

/// A candidate met while walking the ring: (steps from the start partition, member index).
type Cand = (u32, u32);

/// Members already met on a walk, as a bit set.
enum Seen {
    Small(u128),
    Large(Vec<u64>),
}

impl Seen {
    fn new(members: usize) -> Self {
        if members <= 128 {
            Seen::Small(0)
        } else {
            Seen::Large(vec![0; members.div_ceil(64)])
        }
    }

    /// Marks `m`; true when it was not marked before.
    fn insert(&mut self, m: u32) -> bool {
        match self {
            Seen::Small(bits) => {
                let bit = 1u128 << m;
                let fresh = *bits & bit == 0;
                *bits |= bit;
                fresh
            }
            Seen::Large(words) => {
                let (w, bit) = ((m / 64) as usize, 1u64 << (m % 64));
                let fresh = words[w] & bit == 0;
                words[w] |= bit;
                fresh
            }
        }
    }
}

/// The distinct owners met walking clockwise from a partition, nearest first, with
/// candidates set aside by an earlier selection put back in front.
struct Candidates<'r> {
    owners: &'r [u32],
    start: usize,
    step: usize,
    seen: Seen,
    /// Owning nodes not met yet: the walk stops when none is left.
    unseen: usize,
    pending: VecDeque<Cand>,
}

impl<'r> Candidates<'r> {
    fn new(ring: &'r Ring, start: usize) -> Self {
        Candidates {
            owners: &ring.owners,
            start,
            step: 0,
            seen: Seen::new(ring.members.len()),
            unseen: ring.owning_nodes,
            pending: VecDeque::new(),
        }
    }

    fn next(&mut self) -> Option<Cand> {
        if let Some(c) = self.pending.pop_front() {
            return Some(c);
        }
        let q = self.owners.len();
        while self.step < q && self.unseen > 0 {
            let m = self.owners[(self.start + self.step) % q];
            let offset = self.step as u32;
            self.step += 1;
            if self.seen.insert(m) {
                self.unseen -= 1;
                return Some((offset, m));
            }
        }
        None
    }

    /// Puts back candidates (in walk order) taken but not used; they precede anything left.
    fn put_back(&mut self, cands: impl DoubleEndedIterator<Item = Cand>) {
        for c in cands.rev() {
            self.pending.push_front(c);
        }
    }
}

impl Ring {
    /// Takes up to `n` nodes from `cands` for which `accept` holds, nearest first, preferring
    /// nodes whose zone is not in `used` as long as zones remain unused (`zone_total` zones
    /// exist in all), then any node. Returns them in walk order; records their zones in `used`.
    fn pick(
        &self,
        cands: &mut Candidates<'_>,
        n: usize,
        used: &mut Vec<u32>,
        accept: &mut dyn FnMut(u32) -> bool,
    ) -> Vec<Cand> {
        let mut picked: Vec<Cand> = Vec::with_capacity(n);
        let mut skipped: Vec<Cand> = Vec::new();
        while picked.len() < n && used.len() < self.owning_zones {
            let Some(c) = cands.next() else { break };
            if !accept(c.1) {
                continue;
            }
            let z = self.zone_of[c.1 as usize];
            if used.contains(&z) {
                skipped.push(c);
            } else {
                used.push(z);
                picked.push(c);
            }
        }
        // Not enough zones: fall back to the nearest nodes not taken yet.
        let mut skipped = skipped.into_iter();
        while picked.len() < n {
            if let Some(c) = skipped.next() {
                picked.push(c);
                continue;
            }
            let Some(c) = cands.next() else { break };
            if accept(c.1) {
                let z = self.zone_of[c.1 as usize];
                if !used.contains(&z) {
                    used.push(z);
                }
                picked.push(c);
            }
        }
        cands.put_back(skipped);
        picked.sort_unstable_by_key(|c| c.0);
        picked
    }

    /// The preference list of `partition` (paper §4.3): the first `n` distinct nodes met
    /// walking the ring clockwise from the partition, its owner first — skipping a node whose
    /// zone already holds a replica as long as some zone holds none. These are the nodes that
    /// store the partition's keys.
    ///
    /// Fewer than `n` nodes when the ring has fewer owning nodes; empty when `partition` is
    /// not one of this ring's partitions.
    pub fn preference_list(&self, partition: PartitionId, n: usize) -> Vec<&NodeId> {
        if !self.config.contains(partition) {
            return Vec::new();
        }
        let mut cands = Candidates::new(self, partition.index());
        let mut used = Vec::with_capacity(n.min(self.owning_zones));
        self.pick(&mut cands, n, &mut used, &mut |_| true)
            .into_iter()
            .map(|(_, m)| &self.members[m as usize].node)
            .collect()
    }

    /// The preference list of the partition that stores `key` of `bucket`.
    pub fn preference_list_for_key(&self, bucket: &[u8], key: &[u8], n: usize) -> Vec<&NodeId> {
        self.preference_list(self.partition_of(bucket, key), n)
    }

    /// The sloppy-quorum preference list (paper §4.6): the `n` primaries of
    /// [`preference_list`](Self::preference_list), where each primary for which `is_up` is
    /// false is replaced by the next reachable node further round the ring (again preferring
    /// unused zones), paired with the primary it stands in for.
    ///
    /// Entries are in slot order: entry `i` is primary `i` or its substitute. A slot for which
    /// no reachable node is left is omitted, so the list is shorter than `n` when fewer than `n`
    /// nodes are reachable. `is_up` is called at most a few times per node.
    pub fn sloppy_preference_list(
        &self,
        partition: PartitionId,
        n: usize,
        mut is_up: impl FnMut(&NodeId) -> bool,
    ) -> Vec<Replica<'_>> {
        if !self.config.contains(partition) {
            return Vec::new();
        }
        let mut cands = Candidates::new(self, partition.index());
        let mut used = Vec::with_capacity(n.min(self.owning_zones));
        let primaries = self.pick(&mut cands, n, &mut used, &mut |_| true);
        let up: Vec<bool> = primaries
            .iter()
            .map(|&(_, m)| is_up(&self.members[m as usize].node))
            .collect();
        let down = up.iter().filter(|u| !**u).count();
        let mut substitutes = Vec::new().into_iter();
        if down > 0 {
            // Zones already holding a replica: those of the reachable primaries.
            let mut used: Vec<u32> = Vec::with_capacity(n);
            for (&(_, m), &u) in primaries.iter().zip(&up) {
                let z = self.zone_of[m as usize];
                if u && !used.contains(&z) {
                    used.push(z);
                }
            }
            let mut accept = |m: u32| is_up(&self.members[m as usize].node);
            substitutes = self
                .pick(&mut cands, down, &mut used, &mut accept)
                .into_iter();
        }
        let mut out = Vec::with_capacity(primaries.len());
        for (&(_, m), &u) in primaries.iter().zip(&up) {
            let primary = &self.members[m as usize].node;
            if u {
                out.push(Replica {
                    node: primary,
                    stands_in_for: None,
                });
            } else if let Some((_, s)) = substitutes.next() {
                out.push(Replica {
                    node: &self.members[s as usize].node,
                    stands_in_for: Some(primary),
                });
            }
        }
        out
    }

    /// Partitions whose preference list (of length `n`) includes `node`: what the node stores
    /// as a primary replica, and so what anti-entropy must cover.
    pub fn partitions_replicated_by(&self, node: &NodeId, n: usize) -> Vec<PartitionId> {
        self.config
            .partition_ids()
            .filter(|&p| self.preference_list(p, n).contains(&node))
            .collect()
    }

    /// How many partitions `p` have an `n`-window `p, p+1, .., p+n-1` whose owners are not `n`
    /// distinct nodes (with `n` capped at the number of owning nodes). Zero means every
    /// preference list of length `n` is exactly the next `n` owners, so replicas are spread
    /// as evenly as partitions; a diagnostic for operators and tests.
    pub fn crowded_windows(&self, n: usize) -> usize {
        let q = self.owners.len();
        let n = n.min(self.owning_nodes).min(q);
        (0..q)
            .filter(|&p| {
                let mut seen = Seen::new(self.members.len());
                !(0..n).all(|d| seen.insert(self.owners[(p + d) % q]))
            })
            .count()
    }
}

//! An incrementally maintained Merkle tree over the keys of one partition.
//!
//! The paper's replicas rebuild a hash tree over a key range to compare it with another
//! replica's. Rebuilding costs a full scan per exchange; instead we keep the tree current on
//! every write, in O(depth) work:
//!
//! - each key of the partition falls into one of `leaves` buckets (by a hash of the key);
//! - a key contributes a 64-bit *digest* of (key, stored record) to its bucket;
//! - a bucket's hash is the XOR of its keys' digests, and an inner node's hash is the XOR of its
//!   children's.
//!
//! XOR makes every update local: when a key's record changes from digest `old` to `new`, every
//! node on the path from its bucket to the root changes by `old ^ new`. Two replicas holding
//! the same keys with the same records have equal trees; a difference shows at the root and can
//! be followed down only into the differing children, so an exchange costs O(differences ×
//! depth) hashes, not O(keys). With good 64-bit digests, two different sets hash the same with
//! probability about 2⁻⁶⁴ per node compared.
//!
//! The tree holds only hashes: it is rebuilt from a scan of the partition when a node starts
//! (or adopts a partition) and then kept current by the write path.

/// Position of a node in the tree: `level` 0 is the root, the deepest level holds the leaves
/// (buckets); `index` counts from the left within the level.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct NodeIndex {
    /// Depth: 0 for the root.
    pub level: u8,
    /// Position within the level.
    pub index: u32,
}

/// A Merkle tree of fixed shape: `fanout` children per inner node, `fanout^depth` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    fanout: u32,
    /// `levels[0]` is the root (one hash); `levels[depth]` the leaves.
    levels: Vec<Vec<u64>>,
    keys: u64,
}

impl MerkleTree {
    /// Default number of children of an inner node.
    pub const DEFAULT_FANOUT: u32 = 16;
    /// Default depth below the root: 16³ = 4096 buckets per partition.
    pub const DEFAULT_DEPTH: u8 = 3;

    /// An empty tree (every hash 0) of the default shape.
    pub fn new() -> Self {
        Self::with_shape(Self::DEFAULT_FANOUT, Self::DEFAULT_DEPTH)
    }

    /// An empty tree with `fanout` children per node (at least 2) and `depth` levels below the
    /// root (at least 1; capped so that there are at most 2²⁴ leaves).
    pub fn with_shape(fanout: u32, depth: u8) -> Self {
        let fanout = fanout.clamp(2, 256);
        let mut depth = depth.max(1);
        while u64::from(fanout).saturating_pow(u32::from(depth)) > 1 << 24 {
            depth -= 1;
        }
        let levels = (0..=depth)
            .map(|l| vec![0u64; fanout.pow(u32::from(l)) as usize])
            .collect();
        MerkleTree {
            fanout,
            levels,
            keys: 0,
        }
    }

    /// Children per inner node.
    pub fn fanout(&self) -> u32 {
        self.fanout
    }

    /// Levels below the root.
    pub fn depth(&self) -> u8 {
        (self.levels.len() - 1) as u8
    }

    /// Number of leaves (buckets).
    pub fn leaves(&self) -> u32 {
        self.levels[self.levels.len() - 1].len() as u32
    }

    /// Number of keys the tree accounts for.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// The root hash: equal roots mean (with overwhelming probability) equal partitions.
    pub fn root(&self) -> u64 {
        self.levels[0][0]
    }

    /// The bucket a key with hash `key_hash` falls into.
    pub fn bucket_of(&self, key_hash: u64) -> u32 {
        // Fold the high bits in: the partition was chosen by the top bits of the same family of
        // hashes, so the low bits alone might be correlated with it.
        ((key_hash ^ (key_hash >> 32)) % u64::from(self.leaves())) as u32
    }

    /// Records that a key of hash `key_hash` changed its digest from `old` to `new`. Use `None`
    /// for a key that did not exist before (`old`) or no longer exists (`new`).
    pub fn update(&mut self, key_hash: u64, old: Option<u64>, new: Option<u64>) {
        let delta = old.unwrap_or(0) ^ new.unwrap_or(0);
        match (old.is_some(), new.is_some()) {
            (false, true) => self.keys += 1,
            (true, false) => self.keys = self.keys.saturating_sub(1),
            _ => {}
        }
        if delta == 0 {
            return;
        }
        let mut index = self.bucket_of(key_hash) as usize;
        for level in (0..self.levels.len()).rev() {
            self.levels[level][index] ^= delta;
            index /= self.fanout as usize;
        }
    }

    /// Adds a key that is new to the tree (as when rebuilding from a scan).
    pub fn insert(&mut self, key_hash: u64, digest: u64) {
        self.update(key_hash, None, Some(digest));
    }

    /// The hash of one node, or `None` when the index is outside the tree.
    pub fn hash(&self, node: NodeIndex) -> Option<u64> {
        self.levels
            .get(usize::from(node.level))?
            .get(node.index as usize)
            .copied()
    }

    /// The children of `node` with their hashes; empty for a leaf or an index outside the tree.
    pub fn children(&self, node: NodeIndex) -> Vec<(NodeIndex, u64)> {
        let level = usize::from(node.level) + 1;
        let Some(hashes) = self.levels.get(level) else {
            return Vec::new();
        };
        let first = node.index as usize * self.fanout as usize;
        (first..first + self.fanout as usize)
            .filter_map(|i| {
                hashes.get(i).map(|h| {
                    (
                        NodeIndex {
                            level: level as u8,
                            index: i as u32,
                        },
                        *h,
                    )
                })
            })
            .collect()
    }

    /// True when `node` is a leaf (bucket).
    pub fn is_leaf(&self, node: NodeIndex) -> bool {
        usize::from(node.level) + 1 == self.levels.len()
    }

    /// Of the `(node, remote hash)` pairs another replica sent, those whose hash differs here:
    /// the nodes an exchange must descend into (or, for leaves, whose keys it must compare).
    /// Nodes outside this tree's shape count as different.
    pub fn differing(&self, remote: &[(NodeIndex, u64)]) -> Vec<NodeIndex> {
        remote
            .iter()
            .filter(|(node, hash)| self.hash(*node) != Some(*hash))
            .map(|(node, _)| *node)
            .collect()
    }

    /// The leaf buckets where this tree and `other` (same shape) differ, found by descending
    /// only into differing subtrees — what an exchange between two replicas computes, here in
    /// one process. Returns every leaf when the shapes differ.
    pub fn diff_leaves(&self, other: &MerkleTree) -> Vec<u32> {
        if self.fanout != other.fanout || self.levels.len() != other.levels.len() {
            return (0..self.leaves()).collect();
        }
        let mut frontier = vec![NodeIndex { level: 0, index: 0 }];
        let mut leaves = Vec::new();
        while let Some(node) = frontier.pop() {
            if self.hash(node) == other.hash(node) {
                continue;
            }
            if self.is_leaf(node) {
                leaves.push(node.index);
            } else {
                frontier.extend(self.children(node).into_iter().map(|(c, _)| c));
            }
        }
        leaves.sort_unstable();
        leaves
    }
}

impl Default for MerkleTree {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use std::collections::BTreeMap;

    /// Builds a tree from scratch from (key hash → digest).
    fn build(keys: &BTreeMap<u64, u64>) -> MerkleTree {
        let mut t = MerkleTree::new();
        for (k, d) in keys {
            t.insert(*k, *d);
        }
        t
    }

    #[test]
    fn incremental_updates_equal_a_rebuild() {
        let mut rng = Rng::seeded(5);
        let mut keys = BTreeMap::new();
        let mut tree = MerkleTree::new();
        for _ in 0..20_000 {
            let k = rng.below(3000);
            let old = keys.get(&k).copied();
            let new = if rng.chance(200_000) {
                None
            } else {
                Some(rng.next_u64())
            };
            match new {
                Some(d) => keys.insert(k, d),
                None => keys.remove(&k),
            };
            tree.update(k, old, new);
        }
        let rebuilt = build(&keys);
        assert_eq!(tree, rebuilt);
        assert_eq!(tree.keys(), keys.len() as u64);
    }

    #[test]
    fn order_of_inserts_does_not_matter() {
        let mut rng = Rng::seeded(9);
        let pairs: Vec<(u64, u64)> = (0..500).map(|_| (rng.next_u64(), rng.next_u64())).collect();
        let mut a = MerkleTree::new();
        let mut b = MerkleTree::new();
        for (k, d) in &pairs {
            a.insert(*k, *d);
        }
        for (k, d) in pairs.iter().rev() {
            b.insert(*k, *d);
        }
        assert_eq!(a.root(), b.root());
        assert!(a.diff_leaves(&b).is_empty());
    }

    #[test]
    fn diff_finds_exactly_the_buckets_of_changed_keys() {
        let mut rng = Rng::seeded(11);
        let keys: BTreeMap<u64, u64> = (0..5000)
            .map(|_| (rng.next_u64(), rng.next_u64()))
            .collect();
        let a = build(&keys);
        let mut other = keys.clone();
        let changed: Vec<u64> = keys.keys().copied().step_by(997).collect();
        let mut expected = Vec::new();
        for k in &changed {
            other.insert(*k, rng.next_u64());
            expected.push(a.bucket_of(*k));
        }
        // A key only the other side has, and one only this side has.
        let extra = rng.next_u64();
        other.insert(extra, 1);
        expected.push(a.bucket_of(extra));
        let gone = *keys.keys().nth(1234).expect("key");
        other.remove(&gone);
        expected.push(a.bucket_of(gone));
        expected.sort_unstable();
        expected.dedup();
        let b = build(&other);
        assert_ne!(a.root(), b.root());
        assert_eq!(a.diff_leaves(&b), expected);
    }

    #[test]
    fn differing_compares_remote_nodes() {
        let mut a = MerkleTree::new();
        let b = MerkleTree::new();
        a.insert(42, 7);
        let root = NodeIndex { level: 0, index: 0 };
        let remote = b.children(root);
        let diff = a.differing(&remote);
        assert_eq!(diff.len(), 1);
        assert_eq!(
            a.differing(&[(NodeIndex { level: 9, index: 0 }, 0)]).len(),
            1
        );
        assert!(b.children(NodeIndex { level: 3, index: 0 }).is_empty());
    }

    #[test]
    fn shape_is_bounded() {
        let t = MerkleTree::with_shape(256, 9);
        assert!(t.leaves() <= 1 << 24);
        let t = MerkleTree::with_shape(0, 0);
        assert_eq!((t.fanout(), t.depth()), (2, 1));
    }
}

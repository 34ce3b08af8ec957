//! What a [`ClusterClient`](super::ClusterClient) knows of the cluster: the ring's partitions
//! with their preference lists, and how to reach each node, from one node's `GET /ring`.

use std::collections::HashMap;
use std::time::Instant;

use dynamo_core::ring::RingConfig;

use crate::admin::RingInfo;

/// A routing table built from a [`RingInfo`].
#[derive(Debug)]
pub(super) struct View {
    /// The ring version it was built from.
    pub version: u64,
    /// The ring's shape (`None`: no ring was known, e.g. before the first fetch).
    ring: Option<RingConfig>,
    /// Every partition's preference list, as indexes into `everyone` (nodes without an
    /// announced HTTP endpoint are left out).
    preference: Vec<Vec<u16>>,
    /// Every member's base URL, in ring order, then the seeds that are not members.
    pub everyone: Vec<String>,
    /// Whether the answering node considered each of `everyone` down.
    down: Vec<bool>,
    /// When it was fetched.
    pub fetched: Instant,
    /// Some ring member had not announced its endpoints yet (gossip had not brought them to
    /// the node asked): worth asking again soon, though the ring version did not change.
    pub incomplete: bool,
}

impl View {
    /// A view that knows no ring: requests go to the seeds in turn.
    pub fn seeds_only(seeds: &[String]) -> View {
        View {
            version: 0,
            ring: None,
            preference: Vec::new(),
            everyone: seeds.to_vec(),
            down: vec![false; seeds.len()],
            fetched: Instant::now(),
            incomplete: true,
        }
    }

    /// The view of `info`, with `seeds` appended to the nodes tried last. `None` when the
    /// answer has no usable ring (no ring yet, a partition count that is not a power of two,
    /// or no member with an HTTP endpoint).
    pub fn from_ring(info: &RingInfo, seeds: &[String]) -> Option<View> {
        if info.version == 0 {
            return None;
        }
        let ring = RingConfig::new(info.partition_count).ok()?;
        let mut everyone: Vec<String> = Vec::new();
        let mut down = Vec::new();
        let mut index: HashMap<&str, u16> = HashMap::new();
        for m in &info.members {
            let Some(url) = &m.http else { continue };
            if !everyone.contains(url) {
                index.insert(m.node.as_str(), u16::try_from(everyone.len()).ok()?);
                everyone.push(url.clone());
                down.push(m.up == Some(false));
            }
        }
        if everyone.is_empty() {
            return None;
        }
        for seed in seeds {
            if !everyone.contains(seed) {
                everyone.push(seed.clone());
                down.push(false);
            }
        }
        let mut preference = vec![Vec::new(); info.partition_count as usize];
        for p in &info.partitions {
            let slot = preference.get_mut(p.id as usize)?;
            *slot = p
                .preference_list
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect();
        }
        let incomplete = info.members.iter().any(|m| m.http.is_none());
        Some(View {
            incomplete,
            version: info.version,
            ring: Some(ring),
            preference,
            everyone,
            down,
            fetched: Instant::now(),
        })
    }

    /// The nodes to try for `key` of `bucket`, best first, as indexes into `everyone`: its
    /// preference list (its coordinators, so no request is forwarded), then every other
    /// node; within each group, nodes believed down go last.
    pub fn candidates(&self, bucket: &[u8], key: &[u8]) -> Vec<usize> {
        let mut order: Vec<usize> = Vec::with_capacity(self.everyone.len());
        if let Some(ring) = self.ring
            && let Some(list) = self
                .preference
                .get(ring.partition_of(bucket, key).0 as usize)
        {
            order.extend(list.iter().map(|&i| usize::from(i)));
        }
        let primaries = order.len();
        for i in 0..self.everyone.len() {
            if !order.contains(&i) {
                order.push(i);
            }
        }
        // Stable: the ring order stays within each group.
        let (head, tail) = order.split_at_mut(primaries);
        head.sort_by_key(|&i| self.down[i]);
        tail.sort_by_key(|&i| self.down[i]);
        order
    }

    /// [`candidates`](Self::candidates) as base URLs.
    pub fn candidate_urls(&self, bucket: &[u8], key: &[u8]) -> Vec<String> {
        self.candidates(bucket, key)
            .into_iter()
            .map(|i| self.everyone[i].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{RingMember, RingPartition};

    fn member(node: &str, up: bool) -> RingMember {
        RingMember {
            node: node.into(),
            http: Some(format!("http://{node}")),
            up: Some(up),
            ..RingMember::default()
        }
    }

    fn info() -> RingInfo {
        RingInfo {
            node: "a".into(),
            version: 3,
            digest: Some(1),
            partition_count: 2,
            n: 2,
            members: vec![member("a", true), member("b", false), member("c", true)],
            partitions: vec![
                RingPartition {
                    id: 0,
                    owner: "a".into(),
                    preference_list: vec!["a".into(), "b".into()],
                },
                RingPartition {
                    id: 1,
                    owner: "b".into(),
                    preference_list: vec!["b".into(), "c".into()],
                },
            ],
        }
    }

    #[test]
    fn a_key_goes_to_its_preference_list_first_and_down_nodes_last() {
        let view = View::from_ring(&info(), &["http://seed".into()]).unwrap();
        let config = RingConfig::new(2).unwrap();
        // A key of each partition.
        let key_of = |p: u32| {
            (0..1000)
                .map(|i| format!("k{i}"))
                .find(|k| config.partition_of(b"b", k.as_bytes()).0 == p)
                .unwrap()
        };
        assert_eq!(
            view.candidate_urls(b"b", key_of(0).as_bytes()),
            ["http://a", "http://b", "http://c", "http://seed"]
        );
        // b owns partition 1 but is down: c first, b still before the other nodes.
        assert_eq!(
            view.candidate_urls(b"b", key_of(1).as_bytes()),
            ["http://c", "http://b", "http://a", "http://seed"]
        );
    }

    #[test]
    fn unusable_rings_are_refused() {
        let mut no_ring = info();
        no_ring.version = 0;
        assert!(View::from_ring(&no_ring, &[]).is_none());
        let mut odd = info();
        odd.partition_count = 3;
        assert!(View::from_ring(&odd, &[]).is_none());
        let mut silent = info();
        for m in &mut silent.members {
            m.http = None;
        }
        assert!(View::from_ring(&silent, &[]).is_none());
        let seeds = View::seeds_only(&["http://x".into()]);
        assert_eq!(seeds.candidate_urls(b"b", b"k"), ["http://x"]);
    }
}

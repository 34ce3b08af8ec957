//! [`Membership`], the per-node facade: join through seeds, admin join of a standalone node,
//! leave and exit, comeback after a wipe, and what each update asks of the node (persist,
//! reply, changes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod membership_support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use dynamo_core::membership::{
    BucketProps, ClusterState, MemberStatus, Membership, MembershipChange, MembershipError,
};
use dynamo_core::ring::RingConfig;
use dynamo_core::rng::Rng;
use dynamo_core::{NodeId, Timestamp};
use membership_support::id;

const SECOND: Duration = Duration::from_secs(1);

fn cluster(names: &[&str]) -> ClusterState {
    ClusterState::new_cluster(
        RingConfig::new(32).unwrap(),
        names.iter().map(|n| (id(n), None, format!("{n}:7000"))),
    )
    .unwrap()
}

struct Net {
    nodes: BTreeMap<NodeId, Membership>,
    rng: Rng,
    now: u64,
    log: Vec<(NodeId, MembershipChange)>,
    /// Nodes whose state was persisted at least once, and how often.
    persisted: BTreeMap<NodeId, u32>,
}

impl Net {
    fn new(seed: u64, founders: &[&str]) -> Net {
        let state = cluster(founders);
        let mut net = Net {
            nodes: BTreeMap::new(),
            rng: Rng::seeded(seed),
            now: 0,
            log: Vec::new(),
            persisted: BTreeMap::new(),
        };
        for n in founders {
            let m = Membership::new(id(n), state.clone(), vec![], SECOND, Timestamp(0)).unwrap();
            net.nodes.insert(id(n), m);
        }
        net
    }

    fn add(&mut self, m: Membership) {
        self.nodes.insert(m.me().clone(), m);
    }

    fn record(&mut self, who: &NodeId, up: dynamo_core::membership::Update) {
        if up.persist {
            *self.persisted.entry(who.clone()).or_default() += 1;
        }
        self.log
            .extend(up.changes.into_iter().map(|c| (who.clone(), c)));
    }

    fn node(&mut self, n: &str) -> &mut Membership {
        self.nodes.get_mut(&id(n)).unwrap()
    }

    fn round(&mut self) {
        self.now += 1_000;
        let now = Timestamp(self.now);
        let names: Vec<NodeId> = self.nodes.keys().cloned().collect();
        for me in names {
            let mut rng = self.rng.fork();
            let Some(to) = self
                .nodes
                .get_mut(&me)
                .unwrap()
                .poll_gossip(now, |_| true, &mut rng)
            else {
                continue;
            };
            let Some(_) = self.nodes.get(&to) else {
                continue;
            };
            let pushed = self.nodes[&me].state().clone();
            let up = self.nodes.get_mut(&to).unwrap().handle_gossip(&pushed);
            let reply = up.reply;
            self.record(&to, up);
            if reply {
                let back = self.nodes[&to].state().clone();
                let up = self.nodes.get_mut(&me).unwrap().handle_gossip(&back);
                self.record(&me, up);
            }
        }
    }

    fn converged(&self) -> bool {
        let mut it = self.nodes.values();
        let first = it.next().unwrap().state();
        first.is_settled() && it.all(|m| m.state() == first)
    }

    fn run_until_converged(&mut self, max: u32) -> u32 {
        for r in 1..=max {
            self.round();
            if self.converged() {
                return r;
            }
        }
        panic!("no convergence in {max} rounds");
    }
}

#[test]
fn a_new_node_joins_through_its_seeds() {
    for seed in 0..20 {
        let mut net = Net::new(seed, &["a", "b", "c"]);
        let joining = ClusterState::joining(id("d"), None, "d:7000".into()).unwrap();
        let d = Membership::new(
            id("d"),
            joining,
            vec![id("b"), id("d")],
            SECOND,
            Timestamp(0),
        )
        .unwrap();
        assert!(!d.in_ring());
        assert_eq!(d.status(), Some(MemberStatus::Joining));
        net.add(d);
        net.run_until_converged(20);
        assert!(net.node("d").in_ring());
        assert_eq!(net.node("d").status(), Some(MemberStatus::Valid));
        // The claimant reported the admission and the new ring; d learnt both too.
        // (a may learn of d and admit it in the same merge: `from` is then unknown.)
        assert!(net.log.iter().any(|(who, c)| *who == id("a")
            && matches!(c, MembershipChange::Status { node, from, to: MemberStatus::Valid }
                if *node == id("d") && *from != Some(MemberStatus::Valid))));
        let ring = net.node("a").state().ring().unwrap().digest();
        assert!(net.log.iter().any(|(who, c)| *who == id("d")
            && matches!(c, MembershipChange::Ring { version: 2, digest } if *digest == ring)));
        assert!(net.persisted.contains_key(&id("d")));
    }
}

#[test]
fn a_standalone_node_joins_by_admin_command() {
    let mut net = Net::new(3, &["a", "b"]);
    let alone = cluster(&["x"]);
    let mut x = Membership::new(id("x"), alone, vec![], SECOND, Timestamp(0)).unwrap();
    assert!(x.in_ring());
    assert!(matches!(
        x.join(id("x"), Timestamp(0)),
        Err(MembershipError::WrongStatus { .. })
    ));
    let up = x.join(id("a"), Timestamp(0)).unwrap();
    assert!(up.persist);
    assert!(!x.in_ring());
    assert!(x.state().ring().is_none());
    net.add(x);
    net.run_until_converged(20);
    let ring = net.node("b").state().ring().unwrap().clone();
    let owners: Vec<String> = ring.members().iter().map(|m| m.node.to_string()).collect();
    assert_eq!(owners, ["a", "b", "x"]);
}

#[test]
fn leave_exit_and_comeback_after_a_wipe() {
    let mut net = Net::new(5, &["a", "b", "c"]);
    let up = net.node("c").leave(Timestamp(0)).unwrap();
    assert!(up.changes.contains(&MembershipChange::Status {
        node: id("c"),
        from: Some(MemberStatus::Valid),
        to: MemberStatus::Leaving
    }));
    for _ in 0..20 {
        net.round();
        if !net.node("c").in_ring() {
            break;
        }
    }
    assert!(!net.node("c").in_ring());
    // Transfers done (the node layer would know): exit.
    let now = Timestamp(net.now);
    net.node("c").finish_leave(now).unwrap();
    net.run_until_converged(20);
    assert_eq!(
        net.node("a").state().member(&id("c")).unwrap().status,
        MemberStatus::Exiting
    );

    // c comes back with a wiped disk and joins through b: its fresh request loses to the
    // tombstone, so the join intent renews it, and the claimant admits it.
    let wiped = ClusterState::joining(id("c"), None, "c:7000".into()).unwrap();
    let c = Membership::new(id("c"), wiped, vec![id("b")], SECOND, Timestamp(net.now)).unwrap();
    net.nodes.insert(id("c"), c);
    net.run_until_converged(20);
    assert_eq!(net.node("c").status(), Some(MemberStatus::Valid));
    assert!(net.node("c").in_ring());
}

#[test]
fn updates_say_what_to_do() {
    let state = cluster(&["a", "b"]);
    let mut a = Membership::new(id("a"), state.clone(), vec![], SECOND, Timestamp(0)).unwrap();
    // Same state: nothing to persist, nothing to answer.
    let up = a.handle_gossip(&state);
    assert_eq!(up, Default::default());
    // A bucket change made here: persist, and the old state's sender needs an answer.
    let props = BucketProps::default();
    let up = a
        .set_bucket_props(Bytes::from_static(b"k"), props, Timestamp(5))
        .unwrap();
    assert!(up.persist);
    assert_eq!(
        up.changes,
        vec![MembershipChange::Bucket {
            bucket: Bytes::from_static(b"k"),
            props
        }]
    );
    assert_eq!(a.next_deadline(), Timestamp(0));
    let up = a.handle_gossip(&state);
    assert!(up.reply && !up.persist && up.changes.is_empty());
    // A join request arriving at the claimant: merged, admitted, answered.
    let join = ClusterState::joining(id("c"), None, "c".into()).unwrap();
    let up = a.handle_gossip(&join);
    assert!(up.persist && up.reply);
    assert!(
        up.changes
            .iter()
            .any(|c| matches!(c, MembershipChange::Ring { version: 2, .. }))
    );
    assert!(up.changes.contains(&MembershipChange::Status {
        node: id("c"),
        from: None,
        to: MemberStatus::Valid
    }));
    assert!(matches!(
        Membership::new(id("z"), state, vec![], SECOND, Timestamp(0)),
        Err(MembershipError::NotAMember(_))
    ));
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Quorum coordination end to end: 3 nodes, N=3 R=W=2, over `MemEngine`.

mod node_support;

use dynamo_core::node::{BucketProps, Location};
use dynamo_core::proto::{QuorumKind, RequestError};
use dynamo_core::version::Context;
use node_support::*;

fn three() -> Cluster<engine_mem::MemEngine> {
    Cluster::mem(3, 7, BucketProps::default())
}

#[test]
fn put_then_get_from_any_node() {
    let mut c = three();
    let w = c.put("n1", "k", "v1", Context::new()).unwrap();
    assert!(!w.context.is_empty());
    for n in ["n1", "n2", "n3"] {
        let r = c.get(n, "k").unwrap();
        assert_eq!(values(&r), ["v1"], "read at {n}");
        assert_eq!(r.siblings.len(), 1);
    }
    // Every replica holds the record.
    for n in ["n1", "n2", "n3"] {
        let rec = c.node(n).local_record(&Location::Data, b"b", b"k").unwrap();
        assert_eq!(rec.unwrap().len(), 1, "replica {n}");
    }
}

#[test]
fn absent_key_reads_empty() {
    let mut c = three();
    let r = c.get("n2", "nope").unwrap();
    assert!(r.is_absent());
    assert!(r.is_not_found());
    assert!(!r.is_deleted());
}

#[test]
fn update_with_context_replaces_the_value() {
    let mut c = three();
    c.put("n1", "k", "v1", Context::new()).unwrap();
    let r = c.get("n2", "k").unwrap();
    c.put("n3", "k", "v2", r.context).unwrap();
    for n in ["n1", "n2", "n3"] {
        assert_eq!(values(&c.get(n, "k").unwrap()), ["v2"], "read at {n}");
    }
}

#[test]
fn concurrent_blind_puts_make_siblings_and_the_merged_context_resolves_them() {
    let mut c = three();
    c.put("n1", "k", "a", Context::new()).unwrap();
    c.put("n2", "k", "b", Context::new()).unwrap();
    let r = c.get("n3", "k").unwrap();
    assert_eq!(values(&r), ["a", "b"]);
    c.put("n1", "k", "ab", r.context).unwrap();
    let r = c.get("n2", "k").unwrap();
    assert_eq!(values(&r), ["ab"]);
    assert_eq!(r.siblings.len(), 1);
}

#[test]
fn writing_with_a_writes_context_replaces_only_that_write() {
    let mut c = three();
    let a = c.put("n1", "k", "a", Context::new()).unwrap();
    c.put("n2", "k", "b", Context::new()).unwrap();
    // A client that only saw its own write "a" replaces it, not the concurrent "b".
    c.put("n3", "k", "a2", a.context).unwrap();
    assert_eq!(values(&c.get("n1", "k").unwrap()), ["a2", "b"]);
}

#[test]
fn delete_reads_as_a_tombstone_with_a_context() {
    let mut c = three();
    c.put("n1", "k", "v", Context::new()).unwrap();
    let r = c.get("n1", "k").unwrap();
    c.delete("n2", "k", r.context).unwrap();
    let r = c.get("n3", "k").unwrap();
    assert!(r.is_not_found());
    assert!(r.is_deleted());
    assert!(!r.is_absent());
    assert!(!r.context.is_empty());
    // Writing with the tombstone's context replaces it: one live value, no sibling.
    c.put("n1", "k", "again", r.context).unwrap();
    let r = c.get("n2", "k").unwrap();
    assert_eq!(values(&r), ["again"]);
    assert_eq!(r.siblings.len(), 1);
}

#[test]
fn one_replica_cut_off_writes_succeed_and_a_get_read_repairs_it() {
    let mut c = three();
    c.cut.insert(id("n3"));
    c.put("n1", "k", "v", Context::new()).unwrap();
    assert!(
        c.node("n3")
            .local_record(&Location::Data, b"b", b"k")
            .unwrap()
            .is_none()
    );
    // n3 comes back before the write's timeout marks it down; a read repairs it.
    c.cut.clear();
    let r = c.get("n1", "k").unwrap();
    assert_eq!(values(&r), ["v"]);
    let repaired = c
        .node("n3")
        .local_record(&Location::Data, b"b", b"k")
        .unwrap();
    let reference = c
        .node("n1")
        .local_record(&Location::Data, b"b", b"k")
        .unwrap();
    assert_eq!(repaired, reference);
    assert!(repaired.is_some());
    // And the replicas' Merkle trees agree again.
    let p = c.node("n1").ring().unwrap().partition_of(b"b", b"k");
    let roots: Vec<u64> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| c.node(n).merkle(p).unwrap().root())
        .collect();
    assert_eq!(roots[0], roots[1]);
    assert_eq!(roots[0], roots[2]);
}

#[test]
fn two_replicas_cut_off_fail_with_unavailable() {
    let mut c = three();
    c.cut.insert(id("n2"));
    c.cut.insert(id("n3"));
    let e = c.put("n1", "k", "v", Context::new()).unwrap_err();
    assert_eq!(
        e,
        RequestError::Unavailable {
            needed: 2,
            answered: 1,
            op: QuorumKind::Write
        }
    );
    // The silent replicas are now marked down; a read fails at once (only n1 is left).
    assert!(!c.node("n1").failure_detector().is_up(&id("n2")));
    let e = c.get("n1", "k").unwrap_err();
    assert_eq!(
        e,
        RequestError::Unavailable {
            needed: 2,
            answered: 1,
            op: QuorumKind::Read
        }
    );
    // With W=1 the write is accepted.
    let mut req = put_req("k", "v", Context::new());
    if let dynamo_core::proto::ClientRequest::Put { w, .. } = &mut req {
        *w = Some(1);
    }
    assert!(matches!(
        c.call("n1", req),
        dynamo_core::proto::ClientResponse::Put(Ok(_))
    ));
}

#[test]
fn quorum_overrides_are_validated() {
    let mut c = three();
    let mut req = get_req("k");
    if let dynamo_core::proto::ClientRequest::Get { r, .. } = &mut req {
        *r = Some(4);
    }
    assert!(matches!(
        c.call("n1", req),
        dynamo_core::proto::ClientResponse::Get(Err(RequestError::InvalidRequest(_)))
    ));
    let mut req = put_req("k", "v", Context::new());
    if let dynamo_core::proto::ClientRequest::Put { w, .. } = &mut req {
        *w = Some(0);
    }
    assert!(matches!(
        c.call("n1", req),
        dynamo_core::proto::ClientResponse::Put(Err(RequestError::InvalidRequest(_)))
    ));
    // R = 3 waits for every replica.
    c.put("n1", "k", "v", Context::new()).unwrap();
    let mut req = get_req("k");
    if let dynamo_core::proto::ClientRequest::Get { r, .. } = &mut req {
        *r = Some(3);
    }
    c.cut.insert(id("n3"));
    assert!(matches!(
        c.call("n1", req),
        dynamo_core::proto::ClientResponse::Get(Err(RequestError::Unavailable {
            needed: 3,
            answered: 2,
            ..
        }))
    ));
}

#[test]
fn return_body_gives_the_versions_after_the_write() {
    let mut c = three();
    c.put("n1", "k", "a", Context::new()).unwrap();
    let mut req = put_req("k", "b", Context::new());
    if let dynamo_core::proto::ClientRequest::Put { return_body, .. } = &mut req {
        *return_body = true;
    }
    match c.call("n1", req) {
        dynamo_core::proto::ClientResponse::Put(Ok(w)) => {
            assert_eq!(values(&w.body.unwrap()), ["a", "b"]);
        }
        other => panic!("{other:?}"),
    }
}

fn with_mode(mode: dynamo_core::version::VersioningMode) -> Cluster<engine_mem::MemEngine> {
    let mut c = three();
    let props = BucketProps {
        mode,
        durability: Default::default(),
        ..BucketProps::default()
    };
    for n in ["n1", "n2", "n3"] {
        let req = dynamo_core::proto::ClientRequest::SetBucketProps {
            bucket: "b".into(),
            props,
        };
        assert_eq!(
            c.call(n, req),
            dynamo_core::proto::ClientResponse::BucketProps(Ok(props))
        );
    }
    c
}

#[test]
fn an_lww_bucket_keeps_only_the_last_write() {
    let mut c = with_mode(dynamo_core::version::VersioningMode::Lww);
    c.put("n1", "k", "a", Context::new()).unwrap();
    c.advance(10);
    c.put("n2", "k", "b", Context::new()).unwrap();
    let r = c.get("n3", "k").unwrap();
    assert_eq!(values(&r), ["b"]);
}

#[test]
fn a_vclock_bucket_keeps_concurrent_writes_and_resolves_them() {
    let mut c = with_mode(dynamo_core::version::VersioningMode::VClock);
    c.put("n1", "k", "a", Context::new()).unwrap();
    c.put("n2", "k", "b", Context::new()).unwrap();
    let r = c.get("n3", "k").unwrap();
    assert_eq!(values(&r), ["a", "b"]);
    c.put("n3", "k", "ab", r.context).unwrap();
    assert_eq!(values(&c.get("n1", "k").unwrap()), ["ab"]);
}

#[test]
fn bucket_props_are_validated() {
    let mut c = three();
    let req = dynamo_core::proto::ClientRequest::SetBucketProps {
        bucket: "b".into(),
        props: BucketProps {
            n: 3,
            r: 4,
            w: 2,
            mode: dynamo_core::version::VersioningMode::Dvv,
            durability: Default::default(),
        },
    };
    assert!(matches!(
        c.call("n1", req),
        dynamo_core::proto::ClientResponse::BucketProps(Err(RequestError::InvalidRequest(_)))
    ));
    let req = dynamo_core::proto::ClientRequest::GetBucketProps { bucket: "b".into() };
    assert_eq!(
        c.call("n1", req),
        dynamo_core::proto::ClientResponse::BucketProps(Ok(BucketProps::default()))
    );
}

/// A node that receives a forwarded request it does not coordinate by its own ring (its view
/// differs from the forwarder's, as during a ring change) passes it on once more, to a
/// coordinator of its ring; at the hop limit it answers Unavailable instead, so disagreeing
/// views never pass a request round for ever.
#[test]
fn a_forwarded_request_is_forwarded_once_more_then_refused() {
    use dynamo_core::node::{Input, MAX_FORWARD_HOPS, Output};
    use dynamo_core::proto::{ClientResponse, OpId, PeerMessage};

    let mut c = Cluster::mem(4, 21, BucketProps::default());
    // A key none of whose replicas is n4.
    let ring = c.node("n1").ring().unwrap().clone();
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| {
            !ring
                .preference_list_for_key(b"b", k.as_bytes(), 3)
                .contains(&&id("n4"))
        })
        .unwrap();
    let forward = |hops: u8| Input::Peer {
        from: id("n1"),
        message: PeerMessage::Forward {
            op: OpId {
                origin: id("n1"),
                seq: 1_000 + u64::from(hops),
            },
            request: put_req(&key, "v", Context::new()),
            hops,
        },
    };
    let now = c.now;
    let n4 = c.nodes.get_mut(&id("n4")).unwrap();
    n4.handle(now, forward(1));
    let out: Vec<Output> = std::iter::from_fn(|| n4.poll_output()).collect();
    let again: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                to,
                message: PeerMessage::Forward { hops, .. },
            } => Some((to.clone(), *hops)),
            _ => None,
        })
        .collect();
    assert_eq!(again.len(), 1, "{out:?}");
    assert_eq!(again[0].1, 2);
    assert!(
        ring.preference_list_for_key(b"b", key.as_bytes(), 3)
            .contains(&&again[0].0)
    );

    n4.handle(now, forward(MAX_FORWARD_HOPS));
    let out: Vec<Output> = std::iter::from_fn(|| n4.poll_output()).collect();
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Send {
                message: PeerMessage::ForwardReply {
                    response: ClientResponse::Put(Err(RequestError::Unavailable { .. })),
                    ..
                },
                ..
            }
        )),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::Send {
                message: PeerMessage::Forward { .. },
                ..
            }
        )),
        "not forwarded a third time"
    );
}

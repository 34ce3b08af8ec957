#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bad input from peers and disk never crashes a node; the wire types round-trip.

mod node_support;

use bytes::Bytes;
use dynamo_core::node::{
    BucketProps, ConfigError, Input, KEYSPACES, Location, Node, NodeConfig, NodeError, Output,
};
use dynamo_core::proto::{ClientRequest, ClientResponse, OpId, PeerMessage, RequestError};
use dynamo_core::ring::encode_storage_key;
use dynamo_core::version::{Context, VersioningMode};
use dynamo_core::{NodeEvent, record};
use engine_api::{Durability, StorageEngine, WriteBatch};
use node_support::*;

fn one_of_two() -> Node<engine_mem::MemEngine> {
    let mut node = Node::new(
        NodeConfig::new(id("n1"), 1, vec![id("n1"), id("n2")]),
        mem(),
        T0,
    )
    .unwrap();
    while node.poll_output().is_some() {}
    node
}

fn outputs(node: &mut Node<engine_mem::MemEngine>) -> Vec<Output> {
    drain_committing(node)
}

#[test]
fn a_malformed_record_is_an_error_ack_and_an_event() {
    let mut node = one_of_two();
    node.handle(
        T0,
        Input::Peer {
            from: id("n2"),
            message: PeerMessage::ReplicaPut {
                op: OpId {
                    origin: id("n2"),
                    seq: 9,
                },
                bucket: Bytes::from_static(b"b"),
                key: Bytes::from_static(b"k"),
                record: Bytes::from_static(b"\x01garbage"),
                hinted_for: None,
                sync: true,
            },
        },
    );
    let out = outputs(&mut node);
    assert!(out.iter().any(|o| matches!(o,
        Output::Send { message: PeerMessage::ReplicaPutAck { op, result: Err(_) }, .. } if op.seq == 9)));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(NodeEvent::BadPeerMessage { .. })))
    );
    assert_eq!(node.pending_writes(), 0);

    // Garbage repairs and over-long keys too.
    node.handle(
        T0,
        Input::Peer {
            from: id("n2"),
            message: PeerMessage::Repair {
                bucket: Bytes::from_static(b"b"),
                key: Bytes::from(vec![b'x'; 600]),
                record: Bytes::new(),
            },
        },
    );
    let out = outputs(&mut node);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(NodeEvent::BadPeerMessage { .. })))
    );
    assert!(
        node.local_record(&Location::Data, b"b", b"k")
            .unwrap()
            .is_none()
    );
}

#[test]
fn messages_from_strangers_are_dropped() {
    let mut node = one_of_two();
    node.handle(
        T0,
        Input::Peer {
            from: id("intruder"),
            message: PeerMessage::Ping { nonce: 1 },
        },
    );
    let out = outputs(&mut node);
    assert_eq!(out.len(), 1);
    assert!(matches!(
        &out[0],
        Output::Event(NodeEvent::BadPeerMessage { .. })
    ));
}

#[test]
fn a_malformed_read_reply_counts_as_a_failure() {
    let mut c = Cluster::mem(3, 5, BucketProps::default());
    c.put("n1", "k", "v", Context::new()).unwrap();
    // n1 coordinates a read; n2 answers garbage (injected by hand), n3 is cut off.
    c.cut.insert(id("n3"));
    let cid = c.submit("n1", get_req("k"));
    // Drop the real traffic and answer as n2 with a bad record.
    let n1 = c.nodes.get_mut(&id("n1")).unwrap();
    let mut seqs = Vec::new();
    // The ReplicaGet n1 sent is in the history; find its op seq.
    for h in &c.history {
        if h.contains("n1 -> Send") && h.contains("ReplicaGet {") {
            let s = h.split("seq: ").nth(1).unwrap();
            let n: u64 = s
                .split(|ch: char| !ch.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            seqs.push(n);
        }
    }
    let seq = *seqs.last().unwrap();
    n1.handle(
        c.now,
        Input::Peer {
            from: id("n2"),
            message: PeerMessage::ReplicaGetReply {
                op: OpId {
                    origin: id("n1"),
                    seq,
                },
                record: Ok(Some(Bytes::from_static(b"\x01\x02\x03"))),
            },
        },
    );
    let out = outputs(n1);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(NodeEvent::BadPeerMessage { .. })))
    );
    // n2's real (good) reply is still queued in the harness but comes after: n2 already
    // counted as failed, so the read ends short of R=2 once n3 times out.
    c.cut.insert(id("n2"));
    c.advance(1_000);
    match c.replies.get(&cid) {
        Some(ClientResponse::Get(Err(RequestError::Unavailable {
            needed: 2,
            answered: 1,
            ..
        }))) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_corrupt_stored_record_is_reported_treated_as_absent_and_repaired() {
    let mut c = Cluster::mem(3, 5, BucketProps::default());
    c.put("n1", "k", "v", Context::new()).unwrap();
    // Corrupt n1's copy on disk.
    let n1 = &c.nodes[&id("n1")];
    let p = n1.ring().unwrap().partition_of(b"b", b"k");
    let engine = n1.engine();
    let data = engine.keyspace(KEYSPACES[0]).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(
        data,
        encode_storage_key(p, b"b", b"k").unwrap(),
        Bytes::from_static(b"\x01junk"),
    );
    engine.write(&batch, Durability::Sync).unwrap();
    assert!(
        n1.local_record(&Location::Data, b"b", b"k")
            .unwrap()
            .is_none()
    );

    let r = c.get("n1", "k").unwrap();
    assert_eq!(values(&r), ["v"], "the other replicas answer");
    assert!(
        c.events
            .iter()
            .any(|(n, e)| *n == id("n1") && matches!(e, NodeEvent::CorruptRecord { .. }))
    );
    let repaired = c
        .node("n1")
        .local_record(&Location::Data, b"b", b"k")
        .unwrap();
    assert_eq!(
        repaired,
        c.node("n2")
            .local_record(&Location::Data, b"b", b"k")
            .unwrap()
    );
}

#[test]
fn bad_configurations_are_refused() {
    let cfg = NodeConfig::new(id("n1"), 1, vec![id("n2")]);
    assert!(matches!(
        Node::new(cfg, mem(), T0),
        Err(NodeError::Config(ConfigError::NotAMember(_)))
    ));
    let mut cfg = NodeConfig::new(id("n1"), 1, vec![id("n1")]);
    cfg.default_bucket.w = 4;
    assert!(matches!(
        Node::new(cfg, mem(), T0),
        Err(NodeError::Config(ConfigError::InvalidQuorum { .. }))
    ));
    let cfg = NodeConfig::new(id("n1"), 1, vec![id("n1"), id("n1")]);
    assert!(matches!(
        Node::new(cfg, mem(), T0),
        Err(NodeError::Config(ConfigError::DuplicateMember(_)))
    ));
    let cfg = NodeConfig::new(id("n1"), 1, vec![id("n1")]);
    let engine = engine_mem::MemEngine::with_keyspaces(["data"]).unwrap();
    assert!(matches!(
        Node::new(cfg, engine, T0),
        Err(NodeError::Store(_))
    ));
}

#[test]
fn wire_types_round_trip_through_serde() {
    let mut c = Cluster::mem(3, 5, BucketProps::default());
    let w = c.put("n1", "k", "v", Context::new()).unwrap();
    let req = ClientRequest::Put {
        bucket: Bytes::from_static(b"b"),
        key: Bytes::from_static(b"k"),
        context: w.context.clone(),
        value: Bytes::from_static(b"\x00\xffbytes"),
        content_type: text(),
        w: Some(3),
        dw: None,
        return_body: true,
    };
    let json = serde_json::to_string(&req).unwrap();
    assert_eq!(serde_json::from_str::<ClientRequest>(&json).unwrap(), req);

    let r = c.get("n2", "k").unwrap();
    let resp = ClientResponse::Get(Ok(r));
    let json = serde_json::to_string(&resp).unwrap();
    assert_eq!(serde_json::from_str::<ClientResponse>(&json).unwrap(), resp);

    let set = c
        .node("n1")
        .local_record(&Location::Data, b"b", b"k")
        .unwrap()
        .unwrap();
    let msg = PeerMessage::ReplicaGetReply {
        op: OpId {
            origin: id("n1"),
            seq: 3,
        },
        record: Ok(Some(Bytes::from(record::encode(&set).unwrap()))),
    };
    let json = serde_json::to_string(&msg).unwrap();
    assert_eq!(serde_json::from_str::<PeerMessage>(&json).unwrap(), msg);

    let props = BucketProps {
        n: 5,
        r: 1,
        w: 3,
        mode: VersioningMode::Lww,
        durability: Default::default(),
    };
    let json = serde_json::to_string(&props).unwrap();
    assert!(json.contains("\"lww\""), "{json}");
    assert_eq!(serde_json::from_str::<BucketProps>(&json).unwrap(), props);

    // A forged context token is a decoding error, not a panic.
    let bad = json_with_context("!!not a token!!");
    assert!(serde_json::from_str::<ClientRequest>(&bad).is_err());
    assert!(serde_json::from_str::<BucketProps>(r#"{"n":3,"r":2,"w":2,"mode":"crdt"}"#).is_err());
}

fn json_with_context(token: &str) -> String {
    format!(r#"{{"Delete":{{"bucket":[98],"key":[107],"context":"{token}","w":null}}}}"#)
}

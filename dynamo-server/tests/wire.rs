//! Peer framing: every message round-trips through the frame encoding (postcard is not
//! self-describing, so each variant is checked), and every kind of bad input is a typed
//! error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use dynamo_core::antientropy::{AeKey, AeMessage, KeyDigest, NodeIndex};
use dynamo_core::listing::{Cursor, Item, ListMessage, Scope, Slice, SliceRequest};
use dynamo_core::membership::{BucketProps, ClusterState, MemberStatus};
use dynamo_core::proto::{
    AdminInfo, ClientRequest, ClientResponse, MemberSummary, OpId, PeerMessage, QuorumKind,
    ReadResult, ReadSibling, ReapKey, RequestError, WriteResult,
};
use dynamo_core::record::KeyedRecord;
use dynamo_core::ring::{PartitionId, RingConfig};
use dynamo_core::transfer::{TransferAck, TransferBatch, TransferProgress};
use dynamo_core::version::{Actor, ContentType, Context, Dot, VClock, VersioningMode};
use dynamo_core::{NodeId, Timestamp};
use dynamo_server::wire::{
    self, Frame, Hello, LENGTH_BYTES, PROTOCOL_VERSION, WireError, decode, encode,
};

const MAX: usize = 64 << 20;

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn op(seq: u64) -> OpId {
    OpId {
        origin: id("n1"),
        seq,
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A context with a clock entry and a dot of its own.
fn context() -> Context {
    let a = Actor::new(id("n1"), 3);
    let mut clock = VClock::new();
    clock.increment(&a, Timestamp(1_000));
    clock.increment(&Actor::new(id("n2"), 1), Timestamp(1_001));
    Context::from_parts(clock, [(Dot::new(a, 7), Timestamp(1_002))])
}

fn cluster_state() -> ClusterState {
    let mut s = ClusterState::new_cluster(
        RingConfig::new(64).unwrap(),
        ["n1", "n2", "n3"]
            .into_iter()
            .map(|n| (id(n), None, format!("127.0.0.1:90{}", &n[1..]))),
    )
    .unwrap();
    s.set_bucket_props(
        b("photos"),
        BucketProps::new(3, 1, 3, VersioningMode::Lww).unwrap(),
    )
    .unwrap();
    s
}

fn read_result() -> ReadResult {
    ReadResult {
        siblings: vec![
            ReadSibling {
                value: b("v1"),
                content_type: ContentType::new("text/plain").unwrap(),
                last_modified: Timestamp(5),
                deleted: false,
            },
            ReadSibling {
                value: Bytes::new(),
                content_type: ContentType::octet_stream(),
                last_modified: Timestamp(6),
                deleted: true,
            },
        ],
        context: context(),
    }
}

fn requests() -> Vec<ClientRequest> {
    vec![
        ClientRequest::Get {
            bucket: b("b"),
            key: b("k"),
            r: Some(1),
        },
        ClientRequest::Put {
            bucket: b("b"),
            key: Bytes::from_static(&[0, 255, 1]),
            context: context(),
            value: Bytes::from(vec![7u8; 10_000]),
            content_type: ContentType::new("application/json").unwrap(),
            w: None,
            dw: None,
            return_body: true,
        },
        ClientRequest::Delete {
            bucket: b("b"),
            key: b("k"),
            context: Context::default(),
            w: Some(3),
            dw: None,
        },
        ClientRequest::GetBucketProps { bucket: b("b") },
        ClientRequest::SetBucketProps {
            bucket: b("b"),
            props: BucketProps::new(5, 3, 2, VersioningMode::VClock).unwrap(),
        },
        ClientRequest::GetDefaultProps,
        ClientRequest::SetDefaultProps {
            props: BucketProps::new(3, 2, 2, VersioningMode::Lww).unwrap(),
        },
        ClientRequest::Join { seed: id("n9") },
        ClientRequest::Leave,
        ClientRequest::Status,
    ]
}

fn responses() -> Vec<ClientResponse> {
    let admin = AdminInfo {
        node: id("n1"),
        status: Some(MemberStatus::Leaving),
        members: vec![MemberSummary {
            node: id("n2"),
            status: MemberStatus::Valid,
            address: "127.0.0.1:9002".into(),
            client: "http=http://127.0.0.1:8002 binary=127.0.0.1:7002".into(),
            up: false,
            consecutive_timeouts: 3,
            last_heard: Some(Timestamp(99)),
        }],
        ring_version: 4,
        ring_digest: Some(0xdead_beef),
        claimant: Some(id("n1")),
        hints_pending: BTreeMap::from([(id("n3"), 12)]),
        transfers_pending: Some(2),
        transfers: vec![TransferProgress {
            partition: PartitionId(5),
            to: id("n4"),
            keys_sent: 100,
            done: false,
        }],
        open_operations: 1,
        pending_writes: 0,
    };
    vec![
        ClientResponse::Get(Ok(read_result())),
        ClientResponse::Get(Err(RequestError::Unavailable {
            needed: 2,
            answered: 1,
            op: QuorumKind::Read,
        })),
        ClientResponse::Put(Ok(WriteResult {
            context: context(),
            body: Some(read_result()),
        })),
        ClientResponse::Put(Err(RequestError::TooManySiblings { limit: 100 })),
        ClientResponse::Delete(Ok(WriteResult {
            context: Context::default(),
            body: None,
        })),
        ClientResponse::Delete(Err(RequestError::Overloaded)),
        ClientResponse::BucketProps(Ok(BucketProps::default())),
        ClientResponse::BucketProps(Err(RequestError::InvalidRequest("bad n".into()))),
        ClientResponse::Admin(Ok(admin)),
        ClientResponse::Admin(Err(RequestError::Storage("disk full".into()))),
    ]
}

fn ae_messages() -> Vec<AeMessage> {
    let p = PartitionId(17);
    let idx = NodeIndex { level: 2, index: 3 };
    vec![
        AeMessage::Hashes {
            exchange: 1,
            partition: p,
            nodes: vec![(idx, u64::MAX), (NodeIndex { level: 0, index: 0 }, 0)],
        },
        AeMessage::Children {
            exchange: 1,
            partition: p,
            hashes: vec![(idx, 42)],
        },
        AeMessage::Keys {
            exchange: 2,
            partition: p,
            buckets: vec![0, 1, u32::MAX],
        },
        AeMessage::KeyList {
            exchange: 2,
            partition: p,
            keys: vec![KeyDigest {
                bucket: b("b"),
                key: b("k"),
                digest: 9,
            }],
        },
        AeMessage::Push {
            exchange: 3,
            partition: p,
            records: vec![KeyedRecord {
                bucket: b("b"),
                key: b("k"),
                record: Bytes::from_static(&[1, 2, 3]),
            }],
            want: vec![AeKey {
                bucket: b("b"),
                key: b("k2"),
            }],
        },
        AeMessage::PushReply {
            exchange: 3,
            partition: p,
            records: vec![],
        },
        AeMessage::Busy { exchange: 4 },
        AeMessage::NotReplica { exchange: 5 },
    ]
}

/// One message of every `PeerMessage` variant, with every client request, client response
/// and anti-entropy message inside.
fn every_message() -> Vec<PeerMessage> {
    let mut all = Vec::new();
    for (i, request) in requests().into_iter().enumerate() {
        all.push(PeerMessage::Forward {
            op: op(i as u64),
            request,
            hops: 1 + (i % 2) as u8,
        });
    }
    for (i, response) in responses().into_iter().enumerate() {
        all.push(PeerMessage::ForwardReply {
            op: op(i as u64),
            response,
        });
    }
    all.extend([
        PeerMessage::ReplicaGet {
            op: op(1),
            bucket: b("b"),
            key: b("k"),
            hinted_for: Some(id("n3")),
        },
        PeerMessage::ReplicaGetReply {
            op: op(1),
            record: Ok(Some(Bytes::from_static(&[9, 9]))),
        },
        PeerMessage::ReplicaGetReply {
            op: op(2),
            record: Ok(None),
        },
        PeerMessage::ReplicaGetReply {
            op: op(3),
            record: Err("unreadable".into()),
        },
        PeerMessage::ReplicaPut {
            op: op(4),
            bucket: b("b"),
            key: b("k"),
            record: Bytes::from(vec![1u8; 1 << 20]),
            hinted_for: None,
            sync: true,
        },
        PeerMessage::ReplicaPutAck {
            op: op(4),
            result: Ok(()),
        },
        PeerMessage::ReplicaPutAck {
            op: op(5),
            result: Err("fsync failed".into()),
        },
        PeerMessage::Repair {
            bucket: b("b"),
            key: b("k"),
            record: b("r"),
        },
        PeerMessage::HintDeliver {
            id: 77,
            bucket: b("b"),
            key: b("k"),
            record: b("r"),
        },
        PeerMessage::HintAck { id: 77 },
        PeerMessage::Ping { nonce: u64::MAX },
        PeerMessage::Pong { nonce: 0 },
        PeerMessage::TransferBatch(TransferBatch {
            transfer: 1,
            seq: 2,
            partition: PartitionId(3),
            records: vec![KeyedRecord {
                bucket: b("b"),
                key: b("k"),
                record: b("r"),
            }],
            cursor: b("cursor"),
            last: true,
            ring_version: 9,
        }),
        PeerMessage::TransferAck(TransferAck {
            transfer: 1,
            seq: 2,
            partition: PartitionId(3),
            cursor: Bytes::new(),
            last: false,
        }),
        PeerMessage::Gossip {
            state: cluster_state(),
        },
        PeerMessage::Gossip {
            state: ClusterState::joining(id("n4"), None, "10.0.0.4:9001".into()).unwrap(),
        },
    ]);
    let reap_keys = vec![
        ReapKey {
            bucket: b("b"),
            key: b("gone"),
            digest: 0x0123_4567_89ab_cdef,
        },
        ReapKey {
            bucket: Bytes::new(),
            key: Bytes::from_static(&[0, 1]),
            digest: 0,
        },
    ];
    all.extend([
        PeerMessage::ReapQuery {
            id: 1,
            keys: reap_keys.clone(),
        },
        PeerMessage::ReapReply {
            id: 1,
            held: vec![true, false],
        },
        PeerMessage::Reap { keys: reap_keys },
        PeerMessage::GossipPull,
    ]);
    all.extend(ae_messages().into_iter().map(PeerMessage::AntiEntropy));
    all.extend(list_messages().into_iter().map(PeerMessage::List));
    all
}

/// Every shape of a listing message: both scopes, both cursors, a slice cut short and one
/// read to its end, an error.
fn list_messages() -> Vec<ListMessage> {
    let op = OpId {
        origin: id("n1"),
        seq: 9,
    };
    vec![
        ListMessage::Request {
            op: op.clone(),
            slice: SliceRequest {
                partition: PartitionId(7),
                scope: Scope::Keys { bucket: b("cart") },
                after: Cursor::Start,
                max: 1_000,
            },
        },
        ListMessage::Request {
            op: op.clone(),
            slice: SliceRequest {
                partition: PartitionId(0),
                scope: Scope::Buckets,
                after: Cursor::After(Bytes::from_static(&[0, 0xff])),
                max: 1,
            },
        },
        ListMessage::Reply {
            op: op.clone(),
            result: Ok(Slice {
                items: vec![Item(b("alice")), Item(b("bob"))],
                next: Some(Item(b("carol"))),
            }),
        },
        ListMessage::Reply {
            op: op.clone(),
            result: Ok(Slice {
                items: Vec::new(),
                next: None,
            }),
        },
        ListMessage::Reply {
            op,
            result: Err("disk on fire".into()),
        },
    ]
}

/// The variant's name, to check that the list above covers every variant listed here.
/// `PeerMessage` is `non_exhaustive`, so a variant added to the core does not fail to compile
/// here: add it to [`every_message`] and to this match (and bump the count in the test).
fn variant(m: &PeerMessage) -> &'static str {
    match m {
        PeerMessage::Forward { .. } => "Forward",
        PeerMessage::ForwardReply { .. } => "ForwardReply",
        PeerMessage::ReplicaGet { .. } => "ReplicaGet",
        PeerMessage::ReplicaGetReply { .. } => "ReplicaGetReply",
        PeerMessage::ReplicaPut { .. } => "ReplicaPut",
        PeerMessage::ReplicaPutAck { .. } => "ReplicaPutAck",
        PeerMessage::Repair { .. } => "Repair",
        PeerMessage::HintDeliver { .. } => "HintDeliver",
        PeerMessage::HintAck { .. } => "HintAck",
        PeerMessage::Ping { .. } => "Ping",
        PeerMessage::Pong { .. } => "Pong",
        PeerMessage::AntiEntropy(_) => "AntiEntropy",
        PeerMessage::TransferBatch(_) => "TransferBatch",
        PeerMessage::TransferAck(_) => "TransferAck",
        PeerMessage::Gossip { .. } => "Gossip",
        PeerMessage::ReapQuery { .. } => "ReapQuery",
        PeerMessage::ReapReply { .. } => "ReapReply",
        PeerMessage::Reap { .. } => "Reap",
        PeerMessage::GossipPull => "GossipPull",
        PeerMessage::List(_) => "List",
        _ => "unknown",
    }
}

#[test]
fn every_peer_message_round_trips() {
    let messages = every_message();
    let names: std::collections::BTreeSet<_> = messages.iter().map(variant).collect();
    assert_eq!(names.len(), 20, "every variant is covered: {names:?}");
    assert!(!names.contains("unknown"));
    for message in messages {
        let frame = Frame::Message(message);
        let bytes = encode(&frame, MAX).unwrap();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - LENGTH_BYTES);
        assert_eq!(bytes[LENGTH_BYTES], PROTOCOL_VERSION);
        let (back, used) = decode(&bytes, MAX).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(back, frame, "{}", variant_of(&frame));
    }
}

fn variant_of(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello(_) => "Hello",
        Frame::Message(m) => variant(m),
    }
}

#[test]
fn hello_round_trips() {
    let frame = Frame::Hello(Hello {
        node: id("n-1.example:7"),
        peer_addr: "[::1]:9001".into(),
    });
    let bytes = encode(&frame, MAX).unwrap();
    assert_eq!(decode(&bytes, MAX).unwrap(), (frame, bytes.len()));
}

#[test]
fn frames_follow_each_other_in_a_buffer() {
    let a = Frame::Message(PeerMessage::Ping { nonce: 1 });
    let b = Frame::Message(PeerMessage::Pong { nonce: 2 });
    let mut buf = encode(&a, MAX).unwrap();
    wire::encode_into(&b, MAX, &mut buf).unwrap();
    let (first, used) = decode(&buf, MAX).unwrap();
    assert_eq!(first, a);
    let (second, used2) = decode(&buf[used..], MAX).unwrap();
    assert_eq!(second, b);
    assert_eq!(used + used2, buf.len());
}

/// A frame with the given version byte and payload.
fn raw_frame(version: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(version);
    out.extend_from_slice(payload);
    out
}

#[test]
fn garbage_payloads_are_malformed() {
    // Variant index 200 does not exist.
    let err = decode(&raw_frame(PROTOCOL_VERSION, &[200, 1, 2]), MAX).unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)), "{err}");
    // A message variant whose fields are cut short.
    let err = decode(&raw_frame(PROTOCOL_VERSION, &[1]), MAX).unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)), "{err}");
    // No payload at all after the version.
    let err = decode(&raw_frame(PROTOCOL_VERSION, &[]), MAX).unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)), "{err}");
    // A hello naming an invalid node id: checked while decoding.
    let mut payload = vec![0u8, 3];
    payload.extend_from_slice(b"a b");
    payload.extend_from_slice(&[1, b'x']);
    let err = decode(&raw_frame(PROTOCOL_VERSION, &payload), MAX).unwrap_err();
    assert!(matches!(err, WireError::Malformed(_)), "{err}");
    // A valid message followed by extra bytes inside the frame.
    let ping = encode(&Frame::Message(PeerMessage::Ping { nonce: 5 }), MAX).unwrap();
    let mut payload = ping[LENGTH_BYTES + 1..].to_vec();
    payload.push(0);
    let err = decode(&raw_frame(PROTOCOL_VERSION, &payload), MAX).unwrap_err();
    assert!(matches!(err, WireError::TrailingBytes(1)), "{err}");
}

#[test]
fn random_bytes_never_panic() {
    // A fixed linear congruential sequence: deterministic, no dependency.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) as u8
    };
    let mut decoded = 0;
    for round in 0..20_000 {
        let len = 1 + round % 64;
        let mut payload: Vec<u8> = (0..len).map(|_| next()).collect();
        // Favour existing variant indexes so decoding goes deep.
        payload[0] %= 2;
        if payload.len() > 1 {
            payload[1] %= 20;
        }
        if let Ok((frame, used)) = decode(&raw_frame(PROTOCOL_VERSION, &payload), MAX) {
            decoded += 1;
            // Whatever decodes encodes back to the same frame.
            let again = encode(&frame, MAX).unwrap();
            assert_eq!(decode(&again, MAX).unwrap().0, frame);
            assert_eq!(used, payload.len() + LENGTH_BYTES + 1);
        }
    }
    // Some inputs (pings, pongs, acks) are valid by chance; most are not.
    assert!(decoded < 20_000);
}

#[test]
fn oversized_lengths_are_refused_before_reading() {
    let mut bytes = u32::MAX.to_be_bytes().to_vec();
    bytes.push(PROTOCOL_VERSION);
    let err = decode(&bytes, MAX).unwrap_err();
    assert!(
        matches!(err, WireError::Oversized { len, max } if len == u32::MAX as usize && max == MAX),
        "{err}"
    );
    // Just above a small maximum.
    let frame = Frame::Message(PeerMessage::Repair {
        bucket: b("b"),
        key: b("k"),
        record: Bytes::from(vec![0u8; 2000]),
    });
    let bytes = encode(&frame, MAX).unwrap();
    let len = bytes.len() - LENGTH_BYTES;
    assert!(decode(&bytes, len).is_ok());
    assert!(matches!(
        decode(&bytes, len - 1),
        Err(WireError::Oversized { .. })
    ));
    // Encoding refuses it too, and leaves the buffer as it was.
    let mut out = vec![1, 2, 3];
    let err = wire::encode_into(&frame, len - 1, &mut out).unwrap_err();
    assert!(matches!(err, WireError::Oversized { .. }), "{err}");
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn empty_frames_are_refused() {
    let err = decode(&[0, 0, 0, 0], MAX).unwrap_err();
    assert!(matches!(err, WireError::Empty), "{err}");
}

#[test]
fn other_versions_are_refused() {
    let ping = encode(&Frame::Message(PeerMessage::Ping { nonce: 5 }), MAX).unwrap();
    for version in [0u8, 1, 2, PROTOCOL_VERSION + 1, 255] {
        let mut bytes = ping.clone();
        bytes[LENGTH_BYTES] = version;
        let err = decode(&bytes, MAX).unwrap_err();
        assert!(
            matches!(err, WireError::WrongVersion { found } if found == version),
            "{err}"
        );
    }
}

#[test]
fn truncated_frames_are_reported() {
    let bytes = encode(&Frame::Message(PeerMessage::HintAck { id: 1 << 40 }), MAX).unwrap();
    for cut in 0..bytes.len() {
        let err = decode(&bytes[..cut], MAX).unwrap_err();
        assert!(
            matches!(err, WireError::Truncated { available, .. } if available == cut),
            "cut at {cut}: {err}"
        );
    }
}

#[tokio::test]
async fn read_frame_reads_a_stream() {
    let a = Frame::Hello(Hello {
        node: id("n2"),
        peer_addr: "127.0.0.1:9002".into(),
    });
    let b = Frame::Message(PeerMessage::Ping { nonce: 3 });
    let mut stream = encode(&a, MAX).unwrap();
    wire::encode_into(&b, MAX, &mut stream).unwrap();
    let mut reader: &[u8] = &stream;
    let mut buf = Vec::new();
    let (first, n1) = wire::read_frame(&mut reader, MAX, &mut buf)
        .await
        .unwrap()
        .unwrap();
    let (second, n2) = wire::read_frame(&mut reader, MAX, &mut buf)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first, second), (a, b));
    assert_eq!(n1 + n2, stream.len());
    // A clean end between frames.
    assert!(
        wire::read_frame(&mut reader, MAX, &mut buf)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn read_frame_reports_cut_streams_and_bad_lengths() {
    let bytes = encode(&Frame::Message(PeerMessage::Ping { nonce: 3 }), MAX).unwrap();
    for cut in 1..bytes.len() {
        let mut reader: &[u8] = &bytes[..cut];
        let err = wire::read_frame(&mut reader, MAX, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, WireError::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.is_bad_frame());
    }
    // "GET " read as a length: far above the maximum, refused without allocating it.
    let mut reader: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
    let mut buf = Vec::new();
    let err = wire::read_frame(&mut reader, MAX, &mut buf)
        .await
        .unwrap_err();
    assert!(matches!(err, WireError::Oversized { .. }), "{err}");
    assert!(buf.capacity() < 1024);
}

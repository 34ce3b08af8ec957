//! Every committed fuzz corpus file goes through its target's harness, on stable.
//!
//! The harnesses are `fuzz/src/harness.rs`, included here as a module: the same decoders and
//! the same invariants the fuzz targets check under libFuzzer. So a decoder that starts to
//! panic or to break an invariant on an input the fuzzers once found interesting fails
//! `cargo test`, also where nightly and cargo-fuzz are not installed. See `FUZZING.md`.
//!
//! The seeds of the corpora are real encodings made by the project's own encoders:
//! `cargo test -p dynamo-server --test fuzz_corpus -- --ignored write_seeds` writes them into
//! `fuzz/corpus/<target>/seed-*` (the campaign then grows and minimizes the corpora).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/src/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use dynamo_core::antientropy::{AeKey, AeMessage, KeyDigest, NodeIndex};
use dynamo_core::listing::{Cursor, Item, ListMessage, Scope, Slice, SliceRequest};
use dynamo_core::membership::keys::{AccessKey, Grant};
use dynamo_core::membership::{BucketProps, ClusterState, DurabilityMode, encode_cluster_state};
use dynamo_core::proto::{
    ClientRequest, ClientResponse, OpId, PeerMessage, QuorumKind, ReadResult, ReapKey,
    RequestError, WriteResult,
};
use dynamo_core::record::{self, KeyedRecord};
use dynamo_core::ring::{PartitionId, RingConfig, Zone, encode_storage_key};
use dynamo_core::transfer::{PersistedTransfer, TransferAck, TransferBatch, encode_transfers};
use dynamo_core::version::{
    Actor, ContentType, Context, Dot, EpochState, SiblingSet, VersioningMode,
};
use dynamo_core::{NodeId, Timestamp};
use dynamo_protocol::{
    ErrorKind, ErrorReply, Read, Request, RequestFrame, Response, ResponseFrame, Sibling,
};
use dynamo_server::wire::{self, Frame, Hello};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_passes_its_target() {
    let mut failures = Vec::new();
    let mut total = 0;
    for &(name, run) in harness::TARGETS {
        let files = files_of(&fuzz_dir().join("corpus").join(name));
        assert!(!files.is_empty(), "the corpus of {name} is empty");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            total += 1;
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failures.push(format!("{name}: {}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} corpus files fail their target:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_harness_has_a_fuzz_target_and_a_corpus() {
    let harnesses: BTreeSet<&str> = harness::TARGETS.iter().map(|(n, _)| *n).collect();
    let names_in = |dir: &str, ext: &str| -> BTreeSet<String> {
        std::fs::read_dir(fuzz_dir().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(ext).map(str::to_owned))
            .collect()
    };
    let expected: BTreeSet<String> = harnesses.iter().map(|n| (*n).to_owned()).collect();
    assert_eq!(names_in("fuzz_targets", ".rs"), expected);
    assert_eq!(names_in("corpus", ""), expected);
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &harnesses {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} is not a [[bin]] of fuzz/Cargo.toml"
        );
    }
}

#[test]
fn the_harness_crc_is_the_formats_crc() {
    // The harness seals inputs with its own CRC-32; it must be the one the decoders check.
    let state = EpochState {
        epoch: 42,
        clean_shutdown: true,
    };
    let bytes = record::encode_epoch_state(&state);
    let (body, _) = bytes.split_at(bytes.len() - 4);
    assert_eq!(harness::seal(body), bytes);
    assert_eq!(harness::crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn the_seeds_pass_their_targets() {
    for (target, _, data) in seeds() {
        let run = harness::TARGETS
            .iter()
            .find(|(n, _)| *n == target)
            .map(|(_, r)| *r)
            .unwrap();
        run(&data);
    }
}

/// Writes the seeds into `fuzz/corpus/<target>/seed-<name>`.
#[test]
#[ignore = "writes files: run by hand to seed the fuzz corpora"]
fn write_seeds() {
    for (target, name, data) in seeds() {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Seeds: real encodings
// ---------------------------------------------------------------------------------------

fn node(name: &str) -> NodeId {
    NodeId::new(name).unwrap()
}

fn actor(name: &str, epoch: u64) -> Actor {
    Actor::new(node(name), epoch)
}

fn ct(s: &str) -> ContentType {
    ContentType::new(s).unwrap()
}

/// A write to `set`: a value (with its content type) or, for `None`, a tombstone.
fn write(
    set: &mut SiblingSet,
    context: &Context,
    value: Option<(&'static [u8], ContentType)>,
    by: Actor,
    at: u64,
) {
    match value {
        Some((v, ct)) => set.apply_put(context, Bytes::from_static(v), ct, &by, Timestamp(at)),
        None => set.apply_delete(context, &by, Timestamp(at)),
    }
    .unwrap();
}

/// Sibling sets as replicas hold them: empty, one value, concurrent values, tombstones, a
/// context with a dot cloud, in every versioning mode.
fn sets() -> Vec<(String, SiblingSet)> {
    let mut out = Vec::new();
    let blind = Context::new();
    let n1 = || actor("n1", 1_700_000_000_000);
    for mode in [
        VersioningMode::VClock,
        VersioningMode::Dvv,
        VersioningMode::Lww,
    ] {
        let m = format!("{mode:?}").to_lowercase();
        out.push((format!("{m}-empty"), SiblingSet::new(mode)));
        let mut one = SiblingSet::new(mode);
        let text = Some((&b"value"[..], ct("text/plain")));
        write(&mut one, &blind, text, n1(), 1_700_000_000_123);
        out.push((format!("{m}-one"), one.clone()));
        let mut siblings = one.clone();
        let binary = Some((&b"\x00\xff binary"[..], ContentType::octet_stream()));
        write(
            &mut siblings,
            &blind,
            binary,
            actor("n2", 7),
            1_700_000_000_200,
        );
        write(
            &mut siblings,
            &blind,
            None,
            actor("n3", 9),
            1_700_000_000_300,
        );
        out.push((format!("{m}-siblings"), siblings.clone()));
        let mut replaced = siblings.clone();
        let json = Some((&b"resolved"[..], ct("application/json")));
        write(
            &mut replaced,
            &siblings.context(),
            json,
            n1(),
            1_700_000_000_400,
        );
        out.push((format!("{m}-resolved"), replaced));
        let mut deleted = one;
        let seen = deleted.context();
        write(&mut deleted, &seen, None, actor("n2", 7), 1_700_000_000_500);
        out.push((format!("{m}-deleted"), deleted));
    }
    out
}

/// Contexts as clients send them back: empty, a clock, a clock with a dot cloud.
fn contexts() -> Vec<(String, Context)> {
    let mut cloud = Context::new();
    cloud.add(Dot::new(actor("n1", 1), 1), Timestamp(5));
    cloud.add(Dot::new(actor("n1", 1), 2), Timestamp(6));
    cloud.add(Dot::new(actor("n2", 2), 4), Timestamp(7));
    cloud.add(Dot::new(actor("node-with-a-long-name", 3), 9), Timestamp(8));
    let mut out = vec![
        ("empty".to_owned(), Context::new()),
        ("cloud".to_owned(), cloud),
    ];
    for (name, set) in sets() {
        out.push((name, set.context()));
    }
    out
}

fn access_key(admin: bool, grants: Vec<Grant>, revoked: bool) -> AccessKey {
    AccessKey {
        secret_digest: [7; 32],
        admin,
        grants,
        created_ms: 1_700_000_000_000,
        revoked,
    }
}

fn cluster_states() -> Vec<(String, ClusterState)> {
    let founders = |names: &[&str]| -> Vec<(NodeId, Option<Zone>, String)> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let zone = (i % 2 == 0).then(|| Zone::new(format!("zone-{}", i % 3)).unwrap());
                (node(n), zone, format!("10.0.0.{i}:7000"))
            })
            .collect()
    };
    let config = RingConfig::new(16).unwrap().with_target_n(3).unwrap();
    let three = ClusterState::new_cluster(config, founders(&["n1", "n2", "n3"])).unwrap();
    let mut props = three.clone();
    props
        .set_bucket_props(
            Bytes::from_static(b"cart"),
            BucketProps::new(3, 2, 2, VersioningMode::Dvv).unwrap(),
        )
        .unwrap();
    props
        .set_bucket_props(
            Bytes::from_static(b"\x00binary bucket"),
            BucketProps::new(5, 3, 1, VersioningMode::Lww)
                .unwrap()
                .with_durability(DurabilityMode::None),
        )
        .unwrap();
    props
        .set_default_props(
            BucketProps::new(3, 2, 2, VersioningMode::VClock)
                .unwrap()
                .with_durability(DurabilityMode::One),
        )
        .unwrap();
    let mut keys = props.clone();
    keys.add_key("admin".to_owned(), access_key(true, Vec::new(), false))
        .unwrap();
    keys.add_key(
        "reader".to_owned(),
        access_key(
            false,
            vec![
                Grant {
                    bucket: Bytes::from_static(b"cart"),
                    read: true,
                    write: false,
                },
                Grant {
                    bucket: Bytes::new(),
                    read: true,
                    write: true,
                },
            ],
            false,
        ),
    )
    .unwrap();
    keys.add_key("gone".to_owned(), access_key(false, Vec::new(), true))
        .unwrap();
    let mut endpoints = keys.clone();
    for (n, text) in [
        ("n1", "http=https://10.0.0.0:8001 binary=10.0.0.0:7001"),
        ("n2", "http=http://[fd00::1]:8001"),
        ("n3", "binary=10.0.0.2:7001 future=1"),
    ] {
        endpoints.update_client(&node(n), text).unwrap();
    }
    let mut growing = three.clone();
    let joiner = ClusterState::joining(node("n4"), None, "10.0.0.9:7000".to_owned()).unwrap();
    growing.merge(&joiner);
    let mut claimed = growing.clone();
    claimed.claim(&node("n1")).unwrap();
    let mut leaving = claimed.clone();
    leaving.leave(&node("n2")).unwrap();
    let one = ClusterState::new_cluster(
        RingConfig::new(8).unwrap().with_target_n(1).unwrap(),
        founders(&["solo"]),
    )
    .unwrap();
    vec![
        ("three".to_owned(), three),
        ("props".to_owned(), props),
        ("keys".to_owned(), keys),
        ("endpoints".to_owned(), endpoints),
        ("joining".to_owned(), joiner),
        ("growing".to_owned(), growing),
        ("claimed".to_owned(), claimed),
        ("leaving".to_owned(), leaving),
        ("one".to_owned(), one),
    ]
}

fn peer_messages() -> Vec<(String, PeerMessage)> {
    let op = OpId {
        origin: node("n1"),
        seq: 42,
    };
    let sets = sets();
    let rec = |i: usize| Bytes::from(record::encode(&sets[i % sets.len()].1).unwrap());
    let keyed = |i: usize| KeyedRecord {
        bucket: Bytes::from_static(b"cart"),
        key: Bytes::from(format!("key-{i}")),
        record: rec(i),
    };
    let (_, ctx) = contexts().swap_remove(1);
    let read = ReadResult::from_set(&sets[7].1);
    let state = cluster_states().swap_remove(2).1;
    let b = || Bytes::from_static(b"cart");
    let k = || Bytes::from_static(b"alice");
    vec![
        ("ping", PeerMessage::Ping { nonce: 7 }),
        ("pong", PeerMessage::Pong { nonce: 7 }),
        (
            "forward-get",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::Get {
                    bucket: b(),
                    key: k(),
                    r: Some(2),
                },
                hops: 1,
            },
        ),
        (
            "forward-put",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::Put {
                    bucket: b(),
                    key: k(),
                    context: ctx.clone(),
                    value: Bytes::from_static(b"value"),
                    content_type: ct("text/plain"),
                    w: Some(2),
                    dw: Some(1),
                    return_body: true,
                },
                hops: 2,
            },
        ),
        (
            "forward-delete",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::Delete {
                    bucket: b(),
                    key: k(),
                    context: ctx.clone(),
                    w: None,
                    dw: None,
                },
                hops: 1,
            },
        ),
        (
            "forward-join",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::Join { seed: node("n2") },
                hops: 1,
            },
        ),
        (
            "forward-create-key",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::CreateKey {
                    id: "reader".to_owned(),
                    key: access_key(
                        false,
                        vec![Grant {
                            bucket: Bytes::from_static(b"cart"),
                            read: true,
                            write: true,
                        }],
                        false,
                    ),
                },
                hops: 1,
            },
        ),
        (
            "forward-set-props",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::SetBucketProps {
                    bucket: b(),
                    props: BucketProps::new(3, 2, 2, VersioningMode::Dvv).unwrap(),
                },
                hops: 1,
            },
        ),
        (
            "forward-revoke-key",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::RevokeKey {
                    id: "reader".to_owned(),
                },
                hops: 1,
            },
        ),
        (
            "forward-status",
            PeerMessage::Forward {
                op: op.clone(),
                request: ClientRequest::Status,
                hops: 1,
            },
        ),
        (
            "forward-reply-props",
            PeerMessage::ForwardReply {
                op: op.clone(),
                response: ClientResponse::BucketProps(Ok(BucketProps::new(
                    5,
                    3,
                    1,
                    VersioningMode::Lww,
                )
                .unwrap())),
            },
        ),
        (
            "forward-reply-keys",
            PeerMessage::ForwardReply {
                op: op.clone(),
                response: ClientResponse::Keys(Ok(vec![(
                    "admin".to_owned(),
                    access_key(true, Vec::new(), false),
                )])),
            },
        ),
        (
            "forward-reply-read",
            PeerMessage::ForwardReply {
                op: op.clone(),
                response: ClientResponse::Get(Ok(read.clone())),
            },
        ),
        (
            "forward-reply-written",
            PeerMessage::ForwardReply {
                op: op.clone(),
                response: ClientResponse::Put(Ok(WriteResult {
                    context: ctx.clone(),
                    body: Some(read),
                })),
            },
        ),
        (
            "forward-reply-error",
            PeerMessage::ForwardReply {
                op: op.clone(),
                response: ClientResponse::Delete(Err(RequestError::Unavailable {
                    needed: 2,
                    answered: 1,
                    op: QuorumKind::DurableWrite,
                })),
            },
        ),
        (
            "replica-get",
            PeerMessage::ReplicaGet {
                op: op.clone(),
                bucket: b(),
                key: k(),
                hinted_for: Some(node("n3")),
            },
        ),
        (
            "replica-get-reply",
            PeerMessage::ReplicaGetReply {
                op: op.clone(),
                record: Ok(Some(rec(2))),
            },
        ),
        (
            "replica-put",
            PeerMessage::ReplicaPut {
                op: op.clone(),
                bucket: b(),
                key: k(),
                record: rec(3),
                hinted_for: None,
                sync: true,
            },
        ),
        (
            "replica-put-ack",
            PeerMessage::ReplicaPutAck {
                op: op.clone(),
                result: Err("disk full".to_owned()),
            },
        ),
        (
            "repair",
            PeerMessage::Repair {
                bucket: b(),
                key: k(),
                record: rec(8),
            },
        ),
        (
            "hint-deliver",
            PeerMessage::HintDeliver {
                id: 9,
                bucket: b(),
                key: k(),
                record: rec(12),
            },
        ),
        ("hint-ack", PeerMessage::HintAck { id: 9 }),
        (
            "ae-hashes",
            PeerMessage::AntiEntropy(AeMessage::Hashes {
                exchange: 1,
                partition: PartitionId(3),
                nodes: vec![(NodeIndex { level: 0, index: 0 }, 0xdead_beef)],
            }),
        ),
        (
            "ae-children",
            PeerMessage::AntiEntropy(AeMessage::Children {
                exchange: 1,
                partition: PartitionId(3),
                hashes: vec![
                    (NodeIndex { level: 1, index: 0 }, 1),
                    (NodeIndex { level: 1, index: 1 }, 2),
                ],
            }),
        ),
        (
            "ae-keys",
            PeerMessage::AntiEntropy(AeMessage::Keys {
                exchange: 1,
                partition: PartitionId(3),
                buckets: vec![0, 5, 1023],
            }),
        ),
        (
            "ae-busy",
            PeerMessage::AntiEntropy(AeMessage::Busy { exchange: 1 }),
        ),
        (
            "ae-key-list",
            PeerMessage::AntiEntropy(AeMessage::KeyList {
                exchange: 1,
                partition: PartitionId(3),
                keys: vec![KeyDigest {
                    bucket: b(),
                    key: k(),
                    digest: 77,
                }],
            }),
        ),
        (
            "ae-push",
            PeerMessage::AntiEntropy(AeMessage::Push {
                exchange: 1,
                partition: PartitionId(3),
                records: vec![keyed(1), keyed(6)],
                want: vec![AeKey {
                    bucket: b(),
                    key: k(),
                }],
            }),
        ),
        (
            "transfer-batch",
            PeerMessage::TransferBatch(TransferBatch {
                transfer: 5,
                seq: 1,
                partition: PartitionId(3),
                records: vec![keyed(2), keyed(11)],
                cursor: Bytes::from(
                    encode_storage_key(PartitionId(3), b"cart", b"key-11").unwrap(),
                ),
                last: false,
                ring_version: 4,
            }),
        ),
        (
            "transfer-ack",
            PeerMessage::TransferAck(TransferAck {
                transfer: 5,
                seq: 1,
                partition: PartitionId(3),
                cursor: Bytes::new(),
                last: true,
            }),
        ),
        ("gossip", PeerMessage::Gossip { state }),
        (
            "reap-query",
            PeerMessage::ReapQuery {
                id: 3,
                keys: vec![ReapKey {
                    bucket: b(),
                    key: k(),
                    digest: 12,
                }],
            },
        ),
        (
            "reap-reply",
            PeerMessage::ReapReply {
                id: 3,
                held: vec![true, false],
            },
        ),
        (
            "reap",
            PeerMessage::Reap {
                keys: vec![ReapKey {
                    bucket: b(),
                    key: k(),
                    digest: 12,
                }],
            },
        ),
        ("gossip-pull", PeerMessage::GossipPull),
        (
            "list-request",
            PeerMessage::List(ListMessage::Request {
                op: op.clone(),
                slice: SliceRequest {
                    partition: PartitionId(5),
                    scope: Scope::Keys { bucket: b() },
                    after: Cursor::After(k()),
                    max: 1_000,
                },
            }),
        ),
        (
            "list-request-buckets",
            PeerMessage::List(ListMessage::Request {
                op: op.clone(),
                slice: SliceRequest {
                    partition: PartitionId(0),
                    scope: Scope::Buckets,
                    after: Cursor::Start,
                    max: 1,
                },
            }),
        ),
        (
            "list-reply",
            PeerMessage::List(ListMessage::Reply {
                op: op.clone(),
                result: Ok(Slice {
                    items: vec![Item(k()), Item(Bytes::from_static(b"\x00\xff"))],
                    next: Some(Item(k())),
                }),
            }),
        ),
        (
            "list-reply-error",
            PeerMessage::List(ListMessage::Reply {
                op: op.clone(),
                result: Err("storage: disk full".to_owned()),
            }),
        ),
    ]
    .into_iter()
    .map(|(n, m)| (n.to_owned(), m))
    .collect()
}

fn requests() -> Vec<(&'static str, RequestFrame)> {
    let token = contexts().swap_remove(1).1.to_token().unwrap();
    let b = || Bytes::from_static(b"cart");
    let k = || Bytes::from_static(b"alice");
    vec![
        (
            "get",
            Request::Get {
                bucket: b(),
                key: k(),
                r: Some(2),
            },
        ),
        (
            "put",
            Request::Put {
                bucket: b(),
                key: k(),
                context: Some(token.clone()),
                value: Bytes::from_static(b"value"),
                content_type: Some("text/plain".to_owned()),
                w: Some(2),
                dw: Some(0),
                return_body: true,
            },
        ),
        (
            "put-blind",
            Request::Put {
                bucket: b(),
                key: k(),
                context: None,
                value: Bytes::new(),
                content_type: None,
                w: None,
                dw: None,
                return_body: false,
            },
        ),
        (
            "delete",
            Request::Delete {
                bucket: b(),
                key: k(),
                context: Some(token),
                w: Some(3),
                dw: None,
            },
        ),
        ("ping", Request::Ping),
        (
            "auth",
            Request::Auth {
                token: key_token("reader"),
            },
        ),
        (
            "auth-revoked",
            Request::Auth {
                token: key_token("gone"),
            },
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (n, request))| {
        (
            n,
            RequestFrame {
                id: u64::try_from(i).unwrap() + 1,
                request,
            },
        )
    })
    .collect()
}

fn responses() -> Vec<(&'static str, ResponseFrame)> {
    let read = Read {
        context: Some(contexts().swap_remove(1).1.to_token().unwrap()),
        siblings: vec![
            Sibling {
                value: Bytes::from_static(b"one"),
                content_type: "text/plain".to_owned(),
                last_modified: 1_700_000_000_000,
                deleted: false,
            },
            Sibling {
                value: Bytes::new(),
                content_type: "application/octet-stream".to_owned(),
                last_modified: 1_700_000_000_001,
                deleted: true,
            },
        ],
    };
    let error = |kind| {
        Err(ErrorReply {
            kind,
            message: "why".to_owned(),
        })
    };
    vec![
        ("read", Ok(Response::Read(read.clone()))),
        (
            "written",
            Ok(Response::Written {
                context: read.context.clone(),
                body: Some(read),
            }),
        ),
        (
            "written-bare",
            Ok(Response::Written {
                context: None,
                body: None,
            }),
        ),
        ("pong", Ok(Response::Pong)),
        ("authenticated", Ok(Response::Authenticated)),
        ("bad-request", error(ErrorKind::BadRequest)),
        ("too-large", error(ErrorKind::TooLarge { max: 1 << 20 })),
        ("siblings", error(ErrorKind::TooManySiblings { limit: 100 })),
        (
            "unavailable",
            error(ErrorKind::Unavailable {
                needed: 2,
                answered: 1,
            }),
        ),
        ("overloaded", error(ErrorKind::Overloaded)),
        ("protocol", error(ErrorKind::Protocol)),
        ("unauthorized", error(ErrorKind::Unauthorized)),
        ("forbidden", error(ErrorKind::Forbidden)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (n, result))| {
        (
            n,
            ResponseFrame {
                id: u64::try_from(i).unwrap(),
                result,
            },
        )
    })
    .collect()
}

/// The token (`<id>.<secret>`) of one of the harness's keys.
fn key_token(id: &str) -> String {
    let (_, secret) = harness::KEY_SECRETS
        .iter()
        .find(|(name, _)| *name == id)
        .unwrap();
    format!("{id}.{}", dynamo_server::auth::hex(secret))
}

/// A continuation token of the harness's bucket and key: partition 7, after key `alice`.
fn listing_token() -> String {
    use dynamo_server::http::listing::{Position, encode_token};
    encode_token(
        harness::listing_key(),
        harness::LISTING_BUCKET,
        &Position {
            partition: 7,
            after: Cursor::After(Bytes::from_static(b"alice")),
        },
    )
}

/// Without the trailing CRC-32: the harness seals it back on.
fn unsealed(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.truncate(bytes.len() - 4);
    bytes
}

/// A seed: target, name, bytes.
type Seed = (&'static str, String, Vec<u8>);

/// The frames of the binary protocol as seeds of `target`: each whole (a stream) and as a
/// body without its length.
fn protocol_seeds<T: serde::Serialize>(
    out: &mut Vec<Seed>,
    target: &'static str,
    frames: Vec<(&'static str, T)>,
) {
    for (name, frame) in frames {
        let mut bytes = Vec::new();
        dynamo_protocol::encode_into(&frame, harness::MAX_FRAME, &mut bytes).unwrap();
        out.push((target, format!("{name}-body"), bytes[4..].to_vec()));
        out.push((target, format!("{name}-frame"), bytes));
    }
}

/// Every seed.
fn seeds() -> Vec<Seed> {
    let mut out: Vec<Seed> = Vec::new();

    // Peer frames: whole frames (a stream) and bodies.
    let mut frames = vec![(
        "hello".to_owned(),
        Frame::Hello(Hello {
            node: node("n1"),
            peer_addr: "10.0.0.1:7000".to_owned(),
        }),
    )];
    frames.extend(
        peer_messages()
            .into_iter()
            .map(|(n, m)| (n, Frame::Message(m))),
    );
    for (name, frame) in frames {
        let bytes = wire::encode(&frame, harness::MAX_FRAME).unwrap();
        out.push(("wire_frame", format!("{name}-body"), bytes[4..].to_vec()));
        out.push(("wire_frame", format!("{name}-frame"), bytes));
    }

    // The binary protocol.
    protocol_seeds(&mut out, "protocol_request", requests());
    protocol_seeds(&mut out, "protocol_response", responses());

    // Records, contexts and what a node keeps in `meta`.
    for (name, set) in sets() {
        out.push(("record", name, unsealed(record::encode(&set).unwrap())));
    }
    for (name, ctx) in contexts() {
        let token = ctx.to_token().unwrap();
        let binary = URL_SAFE_NO_PAD.decode(&token).unwrap();
        out.push(("context_token", format!("{name}-binary"), unsealed(binary)));
        out.push(("context_token", format!("{name}-token"), token.into_bytes()));
    }
    for (name, state) in cluster_states() {
        out.push((
            "cluster_state",
            name,
            unsealed(encode_cluster_state(&state)),
        ));
    }
    // The stored formats' fixtures, older versions included (still read).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dynamo-core/tests/fixtures");
    for file in files_of(&fixtures) {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let target = if name.starts_with("cluster-state-") {
            "cluster_state"
        } else if name.starts_with("record-") {
            "record"
        } else {
            continue;
        };
        let bytes = std::fs::read(&file).unwrap();
        out.push((target, format!("fixture-{name}"), unsealed(bytes)));
    }
    for (name, epoch, clean_shutdown) in [("clean", 1_700_000_000_000, true), ("crashed", 3, false)]
    {
        let state = EpochState {
            epoch,
            clean_shutdown,
        };
        out.push((
            "epoch_state",
            name.to_owned(),
            unsealed(record::encode_epoch_state(&state)),
        ));
    }
    let transfer = |partition, to: &str, cursor: Option<&[u8]>, root, done| PersistedTransfer {
        partition: PartitionId(partition),
        to: node(to),
        cursor: cursor.map(Bytes::copy_from_slice),
        keys_sent: 1234,
        pass_root: root,
        done,
    };
    let table = vec![
        transfer(7, "n4", Some(b"\0\0\0\x07\0\x04cartkey"), Some(99), false),
        transfer(8, "n2", None, None, true),
    ];
    out.push((
        "transfers",
        "two".to_owned(),
        unsealed(encode_transfers(&table)),
    ));
    out.push((
        "transfers",
        "empty".to_owned(),
        unsealed(encode_transfers(&[])),
    ));
    for (name, partition, bucket, key) in [
        ("plain", 3, &b"cart"[..], &b"alice"[..]),
        ("binary", u32::MAX, b"\x00\xff", b"\x00"),
        ("empty-key", 0, b"b", b""),
    ] {
        let bytes = encode_storage_key(PartitionId(partition), bucket, key).unwrap();
        out.push(("storage_key", name.to_owned(), bytes));
    }

    // HTTP parameters: the selector byte picks the endpoint's parameter set (see ALLOWED).
    let token = contexts().swap_remove(1).1.to_token().unwrap();
    for (name, selector, text) in [
        ("path", 0u8, "/buckets/cart/keys/alice".to_owned()),
        ("path-escaped", 0, "/buckets/b%20x/keys/%FF%00+k".to_owned()),
        ("get-query", 1, "r=2".to_owned()),
        ("put-query", 2, "w=2&dw=0&returnbody=true".to_owned()),
        ("delete-query", 3, "w=3&dw=1".to_owned()),
        ("ring-query", 4, "n=3".to_owned()),
        ("join-query", 5, "seed=n2%40127.0.0.1%3A7000".to_owned()),
        ("context", 0, token),
        ("content-type", 0, " text/plain; charset=utf-8 ".to_owned()),
        ("auth-admin", 0, format!("Bearer {}", key_token("boot"))),
        ("auth-reader", 0, format!("Bearer {}", key_token("reader"))),
        ("auth-revoked", 0, key_token("gone")),
        (
            "listing-query",
            6,
            format!("limit=500&continuation={}", listing_token()),
        ),
    ] {
        let mut bytes = vec![selector];
        bytes.extend_from_slice(text.as_bytes());
        out.push(("http_params", name.to_owned(), bytes));
    }

    // A continuation token's body (version, partition, a key), which the harness signs.
    out.push((
        "http_params",
        "listing-body".to_owned(),
        b"\x00\x01\x00\x00\x00\x05\x01\x00\x05alice".to_vec(),
    ));

    // Multipart: parts split at 0xFF; in each, a header selector byte, a content type up to
    // 0xFE, then the body.
    for (name, parts) in [
        ("two", vec![&b"\x03text/plain\xfehello"[..], b"\x06\xfe"]),
        (
            "boundary-like",
            vec![b"\x01text/plain\xfe--dynamo-siblings-0123"],
        ),
        ("crlf", vec![b"\x07a/b\xfe\r\n--\r\n\r\n", b"\x00", b""]),
    ] {
        out.push(("multipart", name.to_owned(), parts.join(&0xFF)));
    }
    out
}

//! The harnesses of the fuzz targets: one function per target, taking the fuzzer's bytes,
//! feeding them to a decoder of bytes that come from a network or a disk, and checking the
//! decoder's invariants. A harness panics (and so reports a crash) when a decoder panics or
//! breaks an invariant; a decoder that rejects its input is not a finding.
//!
//! The file is shared: `fuzz_targets/*.rs` call these functions under libFuzzer (nightly,
//! `cargo fuzz`, through `lib.rs`), and `dynamo-server/tests/fuzz_corpus.rs` includes it
//! (`#[path]`) to run every committed corpus file through the same checks on stable, in
//! `cargo test`. So it uses only crates that `dynamo-server` depends on, and no `crate::`
//! paths.
//!
//! Checksummed formats (records, context tokens, the cluster state, the epoch state, the
//! transfer table) are fed twice: the bytes as they are, and the bytes with their CRC-32
//! appended ([`seal`]), so that mutations reach the content behind the checksum instead of
//! dying on it. Their seeds are the encodings without the trailing checksum. Framed protocols
//! are fed likewise as a stream (length prefix included) and as a body given its true length.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use dynamo_core::membership::keys::{Access, AccessKey, Grant};
use dynamo_core::membership::{CLUSTER_FORMAT_VERSION, decode_cluster_state, encode_cluster_state};
use dynamo_core::record::{self, KeyedRecord, MAX_TOKEN_LEN};
use dynamo_core::ring::{
    MAX_STORAGE_KEY_LEN, STORAGE_KEY_HEADER_LEN, decode_storage_key, encode_storage_key,
};
use dynamo_core::transfer::{decode_transfers, encode_transfers};
use dynamo_core::version::{ContentType, Context};
use dynamo_core::{antientropy::AeMessage, proto::PeerMessage};
use dynamo_protocol::{Request, RequestFrame, ResponseFrame};
use dynamo_server::auth::{self, Denied, KeyTable, Need};
use dynamo_server::endpoints::ClientEndpoints;
use dynamo_server::http::listing::{self, Position, TokenKey};
use dynamo_server::http::multipart::{self, Part};
use dynamo_server::http::params::{self, Query};
use dynamo_server::secure::ClusterSecret;
use dynamo_server::wire::{self, Frame, WireError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A harness: takes the fuzzer's bytes, panics on a finding.
pub type Harness = fn(&[u8]);

/// Every target: its name (the file `fuzz_targets/<name>.rs` and the corpus directory
/// `corpus/<name>/`) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("wire_frame", wire_frame),
    ("protocol_request", protocol_request),
    ("protocol_response", protocol_response),
    ("record", record),
    ("context_token", context_token),
    ("cluster_state", cluster_state),
    ("epoch_state", epoch_state),
    ("transfers", transfers),
    ("storage_key", storage_key),
    ("http_params", http_params),
    ("multipart", multipart),
];

/// The largest frame the harnesses accept: above any fuzz input (libFuzzer's `-max_len`
/// defaults to 4096), so that the size limit never hides a decoding path.
pub const MAX_FRAME: usize = 16 << 20;

/// `data` followed by its CRC-32 (IEEE, big-endian), as every checksummed format ends.
pub fn seal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 4);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_be_bytes());
    out
}

/// The CRC-32 of the formats (IEEE 802.3, reflected, as `crc32fast` computes it), written
/// here because the stable test cannot depend on `crc32fast`.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}

/// The value of `r`, or a panic naming what should have succeeded.
fn must<T, E: Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// `len` as the 4-byte big-endian length prefix of both frame formats.
fn length_prefix(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

// ---------------------------------------------------------------------------------------
// Peer frames (dynamo-server/src/wire.rs)
// ---------------------------------------------------------------------------------------

/// Peer frames: `wire::decode` on the bytes as a stream of frames, `wire::decode_body` on
/// them as one body (and `decode` on that body behind its true length). Whatever decodes must
/// encode again, decode to the same frame, and re-encode to the same bytes; the records a
/// message carries go through the record checks.
pub fn wire_frame(data: &[u8]) {
    // As a stream: successive frames, as the transport reads them.
    let mut rest = data;
    for _ in 0..8 {
        match wire::decode(rest, MAX_FRAME) {
            Ok((frame, used)) => {
                assert!(used > wire::LENGTH_BYTES && used <= rest.len(), "{used}");
                let again = must(
                    wire::decode(&rest[..used], MAX_FRAME),
                    "a frame cut to itself",
                );
                assert_eq!(again, (frame.clone(), used));
                assert!(matches!(
                    wire::decode(&rest[..used - 1], MAX_FRAME),
                    Err(WireError::Truncated { .. })
                ));
                wire_round_trip(&frame);
                rest = &rest[used..];
            }
            Err(WireError::Truncated { needed, available }) => {
                assert_eq!(available, rest.len());
                assert!(needed > available, "{needed} {available}");
                break;
            }
            Err(_) => break,
        }
    }
    // As a body whose length is right.
    let body = wire::decode_body(data);
    if !data.is_empty() {
        let mut framed = length_prefix(data.len()).to_vec();
        framed.extend_from_slice(data);
        let whole = wire::decode(&framed, MAX_FRAME);
        assert_eq!(
            whole.as_ref().ok().map(|(f, n)| (f, *n)),
            body.as_ref().ok().map(|f| (f, framed.len())),
            "decode and decode_body disagree"
        );
    }
    if let Ok(frame) = body {
        wire_round_trip(&frame);
    }
}

fn wire_round_trip(frame: &Frame) {
    let bytes = must(
        wire::encode(frame, MAX_FRAME),
        "re-encoding a decoded frame",
    );
    let (again, used) = must(
        wire::decode(&bytes, MAX_FRAME),
        "decoding a re-encoded frame",
    );
    assert_eq!(used, bytes.len());
    assert_eq!(&again, frame);
    assert_eq!(
        must(wire::encode(&again, MAX_FRAME), "encoding twice"),
        bytes
    );
    if let Frame::Message(m) = frame {
        for r in carried_records(m) {
            record_bytes(r);
        }
    }
}

/// The encoded records a peer message carries, which the receiver decodes and merges.
fn carried_records(m: &PeerMessage) -> Vec<&[u8]> {
    match m {
        PeerMessage::ReplicaPut { record, .. }
        | PeerMessage::Repair { record, .. }
        | PeerMessage::HintDeliver { record, .. } => vec![&record[..]],
        PeerMessage::ReplicaGetReply {
            record: Ok(Some(record)),
            ..
        } => vec![&record[..]],
        PeerMessage::AntiEntropy(AeMessage::Push { records, .. })
        | PeerMessage::AntiEntropy(AeMessage::PushReply { records, .. }) => keyed(records),
        PeerMessage::TransferBatch(batch) => keyed(&batch.records),
        _ => Vec::new(),
    }
}

fn keyed(records: &[KeyedRecord]) -> Vec<&[u8]> {
    records.iter().map(|r| &r.record[..]).collect()
}

// ---------------------------------------------------------------------------------------
// The binary client protocol (dynamo-protocol)
// ---------------------------------------------------------------------------------------

/// Client-to-server frames of the binary protocol: as [`wire_frame`], and the contexts,
/// buckets, keys and content types a request carries go through the checks the server
/// applies to them.
pub fn protocol_request(data: &[u8]) {
    for frame in protocol::<RequestFrame>(data) {
        match &frame.request {
            Request::Get { bucket, key, .. } => bucket_and_key_checks(bucket, key),
            Request::Put {
                bucket,
                key,
                context,
                content_type,
                ..
            } => {
                bucket_and_key_checks(bucket, key);
                if let Some(t) = context {
                    token(t);
                }
                if let Some(ct) = content_type {
                    content_type_checks(ct);
                }
            }
            Request::Delete {
                bucket,
                key,
                context,
                ..
            } => {
                bucket_and_key_checks(bucket, key);
                if let Some(t) = context {
                    token(t);
                }
            }
            Request::Ping => {}
            Request::Auth { token } => access_token_checks(token),
        }
    }
}

/// Server-to-client frames of the binary protocol (what the client decodes): as
/// [`wire_frame`].
pub fn protocol_response(data: &[u8]) {
    let _ = protocol::<ResponseFrame>(data);
}

/// Decodes `data` as a stream and as a body behind its true length; checks the framing
/// rules and the round trip of whatever decodes, and returns it.
fn protocol<T>(data: &[u8]) -> Vec<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut found = Vec::new();
    let mut rest = data;
    for _ in 0..8 {
        match dynamo_protocol::decode::<T>(rest, MAX_FRAME) {
            Ok(Some((m, used))) => {
                assert!(used > dynamo_protocol::LENGTH_BYTES && used <= rest.len());
                // A frame is not complete one byte earlier: the reader waits for more.
                assert!(matches!(
                    dynamo_protocol::decode::<T>(&rest[..used - 1], MAX_FRAME),
                    Ok(None)
                ));
                protocol_round_trip(&m);
                found.push(m);
                rest = &rest[used..];
            }
            Ok(None) => {
                // Waiting for more only while the announced frame is incomplete.
                if let Some(prefix) = rest.first_chunk::<4>() {
                    let len = u32::from_be_bytes(*prefix) as usize;
                    assert!(4 + len > rest.len(), "whole frame reported incomplete");
                }
                break;
            }
            Err(_) => break,
        }
    }
    if !data.is_empty() {
        let mut framed = length_prefix(data.len()).to_vec();
        framed.extend_from_slice(data);
        if let Ok(Some((m, used))) = dynamo_protocol::decode::<T>(&framed, MAX_FRAME) {
            assert_eq!(used, framed.len());
            protocol_round_trip(&m);
            found.push(m);
        }
    }
    found
}

fn protocol_round_trip<T>(m: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut bytes = Vec::new();
    must(
        dynamo_protocol::encode_into(m, MAX_FRAME, &mut bytes),
        "re-encoding a decoded frame",
    );
    let decoded = must(
        dynamo_protocol::decode::<T>(&bytes, MAX_FRAME),
        "decoding a re-encoded frame",
    );
    let (again, used) = match decoded {
        Some(d) => d,
        None => panic!("a whole re-encoded frame reported incomplete"),
    };
    assert_eq!(used, bytes.len());
    assert_eq!(&again, m);
    let mut twice = Vec::new();
    must(
        dynamo_protocol::encode_into(&again, MAX_FRAME, &mut twice),
        "encoding twice",
    );
    assert_eq!(twice, bytes);
}

// ---------------------------------------------------------------------------------------
// Records (dynamo-core/src/record)
// ---------------------------------------------------------------------------------------

/// Stored records: `record::check`, `decode` and `decode_shared`, on the bytes and on the
/// sealed bytes.
pub fn record(data: &[u8]) {
    record_bytes(data);
    record_bytes(&seal(data));
}

/// The record checks on one input: the three readers agree; a decoded set re-encodes to the
/// same bytes (the format is canonical), merges with itself into itself, and its context
/// makes a token that reads back.
fn record_bytes(input: &[u8]) {
    let checked = record::check(input);
    let decoded = record::decode(input);
    let shared = record::decode_shared(&Bytes::copy_from_slice(input));
    assert_eq!(decoded, shared, "decode and decode_shared disagree");
    if let Err(e) = &checked {
        assert_eq!(decoded.as_ref().err(), Some(e), "check and decode disagree");
    }
    let Ok(set) = decoded else {
        return;
    };
    let bytes = must(record::encode(&set), "re-encoding a decoded record");
    assert_eq!(bytes, input, "a decoded record re-encodes to other bytes");
    let mut merged = set.clone();
    must(merged.merge_unbounded(&set), "merging a record with itself");
    assert_eq!(merged, set, "merging a record with itself changed it");
    if let Ok(t) = set.context().to_token() {
        assert_eq!(
            must(Context::from_token(&t), "reading a record's context token"),
            set.context()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Causal context tokens (dynamo-core/src/record/context.rs)
// ---------------------------------------------------------------------------------------

/// Context tokens: `Context::from_token` on the bytes as a string, and on the base64url of
/// the sealed bytes.
pub fn context_token(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        token(s);
        context_token_param(s);
    }
    let sealed = URL_SAFE_NO_PAD.encode(seal(data));
    token(&sealed);
}

/// A token that decodes encodes back to itself (tokens are canonical), and its context
/// merges with itself into itself.
fn token(s: &str) {
    let Ok(ctx) = Context::from_token(s) else {
        return;
    };
    assert!(s.len() <= MAX_TOKEN_LEN);
    let again = must(ctx.to_token(), "re-encoding a decoded context");
    assert_eq!(again, s, "a decoded context re-encodes to another token");
    let mut merged = ctx.clone();
    merged.merge(&ctx);
    assert_eq!(merged, ctx, "merging a context with itself changed it");
    assert!(ctx.descends(&ctx));
}

/// The HTTP layer's reading of a token (`params::context_token`) is `from_token` of the
/// trimmed string.
fn context_token_param(s: &str) {
    assert_eq!(
        params::context_token(s).ok(),
        Context::from_token(s.trim()).ok()
    );
}

// ---------------------------------------------------------------------------------------
// What a node reads back from its disk (dynamo-core)
// ---------------------------------------------------------------------------------------

/// The persisted cluster state: `decode_cluster_state` on the bytes and on the sealed bytes.
pub fn cluster_state(data: &[u8]) {
    cluster_bytes(data);
    cluster_bytes(&seal(data));
}

/// A decoded state re-encodes to the same bytes when it was in the current format (older
/// formats re-encode in the current one, to the same state); it merges with itself without
/// change; its gossip encoding (postcard, with the same validation) round-trips; the client
/// endpoints its members announce read as the server reads them, and their text form reads
/// back to the same endpoints.
fn cluster_bytes(input: &[u8]) {
    let Ok(state) = decode_cluster_state(input) else {
        return;
    };
    for info in state.members().values() {
        let endpoints = ClientEndpoints::parse(&info.client);
        assert_eq!(ClientEndpoints::parse(&endpoints.to_text()), endpoints);
    }
    let bytes = encode_cluster_state(&state);
    if input.first() == Some(&CLUSTER_FORMAT_VERSION) {
        assert_eq!(
            bytes, input,
            "a decoded cluster state re-encodes to other bytes"
        );
    }
    assert_eq!(decode_cluster_state(&bytes).as_ref(), Ok(&state));
    let mut merged = state.clone();
    let outcome = merged.merge(&state);
    assert!(!outcome.changed, "merging a state with itself changed it");
    assert_eq!(merged, state);
    let gossip = must(postcard::to_allocvec(&state), "the gossip encoding");
    let back = must(
        postcard::from_bytes::<dynamo_core::membership::ClusterState>(&gossip),
        "the gossip decoding",
    );
    assert_eq!(back, state);
}

/// The persisted epoch state: `decode_epoch_state` on the bytes and on the sealed bytes; what
/// decodes re-encodes to the same bytes.
pub fn epoch_state(data: &[u8]) {
    for input in [data, &seal(data)] {
        if let Ok(s) = record::decode_epoch_state(input) {
            assert_eq!(record::encode_epoch_state(&s), input);
        }
    }
}

/// The persisted transfer table: `decode_transfers` on the bytes and on the sealed bytes;
/// what decodes re-encodes to bytes that decode to the same table.
pub fn transfers(data: &[u8]) {
    for input in [data, &seal(data)] {
        if let Ok(t) = decode_transfers(input) {
            let bytes = encode_transfers(&t);
            assert_eq!(decode_transfers(&bytes).as_ref(), Ok(&t));
            assert!(bytes.len() <= input.len());
        }
    }
}

/// Storage keys, as read back from every scan: `decode_storage_key`. A key that decodes and
/// is within the length limit encodes back to the same bytes.
pub fn storage_key(data: &[u8]) {
    let Ok(sk) = decode_storage_key(data) else {
        return;
    };
    assert_eq!(
        STORAGE_KEY_HEADER_LEN + sk.bucket.len() + sk.key.len(),
        data.len()
    );
    let again = encode_storage_key(sk.partition, sk.bucket, sk.key);
    if data.len() <= MAX_STORAGE_KEY_LEN {
        assert_eq!(must(again, "re-encoding a storage key"), data);
    } else {
        assert!(again.is_err());
    }
}

// ---------------------------------------------------------------------------------------
// HTTP parameters (dynamo-server/src/http/params.rs)
// ---------------------------------------------------------------------------------------

/// The query-parameter sets the HTTP endpoints accept.
const ALLOWED: [&[&str]; 7] = [
    &[],
    &["r"],
    &["w", "dw", "returnbody"],
    &["w", "dw"],
    &["n"],
    &["seed"],
    &["limit", "continuation"],
];

/// Paths, queries, context tokens, content types and access keys: the first byte picks the
/// endpoint's parameter set, the rest (as UTF-8, lossily) is given to every parser.
pub fn http_params(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let s = String::from_utf8_lossy(rest);
    let s = s.as_ref();
    percent_decode_checks(s, false);
    percent_decode_checks(s, true);
    path_checks(s);
    query_checks(s, ALLOWED[usize::from(selector) % ALLOWED.len()]);
    context_token_param(s);
    content_type_checks(s);
    access_token_checks(s);
    authorization_checks(s);
    listing_checks(s, rest);
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986).
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode_checks(s: &str, plus_is_space: bool) {
    match params::percent_decode(s, plus_is_space) {
        Ok(bytes) => {
            assert!(bytes.len() <= s.len());
            let escaped = s.contains('%') || (plus_is_space && s.contains('+'));
            if !escaped {
                assert_eq!(bytes, s.as_bytes());
            }
            let again = must(
                params::percent_decode(&percent_encode(&bytes), plus_is_space),
                "decoding an encoding",
            );
            assert_eq!(again, bytes);
        }
        Err(_) => assert!(s.contains('%'), "an error without a %: {s:?}"),
    }
}

fn path_checks(path: &str) {
    let Ok((bucket, key)) = params::bucket_and_key(path) else {
        return;
    };
    bucket_and_key_checks(&bucket, &key);
    assert_eq!(params::bucket_of(path).as_ref(), Ok(&bucket));
    let again = format!(
        "/buckets/{}/keys/{}",
        percent_encode(&bucket),
        percent_encode(&key)
    );
    assert_eq!(params::bucket_and_key(&again), Ok((bucket, key)));
}

/// What the checks accept obeys the limits they state.
fn bucket_and_key_checks(bucket: &[u8], key: &[u8]) {
    let max = dynamo_core::node::MAX_CLIENT_KEY_LEN;
    let ok = params::check_bucket(bucket).is_ok() && params::check_key(bucket, key).is_ok();
    let expected = !bucket.is_empty() && !key.is_empty() && bucket.len() + key.len() <= max;
    assert_eq!(ok, expected, "bucket {} key {}", bucket.len(), key.len());
}

fn query_checks(query: &str, allowed: &[&str]) {
    let Ok(q) = Query::parse(Some(query), allowed) else {
        return;
    };
    for &name in allowed {
        let raw = q.get(name);
        let digits = raw.is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
        let number = raw.and_then(|v| v.parse::<u8>().ok());
        match q.quorum(name) {
            Ok(Some(n)) => assert!(digits && n >= 1 && number == Some(n), "{name}={raw:?}"),
            Ok(None) => assert!(raw.is_none()),
            Err(_) => assert!(raw.is_some() && !(digits && number.is_some_and(|n| n >= 1))),
        }
        match q.durable_quorum(name) {
            Ok(Some(n)) => assert!(digits && number == Some(n), "{name}={raw:?}"),
            Ok(None) => assert!(raw.is_none()),
            Err(_) => assert!(raw.is_some() && !(digits && number.is_some())),
        }
        match q.flag(name) {
            Ok(f) => assert_eq!(f, raw == Some("true")),
            Err(_) => assert!(raw.is_some_and(|v| v != "true" && v != "false")),
        }
    }
    // The same parameters, encoded afresh, parse to the same values.
    let rebuilt: Vec<String> = allowed
        .iter()
        .filter_map(|&name| {
            q.get(name).map(|v| {
                format!(
                    "{}={}",
                    percent_encode(name.as_bytes()),
                    percent_encode(v.as_bytes())
                )
            })
        })
        .collect();
    let again = must(
        Query::parse(Some(&rebuilt.join("&")), allowed),
        "parsing a re-encoded query",
    );
    for &name in allowed {
        assert_eq!(again.get(name), q.get(name));
    }
}

// ---------------------------------------------------------------------------------------
// Key listing (dynamo-server/src/http/listing.rs): `limit` and `continuation`
// ---------------------------------------------------------------------------------------

/// The partitions of the ring the harness decodes continuation tokens against.
pub const LISTING_PARTITIONS: u32 = 64;
/// The bucket the harness's continuation tokens are for.
pub const LISTING_BUCKET: &[u8] = b"cart";

/// The key that signs the harness's continuation tokens: the loopback cluster secret's.
pub fn listing_key() -> &'static TokenKey {
    static KEY: LazyLock<TokenKey> =
        LazyLock::new(|| TokenKey::from_secret(&ClusterSecret::loopback_default()));
    &KEY
}

/// A listing's parameters: `limit` is accepted exactly when it is an integer from 1 to
/// `MAX_LIMIT` (absent: the default); the continuation token is decoded as sent, and the bytes
/// are also decoded as a token body signed with the right key, so that mutations reach the
/// fields behind the tag. Whatever decodes is in bounds and encodes back to itself.
fn listing_checks(s: &str, raw: &[u8]) {
    if let Ok(q) = Query::parse(Some(s), &["limit", "continuation"]) {
        let asked = q.get("limit");
        let valid = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=listing::MAX_LIMIT).contains(n))
        };
        match listing::limit_of(&q) {
            Ok(n) => match asked {
                None => assert_eq!(n, listing::DEFAULT_LIMIT),
                Some(v) => assert_eq!(valid(v), Some(n), "limit={v:?}"),
            },
            Err(_) => assert!(asked.is_some_and(|v| valid(v).is_none()), "{asked:?}"),
        }
        if let Some(token) = q.get("continuation") {
            continuation_checks(token);
        }
    }
    continuation_checks(s);
    let mut signed = raw.to_vec();
    signed.extend_from_slice(&listing_key().tag(LISTING_BUCKET, raw));
    let signed = URL_SAFE_NO_PAD.encode(signed);
    if let Some(position) = continuation_checks(&signed) {
        assert_eq!(
            listing::encode_token(listing_key(), LISTING_BUCKET, &position),
            signed,
            "a signed body decoded to a position that encodes otherwise"
        );
    }
}

/// Decodes `token`; what decodes is a partition of the ring and a key within the bounds, and
/// its encoding decodes to the same position.
fn continuation_checks(token: &str) -> Option<Position> {
    let position =
        listing::decode_token(listing_key(), LISTING_BUCKET, LISTING_PARTITIONS, token).ok()?;
    assert!(position.partition < LISTING_PARTITIONS);
    assert!(token.len() <= listing::MAX_TOKEN_LEN);
    if let dynamo_core::listing::Cursor::After(key) = &position.after {
        assert!(
            !key.is_empty()
                && LISTING_BUCKET.len() + key.len() <= dynamo_core::node::MAX_CLIENT_KEY_LEN
        );
    }
    let again = listing::encode_token(listing_key(), LISTING_BUCKET, &position);
    assert_eq!(
        listing::decode_token(listing_key(), LISTING_BUCKET, LISTING_PARTITIONS, &again),
        Ok(position.clone())
    );
    Some(position)
}

fn content_type_checks(s: &str) {
    if let Ok(ct) = params::content_type_str(s) {
        if s.trim().is_empty() {
            assert_eq!(ct, ContentType::octet_stream());
        } else {
            assert_eq!(ct.as_str(), s.trim());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Access keys (dynamo-server/src/auth.rs): the `Authorization` header and `Request::Auth`
// ---------------------------------------------------------------------------------------

/// The secrets of the harness's keys: `boot` (a bootstrap admin key of the configuration),
/// `reader` (a cluster key that may read bucket `cart`) and `gone` (a revoked admin key).
/// The seeds hold their tokens, so the fuzzer starts from keys that pass.
pub const KEY_SECRETS: [(&str, [u8; auth::SECRET_LEN]); 3] = [
    ("boot", [0x11; 32]),
    ("reader", [0x22; 32]),
    ("gone", [0x33; 32]),
];

/// The keys of [`KEY_SECRETS`], made once.
fn key_table() -> &'static KeyTable {
    static TABLE: LazyLock<KeyTable> = LazyLock::new(|| {
        let [
            (boot, boot_secret),
            (reader, reader_secret),
            (gone, gone_secret),
        ] = KEY_SECRETS;
        let table = KeyTable::new(BTreeMap::from([(
            boot.to_owned(),
            auth::digest(&boot_secret),
        )]));
        let key = |secret: &[u8], admin, grants, revoked| AccessKey {
            secret_digest: auth::digest(secret),
            admin,
            grants,
            created_ms: 0,
            revoked,
        };
        let cart = Grant {
            bucket: Bytes::from_static(b"cart"),
            read: true,
            write: false,
        };
        table.publish(BTreeMap::from([
            (
                reader.to_owned(),
                key(&reader_secret, false, vec![cart], false),
            ),
            (gone.to_owned(), key(&gone_secret, true, Vec::new(), true)),
        ]));
        table
    });
    &TABLE
}

/// The key a token (`<id>.<secret as 64 hex digits>`, blanks around it ignored) proves, read
/// independently of `auth`: `None` unless the id is one of [`KEY_SECRETS`] and the secret is
/// its own.
fn key_proved_by(token: &str) -> Option<&'static str> {
    let (id, secret) = token.trim().split_once('.')?;
    let (name, known) = KEY_SECRETS.iter().find(|(name, _)| *name == id)?;
    (secret.len() == 2 * auth::SECRET_LEN && secret.eq_ignore_ascii_case(&auth::hex(known)))
        .then_some(*name)
}

/// A token as `Request::Auth` and the `Authorization` header present it: every need is
/// granted or refused exactly as the keys say (`boot`, a bootstrap admin key, may do
/// anything; `reader` what its grant allows; anything else nothing but open routes), and both
/// ways of presenting it agree.
fn access_token_checks(token: &str) {
    let table = key_table();
    let proved = key_proved_by(token);
    let header = format!("Bearer {token}");
    // Each need, and whether `reader` has it.
    let needs = [
        (Need::Nothing, true),
        (Need::AnyKey, true),
        (Need::Admin, false),
        (Need::Bucket(b"cart".to_vec(), Access::Read), true),
        (Need::Bucket(b"cart".to_vec(), Access::Write), false),
        (Need::Bucket(b"other".to_vec(), Access::Read), false),
    ];
    for (need, reader_may) in needs {
        let got = table.check_token(token, &need);
        let from_header = table.check(Some(&header), &need);
        assert_eq!(got, from_header, "token and header disagree on {need:?}");
        match (need, proved) {
            (Need::Nothing, _) | (_, Some("boot")) => assert!(got.is_ok(), "{got:?}"),
            (_, Some("reader")) if reader_may => assert!(got.is_ok(), "{got:?}"),
            (_, Some("reader")) => assert!(matches!(got, Err(Denied::Forbidden(_))), "{got:?}"),
            _ => assert!(matches!(got, Err(Denied::Unauthenticated(_))), "{got:?}"),
        }
    }
}

/// A whole `Authorization` header: only `Bearer ` and a live key's token are let in.
fn authorization_checks(header: &str) {
    let proved = header.strip_prefix("Bearer ").and_then(key_proved_by);
    let ok = key_table().check(Some(header), &Need::AnyKey).is_ok();
    assert_eq!(ok, matches!(proved, Some("boot" | "reader")), "{header:?}");
}

// ---------------------------------------------------------------------------------------
// Multipart bodies (dynamo-server/src/http/multipart.rs)
// ---------------------------------------------------------------------------------------

/// `multipart/mixed` bodies. The server only writes them (no code in the workspace parses
/// one), so the target fuzzes the encoder: the bytes describe parts (split at `0xFF`; in each,
/// the first byte picks the headers, a content type runs up to `0xFE`, the body follows), and
/// the encoding must parse back, by RFC 2046's rules, into exactly those parts, with a
/// boundary that is valid and found in no part.
pub fn multipart(data: &[u8]) {
    let parts: Vec<Part> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0xFF).take(32).map(part_of).collect()
    };
    let m = multipart::encode(&parts);
    let b = m.boundary.as_bytes();
    assert!(
        !b.is_empty() && b.len() <= 70,
        "boundary length {}",
        b.len()
    );
    assert!(
        b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(c)),
        "boundary {:?}",
        m.boundary
    );
    for p in &parts {
        assert!(find(&p.body, b).is_none(), "the boundary is in a body");
        for (_, v) in &p.headers {
            assert!(
                find(v.as_bytes(), b).is_none(),
                "the boundary is in a header"
            );
        }
    }
    assert_eq!(
        m.content_type(),
        format!("multipart/mixed; boundary={}", m.boundary)
    );
    assert_eq!(parse_multipart(&m.body, &m.boundary), parts);
}

/// One part from its bytes. Header values are printable ASCII, as the server's are (a
/// checked content type, a number, `true`).
fn part_of(chunk: &[u8]) -> Part {
    let (selector, rest) = chunk.split_first().map_or((0, &[][..]), |(s, r)| (*s, r));
    let (ct, body) = match rest.iter().position(|&b| b == 0xFE) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    let mut headers = Vec::new();
    if selector & 1 != 0 {
        let value: String = ct
            .iter()
            .filter(|b| (0x20..0x7F).contains(*b))
            .map(|&b| char::from(b))
            .collect();
        headers.push(("Content-Type", value));
    }
    if selector & 2 != 0 {
        headers.push(("X-Dynamo-Last-Modified", u64::from(selector).to_string()));
    }
    if selector & 4 != 0 {
        headers.push(("X-Dynamo-Deleted", "true".to_owned()));
    }
    Part {
        headers,
        body: Bytes::copy_from_slice(body),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a body as RFC 2046 §5.1.1 says (no preamble or epilogue, as the encoder writes
/// none), for headers named as the server names them. Panics on anything malformed.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let close = format!("{delimiter}--\r\n");
    if body == close.as_bytes() {
        return Vec::new();
    }
    let open = format!("{delimiter}\r\n");
    let inner = body
        .strip_prefix(open.as_bytes())
        .and_then(|b| b.strip_suffix(format!("\r\n{close}").as_bytes()));
    let Some(mut inner) = inner else {
        panic!("body not framed by the boundary");
    };
    let separator = format!("\r\n{delimiter}\r\n");
    let mut texts = Vec::new();
    while let Some(i) = find(inner, separator.as_bytes()) {
        texts.push(&inner[..i]);
        inner = &inner[i + separator.len()..];
    }
    texts.push(inner);
    texts
        .into_iter()
        .map(|mut text| {
            let mut headers = Vec::new();
            loop {
                if let Some(body) = text.strip_prefix(b"\r\n") {
                    return Part {
                        headers,
                        body: Bytes::copy_from_slice(body),
                    };
                }
                let Some(end) = find(text, b"\r\n") else {
                    panic!("a part without the empty line ending its headers");
                };
                let line = match std::str::from_utf8(&text[..end]) {
                    Ok(line) => line,
                    Err(_) => panic!("a header line that is not UTF-8"),
                };
                let Some((name, value)) = line.split_once(": ") else {
                    panic!("a header line without a colon: {line:?}");
                };
                let name = match name {
                    "Content-Type" => "Content-Type",
                    "X-Dynamo-Last-Modified" => "X-Dynamo-Last-Modified",
                    "X-Dynamo-Deleted" => "X-Dynamo-Deleted",
                    other => panic!("an unknown header {other:?}"),
                };
                headers.push((name, value.to_owned()));
                text = &text[end + 2..];
            }
        })
        .collect()
}

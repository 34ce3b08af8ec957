//! Stored encodings: a key's [`SiblingSet`] as it lies in the storage engine, the
//! client-facing causal context token ([`context`]), and the node's epoch state
//! ([`epoch`]); and [`KeyedRecord`] ([`keyed`]), an encoded record with its bucket and key
//! as replicas send it to each other.
//!
//! Every encoding starts with a **format-version byte** and ends with a **crc32** of all the
//! bytes before it, so that a reader recognises a format it does not know and a record
//! corrupted on disk or in transit is an error ([`DecodeError`]), reported and repaired from
//! the other replicas, never a silently wrong answer. Decoders never panic, check every
//! length against the bytes that remain before allocating, and accept only the canonical
//! encoding (sorted, normalised, no trailing bytes), so that equal sets have equal bytes.
//!
//! # Record layout, format version 1
//!
//! Integers are big-endian. `clock` and `context` are defined below the table.
//!
//! | size | field |
//! |---|---|
//! | 1 | format version: `1` |
//! | 1 | versioning mode: `0` vector clocks, `1` dotted version vectors, `2` last write wins |
//! | 2 | `A`: number of actors (u16) |
//! | `A` × (1 + `L` + 8) | actor table, strictly increasing by (node id, epoch): node id length `L` (u8, 1..=64), node id (ASCII, [`crate::NodeId`] rules), epoch (u64) |
//! | var | the set's causal `context` |
//! | 4 | `S`: number of siblings (u32) |
//! | `S` × var | siblings, strictly increasing by dot: dot actor index (u16), dot counter (u64, ≥ 1); flags (u8: bit 0 tombstone, other bits 0); timestamp (u64, ms); content type length (u8, ≤ 128) and bytes (printable ASCII); the sibling's `clock` (empty except in vector-clock mode, where it holds the dot's counter); value length (u32) and bytes (empty for a tombstone) |
//! | 4 | crc32 (IEEE) of every preceding byte, version byte included |
//!
//! - `clock`: entry count `E` (u16), then `E` × (actor index u16, counter u64 ≥ 1,
//!   timestamp u64), strictly increasing by actor index;
//! - `context`: a `clock` (the version vector), then the dot cloud: count `D` (u32), then
//!   `D` × (actor index u16, counter u64, timestamp u64), strictly increasing by (index,
//!   counter), each counter at least two above the clock's counter for that actor.
//!
//! Actors are stored once in the table and referred to by index, as a key's history
//! mentions the same few nodes many times. Per-bucket [`Limits`](crate::version::Limits)
//! are configuration and are not stored; the decoder returns a set with default limits.

mod codec;
pub mod context;
pub mod epoch;
pub mod error;
pub mod keyed;

use bytes::Bytes;

use crate::Timestamp;
use crate::version::{ContentType, Dot, Sibling, SiblingSet, VClock, VersioningMode};

use codec::{
    ActorTable, Reader, Writer, check_all_used, open_frame, read_actors, read_clock, read_context,
    read_dot,
};

pub use context::{MAX_TOKEN_LEN, TOKEN_FORMAT_VERSION, TokenError};
pub use epoch::{EPOCH_FORMAT_VERSION, decode_epoch_state, encode_epoch_state};
pub use error::{DecodeError, EncodeError};
pub use keyed::KeyedRecord;

/// The format version this build writes (and the only one it reads).
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Smallest encoded sibling: dot, flags, timestamp, content-type length, empty clock,
/// value length.
const MIN_SIBLING: usize = 2 + 8 + 1 + 8 + 1 + 2 + 4;

/// An encoded clock entry, or a dot of a context's cloud: actor index, counter, timestamp.
const CLOCK_ENTRY: usize = 2 + 8 + 8;

/// The CRC-32 that seals a record.
const CHECKSUM_LEN: usize = 4;

fn mode_byte(mode: VersioningMode) -> u8 {
    match mode {
        VersioningMode::VClock => 0,
        VersioningMode::Dvv => 1,
        VersioningMode::Lww => 2,
    }
}

/// Encodes a sibling set for storage; see the [module documentation](self) for the layout.
///
/// # Errors
/// [`EncodeError::TooLarge`] when a part exceeds the format (more than 65 535 actors,
/// 2³² siblings, or a value of 4 GiB or more).
pub fn encode(set: &SiblingSet) -> Result<Vec<u8>, EncodeError> {
    let mut actors = ActorTable::default();
    actors.add_context(set.causal());
    // The exact size, so that the buffer is allocated once: growing it copies the values and,
    // under load, had the allocator map (and the kernel zero) fresh pages for every record.
    let clock_len = |c: &VClock| 2 + c.len() * CLOCK_ENTRY;
    let mut size =
        2 + clock_len(set.causal().clock()) + 4 + set.causal().cloud().len() * CLOCK_ENTRY;
    for (dot, s) in set.entries() {
        actors.add(&dot.actor);
        actors.add_clock(s.clock());
        size += MIN_SIBLING - 2
            + clock_len(s.clock())
            + s.content_type().as_str().len()
            + s.bytes().len();
    }
    size += actors.encoded_len() + 4 + CHECKSUM_LEN;
    let mut w = Writer::with_capacity(size);
    w.u8(RECORD_FORMAT_VERSION);
    w.u8(mode_byte(set.mode()));
    actors.write(&mut w)?;
    actors.write_context(&mut w, set.causal())?;
    let n = u32::try_from(set.len()).map_err(|_| EncodeError::TooLarge {
        what: "sibling list",
    })?;
    w.u32(n);
    for (dot, s) in set.entries() {
        w.u16(actors.idx(&dot.actor));
        w.u64(dot.counter);
        w.u8(u8::from(s.is_tombstone()));
        w.u64(s.timestamp().millis());
        let ct = s.content_type().as_str().as_bytes();
        // Content types are at most 128 bytes.
        w.u8(u8::try_from(ct.len()).unwrap_or(u8::MAX));
        w.bytes(ct);
        actors.write_clock(&mut w, s.clock());
        let len =
            u32::try_from(s.bytes().len()).map_err(|_| EncodeError::TooLarge { what: "value" })?;
        w.u32(len);
        w.bytes(s.bytes());
    }
    Ok(w.seal())
}

/// Checks a stored record's frame — its format version and checksum — without decoding it:
/// what a replica does before it hands the bytes to a coordinator, which decodes them.
///
/// # Errors
/// [`DecodeError`] for truncated, corrupt (checksum) or unknown-version input.
pub fn check(input: &[u8]) -> Result<(), DecodeError> {
    open_frame(input, RECORD_FORMAT_VERSION).map(|_| ())
}

/// Decodes a stored record, copying the values out of `input`.
///
/// # Errors
/// [`DecodeError`] for truncated, corrupt (checksum), unknown-version or malformed input.
pub fn decode(input: &[u8]) -> Result<SiblingSet, DecodeError> {
    decode_with(input, Bytes::copy_from_slice)
}

/// Decodes a stored record whose bytes are already shared (as a storage engine returns
/// them): the values are slices of `input`, not copies.
///
/// # Errors
/// As [`decode`].
pub fn decode_shared(input: &Bytes) -> Result<SiblingSet, DecodeError> {
    decode_with(input, |v| input.slice_ref(v))
}

fn decode_with(input: &[u8], value: impl Fn(&[u8]) -> Bytes) -> Result<SiblingSet, DecodeError> {
    let body = open_frame(input, RECORD_FORMAT_VERSION)?;
    let mut r = Reader::new(body);
    let mode = match r.u8()? {
        0 => VersioningMode::VClock,
        1 => VersioningMode::Dvv,
        2 => VersioningMode::Lww,
        _ => return Err(DecodeError::Malformed("versioning mode")),
    };
    let actors = read_actors(&mut r)?;
    let causal = read_context(&mut r, &actors)?;
    let n = r.u32()?;
    let n = r.count(u64::from(n), MIN_SIBLING)?;
    let mut entries: Vec<(Dot, Sibling)> = Vec::with_capacity(n);
    for _ in 0..n {
        let dot = read_dot(&mut r, &actors)?;
        if entries.last().is_some_and(|(d, _)| *d >= dot) {
            return Err(DecodeError::Malformed("siblings not sorted"));
        }
        let tombstone = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Malformed("sibling flags")),
        };
        let timestamp = Timestamp(r.u64()?);
        let ct_len = usize::from(r.u8()?);
        let ct = std::str::from_utf8(r.take(ct_len)?)
            .ok()
            .and_then(|s| ContentType::new(s).ok())
            .ok_or(DecodeError::Malformed("content type"))?;
        let clock = read_clock(&mut r, &actors)?;
        let len = r.u32()?;
        let len = r.count(u64::from(len), 1)?;
        let bytes = value(r.take(len)?);
        let sibling = Sibling::from_parts(timestamp, ct, tombstone, clock, bytes)
            .ok_or(DecodeError::Malformed("tombstone with a value"))?;
        entries.push((dot, sibling));
    }
    r.finish()?;
    let set = SiblingSet::from_parts(mode, causal, entries)
        .ok_or(DecodeError::Malformed("sibling set invariants"))?;
    check_all_used(&actors, &record_actors(&set))?;
    Ok(set)
}

/// The actors a record refers to: what [`encode`] writes in its table.
fn record_actors(set: &SiblingSet) -> ActorTable<'_> {
    let mut actors = ActorTable::default();
    actors.add_context(set.causal());
    for (dot, s) in set.entries() {
        actors.add(&dot.actor);
        actors.add_clock(s.clock());
    }
    actors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;
    use crate::version::{Actor, Context};

    fn actor(name: &str) -> Actor {
        Actor::new(NodeId::new(name).unwrap(), 3)
    }

    fn sample(mode: VersioningMode) -> SiblingSet {
        let mut s = SiblingSet::new(mode);
        let ct = ContentType::new("text/plain").unwrap();
        s.apply_put(
            &Context::new(),
            Bytes::from_static(b"one"),
            ct.clone(),
            &actor("a"),
            Timestamp(10),
        )
        .unwrap();
        s.apply_put(
            &Context::new(),
            Bytes::from_static(b"two"),
            ct,
            &actor("b"),
            Timestamp(11),
        )
        .unwrap();
        s.apply_delete(&Context::new(), &actor("c"), Timestamp(12))
            .unwrap();
        s
    }

    #[test]
    fn round_trip_every_mode() {
        for mode in [
            VersioningMode::VClock,
            VersioningMode::Dvv,
            VersioningMode::Lww,
        ] {
            let s = sample(mode);
            let bytes = encode(&s).unwrap();
            assert_eq!(bytes[0], RECORD_FORMAT_VERSION);
            assert_eq!(decode(&bytes).unwrap(), s);
            let shared = Bytes::from(bytes.clone());
            assert_eq!(decode_shared(&shared).unwrap(), s);
            assert_eq!(encode(&decode(&bytes).unwrap()).unwrap(), bytes);
        }
    }

    #[test]
    fn typed_errors() {
        let bytes = encode(&sample(VersioningMode::Dvv)).unwrap();
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[1, 0, 0]), Err(DecodeError::Truncated));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(DecodeError::UnknownVersion(2)));
        let mut flipped = bytes.clone();
        flipped[10] ^= 0x40;
        assert!(matches!(
            decode(&flipped),
            Err(DecodeError::Checksum { .. })
        ));
    }

    #[test]
    fn forged_lengths_are_bounded_by_the_input() {
        // A valid frame whose sibling count claims u32::MAX: rejected without allocating.
        let mut w = Writer::default();
        w.u8(RECORD_FORMAT_VERSION);
        w.u8(1);
        w.u16(0); // no actors
        w.u16(0); // empty clock
        w.u32(0); // empty cloud
        w.u32(u32::MAX);
        assert_eq!(decode(&w.seal()), Err(DecodeError::Truncated));
    }

    #[test]
    fn a_table_with_an_unused_actor_is_not_canonical() {
        // Found by the record fuzz target: an empty record whose actor table names one actor
        // ("--"). It decoded to the empty set, whose encoding has no actor; equal sets must
        // have equal bytes (anti-entropy compares digests of the bytes).
        let found = [
            1, 0, 0, 1, 2, 45, 45, 49, 96, 68, 228, 232, 104, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            250, 115, 104, 129,
        ];
        assert_eq!(
            decode(&found),
            Err(DecodeError::Malformed("unused actor in the table"))
        );
        // A sample with an extra actor in its table, otherwise valid.
        let set = sample(VersioningMode::Dvv);
        let mut table = record_actors(&set);
        let extra = actor("zz");
        table.add(&extra);
        let mut w = Writer::default();
        w.u8(RECORD_FORMAT_VERSION);
        w.u8(1);
        table.write(&mut w).unwrap();
        table.write_context(&mut w, set.causal()).unwrap();
        w.u32(u32::try_from(set.len()).unwrap());
        for (dot, s) in set.entries() {
            w.u16(table.idx(&dot.actor));
            w.u64(dot.counter);
            w.u8(u8::from(s.is_tombstone()));
            w.u64(s.timestamp().millis());
            let ct = s.content_type().as_str().as_bytes();
            w.u8(u8::try_from(ct.len()).unwrap());
            w.bytes(ct);
            table.write_clock(&mut w, s.clock());
            w.u32(u32::try_from(s.bytes().len()).unwrap());
            w.bytes(s.bytes());
        }
        assert_eq!(
            decode(&w.seal()),
            Err(DecodeError::Malformed("unused actor in the table"))
        );
        assert_eq!(decode(&encode(&set).unwrap()).unwrap(), set);
    }

    #[test]
    fn an_obsolete_vector_clock_sibling_is_not_canonical() {
        // Found by the record fuzz target (fuzz/corpus/record/crash-vclock-obsolete-sibling):
        // a vector-clock record with a sibling whose clock another sibling's dominates. A
        // merge drops such a sibling, so the decoded set changed when merged with itself.
        let (a, b) = (actor("a"), actor("b"));
        let clock = |entries: &[&Actor]| {
            let mut c = VClock::new();
            for actor in entries {
                c.advance(actor, 1, Timestamp(1));
            }
            c
        };
        let ct = ContentType::new("text/plain").unwrap();
        let sibling = |c| Sibling::from_parts(Timestamp(1), ct.clone(), false, c, Bytes::new());
        let causal = Context::from_clock(clock(&[&a, &b]));
        let set = |b_clock| {
            let entries = vec![
                (Dot::new(a.clone(), 1), sibling(clock(&[&a])).unwrap()),
                (Dot::new(b.clone(), 1), sibling(b_clock).unwrap()),
            ];
            SiblingSet::from_parts(VersioningMode::VClock, causal.clone(), entries)
        };
        let concurrent = set(clock(&[&b])).unwrap();
        assert_eq!(decode(&encode(&concurrent).unwrap()).unwrap(), concurrent);
        assert_eq!(set(clock(&[&a, &b])), None);
    }

    #[test]
    fn checksummed_but_invalid_content_is_malformed() {
        let mut w = Writer::default();
        w.u8(RECORD_FORMAT_VERSION);
        w.u8(9); // no such mode
        assert_eq!(
            decode(&w.seal()),
            Err(DecodeError::Malformed("versioning mode"))
        );
    }
}

//! Byte-level primitives shared by the record, context-token and epoch encodings: a writer,
//! a bounds-checked reader, the actor table, clocks and contexts, and the checksum frame.

use std::collections::BTreeMap;

use crate::version::{Actor, Context, Dot, Entry, VClock};
use crate::{NodeId, Timestamp};

use super::error::{DecodeError, EncodeError};

/// Appends big-endian integers and byte strings.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// Appends the crc32 of everything written so far and returns the bytes.
    pub(crate) fn seal(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.buf);
        self.u32(crc);
        self.buf
    }
}

/// Reads what [`Writer`] wrote, never past the end, never trusting a length.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A count of items that take at least `min_size` bytes each: rejected when the rest of
    /// the input cannot hold that many, so that no forged count makes us allocate.
    pub(crate) fn count(&mut self, n: u64, min_size: usize) -> Result<usize, DecodeError> {
        let n = usize::try_from(n).map_err(|_| DecodeError::Truncated)?;
        match n.checked_mul(min_size) {
            Some(total) if total <= self.remaining() => Ok(n),
            _ => Err(DecodeError::Truncated),
        }
    }

    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::Malformed("trailing bytes"))
        }
    }
}

/// Checks the frame `version ++ body ++ crc32(version ++ body)` and returns the body.
pub(crate) fn open_frame(input: &[u8], version: u8) -> Result<&[u8], DecodeError> {
    let (&first, _) = input.split_first().ok_or(DecodeError::Truncated)?;
    if first != version {
        return Err(DecodeError::UnknownVersion(first));
    }
    if input.len() < 5 {
        return Err(DecodeError::Truncated);
    }
    let (covered, crc) = input.split_at(input.len() - 4);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(crc);
    let stored = u32::from_be_bytes(stored);
    let computed = crc32fast::hash(covered);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    Ok(&covered[1..])
}

/// Smallest encoded actor: length byte, one byte of name, epoch.
const MIN_ACTOR: usize = 1 + 1 + 8;
/// Encoded clock entry or cloud dot: actor index, counter, timestamp.
pub(crate) const ENTRY_SIZE: usize = 2 + 8 + 8;

/// The actors a structure mentions, sorted, each encoded once and then referred to by its
/// index in the table.
#[derive(Default)]
pub(crate) struct ActorTable<'a> {
    index: BTreeMap<&'a Actor, u16>,
}

impl<'a> ActorTable<'a> {
    pub(crate) fn add(&mut self, actor: &'a Actor) {
        self.index.insert(actor, 0);
    }
    pub(crate) fn add_clock(&mut self, clock: &'a VClock) {
        for e in clock.entries() {
            self.add(e.actor());
        }
    }
    pub(crate) fn add_context(&mut self, ctx: &'a Context) {
        self.add_clock(ctx.clock());
        for (d, _) in ctx.cloud() {
            self.add(&d.actor);
        }
    }

    /// Distinct actors added.
    pub(crate) fn count(&self) -> usize {
        self.index.len()
    }

    /// Bytes [`ActorTable::write`] will write.
    pub(crate) fn encoded_len(&self) -> usize {
        2 + self
            .index
            .keys()
            .map(|a| 1 + a.node().as_str().len() + 8)
            .sum::<usize>()
    }

    /// Numbers the actors and writes the table.
    pub(crate) fn write(&mut self, w: &mut Writer) -> Result<(), EncodeError> {
        let n = u16::try_from(self.index.len()).map_err(|_| EncodeError::TooLarge {
            what: "actor table",
        })?;
        w.u16(n);
        for (i, (actor, slot)) in self.index.iter_mut().enumerate() {
            // `i < n <= u16::MAX`: the conversion cannot fail.
            *slot = u16::try_from(i).unwrap_or(u16::MAX);
            let name = actor.node().as_str().as_bytes();
            // Node ids are at most 64 bytes.
            w.u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
            w.bytes(name);
            w.u64(actor.epoch());
        }
        Ok(())
    }

    pub(crate) fn idx(&self, actor: &Actor) -> u16 {
        self.index.get(actor).copied().unwrap_or(u16::MAX)
    }

    pub(crate) fn write_clock(&self, w: &mut Writer, clock: &VClock) {
        // A clock never has more entries than the table has actors (<= u16::MAX).
        w.u16(u16::try_from(clock.len()).unwrap_or(u16::MAX));
        for e in clock.entries() {
            w.u16(self.idx(e.actor()));
            w.u64(e.counter());
            w.u64(e.timestamp().millis());
        }
    }

    pub(crate) fn write_context(&self, w: &mut Writer, ctx: &Context) -> Result<(), EncodeError> {
        self.write_clock(w, ctx.clock());
        let n = u32::try_from(ctx.cloud().len()).map_err(|_| EncodeError::TooLarge {
            what: "context dot cloud",
        })?;
        w.u32(n);
        for (d, ts) in ctx.cloud() {
            w.u16(self.idx(&d.actor));
            w.u64(d.counter);
            w.u64(ts.millis());
        }
        Ok(())
    }
}

/// Reads an actor table: sorted, no duplicates, valid node ids.
pub(crate) fn read_actors(r: &mut Reader<'_>) -> Result<Vec<Actor>, DecodeError> {
    let n = r.u16()?;
    let n = r.count(u64::from(n), MIN_ACTOR)?;
    let mut actors: Vec<Actor> = Vec::with_capacity(n);
    for _ in 0..n {
        let len = usize::from(r.u8()?);
        let name = r.take(len)?;
        let name = std::str::from_utf8(name).map_err(|_| DecodeError::Malformed("node id"))?;
        let node = NodeId::new(name).map_err(|_| DecodeError::Malformed("node id"))?;
        let actor = Actor::new(node, r.u64()?);
        if actors.last().is_some_and(|last| *last >= actor) {
            return Err(DecodeError::Malformed("actor table not sorted"));
        }
        actors.push(actor);
    }
    Ok(actors)
}

/// Checks that a decoded value refers to every actor of the table it was read with (`used`
/// holds the actors it refers to): the encoder writes only those, so a table with more is not
/// the canonical encoding, and equal values must have equal bytes.
pub(crate) fn check_all_used(table: &[Actor], used: &ActorTable<'_>) -> Result<(), DecodeError> {
    if used.count() == table.len() {
        Ok(())
    } else {
        Err(DecodeError::Malformed("unused actor in the table"))
    }
}

fn actor_at(actors: &[Actor], idx: u16) -> Result<&Actor, DecodeError> {
    actors
        .get(usize::from(idx))
        .ok_or(DecodeError::Malformed("actor index out of range"))
}

/// Reads a clock: entries in increasing actor order, counters above 0.
pub(crate) fn read_clock(r: &mut Reader<'_>, actors: &[Actor]) -> Result<VClock, DecodeError> {
    let n = r.u16()?;
    let n = r.count(u64::from(n), ENTRY_SIZE)?;
    let mut entries = Vec::with_capacity(n);
    let mut prev: Option<u16> = None;
    for _ in 0..n {
        let idx = r.u16()?;
        if prev.is_some_and(|p| p >= idx) {
            return Err(DecodeError::Malformed("clock not sorted"));
        }
        prev = Some(idx);
        let actor = actor_at(actors, idx)?.clone();
        let counter = r.u64()?;
        let ts = Timestamp(r.u64()?);
        entries.push(Entry::new(actor, counter, ts).ok_or(DecodeError::Malformed("zero counter"))?);
    }
    Ok(VClock::from_entries(entries))
}

/// Reads a context: a clock and a sorted, normalised dot cloud.
pub(crate) fn read_context(r: &mut Reader<'_>, actors: &[Actor]) -> Result<Context, DecodeError> {
    let clock = read_clock(r, actors)?;
    let n = r.u32()?;
    let n = r.count(u64::from(n), ENTRY_SIZE)?;
    let mut dots = Vec::with_capacity(n);
    let mut prev: Option<(u16, u64)> = None;
    for _ in 0..n {
        let idx = r.u16()?;
        let counter = r.u64()?;
        let ts = Timestamp(r.u64()?);
        if prev.is_some_and(|p| p >= (idx, counter)) {
            return Err(DecodeError::Malformed("dot cloud not sorted"));
        }
        prev = Some((idx, counter));
        let dot = Dot::new(actor_at(actors, idx)?.clone(), counter);
        // Normalised: a cloud dot is neither covered by the clock nor contiguous with it.
        if counter <= clock.get(&dot.actor).saturating_add(1) {
            return Err(DecodeError::Malformed("context not normalised"));
        }
        dots.push((dot, ts));
    }
    Ok(Context::from_parts(clock, dots))
}

/// Reads a dot (actor index and counter above 0).
pub(crate) fn read_dot(r: &mut Reader<'_>, actors: &[Actor]) -> Result<Dot, DecodeError> {
    let actor = actor_at(actors, r.u16()?)?.clone();
    let counter = r.u64()?;
    if counter == 0 {
        return Err(DecodeError::Malformed("zero counter"));
    }
    Ok(Dot::new(actor, counter))
}

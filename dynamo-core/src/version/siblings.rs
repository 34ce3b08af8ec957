//! Sibling sets: a key's concurrent versions, with the rules to write, delete and reconcile
//! them under each versioning mode.
//!
//! A [`SiblingSet`] is what a replica stores for a key: the live versions (values and
//! tombstones, each a [`Sibling`] with its metadata) and the causal context of the key. It
//! is the only type the node needs for versioning:
//!
//! - a **put** or **delete** coordinated by this node ([`SiblingSet::apply_put`],
//!   [`SiblingSet::apply_delete`]) carries the context the client read; the versions it saw
//!   are replaced, the others are kept beside the new one as siblings;
//! - **replication, read repair, hinted handoff and anti-entropy** all [`merge`] sets: the
//!   result keeps every version that no side has seen superseded (syntactic reconciliation),
//!   and merging is commutative, associative and idempotent, so replicas converge whatever
//!   the order, duplication or repetition of messages;
//! - a **read** merges the replicas' answers and hands the client every sibling and the
//!   merged [`context`](SiblingSet::context); a replica whose set does not
//!   [`descends`](SiblingSet::descends) the merge needs read repair.
//!
//! # Versioning modes (per bucket)
//!
//! | mode | causality | concurrent writes | notes |
//! |---|---|---|---|
//! | [`Dvv`](VersioningMode::Dvv) (default) | dotted version vector set ([`super::dvv`]) | kept as siblings, exactly | no truncation; K writers leave at most K siblings |
//! | [`VClock`](VersioningMode::VClock) | one vector clock per sibling, as in the paper | kept when the clocks are concurrent | clocks truncated (default 10 entries); two writes without context through the *same* coordinator get clocks `{A:1}` and `{A:2}`, so the second replaces the first — the paper's limitation DVV removes |
//! | [`Lww`](VersioningMode::Lww) | none: newest timestamp wins | one survives | explicit opt-in; ties broken by the writer's dot, then the value, so every replica picks the same winner; a write with an older timestamp (clock skew) loses |
//!
//! # Deletes
//!
//! A delete is a write of a **tombstone**: a sibling without value that keeps its place in
//! the causal history, so that a replica that missed the delete cannot bring the value back
//! (a read merges the tombstone, which supersedes what the delete's context saw). A delete
//! concurrent with a put leaves both, tombstone and value, as siblings. Removing tombstones
//! for good (after a delay, once every replica has them) is the node's job.
//!
//! # Sibling cap
//!
//! Writes and merges that would leave more than [`Limits::max_siblings`] (default 100)
//! siblings fail with [`VersionError::TooManySiblings`] and change nothing: a sibling is
//! never dropped silently. [`SiblingSet::merge_unbounded`] lets a read gather everything
//! for the client to resolve.
//!
//! [`merge`]: SiblingSet::merge

use std::fmt;

use bytes::Bytes;

use crate::Timestamp;

use super::actor::{Actor, Dot};
use super::context::Context;
use super::dvv::DvvSet;
use super::error::VersionError;
use super::vclock::VClock;

/// How a bucket tracks versions; see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum VersioningMode {
    /// One vector clock per sibling, truncated: the Dynamo paper's scheme.
    VClock,
    /// Dotted version vector sets: exact causality, no sibling explosion. The default.
    #[default]
    Dvv,
    /// Last write wins, by timestamp with a deterministic tie-break: no siblings, lossy under
    /// concurrency and clock skew. Only when a bucket asks for it.
    Lww,
}

/// Bounds a bucket puts on a key's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most siblings a key may hold; beyond, writes and merges fail
    /// ([`VersionError::TooManySiblings`]).
    pub max_siblings: usize,
    /// Most entries a sibling's vector clock keeps in [`VersioningMode::VClock`]; older
    /// entries are truncated (see [`super::vclock`]).
    pub max_clock_entries: usize,
}

impl Limits {
    /// Default sibling cap.
    pub const DEFAULT_MAX_SIBLINGS: usize = 100;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_siblings: Self::DEFAULT_MAX_SIBLINGS,
            max_clock_entries: VClock::DEFAULT_MAX_ENTRIES,
        }
    }
}

/// A MIME content type as the client sent it (for example `"application/json"`), kept with
/// each sibling so that a read can return each value with its own type.
///
/// At most [`ContentType::MAX_LEN`] bytes of printable ASCII (it travels in an HTTP header);
/// may be empty (unknown, and always for tombstones).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ContentType(String);

/// A content type that breaks the rules of [`ContentType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid content type {0:?}: use at most 128 bytes of printable ASCII")]
pub struct InvalidContentType(pub String);

impl ContentType {
    /// Longest content type, in bytes.
    pub const MAX_LEN: usize = 128;

    /// `application/octet-stream`, the type of a value whose client said nothing.
    pub fn octet_stream() -> Self {
        ContentType("application/octet-stream".to_owned())
    }

    /// Checks and wraps a content type.
    ///
    /// # Errors
    /// [`InvalidContentType`] when longer than [`Self::MAX_LEN`] or not printable ASCII.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidContentType> {
        let s = s.into();
        if s.len() <= Self::MAX_LEN && s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok(ContentType(s))
        } else {
            Err(InvalidContentType(s))
        }
    }

    /// The content type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the store keeps about a sibling besides its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Metadata {
    timestamp: Timestamp,
    content_type: ContentType,
    tombstone: bool,
}

impl Metadata {
    /// When the coordinator accepted the write (its clock): shown to clients, used by
    /// last-write-wins and by tombstone reaping.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The content type of the value (empty for tombstones).
    pub fn content_type(&self) -> &ContentType {
        &self.content_type
    }

    /// True for a delete marker.
    pub fn is_tombstone(&self) -> bool {
        self.tombstone
    }
}

/// One version of a key: a value or a tombstone, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sibling {
    meta: Metadata,
    clock: VClock,
    value: Bytes,
}

impl Sibling {
    /// A value written at `timestamp`.
    fn value(value: Bytes, content_type: ContentType, timestamp: Timestamp) -> Self {
        Sibling {
            meta: Metadata {
                timestamp,
                content_type,
                tombstone: false,
            },
            clock: VClock::new(),
            value,
        }
    }

    /// A tombstone written at `timestamp`.
    fn tombstone(timestamp: Timestamp) -> Self {
        Sibling {
            meta: Metadata {
                timestamp,
                content_type: ContentType::default(),
                tombstone: true,
            },
            clock: VClock::new(),
            value: Bytes::new(),
        }
    }

    /// Rebuilds a sibling from stored parts; `None` for a tombstone with a value or a
    /// content type.
    pub(crate) fn from_parts(
        timestamp: Timestamp,
        content_type: ContentType,
        tombstone: bool,
        clock: VClock,
        value: Bytes,
    ) -> Option<Self> {
        if tombstone && (!value.is_empty() || !content_type.as_str().is_empty()) {
            return None;
        }
        Some(Sibling {
            meta: Metadata {
                timestamp,
                content_type,
                tombstone,
            },
            clock,
            value,
        })
    }

    /// The metadata.
    pub fn meta(&self) -> &Metadata {
        &self.meta
    }

    /// The value bytes (empty for a tombstone).
    pub fn bytes(&self) -> &Bytes {
        &self.value
    }

    /// The value, or `None` for a tombstone.
    pub fn data(&self) -> Option<&Bytes> {
        (!self.meta.tombstone).then_some(&self.value)
    }

    /// True for a delete marker.
    pub fn is_tombstone(&self) -> bool {
        self.meta.tombstone
    }

    /// When the write was accepted.
    pub fn timestamp(&self) -> Timestamp {
        self.meta.timestamp
    }

    /// The content type.
    pub fn content_type(&self) -> &ContentType {
        &self.meta.content_type
    }

    /// The sibling's own vector clock in [`VersioningMode::VClock`]; empty in the other
    /// modes, where causality lives in the set's context.
    pub fn clock(&self) -> &VClock {
        &self.clock
    }
}

/// The versions of one key at one replica; see the [module documentation](self).
///
/// The [`Limits`] are configuration, not state: they are not stored by
/// [`crate::record`] and take no part in equality.
#[derive(Debug, Clone, Default)]
pub struct SiblingSet {
    mode: VersioningMode,
    limits: Limits,
    inner: DvvSet<Sibling>,
}

impl PartialEq for SiblingSet {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode && self.inner == other.inner
    }
}

impl Eq for SiblingSet {}

impl SiblingSet {
    /// An empty set (a key never written here) for a bucket in `mode`, with default
    /// [`Limits`].
    pub fn new(mode: VersioningMode) -> Self {
        SiblingSet {
            mode,
            limits: Limits::default(),
            inner: DvvSet::new(),
        }
    }

    /// The same set with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the limits (for example with the bucket's after decoding a stored record).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The versioning mode the set was written under.
    pub fn mode(&self) -> VersioningMode {
        self.mode
    }

    /// Rebuilds a set from stored parts, or `None` when they break the invariants of
    /// `mode`. Used by [`crate::record`].
    pub(crate) fn from_parts(
        mode: VersioningMode,
        causal: Context,
        entries: Vec<(Dot, Sibling)>,
    ) -> Option<Self> {
        let ok = match mode {
            VersioningMode::Dvv => entries.iter().all(|(_, s)| s.clock.is_empty()),
            VersioningMode::Lww => {
                entries.len() <= 1 && entries.iter().all(|(_, s)| s.clock.is_empty())
            }
            VersioningMode::VClock => {
                causal.cloud().len() == 0
                    && entries
                        .iter()
                        .all(|(d, s)| s.clock.get(&d.actor) == d.counter)
                    // No sibling another one's clock dominates: a merge would drop it, so
                    // the set would not be what its bytes say (found by the record fuzz
                    // target: such a set changed when merged with itself).
                    && !entries.iter().any(|(_, s)| {
                        entries.iter().any(|(_, t)| t.clock.dominates(&s.clock))
                    })
            }
        };
        if !ok {
            return None;
        }
        let inner = DvvSet::from_parts(causal, entries)?;
        Some(SiblingSet {
            mode,
            limits: Limits::default(),
            inner,
        })
    }

    /// Every sibling, values and tombstones, in a deterministic order.
    pub fn siblings(&self) -> impl ExactSizeIterator<Item = &Sibling> + '_ {
        self.inner.values()
    }

    /// The siblings with the dot of the write that created each, sorted by dot.
    pub fn entries(&self) -> &[(Dot, Sibling)] {
        self.inner.entries()
    }

    /// The siblings that are values, not tombstones.
    pub fn live(&self) -> impl Iterator<Item = &Sibling> + '_ {
        self.siblings().filter(|s| !s.is_tombstone())
    }

    /// Number of siblings, tombstones included.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True when there is no sibling at all (never written, as far as this replica knows).
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// True when there are siblings and all are tombstones: the key reads as deleted, and
    /// the record may be reaped once every replica agrees.
    pub fn is_tombstone_only(&self) -> bool {
        !self.is_empty() && self.siblings().all(Sibling::is_tombstone)
    }

    /// Every write event this replica knows of for the key, live or superseded.
    pub fn causal(&self) -> &Context {
        self.inner.context()
    }

    /// The context to hand a client that reads every sibling of this set: writing back with
    /// it replaces all of them.
    ///
    /// In [`VersioningMode::VClock`] this is the merge of the siblings' clocks, as in the
    /// paper; in the other modes it is the set's causal context.
    pub fn context(&self) -> Context {
        match self.mode {
            VersioningMode::VClock => {
                let mut clock = VClock::new();
                for s in self.siblings() {
                    clock.merge(&s.clock);
                }
                Context::from_clock(clock)
            }
            VersioningMode::Dvv | VersioningMode::Lww => self.inner.context().clone(),
        }
    }

    /// A put of `value` coordinated by `actor` at `now`, for a client that had read `ctx`
    /// (empty for a blind write).
    ///
    /// Returns the context of the new version alone (what the client saw plus its own
    /// write): a client that writes again with it replaces its own value, but none it never
    /// saw.
    ///
    /// # Errors
    /// [`VersionError::TooManySiblings`] when the set would exceed
    /// [`Limits::max_siblings`]; the set is then unchanged.
    pub fn apply_put(
        &mut self,
        ctx: &Context,
        value: Bytes,
        content_type: ContentType,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Context, VersionError> {
        self.write(ctx, Sibling::value(value, content_type, now), actor, now)
    }

    /// A delete coordinated by `actor` at `now`, for a client that had read `ctx`: writes a
    /// tombstone that replaces what `ctx` saw and keeps the causal history.
    ///
    /// # Errors
    /// As [`apply_put`](Self::apply_put).
    pub fn apply_delete(
        &mut self,
        ctx: &Context,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Context, VersionError> {
        self.write(ctx, Sibling::tombstone(now), actor, now)
    }

    fn write(
        &mut self,
        ctx: &Context,
        mut sibling: Sibling,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Context, VersionError> {
        match self.mode {
            VersioningMode::Dvv => {
                self.check_count(self.inner.surviving(ctx) + 1)?;
                let dot = self.inner.update(ctx, actor, now, sibling);
                Ok(writer_context(ctx, dot, now))
            }
            VersioningMode::VClock => {
                // The new clock: what the client saw, plus a fresh event of the coordinator
                // (one above any counter of this actor known here, so clocks of different
                // versions never coincide).
                let dot = self.inner.next_dot(ctx, actor);
                let mut full = ctx.clock().clone();
                full.advance(actor, dot.counter, now);
                // Replace what the full (untruncated) clock descends: truncation below must
                // not decide which versions are obsolete.
                let survivors = self.siblings().filter(|s| !full.descends(&s.clock)).count();
                self.check_count(survivors + 1)?;
                let mut stored = full.clone();
                stored.truncate_keeping(self.limits.max_clock_entries, actor);
                self.inner.retain(|(_, s)| !full.descends(&s.clock));
                self.inner.causal_mut().merge(&Context::from_clock(full));
                sibling.clock = stored.clone();
                self.inner.insert(dot, sibling);
                Ok(Context::from_clock(stored))
            }
            VersioningMode::Lww => {
                let dot = self.inner.next_dot(ctx, actor);
                let causal = self.inner.causal_mut();
                causal.merge(ctx);
                causal.add(dot.clone(), now);
                let candidate = (dot.clone(), sibling);
                let newest = self.inner.entries().first().cloned();
                match newest {
                    Some(old) if lww_key(&old) >= lww_key(&candidate) => {}
                    _ => {
                        self.inner.retain(|_| false);
                        self.inner.insert(candidate.0, candidate.1);
                    }
                }
                Ok(writer_context(ctx, dot, now))
            }
        }
    }

    fn check_count(&self, count: usize) -> Result<(), VersionError> {
        if count > self.limits.max_siblings {
            Err(VersionError::TooManySiblings {
                limit: self.limits.max_siblings,
                count,
            })
        } else {
            Ok(())
        }
    }

    /// Merges another replica's set for the same key into this one (replication, read
    /// repair, handoff, anti-entropy), keeping every version not superseded on either side.
    ///
    /// # Errors
    /// [`VersionError::ModeMismatch`] when the sets use different modes;
    /// [`VersionError::TooManySiblings`] when the result would exceed the cap. The set is
    /// unchanged on error.
    pub fn merge(&mut self, other: &SiblingSet) -> Result<(), VersionError> {
        let merged = self.merged(other)?;
        self.check_count(merged.len())?;
        self.inner = merged;
        Ok(())
    }

    /// Like [`merge`](Self::merge) but without the sibling cap: for assembling a read
    /// response (which a client then resolves), not for what is stored.
    ///
    /// # Errors
    /// [`VersionError::ModeMismatch`] when the sets use different modes.
    pub fn merge_unbounded(&mut self, other: &SiblingSet) -> Result<(), VersionError> {
        self.inner = self.merged(other)?;
        Ok(())
    }

    fn merged(&self, other: &SiblingSet) -> Result<DvvSet<Sibling>, VersionError> {
        if self.mode != other.mode {
            return Err(VersionError::ModeMismatch {
                ours: self.mode,
                theirs: other.mode,
            });
        }
        let mut out = self.inner.clone();
        match self.mode {
            VersioningMode::Dvv => out.merge(&other.inner),
            VersioningMode::VClock => {
                // Union by dot, then drop every sibling whose clock another one dominates.
                for (dot, s) in other.inner.entries() {
                    match out.entries().binary_search_by(|(d, _)| d.cmp(dot)) {
                        Ok(i) if out.entries()[i].1 >= *s => {}
                        _ => out.insert(dot.clone(), s.clone()),
                    }
                }
                let clocks: Vec<VClock> = out.values().map(|s| s.clock.clone()).collect();
                out.retain(|(_, s)| !clocks.iter().any(|c| c.dominates(&s.clock)));
                out.causal_mut().merge(other.inner.context());
            }
            VersioningMode::Lww => {
                let winner = out
                    .entries()
                    .iter()
                    .chain(other.inner.entries())
                    .max_by(|a, b| lww_key(a).cmp(&lww_key(b)))
                    .cloned();
                out.retain(|_| false);
                if let Some((dot, s)) = winner {
                    out.insert(dot, s);
                }
                out.causal_mut().merge(other.inner.context());
            }
        }
        Ok(out)
    }

    /// True when this set already holds everything `other` knows: merging `other` in would
    /// change nothing. After a read, a replica whose set does not descend the merged result
    /// is sent the result (read repair). Sets of different modes never descend each other.
    pub fn descends(&self, other: &SiblingSet) -> bool {
        self.merged(other).is_ok_and(|m| m == self.inner)
    }
}

/// The context returned to a writer: the vector part of what it saw, plus its own write.
///
/// The isolated dots of `ctx` are not carried over: this coordinator has recorded them as
/// superseded in its causal context, and replication spreads that; keeping them would make
/// the token of a client that never reads grow with every write.
fn writer_context(ctx: &Context, dot: Dot, now: Timestamp) -> Context {
    let mut out = Context::from_clock(ctx.clock().clone());
    out.add(dot, now);
    out
}

/// Last-write-wins order: timestamp, then dot, then content (total and the same on every
/// replica).
fn lww_key(entry: &(Dot, Sibling)) -> (Timestamp, &Dot, &Sibling) {
    (entry.1.meta.timestamp, &entry.0, &entry.1)
}

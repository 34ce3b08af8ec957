//! [`LmdbSnapshot`]: a read transaction, and [`LmdbIter`]: a cursor over a range of it.

use std::fmt;

use bytes::{Bytes, BytesMut};
use engine_api::{Direction, KeyRange, Keyspace, Result, Snapshot, check_key, check_keyspace};
use heed::{RoRange, RoRevRange, RoTxn, WithoutTls};

use crate::LmdbEngine;

type Forward<'s> = RoRange<'s, heed::types::Bytes, heed::types::Bytes>;
type Reverse<'s> = RoRevRange<'s, heed::types::Bytes, heed::types::Bytes>;

/// A consistent view of an [`LmdbEngine`]: one LMDB read transaction.
///
/// It holds a reader slot and keeps the pages it sees from being reused, so the store grows
/// while it lives: keep snapshots short.
pub struct LmdbSnapshot<'e> {
    engine: &'e LmdbEngine,
    txn: RoTxn<'e, WithoutTls>,
}

impl fmt::Debug for LmdbSnapshot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LmdbSnapshot")
            .field("dir", &self.engine.path())
            .field("txn_id", &self.txn.id())
            .finish()
    }
}

impl<'e> LmdbSnapshot<'e> {
    pub(crate) fn new(engine: &'e LmdbEngine, txn: RoTxn<'e, WithoutTls>) -> Self {
        Self { engine, txn }
    }
}

impl Snapshot for LmdbSnapshot<'_> {
    type Iter<'s>
        = LmdbIter<'s>
    where
        Self: 's;

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let i = check_keyspace(self.engine.names(), keyspace)?;
        check_key(key)?;
        let value = self
            .engine
            .db(i)
            .get(&self.txn, key)
            .map_err(|e| self.engine.error_context().map(e, "get"))?;
        Ok(value.map(Bytes::copy_from_slice))
    }

    fn scan(
        &self,
        keyspace: Keyspace,
        range: KeyRange,
        direction: Direction,
    ) -> Result<LmdbIter<'_>> {
        let i = check_keyspace(self.engine.names(), keyspace)?;
        let ctx = self.engine.error_context();
        if range.is_empty() {
            return Ok(LmdbIter::new(Inner::Done, self.engine));
        }
        let db = self.engine.db(i);
        let inner = match direction {
            Direction::Forward => Inner::Forward(
                db.range(&self.txn, &range)
                    .map_err(|e| ctx.map(e, "start a scan"))?,
            ),
            Direction::Reverse => Inner::Reverse(
                db.rev_range(&self.txn, &range)
                    .map_err(|e| ctx.map(e, "start a scan"))?,
            ),
        };
        Ok(LmdbIter::new(inner, self.engine))
    }
}

/// Size of the buffers that small keys and values are copied into by an [`LmdbIter`].
const CHUNK: usize = 8 * 1024;

/// Entries (key and value together) larger than this get allocations of their own.
const SMALL_ENTRY: usize = CHUNK / 4;

/// An ordered iterator over a range of one keyspace of an [`LmdbSnapshot`], borrowing it.
///
/// Keys and values are copied out of the map, since they must outlive the read transaction.
/// Small ones are copied into shared 8 KiB buffers, which saves two allocations per entry; so
/// an item kept after the others are dropped may keep up to 8 KiB alive. After an error the
/// iterator yields nothing more.
pub struct LmdbIter<'s> {
    inner: Inner<'s>,
    engine: &'s LmdbEngine,
    /// The unused end of the current buffer.
    buffer: BytesMut,
}

impl<'s> LmdbIter<'s> {
    fn new(inner: Inner<'s>, engine: &'s LmdbEngine) -> Self {
        LmdbIter {
            inner,
            engine,
            buffer: BytesMut::new(),
        }
    }

    /// Copies a key and its value out of the map.
    fn copy(&mut self, key: &[u8], value: &[u8]) -> (Bytes, Bytes) {
        let len = key.len() + value.len();
        if len > SMALL_ENTRY {
            return (Bytes::copy_from_slice(key), Bytes::copy_from_slice(value));
        }
        if self.buffer.capacity() - self.buffer.len() < len {
            self.buffer = BytesMut::with_capacity(CHUNK);
        }
        // Splitting off a part of a shared buffer takes no allocation, only a reference count.
        self.buffer.extend_from_slice(key);
        let key = self.buffer.split().freeze();
        self.buffer.extend_from_slice(value);
        let value = self.buffer.split().freeze();
        (key, value)
    }
}

enum Inner<'s> {
    Forward(Forward<'s>),
    Reverse(Reverse<'s>),
    Done,
}

impl fmt::Debug for LmdbIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner {
            Inner::Forward(_) => "forward",
            Inner::Reverse(_) => "reverse",
            Inner::Done => "done",
        };
        f.debug_struct("LmdbIter").field("state", &state).finish()
    }
}

impl Iterator for LmdbIter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match &mut self.inner {
            Inner::Forward(range) => range.next(),
            Inner::Reverse(range) => range.next(),
            Inner::Done => return None,
        };
        match item {
            Some(Ok((key, value))) => Some(Ok(self.copy(key, value))),
            Some(Err(e)) => {
                self.inner = Inner::Done;
                Some(Err(self.engine.error_context().map(e, "scan")))
            }
            None => {
                self.inner = Inner::Done;
                None
            }
        }
    }
}

//! [`FjallSnapshot`]: a read view of every keyspace at one sequence number, and its iterator.

use std::path::Path;

use bytes::Bytes;
use engine_api::{Direction, KeyRange, Keyspace, Result, Snapshot, check_key};
use fjall::Readable;

use crate::FjallEngine;
use crate::error::{catch_panic, from_fjall, guard, panic_error};

/// A consistent view of every keyspace of a [`FjallEngine`].
///
/// It is a fjall cross-keyspace snapshot: one sequence number for the whole database, so a
/// batch written over several keyspaces is seen whole in all of them or not at all. While it
/// lives, fjall's compactions keep the versions it sees; keep snapshots short-lived.
pub struct FjallSnapshot<'e> {
    engine: &'e FjallEngine,
    snapshot: fjall::Snapshot,
}

impl std::fmt::Debug for FjallSnapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallSnapshot")
            .field("seqno", &self.snapshot.seqno())
            .finish_non_exhaustive()
    }
}

impl<'e> FjallSnapshot<'e> {
    pub(crate) fn new(engine: &'e FjallEngine, snapshot: fjall::Snapshot) -> Self {
        Self { engine, snapshot }
    }
}

impl Snapshot for FjallSnapshot<'_> {
    type Iter<'s>
        = FjallIter<'s>
    where
        Self: 's;

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let ks = self.engine.keyspace_handle(keyspace)?;
        check_key(key)?;
        match catch_panic(|| self.snapshot.get(ks, key)) {
            Ok(Ok(value)) => Ok(value.map(Bytes::from)),
            Ok(Err(e)) => Err(from_fjall(e, self.engine.fjall_dir(), "reading a key")),
            Err(payload) => Err(panic_error("reading a key", payload.as_ref())),
        }
    }

    fn scan(
        &self,
        keyspace: Keyspace,
        range: KeyRange,
        direction: Direction,
    ) -> Result<FjallIter<'_>> {
        let ks = self.engine.keyspace_handle(keyspace)?;
        let dir = self.engine.fjall_dir();
        if range.is_empty() {
            return Ok(FjallIter {
                inner: None,
                direction,
                dir,
            });
        }
        let inner = guard("starting a scan", || {
            Ok(self.snapshot.range::<&[u8], _>(ks, range.as_slices()))
        })?;
        Ok(FjallIter {
            inner: Some(inner),
            direction,
            dir,
        })
    }
}

/// An ordered scan over one keyspace of a [`FjallSnapshot`], borrowing it.
///
/// After the first error it yields nothing more.
pub struct FjallIter<'s> {
    inner: Option<fjall::Iter>,
    direction: Direction,
    dir: &'s Path,
}

impl std::fmt::Debug for FjallIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallIter")
            .field("direction", &self.direction)
            .field("done", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl Iterator for FjallIter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        let direction = self.direction;
        let step = catch_panic(|| {
            match direction {
                Direction::Forward => inner.next(),
                Direction::Reverse => inner.next_back(),
            }
            .map(fjall::Guard::into_inner)
        });
        match step {
            Ok(Some(Ok((key, value)))) => Some(Ok((Bytes::from(key), Bytes::from(value)))),
            Ok(None) => {
                self.inner = None;
                None
            }
            Ok(Some(Err(e))) => {
                self.inner = None;
                Some(Err(from_fjall(e, self.dir, "scanning")))
            }
            Err(payload) => {
                self.inner = None;
                Some(Err(panic_error("scanning", payload.as_ref())))
            }
        }
    }
}

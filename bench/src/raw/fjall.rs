//! fjall, opened and used as `engine_lsm::FjallEngine` does.
//!
//! The same as the adapter: `Database::builder(dir).open()` with fjall's defaults (the
//! benchmarks set no cache size), one keyspace with `KeyspaceCreateOptions::default()`, a
//! durable write is an `OwnedWriteBatch` with `PersistMode::SyncAll` (the adapter's
//! `Durability::Sync`) fed the same `Bytes` (fjall's `bytes_1` feature, which the adapter
//! enables, makes that zero-copy); reads go through one `Database::snapshot`. Unlike the adapter,
//! there is no `catch_unwind` boundary and values stay fjall `Slice`s instead of becoming `Bytes`
//! (a move, with `bytes_1`).

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode, Readable};

use crate::store::{count, first_byte, missing};
use crate::{BenchResult, BenchStore, KEYSPACE, Pair};

/// A fjall database with one keyspace.
pub struct RawFjall {
    keyspace: Keyspace,
    db: Database,
}

impl std::fmt::Debug for RawFjall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFjall").finish_non_exhaustive()
    }
}

impl RawFjall {
    fn write(&self, pairs: &[Pair], delete: bool) -> BenchResult<()> {
        let mut batch = OwnedWriteBatch::with_capacity(self.db.clone(), pairs.len())
            .durability(Some(PersistMode::SyncAll));
        for (key, value) in pairs {
            if delete {
                batch.remove(&self.keyspace, key.clone());
            } else {
                batch.insert(&self.keyspace, key.clone(), value.clone());
            }
        }
        batch.commit()?;
        Ok(())
    }
}

impl BenchStore for RawFjall {
    fn create(dir: &Path) -> BenchResult<Self> {
        let db = Database::builder(dir.join("fjall")).open()?;
        let keyspace = db.keyspace(KEYSPACE, KeyspaceCreateOptions::default)?;
        Ok(Self { keyspace, db })
    }

    fn put_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, false)
    }

    fn delete_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, true)
    }

    fn read_cycle(&self, pairs: &[Pair], n: u64) -> BenchResult<(Duration, u64)> {
        let snapshot = self.db.snapshot();
        let start = Instant::now();
        let mut sum = 0;
        for (key, _) in pairs.iter().cycle().take(count(n)) {
            let value = snapshot
                .get(&self.keyspace, key)?
                .ok_or_else(|| missing(key))?;
            sum += first_byte(&value);
        }
        Ok((start.elapsed(), sum))
    }

    fn scan_cycle(&self, starts: &[Pair], n: u64, len: usize) -> BenchResult<(Duration, u64)> {
        let snapshot = self.db.snapshot();
        let start = Instant::now();
        let mut entries = 0;
        let mut sum = 0;
        for (key, _) in starts.iter().cycle().take(count(n)) {
            let range: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(key), Bound::Unbounded);
            for item in snapshot.range::<&[u8], _>(&self.keyspace, range).take(len) {
                let (_, value) = item.into_inner()?;
                sum += first_byte(&value);
                entries += 1;
            }
        }
        std::hint::black_box(sum);
        Ok((start.elapsed(), entries))
    }
}

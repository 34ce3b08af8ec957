//! [`Adapter`]: the workloads through the [`StorageEngine`] trait, written once for every engine.

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use engine_api::{
    Direction, Durability, EngineConfig, KeyRange, Keyspace, Snapshot, StorageEngine, WriteBatch,
};

use crate::store::{count, first_byte, missing};
use crate::{BenchResult, BenchStore, KEYSPACE, Pair};

/// A [`StorageEngine`] as a [`BenchStore`]: every operation goes through the engine API
/// (`WriteBatch` + `write(.., Durability::Sync)`, `snapshot()` + `Snapshot::get`/`scan`), as
/// the Dynamo node will use it.
///
/// The engine is opened with [`EngineConfig::new`] defaults (no cache setting; no size limit
/// unless [`crate::max_size_bytes`] gives one) and the one keyspace [`KEYSPACE`].
#[derive(Debug)]
pub struct Adapter<S: StorageEngine> {
    engine: S,
    keyspace: Keyspace,
}

impl<S: StorageEngine> Adapter<S> {
    /// The engine under test.
    pub fn engine(&self) -> &S {
        &self.engine
    }

    fn write(&self, pairs: &[Pair], delete: bool) -> BenchResult<()> {
        // Building the batch is part of the cost of writing through the API, so it is timed.
        // Cloning `Bytes` only bumps a reference count.
        let mut batch = WriteBatch::with_capacity(pairs.len());
        for (key, value) in pairs {
            if delete {
                batch.delete(self.keyspace, key.clone());
            } else {
                batch.put(self.keyspace, key.clone(), value.clone());
            }
        }
        self.engine.write(&batch, Durability::Sync)?;
        Ok(())
    }
}

impl<S: StorageEngine> BenchStore for Adapter<S> {
    fn create(dir: &Path) -> BenchResult<Self> {
        let mut config = EngineConfig::new(dir, [KEYSPACE]);
        config.max_size_bytes = crate::max_size_bytes();
        let engine = S::open(&config)?;
        let keyspace = engine.keyspace(KEYSPACE)?;
        Ok(Self { engine, keyspace })
    }

    fn put_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, false)
    }

    fn delete_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, true)
    }

    fn read_cycle(&self, pairs: &[Pair], n: u64) -> BenchResult<(Duration, u64)> {
        let snapshot = self.engine.snapshot()?;
        let start = Instant::now();
        let mut sum = 0;
        for (key, _) in pairs.iter().cycle().take(count(n)) {
            let value = snapshot
                .get(self.keyspace, key)?
                .ok_or_else(|| missing(key))?;
            sum += first_byte(&value);
        }
        Ok((start.elapsed(), sum))
    }

    fn scan_cycle(&self, starts: &[Pair], n: u64, len: usize) -> BenchResult<(Duration, u64)> {
        let snapshot = self.engine.snapshot()?;
        let start = Instant::now();
        let mut entries = 0;
        let mut sum = 0;
        for (key, _) in starts.iter().cycle().take(count(n)) {
            let range = KeyRange::new(Bound::Included(key), Bound::Unbounded);
            for item in snapshot
                .scan(self.keyspace, range, Direction::Forward)?
                .take(len)
            {
                let (_, value) = item?;
                sum += first_byte(&value);
                entries += 1;
            }
        }
        std::hint::black_box(sum);
        Ok((start.elapsed(), entries))
    }
}

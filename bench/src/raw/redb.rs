//! redb, opened and used as `engine_redb::RedbEngine` does.
//!
//! The same as the adapter: `redb::Builder::new()` with its defaults (the benchmarks set no
//! cache size), one table of `&[u8]` keys and values; a durable write is one write transaction
//! with redb's default `Durability::Immediate` (the adapter's `Durability::Sync`); reads go
//! through one read transaction with the table opened once, using the same (inherent)
//! `ReadOnlyTable::get` and `range`. Unlike the adapter, values are read in place through the
//! `AccessGuard` instead of being copied into `Bytes`, and there is no `catch_unwind` boundary.

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::store::{count, first_byte, missing};
use crate::{BenchResult, BenchStore, KEYSPACE, Pair};

const TABLE: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new(KEYSPACE);

/// A redb database file with one table.
#[derive(Debug)]
pub struct RawRedb {
    db: Database,
}

impl RawRedb {
    fn write(&self, pairs: &[Pair], delete: bool) -> BenchResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for (key, value) in pairs {
                if delete {
                    table.remove(key.as_ref())?;
                } else {
                    table.insert(key.as_ref(), value.as_ref())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}

impl BenchStore for RawRedb {
    fn create(dir: &Path) -> BenchResult<Self> {
        let db = redb::Builder::new().create(dir.join("data.redb"))?;
        let txn = db.begin_write()?;
        drop(txn.open_table(TABLE)?);
        txn.commit()?;
        Ok(Self { db })
    }

    fn put_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, false)
    }

    fn delete_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, true)
    }

    fn read_cycle(&self, pairs: &[Pair], n: u64) -> BenchResult<(Duration, u64)> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let start = Instant::now();
        let mut sum = 0;
        for (key, _) in pairs.iter().cycle().take(count(n)) {
            let value = table.get(key.as_ref())?.ok_or_else(|| missing(key))?;
            sum += first_byte(value.value());
        }
        Ok((start.elapsed(), sum))
    }

    fn scan_cycle(&self, starts: &[Pair], n: u64, len: usize) -> BenchResult<(Duration, u64)> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let start = Instant::now();
        let mut entries = 0;
        let mut sum = 0;
        for (key, _) in starts.iter().cycle().take(count(n)) {
            let range = (Bound::Included(key.as_ref()), Bound::Unbounded);
            for item in table.range::<&[u8]>(range)?.take(len) {
                let (_, value) = item?;
                sum += first_byte(value.value());
                entries += 1;
            }
        }
        std::hint::black_box(sum);
        Ok((start.elapsed(), entries))
    }
}

//! A `BTreeMap` behind an `RwLock`: the baseline of the memory engine, which has no crate under
//! it.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::store::{count, first_byte, missing};
use crate::{BenchResult, BenchStore, Pair};

/// An ordered map behind a reader-writer lock. A "transaction" holds the lock; a read snapshot
/// is the read guard, held for the whole read loop. Nothing is durable.
#[derive(Debug, Default)]
pub struct RawBTree {
    map: RwLock<BTreeMap<Bytes, Bytes>>,
}

impl RawBTree {
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<Bytes, Bytes>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<Bytes, Bytes>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl BenchStore for RawBTree {
    fn create(_dir: &Path) -> BenchResult<Self> {
        Ok(Self::default())
    }

    fn put_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        let mut map = self.write();
        for (key, value) in pairs {
            map.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn delete_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        let mut map = self.write();
        for (key, _) in pairs {
            map.remove(key);
        }
        Ok(())
    }

    fn read_cycle(&self, pairs: &[Pair], n: u64) -> BenchResult<(Duration, u64)> {
        let map = self.read();
        let start = Instant::now();
        let mut sum = 0;
        for (key, _) in pairs.iter().cycle().take(count(n)) {
            let value = map.get(key).ok_or_else(|| missing(key))?;
            sum += first_byte(value);
        }
        Ok((start.elapsed(), sum))
    }

    fn scan_cycle(&self, starts: &[Pair], n: u64, len: usize) -> BenchResult<(Duration, u64)> {
        let map = self.read();
        let start = Instant::now();
        let mut entries = 0;
        let mut sum = 0;
        for (key, _) in starts.iter().cycle().take(count(n)) {
            let range = (Bound::Included(&key[..]), Bound::Unbounded);
            for (_, value) in map.range::<[u8], _>(range).take(len) {
                sum += first_byte(value);
                entries += 1;
            }
        }
        std::hint::black_box(sum);
        Ok((start.elapsed(), entries))
    }
}

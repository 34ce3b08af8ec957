//! LMDB through heed, opened and used as `engine_lmdb::LmdbEngine` does.
//!
//! The same as the adapter: an environment with read transactions not tied to threads
//! (`read_txn_without_tls`), the adapter's map size (`engine_lmdb::DEFAULT_MAP_SIZE`, since the
//! benchmarks set no size limit) and reader slots (`engine_lmdb::MAX_READERS`), `max_dbs` of one
//! per keyspace, opened with `NO_SYNC`, one named database of raw bytes. A durable write turns
//! `NO_SYNC` off, commits one write transaction (so LMDB syncs the data pages, then writes and
//! syncs the meta page: its crash-safe order), and turns `NO_SYNC` back on — the adapter's
//! `Durability::Sync`. Reads go through one read transaction. Unlike the adapter, there is no
//! writer mutex (the benchmark has one thread) and reads borrow values from the map instead of
//! copying them into `Bytes`.
//!
//! [`RawLmdbForceSync`] is the other way to make a commit durable — commit with `NO_SYNC`, then
//! `Env::force_sync` — which engine-lmdb used at first: one sync instead of LMDB's two, but
//! without LMDB's ordering of data pages before the meta page, so a power loss during the sync
//! can leave a meta page that names unwritten pages. It is here to show what the ordering costs.

use std::convert::Infallible;
use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use heed::types::Bytes as Raw;
use heed::{CommitOrAbort, Env, EnvFlags, EnvOpenOptions, FlagSetMode, WithoutTls};

use crate::store::{count, first_byte, missing};
use crate::{BenchResult, BenchStore, KEYSPACE, Pair};

type Db = heed::Database<'static, Raw, Raw>;

/// An LMDB environment with one named database, set up and synced as the adapter does.
pub type RawLmdb = RawLmdbWith<false>;

/// An LMDB environment whose durable writes commit with `NO_SYNC`, then `force_sync`: not the
/// adapter's way (see the module documentation).
pub type RawLmdbForceSync = RawLmdbWith<true>;

/// An LMDB environment with one named database, opened with `NO_SYNC`; a durable write turns
/// `NO_SYNC` off for its commit, or (when `FORCE_SYNC`) commits and then calls `force_sync`.
pub struct RawLmdbWith<const FORCE_SYNC: bool> {
    env: Env<WithoutTls>,
    db: Db,
}

impl<const FORCE_SYNC: bool> std::fmt::Debug for RawLmdbWith<FORCE_SYNC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLmdb")
            .field("path", &self.env.path())
            .finish()
    }
}

/// Opens the environment with the adapter's options.
#[allow(unsafe_code)]
fn open_env(dir: &Path) -> heed::Result<Env<WithoutTls>> {
    let map_size = crate::max_size_bytes().map_or(engine_lmdb::DEFAULT_MAP_SIZE, |n| {
        n.next_multiple_of(64 * 1024)
    });
    let map_size = usize::try_from(map_size).unwrap_or(usize::MAX);
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options
        .map_size(map_size)
        .max_dbs(1)
        .max_readers(engine_lmdb::MAX_READERS);
    // SAFETY: NO_SYNC weakens durability, not memory safety; every durable write below turns
    // it off or calls `force_sync`.
    unsafe {
        options.flags(EnvFlags::NO_SYNC);
    }
    // SAFETY: the directory is a fresh scratch directory that only this environment opens, once
    // (heed refuses a second open in the process), and nothing else writes its files.
    unsafe { options.open(dir) }
}

/// Turns `NO_SYNC` on or off for the commits that begin after this call.
#[allow(unsafe_code)]
fn set_no_sync(env: &Env<WithoutTls>, on: bool) -> heed::Result<()> {
    let mode = if on {
        FlagSetMode::Enable
    } else {
        FlagSetMode::Disable
    };
    // SAFETY: only one thread changes the flags: a store is used by the benchmark's thread
    // alone, and no other write transaction is open meanwhile. NO_SYNC weakens durability,
    // not memory safety.
    unsafe { env.set_flags(EnvFlags::NO_SYNC, mode) }
}

impl<const FORCE_SYNC: bool> RawLmdbWith<FORCE_SYNC> {
    fn write(&self, pairs: &[Pair], delete: bool) -> BenchResult<()> {
        if !FORCE_SYNC {
            set_no_sync(&self.env, false)?;
        }
        let mut txn = self.env.write_txn()?;
        for (key, value) in pairs {
            if delete {
                self.db.delete(&mut txn, key)?;
            } else {
                self.db.put(&mut txn, key, value)?;
            }
        }
        txn.commit()?;
        if FORCE_SYNC {
            self.env.force_sync()?;
        } else {
            set_no_sync(&self.env, true)?;
        }
        Ok(())
    }
}

impl<const FORCE_SYNC: bool> BenchStore for RawLmdbWith<FORCE_SYNC> {
    fn create(dir: &Path) -> BenchResult<Self> {
        let env = open_env(dir)?;
        let txn = env.write_txn()?;
        let db = env
            .create_databases_and_commit(
                txn,
                |opener, txn| -> heed::Result<CommitOrAbort<_, Infallible>> {
                    Ok(CommitOrAbort::Commit(
                        opener.create_database::<Raw, Raw>(txn, Some(KEYSPACE))?,
                    ))
                },
            )?
            .unwrap_commit();
        env.force_sync()?;
        Ok(Self { env, db })
    }

    fn put_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, false)
    }

    fn delete_all(&self, pairs: &[Pair]) -> BenchResult<()> {
        self.write(pairs, true)
    }

    fn read_cycle(&self, pairs: &[Pair], n: u64) -> BenchResult<(Duration, u64)> {
        let txn = self.env.read_txn()?;
        let start = Instant::now();
        let mut sum = 0;
        for (key, _) in pairs.iter().cycle().take(count(n)) {
            let value = self.db.get(&txn, key)?.ok_or_else(|| missing(key))?;
            sum += first_byte(value);
        }
        Ok((start.elapsed(), sum))
    }

    fn scan_cycle(&self, starts: &[Pair], n: u64, len: usize) -> BenchResult<(Duration, u64)> {
        let txn = self.env.read_txn()?;
        let start = Instant::now();
        let mut entries = 0;
        let mut sum = 0;
        for (key, _) in starts.iter().cycle().take(count(n)) {
            let range = (Bound::Included(&key[..]), Bound::Unbounded);
            for item in self.db.range(&txn, &range)?.take(len) {
                let (_, value) = item?;
                sum += first_byte(value);
                entries += 1;
            }
        }
        std::hint::black_box(sum);
        Ok((start.elapsed(), entries))
    }
}

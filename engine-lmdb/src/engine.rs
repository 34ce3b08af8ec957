//! [`LmdbEngine`]: the [`StorageEngine`] over one LMDB environment.

use std::convert::Infallible;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use engine_api::{
    BatchOp, Durability, EngineConfig, Error, Keyspace, Result, StorageEngine, WriteBatch,
    check_batch, check_key, check_keyspace,
};
use heed::{CommitOrAbort, CommitToken, Env, OnCommit, RwTxn, WithoutTls};

use crate::env::{DATA_FILE, map_size, open_env, set_no_sync};
use crate::error::{ENGINE, ErrorContext, io_error};
use crate::snapshot::LmdbSnapshot;
use crate::verify::verify_data_file;

/// One keyspace: an LMDB named database of raw bytes.
pub(crate) type Db = heed::Database<'static, heed::types::Bytes, heed::types::Bytes>;

/// Version of our layout on top of LMDB's files, recorded in the directory's marker file.
const FORMAT: u32 = 1;

/// The LMDB storage engine; see the crate documentation.
pub struct LmdbEngine {
    env: Env<WithoutTls>,
    /// One named database per keyspace, in handle order.
    dbs: Vec<Db>,
    names: Vec<String>,
    ctx: ErrorContext,
    /// Set when an fsync failed: the durability of earlier writes is then unknown.
    poisoned: AtomicBool,
    /// Serializes writers, so that turning `NO_SYNC` off for a `Sync` commit never races with
    /// another writer's transaction (LMDB serializes write transactions anyway).
    write_lock: Mutex<()>,
}

impl fmt::Debug for LmdbEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LmdbEngine")
            .field("dir", &self.ctx.dir)
            .field("keyspaces", &self.names)
            .field("map_size", &self.ctx.map_size)
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The databases created in the opening transaction, made usable after its commit (heed ties a
/// database handle to the transaction that created it until that transaction commits).
struct NewDbs<'t>(Vec<heed::Database<'t, heed::types::Bytes, heed::types::Bytes>>);

impl OnCommit for NewDbs<'_> {
    type Committed = Vec<Db>;

    fn on_commit(self, token: &CommitToken) -> Vec<Db> {
        self.0.into_iter().map(|db| db.on_commit(token)).collect()
    }
}

impl LmdbEngine {
    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.ctx.dir
    }

    /// The size of the LMDB map in bytes: the most the data file can grow to.
    pub fn map_size(&self) -> usize {
        self.ctx.map_size
    }

    /// Maps a heed error that happened while `doing` something.
    fn err(&self, doing: &'static str) -> impl Fn(heed::Error) -> Error + '_ {
        move |e| self.ctx.map(e, doing)
    }

    pub(crate) fn db(&self, index: usize) -> &Db {
        &self.dbs[index]
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn error_context(&self) -> &ErrorContext {
        &self.ctx
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            Err(Error::Poisoned { engine: ENGINE })
        } else {
            Ok(())
        }
    }

    /// Forces every commit so far to stable storage; a failure poisons the engine, since the
    /// OS may have dropped the dirty pages it failed to write.
    fn sync(&self) -> Result<()> {
        self.env.force_sync().map_err(|e| {
            self.poisoned.store(true, Ordering::Release);
            match e {
                heed::Error::Io(io) => io_error(&self.ctx.dir.join(DATA_FILE), io, "fsync"),
                other => self.ctx.map(other, "fsync"),
            }
        })
    }

    /// Applies `batch` in one write transaction and commits it; on an error the transaction is
    /// aborted and nothing is applied.
    fn commit(&self, batch: &WriteBatch) -> Result<()> {
        let mut txn = self
            .env
            .write_txn()
            .map_err(self.err("begin a write transaction"))?;
        self.apply(&mut txn, batch).map_err(self.err("write"))?;
        txn.commit().map_err(self.err("commit"))
    }

    /// Applies the operations of `batch` in `txn`.
    fn apply(&self, txn: &mut RwTxn<'_>, batch: &WriteBatch) -> heed::Result<()> {
        for op in batch.ops() {
            match op {
                BatchOp::Put {
                    keyspace,
                    key,
                    value,
                } => self.dbs[keyspace.index()].put(txn, key, value)?,
                BatchOp::Delete { keyspace, key } => {
                    self.dbs[keyspace.index()].delete(txn, key)?;
                }
            }
        }
        Ok(())
    }
}

impl StorageEngine for LmdbEngine {
    type Snapshot<'e> = LmdbSnapshot<'e>;
    const NAME: &'static str = ENGINE;
    const PERSISTENT: bool = true;

    fn open(config: &EngineConfig) -> Result<Self> {
        config.validate()?;
        let (requested_map_size, default_map_size) = map_size(config.max_size_bytes)?;
        let max_dbs = u32::try_from(config.keyspaces.len())
            .map_err(|_| Error::InvalidConfig("too many keyspaces".into()))?;
        engine_api::marker::claim_dir(&config.path, ENGINE, FORMAT)?;

        let mut ctx = ErrorContext {
            dir: config.path.clone(),
            map_size: requested_map_size,
            default_map_size,
        };
        let env = open_env(&config.path, requested_map_size, max_dbs)
            .map_err(|e| ctx.map(e, "open the environment"))?;
        // LMDB trusts its pages blindly; check them before it reads one.
        verify_data_file(&config.path.join(DATA_FILE))?;
        // LMDB grows the map to the data size when the store is larger than asked for.
        ctx.map_size = env.info().map_size;
        // Reader slots left behind by killed processes would keep old pages alive.
        env.clear_stale_readers()
            .map_err(|e| ctx.map(e, "clear stale reader slots"))?;

        let txn = env
            .write_txn()
            .map_err(|e| ctx.map(e, "begin the opening transaction"))?;
        let created = env.create_databases_and_commit(
            txn,
            |opener, txn| -> heed::Result<CommitOrAbort<NewDbs<'_>, Infallible>> {
                let dbs = config
                    .keyspaces
                    .iter()
                    .map(|name| opener.create_database(txn, Some(name)))
                    .collect::<heed::Result<Vec<_>>>()?;
                Ok(CommitOrAbort::Commit(NewDbs(dbs)))
            },
        );
        let dbs = match created.map_err(|e| ctx.map(e, "create the keyspaces"))? {
            CommitOrAbort::Commit(dbs) => dbs,
            CommitOrAbort::Abort(never) => match never {},
        };
        let engine = LmdbEngine {
            env,
            dbs,
            names: config.keyspaces.clone(),
            ctx,
            poisoned: AtomicBool::new(false),
            write_lock: Mutex::new(()),
        };
        // A new store's first pages and meta are made durable before it is used.
        engine.sync()?;
        Ok(engine)
    }

    fn keyspace_names(&self) -> &[String] {
        &self.names
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let i = check_keyspace(&self.names, keyspace)?;
        check_key(key)?;
        let txn = self.env.read_txn().map_err(self.err("begin a read"))?;
        let value = self.dbs[i].get(&txn, key).map_err(self.err("get"))?;
        Ok(value.map(Bytes::copy_from_slice))
    }

    fn write(&self, batch: &WriteBatch, durability: Durability) -> Result<()> {
        check_batch(&self.names, batch)?;
        self.check_poisoned()?;
        // No data is guarded by the lock, so a panic while it was held leaves nothing broken.
        let _writer = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if batch.is_empty() {
            return match durability {
                Durability::Buffered => Ok(()),
                Durability::Sync => self.sync(),
            };
        }
        match durability {
            Durability::Buffered => self.commit(batch),
            Durability::Sync => {
                // LMDB's own crash-safe commit: data pages synced, then the meta page written
                // and synced. Earlier Buffered commits are made durable by the same syncs.
                set_no_sync(&self.env, false).map_err(self.err("turn on synced commits"))?;
                let committed = self.commit(batch);
                let restored =
                    set_no_sync(&self.env, true).map_err(self.err("turn off synced commits"));
                if let Err(Error::Io { .. }) = &committed {
                    // The commit's fsync may have failed: durability is unknown from here on.
                    self.poisoned.store(true, Ordering::Release);
                }
                committed.and(restored)
            }
        }
    }

    fn snapshot(&self) -> Result<LmdbSnapshot<'_>> {
        let txn = self.env.read_txn().map_err(self.err("begin a snapshot"))?;
        Ok(LmdbSnapshot::new(self, txn))
    }

    fn flush(&self) -> Result<()> {
        self.check_poisoned()?;
        self.sync()
    }
}

impl Drop for LmdbEngine {
    /// Syncs on a clean close, so that `Buffered` writes survive a power loss after it too. An
    /// error cannot be reported from here; `flush` first to see it.
    fn drop(&mut self) {
        if !self.poisoned.load(Ordering::Acquire) {
            let _ = self.env.force_sync();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<LmdbEngine>();
    }

    #[test]
    fn sync_writes_restore_no_sync_for_buffered_ones() {
        let dir = tempfile::tempdir().unwrap();
        let engine = LmdbEngine::open(&EngineConfig::new(dir.path().join("s"), ["data"])).unwrap();
        let no_sync = heed::EnvFlags::NO_SYNC.bits();
        assert_ne!(engine.env.get_flags().unwrap() & no_sync, 0);
        let ks = engine.keyspace("data").unwrap();
        let mut batch = WriteBatch::new();
        batch.put(ks, &b"k"[..], &b"v"[..]);
        engine.write(&batch, Durability::Sync).unwrap();
        assert_ne!(
            engine.env.get_flags().unwrap() & no_sync,
            0,
            "NO_SYNC is back on"
        );
        engine.write(&batch, Durability::Buffered).unwrap();
        assert_eq!(engine.get(ks, b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn map_size_reflects_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path().join("store"), ["data"]);
        config.max_size_bytes = Some(1_000_000);
        let engine = LmdbEngine::open(&config).unwrap();
        assert_eq!(engine.map_size(), 1_048_576);
        assert_eq!(engine.path(), config.path);
    }
}

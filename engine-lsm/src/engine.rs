//! [`FjallEngine`]: the [`StorageEngine`] on a fjall database.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use engine_api::{
    BatchOp, Durability, EngineConfig, Error, Keyspace, Result, StorageEngine, WriteBatch,
    check_batch, check_key, check_keyspace,
};
use fjall::{AbstractTree, Database, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use crate::error::{catch_panic, from_fjall, from_lsm, guard, panic_error};
use crate::journal::JournalWatch;
use crate::options::LsmOptions;
use crate::snapshot::FjallSnapshot;
use crate::{ENGINE, layout};

/// fjall's persist mode for a `Sync` write and for `flush`: `fsync` of the journal file.
const SYNC_MODE: PersistMode = PersistMode::SyncAll;

/// The LSM-tree storage engine: one fjall database, one fjall keyspace per engine keyspace.
///
/// See the crate documentation for what it guarantees.
pub struct FjallEngine {
    /// Keyspace names, in handle order.
    names: Vec<String>,
    /// fjall's keyspace handles, indexed by [`Keyspace::index`].
    pub(crate) keyspaces: Vec<fjall::Keyspace>,
    /// fjall's database.
    pub(crate) db: Database,
    /// fjall's directory (`<path>/fjall`), named in I/O errors.
    dir: PathBuf,
    /// When to check that the journals are being freed (see [`crate::journal`]).
    pub(crate) journal_watch: JournalWatch,
}

impl std::fmt::Debug for FjallEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallEngine")
            .field("dir", &self.dir)
            .field("keyspaces", &self.names)
            .finish_non_exhaustive()
    }
}

impl FjallEngine {
    /// The directory of fjall's own files (a subdirectory of the configured path).
    pub fn fjall_dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the store described by `config`, creating it if missing, with the lsm engine's own
    /// settings `options`. [`StorageEngine::open`] is this with [`LsmOptions::default`].
    ///
    /// # Errors
    /// As [`StorageEngine::open`]; [`Error::InvalidConfig`] also for invalid `options` (see
    /// [`LsmOptions::validate`]).
    pub fn open_with(config: &EngineConfig, options: &LsmOptions) -> Result<Self> {
        config.validate()?;
        options.validate()?;
        let dir = layout::prepare(&config.path)?;
        let mut builder = Database::builder(&dir).max_journaling_size(options.max_journal_bytes);
        if let Some(bytes) = config.cache_size_bytes {
            builder = builder.cache_size(bytes);
        }
        let db = guard("opening the store", || {
            builder
                .open()
                .map_err(|e| from_fjall(e, &dir, "opening the store"))
        })?;
        let keyspaces = config
            .keyspaces
            .iter()
            .map(|name| {
                guard("opening a keyspace", || {
                    db.keyspace(name, KeyspaceCreateOptions::default)
                        .map_err(|e| from_fjall(e, &dir, "opening a keyspace"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            names: config.keyspaces.clone(),
            keyspaces,
            db,
            dir,
            journal_watch: JournalWatch::new(options.max_journal_bytes),
        })
    }

    pub(crate) fn keyspace_handle(&self, keyspace: Keyspace) -> Result<&fjall::Keyspace> {
        let i = check_keyspace(&self.names, keyspace)?;
        Ok(&self.keyspaces[i])
    }

    pub(crate) fn map<'a>(&'a self, what: &'a str) -> impl FnOnce(fjall::Error) -> Error + 'a {
        move |e| from_fjall(e, &self.dir, what)
    }
}

/// Largest value fjall stores (its journal records value lengths in 32 bits).
const MAX_VALUE_LEN: usize = u32::MAX as usize;

impl StorageEngine for FjallEngine {
    type Snapshot<'e> = FjallSnapshot<'e>;
    const NAME: &'static str = ENGINE;
    const PERSISTENT: bool = true;

    fn open(config: &EngineConfig) -> Result<Self> {
        Self::open_with(config, &LsmOptions::default())
    }

    fn keyspace_names(&self) -> &[String] {
        &self.names
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let ks = self.keyspace_handle(keyspace)?;
        check_key(key)?;
        // Read as of the last *published* batch, as a snapshot taken now would, rather than
        // through fjall's `Keyspace::get`, which reads at `SeqNo::MAX` and so can see part of a
        // batch that another thread is still applying to the memtables. (`tree` and
        // `visible_seqno` are public but doc-hidden in fjall; the fjall version is pinned.)
        match catch_panic(|| ks.tree.get(key, self.db.visible_seqno())) {
            Ok(Ok(value)) => Ok(value.map(Bytes::from)),
            Ok(Err(e)) => Err(from_lsm(e, &self.dir, "reading a key")),
            Err(payload) => Err(panic_error("reading a key", payload.as_ref())),
        }
    }

    fn write(&self, batch: &WriteBatch, durability: Durability) -> Result<()> {
        check_batch(&self.names, batch)?;
        let mode = match durability {
            Durability::Buffered => PersistMode::Buffer,
            Durability::Sync => SYNC_MODE,
        };
        if batch.is_empty() {
            // fjall commits an empty batch as a no-op, without persisting.
            return match durability {
                Durability::Sync => self.flush(),
                Durability::Buffered => Ok(()),
            };
        }
        let mut fb =
            OwnedWriteBatch::with_capacity(self.db.clone(), batch.len()).durability(Some(mode));
        for op in batch.ops() {
            match op {
                BatchOp::Put {
                    keyspace,
                    key,
                    value,
                } => {
                    if value.len() > MAX_VALUE_LEN {
                        return Err(Error::Unsupported(format!(
                            "a value of {} bytes: the lsm engine stores values of up to {MAX_VALUE_LEN} bytes",
                            value.len()
                        )));
                    }
                    fb.insert(
                        &self.keyspaces[keyspace.index()],
                        key.clone(),
                        value.clone(),
                    );
                }
                BatchOp::Delete { keyspace, key } => {
                    fb.remove(&self.keyspaces[keyspace.index()], key.clone());
                }
            }
        }
        guard("writing a batch", || {
            fb.commit().map_err(self.map("writing a batch"))
        })?;
        self.after_write(batch.payload_bytes());
        Ok(())
    }

    fn snapshot(&self) -> Result<FjallSnapshot<'_>> {
        Ok(FjallSnapshot::new(self, self.db.snapshot()))
    }

    fn flush(&self) -> Result<()> {
        guard("syncing the journal", || {
            self.db
                .persist(SYNC_MODE)
                .map_err(self.map("syncing the journal"))
        })
    }
}

//! The storage engine trait and its snapshot.

use std::path::PathBuf;

use bytes::Bytes;

use crate::{Direction, Error, KeyRange, Result, WriteBatch};

/// A keyspace the engine was opened with: a cheap, copyable handle.
///
/// The handle is the keyspace's position in [`EngineConfig::keyspaces`]; get it by name with
/// [`StorageEngine::keyspace`]. Handing an engine a handle it was not opened with gives
/// [`Error::UnknownKeyspace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keyspace(u32);

impl Keyspace {
    /// The handle of the `index`-th keyspace of the configuration.
    pub const fn from_index(index: u32) -> Self {
        Keyspace(index)
    }

    /// Position of this keyspace in the configuration.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What every engine is opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Directory of the store; created if missing. Ignored by the memory engine.
    pub path: PathBuf,
    /// Names of the keyspaces, opened (and created if missing) up front. Names are 1 to 64
    /// characters of ASCII letters, digits, `_`, `-` and `.`, and unique.
    pub keyspaces: Vec<String>,
    /// Upper bound on the store's size, for engines that need one up front (LMDB's map size).
    /// `None` lets the engine choose and grow as needed.
    pub max_size_bytes: Option<u64>,
    /// Memory the engine may use for caching, for engines that take such a setting.
    pub cache_size_bytes: Option<u64>,
}

impl EngineConfig {
    /// A configuration for `path` with the given keyspaces and engine defaults otherwise.
    pub fn new<S: Into<String>>(
        path: impl Into<PathBuf>,
        keyspaces: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            path: path.into(),
            keyspaces: keyspaces.into_iter().map(Into::into).collect(),
            max_size_bytes: None,
            cache_size_bytes: None,
        }
    }

    /// Checks the keyspace names: present, well-formed, unique.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the offending keyspace.
    pub fn validate(&self) -> Result<()> {
        if self.keyspaces.is_empty() {
            return Err(Error::InvalidConfig("no keyspace given".into()));
        }
        if self.keyspaces.len() > u32::MAX as usize {
            return Err(Error::InvalidConfig("too many keyspaces".into()));
        }
        for (i, name) in self.keyspaces.iter().enumerate() {
            let well_formed = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !well_formed {
                return Err(Error::InvalidConfig(format!(
                    "keyspace name {name:?} must be 1 to 64 characters of ASCII letters, digits, '_', '-' or '.'"
                )));
            }
            if self.keyspaces[..i].contains(name) {
                return Err(Error::InvalidConfig(format!(
                    "keyspace {name:?} is listed twice"
                )));
            }
        }
        Ok(())
    }
}

/// A local, ordered, transactional key-value store with named keyspaces: what a Dynamo node
/// needs from its disk, and nothing more.
///
/// Keys are byte strings of 1 to [`MAX_KEY_LEN`] bytes, ordered lexicographically; values are [`Bytes`]. Writes go through
/// atomic [`WriteBatch`]es with a [`crate::Durability`]; reads go either straight to the engine
/// ([`StorageEngine::get`]) or through a [`Snapshot`], a consistent point-in-time view whose
/// iterators borrow it.
///
/// Implementations are `Send + Sync`: one engine is shared by every thread of a process.
pub trait StorageEngine: Send + Sync + Sized + 'static {
    /// A consistent read view of the engine; see [`Snapshot`].
    type Snapshot<'e>: Snapshot
    where
        Self: 'e;

    /// The engine's short name, as accepted by `engine-any` (`"lmdb"`, `"lsm"`, ...).
    const NAME: &'static str;

    /// True when the engine keeps its data across process restarts.
    const PERSISTENT: bool;

    /// Opens the store described by `config`, creating it if missing.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration; [`Error::WrongFormat`] when the directory
    /// holds another engine's files; [`Error::Corruption`] for damaged files; [`Error::Io`] when
    /// the directory cannot be read or created (for example without permission).
    fn open(config: &EngineConfig) -> Result<Self>;

    /// Names of the keyspaces, in handle order.
    fn keyspace_names(&self) -> &[String];

    /// The handle of the keyspace called `name`.
    ///
    /// # Errors
    /// [`Error::UnknownKeyspace`] when the engine was not opened with that keyspace.
    fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.keyspace_names()
            .iter()
            .position(|n| n == name)
            .map(|i| Keyspace::from_index(i as u32))
            .ok_or_else(|| Error::UnknownKeyspace(name.to_owned()))
    }

    /// The value of `key` in `keyspace`, reading the latest committed state.
    ///
    /// # Errors
    /// [`Error::UnknownKeyspace`]; [`Error::InvalidKey`]; a failure of the engine.
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>>;

    /// Applies every operation of `batch` atomically, durable at level `durability` when it
    /// returns. An empty batch is a no-op (with `Sync`, it still makes earlier writes durable).
    ///
    /// # Errors
    /// [`Error::UnknownKeyspace`] or [`Error::InvalidKey`] (checked before anything is
    /// applied, see [`check_batch`]); [`Error::Full`] (with redb, any I/O error, a full disk
    /// included, also poisons the store until it is reopened) when the store reached its size limit (nothing
    /// of the batch is applied); [`Error::Poisoned`] after a failed sync; any engine failure.
    fn write(&self, batch: &WriteBatch, durability: crate::Durability) -> Result<()>;

    /// A consistent view of every keyspace as of now. Later writes do not show through it.
    ///
    /// # Errors
    /// A failure of the engine.
    fn snapshot(&self) -> Result<Self::Snapshot<'_>>;

    /// Forces every write made so far to stable storage.
    ///
    /// # Errors
    /// A failure of the engine (an fsync error poisons it).
    fn flush(&self) -> Result<()>;
}

/// A consistent, read-only view of an engine at one point in time.
pub trait Snapshot {
    /// An ordered iterator over a range of one keyspace, borrowing the snapshot.
    type Iter<'s>: Iterator<Item = Result<(Bytes, Bytes)>>
    where
        Self: 's;

    /// The value of `key` in `keyspace` as of the snapshot.
    ///
    /// # Errors
    /// [`Error::UnknownKeyspace`], or a failure of the engine.
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>>;

    /// The key-value pairs of `keyspace` within `range`, in `direction` order.
    ///
    /// An empty or inverted range yields nothing.
    ///
    /// # Errors
    /// [`Error::UnknownKeyspace`] here; read failures arrive as `Err` items of the iterator.
    fn scan(
        &self,
        keyspace: Keyspace,
        range: KeyRange,
        direction: Direction,
    ) -> Result<Self::Iter<'_>>;
}

/// Longest key every engine can store (LMDB's compile-time `MDB_MAXKEYSIZE`). Keys are
/// 1 to `MAX_KEY_LEN` bytes on every engine, so that data moves between engines unchanged.
pub const MAX_KEY_LEN: usize = 511;

/// Checks that `key` is storable on every engine.
///
/// # Errors
/// [`Error::InvalidKey`] for an empty key or one longer than [`MAX_KEY_LEN`].
#[inline]
pub fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        Err(Error::InvalidKey { len: key.len() })
    } else {
        Ok(())
    }
}

/// Checks every key and keyspace of `batch` against `names` before anything is applied.
///
/// # Errors
/// [`Error::InvalidKey`] or [`Error::UnknownKeyspace`] for the first bad operation.
pub fn check_batch(names: &[String], batch: &WriteBatch) -> Result<()> {
    for op in batch.ops() {
        check_keyspace(names, op.keyspace())?;
        check_key(op.key())?;
    }
    Ok(())
}

/// Looks up the handle `keyspace` in `names`, for engines that keep per-keyspace state in a
/// vector indexed by handle.
///
/// # Errors
/// [`Error::UnknownKeyspace`] when the handle is out of range.
pub fn check_keyspace(names: &[String], keyspace: Keyspace) -> Result<usize> {
    let i = keyspace.index();
    if i < names.len() {
        Ok(i)
    } else {
        Err(Error::UnknownKeyspace(format!("#{i}")))
    }
}

/// An engine shared by reference count is an engine: the same store, reached from several
/// threads (a node thread that reads and a commit thread that writes, say). Every call goes
/// to the shared engine; dropping the last `Arc` closes it.
impl<E: StorageEngine> StorageEngine for std::sync::Arc<E> {
    type Snapshot<'e> = E::Snapshot<'e>;
    const NAME: &'static str = E::NAME;
    const PERSISTENT: bool = E::PERSISTENT;

    fn open(config: &EngineConfig) -> Result<Self> {
        E::open(config).map(std::sync::Arc::new)
    }

    fn keyspace_names(&self) -> &[String] {
        (**self).keyspace_names()
    }

    fn keyspace(&self, name: &str) -> Result<Keyspace> {
        (**self).keyspace(name)
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        (**self).get(keyspace, key)
    }

    fn write(&self, batch: &WriteBatch, durability: crate::Durability) -> Result<()> {
        (**self).write(batch, durability)
    }

    fn snapshot(&self) -> Result<Self::Snapshot<'_>> {
        (**self).snapshot()
    }

    fn flush(&self) -> Result<()> {
        (**self).flush()
    }
}

//! [`AnyEngine`]: one type over every compiled engine, chosen at run time.

use bytes::Bytes;
use engine_api::{
    Direction, Durability, EngineConfig, Error, KeyRange, Keyspace, Result, Snapshot,
    StorageEngine, WriteBatch, marker,
};

use crate::Engine;

/// Calls the same method on whichever engine `$value` holds.
macro_rules! dispatch {
    ($value:expr, $ty:ident, $inner:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "mem")]
            $ty::Mem($inner) => $body,
            #[cfg(feature = "lmdb")]
            $ty::Lmdb($inner) => $body,
            #[cfg(feature = "lsm")]
            $ty::Lsm($inner) => $body,
            #[cfg(feature = "redb")]
            $ty::Redb($inner) => $body,
        }
    };
}

/// Wraps each engine's value of the same role (engine, snapshot, iterator) in one enum.
macro_rules! wrap {
    ($value:expr, $from:ident, $to:ident, $inner:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "mem")]
            $from::Mem($inner) => $to::Mem($body),
            #[cfg(feature = "lmdb")]
            $from::Lmdb($inner) => $to::Lmdb($body),
            #[cfg(feature = "lsm")]
            $from::Lsm($inner) => $to::Lsm($body),
            #[cfg(feature = "redb")]
            $from::Redb($inner) => $to::Redb($body),
        }
    };
}

/// One of the compiled engines, opened.
///
/// It implements [`StorageEngine`] by forwarding to the engine inside, so the node and the
/// server are written once for every engine. `StorageEngine::open` on `AnyEngine` opens
/// whichever engine's marker the directory holds, or [`Engine::default_for_build`] for a new
/// directory; [`Engine::open`] opens a named one.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyEngine {
    /// The memory engine.
    #[cfg(feature = "mem")]
    Mem(engine_mem::MemEngine),
    /// The LMDB engine.
    #[cfg(feature = "lmdb")]
    Lmdb(engine_lmdb::LmdbEngine),
    /// The fjall engine.
    #[cfg(feature = "lsm")]
    Lsm(engine_lsm::FjallEngine),
    /// The redb engine.
    #[cfg(feature = "redb")]
    Redb(engine_redb::RedbEngine),
}

impl Engine {
    /// Opens this engine with `config`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] ("not available in this build") when this build lacks the engine;
    /// otherwise whatever the engine's `open` returns.
    pub fn open(self, config: &EngineConfig) -> Result<AnyEngine> {
        match self {
            #[cfg(feature = "mem")]
            Engine::Mem => engine_mem::MemEngine::open(config).map(AnyEngine::Mem),
            #[cfg(feature = "lmdb")]
            Engine::Lmdb => engine_lmdb::LmdbEngine::open(config).map(AnyEngine::Lmdb),
            #[cfg(feature = "lsm")]
            Engine::Lsm => engine_lsm::FjallEngine::open(config).map(AnyEngine::Lsm),
            #[cfg(feature = "redb")]
            Engine::Redb => engine_redb::RedbEngine::open(config).map(AnyEngine::Redb),
            #[allow(unreachable_patterns)]
            other => Err(other.unavailable_error()),
        }
    }

    /// The engine whose marker file the directory `dir` holds, if any.
    ///
    /// # Errors
    /// [`Error::WrongFormat`] when the marker names no known engine; [`Error::Io`] when it
    /// cannot be read.
    pub fn detect(dir: &std::path::Path) -> Result<Option<Engine>> {
        let path = dir.join(marker::MARKER_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("engine="))
            .unwrap_or_default();
        name.parse().map(Some).map_err(|_| Error::WrongFormat {
            expected: "known engine",
            found: format!("a marker naming {name:?}"),
            path: dir.to_owned(),
        })
    }
}

impl AnyEngine {
    /// Which engine this is.
    pub fn kind(&self) -> Engine {
        match self {
            #[cfg(feature = "mem")]
            AnyEngine::Mem(_) => Engine::Mem,
            #[cfg(feature = "lmdb")]
            AnyEngine::Lmdb(_) => Engine::Lmdb,
            #[cfg(feature = "lsm")]
            AnyEngine::Lsm(_) => Engine::Lsm,
            #[cfg(feature = "redb")]
            AnyEngine::Redb(_) => Engine::Redb,
        }
    }
}

impl StorageEngine for AnyEngine {
    type Snapshot<'e> = AnySnapshot<'e>;
    const NAME: &'static str = "any";
    /// True although an `AnyEngine` may hold the memory engine: check [`AnyEngine::kind`].
    const PERSISTENT: bool = true;

    fn open(config: &EngineConfig) -> Result<Self> {
        let engine = match Engine::detect(&config.path)? {
            Some(engine) => engine,
            None => Engine::default_for_build().ok_or_else(|| {
                Error::Unsupported("this build compiled no storage engine".into())
            })?,
        };
        engine.open(config)
    }

    fn keyspace_names(&self) -> &[String] {
        dispatch!(self, AnyEngine, e => e.keyspace_names())
    }

    fn keyspace(&self, name: &str) -> Result<Keyspace> {
        dispatch!(self, AnyEngine, e => e.keyspace(name))
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        dispatch!(self, AnyEngine, e => e.get(keyspace, key))
    }

    fn write(&self, batch: &WriteBatch, durability: Durability) -> Result<()> {
        dispatch!(self, AnyEngine, e => e.write(batch, durability))
    }

    fn snapshot(&self) -> Result<AnySnapshot<'_>> {
        Ok(wrap!(self, AnyEngine, AnySnapshot, e => e.snapshot()?))
    }

    fn flush(&self) -> Result<()> {
        dispatch!(self, AnyEngine, e => e.flush())
    }
}

/// A snapshot of an [`AnyEngine`].
#[non_exhaustive]
pub enum AnySnapshot<'e> {
    /// Of the memory engine.
    #[cfg(feature = "mem")]
    Mem(<engine_mem::MemEngine as StorageEngine>::Snapshot<'e>),
    /// Of the LMDB engine.
    #[cfg(feature = "lmdb")]
    Lmdb(<engine_lmdb::LmdbEngine as StorageEngine>::Snapshot<'e>),
    /// Of the fjall engine.
    #[cfg(feature = "lsm")]
    Lsm(<engine_lsm::FjallEngine as StorageEngine>::Snapshot<'e>),
    /// Of the redb engine.
    #[cfg(feature = "redb")]
    Redb(<engine_redb::RedbEngine as StorageEngine>::Snapshot<'e>),
    #[doc(hidden)]
    _Lifetime(std::marker::PhantomData<&'e ()>, std::convert::Infallible),
}

impl Snapshot for AnySnapshot<'_> {
    type Iter<'s>
        = AnyIter<'s>
    where
        Self: 's;

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        match self {
            #[cfg(feature = "mem")]
            AnySnapshot::Mem(s) => s.get(keyspace, key),
            #[cfg(feature = "lmdb")]
            AnySnapshot::Lmdb(s) => s.get(keyspace, key),
            #[cfg(feature = "lsm")]
            AnySnapshot::Lsm(s) => s.get(keyspace, key),
            #[cfg(feature = "redb")]
            AnySnapshot::Redb(s) => s.get(keyspace, key),
            AnySnapshot::_Lifetime(_, never) => match *never {},
        }
    }

    fn scan(
        &self,
        keyspace: Keyspace,
        range: KeyRange,
        direction: Direction,
    ) -> Result<AnyIter<'_>> {
        Ok(match self {
            #[cfg(feature = "mem")]
            AnySnapshot::Mem(s) => AnyIter::Mem(s.scan(keyspace, range, direction)?),
            #[cfg(feature = "lmdb")]
            AnySnapshot::Lmdb(s) => AnyIter::Lmdb(s.scan(keyspace, range, direction)?),
            #[cfg(feature = "lsm")]
            AnySnapshot::Lsm(s) => AnyIter::Lsm(s.scan(keyspace, range, direction)?),
            #[cfg(feature = "redb")]
            AnySnapshot::Redb(s) => AnyIter::Redb(s.scan(keyspace, range, direction)?),
            AnySnapshot::_Lifetime(_, never) => match *never {},
        })
    }
}

type IterOf<'e, 's, E> = <<E as StorageEngine>::Snapshot<'e> as Snapshot>::Iter<'s>;

/// A range iterator of an [`AnySnapshot`].
// One iterator per scan, kept on the stack: its size matters less than an allocation per scan.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum AnyIter<'s> {
    /// Of the memory engine.
    #[cfg(feature = "mem")]
    Mem(IterOf<'s, 's, engine_mem::MemEngine>),
    /// Of the LMDB engine.
    #[cfg(feature = "lmdb")]
    Lmdb(IterOf<'s, 's, engine_lmdb::LmdbEngine>),
    /// Of the fjall engine.
    #[cfg(feature = "lsm")]
    Lsm(IterOf<'s, 's, engine_lsm::FjallEngine>),
    /// Of the redb engine.
    #[cfg(feature = "redb")]
    Redb(IterOf<'s, 's, engine_redb::RedbEngine>),
    #[doc(hidden)]
    _Lifetime(std::marker::PhantomData<&'s ()>, std::convert::Infallible),
}

impl Iterator for AnyIter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            #[cfg(feature = "mem")]
            AnyIter::Mem(i) => i.next(),
            #[cfg(feature = "lmdb")]
            AnyIter::Lmdb(i) => i.next(),
            #[cfg(feature = "lsm")]
            AnyIter::Lsm(i) => i.next(),
            #[cfg(feature = "redb")]
            AnyIter::Redb(i) => i.next(),
            AnyIter::_Lifetime(_, never) => match *never {},
        }
    }
}

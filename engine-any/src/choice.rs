//! The list of engines, whatever this build compiled, and parsing their names.

use std::fmt;
use std::str::FromStr;

use engine_api::Error;

/// Every storage engine of the project, whether or not this build compiled it.
///
/// Parse one from a configuration string with [`str::parse`]; aliases name the backing crate:
///
/// | name | aliases | engine |
/// |---|---|---|
/// | `mem` | `memory` | `engine_mem::MemEngine`, an ordered map in memory |
/// | `lmdb` | `heed` | `engine_lmdb::LmdbEngine` |
/// | `lsm` | `fjall` | `engine_lsm::FjallEngine` |
/// | `redb` | | `engine_redb::RedbEngine` |
///
/// ```
/// use engine_any::Engine;
/// assert_eq!("heed".parse::<Engine>().unwrap(), Engine::Lmdb);
/// assert_eq!("FJALL".parse::<Engine>().unwrap(), Engine::Lsm);
/// assert!("sqlite".parse::<Engine>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// In-memory ordered map; keeps nothing across restarts.
    Mem,
    /// LMDB through heed.
    Lmdb,
    /// LSM tree through fjall.
    Lsm,
    /// Copy-on-write B-tree through redb.
    Redb,
}

impl Engine {
    /// Every engine, in a fixed order.
    pub const ALL: [Engine; 4] = [Engine::Mem, Engine::Lmdb, Engine::Lsm, Engine::Redb];

    /// The canonical name, as written in configuration files and marker files.
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Mem => "mem",
            Engine::Lmdb => "lmdb",
            Engine::Lsm => "lsm",
            Engine::Redb => "redb",
        }
    }

    /// The cargo feature that compiles this engine in.
    pub const fn feature(self) -> &'static str {
        self.name()
    }

    /// True when this build compiled the engine in.
    pub const fn is_available(self) -> bool {
        match self {
            Engine::Mem => cfg!(feature = "mem"),
            Engine::Lmdb => cfg!(feature = "lmdb"),
            Engine::Lsm => cfg!(feature = "lsm"),
            Engine::Redb => cfg!(feature = "redb"),
        }
    }

    /// The engines this build compiled in.
    pub fn available() -> Vec<Engine> {
        Engine::ALL
            .into_iter()
            .filter(|e| e.is_available())
            .collect()
    }

    /// The engine used when the configuration names none: the first engine of this build in
    /// the order `lsm`, `lmdb`, `redb`, `mem`; `None` when none is compiled.
    ///
    /// fjall (`lsm`) comes first because a Dynamo replica acknowledges a write only once it is
    /// durable, and fjall's `Sync` write (one journal fsync) measured fastest in
    /// `BENCHMARKS.md`; LMDB, faster for reads and scans, is the choice for read-heavy use.
    pub fn default_for_build() -> Option<Engine> {
        [Engine::Lsm, Engine::Lmdb, Engine::Redb, Engine::Mem]
            .into_iter()
            .find(|e| e.is_available())
    }

    /// The error for an engine this build lacks, naming the feature that adds it.
    pub fn unavailable_error(self) -> Error {
        let compiled: Vec<&str> = Engine::available().into_iter().map(Engine::name).collect();
        Error::Unsupported(format!(
            "engine {:?} is not available in this build (compiled engines: {}); rebuild with the cargo feature {:?}",
            self.name(),
            if compiled.is_empty() {
                "none".to_owned()
            } else {
                compiled.join(", ")
            },
            self.feature()
        ))
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown storage engine {0:?}: expected one of mem, lmdb (heed), lsm (fjall), redb")]
pub struct UnknownEngine(pub String);

impl FromStr for Engine {
    type Err = UnknownEngine;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mem" | "memory" => Ok(Engine::Mem),
            "lmdb" | "heed" => Ok(Engine::Lmdb),
            "lsm" | "fjall" => Ok(Engine::Lsm),
            "redb" => Ok(Engine::Redb),
            _ => Err(UnknownEngine(s.to_owned())),
        }
    }
}

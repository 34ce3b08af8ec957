//! The one error type shared by every engine.

use std::path::PathBuf;

/// A boxed error from an engine's backing crate, kept as the [`std::error::Error::source`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the engine crates.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a storage engine.
///
/// Every engine maps its backing crate's errors onto these variants so that callers (the Dynamo
/// node, the server) can react to the *kind* of failure without knowing which engine runs. The
/// backing error is always kept as [`std::error::Error::source`], never flattened into a string.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused or failed an operation on a file or directory.
    ///
    /// A path without permission shows up here with
    /// [`std::io::ErrorKind::PermissionDenied`].
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Stored bytes are damaged: a checksum failed, a page is unreadable, a file is truncated.
    #[error("corrupted data in {engine} store: {message}")]
    Corruption {
        /// Which engine found the damage.
        engine: &'static str,
        /// What was found to be damaged.
        message: String,
        /// The backing crate's error, if it raised one.
        #[source]
        source: Option<BoxError>,
    },

    /// The directory holds files of another engine, or of no engine at all, or of an
    /// unsupported format version.
    #[error("{} does not hold a {expected} store: {found}", path.display())]
    WrongFormat {
        /// The engine that was asked to open the directory.
        expected: &'static str,
        /// What the directory holds instead.
        found: String,
        /// The directory that was opened.
        path: PathBuf,
    },

    /// The store reached its configured size limit or the disk is full.
    #[error("{engine} store is full: {message}")]
    Full {
        /// Which engine is full.
        engine: &'static str,
        /// What limit was reached, and how to raise it.
        message: String,
        /// The backing crate's error, if it raised one.
        #[source]
        source: Option<BoxError>,
    },

    /// The engine cannot do what was asked (for example, an engine left out of this build).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A key the engines cannot all store: empty, or longer than [`crate::MAX_KEY_LEN`].
    /// Checked before anything of a batch is applied.
    #[error("invalid key of {len} bytes: keys must be 1 to {max} bytes long", max = crate::MAX_KEY_LEN)]
    InvalidKey {
        /// Length of the rejected key.
        len: usize,
    },

    /// A keyspace handle or name that the engine was not opened with.
    #[error("unknown keyspace {0:?}")]
    UnknownKeyspace(String),

    /// The configuration given to `open` is invalid.
    #[error("invalid engine configuration: {0}")]
    InvalidConfig(String),

    /// A previous operation failed in a way that leaves the store's state or durability unknown
    /// (a failed fsync; with redb, also a read error on a damaged file). The only safe move is
    /// to stop and reopen the store.
    #[error("{engine} store is poisoned after an earlier failed write; reopen it")]
    Poisoned {
        /// Which engine is poisoned.
        engine: &'static str,
    },

    /// Any other failure of the backing crate.
    #[error("{engine} engine failed: {message}")]
    Backend {
        /// Which engine failed.
        engine: &'static str,
        /// What the engine was doing.
        message: String,
        /// The backing crate's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the operating system denied access to a file or directory.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied)
    }
}

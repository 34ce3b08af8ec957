//! Mapping of heed and LMDB errors onto [`engine_api::Error`].
//!
//! Every mapping keeps the heed error as the source, except where the target variant has no
//! source field ([`Error::WrongFormat`], [`Error::Poisoned`]), and puts the file or directory
//! concerned into I/O errors.

use std::io::{self, ErrorKind};
use std::path::Path;

use engine_api::Error;
use heed::MdbError;

/// The engine name used in errors, as in [`crate::LmdbEngine`]'s `NAME`.
pub(crate) const ENGINE: &str = "lmdb";

/// What the engine knows about itself when it turns a heed error into an [`Error`].
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext {
    /// The store's directory, named by errors about the environment as a whole.
    pub(crate) dir: std::path::PathBuf,
    /// The LMDB map size in bytes, named by [`Error::Full`].
    pub(crate) map_size: usize,
    /// True when the map size is the engine's default (no `max_size_bytes` was given).
    pub(crate) default_map_size: bool,
}

impl ErrorContext {
    /// Maps `err`, which happened while the engine was `doing` something, onto an [`Error`].
    pub(crate) fn map(&self, err: heed::Error, doing: &str) -> Error {
        match err {
            heed::Error::Io(source) => io_error(&self.dir, source, doing),
            heed::Error::Mdb(mdb) => self.map_mdb(mdb, doing),
            heed::Error::EnvAlreadyOpened => Error::Backend {
                engine: ENGINE,
                message: format!(
                    "{doing}: the store at {} is already open in this process; drop the other \
                     LmdbEngine on it first (LMDB must not open one environment twice in a process)",
                    self.dir.display()
                ),
                source: Box::new(heed::Error::EnvAlreadyOpened),
            },
            other @ (heed::Error::Encoding(_) | heed::Error::Decoding(_)) => Error::Backend {
                engine: ENGINE,
                message: doing.to_owned(),
                source: Box::new(other),
            },
        }
    }

    fn map_mdb(&self, mdb: MdbError, doing: &str) -> Error {
        match mdb {
            MdbError::MapFull => Error::Full {
                engine: ENGINE,
                message: format!(
                    "{doing}: the LMDB map of {} bytes{} is used up; reopen the store with a \
                     larger EngineConfig::max_size_bytes to raise the limit",
                    self.map_size,
                    if self.default_map_size {
                        " (the engine's default size)"
                    } else {
                        " (EngineConfig::max_size_bytes rounded up)"
                    }
                ),
                source: Some(Box::new(heed::Error::Mdb(mdb))),
            },
            MdbError::Corrupted | MdbError::PageNotFound | MdbError::Invalid => Error::Corruption {
                engine: ENGINE,
                message: format!(
                    "{doing}: LMDB found damaged data in {}: {mdb}",
                    self.dir.display()
                ),
                source: Some(Box::new(heed::Error::Mdb(mdb))),
            },
            MdbError::VersionMismatch => Error::WrongFormat {
                expected: ENGINE,
                found: format!("an LMDB data file of another LMDB format version ({mdb})"),
                path: self.dir.clone(),
            },
            // LMDB sets its fatal flag when writing a meta page failed: the environment refuses
            // every further transaction and must be reopened.
            MdbError::Panic => Error::Poisoned { engine: ENGINE },
            other => Error::Backend {
                engine: ENGINE,
                message: doing.to_owned(),
                source: Box::new(heed::Error::Mdb(other)),
            },
        }
    }
}

/// Maps an operating system error about `path`: a full disk is [`Error::Full`], anything else
/// [`Error::Io`] (so that a denied permission stays [`ErrorKind::PermissionDenied`]).
pub(crate) fn io_error(path: &Path, source: io::Error, doing: &str) -> Error {
    if matches!(
        source.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    ) {
        Error::Full {
            engine: ENGINE,
            message: format!(
                "{doing}: the disk holding {} is full or over quota; free space on it",
                path.display()
            ),
            source: Some(Box::new(source)),
        }
    } else {
        Error::io(path, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext {
        ErrorContext {
            dir: "/some/store".into(),
            map_size: 1 << 20,
            default_map_size: false,
        }
    }

    #[test]
    fn map_full_says_how_to_raise_the_limit() {
        let err = ctx().map(heed::Error::Mdb(MdbError::MapFull), "write");
        match &err {
            Error::Full {
                message, source, ..
            } => {
                assert!(message.contains("max_size_bytes"), "{message}");
                assert!(message.contains("1048576"), "{message}");
                assert!(source.is_some());
            }
            other => panic!("expected Full, got {other:?}"),
        }
    }

    #[test]
    fn permission_denied_stays_io() {
        let err = ctx().map(
            heed::Error::Io(io::Error::from_raw_os_error(1)), // EPERM, as chattr +i gives
            "open",
        );
        assert!(err.is_permission_denied(), "{err:?}");
        let err = ctx().map(heed::Error::Io(io::Error::from_raw_os_error(13)), "open"); // EACCES
        assert!(err.is_permission_denied(), "{err:?}");
        match err {
            Error::Io { path, .. } => assert_eq!(path, Path::new("/some/store")),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn damage_and_versions() {
        for mdb in [
            MdbError::Corrupted,
            MdbError::PageNotFound,
            MdbError::Invalid,
        ] {
            let err = ctx().map(heed::Error::Mdb(mdb), "read");
            assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
            assert!(std::error::Error::source(&err).is_some());
        }
        let err = ctx().map(heed::Error::Mdb(MdbError::VersionMismatch), "open");
        assert!(
            matches!(
                err,
                Error::WrongFormat {
                    expected: "lmdb",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = ctx().map(heed::Error::Mdb(MdbError::Panic), "write");
        assert!(matches!(err, Error::Poisoned { .. }), "{err:?}");
        let err = ctx().map(heed::Error::Mdb(MdbError::ReadersFull), "snapshot");
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn full_disk_is_full() {
        let err = ctx().map(heed::Error::Io(io::Error::from_raw_os_error(28)), "commit"); // ENOSPC
        assert!(matches!(err, Error::Full { .. }), "{err:?}");
    }
}

//! Mapping of fjall's and lsm-tree's errors (and panics) onto [`engine_api::Error`].
//!
//! fjall's errors do not say which file an I/O error is about, so [`Error::Io`] carries the
//! store's fjall directory. Every mapped error keeps fjall's error as its source.

use std::any::Any;
use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use engine_api::Error;

use crate::ENGINE;

/// Maps an error of fjall, raised while doing `what`, for the store whose fjall directory is
/// `dir`.
#[cold]
#[inline(never)]
pub(crate) fn from_fjall(err: fjall::Error, dir: &Path, what: &str) -> Error {
    use fjall::Error as F;
    match err {
        F::Io(source) => from_io(source, dir, what),
        F::Storage(inner) => from_lsm(inner, dir, what),
        F::Poisoned => Error::Poisoned { engine: ENGINE },
        F::InvalidVersion(version) => Error::WrongFormat {
            expected: ENGINE,
            found: match version {
                Some(v) => format!("a fjall store of format version {}", u8::from(v)),
                None => "an unreadable fjall version file".into(),
            },
            path: dir.to_owned(),
        },
        err @ (F::JournalRecovery(_)
        | F::Decompress(_)
        | F::InvalidTrailer
        | F::InvalidTag(_)
        | F::Unrecoverable) => corruption(what, err),
        F::Locked => Error::Backend {
            engine: ENGINE,
            message: format!(
                "{what}: the store is already open (fjall's lock file in {} is held by another engine instance or process)",
                dir.display()
            ),
            source: Box::new(F::Locked),
        },
        other => Error::Backend {
            engine: ENGINE,
            message: what.to_owned(),
            source: Box::new(other),
        },
    }
}

/// Maps an error of lsm-tree (the trees under fjall's keyspaces).
#[cold]
#[inline(never)]
pub(crate) fn from_lsm(err: fjall::LsmError, dir: &Path, what: &str) -> Error {
    use fjall::LsmError as L;
    match err {
        L::Io(source) => from_io(source, dir, what),
        L::InvalidVersion(v) => Error::WrongFormat {
            expected: ENGINE,
            found: format!("an LSM tree of format version {v}"),
            path: dir.to_owned(),
        },
        err @ (L::Decompress(_)
        | L::Unrecoverable
        | L::ChecksumMismatch { .. }
        | L::InvalidTag(_)
        | L::InvalidTrailer
        | L::InvalidHeader(_)
        | L::Utf8(_)) => corruption(what, err),
        other => Error::Backend {
            engine: ENGINE,
            message: what.to_owned(),
            source: Box::new(other),
        },
    }
}

/// Maps an I/O error.
///
/// A full disk or quota is [`Error::Full`]. A file that ends too early or holds bytes that do
/// not decode (fjall's decoders report both as I/O errors, `UnexpectedEof` and `InvalidData`),
/// and a file that fjall's own manifests name but that is gone (`NotFound`: fjall's directory
/// itself was checked when the store was opened) are [`Error::Corruption`]. Anything else,
/// permission denied included, stays [`Error::Io`] with its kind.
pub(crate) fn from_io(source: std::io::Error, dir: &Path, what: &str) -> Error {
    match source.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
            Error::Full {
                engine: ENGINE,
                message: format!("{what}: {source}; free disk space in {}", dir.display()),
                source: Some(Box::new(source)),
            }
        }
        ErrorKind::UnexpectedEof | ErrorKind::InvalidData => corruption(what, source),
        ErrorKind::NotFound => Error::Corruption {
            engine: ENGINE,
            message: format!(
                "{what}: a file of the store is missing from {}",
                dir.display()
            ),
            source: Some(Box::new(source)),
        },
        _ => Error::io(dir, source),
    }
}

fn corruption(what: &str, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Corruption {
        engine: ENGINE,
        message: format!("{what}: {err}"),
        source: Some(Box::new(err)),
    }
}

/// Runs `f`, turning a panic inside fjall into [`Error::Corruption`].
///
/// fjall and lsm-tree decode their files with assertions and `expect`s in places; on damaged
/// files those would panic. This boundary makes sure a caller of the engine gets a typed error
/// instead. (A panic in one of fjall's background threads is not caught here: fjall poisons the
/// database instead, and the next write returns [`Error::Poisoned`].)
#[inline]
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match catch_panic(f) {
        Ok(result) => result,
        Err(payload) => Err(panic_error(what, payload.as_ref())),
    }
}

/// `catch_unwind` for the engine's calls into fjall. fjall's state behind a caught panic is
/// not trusted further than its own lock poisoning: a panicking write leaves the journal's lock
/// poisoned, and fjall then refuses writes with `Poisoned`.
#[inline]
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(f))
}

/// The error for a panic caught while doing `what`.
#[cold]
#[inline(never)]
pub(crate) fn panic_error(what: &str, payload: &(dyn Any + Send)) -> Error {
    Error::Corruption {
        engine: ENGINE,
        message: format!(
            "fjall panicked while {what} ({}); the store's files are probably damaged",
            panic_message(payload)
        ),
        source: None,
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "no message"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_stays_io() {
        let err = from_fjall(
            fjall::Error::Io(std::io::Error::from_raw_os_error(1)), // EPERM
            Path::new("/x"),
            "opening",
        );
        assert!(err.is_permission_denied(), "{err:?}");
    }

    #[test]
    fn short_or_missing_files_are_corruption() {
        for kind in [
            ErrorKind::UnexpectedEof,
            ErrorKind::InvalidData,
            ErrorKind::NotFound,
        ] {
            let err = from_lsm(
                fjall::LsmError::Io(std::io::Error::from(kind)),
                Path::new("/x"),
                "opening",
            );
            assert!(matches!(err, Error::Corruption { .. }), "{kind:?}: {err:?}");
        }
    }

    #[test]
    fn no_space_is_full() {
        let err = from_fjall(
            fjall::Error::Io(std::io::Error::from_raw_os_error(28)), // ENOSPC
            Path::new("/x"),
            "writing",
        );
        assert!(matches!(err, Error::Full { .. }), "{err:?}");
        let err = from_fjall(
            fjall::Error::Storage(fjall::LsmError::Io(std::io::Error::from_raw_os_error(28))),
            Path::new("/x"),
            "flushing",
        );
        assert!(matches!(err, Error::Full { .. }), "{err:?}");
    }

    #[test]
    fn damage_is_corruption_with_source() {
        let err = from_fjall(
            fjall::Error::Storage(fjall::LsmError::InvalidHeader("table")),
            Path::new("/x"),
            "reading",
        );
        match err {
            Error::Corruption { source, .. } => assert!(source.is_some()),
            other => panic!("{other:?}"),
        }
        let err = from_fjall(
            fjall::Error::JournalRecovery(fjall::JournalRecoveryError::ChecksumMismatch),
            Path::new("/x"),
            "recovering",
        );
        assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
    }

    #[test]
    fn version_is_wrong_format_and_poison_is_poisoned() {
        let err = from_fjall(
            fjall::Error::InvalidVersion(None),
            Path::new("/x"),
            "opening",
        );
        assert!(matches!(err, Error::WrongFormat { .. }), "{err:?}");
        let err = from_fjall(fjall::Error::Poisoned, Path::new("/x"), "writing");
        assert!(matches!(err, Error::Poisoned { engine: "lsm" }), "{err:?}");
        let err = from_fjall(fjall::Error::Locked, Path::new("/x"), "opening");
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    }

    #[test]
    fn panics_become_corruption() {
        let err = guard::<()>("testing", || panic!("boom")).unwrap_err();
        match err {
            Error::Corruption { message, .. } => assert!(message.contains("boom"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}

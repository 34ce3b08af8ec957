//! Mapping of redb's errors, and of its panics, onto [`engine_api::Error`].
//!
//! redb reports failures through several enums (`DatabaseError`, `TransactionError`,
//! `TableError`, `StorageError`, `CommitError`, ...), all of which convert into the umbrella
//! [`redb::Error`]; [`from_redb`] sorts that one by kind. The redb error is always kept as the
//! source (for [`Error::Io`], the operating system's error, which is what redb wraps).
//!
//! redb may panic on a file damaged behind its back (its own documentation says a plain open
//! "may panic" on a file altered since redb last wrote it, and debug builds turn several "cannot
//! happen" checks into assertions). [`guard`] runs each call into redb under
//! [`std::panic::catch_unwind`] and turns a panic into [`Error::Corruption`].

use std::any::Any;
use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use engine_api::{Error, Result};

use crate::NAME;

/// Maps any redb error to our error, `file` being the database file it concerns.
pub(crate) fn from_redb(err: impl Into<redb::Error>, file: &Path) -> Error {
    let err: redb::Error = err.into();
    match err {
        redb::Error::Io(source) => from_io(source, file),
        redb::Error::Corrupted(_) => {
            corruption(format!("{} is damaged", file.display()), Box::new(err))
        }
        redb::Error::RepairAborted => corruption(
            format!(
                "{} needed a repair after an unclean shutdown and the repair failed",
                file.display()
            ),
            Box::new(err),
        ),
        redb::Error::UpgradeRequired(version) => Error::WrongFormat {
            expected: NAME,
            found: format!(
                "a redb file of format version {version}, which this build of redb cannot open ({err})"
            ),
            path: file.to_owned(),
        },
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TypeDefinitionChanged { .. } => Error::WrongFormat {
            expected: NAME,
            found: format!("a redb file with tables of other types ({err})"),
            path: file.to_owned(),
        },
        // Once redb's storage failed an I/O operation (a failed fsync, a full disk), it refuses
        // everything until it is reopened; a poisoned internal lock (a panic inside redb) leaves
        // it in the same state.
        redb::Error::PreviousIo | redb::Error::LockPoisoned(_) => Error::Poisoned { engine: NAME },
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => backend(
            format!(
                "{} is already open, by another engine in this process or by another process",
                file.display()
            ),
            Box::new(err),
        ),
        redb::Error::ValueTooLarge(len) => backend(
            format!("a value or key of {len} bytes is larger than redb stores (3 GiB)"),
            Box::new(err),
        ),
        redb::Error::Backend(source) => {
            // An I/O error that a storage backend boxed is still an I/O error.
            match source.downcast::<std::io::Error>() {
                Ok(io) => from_io(*io, file),
                Err(source) => backend(format!("storage backend of {}", file.display()), source),
            }
        }
        other => backend(format!("operation on {}", file.display()), Box::new(other)),
    }
}

/// Maps an operating system error on `file`: a full disk is [`Error::Full`], a file that is
/// not a redb database (bad magic number, empty) or is read past its end is
/// [`Error::Corruption`] (the directory's marker says it holds a redb store), the rest
/// [`Error::Io`] with its kind kept.
pub(crate) fn from_io(source: std::io::Error, file: &Path) -> Error {
    match source.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
            Error::Full {
                engine: NAME,
                message: format!(
                    "no room to write {}: free disk space, then reopen the store",
                    file.display()
                ),
                source: Some(Box::new(source)),
            }
        }
        ErrorKind::InvalidData => corruption(
            format!("{} is not a valid redb database file", file.display()),
            Box::new(source),
        ),
        ErrorKind::UnexpectedEof => corruption(
            format!(
                "a read ran past the end of {}: the file was truncated, or a page reference in it is damaged",
                file.display()
            ),
            Box::new(source),
        ),
        _ => Error::io(file, source),
    }
}

fn corruption(message: String, source: engine_api::BoxError) -> Error {
    Error::Corruption {
        engine: NAME,
        message,
        source: Some(source),
    }
}

fn backend(message: String, source: engine_api::BoxError) -> Error {
    Error::Backend {
        engine: NAME,
        message,
        source,
    }
}

/// Runs `f`, turning a panic inside redb into [`Error::Corruption`].
///
/// Costs nothing measurable when nothing panics. Does not help in a build with
/// `panic = "abort"`.
#[inline]
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(from_panic(payload.as_ref())),
    }
}

/// The error for a panic caught in redb, carrying the panic's message.
#[cold]
pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    Error::Corruption {
        engine: NAME,
        message: format!("redb panicked, most likely on damaged data: {what}"),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::path::PathBuf;

    fn file() -> PathBuf {
        PathBuf::from("/store/data.redb")
    }

    #[test]
    fn io_kinds() {
        let denied = from_redb(
            redb::StorageError::Io(std::io::Error::from(ErrorKind::PermissionDenied)),
            &file(),
        );
        assert!(denied.is_permission_denied(), "{denied:?}");
        assert!(matches!(denied, Error::Io { ref path, .. } if *path == file()));

        let full = from_redb(
            redb::DatabaseError::Storage(redb::StorageError::Io(
                std::io::Error::from_raw_os_error(
                    28, // ENOSPC
                ),
            )),
            &file(),
        );
        assert!(matches!(full, Error::Full { .. }), "{full:?}");

        let boxed = from_redb(
            redb::StorageError::Backend(Box::new(std::io::Error::from(ErrorKind::StorageFull))),
            &file(),
        );
        assert!(matches!(boxed, Error::Full { .. }), "{boxed:?}");

        let not_db = from_redb(
            redb::StorageError::Io(std::io::Error::new(ErrorKind::InvalidData, "magic")),
            &file(),
        );
        assert!(matches!(not_db, Error::Corruption { .. }), "{not_db:?}");
    }

    #[test]
    fn redb_kinds() {
        let e = from_redb(redb::StorageError::Corrupted("x".into()), &file());
        assert!(matches!(e, Error::Corruption { .. }), "{e:?}");
        let e = from_redb(redb::DatabaseError::RepairAborted, &file());
        assert!(matches!(e, Error::Corruption { .. }), "{e:?}");
        let e = from_redb(redb::DatabaseError::UpgradeRequired(1), &file());
        assert!(matches!(e, Error::WrongFormat { .. }), "{e:?}");
        let e = from_redb(redb::StorageError::PreviousIo, &file());
        assert!(matches!(e, Error::Poisoned { .. }), "{e:?}");
        let e = from_redb(
            redb::CommitError::Storage(redb::StorageError::PreviousIo),
            &file(),
        );
        assert!(matches!(e, Error::Poisoned { .. }), "{e:?}");
        let e = from_redb(redb::DatabaseError::DatabaseAlreadyOpen, &file());
        match e {
            Error::Backend {
                message, source, ..
            } => {
                assert!(message.contains("already open"), "{message}");
                assert!(source.to_string().contains("already open"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn panics_become_corruption() {
        let e = guard::<()>(|| panic!("bad page")).unwrap_err();
        match e {
            Error::Corruption { message, .. } => assert!(message.contains("bad page")),
            other => panic!("{other:?}"),
        }
        assert_eq!(guard(|| Ok(7)).unwrap(), 7);
    }
}

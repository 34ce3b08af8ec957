//! The store's directory: our marker, and fjall's files in a subdirectory.
//!
//! ```text
//! <path>/DYNAMO_ENGINE     marker written by engine_api::marker::claim_dir ("lsm", format 1)
//! <path>/fjall/            fjall's database: version, lock, *.jnl journals, keyspaces/<id>/...
//! ```
//!
//! fjall's files live in a subdirectory so that fjall never sees a file it did not make, and so
//! that a creation cut short (by a crash during the very first open) can be told apart from a
//! damaged store: fjall writes its `version` file after its lock file and first journal but
//! before any keyspace, and a store only accepts writes once `open` returned.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use engine_api::{Error, Result};

use crate::ENGINE;

/// Name of the subdirectory of the store's directory that holds fjall's database.
pub const FJALL_DIR: &str = "fjall";

/// Version of our layout on top of fjall's files, recorded in the marker file.
pub(crate) const LAYOUT_FORMAT: u32 = 1;

/// fjall's file recording its format version, written last when a database is created.
const FJALL_VERSION_FILE: &str = "version";
/// fjall's folder of keyspaces; its first entry (the meta keyspace) is made right after
/// the version file.
const FJALL_KEYSPACES_DIR: &str = "keyspaces";

/// Claims `store` for this engine and readies its fjall subdirectory; returns that subdirectory.
///
/// # Errors
/// [`Error::WrongFormat`] for a directory of another engine or of unknown files (from
/// [`engine_api::marker::claim_dir`]); [`Error::Corruption`] when fjall's version file is gone
/// from a store that holds keyspaces; [`Error::Io`] for file-system failures.
pub(crate) fn prepare(store: &Path) -> Result<PathBuf> {
    engine_api::marker::claim_dir(store, ENGINE, LAYOUT_FORMAT)?;
    let dir = store.join(FJALL_DIR);
    match fs::symlink_metadata(dir.join(FJALL_VERSION_FILE)) {
        Ok(_) => Ok(dir),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            discard_unfinished_creation(&dir)?;
            Ok(dir)
        }
        Err(e) => Err(Error::io(dir.join(FJALL_VERSION_FILE), e)),
    }
}

/// `dir` has no fjall version file: it is missing (a new store), or fjall's creation of it was
/// cut short (no keyspace yet, so no data: it is removed and made again), or the version file
/// was lost from a store with data (an error; nothing is touched).
fn discard_unfinished_creation(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Corruption {
                engine: ENGINE,
                message: format!("{} is not a directory", dir.display()),
                source: None,
            });
        }
        Ok(_) => {}
    }
    let keyspaces = dir.join(FJALL_KEYSPACES_DIR);
    let has_keyspaces = match fs::read_dir(&keyspaces) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io(&keyspaces, e)),
    };
    if has_keyspaces {
        return Err(Error::Corruption {
            engine: ENGINE,
            message: format!(
                "fjall's {FJALL_VERSION_FILE} file is missing from {}, which holds keyspaces",
                dir.display()
            ),
            source: None,
        });
    }
    fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
}

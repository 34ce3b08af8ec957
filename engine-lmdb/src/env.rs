//! Opening the LMDB environment: map size, flags, and the one `unsafe` call of the crate.

use std::path::Path;

use engine_api::{Error, Result};
use heed::{Env, EnvFlags, EnvOpenOptions, WithoutTls};

/// Map size used when [`engine_api::EngineConfig::max_size_bytes`] is `None`: 1 TiB on 64-bit
/// targets. LMDB's map is a reservation of address space, not of disk or memory: the data file
/// grows only as pages are written, so a large default costs nothing until it is used.
#[cfg(target_pointer_width = "64")]
pub const DEFAULT_MAP_SIZE: u64 = 1 << 40;

/// Map size used when [`engine_api::EngineConfig::max_size_bytes`] is `None`: 1 GiB on 32-bit
/// targets, whose address space is small.
#[cfg(not(target_pointer_width = "64"))]
pub const DEFAULT_MAP_SIZE: u64 = 1 << 30;

/// Smallest accepted map size. LMDB needs a few pages for its two meta pages and the roots of
/// the keyspaces; below this, every write would be [`Error::Full`].
pub const MIN_MAP_SIZE: u64 = 64 * 1024;

/// Map sizes are rounded up to a multiple of this, which is a multiple of every common OS page
/// size (4, 16 and 64 KiB), as LMDB requires.
const MAP_SIZE_GRANULE: u64 = 64 * 1024;

/// Reader slots in the lock file: each live snapshot, and each `get` while it runs, holds one.
pub const MAX_READERS: u32 = 1024;

/// Name of LMDB's data file inside the store directory.
pub(crate) const DATA_FILE: &str = "data.mdb";

/// The map size for `max_size_bytes`, rounded up to [`MAP_SIZE_GRANULE`]; and whether it is
/// the default.
///
/// # Errors
/// [`Error::InvalidConfig`] for a size below [`MIN_MAP_SIZE`] or beyond the address space.
pub(crate) fn map_size(max_size_bytes: Option<u64>) -> Result<(usize, bool)> {
    let (bytes, default) = match max_size_bytes {
        None => (DEFAULT_MAP_SIZE, true),
        Some(n) if n < MIN_MAP_SIZE => {
            return Err(Error::InvalidConfig(format!(
                "max_size_bytes of {n} is below the LMDB engine's minimum of {MIN_MAP_SIZE} bytes"
            )));
        }
        Some(n) => (n, false),
    };
    let rounded = bytes
        .checked_next_multiple_of(MAP_SIZE_GRANULE)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            Error::InvalidConfig(format!(
                "max_size_bytes of {bytes} does not fit in this machine's address space"
            ))
        })?;
    Ok((rounded, default))
}

/// Opens the LMDB environment in `dir` (which [`engine_api::marker::claim_dir`] has claimed),
/// with read transactions not tied to threads, and commits that are written to the OS but not
/// fsynced (the engine fsyncs itself after `Sync` writes; see the crate documentation).
///
/// # Errors
/// heed's error; `heed::Error::EnvAlreadyOpened` when this process has the store open already.
#[allow(unsafe_code)]
pub(crate) fn open_env(dir: &Path, map_size: usize, max_dbs: u32) -> heed::Result<Env<WithoutTls>> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options
        .map_size(map_size)
        .max_dbs(max_dbs)
        .max_readers(MAX_READERS);
    // SAFETY: heed marks `flags` unsafe because flags such as NO_SYNC weaken LMDB's durability
    // guarantees, not memory safety. NO_SYNC only skips the fdatasync of each commit: every
    // commit still reaches the OS with write(2) before it returns (WRITE_MAP is not set, so
    // nothing stays in a dirty shared mapping), and the engine calls `Env::force_sync` after
    // every `Sync` write, in `flush` and on drop, which gives back the durability promised.
    unsafe {
        options.flags(EnvFlags::NO_SYNC);
    }
    // SAFETY: LMDB maps the data file into memory; the map is undefined behaviour only if the
    // file changes outside LMDB's locking protocol. (1) The same environment is never opened
    // twice in this process: heed 0.23 keeps a process-wide registry of open environments,
    // keyed by canonical path, and fails with `EnvAlreadyOpened` instead (checked in
    // heed-0.23.1/src/envs/env_open_options.rs; tested in tests/open_twice.rs). So LMDB's
    // POSIX record locks, which a second open in the same process would silently release, stay
    // valid. (2) Other processes share the environment through LMDB's lock file: NO_LOCK is not
    // set. (3) The directory is claimed for this engine by its marker file, and nothing in this
    // crate writes LMDB's files except LMDB. (4) Damaged files are not a memory-safety matter
    // of this call, which reads only the meta pages: before any transaction reads a data page,
    // the engine checks the file's structure (`verify.rs`).
    unsafe { options.open(dir) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_sizes() {
        assert_eq!(map_size(None).unwrap(), (DEFAULT_MAP_SIZE as usize, true));
        assert_eq!(map_size(Some(MIN_MAP_SIZE)).unwrap(), (65536, false));
        assert_eq!(map_size(Some(100_000)).unwrap(), (131_072, false));
        assert!(matches!(map_size(Some(0)), Err(Error::InvalidConfig(_))));
        assert!(matches!(
            map_size(Some(u64::MAX)),
            Err(Error::InvalidConfig(_))
        ));
    }
}

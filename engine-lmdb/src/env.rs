//! Opening the LMDB environment: map size, flags, and the one `unsafe` call of the crate.

use std::path::Path;

use engine_api::{Error, Result};
use heed::{Env, EnvFlags, EnvOpenOptions, FlagSetMode, WithoutTls};

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
/// with read transactions not tied to threads, and `NO_SYNC` on: commits are written to the OS
/// but not fsynced, unless the engine turns `NO_SYNC` off for a `Sync` write
/// ([`set_no_sync`]; see the crate documentation).
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
    // nothing stays in a dirty shared mapping); the engine turns NO_SYNC off for `Sync` writes
    // and calls `Env::force_sync` in `flush` and on drop, which gives back the durability
    // promised.
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

/// Turns LMDB's `NO_SYNC` on or off for the commits that begin after this call.
///
/// With `NO_SYNC` off, LMDB commits in its crash-safe order: data pages are written and
/// fdatasynced, then the meta page is written and synced. `Sync` writes commit that way, so a
/// power loss while one is in flight loses at most that write; `Buffered` writes commit with
/// `NO_SYNC` on.
///
/// The caller must hold the engine's write lock: LMDB requires that only one thread changes
/// the flags at a time, and the flag must not change between the start and the commit of
/// another thread's write transaction.
///
/// # Errors
/// heed's error if LMDB refuses the flag change.
#[allow(unsafe_code)]
pub(crate) fn set_no_sync(env: &Env<WithoutTls>, on: bool) -> heed::Result<()> {
    let mode = if on {
        FlagSetMode::Enable
    } else {
        FlagSetMode::Disable
    };
    // SAFETY: (1) only one thread calls this at a time: every caller holds the engine's write
    // lock (`LmdbEngine::write`), and `open_env` sets flags before the engine is shared.
    // (2) NO_SYNC weakens durability, not memory safety; the engine turns it off for every
    // `Sync` commit and documents what `Buffered` commits risk.
    unsafe { env.set_flags(EnvFlags::NO_SYNC, mode) }
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

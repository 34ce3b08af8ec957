//! The conformance suite: one set of scenarios that every engine must pass.
//!
//! Each engine crate runs the whole suite with one line in `tests/conformance.rs`:
//!
//! ```ignore
//! engine_api::conformance_tests!(engine_lmdb::LmdbEngine);
//! ```
//!
//! The macro must be invoked at the top level of the test file (the crash test re-runs the test
//! binary and finds its child entry point by name).
//!
//! Scenarios that need persistence (reopen, crash, bad directories) return early for an engine
//! whose [`StorageEngine::PERSISTENT`] is false, printing why: a memory engine keeps nothing
//! across a process restart and has no directory to get wrong. Its crash model,
//! `simulate_crash`, is tested in `engine-mem` itself. No other scenario is skipped.

pub mod bad_input;
pub mod crash;
pub mod model;
pub mod scenarios;

use std::path::{Path, PathBuf};

use crate::{EngineConfig, Result, StorageEngine};

/// A temporary directory holding one store, removed when dropped.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A fresh, empty temporary directory.
    ///
    /// # Panics
    /// When no temporary directory can be made (a broken test machine).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("engine-conformance-")
                .tempdir()
                .expect("create a temporary directory"),
        }
    }

    /// Where the store lives (a subdirectory the engine creates).
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The temporary directory itself.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Opens engine `E` on the store path with the given keyspaces.
    ///
    /// # Errors
    /// Whatever `E::open` returns.
    pub fn open<E: StorageEngine>(&self, keyspaces: &[&str]) -> Result<E> {
        E::open(&EngineConfig::new(
            self.store_path(),
            keyspaces.iter().copied(),
        ))
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

/// Prints why a scenario does not apply to a volatile engine, and says whether it should run.
pub fn needs_persistence<E: StorageEngine>(scenario: &str) -> bool {
    if !E::PERSISTENT {
        println!(
            "{scenario}: not applicable to the {} engine, which keeps nothing across a restart",
            E::NAME
        );
    }
    E::PERSISTENT
}

/// A small deterministic pseudo-random generator (SplitMix64), so the suite needs no `rand`.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Runs every scenario of the suite against engine `$engine` as `#[test]` functions.
#[macro_export]
macro_rules! conformance_tests {
    ($engine:ty) => {
        $crate::conformance_tests!(@scenarios $engine;
            get_put_delete,
            overwrite_and_delete_absent,
            batch_applies_in_order,
            batch_is_atomic_across_keyspaces,
            range_bounds_forward,
            range_bounds_reverse,
            range_prefix_and_order,
            snapshot_isolation,
            iterator_stable_while_writing,
            reopen_keeps_data,
            reopen_adds_keyspace,
            large_values,
            empty_values_and_invalid_keys,
            many_keyspaces,
            unknown_keyspace,
            flush_and_empty_batch,
            invalid_config,
        );
        $crate::conformance_tests!(@bad_input $engine;
            open_on_regular_file,
            open_directory_of_unknown_files,
            open_directory_of_another_engine,
            open_newer_layout,
            permission_denied_creating,
            permission_denied_opening,
        );

        #[test]
        fn model_matches_btreemap() {
            $crate::conformance::model::run::<$engine>();
        }

        /// Entry point of the crash test's child process; does nothing in a normal test run.
        #[test]
        fn crash_child_process_entry() {
            $crate::conformance::crash::child::<$engine>();
        }

        #[test]
        fn sync_writes_survive_sigkill() {
            $crate::conformance::crash::parent::<$engine>("crash_child_process_entry");
        }
    };
    (@scenarios $engine:ty; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::scenarios::$name::<$engine>();
            }
        )+
    };
    (@bad_input $engine:ty; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::bad_input::$name::<$engine>();
            }
        )+
    };
}

//! [`LsmOptions`]: settings of the lsm engine that [`engine_api::EngineConfig`] does not carry.

use engine_api::{Error, Result};

/// Bound on the total size of fjall's journals that [`LsmOptions::default`] sets: 64 MiB.
///
/// See [`LsmOptions::max_journal_bytes`].
pub const DEFAULT_MAX_JOURNAL_BYTES: u64 = 64 << 20;

/// The smallest journal bound fjall accepts (64 MiB; its builder panics below it).
pub const MIN_MAX_JOURNAL_BYTES: u64 = 64 << 20;

/// Settings of [`crate::FjallEngine`] beyond [`engine_api::EngineConfig`], given to
/// [`crate::FjallEngine::open_with`]; [`engine_api::StorageEngine::open`] uses the defaults.
///
/// ```
/// use engine_lsm::LsmOptions;
///
/// let options = LsmOptions::default().max_journal_bytes(128 << 20);
/// assert_eq!(options.max_journal_bytes, 128 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LsmOptions {
    /// Bound on the total size of the journals, in bytes (fjall's `max_journaling_size`;
    /// default [`DEFAULT_MAX_JOURNAL_BYTES`], at least [`MIN_MAX_JOURNAL_BYTES`]).
    ///
    /// A journal is deleted once every keyspace with writes in it has flushed them to its
    /// tables. When the sealed journals reach this size, fjall flushes the memtables of the
    /// keyspaces that still hold writes of the oldest one, so that a rarely written keyspace
    /// cannot keep old journals alive; the engine steps in for the case fjall misses (see the
    /// crate documentation). It is a target, not a hard limit: fjall seals the active journal
    /// only at a memtable flush once it passed 64 MB, and preallocates each new one to 64 MiB, so
    /// the journals peak at about this bound plus two files (the active journal, and a sealed
    /// one waiting for the next memtable flush), more while flushes fall behind the writes.
    pub max_journal_bytes: u64,
}

impl Default for LsmOptions {
    fn default() -> Self {
        Self {
            max_journal_bytes: DEFAULT_MAX_JOURNAL_BYTES,
        }
    }
}

impl LsmOptions {
    /// These options with the journal bound set to `bytes`; see
    /// [`LsmOptions::max_journal_bytes`].
    #[must_use]
    pub fn max_journal_bytes(mut self, bytes: u64) -> Self {
        self.max_journal_bytes = bytes;
        self
    }

    /// Checks the settings against fjall's limits.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a journal bound under [`MIN_MAX_JOURNAL_BYTES`].
    pub fn validate(&self) -> Result<()> {
        if self.max_journal_bytes < MIN_MAX_JOURNAL_BYTES {
            return Err(Error::InvalidConfig(format!(
                "max_journal_bytes is {} bytes: fjall needs at least {MIN_MAX_JOURNAL_BYTES} (64 MiB)",
                self.max_journal_bytes
            )));
        }
        Ok(())
    }
}

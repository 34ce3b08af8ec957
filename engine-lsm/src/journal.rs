//! Keeping fjall's journals bounded.
//!
//! fjall 3.1 deletes a journal file only once every keyspace with writes in it has flushed
//! them: for each keyspace whose memtables held writes when the journal was sealed, the
//! highest sequence number among the keyspace's *tables* must have reached the highest one it
//! had in memory. It seals the active journal at a memtable flush, once the journal has passed
//! 64 MB, and when the sealed journals then add up to `max_journaling_size` or more it asks
//! the keyspaces that still hold writes of the oldest journal to flush their memtables.
//!
//! That leaves one way for a rarely written keyspace to keep every journal: a keyspace whose
//! memtable is empty and whose newest flushed writes were deletions that a compaction into the
//! last level then dropped (a hint written, delivered and deleted). Its tables' highest
//! sequence number falls back below what a sealed journal recorded for it (or it has no table
//! at all), so that journal is never deleted, and asking it to flush does nothing, since its
//! memtable is empty. [`FjallEngine::after_write`] steps in when the journals grow well past
//! the bound: it gives each keyspace with an empty memtable a deletion of [`UNPIN_KEY`], a key
//! no caller can use, and flushes it, so that the keyspace has a table newer than every sealed
//! journal again. (fjall's own flushing takes care of the keyspaces with writes in memory.)

use std::sync::atomic::{AtomicU64, Ordering};

use engine_api::{MAX_KEY_LEN, Result};
use fjall::{AbstractTree, PersistMode};

use crate::FjallEngine;

/// Size of one journal file: fjall preallocates each new journal to 64 MiB and seals the active
/// one at the first memtable flush after it passed 64 MB.
const JOURNAL_FILE_BYTES: u64 = 64 << 20;

/// How many journal files past the configured bound the journals may grow before the engine
/// steps in. fjall's own flushing keeps them within about two files of the
/// bound (the active one, and a sealed one that waits for the memtable flush after it).
const FILES_OVER_BOUND: u64 = 3;

/// Batch payload (keys and values) written between two looks at the journals' size.
const CHECK_EVERY_BYTES: u64 = 8 << 20;

/// A key that no caller can write or read: one byte longer than [`MAX_KEY_LEN`] (fjall takes
/// keys of up to 64 KiB), all `0xFF` so that it sorts after every other key. Its deletion gives a
/// keyspace a newer sequence number without changing what the keyspace holds.
const UNPIN_KEY: [u8; MAX_KEY_LEN + 1] = [0xFF; MAX_KEY_LEN + 1];

/// When to look at the journals' size, and when to act on it.
#[derive(Debug)]
pub(crate) struct JournalWatch {
    /// Journal size above which the engine steps in.
    act_above: u64,
    /// Batch payload written since the engine was opened.
    written: AtomicU64,
    /// Journal size at which the engine acts next: [`JournalWatch::act_above`], raised by one
    /// journal file after each time it acted, so that the flushes it asked for get the time to
    /// free journals before it asks again.
    next_act_at: AtomicU64,
}

impl JournalWatch {
    /// A watch for journals bounded at `max_journal_bytes`.
    pub(crate) fn new(max_journal_bytes: u64) -> Self {
        let act_above = max_journal_bytes.saturating_add(FILES_OVER_BOUND * JOURNAL_FILE_BYTES);
        Self {
            act_above,
            written: AtomicU64::new(0),
            next_act_at: AtomicU64::new(act_above),
        }
    }

    /// Counts `bytes` of batch payload written; true when the journals are due a look.
    fn count_written(&self, bytes: u64) -> bool {
        let before = self.written.fetch_add(bytes, Ordering::Relaxed);
        before / CHECK_EVERY_BYTES != before.wrapping_add(bytes) / CHECK_EVERY_BYTES
    }

    /// Whether to step in, with the journals at `journal_bytes`. True for at most one caller
    /// per threshold.
    fn should_act(&self, journal_bytes: u64) -> bool {
        let next = self.next_act_at.load(Ordering::Relaxed);
        if journal_bytes <= self.act_above {
            if next != self.act_above {
                self.next_act_at.store(self.act_above, Ordering::Relaxed);
            }
            return false;
        }
        journal_bytes > next
            && self
                .next_act_at
                .compare_exchange(
                    next,
                    journal_bytes.saturating_add(JOURNAL_FILE_BYTES),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}

impl FjallEngine {
    /// Called after a batch of `payload_bytes` was written: every few MiB, looks at the
    /// journals, and flushes the keyspaces with empty memtables when the journals grew well past
    /// the bound (see the module documentation).
    ///
    /// The batch is written by then, so a failure here is not reported: the write succeeded,
    /// and a failing disk or a poisoned store shows on the next write.
    pub(crate) fn after_write(&self, payload_bytes: usize) {
        if self.journal_watch.count_written(payload_bytes as u64) {
            let _ignored = crate::error::guard("bounding the journals", || self.bound_journals());
        }
    }

    /// Gives every keyspace with an empty memtable a deletion of [`UNPIN_KEY`] and flushes it,
    /// if the journals are past the point where fjall should have freed them; see the module
    /// documentation.
    fn bound_journals(&self) -> Result<()> {
        let what = "bounding the journals";
        let journal_bytes = self.db.journal_disk_space().map_err(self.map(what))?;
        if !self.journal_watch.should_act(journal_bytes) {
            return Ok(());
        }
        // fjall itself flushes a keyspace with writes in memory that an old journal waits for;
        // the one it cannot help is a keyspace with nothing in memory.
        let idle = self
            .keyspaces
            .iter()
            .filter(|keyspace| keyspace.tree.get_highest_memtable_seqno().is_none());
        for keyspace in idle {
            let mut batch = self.db.batch().durability(Some(PersistMode::Buffer));
            batch.remove(keyspace, UNPIN_KEY.to_vec());
            batch.commit().map_err(self.map(what))?;
            keyspace.rotate_memtable().map_err(self.map(what))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use engine_api::{
        Direction, Durability, EngineConfig, KeyRange, Keyspace, Snapshot, StorageEngine,
        WriteBatch,
    };

    use std::time::{Duration, Instant};

    use super::*;
    use crate::{LsmOptions, MIN_MAX_JOURNAL_BYTES};

    #[test]
    fn looks_at_the_journals_every_few_mib_written() {
        let watch = JournalWatch::new(64 << 20);
        assert!(!watch.count_written(CHECK_EVERY_BYTES - 1));
        assert!(watch.count_written(1));
        assert!(!watch.count_written(CHECK_EVERY_BYTES - 1));
        assert!(watch.count_written(3 * CHECK_EVERY_BYTES));
    }

    #[test]
    fn acts_once_per_journal_file_of_growth_past_the_threshold() {
        let bound = 64 << 20;
        let watch = JournalWatch::new(bound);
        let threshold = bound + FILES_OVER_BOUND * JOURNAL_FILE_BYTES;
        assert!(!watch.should_act(threshold));
        assert!(watch.should_act(threshold + 1));
        // Not again until the journals grew by another file...
        assert!(!watch.should_act(threshold + 1));
        assert!(!watch.should_act(threshold + JOURNAL_FILE_BYTES));
        assert!(watch.should_act(threshold + JOURNAL_FILE_BYTES + 2));
        // ... or fell back under the threshold and crossed it again.
        assert!(!watch.should_act(bound));
        assert!(watch.should_act(threshold + 1));
    }

    const MIB: u64 = 1 << 20;

    /// Total size of the store's journal files (one deleted meanwhile by fjall counts 0).
    fn journal_bytes(engine: &FjallEngine) -> u64 {
        std::fs::read_dir(engine.fjall_dir())
            .unwrap()
            .map(Result::unwrap)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".jnl"))
            .map(|entry| match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => panic!("size of {}: {e}", entry.path().display()),
            })
            .sum()
    }

    /// Writes `puts` values of 1 KiB to `data` (keys cycling over 10,000) until `stop` says so;
    /// returns the journals' peak size.
    fn write_data(
        engine: &FjallEngine,
        data: Keyspace,
        puts: u64,
        stop: impl Fn(&FjallEngine) -> bool,
    ) -> u64 {
        let value = vec![0x5A; 1024];
        let mut peak = 0;
        for first in (0..puts).step_by(64) {
            let mut batch = WriteBatch::new();
            for i in first..(first + 64).min(puts) {
                batch.put(
                    data,
                    format!("key-{:05}", i % 10_000).into_bytes(),
                    value.clone(),
                );
            }
            engine.write(&batch, Durability::Buffered).unwrap();
            peak = peak.max(journal_bytes(engine));
            if stop(engine) {
                break;
            }
        }
        peak
    }

    /// fjall alone keeps every journal here (see the module documentation): `hints` gets a hint
    /// written and deleted, a sealed journal records the deletion, and then the deletion is
    /// flushed and compacted away before that journal could go, leaving `hints` without tables
    /// and with an empty memtable.
    #[test]
    fn a_keyspace_whose_deletions_were_compacted_away_does_not_keep_the_journals() {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig::new(dir.path().join("store"), ["data", "hints"]);
        // Twice fjall's least, so that sealing the first journal does not make fjall flush the
        // keyspaces itself, and the data keyspace keeps that journal until its next flush.
        let limit = 2 * MIN_MAX_JOURNAL_BYTES;
        let engine =
            FjallEngine::open_with(&config, &LsmOptions::default().max_journal_bytes(limit))
                .unwrap();
        let data = engine.keyspace("data").unwrap();
        let hints = engine.keyspace("hints").unwrap();
        let hints_tree = &engine.keyspaces[hints.index()];

        let mut pinned = false;
        for _ in 0..5 {
            let mut batch = WriteBatch::new();
            batch.put(hints, &b"peer-b/hint"[..], &b"a hint"[..]);
            engine.write(&batch, Durability::Buffered).unwrap();
            let mut batch = WriteBatch::new();
            batch.delete(hints, &b"peer-b/hint"[..]);
            engine.write(&batch, Durability::Buffered).unwrap();
            write_data(&engine, data, 200 * 1024, |e| e.db.journal_count() >= 2);
            hints_tree.rotate_memtable_and_wait().unwrap();
            hints_tree.major_compact().unwrap();
            assert_eq!(
                hints_tree.table_count(),
                0,
                "the deletion was compacted away"
            );
            if engine.db.journal_count() >= 2 {
                pinned = true;
                break;
            }
        }
        assert!(pinned, "no sealed journal outlived the compaction of hints");

        let peak = write_data(&engine, data, 600 * 1024, |_| false);
        eprintln!("journals peaked at {} MiB", peak / MIB);
        // The engine acts above the bound plus FILES_OVER_BOUND files, and the flush it asks for
        // waits behind the data keyspace's; fjall alone would keep all 700 MiB written.
        let allowed = limit + (FILES_OVER_BOUND + 3) * JOURNAL_FILE_BYTES;
        assert!(
            peak <= allowed,
            "the journals reached {} MiB (allowed {} MiB)",
            peak / MIB,
            allowed / MIB
        );
        // And once the flushes are done, the journals are back to the active one and at most
        // one sealed journal that waits for the data keyspace's next flush.
        let settled_bound = limit + 2 * JOURNAL_FILE_BYTES;
        let deadline = Instant::now() + Duration::from_secs(30);
        while journal_bytes(&engine) > settled_bound {
            assert!(
                Instant::now() < deadline,
                "the journals still hold {} MiB 30 s after the last write (allowed {} MiB)",
                journal_bytes(&engine) / MIB,
                settled_bound / MIB
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        // The deletion that freed the journals is invisible.
        assert_eq!(engine.get(hints, b"peer-b/hint").unwrap(), None);
        let snapshot = engine.snapshot().unwrap();
        for direction in [Direction::Forward, Direction::Reverse] {
            let found = snapshot.scan(hints, KeyRange::all(), direction).unwrap();
            assert_eq!(found.count(), 0);
        }
    }
}

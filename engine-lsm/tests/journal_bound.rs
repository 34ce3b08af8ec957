#![allow(clippy::unwrap_used, clippy::expect_used)]
//! fjall's journals stay bounded when one keyspace gets every write and the others one write
//! at the start: those keyspaces are flushed once the journals reach the bound, instead of
//! keeping every journal until fjall's default bound of 512 MiB.

use std::path::Path;
use std::time::{Duration, Instant};

use engine_api::{Durability, EngineConfig, StorageEngine, WriteBatch};
use engine_lsm::{FjallEngine, LsmOptions, MIN_MAX_JOURNAL_BYTES};

const MIB: u64 = 1 << 20;
/// Size of one fjall journal file (preallocated to 64 MiB; sealed once past 64 MB).
const JOURNAL_FILE: u64 = 64 * MIB;
const KEYS: u64 = 20_000;
const VALUE_BYTES: usize = 1024;
const PUTS_PER_BATCH: u64 = 64;
/// Far more than the journals may hold, so that journals kept for the rarely written
/// keyspaces would exceed the bound.
const WRITTEN: u64 = 400 * MIB;

/// Total size of fjall's journal files (`<n>.jnl` in its directory). fjall deletes old
/// journals in the background: a file listed but gone before its size is read counts 0.
fn journal_bytes(fjall_dir: &Path) -> u64 {
    std::fs::read_dir(fjall_dir)
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

fn key(i: u64) -> Vec<u8> {
    format!("key-{:06}", i % KEYS).into_bytes()
}

/// The `i`-th value written: its number, then bytes that do not compress.
fn value(i: u64) -> Vec<u8> {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut value = i.to_be_bytes().to_vec();
    while value.len() < VALUE_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        value.extend_from_slice(&state.to_le_bytes());
    }
    value.truncate(VALUE_BYTES);
    value
}

#[test]
fn journals_stay_bounded_beside_rarely_written_keyspaces() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::new(dir.path().join("store"), ["data", "hints", "meta"]);
    let limit = MIN_MAX_JOURNAL_BYTES;
    let engine =
        FjallEngine::open_with(&config, &LsmOptions::default().max_journal_bytes(limit)).unwrap();
    let fjall_dir = engine.fjall_dir().to_owned();
    let data = engine.keyspace("data").unwrap();
    let hints = engine.keyspace("hints").unwrap();
    let meta = engine.keyspace("meta").unwrap();

    let mut batch = WriteBatch::new();
    batch.put(hints, &b"peer-b/key-000001"[..], &b"a hint"[..]);
    batch.put(meta, &b"ring"[..], &b"epoch 1"[..]);
    engine.write(&batch, Durability::Sync).unwrap();

    let puts = WRITTEN / VALUE_BYTES as u64;
    let mut peak = 0;
    for first in (0..puts).step_by(PUTS_PER_BATCH as usize) {
        let mut batch = WriteBatch::new();
        for i in first..(first + PUTS_PER_BATCH).min(puts) {
            batch.put(data, key(i), value(i));
        }
        engine.write(&batch, Durability::Buffered).unwrap();
        peak = peak.max(journal_bytes(&fjall_dir));
    }
    engine.flush().unwrap();

    // While written: the bound, the active journal and one sealed journal waiting for the next
    // memtable flush (about 195 MB here), and two files of slack for journals sealed late or
    // kept while the flushes fall behind the writes on a busy machine. Journals kept for the
    // rarely written keyspaces would hold all 400 MiB.
    let peak_bound = limit + 4 * JOURNAL_FILE;
    assert!(
        peak <= peak_bound,
        "the journals reached {peak} bytes for a bound of {limit} (allowed {peak_bound})"
    );
    // Once fjall's flushes are done: at most the active journal and one sealed journal that
    // waits for the data keyspace's next flush.
    let settled_bound = limit + 2 * JOURNAL_FILE;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settled = journal_bytes(&fjall_dir);
    while settled > settled_bound {
        assert!(
            Instant::now() < deadline,
            "the journals still hold {settled} bytes 30 s after the last write (allowed {settled_bound})"
        );
        std::thread::sleep(Duration::from_millis(50));
        settled = journal_bytes(&fjall_dir);
    }
    eprintln!("journals: peak {peak} bytes, settled {settled} bytes");

    drop(engine);
    let engine = FjallEngine::open(&config).unwrap();
    for k in 0..KEYS {
        // The last of the puts to key k.
        let last = (puts - 1 - k) / KEYS * KEYS + k;
        let got = engine.get(data, &key(k)).unwrap();
        assert_eq!(got.as_deref(), Some(&value(last)[..]), "key {k}");
    }
    assert_eq!(
        engine.get(hints, b"peer-b/key-000001").unwrap().as_deref(),
        Some(&b"a hint"[..])
    );
    assert_eq!(
        engine.get(meta, b"ring").unwrap().as_deref(),
        Some(&b"epoch 1"[..])
    );
}

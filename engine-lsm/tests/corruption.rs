#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Damaged files give a typed error or a documented recovery, never a panic and never wrong
//! data: a torn or garbled journal, garbled table files (after the data was flushed and
//! compacted out of the journal), and garbled or missing version and manifest files.
//!
//! Each case builds a store, damages one file, then opens it and reads everything back with
//! [`check`]: every call must return (a panic inside fjall is caught by the engine and turned
//! into `Error::Corruption`, which the checks below also count), every `Ok` read must give the
//! value written, and where fjall can tell that something is damaged the error must say so.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use engine_api::conformance::SplitMix64;
use engine_api::{
    Direction, Durability, EngineConfig, Error, KeyRange, Keyspace, Snapshot, StorageEngine,
    WriteBatch,
};
use engine_lsm::{FJALL_DIR, FjallEngine};

const KEYSPACES: [&str; 2] = ["data", "meta"];
/// Batches written in each of the two sessions that build a store.
const BATCHES_PER_SESSION: u64 = 10;
const KEYS_PER_BATCH: u64 = 20;

type Model = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

fn config(store: &Path) -> EngineConfig {
    EngineConfig::new(store, KEYSPACES)
}

fn key(batch: u64, i: u64) -> Vec<u8> {
    format!("key-{batch:04}-{i:04}").into_bytes()
}

/// A recognisable value, so that a test can find it in the journal.
fn value(batch: u64, i: u64) -> Vec<u8> {
    let mut v = format!("VALUE<{batch:04}-{i:04}>").into_bytes();
    v.resize(100 + (i as usize * 13) % 200, b'.');
    v
}

/// Writes batch `b`: `KEYS_PER_BATCH` keys in `data`, one in `meta`.
fn write_batch(engine: &FjallEngine, model: &mut Model, b: u64) {
    let mut batch = WriteBatch::new();
    for i in 0..KEYS_PER_BATCH {
        batch.put(Keyspace::from_index(0), key(b, i), value(b, i));
        model[0].insert(key(b, i), value(b, i));
    }
    batch.put(Keyspace::from_index(1), key(b, 0), b.to_be_bytes().to_vec());
    model[1].insert(key(b, 0), b.to_be_bytes().to_vec());
    engine.write(&batch, Durability::Sync).unwrap();
}

/// Builds a store in two sessions (so the journal was recovered once and holds no preallocated
/// zeros at its end) and returns what it holds.
fn build_store(store: &Path) -> Model {
    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    for session in 0..2 {
        let engine = FjallEngine::open(&config(store)).unwrap();
        for b in 0..BATCHES_PER_SESSION {
            write_batch(&engine, &mut model, session * BATCHES_PER_SESSION + b);
        }
    }
    model
}

/// Flushes every keyspace's memtable into tables and compacts them, with fjall itself, so that
/// reads are served from table files rather than from the journal. Returns the directory of
/// each keyspace's tree, in keyspace order.
fn flush_to_tables(store: &Path) -> Vec<PathBuf> {
    let db = fjall::Database::builder(store.join(FJALL_DIR))
        .open()
        .unwrap();
    KEYSPACES
        .iter()
        .map(|name| {
            let ks = db
                .keyspace(name, fjall::KeyspaceCreateOptions::default)
                .unwrap();
            ks.rotate_memtable_and_wait().unwrap();
            ks.major_compact().unwrap();
            assert!(ks.table_count() > 0, "keyspace {name} has tables");
            ks.path().to_owned()
        })
        .collect()
}

/// What opening and reading a damaged store gave.
#[derive(Debug, Default)]
struct Outcome {
    /// The error of `open`, if it failed.
    open_error: Option<Error>,
    /// Errors of reads (gets and scan items).
    read_errors: Vec<Error>,
    /// Keys read back with a value other than the one written: must never happen.
    wrong: Vec<String>,
    /// Keys written but not found by a get (only allowed where fjall drops damaged data).
    missing_keys: usize,
    /// Number of keys a forward scan of each keyspace returned (when it had no error).
    scanned: Vec<Option<usize>>,
}

impl Outcome {
    fn errors(&self) -> impl Iterator<Item = &Error> {
        self.open_error.iter().chain(&self.read_errors)
    }

    /// How many of the errors are panics inside fjall, caught by the engine.
    fn panics(&self) -> usize {
        self.errors()
            .filter(
                |e| matches!(e, Error::Corruption { message, .. } if message.contains("panicked")),
            )
            .count()
    }

    fn any_corruption(&self) -> bool {
        self.errors().any(|e| matches!(e, Error::Corruption { .. }))
    }

    /// True when the store opened and every read gave back exactly what was written.
    fn intact(&self, model: &Model) -> bool {
        self.open_error.is_none()
            && self.read_errors.is_empty()
            && self.wrong.is_empty()
            && self.missing_keys == 0
            && self
                .scanned
                .iter()
                .zip(model)
                .all(|(n, m)| *n == Some(m.len()))
    }
}

/// Opens the store and reads everything: a get of every written key, and a forward and a
/// reverse scan of every keyspace. Values read must be the ones written.
fn check(store: &Path, model: &Model) -> Outcome {
    let mut out = Outcome::default();
    let engine = match FjallEngine::open(&config(store)) {
        Ok(e) => e,
        Err(e) => {
            out.open_error = Some(e);
            return out;
        }
    };
    for (ks, map) in model.iter().enumerate() {
        let space = Keyspace::from_index(ks as u32);
        for (k, v) in map {
            match engine.get(space, k) {
                Ok(Some(got)) if got.as_ref() == v.as_slice() => {}
                Ok(Some(_)) => out.wrong.push(String::from_utf8_lossy(k).into_owned()),
                Ok(None) => out.missing_keys += 1,
                Err(e) => out.read_errors.push(e),
            }
        }
        let snap = match engine.snapshot() {
            Ok(s) => s,
            Err(e) => {
                out.read_errors.push(e);
                continue;
            }
        };
        let mut forward_count = None;
        for direction in [Direction::Forward, Direction::Reverse] {
            let iter = match snap.scan(space, KeyRange::all(), direction) {
                Ok(it) => it,
                Err(e) => {
                    out.read_errors.push(e);
                    continue;
                }
            };
            let mut n = 0;
            let mut failed = false;
            for item in iter {
                match item {
                    Ok((k, v)) => {
                        n += 1;
                        if map.get(k.as_ref()).map(Vec::as_slice) != Some(v.as_ref()) {
                            out.wrong.push(String::from_utf8_lossy(&k).into_owned());
                        }
                    }
                    Err(e) => {
                        failed = true;
                        out.read_errors.push(e);
                    }
                }
            }
            if direction == Direction::Forward && !failed {
                forward_count = Some(n);
            }
        }
        out.scanned.push(forward_count);
    }
    out
}

fn journal_path(store: &Path) -> PathBuf {
    let dir = store.join(FJALL_DIR);
    let mut journals: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jnl"))
        .collect();
    assert_eq!(journals.len(), 1, "one journal in {}", dir.display());
    journals.pop().unwrap()
}

/// End offsets of the batches in a journal: each batch ends with fjall's trailer magic.
fn batch_ends(journal: &[u8]) -> Vec<usize> {
    const TRAILER_MAGIC: &[u8] = b"FJL\x03";
    journal
        .windows(TRAILER_MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == TRAILER_MAGIC)
        .map(|(i, _)| i + TRAILER_MAGIC.len())
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("pattern present")
}

/// The model restricted to batches `0..n`.
fn model_of_first_batches(n: u64) -> Model {
    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    for b in 0..n {
        for i in 0..KEYS_PER_BATCH {
            model[0].insert(key(b, i), value(b, i));
        }
        model[1].insert(key(b, 0), b.to_be_bytes().to_vec());
    }
    model
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

fn garble(path: &Path, at: usize, len: usize, rng: &mut SplitMix64) {
    let mut bytes = fs::read(path).unwrap();
    for b in bytes.iter_mut().skip(at).take(len) {
        *b ^= 1 + rng.below(255) as u8;
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn undamaged_store_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let model = build_store(&store);
    assert!(check(&store, &model).intact(&model));
    flush_to_tables(&store);
    assert!(check(&store, &model).intact(&model));
}

#[test]
fn torn_journal_tail_loses_only_the_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    build_store(&store);
    let journal = journal_path(&store);
    let bytes = fs::read(&journal).unwrap();
    let ends = batch_ends(&bytes);
    let total = 2 * BATCHES_PER_SESSION;
    assert_eq!(ends.len() as u64, total);
    // Cut the file inside the last batch, as a crash in the middle of its write would.
    let last_start = ends[ends.len() - 2];
    for cut in [
        bytes.len() - 1,
        bytes.len() - 12,
        (last_start + bytes.len()) / 2,
        last_start + 1,
    ] {
        let copy = dir.path().join(format!("cut-{cut}"));
        copy_dir(&store, &copy);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(journal_path(&copy))
            .unwrap();
        file.set_len(cut as u64).unwrap();
        drop(file);
        // fjall's recovery drops the incomplete batch, silently: the store opens with every
        // batch before it, whole.
        let expected = model_of_first_batches(total - 1);
        let outcome = check(&copy, &expected);
        assert!(outcome.intact(&expected), "cut at {cut}: {outcome:?}");
        let engine = FjallEngine::open(&config(&copy)).unwrap();
        assert_eq!(
            engine
                .get(Keyspace::from_index(1), &key(total - 1, 0))
                .unwrap(),
            None,
            "cut at {cut}: the torn batch is gone"
        );
    }
}

#[test]
fn garbled_journal_value_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let model = build_store(&template);
    // A byte inside a value of the fifth batch, and of the last batch: the entry still decodes,
    // but the batch checksum fails, and fjall refuses to open the store, even when the damaged
    // batch is the last one (fjall does not treat that as a torn tail).
    for batch in [4, 2 * BATCHES_PER_SESSION - 1] {
        let store = dir.path().join(format!("b{batch}"));
        copy_dir(&template, &store);
        let journal = journal_path(&store);
        let bytes = fs::read(&journal).unwrap();
        let at = find(&bytes, &value(batch, 3)) + 20;
        garble(&journal, at, 1, &mut SplitMix64::new(batch));
        let outcome = check(&store, &model);
        assert!(
            matches!(outcome.open_error, Some(Error::Corruption { .. })),
            "batch {batch}: {outcome:?}"
        );
    }
}

#[test]
fn garbled_journal_entry_tag_truncates_the_journal_there() {
    // Documented fjall behaviour: a damaged entry header that no longer decodes looks to fjall
    // like the end of the journal (the journal is preallocated with zeros), so recovery
    // truncates the journal there and the batches after it are lost without an error.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    build_store(&store);
    let journal = journal_path(&store);
    let bytes = fs::read(&journal).unwrap();
    let ends = batch_ends(&bytes);
    let damaged = 6u64;
    let start_of_damaged = ends[damaged as usize - 1];
    assert_eq!(
        bytes[start_of_damaged], 1,
        "a batch starts with the start tag"
    );
    let mut bytes = bytes;
    bytes[start_of_damaged] = 0xee;
    fs::write(&journal, &bytes).unwrap();
    let expected = model_of_first_batches(damaged);
    let outcome = check(&store, &expected);
    assert!(outcome.intact(&expected), "{outcome:?}");
    assert!(
        (fs::metadata(&journal).unwrap().len() as usize) == start_of_damaged,
        "the journal was truncated at the damaged entry"
    );
}

#[test]
fn random_journal_damage_never_panics_nor_returns_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let model = build_store(&template);
    let len = fs::metadata(journal_path(&template)).unwrap().len() as usize;
    let mut rng = SplitMix64::new(0x10c0);
    let (mut corrupt, mut truncated, mut intact, mut panics) = (0, 0, 0, 0);
    for round in 0..40 {
        let store = dir.path().join(format!("r{round}"));
        copy_dir(&template, &store);
        let journal = journal_path(&store);
        let at = rng.below(len as u64) as usize;
        let n = 1 + rng.below(16) as usize;
        garble(&journal, at, n, &mut rng);
        let outcome = check(&store, &model);
        panics += outcome.panics();
        assert!(outcome.wrong.is_empty(), "round {round}: {outcome:?}");
        for e in outcome.errors() {
            assert!(
                matches!(e, Error::Corruption { .. }),
                "round {round}: journal damage gives Corruption, got {e:?}"
            );
        }
        if outcome.any_corruption() {
            corrupt += 1;
        } else if outcome.intact(&model) {
            intact += 1;
        } else {
            // Recovery stopped at the damage: what is there is a prefix of the batches.
            assert!(outcome.missing_keys > 0, "round {round}: {outcome:?}");
            truncated += 1;
        }
        fs::remove_dir_all(&store).unwrap();
    }
    println!(
        "journal damage: {corrupt} corruption errors ({panics} caught panics), {truncated} truncations, {intact} intact"
    );
    assert!(corrupt > 0, "some damage is detected");
}

#[test]
fn garbled_table_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let model = build_store(&template);
    let trees = flush_to_tables(&template);
    let mut tables = Vec::new();
    files_under(&trees[0].join("tables"), &mut tables);
    assert_eq!(tables.len(), 1, "one compacted table: {tables:?}");
    let table_len = fs::metadata(&tables[0]).unwrap().len() as usize;
    let relative = tables[0].strip_prefix(&template).unwrap().to_owned();

    // A byte inside a data block (they come first in the file; values are compressed, so
    // the byte is not found by its content): the block checksum fails.
    let store = dir.path().join("value");
    copy_dir(&template, &store);
    let table = store.join(&relative);
    garble(&table, table_len / 4, 1, &mut SplitMix64::new(2));
    let outcome = check(&store, &model);
    assert!(outcome.wrong.is_empty(), "{outcome:?}");
    assert!(outcome.open_error.is_none(), "{outcome:?}");
    assert!(outcome.any_corruption(), "{outcome:?}");

    // Damage anywhere in the table: every call returns, nothing wrong is read, and damage that
    // changes what is read is reported as Corruption.
    let mut rng = SplitMix64::new(0x7ab1e);
    let (mut detected, mut harmless, mut panics) = (0, 0, 0);
    for round in 0..48 {
        let store = dir.path().join(format!("t{round}"));
        copy_dir(&template, &store);
        let table = store.join(&relative);
        // Spread the damage over the whole file, the trailer and index included.
        let at =
            (round * table_len / 48 + rng.below(table_len as u64 / 48) as usize).min(table_len - 1);
        garble(&table, at, 1 + rng.below(4) as usize, &mut rng);
        let outcome = check(&store, &model);
        panics += outcome.panics();
        assert!(
            outcome.wrong.is_empty(),
            "round {round} at {at}: {outcome:?}"
        );
        if outcome.intact(&model) {
            harmless += 1;
        } else {
            assert!(
                outcome.any_corruption(),
                "round {round} at {at}: {outcome:?}"
            );
            detected += 1;
        }
        fs::remove_dir_all(&store).unwrap();
    }
    println!("table damage: {detected} detected ({panics} caught panics), {harmless} harmless");
    assert!(detected > 0);
}

#[test]
fn truncated_or_missing_table_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let model = build_store(&template);
    let trees = flush_to_tables(&template);
    let mut tables = Vec::new();
    files_under(&trees[0].join("tables"), &mut tables);
    let relative = tables[0].strip_prefix(&template).unwrap().to_owned();

    let store = dir.path().join("truncated");
    copy_dir(&template, &store);
    let table = store.join(&relative);
    let len = fs::metadata(&table).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let outcome = check(&store, &model);
    assert!(outcome.wrong.is_empty(), "{outcome:?}");
    assert!(outcome.any_corruption(), "{outcome:?}");

    let store = dir.path().join("missing");
    copy_dir(&template, &store);
    fs::remove_file(store.join(&relative)).unwrap();
    let outcome = check(&store, &model);
    assert!(outcome.wrong.is_empty(), "{outcome:?}");
    assert!(
        outcome
            .errors()
            .any(|e| matches!(e, Error::Corruption { .. } | Error::Io { .. })),
        "{outcome:?}"
    );
}

#[test]
fn garbled_manifests_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let model = build_store(&template);
    let trees = flush_to_tables(&template);
    let fjall_dir = template.join(FJALL_DIR);
    // The manifest files of each tree: `current` and the version files `v<N>` it points to,
    // for our keyspaces and for fjall's meta keyspace (keyspaces/0).
    let mut manifests = Vec::new();
    for tree in trees.iter().chain([&fjall_dir.join("keyspaces").join("0")]) {
        for entry in fs::read_dir(tree).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                manifests.push(path.strip_prefix(&template).unwrap().to_owned());
            }
        }
    }
    assert!(
        manifests.iter().any(|p| p.ends_with("current")),
        "{manifests:?}"
    );

    let mut rng = SplitMix64::new(0x3a4);
    for (n, relative) in manifests.iter().enumerate() {
        let len = fs::metadata(template.join(relative)).unwrap().len() as usize;
        for (m, damage) in ["garble", "truncate", "empty"].into_iter().enumerate() {
            let store = dir.path().join(format!("m{n}-{m}"));
            copy_dir(&template, &store);
            let file = store.join(relative);
            match damage {
                "garble" => {
                    let at = rng.below(len as u64) as usize;
                    garble(&file, at, 1 + rng.below(8) as usize, &mut rng);
                }
                "truncate" => fs::OpenOptions::new()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_len(len as u64 / 2)
                    .unwrap(),
                _ => fs::write(&file, b"").unwrap(),
            }
            let outcome = check(&store, &model);
            assert!(
                outcome.wrong.is_empty(),
                "{damage} {}: {outcome:?}",
                relative.display()
            );
            for e in outcome.errors() {
                assert!(
                    matches!(e, Error::Corruption { .. } | Error::Io { .. }),
                    "{damage} {}: {e:?}",
                    relative.display()
                );
            }
            println!(
                "{damage} {}: {}",
                relative.display(),
                match (&outcome.open_error, outcome.intact(&model)) {
                    (Some(e), _) => format!("open failed: {e:?}"),
                    (None, true) => "intact".into(),
                    (None, false) => format!("{outcome:?}"),
                }
            );
            fs::remove_dir_all(&store).unwrap();
        }
    }
}

#[test]
fn fjall_version_file_damage() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    let model = build_store(&template);

    // Garbled: fjall no longer recognises its format.
    let store = dir.path().join("garbled");
    copy_dir(&template, &store);
    fs::write(store.join(FJALL_DIR).join("version"), b"XYZ\x09").unwrap();
    let outcome = check(&store, &model);
    assert!(
        matches!(
            outcome.open_error,
            Some(Error::WrongFormat {
                expected: "lsm",
                ..
            })
        ),
        "{outcome:?}"
    );

    // Missing from a store with data: refused, and nothing is touched.
    let store = dir.path().join("missing");
    copy_dir(&template, &store);
    fs::remove_file(store.join(FJALL_DIR).join("version")).unwrap();
    let outcome = check(&store, &model);
    assert!(
        matches!(outcome.open_error, Some(Error::Corruption { .. })),
        "{outcome:?}"
    );
    assert!(store.join(FJALL_DIR).join("keyspaces").is_dir());
}

#[test]
fn creation_cut_short_is_redone() {
    // A crash during the very first open can leave fjall's directory with its lock file and
    // first journal but no version file and no keyspace: the store holds no data yet, and
    // opening it again starts afresh.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    drop(FjallEngine::open(&config(&store)).unwrap());
    let fjall_dir = store.join(FJALL_DIR);
    fs::remove_dir_all(&fjall_dir).unwrap();
    fs::create_dir_all(fjall_dir.join("keyspaces")).unwrap();
    fs::write(fjall_dir.join("lock"), b"").unwrap();
    fs::write(fjall_dir.join("0.jnl"), vec![0u8; 4096]).unwrap();

    let engine = FjallEngine::open(&config(&store)).unwrap();
    let mut model: Model = vec![BTreeMap::new(); KEYSPACES.len()];
    write_batch(&engine, &mut model, 0);
    drop(engine);
    assert!(check(&store, &model).intact(&model));
}

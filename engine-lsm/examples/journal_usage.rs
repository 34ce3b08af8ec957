//! Disk use of fjall's journals against its keyspaces under an overwrite workload, and the
//! workload's write throughput.
//!
//! Three keyspaces, as a Dynamo node has: `data` gets every write, `hints` and `meta` one small
//! write each at the start (with `--hint-churn N`, `hints` also gets a hint written and deleted
//! every N data batches, as a node does while a peer is down). `data` holds `--keys` keys of
//! `--value-bytes` random bytes, overwritten in turn, `--batch` puts per batch written with
//! `--durability` (`sync`, the default, or `buffered`), until `--total-mib` MiB of values were
//! written. The journals' size is sampled after every batch; after the last one the example
//! waits for the store's files to stop changing (fjall's flushes and compactions) and reports
//! the journals and the keyspaces' files on disk.
//!
//! ```sh
//! cargo run --release -p engine-lsm --example journal_usage                      # 64 MiB bound
//! cargo run --release -p engine-lsm --example journal_usage -- --journal-mib 512 # fjall's default
//! ```

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use engine_api::{Durability, EngineConfig, StorageEngine, WriteBatch};
use engine_lsm::{FjallEngine, LsmOptions};

/// The example's settings, from the command line.
struct Args {
    keys: u64,
    value_bytes: usize,
    batch: u64,
    total_mib: u64,
    journal_mib: Option<u64>,
    hint_churn: Option<u64>,
    durability: Durability,
    dir: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        keys: 10_000,
        value_bytes: 1024,
        batch: 100,
        total_mib: 500,
        journal_mib: None,
        hint_churn: None,
        durability: Durability::Sync,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{flag}: {e}"))
        };
        match flag.as_str() {
            "--keys" => args.keys = number(),
            "--value-bytes" => args.value_bytes = number() as usize,
            "--batch" => args.batch = number(),
            "--total-mib" => args.total_mib = number(),
            "--journal-mib" => args.journal_mib = Some(number()),
            "--hint-churn" => args.hint_churn = Some(number()),
            "--durability" => {
                args.durability = match value.as_str() {
                    "sync" => Durability::Sync,
                    "buffered" => Durability::Buffered,
                    other => panic!("--durability sync or buffered, not {other}"),
                }
            }
            "--dir" => args.dir = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// Files on disk under a store's fjall directory, as apparent sizes (what `ls -l` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DiskUse {
    /// Number of journal files.
    journal_files: u64,
    /// Total size of the journal files.
    journals: u64,
    /// Blocks allocated to the journal files (what `du` counts; fjall preallocates each new
    /// journal to 64 MiB, sparsely).
    journals_allocated: u64,
    /// Total size of every other file: the keyspaces' tables and manifests.
    other: u64,
}

fn disk_use(dir: &Path) -> DiskUse {
    fn walk(dir: &Path, usage: &mut DiskUse) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&entry.path(), usage);
            } else if entry.file_name().to_string_lossy().ends_with(".jnl") {
                usage.journal_files += 1;
                usage.journals += meta.len();
                usage.journals_allocated += meta.blocks() * 512;
            } else {
                usage.other += meta.len();
            }
        }
    }
    let mut usage = DiskUse::default();
    walk(dir, &mut usage);
    usage
}

fn report(when: &str, usage: DiskUse) {
    println!(
        "{when}: {} journals of {:.0} MB ({:.0} MB allocated), keyspaces and other files {:.0} MB",
        usage.journal_files,
        mb(usage.journals),
        mb(usage.journals_allocated),
        mb(usage.other)
    );
}

/// A deterministic stream of pseudo-random bytes (SplitMix64), so that values do not compress.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

const MIB: u64 = 1 << 20;

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let temp = tempfile::tempdir()?;
    let store = match &args.dir {
        Some(dir) => Path::new(dir).join("journal-usage-store"),
        None => temp.path().join("store"),
    };
    let config = EngineConfig::new(&store, ["data", "hints", "meta"]);
    let mut options = LsmOptions::default();
    if let Some(mib) = args.journal_mib {
        options = options.max_journal_bytes(mib * MIB);
    }
    println!(
        "journal limit {} MiB, {} keys x {} B, {} puts per batch, {} MiB of values",
        options.max_journal_bytes / MIB,
        args.keys,
        args.value_bytes,
        args.batch,
        args.total_mib
    );
    let engine = FjallEngine::open_with(&config, &options)?;
    let fjall_dir = engine.fjall_dir().to_owned();
    let data = engine.keyspace("data")?;
    let hints = engine.keyspace("hints")?;
    let meta = engine.keyspace("meta")?;

    let mut batch = WriteBatch::new();
    batch.put(hints, &b"peer-b/first"[..], &b"a hint"[..]);
    batch.put(meta, &b"ring"[..], &b"epoch 1"[..]);
    engine.write(&batch, Durability::Sync)?;

    let batches = args.total_mib * MIB / (args.batch * args.value_bytes as u64);
    let mut noise = Noise(7);
    let mut value = vec![0u8; args.value_bytes];
    let mut next_key = 0u64;
    let mut peak_journals = 0u64;
    let started = Instant::now();
    for round in 0..batches {
        let mut batch = WriteBatch::new();
        for _ in 0..args.batch {
            noise.fill(&mut value);
            let key = format!("key-{:08}", next_key % args.keys);
            batch.put(data, key.into_bytes(), value.clone());
            next_key += 1;
        }
        if let Some(every) = args.hint_churn
            && round % every == 0
        {
            let hint = format!("peer-b/{:04}", round % 16).into_bytes();
            batch.put(hints, hint.clone(), &b"a hint"[..]);
            engine.write(&batch, args.durability)?;
            batch = WriteBatch::new();
            batch.delete(hints, hint);
        }
        engine.write(&batch, args.durability)?;
        peak_journals = peak_journals.max(disk_use(&fjall_dir).journals);
    }
    let elapsed = started.elapsed();
    let written = batches * args.batch * args.value_bytes as u64;
    println!(
        "wrote {:.0} MB in {:.1} s: {:.1} MB/s, {:.0} puts/s; journals peaked at {:.0} MB",
        mb(written),
        elapsed.as_secs_f64(),
        mb(written) / elapsed.as_secs_f64(),
        (batches * args.batch) as f64 / elapsed.as_secs_f64(),
        mb(peak_journals)
    );

    // Wait until the files stop changing for two seconds (fjall's flushes and compactions).
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = disk_use(&fjall_dir);
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(100));
        let now = disk_use(&fjall_dir);
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
    report("settled", last);
    drop(engine);
    report("after close", disk_use(&fjall_dir));
    Ok(())
}

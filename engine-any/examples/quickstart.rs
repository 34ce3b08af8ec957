//! Quick start: open the default storage engine of this build, write, read and scan.
//!
//! ```text
//! cargo run --release --example quickstart [-- <engine> <directory>]
//! ```
//!
//! The engine is `lmdb`, `lsm`, `redb` or `mem` (default: this build's default engine); the
//! directory defaults to `./quickstart-data/<engine>`. Run it twice: the second run finds the
//! first run's data.

use std::error::Error;

use engine_any::Engine;
use engine_api::{
    Direction, Durability, EngineConfig, KeyRange, Snapshot, StorageEngine, WriteBatch,
};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let engine = match args.next() {
        Some(name) => name.parse::<Engine>()?,
        None => Engine::default_for_build().ok_or("this build has no storage engine")?,
    };
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new("quickstart-data").join(engine.name()));

    println!("opening the {engine} engine in {}", dir.display());
    let store = engine.open(&EngineConfig::new(&dir, ["data", "meta"]))?;
    let data = store.keyspace("data")?;
    let meta = store.keyspace("meta")?;

    let runs = match store.get(meta, b"runs")? {
        Some(v) => u64::from_be_bytes(v.as_ref().try_into()?) + 1,
        None => 1,
    };
    println!("run number {runs} on this directory");

    // One atomic batch over two keyspaces, fsynced before `write` returns.
    let mut batch = WriteBatch::new();
    for fruit in ["apple", "banana", "cherry"] {
        batch.put(
            data,
            format!("fruit/{fruit}"),
            format!("{fruit} seen on run {runs}"),
        );
    }
    batch.put(meta, &b"runs"[..], runs.to_be_bytes().to_vec());
    store.write(&batch, Durability::Sync)?;

    let value = store
        .get(data, b"fruit/banana")?
        .ok_or("banana is missing")?;
    println!("get fruit/banana = {}", String::from_utf8_lossy(&value));

    let snapshot = store.snapshot()?;
    println!("scan of prefix fruit/, newest key first:");
    for item in snapshot.scan(data, KeyRange::prefix(b"fruit/"), Direction::Reverse)? {
        let (key, value) = item?;
        println!(
            "  {} = {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
    Ok(())
}

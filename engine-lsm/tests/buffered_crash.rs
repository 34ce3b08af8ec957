#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `Buffered` writes survive a crash of the process: the child writes batches with
//! `Durability::Buffered`, reports that every write returned, and is then killed with SIGKILL
//! by the parent, so that no destructor of fjall runs. Every batch must be there, whole, when
//! the store is opened again. (The conformance suite's crash test proves the same for `Sync`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use engine_api::conformance::SplitMix64;
use engine_api::{Durability, EngineConfig, Keyspace, StorageEngine, WriteBatch};
use engine_lsm::FjallEngine;

const CHILD_DIR_VAR: &str = "ENGINE_LSM_BUFFERED_CHILD_DIR";
const BATCHES: u64 = 300;

fn config(store: &Path) -> EngineConfig {
    EngineConfig::new(store, ["data", "hints"])
}

fn key(i: u64) -> Vec<u8> {
    format!("buffered-{i:06}").into_bytes()
}

/// Values from 1 byte to 40 KiB, so that batches cross fjall's 8 KiB journal buffer and its
/// 4 KiB compression threshold.
fn value(i: u64, ks: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(i * 7 + ks);
    let len = 1 + rng.below(8) as usize * rng.below(5000) as usize;
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// The child: writes every batch with `Buffered`, says so, and waits to be killed. Does
/// nothing in a normal test run.
#[test]
fn buffered_child_entry() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let engine = FjallEngine::open(&config(dir.as_ref())).unwrap();
    for i in 0..BATCHES {
        let mut batch = WriteBatch::new();
        for ks in 0..2 {
            batch.put(Keyspace::from_index(ks as u32), key(i), value(i, ks));
        }
        engine.write(&batch, Durability::Buffered).unwrap();
    }
    println!("WRITTEN");
    // Block until the parent kills us; nothing more is written or synced.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    panic!("the parent should have killed this process");
}

#[test]
fn buffered_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "buffered_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, &store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let written = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.ends_with("WRITTEN"));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        written,
        "the child wrote its batches (exit status {status})"
    );
    assert!(!status.success(), "the child was killed");

    let engine = FjallEngine::open(&config(&store)).unwrap();
    for i in 0..BATCHES {
        for ks in 0..2 {
            let got = engine
                .get(Keyspace::from_index(ks as u32), &key(i))
                .unwrap();
            assert!(
                got.as_deref() == Some(value(i, ks).as_slice()),
                "buffered batch {i} is missing or wrong in keyspace {ks}"
            );
        }
    }
}

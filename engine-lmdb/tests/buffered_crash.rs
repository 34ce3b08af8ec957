//! `Buffered` writes survive a process crash: each commit is in the OS page cache before
//! `write` returns, so a SIGKILL loses nothing acknowledged (a power loss could; see the crate
//! documentation). The conformance suite's crash test proves the same of `Sync` writes.
//!
//! The parent test re-runs this test binary with only the child test selected; the child
//! writes numbered `Buffered` batches, printing `ACK <i>` after each, until it is killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use engine_api::{Durability, EngineConfig, Keyspace, StorageEngine, WriteBatch};
use engine_lmdb::LmdbEngine;

const CHILD_DIR: &str = "LMDB_BUFFERED_CRASH_DIR";

fn config(store: &std::path::Path) -> EngineConfig {
    EngineConfig::new(store, ["data", "hints"])
}

fn key(i: u64) -> Vec<u8> {
    format!("batch-{i:08}").into_bytes()
}

#[test]
fn buffered_child() {
    let Ok(store) = std::env::var(CHILD_DIR) else {
        return;
    };
    let engine = LmdbEngine::open(&config(store.as_ref())).unwrap();
    for i in 0.. {
        let mut batch = WriteBatch::new();
        batch.put(
            Keyspace::from_index(0),
            key(i),
            vec![i as u8; 1 + (i % 3000) as usize],
        );
        batch.put(Keyspace::from_index(1), key(i), i.to_be_bytes().to_vec());
        engine.write(&batch, Durability::Buffered).unwrap();
        println!("ACK {i}");
    }
}

#[test]
fn buffered_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exe = std::env::current_exe().unwrap();
    for (round, kill_after) in [50u64, 400, 1500].into_iter().enumerate() {
        std::fs::remove_dir_all(&store).ok();
        let mut child = Command::new(&exe)
            .args([
                "buffered_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &store)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut acked = None;
        for line in lines.by_ref() {
            if let Some(n) = line.unwrap().strip_prefix("ACK ") {
                let n: u64 = n.trim().parse().unwrap();
                acked = Some(n);
                if n + 1 >= kill_after {
                    break;
                }
            }
        }
        child.kill().unwrap();
        // Acknowledgements already in the pipe count too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ACK ") {
                acked = Some(n.trim().parse().unwrap());
            }
        }
        child.wait().unwrap();
        let acked = acked.expect("the child acknowledged writes");

        let engine = LmdbEngine::open(&config(&store)).unwrap();
        for i in 0..=acked {
            let data = engine.get(Keyspace::from_index(0), &key(i)).unwrap();
            assert_eq!(
                data.as_deref(),
                Some(vec![i as u8; 1 + (i % 3000) as usize].as_slice()),
                "round {round}: acknowledged Buffered batch {i} is missing"
            );
            let hint = engine.get(Keyspace::from_index(1), &key(i)).unwrap();
            assert_eq!(hint.as_deref(), Some(&i.to_be_bytes()[..]));
        }
        // The batch in flight is there whole or not at all.
        let next = acked + 1;
        let parts = [0, 1].map(|ks| {
            engine
                .get(Keyspace::from_index(ks), &key(next))
                .unwrap()
                .is_some()
        });
        assert!(
            parts[0] == parts[1],
            "round {round}: batch {next} applied in part"
        );
    }
}

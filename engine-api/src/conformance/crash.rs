//! The crash test: `Sync` writes survive SIGKILL.
//!
//! The parent test re-runs its own test binary, asking it to run only the child entry point
//! ([`child`]) with the environment variable [`CHILD_DIR_VAR`] set. The child opens the engine
//! and writes batches with [`Durability::Sync`] in a loop, printing `ACK <i>` after each write
//! returned. The parent reads the acknowledgements, kills the child with SIGKILL at a random
//! moment, drains what the child printed before it died, reopens the store and checks that every
//! acknowledged batch is there — whole — and that no batch is there in part. It does this for
//! several rounds on the same store, so recovery runs on a store that was itself recovered.
//!
//! The moment of each kill comes from a seed, printed by the test; set `DYNAMO_CRASH_SEED` to
//! replay one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{SplitMix64, TestDir, needs_persistence};
use crate::{Durability, EngineConfig, Keyspace, StorageEngine, WriteBatch};

/// Environment variable naming the store directory of the child process.
pub const CHILD_DIR_VAR: &str = "DYNAMO_CRASH_CHILD_DIR";
/// Environment variable giving the first batch number the child writes.
pub const CHILD_START_VAR: &str = "DYNAMO_CRASH_CHILD_START";

const KEYSPACES: [&str; 2] = ["data", "hints"];
const ROUNDS: u64 = 5;

fn key(i: u64) -> Vec<u8> {
    format!("crash-{i:08}").into_bytes()
}

/// The value of batch `i` in keyspace `ks`: its size varies from 1 byte to about 20 KiB.
fn value(i: u64, ks: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(i * 31 + ks as u64);
    let len = 1 + (rng.below(4) * rng.below(5000)) as usize;
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig::new(dir, KEYSPACES)
}

/// The child process: writes numbered batches with `Sync` until killed. Does nothing unless
/// [`CHILD_DIR_VAR`] is set, so a normal test run passes straight through it.
pub fn child<E: StorageEngine>() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let start: u64 = std::env::var(CHILD_START_VAR)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let engine = E::open(&config(dir.as_ref())).expect("child: open the store");
    for i in start..start + 1_000_000 {
        let mut batch = WriteBatch::new();
        for ks in 0..KEYSPACES.len() {
            batch.put(Keyspace::from_index(ks as u32), key(i), value(i, ks));
        }
        // Also overwrite a counter key, so recovery is checked on updates, not only inserts.
        batch.put(
            Keyspace::from_index(0),
            b"counter".to_vec(),
            i.to_be_bytes().to_vec(),
        );
        engine
            .write(&batch, Durability::Sync)
            .expect("child: sync write");
        println!("ACK {i}");
    }
}

/// The parent process: runs [`ROUNDS`] rounds of write-and-kill on one store, checking it after
/// each. `child_test` is the name of the test function that calls [`child`].
///
/// # Panics
/// When an acknowledged write is missing or partial after a kill, or the store fails to open.
pub fn parent<E: StorageEngine>(child_test: &str) {
    if !needs_persistence::<E>("sync_writes_survive_sigkill") {
        return;
    }
    let seed = std::env::var("DYNAMO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("crash test of {} with DYNAMO_CRASH_SEED={seed}", E::NAME);
    let mut rng = SplitMix64::new(seed);
    let dir = TestDir::new();
    let store = dir.store_path();
    let exe = std::env::current_exe().expect("path of the test binary");

    let mut acked_total: u64 = 0; // batches 0..acked_total were acknowledged
    let mut next_start: u64 = 0;
    for round in 0..ROUNDS {
        let kill_after = 1 + rng.below(40);
        let extra_delay_us = rng.below(3000);
        let mut child = Command::new(&exe)
            .args([child_test, "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_VAR, &store)
            .env(CHILD_START_VAR, next_start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the child process");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut last_ack: Option<u64> = None;
        let mut acks_this_round = 0;
        for line in lines.by_ref() {
            let line = line.expect("read child output");
            if let Some(n) = line.strip_prefix("ACK ") {
                last_ack = Some(n.trim().parse().expect("ACK number"));
                acks_this_round += 1;
                if acks_this_round >= kill_after {
                    break;
                }
            }
        }
        // Let the child get into the middle of its next write, then kill it.
        std::thread::sleep(Duration::from_micros(extra_delay_us));
        child.kill().expect("SIGKILL the child");
        // Acknowledgements printed before the kill are still in the pipe: they count too.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ACK ") {
                last_ack = Some(n.trim().parse().expect("ACK number"));
            }
        }
        let status = child.wait().expect("wait for the child");
        let last_ack = last_ack.unwrap_or_else(|| {
            panic!("round {round}: the child acknowledged no write (exit status {status})")
        });
        acked_total = last_ack + 1;

        // Reopen and check.
        let engine = E::open(&config(&store)).unwrap_or_else(|e| {
            panic!("round {round}: store does not open cleanly after SIGKILL: {e}")
        });
        for i in 0..acked_total {
            for (ks, name) in KEYSPACES.iter().enumerate() {
                let got = engine
                    .get(Keyspace::from_index(ks as u32), &key(i))
                    .unwrap_or_else(|e| panic!("round {round}: read batch {i}: {e}"));
                assert!(
                    got.as_deref() == Some(value(i, ks).as_slice()),
                    "round {round} (seed {seed}): acknowledged batch {i} is missing or wrong in keyspace {name}"
                );
            }
        }
        // The batch in flight when the child died is there whole or not at all.
        let in_flight = acked_total;
        let parts: Vec<bool> = (0..KEYSPACES.len())
            .map(|ks| {
                engine
                    .get(Keyspace::from_index(ks as u32), &key(in_flight))
                    .unwrap()
                    .is_some()
            })
            .collect();
        assert!(
            parts.iter().all(|p| *p) || parts.iter().all(|p| !*p),
            "round {round} (seed {seed}): batch {in_flight} applied in part: {parts:?}"
        );
        let counter = engine
            .get(Keyspace::from_index(0), b"counter")
            .unwrap()
            .unwrap();
        let counter = u64::from_be_bytes(counter.as_ref().try_into().expect("8-byte counter"));
        let expected_counter = if parts[0] { in_flight } else { last_ack };
        assert_eq!(
            counter, expected_counter,
            "round {round} (seed {seed}): counter"
        );
        next_start = if parts[0] { in_flight + 1 } else { in_flight };
        println!(
            "round {round}: killed after {acks_this_round} acknowledged batches (+{extra_delay_us} µs), {acked_total} acknowledged in all, all present"
        );
    }
    assert!(acked_total >= ROUNDS, "every round acknowledged a write");
}

//! One client of the load: its node, its generator, the writes it sent, what it measured; and
//! what all clients share (settings, key chooser, values, the latest context of each key).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dynamo_client::{Client, Context, GetOptions, PutOptions};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::keys::{KeyChooser, ValueMaker, WriteId, key_name};
use super::progress::Progress;
use super::report::{Measured, VerifyReport};
use super::{LoadConfig, WriteMode};

/// What every client reads.
#[derive(Debug)]
pub(crate) struct Shared {
    config: LoadConfig,
    chooser: KeyChooser,
    values: ValueMaker,
    /// The latest context seen for each key (context mode only; empty in blind mode).
    contexts: Vec<Mutex<Option<Context>>>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// The shared state of a run of `config`.
    pub(crate) fn new(config: LoadConfig, progress: Arc<Progress>, stop: Arc<AtomicBool>) -> Self {
        let contexts = match config.mode {
            WriteMode::Context => (0..config.keys).map(|_| Mutex::new(None)).collect(),
            WriteMode::Blind => Vec::new(),
        };
        Shared {
            chooser: KeyChooser::new(config.keys, config.zipf),
            values: ValueMaker::new(config.value_size, config.seed),
            contexts,
            config,
            progress,
            stop,
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The context to send with a write of `key`.
    fn context_of(&self, key: u32) -> Option<Context> {
        let slot = self.contexts.get(key as usize)?;
        slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Remembers `context` as the latest of `key` (context mode only).
    fn remember(&self, key: u32, context: Option<Context>) {
        if let (Some(slot), Some(c)) = (self.contexts.get(key as usize), context) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
        }
    }

    fn put_options(&self, context: Option<Context>) -> PutOptions {
        PutOptions {
            context,
            w: self.config.w,
            ..PutOptions::default()
        }
    }

    fn get_options(&self) -> GetOptions {
        GetOptions { r: self.config.r }
    }
}

/// Microseconds in `d`, saturated.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One client.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Its number, from 0.
    pub(crate) id: u32,
    client: Client,
    rng: ChaCha8Rng,
    /// The key of each write it sent, indexed by the write's sequence number.
    pub(crate) log: Vec<u32>,
    /// What it measured.
    pub(crate) measured: Measured,
    /// Operations it did during the warm-up.
    pub(crate) warmup_ops: u64,
}

impl Worker {
    /// Client `id`, talking to `client`'s node, its generator derived from `seed` and `id`.
    pub(crate) fn new(id: u32, client: Client, seed: u64) -> Worker {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::from(id));
        Worker {
            id,
            client,
            rng,
            log: Vec::new(),
            measured: Measured::default(),
            warmup_ops: 0,
        }
    }

    /// Writes `key` once (its value naming this client and the write's number), remembering
    /// the new context. Returns whether the write succeeded, and its latency.
    async fn put(
        &mut self,
        shared: &Shared,
        key: u32,
        context: Option<Context>,
    ) -> (Result<(), dynamo_client::ClientError>, Duration) {
        // Lossless: a client sends far fewer than 2^32 writes in a run.
        let seq = self.log.len() as u32;
        self.log.push(key);
        let value = shared.values.make(
            WriteId {
                key,
                client: self.id,
                seq,
            },
            &mut self.rng,
        );
        let options = shared.put_options(context);
        let started = Instant::now();
        let result = self
            .client
            .put(&shared.config.bucket, key_name(key), value, &options)
            .await;
        let took = started.elapsed();
        match result {
            Ok(done) => {
                shared.remember(key, done.context);
                (Ok(()), took)
            }
            Err(e) => (Err(e), took),
        }
    }

    /// Preload: writes its share of the keys (`id`, `id + clients`, …) once each.
    pub(crate) async fn preload(mut self, shared: Arc<Shared>) -> Worker {
        let step = shared.config.clients;
        for key in (self.id..shared.config.keys).step_by(step) {
            if shared.stopped() {
                break;
            }
            let context = shared.context_of(key);
            match self.put(&shared, key, context).await {
                (Ok(()), _) => shared.progress.ok(),
                (Err(_), _) => shared.progress.fail(),
            }
        }
        self
    }

    /// The mix: reads and writes of random keys until `end`, measured from `measure_from`.
    pub(crate) async fn mix(
        mut self,
        shared: Arc<Shared>,
        measure_from: Instant,
        end: Instant,
    ) -> Worker {
        let config = &shared.config;
        loop {
            let now = Instant::now();
            if now >= end || shared.stopped() {
                break;
            }
            let measuring = now >= measure_from;
            let key = shared.chooser.sample(&mut self.rng);
            let read = self.rng.random::<f64>() < config.read_ratio;
            if read {
                let started = Instant::now();
                let result = self
                    .client
                    .get_with(&config.bucket, key_name(key), &shared.get_options())
                    .await;
                let took = started.elapsed();
                match result {
                    Ok(object) => {
                        shared.progress.ok();
                        let siblings = object.siblings.len();
                        let not_found = object.is_not_found();
                        shared.remember(key, object.context);
                        if measuring {
                            let m = &mut self.measured;
                            m.get.latency_us.record(micros(took));
                            m.not_found += u64::from(not_found);
                            if siblings > 1 {
                                m.reads_with_siblings += 1;
                            }
                            m.max_siblings = m.max_siblings.max(siblings);
                        } else {
                            self.warmup_ops += 1;
                        }
                    }
                    Err(e) => {
                        shared.progress.fail();
                        if measuring {
                            self.measured.get.errors.count(&e);
                            self.measured.note_error(&e);
                        }
                    }
                }
            } else {
                let context = shared.context_of(key);
                let with_context = context.is_some();
                match self.put(&shared, key, context).await {
                    (Ok(()), took) => {
                        shared.progress.ok();
                        if measuring {
                            self.measured.put.latency_us.record(micros(took));
                            self.measured.puts_with_context += u64::from(with_context);
                        } else {
                            self.warmup_ops += 1;
                        }
                    }
                    (Err(e), _) => {
                        shared.progress.fail();
                        if measuring {
                            self.measured.put.errors.count(&e);
                            self.measured.note_error(&e);
                        }
                    }
                }
            }
        }
        self
    }

    /// Reads back its share of the written keys (`written[k]`, for `k` ≡ `id` modulo the
    /// number of clients) and checks each sibling against `logs`: it must be a value some
    /// client of this run wrote to that key.
    pub(crate) async fn verify(
        self,
        shared: Arc<Shared>,
        logs: Arc<Vec<Vec<u32>>>,
        written: Arc<Vec<bool>>,
    ) -> VerifyReport {
        let mut report = VerifyReport::default();
        let problem = |report: &mut VerifyReport, text: String| {
            if report.problems.len() < 10 {
                report.problems.push(text);
            }
        };
        let step = shared.config.clients;
        for key in (self.id..shared.config.keys).step_by(step) {
            if !written[key as usize] {
                continue;
            }
            report.keys_checked += 1;
            let name = key_name(key);
            let object = match self
                .client
                .get_with(&shared.config.bucket, &name, &shared.get_options())
                .await
            {
                Ok(o) => {
                    shared.progress.ok();
                    o
                }
                Err(e) => {
                    shared.progress.fail();
                    report.read_errors += 1;
                    problem(&mut report, format!("{name}: read failed: {e}"));
                    continue;
                }
            };
            if object.is_not_found() {
                report.missing += 1;
                problem(
                    &mut report,
                    format!("{name}: written but reads as not found"),
                );
                continue;
            }
            if object.siblings.len() > 1 {
                report.keys_with_siblings += 1;
            }
            for sibling in &object.siblings {
                let verdict = if sibling.deleted {
                    Err("a tombstone (the load generator deletes nothing)".to_owned())
                } else {
                    shared.values.check(&sibling.value).and_then(|id| {
                        let logged = logs
                            .get(id.client as usize)
                            .and_then(|log| log.get(id.seq as usize));
                        if id.key == key && logged == Some(&key) {
                            Ok(())
                        } else {
                            Err(format!(
                                "names key {}, client {}, write {}: not a write of this key",
                                id.key, id.client, id.seq
                            ))
                        }
                    })
                };
                if let Err(why) = verdict {
                    report.foreign_values += 1;
                    problem(&mut report, format!("{name}: {why}"));
                }
            }
        }
        report
    }
}

//! One client of the load: its connection to its node, its generator, the writes it sent,
//! what it measured; and what all clients share (settings, key chooser, values, the latest
//! context of each key).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dynamo_client::{
    BinaryClient, Client, ClientError, ClusterClient, Context, GetOptions, Object, PutOptions,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::keys::{KeyChooser, ValueMaker, WriteId, key_name};
use super::progress::Progress;
use super::report::{FailureKind, Measured, VerifyReport};
use super::resp::{RespClient, RespError};
use super::schedule::Schedule;
use super::{LATE_START, LoadConfig, Protocol, WriteMode};

/// What every client reads.
#[derive(Debug)]
pub(crate) struct Shared {
    config: LoadConfig,
    chooser: KeyChooser,
    values: ValueMaker,
    /// The latest context seen for each key (HTTP or binary in context mode; empty otherwise).
    contexts: Vec<Mutex<Option<Context>>>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    /// The shared state of a run of `config`.
    pub(crate) fn new(config: LoadConfig, progress: Arc<Progress>, stop: Arc<AtomicBool>) -> Self {
        let contexts = match (config.protocol, config.mode) {
            (Protocol::Http | Protocol::Binary, WriteMode::Context) => {
                (0..config.keys).map(|_| Mutex::new(None)).collect()
            }
            _ => Vec::new(),
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
            dw: None,
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

/// Why one operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    /// Over HTTP or the binary protocol (`dynamo-client`).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Over RESP.
    #[error(transparent)]
    Resp(#[from] RespError),
}

impl OpError {
    /// The kind it is counted under: RESP failures are all "other".
    fn kind(&self) -> FailureKind {
        match self {
            OpError::Client(e) => FailureKind::of(e),
            OpError::Resp(_) => FailureKind::Other,
        }
    }
}

/// What a read found, whatever the protocol.
#[derive(Debug)]
struct Found {
    /// Each version: `Some(value)`, or `None` for a tombstone. Empty: the key is absent.
    versions: Vec<Option<Bytes>>,
    /// The context to write with next (HTTP and binary).
    context: Option<Context>,
}

impl Found {
    /// What a read of `dynamo-client` (HTTP or binary) found.
    fn of(object: Object) -> Found {
        Found {
            versions: object
                .siblings
                .into_iter()
                .map(|s| (!s.deleted).then_some(s.value))
                .collect(),
            context: object.context,
        }
    }

    /// True when no version is a live value.
    fn not_found(&self) -> bool {
        self.versions.iter().all(Option::is_none)
    }
}

/// One RESP connection, opened on first use and again after a failure that left it out of
/// step.
#[derive(Debug)]
pub(crate) struct RespLink {
    /// `host:port`.
    address: String,
    connection: Option<RespClient>,
    /// The time limit of one request, connecting included.
    timeout: Duration,
}

impl RespLink {
    /// A link to `address` (`host:port`), not connected yet.
    pub(crate) fn new(address: String, timeout: Duration) -> RespLink {
        RespLink {
            address,
            connection: None,
            timeout,
        }
    }

    /// `GET key` (`None`: absent), or `SET key value` when `value` is given.
    async fn request(
        &mut self,
        key: &str,
        value: Option<Bytes>,
    ) -> Result<Option<Bytes>, RespError> {
        let outcome = tokio::time::timeout(self.timeout, async {
            let connection = match self.connection.take() {
                Some(c) => c,
                None => RespClient::connect(&self.address).await?,
            };
            let connection = self.connection.insert(connection);
            match value {
                Some(value) => connection.set(key.as_bytes(), &value).await.map(|()| None),
                None => connection.get(key.as_bytes()).await,
            }
        })
        .await
        .unwrap_or(Err(RespError::Timeout(self.timeout)));
        if outcome.as_ref().is_err_and(|e| !e.connection_usable()) {
            self.connection = None;
        }
        outcome
    }
}

/// How a client talks to its node.
#[derive(Debug)]
pub(crate) enum Link {
    /// The HTTP API through `dynamo-client` (its pool of connections).
    Http(Client),
    /// The HTTP API through a partition-aware `ClusterClient`, shared by every client.
    Cluster(ClusterClient),
    /// The binary protocol through `dynamo-client`: the node's client, shared by every
    /// client of the load on that node, which pipelines their requests.
    Binary(BinaryClient),
    /// The Redis protocol over one connection.
    Resp(RespLink),
}

impl Link {
    /// Reads `key`.
    async fn get(&mut self, shared: &Shared, key: u32) -> Result<Found, OpError> {
        let (bucket, options) = (&shared.config.bucket, shared.get_options());
        match self {
            Link::Http(client) => Ok(Found::of(
                client.get_with(bucket, key_name(key), &options).await?,
            )),
            Link::Binary(client) => Ok(Found::of(
                client.get_with(bucket, key_name(key), &options).await?,
            )),
            Link::Cluster(client) => Ok(Found::of(
                client.get_with(bucket, key_name(key), &options).await?,
            )),
            Link::Resp(link) => Ok(Found {
                versions: link
                    .request(&key_name(key), None)
                    .await?
                    .map(Some)
                    .into_iter()
                    .collect(),
                context: None,
            }),
        }
    }

    /// Writes `value` to `key` (with `context` over HTTP or binary); the new context, if any.
    async fn put(
        &mut self,
        shared: &Shared,
        key: u32,
        value: Bytes,
        context: Option<Context>,
    ) -> Result<Option<Context>, OpError> {
        let bucket = &shared.config.bucket;
        match self {
            Link::Http(client) => {
                let options = shared.put_options(context);
                let done = client.put(bucket, key_name(key), value, &options).await?;
                Ok(done.context)
            }
            Link::Binary(client) => {
                let options = shared.put_options(context);
                let done = client.put(bucket, key_name(key), value, &options).await?;
                Ok(done.context)
            }
            Link::Cluster(client) => {
                let options = shared.put_options(context);
                let done = client.put(bucket, key_name(key), value, &options).await?;
                Ok(done.context)
            }
            Link::Resp(link) => {
                link.request(&key_name(key), Some(value)).await?;
                Ok(None)
            }
        }
    }
}

/// One client.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Its number, from 0.
    pub(crate) id: u32,
    link: Link,
    rng: ChaCha8Rng,
    /// The key of each write it sent, indexed by the write's sequence number.
    pub(crate) log: Vec<u32>,
    /// What it measured.
    pub(crate) measured: Measured,
    /// Operations it did during the warm-up.
    pub(crate) warmup_ops: u64,
}

impl Worker {
    /// Client `id`, talking to its node through `link`, its generator derived from `seed` and
    /// `id`.
    pub(crate) fn new(id: u32, link: Link, seed: u64) -> Worker {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::from(id));
        Worker {
            id,
            link,
            rng,
            log: Vec::new(),
            measured: Measured::default(),
            warmup_ops: 0,
        }
    }

    /// The value of this client's next write, to `key` (naming this client and the write's
    /// number), logged as sent.
    fn next_value(&mut self, shared: &Shared, key: u32) -> Bytes {
        // Lossless: a client sends far fewer than 2^32 writes in a run.
        let seq = self.log.len() as u32;
        self.log.push(key);
        shared.values.make(
            WriteId {
                key,
                client: self.id,
                seq,
            },
            &mut self.rng,
        )
    }

    /// Preload: writes its share of the keys (`id`, `id + clients`, …) once each.
    pub(crate) async fn preload(mut self, shared: Arc<Shared>) -> Worker {
        let step = shared.config.clients;
        for key in (self.id..shared.config.keys).step_by(step) {
            if shared.stopped() {
                break;
            }
            let context = shared.context_of(key);
            let value = self.next_value(&shared, key);
            match self.link.put(&shared, key, value, context).await {
                Ok(context) => {
                    shared.remember(key, context);
                    shared.progress.ok();
                }
                Err(_) => shared.progress.fail(),
            }
        }
        self
    }

    /// The mix: reads and writes of random keys until `end`, measured from `measure_from`.
    ///
    /// Closed loop (no `schedule`): each operation starts when the previous one ended, and its
    /// latency is counted from when it was sent. Open loop: each operation takes the next slot
    /// of `schedule`, and its latency is counted from the slot's intended start.
    pub(crate) async fn mix(
        mut self,
        shared: Arc<Shared>,
        schedule: Option<Arc<Schedule>>,
        measure_from: Instant,
        end: Instant,
    ) -> Worker {
        let config = &shared.config;
        loop {
            let intended = match &schedule {
                Some(s) => match s.next().await {
                    Some(at) => Some(at),
                    None => break,
                },
                None => None,
            };
            if Instant::now() >= end || shared.stopped() {
                break;
            }
            let key = shared.chooser.sample(&mut self.rng);
            let read = self.rng.random::<f64>() < config.read_ratio;
            // A write's value is made before the clock starts.
            let write = (!read).then(|| (shared.context_of(key), self.next_value(&shared, key)));
            let started = Instant::now();
            if let Some(s) = &schedule {
                s.sent();
            }
            let from = intended.unwrap_or(started);
            let measuring = from >= measure_from;
            if measuring && started.saturating_duration_since(from) > LATE_START {
                self.measured.late_starts += 1;
            }
            match write {
                None => {
                    let result = self.link.get(&shared, key).await;
                    let took = micros(from.elapsed());
                    match result {
                        Ok(found) => {
                            shared.progress.ok();
                            let siblings = found.versions.len();
                            let not_found = found.not_found();
                            shared.remember(key, found.context);
                            if measuring {
                                let m = &mut self.measured;
                                m.get.latency_us.record(took);
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
                                self.measured.get.errors.add(e.kind());
                                self.measured.note_failure(e.kind(), &e);
                            }
                        }
                    }
                }
                Some((context, value)) => {
                    let with_context = context.is_some();
                    let result = self.link.put(&shared, key, value, context).await;
                    let took = micros(from.elapsed());
                    match result {
                        Ok(context) => {
                            shared.remember(key, context);
                            shared.progress.ok();
                            if measuring {
                                self.measured.put.latency_us.record(took);
                                self.measured.puts_with_context += u64::from(with_context);
                            } else {
                                self.warmup_ops += 1;
                            }
                        }
                        Err(e) => {
                            shared.progress.fail();
                            if measuring {
                                self.measured.put.errors.add(e.kind());
                                self.measured.note_failure(e.kind(), &e);
                            }
                        }
                    }
                }
            }
        }
        self
    }

    /// Reads back its share of the written keys (`written[k]`, for `k` ≡ `id` modulo the
    /// number of clients) and checks each version against `logs`: it must be a value some
    /// client of this run wrote to that key. (Over RESP a key has one value: the last write
    /// the server applied.)
    pub(crate) async fn verify(
        mut self,
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
            let found = match self.link.get(&shared, key).await {
                Ok(found) => {
                    shared.progress.ok();
                    found
                }
                Err(e) => {
                    shared.progress.fail();
                    report.read_errors += 1;
                    problem(&mut report, format!("{name}: read failed: {e}"));
                    continue;
                }
            };
            if found.not_found() {
                report.missing += 1;
                problem(
                    &mut report,
                    format!("{name}: written but reads as not found"),
                );
                continue;
            }
            if found.versions.len() > 1 {
                report.keys_with_siblings += 1;
            }
            for version in &found.versions {
                let verdict = match version {
                    None => Err("a tombstone (the load generator deletes nothing)".to_owned()),
                    Some(value) => shared.values.check(value).and_then(|id| {
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
                    }),
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

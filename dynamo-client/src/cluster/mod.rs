//! [`ClusterClient`]: a client of a whole cluster that routes each request itself (the
//! paper's client-driven coordination, §6.4) and fails over between nodes.
//!
//! - **Routing.** It learns the ring and every member's HTTP endpoint from any node
//!   (`GET /ring`; nodes announce their endpoints in the cluster state) and sends each
//!   request to the first reachable node of its key's preference list: a coordinator of the
//!   key, so no request is forwarded. Every answer carries the node's ring version
//!   (`X-Dynamo-Ring`); a version above the client's makes it fetch the ring again, and so
//!   does a copy older than [`ClusterOptions::refresh_interval`].
//! - **Failover.** A node that cannot be reached, does not answer in time, says it is
//!   overloaded, or cannot gather a read quorum (`Unavailable` to a read: it is cut off
//!   from the others) is skipped for a cool-down by its circuit breaker (a ping probes it
//!   afterwards; a node that answers the ping and fails again is skipped twice as long),
//!   and the request goes to the next node of the list, all within one deadline
//!   ([`ClusterOptions::deadline`]).
//! - **Writes are not applied twice.** A read is retried on the next node after any
//!   transport failure. A write is retried only when it cannot have been applied: the
//!   connection was refused or never opened, or the node answered that it did not take it
//!   (overloaded, stopping). A write that was sent and not answered fails with
//!   [`ClientError::OutcomeUnknown`].
//! - **Hedged reads** ([`ClusterOptions::hedged_reads`]): a read not answered within the
//!   95th percentile of recent reads is also sent to the next node; the first answer wins.
//! - Connections are pooled per node and kept alive (one `reqwest` pool for all nodes).

mod breaker;
mod hedge;
mod view;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::{Client, auth_headers};
use crate::error::ClientError;
use crate::tls::{TlsConfig, http_builder};
use crate::types::{Context, DeleteOptions, GetOptions, Object, PutOptions, PutResult};
use breaker::Breaker;
use hedge::Latencies;
use view::View;

/// How soon a ring fetched while some member's endpoints were unknown is fetched again.
const INCOMPLETE_REFRESH: Duration = Duration::from_secs(1);

/// Settings of a [`ClusterClient`]: set the fields that matter, the rest from
/// [`ClusterOptions::default`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The access key (`<id>.<secret>`) sent with every request.
    pub token: Option<String>,
    /// Which certificates to trust for `https://` nodes (default: the system's roots).
    pub tls: Option<TlsConfig>,
    /// How long one node has to answer one attempt, connecting included (default 2 s).
    pub attempt_timeout: Duration,
    /// How long a request may take in all, failovers included (default 10 s).
    pub deadline: Duration,
    /// How long a node that failed is skipped before one request probes it again (default
    /// 1 s; doubled for each failure in a row, up to 30 s).
    pub breaker_cooldown: Duration,
    /// Send a read also to the next node when the first has not answered within the 95th
    /// percentile of recent reads (default off).
    pub hedged_reads: bool,
    /// Fetch the ring again when the copy is older than this, even if no answer announced
    /// a newer one (default 10 s): it also refreshes which nodes the cluster thinks down.
    pub refresh_interval: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            token: None,
            tls: None,
            attempt_timeout: Duration::from_secs(2),
            deadline: Duration::from_secs(10),
            breaker_cooldown: Duration::from_secs(1),
            hedged_reads: false,
            refresh_interval: Duration::from_secs(10),
        }
    }
}

/// A client of a whole cluster that sends each request to a replica of its key and fails
/// over between nodes.
///
/// - **Routing.** It learns the ring and every member's HTTP endpoint from any node
///   (`GET /ring`) and sends each request to the first reachable node of its key's
///   preference list: a coordinator of the key, so no request is forwarded. A newer ring
///   version announced by an answer (`X-Dynamo-Ring`), or a copy older than
///   [`ClusterOptions::refresh_interval`], makes it fetch the ring again.
/// - **Failover.** A node that cannot be reached, does not answer in time, says it is
///   overloaded or cannot gather a read quorum (it is cut off from the others) is skipped by
///   its circuit breaker until a background ping answers (longer each time it fails again
///   before a request succeeds); the request goes to the next node, all within
///   [`ClusterOptions::deadline`].
/// - **Writes are not applied twice.** A read moves on after any transport failure; a write
///   only when it cannot have been applied (refused connection, overloaded node), else it
///   fails with [`ClientError::OutcomeUnknown`].
/// - **Hedged reads** ([`ClusterOptions::hedged_reads`]) ask the next node too when the first
///   is slower than the recent reads' 95th percentile.
///
/// Cheap to clone; share one among tasks. Needs a tokio runtime (ring refreshes and probes
/// run as tasks).
///
/// ```no_run
/// use dynamo_client::{ClusterClient, ClusterOptions, PutOptions};
///
/// # async fn demo() -> Result<(), dynamo_client::ClientError> {
/// let seeds = ["http://127.0.0.1:8001", "http://127.0.0.1:8002"];
/// let cluster = ClusterClient::connect(&seeds, ClusterOptions::default()).await?;
/// cluster.put("cart", "alice", "apples", &PutOptions::default()).await?;
/// let read = cluster.get("cart", "alice").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClusterOptions,
    seeds: Vec<String>,
    /// One pool of connections for every node.
    http: reqwest::Client,
    /// The highest ring version any answer announced.
    ring_seen: Arc<AtomicU64>,
    /// What requests are routed by.
    table: RwLock<Arc<Table>>,
    /// Every node ever known, by base URL (a node keeps its breaker across ring changes).
    nodes: RwLock<HashMap<String, Arc<Link>>>,
    /// Held by the one task fetching the ring.
    refreshing: tokio::sync::Mutex<()>,
    latencies: Latencies,
}

/// A view of the ring and the links of its nodes (`links[i]` reaches `view.everyone[i]`),
/// swapped whole when the ring is fetched again.
struct Table {
    view: View,
    links: Vec<Arc<Link>>,
}

/// A node: its client and its breaker.
struct Link {
    client: Client,
    breaker: Breaker,
}

/// What a failed attempt means for the request.
enum Next {
    /// Try the next node.
    Retry,
    /// Stop: this is the request's answer.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("seeds", &self.inner.seeds)
            .field("ring_version", &self.ring_version())
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// A client of the cluster that `seeds` (HTTP base URLs of some of its nodes) belong to;
    /// it fetches the ring from the first seed that answers.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for a malformed seed or an empty list,
    /// [`ClientError::Tls`] if TLS cannot be set up, and the last seed's error when none
    /// answered with a ring.
    pub async fn connect(
        seeds: &[impl AsRef<str>],
        options: ClusterOptions,
    ) -> Result<ClusterClient, ClientError> {
        let seeds: Vec<String> = seeds
            .iter()
            .map(|s| s.as_ref().trim_end_matches('/').to_owned())
            .collect();
        if seeds.is_empty() {
            return Err(ClientError::InvalidUrl {
                url: String::new(),
                reason: "no seed node given".to_owned(),
            });
        }
        let headers = auth_headers(options.token.as_deref(), &seeds[0])?;
        let http = http_builder(options.tls.as_ref())?
            .timeout(options.attempt_timeout)
            .connect_timeout(options.attempt_timeout)
            .tcp_nodelay(true)
            .no_proxy()
            .default_headers(headers)
            .build()?;
        let cluster = ClusterClient {
            inner: Arc::new(Inner {
                table: RwLock::new(Arc::new(Table {
                    view: View::seeds_only(&[]),
                    links: Vec::new(),
                })),
                latencies: Latencies::new(),
                options,
                seeds,
                http,
                ring_seen: Arc::new(AtomicU64::new(0)),
                nodes: RwLock::new(HashMap::new()),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        };
        let seeds_only = cluster.table_of(View::seeds_only(&cluster.inner.seeds))?;
        *cluster
            .inner
            .table
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(seeds_only);
        cluster.refresh().await?;
        Ok(cluster)
    }

    /// The ring version the client routes by.
    pub fn ring_version(&self) -> u64 {
        self.table().view.version
    }

    /// The nodes a request for `key` of `bucket` would try, in order (base URLs): its
    /// preference list first, nodes believed down last.
    pub fn route(&self, bucket: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Vec<String> {
        self.table()
            .view
            .candidate_urls(bucket.as_ref(), key.as_ref())
    }

    /// A client of one node of the cluster (for the admin endpoints), sharing this client's
    /// connections, key and TLS settings.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for a malformed URL.
    pub fn node(&self, base_url: &str) -> Result<Client, ClientError> {
        Ok(self.link(base_url)?.client.clone())
    }

    /// Fetches the ring from the nodes in turn (known members first, then the seeds) and
    /// routes by it from now on.
    ///
    /// # Errors
    /// The last node's error when none answered with a usable ring.
    pub async fn refresh(&self) -> Result<(), ClientError> {
        let _one_at_a_time = self.inner.refreshing.lock().await;
        let mut last = None;
        let current = self.table();
        for (node, link) in current.view.everyone.iter().zip(&current.links) {
            match link.client.ring(None).await {
                Ok(info) => match View::from_ring(&info, &self.inner.seeds) {
                    Some(view) => {
                        self.inner
                            .ring_seen
                            .fetch_max(view.version, Ordering::Relaxed);
                        let table = self.table_of(view)?;
                        *self.inner.table.write().unwrap_or_else(|e| e.into_inner()) =
                            Arc::new(table);
                        return Ok(());
                    }
                    None => {
                        last = Some(ClientError::Decode {
                            status: 200,
                            detail: format!("{node} has no ring with client endpoints yet"),
                        });
                    }
                },
                Err(e) => {
                    link.breaker.failure(Instant::now());
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(ClientError::Decode {
            status: 200,
            detail: "no node to ask for the ring".to_owned(),
        }))
    }

    /// Reads `key` of `bucket` from its coordinators (see [`Client::get`]).
    ///
    /// # Errors
    /// As [`Client::get_with`], from the last node tried when none answered.
    pub async fn get(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
    ) -> Result<Object, ClientError> {
        self.get_with(bucket, key, &GetOptions::default()).await
    }

    /// Reads `key` of `bucket` with `options` (see [`Client::get_with`]).
    ///
    /// # Errors
    /// As [`Client::get_with`], from the last node tried when none answered.
    pub async fn get_with(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        options: &GetOptions,
    ) -> Result<Object, ClientError> {
        let (bucket, key) = (bucket.as_ref(), key.as_ref());
        let started = Instant::now();
        let read = self
            .run(Kind::Read, bucket, key, |client| async move {
                client.get_with(bucket, key, options).await
            })
            .await;
        if read.is_ok() {
            self.inner.latencies.record(started.elapsed());
        }
        read
    }

    /// Writes `value` to `key` of `bucket` through one of its coordinators (see
    /// [`Client::put`]).
    ///
    /// # Errors
    /// As [`Client::put`]; [`ClientError::OutcomeUnknown`] when the write was sent and not
    /// answered.
    pub async fn put(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        value: impl Into<Bytes>,
        options: &PutOptions,
    ) -> Result<PutResult, ClientError> {
        let (bucket, key, value) = (bucket.as_ref(), key.as_ref(), value.into());
        self.run(Kind::Write, bucket, key, |client| {
            let value = value.clone();
            async move { client.put(bucket, key, value, options).await }
        })
        .await
    }

    /// Deletes `key` of `bucket` through one of its coordinators (see [`Client::delete`]).
    ///
    /// # Errors
    /// As [`Client::delete`]; [`ClientError::OutcomeUnknown`] when the delete was sent and
    /// not answered.
    pub async fn delete(
        &self,
        bucket: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        options: &DeleteOptions,
    ) -> Result<Option<Context>, ClientError> {
        let (bucket, key) = (bucket.as_ref(), key.as_ref());
        self.run(Kind::Write, bucket, key, |client| async move {
            client.delete(bucket, key, options).await
        })
        .await
    }

    fn table(&self) -> Arc<Table> {
        Arc::clone(&self.inner.table.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The table of `view`: its nodes' links (kept from before for nodes already known).
    fn table_of(&self, view: View) -> Result<Table, ClientError> {
        let links = view
            .everyone
            .iter()
            .map(|url| self.link(url))
            .collect::<Result<_, _>>()?;
        Ok(Table { view, links })
    }

    /// The link to `url`, made on first use.
    fn link(&self, url: &str) -> Result<Arc<Link>, ClientError> {
        if let Some(link) = self
            .inner
            .nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
        {
            return Ok(Arc::clone(link));
        }
        let client = Client::with_http_client(url, self.inner.http.clone())?
            .watching_ring(Arc::clone(&self.inner.ring_seen));
        let link = Arc::new(Link {
            client,
            breaker: Breaker::new(self.inner.options.breaker_cooldown),
        });
        let mut nodes = self.inner.nodes.write().unwrap_or_else(|e| e.into_inner());
        Ok(Arc::clone(nodes.entry(url.to_owned()).or_insert(link)))
    }

    /// Pings a skipped node in the background once its breaker's cool-down is over: an
    /// answer closes the breaker, so requests go to it again.
    fn probe_if_due(&self, link: &Arc<Link>) {
        if link.breaker.probe_due(Instant::now()) {
            let link = Arc::clone(link);
            tokio::spawn(async move {
                match link.client.ping().await {
                    Ok(()) => link.breaker.probe_success(),
                    Err(_) => link.breaker.failure(Instant::now()),
                }
            });
        }
    }

    /// Fetches the ring in the background when an answer announced a newer one or the copy
    /// is old; at most one fetch at a time.
    fn refresh_if_stale(&self) {
        let table = self.table();
        let view = &table.view;
        let newer = self.inner.ring_seen.load(Ordering::Relaxed) > view.version;
        let old = view.fetched.elapsed() >= self.inner.options.refresh_interval
            || (view.incomplete && view.fetched.elapsed() >= INCOMPLETE_REFRESH);
        if (newer || old) && self.inner.refreshing.try_lock().is_ok() {
            let this = self.clone();
            // A failed refresh leaves the current view; the next request tries again.
            tokio::spawn(async move { this.refresh().await });
        }
    }

    /// Runs `attempt` on the key's nodes in turn until one answers (see the module
    /// documentation for when a failure moves on to the next node).
    async fn run<'a, T, F, Fut>(
        &self,
        kind: Kind,
        bucket: &'a [u8],
        key: &'a [u8],
        attempt: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>> + 'a,
    {
        let deadline = Instant::now() + self.inner.options.deadline;
        let table = self.table();
        let mut order = table.view.candidates(bucket, key);
        // Nodes whose breaker is open go last, not away: when every node failed lately, the
        // request still tries them rather than failing without a try.
        let open = |i: &usize| table.links[*i].breaker.is_open();
        if order.iter().any(open) {
            for i in order.iter().filter(|i| open(i)) {
                self.probe_if_due(&table.links[*i]);
            }
            order.sort_by_key(open);
        }
        let order: Vec<(&String, &Arc<Link>)> = order
            .into_iter()
            .map(|i| (&table.view.everyone[i], &table.links[i]))
            .collect();
        let hedge_after = (kind == Kind::Read && self.inner.options.hedged_reads)
            .then(|| self.inner.latencies.p95())
            .flatten();
        let mut last = None;
        let mut i = 0;
        while i < order.len() {
            let (url, link) = order[i];
            i += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let first = attempt(link.client.clone());
            let outcome = match (hedge_after, order.get(i)) {
                (Some(after), Some(&(second_url, second))) if after < left => {
                    let hedged = hedge::race(first, after, || attempt(second.client.clone()));
                    match tokio::time::timeout(left, hedged).await {
                        Ok((result, by_second)) => {
                            if by_second {
                                // The second node answered: the first is not to blame yet.
                                i += 1;
                                Some((second_url, second, result))
                            } else {
                                Some((url, link, result))
                            }
                        }
                        Err(_) => None,
                    }
                }
                _ => tokio::time::timeout(left, first)
                    .await
                    .ok()
                    .map(|result| (url, link, result)),
            };
            let Some((url, link, result)) = outcome else {
                // The deadline passed with the attempt in flight.
                link.breaker.failure(Instant::now());
                return Err(match kind {
                    Kind::Read => ClientError::Timeout(self.inner.options.deadline),
                    Kind::Write => ClientError::OutcomeUnknown {
                        node: url.to_owned(),
                        message: "no answer before the request's deadline".to_owned(),
                    },
                });
            };
            match result {
                Ok(value) => {
                    link.breaker.success();
                    self.refresh_if_stale();
                    return Ok(value);
                }
                Err(e) => match judge(kind, &e) {
                    (Next::Retry, blame) => {
                        if blame {
                            link.breaker.failure(Instant::now());
                        }
                        last = Some(e);
                    }
                    (Next::Fail, blame) => {
                        if blame {
                            link.breaker.failure(Instant::now());
                        }
                        self.refresh_if_stale();
                        return Err(match (kind, e) {
                            (Kind::Write, ClientError::Transport(t)) => {
                                ClientError::OutcomeUnknown {
                                    node: url.to_owned(),
                                    message: t.to_string(),
                                }
                            }
                            (_, e) => e,
                        });
                    }
                },
            }
        }
        self.refresh_if_stale();
        Err(last.unwrap_or(ClientError::Timeout(self.inner.options.deadline)))
    }
}

/// Whether a failed attempt moves on to the next node, and whether the node is to blame
/// (its breaker opens).
fn judge(kind: Kind, e: &ClientError) -> (Next, bool) {
    match e {
        // Nothing was sent (refused, unreachable, TLS handshake): any request moves on.
        ClientError::Transport(t) if t.is_connect() => (Next::Retry, true),
        // Sent, then no answer: a read moves on; a write may have been applied.
        ClientError::Transport(_) => match kind {
            Kind::Read => (Next::Retry, true),
            Kind::Write => (Next::Fail, true),
        },
        // The node answered that it did not take the request.
        ClientError::Overloaded { .. } => (Next::Retry, true),
        // Too few replicas answered that coordinator: another may reach more.
        // - A read may be coordinated by any node of the key's sloppy preference list, so a
        //   node that cannot gather R answers is itself cut off from the others: it is
        //   skipped for a while (it fails every request it coordinates; with one node of
        //   three cut off from the others dynamo-faults measured 12-21% of all requests
        //   failing, 0.1% once such a node was skipped).
        // - A write's Unavailable says that fewer than W nodes of the key's sloppy list were
        //   reachable from that coordinator, which on its side of a partition holds for the
        //   key, not for the node: the node is not blamed (a minority side would then skip
        //   its own nodes and wait on the others). One answered at the timeout may have been
        //   applied on some replicas, so it is not sent again.
        ClientError::Unavailable { .. } => match kind {
            Kind::Read => (Next::Retry, true),
            Kind::Write => (Next::Fail, false),
        },
        // The node's own answer (not found, bad request, forbidden...): final.
        _ => (Next::Fail, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> ClientError {
        ClientError::Unavailable {
            needed: Some(2),
            answered: Some(1),
            message: "write quorum not met".to_owned(),
        }
    }

    #[test]
    fn a_coordinator_that_cannot_gather_a_read_quorum_is_skipped() {
        // A read moves on and blames the node, so the next requests go to another node of
        // the list first; a write stops there (it may have been applied) and blames nobody
        // (its key may have no reachable primary anywhere).
        assert!(matches!(
            judge(Kind::Read, &unavailable()),
            (Next::Retry, true)
        ));
        assert!(matches!(
            judge(Kind::Write, &unavailable()),
            (Next::Fail, false)
        ));
        let overloaded = ClientError::Overloaded {
            message: "busy".to_owned(),
        };
        assert!(matches!(
            judge(Kind::Write, &overloaded),
            (Next::Retry, true)
        ));
        let final_answer = ClientError::BadRequest {
            message: "bad context".to_owned(),
        };
        assert!(matches!(
            judge(Kind::Write, &final_answer),
            (Next::Fail, false)
        ));
    }
}

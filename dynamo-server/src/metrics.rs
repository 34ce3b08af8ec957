//! Counters shared by the HTTP layer, the peer transport and the node driver, rendered as
//! JSON (`/stats`) and Prometheus text (`/metrics`).
//!
//! Every figure is a relaxed atomic: exact enough for monitoring, and free of locks on the hot
//! path. Add a figure by adding a field and listing it in [`Metrics::counters`] (or
//! [`Metrics::histograms`]); both renderings follow from the list.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds (Prometheus `le` labels).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
];

/// A latency histogram with the fixed buckets [`LATENCY_BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations, in seconds.
    pub fn sum_secs(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Cumulative counts per bucket bound (each includes the smaller ones).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Every figure the server keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Client gets answered (any outcome).
    pub gets: Counter,
    /// Client puts answered (any outcome).
    pub puts: Counter,
    /// Client deletes answered (any outcome).
    pub deletes: Counter,
    /// Gets answered with more than one sibling (HTTP 300).
    pub sibling_reads: Counter,
    /// Gets that found nothing or a tombstone (HTTP 404).
    pub not_found: Counter,
    /// Requests refused because R or W could not be met (HTTP 503).
    pub unavailable: Counter,
    /// Requests refused as malformed (HTTP 400/413).
    pub bad_requests: Counter,
    /// Requests refused for want of a valid access key (HTTP 401).
    pub auth_unauthorized: Counter,
    /// Requests refused because their key lacks the permission (HTTP 403).
    pub auth_forbidden: Counter,
    /// Requests refused because the node's queue was full (HTTP 503).
    pub overloaded: Counter,
    /// Requests failed by the storage engine (HTTP 500).
    pub storage_errors: Counter,
    /// Connections closed as soon as accepted because their listener had its maximum open
    /// (HTTP, binary protocol and peer listeners together).
    pub connections_refused: Counter,
    /// HTTP connections closed because a request's line and headers did not arrive in time
    /// (slow clients, and keep-alive connections left idle).
    pub http_header_timeouts: Counter,
    /// HTTP requests refused (431) because their line and headers were too large.
    pub http_headers_too_large: Counter,
    /// TLS handshakes on the client ports (HTTP and binary) that failed or did not finish
    /// within the header timeout: clients that do not trust the node's certificate, plain
    /// text sent to a TLS port, silent connections.
    pub tls_handshake_failures: Counter,
    /// Requests this node forwarded to another coordinator (it was not a primary replica
    /// of the key): what client-side routing saves.
    pub forwards: Counter,
    /// The ring version this node holds (not a counter): answers carry it in the
    /// `X-Dynamo-Ring` header, so that a routing client notices a change without polling.
    pub ring_version: AtomicU64,
    /// Binary-protocol connections accepted.
    pub binary_connections: Counter,
    /// Binary-protocol connections closed because a frame was malformed, oversized or of
    /// another version.
    pub binary_bad_frames: Counter,
    /// Peer frames received and decoded.
    pub peer_frames_in: Counter,
    /// Peer frames written to sockets.
    pub peer_frames_out: Counter,
    /// Peer bytes received.
    pub peer_bytes_in: Counter,
    /// Peer bytes sent.
    pub peer_bytes_out: Counter,
    /// Peer connections closed because a frame was malformed, oversized or of another version.
    pub peer_bad_frames: Counter,
    /// Peer connections refused because the other side did not prove the cluster secret
    /// (failed handshake), or sent sealed bytes that did not open.
    pub peer_auth_failures: Counter,
    /// Outgoing peer connections established.
    pub peer_connects: Counter,
    /// Outgoing peer connection attempts that failed.
    pub peer_connect_failures: Counter,
    /// Messages to peers dropped (no address, queue full, connection down).
    pub peer_dropped: Counter,
    /// Messages from peers dropped on arrival because the node's queue was full.
    pub peer_inbound_dropped: Counter,
    /// Peers the failure detector marked down.
    pub peers_down: Counter,
    /// Peers that came back up.
    pub peers_up: Counter,
    /// Hints delivered to their intended node and deleted here.
    pub hints_delivered: Counter,
    /// Read repairs sent.
    pub read_repairs: Counter,
    /// Stored records that failed to decode.
    pub corrupt_records: Counter,
    /// Group commits or local writes the engine failed.
    pub storage_failures: Counter,
    /// Latency of client gets, as the HTTP layer saw them.
    pub get_latency: Histogram,
    /// Latency of client puts.
    pub put_latency: Histogram,
    /// Latency of client deletes.
    pub delete_latency: Histogram,
    /// The last minutes of client load, sampled from the figures above once a second
    /// (`/ui/history`; see [`crate::history`]).
    pub history: crate::history::History,
    /// Client requests each shard took (index: shard).
    pub shard_requests: ShardCounters,
    /// Peer messages each shard took (index: shard).
    pub shard_peer_messages: ShardCounters,
}

/// One [`Counter`] per possible shard of a node.
#[derive(Debug)]
pub struct ShardCounters(Box<[Counter]>);

impl Default for ShardCounters {
    fn default() -> Self {
        ShardCounters(
            (0..dynamo_core::node::shard::MAX_SHARDS)
                .map(|_| Counter::default())
                .collect(),
        )
    }
}

impl ShardCounters {
    /// Shard `shard`'s counter.
    pub fn shard(&self, shard: u16) -> Option<&Counter> {
        self.0.get(usize::from(shard))
    }
}

impl Metrics {
    /// Every counter with its name and help text.
    pub fn counters(&self) -> Vec<(&'static str, &'static str, &Counter)> {
        vec![
            ("gets", "client gets answered", &self.gets),
            ("puts", "client puts answered", &self.puts),
            ("deletes", "client deletes answered", &self.deletes),
            (
                "sibling_reads",
                "gets answered with siblings",
                &self.sibling_reads,
            ),
            (
                "not_found",
                "gets that found nothing or a tombstone",
                &self.not_found,
            ),
            (
                "unavailable",
                "requests failing their quorum",
                &self.unavailable,
            ),
            (
                "bad_requests",
                "malformed or oversized requests",
                &self.bad_requests,
            ),
            (
                "auth_unauthorized",
                "requests refused: no valid access key (401)",
                &self.auth_unauthorized,
            ),
            (
                "auth_forbidden",
                "requests refused: key without the permission (403)",
                &self.auth_forbidden,
            ),
            (
                "overloaded",
                "requests refused by admission control",
                &self.overloaded,
            ),
            (
                "storage_errors",
                "requests failed by the engine",
                &self.storage_errors,
            ),
            (
                "connections_refused",
                "connections closed at once: their listener was full",
                &self.connections_refused,
            ),
            (
                "http_header_timeouts",
                "HTTP connections closed: headers not received in time",
                &self.http_header_timeouts,
            ),
            (
                "http_headers_too_large",
                "HTTP requests refused: line and headers too large",
                &self.http_headers_too_large,
            ),
            (
                "forwards",
                "requests forwarded to another coordinator",
                &self.forwards,
            ),
            (
                "tls_handshake_failures",
                "TLS handshakes on the client ports that failed or timed out",
                &self.tls_handshake_failures,
            ),
            (
                "binary_connections",
                "binary-protocol connections accepted",
                &self.binary_connections,
            ),
            (
                "binary_bad_frames",
                "binary-protocol connections closed for a bad frame",
                &self.binary_bad_frames,
            ),
            (
                "peer_frames_in",
                "peer frames received",
                &self.peer_frames_in,
            ),
            ("peer_frames_out", "peer frames sent", &self.peer_frames_out),
            ("peer_bytes_in", "peer bytes received", &self.peer_bytes_in),
            ("peer_bytes_out", "peer bytes sent", &self.peer_bytes_out),
            (
                "peer_bad_frames",
                "peer connections closed for a bad frame",
                &self.peer_bad_frames,
            ),
            (
                "peer_auth_failures",
                "peer connections refused: handshake or sealed bytes failed",
                &self.peer_auth_failures,
            ),
            (
                "peer_connects",
                "outgoing peer connections made",
                &self.peer_connects,
            ),
            (
                "peer_connect_failures",
                "outgoing peer connections failed",
                &self.peer_connect_failures,
            ),
            (
                "peer_dropped",
                "messages to peers dropped",
                &self.peer_dropped,
            ),
            (
                "peer_inbound_dropped",
                "messages from peers dropped by a full node queue",
                &self.peer_inbound_dropped,
            ),
            ("peers_down", "peers marked down", &self.peers_down),
            ("peers_up", "peers back up", &self.peers_up),
            (
                "hints_delivered",
                "hints delivered and deleted",
                &self.hints_delivered,
            ),
            ("read_repairs", "read repairs sent", &self.read_repairs),
            (
                "corrupt_records",
                "stored records that failed to decode",
                &self.corrupt_records,
            ),
            (
                "storage_failures",
                "failed group commits",
                &self.storage_failures,
            ),
        ]
    }

    /// Every histogram with its name and help text.
    pub fn histograms(&self) -> Vec<(&'static str, &'static str, &Histogram)> {
        vec![
            (
                "get_latency_seconds",
                "client get latency",
                &self.get_latency,
            ),
            (
                "put_latency_seconds",
                "client put latency",
                &self.put_latency,
            ),
            (
                "delete_latency_seconds",
                "client delete latency",
                &self.delete_latency,
            ),
        ]
    }

    /// The figures as a JSON object: counters by name, histograms as count and sum.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (name, _, c) in self.counters() {
            map.insert(name.to_owned(), c.get().into());
        }
        for (name, _, h) in self.histograms() {
            map.insert(
                name.to_owned(),
                serde_json::json!({ "count": h.count(), "sum": h.sum_secs() }),
            );
        }
        serde_json::Value::Object(map)
    }

    /// The figures in Prometheus' text format, each name prefixed with `dynamo_`.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help, c) in self.counters() {
            let _ = writeln!(out, "# HELP dynamo_{name}_total {help}");
            let _ = writeln!(out, "# TYPE dynamo_{name}_total counter");
            let _ = writeln!(out, "dynamo_{name}_total {}", c.get());
        }
        for (name, help, h) in self.histograms() {
            let _ = writeln!(out, "# HELP dynamo_{name} {help}");
            let _ = writeln!(out, "# TYPE dynamo_{name} histogram");
            for (bound, count) in h.cumulative() {
                let _ = writeln!(out, "dynamo_{name}_bucket{{le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "dynamo_{name}_bucket{{le=\"+Inf\"}} {}", h.count());
            let _ = writeln!(out, "dynamo_{name}_sum {}", h.sum_secs());
            let _ = writeln!(out, "dynamo_{name}_count {}", h.count());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(5));
        let c = h.cumulative();
        assert_eq!(c[0], (0.0005, 1));
        assert_eq!(c[3], (0.005, 2));
        assert_eq!(c[c.len() - 1].1, 2);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn prometheus_text_lists_every_figure() {
        let m = Metrics::default();
        m.puts.add(7);
        m.put_latency.observe(Duration::from_millis(1));
        let text = m.to_prometheus();
        assert!(text.contains("dynamo_puts_total 7\n"));
        assert!(text.contains("dynamo_put_latency_seconds_count 1\n"));
        assert!(text.contains("dynamo_put_latency_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert_eq!(m.to_json()["puts"], 7);
    }
}

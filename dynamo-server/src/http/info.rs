//! Read-only views of the node: `/ping`, `/stats`, `/metrics`, `/ring`, `/members`, and the
//! JSON 404 of unknown routes. Everything but `/ping` and `/metrics`' counters is computed on
//! the node thread ([`NodeHandle::inspect`](crate::handle::NodeHandle::inspect)).

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::HttpState;
use super::errors::{ApiError, finish};
use super::params::Query;
use crate::endpoints::ClientEndpoints;
use crate::handle::ServerNode;

/// `GET /ping`: `OK` while the HTTP server runs.
pub(crate) async fn ping() -> Response {
    ([(CONTENT_TYPE, "text/plain")], "OK").into_response()
}

/// `GET /stats`: the node, its load and every metric, as JSON.
pub(crate) async fn stats(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        Query::parse(uri.query(), &[])?;
        let figures = super::shards::figures(&st.handle).await?;
        let totals = super::shards::totals(&figures);
        let mut view = st.handle.inspect(move |n| node_view(n, &totals)).await?;
        view["shards"] = super::shards::json(&st.handle, &st.metrics, &figures);
        view["metrics"] = st.metrics.to_json();
        Ok(Json(view).into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

/// The node's own figures, for `/stats` and `/metrics`, with the load of all its shards.
fn node_view(node: &ServerNode, totals: &super::shards::Totals) -> Value {
    let state = node.membership().state();
    let members = state.members();
    let fd = node.failure_detector();
    let up = members.keys().filter(|m| fd.is_up(m)).count();
    let (hints, hints_error) = match node.hints_pending() {
        Ok(h) => (Some(h), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let hints_total: Option<usize> = hints.as_ref().map(|h| h.values().sum());
    json!({
        "node": node.id().as_str(),
        "status": node.membership().status().map(|s| s.name()),
        "ring_version": state.ring_version(),
        "ring_digest": state.ring().map(|r| r.digest()),
        "claimant": state.claimant().map(|c| c.as_str()),
        "members": members.len(),
        "members_up": up,
        "open_operations": totals.open_operations,
        "pending_writes": totals.pending_writes,
        "hints_pending": hints.map(|h| {
            h.into_iter()
                .map(|(n, c)| (n.to_string(), Value::from(c)))
                .collect::<serde_json::Map<_, _>>()
        }),
        "hints_pending_total": hints_total,
        "hints_error": hints_error,
        "max_value_size": node.config().max_value_size,
    })
}

/// `GET /metrics`: the counters and latency histograms, then gauges of the node's load, in
/// Prometheus' text format. The gauges are left out if the node thread does not answer.
pub(crate) async fn metrics(State(st): State<HttpState>, uri: Uri) -> Response {
    if let Err(e) = Query::parse(uri.query(), &[]) {
        return e.respond(&st.metrics);
    }
    let mut text = st.metrics.to_prometheus();
    super::shards::prometheus(&st.handle, &st.metrics, &mut text);
    let view = match super::shards::figures(&st.handle).await {
        Ok(figures) => {
            let totals = super::shards::totals(&figures);
            st.handle.inspect(move |n| node_view(n, &totals)).await.ok()
        }
        Err(_) => None,
    };
    if let Some(view) = view {
        let gauges = [
            ("open_operations", "operations coordinated or forwarded now"),
            ("pending_writes", "writes staged for the next group commit"),
            ("hints_pending_total", "hints kept for other nodes"),
            ("members", "members known"),
            ("members_up", "members the failure detector considers up"),
            ("ring_version", "version of the ring in force"),
        ];
        for (name, help) in gauges {
            if let Some(v) = view[name].as_u64() {
                let _ = writeln!(text, "# HELP dynamo_{name} {help}");
                let _ = writeln!(text, "# TYPE dynamo_{name} gauge");
                let _ = writeln!(text, "dynamo_{name} {v}");
            }
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `GET /ring[?n=N]`: the ring in force: version, digest, members with their partition
/// counts, and every partition with its owner and its preference list of length `n` (default:
/// the default bucket's `n`).
pub(crate) async fn ring(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        let query = Query::parse(uri.query(), &["n"])?;
        let n = query.quorum("n")?;
        let view = st.handle.inspect(move |node| ring_view(node, n)).await?;
        Ok(Json(view).into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

fn ring_view(node: &ServerNode, n: Option<u8>) -> Value {
    let n = usize::from(n.unwrap_or(node.config().default_bucket.n));
    let state = node.membership().state();
    let Some(ring) = node.ring() else {
        return json!({
            "node": node.id().as_str(),
            "version": state.ring_version(),
            "digest": null,
            "partition_count": 0,
            "n": n,
            "members": [],
            "partitions": [],
        });
    };
    let counts = ring.ownership_counts();
    let members: Vec<Value> = ring
        .members()
        .iter()
        .map(|m| {
            let owned = counts
                .iter()
                .find(|(node, _)| **node == m.node)
                .map_or(0, |(_, c)| *c);
            let client = state
                .member(&m.node)
                .map(|info| ClientEndpoints::parse(&info.client))
                .unwrap_or_default();
            json!({
                "node": m.node.as_str(),
                "zone": m.zone.as_ref().map(|z| z.as_str()),
                "partitions": owned,
                "http": client.http,
                "binary": client.binary,
                "up": node.failure_detector().is_up(&m.node),
            })
        })
        .collect();
    let partitions: Vec<Value> = ring
        .owners()
        .map(|(p, owner)| {
            let prefs: Vec<&str> = ring
                .preference_list(p, n)
                .into_iter()
                .map(|n| n.as_str())
                .collect();
            json!({ "id": p.0, "owner": owner.as_str(), "preference_list": prefs })
        })
        .collect();
    json!({
        "node": node.id().as_str(),
        "version": state.ring_version(),
        "digest": ring.digest(),
        "partition_count": ring.partition_count(),
        "n": n,
        "members": members,
        "partitions": partitions,
    })
}

/// `GET /members`: every member with its status, address, zone and health as this node sees
/// it.
pub(crate) async fn members(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        Query::parse(uri.query(), &[])?;
        let view = st.handle.inspect(members_view).await?;
        Ok(Json(view).into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

fn members_view(node: &ServerNode) -> Value {
    let fd = node.failure_detector();
    let members: Vec<Value> = node
        .membership()
        .state()
        .members()
        .iter()
        .map(|(id, info)| {
            let health = fd.health(id);
            let client = ClientEndpoints::parse(&info.client);
            json!({
                "node": id.as_str(),
                "status": info.status.name(),
                "address": info.address,
                "http": client.http,
                "binary": client.binary,
                "zone": info.zone.as_ref().map(|z| z.as_str()),
                "up": fd.is_up(id),
                "consecutive_timeouts": health.map_or(0, |h| h.consecutive_timeouts),
                "last_heard": health.and_then(|h| h.last_heard).map(|t| t.millis()),
            })
        })
        .collect();
    json!({ "node": node.id().as_str(), "members": members })
}

/// Any other route: a JSON 404.
pub(crate) async fn no_route(State(st): State<HttpState>, uri: Uri) -> Response {
    ApiError::NoRoute(uri.path().chars().take(200).collect()).respond(&st.metrics)
}

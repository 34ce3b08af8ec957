//! The operator's status page and the JSON it reads.
//!
//! | Route | Key | What |
//! |---|---|---|
//! | `GET /ui` | none | the page: one static HTML file with its CSS and JavaScript, embedded in the binary |
//! | `GET /ui/status` | any valid key | JSON: this node's view of the cluster ([`status_view`]), readable from any origin |
//! | `OPTIONS /ui/status` | none | the CORS preflight of a cross-origin `GET /ui/status` with a key |
//! | `GET /ui/history` | none | JSON: this node's operations per second and p99, one sample a second for the last five minutes ([`crate::history`]) |
//!
//! The page needs no build step and no network beyond the nodes (it works offline). It reads
//! `/ui/status` from the node that served it — members with their status and health as that
//! node's failure detector sees them, the ring — and then `/ui/status` and `/ui/history` from
//! *every* member, at the HTTP URL the member announces, for each node's own hints per target,
//! partition transfers and load (so the browser must reach every member; a member it cannot
//! reach is shown as unreachable). It refreshes itself every two seconds.
//!
//! Access keys: with `auth = "on"`, `/ui/status` needs a key, any valid one (a key to read one
//! bucket sees the same membership, ring and hint counts as `/members`, `/ring` and `/stats`
//! already give it). The page asks for the key, keeps it in the tab's `sessionStorage` (gone
//! when the tab closes; never in a cookie, so no other site can make the browser send it) and
//! sends it as `Authorization: Bearer`. The page itself and `/ui/history` need none, like
//! `/ping` and `/metrics`: the page holds no data, and the history is the rate of the counters
//! `/metrics` already serves to anyone; that lets the page read other members' history
//! across origins with a plain `GET`, which needs only `Access-Control-Allow-Origin`.
//!
//! Other members' `/ui/status` is read across origins with the key in the header, which makes
//! the browser ask first with a CORS preflight (`OPTIONS`, which carries no key and so passes
//! the key check: [`crate::auth::need_of`]). Both the preflight's and the `GET`'s answers allow
//! any origin (`*`). That is safe because the key is a bearer token the page itself puts in the
//! `Authorization` header, not an ambient credential: a browser never attaches it on its own,
//! so another site's script can only read `/ui/status` with a key it already has. No answer
//! allows credentials (`Access-Control-Allow-Credentials` is never sent; with `*` browsers
//! would refuse it anyway), and the nodes set no cookies. With TLS, members announce
//! `https://` URLs, and the browser must trust the CA that signed them, as it does for the page
//! itself.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, CACHE_CONTROL, CONTENT_TYPE,
};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::HttpState;
use super::errors::finish;
use super::params::Query;
use crate::endpoints::ClientEndpoints;
use crate::handle::ServerNode;
use crate::history::{CAPACITY, SAMPLE_INTERVAL, unix_ms};

/// The page, embedded at compile time.
const INDEX_HTML: &str = include_str!("ui/index.html");

/// The routes that need no key (`/ui` and `/ui/history`); the router merges them after its
/// access-key layer. `/ui/status` is routed with the others, behind the key check.
pub(crate) fn public_routes() -> Router<HttpState> {
    Router::new()
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route("/ui/history", get(history))
}

/// `GET /ui`: the page.
async fn page() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /ui/history`: `{"node", "interval_ms", "capacity", "now_ms", "samples": [Sample]}`,
/// readable from any origin.
async fn history(State(st): State<HttpState>, uri: Uri) -> Response {
    if let Err(e) = Query::parse(uri.query(), &[]) {
        return e.respond(&st.metrics);
    }
    let interval_ms = u64::try_from(SAMPLE_INTERVAL.as_millis()).unwrap_or(u64::MAX);
    let body = json!({
        "node": st.handle.id().as_str(),
        "interval_ms": interval_ms,
        "capacity": CAPACITY,
        "now_ms": unix_ms(),
        "samples": st.metrics.history.samples(),
    });
    (
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (CACHE_CONTROL, "no-store"),
        ],
        Json(body),
    )
        .into_response()
}

/// `GET /ui/status`: [`status_view`], computed on the node thread, readable from any origin
/// (the page on one node reads it from every member; see the module documentation for why
/// `*` is safe with a key in the header).
pub(crate) async fn status(State(st): State<HttpState>, uri: Uri) -> Response {
    let outcome = async {
        Query::parse(uri.query(), &[])?;
        let figures = super::shards::figures(&st.handle).await?;
        let totals = super::shards::totals(&figures);
        let mut view = st.handle.inspect(move |n| status_view(n, &totals)).await?;
        view["now_ms"] = unix_ms().into();
        Ok((
            [
                (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (CACHE_CONTROL, "no-store"),
            ],
            Json(view),
        )
            .into_response())
    }
    .await;
    finish(&st.metrics, outcome)
}

/// `OPTIONS /ui/status`: the CORS preflight of a cross-origin `GET` that carries a key in
/// `Authorization`. Any origin may send that header with a `GET`: the key is a bearer token
/// that the page puts there itself, not an ambient credential (cookie, TLS client certificate,
/// HTTP authentication) that the browser would attach on its own, so allowing `*` lets no site
/// use a key it does not already hold. Credentials are never allowed (no
/// `Access-Control-Allow-Credentials`). The answer may be cached for ten minutes, so that the
/// page's refresh every two seconds does not preflight every time.
pub(crate) async fn status_preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (ACCESS_CONTROL_ALLOW_METHODS, "GET"),
            (ACCESS_CONTROL_ALLOW_HEADERS, "authorization"),
            (ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

/// This node's view of the cluster, for the page and `dynamo top`:
///
/// - `node`, `status`, `claimant`, `open_operations`, `pending_writes`;
/// - `members`: each with `status`, `up` (this node's failure detector), `http` (the URL it
///   announced), `zone`, `consecutive_timeouts`, `last_heard` (ms, the node's clock) and the
///   `partitions` it owns;
/// - `ring`: `version`, `digest` (16 hex digits: a u64 does not survive JavaScript's
///   numbers), `partition_count`, `nodes`, `owners`, the owner of each partition in order
///   as an index into `nodes` (compact: a ring has hundreds of partitions), `n` (the default
///   bucket's replicas) and `preference`, each partition's preference list for `n` as
///   indexes into `nodes`;
/// - `hints_pending`: hints kept here, by intended node (`null` and `hints_error` when they
///   cannot be counted);
/// - `transfers`: `pending` (not yet confirmed) and `list`, each outgoing partition transfer
///   with its receiver, records acknowledged and whether it is done.
pub(crate) fn status_view(node: &ServerNode, totals: &super::shards::Totals) -> Value {
    let state = node.membership().state();
    let fd = node.failure_detector();
    let ring = node.ring();
    let counts = ring.map(|r| r.ownership_counts()).unwrap_or_default();
    let members: Vec<Value> = state
        .members()
        .iter()
        .map(|(id, info)| {
            let health = fd.health(id);
            let owned = counts.iter().find(|(n, _)| *n == id).map_or(0, |(_, c)| *c);
            json!({
                "node": id.as_str(),
                "status": info.status.name(),
                "up": fd.is_up(id),
                "http": ClientEndpoints::parse(&info.client).http,
                "zone": info.zone.as_ref().map(|z| z.as_str()),
                "consecutive_timeouts": health.map_or(0, |h| h.consecutive_timeouts),
                "last_heard": health.and_then(|h| h.last_heard).map(|t| t.millis()),
                "partitions": owned,
            })
        })
        .collect();
    let ring_json = match ring {
        None => json!({
            "version": state.ring_version(),
            "digest": null,
            "partition_count": 0,
            "nodes": [],
            "owners": [],
            "n": node.config().default_bucket.n,
            "preference": [],
        }),
        Some(ring) => {
            let nodes: Vec<&str> = ring.members().iter().map(|m| m.node.as_str()).collect();
            let index = |node: &str| nodes.iter().position(|n| *n == node).unwrap_or(usize::MAX);
            let n = node.config().default_bucket.n;
            let mut owners = Vec::new();
            let mut preference = Vec::new();
            for (partition, owner) in ring.owners() {
                owners.push(index(owner.as_str()));
                let list: Vec<usize> = ring
                    .preference_list(partition, usize::from(n))
                    .into_iter()
                    .map(|m| index(m.as_str()))
                    .collect();
                preference.push(list);
            }
            json!({
                "version": state.ring_version(),
                "digest": format!("{:016x}", ring.digest()),
                "partition_count": ring.partition_count(),
                "nodes": nodes,
                "owners": owners,
                "n": n,
                "preference": preference,
            })
        }
    };
    let (hints, hints_error) = match node.hints_pending() {
        Ok(h) => (
            Some(
                h.into_iter()
                    .map(|(n, c)| (n.to_string(), Value::from(c)))
                    .collect::<serde_json::Map<_, _>>(),
            ),
            None,
        ),
        Err(e) => (None, Some(e.to_string())),
    };
    let transfers: Vec<Value> = totals
        .transfers
        .iter()
        .map(|t| {
            json!({
                "partition": t.partition.0,
                "to": t.to.as_str(),
                "keys_sent": t.keys_sent,
                "done": t.done,
            })
        })
        .collect();
    json!({
        "node": node.id().as_str(),
        "status": node.membership().status().map(|s| s.name()),
        "claimant": state.claimant().map(|c| c.as_str()),
        "open_operations": totals.open_operations,
        "pending_writes": totals.pending_writes,
        "members": members,
        "ring": ring_json,
        "hints_pending": hints,
        "hints_error": hints_error,
        "transfers": {
            "pending": totals.transfers_pending,
            "list": transfers,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_reads_the_endpoints_it_documents() {
        // The page is data the compiler cannot check: at least make sure it reads the routes
        // this module serves and refreshes itself.
        for needle in ["/ui/status", "/ui/history", "sessionStorage", "setTimeout"] {
            assert!(INDEX_HTML.contains(needle), "{needle}");
        }
        // Offline: nothing fetched from elsewhere.
        assert!(!INDEX_HTML.contains("<script src"));
        assert!(!INDEX_HTML.contains("<link"));
    }
}

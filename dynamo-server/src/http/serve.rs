//! Serving the HTTP API with limits: at most [`HttpLimits::max_connections`] connections at
//! once (more are accepted and closed at once, counted), a request's line and headers within
//! [`HttpLimits::max_header_bytes`] (hyper answers `431` and closes, counted) and within
//! [`HttpLimits::header_timeout`] of the connection becoming ready for them (a slow-loris
//! client, or a keep-alive connection left idle that long, is closed, counted).
//!
//! HTTP/1.1 answers a connection's requests one at a time, so a connection has at most one
//! request in flight.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// The limits of the HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Bytes of a request's line and headers.
    pub max_header_bytes: usize,
    /// Time to receive a request's line and headers, from when the connection is ready for
    /// them (a new connection, or the end of the previous answer on a kept-alive one).
    pub header_timeout: Duration,
    /// How long shutdown lets requests in flight finish.
    pub drain: Duration,
}

/// Serves `router` on `listener` until `stop` fires (or its sender is dropped), then lets the
/// connections finish their requests for at most `limits.drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    metrics: Arc<Metrics>,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let service = TowerToHyperService::new(router.into_service::<Incoming>());
    // Dropped (aborting what is left) once the drain is over.
    let mut connections = JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            metrics.connections_refused.inc();
            tracing::debug!(%remote, "HTTP connection refused: too many open");
            continue; // Dropping the stream closes it.
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        let metrics = Arc::clone(&metrics);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                if e.is_timeout() {
                    metrics.http_header_timeouts.inc();
                } else if e.is_parse_too_large() {
                    metrics.http_headers_too_large.inc();
                }
                tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the drain time: closing them");
    }
}

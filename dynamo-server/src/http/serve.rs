//! Serving the HTTP API with limits: at most [`HttpLimits::max_connections`] connections at
//! once (more are accepted and closed at once, counted), a request's line and headers within
//! [`HttpLimits::max_header_bytes`] (hyper answers `431` and closes, counted) and within
//! [`HttpLimits::header_timeout`] of the connection becoming ready for them (a slow-loris
//! client, or a keep-alive connection left idle that long, is closed, counted).
//!
//! HTTP/1.1 answers a connection's requests one at a time, so a connection has at most one
//! request in flight.
//!
//! With TLS ([`crate::tls`]), each connection's handshake runs in its own task and must end
//! within the header timeout; a failed or late one is counted and closes the connection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::tls::Acceptor;

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

/// The router as hyper calls it.
type Service = TowerToHyperService<axum::routing::RouterIntoService<Incoming>>;

/// Serves `router` on `listener` (over TLS when `tls` is given) until `stop` fires (or its
/// sender is dropped), then lets the connections finish their requests for at most
/// `limits.drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Acceptor>,
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
    let builder = Arc::new(builder);
    let service: Service = TowerToHyperService::new(router.into_service::<Incoming>());
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
        let connection = Connection {
            builder: Arc::clone(&builder),
            service: service.clone(),
            watcher: graceful.watcher(),
            metrics: Arc::clone(&metrics),
            remote,
        };
        let tls = tls.clone();
        let handshake_timeout = limits.header_timeout;
        connections.spawn(async move {
            match tls {
                None => connection.serve(stream).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(handshake_timeout, acceptor.get().accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => connection.serve(stream).await,
                        Ok(Err(e)) => connection.handshake_failed(&e.to_string()),
                        Err(_) => connection.handshake_failed("timed out"),
                    }
                }
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

/// What serving one accepted connection needs.
struct Connection {
    builder: Arc<hyper::server::conn::http1::Builder>,
    service: Service,
    watcher: Watcher,
    metrics: Arc<Metrics>,
    remote: std::net::SocketAddr,
}

impl Connection {
    /// Serves the connection's requests until it closes, counting why it failed if it did.
    async fn serve<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = self
            .builder
            .serve_connection(TokioIo::new(stream), self.service);
        if let Err(e) = self.watcher.watch(connection).await {
            if e.is_timeout() {
                self.metrics.http_header_timeouts.inc();
            } else if e.is_parse_too_large() {
                self.metrics.http_headers_too_large.inc();
            }
            tracing::debug!(remote = %self.remote, error = %e, "HTTP connection ended with an error");
        }
    }

    fn handshake_failed(&self, why: &str) {
        self.metrics.tls_handshake_failures.inc();
        tracing::debug!(remote = %self.remote, error = why, "TLS handshake failed");
    }
}

//! [`Server`]: one Dynamo node with its storage, peer transport and HTTP API, embeddable in
//! any tokio program (the `dynamo node` command is a thin wrapper around it).
//!
//! ```no_run
//! # async fn run() -> Result<(), dynamo_server::ServerError> {
//! use dynamo_server::{Server, ServerConfig};
//!
//! let config = ServerConfig {
//!     http_addr: "127.0.0.1:0".into(),
//!     peer_addr: "127.0.0.1:0".into(),
//!     data_dir: Some("/tmp/dynamo-n1".into()),
//!     ..ServerConfig::default()
//! };
//! let server = Server::start(config).await?;
//! println!("HTTP on {}, peers on {}", server.http_addr(), server.peer_addr());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Start order: check the configuration; bind the listeners (port 0 picks a free port, and
//! the real peer address is the one the node advertises); open the engine and build the node
//! on the node thread ([`crate::driver`]); then accept peers and serve HTTP (and the binary
//! protocol). Shutdown runs the other way: stop HTTP, binary and peer intake, let the node
//! commit and close its engine, let the peer tasks flush.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dynamo_core::node::KEYSPACES;
use engine_any::{AnyEngine, Engine};
use engine_api::EngineConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::auth::KeyTable;
use crate::binary::{self, BinaryConfig};
use crate::config::{ConfigError, ServerConfig};
use crate::driver::{self, StartError};
use crate::endpoints::ClientEndpoints;
use crate::handle::NodeHandle;
use crate::http::serve::HttpLimits;
use crate::metrics::Metrics;
use crate::tls::ClientTls;
use crate::transport::{self, Outgoing, TransportConfig};

/// How long shutdown waits for HTTP requests in flight.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// The subdirectory of the data directory that holds the storage engine's files.
pub const STORE_DIR: &str = "store";

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {address} ({what})")]
    Bind {
        /// `http` or `peer`.
        what: &'static str,
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The engine or the node did not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS on the client ports: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// The listening sockets of a server, bound before it starts (so that their real addresses
/// are known, e.g. to list founders before any node runs).
#[derive(Debug)]
pub struct Listeners {
    /// The HTTP API's.
    pub http: TcpListener,
    /// The peer transport's.
    pub peer: TcpListener,
    /// The binary client protocol's, when configured.
    pub binary: Option<TcpListener>,
}

impl Listeners {
    /// Binds `config.http_addr`, `config.peer_addr` and `config.binary_addr` (when set).
    ///
    /// # Errors
    /// [`ServerError::Bind`].
    pub async fn bind(config: &ServerConfig) -> Result<Self, ServerError> {
        let bind = |what: &'static str, address: String| async move {
            TcpListener::bind(&address)
                .await
                .map_err(|source| ServerError::Bind {
                    what,
                    address,
                    source,
                })
        };
        Ok(Listeners {
            http: bind("http", config.http_addr.clone()).await?,
            peer: bind("peer", config.peer_addr.clone()).await?,
            binary: match &config.binary_addr {
                Some(address) => Some(bind("binary", address.clone()).await?),
                None => None,
            },
        })
    }

    fn addr(listener: &TcpListener, what: &'static str) -> Result<SocketAddr, ServerError> {
        listener.local_addr().map_err(|source| ServerError::Bind {
            what,
            address: String::new(),
            source,
        })
    }
}

/// A running node. Dropping it without [`Server::shutdown`] stops its tasks too, but without
/// waiting for the engine to close.
#[derive(Debug)]
pub struct Server {
    handle: NodeHandle,
    metrics: Arc<Metrics>,
    http_addr: SocketAddr,
    peer_addr: SocketAddr,
    binary_addr: Option<SocketAddr>,
    advertised: String,
    http_stop: Option<oneshot::Sender<()>>,
    http_task: Option<JoinHandle<()>>,
    accept_task: Option<JoinHandle<()>>,
    binary_task: Option<JoinHandle<()>>,
    node_task: Option<JoinHandle<()>>,
}

impl Server {
    /// Checks `config`, binds its listeners and starts the node.
    ///
    /// # Errors
    /// [`ServerError`]: a bad configuration, an address in use, an engine that does not open
    /// (or another engine's data directory), a node that refuses to start.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        config.validate()?;
        let listeners = Listeners::bind(&config).await?;
        Self::start_with(config, listeners).await
    }

    /// Starts the node on listeners bound beforehand (see [`Listeners::bind`]); the
    /// configuration's `http_addr` and `peer_addr` are then ignored.
    ///
    /// # Errors
    /// As [`Server::start`].
    pub async fn start_with(
        config: ServerConfig,
        listeners: Listeners,
    ) -> Result<Server, ServerError> {
        config.validate()?;
        let http_addr = Listeners::addr(&listeners.http, "http")?;
        let peer_addr = Listeners::addr(&listeners.peer, "peer")?;
        let binary_addr = match &listeners.binary {
            Some(l) => Some(Listeners::addr(l, "binary")?),
            None => None,
        };
        let advertised = match &config.advertise_addr {
            Some(a) => a.clone(),
            None if peer_addr.ip().is_unspecified() => {
                return Err(ConfigError::NeedAdvertiseAddr(peer_addr.to_string()).into());
            }
            None => peer_addr.to_string(),
        };
        let mut node_config = config.node_config(&advertised)?;
        let tls_on = config.tls_cert.is_some();
        node_config.client_endpoints = ClientEndpoints::of_listeners(
            http_addr,
            binary_addr,
            tls_on,
            crate::endpoints::host_of(&advertised),
        )
        .to_text();
        let id = node_config.id.clone();
        let span = tracing::info_span!("node", id = %id);
        let metrics = Arc::new(Metrics::default());
        // Ends by itself once the metrics are dropped with the server.
        crate::history::spawn_sampler(&metrics);
        let (handle, queues) = NodeHandle::channels(
            id.clone(),
            node_config.ring,
            node_config.shard.count,
            NodeHandle::DEFAULT_CAPACITY,
        );
        let outgoing = Outgoing::new(
            tokio::runtime::Handle::current(),
            TransportConfig {
                node: id,
                advertised: advertised.clone(),
                max_frame: config.max_frame_size,
                queue: config.peer_queue,
                secret: config.secret()?,
            },
            Arc::clone(&metrics),
        );
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(ClientTls::load(cert, key)?),
            _ => None,
        };
        if tls.is_none() {
            let client_ports = [Some(http_addr), binary_addr];
            if let Some(open) = client_ports
                .into_iter()
                .flatten()
                .find(|a| !a.ip().is_loopback())
            {
                span.in_scope(|| tracing::warn!(
                    address = %open,
                    "a client port listens beyond loopback without TLS: requests and access keys travel in clear text (set tls_cert and tls_key)"
                ));
            }
        }
        let engine = config.engine()?;
        let keys = KeyTable::new(config.bootstrap_keys()?);
        let auth = config.auth_on()?;
        if auth && config.admin_keys.is_empty() {
            tracing::warn!(
                "access keys are on and admin_keys is empty: only keys already in the cluster state open this node (`dynamo keygen` makes a bootstrap admin key)"
            );
        }
        let store_dir = config.data_dir().join(STORE_DIR);
        let (node_task, ready) = driver::spawn(
            node_config,
            move || open_engine(engine, &store_dir),
            queues,
            handle.clone(),
            outgoing,
            config.peer_connections()?,
            Arc::clone(&metrics),
            keys.clone(),
        )?;
        match ready.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = node_task.await;
                return Err(e.into());
            }
            Err(_) => {
                return Err(
                    StartError::Thread("the node thread died while starting".into()).into(),
                );
            }
        }
        let accept_task = tokio::spawn(
            transport::accept_loop(
                listeners.peer,
                handle.clone(),
                Arc::clone(&metrics),
                config.max_frame_size,
                config.accepted_secrets()?,
                config.max_connections,
            )
            .instrument(span.clone()),
        );
        let binary_task = listeners.binary.map(|listener| {
            tokio::spawn(
                binary::accept_loop(
                    listener,
                    handle.clone(),
                    Arc::clone(&metrics),
                    BinaryConfig {
                        max_value_size: config.max_value_size,
                        max_answer_frame: config.max_frame_size,
                        max_in_flight: binary::DEFAULT_MAX_IN_FLIGHT,
                        max_connections: config.max_connections,
                        frame_timeout: Duration::from_millis(config.header_timeout_ms),
                        keys: auth.then(|| keys.clone()),
                        tls: tls.as_ref().map(|t| t.binary.clone()),
                    },
                )
                .instrument(span.clone()),
            )
        });
        let router = crate::http::router(crate::http::HttpState {
            handle: handle.clone(),
            metrics: Arc::clone(&metrics),
            max_value_size: config.max_value_size,
            keys: auth.then_some(keys),
            listing_key: crate::http::listing::TokenKey::from_secret(&config.secret()?),
        });
        let (http_stop, stopped) = oneshot::channel::<()>();
        let http_task = tokio::spawn(
            crate::http::serve::serve(
                listeners.http,
                router,
                tls.as_ref().map(|t| t.http.clone()),
                HttpLimits {
                    max_connections: config.max_connections,
                    max_header_bytes: config.max_header_bytes,
                    header_timeout: Duration::from_millis(config.header_timeout_ms),
                    drain: HTTP_DRAIN,
                },
                Arc::clone(&metrics),
                stopped,
            )
            .instrument(span.clone()),
        );
        span.in_scope(|| {
            let binary = binary_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into());
            let tls = if tls.is_some() { "on" } else { "off" };
            tracing::info!(http = %http_addr, peer = %peer_addr, %binary, advertised = %advertised, %tls, "listening");
        });
        Ok(Server {
            handle,
            metrics,
            http_addr,
            peer_addr,
            binary_addr,
            advertised,
            http_stop: Some(http_stop),
            http_task: Some(http_task),
            accept_task: Some(accept_task),
            binary_task,
            node_task: Some(node_task),
        })
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where peers connect.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Where the binary client protocol listens, when it does.
    pub fn binary_addr(&self) -> Option<SocketAddr> {
        self.binary_addr
    }

    /// The peer address other nodes are told (the listening one unless configured).
    pub fn advertised_addr(&self) -> &str {
        &self.advertised
    }

    /// A handle to the node thread (cloneable).
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Stops cleanly: HTTP stops taking requests (those in flight get a few seconds), peer
    /// intake stops, the node commits what is pending, persists a clean epoch and closes its
    /// engine; when this returns, the data directory may be opened again.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.http_task.take() {
            // It lets requests in flight finish for at most HTTP_DRAIN, then returns.
            let _ = task.await;
        }
        for task in [self.accept_task.take(), self.binary_task.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
            let _ = task.await;
        }
        // Fails only if the thread is already gone.
        let _ = self.handle.shutdown().await;
        if let Some(task) = self.node_task.take()
            && task.await.is_err()
        {
            tracing::error!("the node task panicked (the next start opens a new epoch)");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.http_task.take() {
            task.abort();
        }
        for task in [self.accept_task.take(), self.binary_task.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        // The node thread stops by itself once every handle is dropped.
    }
}

/// Opens the store in `dir`: the configured engine, else the one whose marker the directory
/// holds, else the build's default. A configured engine that differs from the directory's is
/// refused rather than silently creating a second store beside the first.
///
/// # Errors
/// [`StartError::EngineMismatch`], or the engine's error.
pub fn open_engine(configured: Option<Engine>, dir: &Path) -> Result<AnyEngine, StartError> {
    let found = Engine::detect(dir)?;
    let engine = match (configured, found) {
        (Some(configured), Some(found)) if configured != found => {
            return Err(StartError::EngineMismatch { configured, found });
        }
        (Some(e), _) | (None, Some(e)) => e,
        (None, None) => Engine::default_for_build().ok_or_else(|| {
            StartError::Engine(engine_api::Error::Unsupported(
                "no storage engine in this build".into(),
            ))
        })?,
    };
    Ok(engine.open(&EngineConfig::new(dir, KEYSPACES))?)
}

//! The server's configuration: a TOML file and/or command-line flags, checked once, and
//! turned into the core's [`NodeConfig`].
//!
//! ```toml
//! node_id = "n1"
//! http_addr = "127.0.0.1:8001"
//! peer_addr = "127.0.0.1:9001"
//! # binary_addr = "127.0.0.1:7001"   # the binary client protocol (default: off)
//! # tls_cert = "certs/node.pem"       # TLS on the client ports (HTTP, binary), with tls_key
//! # tls_key = "certs/node-key.pem"
//! cluster_secret = "5f0c…"           # 64 hex digits, the same on every node (see below)
//! # auth = "auto"                    # on | off | auto: access keys (auto: on beyond loopback)
//! # admin_keys = ["id:sha256hex"]    # bootstrap admin keys (`dynamo keygen` makes one)
//! data_dir = "dynamo-data/n1"
//! engine = "lsm"                      # mem | lmdb | lsm | redb (default: lsm when compiled)
//! members = ["n1@127.0.0.1:9001", "n2@127.0.0.1:9002", "n3@127.0.0.1:9003"]
//! # seeds = ["n1@10.0.0.1:9001"]      # instead of members, to join an existing cluster
//! n = 3
//! r = 2
//! w = 2
//! versioning = "dvv"                  # dvv | vclock | lww
//! durability = "all"                  # all | one | none: replicas that sync a write before it is acknowledged
//! # flush_interval_ms = 100           # buffered writes are synced within this
//! # shards = 8                        # partition shards, one state machine each (default: the cores but one)
//! # io_threads = 8                    # worker threads of the node's runtime (default: the shards)
//! # peer_connections = "shard"        # shard: each shard its own connection to a peer | node: shared
//! # max_value_size = 16777216         # bytes
//! # request_timeout_ms = 1000
//! # gossip_interval_ms = 1000
//! # anti_entropy_interval_ms = 1000   # 0: off
//! # tombstone_grace_ms = 86400000     # deleted keys are kept at least this long
//! # log = "info"                      # RUST_LOG syntax
//! ```
//!
//! Every key is optional. `members` are the founders of a new cluster (each founder lists
//! all of them, itself included, identically); `seeds` are members of an existing cluster that
//! a new node gossips to until it is admitted. With neither, the node is a cluster of one.
//! Peers are written `id@host:port`; a founder may be a bare `id` when its address is not
//! known in advance (it is learned from its connection and gossip).
//!
//! The first start fixes what lives in the data directory: the engine (its marker file), the
//! cluster state and the ring. A restart on the same directory comes back with its data,
//! membership and pending hints, whatever `members` says then.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dynamo_core::NodeId;
use dynamo_core::membership::{BucketProps, DurabilityMode, parse_versioning_mode};
use dynamo_core::node::NodeConfig;
use dynamo_core::ring::RingConfig;
use engine_any::Engine;
use serde::{Deserialize, Serialize};

/// Default largest peer frame: 64 MiB (values are at most 16 MiB by default; a frame holds one
/// message, plus its framing and the other fields).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 << 20;

/// Default bound on the connections each listener keeps open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4_096;

/// Default time to receive a request's headers (or the rest of a binary frame): 10 s.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;

/// Default bound on an HTTP request's line and headers: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Default length of each peer's outgoing queue, in messages.
pub const DEFAULT_PEER_QUEUE: usize = 4_096;

/// The default tracing filter: `info` for this server (one line per notable event), warnings
/// only from the storage engines and the HTTP stack.
pub const DEFAULT_LOG_FILTER: &str =
    "info,fjall=warn,lsm_tree=warn,heed=warn,redb=warn,hyper=warn,h2=warn,tower=warn";

/// Everything a server needs to start (see the [module documentation](self) for the file
/// form). Build one with [`ServerConfig::default`], [`ServerConfig::from_toml`] or
/// [`ServerConfig::load`], then adjust fields (the `dynamo node` flags do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// This node's name in the cluster, stable across restarts (default `n1`).
    pub node_id: String,
    /// Where the HTTP API listens (`host:port`; port 0 picks a free port).
    pub http_addr: String,
    /// Where peers connect (`host:port`; port 0 picks a free port).
    pub peer_addr: String,
    /// The cluster secret (64 hex digits) every peer connection's handshake proves; the same
    /// on every node of a cluster. Required unless every address of this node is loopback
    /// (then a well-known development secret stands in). `dynamo up` generates one.
    pub cluster_secret: Option<String>,
    /// More secrets accepted from peers that dial this node, only while the cluster secret
    /// is being rotated (see the README's Security section); this node dials with
    /// `cluster_secret`.
    pub accept_cluster_secrets: Vec<String>,
    /// Access keys on the client APIs: `on` (requests need a key), `off` (accepted only when
    /// every address this node listens on is loopback), or `auto` (the default): on unless
    /// every listen address is loopback. A node on a real network is closed by default.
    pub auth: String,
    /// Bootstrap admin keys, as `id:<64 hex digits of the SHA-256 of the secret>`: how the
    /// first admin key exists before any key was made (`dynamo admin key create` makes the
    /// others, which live in the cluster state).
    pub admin_keys: Vec<String>,
    /// Where the binary client protocol listens (`host:port`; port 0 picks a free port);
    /// `None`: the node speaks only HTTP to clients.
    pub binary_addr: Option<String>,
    /// The certificate chain (PEM, this node's certificate first) the client ports (HTTP and
    /// binary) serve TLS with; with [`ServerConfig::tls_key`]. `None`: plain TCP.
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of [`ServerConfig::tls_cert`].
    pub tls_key: Option<PathBuf>,
    /// The peer address other nodes are told to use, when it differs from the listening one
    /// (needed when `peer_addr` listens on every interface, `0.0.0.0`).
    pub advertise_addr: Option<String>,
    /// The data directory (default `dynamo-data/<node_id>`).
    pub data_dir: Option<PathBuf>,
    /// The storage engine (`mem`, `lmdb`, `lsm`, `redb`); default: the one the data
    /// directory already holds, else [`Engine::default_for_build`].
    pub engine: Option<String>,
    /// Founders of a new cluster, this node included (`id@host:port`, or a bare `id`).
    pub members: Vec<String>,
    /// Members of an existing cluster to join through (`id@host:port`).
    pub seeds: Vec<String>,
    /// Replicas per key of buckets without their own properties (default 3, at most the
    /// number of founders when founders are listed).
    pub n: Option<u8>,
    /// Read quorum (default: a majority of `n`).
    pub r: Option<u8>,
    /// Write quorum (default: a majority of `n`).
    pub w: Option<u8>,
    /// Versioning mode of buckets without their own properties: `dvv`, `vclock` or `lww`.
    pub versioning: String,
    /// Durability of buckets without their own properties: `all` (every replica syncs
    /// before it acknowledges), `one` (the coordinator syncs, the others buffer) or `none`
    /// (every replica buffers).
    pub durability: String,
    /// Longest time a buffered write stays unsynced, in milliseconds (default: the core's,
    /// 100 ms).
    pub flush_interval_ms: Option<u64>,
    /// Partition shards of the node: its partitions are split over this many state
    /// machines, each a task of its own with its own group commit (see
    /// `dynamo_core::node::shard`). Default: the machine's cores but one, at least one
    /// ([`default_shards`]; at most the partitions, at most 256).
    pub shards: Option<u16>,
    /// Worker threads of the async runtime `dynamo node` runs the node on (HTTP, the peer
    /// transport and the shards' tasks; commits have threads of their own). Default: the
    /// shards, so that each shard's task can have a core. An embedding program's runtime is
    /// its own.
    pub io_threads: Option<usize>,
    /// Partitions of the ring (a power of two; fixed for the life of the cluster).
    pub partitions: u32,
    /// Largest value accepted, in bytes (default 16 MiB).
    pub max_value_size: usize,
    /// How long a coordinator waits for replicas, in milliseconds.
    pub request_timeout_ms: u64,
    /// How often the cluster state is gossiped, in milliseconds (default: the core's, 1 s).
    pub gossip_interval_ms: Option<u64>,
    /// How often an anti-entropy exchange starts, in milliseconds; 0 turns anti-entropy off
    /// (default: the core's, 1 s).
    pub anti_entropy_interval_ms: Option<u64>,
    /// How long a tombstone is kept at least before it may be reaped, in milliseconds
    /// (default: the core's, one day). Longer than any outage expected to heal.
    pub tombstone_grace_ms: Option<u64>,
    /// Seed of the node's randomness (default: derived from the node id and the start time).
    pub seed: Option<u64>,
    /// The tracing filter (`RUST_LOG` syntax); see [`DEFAULT_LOG_FILTER`].
    pub log: String,
    /// Largest peer frame accepted or sent, in bytes.
    pub max_frame_size: usize,
    /// Messages waiting per peer before new ones are dropped.
    pub peer_queue: usize,
    /// Connections to each peer: `shard` (each shard dials its own) or `node` (the shards
    /// share one, behind a lock).
    pub peer_connections: String,
    /// Connections each listener (HTTP, binary protocol, peers) keeps open at once; more are
    /// closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request's line and headers (HTTP) or the rest of a
    /// started frame (binary protocol), in milliseconds; a keep-alive HTTP connection idle
    /// this long is closed too.
    pub header_timeout_ms: u64,
    /// Bytes of an HTTP request's line and headers.
    pub max_header_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            node_id: "n1".to_owned(),
            http_addr: "127.0.0.1:8001".to_owned(),
            peer_addr: "127.0.0.1:9001".to_owned(),
            cluster_secret: None,
            accept_cluster_secrets: Vec::new(),
            auth: "auto".to_owned(),
            admin_keys: Vec::new(),
            binary_addr: None,
            tls_cert: None,
            tls_key: None,
            advertise_addr: None,
            data_dir: None,
            engine: None,
            members: Vec::new(),
            seeds: Vec::new(),
            n: None,
            r: None,
            w: None,
            versioning: "dvv".to_owned(),
            durability: "all".to_owned(),
            flush_interval_ms: None,
            shards: None,
            io_threads: None,
            partitions: dynamo_core::ring::DEFAULT_PARTITIONS,
            max_value_size: NodeConfig::DEFAULT_MAX_VALUE_SIZE,
            request_timeout_ms: dynamo_core::node::Timing::default().request_timeout_ms,
            gossip_interval_ms: None,
            anti_entropy_interval_ms: None,
            tombstone_grace_ms: None,
            seed: None,
            log: DEFAULT_LOG_FILTER.to_owned(),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            peer_queue: DEFAULT_PEER_QUEUE,
            peer_connections: "shard".to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout_ms: DEFAULT_HEADER_TIMEOUT_MS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// A peer written `id@host:port` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The node.
    pub id: NodeId,
    /// Its peer address, if given.
    pub address: Option<String>,
}

impl PeerSpec {
    /// Parses `id@host:port` (or a bare `id` when `address_required` is false).
    ///
    /// # Errors
    /// [`ConfigError::InvalidPeer`] for a bad id, a missing or malformed address.
    pub fn parse(spec: &str, address_required: bool) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::InvalidPeer {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (id, address) = match spec.split_once('@') {
            Some((id, addr)) => (id, Some(addr)),
            None if address_required => return Err(bad("expected id@host:port")),
            None => (spec, None),
        };
        let id = NodeId::new(id.trim()).map_err(|e| bad(&e.to_string()))?;
        let address = match address {
            Some(a) => {
                let a = a.trim();
                check_address(a).map_err(bad)?;
                Some(a.to_owned())
            }
            None => None,
        };
        Ok(PeerSpec { id, address })
    }
}

/// Checks a `host:port` address without resolving it.
fn check_address(a: &str) -> Result<(), &'static str> {
    let Some((host, port)) = a.rsplit_once(':') else {
        return Err("expected host:port");
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    if port.parse::<u16>().is_err() {
        return Err("the port is not a number from 0 to 65535");
    }
    if a.len() > dynamo_core::membership::MAX_ADDRESS_LEN {
        return Err("the address is too long");
    }
    Ok(())
}

/// True when `address` (`host:port`) names this machine only: `localhost` or a loopback IP.
fn is_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A configuration the server refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for this configuration.
    #[error("invalid configuration file{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, if read from one.
        path: Option<PathBuf>,
        /// The parser's message (line, column, unknown key...).
        message: String,
    },
    /// The node id breaks the naming rules.
    #[error(transparent)]
    NodeId(#[from] dynamo_core::InvalidNodeId),
    /// A member or seed is malformed.
    #[error("invalid peer {spec:?}: {reason}")]
    InvalidPeer {
        /// As written.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A listening or advertised address is malformed.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidAddress {
        /// The setting.
        field: &'static str,
        /// As written.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The peer listener binds every interface and no address was given to advertise.
    #[error(
        "peer_addr {0} listens on every interface: set advertise_addr to the address other nodes should use"
    )]
    NeedAdvertiseAddr(String),
    /// The engine name is unknown.
    #[error(transparent)]
    Engine(#[from] engine_any::UnknownEngine),
    /// The cluster secret is malformed.
    #[error("invalid cluster_secret: {0}")]
    Secret(#[from] crate::secure::BadSecret),
    /// The access-key settings are invalid.
    #[error("{0}")]
    Auth(String),
    /// An address other machines can reach, and no cluster secret.
    #[error(
        "{0} is not a loopback address: set cluster_secret (the same 64 hex digits on every node; `openssl rand -hex 32`) so that peers must prove it"
    )]
    SecretRequired(String),
    /// The build has no engine at all.
    #[error("this build has no storage engine (enable a cargo feature: mem, lmdb, lsm, redb)")]
    NoEngine,
    /// The durability is unknown.
    #[error("durability {0:?}: expected all, one or none")]
    Durability(String),
    /// The versioning mode is unknown.
    #[error("versioning {0:?}: expected dvv, vclock or lww")]
    Versioning(String),
    /// N, R or W out of range.
    #[error("invalid quorum n={n} r={r} w={w}: need 1 <= r, w <= n <= 64")]
    Quorum {
        /// Replicas.
        n: u8,
        /// Read quorum.
        r: u8,
        /// Write quorum.
        w: u8,
    },
    /// The partition count is not a power of two in range.
    #[error(transparent)]
    Ring(#[from] dynamo_core::ring::RingError),
    /// A limit is out of range.
    #[error("{0}")]
    Invalid(&'static str),
    /// The node's own checks refused the configuration.
    #[error(transparent)]
    Node(#[from] dynamo_core::node::ConfigError),
}

impl ServerConfig {
    /// Parses a configuration from TOML text; absent keys keep their defaults, unknown keys
    /// are refused.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] with the parser's message.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: None,
            message: e.to_string(),
        })
    }

    /// Reads and parses a TOML configuration file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })
    }

    /// The configuration as TOML text (what [`ServerConfig::from_toml`] reads back).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] if serialization fails (it does not for this type).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|_| ConfigError::Invalid("cannot render as TOML"))
    }

    /// This node's id.
    ///
    /// # Errors
    /// [`ConfigError::NodeId`] when it breaks the naming rules.
    pub fn node_id(&self) -> Result<NodeId, ConfigError> {
        Ok(NodeId::new(self.node_id.clone())?)
    }

    /// The data directory: the configured one or `dynamo-data/<node_id>`.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| Path::new("dynamo-data").join(&self.node_id))
    }

    /// The configured engine, if any.
    ///
    /// # Errors
    /// [`ConfigError::Engine`] for an unknown name.
    pub fn engine(&self) -> Result<Option<Engine>, ConfigError> {
        self.engine
            .as_deref()
            .map(str::parse::<Engine>)
            .transpose()
            .map_err(ConfigError::from)
    }

    /// The founders, parsed.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPeer`].
    pub fn founders(&self) -> Result<Vec<PeerSpec>, ConfigError> {
        self.members
            .iter()
            .map(|m| PeerSpec::parse(m, false))
            .collect()
    }

    /// The cluster secret: the configured one, else the loopback development secret when
    /// every address this node listens on, advertises or dials is loopback.
    ///
    /// # Errors
    /// [`ConfigError::Secret`] for a malformed secret, [`ConfigError::SecretRequired`] when
    /// none is set and an address is not loopback.
    pub fn secret(&self) -> Result<crate::secure::ClusterSecret, ConfigError> {
        if let Some(hex) = &self.cluster_secret {
            return Ok(crate::secure::ClusterSecret::from_hex(hex)?);
        }
        let peers = self.founders()?.into_iter().chain(self.seed_peers()?);
        let addresses = [
            Some(self.http_addr.clone()),
            Some(self.peer_addr.clone()),
            self.binary_addr.clone(),
            self.advertise_addr.clone(),
        ]
        .into_iter()
        .flatten()
        .chain(peers.filter_map(|p| p.address));
        for address in addresses {
            if !is_loopback(&address) {
                return Err(ConfigError::SecretRequired(address));
            }
        }
        Ok(crate::secure::ClusterSecret::loopback_default())
    }

    /// Every secret a dialing peer may prove: [`ServerConfig::secret`], then
    /// `accept_cluster_secrets`.
    ///
    /// # Errors
    /// As [`ServerConfig::secret`]; [`ConfigError::Secret`] for a malformed extra secret.
    pub fn accepted_secrets(&self) -> Result<Vec<crate::secure::ClusterSecret>, ConfigError> {
        let mut out = vec![self.secret()?];
        for hex in &self.accept_cluster_secrets {
            out.push(crate::secure::ClusterSecret::from_hex(hex)?);
        }
        Ok(out)
    }

    /// Whether the HTTP API requires access keys.
    ///
    /// # Errors
    /// [`ConfigError::Auth`] for a value other than `on` or `off`, for `off` on a node that
    /// listens beyond loopback.
    pub fn auth_on(&self) -> Result<bool, ConfigError> {
        let listening = [
            Some(&self.http_addr),
            Some(&self.peer_addr),
            self.binary_addr.as_ref(),
        ];
        let beyond_loopback = listening.into_iter().flatten().find(|a| !is_loopback(a));
        match self.auth.as_str() {
            "on" => Ok(true),
            "auto" => Ok(beyond_loopback.is_some()),
            "off" => {
                let listening = [
                    Some(&self.http_addr),
                    Some(&self.peer_addr),
                    self.binary_addr.as_ref(),
                ];
                match listening.into_iter().flatten().find(|a| !is_loopback(a)) {
                    Some(a) => Err(ConfigError::Auth(format!(
                        "auth = \"off\" is accepted only when every listen address is loopback, and {a} is not"
                    ))),
                    None => Ok(false),
                }
            }
            other => Err(ConfigError::Auth(format!(
                "auth {other:?}: expected on or off"
            ))),
        }
    }

    /// The bootstrap admin keys, id → digest.
    ///
    /// # Errors
    /// [`ConfigError::Auth`] for a malformed entry.
    pub fn bootstrap_keys(&self) -> Result<BTreeMap<String, [u8; 32]>, ConfigError> {
        self.admin_keys
            .iter()
            .map(|spec| {
                crate::auth::parse_admin_key(spec)
                    .map_err(|e| ConfigError::Auth(format!("admin_keys {spec:?}: {e}")))
            })
            .collect()
    }

    /// The seeds, parsed.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPeer`].
    pub fn seed_peers(&self) -> Result<Vec<PeerSpec>, ConfigError> {
        self.seeds
            .iter()
            .map(|m| PeerSpec::parse(m, true))
            .collect()
    }

    /// The default bucket properties: `n` (default 3, capped at the number of founders when
    /// founders are listed), `r` and `w` (default a majority of `n`), the versioning mode, the
    /// durability.
    ///
    /// # Errors
    /// [`ConfigError::Quorum`], [`ConfigError::Versioning`] or [`ConfigError::Durability`].
    pub fn bucket_props(&self) -> Result<BucketProps, ConfigError> {
        let n = self.n.unwrap_or_else(|| {
            if self.members.is_empty() && !self.seeds.is_empty() {
                // Joining an existing cluster: its size is unknown here.
                3
            } else {
                // Founders (or a cluster of one): no more replicas than nodes.
                u8::try_from(self.members.len().clamp(1, 3)).unwrap_or(3)
            }
        });
        let majority = n / 2 + 1;
        let r = self.r.unwrap_or(majority.min(n));
        let w = self.w.unwrap_or(majority.min(n));
        let mode = parse_versioning_mode(&self.versioning)
            .map_err(|_| ConfigError::Versioning(self.versioning.clone()))?;
        let durability = DurabilityMode::parse(&self.durability)
            .map_err(|_| ConfigError::Durability(self.durability.clone()))?;
        BucketProps::new(n, r, w, mode)
            .map(|p| p.with_durability(durability))
            .map_err(|_| ConfigError::Quorum { n, r, w })
    }

    /// Checks everything that can be checked before binding sockets: the id, the addresses,
    /// the peers, the engine name, the quorums, the ring and the limits.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.node_id()?;
        if let Some(s) = self.shards
            && (s == 0 || s > dynamo_core::node::shard::MAX_SHARDS)
        {
            return Err(ConfigError::Invalid("shards must be 1 to 256"));
        }
        self.peer_connections()?;
        for (field, value) in [
            ("http_addr", &self.http_addr),
            ("peer_addr", &self.peer_addr),
        ] {
            check_address(value).map_err(|reason| ConfigError::InvalidAddress {
                field,
                value: value.clone(),
                reason,
            })?;
        }
        for (field, value) in [
            ("advertise_addr", &self.advertise_addr),
            ("binary_addr", &self.binary_addr),
        ] {
            if let Some(a) = value {
                check_address(a).map_err(|reason| ConfigError::InvalidAddress {
                    field,
                    value: a.clone(),
                    reason,
                })?;
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key go together: set both or neither",
            ));
        }
        self.founders()?;
        self.seed_peers()?;
        self.accepted_secrets()?;
        self.auth_on()?;
        self.bootstrap_keys()?;
        if self.engine()?.is_none() && Engine::default_for_build().is_none() {
            return Err(ConfigError::NoEngine);
        }
        self.bucket_props()?;
        RingConfig::new(self.partitions)?;
        if self.max_value_size == 0 {
            return Err(ConfigError::Invalid("max_value_size must be positive"));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::Invalid("request_timeout_ms must be positive"));
        }
        if self.gossip_interval_ms == Some(0) {
            return Err(ConfigError::Invalid("gossip_interval_ms must be positive"));
        }
        if self.max_frame_size < 1024 {
            return Err(ConfigError::Invalid("max_frame_size must be at least 1024"));
        }
        if self.max_frame_size < self.max_value_size {
            return Err(ConfigError::Invalid(
                "max_frame_size must be at least max_value_size",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be positive"));
        }
        if self.header_timeout_ms == 0 {
            return Err(ConfigError::Invalid("header_timeout_ms must be positive"));
        }
        if self.max_header_bytes < 8192 {
            return Err(ConfigError::Invalid(
                "max_header_bytes must be at least 8192",
            ));
        }
        if self.peer_queue == 0 {
            return Err(ConfigError::Invalid("peer_queue must be positive"));
        }
        Ok(())
    }

    /// The seed of the node's randomness: the configured one, else a hash of the node id and
    /// the current time (so that two runs differ, and two nodes started together too).
    pub fn rng_seed(&self) -> u64 {
        self.seed.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            // FNV-1a over the id, mixed with the time.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in self.node_id.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            h ^ nanos.rotate_left(17)
        })
    }

    /// The node's shard count: `shards`, else [`default_shards`] for the machine's cores; at
    /// most the ring's partitions and [`MAX_SHARDS`](dynamo_core::node::shard::MAX_SHARDS).
    pub fn shard_count(&self) -> u16 {
        let wanted = self
            .shards
            .map_or_else(
                || usize::from(default_shards(machine_cores(), 1)),
                usize::from,
            )
            .min(usize::from(dynamo_core::node::shard::MAX_SHARDS))
            .min(usize::try_from(self.partitions).unwrap_or(usize::MAX))
            .max(1);
        u16::try_from(wanted).unwrap_or(1)
    }

    /// How the shards connect to the peers (`peer_connections`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for another value than `shard` or `node`.
    pub fn peer_connections(&self) -> Result<crate::driver::PeerConnections, ConfigError> {
        match self.peer_connections.as_str() {
            "shard" => Ok(crate::driver::PeerConnections::PerShard),
            "node" => Ok(crate::driver::PeerConnections::PerNode),
            _ => Err(ConfigError::Invalid(
                "peer_connections must be shard or node",
            )),
        }
    }

    /// Worker threads of `dynamo node`'s runtime: `io_threads`, else the shards.
    pub fn worker_threads(&self) -> usize {
        self.io_threads
            .unwrap_or_else(|| usize::from(self.shard_count()))
            .max(1)
    }

    /// The core's configuration, with `peer_address` as this node's own address (the
    /// advertised one, known once the peer listener is bound).
    ///
    /// Founders become [`NodeConfig::members`] and seeds [`NodeConfig::seeds`]; every address
    /// given goes into [`NodeConfig::addresses`]. With neither founders nor seeds the node is
    /// a cluster of one.
    ///
    /// # Errors
    /// Any [`ConfigError`] of [`ServerConfig::validate`], and the node's own checks (e.g.
    /// founders that do not include this node).
    pub fn node_config(&self, peer_address: &str) -> Result<NodeConfig, ConfigError> {
        self.validate()?;
        let me = self.node_id()?;
        let founders = self.founders()?;
        let seeds = self.seed_peers()?;
        let mut addresses = BTreeMap::new();
        for peer in founders.iter().chain(&seeds) {
            if let Some(a) = &peer.address {
                addresses.insert(peer.id.clone(), a.clone());
            }
        }
        addresses.insert(me.clone(), peer_address.to_owned());
        let members: Vec<NodeId> = if founders.is_empty() && seeds.is_empty() {
            vec![me.clone()]
        } else {
            founders.into_iter().map(|p| p.id).collect()
        };
        let mut config = NodeConfig::new(me, self.rng_seed(), members);
        config.shard = dynamo_core::node::Shard::new(0, self.shard_count());
        config.seeds = seeds.into_iter().map(|p| p.id).collect();
        config.addresses = addresses;
        config.ring = RingConfig::new(self.partitions)?;
        config.default_bucket = self.bucket_props()?;
        config.max_value_size = self.max_value_size;
        config.timing.request_timeout_ms = self.request_timeout_ms;
        config.timing.forward_timeout_ms = config.timing.forward_timeout_ms.max(
            self.request_timeout_ms
                .saturating_mul(2)
                .saturating_add(500),
        );
        if let Some(ms) = self.gossip_interval_ms {
            config.timing.gossip_interval_ms = ms;
        }
        if let Some(ms) = self.anti_entropy_interval_ms {
            config.timing.anti_entropy_interval_ms = ms;
        }
        if let Some(ms) = self.tombstone_grace_ms {
            config.tombstones.grace_ms = ms;
        }
        if let Some(ms) = self.flush_interval_ms {
            config.timing.flush_interval_ms = ms;
        }
        config.validate()?;
        Ok(config)
    }
}

/// The machine's cores (the threads the process may run at once), at least 1.
pub fn machine_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The default shard count of each of `nodes` nodes sharing a machine of `cores` cores: one
/// core is left for what runs beside the shards (the commit thread, the engine's background
/// workers, the kernel's network work) and the rest is divided among the nodes, at least one
/// shard each. On 2 cores this is one shard: a lone node measured slower with two
/// (BENCHMARKS.md, "Many cores").
pub fn default_shards(cores: usize, nodes: usize) -> u16 {
    let each = cores.saturating_sub(1) / nodes.max(1);
    u16::try_from(each.clamp(1, usize::from(dynamo_core::node::shard::MAX_SHARDS))).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn toml_round_trip_and_defaults() {
        let c = ServerConfig::from_toml(
            r#"
            node_id = "n2"
            members = ["n1@127.0.0.1:9001", "n2@127.0.0.1:9002", "n3"]
            engine = "mem"
            gossip_interval_ms = 200
            tombstone_grace_ms = 5000
            durability = "one"
            flush_interval_ms = 50
            "#,
        )
        .unwrap();
        assert_eq!(c.bucket_props().unwrap().durability, DurabilityMode::One);
        assert_eq!(
            c.node_config("127.0.0.1:9002")
                .unwrap()
                .timing
                .flush_interval_ms,
            50
        );
        assert_eq!(c.node_id, "n2");
        assert_eq!(c.http_addr, "127.0.0.1:8001");
        assert_eq!(c.engine().unwrap(), Some(Engine::Mem));
        let back = ServerConfig::from_toml(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back, c);
        let nc = c.node_config("127.0.0.1:9999").unwrap();
        assert_eq!(nc.members.len(), 3);
        assert_eq!(nc.addresses[&NodeId::new("n2").unwrap()], "127.0.0.1:9999");
        assert_eq!(nc.addresses[&NodeId::new("n1").unwrap()], "127.0.0.1:9001");
        assert!(!nc.addresses.contains_key(&NodeId::new("n3").unwrap()));
        assert_eq!((nc.default_bucket.n, nc.default_bucket.r), (3, 2));
        assert_eq!(nc.timing.gossip_interval_ms, 200);
        assert_eq!(nc.tombstones.grace_ms, 5000);
        assert_eq!(
            nc.timing.anti_entropy_interval_ms,
            dynamo_core::node::Timing::default().anti_entropy_interval_ms
        );
    }

    #[test]
    fn shards_default_to_the_cores_and_bound_the_workers() {
        let c = ServerConfig::from_toml("shards = 3\npeer_connections = \"node\"").unwrap();
        assert_eq!(c.shard_count(), 3);
        assert_eq!(c.worker_threads(), 3, "workers follow the shards");
        assert_eq!(c.node_config("127.0.0.1:9001").unwrap().shard.count, 3);
        assert_eq!(
            c.peer_connections().unwrap(),
            crate::driver::PeerConnections::PerNode
        );
        let d = ServerConfig::default();
        assert_eq!(d.shard_count(), default_shards(machine_cores(), 1));
        // One core is left beside the shards; the rest is shared among a machine's nodes.
        assert_eq!(default_shards(1, 1), 1);
        assert_eq!(default_shards(2, 1), 1);
        assert_eq!(default_shards(16, 1), 15);
        assert_eq!(default_shards(16, 3), 5);
        assert_eq!(default_shards(2, 3), 1);
        assert_eq!(default_shards(1024, 1), 256);
        // Never more shards than partitions.
        let small = ServerConfig::from_toml("shards = 200\npartitions = 64").unwrap();
        assert_eq!(small.shard_count(), 64);
        for bad in ["shards = 0", "shards = 257", "peer_connections = \"both\""] {
            let c = ServerConfig::from_toml(bad).unwrap();
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(matches!(
            ServerConfig::from_toml("nodeid = \"x\""),
            Err(ConfigError::Parse { .. })
        ));
        let c = ServerConfig {
            members: vec!["n1@nowhere".into()],
            ..ServerConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::InvalidPeer { .. })));
        let c = ServerConfig {
            seeds: vec!["n1".into()],
            ..ServerConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::InvalidPeer { .. })));
        let c = ServerConfig {
            engine: Some("sqlite".into()),
            ..ServerConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::Engine(_))));
        let c = ServerConfig {
            n: Some(2),
            r: Some(3),
            ..ServerConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::Quorum { .. })));
        let c = ServerConfig {
            partitions: 100,
            ..ServerConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::Ring(_))));
        let c = ServerConfig {
            node_id: "a b".into(),
            ..ServerConfig::default()
        };
        assert!(matches!(c.validate(), Err(ConfigError::NodeId(_))));
    }

    /// A fresh secret in its configuration form.
    fn fresh_secret() -> String {
        crate::secure::ClusterSecret::generate().unwrap().to_hex()
    }

    #[test]
    fn a_cluster_secret_is_required_beyond_loopback() {
        let local = ServerConfig {
            members: vec!["n1@127.0.0.1:9001".into(), "n2@localhost:9002".into()],
            binary_addr: Some("[::1]:7001".into()),
            ..ServerConfig::default()
        };
        assert_eq!(
            local.secret().unwrap(),
            crate::secure::ClusterSecret::loopback_default()
        );
        let reachable = ServerConfig {
            peer_addr: "0.0.0.0:9001".into(),
            advertise_addr: Some("10.0.0.1:9001".into()),
            ..ServerConfig::default()
        };
        assert!(matches!(
            reachable.validate(),
            Err(ConfigError::SecretRequired(a)) if a == "0.0.0.0:9001"
        ));
        let seeded = ServerConfig {
            seeds: vec!["n2@10.0.0.2:9001".into()],
            ..ServerConfig::default()
        };
        assert!(matches!(
            seeded.secret(),
            Err(ConfigError::SecretRequired(_))
        ));
        let secret = crate::secure::ClusterSecret::generate().unwrap();
        let given = ServerConfig {
            cluster_secret: Some(secret.to_hex()),
            ..reachable.clone()
        };
        assert_eq!(given.secret().unwrap(), secret);
        let malformed = ServerConfig {
            cluster_secret: Some("not hex".into()),
            ..ServerConfig::default()
        };
        assert!(matches!(malformed.validate(), Err(ConfigError::Secret(_))));
        let rotating = ServerConfig {
            accept_cluster_secrets: vec![fresh_secret(), "bad".into()],
            ..given.clone()
        };
        assert!(matches!(rotating.validate(), Err(ConfigError::Secret(_))));
        let rotating = ServerConfig {
            accept_cluster_secrets: vec![fresh_secret()],
            ..given
        };
        let accepted = rotating.accepted_secrets().unwrap();
        assert_eq!((accepted.len(), &accepted[0]), (2, &secret));
    }

    #[test]
    fn a_founder_list_must_include_this_node() {
        let c = ServerConfig {
            node_id: "n4".into(),
            members: vec!["n1@h:1".into(), "n2@h:2".into()],
            cluster_secret: Some("ab".repeat(32)),
            ..ServerConfig::default()
        };
        assert!(matches!(
            c.node_config("h:4"),
            Err(ConfigError::Node(
                dynamo_core::node::ConfigError::NotAMember(_)
            ))
        ));
    }

    #[test]
    fn quorum_defaults_follow_the_founders() {
        let alone = ServerConfig::default().node_config("h:1").unwrap();
        assert_eq!(alone.members, vec![NodeId::new("n1").unwrap()]);
        assert_eq!(
            (
                alone.default_bucket.n,
                alone.default_bucket.r,
                alone.default_bucket.w
            ),
            (1, 1, 1)
        );
        let joiner = ServerConfig {
            node_id: "n4".into(),
            seeds: vec!["n1@h:1".into()],
            cluster_secret: Some("ab".repeat(32)),
            ..ServerConfig::default()
        }
        .node_config("h:4")
        .unwrap();
        assert!(joiner.members.is_empty());
        assert_eq!(joiner.seeds, vec![NodeId::new("n1").unwrap()]);
        assert_eq!(joiner.default_bucket.n, 3);
        assert_eq!(joiner.addresses.len(), 2);
    }
}

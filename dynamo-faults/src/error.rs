//! What can go wrong running the harness.

use std::path::PathBuf;
use std::time::Duration;

/// Why a run could not be carried out. A run that completes but whose checks fail is not an
/// error: its [`Report`](crate::Report) says which check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaultsError {
    /// Network namespaces, nft rules and signals to other processes need root.
    #[error(
        "the fault harness must run as root (network namespaces, nft rules, signals); \
         the effective user id is {0}"
    )]
    NotRoot(u32),
    /// A program the harness needs is not installed.
    #[error("`{tool}` is not installed: {hint}")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// How to install it.
        hint: &'static str,
    },
    /// An external command (ip, nft, tc) failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and standard error.
        detail: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A node process failed (would not start, exited).
    #[error("node {node}: {message}")]
    Node {
        /// The node id.
        node: String,
        /// What happened.
        message: String,
    },
    /// A client agent failed or answered something unexpected.
    #[error("client agent {agent}: {message}")]
    Agent {
        /// The agent's number.
        agent: u8,
        /// What happened.
        message: String,
    },
    /// The run's settings are inconsistent.
    #[error("bad settings: {0}")]
    Config(String),
    /// The `dynamo` executable was not found.
    #[error("cannot find the `dynamo` executable: {0}")]
    Binary(String),
    /// A condition did not hold within its deadline.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// The condition.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// A record or message did not decode.
    #[error("{what}: {source}")]
    Json {
        /// What was decoded.
        what: String,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// The timeline could not be drawn.
    #[error("drawing {path}: {message}")]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The plotting library's error.
        message: String,
    },
}

impl FaultsError {
    /// A closure turning an I/O error on `path` into [`FaultsError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FaultsError {
        let path = path.into();
        move |source| FaultsError::Io { path, source }
    }
}

/// The harness's result type.
pub type Result<T, E = FaultsError> = std::result::Result<T, E>;

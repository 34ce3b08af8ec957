//! Identities and time shared by every module: node ids and timestamps.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of a physical node of the cluster, unique in the cluster and stable across
/// restarts (for example `"n1"` or a host name).
///
/// Names are 1 to 64 bytes of ASCII letters, digits, `.`, `_`, `-` and `:`, so that they can
/// travel in headers, logs and file names unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

/// A node name that breaks the rules of [`NodeId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node id {0:?}: use 1 to 64 ASCII letters, digits, '.', '_', '-' or ':'")]
pub struct InvalidNodeId(pub String);

impl NodeId {
    /// Longest node name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks and wraps a node name.
    ///
    /// # Errors
    /// [`InvalidNodeId`] when the name is empty, too long or has other characters.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidNodeId> {
        let name = name.into();
        if is_valid_name(&name, Self::MAX_LEN) {
            Ok(NodeId(name))
        } else {
            Err(InvalidNodeId(name))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NodeId {
    type Error = InvalidNodeId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NodeId::new(s)
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0
    }
}

impl std::str::FromStr for NodeId {
    type Err = InvalidNodeId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeId::new(s)
    }
}

/// True when `name` is 1 to `max_len` bytes of ASCII letters, digits, `.`, `_`, `-` and `:`:
/// the rule for node and zone names, which travel in headers, logs and file names unchanged.
pub(crate) fn is_valid_name(name: &str, max_len: usize) -> bool {
    !name.is_empty()
        && name.len() <= max_len
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// Wall-clock time as the driver saw it, in milliseconds since the UNIX epoch.
///
/// `dynamo-core` never reads a clock: every timestamp enters as an input, so that the simulator
/// can skew clocks and replay runs exactly.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Milliseconds since the UNIX epoch.
    pub fn millis(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_rules() {
        assert!(NodeId::new("n1").is_ok());
        assert!(NodeId::new("host-1.example:7000").is_ok());
        assert!(NodeId::new("").is_err());
        assert!(NodeId::new("a b").is_err());
        assert!(NodeId::new("x".repeat(65)).is_err());
    }
}

//! Ring members: a node and, optionally, the failure zone it lives in.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::RingError;
use crate::NodeId;

/// A failure zone: a rack, a data centre, an availability zone — a set of nodes likely to
/// fail together. The ring keeps the replicas of a key in distinct zones while there are
/// enough zones.
///
/// Names follow the rules of [`NodeId`]: 1 to 64 bytes of ASCII letters, digits, `.`, `_`,
/// `-` and `:`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

impl Zone {
    /// Longest zone name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks and wraps a zone name.
    ///
    /// # Errors
    /// [`RingError::InvalidZone`] when the name is empty, too long or has other characters.
    pub fn new(name: impl Into<String>) -> Result<Self, RingError> {
        let name = name.into();
        if crate::ids::is_valid_name(&name, Self::MAX_LEN) {
            Ok(Zone(name))
        } else {
            Err(RingError::InvalidZone(name))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Zone {
    type Error = RingError;
    fn try_from(s: String) -> Result<Self, RingError> {
        Zone::new(s)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.0
    }
}

/// A node that owns partitions, with its zone if it has one.
///
/// A node without a zone counts as a zone of its own: with no zones configured anywhere,
/// "distinct zones" simply means "distinct nodes".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Member {
    /// The node.
    pub node: NodeId,
    /// Its failure zone, if any.
    pub zone: Option<Zone>,
}

impl Member {
    /// A member without a zone.
    pub fn new(node: NodeId) -> Self {
        Member { node, zone: None }
    }

    /// A member in `zone`.
    pub fn in_zone(node: NodeId, zone: Zone) -> Self {
        Member {
            node,
            zone: Some(zone),
        }
    }
}

impl From<NodeId> for Member {
    fn from(node: NodeId) -> Self {
        Member::new(node)
    }
}

impl From<&NodeId> for Member {
    fn from(node: &NodeId) -> Self {
        Member::new(node.clone())
    }
}

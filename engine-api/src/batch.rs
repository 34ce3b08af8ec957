//! Atomic write batches and their durability.

use bytes::Bytes;

use crate::Keyspace;

/// How durable a [`WriteBatch`] must be when [`crate::StorageEngine::write`] returns.
///
/// What each level means for each engine (process crash versus power loss) is tabled in the
/// crate documentation, and the `Sync` promise is proven by each persistent engine's crash test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Written to the engine, and to the operating system where the engine can do so cheaply,
    /// but not forced to stable storage. Fast; may be lost on a crash (see the table).
    Buffered,
    /// Forced to stable storage (fsync) before `write` returns: survives process crash and
    /// power loss. Also makes every earlier `Buffered` write durable.
    #[default]
    Sync,
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value` in `keyspace`.
    Put {
        /// The keyspace written.
        keyspace: Keyspace,
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// Remove `key` from `keyspace` (removing an absent key is not an error).
    Delete {
        /// The keyspace written.
        keyspace: Keyspace,
        /// The key.
        key: Bytes,
    },
}

impl BatchOp {
    /// The keyspace this operation writes.
    pub fn keyspace(&self) -> Keyspace {
        match self {
            BatchOp::Put { keyspace, .. } | BatchOp::Delete { keyspace, .. } => *keyspace,
        }
    }

    /// The key this operation writes.
    pub fn key(&self) -> &Bytes {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key, .. } => key,
        }
    }
}

/// Puts and deletes over one or more keyspaces, applied all together or not at all.
///
/// Operations apply in the order they were added: a later operation on the same key wins.
///
/// ```
/// use engine_api::{Keyspace, WriteBatch};
/// let data = Keyspace::from_index(0);
/// let mut batch = WriteBatch::new();
/// batch.put(data, &b"k"[..], &b"v"[..]);
/// batch.delete(data, &b"old"[..]);
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `n` operations.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            ops: Vec::with_capacity(n),
        }
    }

    /// Adds a put of `key` = `value` in `keyspace`.
    pub fn put(&mut self, keyspace: Keyspace, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.ops.push(BatchOp::Put {
            keyspace,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Adds a delete of `key` in `keyspace`.
    pub fn delete(&mut self, keyspace: Keyspace, key: impl Into<Bytes>) {
        self.ops.push(BatchOp::Delete {
            keyspace,
            key: key.into(),
        });
    }

    /// Appends every operation of `other`, after those already here.
    pub fn append(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    /// The operations, in the order they apply.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Consumes the batch, giving its operations in order.
    pub fn into_ops(self) -> Vec<BatchOp> {
        self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// Sum of key and value lengths: what the batch asks the engine to store.
    pub fn payload_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, value, .. } => key.len() + value.len(),
                BatchOp::Delete { key, .. } => key.len(),
            })
            .sum()
    }
}

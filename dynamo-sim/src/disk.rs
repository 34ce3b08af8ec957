//! Simulated disks: an in-memory engine that outlives the node using it.
//!
//! A node owns its engine (`Node<E>`), but a restarted node must find the storage its previous
//! incarnation left. [`SharedMemEngine`] is a handle on a [`MemEngine`] shared between the
//! node and the [`MemDisk`] its factory keeps; [`MemDisk::open`] applies what a [`StartKind`]
//! means to the storage (kept, crashed, wiped) and hands out a new handle.

use std::sync::Arc;

use bytes::Bytes;
use engine_api::{EngineConfig, Keyspace, Result, StorageEngine, WriteBatch};
use engine_mem::{MemEngine, MemSnapshot};

use crate::node::StartKind;

/// A [`MemEngine`] shared by handle: the disk of a simulated node.
#[derive(Debug, Clone)]
pub struct SharedMemEngine(Arc<MemEngine>);

impl SharedMemEngine {
    /// The engine behind the handle (for `simulate_crash`, `pending_undurable`, ...).
    pub fn inner(&self) -> &MemEngine {
        &self.0
    }
}

impl StorageEngine for SharedMemEngine {
    type Snapshot<'e> = MemSnapshot<'e>;
    const NAME: &'static str = "mem";
    const PERSISTENT: bool = false;

    fn open(config: &EngineConfig) -> Result<Self> {
        Ok(SharedMemEngine(Arc::new(MemEngine::open(config)?)))
    }

    fn keyspace_names(&self) -> &[String] {
        self.0.keyspace_names()
    }

    fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.0.keyspace(name)
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        self.0.get(keyspace, key)
    }

    fn write(&self, batch: &WriteBatch, durability: engine_api::Durability) -> Result<()> {
        self.0.write(batch, durability)
    }

    fn snapshot(&self) -> Result<Self::Snapshot<'_>> {
        self.0.snapshot()
    }

    fn flush(&self) -> Result<()> {
        self.0.flush()
    }
}

/// The disk of one simulated node, kept by its factory across restarts.
#[derive(Debug)]
pub struct MemDisk {
    keyspaces: Vec<String>,
    engine: SharedMemEngine,
}

impl MemDisk {
    /// An empty disk whose engine has `keyspaces`.
    ///
    /// # Errors
    /// [`engine_api::Error::InvalidConfig`] for bad keyspace names.
    pub fn new<S: Into<String>>(keyspaces: impl IntoIterator<Item = S>) -> Result<Self> {
        let keyspaces: Vec<String> = keyspaces.into_iter().map(Into::into).collect();
        let engine = SharedMemEngine::open(&EngineConfig::new("", keyspaces.clone()))?;
        Ok(MemDisk { keyspaces, engine })
    }

    /// The engine for a node starting as `kind`: the same storage for [`StartKind::Restart`],
    /// the storage minus every non-durable write for [`StartKind::AfterCrash`], empty storage
    /// for [`StartKind::Fresh`] and [`StartKind::Wiped`].
    ///
    /// # Errors
    /// Opening a new empty engine can fail only on a bad configuration, checked by
    /// [`MemDisk::new`].
    pub fn open(&mut self, kind: StartKind) -> Result<SharedMemEngine> {
        match kind {
            StartKind::Restart => {}
            StartKind::AfterCrash => self.engine.inner().simulate_crash(),
            StartKind::Fresh | StartKind::Wiped => {
                self.engine =
                    SharedMemEngine::open(&EngineConfig::new("", self.keyspaces.clone()))?;
            }
        }
        Ok(self.engine.clone())
    }

    /// The current engine, to inspect the disk from a test.
    pub fn engine(&self) -> &SharedMemEngine {
        &self.engine
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use engine_api::Durability;

    #[test]
    fn start_kinds_keep_crash_or_wipe_the_storage() {
        let mut disk = MemDisk::new(["data"]).unwrap();
        let e = disk.open(StartKind::Fresh).unwrap();
        let ks = e.keyspace("data").unwrap();
        let put = |e: &SharedMemEngine, k: &'static [u8], d| {
            let mut b = WriteBatch::new();
            b.put(ks, k, &b"v"[..]);
            e.write(&b, d).unwrap();
        };
        put(&e, b"durable", Durability::Sync);
        put(&e, b"buffered", Durability::Buffered);
        drop(e);

        let e = disk.open(StartKind::Restart).unwrap();
        assert!(e.get(ks, b"buffered").unwrap().is_some());
        let e = disk.open(StartKind::AfterCrash).unwrap();
        assert!(e.get(ks, b"durable").unwrap().is_some());
        assert!(e.get(ks, b"buffered").unwrap().is_none());
        let e = disk.open(StartKind::Wiped).unwrap();
        assert!(e.get(ks, b"durable").unwrap().is_none());
    }
}

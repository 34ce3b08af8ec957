//! An in-memory storage engine: an ordered map per keyspace.
//!
//! For tests, for the deterministic simulator, and as a cache. It keeps nothing across a process
//! restart ([`StorageEngine::PERSISTENT`] is false), but it models durability so that the
//! simulator can crash a node realistically: [`MemEngine::simulate_crash`] drops every write that
//! was not made durable, exactly what a real engine loses when its process dies between a
//! `Buffered` write and the next `Sync`.
//!
//! Snapshots are copy-on-write: taking one is O(1); the first write while a snapshot is alive
//! copies the maps it changes (O(n)), later writes are O(log n) again. That is cheap for the
//! short-lived snapshots of scans, and what the simulator needs; it is not meant for large
//! stores with long-lived snapshots.
//!
//! ```
//! use engine_api::{Durability, EngineConfig, StorageEngine, WriteBatch};
//! use engine_mem::MemEngine;
//!
//! let engine = MemEngine::open(&EngineConfig::new("", ["data"])).unwrap();
//! let data = engine.keyspace("data").unwrap();
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"durable"[..], &b"1"[..]);
//! engine.write(&batch, Durability::Sync).unwrap();
//! let mut batch = WriteBatch::new();
//! batch.put(data, &b"buffered"[..], &b"2"[..]);
//! engine.write(&batch, Durability::Buffered).unwrap();
//!
//! engine.simulate_crash();
//! assert!(engine.get(data, b"durable").unwrap().is_some());
//! assert!(engine.get(data, b"buffered").unwrap().is_none());
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use engine_api::{
    BatchOp, Direction, Durability, EngineConfig, KeyRange, Keyspace, Result, Snapshot,
    StorageEngine, WriteBatch, check_batch, check_key, check_keyspace,
};

type Map = BTreeMap<Bytes, Bytes>;

/// An in-memory engine; see the crate documentation.
#[derive(Debug)]
pub struct MemEngine {
    names: Vec<String>,
    state: RwLock<State>,
}

#[derive(Debug)]
struct State {
    /// One map per keyspace, shared with live snapshots.
    maps: Vec<Arc<Map>>,
    /// How to undo every write not yet durable, oldest first.
    undo: Vec<Undo>,
}

#[derive(Debug)]
struct Undo {
    keyspace: usize,
    key: Bytes,
    previous: Option<Bytes>,
}

impl MemEngine {
    /// A new, empty engine with the given keyspaces.
    ///
    /// # Errors
    /// [`engine_api::Error::InvalidConfig`] for bad keyspace names.
    pub fn with_keyspaces<S: Into<String>>(keyspaces: impl IntoIterator<Item = S>) -> Result<Self> {
        Self::open(&EngineConfig::new("", keyspaces))
    }

    /// Drops every write that was not made durable (by a `Sync` write or `flush`) — what a
    /// crash of the process would have lost — as the simulator's crash of a node.
    pub fn simulate_crash(&self) {
        let mut state = self.write_state();
        let undo = std::mem::take(&mut state.undo);
        for u in undo.into_iter().rev() {
            let map = Arc::make_mut(&mut state.maps[u.keyspace]);
            match u.previous {
                Some(v) => {
                    map.insert(u.key, v);
                }
                None => {
                    map.remove(&u.key);
                }
            }
        }
    }

    /// Number of writes (batch operations) that a crash would lose now.
    pub fn pending_undurable(&self) -> usize {
        self.read_state().undo.len()
    }

    /// Total number of keys over all keyspaces.
    pub fn len(&self) -> usize {
        self.read_state().maps.iter().map(|m| m.len()).sum()
    }

    /// True when no keyspace holds a key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        // Writers never leave the state half-changed across a panic point that matters:
        // a batch is checked before it is applied.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl StorageEngine for MemEngine {
    type Snapshot<'e> = MemSnapshot<'e>;
    const NAME: &'static str = "mem";
    const PERSISTENT: bool = false;

    fn open(config: &EngineConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            names: config.keyspaces.clone(),
            state: RwLock::new(State {
                maps: (0..config.keyspaces.len())
                    .map(|_| Arc::new(Map::new()))
                    .collect(),
                undo: Vec::new(),
            }),
        })
    }

    fn keyspace_names(&self) -> &[String] {
        &self.names
    }

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let i = check_keyspace(&self.names, keyspace)?;
        check_key(key)?;
        Ok(self.read_state().maps[i].get(key).cloned())
    }

    fn write(&self, batch: &WriteBatch, durability: Durability) -> Result<()> {
        check_batch(&self.names, batch)?;
        let mut state = self.write_state();
        let State { maps, undo } = &mut *state;
        for op in batch.ops() {
            let i = op.keyspace().index();
            let map = Arc::make_mut(&mut maps[i]);
            let previous = match op {
                BatchOp::Put { key, value, .. } => map.insert(key.clone(), value.clone()),
                BatchOp::Delete { key, .. } => map.remove(key),
            };
            if durability == Durability::Buffered {
                undo.push(Undo {
                    keyspace: i,
                    key: op.key().clone(),
                    previous,
                });
            }
        }
        if durability == Durability::Sync {
            undo.clear();
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<MemSnapshot<'_>> {
        Ok(MemSnapshot {
            names: &self.names,
            maps: self.read_state().maps.clone(),
        })
    }

    fn flush(&self) -> Result<()> {
        self.write_state().undo.clear();
        Ok(())
    }
}

/// A point-in-time view of a [`MemEngine`].
#[derive(Debug, Clone)]
pub struct MemSnapshot<'e> {
    names: &'e [String],
    maps: Vec<Arc<Map>>,
}

impl Snapshot for MemSnapshot<'_> {
    type Iter<'s>
        = MemIter<'s>
    where
        Self: 's;

    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Bytes>> {
        let i = check_keyspace(self.names, keyspace)?;
        check_key(key)?;
        Ok(self.maps[i].get(key).cloned())
    }

    fn scan(
        &self,
        keyspace: Keyspace,
        range: KeyRange,
        direction: Direction,
    ) -> Result<MemIter<'_>> {
        let i = check_keyspace(self.names, keyspace)?;
        if range.is_empty() {
            // BTreeMap::range panics on an inverted range.
            return Ok(MemIter {
                inner: None,
                direction,
            });
        }
        let inner = self.maps[i].range::<[u8], _>(range.as_slices());
        Ok(MemIter {
            inner: Some(inner),
            direction,
        })
    }
}

/// Iterator over a range of a [`MemSnapshot`].
#[derive(Debug)]
pub struct MemIter<'s> {
    inner: Option<btree_map::Range<'s, Bytes, Bytes>>,
    direction: Direction,
}

impl Iterator for MemIter<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        let item = match self.direction {
            Direction::Forward => inner.next(),
            Direction::Reverse => inner.next_back(),
        };
        item.map(|(k, v)| Ok((k.clone(), v.clone())))
    }
}

//! [`ShardedNode`]: every shard of one node driven on the caller's thread, as one sans-IO
//! state machine — for the simulator, tests and simple embeddings. A server runs each shard
//! on its own thread instead, routing with [`super::shard::route_input`] and passing views
//! and reports between them exactly as this does.

use std::collections::VecDeque;
use std::sync::Arc;

use engine_api::StorageEngine;

use super::shard::{Shard, route_input, shard_of_id, shard_of_partition};
use super::{Commit, Input, Node, NodeConfig, NodeError, Output, StoreError};
use crate::failure::FailureDetector;
use crate::ids::{NodeId, Timestamp};
use crate::membership::Membership;
use crate::ring::{PartitionId, RingConfig};
use crate::version::{Actor, EpochState};

/// The shards of one node (see [`super::shard`]), driven as one node: feed it as a
/// [`Node`] — [`handle`](Self::handle), then [`poll_output`](Self::poll_output) until `None`,
/// ticks at [`next_deadline`](Self::next_deadline). Views and reports between the shards
/// pass inside; what comes out is what a node of one shard outputs. Commits come out tagged
/// with their shard: carry them out with [`run_commit`](Self::run_commit) or feed
/// [`Input::Committed`].
#[derive(Debug)]
pub struct ShardedNode<E> {
    /// Shard 0.
    control: Node<E>,
    /// Shard `i` at index `i - 1`.
    followers: Vec<Node<E>>,
    ring: RingConfig,
    outputs: VecDeque<Output>,
}

impl<E: StorageEngine + Clone> ShardedNode<E> {
    /// Starts a node of `config.shard.count` shards over `engine` (each shard gets a clone
    /// of the handle: clones must share the storage). `config.shard.index` is ignored.
    ///
    /// # Errors
    /// As [`Node::new`].
    pub fn new(config: NodeConfig, engine: E, now: Timestamp) -> Result<Self, NodeError> {
        let count = config.shard.count;
        let mut first = config.clone();
        first.shard = Shard::new(0, count);
        let control = Node::new(first, engine.clone(), now)?;
        let view = control.shard_view();
        let mut followers = Vec::new();
        for index in 1..count {
            let mut c = config.clone();
            c.shard = Shard::new(index, count);
            followers.push(Node::new_follower(
                c,
                engine.clone(),
                now,
                Arc::clone(&view),
            )?);
        }
        let mut node = ShardedNode {
            control,
            followers,
            ring: config.ring,
            outputs: VecDeque::new(),
        };
        node.pump();
        Ok(node)
    }
}

impl<E: StorageEngine> ShardedNode<E> {
    /// Feeds one input at `now`: to the shard it is for; a tick to every shard whose
    /// deadline came.
    pub fn handle(&mut self, now: Timestamp, input: Input) {
        match route_input(&input, self.ring, self.count()) {
            Some(i) => {
                if let Some(shard) = self.shard_mut(i) {
                    shard.handle(now, input);
                }
            }
            None => match input {
                Input::Tick => {
                    for shard in self.all_mut() {
                        if shard.next_deadline().is_some_and(|d| d <= now) {
                            shard.handle(now, Input::Tick);
                        }
                    }
                }
                other => {
                    for shard in &mut self.followers {
                        shard.handle(now, other.clone());
                    }
                }
            },
        }
        self.pump();
    }

    /// Moves views and reports between the shards until none is left; everything else
    /// goes out.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.count() {
                while let Some(out) = self.shard_mut(i).and_then(Node::poll_output) {
                    match out {
                        Output::View(view) => {
                            moved = true;
                            let now = self.shards_now();
                            for f in &mut self.followers {
                                f.handle(now, Input::View(Arc::clone(&view)));
                            }
                        }
                        Output::Report(report) => {
                            moved = true;
                            let now = self.shards_now();
                            self.control.handle(now, Input::Report(report));
                        }
                        other => self.outputs.push_back(other),
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn shard_mut(&mut self, index: u16) -> Option<&mut Node<E>> {
        match usize::from(index).checked_sub(1) {
            None => Some(&mut self.control),
            Some(i) => self.followers.get_mut(i),
        }
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut Node<E>> {
        std::iter::once(&mut self.control).chain(self.followers.iter_mut())
    }

    /// The latest time any shard saw.
    fn shards_now(&self) -> Timestamp {
        self.shards().map(Node::now).max().unwrap_or(Timestamp(0))
    }

    /// The next output of any shard.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline of any shard.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.shards().filter_map(Node::next_deadline).min()
    }

    /// Carries out `commit` on its shard's engine handle, here and now, and feeds the outcome
    /// back (see [`Node::run_commit`]).
    pub fn run_commit(&mut self, commit: Commit) {
        if let Some(shard) = self.shard_mut(shard_of_id(commit.id, self.count())) {
            shard.run_commit(commit);
        }
        self.pump();
    }

    /// How many shards.
    pub fn count(&self) -> u16 {
        // At most MAX_SHARDS.
        (self.followers.len() + 1) as u16
    }

    /// The shards in order; the first is control.
    pub fn shards(&self) -> impl Iterator<Item = &Node<E>> {
        std::iter::once(&self.control).chain(&self.followers)
    }

    /// The control shard.
    pub fn control(&self) -> &Node<E> {
        &self.control
    }

    /// The shard that holds `partition`.
    pub fn shard_of(&self, partition: PartitionId) -> &Node<E> {
        usize::from(shard_of_partition(partition, self.count()))
            .checked_sub(1)
            .and_then(|i| self.followers.get(i))
            .unwrap_or(&self.control)
    }

    /// This node's id.
    pub fn id(&self) -> &NodeId {
        self.control.id()
    }

    /// The epoch the node writes as (the control shard's).
    pub fn epoch(&self) -> EpochState {
        self.control.epoch()
    }

    /// The actor the node writes as (the control shard's).
    pub fn actor(&self) -> &Actor {
        self.control.actor()
    }

    /// Whether the node knows its epoch (see [`Node::epoch_confirmed`]).
    pub fn epoch_confirmed(&self) -> bool {
        self.control.epoch_confirmed()
    }

    /// The ring in force (the control shard's; see [`Node::ring`]).
    pub fn ring(&self) -> Option<&crate::ring::Ring> {
        self.control.ring()
    }

    /// The node's membership (the control shard's).
    pub fn membership(&self) -> &Membership {
        self.control.membership()
    }

    /// The node's failure detector (the control shard's).
    pub fn failure_detector(&self) -> &FailureDetector {
        self.control.failure_detector()
    }

    /// The engine (every shard's handle shares it).
    pub fn engine(&self) -> &E {
        self.control.engine()
    }

    /// Hints kept here for other nodes, committed (the engine is shared: the control shard
    /// counts them all).
    ///
    /// # Errors
    /// [`StoreError`] when the engine fails.
    pub fn hints_stored(&self) -> Result<usize, StoreError> {
        self.control.hints_stored()
    }

    /// Operations in flight, over all shards.
    pub fn open_operations(&self) -> usize {
        self.shards().map(Node::open_operations).sum()
    }

    /// Writes staged for the next group commit, over all shards.
    pub fn pending_writes(&self) -> usize {
        self.shards().map(Node::pending_writes).sum()
    }

    /// Stops every shard cleanly (see [`Node::shutdown`]): the followers first, then the
    /// control shard, which marks the epoch clean only if every shard stopped cleanly.
    ///
    /// # Errors
    /// The first [`StoreError`] of a shard.
    pub fn shutdown(&mut self, now: Timestamp) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut unclean = false;
        for shard in &mut self.followers {
            if let Err(e) = shard.shutdown(now) {
                first_error.get_or_insert(e);
            }
            unclean |= !shard.stopped_cleanly();
        }
        if unclean || first_error.is_some() {
            self.control.follower_stopped_uncleanly();
        }
        let control = self.control.shutdown(now);
        // Replies and acknowledgements released by the final commits.
        let mut released = Vec::new();
        for shard in self.all_mut() {
            while let Some(out) = shard.poll_output() {
                if !matches!(out, Output::View(_) | Output::Report(_)) {
                    released.push(out);
                }
            }
        }
        self.outputs.extend(released);
        match first_error {
            Some(e) => Err(e),
            None => control,
        }
    }

    /// Gives the engine back (the control shard's handle).
    pub fn into_engine(self) -> E {
        self.control.into_engine()
    }
}

//! Writes coordinated by a substitute (paper §4.6, sloppy quorum): on the side of a network
//! partition that holds none of a key's primaries, the first N reachable nodes round the
//! ring take the write, and one of them must number its version.
//!
//! A coordinator numbers a new version one above the highest counter of its own actor that
//! it knows for the key. A primary's data copy holds every dot it numbered for the key; a
//! substitute keeps what it writes as a *hint*, and hints are deleted once delivered. A
//! substitute numbering from what it holds after such a deletion would reuse a dot, and
//! a dotted set that sees a dot as covered drops the other write carrying it (the chaos test
//! found exactly that when substitutes numbered from their hint copy alone).
//!
//! The rule that keeps numbering safe:
//!
//! 1. **Number from every local copy that may hold this actor's dots.** Once the node
//!    numbered a version as a substitute for target `t`, its current actor has dots in the
//!    hint copies for `t`; every later write of a key this node coordinates (as a
//!    substitute or, after a ring change, as a primary) numbers from the merge of the data
//!    copy and the hint copies of every such target.
//! 2. **Move to a new actor once such a copy may be gone.** A hint deletion staged after the
//!    first substitute write of the current actor may remove dots that no other local copy
//!    holds: before it numbers another version, the node moves to a new epoch (a new actor
//!    with no dots anywhere, persisted and announced like every epoch). This happens once
//!    per delivery of hints a substitute wrote, not per write.
//! 3. **A restart with hints starts a new epoch.** Which targets the actor wrote hints for
//!    is kept in memory only; a node that restarts cleanly while it holds hints cannot know
//!    whether they carry its own dots, so it does not keep its epoch (see `Node::new`).
//!
//! A primary is still preferred: a write whose sloppy preference list holds a primary is
//! coordinated by it (forwarded there), and a substitute coordinates only when every
//! primary is unreachable, which keeps the clocks of keys free of substitute actors in the
//! common case.

use std::collections::BTreeSet;

use engine_api::StorageEngine;

use super::Node;
use super::store::{KeyAt, Location, StoreError};
use crate::ids::NodeId;
use crate::version::SiblingSet;

/// What the current actor numbered as a substitute: where its dots may be, and the hint
/// deletions seen when it started.
#[derive(Debug, Default)]
pub(super) struct SubstituteDots {
    /// The epoch of the actor these are about (a newer epoch has no dots anywhere yet).
    epoch: u64,
    /// Targets whose hint copies may hold dots of the current actor.
    targets: BTreeSet<NodeId>,
    /// [`Store::hint_deletes`](super::store::Store::hint_deletes) when the first target was
    /// added: a larger count means a copy may be gone.
    deletes_at_start: u64,
}

impl<E: StorageEngine> Node<E> {
    /// Whether the current actor numbered versions that it keeps as hints.
    fn substitute_dots(&self) -> bool {
        self.substitute.epoch == self.epoch.epoch && !self.substitute.targets.is_empty()
    }

    /// Whether the node must move to a new actor before it numbers another version: its
    /// current actor wrote hints as a substitute and a hint was deleted since.
    pub(super) fn substitute_dots_may_be_lost(&self) -> bool {
        self.substitute_dots() && self.store.hint_deletes() != self.substitute.deletes_at_start
    }

    /// Records that the current actor numbered a version kept as a hint for `target`.
    pub(super) fn numbered_as_substitute(&mut self, target: &NodeId) {
        if !self.substitute_dots() {
            self.substitute = SubstituteDots {
                epoch: self.epoch.epoch,
                targets: BTreeSet::new(),
                deletes_at_start: self.store.hint_deletes(),
            };
        }
        self.substitute.targets.insert(target.clone());
    }

    /// The set a new version of the key at `at` is numbered from: `local` (what this node
    /// stores at the write's own location `loc`) merged with every other local copy that
    /// may hold dots of the current actor (rule 1 of the module documentation).
    ///
    /// # Errors
    /// [`StoreError`] when a copy cannot be read; a corrupt copy counts as absent (it is
    /// reported by whoever reads it at its own location).
    pub(super) fn numbering_base(
        &self,
        loc: &Location,
        at: KeyAt<'_>,
        local: Option<SiblingSet>,
    ) -> Result<Option<SiblingSet>, StoreError> {
        if !self.substitute_dots() {
            return Ok(local);
        }
        let others = self
            .substitute
            .targets
            .iter()
            .map(|t| Location::Hint(t.clone()))
            .chain(std::iter::once(Location::Data))
            .filter(|l| l != loc);
        let mut base = local;
        for other in others {
            let Some(set) = self.store.read(&other, at)?.set else {
                continue;
            };
            match &mut base {
                None => base = Some(set),
                // A copy in another versioning mode (the bucket's mode changed) is left out:
                // it cannot hold dots of a version numbered in this mode.
                Some(b) => {
                    let _ = b.merge_unbounded(&set);
                }
            }
        }
        Ok(base)
    }
}

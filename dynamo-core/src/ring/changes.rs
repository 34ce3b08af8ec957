//! What changes between two rings: ownership transfers and replica-set changes.

use super::{PartitionId, Ring, RingError};
use crate::NodeId;

/// One partition changing owner between two rings: `from` hands the partition's data to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// The partition.
    pub partition: PartitionId,
    /// Its owner in the old ring.
    pub from: NodeId,
    /// Its owner in the new ring.
    pub to: NodeId,
}

/// How the preference list of one partition changes between two rings: `added` nodes must
/// obtain the partition's data, `removed` ones may drop it once the others hold it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplicaChange {
    /// The partition.
    pub partition: PartitionId,
    /// Nodes in the new preference list but not the old, in new-list order.
    pub added: Vec<NodeId>,
    /// Nodes in the old preference list but not the new, in old-list order.
    pub removed: Vec<NodeId>,
}

impl Ring {
    fn same_shape(&self, next: &Ring) -> Result<(), RingError> {
        if self.partition_count() != next.partition_count() {
            return Err(RingError::PartitionCountMismatch(
                self.partition_count(),
                next.partition_count(),
            ));
        }
        Ok(())
    }

    /// The partitions whose owner differs in `next`, in partition order: the ownership
    /// handoffs a membership change requires.
    ///
    /// # Errors
    /// [`RingError::PartitionCountMismatch`] when the rings have different partition counts.
    pub fn transfers_to(&self, next: &Ring) -> Result<Vec<Transfer>, RingError> {
        self.same_shape(next)?;
        Ok(self
            .owners()
            .zip(next.owners())
            .filter(|((_, a), (_, b))| a != b)
            .map(|((partition, from), (_, to))| Transfer {
                partition,
                from: from.clone(),
                to: to.clone(),
            })
            .collect())
    }

    /// The partitions whose preference list of length `n` differs in `next`, with the nodes
    /// that gain and lose a replica: with `N` replicas a join changes the lists of about `N`
    /// times as many partitions as it transfers, since the newcomer also becomes the second and
    /// third replica of its predecessors.
    ///
    /// # Errors
    /// [`RingError::PartitionCountMismatch`] when the rings have different partition counts.
    pub fn replica_changes_to(
        &self,
        next: &Ring,
        n: usize,
    ) -> Result<Vec<ReplicaChange>, RingError> {
        self.same_shape(next)?;
        let mut out = Vec::new();
        for partition in self.config.partition_ids() {
            let old = self.preference_list(partition, n);
            let new = next.preference_list(partition, n);
            let added: Vec<NodeId> = new
                .iter()
                .filter(|x| !old.contains(x))
                .map(|x| (*x).clone())
                .collect();
            let removed: Vec<NodeId> = old
                .iter()
                .filter(|x| !new.contains(x))
                .map(|x| (*x).clone())
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                out.push(ReplicaChange {
                    partition,
                    added,
                    removed,
                });
            }
        }
        Ok(out)
    }
}

//! The node's figures summed over its shards (see `dynamo_core::node::shard`): each shard
//! holds its own operations, staged writes and transfers, so the views that report them —
//! `/stats`, `/metrics`, `/admin/status`, `/ui/status` — ask every shard.

use dynamo_core::transfer::TransferProgress;
use serde_json::{Value, json};

use crate::handle::{HandleError, NodeHandle};
use crate::metrics::Metrics;

/// One shard's load.
#[derive(Debug, Clone)]
pub(crate) struct ShardFigures {
    /// Operations it coordinates or forwards.
    pub open_operations: usize,
    /// Writes staged for its next group commit.
    pub pending_writes: usize,
    /// Its outgoing transfers not yet confirmed.
    pub transfers_pending: usize,
    /// Its outgoing transfers.
    pub transfers: Vec<TransferProgress>,
}

/// Every shard's figures, in shard order.
///
/// # Errors
/// [`HandleError`] when a shard's task does not take the inspection.
pub(crate) async fn figures(handle: &NodeHandle) -> Result<Vec<ShardFigures>, HandleError> {
    handle
        .inspect_shards(|node| ShardFigures {
            open_operations: node.open_operations(),
            pending_writes: node.pending_writes(),
            transfers_pending: node.transfers().pending(),
            transfers: node.transfer_progress(),
        })
        .await
}

/// The node's load summed over its shards.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    /// Operations coordinated or forwarded.
    pub open_operations: usize,
    /// Writes staged for a group commit.
    pub pending_writes: usize,
    /// Outgoing transfers not yet confirmed.
    pub transfers_pending: usize,
    /// Every outgoing transfer, by partition.
    pub transfers: Vec<TransferProgress>,
}

/// The node's totals over `figures`.
pub(crate) fn totals(figures: &[ShardFigures]) -> Totals {
    let mut transfers: Vec<TransferProgress> =
        figures.iter().flat_map(|f| f.transfers.clone()).collect();
    transfers.sort_by(|a, b| (a.partition, &a.to).cmp(&(b.partition, &b.to)));
    Totals {
        open_operations: figures.iter().map(|f| f.open_operations).sum(),
        pending_writes: figures.iter().map(|f| f.pending_writes).sum(),
        transfers_pending: figures.iter().map(|f| f.transfers_pending).sum(),
        transfers,
    }
}

/// `/stats`' `shards`: per shard, its queue depth, requests and peer messages taken, open
/// operations and staged writes.
pub(crate) fn json(handle: &NodeHandle, metrics: &Metrics, figures: &[ShardFigures]) -> Value {
    let depths = handle.queue_depths();
    let list: Vec<Value> = figures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let shard = u16::try_from(i).unwrap_or(u16::MAX);
            json!({
                "shard": i,
                "queue_depth": depths.get(i).copied().unwrap_or(0),
                "requests": metrics.shard_requests.shard(shard).map_or(0, |c| c.get()),
                "peer_messages": metrics.shard_peer_messages.shard(shard).map_or(0, |c| c.get()),
                "open_operations": f.open_operations,
                "pending_writes": f.pending_writes,
            })
        })
        .collect();
    Value::Array(list)
}

/// `/metrics`' per-shard lines: queue depth (gauge), requests and peer messages (counters).
pub(crate) fn prometheus(handle: &NodeHandle, metrics: &Metrics, out: &mut String) {
    use std::fmt::Write as _;
    let depths = handle.queue_depths();
    let _ = writeln!(
        out,
        "# HELP dynamo_shard_queue_depth commands waiting in a shard's queue"
    );
    let _ = writeln!(out, "# TYPE dynamo_shard_queue_depth gauge");
    for (i, d) in depths.iter().enumerate() {
        let _ = writeln!(out, "dynamo_shard_queue_depth{{shard=\"{i}\"}} {d}");
    }
    for (name, help, counters) in [
        (
            "shard_requests",
            "client requests a shard took",
            &metrics.shard_requests,
        ),
        (
            "shard_peer_messages",
            "peer messages a shard took",
            &metrics.shard_peer_messages,
        ),
    ] {
        let _ = writeln!(out, "# HELP dynamo_{name}_total {help}");
        let _ = writeln!(out, "# TYPE dynamo_{name}_total counter");
        for shard in 0..handle.shard_count() {
            let v = counters.shard(shard).map_or(0, |c| c.get());
            let _ = writeln!(out, "dynamo_{name}_total{{shard=\"{shard}\"}} {v}");
        }
    }
}

//! The real node, [`dynamo_core::Node`], plugged into the simulator.
//!
//! The impls are mappings between the node's own `Input`/`Output` and the simulator's generic
//! ones (client ids are the simulator's request ids), [`SimNode::dump`] reads the node's
//! `data` keyspace straight from its engine, counts its hints (`Node::hints_stored`) and
//! renders its cluster state ([`membership_view`]), and [`SetApi`] maps the grow-set
//! workload onto `Get`/`Put` requests ([`DeleteApi`] the delete workload onto `Delete`).
//! [`node_factory`] builds nodes over a [`MemDisk`] kept across restarts.

use bytes::Bytes;
use dynamo_core::membership::ClusterState;
use dynamo_core::node::{KEYSPACES, NodeConfig, Shard, ShardedNode};
use dynamo_core::proto::{ClientId, ClientRequest, ClientResponse, PeerMessage};
use dynamo_core::version::{ContentType, Context, SiblingSet};
use dynamo_core::{NodeEvent, Timestamp, record};
use engine_api::{Direction, KeyRange, Snapshot, StorageEngine};

use crate::check::growset::{ReadResult, SetApi};
use crate::check::resurrection::DeleteApi;
use crate::disk::{MemDisk, SharedMemEngine};
use crate::node::{Dump, Input, InputOf, Output, OutputOf, SimNode, Start};
use crate::sim::Factory;

impl<E: StorageEngine> SimNode for ShardedNode<E> {
    type Message = PeerMessage;
    type Request = ClientRequest;
    type Response = ClientResponse;
    type Event = NodeEvent;
    /// The decoded record, or why it did not decode.
    type Stored = Result<SiblingSet, String>;

    fn handle(&mut self, now: Timestamp, input: InputOf<Self>) {
        let input = match input {
            Input::Client { id, request } => dynamo_core::Input::Client {
                id: ClientId(id),
                request,
            },
            Input::Peer { from, message } => dynamo_core::Input::Peer { from, message },
            Input::Tick => dynamo_core::Input::Tick,
        };
        ShardedNode::handle(self, now, input);
    }

    /// Commits are carried out as they are polled: applied to the node's simulated disk and
    /// their completion fed back at once (a disk that takes no virtual time). What a crash
    /// loses is what the commits wrote `Buffered` since the last `Sync` one
    /// ([`MemEngine::simulate_crash`](engine_mem::MemEngine::simulate_crash)), and what was
    /// staged but not yet committed.
    fn poll_output(&mut self) -> Option<OutputOf<Self>> {
        loop {
            return Some(match ShardedNode::poll_output(self)? {
                dynamo_core::Output::Send { to, message } => Output::Send { to, message },
                dynamo_core::Output::Reply { id, response } => Output::Reply { id: id.0, response },
                dynamo_core::Output::Event(e) => Output::Event(e),
                dynamo_core::Output::Commit(commit) => {
                    self.run_commit(commit);
                    continue;
                }
                // Views and reports pass between the shards inside.
                _ => continue,
            });
        }
    }

    fn next_deadline(&self) -> Option<Timestamp> {
        ShardedNode::next_deadline(self)
    }

    fn dump(&self) -> Dump<Self::Stored> {
        let mut dump = Dump {
            // An engine failure shows as a count no drain check accepts.
            pending_hints: self.hints_stored().unwrap_or(usize::MAX),
            membership: Some(membership_view(self.membership().state())),
            ..Dump::default()
        };
        let engine = self.engine();
        let (Ok(data), Ok(snapshot)) = (engine.keyspace(KEYSPACES[0]), engine.snapshot()) else {
            return dump;
        };
        if let Ok(iter) = snapshot.scan(data, KeyRange::all(), Direction::Forward) {
            for (k, v) in iter.flatten() {
                let set = record::decode(&v).map_err(|e| e.to_string());
                dump.data.insert(k.to_vec(), set);
            }
        }
        dump
    }
}

/// A comparable rendering of a cluster state: every member with its status and entry
/// version, the ring's version and digest, and every bucket's properties version. Two nodes
/// whose views are equal route every key alike and agree on every member's life cycle.
pub fn membership_view(state: &ClusterState) -> String {
    let mut view = format!(
        "ring v{} {:016x};",
        state.ring_version(),
        state.ring().map_or(0, |r| r.digest())
    );
    for (node, info) in state.members() {
        view.push_str(&format!(" {node}:{}@{}", info.status, info.version));
    }
    for (bucket, entry) in state.buckets() {
        view.push_str(&format!(
            " bucket {}@{}",
            String::from_utf8_lossy(bucket),
            entry.version
        ));
    }
    view
}

impl<E: StorageEngine> SetApi for ShardedNode<E> {
    type Context = Context;

    fn get_request(bucket: &[u8], key: &[u8]) -> ClientRequest {
        ClientRequest::Get {
            bucket: Bytes::copy_from_slice(bucket),
            key: Bytes::copy_from_slice(key),
            r: None,
        }
    }

    fn put_request(bucket: &[u8], key: &[u8], context: Context, value: Bytes) -> ClientRequest {
        ClientRequest::Put {
            bucket: Bytes::copy_from_slice(bucket),
            key: Bytes::copy_from_slice(key),
            context,
            value,
            content_type: ContentType::octet_stream(),
            w: None,
            dw: None,
            return_body: false,
        }
    }

    fn read_result(response: &ClientResponse) -> ReadResult<Context> {
        match response {
            ClientResponse::Get(Ok(r)) => Ok((r.values().cloned().collect(), r.context.clone())),
            ClientResponse::Get(Err(e)) => Err(e.to_string()),
            other => Err(format!("not a read answer: {other:?}")),
        }
    }

    fn write_result(response: &ClientResponse) -> Result<(), String> {
        match response {
            ClientResponse::Put(Ok(_)) => Ok(()),
            ClientResponse::Put(Err(e)) => Err(e.to_string()),
            other => Err(format!("not a write answer: {other:?}")),
        }
    }
}

impl<E: StorageEngine> DeleteApi for ShardedNode<E> {
    fn delete_request(bucket: &[u8], key: &[u8], context: Context) -> ClientRequest {
        ClientRequest::Delete {
            bucket: Bytes::copy_from_slice(bucket),
            key: Bytes::copy_from_slice(key),
            context,
            w: None,
            dw: None,
        }
    }

    fn delete_result(response: &ClientResponse) -> Result<(), String> {
        match response {
            ClientResponse::Delete(Ok(_)) => Ok(()),
            ClientResponse::Delete(Err(e)) => Err(e.to_string()),
            other => Err(format!("not a delete answer: {other:?}")),
        }
    }
}

/// A factory of real nodes over an in-memory disk kept across restarts: `configure` makes
/// each incarnation's configuration from its [`Start`] (use [`default_config`] and adjust).
///
/// # Errors
/// Never in practice: creating the disk fails only for bad keyspace names.
pub fn node_factory<F>(
    mut configure: F,
) -> engine_api::Result<Factory<ShardedNode<SharedMemEngine>>>
where
    F: FnMut(&Start) -> NodeConfig + 'static,
{
    let mut disk = MemDisk::new(KEYSPACES)?;
    Ok(Box::new(move |start: &Start| {
        let engine = disk.open(start.kind).map_err(|e| e.to_string())?;
        ShardedNode::new(configure(start), engine, start.now).map_err(|e| e.to_string())
    }))
}

/// The default configuration of a node: its name, the seed the simulator derived for it,
/// every node of the simulation as members, and its shard count ([`shards_for`]).
pub fn default_config(start: &Start) -> NodeConfig {
    let mut c = NodeConfig::new(start.id.clone(), start.seed, start.cluster.clone());
    c.shard = Shard::new(0, shards_for(start));
    c
}

/// Shard counts a simulated node runs with when `SIM_SHARDS` does not say.
pub const SIM_SHARD_COUNTS: [u16; 2] = [1, 4];

/// The shard count of a node incarnation: `SIM_SHARDS` when set (a number from 1 to 256),
/// else 1 or 4 ([`SIM_SHARD_COUNTS`]) chosen by the incarnation's seed — so a run mixes
/// nodes of one shard and of four, and a restarted node may come back with the other count
/// (its persisted transfers regrouped, its epoch kept). Deterministic: same seed, same
/// counts.
pub fn shards_for(start: &Start) -> u16 {
    if let Some(n) = std::env::var("SIM_SHARDS")
        .ok()
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|n| (1..=dynamo_core::node::shard::MAX_SHARDS).contains(n))
    {
        return n;
    }
    let pick = (start.seed >> 17) % SIM_SHARD_COUNTS.len() as u64;
    SIM_SHARD_COUNTS[usize::try_from(pick).unwrap_or(0)]
}

//! The scenarios of issue 4 (item 10) on the real node, one function per scenario.
//!
//! Each scenario builds a cluster of real [`dynamo_core::Node`]s ([`Real`]), drives the
//! grow-set workload ([`GrowSet`]) while it injects its faults, heals everything, and then
//! runs the same checks ([`settle`]):
//!
//! 1. every client operation in flight finishes;
//! 2. the cluster converges: every replica of every key holds the
//!    same sibling set, each key held by exactly `n` nodes (its owners, when the ring
//!    changed), no hints pending, every node with the same membership view; the time from
//!    the heal to this point is the run's "time to converge";
//! 3. no acknowledged element is lost ([`GrowSet::final_check`]);
//! 4. siblings only come from concurrency ([`GrowSet::check_resolves`]: a write with the
//!    merged context leaves one sibling);
//! 5. the cluster converges again after those writes.
//!
//! A scenario is a function from a seed to its [`Summary`] (or a failure message naming what
//! failed), so that [`crate::sweep()`] runs it over many seeds and `SIM_SEED` replays one; the
//! test files `tests/scenario_*.rs` do exactly that and print the merged figures.
//!
//! # The scenarios and their status
//!
//! | test file | scenario | CI seeds | status |
//! |---|---|---|---|
//! | `scenario_split_brain` | [`split_brain_dvv`], and [`split_brain`] in `lww` mode | 100 | passes; `lww` loses acknowledged writes (the contrast) |
//! | `scenario_primary_crash` | [`primary_crash`] | 100 | passes |
//! | `scenario_hint_holder_crash` | [`hint_holder_crash`] | 100 | passes |
//! | `scenario_disk_wipe` | [`disk_wipe`]; [`disk_wipe_clock_back`] | 100 each | passes |
//! | `scenario_join_leave` | [`join_leave`] | 100 | passes |
//! | `scenario_one_way_partition` | [`one_way_partition_after_heal`]; [`one_way_partition`] | 100 each | passes |
//! | `scenario_lossy_network` | [`lossy_network`] | 100 | passes |
//! | `scenario_durability` | [`durability_one`]; [`durability_none_power_loss`] (losses bounded by the flush window) | 50 each | passes |
//! | `scenario_deletes` | [`deletes`] (delete-heavy, short tombstone grace, fault episodes; its own checks, [`settle_deletes`]); [`deletes_hint_past_grace`] (the limit, shown) | 50 | passes |
//!
//! The node, the simulator and the memory engine are compiled with optimisations even in test
//! builds (`[profile.dev.package]` in the workspace manifest), so each file's CI run takes
//! under two minutes on two cores; `SIM_SEEDS` asks for more. [`all`] lists the passing
//! scenarios, [`known_failing`] the others with what they need (none at present).
//!
//! Timers are the node's defaults (1 s request timeout, 1 s gossip, failure threshold 2)
//! except anti-entropy, which exchanges one partition every [`AE_INTERVAL_MS`] per node so
//! that a simulated minute covers every partition several times.

use std::collections::BTreeSet;

use bytes::Bytes;
use dynamo_core::NodeId;
use dynamo_core::membership::DurabilityMode;
use dynamo_core::node::{NodeConfig, ShardedNode};
use dynamo_core::proto::{ClientRequest, ClientResponse};
use dynamo_core::ring::{Ring, decode_storage_key};
use dynamo_core::version::VersioningMode;

use crate::check::convergence::{
    check_hints_drained, check_membership_agrees, check_replicas_agree,
};
use crate::check::growset::{GrowSet, GrowSetConfig, GrowSetReport};
use crate::check::resurrection::{DeleteLoad, DeleteLoadConfig, ResurrectionReport};
use crate::disk::SharedMemEngine;
use crate::dynamo::{default_config, node_factory};
use crate::network::{Addr, Millis, NetConfig};
use crate::node::{Dump, Start, StartKind};
use crate::sim::{Sim, SimConfig};
use crate::summary::Summary;
use crate::sweep::{history_mode, write_history_if_asked};

/// The real node over the simulator's in-memory disk.
pub type Real = ShardedNode<SharedMemEngine>;

/// Anti-entropy interval of the scenarios' nodes, in milliseconds.
pub const AE_INTERVAL_MS: u64 = 100;

/// Replicas per key (the default bucket's N) in every scenario.
pub const N: usize = 3;

/// Longest time the cluster may take to converge after the heal.
pub const CONVERGE_TIMEOUT_MS: Millis = 90_000;

/// The bucket of the workload's keys.
pub const BUCKET: &[u8] = b"sets";

/// A node's configuration in the scenarios: [`default_config`] with anti-entropy on and the
/// given versioning mode.
pub fn scenario_config(start: &Start, mode: VersioningMode) -> NodeConfig {
    let mut c = default_config(start);
    c.default_bucket.mode = mode;
    c.timing.anti_entropy_interval_ms = AE_INTERVAL_MS;
    c
}

/// Settings of a simulation for `seed`: the network given, history as the environment asks
/// ([`history_mode`]).
pub fn sim_config(seed: u64, net: NetConfig) -> SimConfig {
    let mut config = SimConfig::new(seed);
    config.history = history_mode();
    config.keep_events = false;
    config.net = net;
    config
}

/// A network with delays of 1 to 10 ms (so messages overtake each other) and 1% duplicates.
pub fn lan() -> NetConfig {
    NetConfig {
        min_delay: 1,
        max_delay: 10,
        loss_per_million: 0,
        duplicate_per_million: 10_000,
    }
}

/// Adds nodes `n0..n{count}`, all founders of one cluster, configured by `configure`, and
/// starts them.
pub fn founders<F>(sim: &mut Sim<Real>, count: usize, configure: F) -> Result<(), String>
where
    F: Fn(&Start) -> NodeConfig + Clone + 'static,
{
    for i in 0..count {
        let id = NodeId::new(format!("n{i}")).map_err(|e| e.to_string())?;
        let factory = node_factory(configure.clone()).map_err(|e| e.to_string())?;
        sim.add_node(id, factory);
    }
    sim.start_all();
    if sim.up_nodes().len() != count {
        return Err(format!(
            "only {:?} of {count} nodes started",
            sim.up_nodes()
        ));
    }
    Ok(())
}

/// The workload of the scenarios: `clients` clients on 3 keys, every node, stopping at
/// `stop_at`.
pub fn workload(sim: &mut Sim<Real>, clients: usize, stop_at: Millis) -> GrowSet<Real> {
    workload_on(sim, clients, 3, stop_at)
}

/// The workload on `keys` keys.
pub fn workload_on(
    sim: &mut Sim<Real>,
    clients: usize,
    keys: usize,
    stop_at: Millis,
) -> GrowSet<Real> {
    GrowSet::new(
        GrowSetConfig {
            clients,
            keys,
            bucket: Bytes::from_static(BUCKET),
            stop_at,
            ..GrowSetConfig::default()
        },
        sim,
    )
}

/// The ring node `addr` routes with.
pub fn ring_of(sim: &Sim<Real>, addr: Addr) -> Result<Ring, String> {
    sim.node(addr)
        .and_then(|n| n.ring().cloned())
        .ok_or_else(|| format!("node {addr} is down or has no ring"))
}

/// The addresses of the first `n` nodes of the preference list of the workload's key number
/// `key`, as node `addr` routes.
pub fn preference_list(
    sim: &Sim<Real>,
    addr: Addr,
    key: usize,
    n: usize,
) -> Result<Vec<Addr>, String> {
    let ring = ring_of(sim, addr)?;
    let name = GrowSet::<Real>::key_name(key);
    ring.preference_list_for_key(BUCKET, name.as_bytes(), n)
        .into_iter()
        .map(|id| sim.addr_of(id).ok_or_else(|| format!("unknown node {id}")))
        .collect()
}

/// Checks that each key is held by exactly its `n` owners in `ring` (the nodes of its
/// preference list), and by no other running node.
///
/// # Errors
/// The first keys held by the wrong nodes.
pub fn check_owners<S>(
    sim: &Sim<Real>,
    dumps: &[(Addr, Dump<S>)],
    ring: &Ring,
    n: usize,
) -> Result<(), String> {
    let mut holders: std::collections::BTreeMap<&[u8], BTreeSet<Addr>> = Default::default();
    for (addr, dump) in dumps {
        for k in dump.data.keys() {
            holders.entry(k.as_slice()).or_default().insert(*addr);
        }
    }
    let mut wrong = Vec::new();
    for (key, held) in holders {
        let Ok(decoded) = decode_storage_key(key) else {
            wrong.push(format!("undecodable storage key {key:?}"));
            continue;
        };
        let owners: BTreeSet<Addr> = ring
            .preference_list(decoded.partition, n)
            .into_iter()
            .filter_map(|id| sim.addr_of(id))
            .collect();
        if held != owners {
            wrong.push(format!(
                "key {:?}: held by {held:?}, owners {owners:?}",
                String::from_utf8_lossy(decoded.key)
            ));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} keys misplaced: {}",
            wrong.len(),
            wrong.join("; ")
        ))
    }
}

/// What [`settle`] checks besides the grow-set's losses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// Keys must be held by exactly their owners in the ring of this node (after a ring
    /// change), rather than by exactly [`N`] nodes.
    pub owners_from: Option<Addr>,
    /// The node [`GrowSet::check_resolves`] talks to.
    pub resolve_at: Addr,
}

/// The convergence check of the scenarios (see the module documentation).
///
/// # Errors
/// What still differs.
pub fn converged(
    sim: &Sim<Real>,
    dumps: &[(Addr, Dump<<Real as crate::SimNode>::Stored>)],
    checks: Checks,
) -> Result<(), String> {
    match checks.owners_from {
        Some(addr) => {
            check_replicas_agree(dumps, None)?;
            check_owners(sim, dumps, &ring_of(sim, addr)?, N)?;
        }
        None => check_replicas_agree(dumps, Some(N))?,
    }
    check_hints_drained(dumps)?;
    check_membership_agrees(dumps)
}

/// Runs `body` on a new simulation of `seed` over `net`, then writes its history where
/// `SIM_HISTORY` asks (whether `body` passed or not: a failing seed is replayed to read it).
pub fn run<T>(seed: u64, net: NetConfig, body: impl FnOnce(&mut Sim<Real>) -> T) -> T {
    let mut sim = Sim::new(sim_config(seed, net));
    let out = body(&mut sim);
    if let Ok(Some(path)) = write_history_if_asked(sim.history()) {
        println!("history written to {path}");
    }
    out
}

/// Runs until every client operation in flight finished (at most `timeout` ms).
pub fn drain_clients(sim: &mut Sim<Real>, timeout: Millis) {
    let deadline = sim.now() + timeout;
    while sim.requests_in_flight() > 0 && sim.step(deadline) {}
}

/// The end of every scenario, once its faults are healed at `healed_at` (see the module
/// documentation); returns the run's figures with the workload's.
///
/// # Errors
/// The first check that failed.
pub fn settle(
    sim: &mut Sim<Real>,
    grow: &mut GrowSet<Real>,
    healed_at: Millis,
    checks: Checks,
) -> Result<Summary, String> {
    settle_with_figures(sim, grow, healed_at, checks).1
}

/// [`settle`], also returning the figures gathered up to the check that failed (losses
/// included once the final reads ran).
pub fn settle_with_figures(
    sim: &mut Sim<Real>,
    grow: &mut GrowSet<Real>,
    healed_at: Millis,
    checks: Checks,
) -> (Summary, Result<Summary, String>) {
    let mut figures = sim.summary();
    let outcome = settle_inner(sim, grow, healed_at, checks, &mut figures, &|_, _, _| false);
    (figures, outcome)
}

/// [`settle`], where losing an acknowledged element is allowed when `may_lose(grow, key,
/// element)` says so (a durability mode that promises less); the summary still counts
/// every loss.
///
/// # Errors
/// The first check that failed, or the first loss not allowed.
pub fn settle_allowing(
    sim: &mut Sim<Real>,
    grow: &mut GrowSet<Real>,
    healed_at: Millis,
    checks: Checks,
    may_lose: &dyn Fn(&GrowSet<Real>, &str, u64) -> bool,
) -> Result<Summary, String> {
    let mut figures = sim.summary();
    settle_inner(sim, grow, healed_at, checks, &mut figures, may_lose)
}

fn settle_inner(
    sim: &mut Sim<Real>,
    grow: &mut GrowSet<Real>,
    healed_at: Millis,
    checks: Checks,
    figures: &mut Summary,
    may_lose: &dyn Fn(&GrowSet<Real>, &str, u64) -> bool,
) -> Result<Summary, String> {
    drain_clients(sim, 10_000);
    let check = |sim: &mut Sim<Real>, timeout| {
        // Like `run_until_converged`, with the simulation at hand for the ring.
        let start = sim.now();
        let last = loop {
            let last = converged(sim, &sim.dumps(), checks);
            if last.is_ok() || sim.now() - start >= timeout {
                break last;
            }
            sim.run_for(100);
        };
        last.map(|()| sim.now()).map_err(|e| {
            format!(
                "not converged {} ms after the heal: {e}",
                sim.now() - healed_at
            )
        })
    };
    // The final reads run even when the cluster did not converge, so that the losses are
    // counted either way (the `lww` contrast needs them).
    let converged_at = check(sim, CONVERGE_TIMEOUT_MS);
    let report = grow.final_check(sim, 10_000);
    let mut summary = sim.summary();
    report.fill(&mut summary);
    summary.max_time_to_converge_ms = converged_at
        .as_ref()
        .ok()
        .map(|t| t.saturating_sub(healed_at));
    *figures = summary.clone();
    converged_at?;
    let mut unexpected = report.clone();
    unexpected.lost.retain(|(key, e)| !may_lose(grow, key, *e));
    unexpected.check()?;
    grow.check_resolves(sim, checks.resolve_at, 5_000)?;
    check(sim, 30_000).map_err(|e| format!("after resolving siblings: {e}"))?;
    // The figures of the whole run, with the workload's and the convergence time.
    let mut full = sim.summary();
    report.fill(&mut full);
    full.max_siblings = full.max_siblings.max(grow.report().max_siblings);
    full.max_time_to_converge_ms = summary.max_time_to_converge_ms;
    *figures = full.clone();
    Ok(full)
}

// ----- the scenarios -----

/// Split brain: 5 nodes, N=3 R=W=2, split 2+3 for `split_ms` under 6 concurrent clients,
/// then healed. Returns the workload's report, the figures, and the outcome of the checks
/// (in `lww` mode the checks are expected to fail on lost writes: that is the contrast).
pub fn split_brain(
    seed: u64,
    mode: VersioningMode,
    split_ms: Millis,
) -> (GrowSetReport, Summary, Result<(), String>) {
    run(seed, lan(), |sim| split_brain_in(sim, seed, mode, split_ms))
}

fn split_brain_in(
    sim: &mut Sim<Real>,
    _seed: u64,
    mode: VersioningMode,
    split_ms: Millis,
) -> (GrowSetReport, Summary, Result<(), String>) {
    if let Err(e) = founders(sim, 5, move |s| scenario_config(s, mode)) {
        return (GrowSetReport::default(), sim.summary(), Err(e));
    }
    let split_at = 2_000;
    let heal_at = split_at + split_ms;
    let mut grow = workload(sim, 6, heal_at + 4_000);
    grow.start(sim);
    grow.run(sim, split_at);
    sim.partition(&[0, 1], &[2, 3, 4]);
    grow.run(sim, heal_at);
    sim.heal();
    grow.run(sim, heal_at + 4_000);
    let (figures, outcome) = settle_with_figures(sim, &mut grow, heal_at, Checks::default());
    (grow.report().clone(), figures, outcome.map(|_| ()))
}

/// Split brain in DVV mode (see [`split_brain`]), 30 simulated seconds of split.
///
/// # Errors
/// The first check that failed.
pub fn split_brain_dvv(seed: u64) -> Result<Summary, String> {
    let (_, summary, outcome) = split_brain(seed, VersioningMode::Dvv, 30_000);
    outcome.map(|()| summary)
}

/// A primary of key `set-0` crashes mid-load and comes back (its disk kept, or cut back to
/// what was durable on odd seeds) after 5 s; meanwhile its writes go to a substitute as
/// hints, which must be delivered once it is back (hints drain), with nothing lost.
///
/// # Errors
/// The first check that failed, or "no hint stored" when the outage did not exercise
/// hinted handoff.
pub fn primary_crash(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| primary_crash_in(sim, seed))
}

fn primary_crash_in(sim: &mut Sim<Real>, seed: u64) -> Result<Summary, String> {
    founders(sim, 5, |s| scenario_config(s, VersioningMode::Dvv))?;
    let primary = preference_list(sim, 0, 0, N)?[0];
    let (crash_at, restart_at, stop_at) = (3_000, 8_000, 12_000);
    let mut grow = workload(sim, 6, stop_at);
    grow.start(sim);
    grow.run(sim, crash_at);
    sim.crash(primary);
    grow.run(sim, restart_at);
    let hints: usize = sim.dumps().iter().map(|(_, d)| d.pending_hints).sum();
    if hints == 0 {
        return Err(format!("no hint stored while node {primary} was down"));
    }
    let kind = if seed.is_multiple_of(2) {
        StartKind::Restart
    } else {
        StartKind::AfterCrash
    };
    sim.restart(primary, kind);
    grow.run(sim, stop_at);
    settle(sim, &mut grow, restart_at, Checks::default())
}

/// The node holding hints for a crashed primary of `set-0` crashes before delivering them,
/// and comes back wiped (even seeds) or cut back to what was durable (odd seeds): the
/// primary, back first, must get the writes it missed from anti-entropy (or the hints that
/// survived). Only the hint holder's disk is lost: fewer than W acknowledging replicas.
///
/// # Errors
/// The first check that failed, or "no hint stored" when the holder held none.
pub fn hint_holder_crash(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| hint_holder_crash_in(sim, seed))
}

fn hint_holder_crash_in(sim: &mut Sim<Real>, seed: u64) -> Result<Summary, String> {
    founders(sim, 5, |s| scenario_config(s, VersioningMode::Dvv))?;
    let list = preference_list(sim, 0, 0, N + 1)?;
    let (primary, holder) = (list[N - 1], list[N]);
    let mut grow = workload(sim, 6, 12_000);
    grow.start(sim);
    grow.run(sim, 2_000);
    sim.crash(primary);
    grow.run(sim, 6_000);
    let held = sim
        .dumps()
        .iter()
        .find(|(a, _)| *a == holder)
        .map_or(0, |(_, d)| d.pending_hints);
    if held == 0 {
        return Err(format!(
            "node {holder} holds no hint for node {primary} before its crash"
        ));
    }
    sim.crash(holder);
    grow.run(sim, 7_000);
    sim.restart(primary, StartKind::Restart);
    grow.run(sim, 8_000);
    let kind = if seed.is_multiple_of(2) {
        StartKind::Wiped
    } else {
        StartKind::AfterCrash
    };
    sim.restart(holder, kind);
    grow.run(sim, 12_000);
    settle(sim, &mut grow, 8_000, Checks::default())
}

/// A primary of `set-0` loses its disk mid-load and restarts on an empty one at once (the
/// KV679 scenario): it must come back as a new actor (checked: its epoch differs), so that
/// no write it coordinates afterwards is taken for one already seen and dropped, and it must
/// get its data back.
/// Every node's clock is skewed by up to ±500 ms.
///
/// # Errors
/// The first check that failed.
pub fn disk_wipe(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| disk_wipe_in(sim, false))
}

/// [`disk_wipe`] where the wiped node's clock was also set back to the instant of its first
/// start (an NTP step, a replaced machine with a wrong clock): its new epoch, read from the
/// clock, equals its first one, unless the node learns its highest epoch from the cluster.
///
/// # Errors
/// The first check that failed.
pub fn disk_wipe_clock_back(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| disk_wipe_in(sim, true))
}

fn disk_wipe_in(sim: &mut Sim<Real>, clock_back: bool) -> Result<Summary, String> {
    founders(sim, 5, |s| scenario_config(s, VersioningMode::Dvv))?;
    let victim = preference_list(sim, 0, 0, N)?[0];
    if !clock_back {
        for a in 0..5 {
            let skew = sim.rng().between(0, 1_000) as i64 - 500;
            sim.set_skew(a, skew);
        }
    }
    let wipe_at = 4_000;
    let mut grow = workload(sim, 6, 12_000);
    grow.start(sim);
    grow.run(sim, wipe_at);
    if clock_back {
        sim.set_skew(victim, -(wipe_at as i64));
    }
    let before = sim.node(victim).map(|n| n.epoch().epoch);
    sim.restart(victim, StartKind::Wiped);
    // Back from a wiped disk, the node may start with the epoch it used before (its clock
    // went back) only while it coordinates no write: until a peer told it that epoch.
    let reused = |sim: &Sim<Real>| {
        let node = sim.node(victim)?;
        (Some(node.epoch().epoch) == before && node.epoch_confirmed()).then_some(before)
    };
    let check = |sim: &Sim<Real>| match reused(sim) {
        Some(epoch) => Err(format!(
            "node {victim} came back from a wiped disk writing as epoch {epoch:?}, the one it \
             used before: the same actor, whose counters restart (KV679)"
        )),
        None => Ok(()),
    };
    check(sim)?;
    grow.run(sim, 12_000);
    check(sim)?;
    if sim.node(victim).map(|n| n.epoch().epoch) == before {
        return Err(format!(
            "node {victim} never moved past the epoch {before:?} it used before its disk was wiped"
        ));
    }
    settle(sim, &mut grow, 4_000, Checks::default())
}

/// A node joins (through a seed) and another leaves, under load, on 16 keys (so that both
/// ring changes move some keys between nodes that stay): afterwards each key is held by
/// exactly its N owners in the new ring, nothing lost. The node that left is
/// stopped once it reports Exiting.
///
/// # Errors
/// The first check that failed.
pub fn join_leave(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| join_leave_in(sim, seed))
}

fn join_leave_in(sim: &mut Sim<Real>, _seed: u64) -> Result<Summary, String> {
    let joiner = NodeId::new("n5").map_err(|e| e.to_string())?;
    let configure = {
        let joiner = joiner.clone();
        move |s: &Start| {
            let mut c = scenario_config(s, VersioningMode::Dvv);
            c.members.retain(|m| *m != joiner);
            if s.id == joiner {
                c.members.clear();
                c.seeds = vec![s.cluster[0].clone()];
            }
            c
        }
    };
    for i in 0..6 {
        let id = NodeId::new(format!("n{i}")).map_err(|e| e.to_string())?;
        let factory = node_factory(configure.clone()).map_err(|e| e.to_string())?;
        sim.add_node(id, factory);
    }
    for a in 0..5 {
        sim.start(a);
    }
    let (new, leaver) = (5, 4);
    // Enough keys that the ring changes move some of them between nodes that stay.
    let mut grow = workload_on(sim, 6, 16, 20_000);
    grow.start(sim);
    grow.run(sim, 3_000);
    if !sim.start(new) {
        return Err("the joining node did not start".into());
    }
    grow.run(sim, 6_000);
    let left = sim.call(leaver, ClientRequest::Leave, 5_000);
    match left.map(|c| c.result) {
        Some(Ok(ClientResponse::Admin(Ok(_)))) => {}
        other => return Err(format!("leave refused: {other:?}")),
    }
    // Wait (with the load running) until the leaver is out, then stop it.
    let mut exited_at = None;
    let mut t = sim.now();
    while t < 20_000 {
        t += 250;
        grow.run(sim, t);
        let status = sim
            .node(leaver)
            .and_then(|n| n.membership().status())
            .map(|s| s.name());
        if exited_at.is_none() && status == Some("exiting") {
            exited_at = Some(sim.now());
            sim.crash(leaver);
        }
    }
    let exited_at = exited_at.ok_or("the leaving node never reached Exiting")?;
    let checks = Checks {
        owners_from: Some(0),
        resolve_at: 0,
    };
    settle(sim, &mut grow, exited_at, checks)
}

/// Node 0 can receive from the others but not send to them for 20 s, under load; then
/// healed. During the cut, a bucket change made on node 2 must reach node 0 (membership
/// converges through the one-way link), and the network must carry a bounded number of
/// messages per second (no livelock of retries or gossip answers): at most `3 ×` the rate
/// of the healthy first 3 s.
///
/// # Errors
/// The first check that failed.
pub fn one_way_partition(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| one_way_partition_in(sim, true))
}

/// [`one_way_partition`] without its check that a membership change made during the cut
/// reaches the cut-off node before the heal (a known gap of the node's gossip, see the test
/// file): still checks the bounded traffic and everything after the heal, membership
/// agreement included.
///
/// # Errors
/// The first check that failed.
pub fn one_way_partition_after_heal(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| one_way_partition_in(sim, false))
}

fn one_way_partition_in(
    sim: &mut Sim<Real>,
    membership_during_cut: bool,
) -> Result<Summary, String> {
    founders(sim, 5, |s| scenario_config(s, VersioningMode::Dvv))?;
    let (cut_at, heal_at) = (3_000, 23_000);
    let mut grow = workload(sim, 6, heal_at + 4_000);
    grow.start(sim);
    grow.run(sim, cut_at);
    let healthy = sim.net_stats().sent;
    sim.block(&[0], &[1, 2, 3, 4]);
    grow.run(sim, cut_at + 2_000);
    let props = ClientRequest::SetBucketProps {
        bucket: Bytes::from_static(b"other"),
        props: dynamo_core::node::BucketProps {
            n: 2,
            r: 1,
            w: 1,
            mode: VersioningMode::Dvv,
            durability: Default::default(),
        },
    };
    sim.submit(2, props);
    let before = sim.net_stats().sent;
    let t0 = sim.now();
    grow.run(sim, heal_at);
    let during = sim.net_stats().sent - before;
    let rate = |msgs: u64, ms: u64| msgs as f64 * 1_000.0 / ms.max(1) as f64;
    let (healthy_rate, cut_rate) = (rate(healthy, cut_at), rate(during, sim.now() - t0));
    if cut_rate > 3.0 * healthy_rate {
        return Err(format!(
            "{cut_rate:.0} messages/s during the one-way cut against {healthy_rate:.0} before"
        ));
    }
    if membership_during_cut {
        check_membership_agrees(&sim.dumps())
            .map_err(|e| format!("during the one-way cut: {e}"))?;
    }
    sim.heal();
    grow.run(sim, heal_at + 4_000);
    settle(sim, &mut grow, heal_at, Checks::default())
}

/// 20% of messages lost, 5% duplicated, delays of 1 to 40 ms (reordering) for 15 s under
/// load; then the loss stops: nothing lost, the cluster converges.
///
/// # Errors
/// The first check that failed.
pub fn lossy_network(seed: u64) -> Result<Summary, String> {
    let bad = NetConfig {
        min_delay: 1,
        max_delay: 40,
        loss_per_million: 200_000,
        duplicate_per_million: 50_000,
    };
    run(seed, bad, |sim| lossy_network_in(sim, seed))
}

fn lossy_network_in(sim: &mut Sim<Real>, _seed: u64) -> Result<Summary, String> {
    founders(sim, 5, |s| scenario_config(s, VersioningMode::Dvv))?;
    let heal_at = 15_000;
    let mut grow = workload(sim, 6, heal_at + 3_000);
    grow.start(sim);
    grow.run(sim, heal_at);
    sim.set_net_config(lan());
    grow.run(sim, heal_at + 3_000);
    settle(sim, &mut grow, heal_at, Checks::default())
}

/// A scenario: a seed to its figures, or why it failed.
pub type Scenario = fn(u64) -> Result<Summary, String>;

/// Flush interval of the durability scenarios' nodes, in milliseconds.
pub const FLUSH_INTERVAL_MS: u64 = 200;

/// Durability `one` (paper §6.1): only the coordinator syncs a write before it is
/// acknowledged, the other replicas write buffered. Under load, one node after another loses
/// power (crashes and restarts with only what it synced), never two at once: no acknowledged
/// write may be lost, since the coordinator's synced copy survives any one node's loss.
///
/// # Errors
/// The first check that failed.
pub fn durability_one(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| durability_one_in(sim, seed))
}

fn durability_config(start: &Start, durability: DurabilityMode) -> NodeConfig {
    let mut c = scenario_config(start, VersioningMode::Dvv);
    c.default_bucket.durability = durability;
    c.timing.flush_interval_ms = FLUSH_INTERVAL_MS;
    c
}

fn durability_one_in(sim: &mut Sim<Real>, seed: u64) -> Result<Summary, String> {
    founders(sim, 5, |s| durability_config(s, DurabilityMode::One))?;
    let stop_at = 16_000;
    let mut grow = workload(sim, 6, stop_at);
    grow.start(sim);
    let mut at = 2_000;
    let first = usize::try_from(seed % 5).unwrap_or(0);
    for i in 0..5 {
        let victim = (first + i) % 5;
        grow.run(sim, at);
        sim.crash(victim);
        grow.run(sim, at + 500);
        sim.restart(victim, StartKind::AfterCrash);
        at += 2_500;
    }
    grow.run(sim, stop_at);
    settle(sim, &mut grow, at, Checks::default())
}

/// Durability `none`: every replica writes buffered and syncs within the flush interval.
/// Under load the whole cluster loses power at one instant and restarts with what each node
/// synced. Acknowledged writes may be lost, but only those acknowledged within the flush
/// interval before the power loss; everything older must be there.
///
/// # Errors
/// The first check that failed, or a lost element acknowledged before the window.
pub fn durability_none_power_loss(seed: u64) -> Result<Summary, String> {
    run(seed, lan(), |sim| durability_none_in(sim, seed))
}

fn durability_none_in(sim: &mut Sim<Real>, seed: u64) -> Result<Summary, String> {
    founders(sim, 5, |s| durability_config(s, DurabilityMode::None))?;
    // The power loss falls anywhere in a flush interval.
    let power_loss_at = 4_000 + seed % FLUSH_INTERVAL_MS;
    let restart_at = power_loss_at + 2_000;
    let stop_at = restart_at + 4_000;
    let mut grow = workload(sim, 6, stop_at);
    grow.start(sim);
    grow.run(sim, power_loss_at);
    for node in 0..5 {
        sim.crash(node);
    }
    grow.run(sim, restart_at);
    for node in 0..5 {
        sim.restart(node, StartKind::AfterCrash);
    }
    grow.run(sim, stop_at);
    let window_start = power_loss_at.saturating_sub(FLUSH_INTERVAL_MS);
    let may_lose = move |grow: &GrowSet<Real>, key: &str, element: u64| {
        grow.acknowledged_at(key, element)
            .is_some_and(|at| at >= window_start)
    };
    settle_allowing(sim, &mut grow, restart_at, Checks::default(), &may_lose)
}

// ----- deletes under faults (issue 12, item 4) -----

/// Tombstone grace period of the delete scenario's nodes, in milliseconds: short, so that
/// tombstones are reaped many times within a run, and longer than any episode of the
/// scenario's faults ([`DELETES_MAX_FAULT_MS`]) plus the time the cluster takes to hand the
/// tombstone to the replicas that missed it (hinted handoff, read repair, anti-entropy: up
/// to about 4 s after an episode over 2,000 seeds, measured as the longest stale read).
pub const DELETES_GRACE_MS: u64 = 8_000;

/// Longest fault episode of the delete scenario (see [`crate::fault::episodes`]).
pub const DELETES_MAX_FAULT_MS: Millis = 1_500;

/// How often the delete scenario's nodes scan one partition for tombstones to reap.
pub const REAP_INTERVAL_MS: u64 = 100;

/// Partitions of the delete scenario's ring: few, so that a node's reaper and anti-entropy
/// go round all of its partitions within a second or two.
pub const DELETES_PARTITIONS: u32 = 32;

/// A node's configuration in the delete scenarios: [`scenario_config`] (DVV) with a
/// tombstone grace of `grace_ms`, reaping every [`REAP_INTERVAL_MS`], and a ring of
/// [`DELETES_PARTITIONS`] partitions.
pub fn deletes_config(start: &Start, grace_ms: u64) -> NodeConfig {
    let mut c = scenario_config(start, VersioningMode::Dvv);
    c.tombstones.grace_ms = grace_ms;
    c.tombstones.interval_ms = REAP_INTERVAL_MS;
    if let Ok(ring) = dynamo_core::ring::RingConfig::new(DELETES_PARTITIONS) {
        c.ring = ring;
    }
    c
}

/// The addresses of the first `n` nodes of the preference list of the delete workload's key
/// number `key`, as node `addr` routes.
pub fn delete_preference_list(
    sim: &Sim<Real>,
    addr: Addr,
    key: usize,
    n: usize,
) -> Result<Vec<Addr>, String> {
    let ring = ring_of(sim, addr)?;
    let name = DeleteLoad::<Real>::key_name(key);
    let bucket = DeleteLoadConfig::default().bucket;
    ring.preference_list_for_key(&bucket, name.as_bytes(), n)
        .into_iter()
        .map(|id| sim.addr_of(id).ok_or_else(|| format!("unknown node {id}")))
        .collect()
}

/// Deletes under faults: 5 nodes (N=3, R=W=2, DVV), a tombstone grace of
/// [`DELETES_GRACE_MS`], 6 clients for 40 s, 40% of their writes deletes (every write with
/// the context of the read before it, every put a value of its own), on 16 keys of which 4
/// are hot at a time: each key is written for 8 s and then left alone for 24 s, long enough
/// for its tombstone, if it was deleted last, to be reaped (which takes one to two grace
/// periods: the actors in it must retire) before the key is written again. Meanwhile
/// random fault episodes ([`crate::fault::episodes`]), one at a time, each repaired within
/// [`DELETES_MAX_FAULT_MS`], with 1.5 to 3 s of health between them: a node crashing and
/// restarting (disk kept, cut back to what was synced, or wiped), a partition or a one-way
/// block, or two overlapping crashes (a hint holder down while the node it holds hints for
/// is). Then [`settle_deletes`]: converged, every tombstone past its grace reaped, final
/// reads, and the resurrection checker ([`crate::check::resurrection`]) over the whole
/// history with the grace as staleness allowance; also checks that tombstones were reaped.
///
/// **The limit of tombstone reaping.** A tombstone is reaped once it is older than the grace
/// and every replica holds it; a *copy kept away* longer than the grace — a hint on a holder
/// that stays down or cut off, a replica partitioned away — can still bring a deleted value
/// back after the reap (Cassandra's `gc_grace_seconds` has the same contract;
/// [`deletes_hint_past_grace`] shows it). The faults here stay within that contract: no
/// episode lasts longer than [`DELETES_MAX_FAULT_MS`], well under the grace. And at most one
/// disk is wiped per run: a delete, like any write, is lost when every replica that
/// acknowledged it loses its disk before anti-entropy copied it on (two wipes five seconds
/// apart did that here), and the old value then reads as resurrected.
///
/// # Errors
/// The first check that failed.
pub fn deletes(seed: u64) -> Result<Summary, String> {
    let mut config = sim_config(seed, lan());
    config.keep_events = true;
    let mut sim = Sim::new(config);
    let out = deletes_in(&mut sim);
    if let Ok(Some(path)) = write_history_if_asked(sim.history()) {
        println!("history written to {path}");
    }
    out
}

fn deletes_in(sim: &mut Sim<Real>) -> Result<Summary, String> {
    founders(sim, 5, |s| deletes_config(s, DELETES_GRACE_MS))?;
    let stop_at = 40_000;
    let faults = crate::fault::EpisodeConfig {
        max_fault: DELETES_MAX_FAULT_MS,
        ..crate::fault::EpisodeConfig::default()
    };
    let plan = crate::fault::episodes(sim.rng(), 5, 1_000, stop_at - 1_000, &faults);
    let healed_at = plan.last().map_or(0, |(t, _)| *t);
    sim.schedule_all(plan);
    let mut load = DeleteLoad::new(
        DeleteLoadConfig {
            keys: 16,
            hot_keys: 4,
            hot_phase_ms: 4_000,
            stop_at,
            ..DeleteLoadConfig::default()
        },
        sim,
    );
    load.start(sim);
    load.run(sim, stop_at);
    settle_deletes(sim, &mut load, healed_at, DELETES_GRACE_MS)
}

/// The end of the delete scenarios, once their faults are healed (at `healed_at`): the
/// clients stop; the cluster converges (replicas agree, hints drained, membership agreed);
/// it runs on until no tombstone is left anywhere (every one past its grace reaped — deletes
/// do not stay for ever); every key is read at every node, and those reads must agree; then
/// [`check_history`](crate::check::resurrection::check_history) over everything the clients
/// and the final reads saw, with `grace_ms` as staleness allowance, and at least one
/// tombstone must have been reaped (the run exercised the reaper).
///
/// # Errors
/// The first check that failed.
pub fn settle_deletes(
    sim: &mut Sim<Real>,
    load: &mut DeleteLoad<Real>,
    healed_at: Millis,
    grace_ms: u64,
) -> Result<Summary, String> {
    load.stop(sim, 10_000);
    let checks = Checks::default();
    let converged_at = wait_for(sim, CONVERGE_TIMEOUT_MS, |sim| {
        converged(sim, &sim.dumps(), checks)
    })
    .map_err(|e| format!("not converged after the heal: {e}"))?;
    let reap_timeout = 4 * grace_ms + 30_000;
    wait_for(sim, reap_timeout, |sim| {
        let dumps = sim.dumps();
        converged(sim, &dumps, checks)?;
        let left: Vec<String> = dumps
            .iter()
            .flat_map(|(a, d)| {
                d.data
                    .iter()
                    .filter(|(_, v)| v.as_ref().is_ok_and(|s| s.is_tombstone_only()))
                    .map(move |(k, _)| format!("node {a} key {:?}", String::from_utf8_lossy(k)))
            })
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{} tombstones left: {left:?}", left.len()))
        }
    })
    .map_err(|e| format!("tombstones not reaped {reap_timeout} ms after convergence: {e}"))?;
    let finals = load.final_reads(sim, 10_000);
    let report = load.check(grace_ms);
    let mut summary = sim.summary();
    report.fill(&mut summary);
    summary.tombstones_reaped = sim
        .take_events()
        .iter()
        .map(|(_, _, e)| match e {
            dynamo_core::NodeEvent::TombstonesReaped { count } => *count as u64,
            _ => 0,
        })
        .sum();
    summary.max_time_to_converge_ms = Some(converged_at.saturating_sub(healed_at));
    report.check()?;
    for (key, reads) in finals.iter().enumerate() {
        if reads.len() != sim.up_nodes().len() || reads.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "final reads of key {key} disagree or failed: {reads:?}"
            ));
        }
    }
    if summary.tombstones_reaped == 0 {
        return Err(format!("no tombstone was reaped:\n{summary}"));
    }
    Ok(summary)
}

/// Runs `sim` until `check` passes, looking every 100 ms, for at most `timeout` ms; returns
/// the time it passed at.
fn wait_for(
    sim: &mut Sim<Real>,
    timeout: Millis,
    check: impl Fn(&Sim<Real>) -> Result<(), String>,
) -> Result<Millis, String> {
    let start = sim.now();
    loop {
        match check(sim) {
            Ok(()) => return Ok(sim.now()),
            Err(e) if sim.now() - start >= timeout => return Err(e),
            Err(_) => sim.run_for(100),
        }
    }
}

/// The limit of tombstone reaping, shown on purpose: a hint holder kept away longer than
/// the grace brings a deleted value back. 5 nodes, key `del-0`: its third replica crashes,
/// so that a put goes to the others and to a hint holder (the fourth node of the key's
/// list); the holder crashes before it can deliver, the replica comes back, and the key is
/// deleted with a context covering the put's value: every replica holds the tombstone.
/// `away_ms` later the holder comes back (disk kept) and delivers its hint. With a grace
/// shorter than `away_ms` the tombstone was reaped meanwhile and the value is live again
/// (the checker reports a resurrection); with a longer one the tombstone is still there and
/// replaces the delivered value. Returns the checker's report over reads at every node after
/// the holder's return, and the number of tombstones reaped.
///
/// # Errors
/// A step of the script that did not happen (no hint stored, a request unanswered).
pub fn deletes_hint_past_grace(
    seed: u64,
    grace_ms: u64,
    away_ms: Millis,
) -> Result<(ResurrectionReport, u64), String> {
    let mut config = sim_config(seed, lan());
    config.keep_events = true;
    let mut sim = Sim::new(config);
    let sim = &mut sim;
    founders(sim, 5, move |s| deletes_config(s, grace_ms))?;
    let list = delete_preference_list(sim, 0, 0, N + 1)?;
    let (first, replica, holder) = (list[0], list[N - 1], list[N]);
    let mut load = DeleteLoad::new(DeleteLoadConfig::default(), sim);
    sim.run_until(1_000);
    sim.crash(replica);
    // Puts until the holder keeps one for the replica (the coordinator must first see the
    // replica down).
    let mut hinted = false;
    for _ in 0..20 {
        load.put_now(sim, first, 0, 2_000)
            .ok_or("a put was not answered")?;
        sim.run_for(200);
        let held = sim
            .dumps()
            .iter()
            .find(|(a, _)| *a == holder)
            .is_some_and(|(_, d)| d.pending_hints > 0);
        if held {
            hinted = true;
            break;
        }
    }
    if !hinted {
        return Err(format!("node {holder} holds no hint for node {replica}"));
    }
    sim.crash(holder);
    sim.run_for(500);
    sim.restart(replica, StartKind::Restart);
    sim.run_for(3_000);
    let d = load
        .delete_now(sim, first, 0, 2_000)
        .ok_or("the delete was not answered")?;
    if load.history()[d].outcome != crate::check::resurrection::Outcome::Ok {
        return Err(format!("the delete failed: {:?}", load.history()[d]));
    }
    sim.run_for(away_ms);
    sim.restart(holder, StartKind::Restart);
    sim.run_for(5_000);
    for node in 0..5 {
        load.read_now(sim, node, 0, 2_000);
    }
    sim.run_for(2_000);
    load.final_reads(sim, 5_000);
    let reaped = sim
        .take_events()
        .iter()
        .map(|(_, _, e)| match e {
            dynamo_core::NodeEvent::TombstonesReaped { count } => *count as u64,
            _ => 0,
        })
        .sum();
    if let Ok(Some(path)) = write_history_if_asked(sim.history()) {
        println!("history written to {path}");
    }
    Ok((load.check(grace_ms), reaped))
}

/// Every scenario that passes, by name (the split brain in DVV mode; the `lww` contrast is
/// not a pass/fail scenario). Their test files run them in CI.
pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("split_brain", split_brain_dvv),
        ("primary_crash", primary_crash),
        ("hint_holder_crash", hint_holder_crash),
        ("disk_wipe", disk_wipe),
        ("disk_wipe_clock_back", disk_wipe_clock_back),
        ("join_leave", join_leave),
        ("one_way_partition", one_way_partition),
        ("one_way_partition_after_heal", one_way_partition_after_heal),
        ("lossy_network", lossy_network),
        ("durability_one", durability_one),
        ("durability_none_power_loss", durability_none_power_loss),
        ("deletes", deletes),
    ]
}

/// The scenarios that fail on the node as it is, by name, with what they need (their tests
/// are ignored with the same reason): the long run reports how often they fail, and says so
/// when one starts passing.
pub fn known_failing() -> Vec<(&'static str, Scenario, &'static str)> {
    Vec::new()
}

//! The nemesis: a seeded schedule of faults, one at a time, each on one node, and how each
//! is applied and healed.
//!
//! | kind | applied | healed |
//! |---|---|---|
//! | `pause` | SIGSTOP | SIGCONT |
//! | `kill` | SIGKILL | restart on the same data directory |
//! | `wipe` | SIGKILL, data directory deleted | restart on the empty directory, same id |
//! | `partition` | nft in the node's namespace drops everything to and from the other nodes (clients still reach it) | rules deleted |
//! | `isolate` | nft drops everything on the node's interface (clients cut off too) | rules deleted |
//! | `oneway` | nft drops only what the node sends to the other nodes, or only what it receives from them (seeded) | rules deleted |
//! | `loss` | tc netem loss on both ends of the node's link; without netem, nft drops that share of its packets at random (`numgen random`) both ways | removed |
//! | `latency` | tc netem delay on both ends of the node's link; without netem, *emulated*: the node is stopped (SIGSTOP) for part of every period, so everything it does waits | removed / SIGCONT |
//!
//! The schedule is drawn up front from the seed (kinds, nodes, durations, gaps), so a seed
//! names the same faults every time; when each one starts depends on how long the previous
//! one took to heal (a restart), and is recorded ([`Interval`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cluster::NodeProc;
use crate::error::{FaultsError, Result};
use crate::net::{HOST_IF, Net};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// SIGSTOP, then SIGCONT.
    Pause,
    /// SIGKILL, then a restart on the same data.
    Kill,
    /// SIGKILL, the data directory deleted, then a restart.
    Wipe,
    /// Cut off from the other nodes, both ways (clients still reach it).
    Partition,
    /// Cut off from everyone, clients included.
    Isolate,
    /// Cut off from the other nodes one way only.
    Oneway,
    /// Random packet loss on its link.
    Loss,
    /// Added latency on its link (emulated without netem).
    Latency,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::Wipe,
        FaultKind::Partition,
        FaultKind::Isolate,
        FaultKind::Oneway,
        FaultKind::Loss,
        FaultKind::Latency,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Pause => "pause",
            FaultKind::Kill => "kill",
            FaultKind::Wipe => "wipe",
            FaultKind::Partition => "partition",
            FaultKind::Isolate => "isolate",
            FaultKind::Oneway => "oneway",
            FaultKind::Loss => "loss",
            FaultKind::Latency => "latency",
        }
    }

    /// The kind called `name`.
    ///
    /// # Errors
    /// [`FaultsError::Config`] naming the kinds.
    pub fn parse(name: &str) -> Result<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| {
                FaultsError::Config(format!(
                    "unknown fault {name:?} (known: {})",
                    FaultKind::ALL.map(FaultKind::name).join(",")
                ))
            })
    }

    /// Parses a comma-separated list (`all` for every kind).
    ///
    /// # Errors
    /// As [`FaultKind::parse`]; an empty list.
    pub fn parse_list(list: &str) -> Result<Vec<FaultKind>> {
        if list.trim() == "all" {
            return Ok(FaultKind::ALL.to_vec());
        }
        let mut kinds = Vec::new();
        for name in list.split(',').filter(|n| !n.trim().is_empty()) {
            let kind = FaultKind::parse(name)?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err(FaultsError::Config("no fault kind given".to_owned()));
        }
        Ok(kinds)
    }
}

/// One planned fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// Its kind.
    pub kind: FaultKind,
    /// The node (index) it hits.
    pub node: usize,
    /// How long it lasts.
    pub hold: Duration,
    /// The pause after it heals, before the next one.
    pub gap: Duration,
    /// For `oneway`: the node's outgoing traffic is dropped (else its incoming).
    pub outgoing: bool,
}

/// Settings of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// Kinds to draw from.
    pub kinds: Vec<FaultKind>,
    /// Nodes to hit (indices).
    pub nodes: usize,
    /// Shortest and longest fault.
    pub hold: (Duration, Duration),
    /// Shortest and longest gap after a fault.
    pub gap: (Duration, Duration),
    /// How many faults at most (the run's duration usually ends the list first).
    pub count: usize,
}

/// Draws `spec.count` faults from `seed`. Kinds go round in a seeded shuffled order (every
/// kind comes once per round, so a short run still meets each); nodes are drawn at random.
pub fn schedule(seed: u64, spec: &ScheduleSpec) -> Vec<Planned> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0fa0_17e5);
    let draw = |rng: &mut ChaCha8Rng, (lo, hi): (Duration, Duration)| {
        if hi <= lo {
            lo
        } else {
            lo + (hi - lo).mul_f64(rng.random_range(0.0..1.0))
        }
    };
    let mut out = Vec::with_capacity(spec.count);
    let mut round: Vec<FaultKind> = Vec::new();
    while out.len() < spec.count && !spec.kinds.is_empty() && spec.nodes > 0 {
        if round.is_empty() {
            round = spec.kinds.clone();
            // Fisher-Yates.
            for i in (1..round.len()).rev() {
                let j = rng.random_range(0..=i);
                round.swap(i, j);
            }
        }
        let Some(kind) = round.pop() else { break };
        let node = rng.random_range(0..spec.nodes);
        let hold = draw(&mut rng, spec.hold);
        let gap = draw(&mut rng, spec.gap);
        let outgoing = rng.random_range(0..2) == 0;
        out.push(Planned {
            kind,
            node,
            hold,
            gap,
            outgoing,
        });
    }
    out
}

/// A fault as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Its kind's name (a [`FaultKind`]'s, or `split`).
    pub kind: String,
    /// The node id it hit.
    pub node: String,
    /// A few words on how it was applied (e.g. `nft random 20%`, `emulated: SIGSTOP 20/100 ms`).
    pub how: String,
    /// When it was applied, seconds since the run's start.
    pub start: f64,
    /// When healing began.
    pub end: f64,
    /// When it was healed (a restarted node listening again).
    pub healed: f64,
}

/// How loss and latency are made.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Packet loss, percent.
    pub loss_percent: u8,
    /// netem delay, milliseconds.
    pub delay_ms: u32,
    /// Without netem: the node is stopped this long...
    pub stop_ms: u64,
    /// ...in every period this long.
    pub period_ms: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            loss_percent: 20,
            delay_ms: 50,
            stop_ms: 20,
            period_ms: 100,
        }
    }
}

/// A fault being applied: what healing it needs.
#[derive(Debug)]
pub enum Active {
    /// SIGCONT the node.
    Paused(usize),
    /// Restart the node.
    Down(usize),
    /// Delete the nft rules of these namespaces.
    Rules(Vec<String>),
    /// Remove the netem qdiscs of the node.
    Netem(usize),
    /// Stop the duty-cycle thread (it leaves the node running).
    Duty(Arc<AtomicBool>, JoinHandle<()>),
}

/// Applies `fault` to the cluster; returns how to heal it and how it was applied.
///
/// # Errors
/// A failed command or signal.
pub fn apply(
    fault: &Planned,
    net: &Net,
    nodes: &mut [NodeProc],
    shape: &Shape,
) -> Result<(Active, String)> {
    let i = fault.node;
    let node = nodes
        .get_mut(i)
        .ok_or_else(|| FaultsError::Config(format!("no node {i}")))?;
    let host = net
        .nodes
        .get(i)
        .ok_or_else(|| FaultsError::Config(format!("no host {i}")))?;
    let others: Vec<String> = net
        .nodes
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, h)| h.ip.to_string())
        .collect();
    let set = format!("{{ {} }}", others.join(", "));
    Ok(match fault.kind {
        FaultKind::Pause => {
            node.pause()?;
            (Active::Paused(i), "SIGSTOP".to_owned())
        }
        FaultKind::Kill => {
            node.kill();
            (Active::Down(i), "SIGKILL".to_owned())
        }
        FaultKind::Wipe => {
            node.kill();
            node.wipe()?;
            (
                Active::Down(i),
                "SIGKILL, data directory deleted".to_owned(),
            )
        }
        FaultKind::Partition => {
            net.set_rules(
                &host.ns,
                &[format!("ip saddr {set} drop")],
                &[format!("ip daddr {set} drop")],
            )?;
            (
                Active::Rules(vec![host.ns.clone()]),
                "nft: drop to and from the other nodes".to_owned(),
            )
        }
        FaultKind::Isolate => {
            net.set_rules(
                &host.ns,
                &[format!("iifname \"{HOST_IF}\" drop")],
                &[format!("oifname \"{HOST_IF}\" drop")],
            )?;
            (
                Active::Rules(vec![host.ns.clone()]),
                "nft: drop everything on its interface".to_owned(),
            )
        }
        FaultKind::Oneway => {
            let (input, output, how) = if fault.outgoing {
                (
                    Vec::new(),
                    vec![format!("ip daddr {set} drop")],
                    "nft: drop what it sends to the other nodes",
                )
            } else {
                (
                    vec![format!("ip saddr {set} drop")],
                    Vec::new(),
                    "nft: drop what it receives from the other nodes",
                )
            };
            net.set_rules(&host.ns, &input, &output)?;
            (Active::Rules(vec![host.ns.clone()]), how.to_owned())
        }
        FaultKind::Loss => {
            let p = shape.loss_percent.min(100);
            if net.netem {
                net.set_netem(host, &["loss", &format!("{p}%")])?;
                (Active::Netem(i), format!("netem loss {p}% both ways"))
            } else {
                let rule = format!("numgen random mod 100 < {p} drop");
                net.set_rules(
                    &host.ns,
                    &[format!("iifname \"{HOST_IF}\" {rule}")],
                    &[format!("oifname \"{HOST_IF}\" {rule}")],
                )?;
                (
                    Active::Rules(vec![host.ns.clone()]),
                    format!("nft: {p}% of packets dropped at random both ways (netem unavailable)"),
                )
            }
        }
        FaultKind::Latency => {
            if net.netem {
                let delay = format!("{}ms", shape.delay_ms);
                let jitter = format!("{}ms", shape.delay_ms / 5);
                net.set_netem(host, &["delay", &delay, &jitter])?;
                (
                    Active::Netem(i),
                    format!("netem delay {delay} ± {jitter} both ways"),
                )
            } else {
                let pid = node.pid().ok_or_else(|| FaultsError::Node {
                    node: node.id.clone(),
                    message: "not running".to_owned(),
                })?;
                let stop = Arc::new(AtomicBool::new(false));
                let thread = duty_cycle(pid, shape.stop_ms, shape.period_ms, Arc::clone(&stop));
                (
                    Active::Duty(stop, thread),
                    format!(
                        "emulated (netem unavailable): SIGSTOP {} ms of every {} ms",
                        shape.stop_ms, shape.period_ms
                    ),
                )
            }
        }
    })
}

/// Heals `active`.
///
/// # Errors
/// A failed restart or signal.
pub fn heal(active: Active, net: &Net, nodes: &mut [NodeProc]) -> Result<()> {
    match active {
        Active::Paused(i) => {
            if let Some(node) = nodes.get_mut(i) {
                node.resume()?;
            }
        }
        Active::Down(i) => {
            if let Some(node) = nodes.get_mut(i) {
                node.restart()?;
            }
        }
        Active::Rules(namespaces) => {
            for ns in namespaces {
                net.clear_rules(&ns);
            }
        }
        Active::Netem(i) => {
            if let Some(host) = net.nodes.get(i) {
                net.clear_netem(host);
            }
        }
        Active::Duty(stop, thread) => {
            stop.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }
    Ok(())
}

/// A thread that stops process `pid` for `stop_ms` of every `period_ms` until `done`, and
/// leaves it running.
fn duty_cycle(pid: u32, stop_ms: u64, period_ms: u64, done: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return;
        };
        let stop = Duration::from_millis(stop_ms);
        let run = Duration::from_millis(period_ms.saturating_sub(stop_ms).max(1));
        while !done.load(Ordering::SeqCst) {
            if rustix::process::kill_process(pid, rustix::process::Signal::STOP).is_err() {
                break;
            }
            std::thread::sleep(stop);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
            std::thread::sleep(run);
        }
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ScheduleSpec {
        ScheduleSpec {
            kinds: FaultKind::ALL.to_vec(),
            nodes: 3,
            hold: (Duration::from_secs(3), Duration::from_secs(6)),
            gap: (Duration::from_secs(2), Duration::from_secs(4)),
            count: 20,
        }
    }

    #[test]
    fn a_seed_names_the_same_schedule() {
        assert_eq!(schedule(7, &spec()), schedule(7, &spec()));
        assert_ne!(schedule(7, &spec()), schedule(8, &spec()));
    }

    #[test]
    fn every_kind_comes_once_per_round_within_bounds() {
        let plan = schedule(1, &spec());
        assert_eq!(plan.len(), 20);
        let mut first: Vec<FaultKind> = plan[..8].iter().map(|p| p.kind).collect();
        first.sort();
        assert_eq!(first, FaultKind::ALL.to_vec());
        for p in &plan {
            assert!(p.node < 3);
            assert!(p.hold >= Duration::from_secs(3) && p.hold <= Duration::from_secs(6));
            assert!(p.gap >= Duration::from_secs(2) && p.gap <= Duration::from_secs(4));
        }
    }

    #[test]
    fn kinds_parse() {
        assert_eq!(
            FaultKind::parse_list("pause,kill,pause").unwrap(),
            [FaultKind::Pause, FaultKind::Kill]
        );
        assert_eq!(FaultKind::parse_list("all").unwrap().len(), 8);
        assert!(FaultKind::parse_list("pause,bogus").is_err());
        assert!(FaultKind::parse_list("").is_err());
    }
}

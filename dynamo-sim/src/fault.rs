//! Faults as values: scheduled ahead of time with [`crate::Sim::schedule`], or drawn at random
//! by [`random_schedule`] (a "nemesis" in Jepsen's words).

use dynamo_core::rng::Rng;

use crate::network::{Addr, Millis, NetConfig};
use crate::node::StartKind;

/// One fault (or repair) the simulator can inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Cut both directions between two groups of nodes.
    Partition(Vec<Addr>, Vec<Addr>),
    /// Cut the links from the first group to the second, one way.
    Block(Vec<Addr>, Vec<Addr>),
    /// Remove every partition and block.
    Heal,
    /// Kill a node.
    Crash(Addr),
    /// Restart a node (crashing it first if it runs) with its storage as the kind says.
    Restart(Addr, StartKind),
    /// Set a node's clock skew, in milliseconds.
    Skew(Addr, i64),
    /// Set the loss rate, per million messages.
    Loss(u32),
    /// Set the duplication rate, per million messages.
    Duplication(u32),
    /// Replace the network's delays and rates.
    Net(NetConfig),
}

/// What [`random_schedule`] may draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemesisConfig {
    /// Shortest time between two faults.
    pub min_gap: Millis,
    /// Longest time between two faults.
    pub max_gap: Millis,
    /// Draw partitions (both ways and one way).
    pub partitions: bool,
    /// Draw crashes, each followed by a restart.
    pub crashes: bool,
    /// The kinds of restart drawn after a crash (none: `Restart`).
    pub restart_kinds: Vec<StartKind>,
    /// At most this many nodes down at once.
    pub max_down: usize,
    /// Draw clock skews up to this many milliseconds either way (0: none).
    pub max_skew: i64,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            min_gap: 500,
            max_gap: 3_000,
            partitions: true,
            crashes: true,
            restart_kinds: vec![StartKind::Restart, StartKind::AfterCrash],
            max_down: 1,
            max_skew: 0,
        }
    }
}

/// A random schedule of faults over nodes `0..nodes` between `from` and `until`, drawn from
/// `rng`. It ends repaired: at `until` every partition is healed and every crashed node
/// restarted, so that a run can then check convergence.
pub fn random_schedule(
    rng: &mut Rng,
    nodes: usize,
    from: Millis,
    until: Millis,
    config: &NemesisConfig,
) -> Vec<(Millis, Fault)> {
    let mut out = Vec::new();
    let mut down: Vec<Addr> = Vec::new();
    let mut t = from;
    let restart = |rng: &mut Rng, a: Addr| {
        let kind = rng
            .choose(&config.restart_kinds)
            .copied()
            .unwrap_or(StartKind::Restart);
        Fault::Restart(a, kind)
    };
    loop {
        t += rng.between(config.min_gap, config.max_gap.max(config.min_gap));
        if t >= until || nodes == 0 {
            break;
        }
        let mut choices = vec![0u8];
        if config.partitions && nodes > 1 {
            choices.extend([1, 2]);
        }
        if config.crashes {
            choices.push(3);
        }
        if config.max_skew > 0 {
            choices.push(4);
        }
        match rng.choose(&choices).copied().unwrap_or(0) {
            1 | 2 => {
                let mut side_a = Vec::new();
                let mut side_b = Vec::new();
                for a in 0..nodes {
                    if rng.chance(500_000) {
                        side_a.push(a);
                    } else {
                        side_b.push(a);
                    }
                }
                if side_a.is_empty() || side_b.is_empty() {
                    out.push((t, Fault::Heal));
                } else if rng.chance(500_000) {
                    out.push((t, Fault::Partition(side_a, side_b)));
                } else {
                    out.push((t, Fault::Block(side_a, side_b)));
                }
            }
            3 => {
                if down.len() < config.max_down && rng.chance(600_000) {
                    let up: Vec<Addr> = (0..nodes).filter(|a| !down.contains(a)).collect();
                    if let Some(&a) = rng.choose(&up) {
                        down.push(a);
                        out.push((t, Fault::Crash(a)));
                    }
                } else if !down.is_empty() {
                    let i = rng.below(down.len() as u64) as usize;
                    let a = down.swap_remove(i);
                    out.push((t, restart(rng, a)));
                }
            }
            4 => {
                let a = rng.below(nodes as u64) as Addr;
                let span = config.max_skew.unsigned_abs();
                let skew = rng.between(0, 2 * span) as i64 - config.max_skew;
                out.push((t, Fault::Skew(a, skew)));
            }
            _ => out.push((t, Fault::Heal)),
        }
    }
    out.push((until, Fault::Heal));
    for a in down {
        let f = restart(rng, a);
        out.push((until, f));
    }
    out
}

/// What [`episodes`] may draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeConfig {
    /// Shortest healthy time before each episode.
    pub min_gap: Millis,
    /// Longest healthy time before each episode.
    pub max_gap: Millis,
    /// Shortest episode, from its first fault to its repair.
    pub min_fault: Millis,
    /// Longest episode, from its first fault to its repair.
    pub max_fault: Millis,
    /// The kinds of restart drawn after a crash (none: `Restart`). At most one restart of an
    /// episode is [`StartKind::Wiped`]: the second crashed node's, or the only one's.
    pub restart_kinds: Vec<StartKind>,
    /// At most this many [`StartKind::Wiped`] restarts in the schedule. Two wipes close
    /// together can destroy every copy of a write that anti-entropy had not copied yet from
    /// the nodes that acknowledged it (a write acknowledged by W replicas survives the loss
    /// of fewer than W disks, not W losses in a row faster than repair).
    pub max_wipes: usize,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        EpisodeConfig {
            min_gap: 1_500,
            max_gap: 3_000,
            min_fault: 300,
            max_fault: 1_500,
            restart_kinds: vec![StartKind::Restart, StartKind::AfterCrash, StartKind::Wiped],
            max_wipes: 1,
        }
    }
}

/// A random schedule of fault *episodes* over nodes `0..nodes` between `from` and `until`,
/// drawn from `rng`: one episode at a time, each repaired within
/// [`EpisodeConfig::max_fault`] of its start, with a healthy gap before each. An episode is
/// one of: a node crashes and restarts; a partition (both ways) or a one-way block between
/// two random groups, then healed; two overlapping crashes (the second node down while the
/// first is, as a hint holder for it would be; the first restarts before the second).
/// Unlike [`random_schedule`], whose partitions add up until a heal is drawn, no copy of
/// anything is kept away from the others for longer than `max_fault`: what a tombstone grace
/// period longer than that is meant to survive. Ends repaired, at `until` at the latest.
pub fn episodes(
    rng: &mut Rng,
    nodes: usize,
    from: Millis,
    until: Millis,
    config: &EpisodeConfig,
) -> Vec<(Millis, Fault)> {
    let mut out = Vec::new();
    let mut t = from;
    let kinds = if config.restart_kinds.is_empty() {
        vec![StartKind::Restart]
    } else {
        config.restart_kinds.clone()
    };
    let mut no_wipe: Vec<StartKind> = kinds
        .iter()
        .copied()
        .filter(|k| *k != StartKind::Wiped)
        .collect();
    if no_wipe.is_empty() {
        no_wipe.push(StartKind::Restart);
    }
    let mut wipes_left = config.max_wipes;
    let mut draw = |rng: &mut Rng, wipe: bool| {
        let from = if wipe && wipes_left > 0 {
            &kinds
        } else {
            &no_wipe
        };
        let kind = rng.choose(from).copied().unwrap_or(StartKind::Restart);
        if kind == StartKind::Wiped {
            wipes_left = wipes_left.saturating_sub(1);
        }
        kind
    };
    loop {
        t += rng.between(config.min_gap, config.max_gap.max(config.min_gap));
        let length = rng.between(config.min_fault, config.max_fault.max(config.min_fault));
        if nodes < 2 || t + length > until {
            break;
        }
        let end = t + length;
        match rng.below(4) {
            0 => {
                let a = rng.below(nodes as u64) as Addr;
                out.push((t, Fault::Crash(a)));
                out.push((end, Fault::Restart(a, draw(rng, true))));
            }
            1 | 2 => {
                let mut side_a = Vec::new();
                let mut side_b = Vec::new();
                for a in 0..nodes {
                    if rng.chance(500_000) {
                        side_a.push(a);
                    } else {
                        side_b.push(a);
                    }
                }
                if side_a.is_empty() {
                    side_a.push(side_b.remove(0));
                } else if side_b.is_empty() {
                    side_b.push(side_a.remove(0));
                }
                let cut = if rng.chance(500_000) {
                    Fault::Partition(side_a, side_b)
                } else {
                    Fault::Block(side_a, side_b)
                };
                out.push((t, cut));
                out.push((end, Fault::Heal));
            }
            _ => {
                let a = rng.below(nodes as u64) as Addr;
                let b = (a + 1 + rng.below(nodes as u64 - 1) as Addr) % nodes;
                out.push((t, Fault::Crash(a)));
                out.push((t + length / 3, Fault::Crash(b)));
                out.push((t + 2 * length / 3, Fault::Restart(a, draw(rng, false))));
                out.push((end, Fault::Restart(b, draw(rng, true))));
            }
        }
        t = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_seeded_ordered_and_end_repaired() {
        let config = NemesisConfig {
            max_down: 2,
            max_skew: 1_000,
            ..NemesisConfig::default()
        };
        let draw = |seed| random_schedule(&mut Rng::seeded(seed), 5, 1_000, 60_000, &config);
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        for seed in 0..50 {
            let s = draw(seed);
            assert!(s.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(s.iter().all(|(t, _)| (1_000..=60_000).contains(t)));
            // Replay the crashes: never more than 2 down, none down at the end.
            let mut down = std::collections::BTreeSet::new();
            for (_, f) in &s {
                match f {
                    Fault::Crash(a) => {
                        assert!(down.insert(*a));
                        assert!(down.len() <= 2);
                    }
                    Fault::Restart(a, _) => assert!(down.remove(a)),
                    _ => {}
                }
            }
            assert!(down.is_empty(), "seed {seed}: {s:?}");
            assert!(
                s.iter()
                    .rev()
                    .any(|(t, f)| *t == 60_000 && *f == Fault::Heal)
            );
        }
    }

    #[test]
    fn episodes_are_seeded_bounded_and_end_repaired() {
        let config = EpisodeConfig::default();
        let draw = |seed| episodes(&mut Rng::seeded(seed), 5, 1_000, 60_000, &config);
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        for seed in 0..50 {
            let s = draw(seed);
            assert!(s.len() >= 10, "seed {seed}: {s:?}");
            assert!(s.windows(2).all(|w| w[0].0 <= w[1].0));
            assert!(s.iter().all(|(t, _)| (1_000..=60_000).contains(t)));
            // Replay: each fault repaired within max_fault of the episode's start, one
            // episode at a time, at most one wipe per episode and in all, nothing left
            // broken.
            let mut down = std::collections::BTreeSet::new();
            let mut cut = false;
            let mut started: Option<Millis> = None;
            let mut wipes = 0;
            let all_wipes = s
                .iter()
                .filter(|(_, f)| matches!(f, Fault::Restart(_, StartKind::Wiped)))
                .count();
            assert!(all_wipes <= config.max_wipes, "seed {seed}: {s:?}");
            for (t, f) in &s {
                let start = *started.get_or_insert(*t);
                assert!(*t - start <= config.max_fault, "seed {seed}: {s:?}");
                match f {
                    Fault::Crash(a) => {
                        assert!(!cut);
                        assert!(down.insert(*a));
                        assert!(down.len() <= 2);
                    }
                    Fault::Restart(a, kind) => {
                        assert!(down.remove(a));
                        wipes += usize::from(*kind == StartKind::Wiped);
                    }
                    Fault::Partition(..) | Fault::Block(..) => {
                        assert!(down.is_empty() && !cut);
                        cut = true;
                    }
                    Fault::Heal => cut = false,
                    other => panic!("unexpected {other:?}"),
                }
                if down.is_empty() && !cut {
                    assert!(wipes <= 1, "seed {seed}: {s:?}");
                    started = None;
                    wipes = 0;
                }
            }
            assert!(down.is_empty() && !cut, "seed {seed}: {s:?}");
        }
    }
}

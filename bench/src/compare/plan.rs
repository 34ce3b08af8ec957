//! What the comparison runs: the systems, the variants of each, and the order of a round.

use std::fmt;
use std::str::FromStr;

/// A system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    /// A 3-node cluster of ours (`dynamo up`): N = 3, R = W = 2.
    Ours,
    /// A 1-node cluster of ours (`dynamo up --nodes 1`), run with durability `none`: the
    /// baseline of what one process does without replication or fsync.
    Ours1Node,
    /// Three Dynomite nodes in three racks of one datacenter, each over its own redis,
    /// `DC_QUORUM` reads and writes (`bench/peers/dynomite-up.sh`).
    Dynomite,
    /// One redis-server, no persistence (`bench/peers/redis-up.sh`).
    Redis,
}

impl System {
    /// Every system, in the default order.
    pub const ALL: [System; 4] = [
        System::Ours,
        System::Ours1Node,
        System::Dynomite,
        System::Redis,
    ];

    /// The name used on the command line, in the table and in the CSV file.
    pub fn name(self) -> &'static str {
        match self {
            System::Ours => "ours",
            System::Ours1Node => "ours-1node",
            System::Dynomite => "dynomite",
            System::Redis => "redis",
        }
    }

    /// True for our own clusters (HTTP, storage engines, durability modes).
    pub fn is_ours(self) -> bool {
        matches!(self, System::Ours | System::Ours1Node)
    }

    /// The protocol `loadgen` speaks to a peer (`resp`); ours speak the one of their
    /// variant ([`Variant::protocol`]).
    pub fn peer_protocol(self) -> &'static str {
        "resp"
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for System {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        System::ALL
            .into_iter()
            .find(|system| system.name() == s)
            .ok_or_else(|| format!("unknown system {s:?}: ours, ours-1node, dynomite or redis"))
    }
}

/// One line of the comparison: a system, and for ours an engine, a durability mode, the
/// client protocol and (when asked for) the number of shards per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The system.
    pub system: System,
    /// The storage engine (ours only).
    pub engine: Option<String>,
    /// The durability mode set before each run (ours only).
    pub durability: Option<String>,
    /// The protocol `loadgen` speaks: `http` or `binary` for ours, `resp` for the peers.
    pub protocol: String,
    /// Shards per node, passed to `dynamo up --shards` (ours only; `None`: the flag is left
    /// out, the server's default).
    pub shards: Option<u32>,
}

impl Variant {
    /// A short label: `ours lsm all binary`, `ours lsm all binary 4 shards`, `dynomite`.
    pub fn label(&self) -> String {
        let mut label = self.system.name().to_owned();
        let protocol = self.system.is_ours().then_some(&self.protocol);
        for part in [self.engine.as_ref(), self.durability.as_ref(), protocol]
            .into_iter()
            .flatten()
        {
            label.push(' ');
            label.push_str(part);
        }
        match self.shards {
            Some(1) => label.push_str(" 1 shard"),
            Some(n) => label.push_str(&format!(" {n} shards")),
            None => {}
        }
        label
    }
}

/// The variants of `systems`, in their order: for [`System::Ours`] one per engine, shard
/// count, durability mode and protocol (engine-major, then shard counts), for
/// [`System::Ours1Node`] one per engine, shard count and protocol with durability `none`, and
/// one for each peer. An empty `shards` leaves the shard count out (`None`).
pub fn variants(
    systems: &[System],
    engines: &[String],
    durabilities: &[String],
    protocols: &[String],
    shards: &[u32],
) -> Vec<Variant> {
    let mut out = Vec::new();
    let shard_counts: Vec<Option<u32>> = if shards.is_empty() {
        vec![None]
    } else {
        shards.iter().copied().map(Some).collect()
    };
    let ours = |system, engine: &String, durability: &str, out: &mut Vec<Variant>| {
        for &shards in &shard_counts {
            for protocol in protocols {
                out.push(Variant {
                    system,
                    engine: Some(engine.clone()),
                    durability: Some(durability.to_owned()),
                    protocol: protocol.clone(),
                    shards,
                });
            }
        }
    };
    for &system in systems {
        match system {
            System::Ours => {
                for engine in engines {
                    for durability in durabilities {
                        ours(system, engine, durability, &mut out);
                    }
                }
            }
            System::Ours1Node => {
                for engine in engines {
                    ours(system, engine, "none", &mut out);
                }
            }
            System::Dynomite | System::Redis => out.push(Variant {
                system,
                engine: None,
                durability: None,
                protocol: system.peer_protocol().to_owned(),
                shards: None,
            }),
        }
    }
    out
}

/// The order of round `round` (counted from 1) over `n` items: forward in odd rounds, backward
/// in even ones (A B C, C B A, A B C, ...), so that each item runs early as often as late.
pub fn round_order(n: usize, round: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if round.is_multiple_of(2) {
        order.reverse();
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_cover_engines_and_durabilities_of_ours_only() {
        let engines = vec!["lsm".to_owned(), "lmdb".to_owned()];
        let modes = vec!["all".to_owned(), "none".to_owned()];
        let v = variants(
            &[System::Ours, System::Ours1Node, System::Redis],
            &engines,
            &modes,
            &["binary".to_owned()],
            &[],
        );
        let labels: Vec<String> = v.iter().map(Variant::label).collect();
        assert_eq!(
            labels,
            [
                "ours lsm all binary",
                "ours lsm none binary",
                "ours lmdb all binary",
                "ours lmdb none binary",
                "ours-1node lsm none binary",
                "ours-1node lmdb none binary",
                "redis",
            ]
        );
        assert_eq!(v[6].protocol, "resp");
        let both = variants(
            &[System::Ours],
            &engines[..1],
            &modes[..1],
            &["http".to_owned(), "binary".to_owned()],
            &[],
        );
        let labels: Vec<String> = both.iter().map(Variant::label).collect();
        assert_eq!(labels, ["ours lsm all http", "ours lsm all binary"]);
    }

    #[test]
    fn shard_counts_multiply_our_variants_only() {
        let v = variants(
            &[System::Ours, System::Dynomite],
            &["lsm".to_owned()],
            &["all".to_owned()],
            &["binary".to_owned()],
            &[1, 4],
        );
        let labels: Vec<String> = v.iter().map(Variant::label).collect();
        assert_eq!(
            labels,
            [
                "ours lsm all binary 1 shard",
                "ours lsm all binary 4 shards",
                "dynomite"
            ]
        );
        assert_eq!(v[1].shards, Some(4));
        assert_eq!(v[2].shards, None);
    }

    #[test]
    fn rounds_alternate() {
        assert_eq!(round_order(3, 1), [0, 1, 2]);
        assert_eq!(round_order(3, 2), [2, 1, 0]);
        assert_eq!(round_order(3, 3), [0, 1, 2]);
    }

    #[test]
    fn systems_parse_by_name() {
        for s in System::ALL {
            assert_eq!(s.name().parse::<System>(), Ok(s));
        }
        assert!("cassandra".parse::<System>().is_err());
    }
}

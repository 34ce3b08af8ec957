//! Convergence checks over the nodes' [`Dump`]s.

use std::collections::BTreeMap;
use std::fmt::Debug;

use crate::network::{Addr, Millis};
use crate::node::{Dump, SimNode};
use crate::sim::Sim;

/// How many mismatches a failure message lists before eliding the rest.
const SHOWN: usize = 5;

/// Checks that every node holding a key holds the same value for it, and, with
/// `replicas: Some(n)`, that exactly `n` nodes hold each key.
///
/// # Errors
/// A message listing the first keys that differ (or have the wrong number of holders).
pub fn check_replicas_agree<S: PartialEq + Debug>(
    dumps: &[(Addr, Dump<S>)],
    replicas: Option<usize>,
) -> Result<(), String> {
    let mut holders: BTreeMap<&[u8], Vec<(Addr, &S)>> = BTreeMap::new();
    for (addr, dump) in dumps {
        for (k, v) in &dump.data {
            holders.entry(k.as_slice()).or_default().push((*addr, v));
        }
    }
    let mut problems = Vec::new();
    for (key, held) in &holders {
        let agree = held.windows(2).all(|w| w[0].1 == w[1].1);
        let count_ok = replicas.is_none_or(|n| held.len() == n);
        if !agree || !count_ok {
            problems.push(format!(
                "key {:?}: {} holders, values {:?}",
                String::from_utf8_lossy(key),
                held.len(),
                held
            ));
        }
    }
    summarize(problems, holders.len(), "keys differ")
}

/// Checks that no running node still holds hints.
///
/// # Errors
/// A message naming the nodes with hints pending and how many.
pub fn check_hints_drained<S>(dumps: &[(Addr, Dump<S>)]) -> Result<(), String> {
    let pending: Vec<String> = dumps
        .iter()
        .filter(|(_, d)| d.pending_hints > 0)
        .map(|(a, d)| format!("node {a}: {} hints", d.pending_hints))
        .collect();
    summarize(pending, dumps.len(), "nodes hold hints")
}

/// Checks that every running node reports the same membership view.
///
/// # Errors
/// A message listing the distinct views.
pub fn check_membership_agrees<S>(dumps: &[(Addr, Dump<S>)]) -> Result<(), String> {
    let mut views: BTreeMap<&Option<String>, Vec<Addr>> = BTreeMap::new();
    for (a, d) in dumps {
        views.entry(&d.membership).or_default().push(*a);
    }
    if views.len() <= 1 {
        Ok(())
    } else {
        Err(format!("membership views differ: {views:?}"))
    }
}

fn summarize(problems: Vec<String>, total: usize, what: &str) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
    }
    let n = problems.len();
    let mut msg = format!("{n} of {total} {what}: ");
    msg.push_str(&problems[..n.min(SHOWN)].join("; "));
    if n > SHOWN {
        msg.push_str(&format!("; and {} more", n - SHOWN));
    }
    Err(msg)
}

/// Runs `sim` until `check` passes on the running nodes' dumps, looking every `poll` ms, for
/// at most `timeout` ms; returns the time it took (0 when it already held).
///
/// Client requests finishing meanwhile wait in [`Sim::take_completions`].
///
/// # Errors
/// The last failure message of `check`, when it still fails after `timeout`.
pub fn run_until_converged<N, F>(
    sim: &mut Sim<N>,
    timeout: Millis,
    poll: Millis,
    mut check: F,
) -> Result<Millis, String>
where
    N: SimNode,
    F: FnMut(&[(Addr, Dump<N::Stored>)]) -> Result<(), String>,
{
    let start = sim.now();
    loop {
        let result = check(&sim.dumps());
        match result {
            Ok(()) => return Ok(sim.now() - start),
            Err(e) if sim.now() - start >= timeout => {
                return Err(format!("not converged after {timeout} ms: {e}"));
            }
            Err(_) => sim.run_for(poll.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dump(entries: &[(&str, u32)], hints: usize, members: &str) -> Dump<u32> {
        Dump {
            data: entries
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), *v))
                .collect(),
            pending_hints: hints,
            membership: Some(members.into()),
        }
    }

    #[test]
    fn detects_disagreement_counts_hints_and_views() {
        let agree = vec![
            (0, dump(&[("a", 1), ("b", 2)], 0, "m")),
            (1, dump(&[("a", 1)], 0, "m")),
            (2, dump(&[("a", 1), ("b", 2)], 0, "m")),
        ];
        assert!(check_replicas_agree(&agree, None).is_ok());
        assert!(check_replicas_agree(&agree, Some(3)).is_err());
        assert!(check_hints_drained(&agree).is_ok());
        assert!(check_membership_agrees(&agree).is_ok());

        let differ = vec![
            (0, dump(&[("a", 1)], 2, "m")),
            (1, dump(&[("a", 3)], 0, "m2")),
        ];
        let e = check_replicas_agree(&differ, None).unwrap_err();
        assert!(e.contains("key \"a\""), "{e}");
        assert!(
            check_hints_drained(&differ)
                .unwrap_err()
                .contains("node 0: 2 hints")
        );
        assert!(check_membership_agrees(&differ).is_err());
    }
}

//! A node's commit thread: applies the group commits ([`Commit`]) that every shard hands it,
//! in order, and reports each outcome into its shard's queue.
//!
//! Each shard keeps its own group commit (one commit in flight, what arrives meanwhile staged
//! for the next); this thread makes the shards' commits share their syncs. Commits that wait
//! together are applied together with one sync ([`Commit::apply_group`]), and a *round* waits
//! a little for the shards of the round before: left alone, busy shards fall out of step —
//! shard A's commit starts alone on an idle thread, B's arrives a moment later and waits for
//! A's sync, then runs alone while A's next one waits — and the disk sees a sync per shard
//! per round. So after a round, every shard that took part answers as soon as it has fed the
//! outcome: with its next commit, or with a *pass* when nothing is staged. The next round
//! starts once each of them answered, or after [`GATHER_WAIT`], whichever comes first; a shard
//! that was idle is not waited for. With one shard this is exactly one commit per round, as
//! before.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use dynamo_core::node::Commit;
use engine_any::AnyEngine;
use tokio::sync::mpsc::WeakSender;

use crate::driver::StartError;
use crate::handle::Command;

/// Most commits applied together with one sync: a shard has one commit in flight at a time,
/// so a round holds at most one per shard.
const MAX_COMMIT_GROUP: usize = dynamo_core::node::shard::MAX_SHARDS as usize;

/// How long a round that has commits waits at most for the shards of the round before to
/// answer. A shard answers as soon as its task has fed the outcome; a busy machine may take
/// longer to schedule it, and then the round goes without it (its commit joins the next).
pub const GATHER_WAIT: Duration = Duration::from_millis(1);

/// What a shard tells the commit thread.
#[derive(Debug)]
enum Job {
    /// Apply this commit of the shard.
    Commit(u16, Commit),
    /// The shard fed the outcome of its last commit and has nothing staged.
    Pass(u16),
}

/// One shard's handle on the node's commit thread. The thread ends when every shard dropped
/// its handle ([`stop`](Committer::stop)).
pub(crate) struct Committer {
    shard: u16,
    jobs: Sender<Job>,
    thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Committer {
    /// Starts the thread over `engine`; `reports[i]` is shard i's queue, where the outcome of
    /// each of its commits goes ([`Command::Committed`]). Returns shard 0's handle.
    pub(crate) fn spawn(
        engine: Arc<AnyEngine>,
        reports: Vec<WeakSender<Command>>,
    ) -> Result<Committer, StartError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new()
            .name("dynamo-commit".into())
            .spawn(move || {
                let _entered = span.enter();
                let mut rounds = Rounds::new(reports.len(), GATHER_WAIT);
                while let Some(group) = rounds.gather(&queue) {
                    let (shards, commits): (Vec<u16>, Vec<Commit>) = group.into_iter().unzip();
                    let results = Commit::apply_group(&commits, &engine);
                    for ((shard, commit), result) in shards.into_iter().zip(&commits).zip(results) {
                        // The shard may be gone (every handle dropped): then nobody waits.
                        let Some(reports) = reports
                            .get(usize::from(shard))
                            .and_then(WeakSender::upgrade)
                        else {
                            continue;
                        };
                        let id = commit.id;
                        let _ = reports.blocking_send(Command::Committed { id, result });
                    }
                }
            })
            .map_err(|e| StartError::Thread(e.to_string()))?;
        Ok(Committer {
            shard: 0,
            jobs,
            thread: Arc::new(std::sync::Mutex::new(Some(thread))),
        })
    }

    /// A handle for shard `shard` (the thread ends once every one is stopped).
    pub(crate) fn share(&self, shard: u16) -> Committer {
        Committer {
            shard,
            jobs: self.jobs.clone(),
            thread: Arc::clone(&self.thread),
        }
    }

    /// Hands this shard's `commit` to the thread; false when the thread is gone.
    pub(crate) fn send(&self, commit: Commit) -> bool {
        self.jobs.send(Job::Commit(self.shard, commit)).is_ok()
    }

    /// Tells the thread that this shard fed its last outcome and has nothing to commit: the
    /// next round need not wait for it.
    pub(crate) fn pass(&self) {
        let _ = self.jobs.send(Job::Pass(self.shard));
    }

    /// Drops this shard's handle (a round no longer waits for it); the last one to stop
    /// waits for the thread to carry out what it was handed and end.
    pub(crate) fn stop(self) {
        self.pass();
        let Committer { jobs, thread, .. } = self;
        drop(jobs);
        if Arc::strong_count(&thread) > 1 {
            return;
        }
        let handle = thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the commit thread panicked");
        }
    }
}

/// The commit thread's rounds: which shards the next round waits for.
#[derive(Debug)]
struct Rounds {
    /// Shards of the last round that have not answered since.
    awaited: Vec<bool>,
    wait: Duration,
}

impl Rounds {
    fn new(shards: usize, wait: Duration) -> Self {
        Rounds {
            awaited: vec![false; shards],
            wait,
        }
    }

    /// Notes `job`'s answer and adds its commit to `group`.
    fn take(&mut self, job: Job, group: &mut Vec<(u16, Commit)>) {
        let shard = match job {
            Job::Commit(shard, commit) => {
                group.push((shard, commit));
                shard
            }
            Job::Pass(shard) => shard,
        };
        if let Some(a) = self.awaited.get_mut(usize::from(shard)) {
            *a = false;
        }
    }

    /// The next round's commits: waits for a first commit, takes every one queued, then
    /// waits (at most `wait`) for the shards of the last round that have not answered.
    /// `None` once every handle is dropped and nothing is left.
    fn gather(&mut self, queue: &Receiver<Job>) -> Option<Vec<(u16, Commit)>> {
        let mut group = Vec::new();
        while group.is_empty() {
            let job = queue.recv().ok()?;
            self.take(job, &mut group);
        }
        while group.len() < MAX_COMMIT_GROUP {
            match queue.try_recv() {
                Ok(job) => self.take(job, &mut group),
                Err(_) => break,
            }
        }
        let deadline = Instant::now() + self.wait;
        while group.len() < MAX_COMMIT_GROUP && self.awaited.iter().any(|a| *a) {
            let left = deadline.saturating_duration_since(Instant::now());
            match queue.recv_timeout(left) {
                Ok(job) => self.take(job, &mut group),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        self.awaited.iter_mut().for_each(|a| *a = false);
        for (shard, _) in &group {
            if let Some(a) = self.awaited.get_mut(usize::from(*shard)) {
                *a = true;
            }
        }
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_api::{Durability, WriteBatch};

    fn commit(id: u64) -> Commit {
        Commit {
            id,
            batch: WriteBatch::new(),
            durability: Durability::Sync,
        }
    }

    fn ids(group: &[(u16, Commit)]) -> Vec<(u16, u64)> {
        group.iter().map(|(s, c)| (*s, c.id)).collect()
    }

    #[test]
    fn a_round_waits_for_the_shards_of_the_round_before() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut rounds = Rounds::new(2, Duration::from_secs(60));
        tx.send(Job::Commit(0, commit(1))).unwrap();
        tx.send(Job::Commit(1, commit(2))).unwrap();
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(0, 1), (1, 2)]);
        // Shard 0 answers first; the round waits for shard 1, which answers later.
        tx.send(Job::Commit(0, commit(3))).unwrap();
        let late = tx.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            late.send(Job::Commit(1, commit(4))).unwrap();
        });
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(0, 3), (1, 4)]);
        sender.join().unwrap();
    }

    #[test]
    fn a_pass_ends_the_wait_and_an_idle_shard_is_not_waited_for() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut rounds = Rounds::new(3, Duration::from_secs(60));
        let start = Instant::now();
        tx.send(Job::Commit(0, commit(1))).unwrap();
        tx.send(Job::Commit(1, commit(2))).unwrap();
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(0, 1), (1, 2)]);
        // Shard 1 has nothing staged; shard 2 took no part in the last round.
        tx.send(Job::Pass(1)).unwrap();
        tx.send(Job::Commit(0, commit(3))).unwrap();
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(0, 3)]);
        // A pass that comes before the round's first commit counts too.
        tx.send(Job::Pass(0)).unwrap();
        tx.send(Job::Commit(2, commit(4))).unwrap();
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(2, 4)]);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for a shard"
        );
    }

    #[test]
    fn a_shard_that_does_not_answer_in_time_is_left_for_the_next_round() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut rounds = Rounds::new(2, Duration::from_millis(20));
        tx.send(Job::Commit(0, commit(1))).unwrap();
        tx.send(Job::Commit(1, commit(2))).unwrap();
        rounds.gather(&rx).unwrap();
        tx.send(Job::Commit(0, commit(3))).unwrap();
        let start = Instant::now();
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(0, 3)]);
        assert!(start.elapsed() >= Duration::from_millis(20));
        tx.send(Job::Commit(1, commit(4))).unwrap();
        assert_eq!(ids(&rounds.gather(&rx).unwrap()), [(1, 4)]);
        drop(tx);
        assert!(rounds.gather(&rx).is_none(), "every handle dropped");
    }
}

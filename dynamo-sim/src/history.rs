//! The record of a run: every input delivered, every output, every fault, with its time.
//!
//! Payloads are kept as their `Debug` rendering, so that two runs compare by equality (and
//! byte for byte when printed) without asking the node's types for `PartialEq`, and so that a
//! failing run can be read. A 64-bit digest of the whole history is kept even when the entries
//! are not, for long seed sweeps.

use std::fmt;

use crate::network::{Addr, Millis};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A client request handed to a node.
    ClientInput,
    /// A peer message handed to a node.
    PeerInput,
    /// A `Tick` handed to a node.
    Tick,
    /// A message a node sent.
    Send,
    /// A reply a node gave to a client.
    Reply,
    /// An event a node reported.
    Event,
    /// A client request finished (answered, or failed because its node was down).
    Completion,
    /// A fault injected or a node (re)started.
    Fault,
    /// Something the simulator noticed (a message to an unknown node, a stray reply, a stall).
    Anomaly,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Virtual time.
    pub at: Millis,
    /// The node concerned, if one is.
    pub node: Option<Addr>,
    /// What happened.
    pub kind: EntryKind,
    /// The payload, as its `Debug` rendering.
    pub detail: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(n) => write!(f, "{:>8} n{n:<3} {:?} {}", self.at, self.kind, self.detail),
            None => write!(f, "{:>8} --   {:?} {}", self.at, self.kind, self.detail),
        }
    }
}

/// The history of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    keep_entries: bool,
    entries: Vec<Entry>,
    digest: u64,
    count: u64,
}

/// FNV-1a, fed by bytes or by formatting.
struct Fnv(u64);

impl Fnv {
    fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
}

impl fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.eat(s.as_bytes());
        Ok(())
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl History {
    /// An empty history; `keep_entries` false keeps only the digest and the count.
    pub fn new(keep_entries: bool) -> Self {
        History {
            keep_entries,
            entries: Vec::new(),
            digest: FNV_OFFSET,
            count: 0,
        }
    }

    /// Appends an entry; `detail` is rendered only when entries are kept, otherwise it is
    /// streamed into the digest without allocating.
    pub fn push(
        &mut self,
        at: Millis,
        node: Option<Addr>,
        kind: EntryKind,
        detail: fmt::Arguments<'_>,
    ) {
        let mut h = Fnv(self.digest);
        h.eat(&at.to_le_bytes());
        h.eat(&node.map_or(u64::MAX, |n| n as u64).to_le_bytes());
        h.eat(&[kind as u8]);
        if self.keep_entries {
            let detail = fmt::format(detail);
            h.eat(detail.as_bytes());
            self.entries.push(Entry {
                at,
                node,
                kind,
                detail,
            });
        } else {
            // Writing into the hasher cannot fail.
            let _ = fmt::write(&mut h, detail);
        }
        h.eat(&[0xff]);
        self.digest = h.0;
        self.count += 1;
    }

    /// True when entries are kept (not only the digest).
    pub fn keeps_entries(&self) -> bool {
        self.keep_entries
    }

    /// The entries so far (empty when they are not kept).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// A 64-bit FNV-1a digest of every entry so far, kept even when entries are not.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Number of entries so far, kept even when entries are not.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The whole history as text, one entry a line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            s.push_str(&e.to_string());
            s.push('\n');
        }
        s
    }
}

//! Per-bucket properties: replication factor, quorums and versioning mode.

use serde::{Deserialize, Serialize};

use super::error::MembershipError;
use crate::version::VersioningMode;

/// How a bucket is replicated and versioned: `n` replicas per key, `r` answers for a read,
/// `w` acknowledgements for a write (paper §4.5), the [`VersioningMode`] of its sibling sets,
/// and how many replicas sync a write to disk before it is acknowledged
/// ([`DurabilityMode`], paper §6.1).
///
/// Valid properties have `1 <= r <= n`, `1 <= w <= n` and `n <= `[`BucketProps::MAX_N`]
/// ([`BucketProps::new`], [`BucketProps::validate`]); deserialization checks it too.
/// The order (derived, field by field) only breaks ties between two concurrent changes of
/// equal version, so that every node keeps the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "WireProps", into = "WireProps")]
pub struct BucketProps {
    /// Replicas per key.
    pub n: u8,
    /// Replies a read waits for.
    pub r: u8,
    /// Acknowledgements a write waits for.
    pub w: u8,
    /// How versions are tracked.
    pub mode: VersioningMode,
    /// Which replicas sync a write before they acknowledge it.
    pub durability: DurabilityMode,
}

/// Which replicas of a write sync it to stable storage before the write is acknowledged
/// (paper §6.1: most writes buffered, one replica writing durably). A replica that does not
/// sync writes its copy *buffered* (it survives a crash of the process on every persistent
/// engine but `redb`, not a power loss) and syncs it within the node's flush interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum DurabilityMode {
    /// Every replica syncs before it acknowledges: a write acknowledged by W replicas is on
    /// the stable storage of W nodes.
    #[default]
    All,
    /// The coordinator (a primary replica of the key) syncs before the write is acknowledged
    /// to the client; the other replicas write buffered. An acknowledged write survives the
    /// loss of the unsynced writes of any one node.
    One,
    /// Every replica writes buffered and syncs within the flush interval: an acknowledged
    /// write can be lost if every replica that has it loses power within that window.
    None,
}

impl DurabilityMode {
    /// The durable-write quorum (Riak's `dw`) this mode stands for, for a write quorum `w`:
    /// how many acknowledgements must come from replicas that synced.
    pub fn dw(self, w: u8) -> u8 {
        match self {
            DurabilityMode::All => w,
            DurabilityMode::One => 1,
            DurabilityMode::None => 0,
        }
    }

    /// The name the API uses: `all`, `one` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            DurabilityMode::All => "all",
            DurabilityMode::One => "one",
            DurabilityMode::None => "none",
        }
    }

    /// Parses `all`, `one` or `none` (ASCII case-insensitive).
    ///
    /// # Errors
    /// [`MembershipError::UnknownDurability`] for anything else.
    pub fn parse(s: &str) -> Result<Self, MembershipError> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Ok(DurabilityMode::All),
            "one" => Ok(DurabilityMode::One),
            "none" => Ok(DurabilityMode::None),
            _ => Err(MembershipError::UnknownDurability(
                s.chars().take(32).collect(),
            )),
        }
    }

    pub(super) fn code(self) -> u8 {
        match self {
            DurabilityMode::All => 0,
            DurabilityMode::One => 1,
            DurabilityMode::None => 2,
        }
    }

    pub(super) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(DurabilityMode::All),
            1 => Some(DurabilityMode::One),
            2 => Some(DurabilityMode::None),
            _ => None,
        }
    }
}

impl Default for BucketProps {
    /// `n = 3`, `r = 2`, `w = 2`, dotted version vectors: the paper's common configuration.
    fn default() -> Self {
        BucketProps {
            n: 3,
            r: 2,
            w: 2,
            mode: VersioningMode::Dvv,
            durability: DurabilityMode::All,
        }
    }
}

impl BucketProps {
    /// The largest replication factor accepted (the ring's largest spacing target).
    pub const MAX_N: u8 = 64;

    /// Checked properties.
    ///
    /// # Errors
    /// [`MembershipError::InvalidBucketProps`] unless `1 <= r <= n`, `1 <= w <= n` and
    /// `n <= MAX_N`.
    pub fn new(n: u8, r: u8, w: u8, mode: VersioningMode) -> Result<Self, MembershipError> {
        let p = BucketProps {
            n,
            r,
            w,
            mode,
            durability: DurabilityMode::All,
        };
        p.validate()?;
        Ok(p)
    }

    /// The same properties with `durability`.
    pub fn with_durability(self, durability: DurabilityMode) -> Self {
        BucketProps { durability, ..self }
    }

    /// Checks the quorum rules (see [`BucketProps::new`]).
    ///
    /// # Errors
    /// [`MembershipError::InvalidBucketProps`] naming the broken rule.
    pub fn validate(&self) -> Result<(), MembershipError> {
        let why = if self.n == 0 {
            "n must be at least 1"
        } else if self.n > Self::MAX_N {
            "n is above the maximum of 64"
        } else if self.r == 0 || self.r > self.n {
            "r must be between 1 and n"
        } else if self.w == 0 || self.w > self.n {
            "w must be between 1 and n"
        } else {
            return Ok(());
        };
        Err(MembershipError::InvalidBucketProps(why))
    }
}

/// A bucket's properties with the version that orders concurrent changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BucketEntry {
    /// Bumped by every change; the higher wins on merge.
    pub version: u64,
    /// The properties.
    pub props: BucketProps,
}

/// The name of a versioning mode as the API spells it: `vclock`, `dvv` or `lww`.
pub fn versioning_mode_name(mode: VersioningMode) -> &'static str {
    match mode {
        VersioningMode::VClock => "vclock",
        VersioningMode::Dvv => "dvv",
        VersioningMode::Lww => "lww",
    }
}

/// Parses `vclock`, `dvv` or `lww` (ASCII case-insensitive).
///
/// # Errors
/// [`MembershipError::UnknownVersioningMode`] for anything else.
pub fn parse_versioning_mode(s: &str) -> Result<VersioningMode, MembershipError> {
    match s.to_ascii_lowercase().as_str() {
        "vclock" => Ok(VersioningMode::VClock),
        "dvv" => Ok(VersioningMode::Dvv),
        "lww" => Ok(VersioningMode::Lww),
        _ => Err(MembershipError::UnknownVersioningMode(
            s.chars().take(32).collect(),
        )),
    }
}

pub(super) fn mode_code(mode: VersioningMode) -> u8 {
    match mode {
        VersioningMode::VClock => 0,
        VersioningMode::Dvv => 1,
        VersioningMode::Lww => 2,
    }
}

pub(super) fn mode_from_code(code: u8) -> Option<VersioningMode> {
    match code {
        0 => Some(VersioningMode::VClock),
        1 => Some(VersioningMode::Dvv),
        2 => Some(VersioningMode::Lww),
        _ => None,
    }
}

/// The serialized form of [`BucketProps`]: the mode and the durability by name (a missing
/// durability, as older peers send, is `all`).
#[derive(Serialize, Deserialize)]
struct WireProps {
    n: u8,
    r: u8,
    w: u8,
    mode: String,
    #[serde(default = "default_durability_name")]
    durability: String,
}

fn default_durability_name() -> String {
    DurabilityMode::All.name().to_owned()
}

impl From<BucketProps> for WireProps {
    fn from(p: BucketProps) -> Self {
        WireProps {
            n: p.n,
            r: p.r,
            w: p.w,
            mode: versioning_mode_name(p.mode).to_owned(),
            durability: p.durability.name().to_owned(),
        }
    }
}

impl TryFrom<WireProps> for BucketProps {
    type Error = MembershipError;
    fn try_from(w: WireProps) -> Result<Self, MembershipError> {
        Ok(
            BucketProps::new(w.n, w.r, w.w, parse_versioning_mode(&w.mode)?)?
                .with_durability(DurabilityMode::parse(&w.durability)?),
        )
    }
}

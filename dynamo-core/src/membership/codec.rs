//! The binary encoding of a [`ClusterState`], for the node's `meta` keyspace.
//!
//! # Layout, format version 6
//!
//! Integers are big-endian; `str8` is a length (u8) then that many bytes, `str16` the same
//! with a u16 length.
//!
//! | size | field |
//! |---|---|
//! | 1 | format version: `6` (versions `1` to `5` are still read: version 1 has no epoch field, read as 0; versions 1 and 2 have no default properties, read as none; versions 1 to 3 have no durability byte, read as `all`; versions 1 to 4 have no access keys, read as none; versions 1 to 5 have no client endpoints, read as empty) |
//! | 8 | ring version (0: no ring) |
//! | 1 | ring present: `0` or `1` (exactly when the ring version is not 0) |
//! | var | if present: partitions (u32), target_n (u32), member count `M` (u32), `M` × (node id `str8`, zone `str8`, empty for none) strictly increasing by node id, then one owner per partition as an index into those members (u32) |
//! | 4 | member count `K` (u32) |
//! | `K` × var | node id `str8`, status (u8: 0 joining, 1 valid, 2 leaving, 3 exiting), version (u64), epoch (u64; not in version 1), zone `str8` (empty for none), address `str16`, client endpoints `str16` (not before version 6); strictly increasing by node id |
//! | 4 | bucket count `B` (u32) |
//! | `B` × var | name `str16`, version (u64), n, r, w (u8 each), mode (u8: 0 vclock, 1 dvv, 2 lww), durability (u8: 0 all, 1 one, 2 none; not before version 4); strictly increasing by name |
//! | 1 | default properties present: `0` or `1` (not in versions 1 and 2) |
//! | 0 or 13 | if present: version (u64), n, r, w (u8 each), mode (u8), durability (u8; not before version 4: 12 bytes) |
//! | 4 | access key count `A` (u32; not before version 5) |
//! | `A` × var | id `str8`, secret digest (32 bytes), flags (u8: bit 0 admin, bit 1 revoked, no other bit), created (u64, ms), grant count `G` (u16), `G` × (bucket `str16`, empty for every bucket; flags u8: bit 0 read, bit 1 write, no other bit) strictly increasing by bucket; keys strictly increasing by id |
//! | 4 | crc32 (IEEE) of every preceding byte |
//!
//! Decoding checks the checksum first, then every length against the bytes that remain, the
//! ordering, the quorum rules and the state's invariants: it returns a typed
//! [`DecodeError`], never panics, and accepts only the canonical encoding.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::bucket::{BucketEntry, BucketProps, DurabilityMode, mode_code, mode_from_code};
use super::keys::{AccessKey, Grant};
use super::state::{ClusterState, MemberInfo, MemberStatus};
use crate::NodeId;
use crate::record::DecodeError;
use crate::ring::{Member, Ring, RingConfig, Zone};

/// The format version [`encode_cluster_state`] writes. [`decode_cluster_state`] also reads
/// versions 1 (members without an epoch), 2 (no default bucket properties), 3 (no
/// durability), 4 (no access keys) and 5 (no client endpoints), so a node upgraded in place
/// keeps its membership.
pub const CLUSTER_FORMAT_VERSION: u8 = 6;

/// Encodes `state` in the layout above.
pub fn encode_cluster_state(state: &ClusterState) -> Vec<u8> {
    let mut w = Vec::with_capacity(64 + 80 * state.members().len());
    w.push(CLUSTER_FORMAT_VERSION);
    w.extend_from_slice(&state.ring_version().to_be_bytes());
    match state.ring() {
        None => w.push(0),
        Some(ring) => {
            w.push(1);
            let config = ring.config();
            put_u32(&mut w, config.partitions());
            put_u32(&mut w, config.target_n());
            let members = ring.members();
            put_u32(&mut w, members.len() as u32);
            for m in members {
                put_str8(&mut w, m.node.as_str());
                put_str8(&mut w, m.zone.as_ref().map_or("", Zone::as_str));
            }
            for (_, owner) in ring.owners() {
                let idx = members.binary_search_by(|m| m.node.cmp(owner)).unwrap_or(0);
                put_u32(&mut w, idx as u32);
            }
        }
    }
    put_u32(&mut w, state.members().len() as u32);
    for (node, info) in state.members() {
        put_str8(&mut w, node.as_str());
        w.push(info.status.code());
        w.extend_from_slice(&info.version.to_be_bytes());
        w.extend_from_slice(&info.epoch.to_be_bytes());
        put_str8(&mut w, info.zone.as_ref().map_or("", Zone::as_str));
        put_bytes16(&mut w, info.address.as_bytes());
        put_bytes16(&mut w, info.client.as_bytes());
    }
    put_u32(&mut w, state.buckets().len() as u32);
    for (name, entry) in state.buckets() {
        put_bytes16(&mut w, name);
        w.extend_from_slice(&entry.version.to_be_bytes());
        let p = entry.props;
        w.extend_from_slice(&[p.n, p.r, p.w, mode_code(p.mode), p.durability.code()]);
    }
    match state.default_props_entry() {
        None => w.push(0),
        Some(entry) => {
            w.push(1);
            w.extend_from_slice(&entry.version.to_be_bytes());
            let p = entry.props;
            w.extend_from_slice(&[p.n, p.r, p.w, mode_code(p.mode), p.durability.code()]);
        }
    }
    put_u32(&mut w, state.keys().len() as u32);
    for (id, key) in state.keys() {
        put_str8(&mut w, id);
        w.extend_from_slice(&key.secret_digest);
        w.push(u8::from(key.admin) | (u8::from(key.revoked) << 1));
        w.extend_from_slice(&key.created_ms.to_be_bytes());
        // The state keeps grants sorted and unique by bucket (checked by its invariants).
        w.extend_from_slice(&(key.grants.len() as u16).to_be_bytes());
        for g in &key.grants {
            put_bytes16(&mut w, &g.bucket);
            w.push(u8::from(g.read) | (u8::from(g.write) << 1));
        }
    }
    let crc = crc32fast::hash(&w);
    w.extend_from_slice(&crc.to_be_bytes());
    w
}

/// Decodes bytes written by [`encode_cluster_state`].
///
/// # Errors
/// [`DecodeError::Truncated`], [`DecodeError::UnknownVersion`], [`DecodeError::Checksum`],
/// or [`DecodeError::Malformed`] when the content breaks the layout or the state's rules.
pub fn decode_cluster_state(input: &[u8]) -> Result<ClusterState, DecodeError> {
    let Some((&version, _)) = input.split_first() else {
        return Err(DecodeError::Truncated);
    };
    if !(1..=CLUSTER_FORMAT_VERSION).contains(&version) {
        return Err(DecodeError::UnknownVersion(version));
    }
    let has_epoch = version >= 2;
    if input.len() < 1 + 4 {
        return Err(DecodeError::Truncated);
    }
    let (body, crc) = input.split_at(input.len() - 4);
    let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let mut r = Reader { buf: &body[1..] };
    let ring_version = r.u64()?;
    let ring = match r.u8()? {
        0 => None,
        1 => Some(read_ring(&mut r)?),
        _ => return Err(DecodeError::Malformed("ring flag is neither 0 nor 1")),
    };

    let has_client = version >= 6;
    let entry_min =
        1 + 1 + 8 + if has_epoch { 8 } else { 0 } + 1 + 2 + if has_client { 2 } else { 0 };
    let count = r.count(entry_min)?;
    let mut members = BTreeMap::new();
    let mut last: Option<NodeId> = None;
    for _ in 0..count {
        let node = read_node(&mut r)?;
        if last.as_ref().is_some_and(|l| *l >= node) {
            return Err(DecodeError::Malformed("members not strictly increasing"));
        }
        let status = MemberStatus::from_code(r.u8()?)
            .ok_or(DecodeError::Malformed("unknown member status"))?;
        let version = r.u64()?;
        let epoch = if has_epoch { r.u64()? } else { 0 };
        let zone = read_zone(&mut r)?;
        let address = std::str::from_utf8(r.bytes16()?)
            .map_err(|_| DecodeError::Malformed("address is not UTF-8"))?
            .to_owned();
        let client = if has_client {
            std::str::from_utf8(r.bytes16()?)
                .map_err(|_| DecodeError::Malformed("client endpoints are not UTF-8"))?
                .to_owned()
        } else {
            String::new()
        };
        last = Some(node.clone());
        members.insert(
            node,
            MemberInfo {
                status,
                version,
                zone,
                address,
                epoch,
                client,
            },
        );
    }

    let has_durability = version >= 4;
    let count = r.count(2 + 8 + 4 + usize::from(has_durability))?;
    let mut buckets = BTreeMap::new();
    let mut last: Option<Bytes> = None;
    for _ in 0..count {
        let name = Bytes::copy_from_slice(r.bytes16()?);
        if last.as_ref().is_some_and(|l| *l >= name) {
            return Err(DecodeError::Malformed("buckets not strictly increasing"));
        }
        let entry = read_bucket_entry(&mut r, has_durability)?;
        last = Some(name.clone());
        buckets.insert(name, entry);
    }
    let default_props = if version >= 3 {
        match r.u8()? {
            0 => None,
            1 => Some(read_bucket_entry(&mut r, has_durability)?),
            _ => return Err(DecodeError::Malformed("default flag is neither 0 nor 1")),
        }
    } else {
        None
    };
    let keys = if version >= 5 {
        read_keys(&mut r)?
    } else {
        BTreeMap::new()
    };
    if !r.buf.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes"));
    }
    ClusterState::from_parts(members, ring, ring_version, buckets, default_props, keys)
        .map_err(|_| DecodeError::Malformed("cluster state breaks its invariants"))
}

/// The access keys of format 5.
fn read_keys(r: &mut Reader<'_>) -> Result<BTreeMap<String, AccessKey>, DecodeError> {
    let count = r.count(1 + 32 + 1 + 8 + 2)?;
    let mut keys = BTreeMap::new();
    let mut last: Option<String> = None;
    for _ in 0..count {
        let len = usize::from(r.u8()?);
        let id = std::str::from_utf8(r.take(len)?)
            .map_err(|_| DecodeError::Malformed("key id is not UTF-8"))?
            .to_owned();
        if last.as_ref().is_some_and(|l| *l >= id) {
            return Err(DecodeError::Malformed("keys not strictly increasing"));
        }
        let secret_digest = r.array::<32>()?;
        let flags = r.u8()?;
        if flags & !0b11 != 0 {
            return Err(DecodeError::Malformed("unknown key flags"));
        }
        let created_ms = r.u64()?;
        let [hi, lo] = r.array::<2>()?;
        let grant_count = usize::from(u16::from_be_bytes([hi, lo]));
        let mut grants: Vec<Grant> = Vec::new();
        for _ in 0..grant_count {
            let bucket = Bytes::copy_from_slice(r.bytes16()?);
            if grants.last().is_some_and(|g| g.bucket >= bucket) {
                return Err(DecodeError::Malformed("grants not strictly increasing"));
            }
            let g = r.u8()?;
            if g & !0b11 != 0 {
                return Err(DecodeError::Malformed("unknown grant flags"));
            }
            grants.push(Grant {
                bucket,
                read: g & 1 != 0,
                write: g & 2 != 0,
            });
        }
        last = Some(id.clone());
        keys.insert(
            id,
            AccessKey {
                secret_digest,
                admin: flags & 1 != 0,
                grants,
                created_ms,
                revoked: flags & 2 != 0,
            },
        );
    }
    Ok(keys)
}

/// A bucket entry: version (u64), n, r, w, mode, and the durability when the format has it.
fn read_bucket_entry(r: &mut Reader<'_>, has_durability: bool) -> Result<BucketEntry, DecodeError> {
    let version = r.u64()?;
    let [n, rq, wq, mode] = r.array::<4>()?;
    let mode = mode_from_code(mode).ok_or(DecodeError::Malformed("unknown versioning mode"))?;
    let durability = if has_durability {
        DurabilityMode::from_code(r.u8()?).ok_or(DecodeError::Malformed("unknown durability"))?
    } else {
        DurabilityMode::All
    };
    let props = BucketProps::new(n, rq, wq, mode)
        .map_err(|_| DecodeError::Malformed("bucket properties break the quorum rules"))?
        .with_durability(durability);
    Ok(BucketEntry { version, props })
}

fn read_ring(r: &mut Reader<'_>) -> Result<Ring, DecodeError> {
    let partitions = r.u32()?;
    let target_n = r.u32()?;
    let config = RingConfig::new(partitions)
        .and_then(|c| c.with_target_n(target_n))
        .map_err(|_| DecodeError::Malformed("invalid ring configuration"))?;
    let count = r.count(2)?;
    let mut members: Vec<Member> = Vec::with_capacity(count);
    for _ in 0..count {
        let node = read_node(r)?;
        if members.last().is_some_and(|l| l.node >= node) {
            return Err(DecodeError::Malformed(
                "ring members not strictly increasing",
            ));
        }
        let zone = read_zone(r)?;
        members.push(Member { node, zone });
    }
    if (r.buf.len() / 4) < partitions as usize {
        return Err(DecodeError::Truncated);
    }
    let mut owners = Vec::with_capacity(partitions as usize);
    for _ in 0..partitions {
        let idx = r.u32()? as usize;
        let m = members
            .get(idx)
            .ok_or(DecodeError::Malformed("ring owner index out of range"))?;
        owners.push(m.node.clone());
    }
    Ring::from_owners(config, members, &owners).map_err(|_| DecodeError::Malformed("invalid ring"))
}

fn read_node(r: &mut Reader<'_>) -> Result<NodeId, DecodeError> {
    let s = std::str::from_utf8(r.bytes8()?).map_err(|_| DecodeError::Malformed("bad node id"))?;
    NodeId::new(s).map_err(|_| DecodeError::Malformed("bad node id"))
}

fn read_zone(r: &mut Reader<'_>) -> Result<Option<Zone>, DecodeError> {
    let b = r.bytes8()?;
    if b.is_empty() {
        return Ok(None);
    }
    let s = std::str::from_utf8(b).map_err(|_| DecodeError::Malformed("bad zone"))?;
    Zone::new(s)
        .map(Some)
        .map_err(|_| DecodeError::Malformed("bad zone"))
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_be_bytes());
}

/// Node ids and zones are at most 64 bytes by construction.
fn put_str8(w: &mut Vec<u8>, s: &str) {
    w.push(s.len() as u8);
    w.extend_from_slice(s.as_bytes());
}

/// Addresses and bucket names are at most 65535 bytes by construction (checked by
/// [`ClusterState`]).
fn put_bytes16(w: &mut Vec<u8>, b: &[u8]) {
    w.extend_from_slice(&(b.len() as u16).to_be_bytes());
    w.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn bytes8(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u8()? as usize;
        self.take(n)
    }

    fn bytes16(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = u16::from_be_bytes(self.array()?) as usize;
        self.take(n)
    }

    /// A u32 count of items of at least `min_size` bytes each, checked against what remains
    /// before anything is allocated.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
}

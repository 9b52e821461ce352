//! Effects: replicated operations, already resolved at their origin, and
//! their compact versioned binary encoding.
//!
//! Every effect carries its dot; an effect whose dot the receiver has already
//! observed changes nothing, so duplicates are harmless.

use crate::cell::Blob;
use crate::id::{Dot, Hlc, InstanceId, VersionVector};
use crate::num::Delta;
use crate::stream::StreamId;
use crate::wire::{put_bytes, put_dot, put_sid, put_var, put_vv};

/// Version of the effect encoding; a receiver refuses other versions.
pub const EFFECT_FORMAT: u8 = 1;

#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    pub dot: Dot,
    pub hlc: Hlc,
    pub op: Op,
}

/// One operation. `ctx` fields name what the origin observed and removes:
/// everything in scope whose dot the context covers.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Removes everything in the key the origin observed (DEL, UNLINK, and
    /// the expiry of a key by the owner of its TTL).
    Del { key: Blob, ctx: VersionVector },
    /// Replaces the key with a string (SET family): removes what was observed
    /// in the key, of any type, then writes a register version.
    Set { key: Blob, ctx: VersionVector, value: Blob, keep_ttl: bool },
    /// Adds to a string counter (INCR family).
    Incr { key: Blob, delta: Delta },
    /// Writes a hash field's register, removing the field versions observed.
    HSet { key: Blob, field: Blob, ctx: VersionVector, value: Blob },
    HIncr { key: Blob, field: Blob, delta: Delta },
    HDel { key: Blob, field: Blob, ctx: VersionVector },
    SAdd { key: Blob, member: Blob, ctx: VersionVector },
    SRem { key: Blob, member: Blob, ctx: VersionVector },
    /// Writes a member's score register (ZADD), removing observed versions.
    ZAdd { key: Blob, member: Blob, ctx: VersionVector, score: f64 },
    ZIncr { key: Blob, member: Blob, delta: f64 },
    ZRem { key: Blob, member: Blob, ctx: VersionVector },
    /// Sets (`at_ms: Some`) or removes (`None`, PERSIST) a key's TTL,
    /// replacing the TTL versions the origin observed.
    Expire { key: Blob, ctx: VersionVector, at_ms: Option<u64> },
    /// The origin's observed version vector, for garbage collection.
    Observed { vv: VersionVector },
    /// Raises HyperLogLog registers (PFADD, PFMERGE): `regs` holds the
    /// (index, value) pairs the origin raised; `ctx` is the origin's whole
    /// observed version vector (filled in by `Db::commit`). See `crate::hll`.
    HllAdd { key: Blob, regs: Vec<(u16, u8)>, ctx: VersionVector },
    /// A `Del` of a key that held a HyperLogLog at the origin: also kills
    /// every concurrent HLL add (DEL wins). `Db::commit` makes it from a `Del`.
    HllDel { key: Blob, ctx: VersionVector },
    /// A `Set` of a key that held a HyperLogLog at the origin (DEL wins).
    HllSet { key: Blob, ctx: VersionVector, value: Blob, keep_ttl: bool },
    /// Inserts a list element (its id is the effect's dot) right after the
    /// element `anchor` (None: at the head). See `crate::list`.
    ListInsert { key: Blob, anchor: Option<Dot>, value: Blob },
    /// Writes list element `elem`'s value (LSET), removing the versions of it
    /// the origin observed.
    ListSet { key: Blob, elem: Dot, ctx: VersionVector, value: Blob },
    /// Removes list elements (LREM, LTRIM, pops): the versions of `elems`
    /// that `ctx` covers.
    ListRemove { key: Blob, elems: Vec<Dot>, ctx: VersionVector },
    /// Appends a stream entry (XADD) to the origin's tree; its identity is
    /// the effect's dot. `added` is the origin's new entries-added count
    /// (its record's last id becomes `id`). See `crate::stream`.
    StreamAdd { key: Blob, id: StreamId, fields: Vec<Blob>, added: u64 },
    /// Removes stream entries (XDEL, XTRIM, XADD's trimming) by (id, dot).
    StreamRemove { key: Blob, entries: Vec<(StreamId, Dot)> },
    /// Writes the origin's stream record (XSETID, XGROUP CREATE MKSTREAM).
    StreamSetId { key: Blob, last: StreamId, added: u64 },
    /// A `Del` of a key that held a stream at the origin: also kills every
    /// consumer group create that did not observe it (delete-wins).
    /// `Db::commit` makes it from a `Del`.
    StreamDel { key: Blob, ctx: VersionVector },
    /// XGROUP CREATE: `ctx` is the origin's whole observed vector.
    GroupCreate { key: Blob, group: Blob, start: StreamId, entries_read: Option<u64>, ctx: VersionVector },
    /// XGROUP DESTROY: kills every create of the group that did not observe it.
    GroupDestroy { key: Blob, group: Blob },
    /// XACK of a prefix: every id up to `upto` read by the group at the
    /// origin is acknowledged (receivers drop them from their PEL).
    StreamAck { key: Blob, group: Blob, upto: StreamId },
}

impl Op {
    pub fn key(&self) -> Option<&[u8]> {
        match self {
            Op::Del { key, .. }
            | Op::Set { key, .. }
            | Op::Incr { key, .. }
            | Op::HSet { key, .. }
            | Op::HIncr { key, .. }
            | Op::HDel { key, .. }
            | Op::SAdd { key, .. }
            | Op::SRem { key, .. }
            | Op::ZAdd { key, .. }
            | Op::ZIncr { key, .. }
            | Op::ZRem { key, .. }
            | Op::Expire { key, .. }
            | Op::HllAdd { key, .. }
            | Op::HllDel { key, .. }
            | Op::HllSet { key, .. }
            | Op::ListInsert { key, .. }
            | Op::ListSet { key, .. }
            | Op::ListRemove { key, .. }
            | Op::StreamAdd { key, .. }
            | Op::StreamRemove { key, .. }
            | Op::StreamSetId { key, .. }
            | Op::StreamDel { key, .. }
            | Op::GroupCreate { key, .. }
            | Op::GroupDestroy { key, .. }
            | Op::StreamAck { key, .. } => Some(key),
            Op::Observed { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("effect truncated")]
    Truncated,
    #[error("unknown effect format version {0} (this build speaks {EFFECT_FORMAT})")]
    Version(u8),
    #[error("unknown effect tag {0}")]
    Tag(u8),
    /// Well-framed but impossible content: trailing bytes, an instance id
    /// out of range, a flag byte other than 0 or 1.
    #[error("invalid effect: {0}")]
    Invalid(&'static str),
}

// ---- encoding ------------------------------------------------------------

fn put_delta(out: &mut Vec<u8>, d: Delta) {
    match d {
        Delta::Int(i) => {
            out.push(0);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Delta::Float(f) => {
            out.push(1);
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = rest;
        Ok(b)
    }
    fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::Truncated)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn bytes(&mut self) -> Result<Blob, DecodeError> {
        let n = self.var()? as usize;
        Ok(self.take(n)?.into())
    }
    fn u64le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn id(&mut self) -> Result<InstanceId, DecodeError> {
        u16::try_from(self.var()?).map(InstanceId).map_err(|_| DecodeError::Invalid("instance id out of range"))
    }
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("flag byte")),
        }
    }
    fn vv(&mut self) -> Result<VersionVector, DecodeError> {
        let n = self.var()?;
        if n > self.buf.len() as u64 {
            // Every entry takes at least two bytes.
            return Err(DecodeError::Truncated);
        }
        let mut vv = VersionVector::new();
        for _ in 0..n {
            let id = self.id()?;
            let seq = self.var()?;
            vv.raise(id, seq);
        }
        Ok(vv)
    }
    fn dot(&mut self) -> Result<Dot, DecodeError> {
        Ok(Dot { origin: self.id()?, seq: self.var()? })
    }
    fn dots(&mut self) -> Result<Vec<Dot>, DecodeError> {
        let n = self.var()?;
        if n > self.buf.len() as u64 {
            // Every dot takes at least two bytes.
            return Err(DecodeError::Truncated);
        }
        (0..n).map(|_| self.dot()).collect()
    }
    fn sid(&mut self) -> Result<StreamId, DecodeError> {
        Ok(StreamId { ms: self.var()?, seq: self.var()? })
    }
    fn count(&mut self) -> Result<u64, DecodeError> {
        let n = self.var()?;
        if n > self.buf.len() as u64 {
            // Every item takes at least one byte.
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    fn delta(&mut self) -> Result<Delta, DecodeError> {
        match self.u8()? {
            0 => Ok(Delta::Int(self.u64le()? as i64)),
            1 => Ok(Delta::Float(f64::from_bits(self.u64le()?))),
            t => Err(DecodeError::Tag(t)),
        }
    }
}

impl Effect {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(EFFECT_FORMAT);
        put_var(out, self.dot.origin.0 as u64);
        put_var(out, self.dot.seq);
        put_var(out, self.hlc.0);
        match &self.op {
            Op::Del { key, ctx } => {
                out.push(1);
                put_bytes(out, key);
                put_vv(out, ctx);
            }
            Op::Set { key, ctx, value, keep_ttl } => {
                out.push(2);
                put_bytes(out, key);
                put_vv(out, ctx);
                put_bytes(out, value);
                out.push(*keep_ttl as u8);
            }
            Op::Incr { key, delta } => {
                out.push(3);
                put_bytes(out, key);
                put_delta(out, *delta);
            }
            Op::HSet { key, field, ctx, value } => {
                out.push(4);
                put_bytes(out, key);
                put_bytes(out, field);
                put_vv(out, ctx);
                put_bytes(out, value);
            }
            Op::HIncr { key, field, delta } => {
                out.push(5);
                put_bytes(out, key);
                put_bytes(out, field);
                put_delta(out, *delta);
            }
            Op::HDel { key, field, ctx } => {
                out.push(6);
                put_bytes(out, key);
                put_bytes(out, field);
                put_vv(out, ctx);
            }
            Op::SAdd { key, member, ctx } => {
                out.push(7);
                put_bytes(out, key);
                put_bytes(out, member);
                put_vv(out, ctx);
            }
            Op::SRem { key, member, ctx } => {
                out.push(8);
                put_bytes(out, key);
                put_bytes(out, member);
                put_vv(out, ctx);
            }
            Op::ZAdd { key, member, ctx, score } => {
                out.push(9);
                put_bytes(out, key);
                put_bytes(out, member);
                put_vv(out, ctx);
                out.extend_from_slice(&score.to_le_bytes());
            }
            Op::ZIncr { key, member, delta } => {
                out.push(10);
                put_bytes(out, key);
                put_bytes(out, member);
                out.extend_from_slice(&delta.to_le_bytes());
            }
            Op::ZRem { key, member, ctx } => {
                out.push(11);
                put_bytes(out, key);
                put_bytes(out, member);
                put_vv(out, ctx);
            }
            Op::Expire { key, ctx, at_ms } => {
                out.push(12);
                put_bytes(out, key);
                put_vv(out, ctx);
                match at_ms {
                    Some(t) => {
                        out.push(1);
                        put_var(out, *t);
                    }
                    None => out.push(0),
                }
            }
            Op::Observed { vv } => {
                out.push(13);
                put_vv(out, vv);
            }
            Op::HllAdd { key, regs, ctx } => {
                out.push(40);
                put_bytes(out, key);
                put_var(out, regs.len() as u64);
                for &(i, v) in regs {
                    put_var(out, i as u64);
                    out.push(v);
                }
                put_vv(out, ctx);
            }
            Op::HllDel { key, ctx } => {
                out.push(41);
                put_bytes(out, key);
                put_vv(out, ctx);
            }
            Op::HllSet { key, ctx, value, keep_ttl } => {
                out.push(42);
                put_bytes(out, key);
                put_vv(out, ctx);
                put_bytes(out, value);
                out.push(*keep_ttl as u8);
            }
            Op::ListInsert { key, anchor, value } => {
                out.push(20);
                put_bytes(out, key);
                match anchor {
                    Some(a) => {
                        out.push(1);
                        put_dot(out, *a);
                    }
                    None => out.push(0),
                }
                put_bytes(out, value);
            }
            Op::ListSet { key, elem, ctx, value } => {
                out.push(21);
                put_bytes(out, key);
                put_dot(out, *elem);
                put_vv(out, ctx);
                put_bytes(out, value);
            }
            Op::ListRemove { key, elems, ctx } => {
                out.push(22);
                put_bytes(out, key);
                put_var(out, elems.len() as u64);
                for d in elems {
                    put_dot(out, *d);
                }
                put_vv(out, ctx);
            }
            Op::StreamAdd { key, id, fields, added } => {
                out.push(50);
                put_bytes(out, key);
                put_sid(out, *id);
                put_var(out, fields.len() as u64);
                for f in fields {
                    put_bytes(out, f);
                }
                put_var(out, *added);
            }
            Op::StreamRemove { key, entries } => {
                out.push(51);
                put_bytes(out, key);
                put_var(out, entries.len() as u64);
                for (id, d) in entries {
                    put_sid(out, *id);
                    put_dot(out, *d);
                }
            }
            Op::StreamSetId { key, last, added } => {
                out.push(52);
                put_bytes(out, key);
                put_sid(out, *last);
                put_var(out, *added);
            }
            Op::StreamDel { key, ctx } => {
                out.push(53);
                put_bytes(out, key);
                put_vv(out, ctx);
            }
            Op::GroupCreate { key, group, start, entries_read, ctx } => {
                out.push(54);
                put_bytes(out, key);
                put_bytes(out, group);
                put_sid(out, *start);
                match entries_read {
                    Some(n) => {
                        out.push(1);
                        put_var(out, *n);
                    }
                    None => out.push(0),
                }
                put_vv(out, ctx);
            }
            Op::GroupDestroy { key, group } => {
                out.push(55);
                put_bytes(out, key);
                put_bytes(out, group);
            }
            Op::StreamAck { key, group, upto } => {
                out.push(56);
                put_bytes(out, key);
                put_bytes(out, group);
                put_sid(out, *upto);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32);
        self.encode(&mut v);
        v
    }

    /// Reads only the origin of an encoded effect (a stream filtering by
    /// origin needs nothing else). None if `buf` is not an effect of this
    /// format.
    pub fn peek_origin(buf: &[u8]) -> Option<InstanceId> {
        let mut r = Reader { buf };
        if r.u8().ok()? != EFFECT_FORMAT {
            return None;
        }
        r.id().ok()
    }

    pub fn decode(buf: &[u8]) -> Result<Effect, DecodeError> {
        let mut r = Reader { buf };
        let version = r.u8()?;
        if version != EFFECT_FORMAT {
            return Err(DecodeError::Version(version));
        }
        let origin = r.id()?;
        let seq = r.var()?;
        if seq > crate::id::SEQ_MAX {
            return Err(DecodeError::Invalid("sequence number above SEQ_MAX"));
        }
        let hlc = Hlc(r.var()?);
        let op = match r.u8()? {
            1 => Op::Del { key: r.bytes()?, ctx: r.vv()? },
            2 => Op::Set { key: r.bytes()?, ctx: r.vv()?, value: r.bytes()?, keep_ttl: r.flag()? },
            3 => Op::Incr { key: r.bytes()?, delta: r.delta()? },
            4 => Op::HSet { key: r.bytes()?, field: r.bytes()?, ctx: r.vv()?, value: r.bytes()? },
            5 => Op::HIncr { key: r.bytes()?, field: r.bytes()?, delta: r.delta()? },
            6 => Op::HDel { key: r.bytes()?, field: r.bytes()?, ctx: r.vv()? },
            7 => Op::SAdd { key: r.bytes()?, member: r.bytes()?, ctx: r.vv()? },
            8 => Op::SRem { key: r.bytes()?, member: r.bytes()?, ctx: r.vv()? },
            9 => Op::ZAdd { key: r.bytes()?, member: r.bytes()?, ctx: r.vv()?, score: f64::from_bits(r.u64le()?) },
            10 => Op::ZIncr { key: r.bytes()?, member: r.bytes()?, delta: f64::from_bits(r.u64le()?) },
            11 => Op::ZRem { key: r.bytes()?, member: r.bytes()?, ctx: r.vv()? },
            12 => {
                let key = r.bytes()?;
                let ctx = r.vv()?;
                let at_ms = if r.flag()? { Some(r.var()?) } else { None };
                Op::Expire { key, ctx, at_ms }
            }
            13 => Op::Observed { vv: r.vv()? },
            40 => {
                let key = r.bytes()?;
                let n = r.var()?;
                if n > crate::hll::REGISTERS as u64 {
                    return Err(DecodeError::Invalid("too many HLL registers"));
                }
                let mut regs = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let i = r.var()?;
                    let v = r.u8()?;
                    if i >= crate::hll::REGISTERS as u64 || v > crate::hll::REGISTER_MAX {
                        return Err(DecodeError::Invalid("HLL register out of range"));
                    }
                    regs.push((i as u16, v));
                }
                Op::HllAdd { key, regs, ctx: r.vv()? }
            }
            41 => Op::HllDel { key: r.bytes()?, ctx: r.vv()? },
            42 => Op::HllSet { key: r.bytes()?, ctx: r.vv()?, value: r.bytes()?, keep_ttl: r.flag()? },
            20 => {
                let key = r.bytes()?;
                let anchor = if r.flag()? { Some(r.dot()?) } else { None };
                Op::ListInsert { key, anchor, value: r.bytes()? }
            }
            21 => Op::ListSet { key: r.bytes()?, elem: r.dot()?, ctx: r.vv()?, value: r.bytes()? },
            22 => Op::ListRemove { key: r.bytes()?, elems: r.dots()?, ctx: r.vv()? },
            50 => {
                let key = r.bytes()?;
                let id = r.sid()?;
                let n = r.count()?;
                let mut fields = Vec::with_capacity(n.min(64) as usize);
                for _ in 0..n {
                    fields.push(r.bytes()?);
                }
                Op::StreamAdd { key, id, fields, added: r.var()? }
            }
            51 => {
                let key = r.bytes()?;
                let n = r.count()?;
                let mut entries = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    entries.push((r.sid()?, r.dot()?));
                }
                Op::StreamRemove { key, entries }
            }
            52 => Op::StreamSetId { key: r.bytes()?, last: r.sid()?, added: r.var()? },
            53 => Op::StreamDel { key: r.bytes()?, ctx: r.vv()? },
            54 => {
                let key = r.bytes()?;
                let group = r.bytes()?;
                let start = r.sid()?;
                let entries_read = if r.flag()? { Some(r.var()?) } else { None };
                Op::GroupCreate { key, group, start, entries_read, ctx: r.vv()? }
            }
            55 => Op::GroupDestroy { key: r.bytes()?, group: r.bytes()? },
            56 => Op::StreamAck { key: r.bytes()?, group: r.bytes()?, upto: r.sid()? },
            t => return Err(DecodeError::Tag(t)),
        };
        if !r.buf.is_empty() {
            return Err(DecodeError::Invalid("trailing bytes"));
        }
        Ok(Effect { dot: Dot { origin, seq }, hlc, op })
    }
}

//! Effects: replicated operations, already resolved at their origin, and
//! their compact versioned binary encoding.
//!
//! Every effect carries its dot; an effect whose dot the receiver has already
//! observed changes nothing, so duplicates are harmless.

use crate::cell::Blob;
use crate::id::{Dot, Hlc, InstanceId, VersionVector};
use crate::num::Delta;
use crate::stream::StreamId;

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
    /// A pub/sub message published on an Active-Active database (PUBLISH,
    /// SPUBLISH with `sharded`). It changes no key: `Db::apply` only notes
    /// its dot. The shard that applies it *for the first time* from a
    /// peer's stream delivers it to its local subscribers; a duplicate, a
    /// log replay or a snapshot delivers nothing (docs/sync.md, "Pub/Sub").
    Publish { channel: Blob, message: Blob, sharded: bool },
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
            Op::Observed { .. } | Op::Publish { .. } => None,
        }
    }

    /// True for ops that change data (everything but announcements and
    /// pub/sub messages).
    pub fn is_data(&self) -> bool {
        !matches!(self, Op::Observed { .. } | Op::Publish { .. })
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
    /// Appends the encoding to `out`: sizes it once (an upper bound), then
    /// writes into that room without a capacity check per byte.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.max_len(), 0);
        let mut w = Writer { buf: &mut out[start..], n: 0 };
        w.u8(EFFECT_FORMAT);
        w.var(self.dot.origin.0 as u64);
        w.var(self.dot.seq);
        w.var(self.hlc.0);
        w.op(&self.op);
        let n = w.n;
        out.truncate(start + n);
    }

    /// An upper bound of the encoding's length (every varint counted as
    /// its longest, 10 bytes, plus 10 bytes of slack: [`Writer::var`]
    /// wants room for a whole varint wherever it starts).
    fn max_len(&self) -> usize {
        const V: usize = 10;
        let b = |x: &[u8]| V + x.len();
        let vv = |v: &VersionVector| V + 2 * V * v.len();
        let body = match &self.op {
            Op::Del { key, ctx } | Op::HllDel { key, ctx } | Op::StreamDel { key, ctx } => b(key) + vv(ctx),
            Op::Set { key, ctx, value, .. } | Op::HllSet { key, ctx, value, .. } => b(key) + vv(ctx) + b(value) + 1,
            Op::Incr { key, .. } => b(key) + 9,
            Op::HSet { key, field, ctx, value } => b(key) + b(field) + vv(ctx) + b(value),
            Op::HIncr { key, field, .. } => b(key) + b(field) + 9,
            Op::HDel { key, field: member, ctx }
            | Op::SAdd { key, member, ctx }
            | Op::SRem { key, member, ctx }
            | Op::ZRem { key, member, ctx } => b(key) + b(member) + vv(ctx),
            Op::ZAdd { key, member, ctx, .. } => b(key) + b(member) + vv(ctx) + 8,
            Op::ZIncr { key, member, .. } => b(key) + b(member) + 8,
            Op::Expire { key, ctx, .. } => b(key) + vv(ctx) + 1 + V,
            Op::Observed { vv: v } => vv(v),
            Op::HllAdd { key, regs, ctx } => b(key) + V + regs.len() * (V + 1) + vv(ctx),
            Op::ListInsert { key, value, .. } => b(key) + 1 + 2 * V + b(value),
            Op::ListSet { key, ctx, value, .. } => b(key) + 2 * V + vv(ctx) + b(value),
            Op::ListRemove { key, elems, ctx } => b(key) + V + elems.len() * 2 * V + vv(ctx),
            Op::StreamAdd { key, fields, .. } => b(key) + 2 * V + V + fields.iter().map(|f| b(f)).sum::<usize>() + V,
            Op::StreamRemove { key, entries } => b(key) + V + entries.len() * 4 * V,
            Op::StreamSetId { key, .. } => b(key) + 3 * V,
            Op::GroupCreate { key, group, ctx, .. } => b(key) + b(group) + 2 * V + 1 + V + vv(ctx),
            Op::GroupDestroy { key, group } => b(key) + b(group),
            Op::StreamAck { key, group, .. } => b(key) + b(group) + 2 * V,
            Op::Publish { channel, message, .. } => b(channel) + b(message) + 1,
        };
        // Format, origin, seq, hlc, tag; slack.
        1 + 3 * V + 1 + body + V
    }
}

/// Writes an encoding into room already made for it (see
/// [`Effect::max_len`]): no capacity check, no length update per byte.
struct Writer<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl Writer<'_> {
    #[inline(always)]
    fn u8(&mut self, b: u8) {
        self.buf[self.n] = b;
        self.n += 1;
    }
    /// LEB128, as [`crate::wire::put_var`], without a loop: the low 56
    /// bits are spread into 8 bytes of 7 bits with three shift-and-masks,
    /// written whole (the room is there), and the length counted from the
    /// leading zeros.
    #[inline(always)]
    fn var(&mut self, v: u64) {
        if v < 0x80 {
            self.u8(v as u8);
            return;
        }
        let dst: &mut [u8; 10] = (&mut self.buf[self.n..self.n + 10]).try_into().expect("room for a varint");
        let mut x = v & 0x00ff_ffff_ffff_ffff;
        x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x00ff_ffff_f000_0000) << 4);
        x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x0fff_c000_0fff_c000) << 2);
        x = (x & 0x007f_007f_007f_007f) | ((x & 0x3f80_3f80_3f80_3f80) << 1);
        // Bytes needed: 7 bits each (v >= 0x80: at least 2).
        let len = (64 - v.leading_zeros() as usize).div_ceil(7);
        if len <= 8 {
            // A continuation bit on every byte but the last.
            let cont = 0x8080_8080_8080_8080u64 & ((1u64 << (8 * (len - 1))) - 1);
            dst[..8].copy_from_slice(&(x | cont).to_le_bytes());
        } else {
            dst[..8].copy_from_slice(&(x | 0x8080_8080_8080_8080).to_le_bytes());
            let hi = v >> 56;
            if len == 9 {
                dst[8] = hi as u8;
            } else {
                dst[8] = (hi as u8) | 0x80;
                dst[9] = (hi >> 7) as u8;
            }
        }
        self.n += len;
    }
    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        self.var(b.len() as u64);
        let n = b.len();
        let dst = &mut self.buf[self.n..self.n + n];
        // Short keys, members and values (most of them) without a call to
        // memcpy: two overlapping word copies.
        if (8..=16).contains(&n) {
            dst[..8].copy_from_slice(&b[..8]);
            dst[n - 8..].copy_from_slice(&b[n - 8..]);
        } else if (4..8).contains(&n) {
            dst[..4].copy_from_slice(&b[..4]);
            dst[n - 4..].copy_from_slice(&b[n - 4..]);
        } else if n < 4 {
            for (d, s) in dst.iter_mut().zip(b) {
                *d = *s;
            }
        } else {
            dst.copy_from_slice(b);
        }
        self.n += n;
    }
    #[inline(always)]
    fn f64(&mut self, x: f64) {
        self.buf[self.n..self.n + 8].copy_from_slice(&x.to_le_bytes());
        self.n += 8;
    }
    #[inline(always)]
    fn vv(&mut self, vv: &VersionVector) {
        self.var(vv.len() as u64);
        for (id, seq) in vv.iter() {
            self.var(id.0 as u64);
            self.var(seq);
        }
    }
    #[inline(always)]
    fn dot(&mut self, d: Dot) {
        self.var(d.origin.0 as u64);
        self.var(d.seq);
    }
    #[inline(always)]
    fn sid(&mut self, id: StreamId) {
        self.var(id.ms);
        self.var(id.seq);
    }
    fn delta(&mut self, d: Delta) {
        match d {
            Delta::Int(i) => {
                self.u8(0);
                self.buf[self.n..self.n + 8].copy_from_slice(&i.to_le_bytes());
                self.n += 8;
            }
            Delta::Float(f) => {
                self.u8(1);
                self.f64(f);
            }
        }
    }

    fn op(&mut self, op: &Op) {
        let w = self;
        match op {
            Op::Del { key, ctx } => {
                w.u8(1);
                w.bytes(key);
                w.vv(ctx);
            }
            Op::Set { key, ctx, value, keep_ttl } => {
                w.u8(2);
                w.bytes(key);
                w.vv(ctx);
                w.bytes(value);
                w.u8(*keep_ttl as u8);
            }
            Op::Incr { key, delta } => {
                w.u8(3);
                w.bytes(key);
                w.delta(*delta);
            }
            Op::HSet { key, field, ctx, value } => {
                w.u8(4);
                w.bytes(key);
                w.bytes(field);
                w.vv(ctx);
                w.bytes(value);
            }
            Op::HIncr { key, field, delta } => {
                w.u8(5);
                w.bytes(key);
                w.bytes(field);
                w.delta(*delta);
            }
            Op::HDel { key, field, ctx } => {
                w.u8(6);
                w.bytes(key);
                w.bytes(field);
                w.vv(ctx);
            }
            Op::SAdd { key, member, ctx } => {
                w.u8(7);
                w.bytes(key);
                w.bytes(member);
                w.vv(ctx);
            }
            Op::SRem { key, member, ctx } => {
                w.u8(8);
                w.bytes(key);
                w.bytes(member);
                w.vv(ctx);
            }
            Op::ZAdd { key, member, ctx, score } => {
                w.u8(9);
                w.bytes(key);
                w.bytes(member);
                w.vv(ctx);
                w.f64(*score);
            }
            Op::ZIncr { key, member, delta } => {
                w.u8(10);
                w.bytes(key);
                w.bytes(member);
                w.f64(*delta);
            }
            Op::ZRem { key, member, ctx } => {
                w.u8(11);
                w.bytes(key);
                w.bytes(member);
                w.vv(ctx);
            }
            Op::Expire { key, ctx, at_ms } => {
                w.u8(12);
                w.bytes(key);
                w.vv(ctx);
                match at_ms {
                    Some(t) => {
                        w.u8(1);
                        w.var(*t);
                    }
                    None => w.u8(0),
                }
            }
            Op::Observed { vv } => {
                w.u8(13);
                w.vv(vv);
            }
            Op::HllAdd { key, regs, ctx } => {
                w.u8(40);
                w.bytes(key);
                w.var(regs.len() as u64);
                for &(i, v) in regs {
                    w.var(i as u64);
                    w.u8(v);
                }
                w.vv(ctx);
            }
            Op::HllDel { key, ctx } => {
                w.u8(41);
                w.bytes(key);
                w.vv(ctx);
            }
            Op::HllSet { key, ctx, value, keep_ttl } => {
                w.u8(42);
                w.bytes(key);
                w.vv(ctx);
                w.bytes(value);
                w.u8(*keep_ttl as u8);
            }
            Op::ListInsert { key, anchor, value } => {
                w.u8(20);
                w.bytes(key);
                match anchor {
                    Some(a) => {
                        w.u8(1);
                        w.dot(*a);
                    }
                    None => w.u8(0),
                }
                w.bytes(value);
            }
            Op::ListSet { key, elem, ctx, value } => {
                w.u8(21);
                w.bytes(key);
                w.dot(*elem);
                w.vv(ctx);
                w.bytes(value);
            }
            Op::ListRemove { key, elems, ctx } => {
                w.u8(22);
                w.bytes(key);
                w.var(elems.len() as u64);
                for d in elems {
                    w.dot(*d);
                }
                w.vv(ctx);
            }
            Op::StreamAdd { key, id, fields, added } => {
                w.u8(50);
                w.bytes(key);
                w.sid(*id);
                w.var(fields.len() as u64);
                for f in fields {
                    w.bytes(f);
                }
                w.var(*added);
            }
            Op::StreamRemove { key, entries } => {
                w.u8(51);
                w.bytes(key);
                w.var(entries.len() as u64);
                for (id, d) in entries {
                    w.sid(*id);
                    w.dot(*d);
                }
            }
            Op::StreamSetId { key, last, added } => {
                w.u8(52);
                w.bytes(key);
                w.sid(*last);
                w.var(*added);
            }
            Op::StreamDel { key, ctx } => {
                w.u8(53);
                w.bytes(key);
                w.vv(ctx);
            }
            Op::GroupCreate { key, group, start, entries_read, ctx } => {
                w.u8(54);
                w.bytes(key);
                w.bytes(group);
                w.sid(*start);
                match entries_read {
                    Some(n) => {
                        w.u8(1);
                        w.var(*n);
                    }
                    None => w.u8(0),
                }
                w.vv(ctx);
            }
            Op::GroupDestroy { key, group } => {
                w.u8(55);
                w.bytes(key);
                w.bytes(group);
            }
            Op::StreamAck { key, group, upto } => {
                w.u8(56);
                w.bytes(key);
                w.bytes(group);
                w.sid(*upto);
            }
            Op::Publish { channel, message, sharded } => {
                w.u8(60);
                w.bytes(channel);
                w.bytes(message);
                w.u8(*sharded as u8);
            }
        }
    }
}

impl Effect {
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
            60 => Op::Publish { channel: r.bytes()?, message: r.bytes()?, sharded: r.flag()? },
            t => return Err(DecodeError::Tag(t)),
        };
        if !r.buf.is_empty() {
            return Err(DecodeError::Invalid("trailing bytes"));
        }
        Ok(Effect { dot: Dot { origin, seq }, hlc, op })
    }
}

#[cfg(test)]
mod tests {
    use super::Writer;

    /// The loop-free varint writes exactly what `wire::put_var` does.
    #[test]
    fn var_matches_put_var() {
        let mut values = vec![0u64, u64::MAX];
        for k in 0..64 {
            let p = 1u64 << k;
            values.extend([p - 1, p, p + 1, p.wrapping_mul(3), !p]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            let mut want = Vec::new();
            crate::wire::put_var(&mut want, v);
            let mut buf = [0u8; 20];
            let mut w = Writer { buf: &mut buf, n: 0 };
            w.var(v);
            let n = w.n;
            assert_eq!(&buf[..n], &want[..], "{v:#x}");
        }
    }

    /// `Writer::bytes` writes exactly what `wire::put_bytes` does.
    #[test]
    fn bytes_of_every_short_length() {
        for n in 0..40usize {
            let b: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
            let mut want = Vec::new();
            crate::wire::put_bytes(&mut want, &b);
            let mut buf = [0u8; 64];
            let mut w = Writer { buf: &mut buf, n: 0 };
            w.bytes(&b);
            let len = w.n;
            assert_eq!(&buf[..len], &want[..], "{n} bytes");
        }
    }
}

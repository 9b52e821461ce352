//! HyperLogLog: Redis's 16384 six-bit registers as a CRDT, with DEL-wins.
//!
//! # Registers and estimates
//!
//! The registers, the hash (MurmurHash64A, seed `0xadc83b19`), the pattern
//! length and the estimator (Ertl's "improved" estimator with `tau`/`sigma`,
//! Redis >= 5) are Redis's, so `PFCOUNT` gives the same number as
//! redis-server for the same elements. [`encode_dense`], [`encode_shaped`]
//! and [`parse`] speak Redis's `HYLL` string format (dense and sparse), so a
//! value copied with GET and SET between Concord and Redis keeps working.
//! [`encode_shaped`] renders what a standalone Redis would hold, from the
//! registers and a local [`Shape`] (sparse/dense promotion, cached
//! cardinality bytes) that is never replicated, compared or digested.
//!
//! # The CRDT
//!
//! The value is the register-wise maximum of its *adds*. An add (`PFADD`,
//! `PFMERGE`, or the recreation of a value by RENAME/COPY) is an
//! [`Op::HllAdd`] carrying only the registers it raised at its origin, and
//! `ctx`: the origin's whole observed version vector when it committed the
//! add ([`Db::commit`] fills it in).
//!
//! A *removal* is a DEL or SET (any key-wide overwrite, including the DEL
//! that expires or evicts a key) committed at an origin whose key held a
//! HyperLogLog; [`Db::commit`] turns it into [`Op::HllDel`] / [`Op::HllSet`],
//! which are a plain `Del` / `Set` plus this rule. The origin decides, so
//! every receiver does the same.
//!
//! **Rule (DEL wins).** An add `A` is alive at an instance iff `A.ctx`
//! covers the dot of every removal of its key the instance has applied.
//! So a removal kills every add it observed *and every add concurrent with
//! it*; only adds made after the origin of the add had seen the removal
//! survive. Removals are kept per key as a version vector `dels` (per origin
//! the highest removal seq: `A.ctx` covers all removals of an origin iff it
//! covers the highest one).
//!
//! The rule depends only on the set of effects applied, not on their order,
//! so instances that applied the same effects agree (per-origin FIFO is
//! enough: no causal delivery needed). Duplicates are filtered by dot.
//!
//! Only that rule removes adds: plain (observed-remove) removals and pending
//! tombstones neither remove nor block them. A plain DEL/SET whose context
//! covers an add comes from an origin where the add was already dead, hence
//! killed by an HLL removal that will reach every instance anyway; acting
//! on the plain removal as well would make the state depend on arrival
//! order and on which adds are settled (see `same_effects_same_state_*`).
//!
//! **Raised registers suffice.** If `A2` survives, every add alive at `A2`'s
//! origin when it was committed survives too (a removal that kills one of
//! them was unknown to that origin, so `A2.ctx` does not cover it either);
//! so the registers `A2` relied on are still there.
//!
//! **Settling (space).** An add whose `ctx` this instance has entirely
//! observed (`ctx <= vv`) is *settled*: every removal still to arrive has a
//! dot beyond `vv`, so it kills the add. All settled adds share that fate,
//! so they are folded into one register array (`settled`) with the join of
//! their dots; a new removal clears it. Adds that observed something this
//! instance has not seen yet stay *pending*, each with its `ctx`, until GC
//! settles them. The digest and equality do not depend on the split.
//!
//! **Full-sync merge** of a state `S` into `M`:
//! - `M`'s settled adds die iff `S.dels` has a removal `M` never saw
//!   (`S.dels <= M.vv` fails); `M`'s pending adds are checked one by one
//!   against `S.dels`.
//! - `S`'s settled adds die iff `M.dels <= S.vv` fails; they are dropped
//!   too when `M` has observed all of them (`S.settled_ctx <= M.vv`): those
//!   alive are already in `M`, the others were removed by `M` (possibly by a
//!   removal whose record GC dropped, which is why this check exists: it
//!   makes merging an old snapshot safe). `S`'s pending adds are taken iff
//!   `M` never saw them and they cover `M.dels`.
//!
//! **GC.** A removal record is dropped once every instance announced it
//! observed it (`gvc_min` covers it): every add concurrent with it was
//! committed before its origin's announcement, so it has arrived here (FIFO)
//! and was killed.

use std::collections::{HashMap, HashSet};

use crate::cell::Blob;
use crate::db::Db;
use crate::effect::Op;
use crate::id::{Dot, Hlc, Stamp, VersionVector};
use crate::value::Value;

pub const HLL_P: u32 = 14;
/// Bits of the hash left after the register index.
pub const HLL_Q: u32 = 64 - HLL_P;
pub const REGISTERS: usize = 1 << HLL_P;
pub const REGISTER_MAX: u8 = 63;
pub const HDR_SIZE: usize = 16;
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * 6).div_ceil(8);
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// Past this many non-zero registers the array is kept dense.
const SPARSE_MAX: usize = 2048;

// ---- Redis's algorithm ---------------------------------------------------

/// MurmurHash2, 64-bit version (MurmurHash64A), as Redis uses it.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let len = key.len();
    let mut h: u64 = seed ^ (len as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the length of its `000..1` pattern
/// (Redis's `hllPatLen`): 1..=51.
pub fn pat_len(ele: &[u8]) -> (u16, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as u16;
    let rest = (hash >> HLL_P) | (1u64 << HLL_Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// Redis's `hllCount` from a register histogram (`histo[v]` = registers
/// holding `v`; 64 slots as Redis keeps them).
pub fn count_histo(histo: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[HLL_Q as usize + 1] as f64) / m);
    for j in (1..=HLL_Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimate of a full register array.
pub fn count(regs: &[u8]) -> u64 {
    let mut histo = [0u64; 64];
    for &r in regs {
        histo[(r & 63) as usize] += 1;
    }
    count_histo(&histo)
}

// ---- Redis's string format -------------------------------------------------

fn dense_get(p: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = p[byte] as u32;
    let b1 = p.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(p: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u32;
    p[byte] &= !((63u32 << fb) as u8);
    p[byte] |= (v << fb) as u8;
    if byte + 1 < p.len() {
        p[byte + 1] &= !((63u32 >> (8 - fb)) as u8);
        p[byte + 1] |= (v >> (8 - fb)) as u8;
    }
}

/// Redis's dense `HYLL` string for these registers, with the cached
/// cardinality filled in (valid).
pub fn encode_dense(regs: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; DENSE_SIZE];
    out[..4].copy_from_slice(b"HYLL");
    let card = count(regs);
    out[8..16].copy_from_slice(&card.to_le_bytes());
    let body = &mut out[HDR_SIZE..];
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            dense_set(body, i, r);
        }
    }
    out
}

/// Longest run a sparse ZERO opcode holds.
const SPARSE_ZERO_MAX: usize = 64;
/// Longest run a sparse XZERO opcode holds.
const SPARSE_XZERO_MAX: usize = 16384;
/// Highest register value a sparse VAL opcode holds.
pub const SPARSE_VAL_MAX: u8 = 32;
/// Longest run a sparse VAL opcode holds.
const SPARSE_VAL_RUN_MAX: usize = 4;
/// Redis's default `hll-sparse-max-bytes`: past this length (header
/// included) a sparse HyperLogLog is promoted to dense.
pub const SPARSE_MAX_BYTES: usize = 3000;
/// Bit 7 of header byte 15: the cached cardinality is stale.
pub const CARD_INVALID: u64 = 1 << 63;

/// Redis's sparse body for these registers (no header), or `None` when a
/// register is too high for the sparse encoding. The encoding is canonical
/// (longest runs, ZERO for at most 64 zeros, XZERO beyond), which is what
/// Redis's incremental `hllSparseSet` produces for the same registers.
pub fn encode_sparse_body(regs: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < regs.len() {
        let v = regs[i];
        let mut run = 1;
        if v == 0 {
            while i + run < regs.len() && regs[i + run] == 0 && run < SPARSE_XZERO_MAX {
                run += 1;
            }
            if run <= SPARSE_ZERO_MAX {
                out.push((run - 1) as u8);
            } else {
                out.push(0x40 | ((run - 1) >> 8) as u8);
                out.push(((run - 1) & 0xff) as u8);
            }
        } else {
            if v > SPARSE_VAL_MAX {
                return None;
            }
            while i + run < regs.len() && regs[i + run] == v && run < SPARSE_VAL_RUN_MAX {
                run += 1;
            }
            out.push(0x80 | ((v - 1) << 2) | (run - 1) as u8);
        }
        i += run;
    }
    Some(out)
}

/// Redis's PFDEBUG DECODE text of a sparse body (`z:N`, `Z:N`, `v:V,N`).
pub fn decode_sparse(body: &[u8]) -> String {
    let mut out = Vec::new();
    let mut k = 0;
    while k < body.len() {
        let op = body[k];
        if op & 0xc0 == 0 {
            out.push(format!("z:{}", (op & 0x3f) as usize + 1));
            k += 1;
        } else if op & 0xc0 == 0x40 {
            let lo = body.get(k + 1).copied().unwrap_or(0) as usize;
            out.push(format!("Z:{}", (((op & 0x3f) as usize) << 8 | lo) + 1));
            k += 2;
        } else {
            out.push(format!("v:{},{}", ((op >> 2) & 0x1f) + 1, (op & 3) + 1));
            k += 1;
        }
    }
    out.join(" ")
}

/// True when Redis would have promoted a HyperLogLog with these registers
/// to the dense encoding (a register above 32, or a sparse form longer than
/// `SPARSE_MAX_BYTES` header included).
pub fn needs_dense(regs: &[u8]) -> bool {
    encode_sparse_body(regs).is_none_or(|b| HDR_SIZE + b.len() > SPARSE_MAX_BYTES)
}

/// True when [`encode_shaped`] shows these registers dense. (Registers all
/// zero stay sparse whatever the limit: Redis creates every HyperLogLog
/// sparse and promotes it only when a register is set.)
pub fn shows_dense(regs: &[u8], shape: Shape) -> bool {
    shape.dense || (regs.iter().any(|&r| r != 0) && needs_dense(regs))
}

/// How a standalone shard shows a HyperLogLog as Redis's string, beyond its
/// registers: what Redis keeps in the string and a register array does
/// not. Local to the instance: never replicated, compared, or digested.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Header bytes 8..16 (little-endian): the cached cardinality, with
    /// [`CARD_INVALID`] set while stale. 0 (valid, cardinality 0) for a
    /// new HyperLogLog, as Redis creates it.
    pub card: u64,
    /// Promoted to dense (Redis never goes back to sparse).
    pub dense: bool,
}

impl std::fmt::Debug for Shape {
    /// Nothing: the shape is presentation only, and `Debug` of the
    /// registers is compared by snapshot tests.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

/// Redis's `HYLL` string for these registers as a standalone Redis would
/// hold it: sparse unless promoted (or too big / too high for sparse), and
/// the header's cached cardinality as Redis last left it. A cache marked
/// valid that does not match the registers (they changed by a path that
/// did not keep the shape up to date) is shown stale.
pub fn encode_shaped(regs: &[u8], shape: Shape) -> Vec<u8> {
    let mut card = shape.card;
    if card & CARD_INVALID == 0 && card != count(regs) {
        card |= CARD_INVALID;
    }
    let sparse = if shows_dense(regs, shape) { None } else { encode_sparse_body(regs) };
    let mut out = match sparse {
        Some(body) => {
            let mut out = vec![0u8; HDR_SIZE];
            out.extend_from_slice(&body);
            out[4] = 1;
            out
        }
        None => {
            let mut out = encode_dense(regs);
            out[8..16].fill(0);
            out
        }
    };
    out[..4].copy_from_slice(b"HYLL");
    out[8..16].copy_from_slice(&card.to_le_bytes());
    out
}

/// Why a string is not a usable HyperLogLog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HllError {
    /// Not an `HYLL` string at all: Redis replies
    /// "WRONGTYPE Key is not a valid HyperLogLog string value."
    NotHll,
    /// An `HYLL` header with corrupt sparse data: "INVALIDOBJ Corrupted HLL object detected".
    Corrupt,
}

/// A parsed `HYLL` string.
pub struct Parsed<'a> {
    pub dense: bool,
    /// The cached cardinality, if the header marks it valid.
    pub cached: Option<u64>,
    /// Header bytes 8..16 as they are (see [`Shape::card`]).
    pub card: u64,
    body: &'a [u8],
}

/// Checks the header as Redis's `isHLLObjectOrReply` does.
pub fn parse(s: &[u8]) -> Result<Parsed<'_>, HllError> {
    if s.len() < HDR_SIZE || &s[..4] != b"HYLL" || s[4] > 1 {
        return Err(HllError::NotHll);
    }
    let dense = s[4] == 0;
    if dense && s.len() != DENSE_SIZE {
        return Err(HllError::NotHll);
    }
    let card = u64::from_le_bytes(s[8..16].try_into().expect("8 bytes"));
    let cached = if card & CARD_INVALID == 0 { Some(card) } else { None };
    Ok(Parsed { dense, cached, card, body: &s[HDR_SIZE..] })
}

impl Parsed<'_> {
    /// Register-wise maximum into `max` (Redis's `hllMerge`).
    pub fn merge_into(&self, max: &mut [u8]) -> Result<(), HllError> {
        if self.dense {
            for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
                let v = dense_get(self.body, i);
                if v > *m {
                    *m = v;
                }
            }
            return Ok(());
        }
        let p = self.body;
        let (mut i, mut k) = (0usize, 0usize);
        while k < p.len() {
            let op = p[k];
            if op & 0xc0 == 0 {
                i += (op & 0x3f) as usize + 1;
                k += 1;
            } else if op & 0xc0 == 0x40 {
                let lo = p.get(k + 1).copied().unwrap_or(0) as usize;
                i += (((op & 0x3f) as usize) << 8 | lo) + 1;
                k += 2;
            } else {
                let run = (op & 3) as usize + 1;
                let val = ((op >> 2) & 0x1f) + 1;
                if run + i > REGISTERS {
                    break;
                }
                for m in &mut max[i..i + run] {
                    if val > *m {
                        *m = val;
                    }
                }
                i += run;
                k += 1;
            }
        }
        if i != REGISTERS {
            return Err(HllError::Corrupt);
        }
        Ok(())
    }

    /// The registers.
    pub fn registers(&self) -> Result<Vec<u8>, HllError> {
        let mut r = vec![0u8; REGISTERS];
        self.merge_into(&mut r)?;
        Ok(r)
    }

    /// What single-key PFCOUNT answers: the cached value when valid,
    /// otherwise the estimate (Redis's `hllCount`).
    pub fn count(&self) -> Result<u64, HllError> {
        if let Some(c) = self.cached {
            return Ok(c);
        }
        if self.dense {
            return Ok(count(&self.registers()?));
        }
        // hllSparseRegHisto: counts runs without bounds; invalid unless
        // they cover exactly every register.
        let mut histo = [0u64; 64];
        let p = self.body;
        let (mut idx, mut k) = (0u64, 0usize);
        while k < p.len() {
            let op = p[k];
            if op & 0xc0 == 0 {
                let run = (op & 0x3f) as u64 + 1;
                idx += run;
                histo[0] += run;
                k += 1;
            } else if op & 0xc0 == 0x40 {
                let lo = p.get(k + 1).copied().unwrap_or(0) as u64;
                let run = (((op & 0x3f) as u64) << 8 | lo) + 1;
                idx += run;
                histo[0] += run;
                k += 2;
            } else {
                let run = (op & 3) as u64 + 1;
                let val = ((op >> 2) & 0x1f) as usize + 1;
                idx += run;
                histo[val] += run;
                k += 1;
            }
        }
        if idx != REGISTERS as u64 {
            return Err(HllError::Corrupt);
        }
        Ok(count_histo(&histo))
    }
}

// ---- registers -------------------------------------------------------------

/// A register array: sorted `(index, value)` pairs of the non-zero
/// registers while few, a full array past [`SPARSE_MAX`].
#[derive(Clone, Debug, Default)]
pub struct Regs {
    sparse: Vec<(u16, u8)>,
    dense: Option<Box<[u8]>>,
    /// The HyperLogLog's [`Shape`] (kept here, with the settled registers,
    /// so that it goes wherever they go and is reset when they are cleared).
    shape: Shape,
}

impl PartialEq for Regs {
    fn eq(&self, other: &Regs) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Regs {
    pub fn get(&self, i: u16) -> u8 {
        match &self.dense {
            Some(d) => d[i as usize],
            None => match self.sparse.binary_search_by_key(&i, |p| p.0) {
                Ok(k) => self.sparse[k].1,
                Err(_) => 0,
            },
        }
    }

    /// Raises register `i` to `v`; true if it was lower.
    pub fn raise(&mut self, i: u16, v: u8) -> bool {
        let v = v.min(REGISTER_MAX);
        if v == 0 || i as usize >= REGISTERS {
            return false;
        }
        if let Some(d) = &mut self.dense {
            if d[i as usize] < v {
                d[i as usize] = v;
                return true;
            }
            return false;
        }
        match self.sparse.binary_search_by_key(&i, |p| p.0) {
            Ok(k) => {
                if self.sparse[k].1 < v {
                    self.sparse[k].1 = v;
                    return true;
                }
                false
            }
            Err(k) => {
                self.sparse.insert(k, (i, v));
                if self.sparse.len() > SPARSE_MAX {
                    let mut d = vec![0u8; REGISTERS].into_boxed_slice();
                    for &(j, x) in &self.sparse {
                        d[j as usize] = x;
                    }
                    self.sparse = Vec::new();
                    self.dense = Some(d);
                }
                true
            }
        }
    }

    /// The non-zero registers in index order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (u16, u8)> + '_> {
        match &self.dense {
            Some(d) => Box::new(d.iter().enumerate().filter(|(_, &v)| v != 0).map(|(i, &v)| (i as u16, v))),
            None => Box::new(self.sparse.iter().copied()),
        }
    }

    pub fn max_into(&self, out: &mut [u8]) {
        for (i, v) in self.iter() {
            let o = &mut out[i as usize];
            if v > *o {
                *o = v;
            }
        }
    }

    pub fn clear(&mut self) {
        *self = Regs::default();
    }
}

// ---- the CRDT value --------------------------------------------------------

/// An add not settled yet: it observed effects this instance has not.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAdd {
    pub dot: Dot,
    pub hlc: Hlc,
    pub ctx: VersionVector,
    pub regs: Vec<(u16, u8)>,
}

impl PendingAdd {
    fn stamp(&self) -> Stamp {
        Stamp { hlc: self.hlc, origin: self.dot.origin }
    }
}

/// A HyperLogLog key's value (see the module doc for the rule).
#[derive(Clone, Debug, Default)]
pub struct Hll {
    /// Register-wise maximum of the settled adds.
    pub settled: Regs,
    /// Join of the settled adds' dots; empty iff there are none.
    pub settled_ctx: VersionVector,
    /// Greatest stamp of the settled adds.
    pub settled_rank: Stamp,
    /// Sorted by dot.
    pub pending: Vec<PendingAdd>,
}

impl PartialEq for Hll {
    /// Equal visible registers, alive dots and rank, whatever is settled.
    fn eq(&self, other: &Hll) -> bool {
        let mut a = VersionVector::new();
        let mut b = VersionVector::new();
        self.ctx(&mut a);
        other.ctx(&mut b);
        a == b && self.rank() == other.rank() && self.registers() == other.registers()
    }
}

impl Hll {
    pub fn is_empty(&self) -> bool {
        self.settled_ctx.is_empty() && self.pending.is_empty()
    }

    /// The visible registers (settled and pending).
    pub fn registers(&self) -> Vec<u8> {
        let mut r = vec![0u8; REGISTERS];
        self.settled.max_into(&mut r);
        for p in &self.pending {
            for &(i, v) in &p.regs {
                let o = &mut r[i as usize % REGISTERS];
                if v > *o {
                    *o = v.min(REGISTER_MAX);
                }
            }
        }
        r
    }

    /// One register as visible.
    pub fn get(&self, i: u16) -> u8 {
        let mut v = self.settled.get(i);
        for p in &self.pending {
            for &(j, x) in &p.regs {
                if j == i && x > v {
                    v = x;
                }
            }
        }
        v
    }

    pub fn count(&self) -> u64 {
        count(&self.registers())
    }

    /// How a standalone shard shows it (see [`Shape`]).
    pub fn shape(&self) -> Shape {
        self.settled.shape
    }

    pub fn shape_mut(&mut self) -> &mut Shape {
        &mut self.settled.shape
    }

    /// Redis's `HYLL` string as a standalone Redis would hold it.
    pub fn encode_shaped(&self) -> Vec<u8> {
        encode_shaped(&self.registers(), self.shape())
    }

    pub fn rank(&self) -> Stamp {
        self.pending.iter().map(|p| p.stamp()).chain(std::iter::once(self.settled_rank)).max().unwrap_or_default()
    }

    /// The dots of every alive add.
    pub fn ctx(&self, out: &mut VersionVector) {
        out.join(&self.settled_ctx);
        for p in &self.pending {
            out.observe(p.dot);
        }
    }

    fn settle_one(&mut self, dot: Dot, hlc: Hlc, regs: &[(u16, u8)]) {
        for &(i, v) in regs {
            self.settled.raise(i, v);
        }
        self.settled_ctx.observe(dot);
        let s = Stamp { hlc, origin: dot.origin };
        if s > self.settled_rank {
            self.settled_rank = s;
        }
    }

    /// Adds an add that survived the removals applied so far. `vv` is the
    /// instance's observed vector. Returns true if it stays pending.
    pub fn add(&mut self, dot: Dot, hlc: Hlc, ctx: &VersionVector, regs: &[(u16, u8)], vv: &VersionVector) -> bool {
        if ctx.le(vv) {
            self.settle_one(dot, hlc, regs);
            return false;
        }
        if let Err(i) = self.pending.binary_search_by_key(&dot, |p| p.dot) {
            self.pending.insert(i, PendingAdd { dot, hlc, ctx: ctx.clone(), regs: regs.to_vec() });
        }
        true
    }

    /// A removal with dot `removal` was applied: it kills every settled add
    /// and every pending add that had not observed it.
    pub fn kill(&mut self, removal: Dot) -> usize {
        let mut n = 0;
        if !self.settled_ctx.is_empty() {
            n += 1;
            self.settled.clear();
            self.settled_ctx = VersionVector::new();
            self.settled_rank = Stamp::default();
        }
        let before = self.pending.len();
        self.pending.retain(|p| p.ctx.covers(removal));
        n + before - self.pending.len()
    }

    /// Settles the pending adds whose context `vv` covers. Returns how many.
    pub fn settle(&mut self, vv: &VersionVector) -> usize {
        let (ready, rest): (Vec<PendingAdd>, Vec<PendingAdd>) = std::mem::take(&mut self.pending).into_iter().partition(|p| p.ctx.le(vv));
        self.pending = rest;
        let n = ready.len();
        for p in ready {
            self.settle_one(p.dot, p.hlc, &p.regs);
        }
        n
    }

    /// Observed-remove by a context (a plain DEL/SET and pending
    /// tombstones): removes nothing. HyperLogLog adds die only by the
    /// DEL-wins rule ([`Hll::kill`]). A plain removal whose context covers an
    /// add was committed where that add was already dead, so the HLL
    /// removal that killed it there reaches every instance and kills it
    /// (and every add it beats) here too; removing only the covered adds
    /// now would make the state depend on which adds are settled (their
    /// dots are merged) and on arrival order.
    pub fn remove(&mut self, _ctx: &VersionVector) -> usize {
        0
    }

    /// Full-sync join of `other` (state `S`) into `self` (state `M`); see
    /// the module doc. `mine`/`theirs` are the two observed vectors,
    /// `my_dels`/`their_dels` the key's removal records.
    pub fn merge(
        &mut self,
        other: &Hll,
        mine: &VersionVector,
        theirs: &VersionVector,
        my_dels: &VersionVector,
        their_dels: &VersionVector,
    ) {
        if !their_dels.le(mine) {
            self.settled.clear();
            self.settled_ctx = VersionVector::new();
            self.settled_rank = Stamp::default();
        }
        self.pending.retain(|p| their_dels.le(&p.ctx));
        if !other.settled_ctx.is_empty() && my_dels.le(theirs) && !other.settled_ctx.le(mine) {
            for (i, v) in other.settled.iter() {
                self.settled.raise(i, v);
            }
            self.settled_ctx.join(&other.settled_ctx);
            if other.settled_rank > self.settled_rank {
                self.settled_rank = other.settled_rank;
            }
        }
        for p in &other.pending {
            if mine.covers(p.dot) || !my_dels.le(&p.ctx) {
                continue;
            }
            if let Err(i) = self.pending.binary_search_by_key(&p.dot, |q| q.dot) {
                self.pending.insert(i, p.clone());
            }
        }
    }
}

// ---- keyspace-level state ----------------------------------------------------

/// The DEL-wins bookkeeping of a keyspace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HllMeta {
    /// Per key: the removals applied (per origin, the highest seq).
    pub dels: HashMap<Blob, VersionVector>,
    /// Keys that may hold pending adds.
    pub pending: HashSet<Blob>,
}

impl Db {
    /// Rewrites a local op before it gets its dot: an add gets the
    /// instance's observed vector as `ctx`; a DEL or SET of a key holding a
    /// HyperLogLog becomes its DEL-wins form.
    /// (`entry`: the key's entry, for a SET or DEL.)
    pub(crate) fn hll_prepare(&self, op: Op, entry: Option<&crate::db::Entry>) -> Op {
        let holds_hll = || entry.is_some_and(|e| e.values().any(|v| matches!(v, Value::Hll(_))));
        match op {
            Op::HllAdd { key, regs, .. } => Op::HllAdd { key, regs, ctx: self.vv.clone() },
            Op::Del { key, ctx } if holds_hll() => Op::HllDel { key, ctx },
            Op::Set { key, ctx, value, keep_ttl } if holds_hll() => Op::HllSet { key, ctx, value, keep_ttl },
            op => op,
        }
    }

    /// The HyperLogLog a key holds, for updating its local [`Shape`].
    pub fn hll_mut(&mut self, key: &[u8]) -> Option<&mut Hll> {
        self.entries.get_mut(key)?.values_mut().find_map(|v| match v {
            Value::Hll(h) => Some(&mut **h),
            _ => None,
        })
    }

    /// True when an add with this context survives the removals applied.
    pub(crate) fn hll_survives(&self, key: &[u8], ctx: &VersionVector) -> bool {
        self.hll.dels.get(key).is_none_or(|d| d.le(ctx))
    }

    /// Applies the DEL-wins part of a removal: records it and kills the adds
    /// it beats.
    pub(crate) fn hll_removed(&mut self, key: &Blob, removal: Dot) {
        self.hll.dels.entry(key.clone()).or_default().observe(removal);
        let Some(entry) = self.entries.get_mut(&key[..]) else { return };
        let mut killed = 0;
        for v in entry.values_mut() {
            if let Value::Hll(h) = v {
                killed += h.kill(removal);
            }
        }
        if killed > 0 {
            entry.normalize_pub();
            if entry.is_dead() {
                self.entries.swap_remove(&key[..]);
            }
        }
    }

    /// GC: settles pending adds and drops removal records every instance
    /// has observed. Returns items collected.
    pub(crate) fn hll_gc(&mut self) -> usize {
        let mut n = 0;
        if !self.hll.dels.is_empty() {
            let gvc = self.gvc_min();
            self.hll.dels.retain(|_, d| {
                let before = d.len();
                let kept = VersionVector::from_pairs(d.iter().filter(|&(id, seq)| gvc.get(id) < seq).map(|(id, seq)| (id.0, seq)));
                n += before - kept.len();
                *d = kept;
                !d.is_empty()
            });
        }
        if !self.hll.pending.is_empty() {
            let keys: Vec<Blob> = self.hll.pending.drain().collect();
            for key in keys {
                let Some(entry) = self.entries.get_mut(&key[..]) else { continue };
                let mut left = false;
                for v in entry.values_mut() {
                    if let Value::Hll(h) = v {
                        n += h.settle(&self.vv);
                        left |= !h.pending.is_empty();
                    }
                }
                if left {
                    self.hll.pending.insert(key);
                }
            }
        }
        n
    }

    /// After a full-sync merge: joins the removal records and notes keys
    /// with pending adds.
    pub(crate) fn hll_merged(&mut self, other: &Db) {
        for (k, d) in &other.hll.dels {
            self.hll.dels.entry(k.clone()).or_default().join(d);
        }
        for (k, e) in &self.entries {
            if e.values().any(|v| matches!(v, Value::Hll(h) if !h.pending.is_empty())) {
                self.hll.pending.insert(k[..].into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effect::Effect;
    use crate::id::InstanceId;

    #[test]
    fn murmur_and_patlen_match_redis() {
        // Values from redis-server 7.0 (PFADD then PFDEBUG GETREG).
        assert_eq!(murmur64a(b"", 0xadc83b19), murmur64a(b"", 0xadc83b19));
        let (i, c) = pat_len(b"a");
        assert!((i as usize) < REGISTERS && (1..=51).contains(&c));
    }

    #[test]
    fn estimator_small_and_empty() {
        assert_eq!(count(&[0u8; REGISTERS]), 0);
        let mut r = vec![0u8; REGISTERS];
        for e in [b"a".as_slice(), b"b", b"c"] {
            let (i, c) = pat_len(e);
            r[i as usize] = r[i as usize].max(c);
        }
        assert_eq!(count(&r), 3);
    }

    #[test]
    fn dense_roundtrip() {
        let mut r = vec![0u8; REGISTERS];
        for (i, x) in r.iter_mut().enumerate() {
            *x = ((i * 7) % 64) as u8;
        }
        let s = encode_dense(&r);
        assert_eq!(s.len(), DENSE_SIZE);
        let p = parse(&s).unwrap();
        assert!(p.dense);
        assert_eq!(p.registers().unwrap(), r);
        assert_eq!(p.cached, Some(count(&r)));
    }

    #[test]
    fn sparse_decode() {
        // XZERO:1000 VAL:2,1 ZERO:19 VAL:3,2 XZERO:15362
        let mut s = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        let x = |n: usize| [0x40 | ((n - 1) >> 8) as u8, ((n - 1) & 0xff) as u8];
        s.extend_from_slice(&x(1000));
        s.push(0x80 | (1 << 2));
        s.push(18);
        s.push(0x80 | (2 << 2) | 1);
        s.extend_from_slice(&x(15362));
        let p = parse(&s).unwrap();
        let r = p.registers().unwrap();
        assert_eq!((r[1000], r[1020], r[1021], r[1022]), (2, 3, 3, 0));
        assert_eq!(p.count().unwrap(), count(&r));
        s.pop();
        assert_eq!(parse(&s).unwrap().registers(), Err(HllError::Corrupt));
        assert!(parse(b"HYLL\x00").is_err());
    }

    #[test]
    fn shaped_encoding_roundtrips() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for n in [0usize, 1, 3, 100, 1500, 5000] {
            let mut r = vec![0u8; REGISTERS];
            for _ in 0..n {
                r[rng.gen_range(0..REGISTERS)] = rng.gen_range(1..=SPARSE_VAL_MAX);
            }
            let s = encode_shaped(&r, Shape::default());
            let p = parse(&s).unwrap();
            assert_eq!(p.dense, needs_dense(&r) && n > 0, "{n}");
            assert_eq!(p.registers().unwrap(), r);
            // A valid-looking cache that does not match is shown stale.
            assert_eq!(p.cached.is_some(), n == 0);
            let s = encode_shaped(&r, Shape { card: count(&r), dense: false });
            assert_eq!(parse(&s).unwrap().cached, Some(count(&r)));
        }
        assert_eq!(encode_sparse_body(&[0u8; REGISTERS]).unwrap(), vec![0x7f, 0xff]);
        assert_eq!(decode_sparse(&[0x7f, 0xff]), "Z:16384");
        let mut r = vec![0u8; REGISTERS];
        r[0] = 33;
        assert!(encode_sparse_body(&r).is_none() && needs_dense(&r));
    }

    // ---- convergence under random interleavings ----

    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    const K: &[u8] = b"h";

    fn add_op(db: &Db, rng: &mut SmallRng) -> Option<Op> {
        // Raise a few registers above what this instance sees.
        let cur = db.get(K).and_then(|e| match &e.value {
            Some(Value::Hll(h)) => Some(h.registers()),
            _ => None,
        });
        let mut regs = Vec::new();
        for _ in 0..rng.gen_range(0..3) {
            let i = rng.gen_range(0..8u16);
            let v = rng.gen_range(1..6u8);
            if cur.as_ref().map_or(0, |c| c[i as usize]) < v && !regs.iter().any(|&(j, _)| j == i) {
                regs.push((i, v));
            }
        }
        if cur.is_some() && regs.is_empty() {
            return None;
        }
        Some(Op::HllAdd { key: K.into(), regs, ctx: VersionVector::new() })
    }

    fn state(db: &Db) -> (Option<Vec<u8>>, u64) {
        let regs = db.get(K).and_then(|e| match &e.value {
            Some(Value::Hll(h)) => Some(h.registers()[..8].to_vec()),
            Some(Value::Str(_)) => Some(b"string".to_vec()),
            _ => None,
        });
        (regs, db.digest())
    }

    /// The rule stated on the whole history: an add is alive iff its ctx
    /// covers every HLL removal (and no later SET replaced the key).
    fn oracle(all: &[Effect]) -> Option<Vec<u8>> {
        let removals: Vec<Dot> = all.iter().filter(|e| matches!(e.op, Op::HllDel { .. } | Op::HllSet { .. })).map(|e| e.dot).collect();
        let mut regs = vec![0u8; 8];
        let mut any = false;
        for e in all {
            if let Op::HllAdd { ctx, regs: r, .. } = &e.op {
                if removals.iter().all(|d| ctx.covers(*d)) {
                    any = true;
                    for &(i, v) in r {
                        regs[i as usize] = regs[i as usize].max(v);
                    }
                }
            }
        }
        any.then_some(regs)
    }

    #[test]
    fn del_wins_converges_in_random_interleavings() {
        let schedules: u64 = std::env::var("HLL_SCHEDULES").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
        let mut del_wins_seen = 0;
        for seed in 0..schedules {
            let mut rng = SmallRng::seed_from_u64(seed);
            let n = rng.gen_range(2..=4usize);
            let ids: Vec<InstanceId> = (1..=n as u16).map(InstanceId).collect();
            let mut dbs: Vec<Db> = ids
                .iter()
                .map(|&id| {
                    let mut d = Db::new(id);
                    d.set_members(&ids);
                    d
                })
                .collect();
            let mut logs: Vec<Vec<Effect>> = vec![Vec::new(); n];
            let mut delivered = vec![vec![0usize; n]; n];
            let mut snaps: Vec<Db> = Vec::new();
            let mut wall = 1000u64;
            let mut uses_set = false;
            for _ in 0..rng.gen_range(10..80) {
                wall += rng.gen_range(0..3);
                let at = rng.gen_range(0..n);
                match rng.gen_range(0..25) {
                    0..=6 => {
                        if let Some(op) = add_op(&dbs[at], &mut rng) {
                            logs[at].push(dbs[at].commit(op, wall));
                        }
                    }
                    7..=8 => {
                        if dbs[at].get(K).is_some() {
                            let ctx = dbs[at].entries[K].ctx();
                            let op = if rng.gen_bool(0.8) {
                                Op::Del { key: K.into(), ctx }
                            } else {
                                uses_set = true;
                                Op::Set { key: K.into(), ctx, value: (*b"x").into(), keep_ttl: false }
                            };
                            logs[at].push(dbs[at].commit(op, wall));
                        }
                    }
                    9..=14 => {
                        let from = rng.gen_range(0..n);
                        if from != at {
                            let k = rng.gen_range(1..4);
                            for _ in 0..k {
                                let i = delivered[at][from];
                                if i < logs[from].len() {
                                    dbs[at].apply(&logs[from][i]);
                                    delivered[at][from] += 1;
                                }
                            }
                        }
                    }
                    15 => {
                        // duplicate
                        let from = rng.gen_range(0..n);
                        let i = delivered[at][from];
                        if i > 0 && from != at {
                            let back = rng.gen_range(0..i);
                            assert_eq!(dbs[at].apply(&logs[from][back]), crate::db::Applied::Duplicate);
                        }
                    }
                    16..=18 => {
                        let from = rng.gen_range(0..n);
                        if from != at {
                            let src = if !snaps.is_empty() && rng.gen_bool(0.4) {
                                snaps[rng.gen_range(0..snaps.len())].clone()
                            } else {
                                dbs[from].clone()
                            };
                            // A snapshot carries its owner's stream position.
                            if src.me == ids[at] {
                                continue;
                            }
                            let owner = ids.iter().position(|&x| x == src.me).unwrap();
                            dbs[at].merge(&src);
                            for o in 0..n {
                                let seen = dbs[at].vv.get(ids[o]) as usize;
                                delivered[at][o] = delivered[at][o].max(seen);
                            }
                            let _ = owner;
                        }
                    }
                    19 => snaps.push(dbs[at].clone()),
                    20..=22 => {
                        let e = dbs[at].announce(wall);
                        logs[at].push(e);
                    }
                    _ => {
                        dbs[at].gc();
                    }
                }
            }
            // Deliver everything, in random per-origin-FIFO order.
            loop {
                let pending: Vec<(usize, usize)> = (0..n)
                    .flat_map(|to| (0..n).map(move |from| (to, from)))
                    .filter(|&(to, from)| to != from && delivered[to][from] < logs[from].len())
                    .collect();
                if pending.is_empty() {
                    break;
                }
                let (to, from) = pending[rng.gen_range(0..pending.len())];
                let i = delivered[to][from];
                dbs[to].apply(&logs[from][i]);
                delivered[to][from] += 1;
                if rng.gen_bool(0.1) {
                    dbs[to].gc();
                }
            }
            let s0 = state(&dbs[0]);
            for d in &dbs[1..] {
                assert_eq!(state(d), s0, "seed {seed}: instances diverged");
            }
            let all: Vec<Effect> = logs.concat();
            if !uses_set {
                let expect = oracle(&all);
                assert_eq!(s0.0, expect, "seed {seed}: not the DEL-wins result");
                let adds = all.iter().filter(|e| matches!(e.op, Op::HllAdd { .. })).count();
                if adds > 0 && expect.is_none() {
                    del_wins_seen += 1;
                }
            }
            for d in &mut dbs {
                d.gc();
            }
            for d in &dbs[1..] {
                assert_eq!(state(d), s0, "seed {seed}: gc changed the state");
            }
        }
        assert!(del_wins_seen > 10, "the generator rarely exercised DEL-wins ({del_wins_seen})");
    }

    /// A stale snapshot holding a pending add killed by a removal whose
    /// record GC has since dropped must not bring the add back.
    #[test]
    fn stale_snapshot_after_gc_does_not_resurrect() {
        let ids = [InstanceId(1), InstanceId(2), InstanceId(3)];
        let mut d: Vec<Db> = ids
            .iter()
            .map(|&id| {
                let mut x = Db::new(id);
                x.set_members(&ids);
                x
            })
            .collect();
        let add = |regs| Op::HllAdd { key: K.into(), regs, ctx: VersionVector::new() };
        let a1 = d[0].commit(add(vec![(1, 1)]), 1);
        d[1].apply(&a1);
        let a2 = d[1].commit(add(vec![(2, 2)]), 2); // ctx {1:1}
        d[2].apply(&a2); // pending at 3: it has not seen 1:1
        assert!(d[2].hll.pending.contains(K));
        let stale = d[2].clone();
        let ctx = d[0].entries[K].ctx();
        let r = d[0].commit(Op::Del { key: K.into(), ctx }, 3); // concurrent with a2
        d[0].apply(&a2);
        for (to, e) in [(1, &r), (2, &a1), (2, &r)] {
            d[to].apply(e);
        }
        let ann: Vec<Effect> = d.iter_mut().map(|x| x.announce(4)).collect();
        for (i, x) in d.iter_mut().enumerate() {
            for (j, e) in ann.iter().enumerate() {
                if i != j {
                    x.apply(e);
                }
            }
            x.gc();
        }
        assert!(d[0].hll.dels.is_empty(), "the removal record was collected");
        d[0].merge(&stale);
        assert!(d[0].get(K).is_none());
        assert_eq!(d[0].digest(), d[1].digest());
    }

    /// Two instances that applied the same effects hold the same
    /// HyperLogLog, whichever of its adds each has settled: a plain SET
    /// whose context covers only some of the adds (its origin saw them
    /// removed by a DEL not delivered here yet) must not split them.
    #[test]
    fn same_effects_same_state_whatever_is_settled() {
        let ids: Vec<InstanceId> = (1..=5).map(InstanceId).collect();
        let mut d: Vec<Db> = ids
            .iter()
            .map(|&id| {
                let mut x = Db::new(id);
                x.set_members(&ids);
                x
            })
            .collect();
        let add = |regs| Op::HllAdd { key: K.into(), regs, ctx: VersionVector::new() };
        let a2 = d[2].commit(add(vec![(2, 2)]), 1); // 3:1, ctx {}
        d[0].apply(&a2);
        let a1 = d[0].commit(add(vec![(1, 1)]), 2); // 1:1, ctx {3:1}
        let ctx = d[0].entries[K].ctx();
        let r = d[0].commit(Op::Del { key: K.into(), ctx }, 3); // 1:2, DEL wins
        let x = d[0].commit(Op::Set { key: K.into(), ctx: VersionVector::new(), value: (*b"x").into(), keep_ttl: false }, 4); // 1:3
        for e in [&a2, &a1, &r, &x] {
            d[1].apply(e);
        }
        let ctx = d[1].entries[K].ctx();
        let u = d[1].commit(Op::Set { key: K.into(), ctx, value: (*b"y").into(), keep_ttl: false }, 5); // 2:1, ctx {1:3}
        assert!(matches!(u.op, Op::Set { .. }), "the key held no HyperLogLog at instance 2");
        // Instance 4 gets a1 before a2 (a1 stays pending), instance 5 the other way.
        for e in [&a1, &a2, &u] {
            d[3].apply(e);
        }
        for e in [&a2, &a1, &u] {
            d[4].apply(e);
        }
        assert_eq!(d[3].digest(), d[4].digest());
        d[3].gc();
        assert_eq!(d[3].digest(), d[4].digest());
        for e in [&r, &x] {
            d[3].apply(e);
            d[4].apply(e);
        }
        assert_eq!(d[3].digest(), d[4].digest());
        assert!(matches!(d[3].get(K).unwrap().value, Some(Value::Str(_))));
    }

    #[test]
    fn del_concurrent_with_add_deletes_everywhere() {
        let ids = [InstanceId(1), InstanceId(2)];
        let mut a = Db::new(ids[0]);
        let mut b = Db::new(ids[1]);
        a.set_members(&ids);
        b.set_members(&ids);
        let e1 = a.commit(Op::HllAdd { key: K.into(), regs: vec![(1, 1)], ctx: VersionVector::new() }, 1);
        b.apply(&e1);
        let e2 = a.commit(Op::HllAdd { key: K.into(), regs: vec![(2, 2)], ctx: VersionVector::new() }, 2);
        let ctx = b.entries[K].ctx();
        let d = b.commit(Op::Del { key: K.into(), ctx }, 2);
        assert!(matches!(d.op, Op::HllDel { .. }));
        a.apply(&d);
        b.apply(&e2);
        assert!(a.get(K).is_none() && b.get(K).is_none());
        // An add after seeing the DEL survives.
        let e3 = b.commit(Op::HllAdd { key: K.into(), regs: vec![(3, 3)], ctx: VersionVector::new() }, 3);
        a.apply(&e3);
        assert_eq!(a.digest(), b.digest());
        assert!(a.get(K).is_some());
    }
}

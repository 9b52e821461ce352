//! [`Fields`]: a hash's fields, each a [`Cell`], in one of two encodings.
//!
//! A small hash is *packed*: every field is one record in a single byte
//! buffer, as Redis keeps a small hash in one listpack. A field with one
//! register version and no counter increments (nearly every field) is a
//! *simple* record, about 14 bytes of metadata-plus-lengths around its
//! field and value bytes:
//!
//! ```text
//! simple:  var(field_len << 1 | 0) field  var(value_len) value  var(origin) var(seq)  hlc
//! complex: var(field_len << 1 | 1) field  var(body_len) body
//!   hlc  = var(zigzag(ms - base_ms) << 1 | logical != 0) [var(logical)]
//!   body = var(#versions) (var(value_len) value var(origin) var(seq) hlc)*
//!          var(#runs) (var(origin) var(first) var(last) var(hlc) sum)*
//!   sum  = var128(zigzag(int)) u8(is_float) var(#float) f64le* var(#big) f64le*
//! ```
//!
//! `var` is LEB128. HLCs are stored as milliseconds relative to the pack's
//! `base_ms` (the first write's), so writes a few seconds apart take 2-3
//! bytes instead of 8. Any other cell (concurrent versions, counter runs) is
//! a *complex* record holding the whole cell. Records keep insertion order
//! (as a listpack: HGETALL lists a small hash in the order fields were
//! added); lookups scan them.
//!
//! Every change to a packed field decodes the field into a [`Cell`], runs
//! the very same `Cell` method the map encoding runs, and encodes the
//! result back: the two encodings cannot disagree on a CRDT rule. One
//! exception, HSET's hot path ([`Fields::set_field`]): a write whose context
//! covers a simple record's only version replaces that record with the new
//! simple record in place (what the decode, `Cell::remove`, `Cell::write`
//! and encode would give; a property test compares the two). Reads of
//! simple records borrow the bytes in place ([`FieldRef::One`]).
//!
//! A packed hash becomes a map (`Fields::Map`, a hash table of cells) once
//! it has more than `Limits::entries` fields or a field name, a register
//! value or a counter's shown value longer than `Limits::value`
//! (hash-max-listpack-entries / -value), and stays one, as in Redis. The
//! encoding is local to an instance: the digest, the snapshot format and
//! every effect see only fields and cells. (Rejected: keeping fields sorted
//! for binary search: inserts in the middle move as many bytes, the records
//! have variable sizes, and Redis's order is insertion order.)

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use crate::cell::{Blob, Cell, Run, Shown, Version};
use crate::id::{Dot, Hlc, InstanceId, PackedDot, Stamp, VersionVector};
use crate::num::Sum;
use crate::FastMap;
use thin_vec::ThinVec;

/// When a hash stays packed: at most `entries` fields, and field names and
/// values of at most `value` bytes. Redis 7.0's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { entries: 512, value: 64 }
    }
}

/// A hash's fields: packed while small, a hash table of cells after.
#[derive(Clone)]
pub enum Fields {
    Packed(Pack),
    /// Boxed: `Fields` stays 24 bytes (a packed hash inline), so that
    /// `Value` is 32 with a `Cell` its only variant of that size.
    Map(Box<FastMap<Blob, Cell>>),
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::Packed(Pack::default())
    }
}

/// The packed encoding: records in one buffer, kept at its exact size
/// (jemalloc rounds it to its size class; growing within the class is in
/// place).
#[derive(Default)]
pub struct Pack {
    /// A thin vector (length and capacity in the allocation's 16-byte
    /// header): `Pack` is 24 bytes, `Fields` 24 and `Value` 32.
    buf: ThinVec<u8>,
    /// The HLC milliseconds records are relative to.
    base_ms: u64,
    /// Records in `buf`.
    count: u32,
    /// Where the last field looked up starts: always the start of a record
    /// (or 0), so it is checked first. An HSET looks its field up twice
    /// (the origin's context, then [`Fields::set_field`]): one scan.
    hint: AtomicU32,
}

impl Clone for Pack {
    fn clone(&self) -> Pack {
        let hint = AtomicU32::new(self.hint.load(Relaxed));
        Pack { buf: self.buf.clone(), base_ms: self.base_ms, count: self.count, hint }
    }
}

/// What [`Fields::set_field`] found of the field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetField {
    /// The field existed.
    pub existed: bool,
    /// Something of it survived the removal (an add-wins conflict when the
    /// removal had a context).
    pub survived: bool,
    /// A register version survived the removal (the write is a
    /// last-write-wins conflict).
    pub overwrote: bool,
}

/// One field's cell, borrowed from either encoding.
#[derive(Clone, Debug)]
pub enum FieldRef<'a> {
    Cell(&'a Cell),
    /// A simple record: one version, no increments.
    One { pdot: PackedDot, hlc: Hlc, value: &'a [u8] },
    /// A complex record, decoded.
    Owned(Cell),
}

impl FieldRef<'_> {
    pub fn shown(&self) -> Shown<'_> {
        match self {
            FieldRef::Cell(c) => c.shown(),
            FieldRef::One { value, .. } => Shown::Bytes(value),
            FieldRef::Owned(c) => c.shown(),
        }
    }

    pub fn ctx(&self, out: &mut VersionVector) {
        match self {
            FieldRef::Cell(c) => c.ctx(out),
            FieldRef::One { pdot, .. } => out.observe(pdot.get()),
            FieldRef::Owned(c) => c.ctx(out),
        }
    }

    pub fn rank(&self) -> Stamp {
        match self {
            FieldRef::Cell(c) => c.rank(),
            FieldRef::One { pdot, hlc, .. } => Stamp { hlc: *hlc, origin: pdot.get().origin },
            FieldRef::Owned(c) => c.rank(),
        }
    }

    /// The cell itself (a simple record is copied into one).
    pub fn as_cell(&self) -> Cow<'_, Cell> {
        match self {
            FieldRef::Cell(c) => Cow::Borrowed(*c),
            FieldRef::One { pdot, hlc, value } => Cow::Owned(one_cell(*pdot, *hlc, value)),
            FieldRef::Owned(c) => Cow::Borrowed(c),
        }
    }
}

fn one_cell(pdot: PackedDot, hlc: Hlc, value: &[u8]) -> Cell {
    Cell::from_parts([Version { pdot, hlc, value: value.into() }], [])
}

impl Fields {
    pub fn len(&self) -> usize {
        match self {
            Fields::Packed(p) => p.count as usize,
            Fields::Map(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the hash is packed (OBJECT ENCODING says "listpack").
    pub fn is_packed(&self) -> bool {
        matches!(self, Fields::Packed(_))
    }

    pub fn get(&self, field: &[u8]) -> Option<FieldRef<'_>> {
        match self {
            Fields::Packed(p) => p.find(field).map(|(start, _)| p.record(start).0.field_ref(p.base_ms)),
            Fields::Map(m) => m.get(field).map(FieldRef::Cell),
        }
    }

    /// Adds what this instance observed of `field` to `out` (the context
    /// HSET and HDEL send); false if the field is absent. A simple record's
    /// dot is read in place.
    pub fn field_ctx(&self, field: &[u8], out: &mut VersionVector) -> bool {
        match self {
            Fields::Packed(p) => match p.locate(field) {
                None => false,
                Some(Loc { one: Some(pdot), .. }) => {
                    out.observe(pdot.get());
                    true
                }
                Some(loc) => {
                    p.record(loc.start).0.cell(p.base_ms).ctx(out);
                    true
                }
            },
            Fields::Map(m) => m.get(field).map(|c| c.ctx(out)).is_some(),
        }
    }

    pub fn contains_key(&self, field: &[u8]) -> bool {
        match self {
            Fields::Packed(p) => p.find(field).is_some(),
            Fields::Map(m) => m.contains_key(field),
        }
    }

    /// The fields and their cells: a packed hash in insertion order, a map
    /// in its table's order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Fields::Packed(p) => Iter::Packed { pack: p, pos: 0 },
            Fields::Map(m) => Iter::Map(m.iter()),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(f, _)| f)
    }

    pub fn values(&self) -> impl Iterator<Item = FieldRef<'_>> {
        self.iter().map(|(_, c)| c)
    }

    /// Runs `f` on the cell of `field` and keeps the result. Without
    /// `create` an absent field is left absent (and `f` does not run). A
    /// cell `f` empties is removed, unless `keep_empty` (an add to it
    /// follows at once: the field keeps its place, as Redis overwrites a
    /// listpack entry in place). A packed hash that no longer fits `limits`
    /// becomes a map.
    pub fn update<R>(&mut self, field: &[u8], limits: &Limits, create: bool, keep_empty: bool, f: impl FnOnce(&mut Cell) -> R) -> Option<R> {
        match self {
            Fields::Map(m) => {
                let r = if create {
                    if !m.contains_key(field) {
                        m.insert(field.into(), Cell::default());
                    }
                    f(m.get_mut(field).expect("inserted above"))
                } else {
                    f(m.get_mut(field)?)
                };
                if !keep_empty && m.get(field).is_some_and(|c| c.is_empty()) {
                    m.remove(field);
                }
                Some(r)
            }
            Fields::Packed(p) => {
                let found = p.find(field);
                if found.is_none() && !create {
                    return None;
                }
                let mut cell = match found {
                    Some((start, _)) => p.record(start).0.cell(p.base_ms),
                    None => Cell::default(),
                };
                let r = f(&mut cell);
                let fits = fits(field, &cell, limits);
                match found {
                    Some(range) if cell.is_empty() && !keep_empty => p.remove_range(range),
                    Some(range) => p.replace(range, field, &cell),
                    None if cell.is_empty() && !keep_empty => {}
                    None => p.push(field, &cell),
                }
                if !fits || p.count as usize > limits.entries {
                    self.convert();
                }
                Some(r)
            }
        }
    }

    /// Removes the items of `field` that `ctx` covers (HDEL, the removal
    /// half of HSET). Returns None if the field is absent, else whether
    /// something of it is still alive. An emptied field is removed unless
    /// `keep_empty` (see [`Fields::update`]). A removal never converts.
    pub fn remove_field(&mut self, field: &[u8], ctx: &VersionVector, keep_empty: bool) -> Option<bool> {
        let limits = Limits { entries: usize::MAX, value: usize::MAX };
        self.update(field, &limits, false, keep_empty, |cell| {
            cell.remove(ctx);
            !cell.is_empty()
        })
    }

    /// HSET's apply in one pass: removes the items of `field` that `ctx`
    /// covers, then writes the version `(dot, hlc, value)`. The result is
    /// exactly [`Fields::remove_field`] (keeping an emptied field) followed
    /// by [`Fields::update`] writing the version, conversion past `limits`
    /// included; but the field is looked up once, and a simple record that
    /// `ctx` covers (or an absent field) is overwritten by the new simple
    /// record in place, with no [`Cell`] built.
    pub fn set_field(&mut self, field: &[u8], ctx: &VersionVector, dot: Dot, hlc: Hlc, value: &[u8], limits: &Limits) -> SetField {
        match self {
            Fields::Map(m) => {
                if let Some(cell) = m.get_mut(field) {
                    cell.remove(ctx);
                    let out = SetField { existed: true, survived: !cell.is_empty(), overwrote: !cell.versions().is_empty() };
                    cell.write(dot, hlc, value);
                    return out;
                }
                let mut cell = Cell::default();
                cell.write(dot, hlc, value);
                m.insert(field.into(), cell);
                SetField::default()
            }
            Fields::Packed(p) => {
                let pdot = PackedDot::new(dot);
                let simple_fits = field.len() <= limits.value && value.len() <= limits.value;
                let (out, fits) = match p.locate(field) {
                    None => {
                        p.put_one(None, field, pdot, hlc, value);
                        (SetField::default(), simple_fits)
                    }
                    Some(loc) => {
                        match loc.one {
                            Some(old) if ctx.covers(old.get()) => {
                                p.put_one(Some(loc), field, pdot, hlc, value);
                                (SetField { existed: true, survived: false, overwrote: false }, simple_fits)
                            }
                            _ => {
                                // Concurrent versions or counter runs: through a cell.
                                let range = (loc.start, loc.end);
                                let mut cell = p.record(loc.start).0.cell(p.base_ms);
                                cell.remove(ctx);
                                let out = SetField { existed: true, survived: !cell.is_empty(), overwrote: !cell.versions().is_empty() };
                                cell.write(dot, hlc, value);
                                let fits = fits(field, &cell, limits);
                                p.replace(range, field, &cell);
                                (out, fits)
                            }
                        }
                    }
                };
                if !fits || p.count as usize > limits.entries {
                    self.convert();
                }
                out
            }
        }
    }

    /// Removes everything `ctx` covers; returns the items removed.
    pub fn remove(&mut self, ctx: &VersionVector) -> usize {
        let mut n = 0;
        match self {
            Fields::Map(m) => m.retain(|_, c| {
                n += c.remove(ctx);
                !c.is_empty()
            }),
            Fields::Packed(p) => p.rebuild(|rec, out| match rec.body {
                Body::One { pdot, .. } if ctx.covers(pdot.get()) => n += 1,
                Body::One { .. } => out.copy(&rec),
                Body::Complex(_) => {
                    let mut cell = rec.cell(out.base_ms);
                    n += cell.remove(ctx);
                    out.put(rec.field, &cell);
                }
            }),
        }
        n
    }

    /// Runs `f` on every cell with counter increments (garbage collection
    /// folds their runs); `f` must not empty a cell. A packed hash rewrites
    /// only its complex records (a simple one has no increments).
    pub fn counters_mut(&mut self, mut f: impl FnMut(&mut Cell)) {
        match self {
            Fields::Map(m) => m.values_mut().filter(|c| !c.runs().is_empty()).for_each(f),
            Fields::Packed(p) => {
                if !p.iter().any(|(_, c)| matches!(c, FieldRef::Owned(ref c) if !c.runs().is_empty())) {
                    return;
                }
                p.rebuild(|rec, out| match rec.body {
                    Body::One { .. } => out.copy(&rec),
                    Body::Complex(_) => {
                        let mut cell = rec.cell(out.base_ms);
                        if !cell.runs().is_empty() {
                            f(&mut cell);
                        }
                        debug_assert!(!cell.is_empty(), "counters_mut emptied a cell");
                        out.put(rec.field, &cell);
                    }
                })
            }
        }
    }

    pub fn rank(&self) -> Stamp {
        self.values().map(|c| c.rank()).max().unwrap_or_default()
    }

    pub fn ctx(&self, out: &mut VersionVector) {
        self.values().for_each(|c| c.ctx(out))
    }

    /// True when some counter has runs left to fold.
    pub fn has_unfolded(&self) -> bool {
        self.values().any(|c| match c {
            FieldRef::Cell(c) => c.has_unfolded(),
            FieldRef::Owned(c) => c.has_unfolded(),
            FieldRef::One { .. } => false,
        })
    }

    /// Builds a hash from cells of distinct fields (a snapshot, a merge):
    /// packed in their order if it fits `limits` (and `packed`), else a
    /// map. Empty cells are skipped. (A snapshot lists a packed hash in its
    /// order, so a restart keeps the order HGETALL shows, as Redis's RDB.)
    pub fn from_cells(cells: Vec<(Blob, Cell)>, limits: &Limits, packed: bool) -> Fields {
        let cells = cells.into_iter().filter(|(_, c)| !c.is_empty());
        let cells: Vec<(Blob, Cell)> = cells.collect();
        if packed && cells.len() <= limits.entries && cells.iter().all(|(f, c)| fits(f, c, limits)) {
            let mut p = Pack::default();
            for (f, c) in &cells {
                p.push(f, c);
            }
            debug_assert_eq!(p.count as usize, cells.len());
            return Fields::Packed(p);
        }
        let map: FastMap<Blob, Cell> = cells.into_iter().collect();
        Fields::Map(Box::new(map))
    }

    /// The cells, owned (a packed hash decodes every record).
    pub fn into_cells(self) -> Vec<(Blob, Cell)> {
        match self {
            Fields::Map(m) => m.into_iter().collect(),
            Fields::Packed(p) => p.iter().map(|(f, c)| (f.into(), c.as_cell().into_owned())).collect(),
        }
    }

    /// A packed hash's exact encoding: its bytes, base and record count
    /// (tests compare encodings, not just cells).
    #[cfg(test)]
    pub(crate) fn raw(&self) -> Option<(&[u8], u64, u32)> {
        match self {
            Fields::Packed(p) => Some((&p.buf[..], p.base_ms, p.count)),
            Fields::Map(_) => None,
        }
    }

    /// Turns a packed hash into a map (one way, as Redis converts a listpack).
    pub fn convert(&mut self) {
        if let Fields::Packed(p) = self {
            let map: FastMap<Blob, Cell> = p.iter().map(|(f, c)| (f.into(), c.as_cell().into_owned())).collect();
            *self = Fields::Map(Box::new(map));
        }
    }

    /// Joins another instance's copy (full-sync merge), with `Cell::merge`'s
    /// rule per field. The result stays packed if this side was and it fits.
    pub fn merge(&mut self, other: &Fields, mine: &VersionVector, theirs: &VersionVector, limits: &Limits) {
        let packed = self.is_packed();
        let empty = Cell::default();
        // This side's fields in its order, then the other side's new ones in
        // theirs (a packed hash's lookups scan: index the other side once).
        let theirs_cells: Vec<(&[u8], Cell)> = other.iter().map(|(f, c)| (f, c.as_cell().into_owned())).collect();
        let index: FastMap<&[u8], usize> = theirs_cells.iter().enumerate().map(|(i, (f, _))| (*f, i)).collect();
        let mut cells = std::mem::take(self).into_cells();
        let mut seen = vec![false; theirs_cells.len()];
        for (f, cell) in cells.iter_mut() {
            let i = index.get(&f[..]).copied();
            if let Some(i) = i {
                seen[i] = true;
            }
            cell.merge(i.map_or(&empty, |i| &theirs_cells[i].1), mine, theirs);
        }
        for ((f, theirs_cell), seen) in theirs_cells.iter().zip(seen) {
            if !seen {
                let mut c = Cell::default();
                c.merge(theirs_cell, mine, theirs);
                cells.push((Blob::from(*f), c));
            }
        }
        *self = Fields::from_cells(cells, limits, packed);
    }
}

impl crate::db::Db {
    /// Gives every hash the encoding `hash_limits` calls for: packed if it
    /// fits, else a map. For a keyspace just loaded (a snapshot decodes with
    /// Redis's default limits), as Redis encodes a hash by the running
    /// configuration when it loads an RDB. Returns the hashes re-encoded.
    pub fn conform_hashes(&mut self) -> usize {
        let limits = self.hash_limits;
        let mut changed = 0;
        for (_, entry) in self.entries.iter_mut() {
            for v in entry.values_mut() {
                if let crate::value::Value::Hash(h) = v {
                    let fit = h.len() <= limits.entries && h.iter().all(|(f, c)| fits(f, &c.as_cell(), &limits));
                    if fit != h.is_packed() {
                        *h = Fields::from_cells(std::mem::take(h).into_cells(), &limits, fit);
                        changed += 1;
                    }
                }
            }
        }
        changed
    }
}

/// Whether a field with this cell may stay packed: its name, every register
/// value and the value it shows (a counter's number) within `limits.value`.
fn fits(field: &[u8], cell: &Cell, limits: &Limits) -> bool {
    if field.len() > limits.value || cell.versions().iter().any(|v| v.value.len() > limits.value) {
        return false;
    }
    match cell.shown() {
        Shown::Absent | Shown::Bytes(_) => true,
        Shown::Int(i) => i.to_string().len() <= limits.value,
        Shown::Float(f) => f.to_string().len() <= limits.value,
    }
}

impl PartialEq for Fields {
    /// Equal fields and cells, whatever the encodings.
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().all(|(f, c)| other.get(f).is_some_and(|o| o.as_cell() == c.as_cell()))
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields: Vec<(&[u8], FieldRef<'_>)> = self.iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        f.write_str(if self.is_packed() { "Packed" } else { "Map" })?;
        f.debug_map().entries(fields.iter().map(|(k, c)| (String::from_utf8_lossy(k), c.as_cell()))).finish()
    }
}

pub enum Iter<'a> {
    Packed { pack: &'a Pack, pos: usize },
    Map(std::collections::hash_map::Iter<'a, Blob, Cell>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], FieldRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed { pack, pos } => {
                if *pos >= pack.buf.len() {
                    return None;
                }
                let (rec, next) = pack.record(*pos);
                *pos = next;
                Some((rec.field, rec.field_ref(pack.base_ms)))
            }
            Iter::Map(it) => it.next().map(|(f, c)| (&f[..], FieldRef::Cell(c))),
        }
    }
}

// ---- the packed encoding -------------------------------------------------------

/// One record, parsed.
struct Rec<'a> {
    field: &'a [u8],
    body: Body<'a>,
}

enum Body<'a> {
    One { pdot: PackedDot, hlc: Hlc, value: &'a [u8] },
    /// The encoded cell.
    Complex(&'a [u8]),
}

impl<'a> Rec<'a> {
    fn field_ref(&self, base_ms: u64) -> FieldRef<'a> {
        match self.body {
            Body::One { pdot, hlc, value } => FieldRef::One { pdot, hlc, value },
            Body::Complex(_) => FieldRef::Owned(self.cell(base_ms)),
        }
    }

    fn cell(&self, base_ms: u64) -> Cell {
        match self.body {
            Body::One { pdot, hlc, value } => one_cell(pdot, hlc, value),
            Body::Complex(b) => {
                let mut r = Cur { b, pos: 0 };
                let cell = r.cell(base_ms);
                debug_assert_eq!(r.pos, b.len(), "complex record fully read");
                cell
            }
        }
    }
}

/// A reader over bytes this module wrote (so it trusts them: a bad byte is
/// a bug, and panics on an index).
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn u8(&mut self) -> u8 {
        let v = self.b[self.pos];
        self.pos += 1;
        v
    }

    fn var(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.u8();
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn var128(&mut self) -> u128 {
        let mut v = 0u128;
        let mut shift = 0;
        loop {
            let b = self.u8();
            v |= ((b & 0x7f) as u128) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = self.var() as usize;
        self.take(n)
    }

    fn f64(&mut self) -> f64 {
        f64::from_bits(u64::from_le_bytes(self.take(8).try_into().expect("8 bytes")))
    }

    fn f64s(&mut self) -> Vec<f64> {
        let n = self.var() as usize;
        (0..n).map(|_| self.f64()).collect()
    }

    fn dot(&mut self) -> PackedDot {
        let origin = InstanceId(self.var() as u16);
        PackedDot::new(Dot { origin, seq: self.var() })
    }

    fn hlc(&mut self, base_ms: u64) -> Hlc {
        let code = self.var();
        let logical = if code & 1 == 1 { self.var() } else { 0 };
        let z = code >> 1;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let ms = base_ms.wrapping_add(delta as u64);
        Hlc((ms << 16) | logical)
    }

    /// value, dot, hlc.
    fn version(&mut self, base_ms: u64) -> (PackedDot, Hlc, &'a [u8]) {
        let value = self.bytes();
        let pdot = self.dot();
        (pdot, self.hlc(base_ms), value)
    }

    fn cell(&mut self, base_ms: u64) -> Cell {
        let mut cell = Cell::default();
        let n = self.var();
        for _ in 0..n {
            let (pdot, hlc, value) = self.version(base_ms);
            cell.push_version(Version { pdot, hlc, value: value.into() });
        }
        let n = self.var();
        for _ in 0..n {
            let origin = InstanceId(self.var() as u16);
            let (first, last, hlc) = (self.var(), self.var(), Hlc(self.var()));
            let z = self.var128();
            let int = ((z >> 1) as i128) ^ -((z & 1) as i128);
            let is_float = self.u8() == 1;
            let (float, big) = (self.f64s(), self.f64s());
            cell.push_run(Run { origin, first, last, hlc, sum: Sum { int, float, big, is_float } });
        }
        cell
    }

    fn record(&mut self, base_ms: u64) -> Rec<'a> {
        let head = self.var();
        let field = self.take((head >> 1) as usize);
        if head & 1 == 1 {
            let body = self.bytes();
            return Rec { field, body: Body::Complex(body) };
        }
        let (pdot, hlc, value) = self.version(base_ms);
        Rec { field, body: Body::One { pdot, hlc, value } }
    }
}

fn put_var(out: &mut Vec<u8>, v: u64) {
    crate::wire::put_var(out, v)
}

fn put_var128(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// An HLC relative to `base_ms`: its code and its logical counter (written
/// after the code when not 0).
#[inline]
fn hlc_code(base_ms: u64, hlc: Hlc) -> (u64, u64) {
    let delta = hlc.ms().wrapping_sub(base_ms) as i64;
    let z = ((delta << 1) ^ (delta >> 63)) as u64;
    let logical = hlc.0 & 0xffff;
    ((z << 1) | (logical != 0) as u64, logical)
}

fn put_hlc(out: &mut Vec<u8>, base_ms: u64, hlc: Hlc) {
    let (code, logical) = hlc_code(base_ms, hlc);
    put_var(out, code);
    if logical != 0 {
        put_var(out, logical);
    }
}

/// The bytes LEB128 takes for `v`.
#[inline]
fn var_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Where a field's record is: it starts at `start`, its part after the
/// name at `body`, and ends at `end`; `one` is its version's dot if it is a
/// simple record.
#[derive(Clone, Copy, Debug)]
struct Loc {
    start: usize,
    body: usize,
    end: usize,
    one: Option<PackedDot>,
}

#[inline]
fn read_var(b: &[u8], pos: &mut usize) -> u64 {
    let byte = b[*pos];
    *pos += 1;
    if byte < 0x80 {
        return byte as u64;
    }
    let mut v = (byte & 0x7f) as u64;
    let mut shift = 7;
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

#[inline]
fn skip_var(b: &[u8], pos: &mut usize) {
    while b[*pos] >= 0x80 {
        *pos += 1;
    }
    *pos += 1;
}

/// A writer into bytes sized beforehand.
struct Put<'a> {
    b: &'a mut [u8],
    pos: usize,
}

impl Put<'_> {
    #[inline]
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.b[self.pos] = (v as u8) | 0x80;
            self.pos += 1;
            v >>= 7;
        }
        self.b[self.pos] = v as u8;
        self.pos += 1;
    }

    #[inline]
    fn bytes(&mut self, s: &[u8]) {
        self.b[self.pos..self.pos + s.len()].copy_from_slice(s);
        self.pos += s.len();
    }
}

fn put_version(out: &mut Vec<u8>, base_ms: u64, pdot: PackedDot, hlc: Hlc, value: &[u8]) {
    crate::wire::put_bytes(out, value);
    crate::wire::put_dot(out, pdot.get());
    put_hlc(out, base_ms, hlc);
}

/// Appends the record of `field` with `cell`.
fn put_record(out: &mut Vec<u8>, base_ms: u64, field: &[u8], cell: &Cell) {
    if cell.versions().len() == 1 && cell.runs().is_empty() {
        let v = &cell.versions()[0];
        put_var(out, (field.len() as u64) << 1);
        out.extend_from_slice(field);
        put_version(out, base_ms, v.pdot, v.hlc, &v.value);
        return;
    }
    put_var(out, ((field.len() as u64) << 1) | 1);
    out.extend_from_slice(field);
    let mut body = Vec::new();
    put_var(&mut body, cell.versions().len() as u64);
    for v in cell.versions() {
        put_version(&mut body, base_ms, v.pdot, v.hlc, &v.value);
    }
    put_var(&mut body, cell.runs().len() as u64);
    for r in cell.runs() {
        put_var(&mut body, r.origin.0 as u64);
        put_var(&mut body, r.first);
        put_var(&mut body, r.last);
        put_var(&mut body, r.hlc.0);
        let Sum { int, float, big, is_float } = &r.sum;
        put_var128(&mut body, ((int << 1) ^ (int >> 127)) as u128);
        body.push(*is_float as u8);
        for partials in [float, big] {
            put_var(&mut body, partials.len() as u64);
            for f in partials {
                body.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
    }
    crate::wire::put_bytes(out, &body);
}

/// The buffer a [`Pack::rebuild`] writes.
struct Out {
    buf: Vec<u8>,
    base_ms: u64,
    count: u32,
}

impl Out {
    fn put(&mut self, field: &[u8], cell: &Cell) {
        if !cell.is_empty() {
            put_record(&mut self.buf, self.base_ms, field, cell);
            self.count += 1;
        }
    }

    fn copy(&mut self, rec: &Rec<'_>) {
        match rec.body {
            Body::One { pdot, hlc, value } => {
                put_var(&mut self.buf, (rec.field.len() as u64) << 1);
                self.buf.extend_from_slice(rec.field);
                put_version(&mut self.buf, self.base_ms, pdot, hlc, value);
            }
            Body::Complex(b) => {
                put_var(&mut self.buf, ((rec.field.len() as u64) << 1) | 1);
                self.buf.extend_from_slice(rec.field);
                crate::wire::put_bytes(&mut self.buf, b);
            }
        }
        self.count += 1;
    }
}

impl Pack {
    /// The bytes the records take (the allocation is this, rounded up to
    /// the allocator's size class).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The record at `start` and where the next one starts.
    fn record(&self, start: usize) -> (Rec<'_>, usize) {
        let mut cur = Cur { b: &self.buf, pos: start };
        let rec = cur.record(self.base_ms);
        (rec, cur.pos)
    }

    fn iter(&self) -> Iter<'_> {
        Iter::Packed { pack: self, pos: 0 }
    }

    /// The byte range of `field`'s record.
    fn find(&self, field: &[u8]) -> Option<(usize, usize)> {
        self.locate(field).map(|l| (l.start, l.end))
    }

    /// Where `field`'s record is (the hint first, then a scan).
    #[inline]
    fn locate(&self, field: &[u8]) -> Option<Loc> {
        let hint = self.hint.load(Relaxed) as usize;
        if hint < self.buf.len() {
            if let Ok(loc) = self.match_at(hint, field) {
                return Some(loc);
            }
        }
        let mut pos = 0;
        while pos < self.buf.len() {
            match self.match_at(pos, field) {
                Ok(loc) => {
                    if let Ok(pos) = u32::try_from(pos) {
                        self.hint.store(pos, Relaxed);
                    }
                    return Some(loc);
                }
                Err(end) => pos = end,
            }
        }
        None
    }

    /// The record at `pos` if it is `field`'s, else where it ends. One pass
    /// over the record: its version's dot is read only if the name matches.
    #[inline]
    fn match_at(&self, pos: usize, field: &[u8]) -> Result<Loc, usize> {
        let b = &self.buf[..];
        let mut p = pos;
        let head = read_var(b, &mut p);
        let name = &b[p..p + (head >> 1) as usize];
        p += name.len();
        let body = p;
        let matched = name == field;
        if head & 1 == 1 {
            p += read_var(b, &mut p) as usize;
            return if matched { Ok(Loc { start: pos, body, end: p, one: None }) } else { Err(p) };
        }
        p += read_var(b, &mut p) as usize;
        if !matched {
            skip_var(b, &mut p);
            skip_var(b, &mut p);
            if read_var(b, &mut p) & 1 == 1 {
                skip_var(b, &mut p);
            }
            return Err(p);
        }
        let origin = InstanceId(read_var(b, &mut p) as u16);
        let seq = read_var(b, &mut p);
        if read_var(b, &mut p) & 1 == 1 {
            skip_var(b, &mut p);
        }
        Ok(Loc { start: pos, body, end: p, one: Some(PackedDot::new(Dot { origin, seq })) })
    }

    fn encode(&mut self, field: &[u8], cell: &Cell) -> Vec<u8> {
        if self.count == 0 {
            // The first record sets the base (it can move while empty).
            if let Some(v) = cell.versions().first() {
                self.base_ms = v.hlc.ms();
            }
        }
        let mut rec = Vec::with_capacity(field.len() + 32);
        put_record(&mut rec, self.base_ms, field, cell);
        rec
    }

    /// Writes the simple record of `field` with one version: in place of
    /// the record at `at` (moving the records after it if the length
    /// changes), or appended. The same bytes and capacity as encoding the
    /// one-version cell and [`Pack::replace`] or [`Pack::push`].
    fn put_one(&mut self, at: Option<Loc>, field: &[u8], pdot: PackedDot, hlc: Hlc, value: &[u8]) {
        if self.count == 0 {
            // The first record sets the base (it can move while empty).
            self.base_ms = hlc.ms();
        }
        let dot = pdot.get();
        let (code, logical) = hlc_code(self.base_ms, hlc);
        let head = (field.len() as u64) << 1;
        let body_len = var_len(value.len() as u64)
            + value.len()
            + var_len(dot.origin.0 as u64)
            + var_len(dot.seq)
            + var_len(code)
            + if logical != 0 { var_len(logical) } else { 0 };
        let mut w = match at {
            Some(Loc { start, body, end, .. }) => {
                // The same field: its head and name stay; the rest changes.
                let old = end - body;
                if body_len > old {
                    let grow = body_len - old;
                    self.buf.reserve_exact(grow);
                    let total = self.buf.len();
                    self.buf.resize(total + grow, 0);
                    self.buf.copy_within(end..total, end + grow);
                } else if body_len < old {
                    let shrink = old - body_len;
                    self.buf.copy_within(end.., end - shrink);
                    self.buf.truncate(self.buf.len() - shrink);
                }
                self.set_hint(start);
                Put { b: &mut self.buf[body..body + body_len], pos: 0 }
            }
            None => {
                let start = self.buf.len();
                let len = var_len(head) + field.len() + body_len;
                self.buf.reserve_exact(len);
                self.buf.resize(start + len, 0);
                self.count += 1;
                self.set_hint(start);
                let mut w = Put { b: &mut self.buf[start..start + len], pos: 0 };
                w.var(head);
                w.bytes(field);
                w
            }
        };
        w.var(value.len() as u64);
        w.bytes(value);
        w.var(dot.origin.0 as u64);
        w.var(dot.seq);
        w.var(code);
        if logical != 0 {
            w.var(logical);
        }
        debug_assert_eq!(w.pos, w.b.len());
    }

    fn push(&mut self, field: &[u8], cell: &Cell) {
        let rec = self.encode(field, cell);
        self.buf.reserve_exact(rec.len());
        self.set_hint(self.buf.len());
        self.buf.extend_from_slice(&rec);
        self.count += 1;
    }

    fn replace(&mut self, (start, end): (usize, usize), field: &[u8], cell: &Cell) {
        let rec = self.encode(field, cell);
        self.buf.reserve_exact(rec.len().saturating_sub(end - start));
        // Records after `start` move: the hint stays on a record start.
        self.set_hint(start);
        self.buf.splice(start..end, rec);
    }

    fn remove_range(&mut self, (start, end): (usize, usize)) {
        self.buf.drain(start..end);
        self.count -= 1;
        self.set_hint(0);
        self.shrink();
    }

    fn set_hint(&mut self, pos: usize) {
        // A buffer past 4 GiB (limits raised that far) just scans.
        *self.hint.get_mut() = u32::try_from(pos).unwrap_or(u32::MAX);
    }

    /// Gives back what removals freed (jemalloc shrinks in place within a
    /// size class).
    fn shrink(&mut self) {
        if self.buf.capacity() - self.buf.len() > 64 + self.buf.len() / 8 {
            self.buf.shrink_to_fit();
        }
    }

    /// Rewrites every record through `f`, which puts what it keeps into the
    /// output (same base).
    fn rebuild(&mut self, mut f: impl FnMut(Rec<'_>, &mut Out)) {
        let mut out = Out { buf: Vec::with_capacity(self.buf.len()), base_ms: self.base_ms, count: 0 };
        let mut pos = 0;
        while pos < self.buf.len() {
            let (rec, next) = self.record(pos);
            f(rec, &mut out);
            pos = next;
        }
        // Exact size, as everywhere (one copy: a rebuild is a merge or a
        // garbage collection, not a write's path).
        let mut buf = ThinVec::with_capacity(out.buf.len());
        buf.extend_from_slice(&out.buf);
        self.buf = buf;
        self.count = out.count;
        self.set_hint(0);
    }
}


//! The typed values a key can hold, each a CRDT built from [`Cell`]s and
//! dotted members.

use std::collections::BTreeSet;

use crate::FastMap as HashMap;

use crate::cell::{Blob, Cell, Shown};
use crate::id::{Dot, Hlc, PackedDot, Stamp, VersionVector};

/// One add of a set member: its dot (packed: a tag is 16 bytes) and the
/// clock reading of the add. Orders by dot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag {
    pub pdot: PackedDot,
    pub hlc: Hlc,
}

impl Tag {
    pub fn new(dot: Dot, hlc: Hlc) -> Tag {
        Tag { pdot: PackedDot::new(dot), hlc }
    }
    pub fn dot(&self) -> Dot {
        self.pdot.get()
    }
}

/// The dots under which a set member was added and not yet removed:
/// nearly always one, kept inline (no heap allocation per member).
pub type Tags = smallvec::SmallVec<[Tag; 1]>;

pub fn tags_ctx(tags: &Tags, out: &mut VersionVector) {
    for t in tags {
        out.observe(t.dot());
    }
}

/// An observed-remove set: a member is present while it has a tag.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrSet {
    pub members: HashMap<Blob, Tags>,
}

/// A sorted-set score as an ordered key: the usual order of floats, with
/// -0.0 == 0.0 (as Redis compares scores) and NaN above +inf, so the order
/// is total. A NaN score can only come from concurrent +inf and -inf
/// increments; it must still sort the same way at every instance.
#[derive(Clone, Copy, Debug)]
pub struct Score(pub f64);
impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.partial_cmp(&other.0).unwrap_or_else(|| self.0.is_nan().cmp(&other.0.is_nan()))
    }
}

/// A sorted set: OR-set membership with a cell per member (ZADD writes the
/// register, ZINCRBY adds increments), plus an index by (score, member)
/// derived from the cells.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    pub members: HashMap<Blob, (Cell, f64)>,
    pub index: BTreeSet<(Score, Blob)>,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.members == other.members
    }
}

/// The score a sorted-set cell shows: a register holds the score as 8
/// little-endian bytes of an f64; increments add to it.
pub fn zscore_of(cell: &Cell) -> f64 {
    match cell.shown() {
        Shown::Absent => 0.0,
        Shown::Bytes(b) => decode_score(b),
        Shown::Int(i) => i as f64,
        Shown::Float(f) => f,
    }
}

pub fn encode_score(f: f64) -> Blob {
    f.to_string().into_bytes().into_boxed_slice()
}

pub fn decode_score(b: &[u8]) -> f64 {
    std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

impl ZSet {
    /// Recomputes a member's score after its cell changed; removes it when
    /// its cell is empty.
    pub fn refresh(&mut self, member: &[u8]) {
        let Some((cell, score)) = self.members.get_mut(member) else { return };
        let old = *score;
        if cell.is_empty() {
            let key: Blob = member.into();
            self.index.remove(&(Score(old), key));
            self.members.remove(member);
            return;
        }
        let new = zscore_of(cell);
        // Compare bits: 0.0 == -0.0, but the cached score enters the digest.
        if new.to_bits() != old.to_bits() || !self.index.contains(&(Score(old), member.into())) {
            self.index.remove(&(Score(old), member.into()));
            *score = new;
            self.index.insert((Score(new), member.into()));
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.members.get(member).map(|m| m.1)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The type of a key, as TYPE reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    String,
    Hash,
    Set,
    ZSet,
    /// A HyperLogLog (TYPE says "string", as Redis, whose HLLs are strings).
    Hll,
    List,
    Stream,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hll => "string",
            Kind::List => "list",
            Kind::Stream => "stream",
        }
    }
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Cell),
    Hash(crate::fields::Fields),
    // Boxed (as the map form of a hash): a `Cell` is the only 32-byte
    // variant, so the tag sits in its niche and `Value` is 32 bytes.
    Set(Box<OrSet>),
    // Boxed so that the common case, a string, keeps entries small.
    ZSet(Box<ZSet>),
    Hll(Box<crate::hll::Hll>),
    List(Box<crate::list::List>),
    Stream(Box<crate::stream::Stream>),
}

impl Value {
    pub fn empty(kind: Kind) -> Value {
        match kind {
            Kind::String => Value::Str(Cell::default()),
            Kind::Hash => Value::Hash(Default::default()),
            Kind::Set => Value::Set(Box::default()),
            Kind::ZSet => Value::ZSet(Box::default()),
            Kind::Hll => Value::Hll(Box::default()),
            Kind::List => Value::List(Box::default()),
            Kind::Stream => Value::Stream(Box::default()),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::String,
            Value::Hash(_) => Kind::Hash,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Hll(_) => Kind::Hll,
            Value::List(_) => Kind::List,
            Value::Stream(_) => Kind::Stream,
        }
    }

    /// True when nothing is alive: the value no longer exists.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Str(c) => c.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.members.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            Value::Hll(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Stream(s) => s.is_empty(),
        }
    }

    /// True when a client can see the value. Only a list or a stream can be
    /// non-empty yet invisible: tombstones and inserts waiting for their
    /// anchor keep a list (hidden) while no element is alive, see
    /// `crate::list`; removals and delete markers waiting for collection keep
    /// a stream with no record, see `crate::stream`.
    pub fn is_visible(&self) -> bool {
        match self {
            Value::List(l) => l.is_visible(),
            Value::Stream(s) => s.is_visible(),
            v => !v.is_empty(),
        }
    }

    /// The greatest stamp of anything alive: decides type conflicts.
    pub fn rank(&self) -> Stamp {
        let tag_stamp = |t: &Tag| Stamp { hlc: t.hlc, origin: t.dot().origin };
        match self {
            Value::Str(c) => c.rank(),
            Value::Hash(h) => h.rank(),
            Value::Set(s) => s.members.values().flat_map(|t| t.iter().map(tag_stamp)).max().unwrap_or_default(),
            Value::ZSet(z) => z.members.values().map(|(c, _)| c.rank()).max().unwrap_or_default(),
            Value::Hll(h) => h.rank(),
            Value::List(l) => l.rank(),
            Value::Stream(s) => s.rank(),
        }
    }

    /// The context of everything alive in the value.
    pub fn ctx(&self, out: &mut VersionVector) {
        match self {
            Value::Str(c) => c.ctx(out),
            Value::Hash(h) => h.ctx(out),
            Value::Set(s) => s.members.values().for_each(|t| tags_ctx(t, out)),
            Value::ZSet(z) => z.members.values().for_each(|(c, _)| c.ctx(out)),
            Value::Hll(h) => h.ctx(out),
            Value::List(l) => l.ctx(out),
            Value::Stream(s) => s.ctx(out),
        }
    }

    /// Removes everything covered by `ctx`; returns items removed.
    pub fn remove(&mut self, ctx: &VersionVector) -> usize {
        let mut n = 0;
        match self {
            Value::Str(c) => n += c.remove(ctx),
            Value::Hash(h) => n += h.remove(ctx),
            Value::Set(s) => {
                s.members.retain(|_, tags| {
                    let before = tags.len();
                    tags.retain(|t| !ctx.covers(t.dot()));
                    n += before - tags.len();
                    !tags.is_empty()
                });
            }
            Value::ZSet(z) => {
                let members: Vec<Blob> = z.members.keys().cloned().collect();
                for m in members {
                    if let Some((c, _)) = z.members.get_mut(&m) {
                        n += c.remove(ctx);
                    }
                    z.refresh(&m);
                }
            }
            Value::Hll(h) => n += h.remove(ctx),
            Value::List(l) => n += l.remove_ctx(ctx),
            Value::Stream(s) => n += s.remove(ctx),
        }
        n
    }
}

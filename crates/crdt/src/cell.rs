//! [`Cell`]: a last-write-wins register with counter increments on top.
//!
//! One cell holds a string key's value, a hash field's value, or a sorted-set
//! member's score. Register writes are kept as *versions* (a multi-value
//! register): a write removes only the versions it observed, so concurrent
//! writes all stay until something observes them, and the visible one is the
//! greatest by [`Stamp`]. Increments are kept as *runs* per origin; the
//! visible value is the winning version's number plus every increment the
//! version's writer had not observed (increments it observed were removed by
//! the write). Runs of one origin are folded together once every instance has
//! observed them (`gvc_min`), so a counter stays small.

use crate::id::{Dot, Hlc, InstanceId, PackedDot, Stamp, VersionVector};
use crate::num::{Delta, Sum};

pub type Blob = Box<[u8]>;

/// One register write. 32 bytes (the dot packed), so a cell holding one
/// inline is 48.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub pdot: PackedDot,
    pub hlc: Hlc,
    pub value: Blob,
}

impl Version {
    pub fn new(dot: Dot, hlc: Hlc, value: Blob) -> Version {
        Version { pdot: PackedDot::new(dot), hlc, value }
    }
    pub fn dot(&self) -> Dot {
        self.pdot.get()
    }
    pub fn stamp(&self) -> Stamp {
        Stamp { hlc: self.hlc, origin: self.dot().origin }
    }
}

/// Increments of one origin with sequence numbers `first..=last` (only the
/// increments of this cell among them), summed exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub origin: InstanceId,
    pub first: u64,
    pub last: u64,
    pub hlc: Hlc,
    pub sum: Sum,
}

/// A cell's register versions: nearly always one, kept inline (no heap
/// allocation); concurrent writes spill to the heap.
pub type Versions = smallvec::SmallVec<[Version; 1]>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Sorted by dot.
    pub versions: Versions,
    /// Sorted by (origin, first). A thin vector: 8 bytes when empty, as it
    /// is unless the cell is a counter.
    pub runs: thin_vec::ThinVec<Run>,
}

/// What a cell shows: a register value, possibly with increments applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Shown<'a> {
    Absent,
    Bytes(&'a [u8]),
    Int(i128),
    Float(f64),
}

impl Cell {
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty() && self.runs.is_empty()
    }

    /// The winning register version, if any.
    pub fn winner(&self) -> Option<&Version> {
        self.versions.iter().max_by_key(|v| v.stamp())
    }

    /// The greatest stamp of anything alive in the cell (used to rank types).
    pub fn rank(&self) -> Stamp {
        let v = self.versions.iter().map(|v| v.stamp());
        let r = self.runs.iter().map(|r| Stamp { hlc: r.hlc, origin: r.origin });
        v.chain(r).max().unwrap_or_default()
    }

    /// The observed context of this cell: per origin, the highest sequence
    /// number alive. A write or remove carrying it removes exactly what the
    /// writer saw.
    pub fn ctx(&self, out: &mut VersionVector) {
        for v in &self.versions {
            out.observe(v.dot());
        }
        for r in &self.runs {
            out.raise(r.origin, r.last);
        }
    }

    /// Removes everything covered by `ctx`. Returns how many items it removed.
    pub fn remove(&mut self, ctx: &VersionVector) -> usize {
        let before = self.versions.len() + self.runs.len();
        self.versions.retain(|v| !ctx.covers(v.dot()));
        self.runs.retain(|r| {
            let covered = r.last <= ctx.get(r.origin);
            debug_assert!(covered || r.first > ctx.get(r.origin), "a removal cut a folded run");
            !covered
        });
        before - self.versions.len() - self.runs.len()
    }

    /// Adds a register version (the caller removed what it observed first).
    /// Returns false if that version is already there.
    pub fn write(&mut self, dot: Dot, hlc: Hlc, value: Blob) -> bool {
        match self.versions.binary_search_by_key(&PackedDot::new(dot), |v| v.pdot) {
            Ok(_) => false,
            Err(i) => {
                // Almost every cell holds one version: grow one at a time
                // (Vec's first growth would reserve room for four).
                self.versions.reserve_exact(1);
                self.versions.insert(i, Version::new(dot, hlc, value));
                true
            }
        }
    }

    /// Adds one increment.
    pub fn incr(&mut self, dot: Dot, hlc: Hlc, delta: Delta) {
        let run = Run { origin: dot.origin, first: dot.seq, last: dot.seq, hlc, sum: Sum::of(delta) };
        let i = self.runs.partition_point(|r| (r.origin, r.first) < (dot.origin, dot.seq));
        if self.runs.get(i).is_some_and(|r| r.origin == dot.origin && r.first == dot.seq) {
            return;
        }
        self.runs.insert(i, run);
    }

    /// Adds one increment, then with `fold` folds every origin's runs into
    /// one: exactly [`Cell::incr`] followed by [`Cell::fold_all`] (what a
    /// database with one member does after every increment). When the
    /// cell is already folded (one run per origin) and the increment comes
    /// after its origin's run, as every INCR at a solo instance does, it is
    /// added to that run in place: no insertion, no pass over the runs, and
    /// no run dropped.
    pub fn incr_fold(&mut self, dot: Dot, hlc: Hlc, delta: Delta, fold: bool) {
        if fold {
            if let Some(r) = self.folded_run_before(dot) {
                // What `fold_all` does to the run and the one `incr` would
                // insert right after it (first <= last < dot.seq).
                r.last = dot.seq;
                r.hlc = r.hlc.max(hlc);
                match delta {
                    Delta::Int(i) => r.sum.int += i as i128,
                    Delta::Float(_) => r.sum.add_sum(&Sum::of(delta)),
                }
                return;
            }
        }
        self.incr(dot, hlc, delta);
        if fold {
            self.fold_all();
        }
    }

    /// The run of `dot`'s origin, if it is that origin's only run, ends
    /// before `dot`, and no origin has more than one run.
    #[inline]
    fn folded_run_before(&mut self, dot: Dot) -> Option<&mut Run> {
        let runs = &mut self.runs[..];
        if runs.len() == 1 {
            // (Nearly always: one instance's increments, folded.)
            let r = &mut runs[0];
            return (r.origin == dot.origin && r.last < dot.seq).then_some(r);
        }
        // Runs are sorted by (origin, first): runs of one origin are adjacent.
        if runs.windows(2).any(|w| w[0].origin == w[1].origin) {
            return None;
        }
        runs.iter_mut().find(|r| r.origin == dot.origin).filter(|r| r.last < dot.seq)
    }

    /// Folds adjacent runs of one origin that every instance has observed:
    /// no future removal can fall between them. Returns runs merged.
    pub fn fold(&mut self, gvc_min: &VersionVector) -> usize {
        if self.runs.len() < 2 {
            return 0;
        }
        let mut merged = 0;
        let mut out: Vec<Run> = Vec::with_capacity(self.runs.len());
        for r in self.runs.drain(..) {
            if let Some(prev) = out.last_mut() {
                let stable = gvc_min.get(r.origin);
                if prev.origin == r.origin && prev.last <= stable && r.last <= stable {
                    prev.last = r.last;
                    prev.hlc = prev.hlc.max(r.hlc);
                    prev.sum.add_sum(&r.sum);
                    merged += 1;
                    continue;
                }
            }
            out.push(r);
        }
        self.runs = out.into();
        merged
    }

    /// True when some origin has more than one run (folding may shrink it).
    pub fn has_unfolded(&self) -> bool {
        self.runs.windows(2).any(|w| w[0].origin == w[1].origin)
    }

    /// Folds every run of one origin into one: only right when every
    /// instance has observed all of them (a database with one member).
    pub fn fold_all(&mut self) {
        if self.runs.len() < 2 {
            return;
        }
        // In place (a solo instance folds after every INCR: no allocation,
        // and the runs keep their capacity for the next one).
        let runs = &mut self.runs[..];
        let mut w = 0;
        for r in 1..runs.len() {
            if runs[w].origin == runs[r].origin {
                let (done, rest) = runs.split_at_mut(r);
                let (prev, cur) = (&mut done[w], &rest[0]);
                prev.last = prev.last.max(cur.last);
                prev.first = prev.first.min(cur.first);
                prev.hlc = prev.hlc.max(cur.hlc);
                prev.sum.add_sum(&cur.sum);
            } else {
                w += 1;
                runs.swap(w, r);
            }
        }
        self.runs.truncate(w + 1);
    }

    /// The sum of all increments alive (those the winning write did not observe).
    pub fn increments(&self) -> Sum {
        let mut s = Sum::default();
        for r in &self.runs {
            s.add_sum(&r.sum);
        }
        s
    }

    /// What a reader sees. A register value that is not a number hides the
    /// increments (they show again if a numeric value wins later).
    pub fn shown(&self) -> Shown<'_> {
        let base = self.winner();
        if self.runs.is_empty() {
            return match base {
                Some(v) => Shown::Bytes(&v.value),
                None => Shown::Absent,
            };
        }
        // Integer increments only (nearly every counter): their sum without
        // building a `Sum`, in the order `increments` adds them.
        let mut int: i128 = 0;
        let mut float = false;
        for r in &self.runs {
            int += r.sum.int;
            float |= r.sum.is_float;
        }
        if !float {
            match base {
                None => return Shown::Int(int),
                Some(v) => match parse_number(&v.value) {
                    Some(Delta::Int(i)) => return Shown::Int(int + i as i128),
                    None => return Shown::Bytes(&v.value),
                    Some(Delta::Float(_)) => {}
                },
            }
        }
        self.shown_exact(base)
    }

    /// [`Cell::shown`] through the exact [`Sum`] of every increment (the
    /// general path; `shown` takes it when a float is involved).
    pub fn shown_exact<'a>(&'a self, base: Option<&'a Version>) -> Shown<'a> {
        if self.runs.is_empty() {
            return match base {
                Some(v) => Shown::Bytes(&v.value),
                None => Shown::Absent,
            };
        }
        let mut total = self.increments();
        match base {
            None => {}
            Some(v) => match parse_number(&v.value) {
                Some(Delta::Int(i)) => total.add(Delta::Int(i)),
                Some(Delta::Float(f)) => total.add(Delta::Float(f)),
                None => return Shown::Bytes(&v.value),
            },
        }
        if total.is_float {
            Shown::Float(total.to_f64())
        } else {
            Shown::Int(total.int)
        }
    }

    /// Join with another instance's copy of this cell (full-sync merge).
    /// `mine` and `theirs` are the two instances' observed version vectors:
    /// an item present on one side only is kept if the other side never saw
    /// it, and dropped if the other side saw it and removed it.
    pub fn merge(&mut self, other: &Cell, mine: &VersionVector, theirs: &VersionVector) {
        self.versions.retain(|v| other.versions.iter().any(|o| o.pdot == v.pdot) || !theirs.covers(v.dot()));
        for o in &other.versions {
            if !mine.covers(o.dot()) {
                self.write(o.dot(), o.hlc, o.value.clone());
            }
        }
        let overlaps = |a: &Run, b: &Run| a.origin == b.origin && a.first <= b.last && b.first <= a.last;
        let keep_mine: Vec<Run> = self
            .runs
            .iter()
            .filter(|r| other.runs.iter().any(|o| overlaps(r, o)) || r.last > theirs.get(r.origin))
            .cloned()
            .collect();
        let keep_theirs =
            other.runs.iter().filter(|o| self.runs.iter().any(|r| overlaps(r, o)) || o.last > mine.get(o.origin));
        let mut all: Vec<Run> = keep_mine;
        for o in keep_theirs {
            all.push(o.clone());
        }
        // Where both sides hold the same increments, keep the coarser run.
        all.sort_by(|a, b| (a.origin, a.first, std::cmp::Reverse(a.last)).cmp(&(b.origin, b.first, std::cmp::Reverse(b.last))));
        let mut out: Vec<Run> = Vec::with_capacity(all.len());
        for r in all {
            if let Some(prev) = out.last() {
                if prev.origin == r.origin && r.first >= prev.first && r.last <= prev.last {
                    continue;
                }
            }
            out.push(r);
        }
        self.runs = out.into();
    }
}

/// Parses a register value as a counter base: a canonical integer, or a float
/// Redis would accept for INCRBYFLOAT.
pub fn parse_number(b: &[u8]) -> Option<Delta> {
    // (An integer is ASCII: no UTF-8 check needed before it.)
    if let Some(i) = parse_i64_strict(b) {
        return Some(Delta::Int(i));
    }
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.bytes().any(|c| c.is_ascii_whitespace()) {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    if f.is_nan() {
        return None;
    }
    Some(Delta::Float(f))
}

/// Redis's `string2ll`: optional '-', no leading zeros or '+', fits i64.
pub fn parse_i64_strict(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let (neg, digits) = if b[0] == b'-' { (true, &b[1..]) } else { (false, b) };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i128;
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

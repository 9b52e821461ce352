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

use thin_vec::ThinVec;

use crate::blob::TinyBlob;
use crate::id::{Dot, Hlc, InstanceId, PackedDot, Stamp, VersionVector};
use crate::num::{Delta, Sum};

pub type Blob = Box<[u8]>;

/// One register write. 32 bytes: the dot packed (8), the HLC (8) and the
/// value (16, inline up to 14 bytes), so a cell holding one is 32.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub pdot: PackedDot,
    pub hlc: Hlc,
    pub value: TinyBlob,
}

impl Version {
    pub fn new(dot: Dot, hlc: Hlc, value: impl Into<TinyBlob>) -> Version {
        Version { pdot: PackedDot::new(dot), hlc, value: value.into() }
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

/// A cell: its register versions (sorted by dot) and its counter runs
/// (sorted by (origin, first)), read through [`Cell::versions`] and
/// [`Cell::runs`]. 32 bytes: nearly every cell is one version and no
/// increment, kept inline; any other cell is two thin vectors (8 bytes
/// each, no allocation while empty).
#[derive(Clone)]
pub struct Cell(Repr);

#[derive(Clone)]
enum Repr {
    /// Exactly one version and no runs (never `Other` with that content,
    /// so the form is canonical).
    One(Version),
    /// Anything else: no version (an empty cell, or a counter), several
    /// concurrent versions, or increments.
    Other { versions: ThinVec<Version>, runs: ThinVec<Run> },
}

const _: () = assert!(std::mem::size_of::<Cell>() == 32);

impl Repr {
    const EMPTY: Repr = Repr::Other { versions: ThinVec::new(), runs: ThinVec::new() };
}

impl Default for Cell {
    fn default() -> Cell {
        Cell(Repr::EMPTY)
    }
}

impl PartialEq for Cell {
    fn eq(&self, other: &Cell) -> bool {
        self.versions() == other.versions() && self.runs() == other.runs()
    }
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell").field("versions", &self.versions()).field("runs", &self.runs()).finish()
    }
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
    /// A cell from its parts: versions sorted by dot, runs by (origin, first).
    pub fn from_parts(versions: impl IntoIterator<Item = Version>, runs: impl IntoIterator<Item = Run>) -> Cell {
        let mut c = Cell(Repr::Other { versions: versions.into_iter().collect(), runs: runs.into_iter().collect() });
        c.tidy();
        c
    }

    /// The register versions, sorted by dot.
    #[inline]
    pub fn versions(&self) -> &[Version] {
        match &self.0 {
            Repr::One(v) => std::slice::from_ref(v),
            Repr::Other { versions, .. } => versions,
        }
    }

    /// The counter runs, sorted by (origin, first).
    #[inline]
    pub fn runs(&self) -> &[Run] {
        match &self.0 {
            Repr::One(_) => &[],
            Repr::Other { runs, .. } => runs,
        }
    }

    /// Appends a version after every version the cell holds (decoders: the
    /// caller keeps the order by dot).
    pub fn push_version(&mut self, v: Version) {
        debug_assert!(self.versions().last().is_none_or(|p| p.pdot < v.pdot), "versions out of order");
        if let Repr::Other { versions, runs } = &self.0 {
            if versions.is_empty() && runs.is_empty() {
                self.0 = Repr::One(v);
                return;
            }
        }
        self.parts().0.push(v);
    }

    /// Appends a run after every run the cell holds (decoders: the caller
    /// keeps the order by (origin, first)).
    pub fn push_run(&mut self, r: Run) {
        self.parts().1.push(r);
    }

    /// The versions and runs as vectors, to change (a cell of one version
    /// moves it into a vector; [`Cell::tidy`] moves it back).
    fn parts(&mut self) -> (&mut ThinVec<Version>, &mut ThinVec<Run>) {
        if let Repr::One(_) = self.0 {
            let Repr::One(v) = std::mem::replace(&mut self.0, Repr::EMPTY) else { unreachable!() };
            let mut versions = ThinVec::with_capacity(1);
            versions.push(v);
            self.0 = Repr::Other { versions, runs: ThinVec::new() };
        }
        match &mut self.0 {
            Repr::Other { versions, runs } => (versions, runs),
            Repr::One(_) => unreachable!(),
        }
    }

    /// Back to the canonical form: one version and no runs is `One`.
    #[inline]
    fn tidy(&mut self) {
        if let Repr::Other { versions, runs } = &mut self.0 {
            if versions.len() == 1 && runs.is_empty() {
                let v = versions.pop().expect("one version");
                self.0 = Repr::One(v);
            }
        }
    }

    /// True when the cell is in its one-version form (tests check the form
    /// stays canonical).
    #[cfg(test)]
    pub(crate) fn is_one(&self) -> bool {
        matches!(self.0, Repr::One(_))
    }

    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::One(_) => false,
            Repr::Other { versions, runs } => versions.is_empty() && runs.is_empty(),
        }
    }

    /// The winning register version, if any.
    #[inline]
    pub fn winner(&self) -> Option<&Version> {
        match &self.0 {
            Repr::One(v) => Some(v),
            Repr::Other { versions, .. } => versions.iter().max_by_key(|v| v.stamp()),
        }
    }

    /// The greatest stamp of anything alive in the cell (used to rank types).
    pub fn rank(&self) -> Stamp {
        let v = self.versions().iter().map(|v| v.stamp());
        let r = self.runs().iter().map(|r| Stamp { hlc: r.hlc, origin: r.origin });
        v.chain(r).max().unwrap_or_default()
    }

    /// The observed context of this cell: per origin, the highest sequence
    /// number alive. A write or remove carrying it removes exactly what the
    /// writer saw.
    pub fn ctx(&self, out: &mut VersionVector) {
        for v in self.versions() {
            out.observe(v.dot());
        }
        for r in self.runs() {
            out.raise(r.origin, r.last);
        }
    }

    /// Removes everything covered by `ctx`. Returns how many items it removed.
    pub fn remove(&mut self, ctx: &VersionVector) -> usize {
        match &mut self.0 {
            Repr::One(v) => {
                if ctx.covers(v.dot()) {
                    self.0 = Repr::EMPTY;
                    1
                } else {
                    0
                }
            }
            Repr::Other { versions, runs } => {
                let before = versions.len() + runs.len();
                versions.retain(|v| !ctx.covers(v.dot()));
                runs.retain(|r| {
                    let covered = r.last <= ctx.get(r.origin);
                    debug_assert!(covered || r.first > ctx.get(r.origin), "a removal cut a folded run");
                    !covered
                });
                let removed = before - versions.len() - runs.len();
                self.tidy();
                removed
            }
        }
    }

    /// Adds a register version (the caller removed what it observed first).
    /// Returns false if that version is already there.
    pub fn write(&mut self, dot: Dot, hlc: Hlc, value: impl Into<TinyBlob>) -> bool {
        let pdot = PackedDot::new(dot);
        match &mut self.0 {
            Repr::Other { versions, runs } if versions.is_empty() && runs.is_empty() => {
                // (A SET: the cell's only version was just removed.)
                self.0 = Repr::One(Version { pdot, hlc, value: value.into() });
                true
            }
            Repr::One(v) if v.pdot == pdot => false,
            _ => {
                let versions = self.parts().0;
                match versions.binary_search_by_key(&pdot, |v| v.pdot) {
                    Ok(_) => false,
                    Err(i) => {
                        // Concurrent versions are few: grow one at a time.
                        versions.reserve_exact(1);
                        versions.insert(i, Version { pdot, hlc, value: value.into() });
                        true
                    }
                }
            }
        }
    }

    /// Adds one increment.
    pub fn incr(&mut self, dot: Dot, hlc: Hlc, delta: Delta) {
        let runs = self.parts().1;
        let i = runs.partition_point(|r| (r.origin, r.first) < (dot.origin, dot.seq));
        if runs.get(i).is_some_and(|r| r.origin == dot.origin && r.first == dot.seq) {
            self.tidy();
            return;
        }
        runs.insert(i, Run { origin: dot.origin, first: dot.seq, last: dot.seq, hlc, sum: Sum::of(delta) });
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
        let Repr::Other { runs, .. } = &mut self.0 else { return None };
        let runs = &mut runs[..];
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
        if self.runs().len() < 2 {
            return 0;
        }
        let runs = self.parts().1;
        let mut merged = 0;
        let mut out: Vec<Run> = Vec::with_capacity(runs.len());
        for r in runs.drain(..) {
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
        *runs = out.into();
        merged
    }

    /// True when some origin has more than one run (folding may shrink it).
    pub fn has_unfolded(&self) -> bool {
        self.runs().windows(2).any(|w| w[0].origin == w[1].origin)
    }

    /// Folds every run of one origin into one: only right when every
    /// instance has observed all of them (a database with one member).
    pub fn fold_all(&mut self) {
        if self.runs().len() < 2 {
            return;
        }
        // In place (a solo instance folds after every INCR: no allocation,
        // and the runs keep their capacity for the next one).
        let runs = self.parts().1;
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
        runs.truncate(w + 1);
    }

    /// The sum of all increments alive (those the winning write did not observe).
    pub fn increments(&self) -> Sum {
        let mut s = Sum::default();
        for r in self.runs() {
            s.add_sum(&r.sum);
        }
        s
    }

    /// What a reader sees. A register value that is not a number hides the
    /// increments (they show again if a numeric value wins later).
    #[inline]
    pub fn shown(&self) -> Shown<'_> {
        if let Repr::One(v) = &self.0 {
            return Shown::Bytes(&v.value);
        }
        let base = self.winner();
        let runs = self.runs();
        if runs.is_empty() {
            return match base {
                Some(v) => Shown::Bytes(&v.value),
                None => Shown::Absent,
            };
        }
        // Integer increments only (nearly every counter): their sum without
        // building a `Sum`, in the order `increments` adds them.
        let mut int: i128 = 0;
        let mut float = false;
        for r in runs {
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
        if self.runs().is_empty() {
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
        self.parts().0.retain(|v| other.versions().iter().any(|o| o.pdot == v.pdot) || !theirs.covers(v.dot()));
        for o in other.versions() {
            if !mine.covers(o.dot()) {
                self.write(o.dot(), o.hlc, &o.value);
            }
        }
        let overlaps = |a: &Run, b: &Run| a.origin == b.origin && a.first <= b.last && b.first <= a.last;
        let keep_mine: Vec<Run> = self
            .runs()
            .iter()
            .filter(|r| other.runs().iter().any(|o| overlaps(r, o)) || r.last > theirs.get(r.origin))
            .cloned()
            .collect();
        let keep_theirs =
            other.runs().iter().filter(|o| self.runs().iter().any(|r| overlaps(r, o)) || o.last > mine.get(o.origin));
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
        if !(out.is_empty() && self.runs().is_empty()) {
            *self.parts().1 = out.into();
        }
        self.tidy();
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

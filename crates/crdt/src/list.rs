//! [`List`]: a replicated sequence (RGA) for Redis lists.
//!
//! # Model
//!
//! Every element has an identity, the dot of the effect that inserted it,
//! and a stamp, (HLC of that effect, origin) ordered as [`Stamp`]. An insert
//! names the element it goes *after* (its anchor; `None` = the head). The
//! sequence is the RGA order: the element goes right after its anchor,
//! before every element already there whose stamp is smaller, after those
//! whose stamp is greater. Because an origin's clock has observed every
//! element it could anchor to, a causally later insert always has a greater
//! stamp than everything it saw, so "LINSERT AFTER x" lands right after x
//! at the origin; concurrent inserts after one anchor are ordered by stamp
//! (greater first), which is arbitrary but identical everywhere. The HLC is
//! used here as a Lamport clock: it only has to respect causality.
//!
//! The value of an element is a [`Cell`] of register versions: the insert
//! writes the first version (its own dot), LSET writes a new version removing
//! the versions it observed (LWW between concurrent LSETs). Removals (LREM,
//! LTRIM, pops, DEL) remove the versions they observed; an element whose cell
//! is empty is a *tombstone*: invisible, kept in the sequence so that
//! concurrent inserts after it still find their place. A concurrent LSET's
//! version survives a removal that did not observe it (update wins), as hash
//! fields do. Two instances popping the same element both return it (pops are
//! at-least-once).
//!
//! # Out-of-order delivery
//!
//! Delivery is FIFO per origin only, so an insert can arrive before its
//! anchor (which came from a third instance), and an LSET or a removal can
//! arrive before the insert of its element.
//! - An insert whose anchor is absent is an *orphan*: kept aside (invisible)
//!   and placed when its anchor arrives.
//! - An LSET or removal of an element whose insert has not arrived creates an
//!   *early* record (its versions and removal context), merged into the
//!   element when the insert arrives.
//! - Each element keeps `rm`, the join of the removal contexts applied to it
//!   that covered versions not yet arrived: a version arriving later that
//!   `rm` covers was observed by a removal and is dropped.
//!
//! # Garbage collection of tombstones
//!
//! When an element dies (or is touched while dead), it is logged with this
//! instance's version vector at that moment (`deaths`). A tombstone `t` is
//! collected when
//! 1. `gvc_min` covers the logged vector: every instance has applied every
//!    effect this instance had applied touching `t` (its insert, versions and
//!    the removals of them). Then no instance can still see `t` alive: no
//!    future effect anchors to `t` or writes it (an effect issued later by an
//!    origin comes after that origin's announcement in its stream, so after
//!    it applied the removals), and every effect that did was delivered here
//!    before the announcement;
//! 2. the element right after `t` in the sequence (if any) is covered by
//!    `gvc_min`. A future insert has a greater stamp than everything covered
//!    by `gvc_min`, so an RGA scan that would stop at `t` stops at that next
//!    element instead: removing `t` does not change where any future element
//!    goes, so instances that collected `t` and instances that did not still
//!    place every element identically.
//!
//! Orphans and early records are never collected (their insert or anchor
//! always arrives eventually). A dead list keeps existing (invisibly, see
//! [`crate::db::Entry`]) while it holds tombstones, orphans or early records.
//!
//! # Representation
//!
//! The sequence (tombstones included) is a vector of chunks of at most
//! [`CHUNK_MAX`] elements, each with its count of live elements, and a map
//! from element id to chunk: inserts cost O(chunk), finding the i-th live
//! element O(chunks + chunk), so LINDEX/LRANGE on long lists stay cheap.
//! An element is packed in 48 bytes ([`Elem`]): the common one, whose cell
//! is its insert's one version and whose `rm` is empty, keeps only its value
//! (inline when short); any other keeps its whole record behind a pointer.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use crate::cell::{Blob, Cell, Version};
use crate::id::{Dot, Hlc, PackedDot, Stamp, VersionVector};

/// A dot as the index keys it: the origin in the high 16 bits, the sequence
/// number in the low 48 (as [`crate::PackedDot`]), so one origin's ids are
/// contiguous and ordered.
fn pack(id: Dot) -> u64 {
    debug_assert!(id.seq <= crate::SEQ_MAX);
    (u64::from(id.origin.0) << 48) | id.seq
}

/// Largest number of elements (live or not) in one chunk.
pub const CHUNK_MAX: usize = 128;

/// Values of up to this many bytes sit inside the element.
const INLINE_MAX: usize = 22;

/// What an element holds besides its identity. Nearly every element is
/// *simple*: its cell is the insert's one version (dot = the element's id,
/// HLC = its HLC) and its `rm` is empty, so only the value is kept: inline
/// up to [`INLINE_MAX`] bytes, else in one allocation. A tombstone with an
/// empty `rm` is `Dead`. Any other element (LSET versions, concurrent
/// versions, a nonempty `rm`) keeps its whole record behind one pointer.
/// The form is canonical ([`Elem::from_record`] picks it), so two elements
/// holding the same record compare equal. 24 bytes.
#[derive(Clone, PartialEq)]
enum Body {
    Inline { len: u8, data: [u8; INLINE_MAX] },
    Heap(Box<[u8]>),
    Dead,
    Full(Box<Record>),
}

/// The whole record of an element that is not simple.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    /// The value versions; empty = removed (a tombstone).
    cell: Cell,
    /// Removal contexts applied to this element that may cover versions
    /// not yet arrived (empty when none).
    rm: VersionVector,
}

impl Body {
    fn value(v: &[u8]) -> Body {
        if v.len() <= INLINE_MAX {
            let mut data = [0; INLINE_MAX];
            data[..v.len()].copy_from_slice(v);
            Body::Inline { len: v.len() as u8, data }
        } else {
            Body::Heap(v.into())
        }
    }
}

/// One element of the sequence: 48 bytes (see [`Body`]).
#[derive(Clone, PartialEq)]
pub struct Elem {
    /// The dot of the insert.
    id: PackedDot,
    /// The clock reading of the insert.
    hlc: Hlc,
    /// The element it was inserted after; `id` itself for None (the head):
    /// an insert never anchors to itself.
    anchor: PackedDot,
    body: Body,
}

const _: () = assert!(std::mem::size_of::<Elem>() == 48);

impl std::fmt::Debug for Elem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elem")
            .field("id", &self.id())
            .field("hlc", &self.hlc)
            .field("anchor", &self.anchor())
            .field("cell", &self.cell())
            .field("rm", &self.rm())
            .finish()
    }
}

impl Elem {
    /// A simple element: the insert's version of `value` (`live`) or a
    /// tombstone with an empty `rm`.
    fn simple(id: Dot, hlc: Hlc, anchor: Option<Dot>, value: &[u8], live: bool) -> Elem {
        let id = PackedDot::new(id);
        let anchor = anchor.map_or(id, PackedDot::new);
        Elem { id, hlc, anchor, body: if live { Body::value(value) } else { Body::Dead } }
    }

    /// An element from its whole record (snapshots, merges), in the
    /// canonical form. `anchor` must not be `id`.
    pub fn from_record(id: Dot, hlc: Hlc, anchor: Option<Dot>, cell: Cell, rm: VersionVector) -> Elem {
        debug_assert!(anchor != Some(id), "an element anchored to itself");
        let pid = PackedDot::new(id);
        let mut e = Elem { id: pid, hlc, anchor: anchor.map_or(pid, PackedDot::new), body: Body::Dead };
        e.set_record(cell, rm);
        e
    }

    /// Stores (cell, rm) in the canonical form.
    fn set_record(&mut self, cell: Cell, rm: VersionVector) {
        self.body = if !rm.is_empty() || !cell.runs().is_empty() {
            Body::Full(Box::new(Record { cell, rm }))
        } else {
            match &cell.versions()[..] {
                [] => Body::Dead,
                [v] if v.pdot == self.id && v.hlc == self.hlc => Body::value(&v.value),
                _ => Body::Full(Box::new(Record { cell, rm })),
            }
        };
    }

    /// Takes the record out (the element is left dead until `set_record`).
    fn take_record(&mut self) -> (Cell, VersionVector) {
        match std::mem::replace(&mut self.body, Body::Dead) {
            Body::Full(r) => (r.cell, r.rm),
            other => {
                let mut cell = Cell::default();
                match other {
                    Body::Inline { len, data } => {
                        cell.push_version(Version::new(self.id(), self.hlc, &data[..len as usize]));
                    }
                    Body::Heap(v) => cell.push_version(Version::new(self.id(), self.hlc, v)),
                    Body::Dead | Body::Full(_) => {}
                }
                (cell, VersionVector::new())
            }
        }
    }

    /// Runs `f` on the element's record (cell, rm), unpacked for the call.
    fn modify<R>(&mut self, f: impl FnOnce(&mut Cell, &mut VersionVector) -> R) -> R {
        if let Body::Full(r) = &mut self.body {
            let out = f(&mut r.cell, &mut r.rm);
            let simple = r.rm.is_empty()
                && r.cell.runs().is_empty()
                && match &r.cell.versions()[..] {
                    [] => true,
                    [v] => v.pdot == self.id && v.hlc == self.hlc,
                    _ => false,
                };
            if simple {
                let (cell, rm) = self.take_record();
                self.set_record(cell, rm);
            }
            return out;
        }
        let (mut cell, mut rm) = self.take_record();
        let r = f(&mut cell, &mut rm);
        self.set_record(cell, rm);
        r
    }

    /// Removes the versions `ctx` covers (`Cell::remove`). Returns how many.
    fn remove_versions(&mut self, ctx: &VersionVector) -> usize {
        match &self.body {
            Body::Dead => 0,
            Body::Inline { .. } | Body::Heap(_) => {
                if ctx.covers(self.id()) {
                    self.body = Body::Dead;
                    1
                } else {
                    0
                }
            }
            Body::Full(_) => self.modify(|cell, _| cell.remove(ctx)),
        }
    }

    pub fn id(&self) -> Dot {
        self.id.get()
    }
    /// The clock reading of the insert.
    pub fn hlc(&self) -> Hlc {
        self.hlc
    }
    /// The element it was inserted after (None: the head).
    pub fn anchor(&self) -> Option<Dot> {
        (self.anchor != self.id).then(|| self.anchor.get())
    }
    pub fn stamp(&self) -> Stamp {
        Stamp { hlc: self.hlc, origin: self.id().origin }
    }
    pub fn is_live(&self) -> bool {
        match &self.body {
            Body::Inline { .. } | Body::Heap(_) => true,
            Body::Dead => false,
            Body::Full(r) => !r.cell.versions().is_empty(),
        }
    }
    /// The visible value (the winning version).
    pub fn value(&self) -> &[u8] {
        match &self.body {
            Body::Inline { len, data } => &data[..*len as usize],
            Body::Heap(v) => v,
            Body::Dead => &[],
            Body::Full(r) => r.cell.winner().map(|v| &v.value[..]).unwrap_or(&[]),
        }
    }
    /// The observed context of the element's value (what LSET or a removal
    /// of this element carries).
    pub fn ctx(&self, out: &mut VersionVector) {
        match &self.body {
            Body::Inline { .. } | Body::Heap(_) => out.observe(self.id()),
            Body::Dead => {}
            Body::Full(r) => r.cell.ctx(out),
        }
    }
    /// The greatest stamp of any live version (`Cell::rank`).
    pub fn rank(&self) -> Stamp {
        match &self.body {
            Body::Inline { .. } | Body::Heap(_) => self.stamp(),
            Body::Dead => Stamp::default(),
            Body::Full(r) => r.cell.rank(),
        }
    }
    /// The value versions; empty = removed (a tombstone).
    pub fn cell(&self) -> Cow<'_, Cell> {
        match &self.body {
            Body::Full(r) => Cow::Borrowed(&r.cell),
            _ => {
                let mut cell = Cell::default();
                if self.is_live() {
                    cell.push_version(Version::new(self.id(), self.hlc, self.value()));
                }
                Cow::Owned(cell)
            }
        }
    }
    /// Removal contexts applied to this element that may cover versions not
    /// yet arrived (empty when none).
    pub fn rm(&self) -> Cow<'_, VersionVector> {
        match &self.body {
            Body::Full(r) => Cow::Borrowed(&r.rm),
            _ => Cow::Owned(VersionVector::new()),
        }
    }
}

/// LSETs and removals of an element whose insert has not arrived yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Early {
    pub cell: Cell,
    pub rm: VersionVector,
}

#[derive(Clone, Debug, Default)]
struct Chunk {
    uid: u32,
    live: usize,
    elems: VecDeque<Elem>,
}

/// Elements that died (or were touched while dead) in one step, with this
/// instance's version vector after it.
#[derive(Clone, Debug)]
struct Deaths {
    batch: u64,
    vv: VersionVector,
    ids: Vec<Dot>,
}

/// A replicated list. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    /// Placed element -> uid of its chunk, by runs of ids (see [`runs`]).
    runs: runs::Runs,
    /// Number of placed elements, tombstones included.
    placed: usize,
    /// Chunk uid -> its index in `chunks` plus `pos_base`. Adding or
    /// removing a chunk renumbers only the chunks on its shorter side, so
    /// pushes and pops at either end of a long list stay O(1).
    chunk_pos: crate::FastMap<u32, i64>,
    pos_base: i64,
    next_uid: u32,
    live: usize,
    /// Arrived inserts whose anchor has not: by id.
    orphans: crate::FastMap<Dot, Elem>,
    /// Missing anchor -> the orphans waiting for it.
    waiting: crate::FastMap<Dot, Vec<Dot>>,
    /// Early LSETs/removals, by element id.
    early: crate::FastMap<Dot, Early>,
    /// Placed elements that died or were touched while dead since the last seal.
    fresh: Vec<Dot>,
    deaths: VecDeque<Deaths>,
    /// The last batch each dead element was logged in.
    death_batch: crate::FastMap<Dot, u64>,
    batches: u64,
    /// Every batch up to this one is covered by `gvc_min`.
    stable_upto: u64,
    /// Stable tombstones waiting for their next neighbour to be covered.
    stable: Vec<Dot>,
}

impl PartialEq for List {
    /// Equal visible sequences (ids, stamps, versions) and equal pending
    /// records. Tombstones are left out: instances collect them at different
    /// times.
    fn eq(&self, other: &List) -> bool {
        self.live == other.live
            && self.iter().zip(other.iter()).all(|(a, b)| a.id == b.id && a.hlc == b.hlc && a.cell() == b.cell())
            && self.orphans == other.orphans
            && self.early == other.early
    }
}

impl List {
    // ---- reading ------------------------------------------------------------

    /// Number of live elements.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when the list holds nothing at all: no element, tombstone,
    /// orphan or early record. (A list with only tombstones is not visible
    /// but still exists; see [`List::is_visible`].)
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.orphans.is_empty() && self.early.is_empty()
    }

    /// True when some element is live.
    pub fn is_visible(&self) -> bool {
        self.live > 0
    }

    /// The live elements in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Elem> + '_ {
        self.chunks.iter().filter(|c| c.live > 0).flat_map(|c| c.elems.iter()).filter(|e| e.is_live())
    }

    /// The live elements from index `start` (0-based) on.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = &Elem> + '_ {
        let mut skip = start;
        let mut ci = 0;
        while ci < self.chunks.len() && skip >= self.chunks[ci].live {
            skip -= self.chunks[ci].live;
            ci += 1;
        }
        self.chunks.range(ci..).flat_map(|c| c.elems.iter()).filter(|e| e.is_live()).skip(skip)
    }

    /// The live elements backwards, starting `from_end` elements before the
    /// last one (0 = the last element).
    pub fn iter_rev_from(&self, from_end: usize) -> impl Iterator<Item = &Elem> + '_ {
        let mut skip = from_end;
        let mut end = self.chunks.len();
        while end > 0 && skip >= self.chunks[end - 1].live {
            skip -= self.chunks[end - 1].live;
            end -= 1;
        }
        self.chunks.range(..end).rev().flat_map(|c| c.elems.iter().rev()).filter(|e| e.is_live()).skip(skip)
    }

    /// The live element at `index` (0-based).
    pub fn get(&self, index: usize) -> Option<&Elem> {
        self.iter_from(index).next()
    }

    pub fn first(&self) -> Option<&Elem> {
        self.iter().next()
    }

    pub fn last(&self) -> Option<&Elem> {
        self.iter().next_back()
    }

    /// Number of placed elements, tombstones included.
    pub fn placed(&self) -> usize {
        self.placed
    }

    /// Number of tombstones (placed dead elements).
    pub fn tombstones(&self) -> usize {
        self.placed - self.live
    }

    /// Inserts waiting for their anchor.
    pub fn orphans(&self) -> usize {
        self.orphans.len()
    }

    /// The greatest stamp of any live version (decides type conflicts).
    pub fn rank(&self) -> Stamp {
        self.iter().map(|e| e.rank()).max().unwrap_or_default()
    }

    /// The context of everything alive (what a DEL observes): placed
    /// elements (tombstones add nothing), orphans, early records.
    pub fn ctx(&self, out: &mut VersionVector) {
        for c in &self.chunks {
            if c.live > 0 {
                for e in &c.elems {
                    e.ctx(out);
                }
            }
        }
        for e in self.orphans.values() {
            e.ctx(out);
        }
        for e in self.early.values() {
            e.cell.ctx(out);
        }
    }

    // ---- parts (snapshots) ---------------------------------------------------------

    /// Every placed element in order, tombstones included.
    pub fn placed_elems(&self) -> impl Iterator<Item = &Elem> + '_ {
        self.chunks.iter().flat_map(|c| c.elems.iter())
    }

    /// The orphans (arrived, anchor not yet), by id.
    pub fn orphan_elems(&self) -> Vec<&Elem> {
        let mut v: Vec<&Elem> = self.orphans.values().collect();
        v.sort_by_key(|e| e.id());
        v
    }

    /// The early records (LSET/removal before the insert), by id.
    pub fn early_records(&self) -> Vec<(Dot, &Early)> {
        let mut v: Vec<(Dot, &Early)> = self.early.iter().map(|(d, e)| (*d, e)).collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// Rebuilds a list from its parts (as [`List::placed_elems`],
    /// [`List::orphan_elems`] and [`List::early_records`] give them). Every
    /// tombstone is logged for collection again at the next [`List::seal`].
    pub fn from_parts(placed: Vec<Elem>, orphans: Vec<Elem>, early: Vec<(Dot, Early)>) -> Result<List, &'static str> {
        let mut l = List::default();
        let mut seen = std::collections::HashSet::new();
        for e in placed.iter().chain(orphans.iter()) {
            if !seen.insert(e.id()) {
                return Err("duplicate list element");
            }
        }
        for (d, _) in &early {
            if !seen.insert(*d) {
                return Err("duplicate list element");
            }
        }
        let mut index = Vec::with_capacity(placed.len());
        for part in placed.chunks(CHUNK_MAX / 2) {
            for e in part {
                if !e.is_live() {
                    l.fresh.push(e.id());
                }
            }
            let c = l.new_chunk(part.to_vec());
            index.extend(c.elems.iter().map(|e| (pack(e.id()), c.uid)));
            l.live += c.live;
            l.chunks.push_back(c);
        }
        index.sort_unstable();
        l.runs.rebuild(&index);
        l.placed = placed.len();
        l.rebuild_pos();
        for e in orphans {
            match e.anchor() {
                Some(a) if !l.is_placed(a) => {
                    l.waiting.entry(a).or_default().push(e.id());
                    l.orphans.insert(e.id(), e);
                }
                _ => return Err("list orphan whose anchor is placed"),
            }
        }
        l.early = early.into_iter().collect();
        Ok(l)
    }

    // ---- the sequence -----------------------------------------------------------

    fn rebuild_pos(&mut self) {
        self.chunk_pos.clear();
        self.pos_base = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            self.chunk_pos.insert(c.uid, i as i64);
        }
    }

    /// Inserts chunk `c` at index `k`, renumbering the shorter side.
    fn insert_chunk(&mut self, k: usize, c: Chunk) {
        let len = self.chunks.len();
        if k < len - k {
            // Chunks 0..k keep their index: lower their numbers with the base.
            for i in 0..k {
                *self.chunk_pos.get_mut(&self.chunks[i].uid).expect("chunk map is exact") -= 1;
            }
            self.pos_base -= 1;
        } else {
            for i in k..len {
                *self.chunk_pos.get_mut(&self.chunks[i].uid).expect("chunk map is exact") += 1;
            }
        }
        self.chunk_pos.insert(c.uid, k as i64 + self.pos_base);
        self.chunks.insert(k, c);
    }

    /// Removes the chunk at index `k`, renumbering the shorter side.
    fn remove_chunk(&mut self, k: usize) -> Chunk {
        let c = self.chunks.remove(k).expect("chunk index in range");
        self.chunk_pos.remove(&c.uid);
        let len = self.chunks.len();
        if k < len - k {
            for i in 0..k {
                *self.chunk_pos.get_mut(&self.chunks[i].uid).expect("chunk map is exact") += 1;
            }
            self.pos_base += 1;
        } else {
            for i in k..len {
                *self.chunk_pos.get_mut(&self.chunks[i].uid).expect("chunk map is exact") -= 1;
            }
        }
        c
    }

    /// Where placed element `id` is: (chunk index, index in the chunk).
    fn locate(&self, id: Dot) -> Option<(usize, usize)> {
        // Pushes and pops work at the ends: the first and last elements
        // need no index lookup.
        let last = self.chunks.len().checked_sub(1)?;
        let back = &self.chunks[last].elems;
        if back.back().is_some_and(|e| e.id() == id) {
            return Some((last, back.len() - 1));
        }
        if self.chunks[0].elems.front().is_some_and(|e| e.id() == id) {
            return Some((0, 0));
        }
        let uid = self.runs.get(pack(id))?;
        let ci = (self.chunk_pos[&uid] - self.pos_base) as usize;
        let elems = &self.chunks[ci].elems;
        // Search from both ends at once, so an element k places from
        // either end costs k steps (a pop's element sits behind the
        // tombstones of the previous pops). The run may span ids that are
        // not placed: then the element is not in the chunk.
        let (mut lo, mut hi) = (0, elems.len());
        while lo < hi {
            hi -= 1;
            if elems[hi].id() == id {
                return Some((ci, hi));
            }
            if elems[lo].id() == id {
                return Some((ci, lo));
            }
            lo += 1;
        }
        None
    }

    fn is_placed(&self, id: Dot) -> bool {
        self.locate(id).is_some()
    }

    /// The placed elements of chunk `uid` whose packed ids are in `lo..=hi`.
    fn count_in(chunks: &VecDeque<Chunk>, chunk_pos: &crate::FastMap<u32, i64>, pos_base: i64, uid: u32, lo: u64, hi: u64) -> u32 {
        let ci = (chunk_pos[&uid] - pos_base) as usize;
        chunks[ci].elems.iter().filter(|e| (lo..=hi).contains(&pack(e.id()))).count() as u32
    }

    /// Indexes element `id`, just placed in chunk `uid`.
    fn index(&mut self, id: Dot, uid: u32) {
        let List { runs, chunks, chunk_pos, pos_base, .. } = self;
        runs.add(pack(id), uid, |u, lo, hi| Self::count_in(chunks, chunk_pos, *pos_base, u, lo, hi));
        self.placed += 1;
    }

    /// Re-indexes chunks `a..=b` after elements moved between them.
    /// `before`: the packed ids they held (sorted), all still placed there.
    fn reindex(&mut self, before: &[u64], a: usize, b: usize) {
        self.runs.drop_covering(before);
        let mut placed: Vec<(u64, u32)> = Vec::with_capacity(before.len());
        for c in self.chunks.range(a..=b) {
            placed.extend(c.elems.iter().map(|e| (pack(e.id()), c.uid)));
        }
        placed.sort_unstable();
        self.runs.rebuild(&placed);
    }

    /// The sorted packed ids of chunk `ci`'s elements (and of chunk `ci + 1`'s if `two`).
    fn ids_of(&self, ci: usize, two: bool) -> Vec<u64> {
        let end = if two { ci + 1 } else { ci };
        let mut ids: Vec<u64> = self.chunks.range(ci..=end).flat_map(|c| c.elems.iter().map(|e| pack(e.id()))).collect();
        ids.sort_unstable();
        ids
    }

    /// The id of the element after position (ci, pi), tombstones included.
    fn next_id(&self, ci: usize, pi: usize) -> Option<Dot> {
        if let Some(e) = self.chunks[ci].elems.get(pi + 1) {
            return Some(e.id());
        }
        self.chunks.range(ci + 1..).find_map(|c| c.elems.front()).map(|e| e.id())
    }

    /// A chunk of `elems` with a new uid (the caller indexes them).
    fn new_chunk(&mut self, elems: Vec<Elem>) -> Chunk {
        let uid = self.next_uid;
        self.next_uid = self.next_uid.wrapping_add(1);
        let live = elems.iter().filter(|e| e.is_live()).count();
        Chunk { uid, live, elems: elems.into() }
    }

    /// Integrates an element whose anchor is placed (or None): RGA.
    fn place(&mut self, elem: Elem) {
        let s = elem.stamp();
        let (mut ci, mut pi) = match elem.anchor() {
            None => (0, 0),
            Some(a) => {
                let (ci, pi) = self.locate(a).expect("anchor placed");
                (ci, pi + 1)
            }
        };
        // Skip the elements inserted after the anchor with greater stamps
        // (and, since descendants have greater stamps than their ancestors,
        // their subtrees).
        while ci < self.chunks.len() {
            let c = &self.chunks[ci];
            if pi >= c.elems.len() {
                if ci + 1 < self.chunks.len() {
                    ci += 1;
                    pi = 0;
                    continue;
                }
                break;
            }
            if c.elems[pi].stamp() > s {
                pi += 1;
            } else {
                break;
            }
        }
        if self.chunks.is_empty() {
            let c = self.new_chunk(Vec::new());
            self.chunks.push_back(c);
            self.rebuild_pos();
            ci = 0;
            pi = 0;
        }
        let live = elem.is_live();
        let id = elem.id();
        let chunk = &mut self.chunks[ci];
        let len = chunk.elems.len();
        if len == chunk.elems.capacity() {
            // Grow by doubling, but never past CHUNK_MAX + 1 (the most a
            // chunk holds before it splits): a deque would double 128 to 256.
            chunk.elems.reserve_exact(len.clamp(1, CHUNK_MAX + 1 - len));
        }
        chunk.elems.insert(pi, elem);
        if live {
            chunk.live += 1;
            self.live += 1;
        }
        let uid = chunk.uid;
        let full = chunk.elems.len() > CHUNK_MAX;
        self.index(id, uid);
        if full {
            let before = self.ids_of(ci, false);
            let chunk = &mut self.chunks[ci];
            let half = chunk.elems.len() / 2;
            let tail = chunk.elems.split_off(half);
            if pi >= half {
                // The inserts went to the tail (RPUSH): the head half keeps
                // only its elements' room (the tail's deque is exact).
                chunk.elems.shrink_to_fit();
            }
            let moved = tail.iter().filter(|e| e.is_live()).count();
            self.chunks[ci].live -= moved;
            let c = self.new_chunk(tail.into());
            self.insert_chunk(ci + 1, c);
            self.reindex(&before, ci, ci + 1);
        }
    }

    /// Removes the placed element at (ci, pi) from the sequence.
    fn unplace(&mut self, ci: usize, pi: usize) -> Elem {
        let e = self.chunks[ci].elems.remove(pi).expect("element index in range");
        self.runs.remove(pack(e.id()));
        self.placed -= 1;
        if e.is_live() {
            self.chunks[ci].live -= 1;
            self.live -= 1;
        }
        let len = self.chunks[ci].elems.len();
        if len == 0 {
            self.remove_chunk(ci);
        } else if ci + 1 < self.chunks.len() && len + self.chunks[ci + 1].elems.len() <= CHUNK_MAX / 2 {
            // Keep chunks from fragmenting: fold a small neighbour in.
            let before = self.ids_of(ci, true);
            let next = self.remove_chunk(ci + 1);
            self.chunks[ci].live += next.live;
            self.chunks[ci].elems.extend(next.elems);
            self.reindex(&before, ci, ci);
        }
        e
    }

    /// Places an arrived element, or keeps it as an orphan until its anchor
    /// is placed; placing an element releases the orphans waiting for it.
    fn admit(&mut self, elem: Elem) {
        if let Some(a) = elem.anchor() {
            if !self.is_placed(a) {
                self.waiting.entry(a).or_default().push(elem.id());
                self.orphans.insert(elem.id(), elem);
                return;
            }
        }
        if self.waiting.is_empty() {
            // Nothing waits for an anchor (the usual case): no work list.
            if !elem.is_live() {
                self.fresh.push(elem.id());
            }
            self.place(elem);
            return;
        }
        let mut work = vec![elem];
        while let Some(e) = work.pop() {
            let id = e.id();
            if !e.is_live() {
                self.fresh.push(id);
            }
            self.place(e);
            if let Some(ws) = self.waiting.remove(&id) {
                for w in ws {
                    if let Some(o) = self.orphans.remove(&w) {
                        work.push(o);
                    }
                }
            }
        }
    }

    /// Runs `f` on the record (cell, rm) of element `id`: placed, orphan, or
    /// early (created when `create` and absent). Keeps live counts and the
    /// death log current. Returns None when there is no record.
    fn with_record<R>(&mut self, id: Dot, create: bool, f: impl FnOnce(&mut Cell, &mut VersionVector) -> R) -> Option<R> {
        if let Some((ci, pi)) = self.locate(id) {
            let e = &mut self.chunks[ci].elems[pi];
            let was = e.is_live();
            let r = e.modify(f);
            let now = e.is_live();
            self.changed(ci, id, was, now);
            return Some(r);
        }
        if let Some(e) = self.orphans.get_mut(&id) {
            return Some(e.modify(f));
        }
        if !create && !self.early.contains_key(&id) {
            return None;
        }
        let e = self.early.entry(id).or_default();
        Some(f(&mut e.cell, &mut e.rm))
    }

    /// Keeps live counts and the death log current after placed element
    /// `id` in chunk `ci` changed from live `was` to live `now`.
    fn changed(&mut self, ci: usize, id: Dot, was: bool, now: bool) {
        if was && !now {
            self.chunks[ci].live -= 1;
            self.live -= 1;
        } else if !was && now {
            self.chunks[ci].live += 1;
            self.live += 1;
            self.death_batch.remove(&id);
        }
        if !now {
            self.fresh.push(id);
        }
    }

    // ---- effects ------------------------------------------------------------------

    /// Applies an insert (`id` is the effect's dot). `blocked`: a pending
    /// removal of the whole key already observed (and so removed) it.
    pub fn insert(&mut self, id: Dot, hlc: Hlc, anchor: Option<Dot>, value: &[u8], blocked: bool) {
        // (The maps are nearly always empty: skip hashing the id then.)
        if anchor == Some(id) || self.is_placed(id) || (!self.orphans.is_empty() && self.orphans.contains_key(&id)) {
            // (An insert cannot anchor to itself: its anchor was observed
            // before it was made.)
            return;
        }
        let early = if self.early.is_empty() { None } else { self.early.remove(&id) };
        let elem = match early {
            Some(Early { mut cell, rm }) => {
                if !blocked && !rm.covers(id) {
                    cell.write(id, hlc, value);
                }
                Elem::from_record(id, hlc, anchor, cell, rm)
            }
            None => Elem::simple(id, hlc, anchor, value, !blocked),
        };
        self.admit(elem);
    }

    /// Applies an LSET: removes the versions of element `elem` that `ctx`
    /// covers, then writes version `dot` unless a pending removal observed
    /// it. `vv` is this instance's version vector (including `dot`).
    /// Returns true when a concurrent version remains (an LWW conflict).
    #[allow(clippy::too_many_arguments)]
    pub fn set(
        &mut self,
        elem: Dot,
        dot: Dot,
        hlc: Hlc,
        ctx: &VersionVector,
        value: Blob,
        blocked: bool,
        vv: &VersionVector,
    ) -> bool {
        // An element whose insert was applied here but that is gone was
        // collected: every instance saw it removed, so this cannot happen;
        // ignore it rather than keep an early record forever.
        let create = !vv.covers(elem);
        self.with_record(elem, create, |cell, rm| {
            cell.remove(ctx);
            if !ctx.le(vv) {
                rm.join(ctx);
            }
            let conflict = !cell.versions().is_empty();
            if !blocked && !rm.covers(dot) {
                cell.write(dot, hlc, value);
            }
            conflict
        })
        .unwrap_or(false)
    }

    /// Applies a removal of `elems` with the observed context `ctx`.
    /// Returns how many of the elements stay alive (a concurrent LSET not
    /// observed: update wins).
    pub fn remove(&mut self, elems: &[Dot], ctx: &VersionVector, vv: &VersionVector) -> usize {
        let mut kept = 0;
        let pending = !ctx.le(vv);
        for &id in elems {
            if !pending {
                // A simple placed element (a pop's, nearly always): its one
                // version goes or stays, `rm` stays empty; nothing unpacked.
                if let Some((ci, pi)) = self.locate(id) {
                    let e = &mut self.chunks[ci].elems[pi];
                    if !matches!(e.body, Body::Full(_)) {
                        let was = e.is_live();
                        e.remove_versions(ctx);
                        let now = e.is_live();
                        self.changed(ci, id, was, now);
                        if was && now {
                            kept += 1;
                        }
                        continue;
                    }
                }
            }
            let create = !vv.covers(id);
            let alive = self.with_record(id, create, |cell, rm| {
                let before = cell.versions().len();
                cell.remove(ctx);
                if pending {
                    rm.join(ctx);
                }
                before > 0 && !cell.versions().is_empty()
            });
            if alive == Some(true) {
                kept += 1;
            }
        }
        kept
    }

    /// Removes every version `ctx` covers, in every element (DEL, SET over
    /// the key, a pending key removal). Returns the versions removed.
    pub fn remove_ctx(&mut self, ctx: &VersionVector) -> usize {
        let mut n = 0;
        for c in &mut self.chunks {
            for e in &mut c.elems {
                if e.is_live() {
                    n += e.remove_versions(ctx);
                    if !e.is_live() {
                        c.live -= 1;
                        self.live -= 1;
                        self.fresh.push(e.id());
                    }
                }
            }
        }
        for e in self.orphans.values_mut() {
            n += e.remove_versions(ctx);
        }
        for e in self.early.values_mut() {
            n += e.cell.remove(ctx);
        }
        n
    }

    /// Logs the elements that died since the last seal with `vv`, this
    /// instance's version vector now (call after every effect and merge).
    pub fn seal(&mut self, vv: &VersionVector) {
        if self.fresh.is_empty() {
            return;
        }
        let mut ids = std::mem::take(&mut self.fresh);
        ids.sort_unstable();
        ids.dedup();
        self.batches += 1;
        let batch = self.batches;
        for &id in &ids {
            self.death_batch.insert(id, batch);
        }
        self.deaths.push_back(Deaths { batch, vv: vv.clone(), ids });
    }

    /// [`List::seal`] then [`List::gc`] with `vv` as `gvc_min`, as an
    /// instance alone does after every effect, without logging a batch that
    /// the same call would collect at once: no vector clone, no allocation.
    /// Leaves exactly the state the two calls leave. Returns how many
    /// tombstones it removed.
    pub fn seal_and_collect_alone(&mut self, vv: &VersionVector) -> usize {
        if !self.deaths.is_empty() || !self.stable.is_empty() {
            self.seal(vv);
            return self.gc(vv);
        }
        if self.fresh.is_empty() {
            return 0;
        }
        let mut ids = std::mem::take(&mut self.fresh);
        ids.sort_unstable();
        ids.dedup();
        self.batches += 1;
        let batch = self.batches;
        self.stable_upto = batch;
        let mut collected = 0;
        for &id in &ids {
            let Some((ci, pi)) = self.locate(id) else {
                self.death_batch.remove(&id);
                continue;
            };
            if self.chunks[ci].elems[pi].is_live() {
                self.death_batch.insert(id, batch);
            } else if self.next_id(ci, pi).is_none_or(|n| vv.covers(n)) {
                self.unplace(ci, pi);
                if !self.death_batch.is_empty() {
                    self.death_batch.remove(&id);
                }
                collected += 1;
            } else {
                self.death_batch.insert(id, batch);
                self.stable.push(id);
            }
        }
        ids.clear();
        self.fresh = ids;
        collected
    }

    /// Everything `seal` and `gc` keep, tombstones included, in a form two
    /// lists can be compared by (tests of the fast path).
    #[cfg(test)]
    fn gc_state(&self) -> String {
        let elems: Vec<(Dot, bool, usize)> =
            self.chunks.iter().enumerate().flat_map(|(ci, c)| c.elems.iter().map(move |e| (e.id(), e.is_live(), ci))).collect();
        let mut batches: Vec<_> = self.death_batch.iter().map(|(d, b)| (*d, *b)).collect();
        batches.sort_unstable();
        let deaths: Vec<_> = self.deaths.iter().map(|d| (d.batch, d.ids.clone())).collect();
        format!(
            "elems {elems:?} live {} death_batch {batches:?} deaths {deaths:?} stable {:?} upto {} batches {} fresh {:?}",
            self.live, self.stable, self.stable_upto, self.batches, self.fresh
        )
    }

    /// Panics unless the id index is exact: every placed element is found
    /// where it is, the runs are disjoint with exact counts (tests).
    #[cfg(test)]
    pub(crate) fn check_index(&self) {
        let mut placed: Vec<(u64, u32)> = Vec::new();
        for (ci, c) in self.chunks.iter().enumerate() {
            assert_eq!(self.chunk_pos[&c.uid] - self.pos_base, ci as i64, "chunk position");
            assert_eq!(c.live, c.elems.iter().filter(|e| e.is_live()).count(), "chunk live count");
            for (pi, e) in c.elems.iter().enumerate() {
                placed.push((pack(e.id()), c.uid));
                assert_eq!(self.locate(e.id()), Some((ci, pi)), "locate {:?}", e.id());
            }
        }
        assert_eq!(self.placed, placed.len(), "placed count");
        placed.sort_unstable();
        self.runs.check(&placed);
    }

    /// True while tombstones wait for collection.
    pub fn has_garbage(&self) -> bool {
        !self.deaths.is_empty() || !self.stable.is_empty() || !self.fresh.is_empty()
    }

    /// Collects the tombstones the rule in the module documentation allows.
    /// Returns how many it removed.
    pub fn gc(&mut self, gvc_min: &VersionVector) -> usize {
        while self.deaths.front().is_some_and(|d| d.vv.le(gvc_min)) {
            let d = self.deaths.pop_front().expect("checked");
            self.stable_upto = d.batch;
            for id in d.ids {
                if self.death_batch.get(&id) == Some(&d.batch) {
                    self.stable.push(id);
                }
            }
        }
        let mut collected = 0;
        let candidates = std::mem::take(&mut self.stable);
        for id in candidates {
            let Some((ci, pi)) = self.locate(id) else {
                self.death_batch.remove(&id);
                continue;
            };
            if self.chunks[ci].elems[pi].is_live() {
                continue;
            }
            match self.death_batch.get(&id) {
                Some(&b) if b <= self.stable_upto => {}
                _ => continue, // logged again later: that batch decides
            }
            if self.next_id(ci, pi).is_none_or(|n| gvc_min.covers(n)) {
                self.unplace(ci, pi);
                self.death_batch.remove(&id);
                collected += 1;
            } else {
                self.stable.push(id);
            }
        }
        collected
    }

    // ---- full sync ------------------------------------------------------------------

    /// Joins another instance's copy (full-sync merge). `mine` and `theirs`
    /// are the two instances' observed version vectors.
    pub fn merge(&mut self, other: &List, mine: &VersionVector, theirs: &VersionVector) {
        let empty_cell = Cell::default();
        let empty_vv = VersionVector::new();
        // Every record of the other side, by element id.
        type Theirs<'a> = (Option<&'a Elem>, Cow<'a, Cell>, Cow<'a, VersionVector>);
        let mut theirs_by_id: HashMap<Dot, Theirs<'_>> = HashMap::new();
        for e in other.chunks.iter().flat_map(|c| c.elems.iter()).chain(other.orphans.values()) {
            theirs_by_id.insert(e.id(), (Some(e), e.cell(), e.rm()));
        }
        for (id, e) in &other.early {
            theirs_by_id.insert(*id, (None, Cow::Borrowed(&e.cell), Cow::Borrowed(&e.rm)));
        }
        let record = |id: &Dot| theirs_by_id.get(id).map(|r| (&*r.1, &*r.2)).unwrap_or((&empty_cell, &empty_vv));
        let join = |cell: &mut Cell, rm: &mut VersionVector, id: &Dot| {
            let (oc, orm) = record(id);
            cell.merge(oc, mine, theirs);
            rm.join(orm);
            if !rm.is_empty() {
                cell.remove(rm);
            }
        };
        // Placed elements and orphans of mine.
        for c in &mut self.chunks {
            for e in &mut c.elems {
                let id = e.id();
                e.modify(|cell, rm| join(cell, rm, &id));
            }
        }
        for e in self.orphans.values_mut() {
            let id = e.id();
            e.modify(|cell, rm| join(cell, rm, &id));
        }
        // Early records of mine: become elements if the other side has the insert.
        let mut incoming: Vec<Elem> = Vec::new();
        let mut converted = std::collections::HashSet::new();
        let early_ids: Vec<Dot> = self.early.keys().copied().collect();
        for id in early_ids {
            let mut rec = self.early.remove(&id).expect("listed");
            join(&mut rec.cell, &mut rec.rm, &id);
            match theirs_by_id.get(&id).and_then(|r| r.0) {
                Some(te) => {
                    converted.insert(id);
                    incoming.push(Elem::from_record(id, te.hlc, te.anchor(), rec.cell, rec.rm));
                }
                None if theirs.covers(id) || mine.covers(id) => {} // collected there: gone everywhere
                None => {
                    self.early.insert(id, rec);
                }
            }
        }
        // Records only the other side has, for elements this side never saw.
        for (id, (te, oc, orm)) in &theirs_by_id {
            let (oc, orm) = (&**oc, &**orm);
            if mine.covers(*id) || self.is_placed(*id) || self.orphans.contains_key(id) || self.early.contains_key(id) {
                continue;
            }
            if converted.contains(id) {
                continue;
            }
            let mut cell = Cell::default();
            cell.merge(oc, mine, theirs);
            let rm = orm.clone();
            if !rm.is_empty() {
                cell.remove(&rm);
            }
            match te {
                Some(te) => incoming.push(Elem::from_record(*id, te.hlc, te.anchor(), cell, rm)),
                None => {
                    self.early.insert(*id, Early { cell, rm });
                }
            }
        }
        // Recount, and log every tombstone again (the merged vector covers
        // whatever touched them on either side).
        self.live = 0;
        for c in &mut self.chunks {
            c.live = c.elems.iter().filter(|e| e.is_live()).count();
            self.live += c.live;
            for e in &c.elems {
                if !e.is_live() {
                    self.fresh.push(e.id());
                } else {
                    self.death_batch.remove(&e.id());
                }
            }
        }
        // Place the new elements, anchors before their children.
        incoming.sort_by_key(|e| e.stamp());
        for e in incoming {
            self.admit(e);
        }
    }
}

/// The id index of a list: which chunk holds each placed element, kept as
/// *runs* rather than one entry per element.
///
/// A run is a span `start..=start + len` of one origin's sequence numbers
/// (dots packed as [`PackedDot`]s, so spans of one origin are contiguous
/// and ordered) mapped to one chunk, with `count`, how many placed elements
/// of that chunk it holds. Invariants:
/// - runs are disjoint;
/// - every placed element is inside exactly one run, the one of its chunk;
/// - a run's `count` is the number of placed elements inside it, never 0.
///
/// A run can also span ids that are not placed in the list (other keys'
/// effects, removed elements): the index answers "which chunk, if any"; the
/// chunk scan decides whether the element is there. Elements pushed one
/// after another by one origin take consecutive dots (or dots interleaved
/// only with other keys' effects), so a pushed list costs one run per chunk
/// instead of one hash-map entry per element, and a push or a pop touches
/// the index's first or last leaf only.
mod runs {
    use std::collections::BTreeMap;

    /// Packed dot of the run's first id -> the run.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) struct Run {
        /// The run spans `start..=start + len`.
        pub len: u32,
        pub uid: u32,
        /// Placed elements inside the run.
        pub count: u32,
    }

    fn same_origin(a: u64, b: u64) -> bool {
        (a ^ b) >> 48 == 0
    }

    /// The greatest id of `id`'s origin.
    fn origin_max(id: u64) -> u64 {
        id | crate::SEQ_MAX
    }

    #[derive(Clone, Debug, Default)]
    pub(super) struct Runs {
        /// Every run but the tails, by start.
        map: BTreeMap<u64, Run>,
        /// At most one per origin: a run starting above every run of its
        /// origin in `map` (its origin's last run), kept out of the tree:
        /// the pushes of an origin extend it, or look it up, without a
        /// tree search.
        tails: Vec<(u64, Run)>,
    }

    impl Runs {
        fn tail_of(&self, id: u64) -> Option<usize> {
            self.tails.iter().position(|(s, _)| same_origin(*s, id))
        }

        /// The run covering `id`: (start, run).
        fn covering(&self, id: u64) -> Option<(u64, Run)> {
            if let Some(&(s, r)) = self.tails.iter().find(|(s, _)| same_origin(*s, id)) {
                if id >= s {
                    return (id - s <= u64::from(r.len)).then_some((s, r));
                }
            }
            let (&s, &r) = self.map.range(..=id).next_back()?;
            (id - s <= u64::from(r.len)).then_some((s, r))
        }

        /// Moves the tails back into the tree (before edits of the tree
        /// that may concern them).
        fn flush(&mut self) {
            for (s, r) in self.tails.drain(..) {
                self.map.insert(s, r);
            }
        }

        /// The chunk that holds `id` if it is placed.
        pub fn get(&self, id: u64) -> Option<u32> {
            self.covering(id).map(|(_, r)| r.uid)
        }

        /// Number of runs.
        #[cfg(test)]
        pub fn len(&self) -> usize {
            self.map.len() + self.tails.len()
        }

        /// Records that `id` (not placed until now) is placed in chunk
        /// `uid`. `count_in(uid, lo, hi)` counts the placed elements of
        /// chunk `uid` whose ids are in `lo..=hi` (only called to split
        /// another chunk's run that spans `id`: rare).
        pub fn add(&mut self, id: u64, uid: u32, count_in: impl FnOnce(u32, u64, u64) -> u32) {
            // Above every run of its origin (an origin's new element, as
            // every push is): extend or replace the origin's tail.
            match self.tail_of(id) {
                Some(t) => {
                    let (s, r) = &mut self.tails[t];
                    if id > *s + u64::from(r.len) {
                        if r.uid == uid && id - *s <= u64::from(u32::MAX) {
                            r.len = (id - *s) as u32;
                            r.count += 1;
                        } else {
                            let (s, r) = self.tails[t];
                            self.map.insert(s, r);
                            self.tails[t] = (id, Run { len: 0, uid, count: 1 });
                        }
                        return;
                    }
                    self.flush();
                }
                None => match self.map.range(..=origin_max(id)).next_back() {
                    Some((&s, &r)) if same_origin(s, id) => {
                        if id > s + u64::from(r.len) {
                            if r.uid == uid && id - s <= u64::from(u32::MAX) {
                                self.map.remove(&s);
                                self.tails.push((s, Run { len: (id - s) as u32, uid, count: r.count + 1 }));
                            } else {
                                self.tails.push((id, Run { len: 0, uid, count: 1 }));
                            }
                            return;
                        }
                    }
                    _ => {
                        self.tails.push((id, Run { len: 0, uid, count: 1 }));
                        return;
                    }
                },
            }
            let floor = self.map.range_mut(..=id).next_back();
            if let Some((&s, r)) = floor {
                if id - s <= u64::from(r.len) {
                    if r.uid == uid {
                        r.count += 1;
                        return;
                    }
                    // Another chunk's run spans `id` (over ids not placed
                    // there): cut it around `id`.
                    let other = *r;
                    let end = s + u64::from(other.len);
                    let left = if id > s { count_in(other.uid, s, id - 1) } else { 0 };
                    let right = other.count - left;
                    debug_assert!(right == 0 || end > id);
                    if left > 0 {
                        *r = Run { len: (id - 1 - s) as u32, ..other };
                        r.count = left;
                    } else {
                        self.map.remove(&s);
                    }
                    if right > 0 {
                        self.map.insert(id + 1, Run { len: (end - id - 1) as u32, uid: other.uid, count: right });
                    }
                    self.map.insert(id, Run { len: 0, uid, count: 1 });
                    return;
                }
                // Extend the run before `id` (nothing is placed between).
                if r.uid == uid && same_origin(s, id) && id - s <= u64::from(u32::MAX) {
                    r.len = (id - s) as u32;
                    r.count += 1;
                    let count = r.count;
                    // ... and join the next run if it is the same chunk's.
                    if let Some((&n, &nr)) = self.map.range(id + 1..).next() {
                        if nr.uid == uid && same_origin(n, id) && n + u64::from(nr.len) - s <= u64::from(u32::MAX) {
                            self.map.remove(&n);
                            let r = self.map.get_mut(&s).expect("just extended");
                            r.len = (n + u64::from(nr.len) - s) as u32;
                            r.count = count + nr.count;
                        }
                    }
                    return;
                }
            }
            // Extend the run after `id` downwards.
            if let Some((&n, &nr)) = self.map.range(id..).next() {
                if nr.uid == uid && same_origin(n, id) && n + u64::from(nr.len) - id <= u64::from(u32::MAX) {
                    self.map.remove(&n);
                    self.map.insert(id, Run { len: (n + u64::from(nr.len) - id) as u32, uid, count: nr.count + 1 });
                    return;
                }
            }
            self.map.insert(id, Run { len: 0, uid, count: 1 });
        }

        /// Records that placed element `id` left the list.
        pub fn remove(&mut self, id: u64) {
            if let Some(t) = self.tail_of(id) {
                let (s, r) = &mut self.tails[t];
                if id >= *s {
                    debug_assert!(id - *s <= u64::from(r.len), "placed elements are indexed");
                    r.count -= 1;
                    if r.count == 0 {
                        self.tails.swap_remove(t);
                    }
                    return;
                }
            }
            let (&s, r) = self.map.range_mut(..=id).next_back().expect("placed elements are indexed");
            debug_assert!(id - s <= u64::from(r.len), "placed elements are indexed");
            r.count -= 1;
            if r.count == 0 {
                self.map.remove(&s);
            }
        }

        /// Drops every run covering one of `ids` (sorted): the chunks
        /// holding them are being rebuilt, and `ids` are all their elements.
        pub fn drop_covering(&mut self, ids: &[u64]) {
            self.flush();
            let mut last: Option<(u64, u64)> = None;
            for &id in ids {
                if last.is_some_and(|(s, e)| s <= id && id <= e) {
                    continue;
                }
                let (s, r) = self.covering(id).expect("placed elements are indexed");
                self.map.remove(&s);
                last = Some((s, s + u64::from(r.len)));
            }
        }

        /// Indexes `placed` (pairs of id and chunk uid, sorted by id), none
        /// of which any run covers: consecutive ids of one chunk with no
        /// other run between them share a run.
        pub fn rebuild(&mut self, placed: &[(u64, u32)]) {
            self.flush();
            let mut i = 0;
            while i < placed.len() {
                let (s, uid) = placed[i];
                debug_assert!(self.covering(s).is_none(), "rebuilt ids are not indexed");
                // The run may reach up to the next run already there.
                let limit = self.map.range(s + 1..).next().map_or(u64::MAX, |(k, _)| *k);
                let mut j = i + 1;
                while j < placed.len() {
                    let (id, u) = placed[j];
                    if u != uid || id >= limit || !same_origin(s, id) || id - s > u64::from(u32::MAX) {
                        break;
                    }
                    j += 1;
                }
                let e = placed[j - 1].0;
                self.map.insert(s, Run { len: (e - s) as u32, uid, count: (j - i) as u32 });
                i = j;
            }
        }

        /// Every run in order (tests).
        #[cfg(test)]
        pub fn all(&self) -> Vec<(u64, Run)> {
            let mut all: Vec<(u64, Run)> = self.map.iter().map(|(s, r)| (*s, *r)).chain(self.tails.iter().copied()).collect();
            all.sort_unstable_by_key(|x| x.0);
            all
        }

        /// Panics unless the runs index exactly `placed` (pairs of id and
        /// chunk uid, sorted by id): disjoint runs of one origin each,
        /// every id in its chunk's run, exact nonzero counts (tests).
        #[cfg(test)]
        pub fn check(&self, placed: &[(u64, u32)]) {
            for (s, _) in &self.tails {
                assert_eq!(self.tails.iter().filter(|(t, _)| same_origin(*t, *s)).count(), 1, "one tail per origin");
                assert!(self.map.range(..=origin_max(*s)).next_back().is_none_or(|(m, _)| !same_origin(*m, *s) || m < s), "tail {s:#x} is its origin's last run");
            }
            let mut prev_end: Option<u64> = None;
            for (s, r) in self.all() {
                let end = s + u64::from(r.len);
                assert!(same_origin(s, end), "run {s:#x} crosses origins");
                assert!(prev_end.is_none_or(|p| p < s), "runs overlap at {s:#x}");
                prev_end = Some(end);
                assert!(r.count > 0, "empty run at {s:#x}");
                let inside: Vec<&(u64, u32)> = placed.iter().filter(|(id, _)| (s..=end).contains(id)).collect();
                assert_eq!(inside.len() as u32, r.count, "count of run {s:#x}");
                assert!(inside.iter().all(|(_, u)| *u == r.uid), "run {s:#x} spans another chunk's element");
            }
            for &(id, uid) in placed {
                assert_eq!(self.get(id), Some(uid), "id {id:#x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::db::Db;
    use crate::effect::{Effect, Op};
    use crate::id::InstanceId;
    use crate::value::Value;

    const K: &[u8] = b"L";

    fn list(db: &Db) -> Option<&List> {
        match db.get(K).and_then(|e| e.value.as_ref()) {
            Some(Value::List(l)) => Some(l),
            _ => None,
        }
    }

    fn read(db: &Db) -> Vec<String> {
        list(db).map(|l| l.iter().map(|e| String::from_utf8_lossy(e.value()).into_owned()).collect()).unwrap_or_default()
    }

    fn ctx_of(elems: &[&Elem]) -> VersionVector {
        let mut vv = VersionVector::new();
        for e in elems {
            e.ctx(&mut vv);
        }
        vv
    }

    // Origin helpers: resolve a command against the origin's state, the way
    // the engine does, and commit it.

    fn lpush(db: &mut Db, v: &str, t: u64) -> Effect {
        db.commit(Op::ListInsert { key: K.into(), anchor: None, value: v.as_bytes().into() }, t)
    }

    fn rpush(db: &mut Db, v: &str, t: u64) -> Effect {
        let anchor = list(db).and_then(|l| l.last()).map(|e| e.id());
        db.commit(Op::ListInsert { key: K.into(), anchor, value: v.as_bytes().into() }, t)
    }

    fn linsert_after(db: &mut Db, pivot: &str, v: &str, t: u64) -> Option<Effect> {
        let anchor = list(db)?.iter().find(|e| e.value() == pivot.as_bytes())?.id();
        Some(db.commit(Op::ListInsert { key: K.into(), anchor: Some(anchor), value: v.as_bytes().into() }, t))
    }

    fn linsert_before(db: &mut Db, pivot: &str, v: &str, t: u64) -> Option<Effect> {
        let l = list(db)?;
        let i = l.iter().position(|e| e.value() == pivot.as_bytes())?;
        let anchor = if i == 0 { None } else { Some(l.get(i - 1)?.id()) };
        Some(db.commit(Op::ListInsert { key: K.into(), anchor, value: v.as_bytes().into() }, t))
    }

    fn pop(db: &mut Db, left: bool, t: u64) -> Option<(String, Effect)> {
        let l = list(db)?;
        let e = if left { l.first()? } else { l.last()? };
        let v = String::from_utf8_lossy(e.value()).into_owned();
        let op = Op::ListRemove { key: K.into(), elems: vec![e.id()], ctx: ctx_of(&[e]) };
        Some((v, db.commit(op, t)))
    }

    /// The packed element form is canonical: a record holding only the
    /// insert's version (or nothing) is kept simple whichever way it was
    /// reached, so elements holding one record compare equal; values of any
    /// length read back.
    #[test]
    fn packed_elements_are_canonical() {
        let vv = |dots: &[Dot]| {
            let mut v = VersionVector::new();
            for d in dots {
                v.observe(*d);
            }
            v
        };
        let id = Dot::new(1, 5);
        let hlc = Hlc(77);
        for value in [&b""[..], b"abc", &[7u8; INLINE_MAX], &[8u8; INLINE_MAX + 1], &[9u8; 300]] {
            let simple = Elem::simple(id, hlc, None, value, true);
            assert!(!matches!(simple.body, Body::Full(_)));
            assert_eq!(simple.value(), value);
            assert_eq!(simple.anchor(), None);
            let mut cell = Cell::default();
            cell.write(id, hlc, value);
            let rebuilt = Elem::from_record(id, hlc, None, cell.clone(), VersionVector::new());
            assert_eq!(rebuilt, simple);
            assert_eq!(&*simple.cell(), &cell);
            // An LSET's version makes it full; removing that version
            // (nothing left, empty rm) makes it a plain tombstone again.
            let mut e = Elem::simple(id, hlc, Some(Dot::new(2, 1)), value, true);
            let set = Dot::new(2, 9);
            e.modify(|c, _| {
                c.remove(&vv(&[id]));
                c.write(set, Hlc(99), b"new".as_slice());
            });
            assert!(matches!(e.body, Body::Full(_)));
            assert_eq!(e.value(), b"new");
            assert_eq!(e.anchor(), Some(Dot::new(2, 1)));
            e.modify(|c, _| c.remove(&vv(&[set])));
            assert!(matches!(e.body, Body::Dead));
            assert!(!e.is_live());
            // A removal context kept in rm keeps the record full.
            let mut e = Elem::simple(id, hlc, None, value, true);
            e.modify(|_, rm| rm.observe(Dot::new(3, 4)));
            assert!(matches!(e.body, Body::Full(_)));
            assert_eq!(e.value(), value);
            assert_eq!(e.remove_versions(&vv(&[id])), 1);
            assert!(!e.is_live());
            assert_eq!(&*e.rm(), &vv(&[Dot::new(3, 4)]));
        }
    }

    /// Thousands of elements (many chunks), pushed, inserted and removed at
    /// both ends and in the middle, against a plain Vec: chunks are added
    /// and removed at every position, so the chunk index bookkeeping
    /// (renumbering the shorter side) is exercised everywhere.
    #[test]
    fn long_list_matches_a_vec_under_edits_everywhere() {
        let mut db = Db::new(InstanceId(1));
        let mut model: Vec<String> = Vec::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for t in 1..=12_000u64 {
            let v = format!("v{t}");
            let r = next() % 100;
            let len = model.len();
            if r < 35 {
                lpush(&mut db, &v, t);
                model.insert(0, v);
            } else if r < 70 {
                rpush(&mut db, &v, t);
                model.push(v);
            } else if r < 95 && len > 0 {
                // Insert after a random element.
                let i = (next() as usize) % len;
                let anchor = list(&db).unwrap().get(i).unwrap().id();
                db.commit(Op::ListInsert { key: K.into(), anchor: Some(anchor), value: v.as_bytes().into() }, t);
                model.insert(i + 1, v);
            } else if len > 0 {
                // Remove a random run of up to 8 elements.
                let i = (next() as usize) % len;
                let n = ((next() as usize) % 8).min(len - i).max(1);
                let l = list(&db).unwrap();
                let gone: Vec<&Elem> = (i..i + n).map(|j| l.get(j).unwrap()).collect();
                let op = Op::ListRemove { key: K.into(), elems: gone.iter().map(|e| e.id()).collect(), ctx: ctx_of(&gone) };
                db.commit(op, t);
                model.drain(i..i + n);
            }
            if t % 1000 == 0 {
                assert_eq!(read(&db), model, "after {t} edits");
                list(&db).unwrap().check_index();
            }
        }
        assert_eq!(read(&db), model);
        let chunks = list(&db).unwrap().chunks.len();
        assert!(chunks >= 40, "only {chunks} chunks for {} elements", model.len());
    }

    fn lset(db: &mut Db, i: usize, v: &str, t: u64) -> Option<Effect> {
        let e = list(db)?.get(i)?;
        let op = Op::ListSet { key: K.into(), elem: e.id(), ctx: ctx_of(&[e]), value: v.as_bytes().into() };
        Some(db.commit(op, t))
    }

    fn lrem(db: &mut Db, v: &str, t: u64) -> Option<Effect> {
        let l = list(db)?;
        let hits: Vec<&Elem> = l.iter().filter(|e| e.value() == v.as_bytes()).collect();
        if hits.is_empty() {
            return None;
        }
        let op = Op::ListRemove { key: K.into(), elems: hits.iter().map(|e| e.id()).collect(), ctx: ctx_of(&hits) };
        Some(db.commit(op, t))
    }

    fn ltrim(db: &mut Db, start: usize, stop: usize, t: u64) -> Option<Effect> {
        let l = list(db)?;
        let gone: Vec<&Elem> = l.iter().enumerate().filter(|(i, _)| *i < start || *i > stop).map(|(_, e)| e).collect();
        if gone.is_empty() {
            return None;
        }
        let op = Op::ListRemove { key: K.into(), elems: gone.iter().map(|e| e.id()).collect(), ctx: ctx_of(&gone) };
        Some(db.commit(op, t))
    }

    fn del(db: &mut Db, t: u64) -> Option<Effect> {
        let ctx = db.entries.get(&K[..])?.ctx();
        Some(db.commit(Op::Del { key: K.into(), ctx }, t))
    }

    fn instances(n: u16) -> Vec<Db> {
        let ids: Vec<InstanceId> = (1..=n).map(InstanceId).collect();
        ids.iter()
            .map(|&id| {
                let mut db = Db::new(id);
                db.set_members(&ids);
                db
            })
            .collect()
    }

    fn deliver(db: &mut Db, effects: &[Effect]) {
        for e in effects {
            db.apply(e);
        }
    }

    /// Checks the id index of every list (visible or not) at the key.
    fn check_lists(db: &Db) {
        if let Some(e) = db.entries.get(&K[..]) {
            for v in e.values() {
                if let Value::List(l) = v {
                    l.check_index();
                }
            }
        }
    }

    // ---- the id index (runs) -------------------------------------------------------

    #[test]
    fn pushes_index_one_run_per_chunk() {
        // LPUSH, RPUSH, and pushes whose dots are interleaved with other
        // keys' effects: one run per chunk, not one entry per element.
        for (left, gaps) in [(true, false), (false, false), (true, true), (false, true)] {
            let mut db = Db::new(InstanceId(1));
            for i in 0..5000u64 {
                if left {
                    lpush(&mut db, &i.to_string(), i);
                } else {
                    rpush(&mut db, &i.to_string(), i);
                }
                if gaps {
                    db.commit(Op::ListInsert { key: b"other".as_slice().into(), anchor: None, value: b"x".as_slice().into() }, i);
                }
            }
            let l = list(&db).unwrap();
            l.check_index();
            assert_eq!(l.runs.len(), l.chunks.len(), "left {left} gaps {gaps}");
            // Popping from both ends drops the runs with their chunks.
            for i in 0..4990u64 {
                pop(&mut db, i % 3 == 0, 10_000 + i).unwrap();
            }
            let l = list(&db).unwrap();
            l.check_index();
            assert_eq!(l.len(), 10);
            assert_eq!(l.placed(), 10, "popped elements were collected");
            assert!(l.runs.len() <= 2);
        }
    }

    #[test]
    fn a_run_spanning_an_arriving_id_is_cut() {
        use runs::Runs;
        let mut r = Runs::default();
        let id = |seq: u64| (2u64 << 48) | seq;
        // Chunk 7 holds 10, 20 and 50 of origin 2: one run over the gaps.
        let mut model: Vec<(u64, u32)> = vec![(id(10), 7), (id(20), 7), (id(50), 7)];
        for &(i, u) in &model {
            r.add(i, u, |_, _, _| unreachable!("no cut"));
        }
        r.check(&model);
        assert_eq!(r.len(), 1);
        // 30 arrives late in chunk 8: the run is cut around it.
        let count = |m: &[(u64, u32)], u: u32, lo: u64, hi: u64| m.iter().filter(|(i, c)| *c == u && (lo..=hi).contains(i)).count() as u32;
        let snapshot = model.clone();
        r.add(id(30), 8, |u, lo, hi| count(&snapshot, u, lo, hi));
        model.push((id(30), 8));
        model.sort_unstable();
        r.check(&model);
        assert_eq!(r.len(), 3);
        // 31 is at the start of chunk 7's remaining run (31..=50): cut again.
        let snapshot = model.clone();
        r.add(id(31), 8, |u, lo, hi| count(&snapshot, u, lo, hi));
        model.push((id(31), 8));
        model.sort_unstable();
        r.check(&model);
        assert_eq!(r.len(), 4);
        r.remove(id(50));
        model.retain(|x| x.0 != id(50));
        r.check(&model);
        assert_eq!(r.len(), 3, "a run with nothing placed left is dropped");
        // 60 extends nothing of chunk 7's (its run is gone) but joins
        // 31's run of chunk 8: nothing is placed between.
        r.add(id(60), 8, |_, _, _| unreachable!("no cut"));
        model.push((id(60), 8));
        r.check(&model);
        assert_eq!(r.len(), 3);
        // Another origin's ids never share a run with origin 2's.
        r.add((3u64 << 48) | 1, 8, |_, _, _| unreachable!("no cut"));
        model.push(((3u64 << 48) | 1, 8));
        model.sort_unstable();
        r.check(&model);
        assert_eq!(r.len(), 4);
        assert_eq!(r.all().last().map(|(s, x)| (*s, x.uid, x.count)), Some(((3u64 << 48) | 1, 8, 1)));
    }

    #[derive(Clone, Debug)]
    enum RunOp {
        /// Place id (origin, seq) in chunk uid, if not placed.
        Add(u16, u64, u32),
        /// Remove the k-th placed id.
        Remove(usize),
        /// Move every placed id of chunk `a` whose seq is odd/even to chunk
        /// `b` (a chunk split or merge: drop and rebuild both chunks).
        Move(u32, u32, bool),
    }

    fn run_op() -> impl Strategy<Value = RunOp> {
        prop_oneof![
            6 => (1..4u16, 1..80u64, 0..5u32).prop_map(|(o, s, u)| RunOp::Add(o, s, u)),
            3 => any::<usize>().prop_map(RunOp::Remove),
            1 => (0..5u32, 0..5u32, any::<bool>()).prop_map(|(a, b, odd)| RunOp::Move(a, b, odd)),
        ]
    }

    proptest! {
        /// The runs against a plain map from id to chunk: ids from three
        /// origins arriving in any order, removed anywhere, moved between
        /// chunks.
        #[test]
        fn runs_match_a_plain_map(ops in proptest::collection::vec(run_op(), 1..300)) {
            let mut r = runs::Runs::default();
            let mut model: std::collections::BTreeMap<u64, u32> = Default::default();
            for op in ops {
                match op {
                    RunOp::Add(o, seq, uid) => {
                        let id = (u64::from(o) << 48) | seq;
                        if model.contains_key(&id) {
                            continue;
                        }
                        let m = model.clone();
                        r.add(id, uid, |u, lo, hi| m.range(lo..=hi).filter(|(_, c)| **c == u).count() as u32);
                        model.insert(id, uid);
                    }
                    RunOp::Remove(k) => {
                        if model.is_empty() {
                            continue;
                        }
                        let id = *model.keys().nth(k % model.len()).unwrap();
                        r.remove(id);
                        model.remove(&id);
                    }
                    RunOp::Move(a, b, odd) => {
                        let before: Vec<u64> = model.iter().filter(|(_, u)| **u == a || **u == b).map(|(i, _)| *i).collect();
                        if before.is_empty() {
                            continue;
                        }
                        for (id, u) in model.iter_mut() {
                            if *u == a && (*id % 2 == 1) == odd {
                                *u = b;
                            }
                        }
                        r.drop_covering(&before);
                        let placed: Vec<(u64, u32)> = before.iter().map(|i| (*i, model[i])).collect();
                        r.rebuild(&placed);
                    }
                }
                let all: Vec<(u64, u32)> = model.iter().map(|(i, u)| (*i, *u)).collect();
                r.check(&all);
                for o in 1..4u64 {
                    for seq in 0..82u64 {
                        let id = (o << 48) | seq;
                        if let Some(u) = model.get(&id) {
                            prop_assert_eq!(r.get(id), Some(*u));
                        }
                    }
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    enum ListOp {
        /// Insert (origin, seq) after the k-th placed element (None: head),
        /// or after an id that has not arrived (an orphan).
        Insert(u16, u64, Option<usize>, bool),
        /// Remove `n` live elements from the k-th on.
        Remove(usize, usize),
        /// Seal and collect with everything covered.
        Collect,
    }

    fn list_op() -> impl Strategy<Value = ListOp> {
        prop_oneof![
            10 => (1..4u16, 1..400u64, proptest::option::of(any::<usize>()), proptest::bool::weighted(0.05))
                .prop_map(|(o, s, k, orphan)| ListOp::Insert(o, s, k, orphan)),
            3 => (any::<usize>(), 1..20usize).prop_map(|(k, n)| ListOp::Remove(k, n)),
            1 => Just(ListOp::Collect),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A list's id index stays exact under inserts from three origins
        /// in any order (orphans included), removals in the middle, chunk
        /// splits and merges, and collection: every element is found where
        /// a linear scan finds it, and an id that is not placed is not.
        #[test]
        fn list_index_matches_a_linear_scan(ops in proptest::collection::vec(list_op(), 1..700)) {
            let mut l = List::default();
            let mut arrived: Vec<Dot> = Vec::new();
            let mut vv = VersionVector::new();
            for op in ops {
                match op {
                    ListOp::Insert(o, seq, k, orphan) => {
                        let id = Dot::new(o, seq);
                        if arrived.contains(&id) {
                            continue;
                        }
                        let placed: Vec<Dot> = l.placed_elems().map(|e| e.id()).collect();
                        let anchor = if orphan {
                            // An anchor that arrives later (maybe never: it stays an orphan).
                            Some(Dot::new(o, 400 + seq % 7))
                        } else {
                            k.filter(|_| !placed.is_empty()).map(|k| placed[k % placed.len()])
                        };
                        arrived.push(id);
                        vv.observe(Dot::new(o, vv.get(crate::id::InstanceId(o)).max(seq)));
                        l.insert(id, Hlc(seq * 4 + u64::from(o)), anchor, b"v", false);
                    }
                    ListOp::Remove(k, n) => {
                        let live: Vec<Dot> = l.iter().map(|e| e.id()).collect();
                        if live.is_empty() {
                            continue;
                        }
                        let at = k % live.len();
                        let elems: Vec<Dot> = live[at..].iter().take(n).copied().collect();
                        let mut ctx = VersionVector::new();
                        for e in l.iter().filter(|e| elems.contains(&e.id())) {
                            e.ctx(&mut ctx);
                        }
                        l.remove(&elems, &ctx, &vv);
                    }
                    ListOp::Collect => {
                        l.seal_and_collect_alone(&vv);
                    }
                }
                l.check_index();
                let placed: std::collections::HashSet<Dot> = l.placed_elems().map(|e| e.id()).collect();
                for &id in &arrived {
                    prop_assert_eq!(l.is_placed(id), placed.contains(&id), "{:?}", id);
                }
                for o in 1..4u16 {
                    for seq in [0, 1, 200, 399, 401, 1000] {
                        let id = Dot::new(o, seq);
                        prop_assert_eq!(l.is_placed(id), placed.contains(&id));
                    }
                }
            }
            prop_assert!(l.placed() >= l.len());
        }
    }

    #[test]
    fn sequential_pushes_order_as_redis() {
        let mut dbs = instances(2);
        let e1 = lpush(&mut dbs[0], "hello", 1);
        deliver(&mut dbs[1], &[e1]);
        let e2 = lpush(&mut dbs[1], "world", 2);
        deliver(&mut dbs[0], &[e2]);
        assert_eq!(read(&dbs[0]), ["world", "hello"]);
        assert_eq!(read(&dbs[1]), ["world", "hello"]);
    }

    #[test]
    fn concurrent_linsert_after_one_anchor_keeps_both_in_one_order() {
        let mut dbs = instances(2);
        let x = rpush(&mut dbs[0], "x", 1);
        let z = rpush(&mut dbs[0], "z", 2);
        deliver(&mut dbs[1], &[x, z]);
        let y1 = linsert_after(&mut dbs[0], "x", "y1", 10).unwrap();
        let y2 = linsert_after(&mut dbs[1], "x", "y2", 10).unwrap();
        deliver(&mut dbs[0], std::slice::from_ref(&y2));
        deliver(&mut dbs[1], std::slice::from_ref(&y1));
        // Same clock reading: the tie goes to instance 1, whose insert comes first.
        assert_eq!(read(&dbs[0]), ["x", "y1", "y2", "z"]);
        assert_eq!(read(&dbs[1]), read(&dbs[0]));
        assert_eq!(dbs[0].digest(), dbs[1].digest());
        // Inserted after what each saw: BEFORE z from both.
        let a = linsert_before(&mut dbs[0], "z", "b1", 20).unwrap();
        let b = linsert_before(&mut dbs[1], "z", "b2", 21).unwrap();
        deliver(&mut dbs[0], std::slice::from_ref(&b));
        deliver(&mut dbs[1], std::slice::from_ref(&a));
        assert_eq!(read(&dbs[0]), ["x", "y1", "y2", "b2", "b1", "z"]);
        assert_eq!(read(&dbs[1]), read(&dbs[0]));
    }

    #[test]
    fn del_removes_only_observed_elements() {
        let mut dbs = instances(2);
        let x = rpush(&mut dbs[0], "x", 1);
        deliver(&mut dbs[1], &[x]);
        let d = del(&mut dbs[0], 5).unwrap();
        let y = lpush(&mut dbs[1], "y", 5);
        deliver(&mut dbs[0], std::slice::from_ref(&y));
        deliver(&mut dbs[1], std::slice::from_ref(&d));
        assert_eq!(read(&dbs[0]), ["y"]);
        assert_eq!(read(&dbs[1]), ["y"]);
        assert_eq!(dbs[0].digest(), dbs[1].digest());
    }

    #[test]
    fn concurrent_pops_take_the_same_element_once_everywhere() {
        let mut dbs = instances(2);
        let mut fx = Vec::new();
        for (i, v) in ["a", "b", "c"].iter().enumerate() {
            fx.push(rpush(&mut dbs[0], v, i as u64));
        }
        deliver(&mut dbs[1], &fx);
        let (v1, p1) = pop(&mut dbs[0], true, 10).unwrap();
        let (v2, p2) = pop(&mut dbs[1], true, 10).unwrap();
        assert_eq!((v1.as_str(), v2.as_str()), ("a", "a"), "at-least-once: both popped a");
        deliver(&mut dbs[0], std::slice::from_ref(&p2));
        deliver(&mut dbs[1], std::slice::from_ref(&p1));
        assert_eq!(read(&dbs[0]), ["b", "c"]);
        assert_eq!(read(&dbs[1]), ["b", "c"]);
    }

    #[test]
    fn lset_is_lww_and_survives_a_concurrent_pop() {
        let mut dbs = instances(2);
        let a = rpush(&mut dbs[0], "a", 1);
        let b = rpush(&mut dbs[0], "b", 2);
        deliver(&mut dbs[1], &[a, b]);
        let s1 = lset(&mut dbs[0], 1, "B1", 10).unwrap();
        let s2 = lset(&mut dbs[1], 1, "B2", 11).unwrap();
        deliver(&mut dbs[0], std::slice::from_ref(&s2));
        deliver(&mut dbs[1], std::slice::from_ref(&s1));
        assert_eq!(read(&dbs[0]), ["a", "B2"]);
        assert_eq!(read(&dbs[1]), ["a", "B2"]);
        // LSET racing a pop of the same element: the unobserved version stays.
        let s = lset(&mut dbs[0], 0, "A", 20).unwrap();
        let (_, p) = pop(&mut dbs[1], true, 20).unwrap();
        deliver(&mut dbs[0], std::slice::from_ref(&p));
        deliver(&mut dbs[1], std::slice::from_ref(&s));
        assert_eq!(read(&dbs[0]), ["A", "B2"]);
        assert_eq!(read(&dbs[1]), ["A", "B2"]);
    }

    #[test]
    fn insert_before_its_anchor_waits_as_an_orphan() {
        let mut dbs = instances(3);
        let x = rpush(&mut dbs[0], "x", 1);
        deliver(&mut dbs[1], std::slice::from_ref(&x));
        let y = rpush(&mut dbs[1], "y", 2);
        // Instance 3 gets y (from 2) before x (from 1).
        deliver(&mut dbs[2], std::slice::from_ref(&y));
        assert_eq!(read(&dbs[2]), Vec::<String>::new());
        assert!(dbs[2].get(K).is_none(), "an orphan alone is not visible");
        assert_eq!(dbs[2].entries.get(&K[..]).map(|e| e.hidden().len()), Some(1), "but is kept");
        deliver(&mut dbs[2], std::slice::from_ref(&x));
        assert_eq!(read(&dbs[2]), ["x", "y"]);
    }

    #[test]
    fn removal_before_insert_removes_it_on_arrival() {
        let mut dbs = instances(3);
        let x = rpush(&mut dbs[0], "x", 1);
        deliver(&mut dbs[1], std::slice::from_ref(&x));
        let (_, p) = pop(&mut dbs[1], true, 2).unwrap();
        let s = {
            // an LSET by 1 concurrent with the pop
            lset(&mut dbs[0], 0, "X", 2).unwrap()
        };
        deliver(&mut dbs[2], std::slice::from_ref(&p));
        assert!(dbs[2].get(K).is_none());
        deliver(&mut dbs[2], &[x, s.clone()]);
        deliver(&mut dbs[0], std::slice::from_ref(&p));
        deliver(&mut dbs[1], std::slice::from_ref(&s));
        // The LSET was not observed by the pop: update wins, everywhere.
        for db in &dbs {
            assert_eq!(read(db), ["X"]);
        }
    }

    #[test]
    fn queue_tombstones_are_collected() {
        let mut dbs = instances(2);
        let mut all = Vec::new();
        for i in 0..300u64 {
            all.push(rpush(&mut dbs[0], &i.to_string(), i));
            if i % 3 == 2 {
                all.push(pop(&mut dbs[0], true, i).unwrap().1);
            }
        }
        deliver(&mut dbs[1], &all);
        for _ in 0..2 {
            let a = dbs[0].announce(1000);
            let b = dbs[1].announce(1000);
            dbs[1].apply(&a);
            dbs[0].apply(&b);
        }
        for db in &mut dbs {
            db.gc();
            let l = list(db).unwrap();
            assert_eq!(l.len(), 200);
            assert_eq!(l.tombstones(), 0, "every popped element was collected");
            assert_eq!(db.gc_pending(), 0);
        }
        assert_eq!(dbs[0].digest(), dbs[1].digest());
        // Popping everything and collecting removes the key entirely.
        let mut more = Vec::new();
        while let Some((_, e)) = pop(&mut dbs[0], false, 2000) {
            more.push(e);
        }
        deliver(&mut dbs[1], &more);
        for _ in 0..2 {
            let a = dbs[0].announce(3000);
            let b = dbs[1].announce(3000);
            dbs[1].apply(&a);
            dbs[0].apply(&b);
        }
        for db in &mut dbs {
            db.gc();
            assert!(db.entries.get(&K[..]).is_none(), "nothing left of the list");
        }
    }

    #[test]
    fn long_lists_index_fast() {
        let mut db = Db::new(InstanceId(1));
        for i in 0..100_000u64 {
            rpush(&mut db, &i.to_string(), i);
        }
        let l = list(&db).unwrap();
        assert_eq!(l.len(), 100_000);
        assert!(l.chunks.len() > 100_000 / CHUNK_MAX);
        for i in (0..100_000usize).step_by(997) {
            assert_eq!(l.get(i).unwrap().value(), i.to_string().as_bytes());
        }
        let back: Vec<&[u8]> = l.iter_rev_from(5).take(2).map(|e| e.value()).collect();
        assert_eq!(back, [b"99994".as_slice(), b"99993"]);
        let fwd: Vec<&[u8]> = l.iter_from(99_998).map(|e| e.value()).collect();
        assert_eq!(fwd, [b"99998".as_slice(), b"99999"]);
        // A full sync of the long list into an empty instance, and back.
        let mut other = Db::new(InstanceId(2));
        other.merge(&db);
        assert_eq!(read(&other), read(&db));
        db.merge(&other);
        assert_eq!(list(&db).unwrap().len(), 100_000);
        assert_eq!(other.digest(), db.digest());
    }

    // ---- random interleavings -------------------------------------------------------

    #[derive(Clone, Debug)]
    enum Cmd {
        LPush(u8),
        RPush(u8),
        InsertAfter(u8, u8),
        InsertBefore(u8, u8),
        Pop(bool),
        Set(u8, u8),
        Rem(u8),
        Trim(u8, u8),
        Del,
    }

    fn cmd() -> impl Strategy<Value = Cmd> {
        prop_oneof![
            3 => (0..8u8).prop_map(Cmd::LPush),
            3 => (0..8u8).prop_map(Cmd::RPush),
            2 => (0..8u8, 0..8u8).prop_map(|(a, b)| Cmd::InsertAfter(a, b)),
            2 => (0..8u8, 0..8u8).prop_map(|(a, b)| Cmd::InsertBefore(a, b)),
            2 => any::<bool>().prop_map(Cmd::Pop),
            2 => (0..6u8, 0..8u8).prop_map(|(a, b)| Cmd::Set(a, b)),
            1 => (0..8u8).prop_map(Cmd::Rem),
            1 => (0..4u8, 0..6u8).prop_map(|(a, b)| Cmd::Trim(a, b)),
            1 => Just(Cmd::Del),
        ]
    }

    fn run(db: &mut Db, c: &Cmd, t: u64) -> Option<Effect> {
        let s = |v: &u8| v.to_string();
        match c {
            Cmd::LPush(v) => Some(lpush(db, &s(v), t)),
            Cmd::RPush(v) => Some(rpush(db, &s(v), t)),
            Cmd::InsertAfter(p, v) => linsert_after(db, &s(p), &s(v), t),
            Cmd::InsertBefore(p, v) => linsert_before(db, &s(p), &s(v), t),
            Cmd::Pop(left) => pop(db, *left, t).map(|x| x.1),
            Cmd::Set(i, v) => lset(db, *i as usize, &s(v), t),
            Cmd::Rem(v) => lrem(db, &s(v), t),
            Cmd::Trim(a, b) => ltrim(db, *a as usize, *a as usize + *b as usize, t),
            Cmd::Del => del(db, t),
        }
    }

    /// A step of the schedule: instance `at` runs a command, or receives
    /// the next `n` effects of origin `from` (FIFO per origin, duplicates
    /// allowed by re-sending), or garbage-collects, or announces.
    #[derive(Clone, Debug)]
    enum Step {
        Run(usize, Cmd, u64),
        Recv(usize, usize, usize),
        Resend(usize, usize),
        Gc(usize),
        Announce(usize),
        Merge(usize, usize),
    }

    fn step(n: usize) -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..n, cmd(), 0..40u64).prop_map(|(i, c, t)| Step::Run(i, c, t)),
            4 => (0..n, 0..n, 1..4usize).prop_map(|(a, f, k)| Step::Recv(a, f, k)),
            1 => (0..n, 0..n).prop_map(|(a, f)| Step::Resend(a, f)),
            2 => (0..n).prop_map(Step::Gc),
            2 => (0..n).prop_map(Step::Announce),
            1 => (0..n, 0..n).prop_map(|(a, b)| Step::Merge(a, b)),
        ]
    }

    fn simulate(n: usize, steps: &[Step]) -> Result<(), TestCaseError> {
        let mut dbs = instances(n as u16);
        // log[o] = effects originated at o, in order; got[a][o] = how many a applied.
        let mut log: Vec<Vec<Effect>> = vec![Vec::new(); n];
        let mut got = vec![vec![0usize; n]; n];
        let mut clock = 0u64;
        for s in steps {
            match s {
                Step::Run(i, c, t) => {
                    clock += t;
                    if let Some(e) = run(&mut dbs[*i], c, clock) {
                        log[*i].push(e);
                        got[*i][*i] = log[*i].len();
                    }
                }
                Step::Announce(i) => {
                    let e = dbs[*i].announce(clock);
                    log[*i].push(e);
                    got[*i][*i] = log[*i].len();
                }
                Step::Recv(a, f, k) => {
                    let from = got[*a][*f];
                    let to = (from + k).min(log[*f].len());
                    for e in &log[*f][from..to] {
                        dbs[*a].apply(e);
                    }
                    got[*a][*f] = to;
                }
                Step::Resend(a, f) => {
                    let upto = got[*a][*f];
                    for e in &log[*f][..upto] {
                        prop_assert_eq!(dbs[*a].apply(e), crate::db::Applied::Duplicate);
                    }
                }
                Step::Gc(i) => {
                    dbs[*i].gc();
                }
                Step::Merge(a, b) => {
                    if a != b {
                        let other = dbs[*b].clone();
                        dbs[*a].merge(&other);
                        let theirs = got[*b].clone();
                        for (mine, t) in got[*a].iter_mut().zip(theirs) {
                            *mine = (*mine).max(t);
                        }
                    }
                }
            }
            for db in &dbs {
                check_lists(db);
            }
        }
        // Deliver everything, in a per-origin FIFO round robin.
        for a in 0..n {
            for f in 0..n {
                for e in &log[f][got[a][f]..] {
                    dbs[a].apply(e);
                }
            }
        }
        let want = read(&dbs[0]);
        for db in &dbs[1..] {
            prop_assert_eq!(read(db), want.clone());
            prop_assert_eq!(db.digest(), dbs[0].digest());
        }
        // No orphan or early record survives full delivery.
        for db in &dbs {
            if let Some(e) = db.entries.get(&K[..]) {
                for v in e.values() {
                    if let Value::List(l) = v {
                        prop_assert_eq!(l.orphans(), 0);
                        prop_assert!(l.early.is_empty(), "early records left: {:?}", l.early);
                    }
                }
            }
        }
        // After everyone announces everything, GC leaves no tombstones.
        for _ in 0..2 {
            let ann: Vec<Effect> = dbs.iter_mut().map(|d| d.announce(clock + 1)).collect();
            for db in &mut dbs {
                for e in &ann {
                    db.apply(e);
                }
            }
        }
        for db in &mut dbs {
            db.gc();
            db.gc();
            if let Some(e) = db.entries.get(&K[..]) {
                for v in e.values() {
                    if let Value::List(l) = v {
                        prop_assert_eq!(l.tombstones(), 0);
                    }
                }
            }
            prop_assert_eq!(read(db), want.clone());
        }
        Ok(())
    }

    proptest! {
        // PROPTEST_CASES raises the count for a longer search.
        #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(300), ..ProptestConfig::default() })]

        #[test]
        fn random_interleavings_converge(steps in proptest::collection::vec(step(3), 1..80)) {
            simulate(3, &steps)?;
        }
    }

    #[test]
    fn gc_waits_for_the_element_after_a_tombstone() {
        // a, t (removed, stable), c (inserted after t by instance 3 before it
        // saw the removal, with a clock far ahead). Instance 2 inserts n
        // after a without having seen c: n has a smaller stamp than c. Had
        // instance 1 collected t, n would skip over c there (a c n) while
        // the others place it before t (a n c).
        let mut dbs = instances(3);
        let a = rpush(&mut dbs[0], "a", 1);
        let t = rpush(&mut dbs[0], "t", 2);
        deliver(&mut dbs[1], &[a.clone(), t.clone()]);
        deliver(&mut dbs[2], &[a.clone(), t.clone()]);
        let c = linsert_after(&mut dbs[2], "t", "c", 1000).unwrap();
        let (_, p) = pop(&mut dbs[0], false, 3).unwrap();
        let ann1 = dbs[0].announce(4);
        deliver(&mut dbs[1], &[p.clone(), ann1.clone()]);
        deliver(&mut dbs[2], &[p.clone(), ann1.clone()]);
        let ann2 = dbs[1].announce(5);
        let ann3 = dbs[2].announce(1001);
        deliver(&mut dbs[0], &[c.clone(), ann3.clone(), ann2.clone()]);
        dbs[0].gc();
        assert_eq!(list(&dbs[0]).unwrap().tombstones(), 1, "t waits: c is not covered by gvc_min");
        let n = linsert_after(&mut dbs[1], "a", "n", 10).unwrap();
        assert!(n.hlc < c.hlc);
        deliver(&mut dbs[0], std::slice::from_ref(&n));
        deliver(&mut dbs[2], &[ann2.clone(), n.clone()]);
        deliver(&mut dbs[1], &[c.clone(), ann3.clone()]);
        for db in &dbs {
            assert_eq!(read(db), ["a", "n", "c"]);
        }
        // Once everyone announced everything, t goes everywhere.
        for _ in 0..2 {
            let ann: Vec<Effect> = dbs.iter_mut().map(|d| d.announce(2000)).collect();
            for db in &mut dbs {
                deliver(db, &ann);
            }
        }
        for db in &mut dbs {
            db.gc();
            assert_eq!(list(db).unwrap().tombstones(), 0);
            assert_eq!(read(db), ["a", "n", "c"]);
        }
    }

    #[test]
    fn gc_keeps_placement_of_late_concurrent_inserts() {
        // t is removed and stable, but its next neighbour c is not covered:
        // a late insert after t's anchor must land identically whether or
        // not an instance has collected t.
        let mut dbs = instances(3);
        let a = rpush(&mut dbs[0], "a", 1);
        let t = rpush(&mut dbs[0], "t", 2);
        for db in &mut dbs[1..] {
            deliver(db, &[a.clone(), t.clone()]);
        }
        let (_, p) = pop(&mut dbs[0], false, 3).unwrap(); // removes t
        for db in &mut dbs[1..] {
            deliver(db, std::slice::from_ref(&p));
        }
        // Everyone announces: t's removal is stable.
        let ann: Vec<Effect> = dbs.iter_mut().map(|d| d.announce(4)).collect();
        for db in &mut dbs {
            deliver(db, &ann);
        }
        // Instance 3 inserts after a (concurrently nobody sees it yet).
        let n = linsert_after(&mut dbs[2], "a", "n", 5).unwrap();
        dbs[0].gc();
        deliver(&mut dbs[0], std::slice::from_ref(&n));
        deliver(&mut dbs[1], std::slice::from_ref(&n));
        assert_eq!(read(&dbs[0]), ["a", "n"]);
        assert_eq!(read(&dbs[1]), ["a", "n"]);
        assert_eq!(dbs[0].digest(), dbs[1].digest());
    }

    proptest! {
        /// An instance alone seals and collects in one step
        /// (`seal_and_collect_alone`); the state it leaves is exactly what
        /// `seal` then `gc` leave, tombstones and pending records included.
        #[test]
        fn collecting_alone_leaves_what_seal_then_gc_leave(
            ops in proptest::collection::vec((0u8..4, any::<u16>(), 1usize..4), 1..120)
        ) {
            let mut fast = List::default();
            let mut slow = List::default();
            let mut vv = VersionVector::new();
            let mut seq = 0u64;
            for (kind, pick, n) in ops {
                let live: Vec<Dot> = fast.iter().map(|e| e.id()).collect();
                match kind {
                    // Inserts at the head, the tail, or after a random element.
                    0 | 1 => {
                        seq += 1;
                        let id = Dot::new(1, seq);
                        let anchor = match (kind, live.is_empty()) {
                            (_, true) => None,
                            (0, false) => Some(live[pick as usize % live.len()]),
                            _ => live.last().copied(),
                        };
                        vv.observe(id);
                        for l in [&mut fast, &mut slow] {
                            l.insert(id, Hlc(seq), anchor, b"v", false);
                        }
                    }
                    // Removes n elements from a random place (a pop, LREM, LTRIM).
                    _ => {
                        if live.is_empty() {
                            continue;
                        }
                        let at = pick as usize % live.len();
                        let elems: Vec<Dot> = live[at..].iter().take(n).copied().collect();
                        let mut ctx = VersionVector::new();
                        for e in fast.iter().filter(|e| elems.contains(&e.id())) {
                            e.ctx(&mut ctx);
                        }
                        seq += 1;
                        vv.observe(Dot::new(1, seq));
                        for l in [&mut fast, &mut slow] {
                            l.remove(&elems, &ctx, &vv);
                        }
                    }
                }
                fast.seal_and_collect_alone(&vv);
                slow.seal(&vv);
                slow.gc(&vv);
                prop_assert_eq!(fast.gc_state(), slow.gc_state());
            }
        }
    }
}

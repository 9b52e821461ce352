//! [`Db`]: one instance's keyspace of CRDT values. Local operations and
//! remote effects go through the same [`Db::apply`], so an origin and its
//! receivers run the same code.

use std::collections::{BTreeMap, HashMap};

use crate::cell::{Blob, Cell};
use crate::effect::{Effect, Op};
use crate::id::{Clock, Dot, Hlc, InstanceId, Stamp, VersionVector};
use crate::fields::Fields;
use crate::list::List;
use crate::num::Delta;
use crate::value::{Kind, OrSet, Tag, Value};

/// One TTL write: a deadline, or none (PERSIST).
#[derive(Clone, Debug, PartialEq)]
pub struct TtlVersion {
    pub dot: Dot,
    pub at_ms: Option<u64>,
}

/// A key's state. 40 bytes: the visible value, and one pointer to what
/// few keys have (values hidden by a type conflict, TTL versions), none
/// while there is nothing there.
#[derive(Clone, Default)]
pub struct Entry {
    /// The visible value: the alive typed value with the greatest rank.
    pub value: Option<Value>,
    /// Never `Some` with both parts empty (so the pointer is allocated only
    /// for keys that have a TTL or a type conflict).
    side: Option<Box<Side>>,
}

/// The rarely present parts of an [`Entry`] (one allocation of 48 bytes,
/// as large as a thin vector holding one TTL version was).
#[derive(Clone, Default)]
struct Side {
    /// Typed values that lost a type conflict; hidden, kept until something
    /// that observed them removes them (so DEL ordering cannot resurrect them
    /// differently at different instances).
    hidden: thin_vec::ThinVec<Value>,
    /// Concurrent TTL writes not yet observed by a later one, sorted by dot
    /// (nearly always one, inline).
    ttl: smallvec::SmallVec<[TtlVersion; 1]>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.value == other.value && self.hidden() == other.hidden() && self.ttl() == other.ttl()
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("value", &self.value).field("hidden", &self.hidden()).field("ttl", &self.ttl()).finish()
    }
}

impl Entry {
    /// An entry from its parts (TTL versions sorted by dot).
    pub fn new(value: Option<Value>, hidden: impl IntoIterator<Item = Value>, ttl: impl IntoIterator<Item = TtlVersion>) -> Entry {
        let side = Side { hidden: hidden.into_iter().collect(), ttl: ttl.into_iter().collect() };
        let mut e = Entry { value, side: Some(Box::new(side)) };
        e.tidy();
        e
    }

    /// Typed values that lost a type conflict (see [`Entry::normalize_pub`]).
    pub fn hidden(&self) -> &[Value] {
        self.side.as_ref().map_or(&[], |s| &s.hidden)
    }

    /// The hidden values, to change in place (allocates nothing).
    pub fn hidden_mut(&mut self) -> &mut [Value] {
        self.side.as_mut().map_or(&mut [], |s| &mut s.hidden)
    }

    /// Concurrent TTL writes not yet observed by a later one, sorted by dot.
    pub fn ttl(&self) -> &[TtlVersion] {
        self.side.as_ref().map_or(&[], |s| &s.ttl)
    }

    /// The visible value, then the hidden ones.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.value.iter().chain(self.hidden())
    }

    /// [`Entry::values`], mutable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        let Entry { value, side } = self;
        value.iter_mut().chain(side.iter_mut().flat_map(|s| s.hidden.iter_mut()))
    }

    /// Takes the hidden values out.
    pub fn take_hidden(&mut self) -> thin_vec::ThinVec<Value> {
        let hidden = self.side.as_mut().map(|s| std::mem::take(&mut s.hidden)).unwrap_or_default();
        self.tidy();
        hidden
    }

    /// Replaces the hidden values.
    pub fn set_hidden(&mut self, hidden: impl IntoIterator<Item = Value>) {
        let hidden: thin_vec::ThinVec<Value> = hidden.into_iter().collect();
        if hidden.is_empty() {
            if let Some(s) = self.side.as_mut() {
                s.hidden = hidden;
            }
        } else {
            self.side.get_or_insert_with(Box::default).hidden = hidden;
        }
        self.tidy();
    }

    /// Keeps the TTL versions for which `keep` is true; returns how many it dropped.
    pub fn retain_ttl(&mut self, mut keep: impl FnMut(&TtlVersion) -> bool) -> usize {
        let Some(s) = self.side.as_mut() else { return 0 };
        let before = s.ttl.len();
        s.ttl.retain(|t| keep(t));
        let dropped = before - s.ttl.len();
        self.tidy();
        dropped
    }

    /// Adds a TTL version in dot order (after any with the same dot).
    pub fn add_ttl(&mut self, t: TtlVersion) {
        let ttl = &mut self.side.get_or_insert_with(Box::default).ttl;
        let i = ttl.partition_point(|x| x.dot <= t.dot);
        ttl.insert(i, t);
    }

    /// Drops the side allocation once it holds nothing.
    fn tidy(&mut self) {
        if self.side.as_ref().is_some_and(|s| s.hidden.is_empty() && s.ttl.is_empty()) {
            self.side = None;
        }
    }

    /// The key's deadline: the longest concurrent TTL wins, and PERSIST (no
    /// deadline) beats every TTL.
    pub fn expire_at(&self) -> Option<u64> {
        self.ttl_winner().and_then(|t| t.at_ms)
    }

    /// The TTL version that decides; its origin owns the expiry.
    pub fn ttl_winner(&self) -> Option<&TtlVersion> {
        self.ttl().iter().max_by(|a, b| {
            let ka = (a.at_ms.is_none(), a.at_ms.unwrap_or(0), std::cmp::Reverse(a.dot.origin));
            let kb = (b.at_ms.is_none(), b.at_ms.unwrap_or(0), std::cmp::Reverse(b.dot.origin));
            ka.cmp(&kb)
        })
    }

    pub fn kind(&self) -> Option<Kind> {
        self.value.as_ref().map(|v| v.kind())
    }

    fn typed_mut(&mut self, kind: Kind) -> &mut Value {
        if self.value.as_ref().is_some_and(|v| v.kind() == kind) {
            return self.value.as_mut().expect("checked");
        }
        if let Some(i) = self.hidden().iter().position(|v| v.kind() == kind) {
            return &mut self.hidden_mut()[i];
        }
        if self.value.is_none() {
            self.value = Some(Value::empty(kind));
            return self.value.as_mut().expect("just set");
        }
        let hidden = &mut self.side.get_or_insert_with(Box::default).hidden;
        hidden.push(Value::empty(kind));
        hidden.last_mut().expect("just pushed")
    }

    /// True when a hidden value is visible (a type conflict is going on).
    fn hidden_visible(&self) -> bool {
        self.hidden().iter().any(|v| v.is_visible())
    }

    /// Drops empty values and puts the winner of any type conflict in front.
    /// Returns true when more than one type is alive (a type conflict).
    pub fn normalize_pub(&mut self) -> bool {
        self.normalize()
    }

    fn normalize(&mut self) -> bool {
        if self.hidden().is_empty() {
            match &self.value {
                Some(v) if v.is_empty() => self.value = None,
                // A list with only tombstones or orphans: kept, not visible.
                Some(v) if !v.is_visible() => {
                    let v = self.value.take();
                    self.set_hidden(v);
                }
                _ => {}
            }
            return false;
        }
        let mut all: Vec<Value> = self.value.take().into_iter().chain(self.take_hidden()).collect();
        all.retain(|v| !v.is_empty());
        let conflict = all.iter().filter(|v| v.is_visible()).count() > 1;
        if let Some(best) =
            (0..all.len()).filter(|&i| all[i].is_visible()).max_by_key(|&i| (all[i].rank(), std::cmp::Reverse(all[i].kind())))
        {
            self.value = Some(all.swap_remove(best));
        }
        self.set_hidden(all);
        conflict
    }

    pub fn is_dead(&self) -> bool {
        self.value.is_none() && self.side.is_none()
    }

    /// Everything alive in the key, as a context (what a DEL observes).
    pub fn ctx(&self) -> VersionVector {
        let mut vv = VersionVector::new();
        for v in self.values() {
            v.ctx(&mut vv);
        }
        for t in self.ttl() {
            vv.observe(t.dot);
        }
        vv
    }

    fn remove_all(&mut self, ctx: &VersionVector, keep_ttl: bool) -> usize {
        let mut n = 0;
        for v in self.values_mut() {
            n += v.remove(ctx);
        }
        if !keep_ttl {
            n += self.retain_ttl(|t| !ctx.covers(t.dot));
        }
        n
    }
}

/// A key of the keyspace: up to 22 bytes inline, in the map's own slot
/// (no allocation, and a lookup compares it without following a pointer).
pub type Key = crate::blob::SmallBlob;

/// The keyspace: key -> entry, in insertion order (with swap removal).
pub type Entries = crate::keymap::KeyMap<Entry>;

/// Where a pending removal applies. A pending removal must stop exactly the
/// late adds its origin removed, so its scope is exactly the scope the
/// origin removed from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Everything in the key: values of every type and TTL versions (DEL, SET).
    Key,
    /// Values of every type but not the TTL (SET ... KEEPTTL).
    Values,
    /// One hash field, set member or sorted-set member: of that type only.
    Member(Kind, Blob),
    Ttl,
}

/// A removal that arrived before some of what it removes: kept until this
/// instance has observed everything the removal observed; meanwhile it stops
/// those late adds.
#[derive(Clone, Debug, PartialEq)]
pub struct Tombstone {
    pub scope: Scope,
    pub ctx: VersionVector,
}

/// Counters for `INFO crdt`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub effect_reqs: u64,
    pub ovc_filtered_effect_reqs: u64,
    pub merge_reqs: u64,
    pub gc_attempted: u64,
    pub gc_collected: u64,
    pub conflicts: Conflicts,
}

/// Real conflicts resolved by a rule, per type and rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conflicts {
    /// Concurrent register writes (strings, hash fields, scores): LWW picked one.
    pub lww: BTreeMap<Kind, u64>,
    /// A remove that did not remove a concurrent add (add wins).
    pub add_wins: BTreeMap<Kind, u64>,
    /// Two types written to one key concurrently.
    pub type_conflicts: u64,
    /// Concurrent TTL changes.
    pub ttl: u64,
    /// A removal that beat a concurrent add (a stream group create that did
    /// not observe a DESTROY or DEL).
    pub delete_wins: BTreeMap<Kind, u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Db {
    pub me: InstanceId,
    pub clock: Clock,
    /// Sequence number of the last local effect.
    pub seq: u64,
    /// Every effect applied, per origin (contiguous: delivery keeps per-origin order).
    pub vv: VersionVector,
    /// In insertion order with swap removal: SCAN walks positions downwards
    /// and RANDOMKEY picks a position, both without extra memory per key
    /// (see `crate::keymap`).
    pub entries: Entries,
    pub tombstones: HashMap<Blob, Vec<Tombstone>>,
    /// The members of the database and what each announced it observed.
    pub observed: BTreeMap<InstanceId, VersionVector>,
    /// Keys whose counters may have runs left to fold.
    pub unfolded: std::collections::HashSet<Blob>,
    /// HyperLogLog DEL-wins records (see `crate::hll`).
    pub hll: crate::hll::HllMeta,
    pub stats: Stats,
    /// While a snapshot is captured in steps (`crate::snapshot::Capture`):
    /// the keys changed since it began. Every change to `entries`,
    /// `tombstones`, `unfolded` or `hll` outside [`Db::apply`], [`Db::gc`]
    /// and [`Db::merge`] (which mark for themselves) must call
    /// [`Db::captured`] for the key, and for the key a `swap_remove` moves.
    pub capture: Option<Box<CaptureSet>>,
    /// When a hash stays packed (hash-max-listpack-entries / -value; see
    /// `crate::fields`). Local: the encoding is invisible to other instances.
    pub hash_limits: crate::fields::Limits,
}

/// The keys a running snapshot capture must write again (see [`Db::capture`]).
#[derive(Clone, Debug, Default)]
pub struct CaptureSet {
    pub(crate) id: u64,
    pub(crate) dirty: std::collections::HashSet<Blob, crate::FastHasher>,
}

/// Where an effect left its key, as far as applying it learned (so that
/// the caller, keeping an index of TTLs, need not look the key up again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Not known: look the key up (or the op has no key).
    Unknown,
    /// The key's entry is at this position of [`Db::entries`].
    At(usize),
    /// The key has no entry.
    Gone,
}

/// What applying an effect did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// The dot was already observed.
    Duplicate,
}

impl Db {
    pub fn new(me: InstanceId) -> Db {
        let mut db = Db { me, ..Db::default() };
        db.observed.insert(me, VersionVector::new());
        db
    }

    /// Declares the instances of the database (their announced vectors
    /// decide garbage collection). Instances no longer listed stop blocking it.
    pub fn set_members(&mut self, members: &[InstanceId]) {
        self.observed.retain(|id, _| members.contains(id));
        for &m in members {
            self.observed.entry(m).or_default();
        }
    }

    /// Makes a local effect: takes the next dot and a clock reading, applies
    /// it, and returns it for the stream.
    pub fn commit(&mut self, op: Op, wall_ms: u64) -> Effect {
        self.commit_slot(op, wall_ms).0
    }

    /// [`Db::commit`], also returning where the effect left its key.
    pub fn commit_slot(&mut self, op: Op, wall_ms: u64) -> (Effect, Slot) {
        // A SET or DEL looks its key up once, here: whether it holds a
        // HyperLogLog or a stream decides the op, and the position feeds
        // `apply` (nothing moves in between).
        // HSET and SADD pass the position on too (one lookup for the
        // removal and the add); other ops look their key up in `apply`.
        let (at, looked) = match &op {
            Op::Set { key, .. } | Op::Del { key, .. } | Op::HSet { key, .. } | Op::SAdd { key, .. } => {
                (self.entries.get_index_of(key), true)
            }
            _ => (None, false),
        };
        let entry = at.map(|i| &self.entries[i]);
        // (Only these ops can change; the others skip two moves of the op.)
        let op = if matches!(op, Op::Set { .. } | Op::Del { .. } | Op::HllAdd { .. }) {
            self.stream_prepare(self.hll_prepare(op, entry), entry)
        } else {
            op
        };
        self.seq += 1;
        let effect = Effect { dot: Dot { origin: self.me, seq: self.seq }, hlc: self.clock.tick(wall_ms), op };
        let found = match at {
            Some(i) => Slot::At(i),
            None if looked => Slot::Gone,
            None => Slot::Unknown,
        };
        let (applied, slot) = self.apply_in(&effect, found);
        debug_assert_eq!(applied, Applied::Changed);
        (effect, slot)
    }

    /// SADD of one member at its origin: the effect whose context is the
    /// member's observed tags, committed. When the key holds just a set
    /// (the common case), the member is looked up once, for its context
    /// and for the add, and its tags are replaced in place: what
    /// [`Db::commit_slot`] of that `Op::SAdd` does, without the lookups
    /// the engine (for the context) and `apply` (for the add) each made.
    /// Returns the effect, where it left the key, and whether the member
    /// was new.
    pub fn commit_sadd(&mut self, key: &[u8], member: &[u8], wall_ms: u64) -> (Effect, Slot, bool) {
        self.commit_sadd_in(key, member, wall_ms, true)
    }

    /// [`Db::commit_sadd`]; `fast: false` always takes the general path
    /// (tests compare the two).
    pub(crate) fn commit_sadd_in(&mut self, key: &[u8], member: &[u8], wall_ms: u64, fast: bool) -> (Effect, Slot, bool) {
        let at = if fast { self.entries.get_index_of(key) } else { None };
        if let (Some(i), None, true) = (at, &self.capture, self.tombstones.is_empty()) {
            let entry = &mut self.entries[i];
            if let (true, Some(Value::Set(set))) = (entry.hidden().is_empty(), &mut entry.value) {
                let members = &mut set.members;
                self.seq += 1;
                let dot = Dot { origin: self.me, seq: self.seq };
                let hlc = self.clock.tick(wall_ms);
                let tag = Tag::new(dot, hlc);
                let mut ctx = VersionVector::new();
                let new = match members.get_mut(member) {
                    Some(tags) => {
                        // Every tag is observed, so every tag is replaced.
                        for t in tags.iter() {
                            ctx.observe(t.dot());
                        }
                        tags.clear();
                        tags.push(tag);
                        false
                    }
                    None => {
                        members.insert(member.into(), smallvec::smallvec![tag]);
                        true
                    }
                };
                // What `apply_in` notes of every effect it applies.
                self.vv.observe(dot);
                self.clock.observe(hlc);
                if let Some(vv) = self.observed.get_mut(&self.me) {
                    vv.observe(dot);
                }
                let op = Op::SAdd { key: key.into(), member: member.into(), ctx };
                return (Effect { dot, hlc, op }, Slot::At(i), new);
            }
        }
        let tags = match self.get(key).and_then(|e| e.value.as_ref()) {
            Some(Value::Set(s)) => s.members.get(member),
            _ => None,
        };
        let mut ctx = VersionVector::new();
        if let Some(tags) = tags {
            crate::value::tags_ctx(tags, &mut ctx);
        }
        let new = tags.is_none();
        let (effect, slot) = self.commit_slot(Op::SAdd { key: key.into(), member: member.into(), ctx }, wall_ms);
        (effect, slot, new)
    }

    /// INCR family at its origin: commits `Op::Incr` of `key`, whose entry
    /// the caller found at position `at` (None: not known, looked up
    /// here), so that `apply` need not look it up again. What
    /// [`Db::commit_slot`] of that op does, without moving the op through
    /// it. The effect is applied by [`Db::apply`]'s own code.
    pub fn commit_incr(&mut self, key: &[u8], delta: Delta, wall_ms: u64, at: Option<usize>) -> (Effect, Slot) {
        debug_assert!(at.is_none_or(|i| self.entries.get_index(i).is_some_and(|(k, _)| k[..] == *key)));
        self.seq += 1;
        let dot = Dot { origin: self.me, seq: self.seq };
        let effect = Effect { dot, hlc: self.clock.tick(wall_ms), op: Op::Incr { key: key.into(), delta } };
        let found = at.map_or(Slot::Unknown, Slot::At);
        let (applied, slot) = self.apply_in(&effect, found);
        debug_assert_eq!(applied, Applied::Changed);
        (effect, slot)
    }

    /// The stamp the next local effect will get (for decisions made before committing).
    pub fn next_stamp(&self) -> Stamp {
        Stamp { hlc: Hlc(self.clock.last().0 + 1), origin: self.me }
    }

    /// Applies an effect, local or remote. Idempotent.
    pub fn apply(&mut self, e: &Effect) -> Applied {
        self.apply_slot(e).0
    }

    /// [`Db::apply`], also returning where the effect left its key (every
    /// effect, local or remote, goes through here).
    pub fn apply_slot(&mut self, e: &Effect) -> (Applied, Slot) {
        self.apply_in(e, Slot::Unknown)
    }

    /// [`Db::apply_slot`] for an effect whose key [`Db::commit_slot`] just
    /// looked up (`found`: `At` its position or `Gone`; `Unknown` to look
    /// it up). Only SET, DEL, HSET, SADD and INCR use it (and INCR's
    /// position comes from [`Db::commit_incr`]'s caller).
    fn apply_in(&mut self, e: &Effect, found: Slot) -> (Applied, Slot) {
        if e.dot.origin != self.me {
            self.stats.effect_reqs += 1;
        }
        if self.vv.covers(e.dot) {
            self.stats.ovc_filtered_effect_reqs += 1;
            return (Applied::Duplicate, Slot::Unknown);
        }
        self.vv.observe(e.dot);
        self.clock.observe(e.hlc);
        if e.dot.origin == self.me {
            self.seq = self.seq.max(e.dot.seq);
        }
        if let Some(vv) = self.observed.get_mut(&self.me) {
            vv.observe(e.dot);
        }
        // Its origin has observed an effect, whether or not it announced so.
        if e.dot.origin != self.me {
            if let Some(vv) = self.observed.get_mut(&e.dot.origin) {
                vv.observe(e.dot);
            }
        }
        if self.capture.is_some() {
            if let Some(key) = e.op.key() {
                // The op changes only its own key; if it removes the key,
                // the last key moves into its place (`swap_remove`).
                self.captured(key);
                if self.entries.get_index_of(key).is_some_and(|i| i + 1 < self.entries.len()) {
                    let last = self.entries.last().map(|(k, _)| k.clone()).expect("not empty");
                    self.captured(&last);
                }
            }
        }
        let dot = e.dot;
        let hlc = e.hlc;
        let slot = match &e.op {
            Op::StreamAdd { .. }
            | Op::StreamRemove { .. }
            | Op::StreamSetId { .. }
            | Op::StreamDel { .. }
            | Op::GroupCreate { .. }
            | Op::GroupDestroy { .. }
            | Op::StreamAck { .. } => {
                self.apply_stream(e);
                Slot::Unknown
            }
            Op::Observed { vv } => {
                if let Some(known) = self.observed.get_mut(&dot.origin) {
                    known.join(vv);
                }
                Slot::Unknown
            }
            // A message changes no state: its dot is noted above, which is
            // what lets a receiver deliver it once (the shard delivers it
            // when `apply` says `Changed`).
            Op::Publish { .. } => Slot::Unknown,
            Op::Del { key, ctx } | Op::HllDel { key, ctx } => {
                if matches!(e.op, Op::HllDel { .. }) {
                    self.hll_removed(key, dot);
                    self.remove_key(key, ctx, false, Slot::Unknown)
                } else {
                    self.remove_key(key, ctx, false, found)
                }
            }
            Op::HllAdd { key, regs, ctx } => {
                // Only DEL-wins decides (no tombstone check): see crate::hll.
                if self.hll_survives(key, ctx) {
                    let vv = self.vv.clone();
                    let mut pending = false;
                    let slot = self.with_value(key, Kind::Hll, |v, _| {
                        let Value::Hll(h) = v else { unreachable!() };
                        pending = h.add(dot, hlc, ctx, regs, &vv);
                    });
                    if pending {
                        self.hll.pending.insert(key.clone());
                    }
                    slot
                } else {
                    Slot::Unknown
                }
            }
            Op::Set { key, ctx, value, keep_ttl } | Op::HllSet { key, ctx, value, keep_ttl } => {
                if matches!(e.op, Op::HllSet { .. }) {
                    // (It may remove the key: look it up again.)
                    self.hll_removed(key, dot);
                    self.set_string(key, ctx, *keep_ttl, dot, hlc, value, Slot::Unknown)
                } else {
                    self.set_string(key, ctx, *keep_ttl, dot, hlc, value, found)
                }
            }
            Op::Incr { key, delta } => {
                if !self.blocked_value(key, dot) {
                    let solo = self.solo();
                    let slot = self.with_value_in(key, found, Kind::String, |v, _| {
                        let Value::Str(cell) = v else { unreachable!() };
                        cell.incr_fold(dot, hlc, *delta, solo);
                    });
                    if !solo {
                        self.note_unfolded(key);
                    }
                    slot
                } else {
                    Slot::Unknown
                }
            }
            Op::HSet { key, field, ctx, value } => {
                // (Whether a pending removal stops the add does not depend
                // on the removal below: its context never covers its own dot.)
                if self.blocked_member(key, Kind::Hash, field, dot) {
                    self.remove_member(key, Kind::Hash, field, ctx, false)
                } else {
                    self.set_field(key, field, ctx, dot, hlc, value, found)
                }
            }
            Op::HIncr { key, field, delta } => {
                if !self.blocked_member(key, Kind::Hash, field, dot) {
                    let solo = self.solo();
                    let limits = self.hash_limits;
                    let slot = self.with_value(key, Kind::Hash, |v, _| {
                        let Value::Hash(h) = v else { unreachable!() };
                        h.update(field, &limits, true, false, |cell| {
                            cell.incr_fold(dot, hlc, *delta, solo);
                        });
                    });
                    if !solo {
                        self.note_unfolded(key);
                    }
                    slot
                } else {
                    Slot::Unknown
                }
            }
            Op::HDel { key, field, ctx } => self.remove_member(key, Kind::Hash, field, ctx, false),
            Op::SAdd { key, member, ctx } => {
                if self.blocked_member(key, Kind::Set, member, dot) {
                    self.remove_member(key, Kind::Set, member, ctx, false)
                } else {
                    self.add_member(key, member, ctx, Tag::new(dot, hlc), found)
                }
            }
            Op::SRem { key, member, ctx } => self.remove_member(key, Kind::Set, member, ctx, false),
            Op::ZAdd { key, member, ctx, score } => {
                let slot = self.remove_member(key, Kind::ZSet, member, ctx, false);
                if !self.blocked_member(key, Kind::ZSet, member, dot) {
                    self.with_value_in(key, slot, Kind::ZSet, |v, stats| {
                        let Value::ZSet(z) = v else { unreachable!() };
                        let (cell, _) = z.members.entry(member.clone()).or_insert_with(|| (Cell::default(), f64::NAN));
                        note_lww(stats, Kind::ZSet, cell);
                        cell.write(dot, hlc, crate::value::encode_score(*score));
                        z.refresh(member);
                    })
                } else {
                    slot
                }
            }
            Op::ZIncr { key, member, delta } => {
                if !self.blocked_member(key, Kind::ZSet, member, dot) {
                    let solo = self.solo();
                    let slot = self.with_value(key, Kind::ZSet, |v, _| {
                        let Value::ZSet(z) = v else { unreachable!() };
                        let (cell, _) = z.members.entry(member.clone()).or_insert_with(|| (Cell::default(), f64::NAN));
                        cell.incr_fold(dot, hlc, crate::num::Delta::Float(*delta), solo);
                        z.refresh(member);
                    });
                    if !solo {
                        self.note_unfolded(key);
                    }
                    slot
                } else {
                    Slot::Unknown
                }
            }
            Op::ZRem { key, member, ctx } => self.remove_member(key, Kind::ZSet, member, ctx, false),
            Op::ListInsert { key, anchor, value } => {
                let blocked = self.blocked_value(key, dot);
                self.with_list(key, |l, _, _| l.insert(dot, hlc, *anchor, value, blocked))
            }
            Op::ListSet { key, elem, ctx, value } => {
                let blocked = self.blocked_value(key, dot);
                self.with_list(key, |l, vv, stats| {
                    if l.set(*elem, dot, hlc, ctx, value.clone(), blocked, vv) {
                        *stats.conflicts.lww.entry(Kind::List).or_default() += 1;
                    }
                })
            }
            Op::ListRemove { key, elems, ctx } => {
                self.with_list(key, |l, vv, stats| {
                    let kept = l.remove(elems, ctx, vv);
                    if kept > 0 {
                        *stats.conflicts.add_wins.entry(Kind::List).or_default() += kept as u64;
                    }
                })
            }
            Op::Expire { key, ctx, at_ms } => {
                let pending = !ctx.le(&self.vv);
                if pending {
                    self.add_tombstone(key, Scope::Ttl, ctx);
                }
                let blocked = self.blocked(key, &Scope::Ttl, dot) || self.blocked(key, &Scope::Key, dot);
                let (index, entry) = self.entries.get_or_insert_with(key, Entry::default);
                let dropped = entry.retain_ttl(|t| !ctx.covers(t.dot));
                if !blocked {
                    if dropped == 0 && !entry.ttl().is_empty() {
                        self.stats.conflicts.ttl += 1;
                    }
                    entry.add_ttl(TtlVersion { dot, at_ms: *at_ms });
                }
                if entry.is_dead() {
                    self.entries.swap_remove_index(index);
                    Slot::Gone
                } else {
                    Slot::At(index)
                }
            }
        };
        (Applied::Changed, slot)
    }

    /// Notes a key whose counters may have runs to fold (copying the key
    /// only the first time: every increment of an Active-Active counter
    /// comes here).
    #[inline]
    fn note_unfolded(&mut self, key: &Blob) {
        if !self.unfolded.contains(&key[..]) {
            self.unfolded.insert(key.clone());
        }
    }

    /// Notes a key a running snapshot capture must write again.
    #[inline]
    pub fn captured(&mut self, key: &[u8]) {
        if let Some(c) = self.capture.as_deref_mut() {
            if !c.dirty.contains(key) {
                c.dirty.insert(key.into());
            }
        }
    }

    pub(crate) fn with_value(&mut self, key: &Blob, kind: Kind, f: impl FnOnce(&mut Value, &mut Stats)) -> Slot {
        self.with_value_in(key, Slot::Unknown, kind, f)
    }

    /// [`Db::with_value`] for a key at a known position (`Slot::At`, found
    /// by this same `apply` or by the committing caller, with no insert or
    /// removal since), or found by a lookup (any other slot).
    fn with_value_in(&mut self, key: &Blob, slot: Slot, kind: Kind, f: impl FnOnce(&mut Value, &mut Stats)) -> Slot {
        let (index, entry) = match slot {
            Slot::At(i) => {
                debug_assert_eq!(self.entries.get_index(i).map(|(k, _)| &k[..]), Some(&key[..]));
                (i, &mut self.entries[i])
            }
            Slot::Unknown | Slot::Gone => self.entries.get_or_insert_with(key, Entry::default),
        };
        let had_conflict = entry.hidden_visible();
        f(entry.typed_mut(kind), &mut self.stats);
        if entry.normalize() && !had_conflict {
            self.stats.conflicts.type_conflicts += 1;
        }
        if entry.is_dead() {
            self.entries.swap_remove_index(index);
            return Slot::Gone;
        }
        Slot::At(index)
    }

    /// SET: `remove_key` then a register write, in one lookup of the key
    /// (the key is not removed and inserted again in between; this is the
    /// hottest write path).
    /// `found`: where [`Db::commit_slot`] found the key, or `Unknown`.
    #[allow(clippy::too_many_arguments)]
    fn set_string(&mut self, key: &Blob, ctx: &VersionVector, keep_ttl: bool, dot: Dot, hlc: Hlc, value: &Blob, found: Slot) -> Slot {
        if !ctx.le(&self.vv) {
            self.add_tombstone(key, if keep_ttl { Scope::Values } else { Scope::Key }, ctx);
        }
        let blocked = self.blocked_value(key, dot);
        let solo = self.solo();
        let at = self.index_at(key, found);
        let Db { entries, vv, unfolded, stats, .. } = self;
        let index = match at {
            Some(i) => {
                let entry = &mut entries[i];
                entry.remove_all(ctx, keep_ttl);
                if seal_lists(entry, vv, solo) {
                    unfolded.insert(key.clone());
                }
                entry.normalize();
                i
            }
            None if blocked => return Slot::Gone,
            None => {
                entries.insert_full(Key::from(&key[..]), Entry::default()).0
            }
        };
        let entry = &mut entries[index];
        if !blocked {
            let had_conflict = entry.hidden_visible();
            let Value::Str(cell) = entry.typed_mut(Kind::String) else { unreachable!() };
            note_lww(stats, Kind::String, cell);
            cell.write(dot, hlc, &value[..]);
            if entry.normalize() && !had_conflict {
                stats.conflicts.type_conflicts += 1;
            }
        }
        if entry.is_dead() {
            entries.swap_remove_index(index);
            return Slot::Gone;
        }
        Slot::At(index)
    }

    /// Applies a list op to the key's list (created if absent), then logs
    /// the elements it killed for garbage collection (see `crate::list`).
    /// (`with_value` for lists, with the version vector borrowed rather
    /// than cloned for every op.)
    fn with_list(&mut self, key: &Blob, f: impl FnOnce(&mut List, &VersionVector, &mut Stats)) -> Slot {
        let solo = self.solo();
        let Db { entries, vv, unfolded, stats, .. } = self;
        let index = match entries.get_index_of(&key[..]) {
            Some(i) => i,
            None => {
                entries.insert_full(Key::from(&key[..]), Entry::default()).0
            }
        };
        let entry = &mut entries[index];
        let had_conflict = entry.hidden_visible();
        let Value::List(l) = entry.typed_mut(Kind::List) else { unreachable!() };
        f(l, vv, stats);
        let garbage = seal_list(l, vv, solo);
        if entry.normalize() && !had_conflict {
            stats.conflicts.type_conflicts += 1;
        }
        let slot = if entry.is_dead() {
            entries.swap_remove_index(index);
            Slot::Gone
        } else {
            Slot::At(index)
        };
        if garbage {
            unfolded.insert(key.clone());
        }
        slot
    }

    /// `found`: where [`Db::commit_slot`] found the key, or `Unknown`.
    pub(crate) fn remove_key(&mut self, key: &Blob, ctx: &VersionVector, keep_ttl: bool, found: Slot) -> Slot {
        if !ctx.le(&self.vv) {
            self.add_tombstone(key, if keep_ttl { Scope::Values } else { Scope::Key }, ctx);
        }
        let solo = self.solo();
        let Some(index) = self.index_at(key, found) else { return Slot::Gone };
        let entry = &mut self.entries[index];
        entry.remove_all(ctx, keep_ttl);
        if seal_lists(entry, &self.vv, solo) {
            self.unfolded.insert(key.clone());
        }
        entry.normalize();
        if entry.is_dead() {
            self.entries.swap_remove_index(index);
            return Slot::Gone;
        }
        Slot::At(index)
    }

    /// HSET: [`Db::remove_member`] of the field (keeping it emptied for the
    /// add) then the write, in one lookup of the key and one of the field
    /// ([`Fields::set_field`]) when the key holds just a hash (or nothing);
    /// a key with a type conflict takes the two steps.
    /// `found`: where [`Db::commit_slot`] found the key, or `Unknown`.
    #[allow(clippy::too_many_arguments)]
    fn set_field(&mut self, key: &Blob, field: &Blob, ctx: &VersionVector, dot: Dot, hlc: Hlc, value: &Blob, found: Slot) -> Slot {
        #[cfg(test)]
        if let Some(slot) = check_in_steps(self, |db| db.set_field(key, field, ctx, dot, hlc, value, found), |db| {
            db.add_member_tombstone(key, Kind::Hash, field, ctx);
            db.set_field_in_steps(key, field, ctx, dot, hlc, value)
        }) {
            return slot;
        }
        let removes = !ctx.is_empty();
        self.add_member_tombstone(key, Kind::Hash, field, ctx);
        let at = self.index_at(key, found);
        let limits = self.hash_limits;
        let index = match at {
            Some(i) => {
                let entry = &mut self.entries[i];
                if entry.hidden().is_empty() {
                    if let Some(Value::Hash(h)) = &mut entry.value {
                        let r = h.set_field(field, ctx, dot, hlc, value, &limits);
                        let conflicts = &mut self.stats.conflicts;
                        if removes && r.survived {
                            *conflicts.add_wins.entry(Kind::Hash).or_default() += 1;
                        }
                        if r.overwrote {
                            *conflicts.lww.entry(Kind::Hash).or_default() += 1;
                        }
                        // (Not empty: it holds the field just written.)
                        return Slot::At(i);
                    }
                }
                return self.set_field_in_steps(key, field, ctx, dot, hlc, value);
            }
            None => self.entries.insert_full(Key::from(&key[..]), Entry::default()).0,
        };
        let mut h = Fields::default();
        h.set_field(field, ctx, dot, hlc, value, &limits);
        self.entries[index].value = Some(Value::Hash(h));
        Slot::At(index)
    }

    /// [`Db::set_field`] as a removal then a write (the tombstone added).
    #[allow(clippy::too_many_arguments)]
    fn set_field_in_steps(&mut self, key: &Blob, field: &Blob, ctx: &VersionVector, dot: Dot, hlc: Hlc, value: &Blob) -> Slot {
        let slot = self.remove_member_in(key, Kind::Hash, field, ctx, true);
        let limits = self.hash_limits;
        self.with_value_in(key, slot, Kind::Hash, |v, stats| {
            let Value::Hash(h) = v else { unreachable!() };
            h.update(field, &limits, true, false, |cell| {
                note_lww(stats, Kind::Hash, cell);
                cell.write(dot, hlc, &value[..]);
            });
        })
    }

    /// SADD: [`Db::remove_member`] of the member (keeping it emptied for
    /// the add) then the add of `tag`, in one lookup of the key and one of
    /// the member when the key holds just a set (or nothing).
    /// `found`: where [`Db::commit_slot`] found the key, or `Unknown`.
    fn add_member(&mut self, key: &Blob, member: &Blob, ctx: &VersionVector, tag: Tag, found: Slot) -> Slot {
        #[cfg(test)]
        if let Some(slot) = check_in_steps(self, |db| db.add_member(key, member, ctx, tag, found), |db| {
            db.add_member_tombstone(key, Kind::Set, member, ctx);
            let slot = db.remove_member_in(key, Kind::Set, member, ctx, true);
            db.with_value_in(key, slot, Kind::Set, |v, _| add_tag(v, member, tag))
        }) {
            return slot;
        }
        let removes = !ctx.is_empty();
        self.add_member_tombstone(key, Kind::Set, member, ctx);
        let at = self.index_at(key, found);
        let index = match at {
            Some(i) => {
                let entry = &mut self.entries[i];
                if let (true, Some(Value::Set(set))) = (entry.hidden().is_empty(), &mut entry.value) {
                    let members = &mut set.members;
                    match members.get_mut(&member[..]) {
                        // A re-add replacing the one tag it observed: in place.
                        Some(tags) if removes && tags.len() == 1 && ctx.covers(tags[0].dot()) => tags[0] = tag,
                        Some(tags) => {
                            if removes {
                                tags.retain(|t| !ctx.covers(t.dot()));
                                if !tags.is_empty() {
                                    *self.stats.conflicts.add_wins.entry(Kind::Set).or_default() += 1;
                                }
                            }
                            if let Err(i) = tags.binary_search(&tag) {
                                tags.reserve_exact(1);
                                tags.insert(i, tag);
                            }
                        }
                        None => {
                            members.insert(member.clone(), smallvec::smallvec![tag]);
                        }
                    }
                    return Slot::At(i);
                }
                let slot = self.remove_member_in(key, Kind::Set, member, ctx, true);
                return self.with_value_in(key, slot, Kind::Set, |v, _| add_tag(v, member, tag));
            }
            None => self.entries.insert_full(Key::from(&key[..]), Entry::default()).0,
        };
        let mut members = crate::FastMap::default();
        members.insert(member.clone(), smallvec::smallvec![tag]);
        self.entries[index].value = Some(Value::Set(Box::new(OrSet { members })));
        Slot::At(index)
    }

    /// Removes the versions of one member that `ctx` covers. With `readd`
    /// (an add of the same member follows at once) an emptied member and
    /// key are left for the add to fill instead of being removed and
    /// inserted again.
    fn remove_member(&mut self, key: &Blob, kind: Kind, member: &Blob, ctx: &VersionVector, readd: bool) -> Slot {
        self.add_member_tombstone(key, kind, member, ctx);
        self.remove_member_in(key, kind, member, ctx, readd)
    }

    /// The tombstone of a member's removal, if it removes some of what this
    /// instance has not seen yet.
    /// Where `key` is, given where [`Db::commit_slot`] found it (`found`,
    /// or `Unknown`).
    fn index_at(&self, key: &[u8], found: Slot) -> Option<usize> {
        let at = match found {
            Slot::At(i) => Some(i),
            Slot::Gone => None,
            Slot::Unknown => self.entries.get_index_of(key),
        };
        debug_assert_eq!(at, self.entries.get_index_of(key));
        at
    }

    fn add_member_tombstone(&mut self, key: &Blob, kind: Kind, member: &Blob, ctx: &VersionVector) {
        if !ctx.is_empty() && !ctx.le(&self.vv) {
            self.add_tombstone(key, Scope::Member(kind, member.clone()), ctx);
        }
    }

    /// [`Db::remove_member`] once its tombstone, if it needs one, is added.
    fn remove_member_in(&mut self, key: &Blob, kind: Kind, member: &Blob, ctx: &VersionVector, readd: bool) -> Slot {
        if ctx.is_empty() {
            return Slot::Unknown;
        }
        let Some(index) = self.entries.get_index_of(&key[..]) else { return Slot::Gone };
        let entry = &mut self.entries[index];
        let stats = &mut self.stats;
        for v in entry.values_mut() {
            if v.kind() != kind {
                continue;
            }
            match v {
                Value::Hash(h) => {
                    // (`readd` keeps an emptied field for the add.)
                    if h.remove_field(member, ctx, readd) == Some(true) {
                        *stats.conflicts.add_wins.entry(kind).or_default() += 1;
                    }
                }
                Value::Set(set) => {
                    let members = &mut set.members;
                    if let Some(tags) = members.get_mut(member) {
                        tags.retain(|t| !ctx.covers(t.dot()));
                        if tags.is_empty() {
                            if !readd {
                                members.remove(member);
                            }
                        } else {
                            *stats.conflicts.add_wins.entry(kind).or_default() += 1;
                        }
                    }
                }
                Value::ZSet(z) => {
                    if let Some((cell, _)) = z.members.get_mut(member) {
                        cell.remove(ctx);
                        if !cell.is_empty() {
                            *stats.conflicts.add_wins.entry(kind).or_default() += 1;
                        }
                        z.refresh(member);
                    }
                }
                Value::Str(_) | Value::Hll(_) | Value::List(_) | Value::Stream(_) => {}
            }
        }
        if readd {
            return Slot::At(index);
        }
        entry.normalize();
        if entry.is_dead() {
            self.entries.swap_remove_index(index);
            return Slot::Gone;
        }
        Slot::At(index)
    }

    fn add_tombstone(&mut self, key: &Blob, scope: Scope, ctx: &VersionVector) {
        let list = self.tombstones.entry(key.clone()).or_default();
        if let Some(t) = list.iter_mut().find(|t| t.scope == scope) {
            t.ctx.join(ctx);
        } else {
            list.push(Tombstone { scope, ctx: ctx.clone() });
        }
    }

    /// True when a pending removal already removed the add with this dot.
    fn blocked(&self, key: &[u8], scope: &Scope, dot: Dot) -> bool {
        if self.tombstones.is_empty() {
            return false;
        }
        self.tombstones
            .get(key)
            .is_some_and(|list| list.iter().any(|t| (&t.scope == scope) && t.ctx.covers(dot)))
    }

    /// True when a pending removal of the key's values stops this add.
    pub(crate) fn blocked_value(&self, key: &[u8], dot: Dot) -> bool {
        self.blocked(key, &Scope::Key, dot) || self.blocked(key, &Scope::Values, dot)
    }

    fn blocked_member(&self, key: &[u8], kind: Kind, member: &Blob, dot: Dot) -> bool {
        if self.tombstones.is_empty() {
            return false;
        }
        self.blocked_value(key, dot) || self.blocked(key, &Scope::Member(kind, member.clone()), dot)
    }

    /// True when this instance is the database's only member: every effect
    /// it applies has then reached every instance, so counters fold at once.
    pub fn solo(&self) -> bool {
        self.observed.len() == 1 && self.observed.contains_key(&self.me)
    }

    /// The minimum over every member of what it announced it observed: every
    /// effect it covers has reached every instance.
    pub fn gvc_min(&self) -> VersionVector {
        let mut it = self.observed.values();
        let Some(first) = it.next() else { return self.vv.clone() };
        let mut min = first.clone();
        for vv in it {
            min.meet(vv);
        }
        min
    }

    /// Announces what this instance observed (an effect for the stream).
    pub fn announce(&mut self, wall_ms: u64) -> Effect {
        let vv = self.vv.clone();
        self.commit(Op::Observed { vv }, wall_ms)
    }

    /// Garbage collection: drops pending tombstones this instance no longer
    /// needs, and folds counter runs every instance has observed.
    pub fn gc(&mut self) -> usize {
        self.stats.gc_attempted += 1;
        if let Some(c) = self.capture.as_deref_mut() {
            // Folding and settling rewrite these keys' values.
            c.dirty.extend(self.unfolded.iter().chain(self.hll.pending.iter()).cloned());
        }
        let mut collected = 0;
        let vv = &self.vv;
        self.tombstones.retain(|_, list| {
            let before = list.len();
            list.retain(|t| !t.ctx.le(vv));
            collected += before - list.len();
            !list.is_empty()
        });
        if !self.unfolded.is_empty() {
            let gvc = self.gvc_min();
            let keys: Vec<Blob> = self.unfolded.drain().collect();
            for key in keys {
                let Some(entry) = self.entries.get_mut(&key[..]) else { continue };
                let mut left = false;
                let mut lists = false;
                for v in entry.values_mut() {
                    if let Value::Stream(s) = v {
                        // Early removals and delete markers (see crate::stream).
                        collected += s.gc(&self.vv, &gvc);
                        left |= s.has_garbage();
                        lists = true;
                        continue;
                    }
                    if let Value::List(l) = v {
                        // Tombstones every instance saw removed.
                        collected += l.gc(&gvc);
                        left |= l.has_garbage();
                        lists = true;
                        continue;
                    }
                    let mut fold = |c: &mut Cell| {
                        collected += c.fold(&gvc);
                        left |= c.has_unfolded();
                    };
                    match v {
                        Value::Str(c) => fold(c),
                        Value::Hash(h) => h.counters_mut(fold),
                        Value::ZSet(z) => z.members.values_mut().for_each(|(c, _)| fold(c)),
                        Value::Set(_) | Value::Hll(_) | Value::List(_) | Value::Stream(_) => {}
                    }
                }
                if lists {
                    entry.normalize();
                    if entry.is_dead() {
                        if let (Some(c), Some((last, _))) = (self.capture.as_deref_mut(), self.entries.last()) {
                            c.dirty.insert(last[..].into());
                        }
                        self.entries.swap_remove(&key[..]);
                    }
                }
                if left {
                    self.unfolded.insert(key);
                }
            }
        }
        collected += self.hll_gc();
        self.stats.gc_collected += collected as u64;
        collected
    }

    /// Tombstones and unfolded counters waiting for garbage collection.
    pub fn gc_pending(&self) -> usize {
        self.tombstones.values().map(|l| l.len()).sum::<usize>() + self.unfolded.len()
    }

    /// What a key holds that no client can see: TTL versions left when a DEL
    /// raced an EXPIRE (the TTL survives, add-wins, on a key with no value).
    /// Returns the context to remove them with (`Op::Del`), or None.
    ///
    /// An origin writing to such a key must commit `Op::Del { ctx }` first,
    /// as it does for an expired key: otherwise the new value would inherit
    /// a TTL that no serial order of the commands gives it.
    pub fn leftover_ctx(&self, key: &[u8]) -> Option<VersionVector> {
        // An invisible list (tombstones, inserts waiting for their anchor)
        // is not a leftover: its elements belong to other instances' lists.
        let ctx = |e: &Entry| {
            let mut vv = VersionVector::new();
            for v in e.hidden().iter().filter(|v| !matches!(v, Value::List(_))) {
                v.ctx(&mut vv);
            }
            for t in e.ttl() {
                vv.observe(t.dot);
            }
            vv
        };
        self.entries.get(&key[..]).filter(|e| e.value.is_none()).map(ctx).filter(|c| !c.is_empty())
    }

    /// The visible entry of a key (type conflicts resolved; TTL not checked).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(&key[..]).filter(|e| e.value.is_some())
    }
}

/// Logs a list's newly dead elements with `vv`; a database with one member
/// collects them at once. Returns true while tombstones wait for collection.
pub(crate) fn seal_list(l: &mut List, vv: &VersionVector, solo: bool) -> bool {
    if solo {
        l.seal_and_collect_alone(vv);
    } else {
        l.seal(vv);
    }
    l.has_garbage()
}

/// [`seal_list`] for every list in an entry.
pub(crate) fn seal_lists(entry: &mut Entry, vv: &VersionVector, solo: bool) -> bool {
    let mut garbage = false;
    for v in entry.values_mut() {
        if let Value::List(l) = v {
            garbage |= seal_list(l, vv, solo);
        }
    }
    garbage
}

#[cfg(test)]
thread_local! {
    /// While set, every HSET and SADD apply runs both ways, one pass and in
    /// steps (the removal then the write, as before the one-pass paths),
    /// and checks that both leave the same database.
    pub(crate) static CHECK_IN_STEPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// How many applies [`check_in_steps`] checked.
    pub(crate) static CHECKED_IN_STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// See [`CHECK_IN_STEPS`]: runs `fast` on `db` and `steps` on a copy, and
/// panics unless they agree (entries with their positions and hash
/// encodings, tombstones, counters, the slot). None when not checking.
#[cfg(test)]
fn check_in_steps(db: &mut Db, fast: impl FnOnce(&mut Db) -> Slot, steps: impl FnOnce(&mut Db) -> Slot) -> Option<Slot> {
    if !CHECK_IN_STEPS.with(|c| c.replace(false)) {
        return None;
    }
    let mut old = db.clone();
    let before: Vec<String> = db.entries.iter().map(|(k, e)| format!("{k:?} {e:?}")).collect();
    let want = steps(&mut old);
    let got = fast(db);
    CHECK_IN_STEPS.with(|c| c.set(true));
    CHECKED_IN_STEPS.with(|c| c.set(c.get() + 1));
    assert_eq!(got, want, "slot");
    assert_eq!(db.stats, old.stats, "counters");
    assert_eq!(db.tombstones, old.tombstones, "tombstones");
    assert_eq!(db.entries.len(), old.entries.len(), "keys");
    for ((k, e), (ok, oe)) in db.entries.iter().zip(old.entries.iter()) {
        assert_eq!((k, e), (ok, oe), "entry; before {before:#?}");
        for (v, ov) in e.values().zip(oe.values()) {
            if let (Value::Hash(h), Value::Hash(oh)) = (v, ov) {
                assert_eq!((h.is_packed(), h.raw()), (oh.is_packed(), oh.raw()), "hash encoding");
            }
        }
    }
    Some(got)
}

/// The add half of SADD: a set member's tag (the member created if absent).
fn add_tag(v: &mut Value, member: &Blob, tag: Tag) {
    let Value::Set(s) = v else { unreachable!() };
    if !s.members.contains_key(member) {
        s.members.insert(member.clone(), Default::default());
    }
    let tags = s.members.get_mut(member).expect("inserted above");
    if let Err(i) = tags.binary_search(&tag) {
        tags.reserve_exact(1);
        tags.insert(i, tag);
    }
}

fn note_lww(stats: &mut Stats, kind: Kind, cell: &Cell) {
    if !cell.versions().is_empty() {
        *stats.conflicts.lww.entry(kind).or_default() += 1;
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_entry_is_40_bytes() {
        // `Option<Value>` 32 (its tag in the niche of a cell's one version,
        // the only 32-byte variant) + the side pointer.
        assert_eq!(std::mem::size_of::<Entry>(), 40);
        assert_eq!(std::mem::size_of::<Option<Value>>(), 32);
        assert_eq!(std::mem::size_of::<Cell>(), 32);
        // As large as the thin vector holding one TTL version it replaced.
        assert_eq!(std::mem::size_of::<Side>(), 48);
    }

    #[test]
    fn the_side_part_exists_only_while_it_holds_something() {
        let dot = |seq| Dot { origin: InstanceId(1), seq };
        let mut e = Entry { value: Some(Value::empty(Kind::String)), side: None };
        assert!(e.retain_ttl(|_| false) == 0 && e.side.is_none());
        e.add_ttl(TtlVersion { dot: dot(3), at_ms: Some(5) });
        e.add_ttl(TtlVersion { dot: dot(1), at_ms: None });
        assert_eq!(e.ttl().iter().map(|t| t.dot.seq).collect::<Vec<_>>(), [1, 3], "sorted by dot");
        assert_eq!(e.retain_ttl(|t| t.dot.seq != 1), 1);
        assert!(e.side.is_some());
        e.set_hidden([Value::empty(Kind::Hash)]);
        assert_eq!(e.retain_ttl(|_| false), 1);
        assert!(e.side.is_some(), "the hidden value keeps it");
        assert_eq!(e.take_hidden().len(), 1);
        assert!(e.side.is_none());
        assert_eq!(Entry::new(None, [], []), Entry::default());
        assert!(Entry::new(None, [], []).is_dead());
    }
}

//! A deterministic simulator of an Active-Active database: N instances issue
//! random client commands (a few keys and members, so conflicts are
//! frequent; mixed types on one key; TTLs; int and float counters), and
//! effects reach the other instances in random interleavings that keep only
//! per-origin order, with duplicates, random full-sync merges (of current and
//! of older snapshots), clock skew and steps back, announces and garbage
//! collection. After everything is delivered, every instance must hold the
//! same state (digest) and show the same data (render).
//!
//! Single thread, seeded: `SIM_SEED=<n> cargo test -p crdt sim` replays one
//! schedule with a trace. `SIM_SCHEDULES=<n>` changes how many run.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::tests::{check_invariants, render, to_op, Cmd};
use crate::db::Db;
use crate::effect::{Effect, Op};
use crate::id::InstanceId;

/// One step of a schedule. Instance numbers are 0-based indices here.
#[derive(Clone, Debug)]
pub enum Action {
    /// Instance `at` runs a client command; `strict` refuses it like the
    /// engine would (WRONGTYPE, nothing to remove), otherwise it is always
    /// sent.
    Op { at: usize, cmd: Cmd, strict: bool },
    /// `to` applies the next `n` effects of `from`'s stream.
    Deliver { to: usize, from: usize, n: usize },
    /// `to` receives again one effect of `from` it already applied.
    Dup { to: usize, from: usize, back: usize },
    /// Full sync: `into` merges `from`'s state, or an older snapshot of it.
    Merge { into: usize, from: usize, stale: Option<usize> },
    /// Keeps a copy of `at`'s state for later stale merges.
    Snapshot { at: usize },
    Announce { at: usize },
    Gc { at: usize },
    /// The owner of a key's winning TTL deletes it once its deadline passed.
    ExpireCycle { at: usize },
    /// Global time moves on.
    Tick { ms: u64 },
    /// An instance's wall clock jumps (NTP step), possibly backwards.
    Skew { at: usize, ms: i64 },
}

pub struct Inst {
    pub db: Db,
    pub skew: i64,
    /// Every effect this instance originated, in order: its stream.
    pub log: Vec<Effect>,
    pub snapshots: Vec<Db>,
}

/// What schedules exercised (printed so a weak generator shows).
#[derive(Default, Debug, Clone, Copy)]
pub struct Coverage {
    pub effects: u64,
    pub duplicates: u64,
    pub merges: u64,
    pub stale_merges: u64,
    pub lww: u64,
    pub add_wins: u64,
    pub type_conflicts: u64,
    /// Stream group creates killed by a DESTROY or DEL they did not observe.
    pub delete_wins: u64,
    pub ttl_conflicts: u64,
    pub runs_folded: u64,
    /// Steps after which some instance held a pending tombstone.
    pub pending_tombstones: u64,
    /// Merges where both sides held counter runs of one origin folded differently.
    pub fold_mismatch_merges: u64,
    /// Hashes held packed / as maps at the end of a schedule, per instance,
    /// and ends where one hash was packed at an instance and a map at another.
    pub packed_hashes: u64,
    pub map_hashes: u64,
    pub mixed_encodings: u64,
}

impl Coverage {
    pub fn add(&mut self, o: &Coverage) {
        self.effects += o.effects;
        self.duplicates += o.duplicates;
        self.merges += o.merges;
        self.stale_merges += o.stale_merges;
        self.lww += o.lww;
        self.add_wins += o.add_wins;
        self.type_conflicts += o.type_conflicts;
        self.delete_wins += o.delete_wins;
        self.ttl_conflicts += o.ttl_conflicts;
        self.runs_folded += o.runs_folded;
        self.pending_tombstones += o.pending_tombstones;
        self.fold_mismatch_merges += o.fold_mismatch_merges;
        self.packed_hashes += o.packed_hashes;
        self.map_hashes += o.map_hashes;
        self.mixed_encodings += o.mixed_encodings;
    }
}

fn run_shapes(db: &Db) -> std::collections::BTreeMap<(Vec<u8>, u16, u64), u64> {
    let mut out = std::collections::BTreeMap::new();
    for (k, e) in &db.entries {
        for v in e.values() {
            let mut cells = Vec::new();
            collect_cells(v, &mut cells);
            for c in cells {
                for r in c.runs() {
                    out.insert((k.to_vec(), r.origin.0, r.first), r.last);
                }
            }
        }
    }
    out
}

pub struct World {
    pub insts: Vec<Inst>,
    /// `delivered[to][from]`: effects of `from`'s stream `to` applied.
    pub delivered: Vec<Vec<usize>>,
    pub now: u64,
    pub trace: bool,
    pub steps: usize,
    pub cov: Coverage,
}

pub const KEYS: [&str; 3] = ["k0", "k1", "k2"];
pub const MEMBERS: [&str; 3] = ["a", "b", "c"];
pub const STRINGS: [&str; 6] = ["5", "-3", "10.5", "x", "hello", "0"];
/// Float increments that round differently in different groupings.
pub const FLOATS: [f64; 12] = [0.1, 0.2, 0.3, 1.1, -0.7, 2.5, 1e16, -1e16, 3.3e-5, 1.0, 0.0, -0.0];
/// Extreme values: overflow of partial sums, infinities.
pub const EXTREME: [f64; 6] = [1.7e308, -1.7e308, 1e308, f64::INFINITY, f64::NEG_INFINITY, 5e-324];
pub const INTS: [i64; 8] = [1, -1, 2, 5, -7, 100, 1 << 60, -(1 << 60)];

/// Each instance's hash encoding limits, drawn from its clock skew (so
/// schedules keep their random draws): most instances convert packed hashes
/// to maps after 0, 1 or 2 fields or at values longer than 1 or 3 bytes,
/// others keep the defaults; instances holding one hash in different
/// encodings must still converge to one digest.
pub fn hash_limits(skew: i64, i: usize) -> crate::fields::Limits {
    let s = skew.unsigned_abs() as usize + i;
    crate::fields::Limits { entries: [0, 1, 2, 512, 512][s % 5], value: [1, 3, 64][(s / 5) % 3] }
}

impl World {
    pub fn new(n: usize, skews: &[i64]) -> World {
        let ids: Vec<InstanceId> = (1..=n as u16).map(InstanceId).collect();
        let insts = (0..n)
            .map(|i| {
                let mut db = Db::new(ids[i]);
                db.set_members(&ids);
                db.hash_limits = hash_limits(skews.get(i).copied().unwrap_or(0), i);
                Inst { db, skew: skews.get(i).copied().unwrap_or(0), log: Vec::new(), snapshots: Vec::new() }
            })
            .collect();
        World { insts, delivered: vec![vec![0; n]; n], now: 1_000_000, trace: false, steps: 0, cov: Coverage::default() }
    }

    pub fn n(&self) -> usize {
        self.insts.len()
    }

    pub fn wall(&self, i: usize) -> u64 {
        (self.now as i64 + self.insts[i].skew).max(0) as u64
    }

    fn commit(&mut self, at: usize, op: Op) {
        let wall = self.wall(at);
        let e = self.insts[at].db.commit(op, wall);
        if self.trace {
            eprintln!("    -> {e:?}");
        }
        self.insts[at].log.push(e);
        self.delivered[at][at] += 1;
    }

    fn check(&self, i: usize, what: &str) -> Result<(), String> {
        check_invariants(&self.insts[i].db).map_err(|e| format!("after {what}, instance {}: {e}", i + 1))
    }

    /// Runs one action; returns a description of a broken invariant.
    pub fn step(&mut self, a: &Action) -> Result<(), String> {
        self.steps += 1;
        if self.trace {
            eprintln!("step {} (t={}): {a:?}", self.steps, self.now);
        }
        let n = self.n();
        match a {
            Action::Op { at, cmd, strict } => {
                let at = at % n;
                if let Some(op) = to_op(&self.insts[at].db, cmd, *strict) {
                    // Like the engine: a write first clears what is left of
                    // a key no client can see (raw ops skip it).
                    if *strict && cmd.adds() {
                        if let Some(ctx) = self.insts[at].db.leftover_ctx(cmd.key().as_bytes()) {
                            self.commit(at, Op::Del { key: cmd.key().as_bytes().into(), ctx });
                        }
                    }
                    self.commit(at, op);
                }
                self.check(at, "op")?;
            }
            Action::Deliver { to, from, n: count } => {
                let (to, from) = (to % n, from % n);
                for _ in 0..*count {
                    let k = self.delivered[to][from];
                    let Some(e) = self.insts[from].log.get(k) else { break };
                    // Through the wire format, as a syncer would.
                    let e = Effect::decode(&e.to_bytes()).map_err(|e| format!("decode: {e}"))?;
                    if self.trace {
                        eprintln!("    {} <- {e:?}", to + 1);
                    }
                    if self.insts[to].db.apply(&e) == crate::db::Applied::Duplicate {
                        self.cov.duplicates += 1;
                    }
                    self.delivered[to][from] += 1;
                }
                self.check(to, "deliver")?;
            }
            Action::Dup { to, from, back } => {
                let (to, from) = (to % n, from % n);
                let k = self.delivered[to][from];
                if k > 0 {
                    let e = self.insts[from].log[k - 1 - back % k].clone();
                    let before = self.insts[to].db.digest();
                    let r = self.insts[to].db.apply(&e);
                    self.cov.duplicates += 1;
                    if r != crate::db::Applied::Duplicate || self.insts[to].db.digest() != before {
                        return Err(format!("duplicate {:?} changed instance {}", e.dot, to + 1));
                    }
                }
            }
            Action::Merge { into, from, stale } => {
                let (into, from) = (into % n, from % n);
                let snap = match stale {
                    Some(s) if !self.insts[from].snapshots.is_empty() => {
                        let v = &self.insts[from].snapshots;
                        v[s % v.len()].clone()
                    }
                    _ => self.insts[from].db.clone(),
                };
                // A full sync ships the state in the snapshot format.
                let bytes = crate::snapshot::encode(&snap, &[]);
                let decoded = crate::snapshot::decode(&bytes).map_err(|e| format!("snapshot decode: {e}"))?.db;
                if decoded.digest() != snap.digest() || decoded.vv != snap.vv || decoded.tombstones != snap.tombstones {
                    return Err(format!("snapshot of instance {} does not round-trip", from + 1));
                }
                let snap = decoded;
                let dominated = snap.vv.le(&self.insts[into].db.vv);
                self.cov.merges += 1;
                self.cov.stale_merges += stale.is_some() as u64;
                let (a, b) = (run_shapes(&self.insts[into].db), run_shapes(&snap));
                if a.iter().any(|(k, last)| b.iter().any(|(k2, l2)| k.0 == k2.0 && k.1 == k2.1 && k != k2 && k.2 <= *l2 && k2.2 <= *last)) {
                    self.cov.fold_mismatch_merges += 1;
                }
                let before = (self.insts[into].db.digest(), render(&self.insts[into].db));
                let before_db = if dominated { Some(self.insts[into].db.clone()) } else { None };
                self.insts[into].db.merge(&snap);
                self.check(into, "merge")?;
                if dominated && (self.insts[into].db.digest(), render(&self.insts[into].db)) != before {
                    let old = before_db.expect("dominated");
                    let new = &self.insts[into].db;
                    let mut keys: Vec<_> = old.entries.keys().chain(new.entries.keys()).collect();
                    keys.sort();
                    keys.dedup();
                    let diff: Vec<String> = keys
                        .iter()
                        .filter(|k| old.key_digest(k) != new.key_digest(k))
                        .map(|k| format!("{}:\n  before {:?}\n  after  {:?}\n  merged {:?}", String::from_utf8_lossy(k), old.entries.get(*k), new.entries.get(*k), snap.entries.get(*k)))
                        .collect();
                    return Err(format!(
                        "merging a state instance {} had already observed changed it:\nbefore\n{}\nafter\n{}\n{}",
                        into + 1,
                        before.1,
                        render(&self.insts[into].db),
                        diff.join("\n")
                    ));
                }
            }
            Action::Snapshot { at } => {
                let at = at % n;
                let s = self.insts[at].db.clone();
                let v = &mut self.insts[at].snapshots;
                if v.len() >= 4 {
                    v.remove(0);
                }
                v.push(s);
            }
            Action::Announce { at } => {
                let at = at % n;
                let wall = self.wall(at);
                let e = self.insts[at].db.announce(wall);
                self.insts[at].log.push(e);
                self.delivered[at][at] += 1;
            }
            Action::Gc { at } => {
                let at = at % n;
                let before = render(&self.insts[at].db);
                let d = self.insts[at].db.digest();
                self.insts[at].db.gc();
                self.check(at, "gc")?;
                let after = render(&self.insts[at].db);
                if before != after || d != self.insts[at].db.digest() {
                    return Err(format!("gc changed instance {}:\nbefore\n{before}\nafter\n{after}", at + 1));
                }
            }
            Action::ExpireCycle { at } => {
                let at = at % n;
                let wall = self.wall(at);
                let me = self.insts[at].db.me;
                let mut keys: Vec<_> = self.insts[at]
                    .db
                    .entries
                    .iter()
                    .filter(|(_, e)| {
                        e.ttl_winner().is_some_and(|t| t.dot.origin == me && t.at_ms.is_some_and(|d| d <= wall))
                    })
                    .map(|(k, e)| (crate::Blob::from(&k[..]), e.ctx()))
                    .collect();
                keys.sort_by(|a, b| a.0.cmp(&b.0));
                for (key, ctx) in keys {
                    self.commit(at, Op::Del { key, ctx });
                }
                self.check(at, "expire")?;
            }
            Action::Tick { ms } => self.now += ms,
            Action::Skew { at, ms } => {
                let at = at % n;
                self.insts[at].skew = *ms;
            }
        }
        if self.insts.iter().any(|i| !i.db.tombstones.is_empty()) {
            self.cov.pending_tombstones += 1;
        }
        Ok(())
    }

    /// Delivers everything everywhere (in an order drawn from `rng`), then
    /// two rounds of announce + deliver + gc, and checks convergence.
    /// Counts the hash encodings the instances ended with (coverage).
    pub fn count_encodings(&mut self) {
        let mut by_key: std::collections::BTreeMap<Vec<u8>, (bool, bool)> = Default::default();
        for inst in &self.insts {
            for (k, e) in &inst.db.entries {
                for v in e.values() {
                    if let crate::value::Value::Hash(h) = v {
                        let seen = by_key.entry(k.to_vec()).or_default();
                        if h.is_packed() {
                            self.cov.packed_hashes += 1;
                            seen.0 = true;
                        } else {
                            self.cov.map_hashes += 1;
                            seen.1 = true;
                        }
                    }
                }
            }
        }
        self.cov.mixed_encodings += by_key.values().filter(|s| s.0 && s.1).count() as u64;
    }

    pub fn finish(&mut self, rng: &mut SmallRng) -> Result<(), String> {
        let n = self.n();
        let deliver_all = |w: &mut World, rng: &mut SmallRng| -> Result<(), String> {
            loop {
                let pending: Vec<(usize, usize)> = (0..n)
                    .flat_map(|to| (0..n).map(move |from| (to, from)))
                    .filter(|&(to, from)| to != from && w.delivered[to][from] < w.insts[from].log.len())
                    .collect();
                if pending.is_empty() {
                    return Ok(());
                }
                let (to, from) = pending[rng.gen_range(0..pending.len())];
                w.step(&Action::Deliver { to, from, n: rng.gen_range(1..4) })?;
            }
        };
        deliver_all(self, rng)?;
        for _ in 0..2 {
            for i in 0..n {
                self.step(&Action::Announce { at: i })?;
            }
            deliver_all(self, rng)?;
            for i in 0..n {
                self.step(&Action::Gc { at: i })?;
            }
        }
        for i in &self.insts {
            let st = &i.db.stats;
            self.cov.effects += i.log.len() as u64;
            self.cov.lww += st.conflicts.lww.values().sum::<u64>();
            self.cov.add_wins += st.conflicts.add_wins.values().sum::<u64>();
            self.cov.type_conflicts += st.conflicts.type_conflicts;
            self.cov.delete_wins += st.conflicts.delete_wins.values().sum::<u64>();
            self.cov.ttl_conflicts += st.conflicts.ttl;
            self.cov.runs_folded += st.gc_collected;
        }
        let logs: Vec<&[Effect]> = self.insts.iter().map(|i| &i.log[..]).collect();
        check_oracle(&self.insts[0].db, &logs)?;
        let r0 = render(&self.insts[0].db);
        let d0 = self.insts[0].db.digest();
        for i in 0..n {
            let db = &self.insts[i].db;
            if render(db) != r0 {
                return Err(format!("instance {} reads\n{}\ninstance 1 reads\n{}", i + 1, render(db), r0));
            }
            if db.digest() != d0 {
                let mut keys: Vec<_> = db.entries.keys().chain(self.insts[0].db.entries.keys()).collect();
                keys.sort();
                keys.dedup();
                let diff: Vec<String> = keys
                    .iter()
                    .filter(|k| db.key_digest(k) != self.insts[0].db.key_digest(k))
                    .map(|k| {
                        format!(
                            "{}:\n  instance 1: {:?}\n  instance {}: {:?}",
                            String::from_utf8_lossy(k),
                            self.insts[0].db.entries.get(*k),
                            i + 1,
                            db.entries.get(*k)
                        )
                    })
                    .collect();
                return Err(format!("digest of instance {} differs:\n{}", i + 1, diff.join("\n")));
            }
            if !db.tombstones.is_empty() {
                return Err(format!("instance {} kept tombstones after everything arrived: {:?}", i + 1, db.tombstones));
            }
            if db.gc_pending() != 0 {
                return Err(format!("instance {}: gc_pending {} after a full gc round", i + 1, db.gc_pending()));
            }
            for e in db.entries.values() {
                for v in e.values() {
                    let mut cells = Vec::new();
                    collect_cells(v, &mut cells);
                    for c in cells {
                        if c.runs().windows(2).any(|w| w[0].origin == w[1].origin) {
                            return Err(format!("instance {}: runs left unfolded: {:?}", i + 1, c.runs()));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where an item lives, as removals address it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Slot {
    Str,
    Member(crate::value::Kind, Vec<u8>),
    Ttl,
    /// A list element, by the dot of its insert.
    Elem(crate::id::Dot),
    /// A stream entry, by the dot of its XADD.
    Entry(crate::id::Dot),
    /// A stream's record of one origin (each replaces the origin's earlier ones).
    Record(u16),
}

/// What the final state must be, computed from the effects alone: every
/// add survives unless some removal in its scope covers its dot.
/// Returns (versions, tags, ttl dots, increments per (key, slot, origin)).
type Items = std::collections::BTreeSet<(Vec<u8>, Slot, crate::id::Dot)>;
type Incrs = std::collections::BTreeMap<(Vec<u8>, Slot, u16), (crate::num::Sum, u64, u64)>;

fn oracle(logs: &[&[Effect]]) -> (Items, Incrs) {
    use crate::num::Delta;
    use crate::value::Kind;
    use std::collections::HashMap;
    // Removals by key: (scope, ctx); scope None = key values, Some(slot).
    #[derive(Clone)]
    enum Rm {
        Key { ttl: bool },
        Slot(Slot),
    }
    let mut removals: HashMap<Vec<u8>, Vec<(Rm, crate::id::VersionVector)>> = HashMap::new();
    let mut adds: Vec<(Vec<u8>, Slot, crate::id::Dot, Option<Delta>)> = Vec::new();
    for log in logs {
        for e in log.iter() {
            let d = e.dot;
            let mut rm = |k: &[u8], r: Rm, ctx: &crate::id::VersionVector| {
                if !ctx.is_empty() {
                    removals.entry(k.to_vec()).or_default().push((r, ctx.clone()))
                }
            };
            let m = |kind: Kind, x: &[u8]| Slot::Member(kind, x.to_vec());
            match &e.op {
                Op::Del { key, ctx } | Op::HllDel { key, ctx } => rm(key, Rm::Key { ttl: true }, ctx),
                Op::Set { key, ctx, keep_ttl, .. } | Op::HllSet { key, ctx, keep_ttl, .. } => {
                    rm(key, Rm::Key { ttl: !keep_ttl }, ctx);
                    adds.push((key.to_vec(), Slot::Str, d, None));
                }
                Op::Incr { key, delta } => adds.push((key.to_vec(), Slot::Str, d, Some(*delta))),
                Op::HSet { key, field, ctx, .. } => {
                    rm(key, Rm::Slot(m(Kind::Hash, field)), ctx);
                    adds.push((key.to_vec(), m(Kind::Hash, field), d, None));
                }
                Op::HIncr { key, field, delta } => adds.push((key.to_vec(), m(Kind::Hash, field), d, Some(*delta))),
                Op::HDel { key, field, ctx } => rm(key, Rm::Slot(m(Kind::Hash, field)), ctx),
                Op::SAdd { key, member, ctx } => {
                    rm(key, Rm::Slot(m(Kind::Set, member)), ctx);
                    adds.push((key.to_vec(), m(Kind::Set, member), d, None));
                }
                Op::SRem { key, member, ctx } => rm(key, Rm::Slot(m(Kind::Set, member)), ctx),
                Op::ZAdd { key, member, ctx, .. } => {
                    rm(key, Rm::Slot(m(Kind::ZSet, member)), ctx);
                    adds.push((key.to_vec(), m(Kind::ZSet, member), d, None));
                }
                Op::ZIncr { key, member, delta } => adds.push((key.to_vec(), m(Kind::ZSet, member), d, Some(Delta::Float(*delta)))),
                Op::ZRem { key, member, ctx } => rm(key, Rm::Slot(m(Kind::ZSet, member)), ctx),
                Op::Expire { key, ctx, .. } => {
                    rm(key, Rm::Slot(Slot::Ttl), ctx);
                    adds.push((key.to_vec(), Slot::Ttl, d, None));
                }
                // HyperLogLogs are DEL-wins, checked by crate::hll's own test;
                // lists by crate::list's.
                Op::Observed { .. } | Op::HllAdd { .. } | Op::Publish { .. } => {}
                // A list element's versions: its insert and its LSETs.
                Op::ListInsert { key, .. } => adds.push((key.to_vec(), Slot::Elem(d), d, None)),
                Op::ListSet { key, elem, ctx, .. } => {
                    rm(key, Rm::Slot(Slot::Elem(*elem)), ctx);
                    adds.push((key.to_vec(), Slot::Elem(*elem), d, None));
                }
                Op::ListRemove { key, elems, ctx } => {
                    for e in elems {
                        rm(key, Rm::Slot(Slot::Elem(*e)), ctx);
                    }
                }
                // Stream entries and records; consumer groups are
                // delete-wins, checked by the scenario tests and the digests.
                Op::StreamDel { key, ctx } => rm(key, Rm::Key { ttl: true }, ctx),
                Op::StreamAdd { key, .. } | Op::StreamSetId { key, .. } => {
                    if matches!(e.op, Op::StreamAdd { .. }) {
                        adds.push((key.to_vec(), Slot::Entry(d), d, None));
                    }
                    let mut earlier = crate::id::VersionVector::new();
                    earlier.raise(d.origin, d.seq - 1);
                    rm(key, Rm::Slot(Slot::Record(d.origin.0)), &earlier);
                    adds.push((key.to_vec(), Slot::Record(d.origin.0), d, None));
                }
                Op::StreamRemove { key, entries } => {
                    for (_, x) in entries {
                        let mut one = crate::id::VersionVector::new();
                        one.observe(*x);
                        rm(key, Rm::Slot(Slot::Entry(*x)), &one);
                    }
                }
                Op::GroupCreate { .. } | Op::GroupDestroy { .. } | Op::StreamAck { .. } => {}
            }
        }
    }
    let mut items = Items::new();
    let mut incrs = Incrs::new();
    let none = Vec::new();
    for (key, slot, dot, delta) in adds {
        let removed = removals.get(&key).unwrap_or(&none).iter().any(|(r, ctx)| {
            let in_scope = match r {
                Rm::Key { ttl } => *ttl || slot != Slot::Ttl,
                Rm::Slot(s) => *s == slot,
            };
            in_scope && ctx.covers(dot)
        });
        if removed {
            continue;
        }
        match delta {
            None => {
                items.insert((key, slot, dot));
            }
            Some(d) => {
                let e = incrs.entry((key, slot, dot.origin.0)).or_insert((crate::num::Sum::default(), u64::MAX, 0));
                e.0.add(d);
                e.1 = e.1.min(dot.seq);
                e.2 = e.2.max(dot.seq);
            }
        }
    }
    (items, incrs)
}

/// The same view of an instance's state.
fn state_items(db: &Db) -> (Items, Incrs) {
    use crate::value::{Kind, Value};
    let mut items = Items::new();
    let mut incrs = Incrs::new();
    let mut cell = |key: &[u8], slot: Slot, c: &crate::cell::Cell, items: &mut Items| {
        for v in c.versions() {
            items.insert((key.to_vec(), slot.clone(), v.dot()));
        }
        for r in c.runs() {
            let e = incrs.entry((key.to_vec(), slot.clone(), r.origin.0)).or_insert((crate::num::Sum::default(), u64::MAX, 0));
            e.0.add_sum(&r.sum);
            e.1 = e.1.min(r.first);
            e.2 = e.2.max(r.last);
        }
    };
    for (k, e) in &db.entries {
        for t in e.ttl() {
            items.insert((k.to_vec(), Slot::Ttl, t.dot));
        }
        for v in e.values() {
            match v {
                Value::Str(c) => cell(k, Slot::Str, c, &mut items),
                Value::Hash(h) => {
                    for (f, c) in h.iter() {
                        cell(k, Slot::Member(Kind::Hash, f.to_vec()), &c.as_cell(), &mut items)
                    }
                }
                Value::ZSet(z) => {
                    for (m, (c, _)) in &z.members {
                        cell(k, Slot::Member(Kind::ZSet, m.to_vec()), c, &mut items)
                    }
                }
                Value::Set(s) => {
                    for (m, tags) in &s.members {
                        for t in tags {
                            items.insert((k.to_vec(), Slot::Member(Kind::Set, m.to_vec()), t.dot()));
                        }
                    }
                }
                Value::List(l) => {
                    for e in l.placed_elems().chain(l.orphan_elems()) {
                        for v in e.cell().versions() {
                            items.insert((k.to_vec(), Slot::Elem(e.id()), v.dot()));
                        }
                    }
                }
                Value::Hll(_) => {}
                Value::Stream(s) => {
                    for (_, d) in s.entries.keys() {
                        items.insert((k.to_vec(), Slot::Entry(*d), *d));
                    }
                    for r in &s.records {
                        items.insert((k.to_vec(), Slot::Record(r.dot.origin.0), r.dot));
                    }
                }
            }
        }
    }
    (items, incrs)
}

fn same_sum(a: &crate::num::Sum, b: &crate::num::Sum) -> bool {
    let (x, y) = (a.to_f64(), b.to_f64());
    a.int == b.int && a.is_float == b.is_float && (x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// Compares an instance's final state with the oracle.
fn check_oracle(db: &Db, logs: &[&[Effect]]) -> Result<(), String> {
    let (want_items, want_incrs) = oracle(logs);
    let (items, incrs) = state_items(db);
    if items != want_items {
        let extra: Vec<_> = items.difference(&want_items).collect();
        let missing: Vec<_> = want_items.difference(&items).collect();
        return Err(format!("instance {}: items kept that a removal covers: {extra:?}\nitems lost: {missing:?}", db.me));
    }
    let keys: std::collections::BTreeSet<_> = incrs.keys().chain(want_incrs.keys()).collect();
    for k in keys {
        let ok = match (incrs.get(k), want_incrs.get(k)) {
            (Some(a), Some(b)) => same_sum(&a.0, &b.0) && a.2 == b.2 && a.1 <= b.1,
            _ => false,
        };
        if !ok {
            return Err(format!("instance {}: increments of {k:?}: state {:?}, effects say {:?}", db.me, incrs.get(k), want_incrs.get(k)));
        }
    }
    Ok(())
}

pub fn collect_cells<'a>(v: &'a crate::value::Value, out: &mut Vec<std::borrow::Cow<'a, crate::cell::Cell>>) {
    use crate::value::Value;
    use std::borrow::Cow;
    match v {
        Value::Str(c) => out.push(Cow::Borrowed(c)),
        Value::Hash(h) => out.extend(h.values().map(|c| Cow::Owned(c.as_cell().into_owned()))),
        Value::ZSet(z) => out.extend(z.members.values().map(|m| Cow::Borrowed(&m.0))),
        Value::Set(_) | Value::Hll(_) | Value::List(_) | Value::Stream(_) => {}
    }
}

fn pick<T: Clone>(rng: &mut SmallRng, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())].clone()
}

fn float(rng: &mut SmallRng) -> f64 {
    if rng.gen_range(0..6) == 0 {
        pick(rng, &EXTREME)
    } else {
        pick(rng, &FLOATS)
    }
}

/// A schedule's mix of commands and actions: each seed picks one, so rare
/// interleavings (folded runs meeting in a merge, removes racing adds) are
/// frequent in some schedules.
#[derive(Clone, Copy, Debug)]
pub enum Profile {
    Balanced,
    /// Announces and gc often: counters fold while effects are in flight.
    GcHeavy,
    /// Full syncs (current and old snapshots) between every few steps.
    MergeHeavy,
    /// Counters, register writes and deletes on one key and field.
    Counters,
    /// Adds and removes of few members: observed-remove races.
    Sets,
    /// Stream appends (tagged and custom ids), XDEL, XTRIM, XSETID, group
    /// creates and destroys, DEL: observed-remove and delete-wins races.
    Streams,
}

pub fn random_cmd(rng: &mut SmallRng, now: u64, profile: Profile) -> Cmd {
    match profile {
        Profile::Counters => {
            let k = pick(rng, &KEYS[..2]).to_string();
            let m = "a".to_string();
            return match rng.gen_range(0..12) {
                0..=2 => Cmd::Incr(k, pick(rng, &INTS)),
                3 => Cmd::IncrF(k, float(rng)),
                4..=5 => Cmd::HIncr(k, m, pick(rng, &INTS)),
                6 => Cmd::ZIncr(k, m, float(rng)),
                7 => Cmd::Set(k, pick(rng, &STRINGS).into()),
                8 => Cmd::HSet(k, m, pick(rng, &STRINGS).into()),
                9 => Cmd::ZAdd(k, m, float(rng)),
                10 => Cmd::Del(k),
                _ => [Cmd::HDel(k.clone(), m.clone()), Cmd::ZRem(k, m)][rng.gen_range(0..2)].clone(),
            };
        }
        Profile::Sets => {
            let k = pick(rng, &KEYS[..2]).to_string();
            let m = pick(rng, &MEMBERS[..2]).to_string();
            return match rng.gen_range(0..10) {
                0..=3 => Cmd::SAdd(k, m),
                4..=6 => Cmd::SRem(k, m),
                7 => Cmd::Del(k),
                8 => Cmd::HSet(k, m, "v".into()),
                _ => Cmd::HDel(k, m),
            };
        }
        Profile::Streams => {
            let k = pick(rng, &KEYS[..2]).to_string();
            let g = pick(rng, &MEMBERS[..2]).to_string();
            return match rng.gen_range(0..16) {
                0..=4 => Cmd::XAdd(k, now, pick(rng, &STRINGS).into()),
                5 => Cmd::XAddFull(k, now / 1000, rng.gen_range(0..3), pick(rng, &STRINGS).into()),
                6..=7 => Cmd::XDel(k, rng.gen_range(0..8)),
                8 => Cmd::XTrim(k, rng.gen_range(0..3)),
                9 => Cmd::XSetId(k, now + rng.gen_range(0..100)),
                10..=11 => Cmd::XGroupCreate(k, g, rng.gen_range(0..2) == 0),
                12..=13 => Cmd::XGroupDestroy(k, g),
                14 => Cmd::Del(k),
                _ => Cmd::SAdd(k, g),
            };
        }
        _ => {}
    }
    let k = pick(rng, &KEYS).to_string();
    let m = pick(rng, &MEMBERS).to_string();
    match rng.gen_range(0..42) {
        0..=2 => Cmd::Set(k, pick(rng, &STRINGS).into()),
        3 => Cmd::SetKeepTtl(k, pick(rng, &STRINGS).into()),
        4..=5 => Cmd::Incr(k, pick(rng, &INTS)),
        6 => Cmd::IncrF(k, float(rng)),
        7..=8 => Cmd::Del(k),
        9..=10 => Cmd::HSet(k, m, pick(rng, &STRINGS).into()),
        11 => Cmd::HIncr(k, m, pick(rng, &INTS)),
        12 => Cmd::HIncrF(k, m, float(rng)),
        13..=14 => Cmd::HDel(k, m),
        15..=17 => Cmd::SAdd(k, m),
        18..=19 => Cmd::SRem(k, m),
        20..=21 => Cmd::ZAdd(k, m, float(rng)),
        22..=23 => Cmd::ZIncr(k, m, float(rng)),
        24..=25 => Cmd::ZRem(k, m),
        26..=28 => Cmd::ExpireAt(k, now + rng.gen_range(0..20_000)),
        29..=30 => Cmd::PfAdd(k, rng.gen_range(0..3), rng.gen_range(1..5)),
        31 => Cmd::Persist(k),
        32..=34 => {
            let at = if rng.gen_range(0..3) == 0 { None } else { Some(rng.gen_range(0..8)) };
            Cmd::LInsert(k, at, pick(rng, &STRINGS).into())
        }
        35 => Cmd::LSet(k, rng.gen_range(0..8), pick(rng, &STRINGS).into()),
        36..=37 => Cmd::LRem(k, rng.gen_range(0..8)),
        38 => Cmd::XAdd(k, now, pick(rng, &STRINGS).into()),
        39 => Cmd::XDel(k, rng.gen_range(0..8)),
        40 => Cmd::XGroupCreate(k, m, true),
        _ => Cmd::XGroupDestroy(k, m),
    }
}

pub fn random_action(rng: &mut SmallRng, n: usize, now: u64, profile: Profile) -> Action {
    let i = rng.gen_range(0..n);
    let j = (i + rng.gen_range(1..n)) % n;
    // Weights: op, deliver, dup, merge, stale merge, snapshot, announce, gc,
    // expire cycle, tick, skew.
    let w: [u32; 11] = match profile {
        Profile::Balanced | Profile::Counters | Profile::Sets | Profile::Streams => [40, 25, 4, 3, 2, 3, 5, 5, 2, 9, 2],
        Profile::GcHeavy => [35, 25, 3, 3, 2, 2, 14, 12, 1, 3, 0],
        Profile::MergeHeavy => [35, 15, 3, 12, 8, 6, 6, 6, 2, 6, 1],
    };
    let mut x = rng.gen_range(0..w.iter().sum::<u32>());
    let mut which = 0;
    while x >= w[which] {
        x -= w[which];
        which += 1;
    }
    match which {
        0 => Action::Op { at: i, cmd: random_cmd(rng, now, profile), strict: rng.gen_range(0..4) != 0 },
        1 => Action::Deliver { to: i, from: j, n: rng.gen_range(1..6) },
        2 => Action::Dup { to: i, from: j, back: rng.gen_range(0..8) },
        3 => Action::Merge { into: i, from: j, stale: None },
        4 => Action::Merge { into: i, from: rng.gen_range(0..n), stale: Some(rng.gen_range(0..4)) },
        5 => Action::Snapshot { at: i },
        6 => Action::Announce { at: i },
        7 => Action::Gc { at: i },
        8 => Action::ExpireCycle { at: i },
        9 => Action::Tick { ms: pick(rng, &[0, 1, 1, 3, 50, 700, 4000]) },
        _ => Action::Skew { at: i, ms: rng.gen_range(-5000..5000) },
    }
}

/// Runs the schedule of one seed. `trace` prints every step.
pub fn run_seed(seed: u64, trace: bool) -> Result<(usize, Coverage), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let n = rng.gen_range(2..=5);
    let skews: Vec<i64> = (0..n).map(|_| rng.gen_range(-5000..5000)).collect();
    let mut w = World::new(n, &skews);
    w.trace = trace;
    let profile = pick(&mut rng, &[Profile::Balanced, Profile::Balanced, Profile::GcHeavy, Profile::MergeHeavy, Profile::Counters, Profile::Sets, Profile::Streams]);
    if trace {
        eprintln!("sim: {n} instances, skews {skews:?}, {profile:?}");
    }
    let len = rng.gen_range(20..200);
    for _ in 0..len {
        let a = random_action(&mut rng, n, w.now, profile);
        w.step(&a)?;
    }
    w.finish(&mut rng)?;
    w.count_encodings();
    Ok((w.steps, w.cov))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn sim_schedules() {
    if let Some(seed) = env_u64("SIM_SEED") {
        match run_seed(seed, true) {
            Ok((steps, cov)) => eprintln!("sim: seed {seed} passed ({steps} steps) {cov:?}"),
            Err(e) => panic!("sim: seed {seed} failed: {e}"),
        }
        return;
    }
    let count = env_u64("SIM_SCHEDULES").unwrap_or(if cfg!(debug_assertions) { 2_000 } else { 30_000 });
    let base = env_u64("SIM_BASE").unwrap_or(0);
    let start = std::time::Instant::now();
    let mut steps = 0;
    let mut cov = Coverage::default();
    for seed in base..base + count {
        let r = std::panic::catch_unwind(|| run_seed(seed, false));
        match r {
            Ok(Ok((s, c))) => {
                steps += s;
                cov.add(&c);
            }
            Ok(Err(e)) => panic!("sim: seed {seed} failed: {e}\nreplay: SIM_SEED={seed} cargo test -p crdt sim"),
            Err(_) => panic!("sim: seed {seed} panicked\nreplay: SIM_SEED={seed} cargo test -p crdt sim"),
        }
    }
    eprintln!("sim: {count} schedules, {steps} steps, {:.1?}\nsim: {cov:?}", start.elapsed());
}

/// HSET's and SADD's one-pass applies (`Db::set_field`, `Db::add_member`)
/// leave exactly the database the removal then the write left, in every
/// state the schedules reach: type conflicts, TTLs, pending tombstones,
/// blocked adds, counters, and hash limits that convert (see
/// `crate::db::CHECK_IN_STEPS`, which compares after every such apply).
#[test]
fn one_pass_member_writes_match_the_two_steps() {
    use crate::db::{CHECKED_IN_STEPS, CHECK_IN_STEPS};
    let count = env_u64("SIM_SCHEDULES_STEPS").unwrap_or(if cfg!(debug_assertions) { 300 } else { 3_000 });
    CHECK_IN_STEPS.with(|c| c.set(true));
    for seed in 0..count {
        let r = std::panic::catch_unwind(|| run_seed(seed, false));
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("sim: seed {seed} failed: {e}"),
            Err(_) => panic!("sim: seed {seed}: the one-pass apply differs from the steps\nreplay: SIM_SEED={seed}"),
        }
    }
    CHECK_IN_STEPS.with(|c| c.set(false));
    let checked = CHECKED_IN_STEPS.with(|c| c.get());
    eprintln!("one-pass checks: {checked}");
    assert!(checked > count * 5, "only {checked} HSET/SADD applies checked");
}

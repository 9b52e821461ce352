//! Full-sync state merge: a join of two instances' keyspaces.
//!
//! An item (register version, counter run, set tag, TTL version) present on
//! one side only is kept when the other side never observed its dot, and
//! dropped when the other side observed it (and so removed it). Pending
//! tombstones of both sides then apply to the result. The join is
//! commutative, associative and idempotent (see the property tests).

use std::collections::HashMap;

use crate::cell::{Blob, Cell};
use crate::db::{Db, Entry, Scope, TtlVersion};
use crate::id::VersionVector;
use crate::fields::Limits;
use crate::value::{Kind, Tags, Value, ZSet};

impl Db {
    /// Merges another instance's state (a full-sync snapshot) into this one.
    pub fn merge(&mut self, other: &Db) {
        self.stats.merge_reqs += 1;
        if let Some(c) = self.capture.as_deref_mut() {
            // A merge may change (or move) any key of either side.
            c.dirty.extend(self.entries.keys().chain(other.entries.keys()).map(|k| Blob::from(&k[..])));
        }
        let mine = self.vv.clone();
        let theirs = other.vv.clone();
        let limits = self.hash_limits;
        let empty = Entry::default();
        let nodels = VersionVector::new();
        let mut dead = Vec::new();
        for (key, entry) in self.entries.iter_mut() {
            let dels = (self.hll.dels.get(&key[..]).unwrap_or(&nodels), other.hll.dels.get(&key[..]).unwrap_or(&nodels));
            merge_entry(entry, other.entries.get(&key[..]).unwrap_or(&empty), &mine, &theirs, dels, &limits);
            if entry.is_dead() {
                dead.push(key.clone());
            }
        }
        for key in dead {
            self.entries.swap_remove(&key[..]);
        }
        for (key, theirs_entry) in &other.entries {
            if self.entries.contains_key(&key[..]) {
                continue;
            }
            let mut entry = Entry::default();
            let dels = (self.hll.dels.get(&key[..]).unwrap_or(&nodels), other.hll.dels.get(&key[..]).unwrap_or(&nodels));
            merge_entry(&mut entry, theirs_entry, &mine, &theirs, dels, &limits);
            if !entry.is_dead() {
                self.entries.insert(key.clone(), entry);
            }
        }
        self.vv.join(&theirs);
        // The other side may hold effects of ours we lost (a restart from an
        // older snapshot): never reuse their dots.
        self.seq = self.seq.max(self.vv.get(self.me));
        self.clock.observe(other.clock.last());
        for (id, vv) in &other.observed {
            if let Some(known) = self.observed.get_mut(id) {
                known.join(vv);
            }
        }
        if let Some(me) = self.observed.get_mut(&self.me) {
            me.join(&theirs);
        }
        // Pending removals of both sides apply to the merged state.
        let mut all: HashMap<Blob, Vec<crate::db::Tombstone>> = self.tombstones.clone();
        for (key, list) in &other.tombstones {
            let mine_list = all.entry(key.clone()).or_default();
            for t in list {
                if let Some(m) = mine_list.iter_mut().find(|m| m.scope == t.scope) {
                    m.ctx.join(&t.ctx);
                } else {
                    mine_list.push(t.clone());
                }
            }
        }
        for (key, list) in &all {
            if let Some(entry) = self.entries.get_mut(&key[..]) {
                for t in list {
                    apply_tombstone(entry, t);
                }
                entry.normalize_pub();
                if entry.is_dead() {
                    self.entries.swap_remove(&key[..]);
                }
            }
        }
        let vv = &self.vv;
        all.retain(|_, list| {
            list.retain(|t| !t.ctx.le(vv));
            !list.is_empty()
        });
        self.tombstones = all;
        for key in other.unfolded.iter() {
            self.unfolded.insert(key.clone());
        }
        for (key, e) in &self.entries {
            if e.values().any(has_runs) {
                self.unfolded.insert(key[..].into());
            }
        }
        // Lists log the tombstones the merge made (or re-logs) for collection.
        let solo = self.solo();
        let vv = &self.vv;
        let mut lists = Vec::new();
        for (key, e) in self.entries.iter_mut() {
            if crate::db::seal_lists(e, vv, solo) {
                lists.push(Blob::from(&key[..]));
            }
        }
        self.unfolded.extend(lists);
        self.hll_merged(other);
    }
}

fn has_runs(v: &Value) -> bool {
    match v {
        Value::Str(c) => c.has_unfolded(),
        Value::Hash(h) => h.has_unfolded(),
        Value::ZSet(z) => z.members.values().any(|(c, _)| c.has_unfolded()),
        // Early removals and delete markers wait for collection too.
        Value::Stream(s) => s.has_garbage(),
        Value::Set(_) | Value::Hll(_) | Value::List(_) => false,
    }
}

fn apply_tombstone(entry: &mut Entry, t: &crate::db::Tombstone) {
    match &t.scope {
        Scope::Key | Scope::Values => {
            for v in entry.values_mut() {
                v.remove(&t.ctx);
            }
            if t.scope == Scope::Key {
                entry.retain_ttl(|x| !t.ctx.covers(x.dot));
            }
        }
        Scope::Ttl => {
            entry.retain_ttl(|x| !t.ctx.covers(x.dot));
        }
        Scope::Member(kind, m) => {
            for v in entry.values_mut() {
                if v.kind() != *kind {
                    continue;
                }
                match v {
                    Value::Hash(h) => {
                        h.remove_field(m, &t.ctx, false);
                    }
                    Value::Set(s) => {
                        if let Some(tags) = s.members.get_mut(m) {
                            tags.retain(|x| !t.ctx.covers(x.dot()));
                            if tags.is_empty() {
                                s.members.remove(m);
                            }
                        }
                    }
                    Value::ZSet(z) => {
                        if let Some((c, _)) = z.members.get_mut(m) {
                            c.remove(&t.ctx);
                        }
                        z.refresh(m);
                    }
                    Value::Str(_) | Value::Hll(_) | Value::List(_) | Value::Stream(_) => {}
                }
            }
        }
    }
}

/// `dels`: the key's HyperLogLog removal records, mine and theirs.
fn merge_entry(
    entry: &mut Entry,
    other: &Entry,
    mine: &VersionVector,
    theirs: &VersionVector,
    dels: (&VersionVector, &VersionVector),
    limits: &Limits,
) {
    let kinds: Vec<Kind> = {
        let mut k: Vec<Kind> =
            entry.values().chain(other.values()).map(|v| v.kind()).collect();
        k.sort();
        k.dedup();
        k
    };
    let mut mine_values: Vec<Value> = entry.value.take().into_iter().chain(entry.take_hidden()).collect();
    let mut merged = Vec::new();
    for kind in kinds {
        let mut a = match mine_values.iter().position(|v| v.kind() == kind) {
            Some(i) => mine_values.swap_remove(i),
            None => Value::empty(kind),
        };
        let empty = Value::empty(kind);
        let b = other.values().find(|v| v.kind() == kind).unwrap_or(&empty);
        merge_value(&mut a, b, mine, theirs, dels, limits);
        merged.push(a);
    }
    let mut it = merged.into_iter();
    entry.value = it.next();
    entry.set_hidden(it);
    // TTL versions.
    entry.retain_ttl(|t| other.ttl().iter().any(|o| o.dot == t.dot) || !theirs.covers(t.dot));
    for o in other.ttl() {
        if !mine.covers(o.dot) && !entry.ttl().iter().any(|t| t.dot == o.dot) {
            entry.add_ttl(TtlVersion { dot: o.dot, at_ms: o.at_ms });
        }
    }
    entry.normalize_pub();
}

fn merge_cells(a: &mut crate::FastMap<Blob, Cell>, b: &crate::FastMap<Blob, Cell>, mine: &VersionVector, theirs: &VersionVector) {
    let empty = Cell::default();
    for (f, cell) in a.iter_mut() {
        cell.merge(b.get(f).unwrap_or(&empty), mine, theirs);
    }
    a.retain(|_, c| !c.is_empty());
    for (f, cell) in b {
        if !a.contains_key(f) {
            let mut c = Cell::default();
            c.merge(cell, mine, theirs);
            if !c.is_empty() {
                a.insert(f.clone(), c);
            }
        }
    }
}

fn merge_tags(a: &mut Tags, b: &Tags, mine: &VersionVector, theirs: &VersionVector) {
    a.retain(|t| b.contains(t) || !theirs.covers(t.dot()));
    for t in b {
        if !mine.covers(t.dot()) && !a.contains(t) {
            a.push(*t);
        }
    }
    a.sort();
}

fn merge_value(
    a: &mut Value,
    b: &Value,
    mine: &VersionVector,
    theirs: &VersionVector,
    dels: (&VersionVector, &VersionVector),
    limits: &Limits,
) {
    match (a, b) {
        (Value::Hll(x), Value::Hll(y)) => x.merge(y, mine, theirs, dels.0, dels.1),
        (Value::Str(x), Value::Str(y)) => x.merge(y, mine, theirs),
        (Value::List(x), Value::List(y)) => x.merge(y, mine, theirs),
        (Value::Stream(x), Value::Stream(y)) => x.merge(y, mine, theirs),
        (Value::Hash(x), Value::Hash(y)) => x.merge(y, mine, theirs, limits),
        (Value::Set(x), Value::Set(y)) => {
            let (x, y) = (&mut x.members, &y.members);
            let empty = Tags::new();
            for (m, tags) in x.iter_mut() {
                merge_tags(tags, y.get(m).unwrap_or(&empty), mine, theirs);
            }
            x.retain(|_, t| !t.is_empty());
            for (m, tags) in y {
                if !x.contains_key(m) {
                    let mut t = Tags::new();
                    merge_tags(&mut t, tags, mine, theirs);
                    if !t.is_empty() {
                        x.insert(m.clone(), t);
                    }
                }
            }
        }
        (Value::ZSet(x), Value::ZSet(y)) => {
            let mut cells: crate::FastMap<Blob, Cell> = x.members.drain().map(|(m, (c, _))| (m, c)).collect();
            let theirs_cells: crate::FastMap<Blob, Cell> = y.members.iter().map(|(m, (c, _))| (m.clone(), c.clone())).collect();
            merge_cells(&mut cells, &theirs_cells, mine, theirs);
            let mut z = ZSet::default();
            for (m, c) in cells {
                z.members.insert(m.clone(), (c, f64::NAN));
                z.refresh(&m);
            }
            **x = z;
        }
        _ => unreachable!("merge_value is called with values of one kind"),
    }
}

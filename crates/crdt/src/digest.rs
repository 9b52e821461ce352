//! A digest of the logical state: equal digests iff equal visible data and
//! metadata (register versions, counter totals per origin, set tags, TTLs,
//! hidden type-conflict losers). Counter runs are folded at different times
//! at different instances, so runs enter the digest as per-origin totals.

use crate::cell::Cell;
use crate::db::Db;
use crate::value::Value;

/// FNV-1a, 64 bits: small, deterministic across processes and builds.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf29ce484222325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    pub fn u64(&mut self, v: u64) {
        for x in v.to_le_bytes() {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

fn cell(h: &mut Fnv, c: &Cell) {
    h.u64(c.versions().len() as u64);
    for v in c.versions() {
        h.u64(v.dot().origin.0 as u64);
        h.u64(v.dot().seq);
        h.u64(v.hlc.0);
        h.bytes(&v.value);
    }
    let mut totals: std::collections::BTreeMap<u16, (u64, crate::num::Sum)> = Default::default();
    for r in c.runs() {
        let t = totals.entry(r.origin.0).or_default();
        t.0 = t.0.max(r.last);
        t.1.add_sum(&r.sum);
    }
    h.u64(totals.len() as u64);
    for (origin, (last, sum)) in totals {
        h.u64(origin as u64);
        h.u64(last);
        h.u64(sum.int as u64);
        h.u64((sum.int >> 64) as u64);
        h.u64(sum.to_f64().to_bits());
    }
}

fn value(h: &mut Fnv, v: &Value) {
    h.u64(v.kind().code() as u64);
    match v {
        Value::Str(c) => cell(h, c),
        Value::Hash(m) => {
            // Whatever the encoding: fields in order, each cell as a cell.
            let mut fields: Vec<_> = m.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            h.u64(fields.len() as u64);
            for (f, c) in fields {
                h.bytes(f);
                cell(h, &c.as_cell());
            }
        }
        Value::Set(s) => {
            let mut members: Vec<_> = s.members.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            h.u64(members.len() as u64);
            for (m, tags) in members {
                h.bytes(m);
                for t in tags {
                    h.u64(t.dot().origin.0 as u64);
                    h.u64(t.dot().seq);
                    h.u64(t.hlc.0);
                }
            }
        }
        Value::ZSet(z) => {
            let mut members: Vec<_> = z.members.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            h.u64(members.len() as u64);
            for (m, (c, score)) in members {
                h.bytes(m);
                h.u64(score.to_bits());
                cell(h, c);
            }
        }
        Value::Hll(x) => {
            // What is alive, not how it is split into settled and pending.
            let regs = x.registers();
            for (i, &r) in regs.iter().enumerate() {
                if r != 0 {
                    h.u64(i as u64);
                    h.u64(r as u64);
                }
            }
            let mut dots = crate::id::VersionVector::new();
            x.ctx(&mut dots);
            for (id, seq) in dots.iter() {
                h.u64(id.0 as u64);
                h.u64(seq);
            }
            let rank = x.rank();
            h.u64(rank.hlc.0);
            h.u64(rank.origin.0 as u64);
        }
        Value::Stream(s) => {
            // Entries, records and group creates; not the local group state,
            // nor removals and markers waiting for collection.
            h.u64(s.entries.len() as u64);
            for ((id, dot), fields) in &s.entries {
                h.u64(id.ms);
                h.u64(id.seq);
                h.u64(dot.origin.0 as u64);
                h.u64(dot.seq);
                h.u64(fields.len() as u64);
                for f in fields.iter() {
                    h.bytes(f);
                }
            }
            h.u64(s.records.len() as u64);
            for r in &s.records {
                h.u64(r.dot.origin.0 as u64);
                h.u64(r.dot.seq);
                h.u64(r.hlc.0);
                h.u64(r.last.ms);
                h.u64(r.last.seq);
                h.u64(r.added);
            }
            h.u64(s.groups.len() as u64);
            for (name, g) in &s.groups {
                h.bytes(name);
                h.u64(g.creates.len() as u64);
                for c in &g.creates {
                    h.u64(c.dot.origin.0 as u64);
                    h.u64(c.dot.seq);
                    h.u64(c.start.ms);
                    h.u64(c.start.seq);
                    h.u64(c.entries_read.map_or(u64::MAX, |n| n));
                }
            }
        }
        Value::List(l) => {
            // The live elements in order. Tombstones are left out: instances
            // collect them at different times.
            h.u64(l.len() as u64);
            for e in l.iter() {
                h.u64(e.id().origin.0 as u64);
                h.u64(e.id().seq);
                h.u64(e.hlc().0);
                cell(h, &e.cell());
            }
        }
    }
}

/// False for an entry that only holds an invisible list (tombstones kept
/// for collection): it digests as an absent key.
fn digested(e: &crate::db::Entry) -> bool {
    e.value.is_some() || !e.ttl().is_empty() || e.hidden().iter().any(|v| v.is_visible())
}

impl Db {
    /// Digest of one key's entry (0 when absent).
    pub fn key_digest(&self, key: &[u8]) -> u64 {
        let Some(e) = self.entries.get(&key[..]).filter(|e| digested(e)) else { return 0 };
        let mut h = Fnv::default();
        h.bytes(key);
        for v in e.value.iter() {
            value(&mut h, v);
        }
        let mut hidden: Vec<&Value> = e.hidden().iter().filter(|v| v.is_visible()).collect();
        hidden.sort_by_key(|v| v.kind());
        for v in hidden {
            value(&mut h, v);
        }
        for t in e.ttl() {
            h.u64(t.dot.origin.0 as u64);
            h.u64(t.dot.seq);
            h.u64(t.at_ms.map_or(u64::MAX, |x| x));
        }
        h.finish()
    }

    /// Digest of the whole keyspace.
    pub fn digest(&self) -> u64 {
        let mut keys: Vec<&[u8]> = self.entries.iter().filter(|(_, e)| digested(e)).map(|(k, _)| &k[..]).collect();
        keys.sort();
        let mut h = Fnv::default();
        h.u64(keys.len() as u64);
        for k in keys {
            h.u64(self.key_digest(k));
        }
        h.finish()
    }
}

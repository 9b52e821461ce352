//! Tests of the crdt crate: spec scenarios written as time/instance tables,
//! property tests (proptest), regression tests for bugs found, and the
//! deterministic simulator (`sim`).
//!
//! The helpers here play the part of an origin: [`to_op`] computes an
//! operation's context from the origin's current state, the way the engine
//! does, and [`origin_op`] commits it.

mod cell;
mod codec;
mod counters;
mod fields;
mod golden;
mod props;
mod regress;
mod scenarios;
mod streams;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cell::{Blob, Cell, Shown};
use crate::db::{Db, Entry};
use crate::effect::{Effect, Op};
use crate::id::{InstanceId, VersionVector};
use crate::num::Delta;
use crate::value::{Kind, Value};

/// A client command, as an origin sees it before resolving it to an [`Op`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cmd {
    Set(String, String),
    SetKeepTtl(String, String),
    Incr(String, i64),
    IncrF(String, f64),
    Del(String),
    HSet(String, String, String),
    HIncr(String, String, i64),
    HIncrF(String, String, f64),
    HDel(String, String),
    SAdd(String, String),
    SRem(String, String),
    ZAdd(String, String, f64),
    ZIncr(String, String, f64),
    ZRem(String, String),
    /// EXPIREAT in ms.
    ExpireAt(String, u64),
    Persist(String),
    /// PFADD of an element that raises register `.1` to `.2`.
    PfAdd(String, u16, u8),
    /// LINSERT after the live element at index `.1` (modulo the length;
    /// at the head when the list is empty or `.1` is None, like LPUSH).
    LInsert(String, Option<usize>, String),
    /// LSET of the live element at index `.1` (modulo the length).
    LSet(String, usize, String),
    /// LREM / a pop of the live element at index `.1` (modulo the length).
    LRem(String, usize),
    /// XADD with an ms-only id (or `*` at that wall time): the seq is
    /// tagged with the origin's instance id (strict mode).
    XAdd(String, u64, String),
    /// XADD with a full custom id (semi-strict, liberal): duplicates possible.
    XAddFull(String, u64, u64, String),
    /// XDEL of the id of the entry at index `.1` (modulo the length): every
    /// observed entry with that id.
    XDel(String, usize),
    /// XTRIM MAXLEN `.1`.
    XTrim(String, usize),
    /// XSETID to ms `.1` (seq tagged), refused below the last id.
    XSetId(String, u64),
    /// XGROUP CREATE `.1` at `$` (MKSTREAM when `.2`).
    XGroupCreate(String, String, bool),
    XGroupDestroy(String, String),
}

impl Cmd {
    pub fn key(&self) -> &str {
        match self {
            Cmd::Set(k, _)
            | Cmd::SetKeepTtl(k, _)
            | Cmd::Incr(k, _)
            | Cmd::IncrF(k, _)
            | Cmd::Del(k)
            | Cmd::HSet(k, _, _)
            | Cmd::HIncr(k, _, _)
            | Cmd::HIncrF(k, _, _)
            | Cmd::HDel(k, _)
            | Cmd::SAdd(k, _)
            | Cmd::SRem(k, _)
            | Cmd::ZAdd(k, _, _)
            | Cmd::ZIncr(k, _, _)
            | Cmd::ZRem(k, _)
            | Cmd::ExpireAt(k, _)
            | Cmd::Persist(k)
            | Cmd::PfAdd(k, _, _)
            | Cmd::LInsert(k, _, _)
            | Cmd::LSet(k, _, _)
            | Cmd::LRem(k, _)
            | Cmd::XAdd(k, _, _)
            | Cmd::XAddFull(k, _, _, _)
            | Cmd::XDel(k, _)
            | Cmd::XTrim(k, _)
            | Cmd::XSetId(k, _)
            | Cmd::XGroupCreate(k, _, _)
            | Cmd::XGroupDestroy(k, _) => k,
        }
    }

    /// The type the command needs the key to hold (None: any type).
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Cmd::Set(..) | Cmd::SetKeepTtl(..) | Cmd::Del(..) | Cmd::ExpireAt(..) | Cmd::Persist(..) => None,
            Cmd::Incr(..) | Cmd::IncrF(..) => Some(Kind::String),
            Cmd::HSet(..) | Cmd::HIncr(..) | Cmd::HIncrF(..) | Cmd::HDel(..) => Some(Kind::Hash),
            Cmd::SAdd(..) | Cmd::SRem(..) => Some(Kind::Set),
            Cmd::ZAdd(..) | Cmd::ZIncr(..) | Cmd::ZRem(..) => Some(Kind::ZSet),
            Cmd::PfAdd(..) => Some(Kind::Hll),
            Cmd::LInsert(..) | Cmd::LSet(..) | Cmd::LRem(..) => Some(Kind::List),
            Cmd::XAdd(..)
            | Cmd::XAddFull(..)
            | Cmd::XDel(..)
            | Cmd::XTrim(..)
            | Cmd::XSetId(..)
            | Cmd::XGroupCreate(..)
            | Cmd::XGroupDestroy(..) => Some(Kind::Stream),
        }
    }
}

pub fn b(s: &str) -> Blob {
    s.as_bytes().into()
}

/// The value of `kind` in an entry, visible or hidden.
pub fn typed(e: &Entry, kind: Kind) -> Option<&Value> {
    e.values().find(|v| v.kind() == kind)
}

/// The context of one member (hash field, set member, sorted-set member) of
/// the value of `kind` in `key`.
pub fn member_ctx(db: &Db, key: &str, kind: Kind, member: &str) -> VersionVector {
    let mut vv = VersionVector::new();
    let Some(e) = db.entries.get(key.as_bytes()) else { return vv };
    match typed(e, kind) {
        Some(Value::Hash(h)) => {
            if let Some(c) = h.get(member.as_bytes()) {
                c.ctx(&mut vv)
            }
        }
        Some(Value::Set(s)) => {
            if let Some(t) = s.members.get(member.as_bytes()) {
                crate::value::tags_ctx(t, &mut vv)
            }
        }
        Some(Value::ZSet(z)) => {
            if let Some((c, _)) = z.members.get(member.as_bytes()) {
                c.ctx(&mut vv)
            }
        }
        _ => {}
    }
    vv
}

/// The context of a key's TTL versions.
pub fn ttl_ctx(db: &Db, key: &str) -> VersionVector {
    let mut vv = VersionVector::new();
    if let Some(e) = db.entries.get(key.as_bytes()) {
        for t in e.ttl() {
            vv.observe(t.dot);
        }
    }
    vv
}

pub fn key_ctx(db: &Db, key: &str) -> VersionVector {
    db.entries.get(key.as_bytes()).map(Entry::ctx).unwrap_or_default()
}

/// Resolves a command into an operation the way an origin does: the context
/// is what the origin currently observes in the command's scope. With
/// `strict`, a command against a key whose visible type differs is refused
/// (WRONGTYPE), as is a removal that would remove nothing; without it every
/// command becomes an op (the CRDT must converge whatever the engine sends).
pub fn to_op(db: &Db, cmd: &Cmd, strict: bool) -> Option<Op> {
    let key = cmd.key();
    let visible = db.get(key.as_bytes()).and_then(|e| e.kind());
    if strict {
        if let (Some(want), Some(have)) = (cmd.kind(), visible) {
            if want != have {
                return None;
            }
        }
    }
    let k = b(key);
    let nonempty = |vv: VersionVector| if strict && vv.is_empty() { None } else { Some(vv) };
    Some(match cmd {
        Cmd::Set(_, v) => Op::Set { key: k, ctx: key_ctx(db, key), value: b(v), keep_ttl: false },
        Cmd::SetKeepTtl(_, v) => Op::Set { key: k, ctx: key_ctx(db, key), value: b(v), keep_ttl: true },
        Cmd::Incr(_, d) => Op::Incr { key: k, delta: Delta::Int(*d) },
        Cmd::IncrF(_, d) => Op::Incr { key: k, delta: Delta::Float(*d) },
        Cmd::Del(_) => Op::Del { key: k, ctx: nonempty(key_ctx(db, key))? },
        Cmd::HSet(_, f, v) => Op::HSet { key: k, field: b(f), ctx: member_ctx(db, key, Kind::Hash, f), value: b(v) },
        Cmd::HIncr(_, f, d) => Op::HIncr { key: k, field: b(f), delta: Delta::Int(*d) },
        Cmd::HIncrF(_, f, d) => Op::HIncr { key: k, field: b(f), delta: Delta::Float(*d) },
        Cmd::HDel(_, f) => Op::HDel { key: k, field: b(f), ctx: nonempty(member_ctx(db, key, Kind::Hash, f))? },
        Cmd::SAdd(_, m) => Op::SAdd { key: k, member: b(m), ctx: member_ctx(db, key, Kind::Set, m) },
        Cmd::SRem(_, m) => Op::SRem { key: k, member: b(m), ctx: nonempty(member_ctx(db, key, Kind::Set, m))? },
        Cmd::ZAdd(_, m, s) => Op::ZAdd { key: k, member: b(m), ctx: member_ctx(db, key, Kind::ZSet, m), score: *s },
        Cmd::ZIncr(_, m, d) => Op::ZIncr { key: k, member: b(m), delta: *d },
        Cmd::ZRem(_, m) => Op::ZRem { key: k, member: b(m), ctx: nonempty(member_ctx(db, key, Kind::ZSet, m))? },
        Cmd::ExpireAt(_, at) => {
            if strict && visible.is_none() {
                return None;
            }
            Op::Expire { key: k, ctx: ttl_ctx(db, key), at_ms: Some(*at) }
        }
        Cmd::Persist(_) => {
            if strict && visible.is_none() {
                return None;
            }
            Op::Expire { key: k, ctx: ttl_ctx(db, key), at_ms: None }
        }
        // `Db::commit` fills in the context of an HLL add.
        Cmd::PfAdd(_, i, v) => Op::HllAdd { key: k, regs: vec![(*i, *v)], ctx: VersionVector::new() },
        Cmd::LInsert(_, at, v) => {
            let anchor = match (list_elem(db, key, at.unwrap_or(0)), at) {
                (Some(e), Some(_)) => Some(e.id()),
                _ => None,
            };
            Op::ListInsert { key: k, anchor, value: b(v) }
        }
        Cmd::LSet(_, i, v) => {
            let e = list_elem(db, key, *i)?;
            let mut ctx = VersionVector::new();
            e.ctx(&mut ctx);
            Op::ListSet { key: k, elem: e.id(), ctx, value: b(v) }
        }
        Cmd::LRem(_, i) => {
            let e = list_elem(db, key, *i)?;
            let mut ctx = VersionVector::new();
            e.ctx(&mut ctx);
            Op::ListRemove { key: k, elems: vec![e.id()], ctx }
        }
        Cmd::XAdd(_, ms, v) => {
            let s = stream(db, key);
            let last = s.map(|s| s.last_id()).unwrap_or_default();
            let id = crate::stream::StreamId::tagged_after(last, (*ms).max(last.ms), db.me)?;
            Op::StreamAdd { key: k, id, fields: vec![b("f"), b(v)], added: stream_added(db, key) + 1 }
        }
        Cmd::XAddFull(_, ms, seq, v) => {
            let id = crate::stream::StreamId::new(*ms, *seq);
            let last = stream(db, key).map(|s| s.last_id()).unwrap_or_default();
            if strict && (id <= last || id.is_zero()) {
                return None;
            }
            Op::StreamAdd { key: k, id, fields: vec![b("f"), b(v)], added: stream_added(db, key) + 1 }
        }
        Cmd::XDel(_, i) => {
            let s = stream(db, key)?;
            let n = s.len();
            if n == 0 {
                return None;
            }
            let id = s.entries.keys().nth(i % n).expect("i % n < n").0;
            let entries = s.entries.range((id, crate::id::Dot { origin: InstanceId(0), seq: 0 })..).take_while(|k| k.0 .0 == id).map(|k| *k.0).collect();
            Op::StreamRemove { key: k, entries }
        }
        Cmd::XTrim(_, keep) => {
            let s = stream(db, key)?;
            let drop = s.len().saturating_sub(*keep);
            if strict && drop == 0 {
                return None;
            }
            Op::StreamRemove { key: k, entries: s.entries.keys().take(drop).copied().collect() }
        }
        Cmd::XSetId(_, ms) => {
            let s = stream(db, key)?;
            let last = s.last_id();
            let id = crate::stream::StreamId::tagged_after(last, (*ms).max(last.ms), db.me)?;
            Op::StreamSetId { key: k, last: id, added: stream_added(db, key) }
        }
        Cmd::XGroupCreate(_, g, mk) => {
            let s = stream(db, key);
            if strict && (s.is_none_or(|s| !s.is_visible()) && !mk || s.is_some_and(|s| s.groups.contains_key(g.as_bytes()))) {
                return None;
            }
            let start = s.map(|s| s.last_id()).unwrap_or_default();
            Op::GroupCreate { key: k, group: b(g), start, entries_read: None, ctx: db.vv.clone() }
        }
        Cmd::XGroupDestroy(_, g) => {
            if strict && !stream(db, key).is_some_and(|s| s.groups.contains_key(g.as_bytes())) {
                return None;
            }
            Op::GroupDestroy { key: k, group: b(g) }
        }
    })
}

/// The stream in `key`, visible or hidden.
pub fn stream<'a>(db: &'a Db, key: &str) -> Option<&'a crate::stream::Stream> {
    match typed(db.entries.get(key.as_bytes())?, Kind::Stream)? {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

/// The origin's own entries-added count in the stream in `key`.
pub fn stream_added(db: &Db, key: &str) -> u64 {
    stream(db, key).and_then(|s| s.record_of(db.me)).map_or(0, |r| r.added)
}

/// The live element at `i` (modulo the length) of the list in `key`,
/// visible or hidden.
pub fn list_elem<'a>(db: &'a Db, key: &str, i: usize) -> Option<&'a crate::list::Elem> {
    match typed(db.entries.get(key.as_bytes())?, Kind::List)? {
        // `len` counts live elements (`is_empty` also counts tombstones).
        Value::List(l) => match l.len() {
            0 => None,
            n => l.get(i % n),
        },
        _ => None,
    }
}

impl Cmd {
    /// True for commands that add to a key (they create it when absent).
    pub fn adds(&self) -> bool {
        !matches!(
            self,
            Cmd::Del(..)
                | Cmd::HDel(..)
                | Cmd::SRem(..)
                | Cmd::ZRem(..)
                | Cmd::ExpireAt(..)
                | Cmd::Persist(..)
                | Cmd::LSet(..)
                | Cmd::LRem(..)
                | Cmd::XDel(..)
                | Cmd::XTrim(..)
                | Cmd::XSetId(..)
                | Cmd::XGroupDestroy(..)
        )
    }
}

/// Resolves `cmd` at the origin `db` and commits it (strict, like the
/// engine): a write to a key that holds only leftovers (a TTL that survived
/// a DEL) first removes them, see [`Db::leftover_ctx`]. Returns the effects
/// committed, in order.
pub fn origin_ops(db: &mut Db, cmd: &Cmd, wall_ms: u64) -> Vec<Effect> {
    let Some(op) = to_op(db, cmd, true) else { return Vec::new() };
    let mut out = Vec::new();
    if cmd.adds() {
        if let Some(ctx) = db.leftover_ctx(cmd.key().as_bytes()) {
            out.push(db.commit(Op::Del { key: b(cmd.key()), ctx }, wall_ms));
        }
    }
    out.push(db.commit(op, wall_ms));
    out
}

/// Like [`origin_ops`], returning the command's own effect.
pub fn origin_op(db: &mut Db, cmd: &Cmd, wall_ms: u64) -> Option<Effect> {
    origin_ops(db, cmd, wall_ms).pop()
}

fn show_cell(out: &mut String, c: &Cell) {
    match c.shown() {
        Shown::Absent => out.push_str("<absent>"),
        Shown::Bytes(v) => write!(out, "{:?}", String::from_utf8_lossy(v)).unwrap(),
        Shown::Int(i) => write!(out, "{i}").unwrap(),
        Shown::Float(f) => write!(out, "{f:?}").unwrap(),
    }
}

/// What a client can read of a key: type, TTL and value ("" when absent).
pub fn render_key(db: &Db, key: &[u8]) -> String {
    let Some(e) = db.get(key) else { return String::new() };
    let v = e.value.as_ref().expect("get returns visible entries");
    let mut out = String::new();
    write!(out, "{}:{}", String::from_utf8_lossy(key), v.kind().name()).unwrap();
    if let Some(t) = e.expire_at() {
        write!(out, " ttl={t}").unwrap();
    }
    out.push_str(" = ");
    match v {
        Value::Str(c) => show_cell(&mut out, c),
        Value::Hash(h) => {
            let fields: BTreeMap<_, _> = h.iter().collect();
            for (f, c) in fields {
                write!(out, "{}=", String::from_utf8_lossy(f)).unwrap();
                show_cell(&mut out, &c.as_cell());
                out.push(' ');
            }
        }
        Value::Set(s) => {
            let mut m: Vec<_> = s.members.keys().map(|m| String::from_utf8_lossy(m).into_owned()).collect();
            m.sort();
            write!(out, "{m:?}").unwrap();
        }
        Value::ZSet(z) => {
            for (s, m) in &z.index {
                write!(out, "{}:{:?} ", String::from_utf8_lossy(m), s.0).unwrap();
            }
        }
        Value::Hll(h) => {
            let regs: Vec<(usize, u8)> = h.registers().iter().copied().enumerate().filter(|r| r.1 != 0).collect();
            write!(out, "{regs:?}").unwrap();
        }
        Value::List(l) => {
            let items: Vec<String> = l.iter().map(|e| String::from_utf8_lossy(e.value()).into_owned()).collect();
            write!(out, "{items:?}").unwrap();
        }
        Value::Stream(s) => {
            for ((id, _), f) in &s.entries {
                let f: Vec<String> = f.iter().map(|x| String::from_utf8_lossy(x).into_owned()).collect();
                write!(out, "{id}{f:?} ").unwrap();
            }
            let groups: Vec<String> = s.groups.keys().map(|g| String::from_utf8_lossy(g).into_owned()).collect();
            write!(out, "last={} added={} groups={groups:?}", s.last_id(), s.entries_added()).unwrap();
        }
    }
    out
}

/// What a client can read of the whole keyspace.
pub fn render(db: &Db) -> String {
    let mut keys: Vec<&crate::db::Key> = db.entries.keys().collect();
    keys.sort();
    let mut out = String::new();
    for k in keys {
        let r = render_key(db, k);
        if !r.is_empty() {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

/// Internal consistency of one instance's state; returns a description of
/// the first violation.
pub fn check_invariants(db: &Db) -> Result<(), String> {
    for (k, e) in &db.entries {
        let key = String::from_utf8_lossy(k);
        if e.is_dead() {
            return Err(format!("{key}: dead entry kept"));
        }
        // Values no client can see (a list with only tombstones or orphans)
        // are kept hidden; anything visible must be the visible value.
        if e.value.is_none() && e.hidden().iter().any(|v| v.is_visible()) {
            return Err(format!("{key}: a visible value is hidden while none is shown"));
        }
        if e.value.as_ref().is_some_and(|v| !v.is_visible()) {
            return Err(format!("{key}: an invisible value is shown"));
        }
        let all: Vec<&Value> = e.values().collect();
        for v in &all {
            if v.is_empty() {
                return Err(format!("{key}: empty {} value kept", v.kind().name()));
            }
        }
        let mut kinds: Vec<Kind> = all.iter().map(|v| v.kind()).collect();
        kinds.sort();
        kinds.dedup();
        if kinds.len() != all.len() {
            return Err(format!("{key}: two values of one type"));
        }
        if let Some(v) = &e.value {
            for h in e.hidden().iter().filter(|h| h.is_visible()) {
                if h.rank() > v.rank() {
                    return Err(format!("{key}: hidden {} outranks visible {}", h.kind().name(), v.kind().name()));
                }
            }
        }
        if e.ttl().windows(2).any(|w| w[0].dot >= w[1].dot) {
            return Err(format!("{key}: ttl versions not sorted"));
        }
        for t in e.ttl() {
            if !db.vv.covers(t.dot) {
                return Err(format!("{key}: ttl dot {:?} not covered by vv", t.dot));
            }
        }
        for v in &all {
            let mut cells: Vec<std::borrow::Cow<'_, Cell>> = Vec::new();
            match v {
                Value::Str(c) => cells.push(std::borrow::Cow::Borrowed(c)),
                Value::Hash(h) => {
                    for c in h.values() {
                        let c = c.as_cell().into_owned();
                        if c.is_empty() {
                            return Err(format!("{key}: empty hash field kept"));
                        }
                        cells.push(std::borrow::Cow::Owned(c));
                    }
                }
                Value::Set(s) => {
                    for t in s.members.values() {
                        if t.is_empty() || t.windows(2).any(|w| w[0] >= w[1]) {
                            return Err(format!("{key}: bad set tags {t:?}"));
                        }
                        if let Some(t) = t.iter().find(|t| !db.vv.covers(t.dot())) {
                            return Err(format!("{key}: tag {:?} not covered by vv", t.dot()));
                        }
                    }
                }
                Value::ZSet(z) => {
                    if z.index.len() != z.members.len() {
                        return Err(format!("{key}: zset index has {} rows for {} members", z.index.len(), z.members.len()));
                    }
                    for (m, (c, s)) in &z.members {
                        if c.is_empty() {
                            return Err(format!("{key}: empty zset member kept"));
                        }
                        let want = crate::value::zscore_of(c);
                        if want.to_bits() != s.to_bits() && !(want.is_nan() && s.is_nan()) {
                            return Err(format!("{key}: stale score {s} (cell says {want})"));
                        }
                        if !z.index.contains(&(crate::value::Score(*s), m.clone())) {
                            return Err(format!("{key}: member missing from the index"));
                        }
                        cells.push(std::borrow::Cow::Borrowed(c));
                    }
                }
                Value::Hll(_) | Value::List(_) => {}
                Value::Stream(s) => {
                    if let Some(d) = s.entries.keys().map(|k| k.1).chain(s.records.iter().map(|r| r.dot)).find(|d| !db.vv.covers(*d)) {
                        return Err(format!("{key}: stream item {d:?} not covered by vv"));
                    }
                    let mut origins: Vec<_> = s.records.iter().map(|r| r.dot.origin).collect();
                    origins.dedup();
                    if origins.len() != s.records.len() {
                        return Err(format!("{key}: two records of one origin {:?}", s.records));
                    }
                    if let Some(d) = s.removed.iter().find(|d| db.vv.covers(**d) && s.entries.keys().any(|k| k.1 == **d)) {
                        return Err(format!("{key}: removed entry {d:?} kept"));
                    }
                }
            }
            for c in cells {
                if c.versions().windows(2).any(|w| w[0].pdot >= w[1].pdot) {
                    return Err(format!("{key}: versions not sorted"));
                }
                if c.runs().windows(2).any(|w| (w[0].origin, w[0].last) >= (w[1].origin, w[1].first)) {
                    return Err(format!("{key}: runs overlap or unsorted {:?}", c.runs()));
                }
                if let Some(v) = c.versions().iter().find(|v| !db.vv.covers(v.dot())) {
                    return Err(format!("{key}: version {:?} not covered by vv", v.dot()));
                }
                if let Some(r) = c.runs().iter().find(|r| r.last > db.vv.get(r.origin) || r.first > r.last) {
                    return Err(format!("{key}: bad run {r:?}"));
                }
            }
        }
    }
    for (k, list) in &db.tombstones {
        if list.is_empty() {
            return Err(format!("{}: empty tombstone list", String::from_utf8_lossy(k)));
        }
    }
    if db.vv.get(db.me) != db.seq {
        return Err(format!("seq {} but vv says {}", db.seq, db.vv.get(db.me)));
    }
    Ok(())
}

/// A time/instance table: instances 1..=n, each with its own effects log;
/// `sync` delivers everything everywhere in per-origin order.
pub struct Table {
    pub dbs: Vec<Db>,
    pub logs: Vec<Vec<Effect>>,
    /// `delivered[to][from]`: how many of `from`'s effects `to` applied.
    pub delivered: Vec<Vec<usize>>,
}

impl Table {
    pub fn new(n: usize) -> Table {
        let ids: Vec<InstanceId> = (1..=n as u16).map(InstanceId).collect();
        let dbs = ids
            .iter()
            .map(|&id| {
                let mut db = Db::new(id);
                db.set_members(&ids);
                db
            })
            .collect();
        Table { dbs, logs: vec![Vec::new(); n], delivered: vec![vec![0; n]; n] }
    }

    pub fn db(&self, inst: usize) -> &Db {
        &self.dbs[inst - 1]
    }

    /// Instance `inst` (1-based) runs `cmd` at wall-clock time `t` (ms).
    /// Panics if the origin refuses the command (strict).
    pub fn at(&mut self, t: u64, inst: usize, cmd: Cmd) -> &mut Table {
        assert!(self.try_at(t, inst, cmd.clone()), "instance {inst} refused {cmd:?}");
        self
    }

    /// Like `at`, but a refused command is fine (returns whether it ran).
    pub fn try_at(&mut self, t: u64, inst: usize, cmd: Cmd) -> bool {
        let effects = origin_ops(&mut self.dbs[inst - 1], &cmd, t);
        let ran = !effects.is_empty();
        for e in effects {
            self.logs[inst - 1].push(e);
            self.delivered[inst - 1][inst - 1] += 1;
        }
        ran
    }

    /// Delivers everything `from` produced that `to` has not applied yet.
    pub fn deliver(&mut self, from: usize, to: usize) -> &mut Table {
        self.deliver_n(from, to, usize::MAX)
    }

    /// Delivers the next `n` effects of `from`'s stream to `to`.
    pub fn deliver_n(&mut self, from: usize, to: usize, n: usize) -> &mut Table {
        let (f, t) = (from - 1, to - 1);
        let end = self.logs[f].len().min(self.delivered[t][f].saturating_add(n));
        while self.delivered[t][f] < end {
            let e = self.logs[f][self.delivered[t][f]].clone();
            let bytes = e.to_bytes();
            let e2 = Effect::decode(&bytes).expect("decode");
            self.dbs[t].apply(&e2);
            self.delivered[t][f] += 1;
        }
        self
    }

    pub fn sync(&mut self) -> &mut Table {
        let n = self.dbs.len();
        for to in 1..=n {
            for from in 1..=n {
                if from != to {
                    self.deliver(from, to);
                }
            }
        }
        self
    }

    /// Announce at every instance, deliver, collect garbage everywhere.
    pub fn settle(&mut self, t: u64) -> &mut Table {
        let n = self.dbs.len();
        for round in 0..2 {
            for i in 0..n {
                let e = self.dbs[i].announce(t + round);
                self.logs[i].push(e);
                self.delivered[i][i] += 1;
            }
            self.sync();
            for db in &mut self.dbs {
                db.gc();
            }
        }
        self
    }

    pub fn read(&self, inst: usize, key: &str) -> String {
        render_key(&self.dbs[inst - 1], key.as_bytes())
    }

    /// Every instance reads `want` for `key` and all digests are equal.
    pub fn expect_all(&self, key: &str, want: &str) -> &Table {
        for i in 1..=self.dbs.len() {
            assert_eq!(self.read(i, key), want, "instance {i} reads {key}");
            check_invariants(self.db(i)).unwrap_or_else(|e| panic!("instance {i}: {e}"));
        }
        self.expect_converged();
        self
    }

    pub fn expect_converged(&self) -> &Table {
        let d0 = self.dbs[0].digest();
        let r0 = render(&self.dbs[0]);
        for (i, db) in self.dbs.iter().enumerate().skip(1) {
            assert_eq!(render(db), r0, "instance {} reads differently from instance 1", i + 1);
            assert_eq!(db.digest(), d0, "digest of instance {} differs from instance 1", i + 1);
        }
        self
    }
}

// Short constructors so tables read like the spec.
pub fn set(k: &str, v: &str) -> Cmd {
    Cmd::Set(k.into(), v.into())
}
pub fn incrby(k: &str, d: i64) -> Cmd {
    Cmd::Incr(k.into(), d)
}
pub fn incrbyfloat(k: &str, d: f64) -> Cmd {
    Cmd::IncrF(k.into(), d)
}
pub fn del(k: &str) -> Cmd {
    Cmd::Del(k.into())
}
pub fn hset(k: &str, f: &str, v: &str) -> Cmd {
    Cmd::HSet(k.into(), f.into(), v.into())
}
pub fn hincrby(k: &str, f: &str, d: i64) -> Cmd {
    Cmd::HIncr(k.into(), f.into(), d)
}
pub fn hincrbyfloat(k: &str, f: &str, d: f64) -> Cmd {
    Cmd::HIncrF(k.into(), f.into(), d)
}
pub fn hdel(k: &str, f: &str) -> Cmd {
    Cmd::HDel(k.into(), f.into())
}
pub fn sadd(k: &str, m: &str) -> Cmd {
    Cmd::SAdd(k.into(), m.into())
}
pub fn srem(k: &str, m: &str) -> Cmd {
    Cmd::SRem(k.into(), m.into())
}
pub fn zadd(k: &str, s: f64, m: &str) -> Cmd {
    Cmd::ZAdd(k.into(), m.into(), s)
}
pub fn zincrby(k: &str, d: f64, m: &str) -> Cmd {
    Cmd::ZIncr(k.into(), m.into(), d)
}
pub fn zrem(k: &str, m: &str) -> Cmd {
    Cmd::ZRem(k.into(), m.into())
}
pub fn expireat(k: &str, at: u64) -> Cmd {
    Cmd::ExpireAt(k.into(), at)
}
pub fn persist(k: &str) -> Cmd {
    Cmd::Persist(k.into())
}

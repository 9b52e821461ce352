//! Streams (spec section 1.10): one entry tree per instance, merged on read.
//!
//! An instance appends only to its own tree but may delete from all. The
//! entries of every tree live in one ordered map keyed by `(id, dot)`: the
//! dot is the XADD effect's dot, so its origin names the tree, and iterating
//! the map in key order is the merge-iteration of the trees by id (two trees
//! holding the same custom id show both entries, in origin order).
//!
//! - **Entries** are observed-remove: DEL (and SET) remove the entries whose
//!   dots they observed; XDEL/XTRIM name the `(id, dot)` pairs they remove. A
//!   removal of an entry not yet received is kept in `removed` and stops the
//!   add when it arrives; it is collected once the local vector covers it.
//! - **Records** (`Record`): per origin, the last id it generated or set and
//!   how many entries it added. Every XADD/XSETID writes its origin's record
//!   (replacing the origin's earlier ones, which the origin observed). A
//!   stream exists while a record is alive, so a stream emptied by XDEL or
//!   XTRIM still exists, as in Redis, and DEL racing XADD leaves the new entry
//!   and the stream.
//! - **Consumer groups** are delete-wins: a group is a set of CREATE effects
//!   (`Create`, with the creator's whole vector); XGROUP DESTROY and DEL of a
//!   stream leave a `Kill` marker, and every create that did not observe a
//!   marker of its name (or of the whole key) is dead, wherever it came
//!   from. Markers are collected once every member observed them (`gvc_min`):
//!   any create still to arrive observed them.
//! - **Local group state** (`GroupLocal`: last delivered ids, the PEL,
//!   consumers) is not replicated; XACK effects are sent only for a prefix
//!   of acknowledged reads (see `GroupLocal::ack_floor`) and remove those ids
//!   from the receivers' PELs.
//!
//! Ids: an id is `ms-seq`. Server-generated and ms-only ids at instance `i`
//! have `seq = k * SEQ_STRIDE + i`, so the instance is `seq % SEQ_STRIDE`
//! and ids of different instances never collide (see docs/crdt.md).

use std::collections::{BTreeMap, BTreeSet};

use crate::cell::Blob;
use crate::id::{Dot, Hlc, InstanceId, Stamp, VersionVector};
use crate::wire::{put_bytes, put_dot, put_sid, put_var, put_vv};

/// The `M` of `seq = k * M + instance`: larger than every instance id (u16).
pub const SEQ_STRIDE: u64 = 1 << 16;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId { ms: self.ms, seq: self.seq + 1 })
        } else if self.ms < u64::MAX {
            Some(StreamId { ms: self.ms + 1, seq: 0 })
        } else {
            None
        }
    }
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId { ms: self.ms, seq: self.seq - 1 })
        } else if self.ms > 0 {
            Some(StreamId { ms: self.ms - 1, seq: u64::MAX })
        } else {
            None
        }
    }
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
    /// The smallest id above `last` at instance `me` in millisecond `ms`
    /// whose seq is tagged with `me` (None if the millisecond is full).
    pub fn tagged_after(last: StreamId, ms: u64, me: InstanceId) -> Option<StreamId> {
        let tag = me.0 as u64;
        if ms > last.ms {
            return Some(StreamId { ms, seq: tag });
        }
        if ms < last.ms {
            return None;
        }
        let base = last.seq - last.seq % SEQ_STRIDE;
        let mut seq = base.checked_add(tag)?;
        if seq <= last.seq {
            seq = seq.checked_add(SEQ_STRIDE)?;
        }
        Some(StreamId { ms, seq })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry's fields and values, alternating.
pub type Fields = Box<[Blob]>;

/// One origin's record: the last id it generated or set, and how many
/// entries it added (XINFO's entries-added is the sum over records).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub dot: Dot,
    pub hlc: Hlc,
    pub last: StreamId,
    pub added: u64,
}

/// One XGROUP CREATE: `ctx` is the creator's whole observed vector (it
/// decides which delete markers the create observed).
#[derive(Clone, Debug, PartialEq)]
pub struct Create {
    pub dot: Dot,
    pub hlc: Hlc,
    pub ctx: VersionVector,
    pub start: StreamId,
    pub entries_read: Option<u64>,
}

/// A delete-wins marker: XGROUP DESTROY of `group`, or (None) DEL of the
/// stream. Kills every create that did not observe it.
#[derive(Clone, Debug, PartialEq)]
pub struct Kill {
    pub group: Option<Blob>,
    pub dot: Dot,
}

/// A pending entry of a group (local).
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub consumer: Blob,
    pub delivered_ms: u64,
    pub count: u64,
}

/// A consumer (local).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    pub seen_ms: u64,
}

/// What a group knows only at this instance.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GroupLocal {
    /// The group's last delivered id (XINFO's last-delivered-id).
    pub last_delivered: StreamId,
    /// Where every tree's reading starts (CREATE, SETID).
    pub start: StreamId,
    /// Per origin tree, the last id delivered from it: `>` reads each tree
    /// past its own position, so an entry of another instance arriving with
    /// a smaller id is still delivered (XREADGROUP never skips).
    pub per_origin: BTreeMap<InstanceId, StreamId>,
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Blob, Consumer>,
    /// The acknowledged prefix already replicated (XACK effects sent).
    pub acked_sent: StreamId,
}

impl GroupLocal {
    pub fn starting_at(start: StreamId, entries_read: Option<u64>) -> GroupLocal {
        GroupLocal { last_delivered: start, start, entries_read, ..GroupLocal::default() }
    }

    /// The position of origin `o`'s tree for `>` reads.
    pub fn position(&self, o: InstanceId) -> StreamId {
        self.per_origin.get(&o).copied().unwrap_or(self.start)
    }

    /// The lowest tree position: `>` reads scan from just above it.
    pub fn lowest_position(&self) -> StreamId {
        self.per_origin.values().copied().chain([self.start]).min().unwrap_or_default()
    }

    /// Moves the group to `id` (XGROUP SETID, CREATE): every tree starts there.
    pub fn set_position(&mut self, id: StreamId) {
        self.last_delivered = id;
        self.start = id;
        self.per_origin.clear();
    }

    /// The greatest id up to which every read entry is acknowledged: just
    /// below the oldest pending id, or the last delivered id.
    pub fn ack_floor(&self) -> StreamId {
        match self.pel.keys().next() {
            Some(first) => first.prev().unwrap_or(StreamId::MIN),
            None => self.last_delivered,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Group {
    pub creates: Vec<Create>,
    pub local: GroupLocal,
}

impl Group {
    fn fresh(c: &Create) -> Group {
        Group { creates: Vec::new(), local: GroupLocal::starting_at(c.start, c.entries_read) }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stream {
    pub entries: BTreeMap<(StreamId, Dot), Fields>,
    pub records: Vec<Record>,
    pub groups: BTreeMap<Blob, Group>,
    /// Removals (XDEL, XTRIM) of entries not received yet.
    pub removed: BTreeSet<Dot>,
    /// Delete-wins markers not yet observed by every member.
    pub kills: Vec<Kill>,
    /// Local: the greatest id XDEL/XTRIM removed here (XINFO).
    pub max_deleted: StreamId,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The stream's last id: the greatest over the alive records.
    pub fn last_id(&self) -> StreamId {
        self.records.iter().map(|r| r.last).max().unwrap_or_default()
    }

    pub fn entries_added(&self) -> u64 {
        self.records.iter().map(|r| r.added).fold(0u64, |a, b| a.saturating_add(b))
    }

    pub fn record_of(&self, o: InstanceId) -> Option<&Record> {
        self.records.iter().filter(|r| r.dot.origin == o).max_by_key(|r| r.dot.seq)
    }

    pub fn first_id(&self) -> Option<StreamId> {
        self.entries.keys().next().map(|k| k.0)
    }

    pub fn last_entry_id(&self) -> Option<StreamId> {
        self.entries.keys().next_back().map(|k| k.0)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.records.is_empty() && self.groups.is_empty() && self.removed.is_empty() && self.kills.is_empty()
    }

    /// A stream exists for clients while a record (or an entry) is alive.
    pub fn is_visible(&self) -> bool {
        !self.records.is_empty() || !self.entries.is_empty()
    }

    pub fn rank(&self) -> Stamp {
        let r = self.records.iter().map(|r| Stamp { hlc: r.hlc, origin: r.dot.origin });
        let c = self.groups.values().flat_map(|g| g.creates.iter()).map(|c| Stamp { hlc: c.hlc, origin: c.dot.origin });
        r.chain(c).max().unwrap_or_default()
    }

    pub fn ctx(&self, out: &mut VersionVector) {
        for (_, d) in self.entries.keys() {
            out.observe(*d);
        }
        for r in &self.records {
            out.observe(r.dot);
        }
        for c in self.groups.values().flat_map(|g| g.creates.iter()) {
            out.observe(c.dot);
        }
    }

    /// Removes every entry, record and group create `ctx` covers.
    pub fn remove(&mut self, ctx: &VersionVector) -> usize {
        let before = self.entries.len() + self.records.len();
        self.entries.retain(|(_, d), _| !ctx.covers(*d));
        self.records.retain(|r| !ctx.covers(r.dot));
        let mut n = before - self.entries.len() - self.records.len();
        self.groups.retain(|_, g| {
            let b = g.creates.len();
            g.creates.retain(|c| !ctx.covers(c.dot));
            n += b - g.creates.len();
            !g.creates.is_empty()
        });
        n
    }

    /// Writes `origin`'s record, replacing its earlier ones.
    pub fn put_record(&mut self, rec: Record) {
        if !self.is_visible() {
            // A new stream (the key was deleted): local history starts over.
            self.max_deleted = StreamId::MIN;
        }
        let o = rec.dot.origin;
        self.records.retain(|r| r.dot.origin != o || r.dot.seq > rec.dot.seq);
        if !self.records.iter().any(|r| r.dot.origin == o) {
            self.records.push(rec);
            self.records.sort_by_key(|r| r.dot);
        }
    }

    /// Adds an entry (unless a removal that arrived first stopped it).
    pub fn add(&mut self, id: StreamId, dot: Dot, fields: Fields) {
        if !self.removed.remove(&dot) {
            self.entries.insert((id, dot), fields);
        }
    }

    /// Removes entries by `(id, dot)`; those not received yet (`vv` does not
    /// cover them) are remembered. Returns how many were removed now.
    pub fn remove_entries(&mut self, ids: &[(StreamId, Dot)], vv: &VersionVector) -> usize {
        let mut n = 0;
        for &(id, d) in ids {
            if self.entries.remove(&(id, d)).is_some() {
                n += 1;
            } else if !vv.covers(d) {
                self.removed.insert(d);
            }
        }
        n
    }

    /// Kills the creates that did not observe `kill`; returns how many.
    fn apply_kill(&mut self, kill: &Kill) -> usize {
        let mut n = 0;
        self.groups.retain(|name, g| {
            if kill.group.as_ref().is_some_and(|k| k != name) {
                return true;
            }
            let b = g.creates.len();
            g.creates.retain(|c| c.ctx.covers(kill.dot));
            n += b - g.creates.len();
            !g.creates.is_empty()
        });
        n
    }

    /// Adds a delete-wins marker; returns how many creates it killed.
    pub fn kill(&mut self, kill: Kill) -> usize {
        let n = self.apply_kill(&kill);
        if !self.kills.iter().any(|k| k.dot == kill.dot) {
            self.kills.push(kill);
        }
        n
    }

    /// Adds a group create unless a marker it did not observe kills it.
    /// Returns false when killed (a delete-wins conflict).
    pub fn create(&mut self, name: &Blob, c: Create) -> bool {
        let dead = self.kills.iter().any(|k| k.group.as_ref().is_none_or(|g| g == name) && !c.ctx.covers(k.dot));
        if dead {
            return false;
        }
        let g = self.groups.entry(name.clone()).or_insert_with(|| Group::fresh(&c));
        if !g.creates.iter().any(|x| x.dot == c.dot) {
            g.creates.push(c);
            g.creates.sort_by_key(|c| c.dot);
        }
        true
    }

    /// An XACK effect: every id up to `upto` is acknowledged.
    pub fn acked(&mut self, group: &[u8], upto: StreamId) {
        if let Some(g) = self.groups.get_mut(group) {
            let keep = g.local.pel.split_off(&upto.next().unwrap_or(StreamId::MAX));
            let gone = std::mem::replace(&mut g.local.pel, keep);
            if gone.is_empty() {
                return;
            }
            g.local.acked_sent = g.local.acked_sent.max(upto);
        }
    }

    /// Collects removals whose add arrived (or never will: `vv` covers
    /// it) and markers every member observed. Returns how many.
    pub fn gc(&mut self, vv: &VersionVector, gvc: &VersionVector) -> usize {
        let before = self.removed.len() + self.kills.len();
        self.removed.retain(|d| !vv.covers(*d));
        self.kills.retain(|k| !gvc.covers(k.dot));
        before - self.removed.len() - self.kills.len()
    }

    pub fn has_garbage(&self) -> bool {
        !self.removed.is_empty() || !self.kills.is_empty()
    }

    /// Full-sync join (see `crate::merge`): an item on one side only is kept
    /// iff the other side never observed its dot. Local group state is
    /// this instance's own.
    pub fn merge(&mut self, other: &Stream, mine: &VersionVector, theirs: &VersionVector) {
        self.entries.retain(|k, _| other.entries.contains_key(k) || !theirs.covers(k.1));
        for (k, f) in &other.entries {
            if !mine.covers(k.1) && !self.entries.contains_key(k) {
                self.entries.insert(*k, f.clone());
            }
        }
        self.records.retain(|r| other.records.iter().any(|o| o.dot == r.dot) || !theirs.covers(r.dot));
        for r in &other.records {
            if !mine.covers(r.dot) && !self.records.iter().any(|x| x.dot == r.dot) {
                self.put_record(r.clone());
            }
        }
        // Only the newest record of an origin stays.
        let recs = std::mem::take(&mut self.records);
        for r in recs {
            self.put_record(r);
        }
        for g in self.groups.values_mut() {
            g.creates.retain(|c| {
                other.groups.values().flat_map(|o| o.creates.iter()).any(|o| o.dot == c.dot) || !theirs.covers(c.dot)
            });
        }
        self.groups.retain(|_, g| !g.creates.is_empty());
        for (name, og) in &other.groups {
            for c in &og.creates {
                if !mine.covers(c.dot) {
                    let g = self.groups.entry(name.clone()).or_insert_with(|| Group::fresh(c));
                    if !g.creates.iter().any(|x| x.dot == c.dot) {
                        g.creates.push(c.clone());
                        g.creates.sort_by_key(|c| c.dot);
                    }
                }
            }
        }
        for d in &other.removed {
            self.removed.insert(*d);
        }
        let removed = &self.removed;
        self.entries.retain(|k, _| !removed.contains(&k.1));
        for k in &other.kills {
            if !self.kills.iter().any(|x| x.dot == k.dot) {
                self.kills.push(k.clone());
            }
        }
        for k in self.kills.clone() {
            self.apply_kill(&k);
        }
        self.kills.sort_by_key(|k| k.dot);
    }

    // ---- snapshot encoding (the snapshot stores these bytes as one blob) ----

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_var(out, self.entries.len() as u64);
        for ((id, dot), fields) in &self.entries {
            put_sid(out, *id);
            put_dot(out, *dot);
            put_var(out, fields.len() as u64);
            for f in fields.iter() {
                put_bytes(out, f);
            }
        }
        put_var(out, self.records.len() as u64);
        for r in &self.records {
            put_dot(out, r.dot);
            put_var(out, r.hlc.0);
            put_sid(out, r.last);
            put_var(out, r.added);
        }
        put_var(out, self.groups.len() as u64);
        for (name, g) in &self.groups {
            put_bytes(out, name);
            put_var(out, g.creates.len() as u64);
            for c in &g.creates {
                put_dot(out, c.dot);
                put_var(out, c.hlc.0);
                put_vv(out, &c.ctx);
                put_sid(out, c.start);
                put_opt(out, c.entries_read);
            }
            let l = &g.local;
            put_sid(out, l.last_delivered);
            put_sid(out, l.start);
            put_var(out, l.per_origin.len() as u64);
            for (o, id) in &l.per_origin {
                put_var(out, o.0 as u64);
                put_sid(out, *id);
            }
            put_opt(out, l.entries_read);
            put_var(out, l.pel.len() as u64);
            for (id, p) in &l.pel {
                put_sid(out, *id);
                put_bytes(out, &p.consumer);
                put_var(out, p.delivered_ms);
                put_var(out, p.count);
            }
            put_var(out, l.consumers.len() as u64);
            for (name, c) in &l.consumers {
                put_bytes(out, name);
                put_var(out, c.seen_ms);
            }
            put_sid(out, l.acked_sent);
        }
        put_var(out, self.removed.len() as u64);
        for d in &self.removed {
            put_dot(out, *d);
        }
        put_var(out, self.kills.len() as u64);
        for k in &self.kills {
            match &k.group {
                Some(g) => {
                    out.push(1);
                    put_bytes(out, g);
                }
                None => out.push(0),
            }
            put_dot(out, k.dot);
        }
        put_sid(out, self.max_deleted);
    }

    pub fn decode(buf: &[u8]) -> Result<Stream, &'static str> {
        let mut r = Rd { buf };
        let mut s = Stream::default();
        for _ in 0..r.count()? {
            let id = r.sid()?;
            let dot = r.dot()?;
            let n = r.count()?;
            let mut f = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                f.push(r.bytes()?);
            }
            s.entries.insert((id, dot), f.into_boxed_slice());
        }
        for _ in 0..r.count()? {
            s.records.push(Record { dot: r.dot()?, hlc: Hlc(r.var()?), last: r.sid()?, added: r.var()? });
        }
        for _ in 0..r.count()? {
            let name = r.bytes()?;
            let mut g = Group::default();
            for _ in 0..r.count()? {
                g.creates.push(Create { dot: r.dot()?, hlc: Hlc(r.var()?), ctx: r.vv()?, start: r.sid()?, entries_read: r.opt()? });
            }
            let l = &mut g.local;
            l.last_delivered = r.sid()?;
            l.start = r.sid()?;
            for _ in 0..r.count()? {
                let o = r.id()?;
                l.per_origin.insert(o, r.sid()?);
            }
            l.entries_read = r.opt()?;
            for _ in 0..r.count()? {
                let id = r.sid()?;
                l.pel.insert(id, Pending { consumer: r.bytes()?, delivered_ms: r.var()?, count: r.var()? });
            }
            for _ in 0..r.count()? {
                let name = r.bytes()?;
                l.consumers.insert(name, Consumer { seen_ms: r.var()? });
            }
            l.acked_sent = r.sid()?;
            s.groups.insert(name, g);
        }
        for _ in 0..r.count()? {
            s.removed.insert(r.dot()?);
        }
        for _ in 0..r.count()? {
            let group = if r.flag()? { Some(r.bytes()?) } else { None };
            s.kills.push(Kill { group, dot: r.dot()? });
        }
        s.max_deleted = r.sid()?;
        if !r.buf.is_empty() {
            return Err("trailing bytes in a stream");
        }
        Ok(s)
    }
}

fn put_opt(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            out.push(1);
            put_var(out, v);
        }
        None => out.push(0),
    }
}

struct Rd<'a> {
    buf: &'a [u8],
}

impl Rd<'_> {
    fn u8(&mut self) -> Result<u8, &'static str> {
        let (&b, rest) = self.buf.split_first().ok_or("stream truncated")?;
        self.buf = rest;
        Ok(b)
    }
    fn var(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("stream varint too long")
    }
    fn count(&mut self) -> Result<usize, &'static str> {
        let n = self.var()?;
        if n > self.buf.len() as u64 {
            return Err("stream count larger than the input");
        }
        Ok(n as usize)
    }
    fn flag(&mut self) -> Result<bool, &'static str> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("stream flag byte"),
        }
    }
    fn bytes(&mut self) -> Result<Blob, &'static str> {
        let n = self.count()?;
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a.into())
    }
    fn id(&mut self) -> Result<InstanceId, &'static str> {
        u16::try_from(self.var()?).map(InstanceId).map_err(|_| "instance id out of range")
    }
    fn dot(&mut self) -> Result<Dot, &'static str> {
        Ok(Dot { origin: self.id()?, seq: self.var()? })
    }
    fn sid(&mut self) -> Result<StreamId, &'static str> {
        Ok(StreamId { ms: self.var()?, seq: self.var()? })
    }
    fn vv(&mut self) -> Result<VersionVector, &'static str> {
        let mut vv = VersionVector::new();
        for _ in 0..self.count()? {
            let id = self.id()?;
            let seq = self.var()?;
            vv.raise(id, seq);
        }
        Ok(vv)
    }
    fn opt(&mut self) -> Result<Option<u64>, &'static str> {
        Ok(if self.flag()? { Some(self.var()?) } else { None })
    }
}

// ---- Db: applying stream effects --------------------------------------------

impl crate::db::Db {
    /// A DEL of a key holding a stream at the origin becomes `StreamDel`,
    /// which also kills concurrent group creates (delete-wins).
    /// (`entry`: the key's entry, for a SET or DEL.)
    pub(crate) fn stream_prepare(&self, op: crate::effect::Op, entry: Option<&crate::db::Entry>) -> crate::effect::Op {
        use crate::effect::Op;
        match op {
            Op::Del { key, ctx } if entry.is_some_and(|e| e.values().any(|v| matches!(v, crate::value::Value::Stream(_)))) => {
                Op::StreamDel { key, ctx }
            }
            op => op,
        }
    }

    /// The stream at `key`, visible or hidden.
    pub fn stream(&self, key: &[u8]) -> Option<&Stream> {
        let e = self.entries.get(key)?;
        e.values().find_map(|v| match v {
            crate::value::Value::Stream(s) => Some(&**s),
            _ => None,
        })
    }

    /// The stream at `key` for local-only changes (consumers, PEL, ...): they
    /// are not effects, so a running snapshot capture is told here.
    pub fn stream_local_mut(&mut self, key: &[u8]) -> Option<&mut Stream> {
        if self.capture.is_some() {
            self.captured(key);
        }
        let e = self.entries.get_mut(key)?;
        e.values_mut().find_map(|v| match v {
            crate::value::Value::Stream(s) => Some(&mut **s),
            _ => None,
        })
    }
}

impl crate::db::Db {
    /// Applies a stream effect (called by `Db::apply` after the dot checks).
    pub(crate) fn apply_stream(&mut self, e: &crate::effect::Effect) {
        use crate::effect::Op;
        use crate::value::{Kind, Value};
        let (dot, hlc) = (e.dot, e.hlc);
        let with = |db: &mut crate::db::Db, key: &Blob, f: &mut dyn FnMut(&mut Stream, &mut crate::db::Stats)| {
            db.with_value(key, Kind::Stream, |v, stats| {
                let Value::Stream(s) = v else { unreachable!() };
                f(s, stats);
            });
        };
        match &e.op {
            Op::StreamAdd { key, id, fields, added } => {
                if !self.blocked_value(key, dot) {
                    let fields: Fields = fields.clone().into_boxed_slice();
                    let mut fields = Some(fields);
                    with(self, key, &mut |s, _| {
                        s.put_record(Record { dot, hlc, last: *id, added: *added });
                        s.add(*id, dot, fields.take().expect("once"));
                    });
                }
            }
            Op::StreamRemove { key, entries } => {
                let mut garbage = false;
                let vv = self.vv.clone();
                with(self, key, &mut |s, _| {
                    s.remove_entries(entries, &vv);
                    garbage = s.has_garbage();
                });
                if garbage {
                    self.unfolded.insert(key.clone());
                }
            }
            Op::StreamSetId { key, last, added } => {
                if !self.blocked_value(key, dot) {
                    with(self, key, &mut |s, _| s.put_record(Record { dot, hlc, last: *last, added: *added }));
                }
            }
            Op::StreamDel { key, ctx } => {
                self.remove_key(key, ctx, false, crate::db::Slot::Unknown);
                with(self, key, &mut |s, stats| {
                    if !s.entries.is_empty() {
                        // Entries added concurrently survive (observed-remove).
                        *stats.conflicts.add_wins.entry(Kind::Stream).or_default() += 1;
                    }
                    s.kill(Kill { group: None, dot });
                });
                self.unfolded.insert(key.clone());
            }
            Op::GroupCreate { key, group, start, entries_read, ctx } => {
                if !self.blocked_value(key, dot) {
                    let c = Create { dot, hlc, ctx: ctx.clone(), start: *start, entries_read: *entries_read };
                    let mut c = Some(c);
                    with(self, key, &mut |s, stats| {
                        if !s.create(group, c.take().expect("once")) {
                            *stats.conflicts.delete_wins.entry(Kind::Stream).or_default() += 1;
                        }
                    });
                }
            }
            Op::GroupDestroy { key, group } => {
                with(self, key, &mut |s, _| {
                    s.kill(Kill { group: Some(group.clone()), dot });
                });
                self.unfolded.insert(key.clone());
            }
            Op::StreamAck { key, group, upto } => {
                if let Some(s) = self.stream_mut(key) {
                    s.acked(group, *upto);
                }
            }
            _ => unreachable!("apply_stream is called for stream effects"),
        }
    }

    fn stream_mut(&mut self, key: &[u8]) -> Option<&mut Stream> {
        let e = self.entries.get_mut(key)?;
        e.values_mut().find_map(|v| match v {
            crate::value::Value::Stream(s) => Some(&mut **s),
            _ => None,
        })
    }
}


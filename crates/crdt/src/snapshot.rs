//! Snapshots: a whole [`Db`] (every entry with all its metadata, pending
//! tombstones, version vectors, sequence number and clock) in a compact,
//! versioned binary format, for full syncs and for the snapshot file a shard
//! restarts from.
//!
//! Streaming-friendly: [`SnapshotWriter`] writes one key at a time into any
//! `io::Write`, and [`Capture`] takes a snapshot of a live keyspace in
//! small steps (the caller changes the keyspace between steps; keys changed
//! after they were written are written again, and the header, written
//! last, describes the final state). [`read_snapshot`] reads from any
//! `io::Read`. Decoding never panics and never allocates more than the
//! input justifies: a damaged or hostile snapshot is a [`SnapshotError`].
//!
//! ```text
//! "CONCSNAP" | format u8 (2)
//! items    1 key entry (a later entry of the same key replaces it)
//!          | 6 key (absent: the key was removed after its entry was written)
//!          | 2 key tombstones | 3 key (unfolded counter)
//!          | 4 key vv (HyperLogLog removals) | 5 key (HyperLogLog with pending adds)
//! end      0 | header: me, seq, clock, vv, observed {id -> vv}, aux [(bytes, bytes)]
//!          | count of items of each kind, in tag order | FNV-1a 64 of all bytes before it (u64 LE)
//! ```
//!
//! Format 1 (header first, each key once, counts of distinct keys) is
//! still read, so snapshot files of older builds load.
//!
//! Integers are LEB128 varints unless noted; bytes are a varint length and
//! the bytes; an f64 is its 8 bits little-endian. `aux` carries what the
//! caller keeps beside the keyspace (replication id history, peer
//! positions), like RDB's AUX fields, without this crate knowing it.
//!
//! The type codes below are part of the format and never change; they are
//! not `Kind::code()`, which follows the enum's declaration order.
//!
//! Checklist, if you add a `Value` variant: give it the next code in
//! [`kind_code`] and [`kind_of_code`], one arm in [`put_value`] and one in
//! [`Reader::value`], and a generator case in the tests. The matches are
//! exhaustive, so the compiler points at each place. If you add a field to
//! `Db`, `Entry`, `Cell` or a value type, the destructuring patterns here
//! stop compiling until the field is written (or deliberately skipped).
//!
//! Rejected alternative: serde + bincode. The format must stay stable across
//! builds and versions, must stream key by key, and must bound allocations
//! while decoding untrusted bytes; a hand-written codec of ~300 lines in the
//! style of `effect.rs` does all three without a dependency.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};

use crate::cell::{Blob, Cell, Run, Version};
use crate::db::{Db, Entry, Scope, Stats, Tombstone, TtlVersion};
use crate::hll::{Hll, HllMeta, PendingAdd, Regs, REGISTERS, REGISTER_MAX};
use crate::id::{Clock, Dot, Hlc, InstanceId, Stamp, VersionVector};
use crate::list::{Early, Elem, List};
use crate::num::Sum;
use crate::value::{Kind, Score, Tag, Value, ZSet};
use crate::wire::{put_bytes, put_dot, put_var, put_vv};

pub const SNAPSHOT_MAGIC: &[u8; 8] = b"CONCSNAP";
/// Version of the snapshot format; a reader refuses other versions.
pub const SNAPSHOT_FORMAT: u8 = 2;
/// The previous format, still read (header first; no replaced or absent keys).
const SNAPSHOT_FORMAT_V1: u8 = 1;
/// Largest key, member or value accepted while decoding (Redis's
/// `proto-max-bulk-len` default).
pub const BLOB_LEN_MAX: u64 = 512 * 1024 * 1024;

const ITEM_END: u8 = 0;
const ITEM_ENTRY: u8 = 1;
const ITEM_TOMBSTONES: u8 = 2;
const ITEM_UNFOLDED: u8 = 3;
const ITEM_HLL_DELS: u8 = 4;
const ITEM_HLL_PENDING: u8 = 5;
const ITEM_ABSENT: u8 = 6;
/// Item kinds after the end tag, counted in the end marker.
const ITEM_KINDS: usize = 6;
/// Item kinds counted by format 1.
const ITEM_KINDS_V1: usize = 5;

/// Extra key/value pairs stored with a snapshot by its caller.
pub type Aux = Vec<(Blob, Blob)>;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot read failed: {0}")]
    Io(io::Error),
    #[error("snapshot truncated")]
    Truncated,
    #[error("not a snapshot (bad magic bytes)")]
    Magic,
    #[error("unknown snapshot format {0} (this build reads 1 and {SNAPSHOT_FORMAT})")]
    Version(u8),
    #[error("invalid snapshot: {0}")]
    Invalid(&'static str),
    #[error("snapshot checksum mismatch (damaged)")]
    Checksum,
}

impl From<io::Error> for SnapshotError {
    fn from(e: io::Error) -> SnapshotError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            SnapshotError::Truncated
        } else {
            SnapshotError::Io(e)
        }
    }
}

/// The stable code of a type in the format.
fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::String => 0,
        Kind::Hash => 1,
        Kind::Set => 2,
        Kind::ZSet => 3,
        Kind::Hll => 4,
        Kind::List => 5,
        Kind::Stream => 6,
    }
}

fn kind_of_code(code: u8) -> Option<Kind> {
    Some(match code {
        0 => Kind::String,
        1 => Kind::Hash,
        2 => Kind::Set,
        3 => Kind::ZSet,
        4 => Kind::Hll,
        5 => Kind::List,
        6 => Kind::Stream,
        _ => return None,
    })
}

/// FNV-1a, 64 bits, over raw bytes: the snapshot's trailing checksum.
#[derive(Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

// ---- encoding ------------------------------------------------------------

fn put_f64(out: &mut Vec<u8>, f: f64) {
    out.extend_from_slice(&f.to_bits().to_le_bytes());
}

fn put_sum(out: &mut Vec<u8>, sum: &Sum) {
    let Sum { int, float, big, is_float } = sum;
    out.extend_from_slice(&int.to_le_bytes());
    out.push(*is_float as u8);
    for partials in [float, big] {
        put_var(out, partials.len() as u64);
        for &f in partials {
            put_f64(out, f);
        }
    }
}

fn put_cell(out: &mut Vec<u8>, cell: &Cell) {
    let (versions, runs) = (cell.versions(), cell.runs());
    put_var(out, versions.len() as u64);
    for Version { pdot, hlc, value } in versions {
        put_dot(out, pdot.get());
        put_var(out, hlc.0);
        put_bytes(out, value);
    }
    put_var(out, runs.len() as u64);
    for Run { origin, first, last, hlc, sum } in runs {
        put_var(out, origin.0 as u64);
        put_var(out, *first);
        put_var(out, *last);
        put_var(out, hlc.0);
        put_sum(out, sum);
    }
}

fn put_regs_pairs(out: &mut Vec<u8>, regs: &[(u16, u8)]) {
    put_var(out, regs.len() as u64);
    for &(i, v) in regs {
        out.extend_from_slice(&i.to_le_bytes());
        out.push(v);
    }
}

/// Settled registers: form 0 is the non-zero `(index, value)` pairs, form 1
/// all [`REGISTERS`] bytes (smaller once more than a third are set).
fn put_regs(out: &mut Vec<u8>, regs: &Regs) {
    let pairs: Vec<(u16, u8)> = regs.iter().collect();
    if pairs.len() * 3 > REGISTERS {
        out.push(1);
        let mut dense = vec![0u8; REGISTERS];
        regs.max_into(&mut dense);
        out.extend_from_slice(&dense);
    } else {
        out.push(0);
        put_regs_pairs(out, &pairs);
    }
}

fn put_hll(out: &mut Vec<u8>, hll: &Hll) {
    let Hll { settled, settled_ctx, settled_rank, pending } = hll;
    put_regs(out, settled);
    put_vv(out, settled_ctx);
    put_var(out, settled_rank.hlc.0);
    put_var(out, settled_rank.origin.0 as u64);
    put_var(out, pending.len() as u64);
    for PendingAdd { dot, hlc, ctx, regs } in pending {
        put_dot(out, *dot);
        put_var(out, hlc.0);
        put_vv(out, ctx);
        put_regs_pairs(out, regs);
    }
}

fn put_list_elem(out: &mut Vec<u8>, e: &Elem) {
    put_dot(out, e.id());
    put_var(out, e.hlc().0);
    match e.anchor() {
        Some(a) => {
            out.push(1);
            put_dot(out, a);
        }
        None => out.push(0),
    }
    put_cell(out, &e.cell());
    put_vv(out, &e.rm());
}

/// A list: its placed elements in order (tombstones included), its orphans
/// and its early records. The collection log is rebuilt on load.
fn put_list(out: &mut Vec<u8>, list: &List) {
    put_var(out, list.placed() as u64);
    for e in list.placed_elems() {
        put_list_elem(out, e);
    }
    let orphans = list.orphan_elems();
    put_var(out, orphans.len() as u64);
    for e in orphans {
        put_list_elem(out, e);
    }
    let early = list.early_records();
    put_var(out, early.len() as u64);
    for (id, Early { cell, rm }) in early {
        put_dot(out, id);
        put_cell(out, cell);
        put_vv(out, rm);
    }
}

fn put_tags(out: &mut Vec<u8>, tags: &[Tag]) {
    put_var(out, tags.len() as u64);
    for Tag { pdot, hlc } in tags {
        put_dot(out, pdot.get());
        put_var(out, hlc.0);
    }
}

/// One arm per type: a new `Value` variant is one arm here and one in
/// [`Reader::value`].
fn put_value(out: &mut Vec<u8>, value: &Value) {
    out.push(kind_code(value.kind()));
    match value {
        Value::Str(cell) => put_cell(out, cell),
        Value::Hash(fields) => {
            put_var(out, fields.len() as u64);
            for (field, cell) in fields.iter() {
                put_bytes(out, field);
                put_cell(out, &cell.as_cell());
            }
        }
        Value::Set(set) => {
            let members = &set.members;
            put_var(out, members.len() as u64);
            for (member, tags) in members {
                put_bytes(out, member);
                put_tags(out, tags);
            }
        }
        Value::ZSet(z) => {
            let ZSet { members, index: _ } = &**z;
            // The index is derived from the cached scores; the cached score
            // itself is kept bit for bit (it enters the digest).
            put_var(out, members.len() as u64);
            for (member, (cell, score)) in members {
                put_bytes(out, member);
                put_f64(out, *score);
                put_cell(out, cell);
            }
        }
        Value::Hll(hll) => put_hll(out, hll),
        Value::List(list) => put_list(out, list),
        Value::Stream(s) => {
            let mut b = Vec::new();
            s.encode(&mut b);
            put_bytes(out, &b);
        }
    }
}

fn put_entry(out: &mut Vec<u8>, entry: &Entry) {
    let (value, hidden, ttl) = (&entry.value, entry.hidden(), entry.ttl());
    match value {
        Some(v) => {
            out.push(1);
            put_value(out, v);
        }
        None => out.push(0),
    }
    put_var(out, hidden.len() as u64);
    for v in hidden {
        put_value(out, v);
    }
    put_var(out, ttl.len() as u64);
    for TtlVersion { dot, at_ms } in ttl {
        put_dot(out, *dot);
        match at_ms {
            Some(t) => {
                out.push(1);
                put_var(out, *t);
            }
            None => out.push(0),
        }
    }
}

fn put_scope(out: &mut Vec<u8>, scope: &Scope) {
    match scope {
        Scope::Key => out.push(0),
        Scope::Values => out.push(1),
        Scope::Member(kind, member) => {
            out.push(2);
            out.push(kind_code(*kind));
            put_bytes(out, member);
        }
        Scope::Ttl => out.push(3),
    }
}

/// Writes a snapshot to `W` one key at a time, then the header of the
/// state the keys describe ([`SnapshotWriter::finish`]). An entry written
/// again replaces the earlier one; [`SnapshotWriter::absent`] removes one.
pub struct SnapshotWriter<W: Write> {
    out: W,
    /// None: the caller checksums the bytes later ([`Capture`]).
    hash: Option<Fnv1a>,
    buf: Vec<u8>,
    /// Items written, per item tag (index tag - 1).
    counts: [u64; ITEM_KINDS],
}

impl<W: Write> SnapshotWriter<W> {
    /// Writes the magic and the format.
    pub fn new(out: W) -> io::Result<SnapshotWriter<W>> {
        SnapshotWriter::start(out, Some(Fnv1a::new()))
    }

    fn start(out: W, hash: Option<Fnv1a>) -> io::Result<SnapshotWriter<W>> {
        let mut w = SnapshotWriter { out, hash, buf: Vec::with_capacity(4096), counts: [0; ITEM_KINDS] };
        w.buf.extend_from_slice(SNAPSHOT_MAGIC);
        w.buf.push(SNAPSHOT_FORMAT);
        w.flush_buf()?;
        Ok(w)
    }

    fn item(&mut self, tag: u8, key: &[u8]) {
        self.buf.push(tag);
        put_bytes(&mut self.buf, key);
        self.counts[tag as usize - 1] += 1;
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if let Some(h) = &mut self.hash {
            h.update(&self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes one key's entry (replacing an entry written before).
    pub fn entry(&mut self, key: &[u8], entry: &Entry) -> io::Result<()> {
        self.item(ITEM_ENTRY, key);
        put_entry(&mut self.buf, entry);
        self.flush_buf()
    }

    /// Notes that a key is absent (removed after its entry was written).
    pub fn absent(&mut self, key: &[u8]) -> io::Result<()> {
        self.item(ITEM_ABSENT, key);
        self.flush_buf()
    }

    /// Writes one key's pending tombstones.
    pub fn tombstones(&mut self, key: &[u8], list: &[Tombstone]) -> io::Result<()> {
        self.item(ITEM_TOMBSTONES, key);
        put_var(&mut self.buf, list.len() as u64);
        for Tombstone { scope, ctx } in list {
            put_scope(&mut self.buf, scope);
            put_vv(&mut self.buf, ctx);
        }
        self.flush_buf()
    }

    /// Notes a key whose counters may have runs left to fold.
    pub fn unfolded(&mut self, key: &[u8]) -> io::Result<()> {
        self.item(ITEM_UNFOLDED, key);
        self.flush_buf()
    }

    /// Writes the HyperLogLog removals applied to one key (DEL wins).
    pub fn hll_dels(&mut self, key: &[u8], dels: &VersionVector) -> io::Result<()> {
        self.item(ITEM_HLL_DELS, key);
        put_vv(&mut self.buf, dels);
        self.flush_buf()
    }

    /// Notes a key that may hold pending HyperLogLog adds.
    pub fn hll_pending(&mut self, key: &[u8]) -> io::Result<()> {
        self.item(ITEM_HLL_PENDING, key);
        self.flush_buf()
    }

    /// Writes every side map of `db` (tombstones, unfolded keys, the
    /// HyperLogLog records): they are written whole, at the end.
    pub fn side_maps(&mut self, db: &Db) -> io::Result<()> {
        let Db { tombstones, unfolded, hll, .. } = db;
        let HllMeta { dels, pending } = hll;
        for (key, list) in tombstones {
            self.tombstones(key, list)?;
        }
        for key in unfolded {
            self.unfolded(key)?;
        }
        for (key, vv) in dels {
            self.hll_dels(key, vv)?;
        }
        for key in pending {
            self.hll_pending(key)?;
        }
        Ok(())
    }

    /// The end marker, the header (everything of `db` but its keys) and the counts.
    fn end(&mut self, db: &Db, aux: &[(&[u8], &[u8])]) {
        let Db { me, clock, seq, vv, entries: _, tombstones: _, observed, unfolded: _, hll: _, stats: _, capture: _, hash_limits: _ } = db;
        let b = &mut self.buf;
        b.push(ITEM_END);
        put_var(b, me.0 as u64);
        put_var(b, *seq);
        put_var(b, clock.last().0);
        put_vv(b, vv);
        put_var(b, observed.len() as u64);
        for (id, vv) in observed {
            put_var(b, id.0 as u64);
            put_vv(b, vv);
        }
        put_var(b, aux.len() as u64);
        for (k, v) in aux {
            put_bytes(b, k);
            put_bytes(b, v);
        }
        for n in self.counts {
            put_var(b, n);
        }
    }

    /// Writes the end marker, the header of `db` with `aux`, the counts and
    /// the checksum; returns the writer.
    pub fn finish(mut self, db: &Db, aux: &[(&[u8], &[u8])]) -> io::Result<W> {
        self.end(db, aux);
        let mut hash = self.hash.take().expect("a writer made by SnapshotWriter::new checksums as it goes");
        hash.update(&self.buf);
        let sum = hash.0;
        self.buf.extend_from_slice(&sum.to_le_bytes());
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes all of `db` (in its key order) with `aux`.
pub fn write_snapshot<W: Write>(db: &Db, aux: &[(&[u8], &[u8])], out: W) -> io::Result<W> {
    let mut w = SnapshotWriter::new(out)?;
    for (key, entry) in &db.entries {
        w.entry(key, entry)?;
    }
    w.side_maps(db)?;
    w.finish(db, aux)
}

/// Returns the snapshot of `db` as bytes.
pub fn encode(db: &Db, aux: &[(&[u8], &[u8])]) -> Vec<u8> {
    write_snapshot(db, aux, Vec::new()).expect("writing to a Vec cannot fail")
}

// ---- capture in steps ------------------------------------------------------

/// Bytes per piece of a [`Chunks`] output.
pub const CHUNK_BYTES: usize = 1 << 20;

/// An output in pieces of about [`CHUNK_BYTES`]: what is written never moves
/// (no reallocation of one large buffer while the keyspace is locked), and
/// the pieces are ready-made frames for a full sync.
#[derive(Debug, Default)]
pub struct Chunks {
    pub pieces: Vec<Vec<u8>>,
}

impl Chunks {
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(Vec::is_empty)
    }

    /// All the bytes in one buffer.
    pub fn concat(&self) -> Vec<u8> {
        self.pieces.concat()
    }
}

impl Write for Chunks {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self.pieces.last_mut() {
            Some(last) if last.len() + b.len() <= CHUNK_BYTES || last.is_empty() => last.extend_from_slice(b),
            _ => {
                let mut piece = Vec::with_capacity(CHUNK_BYTES.max(b.len()));
                piece.extend_from_slice(b);
                self.pieces.push(piece);
            }
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Keys between two calls of the caller's `more` in [`Capture::step_while`].
pub const STEP_CHECK_EVERY: usize = 32;

/// A running capture was lost: the keyspace was replaced (a replica's full
/// sync, a load) or another capture began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the keyspace was replaced while a snapshot of it was being taken")]
pub struct CaptureLost;

static CAPTURE_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A snapshot of a live keyspace taken in steps, for a caller that holds
/// the keyspace's lock only for one step at a time:
///
/// 1. [`Capture::begin`] turns on change tracking in the `Db` ([`Db::capture`]).
/// 2. [`Capture::step`] writes up to `n` entries: first every entry in index
///    order, then the keys changed since (their entry now, or "absent").
///    The keyspace may change arbitrarily between steps.
/// 3. [`Capture::finish`] writes the keys still changed, the side maps and
///    the header (with the caller's `aux`) of the state right then, and turns
///    tracking off. The snapshot decodes to exactly that state.
/// 4. [`Unsealed::seal`] appends the checksum; it needs no lock.
///
/// Why it is exact: a key is written at its state at some step; if it
/// changes afterwards it is marked and written again later (its latest
/// entry wins when decoding). A key never changed during the capture sits at
/// the same index throughout, so the index pass writes it; the only moves
/// are `swap_remove`'s, and the moved key is marked.
pub struct Capture {
    id: u64,
    w: SnapshotWriter<Chunks>,
    cursor: usize,
}

impl Capture {
    /// Starts a capture of `db` (taking over from any capture left running).
    pub fn begin(db: &mut Db) -> Capture {
        let id = CAPTURE_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        db.capture = Some(Box::new(crate::db::CaptureSet { id, ..Default::default() }));
        let w = SnapshotWriter::start(Chunks::default(), None).expect("writing to memory cannot fail");
        Capture { id, w, cursor: 0 }
    }

    fn set<'a>(&self, db: &'a mut Db) -> Result<&'a mut crate::db::CaptureSet, CaptureLost> {
        match db.capture.as_deref_mut() {
            Some(c) if c.id == self.id => Ok(c),
            _ => Err(CaptureLost),
        }
    }

    /// Keys still to write: those the index pass has not reached, plus the
    /// keys changed since they were written.
    pub fn pending(&self, db: &Db) -> usize {
        let dirty = db.capture.as_deref().filter(|c| c.id == self.id).map_or(0, |c| c.dirty.len());
        db.entries.len().saturating_sub(self.cursor) + dirty
    }

    /// True once every entry was written once (what is left is changes).
    pub fn scanned(&self, db: &Db) -> bool {
        self.cursor >= db.entries.len()
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> usize {
        self.w.out.len()
    }

    /// Writes up to `n` keys (at least one when any is pending); returns
    /// how many it wrote.
    pub fn step(&mut self, db: &mut Db, n: usize) -> Result<usize, CaptureLost> {
        self.step_while(db, n, || true)
    }

    /// Writes up to `n` keys (at least one when any is pending), and stops
    /// early once `more` says so (asked every [`STEP_CHECK_EVERY`] keys:
    /// the caller's clock bounds the step).
    pub fn step_while(&mut self, db: &mut Db, n: usize, mut more: impl FnMut() -> bool) -> Result<usize, CaptureLost> {
        self.set(db)?;
        let n = n.max(1);
        if self.cursor < db.entries.len() {
            let start = self.cursor;
            let end = self.cursor.saturating_add(n).min(db.entries.len());
            while self.cursor < end {
                let (key, entry) = db.entries.get_index(self.cursor).expect("cursor < len");
                self.w.entry(key, entry).expect("writing to memory cannot fail");
                self.cursor += 1;
                if self.cursor % STEP_CHECK_EVERY == 0 && !more() {
                    break;
                }
            }
            return Ok(self.cursor - start);
        }
        let set = self.set(db)?;
        let mut keys: Vec<Blob> = Vec::with_capacity(n.min(STEP_CHECK_EVERY));
        for key in set.dirty.iter() {
            if keys.len() == n || (keys.len() % STEP_CHECK_EVERY == STEP_CHECK_EVERY - 1 && !more()) {
                break;
            }
            keys.push(key.clone());
        }
        for k in &keys {
            set.dirty.remove(k);
        }
        self.write_keys(db, &keys);
        Ok(keys.len())
    }

    fn write_keys(&mut self, db: &Db, keys: &[Blob]) {
        for key in keys {
            match db.entries.get(&key[..]) {
                Some(entry) => self.w.entry(key, entry),
                None => self.w.absent(key),
            }
            .expect("writing to memory cannot fail");
        }
    }

    /// Writes what is left and the header of `db` as it is now, with `aux`;
    /// turns change tracking off.
    pub fn finish(mut self, db: &mut Db, aux: &[(&[u8], &[u8])]) -> Result<Unsealed, CaptureLost> {
        self.set(db)?;
        while self.cursor < db.entries.len() {
            self.step(db, usize::MAX)?;
        }
        // (The index pass is complete: what follows are changed keys.)
        let mut set = db.capture.take().expect("checked above");
        let keys: Vec<Blob> = set.dirty.drain().collect();
        self.write_keys(db, &keys);
        self.w.side_maps(db).expect("writing to memory cannot fail");
        self.w.end(db, aux);
        let SnapshotWriter { mut out, buf, .. } = self.w;
        out.write_all(&buf).expect("writing to memory cannot fail");
        // The set's table (as large as the most keys it ever held) and the
        // names are freed by `seal`, after the caller let go of the keyspace.
        Ok(Unsealed { chunks: out, garbage: (set, keys) })
    }

    /// Stops the capture and turns change tracking off (if still ours).
    pub fn abort(self, db: &mut Db) {
        if self.set(db).is_ok() {
            db.capture = None;
        }
    }
}

/// A finished capture without its checksum.
pub struct Unsealed {
    chunks: Chunks,
    garbage: (Box<crate::db::CaptureSet>, Vec<Blob>),
}

impl Unsealed {
    /// Appends the checksum (a pass over all the bytes: done outside the lock).
    pub fn seal(self) -> Chunks {
        let Unsealed { mut chunks, garbage } = self;
        drop(garbage);
        let mut hash = Fnv1a::new();
        for p in &chunks.pieces {
            hash.update(p);
        }
        chunks.write_all(&hash.0.to_le_bytes()).expect("writing to memory cannot fail");
        chunks
    }
}

// ---- decoding ------------------------------------------------------------

/// A reader that checksums what it reads.
struct Reader<R: Read> {
    inner: R,
    hash: Fnv1a,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), SnapshotError> {
        self.inner.read_exact(buf)?;
        self.hash.update(buf);
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn flag(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid("flag byte")),
        }
    }

    fn var(&mut self) -> Result<u64, SnapshotError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(SnapshotError::Invalid("varint overflow"));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(SnapshotError::Invalid("varint too long"))
    }

    /// A count of items that follow, each taking at least one byte.
    fn count(&mut self) -> Result<usize, SnapshotError> {
        usize::try_from(self.var()?).map_err(|_| SnapshotError::Invalid("count"))
    }

    fn id(&mut self) -> Result<InstanceId, SnapshotError> {
        u16::try_from(self.var()?).map(InstanceId).map_err(|_| SnapshotError::Invalid("instance id out of range"))
    }

    fn f64(&mut self) -> Result<f64, SnapshotError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(f64::from_bits(u64::from_le_bytes(b)))
    }

    fn bytes(&mut self) -> Result<Blob, SnapshotError> {
        let len = self.var()?;
        if len > BLOB_LEN_MAX {
            return Err(SnapshotError::Invalid("string longer than the maximum"));
        }
        // Grows with the bytes actually read: a damaged length cannot make
        // the reader allocate more than the input holds.
        let mut v = Vec::with_capacity(len.min(64 * 1024) as usize);
        (&mut self.inner).take(len).read_to_end(&mut v)?;
        if v.len() as u64 != len {
            return Err(SnapshotError::Truncated);
        }
        self.hash.update(&v);
        Ok(v.into_boxed_slice())
    }

    fn dot(&mut self) -> Result<Dot, SnapshotError> {
        let dot = Dot { origin: self.id()?, seq: self.var()? };
        if dot.seq > crate::id::SEQ_MAX {
            return Err(SnapshotError::Invalid("sequence number above SEQ_MAX"));
        }
        Ok(dot)
    }

    fn vv(&mut self) -> Result<VersionVector, SnapshotError> {
        let n = self.count()?;
        let mut vv = VersionVector::new();
        let mut prev = None;
        for _ in 0..n {
            let id = self.id()?;
            let seq = self.var()?;
            if prev.is_some_and(|p| p >= id) || seq == 0 {
                return Err(SnapshotError::Invalid("version vector not sorted"));
            }
            prev = Some(id);
            vv.raise(id, seq);
        }
        Ok(vv)
    }

    fn sum(&mut self) -> Result<Sum, SnapshotError> {
        let mut b = [0u8; 16];
        self.exact(&mut b)?;
        let int = i128::from_le_bytes(b);
        let is_float = self.flag()?;
        let float = self.f64s()?;
        let big = self.f64s()?;
        Ok(Sum { int, float, big, is_float })
    }

    fn f64s(&mut self) -> Result<Vec<f64>, SnapshotError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            v.push(self.f64()?);
        }
        Ok(v)
    }

    fn cell(&mut self) -> Result<Cell, SnapshotError> {
        let n = self.count()?;
        let mut versions: Vec<Version> = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let v = Version::new(self.dot()?, Hlc(self.var()?), self.bytes()?);
            if versions.last().is_some_and(|p| p.pdot >= v.pdot) {
                return Err(SnapshotError::Invalid("register versions not sorted"));
            }
            versions.push(v);
        }
        let n = self.count()?;
        let mut runs: Vec<Run> = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let r = Run { origin: self.id()?, first: self.var()?, last: self.var()?, hlc: Hlc(self.var()?), sum: self.sum()? };
            if r.first > r.last || runs.last().is_some_and(|p| (p.origin, p.first) >= (r.origin, r.first)) {
                return Err(SnapshotError::Invalid("counter runs not sorted"));
            }
            runs.push(r);
        }
        Ok(Cell::from_parts(versions, runs))
    }

    fn tags(&mut self) -> Result<Vec<Tag>, SnapshotError> {
        let n = self.count()?;
        let mut tags: Vec<Tag> = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let t = Tag::new(self.dot()?, Hlc(self.var()?));
            if tags.last().is_some_and(|p| *p >= t) {
                return Err(SnapshotError::Invalid("set tags not sorted"));
            }
            tags.push(t);
        }
        Ok(tags)
    }

    fn u16le(&mut self) -> Result<u16, SnapshotError> {
        let mut b = [0u8; 2];
        self.exact(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn regs_pairs(&mut self) -> Result<Vec<(u16, u8)>, SnapshotError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n.min(REGISTERS));
        for _ in 0..n {
            v.push((self.u16le()?, self.u8()?));
        }
        Ok(v)
    }

    fn regs(&mut self) -> Result<Regs, SnapshotError> {
        let pairs = match self.u8()? {
            0 => self.regs_pairs()?,
            1 => {
                let mut dense = vec![0u8; REGISTERS];
                self.exact(&mut dense)?;
                dense.iter().enumerate().filter(|(_, &v)| v != 0).map(|(i, &v)| (i as u16, v)).collect()
            }
            _ => return Err(SnapshotError::Invalid("register form")),
        };
        let mut regs = Regs::default();
        let mut prev = None;
        for (i, v) in pairs {
            let valid = prev.is_none_or(|p| p < i) && (i as usize) < REGISTERS && (1..=REGISTER_MAX).contains(&v);
            if !valid || !regs.raise(i, v) {
                return Err(SnapshotError::Invalid("HyperLogLog registers"));
            }
            prev = Some(i);
        }
        Ok(regs)
    }

    fn hll(&mut self) -> Result<Hll, SnapshotError> {
        let settled = self.regs()?;
        let settled_ctx = self.vv()?;
        let settled_rank = Stamp { hlc: Hlc(self.var()?), origin: self.id()? };
        let n = self.count()?;
        let mut pending: Vec<PendingAdd> = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let p = PendingAdd { dot: self.dot()?, hlc: Hlc(self.var()?), ctx: self.vv()?, regs: self.regs_pairs()? };
            if pending.last().is_some_and(|q| q.dot >= p.dot) {
                return Err(SnapshotError::Invalid("pending HyperLogLog adds not sorted"));
            }
            pending.push(p);
        }
        Ok(Hll { settled, settled_ctx, settled_rank, pending })
    }

    fn list_elem(&mut self) -> Result<Elem, SnapshotError> {
        let id = self.dot()?;
        let hlc = Hlc(self.var()?);
        let anchor = if self.flag()? { Some(self.dot()?) } else { None };
        if anchor == Some(id) {
            return Err(SnapshotError::Invalid("list element anchored to itself"));
        }
        Ok(Elem::from_record(id, hlc, anchor, self.cell()?, self.vv()?))
    }

    fn list(&mut self) -> Result<List, SnapshotError> {
        let n = self.count()?;
        let mut placed = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            placed.push(self.list_elem()?);
        }
        let n = self.count()?;
        let mut orphans = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            orphans.push(self.list_elem()?);
        }
        let n = self.count()?;
        let mut early = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let id = self.dot()?;
            early.push((id, Early { cell: self.cell()?, rm: self.vv()? }));
        }
        List::from_parts(placed, orphans, early).map_err(SnapshotError::Invalid)
    }

    fn kind(&mut self) -> Result<Kind, SnapshotError> {
        kind_of_code(self.u8()?).ok_or(SnapshotError::Invalid("unknown type code"))
    }

    /// One arm per type, the pair of [`put_value`].
    fn value(&mut self) -> Result<Value, SnapshotError> {
        let mut value = Value::empty(self.kind()?);
        match &mut value {
            Value::Str(cell) => *cell = self.cell()?,
            Value::Hash(fields) => {
                let n = self.count()?;
                let mut cells: Vec<(Blob, Cell)> = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    cells.push((self.bytes()?, self.cell()?));
                }
                let distinct: std::collections::HashSet<&[u8]> = cells.iter().map(|(f, _)| &f[..]).collect();
                if distinct.len() != cells.len() {
                    return Err(SnapshotError::Invalid("duplicate hash field"));
                }
                // Packed if it fits Redis's default limits (the loading
                // instance's own apply from its next write on).
                *fields = crate::fields::Fields::from_cells(cells, &Default::default(), true);
            }
            Value::Set(set) => {
                let members = &mut set.members;
                let n = self.count()?;
                members.reserve(n.min(1024));
                for _ in 0..n {
                    let member = self.bytes()?;
                    let tags = self.tags()?;
                    if members.insert(member, tags.into()).is_some() {
                        return Err(SnapshotError::Invalid("duplicate set member"));
                    }
                }
            }
            Value::ZSet(z) => {
                let ZSet { members, index } = &mut **z;
                let n = self.count()?;
                members.reserve(n.min(1024));
                for _ in 0..n {
                    let member = self.bytes()?;
                    let score = self.f64()?;
                    let cell = self.cell()?;
                    index.insert((Score(score), member.clone()));
                    if members.insert(member, (cell, score)).is_some() {
                        return Err(SnapshotError::Invalid("duplicate sorted-set member"));
                    }
                }
            }
            Value::Hll(hll) => **hll = self.hll()?,
            Value::List(list) => **list = self.list()?,
            Value::Stream(s) => **s = crate::stream::Stream::decode(&self.bytes()?).map_err(SnapshotError::Invalid)?,
        }
        Ok(value)
    }

    fn entry(&mut self) -> Result<Entry, SnapshotError> {
        let value = if self.flag()? { Some(self.value()?) } else { None };
        let n = self.count()?;
        let mut hidden = Vec::with_capacity(n.min(8));
        for _ in 0..n {
            hidden.push(self.value()?);
        }
        let n = self.count()?;
        let mut ttl: Vec<TtlVersion> = Vec::with_capacity(n.min(8));
        for _ in 0..n {
            let dot = self.dot()?;
            let at_ms = if self.flag()? { Some(self.var()?) } else { None };
            ttl.push(TtlVersion { dot, at_ms });
        }
        Ok(Entry::new(value, hidden, ttl))
    }

    fn scope(&mut self) -> Result<Scope, SnapshotError> {
        Ok(match self.u8()? {
            0 => Scope::Key,
            1 => Scope::Values,
            2 => Scope::Member(self.kind()?, self.bytes()?),
            3 => Scope::Ttl,
            _ => return Err(SnapshotError::Invalid("tombstone scope")),
        })
    }
}

/// A decoded snapshot: the keyspace and the caller's extra pairs.
#[derive(Debug)]
pub struct Loaded {
    pub db: Db,
    pub aux: Aux,
}

/// The part of a snapshot that is not keys.
struct Header {
    me: InstanceId,
    seq: u64,
    clock: Clock,
    vv: VersionVector,
    observed: BTreeMap<InstanceId, VersionVector>,
    aux: Aux,
}

impl<R: Read> Reader<R> {
    fn header(&mut self) -> Result<Header, SnapshotError> {
        let me = self.id()?;
        let seq = self.var()?;
        let mut clock = Clock::default();
        clock.observe(Hlc(self.var()?));
        let vv = self.vv()?;
        let mut observed = BTreeMap::new();
        for _ in 0..self.count()? {
            let id = self.id()?;
            if observed.insert(id, self.vv()?).is_some() {
                return Err(SnapshotError::Invalid("duplicate observed vector"));
            }
        }
        let mut aux = Vec::new();
        for _ in 0..self.count()? {
            aux.push((self.bytes()?, self.bytes()?));
        }
        Ok(Header { me, seq, clock, vv, observed, aux })
    }
}

/// Reads a whole snapshot from `input` (exactly: nothing may follow it).
pub fn read_snapshot<R: Read>(input: R) -> Result<Loaded, SnapshotError> {
    let mut r = Reader { inner: input, hash: Fnv1a::new() };
    let mut magic = [0u8; 8];
    r.exact(&mut magic)?;
    if &magic != SNAPSHOT_MAGIC {
        return Err(SnapshotError::Magic);
    }
    let format = r.u8()?;
    if format != SNAPSHOT_FORMAT && format != SNAPSHOT_FORMAT_V1 {
        return Err(SnapshotError::Version(format));
    }
    let v1 = format == SNAPSHOT_FORMAT_V1;
    let mut header = if v1 { Some(r.header()?) } else { None };
    let mut entries = crate::db::Entries::default();
    let mut tombstones: HashMap<Blob, Vec<Tombstone>> = HashMap::new();
    let mut unfolded = HashSet::new();
    let mut hll = HllMeta::default();
    let mut items = [0u64; ITEM_KINDS];
    loop {
        let tag = r.u8()?;
        if (1..=ITEM_KINDS as u8).contains(&tag) {
            items[tag as usize - 1] += 1;
        }
        match tag {
            ITEM_ENTRY => {
                let key = r.bytes()?;
                let entry = r.entry()?;
                // Format 2: a later entry of a key replaces the earlier one.
                if entries.insert(key.into(), entry).is_some() && v1 {
                    return Err(SnapshotError::Invalid("duplicate key"));
                }
            }
            ITEM_ABSENT if !v1 => {
                entries.swap_remove(&r.bytes()?[..]);
            }
            ITEM_TOMBSTONES => {
                let key = r.bytes()?;
                let n = r.count()?;
                let mut list = Vec::with_capacity(n.min(16));
                for _ in 0..n {
                    list.push(Tombstone { scope: r.scope()?, ctx: r.vv()? });
                }
                if tombstones.insert(key, list).is_some() {
                    return Err(SnapshotError::Invalid("duplicate tombstone key"));
                }
            }
            ITEM_UNFOLDED => {
                if !unfolded.insert(r.bytes()?) {
                    return Err(SnapshotError::Invalid("duplicate unfolded key"));
                }
            }
            ITEM_HLL_DELS => {
                let key = r.bytes()?;
                if hll.dels.insert(key, r.vv()?).is_some() {
                    return Err(SnapshotError::Invalid("duplicate HyperLogLog removals key"));
                }
            }
            ITEM_HLL_PENDING => {
                if !hll.pending.insert(r.bytes()?) {
                    return Err(SnapshotError::Invalid("duplicate HyperLogLog pending key"));
                }
            }
            ITEM_END => break,
            _ => return Err(SnapshotError::Invalid("unknown item tag")),
        }
    }
    let Header { me, seq, clock, vv, observed, aux } = match header.take() {
        Some(h) => h,
        None => r.header()?,
    };
    if v1 {
        // Format 1 counts distinct keys per map.
        let counts = [entries.len(), tombstones.len(), unfolded.len(), hll.dels.len(), hll.pending.len()];
        for n in &counts[..ITEM_KINDS_V1] {
            if r.var()? != *n as u64 {
                return Err(SnapshotError::Invalid("item counts disagree with the end marker"));
            }
        }
    } else {
        for n in items {
            if r.var()? != n {
                return Err(SnapshotError::Invalid("item counts disagree with the end marker"));
            }
        }
    }
    let computed = r.hash.0;
    let mut stored = [0u8; 8];
    r.inner.read_exact(&mut stored)?;
    if u64::from_le_bytes(stored) != computed {
        return Err(SnapshotError::Checksum);
    }
    let mut rest = [0u8; 1];
    if r.inner.read(&mut rest)? != 0 {
        return Err(SnapshotError::Invalid("bytes after the end of the snapshot"));
    }
    // Lists log their tombstones for collection again.
    for (key, e) in entries.iter_mut() {
        if crate::db::seal_lists(e, &vv, false) {
            unfolded.insert(key[..].into());
        }
    }
    let db = Db { me, clock, seq, vv, entries, tombstones, observed, unfolded, hll, stats: Stats::default(), capture: None, hash_limits: Default::default() };
    Ok(Loaded { db, aux })
}

/// Decodes a snapshot held in memory.
pub fn decode(bytes: &[u8]) -> Result<Loaded, SnapshotError> {
    read_snapshot(bytes)
}

// ---- one value (DUMP / RESTORE) --------------------------------------------

/// The footer of a dumped value: a tag, the encoding's format, then an FNV-1a
/// checksum of everything before it.
const DUMP_TAG: &[u8; 2] = b"CV";

/// One value in the snapshot's encoding, with a footer (format and
/// checksum): the payload of DUMP.
pub fn dump_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    put_value(&mut out, value);
    out.extend_from_slice(DUMP_TAG);
    out.push(SNAPSHOT_FORMAT);
    let mut hash = Fnv1a::new();
    hash.update(&out);
    out.extend_from_slice(&hash.0.to_le_bytes());
    out
}

/// Reads what [`dump_value`] wrote. A payload from another format (Redis's
/// RDB encoding, another version) or a damaged one is refused, never half
/// read: the checksum is checked before decoding and every byte must be
/// used.
pub fn restore_value(payload: &[u8]) -> Result<Value, SnapshotError> {
    let footer = DUMP_TAG.len() + 1 + 8;
    if payload.len() < footer + 1 {
        return Err(SnapshotError::Truncated);
    }
    let (body, sum) = payload.split_at(payload.len() - 8);
    let mut hash = Fnv1a::new();
    hash.update(body);
    if hash.0.to_le_bytes() != sum {
        return Err(SnapshotError::Checksum);
    }
    let (body, tail) = body.split_at(body.len() - DUMP_TAG.len() - 1);
    if &tail[..DUMP_TAG.len()] != DUMP_TAG {
        return Err(SnapshotError::Magic);
    }
    if tail[DUMP_TAG.len()] != SNAPSHOT_FORMAT {
        return Err(SnapshotError::Version(tail[DUMP_TAG.len()]));
    }
    let mut reader = Reader { inner: body, hash: Fnv1a::new() };
    let value = reader.value()?;
    if !reader.inner.is_empty() {
        return Err(SnapshotError::Invalid("bytes after the value"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::effect::{Effect, Op};
    use crate::num::Delta;

    const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];
    const MEMBERS: [&str; 3] = ["a", "b", "c"];
    const VALUES: [&str; 5] = ["5", "-3", "1.5", "x", ""];
    const FLOATS: [f64; 7] = [0.1, -0.7, 2.5, 1e16, -0.0, f64::INFINITY, f64::NEG_INFINITY];

    fn b(s: &str) -> Blob {
        s.as_bytes().into()
    }

    fn member_ctx(db: &Db, key: &str, kind: Kind, member: &str) -> VersionVector {
        let mut vv = VersionVector::new();
        let Some(e) = db.entries.get(key.as_bytes()) else { return vv };
        for v in e.values().filter(|v| v.kind() == kind) {
            match v {
                Value::Str(_) | Value::Hll(_) | Value::List(_) | Value::Stream(_) => {}
                Value::Hash(h) => h.get(member.as_bytes()).into_iter().for_each(|c| c.ctx(&mut vv)),
                Value::Set(s) => s.members.get(member.as_bytes()).into_iter().for_each(|t| crate::value::tags_ctx(t, &mut vv)),
                Value::ZSet(z) => z.members.get(member.as_bytes()).into_iter().for_each(|(c, _)| c.ctx(&mut vv)),
            }
        }
        vv
    }

    /// A random op resolved against `db` the way an origin resolves it.
    /// Contexts sometimes cover dots `db` has not seen yet (as if the origin
    /// had): receivers then keep pending tombstones.
    fn random_op(rng: &mut SmallRng, db: &Db, now: u64) -> Op {
        let key = KEYS[rng.gen_range(0..KEYS.len())];
        let m = MEMBERS[rng.gen_range(0..MEMBERS.len())];
        let k = b(key);
        let mut key_ctx = db.entries.get(key.as_bytes()).map(Entry::ctx).unwrap_or_default();
        if rng.gen_range(0..8) == 0 {
            key_ctx.raise(InstanceId(rng.gen_range(1..=4)), rng.gen_range(1..40));
        }
        let value = b(VALUES[rng.gen_range(0..VALUES.len())]);
        let float = FLOATS[rng.gen_range(0..FLOATS.len())];
        match rng.gen_range(0..22) {
            0 | 1 => Op::Set { key: k, ctx: key_ctx, value, keep_ttl: rng.gen() },
            2 => Op::Incr { key: k, delta: Delta::Int(rng.gen_range(-5..50)) },
            3 => Op::Incr { key: k, delta: Delta::Float(float) },
            4 => Op::Del { key: k, ctx: key_ctx },
            5 => Op::HSet { key: k, field: b(m), ctx: member_ctx(db, key, Kind::Hash, m), value },
            6 => Op::HIncr { key: k, field: b(m), delta: Delta::Int(rng.gen_range(-5..5)) },
            7 => Op::HDel { key: k, field: b(m), ctx: member_ctx(db, key, Kind::Hash, m) },
            8 | 9 => Op::SAdd { key: k, member: b(m), ctx: member_ctx(db, key, Kind::Set, m) },
            10 => Op::SRem { key: k, member: b(m), ctx: member_ctx(db, key, Kind::Set, m) },
            11 => Op::ZAdd { key: k, member: b(m), ctx: member_ctx(db, key, Kind::ZSet, m), score: float },
            12 => Op::ZIncr { key: k, member: b(m), delta: float },
            13 => Op::ZRem { key: k, member: b(m), ctx: member_ctx(db, key, Kind::ZSet, m) },
            14 => {
                let mut ctx = VersionVector::new();
                if let Some(e) = db.entries.get(key.as_bytes()) {
                    e.ttl().iter().for_each(|t| ctx.observe(t.dot));
                }
                let at_ms = rng.gen_bool(0.8).then(|| now + rng.gen_range(0..10_000));
                Op::Expire { key: k, ctx, at_ms }
            }
            15 | 16 => {
                let regs = (0..rng.gen_range(1..4)).map(|_| (rng.gen_range(0..16384u16), rng.gen_range(1..12u8))).collect();
                // `Db::commit` fills in the context of an add.
                Op::HllAdd { key: k, regs, ctx: VersionVector::new() }
            }
            19..=21 => {
                // List ops on a random element (or the head), with the
                // element's observed context.
                let elems: Vec<&Elem> = match db.get(key.as_bytes()).and_then(|e| e.value.as_ref()) {
                    Some(Value::List(l)) => l.iter().collect(),
                    _ => Vec::new(),
                };
                let pick = (!elems.is_empty()).then(|| elems[rng.gen_range(0..elems.len())]);
                let mut ctx = VersionVector::new();
                if let Some(e) = pick {
                    e.ctx(&mut ctx);
                }
                match (rng.gen_range(0..3), pick) {
                    (1, Some(e)) => Op::ListRemove { key: k, elems: vec![e.id()], ctx },
                    (2, Some(e)) => Op::ListSet { key: k, elem: e.id(), ctx, value },
                    (_, e) => Op::ListInsert { key: k, anchor: e.map(|e| e.id()), value },
                }
            }
            _ => Op::Observed { vv: db.vv.clone() },
        }
    }

    /// Instances committing random ops and receiving each other's effects
    /// in random per-origin order, with merges and gc: their states hold
    /// hidden type-conflict losers, pending tombstones, unfolded runs, TTLs.
    fn random_dbs(seed: u64) -> Vec<Db> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let n = rng.gen_range(1..=4usize);
        let ids: Vec<InstanceId> = (1..=n as u16).map(InstanceId).collect();
        let mut dbs: Vec<Db> = ids
            .iter()
            .map(|&id| {
                let mut db = Db::new(id);
                db.set_members(&ids);
                db
            })
            .collect();
        let mut logs: Vec<Vec<Effect>> = vec![Vec::new(); n];
        let mut delivered = vec![vec![0usize; n]; n];
        let mut now = 1_000_000u64;
        for _ in 0..rng.gen_range(0..120) {
            let i = rng.gen_range(0..n);
            let j = rng.gen_range(0..n);
            now += rng.gen_range(0..50);
            match rng.gen_range(0..10) {
                0..=4 => {
                    let op = random_op(&mut rng, &dbs[i], now);
                    let e = dbs[i].commit(op, now - rng.gen_range(0..5));
                    logs[i].push(e);
                }
                5..=7 if i != j => {
                    for _ in 0..rng.gen_range(1..5) {
                        let Some(e) = logs[j].get(delivered[i][j]) else { break };
                        dbs[i].apply(e);
                        delivered[i][j] += 1;
                    }
                }
                8 if i != j && rng.gen_range(0..3) == 0 => {
                    let other = dbs[j].clone();
                    dbs[i].merge(&other);
                }
                _ => {
                    dbs[i].gc();
                }
            }
        }
        dbs
    }

    /// A value in a canonical text form: maps sorted, floats by their
    /// bits (a NaN score or sum makes `PartialEq` on values irreflexive),
    /// HyperLogLogs field by field (`Hll`'s own equality is semantic).
    fn canon(v: &Value) -> String {
        fn sorted<T: std::fmt::Debug>(mut items: Vec<(&Blob, T)>) -> String {
            items.sort_by(|x, y| x.0.cmp(y.0));
            format!("{items:?}")
        }
        match v {
            Value::Str(c) => format!("str {c:?}"),
            Value::Hash(h) => {
                let mut fields: Vec<(&[u8], String)> = h.iter().map(|(f, c)| (f, format!("{:?}", c.as_cell()))).collect();
                fields.sort();
                format!("hash {fields:?}")
            }
            Value::Set(s) => format!("set {}", sorted(s.members.iter().collect())),
            Value::ZSet(z) => {
                let index: Vec<_> = z.index.iter().map(|(s, m)| (s.0.to_bits(), m)).collect();
                let members = sorted(z.members.iter().map(|(m, (c, s))| (m, (format!("{c:?}"), s.to_bits()))).collect());
                format!("zset {members} index {index:?}")
            }
            Value::Hll(h) => format!("hll {:?} {:?} {:?} {:?}", h.settled, h.settled_ctx, h.settled_rank, h.pending),
            Value::List(l) => {
                let placed: Vec<&Elem> = l.placed_elems().collect();
                format!("list {placed:?} orphans {:?} early {:?}", l.orphan_elems(), l.early_records())
            }
            Value::Stream(s) => format!("stream {s:?}"),
        }
    }

    fn canon_entry(e: &Entry) -> String {
        let value = e.value.as_ref().map(canon);
        let hidden: Vec<String> = e.hidden().iter().map(canon).collect();
        format!("{value:?} hidden {hidden:?} ttl {:?}", e.ttl())
    }

    fn assert_same(a: &Db, b: &Db) {
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.me, b.me);
        assert_eq!(a.seq, b.seq);
        assert_eq!(a.clock.last(), b.clock.last());
        assert_eq!(a.vv, b.vv);
        assert_eq!(a.observed, b.observed);
        assert!(a.entries.keys().eq(b.entries.keys()), "same keys in the same order (SCAN, RANDOMKEY)");
        for (key, ea) in &a.entries {
            assert_eq!(canon_entry(ea), canon_entry(&b.entries[key]), "key {:?}", String::from_utf8_lossy(key));
        }
        assert_eq!(a.tombstones, b.tombstones);
        assert_eq!(a.unfolded, b.unfolded);
        assert_eq!(a.hll, b.hll);
    }

    fn round_trip(db: &Db) -> Db {
        let aux: [(&[u8], &[u8]); 2] = [(b"repl-history", b"\x01abc"), (b"", b"")];
        let bytes = encode(db, &aux);
        let loaded = decode(&bytes).unwrap_or_else(|e| panic!("decode: {e}"));
        assert_eq!(loaded.aux, aux.iter().map(|(k, v)| (Blob::from(*k), Blob::from(*v))).collect::<Vec<_>>());
        assert_same(db, &loaded.db);
        loaded.db
    }

    /// How much of each kind of metadata the generated Dbs hold.
    #[derive(Debug, Default)]
    struct Reached {
        tombstones: usize,
        hidden: usize,
        runs: usize,
        ttls: usize,
        hlls: usize,
        hll_pending_adds: usize,
        hll_dels: usize,
        lists: usize,
        list_tombstones: usize,
    }

    impl Reached {
        fn add(&mut self, db: &Db) {
            self.tombstones += db.tombstones.len();
            self.hll_dels += db.hll.dels.len();
            for e in db.entries.values() {
                self.hidden += e.hidden().len();
                self.ttls += e.ttl().len();
                for v in e.values() {
                    match v {
                        Value::Str(c) => self.runs += c.runs().len(),
                        Value::Hash(h) => self.runs += h.values().map(|c| c.as_cell().runs().len()).sum::<usize>(),
                        Value::ZSet(z) => self.runs += z.members.values().map(|(c, _)| c.runs().len()).sum::<usize>(),
                        Value::Set(_) | Value::Stream(_) => {}
                        Value::List(l) => {
                            self.list_tombstones += l.tombstones();
                            self.lists += 1;
                        }
                        Value::Hll(h) => {
                            self.hlls += 1;
                            self.hll_pending_adds += h.pending.len();
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn snapshot_round_trips_random_dbs() {
        let mut reached = Reached::default();
        for seed in 0..300 {
            for db in random_dbs(seed) {
                round_trip(&db);
                reached.add(&db);
            }
        }
        // The generator reaches the metadata the format must carry.
        let r = &reached;
        let all = [r.tombstones, r.hidden, r.runs, r.ttls, r.hlls, r.hll_pending_adds, r.hll_dels, r.lists, r.list_tombstones];
        assert!(all.iter().all(|&n| n > 0), "{reached:?}");
    }

    /// A decoded Db behaves as the original: the same later effects and
    /// merges give the same state.
    #[test]
    fn decoded_db_evolves_like_the_original() {
        for seed in 0..100 {
            let dbs = random_dbs(seed);
            let mut rng = SmallRng::seed_from_u64(seed ^ 0xfeed);
            for db in &dbs {
                let mut a = db.clone();
                let mut b = round_trip(db);
                for step in 0..30u64 {
                    let op = random_op(&mut rng, &a, 2_000_000 + step);
                    let ea = a.commit(op.clone(), 2_000_000 + step);
                    let eb = b.commit(op, 2_000_000 + step);
                    assert_eq!(ea, eb);
                }
                for other in &dbs {
                    a.merge(other);
                    b.merge(other);
                }
                a.gc();
                b.gc();
                assert_same(&a, &b);
            }
        }
    }

    #[test]
    fn empty_db_round_trips() {
        let db = Db::new(InstanceId(3));
        let bytes = encode(&db, &[]);
        assert!(bytes.len() < 40, "{} bytes", bytes.len());
        round_trip(&db);
    }

    #[test]
    fn streaming_writer_matches_write_snapshot() {
        let db = random_dbs(7).pop().unwrap();
        let mut w = SnapshotWriter::new(Vec::new()).unwrap();
        for (k, e) in &db.entries {
            w.entry(k, e).unwrap();
        }
        for (k, l) in &db.tombstones {
            w.tombstones(k, l).unwrap();
        }
        for k in &db.unfolded {
            w.unfolded(k).unwrap();
        }
        for (k, dels) in &db.hll.dels {
            w.hll_dels(k, dels).unwrap();
        }
        for k in &db.hll.pending {
            w.hll_pending(k).unwrap();
        }
        let bytes = w.finish(&db, &[]).unwrap();
        assert_same(&db, &decode(&bytes).unwrap().db);
        assert_eq!(bytes, encode(&db, &[]));
    }

    /// Format 1, as builds before format 2 wrote it: the header first, each
    /// key once, the counts of distinct keys.
    fn encode_v1(db: &Db, aux: &[(&[u8], &[u8])], extra_items: &[u8]) -> Vec<u8> {
        let mut b = SNAPSHOT_MAGIC.to_vec();
        b.push(SNAPSHOT_FORMAT_V1);
        put_var(&mut b, db.me.0 as u64);
        put_var(&mut b, db.seq);
        put_var(&mut b, db.clock.last().0);
        put_vv(&mut b, &db.vv);
        put_var(&mut b, db.observed.len() as u64);
        for (id, vv) in &db.observed {
            put_var(&mut b, id.0 as u64);
            put_vv(&mut b, vv);
        }
        put_var(&mut b, aux.len() as u64);
        for (k, v) in aux {
            put_bytes(&mut b, k);
            put_bytes(&mut b, v);
        }
        // The items are format 2's items (less "absent"), in the same order.
        let mut w = SnapshotWriter::new(Vec::new()).unwrap();
        for (k, e) in &db.entries {
            w.entry(k, e).unwrap();
        }
        w.side_maps(db).unwrap();
        let items = &w.out[SNAPSHOT_MAGIC.len() + 1..];
        b.extend_from_slice(items);
        b.extend_from_slice(extra_items);
        b.push(ITEM_END);
        for n in [db.entries.len(), db.tombstones.len(), db.unfolded.len(), db.hll.dels.len(), db.hll.pending.len()] {
            put_var(&mut b, n as u64);
        }
        let mut h = Fnv1a::new();
        h.update(&b);
        b.extend_from_slice(&h.0.to_le_bytes());
        b
    }

    #[test]
    fn format_1_still_loads() {
        for seed in 0..50 {
            for db in random_dbs(seed) {
                let aux: [(&[u8], &[u8]); 1] = [(b"concord-offset", b"12345678")];
                let loaded = decode(&encode_v1(&db, &aux, &[])).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                assert_same(&db, &loaded.db);
                assert_eq!(loaded.aux, vec![(b("concord-offset"), b("12345678"))]);
            }
        }
        // Format 1 never had replaced or absent keys.
        let db = Db::new(InstanceId(1));
        assert!(decode(&encode_v1(&db, &[], &[])).is_ok());
        let v1 = encode_v1(&db, &[], &[ITEM_ABSENT, 1, b'k']);
        assert!(matches!(decode(&v1), Err(SnapshotError::Invalid("unknown item tag"))), "{:?}", decode(&v1).err());
    }

    /// Everything but the order of the keys (a capture writes changed keys
    /// again, so the decoded order differs from the original's).
    fn assert_same_state(a: &Db, b: &Db) {
        assert_eq!(a.digest(), b.digest());
        assert_eq!((a.me, a.seq, a.clock.last()), (b.me, b.seq, b.clock.last()));
        assert_eq!(a.vv, b.vv);
        assert_eq!(a.observed, b.observed);
        let keys = |d: &Db| {
            let mut k: Vec<&crate::db::Key> = d.entries.keys().collect();
            k.sort();
            k.into_iter().map(|k| Blob::from(&k[..])).collect::<Vec<Blob>>()
        };
        assert_eq!(keys(a), keys(b));
        for (key, ea) in &a.entries {
            assert_eq!(canon_entry(ea), canon_entry(&b.entries[key]), "key {:?}", String::from_utf8_lossy(key));
        }
        assert_eq!(a.tombstones, b.tombstones);
        assert_eq!(a.unfolded, b.unfolded);
        assert_eq!(a.hll, b.hll);
    }

    /// A random change to `db`: ops on the four shared keys (resolved as an
    /// origin would), deletes of random keys (the last key moves into the
    /// hole), new keys, remote effects, merges and GC.
    fn mutate(rng: &mut SmallRng, db: &mut Db, others: &mut [Db], log: &mut Vec<Effect>, now: &mut u64) {
        *now += rng.gen_range(0..20);
        match rng.gen_range(0..12) {
            0..=2 => {
                let op = random_op(rng, db, *now);
                db.commit(op, *now);
            }
            3 | 4 if !db.entries.is_empty() => {
                let i = rng.gen_range(0..db.entries.len());
                let (key, e) = db.entries.get_index(i).unwrap();
                let op = Op::Del { key: Blob::from(&key[..]), ctx: e.ctx() };
                db.commit(op, *now);
            }
            5 | 6 => {
                let key = format!("n{}", rng.gen_range(0..1000)).into_bytes().into_boxed_slice();
                let op = Op::Set { key, ctx: VersionVector::new(), value: b("v"), keep_ttl: false };
                db.commit(op, *now);
            }
            7 | 8 if !others.is_empty() => {
                // Another instance's effects reach this one.
                let j = rng.gen_range(0..others.len());
                let op = random_op(rng, &others[j], *now);
                let e = others[j].commit(op, *now);
                log.push(e.clone());
                db.apply(&e);
            }
            9 if !others.is_empty() && rng.gen_range(0..4) == 0 => {
                let j = rng.gen_range(0..others.len());
                let other = others[j].clone();
                db.merge(&other);
            }
            _ => {
                db.gc();
            }
        }
    }

    /// A capture taken while the keyspace keeps changing between its steps
    /// decodes to exactly the state at `finish`.
    fn capture_while_changing(seed: u64) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut dbs = random_dbs(seed);
        let mut db = dbs.remove(0);
        let mut log = Vec::new();
        let mut now = 3_000_000u64;
        for i in 0..rng.gen_range(0..80) {
            let key = format!("k{i}").into_bytes().into_boxed_slice();
            db.commit(Op::Set { key, ctx: VersionVector::new(), value: b("x"), keep_ttl: false }, now);
        }
        let mut cap = Capture::begin(&mut db);
        let mut steps = 0;
        while cap.pending(&db) > 0 && steps < 200 {
            for _ in 0..rng.gen_range(0..6) {
                mutate(&mut rng, &mut db, &mut dbs, &mut log, &mut now);
            }
            cap.step(&mut db, rng.gen_range(1..8)).unwrap();
            steps += 1;
        }
        for _ in 0..rng.gen_range(0..4) {
            mutate(&mut rng, &mut db, &mut dbs, &mut log, &mut now);
        }
        let aux: [(&[u8], &[u8]); 1] = [(b"offset", b"final")];
        let bytes = cap.finish(&mut db, &aux).unwrap().seal().concat();
        assert!(db.capture.is_none(), "finish turns tracking off");
        let loaded = decode(&bytes).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(loaded.aux, vec![(b("offset"), b("final"))]);
        assert_same_state(&db, &loaded.db);
    }

    #[test]
    fn capture_in_steps_is_the_final_state() {
        for seed in 0..300 {
            capture_while_changing(seed);
        }
    }

    #[test]
    fn a_capture_of_a_still_keyspace_is_encode() {
        let mut db = random_dbs(5).pop().unwrap();
        let mut cap = Capture::begin(&mut db);
        while cap.pending(&db) > 0 {
            cap.step(&mut db, 2).unwrap();
        }
        let bytes = cap.finish(&mut db, &[]).unwrap().seal().concat();
        assert_eq!(bytes, encode(&db, &[]));
    }

    #[test]
    fn a_replaced_keyspace_loses_the_capture() {
        let mut db = random_dbs(9).pop().unwrap();
        let mut cap = Capture::begin(&mut db);
        db = Db::new(InstanceId(1));
        assert_eq!(cap.step(&mut db, 1), Err(CaptureLost));
        let mut db = random_dbs(9).pop().unwrap();
        let old = Capture::begin(&mut db);
        let new = Capture::begin(&mut db);
        assert!(old.finish(&mut db, &[]).is_err());
        new.abort(&mut db);
        assert!(db.capture.is_none());
    }

    #[test]
    fn chunks_never_grow_one_buffer_past_a_piece() {
        let mut c = Chunks::default();
        for _ in 0..3000 {
            c.write_all(&[7u8; 1000]).unwrap();
        }
        assert_eq!(c.len(), 3_000_000);
        assert!(c.pieces.iter().all(|p| p.len() <= CHUNK_BYTES && p.capacity() == CHUNK_BYTES));
        c.write_all(&vec![1u8; 3 * CHUNK_BYTES]).unwrap();
        assert_eq!(c.pieces.last().unwrap().len(), 3 * CHUNK_BYTES);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let db = random_dbs(11).pop().unwrap();
        let bytes = encode(&db, &[(b"x", b"y")]);
        for cut in 0..bytes.len() {
            let e = decode(&bytes[..cut]).expect_err("a truncated snapshot is refused");
            assert!(matches!(e, SnapshotError::Truncated | SnapshotError::Magic), "cut {cut}: {e}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(SnapshotError::Invalid(_))));
    }

    /// DUMP's payload: every value of random databases comes back equal;
    /// every truncation and every flipped byte is refused.
    #[test]
    fn dumped_values_restore_equal_and_damage_is_refused() {
        let mut checked = 0;
        for db in (1..=8).flat_map(random_dbs) {
            for (key, entry) in db.entries.iter() {
                let Some(value) = entry.value.as_ref() else { continue };
                let payload = dump_value(value);
                assert!(restore_value(&payload).expect("restores") == *value, "key {key:?}");
                for cut in 0..payload.len() {
                    assert!(restore_value(&payload[..cut]).is_err(), "cut {cut}");
                }
                for at in 0..payload.len() {
                    let mut bad = payload.clone();
                    bad[at] ^= 0x10;
                    assert!(restore_value(&bad).is_err(), "flip at {at}");
                }
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} values");
    }

    #[test]
    fn header_errors_are_clear() {
        let bytes = encode(&Db::new(InstanceId(1)), &[]);
        assert!(matches!(decode(b"NOTASNAPSHOT"), Err(SnapshotError::Magic)));
        let mut v = bytes.clone();
        v[8] = 3;
        let e = decode(&v).unwrap_err();
        assert_eq!(e.to_string(), "unknown snapshot format 3 (this build reads 1 and 2)");
        let mut v = bytes;
        let n = v.len();
        v[n - 1] ^= 1;
        assert!(matches!(decode(&v), Err(SnapshotError::Checksum)));
    }

    #[test]
    fn type_codes_are_stable_and_invertible() {
        for (kind, code) in [(Kind::String, 0), (Kind::Hash, 1), (Kind::Set, 2), (Kind::ZSet, 3)] {
            assert_eq!(kind_code(kind), code);
            assert_eq!(kind_of_code(code), Some(kind));
        }
        assert_eq!(kind_of_code(200), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_snapshot_round_trips(seed in any::<u64>()) {
            for db in random_dbs(seed) {
                round_trip(&db);
            }
        }

        #[test]
        fn prop_capture_in_steps_is_the_final_state(seed in any::<u64>()) {
            capture_while_changing(seed);
        }

        /// Damaged bytes never panic the decoder and never decode silently.
        #[test]
        fn prop_damage_is_detected(seed in 0u64..500, flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4)) {
            let db = random_dbs(seed).pop().unwrap();
            let mut bytes = encode(&db, &[(b"k", b"v")]);
            let mut seen = HashSet::new();
            for (at, x) in flips {
                let i = at % bytes.len();
                if seen.insert(i) {
                    bytes[i] ^= x;
                }
            }
            prop_assert!(decode(&bytes).is_err());
        }

        /// Arbitrary bytes after a valid header never panic the decoder.
        #[test]
        fn prop_garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = SNAPSHOT_MAGIC.to_vec();
            bytes.push(SNAPSHOT_FORMAT);
            bytes.extend_from_slice(&tail);
            let _ = decode(&bytes);
        }
    }
}

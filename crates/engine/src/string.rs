//! Strings and counters: GET/SET family, INCR family, APPEND, ranges.

use crdt::{Blob, Cell, Delta, Kind, Op, Shown, Value, VersionVector};
use resp::Frame;

use crate::args::{self, eq};
use crate::{bulk, err, error, int, notify, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    Some(match name {
        "get" => get(e, &a[1]),
        "set" => set(e, a),
        "setnx" => setnx(e, a),
        "setex" => setex(e, a, 1000),
        "psetex" => setex(e, a, 1),
        "getset" => getset(e, a),
        "getdel" => getdel(e, a),
        "getex" => getex(e, a),
        "mget" => Frame::Array(a[1..].iter().map(|k| get(e, k)).map(|f| if matches!(f, Frame::Error(_)) { Frame::Null } else { f }).collect()),
        "mset" => mset(e, a, false),
        "msetnx" => mset(e, a, true),
        "append" => append(e, a),
        "strlen" => match read_str(e, &a[1], Access::Read) {
            Ok(Some(v)) => int(v.len() as i64),
            Ok(None) => int(0),
            Err(f) => f,
        },
        "getrange" | "substr" => getrange(e, a),
        "setrange" => setrange(e, a),
        "incr" => incr(e, &a[1], 1),
        "decr" => incr(e, &a[1], -1),
        "incrby" => match args::int(&a[2]) {
            Ok(d) => incr(e, &a[1], d),
            Err(f) => f,
        },
        "decrby" => match args::int(&a[2]) {
            Ok(d) if d == i64::MIN => error("ERR decrement would overflow"),
            Ok(d) => incr(e, &a[1], -d),
            Err(f) => f,
        },
        "incrbyfloat" => incrbyfloat(e, a),
        _ => return None,
    })
}

/// Renders what a string cell shows as bytes.
pub(crate) fn cell_bytes(cell: &Cell) -> Vec<u8> {
    shown_bytes(cell.shown())
}

/// The bytes a client sees for what a cell shows.
pub(crate) fn shown_bytes(shown: crdt::Shown<'_>) -> Vec<u8> {
    match shown {
        Shown::Absent => Vec::new(),
        Shown::Bytes(b) => b.to_vec(),
        Shown::Int(i) => i.to_string().into_bytes(),
        Shown::Float(f) => args::fmt_float(f).into_bytes(),
    }
}

/// The string value of a key: Ok(None) if absent, Err(WRONGTYPE) if another type.
pub(crate) fn read_str(e: &mut Engine, key: &[u8], access: Access) -> Result<Option<Vec<u8>>, Frame> {
    let hit = matches!(access, Access::Read);
    let r = match e.typed(key, Kind::String, access) {
        Ok(Some(Value::Str(cell))) => Some(cell_bytes(cell)),
        Ok(_) => None,
        // A standalone shard treats a HyperLogLog as Redis does: a string.
        Err(f) => Some(crate::hll::as_string(e, key).ok_or(f)?),
    };
    if hit {
        if r.is_some() {
            e.stats.keyspace_hits += 1;
        } else {
            e.stats.keyspace_misses += 1;
            e.notify(crate::notify::KEY_MISS, "keymiss", key);
        }
    }
    Ok(r)
}

fn get(e: &mut Engine, key: &[u8]) -> Frame {
    match read_str(e, key, Access::Read) {
        Ok(Some(v)) => Frame::Bulk(v.into()),
        Ok(None) => Frame::Null,
        // In Active-Active a HyperLogLog reads as Redis's HYLL string (GET
        // only, as in Redis Enterprise); read_str already did it standalone.
        Err(f) => crate::hll::get_encoded(e, key).unwrap_or(f),
    }
}

/// The context of everything in a key (what an overwrite observes).
pub(crate) fn key_ctx(e: &Engine, key: &[u8]) -> VersionVector {
    e.db.entries.get(&key[..]).map(|en| en.ctx()).unwrap_or_default()
}

/// Writes a string value, replacing the key whatever it held.
pub(crate) fn write_str(e: &mut Engine, key: &[u8], value: Blob, keep_ttl: bool) {
    let ctx = key_ctx(e, key);
    e.commit(Op::Set { key: key.into(), ctx, value, keep_ttl });
}

/// Sets a deadline (or PERSIST with None), replacing the TTLs observed.
pub(crate) fn write_ttl(e: &mut Engine, key: &[u8], at_ms: Option<u64>) {
    let mut ctx = VersionVector::new();
    if let Some(en) = e.db.entries.get(&key[..]) {
        for t in en.ttl() {
            ctx.observe(t.dot);
        }
    }
    e.commit(Op::Expire { key: key.into(), ctx, at_ms });
}

#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    at_ms: Option<u64>,
}

/// Parses EX/PX/EXAT/PXAT (and for SET: NX XX GET KEEPTTL; for GETEX: PERSIST).
fn parse_expiry(e: &Engine, unit: &[u8], val: &[u8], cmd: &str) -> Result<u64, Frame> {
    let n = args::int(val)?;
    let bad = || Frame::error(err::invalid_expire(cmd));
    if n <= 0 {
        return Err(bad());
    }
    let now = e.now_ms as i64;
    let at = if eq(unit, "ex") {
        n.checked_mul(1000).and_then(|ms| ms.checked_add(now))
    } else if eq(unit, "px") {
        n.checked_add(now)
    } else if eq(unit, "exat") {
        n.checked_mul(1000)
    } else {
        Some(n)
    };
    at.map(|x| x as u64).ok_or_else(bad)
}

fn set(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let mut o = SetOpts::default();
    let mut i = 3;
    // As Redis: an expiry option may repeat (the last one counts, and only
    // its value is parsed), but not mix with another one or KEEPTTL.
    let mut expiry: Option<(&[u8], &[u8])> = None;
    while i < a.len() {
        let t = &a[i];
        if eq(t, "nx") && !o.xx {
            o.nx = true;
        } else if eq(t, "xx") && !o.nx {
            o.xx = true;
        } else if eq(t, "get") {
            o.get = true;
        } else if eq(t, "keepttl") && expiry.is_none() {
            o.keepttl = true;
        } else if is_expiry_option(t, expiry) && !o.keepttl && i + 1 < a.len() {
            expiry = Some((t, a[i + 1]));
            i += 1;
        } else {
            return error(err::SYNTAX);
        }
        i += 1;
    }
    if let Some((t, v)) = expiry {
        match parse_expiry(e, t, v, "set") {
            Ok(at) => o.at_ms = Some(at),
            Err(f) => return f,
        }
    }
    let key = &a[1];
    let old = if o.get {
        match read_str(e, key, Access::Write) {
            Ok(v) => v,
            Err(f) => return f,
        }
    } else {
        None
    };
    // The context of a visible entry, taken from the lookup's entry (a
    // key no lookup sees may still hold an invisible list: `key_ctx`).
    let found = e.lookup(key, Access::Write).map(|en| en.ctx());
    let exists = found.is_some();
    let reply_skip = || if o.get { old.clone().map_or(Frame::Null, |v| Frame::Bulk(v.into())) } else { Frame::Null };
    if (o.nx && exists) || (o.xx && !exists) {
        return reply_skip();
    }
    let ctx = found.unwrap_or_else(|| key_ctx(e, key));
    e.commit(Op::Set { key: key[..].into(), ctx, value: a[2][..].into(), keep_ttl: o.keepttl });
    e.notify(notify::STRING, "set", key);
    if let Some(at) = o.at_ms {
        if at <= e.now_ms {
            let ctx = key_ctx(e, key);
            e.commit(Op::Del { key: key[..].into(), ctx });
        } else {
            write_ttl(e, key, Some(at));
        }
        e.notify(notify::GENERIC, "expire", key);
    }
    if o.get {
        old.map_or(Frame::Null, |v| Frame::Bulk(v.into()))
    } else {
        Frame::ok()
    }
}

fn setnx(e: &mut Engine, a: &[&[u8]]) -> Frame {
    if e.lookup(&a[1], Access::Write).is_some() {
        return int(0);
    }
    write_str(e, &a[1], a[2][..].into(), false);
    e.notify(notify::STRING, "set", &a[1]);
    int(1)
}

fn setex(e: &mut Engine, a: &[&[u8]], unit_ms: i64) -> Frame {
    let cmd = if unit_ms == 1000 { "setex" } else { "psetex" };
    let n = match args::int(&a[2]) {
        Ok(n) => n,
        Err(f) => return f,
    };
    if n <= 0 {
        return error(&err::invalid_expire(cmd));
    }
    let Some(at) = n.checked_mul(unit_ms).and_then(|ms| ms.checked_add(e.now_ms as i64)) else {
        return error(&err::invalid_expire(cmd));
    };
    write_str(e, &a[1], a[3][..].into(), false);
    e.notify(notify::STRING, "set", &a[1]);
    write_ttl(e, &a[1], Some(at as u64));
    e.notify(notify::GENERIC, "expire", &a[1]);
    Frame::ok()
}

fn getset(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let old = match read_str(e, &a[1], Access::Write) {
        Ok(v) => v,
        Err(f) => return f,
    };
    write_str(e, &a[1], a[2][..].into(), false);
    e.notify(notify::STRING, "set", &a[1]);
    old.map_or(Frame::Null, |v| Frame::Bulk(v.into()))
}

fn getdel(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let old = match read_str(e, &a[1], Access::Write) {
        Ok(v) => v,
        Err(f) => return f,
    };
    if old.is_some() {
        let ctx = key_ctx(e, &a[1]);
        e.commit(Op::Del { key: a[1][..].into(), ctx });
        e.notify(notify::GENERIC, "del", &a[1]);
    }
    old.map_or(Frame::Null, |v| Frame::Bulk(v.into()))
}

/// Whether `t` is EX, PX, EXAT or PXAT and may follow the expiry option
/// already given, if any (only the same one again, as Redis allows).
fn is_expiry_option(t: &[u8], given: Option<(&[u8], &[u8])>) -> bool {
    (eq(t, "ex") || eq(t, "px") || eq(t, "exat") || eq(t, "pxat")) && given.is_none_or(|(g, _)| g.eq_ignore_ascii_case(t))
}

fn getex(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let mut at: Option<Option<u64>> = None;
    let mut persist = false;
    let mut expiry: Option<(&[u8], &[u8])> = None;
    let mut i = 2;
    while i < a.len() {
        let t = &a[i];
        if eq(t, "persist") && expiry.is_none() {
            persist = true;
        } else if is_expiry_option(t, expiry) && !persist && i + 1 < a.len() {
            expiry = Some((t, a[i + 1]));
            i += 1;
        } else {
            return error(err::SYNTAX);
        }
        i += 1;
    }
    if persist {
        at = Some(None);
    }
    if let Some((t, v)) = expiry {
        match parse_expiry(e, t, v, "getex") {
            Ok(x) => at = Some(Some(x)),
            Err(f) => return f,
        }
    }
    let v = match read_str(e, &a[1], Access::Read) {
        Ok(Some(v)) => v,
        Ok(None) => return Frame::Null,
        Err(f) => return f,
    };
    match at {
        None => {}
        Some(None) => {
            if e.db.get(&a[1]).is_some_and(|en| en.expire_at().is_some()) {
                write_ttl(e, &a[1], None);
                e.notify(notify::GENERIC, "persist", &a[1]);
            }
        }
        Some(Some(t)) if t <= e.now_ms => {
            let ctx = key_ctx(e, &a[1]);
            e.commit(Op::Del { key: a[1][..].into(), ctx });
            e.notify(notify::GENERIC, "del", &a[1]);
        }
        Some(Some(t)) => {
            write_ttl(e, &a[1], Some(t));
            e.notify(notify::GENERIC, "expire", &a[1]);
        }
    }
    Frame::Bulk(v.into())
}

fn mset(e: &mut Engine, a: &[&[u8]], nx: bool) -> Frame {
    if a.len() % 2 == 0 {
        let name = if nx { "msetnx" } else { "mset" };
        return error(&format!("ERR wrong number of arguments for '{name}' command"));
    }
    if nx {
        for k in a[1..].iter().step_by(2) {
            if e.lookup(k, Access::Write).is_some() {
                return int(0);
            }
        }
    }
    for kv in a[1..].chunks(2) {
        write_str(e, &kv[0], kv[1][..].into(), false);
        e.notify(notify::STRING, "set", &kv[0]);
    }
    if nx {
        int(1)
    } else {
        Frame::ok()
    }
}

fn check_size(e: &Engine, len: usize) -> Result<(), Frame> {
    if len > e.config.proto_max_bulk_len {
        return Err(error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
    }
    Ok(())
}

fn append(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let mut v = match read_str(e, &a[1], Access::Write) {
        Ok(v) => v.unwrap_or_default(),
        Err(f) => return f,
    };
    if let Err(f) = check_size(e, v.len() + a[2].len()) {
        return f;
    }
    v.extend_from_slice(&a[2]);
    let n = v.len();
    write_str(e, &a[1], v.into_boxed_slice(), true);
    e.notify(notify::STRING, "append", &a[1]);
    int(n as i64)
}

fn getrange(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let (start, end) = match (args::int(&a[2]), args::int(&a[3])) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(f), _) | (_, Err(f)) => return f,
    };
    let v = match read_str(e, &a[1], Access::Read) {
        Ok(Some(v)) => v,
        Ok(None) => return bulk(b""),
        Err(f) => return f,
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return bulk(b"");
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut t = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if t < 0 {
        t = 0;
    }
    if t >= len {
        t = len - 1;
    }
    if s > t || len == 0 {
        return bulk(b"");
    }
    bulk(&v[s as usize..=t as usize])
}

fn setrange(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let off = match args::int(&a[2]) {
        Ok(o) if o >= 0 => o as usize,
        Ok(_) => return error("ERR offset is out of range"),
        Err(f) => return f,
    };
    let mut v = match read_str(e, &a[1], Access::Write) {
        Ok(Some(v)) => v,
        Ok(None) => {
            if a[3].is_empty() {
                return int(0);
            }
            Vec::new()
        }
        Err(f) => return f,
    };
    if a[3].is_empty() {
        return int(v.len() as i64);
    }
    if let Err(f) = check_size(e, off + a[3].len()) {
        return f;
    }
    if v.len() < off + a[3].len() {
        v.resize(off + a[3].len(), 0);
    }
    v[off..off + a[3].len()].copy_from_slice(&a[3]);
    let n = v.len();
    write_str(e, &a[1], v.into_boxed_slice(), true);
    e.notify(notify::STRING, "setrange", &a[1]);
    int(n as i64)
}

/// INCR family: a counter increment on top of whatever register value is there.
fn incr(e: &mut Engine, key: &[u8], delta: i64) -> Frame {
    let at = e.lookup_index(key, Access::Write);
    let cur: i64 = match string_cell(e, at) {
        // (A standalone shard's HyperLogLog is a string, and no integer.)
        Err(f) => return if crate::hll::as_string(e, key).is_some() { error(err::NOT_INT) } else { f },
        Ok(None) => 0,
        Ok(Some(cell)) => match cell.shown() {
            Shown::Absent => 0,
            Shown::Int(i) => match i64::try_from(i) {
                Ok(i) => i,
                Err(_) => return error(err::NOT_INT),
            },
            Shown::Bytes(b) => match crdt::cell::parse_i64_strict(b) {
                Some(i) => i,
                None => return error(err::NOT_INT),
            },
            // A float counter that shows an integer ("11" after INCRBYFLOAT
            // 1 on 10) takes INCR, as the same string does in Redis, while
            // the result stays exact in the float it shows (within 2^53).
            Shown::Float(f) => match float_counter_as_int(f, delta) {
                Some(i) => i,
                None => return error(err::NOT_INT),
            },
        },
    };
    let Some(new) = cur.checked_add(delta) else { return error(err::OVERFLOW) };
    commit_incr(e, key, Delta::Int(delta), at);
    e.notify(notify::STRING, "incrby", key);
    int(new)
}

/// The integer a float counter showing `f` counts as for an increment by
/// `delta`: `f` when it is integral and both it and the result are exact
/// in a float (a float counter shows the sum of its parts as one `f64`,
/// so past 2^53 the reply and the value read back would disagree).
pub(crate) fn float_counter_as_int(f: f64, delta: i64) -> Option<i64> {
    const EXACT: i64 = 1 << 53;
    if f.fract() != 0.0 || f.abs() > EXACT as f64 {
        return None;
    }
    let i = f as i64;
    i.checked_add(delta).filter(|n| n.abs() <= EXACT).map(|_| i)
}

/// The string cell of the entry [`Engine::lookup_index`] found at `at`
/// (`typed(key, Kind::String, ..)` by position): Ok(None) if absent,
/// Err(WRONGTYPE) if the key holds another type.
fn string_cell(e: &Engine, at: Option<usize>) -> Result<Option<&Cell>, Frame> {
    let Some(i) = at else { return Ok(None) };
    match e.db.entries[i].value.as_ref() {
        Some(Value::Str(cell)) => Ok(Some(cell)),
        Some(_) => Err(Frame::error(err::WRONGTYPE)),
        None => unreachable!("lookup returns visible entries"),
    }
}

/// Commits an increment of `key`, whose entry [`Engine::lookup_index`]
/// found at `at` just before: [`Engine::commit`] of `Op::Incr`, with the
/// op made in place and the position handed on (`crdt::Db::commit_incr`:
/// `apply` does not look the key up again). Returns where the key is now.
fn commit_incr(e: &mut Engine, key: &[u8], delta: Delta, at: Option<usize>) -> crdt::Slot {
    let was_absent = e.notify_flags & notify::NEW != 0 && e.db.get(key).is_none();
    let (effect, slot) = e.db.commit_incr(key, delta, e.now_ms, at);
    e.committed(effect, slot, was_absent);
    slot
}

fn incrbyfloat(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let key = &a[1];
    let Some(incr) = args::float_parse(&a[2]) else { return error(err::NOT_FLOAT) };
    let at = e.lookup_index(key, Access::Write);
    let cur: f64 = match string_cell(e, at) {
        Err(f) => return if crate::hll::as_string(e, key).is_some() { error(err::NOT_FLOAT) } else { f },
        Ok(None) => 0.0,
        Ok(Some(cell)) => match cell.shown() {
            Shown::Absent => 0.0,
            Shown::Int(i) => i as f64,
            Shown::Float(f) => f,
            Shown::Bytes(b) => match args::float_parse(b) {
                Some(f) => f,
                None => return error(err::NOT_FLOAT),
            },
        },
    };
    let new = cur + incr;
    if !new.is_finite() {
        return error(err::NAN);
    }
    let slot = commit_incr(e, key, Delta::Float(incr), at);
    e.notify(notify::STRING, "incrbyfloat", key);
    // Report what the key now shows (the exact sum, rounded once).
    let entry = match slot {
        crdt::Slot::At(i) => e.db.entries.get_index(i).map(|(_, en)| en),
        crdt::Slot::Gone => None,
        crdt::Slot::Unknown => e.db.get(key),
    };
    match entry.and_then(|en| en.value.as_ref()) {
        Some(Value::Str(cell)) => Frame::Bulk(cell_bytes(cell).into()),
        _ => Frame::Bulk(args::fmt_float(new).into_bytes().into()),
    }
}

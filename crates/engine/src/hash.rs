//! Hashes: the HSET family, field counters (HINCRBY, HINCRBYFLOAT), HSCAN
//! and HRANDFIELD.
//!
//! A hash is a map of fields to [`Cell`]s. HSET writes a field's register and
//! removes the versions (and increments) this instance observed, so a
//! concurrent write elsewhere stays until last-write-wins hides it; HINCRBY
//! and HINCRBYFLOAT add increments on top of the winning value; HDEL removes
//! only what it observed, so a concurrent HSET or increment survives
//! (add/update wins).
//!
//! This file also holds the cursor logic HSCAN and SSCAN share.

use std::collections::HashMap;

use bytes::Bytes;
use commands::errors as e_;
use crdt::{Db, Delta, FieldRef, Kind, Op, Value, VersionVector};
use rand::Rng;
use resp::Frame;

use crate::args::{self, eq};
use crate::string::shown_bytes;
use crate::{err, error, int, notify, Access, Engine};

type Fields = crdt::Fields;
type Reply = Result<Frame, Frame>;

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    let r = match name {
        "hset" => hset(e, a, "hset"),
        "hmset" => hset(e, a, "hmset"),
        "hsetnx" => hsetnx(e, a),
        "hget" => hget(e, a),
        "hmget" => hmget(e, a),
        "hdel" => hdel(e, a),
        "hlen" => read(e, &a[1]).map(|h| int(h.map_or(0, |h| h.len() as i64))),
        "hstrlen" => read(e, &a[1]).map(|h| int(h.and_then(|h| h.get(&a[2][..])).map_or(0, |c| field_value(&c).len() as i64))),
        "hexists" => read(e, &a[1]).map(|h| int(h.is_some_and(|h| h.contains_key(&a[2][..])) as i64)),
        "hkeys" => read(e, &a[1]).map(|h| Frame::Array(h.map_or(Vec::new(), |h| h.keys().map(bulk).collect()))),
        "hvals" => read(e, &a[1]).map(|h| Frame::Array(h.map_or(Vec::new(), |h| h.values().map(|c| value_frame(&c)).collect()))),
        "hgetall" => read(e, &a[1])
            .map(|h| Frame::Map(h.map_or(Vec::new(), |h| h.iter().map(|(f, c)| (bulk(f), value_frame(&c))).collect()))),
        "hincrby" => hincrby(e, a),
        "hincrbyfloat" => hincrbyfloat(e, a),
        "hscan" => hscan(e, a),
        "hrandfield" => hrandfield(e, a),
        _ => return None,
    };
    Some(r.unwrap_or_else(|f| f))
}

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

/// The bytes a field shows.
pub(crate) fn field_value(c: &FieldRef<'_>) -> Vec<u8> {
    shown_bytes(c.shown())
}

fn value_frame(c: &FieldRef<'_>) -> Frame {
    Frame::Bulk(field_value(c).into())
}

/// Type-checks `key` (expiring it first if its deadline passed): Ok(true)
/// when it holds a hash, Ok(false) when it does not exist, WRONGTYPE
/// otherwise. Reads count keyspace hits and misses.
fn check(e: &mut Engine, key: &[u8], access: Access) -> Result<bool, Frame> {
    let is_read = matches!(access, Access::Read);
    let found = e.typed(key, Kind::Hash, access)?.is_some();
    if is_read {
        if found {
            e.stats.keyspace_hits += 1;
        } else {
            e.stats.keyspace_misses += 1;
            e.notify(crate::notify::KEY_MISS, "keymiss", key);
        }
    }
    Ok(found)
}

/// The visible hash at `key` (after [`check`] said it exists).
fn get<'a>(db: &'a Db, key: &[u8]) -> Option<&'a Fields> {
    match db.get(key).and_then(|en| en.value.as_ref()) {
        Some(Value::Hash(h)) => Some(h),
        _ => None,
    }
}

/// A read: the hash at `key`, None if absent, WRONGTYPE if another type.
fn read<'a>(e: &'a mut Engine, key: &[u8]) -> Result<Option<&'a Fields>, Frame> {
    if !check(e, key, Access::Read)? {
        return Ok(None);
    }
    Ok(get(&e.db, key))
}

/// What this instance observed of a field (None if the field is absent).
fn field_ctx(db: &Db, key: &[u8], field: &[u8]) -> Option<VersionVector> {
    let mut vv = VersionVector::new();
    get(db, key)?.field_ctx(field, &mut vv).then_some(vv)
}

fn hset(e: &mut Engine, a: &[&[u8]], name: &str) -> Reply {
    if !a.len().is_multiple_of(2) {
        return Err(error(&e_::wrong_arity(name)));
    }
    let key = &a[1];
    check(e, key, Access::Write)?;
    let mut added = 0;
    for pair in a[2..].chunks(2) {
        let ctx = field_ctx(&e.db, key, &pair[0]);
        added += ctx.is_none() as i64;
        e.commit(Op::HSet { key: key[..].into(), field: pair[0][..].into(), ctx: ctx.unwrap_or_default(), value: pair[1][..].into() });
    }
    e.notify(notify::HASH, "hset", key);
    Ok(if name == "hmset" { Frame::ok() } else { int(added) })
}

fn hsetnx(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, field) = (&a[1], &a[2]);
    check(e, key, Access::Write)?;
    if field_ctx(&e.db, key, field).is_some() {
        return Ok(int(0));
    }
    e.commit(Op::HSet { key: key[..].into(), field: field[..].into(), ctx: VersionVector::new(), value: a[3][..].into() });
    e.notify(notify::HASH, "hset", key);
    Ok(int(1))
}

fn hget(e: &mut Engine, a: &[&[u8]]) -> Reply {
    Ok(read(e, &a[1])?.and_then(|h| h.get(&a[2][..])).map_or(Frame::Null, |c| value_frame(&c)))
}

fn hmget(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let h = read(e, &a[1])?;
    Ok(Frame::Array(a[2..].iter().map(|f| h.and_then(|h| h.get(&f[..])).map_or(Frame::Null, |c| value_frame(&c))).collect()))
}

fn hdel(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Ok(int(0));
    }
    let mut n = 0;
    for field in &a[2..] {
        if let Some(ctx) = field_ctx(&e.db, key, field) {
            e.commit(Op::HDel { key: key[..].into(), field: field[..].into(), ctx });
            n += 1;
        }
    }
    if n > 0 {
        e.notify(notify::HASH, "hdel", key);
        e.notify_if_gone(key);
    }
    Ok(int(n))
}

/// The bytes a field shows, if the field exists (after a write check).
fn field_bytes(e: &Engine, key: &[u8], field: &[u8]) -> Option<Vec<u8>> {
    get(&e.db, key).and_then(|h| h.get(field)).map(|c| field_value(&c))
}

fn hincrby(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, field) = (&a[1], &a[2]);
    let incr = args::int(&a[3])?;
    check(e, key, Access::Write)?;
    let cur = match field_bytes(e, key, field) {
        None => 0,
        Some(b) => crdt::cell::parse_i64_strict(&b).ok_or_else(|| error(e_::HASH_VALUE_NOT_INTEGER))?,
    };
    let new = cur.checked_add(incr).ok_or_else(|| error(err::OVERFLOW))?;
    e.commit(Op::HIncr { key: key[..].into(), field: field[..].into(), delta: Delta::Int(incr) });
    e.notify(notify::HASH, "hincrby", key);
    Ok(int(new))
}

fn hincrbyfloat(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, field) = (&a[1], &a[2]);
    let incr = args::float(&a[3])?;
    if incr.is_infinite() {
        return Err(error(e_::NAN_OR_INFINITY));
    }
    check(e, key, Access::Write)?;
    let cur = match field_bytes(e, key, field) {
        None => 0.0,
        Some(b) => args::float_parse(&b).ok_or_else(|| error(e_::HASH_VALUE_NOT_FLOAT))?,
    };
    if !(cur + incr).is_finite() {
        return Err(error(err::NAN));
    }
    e.commit(Op::HIncr { key: key[..].into(), field: field[..].into(), delta: Delta::Float(incr) });
    e.notify(notify::HASH, "hincrbyfloat", key);
    // The field now shows the exact sum of its base and increments, rounded
    // once; HGET shows the same text.
    Ok(field_bytes(e, key, field).map_or(Frame::Null, |b| Frame::Bulk(b.into())))
}

// ---- SCAN cursors (HSCAN, SSCAN) ---------------------------------------------

/// Parses a SCAN cursor as Redis does (`strtoul` base 10): no leading space,
/// no trailing garbage, no overflow; a leading '-' wraps as in C; the empty
/// string is cursor 0.
pub(crate) fn parse_cursor(b: &[u8]) -> Result<u64, Frame> {
    let bad = || error(e_::INVALID_CURSOR);
    if b.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u64)).ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// MATCH and COUNT of HSCAN/SSCAN (`pattern` None matches everything).
pub(crate) struct ScanOpts<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

impl ScanOpts<'_> {
    pub fn matches(&self, b: &[u8]) -> bool {
        self.pattern.is_none_or(|p| commands::glob_match(p, b, false))
    }
}

/// Parses the options after the cursor, as Redis's scanGenericCommand.
pub(crate) fn parse_scan_opts<'a>(a: &[&'a [u8]]) -> Result<ScanOpts<'a>, Frame> {
    let mut o = ScanOpts { pattern: None, count: 10 };
    let mut i = 0;
    while i < a.len() {
        let more = i + 1 < a.len();
        if eq(&a[i], "count") && more {
            let n = args::int(&a[i + 1])?;
            if n < 1 {
                return Err(error(err::SYNTAX));
            }
            o.count = n as usize;
        } else if eq(&a[i], "match") && more {
            let p = &a[i + 1][..];
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return Err(error(err::SYNTAX));
        }
        i += 2;
    }
    Ok(o)
}

/// The position of an element in a SCAN walk: a fixed 64-bit hash of its
/// bytes (FNV-1a, then a splitmix64 finalizer), the same on every instance.
pub(crate) fn scan_hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= c as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// How many elements a SCAN step visits: COUNT, or more in a large
/// collection. A step costs a pass over the whole collection (the CRDT
/// keeps no order to resume from), so a walk takes at most about
/// [`SCAN_STEPS`] steps whatever COUNT says; COUNT is only a hint in Redis too.
pub(crate) fn scan_batch(count: usize, len: usize) -> usize {
    count.max(len / SCAN_STEPS)
}

pub(crate) const SCAN_STEPS: usize = 128;

/// One step of a SCAN walk in hash order. The cursor is the smallest hash not
/// yet visited; a step visits the `count` elements with the smallest hashes
/// at or above it (and any others sharing the last one's hash, so the walk
/// always moves), and returns the next cursor (0 when done). Every element
/// present for the whole walk is visited once: cursors only increase, and
/// each step resumes exactly after the largest hash it visited.
pub(crate) fn scan_step<'a, T: 'a>(items: impl Iterator<Item = (&'a [u8], T)>, cursor: u64, count: usize) -> (u64, Vec<T>) {
    let mut v: Vec<(u64, T)> = items.map(|(b, t)| (scan_hash(b), t)).filter(|(h, _)| *h >= cursor).collect();
    if v.len() <= count {
        return (0, v.into_iter().map(|(_, t)| t).collect());
    }
    v.select_nth_unstable_by_key(count - 1, |x| x.0);
    let last = v[count - 1].0;
    let mut next: Option<u64> = None;
    let mut out = Vec::with_capacity(count);
    for (h, t) in v {
        if h <= last {
            out.push(t);
        } else if next.is_none_or(|n| h < n) {
            next = Some(h);
        }
    }
    (next.unwrap_or(0), out)
}

fn empty_scan() -> Frame {
    Frame::Array(vec![bulk(b"0"), Frame::Array(Vec::new())])
}

fn hscan(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    let cursor = parse_cursor(&a[2])?;
    if !check(e, key, Access::Read)? {
        return Ok(empty_scan());
    }
    let o = parse_scan_opts(&a[3..])?;
    let h = get(&e.db, key).expect("checked");
    // Redis answers a listpack's SCAN whole, with cursor 0.
    let (next, picked): (u64, Vec<(&[u8], FieldRef<'_>)>) = if h.is_packed() {
        (0, h.iter().collect())
    } else {
        scan_step(h.iter().map(|(f, c)| (f, (f, c))), cursor, scan_batch(o.count, h.len()))
    };
    let mut out = Vec::with_capacity(picked.len() * 2);
    for (f, c) in picked {
        if o.matches(f) {
            out.push(bulk(f));
            out.push(value_frame(&c));
        }
    }
    Ok(Frame::Array(vec![bulk(next.to_string().as_bytes()), Frame::Array(out)]))
}

// ---- random picks (HRANDFIELD, SRANDMEMBER) ------------------------------------

/// The most elements a random pick with repetition (negative count) may
/// reply with: Redis would try to build any reply; Concord bounds it.
pub(crate) const RANDOM_REPLY_MAX: u64 = 1 << 22;

/// A count in [-LONG_MAX, LONG_MAX] (`getRangeLongFromObjectOrReply`).
pub(crate) fn range_long(b: &[u8]) -> Result<i64, Frame> {
    let n = args::int(b)?;
    if n == i64::MIN {
        return Err(error(e_::OUT_OF_RANGE_LONG));
    }
    Ok(n)
}

pub(crate) fn too_many() -> Frame {
    error(&format!("ERR value is out of range, a reply may hold at most {RANDOM_REPLY_MAX} random elements"))
}

/// Picks `count` indexes below `len`: distinct ones when `distinct` (count
/// at most len), else independent draws.
pub(crate) fn pick_indexes(rng: &mut impl Rng, len: usize, count: usize, distinct: bool) -> Vec<usize> {
    if distinct {
        let mut v = rand::seq::index::sample(rng, len, count.min(len)).into_vec();
        v.sort_unstable();
        v
    } else {
        (0..count).map(|_| rng.gen_range(0..len)).collect()
    }
}

fn hrandfield(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    if a.len() == 2 {
        if !check(e, key, Access::Read)? {
            return Ok(Frame::Null);
        }
        let h = get(&e.db, key).expect("checked");
        let i = e.rng.gen_range(0..h.len());
        return Ok(h.keys().nth(i).map_or(Frame::Null, bulk));
    }
    let l = range_long(&a[2])?;
    if a.len() > 4 || (a.len() == 4 && !eq(&a[3], "withvalues")) {
        return Err(error(err::SYNTAX));
    }
    let withvalues = a.len() == 4;
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err(error("ERR value is out of range"));
    }
    if !check(e, key, Access::Read)? || l == 0 {
        return Ok(Frame::Array(Vec::new()));
    }
    let count = l.unsigned_abs();
    if l < 0 && count * (1 + withvalues as u64) > RANDOM_REPLY_MAX {
        return Err(too_many());
    }
    let h = get(&e.db, key).expect("checked");
    let all: Vec<(&[u8], FieldRef<'_>)> = h.iter().collect();
    let picks = pick_indexes(&mut e.rng, all.len(), count.min(if l > 0 { all.len() as u64 } else { u64::MAX }) as usize, l > 0);
    // Values are rendered once per distinct field.
    let mut rendered: HashMap<usize, (Frame, Frame)> = HashMap::new();
    let mut out = Vec::with_capacity(picks.len() * (1 + withvalues as usize));
    for i in picks {
        let (f, v) = rendered
            .entry(i)
            .or_insert_with(|| (bulk(all[i].0), if withvalues { value_frame(&all[i].1) } else { Frame::Null }))
            .clone();
        if !withvalues {
            out.push(f);
        } else if e.resp3 {
            out.push(Frame::Array(vec![f, v]));
        } else {
            out.push(f);
            out.push(v);
        }
    }
    Ok(Frame::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crdt::InstanceId;

    fn run(e: &mut Engine, cmd: &str) -> Frame {
        let args: Vec<&[u8]> = cmd.split_whitespace().map(|s| s.as_bytes()).collect();
        e.execute(&args, 1_000).expect("handled")
    }

    fn b(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn errs(f: &Frame, text: &str) -> bool {
        matches!(f, Frame::Error(t) if &t[..] == text.as_bytes())
    }

    fn sorted(f: Frame) -> Vec<Frame> {
        let Frame::Array(mut v) = f else { panic!("not an array: {f:?}") };
        v.sort_by_key(|x| format!("{x:?}"));
        v
    }

    fn engine(id: u16) -> Engine {
        Engine::new(Config { instance: InstanceId(id), active_active: true, ..Config::default() }, id as u64)
    }

    #[test]
    fn basic_commands() {
        let mut e = Engine::new(Config::default(), 1);
        assert_eq!(run(&mut e, "hset h a 1 b 2 a 3"), int(2));
        assert_eq!(run(&mut e, "hget h a"), b("3"));
        assert_eq!(run(&mut e, "hget h zz"), Frame::Null);
        assert_eq!(run(&mut e, "hget nokey a"), Frame::Null);
        assert_eq!(run(&mut e, "hmset h c 4"), Frame::ok());
        assert!(errs(&run(&mut e, "hset h a"), "ERR wrong number of arguments for 'hset' command"));
        assert!(errs(&run(&mut e, "hmset h a 1 b"), "ERR wrong number of arguments for 'hmset' command"));
        assert_eq!(run(&mut e, "hsetnx h a 9"), int(0));
        assert_eq!(run(&mut e, "hsetnx h d 9"), int(1));
        assert_eq!(run(&mut e, "hlen h"), int(4));
        assert_eq!(run(&mut e, "hstrlen h d"), int(1));
        assert_eq!(run(&mut e, "hstrlen h zz"), int(0));
        assert_eq!(run(&mut e, "hexists h d"), int(1));
        assert_eq!(run(&mut e, "hexists h zz"), int(0));
        assert_eq!(run(&mut e, "hmget h a zz"), Frame::Array(vec![b("3"), Frame::Null]));
        assert_eq!(sorted(run(&mut e, "hkeys h")), vec![b("a"), b("b"), b("c"), b("d")]);
        assert_eq!(sorted(run(&mut e, "hvals h")), vec![b("2"), b("3"), b("4"), b("9")]);
        let Frame::Map(m) = run(&mut e, "hgetall h") else { panic!() };
        assert_eq!(m.len(), 4);
        assert_eq!(run(&mut e, "hdel h a a zz"), int(1));
        assert_eq!(run(&mut e, "hdel h b c d"), int(3));
        assert_eq!(run(&mut e, "exists h"), int(0));
        assert_eq!(run(&mut e, "hgetall h"), Frame::Map(vec![]));
    }

    #[test]
    fn wrongtype_everywhere() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "set s x");
        for cmd in [
            "hset s a 1",
            "hsetnx s a 1",
            "hget s a",
            "hmget s a",
            "hmset s a 1",
            "hdel s a",
            "hlen s",
            "hstrlen s a",
            "hexists s a",
            "hkeys s",
            "hvals s",
            "hgetall s",
            "hincrby s a 1",
            "hincrbyfloat s a 1",
            "hscan s 0",
            "hrandfield s",
            "hrandfield s 2 withvalues",
        ] {
            assert!(errs(&run(&mut e, cmd), err::WRONGTYPE), "{cmd}");
        }
        assert_eq!(run(&mut e, "get s"), b("x"));
        assert!(e.effects.len() == 1, "a failed command changes nothing");
    }

    #[test]
    fn counters() {
        let mut e = Engine::new(Config::default(), 1);
        assert_eq!(run(&mut e, "hincrby h n 5"), int(5));
        assert_eq!(run(&mut e, "hincrby h n -7"), int(-2));
        assert_eq!(run(&mut e, "hget h n"), b("-2"));
        assert!(errs(&run(&mut e, "hincrby h n x"), err::NOT_INT));
        run(&mut e, "hset h big 9223372036854775807");
        assert!(errs(&run(&mut e, "hincrby h big 1"), err::OVERFLOW));
        run(&mut e, "hset h s abc");
        assert!(errs(&run(&mut e, "hincrby h s 1"), "ERR hash value is not an integer"));
        assert!(errs(&run(&mut e, "hincrbyfloat h s 1"), "ERR hash value is not a float"));
        assert!(errs(&run(&mut e, "hincrbyfloat h s inf"), "ERR value is NaN or Infinity"));
        assert!(errs(&run(&mut e, "hincrbyfloat h s nan"), err::NOT_FLOAT));
        assert_eq!(run(&mut e, "hincrbyfloat h f 1.5"), b("1.5"));
        assert_eq!(run(&mut e, "hincrbyfloat h f 1.5"), b("3"));
        assert_eq!(run(&mut e, "hget h f"), b("3"));
        assert_eq!(run(&mut e, "hincrby h f 1"), int(4));
        assert_eq!(run(&mut e, "hincrbyfloat h f .5"), b("4.5"));
        assert!(errs(&run(&mut e, "hincrby h f 1"), "ERR hash value is not an integer"));
        assert_eq!(run(&mut e, "hincrbyfloat h n 10.5"), b("8.5"));
        run(&mut e, "hset h i inf");
        assert!(errs(&run(&mut e, "hincrbyfloat h i 1"), err::NAN));
        run(&mut e, "hset h e 1e3");
        assert_eq!(run(&mut e, "hincrbyfloat h e 1"), b("1001"));
        // As Redis, which stored the text "1001".
        assert_eq!(run(&mut e, "hincrby h e 1"), int(1002));
        // HSET replaces the counter and the increments it observed.
        assert_eq!(run(&mut e, "hset h n 1"), int(0));
        assert_eq!(run(&mut e, "hincrby h n 1"), int(2));
        assert_eq!(run(&mut e, "hstrlen h f"), int(3));
    }

    #[test]
    fn cursor_parsing() {
        assert_eq!(parse_cursor(b"0").unwrap(), 0);
        assert_eq!(parse_cursor(b"").unwrap(), 0);
        assert_eq!(parse_cursor(b"+7").unwrap(), 7);
        assert_eq!(parse_cursor(b"-1").unwrap(), u64::MAX);
        assert_eq!(parse_cursor(b"18446744073709551615").unwrap(), u64::MAX);
        for bad in [&b"18446744073709551616"[..], b" 0", b"0 ", b"abc", b"-", b"0x1"] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn object_encoding_follows_the_packed_hash_and_its_limits() {
        let mut e = Engine::new(Config::default(), 1);
        let enc = |e: &mut Engine, k: &str| run(e, &format!("object encoding {k}"));
        run(&mut e, "hset h a 1 b 2");
        run(&mut e, "hincrby h n 5");
        assert_eq!(enc(&mut e, "h"), b("listpack"));
        e.db.hash_limits = crdt::fields::Limits { entries: 3, value: 8 };
        run(&mut e, "hset h c 3");
        assert_eq!(enc(&mut e, "h"), b("hashtable"), "4 fields > 3");
        // One way, as Redis: removing fields keeps the table.
        run(&mut e, "hdel h a b c");
        assert_eq!(enc(&mut e, "h"), b("hashtable"));
        assert_eq!(run(&mut e, "hget h n"), b("5"));
        run(&mut e, "hset v f 12345678");
        assert_eq!(enc(&mut e, "v"), b("listpack"));
        run(&mut e, "hset v f 123456789");
        assert_eq!(enc(&mut e, "v"), b("hashtable"), "a value of 9 bytes > 8");
        run(&mut e, "hincrbyfloat w abcdefgh 1");
        assert_eq!(enc(&mut e, "w"), b("listpack"));
        run(&mut e, "hincrbyfloat w2 abcdefghi 1");
        assert_eq!(enc(&mut e, "w2"), b("hashtable"), "a field of 9 bytes > 8");
        // RENAME rewrites the fields (in insertion order for a packed hash).
        run(&mut e, "rename v v2");
        assert_eq!(run(&mut e, "hgetall v2"), Frame::Map(vec![(b("f"), b("123456789"))]));
    }

    #[test]
    fn scan_visits_everything_once() {
        let mut e = Engine::new(Config::default(), 1);
        // Past hash-max-listpack-entries (512): a packed hash answers whole.
        let mut cmd = String::from("hset h");
        for i in 0..600 {
            cmd.push_str(&format!(" f{i} v{i}"));
        }
        run(&mut e, &cmd);
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        let mut steps = 0;
        loop {
            let Frame::Array(r) = run(&mut e, &format!("hscan h {cursor} count 7")) else { panic!() };
            let Frame::Bulk(c) = &r[0] else { panic!() };
            let Frame::Array(items) = &r[1] else { panic!() };
            assert!(items.len() <= 14);
            for pair in items.chunks(2) {
                let (Frame::Bulk(f), Frame::Bulk(v)) = (&pair[0], &pair[1]) else { panic!() };
                assert_eq!(&f[1..], &v[1..]);
                seen.push(f.clone());
            }
            cursor = String::from_utf8(c.to_vec()).unwrap();
            steps += 1;
            if cursor == "0" {
                break;
            }
        }
        assert!(steps >= 40);
        seen.sort();
        let n = seen.len();
        seen.dedup();
        assert_eq!((n, seen.len()), (600, 600));
        // MATCH filters what a step visited; a small hash comes back whole.
        let Frame::Array(r) = run(&mut e, "hscan h 0 count 1000 match f29*") else { panic!() };
        assert_eq!(sorted(r[1].clone()), vec![b("f29"), b("f290"), b("f291"), b("f292"), b("f293"), b("f294"), b("f295"), b("f296"), b("f297"), b("f298"), b("f299"), b("v29"), b("v290"), b("v291"), b("v292"), b("v293"), b("v294"), b("v295"), b("v296"), b("v297"), b("v298"), b("v299")]);
        run(&mut e, "hset small a 1 b 2");
        assert_eq!(run(&mut e, "hscan small 12345 count 1 match a"), Frame::Array(vec![b("0"), Frame::Array(vec![b("a"), b("1")])]));
        assert!(errs(&run(&mut e, "hscan small 0 count 0"), err::SYNTAX));
        assert!(errs(&run(&mut e, "hscan small 0 match"), err::SYNTAX));
        assert!(errs(&run(&mut e, "hscan small x"), "ERR invalid cursor"));
        assert_eq!(run(&mut e, "hscan nokey 0 count 0"), empty_scan());
    }

    #[test]
    fn scan_step_with_equal_hashes_moves_on() {
        // Elements whose hashes collide are visited in one step.
        let items = [(b"a".as_slice(), 1), (b"a".as_slice(), 2), (b"a".as_slice(), 3), (b"b".as_slice(), 4)];
        let (next, got) = scan_step(items.iter().map(|(b, t)| (*b, *t)), 0, 1);
        if scan_hash(b"a") < scan_hash(b"b") {
            assert_eq!((got.len(), next), (3, scan_hash(b"b")));
        } else {
            assert_eq!((got, next), (vec![4], scan_hash(b"a")));
        }
    }

    #[test]
    fn randfield() {
        let mut e = Engine::new(Config::default(), 7);
        assert_eq!(run(&mut e, "hrandfield nokey"), Frame::Null);
        assert_eq!(run(&mut e, "hrandfield nokey 3"), Frame::Array(vec![]));
        run(&mut e, "hset h a 1 b 2 c 3");
        assert!(matches!(run(&mut e, "hrandfield h"), Frame::Bulk(_)));
        assert_eq!(sorted(run(&mut e, "hrandfield h 10")), vec![b("a"), b("b"), b("c")]);
        assert_eq!(sorted(run(&mut e, "hrandfield h 2")).len(), 2);
        let Frame::Array(v) = run(&mut e, "hrandfield h -10 withvalues") else { panic!() };
        assert_eq!(v.len(), 20);
        for p in v.chunks(2) {
            let (Frame::Bulk(f), Frame::Bulk(x)) = (&p[0], &p[1]) else { panic!() };
            assert_eq!((f[0] - b'a' + b'1') as char, x[0] as char);
        }
        e.resp3 = true;
        let Frame::Array(v) = run(&mut e, "hrandfield h 2 withvalues") else { panic!() };
        assert!(v.len() == 2 && v.iter().all(|p| matches!(p, Frame::Array(x) if x.len() == 2)));
        e.resp3 = false;
        assert_eq!(run(&mut e, "hrandfield h 0 withvalues"), Frame::Array(vec![]));
        assert!(errs(&run(&mut e, "hrandfield h 1 withvalue"), err::SYNTAX));
        assert!(errs(&run(&mut e, "hrandfield h x withvalues"), err::NOT_INT));
        assert!(errs(&run(&mut e, "hrandfield h -9223372036854775808"), e_::OUT_OF_RANGE_LONG));
        assert!(errs(&run(&mut e, "hrandfield h -4611686018427387904 withvalues"), "ERR value is out of range"));
        assert!(matches!(run(&mut e, "hrandfield h -4611686018427387903 withvalues"), Frame::Error(_)));
    }

    /// Runs `cmds` on two instances without exchanging effects, then
    /// delivers each side's effects to the other (in both orders), and
    /// checks both converge to one state.
    fn converge(setup: &[&str], one: &[&str], two: &[&str], probe: &[&str]) -> Vec<Frame> {
        let mut results = Vec::new();
        for order in 0..2 {
            let (mut x, mut y) = (engine(1), engine(2));
            for c in setup {
                run(&mut x, c);
            }
            for ef in x.effects.drain(..) {
                y.apply_remote(&ef);
            }
            for c in one {
                run(&mut x, c);
            }
            for c in two {
                run(&mut y, c);
            }
            let (ex, ey): (Vec<_>, Vec<_>) = (x.effects.drain(..).collect(), y.effects.drain(..).collect());
            if order == 0 {
                ex.iter().for_each(|f| assert!(y.apply_remote(f)));
                ey.iter().for_each(|f| assert!(x.apply_remote(f)));
            } else {
                ey.iter().for_each(|f| assert!(x.apply_remote(f)));
                ex.iter().for_each(|f| assert!(y.apply_remote(f)));
                // Duplicates change nothing.
                ex.iter().for_each(|f| assert!(!y.apply_remote(f)));
            }
            assert_eq!(x.db.digest(), y.db.digest());
            let rx: Vec<Frame> = probe.iter().map(|c| run(&mut x, c)).collect();
            let ry: Vec<Frame> = probe.iter().map(|c| run(&mut y, c)).collect();
            assert_eq!(rx, ry);
            results = rx;
        }
        results
    }

    #[test]
    fn concurrent_writes_converge() {
        // Concurrent HSET of one field: last write wins, same everywhere.
        let r = converge(&["hset h f 0"], &["hset h f one"], &["hset h f two"], &["hget h f"]);
        assert!(r[0] == b("one") || r[0] == b("two"));
        // Different fields: both stay.
        let r = converge(&[], &["hset h a 1"], &["hset h b 2"], &["hlen h"]);
        assert_eq!(r, vec![int(2)]);
        // Concurrent increments add up.
        let r = converge(&["hset h n 10"], &["hincrby h n 5"], &["hincrby h n 7"], &["hget h n"]);
        assert_eq!(r, vec![b("22")]);
        let r = converge(&[], &["hincrbyfloat h n 0.5"], &["hincrbyfloat h n 1.25", "hincrbyfloat h n 1"], &["hget h n"]);
        assert_eq!(r, vec![b("2.75")]);
        // HSET racing HINCRBY: the write's value plus the unobserved increment.
        let r = converge(&["hset h n 10"], &["hset h n 100"], &["hincrby h n 5"], &["hget h n"]);
        assert_eq!(r, vec![b("105")]);
        // HDEL racing HSET of the same field: the update wins.
        let r = converge(&["hset h f 1 g 1"], &["hdel h f"], &["hset h f 2"], &["hget h f", "hlen h"]);
        assert_eq!(r, vec![b("2"), int(2)]);
        // HDEL racing HINCRBY: the unobserved increment survives.
        let r = converge(&["hset h n 10"], &["hdel h n"], &["hincrby h n 3"], &["hget h n"]);
        assert_eq!(r, vec![b("3")]);
        // DEL racing HSET of a new field: the new field survives.
        let r = converge(&["hset h a 1"], &["del h"], &["hset h b 2"], &["hgetall h"]);
        assert_eq!(r, vec![Frame::Map(vec![(b("b"), b("2"))])]);
    }
}

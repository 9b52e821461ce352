//! Lists: the push/pop family, ranges, LSET/LINSERT/LREM/LTRIM/LPOS, the
//! moves (LMOVE, RPOPLPUSH, LMPOP) and their blocking forms.
//!
//! A list is a [`crdt::List`]: a replicated sequence (RGA) whose elements
//! keep their identity. LPUSH inserts at the head, RPUSH after the last
//! visible element, LINSERT after (or before) the pivot it found, so every
//! insert lands where Redis puts it at this instance, and concurrent inserts
//! at one place elsewhere keep one deterministic order. LSET writes the
//! element's value register (last write wins); LREM, LTRIM, pops and moves
//! remove exactly the elements (and value versions) this instance observed,
//! so an element pushed concurrently elsewhere survives, and two instances
//! can pop the same element (at-least-once).
//!
//! The blocking commands behave as their non-blocking forms after
//! validating the timeout, and answer `NullArray` (`Null` for BLMOVE and
//! BRPOPLPUSH) when there is nothing to pop: the server then blocks the
//! client and runs the command again after writes (`execute_blocking`).

use bytes::Bytes;
use commands::errors as E;
use crdt::list::Elem;
use crdt::{Blob, Db, Dot, Kind, List, Op, Value, VersionVector};
use resp::Frame;

use crate::args::{self, eq};
use crate::zset::check_timeout;
use crate::{bulk, err, error, int, notify, Access, Engine};

type Reply = Result<Frame, Frame>;

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    let r = match name {
        "lpush" => push(e, a, true, false),
        "rpush" => push(e, a, false, false),
        "lpushx" => push(e, a, true, true),
        "rpushx" => push(e, a, false, true),
        "lpop" => pop(e, a, true),
        "rpop" => pop(e, a, false),
        "llen" => read(e, &a[1]).map(|l| int(l.map_or(0, |l| l.len() as i64))),
        "lrange" => lrange(e, a),
        "lindex" => lindex(e, a),
        "lset" => lset(e, a),
        "linsert" => linsert(e, a),
        "lrem" => lrem(e, a),
        "ltrim" => ltrim(e, a),
        "lpos" => lpos(e, a),
        "lmove" => lmove(e, a, 3, false),
        "rpoplpush" => rpoplpush(e, a, false),
        "lmpop" => lmpop(e, a, 1, false),
        "blpop" => bpop(e, a, true),
        "brpop" => bpop(e, a, false),
        "blmove" => lmove(e, a, 3, true),
        "brpoplpush" => rpoplpush(e, a, true),
        "blmpop" => lmpop(e, a, 2, true),
        _ => return None,
    };
    Some(r.unwrap_or_else(|f| f))
}

// ---- access -----------------------------------------------------------------

/// Type-checks `key` (expiring it first if its deadline passed): Ok(true)
/// when it holds a list, Ok(false) when it does not exist, WRONGTYPE
/// otherwise. Reads count keyspace hits and misses.
fn check(e: &mut Engine, key: &[u8], access: Access) -> Result<bool, Frame> {
    let is_read = matches!(access, Access::Read);
    let found = e.typed(key, Kind::List, access)?.is_some();
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

/// The visible list at `key`.
fn get<'a>(db: &'a Db, key: &[u8]) -> Option<&'a List> {
    match db.get(key).and_then(|en| en.value.as_ref()) {
        Some(Value::List(l)) => Some(l),
        _ => None,
    }
}

/// A read: the list at `key`, None if absent, WRONGTYPE if another type.
fn read<'a>(e: &'a mut Engine, key: &[u8]) -> Result<Option<&'a List>, Frame> {
    if !check(e, key, Access::Read)? {
        return Ok(None);
    }
    Ok(get(&e.db, key))
}

fn len(e: &Engine, key: &[u8]) -> usize {
    get(&e.db, key).map_or(0, |l| l.len())
}

/// Where a pop or push happens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

fn end_arg(b: &[u8]) -> Result<End, Frame> {
    if eq(b, "left") {
        Ok(End::Left)
    } else if eq(b, "right") {
        Ok(End::Right)
    } else {
        Err(error(err::SYNTAX))
    }
}

/// `getLongFromObjectOrReply`: an integer, or `msg` (NOT_INT when None).
fn long(b: &[u8], msg: Option<&str>) -> Result<i64, Frame> {
    args::int(b).map_err(|f| msg.map_or(f, error))
}

/// `getPositiveLongFromObjectOrReply`: 0..=LONG_MAX; a non-integer gets
/// the same message as a negative number.
fn positive(b: &[u8], msg: &str) -> Result<i64, Frame> {
    match args::int(b) {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(error(msg)),
    }
}

// ---- writing ------------------------------------------------------------------

/// Inserts `values` one by one at `end` of the list at `key` (creating it).
fn push_values<'v>(e: &mut Engine, key: &[u8], end: End, values: impl ExactSizeIterator<Item = &'v [u8]>) {
    // (`check` with Access::Write already removed what a raced DEL left.)
    let mut k: Blob = key.into();
    let mut anchor: Option<Dot> = match end {
        End::Left => None,
        End::Right => get(&e.db, key).and_then(|l| l.last()).map(|x| x.id()),
    };
    let n = values.len();
    for (i, v) in values.enumerate() {
        // The last op takes the key itself (one allocation for one value).
        let key = if i + 1 == n { std::mem::take(&mut k) } else { k.clone() };
        e.commit(Op::ListInsert { key, anchor, value: v.into() });
        if end == End::Right {
            anchor = e.effects.last().map(|x| x.dot);
        }
    }
}

/// Appends `values` at the tail of the list at `key`, creating it (SORT
/// ... STORE writes its result this way, after deleting the destination).
pub(crate) fn rpush_values(e: &mut Engine, key: &[u8], values: &[&[u8]]) {
    push_values(e, key, End::Right, values.iter().copied());
}

/// Removes the picked elements (the versions of them this instance observed).
fn remove(e: &mut Engine, key: &[u8], ids: Vec<Dot>, ctx: VersionVector) {
    if ids.is_empty() {
        return;
    }
    e.commit(Op::ListRemove { key: key.into(), elems: ids, ctx });
}

/// Pops one element from `end` of the list at `key` (LPOP/RPOP without a
/// count, BLPOP/BRPOP): its value, copied once, into the reply's bytes.
fn pop_one(e: &mut Engine, key: &[u8], end: End) -> Option<Bytes> {
    let l = get(&e.db, key)?;
    let x = match end {
        End::Left => l.first()?,
        End::Right => l.last()?,
    };
    let value = Bytes::copy_from_slice(x.value());
    let mut ctx = VersionVector::new();
    x.ctx(&mut ctx);
    let id = x.id();
    remove(e, key, vec![id], ctx);
    Some(value)
}

/// Pops up to `n` elements from `end` of the (existing) list at `key`.
fn pop_n(e: &mut Engine, key: &[u8], end: End, n: usize) -> Vec<Blob> {
    let Some(l) = get(&e.db, key) else { return Vec::new() };
    let n = n.min(l.len());
    let mut ids = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    let mut ctx = VersionVector::new();
    let mut take = |x: &Elem| {
        ids.push(x.id());
        values.push(Blob::from(x.value()));
        x.ctx(&mut ctx);
    };
    match end {
        End::Left => l.iter().take(n).for_each(&mut take),
        End::Right => l.iter().rev().take(n).for_each(&mut take),
    }
    remove(e, key, ids, ctx);
    values
}

/// The events of a pop from `end` of `key`: "lpop"/"rpop", then "del" if
/// the list is now empty.
fn notify_pop(e: &mut Engine, key: &[u8], end: End) {
    e.notify(notify::LIST, if end == End::Left { "lpop" } else { "rpop" }, key);
    e.notify_if_gone(key);
}

fn push_event(end: End) -> &'static str {
    if end == End::Left {
        "lpush"
    } else {
        "rpush"
    }
}

fn bulks(values: Vec<Blob>) -> Frame {
    Frame::Array(values.iter().map(|v| bulk(v)).collect())
}

// ---- commands -------------------------------------------------------------------

/// LPUSH/RPUSH/LPUSHX/RPUSHX key element [element ...]
fn push(e: &mut Engine, a: &[&[u8]], left: bool, xx: bool) -> Reply {
    let key = &a[1];
    let exists = check(e, key, Access::Write)?;
    if xx && !exists {
        return Ok(int(0));
    }
    let end = if left { End::Left } else { End::Right };
    push_values(e, key, end, a[2..].iter().map(|v| &v[..]));
    e.notify(notify::LIST, push_event(end), key);
    Ok(int(len(e, key) as i64))
}

/// LPOP/RPOP key [count]
fn pop(e: &mut Engine, a: &[&[u8]], left: bool) -> Reply {
    if a.len() > 3 {
        return Err(error(&E::wrong_arity(if left { "lpop" } else { "rpop" })));
    }
    let count = match a.get(2) {
        Some(c) => Some(positive(c, E::NOT_POSITIVE)? as usize),
        None => None,
    };
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Ok(if count.is_some() { Frame::NullArray } else { Frame::Null });
    }
    let end = if left { End::Left } else { End::Right };
    match count {
        None => {
            let v = pop_one(e, key, end);
            notify_pop(e, key, end);
            Ok(v.map_or(Frame::Null, Frame::Bulk))
        }
        Some(0) => Ok(Frame::Array(Vec::new())),
        Some(n) => {
            let values = pop_n(e, key, end, n);
            notify_pop(e, key, end);
            Ok(bulks(values))
        }
    }
}

/// Redis's range normalisation (LRANGE, LTRIM): Some((start, end))
/// inclusive, None when empty.
fn range(start: i64, end: i64, llen: i64) -> Option<(usize, usize)> {
    let mut start = if start < 0 { llen.saturating_add(start) } else { start };
    let mut end = if end < 0 { llen.saturating_add(end) } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

/// LRANGE key start stop
fn lrange(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let start = long(&a[2], None)?;
    let stop = long(&a[3], None)?;
    let Some(l) = read(e, &a[1])? else { return Ok(Frame::Array(Vec::new())) };
    let Some((s, t)) = range(start, stop, l.len() as i64) else { return Ok(Frame::Array(Vec::new())) };
    Ok(Frame::Array(l.iter_from(s).take(t - s + 1).map(|x| bulk(x.value())).collect()))
}

/// The element at a Redis index (negative counts from the tail).
fn at(l: &List, index: i64) -> Option<&Elem> {
    let n = l.len() as i64;
    let i = if index < 0 { n.checked_add(index)? } else { index };
    if i < 0 || i >= n {
        return None;
    }
    l.get(i as usize)
}

/// LINDEX key index
fn lindex(e: &mut Engine, a: &[&[u8]]) -> Reply {
    if !check(e, &a[1], Access::Read)? {
        return Ok(Frame::Null);
    }
    let index = long(&a[2], None)?;
    let l = get(&e.db, &a[1]).expect("checked");
    Ok(at(l, index).map_or(Frame::Null, |x| bulk(x.value())))
}

/// LSET key index element
fn lset(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Err(error(err::NO_SUCH_KEY));
    }
    let index = long(&a[2], None)?;
    let l = get(&e.db, key).expect("checked");
    let Some(x) = at(l, index) else { return Err(error(E::INDEX_OUT_OF_RANGE)) };
    let mut ctx = VersionVector::new();
    x.ctx(&mut ctx);
    let elem = x.id();
    e.commit(Op::ListSet { key: key[..].into(), elem, ctx, value: a[3][..].into() });
    e.notify(notify::LIST, "lset", key);
    Ok(Frame::ok())
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let after = if eq(&a[2], "after") {
        true
    } else if eq(&a[2], "before") {
        false
    } else {
        return Err(error(err::SYNTAX));
    };
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Ok(int(0));
    }
    let l = get(&e.db, key).expect("checked");
    let mut prev: Option<Dot> = None;
    let mut anchor: Option<Option<Dot>> = None;
    for x in l.iter() {
        if x.value() == &a[3][..] {
            anchor = Some(if after { Some(x.id()) } else { prev });
            break;
        }
        prev = Some(x.id());
    }
    let Some(anchor) = anchor else { return Ok(int(-1)) };
    e.commit(Op::ListInsert { key: key[..].into(), anchor, value: a[4][..].into() });
    e.notify(notify::LIST, "linsert", key);
    Ok(int(len(e, key) as i64))
}

/// LREM key count element
fn lrem(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let count = long(&a[2], None)?;
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Ok(int(0));
    }
    // Redis negates a negative count; LONG_MIN stays negative and then
    // never matches the number removed: no limit.
    let limit = if count == 0 || count == i64::MIN { usize::MAX } else { count.unsigned_abs() as usize };
    let l = get(&e.db, key).expect("checked");
    let mut ids = Vec::new();
    let mut ctx = VersionVector::new();
    let mut take = |x: &Elem| {
        if ids.len() < limit && x.value() == &a[3][..] {
            ids.push(x.id());
            x.ctx(&mut ctx);
        }
    };
    if count < 0 {
        l.iter().rev().for_each(&mut take);
    } else {
        l.iter().for_each(&mut take);
    }
    let n = ids.len();
    remove(e, key, ids, ctx);
    if n > 0 {
        e.notify(notify::LIST, "lrem", key);
        e.notify_if_gone(key);
    }
    Ok(int(n as i64))
}

/// LTRIM key start stop
fn ltrim(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let start = long(&a[2], None)?;
    let stop = long(&a[3], None)?;
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Ok(Frame::ok());
    }
    let l = get(&e.db, key).expect("checked");
    let n = l.len();
    let (ltrim, rtrim) = match range(start, stop, n as i64) {
        None => (n, 0),
        Some((s, t)) => (s, n - t - 1),
    };
    let mut ids = Vec::new();
    let mut ctx = VersionVector::new();
    for x in l.iter().take(ltrim).chain(l.iter().rev().take(rtrim.min(n - ltrim))) {
        ids.push(x.id());
        x.ctx(&mut ctx);
    }
    remove(e, key, ids, ctx);
    e.notify(notify::LIST, "ltrim", key);
    e.notify_if_gone(key);
    Ok(Frame::ok())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let mut rank: i64 = 1;
    let mut count: i64 = -1;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if eq(&a[j], "rank") && more > 0 {
            j += 1;
            rank = long(&a[j], None)?;
            if rank == 0 {
                return Err(error(E::LPOS_RANK_ZERO));
            }
        } else if eq(&a[j], "count") && more > 0 {
            j += 1;
            count = positive(&a[j], E::LPOS_COUNT_NEGATIVE)?;
        } else if eq(&a[j], "maxlen") && more > 0 {
            j += 1;
            maxlen = positive(&a[j], E::LPOS_MAXLEN_NEGATIVE)?;
        } else {
            return Err(error(err::SYNTAX));
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis negates it in a long:
    // LONG_MIN stays negative, and then every match qualifies.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let Some(l) = read(e, &a[1])? else {
        return Ok(if count != -1 { Frame::Array(Vec::new()) } else { Frame::Null });
    };
    let llen = l.len() as i64;
    let it: Box<dyn Iterator<Item = &Elem>> = if from_tail { Box::new(l.iter().rev()) } else { Box::new(l.iter()) };
    let mut matches: i64 = 0;
    let mut out = Vec::new();
    let mut found: Option<i64> = None;
    for (index, x) in (0i64..).zip(it) {
        if maxlen != 0 && index >= maxlen {
            break;
        }
        if x.value() != &a[2][..] {
            continue;
        }
        matches += 1;
        let pos = if from_tail { llen - index - 1 } else { index };
        if matches >= rank {
            if count != -1 {
                out.push(int(pos));
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            } else {
                found = Some(pos);
                break;
            }
        }
    }
    Ok(if count != -1 { Frame::Array(out) } else { found.map_or(Frame::Null, int) })
}

/// The pop-then-push of LMOVE/RPOPLPUSH once the arguments are valid.
fn do_move(e: &mut Engine, src: &[u8], dst: &[u8], from: End, to: End) -> Reply {
    if !check(e, src, Access::Write)? {
        return Ok(Frame::Null);
    }
    check(e, dst, Access::Write)?;
    let Some(v) = pop_n(e, src, from, 1).pop() else { return Ok(Frame::Null) };
    push_values(e, dst, to, std::iter::once(&v[..]));
    // Redis's order: the push, then the pop (and "del" of an emptied source).
    e.notify(notify::LIST, push_event(to), dst);
    notify_pop(e, src, from);
    Ok(bulk(&v))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT (BLMOVE ... timeout)
fn lmove(e: &mut Engine, a: &[&[u8]], from_idx: usize, blocking: bool) -> Reply {
    let from = end_arg(&a[from_idx])?;
    let to = end_arg(&a[from_idx + 1])?;
    if blocking {
        check_timeout(&a[5])?;
    }
    do_move(e, &a[1], &a[2], from, to)
}

/// RPOPLPUSH source destination (BRPOPLPUSH ... timeout)
fn rpoplpush(e: &mut Engine, a: &[&[u8]], blocking: bool) -> Reply {
    if blocking {
        check_timeout(&a[3])?;
    }
    do_move(e, &a[1], &a[2], End::Right, End::Left)
}

/// BLPOP/BRPOP key [key ...] timeout
fn bpop(e: &mut Engine, a: &[&[u8]], left: bool) -> Reply {
    let n = a.len();
    check_timeout(&a[n - 1])?;
    for key in &a[1..n - 1] {
        if !check(e, key, Access::Write)? {
            continue;
        }
        let end = if left { End::Left } else { End::Right };
        if let Some(v) = pop_one(e, key, end) {
            notify_pop(e, key, end);
            return Ok(Frame::Array(vec![bulk(key), Frame::Bulk(v)]));
        }
    }
    Ok(Frame::NullArray)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
/// (BLMPOP timeout numkeys ...)
fn lmpop(e: &mut Engine, a: &[&[u8]], numkeys_idx: usize, blocking: bool) -> Reply {
    let numkeys = match args::int(&a[numkeys_idx]) {
        Ok(n) if n >= 1 => n as usize,
        _ => return Err(error(E::NUMKEYS_NOT_POSITIVE)),
    };
    let where_idx = match numkeys_idx.checked_add(numkeys).and_then(|x| x.checked_add(1)) {
        Some(w) if w < a.len() => w,
        _ => return Err(error(err::SYNTAX)),
    };
    let end = end_arg(&a[where_idx])?;
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if count.is_none() && eq(&a[j], "count") && more > 0 {
            j += 1;
            match args::int(&a[j]) {
                Ok(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(error(E::COUNT_NOT_POSITIVE)),
            }
        } else {
            return Err(error(err::SYNTAX));
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    if blocking {
        check_timeout(&a[1])?;
    }
    for key in &a[numkeys_idx + 1..where_idx] {
        if !check(e, key, Access::Write)? {
            continue;
        }
        let values = pop_n(e, key, end, count);
        if !values.is_empty() {
            notify_pop(e, key, end);
            return Ok(Frame::Array(vec![bulk(key), bulks(values)]));
        }
    }
    Ok(Frame::NullArray)
}

#[cfg(test)]
mod tests {
    //! Replies checked against redis-server 7.0.15 (a table captured from a
    //! live server, both protocols), blocking shapes, long lists, and the
    //! conflict rules of lists across instances.

    use bytes::Bytes;
    use crdt::{Effect, InstanceId};
    use proptest::prelude::*;
    use resp::Frame;

    use crate::zset::tests::{replay, split, views};
    use crate::{BlockResult, Config, Engine};

    fn run(e: &mut Engine, line: &str) -> Frame {
        e.execute(&views(&split(line)), 1_000_000).expect("a list command")
    }

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn strs(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| bulk(s)).collect())
    }

    #[test]
    fn replies_match_redis() {
        let bad = replay(GOLDEN);
        assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    }

    #[test]
    fn blocking_forms_answer_null_when_nothing_is_there() {
        let mut e = Engine::new(Config::default(), 1);
        let args = |l: &str| split(l);
        for (line, want) in [
            ("blpop a b 0", Frame::NullArray),
            ("brpop a 1.5", Frame::NullArray),
            ("blmpop 0 2 a b left count 3", Frame::NullArray),
            ("blmove a b left right 0", Frame::Null),
            ("brpoplpush a b 0", Frame::Null),
        ] {
            assert_eq!(run(&mut e, line), want, "{line}");
            assert!(matches!(e.execute_blocking(&views(&args(line)), 1_000_000), BlockResult::WouldBlock), "{line}");
        }
        // Errors and data are replies, never blocks.
        assert!(matches!(e.execute_blocking(&views(&args("blpop a -1")), 1_000_000), BlockResult::Reply(Frame::Error(_))));
        run(&mut e, "rpush b x y");
        match e.execute_blocking(&views(&args("blpop a b 0")), 1_000_000) {
            BlockResult::Reply(f) => assert_eq!(f, strs(&["b", "x"])),
            BlockResult::WouldBlock => panic!("b has elements"),
        }
        match e.execute_blocking(&views(&args("blmove b a right left 0")), 1_000_000) {
            BlockResult::Reply(f) => assert_eq!(f, bulk("y")),
            BlockResult::WouldBlock => panic!("b has elements"),
        }
        assert_eq!(run(&mut e, "lrange a 0 -1"), strs(&["y"]));
        assert_eq!(run(&mut e, "exists b"), Frame::Integer(0));
    }

    #[test]
    fn long_lists_stay_fast() {
        let mut e = Engine::new(Config::default(), 1);
        let n = 100_000usize;
        let mut push = vec![Bytes::from_static(b"rpush"), Bytes::from_static(b"big")];
        push.extend((0..n).map(|i| Bytes::from(i.to_string())));
        let t0 = std::time::Instant::now();
        assert_eq!(e.execute(&views(&push), 1_000_000), Some(Frame::Integer(n as i64)));
        for i in (0..n).step_by(37) {
            assert_eq!(run(&mut e, &format!("lindex big {i}")), bulk(&i.to_string()));
            let back = n - 1 - i;
            assert_eq!(run(&mut e, &format!("lindex big -{}", i + 1)), bulk(&back.to_string()));
        }
        for i in (0..n).step_by(997) {
            let Frame::Array(items) = run(&mut e, &format!("lrange big {i} {}", i + 9)) else { panic!() };
            assert_eq!(items.len(), 10.min(n - i));
            assert_eq!(items[0], bulk(&i.to_string()));
        }
        for i in (0..n).step_by(101) {
            assert_eq!(run(&mut e, &format!("lset big {i} v{i}")), Frame::ok());
        }
        assert_eq!(run(&mut e, "lindex big 101"), bulk("v101"));
        // Head and tail pushes and pops, and a queue through a long list.
        for i in 0..10_000 {
            run(&mut e, &format!("lpush big h{i}"));
            run(&mut e, "rpop big");
        }
        for _ in 0..10_000 {
            run(&mut e, "rpoplpush big big");
        }
        assert_eq!(run(&mut e, "llen big"), Frame::Integer(n as i64));
        let Frame::Array(all) = run(&mut e, "lrange big 0 -1") else { panic!() };
        assert_eq!(all.len(), n);
        assert_eq!(run(&mut e, "linsert big before 50000 mid"), Frame::Integer(n as i64 + 1));
        // 80000..89999 (rotated to the head), h9999..h0, 0..79999.
        assert_eq!(run(&mut e, "lpos big mid"), Frame::Integer(70_000));
        assert_eq!(run(&mut e, "ltrim big 10 -11"), Frame::ok());
        assert_eq!(run(&mut e, "llen big"), Frame::Integer(n as i64 + 1 - 20));
        // One instance: every removed element was collected at once.
        let Some(crdt::Value::List(l)) = e.db.get(b"big").and_then(|en| en.value.as_ref()) else { panic!() };
        assert_eq!(l.tombstones(), 0);
        assert!(t0.elapsed() < std::time::Duration::from_secs(60), "took {:?}", t0.elapsed());
    }

    // ---- several instances ---------------------------------------------------------

    fn instance(id: u16, n: u16) -> Engine {
        let mut e = Engine::new(Config { instance: InstanceId(id), active_active: true, ..Config::default() }, id as u64);
        let ids: Vec<InstanceId> = (1..=n).map(InstanceId).collect();
        e.db.set_members(&ids);
        e
    }

    /// Exchanges every effect between `a` and `b`.
    fn sync(a: &mut Engine, b: &mut Engine) {
        let from_a: Vec<Effect> = std::mem::take(&mut a.effects);
        let from_b: Vec<Effect> = std::mem::take(&mut b.effects);
        for x in &from_b {
            a.apply_remote(x);
        }
        for x in &from_a {
            b.apply_remote(x);
        }
    }

    fn same(a: &mut Engine, b: &mut Engine, keys: &[&str]) {
        assert_eq!(a.db.digest(), b.db.digest());
        for k in keys {
            let q = format!("lrange {k} 0 -1");
            assert_eq!(run(a, &q), run(b, &q), "{k}");
        }
    }

    #[test]
    fn sequential_pushes_order_as_redis() {
        let (mut a, mut b) = (instance(1, 2), instance(2, 2));
        run(&mut a, "lpush L hello");
        sync(&mut a, &mut b);
        run(&mut b, "lpush L world");
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["world", "hello"]));
        same(&mut a, &mut b, &["L"]);
    }

    #[test]
    fn concurrent_linsert_after_one_pivot_keeps_both() {
        let (mut a, mut b) = (instance(1, 2), instance(2, 2));
        run(&mut a, "rpush L x z");
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "linsert L after x y1"), Frame::Integer(3));
        assert_eq!(run(&mut b, "linsert L after x y2"), Frame::Integer(3));
        sync(&mut a, &mut b);
        // Same clock reading: instance 1's insert comes first, as in the spec's example.
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["x", "y1", "y2", "z"]));
        same(&mut a, &mut b, &["L"]);
    }

    #[test]
    fn del_removes_only_observed_elements() {
        let (mut a, mut b) = (instance(1, 2), instance(2, 2));
        run(&mut a, "rpush L x");
        sync(&mut a, &mut b);
        run(&mut a, "del L");
        run(&mut b, "lpush L y");
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["y"]));
        same(&mut a, &mut b, &["L"]);
    }

    #[test]
    fn concurrent_pops_are_at_least_once() {
        let (mut a, mut b) = (instance(1, 2), instance(2, 2));
        run(&mut a, "rpush L a b c");
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lpop L"), bulk("a"));
        assert_eq!(run(&mut b, "lpop L"), bulk("a"));
        // Moves of one element: it arrives twice at the destination.
        assert_eq!(run(&mut a, "rpoplpush L D"), bulk("c"));
        assert_eq!(run(&mut b, "lmove L D right left"), bulk("c"));
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["b"]));
        assert_eq!(run(&mut a, "lrange D 0 -1"), strs(&["c", "c"]));
        same(&mut a, &mut b, &["L", "D"]);
    }

    #[test]
    fn lset_is_last_write_wins_and_beats_a_concurrent_removal() {
        let (mut a, mut b) = (instance(1, 2), instance(2, 2));
        run(&mut a, "rpush L a b");
        sync(&mut a, &mut b);
        run(&mut a, "lset L 1 B1");
        b.now_ms_set(1_000_005);
        b.execute(&views(&split("lset L 1 B2")), 1_000_005);
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["a", "B2"]));
        same(&mut a, &mut b, &["L"]);
        // LSET racing LREM of the same element: the unobserved write stays.
        run(&mut a, "lset L 0 A");
        assert_eq!(run(&mut b, "lrem L 0 a"), Frame::Integer(1));
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["A", "B2"]));
        same(&mut a, &mut b, &["L"]);
    }

    #[test]
    fn ltrim_and_lrem_remove_only_what_they_saw() {
        let (mut a, mut b) = (instance(1, 2), instance(2, 2));
        run(&mut a, "rpush L 1 2 3 4");
        sync(&mut a, &mut b);
        run(&mut a, "ltrim L 1 2");
        run(&mut b, "rpush L 5");
        run(&mut b, "lpush L 0");
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["0", "2", "3", "5"]));
        run(&mut a, "lrem L 0 3");
        run(&mut b, "linsert L after 3 x");
        sync(&mut a, &mut b);
        assert_eq!(run(&mut a, "lrange L 0 -1"), strs(&["0", "2", "x", "5"]));
        same(&mut a, &mut b, &["L"]);
    }

    #[test]
    fn an_insert_arriving_before_its_anchor_waits() {
        let (mut a, mut b, mut c) = (instance(1, 3), instance(2, 3), instance(3, 3));
        run(&mut a, "rpush L x");
        let fx_a: Vec<Effect> = std::mem::take(&mut a.effects);
        for x in &fx_a {
            b.apply_remote(x);
        }
        run(&mut b, "rpush L y");
        let fx_b: Vec<Effect> = std::mem::take(&mut b.effects);
        for x in &fx_b {
            c.apply_remote(x);
        }
        assert_eq!(run(&mut c, "exists L"), Frame::Integer(0));
        assert_eq!(run(&mut c, "lrange L 0 -1"), strs(&[]));
        for x in &fx_a {
            c.apply_remote(x);
        }
        assert_eq!(run(&mut c, "lrange L 0 -1"), strs(&["x", "y"]));
        for x in &fx_b {
            a.apply_remote(x);
        }
        same(&mut a, &mut c, &["L"]);
    }

    // ---- random schedules ------------------------------------------------------------

    const VALS: [&str; 4] = ["a", "b", "c", "d"];

    fn command() -> impl Strategy<Value = String> {
        let k = prop_oneof![Just("L"), Just("M")];
        let v = proptest::sample::select(&VALS[..]);
        let i = -3i64..4;
        prop_oneof![
            (k.clone(), v.clone()).prop_map(|(k, v)| format!("lpush {k} {v}")),
            (k.clone(), v.clone(), v.clone()).prop_map(|(k, v, w)| format!("rpush {k} {v} {w}")),
            (k.clone(), 0usize..3).prop_map(|(k, n)| if n == 0 { format!("lpop {k}") } else { format!("rpop {k} {n}") }),
            (k.clone(), i.clone(), v.clone()).prop_map(|(k, i, v)| format!("lset {k} {i} {v}")),
            (k.clone(), any::<bool>(), v.clone(), v.clone())
                .prop_map(|(k, b, p, v)| format!("linsert {k} {} {p} {v}", if b { "before" } else { "after" })),
            (k.clone(), i.clone(), v.clone()).prop_map(|(k, i, v)| format!("lrem {k} {i} {v}")),
            (k.clone(), i.clone(), i.clone()).prop_map(|(k, s, t)| format!("ltrim {k} {s} {t}")),
            (any::<bool>(), any::<bool>()).prop_map(|(x, y)| format!(
                "lmove {} {} {} right",
                if x { "L" } else { "M" },
                if y { "L" } else { "M" },
                if x == y { "left" } else { "right" }
            )),
            k.clone().prop_map(|k| format!("del {k}")),
            Just("rename L M".to_string()),
            Just("copy M L replace".to_string()),
        ]
    }

    #[derive(Clone, Debug)]
    enum Step {
        Run(usize, String),
        /// Instance `to` receives up to `n` more effects of instance `from`.
        Recv(usize, usize, usize),
        Gc(usize),
        Announce(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..3usize, command()).prop_map(|(i, c)| Step::Run(i, c)),
            4 => (0..3usize, 0..3usize, 1..6usize).prop_map(|(t, f, n)| Step::Recv(t, f, n)),
            1 => (0..3usize).prop_map(Step::Gc),
            1 => (0..3usize).prop_map(Step::Announce),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(200), ..ProptestConfig::default() })]

        /// Three instances run random list commands and receive each
        /// other's effects in random per-origin order: once everything is
        /// delivered they read the same lists and have equal digests.
        #[test]
        fn instances_converge(steps in proptest::collection::vec(step(), 1..60)) {
            let mut es: Vec<Engine> = (1..=3).map(|i| instance(i, 3)).collect();
            let mut logs: Vec<Vec<Effect>> = vec![Vec::new(); 3];
            let mut got = [[0usize; 3]; 3];
            let mut now = 1_000_000u64;
            for s in &steps {
                now += 1;
                match s {
                    Step::Run(i, c) => {
                        es[*i].execute(&views(&split(c)), now);
                    }
                    Step::Announce(i) => {
                        let fx = es[*i].db.announce(now);
                        es[*i].effects.push(fx);
                    }
                    Step::Gc(i) => {
                        es[*i].db.gc();
                    }
                    Step::Recv(to, from, n) => {
                        if to == from {
                            continue;
                        }
                        let mine = std::mem::take(&mut es[*from].effects);
                        logs[*from].extend(mine);
                        let start = got[*to][*from];
                        let end = (start + n).min(logs[*from].len());
                        for x in &logs[*from][start..end] {
                            es[*to].apply_remote(x);
                        }
                        got[*to][*from] = end;
                    }
                }
            }
            for i in 0..3 {
                let mine = std::mem::take(&mut es[i].effects);
                logs[i].extend(mine);
            }
            for to in 0..3 {
                for from in 0..3 {
                    if to != from {
                        for x in &logs[from][got[to][from]..] {
                            es[to].apply_remote(x);
                        }
                    }
                }
            }
            let d = es[0].db.digest();
            let want: Vec<Frame> = ["L", "M"].iter().map(|k| run(&mut es[0], &format!("lrange {k} 0 -1"))).collect();
            for e in &mut es[1..] {
                prop_assert_eq!(e.db.digest(), d);
                let got: Vec<Frame> = ["L", "M"].iter().map(|k| run(e, &format!("lrange {k} 0 -1"))).collect();
                prop_assert_eq!(&got, &want);
            }
        }
    }

    const GOLDEN: &str = r##"
lpush l a	:1\r\n	=
lpush l b c d	:4\r\n	=
rpush l x y z	:7\r\n	=
lrange l 0 -1	*7\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n	=
llen l	:7\r\n	=
llen nokey	:0\r\n	=
lpushx nokey a	:0\r\n	=
rpushx nokey a	:0\r\n	=
lpushx l front	:8\r\n	=
rpushx l back q	:10\r\n	=
lrange l 0 -1	*10\r\n$5\r\nfront\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n$4\r\nback\r\n$1\r\nq\r\n	=
lrange l -3 -1	*3\r\n$1\r\nz\r\n$4\r\nback\r\n$1\r\nq\r\n	=
lrange l -100 100	*10\r\n$5\r\nfront\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n$4\r\nback\r\n$1\r\nq\r\n	=
lrange l 5 2	*0\r\n	=
lrange l 100 200	*0\r\n	=
lrange l 0 0	*1\r\n$5\r\nfront\r\n	=
lrange l -1 -1	*1\r\n$1\r\nq\r\n	=
lrange l abc 1	-ERR value is not an integer or out of range\r\n	=
lrange l 0 1.5	-ERR value is not an integer or out of range\r\n	=
lrange nokey 0 -1	*0\r\n	=
lrange nokey abc 1	-ERR value is not an integer or out of range\r\n	=
lindex l 0	$5\r\nfront\r\n	=
lindex l -1	$1\r\nq\r\n	=
lindex l 100	$-1\r\n	_\r\n
lindex l -100	$-1\r\n	_\r\n
lindex l abc	-ERR value is not an integer or out of range\r\n	=
lindex nokey abc	$-1\r\n	_\r\n
lindex nokey 0	$-1\r\n	_\r\n
lindex l 9223372036854775807	$-1\r\n	_\r\n
lindex l -9223372036854775808	$-1\r\n	_\r\n
----
rpush l a b c d e	:5\r\n	=
lpop l	$1\r\na\r\n	=
rpop l	$1\r\ne\r\n	=
lpop l 2	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
lrange l 0 -1	*1\r\n$1\r\nd\r\n	=
rpop l 0	*0\r\n	=
lpop l -1	-ERR value is out of range, must be positive\r\n	=
lpop l abc	-ERR value is out of range, must be positive\r\n	=
lpop l 1 2	-ERR wrong number of arguments for 'lpop' command\r\n	=
rpop l 100	*1\r\n$1\r\nd\r\n	=
lrange l 0 -1	*0\r\n	=
exists l	:0\r\n	=
lpop l	$-1\r\n	_\r\n
rpop l 3	*-1\r\n	_\r\n
lpop nokey 0	*-1\r\n	_\r\n
rpop nokey 3	*-1\r\n	_\r\n
rpop nokey	$-1\r\n	_\r\n
rpop nokey abc	-ERR value is out of range, must be positive\r\n	=
set s v	+OK\r\n	=
lpop s	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lpop s 2	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lpush s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
rpushx s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
llen s	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lrange s 0 1	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lindex s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush l a b c	:3\r\n	=
lset l 0 A	+OK\r\n	=
lset l -1 C	+OK\r\n	=
lset l 3 X	-ERR index out of range\r\n	=
lset l -4 X	-ERR index out of range\r\n	=
lset l abc X	-ERR value is not an integer or out of range\r\n	=
lset nokey 0 X	-ERR no such key\r\n	=
lset nokey abc X	-ERR no such key\r\n	=
lrange l 0 -1	*3\r\n$1\r\nA\r\n$1\r\nb\r\n$1\r\nC\r\n	=
set s v	+OK\r\n	=
lset s 0 X	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush l a b c b	:4\r\n	=
linsert l before b X	:5\r\n	=
linsert l after b Y	:6\r\n	=
linsert l after zz Y	:-1\r\n	=
linsert l middle b Y	-ERR syntax error\r\n	=
linsert nokey before a b	:0\r\n	=
linsert nokey middle a b	-ERR syntax error\r\n	=
lrange l 0 -1	*6\r\n$1\r\na\r\n$1\r\nX\r\n$1\r\nb\r\n$1\r\nY\r\n$1\r\nc\r\n$1\r\nb\r\n	=
linsert l before a first	:7\r\n	=
linsert l after b last	:8\r\n	=
lrange l 0 -1	*8\r\n$5\r\nfirst\r\n$1\r\na\r\n$1\r\nX\r\n$1\r\nb\r\n$4\r\nlast\r\n$1\r\nY\r\n$1\r\nc\r\n$1\r\nb\r\n	=
set s v	+OK\r\n	=
linsert s before a b	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush l a b a c a b a	:7\r\n	=
lrem l 2 a	:2\r\n	=
lrange l 0 -1	*5\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n	=
lrem l -1 a	:1\r\n	=
lrange l 0 -1	*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n	=
lrem l 0 b	:2\r\n	=
lrange l 0 -1	*2\r\n$1\r\nc\r\n$1\r\na\r\n	=
lrem l 0 zz	:0\r\n	=
lrem l abc a	-ERR value is not an integer or out of range\r\n	=
lrem nokey 1 a	:0\r\n	=
lrem nokey abc a	-ERR value is not an integer or out of range\r\n	=
lrem l 0 a	:1\r\n	=
lrem l 0 c	:1\r\n	=
exists l	:0\r\n	=
----
rpush l a b a c a b a	:7\r\n	=
lrem l -9223372036854775808 a	:4\r\n	=
lrange l 0 -1	*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nb\r\n	=
----
rpush l 1 2 3 4 5 6 7 8 9	:9\r\n	=
ltrim l 1 -2	+OK\r\n	=
lrange l 0 -1	*7\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n	=
ltrim l -100 100	+OK\r\n	=
lrange l 0 -1	*7\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n	=
ltrim l 2 1	+OK\r\n	=
exists l	:0\r\n	=
rpush l 1 2 3	:3\r\n	=
ltrim l abc 1	-ERR value is not an integer or out of range\r\n	=
ltrim l 0 abc	-ERR value is not an integer or out of range\r\n	=
ltrim nokey 0 1	+OK\r\n	=
ltrim nokey abc 1	-ERR value is not an integer or out of range\r\n	=
ltrim l 5 10	+OK\r\n	=
exists l	:0\r\n	=
rpush l 1 2 3	:3\r\n	=
ltrim l -2 -1	+OK\r\n	=
lrange l 0 -1	*2\r\n$1\r\n2\r\n$1\r\n3\r\n	=
ltrim l 0 0	+OK\r\n	=
lrange l 0 -1	*1\r\n$1\r\n2\r\n	=
set s v	+OK\r\n	=
ltrim s 0 1	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush l a b c 1 2 3 c c	:8\r\n	=
lpos l c	:2\r\n	=
lpos l c rank 2	:6\r\n	=
lpos l c rank -1	:7\r\n	=
lpos l c rank -2	:6\r\n	=
lpos l c rank 10	$-1\r\n	_\r\n
lpos l c count 0	*3\r\n:2\r\n:6\r\n:7\r\n	=
lpos l c count 2	*2\r\n:2\r\n:6\r\n	=
lpos l c rank 2 count 0	*2\r\n:6\r\n:7\r\n	=
lpos l c rank -1 count 2	*2\r\n:7\r\n:6\r\n	=
lpos l c maxlen 3	:2\r\n	=
lpos l c maxlen 2	$-1\r\n	_\r\n
lpos l c count 0 maxlen 7	*2\r\n:2\r\n:6\r\n	=
lpos l c rank -1 maxlen 1	:7\r\n	=
lpos l c rank -1 maxlen 2 count 0	*2\r\n:7\r\n:6\r\n	=
lpos l zz	$-1\r\n	_\r\n
lpos l zz count 2	*0\r\n	=
lpos nokey c	$-1\r\n	_\r\n
lpos nokey c count 1	*0\r\n	=
lpos l c rank 0	-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n	=
lpos l c rank abc	-ERR value is not an integer or out of range\r\n	=
lpos l c count -1	-ERR COUNT can't be negative\r\n	=
lpos l c count abc	-ERR COUNT can't be negative\r\n	=
lpos l c maxlen -1	-ERR MAXLEN can't be negative\r\n	=
lpos l c maxlen abc	-ERR MAXLEN can't be negative\r\n	=
lpos l c rank	-ERR syntax error\r\n	=
lpos l c foo 1	-ERR syntax error\r\n	=
lpos l c count 1 count 2	*2\r\n:2\r\n:6\r\n	=
lpos l c rank -9223372036854775808	:7\r\n	=
lpos l c rank -9223372036854775808 count 0	*3\r\n:7\r\n:6\r\n:2\r\n	=
lpos l c rank 9223372036854775807 count 1	*0\r\n	=
lpos l c rank -9223372036854775807	$-1\r\n	_\r\n
set s v	+OK\r\n	=
lpos s c	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lpos s c rank 0	-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n	=
----
rpush a 1 2 3	:3\r\n	=
rpush b x y	:2\r\n	=
lmove a b left right	$1\r\n1\r\n	=
lrange a 0 -1	*2\r\n$1\r\n2\r\n$1\r\n3\r\n	=
lrange b 0 -1	*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\n1\r\n	=
lmove a b right left	$1\r\n3\r\n	=
lrange a 0 -1	*1\r\n$1\r\n2\r\n	=
lrange b 0 -1	*4\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\n1\r\n	=
lmove a a left right	$1\r\n2\r\n	=
lrange a 0 -1	*1\r\n$1\r\n2\r\n	=
lmove a b up left	-ERR syntax error\r\n	=
lmove a b left down	-ERR syntax error\r\n	=
lmove nokey b left left	$-1\r\n	_\r\n
lmove nokey b up left	-ERR syntax error\r\n	=
rpoplpush a b	$1\r\n2\r\n	=
lrange a 0 -1	*0\r\n	=
lrange b 0 -1	*5\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\n1\r\n	=
rpoplpush a a	$-1\r\n	_\r\n
rpoplpush nokey b	$-1\r\n	_\r\n
lmove a new right right	$-1\r\n	_\r\n
lrange new 0 -1	*0\r\n	=
exists a	:0\r\n	=
set s v	+OK\r\n	=
lmove s b left left	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
rpush c 1	:1\r\n	=
lmove c s left left	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lrange c 0 -1	*1\r\n$1\r\n1\r\n	=
rpoplpush c s	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
rpoplpush s c	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush a 1 2 3 4 5	:5\r\n	=
rpush b x	:1\r\n	=
lmpop 1 a left	*2\r\n$1\r\na\r\n*1\r\n$1\r\n1\r\n	=
lmpop 2 nokey a right	*2\r\n$1\r\na\r\n*1\r\n$1\r\n5\r\n	=
lmpop 2 nokey a left count 2	*2\r\n$1\r\na\r\n*2\r\n$1\r\n2\r\n$1\r\n3\r\n	=
lmpop 2 nokey a left count 10	*2\r\n$1\r\na\r\n*1\r\n$1\r\n4\r\n	=
exists a	:0\r\n	=
lmpop 2 nokey a left	*-1\r\n	_\r\n
lmpop 1 b right count 1	*2\r\n$1\r\nb\r\n*1\r\n$1\r\nx\r\n	=
lmpop 1 nokey left	*-1\r\n	_\r\n
lmpop 0 a left	-ERR numkeys should be greater than 0\r\n	=
lmpop -1 a left	-ERR numkeys should be greater than 0\r\n	=
lmpop abc a left	-ERR numkeys should be greater than 0\r\n	=
lmpop 2 a left	-ERR syntax error\r\n	=
lmpop 1 a middle	-ERR syntax error\r\n	=
lmpop 1 a left count 0	-ERR count should be greater than 0\r\n	=
lmpop 1 a left count -1	-ERR count should be greater than 0\r\n	=
lmpop 1 a left count abc	-ERR count should be greater than 0\r\n	=
lmpop 1 a left count 1 count 1	-ERR syntax error\r\n	=
lmpop 1 a left foo	-ERR syntax error\r\n	=
lmpop 1 a left count	-ERR syntax error\r\n	=
set s v	+OK\r\n	=
rpush c 1	:1\r\n	=
lmpop 2 s c left	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
lmpop 2 c s left	*2\r\n$1\r\nc\r\n*1\r\n$1\r\n1\r\n	=
lmpop 3 nokey c s left	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush a 1 2 3	:3\r\n	=
rpush b x y	:2\r\n	=
blpop a b 0	*2\r\n$1\r\na\r\n$1\r\n1\r\n	=
brpop a b 0	*2\r\n$1\r\na\r\n$1\r\n3\r\n	=
blpop nokey a 0.5	*2\r\n$1\r\na\r\n$1\r\n2\r\n	=
brpop nokey b 1	*2\r\n$1\r\nb\r\n$1\r\ny\r\n	=
blpop a b 0	*2\r\n$1\r\nb\r\n$1\r\nx\r\n	=
blpop nokey 0.01	*-1\r\n	_\r\n
brpop nokey 0.01	*-1\r\n	_\r\n
blpop a -1	-ERR timeout is negative\r\n	=
blpop a abc	-ERR timeout is not a float or out of range\r\n	=
blpop a inf	-ERR timeout is negative\r\n	=
blpop a 1e400	-ERR timeout is negative\r\n	=
blpop a 1e5000	-ERR timeout is not a float or out of range\r\n	=
blpop a " 1"	-ERR timeout is not a float or out of range\r\n	=
rpush a 7 8	:2\r\n	=
blpop a 0x10	*2\r\n$1\r\na\r\n$1\r\n7\r\n	=
set s v	+OK\r\n	=
blpop s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
blpop nokey s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
rpush c 1	:1\r\n	=
blpop c s 0	*2\r\n$1\r\nc\r\n$1\r\n1\r\n	=
----
rpush a 1 2 3	:3\r\n	=
blmove a b left right 0	$1\r\n1\r\n	=
blmove a b right left 0.5	$1\r\n3\r\n	=
lrange a 0 -1	*1\r\n$1\r\n2\r\n	=
lrange b 0 -1	*2\r\n$1\r\n3\r\n$1\r\n1\r\n	=
blmove a b up left 0	-ERR syntax error\r\n	=
blmove a b left right abc	-ERR timeout is not a float or out of range\r\n	=
blmove a b left right -1	-ERR timeout is negative\r\n	=
blmove nokey b left right 0.01	$-1\r\n	_\r\n
brpoplpush a b 0	$1\r\n2\r\n	=
brpoplpush a b -1	-ERR timeout is negative\r\n	=
brpoplpush a b abc	-ERR timeout is not a float or out of range\r\n	=
brpoplpush nokey b 0.01	$-1\r\n	_\r\n
lrange b 0 -1	*3\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n1\r\n	=
set s v	+OK\r\n	=
blmove s b left left 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
blmove b s left left 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
brpoplpush b s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush a 1 2 3 4	:4\r\n	=
blmpop 0 1 a left	*2\r\n$1\r\na\r\n*1\r\n$1\r\n1\r\n	=
blmpop 0 1 a right count 2	*2\r\n$1\r\na\r\n*2\r\n$1\r\n4\r\n$1\r\n3\r\n	=
blmpop 0 2 nokey a left count 5	*2\r\n$1\r\na\r\n*1\r\n$1\r\n2\r\n	=
blmpop 0.01 1 nokey left	*-1\r\n	_\r\n
blmpop 0.01 1 nokey left count 3	*-1\r\n	_\r\n
blmpop -1 1 a left	-ERR timeout is negative\r\n	=
blmpop abc 1 a left	-ERR timeout is not a float or out of range\r\n	=
blmpop 0 0 a left	-ERR numkeys should be greater than 0\r\n	=
blmpop 0 1 a middle	-ERR syntax error\r\n	=
blmpop 0 1 a left count 0	-ERR count should be greater than 0\r\n	=
blmpop abc 0 a left	-ERR numkeys should be greater than 0\r\n	=
blmpop -1 1 a middle	-ERR syntax error\r\n	=
blmpop abc 1 a left count 0	-ERR count should be greater than 0\r\n	=
set s v	+OK\r\n	=
blmpop 0 1 s left	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
rpush l a b c	:3\r\n	=
object encoding l	$9\r\nquicklist\r\n	=
type l	+list\r\n	=
rpush big 0123456789012345678901234567890123456789012345678901234567890123456789	:1\r\n	=
object encoding big	$9\r\nquicklist\r\n	=
----
rpush l a b c	:3\r\n	=
copy l l2	:1\r\n	=
lrange l2 0 -1	*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n	=
rename l l3	+OK\r\n	=
lrange l3 0 -1	*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n	=
exists l	:0\r\n	=
type l3	+list\r\n	=
rpush l3 d	:4\r\n	=
lrange l3 0 -1	*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
lrange l2 0 -1	*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n	=
del l2	:1\r\n	=
lrange l2 0 -1	*0\r\n	=
set l2 x	+OK\r\n	=
copy l3 l2	:0\r\n	=
copy l3 l2 replace	:1\r\n	=
lrange l2 0 -1	*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
renamenx l3 l2	:0\r\n	=
lrange l3 0 9223372036854775807	*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
lrange l3 -9223372036854775808 -1	*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
lrange l3 -9223372036854775808 9223372036854775807	*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
ltrim l3 0 -9223372036854775808	+OK\r\n	=
exists l3	:0\r\n	=
----
rpush l a b c d	:4\r\n	=
ltrim l -9223372036854775808 9223372036854775807	+OK\r\n	=
lrange l 0 -1	*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
lrem l 9223372036854775807 a	:1\r\n	=
lrem l -9223372036854775807 d	:1\r\n	=
lrange l 0 -1	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
lpos l b maxlen 9223372036854775807	:0\r\n	=
lpos l b count 9223372036854775807	*1\r\n:0\r\n	=
lpos l b rank -9223372036854775807 count 1	*0\r\n	=
lpos l c rank 1 count 1 maxlen 1	*0\r\n	=
lpos l c rank 1 count 1 maxlen 2	*1\r\n:1\r\n	=
lpos l c maxlen 0 rank 1 count 1	*1\r\n:1\r\n	=
lset l 9223372036854775807 x	-ERR index out of range\r\n	=
lset l -9223372036854775808 x	-ERR index out of range\r\n	=
lindex l 1	$1\r\nc\r\n	=
rpush e ""	:1\r\n	=
lrange e 0 -1	*1\r\n$0\r\n\r\n	=
lpos e ""	:0\r\n	=
linsert e before "" "x y"	:2\r\n	=
lrange e 0 -1	*2\r\n$3\r\nx y\r\n$0\r\n\r\n	=
lrem e 0 ""	:1\r\n	=
lrange e 0 -1	*1\r\n$3\r\nx y\r\n	=
lpush l3 a	:1\r\n	=
expire l3 100	:1\r\n	=
lpush l3 b	:2\r\n	=
ttl l3	:100\r\n	=
rpop l3	$1\r\na\r\n	=
ttl l3	:100\r\n	=
lmove l3 l4 left left	$1\r\nb\r\n	=
ttl l4	:-1\r\n	=
exists l3	:0\r\n	=
----
rpush src a	:1\r\n	=
lpush dst b	:1\r\n	=
expire dst 100	:1\r\n	=
lmove src dst right left	$1\r\na\r\n	=
lrange dst 0 -1	*2\r\n$1\r\na\r\n$1\r\nb\r\n	=
ttl dst	:100\r\n	=
lmpop 1 dst right count 5	*2\r\n$3\r\ndst\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n	=
exists dst	:0\r\n	=
rpush a x	:1\r\n	=
lmove a a right left	$1\r\nx\r\n	=
lrange a 0 -1	*1\r\n$1\r\nx\r\n	=
rpoplpush a a	$1\r\nx\r\n	=
lrange a 0 -1	*1\r\n$1\r\nx\r\n	=
"##;
}

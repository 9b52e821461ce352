//! Sets: SADD family, pops and random picks, SMOVE, the algebra commands
//! (SINTER, SUNION, SDIFF and their STORE forms, SINTERCARD) and SSCAN.
//!
//! A set is an observed-remove set ([`OrSet`]): a member is present while it
//! has a tag. SADD adds a fresh tag and removes the tags it observed (so a
//! re-add keeps one tag, and wins over a concurrent SREM); SREM and pops
//! remove only the tags they observed, so two instances can pop the same
//! member (at-least-once). The STORE forms replace the destination: they
//! delete what they observed of it, then add each member of the result.

use std::collections::HashSet;

use bytes::Bytes;
use commands::errors as e_;
use crdt::value::tags_ctx;
use crdt::{Blob, Db, Kind, Op, OrSet, Value, VersionVector};
use resp::Frame;

use crate::args::eq;
use crate::hash::{parse_cursor, parse_scan_opts, pick_indexes, range_long, scan_batch, scan_step, too_many, RANDOM_REPLY_MAX};
use crate::string::key_ctx;
use crate::{err, error, int, notify, Access, Engine};

type Reply = Result<Frame, Frame>;

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    let r = match name {
        "sadd" => sadd(e, a),
        "srem" => srem(e, a),
        "smembers" => read(e, &a[1]).map(|s| Frame::Set(s.map_or(Vec::new(), |s| s.members.keys().map(|m| bulk(m)).collect()))),
        "sismember" => read(e, &a[1]).map(|s| int(s.is_some_and(|s| s.members.contains_key(&a[2][..])) as i64)),
        "smismember" => read(e, &a[1])
            .map(|s| Frame::Array(a[2..].iter().map(|m| int(s.is_some_and(|s| s.members.contains_key(&m[..])) as i64)).collect())),
        "scard" => read(e, &a[1]).map(|s| int(s.map_or(0, |s| s.members.len() as i64))),
        "spop" => spop(e, a),
        "srandmember" => srandmember(e, a),
        "smove" => smove(e, a),
        "sinter" => algebra(e, &a[1..], Algebra::Inter).map(set_frame),
        "sunion" => algebra(e, &a[1..], Algebra::Union).map(set_frame),
        "sdiff" => algebra(e, &a[1..], Algebra::Diff).map(set_frame),
        "sinterstore" => store(e, a, Algebra::Inter),
        "sunionstore" => store(e, a, Algebra::Union),
        "sdiffstore" => store(e, a, Algebra::Diff),
        "sintercard" => sintercard(e, a),
        "sscan" => sscan(e, a),
        _ => return None,
    };
    Some(r.unwrap_or_else(|f| f))
}

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

fn set_frame(members: Vec<Blob>) -> Frame {
    Frame::Set(members.iter().map(|m| bulk(m)).collect())
}

/// Type-checks `key` (expiring it first if its deadline passed): Ok(true)
/// when it holds a set, Ok(false) when it does not exist, WRONGTYPE
/// otherwise. Reads count keyspace hits and misses.
fn check(e: &mut Engine, key: &[u8], access: Access) -> Result<bool, Frame> {
    let is_read = matches!(access, Access::Read);
    let found = e.typed(key, Kind::Set, access)?.is_some();
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

/// The visible set at `key` (after [`check`] said it exists).
fn get<'a>(db: &'a Db, key: &[u8]) -> Option<&'a OrSet> {
    match db.get(key).and_then(|en| en.value.as_ref()) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

fn read<'a>(e: &'a mut Engine, key: &[u8]) -> Result<Option<&'a OrSet>, Frame> {
    if !check(e, key, Access::Read)? {
        return Ok(None);
    }
    Ok(get(&e.db, key))
}

/// The tags this instance observed of a member (None if it is absent).
fn member_ctx(db: &Db, key: &[u8], member: &[u8]) -> Option<VersionVector> {
    let tags = get(db, key)?.members.get(member)?;
    let mut vv = VersionVector::new();
    tags_ctx(tags, &mut vv);
    Some(vv)
}

/// Adds a member (a fresh tag replacing the observed ones). True if it was new.
fn add(e: &mut Engine, key: &[u8], member: &[u8]) -> bool {
    e.commit_sadd(key, member)
}

/// Removes the observed tags of a member. True if it was there.
fn remove(e: &mut Engine, key: &[u8], member: &[u8]) -> bool {
    match member_ctx(&e.db, key, member) {
        Some(ctx) => {
            e.commit(Op::SRem { key: key.into(), member: member.into(), ctx });
            true
        }
        None => false,
    }
}

fn sadd(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    check(e, key, Access::Write)?;
    let mut n = 0;
    for m in &a[2..] {
        n += add(e, key, m) as i64;
    }
    if n > 0 {
        e.notify(notify::SET, "sadd", key);
    }
    Ok(int(n))
}

fn srem(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    if !check(e, key, Access::Write)? {
        return Ok(int(0));
    }
    let mut n = 0;
    for m in &a[2..] {
        n += remove(e, key, m) as i64;
    }
    if n > 0 {
        e.notify(notify::SET, "srem", key);
        e.notify_if_gone(key);
    }
    Ok(int(n))
}

/// `count` members picked at random: distinct (all of them when count
/// reaches the size) or, with `distinct` false, independent draws.
fn random_members(e: &mut Engine, key: &[u8], count: usize, distinct: bool) -> Vec<Blob> {
    let Some(s) = get(&e.db, key) else { return Vec::new() };
    if distinct && count >= s.members.len() {
        return s.members.keys().cloned().collect();
    }
    let all: Vec<&Blob> = s.members.keys().collect();
    pick_indexes(&mut e.rng, all.len(), count, distinct).into_iter().map(|i| all[i].clone()).collect()
}

fn spop(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    if a.len() > 3 {
        return Err(error(err::SYNTAX));
    }
    if a.len() == 2 {
        if !check(e, key, Access::Write)? {
            return Ok(Frame::Null);
        }
        let m = random_members(e, key, 1, true).pop().expect("a visible set is not empty");
        remove(e, key, &m);
        e.notify(notify::SET, "spop", key);
        e.notify_if_gone(key);
        return Ok(bulk(&m));
    }
    let count = match crdt::cell::parse_i64_strict(&a[2]) {
        Some(n) if n >= 0 => n as usize,
        _ => return Err(error(e_::NOT_POSITIVE)),
    };
    if !check(e, key, Access::Write)? || count == 0 {
        return Ok(Frame::Set(Vec::new()));
    }
    let picked = random_members(e, key, count, true);
    for m in &picked {
        remove(e, key, m);
    }
    e.notify(notify::SET, "spop", key);
    e.notify_if_gone(key);
    Ok(set_frame(picked))
}

fn srandmember(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    if a.len() > 3 {
        return Err(error(err::SYNTAX));
    }
    if a.len() == 2 {
        if !check(e, key, Access::Read)? {
            return Ok(Frame::Null);
        }
        let m = random_members(e, key, 1, true).pop().expect("a visible set is not empty");
        return Ok(bulk(&m));
    }
    let l = range_long(&a[2])?;
    if !check(e, key, Access::Read)? || l == 0 {
        return Ok(Frame::Array(Vec::new()));
    }
    if l < 0 && l.unsigned_abs() > RANDOM_REPLY_MAX {
        return Err(too_many());
    }
    let picked = random_members(e, key, l.unsigned_abs().min(usize::MAX as u64) as usize, l > 0);
    Ok(Frame::Array(picked.iter().map(|m| bulk(m)).collect()))
}

fn smove(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (src, dst, member) = (&a[1], &a[2], &a[3]);
    let src_exists = e.lookup(src, Access::Write).is_some();
    e.lookup(dst, Access::Write);
    if !src_exists {
        return Ok(int(0));
    }
    check(e, src, Access::Write)?;
    check(e, dst, Access::Write)?;
    let present = member_ctx(&e.db, src, member).is_some();
    if src == dst || !present {
        return Ok(int(present as i64));
    }
    remove(e, src, member);
    e.notify(notify::SET, "srem", src);
    e.notify_if_gone(src);
    // As Redis: a destination that already holds the member is left alone
    // (no effect on it, so a WATCH on it stays clean).
    if member_ctx(&e.db, dst, member).is_none() {
        add(e, dst, member);
        e.notify(notify::SET, "sadd", dst);
    }
    Ok(int(1))
}

#[derive(Clone, Copy, PartialEq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// Type-checks every key (WRONGTYPE on the first of another type, even
/// after a missing one, as Redis 7.0) and says which exist.
fn check_all(e: &mut Engine, keys: &[&[u8]]) -> Result<Vec<bool>, Frame> {
    keys.iter().map(|k| check(e, k, Access::Read)).collect()
}

fn sets<'a>(db: &'a Db, keys: &[&[u8]], present: &[bool]) -> Vec<Option<&'a OrSet>> {
    keys.iter().zip(present).map(|(k, &p)| if p { get(db, k) } else { None }).collect()
}

/// The intersection's members, at most `limit` of them (0: no limit).
fn inter<'a>(sets: &[Option<&'a OrSet>], limit: usize) -> Vec<&'a Blob> {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&OrSet>>>() else { return Vec::new() };
    sets.sort_by_key(|s| s.members.len());
    let mut out = Vec::new();
    for m in sets[0].members.keys() {
        if sets[1..].iter().all(|s| s.members.contains_key(m)) {
            out.push(m);
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

fn algebra(e: &mut Engine, keys: &[&[u8]], op: Algebra) -> Result<Vec<Blob>, Frame> {
    let present = check_all(e, keys)?;
    let sets = sets(&e.db, keys, &present);
    let out: Vec<&Blob> = match op {
        Algebra::Inter => inter(&sets, 0),
        Algebra::Union => {
            let mut seen: HashSet<&Blob> = HashSet::new();
            let mut out = Vec::new();
            for s in sets.iter().flatten() {
                for m in s.members.keys() {
                    if seen.insert(m) {
                        out.push(m);
                    }
                }
            }
            out
        }
        Algebra::Diff => match sets[0] {
            None => Vec::new(),
            Some(first) => first.members.keys().filter(|m| !sets[1..].iter().flatten().any(|s| s.members.contains_key(*m))).collect(),
        },
    };
    Ok(out.into_iter().cloned().collect())
}

fn store(e: &mut Engine, a: &[&[u8]], op: Algebra) -> Reply {
    let dst = &a[1];
    let members = algebra(e, &a[2..], op)?;
    e.lookup(dst, Access::Write);
    let existed = e.db.get(dst).is_some();
    if e.db.entries.contains_key(&dst[..]) {
        let ctx = key_ctx(e, dst);
        e.commit(Op::Del { key: dst[..].into(), ctx });
    }
    for m in &members {
        e.commit(Op::SAdd { key: dst[..].into(), member: m.clone(), ctx: VersionVector::new() });
    }
    if !members.is_empty() {
        e.overwritten(dst, existed);
        let name = match op {
            Algebra::Inter => "sinterstore",
            Algebra::Union => "sunionstore",
            Algebra::Diff => "sdiffstore",
        };
        e.notify(notify::SET, name, dst);
    } else if existed {
        e.notify(notify::GENERIC, "del", dst);
    }
    Ok(int(members.len() as i64))
}

fn sintercard(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let numkeys = match crdt::cell::parse_i64_strict(&a[1]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(error(e_::NUMKEYS_NOT_POSITIVE)),
    };
    if numkeys > a.len() - 2 {
        return Err(error(e_::TOO_MANY_KEYS));
    }
    let keys = &a[2..2 + numkeys];
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if eq(&a[i], "limit") && i + 1 < a.len() {
            limit = match crdt::cell::parse_i64_strict(&a[i + 1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(error(e_::LIMIT_NEGATIVE)),
            };
            i += 2;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let present = check_all(e, keys)?;
    let sets = sets(&e.db, keys, &present);
    Ok(int(inter(&sets, limit).len() as i64))
}

/// Would Redis keep this set as an intset (set-max-intset-entries 512)?
/// Redis answers an intset's SCAN whole, with cursor 0.
fn compact(s: &OrSet) -> bool {
    s.members.len() <= 512 && s.members.keys().all(|m| crdt::cell::parse_i64_strict(m).is_some())
}

fn sscan(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    let cursor = parse_cursor(&a[2])?;
    if !check(e, key, Access::Read)? {
        return Ok(Frame::Array(vec![bulk(b"0"), Frame::Array(Vec::new())]));
    }
    let o = parse_scan_opts(&a[3..])?;
    let s = get(&e.db, key).expect("checked");
    let (next, picked): (u64, Vec<&Blob>) =
        if compact(s) { (0, s.members.keys().collect()) } else { scan_step(s.members.keys().map(|m| (&m[..], m)), cursor, scan_batch(o.count, s.members.len())) };
    let out = picked.into_iter().filter(|m| o.matches(m)).map(|m| bulk(m)).collect();
    Ok(Frame::Array(vec![bulk(next.to_string().as_bytes()), Frame::Array(out)]))
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

    /// The members of a Set or Array reply, sorted.
    fn members(f: Frame) -> Vec<String> {
        let (Frame::Set(v) | Frame::Array(v)) = f else { panic!("not a collection: {f:?}") };
        let mut out: Vec<String> = v
            .into_iter()
            .map(|x| match x {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn engine(id: u16) -> Engine {
        Engine::new(Config { instance: InstanceId(id), active_active: true, ..Config::default() }, id as u64)
    }

    #[test]
    fn basic_commands() {
        let mut e = Engine::new(Config::default(), 1);
        assert_eq!(run(&mut e, "sadd s a b c a"), int(3));
        assert_eq!(run(&mut e, "sadd s a d"), int(1));
        assert_eq!(run(&mut e, "scard s"), int(4));
        assert_eq!(members(run(&mut e, "smembers s")), strs(&["a", "b", "c", "d"]));
        assert!(matches!(run(&mut e, "smembers s"), Frame::Set(_)));
        assert_eq!(run(&mut e, "sismember s a"), int(1));
        assert_eq!(run(&mut e, "sismember s z"), int(0));
        assert_eq!(run(&mut e, "smismember s a z"), Frame::Array(vec![int(1), int(0)]));
        assert_eq!(run(&mut e, "smismember nokey a"), Frame::Array(vec![int(0)]));
        assert_eq!(run(&mut e, "srem s a a z"), int(1));
        assert_eq!(run(&mut e, "srem nokey a"), int(0));
        assert_eq!(run(&mut e, "srem s b c d"), int(3));
        assert_eq!(run(&mut e, "exists s"), int(0));
        assert_eq!(run(&mut e, "smembers s"), Frame::Set(vec![]));
        assert_eq!(run(&mut e, "scard s"), int(0));
    }

    #[test]
    fn wrongtype_everywhere() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "set x v");
        run(&mut e, "sadd s a");
        for cmd in [
            "sadd x a",
            "srem x a",
            "smembers x",
            "sismember x a",
            "smismember x a",
            "scard x",
            "spop x",
            "spop x 2",
            "srandmember x",
            "srandmember x 2",
            "smove x s a",
            "smove s x a",
            "sinter s x",
            "sinter nokey x",
            "sunion s x",
            "sdiff nokey x",
            "sinterstore d nokey x",
            "sunionstore d s x",
            "sdiffstore d s x",
            "sintercard 2 nokey x",
            "sscan x 0",
        ] {
            assert!(errs(&run(&mut e, cmd), err::WRONGTYPE), "{cmd}");
        }
        assert_eq!(run(&mut e, "smove nokey x a"), int(0));
        assert_eq!(run(&mut e, "get x"), b("v"));
        assert_eq!(run(&mut e, "exists d"), int(0));
        assert_eq!(e.effects.len(), 2, "a failed command changes nothing");
    }

    #[test]
    fn pops_and_random_picks() {
        let mut e = Engine::new(Config::default(), 3);
        assert_eq!(run(&mut e, "spop nokey"), Frame::Null);
        assert_eq!(run(&mut e, "spop nokey 3"), Frame::Set(vec![]));
        assert_eq!(run(&mut e, "srandmember nokey"), Frame::Null);
        assert_eq!(run(&mut e, "srandmember nokey 3"), Frame::Array(vec![]));
        run(&mut e, "sadd s a b c d e");
        assert!(errs(&run(&mut e, "spop s -1"), e_::NOT_POSITIVE));
        assert!(errs(&run(&mut e, "spop s x"), e_::NOT_POSITIVE));
        assert!(errs(&run(&mut e, "spop s 1 2"), err::SYNTAX));
        assert!(errs(&run(&mut e, "srandmember s 1 2"), err::SYNTAX));
        assert!(errs(&run(&mut e, "srandmember s x"), err::NOT_INT));
        assert!(errs(&run(&mut e, "srandmember s -9223372036854775808"), e_::OUT_OF_RANGE_LONG));
        assert_eq!(run(&mut e, "spop s 0"), Frame::Set(vec![]));
        assert_eq!(run(&mut e, "srandmember s 0"), Frame::Array(vec![]));
        assert_eq!(members(run(&mut e, "srandmember s 10")), strs(&["a", "b", "c", "d", "e"]));
        let three = members(run(&mut e, "srandmember s 3"));
        assert_eq!(three.len(), 3);
        assert!(three.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(members(run(&mut e, "srandmember s -20")).len(), 20);
        let popped = members(run(&mut e, "spop s 2"));
        assert_eq!(popped.len(), 2);
        assert_eq!(run(&mut e, "scard s"), int(3));
        let Frame::Bulk(one) = run(&mut e, "spop s") else { panic!() };
        assert!(!popped.contains(&String::from_utf8(one.to_vec()).unwrap()));
        assert_eq!(members(run(&mut e, "spop s 10")).len(), 2);
        assert_eq!(run(&mut e, "exists s"), int(0));
    }

    #[test]
    fn smove() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "sadd s a b");
        assert_eq!(run(&mut e, "smove s s a"), int(1));
        assert_eq!(run(&mut e, "smove s s z"), int(0));
        assert_eq!(run(&mut e, "smove s d z"), int(0));
        assert_eq!(run(&mut e, "smove s d a"), int(1));
        assert_eq!(members(run(&mut e, "smembers d")), strs(&["a"]));
        run(&mut e, "sadd d b");
        assert_eq!(run(&mut e, "smove s d b"), int(1));
        assert_eq!(run(&mut e, "exists s"), int(0));
        assert_eq!(members(run(&mut e, "smembers d")), strs(&["a", "b"]));
        // Moving a member the destination already holds only removes it
        // from the source, and writes nothing to the destination.
        run(&mut e, "sadd s a");
        e.effects.clear();
        assert_eq!(run(&mut e, "smove s d a"), int(1));
        assert!(e.effects.iter().all(|f| f.op.key() == Some(&b"s"[..])));
        assert_eq!(members(run(&mut e, "smembers d")), strs(&["a", "b"]));
    }

    #[test]
    fn algebra_and_store() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "sadd s1 a b c d");
        run(&mut e, "sadd s2 c d e");
        run(&mut e, "sadd s3 d e f");
        assert_eq!(members(run(&mut e, "sinter s1 s2")), strs(&["c", "d"]));
        assert_eq!(members(run(&mut e, "sinter s1 s2 s3")), strs(&["d"]));
        assert_eq!(members(run(&mut e, "sinter s1 nokey")), strs(&[]));
        assert_eq!(members(run(&mut e, "sunion s1 nokey s3")), strs(&["a", "b", "c", "d", "e", "f"]));
        assert_eq!(members(run(&mut e, "sdiff s1 s2 nokey")), strs(&["a", "b"]));
        assert_eq!(members(run(&mut e, "sdiff nokey s1")), strs(&[]));
        assert!(matches!(run(&mut e, "sinter s1"), Frame::Set(_)));
        assert_eq!(run(&mut e, "sintercard 2 s1 s2"), int(2));
        assert_eq!(run(&mut e, "sintercard 2 s1 s2 limit 1"), int(1));
        assert_eq!(run(&mut e, "sintercard 2 s1 s2 limit 1 limit 0"), int(2));
        assert_eq!(run(&mut e, "sintercard 2 s1 nokey"), int(0));
        assert!(errs(&run(&mut e, "sintercard 0 s1"), e_::NUMKEYS_NOT_POSITIVE));
        assert!(errs(&run(&mut e, "sintercard x s1"), e_::NUMKEYS_NOT_POSITIVE));
        assert!(errs(&run(&mut e, "sintercard 3 s1 s2"), e_::TOO_MANY_KEYS));
        assert!(errs(&run(&mut e, "sintercard 1 s1 limit -1"), e_::LIMIT_NEGATIVE));
        assert!(errs(&run(&mut e, "sintercard 1 s1 limit"), err::SYNTAX));
        assert!(errs(&run(&mut e, "sintercard 1 s1 s2"), err::SYNTAX));
        // STORE replaces the destination, whatever it held, TTL included.
        run(&mut e, "set d x");
        run(&mut e, "expire d 100");
        assert_eq!(run(&mut e, "sinterstore d s1 s2"), int(2));
        assert_eq!(members(run(&mut e, "smembers d")), strs(&["c", "d"]));
        assert_eq!(run(&mut e, "ttl d"), int(-1));
        assert_eq!(run(&mut e, "sunionstore d d s3"), int(4));
        assert_eq!(members(run(&mut e, "smembers d")), strs(&["c", "d", "e", "f"]));
        assert_eq!(run(&mut e, "sdiffstore d d s2"), int(1));
        assert_eq!(members(run(&mut e, "smembers d")), strs(&["f"]));
        assert_eq!(run(&mut e, "sinterstore d s1 nokey"), int(0));
        assert_eq!(run(&mut e, "exists d"), int(0));
        assert_eq!(run(&mut e, "sdiffstore d2 nokey"), int(0));
        assert_eq!(run(&mut e, "exists d2"), int(0));
    }

    #[test]
    fn sscan() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "sadd ints 1 2 3");
        // An intset comes back whole, with cursor 0, whatever the cursor.
        let Frame::Array(r) = run(&mut e, "sscan ints 99 count 1") else { panic!() };
        assert_eq!(r[0], b("0"));
        assert_eq!(members(r[1].clone()), strs(&["1", "2", "3"]));
        let mut cmd = String::from("sadd s");
        for i in 0..1000 {
            cmd.push_str(&format!(" m{i}"));
        }
        run(&mut e, &cmd);
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let Frame::Array(r) = run(&mut e, &format!("sscan s {cursor} count 50")) else { panic!() };
            let Frame::Bulk(c) = &r[0] else { panic!() };
            seen.extend(members(r[1].clone()));
            // Members removed or added during the walk don't disturb it.
            run(&mut e, &format!("srem s m{}", seen.len()));
            run(&mut e, &format!("sadd s n{}", seen.len()));
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        let set: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(set.len(), seen.len(), "no member twice");
        let removed: HashSet<String> = (0..=seen.len()).map(|i| format!("m{i}")).collect();
        for i in 0..1000 {
            let m = format!("m{i}");
            assert!(set.contains(&m) || removed.contains(&m), "{m} missed");
        }
        assert!(errs(&run(&mut e, "sscan s 0 count 0"), err::SYNTAX));
        assert!(errs(&run(&mut e, "sscan s 0 count x"), err::NOT_INT));
        assert!(errs(&run(&mut e, "sscan s -"), "ERR invalid cursor"));
        assert_eq!(run(&mut e, "sscan nokey 0 bogus"), Frame::Array(vec![b("0"), Frame::Array(vec![])]));
        let Frame::Array(r) = run(&mut e, "sscan s 0 count 100000 match m99*") else { panic!() };
        assert_eq!(members(r[1].clone()), strs(&["m99", "m990", "m991", "m992", "m993", "m994", "m995", "m996", "m997", "m998", "m999"]));
    }

    /// Runs commands on two instances concurrently, delivers each side's
    /// effects to the other (in both orders, with duplicates) and checks the
    /// two converge to one state; returns the probes' replies.
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
            let ex: Vec<_> = x.effects.drain(..).collect();
            let ey: Vec<_> = y.effects.drain(..).collect();
            if order == 0 {
                ex.iter().for_each(|f| {
                    y.apply_remote(f);
                });
                ey.iter().for_each(|f| {
                    x.apply_remote(f);
                });
            } else {
                ey.iter().for_each(|f| {
                    x.apply_remote(f);
                });
                ex.iter().for_each(|f| {
                    y.apply_remote(f);
                });
                ex.iter().for_each(|f| assert!(!y.apply_remote(f), "duplicates change nothing"));
            }
            assert_eq!(x.db.digest(), y.db.digest());
            let px: Vec<Frame> = probe.iter().map(|c| run(&mut x, c)).collect();
            let py: Vec<Frame> = probe.iter().map(|c| run(&mut y, c)).collect();
            let norm = |v: Vec<Frame>| -> Vec<Frame> {
                v.into_iter()
                    .map(|f| match f {
                        Frame::Set(_) => Frame::Array(members(f).iter().map(|m| b(m)).collect()),
                        other => other,
                    })
                    .collect()
            };
            let (px, py) = (norm(px), norm(py));
            assert_eq!(px, py);
            results = px;
        }
        results
    }

    fn arr(v: &[&str]) -> Frame {
        Frame::Array(v.iter().map(|s| b(s)).collect())
    }

    #[test]
    fn concurrent_writes_converge() {
        // The spec's observed-remove example: R1 SREM a, R2 SADD c, R1 SREM c
        // (not seen yet: no effect) → {b, c}.
        let r = converge(&["sadd s a b"], &["srem s a", "srem s c"], &["sadd s c"], &["smembers s"]);
        assert_eq!(r, vec![arr(&["b", "c"])]);
        // Add wins over a concurrent remove, even a re-add of a present member.
        let r = converge(&["sadd s a b"], &["srem s a"], &["sadd s a"], &["smembers s"]);
        assert_eq!(r, vec![arr(&["a", "b"])]);
        // DEL removes only what it observed: a concurrent SADD survives.
        let r = converge(&["sadd s a b"], &["del s"], &["sadd s e2"], &["smembers s", "exists s"]);
        assert_eq!(r, vec![arr(&["e2"]), int(1)]);
        // Concurrent pops of a one-member set: both pop it, it is gone once.
        let r = converge(&["sadd s only"], &["spop s"], &["spop s"], &["scard s", "exists s"]);
        assert_eq!(r, vec![int(0), int(0)]);
        // SMOVE racing SREM of the moved member at the source.
        let r = converge(&["sadd s a b"], &["smove s d a"], &["srem s a"], &["smembers s", "smembers d"]);
        assert_eq!(r, vec![arr(&["b"]), arr(&["a"])]);
        // SINTERSTORE replaces what it observed of the destination; a
        // concurrent add to the destination survives.
        let r = converge(&["sadd s1 a b", "sadd s2 b c", "sadd d old"], &["sinterstore d s1 s2"], &["sadd d new"], &["smembers d"]);
        assert_eq!(r, vec![arr(&["b", "new"])]);
        // Concurrent STOREs into one destination keep both results (adds win).
        let r = converge(&["sadd s1 a", "sadd s2 b"], &["sunionstore d s1"], &["sunionstore d s2"], &["smembers d"]);
        assert_eq!(r, vec![arr(&["a", "b"])]);
    }
}

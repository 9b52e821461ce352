//! SORT and SORT_RO: sorting the elements of a list, set or sorted set,
//! numerically or as strings, by the elements themselves or by the values
//! of other keys (`BY weight_*`, `BY obj_*->field`), returning other keys'
//! values (`GET #`, `GET obj_*->field`) and optionally storing the result.
//!
//! A port of Redis 7.0's `sortCommandGeneric` (sort.c), down to its corner
//! cases: LIMIT clamped to the object's size, `BY` without `*` meaning "do
//! not sort" (native order for lists and sorted sets; a set is then sorted
//! ALPHA when the result is stored, so the stored order is deterministic),
//! numeric ties broken by comparing the elements as strings.
//!
//! STORE writes the destination through the list family's own write path:
//! a DEL of what this instance observed of the destination, then one
//! insert per element at the tail, so the stored list is ordinary CRDT
//! effects that replicate like an RPUSH.

use std::cmp::Ordering;

use bytes::Bytes;
use crdt::{Blob, Value};
use resp::Frame;

use crate::args::{self, eq};
use crate::string::{cell_bytes, key_ctx};
use crate::{err, error, int, notify, Access, Engine};

type Reply = Result<Frame, Frame>;

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    let r = match name {
        "sort" => sort(e, a, false),
        "sort_ro" => sort(e, a, true),
        _ => return None,
    };
    Some(r.unwrap_or_else(|f| f))
}

/// The part of an argument C code sees (up to a NUL byte).
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// The parsed options of one SORT invocation.
struct Opts<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    by: Option<&'a [u8]>,
    /// `BY` a pattern without `*`: keep the native order.
    dontsort: bool,
    store: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
}

fn parse<'a>(a: &[&'a [u8]], readonly: bool) -> Result<Opts<'a>, Frame> {
    let mut o = Opts { desc: false, alpha: false, limit_start: 0, limit_count: -1, by: None, dontsort: false, store: None, gets: Vec::new() };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let arg = &a[j][..];
        if eq(arg, "asc") {
            o.desc = false;
        } else if eq(arg, "desc") {
            o.desc = true;
        } else if eq(arg, "alpha") {
            o.alpha = true;
        } else if eq(arg, "limit") && left >= 2 {
            o.limit_start = args::int(&a[j + 1])?;
            o.limit_count = args::int(&a[j + 2])?;
            j += 2;
        } else if !readonly && eq(arg, "store") && left >= 1 {
            o.store = Some(&a[j + 1]);
            j += 1;
        } else if eq(arg, "by") && left >= 1 {
            o.by = Some(&a[j + 1]);
            // Without a '*' there is nothing to look up: do not sort.
            o.dontsort = !c_str(&a[j + 1]).contains(&b'*');
            j += 1;
        } else if eq(arg, "get") && left >= 1 {
            o.gets.push(&a[j + 1]);
            j += 1;
        } else {
            return Err(error(err::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the
/// first `*` is replaced by the element, and a `->field` suffix (after the
/// `*`, with something after the arrow) reads a hash field instead of a
/// string. None when there is no `*`, no such key, or a key of another type.
fn by_pattern(e: &mut Engine, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    let pattern = c_str(pattern);
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let (middle, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + middle.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(middle);
    let entry = e.read(&key)?;
    match (entry.value.as_ref()?, field) {
        (Value::Str(cell), None) => Some(cell_bytes(cell)),
        (Value::Hash(h), Some(f)) => h.get(f).map(|c| crate::hash::field_value(&c)),
        _ => None,
    }
}

/// Redis's `strtod` check in SORT: the whole string must be a number, no
/// overflow or underflow, no NaN (leading spaces are accepted, as strtod does).
fn score(b: &[u8]) -> Result<f64, ()> {
    let s = c_str(b);
    let r = crate::zset::strtod(s);
    if r.len != s.len() || r.erange || r.value.is_nan() {
        return Err(());
    }
    Ok(r.value)
}

/// One element being sorted, with what it sorts by.
struct Item {
    obj: Blob,
    score: f64,
    /// ALPHA BY a pattern: the value looked up (None: no such key).
    cmp: Option<Vec<u8>>,
}

/// Would Redis keep this set as an intset (set-max-intset-entries 512)?
/// An intset iterates in numeric order, which `BY nosort` shows.
fn intset_order(members: &mut [Blob]) {
    if members.len() > 512 {
        return;
    }
    let ints: Option<Vec<i64>> = members.iter().map(|m| crdt::cell::parse_i64_strict(m)).collect();
    if let Some(ints) = ints {
        let mut pairs: Vec<(i64, Blob)> = ints.into_iter().zip(members.iter().cloned()).collect();
        pairs.sort_by_key(|(i, _)| *i);
        for (slot, (_, m)) in members.iter_mut().zip(pairs) {
            *slot = m;
        }
    }
}

fn sort(e: &mut Engine, a: &[&[u8]], readonly: bool) -> Reply {
    let mut o = parse(a, readonly)?;
    // The elements in their native order (a missing key sorts as an empty list).
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let (kind, native): (Kind, Vec<Blob>) = match e.read(&a[1]).and_then(|en| en.value.as_ref()) {
        None => (Kind::List, Vec::new()),
        Some(Value::List(l)) => (Kind::List, l.iter().map(|x| Blob::from(x.value())).collect()),
        Some(Value::Set(s)) => {
            let mut members: Vec<Blob> = s.members.keys().cloned().collect();
            intset_order(&mut members);
            (Kind::Set, members)
        }
        Some(Value::ZSet(z)) => (Kind::ZSet, z.index.iter().map(|(_, m)| m.clone()).collect()),
        Some(_) => return Err(error(err::WRONGTYPE)),
    };
    // A set has no order of its own: what is stored must not depend on it.
    if o.dontsort && matches!(kind, Kind::Set) && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    // LIMIT, clamped to the size as Redis 7.0 does (no overflow).
    let len = native.len() as i64;
    let mut start = o.limit_start.max(0).min(len);
    let count = o.limit_count.max(-1).min(len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let mut items: Vec<Item>;
    if o.dontsort && !matches!(kind, Kind::Set) {
        // Lists and sorted sets keep their order (DESC walks it backwards);
        // only the LIMIT range is loaded.
        let take = if end >= start { (end - start + 1) as usize } else { 0 };
        let picked: Vec<Blob> = if o.desc {
            native.into_iter().rev().skip(start.max(0) as usize).take(take).collect()
        } else {
            native.into_iter().skip(start.max(0) as usize).take(take).collect()
        };
        items = picked.into_iter().map(|obj| Item { obj, score: 0.0, cmp: None }).collect();
        if end >= start {
            end -= start;
            start = 0;
        }
    } else {
        items = native.into_iter().map(|obj| Item { obj, score: 0.0, cmp: None }).collect();
    }

    let mut bad_score = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let byval = match o.by {
                Some(p) => match by_pattern(e, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !o.alpha {
                        bad_score |= score(&it.obj).map(|s| it.score = s).is_err();
                    }
                    continue;
                }
            };
            if o.alpha {
                it.cmp = Some(byval);
            } else {
                bad_score |= score(&byval).map(|s| it.score = s).is_err();
            }
        }
        let (alpha, by, desc) = (o.alpha, o.by.is_some(), o.desc);
        let cmp = |x: &Item, y: &Item| -> Ordering {
            let c = if !alpha {
                x.score.partial_cmp(&y.score).unwrap_or(Ordering::Equal).then_with(|| x.obj.cmp(&y.obj))
            } else if by {
                match (&x.cmp, &y.cmp) {
                    (Some(p), Some(q)) => c_str(p).cmp(c_str(q)),
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                }
            } else {
                x.obj.cmp(&y.obj)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        items.sort_by(cmp);
    }
    if bad_score {
        return Err(error("ERR One or more scores can't be converted into double"));
    }

    let range = if end >= start { &items[start as usize..=end as usize] } else { &items[..0] };
    match o.store {
        None => {
            let mut out = Vec::with_capacity(range.len() * o.gets.len().max(1));
            for it in range {
                if o.gets.is_empty() {
                    out.push(Frame::Bulk(Bytes::copy_from_slice(&it.obj)));
                }
                for g in &o.gets {
                    out.push(by_pattern(e, g, &it.obj).map_or(Frame::Null, |v| Frame::Bulk(v.into())));
                }
            }
            Ok(Frame::Array(out))
        }
        Some(dst) => {
            let mut values: Vec<Vec<u8>> = Vec::with_capacity(range.len() * o.gets.len().max(1));
            for it in range {
                if o.gets.is_empty() {
                    values.push(it.obj.to_vec());
                }
                for g in &o.gets {
                    values.push(by_pattern(e, g, &it.obj).unwrap_or_default());
                }
            }
            let _ = e.lookup(dst, Access::Write);
            let ctx = key_ctx(e, dst);
            let existed = e.db.get(dst).is_some();
            if !ctx.is_empty() {
                e.commit(crdt::Op::Del { key: dst.into(), ctx });
            }
            if !values.is_empty() {
                let refs: Vec<&[u8]> = values.iter().map(|v| &v[..]).collect();
                crate::list::rpush_values(e, dst, &refs);
                e.overwritten(dst, existed);
                e.notify(notify::LIST, "sortstore", dst);
            } else if existed {
                e.notify(notify::GENERIC, "del", dst);
            }
            Ok(int(values.len() as i64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn run(e: &mut Engine, cmd: &str) -> Frame {
        let args: Vec<&[u8]> = cmd.split_whitespace().map(|s| s.as_bytes()).collect();
        e.execute(&args, 1_000).expect("handled")
    }

    fn strs(f: Frame) -> Vec<String> {
        match f {
            Frame::Array(v) => v
                .into_iter()
                .map(|x| match x {
                    Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    Frame::Null => "(nil)".into(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numeric_alpha_desc_limit() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "rpush l 3 1 10 2");
        assert_eq!(strs(run(&mut e, "sort l")), ["1", "2", "3", "10"]);
        assert_eq!(strs(run(&mut e, "sort l alpha")), ["1", "10", "2", "3"]);
        assert_eq!(strs(run(&mut e, "sort l desc limit 1 2")), ["3", "2"]);
        assert_eq!(strs(run(&mut e, "sort l limit 10 10")), Vec::<String>::new());
        assert_eq!(strs(run(&mut e, "sort l by nosort desc")), ["2", "10", "1", "3"]);
        run(&mut e, "rpush l x");
        assert_eq!(run(&mut e, "sort l"), Frame::error("ERR One or more scores can't be converted into double"));
        assert_eq!(run(&mut e, "sort l foo"), Frame::error(err::SYNTAX));
        assert_eq!(run(&mut e, "sort_ro l store d"), Frame::error(err::SYNTAX));
        run(&mut e, "set s v");
        assert_eq!(run(&mut e, "sort s"), Frame::error(err::WRONGTYPE));
    }

    #[test]
    fn by_and_get_patterns() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, "sadd s a b c");
        run(&mut e, "mset w_a 3 w_b 1 w_c 2");
        run(&mut e, "hset h_a f 30");
        assert_eq!(strs(run(&mut e, "sort s by w_*")), ["b", "c", "a"]);
        assert_eq!(strs(run(&mut e, "sort s by w_* get # get h_*->f")), ["b", "(nil)", "c", "(nil)", "a", "30"]);
        assert_eq!(strs(run(&mut e, "sort s by h_*->f")), ["b", "c", "a"]);
        assert_eq!(run(&mut e, "sort s by w_* store d"), Frame::Integer(3));
        assert_eq!(strs(run(&mut e, "lrange d 0 -1")), ["b", "c", "a"]);
        assert_eq!(run(&mut e, "sort nokey store d"), Frame::Integer(0));
        assert_eq!(run(&mut e, "exists d"), Frame::Integer(0));
    }
}

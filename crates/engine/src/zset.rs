//! Sorted sets: the ZADD family, ranges by rank, score and lex, pops (the
//! blocking pops are tried once: `Frame::NullArray` means "nothing there,
//! block"), set algebra, ZRANDMEMBER and ZSCAN.
//!
//! Conflict rules (DESIGN.md): a member's score is a [`crdt::Cell`]. ZADD
//! writes its LWW register and removes what it observed of the member (older
//! versions and increments), ZINCRBY (and ZADD INCR) adds an increment that
//! concurrent increments add to, ZREM removes only what it observed. Every
//! *STORE command replaces its destination (a DEL of what was observed, then
//! one ZADD per member).
//!
//! Replies and errors follow Redis 7.0's t_zset.c byte for byte, including
//! the order in which it checks arguments, so a failing command reports the
//! same error Redis would. Known differences are listed in the report of the
//! tests at the bottom of this file.

use std::collections::HashMap;
use std::ops::Bound;

use bytes::Bytes;
use commands::errors as E;
use crdt::{Blob, Kind, Op, Score, Value, VersionVector, ZSet};
use resp::Frame;

use crate::args::{self, eq};
use crate::string::key_ctx;
use crate::{bulk, err, error, int, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[Bytes]) -> Option<Frame> {
    Some(match name {
        "zadd" => zadd_cmd(e, a, false),
        "zincrby" => zadd_cmd(e, a, true),
        "zrem" => zrem(e, a),
        "zscore" => zscore(e, a),
        "zmscore" => zmscore(e, a),
        "zcard" => match lookup(e, &a[1], Access::Read) {
            Ok(Some(z)) => int(z.len() as i64),
            Ok(None) => int(0),
            Err(f) => f,
        },
        "zcount" => zcount(e, a),
        "zlexcount" => zlexcount(e, a),
        "zrange" => zrange(e, a, 1, None, RangeType::Auto, Dir::Auto),
        "zrangestore" => zrange(e, a, 2, Some(&a[1]), RangeType::Auto, Dir::Auto),
        "zrevrange" => zrange(e, a, 1, None, RangeType::Rank, Dir::Reverse),
        "zrangebyscore" => zrange(e, a, 1, None, RangeType::Score, Dir::Forward),
        "zrevrangebyscore" => zrange(e, a, 1, None, RangeType::Score, Dir::Reverse),
        "zrangebylex" => zrange(e, a, 1, None, RangeType::Lex, Dir::Forward),
        "zrevrangebylex" => zrange(e, a, 1, None, RangeType::Lex, Dir::Reverse),
        "zrank" => zrank(e, a, false),
        "zrevrank" => zrank(e, a, true),
        "zpopmin" => zpop(e, a, false),
        "zpopmax" => zpop(e, a, true),
        "bzpopmin" => bzpop(e, a, false),
        "bzpopmax" => bzpop(e, a, true),
        "zmpop" => zmpop(e, a, 1, false),
        "bzmpop" => zmpop(e, a, 2, true),
        "zrandmember" => zrandmember(e, a),
        "zremrangebyrank" => zremrange(e, a, RangeType::Rank),
        "zremrangebyscore" => zremrange(e, a, RangeType::Score),
        "zremrangebylex" => zremrange(e, a, RangeType::Lex),
        "zunion" => zsetop(e, a, None, 1, SetOp::Union, false),
        "zinter" => zsetop(e, a, None, 1, SetOp::Inter, false),
        "zdiff" => zsetop(e, a, None, 1, SetOp::Diff, false),
        "zintercard" => zsetop(e, a, None, 1, SetOp::Inter, true),
        "zunionstore" => zsetop(e, a, Some(&a[1]), 2, SetOp::Union, false),
        "zinterstore" => zsetop(e, a, Some(&a[1]), 2, SetOp::Inter, false),
        "zdiffstore" => zsetop(e, a, Some(&a[1]), 2, SetOp::Diff, false),
        "zscan" => zscan(e, a),
        _ => return None,
    })
}

// ---- reading ----------------------------------------------------------------

/// The sorted set at `key`: Ok(None) if missing, Err(WRONGTYPE) for another
/// type. Read lookups count keyspace hits and misses, as Redis's
/// `lookupKeyRead` does.
pub(crate) fn lookup<'a>(e: &'a mut Engine, key: &[u8], access: Access) -> Result<Option<&'a ZSet>, Frame> {
    if matches!(access, Access::Read) {
        let _ = e.read(key);
    }
    match e.typed(key, Kind::ZSet, access)? {
        Some(Value::ZSet(z)) => Ok(Some(z)),
        _ => Ok(None),
    }
}

/// The visible sorted set at `key` without expiring or counting (the caller
/// looked the key up already).
pub(crate) fn zset_of<'a>(e: &'a Engine, key: &[u8]) -> Option<&'a ZSet> {
    match e.db.get(key)?.value.as_ref()? {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

/// A member's score and observed context.
fn member_state(e: &Engine, key: &[u8], member: &[u8]) -> Option<(f64, VersionVector)> {
    let (cell, score) = zset_of(e, key)?.members.get(member)?;
    let mut ctx = VersionVector::new();
    cell.ctx(&mut ctx);
    Some((*score, ctx))
}

/// Removes a member as observed now; false if it is not there.
fn remove_member(e: &mut Engine, key: &[u8], member: &[u8]) -> bool {
    match member_state(e, key, member) {
        Some((_, ctx)) => {
            e.commit(Op::ZRem { key: key.into(), member: member.into(), ctx });
            true
        }
        None => false,
    }
}

fn items_of<'a>(it: impl Iterator<Item = &'a (Score, Blob)>) -> Vec<(Blob, f64)> {
    it.map(|(s, m)| (m.clone(), s.0)).collect()
}

// ---- replies -----------------------------------------------------------------

/// Members, with their scores if asked: a flat array in RESP2, an array of
/// [member, score] pairs in RESP3 (Redis's zrangeResultEmit*).
pub(crate) fn scored_reply(resp3: bool, items: Vec<(Blob, f64)>, withscores: bool) -> Frame {
    if !withscores {
        return Frame::Array(items.iter().map(|(m, _)| bulk(m)).collect());
    }
    if resp3 {
        Frame::Array(items.iter().map(|(m, s)| Frame::Array(vec![bulk(m), Frame::Double(*s)])).collect())
    } else {
        let mut out = Vec::with_capacity(items.len() * 2);
        for (m, s) in &items {
            out.push(bulk(m));
            out.push(Frame::Double(*s));
        }
        Frame::Array(out)
    }
}

/// [member, score] pairs nested in both protocols (ZMPOP, RESP3 pops).
fn pairs_reply(items: &[(Blob, f64)]) -> Frame {
    Frame::Array(items.iter().map(|(m, s)| Frame::Array(vec![bulk(m), Frame::Double(*s)])).collect())
}

/// C's `printf("%.17g")`, as Redis prints scores it formats itself.
pub(crate) fn fmt_g17(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{v:.16e}");
    let (neg, sci) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci.as_str()),
    };
    let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let mut digits: Vec<u8> = mant.bytes().filter(|c| *c != b'.').collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let d = |r: &[u8]| String::from_utf8_lossy(r).into_owned();
    if (-4..17).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&d(&digits));
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            } else {
                out.push_str(&d(&digits[..int_len]));
                out.push('.');
                out.push_str(&d(&digits[int_len..]));
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&d(&digits));
        }
    } else {
        out.push_str(&d(&digits[..1]));
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&d(&digits[1..]));
        }
        out.push_str(if exp < 0 { "e-" } else { "e+" });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

/// Redis's `double2ll`: the score as an integer when that loses nothing.
fn double2ll(d: f64) -> Option<i64> {
    let lim = (i64::MAX / 2) as f64;
    if !(-lim..=lim).contains(&d) {
        return None;
    }
    let ll = d as i64;
    (ll as f64 == d).then_some(ll)
}

/// How a listpack-encoded sorted set stores a score (`zzlInsertAt`):
/// integers as integers (so -0 becomes 0), others as `d2string`.
fn listpack_score(d: f64) -> String {
    match double2ll(d) {
        Some(i) => i.to_string(),
        None => fmt_g17(d),
    }
}

/// True when Redis would keep this set as a listpack (the default
/// zset-max-listpack-entries 128 / zset-max-listpack-value 64).
fn is_listpack(z: &ZSet) -> bool {
    z.len() <= 128 && z.members.keys().all(|m| m.len() <= 64)
}

// ---- number parsing (C strtod and Redis's wrappers) ---------------------------

/// What C's `strtod` returns for a string.
pub(crate) struct Strtod {
    pub value: f64,
    /// Bytes consumed (0 when nothing converted, leading spaces included otherwise).
    pub len: usize,
    /// ERANGE: overflow to infinity or underflow of a nonzero number to zero.
    pub erange: bool,
    /// Approximate decimal exponent of the magnitude (for long double range checks).
    pub exp10: i64,
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)
}

/// C's `strtod` (glibc): leading spaces, sign, decimal, hex (`0x1p3`), `inf`,
/// `infinity`, `nan`, `nan(chars)`.
pub(crate) fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod { value: 0.0, len: 0, erange: false, exp10: 0 };
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") { 8 } else { 3 };
        return Strtod { value: sign(f64::INFINITY), len: i + n, erange: false, exp10: 0 };
    }
    if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let mut k = 4;
            while k < rest.len() && (rest[k].is_ascii_alphanumeric() || rest[k] == b'_') {
                k += 1;
            }
            if rest.get(k) == Some(&b')') {
                n = k + 1;
            }
        }
        return Strtod { value: f64::NAN, len: i + n, erange: false, exp10: 0 };
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        return match parse_hex(&rest[2..]) {
            Some((v, n, erange)) => Strtod { value: sign(v), len: i + 2 + n, erange, exp10: 0 },
            None => Strtod { value: sign(0.0), len: i + 1, erange: false, exp10: 0 },
        };
    }
    let mut k = 0;
    let mut digits = 0;
    let mut nonzero = false;
    // Decimal exponent bookkeeping: position of the first nonzero digit.
    let mut int_digits: i64 = 0;
    let mut lead_frac_zeros: i64 = 0;
    let mut seen_nonzero = false;
    while k < rest.len() && rest[k].is_ascii_digit() {
        if rest[k] != b'0' {
            nonzero = true;
            seen_nonzero = true;
        }
        if seen_nonzero {
            int_digits += 1;
        }
        k += 1;
        digits += 1;
    }
    if rest.get(k) == Some(&b'.') {
        k += 1;
        while k < rest.len() && rest[k].is_ascii_digit() {
            if rest[k] != b'0' {
                nonzero = true;
                seen_nonzero = true;
            } else if !seen_nonzero {
                lead_frac_zeros += 1;
            }
            k += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    let mut exp: i64 = 0;
    if k < rest.len() && (rest[k] | 0x20) == b'e' {
        let mut m = k + 1;
        let eneg = match rest.get(m) {
            Some(b'-') => {
                m += 1;
                true
            }
            Some(b'+') => {
                m += 1;
                false
            }
            _ => false,
        };
        let ds = m;
        while m < rest.len() && rest[m].is_ascii_digit() {
            exp = exp.saturating_mul(10).saturating_add((rest[m] - b'0') as i64);
            m += 1;
        }
        if m > ds {
            k = m;
            if eneg {
                exp = -exp;
            }
        } else {
            exp = 0;
        }
    }
    let text = std::str::from_utf8(&rest[..k]).expect("ascii");
    let v: f64 = text.parse().unwrap_or(0.0);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    let exp10 = if int_digits > 0 { exp.saturating_add(int_digits - 1) } else { exp.saturating_sub(lead_frac_zeros + 1) };
    Strtod { value: sign(v), len: i + k, erange, exp10 }
}

/// The part of a hex float after "0x": (value, bytes consumed, erange).
fn parse_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut k = 0;
    let mut mant: u64 = 0;
    let mut sig = 0; // significant hex digits kept
    let mut exp2: i64 = 0;
    let mut sticky = false;
    let mut any = false;
    let push = |d: u32, frac: bool, mant: &mut u64, sig: &mut i32, exp2: &mut i64, sticky: &mut bool| {
        if *sig == 0 && d == 0 {
            if frac {
                *exp2 -= 4;
            }
            return;
        }
        if *sig < 15 {
            *mant = (*mant << 4) | d as u64;
            *sig += 1;
            if frac {
                *exp2 -= 4;
            }
        } else {
            *sticky |= d != 0;
            if !frac {
                *exp2 += 4;
            }
        }
    };
    while k < s.len() {
        let Some(d) = hex(s[k]) else { break };
        push(d, false, &mut mant, &mut sig, &mut exp2, &mut sticky);
        any = true;
        k += 1;
    }
    if s.get(k) == Some(&b'.') {
        let mut m = k + 1;
        let mut frac_any = false;
        while m < s.len() {
            let Some(d) = hex(s[m]) else { break };
            push(d, true, &mut mant, &mut sig, &mut exp2, &mut sticky);
            frac_any = true;
            m += 1;
        }
        if any || frac_any {
            k = m;
            any = true;
        }
    }
    if !any {
        return None;
    }
    if k < s.len() && (s[k] | 0x20) == b'p' {
        let mut m = k + 1;
        let eneg = match s.get(m) {
            Some(b'-') => {
                m += 1;
                true
            }
            Some(b'+') => {
                m += 1;
                false
            }
            _ => false,
        };
        let ds = m;
        let mut pe: i64 = 0;
        while m < s.len() && s[m].is_ascii_digit() {
            pe = pe.saturating_mul(10).saturating_add((s[m] - b'0') as i64);
            m += 1;
        }
        if m > ds {
            k = m;
            exp2 = exp2.saturating_add(if eneg { -pe } else { pe });
        }
    }
    let nonzero = mant != 0;
    let mut m = mant;
    if sticky {
        m = (m << 4) | 1;
        exp2 -= 4;
    }
    let mut v = m as f64;
    let mut e2 = exp2;
    while e2 > 0 && v.is_finite() && v != 0.0 {
        let step = e2.min(1000);
        v *= 2f64.powi(step as i32);
        e2 -= step;
    }
    while e2 < 0 && v != 0.0 {
        let step = (-e2).min(1000);
        v *= 2f64.powi(-(step as i32));
        e2 += step;
    }
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, k, erange))
}

/// Redis's `string2d` (`getDoubleFromObject`): the whole string must be a
/// number, no leading space, no NaN, no overflow or underflow to zero.
pub(crate) fn string2d(b: &[u8]) -> Option<f64> {
    if b.is_empty() || is_c_space(b[0]) {
        return None;
    }
    let r = strtod(b);
    if r.len != b.len() || r.value.is_nan() || (r.erange && (r.value.is_infinite() || r.value == 0.0)) {
        return None;
    }
    Some(r.value)
}

pub(crate) fn float_arg(b: &[u8], msg: &str) -> Result<f64, Frame> {
    string2d(b).ok_or_else(|| error(msg))
}

/// The part of an argument C code sees as a string (up to a NUL byte).
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// `getTimeoutFromObjectOrReply` (seconds, long double): validates a
/// blocking timeout; the caller computes the deadline itself.
pub(crate) fn check_timeout(b: &[u8]) -> Result<(), Frame> {
    let bad = || error(E::TIMEOUT_NOT_FLOAT);
    if b.is_empty() || b.len() >= 5 * 1024 || is_c_space(b[0]) {
        return Err(bad());
    }
    let s = c_str(b);
    let r = strtod(s);
    if r.len != b.len() || r.value.is_nan() {
        return Err(bad());
    }
    // strtold's range is much wider than a double's: emulate it.
    const LD_MAX_EXP10: i64 = 4931;
    const LD_MIN_EXP10: i64 = -4950;
    if r.erange && r.value.is_infinite() && r.exp10 > LD_MAX_EXP10 {
        return Err(bad());
    }
    if r.erange && r.value == 0.0 && r.exp10 < LD_MIN_EXP10 {
        return Err(bad());
    }
    let ms = (r.value * 1000.0).ceil();
    // (long long) of an out-of-range value gives LLONG_MIN on x86-64.
    if ms.is_nan() || ms <= -1.0 || ms >= 9.223372036854775807e18 {
        return Err(error(E::TIMEOUT_NEGATIVE));
    }
    Ok(())
}

// ---- ranges -----------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub(crate) struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
}

/// `zslParseRange`: "(1.5" is exclusive; strtod rules (leading spaces,
/// "", "inf", hex accepted; NaN refused).
fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    fn item(b: &[u8]) -> Option<(f64, bool)> {
        let b = c_str(b);
        let (ex, s) = match b.first() {
            Some(b'(') => (true, &b[1..]),
            _ => (false, b),
        };
        let r = strtod(s);
        if r.len != s.len() || r.value.is_nan() {
            return None;
        }
        Some((r.value, ex))
    }
    let (min, minex) = item(min)?;
    let (max, maxex) = item(max)?;
    Some(ScoreRange { min, max, minex, maxex })
}

fn empty_key() -> Blob {
    Blob::default()
}

/// Members with scores in `r`, in order (reverse: from the highest).
pub(crate) fn score_iter<'a>(z: &'a ZSet, r: &ScoreRange, rev: bool) -> Box<dyn Iterator<Item = &'a (Score, Blob)> + 'a> {
    let r = *r;
    if !rev {
        if r.minex && r.min == f64::INFINITY {
            return Box::new(std::iter::empty());
        }
        let lo = if r.minex { r.min.next_up() } else { r.min };
        let start = (Score(lo), empty_key());
        Box::new(z.index.range((Bound::Included(start), Bound::Unbounded)).take_while(move |(s, _)| r.lte_max(s.0)))
    } else {
        let hi = if r.maxex {
            Bound::Excluded((Score(r.max), empty_key()))
        } else if r.max == f64::INFINITY {
            Bound::Unbounded
        } else {
            Bound::Excluded((Score(r.max.next_up()), empty_key()))
        };
        Box::new(z.index.range((Bound::Unbounded, hi)).rev().take_while(move |(s, _)| r.gte_min(s.0)))
    }
}

#[derive(Clone, Debug, PartialEq)]
enum LexItem {
    Min,
    Max,
    Str(Blob),
}

#[derive(Clone, Debug)]
struct LexRange {
    min: LexItem,
    max: LexItem,
    minex: bool,
    maxex: bool,
}

/// `sdscmplex`: "-" and "+" are below and above every string.
fn lex_cmp(a: &LexItem, b: &LexItem) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (LexItem::Min, LexItem::Min) | (LexItem::Max, LexItem::Max) => Equal,
        (LexItem::Min, _) | (_, LexItem::Max) => Less,
        (LexItem::Max, _) | (_, LexItem::Min) => Greater,
        (LexItem::Str(x), LexItem::Str(y)) => x.cmp(y),
    }
}

fn lex_cmp_value(v: &[u8], b: &LexItem) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match b {
        LexItem::Min => Greater,
        LexItem::Max => Less,
        LexItem::Str(y) => v.cmp(y),
    }
}

impl LexRange {
    fn gte_min(&self, v: &[u8]) -> bool {
        let c = lex_cmp_value(v, &self.min);
        if self.minex {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }
    fn lte_max(&self, v: &[u8]) -> bool {
        let c = lex_cmp_value(v, &self.max);
        if self.maxex {
            c.is_lt()
        } else {
            c.is_le()
        }
    }
    fn always_empty(&self) -> bool {
        let c = lex_cmp(&self.min, &self.max);
        c.is_gt() || (c.is_eq() && (self.minex || self.maxex))
    }
}

/// `zslParseLexRange`: "[a" inclusive, "(a" exclusive, "-" and "+".
fn parse_lex_range(min: &[u8], max: &[u8]) -> Option<LexRange> {
    fn item(b: &[u8]) -> Option<(LexItem, bool)> {
        let alone = |b: &[u8]| b.len() == 1 || b[1] == 0;
        match b.first() {
            Some(b'+') if alone(b) => Some((LexItem::Max, true)),
            Some(b'-') if alone(b) => Some((LexItem::Min, true)),
            Some(b'(') => Some((LexItem::Str(b[1..].into()), true)),
            Some(b'[') => Some((LexItem::Str(b[1..].into()), false)),
            _ => None,
        }
    }
    let (min, minex) = item(min)?;
    let (max, maxex) = item(max)?;
    Some(LexRange { min, max, minex, maxex })
}

/// Members in a lex range, in order (reverse: from the highest). Meaningful
/// when all scores are equal; otherwise walks the set in score order as
/// Redis's listpack code does.
fn lex_iter<'a>(z: &'a ZSet, r: &LexRange, rev: bool) -> Box<dyn Iterator<Item = &'a (Score, Blob)> + 'a> {
    let (Some(first), Some(last)) = (z.index.first(), z.index.last()) else {
        return Box::new(std::iter::empty());
    };
    if r.always_empty() || !r.gte_min(&last.1) || !r.lte_max(&first.1) {
        return Box::new(std::iter::empty());
    }
    let r = r.clone();
    if first.0 == last.0 {
        // One score: the index is in member order, seek directly.
        let s = first.0;
        let lo = match &r.min {
            LexItem::Str(m) if r.minex => Bound::Excluded((s, m.clone())),
            LexItem::Str(m) => Bound::Included((s, m.clone())),
            _ => Bound::Unbounded,
        };
        let hi = match &r.max {
            LexItem::Str(m) if r.maxex => Bound::Excluded((s, m.clone())),
            LexItem::Str(m) => Bound::Included((s, m.clone())),
            _ => Bound::Unbounded,
        };
        let it = z.index.range((lo, hi));
        return if rev { Box::new(it.rev()) } else { Box::new(it) };
    }
    if !rev {
        let r2 = r.clone();
        Box::new(z.index.iter().skip_while(move |(_, m)| !r.gte_min(m)).take_while(move |(_, m)| r2.lte_max(m)))
    } else {
        let r2 = r.clone();
        Box::new(z.index.iter().rev().skip_while(move |(_, m)| !r.lte_max(m)).take_while(move |(_, m)| r2.gte_min(m)))
    }
}

/// Rank sanitising shared by ZRANGE and ZREMRANGEBYRANK: Some((start, end))
/// inclusive, or None for an empty range.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
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

fn rank_items(z: &ZSet, start: usize, end: usize, rev: bool) -> Vec<(Blob, f64)> {
    let n = end - start + 1;
    if rev {
        items_of(z.index.iter().rev().skip(start).take(n))
    } else {
        items_of(z.index.iter().skip(start).take(n))
    }
}

// ---- writing ------------------------------------------------------------------

/// Replaces `dst` with a sorted set of `items` (deleting it when empty), as
/// Redis's `setKey`/`dbDelete` do for the *STORE commands.
pub(crate) fn store(e: &mut Engine, dst: &[u8], items: &[(Blob, f64)]) {
    let _ = e.lookup(dst, Access::Write);
    let ctx = key_ctx(e, dst);
    if !ctx.is_empty() {
        e.commit(Op::Del { key: dst.into(), ctx });
    }
    for (m, s) in items {
        // A listpack stores an integral score as an integer: -0 becomes 0.
        let score = if *s == 0.0 { 0.0 } else { *s };
        e.commit(Op::ZAdd { key: dst.into(), member: m.clone(), ctx: VersionVector::new(), score });
    }
}

/// ZADD's options.
#[derive(Clone, Copy, Default)]
pub(crate) struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
    pub ch: bool,
}

/// Runs ZADD with validated options and parsed scores (`zsetAdd` for each
/// pair in order). Also GEOADD's back end.
pub(crate) fn zadd_run(e: &mut Engine, key: &[u8], f: AddFlags, pairs: &[(f64, &[u8])]) -> Frame {
    let exists = match lookup(e, key, Access::Write) {
        Err(fr) => return fr,
        Ok(z) => z.is_some(),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    if exists || !f.xx {
        for &(score, member) in pairs {
            match member_state(e, key, member) {
                Some((cur, ctx)) => {
                    if f.nx {
                        continue;
                    }
                    let new = if f.incr { cur + score } else { score };
                    if new.is_nan() {
                        return error(E::ZSCORE_NAN);
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    if new != cur {
                        if f.incr {
                            e.commit(Op::ZIncr { key: key.into(), member: member.into(), delta: score });
                            last = member_state(e, key, member).map_or(new, |s| s.0);
                        } else {
                            e.commit(Op::ZAdd { key: key.into(), member: member.into(), ctx, score: new });
                        }
                        updated += 1;
                    }
                }
                None if !f.xx => {
                    let score = if score == 0.0 { 0.0 } else { score };
                    if f.incr {
                        e.commit(Op::ZIncr { key: key.into(), member: member.into(), delta: score });
                        last = member_state(e, key, member).map_or(score, |s| s.0);
                    } else {
                        e.commit(Op::ZAdd { key: key.into(), member: member.into(), ctx: VersionVector::new(), score });
                        last = score;
                    }
                    added += 1;
                    processed += 1;
                }
                None => {}
            }
        }
    }
    if f.incr {
        if processed > 0 {
            Frame::Double(last)
        } else {
            Frame::Null
        }
    } else {
        int(if f.ch { added + updated } else { added })
    }
}

fn zadd_cmd(e: &mut Engine, a: &[Bytes], zincrby: bool) -> Frame {
    let mut f = AddFlags { incr: zincrby, ..AddFlags::default() };
    let mut idx = 2;
    while idx < a.len() {
        let o = &a[idx];
        if eq(o, "nx") {
            f.nx = true;
        } else if eq(o, "xx") {
            f.xx = true;
        } else if eq(o, "ch") {
            f.ch = true;
        } else if eq(o, "incr") {
            f.incr = true;
        } else if eq(o, "gt") {
            f.gt = true;
        } else if eq(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = a.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return error(err::SYNTAX);
    }
    if f.nx && f.xx {
        return error(E::ZADD_XX_NX);
    }
    if (f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt) {
        return error(E::ZADD_GT_LT_NX);
    }
    if f.incr && elements > 2 {
        return error(E::ZADD_INCR_SINGLE_PAIR);
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for p in a[idx..].chunks(2) {
        match string2d(&p[0]) {
            Some(s) => pairs.push((s, &p[1][..])),
            None => return error(err::NOT_FLOAT),
        }
    }
    zadd_run(e, &a[1], f, &pairs)
}

fn zrem(e: &mut Engine, a: &[Bytes]) -> Frame {
    match lookup(e, &a[1], Access::Write) {
        Err(f) => return f,
        Ok(None) => return int(0),
        Ok(Some(_)) => {}
    }
    let mut n = 0;
    for m in &a[2..] {
        if remove_member(e, &a[1], m) {
            n += 1;
        }
    }
    int(n)
}

// ---- simple reads -------------------------------------------------------------

fn zscore(e: &mut Engine, a: &[Bytes]) -> Frame {
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => Frame::Null,
        Ok(Some(z)) => z.score(&a[2]).map_or(Frame::Null, Frame::Double),
    }
}

fn zmscore(e: &mut Engine, a: &[Bytes]) -> Frame {
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(z) => Frame::Array(a[2..].iter().map(|m| z.and_then(|z| z.score(m)).map_or(Frame::Null, Frame::Double)).collect()),
    }
}

fn zcount(e: &mut Engine, a: &[Bytes]) -> Frame {
    let Some(r) = parse_score_range(&a[2], &a[3]) else { return error(E::MIN_MAX_NOT_FLOAT) };
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => int(0),
        Ok(Some(z)) => int(score_iter(z, &r, false).count() as i64),
    }
}

fn zlexcount(e: &mut Engine, a: &[Bytes]) -> Frame {
    let Some(r) = parse_lex_range(&a[2], &a[3]) else { return error(E::MIN_MAX_NOT_STRING_RANGE) };
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => int(0),
        Ok(Some(z)) => int(lex_iter(z, &r, false).count() as i64),
    }
}

fn zrank(e: &mut Engine, a: &[Bytes], rev: bool) -> Frame {
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => Frame::Null,
        Ok(Some(z)) => match z.score(&a[2]) {
            None => Frame::Null,
            Some(s) => {
                let below = z.index.range(..(Score(s), Blob::from(&a[2][..]))).count();
                int(if rev { z.len() - 1 - below } else { below } as i64)
            }
        },
    }
}

// ---- ZRANGE and friends ---------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    Auto,
    Forward,
    Reverse,
}

/// `zrangeGenericCommand`: ZRANGE, ZRANGESTORE and the older range commands.
fn zrange(e: &mut Engine, a: &[Bytes], start: usize, dst: Option<&Bytes>, mut rt: RangeType, mut dir: Dir) -> Frame {
    let key = &a[start];
    let (mut minidx, mut maxidx) = (start + 1, start + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = start + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        let o = &a[j];
        if dst.is_none() && eq(o, "withscores") {
            withscores = true;
        } else if eq(o, "limit") && left >= 2 {
            match (args::int(&a[j + 1]), args::int(&a[j + 2])) {
                (Ok(off), Ok(lim)) => {
                    offset = off;
                    limit = lim;
                }
                (Err(f), _) | (_, Err(f)) => return f,
            }
            j += 2;
        } else if dir == Dir::Auto && eq(o, "rev") {
            dir = Dir::Reverse;
        } else if rt == RangeType::Auto && eq(o, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && eq(o, "byscore") {
            rt = RangeType::Score;
        } else {
            return error(err::SYNTAX);
        }
        j += 1;
    }
    if dir == Dir::Auto {
        dir = Dir::Forward;
    }
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return error(E::ZRANGE_LIMIT_WITHOUT_BY);
    }
    if withscores && rt == RangeType::Lex {
        return error(E::ZRANGE_BYLEX_WITHSCORES);
    }
    let rev = dir == Dir::Reverse;
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match rt {
        RangeType::Score => match parse_score_range(&a[minidx], &a[maxidx]) {
            Some(r) => Parsed::Score(r),
            None => return error(E::MIN_MAX_NOT_FLOAT),
        },
        RangeType::Lex => match parse_lex_range(&a[minidx], &a[maxidx]) {
            Some(r) => Parsed::Lex(r),
            None => return error(E::MIN_MAX_NOT_STRING_RANGE),
        },
        _ => match (args::int(&a[minidx]), args::int(&a[maxidx])) {
            (Ok(s), Ok(t)) => Parsed::Rank(s, t),
            (Err(f), _) | (_, Err(f)) => return f,
        },
    };
    let items = match lookup(e, key, Access::Read) {
        Err(f) => return f,
        Ok(None) => Vec::new(),
        Ok(Some(z)) => {
            let window = |it: Box<dyn Iterator<Item = &(Score, Blob)> + '_>| -> Vec<(Blob, f64)> {
                // Redis skips `offset` entries first (a negative offset walks
                // off the end); a negative limit means no limit.
                if offset < 0 || (offset > 0 && offset as usize >= z.len()) {
                    return Vec::new();
                }
                let take = if limit < 0 { usize::MAX } else { limit as usize };
                items_of(it.skip(offset as usize).take(take))
            };
            match &parsed {
                Parsed::Rank(s, t) => match rank_range(*s, *t, z.len()) {
                    Some((s, t)) => rank_items(z, s, t, rev),
                    None => Vec::new(),
                },
                Parsed::Score(r) => window(score_iter(z, r, rev)),
                Parsed::Lex(r) => window(lex_iter(z, r, rev)),
            }
        }
    };
    match dst {
        Some(dst) => {
            let n = items.len();
            store(e, dst, &items);
            int(n as i64)
        }
        None => scored_reply(e.resp3, items, withscores),
    }
}

fn zremrange(e: &mut Engine, a: &[Bytes], rt: RangeType) -> Frame {
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match rt {
        RangeType::Rank => match (args::int(&a[2]), args::int(&a[3])) {
            (Ok(s), Ok(t)) => Parsed::Rank(s, t),
            (Err(f), _) | (_, Err(f)) => return f,
        },
        RangeType::Score => match parse_score_range(&a[2], &a[3]) {
            Some(r) => Parsed::Score(r),
            None => return error(E::MIN_MAX_NOT_FLOAT),
        },
        _ => match parse_lex_range(&a[2], &a[3]) {
            Some(r) => Parsed::Lex(r),
            None => return error(E::MIN_MAX_NOT_STRING_RANGE),
        },
    };
    let members: Vec<Blob> = match lookup(e, &a[1], Access::Write) {
        Err(f) => return f,
        Ok(None) => return int(0),
        Ok(Some(z)) => match &parsed {
            Parsed::Rank(s, t) => match rank_range(*s, *t, z.len()) {
                Some((s, t)) => rank_items(z, s, t, false).into_iter().map(|(m, _)| m).collect(),
                None => return int(0),
            },
            Parsed::Score(r) => score_iter(z, r, false).map(|(_, m)| m.clone()).collect(),
            Parsed::Lex(r) => lex_iter(z, r, false).map(|(_, m)| m.clone()).collect(),
        },
    };
    let mut n = 0;
    for m in &members {
        if remove_member(e, &a[1], m) {
            n += 1;
        }
    }
    int(n)
}

// ---- pops -------------------------------------------------------------------------

/// Pops up to `count` lowest (or highest) members, removing what was observed.
fn pop_items(e: &mut Engine, key: &[u8], max: bool, count: usize) -> Vec<(Blob, f64)> {
    let items = match zset_of(e, key) {
        None => return Vec::new(),
        Some(z) => {
            if max {
                items_of(z.index.iter().rev().take(count))
            } else {
                items_of(z.index.iter().take(count))
            }
        }
    };
    for (m, _) in &items {
        remove_member(e, key, m);
    }
    items
}

fn zpop(e: &mut Engine, a: &[Bytes], max: bool) -> Frame {
    if a.len() > 3 {
        return error(err::SYNTAX);
    }
    let count: Option<usize> = match a.get(2) {
        None => None,
        Some(c) => match args::int(c) {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return error(E::NOT_POSITIVE),
        },
    };
    match lookup(e, &a[1], Access::Write) {
        Err(f) => return f,
        Ok(None) => return Frame::Array(Vec::new()),
        Ok(Some(_)) => {}
    }
    if count == Some(0) {
        return Frame::Array(Vec::new());
    }
    let items = pop_items(e, &a[1], max, count.unwrap_or(1));
    if e.resp3 && count.is_some() {
        pairs_reply(&items)
    } else {
        scored_reply(false, items, true)
    }
}

fn bzpop(e: &mut Engine, a: &[Bytes], max: bool) -> Frame {
    let n = a.len();
    if let Err(f) = check_timeout(&a[n - 1]) {
        return f;
    }
    for key in &a[1..n - 1] {
        match lookup(e, key, Access::Write) {
            Err(f) => return f,
            Ok(None) => continue,
            Ok(Some(z)) if z.is_empty() => continue,
            Ok(Some(_)) => {}
        }
        let items = pop_items(e, key, max, 1);
        let mut out = vec![bulk(key)];
        for (m, s) in items {
            out.push(bulk(&m));
            out.push(Frame::Double(s));
        }
        return Frame::Array(out);
    }
    Frame::NullArray
}

/// ZMPOP numkeys key... MIN|MAX [COUNT n]; BZMPOP timeout numkeys ...
fn zmpop(e: &mut Engine, a: &[Bytes], numkeys_idx: usize, blocking: bool) -> Frame {
    let numkeys = match args::int(&a[numkeys_idx]) {
        Ok(n) if n >= 1 => n as usize,
        _ => return error(E::NUMKEYS_NOT_POSITIVE),
    };
    let where_idx = match numkeys_idx.checked_add(numkeys).and_then(|x| x.checked_add(1)) {
        Some(w) if w < a.len() => w,
        _ => return error(err::SYNTAX),
    };
    let max = if eq(&a[where_idx], "min") {
        false
    } else if eq(&a[where_idx], "max") {
        true
    } else {
        return error(err::SYNTAX);
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if count.is_none() && eq(&a[j], "count") && more > 0 {
            j += 1;
            match args::int(&a[j]) {
                Ok(n) if n >= 1 => count = Some(n as usize),
                _ => return error(E::COUNT_NOT_POSITIVE),
            }
        } else {
            return error(err::SYNTAX);
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    if blocking {
        if let Err(f) = check_timeout(&a[1]) {
            return f;
        }
    }
    for key in &a[numkeys_idx + 1..where_idx] {
        match lookup(e, key, Access::Write) {
            Err(f) => return f,
            Ok(None) => continue,
            Ok(Some(z)) if z.is_empty() => continue,
            Ok(Some(_)) => {}
        }
        let items = pop_items(e, key, max, count);
        return Frame::Array(vec![bulk(key), pairs_reply(&items)]);
    }
    Frame::NullArray
}

// ---- ZRANDMEMBER ----------------------------------------------------------------------

/// Bound on the reply of ZRANDMEMBER with a negative count (Redis has none
/// and would build the whole reply in memory).
const RANDMEMBER_MAX: u64 = 1 << 24;

fn zrandmember(e: &mut Engine, a: &[Bytes]) -> Frame {
    use rand::seq::SliceRandom;
    use rand::Rng;
    if a.len() < 3 {
        return match lookup(e, &a[1], Access::Read) {
            Err(f) => f,
            Ok(None) => Frame::Null,
            Ok(Some(z)) => {
                let n = z.len();
                let i = e.rng.gen_range(0..n);
                let m = zset_of(e, &a[1]).and_then(|z| z.index.iter().nth(i)).map(|(_, m)| m.clone());
                m.map_or(Frame::Null, |m| bulk(&m))
            }
        };
    }
    let l = match args::int(&a[2]) {
        Ok(i64::MIN) => return error(E::OUT_OF_RANGE_LONG),
        Ok(l) => l,
        Err(f) => return f,
    };
    let withscores = if a.len() > 4 || (a.len() == 4 && !eq(&a[3], "withscores")) {
        return error(err::SYNTAX);
    } else if a.len() == 4 {
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return error("ERR value is out of range");
        }
        true
    } else {
        false
    };
    let all: Vec<(Blob, f64)> = match lookup(e, &a[1], Access::Read) {
        Err(f) => return f,
        Ok(None) => return Frame::Array(Vec::new()),
        Ok(Some(z)) => {
            if l == 0 {
                return Frame::Array(Vec::new());
            }
            items_of(z.index.iter())
        }
    };
    let size = all.len();
    let count = l.unsigned_abs();
    let picked: Vec<(Blob, f64)> = if l < 0 || count == 1 {
        if count > RANDMEMBER_MAX {
            return error("ERR ZRANDMEMBER count is too large for this server");
        }
        (0..count).map(|_| all[e.rng.gen_range(0..size)].clone()).collect()
    } else if count as usize >= size {
        // The whole set, walked from the highest score as zuiNext does.
        let mut all = all;
        all.reverse();
        all
    } else {
        let mut v = all;
        v.shuffle(&mut e.rng);
        v.truncate(count as usize);
        v
    };
    scored_reply(e.resp3, picked, withscores)
}

// ---- set algebra ------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if val < *target { val } else { *target },
        Aggregate::Max => *target = if val > *target { val } else { *target },
    }
}

/// One input of a set operation: a sorted set, a set (scores 1), or nothing.
struct Src {
    key: Blob,
    present: bool,
    items: Vec<(Blob, f64)>,
    map: HashMap<Blob, f64>,
    weight: f64,
}

/// Reads an input of ZUNION & co: a sorted set or a set.
fn read_src(e: &mut Engine, key: &[u8]) -> Result<Src, Frame> {
    let _ = e.read(key);
    let mut src = Src { key: key.into(), present: false, items: Vec::new(), map: HashMap::new(), weight: 1.0 };
    let Some(en) = e.lookup(key, Access::Read) else { return Ok(src) };
    match en.value.as_ref() {
        Some(Value::ZSet(z)) => {
            src.items = items_of(z.index.iter());
        }
        Some(Value::Set(s)) => {
            let mut ms: Vec<Blob> = s.members.keys().cloned().collect();
            ms.sort();
            src.items = ms.into_iter().map(|m| (m, 1.0)).collect();
        }
        Some(_) => return Err(error(err::WRONGTYPE)),
        None => return Ok(src),
    }
    src.present = true;
    Ok(src)
}

/// `zunionInterDiffGenericCommand`.
fn zsetop(e: &mut Engine, a: &[Bytes], dst: Option<&Bytes>, numkeys_idx: usize, op: SetOp, card_only: bool) -> Frame {
    let setnum = match args::int(&a[numkeys_idx]) {
        Ok(n) => n,
        Err(f) => return f,
    };
    if setnum < 1 {
        let name = String::from_utf8_lossy(&a[0]).to_ascii_lowercase();
        return error(&format!("ERR at least 1 input key is needed for '{name}' command"));
    }
    if setnum as u64 > (a.len() - numkeys_idx - 1) as u64 {
        return error(err::SYNTAX);
    }
    let setnum = setnum as usize;
    let mut srcs = Vec::with_capacity(setnum);
    let mut j = numkeys_idx + 1;
    for _ in 0..setnum {
        match read_src(e, &a[j]) {
            Ok(s) => srcs.push(s),
            Err(f) => return f,
        }
        j += 1;
    }
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: u64 = 0;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = &a[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && eq(o, "weights") {
            j += 1;
            for s in srcs.iter_mut() {
                match float_arg(&a[j], E::WEIGHT_NOT_FLOAT) {
                    Ok(w) => s.weight = w,
                    Err(f) => return f,
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && eq(o, "aggregate") {
            let v = &a[j + 1];
            agg = if eq(v, "sum") {
                Aggregate::Sum
            } else if eq(v, "min") {
                Aggregate::Min
            } else if eq(v, "max") {
                Aggregate::Max
            } else {
                return error(err::SYNTAX);
            };
            j += 2;
        } else if dst.is_none() && !card_only && eq(o, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq(o, "limit") {
            match args::int(&a[j + 1]) {
                Ok(n) if n >= 0 => limit = n as u64,
                _ => return error(E::LIMIT_NEGATIVE),
            }
            j += 2;
        } else {
            return error(err::SYNTAX);
        }
    }
    if op != SetOp::Diff {
        srcs.sort_by_key(|s| s.items.len());
    }
    let need_maps = match op {
        SetOp::Inter => 1..srcs.len(),
        SetOp::Diff => 1..srcs.len(),
        SetOp::Union => 0..0,
    };
    for i in need_maps {
        let s = &mut srcs[i];
        s.map = s.items.iter().cloned().collect();
    }
    let mut result: Vec<(Blob, f64)> = Vec::new();
    let mut cardinality: u64 = 0;
    match op {
        SetOp::Inter => {
            let first = &srcs[0];
            'outer: for (m, s0) in &first.items {
                let mut score = first.weight * s0;
                if score.is_nan() {
                    score = 0.0;
                }
                for other in &srcs[1..] {
                    let value = if other.present && first.present && other.key == first.key {
                        s0 * other.weight
                    } else {
                        match other.map.get(m) {
                            Some(v) => v * other.weight,
                            None => continue 'outer,
                        }
                    };
                    aggregate(&mut score, value, agg);
                }
                if card_only {
                    cardinality += 1;
                    if limit > 0 && cardinality >= limit {
                        break;
                    }
                } else {
                    result.push((m.clone(), score));
                }
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<Blob, f64> = HashMap::new();
            for s in &srcs {
                for (m, v) in &s.items {
                    let mut score = s.weight * v;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m.clone(), score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            for (m, v) in &srcs[0].items {
                if !srcs[1..].iter().any(|s| s.map.contains_key(m)) {
                    result.push((m.clone(), *v));
                }
            }
        }
    }
    if card_only {
        return int(cardinality as i64);
    }
    result.sort_by(|x, y| (Score(x.1), &x.0).cmp(&(Score(y.1), &y.0)));
    match dst {
        Some(dst) => {
            let n = result.len();
            store(e, dst, &result);
            int(n as i64)
        }
        None => scored_reply(e.resp3, result, withscores),
    }
}

// ---- ZSCAN ---------------------------------------------------------------------------------

/// `parseScanCursorOrReply`: strtoul rules (sign allowed, "-1" wraps).
fn parse_cursor(b: &[u8]) -> Option<u64> {
    let s = c_str(b);
    if s.first().is_some_and(|&c| is_c_space(c)) {
        return None;
    }
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        // No conversion: the end pointer stays at the start.
        return if s.is_empty() { Some(0) } else { None };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Position of a member in the scan order of a large set (FNV-1a, 63 bits).
fn scan_hash(m: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in m {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h >> 1
}

fn zscan(e: &mut Engine, a: &[Bytes]) -> Frame {
    let Some(cursor) = parse_cursor(&a[2]) else { return error(E::INVALID_CURSOR) };
    let empty = || Frame::Array(vec![bulk(b"0"), Frame::Array(Vec::new())]);
    let z = match lookup(e, &a[1], Access::Read) {
        Err(f) => return f,
        Ok(None) => return empty(),
        Ok(Some(z)) => z,
    };
    let mut count: usize = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < a.len() {
        let left = a.len() - i;
        if eq(&a[i], "count") && left >= 2 {
            match args::int(&a[i + 1]) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return error(err::SYNTAX),
                Err(f) => return f,
            }
            i += 2;
        } else if eq(&a[i], "match") && left >= 2 {
            pattern = Some(&a[i + 1]);
            if &a[i + 1][..] == b"*" {
                pattern = None;
            }
            i += 2;
        } else {
            return error(err::SYNTAX);
        }
    }
    let keep = |m: &[u8]| pattern.is_none_or(|p| commands::glob_match(p, m, false));
    let mut out = Vec::new();
    if is_listpack(z) {
        for (s, m) in z.index.iter() {
            if keep(m) {
                out.push(bulk(m));
                out.push(bulk(listpack_score(s.0).as_bytes()));
            }
        }
        return Frame::Array(vec![bulk(b"0"), Frame::Array(out)]);
    }
    // A large set: visit members by increasing hash; the cursor is the next
    // hash to visit, so members present for the whole scan are returned
    // whatever else is added or removed. COUNT is a hint: return at least a
    // 32nd of the set per call so a full scan stays linear.
    let batch = count.max(z.len() / 32).max(1);
    let mut cand: Vec<(u64, &Blob)> = z.members.keys().map(|m| (scan_hash(m), m)).filter(|(h, _)| *h >= cursor).collect();
    let next = if cand.len() > batch {
        cand.select_nth_unstable_by_key(batch - 1, |(h, _)| *h);
        let top = cand[batch - 1].0;
        cand.retain(|(h, _)| *h <= top);
        top + 1
    } else {
        0
    };
    cand.sort();
    for (_, m) in cand {
        if keep(m) {
            let s = z.score(m).unwrap_or(0.0);
            out.push(bulk(m));
            out.push(bulk(fmt_g17(s).as_bytes()));
        }
    }
    Frame::Array(vec![bulk(next.to_string().as_bytes()), Frame::Array(out)])
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::{Bytes, BytesMut};
    use resp::{Frame, Protocol};

    use crate::{Config, Engine};

    /// Splits a command line: spaces separate, "..." quotes (no escapes).
    pub(crate) fn split(line: &str) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_q = false;
        let mut have = false;
        for ch in line.chars() {
            match ch {
                '"' => {
                    in_q = !in_q;
                    have = true;
                }
                ' ' if !in_q => {
                    if have {
                        out.push(Bytes::from(std::mem::take(&mut cur)));
                        have = false;
                    }
                }
                c => {
                    cur.push(c);
                    have = true;
                }
            }
        }
        if have {
            out.push(Bytes::from(cur));
        }
        out
    }

    pub(crate) fn unescape(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                match b[i + 1] {
                    b'r' => out.push(b'\r'),
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'\\' => out.push(b'\\'),
                    b'x' => {
                        out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                        i += 2;
                    }
                    c => panic!("bad escape {c}"),
                }
                i += 2;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    pub(crate) fn encode(f: &Frame, resp3: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        resp::encode(f, if resp3 { Protocol::Resp3 } else { Protocol::Resp2 }, &mut out);
        out.to_vec()
    }

    /// Replays "proto\tcommand\treply" lines (replies captured from
    /// redis-server 7.0.15); "----" starts a fresh keyspace. Returns the
    /// mismatches.
    pub(crate) fn replay(text: &str) -> Vec<String> {
        let mut bad = Vec::new();
        let mut e = Engine::new(Config::default(), 7);
        for line in text.lines() {
            let mut parts = line.splitn(3, '\t');
            let (Some(p), Some(cmd), Some(want)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if cmd == "----" {
                e = Engine::new(Config::default(), 7);
                continue;
            }
            let resp3 = p == "3";
            e.resp3 = resp3;
            let args = split(cmd);
            if let Err(msg) = commands::resolve(&args) {
                let got = encode(&Frame::error(msg), resp3);
                if got != unescape(want) {
                    bad.push(format!("RESP{p} {cmd}: arity/resolve error differs"));
                }
                continue;
            }
            let got = match e.execute(&args, 1_000_000) {
                Some(f) => encode(&f, resp3),
                None => b"(unhandled)".to_vec(),
            };
            let want = unescape(want);
            if got != want {
                bad.push(format!(
                    "RESP{p} {cmd}\n   want {:?}\n   got  {:?}",
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
        bad
    }

    /// Development aid: ZSET_GOLDEN=/path/to/golden.txt cargo test -p engine zset_golden_file -- --ignored
    #[test]
    #[ignore]
    fn zset_golden_file() {
        let path = std::env::var("ZSET_GOLDEN").expect("ZSET_GOLDEN");
        let text = std::fs::read_to_string(path).unwrap();
        let bad = replay(&text);
        for b in &bad {
            println!("{b}");
        }
        assert!(bad.is_empty(), "{} mismatches", bad.len());
    }
}

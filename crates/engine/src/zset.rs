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

use commands::errors as E;
use crdt::{Blob, Kind, Op, Score, Value, VersionVector, ZSet};
use resp::Frame;

use crate::args::{self, eq};
use crate::string::key_ctx;
use crate::{bulk, err, error, int, notify, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
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
        "zrangestore" => zrange(e, a, 2, Some(a[1]), RangeType::Auto, Dir::Auto),
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
        "zunionstore" => zsetop(e, a, Some(a[1]), 2, SetOp::Union, false),
        "zinterstore" => zsetop(e, a, Some(a[1]), 2, SetOp::Inter, false),
        "zdiffstore" => zsetop(e, a, Some(a[1]), 2, SetOp::Diff, false),
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
    if ms.is_nan() || ms <= -1.0 || ms >= 9_223_372_036_854_775_808.0 /* 2^63 */ {
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
/// Redis's `setKey`/`dbDelete` do for the *STORE commands; `event` is the
/// keyspace event of a non-empty result ("del" when an empty one removed
/// the key).
pub(crate) fn store(e: &mut Engine, dst: &[u8], items: &[(Blob, f64)], event: &'static str) {
    let _ = e.lookup(dst, Access::Write);
    let existed = e.db.get(dst).is_some();
    let ctx = key_ctx(e, dst);
    if !ctx.is_empty() {
        e.commit(Op::Del { key: dst.into(), ctx });
    }
    // A listpack stores an integral score as an integer: -0 becomes 0.
    let listpack = items.len() <= 128 && items.iter().all(|(m, _)| m.len() <= 64);
    for (m, s) in items {
        let score = if *s == 0.0 && listpack { 0.0 } else { *s };
        e.commit(Op::ZAdd { key: dst.into(), member: m.clone(), ctx: VersionVector::new(), score });
    }
    if !items.is_empty() {
        e.overwritten(dst, existed);
        e.notify(notify::ZSET, event, dst);
    } else if existed {
        e.notify(notify::GENERIC, "del", dst);
    }
}

/// Redis stores scores of small sets in a listpack, where an integral
/// score is an integer: a -0 score reads back as 0 unless the set is (or
/// becomes, with this member) a skiplist.
fn keep_neg_zero(e: &Engine, key: &[u8], member: &[u8], score: f64) -> f64 {
    if score != 0.0 || score.is_sign_positive() {
        return score;
    }
    let skiplist = member.len() > 64
        || zset_of(e, key).is_some_and(|z| !is_listpack(z) || (z.len() >= 128 && !z.members.contains_key(member)));
    if skiplist {
        score
    } else {
        0.0
    }
}

/// ZINCRBY on an existing member: Redis computes `cur + delta` in doubles,
/// while the member's cell sums increments exactly. Commit increments whose
/// exact sum takes the member from its exact current value to exactly
/// Redis's result, so a local sequence of ZINCRBYs reads as in Redis, and
/// increments made concurrently elsewhere still add up.
fn incr_to(e: &mut Engine, key: &[u8], member: &[u8], delta: f64, new: f64) {
    let cell = zset_of(e, key).and_then(|z| z.members.get(member)).map(|(cell, _)| cell.clone());
    let deltas = cell.filter(|_| new.is_finite()).and_then(|cell| {
        let mut need = crdt::Sum::default();
        need.add(crdt::Delta::Float(new));
        if let Some(v) = cell.winner() {
            let base = crdt::value::decode_score(&v.value);
            need.add(crdt::Delta::Float(-base));
        }
        let incs = cell.increments();
        if incs.int != 0 {
            return None;
        }
        for p in exact_partials(&incs)? {
            need.add(crdt::Delta::Float(-p));
        }
        exact_partials(&need)
    });
    for d in deltas.unwrap_or_else(|| vec![delta]) {
        e.commit(Op::ZIncr { key: key.into(), member: member.into(), delta: d });
    }
}

/// The doubles whose exact sum a [`crdt::Sum`] holds; None if one of them
/// is not finite.
fn exact_partials(s: &crdt::Sum) -> Option<Vec<f64>> {
    let up = 2f64.powi(600);
    let v: Vec<f64> = s.float.iter().copied().chain(s.big.iter().map(|b| b * up)).collect();
    v.iter().all(|x| x.is_finite()).then_some(v)
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
                            incr_to(e, key, member, score, new);
                        } else {
                            let new = keep_neg_zero(e, key, member, new);
                            e.commit(Op::ZAdd { key: key.into(), member: member.into(), ctx, score: new });
                        }
                        updated += 1;
                    }
                }
                None if !f.xx => {
                    // Redis replies the score it computed (-0 stays -0 in
                    // the reply even where the listpack stores 0).
                    last = score;
                    let score = keep_neg_zero(e, key, member, score);
                    if f.incr {
                        e.commit(Op::ZIncr { key: key.into(), member: member.into(), delta: score });
                    } else {
                        e.commit(Op::ZAdd { key: key.into(), member: member.into(), ctx: VersionVector::new(), score });
                    }
                    added += 1;
                    processed += 1;
                }
                None => {}
            }
        }
    }
    if added + updated > 0 {
        e.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
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

fn zadd_cmd(e: &mut Engine, a: &[&[u8]], zincrby: bool) -> Frame {
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
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
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

fn zrem(e: &mut Engine, a: &[&[u8]]) -> Frame {
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
    if n > 0 {
        e.notify(notify::ZSET, "zrem", &a[1]);
        e.notify_if_gone(&a[1]);
    }
    int(n)
}

// ---- simple reads -------------------------------------------------------------

fn zscore(e: &mut Engine, a: &[&[u8]]) -> Frame {
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => Frame::Null,
        Ok(Some(z)) => z.score(&a[2]).map_or(Frame::Null, Frame::Double),
    }
}

fn zmscore(e: &mut Engine, a: &[&[u8]]) -> Frame {
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(z) => Frame::Array(a[2..].iter().map(|m| z.and_then(|z| z.score(m)).map_or(Frame::Null, Frame::Double)).collect()),
    }
}

fn zcount(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let Some(r) = parse_score_range(&a[2], &a[3]) else { return error(E::MIN_MAX_NOT_FLOAT) };
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => int(0),
        Ok(Some(z)) => int(score_iter(z, &r, false).count() as i64),
    }
}

fn zlexcount(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let Some(r) = parse_lex_range(&a[2], &a[3]) else { return error(E::MIN_MAX_NOT_STRING_RANGE) };
    match lookup(e, &a[1], Access::Read) {
        Err(f) => f,
        Ok(None) => int(0),
        Ok(Some(z)) => int(lex_iter(z, &r, false).count() as i64),
    }
}

fn zrank(e: &mut Engine, a: &[&[u8]], rev: bool) -> Frame {
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
fn zrange(e: &mut Engine, a: &[&[u8]], start: usize, dst: Option<&[u8]>, mut rt: RangeType, mut dir: Dir) -> Frame {
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
            store(e, dst, &items, "zrangestore");
            int(n as i64)
        }
        None => scored_reply(e.resp3, items, withscores),
    }
}

fn zremrange(e: &mut Engine, a: &[&[u8]], rt: RangeType) -> Frame {
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
    if n > 0 {
        let event = match rt {
            RangeType::Rank => "zremrangebyrank",
            RangeType::Score => "zremrangebyscore",
            _ => "zremrangebylex",
        };
        e.notify(notify::ZSET, event, &a[1]);
        e.notify_if_gone(&a[1]);
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
    if !items.is_empty() {
        e.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        e.notify_if_gone(key);
    }
    items
}

fn zpop(e: &mut Engine, a: &[&[u8]], max: bool) -> Frame {
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

/// The arity error, for the blocking commands: callers check arity, but
/// never let a short argument list reach an index.
fn arity(a: &[&[u8]], min: usize) -> Option<Frame> {
    (a.len() < min).then(|| error(&E::wrong_arity(&String::from_utf8_lossy(&a[0]).to_ascii_lowercase())))
}

fn bzpop(e: &mut Engine, a: &[&[u8]], max: bool) -> Frame {
    if let Some(f) = arity(a, 3) {
        return f;
    }
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
fn zmpop(e: &mut Engine, a: &[&[u8]], numkeys_idx: usize, blocking: bool) -> Frame {
    if let Some(f) = arity(a, numkeys_idx + 3) {
        return f;
    }
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

fn zrandmember(e: &mut Engine, a: &[&[u8]]) -> Frame {
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
fn zsetop(e: &mut Engine, a: &[&[u8]], dst: Option<&[u8]>, numkeys_idx: usize, op: SetOp, card_only: bool) -> Frame {
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
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store(e, dst, &result, event);
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

fn zscan(e: &mut Engine, a: &[&[u8]]) -> Frame {
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
    //! Replies checked against redis-server 7.0.15 (tables captured from a
    //! live server, both protocols), helpers against C's behaviour, and the
    //! conflict rules of sorted sets with two and more instances.

    use bytes::{Bytes, BytesMut};
    use crdt::InstanceId;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use resp::{Frame, Protocol};

    use crate::{Config, Engine};

    /// Splits a command line: spaces separate, "..." quotes (no escapes).
    /// The arguments as the engine takes them, borrowed from `args`.
    pub(crate) fn views(args: &[Bytes]) -> Vec<&[u8]> {
        args.iter().map(|arg| &arg[..]).collect()
    }

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

    fn unescape(s: &str) -> Vec<u8> {
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
                        out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("hex escape"));
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

    fn fnv(b: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    }

    pub(crate) fn encode(f: &Frame, resp3: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        resp::encode(f, if resp3 { Protocol::Resp3 } else { Protocol::Resp2 }, &mut out);
        out.to_vec()
    }

    /// `want` is an escaped reply, or "h:<fnv64 hex>:<len>" for long ones.
    fn same(got: &[u8], want: &str) -> bool {
        match want.strip_prefix("h:") {
            Some(rest) => {
                let (h, len) = rest.split_once(':').expect("h:hash:len");
                format!("{:016x}", fnv(got)) == h && got.len().to_string() == len
            }
            None => got == unescape(want).as_slice(),
        }
    }

    /// Replays a table of "command TAB RESP2-reply TAB RESP3-reply" lines
    /// ("=": same bytes as RESP2, "?": not checked) captured from
    /// redis-server 7.0.15; "----" starts a fresh keyspace. Two engines run
    /// the same commands, one answering a RESP2 client and one a RESP3
    /// client. Returns the mismatches.
    pub(crate) fn replay(table: &str) -> Vec<String> {
        let fresh = || {
            let e2 = Engine::new(Config::default(), 7);
            let mut e3 = Engine::new(Config::default(), 7);
            e3.resp3 = true;
            (e2, e3)
        };
        let (mut e2, mut e3) = fresh();
        let mut bad = Vec::new();
        for line in table.lines() {
            if line == "----" {
                (e2, e3) = fresh();
                continue;
            }
            let mut parts = line.split('\t');
            let (Some(cmd), Some(want2), Some(want3)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let owned = split(cmd);
            let args = views(&owned);
            let (f2, f3) = match commands::resolve(&args) {
                Err(msg) => (Frame::error(msg.clone()), Frame::error(msg)),
                Ok(_) => (
                    e2.execute(&args, 1_000_000).unwrap_or(Frame::simple("(unhandled)")),
                    e3.execute(&args, 1_000_000).unwrap_or(Frame::simple("(unhandled)")),
                ),
            };
            let want3 = if want3 == "=" { want2 } else { want3 };
            for (resp3, f, want) in [(false, &f2, want2), (true, &f3, want3)] {
                if want == "?" {
                    continue;
                }
                let got = encode(f, resp3);
                if !same(&got, want) {
                    bad.push(format!(
                        "RESP{} {cmd}\n   want {want}\n   got  {:?}",
                        if resp3 { 3 } else { 2 },
                        String::from_utf8_lossy(&got)
                    ));
                }
            }
        }
        bad
    }

    #[test]
    fn replies_match_redis() {
        let bad = replay(GOLDEN);
        assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    }

    // ---- helpers against C ------------------------------------------------

    #[test]
    fn strtod_like_c() {
        let v = |s: &str| super::strtod(s.as_bytes());
        assert_eq!((v("  1.5xyz").value, v("  1.5xyz").len), (1.5, 5));
        assert_eq!((v("").value, v("").len), (0.0, 0));
        assert_eq!(v("   ").len, 0);
        assert_eq!((v("-inFinity").value, v("-inFinity").len), (f64::NEG_INFINITY, 9));
        assert_eq!(v("infx").len, 3);
        assert!(v("nan(123)").value.is_nan());
        assert_eq!(v("nan(123)").len, 8);
        assert_eq!((v("0x10").value, v("0x10").len), (16.0, 4));
        assert_eq!((v("0x1p-2").value, v("0x1p-2").len), (0.25, 6));
        assert_eq!((v("0x.8").value, v("0x.8").len), (0.5, 4));
        assert_eq!((v("0xg").value, v("0xg").len), (0.0, 1));
        assert_eq!((v("1e").value, v("1e").len), (1.0, 1));
        assert_eq!((v("1e+").value, v("1e+").len), (1.0, 1));
        assert_eq!((v(".5").value, v(".5").len), (0.5, 2));
        assert_eq!(v(".").len, 0);
        assert!(v("1e400").erange && v("1e400").value.is_infinite());
        assert!(v("1e-400").erange && v("1e-400").value == 0.0);
        assert!(!v("0e-400").erange);
        assert_eq!(v("1e400").exp10, 400);
        assert_eq!(v("0.00123").exp10, -3);
    }

    #[test]
    fn string2d_like_redis() {
        use super::string2d;
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        for bad in ["", " 1", "1 ", "nan", "1e400", "1e-400", "abc", "1\0"] {
            assert_eq!(string2d(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn g17_like_printf() {
        use super::fmt_g17;
        assert_eq!(fmt_g17(0.1), "0.10000000000000001");
        assert_eq!(fmt_g17(1e17), "1e+17");
        assert_eq!(fmt_g17(1e16), "10000000000000000");
        assert_eq!(fmt_g17(-0.0), "-0");
        assert_eq!(fmt_g17(1.5e-10), "1.5e-10");
        assert_eq!(fmt_g17(-1.5e-10 / 3.0), "-5.0000000000000002e-11");
        assert_eq!(fmt_g17(0.0001), "0.0001");
        assert_eq!(fmt_g17(f64::INFINITY), "inf");
        assert_eq!(super::listpack_score(-0.0), "0");
        assert_eq!(super::listpack_score(1e17), "100000000000000000");
    }

    #[test]
    fn timeouts_like_redis() {
        use super::check_timeout;
        let ok = |s: &str| check_timeout(s.as_bytes()).is_ok();
        let msg = |s: &str| match check_timeout(s.as_bytes()) {
            Err(Frame::Error(m)) => String::from_utf8_lossy(&m).into_owned(),
            _ => String::new(),
        };
        assert!(ok("0") && ok("0.5") && ok("1e15") && ok("-0.0001") && ok("1e-400"));
        assert_eq!(msg("-1"), "ERR timeout is negative");
        assert_eq!(msg("inf"), "ERR timeout is negative");
        assert_eq!(msg("1e16"), "ERR timeout is negative");
        assert_eq!(msg("1e400"), "ERR timeout is negative");
        assert_eq!(msg("1e5000"), "ERR timeout is not a float or out of range");
        assert_eq!(msg("abc"), "ERR timeout is not a float or out of range");
        assert_eq!(msg(" 1"), "ERR timeout is not a float or out of range");
    }

    #[test]
    fn blocking_forms_report_nothing_to_pop() {
        let mut e = Engine::new(Config::default(), 1);
        let run = |e: &mut Engine, l: &str| e.execute(&views(&split(l)), 1000).expect("handled");
        assert_eq!(run(&mut e, "bzpopmin k1 k2 0"), Frame::NullArray);
        assert_eq!(run(&mut e, "bzmpop 0 2 k1 k2 min"), Frame::NullArray);
        assert!(matches!(e.execute_blocking(&views(&split("bzpopmax k1 1")), 1000), crate::BlockResult::WouldBlock));
        run(&mut e, "zadd k2 1 a");
        assert!(matches!(e.execute_blocking(&views(&split("bzpopmax k1 k2 1")), 1000), crate::BlockResult::Reply(_)));
    }

    #[test]
    fn short_blocking_commands_do_not_panic() {
        let mut e = Engine::new(Config::default(), 1);
        for l in ["bzpopmin", "bzpopmin k", "bzmpop", "bzmpop 0 1 k", "zmpop 1"] {
            let Some(Frame::Error(m)) = e.execute(&views(&split(l)), 1000) else { panic!("{l}") };
            assert!(m.starts_with(b"ERR wrong number of arguments"), "{l}");
        }
    }

    #[test]
    fn large_set_scan_visits_every_member_under_writes() {
        let mut e = Engine::new(Config::default(), 3);
        let run = |e: &mut Engine, l: &str| e.execute(&views(&split(l)), 1000).expect("handled");
        for i in 0..1000 {
            run(&mut e, &format!("zadd z {i} m{i}"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut round = 0;
        loop {
            let Frame::Array(r) = run(&mut e, &format!("zscan z {cursor} count 20")) else { panic!() };
            let (Frame::Bulk(c), Frame::Array(items)) = (&r[0], &r[1]) else { panic!() };
            for pair in items.chunks(2) {
                let (Frame::Bulk(m), Frame::Bulk(s)) = (&pair[0], &pair[1]) else { panic!() };
                if m[0] == b'm' {
                    assert_eq!(&m[1..], &s[..], "score of {m:?}");
                }
                seen.insert(m.clone());
            }
            // Remove some members and add new ones while scanning.
            run(&mut e, &format!("zrem z m{}", 900 + round));
            run(&mut e, &format!("zadd z 1 new{round}"));
            round += 1;
            cursor = String::from_utf8(c.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert!(round < 200, "a full scan takes a bounded number of calls");
        for i in 0..900 {
            assert!(seen.contains(format!("m{i}").as_bytes()), "m{i} missed");
        }
    }

    // ---- conflict rules -----------------------------------------------------

    fn instance(id: u16) -> Engine {
        let mut e = Engine::new(Config { instance: InstanceId(id), active_active: true, ..Config::default() }, id as u64);
        e.db.set_members(&[InstanceId(1), InstanceId(2), InstanceId(3), InstanceId(4)]);
        e
    }

    fn run(e: &mut Engine, now: u64, line: &str) -> Frame {
        e.execute(&views(&split(line)), now).expect("handled")
    }

    /// Exchanges every pending effect between instances (each receives the
    /// others' effects in the order they were made).
    fn sync(es: &mut [&mut Engine]) {
        let batches: Vec<Vec<crdt::Effect>> = es.iter_mut().map(|e| std::mem::take(&mut e.effects)).collect();
        for (i, e) in es.iter_mut().enumerate() {
            for (j, batch) in batches.iter().enumerate() {
                if i != j {
                    for eff in batch {
                        e.apply_remote(eff);
                    }
                }
            }
        }
    }

    /// The index of every sorted set agrees with its members.
    fn check_index(e: &Engine) {
        for en in e.db.entries.values() {
            if let Some(crdt::Value::ZSet(z)) = &en.value {
                assert_eq!(z.index.len(), z.members.len());
                for (m, (_, s)) in &z.members {
                    assert!(z.index.contains(&(crdt::Score(*s), m.clone())), "index misses {m:?}");
                }
            }
        }
    }

    /// Runs concurrent commands on two instances from a common state, then
    /// delivers effects in both orders (and to two fresh observers, one per
    /// order); all four must converge. Returns what `read` shows.
    fn concurrent(setup: &[&str], on1: &[&str], on2: &[&str], t1: u64, t2: u64, read: &str) -> Frame {
        let (mut a, mut b) = (instance(1), instance(2));
        for l in setup {
            run(&mut a, 100, l);
        }
        sync(&mut [&mut a, &mut b]);
        for l in on1 {
            run(&mut a, t1, l);
        }
        for l in on2 {
            run(&mut b, t2, l);
        }
        let (ea, eb) = (a.effects.clone(), b.effects.clone());
        sync(&mut [&mut a, &mut b]);
        // Fresh observers that saw the common history, then both orders.
        let mut c = instance(3);
        let mut d = instance(4);
        let mut s1 = instance(1);
        for l in setup {
            run(&mut s1, 100, l);
        }
        for eff in &s1.effects {
            c.apply_remote(eff);
            d.apply_remote(eff);
        }
        for eff in ea.iter().chain(eb.iter()) {
            c.apply_remote(eff);
        }
        for eff in eb.iter().chain(ea.iter()) {
            d.apply_remote(eff);
        }
        // Duplicates change nothing.
        for eff in ea.iter().chain(eb.iter()) {
            d.apply_remote(eff);
        }
        let digest = a.db.digest();
        for (name, e) in [("b", &b), ("c", &c), ("d", &d)] {
            assert_eq!(e.db.digest(), digest, "instance {name} diverged");
        }
        for e in [&a, &b, &c, &d] {
            check_index(e);
        }
        let r = run(&mut a, 10_000, read);
        for e in [&mut b, &mut c, &mut d] {
            assert_eq!(run(e, 10_000, read), r);
        }
        r
    }

    fn scores(pairs: &[(&str, f64)]) -> Frame {
        let mut v = Vec::new();
        for (m, s) in pairs {
            v.push(Frame::Bulk(Bytes::copy_from_slice(m.as_bytes())));
            v.push(Frame::Double(*s));
        }
        Frame::Array(v)
    }

    #[test]
    fn concurrent_zadd_later_wins() {
        let r = concurrent(&["zadd z 1 m"], &["zadd z 5 m"], &["zadd z 7 m"], 2000, 3000, "zrange z 0 -1 withscores");
        assert_eq!(r, scores(&[("m", 7.0)]));
        let r = concurrent(&["zadd z 1 m"], &["zadd z 5 m"], &["zadd z 7 m"], 3000, 2000, "zrange z 0 -1 withscores");
        assert_eq!(r, scores(&[("m", 5.0)]));
        // A new member added on both sides: LWW too.
        let r = concurrent(&[], &["zadd z 5 m"], &["zadd z 7 m"], 3000, 2000, "zrange z 0 -1 withscores");
        assert_eq!(r, scores(&[("m", 5.0)]));
    }

    #[test]
    fn concurrent_zadd_tie_goes_to_instance_1() {
        let r = concurrent(&["zadd z 1 m"], &["zadd z 5 m"], &["zadd z 7 m"], 2000, 2000, "zscore z m");
        assert_eq!(r, Frame::Double(5.0));
    }

    #[test]
    fn concurrent_zincrby_add_up() {
        let r = concurrent(&["zadd z 10 m"], &["zincrby z 1 m"], &["zincrby z 2.5 m"], 2000, 2000, "zscore z m");
        assert_eq!(r, Frame::Double(13.5));
        // On a member neither side had: both increments count.
        let r = concurrent(&[], &["zincrby z 1 m", "zincrby z 1 m"], &["zadd z incr 3 m"], 2000, 2000, "zscore z m");
        assert_eq!(r, Frame::Double(5.0));
        // Decimal increments read as Redis's double arithmetic locally and
        // still add up across instances.
        let r = concurrent(&["zadd z 1 m"], &["zincrby z 0.1 m", "zincrby z 0.2 m"], &["zincrby z -1.3 m"], 2000, 2000, "zscore z m");
        assert_eq!(r, Frame::Double(1.0 + 0.1 + 0.2 - 1.3));
    }

    #[test]
    fn zrem_keeps_unobserved_increment() {
        let r = concurrent(&["zadd z 5 m", "zadd z 1 other"], &["zrem z m"], &["zincrby z 3 m"], 2000, 2000, "zrange z 0 -1 withscores");
        assert_eq!(r, scores(&[("other", 1.0), ("m", 3.0)]));
        // What ZREM observed is gone: a ZINCRBY it saw does not come back.
        let r = concurrent(&["zadd z 5 m", "zincrby z 2 m"], &["zrem z m"], &[], 2000, 2000, "zrange z 0 -1 withscores");
        assert_eq!(r, Frame::Array(vec![]));
    }

    #[test]
    fn zadd_replaces_observed_increments_only() {
        let r = concurrent(&["zadd z 5 m", "zincrby z 1 m"], &["zadd z 100 m"], &["zincrby z 2 m"], 3000, 2000, "zscore z m");
        assert_eq!(r, Frame::Double(102.0));
    }

    #[test]
    fn concurrent_pops_and_stores_converge() {
        concurrent(&["zadd z 1 a 2 b 3 c"], &["zpopmin z"], &["zpopmin z 2", "zadd z 0 d"], 2000, 2000, "zrange z 0 -1 withscores");
        let r = concurrent(
            &["zadd a 1 x 2 y", "zadd d 9 old"],
            &["zunionstore d 1 a"],
            &["zadd d 5 new"],
            2000,
            2000,
            "zrange d 0 -1 withscores",
        );
        // The store replaced what it observed; the concurrent add survives.
        assert_eq!(r, scores(&[("x", 1.0), ("y", 2.0), ("new", 5.0)]));
        concurrent(&["zadd z 1 a 2 b"], &["zremrangebyscore z 1 1", "zadd z 5 c"], &["zincrby z 1 a", "zrem z b"], 2000, 2500, "zrange z 0 -1 withscores");
        concurrent(&["geoadd g 13.361389 38.115556 P"], &["geoadd g 15.087269 37.502669 C"], &["geosearchstore g g fromlonlat 13 38 byradius 100 km"], 2000, 2500, "zrange g 0 -1 withscores");
    }

    /// Random sorted-set commands on three instances with random exchanges
    /// converge once every effect is delivered.
    #[test]
    fn random_histories_converge() {
        let cmds = |rng: &mut SmallRng| -> String {
            let m = format!("m{}", rng.gen_range(0..6));
            let s = rng.gen_range(-3..4);
            match rng.gen_range(0..12) {
                0 | 1 => format!("zadd z {s} {m}"),
                2 => format!("zincrby z {}.5 {m}", s),
                3 => format!("zrem z {m}"),
                4 => "zpopmin z".into(),
                5 => format!("zadd z gt ch {s} {m} 1 m9"),
                6 => "zremrangebyrank z 0 1".into(),
                7 => format!("zunionstore z 2 z y weights 1 {s}"),
                8 => format!("zadd y {s} {m}"),
                9 => "del z".into(),
                10 => format!("zadd z incr {s} {m}"),
                _ => format!("zmpop 2 y z max count {}", rng.gen_range(1..3)),
            }
        };
        for seed in 0..60u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let (mut a, mut b, mut c) = (instance(1), instance(2), instance(3));
            let mut now = 1000;
            for _ in 0..40 {
                now += rng.gen_range(0..3);
                let which = rng.gen_range(0..3);
                let cmd = cmds(&mut rng);
                let e = [&mut a, &mut b, &mut c].into_iter().nth(which).unwrap();
                run(e, now, &cmd);
                if rng.gen_range(0..4) == 0 {
                    sync(&mut [&mut a, &mut b, &mut c]);
                }
            }
            sync(&mut [&mut a, &mut b, &mut c]);
            assert_eq!(a.db.digest(), b.db.digest(), "seed {seed}");
            assert_eq!(a.db.digest(), c.db.digest(), "seed {seed}");
            for e in [&a, &b, &c] {
                check_index(e);
            }
            let r = run(&mut a, now, "zrange z 0 -1 withscores");
            assert_eq!(run(&mut b, now, "zrange z 0 -1 withscores"), r, "seed {seed}");
            assert_eq!(run(&mut c, now, "zrange z 0 -1 withscores"), r, "seed {seed}");
        }
    }

    /// Captured from redis-server 7.0.15 (see `replay`).
    const GOLDEN: &str = r##"
zadd z 1 a 2 b 3 c	:3\r\n	=
zadd z nx 10 a 4 d	:1\r\n	=
zadd z xx 10 a 5 e	:0\r\n	=
zadd z ch 11 a 4 d 6 f	:2\r\n	=
zadd z xx nx 1 a	-ERR XX and NX options at the same time are not compatible\r\n	=
zadd z gt nx 1 a	-ERR GT, LT, and/or NX options at the same time are not compatible\r\n	=
zadd z gt lt 1 a	-ERR GT, LT, and/or NX options at the same time are not compatible\r\n	=
zadd z lt nx 1 a	-ERR GT, LT, and/or NX options at the same time are not compatible\r\n	=
zadd z incr 1 a 2 b	-ERR INCR option supports a single increment-element pair\r\n	=
zadd z 1 a 2	-ERR syntax error\r\n	=
zadd z nx	-ERR wrong number of arguments for 'zadd' command\r\n	=
zadd z abc a	-ERR value is not a valid float\r\n	=
zadd z nan a	-ERR value is not a valid float\r\n	=
zadd z " 1" a	-ERR value is not a valid float\r\n	=
zadd z 1e400 a	-ERR value is not a valid float\r\n	=
zadd z 0x10 hexm	:1\r\n	=
zadd z 1.5e2 sci	:1\r\n	=
zadd z -inf ninf +inf pinf	:2\r\n	=
zadd z incr 5 a	$2\r\n16\r\n	,16\r\n
zadd z incr nx 5 a	$-1\r\n	_\r\n
zadd z incr xx 5 nope	$-1\r\n	_\r\n
zadd z incr gt -1 a	$-1\r\n	_\r\n
zadd z incr lt -1 a	$2\r\n15\r\n	,15\r\n
zadd z gt 100 a 1 b	:0\r\n	=
zadd z lt 0 a 100 b	:0\r\n	=
zadd z gt ch 200 a 1 b	:1\r\n	=
zadd z incr +inf pinf	$3\r\ninf\r\n	,inf\r\n
zadd z incr -inf pinf	-ERR resulting score is not a number (NaN)\r\n	=
zadd z 1 a 2 a 3 a	:0\r\n	=
zadd z ch 1 a 2 a 3 a	:3\r\n	=
zadd z xx ch incr 1 a	$1\r\n4\r\n	,4\r\n
zrange z 0 -1 withscores	*18\r\n$4\r\nninf\r\n$4\r\n-inf\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nf\r\n$1\r\n6\r\n$4\r\nhexm\r\n$2\r\n16\r\n$3\r\nsci\r\n$3\r\n150\r\n$4\r\npinf\r\n$3\r\ninf\r\n	*9\r\n*2\r\n$4\r\nninf\r\n,-inf\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\na\r\n,4\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nf\r\n,6\r\n*2\r\n$4\r\nhexm\r\n,16\r\n*2\r\n$3\r\nsci\r\n,150\r\n*2\r\n$4\r\npinf\r\n,inf\r\n
zcard z	:9\r\n	=
zcard nokey	:0\r\n	=
set s str	+OK\r\n	=
zadd s 1 a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zadd s abc a	-ERR value is not a valid float\r\n	=
zincrby s 1 a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zcard s	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zincrby z 2.5 b	$3\r\n4.5\r\n	,4.5\r\n
zincrby z abc b	-ERR value is not a valid float\r\n	=
zincrby z 1 newone	$1\r\n1\r\n	,1\r\n
zincrby z nx b	-ERR syntax error\r\n	=
zincrby nokey2 1 m	$1\r\n1\r\n	,1\r\n
zscore z b	$3\r\n4.5\r\n	,4.5\r\n
zscore z nope	$-1\r\n	_\r\n
zscore nokey a	$-1\r\n	_\r\n
zscore s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zmscore z a b nope	*3\r\n$1\r\n4\r\n$3\r\n4.5\r\n$-1\r\n	*3\r\n,4\r\n,4.5\r\n_\r\n
zmscore nokey a b	*2\r\n$-1\r\n$-1\r\n	*2\r\n_\r\n_\r\n
zmscore s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zrange z 0 -1 withscores	*20\r\n$4\r\nninf\r\n$4\r\n-inf\r\n$6\r\nnewone\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nb\r\n$3\r\n4.5\r\n$1\r\nf\r\n$1\r\n6\r\n$4\r\nhexm\r\n$2\r\n16\r\n$3\r\nsci\r\n$3\r\n150\r\n$4\r\npinf\r\n$3\r\ninf\r\n	*10\r\n*2\r\n$4\r\nninf\r\n,-inf\r\n*2\r\n$6\r\nnewone\r\n,1\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\na\r\n,4\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nb\r\n,4.5\r\n*2\r\n$1\r\nf\r\n,6\r\n*2\r\n$4\r\nhexm\r\n,16\r\n*2\r\n$3\r\nsci\r\n,150\r\n*2\r\n$4\r\npinf\r\n,inf\r\n
----
zadd z 1 a 2 b 3 c	:3\r\n	=
zrem z a a x	:1\r\n	=
zrem z b c	:2\r\n	=
exists z	:0\r\n	=
zrem z a	:0\r\n	=
zrem nokey a	:0\r\n	=
set s x	+OK\r\n	=
zrem s a	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
zadd z 1 a 2 b 3 c 4 d 5 e	:5\r\n	=
zrange z 0 -1	*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n	=
zrange z 0 -1 withscores	*10\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n	*5\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\ne\r\n,5\r\n
zrange z -2 -1 withscores	*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n	*2\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\ne\r\n,5\r\n
zrange z 1 2	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrange z 3 1	*0\r\n	=
zrange z 10 20	*0\r\n	=
zrange z -100 100	*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n	=
zrange z 0 0 rev	*1\r\n$1\r\ne\r\n	=
zrange z 0 1 rev withscores	*4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n	*2\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\nd\r\n,4\r\n
zrevrange z 0 1	*2\r\n$1\r\ne\r\n$1\r\nd\r\n	=
zrevrange z 0 -1 withscores	*10\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n	*5\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n
zrevrange z 0 1 rev	-ERR syntax error\r\n	=
zrevrange z 0 1 limit 0 1	-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n	=
zrange z 0 1 limit 0 1	-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n	=
zrange z 0 1 limit 0 -1	*2\r\n$1\r\na\r\n$1\r\nb\r\n	=
zrange z a b	-ERR value is not an integer or out of range\r\n	=
zrange z 0 b	-ERR value is not an integer or out of range\r\n	=
zrange z 0 1 foo	-ERR syntax error\r\n	=
zrange z 0 1 withscores withscores	*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n	*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zrange z 0 1 limit 1	-ERR syntax error\r\n	=
zrange nokey 0 -1	*0\r\n	=
zrange z 0 -1 byscore	*0\r\n	=
zrank z c	:2\r\n	=
zrank z nope	$-1\r\n	_\r\n
zrevrank z c	:2\r\n	=
zrank nokey a	$-1\r\n	_\r\n
zrank z a	:0\r\n	=
zrevrank z a	:4\r\n	=
----
zadd z 1 a 2 b 3 c 4 d 5 e -inf m +inf p 1.5 x	:8\r\n	=
zrangebyscore z 1 3	*4\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrangebyscore z (1 (3	*2\r\n$1\r\nx\r\n$1\r\nb\r\n	=
zrangebyscore z -inf +inf withscores	*16\r\n$1\r\nm\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nx\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\np\r\n$3\r\ninf\r\n	*8\r\n*2\r\n$1\r\nm\r\n,-inf\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nx\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\np\r\n,inf\r\n
zrangebyscore z -inf +inf limit 1 2	*2\r\n$1\r\na\r\n$1\r\nx\r\n	=
zrangebyscore z -inf +inf limit 1 -1	*7\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\np\r\n	=
zrangebyscore z -inf +inf limit -1 2	*0\r\n	=
zrangebyscore z -inf +inf limit 100 2	*0\r\n	=
zrangebyscore z -inf +inf limit 0 0	*0\r\n	=
zrangebyscore z (-inf (+inf	*6\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n	=
zrangebyscore z 3 1	*0\r\n	=
zrangebyscore z (3 3	*0\r\n	=
zrangebyscore z 3 3	*1\r\n$1\r\nc\r\n	=
zrangebyscore z a b	-ERR min or max is not a float\r\n	=
zrangebyscore z (a 3	-ERR min or max is not a float\r\n	=
zrangebyscore z "" ""	*0\r\n	=
zrangebyscore z ( 2	*3\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n	=
zrangebyscore z 1 3 rev	-ERR syntax error\r\n	=
zrangebyscore z 1 3 byscore	-ERR syntax error\r\n	=
zrevrangebyscore z 3 1	*4\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\na\r\n	=
zrevrangebyscore z +inf -inf withscores	*16\r\n$1\r\np\r\n$3\r\ninf\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nx\r\n$3\r\n1.5\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nm\r\n$4\r\n-inf\r\n	*8\r\n*2\r\n$1\r\np\r\n,inf\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nx\r\n,1.5\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nm\r\n,-inf\r\n
zrevrangebyscore z (3 (1 withscores	*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nx\r\n$3\r\n1.5\r\n	*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nx\r\n,1.5\r\n
zrevrangebyscore z +inf -inf limit 1 2 withscores	*4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n	*2\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\nd\r\n,4\r\n
zrevrangebyscore z 1 3	*0\r\n	=
zrange z 1 3 byscore	*4\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrange z 3 1 byscore rev withscores	*8\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nx\r\n$3\r\n1.5\r\n$1\r\na\r\n$1\r\n1\r\n	*4\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nx\r\n,1.5\r\n*2\r\n$1\r\na\r\n,1\r\n
zrange z (1 5 byscore limit 1 2	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrange z 1 3 byscore rev	*0\r\n	=
zcount z 1 3	:4\r\n	=
zcount z (1 (3	:2\r\n	=
zcount z -inf +inf	:8\r\n	=
zcount z 3 1	:0\r\n	=
zcount z a 1	-ERR min or max is not a float\r\n	=
zcount nokey 1 2	:0\r\n	=
zremrangebyscore z (1 2	:2\r\n	=
zrange z 0 -1 withscores	*12\r\n$1\r\nm\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\np\r\n$3\r\ninf\r\n	*6\r\n*2\r\n$1\r\nm\r\n,-inf\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\np\r\n,inf\r\n
zremrangebyscore z a 2	-ERR min or max is not a float\r\n	=
zremrangebyscore nokey 1 2	:0\r\n	=
zremrangebyscore z -inf +inf	:6\r\n	=
exists z	:0\r\n	=
----
zadd z 0 a 0 b 0 c 0 d 0 e 0 f 0 g	:7\r\n	=
zrangebylex z - +	*7\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n	=
zrangebylex z [b [d	*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
zrangebylex z (b (d	*1\r\n$1\r\nc\r\n	=
zrangebylex z (b +	*5\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n	=
zrangebylex z - (c	*2\r\n$1\r\na\r\n$1\r\nb\r\n	=
zrangebylex z + -	*0\r\n	=
zrangebylex z [d [b	*0\r\n	=
zrangebylex z [b [b	*1\r\n$1\r\nb\r\n	=
zrangebylex z (b [b	*0\r\n	=
zrangebylex z - + limit 1 2	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrangebylex z - + limit -1 2	*0\r\n	=
zrangebylex z - + limit 2 -1	*5\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n	=
zrangebylex z a b	-ERR min or max not valid string range item\r\n	=
zrangebylex z [a b	-ERR min or max not valid string range item\r\n	=
zrangebylex z - + withscores	-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n	=
zrangebylex z -- +	-ERR min or max not valid string range item\r\n	=
zrevrangebylex z + -	*7\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n	=
zrevrangebylex z [d [b	*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n	=
zrevrangebylex z (d - limit 1 2	*2\r\n$1\r\nb\r\n$1\r\na\r\n	=
zrange z [b [d bylex	*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n	=
zrange z [d [b bylex rev	*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n	=
zrange z - + bylex withscores	-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n	=
zrange z - + bylex limit 2 3	*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n	=
zlexcount z - +	:7\r\n	=
zlexcount z [b (e	:3\r\n	=
zlexcount z a b	-ERR min or max not valid string range item\r\n	=
zlexcount nokey - +	:0\r\n	=
zremrangebylex z [b (d	:2\r\n	=
zrange z 0 -1	*5\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n	=
zremrangebylex z a b	-ERR min or max not valid string range item\r\n	=
zremrangebylex z - +	:5\r\n	=
exists z	:0\r\n	=
zadd m 1 a 2 b 3 c	:3\r\n	=
zrangebylex m - +	*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrangebylex m [b +	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zlexcount m [b +	:2\r\n	=
----
zadd z 1 a 2 b 3 c 4 d 5 e	:5\r\n	=
zremrangebyrank z 0 1	:2\r\n	=
zrange z 0 -1	*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n	=
zremrangebyrank z -1 -1	:1\r\n	=
zrange z 0 -1	*2\r\n$1\r\nc\r\n$1\r\nd\r\n	=
zremrangebyrank z 5 10	:0\r\n	=
zremrangebyrank z a 1	-ERR value is not an integer or out of range\r\n	=
zremrangebyrank nokey 0 1	:0\r\n	=
zremrangebyrank z 0 -1	:2\r\n	=
exists z	:0\r\n	=
----
zadd z 1 a 2 b 3 c 4 d 5 e	:5\r\n	=
zpopmin z	*2\r\n$1\r\na\r\n$1\r\n1\r\n	*2\r\n$1\r\na\r\n,1\r\n
zpopmax z	*2\r\n$1\r\ne\r\n$1\r\n5\r\n	*2\r\n$1\r\ne\r\n,5\r\n
zpopmin z 2	*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zpopmax z 0	*0\r\n	=
zpopmin z -1	-ERR value is out of range, must be positive\r\n	=
zpopmin z abc	-ERR value is out of range, must be positive\r\n	=
zpopmin z 1 2	-ERR syntax error\r\n	=
zpopmin nokey	*0\r\n	=
zpopmin nokey 3	*0\r\n	=
zpopmax z 10	*2\r\n$1\r\nd\r\n$1\r\n4\r\n	*1\r\n*2\r\n$1\r\nd\r\n,4\r\n
exists z	:0\r\n	=
set s x	+OK\r\n	=
zpopmin s	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zpopmin s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zadd y 1 a	:1\r\n	=
zpopmin y 1	*2\r\n$1\r\na\r\n$1\r\n1\r\n	*1\r\n*2\r\n$1\r\na\r\n,1\r\n
----
zadd z 1 a 2 b 3 c	:3\r\n	=
bzpopmin nokey z 0	*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n	*3\r\n$1\r\nz\r\n$1\r\na\r\n,1\r\n
bzpopmax z 0.5	*3\r\n$1\r\nz\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n$1\r\nz\r\n$1\r\nc\r\n,3\r\n
bzpopmin z -1	-ERR timeout is negative\r\n	=
bzpopmin z abc	-ERR timeout is not a float or out of range\r\n	=
bzpopmin z inf	-ERR timeout is negative\r\n	=
bzpopmin z 1e400	-ERR timeout is negative\r\n	=
bzpopmin z -0.0001	*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n	*3\r\n$1\r\nz\r\n$1\r\nb\r\n,2\r\n
set s x	+OK\r\n	=
bzpopmin s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zmpop 1 z min	*-1\r\n	_\r\n
zmpop 2 nokey z max count 10	*-1\r\n	_\r\n
zmpop 1 z min	*-1\r\n	_\r\n
zmpop 0 z min	-ERR numkeys should be greater than 0\r\n	=
zmpop -1 z min	-ERR numkeys should be greater than 0\r\n	=
zmpop abc z min	-ERR numkeys should be greater than 0\r\n	=
zmpop 1 z foo	-ERR syntax error\r\n	=
zmpop 3 z min	-ERR syntax error\r\n	=
zmpop 1 z min count 0	-ERR count should be greater than 0\r\n	=
zmpop 1 z min count -1	-ERR count should be greater than 0\r\n	=
zmpop 1 z min count 1 count 1	-ERR syntax error\r\n	=
zmpop 1 z min bar	-ERR syntax error\r\n	=
zmpop 1 s min	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zmpop 2 nokey s min	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zadd q 1 a 2 b	:2\r\n	=
bzmpop 0 1 q max count 5	*2\r\n$1\r\nq\r\n*2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n	*2\r\n$1\r\nq\r\n*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n
bzmpop abc 1 q max	-ERR timeout is not a float or out of range\r\n	=
bzmpop -1 1 q max	-ERR timeout is negative\r\n	=
bzmpop 0 0 q max	-ERR numkeys should be greater than 0\r\n	=
bzmpop 0 1 q maxx	-ERR syntax error\r\n	=
bzmpop 0 1 s min	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
zadd a 1 x 2 y 3 z	:3\r\n	=
zadd b 10 y 20 z 30 w	:3\r\n	=
sadd s y w v	:3\r\n	=
zunion 2 a b	*4\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\nw\r\n	=
zunion 2 a b withscores	*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n	*4\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,12\r\n*2\r\n$1\r\nz\r\n,23\r\n*2\r\n$1\r\nw\r\n,30\r\n
zunion 2 a b weights 2 3 withscores	*8\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\ny\r\n$2\r\n34\r\n$1\r\nz\r\n$2\r\n66\r\n$1\r\nw\r\n$2\r\n90\r\n	*4\r\n*2\r\n$1\r\nx\r\n,2\r\n*2\r\n$1\r\ny\r\n,34\r\n*2\r\n$1\r\nz\r\n,66\r\n*2\r\n$1\r\nw\r\n,90\r\n
zunion 2 a b aggregate min withscores	*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n$1\r\nw\r\n$2\r\n30\r\n	*4\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,2\r\n*2\r\n$1\r\nz\r\n,3\r\n*2\r\n$1\r\nw\r\n,30\r\n
zunion 2 a b aggregate max withscores	*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n10\r\n$1\r\nz\r\n$2\r\n20\r\n$1\r\nw\r\n$2\r\n30\r\n	*4\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,10\r\n*2\r\n$1\r\nz\r\n,20\r\n*2\r\n$1\r\nw\r\n,30\r\n
zunion 3 a b s withscores	*10\r\n$1\r\nv\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n13\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n31\r\n	*5\r\n*2\r\n$1\r\nv\r\n,1\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,13\r\n*2\r\n$1\r\nz\r\n,23\r\n*2\r\n$1\r\nw\r\n,31\r\n
zunion 2 a nokey withscores	*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,2\r\n*2\r\n$1\r\nz\r\n,3\r\n
zunion 0 a	-ERR at least 1 input key is needed for 'zunion' command\r\n	=
zunion -1 a	-ERR at least 1 input key is needed for 'zunion' command\r\n	=
zunion abc a	-ERR value is not an integer or out of range\r\n	=
zunion 3 a b	-ERR syntax error\r\n	=
zunion 2 a b weights 1	-ERR syntax error\r\n	=
zunion 2 a b weights 1 x	-ERR weight value is not a float\r\n	=
zunion 2 a b aggregate foo	-ERR syntax error\r\n	=
zunion 2 a b aggregate	-ERR syntax error\r\n	=
zunion 2 a b foo	-ERR syntax error\r\n	=
zinter 2 a b withscores	*4\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n	*2\r\n*2\r\n$1\r\ny\r\n,12\r\n*2\r\n$1\r\nz\r\n,23\r\n
zinter 2 a b weights 1 -1 withscores	*4\r\n$1\r\nz\r\n$3\r\n-17\r\n$1\r\ny\r\n$2\r\n-8\r\n	*2\r\n*2\r\n$1\r\nz\r\n,-17\r\n*2\r\n$1\r\ny\r\n,-8\r\n
zinter 3 a b s withscores	*2\r\n$1\r\ny\r\n$2\r\n13\r\n	*1\r\n*2\r\n$1\r\ny\r\n,13\r\n
zinter 2 a nokey withscores	*0\r\n	=
zinter 2 a a withscores	*6\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\ny\r\n$1\r\n4\r\n$1\r\nz\r\n$1\r\n6\r\n	*3\r\n*2\r\n$1\r\nx\r\n,2\r\n*2\r\n$1\r\ny\r\n,4\r\n*2\r\n$1\r\nz\r\n,6\r\n
zinter 2 a b aggregate max withscores	*4\r\n$1\r\ny\r\n$2\r\n10\r\n$1\r\nz\r\n$2\r\n20\r\n	*2\r\n*2\r\n$1\r\ny\r\n,10\r\n*2\r\n$1\r\nz\r\n,20\r\n
zinter 2 a a weights 1 2 aggregate min withscores	*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n$1\r\nz\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,2\r\n*2\r\n$1\r\nz\r\n,3\r\n
zdiff 2 a b withscores	*2\r\n$1\r\nx\r\n$1\r\n1\r\n	*1\r\n*2\r\n$1\r\nx\r\n,1\r\n
zdiff 2 b s withscores	*2\r\n$1\r\nz\r\n$2\r\n20\r\n	*1\r\n*2\r\n$1\r\nz\r\n,20\r\n
zdiff 1 a	*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n	=
zdiff 2 nokey a	*0\r\n	=
zdiff 2 a b weights 1 1	-ERR syntax error\r\n	=
zdiff 2 a b aggregate sum	-ERR syntax error\r\n	=
zintercard 2 a b	:2\r\n	=
zintercard 2 a b withscores	-ERR syntax error\r\n	=
zintercard 0 a	-ERR at least 1 input key is needed for 'zintercard' command\r\n	=
zintercard 3 a b s	:1\r\n	=
zunionstore d 2 a b	:4\r\n	=
zrange d 0 -1 withscores	*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n	*4\r\n*2\r\n$1\r\nx\r\n,1\r\n*2\r\n$1\r\ny\r\n,12\r\n*2\r\n$1\r\nz\r\n,23\r\n*2\r\n$1\r\nw\r\n,30\r\n
zinterstore d 2 a b weights 2 2	:2\r\n	=
zrange d 0 -1 withscores	*4\r\n$1\r\ny\r\n$2\r\n24\r\n$1\r\nz\r\n$2\r\n46\r\n	*2\r\n*2\r\n$1\r\ny\r\n,24\r\n*2\r\n$1\r\nz\r\n,46\r\n
zdiffstore d 2 a b	:1\r\n	=
zrange d 0 -1 withscores	*2\r\n$1\r\nx\r\n$1\r\n1\r\n	*1\r\n*2\r\n$1\r\nx\r\n,1\r\n
zinterstore d 2 a nokey	:0\r\n	=
exists d	:0\r\n	=
zunionstore d 2 a b withscores	-ERR syntax error\r\n	=
set str x	+OK\r\n	=
zunion 2 a str	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zunionstore str 2 a b	:4\r\n	=
type str	+zset\r\n	=
zunionstore d 1 nokey	:0\r\n	=
zadd inf1 +inf m	:1\r\n	=
zadd inf2 -inf m	:1\r\n	=
zunion 2 inf1 inf2 withscores	*2\r\n$1\r\nm\r\n$1\r\n0\r\n	*1\r\n*2\r\n$1\r\nm\r\n,0\r\n
zinter 2 inf1 inf2 withscores	*2\r\n$1\r\nm\r\n$1\r\n0\r\n	*1\r\n*2\r\n$1\r\nm\r\n,0\r\n
zunion 2 inf1 inf2 weights 0 1 withscores	*2\r\n$1\r\nm\r\n$4\r\n-inf\r\n	*1\r\n*2\r\n$1\r\nm\r\n,-inf\r\n
zunion 2 a b weights inf 0 withscores	*8\r\n$1\r\nw\r\n$1\r\n0\r\n$1\r\nx\r\n$3\r\ninf\r\n$1\r\ny\r\n$3\r\ninf\r\n$1\r\nz\r\n$3\r\ninf\r\n	*4\r\n*2\r\n$1\r\nw\r\n,0\r\n*2\r\n$1\r\nx\r\n,inf\r\n*2\r\n$1\r\ny\r\n,inf\r\n*2\r\n$1\r\nz\r\n,inf\r\n
zunion 2 a b weights -0 -0 withscores	*8\r\n$1\r\nw\r\n$2\r\n-0\r\n$1\r\nx\r\n$2\r\n-0\r\n$1\r\ny\r\n$2\r\n-0\r\n$1\r\nz\r\n$2\r\n-0\r\n	*4\r\n*2\r\n$1\r\nw\r\n,-0\r\n*2\r\n$1\r\nx\r\n,-0\r\n*2\r\n$1\r\ny\r\n,-0\r\n*2\r\n$1\r\nz\r\n,-0\r\n
zunionstore d 2 a b weights -0 -0	:4\r\n	=
zrange d 0 -1 withscores	*8\r\n$1\r\nw\r\n$1\r\n0\r\n$1\r\nx\r\n$1\r\n0\r\n$1\r\ny\r\n$1\r\n0\r\n$1\r\nz\r\n$1\r\n0\r\n	*4\r\n*2\r\n$1\r\nw\r\n,0\r\n*2\r\n$1\r\nx\r\n,0\r\n*2\r\n$1\r\ny\r\n,0\r\n*2\r\n$1\r\nz\r\n,0\r\n
----
zadd z 1 a 2 b 3 c 4 d	:4\r\n	=
zrangestore d z 0 1	:2\r\n	=
zrange d 0 -1 withscores	*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n	*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zrangestore d z 1 3 byscore rev	:0\r\n	=
zrangestore d z 3 1 byscore rev	:3\r\n	=
zrange d 0 -1 withscores	*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zrangestore d z [a [c bylex limit 1 5	:2\r\n	=
zrange d 0 -1 withscores	*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zrangestore d z 0 -1 withscores	-ERR syntax error\r\n	=
zrangestore d nokey 0 -1	:0\r\n	=
exists d	:0\r\n	=
zrangestore d z 5 10	:0\r\n	=
set s x	+OK\r\n	=
zrangestore d s 0 1	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zrangestore s z 0 1	:2\r\n	=
type s	+zset\r\n	=
----
zadd z 1 a 2 b 3 c	:3\r\n	=
zrandmember nokey	$-1\r\n	_\r\n
zrandmember nokey 5	*0\r\n	=
zrandmember z 0	*0\r\n	=
zrandmember z 5	*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n	=
zrandmember z 3 withscores	*6\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n	*3\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n
zrandmember z 5 withscores	*6\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n	*3\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n
zrandmember z 1 foo	-ERR syntax error\r\n	=
zrandmember z abc	-ERR value is not an integer or out of range\r\n	=
zrandmember z -9223372036854775808	-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n	=
zrandmember z 4611686018427387904 withscores	-ERR value is out of range\r\n	=
zrandmember z -4611686018427387904 withscores	-ERR value is out of range\r\n	=
zrandmember z 1 withscores foo	-ERR syntax error\r\n	=
set s x	+OK\r\n	=
zrandmember s	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zrandmember s 1	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
zadd one 5 only	:1\r\n	=
zrandmember one	$4\r\nonly\r\n	=
zrandmember one -3 withscores	*6\r\n$4\r\nonly\r\n$1\r\n5\r\n$4\r\nonly\r\n$1\r\n5\r\n$4\r\nonly\r\n$1\r\n5\r\n	*3\r\n*2\r\n$4\r\nonly\r\n,5\r\n*2\r\n$4\r\nonly\r\n,5\r\n*2\r\n$4\r\nonly\r\n,5\r\n
zrandmember one 1 withscores	*2\r\n$4\r\nonly\r\n$1\r\n5\r\n	*1\r\n*2\r\n$4\r\nonly\r\n,5\r\n
----
zadd z 1 a 2.5 b -0 c 1e17 d 0.1 e inf f	:6\r\n	=
zscan z 0	*2\r\n$1\r\n0\r\n*12\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\ne\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nd\r\n$18\r\n100000000000000000\r\n$1\r\nf\r\n$3\r\ninf\r\n	=
zscan z 0 match a*	*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n	=
zscan z 0 count 1	*2\r\n$1\r\n0\r\n*12\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\ne\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nd\r\n$18\r\n100000000000000000\r\n$1\r\nf\r\n$3\r\ninf\r\n	=
zscan z 0 count 0	-ERR syntax error\r\n	=
zscan z 0 count abc	-ERR value is not an integer or out of range\r\n	=
zscan z 0 foo	-ERR syntax error\r\n	=
zscan z abc	-ERR invalid cursor\r\n	=
zscan z -1	*2\r\n$1\r\n0\r\n*12\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\ne\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nd\r\n$18\r\n100000000000000000\r\n$1\r\nf\r\n$3\r\ninf\r\n	=
zscan z ""	*2\r\n$1\r\n0\r\n*12\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\ne\r\n$19\r\n0.10000000000000001\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nd\r\n$18\r\n100000000000000000\r\n$1\r\nf\r\n$3\r\ninf\r\n	=
zscan nokey 0	*2\r\n$1\r\n0\r\n*0\r\n	=
zscan nokey 0 foo	*2\r\n$1\r\n0\r\n*0\r\n	=
set s x	+OK\r\n	=
zscan s 0	-WRONGTYPE Operation against a key holding the wrong kind of value\r\n	=
----
zadd z 0.1 a 1e300 b -1.5e-10 c 123456789012345678 d 3.0000000000000004 e 1e-5 f 12345678901234567890 g	:7\r\n	=
zrange z 0 -1 withscores	*14\r\n$1\r\nc\r\n$8\r\n-1.5e-10\r\n$1\r\nf\r\n$22\r\n1.0000000000000001e-05\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n$1\r\ne\r\n$18\r\n3.0000000000000004\r\n$1\r\nd\r\n$22\r\n1.2345678901234568e+17\r\n$1\r\ng\r\n$22\r\n1.2345678901234567e+19\r\n$1\r\nb\r\n$23\r\n1.0000000000000001e+300\r\n	*7\r\n*2\r\n$1\r\nc\r\n,-1.5e-10\r\n*2\r\n$1\r\nf\r\n,1.0000000000000001e-05\r\n*2\r\n$1\r\na\r\n,0.10000000000000001\r\n*2\r\n$1\r\ne\r\n,3.0000000000000004\r\n*2\r\n$1\r\nd\r\n,1.2345678901234568e+17\r\n*2\r\n$1\r\ng\r\n,1.2345678901234567e+19\r\n*2\r\n$1\r\nb\r\n,1.0000000000000001e+300\r\n
zscore z a	$19\r\n0.10000000000000001\r\n	,0.10000000000000001\r\n
zincrby z 0.2 a	$19\r\n0.30000000000000004\r\n	,0.30000000000000004\r\n
zincrby z 1e300 b	$23\r\n2.0000000000000001e+300\r\n	,2.0000000000000001e+300\r\n
----
zadd big -48.911 m000 38 m001 9 m002 33 m003 -36 m004 -2 m005 46.237 m006 -63.585 m007 -30 m008 23.585 m009 -34 m010 -24 m011 -29 m012 19 m013 -27 m014 -40.242 m015 3 m016 -86.972 m017 17.228 m018 -38.008 m019 11 m020 11 m021 -43 m022 -28.471 m023 9.813 m024 -4 m025 7 m026 29 m027 51.147 m028 2.499 m029 -7.43 m030 -13 m031 -31.852 m032 -32 m033 37.193 m034 -28 m035 37.835 m036 -30 m037 6.706 m038 -52.533 m039 -8.867 m040 -32 m041 13 m042 -34 m043 79.299 m044 -66.236 m045 -88.246 m046 -13 m047 -9.292 m048 45.901 m049 -41.795 m050 -32 m051 87.429 m052 -82.173 m053 56.404 m054 57.205 m055 38 m056 -38.86 m057 -47.028 m058 -7 m059 9.398 m060 34.329 m061 63.336 m062 -45.225 m063 87.503 m064 -6 m065 -10.043 m066 -8 m067 67.324 m068 38.285 m069 23.356 m070 24.747 m071 42 m072 -30 m073 -22 m074 43.692 m075 -22 m076 -36 m077 11 m078 -6.934 m079 34 m080 43.603 m081 -29.896 m082 73.28 m083 9.987 m084 -40.944 m085 -41.362 m086 -16.18 m087 -71.578 m088 22 m089 21.722 m090 34 m091 -9 m092 25.891 m093 4 m094 -41.701 m095 -1 m096 18.79 m097 13 m098 89.035 m099 12 m100 -95.245 m101 -19 m102 -97.359 m103 -19 m104 -19 m105 97.765 m106 21.608 m107 16 m108 52.08 m109 6.7 m110 28 m111 9 m112 -99.433 m113 37 m114 -14.066 m115 15.128 m116 -1 m117 -13 m118 67.256 m119 -42.728 m120 -71.463 m121 9.819 m122 7.589 m123 24 m124 46.527 m125 -40 m126 -8 m127 1 m128 -35 m129 28 m130 78.969 m131 40 m132 22.122 m133 -30 m134 11.102 m135 45 m136 15.051 m137 -73.133 m138 -37.086 m139 -29.319 m140 -72.354 m141 13.73 m142 21 m143 -17 m144 66.522 m145 16 m146 -9.332 m147 -28 m148 33 m149 72.677 m150 -22.03 m151 11 m152 -94.108 m153 69.649 m154 37 m155 94.539 m156 -72.047 m157 67.163 m158 86.108 m159 -24.372 m160 -40.817 m161 -4 m162 44 m163 -38 m164 -60.88 m165 32.249 m166 -14.602 m167 84.343 m168 9 m169 -31 m170 73.813 m171 -31 m172 63.685 m173 -52.966 m174 -31.14 m175 -10 m176 36 m177 57.07 m178 -13 m179 43 m180 -25 m181 -84.359 m182 -27.149 m183 -6.393 m184 46.47 m185 -30 m186 36 m187 21.736 m188 -7.617 m189 49 m190 -93.346 m191 -38 m192 -81.611 m193 -44 m194 13 m195 -48.914 m196 7 m197 -46 m198 39.146 m199 -26 m200 -10 m201 19 m202 26 m203 -96.518 m204 -15.364 m205 16 m206 -38.478 m207 -22 m208 -3.355 m209 1 m210 18 m211 -83.135 m212 33.26 m213 -43 m214 40.72 m215 -3 m216 53.891 m217 46 m218 -14 m219 23 m220 38 m221 -90.561 m222 -78.693 m223 21 m224 -66.127 m225 35.179 m226 -46 m227 -47 m228 -12.809 m229 -96.675 m230 -27.518 m231 -5 m232 96.587 m233 17 m234 52.937 m235 -76.359 m236 82.998 m237 -13.169 m238 -44 m239 -5.338 m240 26 m241 3 m242 -50 m243 41.011 m244 0 m245 64.341 m246 21 m247 -4 m248 34 m249 -1.125 m250 -32 m251 12 m252 -20.602 m253 59.294 m254 11 m255 -25 m256 -37 m257 -1 m258 -37.585 m259 -4.779 m260 7 m261 -70.675 m262 -4 m263 36 m264 -14 m265 54.747 m266 -11 m267 -15 m268 -41 m269 92.369 m270 -6 m271 11 m272 -31.608 m273 93.813 m274 -2 m275 22.706 m276 -78.219 m277 -19 m278 -38.884 m279 29 m280 -41 m281 31.175 m282 -53.847 m283 17 m284 -12 m285 77.882 m286 -27 m287 -36 m288 5 m289 57.35 m290 -84.758 m291 -33 m292 -62.128 m293 32 m294 23.057 m295 -38 m296 -36 m297 -3 m298 51.613 m299	:300\r\n	=
zcard big	:300\r\n	=
zrange big 0 9 withscores	h:3aa8d785b157b897:365	h:c77f1782285016b4:365
zrange big -10 -1 withscores	h:0b776b748e7d6c17:329	h:4da3a436192608d4:331
zrange big 100 110 rev withscores	h:8e53cc6f70bd5bff:231	h:e1a5e1209a68b2fd:241
zrangebyscore big -10 10	h:ac78ffe21d39c140:525	=
zrangebyscore big -2 2 withscores	*18\r\n$4\r\nm005\r\n$2\r\n-2\r\n$4\r\nm275\r\n$2\r\n-2\r\n$4\r\nm250\r\n$6\r\n-1.125\r\n$4\r\nm096\r\n$2\r\n-1\r\n$4\r\nm117\r\n$2\r\n-1\r\n$4\r\nm258\r\n$2\r\n-1\r\n$4\r\nm245\r\n$1\r\n0\r\n$4\r\nm128\r\n$1\r\n1\r\n$4\r\nm210\r\n$1\r\n1\r\n	*9\r\n*2\r\n$4\r\nm005\r\n,-2\r\n*2\r\n$4\r\nm275\r\n,-2\r\n*2\r\n$4\r\nm250\r\n,-1.125\r\n*2\r\n$4\r\nm096\r\n,-1\r\n*2\r\n$4\r\nm117\r\n,-1\r\n*2\r\n$4\r\nm258\r\n,-1\r\n*2\r\n$4\r\nm245\r\n,0\r\n*2\r\n$4\r\nm128\r\n,1\r\n*2\r\n$4\r\nm210\r\n,1\r\n
zrangebyscore big (-10 (10 limit 5 7	*7\r\n$4\r\nm127\r\n$4\r\nm189\r\n$4\r\nm030\r\n$4\r\nm059\r\n$4\r\nm079\r\n$4\r\nm184\r\n$4\r\nm065\r\n	=
zrevrangebyscore big 50 -50 limit 10 5 withscores	*10\r\n$4\r\nm180\r\n$2\r\n43\r\n$4\r\nm072\r\n$2\r\n42\r\n$4\r\nm244\r\n$18\r\n41.011000000000003\r\n$4\r\nm215\r\n$18\r\n40.719999999999999\r\n$4\r\nm132\r\n$2\r\n40\r\n	*5\r\n*2\r\n$4\r\nm180\r\n,43\r\n*2\r\n$4\r\nm072\r\n,42\r\n*2\r\n$4\r\nm244\r\n,41.011000000000003\r\n*2\r\n$4\r\nm215\r\n,40.719999999999999\r\n*2\r\n$4\r\nm132\r\n,40\r\n
zcount big -20 20	:98\r\n	=
zcount big (0 +inf	:141\r\n	=
zrank big m150	:283\r\n	=
zrevrank big m150	:16\r\n	=
zscore big m007	$19\r\n-63.585000000000001\r\n	,-63.585000000000001\r\n
zremrangebyrank big 10 19	:10\r\n	=
zcard big	:290\r\n	=
zremrangebyscore big (0 5	:7\r\n	=
zcard big	:283\r\n	=
zrange big 0 -1	h:cf44cf99b93b2b87:2836	=
zrange big 140 160 withscores	h:b7c3c8d56140707c:482	h:1f74e174cc0f13d0:497
zpopmin big 3	*6\r\n$4\r\nm113\r\n$19\r\n-99.433000000000007\r\n$4\r\nm103\r\n$19\r\n-97.358999999999995\r\n$4\r\nm230\r\n$19\r\n-96.674999999999997\r\n	*3\r\n*2\r\n$4\r\nm113\r\n,-99.433000000000007\r\n*2\r\n$4\r\nm103\r\n,-97.358999999999995\r\n*2\r\n$4\r\nm230\r\n,-96.674999999999997\r\n
zpopmax big 3	*6\r\n$4\r\nm106\r\n$18\r\n97.765000000000001\r\n$4\r\nm233\r\n$18\r\n96.587000000000003\r\n$4\r\nm156\r\n$18\r\n94.539000000000001\r\n	*3\r\n*2\r\n$4\r\nm106\r\n,97.765000000000001\r\n*2\r\n$4\r\nm233\r\n,96.587000000000003\r\n*2\r\n$4\r\nm156\r\n,94.539000000000001\r\n
zmpop 1 big min count 4	*2\r\n$3\r\nbig\r\n*4\r\n*2\r\n$4\r\nm204\r\n$19\r\n-96.518000000000001\r\n*2\r\n$4\r\nm101\r\n$19\r\n-95.245000000000005\r\n*2\r\n$4\r\nm153\r\n$19\r\n-94.108000000000004\r\n*2\r\n$4\r\nm191\r\n$19\r\n-93.346000000000004\r\n	*2\r\n$3\r\nbig\r\n*4\r\n*2\r\n$4\r\nm204\r\n,-96.518000000000001\r\n*2\r\n$4\r\nm101\r\n,-95.245000000000005\r\n*2\r\n$4\r\nm153\r\n,-94.108000000000004\r\n*2\r\n$4\r\nm191\r\n,-93.346000000000004\r\n
zrandmember big 300	h:87380d7eea980f91:2736	=
zincrby big 1.5 m100	$4\r\n13.5\r\n	,13.5\r\n
zadd big gt ch 1000 m101 -1000 m102	:1\r\n	=
zrange big -3 -1 withscores	*6\r\n$4\r\nm270\r\n$6\r\n92.369\r\n$4\r\nm274\r\n$18\r\n93.813000000000002\r\n$4\r\nm101\r\n$4\r\n1000\r\n	*3\r\n*2\r\n$4\r\nm270\r\n,92.369\r\n*2\r\n$4\r\nm274\r\n,93.813000000000002\r\n*2\r\n$4\r\nm101\r\n,1000\r\n
zadd big2 0 m000 1 m002 2 m004 3 m006 4 m008 5 m010 6 m012 0 m014 1 m016 2 m018 3 m020 4 m022 5 m024 6 m026 0 m028 1 m030 2 m032 3 m034 4 m036 5 m038 6 m040 0 m042 1 m044 2 m046 3 m048 4 m050 5 m052 6 m054 0 m056 1 m058 2 m060 3 m062 4 m064 5 m066 6 m068 0 m070 1 m072 2 m074 3 m076 4 m078 5 m080 6 m082 0 m084 1 m086 2 m088 3 m090 4 m092 5 m094 6 m096 0 m098 1 m100 2 m102 3 m104 4 m106 5 m108 6 m110 0 m112 1 m114 2 m116 3 m118 4 m120 5 m122 6 m124 0 m126 1 m128 2 m130 3 m132 4 m134 5 m136 6 m138 0 m140 1 m142 2 m144 3 m146 4 m148 5 m150 6 m152 0 m154 1 m156 2 m158 3 m160 4 m162 5 m164 6 m166 0 m168 1 m170 2 m172 3 m174 4 m176 5 m178 6 m180 0 m182 1 m184 2 m186 3 m188 4 m190 5 m192 6 m194 0 m196 1 m198 2 m200 3 m202 4 m204 5 m206 6 m208 0 m210 1 m212 2 m214 3 m216 4 m218 5 m220 6 m222 0 m224 1 m226 2 m228 3 m230 4 m232 5 m234 6 m236 0 m238 1 m240 2 m242 3 m244 4 m246 5 m248 6 m250 0 m252 1 m254 2 m256 3 m258 4 m260 5 m262 6 m264 0 m266 1 m268 2 m270 3 m272 4 m274 5 m276 6 m278 0 m280 1 m282 2 m284 3 m286 4 m288 5 m290 6 m292 0 m294 1 m296 2 m298	:150\r\n	=
zunion 2 big big2	h:14976f5145af0467:2876	=
zinterstore i 2 big big2 weights 2 0.5 aggregate max	:137\r\n	=
zrange i 0 19 withscores	h:dee457d645206b6e:363	h:fd461091759efb08:383
zdiff 2 big big2	h:e8e94eae5943d298:1376	=
zdiffstore df 2 big big2	:137\r\n	=
zrange df -15 -1 withscores	h:ef4e2a39ede4e1b9:489	h:6899857a85a5ef62:492
zintercard 2 big big2	:137\r\n	=
zunionstore u 2 big big2 aggregate min	:287\r\n	=
zrange u 0 -1	h:ad632d2256c88247:2876	=
zrange u 200 230 withscores	h:bac6e8fa77a28e5b:550	h:7779cf4749d0d65a:580
zrangestore r big 10 20 byscore limit 2 5	:5\r\n	=
zrange r 0 -1 withscores	*10\r\n$4\r\nm078\r\n$2\r\n11\r\n$4\r\nm152\r\n$2\r\n11\r\n$4\r\nm255\r\n$2\r\n11\r\n$4\r\nm272\r\n$2\r\n11\r\n$4\r\nm135\r\n$6\r\n11.102\r\n	*5\r\n*2\r\n$4\r\nm078\r\n,11\r\n*2\r\n$4\r\nm152\r\n,11\r\n*2\r\n$4\r\nm255\r\n,11\r\n*2\r\n$4\r\nm272\r\n,11\r\n*2\r\n$4\r\nm135\r\n,11.102\r\n
----
zadd lex 0 a 0 aa 0 aaa 0 aaab 0 aada 0 aae 0 aaeb 0 aba 0 abad 0 abb 0 abba 0 abca 0 abcd 0 abd 0 abda 0 abdc 0 abe 0 abee 0 ac 0 aca 0 acb 0 acbd 0 acc 0 acd 0 acea 0 acec 0 ad 0 ada 0 adbc 0 adc 0 adcc 0 add 0 adda 0 adee 0 ae 0 aeb 0 aec 0 aece 0 aed 0 aeda 0 aedd 0 aee 0 b 0 ba 0 baa 0 baac 0 bace 0 bad 0 bae 0 baeb 0 baec 0 bb 0 bba 0 bbbb 0 bbd 0 bbdd 0 bbed 0 bc 0 bcab 0 bcb 0 bcbd 0 bcc 0 bcca 0 bccd 0 bcd 0 bcdc 0 bd 0 bda 0 bdbd 0 bdcb 0 bdcc 0 bdd 0 bdde 0 be 0 beb 0 bebc 0 bebe 0 bedb 0 bede 0 beeb 0 c 0 ca 0 caa 0 cabb 0 cac 0 caca 0 cad 0 cadb 0 cadc 0 cadd 0 caed 0 cb 0 cba 0 cbad 0 cbb 0 cbc 0 cbcd 0 cbce 0 cbe 0 cbea 0 cc 0 ccb 0 ccc 0 ccca 0 cccd 0 ccd 0 cce 0 cd 0 cdb 0 cdcb 0 cdd 0 ce 0 ceb 0 cec 0 ced 0 cedb 0 cede 0 ceea 0 ceed 0 d 0 da 0 daa 0 daac 0 daae 0 dab 0 dabe 0 dac 0 dacc 0 dad 0 dadc 0 dade 0 dae 0 db 0 dba 0 dbc 0 dbca 0 dbcd 0 dbd 0 dbda 0 dbed 0 dcc 0 dcd 0 dce 0 dcea 0 dd 0 ddaa 0 ddab 0 ddb 0 ddbb 0 ddcb 0 dddb 0 de 0 deaa 0 deab 0 deb 0 debb 0 dec 0 deda 0 dee 0 deeb 0 deec 0 deed 0 e 0 ea 0 eaa 0 eaab 0 eab 0 eaba 0 eaca 0 eacb 0 eacd 0 eadd 0 eb 0 eba 0 ebaa 0 ebdd 0 ebde 0 ec 0 eca 0 ecae 0 eced 0 ed 0 eda 0 edb 0 edbb 0 edc 0 edce 0 edd 0 ede 0 edee 0 ee 0 eea 0 eeaa 0 eeab 0 eebb 0 eebe 0 eecb 0 eed 0 eeda 0 eeec 0 eeee	:201\r\n	=
zcard lex	:201\r\n	=
zrangebylex lex [b [c	h:344d591c016221b6:368	=
zrangebylex lex (b (c limit 3 4	*4\r\n$4\r\nbace\r\n$3\r\nbad\r\n$3\r\nbae\r\n$4\r\nbaeb\r\n	=
zrevrangebylex lex [d (bb	h:e64102a5473134bf:639	=
zlexcount lex [a +	:201\r\n	=
zlexcount lex - (c	:80\r\n	=
zrangebylex lex - + limit 390 20	*0\r\n	=
zremrangebylex lex [a (ab	:7\r\n	=
zcard lex	:194\r\n	=
zrange lex [ca [cb bylex rev	*0\r\n	=
zrangestore lx lex [d + bylex	:82\r\n	=
zrange lx 0 -1	h:128f5c63b4839ee6:775	=
----
zadd lm 1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 2 b -0 c	:3\r\n	=
zrange lm 0 -1 withscores	*6\r\n$1\r\nc\r\n$2\r\n-0\r\n$70\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n	*3\r\n*2\r\n$1\r\nc\r\n,-0\r\n*2\r\n$70\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zscore lm c	$2\r\n-0\r\n	,-0\r\n
----
zadd z 1 a	:1\r\n	=
zincrby z 0.1 a	$18\r\n1.1000000000000001\r\n	,1.1000000000000001\r\n
zincrby z 0.2 a	$3\r\n1.3\r\n	,1.3\r\n
zincrby z -1.3 a	$1\r\n0\r\n	,0\r\n
zadd z incr 1e308 a	$6\r\n1e+308\r\n	,1e+308\r\n
zadd z incr 1e308 a	$3\r\ninf\r\n	,inf\r\n
zscore z a	$3\r\ninf\r\n	,inf\r\n
zadd z incr -inf a	-ERR resulting score is not a number (NaN)\r\n	=
zadd z incr inf a	$3\r\ninf\r\n	,inf\r\n
zadd z 5 a	:0\r\n	=
zadd z lt ch 4 a	:1\r\n	=
zadd z lt ch 6 a	:0\r\n	=
zadd z xx gt 7 a 8 nope	:0\r\n	=
zrange z 0 -1 withscores	*2\r\n$1\r\na\r\n$1\r\n7\r\n	*1\r\n*2\r\n$1\r\na\r\n,7\r\n
zadd z 1 a 1 b 1 c	:2\r\n	=
zrange z 0 -1	*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zadd z 0 d	:1\r\n	=
zrange z 0 -1 withscores	*8\r\n$1\r\nd\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n1\r\n	*4\r\n*2\r\n$1\r\nd\r\n,0\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$1\r\nc\r\n,1\r\n
----
sadd s1 a b c	:3\r\n	=
sadd s2 c d	:2\r\n	=
zunion 2 s1 s2 withscores	*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\nd\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n2\r\n	*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$1\r\nd\r\n,1\r\n*2\r\n$1\r\nc\r\n,2\r\n
zinter 2 s1 s2 withscores	*2\r\n$1\r\nc\r\n$1\r\n2\r\n	*1\r\n*2\r\n$1\r\nc\r\n,2\r\n
zdiff 2 s1 s2 withscores	*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n1\r\n	*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,1\r\n
zinterstore d 2 s1 s2	:1\r\n	=
zrange d 0 -1 withscores	*2\r\n$1\r\nc\r\n$1\r\n2\r\n	*1\r\n*2\r\n$1\r\nc\r\n,2\r\n
zunion 1 s1 weights 2.5 withscores	*6\r\n$1\r\na\r\n$3\r\n2.5\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$3\r\n2.5\r\n	*3\r\n*2\r\n$1\r\na\r\n,2.5\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,2.5\r\n
zunion 2 s1 nokey weights 1	-ERR syntax error\r\n	=
----
zadd z 1 a 2 b 3 c	:3\r\n	=
zrange z (1 3 byscore	*2\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrange z 1 (3 byscore	*2\r\n$1\r\na\r\n$1\r\nb\r\n	=
zrangebyscore z 1 3 limit 1 1 withscores	*2\r\n$1\r\nb\r\n$1\r\n2\r\n	*1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zrangebyscore z 1 3 withscores limit 1 1	*2\r\n$1\r\nb\r\n$1\r\n2\r\n	*1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zrangebyscore z 1 3 limit 1	-ERR syntax error\r\n	=
zrangebyscore z 1 3 limit a 1	-ERR value is not an integer or out of range\r\n	=
zrangebyscore z 1 3 limit 1 b	-ERR value is not an integer or out of range\r\n	=
zrange z 0 -1 limit 0 -1 withscores	*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zrange z 0 -1 rev rev	-ERR syntax error\r\n	=
zrange z 0 -1 byscore bylex	-ERR syntax error\r\n	=
zrange z - + bylex byscore	-ERR syntax error\r\n	=
zrangestore d z 0 -1 rev	:3\r\n	=
zrange d 0 -1 withscores	*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zrevrangebyscore z (3 -inf	*2\r\n$1\r\nb\r\n$1\r\na\r\n	=
zrevrangebyscore z 2 (2	*0\r\n	=
zrevrangebylex z [c -	*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n	=
zremrangebyrank z 1 0	:0\r\n	=
zremrangebyrank z -1 -2	:0\r\n	=
zmscore z	-ERR wrong number of arguments for 'zmscore' command\r\n	=
zrank z	-ERR wrong number of arguments for 'zrank' command\r\n	=
zlexcount z	-ERR wrong number of arguments for 'zlexcount' command\r\n	=
zcount z 1	-ERR wrong number of arguments for 'zcount' command\r\n	=
----
zadd z incr -0 negz	$2\r\n-0\r\n	,-0\r\n
zscore z negz	$1\r\n0\r\n	,0\r\n
zadd z -0 a	:1\r\n	=
zadd z ch 0 a	:0\r\n	=
zscore z a	$1\r\n0\r\n	,0\r\n
zincrby z -0 a	$1\r\n0\r\n	,0\r\n
zadd z 1e308 big	:1\r\n	=
zincrby z 1e308 big	$3\r\ninf\r\n	,inf\r\n
zincrby z -1e308 big	$3\r\ninf\r\n	,inf\r\n
zincrby z -inf big	-ERR resulting score is not a number (NaN)\r\n	=
zscore big big	$-1\r\n	_\r\n
zadd w incr 1 a	$1\r\n1\r\n	,1\r\n
zadd w incr -1 a	$1\r\n0\r\n	,0\r\n
zscore w a	$1\r\n0\r\n	,0\r\n
zadd w incr 2.5 a	$3\r\n2.5\r\n	,2.5\r\n
zrange w 0 -1 withscores	*2\r\n$1\r\na\r\n$3\r\n2.5\r\n	*1\r\n*2\r\n$1\r\na\r\n,2.5\r\n
----
zadd z 1 a 2 b 3 c	:3\r\n	=
zrangebylex z - + limit 0 -5	*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n	=
zrangebyscore z -inf +inf limit 0 -5 withscores	*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zrevrangebyscore z +inf -inf limit 2 -1	*1\r\n$1\r\na\r\n	=
zrevrangebyscore z +inf -inf limit 3 -1	*0\r\n	=
zrevrangebyscore z +inf -inf limit 0 1	*1\r\n$1\r\nc\r\n	=
zrange z 0 -1 byscore limit 0 1	*0\r\n	=
zrange z +inf -inf byscore rev limit 1 1 withscores	*2\r\n$1\r\nb\r\n$1\r\n2\r\n	*1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zrangestore d z +inf -inf byscore rev limit 1 1	:1\r\n	=
zrange d 0 -1 withscores	*2\r\n$1\r\nb\r\n$1\r\n2\r\n	*1\r\n*2\r\n$1\r\nb\r\n,2\r\n
zunion 2 z z aggregate sum aggregate min withscores	*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zunion 2 z z weights 1 2 weights 3 4 withscores	*6\r\n$1\r\na\r\n$1\r\n7\r\n$1\r\nb\r\n$2\r\n14\r\n$1\r\nc\r\n$2\r\n21\r\n	*3\r\n*2\r\n$1\r\na\r\n,7\r\n*2\r\n$1\r\nb\r\n,14\r\n*2\r\n$1\r\nc\r\n,21\r\n
zinter 1 z withscores withscores	*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n	*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n
zadd z nx xx ch 1 a	-ERR XX and NX options at the same time are not compatible\r\n	=
zadd z ch nx 5 x 6 a	:1\r\n	=
zadd z GT 10 a	:0\r\n	=
zadd z LT 0 a	:0\r\n	=
zadd z Xx Ch INCR 1 a	$1\r\n1\r\n	,1\r\n
zrange z 0 -1 withscores	*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nx\r\n$1\r\n5\r\n	*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nx\r\n,5\r\n
zpopmax z 100	*8\r\n$1\r\nx\r\n$1\r\n5\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n	*4\r\n*2\r\n$1\r\nx\r\n,5\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n
type z	+none\r\n	=
----
zadd z 1 a	:1\r\n	=
zrandmember z -5	*5\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n	=
zrandmember z -5 withscores	*10\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n	*5\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\na\r\n,1\r\n
zrandmember z 1	*1\r\n$1\r\na\r\n	=
zrandmember z	$1\r\na\r\n	=
zscan z 0 match *	*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n	=
zscan z 18446744073709551615	*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n	=
zscan z 18446744073709551616	-ERR invalid cursor\r\n	=
zscan z +3	*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n	=
zscan z " 3"	-ERR invalid cursor\r\n	=
zscan z 0 count 1 count 2 match b*	*2\r\n$1\r\n0\r\n*0\r\n	=
"##;
}

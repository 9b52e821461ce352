//! Bit operations on strings: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO, and LCS.
//!
//! Strings are last-write-wins registers (spec 1.4: bitfields resolve like
//! strings), so a bit operation reads the visible string, computes the new
//! bytes and writes the whole value: SETBIT and BITFIELD keep the key's TTL
//! (Redis modifies the string in place), BITOP replaces the destination
//! (Redis's `setKey`, which drops the TTL). A write happens only when the
//! bytes change or the key is created, as Redis counts `dirty`.

use commands::errors::{
    BITFIELD_INVALID_OVERFLOW, BITFIELD_INVALID_TYPE, BITFIELD_RO_ONLY_GET, BITOP_NOT_SINGLE_SOURCE, BIT_ARGUMENT, BIT_NOT_INTEGER,
    BIT_OFFSET_NOT_INTEGER, LCS_LEN_AND_IDX, LCS_NOT_STRINGS,
};
use crdt::{Kind, Op};
use resp::Frame;

use crate::args::{self, eq};
use crate::string::{key_ctx, read_str, write_str};
use crate::{bulk, err, error, int, notify, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    Some(match name {
        "setbit" => setbit(e, a),
        "getbit" => getbit(e, a),
        "bitcount" => bitcount(e, a),
        "bitpos" => bitpos(e, a),
        "bitop" => bitop(e, a),
        "bitfield" => bitfield(e, a, false),
        "bitfield_ro" => bitfield(e, a, true),
        "lcs" => lcs(e, a),
        _ => return None,
    })
}

/// Redis's `getBitOffsetFromArgument`: a non-negative integer below
/// `proto-max-bulk-len * 8`; with `bits` (BITFIELD), `#N` means `N * bits`.
fn bit_offset(e: &Engine, arg: &[u8], bits: Option<u32>) -> Result<u64, Frame> {
    let bad = || Frame::error(BIT_OFFSET_NOT_INTEGER);
    let hash = bits.is_some() && arg.first() == Some(&b'#');
    let digits = if hash { &arg[1..] } else { arg };
    let mut off = crdt::cell::parse_i64_strict(digits).ok_or_else(bad)?;
    if hash {
        off = off.wrapping_mul(bits.unwrap_or(1) as i64);
    }
    if off < 0 || (off >> 3) as u64 >= e.config.proto_max_bulk_len as u64 {
        return Err(bad());
    }
    Ok(off as u64)
}

/// Reads a string for a bit command: Ok(None) when absent.
fn read(e: &mut Engine, key: &[u8], access: Access) -> Result<Option<Vec<u8>>, Frame> {
    read_str(e, key, access)
}

fn get_bit(v: &[u8], off: u64) -> bool {
    let byte = (off >> 3) as usize;
    byte < v.len() && v[byte] & (1 << (7 - (off & 7))) != 0
}

fn set_bit(v: &mut [u8], off: u64, on: bool) {
    let byte = (off >> 3) as usize;
    let mask = 1u8 << (7 - (off & 7));
    if on {
        v[byte] |= mask;
    } else {
        v[byte] &= !mask;
    }
}

/// The string after growing it to hold bit `maxbit` (Redis's
/// `lookupStringForBitCommand`): (bytes, existed).
fn for_write(e: &mut Engine, key: &[u8], maxbit: u64) -> Result<(Vec<u8>, Option<Vec<u8>>), Frame> {
    let old = read(e, key, Access::Write)?;
    let mut v = old.clone().unwrap_or_default();
    let need = (maxbit >> 3) as usize + 1;
    if v.len() < need {
        v.resize(need, 0);
    }
    Ok((v, old))
}

/// Writes `new` if the key was created or its bytes changed.
fn store(e: &mut Engine, key: &[u8], new: Vec<u8>, old: Option<Vec<u8>>) {
    if old.as_deref() != Some(&new[..]) {
        write_str(e, key, new.into_boxed_slice(), true);
        e.notify(notify::STRING, "setbit", key);
    }
}

fn setbit(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let off = match bit_offset(e, &a[2], None) {
        Ok(o) => o,
        Err(f) => return f,
    };
    let on = match crdt::cell::parse_i64_strict(&a[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return error(BIT_NOT_INTEGER),
    };
    let (mut v, old) = match for_write(e, &a[1], off) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let was = get_bit(&v, off);
    set_bit(&mut v, off, on);
    store(e, &a[1], v, old);
    int(was as i64)
}

fn getbit(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let off = match bit_offset(e, &a[2], None) {
        Ok(o) => o,
        Err(f) => return f,
    };
    match read(e, &a[1], Access::Read) {
        Ok(Some(v)) => int(get_bit(&v, off) as i64),
        Ok(None) => int(0),
        Err(f) => f,
    }
}

/// Normalizes a `start end` range like Redis (negative from the end,
/// clamped). Returns None for an empty range.
fn range(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let mut s = if start < 0 { total.saturating_add(start) } else { start };
    let mut t = if end < 0 { total.saturating_add(end) } else { end };
    if s < 0 {
        s = 0;
    }
    if t < 0 {
        t = 0;
    }
    if t >= total {
        t = total - 1;
    }
    if s > t {
        None
    } else {
        Some((s, t))
    }
}

/// BYTE (false) or BIT (true).
fn unit(arg: &[u8]) -> Option<bool> {
    if eq(arg, "bit") {
        Some(true)
    } else if eq(arg, "byte") {
        Some(false)
    } else {
        None
    }
}

fn count_bits(v: &[u8], from: u64, to: u64) -> i64 {
    // Bits from..=to, counted bytewise with masks at the edges.
    let (fb, tb) = ((from >> 3) as usize, (to >> 3) as usize);
    let n: i64 = v[fb..=tb].iter().map(|b| b.count_ones() as i64).sum();
    let head_mask = !(0xffu8 >> (from & 7));
    let tail_mask = ((1u16 << (7 - (to & 7))) - 1) as u8;
    n - (v[fb] & head_mask).count_ones() as i64 - (v[tb] & tail_mask).count_ones() as i64
}

fn bitcount(e: &mut Engine, a: &[&[u8]]) -> Frame {
    // Redis 7.0 looks the key up before parsing the range.
    let v = match read(e, &a[1], Access::Read) {
        Ok(Some(v)) => v,
        Ok(None) => return int(0),
        Err(f) => return f,
    };
    let len = v.len() as i64;
    let (from, to) = match a.len() {
        2 => {
            if len == 0 {
                return int(0);
            }
            (0, len as u64 * 8 - 1)
        }
        4 | 5 => {
            let (start, end) = match (args::int(&a[2]), args::int(&a[3])) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(f), _) | (_, Err(f)) => return f,
            };
            let isbit = if a.len() == 5 {
                match unit(&a[4]) {
                    Some(b) => b,
                    None => return error(err::SYNTAX),
                }
            } else {
                false
            };
            if start < 0 && end < 0 && start > end {
                return int(0);
            }
            let total = if isbit { len * 8 } else { len };
            match range(start, end, total) {
                None => return int(0),
                Some((s, t)) if isbit => (s as u64, t as u64),
                Some((s, t)) => (s as u64 * 8, t as u64 * 8 + 7),
            }
        }
        _ => return error(err::SYNTAX),
    };
    int(count_bits(&v, from, to))
}

fn bitpos(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let bit = match args::int(&a[2]) {
        Ok(b @ (0 | 1)) => b == 1,
        Ok(_) => return error(BIT_ARGUMENT),
        Err(f) => return f,
    };
    let v = match read(e, &a[1], Access::Read) {
        Ok(Some(v)) => v,
        Ok(None) => return int(if bit { -1 } else { 0 }),
        Err(f) => return f,
    };
    let len = v.len() as i64;
    let mut end_given = false;
    let (from, to) = match a.len() {
        3 => {
            if len == 0 {
                return int(-1);
            }
            (0u64, len as u64 * 8 - 1)
        }
        4..=6 => {
            let start = match args::int(&a[3]) {
                Ok(s) => s,
                Err(f) => return f,
            };
            let isbit = if a.len() == 6 {
                match unit(&a[5]) {
                    Some(b) => b,
                    None => return error(err::SYNTAX),
                }
            } else {
                false
            };
            let end = if a.len() >= 5 {
                end_given = true;
                match args::int(&a[4]) {
                    Ok(t) => t,
                    Err(f) => return f,
                }
            } else {
                len - 1
            };
            let total = if isbit { len * 8 } else { len };
            match range(start, end, total) {
                None => return int(-1),
                Some((s, t)) if isbit => (s as u64, t as u64),
                Some((s, t)) => (s as u64 * 8, t as u64 * 8 + 7),
            }
        }
        _ => return error(err::SYNTAX),
    };
    let mut off = from;
    while off <= to {
        // Skip whole bytes that cannot match.
        if off & 7 == 0 && off + 7 <= to {
            let b = v[(off >> 3) as usize];
            if (bit && b == 0) || (!bit && b == 0xff) {
                off += 8;
                continue;
            }
        }
        if get_bit(&v, off) == bit {
            return int(off as i64);
        }
        off += 1;
    }
    // No match in range. Looking for a clear bit without an explicit end,
    // the string is seen as padded with zeros on the right.
    if !bit && !end_given {
        return int(to as i64 + 1);
    }
    int(-1)
}

fn bitop(e: &mut Engine, a: &[&[u8]]) -> Frame {
    #[derive(PartialEq)]
    enum Bop {
        And,
        Or,
        Xor,
        Not,
    }
    let op = if eq(&a[1], "and") {
        Bop::And
    } else if eq(&a[1], "or") {
        Bop::Or
    } else if eq(&a[1], "xor") {
        Bop::Xor
    } else if eq(&a[1], "not") {
        Bop::Not
    } else {
        return error(err::SYNTAX);
    };
    if op == Bop::Not && a.len() != 4 {
        return error(BITOP_NOT_SINGLE_SOURCE);
    }
    let mut srcs: Vec<Vec<u8>> = Vec::with_capacity(a.len() - 3);
    for k in &a[3..] {
        match read(e, k, Access::Read) {
            Ok(v) => srcs.push(v.unwrap_or_default()),
            Err(f) => return f,
        }
    }
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let dest = &a[2];
    if maxlen == 0 {
        if e.lookup(dest, Access::Write).is_some() {
            let ctx = key_ctx(e, dest);
            e.commit(Op::Del { key: dest[..].into(), ctx });
            e.notify(notify::GENERIC, "del", dest);
        }
        return int(0);
    }
    let byte = |s: &Vec<u8>, j: usize| s.get(j).copied().unwrap_or(0);
    let mut res = vec![0u8; maxlen];
    for (j, out) in res.iter_mut().enumerate() {
        let mut acc = byte(&srcs[0], j);
        if op == Bop::Not {
            acc = !acc;
        }
        for s in &srcs[1..] {
            let b = byte(s, j);
            match op {
                Bop::And => acc &= b,
                Bop::Or => acc |= b,
                Bop::Xor => acc ^= b,
                Bop::Not => {}
            }
        }
        *out = acc;
    }
    // Redis's setKey: a new value, TTL dropped, whatever type was there.
    e.lookup(dest, Access::Write);
    write_str(e, dest, res.into_boxed_slice(), false);
    e.notify(notify::STRING, "set", dest);
    int(maxlen as i64)
}

// ---- BITFIELD ----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    Incr,
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

fn field_type(arg: &[u8]) -> Result<(bool, u32), Frame> {
    let bad = || Frame::error(BITFIELD_INVALID_TYPE);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad()),
    };
    // Redis reads the rest as a C string: it stops at a NUL byte.
    let rest = &arg[1..];
    let rest = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
    let bits = crdt::cell::parse_i64_strict(rest).ok_or_else(bad)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for j in 0..bits as u64 {
        let off = offset + j;
        let byte = p.get((off >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | ((byte >> (7 - (off & 7))) & 1) as u64;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= (-1i64) << bits;
    }
    v
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - j)) & 1 != 0;
        set_bit(p, offset + j, bit);
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: (overflowed, wrapped/saturated value).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, Option<u64>) {
    let max: u64 = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || {
        let mask = if bits >= 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(max)),
            Overflow::Fail => (true, None),
        }
    } else if incr < 0 && incr < minincr {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(0)),
            Overflow::Fail => (true, None),
        }
    } else {
        (false, None)
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, Option<i64>) {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let msb = 1u64 << (bits - 1);
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(max)),
            Overflow::Fail => (true, None),
        }
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(min)),
            Overflow::Fail => (true, None),
        }
    } else {
        (false, None)
    }
}

fn bitfield(e: &mut Engine, a: &[&[u8]], ro: bool) -> Frame {
    let mut ops: Vec<Field> = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest: u64 = 0;
    let mut j = 2;
    while j < a.len() {
        let remargs = a.len() - j - 1;
        let sub = &a[j];
        let op = if eq(sub, "get") && remargs >= 2 {
            FieldOp::Get
        } else if eq(sub, "set") && remargs >= 3 {
            FieldOp::Set
        } else if eq(sub, "incrby") && remargs >= 3 {
            FieldOp::Incr
        } else if eq(sub, "overflow") && remargs >= 1 {
            let t = &a[j + 1];
            overflow = if eq(t, "wrap") {
                Overflow::Wrap
            } else if eq(t, "sat") {
                Overflow::Sat
            } else if eq(t, "fail") {
                Overflow::Fail
            } else {
                return error(BITFIELD_INVALID_OVERFLOW);
            };
            j += 2;
            continue;
        } else {
            return error(err::SYNTAX);
        };
        let (signed, bits) = match field_type(&a[j + 1]) {
            Ok(t) => t,
            Err(f) => return f,
        };
        let offset = match bit_offset(e, &a[j + 2], Some(bits)) {
            Ok(o) => o,
            Err(f) => return f,
        };
        let mut value = 0;
        if op != FieldOp::Get {
            readonly = false;
            highest = highest.max(offset + bits as u64 - 1);
            value = match args::int(&a[j + 3]) {
                Ok(v) => v,
                Err(f) => return f,
            };
        }
        ops.push(Field { op, signed, bits, offset, value, overflow });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    let key = &a[1];
    let (mut buf, old) = if readonly {
        match read(e, key, Access::Read) {
            Ok(v) => (v.clone().unwrap_or_default(), v),
            Err(f) => return f,
        }
    } else {
        if ro {
            return error(BITFIELD_RO_ONLY_GET);
        }
        match for_write(e, key, highest) {
            Ok(x) => x,
            Err(f) => return f,
        }
    };
    let mut replies = Vec::with_capacity(ops.len());
    for f in &ops {
        match f.op {
            FieldOp::Get => {
                if f.signed {
                    replies.push(int(get_signed(&buf, f.offset, f.bits)));
                } else {
                    replies.push(int(get_unsigned(&buf, f.offset, f.bits) as i64));
                }
            }
            FieldOp::Set | FieldOp::Incr => {
                if f.signed {
                    let oldval = get_signed(&buf, f.offset, f.bits);
                    let (ovf, newval, ret) = if f.op == FieldOp::Incr {
                        let (ovf, lim) = signed_overflow(oldval, f.value, f.bits, f.overflow);
                        let nv = lim.unwrap_or(oldval.wrapping_add(f.value));
                        (ovf, nv, nv)
                    } else {
                        let (ovf, lim) = signed_overflow(f.value, 0, f.bits, f.overflow);
                        (ovf, lim.unwrap_or(f.value), oldval)
                    };
                    if ovf && f.overflow == Overflow::Fail {
                        replies.push(Frame::Null);
                    } else {
                        replies.push(int(ret));
                        set_unsigned(&mut buf, f.offset, f.bits, newval as u64);
                    }
                } else {
                    let oldval = get_unsigned(&buf, f.offset, f.bits);
                    let (ovf, newval, ret) = if f.op == FieldOp::Incr {
                        let (ovf, lim) = unsigned_overflow(oldval, f.value, f.bits, f.overflow);
                        let nv = lim.unwrap_or(oldval.wrapping_add(f.value as u64));
                        (ovf, nv, nv)
                    } else {
                        let v = f.value as u64;
                        let (ovf, lim) = unsigned_overflow(v, 0, f.bits, f.overflow);
                        (ovf, lim.unwrap_or(v), oldval)
                    };
                    if ovf && f.overflow == Overflow::Fail {
                        replies.push(Frame::Null);
                    } else {
                        replies.push(int(ret as i64));
                        set_unsigned(&mut buf, f.offset, f.bits, newval);
                    }
                }
            }
        }
    }
    if !readonly {
        store(e, key, buf, old);
    }
    Frame::Array(replies)
}

// ---- LCS ---------------------------------------------------------------------

fn lcs(e: &mut Engine, a: &[&[u8]]) -> Frame {
    // Both keys are looked up before the options are parsed.
    let mut vals: Vec<Vec<u8>> = Vec::with_capacity(2);
    let mut wrong = false;
    for k in &a[1..3] {
        let kind = e.read(k).and_then(|en| en.value.as_ref().map(|v| v.kind()));
        match kind {
            None => vals.push(Vec::new()),
            // (read_str reads a HyperLogLog as a string on a standalone shard.)
            Some(Kind::String | Kind::Hll) => match read_str(e, k, Access::Write) {
                Ok(v) => vals.push(v.unwrap_or_default()),
                Err(_) => wrong = true,
            },
            Some(_) => wrong = true,
        }
    }
    if wrong {
        return error(LCS_NOT_STRINGS);
    }
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = &a[j];
        if eq(opt, "idx") {
            getidx = true;
        } else if eq(opt, "len") {
            getlen = true;
        } else if eq(opt, "withmatchlen") {
            withmatchlen = true;
        } else if eq(opt, "minmatchlen") && more > 0 {
            minmatchlen = match args::int(&a[j + 1]) {
                Ok(n) => n.max(0),
                Err(f) => return f,
            };
            j += 1;
        } else {
            return error(err::SYNTAX);
        }
        j += 1;
    }
    if getidx && getlen {
        return error(LCS_LEN_AND_IDX);
    }
    let (sa, sb) = (&vals[0], &vals[1]);
    if sa.len() as u64 >= u32::MAX as u64 - 1 || sb.len() as u64 >= u32::MAX as u64 - 1 {
        return error("ERR String too long for LCS");
    }
    let (alen, blen) = (sa.len(), sb.len());
    let cells = (alen as u128 + 1) * (blen as u128 + 1);
    if cells * 4 > e.config.proto_max_bulk_len as u128 {
        return error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for jj in 1..=blen {
            t[i * w + jj] = if sa[i - 1] == sb[jj - 1] { t[(i - 1) * w + jj - 1] + 1 } else { t[(i - 1) * w + jj].max(t[i * w + jj - 1]) };
        }
    }
    let total = t[alen * w + blen];
    let computelcs = getidx || !getlen;
    let mut result = vec![0u8; if computelcs { total as usize } else { 0 }];
    let mut idx = total as usize;
    let mut matches: Vec<Frame> = Vec::new();
    let (mut ars, mut are, mut brs, mut bre) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    while computelcs && i > 0 && jj > 0 {
        let mut emit = false;
        if sa[i - 1] == sb[jj - 1] {
            result[idx - 1] = sa[i - 1];
            if ars == alen {
                ars = i - 1;
                are = i - 1;
                brs = jj - 1;
                bre = jj - 1;
            } else if ars == i && brs == jj {
                ars -= 1;
                brs -= 1;
            } else {
                emit = true;
            }
            if ars == 0 || brs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            let l1 = t[(i - 1) * w + jj];
            let l2 = t[i * w + jj - 1];
            if l1 > l2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if ars != alen {
                emit = true;
            }
        }
        let match_len = are.wrapping_sub(ars).wrapping_add(1);
        if emit {
            if (minmatchlen == 0 || match_len as i64 >= minmatchlen) && getidx {
                let mut m =
                    vec![Frame::Array(vec![int(ars as i64), int(are as i64)]), Frame::Array(vec![int(brs as i64), int(bre as i64)])];
                if withmatchlen {
                    m.push(int(match_len as i64));
                }
                matches.push(Frame::Array(m));
            }
            ars = alen;
        }
    }
    if getidx {
        Frame::Map(vec![(bulk(b"matches"), Frame::Array(matches)), (bulk(b"len"), int(total as i64))])
    } else if getlen {
        int(total as i64)
    } else {
        Frame::Bulk(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crdt::InstanceId;

    fn run(e: &mut Engine, cmd: &[&str]) -> Frame {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        e.execute(&args, 1_000).expect("handled")
    }

    fn ints(v: &[i64]) -> Frame {
        Frame::Array(v.iter().map(|&i| Frame::Integer(i)).collect())
    }

    #[test]
    fn setbit_getbit_bitcount_bitpos() {
        let mut e = Engine::new(Config::default(), 1);
        assert_eq!(run(&mut e, &["setbit", "k", "7", "1"]), int(0));
        assert_eq!(run(&mut e, &["setbit", "k", "7", "1"]), int(1));
        assert_eq!(run(&mut e, &["get", "k"]), bulk(b"\x01"));
        assert_eq!(run(&mut e, &["getbit", "k", "7"]), int(1));
        assert_eq!(run(&mut e, &["getbit", "k", "100"]), int(0));
        assert_eq!(run(&mut e, &["setbit", "k", "-1", "1"]), error(BIT_OFFSET_NOT_INTEGER));
        assert_eq!(run(&mut e, &["setbit", "k", "1", "2"]), error(BIT_NOT_INTEGER));
        run(&mut e, &["set", "s", "foobar"]);
        assert_eq!(run(&mut e, &["bitcount", "s"]), int(26));
        assert_eq!(run(&mut e, &["bitcount", "s", "1", "1"]), int(6));
        assert_eq!(run(&mut e, &["bitcount", "s", "5", "30", "bit"]), int(17));
        assert_eq!(run(&mut e, &["bitcount", "s", "0"]), error(err::SYNTAX));
        run(&mut e, &["set", "p", "\u{0}\u{ff}\u{f0}"]);
        run(&mut e, &["set", "q", "\x00\x7f\x70"]);
        assert_eq!(run(&mut e, &["bitpos", "q", "1"]), int(9));
        assert_eq!(run(&mut e, &["bitpos", "q", "0", "1"]), int(8));
        assert_eq!(run(&mut e, &["bitpos", "q", "1", "2", "-1", "byte"]), int(17));
        assert_eq!(run(&mut e, &["bitpos", "q", "1", "7", "15", "bit"]), int(9));
        assert_eq!(run(&mut e, &["bitpos", "nokey", "0"]), int(0));
        assert_eq!(run(&mut e, &["bitpos", "nokey", "1"]), int(-1));
        assert_eq!(run(&mut e, &["bitpos", "q", "2"]), error(BIT_ARGUMENT));
    }

    #[test]
    fn bitop_and_bitfield() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, &["set", "a", "abc"]);
        run(&mut e, &["set", "b", "a"]);
        assert_eq!(run(&mut e, &["bitop", "and", "d", "a", "b"]), int(3));
        assert_eq!(run(&mut e, &["get", "d"]), bulk(b"a\x00\x00"));
        assert_eq!(run(&mut e, &["bitop", "not", "d", "a", "b"]), error(BITOP_NOT_SINGLE_SOURCE));
        assert_eq!(run(&mut e, &["bitop", "or", "d", "nokey"]), int(0));
        assert_eq!(run(&mut e, &["exists", "d"]), int(0));
        assert_eq!(
            run(&mut e, &["bitfield", "f", "set", "i8", "0", "-100", "get", "i8", "0", "incrby", "i8", "0", "-100"]),
            ints(&[0, -100, 56])
        );
        assert_eq!(
            run(&mut e, &["bitfield", "f", "overflow", "sat", "incrby", "u2", "#1", "10", "overflow", "fail", "incrby", "u2", "#1", "1"]),
            Frame::Array(vec![int(3), Frame::Null])
        );
        assert_eq!(run(&mut e, &["bitfield", "f", "get", "u64", "0"]), error(BITFIELD_INVALID_TYPE));
        assert_eq!(run(&mut e, &["bitfield_ro", "f", "set", "u8", "0", "1"]), error(BITFIELD_RO_ONLY_GET));
        assert_eq!(run(&mut e, &["bitfield_ro", "f", "get", "u8", "0"]), ints(&[56]));
    }

    #[test]
    fn lcs_replies() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, &["mset", "key1", "ohmytext", "key2", "mynewtext"]);
        assert_eq!(run(&mut e, &["lcs", "key1", "key2"]), bulk(b"mytext"));
        assert_eq!(run(&mut e, &["lcs", "key1", "key2", "len"]), int(6));
        let Frame::Map(m) = run(&mut e, &["lcs", "key1", "key2", "idx", "minmatchlen", "4", "withmatchlen"]) else { panic!() };
        assert_eq!(m[1], (bulk(b"len"), int(6)));
        assert_eq!(m[0].1, Frame::Array(vec![Frame::Array(vec![ints(&[4, 7]), ints(&[5, 8]), int(4)])]));
        assert_eq!(run(&mut e, &["lcs", "key1", "key2", "len", "idx"]), error(LCS_LEN_AND_IDX));
    }

    /// Bit writes are LWW string writes: concurrent SETBITs on two
    /// instances converge to one of them (the later), in either order.
    #[test]
    fn two_instances_converge_lww() {
        for order in [false, true] {
            let mk = |id: u16| {
                let mut e = Engine::new(Config { instance: InstanceId(id), active_active: true, ..Config::default() }, 1);
                e.db.set_members(&[InstanceId(1), InstanceId(2)]);
                e
            };
            let (mut a, mut b) = (mk(1), mk(2));
            run(&mut a, &["setbit", "k", "1", "1"]);
            let args: Vec<&[u8]> = ["setbit", "k", "9", "1"].iter().map(|s| s.as_bytes()).collect();
            b.execute(&args, 2_000);
            let (ea, eb): (Vec<_>, Vec<_>) = (a.effects.drain(..).collect(), b.effects.drain(..).collect());
            if order {
                ea.iter().for_each(|x| {
                    b.apply_remote(x);
                });
                eb.iter().for_each(|x| {
                    a.apply_remote(x);
                });
            } else {
                eb.iter().for_each(|x| {
                    a.apply_remote(x);
                });
                ea.iter().for_each(|x| {
                    b.apply_remote(x);
                });
            }
            assert_eq!(a.db.digest(), b.db.digest());
            assert_eq!(run(&mut a, &["get", "k"]), bulk(b"\x00\x40"));
            assert_eq!(run(&mut b, &["get", "k"]), bulk(b"\x00\x40"));
        }
    }
}

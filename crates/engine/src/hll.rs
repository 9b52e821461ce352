//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG.
//!
//! A key made by these commands holds a [`crdt::hll::Hll`] (DEL-wins CRDT,
//! see `crdt::hll`); TYPE says "string". Like Redis, the commands also
//! accept a string key holding a valid `HYLL` string (dense or sparse, e.g.
//! one copied with SET, or one a string command edited): PFCOUNT reads it
//! (honouring its cached cardinality, detecting corruption with Redis's
//! errors), and the first PFADD/PFMERGE that changes it turns it into a
//! CRDT HyperLogLog (keeping its TTL and header).
//!
//! What the string commands see depends on the database:
//! - **Active-Active** (Redis Enterprise's rule): only GET and SET work on a
//!   CRDT HyperLogLog; GET returns Redis's dense `HYLL` string (cache
//!   valid), so the value can be copied with GET/SET; the other string
//!   commands reply WRONGTYPE.
//! - **standalone** (Redis 7's behaviour): the value *is* Redis's string.
//!   Every string command reads the `HYLL` string a standalone Redis would
//!   hold ([`as_string`]: sparse until promoted past `hll-sparse-max-bytes`
//!   (its default, 3000) or a register above 32, dense after; the header's
//!   cached cardinality marked stale by PFADD/PFMERGE and refreshed by
//!   PFCOUNT, as Redis does). A string command that writes (APPEND,
//!   SETRANGE, SETBIT, ...) stores its result as a plain string. The shape
//!   (encoding, cache bytes) is local to the instance ([`crdt::hll::Shape`]).

use commands::errors::{HLL_INVALID, HLL_WRONGTYPE};
use crdt::hll::{self, HllError, Shape, CARD_INVALID, REGISTERS};
use crdt::{Op, Value, VersionVector};
use resp::Frame;

use crate::string::{cell_bytes, key_ctx, write_str, write_ttl};
use crate::{err, int, notify, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    Some(match name {
        "pfadd" => pfadd(e, a),
        "pfcount" => pfcount(e, a),
        "pfmerge" => pfmerge(e, a),
        "pfdebug" => pfdebug(e, a),
        "pfselftest" => pfselftest(e),
        _ => return None,
    })
}

/// What a key holds, as the HyperLogLog commands see it.
enum Cur {
    Missing,
    /// A CRDT HyperLogLog: its registers and shape.
    Native(Vec<u8>, Shape),
    /// A string holding an `HYLL` value: its bytes and its TTL.
    Str(Vec<u8>, Option<u64>),
}

impl Cur {
    /// Whether Redis would hold this value dense.
    fn dense(&self) -> bool {
        match self {
            Cur::Missing => false,
            Cur::Native(r, s) => hll::shows_dense(r, *s),
            Cur::Str(b, _) => hll::parse(b).is_ok_and(|p| p.dense),
        }
    }
}

fn hll_error(e: HllError) -> Frame {
    match e {
        HllError::NotHll => Frame::error(HLL_WRONGTYPE),
        HllError::Corrupt => Frame::error(HLL_INVALID),
    }
}

/// Looks a key up and checks it is a HyperLogLog (Redis's `isHLLObjectOrReply`).
fn current(e: &mut Engine, key: &[u8], access: Access) -> Result<Cur, Frame> {
    let read = matches!(access, Access::Read);
    let found = if read { e.read(key) } else { e.lookup(key, access) };
    let Some(en) = found else { return Ok(Cur::Missing) };
    match en.value.as_ref().expect("visible") {
        Value::Hll(h) => Ok(Cur::Native(h.registers(), h.shape())),
        Value::Str(cell) => {
            let at = en.expire_at();
            let bytes = cell_bytes(cell);
            hll::parse(&bytes).map_err(hll_error)?;
            Ok(Cur::Str(bytes, at))
        }
        _ => Err(Frame::error(err::WRONGTYPE)),
    }
}

/// The registers of a current value (for merging).
fn registers_of(cur: &Cur) -> Result<Option<Vec<u8>>, Frame> {
    match cur {
        Cur::Missing => Ok(None),
        Cur::Native(r, _) => Ok(Some(r.clone())),
        Cur::Str(b, _) => hll::parse(b).and_then(|p| p.registers()).map(Some).map_err(hll_error),
    }
}

fn nonzero(regs: &[u8]) -> Vec<(u16, u8)> {
    regs.iter().enumerate().filter(|(_, &v)| v != 0).map(|(i, &v)| (i as u16, v)).collect()
}

fn add_op(key: &[u8], regs: Vec<(u16, u8)>) -> Op {
    // Db::commit fills in the context.
    Op::HllAdd { key: key.into(), regs, ctx: VersionVector::new() }
}

/// Replaces a string holding an `HYLL` value by a CRDT HyperLogLog with
/// these registers, keeping the key's TTL and the string's header (as
/// the key's [`Shape`]: Redis updates such a string in place).
fn convert(e: &mut Engine, key: &[u8], regs: &[u8], old: &[u8], at: Option<u64>) {
    let base = hll::parse(old).map(|p| Shape { card: p.card, dense: p.dense }).unwrap_or_default();
    let ctx = key_ctx(e, key);
    e.commit(Op::Del { key: key.into(), ctx });
    e.commit(add_op(key, nonzero(regs)));
    if at.is_some() {
        write_ttl(e, key, at);
    }
    if let Some(h) = e.db.hll_mut(key) {
        *h.shape_mut() = base;
    }
}

/// After registers changed (PFADD, PFMERGE): Redis marks the cached
/// cardinality stale and promotes to dense as needed.
fn changed(e: &mut Engine, key: &[u8], regs: &[u8], to_dense: bool) {
    if let Some(h) = e.db.hll_mut(key) {
        let s = h.shape_mut();
        s.card |= CARD_INVALID;
        s.dense = s.dense || to_dense || hll::needs_dense(regs);
    }
}

fn pfadd(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let key = &a[1];
    let cur = match current(e, key, Access::Write) {
        Ok(c) => c,
        Err(f) => return f,
    };
    let mut regs = match &cur {
        Cur::Missing => vec![0u8; REGISTERS],
        Cur::Native(r, _) => r.clone(),
        Cur::Str(..) if a.len() == 2 => return int(0),
        Cur::Str(..) => match registers_of(&cur) {
            Ok(r) => r.expect("a string value"),
            Err(f) => return f,
        },
    };
    let mut raised: Vec<(u16, u8)> = Vec::new();
    for ele in &a[2..] {
        let (i, c) = hll::pat_len(ele);
        if c > regs[i as usize] {
            regs[i as usize] = c;
            match raised.iter_mut().find(|p| p.0 == i) {
                Some(p) => p.1 = c,
                None => raised.push((i, c)),
            }
        }
    }
    raised.sort_unstable();
    let updated = !raised.is_empty();
    let was_dense = cur.dense();
    match cur {
        Cur::Missing => {
            e.commit(add_op(key, raised));
            // (Redis counts the creation as a change: the cache is stale.)
            changed(e, key, &regs, false);
            e.notify(notify::STRING, "pfadd", key);
            return int(1);
        }
        Cur::Native(..) if updated => e.commit(add_op(key, raised)),
        Cur::Str(old, at) if updated => convert(e, key, &regs, &old, at),
        _ => {}
    }
    if updated {
        changed(e, key, &regs, was_dense);
        e.notify(notify::STRING, "pfadd", key);
    }
    int(updated as i64)
}

fn pfcount(e: &mut Engine, a: &[&[u8]]) -> Frame {
    if a.len() == 2 {
        return match current(e, &a[1], Access::Read) {
            Err(f) => f,
            Ok(Cur::Missing) => int(0),
            Ok(Cur::Native(r, _)) => {
                // Redis caches the cardinality in the string's header.
                let n = hll::count(&r);
                if let Some(h) = e.db.hll_mut(&a[1]) {
                    h.shape_mut().card = n;
                }
                int(n as i64)
            }
            Ok(Cur::Str(b, _)) => match hll::parse(&b).and_then(|p| p.count()) {
                Ok(n) => int(n as i64),
                Err(x) => hll_error(x),
            },
        };
    }
    let mut max = vec![0u8; REGISTERS];
    for key in &a[1..] {
        let cur = match current(e, key, Access::Read) {
            Ok(c) => c,
            Err(f) => return f,
        };
        match registers_of(&cur) {
            Ok(Some(r)) => {
                for (m, v) in max.iter_mut().zip(r) {
                    *m = (*m).max(v);
                }
            }
            Ok(None) => {}
            Err(f) => return f,
        }
    }
    int(hll::count(&max) as i64)
}

fn pfmerge(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let mut max = vec![0u8; REGISTERS];
    // Redis makes the destination dense if any input (itself included) is.
    let mut use_dense = false;
    for key in &a[1..] {
        let cur = match current(e, key, Access::Read) {
            Ok(c) => c,
            Err(f) => return f,
        };
        use_dense |= cur.dense();
        match registers_of(&cur) {
            Ok(Some(r)) => {
                for (m, v) in max.iter_mut().zip(r) {
                    *m = (*m).max(v);
                }
            }
            Ok(None) => {}
            Err(f) => return f,
        }
    }
    let dest = &a[1];
    let cur = match current(e, dest, Access::Write) {
        Ok(c) => c,
        Err(f) => return f,
    };
    match cur {
        Cur::Missing => e.commit(add_op(dest, nonzero(&max))),
        Cur::Native(r, _) => {
            let raised: Vec<(u16, u8)> =
                max.iter().zip(&r).enumerate().filter(|(_, (m, o))| m > o).map(|(i, (&m, _))| (i as u16, m)).collect();
            if !raised.is_empty() {
                e.commit(add_op(dest, raised));
            }
        }
        Cur::Str(old, at) => convert(e, dest, &max, &old, at),
    }
    changed(e, dest, &max, use_dense);
    // As Redis: PFMERGE reports a "pfadd" (a mass add of elements).
    e.notify(notify::STRING, "pfadd", dest);
    Frame::ok()
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key: Redis's debugging view of
/// the string encoding (as a standalone Redis would hold the value).
/// PFSELFTEST: checks this implementation the way Redis's checks its own.
/// 1. Random registers (as high as each encoding holds) read back the same
///    from the dense and the sparse `HYLL` strings built from them.
/// 2. Adding the integers 1..=1,000,000 (as 8 little-endian bytes, as
///    Redis's test does), the estimate at every power of ten stays within
///    6 standard errors (1.04 / sqrt(registers)) of the true count.
/// Replies OK, or an error naming the first check that failed.
fn pfselftest(e: &mut Engine) -> Frame {
    use rand::Rng;
    let mut regs = vec![0u8; REGISTERS];
    for round in 0..32 {
        let sparse_round = round % 2 == 1;
        let (max, density) = if sparse_round { (32, 0.05) } else { (63, 0.9) };
        for r in regs.iter_mut() {
            *r = if e.rng.gen_bool(density) { e.rng.gen_range(1..=max) } else { 0 };
        }
        let shape = Shape { card: 0, dense: !sparse_round };
        let encoded = if sparse_round { hll::encode_shaped(&regs, shape) } else { hll::encode_dense(&regs) };
        let back = hll::parse(&encoded).and_then(|p| {
            if p.dense == sparse_round {
                return Err(HllError::Corrupt);
            }
            p.registers()
        });
        if back.as_deref() != Ok(&regs[..]) {
            let which = if sparse_round { "sparse" } else { "dense" };
            return Frame::error(format!("ERR TESTFAILED {which} registers do not read back (round {round})"));
        }
    }
    regs.fill(0);
    let rel_err = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    for j in 1..=1_000_000u64 {
        let (i, len) = hll::pat_len(&j.to_le_bytes());
        let r = &mut regs[usize::from(i)];
        *r = (*r).max(len);
        if j == checkpoint {
            let est = hll::count(&regs);
            let max_err = ((rel_err * 6.0 * j as f64).ceil() as u64).max(1);
            if est.abs_diff(j) > max_err {
                return Frame::error(format!("ERR TESTFAILED Too big error. card:{j} abserr:{}", est.abs_diff(j)));
            }
            checkpoint *= 10;
        }
    }
    Frame::ok()
}

fn pfdebug(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let key = &a[2];
    let cur = match current(e, key, Access::Write) {
        Ok(Cur::Missing) => return Frame::error("ERR The specified key does not exist"),
        Ok(c) => c,
        Err(f) => return f,
    };
    let bytes = match &cur {
        // (What GET shows: in Active-Active always dense.)
        Cur::Native(r, _) if e.config.active_active => hll::encode_dense(r),
        Cur::Native(r, s) => hll::encode_shaped(r, *s),
        Cur::Str(b, _) => b.clone(),
        Cur::Missing => unreachable!(),
    };
    let Ok(parsed) = hll::parse(&bytes) else { return Frame::error(HLL_WRONGTYPE) };
    let sparse = !parsed.dense;
    // GETREG and TODENSE convert a sparse value to dense first.
    let to_dense = |e: &mut Engine, regs: &[u8]| match &cur {
        Cur::Native(..) => {
            if let Some(h) = e.db.hll_mut(key) {
                h.shape_mut().dense = true;
            }
        }
        Cur::Str(..) => {
            let mut d = hll::encode_dense(regs);
            d[8..16].copy_from_slice(&parsed.card.to_le_bytes());
            write_str(e, key, d.into_boxed_slice(), true);
        }
        Cur::Missing => {}
    };
    match sub.as_str() {
        "getreg" => {
            let regs = match parsed.registers() {
                Ok(r) => r,
                Err(x) => return hll_error(x),
            };
            if sparse {
                to_dense(e, &regs);
            }
            Frame::Array(regs.iter().map(|&r| Frame::Integer(r as i64)).collect())
        }
        "todense" => {
            if !sparse {
                return int(0);
            }
            let regs = match parsed.registers() {
                Ok(r) => r,
                Err(x) => return hll_error(x),
            };
            to_dense(e, &regs);
            int(1)
        }
        "encoding" => Frame::simple(if sparse { "sparse" } else { "dense" }),
        "decode" => {
            if !sparse {
                return Frame::error("ERR HLL encoding is not sparse");
            }
            Frame::Bulk(hll::decode_sparse(&bytes[hll::HDR_SIZE..]).into_bytes().into())
        }
        _ => Frame::error(format!("ERR Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(&a[1]))),
    }
}

/// GET on a CRDT HyperLogLog: Redis's `HYLL` string, so that the value can
/// be copied with SET (PFCOUNT then reads the copy). `None` if the key does
/// not hold one. In Active-Active it is always dense with a valid cached
/// cardinality; a standalone shard shows it as Redis holds it ([`as_string`]).
pub(crate) fn get_encoded(e: &mut Engine, key: &[u8]) -> Option<Frame> {
    if !e.config.active_active {
        return as_string(e, key).map(|b| Frame::Bulk(b.into()));
    }
    let en = e.db.get(key)?;
    match en.value.as_ref()? {
        Value::Hll(h) => Some(Frame::Bulk(hll::encode_dense(&h.registers()).into())),
        _ => None,
    }
}

/// A standalone shard's string view of a CRDT HyperLogLog: Redis's `HYLL`
/// string as a standalone Redis would hold it (sparse or dense, cached
/// cardinality as Redis leaves it), which every string command reads there;
/// a string command that writes stores its result as a plain string, as
/// Redis does. `None` in Active-Active (only GET and SET work on a
/// HyperLogLog there) or if the key does not hold one.
pub(crate) fn as_string(e: &mut Engine, key: &[u8]) -> Option<Vec<u8>> {
    if e.config.active_active {
        return None;
    }
    match e.db.get(key)?.value.as_ref()? {
        Value::Hll(h) => Some(h.encode_shaped()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use bytes::Bytes;
    use crdt::InstanceId;

    fn run(e: &mut Engine, cmd: &[&str]) -> Frame {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        e.execute(&args, 1_000).expect("handled")
    }

    fn aa(id: u16) -> Engine {
        let mut e = Engine::new(Config { instance: InstanceId(id), active_active: true, ..Config::default() }, id as u64);
        e.db.set_members(&[InstanceId(1), InstanceId(2)]);
        e
    }

    #[test]
    fn pfselftest_passes_and_leaves_the_keyspace_alone() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, &["set", "k", "v"]);
        assert_eq!(run(&mut e, &["pfselftest"]), Frame::ok());
        assert_eq!(e.dbsize(), 1);
        assert!(e.effects.iter().all(|x| x.op.key() == Some(&b"k"[..])), "the self test writes nothing");
    }

    #[test]
    fn pfadd_pfcount_basics() {
        let mut e = Engine::new(Config::default(), 1);
        assert_eq!(run(&mut e, &["pfadd", "h"]), Frame::Integer(1));
        assert_eq!(run(&mut e, &["pfadd", "h"]), Frame::Integer(0));
        assert_eq!(run(&mut e, &["pfcount", "h"]), Frame::Integer(0));
        assert_eq!(run(&mut e, &["pfadd", "h", "a", "b", "c"]), Frame::Integer(1));
        assert_eq!(run(&mut e, &["pfadd", "h", "a"]), Frame::Integer(0));
        assert_eq!(run(&mut e, &["pfcount", "h"]), Frame::Integer(3));
        assert_eq!(run(&mut e, &["type", "h"]), Frame::simple("string"));
        assert_eq!(run(&mut e, &["pfadd", "g", "c", "d"]), Frame::Integer(1));
        assert_eq!(run(&mut e, &["pfcount", "h", "g", "nokey"]), Frame::Integer(4));
        assert_eq!(run(&mut e, &["pfmerge", "m", "h", "g"]), Frame::ok());
        assert_eq!(run(&mut e, &["pfcount", "m"]), Frame::Integer(4));
        run(&mut e, &["sadd", "s", "x"]);
        assert_eq!(run(&mut e, &["pfadd", "s", "x"]), Frame::error(err::WRONGTYPE));
        run(&mut e, &["set", "str", "hello"]);
        assert_eq!(run(&mut e, &["pfcount", "str"]), Frame::error(HLL_WRONGTYPE));
        assert_eq!(run(&mut e, &["pfmerge", "m", "str"]), Frame::error(HLL_WRONGTYPE));
    }

    fn bulk_of(f: Frame) -> Vec<u8> {
        match f {
            Frame::Bulk(b) => b.to_vec(),
            f => panic!("not a bulk: {f:?}"),
        }
    }

    /// Active-Active: only GET and SET among the string commands work on a
    /// HyperLogLog (Redis Enterprise); GET shows it dense with a valid cache.
    #[test]
    fn active_active_allows_only_get_and_set() {
        let mut e = aa(1);
        run(&mut e, &["pfadd", "h", "a", "b", "c"]);
        for cmd in [
            &["append", "h", "x"][..],
            &["setrange", "h", "0", "x"],
            &["getrange", "h", "0", "3"],
            &["strlen", "h"],
            &["incr", "h"],
            &["incrbyfloat", "h", "1"],
            &["setbit", "h", "0", "1"],
            &["getbit", "h", "0"],
            &["bitcount", "h"],
            &["getdel", "h"],
            &["getex", "h"],
            &["getset", "h", "x"],
        ] {
            assert_eq!(run(&mut e, cmd), Frame::error(err::WRONGTYPE), "{cmd:?}");
        }
        assert_eq!(run(&mut e, &["pfdebug", "encoding", "h"]), Frame::simple("dense"));
        let v = bulk_of(run(&mut e, &["get", "h"]));
        assert_eq!(v.len(), hll::DENSE_SIZE);
        assert_eq!(v[15] & 0x80, 0);
        assert!(matches!(e.db.get(b"h").unwrap().value, Some(Value::Hll(_))));
        assert_eq!(run(&mut e, &["set", "h", "x"]), Frame::ok());
        assert_eq!(run(&mut e, &["get", "h"]), Frame::Bulk(Bytes::from_static(b"x")));
    }

    /// Standalone: a HyperLogLog is Redis's string, sparse while small,
    /// with the cached cardinality in header byte 15's top bit.
    #[test]
    fn standalone_hll_is_a_string() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, &["pfadd", "h"]);
        let v = bulk_of(run(&mut e, &["get", "h"]));
        // A new HyperLogLog: sparse, one XZERO of 16384 registers, cache
        // marked stale (Redis's PFADD counts the creation as a change).
        assert_eq!(v, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff".to_vec());
        run(&mut e, &["pfadd", "h", "a", "b", "c"]);
        assert_eq!(run(&mut e, &["getrange", "h", "15", "15"]), Frame::Bulk(Bytes::from_static(b"\x80")));
        assert_eq!(run(&mut e, &["pfdebug", "encoding", "h"]), Frame::simple("sparse"));
        assert_eq!(run(&mut e, &["pfcount", "h"]), Frame::Integer(3));
        let v = bulk_of(run(&mut e, &["get", "h"]));
        assert_eq!((v[8], v[15]), (3, 0));
        assert_eq!(run(&mut e, &["strlen", "h"]), Frame::Integer(v.len() as i64));
        assert_eq!(run(&mut e, &["incr", "h"]), Frame::error(err::NOT_INT));
        // The stale cache keeps its old value, as in Redis.
        run(&mut e, &["pfadd", "h", "d"]);
        let v = bulk_of(run(&mut e, &["get", "h"]));
        assert_eq!((v[8], v[15]), (3, 0x80));
        // A write stores the result as a plain string.
        run(&mut e, &["append", "h", "hello"]);
        assert!(matches!(e.db.get(b"h").unwrap().value, Some(Value::Str(_))));
        assert_eq!(run(&mut e, &["pfcount", "h"]), Frame::error(HLL_INVALID));
        assert_eq!(run(&mut e, &["pfadd", "h", "x"]), Frame::error(HLL_INVALID));
        assert_eq!(run(&mut e, &["pfdebug", "getreg", "h"]), Frame::error(HLL_INVALID));
        run(&mut e, &["setrange", "h", "0", "0123"]);
        assert_eq!(run(&mut e, &["pfcount", "h"]), Frame::error(HLL_WRONGTYPE));
        // Dense past hll-sparse-max-bytes, and a dense string edited in place still counts.
        let elems: Vec<String> = (0..3000).map(|i| format!("e{i}")).collect();
        let mut cmd = vec!["pfadd", "d"];
        cmd.extend(elems.iter().map(|s| s.as_str()));
        run(&mut e, &cmd);
        assert_eq!(run(&mut e, &["pfdebug", "encoding", "d"]), Frame::simple("dense"));
        assert_eq!(run(&mut e, &["strlen", "d"]), Frame::Integer(hll::DENSE_SIZE as i64));
        let n = run(&mut e, &["pfcount", "d"]);
        run(&mut e, &["setrange", "d", "0", "HYLL"]);
        assert_eq!(run(&mut e, &["pfcount", "d"]), n);
        assert_eq!(run(&mut e, &["pfadd", "d", "one-more-element"]), Frame::Integer(1));
        assert!(matches!(e.db.get(b"d").unwrap().value, Some(Value::Hll(_))));
        assert_eq!(run(&mut e, &["setrange", "d", "4", "\x00"]), Frame::Integer(hll::DENSE_SIZE as i64));
        run(&mut e, &["pfadd", "s", "a"]);
        run(&mut e, &["setrange", "s", "4", "\x00"]);
        assert_eq!(run(&mut e, &["pfcount", "s"]), Frame::error(HLL_WRONGTYPE));
    }

    /// Sparse opcodes that run past the last register are detected, however
    /// long the string (Redis's CVE-2025-32023 tests).
    #[test]
    fn sparse_overrun_is_corrupt() {
        let mut e = Engine::new(Config::default(), 1);
        let mut s = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        for _ in 0..(131072 + 1000) {
            s.extend_from_slice(&[0x40 | 0x3f, 0xff]);
        }
        s.push(0xff);
        let args: Vec<&[u8]> = vec![b"set", b"h", &s];
        e.execute(&args, 1_000);
        assert_eq!(run(&mut e, &["pfcount", "h", "h"]), Frame::error(HLL_INVALID));
        // (One key with a valid cached cardinality: Redis answers the cache.)
        assert_eq!(run(&mut e, &["pfcount", "h"]), Frame::Integer(0));
        assert_eq!(run(&mut e, &["pfdebug", "getreg", "h"]), Frame::error(HLL_INVALID));
        assert_eq!(run(&mut e, &["pfmerge", "x", "h"]), Frame::error(HLL_INVALID));
    }

    #[test]
    fn get_then_set_copies_an_hll() {
        let mut e = Engine::new(Config::default(), 1);
        let elems: Vec<String> = (0..500).map(|i| format!("e{i}")).collect();
        let mut cmd = vec!["pfadd", "h"];
        cmd.extend(elems.iter().map(|s| s.as_str()));
        run(&mut e, &cmd);
        let n = run(&mut e, &["pfcount", "h"]);
        let Frame::Bulk(v) = run(&mut e, &["get", "h"]) else { panic!() };
        // (Sparse, as Redis holds 500 elements; Active-Active shows it dense.)
        assert!(!hll::parse(&v).unwrap().dense);
        let args: Vec<&[u8]> = vec![b"set", b"c", &v];
        e.execute(&args, 1_000);
        assert_eq!(run(&mut e, &["pfcount", "c"]), n);
        assert_eq!(run(&mut e, &["pfcount", "c", "h"]), n);
        // PFADD turns the copy into a CRDT HyperLogLog.
        assert_eq!(run(&mut e, &["pfadd", "c", "e1"]), Frame::Integer(0));
        assert_eq!(run(&mut e, &["pfadd", "c", "new-one", "and-another"]), Frame::Integer(1));
        assert!(matches!(e.db.get(b"c").unwrap().value, Some(Value::Hll(_))));
    }

    /// Concurrent PFADDs union; a DEL concurrent with a PFADD deletes the
    /// key everywhere (unlike a set).
    #[test]
    fn two_instances_converge_del_wins() {
        for order in [false, true] {
            let mut a = aa(1);
            let mut b = aa(2);
            run(&mut a, &["pfadd", "h", "x"]);
            run(&mut b, &["pfadd", "h", "y"]);
            let ea: Vec<_> = a.effects.drain(..).collect();
            let eb: Vec<_> = b.effects.drain(..).collect();
            for x in &eb {
                a.apply_remote(x);
            }
            for x in &ea {
                b.apply_remote(x);
            }
            assert_eq!(run(&mut a, &["pfcount", "h"]), Frame::Integer(2));
            assert_eq!(run(&mut b, &["pfcount", "h"]), Frame::Integer(2));
            assert_eq!(a.db.digest(), b.db.digest());
            // t4: PFADD on 1, DEL on 2, concurrently.
            run(&mut a, &["pfadd", "h", "e2"]);
            run(&mut b, &["del", "h"]);
            let ea: Vec<_> = a.effects.drain(..).collect();
            let eb: Vec<_> = b.effects.drain(..).collect();
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
            assert_eq!(run(&mut a, &["pfcount", "h"]), Frame::Integer(0));
            assert_eq!(run(&mut b, &["exists", "h"]), Frame::Integer(0));
            assert_eq!(run(&mut a, &["exists", "h"]), Frame::Integer(0));
            assert_eq!(a.db.digest(), b.db.digest());
            // A PFADD after the DEL was seen survives.
            run(&mut a, &["pfadd", "h", "z"]);
            a.effects.drain(..).for_each(|x| {
                b.apply_remote(&x);
            });
            assert_eq!(run(&mut b, &["pfcount", "h"]), Frame::Integer(1));
            assert_eq!(a.db.digest(), b.db.digest());
        }
    }

    #[test]
    fn pfmerge_replies_and_rename() {
        let mut e = Engine::new(Config::default(), 1);
        assert_eq!(run(&mut e, &["pfmerge", "d"]), Frame::ok());
        assert_eq!(run(&mut e, &["exists", "d"]), Frame::Integer(1));
        run(&mut e, &["pfadd", "s1", "a", "b"]);
        run(&mut e, &["pfadd", "s2", "c"]);
        assert_eq!(run(&mut e, &["pfmerge", "d", "s1", "s2"]), Frame::ok());
        assert_eq!(run(&mut e, &["pfcount", "d"]), Frame::Integer(3));
        assert_eq!(run(&mut e, &["rename", "d", "r"]), Frame::ok());
        assert_eq!(run(&mut e, &["pfcount", "r"]), Frame::Integer(3));
    }
}

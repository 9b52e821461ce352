//! Key-space commands: DEL, EXISTS, TYPE, RENAME, COPY, KEYS, SCAN, TTLs, OBJECT, DBSIZE, FLUSH*.

use crdt::{Blob, Kind, Op, Value};
use resp::Frame;

use crate::args::{self, eq};
use crate::string::{cell_bytes, key_ctx, write_ttl};
use crate::{bulk, err, error, int, notify, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    Some(match name {
        "del" | "unlink" => {
            let mut n = 0;
            for k in &a[1..] {
                if e.lookup(k, Access::Write).is_some() {
                    let ctx = key_ctx(e, k);
                    e.commit(Op::Del { key: k[..].into(), ctx });
                    e.notify(notify::GENERIC, "del", k);
                    n += 1;
                }
            }
            int(n)
        }
        "exists" => int(a[1..].iter().filter(|k| e.read_with(k, Access::Peek).is_some()).count() as i64),
        "touch" => int(a[1..].iter().filter(|k| e.lookup(k, Access::Read).is_some()).count() as i64),
        "type" => match e.lookup(&a[1], Access::Peek) {
            Some(en) => Frame::simple(type_name(en.value.as_ref().expect("visible"))),
            None => Frame::simple("none"),
        },
        "rename" => rename(e, a, false),
        "renamenx" => rename(e, a, true),
        "copy" => copy(e, a),
        "keys" => keys(e, &a[1]),
        "scan" => scan(e, a),
        "randomkey" => randomkey(e),
        "expire" => expire(e, a, 1000, false, "expire"),
        "pexpire" => expire(e, a, 1, false, "pexpire"),
        "expireat" => expire(e, a, 1000, true, "expireat"),
        "pexpireat" => expire(e, a, 1, true, "pexpireat"),
        "ttl" => ttl(e, &a[1], |ms| (ms + 500) / 1000),
        "pttl" => ttl(e, &a[1], |ms| ms),
        "expiretime" => expiretime(e, &a[1], 1000),
        "pexpiretime" => expiretime(e, &a[1], 1),
        "persist" => match e.lookup(&a[1], Access::Write) {
            Some(en) if en.expire_at().is_some() => {
                write_ttl(e, &a[1], None);
                e.notify(notify::GENERIC, "persist", &a[1]);
                int(1)
            }
            _ => int(0),
        },
        "object" => object(e, a),
        "dbsize" => int(e.dbsize() as i64),
        "flushall" | "flushdb" => {
            if e.config.active_active {
                return Some(error(err::AA_FLUSH));
            }
            if a.len() > 2 || (a.len() == 2 && !eq(&a[1], "async") && !eq(&a[1], "sync")) {
                return Some(error(err::SYNTAX));
            }
            e.flush();
            Frame::ok()
        }
        _ => return None,
    })
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    v.kind().name()
}

/// The ops that recreate a value under another key (RENAME, COPY, RESTORE):
/// each element is written anew, so the copy is a fresh value with its own
/// dots. `observed` is the context of what the writer has seen (a stream's
/// groups are created with it).
pub(crate) fn recreate_ops(v: &Value, key: &Blob, observed: &crdt::VersionVector) -> Vec<Op> {
    let empty = crdt::VersionVector::new;
    match v {
        Value::Str(cell) => {
            vec![Op::Set { key: key.clone(), ctx: empty(), value: cell_bytes(cell).into_boxed_slice(), keep_ttl: false }]
        }
        Value::Hash(h) => h
            .iter()
            .map(|(f, c)| Op::HSet {
                key: key.clone(),
                field: f.into(),
                ctx: empty(),
                value: crate::hash::field_value(&c).into_boxed_slice(),
            })
            .collect(),
        Value::Set(s) => s.members.keys().map(|m| Op::SAdd { key: key.clone(), member: m.clone(), ctx: empty() }).collect(),
        Value::ZSet(z) => {
            z.members.iter().map(|(m, (_, score))| Op::ZAdd { key: key.clone(), member: m.clone(), ctx: empty(), score: *score }).collect()
        }
        // Db::commit fills in the add's context.
        Value::Hll(h) => {
            let regs = h.registers().iter().enumerate().filter(|(_, &r)| r != 0).map(|(i, &r)| (i as u16, r)).collect();
            vec![Op::HllAdd { key: key.clone(), regs, ctx: empty() }]
        }
        // Sequential inserts at the head go in front of earlier ones, so
        // inserting from the tail backwards rebuilds the order.
        Value::List(l) => {
            l.iter().rev().map(|el| Op::ListInsert { key: key.clone(), anchor: None, value: el.value().into() }).collect()
        }
        // Entries keep their ids; consumer groups are not carried.
        Value::Stream(s) => crate::stream::recreate_ops(s, key, observed),
    }
}

/// Writes `value` (with deadline `at`) at `dst`, replacing what was there.
pub(crate) fn write_copy(e: &mut Engine, value: &Value, at: Option<u64>, dst: &[u8]) {
    let dst: Blob = dst.into();
    if e.db.entries.contains_key(&dst[..]) {
        let ctx = key_ctx(e, &dst);
        e.commit(Op::Del { key: dst.clone(), ctx });
    }
    // Groups created again observe the DEL just made: delete-wins must not
    // let the old key's removal take the new groups.
    let observed = e.db.vv.clone();
    for op in recreate_ops(value, &dst, &observed) {
        e.commit(op);
    }
    if let Value::Stream(s) = value {
        crate::stream::copy_local_state(e, s, &dst);
    }
    if let Some(at) = at {
        write_ttl(e, &dst, Some(at));
    }
}

fn rename(e: &mut Engine, a: &[&[u8]], nx: bool) -> Frame {
    let (src, dst) = (&a[1], &a[2]);
    let Some(en) = e.lookup(src, Access::Write) else { return error(err::NO_SUCH_KEY) };
    let value = en.value.clone().expect("visible");
    let at = en.expire_at();
    if src == dst {
        return if nx { int(0) } else { Frame::ok() };
    }
    if nx && e.lookup(dst, Access::Write).is_some() {
        return int(0);
    }
    write_copy(e, &value, at, dst);
    let ctx = key_ctx(e, src);
    e.commit(Op::Del { key: src[..].into(), ctx });
    e.notify(notify::GENERIC, "rename_from", src);
    e.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        int(1)
    } else {
        Frame::ok()
    }
}

fn copy(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let (src, dst) = (&a[1], &a[2]);
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if eq(&a[i], "replace") {
            replace = true;
        } else if eq(&a[i], "db") && i + 1 < a.len() {
            match args::int(&a[i + 1]) {
                Ok(0) => {}
                Ok(_) => return error("ERR DB index is out of range"),
                Err(f) => return f,
            }
            i += 1;
        } else {
            return error(err::SYNTAX);
        }
        i += 1;
    }
    if src == dst {
        return error("ERR source and destination objects are the same");
    }
    let Some(en) = e.lookup(src, Access::Read) else { return int(0) };
    let value = en.value.clone().expect("visible");
    let at = en.expire_at();
    if !replace && e.lookup(dst, Access::Write).is_some() {
        return int(0);
    }
    write_copy(e, &value, at, dst);
    e.notify(notify::GENERIC, "copy_to", dst);
    int(1)
}

fn visible_keys(e: &mut Engine) -> Vec<Blob> {
    let now = e.now_ms;
    e.db.entries
        .iter()
        .filter(|(_, en)| en.value.is_some() && en.expire_at().is_none_or(|at| at > now))
        .map(|(k, _)| Blob::from(&k[..]))
        .collect()
}

fn keys(e: &mut Engine, pattern: &[u8]) -> Frame {
    let all = pattern == b"*";
    Frame::Array(
        visible_keys(e)
            .into_iter()
            .filter(|k| all || commands::glob_match(pattern, k, false))
            .map(|k| bulk(&k))
            .collect(),
    )
}

fn scan(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let Some(cursor) = std::str::from_utf8(&a[1]).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return error("ERR invalid cursor");
    };
    let mut pattern: Option<&[u8]> = None;
    let mut count = 10usize;
    let mut kind: Option<&[u8]> = None;
    let mut i = 2;
    while i < a.len() {
        if i + 1 >= a.len() {
            return error(err::SYNTAX);
        }
        if eq(&a[i], "match") {
            pattern = Some(&a[i + 1]);
        } else if eq(&a[i], "count") {
            match args::int(&a[i + 1]) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return error(err::SYNTAX),
                Err(f) => return f,
            }
        } else if eq(&a[i], "type") {
            kind = Some(&a[i + 1]);
        } else {
            return error(err::SYNTAX);
        }
        i += 2;
    }
    // Cursor = one past the next position to visit, walking downwards; 0
    // starts at the end. Removals move the last entry into the hole, which
    // only repeats an entry; they never skip one.
    let len = e.db.entries.len() as u64;
    let mut pos = if cursor == 0 || cursor > len { len } else { cursor };
    let mut out = Vec::new();
    let mut visited = 0;
    let now = e.now_ms;
    while pos > 0 && visited < count {
        pos -= 1;
        visited += 1;
        let (k, en) = e.db.entries.get_index(pos as usize).expect("pos < len");
        let Some(v) = en.value.as_ref() else { continue };
        if en.expire_at().is_some_and(|at| at <= now) {
            continue;
        }
        if let Some(p) = pattern {
            if !commands::glob_match(p, k, false) {
                continue;
            }
        }
        if let Some(t) = kind {
            if !t.eq_ignore_ascii_case(type_name(v).as_bytes()) {
                continue;
            }
        }
        out.push(bulk(k));
    }
    Frame::Array(vec![bulk(pos.to_string().as_bytes()), Frame::Array(out)])
}

fn randomkey(e: &mut Engine) -> Frame {
    use rand::Rng;
    let n = e.db.entries.len();
    for _ in 0..100 {
        if n == 0 {
            break;
        }
        let i = e.rng.gen_range(0..n);
        let (k, en) = e.db.entries.get_index(i).expect("i < n");
        if en.value.is_some() && en.expire_at().is_none_or(|at| at > e.now_ms) {
            return bulk(k);
        }
    }
    // Mostly hidden or expired entries: fall back to a scan.
    match visible_keys(e).first() {
        Some(k) => bulk(k),
        None => Frame::Null,
    }
}

fn expire(e: &mut Engine, a: &[&[u8]], unit_ms: i64, absolute: bool, cmd: &str) -> Frame {
    let n = match args::int(&a[2]) {
        Ok(n) => n,
        Err(f) => return f,
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for t in &a[3..] {
        if eq(t, "nx") {
            nx = true
        } else if eq(t, "xx") {
            xx = true
        } else if eq(t, "gt") {
            gt = true
        } else if eq(t, "lt") {
            lt = true
        } else {
            return error(&format!("ERR Unsupported option {}", String::from_utf8_lossy(t)));
        }
    }
    if nx && (xx || gt || lt) {
        return error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return error("ERR GT and LT options at the same time are not compatible");
    }
    let Some(ms) = n.checked_mul(unit_ms) else { return error(&err::invalid_expire(cmd)) };
    let at = if absolute { Some(ms) } else { ms.checked_add(e.now_ms as i64) };
    let Some(at) = at else { return error(&err::invalid_expire(cmd)) };
    let Some(en) = e.lookup(&a[1], Access::Write) else { return int(0) };
    let cur = en.expire_at();
    if (nx && cur.is_some()) || (xx && cur.is_none()) {
        return int(0);
    }
    if gt && cur.is_none_or(|c| at <= c as i64) {
        return int(0);
    }
    if lt && cur.is_some_and(|c| at >= c as i64) {
        return int(0);
    }
    if at <= e.now_ms as i64 {
        let ctx = key_ctx(e, &a[1]);
        e.commit(Op::Del { key: a[1][..].into(), ctx });
        e.stats.expired_keys += 0;
        e.notify(notify::GENERIC, "del", &a[1]);
        return int(1);
    }
    write_ttl(e, &a[1], Some(at as u64));
    e.notify(notify::GENERIC, "expire", &a[1]);
    int(1)
}

fn ttl(e: &mut Engine, key: &[u8], f: impl Fn(i64) -> i64) -> Frame {
    let now = e.now_ms as i64;
    match e.read_with(key, Access::Peek) {
        None => int(-2),
        Some(en) => match en.expire_at() {
            None => int(-1),
            Some(at) => int(f((at as i64 - now).max(0))),
        },
    }
}

fn expiretime(e: &mut Engine, key: &[u8], unit: i64) -> Frame {
    match e.read_with(key, Access::Peek) {
        None => int(-2),
        Some(en) => match en.expire_at() {
            None => int(-1),
            Some(at) => int(at as i64 / unit),
        },
    }
}

/// OBJECT ENCODING reports the encoding Redis would use for the same value,
/// so clients and tools that look at it keep working; Concord's own
/// representation is the CRDT (see docs/crdt.md).
fn encoding_of(v: &Value) -> &'static str {
    match v {
        // Redis 7.0 keeps every list as a quicklist (listpack lists came in 7.2).
        Value::List(_) => "quicklist",
        Value::Stream(_) => "stream",
        Value::Str(cell) => {
            let b = cell_bytes(cell);
            if b.len() <= 20 && crdt::cell::parse_i64_strict(&b).is_some() {
                "int"
            } else if b.len() <= 44 {
                "embstr"
            } else {
                "raw"
            }
        }
        // The encoding this instance holds (crdt::fields), converted at
        // hash-max-listpack-entries / -value as Redis converts.
        Value::Hash(h) => {
            if h.is_packed() {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Value::Set(s) => {
            if s.members.len() <= 512 && s.members.keys().all(|m| crdt::cell::parse_i64_strict(m).is_some()) {
                "intset"
            } else {
                "hashtable"
            }
        }
        Value::ZSet(z) => {
            if z.len() <= 128 && z.members.keys().all(|m| m.len() <= 64) {
                "listpack"
            } else {
                "skiplist"
            }
        }
        // Redis creates HyperLogLogs as raw strings.
        Value::Hll(_) => "raw",
    }
}

fn object(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let sub = &a[1];
    if eq(sub, "help") {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ];
        return Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect());
    }
    let Some(key) = a.get(2) else { return error(err::SYNTAX) };
    let Some(en) = e.lookup(key, Access::Peek) else { return Frame::Null };
    let v = en.value.as_ref().expect("visible");
    if eq(sub, "encoding") {
        bulk(encoding_of(v).as_bytes())
    } else if eq(sub, "refcount") {
        int(1)
    } else if eq(sub, "idletime") {
        if matches!(e.config.maxmemory_policy, crate::Policy::AllKeysLfu | crate::Policy::VolatileLfu) {
            return error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        let i = e.db.entries.get_index_of(key).expect("looked up");
        int(e.idle_secs(i) as i64)
    } else if eq(sub, "freq") {
        if !matches!(e.config.maxmemory_policy, crate::Policy::AllKeysLfu | crate::Policy::VolatileLfu) {
            return error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        let i = e.db.entries.get_index_of(key).expect("looked up");
        int(i64::from(e.freq(i)))
    } else {
        error(&format!("ERR unknown subcommand '{}'. Try OBJECT HELP.", String::from_utf8_lossy(sub)))
    }
}

#[allow(dead_code)]
fn kind_of(v: &Value) -> Kind {
    v.kind()
}

//! Streams: the X* commands over `crdt::stream` (spec section 1.10).
//!
//! Entries, the per-origin records (last id, entries added) and consumer
//! group creates/destroys are effects; consumers, PELs and each group's
//! delivery position are local to this instance (`crdt::stream::GroupLocal`)
//! and change in place. XACK sends an effect only when a prefix of the
//! group's reads is fully acknowledged (`GroupLocal::ack_floor`).
//!
//! Ids (`IdMode`): a standalone shard gives Redis's ids; an Active-Active
//! one follows `crdt-xadd-id-uniqueness-mode` (strict by default): `*` and
//! ms-only ids get a seq tagged with the instance (`seq = k * 65536 + id`),
//! semi-strict also takes full ids, liberal gives ms-only ids seq 0 and
//! takes any ascending full id.

use bytes::Bytes;
use commands::errors as e_;
use crdt::stream::{Consumer, Pending, Stream, StreamId};
use crdt::{Blob, Dot, InstanceId, Kind, Op, Value};
use resp::Frame;

use crate::args::{self, eq};
use crate::{bulk, error, int, notify, Access, Engine};

type Reply = Result<Frame, Frame>;

/// How XADD treats ids on an Active-Active database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdMode {
    Strict,
    SemiStrict,
    Liberal,
}

impl IdMode {
    pub fn parse(s: &str) -> Option<IdMode> {
        Some(match s.to_ascii_lowercase().as_str() {
            "strict" => IdMode::Strict,
            "semi-strict" => IdMode::SemiStrict,
            "liberal" => IdMode::Liberal,
            _ => return None,
        })
    }
}

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const XADD_SMALLER: &str = "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const XADD_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
const XADD_STRICT: &str = "ERR crdt-xadd-id-uniqueness-mode is strict: XADD takes * or a milliseconds-only ID (MS), not MS-SEQ";
const EXHAUSTED: &str = "ERR The stream has exhausted the last possible ID, unable to add more items";
const XGROUP_NOKEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
/// Replaces BLOCK in the arguments of a blocked XREAD/XREADGROUP's retries.
const RETRY_MARK: &[u8] = b"\0block-retry";
const DOT_MIN: Dot = Dot { origin: InstanceId(0), seq: 0 };
const DOT_MAX: Dot = Dot { origin: InstanceId(u16::MAX), seq: u64::MAX };

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    let r = match name {
        "xadd" => xadd(e, a),
        "xlen" => read(e, &a[1]).map(|s| int(s.map_or(0, |s| s.len() as i64))),
        "xrange" => xrange(e, a, false),
        "xrevrange" => xrange(e, a, true),
        "xdel" => xdel(e, a),
        "xtrim" => xtrim(e, a),
        "xread" => xread(e, a, false),
        "xreadgroup" => xread(e, a, true),
        "xgroup" => xgroup(e, a),
        "xack" => xack(e, a),
        "xpending" => xpending(e, a),
        "xclaim" => xclaim(e, a),
        "xautoclaim" => xautoclaim(e, a),
        "xinfo" => xinfo(e, a),
        "xsetid" => xsetid(e, a),
        _ => return None,
    };
    Some(r.unwrap_or_else(|f| f))
}

// ---- ids ----------------------------------------------------------------------

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 || !b.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses an id as Redis's streamGenericParseIDOrReply: `-`/`+` (when
/// `strict` is false), `ms` (seq `missing`), `ms-seq`.
fn parse_id(b: &[u8], missing: u64, strict: bool) -> Result<StreamId, Frame> {
    if b.len() > 127 {
        return Err(error(INVALID_ID));
    }
    if !strict && b == b"-" {
        return Ok(StreamId::MIN);
    }
    if !strict && b == b"+" {
        return Ok(StreamId::MAX);
    }
    match b.iter().position(|&c| c == b'-') {
        None => Ok(StreamId::new(parse_u64(b).ok_or_else(|| error(INVALID_ID))?, missing)),
        Some(i) => {
            let ms = parse_u64(&b[..i]).ok_or_else(|| error(INVALID_ID))?;
            let seq = parse_u64(&b[i + 1..]).ok_or_else(|| error(INVALID_ID))?;
            Ok(StreamId::new(ms, seq))
        }
    }
}

/// A range bound of XRANGE: `(` makes it exclusive.
fn range_bound(b: &[u8], start: bool) -> Result<Option<StreamId>, Frame> {
    if let Some(rest) = b.strip_prefix(b"(") {
        let id = parse_id(rest, if start { 0 } else { u64::MAX }, true)?;
        let moved = if start { id.next() } else { id.prev() };
        return match moved {
            Some(id) => Ok(Some(id)),
            None => Err(error(if start { "ERR invalid start ID for the interval" } else { "ERR invalid end ID for the interval" })),
        };
    }
    parse_id(b, if start { 0 } else { u64::MAX }, false).map(Some)
}

fn id_frame(id: StreamId) -> Frame {
    Frame::Bulk(Bytes::from(id.to_string()))
}

fn entry_frame(id: StreamId, fields: &[Blob]) -> Frame {
    Frame::Array(vec![id_frame(id), Frame::Array(fields.iter().map(|f| bulk(f)).collect())])
}

// ---- lookups ------------------------------------------------------------------

fn check(e: &mut Engine, key: &[u8], access: Access) -> Result<bool, Frame> {
    let is_read = matches!(access, Access::Read);
    let found = e.typed(key, Kind::Stream, access)?.is_some();
    if is_read {
        if found {
            e.stats.keyspace_hits += 1;
        } else {
            e.stats.keyspace_misses += 1;
            e.notify(notify::KEY_MISS, "keymiss", key);
        }
    }
    Ok(found)
}

fn get<'a>(e: &'a Engine, key: &[u8]) -> Option<&'a Stream> {
    match e.db.get(key).and_then(|en| en.value.as_ref()) {
        Some(Value::Stream(s)) => Some(s),
        _ => None,
    }
}

fn read<'a>(e: &'a mut Engine, key: &[u8]) -> Result<Option<&'a Stream>, Frame> {
    if !check(e, key, Access::Read)? {
        return Ok(None);
    }
    Ok(get(e, key))
}

fn local<'a>(e: &'a mut Engine, key: &[u8]) -> &'a mut Stream {
    e.db.stream_local_mut(key).expect("checked: the key holds a stream")
}

fn nogroup(key: &[u8], group: &[u8]) -> Frame {
    error(&format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

// ---- XADD / XTRIM -------------------------------------------------------------

#[derive(Clone, Copy)]
enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: Option<u64>,
}

/// Parses MAXLEN/MINID [=|~] threshold [LIMIT n] at `a[*i]`; returns false
/// if `a[*i]` is not a trim option.
fn trim_option(a: &[&[u8]], i: &mut usize, t: &mut TrimArgs, xadd: bool) -> Result<bool, Frame> {
    let maxlen = eq(&a[*i], "maxlen");
    if maxlen || eq(&a[*i], "minid") {
        if t.trim.is_some() && (matches!(t.trim, Some(Trim::MaxLen(_))) != maxlen) {
            return Err(error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
        }
        *i += 1;
        let mut next = a.get(*i).ok_or_else(|| error(e_::SYNTAX))?;
        if next[..] == b"~"[..] || next[..] == b"="[..] {
            t.approx = next[..] == b"~"[..];
            *i += 1;
            next = a.get(*i).ok_or_else(|| error(e_::SYNTAX))?;
        }
        t.trim = Some(if maxlen {
            let n = args::int(next)?;
            if n < 0 {
                return Err(error("ERR The MAXLEN argument must be >= 0."));
            }
            Trim::MaxLen(n as u64)
        } else {
            Trim::MinId(parse_id(next, 0, true)?)
        });
        *i += 1;
        return Ok(true);
    }
    if eq(&a[*i], "limit") && *i + 1 < a.len() {
        let n = args::int(&a[*i + 1])?;
        if n < 0 {
            return Err(error("ERR The LIMIT argument must be >= 0."));
        }
        t.limit = Some(n as u64);
        *i += 2;
        return Ok(true);
    }
    let _ = xadd;
    Ok(false)
}

fn check_trim(t: &TrimArgs) -> Result<(), Frame> {
    if t.limit.is_some() && t.trim.is_none() {
        return Err(error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if t.limit.is_some() && !t.approx {
        return Err(error("ERR syntax error, LIMIT cannot be used without the special ~ option"));
    }
    Ok(())
}

/// The entries a trim removes, oldest first. With `~` only whole nodes go,
/// as Redis trims listpack nodes: nodes are taken as runs of
/// `stream-node-max-entries` (100) entries in the order they were added, at
/// most LIMIT entries (100 nodes' worth by default, 0 = no limit).
fn trim_victims(s: &Stream, t: &TrimArgs, node: u64) -> Vec<(StreamId, Dot)> {
    let node = if node == 0 { u64::MAX / 4 } else { node };
    let len = s.len() as u64;
    let want = match t.trim {
        None => return Vec::new(),
        Some(Trim::MaxLen(max)) => len.saturating_sub(max),
        Some(Trim::MinId(min)) => s.entries.range(..(min, DOT_MIN)).count() as u64,
    };
    let n = if t.approx {
        let limit = t.limit.unwrap_or(node.saturating_mul(100));
        let cap = if limit == 0 { want } else { want.min(limit) };
        let mut n = 0;
        let mut g = s.entries_added().saturating_sub(len);
        loop {
            let in_node = (node - g % node).min(len - n);
            if in_node == 0 || n + in_node > cap {
                break;
            }
            n += in_node;
            g += in_node;
        }
        n
    } else {
        want
    };
    s.entries.keys().take(n as usize).copied().collect()
}

/// Commits the removal of `victims`; returns how many. XDEL (`xdel`)
/// records the greatest id it removed (Redis's max-deleted-entry-id);
/// trimming does not.
fn remove_entries(e: &mut Engine, key: &[u8], victims: Vec<(StreamId, Dot)>, xdel: bool) -> usize {
    if victims.is_empty() {
        return 0;
    }
    let n = victims.len();
    let max = victims.iter().map(|v| v.0).max().unwrap_or_default();
    e.commit(Op::StreamRemove { key: key.into(), entries: victims });
    if xdel {
        let s = local(e, key);
        s.max_deleted = s.max_deleted.max(max);
    }
    n
}

fn xadd(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    let mut t = TrimArgs { trim: None, approx: false, limit: None };
    let mut nomkstream = false;
    let mut i = 2;
    while i < a.len() {
        if eq(&a[i], "nomkstream") {
            nomkstream = true;
            i += 1;
        } else if !trim_option(a, &mut i, &mut t, true)? {
            break;
        }
    }
    if i >= a.len() || !(a.len() - i - 1).is_multiple_of(2) || a.len() - i < 3 {
        return Err(error(&e_::wrong_arity("xadd")));
    }
    check_trim(&t)?;
    let idarg = &a[i];
    let fields: Vec<Blob> = a[i + 1..].iter().map(|f| f[..].into()).collect();
    // Parse the id before looking at the key (Redis's order of errors).
    enum Want {
        Auto,
        MsOnly(u64),
        MsAuto(u64),
        Full(StreamId),
    }
    let want = if idarg[..] == b"*"[..] {
        Want::Auto
    } else if let Some(ms) = idarg.strip_suffix(b"-*") {
        Want::MsAuto(parse_u64(ms).ok_or_else(|| error(INVALID_ID))?)
    } else if !idarg.contains(&b'-') {
        Want::MsOnly(parse_id(idarg, 0, true)?.ms)
    } else {
        Want::Full(parse_id(idarg, 0, true)?)
    };
    if let Want::Full(id) = want {
        if id.is_zero() {
            return Err(error(XADD_ZERO));
        }
    }
    if let Want::MsOnly(0) = want {
        if !e.config.active_active || e.config.xadd_id_mode == IdMode::Liberal {
            return Err(error(XADD_ZERO));
        }
    }
    let exists = check(e, key, Access::Write)?;
    if !exists && nomkstream {
        return Ok(Frame::Null);
    }
    let me = e.config.instance;
    let (last, added) = match get(e, key) {
        Some(s) => (s.last_id(), s.record_of(me).map_or(0, |r| r.added)),
        None => (StreamId::MIN, 0),
    };
    let aa = e.config.active_active;
    let mode = e.config.xadd_id_mode;
    let now = e.now_ms;
    let tagged = |ms: u64| StreamId::tagged_after(last, ms, me);
    let id = match want {
        Want::Auto if aa => tagged(now.max(last.ms)).or_else(|| last.ms.checked_add(1).and_then(tagged)).ok_or_else(|| error(EXHAUSTED))?,
        Want::Auto => {
            if now > last.ms {
                StreamId::new(now, 0)
            } else {
                last.next().ok_or_else(|| error(EXHAUSTED))?
            }
        }
        Want::MsOnly(ms) | Want::MsAuto(ms) if aa && (mode != IdMode::Liberal || matches!(want, Want::MsAuto(_))) => {
            tagged(ms).ok_or_else(|| error(XADD_SMALLER))?
        }
        Want::MsOnly(ms) => StreamId::new(ms, 0),
        Want::MsAuto(ms) => {
            if ms > last.ms {
                StreamId::new(ms, 0)
            } else if ms == last.ms && last.seq < u64::MAX {
                StreamId::new(ms, last.seq + 1)
            } else {
                return Err(error(XADD_SMALLER));
            }
        }
        Want::Full(_) if aa && mode == IdMode::Strict => return Err(error(XADD_STRICT)),
        Want::Full(id) => id,
    };
    if id <= last {
        return Err(error(XADD_SMALLER));
    }
    e.commit(Op::StreamAdd { key: key[..].into(), id, fields, added: added + 1 });
    e.notify(notify::STREAM, "xadd", key);
    if t.trim.is_some() {
        let victims = trim_victims(get(e, key).expect("just added"), &t, e.config.stream_node_max_entries);
        if remove_entries(e, key, victims, false) > 0 {
            e.notify(notify::STREAM, "xtrim", key);
        }
    }
    Ok(id_frame(id))
}

fn xtrim(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    let mut t = TrimArgs { trim: None, approx: false, limit: None };
    let mut i = 2;
    while i < a.len() {
        if !trim_option(a, &mut i, &mut t, false)? {
            return Err(error(e_::SYNTAX));
        }
    }
    check_trim(&t)?;
    if t.trim.is_none() {
        return Err(error(e_::SYNTAX));
    }
    if !check(e, key, Access::Write)? {
        return Ok(int(0));
    }
    let victims = trim_victims(get(e, key).expect("checked"), &t, e.config.stream_node_max_entries);
    let n = remove_entries(e, key, victims, false);
    if n > 0 {
        e.notify(notify::STREAM, "xtrim", key);
    }
    Ok(int(n as i64))
}

// ---- XRANGE / XDEL --------------------------------------------------------------

fn xrange(e: &mut Engine, a: &[&[u8]], rev: bool) -> Reply {
    let key = &a[1];
    let (s_arg, e_arg) = if rev { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    let start = range_bound(s_arg, true)?;
    let end = range_bound(e_arg, false)?;
    let mut count: Option<usize> = None;
    let mut i = 4;
    while i < a.len() {
        if eq(&a[i], "count") && i + 1 < a.len() {
            count = Some(args::int(&a[i + 1])?.max(0) as usize);
            i += 2;
        } else {
            return Err(error(e_::SYNTAX));
        }
    }
    let Some(s) = read(e, key)? else { return Ok(Frame::Array(Vec::new())) };
    let (Some(start), Some(end)) = (start, end) else { return Ok(Frame::Array(Vec::new())) };
    if count == Some(0) {
        // Redis 7.0 answers COUNT 0 (and a negative COUNT) with a null array.
        return Ok(Frame::NullArray);
    }
    if start > end {
        return Ok(Frame::Array(Vec::new()));
    }
    let range = s.entries.range((start, DOT_MIN)..=(end, DOT_MAX));
    let take = count.unwrap_or(usize::MAX);
    let out: Vec<Frame> = if rev {
        range.rev().take(take).map(|((id, _), f)| entry_frame(*id, f)).collect()
    } else {
        range.take(take).map(|((id, _), f)| entry_frame(*id, f)).collect()
    };
    Ok(Frame::Array(out))
}

fn xdel(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    let ids: Vec<StreamId> = a[2..].iter().map(|b| parse_id(b, 0, true)).collect::<Result<_, _>>()?;
    if !check(e, key, Access::Write)? {
        return Ok(int(0));
    }
    let s = get(e, key).expect("checked");
    let mut victims: Vec<(StreamId, Dot)> = Vec::new();
    for id in ids {
        for k in s.entries.range((id, DOT_MIN)..=(id, DOT_MAX)).map(|(k, _)| *k) {
            if !victims.contains(&k) {
                victims.push(k);
            }
        }
    }
    let n = remove_entries(e, key, victims, true);
    if n > 0 {
        e.notify(notify::STREAM, "xdel", key);
    }
    Ok(int(n as i64))
}

// ---- XREAD / XREADGROUP ---------------------------------------------------------

/// Redis's streamRangeHasTombstones.
fn has_tombstones(s: &Stream, start: StreamId) -> bool {
    if s.entries.is_empty() || s.max_deleted.is_zero() {
        return false;
    }
    if s.first_id().is_some_and(|f| f > s.max_deleted) {
        return false;
    }
    start <= s.max_deleted
}

/// Redis's streamEstimateDistanceFromFirstEverEntry.
fn estimate_read(s: &Stream, id: StreamId) -> Option<u64> {
    let added = s.entries_added();
    if added == 0 {
        return Some(0);
    }
    let last = s.last_id();
    if s.entries.is_empty() && id <= last {
        return Some(added);
    }
    if id == last {
        return Some(added);
    } else if id > last {
        return None;
    }
    let first = s.first_id().unwrap_or_default();
    if s.max_deleted.is_zero() || s.max_deleted < first {
        if id < first {
            return Some(added - s.len() as u64);
        } else if id == first {
            return Some(added - s.len() as u64 + 1);
        }
    }
    None
}

fn xread(e: &mut Engine, a: &[&[u8]], group: bool) -> Reply {
    let name = if group { "xreadgroup" } else { "xread" };
    let mut count: usize = 0;
    let mut noack = false;
    let mut grp: Option<(Bytes, Bytes)> = None;
    let mut streams_at = None;
    let mut retry = false;
    let mut i = 1;
    while i < a.len() {
        let left = a.len() - i - 1;
        retry |= a[i][..] == RETRY_MARK[..];
        if (eq(&a[i], "block") || a[i][..] == RETRY_MARK[..]) && left >= 1 {
            // The shard blocks (`BlockResult::WouldBlock`); here only checked.
            let ms = args::int(&a[i + 1]).map_err(|_| error("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(error("ERR timeout is negative"));
            }
            i += 2;
        } else if eq(&a[i], "count") && left >= 1 {
            count = args::int(&a[i + 1])?.max(0) as usize;
            i += 2;
        } else if eq(&a[i], "streams") && left >= 1 {
            streams_at = Some(i + 1);
            break;
        } else if group && eq(&a[i], "group") && left >= 2 {
            grp = Some((Bytes::copy_from_slice(a[i + 1]), Bytes::copy_from_slice(a[i + 2])));
            i += 3;
        } else if group && eq(&a[i], "noack") {
            noack = true;
            i += 1;
        } else {
            return Err(error(e_::SYNTAX));
        }
    }
    let Some(at) = streams_at else { return Err(error(e_::SYNTAX)) };
    let n = a.len() - at;
    if !n.is_multiple_of(2) {
        return Err(error(&format!(
            "ERR Unbalanced {} list of streams: for each stream key an ID or '$' must be specified.",
            name.to_ascii_uppercase()
        )));
    }
    if group && grp.is_none() {
        return Err(error("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = n / 2;
    let keys = &a[at..at + n];
    let idargs = &a[at + n..];
    // Resolve every id first (errors before anything is read).
    enum Start {
        After(StreamId),
        New,
    }
    let mut starts = Vec::with_capacity(n);
    for (k, idb) in keys.iter().zip(idargs) {
        if idb[..] == b"$"[..] {
            if group {
                return Err(error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            let last = match e.typed(k, Kind::Stream, Access::Read)? {
                Some(Value::Stream(s)) => s.last_id(),
                _ => StreamId::MIN,
            };
            starts.push(Start::After(last));
        } else if idb[..] == b">"[..] {
            if !group {
                return Err(error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            starts.push(Start::New);
        } else if idb[..] == b"+"[..] && !group {
            let last = match e.typed(k, Kind::Stream, Access::Read)? {
                Some(Value::Stream(s)) => s.last_entry_id().unwrap_or(StreamId::MIN),
                _ => StreamId::MIN,
            };
            starts.push(Start::After(last.prev().unwrap_or(StreamId::MIN)));
        } else {
            starts.push(Start::After(parse_id(idb, 0, true)?));
        }
    }
    if retry {
        // A blocked client tried again after a write: a key that no longer
        // holds a stream keeps XREAD waiting and ends XREADGROUP (Redis).
        for k in keys {
            let stream = matches!(e.db.get(k).and_then(|en| en.value.as_ref()), Some(Value::Stream(_)));
            if group && !stream {
                return Err(error("UNBLOCKED the stream key no longer exists"));
            }
            if let (Some((g, _)), true) = (&grp, stream) {
                if !group_exists(e, k, g) {
                    return Err(error("NOGROUP the consumer group this client was blocked on no longer exists"));
                }
            }
        }
    }
    if let Some((g, _)) = &grp {
        for k in keys {
            let ok = match e.typed(k, Kind::Stream, Access::Read)? {
                Some(Value::Stream(s)) => s.groups.contains_key(&g[..]),
                _ => false,
            };
            if !ok {
                return Err(error(&format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(g)
                )));
            }
        }
    }
    let take = if count == 0 { usize::MAX } else { count };
    let mut out: Vec<(Frame, Frame)> = Vec::new();
    let now = e.now_ms;
    for (k, start) in keys.iter().zip(starts) {
        if retry && !matches!(e.db.get(k).and_then(|en| en.value.as_ref()), Some(Value::Stream(_)) | None) {
            continue;
        }
        let found = check(e, k, Access::Read)?;
        if !found {
            continue;
        }
        match (&grp, start) {
            (None, Start::After(after)) => {
                let s = get(e, k).expect("checked");
                let Some(from) = after.next() else { continue };
                let items: Vec<Frame> =
                    s.entries.range((from, DOT_MIN)..).take(take).map(|((id, _), f)| entry_frame(*id, f)).collect();
                if !items.is_empty() {
                    out.push((bulk(k), Frame::Array(items)));
                }
            }
            (Some((g, c)), Start::New) => {
                let items = read_new(e, k, g, c, take, noack, now);
                if !items.is_empty() {
                    out.push((bulk(k), Frame::Array(items)));
                }
            }
            (Some((g, c)), Start::After(after)) => {
                let items = read_history(e, k, g, c, after, take, now);
                out.push((bulk(k), Frame::Array(items)));
            }
            (None, Start::New) => unreachable!("refused above"),
        }
    }
    if out.is_empty() {
        return Ok(Frame::NullArray);
    }
    Ok(if e.resp3 {
        Frame::Map(out)
    } else {
        Frame::Array(out.into_iter().map(|(k, v)| Frame::Array(vec![k, v])).collect())
    })
}

/// Makes sure a consumer exists (XREADGROUP, XCLAIM create it); returns true
/// if it was created.
fn touch_consumer(e: &mut Engine, key: &[u8], g: &[u8], c: &[u8], now: u64) -> bool {
    let s = local(e, key);
    let Some(grp) = s.groups.get_mut(g) else { return false };
    let created = !grp.local.consumers.contains_key(c);
    grp.local.consumers.entry(c.into()).or_insert_with(Consumer::default).seen_ms = now;
    if created {
        e.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    created
}

/// XREADGROUP `>`: entries of every tree past the group's position in
/// that tree, in id order.
fn read_new(e: &mut Engine, key: &[u8], g: &[u8], c: &[u8], take: usize, noack: bool, now: u64) -> Vec<Frame> {
    touch_consumer(e, key, g, c, now);
    let s = get(e, key).expect("checked");
    let grp = &s.groups[g];
    let lowest = grp.local.lowest_position();
    let Some(from) = lowest.next() else { return Vec::new() };
    let picked: Vec<(StreamId, Dot, Blob)> = s
        .entries
        .range((from, DOT_MIN)..)
        .filter(|((id, d), _)| *id > grp.local.position(d.origin))
        .take(take)
        .map(|((id, d), _)| (*id, *d, Blob::default()))
        .collect();
    let frames: Vec<Frame> = picked.iter().map(|(id, d, _)| entry_frame(*id, &s.entries[&(*id, *d)])).collect();
    // Redis's entries-read bookkeeping, per delivered entry.
    let mut reads: Vec<Option<u64>> = Vec::with_capacity(picked.len());
    let mut er = grp.local.entries_read;
    let added = s.entries_added();
    for (id, _, _) in &picked {
        er = match er {
            Some(n) if !has_tombstones(s, *id) => Some(n + 1),
            _ if added > 0 => estimate_read(s, *id),
            other => other,
        };
        reads.push(er);
    }
    let st = local(e, key);
    let gl = &mut st.groups.get_mut(g).expect("checked").local;
    for (id, d, _) in &picked {
        gl.per_origin.insert(d.origin, *id);
        if *id > gl.last_delivered {
            gl.last_delivered = *id;
        }
        if !noack {
            gl.pel.insert(*id, Pending { consumer: c.into(), delivered_ms: now, count: 1 });
        }
    }
    if let Some(last) = reads.last() {
        gl.entries_read = *last;
    }
    frames
}

/// XREADGROUP with an id: the consumer's pending entries after it.
fn read_history(e: &mut Engine, key: &[u8], g: &[u8], c: &[u8], after: StreamId, take: usize, now: u64) -> Vec<Frame> {
    touch_consumer(e, key, g, c, now);
    let Some(from) = after.next() else { return Vec::new() };
    let ids: Vec<StreamId> = {
        let s = get(e, key).expect("checked");
        s.groups[g].local.pel.range(from..).filter(|(_, p)| &p.consumer[..] == c).map(|(id, _)| *id).take(take).collect()
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let frames: Vec<Frame> = {
            let s = get(e, key).expect("checked");
            s.entries.range((id, DOT_MIN)..=(id, DOT_MAX)).map(|(_, f)| entry_frame(id, f)).collect()
        };
        if frames.is_empty() {
            out.push(Frame::Array(vec![id_frame(id), Frame::NullArray]));
            continue;
        }
        let st = local(e, key);
        if let Some(p) = st.groups.get_mut(g).and_then(|gr| gr.local.pel.get_mut(&id)) {
            p.delivered_ms = now;
            p.count += 1;
        }
        out.extend(frames);
    }
    out
}

// ---- XGROUP -------------------------------------------------------------------

fn group_exists(e: &Engine, key: &[u8], g: &[u8]) -> bool {
    get(e, key).is_some_and(|s| s.groups.contains_key(g))
}

fn xgroup(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let sub = a[1].to_ascii_lowercase();
    if sub == b"help" {
        let lines = [
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Print this help.",
        ];
        return Ok(Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect()));
    }
    let key = &a[2];
    let g = &a[3];
    let mut mkstream = false;
    let mut entries_read: Option<i64> = None;
    if sub == b"create" || sub == b"setid" {
        let mut i = 5;
        while i < a.len() {
            if sub == b"create" && eq(&a[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if eq(&a[i], "entriesread") && i + 1 < a.len() {
                let n = args::int(&a[i + 1])?;
                if n < 0 && n != -1 {
                    return Err(error("ERR value for ENTRIESREAD must be positive or -1"));
                }
                entries_read = Some(n);
                i += 2;
            } else {
                return Err(error(&e_::subcommand_syntax(&a[1], "xgroup")));
            }
        }
    }
    let exists = check(e, key, Access::Write)?;
    if !(exists || sub == b"create" && mkstream) {
        return Err(error(XGROUP_NOKEY));
    }
    let kb: Blob = key[..].into();
    match &sub[..] {
        b"create" => {
            let last = get(e, key).map_or(StreamId::MIN, |s| s.last_id());
            let start = if a[4][..] == b"$"[..] { last } else { parse_id(&a[4], 0, false)? };
            if group_exists(e, key, g) {
                return Err(error(BUSYGROUP));
            }
            if !exists {
                e.commit(Op::StreamSetId { key: kb.clone(), last: StreamId::MIN, added: 0 });
            }
            let entries_read = match entries_read {
                Some(n) if n >= 0 => Some(n as u64),
                Some(_) => None,
                None => None,
            };
            let ctx = e.db.vv.clone();
            e.commit(Op::GroupCreate { key: kb, group: g[..].into(), start, entries_read, ctx });
            e.notify(notify::STREAM, "xgroup-create", key);
            Ok(Frame::ok())
        }
        b"setid" => {
            let last = get(e, key).map_or(StreamId::MIN, |s| s.last_id());
            let id = if a[4][..] == b"$"[..] { last } else { parse_id(&a[4], 0, false)? };
            if !group_exists(e, key, g) {
                return Err(nogroup_create(key, g));
            }
            let gl = &mut local(e, key).groups.get_mut(&g[..]).expect("checked").local;
            gl.set_position(id);
            if let Some(n) = entries_read {
                gl.entries_read = if n < 0 { None } else { Some(n as u64) };
            }
            e.notify(notify::STREAM, "xgroup-setid", key);
            Ok(Frame::ok())
        }
        b"destroy" => {
            if !group_exists(e, key, g) {
                return Ok(int(0));
            }
            e.commit(Op::GroupDestroy { key: kb, group: g[..].into() });
            e.notify(notify::STREAM, "xgroup-destroy", key);
            Ok(int(1))
        }
        b"createconsumer" => {
            if !group_exists(e, key, g) {
                return Err(nogroup_create(key, g));
            }
            let now = e.now_ms;
            let gl = &mut local(e, key).groups.get_mut(&g[..]).expect("checked").local;
            if gl.consumers.contains_key(&a[4][..]) {
                return Ok(int(0));
            }
            gl.consumers.insert(a[4][..].into(), Consumer { seen_ms: now });
            e.notify(notify::STREAM, "xgroup-createconsumer", key);
            Ok(int(1))
        }
        b"delconsumer" => {
            if !group_exists(e, key, g) {
                return Err(nogroup_create(key, g));
            }
            let gl = &mut local(e, key).groups.get_mut(&g[..]).expect("checked").local;
            if gl.consumers.remove(&a[4][..]).is_none() {
                return Ok(int(0));
            }
            let before = gl.pel.len();
            gl.pel.retain(|_, p| p.consumer[..] != a[4][..]);
            let n = before - gl.pel.len();
            e.notify(notify::STREAM, "xgroup-delconsumer", key);
            Ok(int(n as i64))
        }
        _ => Err(error(&e_::unknown_subcommand(&a[1], "xgroup"))),
    }
}

fn nogroup_create(key: &[u8], g: &[u8]) -> Frame {
    error(&format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(g),
        String::from_utf8_lossy(key)
    ))
}

// ---- XACK / XPENDING / XCLAIM / XAUTOCLAIM ----------------------------------------

fn xack(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, g) = (&a[1], &a[2]);
    if !check(e, key, Access::Write)? || !group_exists(e, key, g) {
        return Ok(int(0));
    }
    let ids: Vec<StreamId> = a[3..].iter().map(|b| parse_id(b, 0, true)).collect::<Result<_, _>>()?;
    let aa = e.config.active_active;
    let gl = &mut local(e, key).groups.get_mut(&g[..]).expect("checked").local;
    let mut n = 0;
    for id in ids {
        n += gl.pel.remove(&id).is_some() as i64;
    }
    // Replicate only a fully acknowledged prefix of the group's reads.
    let floor = gl.ack_floor();
    if aa && n > 0 && floor > gl.acked_sent {
        gl.acked_sent = floor;
        e.commit(Op::StreamAck { key: key[..].into(), group: g[..].into(), upto: floor });
    }
    Ok(int(n))
}

fn xpending(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, g) = (&a[1], &a[2]);
    let mut min_idle: Option<u64> = None;
    let mut i = 3;
    if a.len() > 3 {
        if eq(&a[3], "idle") {
            if a.len() < 6 + 2 - 1 {
                return Err(error(e_::SYNTAX));
            }
            min_idle = Some(args::int(&a[4])?.max(0) as u64);
            i = 5;
        }
        if a.len() - i < 3 || a.len() - i > 4 {
            return Err(error(e_::SYNTAX));
        }
    }
    let range = if a.len() > 3 {
        let start = range_bound(&a[i], true)?;
        let end = range_bound(&a[i + 1], false)?;
        let count = args::int(&a[i + 2])?.max(0) as usize;
        let consumer = a.get(i + 3).cloned();
        Some((start, end, count, consumer))
    } else {
        None
    };
    if !check(e, key, Access::Read)? || !group_exists(e, key, g) {
        return Err(nogroup(key, g));
    }
    let now = e.now_ms;
    let gl = &get(e, key).expect("checked").groups[&g[..]].local;
    let Some((start, end, count, consumer)) = range else {
        if gl.pel.is_empty() {
            return Ok(Frame::Array(vec![int(0), Frame::Null, Frame::Null, Frame::NullArray]));
        }
        let mut per: std::collections::BTreeMap<&[u8], u64> = Default::default();
        for p in gl.pel.values() {
            *per.entry(&p.consumer[..]).or_default() += 1;
        }
        return Ok(Frame::Array(vec![
            int(gl.pel.len() as i64),
            id_frame(*gl.pel.keys().next().expect("not empty")),
            id_frame(*gl.pel.keys().next_back().expect("not empty")),
            Frame::Array(per.into_iter().map(|(c, n)| Frame::Array(vec![bulk(c), bulk(n.to_string().as_bytes())])).collect()),
        ]));
    };
    let (Some(start), Some(end)) = (start, end) else { return Ok(Frame::Array(Vec::new())) };
    if start > end {
        return Ok(Frame::Array(Vec::new()));
    }
    let out = gl
        .pel
        .range(start..=end)
        .filter(|(_, p)| consumer.as_ref().is_none_or(|c| p.consumer[..] == c[..]))
        .filter(|(_, p)| min_idle.is_none_or(|m| now.saturating_sub(p.delivered_ms) >= m))
        .take(count)
        .map(|(id, p)| {
            Frame::Array(vec![id_frame(*id), bulk(&p.consumer), int(now.saturating_sub(p.delivered_ms) as i64), int(p.count as i64)])
        })
        .collect();
    Ok(Frame::Array(out))
}

fn xclaim(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, g, c) = (&a[1], &a[2], &a[3]);
    let min_idle = args::int(&a[4]).map_err(|_| error("ERR Invalid min-idle-time argument for XCLAIM"))?.max(0) as u64;
    let mut ids = Vec::new();
    let mut i = 5;
    while i < a.len() {
        match parse_id(&a[i], 0, true) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        i += 1;
    }
    let now = e.now_ms;
    let (mut idle, mut time, mut retry, mut force, mut justid, mut lastid) = (None, None, None, false, false, None);
    while i < a.len() {
        let more = i + 1 < a.len();
        if eq(&a[i], "force") {
            force = true;
        } else if eq(&a[i], "justid") {
            justid = true;
        } else if eq(&a[i], "idle") && more {
            i += 1;
            idle = Some(args::int(&a[i])?.max(0) as u64);
        } else if eq(&a[i], "time") && more {
            i += 1;
            time = Some(args::int(&a[i])?.max(0) as u64);
        } else if eq(&a[i], "retrycount") && more {
            i += 1;
            retry = Some(args::int(&a[i])?.max(0) as u64);
        } else if eq(&a[i], "lastid") && more {
            i += 1;
            lastid = Some(parse_id(&a[i], 0, true)?);
        } else {
            return Err(error(&format!("ERR Unrecognized XCLAIM option '{}'", String::from_utf8_lossy(&a[i]))));
        }
        i += 1;
    }
    let delivered = match (idle, time) {
        (Some(idle), _) => now.saturating_sub(idle),
        (None, Some(t)) => t,
        _ => now,
    };
    if !check(e, key, Access::Write)? || !group_exists(e, key, g) {
        return Err(nogroup(key, g));
    }
    touch_consumer(e, key, g, c, now);
    let mut out = Vec::new();
    for id in ids {
        let frames: Vec<Frame> = {
            let s = get(e, key).expect("checked");
            s.entries.range((id, DOT_MIN)..=(id, DOT_MAX)).map(|(_, f)| entry_frame(id, f)).collect()
        };
        let gl = &mut local(e, key).groups.get_mut(&g[..]).expect("checked").local;
        if let Some(l) = lastid {
            if l > gl.last_delivered {
                gl.last_delivered = l;
            }
        }
        if frames.is_empty() {
            // Deleted entries leave the PEL (Redis 7).
            gl.pel.remove(&id);
            continue;
        }
        if force && !gl.pel.contains_key(&id) {
            gl.pel.insert(id, Pending { consumer: c[..].into(), delivered_ms: now, count: 0 });
        }
        let Some(p) = gl.pel.get_mut(&id) else { continue };
        if min_idle > 0 && now.saturating_sub(p.delivered_ms) < min_idle {
            continue;
        }
        p.consumer = c[..].into();
        p.delivered_ms = delivered;
        if let Some(r) = retry {
            p.count = r;
        } else if !justid {
            p.count += 1;
        }
        if justid {
            out.push(id_frame(id));
        } else {
            out.extend(frames);
        }
    }
    Ok(Frame::Array(out))
}

fn xautoclaim(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let (key, g, c) = (&a[1], &a[2], &a[3]);
    let min_idle = args::int(&a[4]).map_err(|_| error("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?.max(0) as u64;
    let start = range_bound(&a[5], true)?.unwrap_or(StreamId::MAX);
    let mut count = 100i64;
    let mut justid = false;
    let mut i = 6;
    while i < a.len() {
        if eq(&a[i], "count") && i + 1 < a.len() {
            count = args::int(&a[i + 1])?;
            if !(1..=i64::MAX / 10).contains(&count) {
                return Err(error("ERR COUNT must be > 0"));
            }
            i += 2;
        } else if eq(&a[i], "justid") {
            justid = true;
            i += 1;
        } else {
            return Err(error(e_::SYNTAX));
        }
    }
    if !check(e, key, Access::Write)? || !group_exists(e, key, g) {
        return Err(nogroup(key, g));
    }
    let now = e.now_ms;
    let mut attempts = count as usize * 10;
    let mut left = count as usize;
    let ids: Vec<StreamId> = get(e, key).expect("checked").groups[&g[..]].local.pel.range(start..).map(|(id, _)| *id).collect();
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut idx = 0;
    // Redis's loop: deleted entries leave the PEL and count towards COUNT;
    // the cursor is the PEL entry after the last one looked at.
    while attempts > 0 && left > 0 && idx < ids.len() {
        attempts -= 1;
        let id = ids[idx];
        idx += 1;
        let frames: Vec<Frame> = {
            let s = get(e, key).expect("checked");
            s.entries.range((id, DOT_MIN)..=(id, DOT_MAX)).map(|(_, f)| entry_frame(id, f)).collect()
        };
        if frames.is_empty() {
            local(e, key).groups.get_mut(&g[..]).expect("checked").local.pel.remove(&id);
            deleted.push(id_frame(id));
            left -= 1;
            continue;
        }
        let idle = {
            let p = &get(e, key).expect("checked").groups[&g[..]].local.pel[&id];
            now.saturating_sub(p.delivered_ms)
        };
        if min_idle > 0 && idle < min_idle {
            continue;
        }
        touch_consumer(e, key, g, c, now);
        let p = local(e, key).groups.get_mut(&g[..]).expect("checked").local.pel.get_mut(&id).expect("listed above");
        p.consumer = c[..].into();
        p.delivered_ms = now;
        if !justid {
            p.count += 1;
        }
        left -= 1;
        if justid {
            out.push(id_frame(id));
        } else {
            out.extend(frames);
        }
    }
    let next = ids.get(idx).copied().unwrap_or(StreamId::MIN);
    Ok(Frame::Array(vec![id_frame(next), Frame::Array(out), Frame::Array(deleted)]))
}

// ---- XINFO / XSETID -------------------------------------------------------------

fn s_(x: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(x.as_bytes()))
}

fn lag(s: &Stream, gl: &crdt::stream::GroupLocal) -> Frame {
    let added = s.entries_added();
    if added == 0 {
        return int(0);
    }
    if let Some(r) = gl.entries_read {
        if !has_tombstones(s, gl.last_delivered) {
            return int(added as i64 - r as i64);
        }
    }
    match estimate_read(s, gl.last_delivered) {
        Some(r) => int(added as i64 - r as i64),
        None => Frame::Null,
    }
}

fn opt_int(v: Option<u64>) -> Frame {
    v.map_or(Frame::Null, |n| int(n as i64))
}

fn xinfo(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let sub = a[1].to_ascii_lowercase();
    if sub == b"help" {
        let lines = [
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Print this help.",
        ];
        return Ok(Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect()));
    }
    let key = &a[2];
    if !check(e, key, Access::Read)? {
        return Err(error(e_::NO_SUCH_KEY));
    }
    let now = e.now_ms;
    let s = get(e, key).expect("checked");
    match &sub[..] {
        b"consumers" => {
            let Some(g) = s.groups.get(&a[3][..]) else { return Err(nogroup_create(key, &a[3])) };
            let out = g
                .local
                .consumers
                .iter()
                .map(|(name, c)| {
                    let pending = g.local.pel.values().filter(|p| p.consumer == *name).count();
                    Frame::Map(vec![
                        (s_("name"), bulk(name)),
                        (s_("pending"), int(pending as i64)),
                        (s_("idle"), int(now.saturating_sub(c.seen_ms) as i64)),
                    ])
                })
                .collect();
            Ok(Frame::Array(out))
        }
        b"groups" => {
            let out = s
                .groups
                .iter()
                .map(|(name, g)| {
                    Frame::Map(vec![
                        (s_("name"), bulk(name)),
                        (s_("consumers"), int(g.local.consumers.len() as i64)),
                        (s_("pending"), int(g.local.pel.len() as i64)),
                        (s_("last-delivered-id"), id_frame(g.local.last_delivered)),
                        (s_("entries-read"), opt_int(g.local.entries_read)),
                        (s_("lag"), lag(s, &g.local)),
                    ])
                })
                .collect();
            Ok(Frame::Array(out))
        }
        b"stream" => {
            let mut full = false;
            let mut count = 10usize;
            let mut i = 3;
            while i < a.len() {
                if eq(&a[i], "full") {
                    full = true;
                    i += 1;
                } else if full && eq(&a[i], "count") && i + 1 < a.len() {
                    count = args::int(&a[i + 1])?.max(0) as usize;
                    i += 2;
                } else {
                    return Err(error(&e_::subcommand_syntax(&a[1], "xinfo")));
                }
            }
            let nodes = s.len().div_ceil(100);
            let mut m = vec![
                (s_("length"), int(s.len() as i64)),
                (s_("radix-tree-keys"), int(nodes as i64)),
                (s_("radix-tree-nodes"), int(nodes as i64 + 1)),
                (s_("last-generated-id"), id_frame(s.last_id())),
                (s_("max-deleted-entry-id"), id_frame(s.max_deleted)),
                (s_("entries-added"), int(s.entries_added() as i64)),
                (s_("recorded-first-entry-id"), id_frame(s.first_id().unwrap_or_default())),
            ];
            if !full {
                m.push((s_("groups"), int(s.groups.len() as i64)));
                let first = s.entries.iter().next().map_or(Frame::Null, |((id, _), f)| entry_frame(*id, f));
                let last = s.entries.iter().next_back().map_or(Frame::Null, |((id, _), f)| entry_frame(*id, f));
                m.push((s_("first-entry"), first));
                m.push((s_("last-entry"), last));
                return Ok(Frame::Map(m));
            }
            let take = if count == 0 { usize::MAX } else { count };
            m.push((s_("entries"), Frame::Array(s.entries.iter().take(take).map(|((id, _), f)| entry_frame(*id, f)).collect())));
            let groups = s
                .groups
                .iter()
                .map(|(name, g)| {
                    let gl = &g.local;
                    let pending = gl
                        .pel
                        .iter()
                        .take(take)
                        .map(|(id, p)| Frame::Array(vec![id_frame(*id), bulk(&p.consumer), int(p.delivered_ms as i64), int(p.count as i64)]))
                        .collect();
                    let consumers = gl
                        .consumers
                        .iter()
                        .map(|(cn, c)| {
                            let mine: Vec<(&StreamId, &Pending)> = gl.pel.iter().filter(|(_, p)| p.consumer == *cn).collect();
                            Frame::Map(vec![
                                (s_("name"), bulk(cn)),
                                (s_("seen-time"), int(c.seen_ms as i64)),
                                (s_("pel-count"), int(mine.len() as i64)),
                                (
                                    s_("pending"),
                                    Frame::Array(
                                        mine.iter()
                                            .take(take)
                                            .map(|(id, p)| Frame::Array(vec![id_frame(**id), int(p.delivered_ms as i64), int(p.count as i64)]))
                                            .collect(),
                                    ),
                                ),
                            ])
                        })
                        .collect();
                    Frame::Map(vec![
                        (s_("name"), bulk(name)),
                        (s_("last-delivered-id"), id_frame(gl.last_delivered)),
                        (s_("entries-read"), opt_int(gl.entries_read)),
                        (s_("lag"), lag(s, gl)),
                        (s_("pel-count"), int(gl.pel.len() as i64)),
                        (s_("pending"), Frame::Array(pending)),
                        (s_("consumers"), Frame::Array(consumers)),
                    ])
                })
                .collect();
            m.push((s_("groups"), Frame::Array(groups)));
            Ok(Frame::Map(m))
        }
        _ => Err(error(&e_::unknown_subcommand(&a[1], "xinfo"))),
    }
}

fn xsetid(e: &mut Engine, a: &[&[u8]]) -> Reply {
    let key = &a[1];
    let id = parse_id(&a[2], 0, true)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < a.len() {
        if eq(&a[i], "entriesadded") && i + 1 < a.len() {
            let n = args::int(&a[i + 1])?;
            if n < 0 {
                return Err(error("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if eq(&a[i], "maxdeletedid") && i + 1 < a.len() {
            let m = parse_id(&a[i + 1], 0, true)?;
            if id < m {
                return Err(error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
            max_deleted = Some(m);
            i += 2;
        } else {
            return Err(error(e_::SYNTAX));
        }
    }
    if !check(e, key, Access::Write)? {
        return Err(error(e_::NO_SUCH_KEY));
    }
    let me = e.config.instance;
    let s = get(e, key).expect("checked");
    if let Some(top) = s.last_entry_id() {
        if id < top {
            return Err(error("ERR The ID specified in XSETID is smaller than the target stream top item"));
        }
        if entries_added.is_some_and(|n| (s.len() as u64) > n) {
            return Err(error("ERR The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    // Active-Active: the last id is the greatest over every instance's
    // record, so it cannot go down (spec 1.10).
    if e.config.active_active && id < s.last_id() {
        return Err(error("ERR The ID specified in XSETID is smaller than the stream's last ID"));
    }
    let others: u64 = s.records.iter().filter(|r| r.dot.origin != me).map(|r| r.added).sum();
    let mine = s.record_of(me).map_or(0, |r| r.added);
    let added = match entries_added {
        Some(n) => n.saturating_sub(others),
        None => mine,
    };
    e.commit(Op::StreamSetId { key: key[..].into(), last: id, added });
    if let Some(m) = max_deleted {
        local(e, key).max_deleted = m;
    }
    e.notify(notify::STREAM, "xsetid", key);
    Ok(Frame::ok())
}

/// The ops that recreate a stream under another key (RENAME, COPY): every
/// entry with its id, then the last id and entries-added; no groups.
pub(crate) fn recreate_ops(s: &Stream, key: &Blob, observed: &crdt::VersionVector) -> Vec<Op> {
    let mut ops: Vec<Op> = s
        .entries
        .iter()
        .enumerate()
        .map(|(i, ((id, _), f))| Op::StreamAdd { key: key.clone(), id: *id, fields: f.to_vec(), added: i as u64 + 1 })
        .collect();
    ops.push(Op::StreamSetId { key: key.clone(), last: s.last_id(), added: s.entries_added() });
    for (name, g) in &s.groups {
        ops.push(Op::GroupCreate {
            key: key.clone(),
            group: name.clone(),
            start: g.local.start,
            entries_read: g.local.entries_read,
            ctx: observed.clone(),
        });
    }
    ops
}

/// After [`recreate_ops`] wrote `s` again at `key` (COPY, RENAME, RESTORE):
/// the groups' local state (last delivered ids, pending entries, consumers)
/// and the deletion mark come along, as Redis copies them.
pub(crate) fn copy_local_state(e: &mut Engine, s: &Stream, key: &[u8]) {
    let Some(dst) = e.db.stream_local_mut(key) else { return };
    dst.max_deleted = s.max_deleted;
    for (name, g) in &s.groups {
        if let Some(d) = dst.groups.get_mut(name) {
            d.local = g.local.clone();
        }
    }
}

/// XREAD ... STREAMS k1 k2 $ $: the `$` ids replaced by each stream's last
/// id now (0-0 for a missing key), for a command about to block.
///
/// Both XREAD and XREADGROUP get their BLOCK keyword replaced by a marker,
/// so that the retries know they are retries (see `xread`).
pub(crate) fn pin_ids(e: &mut Engine, mut args: Vec<Bytes>) -> Vec<Bytes> {
    let xread = args[0].eq_ignore_ascii_case(b"xread");
    if !xread && !args[0].eq_ignore_ascii_case(b"xreadgroup") {
        return args;
    }
    let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else { return args };
    if let Some(b) = args[..at].iter().position(|a| a.eq_ignore_ascii_case(b"block")) {
        args[b] = Bytes::from_static(RETRY_MARK);
    }
    if !xread {
        return args;
    }
    let n = (args.len() - at - 1) / 2;
    for i in 0..n {
        let (k, idx) = (at + 1 + i, at + 1 + n + i);
        if !matches!(e.db.get(&args[k]).and_then(|en| en.value.as_ref()), Some(Value::Stream(_)) | None) {
            continue;
        }
        if args[idx][..] == b"$"[..] {
            let last = get(e, &args[k]).map_or(StreamId::MIN, |s| s.last_id());
            args[idx] = Bytes::from(last.to_string());
        }
    }
    args
}

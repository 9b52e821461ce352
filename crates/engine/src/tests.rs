//! Engine tests: the engine against a plain model for random command
//! sequences, and convergence of two engines exchanging effects.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use resp::Frame;

use crate::{Config, Engine};
use crdt::InstanceId;

fn run(e: &mut Engine, args: &[&str]) -> Frame {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    e.execute(&args, 1_000_000).expect("engine handles the command")
}

/// A model of a string keyspace: what Redis would answer.
#[derive(Default)]
struct Model {
    kv: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
enum Cmd {
    Set(u8, u16),
    Get(u8),
    Del(u8),
    Incr(u8, i16),
    Append(u8, u16),
    Exists(u8),
    SetNx(u8, u16),
    GetDel(u8),
    Strlen(u8),
    Rename(u8, u8),
}

fn key(k: u8) -> String {
    format!("k{}", k % 6)
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Cmd::Set(k, v)),
        any::<u8>().prop_map(Cmd::Get),
        any::<u8>().prop_map(Cmd::Del),
        (any::<u8>(), any::<i16>()).prop_map(|(k, d)| Cmd::Incr(k, d)),
        (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Cmd::Append(k, v)),
        any::<u8>().prop_map(Cmd::Exists),
        (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Cmd::SetNx(k, v)),
        any::<u8>().prop_map(Cmd::GetDel),
        any::<u8>().prop_map(Cmd::Strlen),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Cmd::Rename(a, b)),
    ]
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

impl Model {
    fn apply(&mut self, c: &Cmd) -> (Vec<String>, Frame) {
        match c {
            Cmd::Set(k, v) => {
                self.kv.insert(key(*k), v.to_string());
                (vec!["SET".into(), key(*k), v.to_string()], Frame::ok())
            }
            Cmd::Get(k) => (vec!["GET".into(), key(*k)], self.kv.get(&key(*k)).map_or(Frame::Null, |v| bulk(v))),
            Cmd::Del(k) => (vec!["DEL".into(), key(*k)], Frame::Integer(self.kv.remove(&key(*k)).is_some() as i64)),
            Cmd::Incr(k, d) => {
                let args = vec!["INCRBY".into(), key(*k), d.to_string()];
                let cur = self.kv.get(&key(*k)).cloned().unwrap_or_else(|| "0".into());
                match cur.parse::<i64>() {
                    Ok(n) if n.to_string() == cur => {
                        let new = n + *d as i64;
                        self.kv.insert(key(*k), new.to_string());
                        (args, Frame::Integer(new))
                    }
                    _ => (args, Frame::error("ERR value is not an integer or out of range")),
                }
            }
            Cmd::Append(k, v) => {
                let e = self.kv.entry(key(*k)).or_default();
                e.push_str(&v.to_string());
                (vec!["APPEND".into(), key(*k), v.to_string()], Frame::Integer(e.len() as i64))
            }
            Cmd::Exists(k) => (vec!["EXISTS".into(), key(*k)], Frame::Integer(self.kv.contains_key(&key(*k)) as i64)),
            Cmd::SetNx(k, v) => {
                let args = vec!["SETNX".into(), key(*k), v.to_string()];
                if self.kv.contains_key(&key(*k)) {
                    (args, Frame::Integer(0))
                } else {
                    self.kv.insert(key(*k), v.to_string());
                    (args, Frame::Integer(1))
                }
            }
            Cmd::GetDel(k) => (vec!["GETDEL".into(), key(*k)], self.kv.remove(&key(*k)).map_or(Frame::Null, |v| bulk(&v))),
            Cmd::Strlen(k) => {
                (vec!["STRLEN".into(), key(*k)], Frame::Integer(self.kv.get(&key(*k)).map_or(0, |v| v.len()) as i64))
            }
            Cmd::Rename(a, b) => {
                let args = vec!["RENAME".into(), key(*a), key(*b)];
                match self.kv.remove(&key(*a)) {
                    None => (args, Frame::error("ERR no such key")),
                    Some(v) => {
                        self.kv.insert(key(*b), v);
                        (args, Frame::ok())
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_a_plain_model(cmds in proptest::collection::vec(cmd(), 1..80)) {
        let mut e = Engine::new(Config::default(), 7);
        let mut model = Model::default();
        for c in &cmds {
            let (args, expected) = model.apply(c);
            let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            let got = run(&mut e, &argv);
            prop_assert_eq!(got, expected, "command {:?}", args);
        }
        prop_assert_eq!(e.dbsize(), model.kv.len());
    }
}

/// Two engines of one database: run commands at both, exchange effects in
/// both directions, and require equal state and equal replies.
#[test]
fn two_instances_converge_on_strings_and_counters() {
    let mut a = Engine::new(Config { instance: InstanceId(1), active_active: true, ..Config::default() }, 1);
    let mut b = Engine::new(Config { instance: InstanceId(2), active_active: true, ..Config::default() }, 2);
    for e in [&mut a, &mut b] {
        e.db.set_members(&[InstanceId(1), InstanceId(2)]);
    }
    run(&mut a, &["SET", "s", "from-a"]);
    run(&mut b, &["SET", "s", "from-b"]);
    run(&mut a, &["INCRBY", "c", "7"]);
    run(&mut b, &["INCRBY", "c", "3"]);
    run(&mut a, &["SET", "base", "10"]);
    let ea: Vec<_> = a.effects.drain(..).collect();
    let eb: Vec<_> = b.effects.drain(..).collect();
    for e in &eb {
        a.apply_remote(e);
    }
    for e in &ea {
        b.apply_remote(e);
    }
    // Duplicates change nothing.
    for e in &ea {
        assert!(!b.apply_remote(e));
    }
    assert_eq!(a.db.digest(), b.db.digest());
    for k in ["s", "c", "base"] {
        assert_eq!(run(&mut a, &["GET", k]), run(&mut b, &["GET", k]), "key {k}");
    }
    assert_eq!(run(&mut a, &["GET", "c"]), bulk("10"));
    // SET racing INCRBY: the SET's value plus the increment it did not observe.
    run(&mut a, &["SET", "base", "100"]);
    run(&mut b, &["INCRBY", "base", "5"]);
    let ea: Vec<_> = a.effects.drain(..).collect();
    let eb: Vec<_> = b.effects.drain(..).collect();
    for e in &eb {
        a.apply_remote(e);
    }
    for e in &ea {
        b.apply_remote(e);
    }
    assert_eq!(run(&mut a, &["GET", "base"]), bulk("105"));
    assert_eq!(run(&mut b, &["GET", "base"]), bulk("105"));
    assert_eq!(a.db.digest(), b.db.digest());
}

#[test]
fn active_active_refuses_flushall_and_standalone_flushes() {
    let mut aa = Engine::new(Config { active_active: true, ..Config::default() }, 1);
    run(&mut aa, &["SET", "k", "v"]);
    assert!(matches!(run(&mut aa, &["FLUSHALL"]), Frame::Error(_)));
    assert_eq!(aa.dbsize(), 1);
    let mut solo = Engine::new(Config::default(), 1);
    run(&mut solo, &["SET", "k", "v"]);
    assert_eq!(run(&mut solo, &["FLUSHALL"]), Frame::ok());
    assert_eq!(solo.dbsize(), 0);
}

#[test]
fn a_failed_command_commits_nothing() {
    let mut e = Engine::new(Config::default(), 1);
    run(&mut e, &["SET", "s", "abc"]);
    e.effects.clear();
    assert!(matches!(run(&mut e, &["INCR", "s"]), Frame::Error(_)));
    assert!(matches!(run(&mut e, &["SET", "s", "x", "EX", "0"]), Frame::Error(_)));
    assert!(matches!(run(&mut e, &["SET", "s", "x", "NX", "XX"]), Frame::Error(_)));
    assert!(matches!(run(&mut e, &["EXPIRE", "s", "10", "NX", "XX"]), Frame::Error(_)));
    assert!(e.effects.is_empty(), "{:?}", e.effects);
    assert_eq!(run(&mut e, &["GET", "s"]), bulk("abc"));
}

/// Keyspace events: none are recorded by default; with classes enabled the
/// engine records Redis's events, in Redis's order, for those classes only.
#[test]
fn keyspace_events_follow_the_enabled_classes() {
    use crate::notify;
    let mut e = Engine::new(Config::default(), 1);
    run(&mut e, &["SET", "a", "1"]);
    run(&mut e, &["LPUSH", "l", "x"]);
    assert!(e.events.is_empty());
    // Classes without K or E record nothing, as Redis publishes nothing.
    e.set_notify_flags(notify::GENERIC | notify::LIST);
    run(&mut e, &["DEL", "a"]);
    assert!(e.events.is_empty());
    e.set_notify_flags(notify::KEYSPACE | notify::GENERIC | notify::LIST | notify::NEW);
    run(&mut e, &["SET", "b", "1"]);
    run(&mut e, &["RPUSH", "l2", "y"]);
    run(&mut e, &["LMOVE", "l", "l2", "LEFT", "RIGHT"]);
    run(&mut e, &["RENAME", "b", "c"]);
    let got: Vec<(&str, &[u8])> = e.events.iter().map(|ev| (ev.name, &ev.key[..])).collect();
    assert_eq!(
        got,
        vec![
            ("new", &b"b"[..]),
            ("new", b"l2"),
            ("rpush", b"l2"),
            ("rpush", b"l2"),
            ("lpop", b"l"),
            ("del", b"l"),
            ("new", b"c"),
            ("rename_from", b"b"),
            ("rename_to", b"c"),
        ]
    );
}

// ---- streams -------------------------------------------------------------------

fn aa(instance: u16) -> Engine {
    Engine::new(Config { instance: InstanceId(instance), active_active: true, ..Config::default() }, instance as u64)
}

fn stream_acks(e: &Engine) -> Vec<String> {
    e.effects
        .iter()
        .filter_map(|ef| match &ef.op {
            crdt::Op::StreamAck { upto, .. } => Some(upto.to_string()),
            _ => None,
        })
        .collect()
}

/// Spec 1.10: XACK is replicated only when the acked id and every earlier
/// id read by the group are acked. XACK 130 while 120 is pending is held
/// back; acking 120 sends an XACK covering 130.
#[test]
fn stream_xack_is_replicated_only_for_an_acked_prefix() {
    let mut e = aa(1);
    for ms in ["110", "120", "130"] {
        run(&mut e, &["XADD", "s", ms, "f", "v"]);
    }
    run(&mut e, &["XGROUP", "CREATE", "s", "g", "0"]);
    // A second instance that received the stream and read the group too.
    let mut r = aa(2);
    for ef in e.effects.drain(..) {
        r.apply_remote(&ef);
    }
    run(&mut e, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    run(&mut r, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    e.effects.clear();
    let mut sent = Vec::new();
    assert_eq!(run(&mut e, &["XACK", "s", "g", "110-1"]), Frame::Integer(1));
    assert_eq!(stream_acks(&e), ["120-0"], "110 acked: the prefix below 120 is replicated");
    sent.append(&mut e.effects);
    assert_eq!(run(&mut e, &["XACK", "s", "g", "130-1"]), Frame::Integer(1));
    assert!(stream_acks(&e).is_empty(), "130 acked while 120 is pending: held back");
    for ef in sent.drain(..) {
        r.apply_remote(&ef);
    }
    let count = |r: &mut Engine| match run(r, &["XPENDING", "s", "g"]) {
        Frame::Array(v) => v[0].clone(),
        f => panic!("{f:?}"),
    };
    assert_eq!(count(&mut r), Frame::Integer(2), "the receiver dropped 110 only");
    assert_eq!(run(&mut e, &["XACK", "s", "g", "120-1"]), Frame::Integer(1));
    assert_eq!(stream_acks(&e), ["130-1"], "120 acked: an XACK covering 130 is sent");
    for ef in e.effects.drain(..) {
        r.apply_remote(&ef);
    }
    assert_eq!(count(&mut r), Frame::Integer(0), "the receiver dropped 120 and 130");
}

/// Ids: a standalone engine gives Redis's ids; an Active-Active one tags
/// `*` and ms-only ids with the instance (strict, the default), refuses
/// full ids in strict mode, takes them in semi-strict, and gives ms-only
/// ids seq 0 in liberal mode.
#[test]
fn stream_ids_follow_the_uniqueness_mode() {
    let mut solo = Engine::new(Config::default(), 1);
    assert_eq!(run(&mut solo, &["XADD", "s", "5", "f", "v"]), bulk("5-0"));
    assert_eq!(run(&mut solo, &["XADD", "s", "5-*", "f", "v"]), bulk("5-1"));
    assert_eq!(run(&mut solo, &["XADD", "s", "6-3", "f", "v"]), bulk("6-3"));
    let mut e = aa(2);
    assert_eq!(run(&mut e, &["XADD", "s", "5", "f", "v"]), bulk("5-2"));
    assert_eq!(run(&mut e, &["XADD", "s", "5", "f", "v"]), bulk(&format!("5-{}", 65536 + 2)));
    assert!(matches!(run(&mut e, &["XADD", "s", "9-1", "f", "v"]), Frame::Error(m) if String::from_utf8_lossy(&m).contains("strict")));
    let star = run(&mut e, &["XADD", "s", "*", "f", "v"]);
    let Frame::Bulk(id) = star else { panic!("{star:?}") };
    assert!(id.ends_with(b"-2"), "{id:?}");
    e.config.xadd_id_mode = crate::IdMode::SemiStrict;
    assert_eq!(run(&mut e, &["XADD", "t", "9-1", "f", "v"]), bulk("9-1"));
    e.config.xadd_id_mode = crate::IdMode::Liberal;
    assert_eq!(run(&mut e, &["XADD", "u", "7", "f", "v"]), bulk("7-0"));
    // XSETID cannot go below the last id on an Active-Active database.
    assert!(matches!(run(&mut e, &["XSETID", "u", "6-0"]), Frame::Error(_)));
}

/// Two Active-Active engines: DEL vs a concurrent XADD leaves the new
/// entry; DESTROY vs a concurrent CREATE of the same group leaves none.
#[test]
fn stream_engines_converge_on_del_and_group_races() {
    let (mut a, mut b) = (aa(1), aa(2));
    run(&mut a, &["XADD", "s", "100", "f", "old"]);
    run(&mut a, &["XGROUP", "CREATE", "s", "g", "0"]);
    for ef in a.effects.drain(..) {
        b.apply_remote(&ef);
    }
    run(&mut a, &["DEL", "s"]);
    run(&mut b, &["XADD", "s", "200", "f", "new"]);
    run(&mut b, &["XGROUP", "CREATE", "s", "g2", "0"]);
    let (ea, eb): (Vec<_>, Vec<_>) = (a.effects.drain(..).collect(), b.effects.drain(..).collect());
    for ef in &eb {
        a.apply_remote(ef);
    }
    for ef in &ea {
        b.apply_remote(ef);
    }
    for e in [&mut a, &mut b] {
        let r = run(e, &["XRANGE", "s", "-", "+"]);
        assert_eq!(r, Frame::Array(vec![Frame::Array(vec![bulk("200-2"), Frame::Array(vec![bulk("f"), bulk("new")])])]));
        assert_eq!(run(e, &["XINFO", "GROUPS", "s"]), Frame::Array(vec![]), "delete wins for groups");
    }
    assert_eq!(a.db.digest(), b.db.digest());
}

/// Spec 1.10: XREADGROUP never skips. An entry of another instance that
/// arrives with an id below what the group already read here is still
/// delivered by `>` (each instance's tree has its own position), while a
/// plain XREAD past that id does skip it.
#[test]
fn stream_xreadgroup_delivers_a_late_entry_with_a_smaller_id() {
    let (mut a, mut b) = (aa(1), aa(2));
    run(&mut b, &["XADD", "s", "50", "f", "late"]);
    run(&mut a, &["XADD", "s", "100", "f", "early"]);
    run(&mut a, &["XGROUP", "CREATE", "s", "g", "0"]);
    let first = run(&mut a, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    let one = |id: &str, v: &str| {
        Frame::Array(vec![Frame::Array(vec![
            bulk("s"),
            Frame::Array(vec![Frame::Array(vec![bulk(id), Frame::Array(vec![bulk("f"), bulk(v)])])]),
        ])])
    };
    assert_eq!(first, one("100-1", "early"));
    for ef in b.effects.drain(..) {
        a.apply_remote(&ef);
    }
    assert_eq!(run(&mut a, &["XREAD", "STREAMS", "s", "100-1"]), Frame::NullArray, "XREAD past 100-1 skips 50-2");
    assert_eq!(run(&mut a, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]), one("50-2", "late"));
    assert_eq!(run(&mut a, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]), Frame::NullArray);
}

/// COPY and RENAME carry a stream's consumer groups, their last delivered
/// ids and pending entries; RENAME over a stream whose group a reader
/// waits on leaves the moved group in place (not removed by the DEL of the
/// old value).
#[test]
fn copy_and_rename_carry_stream_groups_and_their_pending_entries() {
    let mut e = Engine::new(Config::default(), 1);
    run(&mut e, &["xadd", "s", "1-1", "f", "v"]);
    run(&mut e, &["xadd", "s", "2-1", "f", "v"]);
    run(&mut e, &["xgroup", "create", "s", "g", "0"]);
    run(&mut e, &["xreadgroup", "group", "g", "alice", "count", "1", "streams", "s", ">"]);
    run(&mut e, &["copy", "s", "c"]);
    let pending = |e: &mut Engine, key: &str| run(e, &["xpending", key, "g"]);
    assert_eq!(pending(&mut e, "s"), pending(&mut e, "c"));
    // The copy's group resumes where the original's was: at 2-1.
    for key in ["c", "s"] {
        let read = format!("{:?}", run(&mut e, &["xreadgroup", "group", "g", "bob", "streams", key, ">"]));
        assert!(read.contains("2-1") && !read.contains("1-1"), "{key}: {read}");
    }
    // RENAME over a stream that has a group of the same name.
    run(&mut e, &["xgroup", "create", "t", "g", "$", "mkstream"]);
    run(&mut e, &["xgroup", "create", "u", "g", "$", "mkstream"]);
    run(&mut e, &["xadd", "u", "100-1", "f", "v"]);
    assert_eq!(run(&mut e, &["rename", "u", "t"]), Frame::ok());
    let read = run(&mut e, &["xreadgroup", "group", "g", "carol", "streams", "t", ">"]);
    assert!(format!("{read:?}").contains("100-1"), "the moved group delivers the moved entry: {read:?}");
}

// ---- counters: the INCR family's fast path against the general path ----------

/// A step of the counter test: a command at one engine, or effects of one
/// engine delivered to another.
#[derive(Clone, Debug)]
enum CounterStep {
    /// INCR, DECR, INCRBY or DECRBY (`which`) of `delta` at engine `at`.
    Incr { at: usize, key: usize, which: u8, delta: i64 },
    IncrByFloat { at: usize, key: usize, delta: f64 },
    Set { at: usize, key: usize, value: &'static str },
    Del { at: usize, key: usize },
    SAdd { at: usize, key: usize },
    Deliver { to: usize, from: usize, n: usize },
}

const COUNTER_KEYS: [&str; 2] = ["c0", "c1"];

fn counter_step() -> impl Strategy<Value = CounterStep> {
    let at = || 0usize..3;
    let key = || 0usize..2;
    let ints = prop::sample::select(&[1i64, -1, 5, -100, 0, i64::MAX, i64::MIN, 1 << 62, -(1 << 62), i64::MAX - 1][..]);
    let floats = prop::sample::select(&[0.5, -0.25, 0.1, 1e16, -1e16, 3.3e-5, 1.7e308, -1.7e308, 5e-324][..]);
    let values = prop::sample::select(
        &["0", "10", "-3", "9223372036854775807", "-9223372036854775808", "1.5", "abc", "007", "1e3", ""][..],
    );
    prop_oneof![
        10 => (at(), key(), 0u8..4, ints).prop_map(|(at, key, which, delta)| CounterStep::Incr { at, key, which, delta }),
        2 => (at(), key(), floats).prop_map(|(at, key, delta)| CounterStep::IncrByFloat { at, key, delta }),
        2 => (at(), key(), values).prop_map(|(at, key, value)| CounterStep::Set { at, key, value }),
        1 => (at(), key()).prop_map(|(at, key)| CounterStep::Del { at, key }),
        1 => (at(), key()).prop_map(|(at, key)| CounterStep::SAdd { at, key }),
        6 => (at(), at(), 1usize..6).prop_map(|(to, from, n)| CounterStep::Deliver { to, from, n }),
    ]
}

/// What the INCR family did before its fast path, on a copy of the
/// database: the visible value through the exact sum of every increment
/// (`Cell::shown_exact`), the checks, then `Db::commit_slot` of the op
/// (which looks the key up itself). Returns the reply and the effect.
fn reference_incr(db: &mut crdt::Db, key: &[u8], delta: crdt::Delta, now_ms: u64) -> (Frame, Option<crdt::Effect>) {
    use crdt::{Delta, Shown, Value};
    let shown: Option<Shown<'_>> = match db.get(key).and_then(|en| en.value.as_ref()) {
        None => None,
        Some(Value::Str(c)) => Some(c.shown_exact(c.winner())),
        Some(_) => return (Frame::error(crate::err::WRONGTYPE), None),
    };
    let reply = match delta {
        Delta::Int(d) => {
            let cur = match shown {
                None | Some(Shown::Absent) => 0,
                Some(Shown::Int(i)) => match i64::try_from(i) {
                    Ok(i) => i,
                    Err(_) => return (Frame::error(crate::err::NOT_INT), None),
                },
                Some(Shown::Bytes(b)) => match crdt::cell::parse_i64_strict(b) {
                    Some(i) => i,
                    None => return (Frame::error(crate::err::NOT_INT), None),
                },
                // An integral float within 2^53, result included, counts as
                // its integer (Redis reads the string it shows).
                Some(Shown::Float(x)) => {
                    if x.fract() == 0.0 && x.abs() <= 2f64.powi(53) && (x as i64).checked_add(d).is_some_and(|n| n.abs() <= 1 << 53) {
                        x as i64
                    } else {
                        return (Frame::error(crate::err::NOT_INT), None);
                    }
                }
            };
            let Some(new) = cur.checked_add(d) else { return (Frame::error(crate::err::OVERFLOW), None) };
            Some(Frame::Integer(new))
        }
        Delta::Float(f) => {
            let cur = match shown {
                None | Some(Shown::Absent) => 0.0,
                Some(Shown::Int(i)) => i as f64,
                Some(Shown::Float(x)) => x,
                Some(Shown::Bytes(b)) => match crate::args::float_parse(b) {
                    Some(x) => x,
                    None => return (Frame::error(crate::err::NOT_FLOAT), None),
                },
            };
            if !(cur + f).is_finite() {
                return (Frame::error(crate::err::NAN), None);
            }
            None
        }
    };
    let (effect, _) = db.commit_slot(crdt::Op::Incr { key: key.into(), delta }, now_ms);
    let reply = reply.unwrap_or_else(|| match db.get(key).and_then(|en| en.value.as_ref()) {
        Some(Value::Str(c)) => Frame::Bulk(crate::string::shown_bytes(c.shown_exact(c.winner())).into()),
        _ => unreachable!("an increment leaves a string"),
    });
    (reply, Some(effect))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The INCR family (one lookup, the increment folded in place, the
    /// value read without building an exact sum) replies, commits and
    /// leaves the keyspace exactly as the general path does, at a solo
    /// shard and at three Active-Active instances exchanging effects:
    /// counters with contributions of several instances, concurrent SETs
    /// (numeric and not), float increments mixed in, type conflicts, and
    /// overflow errors.
    #[test]
    fn incr_family_matches_the_general_path(solo in any::<bool>(), steps in proptest::collection::vec(counter_step(), 1..80)) {
        let n = if solo { 1 } else { 3 };
        let mut engines: Vec<Engine> = (0..n)
            .map(|i| {
                let id = InstanceId(i as u16 + 1);
                let mut e = Engine::new(Config { instance: id, active_active: !solo, ..Config::default() }, i as u64);
                if !solo {
                    e.db.set_members(&[InstanceId(1), InstanceId(2), InstanceId(3)]);
                }
                e
            })
            .collect();
        let mut outbox: Vec<Vec<crdt::Effect>> = vec![Vec::new(); n];
        let mut delivered = vec![vec![0usize; n]; n];
        for s in &steps {
            let (at, key, args, delta) = match s {
                CounterStep::Incr { at, key, which, delta } => {
                    let k = COUNTER_KEYS[*key];
                    let (args, d) = match which {
                        0 => (vec!["INCR".to_string(), k.into()], Some(1)),
                        1 => (vec!["DECR".to_string(), k.into()], Some(-1)),
                        2 => (vec!["INCRBY".to_string(), k.into(), delta.to_string()], Some(*delta)),
                        _ => (vec!["DECRBY".to_string(), k.into(), delta.to_string()], delta.checked_neg()),
                    };
                    (*at % n, k, args, Some(d.map(crdt::Delta::Int)))
                }
                CounterStep::IncrByFloat { at, key, delta } => {
                    let k = COUNTER_KEYS[*key];
                    (*at % n, k, vec!["INCRBYFLOAT".to_string(), k.into(), crate::args::fmt_float(*delta)], Some(Some(crdt::Delta::Float(*delta))))
                }
                CounterStep::Set { at, key, value } => {
                    (*at % n, COUNTER_KEYS[*key], vec!["SET".to_string(), COUNTER_KEYS[*key].into(), value.to_string()], None)
                }
                CounterStep::Del { at, key } => (*at % n, COUNTER_KEYS[*key], vec!["DEL".to_string(), COUNTER_KEYS[*key].into()], None),
                CounterStep::SAdd { at, key } => {
                    (*at % n, COUNTER_KEYS[*key], vec!["SADD".to_string(), COUNTER_KEYS[*key].into(), "m".into()], None)
                }
                CounterStep::Deliver { to, from, n: count } => {
                    let (to, from) = (*to % n, *from % n);
                    if to != from {
                        let start = delivered[to][from];
                        let end = (start + count).min(outbox[from].len());
                        for ef in &outbox[from][start..end] {
                            engines[to].apply_remote(ef);
                        }
                        delivered[to][from] = end;
                    }
                    continue;
                }
            };
            let e = &mut engines[at];
            let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            let before = e.effects.len();
            match delta {
                Some(delta) => {
                    let mut reference = e.db.clone();
                    let (want, effect) = match delta {
                        Some(d) => reference_incr(&mut reference, key.as_bytes(), d, 1_000_000),
                        None => (Frame::error("ERR decrement would overflow"), None),
                    };
                    let got = run(e, &argv);
                    prop_assert_eq!(&got, &want, "{:?}", args);
                    prop_assert_eq!(e.effects[before..].to_vec(), effect.into_iter().collect::<Vec<_>>(), "{:?}", args);
                    let ea: Vec<_> = e.db.entries.iter().collect();
                    let eb: Vec<_> = reference.entries.iter().collect();
                    prop_assert_eq!(ea, eb, "{:?}", args);
                    prop_assert_eq!(&e.db.vv, &reference.vv);
                    prop_assert_eq!(&e.db.unfolded, &reference.unfolded);
                    prop_assert_eq!(e.db.digest(), reference.digest());
                }
                None => {
                    run(e, &argv);
                }
            }
            let new: Vec<_> = e.effects.drain(..).collect();
            outbox[at].extend(new);
        }
    }
}

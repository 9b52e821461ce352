//! Streams (spec section 1.10) as time / instance tables.

use super::*;
use crate::stream::{StreamId, SEQ_STRIDE};

fn xadd(k: &str, ms: u64, v: &str) -> Cmd {
    Cmd::XAdd(k.into(), ms, v.into())
}
fn xadd_full(k: &str, ms: u64, seq: u64, v: &str) -> Cmd {
    Cmd::XAddFull(k.into(), ms, seq, v.into())
}
fn create(k: &str, g: &str) -> Cmd {
    Cmd::XGroupCreate(k.into(), g.into(), true)
}
fn destroy(k: &str, g: &str) -> Cmd {
    Cmd::XGroupDestroy(k.into(), g.into())
}
fn ids(t: &Table, inst: usize, k: &str) -> Vec<String> {
    stream(t.db(inst), k).map_or(Vec::new(), |s| s.entries.keys().map(|(id, _)| id.to_string()).collect())
}
fn groups(t: &Table, inst: usize, k: &str) -> Vec<String> {
    stream(t.db(inst), k).map_or(Vec::new(), |s| s.groups.keys().map(|g| String::from_utf8_lossy(g).into_owned()).collect())
}

/// `XADD s *` at instance 1 gives `<ms>-1`, at instance 2 `<ms>-2`; an
/// ms-only id is tagged the same way (`XADD x 110` at 1 -> 110-1, `XADD x
/// 115` at 2 -> 115-2); more ids in one millisecond at one instance step by
/// SEQ_STRIDE and stay ascending, and the instance is `seq % SEQ_STRIDE`.
#[test]
fn stream_ids_are_tagged_with_the_instance() {
    let mut t = Table::new(2);
    t.at(1000, 1, xadd("s", 1000, "a")).at(1000, 2, xadd("s", 1000, "b")).sync();
    assert_eq!(ids(&t, 1, "s"), ["1000-1", "1000-2"]);
    // Same millisecond again at instance 1: above the last id (1000-2).
    t.at(1000, 1, xadd("s", 1000, "c")).sync();
    assert_eq!(ids(&t, 2, "s"), ["1000-1", "1000-2", format!("1000-{}", SEQ_STRIDE + 1).as_str()]);
    t.at(1000, 1, xadd("s", 1000, "d")).sync();
    let last = stream(t.db(1), "s").unwrap().last_id();
    assert_eq!(last, StreamId::new(1000, 2 * SEQ_STRIDE + 1));
    assert_eq!(last.seq % SEQ_STRIDE, 1, "the instance is recoverable from the id");
    t.at(5, 1, xadd("x", 110, "p")).at(5, 2, xadd("x", 115, "q")).sync();
    assert_eq!(ids(&t, 1, "x"), ["110-1", "115-2"]);
    t.expect_converged();
}

/// t1: R1 XADD e1, sync. t2: R1 DEL s, R2 XADD e2 (concurrent). -> only e2
/// remains, and the stream exists everywhere (observed-remove).
#[test]
fn stream_del_vs_concurrent_xadd_keeps_the_new_entry() {
    let mut t = Table::new(2);
    t.at(1000, 1, xadd("s", 1000, "e1")).sync();
    t.at(2000, 1, del("s")).at(2000, 2, xadd("s", 2000, "e2")).sync();
    t.expect_all("s", "s:stream = 2000-2[\"f\", \"e2\"] last=2000-2 added=1 groups=[]");
    // The stream survives XDEL of its last entry (as in Redis), and a DEL
    // that saw everything removes it.
    t.at(3000, 2, Cmd::XDel("s".into(), 0)).sync();
    t.expect_all("s", "s:stream = last=2000-2 added=1 groups=[]");
    t.at(4000, 1, del("s")).sync().settle(5000);
    t.expect_all("s", "");
    assert_eq!(t.db(1).gc_pending(), 0);
}

/// With custom full ids (semi-strict, liberal) the same id written at two
/// instances gives two entries; XDEL of that id removes every observed one.
#[test]
fn stream_duplicate_custom_ids_and_xdel() {
    let mut t = Table::new(3);
    t.at(1000, 1, xadd_full("s", 100, 1, "a")).at(1000, 2, xadd_full("s", 100, 1, "b")).sync();
    assert_eq!(ids(&t, 3, "s"), ["100-1", "100-1"]);
    t.expect_all("s", "s:stream = 100-1[\"f\", \"a\"] 100-1[\"f\", \"b\"] last=100-1 added=2 groups=[]");
    // R3 deletes the id while R2 adds another entry with it concurrently.
    t.at(2000, 3, Cmd::XDel("s".into(), 0)).at(2000, 1, xadd_full("s", 200, 0, "c")).sync();
    t.expect_all("s", "s:stream = 200-0[\"f\", \"c\"] last=200-0 added=3 groups=[]");
}

/// XDEL arriving before the entry it removes (from a third instance) stops
/// it on arrival, and is collected once the entry arrived.
#[test]
fn stream_xdel_before_its_entry_stops_it() {
    let mut t = Table::new(3);
    t.at(1000, 1, xadd("s", 1000, "a")).deliver(1, 2);
    t.at(2000, 2, Cmd::XDel("s".into(), 0));
    t.deliver(2, 3);
    assert_eq!(stream(t.db(3), "s").map(|s| s.removed.len()), Some(1));
    t.deliver(1, 3);
    assert!(ids(&t, 3, "s").is_empty());
    t.sync().settle(3000);
    t.expect_all("s", "s:stream = last=1000-1 added=1 groups=[]");
    assert!(stream(t.db(3), "s").unwrap().removed.is_empty());
}

/// Consumer groups are delete-wins: R1 creates g (seen by R2 only); R2
/// DESTROYs g while R3, which never saw R1's group, creates a group with the
/// same name. The destroy beats both creates everywhere. A create made
/// after observing the destroy stays.
#[test]
fn stream_group_destroy_beats_concurrent_create_even_from_a_third_instance() {
    let mut t = Table::new(3);
    t.at(1000, 1, xadd("s", 1000, "a")).sync();
    t.at(1100, 1, create("s", "g")).deliver(1, 2);
    t.at(1200, 2, destroy("s", "g")).at(1300, 3, create("s", "g")).sync();
    for i in 1..=3 {
        assert!(groups(&t, i, "s").is_empty(), "instance {i}: {:?}", groups(&t, i, "s"));
    }
    t.expect_converged();
    assert!(t.db(1).stats.conflicts.delete_wins.values().sum::<u64>() > 0);
    t.at(1400, 3, create("s", "g")).sync();
    for i in 1..=3 {
        assert_eq!(groups(&t, i, "s"), ["g"]);
    }
    t.settle(2000).expect_converged();
    assert_eq!(t.db(2).gc_pending(), 0, "delete markers collected once every member saw them");
}

/// DEL of a stream beats a concurrent XGROUP CREATE of an unobserved group;
/// the stream's entries follow observed-remove.
#[test]
fn stream_del_beats_concurrent_group_create() {
    let mut t = Table::new(3);
    t.at(1000, 1, xadd("s", 1000, "a")).sync();
    t.at(2000, 1, del("s")).at(2000, 2, Cmd::XGroupCreate("s".into(), "g".into(), false)).at(2000, 3, xadd("s", 2000, "b")).sync();
    t.expect_all("s", "s:stream = 2000-3[\"f\", \"b\"] last=2000-3 added=1 groups=[]");
}

/// An XACK effect removes every id up to its bound from the receivers' PELs
/// (the hold-back that decides the bound is the engine's, see
/// `GroupLocal::ack_floor`).
#[test]
fn stream_ack_floor_holds_back_until_the_prefix_is_acked() {
    use crate::stream::{GroupLocal, Pending};
    let id = |ms| StreamId::new(ms, 1);
    let p = || Pending { consumer: b("c"), delivered_ms: 0, count: 1 };
    let mut g = GroupLocal::starting_at(StreamId::MIN, None);
    g.last_delivered = id(130);
    for ms in [110, 120, 130] {
        g.pel.insert(id(ms), p());
    }
    g.pel.remove(&id(110));
    assert_eq!(g.ack_floor(), StreamId::new(120, 0), "110 acked: the prefix below 120");
    g.pel.remove(&id(130));
    assert_eq!(g.ack_floor(), StreamId::new(120, 0), "130 acked while 120 pending: held back");
    g.pel.remove(&id(120));
    assert_eq!(g.ack_floor(), id(130), "120 acked: the prefix covers 130");
}

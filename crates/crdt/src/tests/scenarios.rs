//! Every example table of spec/active-active.md section 1, as a time /
//! instance table. Times are wall-clock milliseconds; `sync()` delivers
//! every effect to every instance (per-origin order only).

use super::*;

// ---- 1.2 Strings: last write wins ---------------------------------------

/// t1 R1 SET a, t2 R2 SET b (concurrent: b is later) -> b; then SET c (R1)
/// and SET d (R2) ordered by causality through syncs.
#[test]
fn strings_lww_and_causal_order() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "a")).at(2000, 2, set("k", "b")).sync();
    t.expect_all("k", "k:string = \"b\"");
    t.at(3000, 1, set("k", "c")).sync();
    t.expect_all("k", "k:string = \"c\"");
    // R2's clock is behind (500 < 3000): causality still orders d after c.
    t.at(500, 2, set("k", "d")).sync();
    t.expect_all("k", "k:string = \"d\"");
}

/// Concurrent writes at the same wall-clock time: the lower instance id wins.
#[test]
fn strings_exact_tie_goes_to_lower_instance() {
    let mut t = Table::new(3);
    t.at(1000, 3, set("k", "three")).at(1000, 2, set("k", "two")).sync();
    t.expect_all("k", "k:string = \"two\"");
    t.at(1000, 1, set("j", "one")).at(1000, 2, set("j", "two")).sync();
    t.expect_all("j", "j:string = \"one\"");
}

// ---- 1.3 Counters --------------------------------------------------------

/// R1 INCRBY 7, R2 INCRBY 3 -> 10; then R1 DECRBY 3, R2 INCRBY 6 -> 13.
#[test]
fn counters_accumulate() {
    let mut t = Table::new(2);
    t.at(1000, 1, incrby("k", 7)).at(1000, 2, incrby("k", 3)).sync();
    t.expect_all("k", "k:string = 10");
    t.at(2000, 1, incrby("k", -3)).at(2000, 2, incrby("k", 6)).sync();
    t.expect_all("k", "k:string = 13");
    t.settle(3000).expect_all("k", "k:string = 13");
}

/// SET racing INCRBY 5 gives SET's value + 5, whichever is later.
#[test]
fn set_racing_incrby_keeps_the_increment() {
    for (t_set, t_incr) in [(1000, 2000), (2000, 1000)] {
        let mut t = Table::new(2);
        t.at(500, 1, set("k", "10")).sync();
        t.at(t_set, 1, set("k", "100")).at(t_incr, 2, incrby("k", 5)).sync();
        t.expect_all("k", "k:string = 105");
    }
}

/// DEL racing INCR leaves the unobserved increment.
#[test]
fn del_racing_incr_leaves_unobserved_increment() {
    let mut t = Table::new(2);
    t.at(1000, 1, incrby("k", 10)).sync();
    t.at(2000, 1, del("k")).at(2000, 2, incrby("k", 1)).sync();
    t.expect_all("k", "k:string = 1");
}

/// A non-numeric base hides increments; a later numeric SET that did not
/// observe them shows them again.
#[test]
fn non_numeric_base_hides_increments() {
    let mut t = Table::new(3);
    t.at(1000, 1, set("k", "abc")).at(1000, 2, incrby("k", 4)).sync();
    t.expect_all("k", "k:string = \"abc\"");
    // R3 never saw R2's increment before writing "1" (deliver only R1's).
    let mut t = Table::new(3);
    t.at(1000, 1, set("k", "abc")).at(1000, 2, incrby("k", 4));
    t.deliver(1, 3).at(2000, 3, set("k", "1")).sync();
    t.expect_all("k", "k:string = 5");
}

/// Float counters: increments sum exactly, rounded once.
#[test]
fn float_counters_sum_exactly() {
    let mut t = Table::new(3);
    t.at(1000, 1, incrbyfloat("k", 0.1)).at(1000, 2, incrbyfloat("k", 0.2)).at(1000, 3, incrbyfloat("k", 0.3)).sync();
    t.expect_all("k", "k:string = 0.6");
    t.settle(2000).expect_all("k", "k:string = 0.6");
}

// ---- 1.5 Hashes ----------------------------------------------------------

/// R1 HSET key1 field1 a, R2 HSET key1 field2 b -> both fields everywhere.
#[test]
fn hash_fields_union() {
    let mut t = Table::new(2);
    t.at(1000, 1, hset("key1", "field1", "a")).at(1000, 2, hset("key1", "field2", "b")).sync();
    t.expect_all("key1", "key1:hash = field1=\"a\" field2=\"b\" ");
}

/// HDEL removes only the field versions it observed: a concurrent HSET
/// survives (add/update wins).
#[test]
fn hdel_vs_concurrent_hset_keeps_the_update() {
    let mut t = Table::new(2);
    t.at(1000, 1, hset("h", "f", "old")).at(1000, 1, hset("h", "g", "x")).sync();
    t.at(2000, 1, hdel("h", "f")).at(2000, 2, hset("h", "f", "new")).sync();
    t.expect_all("h", "h:hash = f=\"new\" g=\"x\" ");
    // Key DEL vs concurrent HSET of another field: the new field survives.
    t.at(3000, 1, del("h")).at(3000, 2, hset("h", "z", "1")).sync();
    t.expect_all("h", "h:hash = z=\"1\" ");
}

/// HINCRBY / HINCRBYFLOAT make field counters; concurrent increments add, an
/// HSET racing them keeps the unobserved ones.
#[test]
fn hash_field_counters() {
    let mut t = Table::new(3);
    t.at(1000, 1, hincrby("h", "n", 5)).at(1000, 2, hincrby("h", "n", 7)).sync();
    t.expect_all("h", "h:hash = n=12 ");
    t.at(2000, 1, hincrbyfloat("h", "f", 1.5)).at(2000, 2, hincrbyfloat("h", "f", 2.25)).at(2000, 3, hincrbyfloat("h", "f", 0.1)).sync();
    t.expect_all("h", "h:hash = f=3.85 n=12 ");
    t.at(3000, 1, hset("h", "n", "100")).at(3000, 3, hincrby("h", "n", 1)).sync();
    t.expect_all("h", "h:hash = f=3.85 n=101 ");
    t.settle(4000).expect_all("h", "h:hash = f=3.85 n=101 ");
}

// ---- 1.6 Sets ------------------------------------------------------------

/// Both have {a,b}; R1 SREM a, R2 SADD c, then R1 SREM c (c not seen yet by
/// R1: nothing to remove) -> {b, c}.
#[test]
fn set_observed_remove() {
    let mut t = Table::new(2);
    t.at(1000, 1, sadd("s", "a")).at(1000, 1, sadd("s", "b")).sync();
    t.at(2000, 1, srem("s", "a")).at(2000, 2, sadd("s", "c"));
    assert!(!t.try_at(3000, 1, srem("s", "c")), "R1 has no c to remove");
    t.sync();
    t.expect_all("s", "s:set = [\"b\", \"c\"]");
}

/// SREM that did see one add of a member does not remove a concurrent re-add.
#[test]
fn srem_vs_concurrent_sadd_of_same_member() {
    let mut t = Table::new(2);
    t.at(1000, 1, sadd("s", "a")).sync();
    t.at(2000, 1, srem("s", "a")).at(2000, 2, sadd("s", "a")).sync();
    t.expect_all("s", "s:set = [\"a\"]");
}

/// DEL vs concurrent SADD: the key keeps the concurrently added member.
#[test]
fn del_vs_concurrent_sadd() {
    let mut t = Table::new(2);
    t.at(1000, 1, sadd("s", "e1")).sync();
    t.at(2000, 1, del("s")).at(2000, 2, sadd("s", "e2")).sync();
    t.expect_all("s", "s:set = [\"e2\"]");
}

// ---- 1.7 Sorted sets -----------------------------------------------------

/// R1 ZADD Z 1.1 x at t1, R2 ZADD Z 2.1 x at t2 -> 2.1.
#[test]
fn zadd_later_wins() {
    let mut t = Table::new(2);
    t.at(1000, 1, zadd("Z", 1.1, "x")).at(2000, 2, zadd("Z", 2.1, "x")).sync();
    t.expect_all("Z", "Z:zset = x:2.1 ");
}

/// Same time: instance 1's score wins everywhere.
#[test]
fn zadd_same_time_instance_one_wins() {
    let mut t = Table::new(2);
    t.at(1000, 2, zadd("Z", 2.1, "x")).at(1000, 1, zadd("Z", 1.1, "x")).sync();
    t.expect_all("Z", "Z:zset = x:1.1 ");
}

/// ZADD 1.1 then concurrent ZINCRBY 1.0 at two instances -> 3.1.
#[test]
fn zincrby_concurrent_sum() {
    let mut t = Table::new(3);
    t.at(1000, 1, zadd("Z", 1.1, "x")).sync();
    t.at(2000, 2, zincrby("Z", 1.0, "x")).at(2000, 3, zincrby("Z", 1.0, "x")).sync();
    t.expect_all("Z", "Z:zset = x:3.1 ");
    t.settle(3000).expect_all("Z", "Z:zset = x:3.1 ");
}

/// Z={x:4.1} synced; R1 ZREM x, R2 ZINCRBY 2.0 x (local 6.1) -> 2.0, and x
/// stays.
#[test]
fn zrem_vs_concurrent_zincrby() {
    let mut t = Table::new(2);
    t.at(1000, 1, zadd("Z", 4.1, "x")).sync();
    t.at(2000, 1, zrem("Z", "x")).at(2000, 2, zincrby("Z", 2.0, "x"));
    assert_eq!(t.read(2, "Z"), "Z:zset = x:6.1 ");
    assert_eq!(t.read(1, "Z"), "");
    t.sync();
    t.expect_all("Z", "Z:zset = x:2.0 ");
}

/// The index orders members by score, ties by member.
#[test]
fn zset_order() {
    let mut t = Table::new(2);
    t.at(1000, 1, zadd("Z", 2.0, "b")).at(1000, 2, zadd("Z", 1.0, "c")).at(1001, 2, zadd("Z", 2.0, "a")).sync();
    t.expect_all("Z", "Z:zset = c:1.0 a:2.0 b:2.0 ");
}

// ---- 1.13 Expiry ---------------------------------------------------------

/// EXPIRE 10 vs EXPIRE 50 -> 50; the instance that set 50 owns the expiry.
#[test]
fn expire_longest_wins() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "v")).sync();
    t.at(2000, 1, expireat("k", 12_000)).at(2000, 2, expireat("k", 52_000)).sync();
    t.expect_all("k", "k:string ttl=52000 = \"v\"");
    for i in 1..=2 {
        assert_eq!(t.db(i).get(b"k").unwrap().ttl_winner().unwrap().dot.origin, InstanceId(2));
    }
}

/// PERSIST beats any concurrent EXPIRE.
#[test]
fn persist_beats_expire() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "v")).at(1500, 1, expireat("k", 5000)).sync();
    t.at(2000, 1, expireat("k", 99_000)).at(2000, 2, persist("k")).sync();
    t.expect_all("k", "k:string = \"v\"");
    // A causally later EXPIRE simply replaces it.
    t.at(3000, 1, expireat("k", 10_000)).sync();
    t.expect_all("k", "k:string ttl=10000 = \"v\"");
}

/// The owner of the winning TTL expires the key with a DEL; it removes only
/// what the owner observed.
#[test]
fn expiry_owner_deletes() {
    let mut t = Table::new(2);
    t.at(1000, 1, sadd("s", "a")).sync();
    t.at(2000, 2, expireat("s", 3000)).sync();
    let owner = t.db(1).get(b"s").unwrap().ttl_winner().unwrap().dot.origin;
    assert_eq!(owner, InstanceId(2));
    // R2 expires the key while R1 concurrently adds b.
    t.at(3000, 2, del("s")).at(3000, 1, sadd("s", "b")).sync();
    t.expect_all("s", "s:set = [\"b\"]");
}

/// SET ... KEEPTTL keeps the TTL; a plain SET removes the TTL it observed.
#[test]
fn set_keepttl_and_plain_set() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "v")).at(1001, 1, expireat("k", 9000)).sync();
    t.at(2000, 2, Cmd::SetKeepTtl("k".into(), "w".into())).sync();
    t.expect_all("k", "k:string ttl=9000 = \"w\"");
    t.at(3000, 1, set("k", "x")).sync();
    t.expect_all("k", "k:string = \"x\"");
}

// ---- 1.12 Type conflicts -------------------------------------------------

/// SET k vs SADD k concurrently: the later write (HLC) wins the key, the
/// loser is hidden; both instances agree.
#[test]
fn type_conflict_later_wins() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "str")).at(2000, 2, sadd("k", "m")).sync();
    t.expect_all("k", "k:set = [\"m\"]");
    for i in 1..=2 {
        assert_eq!(t.db(i).get(b"k").unwrap().hidden().len(), 1, "the string is hidden, not discarded");
    }
    let mut t = Table::new(2);
    t.at(2000, 1, set("k", "str")).at(1000, 2, sadd("k", "m")).sync();
    t.expect_all("k", "k:string = \"str\"");
}

/// Same HLC: the lower instance id wins the key.
#[test]
fn type_conflict_tie_lower_instance() {
    let mut t = Table::new(2);
    t.at(1000, 2, set("k", "str")).at(1000, 1, sadd("k", "m")).sync();
    t.expect_all("k", "k:set = [\"m\"]");
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "str")).at(1000, 2, hset("k", "f", "v")).sync();
    t.expect_all("k", "k:string = \"str\"");
}

/// DEL of the winner after the conflict removes every type it observed:
/// nothing is revealed, at every instance.
#[test]
fn type_conflict_del_reveals_nothing() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "str")).at(2000, 2, sadd("k", "m")).sync();
    t.at(3000, 1, del("k")).sync();
    t.expect_all("k", "");
    assert!(t.db(1).entries.is_empty() && t.db(2).entries.is_empty());
}

/// DEL issued before the conflict was seen removes only its own type; the
/// concurrent write of the other type survives everywhere.
#[test]
fn type_conflict_del_of_unseen_type() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "str")).sync();
    // R1 deletes the string while R2 (concurrently) overwrites it with a set
    // created after a DEL of its own.
    t.at(2000, 2, del("k")).at(2001, 2, sadd("k", "m")).at(2500, 1, set("k", "str2")).at(2600, 1, del("k")).sync();
    t.expect_all("k", "k:set = [\"m\"]");
}

/// The loser keeps receiving concurrent updates while hidden; a later write
/// to it makes it visible again, identically everywhere.
#[test]
fn type_conflict_hidden_loser_can_win_later() {
    let mut t = Table::new(3);
    t.at(1000, 1, set("k", "str")).at(500, 2, sadd("k", "a"));
    t.deliver(1, 2).deliver(2, 1);
    assert_eq!(t.read(1, "k"), "k:string = \"str\"");
    assert_eq!(t.read(2, "k"), "k:string = \"str\"");
    // R3 saw only R2's set and adds to it, later than the string.
    t.deliver(2, 3).at(3000, 3, sadd("k", "b")).sync();
    t.expect_all("k", "k:set = [\"a\", \"b\"]");
}

/// DEL racing EXPIRE: the TTL version survives alone (add wins) and the key
/// is absent. A later write first removes that leftover
/// (`Db::leftover_ctx`), so the new value has no TTL, as in every serial
/// order of the commands; a write concurrent with the DEL keeps the TTL.
#[test]
fn del_racing_expire_leaves_no_ttl_on_a_new_value() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "v")).sync();
    t.at(2000, 1, del("k")).at(2000, 2, expireat("k", 60_000)).sync();
    t.expect_all("k", "");
    assert!(t.db(1).leftover_ctx(b"k").is_some());
    t.at(3000, 1, sadd("k", "m")).sync();
    t.expect_all("k", "k:set = [\"m\"]");
    assert!(t.db(2).leftover_ctx(b"k").is_none() && t.db(2).entries[&b"k"[..]].ttl().is_empty());
    // An EXPIRE concurrent with the DEL survives it, with the write made
    // where that TTL was set.
    t.at(4000, 2, expireat("k", 70_000));
    t.at(5000, 1, del("k")).at(5000, 2, sadd("k", "x")).sync();
    t.expect_all("k", "k:set ttl=70000 = [\"x\"]");
}

/// The loser of a type conflict stays hidden while the winner has items; if
/// member removals empty the winner, the loser shows again (identically
/// everywhere). An engine that wants the key gone instead removes it with
/// DEL (Entry::ctx, covering the hidden loser too) when the last member goes.
#[test]
fn type_conflict_loser_shows_when_winner_empties() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "str")).at(2000, 2, sadd("k", "m")).sync();
    t.at(3000, 1, srem("k", "m")).sync();
    t.expect_all("k", "k:string = \"str\"");
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "str")).at(2000, 2, sadd("k", "m")).sync();
    t.at(3000, 1, del("k")).sync();
    t.expect_all("k", "");
}

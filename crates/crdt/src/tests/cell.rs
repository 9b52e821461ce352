//! The compact forms of a cell and of its values: a cell holding one version
//! and no increment is kept inline (`Cell`'s one-version form), any other in
//! two thin vectors; a version's value is inline up to 14 bytes
//! (`TinyBlob`). Each test goes across a boundary between forms and checks
//! that what the cell shows, encodes and compares equal to does not depend
//! on the form it is in.

use proptest::prelude::*;

use super::*;
use crate::blob::TINY_INLINE_MAX;
use crate::cell::{Run, Version};
use crate::id::{Dot, Hlc};
use crate::num::Sum;

fn vv(dots: &[(u16, u64)]) -> VersionVector {
    let mut v = VersionVector::new();
    for &(o, s) in dots {
        v.raise(InstanceId(o), s);
    }
    v
}

/// The same cell rebuilt from its parts: equal, and in the same form.
fn check_canonical(c: &Cell) {
    let one = c.versions().len() == 1 && c.runs().is_empty();
    assert_eq!(c.is_one(), one, "{c:?}: one version and no run must be the inline form");
    let rebuilt = Cell::from_parts(c.versions().to_vec(), c.runs().to_vec());
    assert_eq!(&rebuilt, c);
    assert_eq!(rebuilt.is_one(), c.is_one());
    assert!(c.versions().windows(2).all(|w| w[0].pdot < w[1].pdot), "versions sorted: {c:?}");
    assert!(c.runs().windows(2).all(|w| (w[0].origin, w[0].first) < (w[1].origin, w[1].first)), "runs sorted: {c:?}");
    assert_eq!(c.is_empty(), c.versions().is_empty() && c.runs().is_empty());
}

#[test]
fn values_on_both_sides_of_the_inline_boundary_read_encode_and_replicate_alike() {
    for len in [0usize, 1, 8, TINY_INLINE_MAX - 1, TINY_INLINE_MAX, TINY_INLINE_MAX + 1, 16, 64, 1000] {
        let value: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let mut t = Table::new(2);
        t.at(1000, 1, set("k", &value)).sync();
        t.expect_all("k", &format!("k:string = {value:?}"));
        let Some(Value::Str(c)) = &t.db(1).get(b"k").unwrap().value else { panic!() };
        assert!(c.is_one());
        assert_eq!(c.shown(), Shown::Bytes(value.as_bytes()));
        assert_eq!(c.versions()[0].value.is_inline(), len <= TINY_INLINE_MAX, "len {len}");
        // A snapshot round trip keeps the value and the form.
        let snap = crate::snapshot::encode(t.db(1), &[]);
        let back = crate::snapshot::decode(&snap).expect("decodes").db;
        assert_eq!(back.get(b"k"), t.db(1).get(b"k"));
        assert_eq!(crate::snapshot::encode(&back, &[]), snap, "len {len}");
        assert_eq!(back.digest(), t.db(1).digest());
        // Overwritten by a value on the other side of the boundary.
        let other = if len <= TINY_INLINE_MAX { "x".repeat(TINY_INLINE_MAX + 1) } else { "y".to_string() };
        t.at(2000, 2, set("k", &other)).sync();
        t.expect_all("k", &format!("k:string = {other:?}"));
    }
}

/// Two origins write concurrently: the cell goes from one version to two;
/// a write that observed both brings it back to one, inline.
#[test]
fn a_cell_goes_from_one_version_to_many_and_back() {
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "one")).sync();
    t.at(2000, 1, set("k", "from-1")).at(2001, 2, set("k", "from-2-is-a-long-value")).sync();
    for i in 1..=2 {
        let Some(Value::Str(c)) = &t.db(i).get(b"k").unwrap().value else { panic!() };
        assert_eq!(c.versions().len(), 2, "instance {i}: both concurrent versions stay");
        assert!(!c.is_one());
        check_canonical(c);
        assert_eq!(c.shown(), Shown::Bytes(b"from-2-is-a-long-value"), "the greater stamp wins");
    }
    t.expect_all("k", "k:string = \"from-2-is-a-long-value\"");
    t.at(3000, 1, set("k", "observed")).sync();
    for i in 1..=2 {
        let Some(Value::Str(c)) = &t.db(i).get(b"k").unwrap().value else { panic!() };
        assert!(c.is_one(), "instance {i}: back to the inline form");
        check_canonical(c);
    }
    t.expect_all("k", "k:string = \"observed\"");
    t.at(4000, 2, del("k")).sync();
    assert!(t.db(1).get(b"k").is_none_or(|e| e.value.is_none()));
}

/// The same, on a bare cell: each step's form and contents.
#[test]
fn cell_steps_keep_the_canonical_form() {
    let d = |o, s| Dot::new(o, s);
    let mut c = Cell::default();
    check_canonical(&c);
    assert!(c.write(d(1, 1), Hlc(10), &b"a"[..]));
    assert!(c.is_one());
    assert!(!c.write(d(1, 1), Hlc(10), &b"a"[..]), "the same version twice");
    assert!(c.write(d(2, 1), Hlc(11), &b"b-long-enough-to-spill"[..]));
    assert!(c.write(d(1, 2), Hlc(9), &b"c"[..]));
    check_canonical(&c);
    assert_eq!(c.versions().iter().map(|v| v.dot()).collect::<Vec<_>>(), [d(1, 1), d(1, 2), d(2, 1)]);
    assert_eq!(c.winner().map(|v| &v.value[..]), Some(&b"b-long-enough-to-spill"[..]));
    assert_eq!(c.remove(&vv(&[(1, 2)])), 2);
    assert!(c.is_one(), "{c:?}");
    assert_eq!(c.remove(&vv(&[(1, 5)])), 0, "another origin's version is not covered");
    assert_eq!(c.remove(&vv(&[(2, 1)])), 1);
    assert!(c.is_empty() && !c.is_one());
    check_canonical(&c);
    assert_eq!(c.shown(), Shown::Absent);
}

/// Increments on a cell: a base and a run are not the inline form; the
/// write that observed them leaves one version, inline again.
#[test]
fn counters_on_a_cell_leave_and_regain_the_inline_form() {
    let d = |o, s| Dot::new(o, s);
    let mut c = Cell::default();
    c.write(d(1, 1), Hlc(1), &b"10"[..]);
    assert!(c.is_one());
    c.incr_fold(d(1, 2), Hlc(2), Delta::Int(5), true);
    assert!(!c.is_one());
    check_canonical(&c);
    assert_eq!(c.shown(), Shown::Int(15));
    c.incr_fold(d(2, 1), Hlc(3), Delta::Int(-3), false);
    c.incr_fold(d(1, 3), Hlc(4), Delta::Float(0.5), true);
    check_canonical(&c);
    assert_eq!(c.shown(), Shown::Float(12.5));
    assert_eq!(c.runs().len(), 2, "one run per origin, folded");
    // A write observing everything: one version again.
    let mut ctx = VersionVector::new();
    c.ctx(&mut ctx);
    assert_eq!(c.remove(&ctx), 3);
    c.write(d(1, 4), Hlc(5), &b"plain"[..]);
    assert!(c.is_one());
    check_canonical(&c);
    // A counter with no base, then the base's removal leaving the runs.
    let mut n = Cell::default();
    n.incr(d(3, 1), Hlc(1), Delta::Int(2));
    n.incr(d(3, 2), Hlc(2), Delta::Int(3));
    assert_eq!(n.shown(), Shown::Int(5));
    assert_eq!(n.fold(&vv(&[(3, 2)])), 1);
    assert_eq!(n.runs(), &[Run { origin: InstanceId(3), first: 1, last: 2, hlc: Hlc(2), sum: Sum::of(Delta::Int(5)) }][..]);
    n.write(d(1, 9), Hlc(3), &b"1"[..]);
    assert!(!n.is_one());
    assert_eq!(n.shown(), Shown::Int(6));
    n.remove(&vv(&[(1, 9)]));
    check_canonical(&n);
    assert_eq!(n.shown(), Shown::Int(5), "the increments stay once the base goes");
    // Through the database, two origins: SET racing INCRBY.
    let mut t = Table::new(2);
    t.at(1000, 1, set("k", "7")).sync();
    t.at(2000, 1, set("k", "100")).at(2000, 2, incrby("k", 5)).sync();
    t.expect_all("k", "k:string = 105");
}

#[derive(Clone, Debug)]
enum Step {
    Write(u16, u64, usize),
    Remove(Vec<(u16, u64)>),
    Incr(u16, u64, i64, bool),
    FoldAll,
    Fold(Vec<(u16, u64)>),
    Merge(Vec<(u16, u64, usize)>, Vec<(u16, u64)>, Vec<(u16, u64)>),
}

fn step() -> impl Strategy<Value = Step> {
    let dot = || (1u16..4, 1u64..12);
    let ctx = || prop::collection::vec(dot(), 0..3);
    prop_oneof![
        4 => (1u16..4, 1u64..12, 0usize..20).prop_map(|(o, s, l)| Step::Write(o, s, l)),
        3 => ctx().prop_map(Step::Remove),
        3 => (1u16..4, 1u64..12, -5i64..5, any::<bool>()).prop_map(|(o, s, d, f)| Step::Incr(o, s, d, f)),
        1 => Just(Step::FoldAll),
        1 => ctx().prop_map(Step::Fold),
        1 => (prop::collection::vec((1u16..4, 1u64..12, 0usize..20), 0..3), ctx(), ctx())
            .prop_map(|(w, a, b)| Step::Merge(w, a, b)),
    ]
}

fn value_of(o: u16, s: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (o as u64 * 31 + s * 7 + i as u64) as u8).collect()
}

proptest! {
    /// Any sequence of cell operations leaves the cell canonical (sorted,
    /// inline exactly when one version and no run) and its register
    /// versions what a plain sorted list would hold.
    #[test]
    fn every_step_leaves_a_canonical_cell(steps in prop::collection::vec(step(), 0..24)) {
        let mut c = Cell::default();
        let mut model: Vec<Version> = Vec::new();
        for st in steps {
            match st {
                Step::Write(o, s, len) => {
                    // (A version is written once: its dot names one value.)
                    let value = value_of(o, s, len);
                    let new = c.write(Dot::new(o, s), Hlc(s), &value[..]);
                    let at = model.binary_search_by_key(&Dot::new(o, s), |v| v.dot());
                    prop_assert_eq!(new, at.is_err());
                    if let Err(i) = at {
                        model.insert(i, Version::new(Dot::new(o, s), Hlc(s), &value[..]));
                    }
                }
                Step::Remove(ctx) => {
                    // Only contexts that cover whole runs (as removals do).
                    let ctx = vv(&ctx);
                    if c.runs().iter().all(|r| r.last <= ctx.get(r.origin) || r.first > ctx.get(r.origin)) {
                        c.remove(&ctx);
                        model.retain(|v| !ctx.covers(v.dot()));
                    }
                }
                Step::Incr(o, s, d, fold) => c.incr_fold(Dot::new(o, 100 + s), Hlc(s), Delta::Int(d), fold),
                Step::FoldAll => c.fold_all(),
                Step::Fold(ctx) => { c.fold(&vv(&ctx)); }
                Step::Merge(writes, mine, theirs) => {
                    let mut other = Cell::default();
                    for (o, s, len) in writes {
                        other.write(Dot::new(o, s), Hlc(s), &value_of(o, s, len)[..]);
                    }
                    let (mine, theirs) = (vv(&mine), vv(&theirs));
                    c.merge(&other, &mine, &theirs);
                    model.retain(|v| other.versions().iter().any(|o| o.pdot == v.pdot) || !theirs.covers(v.dot()));
                    for o in other.versions() {
                        if !mine.covers(o.dot()) {
                            if let Err(i) = model.binary_search_by_key(&o.pdot, |v| v.pdot) {
                                model.insert(i, o.clone());
                            }
                        }
                    }
                }
            }
            check_canonical(&c);
            prop_assert_eq!(c.versions(), &model[..]);
            for v in c.versions() {
                prop_assert_eq!(v.value.is_inline(), v.value.len() <= TINY_INLINE_MAX);
            }
        }
    }
}

//! The counter fast paths give what the general paths give:
//! `Cell::incr_fold` is `Cell::incr` then (with `fold`) `Cell::fold_all`;
//! `Cell::shown` is `Cell::shown_exact` of the winner; `Db::commit_incr`
//! with the key's position is `Db::commit_slot` of the same `Op::Incr`.
//! Cells and databases hold contributions of several instances, folded or
//! not, integer and float increments mixed, numeric and other bases.

use proptest::prelude::*;

use super::*;
use crate::cell::Version;
use crate::id::{Dot, Hlc};
use crate::sim::KEYS;

const ORIGINS: u16 = 4;

fn int_delta() -> impl Strategy<Value = i64> {
    prop::sample::select(&[1i64, -1, 2, 7, -100, 0, i64::MAX, i64::MIN, 1 << 62, -(1 << 62)][..])
}

fn float_delta() -> impl Strategy<Value = f64> {
    // Finite only: partials holding NaN would make equal cells compare unequal.
    prop::sample::select(&[0.5, -0.25, 0.1, 1e16, -1e16, 0.0, -0.0, 3.3e-5, 1.7e308, -1.7e308, 1e300, 5e-324][..])
}

fn delta() -> impl Strategy<Value = Delta> {
    prop_oneof![4 => int_delta().prop_map(Delta::Int), 1 => float_delta().prop_map(Delta::Float)]
}

fn base_value() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &["0", "10", "-7", "9223372036854775807", "-9223372036854775808", "1.5", "-0.5", "1e3", "abc", "", "007", " 1", "inf"][..],
    )
}

/// One step building or changing a cell. Dots are (origin, seq): `Next`
/// takes the origin's next sequence number, `Back` one it may have used
/// already or skipped (increments arriving out of order, duplicates).
#[derive(Clone, Debug)]
enum Step {
    Incr { origin: u16, back: Option<u64>, delta: Delta, fold: bool },
    Write { origin: u16, value: &'static str },
    /// Removes what the context of the cell covers for some origins (a
    /// write observing part of the cell).
    Remove { origins: Vec<u16> },
    FoldAll,
}

fn step() -> impl Strategy<Value = Step> {
    let origin = || 1u16..=ORIGINS;
    prop_oneof![
        8 => (origin(), prop::option::weighted(0.15, 1u64..6), delta(), prop::bool::weighted(0.7))
            .prop_map(|(origin, back, delta, fold)| Step::Incr { origin, back, delta, fold }),
        1 => (origin(), base_value()).prop_map(|(origin, value)| Step::Write { origin, value }),
        1 => prop::collection::vec(origin(), 0..3).prop_map(|origins| Step::Remove { origins }),
        1 => Just(Step::FoldAll),
    ]
}

/// The cell's next dot of `origin` (or an earlier one, for `back`).
fn next_dot(seqs: &mut [u64], origin: u16, back: Option<u64>) -> Dot {
    let s = &mut seqs[origin as usize];
    let seq = match back {
        Some(b) if *s > b => *s - b,
        _ => {
            *s += 1;
            *s
        }
    };
    Dot::new(origin, seq)
}

fn check_shown(c: &Cell) -> Result<(), TestCaseError> {
    let winner: Option<&Version> = c.winner();
    prop_assert_eq!(c.shown(), c.shown_exact(winner), "cell {:?}", c);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(debug_assertions) { 512 } else { 4096 }, ..ProptestConfig::default() })]

    /// `incr_fold` (in place when it can) leaves the cell `incr` then
    /// `fold_all` leave, and `shown` shows what the exact sum shows, after
    /// every step.
    #[test]
    fn incr_fold_and_shown_match_the_general_path(steps in prop::collection::vec(step(), 0..40)) {
        let mut fast = Cell::default();
        let mut slow = Cell::default();
        let mut seqs = vec![0u64; ORIGINS as usize + 1];
        let mut hlc = 100u64;
        for s in &steps {
            hlc += 1;
            match s {
                Step::Incr { origin, back, delta, fold } => {
                    let dot = next_dot(&mut seqs, *origin, *back);
                    // Clocks are not monotonic across instances.
                    let h = Hlc(hlc ^ (*origin as u64 * 3));
                    fast.incr_fold(dot, h, *delta, *fold);
                    slow.incr(dot, h, *delta);
                    if *fold {
                        slow.fold_all();
                    }
                }
                Step::Write { origin, value } => {
                    let dot = next_dot(&mut seqs, *origin, None);
                    for c in [&mut fast, &mut slow] {
                        c.write(dot, Hlc(hlc), value.as_bytes());
                    }
                }
                Step::Remove { origins } => {
                    let mut ctx = VersionVector::new();
                    slow.ctx(&mut ctx);
                    let mut part = VersionVector::new();
                    for &o in origins {
                        part.raise(crate::id::InstanceId(o), ctx.get(crate::id::InstanceId(o)));
                    }
                    fast.remove(&part);
                    slow.remove(&part);
                }
                Step::FoldAll => {
                    fast.fold_all();
                    slow.fold_all();
                }
            }
            prop_assert_eq!(&fast, &slow, "after {:?}", s);
            check_shown(&fast)?;
        }
    }
}

/// Something happening to the database of instance 1.
#[derive(Clone, Debug)]
enum DbStep {
    /// A local INCR family command.
    Incr(usize, Delta),
    /// A local SET (observing the whole key, as the engine's SET does).
    Set(usize, &'static str),
    Del(usize),
    /// An increment of instance 2 or 3 arriving.
    RemoteIncr(u16, usize, Delta),
    /// Instances 2 and 3 announce they observed everything (so gc folds).
    AnnounceAll,
    Gc,
}

fn db_step() -> impl Strategy<Value = DbStep> {
    let k = || 0usize..3;
    prop_oneof![
        8 => (k(), delta()).prop_map(|(k, d)| DbStep::Incr(k, d)),
        1 => (k(), base_value()).prop_map(|(k, v)| DbStep::Set(k, v)),
        1 => k().prop_map(DbStep::Del),
        4 => (2u16..=3, k(), delta()).prop_map(|(o, k, d)| DbStep::RemoteIncr(o, k, d)),
        1 => Just(DbStep::AnnounceAll),
        1 => Just(DbStep::Gc),
    ]
}

fn same_db(a: &Db, b: &Db) -> Result<(), TestCaseError> {
    let ea: Vec<_> = a.entries.iter().collect();
    let eb: Vec<_> = b.entries.iter().collect();
    prop_assert_eq!(ea, eb);
    prop_assert_eq!(&a.vv, &b.vv);
    prop_assert_eq!(&a.unfolded, &b.unfolded);
    prop_assert_eq!(&a.observed, &b.observed);
    prop_assert_eq!(a.digest(), b.digest());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(debug_assertions) { 256 } else { 2048 }, ..ProptestConfig::default() })]

    /// `Db::commit_incr` with the position the engine found (or none)
    /// commits the effect, leaves the key where, and leaves the database
    /// as `Db::commit_slot` of the same op does, solo or not.
    #[test]
    fn commit_incr_matches_commit_slot(solo in any::<bool>(), steps in prop::collection::vec(db_step(), 0..60)) {
        let mut fast = Db::new(InstanceId(1));
        if !solo {
            fast.set_members(&[InstanceId(1), InstanceId(2), InstanceId(3)]);
        }
        let mut slow = fast.clone();
        let mut remote_seq = [0u64; 4];
        let mut wall = 1_000u64;
        for s in &steps {
            wall += 1;
            match s {
                DbStep::Incr(k, d) => {
                    let key = KEYS[*k].as_bytes();
                    let at = fast.entries.get_index_of(key);
                    let (ef, sf) = fast.commit_incr(key, *d, wall, at);
                    let (es, ss) = slow.commit_slot(Op::Incr { key: key.into(), delta: *d }, wall);
                    prop_assert_eq!(ef, es);
                    // (The general path looks the key up in `apply` and
                    // finds the same position.)
                    prop_assert_eq!(sf, ss);
                }
                DbStep::Set(k, v) => {
                    for db in [&mut fast, &mut slow] {
                        let key = KEYS[*k];
                        let ctx = db.entries.get(key.as_bytes()).map(|e| e.ctx()).unwrap_or_default();
                        db.commit(Op::Set { key: key.as_bytes().into(), ctx, value: v.as_bytes().into(), keep_ttl: false }, wall);
                    }
                }
                DbStep::Del(k) => {
                    for db in [&mut fast, &mut slow] {
                        let key = KEYS[*k];
                        let ctx = db.entries.get(key.as_bytes()).map(|e| e.ctx()).unwrap_or_default();
                        db.commit(Op::Del { key: key.as_bytes().into(), ctx }, wall);
                    }
                }
                DbStep::RemoteIncr(o, k, d) => {
                    remote_seq[*o as usize] += 1;
                    let e = Effect {
                        dot: Dot::new(*o, remote_seq[*o as usize]),
                        hlc: Hlc::from_ms(wall),
                        op: Op::Incr { key: KEYS[*k].as_bytes().into(), delta: *d },
                    };
                    prop_assert_eq!(fast.apply(&e), slow.apply(&e));
                }
                DbStep::AnnounceAll => {
                    for o in 2u16..=3 {
                        remote_seq[o as usize] += 1;
                        let mut vv = fast.vv.clone();
                        vv.raise(InstanceId(o), remote_seq[o as usize]);
                        let e = Effect { dot: Dot::new(o, remote_seq[o as usize]), hlc: Hlc::from_ms(wall), op: Op::Observed { vv } };
                        fast.apply(&e);
                        slow.apply(&e);
                    }
                }
                DbStep::Gc => {
                    prop_assert_eq!(fast.gc(), slow.gc());
                }
            }
            same_db(&fast, &slow)?;
            for (_, e) in fast.entries.iter() {
                if let Some(Value::Str(c)) = &e.value {
                    check_shown(c)?;
                }
            }
        }
    }
}

/// The in-place increment of a solo counter: one run, folded, whatever
/// the number of INCRs; overflowing i64 in the run is exact (i128).
#[test]
fn a_solo_counter_keeps_one_run() {
    let mut db = Db::new(InstanceId(1));
    for i in 0..100 {
        let at = db.entries.get_index_of(b"c");
        db.commit_incr(b"c", Delta::Int(if i % 2 == 0 { i64::MAX } else { 1 }), 1_000 + i as u64, at);
    }
    let Some(Value::Str(c)) = &db.get(b"c").unwrap().value else { panic!("a string") };
    assert_eq!(c.runs().len(), 1);
    assert_eq!(c.runs()[0].first, 1);
    assert_eq!(c.runs()[0].last, 100);
    assert_eq!(c.shown(), Shown::Int(50 * i64::MAX as i128 + 50));
    assert_eq!(c.shown(), c.shown_exact(c.winner()));
}

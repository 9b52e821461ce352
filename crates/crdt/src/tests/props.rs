//! Property tests (proptest, with shrinking): convergence under any
//! delivery order, duplicates and merges; merge is a join; gc never changes
//! what a client reads; exact sums do not depend on grouping.

use proptest::prelude::*;
use rand::SeedableRng;

use super::*;
use crate::sim::{Action, World, EXTREME, FLOATS, INTS, KEYS, MEMBERS, STRINGS};

fn s(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(xs).prop_map(String::from)
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![9 => prop::sample::select(&FLOATS[..]), 1 => prop::sample::select(&EXTREME[..])]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let k = || s(&KEYS);
    let m = || s(&MEMBERS);
    let v = || s(&STRINGS);
    let i = || prop::sample::select(&INTS[..]);
    prop_oneof![
        3 => (k(), v()).prop_map(|(k, v)| Cmd::Set(k, v)),
        1 => (k(), v()).prop_map(|(k, v)| Cmd::SetKeepTtl(k, v)),
        2 => (k(), i()).prop_map(|(k, d)| Cmd::Incr(k, d)),
        1 => (k(), float()).prop_map(|(k, d)| Cmd::IncrF(k, d)),
        2 => k().prop_map(Cmd::Del),
        2 => (k(), m(), v()).prop_map(|(k, m, v)| Cmd::HSet(k, m, v)),
        1 => (k(), m(), i()).prop_map(|(k, m, d)| Cmd::HIncr(k, m, d)),
        1 => (k(), m(), float()).prop_map(|(k, m, d)| Cmd::HIncrF(k, m, d)),
        2 => (k(), m()).prop_map(|(k, m)| Cmd::HDel(k, m)),
        3 => (k(), m()).prop_map(|(k, m)| Cmd::SAdd(k, m)),
        2 => (k(), m()).prop_map(|(k, m)| Cmd::SRem(k, m)),
        2 => (k(), m(), float()).prop_map(|(k, m, x)| Cmd::ZAdd(k, m, x)),
        2 => (k(), m(), float()).prop_map(|(k, m, x)| Cmd::ZIncr(k, m, x)),
        2 => (k(), m()).prop_map(|(k, m)| Cmd::ZRem(k, m)),
        2 => (k(), 1_000_000u64..1_030_000).prop_map(|(k, t)| Cmd::ExpireAt(k, t)),
        1 => k().prop_map(Cmd::Persist),
        1 => (k(), 0u16..3, 1u8..5).prop_map(|(k, i, v)| Cmd::PfAdd(k, i, v)),
        2 => (k(), prop::option::of(0usize..8), v()).prop_map(|(k, at, v)| Cmd::LInsert(k, at, v)),
        1 => (k(), 0usize..8, v()).prop_map(|(k, i, v)| Cmd::LSet(k, i, v)),
        1 => (k(), 0usize..8).prop_map(|(k, i)| Cmd::LRem(k, i)),
        2 => (k(), 1_000_000u64..1_000_100, v()).prop_map(|(k, t, v)| Cmd::XAdd(k, t, v)),
        1 => (k(), 1_000u64..1_003, 0u64..3, v()).prop_map(|(k, t, q, v)| Cmd::XAddFull(k, t, q, v)),
        1 => (k(), 0usize..8).prop_map(|(k, i)| Cmd::XDel(k, i)),
        1 => (k(), 0usize..3).prop_map(|(k, n)| Cmd::XTrim(k, n)),
        1 => (k(), 1_000_000u64..1_000_200).prop_map(|(k, t)| Cmd::XSetId(k, t)),
        1 => (k(), m(), prop::bool::ANY).prop_map(|(k, g, mk)| Cmd::XGroupCreate(k, g, mk)),
        1 => (k(), m()).prop_map(|(k, g)| Cmd::XGroupDestroy(k, g)),
    ]
}

/// Instance indices are taken modulo the number of instances.
fn action() -> impl Strategy<Value = Action> {
    let i = || 0usize..5;
    prop_oneof![
        12 => (i(), cmd(), prop::bool::weighted(0.75)).prop_map(|(at, cmd, strict)| Action::Op { at, cmd, strict }),
        8 => (i(), i(), 1usize..6).prop_map(|(to, from, n)| Action::Deliver { to, from, n }),
        1 => (i(), i(), 0usize..8).prop_map(|(to, from, back)| Action::Dup { to, from, back }),
        1 => (i(), i()).prop_map(|(into, from)| Action::Merge { into, from, stale: None }),
        1 => (i(), i(), 0usize..4).prop_map(|(into, from, s)| Action::Merge { into, from, stale: Some(s) }),
        1 => i().prop_map(|at| Action::Snapshot { at }),
        2 => i().prop_map(|at| Action::Announce { at }),
        2 => i().prop_map(|at| Action::Gc { at }),
        1 => i().prop_map(|at| Action::ExpireCycle { at }),
        3 => prop::sample::select(&[0u64, 1, 3, 50, 700, 4000][..]).prop_map(|ms| Action::Tick { ms }),
        1 => (i(), -5000i64..5000).prop_map(|(at, ms)| Action::Skew { at, ms }),
    ]
}

fn world() -> impl Strategy<Value = (usize, Vec<i64>, Vec<Action>, u64)> {
    (2usize..=5, prop::collection::vec(-5000i64..5000, 5), prop::collection::vec(action(), 0..120), any::<u64>())
}

fn cases() -> u32 {
    if cfg!(debug_assertions) {
        256
    } else {
        2048
    }
}

/// Everything that should be equal between two results of merges, whoever
/// merged. (`observed` is left out: a merging instance records that it now
/// observed the other side, which depends on who merges.)
fn full_state(db: &Db) -> String {
    let mut t: Vec<String> = db
        .tombstones
        .iter()
        .map(|(k, l)| {
            // A tombstone whose context the instance covers is inert (only
            // waiting for gc): merge may drop it earlier.
            let mut l: Vec<String> =
                l.iter().filter(|t| !t.ctx.le(&db.vv)).map(|t| format!("{:?}{:?}", t.scope, t.ctx)).collect();
            l.sort();
            format!("{k:?}{l:?}")
        })
        .filter(|s| !s.ends_with("[]"))
        .collect();
    t.sort();
    format!("{:x}\n{}vv={:?}\ntombstones={t:?}", db.digest(), render(db), db.vv)
}

fn with_observed(db: &Db) -> String {
    format!("{}\nobserved={:?}", full_state(db), db.observed)
}

fn run(n: usize, skews: &[i64], actions: &[Action]) -> Result<World, TestCaseError> {
    let mut w = World::new(n, skews);
    for a in actions {
        w.step(a).map_err(TestCaseError::fail)?;
    }
    Ok(w)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// After every effect reached every instance (any interleaving that keeps
    /// per-origin order, duplicates, merges of current and old snapshots,
    /// skewed clocks), and a final announce + gc round, all instances hold the
    /// same state and show the same data.
    #[test]
    fn instances_converge((n, skews, actions, seed) in world()) {
        let mut w = run(n, &skews, &actions)?;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        w.finish(&mut rng).map_err(TestCaseError::fail)?;
    }

    /// Merge is commutative, associative and idempotent on states reached by
    /// random operations at different instances.
    #[test]
    fn merge_is_a_join((_, skews, actions, _) in world()) {
        let w = run(3, &skews, &actions)?;
        let (a, b, c) = (&w.insts[0].db, &w.insts[1].db, &w.insts[2].db);
        let merged = |x: &Db, y: &Db| {
            let mut m = x.clone();
            m.merge(y);
            check_invariants(&m).map_err(TestCaseError::fail)?;
            Ok::<Db, TestCaseError>(m)
        };
        // Commutative (up to who we are: compare what is shared).
        let ab = merged(a, b)?;
        let ba = merged(b, a)?;
        prop_assert_eq!(full_state(&ab), full_state(&ba));
        // Associative.
        let ab_c = merged(&ab, c)?;
        let bc = merged(b, c)?;
        let a_bc = merged(a, &bc)?;
        prop_assert_eq!(full_state(&ab_c), full_state(&a_bc));
        // Idempotent, also after a merge.
        prop_assert_eq!(with_observed(&merged(a, a)?), with_observed(a));
        prop_assert_eq!(with_observed(&merged(&ab, b)?), with_observed(&ab));
        prop_assert_eq!(with_observed(&merged(&ab_c, &ab)?), with_observed(&ab_c));
    }

    /// Garbage collection never changes what a client can read, wherever it
    /// runs and whatever it collects.
    #[test]
    fn gc_never_changes_reads((n, skews, actions, _) in world()) {
        let w = run(n, &skews, &actions)?;
        for inst in &w.insts {
            let mut db = inst.db.clone();
            let before = (render(&db), db.digest());
            db.gc();
            db.gc();
            prop_assert_eq!((render(&db), db.digest()), before);
        }
    }

    /// Exact sums: any grouping and order of the same increments gives the
    /// same rounded value, equal to the correctly rounded exact sum.
    #[test]
    fn exact_sum_ignores_grouping(
        xs in prop::collection::vec(prop_oneof![
            4 => any::<f64>().prop_filter("finite", |x| x.is_finite()),
            4 => (-1000i32..1000, -60i32..60).prop_map(|(m, e)| m as f64 * 2f64.powi(e)),
            2 => prop::sample::select(&[0.1, 0.2, 0.3, 1e16, -1e16, 1.7e308, -1.7e308, f64::MAX, -f64::MAX, 5e-324, -0.0][..]),
        ], 0..12),
        ints in prop::collection::vec(any::<i64>(), 0..3),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        order in any::<u64>(),
    ) {
        use crate::num::{Delta, Sum};
        let mut all: Vec<Delta> = xs.iter().map(|&x| Delta::Float(x)).chain(ints.iter().map(|&i| Delta::Int(i))).collect();
        let mut seq = Sum::default();
        for &d in &all {
            seq.add(d);
        }
        // Shuffle deterministically, then fold in random groups.
        let mut rng = rand::rngs::SmallRng::seed_from_u64(order);
        rand::seq::SliceRandom::shuffle(&mut all[..], &mut rng);
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(all.len() + 1)).collect();
        bounds.push(0);
        bounds.push(all.len());
        bounds.sort();
        let mut grouped = Sum::default();
        for w in bounds.windows(2) {
            let mut g = Sum::default();
            for &d in &all[w[0]..w[1]] {
                g.add(d);
            }
            grouped.add_sum(&g);
        }
        let (a, b) = (seq.to_f64(), grouped.to_f64());
        prop_assert!(a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0), "{a} vs {b}");
        let exact = exact::round(&xs, &ints);
        prop_assert!(a.to_bits() == exact.to_bits() || (a == 0.0 && exact == 0.0), "{a} vs exact {exact}");
    }
}

/// An independent oracle: the exact sum as a big fixed-point integer in
/// units of 2^-1074, rounded to nearest-even by hand.
mod exact {
    const LIMBS: usize = 40; // 2560 bits: 2^-1074 .. 2^1486

    fn add_shifted(acc: &mut [u64; LIMBS], neg: bool, mant: u64, shift: u32) {
        // value = mant << shift (shift counted from 2^-1074)
        let mut v = [0u64; LIMBS];
        let (w, b) = ((shift / 64) as usize, shift % 64);
        v[w] |= mant << b;
        if b > 0 && w + 1 < LIMBS {
            v[w + 1] |= mant >> (64 - b);
        }
        if neg {
            // two's complement negate
            let mut carry = 1u128;
            for x in v.iter_mut() {
                let s = (!*x) as u128 + carry;
                *x = s as u64;
                carry = s >> 64;
            }
        }
        let mut carry = 0u128;
        for i in 0..LIMBS {
            let s = acc[i] as u128 + v[i] as u128 + carry;
            acc[i] = s as u64;
            carry = s >> 64;
        }
    }

    pub fn round(xs: &[f64], ints: &[i64]) -> f64 {
        let mut acc = [0u64; LIMBS];
        for &x in xs {
            if x == 0.0 {
                continue;
            }
            let bits = x.to_bits();
            let e = ((bits >> 52) & 0x7ff) as u32;
            let m = bits & ((1 << 52) - 1);
            let (mant, shift) = if e == 0 { (m, 0) } else { (m | 1 << 52, e - 1) };
            add_shifted(&mut acc, x < 0.0, mant, shift);
        }
        for &i in ints {
            if i != 0 {
                add_shifted(&mut acc, i < 0, i.unsigned_abs(), 1074);
            }
        }
        let neg = acc[LIMBS - 1] >> 63 == 1;
        if neg {
            let mut carry = 1u128;
            for x in acc.iter_mut() {
                let s = (!*x) as u128 + carry;
                *x = s as u64;
                carry = s >> 64;
            }
        }
        // Highest set bit.
        let Some(top_limb) = (0..LIMBS).rev().find(|&i| acc[i] != 0) else { return 0.0 };
        let top = top_limb as i64 * 64 + 63 - acc[top_limb].leading_zeros() as i64;
        let bit = |i: i64| -> u64 {
            if i < 0 {
                0
            } else {
                (acc[(i / 64) as usize] >> (i % 64)) & 1
            }
        };
        // Keep 53 bits from `top` down, but never below 2^-1074 (bit 0).
        let low = (top - 52).max(0);
        let mut mant: u64 = 0;
        for i in (low..=top).rev() {
            mant = mant << 1 | bit(i);
        }
        let half = low > 0 && bit(low - 1) == 1;
        let sticky = low > 1 && (0..low - 1).any(|i| bit(i) == 1);
        if half && (sticky || mant & 1 == 1) {
            mant += 1;
        }
        // value = mant * 2^(low - 1074)
        let mag = mant as f64 * 2f64.powi((low - 1074).clamp(-1074, 2000) as i32 / 2) * 2f64.powi((low - 1074) as i32 - (low - 1074).clamp(-1074, 2000) as i32 / 2);
        if neg {
            -mag
        } else {
            mag
        }
    }
}

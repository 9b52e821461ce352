//! The packed hash encoding (`crate::fields`): records round-trip every
//! kind of cell, conversion happens exactly past the limits, and a packed
//! hash behaves as the map of cells it encodes, whatever the operations.

use proptest::prelude::*;

use crate::cell::{Cell, Run, Version};
use crate::fields::{FieldRef, Fields, Limits};
use crate::id::{Dot, Hlc, InstanceId, SEQ_MAX};
use crate::num::{Delta, Sum};
use crate::{Blob, Db, Effect, FastMap, Op, VersionVector};

const BIG: Limits = Limits { entries: usize::MAX, value: usize::MAX };

fn b(s: &str) -> Blob {
    s.as_bytes().into()
}

fn version(origin: u16, seq: u64, hlc: u64, value: &str) -> Version {
    Version::new(Dot::new(origin, seq), Hlc(hlc), b(value))
}

fn run(origin: u16, first: u64, last: u64, hlc: u64, sum: Sum) -> Run {
    Run { origin: InstanceId(origin), first, last, hlc: Hlc(hlc), sum }
}

/// Cells of every shape a record must hold.
fn sample_cells() -> Vec<(Blob, Cell)> {
    let base = 1_700_000_000_000u64 << 16;
    let mut out = Vec::new();
    let one = |v: Version| Cell::from_parts([v], []);
    out.push((b("plain"), one(version(1, 1, base, "v"))));
    out.push((b(""), one(version(2, SEQ_MAX, base + 7, ""))));
    // Before the base, after it by far, with and without a logical counter.
    out.push((b("early"), one(version(65535, 3, base - (5000 << 16) + 3, "x"))));
    out.push((b("late"), one(version(3, 1 << 40, base + (86_400_000 << 16), "y"))));
    out.push((b("zero-hlc"), one(version(1, 9, 0, "z"))));
    out.push((b("max-hlc"), one(version(1, 10, u64::MAX, "z"))));
    out.push((b("long"), one(version(1, 11, base, &"L".repeat(300)))));
    let mut two = Cell::default();
    two.push_version(version(1, 20, base, "a"));
    two.push_version(version(2, 5, base + 1, "b"));
    out.push((b("concurrent"), two));
    let mut counter = Cell::default();
    counter.push_run(run(1, 4, 9, base, Sum::of(Delta::Int(-(1 << 62)))));
    counter.push_run(run(2, 1, 1, base + 2, Sum { int: i128::MIN / 3, ..Sum::default() }));
    out.push((b("counter"), counter));
    let mut float = Cell::default();
    float.push_version(version(3, 30, base, "1.5"));
    let mut sum = Sum::of(Delta::Float(0.1));
    sum.add(Delta::Float(1e300 * 1e10));
    sum.add(Delta::Float(-3.3e-5));
    float.push_run(run(3, 31, 40, base + 9, sum));
    out.push((b("float"), float));
    out
}

fn packed_of(cells: &[(Blob, Cell)]) -> Fields {
    let mut h = Fields::default();
    for (f, c) in cells {
        h.update(f, &BIG, true, false, |cell| *cell = c.clone());
    }
    assert!(h.is_packed());
    h
}

#[test]
fn records_round_trip_every_cell_shape() {
    let cells = sample_cells();
    let h = packed_of(&cells);
    assert_eq!(h.len(), cells.len());
    for (f, c) in &cells {
        let got = h.get(f).unwrap_or_else(|| panic!("{f:?} missing"));
        assert_eq!(*got.as_cell(), *c, "field {:?}", String::from_utf8_lossy(f));
        let simple = c.versions().len() == 1 && c.runs().is_empty();
        assert_eq!(matches!(got, FieldRef::One { .. }), simple, "simple records only for one version and no runs");
        assert_eq!(got.shown(), c.shown());
        assert_eq!(got.rank(), c.rank());
        let (mut a, mut b) = (VersionVector::new(), VersionVector::new());
        got.ctx(&mut a);
        c.ctx(&mut b);
        assert_eq!(a, b);
    }
    // Insertion order, as a listpack.
    let order: Vec<&[u8]> = h.keys().collect();
    let want: Vec<&[u8]> = cells.iter().map(|(f, _)| &f[..]).collect();
    assert_eq!(order, want);
    // Equal to the same cells in a map, both ways; the map round-trips too.
    let map = Fields::Map(Box::new(cells.iter().cloned().collect()));
    assert_eq!(h, map);
    assert_eq!(map, h);
    let mut converted = h.clone();
    converted.convert();
    assert!(!converted.is_packed());
    assert_eq!(converted, h);
}

#[test]
fn a_hash_value_keeps_value_at_32_bytes() {
    // A packed hash inline (a thin vector, base, count, hint), a map boxed: a string's cell (32)
    // is the largest variant and the others fit beside its niche.
    assert_eq!(std::mem::size_of::<Fields>(), 24);
    assert_eq!(std::mem::size_of::<crate::Value>(), 32);
}

#[test]
fn a_simple_record_is_its_bytes_plus_a_few() {
    // field 9 + value 8 + lengths 2 + origin 1 + seq 3 + hlc 1 (at the base) or 2.
    let mut h = Fields::default();
    let hlc = Hlc::from_ms(1_700_000_000_000);
    h.update(b"field:001", &BIG, true, false, |c| c.write(Dot::new(1, 1_000_000), hlc, b("00000001")));
    h.update(b"field:002", &BIG, true, false, |c| c.write(Dot::new(2, 1_000_001), Hlc::from_ms(1_700_000_003_000), b("00000002")));
    let Fields::Packed(p) = &h else { panic!("packed") };
    assert_eq!(p.bytes(), 24 + 25, "the second record's HLC is 3 s after the base: 2 bytes");
}

#[test]
fn converts_exactly_past_the_entry_limit() {
    for entries in [0usize, 1, 2, 5] {
        let limits = Limits { entries, value: 64 };
        let mut h = Fields::default();
        for i in 0..=entries {
            h.update(format!("f{i}").as_bytes(), &limits, true, false, |c| c.write(Dot::new(1, i as u64 + 1), Hlc(1), b("v")));
            assert_eq!(h.is_packed(), i < entries, "entries {entries}, after {} fields", i + 1);
        }
        // One way: removing fields keeps the map (as Redis keeps a hashtable).
        let all = VersionVector::from_pairs([(1, 100)]);
        h.remove_field(b"f0", &all, false);
        assert!(!h.is_packed());
    }
}

#[test]
fn converts_exactly_past_the_value_limit() {
    let limits = Limits { entries: 512, value: 8 };
    let write = |field: &str, value: &str| {
        let mut h = Fields::default();
        h.update(field.as_bytes(), &limits, true, false, |c| c.write(Dot::new(1, 1), Hlc(1), b(value)));
        h.is_packed()
    };
    assert!(write("abcdefgh", "12345678"));
    assert!(!write("abcdefghi", "1"), "a field name past the limit");
    assert!(!write("a", "123456789"), "a value past the limit");
    // A counter's shown value counts, as Redis checks HINCRBYFLOAT's result.
    let incr = |delta: Delta| {
        let mut h = Fields::default();
        h.update(b"tmp", &limits, true, false, |c| c.write(Dot::new(1, 1), Hlc(1), b("0")));
        h.update(b"tmp", &limits, true, false, |c| c.incr(Dot::new(1, 2), Hlc(2), delta));
        h.is_packed()
    };
    assert!(incr(Delta::Float(0.000005)), "0.000005 is 8 bytes");
    assert!(!incr(Delta::Float(0.0000005)), "0.0000005 is 9 bytes");
    assert!(incr(Delta::Int(12_345_678)));
    assert!(!incr(Delta::Int(123_456_789)));
}

#[test]
fn concurrent_versions_and_removals_in_place() {
    let mut h = Fields::default();
    for f in ["a", "b", "c"] {
        h.update(f.as_bytes(), &BIG, true, false, |c| c.write(Dot::new(1, 1), Hlc(10), b(f)));
    }
    // A concurrent write to b: two versions, the later HLC shows.
    h.update(b"b", &BIG, true, false, |c| c.write(Dot::new(2, 1), Hlc(20), b("B2")));
    assert!(h.is_packed());
    let got = h.get(b"b").expect("b");
    assert!(matches!(got, FieldRef::Owned(_)));
    assert_eq!(got.shown(), crate::Shown::Bytes(b"B2"));
    // A removal that saw only instance 1's version leaves the other, simple again.
    assert_eq!(h.remove_field(b"b", &VersionVector::from_pairs([(1, 1)]), false), Some(true));
    assert!(matches!(h.get(b"b"), Some(FieldRef::One { .. })));
    // HSET's removal half keeps the emptied field in its place for the add.
    assert_eq!(h.remove_field(b"b", &VersionVector::from_pairs([(2, 1)]), true), Some(false));
    assert_eq!(h.len(), 3);
    h.update(b"b", &BIG, true, false, |c| c.write(Dot::new(3, 1), Hlc(30), b("B3")));
    assert_eq!(h.keys().collect::<Vec<_>>(), [&b"a"[..], b"b", b"c"]);
    // Without keep_empty the field goes.
    assert_eq!(h.remove_field(b"a", &VersionVector::from_pairs([(1, 1)]), false), Some(false));
    assert_eq!(h.keys().collect::<Vec<_>>(), [&b"b"[..], b"c"]);
    assert_eq!(h.remove_field(b"zz", &VersionVector::from_pairs([(1, 1)]), false), None);
}

#[test]
fn the_digest_and_snapshot_do_not_depend_on_the_encoding() {
    let mut seqs = [0u64; 4];
    let effects: Vec<Effect> = (1..=40u64)
        .map(|i| {
            let origin = (i % 3) as usize + 1;
            seqs[origin] += 1;
            let field = format!("f{}", i % 7).into_bytes().into();
            let op = match i % 5 {
                0 => Op::HIncr { key: b("h"), field, delta: Delta::Int(i as i64) },
                _ => Op::HSet { key: b("h"), field, ctx: VersionVector::new(), value: format!("v{i}").into_bytes().into() },
            };
            Effect { dot: Dot::new(origin as u16, seqs[origin]), hlc: Hlc::from_ms(1000 + i), op }
        })
        .collect();
    let mut packed = Db::new(InstanceId(1));
    let mut map = Db::new(InstanceId(1));
    map.hash_limits = Limits { entries: 0, value: 64 };
    // Per-origin order only: apply origin by origin.
    for origin in 1..=3u16 {
        for e in effects.iter().filter(|e| e.dot.origin.0 == origin) {
            packed.apply(e);
            map.apply(e);
        }
    }
    let is_packed = |db: &Db| match db.get(b"h").and_then(|e| e.value.as_ref()) {
        Some(crate::Value::Hash(h)) => h.is_packed(),
        other => panic!("not a hash: {other:?}"),
    };
    assert!(is_packed(&packed) && !is_packed(&map));
    assert_eq!(packed.digest(), map.digest());
    assert_eq!(packed.get(b"h"), map.get(b"h"), "equal values across encodings");
    let from_packed = crate::snapshot::decode(&crate::snapshot::encode(&packed, &[])).expect("decodes").db;
    let from_map = crate::snapshot::decode(&crate::snapshot::encode(&map, &[])).expect("decodes").db;
    assert_eq!(from_packed.digest(), packed.digest());
    assert_eq!(from_map.digest(), packed.digest());
    // A loaded small hash is packed again.
    assert!(is_packed(&from_packed) && is_packed(&from_map));
}

#[test]
fn merge_keeps_a_packed_side_packed_while_it_fits() {
    let mine = VersionVector::new();
    let theirs = VersionVector::from_pairs([(2, 5)]);
    let mut a = Fields::default();
    let mut other = Fields::default();
    other.update(b"x", &BIG, true, false, |c| c.write(Dot::new(2, 5), Hlc(5), b("1")));
    a.merge(&other, &mine, &theirs, &Limits::default());
    assert!(a.is_packed());
    assert_eq!(a, other);
    let mut small = Fields::default();
    small.merge(&other, &mine, &theirs, &Limits { entries: 0, value: 64 });
    assert!(!small.is_packed());
    assert_eq!(small, other);
}

/// One step on a hash's fields.
#[derive(Clone, Debug)]
enum Step {
    Write(usize, u16, String),
    Incr(usize, u16, i64, bool),
    /// A removal with the field's observed context, less one origin's
    /// items if `Some` (an origin that had not seen them).
    Remove(usize, Option<u16>, bool),
    RemoveAll(Option<u16>),
    Fold(Vec<(u16, u64)>),
}

fn step() -> impl Strategy<Value = Step> {
    let vv = || prop::collection::vec((1u16..4, 0u64..30), 0..3);
    prop_oneof![
        4 => (0usize..6, 1u16..4, "[a-z]{0,5}").prop_map(|(f, o, v)| Step::Write(f, o, v)),
        2 => (0usize..6, 1u16..4, -9i64..9, any::<bool>()).prop_map(|(f, o, d, fl)| Step::Incr(f, o, d, fl)),
        2 => (0usize..6, prop::option::of(1u16..4), any::<bool>()).prop_map(|(f, o, k)| Step::Remove(f, o, k)),
        1 => prop::option::of(1u16..4).prop_map(Step::RemoveAll),
        1 => vv().prop_map(Step::Fold),
    ]
}

fn without(vv: &VersionVector, origin: Option<u16>) -> VersionVector {
    VersionVector::from_pairs(vv.iter().filter(|(id, _)| Some(id.0) != origin).map(|(id, seq)| (id.0, seq)))
}

proptest! {
    /// A packed hash (any limits) and a plain map of cells, given the same
    /// steps, hold the same fields and cells after every step.
    #[test]
    fn packed_behaves_as_the_map_of_cells(steps in prop::collection::vec(step(), 1..60), entries in 0usize..8, value in 0usize..8) {
        let limits = Limits { entries, value };
        let mut h = Fields::default();
        let mut model: FastMap<Blob, Cell> = FastMap::default();
        let mut seq = [0u64; 4];
        let field = |i: usize| -> Blob { format!("f{i}").into_bytes().into() };
        for s in steps {
            match s {
                Step::Write(f, o, v) => {
                    seq[o as usize] += 1;
                    let (dot, hlc) = (Dot::new(o, seq[o as usize]), Hlc(seq[o as usize] * 7 + o as u64));
                    h.update(&field(f), &limits, true, false, |c| c.write(dot, hlc, b(&v)));
                    model.entry(field(f)).or_default().write(dot, hlc, b(&v));
                }
                Step::Incr(f, o, d, fold) => {
                    seq[o as usize] += 1;
                    let (dot, hlc) = (Dot::new(o, seq[o as usize]), Hlc(seq[o as usize] * 7 + o as u64));
                    let delta = if d % 2 == 0 { Delta::Int(d) } else { Delta::Float(d as f64 / 4.0) };
                    h.update(&field(f), &limits, true, false, |c| { c.incr(dot, hlc, delta); if fold { c.fold_all() } });
                    let c = model.entry(field(f)).or_default();
                    c.incr(dot, hlc, delta);
                    if fold { c.fold_all() }
                }
                Step::Remove(f, unseen, keep) => {
                    let mut ctx = VersionVector::new();
                    if let Some(c) = model.get(&field(f)) {
                        c.ctx(&mut ctx);
                    }
                    let ctx = without(&ctx, unseen);
                    let got = h.remove_field(&field(f), &ctx, keep);
                    let want = model.get_mut(&field(f)).map(|c| { c.remove(&ctx); !c.is_empty() });
                    prop_assert_eq!(got, want);
                    if !keep && want == Some(false) {
                        model.remove(&field(f));
                    }
                    if keep && want == Some(false) {
                        // The add that follows HSET's removal half.
                        seq[1] += 1;
                        let (dot, hlc) = (Dot::new(1, seq[1]), Hlc(seq[1] * 7 + 1));
                        h.update(&field(f), &limits, true, false, |c| c.write(dot, hlc, b("re")));
                        model.get_mut(&field(f)).expect("kept").write(dot, hlc, b("re"));
                    }
                }
                Step::RemoveAll(unseen) => {
                    let mut ctx = VersionVector::new();
                    model.values().for_each(|c| c.ctx(&mut ctx));
                    let ctx = without(&ctx, unseen);
                    let want: usize = model.values_mut().map(|c| c.remove(&ctx)).sum();
                    model.retain(|_, c| !c.is_empty());
                    prop_assert_eq!(h.remove(&ctx), want);
                }
                Step::Fold(vv) => {
                    let gvc = VersionVector::from_pairs(vv);
                    h.counters_mut(|c| { c.fold(&gvc); });
                    model.values_mut().for_each(|c| { c.fold(&gvc); });
                }
            }
            // Both ways: lookups in the packed hash (and its hint) too.
            prop_assert_eq!(&h, &Fields::Map(Box::new(model.clone())));
            prop_assert_eq!(&Fields::Map(Box::new(model.clone())), &h);
            prop_assert_eq!(h.has_unfolded(), model.values().any(|c| c.has_unfolded()));
            if let Fields::Packed(_) = &h {
                prop_assert!(h.len() <= entries, "a packed hash within its entry limit");
            }
        }
    }
}

#[test]
fn insertion_order_survives_snapshots_and_merges() {
    let hset = |db: &mut Db, seq: u64, field: &str| {
        let op = Op::HSet { key: b("h"), field: b(field), ctx: VersionVector::new(), value: b("v") };
        db.apply(&Effect { dot: Dot::new(db.me.0, seq), hlc: Hlc::from_ms(1000 + seq), op });
    };
    let keys = |db: &Db| -> Vec<Vec<u8>> {
        match db.get(b"h").and_then(|e| e.value.as_ref()) {
            Some(crate::Value::Hash(h)) => h.keys().map(|k| k.to_vec()).collect(),
            other => panic!("not a hash: {other:?}"),
        }
    };
    let mut one = Db::new(InstanceId(1));
    for (seq, f) in [(1, "z"), (2, "a"), (3, "m")] {
        hset(&mut one, seq, f);
    }
    let loaded = crate::snapshot::decode(&crate::snapshot::encode(&one, &[])).expect("decodes").db;
    assert_eq!(keys(&loaded), [b"z".to_vec(), b"a".to_vec(), b"m".to_vec()]);
    let mut two = Db::new(InstanceId(2));
    for (seq, f) in [(1, "q"), (2, "a"), (3, "b")] {
        hset(&mut two, seq, f);
    }
    one.merge(&two);
    assert_eq!(keys(&one), [b"z".to_vec(), b"a".to_vec(), b"m".to_vec(), b"q".to_vec(), b"b".to_vec()]);
}

#[test]
fn a_loaded_keyspace_conforms_to_the_configured_limits() {
    let mut db = Db::new(InstanceId(1));
    for (seq, key, n) in [(1u64, "small", 2usize), (100, "big", 5)] {
        for i in 0..n {
            let op = Op::HSet { key: b(key), field: format!("f{i}").into_bytes().into(), ctx: VersionVector::new(), value: b("v") };
            db.apply(&Effect { dot: Dot::new(1, seq + i as u64), hlc: Hlc::from_ms(1000), op });
        }
    }
    let packed = |db: &Db, key: &str| match db.get(key.as_bytes()).and_then(|e| e.value.as_ref()) {
        Some(crate::Value::Hash(h)) => h.is_packed(),
        other => panic!("not a hash: {other:?}"),
    };
    let digest = db.digest();
    let mut loaded = crate::snapshot::decode(&crate::snapshot::encode(&db, &[])).expect("decodes").db;
    assert!(packed(&loaded, "small") && packed(&loaded, "big"), "decoded with the default limits");
    loaded.hash_limits = Limits { entries: 3, value: 64 };
    assert_eq!(loaded.conform_hashes(), 1);
    assert!(packed(&loaded, "small") && !packed(&loaded, "big"));
    loaded.hash_limits = Limits::default();
    assert_eq!(loaded.conform_hashes(), 1, "a map that fits is packed again, as an RDB load does");
    assert!(packed(&loaded, "big"));
    assert_eq!(loaded.digest(), digest);
}

/// One step on two copies of a hash: HSET's apply (one pass on one, the
/// removal then the write on the other) or something both copies take alike.
#[derive(Clone, Debug)]
enum SetStep {
    /// field, origin, value length, ctx: 0 empty, 1 the field's observed
    /// context, 2 less one origin (a concurrent write survives), 3 more than
    /// observed (a remote removal of what this copy never held).
    Set(usize, u16, usize, u8, u8),
    Incr(usize, u16, i64, bool),
    Remove(usize, bool),
    Limits(usize, usize),
}

fn set_step() -> impl Strategy<Value = SetStep> {
    prop_oneof![
        8 => (0usize..5, 1u16..4, 0usize..12, 0u8..4, any::<u8>()).prop_map(|(f, o, l, c, x)| SetStep::Set(f, o, l, c, x)),
        2 => (0usize..5, 1u16..4, -300i64..300, any::<bool>()).prop_map(|(f, o, d, fl)| SetStep::Incr(f, o, d, fl)),
        1 => (0usize..5, any::<bool>()).prop_map(|(f, all)| SetStep::Remove(f, all)),
        1 => (0usize..7, 0usize..12).prop_map(|(e, v)| SetStep::Limits(e, v)),
    ]
}

/// HSET's apply as it was before `Fields::set_field`: `remove_field`
/// keeping the emptied field (skipped for an empty context), then `update`
/// writing the version. Returns (add-wins, lww) as the Db counted them.
fn set_in_steps(h: &mut Fields, field: &[u8], ctx: &VersionVector, dot: Dot, hlc: Hlc, value: &[u8], limits: &Limits) -> (bool, bool) {
    let add_wins = !ctx.is_empty() && h.remove_field(field, ctx, true) == Some(true);
    let mut lww = false;
    h.update(field, limits, true, false, |c| {
        lww = !c.versions().is_empty();
        c.write(dot, hlc, value);
    });
    (add_wins, lww)
}

/// The same fields in the same encoding, byte for byte when packed.
fn same_encoding(a: &Fields, b: &Fields) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.is_packed(), b.is_packed());
    prop_assert_eq!(a.raw(), b.raw());
    prop_assert_eq!(a, b);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.max(1000), ..ProptestConfig::default() })]
    /// `Fields::set_field` leaves exactly what `remove_field` then `update`
    /// left (the same encoding, bytes, base and conversions) and reports
    /// the same conflicts, whatever the cells (concurrent versions, counter
    /// runs), contexts and limits, packed or as a map.
    #[test]
    fn set_field_is_remove_then_write(
        steps in prop::collection::vec(set_step(), 1..50),
        entries in 0usize..7,
        value in 0usize..12,
        start_ms in 0u64..3,
    ) {
        let mut limits = Limits { entries, value };
        let (mut one, mut two) = (Fields::default(), Fields::default());
        let mut seq = [0u64; 4];
        let mut ms = 1_700_000_000_000u64 + start_ms;
        // Origins 1..3, and a large one whose varint takes 3 bytes.
        let origin = |o: u16| if o == 3 { 40_000 } else { o };
        let next = |seq: &mut [u64; 4], ms: &mut u64, o: u16, x: u8| {
            seq[o as usize] += 1 + (x as u64 % 3) * 70;
            // Back and forth around the base, sometimes with a logical part.
            *ms = ms.wrapping_add((x as u64 % 5) * 400).wrapping_sub(800);
            let hlc = Hlc((*ms << 16) | if x.is_multiple_of(4) { x as u64 } else { 0 });
            (Dot::new(origin(o), seq[o as usize]), hlc)
        };
        let field = |i: usize| -> Blob { "f".repeat(i * 3 + 1).into_bytes().into() };
        for s in steps {
            match s {
                SetStep::Set(f, o, len, c, x) => {
                    let (dot, hlc) = next(&mut seq, &mut ms, o, x);
                    let mut ctx = VersionVector::new();
                    if let Some(cell) = one.get(&field(f)) {
                        cell.ctx(&mut ctx);
                    }
                    let ctx = match c {
                        0 => VersionVector::new(),
                        1 => ctx,
                        2 => without(&ctx, Some(origin(1 + x as u16 % 3))),
                        _ => {
                            let mut more = ctx;
                            more.raise(InstanceId(origin(1 + x as u16 % 3)), seq[1 + x as usize % 3] + 5);
                            more
                        }
                    };
                    let v = "v".repeat(len);
                    let want = set_in_steps(&mut two, &field(f), &ctx, dot, hlc, v.as_bytes(), &limits);
                    let got = one.set_field(&field(f), &ctx, dot, hlc, v.as_bytes(), &limits);
                    prop_assert_eq!((!ctx.is_empty() && got.survived, got.overwrote), want);
                }
                SetStep::Incr(f, o, d, fold) => {
                    let (dot, hlc) = next(&mut seq, &mut ms, o, d as u8);
                    let delta = if d % 3 == 0 { Delta::Float(d as f64 / 8.0) } else { Delta::Int(d * 1000) };
                    for h in [&mut one, &mut two] {
                        h.update(&field(f), &limits, true, false, |c| { c.incr(dot, hlc, delta); if fold { c.fold_all() } });
                    }
                }
                SetStep::Remove(f, all) => {
                    let mut ctx = VersionVector::new();
                    if let Some(cell) = one.get(&field(f)) {
                        cell.ctx(&mut ctx);
                    }
                    let ctx = if all { ctx } else { without(&ctx, Some(1)) };
                    prop_assert_eq!(one.remove_field(&field(f), &ctx, false), two.remove_field(&field(f), &ctx, false));
                }
                SetStep::Limits(e, v) => limits = Limits { entries: e, value: v },
            }
            same_encoding(&one, &two)?;
            // The context read in place is the cell's.
            for f in 0..6 {
                let (mut got, mut want) = (VersionVector::new(), VersionVector::new());
                let found = one.field_ctx(&field(f), &mut got);
                prop_assert_eq!(found, one.get(&field(f)).map(|c| c.ctx(&mut want)).is_some());
                prop_assert_eq!(got, want);
            }
            if let Fields::Packed(_) = &one {
                // Reads of the rewritten records (and the hint).
                for (f, c) in one.iter() {
                    prop_assert_eq!(two.get(f).map(|c| c.as_cell().into_owned()), Some(c.as_cell().into_owned()));
                }
            }
        }
    }
}

#[test]
fn set_field_overwrites_a_simple_record_in_place() {
    let limits = Limits { entries: 8, value: 16 };
    let mut h = Fields::default();
    let hlc = |ms: u64| Hlc::from_ms(1_700_000_000_000 + ms);
    for (i, f) in ["a", "bb", "c"].iter().enumerate() {
        h.set_field(f.as_bytes(), &VersionVector::new(), Dot::new(1, i as u64 + 1), hlc(0), b"x", &limits);
    }
    let before = h.raw().map(|(b, _, _)| b.len());
    // The same lengths: the bytes of "bb" change in place.
    let r = h.set_field(b"bb", &VersionVector::from_pairs([(1, 2)]), Dot::new(1, 4), hlc(0), b"y", &limits);
    assert_eq!(r, crate::fields::SetField { existed: true, survived: false, overwrote: false });
    assert_eq!(h.raw().map(|(b, _, _)| b.len()), before);
    // Longer and shorter: the records after it move.
    h.set_field(b"bb", &VersionVector::from_pairs([(1, 4)]), Dot::new(1, 5), hlc(3000), b"longer value", &limits);
    h.set_field(b"a", &VersionVector::from_pairs([(1, 1)]), Dot::new(1, 6), hlc(0), b"", &limits);
    assert_eq!(h.keys().collect::<Vec<_>>(), [&b"a"[..], b"bb", b"c"]);
    let shown = |h: &Fields, f: &[u8]| h.get(f).map(|c| c.as_cell().winner().map(|v| v.value.to_vec()));
    assert_eq!(shown(&h, b"bb"), Some(Some(b"longer value".to_vec())));
    assert_eq!(shown(&h, b"a"), Some(Some(b"".to_vec())));
    assert_eq!(shown(&h, b"c"), Some(Some(b"x".to_vec())));
    // A version the context did not cover stays: two versions, lww.
    let r = h.set_field(b"c", &VersionVector::new(), Dot::new(2, 1), hlc(5), b"z", &limits);
    assert_eq!(r, crate::fields::SetField { existed: true, survived: true, overwrote: true });
    assert!(matches!(h.get(b"c"), Some(FieldRef::Owned(_))));
    // Past the value limit: a map.
    h.set_field(b"c", &VersionVector::from_pairs([(1, 3), (2, 1)]), Dot::new(1, 7), hlc(6), &[b'v'; 17], &limits);
    assert!(!h.is_packed());
    assert_eq!(h.len(), 3);
}

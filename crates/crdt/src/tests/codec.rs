//! Effect encoding: round trips, truncation, garbage, versions.

use proptest::prelude::*;

use crate::effect::{DecodeError, Effect, Op, EFFECT_FORMAT};
use crate::id::{Dot, Hlc, InstanceId, VersionVector};
use crate::num::Delta;

fn blob() -> impl Strategy<Value = Box<[u8]>> {
    prop::collection::vec(any::<u8>(), 0..12).prop_map(|v| v.into_boxed_slice())
}

fn vv() -> impl Strategy<Value = VersionVector> {
    prop::collection::vec((any::<u16>(), any::<u64>()), 0..6).prop_map(VersionVector::from_pairs)
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), Just(f64::NAN), Just(-0.0), Just(f64::INFINITY), Just(1.1)]
}

fn delta() -> impl Strategy<Value = Delta> {
    prop_oneof![any::<i64>().prop_map(Delta::Int), float().prop_map(Delta::Float)]
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (blob(), vv()).prop_map(|(key, ctx)| Op::Del { key, ctx }),
        (blob(), vv(), blob(), any::<bool>()).prop_map(|(key, ctx, value, keep_ttl)| Op::Set { key, ctx, value, keep_ttl }),
        (blob(), delta()).prop_map(|(key, delta)| Op::Incr { key, delta }),
        (blob(), blob(), vv(), blob()).prop_map(|(key, field, ctx, value)| Op::HSet { key, field, ctx, value }),
        (blob(), blob(), delta()).prop_map(|(key, field, delta)| Op::HIncr { key, field, delta }),
        (blob(), blob(), vv()).prop_map(|(key, field, ctx)| Op::HDel { key, field, ctx }),
        (blob(), blob(), vv()).prop_map(|(key, member, ctx)| Op::SAdd { key, member, ctx }),
        (blob(), blob(), vv()).prop_map(|(key, member, ctx)| Op::SRem { key, member, ctx }),
        (blob(), blob(), vv(), float()).prop_map(|(key, member, ctx, score)| Op::ZAdd { key, member, ctx, score }),
        (blob(), blob(), float()).prop_map(|(key, member, delta)| Op::ZIncr { key, member, delta }),
        (blob(), blob(), vv()).prop_map(|(key, member, ctx)| Op::ZRem { key, member, ctx }),
        (blob(), vv(), prop::option::of(any::<u64>())).prop_map(|(key, ctx, at_ms)| Op::Expire { key, ctx, at_ms }),
        vv().prop_map(|vv| Op::Observed { vv }),
        (blob(), blob(), any::<bool>()).prop_map(|(channel, message, sharded)| Op::Publish { channel, message, sharded }),
        stream_op(),
    ]
}

fn sid() -> impl Strategy<Value = crate::stream::StreamId> {
    (any::<u64>(), any::<u64>()).prop_map(|(ms, seq)| crate::stream::StreamId::new(ms, seq))
}

fn stream_op() -> impl Strategy<Value = Op> {
    let entries = prop::collection::vec((sid(), any::<u16>(), any::<u64>()), 0..4)
        .prop_map(|v| v.into_iter().map(|(id, o, s)| (id, Dot::new(o, s))).collect::<Vec<_>>());
    prop_oneof![
        (blob(), sid(), prop::collection::vec(blob(), 0..4), any::<u64>())
            .prop_map(|(key, id, fields, added)| Op::StreamAdd { key, id, fields, added }),
        (blob(), entries).prop_map(|(key, entries)| Op::StreamRemove { key, entries }),
        (blob(), sid(), any::<u64>()).prop_map(|(key, last, added)| Op::StreamSetId { key, last, added }),
        (blob(), vv()).prop_map(|(key, ctx)| Op::StreamDel { key, ctx }),
        (blob(), blob(), sid(), prop::option::of(any::<u64>()), vv())
            .prop_map(|(key, group, start, entries_read, ctx)| Op::GroupCreate { key, group, start, entries_read, ctx }),
        (blob(), blob()).prop_map(|(key, group)| Op::GroupDestroy { key, group }),
        (blob(), blob(), sid()).prop_map(|(key, group, upto)| Op::StreamAck { key, group, upto }),
    ]
}

pub fn effect() -> impl Strategy<Value = Effect> {
    (any::<u16>(), 0..=crate::id::SEQ_MAX, any::<u64>(), op()).prop_map(|(o, seq, hlc, op)| Effect { dot: Dot::new(o, seq), hlc: Hlc(hlc), op })
}

/// NaN != NaN, so effects are compared through their bytes as well.
fn same(a: &Effect, b: &Effect) -> bool {
    a == b || a.to_bytes() == b.to_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(debug_assertions) { 512 } else { 4096 }, ..ProptestConfig::default() })]

    #[test]
    fn effect_round_trips(e in effect()) {
        let bytes = e.to_bytes();
        let d = Effect::decode(&bytes).unwrap();
        prop_assert!(same(&d, &e), "{e:?} came back as {d:?}");
        prop_assert_eq!(d.to_bytes(), bytes);
    }

    /// Every strict prefix of an encoding is an error, never a panic or a
    /// different effect; so is the encoding with anything appended.
    #[test]
    fn truncated_effect_is_an_error(e in effect(), extra in prop::collection::vec(any::<u8>(), 1..4)) {
        let bytes = e.to_bytes();
        for n in 0..bytes.len() {
            prop_assert!(Effect::decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(Effect::decode(&longer), Err(DecodeError::Invalid("trailing bytes")));
    }

    /// Random bytes: an error or an effect that encodes back to a valid
    /// effect, never a panic (nor a huge allocation).
    #[test]
    fn garbage_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..64), version_ok in any::<bool>()) {
        if version_ok && !bytes.is_empty() {
            bytes[0] = EFFECT_FORMAT;
        }
        if let Ok(e) = Effect::decode(&bytes) {
            prop_assert!(Effect::decode(&e.to_bytes()).is_ok());
        }
    }

    /// Flipping one byte of a valid encoding never panics.
    #[test]
    fn corrupted_effect_never_panics(e in effect(), at in any::<prop::sample::Index>(), x in any::<u8>()) {
        let mut bytes = e.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= x | 1;
        let _ = Effect::decode(&bytes);
    }

    #[test]
    fn unknown_version_is_refused(e in effect(), v in any::<u8>()) {
        prop_assume!(v != EFFECT_FORMAT);
        let mut bytes = e.to_bytes();
        bytes[0] = v;
        prop_assert_eq!(Effect::decode(&bytes), Err(DecodeError::Version(v)));
    }
}

#[test]
fn decode_errors() {
    assert_eq!(Effect::decode(&[]), Err(DecodeError::Truncated));
    assert_eq!(Effect::decode(&[2]), Err(DecodeError::Version(2)));
    assert_eq!(Effect::decode(&[EFFECT_FORMAT, 1, 1, 0, 99]), Err(DecodeError::Tag(99)));
    // Instance id 70000 does not fit in u16.
    assert_eq!(Effect::decode(&[EFFECT_FORMAT, 0xf0, 0xa2, 0x04, 1, 0, 13, 0]), Err(DecodeError::Invalid("instance id out of range")));
    // Sequence numbers must fit the 48 bits of a packed dot.
    let big = Effect { dot: Dot::new(1, crate::id::SEQ_MAX + 1), hlc: Hlc(1), op: Op::Observed { vv: VersionVector::new() } };
    let mut buf = Vec::new();
    big.encode(&mut buf);
    assert_eq!(Effect::decode(&buf), Err(DecodeError::Invalid("sequence number above SEQ_MAX")));
    // A vector claiming 2^60 entries.
    let mut b = vec![EFFECT_FORMAT, 1, 1, 0, 13];
    b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_eq!(Effect::decode(&b), Err(DecodeError::Truncated));
    // An overlong varint.
    assert_eq!(Effect::decode(&[EFFECT_FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Err(DecodeError::Truncated));
    let e = Effect { dot: Dot::new(3, 7), hlc: Hlc(1), op: Op::Observed { vv: VersionVector::from_pairs([(1, 2)]) } };
    assert_eq!(Effect::decode(&e.to_bytes()).unwrap(), e);
    assert_eq!(e.dot.origin, InstanceId(3));
}

/// A pub/sub message's encoding, byte for byte (tag 60: channel, message,
/// sharded flag), its round trip, and what a receiver refuses.
#[test]
fn publish_encoding() {
    for sharded in [false, true] {
        let e = Effect {
            dot: Dot::new(2, 5),
            hlc: Hlc(9),
            op: Op::Publish { channel: (&b"ch"[..]).into(), message: (&b"hi!"[..]).into(), sharded },
        };
        let bytes = e.to_bytes();
        assert_eq!(bytes, vec![EFFECT_FORMAT, 2, 5, 9, 60, 2, b'c', b'h', 3, b'h', b'i', b'!', sharded as u8]);
        assert_eq!(Effect::decode(&bytes).unwrap(), e);
        assert_eq!(e.op.key(), None);
        assert!(!e.op.is_data());
        assert_eq!(Effect::peek_origin(&bytes), Some(InstanceId(2)));
        // Every shorter prefix is truncated.
        for n in 0..bytes.len() {
            assert_eq!(Effect::decode(&bytes[..n]), Err(DecodeError::Truncated), "{n} bytes");
        }
    }
    // An empty channel and message, and a long message.
    let long = vec![7u8; 100_000];
    for (c, m) in [(&b""[..], &b""[..]), (&b"x"[..], &long[..])] {
        let e = Effect { dot: Dot::new(1, 1), hlc: Hlc(1), op: Op::Publish { channel: c.into(), message: m.into(), sharded: false } };
        assert_eq!(Effect::decode(&e.to_bytes()).unwrap(), e);
    }
    // A flag byte other than 0 or 1, trailing bytes.
    assert_eq!(Effect::decode(&[EFFECT_FORMAT, 1, 1, 0, 60, 0, 0, 2]), Err(DecodeError::Invalid("flag byte")));
    assert_eq!(Effect::decode(&[EFFECT_FORMAT, 1, 1, 0, 60, 0, 0, 0, 0]), Err(DecodeError::Invalid("trailing bytes")));
}

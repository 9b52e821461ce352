//! The effect wire format is persisted (append-only logs) and sent to peers
//! (docs/sync.md): its bytes must never change by accident. This encodes a
//! fixed, deterministic set of effects of every kind, with lengths and
//! numbers on each varint boundary, and compares them with the bytes the
//! encoder produced when this test was written (data/effects.hex: one
//! effect per line, hex). Regenerate only for a deliberate format change
//! (with a new EFFECT_FORMAT): `CONCORD_BLESS=1 cargo test -p crdt golden`.

use crate::effect::{Effect, Op};
use crate::id::{Dot, Hlc, VersionVector};
use crate::num::Delta;
use crate::stream::StreamId;

const GOLDEN: &str = include_str!("data/effects.hex");

/// xorshift64*: deterministic, no dependency on rand's algorithms.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    /// A number on or next to a varint boundary (or anything).
    fn num(&mut self) -> u64 {
        const B: [u64; 20] = [
            0,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0x1f_ffff,
            0x20_0000,
            0xfff_ffff,
            0x1000_0000,
            (1 << 35) - 1,
            1 << 35,
            (1 << 42) - 1,
            1 << 49,
            (1 << 56) - 1,
            1 << 56,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX,
            1_700_000_000_000 << 16,
        ];
        if self.next().is_multiple_of(4) {
            self.next()
        } else {
            self.pick(&B)
        }
    }
    fn seq(&mut self) -> u64 {
        self.num() & crate::id::SEQ_MAX
    }
    fn id(&mut self) -> u16 {
        self.pick(&[0, 1, 2, 3, 0x7f, 0x80, 0x3fff, 0x4000, u16::MAX])
    }
    fn bytes(&mut self) -> Box<[u8]> {
        let n = self.pick(&[0usize, 1, 3, 16, 22, 23, 127, 128, 300]);
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn vv(&mut self) -> VersionVector {
        let n = self.pick(&[0usize, 0, 1, 1, 2, 3, 5]);
        VersionVector::from_pairs((0..n).map(|_| (self.id(), self.num())))
    }
    fn dot(&mut self) -> Dot {
        Dot::new(self.id(), self.num())
    }
    fn sid(&mut self) -> StreamId {
        StreamId::new(self.num(), self.num())
    }
    fn delta(&mut self) -> Delta {
        match self.next() % 3 {
            0 => Delta::Int(self.num() as i64),
            1 => Delta::Float(f64::from_bits(self.num())),
            _ => Delta::Float(self.pick(&[0.0, -0.0, 1.5, f64::INFINITY, -1e300])),
        }
    }
    fn flag(&mut self) -> bool {
        self.next().is_multiple_of(2)
    }
    fn op(&mut self, kind: u64) -> Op {
        match kind {
            0 => Op::Del { key: self.bytes(), ctx: self.vv() },
            1 => Op::Set { key: self.bytes(), ctx: self.vv(), value: self.bytes(), keep_ttl: self.flag() },
            2 => Op::Incr { key: self.bytes(), delta: self.delta() },
            3 => Op::HSet { key: self.bytes(), field: self.bytes(), ctx: self.vv(), value: self.bytes() },
            4 => Op::HIncr { key: self.bytes(), field: self.bytes(), delta: self.delta() },
            5 => Op::HDel { key: self.bytes(), field: self.bytes(), ctx: self.vv() },
            6 => Op::SAdd { key: self.bytes(), member: self.bytes(), ctx: self.vv() },
            7 => Op::SRem { key: self.bytes(), member: self.bytes(), ctx: self.vv() },
            8 => Op::ZAdd { key: self.bytes(), member: self.bytes(), ctx: self.vv(), score: f64::from_bits(self.num()) },
            9 => Op::ZIncr { key: self.bytes(), member: self.bytes(), delta: f64::from_bits(self.num()) },
            10 => Op::ZRem { key: self.bytes(), member: self.bytes(), ctx: self.vv() },
            11 => Op::Expire { key: self.bytes(), ctx: self.vv(), at_ms: if self.flag() { Some(self.num()) } else { None } },
            12 => Op::Observed { vv: self.vv() },
            13 => {
                let n = self.pick(&[0usize, 1, 2, 5, 130]);
                Op::HllAdd {
                    key: self.bytes(),
                    regs: (0..n).map(|_| ((self.next() % 16384) as u16, (self.next() % 64) as u8)).collect(),
                    ctx: self.vv(),
                }
            }
            14 => Op::HllDel { key: self.bytes(), ctx: self.vv() },
            15 => Op::HllSet { key: self.bytes(), ctx: self.vv(), value: self.bytes(), keep_ttl: self.flag() },
            16 => Op::ListInsert { key: self.bytes(), anchor: if self.flag() { Some(self.dot()) } else { None }, value: self.bytes() },
            17 => Op::ListSet { key: self.bytes(), elem: self.dot(), ctx: self.vv(), value: self.bytes() },
            18 => {
                let n = self.pick(&[0usize, 1, 3, 129]);
                Op::ListRemove { key: self.bytes(), elems: (0..n).map(|_| self.dot()).collect(), ctx: self.vv() }
            }
            19 => {
                let n = self.pick(&[0usize, 2, 4, 130]);
                Op::StreamAdd { key: self.bytes(), id: self.sid(), fields: (0..n).map(|_| self.bytes()).collect(), added: self.num() }
            }
            20 => {
                let n = self.pick(&[0usize, 1, 3, 128]);
                Op::StreamRemove { key: self.bytes(), entries: (0..n).map(|_| (self.sid(), self.dot())).collect() }
            }
            21 => Op::StreamSetId { key: self.bytes(), last: self.sid(), added: self.num() },
            22 => Op::StreamDel { key: self.bytes(), ctx: self.vv() },
            23 => Op::GroupCreate {
                key: self.bytes(),
                group: self.bytes(),
                start: self.sid(),
                entries_read: if self.flag() { Some(self.num()) } else { None },
                ctx: self.vv(),
            },
            24 => Op::GroupDestroy { key: self.bytes(), group: self.bytes() },
            _ => Op::StreamAck { key: self.bytes(), group: self.bytes(), upto: self.sid() },
        }
    }
}

pub(crate) const KINDS: u64 = 26;

/// The fixed effects: every kind 12 times over, plus the shapes the
/// benchmarks write (SET, INCR, SADD of short keys from instance 1).
pub(crate) fn golden_effects() -> Vec<Effect> {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    for round in 0..12 {
        for kind in 0..KINDS {
            let dot = Dot::new(g.id(), g.seq());
            let hlc = Hlc(if round == 0 { 0 } else { g.num() });
            out.push(Effect { dot, hlc, op: g.op(kind) });
        }
    }
    let hlc = Hlc(1_765_000_000_000 << 16 | 3);
    let key: Box<[u8]> = (*b"key:__rand_int__").into();
    out.push(Effect { dot: Dot::new(1, 5), hlc, op: Op::Set { key: key.clone(), ctx: VersionVector::new(), value: (*b"xxx").into(), keep_ttl: false } });
    out.push(Effect {
        dot: Dot::new(1, 200_000),
        hlc,
        op: Op::Set { key: key.clone(), ctx: VersionVector::from_pairs([(1, 199_999)]), value: (*b"xxx").into(), keep_ttl: false },
    });
    out.push(Effect { dot: Dot::new(1, 200_001), hlc, op: Op::Incr { key: (*b"counter:__rand_int__").into(), delta: Delta::Int(1) } });
    out.push(Effect {
        dot: Dot::new(1, 200_002),
        hlc,
        op: Op::SAdd { key: (*b"myset").into(), member: (*b"element:__rand_int__").into(), ctx: VersionVector::from_pairs([(1, 3), (2, 9)]) },
    });
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn golden_effect_bytes() {
    let effects = golden_effects();
    let lines: Vec<String> = effects.iter().map(|e| hex(&e.to_bytes())).collect();
    if std::env::var_os("CONCORD_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tests/data/effects.hex");
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
        return;
    }
    let want: Vec<&str> = GOLDEN.lines().collect();
    assert_eq!(want.len(), lines.len(), "number of golden effects");
    for (i, (e, (got, want))) in effects.iter().zip(lines.iter().zip(&want)).enumerate() {
        assert_eq!(got, *want, "effect {i} encodes differently: {e:?}");
    }
    // All of them also encoded back to back into one buffer (as the stream
    // does), through `encode` into a buffer that already holds bytes.
    let mut all = vec![0xaa];
    for e in &effects {
        e.encode(&mut all);
    }
    let joined: Vec<u8> = std::iter::once(0xaa).chain(want_bytes(&want)).collect();
    assert_eq!(all, joined);
    // And they decode to the same effects (by bytes: NaN != NaN).
    for (e, line) in effects.iter().zip(&lines) {
        let d = Effect::decode(&e.to_bytes()).unwrap();
        assert_eq!(&hex(&d.to_bytes()), line);
    }
}

fn want_bytes(lines: &[&str]) -> Vec<u8> {
    lines.iter().flat_map(|l| (0..l.len()).step_by(2).map(move |i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())).collect()
}

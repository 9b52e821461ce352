//! Identities, positions and clocks: instance ids, dots, version vectors and
//! the hybrid logical clock that orders last-write-wins registers.

use std::cmp::Ordering;
use std::fmt;

/// The number of an instance of an Active-Active database (1..=N).
/// A standalone shard is instance 1 of a one-instance database.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct InstanceId(pub u16);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The identity of one effect: its origin instance and that instance's
/// sequence number for it (1, 2, 3, ... without gaps).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Dot {
    pub origin: InstanceId,
    pub seq: u64,
}

impl Dot {
    pub fn new(origin: u16, seq: u64) -> Dot {
        Dot { origin: InstanceId(origin), seq }
    }
}

/// The greatest sequence number an instance may use: a dot's sequence number
/// fits in 48 bits ([`PackedDot`]), 2.8e14 effects (44 years at 200k effects
/// per second). Effects and snapshots carrying a greater one are refused
/// when decoded.
pub const SEQ_MAX: u64 = (1 << 48) - 1;

/// A [`Dot`] in 8 bytes: the origin in the high 16 bits, the sequence number
/// in the low 48 (a `Dot` takes 16, 6 of them padding). Register versions and
/// set tags, stored per key and per member, keep their dot this way. Orders
/// like `Dot` (by origin, then sequence number).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackedDot(u64);

impl PackedDot {
    pub fn new(dot: Dot) -> PackedDot {
        assert!(dot.seq <= SEQ_MAX, "sequence number {} above SEQ_MAX (decoders refuse it)", dot.seq);
        PackedDot((u64::from(dot.origin.0) << 48) | dot.seq)
    }
    pub fn get(self) -> Dot {
        Dot { origin: InstanceId((self.0 >> 48) as u16), seq: self.0 & SEQ_MAX }
    }
}

impl From<Dot> for PackedDot {
    fn from(dot: Dot) -> PackedDot {
        PackedDot::new(dot)
    }
}

impl fmt::Debug for PackedDot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// A hybrid logical clock reading: milliseconds since the Unix epoch in the
/// high 48 bits, a logical counter in the low 16 bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Hlc(pub u64);

impl Hlc {
    pub fn from_ms(ms: u64) -> Hlc {
        Hlc(ms << 16)
    }
    pub fn ms(self) -> u64 {
        self.0 >> 16
    }
}

/// A clock that never runs backwards: every reading is greater than every
/// earlier reading and every remote reading it has observed, even when the
/// wall clock steps back.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    last: Hlc,
}

impl Clock {
    /// Reads the clock given the current wall-clock time (passed in: this
    /// crate never reads the system clock itself).
    pub fn tick(&mut self, wall_ms: u64) -> Hlc {
        let wall = Hlc::from_ms(wall_ms);
        self.last = if wall > self.last { wall } else { Hlc(self.last.0 + 1) };
        self.last
    }
    /// Moves the clock past a reading received from another instance.
    pub fn observe(&mut self, remote: Hlc) {
        if remote > self.last {
            self.last = remote;
        }
    }
    pub fn last(&self) -> Hlc {
        self.last
    }
}

/// The order of last-write-wins: a later clock reading wins; on an exact tie
/// the lower instance id wins (so it compares as the greater stamp).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Stamp {
    pub hlc: Hlc,
    pub origin: InstanceId,
}

impl Ord for Stamp {
    fn cmp(&self, other: &Stamp) -> Ordering {
        self.hlc.cmp(&other.hlc).then_with(|| other.origin.cmp(&self.origin))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Stamp) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A version vector: for each instance, the highest sequence number seen
/// from it. Because every instance's effects are delivered in order, the
/// vector describes exactly the set of effects observed (a causal context).
/// Kept as a small sorted vector: databases have few instances. One entry
/// is inline (24 bytes, as large as a `Vec`): the context of one field,
/// member or value, which every HSET, SADD or SET builds, allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct VersionVector {
    entries: smallvec::SmallVec<[(InstanceId, u64); 1]>,
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (id, seq)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", id.0, seq)?;
        }
        f.write_str("}")
    }
}

impl VersionVector {
    pub fn new() -> VersionVector {
        VersionVector::default()
    }
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u16, u64)>) -> VersionVector {
        let mut vv = VersionVector::new();
        for (id, seq) in pairs {
            vv.raise(InstanceId(id), seq);
        }
        vv
    }
    pub fn get(&self, id: InstanceId) -> u64 {
        match self.entries.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }
    pub fn covers(&self, dot: Dot) -> bool {
        dot.seq <= self.get(dot.origin)
    }
    /// Raises the entry of `id` to at least `seq`.
    pub fn raise(&mut self, id: InstanceId, seq: u64) {
        if seq == 0 {
            return;
        }
        // (Nearly always: one instance's effects in a context of one entry.)
        if let [(only, s)] = &mut self.entries[..] {
            if *only == id {
                *s = (*s).max(seq);
                return;
            }
        }
        match self.entries.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => {
                if self.entries[i].1 < seq {
                    self.entries[i].1 = seq
                }
            }
            Err(i) => self.entries.insert(i, (id, seq)),
        }
    }
    pub fn observe(&mut self, dot: Dot) {
        self.raise(dot.origin, dot.seq)
    }
    pub fn join(&mut self, other: &VersionVector) {
        for &(id, seq) in &other.entries {
            self.raise(id, seq);
        }
    }
    /// Entry-wise minimum over the instances of `self` (absent entries are 0).
    pub fn meet(&mut self, other: &VersionVector) {
        for e in &mut self.entries {
            e.1 = e.1.min(other.get(e.0));
        }
        self.entries.retain(|e| e.1 > 0);
    }
    /// `self <= other` entry-wise: everything `self` saw, `other` saw too.
    pub fn le(&self, other: &VersionVector) -> bool {
        self.entries.iter().all(|&(id, seq)| seq <= other.get(id))
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (InstanceId, u64)> + '_ {
        self.entries.iter().copied()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_version_vector_is_as_large_as_a_vec() {
        assert_eq!(std::mem::size_of::<VersionVector>(), 24);
    }

    #[test]
    fn clock_never_runs_backwards() {
        let mut c = Clock::default();
        let a = c.tick(1000);
        let b = c.tick(500); // wall clock stepped back
        let d = c.tick(1000);
        assert!(a < b && b < d);
        c.observe(Hlc::from_ms(5000));
        assert!(c.tick(1001) > Hlc::from_ms(5000));
    }

    #[test]
    fn stamp_tie_goes_to_lower_instance() {
        let a = Stamp { hlc: Hlc(7), origin: InstanceId(1) };
        let b = Stamp { hlc: Hlc(7), origin: InstanceId(2) };
        assert!(a > b);
        let c = Stamp { hlc: Hlc(8), origin: InstanceId(2) };
        assert!(c > a);
    }

    #[test]
    fn version_vector_basics() {
        let mut v = VersionVector::from_pairs([(2, 5), (1, 3)]);
        assert!(v.covers(Dot::new(2, 5)) && !v.covers(Dot::new(2, 6)) && !v.covers(Dot::new(3, 1)));
        let w = VersionVector::from_pairs([(1, 4), (3, 1)]);
        assert!(!v.le(&w));
        v.join(&w);
        assert_eq!(format!("{v:?}"), "{1:4,2:5,3:1}");
        let mut m = v.clone();
        m.meet(&VersionVector::from_pairs([(1, 2), (2, 9)]));
        assert_eq!(format!("{m:?}"), "{1:2,2:5}");
    }
}

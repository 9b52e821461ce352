//! Conflict-free replicated values for every Redis type.
//!
//! Pure: no I/O, no threads, no system clock, no unseeded randomness. Time
//! comes in as `wall_ms` arguments. See docs/crdt.md for the conflict rules
//! and the tests that prove each one.

pub mod blob;
pub mod cell;
pub mod db;
pub mod digest;
pub mod effect;
pub mod fields;
pub mod hll;
pub mod id;
pub mod keymap;
pub mod list;
pub mod merge;
pub mod num;
pub mod snapshot;
pub mod stream;
pub mod value;
mod wire;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use cell::{Blob, Cell, Shown};

/// The hasher of the keyspace and of the per-value indexes: much faster than
/// SipHash on short keys, and still keyed with per-process randomness, so
/// clients cannot choose colliding keys in advance. Nothing may depend on
/// its iteration order (the keyspace's order is insertion order).
///
/// Zero-sized: the keys are drawn once per process, not stored in every
/// map (an `ahash::RandomState` is 32 bytes, and every hash and set value
/// held one, which made `Value` and so every key's entry 16 bytes larger).
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher;

impl std::hash::BuildHasher for FastHasher {
    type Hasher = ahash::AHasher;
    #[inline]
    fn build_hasher(&self) -> ahash::AHasher {
        static KEYS: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
        KEYS.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

pub type FastMap<K, V> = std::collections::HashMap<K, V, FastHasher>;
pub use db::{Applied, Db, Entry, Scope, Slot, Stats, Tombstone, TtlVersion};
pub use effect::{DecodeError, Effect, Op};
pub use fields::{FieldRef, Fields, SetField};
pub use id::{Clock, Dot, Hlc, InstanceId, PackedDot, Stamp, VersionVector, SEQ_MAX};
pub use list::List;
pub use num::{Delta, Sum};
pub use stream::{Stream, StreamId};
pub use value::{Kind, OrSet, Score, Tag, Value, ZSet};

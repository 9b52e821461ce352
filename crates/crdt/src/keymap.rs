//! [`KeyMap`]: the keyspace's map from key to entry.
//!
//! The entries sit in one vector in insertion order (a removal moves the
//! last entry into the hole), which SCAN cursors, RANDOMKEY and snapshot
//! capture steps walk by position. A hash table of 4-byte positions into the
//! vector finds a key: it stores no hashes (a lookup compares the key found
//! through the position; hashbrown's one-byte tags filter out all but about
//! 1 in 128 wrong candidates first), and it is rebuilt by hashing the keys
//! again when it grows.
//!
//! Per key that is 5 bytes per table slot (position 4 + tag 1) at 7/16 to
//! 7/8 load, 5.7 to 11.4 bytes, where an `IndexMap` spends 9 bytes per slot
//! (8-byte positions) plus a stored hash of 8 in every entry: 18 to 28.
//! Positions are `u32`: at most 2^32 - 1 keys.

use std::borrow::Borrow;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::blob::SmallBlob as Key;

/// Key -> value in insertion order, with swap removal (see the module docs).
#[derive(Clone)]
pub struct KeyMap<V> {
    slots: Vec<(Key, V)>,
    /// Positions into `slots`, hashed by their slot's key.
    index: HashTable<u32>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap::new()
    }
}

#[inline]
fn hash(key: &[u8]) -> u64 {
    crate::FastHasher.hash_one(key)
}

/// The allocator's size class for a large request: four classes per power
/// of two (2^k times 1, 1.25, 1.5, 1.75), as jemalloc's.
pub fn size_class(bytes: usize) -> usize {
    if bytes <= 64 {
        return bytes;
    }
    let step = (1usize << (usize::BITS - 1 - bytes.leading_zeros())) / 4;
    bytes.div_ceil(step) * step
}

impl<V> KeyMap<V> {
    pub const fn new() -> Self {
        KeyMap { slots: Vec::new(), index: HashTable::new() }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Entries the vector holds room for.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Bytes allocated: the entry vector and the hash table.
    pub fn allocation_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(Key, V)>() + self.index.allocation_size()
    }

    /// The position of `key` in the entry vector.
    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.find(hash(key), key)
    }

    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let slots = &self.slots;
        self.index.find(hash, |&i| slots[i as usize].0[..] == *key).map(|&i| i as usize)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_index_of(key).map(|i| &self.slots[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_index_of(key).map(|i| &mut self.slots[i].1)
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The key and value at a position.
    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&Key, &V)> {
        self.slots.get(i).map(|(k, v)| (k, v))
    }

    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Key, &mut V)> {
        self.slots.get_mut(i).map(|(k, v)| (&*k, v))
    }

    /// The last entry: the one a swap removal moves.
    pub fn last(&self) -> Option<(&Key, &V)> {
        self.slots.last().map(|(k, v)| (k, v))
    }

    /// Inserts or replaces (keeping the position); returns the position and
    /// the value replaced.
    pub fn insert_full(&mut self, key: Key, value: V) -> (usize, Option<V>) {
        let h = hash(&key);
        match self.find(h, &key) {
            Some(i) => (i, Some(std::mem::replace(&mut self.slots[i].1, value))),
            None => (self.push(h, key, value), None),
        }
    }

    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        self.insert_full(key, value).1
    }

    /// The position and value of `key`, inserted with `make()` if absent.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> (usize, &mut V) {
        let h = hash(key);
        let i = match self.find(h, key) {
            Some(i) => i,
            None => self.push(h, Key::from(key), make()),
        };
        (i, &mut self.slots[i].1)
    }

    /// Appends a key known to be absent.
    fn push(&mut self, hash_of_key: u64, key: Key, value: V) -> usize {
        let i = self.slots.len();
        assert!(i < u32::MAX as usize, "more than 2^32 - 1 keys");
        self.make_room();
        self.slots.push((key, value));
        let slots = &self.slots;
        self.index.insert_unique(hash_of_key, i as u32, |&j| hash(&slots[j as usize].0));
        i
    }

    /// Makes room for one more entry in the vector.
    ///
    /// Left to `Vec`, the vector would double: just past a doubling it holds
    /// room for two entries per key. Instead it grows by at least an eighth,
    /// to the next size class of the allocator (jemalloc's large classes are
    /// 4 per doubling: a request between two is rounded up, and the rounding
    /// is allocated but unused). Slack is then at most 25%, 10% on average;
    /// an entry is copied about eight times in its life instead of once
    /// (memcpy, amortized). The hash table (5 bytes per slot) still doubles.
    fn make_room(&mut self) {
        let len = self.slots.len();
        if len == self.slots.capacity() {
            let bucket = std::mem::size_of::<(Key, V)>().max(1);
            let bytes = size_class((len + len / 8).max(16) * bucket);
            self.slots.reserve_exact(bytes / bucket - len);
        }
    }

    /// Removes `key`; the last entry moves into its position.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        self.swap_remove_full(key).map(|(_, _, v)| v)
    }

    /// [`KeyMap::swap_remove`], returning the position the key had and the key.
    pub fn swap_remove_full(&mut self, key: &[u8]) -> Option<(usize, Key, V)> {
        let slots = &self.slots;
        let found = self.index.find_entry(hash(key), |&i| slots[i as usize].0[..] == *key).ok()?;
        let (i, _) = found.remove();
        let (k, v) = self.unlink(i as usize);
        Some((i as usize, k, v))
    }

    /// Removes the entry at a position; the last entry moves into it.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Key, V)> {
        let (key, _) = self.slots.get(i)?;
        let found = self.index.find_entry(hash(key), |&j| j as usize == i).ok();
        found.expect("every position is indexed").remove();
        Some(self.unlink(i))
    }

    /// Takes the entry at `i` (already out of the table) out of the vector,
    /// and points the table at the last entry's new position.
    fn unlink(&mut self, i: usize) -> (Key, V) {
        let last = self.slots.len() - 1;
        if i != last {
            let moved = self.index.find_mut(hash(&self.slots[last].0), |&j| j as usize == last);
            *moved.expect("every position is indexed") = i as u32;
        }
        self.slots.swap_remove(i)
    }

    /// Removes every entry (keeps the allocations).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.index.clear();
    }

    pub fn iter(&self) -> Iter<'_, V> {
        Iter(self.slots.iter())
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut(self.slots.iter_mut())
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator + Clone {
        self.slots.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.slots.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.slots.iter_mut().map(|(_, v)| v)
    }
}

/// The entries in order, as (key, value).
#[derive(Clone)]
pub struct Iter<'a, V>(std::slice::Iter<'a, (Key, V)>);

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Key, &'a V);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}

/// The entries in order, as (key, mutable value).
pub struct IterMut<'a, V>(std::slice::IterMut<'a, (Key, V)>);

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a Key, &'a mut V);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&*k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<V> DoubleEndedIterator for IterMut<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (&*k, v))
    }
}

impl<V> ExactSizeIterator for IterMut<'_, V> {}

impl<'a, V> IntoIterator for &'a KeyMap<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut KeyMap<V> {
    type Item = (&'a Key, &'a mut V);
    type IntoIter = IterMut<'a, V>;
    fn into_iter(self) -> IterMut<'a, V> {
        self.iter_mut()
    }
}

/// The value at a position (panics past the end).
impl<V> std::ops::Index<usize> for KeyMap<V> {
    type Output = V;
    fn index(&self, i: usize) -> &V {
        &self.slots[i].1
    }
}

impl<V> std::ops::IndexMut<usize> for KeyMap<V> {
    fn index_mut(&mut self, i: usize) -> &mut V {
        &mut self.slots[i].1
    }
}

/// The value of a key (panics if absent).
impl<V, Q: ?Sized + Borrow<[u8]>> std::ops::Index<&Q> for KeyMap<V> {
    type Output = V;
    fn index(&self, key: &Q) -> &V {
        self.get(key.borrow()).expect("key present")
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for KeyMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(i: u32) -> Key {
        Key::from(format!("key:{i}").as_bytes())
    }

    /// Every position is indexed once, and every key is found at its position.
    fn check<V: PartialEq + std::fmt::Debug>(m: &KeyMap<V>) {
        assert_eq!(m.index.len(), m.slots.len());
        for (i, (k, _)) in m.slots.iter().enumerate() {
            assert_eq!(m.get_index_of(k), Some(i), "key {k:?}");
        }
    }

    #[test]
    fn insert_lookup_replace() {
        let mut m = KeyMap::new();
        assert!(m.is_empty() && m.get(b"a").is_none() && m.last().is_none());
        assert_eq!(m.insert_full(Key::from(&b"a"[..]), 1), (0, None));
        assert_eq!(m.insert_full(Key::from(&b"b"[..]), 2), (1, None));
        assert_eq!(m.insert_full(Key::from(&b"a"[..]), 3), (0, Some(1)), "replaced in place");
        assert_eq!((m.len(), m[&b"a"[..]], m[1]), (2, 3, 2));
        assert_eq!(m.get_or_insert_with(b"b", || 9), (1, &mut 2));
        assert_eq!(m.get_or_insert_with(b"c", || 9), (2, &mut 9));
        *m.get_mut(b"c").unwrap() += 1;
        assert_eq!(m.iter().map(|(k, v)| (k.to_vec(), *v)).collect::<Vec<_>>(), [(b"a".to_vec(), 3), (b"b".to_vec(), 2), (b"c".to_vec(), 10)]);
        assert_eq!(m.last().map(|(k, v)| (k.to_vec(), *v)), Some((b"c".to_vec(), 10)));
        check(&m);
    }

    #[test]
    fn swap_remove_moves_the_last_entry_and_fixes_its_position() {
        let mut m = KeyMap::new();
        for i in 0..5 {
            m.insert(key(i), i);
        }
        assert_eq!(m.swap_remove(&key(1)), Some(1));
        assert_eq!(m.get_index_of(&key(4)), Some(1), "the last key took the hole");
        assert_eq!(m.swap_remove(&key(1)), None);
        assert_eq!(m.swap_remove_index(3).map(|(k, v)| (k, v)), Some((key(3), 3)), "the last one: nothing moves");
        assert_eq!(m.swap_remove_full(&key(0)).map(|(i, k, v)| (i, k, v)), Some((0, key(0), 0)));
        assert_eq!(m.keys().cloned().collect::<Vec<_>>(), [key(2), key(4)]);
        assert!(m.swap_remove_index(2).is_none());
        check(&m);
        m.swap_remove(&key(2));
        m.swap_remove(&key(4));
        assert!(m.is_empty() && m.index.is_empty());
        m.insert(key(7), 7);
        check(&m);
    }

    #[test]
    fn grows_and_finds_everything_after_many_removals() {
        let mut m = KeyMap::new();
        for i in 0..50_000u32 {
            m.insert(key(i), i);
            let (len, cap) = (m.len(), m.capacity());
            assert!(cap >= len && (len < 64 || cap <= len + len / 4 + 1), "len {len} capacity {cap}");
        }
        check(&m);
        // Remove two in three, from the front (every removal moves a key).
        for i in (0..50_000u32).filter(|i| i % 3 != 0) {
            assert_eq!(m.swap_remove(&key(i)), Some(i));
        }
        assert_eq!(m.len(), 16_667);
        check(&m);
        for i in 0..50_000u32 {
            assert_eq!(m.get(&key(i)).copied(), (i % 3 == 0).then_some(i));
        }
        for i in 50_000..60_000u32 {
            m.insert(key(i), i);
        }
        check(&m);
    }

    #[test]
    fn size_classes_are_four_per_power_of_two() {
        assert_eq!(size_class(64), 64);
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(4097), 5120);
        assert_eq!(size_class(6000), 6144);
        assert_eq!(size_class(117_000_000), 112 << 20);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Insert(u8, u32),
        Remove(u8),
        RemoveAt(u16),
        GetOrInsert(u8, u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Step::Insert(k, v)),
            2 => any::<u8>().prop_map(Step::Remove),
            1 => any::<u16>().prop_map(Step::RemoveAt),
            1 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Step::GetOrInsert(k, v)),
        ]
    }

    proptest! {
        /// Against a std HashMap and a vector of keys in the order an
        /// IndexMap would keep them.
        #[test]
        fn behaves_as_a_map_in_swap_removal_order(steps in prop::collection::vec(step(), 0..400)) {
            let mut m: KeyMap<u32> = KeyMap::new();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            let mut order: Vec<Vec<u8>> = Vec::new();
            let k = |b: u8| format!("k{}", b % 64).into_bytes();
            for s in steps {
                match s {
                    Step::Insert(b, v) => {
                        let (i, old) = m.insert_full(Key::from(&k(b)[..]), v);
                        prop_assert_eq!(old, model.insert(k(b), v));
                        if old.is_none() {
                            order.push(k(b));
                        }
                        prop_assert_eq!(&order[i], &k(b));
                    }
                    Step::Remove(b) => {
                        prop_assert_eq!(m.swap_remove(&k(b)), model.remove(&k(b)));
                        if let Some(i) = order.iter().position(|x| *x == k(b)) {
                            order.swap_remove(i);
                        }
                    }
                    Step::RemoveAt(i) => {
                        let i = i as usize % (order.len() + 1);
                        let got = m.swap_remove_index(i);
                        prop_assert_eq!(got.is_some(), i < order.len());
                        if let Some((key, v)) = got {
                            prop_assert_eq!(&key[..], &order[i][..]);
                            prop_assert_eq!(model.remove(&order[i]), Some(v));
                            order.swap_remove(i);
                        }
                    }
                    Step::GetOrInsert(b, v) => {
                        let (i, got) = m.get_or_insert_with(&k(b), || v);
                        prop_assert_eq!(*got, *model.entry(k(b)).or_insert_with(|| { order.push(k(b)); v }));
                        prop_assert_eq!(&order[i], &k(b));
                    }
                }
                prop_assert_eq!(m.len(), model.len());
            }
            prop_assert!(m.keys().map(|k| k.to_vec()).eq(order.iter().cloned()));
            for (key, v) in &model {
                prop_assert_eq!(m.get(key), Some(v));
            }
            check(&m);
        }
    }
}

//! [`KeyMap`]: the keyspace's map from key to entry.
//!
//! The entries sit in insertion order (a removal moves the last entry into
//! the hole), which SCAN cursors, RANDOMKEY and snapshot capture steps walk
//! by position. A hash table of 4-byte positions finds a key: it stores no
//! hashes (a lookup compares the key found through the position;
//! hashbrown's one-byte tags filter out all but about 1 in 128 wrong
//! candidates first), and it hashes the keys again when it grows.
//!
//! Per key that is 5 bytes per table slot (position 4 + tag 1) at 7/16 to
//! 7/8 load, 5.7 to 11.4 bytes, where an `IndexMap` spends 9 bytes per slot
//! (8-byte positions) plus a stored hash of 8 in every entry: 18 to 28.
//! Positions are `u32`: at most 2^32 - 1 keys. Beside the entries, the map
//! keeps a 4-byte access clock per key (the engine's LRU/LFU data).
//!
//! The entries are stored in chunks of 64 KiB (position `i` is entry
//! `i % CHUNK` of chunk `i / CHUNK`), not in one vector: a vector grows by
//! copying everything into an allocation of the allocator's next size
//! class (jemalloc's large classes are 4 per doubling), so it held 10% more
//! room than entries on average, up to 25%, and growing it copied the whole
//! keyspace while the old copy was still allocated. A chunk is allocated
//! full size (64 KiB is a size class; less than one entry of it is unused),
//! so the slack is at most one chunk, and growth copies nothing. The first
//! chunk grows by doubling, so a small keyspace stays small.

use std::borrow::Borrow;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use hashbrown::HashTable;

use crate::blob::SmallBlob as Key;

/// Key -> value in insertion order, with swap removal (see the module docs).
pub struct KeyMap<V> {
    /// Every chunk before the one holding the last entry is full; after it
    /// there is at most one empty chunk kept (so a keyspace going back and
    /// forth across a chunk boundary does not allocate each time).
    chunks: Vec<Vec<(Key, V)>>,
    len: usize,
    /// Positions of the entries, hashed by their entry's key.
    index: HashTable<u32>,
    /// The index's own hasher (it stores no hash, so nothing else depends
    /// on it): foldhash, about twice as fast as `FastHasher`'s ahash on
    /// short keys without AES instructions, and seeded at random as well.
    hasher: hashbrown::DefaultHashBuilder,
    /// The position the last hashed lookup found: a command looks its key
    /// up several times (type check, context, apply, TTL index), and only
    /// the first one hashes and probes. Never trusted: a hit is a position
    /// below `len` whose key equals the key sought (keys are unique), so
    /// inserts and removals need not invalidate it. (Atomic only to keep
    /// the map `Sync`; relaxed loads and stores are plain moves.)
    last: AtomicU32,
    /// Each entry's access clock, by position (kept in step with the
    /// chunks): what the keyspace's eviction policy and OBJECT IDLETIME /
    /// FREQ read. The map only stores it; its meaning (seconds for LRU, a
    /// logarithmic counter and minutes for LFU) is the engine's. 4 bytes a
    /// key, where Redis keeps 24 bits in every object header.
    clocks: Vec<u32>,
    /// The clock a new entry starts with.
    fresh: u32,
}

impl<V: Clone> Clone for KeyMap<V> {
    fn clone(&self) -> Self {
        KeyMap {
            chunks: self.chunks.clone(),
            len: self.len,
            index: self.index.clone(),
            hasher: self.hasher,
            last: AtomicU32::new(self.last.load(Relaxed)),
            clocks: self.clocks.clone(),
            fresh: self.fresh,
        }
    }
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap::new()
    }
}

/// The bytes of one chunk: a size class of jemalloc (and of most allocators).
const CHUNK_BYTES: usize = 64 << 10;

impl<V> KeyMap<V> {
    /// Entries per chunk.
    const CHUNK: usize = {
        let n = CHUNK_BYTES / std::mem::size_of::<(Key, V)>();
        if n == 0 {
            1
        } else {
            n
        }
    };

    pub fn new() -> Self {
        KeyMap {
            chunks: Vec::new(),
            len: 0,
            index: HashTable::new(),
            hasher: Default::default(),
            last: AtomicU32::new(0),
            clocks: Vec::new(),
            fresh: 0,
        }
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the chunks hold room for.
    pub fn capacity(&self) -> usize {
        self.chunks.iter().map(|c| c.capacity()).sum()
    }

    /// Bytes allocated: the chunks, the chunk list, the hash table and the
    /// access clocks.
    pub fn allocation_size(&self) -> usize {
        self.capacity() * std::mem::size_of::<(Key, V)>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<(Key, V)>>()
            + self.index.allocation_size()
            + self.clocks.capacity() * std::mem::size_of::<u32>()
    }

    /// The access clock of the entry at `i` (see [`KeyMap::clocks`]).
    #[inline]
    pub fn clock(&self, i: usize) -> u32 {
        self.clocks[i]
    }

    #[inline]
    pub fn set_clock(&mut self, i: usize, clock: u32) {
        self.clocks[i] = clock;
    }

    /// Sets every entry's clock.
    pub fn set_all_clocks(&mut self, clock: u32) {
        self.clocks.fill(clock);
    }

    /// The clock entries inserted from now on start with.
    #[inline]
    pub fn set_fresh_clock(&mut self, clock: u32) {
        self.fresh = clock;
    }

    #[inline]
    fn slot(&self, i: usize) -> &(Key, V) {
        &self.chunks[i / Self::CHUNK][i % Self::CHUNK]
    }

    #[inline]
    fn slot_mut(&mut self, i: usize) -> &mut (Key, V) {
        &mut self.chunks[i / Self::CHUNK][i % Self::CHUNK]
    }

    /// The position of `key`.
    #[inline]
    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        if self.len <= 1 {
            return self.is_only_key(key).then_some(0);
        }
        self.find_hashed(key)
    }

    /// (Apart, so that the test above inlines into every caller.)
    #[inline(never)]
    fn find_hashed(&self, key: &[u8]) -> Option<usize> {
        if let Some(i) = self.cached(key) {
            return Some(i);
        }
        self.find(self.hash(key), key)
    }

    /// The remembered position, if `key` is there (see [`KeyMap::last`]).
    #[inline(always)]
    fn cached(&self, key: &[u8]) -> Option<usize> {
        let i = self.last.load(Relaxed) as usize;
        (i < self.len && self.slot(i).0[..] == *key).then_some(i)
    }

    /// The position of `key`, or its hash to insert it with.
    #[inline(always)]
    fn lookup(&self, key: &[u8]) -> Result<usize, u64> {
        if self.len <= 1 && self.is_only_key(key) {
            return Ok(0);
        }
        if self.len > 1 {
            if let Some(i) = self.cached(key) {
                return Ok(i);
            }
        }
        let hash = self.hash(key);
        match self.len {
            0 | 1 => Err(hash),
            _ => self.find(hash, key).ok_or(hash),
        }
    }

    /// A keyspace of no key or one key is looked up without hashing, as
    /// `IndexMap` does (redis-benchmark's GET, SET and INCR use one key).
    #[inline(always)]
    fn is_only_key(&self, key: &[u8]) -> bool {
        self.len == 1 && self.chunks[0][0].0[..] == *key
    }

    #[inline(always)]
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let i = *self.index.find(hash, |&i| self.slot(i as usize).0[..] == *key)?;
        self.last.store(i, Relaxed);
        Some(i as usize)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.len <= 1 {
            let (k, v) = self.chunks.first()?.first()?;
            return (k[..] == *key).then_some(v);
        }
        self.find_hashed(key).map(|i| &self.slot(i).1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.len <= 1 {
            let (k, v) = self.chunks.first_mut()?.first_mut()?;
            return (k[..] == *key).then_some(v);
        }
        self.find_hashed(key).map(|i| &mut self.slot_mut(i).1)
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The key and value at a position.
    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&Key, &V)> {
        (i < self.len).then(|| {
            let (k, v) = self.slot(i);
            (k, v)
        })
    }

    #[inline]
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&Key, &mut V)> {
        (i < self.len).then(|| {
            let (k, v) = self.slot_mut(i);
            (&*k, v)
        })
    }

    /// The last entry: the one a swap removal moves.
    pub fn last(&self) -> Option<(&Key, &V)> {
        self.len.checked_sub(1).and_then(|i| self.get_index(i))
    }

    /// Inserts or replaces (keeping the position); returns the position and
    /// the value replaced.
    pub fn insert_full(&mut self, key: Key, value: V) -> (usize, Option<V>) {
        match self.lookup(&key) {
            Ok(i) => (i, Some(std::mem::replace(&mut self.slot_mut(i).1, value))),
            Err(h) => (self.push(h, key, value), None),
        }
    }

    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        self.insert_full(key, value).1
    }

    /// The position and value of `key`, inserted with `make()` if absent.
    #[inline]
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> V) -> (usize, &mut V) {
        let i = match self.lookup(key) {
            Ok(i) => i,
            Err(h) => self.push(h, Key::from(key), make()),
        };
        (i, &mut self.slot_mut(i).1)
    }

    /// Appends a key known to be absent.
    fn push(&mut self, hash_of_key: u64, key: Key, value: V) -> usize {
        let i = self.len;
        assert!(i < u32::MAX as usize, "more than 2^32 - 1 keys");
        let c = i / Self::CHUNK;
        if c == self.chunks.len() {
            // The first chunk starts small and doubles; the others are
            // allocated full size.
            let cap = if c == 0 { 4.min(Self::CHUNK) } else { Self::CHUNK };
            self.chunks.push(Vec::with_capacity(cap));
        }
        let chunk = &mut self.chunks[c];
        if chunk.len() == chunk.capacity() {
            // (A chunk cloned with fewer entries than a full one has no room either.)
            let cap = (chunk.len() * 2).clamp(4, Self::CHUNK);
            chunk.reserve_exact(cap - chunk.len());
        }
        chunk.push((key, value));
        self.clocks.push(self.fresh);
        self.len += 1;
        let KeyMap { chunks, index, hasher, .. } = self;
        index.insert_unique(hash_of_key, i as u32, |&j| {
            let j = j as usize;
            hasher.hash_one(&chunks[j / Self::CHUNK][j % Self::CHUNK].0[..])
        });
        self.last.store(i as u32, Relaxed);
        i
    }

    /// Removes `key`; the last entry moves into its position.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        self.swap_remove_full(key).map(|(_, _, v)| v)
    }

    /// [`KeyMap::swap_remove`], returning the position the key had and the key.
    pub fn swap_remove_full(&mut self, key: &[u8]) -> Option<(usize, Key, V)> {
        let KeyMap { chunks, index, hasher, .. } = self;
        let found = index.find_entry(hasher.hash_one(key), |&i| {
            let i = i as usize;
            chunks[i / Self::CHUNK][i % Self::CHUNK].0[..] == *key
        });
        let (i, _) = found.ok()?.remove();
        let (k, v) = self.unlink(i as usize);
        Some((i as usize, k, v))
    }

    /// Removes the entry at a position; the last entry moves into it.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Key, V)> {
        if i >= self.len {
            return None;
        }
        let h = self.hash(&self.slot(i).0);
        let Ok(found) = self.index.find_entry(h, |&j| j as usize == i) else { unreachable!("every position is indexed") };
        found.remove();
        Some(self.unlink(i))
    }

    /// Takes the entry at `i` (already out of the table) out, moves the last
    /// entry into its place and points the table at the new position.
    fn unlink(&mut self, i: usize) -> (Key, V) {
        let last = self.len - 1;
        let c = last / Self::CHUNK;
        let moved = self.chunks[c].pop().expect("the last entry is in the last chunk");
        // The last clock moves with its entry.
        self.clocks.swap_remove(i);
        self.len = last;
        // Keep at most one empty chunk after the last entry.
        if self.chunks.len() > c + 1 && self.chunks[c].is_empty() {
            self.chunks.truncate(c + 1);
        }
        if i == last {
            return moved;
        }
        let h = self.hash(&moved.0);
        let slot = self.index.find_mut(h, |&j| j as usize == last);
        *slot.expect("every position is indexed") = i as u32;
        std::mem::replace(self.slot_mut(i), moved)
    }

    /// Removes every entry and frees the chunks.
    pub fn clear(&mut self) {
        self.chunks = Vec::new();
        self.len = 0;
        self.index.clear();
        self.clocks = Vec::new();
    }

    pub fn iter(&self) -> Iter<'_, V> {
        Iter { chunks: self.chunks.iter().flatten(), left: self.len }
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut { chunks: self.chunks.iter_mut().flatten(), left: self.len }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator + Clone {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.iter_mut().map(|(_, v)| v)
    }
}

/// The entries in order, as (key, value).
pub struct Iter<'a, V> {
    chunks: std::iter::Flatten<std::slice::Iter<'a, Vec<(Key, V)>>>,
    left: usize,
}

impl<V> Clone for Iter<'_, V> {
    fn clone(&self) -> Self {
        Iter { chunks: self.chunks.clone(), left: self.left }
    }
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Key, &'a V);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = self.chunks.next()?;
        self.left -= 1;
        Some((k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let (k, v) = self.chunks.next_back()?;
        self.left -= 1;
        Some((k, v))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}

/// The entries in order, as (key, mutable value).
pub struct IterMut<'a, V> {
    chunks: std::iter::Flatten<std::slice::IterMut<'a, Vec<(Key, V)>>>,
    left: usize,
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a Key, &'a mut V);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = self.chunks.next()?;
        self.left -= 1;
        Some((&*k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<V> DoubleEndedIterator for IterMut<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let (k, v) = self.chunks.next_back()?;
        self.left -= 1;
        Some((&*k, v))
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
    #[inline]
    fn index(&self, i: usize) -> &V {
        &self.slot(i).1
    }
}

impl<V> std::ops::IndexMut<usize> for KeyMap<V> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut V {
        &mut self.slot_mut(i).1
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

    /// Every position is indexed once, every key is found at its position,
    /// and the chunks are laid out as `KeyMap` says.
    fn check<V>(m: &KeyMap<V>) {
        assert_eq!(m.index.len(), m.len);
        assert_eq!(m.iter().len(), m.len);
        assert_eq!(m.clocks.len(), m.len, "one clock per entry");
        for (i, (k, _)) in m.iter().enumerate() {
            assert_eq!(m.get_index_of(k), Some(i), "key {k:?}");
        }
        let used = m.len.div_ceil(KeyMap::<V>::CHUNK);
        assert!(m.chunks.len() == used || (m.chunks.len() == used + 1 && m.chunks[used].is_empty()), "one spare chunk at most");
        for (c, chunk) in m.chunks.iter().enumerate() {
            assert!(chunk.capacity() <= KeyMap::<V>::CHUNK);
            if (c + 1) * KeyMap::<V>::CHUNK <= m.len {
                assert_eq!(chunk.len(), KeyMap::<V>::CHUNK, "chunk {c} is full");
            }
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
        assert_eq!(m.swap_remove_index(3), Some((key(3), 3)), "the last one: nothing moves");
        assert_eq!(m.swap_remove_full(&key(0)), Some((0, key(0), 0)));
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
    fn chunks_are_64_kib_and_only_the_first_grows() {
        type M = KeyMap<crate::db::Entry>;
        let bytes = M::CHUNK * std::mem::size_of::<(Key, crate::db::Entry)>();
        assert!(bytes <= CHUNK_BYTES && CHUNK_BYTES - bytes < std::mem::size_of::<(Key, crate::db::Entry)>());
        let mut m = KeyMap::new();
        let n = 3 * KeyMap::<u64>::CHUNK;
        for i in 0..n as u32 {
            m.insert(key(i), i as u64);
            let (len, cap) = (m.len(), m.capacity());
            assert!(cap >= len && cap <= (2 * len).max(4).max(len.next_multiple_of(KeyMap::<u64>::CHUNK)), "len {len} capacity {cap}");
        }
        check(&m);
        // Back and forth across a chunk boundary: the emptied chunk stays
        // until the one before it empties too.
        let c = KeyMap::<u64>::CHUNK as u32;
        m.insert(key(3 * c), 0);
        for _ in 0..3 {
            m.swap_remove(&key(3 * c));
            assert_eq!(m.chunks.len(), 4);
            m.insert(key(3 * c), 0);
            check(&m);
        }
        for i in (c..=3 * c).rev() {
            m.swap_remove(&key(i));
            if i % 97 == 0 {
                check(&m);
            }
        }
        check(&m);
        assert_eq!((m.len(), m.chunks.len()), (c as usize, 2));
        m.clear();
        assert!(m.is_empty() && m.chunks.is_empty() && m.get(&key(1)).is_none());
        m.insert(key(1), 1);
        check(&m);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Insert(u8, u32),
        Remove(u8),
        RemoveAt(u16),
        GetOrInsert(u8, u32),
        /// (Lookups between the changes exercise the remembered position.)
        Get(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Step::Insert(k, v)),
            2 => any::<u8>().prop_map(Step::Remove),
            1 => any::<u16>().prop_map(Step::RemoveAt),
            1 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Step::GetOrInsert(k, v)),
            3 => any::<u8>().prop_map(Step::Get),
        ]
    }

    /// A value so large that a chunk holds 16: the model test crosses chunks.
    #[derive(Clone, Debug, PartialEq)]
    struct Fat(u32, [u8; 4000]);

    fn fat(v: u32) -> Fat {
        Fat(v, [0; 4000])
    }

    proptest! {
        /// Against a std HashMap and a vector of keys in the order an
        /// IndexMap would keep them.
        #[test]
        fn behaves_as_a_map_in_swap_removal_order(steps in prop::collection::vec(step(), 0..400)) {
            assert_eq!(KeyMap::<Fat>::CHUNK, 16);
            let mut m: KeyMap<Fat> = KeyMap::new();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            let mut order: Vec<Vec<u8>> = Vec::new();
            // Each key's access clock: it must move with its entry.
            let mut clocks: HashMap<Vec<u8>, u32> = HashMap::new();
            let k = |b: u8| format!("k{}", b % 64).into_bytes();
            for s in steps {
                match s {
                    Step::Insert(b, v) => {
                        let (i, old) = m.insert_full(Key::from(&k(b)[..]), fat(v));
                        prop_assert_eq!(old.map(|f| f.0), model.insert(k(b), v));
                        if !order.contains(&k(b)) {
                            order.push(k(b));
                        }
                        prop_assert_eq!(&order[i], &k(b));
                        m.set_clock(i, v);
                        clocks.insert(k(b), v);
                    }
                    Step::Remove(b) => {
                        clocks.remove(&k(b));
                        prop_assert_eq!(m.swap_remove(&k(b)).map(|f| f.0), model.remove(&k(b)));
                        if let Some(i) = order.iter().position(|x| *x == k(b)) {
                            order.swap_remove(i);
                        }
                    }
                    Step::RemoveAt(i) => {
                        let i = i as usize % (order.len() + 1);
                        let got = m.swap_remove_index(i);
                        prop_assert_eq!(got.is_some(), i < order.len());
                        if let Some((key, v)) = got {
                            clocks.remove(&key[..]);
                            prop_assert_eq!(&key[..], &order[i][..]);
                            prop_assert_eq!(model.remove(&order[i]), Some(v.0));
                            order.swap_remove(i);
                        }
                    }
                    Step::GetOrInsert(b, v) => {
                        m.set_fresh_clock(v ^ 0x5555);
                        clocks.entry(k(b)).or_insert(v ^ 0x5555);
                        let (i, got) = m.get_or_insert_with(&k(b), || fat(v));
                        prop_assert_eq!(got.0, *model.entry(k(b)).or_insert_with(|| { order.push(k(b)); v }));
                        prop_assert_eq!(&order[i], &k(b));
                    }
                    Step::Get(b) => {
                        prop_assert_eq!(m.get_index_of(&k(b)), order.iter().position(|x| *x == k(b)));
                        prop_assert_eq!(m.get(&k(b)).map(|f| f.0), model.get(&k(b)).copied());
                    }
                }
                prop_assert_eq!(m.len(), model.len());
            }
            prop_assert!(m.keys().map(|k| k.to_vec()).eq(order.iter().cloned()));
            for (i, key) in order.iter().enumerate() {
                prop_assert_eq!(m.clock(i), clocks[key], "the clock of {:?} moved with it", key);
            }
            prop_assert!(m.keys().rev().map(|k| k.to_vec()).eq(order.iter().rev().cloned()));
            for (key, v) in &model {
                prop_assert_eq!(m.get(key).map(|f| f.0), Some(*v));
            }
            check(&m);
        }
    }
}

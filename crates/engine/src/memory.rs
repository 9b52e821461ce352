//! MEMORY USAGE: an estimate of the bytes a key and its value take in
//! Concord's keyspace, CRDT metadata included.
//!
//! Like Redis's, the figure is an estimate: aggregates are measured on a
//! sample of their elements (`SAMPLES`, 5 by default, 0 for all) and scaled
//! to their size. The per-slot costs below come from the layout described in
//! docs/crdt.md section 8 (the keyspace slot and its index, the hash table
//! slot of a field or member); element bytes are rounded up to the
//! allocator's 8-byte granularity.

use crdt::value::Value;
use crdt::Entry;

use crate::string::cell_bytes;

/// The keyspace's cost for one key besides its value's own allocations: the
/// entry slot (hash, key, `Entry`) and the index slot.
const KEY_SLOT: usize = 8 + 24 + std::mem::size_of::<Entry>() + 12;
/// Keys up to this length sit inside the slot.
const INLINE_KEY: usize = 22;
/// One field of a hash: its table slot (field, `Cell`) at 7/8 load.
const HASH_SLOT: usize = (16 + std::mem::size_of::<crdt::Cell>()) * 8 / 7;
/// One member of a set: its table slot (member, tags) at 7/8 load.
const SET_SLOT: usize = 40 * 8 / 7;
/// One member of a sorted set: its table slot (member, cell, score) and its
/// entry in the score index.
const ZSET_SLOT: usize = (16 + std::mem::size_of::<crdt::Cell>() + 8) * 8 / 7 + 48;
/// One list element: the packed element (`crdt::list::Elem`, 48 bytes) and
/// its share of its chunk's slack; values longer than `LIST_INLINE` bytes
/// take an allocation of their own.
const LIST_ELEM: usize = 50;
const LIST_INLINE: usize = 22;
/// One stream entry: its tree node share (id, dot, fields pointer).
const STREAM_ENTRY: usize = 64;
/// A register value of up to this many bytes sits inside its version
/// (`crdt::blob::TinyBlob`); a longer one is an allocation with a 16-byte
/// header.
const VALUE_INLINE: usize = crdt::blob::TINY_INLINE_MAX;

fn heap(len: usize) -> usize {
    len.div_ceil(8) * 8
}

/// The allocation of a register value of `len` bytes.
fn value_heap(len: usize) -> usize {
    if len > VALUE_INLINE {
        heap(16 + len)
    } else {
        0
    }
}

/// The estimate for the entry of `key`, looking at `samples` elements of an
/// aggregate (0: all of them).
pub(crate) fn usage(key: &[u8], entry: &Entry, samples: usize) -> usize {
    let key_bytes = KEY_SLOT + if key.len() > INLINE_KEY { heap(key.len()) } else { 0 };
    key_bytes + entry.value.as_ref().map_or(0, |v| value_usage(v, samples))
}

/// The mean of `f` over the first `samples` items (all if 0), times `len`.
fn scaled<T>(items: impl Iterator<Item = T>, len: usize, samples: usize, f: impl Fn(T) -> usize) -> usize {
    let take = if samples == 0 { len } else { samples.min(len) };
    if take == 0 {
        return 0;
    }
    let sum: usize = items.take(take).map(f).sum();
    sum * len / take
}

fn value_usage(v: &Value, samples: usize) -> usize {
    match v {
        Value::Str(cell) => value_heap(cell_bytes(cell).len()),
        // A packed hash is one buffer of records: its size is exact.
        Value::Hash(crdt::fields::Fields::Packed(p)) => heap(p.bytes()),
        Value::Hash(h) => scaled(h.iter(), h.len(), samples, |(f, c)| {
            HASH_SLOT + heap(f.len()) + value_heap(cell_bytes(&c.as_cell()).len())
        }),
        Value::Set(s) => scaled(s.members.keys(), s.members.len(), samples, |m| SET_SLOT + heap(m.len())),
        Value::ZSet(z) => scaled(z.members.keys(), z.members.len(), samples, |m| ZSET_SLOT + 2 * heap(m.len())),
        Value::List(l) => scaled(l.iter(), l.len(), samples, |e| {
            let n = e.value().len();
            LIST_ELEM + if n > LIST_INLINE { heap(n) } else { 0 }
        }),
        Value::Stream(s) => scaled(s.entries.values(), s.entries.len(), samples, |fields| {
            STREAM_ENTRY + fields.iter().map(|f| 16 + heap(f.len())).sum::<usize>()
        }),
        // A HyperLogLog keeps its registers as Redis's dense string does.
        Value::Hll(_) => 12 * 1024 + 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_rounds_up_to_eight() {
        assert_eq!(heap(0), 0);
        assert_eq!(heap(1), 8);
        assert_eq!(heap(8), 8);
        assert_eq!(heap(33_000), 33_000);
        assert_eq!(value_heap(0), 0);
        assert_eq!(value_heap(14), 0);
        assert_eq!(value_heap(15), 32);
    }

    #[test]
    fn scaled_measures_a_sample_or_everything() {
        let sizes = [10usize, 20, 30, 40];
        assert_eq!(scaled(sizes.iter(), 4, 0, |s| *s), 100);
        // The first two, scaled to four: (10 + 20) * 4 / 2.
        assert_eq!(scaled(sizes.iter(), 4, 2, |s| *s), 60);
        assert_eq!(scaled(sizes.iter(), 0, 5, |s| *s), 0);
    }
}

//! [`Backlog`]: the retained tail of a stream, from which partial syncs are
//! served, bounded in framed bytes (`repl-backlog-size`).
//!
//! Kept as whole records rather than Redis's byte ring: partial syncs start
//! only at record boundaries (a reader never sees half an effect), and a
//! lookup is a binary search over record offsets. Records appended together
//! share one buffer and one entry (a batch); payloads are `Bytes`, so handing
//! records to many sessions copies nothing.
//!
//! The shard's batches are copied into large blocks ([`BLOCK_BYTES`]) and
//! their record ends into one reused queue, so appending and trimming a
//! batch allocates and frees nothing but a block now and then: at one write
//! per batch, a buffer and a vector per batch showed in profiles.
//!
//! Trimming drops whole records from the front until the retained framed
//! bytes fit the bound; a record larger than the whole bound is dropped as
//! soon as it is appended (the backlog then holds nothing and serves partial
//! syncs only at the current offset).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::id::Offset;
use crate::record::{framed_len, Record};

/// Smallest "auto" backlog per shard (1 MiB, Redis's default).
pub const BACKLOG_AUTO_MIN: u64 = 1 << 20;
/// Largest "auto" backlog per shard (250 MiB).
pub const BACKLOG_AUTO_MAX: u64 = 250 << 20;

/// A configured backlog size: `auto` or a number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BacklogSize {
    Auto,
    Bytes(u64),
}

impl BacklogSize {
    /// Parses `auto` or a byte count.
    pub fn parse(text: &str) -> Option<BacklogSize> {
        if text.eq_ignore_ascii_case("auto") {
            return Some(BacklogSize::Auto);
        }
        text.parse().ok().map(BacklogSize::Bytes)
    }

    /// Returns the bytes one shard's backlog may hold.
    pub fn resolve(self, memory_limit_bytes: u64, shard_count: u32) -> u64 {
        match self {
            BacklogSize::Auto => auto_backlog_bytes(memory_limit_bytes, shard_count),
            BacklogSize::Bytes(n) => n,
        }
    }
}

/// The "auto" backlog size of one shard: 1% of the database's memory limit
/// divided by its shards, clamped to 1 MiB..=250 MiB. A limit of 0
/// (unlimited) gives the minimum.
pub fn auto_backlog_bytes(memory_limit_bytes: u64, shard_count: u32) -> u64 {
    (memory_limit_bytes / 100 / u64::from(shard_count.max(1)))
        .clamp(BACKLOG_AUTO_MIN, BACKLOG_AUTO_MAX)
}

/// Why records cannot be read from an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("offset {requested} was trimmed from the backlog (it starts at {first})")]
    Trimmed { requested: Offset, first: Offset },
    #[error("offset {requested} is beyond the stream's current offset {current}")]
    Future { requested: Offset, current: Offset },
    #[error("offset {requested} is inside a record, not at a record boundary")]
    NotBoundary { requested: Offset },
}

/// Bytes of one block: the unit the backlog allocates record bytes in when
/// it copies them ([`Backlog::append_copy`]). Batches are copied back to back
/// into the open block and handed out as `Bytes` sharing its allocation, so
/// a steady stream of small batches allocates once per block, and the block
/// is freed when the last batch in it is trimmed (and no reader holds one of
/// its records).
pub const BLOCK_BYTES: usize = 64 << 10;

/// Batches larger than this get a buffer of their own instead of a place in
/// the open block: a huge batch never makes a block (and so every later
/// block) huge, and the space a new block leaves unused at the end of the
/// old one is at most this (1/8 of a block).
pub const OWN_BUFFER_MIN: usize = BLOCK_BYTES / 8;

/// Past this capacity, the record-end and batch queues give back memory once
/// they are three quarters empty (after a burst of many tiny records).
const QUEUE_KEEP: usize = 4096;

/// Records appended together (one batch of effects): their payloads back to
/// back in one `Bytes` (a slice of a block, or a buffer of their own).
///
/// A batch costs one entry and one reference count however many records it
/// has; a record is made into a [`Record`] (a slice of the buffer) only when
/// it is read. Where each payload ends is kept in the backlog's one `ends`
/// queue (reused, so appending a batch allocates nothing).
#[derive(Clone, Debug)]
struct Batch {
    /// Offset of the batch's first record (trimmed or not).
    start: Offset,
    /// The payloads, exactly: the last record ends at `data.len()`.
    data: Bytes,
    /// Number of the batch's first record among all the backlog was given
    /// (its ends are at `ends[first - ends_base..][..len]`).
    first: u64,
    /// Records in the batch (at least one).
    len: usize,
}

impl Batch {
    /// Offset just past the batch's last record.
    fn end(&self) -> Offset {
        self.start
            .plus(self.data.len() as u64 + self.len as u64 * framed_len(0))
    }
}

#[derive(Clone, Debug)]
pub struct Backlog {
    batches: VecDeque<Batch>,
    /// End of each retained batch's records' payloads in its `data`, all
    /// batches back to back (a trimmed record's end stays until its whole
    /// batch goes: the next record's payload starts there).
    ends: VecDeque<u32>,
    /// Record number of `ends[0]` (the front batch's `first`).
    ends_base: u64,
    /// The unused tail of the open block (capacity only, no bytes): where
    /// the next copied batch goes if it fits.
    open: BytesMut,
    /// Records at the front of the first batch that were trimmed.
    skip: usize,
    /// Records retained.
    records: usize,
    /// Offset of the first retained record (== `current` when empty).
    first: Offset,
    /// The stream's current offset: where the next record will start.
    current: Offset,
    size_max: u64,
}

impl Backlog {
    /// Returns an empty backlog of a stream that is at `start` (0 for a new
    /// stream; the snapshot's offset after a restart or a full sync).
    pub fn new(size_max: u64, start: Offset) -> Backlog {
        Backlog {
            batches: VecDeque::new(),
            ends: VecDeque::new(),
            ends_base: 0,
            open: BytesMut::new(),
            skip: 0,
            records: 0,
            first: start,
            current: start,
            size_max,
        }
    }

    /// Returns the offset of the first retained record: the lowest offset a
    /// partial sync can start from.
    pub fn first_offset(&self) -> Offset {
        self.first
    }

    /// Returns the stream's current offset (`master_repl_offset`).
    pub fn current_offset(&self) -> Offset {
        self.current
    }

    /// Returns the framed bytes retained (`repl_backlog_histlen`).
    pub fn histlen(&self) -> u64 {
        self.current.since(self.first)
    }

    pub fn size_max(&self) -> u64 {
        self.size_max
    }

    /// Returns the number of records retained.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Changes the bound (`CONFIG SET repl-backlog-size`) and trims to it.
    pub fn resize(&mut self, size_max: u64) {
        let shrinking = size_max < self.size_max;
        self.size_max = size_max;
        self.trim();
        if shrinking {
            self.batches.shrink_to_fit();
            self.ends.shrink_to_fit();
        }
    }

    /// Appends a record to the stream; returns the offset it starts at.
    pub fn append(&mut self, payload: Bytes) -> Offset {
        let len = payload.len();
        self.append_many(payload, &[len])
    }

    /// Appends the records whose payloads lie back to back in `data`, each
    /// ending at the next of `ends` (increasing, the last one at most
    /// `data.len()`); returns the offset the first one starts at. The batch
    /// keeps `data` (no copy) and one entry.
    pub fn append_many(&mut self, mut data: Bytes, ends: &[usize]) -> Offset {
        let Some(&last) = ends.last() else {
            return self.current;
        };
        debug_assert!(ends.windows(2).all(|w| w[0] <= w[1]) && last <= data.len());
        if u32::try_from(last).is_err() {
            // Past 4 GiB: a batch per record (a payload is at most
            // PAYLOAD_LEN_MAX, so its own end fits).
            let offset = self.current;
            let mut from = 0;
            for &e in ends {
                self.append(data.slice(from..e));
                from = e;
            }
            return offset;
        }
        // (A no-op when the payloads fill `data`, as they do from the shard.)
        data.truncate(last);
        self.push(data, ends)
    }

    /// Appends the records whose payloads lie back to back in `data` (as
    /// [`Backlog::append_many`]), copying them into the open block: no
    /// allocation unless the block is full (then a new one of
    /// [`BLOCK_BYTES`]) or the batch is over [`OWN_BUFFER_MIN`] (then a
    /// buffer of its own). `data` is the caller's to reuse.
    pub fn append_copy(&mut self, data: &[u8], ends: &[usize]) -> Offset {
        let Some(&last) = ends.last() else {
            return self.current;
        };
        let data = &data[..last];
        if data.len() > OWN_BUFFER_MIN {
            return self.append_many(Bytes::copy_from_slice(data), ends);
        }
        debug_assert!(ends.windows(2).all(|w| w[0] <= w[1]));
        // `open` holds no bytes, only the block's unused capacity; when the
        // batch does not fit, the old block is left to the batches in it.
        if self.open.capacity() < data.len() {
            self.open = BytesMut::with_capacity(BLOCK_BYTES);
        }
        self.open.extend_from_slice(data);
        // Shares the block: the first split of a block allocates its
        // reference count, later ones only count.
        let data = self.open.split().freeze();
        self.push(data, ends)
    }

    /// Adds a batch whose payloads are exactly `data`, ending at `ends`
    /// (the last one below 4 GiB).
    fn push(&mut self, data: Bytes, ends: &[usize]) -> Offset {
        let offset = self.current;
        let batch = Batch {
            start: offset,
            data,
            first: self.ends_base + self.ends.len() as u64,
            len: ends.len(),
        };
        self.ends.extend(ends.iter().map(|&e| e as u32));
        self.current = batch.end();
        self.records += batch.len;
        self.batches.push_back(batch);
        self.trim();
        self.check();
        offset
    }

    /// Where record `i` of `b` ends in `b.data`.
    fn end_of(&self, b: &Batch, i: usize) -> usize {
        self.ends[(b.first - self.ends_base) as usize + i] as usize
    }

    /// Where record `i` of `b` starts in `b.data`.
    fn payload_start(&self, b: &Batch, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.end_of(b, i - 1)
        }
    }

    /// Offset of record `i` of `b` (`i == b.len`: the batch's end): the
    /// framed lengths of the records before it.
    fn offset_of(&self, b: &Batch, i: usize) -> Offset {
        b.start
            .plus(self.payload_start(b, i) as u64 + i as u64 * framed_len(0))
    }

    fn record(&self, b: &Batch, i: usize) -> Record {
        Record {
            offset: self.offset_of(b, i),
            payload: b.data.slice(self.payload_start(b, i)..self.end_of(b, i)),
        }
    }

    /// Index of the record of `b` starting at `offset`, searched from `from`.
    fn find(&self, b: &Batch, from: usize, offset: Offset) -> Result<usize, usize> {
        let (mut lo, mut hi) = (from, b.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.offset_of(b, mid).cmp(&offset) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    fn trim(&mut self) {
        while self.histlen() > self.size_max {
            let Some(front) = self.batches.front() else {
                break;
            };
            assert_eq!(
                self.offset_of(front, self.skip),
                self.first,
                "backlog front record is not at the first offset"
            );
            self.skip += 1;
            self.records -= 1;
            self.first = self.offset_of(front, self.skip);
            if self.skip == front.len {
                // Dropping the batch's `data` frees its block once the
                // block's other batches (and readers' records) are gone.
                let n = front.len;
                self.batches.pop_front();
                self.ends.drain(..n);
                self.ends_base += n as u64;
                self.skip = 0;
                shrink_if_sparse(&mut self.ends);
                shrink_if_sparse(&mut self.batches);
            }
        }
    }

    fn check(&self) {
        debug_assert!(self.histlen() <= self.size_max);
        debug_assert_eq!(
            self.batches
                .front()
                .map_or(self.current, |b| self.offset_of(b, self.skip)),
            self.first
        );
        debug_assert_eq!(
            self.batches.back().map_or(self.first, Batch::end),
            self.current
        );
        debug_assert_eq!(
            self.batches
                .back()
                .map_or(self.ends_base, |b| b.first + b.len as u64),
            self.ends_base + self.ends.len() as u64
        );
    }

    /// Where the record starting at `offset` is: (batch, record in it).
    fn locate(&self, offset: Offset) -> Option<(usize, usize)> {
        let bi = self
            .batches
            .partition_point(|b| b.start <= offset)
            .checked_sub(1)?;
        let from = if bi == 0 { self.skip } else { 0 };
        let ri = self.find(&self.batches[bi], from, offset).ok()?;
        Some((bi, ri))
    }

    /// True when a record starts at `offset`, or `offset` is the current
    /// offset (where the next record will start).
    pub fn is_boundary(&self, offset: Offset) -> bool {
        offset == self.current || (offset >= self.first && self.locate(offset).is_some())
    }

    /// Returns the records from `offset` (a record boundary inside
    /// `first_offset()..=current_offset()`) to the end, in order.
    pub fn read_from(&self, offset: Offset) -> Result<BacklogIter<'_>, ReadError> {
        if offset < self.first {
            return Err(ReadError::Trimmed {
                requested: offset,
                first: self.first,
            });
        }
        if offset > self.current {
            return Err(ReadError::Future {
                requested: offset,
                current: self.current,
            });
        }
        let (batch, record) = if offset == self.current {
            (self.batches.len(), 0)
        } else {
            self.locate(offset)
                .ok_or(ReadError::NotBoundary { requested: offset })?
        };
        Ok(BacklogIter {
            backlog: self,
            batch,
            record,
            expected: offset,
        })
    }
}

/// Gives back most of a queue's memory once it is three quarters empty
/// (amortized: it halves at most every time it lost half its items).
fn shrink_if_sparse<T>(q: &mut VecDeque<T>) {
    if q.capacity() > QUEUE_KEEP && q.len() < q.capacity() / 4 {
        q.shrink_to((q.len() * 2).max(QUEUE_KEEP));
    }
}

/// Records of a backlog in stream order. Checks, as it reads, that each
/// record starts where the previous one ended (the pair of the check made
/// when it was written).
pub struct BacklogIter<'a> {
    backlog: &'a Backlog,
    batch: usize,
    record: usize,
    expected: Offset,
}

impl Iterator for BacklogIter<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let b = self.backlog.batches.get(self.batch)?;
        let r = self.backlog.record(b, self.record);
        self.record += 1;
        if self.record == b.len {
            self.batch += 1;
            self.record = 0;
        }
        assert_eq!(
            r.offset, self.expected,
            "backlog record is not where the previous one ended"
        );
        self.expected = r.end();
        Some(r)
    }
}

/// The block handling of [`Backlog::append_copy`] (the backlog's behaviour
/// is tested in `tests/backlog.rs`).
#[cfg(test)]
mod block_tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::{Backlog, BLOCK_BYTES, OWN_BUFFER_MIN};
    use crate::id::Offset;
    use crate::record::Record;

    /// A batch of records of `sizes` bytes, each filled with its number.
    fn batch(sizes: &[usize], n: &mut u8) -> (Vec<u8>, Vec<usize>) {
        let (mut data, mut ends) = (Vec::new(), Vec::new());
        for &size in sizes {
            data.extend(std::iter::repeat_n(*n, size));
            ends.push(data.len());
            *n = n.wrapping_add(1);
        }
        (data, ends)
    }

    fn all(b: &Backlog) -> Vec<Record> {
        b.read_from(b.first_offset()).unwrap().collect()
    }

    #[test]
    fn steady_state_appends_reuse_the_queues() {
        let mut b = Backlog::new(1 << 20, Offset(0));
        let (data, ends) = batch(&[40, 20], &mut 0);
        // Fill the backlog so that trimming runs, then append as much again:
        // the queues of batches and record ends keep their memory.
        for _ in 0..40_000 {
            b.append_copy(&data, &ends);
        }
        let capacities = (b.batches.capacity(), b.ends.capacity());
        for _ in 0..100_000 {
            b.append_copy(&data, &ends);
        }
        assert_eq!((b.batches.capacity(), b.ends.capacity()), capacities);
        assert_eq!(all(&b).len(), b.len());
    }

    #[test]
    fn batches_share_a_block_until_it_is_full() {
        let mut b = Backlog::new(1 << 30, Offset(0));
        let (data, ends) = batch(&[100, 50], &mut 7);
        let per_block = BLOCK_BYTES / data.len();
        for _ in 0..per_block + 1 {
            b.append_copy(&data, &ends);
        }
        let records = all(&b);
        assert_eq!(records.len(), 2 * (per_block + 1));
        // Back to back in one block...
        for pair in records[..2 * per_block].windows(2) {
            assert_eq!(pair[0].payload.as_ptr_range().end, pair[1].payload.as_ptr());
        }
        // ...and the batch that did not fit starts a new one.
        let last = &records[2 * per_block];
        assert_ne!(
            records[2 * per_block - 1].payload.as_ptr_range().end,
            last.payload.as_ptr()
        );
        assert_eq!(&last.payload[..], &[7u8; 100][..]);
        assert!(b.open.capacity() <= BLOCK_BYTES);
    }

    #[test]
    fn trimming_frees_blocks() {
        let mut b = Backlog::new(2 * BLOCK_BYTES as u64, Offset(0));
        let (data, ends) = batch(&[100], &mut 1);
        b.append_copy(&data, &ends);
        let oldest = all(&b)[0].payload.clone();
        assert!(!oldest.is_unique(), "the backlog holds the block");
        // Enough to trim the first record and to fill a few more blocks.
        for _ in 0..4 * BLOCK_BYTES / data.len() {
            b.append_copy(&data, &ends);
        }
        assert!(b.first_offset() > Offset(0));
        assert!(oldest.is_unique(), "the trimmed block is only ours now");
        // Retained memory stays within the bound plus about two blocks.
        let mut blocks: Vec<*const u8> = Vec::new();
        for r in all(&b) {
            let p = r.payload.as_ptr();
            if !blocks
                .iter()
                .any(|&s| s <= p && p < s.wrapping_add(BLOCK_BYTES))
            {
                blocks.push(p);
            }
        }
        assert!(blocks.len() <= 4, "{} blocks", blocks.len());
    }

    #[test]
    fn a_large_batch_gets_its_own_buffer() {
        let mut b = Backlog::new(1 << 30, Offset(0));
        let mut n = 0;
        let (small, small_ends) = batch(&[10], &mut n);
        let (huge, huge_ends) = batch(&[3 * BLOCK_BYTES, 5, OWN_BUFFER_MIN], &mut n);
        b.append_copy(&small, &small_ends);
        b.append_copy(&huge, &huge_ends);
        b.append_copy(&small, &small_ends);
        let records = all(&b);
        assert_eq!(records.len(), 5);
        assert_eq!(records[1].payload.len(), 3 * BLOCK_BYTES);
        assert!(records[1].payload.iter().all(|&x| x == 1));
        assert_eq!(&records[2].payload[..], &[2u8; 5][..]);
        assert_eq!(records[3].payload.len(), OWN_BUFFER_MIN);
        // The small batches are back to back in the block the huge one did
        // not touch, and the block stayed its size.
        assert_eq!(
            records[0].payload.as_ptr_range().end,
            records[4].payload.as_ptr()
        );
        assert!(b.open.capacity() < BLOCK_BYTES);
    }

    #[test]
    fn a_batch_of_empty_records_reads_back() {
        let mut b = Backlog::new(1 << 20, Offset(5));
        assert_eq!(b.append_copy(&[], &[0, 0, 0]), Offset(5));
        assert_eq!(b.append_copy(b"abc", &[]), Offset(29));
        assert_eq!(b.append_copy(b"abc", &[1, 3]), Offset(29));
        let got: Vec<_> = all(&b).into_iter().map(|r| (r.offset, r.payload)).collect();
        assert_eq!(
            got,
            vec![
                (Offset(5), Bytes::new()),
                (Offset(13), Bytes::new()),
                (Offset(21), Bytes::new()),
                (Offset(29), Bytes::from_static(b"a")),
                (Offset(38), Bytes::from_static(b"bc")),
            ]
        );
    }

    proptest! {
        /// Batches copied into blocks (sizes crossing block boundaries and
        /// the own-buffer threshold) behave exactly as the same records
        /// appended one by one.
        #[test]
        fn copied_batches_behave_as_single_records(
            max in 0u64..(4 * BLOCK_BYTES as u64),
            batches in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![8 => 0usize..200, 2 => 0usize..(BLOCK_BYTES / 6), 1 => 0usize..(2 * BLOCK_BYTES)],
                    0..6,
                ),
                0..40,
            ),
        ) {
            let mut copied = Backlog::new(max, Offset(3));
            let mut single = Backlog::new(max, Offset(3));
            let mut n = 0u8;
            for sizes in &batches {
                let (mut data, ends) = batch(sizes, &mut n);
                data.extend_from_slice(b"past the last end");
                let expected = single.current_offset();
                let at = copied.append_copy(&data, &ends);
                let mut from = 0;
                for &end in &ends {
                    single.append(Bytes::copy_from_slice(&data[from..end]));
                    from = end;
                }
                prop_assert_eq!(at, expected);
                prop_assert_eq!(
                    (copied.first_offset(), copied.current_offset(), copied.len()),
                    (single.first_offset(), single.current_offset(), single.len())
                );
                prop_assert!(copied.open.capacity() <= BLOCK_BYTES);
            }
            let want = all(&single);
            prop_assert_eq!(&all(&copied), &want);
            for (i, r) in want.iter().enumerate() {
                prop_assert!(copied.is_boundary(r.offset));
                prop_assert!(!copied.is_boundary(r.offset.plus(1)));
                prop_assert_eq!(&copied.read_from(r.offset).unwrap().collect::<Vec<_>>()[..], &want[i..]);
            }
        }
    }
}

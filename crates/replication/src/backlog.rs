//! [`Backlog`]: the retained tail of a stream, from which partial syncs are
//! served, bounded in framed bytes (`repl-backlog-size`).
//!
//! Kept as whole records rather than Redis's byte ring: partial syncs start
//! only at record boundaries (a reader never sees half an effect), and a
//! lookup is a binary search over record offsets. Records appended together
//! share one buffer and one entry (a chunk); payloads are `Bytes`, so handing
//! records to many sessions copies nothing.
//!
//! Trimming drops whole records from the front until the retained framed
//! bytes fit the bound; a record larger than the whole bound is dropped as
//! soon as it is appended (the backlog then holds nothing and serves partial
//! syncs only at the current offset).

use std::collections::VecDeque;

use bytes::Bytes;

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

/// Records appended together (one batch of effects): one buffer holding
/// their payloads back to back, and where each payload ends in it.
///
/// A batch costs one entry and one reference count however many records it
/// has; a record is made into a [`Record`] (a slice of the buffer) only when
/// it is read.
#[derive(Clone, Debug)]
struct Chunk {
    /// Offset of the chunk's first record (trimmed or not).
    start: Offset,
    data: Bytes,
    /// End of each record's payload in `data`.
    ends: Vec<u32>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn payload_start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize
        }
    }

    /// Offset of record `i`: the framed lengths of the records before it.
    fn offset_of(&self, i: usize) -> Offset {
        self.start
            .plus(self.payload_start(i) as u64 + i as u64 * framed_len(0))
    }

    /// Offset just past the chunk's last record.
    fn end(&self) -> Offset {
        self.offset_of(self.len())
    }

    fn record(&self, i: usize) -> Record {
        Record {
            offset: self.offset_of(i),
            payload: self
                .data
                .slice(self.payload_start(i)..self.ends[i] as usize),
        }
    }

    /// Index of the record starting at `offset`, searched from `from`.
    fn find(&self, from: usize, offset: Offset) -> Result<usize, usize> {
        let (mut lo, mut hi) = (from, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.offset_of(mid).cmp(&offset) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }
}

#[derive(Clone, Debug)]
pub struct Backlog {
    chunks: VecDeque<Chunk>,
    /// Records at the front of the first chunk that were trimmed.
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
            chunks: VecDeque::new(),
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
            self.chunks.shrink_to_fit();
        }
    }

    /// Appends a record to the stream; returns the offset it starts at.
    pub fn append(&mut self, payload: Bytes) -> Offset {
        let len = payload.len();
        self.append_many(payload, &[len])
    }

    /// Appends the records whose payloads lie back to back in `data`, each
    /// ending at the next of `ends` (increasing, the last one at most
    /// `data.len()`); returns the offset the first one starts at. One call
    /// per batch keeps one buffer and one entry for the whole batch.
    pub fn append_many(&mut self, data: Bytes, ends: &[usize]) -> Offset {
        let offset = self.current;
        if ends.is_empty() {
            return offset;
        }
        let Ok(ends32) = ends
            .iter()
            .map(|&e| u32::try_from(e))
            .collect::<Result<Vec<u32>, _>>()
        else {
            // Past 4 GiB: a chunk per record.
            let mut from = 0;
            for &e in ends {
                self.append(data.slice(from..e));
                from = e;
            }
            return offset;
        };
        debug_assert!(ends.windows(2).all(|w| w[0] <= w[1]) && ends[ends.len() - 1] <= data.len());
        let chunk = Chunk {
            start: offset,
            data,
            ends: ends32,
        };
        self.current = chunk.end();
        self.records += chunk.len();
        self.chunks.push_back(chunk);
        self.trim();
        self.check();
        offset
    }

    fn trim(&mut self) {
        while self.histlen() > self.size_max {
            let Some(front) = self.chunks.front() else {
                break;
            };
            assert_eq!(
                front.offset_of(self.skip),
                self.first,
                "backlog front record is not at the first offset"
            );
            self.skip += 1;
            self.records -= 1;
            self.first = front.offset_of(self.skip);
            if self.skip == front.len() {
                self.chunks.pop_front();
                self.skip = 0;
            }
        }
    }

    fn check(&self) {
        debug_assert!(self.histlen() <= self.size_max);
        debug_assert_eq!(
            self.chunks
                .front()
                .map_or(self.current, |c| c.offset_of(self.skip)),
            self.first
        );
        debug_assert_eq!(
            self.chunks.back().map_or(self.first, Chunk::end),
            self.current
        );
    }

    /// Where the record starting at `offset` is: (chunk, record in it).
    fn locate(&self, offset: Offset) -> Option<(usize, usize)> {
        let ci = self.chunks.partition_point(|c| c.start <= offset).checked_sub(1)?;
        let from = if ci == 0 { self.skip } else { 0 };
        let ri = self.chunks[ci].find(from, offset).ok()?;
        Some((ci, ri))
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
        let (chunk, record) = if offset == self.current {
            (self.chunks.len(), 0)
        } else {
            self.locate(offset)
                .ok_or(ReadError::NotBoundary { requested: offset })?
        };
        Ok(BacklogIter {
            chunks: &self.chunks,
            chunk,
            record,
            expected: offset,
        })
    }
}

/// Records of a backlog in stream order. Checks, as it reads, that each
/// record starts where the previous one ended (the pair of the check made
/// when it was written).
pub struct BacklogIter<'a> {
    chunks: &'a VecDeque<Chunk>,
    chunk: usize,
    record: usize,
    expected: Offset,
}

impl Iterator for BacklogIter<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let c = self.chunks.get(self.chunk)?;
        let r = c.record(self.record);
        self.record += 1;
        if self.record == c.len() {
            self.chunk += 1;
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

//! [`Backlog`]: the retained tail of a stream, from which partial syncs are
//! served, bounded in framed bytes (`repl-backlog-size`).
//!
//! Kept as a deque of whole records rather than Redis's byte ring: partial
//! syncs start only at record boundaries (a reader never sees half an
//! effect), and a lookup is a binary search over record offsets. Payloads are
//! `Bytes`, so handing records to many sessions copies nothing.
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

#[derive(Clone, Debug)]
pub struct Backlog {
    records: VecDeque<Record>,
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
            records: VecDeque::new(),
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
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Changes the bound (`CONFIG SET repl-backlog-size`) and trims to it.
    pub fn resize(&mut self, size_max: u64) {
        let shrinking = size_max < self.size_max;
        self.size_max = size_max;
        self.trim();
        if shrinking {
            // Give back the record slots too (40 bytes each: as much as a
            // small record's payload), or a smaller limit frees little.
            self.records.shrink_to_fit();
        }
    }

    /// Appends a record to the stream; returns the offset it starts at.
    pub fn append(&mut self, payload: Bytes) -> Offset {
        let offset = self.current;
        self.current = offset.plus(framed_len(payload.len()));
        self.records.push_back(Record { offset, payload });
        self.trim();
        self.check();
        offset
    }

    fn trim(&mut self) {
        while self.histlen() > self.size_max {
            let Some(r) = self.records.pop_front() else {
                break;
            };
            assert_eq!(
                r.offset, self.first,
                "backlog front record is not at the first offset"
            );
            self.first = r.end();
        }
    }

    fn check(&self) {
        debug_assert!(self.histlen() <= self.size_max);
        debug_assert_eq!(
            self.records.front().map_or(self.current, |r| r.offset),
            self.first
        );
        debug_assert_eq!(
            self.records.back().map_or(self.first, Record::end),
            self.current
        );
    }

    /// True when a record starts at `offset`, or `offset` is the current
    /// offset (where the next record will start).
    pub fn is_boundary(&self, offset: Offset) -> bool {
        offset == self.current
            || self
                .records
                .binary_search_by_key(&offset, |r| r.offset)
                .is_ok()
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
        let start = match self.records.binary_search_by_key(&offset, |r| r.offset) {
            Ok(i) => i,
            Err(i) if i == self.records.len() && offset == self.current => i,
            Err(_) => return Err(ReadError::NotBoundary { requested: offset }),
        };
        Ok(BacklogIter {
            records: self.records.range(start..),
            expected: offset,
        })
    }
}

/// Records of a backlog in stream order. Checks, as it reads, that each
/// record starts where the previous one ended (the pair of the check made
/// when it was written).
pub struct BacklogIter<'a> {
    records: std::collections::vec_deque::Iter<'a, Record>,
    expected: Offset,
}

impl<'a> Iterator for BacklogIter<'a> {
    type Item = &'a Record;

    fn next(&mut self) -> Option<&'a Record> {
        let r = self.records.next()?;
        assert_eq!(
            r.offset, self.expected,
            "backlog record is not where the previous one ended"
        );
        self.expected = r.end();
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

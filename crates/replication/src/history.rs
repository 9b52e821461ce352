//! [`History`]: the current replication id and the past ids of this
//! stream, each with the offset where it ended (PSYNC2's `replid2` and
//! `second_replid_offset`, extended from one past id to [`HISTORY_LEN_MAX`]).
//!
//! "Past id X ended at E" means: bytes `0..E` of this stream are exactly
//! bytes `0..E` of the stream X named. A stream is append-only, so the claim
//! stays true for as long as the stream lives; only a full sync, which
//! replaces the stream, replaces the history. Keeping several past ids lets
//! partial syncs survive chains of failovers and migrations (the five
//! situations of the Active-Active documentation).

use crate::id::{Offset, ReplId};

/// How many past ids are kept (DESIGN.md asks for at least 8).
pub const HISTORY_LEN_MAX: usize = 16;

/// Version byte of [`History::encode`].
pub const HISTORY_FORMAT: u8 = 1;

/// A past replication id and the offset where this stream stopped using it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastId {
    pub replid: ReplId,
    pub end: Offset,
}

/// Where a replication id stands in a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    Current,
    /// A past id, valid up to this offset.
    Past(Offset),
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("replication id history truncated")]
    Truncated,
    #[error("unknown replication id history format {0} (this build reads {HISTORY_FORMAT})")]
    Version(u8),
    #[error("invalid replication id in history")]
    BadId,
    #[error("replication id history lists {0} past ids, more than {HISTORY_LEN_MAX}")]
    TooLong(usize),
    #[error("trailing bytes after the replication id history")]
    Trailing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    current: ReplId,
    /// Newest first (greatest end first).
    past: Vec<PastId>,
}

impl History {
    /// Returns the history of a new stream.
    pub fn new(current: ReplId) -> History {
        History {
            current,
            past: Vec::new(),
        }
    }

    /// Returns a history as received in a full sync.
    pub fn from_parts(current: ReplId, past: &[PastId]) -> History {
        let mut h = History::new(current);
        h.merge(past);
        h
    }

    pub fn current(&self) -> ReplId {
        self.current
    }

    /// Returns the past ids, newest first.
    pub fn past(&self) -> &[PastId] {
        &self.past
    }

    /// Returns how `replid` relates to this stream.
    pub fn lookup(&self, replid: ReplId) -> Known {
        if replid == self.current {
            return Known::Current;
        }
        match self.past.iter().find(|p| p.replid == replid) {
            Some(p) => Known::Past(p.end),
            None => Known::Unknown,
        }
    }

    /// A replica becomes a primary at offset `at`: its id goes into the
    /// history (valid up to `at`) and it takes `fresh` (new randomness from
    /// the caller). A fresh id is needed because the old primary may still
    /// be accepting writes on the other side of a partition.
    pub fn promote(&mut self, fresh: ReplId, at: Offset) {
        assert!(
            self.lookup(fresh) == Known::Unknown,
            "promoted to an id already in the history"
        );
        self.shift(fresh, at);
    }

    /// Adopts a new primary's id at offset `at` (Redis's
    /// `shiftReplicationId` on `+CONTINUE <new id>`). Nothing changes when
    /// the id is already current.
    pub fn shift(&mut self, replid: ReplId, at: Offset) {
        if replid == self.current {
            return;
        }
        self.past.retain(|p| p.replid != replid);
        let old = std::mem::replace(&mut self.current, replid);
        self.past.insert(
            0,
            PastId {
                replid: old,
                end: at,
            },
        );
        self.normalize();
    }

    /// After a partial sync: shifts to the primary's id at `at`, then learns
    /// the primary's past ids. This stream now continues the primary's, so
    /// whatever prefix the primary's stream shares with a past id, this one
    /// shares too (and `decide_psync` never serves beyond the current offset).
    pub fn adopt(&mut self, primary_current: ReplId, primary_past: &[PastId], at: Offset) {
        self.shift(primary_current, at);
        self.merge(primary_past);
    }

    fn merge(&mut self, other: &[PastId]) {
        for p in other {
            if p.replid == self.current {
                continue;
            }
            match self.past.iter_mut().find(|q| q.replid == p.replid) {
                Some(q) => q.end = q.end.max(p.end),
                None => self.past.push(*p),
            }
        }
        self.normalize();
    }

    fn normalize(&mut self) {
        self.past
            .sort_by(|a, b| b.end.cmp(&a.end).then(a.replid.cmp(&b.replid)));
        self.past.truncate(HISTORY_LEN_MAX);
    }

    /// Appends the binary form (persisted with the data):
    /// `format u8, current [40], count u8, (id [40], end u64 LE)*`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(HISTORY_FORMAT);
        out.extend_from_slice(self.current.as_bytes());
        out.push(self.past.len() as u8);
        for p in &self.past {
            out.extend_from_slice(p.replid.as_bytes());
            out.extend_from_slice(&p.end.0.to_le_bytes());
        }
    }

    /// Decodes [`History::encode`]'s form; trailing bytes are an error.
    pub fn decode(buf: &[u8]) -> Result<History, HistoryError> {
        let mut rest = buf;
        let mut take = |n: usize| -> Result<&[u8], HistoryError> {
            if rest.len() < n {
                return Err(HistoryError::Truncated);
            }
            let (a, b) = rest.split_at(n);
            rest = b;
            Ok(a)
        };
        let version = take(1)?[0];
        if version != HISTORY_FORMAT {
            return Err(HistoryError::Version(version));
        }
        let current = ReplId::parse(take(ReplId::LEN)?).ok_or(HistoryError::BadId)?;
        let count = take(1)?[0] as usize;
        if count > HISTORY_LEN_MAX {
            return Err(HistoryError::TooLong(count));
        }
        let mut past = Vec::with_capacity(count);
        for _ in 0..count {
            let replid = ReplId::parse(take(ReplId::LEN)?).ok_or(HistoryError::BadId)?;
            let end = Offset(u64::from_le_bytes(take(8)?.try_into().expect("8 bytes")));
            past.push(PastId { replid, end });
        }
        if !rest.is_empty() {
            return Err(HistoryError::Trailing);
        }
        Ok(History::from_parts(current, &past))
    }
}

//! The PSYNC decision: may a replica (or a syncer) continue from where it
//! is, or must it take a full sync? A pure function of the request, the
//! replication id history and the backlog, following Redis's
//! `masterTryPartialResynchronization` with N past ids instead of one.
//!
//! Rules, checked in this order (the first that fails decides):
//! 1. The request names an id (`PSYNC ? -1` asks for a full sync).
//! 2. The id is the current one, or a past one and the offset is not beyond
//!    the offset where that id ended.
//! 3. The offset is inside the backlog: `first_offset <= offset <= current_offset`.
//! 4. The offset is a record boundary (a replica only ever holds whole
//!    records, so anything else means the two streams differ).

use crate::backlog::{Backlog, ReadError};
use crate::history::{History, Known};
use crate::id::{Offset, ReplId};

/// `PSYNC <replid> <offset>`; `PSYNC ? -1` is `{ replid: None, offset: None }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsyncRequest {
    pub replid: Option<ReplId>,
    pub offset: Option<Offset>,
}

/// Why a request gets a full sync (for logs and `crdt_sync_partial_err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullReason {
    /// The requester holds no data (`PSYNC ? -1`): not a partial-sync failure.
    Requested,
    UnknownReplId,
    /// A past id, asked beyond the offset where it ended.
    PastIdEnded {
        end: Offset,
    },
    /// The offset was trimmed from the backlog.
    Trimmed {
        first: Offset,
    },
    /// The offset is beyond this stream's current offset.
    Future {
        current: Offset,
    },
    NotBoundary,
}

impl FullReason {
    /// Returns a short stable name (log field, test tables).
    pub fn name(self) -> &'static str {
        match self {
            FullReason::Requested => "requested",
            FullReason::UnknownReplId => "unknown-id",
            FullReason::PastIdEnded { .. } => "past-id-ended",
            FullReason::Trimmed { .. } => "trimmed",
            FullReason::Future { .. } => "future",
            FullReason::NotBoundary => "not-boundary",
        }
    }

    /// True when the requester asked for a partial sync and was refused
    /// (counted as `crdt_sync_partial_err`, as Redis's `sync_partial_err`).
    pub fn is_partial_err(self) -> bool {
        self != FullReason::Requested
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `+CONTINUE`: send the backlog's records from `from`.
    Continue { from: Offset },
    /// `+FULLRESYNC <replid> <offset>`: send a snapshot of the state at
    /// `offset` (the current offset), then records from there.
    FullResync {
        replid: ReplId,
        offset: Offset,
        reason: FullReason,
    },
}

/// Decides how to serve `request` from this stream.
pub fn decide_psync(request: &PsyncRequest, history: &History, backlog: &Backlog) -> Decision {
    let full = |reason| Decision::FullResync {
        replid: history.current(),
        offset: backlog.current_offset(),
        reason,
    };
    let (Some(replid), Some(offset)) = (request.replid, request.offset) else {
        return full(FullReason::Requested);
    };
    match history.lookup(replid) {
        Known::Current => {}
        Known::Past(end) if offset <= end => {}
        Known::Past(end) => return full(FullReason::PastIdEnded { end }),
        Known::Unknown => return full(FullReason::UnknownReplId),
    }
    match backlog.read_from(offset) {
        Ok(_) => Decision::Continue { from: offset },
        Err(ReadError::Trimmed { first, .. }) => full(FullReason::Trimmed { first }),
        Err(ReadError::Future { current, .. }) => full(FullReason::Future { current }),
        Err(ReadError::NotBoundary { .. }) => full(FullReason::NotBoundary),
    }
}

//! In-cluster replication and persistence of a shard's stream, as a pure
//! core: replication ids and offsets, the backlog, the id history, the
//! PSYNC decision, the sync session state machines of both ends, and the
//! append-only log of segment files.
//!
//! Main types: [`ReplId`], [`Offset`], [`Backlog`], [`History`],
//! [`decide_psync`], [`ReplicaSession`] / [`PrimarySession`] (over
//! [`Message`]s that are RESP frames), [`log::LogWriter`] / [`log::LogReader`].
//! docs/replication.md describes the protocol with a worked offset example.
//!
//! Invariants: depends only on `resp`, `bytes`, `thiserror` and `crc32fast`;
//! no tokio, no sockets, no clock (time comes in as `now_ms`), no RNG (new
//! ids come from randomness passed in). Only [`log`] touches files, through
//! `std::fs`. Records are opaque payloads: offsets and backlogs never depend
//! on how effects are encoded.

pub mod backlog;
pub mod history;
pub mod id;
pub mod log;
pub mod message;
pub mod psync;
pub mod record;
pub mod session;

#[cfg(test)]
mod tests;

pub use backlog::{auto_backlog_bytes, Backlog, BacklogIter, BacklogSize, ReadError};
pub use history::{History, HistoryError, Known, PastId, HISTORY_LEN_MAX};
pub use id::{Offset, ReplId};
pub use message::{Message, MessageError, PROTOCOL_VERSION};
pub use psync::{decide_psync, Decision, FullReason, PsyncRequest};
pub use record::{FrameError, Record};
pub use session::{
    PrimaryConfig, PrimaryOutput, PrimarySession, ReplicaConfig, ReplicaOutput, ReplicaSession,
    SyncError,
};

//! Sync sessions: the two ends of one replication connection as pure state
//! machines, in the style of raft-rs. The caller owns the socket, the clock
//! and the shard's state; it feeds messages in with `step`, time with
//! `tick`, and carries out the outputs (send, apply, retain, load, close).
//!
//! ```text
//! replica                                   primary
//!   [AUTH user pass]            ->
//!                               <-          +OK
//!   REPLCONF concord-protocol 1 ->
//!                               <-          +OK            (or -ERR: fatal mismatch)
//!   PSYNC <replid|?> <offset|-1> ->
//!                               <-          +CONTINUE <replid> | +FULLRESYNC <replid> <offset>
//!                               <-          REPLIDS <past id> <end> ...
//!   (full sync only)            <-          SNAPSHOT <bytes> ... SNAPEND <len> <crc32> <backlog first>
//!                               <-          RECORD <offset> <payload> ...   (and PING when idle)
//!   REPLCONF ACK <offset>       ->          (every ack period)
//! ```
//!
//! A session never owns the backlog or the history: the primary side reads
//! them as arguments, the replica side tells its caller what to change.
//! That keeps one owner for the shard's state (the shard's single thread) and
//! lets one backlog serve any number of sessions without copying.

use bytes::Bytes;

use crate::backlog::{Backlog, ReadError};
use crate::history::{History, PastId};
use crate::id::{Offset, ReplId};
use crate::message::{Message, MessageError, PROTOCOL_VERSION};
use crate::psync::{decide_psync, Decision, PsyncRequest};
use crate::record::{framed_len, Record};

/// Why a session ended. The connection is closed; [`SyncError::is_fatal`]
/// says whether reconnecting can help (a syncer exits with code 4 if not).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("incompatible replication protocol: {0}")]
    IncompatibleProtocol(String),
    #[error("authentication refused: {0}")]
    AuthRefused(String),
    #[error("the primary refused the sync: {0}")]
    Refused(String),
    #[error("the peer sent an error: {0}")]
    PeerError(String),
    #[error("nothing received for {elapsed_ms} ms while {state}")]
    Timeout {
        state: &'static str,
        elapsed_ms: u64,
    },
    #[error("unexpected {message} while {state}")]
    Unexpected {
        state: &'static str,
        message: &'static str,
    },
    #[error("malformed message: {0}")]
    Malformed(MessageError),
    #[error("record at offset {got}, expected offset {expected}")]
    OffsetMismatch { expected: Offset, got: Offset },
    #[error("snapshot larger than the limit of {max} bytes")]
    SnapshotTooLarge { max: u64 },
    #[error("snapshot damaged in transfer: {got_len} bytes with crc32 {got_crc:#010x}, expected {len} bytes with crc32 {crc:#010x}")]
    SnapshotCorrupt {
        len: u64,
        crc: u32,
        got_len: u64,
        got_crc: u32,
    },
    #[error("the replica fell behind: offset {next} was trimmed from the backlog (it starts at {first})")]
    BacklogOverrun { next: Offset, first: Offset },
    #[error("acknowledged offset {acked} beyond offset {sent} sent")]
    AckBeyondSent { acked: Offset, sent: Offset },
}

impl SyncError {
    /// True when retrying cannot help: the configuration must change first.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SyncError::IncompatibleProtocol(_) | SyncError::AuthRefused(_)
        )
    }
}

// ---- replica side ----------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// Sent as `AUTH <user> <password>` before the handshake.
    pub auth: Option<(Bytes, Bytes)>,
    /// `repl-timeout`: the longest silence from the primary.
    pub timeout_ms: u64,
    /// How often `REPLCONF ACK` is sent while streaming.
    pub ack_period_ms: u64,
    /// The largest snapshot accepted.
    pub snapshot_bytes_max: u64,
}

impl Default for ReplicaConfig {
    fn default() -> ReplicaConfig {
        ReplicaConfig {
            auth: None,
            timeout_ms: 60_000,
            ack_period_ms: 1_000,
            snapshot_bytes_max: 64 << 30,
        }
    }
}

/// What the caller of a [`ReplicaSession`] must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaOutput {
    Send(Message),
    /// A full sync starts: the snapshot of the primary's state at `offset`
    /// follows in [`ReplicaOutput::SnapshotChunk`]s. Keep serving the old
    /// state until [`ReplicaOutput::SnapshotComplete`].
    FullSyncStarted {
        replid: ReplId,
        offset: Offset,
    },
    SnapshotChunk(Bytes),
    /// Every snapshot byte arrived intact: replace the keyspace with the
    /// snapshot, the history with `history`, and the backlog (and log) with
    /// an empty one starting at `backlog_first`. Records from there follow.
    SnapshotComplete {
        history: History,
        offset: Offset,
        backlog_first: Offset,
    },
    /// The primary accepted a partial sync at `offset`: call
    /// `History::adopt(replid, &past, offset)`. Records from `offset` follow.
    Continued {
        replid: ReplId,
        past: Vec<PastId>,
        offset: Offset,
    },
    /// Append to the backlog and log without applying: the snapshot holds it.
    Retain(Record),
    /// Apply the effect, then append it; `Backlog::append` must return
    /// `record.offset`.
    Apply(Record),
    /// The session ended; close the connection.
    Failed(SyncError),
}

#[derive(Clone, Debug)]
enum ReplicaState {
    Idle,
    Auth,
    Handshake,
    AwaitPsync,
    AwaitIds(Accepted),
    Snapshot {
        replid: ReplId,
        offset: Offset,
        past: Vec<PastId>,
        len: u64,
        crc: crc32fast::Hasher,
    },
    /// `next`: offset of the next record; records before `live_from` are
    /// already in the snapshot (retained, not applied).
    Streaming {
        next: Offset,
        live_from: Offset,
    },
    Failed,
}

#[derive(Clone, Copy, Debug)]
enum Accepted {
    Full { replid: ReplId, offset: Offset },
    Continue { replid: ReplId },
}

impl ReplicaState {
    fn name(&self) -> &'static str {
        match self {
            ReplicaState::Idle => "idle",
            ReplicaState::Auth => "authenticating",
            ReplicaState::Handshake => "handshaking",
            ReplicaState::AwaitPsync => "waiting for the PSYNC reply",
            ReplicaState::AwaitIds(_) => "waiting for REPLIDS",
            ReplicaState::Snapshot { .. } => "receiving the snapshot",
            ReplicaState::Streaming { .. } => "streaming",
            ReplicaState::Failed => "failed",
        }
    }
}

/// The replica end: a shard's replica following its primary, or a syncer
/// following another instance.
pub struct ReplicaSession {
    config: ReplicaConfig,
    state: ReplicaState,
    /// What this side holds: `None` for no data (asks `PSYNC ? -1`).
    position: Option<(ReplId, Offset)>,
    last_recv_ms: u64,
    last_ack_ms: u64,
}

impl ReplicaSession {
    /// Returns a session for a replica at `position`; call
    /// [`ReplicaSession::start`] once connected.
    pub fn new(config: ReplicaConfig, position: Option<(ReplId, Offset)>) -> ReplicaSession {
        ReplicaSession {
            config,
            state: ReplicaState::Idle,
            position,
            last_recv_ms: 0,
            last_ack_ms: 0,
        }
    }

    /// Returns the replication id and offset this side holds (applied or
    /// loaded), which it would ask a partial sync from.
    pub fn position(&self) -> Option<(ReplId, Offset)> {
        self.position
    }

    /// Returns a short description of the state (logs, INFO).
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    pub fn is_streaming(&self) -> bool {
        matches!(self.state, ReplicaState::Streaming { .. })
    }

    /// The connection is up: returns the first messages.
    pub fn start(&mut self, now_ms: u64) -> Vec<ReplicaOutput> {
        assert!(
            matches!(self.state, ReplicaState::Idle),
            "a session starts once"
        );
        self.last_recv_ms = now_ms;
        match &self.config.auth {
            Some((user, password)) => {
                self.state = ReplicaState::Auth;
                vec![ReplicaOutput::Send(Message::Auth {
                    user: user.clone(),
                    password: password.clone(),
                })]
            }
            None => self.handshake(),
        }
    }

    fn handshake(&mut self) -> Vec<ReplicaOutput> {
        self.state = ReplicaState::Handshake;
        vec![ReplicaOutput::Send(Message::Protocol(PROTOCOL_VERSION))]
    }

    fn fail(&mut self, e: SyncError) -> Vec<ReplicaOutput> {
        self.state = ReplicaState::Failed;
        vec![ReplicaOutput::Failed(e)]
    }

    fn unexpected(&mut self, m: &Message) -> Vec<ReplicaOutput> {
        let e = SyncError::Unexpected {
            state: self.state.name(),
            message: m.name(),
        };
        self.fail(e)
    }

    /// Handles a frame that did not parse as a message.
    pub fn step_malformed(&mut self, e: MessageError) -> Vec<ReplicaOutput> {
        if matches!(self.state, ReplicaState::Failed) {
            return Vec::new();
        }
        self.fail(SyncError::Malformed(e))
    }

    /// Handles one message from the primary.
    pub fn step(&mut self, msg: Message, now_ms: u64) -> Vec<ReplicaOutput> {
        self.last_recv_ms = now_ms;
        let state = std::mem::replace(&mut self.state, ReplicaState::Failed);
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        match (state, msg) {
            (ReplicaState::Failed, _) => Vec::new(),
            (state, Message::Ping) => {
                self.state = state;
                Vec::new()
            }
            (ReplicaState::Auth, Message::Ok) => self.handshake(),
            (ReplicaState::Auth, Message::Error(e)) => self.fail(SyncError::AuthRefused(text(&e))),
            (ReplicaState::Handshake, Message::Ok) => {
                self.state = ReplicaState::AwaitPsync;
                let request = match self.position {
                    Some((replid, offset)) => PsyncRequest {
                        replid: Some(replid),
                        offset: Some(offset),
                    },
                    None => PsyncRequest {
                        replid: None,
                        offset: None,
                    },
                };
                vec![ReplicaOutput::Send(Message::Psync(request))]
            }
            (ReplicaState::Handshake, Message::Error(e)) => {
                self.fail(SyncError::IncompatibleProtocol(text(&e)))
            }
            (ReplicaState::AwaitPsync, Message::FullResync { replid, offset }) => {
                self.state = ReplicaState::AwaitIds(Accepted::Full { replid, offset });
                Vec::new()
            }
            (ReplicaState::AwaitPsync, Message::Continue { replid }) if self.position.is_some() => {
                self.state = ReplicaState::AwaitIds(Accepted::Continue { replid });
                Vec::new()
            }
            (ReplicaState::AwaitPsync, Message::Error(e)) => {
                self.fail(SyncError::Refused(text(&e)))
            }
            (ReplicaState::AwaitIds(Accepted::Full { replid, offset }), Message::ReplIds(past)) => {
                self.state = ReplicaState::Snapshot {
                    replid,
                    offset,
                    past,
                    len: 0,
                    crc: crc32fast::Hasher::new(),
                };
                vec![ReplicaOutput::FullSyncStarted { replid, offset }]
            }
            (ReplicaState::AwaitIds(Accepted::Continue { replid }), Message::ReplIds(past)) => {
                let (_, offset) = self
                    .position
                    .expect("+CONTINUE is accepted only with a position");
                self.position = Some((replid, offset));
                self.state = ReplicaState::Streaming {
                    next: offset,
                    live_from: offset,
                };
                vec![ReplicaOutput::Continued {
                    replid,
                    past,
                    offset,
                }]
            }
            (
                ReplicaState::Snapshot {
                    replid,
                    offset,
                    past,
                    len,
                    mut crc,
                },
                Message::Snapshot(chunk),
            ) => {
                let len = len + chunk.len() as u64;
                if len > self.config.snapshot_bytes_max {
                    return self.fail(SyncError::SnapshotTooLarge {
                        max: self.config.snapshot_bytes_max,
                    });
                }
                crc.update(&chunk);
                self.state = ReplicaState::Snapshot {
                    replid,
                    offset,
                    past,
                    len,
                    crc,
                };
                vec![ReplicaOutput::SnapshotChunk(chunk)]
            }
            (
                ReplicaState::Snapshot {
                    replid,
                    offset,
                    past,
                    len,
                    crc,
                },
                Message::SnapEnd {
                    len: want_len,
                    crc: want_crc,
                    backlog_first,
                },
            ) => {
                let got_crc = crc.finalize();
                if (len, got_crc) != (want_len, want_crc) {
                    return self.fail(SyncError::SnapshotCorrupt {
                        len: want_len,
                        crc: want_crc,
                        got_len: len,
                        got_crc,
                    });
                }
                if backlog_first > offset {
                    return self.fail(SyncError::OffsetMismatch {
                        expected: offset,
                        got: backlog_first,
                    });
                }
                self.position = Some((replid, offset));
                self.state = ReplicaState::Streaming {
                    next: backlog_first,
                    live_from: offset,
                };
                self.last_ack_ms = now_ms;
                let history = History::from_parts(replid, &past);
                vec![
                    ReplicaOutput::SnapshotComplete {
                        history,
                        offset,
                        backlog_first,
                    },
                    ReplicaOutput::Send(Message::Ack(offset)),
                ]
            }
            (ReplicaState::Streaming { next, live_from }, Message::Record(record)) => {
                if record.offset != next {
                    return self.fail(SyncError::OffsetMismatch {
                        expected: next,
                        got: record.offset,
                    });
                }
                let end = record.end();
                if record.offset < live_from && end > live_from {
                    // A retained record must end exactly where the snapshot starts.
                    return self.fail(SyncError::OffsetMismatch {
                        expected: live_from,
                        got: end,
                    });
                }
                self.state = ReplicaState::Streaming {
                    next: end,
                    live_from,
                };
                if end <= live_from {
                    return vec![ReplicaOutput::Retain(record)];
                }
                let (replid, _) = self.position.expect("streaming has a position");
                self.position = Some((replid, end));
                vec![ReplicaOutput::Apply(record)]
            }
            (state, msg) => {
                self.state = state;
                self.unexpected(&msg)
            }
        }
    }

    /// Advances time: timeouts and periodic acknowledgements.
    pub fn tick(&mut self, now_ms: u64) -> Vec<ReplicaOutput> {
        if matches!(self.state, ReplicaState::Idle | ReplicaState::Failed) {
            return Vec::new();
        }
        let silent_ms = now_ms.saturating_sub(self.last_recv_ms);
        if silent_ms > self.config.timeout_ms {
            let e = SyncError::Timeout {
                state: self.state.name(),
                elapsed_ms: silent_ms,
            };
            return self.fail(e);
        }
        if let ReplicaState::Streaming { next, live_from } = self.state {
            if now_ms.saturating_sub(self.last_ack_ms) >= self.config.ack_period_ms {
                self.last_ack_ms = now_ms;
                return vec![ReplicaOutput::Send(Message::Ack(next.max(live_from)))];
            }
        }
        Vec::new()
    }
}

// ---- primary side ----------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryConfig {
    /// `repl-timeout`: the longest silence from a streaming replica.
    pub timeout_ms: u64,
    /// `repl-ping-replica-period`: a PING goes out after this much silence.
    pub ping_period_ms: u64,
    /// Ship the retained backlog after a snapshot, so the replica can serve
    /// partial syncs right away (Active-Active full sync does).
    pub ship_backlog: bool,
}

impl Default for PrimaryConfig {
    fn default() -> PrimaryConfig {
        PrimaryConfig {
            timeout_ms: 60_000,
            ping_period_ms: 10_000,
            ship_backlog: true,
        }
    }
}

/// What the caller of a [`PrimarySession`] must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrimaryOutput {
    Send(Message),
    /// The PSYNC decision, for `INFO` counters and logs.
    Decided(Decision),
    /// A full sync was decided at `offset`: take a snapshot (the caller may
    /// keep writing while it does, so the snapshot may be of a later
    /// offset), report its position with [`PrimarySession::snapshot_taken`]
    /// (which returns `+FULLRESYNC` and `REPLIDS` to send), then feed it
    /// through [`PrimarySession::snapshot_chunk`] and
    /// [`PrimarySession::snapshot_end`].
    TakeSnapshot {
        offset: Offset,
    },
    /// The replica acknowledged everything up to this offset.
    Acked(Offset),
    /// The session ended; close the connection.
    Failed(SyncError),
}

#[derive(Clone, Debug)]
enum PrimaryState {
    Handshake,
    AwaitPsync,
    Snapshot {
        offset: Offset,
        len: u64,
        crc: crc32fast::Hasher,
    },
    Streaming {
        next: Offset,
    },
    Failed,
}

impl PrimaryState {
    fn name(&self) -> &'static str {
        match self {
            PrimaryState::Handshake => "handshaking",
            PrimaryState::AwaitPsync => "waiting for PSYNC",
            PrimaryState::Snapshot { .. } => "sending the snapshot",
            PrimaryState::Streaming { .. } => "streaming",
            PrimaryState::Failed => "failed",
        }
    }
}

/// The primary end of one replica's (or syncer's) connection. The caller has
/// authenticated the connection before handing it over.
pub struct PrimarySession {
    config: PrimaryConfig,
    state: PrimaryState,
    last_recv_ms: u64,
    last_send_ms: u64,
    acked: Offset,
    /// The highest offset sent (records or snapshot): acks may not pass it.
    sent: Offset,
}

impl PrimarySession {
    pub fn new(config: PrimaryConfig, now_ms: u64) -> PrimarySession {
        PrimarySession {
            config,
            state: PrimaryState::Handshake,
            last_recv_ms: now_ms,
            last_send_ms: now_ms,
            acked: Offset(0),
            sent: Offset(0),
        }
    }

    /// Returns the highest offset the replica acknowledged.
    pub fn acked(&self) -> Offset {
        self.acked
    }

    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    pub fn is_streaming(&self) -> bool {
        matches!(self.state, PrimaryState::Streaming { .. })
    }

    fn fail(&mut self, e: SyncError, reply: Option<String>) -> Vec<PrimaryOutput> {
        self.state = PrimaryState::Failed;
        let mut out = Vec::new();
        if let Some(text) = reply {
            out.push(PrimaryOutput::Send(Message::Error(Bytes::from(text))));
        }
        out.push(PrimaryOutput::Failed(e));
        out
    }

    /// Handles a request that did not parse as a message: replies with the
    /// error and ends the session.
    pub fn step_malformed(&mut self, e: MessageError) -> Vec<PrimaryOutput> {
        let reply = format!("ERR {e}");
        self.fail(SyncError::Malformed(e), Some(reply))
    }

    /// Handles one message from the replica. `history` and `backlog` are the
    /// shard's own.
    pub fn step(
        &mut self,
        msg: Message,
        history: &History,
        backlog: &Backlog,
        now_ms: u64,
    ) -> Vec<PrimaryOutput> {
        self.last_recv_ms = now_ms;
        match (&self.state, msg) {
            (PrimaryState::Failed, _) => Vec::new(),
            (_, Message::Ping) => Vec::new(),
            (PrimaryState::Handshake, Message::Protocol(v)) if v == PROTOCOL_VERSION => {
                self.state = PrimaryState::AwaitPsync;
                vec![PrimaryOutput::Send(Message::Ok)]
            }
            (PrimaryState::Handshake, Message::Protocol(v)) => {
                let text = format!("ERR concord-protocol {v} is not supported (this primary speaks {PROTOCOL_VERSION})");
                self.fail(SyncError::IncompatibleProtocol(text.clone()), Some(text))
            }
            (PrimaryState::Handshake, m @ Message::Psync(_)) => {
                let text = "ERR send REPLCONF concord-protocol <version> before PSYNC".to_string();
                let e = SyncError::Unexpected {
                    state: self.state.name(),
                    message: m.name(),
                };
                self.fail(e, Some(text))
            }
            (PrimaryState::AwaitPsync, Message::Psync(request)) => {
                self.psync(&request, history, backlog, now_ms)
            }
            (
                PrimaryState::Snapshot { .. } | PrimaryState::Streaming { .. },
                Message::Ack(offset),
            ) => {
                if offset > self.sent {
                    return self.fail(
                        SyncError::AckBeyondSent {
                            acked: offset,
                            sent: self.sent,
                        },
                        None,
                    );
                }
                if offset > self.acked {
                    self.acked = offset;
                    return vec![PrimaryOutput::Acked(offset)];
                }
                Vec::new()
            }
            (_, m) => {
                let e = SyncError::Unexpected {
                    state: self.state.name(),
                    message: m.name(),
                };
                let text = format!("ERR unexpected {} while {}", m.name(), self.state.name());
                self.fail(e, Some(text))
            }
        }
    }

    fn psync(
        &mut self,
        request: &PsyncRequest,
        history: &History,
        backlog: &Backlog,
        now_ms: u64,
    ) -> Vec<PrimaryOutput> {
        let decision = decide_psync(request, history, backlog);
        self.last_send_ms = now_ms;
        match decision {
            Decision::Continue { from } => {
                self.state = PrimaryState::Streaming { next: from };
                self.sent = from;
                self.acked = from;
                vec![
                    PrimaryOutput::Decided(decision),
                    PrimaryOutput::Send(Message::Continue {
                        replid: history.current(),
                    }),
                    PrimaryOutput::Send(Message::ReplIds(history.past().to_vec())),
                ]
            }
            Decision::FullResync { offset, .. } => {
                self.state = PrimaryState::Snapshot {
                    offset,
                    len: 0,
                    crc: crc32fast::Hasher::new(),
                };
                vec![
                    PrimaryOutput::Decided(decision),
                    PrimaryOutput::TakeSnapshot { offset },
                ]
            }
        }
    }

    /// The snapshot asked for by `TakeSnapshot` is of the state at `offset`
    /// of the stream `history` names (both as they were when the snapshot
    /// was finished). Returns `+FULLRESYNC <current id> <offset>` and
    /// `REPLIDS`, to send before the chunks. The replica waits for the
    /// answer to its PSYNC meanwhile.
    pub fn snapshot_taken(
        &mut self,
        history: &History,
        offset: Offset,
        now_ms: u64,
    ) -> Vec<PrimaryOutput> {
        let PrimaryState::Snapshot {
            offset: at, len, ..
        } = &mut self.state
        else {
            panic!("snapshot_taken while {}", self.state.name());
        };
        assert_eq!(*len, 0, "snapshot_taken after a chunk");
        *at = offset;
        self.last_send_ms = now_ms;
        vec![
            PrimaryOutput::Send(Message::FullResync {
                replid: history.current(),
                offset,
            }),
            PrimaryOutput::Send(Message::ReplIds(history.past().to_vec())),
        ]
    }

    /// Wraps the next chunk of the snapshot (after `TakeSnapshot`).
    pub fn snapshot_chunk(&mut self, chunk: Bytes) -> Message {
        let PrimaryState::Snapshot { len, crc, .. } = &mut self.state else {
            panic!("snapshot_chunk while {}", self.state.name());
        };
        *len += chunk.len() as u64;
        crc.update(&chunk);
        Message::Snapshot(chunk)
    }

    /// Ends the snapshot: returns `SNAPEND`, and the session then streams
    /// records, first the retained backlog before the snapshot's offset.
    pub fn snapshot_end(&mut self, backlog: &Backlog, now_ms: u64) -> Vec<PrimaryOutput> {
        let state = std::mem::replace(&mut self.state, PrimaryState::Failed);
        let PrimaryState::Snapshot { offset, len, crc } = state else {
            panic!("snapshot_end while {}", state.name());
        };
        let backlog_first = if self.config.ship_backlog {
            backlog.first_offset().min(offset)
        } else {
            offset
        };
        if !backlog.is_boundary(backlog_first) || backlog_first < backlog.first_offset() {
            return self.fail(
                SyncError::BacklogOverrun {
                    next: backlog_first,
                    first: backlog.first_offset(),
                },
                None,
            );
        }
        self.state = PrimaryState::Streaming {
            next: backlog_first,
        };
        self.sent = offset;
        self.acked = self.acked.min(offset);
        // The replica loads the snapshot before it acknowledges: time starts now.
        self.last_recv_ms = now_ms;
        self.last_send_ms = now_ms;
        vec![PrimaryOutput::Send(Message::SnapEnd {
            len,
            crc: crc.finalize(),
            backlog_first,
        })]
    }

    /// Returns the next records to send, about `bytes_max` framed bytes (at
    /// least one record when any is due). The caller calls it whenever the
    /// backlog grew or the socket can take more.
    pub fn poll(&mut self, backlog: &Backlog, bytes_max: u64, now_ms: u64) -> Vec<PrimaryOutput> {
        let PrimaryState::Streaming { next } = self.state else {
            return Vec::new();
        };
        let records = match backlog.read_from(next) {
            Ok(it) => it,
            Err(ReadError::Trimmed { first, .. }) => {
                return self.fail(SyncError::BacklogOverrun { next, first }, None)
            }
            Err(e) => {
                panic!("a streaming session is at offset {next}, invalid in the backlog: {e}")
            }
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut at = next;
        for r in records {
            if bytes > 0 && bytes + framed_len(r.payload.len()) > bytes_max {
                break;
            }
            bytes += framed_len(r.payload.len());
            at = r.end();
            out.push(PrimaryOutput::Send(Message::Record(r)));
        }
        if !out.is_empty() {
            self.state = PrimaryState::Streaming { next: at };
            self.sent = self.sent.max(at);
            self.last_send_ms = now_ms;
        }
        out
    }

    /// Advances time: the replica's timeout and keepalive PINGs.
    pub fn tick(&mut self, now_ms: u64) -> Vec<PrimaryOutput> {
        match self.state {
            PrimaryState::Failed | PrimaryState::Snapshot { .. } => return Vec::new(),
            _ => {}
        }
        let silent_ms = now_ms.saturating_sub(self.last_recv_ms);
        if silent_ms > self.config.timeout_ms {
            return self.fail(
                SyncError::Timeout {
                    state: self.state.name(),
                    elapsed_ms: silent_ms,
                },
                None,
            );
        }
        if self.is_streaming()
            && now_ms.saturating_sub(self.last_send_ms) >= self.config.ping_period_ms
        {
            self.last_send_ms = now_ms;
            return vec![PrimaryOutput::Send(Message::Ping)];
        }
        Vec::new()
    }
}

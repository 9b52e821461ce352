//! One peer link: the session loop that pulls one other instance's stream
//! into the local shard, and its reconnections.
//!
//! A session: connect to the peer's proxy, `AUTH`, `CRDT.HELLO`, read our
//! position from the local shard (`CRDT.POSITION`), `CRDT.PSYNC`, the
//! snapshot if the peer decided a full sync (`CRDT.MERGE`), then the stream
//! (`CRDT.APPLY`). The link keeps one connection to the local shard across
//! sessions; it is dropped only when it breaks or is left mid-reply.
//!
//! The streaming loop is one task over both sockets. Frames already in the
//! read buffer are decoded, decompressed and checked into a batch; when the
//! buffer holds no whole frame any more (or the batch is full) the batch
//! goes to the local shard as one `CRDT.APPLY`, without waiting for earlier
//! applies to be answered, up to [`INFLIGHT_MAX`] commands and
//! [`INFLIGHT_BYTES_MAX`] bytes. While the limit is reached frames keep
//! accumulating in the next batch, so a slow shard gets fewer, larger
//! applies, and a full batch stops reading the peer (TCP flow control does
//! the rest).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use replication::ReplId;
use resp::Frame;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::conn::Conn;
use crate::stats::PeerStats;
use crate::wire::{self, classify_error, command, describe, Batch, ErrorKind, PeerFrame, SyncStart};
use crate::{Config, Fatal};

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a handshake reply (AUTH, HELLO, PSYNC, POSITION) may take.
const HANDSHAKE_IDLE: Duration = Duration::from_secs(30);
/// Longest silence between snapshot frames (the peer may take a while to
/// start one).
const SNAPSHOT_IDLE: Duration = Duration::from_secs(120);
/// How long the local shard may take to merge a snapshot.
const MERGE_IDLE: Duration = Duration::from_secs(600);
/// How long the local shard may take to answer one apply.
const APPLY_IDLE: Duration = Duration::from_secs(60);
/// Longest silence from a streaming peer (it sends `PING` after 1 s).
const STREAM_SILENCE: Duration = Duration::from_secs(15);
/// A batch stops taking frames at this many payload bytes.
const BATCH_BYTES_MAX: usize = 64 << 20;
/// Applies sent and not answered yet, at most.
const INFLIGHT_MAX: usize = 4;
/// Payload bytes sent and not answered yet, at most (one apply may exceed it).
const INFLIGHT_BYTES_MAX: usize = 128 << 20;
/// A session that streamed this long resets the reconnect backoff.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Why a session ended.
#[derive(Debug)]
enum Stop {
    /// Unrecoverable: the syncer exits with code 4.
    Fatal(String),
    /// Reconnect after the backoff delay.
    Retry(String),
}

fn retry(text: impl Into<String>) -> Stop {
    Stop::Retry(text.into())
}

pub(crate) struct Link {
    cfg: Arc<Config>,
    peer: u16,
    addr: SocketAddr,
    stats: Arc<PeerStats>,
    local: Option<Conn>,
    dec: zstd::bulk::Decompressor<'static>,
    /// When the current session started streaming, if it did.
    streaming_since: Option<Instant>,
}

impl Link {
    pub(crate) fn new(cfg: Arc<Config>, peer: u16, addr: SocketAddr, stats: Arc<PeerStats>) -> Link {
        Link {
            cfg,
            peer,
            addr,
            stats,
            local: None,
            dec: zstd::bulk::Decompressor::new().expect("zstd decompression context"),
            streaming_since: None,
        }
    }

    /// Runs sessions until `shutdown` (Ok) or an unrecoverable error.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) -> Result<(), Fatal> {
        let mut backoff = Backoff::new();
        let mut rng = SmallRng::from_entropy();
        loop {
            self.streaming_since = None;
            let stop = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                stop = self.session() => stop,
            };
            match stop {
                Stop::Fatal(text) => return Err(Fatal(format!("peer {} ({}): {text}", self.peer, self.addr))),
                Stop::Retry(text) => {
                    warn!(peer = self.peer, addr = %self.addr, "sync session ended: {text}; reconnecting");
                    self.stats.set_error(&text);
                }
            }
            if self.streaming_since.is_some_and(|t| t.elapsed() >= RESET_AFTER) {
                backoff.reset();
            }
            let delay = backoff.next_delay(&mut rng);
            debug!(peer = self.peer, "reconnecting in {delay:?}");
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn session(&mut self) -> Stop {
        match self.try_session().await {
            Ok(never) => match never {},
            Err(stop) => stop,
        }
    }

    async fn try_session(&mut self) -> Result<Infallible, Stop> {
        let mut peer = Conn::connect(self.addr, CONNECT_TIMEOUT, wire::peer_limits())
            .await
            .map_err(|e| retry(format!("connect: {e}")))?;
        peer.count_ingress(self.stats.clone());
        let io = |what: &'static str| move |e: std::io::Error| retry(format!("{what}: {e}"));

        if let Some(password) = self.cfg.password.clone() {
            match peer.call(&command(&[b"AUTH", password.as_bytes()]), HANDSHAKE_IDLE).await.map_err(io("AUTH"))? {
                Frame::Simple(_) => {}
                Frame::Error(text) => {
                    let text = String::from_utf8_lossy(&text);
                    return Err(match classify_error(&text) {
                        ErrorKind::Transient => retry(format!("AUTH: {text}")),
                        _ => Stop::Fatal(format!("the peer refused authentication: {text}")),
                    });
                }
                other => return Err(retry(format!("AUTH: unexpected reply {}", describe(&other)))),
            }
        }

        let (me, them) = (self.cfg.instance.to_string(), self.peer.to_string());
        let version = wire::PROTOCOL_VERSION.to_string();
        let hello = command(&[b"CRDT.HELLO", version.as_bytes(), me.as_bytes(), them.as_bytes()]);
        match peer.call(&hello, HANDSHAKE_IDLE).await.map_err(io("CRDT.HELLO"))? {
            Frame::Simple(_) => {}
            Frame::Error(text) => {
                let text = String::from_utf8_lossy(&text);
                return Err(match classify_error(&text) {
                    ErrorKind::Auth => Stop::Fatal(format!("the peer refused authentication: {text}")),
                    ErrorKind::Incompatible => Stop::Fatal(format!("incompatible protocol: {text}")),
                    ErrorKind::Transient => retry(format!("CRDT.HELLO: {text}")),
                    // The documented refusals: protocol version, own id,
                    // not a member, not the instance we expected.
                    ErrorKind::Other if text.starts_with("ERR") => Stop::Fatal(format!("CRDT.HELLO refused: {text}")),
                    ErrorKind::Other => retry(format!("CRDT.HELLO: {text}")),
                });
            }
            other => return Err(retry(format!("CRDT.HELLO: unexpected reply {}", describe(&other)))),
        }

        let position_cmd = command(&[b"CRDT.POSITION", them.as_bytes()]);
        let reply = self.local_call(&position_cmd, HANDSHAKE_IDLE).await?;
        let position = match reply {
            Frame::Error(text) => return Err(local_error("CRDT.POSITION", &text)),
            other => wire::parse_position(&other).map_err(|e| retry(format!("local shard: {e}")))?,
        };
        let (replid, offset) = match position {
            Some((id, off)) => (id.to_string(), off.to_string()),
            None => ("?".to_string(), "-1".to_string()),
        };
        let level = self.cfg.compression.to_string();
        let psync = command(&[b"CRDT.PSYNC", replid.as_bytes(), offset.as_bytes(), level.as_bytes()]);
        let start = match peer.call(&psync, HANDSHAKE_IDLE).await.map_err(io("CRDT.PSYNC"))? {
            Frame::Error(text) => {
                let text = String::from_utf8_lossy(&text);
                return Err(match classify_error(&text) {
                    ErrorKind::Auth => Stop::Fatal(format!("the peer refused authentication: {text}")),
                    ErrorKind::Incompatible => Stop::Fatal(format!("incompatible protocol: {text}")),
                    _ => retry(format!("CRDT.PSYNC: {text}")),
                });
            }
            other => wire::parse_psync_reply(&other).map_err(retry)?,
        };
        match start {
            SyncStart::FullResync { replid: id, offset: at } => {
                PeerStats::add(&self.stats.full_syncs, 1);
                info!(peer = self.peer, "full sync from {id} at {at} (we asked for {replid} {offset})");
                self.full_sync(&mut peer, id, at).await?;
            }
            SyncStart::Continue { replid: id, offset: at } => {
                PeerStats::add(&self.stats.partial_syncs, 1);
                info!(peer = self.peer, "partial sync from {id} at {at}");
            }
        }
        self.streaming_since = Some(Instant::now());
        Err(self.stream(&mut peer, start.replid(), start.offset()).await)
    }

    /// Sends one command to the local shard (connecting first if needed) and
    /// returns its reply. A broken connection is dropped.
    async fn local_call(&mut self, cmd: &[u8], idle: Duration) -> Result<Frame, Stop> {
        if self.local.is_none() {
            self.local = Some(self.connect_local().await?);
        }
        let conn = self.local.as_mut().expect("connected above");
        match conn.call(cmd, idle).await {
            Ok(frame) => Ok(frame),
            Err(e) => {
                self.local = None;
                Err(retry(format!("local shard {}: {e}", self.cfg.shard)))
            }
        }
    }

    async fn connect_local(&self) -> Result<Conn, Stop> {
        let shard = self.cfg.shard;
        let mut conn = Conn::connect(shard, CONNECT_TIMEOUT, wire::local_limits())
            .await
            .map_err(|e| retry(format!("connect to the local shard {shard}: {e}")))?;
        if let Some(password) = &self.cfg.password {
            let reply = conn
                .call(&command(&[b"AUTH", password.as_bytes()]), HANDSHAKE_IDLE)
                .await
                .map_err(|e| retry(format!("local shard {shard}: AUTH: {e}")))?;
            match reply {
                Frame::Simple(_) => {}
                Frame::Error(text) => {
                    let text = String::from_utf8_lossy(&text);
                    return Err(match classify_error(&text) {
                        ErrorKind::Transient => retry(format!("local shard: AUTH: {text}")),
                        _ => Stop::Fatal(format!("the local shard refused authentication: {text}")),
                    });
                }
                other => return Err(retry(format!("local shard: AUTH: unexpected reply {}", describe(&other)))),
            }
        }
        Ok(conn)
    }

    /// Receives the snapshot after `+FULLRESYNC` and merges it into the
    /// local shard.
    async fn full_sync(&mut self, peer: &mut Conn, replid: ReplId, offset: u64) -> Result<(), Stop> {
        let mut snapshot = BytesMut::new();
        let mut chunks = 0u64;
        loop {
            let frame = peer.read_frame(SNAPSHOT_IDLE).await.map_err(|e| retry(format!("snapshot: {e}")))?;
            match wire::parse_peer_frame(frame).map_err(|e| retry(format!("snapshot: {e}")))? {
                PeerFrame::Snapshot(chunk) => {
                    let room = wire::SNAPSHOT_MAX - snapshot.len();
                    if self.cfg.compression > 0 {
                        let raw = wire::decompress_bounded(&mut self.dec, &chunk, room)
                            .map_err(|e| retry(format!("snapshot chunk {chunks}: {e}")))?;
                        snapshot.extend_from_slice(&raw);
                    } else if chunk.len() > room {
                        return Err(retry(format!("snapshot larger than {} bytes", wire::SNAPSHOT_MAX)));
                    } else {
                        snapshot.extend_from_slice(&chunk);
                    }
                    chunks += 1;
                }
                PeerFrame::SnapEnd(total) => {
                    if total != snapshot.len() as u64 {
                        return Err(retry(format!("snapshot: received {} bytes, SNAPEND says {total}", snapshot.len())));
                    }
                    break;
                }
                PeerFrame::Ping => {}
                PeerFrame::Error(text) => return Err(retry(format!("snapshot: the peer ended the session: {text}"))),
                PeerFrame::Effects { .. } => return Err(retry("snapshot: EFFECTS before SNAPEND")),
            }
        }
        PeerStats::add(&self.stats.ingress_raw_bytes, snapshot.len() as u64);
        let len = snapshot.len();
        let (peer_id, at) = (self.peer.to_string(), offset.to_string());
        let merge = command(&[b"CRDT.MERGE", peer_id.as_bytes(), replid.as_bytes(), at.as_bytes(), &snapshot]);
        drop(snapshot);
        let started = Instant::now();
        match self.local_call(&merge, MERGE_IDLE).await? {
            Frame::Simple(_) => {}
            Frame::Error(text) => return Err(local_error("CRDT.MERGE", &text)),
            other => return Err(retry(format!("local shard: CRDT.MERGE: unexpected reply {}", describe(&other)))),
        }
        info!(peer = self.peer, "merged a snapshot of {len} bytes ({chunks} chunks) in {:?}", started.elapsed());
        Ok(())
    }

    /// Applies the stream until something ends the session; then applies
    /// what was already received and waits for the answers, so the local
    /// connection is clean for the next session.
    async fn stream(&mut self, peer: &mut Conn, replid: ReplId, start: u64) -> Stop {
        let mut local = match self.local.take() {
            Some(conn) => conn,
            None => match self.connect_local().await {
                Ok(conn) => conn,
                Err(stop) => return stop,
            },
        };
        let mut st = Streaming {
            replid,
            pos: start,
            batch: Batch::default(),
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            local_broken: false,
            local_refused: false,
        };
        let stop = self.stream_loop(peer, &mut local, &mut st).await;
        if st.local_broken {
            return stop;
        }
        // What was received completely is worth applying whatever ended
        // the session on the peer's side.
        if matches!(stop, Stop::Retry(_)) && !st.local_refused && !st.batch.is_empty() {
            if let Err(e) = self.send_batch(&mut local, &mut st).await {
                return retry(format!("{}; then {e}", describe_stop(&stop)));
            }
        }
        while !st.inflight.is_empty() {
            let frame = match tokio::time::timeout(APPLY_IDLE, local.read_frame(APPLY_IDLE)).await {
                Ok(Ok(frame)) => frame,
                Ok(Err(e)) => return retry(format!("{}; then local shard: {e}", describe_stop(&stop))),
                Err(_) => return retry(format!("{}; then the local shard did not answer", describe_stop(&stop))),
            };
            if let Err(apply_stop) = self.on_apply_reply(frame, &mut st) {
                // The stream's own stop is usually the cause; a fatal one wins.
                if matches!(apply_stop, Stop::Fatal(_)) {
                    return apply_stop;
                }
            }
        }
        self.local = Some(local);
        stop
    }

    async fn stream_loop(&mut self, peer: &mut Conn, local: &mut Conn, st: &mut Streaming) -> Stop {
        let mut deadline = Instant::now() + STREAM_SILENCE;
        loop {
            // Everything already buffered goes into the batch.
            while st.batch.bytes < BATCH_BYTES_MAX {
                let frame = match peer.try_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => return retry(format!("peer: {e}")),
                };
                if let Err(stop) = self.on_peer_frame(frame, st) {
                    return stop;
                }
            }
            // Then to the local shard, unless too much is in flight.
            if !st.batch.is_empty()
                && st.inflight.len() < INFLIGHT_MAX
                && (st.inflight.is_empty() || st.inflight_bytes < INFLIGHT_BYTES_MAX)
            {
                if let Err(e) = self.send_batch(local, st).await {
                    return retry(e);
                }
            }
            let read_peer = st.batch.bytes < BATCH_BYTES_MAX;
            tokio::select! {
                r = peer.fill(), if read_peer => match r {
                    Ok(_) => deadline = Instant::now() + STREAM_SILENCE,
                    Err(e) => return retry(format!("peer: {e}")),
                },
                r = local.fill(), if !st.inflight.is_empty() => {
                    if let Err(e) = r {
                        st.local_broken = true;
                        return retry(format!("local shard: {e}"));
                    }
                    deadline = deadline.max(Instant::now() + STREAM_SILENCE);
                    loop {
                        match local.try_frame() {
                            Ok(Some(frame)) => {
                                if let Err(stop) = self.on_apply_reply(frame, st) {
                                    return stop;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                st.local_broken = true;
                                return retry(format!("local shard: {e}"));
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline), if read_peer => {
                    return retry(format!("nothing from the peer for {STREAM_SILENCE:?}"));
                }
            }
        }
    }

    /// Checks one frame of the stream and adds its effects to the batch.
    fn on_peer_frame(&mut self, frame: Frame, st: &mut Streaming) -> Result<(), Stop> {
        match wire::parse_peer_frame(frame).map_err(|e| retry(format!("peer: {e}")))? {
            PeerFrame::Ping => Ok(()),
            PeerFrame::Error(text) => Err(retry(format!("the peer ended the session: {text}"))),
            PeerFrame::Snapshot(_) | PeerFrame::SnapEnd(_) => Err(retry("peer: snapshot frame in the stream")),
            PeerFrame::Effects { end, count, payload } => {
                if end < st.pos {
                    return Err(retry(format!("peer: EFFECTS end offset {end} is before {}", st.pos)));
                }
                let wire_len = payload.len() as u64;
                let raw = if self.cfg.compression > 0 {
                    Bytes::from(
                        wire::decompress_bounded(&mut self.dec, &payload, wire::PAYLOAD_MAX)
                            .map_err(|e| retry(format!("peer: EFFECTS at {end}: {e}")))?,
                    )
                } else if payload.len() > wire::PAYLOAD_MAX {
                    return Err(retry(format!("peer: EFFECTS payload of {} bytes", payload.len())));
                } else {
                    payload
                };
                wire::split_effects(&raw, count).map_err(|e| retry(format!("peer: EFFECTS at {end}: {e}")))?;
                PeerStats::add(&self.stats.ingress_raw_bytes, raw.len() as u64);
                PeerStats::add(&self.stats.effects_received, count);
                st.pos = end;
                st.batch.push(end, count, raw, wire_len);
                Ok(())
            }
        }
    }

    async fn send_batch(&mut self, local: &mut Conn, st: &mut Streaming) -> Result<(), String> {
        let bytes = st.batch.bytes;
        let cmd = st.batch.take_command(self.peer, &st.replid);
        if let Err(e) = local.send(&cmd).await {
            st.local_broken = true;
            return Err(format!("local shard: {e}"));
        }
        st.inflight.push_back(bytes);
        st.inflight_bytes += bytes;
        PeerStats::add(&self.stats.applies, 1);
        Ok(())
    }

    fn on_apply_reply(&mut self, frame: Frame, st: &mut Streaming) -> Result<(), Stop> {
        let Some(bytes) = st.inflight.pop_front() else {
            return Err(retry(format!("local shard: unexpected reply {}", describe(&frame))));
        };
        st.inflight_bytes -= bytes;
        match frame {
            Frame::Integer(n) => {
                PeerStats::add(&self.stats.effects_applied, n.max(0) as u64);
                Ok(())
            }
            Frame::Error(text) => {
                st.local_refused = true;
                Err(local_error("CRDT.APPLY", &text))
            }
            other => {
                st.local_refused = true;
                Err(retry(format!("local shard: CRDT.APPLY: unexpected reply {}", describe(&other))))
            }
        }
    }
}

/// The streaming state of one session.
struct Streaming {
    replid: ReplId,
    /// The end offset of the last frame received.
    pos: u64,
    batch: Batch,
    /// Payload bytes of each apply sent and not answered yet.
    inflight: VecDeque<usize>,
    inflight_bytes: usize,
    /// The local connection failed mid-command: drop it.
    local_broken: bool,
    /// The local shard refused an apply: send it nothing more.
    local_refused: bool,
}

fn describe_stop(stop: &Stop) -> &str {
    match stop {
        Stop::Fatal(text) | Stop::Retry(text) => text,
    }
}

/// What an error reply of the local shard means.
fn local_error(cmd: &str, text: &[u8]) -> Stop {
    let text = String::from_utf8_lossy(text);
    match classify_error(&text) {
        ErrorKind::Auth => Stop::Fatal(format!("the local shard refused authentication: {text}")),
        ErrorKind::Incompatible => Stop::Fatal(format!("incompatible protocol: the local shard does not know {cmd}: {text}")),
        _ => retry(format!("local shard: {cmd}: {text}")),
    }
}

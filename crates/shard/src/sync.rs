//! Active-Active sync, the shard's side (docs/sync.md).
//!
//! - Serving a remote syncer: `CRDT.HELLO` checks the protocol version and
//!   who is asking; `CRDT.PSYNC` turns the connection into a one-way stream
//!   of this shard's stream, from the requested position, filtered to the
//!   effects that originated here (after a snapshot on a full sync).
//! - Taking from the local syncer: `CRDT.APPLY` / `CRDT.MERGE` apply a peer's
//!   effects or snapshot and record the peer's new position in the same step
//!   (the same stream batch), so data and position can never disagree.
//! - Announcing: an Active-Active shard commits its observed version vector
//!   as an effect (at most every 100 ms, when it changed); the other
//!   instances' announcements decide garbage collection (`gvc_min`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use crdt::{Effect, InstanceId};
use replication::{decide_psync, Decision, Offset, PsyncRequest, ReplId};
use resp::{Frame, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::state::{Shared, State};
use crate::stream::{encode_merge, encode_position, PeerPosition};

/// Version of the CRDT sync protocol (`CRDT.HELLO`). It names the effects
/// a peer must understand: 2 added `crdt::Op::Publish` (pub/sub messages),
/// so a peer speaking 1 is refused at the handshake with a clear error
/// instead of failing on (or dropping) the first message.
pub const PROTOCOL_VERSION: u32 = 2;
/// Bytes of effects per `EFFECTS` frame, at most (before compression).
const BATCH_BYTES_MAX: usize = 1 << 20;
/// Raw bytes of snapshot per `SNAPSHOT` frame.
const SNAPSHOT_CHUNK: usize = 1 << 20;
/// Silence after which the serving side sends `PING`.
const PING_AFTER: Duration = Duration::from_secs(1);
/// How often an Active-Active shard may announce its observed vector.
const ANNOUNCE_EVERY_MS: u64 = 100;

/// Sync bookkeeping of a shard.
#[derive(Debug, Default)]
pub struct SyncInfo {
    /// Sync requests served, as `INFO crdt` counts them.
    pub full: u64,
    pub partial_ok: u64,
    pub partial_err: u64,
    /// Sessions streaming to remote syncers now, by requesting instance.
    pub serving: std::collections::BTreeMap<u16, u32>,
    /// `crdt_sync` state as the supervisor set it, and why.
    pub state: Option<String>,
    pub last_error: String,
    /// Sync traffic: what this shard sent to remote syncers (on the wire,
    /// and before compression) and what the local syncer applied (as it
    /// came off the wire when the syncer says, and decompressed).
    pub egress_bytes: u64,
    pub egress_raw_bytes: u64,
    pub ingress_bytes: u64,
    pub ingress_raw_bytes: u64,
    /// Effects and snapshots taken from peers (`CRDT.APPLY`, `CRDT.MERGE`).
    pub applies: u64,
    pub merges: u64,
    pub last_announce_ms: u64,
    /// Sequence number of this instance's latest data effect (not an
    /// announcement): the ops lag of a peer is how far it is behind it.
    pub last_data_seq: u64,
    /// Set when remote effects were applied since the last batch ended.
    pub remote_writes: bool,
    /// Set when remote data effects (not announcements) were applied since
    /// the last announcement.
    pub unannounced: bool,
}

fn err(s: impl Into<String>) -> Frame {
    Frame::error(s.into())
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn parse_instance(b: &[u8]) -> Result<u16, Frame> {
    match std::str::from_utf8(b).ok().and_then(|s| s.parse::<u16>().ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(err(format!("ERR invalid instance id '{}'", String::from_utf8_lossy(b)))),
    }
}

fn parse_replid(b: &[u8]) -> Result<ReplId, Frame> {
    ReplId::parse(b).ok_or_else(|| err(format!("ERR invalid replication id '{}'", String::from_utf8_lossy(b))))
}

/// True for the names of the internal sync commands.
pub fn is_sync_command(name: &[u8]) -> bool {
    name.len() > 5 && name[..5].eq_ignore_ascii_case(b"crdt.")
}

/// Checks a peer's `CRDT.HELLO` and returns its instance id.
pub fn hello(shared: &Shared, args: &[&[u8]]) -> Result<u16, Frame> {
    if args.len() != 4 {
        return Err(err("ERR wrong number of arguments for 'crdt.hello' command"));
    }
    let version = parse_u64(&args[1]).ok_or_else(|| err("ERR invalid protocol version"))?;
    if version != PROTOCOL_VERSION as u64 {
        return Err(err(format!(
            "ERR concord-protocol {version} is not supported (this shard speaks {PROTOCOL_VERSION})"
        )));
    }
    let requester = parse_instance(&args[2])?;
    let expected = parse_instance(&args[3])?;
    let me = shared.config.engine.instance.0;
    let members = &shared.config.members;
    if members.is_empty() {
        return Err(err("ERR this database is not Active-Active"));
    }
    if requester == me {
        return Err(err(format!("ERR instance {requester} is this instance's own id")));
    }
    if expected != me {
        return Err(err(format!("ERR this is instance {me}, not {expected}")));
    }
    if !members.contains(&InstanceId(requester)) {
        return Err(err(format!("ERR instance {requester} is not a member of this database")));
    }
    Ok(requester)
}

/// Runs one of the commands of the local syncer and the supervisor under
/// the keyspace lock.
pub fn command(shared: &Shared, st: &mut State, args: &[&[u8]]) -> Frame {
    let name = args[0].to_ascii_lowercase();
    match &name[..] {
        b"crdt.position" => {
            if args.len() != 2 {
                return err("ERR wrong number of arguments for 'crdt.position' command");
            }
            let peer = match parse_instance(&args[1]) {
                Ok(p) => p,
                Err(f) => return f,
            };
            match st.stream.peers.get(&peer) {
                Some(pos) => Frame::Array(vec![
                    Frame::bulk(Bytes::copy_from_slice(pos.replid.as_bytes())),
                    Frame::bulk(Bytes::from(pos.offset.0.to_string())),
                ]),
                None => Frame::Array(vec![Frame::bulk(Bytes::from_static(b"?")), Frame::bulk(Bytes::from_static(b"-1"))]),
            }
        }
        b"crdt.apply" => apply(shared, st, args).unwrap_or_else(|f| f),
        b"crdt.merge" => merge(shared, st, args).unwrap_or_else(|f| f),
        b"crdt.syncstate" => {
            if args.len() < 2 || args.len() > 3 {
                return err("ERR wrong number of arguments for 'crdt.syncstate' command");
            }
            let state = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
            if !matches!(state.as_str(), "enabled" | "stopped" | "paused" | "disabled") {
                return err(format!("ERR invalid sync state '{state}' (enabled, stopped, paused or disabled)"));
            }
            st.sync.state = Some(state);
            st.sync.last_error = args.get(2).map(|r| String::from_utf8_lossy(r).replace(['\r', '\n'], " ")).unwrap_or_default();
            Frame::ok()
        }
        b"crdt.psync" => err("ERR CRDT.HELLO must come first (and CRDT.PSYNC is not allowed in MULTI)"),
        _ => err(format!("ERR unknown command '{}'", String::from_utf8_lossy(&args[0]))),
    }
}

/// Checks that `peer` may send us its stream.
fn check_peer(shared: &Shared, peer: u16) -> Result<(), Frame> {
    let members = &shared.config.members;
    if members.is_empty() {
        return Err(err("ERR this database is not Active-Active"));
    }
    if peer == shared.config.engine.instance.0 {
        return Err(err(format!("ERR instance {peer} is this instance's own id")));
    }
    if !members.contains(&InstanceId(peer)) {
        return Err(err(format!("ERR instance {peer} is not a member of this database")));
    }
    Ok(())
}

/// Splits a payload of `u32 LE length | bytes` items.
pub fn split_payload(mut buf: &[u8]) -> Option<Vec<&[u8]>> {
    let mut items = Vec::new();
    while !buf.is_empty() {
        if buf.len() < 4 {
            return None;
        }
        let len = u32::from_le_bytes(buf[..4].try_into().ok()?) as usize;
        if buf.len() - 4 < len {
            return None;
        }
        items.push(&buf[4..4 + len]);
        buf = &buf[4 + len..];
    }
    Some(items)
}

/// Records a peer position unless it would move backwards in one history.
fn record_position(st: &mut State, peer: u16, pos: PeerPosition) {
    if let Some(old) = st.stream.peers.get(&peer) {
        if old.replid == pos.replid && old.offset >= pos.offset {
            return;
        }
    }
    st.stream.peers.insert(peer, pos);
    st.stream.append_record(&encode_position(peer, &pos));
}

/// `CRDT.APPLY <peer> <replid> <end offset> <count> <payload>`.
fn apply(shared: &Shared, st: &mut State, args: &[&[u8]]) -> Result<Frame, Frame> {
    if args.len() != 6 && args.len() != 7 {
        return Err(err("ERR wrong number of arguments for 'crdt.apply' command"));
    }
    // Optional: the bytes these effects took on the wire (compressed).
    let wire = match args.get(6) {
        Some(w) => parse_u64(w).ok_or_else(|| err("ERR invalid wire byte count"))?,
        None => args[5].len() as u64,
    };
    let peer = parse_instance(&args[1])?;
    check_peer(shared, peer)?;
    let replid = parse_replid(&args[2])?;
    let end = parse_u64(&args[3]).ok_or_else(|| err("ERR invalid offset"))?;
    let count = parse_u64(&args[4]).ok_or_else(|| err("ERR invalid effect count"))?;
    let items = split_payload(&args[5]).ok_or_else(|| err("ERR malformed effects payload"))?;
    if items.len() as u64 != count {
        return Err(err(format!("ERR the payload holds {} effects, not {count}", items.len())));
    }
    // Decode everything first: a command that fails changes nothing.
    let mut effects = Vec::with_capacity(items.len());
    for item in &items {
        let effect = Effect::decode(item).map_err(|e| match e {
            // An effect of a newer protocol: the syncer stops with this
            // (exit code 4) rather than retrying forever.
            crdt::effect::DecodeError::Tag(_) | crdt::effect::DecodeError::Version(_) => {
                err(format!("ERR incompatible effect: {e} (this shard speaks concord-protocol {PROTOCOL_VERSION})"))
            }
            _ => err(format!("ERR malformed effect: {e}")),
        })?;
        if effect.dot.origin.0 != peer {
            return Err(err(format!("ERR an effect of instance {} in the stream of instance {peer}", effect.dot.origin.0)));
        }
        effects.push(effect);
    }
    let mut applied = 0i64;
    for (item, effect) in items.iter().zip(&effects) {
        if st.engine.apply_remote(effect) {
            applied += 1;
            if !matches!(effect.op, crdt::Op::Observed { .. }) {
                st.sync.unannounced = true;
            }
            st.stream.append_record(item);
            // A message reaches this instance's subscribers once: here,
            // when its dot is new (a duplicate after a partial resync is
            // not; a log replay and a replica's records never come here).
            if let crdt::Op::Publish { channel, message, sharded } = &effect.op {
                st.deliver_message(&Bytes::copy_from_slice(channel), &Bytes::copy_from_slice(message), *sharded);
            }
            if let Some(key) = effect.op.key() {
                st.blocked.touched(key);
                if let Some(ids) = st.watched.get(key) {
                    let ids: Vec<_> = ids.iter().copied().collect();
                    st.dirty.extend(ids);
                }
            }
        }
    }
    record_position(st, peer, PeerPosition { replid, offset: Offset(end) });
    st.stream.end_batch(st.engine.now_ms());
    st.sync.applies += 1;
    st.sync.ingress_bytes += wire;
    st.sync.ingress_raw_bytes += args[5].len() as u64;
    if applied > 0 {
        st.sync.remote_writes = true;
    }
    Ok(Frame::Integer(applied))
}

/// Where merged snapshots are kept (the stream names them; the log replay
/// reads them back).
fn merge_dir(shared: &Shared) -> PathBuf {
    shared.config.dir.join("merges")
}

/// `CRDT.MERGE <peer> <replid> <offset> <snapshot>`.
fn merge(shared: &Shared, st: &mut State, args: &[&[u8]]) -> Result<Frame, Frame> {
    if args.len() != 5 {
        return Err(err("ERR wrong number of arguments for 'crdt.merge' command"));
    }
    let peer = parse_instance(&args[1])?;
    check_peer(shared, peer)?;
    let replid = parse_replid(&args[2])?;
    let offset = parse_u64(&args[3]).ok_or_else(|| err("ERR invalid offset"))?;
    let loaded = crdt::snapshot::decode(&args[4]).map_err(|e| err(format!("ERR malformed snapshot: {e}")))?;
    // The snapshot goes to a file of its own; the stream holds a small
    // record naming it, so a full sync never floods the backlog (which would
    // force full syncs on the instances pulling from this one).
    let name = format!("merge-{peer}-{}-{}.snap", replid.as_str(), offset);
    if st.stream.appendonly() {
        let dir = merge_dir(shared);
        write_durably(&dir, &name, &args[4]).map_err(|e| err(format!("ERR could not store the merged snapshot: {e:#}")))?;
    }
    st.engine.merge_remote(&loaded.db);
    st.stream.append_record(&encode_merge(peer, name.as_bytes()));
    record_position(st, peer, PeerPosition { replid, offset: Offset(offset) });
    st.stream.end_batch(st.engine.now_ms());
    st.sync.merges += 1;
    st.sync.remote_writes = true;
    st.blocked.all_touched();
    st.sync.unannounced = true;
    tracing::info!(peer, offset, keys = loaded.db.entries.len(), "merged a full sync from a peer");
    Ok(Frame::ok())
}

fn write_durably(dir: &std::path::Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    f.write_all(bytes).with_context(|| format!("write {}", tmp.display()))?;
    f.sync_all().with_context(|| format!("sync {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Announces this instance's observed vector when it changed (cron).
pub fn announce(shared: &Shared, st: &mut State, now_ms: u64) {
    if shared.config.members.len() < 2 || now_ms < st.sync.last_announce_ms + ANNOUNCE_EVERY_MS {
        return;
    }
    // Peers learn our own progress from our effects themselves (an origin
    // has observed its own dots), and announcements need no answer (or two
    // instances would answer each other forever): announce only after
    // applying other instances' data effects.
    if !st.sync.unannounced {
        return;
    }
    st.sync.unannounced = false;
    st.sync.last_announce_ms = now_ms;
    let effect = st.engine.db.announce(now_ms);
    st.engine.effects.push(effect);
}

fn bulk_frame(parts: &[&[u8]], out: &mut BytesMut) {
    let frame = Frame::Array(parts.iter().map(|p| Frame::Bulk(Bytes::copy_from_slice(p))).collect());
    resp::encode(&frame, Protocol::Resp2, out);
}

fn compress(level: u8, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::bulk::compress(raw, level as i32)
}

/// Parses `CRDT.PSYNC <replid|?> <offset|-1> [<compression 0..6>]`.
fn parse_psync(args: &[Bytes]) -> Result<(PsyncRequest, u8), &'static str> {
    if args.len() < 3 || args.len() > 4 {
        return Err("ERR wrong number of arguments for 'crdt.psync' command");
    }
    let level = match args.get(3) {
        None => 0,
        Some(l) => std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse::<u8>().ok())
            .filter(|l| *l <= 6)
            .ok_or("ERR compression level must be 0..6")?,
    };
    let any = &args[1][..] == b"?";
    let replid = if any { None } else { Some(ReplId::parse(&args[1]).ok_or("ERR invalid replication id or offset")?) };
    let offset: i64 = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("ERR invalid replication id or offset")?;
    Ok((PsyncRequest { replid, offset: u64::try_from(offset).ok().map(Offset) }, level))
}

/// Serves `CRDT.PSYNC` to a remote syncer that said hello as `peer`: the
/// connection now carries only this shard's stream. Returns when the
/// syncer disconnects, the session falls behind the backlog, or the shard
/// stops.
pub async fn serve_psync(
    shared: Arc<Shared>,
    socket: TcpStream,
    peer: u16,
    args: Vec<Bytes>,
    shutdown: CancellationToken,
) {
    let (mut rd, mut wr) = socket.into_split();
    let (request, level) = match parse_psync(&args) {
        Ok(parsed) => parsed,
        Err(text) => {
            let mut out = BytesMut::new();
            resp::encode(&Frame::error(text), Protocol::Resp2, &mut out);
            let _ = wr.write_all(&out).await;
            return;
        }
    };
    let me = shared.config.engine.instance;

    let decision = {
        let mut st = shared.lock();
        let decision = decide_psync(&request, &st.stream.history, &st.stream.backlog);
        *st.sync.serving.entry(peer).or_default() += 1;
        match decision {
            Decision::Continue { .. } => st.sync.partial_ok += 1,
            Decision::FullResync { reason, .. } => {
                st.sync.full += 1;
                if reason.is_partial_err() {
                    st.sync.partial_err += 1;
                }
                tracing::info!(peer, reason = reason.name(), "full sync to a peer");
            }
        }
        decision
    };
    let result = match decision {
        Decision::Continue { from } => {
            let replid = shared.lock().stream.history.current();
            let mut pos = from;
            stream_to_peer(&shared, &mut rd, &mut wr, me, replid, &mut pos, None, level, &shutdown).await
        }
        Decision::FullResync { .. } => {
            // Taken in steps while the shard keeps serving: +FULLRESYNC
            // names the id and offset where the capture ended.
            let sh = shared.clone();
            let capture = tokio::task::spawn_blocking(move || crate::stream::take_snapshot(&sh, "peer full sync", |_| ()));
            match with_keepalives(capture, &mut wr).await {
                Ok(Ok((taken, ()))) => {
                    let mut pos = taken.offset;
                    let replid = taken.history.current();
                    stream_to_peer(&shared, &mut rd, &mut wr, me, replid, &mut pos, Some(taken.chunks), level, &shutdown).await
                }
                Ok(Err(e)) => Err(e),
                Err(e) => Err(anyhow::anyhow!("the snapshot task failed: {e}")),
            }
        }
    };
    if let Err(e) = result {
        tracing::info!(peer, "sync session ended: {e:#}");
    }
    let mut st = shared.lock();
    if let Some(n) = st.sync.serving.get_mut(&peer) {
        *n -= 1;
        if *n == 0 {
            st.sync.serving.remove(&peer);
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// Waits for a snapshot capture, sending the peer a newline every second
/// meanwhile: the syncer skips newlines before a reply and counts them as
/// signs of life, so a capture longer than its read timeout (millions of
/// keys) does not end the session and start the full sync over.
async fn with_keepalives<T>(
    capture: tokio::task::JoinHandle<T>,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Result<T, tokio::task::JoinError> {
    tokio::pin!(capture);
    let mut tick = tokio::time::interval(KEEPALIVE_EVERY);
    tick.tick().await; // the first tick is immediate
    let mut peer_gone = false;
    loop {
        tokio::select! {
            done = &mut capture => return done,
            _ = tick.tick(), if !peer_gone => {
                // A failed write means the peer left: the capture still
                // finishes (it holds the keyspace in steps and must end
                // cleanly), and the first write after it reports the error.
                peer_gone = wr.write_all(b"\n").await.is_err();
            }
        }
    }
}

/// How often a peer waiting for a full sync's capture gets a newline.
const KEEPALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

async fn stream_to_peer(
    shared: &Shared,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    me: InstanceId,
    replid: ReplId,
    pos: &mut Offset,
    snapshot: Option<crdt::snapshot::Chunks>,
    level: u8,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut out = BytesMut::with_capacity(64 * 1024);
    match snapshot {
        None => {
            out.extend_from_slice(format!("+CONTINUE {} {}\r\n", replid.as_str(), pos.0).as_bytes());
        }
        Some(snap) => {
            out.extend_from_slice(format!("+FULLRESYNC {} {}\r\n", replid.as_str(), pos.0).as_bytes());
            wr.write_all(&out).await?;
            out.clear();
            for chunk in snap.pieces.iter().flat_map(|p| p.chunks(SNAPSHOT_CHUNK)) {
                let body = if level > 0 { compress(level, chunk)? } else { chunk.to_vec() };
                bulk_frame(&[b"SNAPSHOT", &body], &mut out);
                {
                    let mut st = shared.lock();
                    st.sync.egress_bytes += out.len() as u64;
                    st.sync.egress_raw_bytes += chunk.len() as u64;
                }
                wr.write_all(&out).await?;
                out.clear();
                // Let the other connections of the runtime run between chunks.
                tokio::task::yield_now().await;
            }
            bulk_frame(&[b"SNAPEND", snap.len().to_string().as_bytes()], &mut out);
        }
    }
    wr.write_all(&out).await?;
    out.clear();

    let mut last_sent = Instant::now();
    // The position moved over records of other origins only, and the peer
    // was not told yet (it is told with the next batch, or after a second).
    let mut advance_pending = false;
    let mut scratch = [0u8; 512];
    let mut payload: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let notified = shared.keyspace_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Collect the next batch of our own effects.
        payload.clear();
        let mut count = 0u64;
        let mut skipped_effects = false;
        let start = *pos;
        let trimmed = {
            let st = shared.lock();
            match st.stream.backlog.read_from(*pos) {
                Err(e) => Some(e),
                Ok(records) => {
                    for record in records {
                        if payload.len() >= BATCH_BYTES_MAX {
                            break;
                        }
                        match Effect::peek_origin(&record.payload) {
                            Some(origin) if origin == me => {
                                payload.extend_from_slice(&(record.payload.len() as u32).to_le_bytes());
                                payload.extend_from_slice(&record.payload);
                                count += 1;
                            }
                            Some(_) => skipped_effects = true,
                            // Position and merge records: the peer need not
                            // hear of them (advancing it over them alone would
                            // make it write a position record, which we would
                            // skip and advance it over, forever).
                            None => {}
                        }
                        *pos = record.end();
                    }
                    None
                }
            }
        };
        if let Some(e) = trimmed {
            let _ = wr.write_all(b"-ERR backlog overrun\r\n").await;
            anyhow::bail!("the backlog no longer holds offset {}: {e:?}", pos.0);
        }
        let due = last_sent.elapsed() >= PING_AFTER;
        if count > 0 || (advance_pending && *pos == start && due) {
            let body = if level > 0 && !payload.is_empty() { compress(level, &payload)? } else { payload.clone() };
            bulk_frame(&[b"EFFECTS", pos.0.to_string().as_bytes(), count.to_string().as_bytes(), &body], &mut out);
            {
                let mut st = shared.lock();
                st.sync.egress_bytes += out.len() as u64;
                st.sync.egress_raw_bytes += payload.len() as u64;
            }
            wr.write_all(&out).await?;
            out.clear();
            last_sent = Instant::now();
            advance_pending = false;
            continue;
        }
        if *pos != start {
            advance_pending |= skipped_effects;
            continue;
        }
        let wait = PING_AFTER.saturating_sub(last_sent.elapsed());
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {
                if !advance_pending {
                    wr.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
                    last_sent = Instant::now();
                }
            }
            read = rd.read(&mut scratch) => {
                match read {
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => {} // the syncer sends nothing after PSYNC
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn psync_arguments_parse_or_get_a_clear_error() {
        let id = "a".repeat(40);
        let (req, level) = parse_psync(&args(&["CRDT.PSYNC", &id, "128", "3"])).unwrap();
        assert_eq!((req.replid.map(|r| r.as_str().to_string()), req.offset, level), (Some(id.clone()), Some(Offset(128)), 3));
        let (req, level) = parse_psync(&args(&["CRDT.PSYNC", "?", "-1"])).unwrap();
        assert_eq!((req.replid, req.offset, level), (None, None, 0));
        assert_eq!(parse_psync(&args(&["CRDT.PSYNC", "?"])).unwrap_err(), "ERR wrong number of arguments for 'crdt.psync' command");
        assert_eq!(parse_psync(&args(&["CRDT.PSYNC", &id, "1", "7"])).unwrap_err(), "ERR compression level must be 0..6");
        assert_eq!(parse_psync(&args(&["CRDT.PSYNC", "nope", "1"])).unwrap_err(), "ERR invalid replication id or offset");
        assert_eq!(parse_psync(&args(&["CRDT.PSYNC", &id, "x"])).unwrap_err(), "ERR invalid replication id or offset");
    }

    #[test]
    fn payload_items_split_exactly() {
        let mut buf = Vec::new();
        for item in [&b"ab"[..], b"", b"xyz"] {
            buf.extend_from_slice(&(item.len() as u32).to_le_bytes());
            buf.extend_from_slice(item);
        }
        assert_eq!(split_payload(&buf).unwrap(), vec![&b"ab"[..], b"", b"xyz"]);
        assert!(split_payload(&buf[..buf.len() - 1]).is_none());
        assert!(split_payload(&[1, 0]).is_none());
    }
}

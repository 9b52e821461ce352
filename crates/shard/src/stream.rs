//! The shard's stream: every effect it applies, in execution order, framed
//! and addressed by (replication id, offset). The stream is kept twice: in
//! memory as the backlog (served to replicas and peers) and on disk as the
//! append-only log, from which a restarted shard replays its state and comes
//! back at exactly the same (replication id, offset).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use crdt::snapshot::{Capture, Chunks};
use crdt::Effect;
use engine::Engine;
use replication::log::{FsyncPolicy, LogConfig, LogReader, LogWriter};
use replication::{Backlog, History, Offset, ReplId};

use crate::state::{Shared, State};

/// How the stream is persisted.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// Keep the append-only log (`appendonly yes`).
    pub appendonly: bool,
    pub fsync: FsyncPolicy,
    pub backlog_bytes: u64,
    /// What `crdt-repl-backlog-size auto` means for this shard (resolved at
    /// start: it depends on --members and the memory limit).
    pub crdt_backlog_auto_bytes: u64,
    pub segment_bytes_max: u64,
    /// Take a snapshot (and drop the log segments it covers) once the
    /// stream grew by this many bytes since the last one (0: never).
    pub snapshot_every: u64,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            appendonly: true,
            fsync: FsyncPolicy::EverySec,
            backlog_bytes: 1 << 20,
            crdt_backlog_auto_bytes: 0,
            segment_bytes_max: 64 << 20,
            snapshot_every: 64 << 20,
        }
    }
}

/// First byte of a stream record that is not an effect (effects start with
/// `crdt::effect::EFFECT_FORMAT`): how far this shard applied a peer's stream.
pub const RECORD_POSITION: u8 = 0xF0;
/// First byte of a record holding a peer's snapshot merged into this shard
/// (a full sync from another instance).
pub const RECORD_MERGE: u8 = 0xF1;

/// How far this shard has applied another instance's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerPosition {
    pub replid: ReplId,
    pub offset: Offset,
}

/// `RECORD_POSITION | instance u16 LE | replid (40 bytes) | offset u64 LE`.
pub fn encode_position(instance: u16, pos: &PeerPosition) -> Vec<u8> {
    let mut out = Vec::with_capacity(51);
    out.push(RECORD_POSITION);
    out.extend_from_slice(&instance.to_le_bytes());
    out.extend_from_slice(pos.replid.as_bytes());
    out.extend_from_slice(&pos.offset.0.to_le_bytes());
    out
}

pub fn decode_position(buf: &[u8]) -> Option<(u16, PeerPosition)> {
    if buf.len() != 1 + 2 + ReplId::LEN + 8 || buf[0] != RECORD_POSITION {
        return None;
    }
    let instance = u16::from_le_bytes([buf[1], buf[2]]);
    let replid = ReplId::parse(&buf[3..3 + ReplId::LEN])?;
    let offset = u64::from_le_bytes(buf[3 + ReplId::LEN..].try_into().ok()?);
    Some((instance, PeerPosition { replid, offset: Offset(offset) }))
}

/// `RECORD_MERGE | instance u16 LE | file name` (the snapshot is in
/// DIR/merges/<file name>).
pub fn encode_merge(instance: u16, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + file.len());
    out.push(RECORD_MERGE);
    out.extend_from_slice(&instance.to_le_bytes());
    out.extend_from_slice(file);
    out
}

/// Applies one stream record to the keyspace (log replay; a replica).
/// Returns the effect when it was new to the keyspace (not a duplicate,
/// not another kind of record): a replica delivers the pub/sub messages
/// among them; the log replay delivers nothing.
pub(crate) fn apply_record(
    dir: &Path,
    payload: &[u8],
    offset: Offset,
    engine: &mut Engine,
    peers: &mut std::collections::BTreeMap<u16, PeerPosition>,
) -> anyhow::Result<Option<Effect>> {
    match payload.first() {
        Some(&RECORD_POSITION) => {
            let (instance, pos) = decode_position(payload)
                .with_context(|| format!("decode the peer position at stream offset {}", offset.0))?;
            peers.insert(instance, pos);
        }
        Some(&RECORD_MERGE) if payload.len() >= 3 => {
            let name = std::str::from_utf8(&payload[3..])
                .ok()
                .filter(|n| !n.contains('/'))
                .with_context(|| format!("bad merge record at stream offset {}", offset.0))?;
            let path = dir.join("merges").join(name);
            let bytes = std::fs::read(&path).with_context(|| {
                format!("read {} (the merged snapshot named at stream offset {})", path.display(), offset.0)
            })?;
            let loaded = crdt::snapshot::decode(&bytes)
                .with_context(|| format!("decode {} (merged at stream offset {})", path.display(), offset.0))?;
            engine.merge_remote(&loaded.db);
        }
        _ => {
            let effect =
                Effect::decode(payload).with_context(|| format!("decode the effect at stream offset {}", offset.0))?;
            if engine.apply_remote(&effect) {
                return Ok(Some(effect));
            }
        }
    }
    Ok(None)
}

/// The merged-snapshot file a merge record names, if `payload` is one.
fn merge_file(payload: &[u8]) -> Option<String> {
    if payload.len() > 3 && payload[0] == RECORD_MERGE {
        std::str::from_utf8(&payload[3..]).ok().map(str::to_string)
    } else {
        None
    }
}

/// Keys of the `aux` pairs a stream snapshot carries besides the keyspace.
const AUX_HISTORY: &[u8] = b"concord-history";
const AUX_OFFSET: &[u8] = b"concord-offset";
const AUX_PEERS: &[u8] = b"concord-peers";

/// `DIR/snapshot-<offset, 20 digits>.snap`: the state at that stream offset.
pub fn snapshot_name(offset: Offset) -> String {
    format!("snapshot-{:020}.snap", offset.0)
}

/// The snapshots in `dir`, oldest first.
pub fn list_snapshots(dir: &Path) -> Vec<(Offset, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(num) = name.strip_prefix("snapshot-").and_then(|n| n.strip_suffix(".snap")) else { continue };
            if let (20, Ok(n)) = (num.len(), num.parse::<u64>()) {
                out.push((Offset(n), e.path()));
            }
        }
    }
    out.sort();
    out
}

fn encode_peers(peers: &std::collections::BTreeMap<u16, PeerPosition>) -> Vec<u8> {
    let mut out = Vec::new();
    for (instance, pos) in peers {
        out.extend_from_slice(&encode_position(*instance, pos));
    }
    out
}

fn decode_peers(buf: &[u8]) -> Option<std::collections::BTreeMap<u16, PeerPosition>> {
    let n = 1 + 2 + ReplId::LEN + 8;
    if !buf.len().is_multiple_of(n) {
        return None;
    }
    buf.chunks(n).map(decode_position).collect()
}

/// What a stream snapshot holds besides the keyspace.
pub struct SnapshotMeta {
    pub history: History,
    pub offset: Offset,
    pub peers: std::collections::BTreeMap<u16, PeerPosition>,
}

/// Reads the stream metadata from a loaded snapshot's `aux` pairs.
pub fn snapshot_meta(aux: &[(crdt::Blob, crdt::Blob)]) -> anyhow::Result<SnapshotMeta> {
    let get = |k: &[u8]| aux.iter().find(|(key, _)| &key[..] == k).map(|(_, v)| &v[..]);
    let history = History::decode(get(AUX_HISTORY).context("no replication id history in the snapshot")?)
        .map_err(|e| anyhow::anyhow!("bad replication id history in the snapshot: {e}"))?;
    let offset = get(AUX_OFFSET)
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map(u64::from_le_bytes)
        .context("no stream offset in the snapshot")?;
    let peers = decode_peers(get(AUX_PEERS).unwrap_or_default()).context("bad peer positions in the snapshot")?;
    Ok(SnapshotMeta { history, offset: Offset(offset), peers })
}

fn write_file_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_pieces_durably(path, [bytes])
}

fn write_pieces_durably<'a>(path: &Path, pieces: impl IntoIterator<Item = &'a [u8]>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    for piece in pieces {
        f.write_all(piece).with_context(|| format!("write {}", tmp.display()))?;
    }
    f.sync_all().with_context(|| format!("sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Target length of one hold of the keyspace lock while a snapshot is
/// captured (the pause clients see, at most, besides the final phase).
const CAPTURE_HOLD: Duration = Duration::from_millis(1);
/// Pause between two holds, so waiting connections take the lock.
const CAPTURE_GAP: Duration = Duration::from_micros(100);
/// Holds after the first pass without the changed keys getting fewer,
/// after which the capture ends anyway (one longer hold).
const CAPTURE_STALLS_MAX: u32 = 100;

/// A snapshot taken by [`take_snapshot`]: exactly the state at `offset`.
pub struct Taken {
    pub chunks: Chunks,
    pub offset: Offset,
    /// The stream's id history at `offset` (`+FULLRESYNC`, `REPLIDS`).
    pub history: History,
    pub keys: usize,
    /// The longest single hold of the keyspace lock, and how many there were.
    pub max_hold: Duration,
    pub holds: u32,
    pub elapsed: Duration,
}

/// Takes a snapshot of the keyspace, with the stream's position as `aux`,
/// while the shard keeps serving: the lock is held for about
/// [`CAPTURE_HOLD`] at a time (`crdt::snapshot::Capture` writes keys until
/// the time is up, the whole keyspace once, then the keys changed since),
/// and the final phase writes what is left and the header in one hold, at
/// the offset the snapshot then describes. `at_end` runs in that same hold.
/// Blocking: call it from a blocking thread. Captures queue (one at a time
/// per shard).
pub fn take_snapshot<T>(shared: &Shared, what: &str, at_end: impl FnOnce(&mut State) -> T) -> anyhow::Result<(Taken, T)> {
    let turn = shared.lock().stream.capture_turn.clone();
    let my_turn = turn.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let mut capture: Option<Capture> = None;
    // Keys one hold wrote last time: what is left fits the final hold when
    // it is no more than that.
    let mut per_hold = 1024usize;
    let (mut max_hold, mut holds, mut stalls, mut long_holds) = (Duration::ZERO, 0u32, 0u32, 0u32);
    let mut fewest = usize::MAX;
    loop {
        let mut guard = shared.lock();
        let held = Instant::now();
        holds += 1;
        let st = &mut *guard;
        let db = &mut st.engine.db;
        let c = capture.get_or_insert_with(|| Capture::begin(db));
        let pending = c.pending(db);
        if pending <= per_hold || stalls >= CAPTURE_STALLS_MAX {
            let aux = st.stream.snapshot_aux();
            let aux: Vec<(&[u8], &[u8])> = aux.iter().map(|(k, v)| (*k, &v[..])).collect();
            let unsealed = capture.take().expect("set above").finish(&mut st.engine.db, &aux).map_err(|e| anyhow::anyhow!("{e}"))?;
            let offset = st.stream.offset();
            let history = st.stream.history.clone();
            let keys = st.engine.db.entries.len();
            let out = at_end(st);
            let final_hold = held.elapsed();
            max_hold = max_hold.max(final_hold);
            st.stream.latest_fork_usec = max_hold.as_micros() as u64;
            drop(guard);
            drop(my_turn);
            let chunks = unsealed.seal();
            let taken = Taken { chunks, offset, history, keys, max_hold, holds, elapsed: started.elapsed() };
            tracing::info!(
                what,
                offset = offset.0,
                keys,
                bytes = taken.chunks.len(),
                holds,
                max_hold_us = max_hold.as_micros() as u64,
                final_hold_us = final_hold.as_micros() as u64,
                long_holds,
                ms = taken.elapsed.as_millis() as u64,
                "took a snapshot while serving"
            );
            return Ok((taken, out));
        }
        let scanned = c.scanned(db);
        let written = c.step_while(db, usize::MAX, || held.elapsed() < CAPTURE_HOLD).map_err(|e| anyhow::anyhow!("{e}"))?;
        let hold = held.elapsed();
        drop(guard);
        per_hold = written.max(64);
        max_hold = max_hold.max(hold);
        if hold > 2 * CAPTURE_HOLD {
            long_holds += 1;
            tracing::debug!(written, scanned, hold_us = hold.as_micros() as u64, "a long hold while taking a snapshot");
        }
        if scanned {
            // Changed keys written again; stop waiting once they no longer get fewer.
            if pending < fewest {
                fewest = pending;
                stalls = 0;
            } else {
                stalls += 1;
            }
        }
        std::thread::sleep(CAPTURE_GAP);
    }
}

/// Writes a snapshot received in a full sync to `DIR/snapshot-incoming.part`
/// (durably, outside the keyspace lock); [`Stream::replace`] renames it.
pub fn stage_snapshot(dir: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join("snapshot-incoming.part");
    write_file_durably(&path, bytes)?;
    Ok(path)
}

/// Stores a snapshot taken at `offset` (outside the keyspace lock), then
/// drops what it covers: older snapshots and the log segments before it.
/// `log`: the current log segment, fsynced first (the log then holds the
/// records up to `offset` too).
pub fn store_snapshot(dir: &Path, offset: Offset, chunks: &Chunks, log: Option<std::fs::File>) -> anyhow::Result<()> {
    if let Some(log) = log {
        log.sync_data().context("sync the append-only log")?;
    }
    let path = dir.join(snapshot_name(offset));
    write_pieces_durably(&path, chunks.pieces.iter().map(|p| &p[..]))?;
    for (old, p) in list_snapshots(dir) {
        if old < offset {
            let _ = std::fs::remove_file(&p);
        }
    }
    replication::log::remove_segments_before(&log_dir(dir), offset)
        .with_context(|| format!("remove log segments before offset {}", offset.0))?;
    Ok(())
}

pub struct Stream {
    pub backlog: Backlog,
    pub history: History,
    /// Peer positions (Active-Active), restored from the log on start.
    pub peers: std::collections::BTreeMap<u16, PeerPosition>,
    log: Option<LogWriter>,
    config: StreamConfig,
    history_path: PathBuf,
    last_sync_ms: u64,
    unsynced: bool,
    pub last_write_ok: bool,
    dir: PathBuf,
    /// Offset of the latest snapshot (or where the stream was opened).
    pub snapshot_offset: Offset,
    /// A snapshot is being written.
    pub snapshot_running: bool,
    /// One snapshot capture at a time (files and full syncs queue here).
    capture_turn: std::sync::Arc<std::sync::Mutex<()>>,
    /// The longest single hold of the keyspace lock by the last snapshot
    /// capture, in microseconds (`latest_fork_usec` in INFO).
    pub latest_fork_usec: u64,
    /// Merge records in the backlog or the log: offset -> file under
    /// DIR/merges/ (deleted once neither holds the record any more).
    merges: std::collections::BTreeMap<Offset, String>,
    /// [`Stream::append`]'s encoding buffer and record ends, reused.
    scratch: Vec<u8>,
    scratch_ends: Vec<usize>,
}

/// Capacity of [`Stream::append`]'s scratch buffer kept after a batch.
const SCRATCH_KEEP: usize = 64 << 10;

fn log_dir(dir: &Path) -> PathBuf {
    dir.join("stream")
}

impl Stream {
    /// Opens the stream in `dir`: replays the log into `engine` if there is
    /// one, or starts a new stream.
    /// `crdt-repl-backlog-size auto`, resolved at start.
    pub fn crdt_backlog_auto_bytes(&self) -> u64 {
        self.config.crdt_backlog_auto_bytes
    }

    pub fn open(dir: &Path, config: StreamConfig, engine: &mut Engine, seed: u64) -> anyhow::Result<Stream> {
        let history_path = dir.join("replid");
        let saved_history = match std::fs::read(&history_path) {
            Ok(bytes) => Some(History::decode(&bytes).with_context(|| format!("read {}", history_path.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("read {}", history_path.display())),
        };
        let mut peers = std::collections::BTreeMap::new();
        let mut merges = std::collections::BTreeMap::new();
        // The latest snapshot is the base; the log holds what followed it.
        let mut base: Option<(Offset, History)> = None;
        if let Some((offset, path)) = list_snapshots(dir).pop() {
            let bytes = std::fs::read(&path).with_context(|| format!("read the snapshot {}", path.display()))?;
            let loaded = crdt::snapshot::decode(&bytes)
                .with_context(|| format!("the snapshot {} is damaged", path.display()))?;
            let meta = snapshot_meta(&loaded.aux).with_context(|| format!("the snapshot {} is damaged", path.display()))?;
            anyhow::ensure!(
                meta.offset == offset,
                "the snapshot {} holds stream offset {}, not the one its name says",
                path.display(),
                meta.offset.0
            );
            let keys = loaded.db.entries.len();
            engine.load(loaded.db);
            peers = meta.peers;
            tracing::info!(offset = offset.0, keys, file = %path.display(), "loaded the snapshot");
            base = Some((offset, meta.history));
        }
        let segments = if config.appendonly { replication::log::list_segments(&log_dir(dir)).unwrap_or_default() } else { Vec::new() };
        let has_log = !segments.is_empty();
        // Without a log or a snapshot the stream starts again at offset 0: it
        // is a new history, and must not be mistaken for the one peers knew.
        // The history file is newer than the snapshot (promotions, partial
        // syncs); a full sync removes it before it replaces the snapshot.
        let history = match (saved_history, &base) {
            (Some(h), _) if has_log || base.is_some() => h,
            (_, Some((_, h))) => h.clone(),
            _ => History::new(ReplId::from_seed(seed)),
        };
        let data_dir = dir;
        let base_offset = base.as_ref().map(|(o, _)| *o);
        let mut end = base_offset.unwrap_or(Offset(0));
        let mut log = None;
        let mut backlog = Backlog::new(config.backlog_bytes, end);
        if config.appendonly {
            let dir = log_dir(dir);
            let log_config = LogConfig { dir: dir.clone(), segment_bytes_max: config.segment_bytes_max };
            match segments.first() {
                Some(first) if base_offset.is_none_or(|b| first.start <= b) => {
                    // The backlog refills with the log's tail, so peers and
                    // replicas can partial-sync right after a restart.
                    // Records before the snapshot's offset are in it already.
                    let base_offset = base_offset.unwrap_or(first.start);
                    backlog = Backlog::new(config.backlog_bytes, first.start);
                    let mut reader = LogReader::open(&dir, first.start).context("open the append-only log")?;
                    let mut records = 0u64;
                    while let Some(record) = reader.next_record().context("replay the append-only log")? {
                        if record.offset >= base_offset {
                            apply_record(data_dir, &record.payload, record.offset, engine, &mut peers)?;
                            records += 1;
                        } else {
                            anyhow::ensure!(
                                record.end() <= base_offset,
                                "the log record at offset {} crosses the snapshot's offset {}",
                                record.offset.0,
                                base_offset.0
                            );
                        }
                        if let Some(name) = merge_file(&record.payload) {
                            merges.insert(record.offset, name);
                        }
                        backlog.append(record.payload.clone());
                    }
                    if let Some(torn) = reader.torn_tail() {
                        tracing::warn!("truncated a torn write at the end of the log: {torn:?}");
                    }
                    end = reader.end();
                    anyhow::ensure!(
                        backlog.current_offset() == end,
                        "the backlog ended at {} while the log ended at {}",
                        backlog.current_offset().0,
                        end.0
                    );
                    if end < base_offset {
                        // The snapshot is newer than anything the log kept:
                        // the log starts again at the snapshot.
                        tracing::warn!(log_end = end.0, snapshot = base_offset.0, "the log ends before the snapshot; starting it again at the snapshot");
                        replication::log::remove_all_segments(&dir).context("remove the old log")?;
                        end = base_offset;
                        backlog = Backlog::new(config.backlog_bytes, end);
                        log = Some(LogWriter::create(log_config, end).context("create the append-only log")?);
                    } else {
                        tracing::info!(records, offset = end.0, "replayed the append-only log");
                        log = Some(LogWriter::open(log_config, end).context("continue the append-only log")?);
                    }
                }
                Some(first) => anyhow::bail!(
                    "the log in {} starts at offset {}, after the snapshot at offset {}: records are missing",
                    dir.display(),
                    first.start.0,
                    end.0
                ),
                None => {
                    log = Some(LogWriter::create(log_config, end).context("create the append-only log")?);
                }
            }
        }
        engine.effects.clear();
        let stream = Stream {
            backlog,
            history,
            peers,
            log,
            config,
            history_path,
            last_sync_ms: 0,
            unsynced: false,
            last_write_ok: true,
            dir: data_dir.to_path_buf(),
            snapshot_offset: end,
            snapshot_running: false,
            capture_turn: Default::default(),
            latest_fork_usec: 0,
            merges,
            scratch: Vec::new(),
            scratch_ends: Vec::new(),
        };
        stream.save_history()?;
        Ok(stream)
    }

    /// The `aux` pairs of a snapshot of this stream right now (id history,
    /// offset, peer positions).
    fn snapshot_aux(&self) -> [(&'static [u8], Vec<u8>); 3] {
        let mut history = Vec::new();
        self.history.encode(&mut history);
        [
            (AUX_HISTORY, history),
            (AUX_OFFSET, self.offset().0.to_le_bytes().to_vec()),
            (AUX_PEERS, encode_peers(&self.peers)),
        ]
    }

    /// Encodes the keyspace with this stream's position in one go (tests
    /// and small keyspaces; a shard uses [`take_snapshot`]).
    pub fn encode_snapshot(&self, db: &crdt::Db) -> Vec<u8> {
        let aux = self.snapshot_aux();
        let aux: Vec<(&[u8], &[u8])> = aux.iter().map(|(k, v)| (*k, &v[..])).collect();
        crdt::snapshot::encode(db, &aux)
    }

    /// Hands the log to the OS up to the current offset and returns a
    /// handle to fsync it with outside the lock (before a snapshot at this
    /// offset lets older segments go).
    pub fn log_handle(&mut self) -> Option<std::fs::File> {
        let log = self.log.as_mut()?;
        match log.flushed_handle() {
            Ok(f) => Some(f),
            Err(e) => {
                self.write_failed(e);
                None
            }
        }
    }

    /// True when the stream grew enough since the last snapshot for another.
    pub fn snapshot_due(&self) -> bool {
        self.log.is_some()
            && !self.snapshot_running
            && self.config.snapshot_every > 0
            && self.offset().0.saturating_sub(self.snapshot_offset.0) >= self.config.snapshot_every
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A replica's full sync: the keyspace becomes `snapshot` (the
    /// primary's state at `offset`, already loaded by the caller), the
    /// history and peer positions its, and the backlog starts empty at
    /// `backlog_first` (the retained records the primary ships next). The
    /// snapshot is stored as the base of a new log starting at `offset`.
    pub fn replace(
        &mut self,
        staged: &Path,
        meta: SnapshotMeta,
        backlog_first: Offset,
    ) -> anyhow::Result<()> {
        // The old history must not survive next to the new data.
        let _ = std::fs::remove_file(&self.history_path);
        self.log = None;
        if self.config.appendonly {
            let dir = log_dir(&self.dir);
            replication::log::remove_all_segments(&dir).context("remove the old log")?;
            for (_, p) in list_snapshots(&self.dir) {
                let _ = std::fs::remove_file(&p);
            }
            let path = self.dir.join(snapshot_name(meta.offset));
            std::fs::rename(staged, &path).with_context(|| format!("rename {} to {}", staged.display(), path.display()))?;
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            let log_config = LogConfig { dir, segment_bytes_max: self.config.segment_bytes_max };
            self.log = Some(LogWriter::create(log_config, meta.offset).context("create the append-only log")?);
        } else {
            let _ = std::fs::remove_file(staged);
        }
        self.backlog = Backlog::new(self.config.backlog_bytes, backlog_first);
        self.merges.clear();
        self.history = meta.history;
        self.peers = meta.peers;
        self.snapshot_offset = meta.offset;
        self.unsynced = false;
        self.save_history()
    }

    /// Forgets the merge records that neither the backlog nor the log holds
    /// any more (after a snapshot dropped segments) and returns their files,
    /// for the caller to delete outside the lock.
    pub fn unreferenced_merges(&mut self) -> Vec<PathBuf> {
        let mut keep_from = self.backlog.first_offset();
        if self.log.is_some() {
            if let Some(first) = replication::log::list_segments(&log_dir(&self.dir)).ok().and_then(|s| s.first().map(|s| s.start)) {
                keep_from = keep_from.min(first);
            }
        }
        let keep = self.merges.split_off(&keep_from);
        let gone = std::mem::replace(&mut self.merges, keep);
        let still: std::collections::BTreeSet<&String> = self.merges.values().collect();
        gone.into_values().filter(|n| !still.contains(n)).map(|n| self.dir.join("merges").join(n)).collect()
    }

    /// Adds a record the snapshot already holds to the backlog only (the
    /// log starts at the snapshot).
    pub fn retain_record(&mut self, payload: Bytes) {
        if let Some(name) = merge_file(&payload) {
            self.merges.insert(self.offset(), name);
        }
        self.backlog.append(payload);
    }

    /// Persists the history after it changed (promotion, partial sync).
    pub fn history_changed(&self) -> anyhow::Result<()> {
        self.save_history()
    }

    fn save_history(&self) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        self.history.encode(&mut buf);
        let tmp = self.history_path.with_extension("tmp");
        std::fs::write(&tmp, &buf).with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.history_path).with_context(|| format!("rename to {}", self.history_path.display()))?;
        Ok(())
    }

    pub fn offset(&self) -> Offset {
        self.backlog.current_offset()
    }

    /// Appends the effects of a batch. With `appendfsync always` the log is
    /// on disk when this returns, before any reply is written.
    pub fn append(&mut self, effects: &[Effect], now_ms: u64) {
        if effects.is_empty() {
            return;
        }
        // The batch is encoded once into the reused scratch buffer, written
        // to the log from there and copied into the backlog's open block:
        // no allocation per batch.
        let (mut buf, mut ends) = (std::mem::take(&mut self.scratch), std::mem::take(&mut self.scratch_ends));
        buf.clear();
        ends.clear();
        for effect in effects {
            effect.encode(&mut buf);
            ends.push(buf.len());
        }
        // (Effects are never merge records: no merge file to note.)
        if let Some(log) = &mut self.log {
            let mut start = 0;
            for &end in &ends {
                if let Err(e) = log.append(&buf[start..end]) {
                    self.write_failed(e);
                    break;
                }
                start = end;
            }
        }
        self.backlog.append_copy(&buf, &ends);
        // A huge batch does not keep its scratch memory.
        if buf.capacity() > SCRATCH_KEEP {
            buf = Vec::new();
        }
        if ends.capacity() > SCRATCH_KEEP / 8 {
            ends = Vec::new();
        }
        (self.scratch, self.scratch_ends) = (buf, ends);
        self.end_batch(now_ms);
    }

    /// Appends one record (an encoded effect or another record kind); the
    /// caller ends the batch with [`Stream::end_batch`].
    pub fn append_record(&mut self, payload: &[u8]) {
        self.append_record_bytes(Bytes::copy_from_slice(payload));
    }

    /// [`Stream::append_record`] for a payload already in a `Bytes`.
    pub fn append_record_bytes(&mut self, payload: Bytes) {
        if let Some(name) = merge_file(&payload) {
            self.merges.insert(self.offset(), name);
        }
        if let Some(log) = &mut self.log {
            if let Err(e) = log.append(&payload) {
                self.write_failed(e);
            }
        }
        self.backlog.append(payload);
    }

    /// Hands a batch of records to the OS (and to the disk with
    /// `appendfsync always`) before any reply is written.
    pub fn end_batch(&mut self, now_ms: u64) {
        self.unsynced = true;
        if let Some(log) = &mut self.log {
            let r = log.flush().and_then(|()| match self.config.fsync {
                FsyncPolicy::Always => log.sync(),
                _ => Ok(()),
            });
            match r {
                Ok(()) => {
                    if self.config.fsync == FsyncPolicy::Always {
                        self.unsynced = false;
                        self.last_sync_ms = now_ms;
                    }
                }
                Err(e) => self.write_failed(e),
            }
        }
    }

    fn write_failed(&mut self, e: replication::log::LogError) {
        if self.last_write_ok {
            tracing::error!("failed to write the append-only log: {e}");
        }
        self.last_write_ok = false;
    }

    /// Periodic fsync for `appendfsync everysec`.
    pub fn tick(&mut self, now_ms: u64) {
        if !self.unsynced {
            return;
        }
        if let Some(log) = &mut self.log {
            if self.config.fsync.sync_due(now_ms.saturating_sub(self.last_sync_ms)) {
                match log.sync() {
                    Ok(()) => {
                        self.unsynced = false;
                        self.last_sync_ms = now_ms;
                        self.last_write_ok = true;
                    }
                    Err(e) => self.write_failed(e),
                }
            }
        }
    }

    /// Flushes and syncs everything (clean shutdown).
    pub fn close(&mut self) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.flush().and_then(|()| log.sync()) {
                tracing::error!("failed to sync the append-only log at shutdown: {e}");
            }
        }
    }

    pub fn appendonly(&self) -> bool {
        self.log.is_some()
    }

    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.config.fsync
    }
}

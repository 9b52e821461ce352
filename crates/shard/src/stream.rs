//! The shard's stream: every effect it applies, in execution order, framed
//! and addressed by (replication id, offset). The stream is kept twice: in
//! memory as the backlog (served to replicas and peers) and on disk as the
//! append-only log, from which a restarted shard replays its state and comes
//! back at exactly the same (replication id, offset).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use crdt::Effect;
use engine::Engine;
use replication::log::{FsyncPolicy, LogConfig, LogReader, LogWriter};
use replication::{Backlog, History, Offset, ReplId};

/// How the stream is persisted.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// Keep the append-only log (`appendonly yes`).
    pub appendonly: bool,
    pub fsync: FsyncPolicy,
    pub backlog_bytes: u64,
    pub segment_bytes_max: u64,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            appendonly: true,
            fsync: FsyncPolicy::EverySec,
            backlog_bytes: 1 << 20,
            segment_bytes_max: 64 << 20,
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
fn apply_record(
    dir: &Path,
    payload: &[u8],
    offset: Offset,
    engine: &mut Engine,
    peers: &mut std::collections::BTreeMap<u16, PeerPosition>,
) -> anyhow::Result<()> {
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
            engine.apply_remote(&effect);
        }
    }
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
}

fn log_dir(dir: &Path) -> PathBuf {
    dir.join("stream")
}

impl Stream {
    /// Opens the stream in `dir`: replays the log into `engine` if there is
    /// one, or starts a new stream.
    pub fn open(dir: &Path, config: StreamConfig, engine: &mut Engine, seed: u64) -> anyhow::Result<Stream> {
        let history_path = dir.join("replid");
        let history = match std::fs::read(&history_path) {
            Ok(bytes) => History::decode(&bytes).with_context(|| format!("read {}", history_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => History::new(ReplId::from_seed(seed)),
            Err(e) => return Err(e).with_context(|| format!("read {}", history_path.display())),
        };
        let mut peers = std::collections::BTreeMap::new();
        let has_log = config.appendonly
            && replication::log::list_segments(&log_dir(dir)).map(|s| !s.is_empty()).unwrap_or(false);
        // Without a log the stream starts again at offset 0: it is a new
        // history, and must not be mistaken for the one peers knew.
        let history = if has_log { history } else { History::new(ReplId::from_seed(seed)) };
        let data_dir = dir;
        let mut end = Offset(0);
        let mut log = None;
        let mut backlog = Backlog::new(config.backlog_bytes, end);
        if config.appendonly {
            let dir = log_dir(dir);
            let segments = replication::log::list_segments(&dir).unwrap_or_default();
            let log_config = LogConfig { dir: dir.clone(), segment_bytes_max: config.segment_bytes_max };
            if let Some(first) = segments.first() {
                // The backlog refills with the log's tail, so peers and
                // replicas can partial-sync right after a restart.
                backlog = Backlog::new(config.backlog_bytes, first.start);
                let mut reader = LogReader::open(&dir, first.start).context("open the append-only log")?;
                let mut records = 0u64;
                while let Some(record) = reader.next_record().context("replay the append-only log")? {
                    apply_record(data_dir, &record.payload, record.offset, engine, &mut peers)?;
                    backlog.append(record.payload.clone());
                    records += 1;
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
                tracing::info!(records, offset = end.0, "replayed the append-only log");
                log = Some(LogWriter::open(log_config, end).context("continue the append-only log")?);
            } else {
                log = Some(LogWriter::create(log_config, end).context("create the append-only log")?);
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
        };
        stream.save_history()?;
        Ok(stream)
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
        let mut buf = Vec::with_capacity(64);
        for effect in effects {
            buf.clear();
            effect.encode(&mut buf);
            self.append_record(&buf);
        }
        self.end_batch(now_ms);
    }

    /// Appends one record (an encoded effect or another record kind); the
    /// caller ends the batch with [`Stream::end_batch`].
    pub fn append_record(&mut self, payload: &[u8]) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.append(payload) {
                self.write_failed(e);
            }
        }
        self.backlog.append(Bytes::copy_from_slice(payload));
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

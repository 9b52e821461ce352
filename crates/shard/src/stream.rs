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

pub struct Stream {
    pub backlog: Backlog,
    pub history: History,
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
                    let effect = Effect::decode(&record.payload)
                        .with_context(|| format!("decode the effect at stream offset {}", record.offset.0))?;
                    engine.apply_remote(&effect);
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
            if let Some(log) = &mut self.log {
                if let Err(e) = log.append(&buf) {
                    self.write_failed(e);
                }
            }
            self.backlog.append(Bytes::copy_from_slice(&buf));
        }
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

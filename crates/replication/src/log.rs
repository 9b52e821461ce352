//! The append-only log: the stream written to segment files, so a shard
//! restarts from its latest snapshot plus the log tail at exactly the same
//! (replication id, offset). This is the only module of the crate that
//! touches the file system, and it does so through `std::fs` only; the
//! caller decides when to flush and fsync ([`FsyncPolicy`] is data).
//!
//! A segment file is named after the stream offset of its first record,
//! `stream-<offset, 20 digits>.log`, and holds:
//!
//! ```text
//! "CONCLOG" | format u8 | start offset u64 LE | records framed as on the wire
//! ```
//!
//! so byte `p` of a segment (p >= 16) is stream offset `start + p - 16`.
//!
//! Recovery rules (never drop data silently):
//! - An incomplete record at the end of the *last* segment (fewer bytes than
//!   its header announces, or part of a header), or a tail of the last
//!   segment that is all zero bytes, is a torn write: the reader truncates
//!   the file there and reports a [`TornTail`] warning.
//! - Anything else that does not check out (a checksum mismatch in a
//!   complete record, an incomplete record in an older segment, a gap
//!   between segments, a bad header) is an error naming the file and byte
//!   offset. Older segments were fsynced when the log rotated past them, so
//!   damage there is never a torn write.
//!
//! Rejected alternative: one file rewritten by compaction (Redis's AOF
//! rewrite). Segments named by offset make "replay from offset X" a file
//! lookup, and dropping what a snapshot covers a file deletion.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::id::Offset;
use crate::record::{self, framed_len, Record, HEADER_LEN};

const MAGIC: &[u8; 7] = b"CONCLOG";
/// Version byte of the segment format.
pub const SEGMENT_FORMAT: u8 = 1;
/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: u64 = 16;

/// `appendfsync`: when the caller should call [`LogWriter::sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every write, before replying to the client.
    Always,
    /// At most once a second (Redis's default).
    #[default]
    EverySec,
    /// Never explicitly; the OS writes back when it wants.
    No,
}

impl FsyncPolicy {
    pub fn parse(text: &str) -> Option<FsyncPolicy> {
        match text.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }

    /// True when unsynced writes are due for an fsync, `ms_since_sync`
    /// milliseconds after the last one.
    pub fn sync_due(self, ms_since_sync: u64) -> bool {
        match self {
            FsyncPolicy::Always => true,
            FsyncPolicy::EverySec => ms_since_sync >= 1000,
            FsyncPolicy::No => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// A segment is closed and a new one started once a record would take
    /// it past this size (a segment always holds at least one record).
    pub segment_bytes_max: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a log segment (bad header)", path.display())]
    BadHeader { path: PathBuf },
    #[error("{}: unknown segment format {version} (this build reads {SEGMENT_FORMAT})", path.display())]
    Version { path: PathBuf, version: u8 },
    #[error("{}: checksum mismatch in the record at byte {file_offset} (stream offset {offset})", path.display())]
    Checksum {
        path: PathBuf,
        file_offset: u64,
        offset: Offset,
    },
    #[error("{}: record at byte {file_offset} (stream offset {offset}) is incomplete in a segment that is not the last", path.display())]
    Incomplete {
        path: PathBuf,
        file_offset: u64,
        offset: Offset,
    },
    #[error("{}: segment starts at offset {found}, but the previous one ended at {expected}", path.display())]
    Gap {
        path: PathBuf,
        expected: Offset,
        found: Offset,
    },
    #[error("{}: holds {len} bytes, but offset {end} needs {expected}", path.display())]
    LengthMismatch {
        path: PathBuf,
        len: u64,
        end: Offset,
        expected: u64,
    },
    #[error("{}: already exists", path.display())]
    Exists { path: PathBuf },
    #[error("no log segment in {} holds offset {from}", dir.display())]
    NoSegment { dir: PathBuf, from: Offset },
    #[error("{}: offset {from} is inside the record at stream offset {record}", path.display())]
    NotBoundary {
        path: PathBuf,
        from: Offset,
        record: Offset,
    },
    #[error("offset {from} is beyond the end of the log in {} (offset {end})", dir.display())]
    Beyond {
        dir: PathBuf,
        from: Offset,
        end: Offset,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A torn write found at the end of the log and truncated away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    /// Where the file was truncated.
    pub file_offset: u64,
    /// The stream offset the log now ends at.
    pub offset: Offset,
    pub bytes_dropped: u64,
}

impl std::fmt::Display for TornTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: truncated a torn write of {} bytes at byte {} (the log now ends at stream offset {})",
            self.path.display(),
            self.bytes_dropped,
            self.file_offset,
            self.offset
        )
    }
}

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: Offset,
    pub path: PathBuf,
}

/// Returns the file name of the segment starting at `start`.
pub fn segment_name(start: Offset) -> String {
    format!("stream-{:020}.log", start.0)
}

fn parse_segment_name(name: &str) -> Option<Offset> {
    let digits = name.strip_prefix("stream-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Offset)
}

/// Returns the segments in `dir`, oldest first (other files are ignored).
pub fn list_segments(dir: &Path) -> Result<Vec<Segment>, LogError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if let Some(start) = name.to_str().and_then(parse_segment_name) {
            out.push(Segment {
                start,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.start);
    Ok(out)
}

/// Removes the segments wholly before `offset` (a snapshot at `offset`
/// covers them). The last segment is never removed. Returns what it removed.
pub fn remove_segments_before(dir: &Path, offset: Offset) -> Result<Vec<PathBuf>, LogError> {
    let segments = list_segments(dir)?;
    let mut removed = Vec::new();
    for pair in segments.windows(2) {
        if pair[1].start <= offset {
            fs::remove_file(&pair[0].path).map_err(io_err(&pair[0].path))?;
            removed.push(pair[0].path.clone());
        }
    }
    sync_dir(dir)?;
    Ok(removed)
}

/// Removes every segment (a replica's full sync replaced its stream).
pub fn remove_all_segments(dir: &Path) -> Result<usize, LogError> {
    let segments = list_segments(dir)?;
    for s in &segments {
        fs::remove_file(&s.path).map_err(io_err(&s.path))?;
    }
    sync_dir(dir)?;
    Ok(segments.len())
}

/// Makes the creation or removal of files in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), LogError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

fn segment_header(start: Offset) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..7].copy_from_slice(MAGIC);
    h[7] = SEGMENT_FORMAT;
    h[8..].copy_from_slice(&start.0.to_le_bytes());
    h
}

fn check_segment_header(
    segment: &Segment,
    h: &[u8; SEGMENT_HEADER_LEN as usize],
) -> Result<(), LogError> {
    if &h[..7] != MAGIC {
        return Err(LogError::BadHeader {
            path: segment.path.clone(),
        });
    }
    if h[7] != SEGMENT_FORMAT {
        return Err(LogError::Version {
            path: segment.path.clone(),
            version: h[7],
        });
    }
    let start = Offset(u64::from_le_bytes(h[8..].try_into().expect("8 bytes")));
    if start != segment.start {
        // The name and the header must agree: the pair of checks on the start offset.
        return Err(LogError::BadHeader {
            path: segment.path.clone(),
        });
    }
    Ok(())
}

// ---- writing ---------------------------------------------------------------

/// Appends records to the segment files.
pub struct LogWriter {
    config: LogConfig,
    file: BufWriter<File>,
    path: PathBuf,
    segment_start: Offset,
    /// Bytes in the current segment, header included.
    segment_len: u64,
    offset: Offset,
}

impl LogWriter {
    /// Starts a new log at `start` (a new stream, or the offset of the
    /// snapshot a full sync loaded). Creates `dir` if needed; refuses to
    /// overwrite a segment.
    pub fn create(config: LogConfig, start: Offset) -> Result<LogWriter, LogError> {
        fs::create_dir_all(&config.dir).map_err(io_err(&config.dir))?;
        let (file, path) = new_segment(&config.dir, start)?;
        Ok(LogWriter {
            config,
            file,
            path,
            segment_start: start,
            segment_len: SEGMENT_HEADER_LEN,
            offset: start,
        })
    }

    /// Continues the log after a replay ended at `end` (see [`LogReader::end`]).
    pub fn open(config: LogConfig, end: Offset) -> Result<LogWriter, LogError> {
        let segments = list_segments(&config.dir)?;
        let Some(last) = segments.last().cloned() else {
            return Err(LogError::NoSegment {
                dir: config.dir.clone(),
                from: end,
            });
        };
        if last.start > end {
            return Err(LogError::NoSegment {
                dir: config.dir.clone(),
                from: end,
            });
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&last.path)
            .map_err(io_err(&last.path))?;
        let len = file.metadata().map_err(io_err(&last.path))?.len();
        let expected = SEGMENT_HEADER_LEN + end.since(last.start);
        if len != expected {
            return Err(LogError::LengthMismatch {
                path: last.path,
                len,
                end,
                expected,
            });
        }
        Ok(LogWriter {
            config,
            file: BufWriter::with_capacity(64 * 1024, file),
            path: last.path,
            segment_start: last.start,
            segment_len: len,
            offset: end,
        })
    }

    /// Returns the stream offset the next record will start at.
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// Returns the path of the segment being written.
    pub fn segment_path(&self) -> &Path {
        &self.path
    }

    pub fn segment_start(&self) -> Offset {
        self.segment_start
    }

    /// Buffers one record; returns the offset it starts at. Rotates to a new
    /// segment first when the record would take this one past the limit.
    pub fn append(&mut self, payload: &[u8]) -> Result<Offset, LogError> {
        let framed = framed_len(payload.len());
        if self.segment_len > SEGMENT_HEADER_LEN
            && self.segment_len + framed > self.config.segment_bytes_max
        {
            self.rotate()?;
        }
        let offset = self.offset;
        self.file
            .write_all(&record::header(payload))
            .map_err(io_err(&self.path))?;
        self.file.write_all(payload).map_err(io_err(&self.path))?;
        self.segment_len += framed;
        self.offset = offset.plus(framed);
        debug_assert_eq!(
            self.segment_len,
            SEGMENT_HEADER_LEN + self.offset.since(self.segment_start)
        );
        Ok(offset)
    }

    /// Hands buffered records to the OS (no fsync).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.file.flush().map_err(io_err(&self.path))
    }

    /// Flushes, and returns a second handle of the current segment: the
    /// caller can fsync it without holding what guards this writer (a
    /// shard's lock). Older segments were fsynced when the log left them.
    pub fn flushed_handle(&mut self) -> Result<File, LogError> {
        self.flush()?;
        self.file.get_ref().try_clone().map_err(io_err(&self.path))
    }

    /// Flushes and fsyncs the current segment.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.flush()?;
        self.file.get_ref().sync_data().map_err(io_err(&self.path))
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        // Older segments are always durable: recovery treats damage in them
        // as corruption, never as a torn write.
        self.sync()?;
        let (file, path) = new_segment(&self.config.dir, self.offset)?;
        self.file = file;
        self.path = path;
        self.segment_start = self.offset;
        self.segment_len = SEGMENT_HEADER_LEN;
        Ok(())
    }
}

fn new_segment(dir: &Path, start: Offset) -> Result<(BufWriter<File>, PathBuf), LogError> {
    let path = dir.join(segment_name(start));
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(LogError::Exists { path })
        }
        Err(e) => return Err(LogError::Io { path, source: e }),
    };
    file.write_all(&segment_header(start))
        .map_err(io_err(&path))?;
    file.sync_data().map_err(io_err(&path))?;
    sync_dir(dir)?;
    Ok((BufWriter::with_capacity(64 * 1024, file), path))
}

// ---- reading ---------------------------------------------------------------

/// Replays the records of a log from an offset, across segments.
pub struct LogReader {
    dir: PathBuf,
    segments: Vec<Segment>,
    index: usize,
    file: BufReader<File>,
    /// Byte position in the current segment file.
    pos: u64,
    file_len: u64,
    /// Stream offset of the next record.
    offset: Offset,
    torn: Option<TornTail>,
    done: bool,
}

enum Step {
    Record(Record),
    EndOfSegment,
}

impl LogReader {
    /// Opens the log in `dir` to replay from `from`, which must be a record
    /// boundary (records before it are read and checked, then skipped).
    pub fn open(dir: &Path, from: Offset) -> Result<LogReader, LogError> {
        let mut segments = list_segments(dir)?;
        // A crash while a segment was being created can leave its header
        // torn; it then holds no record (the header is synced before any).
        let mut torn = None;
        if let Some(last) = segments.last() {
            let len = fs::metadata(&last.path).map_err(io_err(&last.path))?.len();
            if len < SEGMENT_HEADER_LEN && segments.len() > 1 {
                fs::remove_file(&last.path).map_err(io_err(&last.path))?;
                sync_dir(dir)?;
                torn = Some(TornTail {
                    path: last.path.clone(),
                    file_offset: 0,
                    offset: last.start,
                    bytes_dropped: len,
                });
                segments.pop();
            }
        }
        let index = segments
            .iter()
            .rposition(|s| s.start <= from)
            .ok_or_else(|| LogError::NoSegment {
                dir: dir.to_path_buf(),
                from,
            })?;
        let (file, file_len) = open_segment(&segments[index])?;
        let mut reader = LogReader {
            dir: dir.to_path_buf(),
            offset: segments[index].start,
            segments,
            index,
            file,
            pos: SEGMENT_HEADER_LEN,
            file_len,
            torn,
            done: false,
        };
        while reader.offset < from {
            let Some(record) = reader.next_record()? else {
                return Err(LogError::Beyond {
                    dir: reader.dir.clone(),
                    from,
                    end: reader.offset,
                });
            };
            if record.end() > from {
                let path = reader.segments[reader.index].path.clone();
                return Err(LogError::NotBoundary {
                    path,
                    from,
                    record: record.offset,
                });
            }
        }
        Ok(reader)
    }

    /// Returns the stream offset after the last record read: once the
    /// replay is over, where the log (and the stream) continues.
    pub fn end(&self) -> Offset {
        self.offset
    }

    /// Returns the torn write truncated at the end of the log, if any.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Returns the next record, `None` at the end of the log.
    pub fn next_record(&mut self) -> Result<Option<Record>, LogError> {
        while !self.done {
            match self.step()? {
                Step::Record(r) => return Ok(Some(r)),
                Step::EndOfSegment => self.next_segment()?,
            }
        }
        Ok(None)
    }

    fn is_last(&self) -> bool {
        self.index + 1 == self.segments.len()
    }

    fn path(&self) -> &Path {
        &self.segments[self.index].path
    }

    fn step(&mut self) -> Result<Step, LogError> {
        let remaining = self.file_len - self.pos;
        if remaining == 0 {
            return Ok(Step::EndOfSegment);
        }
        let incomplete = |this: &mut LogReader| -> Result<Step, LogError> {
            if this.is_last() {
                this.truncate_torn_tail()?;
                return Ok(Step::EndOfSegment);
            }
            Err(LogError::Incomplete {
                path: this.path().to_path_buf(),
                file_offset: this.pos,
                offset: this.offset,
            })
        };
        if remaining < HEADER_LEN as u64 {
            return incomplete(self);
        }
        let mut h = [0u8; HEADER_LEN];
        self.file
            .read_exact(&mut h)
            .map_err(io_err(&self.segments[self.index].path))?;
        let header = record::parse_header(&h);
        let fits = matches!(header, Ok((len, _)) if len as u64 <= remaining - HEADER_LEN as u64);
        if !fits {
            return incomplete(self);
        }
        let (len, crc) = header.expect("checked");
        let mut payload = vec![0u8; len];
        self.file
            .read_exact(&mut payload)
            .map_err(io_err(&self.segments[self.index].path))?;
        if record::verify(&payload, crc).is_err() {
            if self.is_last() && self.zero_from(self.pos)? {
                self.truncate_torn_tail()?;
                return Ok(Step::EndOfSegment);
            }
            return Err(LogError::Checksum {
                path: self.path().to_path_buf(),
                file_offset: self.pos,
                offset: self.offset,
            });
        }
        let record = Record {
            offset: self.offset,
            payload: Bytes::from(payload),
        };
        self.pos += framed_len(len);
        self.offset = record.end();
        debug_assert_eq!(
            self.pos,
            SEGMENT_HEADER_LEN + self.offset.since(self.segments[self.index].start)
        );
        Ok(Step::Record(record))
    }

    /// True when every byte from `from` to the end of the file is zero (a
    /// file extended by the OS but never written: a torn write).
    fn zero_from(&self, from: u64) -> Result<bool, LogError> {
        let path = self.path();
        let mut f = File::open(path).map_err(io_err(path))?;
        f.seek(SeekFrom::Start(from)).map_err(io_err(path))?;
        let mut buf = [0u8; 8192];
        loop {
            let n = f.read(&mut buf).map_err(io_err(path))?;
            if n == 0 {
                return Ok(true);
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
        }
    }

    fn truncate_torn_tail(&mut self) -> Result<(), LogError> {
        let path = self.path().to_path_buf();
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        f.set_len(self.pos).map_err(io_err(&path))?;
        f.sync_all().map_err(io_err(&path))?;
        self.torn = Some(TornTail {
            path,
            file_offset: self.pos,
            offset: self.offset,
            bytes_dropped: self.file_len - self.pos,
        });
        self.file_len = self.pos;
        self.done = true;
        Ok(())
    }

    fn next_segment(&mut self) -> Result<(), LogError> {
        if self.is_last() {
            self.done = true;
            return Ok(());
        }
        let next = &self.segments[self.index + 1];
        if next.start != self.offset {
            return Err(LogError::Gap {
                path: next.path.clone(),
                expected: self.offset,
                found: next.start,
            });
        }
        let (file, file_len) = open_segment(next)?;
        self.index += 1;
        self.file = file;
        self.file_len = file_len;
        self.pos = SEGMENT_HEADER_LEN;
        Ok(())
    }
}

impl Iterator for LogReader {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Result<Record, LogError>> {
        match self.next_record() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn open_segment(segment: &Segment) -> Result<(BufReader<File>, u64), LogError> {
    let path = &segment.path;
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    if len < SEGMENT_HEADER_LEN {
        return Err(LogError::BadHeader { path: path.clone() });
    }
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    reader.read_exact(&mut h).map_err(io_err(path))?;
    check_segment_header(segment, &h)?;
    Ok((reader, len))
}

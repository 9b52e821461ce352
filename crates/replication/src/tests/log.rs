//! The log on real temporary files.

use std::fs;
use std::path::Path;

use crate::id::Offset;
use crate::log::{
    list_segments, remove_segments_before, segment_name, FsyncPolicy, LogConfig, LogError,
    LogReader, LogWriter, SEGMENT_HEADER_LEN,
};
use crate::record::framed_len;

fn config(dir: &Path, segment_bytes_max: u64) -> LogConfig {
    LogConfig {
        dir: dir.to_path_buf(),
        segment_bytes_max,
    }
}

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("effect-{i}-{}", "x".repeat(i % 7)).into_bytes())
        .collect()
}

/// Writes `payloads` from offset `start`; returns each record's offset.
fn write_log(
    dir: &Path,
    start: Offset,
    segment_bytes_max: u64,
    payloads: &[Vec<u8>],
) -> Vec<Offset> {
    let mut w = LogWriter::create(config(dir, segment_bytes_max), start).unwrap();
    let offsets = payloads.iter().map(|p| w.append(p).unwrap()).collect();
    w.sync().unwrap();
    offsets
}

type Replayed = (Vec<(Offset, Vec<u8>)>, LogReader);

fn replay(dir: &Path, from: Offset) -> Result<Replayed, LogError> {
    let mut r = LogReader::open(dir, from)?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push((rec.offset, rec.payload.to_vec()));
    }
    Ok((out, r))
}

#[test]
fn write_then_replay_from_any_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(30);
    let offsets = write_log(dir.path(), Offset(1000), 1 << 20, &ps);
    assert_eq!(offsets[0], Offset(1000));
    for (i, from) in offsets.iter().enumerate() {
        let (got, r) = replay(dir.path(), *from).unwrap();
        assert_eq!(got.len(), ps.len() - i);
        assert_eq!(got[0], (*from, ps[i].clone()));
        assert!(r.torn_tail().is_none());
        let end = offsets
            .last()
            .unwrap()
            .plus(framed_len(ps.last().unwrap().len()));
        assert_eq!(r.end(), end);
    }
    let inside = offsets[3].plus(1);
    assert!(matches!(
        LogReader::open(dir.path(), inside),
        Err(LogError::NotBoundary { .. })
    ));
    assert!(matches!(
        LogReader::open(dir.path(), Offset(999)),
        Err(LogError::NoSegment { .. })
    ));
    assert!(matches!(
        LogReader::open(dir.path(), Offset(1 << 40)),
        Err(LogError::Beyond { .. })
    ));
}

#[test]
fn rotation_spreads_records_over_segments_and_replay_crosses_them() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(100);
    let offsets = write_log(dir.path(), Offset(0), 200, &ps);
    let segments = list_segments(dir.path()).unwrap();
    assert!(segments.len() > 5, "{} segments", segments.len());
    for s in &segments {
        let len = fs::metadata(&s.path).unwrap().len();
        assert!(
            len <= 200
                || len == SEGMENT_HEADER_LEN + framed_len(ps.iter().map(Vec::len).max().unwrap())
        );
        assert!(
            offsets.contains(&s.start),
            "segments start at record boundaries"
        );
        assert_eq!(
            s.path.file_name().unwrap().to_str().unwrap(),
            segment_name(s.start)
        );
    }
    let (got, _) = replay(dir.path(), Offset(0)).unwrap();
    assert_eq!(got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(), ps);
    // From the middle of a later segment.
    let (got, _) = replay(dir.path(), offsets[77]).unwrap();
    assert_eq!(got[0].1, ps[77]);
    // Dropping what a snapshot at offsets[50] covers keeps replay from there.
    let removed = remove_segments_before(dir.path(), offsets[50]).unwrap();
    assert!(!removed.is_empty());
    let (got, _) = replay(dir.path(), offsets[50]).unwrap();
    assert_eq!(got.len(), 50);
    assert!(matches!(
        LogReader::open(dir.path(), Offset(0)),
        Err(LogError::NoSegment { .. })
    ));
}

#[test]
fn writer_continues_after_a_replay_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(10);
    write_log(dir.path(), Offset(0), 150, &ps[..5]);
    let (_, r) = replay(dir.path(), Offset(0)).unwrap();
    let mut w = LogWriter::open(config(dir.path(), 150), r.end()).unwrap();
    for p in &ps[5..] {
        w.append(p).unwrap();
    }
    w.flush().unwrap();
    let (got, _) = replay(dir.path(), Offset(0)).unwrap();
    assert_eq!(got.into_iter().map(|g| g.1).collect::<Vec<_>>(), ps);
    // Opening at a wrong end offset is refused (the pair of the replay's end).
    let err = LogWriter::open(config(dir.path(), 150), Offset(3))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            LogError::LengthMismatch { .. } | LogError::NoSegment { .. }
        ),
        "{err}"
    );
    // Creating over an existing segment is refused.
    assert!(matches!(
        LogWriter::create(config(dir.path(), 150), Offset(0)),
        Err(LogError::Exists { .. })
    ));
}

#[test]
fn a_torn_last_record_is_truncated_at_every_byte() {
    let ps = payloads(6);
    let template = tempfile::tempdir().unwrap();
    let offsets = write_log(template.path(), Offset(500), 120, &ps);
    let segments = list_segments(template.path()).unwrap();
    assert!(segments.len() >= 2, "the last record is in a later segment");
    let last = segments.last().unwrap();
    let full = fs::read(&last.path).unwrap();
    let last_start = SEGMENT_HEADER_LEN + offsets[5].since(last.start);
    assert_eq!(full.len() as u64, last_start + framed_len(ps[5].len()));
    for cut in last_start..full.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        for s in &segments {
            fs::copy(&s.path, dir.path().join(s.path.file_name().unwrap())).unwrap();
        }
        let path = dir.path().join(last.path.file_name().unwrap());
        fs::write(&path, &full[..cut as usize]).unwrap();
        let (got, r) = replay(dir.path(), Offset(500)).unwrap();
        assert_eq!(got.len(), 5, "cut at {cut}");
        assert_eq!(r.end(), offsets[5]);
        let torn = r.torn_tail().cloned();
        if cut == last_start {
            assert!(torn.is_none(), "a cut at a record boundary is a clean end");
        } else {
            let torn = torn.expect("a torn tail is reported");
            assert_eq!(
                (torn.file_offset, torn.offset, torn.bytes_dropped),
                (last_start, offsets[5], cut - last_start)
            );
            assert!(
                torn.to_string().contains("truncated a torn write"),
                "{torn}"
            );
        }
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            last_start,
            "the file is truncated"
        );
        // Appending after the truncation gives a clean log.
        let mut w = LogWriter::open(config(dir.path(), 120), r.end()).unwrap();
        w.append(b"after").unwrap();
        w.sync().unwrap();
        let (got, r) = replay(dir.path(), Offset(500)).unwrap();
        assert_eq!(got.last().unwrap(), &(offsets[5], b"after".to_vec()));
        assert!(r.torn_tail().is_none());
    }
}

#[test]
fn a_zero_filled_tail_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(3);
    let offsets = write_log(dir.path(), Offset(0), 1 << 20, &ps);
    let path = list_segments(dir.path()).unwrap()[0].path.clone();
    let len = fs::metadata(&path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len + 4096).unwrap(); // the OS extended the file, data never written
    let (got, r) = replay(dir.path(), Offset(0)).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(r.torn_tail().unwrap().bytes_dropped, 4096);
    assert_eq!(r.end(), offsets[2].plus(framed_len(ps[2].len())));
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_file_and_offset() {
    let ps = payloads(40);
    let template = tempfile::tempdir().unwrap();
    let offsets = write_log(template.path(), Offset(0), 300, &ps);
    let segments = list_segments(template.path()).unwrap();
    // Flip one payload byte of record 10 (in an older segment), then of the
    // second-to-last record of the last segment: both are errors, never
    // skipped, and the error names the file and the byte.
    for victim in [10usize, 38] {
        let dir = tempfile::tempdir().unwrap();
        for s in &segments {
            fs::copy(&s.path, dir.path().join(s.path.file_name().unwrap())).unwrap();
        }
        let seg = segments
            .iter()
            .rev()
            .find(|s| s.start <= offsets[victim])
            .unwrap();
        let path = dir.path().join(seg.path.file_name().unwrap());
        let mut bytes = fs::read(&path).unwrap();
        let at = (SEGMENT_HEADER_LEN + offsets[victim].since(seg.start)) as usize;
        bytes[at + 9] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let err = replay(dir.path(), Offset(0))
            .err()
            .expect("corruption is an error");
        match &err {
            LogError::Checksum {
                path: p,
                file_offset,
                offset,
            } => {
                assert_eq!(
                    (p, *file_offset, *offset),
                    (&path, at as u64, offsets[victim])
                );
            }
            other => panic!("victim {victim}: {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(seg.path.file_name().unwrap().to_str().unwrap())
                && text.contains(&format!("byte {at}")),
            "{text}"
        );
        assert_eq!(fs::read(&path).unwrap(), bytes, "nothing was truncated");
    }
}

#[test]
fn a_damaged_complete_last_record_is_an_error_too() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(3);
    write_log(dir.path(), Offset(0), 1 << 20, &ps);
    let path = list_segments(dir.path()).unwrap()[0].path.clone();
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        replay(dir.path(), Offset(0)),
        Err(LogError::Checksum { .. })
    ));
}

#[test]
fn an_incomplete_record_in_an_older_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(20);
    write_log(dir.path(), Offset(0), 150, &ps);
    let first = list_segments(dir.path()).unwrap()[0].path.clone();
    let len = fs::metadata(&first).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let err = replay(dir.path(), Offset(0)).err().unwrap();
    assert!(matches!(err, LogError::Incomplete { .. }), "{err}");
}

#[test]
fn a_missing_segment_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Offset(0), 120, &payloads(20));
    let segments = list_segments(dir.path()).unwrap();
    fs::remove_file(&segments[2].path).unwrap();
    let err = replay(dir.path(), Offset(0)).err().unwrap();
    assert!(matches!(err, LogError::Gap { .. }), "{err}");
}

#[test]
fn bad_segment_headers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), Offset(64), 1 << 20, &payloads(2));
    let path = list_segments(dir.path()).unwrap()[0].path.clone();
    let good = fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[0] = b'X';
    fs::write(&path, &bad).unwrap();
    assert!(matches!(
        replay(dir.path(), Offset(64)),
        Err(LogError::BadHeader { .. })
    ));
    let mut bad = good.clone();
    bad[7] = 9;
    fs::write(&path, &bad).unwrap();
    assert!(matches!(
        replay(dir.path(), Offset(64)),
        Err(LogError::Version { version: 9, .. })
    ));
    let mut bad = good;
    bad[8] = 65; // the header's start disagrees with the file name
    fs::write(&path, &bad).unwrap();
    assert!(matches!(
        replay(dir.path(), Offset(64)),
        Err(LogError::BadHeader { .. })
    ));
}

#[test]
fn a_torn_segment_header_is_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let ps = payloads(3);
    let offsets = write_log(dir.path(), Offset(0), 1 << 20, &ps);
    let end = offsets[2].plus(framed_len(ps[2].len()));
    let torn = dir.path().join(segment_name(end));
    fs::write(&torn, b"CONC").unwrap();
    let (got, r) = replay(dir.path(), Offset(0)).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(r.torn_tail().unwrap().path, torn);
    assert!(!torn.exists());
    assert_eq!(r.end(), end);
}

#[test]
fn fsync_policy_is_data() {
    assert_eq!(FsyncPolicy::parse("everysec"), Some(FsyncPolicy::EverySec));
    assert_eq!(FsyncPolicy::parse("ALWAYS"), Some(FsyncPolicy::Always));
    assert_eq!(FsyncPolicy::parse("sometimes"), None);
    assert_eq!(FsyncPolicy::default().name(), "everysec");
    assert!(FsyncPolicy::Always.sync_due(0));
    assert!(!FsyncPolicy::EverySec.sync_due(999) && FsyncPolicy::EverySec.sync_due(1000));
    assert!(!FsyncPolicy::No.sync_due(u64::MAX));
}

use bytes::Bytes;
use proptest::prelude::*;

use crate::backlog::{
    auto_backlog_bytes, Backlog, BacklogSize, ReadError, BACKLOG_AUTO_MAX, BACKLOG_AUTO_MIN,
};
use crate::id::Offset;
use crate::record::{framed_len, Record};

#[test]
fn append_returns_start_offsets_and_reads_back() {
    let mut b = Backlog::new(1 << 20, Offset(0));
    assert_eq!(b.append(Bytes::from_static(b"one")), Offset(0));
    assert_eq!(b.append(Bytes::from_static(b"two!")), Offset(11));
    assert_eq!(b.current_offset(), Offset(23));
    assert_eq!((b.first_offset(), b.histlen(), b.len()), (Offset(0), 23, 2));
    let all: Vec<_> = b
        .read_from(Offset(0))
        .unwrap()
        .map(|r| (r.offset, r.payload.clone()))
        .collect();
    assert_eq!(
        all,
        vec![
            (Offset(0), Bytes::from_static(b"one")),
            (Offset(11), Bytes::from_static(b"two!"))
        ]
    );
    assert_eq!(b.read_from(Offset(11)).unwrap().count(), 1);
    assert_eq!(b.read_from(Offset(23)).unwrap().count(), 0);
}

#[test]
fn read_from_rejects_offsets_outside_or_inside_records() {
    let mut b = Backlog::new(25, Offset(1000));
    for _ in 0..4 {
        b.append(Bytes::from_static(b"xy")); // 10 framed bytes each
    }
    assert_eq!(
        (b.first_offset(), b.current_offset()),
        (Offset(1020), Offset(1040))
    );
    assert_eq!(
        b.read_from(Offset(1010)).err(),
        Some(ReadError::Trimmed {
            requested: Offset(1010),
            first: Offset(1020)
        })
    );
    assert_eq!(
        b.read_from(Offset(1041)).err(),
        Some(ReadError::Future {
            requested: Offset(1041),
            current: Offset(1040)
        })
    );
    assert_eq!(
        b.read_from(Offset(1025)).err(),
        Some(ReadError::NotBoundary {
            requested: Offset(1025)
        })
    );
    assert!(
        b.is_boundary(Offset(1030)) && b.is_boundary(Offset(1040)) && !b.is_boundary(Offset(1031))
    );
}

#[test]
fn oversized_record_leaves_an_empty_backlog_at_the_current_offset() {
    let mut b = Backlog::new(16, Offset(0));
    b.append(Bytes::from_static(b"ab"));
    b.append(Bytes::from(vec![0u8; 100]));
    assert_eq!(
        (b.first_offset(), b.current_offset(), b.len()),
        (Offset(118), Offset(118), 0)
    );
    assert_eq!(b.read_from(Offset(118)).unwrap().count(), 0);
}

#[test]
fn resize_trims_to_the_new_bound() {
    let mut b = Backlog::new(1000, Offset(0));
    for _ in 0..10 {
        b.append(Bytes::from_static(b"12")); // 10 framed bytes each
    }
    b.resize(35);
    assert_eq!((b.first_offset(), b.histlen()), (Offset(70), 30));
}

#[test]
fn auto_size_is_one_percent_per_shard_clamped() {
    assert_eq!(auto_backlog_bytes(0, 1), BACKLOG_AUTO_MIN);
    assert_eq!(auto_backlog_bytes(10 << 30, 1), (10u64 << 30) / 100);
    assert_eq!(auto_backlog_bytes(10 << 30, 4), (10u64 << 30) / 100 / 4);
    assert_eq!(auto_backlog_bytes(1 << 40, 1), BACKLOG_AUTO_MAX);
    assert_eq!(auto_backlog_bytes(1 << 30, 0), (1u64 << 30) / 100);
    assert_eq!(BacklogSize::parse("auto"), Some(BacklogSize::Auto));
    assert_eq!(
        BacklogSize::parse("AUTO").map(|s| s.resolve(0, 1)),
        Some(BACKLOG_AUTO_MIN)
    );
    assert_eq!(
        BacklogSize::parse("1048576"),
        Some(BacklogSize::Bytes(1 << 20))
    );
    assert_eq!(BacklogSize::parse("1mb"), None);
}

proptest! {
    /// Whatever is appended and however small the bound, the backlog holds
    /// exactly the newest records that fit, each where the last one ended,
    /// and every retained boundary serves reads of the rest.
    #[test]
    fn backlog_keeps_the_newest_records_that_fit(
        start in 0u64..1_000_000,
        max in 0u64..400,
        sizes in proptest::collection::vec(0usize..60, 0..60),
    ) {
        let mut b = Backlog::new(max, Offset(start));
        let mut all = Vec::new();
        let mut offset = Offset(start);
        for (i, size) in sizes.iter().enumerate() {
            let p = Bytes::from(vec![i as u8; *size]);
            prop_assert_eq!(b.append(p.clone()), offset);
            all.push((offset, p));
            offset = offset.plus(framed_len(*size));
        }
        prop_assert_eq!(b.current_offset(), offset);
        prop_assert!(b.histlen() <= max);
        // The model: the longest suffix whose framed bytes fit the bound.
        let mut kept = 0u64;
        let mut first = offset;
        for (o, p) in all.iter().rev() {
            if kept + framed_len(p.len()) > max {
                break;
            }
            kept += framed_len(p.len());
            first = *o;
        }
        prop_assert_eq!(b.first_offset(), first);
        let retained: Vec<_> = all.iter().filter(|(o, _)| *o >= first).cloned().collect();
        for (i, (o, _)) in retained.iter().enumerate() {
            let got: Vec<_> = b.read_from(*o).unwrap().map(|r| (r.offset, r.payload.clone())).collect();
            prop_assert_eq!(&got[..], &retained[i..]);
        }
        prop_assert_eq!(b.read_from(offset).unwrap().count(), 0);
    }
}

proptest! {
    /// Records appended in batches (one shared buffer each) read back, trim
    /// and answer boundary questions exactly as the same records appended
    /// one by one.
    #[test]
    fn batches_behave_as_single_records(
        start in 0u64..1_000_000,
        max in 0u64..600,
        batches in proptest::collection::vec(proptest::collection::vec(0usize..40, 0..8), 0..30),
    ) {
        let mut batched = Backlog::new(max, Offset(start));
        let mut single = Backlog::new(max, Offset(start));
        let mut n = 0u8;
        for sizes in &batches {
            let mut data = Vec::new();
            let mut ends = Vec::new();
            for size in sizes {
                data.extend(std::iter::repeat(n).take(*size));
                ends.push(data.len());
                n = n.wrapping_add(1);
            }
            let data = Bytes::from(data);
            let at = batched.append_many(data.clone(), &ends);
            let mut from = 0;
            let mut first = None;
            for end in &ends {
                let o = single.append(data.slice(from..*end));
                first.get_or_insert(o);
                from = *end;
            }
            prop_assert_eq!(at, first.unwrap_or(at));
            prop_assert_eq!(
                (batched.first_offset(), batched.current_offset(), batched.len()),
                (single.first_offset(), single.current_offset(), single.len())
            );
        }
        let all: Vec<Record> = single.read_from(single.first_offset()).unwrap().collect();
        prop_assert_eq!(&batched.read_from(batched.first_offset()).unwrap().collect::<Vec<_>>(), &all);
        for (i, r) in all.iter().enumerate() {
            prop_assert!(batched.is_boundary(r.offset));
            prop_assert_eq!(&batched.read_from(r.offset).unwrap().collect::<Vec<_>>()[..], &all[i..]);
            // (A framed record is at least 8 bytes: one past its start is inside it.)
            let inside = r.offset.plus(1);
            prop_assert!(!batched.is_boundary(inside));
            prop_assert_eq!(batched.read_from(inside).err(), single.read_from(inside).err());
        }
        let before = single.first_offset();
        if before.0 > 0 {
            let o = Offset(before.0 - 1);
            prop_assert_eq!(batched.read_from(o).err(), single.read_from(o).err());
        }
    }
}

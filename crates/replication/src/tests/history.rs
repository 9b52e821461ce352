use super::id;
use crate::history::{History, HistoryError, Known, PastId, HISTORY_LEN_MAX};
use crate::id::{Offset, ReplId};

#[test]
fn promote_moves_the_id_into_the_history() {
    let mut h = History::new(id("A"));
    h.promote(id("B"), Offset(100));
    h.promote(id("C"), Offset(250));
    assert_eq!(h.current(), id("C"));
    assert_eq!(h.lookup(id("B")), Known::Past(Offset(250)));
    assert_eq!(h.lookup(id("A")), Known::Past(Offset(100)));
    assert_eq!(h.lookup(id("C")), Known::Current);
    assert_eq!(h.lookup(id("Z")), Known::Unknown);
}

#[test]
fn shift_to_the_current_id_changes_nothing() {
    let mut h = History::new(id("A"));
    h.shift(id("A"), Offset(10));
    assert_eq!(h, History::new(id("A")));
}

#[test]
fn adopt_learns_the_primarys_past_ids() {
    // Replica of A at offset 90; the primary B was promoted at 100 and
    // remembers X before that.
    let mut h = History::from_parts(
        id("A"),
        &[PastId {
            replid: id("W"),
            end: Offset(20),
        }],
    );
    let primary_past = [
        PastId {
            replid: id("A"),
            end: Offset(100),
        },
        PastId {
            replid: id("X"),
            end: Offset(40),
        },
    ];
    h.adopt(id("B"), &primary_past, Offset(90));
    assert_eq!(h.current(), id("B"));
    assert_eq!(
        h.lookup(id("A")),
        Known::Past(Offset(100)),
        "the primary's stream shares A up to 100"
    );
    assert_eq!(h.lookup(id("X")), Known::Past(Offset(40)));
    assert_eq!(
        h.lookup(id("W")),
        Known::Past(Offset(20)),
        "its own past ids stay true"
    );
}

#[test]
fn history_is_bounded_and_keeps_the_newest() {
    let mut h = History::new(ReplId::from_seed(0));
    for i in 1..=40u64 {
        h.promote(ReplId::from_seed(i), Offset(i * 10));
    }
    assert_eq!(h.past().len(), HISTORY_LEN_MAX);
    assert_eq!(
        h.past()[0],
        PastId {
            replid: ReplId::from_seed(39),
            end: Offset(400)
        }
    );
    assert_eq!(
        h.lookup(ReplId::from_seed(39 - HISTORY_LEN_MAX as u64)),
        Known::Unknown
    );
    const { assert!(HISTORY_LEN_MAX >= 8) };
}

#[test]
fn encode_decode_round_trip_and_errors() {
    let mut h = History::new(id("A"));
    for (i, l) in ["B", "C", "D"].iter().enumerate() {
        h.promote(id(l), Offset(1000 * (i as u64 + 1)));
    }
    let mut buf = Vec::new();
    h.encode(&mut buf);
    assert_eq!(buf.len(), 1 + 40 + 1 + 3 * 48);
    assert_eq!(History::decode(&buf), Ok(h.clone()));
    for cut in 0..buf.len() {
        assert_eq!(
            History::decode(&buf[..cut]),
            Err(HistoryError::Truncated),
            "cut at {cut}"
        );
    }
    let mut bad = buf.clone();
    bad[0] = 9;
    assert_eq!(History::decode(&bad), Err(HistoryError::Version(9)));
    let mut bad = buf.clone();
    bad[5] = b'x';
    assert_eq!(History::decode(&bad), Err(HistoryError::BadId));
    let mut long = buf.clone();
    long.push(0);
    assert_eq!(History::decode(&long), Err(HistoryError::Trailing));
    let mut many = buf[..41].to_vec();
    many.push(200);
    assert_eq!(History::decode(&many), Err(HistoryError::TooLong(200)));
}

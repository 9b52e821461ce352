//! The PSYNC decision from a text table: testdata/psync.txt.

use super::{id, payload_of_framed};
use crate::backlog::Backlog;
use crate::history::{History, PastId};
use crate::id::Offset;
use crate::psync::{decide_psync, Decision, PsyncRequest};

const TABLE: &str = include_str!("../../testdata/psync.txt");

fn parse_history(text: &str) -> History {
    let mut words = text.split_whitespace();
    let current = id(words.next().expect("a current id"));
    let past: Vec<PastId> = words
        .map(|w| {
            let (letter, end) = w.split_once('@').expect("past ids are ID@END");
            PastId {
                replid: id(letter),
                end: Offset(end.parse().expect("END is a number")),
            }
        })
        .collect();
    let history = History::from_parts(current, &past);
    assert_eq!(
        history.past(),
        &past[..],
        "the table lists past ids newest first"
    );
    history
}

fn parse_backlog(text: &str) -> Backlog {
    let (spec, max) = match text.split_once('/') {
        Some((s, m)) => (s, m.trim().parse().expect("MAX is a number")),
        None => (text, u64::MAX),
    };
    let (start, sizes) = spec.trim().split_once('+').expect("backlog is START+SIZES");
    let mut backlog = Backlog::new(max, Offset(start.parse().expect("START is a number")));
    for (i, size) in sizes.split(',').filter(|s| !s.is_empty()).enumerate() {
        backlog.append(payload_of_framed(
            size.parse().expect("a framed size"),
            i as u8,
        ));
    }
    backlog
}

fn parse_request(text: &str) -> PsyncRequest {
    let (replid, offset) = text.split_once(' ').expect("request is ID OFFSET");
    if replid == "?" {
        assert_eq!(offset.trim(), "-1");
        return PsyncRequest {
            replid: None,
            offset: None,
        };
    }
    PsyncRequest {
        replid: Some(id(replid)),
        offset: Some(Offset(offset.trim().parse().expect("OFFSET"))),
    }
}

fn show(d: &Decision) -> String {
    let letter = |r| {
        (b'A'..=b'Z')
            .map(|c| c as char)
            .find(|c| id(&c.to_string()) == r)
            .expect("a table id")
    };
    match d {
        Decision::Continue { from } => format!("continue {from}"),
        Decision::FullResync {
            replid,
            offset,
            reason,
        } => format!("full {} {offset} {}", letter(*replid), reason.name()),
    }
}

#[test]
fn psync_table() {
    let mut cases = 0;
    let mut failures = Vec::new();
    for (n, line) in TABLE.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let [history, backlog, request, expected] = cols[..] else {
            panic!("testdata/psync.txt:{}: expected 4 columns", n + 1);
        };
        let got = show(&decide_psync(
            &parse_request(request),
            &parse_history(history),
            &parse_backlog(backlog),
        ));
        let expected = expected.split_whitespace().collect::<Vec<_>>().join(" ");
        if got != expected {
            failures.push(format!(
                "testdata/psync.txt:{}: {line}\n    got: {got}",
                n + 1
            ));
        }
        cases += 1;
    }
    assert!(cases >= 40, "the table has {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

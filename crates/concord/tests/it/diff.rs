//! Differential test: concord's replies against a live redis-server's.
//!
//! The corpus, `tests/diff/*.txt`, holds only commands; the expected replies
//! come from a real `redis-server` on every run, which is what makes the
//! test differential. Each command goes, as RESP, to both servers and the
//! reply bytes must be equal, except on lines listed in
//! `tests/diff/expected-failures.txt` (`FILE:LINE` a line). The test fails
//! on a mismatch that is not listed AND on a listed line that now matches,
//! so the list only shrinks as the engine improves.
//! `CONCORD_DIFF_BLESS=1` rewrites the list from the current mismatches.
//! `CONCORD_DIFF_FILES=strings,hashes` runs only those corpus files.
//!
//! A second test runs the same corpus redis-server against redis-server:
//! there every line must match, which proves that the corpus has no
//! nondeterministic line left unmarked.
//!
//! # Corpus format
//!
//! One command a line, split into arguments like redis-cli does (double
//! quotes with `\n`, `\xHH` escapes; single quotes). A line starting with
//! `#` is a comment. A blank line ends a case: each case runs on fresh
//! connections, so connection state (MULTI, RESP3, SELECT, subscriptions)
//! never leaks into the next one, while keys live on until the file's end.
//! Every file starts with FLUSHALL. Optional parts of a line:
//!
//! - a leading `@N` (N in 1..=9) sends on the case's N-th connection, for
//!   commands that need two clients (WATCH, pub/sub); the default is `@1`;
//! - trailing directives, each starting with `#!`:
//!   - `#!shape` compares only types and aggregate sizes (for legitimately
//!     nondeterministic replies: TIME, INFO, CLIENT ID, random members);
//!   - `#!unordered` sorts the items of every aggregate first (KEYS,
//!     SMEMBERS, SCAN and other replies whose order is unspecified);
//!   - `#!pairs` sorts the top-level array as key/value pairs (HGETALL);
//!   - `#!approx=N` lets integers differ by up to N (PTTL);
//!   - `#!replies=N` reads N reply frames (SUBSCRIBE to N channels);
//!   - `#!sleep=MS` waits that long before sending (expiry tests);
//!   - `#!raw` sends the line's one argument as raw bytes (inline
//!     commands, protocol errors);
//!   - `#!defer` sends without reading the reply (a blocking command that
//!     another connection will wake up);
//! - a line that is only `#!read` (after an optional `@N`) sends nothing
//!   and reads the reply (a deferred one, a published message).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{escape, Frame, RespConn, Server, ServerConfig, ServerKind};

const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/diff");
const EXPECTED_FAILURES: &str = "expected-failures.txt";
/// How long one reply of the server under test may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// After this much time lost to time-outs, the rest of the corpus is not
/// sent to the server under test (it is reported as mismatched), so a hung
/// server cannot make the test run for an hour.
const TIMEOUT_BUDGET: Duration = Duration::from_secs(60);
/// Longest escaped reply shown in a report line.
const SHOWN_REPLY_CHARS_MAX: usize = 300;

#[test]
fn concord_replies_match_redis() {
    run(ServerKind::Concord);
}

#[test]
fn corpus_is_deterministic_on_redis() {
    run(ServerKind::Redis);
}

/// How a step's replies are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Exact,
    Shape,
    Unordered,
    Pairs,
    Approx(i64),
}

#[derive(Clone, Debug)]
enum Action {
    Command(Vec<Vec<u8>>),
    Raw(Vec<u8>),
    Read,
}

/// One line of the corpus.
#[derive(Clone, Debug)]
struct Step {
    line: usize,
    text: String,
    conn: usize,
    action: Action,
    check: Check,
    replies: usize,
    sleep: Duration,
    defer: bool,
}

struct CorpusFile {
    name: String,
    cases: Vec<Vec<Step>>,
}

impl CorpusFile {
    fn steps(&self) -> impl Iterator<Item = &Step> {
        self.cases.iter().flatten()
    }
}

struct Mismatch {
    key: String,
    text: String,
    redis: String,
    other: String,
}

#[derive(Default)]
struct Outcome {
    commands: usize,
    reads: usize,
    /// Commands sent with `#!defer`: their reply is compared by a `#!read`.
    deferred: usize,
    by_check: BTreeMap<&'static str, usize>,
    matched: usize,
    mismatches: Vec<Mismatch>,
    notes: Vec<String>,
    /// Every line with redis-server's reply, for people writing the corpus.
    transcript: String,
}

fn run(other_kind: ServerKind) {
    let corpus = load_corpus();
    let redis = Server::redis();
    let mut other = Server::start(other_kind, ServerConfig::default());
    let mut outcome = Outcome::default();
    let mut timeout_spent = Duration::ZERO;
    for file in &corpus {
        for case in &file.cases {
            run_case(&file.name, case, &redis, &mut other, &mut outcome, &mut timeout_spent);
        }
    }
    report(other_kind, &corpus, &outcome);
}

/// Per case: the pair of connections (redis, other) for each `@N`.
type Conns = BTreeMap<usize, (RespConn, Option<RespConn>)>;

fn run_case(
    file: &str,
    case: &[Step],
    redis: &Server,
    other: &mut Server,
    outcome: &mut Outcome,
    timeout_spent: &mut Duration,
) {
    let mut conns = Conns::new();
    for step in case {
        let key = format!("{file}:{}", step.line);
        match step.action {
            Action::Read => outcome.reads += 1,
            _ => outcome.commands += 1,
        }
        if !step.defer {
            *outcome.by_check.entry(check_name(step.check)).or_default() += 1;
        }
        thread::sleep(step.sleep);

        let (redis_conn, other_conn) = conns.entry(step.conn).or_insert_with(|| {
            let mut redis_conn = redis.connect();
            redis_conn.set_timeout(Duration::from_secs(10));
            (redis_conn, None)
        });
        if other_conn.is_none() && *timeout_spent < TIMEOUT_BUDGET {
            *other_conn = other.try_connect().ok().map(|mut conn| {
                conn.set_timeout(REPLY_TIMEOUT);
                conn
            });
        }
        send(redis_conn, step).unwrap_or_else(|error| panic!("{key}: send to redis-server: {error}"));
        let other_sent = match other_conn.as_mut() {
            Some(conn) => send(conn, step),
            None => Err(format!("no connection to {}", other.kind())),
        };
        if step.defer {
            // Nothing to compare yet; a later `#!read` reads the reply.
            outcome.deferred += 1;
            if let Err(error) = other_sent {
                *other_conn = None;
                record_mismatch(outcome, key, step, b"", format!("<{error}>"));
            }
            continue;
        }
        let redis_reply = read_replies(redis_conn, step.replies).unwrap_or_else(|error| {
            panic!("{key}: redis-server gave no reply ({error}): fix this corpus line: {}", step.text)
        });
        let _ = writeln!(outcome.transcript, "{key}: {}\n    {}", step.text, show(&redis_reply));
        let started = Instant::now();
        let other_reply = other_sent.and_then(|()| {
            let conn = other_conn.as_mut().expect("sent on this connection");
            read_replies(conn, step.replies)
        });
        let other_reply = match other_reply {
            Ok(reply) => reply,
            Err(error) => {
                // The connection's state is unknown now: use a new one next.
                *other_conn = None;
                if error.contains("no whole reply within") {
                    *timeout_spent += started.elapsed();
                }
                if !other.is_running() {
                    outcome.notes.push(format!("{} exited at {key}; restarted it (keys are gone)", other.kind()));
                    other.restart();
                }
                if *timeout_spent >= TIMEOUT_BUDGET {
                    let note = format!("{} stopped answering: the rest is not sent to it", other.kind());
                    if !outcome.notes.contains(&note) {
                        outcome.notes.push(note);
                    }
                }
                record_mismatch(outcome, key, step, &redis_reply, format!("<{error}>"));
                continue;
            }
        };
        if replies_match(step.check, &redis_reply, &other_reply) {
            outcome.matched += 1;
        } else {
            record_mismatch(outcome, key, step, &redis_reply, show(&other_reply));
        }
    }
}

fn send(conn: &mut RespConn, step: &Step) -> Result<(), String> {
    let result = match &step.action {
        Action::Command(args) => conn.send_command(args),
        Action::Raw(bytes) => conn.send(bytes),
        Action::Read => Ok(()),
    };
    result.map_err(|error| format!("send failed: {error}"))
}

fn read_replies(conn: &mut RespConn, count: usize) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    for _ in 0..count {
        all.extend(conn.read_reply().map_err(|error| error.to_string())?);
    }
    Ok(all)
}

fn record_mismatch(outcome: &mut Outcome, key: String, step: &Step, redis_reply: &[u8], other: String) {
    outcome.mismatches.push(Mismatch { key, text: step.text.clone(), redis: show(redis_reply), other });
}

fn show(reply: &[u8]) -> String {
    let shown = escape(reply);
    if shown.len() <= SHOWN_REPLY_CHARS_MAX {
        return shown;
    }
    let cut = (0..=SHOWN_REPLY_CHARS_MAX).rev().find(|&i| shown.is_char_boundary(i)).unwrap_or(0);
    format!("{}... ({} bytes)", &shown[..cut], reply.len())
}

fn check_name(check: Check) -> &'static str {
    match check {
        Check::Exact => "byte-for-byte",
        Check::Shape => "shape",
        Check::Unordered => "unordered",
        Check::Pairs => "pairs",
        Check::Approx(_) => "approx",
    }
}

// ---------------------------------------------------------------------------
// Comparing replies.

fn replies_match(check: Check, redis: &[u8], other: &[u8]) -> bool {
    if check == Check::Exact {
        return redis == other;
    }
    let (Some(redis_frames), Some(other_frames)) = (parse_all(redis), parse_all(other)) else {
        return false;
    };
    if redis_frames.len() != other_frames.len() {
        return false;
    }
    redis_frames.iter().zip(&other_frames).all(|(a, b)| match check {
        Check::Exact => unreachable!("handled above"),
        Check::Shape => shape(a) == shape(b),
        Check::Unordered => encode(&unordered(a)) == encode(&unordered(b)),
        Check::Pairs => encode(&pairs_sorted(a)) == encode(&pairs_sorted(b)),
        Check::Approx(delta) => approx_equal(a, b, delta),
    })
}

fn parse_all(mut bytes: &[u8]) -> Option<Vec<Frame>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (frame, len) = Frame::parse(bytes).ok()??;
        frames.push(frame);
        bytes = &bytes[len..];
    }
    Some(frames)
}

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out);
    out
}

/// Types and aggregate sizes, without the scalar values.
fn shape(frame: &Frame) -> String {
    match frame {
        Frame::Line(kind, _) => (*kind as char).to_string(),
        Frame::Bulk(kind, None) => format!("{}nil", *kind as char),
        Frame::Bulk(kind, Some(_)) => (*kind as char).to_string(),
        Frame::Aggregate(kind, None) => format!("{}nil", *kind as char),
        Frame::Aggregate(kind, Some(items)) => {
            let inner: Vec<String> = items.iter().map(shape).collect();
            format!("{}[{}]", *kind as char, inner.join(","))
        }
        Frame::Attribute(items, reply) => {
            let inner: Vec<String> = items.iter().map(shape).collect();
            format!("|[{}]{}", inner.join(","), shape(reply))
        }
    }
}

/// Sorts the items of every aggregate, recursively (maps by entry).
fn unordered(frame: &Frame) -> Frame {
    match frame {
        Frame::Aggregate(kind, Some(items)) => {
            let items: Vec<Frame> = items.iter().map(unordered).collect();
            let chunk = if *kind == b'%' { 2 } else { 1 };
            let mut groups: Vec<Vec<Frame>> = items.chunks(chunk).map(<[Frame]>::to_vec).collect();
            groups.sort_by_cached_key(|group| group.iter().flat_map(encode).collect::<Vec<u8>>());
            Frame::Aggregate(*kind, Some(groups.concat()))
        }
        other => other.clone(),
    }
}

/// Sorts a top-level array as key/value pairs.
fn pairs_sorted(frame: &Frame) -> Frame {
    match frame {
        Frame::Aggregate(kind, Some(items)) if items.len() % 2 == 0 => {
            let mut groups: Vec<Vec<Frame>> = items.chunks(2).map(<[Frame]>::to_vec).collect();
            groups.sort_by_cached_key(|group| group.iter().flat_map(encode).collect::<Vec<u8>>());
            Frame::Aggregate(*kind, Some(groups.concat()))
        }
        other => other.clone(),
    }
}

fn approx_equal(a: &Frame, b: &Frame, delta: i64) -> bool {
    match (a, b) {
        (Frame::Line(b':', x), Frame::Line(b':', y)) => {
            let parse = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<i64>().ok();
            match (parse(x), parse(y)) {
                (Some(x), Some(y)) => x.abs_diff(y) <= delta.unsigned_abs(),
                _ => x == y,
            }
        }
        (Frame::Aggregate(k1, Some(xs)), Frame::Aggregate(k2, Some(ys))) => {
            k1 == k2 && xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| approx_equal(x, y, delta))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------
// Reporting.

fn report(other_kind: ServerKind, corpus: &[CorpusFile], outcome: &Outcome) {
    let files_run: BTreeSet<&str> = corpus.iter().map(|file| file.name.as_str()).collect();
    let step_keys: BTreeSet<String> =
        corpus.iter().flat_map(|file| file.steps().map(move |step| format!("{}:{}", file.name, step.line))).collect();
    let mismatched: BTreeMap<&str, &Mismatch> = outcome.mismatches.iter().map(|m| (m.key.as_str(), m)).collect();

    let expected_path = Path::new(CORPUS_DIR).join(EXPECTED_FAILURES);
    let bless = std::env::var("CONCORD_DIFF_BLESS").is_ok_and(|v| v == "1");
    if bless && other_kind == ServerKind::Concord {
        bless_expected(&expected_path, corpus, &mismatched);
    }
    // Against redis-server every line must match: the list is about concord.
    let expected: BTreeSet<String> = match other_kind {
        ServerKind::Concord => read_expected(&expected_path)
            .into_iter()
            .filter(|key| files_run.contains(key.split(':').next().unwrap_or_default()))
            .collect(),
        ServerKind::Redis => BTreeSet::new(),
    };

    let unexpected: Vec<&Mismatch> =
        outcome.mismatches.iter().filter(|m| !expected.contains(&m.key)).collect();
    let now_matching: Vec<&String> =
        expected.iter().filter(|key| step_keys.contains(*key) && !mismatched.contains_key(key.as_str())).collect();
    let stale: Vec<&String> = expected.iter().filter(|key| !step_keys.contains(*key)).collect();

    let mut text = String::new();
    let cases: usize = corpus.iter().map(|file| file.cases.len()).sum();
    let _ = writeln!(
        text,
        "diff corpus, redis-server vs {other_kind}: {} files, {cases} cases, {} commands (+{} reads)",
        corpus.len(),
        outcome.commands,
        outcome.reads
    );
    let checks: Vec<String> = outcome.by_check.iter().map(|(name, n)| format!("{n} {name}")).collect();
    let _ = writeln!(text, "replies compared: {} ({} deferred commands read later)", checks.join(", "), outcome.deferred);
    let _ = writeln!(
        text,
        "matched: {}, mismatched: {} ({} listed in tests/diff/{EXPECTED_FAILURES})",
        outcome.matched,
        outcome.mismatches.len(),
        outcome.mismatches.len() - unexpected.len()
    );
    for note in &outcome.notes {
        let _ = writeln!(text, "note: {note}");
    }
    if !unexpected.is_empty() {
        let _ = writeln!(text, "\nNEW MISMATCHES (not in tests/diff/{EXPECTED_FAILURES}):");
        for m in &unexpected {
            let _ = writeln!(text, "{}", show_mismatch(m, other_kind));
        }
    }
    if !now_matching.is_empty() {
        let _ = writeln!(text, "\nNOW MATCHING (remove from tests/diff/{EXPECTED_FAILURES}):");
        for key in &now_matching {
            let _ = writeln!(text, "{key}");
        }
    }
    if !stale.is_empty() {
        let _ = writeln!(text, "\nSTALE (listed in tests/diff/{EXPECTED_FAILURES}, but not a command line):");
        for key in &stale {
            let _ = writeln!(text, "{key}");
        }
    }
    let failed = unexpected.len() + now_matching.len() + stale.len();
    let _ = writeln!(
        text,
        "diff-{other_kind}: {} passed, {failed} failed, {} skipped",
        outcome.matched,
        outcome.mismatches.len() - unexpected.len()
    );
    print!("{text}");
    write_report_files(other_kind, &text, outcome);
    assert!(failed == 0, "differential test against {other_kind} failed:\n{text}");
}

/// Writes the summary and every mismatch under the target dir, for
/// scripts/test.sh to print and for people to read.
fn write_report_files(other_kind: ServerKind, summary: &str, outcome: &Outcome) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let mut all = String::new();
    for m in &outcome.mismatches {
        let _ = writeln!(all, "{}", show_mismatch(m, other_kind));
    }
    let _ = fs::create_dir_all(&dir);
    let _ = fs::write(dir.join(format!("diff-{other_kind}-summary.txt")), summary);
    let _ = fs::write(dir.join(format!("diff-{other_kind}-mismatches.txt")), all);
    let _ = fs::write(dir.join(format!("diff-{other_kind}-transcript.txt")), &outcome.transcript);
}

fn show_mismatch(m: &Mismatch, other_kind: ServerKind) -> String {
    // In the self-check both sides are redis-server: tell them apart.
    let other_label = match other_kind {
        ServerKind::Concord => "concord:",
        ServerKind::Redis => "redis#2:",
    };
    format!("{}: {}\n    redis:   {}\n    {other_label} {}", m.key, m.text, m.redis, m.other)
}

fn read_expected(path: &Path) -> BTreeSet<String> {
    let Ok(text) = fs::read_to_string(path) else { return BTreeSet::new() };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Rewrites the list from this run's mismatches. Entries of corpus files
/// that did not run (`CONCORD_DIFF_FILES`) are kept as they were.
fn bless_expected(path: &Path, corpus: &[CorpusFile], mismatched: &BTreeMap<&str, &Mismatch>) {
    let files_run: BTreeSet<&str> = corpus.iter().map(|file| file.name.as_str()).collect();
    // Sorted by file, then by line number.
    let mut entries: BTreeMap<(String, usize), String> = BTreeMap::new();
    let old = fs::read_to_string(path).unwrap_or_default();
    for line in old.lines().filter(|line| !line.trim().is_empty() && !line.starts_with('#')) {
        let key = line.split_whitespace().next().unwrap_or_default();
        let (file, number) = key.rsplit_once(':').unwrap_or((key, "0"));
        if !files_run.contains(file) {
            entries.insert((file.to_owned(), number.parse().unwrap_or(0)), line.to_owned());
        }
    }
    for file in corpus {
        for step in file.steps() {
            let key = format!("{}:{}", file.name, step.line);
            if let Some(m) = mismatched.get(key.as_str()) {
                let why = format!("{} -> redis {} / concord {}", m.text, m.redis, m.other);
                let why: String = why.chars().take(200).collect();
                entries.insert((file.name.clone(), step.line), format!("{key}  # {why}"));
            }
        }
    }
    let mut text = String::from(
        "# Lines of the differential corpus (tests/diff/*.txt) where concord's reply\n\
         # differs from redis-server's today, as FILE:LINE, then why. Data read by\n\
         # the `diff` integration test: a mismatch not listed here fails it, and so\n\
         # does a listed line that now matches. Regenerate with\n\
         # CONCORD_DIFF_BLESS=1 cargo nextest run --release -p concord -E 'test(diff::)'\n\
         # and review the diff.\n",
    );
    for line in entries.values() {
        let _ = writeln!(text, "{line}");
    }
    fs::write(path, text).unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    println!("blessed: wrote {} entries to {}", entries.len(), path.display());
}

// ---------------------------------------------------------------------------
// Reading the corpus.

fn load_corpus() -> Vec<CorpusFile> {
    let only: Option<BTreeSet<String>> = std::env::var("CONCORD_DIFF_FILES")
        .ok()
        .map(|list| list.split(',').map(|name| name.trim().trim_end_matches(".txt").to_owned()).collect());
    let mut paths: Vec<PathBuf> = fs::read_dir(CORPUS_DIR)
        .unwrap_or_else(|error| panic!("read {CORPUS_DIR}: {error}"))
        .map(|entry| entry.expect("read corpus dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .filter(|path| path.file_name().is_some_and(|name| name != EXPECTED_FAILURES))
        .filter(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            only.as_ref().is_none_or(|only| only.contains(stem))
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no corpus files in {CORPUS_DIR} (CONCORD_DIFF_FILES={only:?})");
    paths.iter().map(|path| parse_file(path)).collect()
}

fn parse_file(path: &Path) -> CorpusFile {
    let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 file name").to_owned();
    let text = fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    let mut cases = vec![Vec::new()];
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            if !cases.last().expect("at least one case").is_empty() {
                cases.push(Vec::new());
            }
            continue;
        }
        if trimmed.starts_with('#') && !trimmed.starts_with("#!") {
            continue;
        }
        let step = parse_step(index + 1, trimmed).unwrap_or_else(|error| panic!("{name}:{}: {error}", index + 1));
        cases.last_mut().expect("at least one case").push(step);
    }
    cases.retain(|case| !case.is_empty());
    let first = cases.first().and_then(|case| case.first());
    let starts_with_flushall = first
        .is_some_and(|step| matches!(&step.action, Action::Command(args) if args.len() == 1 && args[0].eq_ignore_ascii_case(b"FLUSHALL")));
    assert!(starts_with_flushall, "{name}: the first command must be FLUSHALL, so files do not depend on each other");
    CorpusFile { name, cases }
}

fn parse_step(line: usize, text: &str) -> Result<Step, String> {
    let tokens = split_args(text)?;
    let mut step = Step {
        line,
        text: text.to_owned(),
        conn: 1,
        action: Action::Read,
        check: Check::Exact,
        replies: 1,
        sleep: Duration::ZERO,
        defer: false,
    };
    let mut args = Vec::new();
    let mut in_directives = false;
    let mut raw = false;
    let mut read = false;
    for (index, token) in tokens.into_iter().enumerate() {
        let unquoted = (!token.quoted).then(|| String::from_utf8_lossy(&token.bytes).into_owned());
        if let Some(word) = unquoted.as_deref() {
            if index == 0 && word.len() == 2 && word.starts_with('@') {
                step.conn = word[1..].parse().ok().filter(|n| (1..=9).contains(n)).ok_or("bad @N")?;
                continue;
            }
            if word.starts_with("#!") {
                in_directives = true;
            }
            if in_directives {
                let directive = word.trim_start_matches("#!");
                let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
                let number = || value.parse::<u64>().map_err(|_| format!("directive {name} needs =NUMBER"));
                match name {
                    "shape" => step.check = Check::Shape,
                    "unordered" => step.check = Check::Unordered,
                    "pairs" => step.check = Check::Pairs,
                    "approx" => step.check = Check::Approx(number()? as i64),
                    "replies" => step.replies = number()? as usize,
                    "sleep" => step.sleep = Duration::from_millis(number()?),
                    "raw" => raw = true,
                    "defer" => step.defer = true,
                    "read" => read = true,
                    other => return Err(format!("unknown directive #!{other}")),
                }
                continue;
            }
        } else if in_directives {
            return Err("quoted argument after a directive".into());
        }
        args.push(token.bytes);
    }
    step.action = match (read, raw, args.len()) {
        (true, false, 0) => Action::Read,
        (true, _, _) => return Err("#!read takes no command".into()),
        (false, true, 1) => Action::Raw(args.pop().expect("one argument")),
        (false, true, _) => return Err("#!raw takes exactly one (quoted) argument".into()),
        (false, false, 0) => return Err("no command on this line".into()),
        (false, _, _) if step.defer && step.replies != 1 => return Err("#!defer reads nothing: use #!replies on the #!read".into()),
        (false, false, _) => Action::Command(args),
    };
    Ok(step)
}

struct Token {
    bytes: Vec<u8>,
    quoted: bool,
}

/// Splits a line into arguments the way redis-cli does (sdssplitargs).
fn split_args(line: &str) -> Result<Vec<Token>, String> {
    let bytes = line.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            return Ok(tokens);
        }
        let mut current = Vec::new();
        let quote = match bytes[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                Some(q)
            }
            _ => None,
        };
        loop {
            let Some(&c) = bytes.get(i) else {
                if quote.is_some() {
                    return Err("unbalanced quotes".into());
                }
                break;
            };
            match quote {
                None if c.is_ascii_whitespace() => break,
                None => current.push(c),
                Some(q) if c == q => {
                    i += 1;
                    if bytes.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                        return Err("closing quote must be followed by a space".into());
                    }
                    break;
                }
                Some(b'"') if c == b'\\' && i + 1 < bytes.len() => {
                    i += 1;
                    let hex = |b: u8| (b as char).to_digit(16);
                    let escaped = match bytes[i] {
                        b'x' if i + 2 < bytes.len() && hex(bytes[i + 1]).is_some() && hex(bytes[i + 2]).is_some() => {
                            let value = hex(bytes[i + 1]).expect("checked") * 16 + hex(bytes[i + 2]).expect("checked");
                            i += 2;
                            value as u8
                        }
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    };
                    current.push(escaped);
                }
                Some(b'\'') if c == b'\\' && bytes.get(i + 1) == Some(&b'\'') => {
                    i += 1;
                    current.push(b'\'');
                }
                Some(_) => current.push(c),
            }
            i += 1;
        }
        tokens.push(Token { bytes: current, quoted: quote.is_some() });
    }
}

#[test]
fn split_args_follows_redis_cli() {
    let split = |line: &str| -> Vec<String> {
        split_args(line).unwrap().into_iter().map(|t| String::from_utf8_lossy(&t.bytes).into_owned()).collect()
    };
    assert_eq!(split("SET k v"), ["SET", "k", "v"]);
    assert_eq!(split(r#"  SET "a b" 'c d'  "#), ["SET", "a b", "c d"]);
    assert_eq!(split(r#"SET "\x41\n" 'it\'s'"#), ["SET", "A\n", "it's"]);
    assert_eq!(split(r#"SET k """#), ["SET", "k", ""]);
    assert!(split_args(r#"SET "k"x"#).is_err());
    assert!(split_args(r#"SET "k"#).is_err());
    let step = parse_step(3, "@2 SRANDMEMBER s 2 #!shape #!sleep=5").unwrap();
    assert_eq!((step.conn, step.check, step.sleep), (2, Check::Shape, Duration::from_millis(5)));
    assert!(matches!(step.action, Action::Command(ref args) if args.len() == 3));
    assert!(matches!(parse_step(1, "#!read").unwrap().action, Action::Read));
    assert!(parse_step(1, "#!bogus").is_err());
}

#[test]
fn loose_checks_compare_what_they_say() {
    let same = |check, a: &[u8], b: &[u8]| replies_match(check, a, b);
    assert!(same(Check::Exact, b"+OK\r\n", b"+OK\r\n"));
    assert!(!same(Check::Exact, b":1\r\n", b":2\r\n"));
    assert!(same(Check::Shape, b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n", b"*2\r\n$3\r\nxyz\r\n$1\r\nq\r\n"));
    assert!(!same(Check::Shape, b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n", b"*1\r\n$1\r\na\r\n"));
    assert!(!same(Check::Shape, b"$1\r\na\r\n", b"$-1\r\n"));
    assert!(same(Check::Unordered, b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", b"*2\r\n$1\r\nb\r\n$1\r\na\r\n"));
    assert!(!same(Check::Unordered, b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n"));
    assert!(same(Check::Pairs, b"*4\r\n+a\r\n:1\r\n+b\r\n:2\r\n", b"*4\r\n+b\r\n:2\r\n+a\r\n:1\r\n"));
    assert!(!same(Check::Pairs, b"*4\r\n+a\r\n:1\r\n+b\r\n:2\r\n", b"*4\r\n+a\r\n:2\r\n+b\r\n:1\r\n"));
    assert!(same(Check::Approx(5), b":100\r\n", b":96\r\n"));
    assert!(!same(Check::Approx(5), b":100\r\n", b":94\r\n"));
    assert!(!same(Check::Approx(5), b":100\r\n", b"$3\r\n100\r\n"));
}

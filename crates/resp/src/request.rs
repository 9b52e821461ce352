//! Server side: decoding client requests. Performance critical path.
//!
//! A request is either a multibulk (`*N\r\n` then N `$len\r\n<bytes>\r\n`)
//! or, when the first byte is not `*`, an inline line split like a shell
//! command. This is a port of Redis 7.0's `processMultibulkBuffer` and
//! `processInlineBuffer`, and it reproduces their quirks on purpose, because
//! clients and test suites observe them:
//!
//! - Header lines end at the first `\r`; the byte after it is skipped without
//!   being checked, so `*1\rX$4\r\nPING\r\n` is a valid PING. Likewise the two
//!   bytes after a bulk payload are skipped unchecked (`$4\r\nPINGxy` is fine).
//! - Numbers follow `string2ll`: `*01`, `*+1`, `$-0` and `$ 3` are errors.
//! - `*0` and any negative count (`*-1`, `*-5`) are skipped like empty inline
//!   lines; `$-1` is an error.
//! - Redis searches lines with `strchr` on a NUL-terminated buffer, so a NUL
//!   byte before the terminator hides it: the request stays incomplete until
//!   more than `inline_len_max` bytes are buffered, then the "too big" error
//!   fires. We mirror that exactly.
//! - The "too big" errors fire only while no terminator is buffered and more
//!   than `inline_len_max` bytes are. A complete line is accepted whatever its
//!   length, so, as in Redis, whether a line a little over 64 KiB passes
//!   depends on how the stream was chunked (Redis reads 16 KiB at a time).
//!
//! Design: parsing runs over a byte slice and only touches the `BytesMut`
//! once a whole request is there: then the request is split off, frozen, and
//! each argument is a `Bytes` slice of it (an atomic increment, no copy).
//! Argument positions are collected in a fixed array on the stack (spilling
//! to a `Vec` past 16 arguments), so a typical command costs exactly one
//! allocation: the returned `Vec`. Bulk payloads are skipped by length, never
//! scanned. An incomplete request is re-parsed from its start on the next
//! call, which touches only the headers; [`RequestDecoder`] keeps its place
//! instead, for callers that expect requests with very many arguments.
//! [`RequestDecoder::decode_batch`] goes further for a server's reads: it
//! parses every complete request first, recording argument positions, then
//! splits and freezes the consumed bytes once and keeps that one chunk in a
//! reused [`RequestBatch`], with every argument of every request as a range
//! of it in one flat vector, handed out as borrowed `&[u8]` slices. Per
//! request that saves the split, the `Vec` allocation and, per argument, a
//! reference-count pair (an atomic increment and decrement: ~8% of a
//! pipelined HSET's CPU when every argument was a `Bytes`). Headers of one or two digits (nearly all of them) are
//! read by `quick_header` in a few compares; anything else takes the general
//! path, which holds every Redis quirk below.
//! Rejected alternative: only a Redis-style state machine (`multibulklen`,
//! `bulklen` kept per connection). The stateless function is simpler for
//! callers, and the kept state only pays off for huge argument counts.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::number::{exceeds, string2ll};
use crate::split_args::{split_args, InlineArg};
use crate::{Limits, ProtocolError};

/// Decodes one client request into its arguments.
///
/// Returns `Ok(None)` when more bytes are needed; the only bytes consumed
/// then are skipped empty requests, so calling again after appending bytes is
/// always right. Empty inline lines, whitespace-only lines
/// and `*0` / negative-count multibulks are consumed and skipped, so a
/// returned request always has at least one argument.
///
/// The arguments share the buffer's allocation: a value kept long term (e.g.
/// stored in a keyspace) should be copied, or it pins the whole read buffer.
///
/// Errors are fatal for the connection; reply with
/// [`ProtocolError::to_frame`] and close it, as Redis does.
pub fn decode_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    decode(
        buf,
        limits,
        Auth::Authenticated,
        &mut Progress::default(),
        &mut StackSpans::default(),
    )
}

/// Like [`decode_request`], for a connection that still has to AUTH: Redis
/// then also refuses more than 10 arguments
/// ([`ProtocolError::UnauthenticatedMultibulkLength`]) and bulks longer than
/// 16384 bytes ([`ProtocolError::UnauthenticatedBulkLength`]).
pub fn decode_request_unauthenticated(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    decode(
        buf,
        limits,
        Auth::Unauthenticated,
        &mut Progress::default(),
        &mut StackSpans::default(),
    )
}

/// A resumable [`decode_request`]: it remembers how far an incomplete
/// multibulk request was parsed, so each header is parsed once even when a
/// request with millions of arguments trickles in.
///
/// Feed it the same buffer every time, appending to it and never consuming
/// from it between calls except through this decoder.
#[derive(Debug, Default)]
pub struct RequestDecoder {
    progress: Progress,
    /// Argument positions, each relative to the start of its request. From
    /// index 0: the spans of the request in progress, if any. During
    /// [`RequestDecoder::decode_batch`] the complete requests' spans come
    /// first. An inline argument rebuilt from quotes is `(OWNED, i)`: the
    /// `i`th of `owned`.
    spans: Vec<(usize, usize)>,
    /// The complete requests of the batch being decoded: (offset of the
    /// request in the buffer, end of its spans in `spans`).
    requests: Vec<(usize, usize)>,
    /// Inline arguments rebuilt from quotes, for the batch being decoded.
    owned: Vec<Bytes>,
}

/// Marks a span that is an owned inline argument, see [`RequestDecoder::spans`].
const OWNED: usize = usize::MAX;

/// Past this many entries, the decoder's and a batch's vectors are dropped
/// rather than kept for the next batch.
const KEEP_CAPACITY_MAX: usize = 16 * 1024;

/// The requests of one read, decoded by [`RequestDecoder::decode_batch`]:
/// the frozen chunk of the read buffer they came from, kept once, and every
/// argument of every request as a range of it in one flat vector. A
/// connection that keeps its batch allocates nothing per request, and no
/// argument costs a reference count: [`RequestBatch::args`] hands them out
/// as borrowed slices of the chunk.
#[derive(Debug, Default)]
pub struct RequestBatch {
    /// What the arguments point into: one frozen chunk per decoded read, and
    /// each inline argument rebuilt from quotes or pushed on its own.
    pub(crate) sources: Vec<Bytes>,
    /// Every argument: `(index in sources, start, end)`.
    args: Vec<(usize, usize, usize)>,
    /// End of each request's arguments in `args`.
    ends: Vec<usize>,
}

impl RequestBatch {
    /// Number of requests.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no request.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn spans(&self, index: usize) -> &[(usize, usize, usize)] {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        &self.args[start..self.ends[index]]
    }

    fn view(&self, &(source, start, end): &(usize, usize, usize)) -> &[u8] {
        &self.sources[source][start..end]
    }

    /// The arguments of request `index` (at least one), borrowed from the
    /// batch. Panics past the end.
    pub fn request(&self, index: usize) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans(index).iter().map(|span| self.view(span))
    }

    /// Replaces the contents of `out` with the arguments of request `index`
    /// (at least one), borrowed from the batch: a caller that reuses `out`
    /// allocates nothing per request. Panics past the end.
    pub fn args<'a>(&'a self, index: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        out.extend(self.request(index));
    }

    /// The command name (first argument) of request `index`.
    pub fn name(&self, index: usize) -> &[u8] {
        self.view(&self.spans(index)[0])
    }

    /// The requests, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = impl ExactSizeIterator<Item = &[u8]> + '_> + '_ {
        (0..self.len()).map(|index| self.request(index))
    }

    /// Drops every request, keeping the capacity unless it grew large.
    /// Clear a batch before reading into the buffer it came from again: it
    /// keeps that buffer's memory shared.
    pub fn clear(&mut self) {
        self.sources.clear();
        if self.args.capacity() > KEEP_CAPACITY_MAX {
            self.args = Vec::new();
        } else {
            self.args.clear();
        }
        if self.ends.capacity() > KEEP_CAPACITY_MAX {
            self.ends = Vec::new();
        } else {
            self.ends.clear();
        }
    }

    /// Appends a request; `args` must not be empty.
    pub fn push(&mut self, args: impl IntoIterator<Item = Bytes>) {
        let before = self.args.len();
        for arg in args {
            self.args.push((self.sources.len(), 0, arg.len()));
            self.sources.push(arg);
        }
        assert!(
            self.args.len() > before,
            "a request has at least one argument"
        );
        self.ends.push(self.args.len());
    }
}

/// Empties `views` (argument slices borrowed from a [`RequestBatch`]) and
/// returns its allocation free of that borrow, so one vector serves every
/// request of every batch a connection reads: the batch can be cleared and
/// decoded into again while the allocation lives on.
pub fn recycle_views<'b>(mut views: Vec<&[u8]>) -> Vec<&'b [u8]> {
    views.clear();
    // Collecting an empty vector's iterator into one of the same layout
    // reuses its allocation.
    views.into_iter().map(|_| -> &'b [u8] { unreachable!("empty") }).collect()
}

impl RequestDecoder {
    /// See [`decode_request`].
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        self.decode_as(buf, limits, Auth::Authenticated)
    }

    /// See [`decode_request_unauthenticated`].
    pub fn decode_unauthenticated(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        self.decode_as(buf, limits, Auth::Unauthenticated)
    }

    fn decode_as(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        auth: Auth,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.progress.pos != 0 && (self.progress.pos > buf.len() || buf.first() != Some(&b'*')) {
            debug_assert!(false, "RequestDecoder fed a different buffer");
            self.progress = Progress::default();
        }
        let result = decode(buf, limits, auth, &mut self.progress, &mut self.spans);
        if !matches!(result, Ok(None)) {
            self.progress = Progress::default();
            // Do not keep the memory of one giant request forever.
            if self.spans.capacity() > 4096 {
                self.spans = Vec::new();
            }
        }
        result
    }

    /// Decodes every complete request in `buf` and appends them to `batch`;
    /// the same requests, errors and leftover bytes as calling
    /// [`RequestDecoder::decode`] until it returns `Ok(None)` or an error.
    /// On an error, the requests before the bad one are in `batch` and the
    /// buffer starts at the bad one.
    ///
    /// The consumed bytes are split off the buffer once, not per request:
    /// every argument is a range of that one frozen chunk, which the batch
    /// keeps.
    pub fn decode_batch(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        batch: &mut RequestBatch,
    ) -> Result<(), ProtocolError> {
        self.decode_batch_as(buf, limits, Auth::Authenticated, batch, |_| false)
    }

    /// [`RequestDecoder::decode_batch`] with the limits of
    /// [`decode_request_unauthenticated`], stopping right after a request
    /// whose first argument (the command name) `stop_after` accepts, e.g.
    /// AUTH: what follows may parse differently once it ran.
    pub fn decode_batch_unauthenticated(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        batch: &mut RequestBatch,
        stop_after: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), ProtocolError> {
        self.decode_batch_as(buf, limits, Auth::Unauthenticated, batch, stop_after)
    }

    fn decode_batch_as(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        auth: Auth,
        batch: &mut RequestBatch,
        mut stop_after: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), ProtocolError> {
        if self.progress.pos != 0 && (self.progress.pos > buf.len() || buf.first() != Some(&b'*')) {
            debug_assert!(false, "RequestDecoder fed a different buffer");
            self.progress = Progress::default();
        }
        if self.progress.pos == 0 {
            self.spans.clear();
        }
        self.requests.clear();
        self.owned.clear();
        // Start of the request being parsed, and end of the complete
        // requests' spans.
        let mut pos = 0;
        let mut spans_done = 0;
        let result = loop {
            let rest = &buf[pos..];
            let Some(&first) = rest.first() else {
                break Ok(());
            };
            if first != b'*' {
                let (end, args) = match parse_inline(rest, limits) {
                    Ok(Some(line)) => line,
                    Ok(None) => break Ok(()),
                    Err(error) => break Err(error),
                };
                if args.is_empty() {
                    pos += end;
                    continue;
                }
                let stop = stop_after(match &args[0] {
                    InlineArg::Span(range) => &rest[range.clone()],
                    InlineArg::Owned(bytes) => bytes,
                });
                for arg in args {
                    match arg {
                        InlineArg::Span(range) => self.spans.push((range.start, range.len())),
                        InlineArg::Owned(bytes) => {
                            self.spans.push((OWNED, self.owned.len()));
                            self.owned.push(Bytes::from(bytes));
                        }
                    }
                }
                spans_done = self.spans.len();
                self.requests.push((pos, spans_done));
                pos += end;
                if stop {
                    break Ok(());
                }
                continue;
            }
            let mut spans = SpansFrom {
                spans: &mut self.spans,
                from: spans_done,
            };
            match parse_multibulk(rest, limits, auth, &mut self.progress, &mut spans) {
                Ok(Step::Incomplete) => break Ok(()),
                Ok(Step::Empty { end }) => {
                    self.progress = Progress::default();
                    pos += end;
                }
                Ok(Step::Complete { end }) => {
                    self.progress = Progress::default();
                    let (start, len) = self.spans[spans_done];
                    let stop = stop_after(&rest[start..start + len]);
                    spans_done = self.spans.len();
                    self.requests.push((pos, spans_done));
                    pos += end;
                    if stop {
                        break Ok(());
                    }
                }
                Err(error) => break Err(error),
            }
        };
        if result.is_err() {
            self.progress = Progress::default();
            self.spans.truncate(spans_done);
        }
        if self.requests.is_empty() {
            buf.advance(pos);
        } else {
            let chunk_source = batch.sources.len();
            batch.sources.push(buf.split_to(pos).freeze());
            batch.args.reserve(spans_done);
            let mut span_at = 0;
            for &(request, span_end) in &self.requests {
                for &(start, len) in &self.spans[span_at..span_end] {
                    batch.args.push(if start == OWNED {
                        let owned = std::mem::take(&mut self.owned[len]);
                        let span = (batch.sources.len(), 0, owned.len());
                        batch.sources.push(owned);
                        span
                    } else {
                        let start = request + start;
                        (chunk_source, start, start + len)
                    });
                }
                batch.ends.push(batch.args.len());
                span_at = span_end;
            }
            // Keep only the spans of the request in progress, at index 0.
            self.spans.drain(..spans_done);
        }
        if self.progress.pos == 0 && self.spans.capacity() > KEEP_CAPACITY_MAX {
            self.spans = Vec::new();
        }
        if self.requests.capacity() > KEEP_CAPACITY_MAX {
            self.requests = Vec::new();
        }
        result
    }
}

/// The spans of one request of a batch: those of `spans` from index `from`.
struct SpansFrom<'a> {
    spans: &'a mut Vec<(usize, usize)>,
    from: usize,
}

impl Spans for SpansFrom<'_> {
    fn clear(&mut self) {
        self.spans.truncate(self.from);
    }

    fn reserve(&mut self, additional: usize) {
        self.spans.reserve(additional);
    }

    fn push(&mut self, start: usize, len: usize) {
        self.spans.push((start, len));
    }

    fn to_args(&self, request: &Bytes) -> Vec<Bytes> {
        self.spans[self.from..]
            .iter()
            .map(|span| slice(request, span))
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Authenticated,
    Unauthenticated,
}

/// How far an incomplete multibulk request has been parsed.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    /// Offset of the next header to parse; 0 while the `*N` line is not parsed.
    pos: usize,
    /// Arguments whose header is not parsed yet.
    args_left: usize,
}

/// Outcome of parsing a multibulk request.
enum Step {
    Incomplete,
    /// A `*0` or negative count: drop `end` bytes and go on.
    Empty {
        end: usize,
    },
    /// A whole request of `end` bytes.
    Complete {
        end: usize,
    },
}

fn decode(
    buf: &mut BytesMut,
    limits: &Limits,
    auth: Auth,
    progress: &mut Progress,
    spans: &mut impl Spans,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    loop {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != b'*' {
            let Some((end, args)) = parse_inline(buf, limits)? else {
                return Ok(None);
            };
            if args.is_empty() {
                buf.advance(end);
                continue;
            }
            let line = buf.split_to(end).freeze();
            let args = args
                .into_iter()
                .map(|arg| match arg {
                    InlineArg::Span(range) => line.slice(range),
                    InlineArg::Owned(bytes) => Bytes::from(bytes),
                })
                .collect();
            return Ok(Some(args));
        }
        match parse_multibulk(buf, limits, auth, progress, spans)? {
            Step::Incomplete => return Ok(None),
            Step::Empty { end } => {
                *progress = Progress::default();
                buf.advance(end);
            }
            Step::Complete { end } => {
                *progress = Progress::default();
                let request = buf.split_to(end).freeze();
                return Ok(Some(spans.to_args(&request)));
            }
        }
    }
}

/// Parses an inline request line (`processInlineBuffer`). Returns the bytes
/// to consume, terminator included, and the arguments, which may be none.
fn parse_inline(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(usize, Vec<InlineArg>)>, ProtocolError> {
    // strchr(querybuf, '\n'): a NUL ends the search unsuccessfully.
    let newline = buf
        .iter()
        .position(|&byte| byte == b'\n' || byte == 0)
        .filter(|&at| buf[at] == b'\n');
    let Some(newline) = newline else {
        if buf.len() > limits.inline_len_max {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(None);
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let args = split_args(&buf[..line_end]).map_err(|_| ProtocolError::UnbalancedQuotes)?;
    Ok(Some((newline + 1, args)))
}

/// Where a header line's `\r` is, as Redis's `strchr(p, '\r')` sees it.
enum HeaderLine {
    /// `\r` at this offset, with at least one byte after it.
    Found(usize),
    /// `\r` is the last buffered byte: wait, without the size check.
    Truncated,
    /// No `\r` before the end of the buffer or a NUL byte.
    Missing,
}

fn find_header_line(buf: &[u8], from: usize) -> HeaderLine {
    match buf[from..]
        .iter()
        .position(|&byte| byte == b'\r' || byte == 0)
    {
        Some(at) if buf[from + at] == b'\r' => {
            let cr = from + at;
            if cr + 1 < buf.len() {
                HeaderLine::Found(cr)
            } else {
                HeaderLine::Truncated
            }
        }
        _ => HeaderLine::Missing,
    }
}

/// The common header `<prefix><digits>\r` followed by at least one byte,
/// with 1 to 18 canonical digits (no sign, no leading zero): its value and
/// the offset of its `\r`, read in one pass. `None` for anything else,
/// which the general path ([`find_header_line`] and [`string2ll`]) then
/// handles with Redis's exact rules and errors; where this returns a value,
/// the general path returns the same one.
#[inline]
fn quick_header(buf: &[u8], pos: usize, prefix: u8) -> Option<(i64, usize)> {
    // One or two digits, the forms nearly every request uses.
    match buf.get(pos..pos.saturating_add(5)) {
        Some(&[first, digit, b'\r', _, _]) if first == prefix && digit.is_ascii_digit() => {
            return Some((i64::from(digit - b'0'), pos + 2));
        }
        Some(&[first, high, low, b'\r', _])
            if first == prefix && (b'1'..=b'9').contains(&high) && low.is_ascii_digit() =>
        {
            return Some((i64::from(high - b'0') * 10 + i64::from(low - b'0'), pos + 3));
        }
        _ => {}
    }
    quick_header_long(buf, pos, prefix)
}

/// [`quick_header`] for any number of digits.
fn quick_header_long(buf: &[u8], pos: usize, prefix: u8) -> Option<(i64, usize)> {
    let line = buf.get(pos..)?;
    if line.first() != Some(&prefix) {
        return None;
    }
    let mut value: i64 = 0;
    let mut at = 1;
    let end = loop {
        let byte = *line.get(at)?;
        if !byte.is_ascii_digit() {
            break at;
        }
        // 18 digits cannot overflow an i64.
        if at > 18 {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
        at += 1;
    };
    let digits = end - 1;
    if digits == 0 || line[end] != b'\r' || end + 1 >= line.len() || (digits > 1 && line[1] == b'0')
    {
        return None;
    }
    Some((value, pos + end))
}

/// Parses a multibulk request starting at `buf[0] == b'*'`, resuming from
/// `progress` (`processMultibulkBuffer`).
fn parse_multibulk(
    buf: &[u8],
    limits: &Limits,
    auth: Auth,
    progress: &mut Progress,
    spans: &mut impl Spans,
) -> Result<Step, ProtocolError> {
    if progress.pos == 0 {
        spans.clear();
        let (count, cr) = match quick_header(buf, 0, b'*') {
            Some(header) => header,
            None => {
                let cr = match find_header_line(buf, 0) {
                    HeaderLine::Found(cr) => cr,
                    HeaderLine::Truncated => return Ok(Step::Incomplete),
                    HeaderLine::Missing if buf.len() > limits.inline_len_max => {
                        return Err(ProtocolError::MultibulkCountTooBig)
                    }
                    HeaderLine::Missing => return Ok(Step::Incomplete),
                };
                match string2ll(&buf[1..cr]) {
                    Some(count) => (count, cr),
                    None => return Err(ProtocolError::InvalidMultibulkLength),
                }
            }
        };
        if exceeds(count, limits.multibulk_len_max) {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if auth == Auth::Unauthenticated
            && exceeds(count, Limits::UNAUTHENTICATED_MULTIBULK_LEN_MAX)
        {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        let end = cr + 2;
        if count <= 0 {
            return Ok(Step::Empty { end });
        }
        let count = usize::try_from(count).expect("count is at most multibulk_len_max");
        // Like Redis (min(count, 1024)): a huge claimed count costs nothing up front.
        spans.reserve(count.min(1024));
        *progress = Progress {
            pos: end,
            args_left: count,
        };
    }
    while progress.args_left > 0 {
        let pos = progress.pos;
        let (len, cr) = match quick_header(buf, pos, b'$') {
            Some(header) => header,
            None => {
                let cr = match find_header_line(buf, pos) {
                    HeaderLine::Found(cr) => cr,
                    HeaderLine::Truncated => return Ok(Step::Incomplete),
                    HeaderLine::Missing if buf.len() - pos > limits.inline_len_max => {
                        return Err(ProtocolError::BulkCountTooBig)
                    }
                    HeaderLine::Missing => return Ok(Step::Incomplete),
                };
                if buf[pos] != b'$' {
                    return Err(ProtocolError::ExpectedDollar(buf[pos]));
                }
                match string2ll(&buf[pos + 1..cr]) {
                    Some(len) => (len, cr),
                    None => return Err(ProtocolError::InvalidBulkLength),
                }
            }
        };
        if len < 0 || exceeds(len, limits.bulk_len_max) {
            return Err(ProtocolError::InvalidBulkLength);
        }
        if auth == Auth::Unauthenticated && exceeds(len, Limits::UNAUTHENTICATED_BULK_LEN_MAX) {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let len = usize::try_from(len).expect("len is at most bulk_len_max");
        let start = cr + 2;
        // The two bytes after the payload are skipped unchecked, as in Redis.
        if buf.len() - start < len.saturating_add(2) {
            return Ok(Step::Incomplete);
        }
        spans.push(start, len);
        progress.pos = start + len + 2;
        progress.args_left -= 1;
    }
    Ok(Step::Complete { end: progress.pos })
}

/// Argument positions of the request being parsed.
trait Spans {
    fn clear(&mut self);
    fn reserve(&mut self, additional: usize);
    fn push(&mut self, start: usize, len: usize);
    /// Builds the arguments as slices of `request`, the split-off request.
    fn to_args(&self, request: &Bytes) -> Vec<Bytes>;
}

fn slice(request: &Bytes, &(start, len): &(usize, usize)) -> Bytes {
    request.slice(Range {
        start,
        end: start + len,
    })
}

impl Spans for Vec<(usize, usize)> {
    fn clear(&mut self) {
        Vec::clear(self);
    }

    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }

    fn push(&mut self, start: usize, len: usize) {
        Vec::push(self, (start, len));
    }

    fn to_args(&self, request: &Bytes) -> Vec<Bytes> {
        self.iter().map(|span| slice(request, span)).collect()
    }
}

/// Spans kept on the stack for the first `STACK_SPANS` arguments.
const STACK_SPANS: usize = 16;

#[derive(Default)]
struct StackSpans {
    stack: [(usize, usize); STACK_SPANS],
    stack_len: usize,
    spill: Vec<(usize, usize)>,
}

impl Spans for StackSpans {
    fn clear(&mut self) {
        self.stack_len = 0;
        self.spill.clear();
    }

    fn reserve(&mut self, additional: usize) {
        if additional > STACK_SPANS {
            self.spill.reserve(additional - STACK_SPANS);
        }
    }

    fn push(&mut self, start: usize, len: usize) {
        if self.stack_len < STACK_SPANS {
            self.stack[self.stack_len] = (start, len);
            self.stack_len += 1;
        } else {
            self.spill.push((start, len));
        }
    }

    fn to_args(&self, request: &Bytes) -> Vec<Bytes> {
        let mut args = Vec::with_capacity(self.stack_len + self.spill.len());
        args.extend(
            self.stack[..self.stack_len]
                .iter()
                .map(|span| slice(request, span)),
        );
        args.extend(self.spill.iter().map(|span| slice(request, span)));
        args
    }
}

#[cfg(test)]
mod quick_header_tests {
    use proptest::prelude::*;

    use super::{find_header_line, quick_header, quick_header_long, HeaderLine};
    use crate::number::string2ll;

    proptest! {
        /// Where the fast header path answers, the general path agrees.
        #[test]
        fn quick_header_agrees_with_general_path(
            line in prop::collection::vec(prop::sample::select(&b"*$0123456789-+ \r\n\0"[..]), 0..30),
            digits in prop_oneof!["[0-9]{0,21}", "[0-9]{1,2}"],
            tail in prop::collection::vec(prop::sample::select(&b"\r\nx"[..]), 0..3),
            prefix in prop::sample::select(&b"*$"[..]),
        ) {
            let framed = [&[prefix][..], digits.as_bytes(), &tail].concat();
            for buf in [&line[..], &framed[..]] {
                for pos in 0..buf.len() {
                    let quick = quick_header(buf, pos, prefix);
                    if quick.is_some() {
                        prop_assert_eq!(quick, quick_header_long(buf, pos, prefix));
                    }
                    if let Some((value, cr)) = quick {
                        prop_assert_eq!(buf[pos], prefix);
                        prop_assert!(matches!(find_header_line(buf, pos), HeaderLine::Found(at) if at == cr));
                        prop_assert_eq!(string2ll(&buf[pos + 1..cr]), Some(value));
                    }
                }
            }
        }
    }

    #[test]
    fn quick_header_takes_the_common_forms() {
        assert_eq!(quick_header(b"$3\r\nSET", 0, b'$'), Some((3, 2)));
        assert_eq!(quick_header(b"xx*0\r\n", 2, b'*'), Some((0, 4)));
        assert_eq!(
            quick_header(b"$123456789012345678\r\n", 0, b'$'),
            Some((123456789012345678, 19))
        );
        for odd in [
            &b"$3\r"[..],
            b"$03\r\n",
            b"$-1\r\n",
            b"$+1\r\n",
            b"$\r\n",
            b"$1234567890123456789\r\n",
            b"*3\r\n",
        ] {
            assert_eq!(quick_header(odd, 0, b'$'), None, "{odd:?}");
        }
    }
}

//! Client side: decoding RESP2/RESP3 replies into [`Frame`]s.
//!
//! Design: two passes over the same parser. The first pass runs on the
//! borrowed buffer and builds nothing; it only validates and finds where the
//! frame ends, so an incomplete reply costs no allocation and leaves the
//! buffer untouched. Once a frame is complete it is split off and frozen, and
//! the second pass builds the [`Frame`] with `Bytes` slices of it (no copies).
//! Bulk payloads are skipped by length in the first pass, so a huge bulk that
//! arrives in pieces is not rescanned; an incomplete aggregate with very many
//! elements is re-walked on each call, which is fine for the replies our
//! clients read. Rejected alternative: a resumable state machine (hiredis's
//! task stack), which is more code for the same results.
//!
//! Accepted forms: `+ - : $ * _ , # ( ! = % ~ >` as in the RESP3 spec, plus
//! `$-1` (null bulk) and `*-1` (null array). Attributes (`|`) are parsed and
//! dropped, since [`Frame`] cannot carry them. Streamed strings and
//! aggregates (`$?`, `*?`) are not supported (Redis never sends them) and
//! fail as invalid lengths. Lines end with `\r\n` (a lone `\r` is part of the
//! line); integers and lengths follow Redis's `string2ll`.

use bytes::{Bytes, BytesMut};

use crate::number::{exceeds, string2ll};
use crate::{Frame, Limits, ProtocolError};

/// Decodes one RESP2/RESP3 frame, or returns `Ok(None)` and leaves `buf`
/// untouched if it does not hold a whole frame yet.
///
/// `*-1` decodes to [`Frame::NullArray`]; `$-1` and RESP3 `_` decode to
/// [`Frame::Null`]. Blob errors (`!`) decode to [`Frame::Error`].
/// Aggregates deeper than [`Limits::nesting_max`], counts above
/// [`Limits::multibulk_len_max`], bulks above [`Limits::bulk_len_max`] and
/// unterminated lines longer than [`Limits::inline_len_max`] are errors.
pub fn decode_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    let scan = Parser {
        buf,
        frozen: None,
        limits,
    };
    let Some((_, end)) = scan.frame(0, 0)? else {
        return Ok(None);
    };
    let frozen = buf.split_to(end).freeze();
    let build = Parser {
        buf: &frozen,
        frozen: Some(&frozen),
        limits,
    };
    let (frame, built_end) = build
        .frame(0, 0)?
        .expect("the first pass saw a complete frame in the same bytes");
    debug_assert_eq!(built_end, end);
    Ok(Some(frame))
}

struct Parser<'a> {
    buf: &'a [u8],
    /// The frozen frame in the building pass; `None` while scanning.
    frozen: Option<&'a Bytes>,
    limits: &'a Limits,
}

/// A parsed value and the offset just after it; `None` means "incomplete".
type Parsed = Option<(Frame, usize)>;

impl Parser<'_> {
    fn building(&self) -> bool {
        self.frozen.is_some()
    }

    fn bytes(&self, start: usize, end: usize) -> Bytes {
        match self.frozen {
            Some(frozen) => frozen.slice(start..end),
            None => Bytes::new(),
        }
    }

    /// Parses the frame at `pos`, inside `depth` enclosing aggregates.
    fn frame(&self, mut pos: usize, depth: usize) -> Result<Parsed, ProtocolError> {
        loop {
            let Some(&kind) = self.buf.get(pos) else {
                return Ok(None);
            };
            if !b"+-:$*_,#(!=%~>|".contains(&kind) {
                return Err(ProtocolError::InvalidTypeByte(kind));
            }
            let Some((line_end, next)) = self.line(pos + 1)? else {
                return Ok(None);
            };
            let (start, text) = (pos + 1, &self.buf[pos + 1..line_end]);
            let frame = match kind {
                b'+' => Frame::Simple(self.bytes(start, line_end)),
                b'-' => Frame::Error(self.bytes(start, line_end)),
                b'(' => Frame::BigNumber(self.bytes(start, line_end)),
                b':' => Frame::Integer(string2ll(text).ok_or(ProtocolError::InvalidInteger)?),
                b',' => Frame::Double(parse_double(text)?),
                b'#' => match text {
                    b"t" => Frame::Boolean(true),
                    b"f" => Frame::Boolean(false),
                    _ => return Err(ProtocolError::InvalidBoolean),
                },
                b'_' if text.is_empty() => Frame::Null,
                b'_' => return Err(ProtocolError::InvalidNull),
                b'$' | b'!' | b'=' => return self.blob(kind, text, next),
                b'|' => {
                    // An attribute map annotates the frame after it; drop it.
                    let Some(end) = self.aggregate(kind, text, next, depth)?.map(|(_, end)| end)
                    else {
                        return Ok(None);
                    };
                    pos = end;
                    continue;
                }
                _ => return self.aggregate(kind, text, next, depth),
            };
            return Ok(Some((frame, next)));
        }
    }

    /// Finds the line starting at `start`: returns the offset of its `\r\n`
    /// and the offset after it.
    fn line(&self, start: usize) -> Result<Option<(usize, usize)>, ProtocolError> {
        let mut from = start;
        while let Some(at) = self.buf[from..].iter().position(|&byte| byte == b'\r') {
            let cr = from + at;
            match self.buf.get(cr + 1) {
                Some(b'\n') => return Ok(Some((cr, cr + 2))),
                Some(_) => from = cr + 1,
                None => return Ok(None),
            }
        }
        if self.buf.len() - start > self.limits.inline_len_max {
            return Err(ProtocolError::LineTooBig);
        }
        Ok(None)
    }

    /// Parses the payload of `$`, `!` or `=` whose length line is `text`.
    fn blob(&self, kind: u8, text: &[u8], start: usize) -> Result<Parsed, ProtocolError> {
        let len = string2ll(text).ok_or(ProtocolError::InvalidBulkLength)?;
        if kind == b'$' && len == -1 {
            return Ok(Some((Frame::Null, start)));
        }
        if len < 0 || exceeds(len, self.limits.bulk_len_max) {
            return Err(ProtocolError::InvalidBulkLength);
        }
        let len = usize::try_from(len).expect("len is at most bulk_len_max");
        if self.buf.len() - start < len.saturating_add(2) {
            return Ok(None);
        }
        let end = start + len;
        if &self.buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError::MissingCrlf);
        }
        let frame = match kind {
            b'$' => Frame::Bulk(self.bytes(start, end)),
            b'!' => Frame::Error(self.bytes(start, end)),
            _ => {
                if len < 4 || self.buf[start + 3] != b':' {
                    return Err(ProtocolError::InvalidVerbatim);
                }
                let mut format = [0; 3];
                format.copy_from_slice(&self.buf[start..start + 3]);
                Frame::Verbatim {
                    format,
                    text: self.bytes(start + 4, end),
                }
            }
        };
        Ok(Some((frame, end + 2)))
    }

    /// Parses the elements of `*`, `%`, `~`, `>` or `|` whose count line is `text`.
    fn aggregate(
        &self,
        kind: u8,
        text: &[u8],
        start: usize,
        depth: usize,
    ) -> Result<Parsed, ProtocolError> {
        let count = string2ll(text).ok_or(ProtocolError::InvalidMultibulkLength)?;
        if kind == b'*' && count == -1 {
            return Ok(Some((Frame::NullArray, start)));
        }
        if count < 0 || exceeds(count, self.limits.multibulk_len_max) {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if depth >= self.limits.nesting_max {
            return Err(ProtocolError::NestingTooDeep);
        }
        let count = usize::try_from(count).expect("count is at most multibulk_len_max");
        // A claimed count is not trusted for allocation until elements arrive.
        let capacity = if self.building() { count.min(1024) } else { 0 };
        let mut pos = start;
        if kind == b'%' || kind == b'|' {
            let mut pairs = Vec::with_capacity(capacity);
            for _ in 0..count {
                let Some((key, after_key)) = self.frame(pos, depth + 1)? else {
                    return Ok(None);
                };
                let Some((value, after_value)) = self.frame(after_key, depth + 1)? else {
                    return Ok(None);
                };
                if self.building() {
                    pairs.push((key, value));
                }
                pos = after_value;
            }
            return Ok(Some((Frame::Map(pairs), pos)));
        }
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..count {
            let Some((item, after)) = self.frame(pos, depth + 1)? else {
                return Ok(None);
            };
            if self.building() {
                items.push(item);
            }
            pos = after;
        }
        let frame = match kind {
            b'*' => Frame::Array(items),
            b'~' => Frame::Set(items),
            _ => Frame::Push(items),
        };
        Ok(Some((frame, pos)))
    }
}

/// Parses a RESP3 double: decimal or exponent notation, `inf`, `-inf`, `nan`.
fn parse_double(text: &[u8]) -> Result<f64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .ok_or(ProtocolError::InvalidDouble)
}

//! RESP2/RESP3 frames and a sans-IO codec.
//!
//! This crate knows nothing about commands or sockets: it turns bytes into
//! [`Frame`]s / request argument vectors and back. "Not enough bytes yet" is
//! `Ok(None)`, never an error.
//!
//! Main entry points:
//!
//! - [`decode_request`] (server side): one client request, multibulk or
//!   inline, as zero-copy argument slices. Byte-compatible with Redis 7.0's
//!   `processMultibulkBuffer` / `processInlineBuffer`, including its limits
//!   and its exact error texts ([`ProtocolError`]). [`RequestDecoder`] is the
//!   resumable form for very large requests; its `decode_batch` decodes every
//!   complete request of a read into a reusable [`RequestBatch`] (the server's
//!   path: one buffer split per read, no allocation per request).
//! - [`decode_frame`] (client side): any RESP2/RESP3 reply.
//! - [`encode`]: a reply for a RESP2 or RESP3 connection, downgrading RESP3
//!   kinds for RESP2 exactly as Redis 7.0 does. [`encode_request`] for clients.
//!
//! Invariants: depends only on `bytes` and `thiserror`; no I/O, no tokio, no
//! clock, no allocation per argument on the request hot path.

use bytes::Bytes;

mod encode;
mod number;
mod reply;
mod request;
mod split_args;

#[cfg(test)]
mod tests;

pub use encode::{encode, encode_request};
pub use reply::decode_frame;
pub use request::{
    decode_request, decode_request_unauthenticated, recycle_views, RequestBatch, RequestDecoder,
};

/// Which protocol a connection speaks (HELLO 2 / HELLO 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// One RESP value. Replies are built as frames and encoded per connection
/// protocol: RESP3-only kinds are downgraded for RESP2 clients the way Redis does.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(Bytes),
    /// `-ERR ...` (the text includes the error code prefix)
    Error(Bytes),
    /// `:1`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// RESP2 `$-1` / RESP3 `_`
    Null,
    /// RESP2 `*-1` / RESP3 `_`
    NullArray,
    /// `*N`
    Array(Vec<Frame>),
    /// RESP3 `%N`; RESP2: flat array of 2N
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~N`; RESP2: array
    Set(Vec<Frame>),
    /// RESP3 `,1.5`; RESP2: bulk string. Both use C's `%.17g` as Redis 7.0
    /// does (`0.1` is sent as `0.10000000000000001`); see [`encode`].
    Double(f64),
    /// RESP3 `#t`; RESP2: integer 1/0
    Boolean(bool),
    /// RESP3 `(123`; RESP2: bulk string
    BigNumber(Bytes),
    /// RESP3 `=N\r\ntxt:...`; RESP2: bulk string of the text only
    Verbatim { format: [u8; 3], text: Bytes },
    /// RESP3 `>N` push; RESP2: array
    Push(Vec<Frame>),
}

impl Frame {
    /// Returns `+OK`.
    pub const fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    /// Returns a status reply such as `+PONG` or `+QUEUED`.
    pub const fn simple(text: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// Returns an error reply. `text` includes the error code and no leading
    /// `-`, e.g. `"ERR syntax error"` or `"WRONGTYPE Operation against..."`.
    pub fn error(text: impl Into<Bytes>) -> Frame {
        Frame::Error(text.into())
    }

    /// Returns a bulk string reply.
    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }
}

/// Size limits applied while decoding. Every limit is inclusive: a value equal
/// to the maximum is accepted, one above it is an error, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string length (`proto-max-bulk-len`, default 512 MiB).
    pub bulk_len_max: usize,
    /// Largest element count of a request (`*N`) or reply aggregate. Redis
    /// 7.0 rejects request counts above `INT_MAX`.
    pub multibulk_len_max: usize,
    /// How many bytes may be buffered while a request line (inline command,
    /// `*N` or `$N` header) has no terminator yet (`PROTO_INLINE_MAX_SIZE`,
    /// 64 KiB). [`decode_frame`] applies the same bound to reply lines.
    pub inline_len_max: usize,
    /// Deepest aggregate nesting [`decode_frame`] accepts; a top-level
    /// aggregate is depth 1. Requests are flat and ignore this.
    pub nesting_max: usize,
}

impl Limits {
    /// Redis's `proto-max-bulk-len` default.
    pub const BULK_LEN_MAX_DEFAULT: usize = 512 * 1024 * 1024;
    /// Redis's multibulk count bound, `INT_MAX`.
    pub const MULTIBULK_LEN_MAX_DEFAULT: usize = i32::MAX as usize;
    /// Redis's `PROTO_INLINE_MAX_SIZE`.
    pub const INLINE_LEN_MAX_DEFAULT: usize = 64 * 1024;
    /// Nesting depth bound for replies; Redis's own replies are far
    /// shallower, and the bound keeps the recursive decoder's stack small.
    pub const NESTING_MAX_DEFAULT: usize = 128;
    /// Count bound before AUTH (Redis: `ll > 10 && authRequired(c)`).
    pub const UNAUTHENTICATED_MULTIBULK_LEN_MAX: usize = 10;
    /// Bulk length bound before AUTH (Redis: `ll > 16384 && authRequired(c)`).
    pub const UNAUTHENTICATED_BULK_LEN_MAX: usize = 16384;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bulk_len_max: Self::BULK_LEN_MAX_DEFAULT,
            multibulk_len_max: Self::MULTIBULK_LEN_MAX_DEFAULT,
            inline_len_max: Self::INLINE_LEN_MAX_DEFAULT,
            nesting_max: Self::NESTING_MAX_DEFAULT,
        }
    }
}

/// A stream that cannot be decoded. The connection is unusable afterwards:
/// Redis replies with the error text and closes the connection.
///
/// The request-side variants display Redis 7.0's reply text byte for byte
/// (`networking.c`). Send [`ProtocolError::to_frame`] rather than the
/// `Display` string: only it reproduces a non-UTF-8 byte in
/// [`ProtocolError::ExpectedDollar`] exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// No `\n` within the first `inline_len_max` bytes of an inline request.
    #[error("ERR Protocol error: too big inline request")]
    InlineTooBig,
    /// `sdssplitargs` failed: an unterminated quote, or a closing quote
    /// followed by something other than whitespace.
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// No `\r` within `inline_len_max` bytes of a `*N` header.
    #[error("ERR Protocol error: too big mbulk count string")]
    MultibulkCountTooBig,
    /// A `*N` count that is not a canonical integer or exceeds
    /// `multibulk_len_max`.
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A request count above 10 before AUTH.
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// No `\r` within `inline_len_max` bytes of a `$N` header.
    #[error("ERR Protocol error: too big bulk count string")]
    BulkCountTooBig,
    /// A request argument header that does not start with `$`; holds the byte.
    /// Like `addReplyErrorFormat`, `\r` and `\n` are shown as a space.
    #[error("ERR Protocol error: expected '$', got '{}'", char::from(sanitize_byte(*.0)))]
    ExpectedDollar(u8),
    /// A `$N` length that is not a canonical integer, is negative, or exceeds
    /// `bulk_len_max`.
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A request bulk longer than 16384 bytes before AUTH.
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,

    // Reply-side errors ([`decode_frame`]); Redis has no text for these.
    /// A reply starting with a byte that is no RESP2/RESP3 type.
    #[error("ERR Protocol error: invalid reply type byte {0:#04x}")]
    InvalidTypeByte(u8),
    /// A reply line (`+`, `-`, `:`, ...) with no `\r\n` within `inline_len_max` bytes.
    #[error("ERR Protocol error: too big reply line")]
    LineTooBig,
    /// A bulk payload not followed by `\r\n`.
    #[error("ERR Protocol error: bulk payload not followed by CRLF")]
    MissingCrlf,
    /// A `:` reply that is not a canonical 64-bit integer.
    #[error("ERR Protocol error: invalid integer")]
    InvalidInteger,
    /// A `,` reply that is not a floating point number.
    #[error("ERR Protocol error: invalid double")]
    InvalidDouble,
    /// A `#` reply other than `#t` / `#f`.
    #[error("ERR Protocol error: invalid boolean")]
    InvalidBoolean,
    /// A `_` reply with a payload.
    #[error("ERR Protocol error: invalid null")]
    InvalidNull,
    /// A `=` reply without a three byte format and `:`.
    #[error("ERR Protocol error: invalid verbatim string")]
    InvalidVerbatim,
    /// Aggregates nested deeper than `nesting_max`.
    #[error("ERR Protocol error: nesting too deep")]
    NestingTooDeep,
}

impl ProtocolError {
    /// Returns the error reply Redis sends for this error, byte for byte.
    pub fn to_frame(&self) -> Frame {
        match *self {
            ProtocolError::ExpectedDollar(byte) => {
                let mut text = b"ERR Protocol error: expected '$', got '".to_vec();
                text.push(sanitize_byte(byte));
                text.push(b'\'');
                Frame::Error(text.into())
            }
            _ => Frame::Error(self.to_string().into()),
        }
    }
}

/// Replaces `\r` and `\n` with a space, as Redis does for formatted errors so
/// the reply stays one protocol line.
const fn sanitize_byte(byte: u8) -> u8 {
    match byte {
        b'\r' | b'\n' => b' ',
        other => other,
    }
}

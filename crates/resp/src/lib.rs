//! RESP2/RESP3 frames and a sans-IO codec.
//!
//! This crate knows nothing about commands or sockets: it turns bytes into
//! [`Frame`]s / request argument vectors and back. "Not enough bytes yet" is
//! `Ok(None)`, never an error.

use bytes::{Bytes, BytesMut};

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
    /// RESP3 `,1.5`; RESP2: bulk string formatted as Redis does (`%.17g`-style shortest round trip)
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

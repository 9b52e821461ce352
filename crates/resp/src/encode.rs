//! Encoding replies and requests. Performance critical path.
//!
//! Replies are written straight into the connection's output `BytesMut`;
//! numbers are formatted on the stack, nothing is allocated.
//!
//! RESP2 downgrades, as Redis 7.0's `addReply*` functions do:
//!
//! | Frame        | RESP3                   | RESP2                      |
//! |--------------|-------------------------|----------------------------|
//! | `Null`       | `_`                     | `$-1`                      |
//! | `NullArray`  | `_`                     | `*-1`                      |
//! | `Map`        | `%N` + N pairs          | `*2N` + the pairs, flat    |
//! | `Set`        | `~N`                    | `*N`                       |
//! | `Push`       | `>N`                    | `*N`                       |
//! | `Double`     | `,<%.17g>`              | bulk string `<%.17g>`      |
//! | `Boolean`    | `#t` / `#f`             | `:1` / `:0`                |
//! | `BigNumber`  | `(123`                  | bulk string `123`          |
//! | `Verbatim`   | `=N\r\nfmt:text`        | bulk string `text`         |
//!
//! Doubles: Redis 7.0's `addReplyDouble` prints `%.17g` in both protocols
//! (7.2 moved to shortest round-trip), e.g. `1.1000000000000001`,
//! `0.10000000000000001`, `3`, `1.5`, `1e+17`, `1.0000000000000001e+300`,
//! `5.0000000000000004e-06`, and `inf` / `-inf` for infinities (special-cased
//! by Redis; glibc agrees). NaN, which Redis never sends, prints as glibc
//! does: `nan` or `-nan` by sign bit. Negative zero is `-0`.
//!
//! Simple strings and errors must be one line: `\r` and `\n` in them are sent
//! as spaces, as Redis's `addReplyErrorFormat` does.

use std::fmt::Write as _;

use bytes::BytesMut;

use crate::number::NumberLine;
use crate::{Frame, Protocol};

/// Appends `frame` encoded for a connection speaking `proto`.
pub fn encode(frame: &Frame, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match frame {
        // The most common reply, in one fixed-size copy.
        Frame::Simple(text) if text[..] == b"OK"[..] => out.extend_from_slice(b"+OK\r\n"),
        Frame::Simple(text) => put_line(out, b'+', text),
        Frame::Error(text) => put_line(out, b'-', text),
        Frame::Integer(value) => out
            .extend_from_slice(NumberLine::new(b':', *value < 0, value.unsigned_abs()).as_bytes()),
        Frame::Bulk(data) => put_bulk(out, data),
        Frame::Null => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Frame::NullArray => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
        Frame::Array(items) => put_aggregate(out, b'*', items, proto),
        Frame::Set(items) => put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Frame::Push(items) => put_aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
        Frame::Map(pairs) => {
            if resp3 {
                put_len(out, b'%', pairs.len());
            } else {
                put_len(out, b'*', pairs.len() * 2);
            }
            for (key, value) in pairs {
                encode(key, proto, out);
                encode(value, proto, out);
            }
        }
        Frame::Double(value) => {
            let text = DoubleText::new(*value);
            if resp3 {
                out.extend_from_slice(b",");
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            } else {
                put_bulk(out, text.as_bytes());
            }
        }
        Frame::Boolean(value) => out.extend_from_slice(match (resp3, value) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        }),
        Frame::BigNumber(digits) => {
            if resp3 {
                put_line(out, b'(', digits);
            } else {
                put_bulk(out, digits);
            }
        }
        Frame::Verbatim { format, text } => {
            if resp3 {
                put_len(out, b'=', text.len() + 4);
                out.reserve(text.len() + 6);
                out.extend_from_slice(format);
                out.extend_from_slice(b":");
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            } else {
                put_bulk(out, text);
            }
        }
    }
}

/// Appends a request: an array of bulk strings, the form every Redis server
/// accepts.
pub fn encode_request(args: &[&[u8]], out: &mut BytesMut) {
    put_len(out, b'*', args.len());
    for arg in args {
        put_bulk(out, arg);
    }
}

fn put_len(out: &mut BytesMut, prefix: u8, len: usize) {
    out.extend_from_slice(NumberLine::new(prefix, false, len as u64).as_bytes());
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    let header = NumberLine::new(b'$', false, data.len() as u64);
    let header = header.as_bytes();
    out.reserve(header.len() + data.len() + 2);
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn put_aggregate(out: &mut BytesMut, prefix: u8, items: &[Frame], proto: Protocol) {
    put_len(out, prefix, items.len());
    for item in items {
        encode(item, proto, out);
    }
}

/// Writes a one-line reply, turning `\r` and `\n` into spaces.
fn put_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.extend_from_slice(&[prefix]);
    if text.iter().any(|&byte| byte == b'\r' || byte == b'\n') {
        out.extend(text.iter().map(|&byte| crate::sanitize_byte(byte)));
    } else {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(b"\r\n");
}

/// A double formatted like glibc's `printf("%.17g")`, on the stack.
pub(crate) struct DoubleText {
    buf: [u8; 32],
    len: usize,
}

impl DoubleText {
    pub(crate) fn new(value: f64) -> DoubleText {
        let mut text = DoubleText {
            buf: [0; 32],
            len: 0,
        };
        if value.is_nan() {
            text.push_str(if value.is_sign_negative() {
                b"-nan"
            } else {
                b"nan"
            });
            return text;
        }
        if value.is_infinite() {
            text.push_str(if value > 0.0 { b"inf" } else { b"-inf" });
            return text;
        }
        // Fast path for integral scores and counters: below 2^53 the value
        // is exact and has at most 16 digits, so `%.17g` prints it as a
        // plain integer. -0.0 takes the general path to keep its sign.
        if value.trunc() == value
            && value.abs() < 9007199254740992.0
            && value.to_bits() != (-0.0f64).to_bits()
        {
            write!(text, "{}", value as i64).expect("a 16 digit integer fits");
            return text;
        }
        // Rust's `{:.16e}` rounds exactly like glibc (correctly rounded,
        // ties to even), giving the 17 significant digits `%.17g` starts from.
        let mut scientific = DoubleText {
            buf: [0; 32],
            len: 0,
        };
        write!(scientific, "{value:.16e}").expect("a double takes at most 25 bytes");
        let scientific = scientific.as_bytes();
        let (negative, scientific) = match scientific.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, scientific),
        };
        let e_at = scientific
            .iter()
            .position(|&byte| byte == b'e')
            .expect("`{:e}` output has an exponent");
        let exponent: i32 = std::str::from_utf8(&scientific[e_at + 1..])
            .ok()
            .and_then(|exponent| exponent.parse().ok())
            .expect("`{:e}` exponent is an integer");
        // "d.dddddddddddddddd" -> 17 digits.
        let mut digits = [0u8; 17];
        digits[0] = scientific[0];
        digits[1..].copy_from_slice(&scientific[2..e_at]);
        let mut significant = digits.len();
        while significant > 1 && digits[significant - 1] == b'0' {
            significant -= 1;
        }
        if negative {
            text.push_str(b"-");
        }
        // %g: fixed notation when -4 <= exponent < precision (17).
        if (-4..17).contains(&exponent) {
            if exponent >= 0 {
                let integer_len = exponent as usize + 1;
                text.push_str(&digits[..integer_len]);
                if significant > integer_len {
                    text.push_str(b".");
                    text.push_str(&digits[integer_len..significant]);
                }
            } else {
                text.push_str(b"0.");
                for _ in 0..(-exponent - 1) {
                    text.push_str(b"0");
                }
                text.push_str(&digits[..significant]);
            }
        } else {
            text.push_str(&digits[..1]);
            if significant > 1 {
                text.push_str(b".");
                text.push_str(&digits[1..significant]);
            }
            text.push_str(if exponent < 0 { b"e-" } else { b"e+" });
            let magnitude = exponent.unsigned_abs();
            if magnitude < 10 {
                text.push_str(b"0");
            }
            write!(text, "{magnitude}").expect("an exponent takes at most 3 bytes");
        }
        text
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push_str(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.len + text.len() > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.push_str(text.as_bytes());
        Ok(())
    }
}

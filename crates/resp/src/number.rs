//! Integer parsing with Redis's `string2ll` rules.
//!
//! Redis accepts only the canonical decimal form: no sign but `-`, no leading
//! zeros, no `-0`, no spaces, at most 20 bytes (`LONG_STR_SIZE` is 21), and
//! the value must fit an `i64`. Lengths such as `*01` or `$+3` are therefore
//! protocol errors, and we reject exactly what Redis rejects.

/// Parses `text` like Redis's `string2ll`; `None` where Redis returns 0.
pub(crate) fn string2ll(text: &[u8]) -> Option<i64> {
    // 21 is LONG_STR_SIZE; Redis refuses `slen >= LONG_STR_SIZE`.
    if text.is_empty() || text.len() >= 21 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut value = u64::from(first - b'0');
    for &byte in rest {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        // Covers i64::MIN, whose magnitude is one more than i64::MAX.
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Returns whether a parsed length `value` is above `max`.
pub(crate) fn exceeds(value: i64, max: usize) -> bool {
    u64::try_from(value).is_ok_and(|value| value > max as u64)
}

/// "00" to "99": two digits per division when formatting.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// A one-line reply header or integer built on the stack: `prefix`, the
/// decimal form of a number, `\r\n`, written with one copy.
pub(crate) struct NumberLine {
    buf: [u8; 24],
    start: usize,
}

impl NumberLine {
    /// `prefix`, `-` if `negative`, the digits of `magnitude`, `\r\n`.
    #[inline]
    pub(crate) fn new(prefix: u8, negative: bool, mut magnitude: u64) -> NumberLine {
        let mut buf = [0u8; 24];
        buf[22] = b'\r';
        buf[23] = b'\n';
        let mut at = 22;
        while magnitude >= 100 {
            let pair = (magnitude % 100) as usize * 2;
            magnitude /= 100;
            at -= 2;
            buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if magnitude >= 10 {
            let pair = magnitude as usize * 2;
            at -= 2;
            buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            buf[at] = b'0' + magnitude as u8;
        }
        if negative {
            at -= 1;
            buf[at] = b'-';
        }
        at -= 1;
        buf[at] = prefix;
        NumberLine { buf, start: at }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

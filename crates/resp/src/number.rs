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

/// Appends the decimal form of `value` to `out` without allocating.
pub(crate) fn write_i64(out: &mut bytes::BytesMut, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        out.extend_from_slice(b"-");
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends the decimal form of `value` to `out` without allocating.
pub(crate) fn write_usize(out: &mut bytes::BytesMut, value: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value as u64;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

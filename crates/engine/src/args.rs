//! Argument parsing with Redis's rules (string2ll, strtold-like floats).

use bytes::Bytes;

use crate::err;
use resp::Frame;

pub type Arg = Bytes;

/// Parses an integer the way Redis's `string2ll` does.
pub fn int(b: &[u8]) -> Result<i64, Frame> {
    crdt::cell::parse_i64_strict(b).ok_or_else(|| Frame::error(err::NOT_INT))
}

/// Parses a float as Redis's `string2ld`/`strtod` paths accept it: no
/// leading or trailing spaces, "inf"/"-inf"/"+inf" allowed, NaN refused.
pub fn float_parse(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.len() > 5000 || s.starts_with(|c: char| c.is_ascii_whitespace()) || s.ends_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") {
                return None;
            }
            if !s.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E')) {
                return None;
            }
            s.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

pub fn float(b: &[u8]) -> Result<f64, Frame> {
    float_parse(b).ok_or_else(|| Frame::error(err::NOT_FLOAT))
}

pub fn eq(a: &[u8], lit: &str) -> bool {
    a.eq_ignore_ascii_case(lit.as_bytes())
}

/// Formats a float the way Redis prints computed doubles as strings
/// (INCRBYFLOAT, HINCRBYFLOAT): shortest round-trip, no exponent, integers
/// without a decimal point.
pub fn fmt_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return "0".into();
    }
    let s = format!("{f}");
    s
}

//! Inline command splitting: a port of Redis's `sdssplitargs` (sds.c).
//!
//! Rules, byte for byte as in Redis 7.0:
//!
//! - Arguments are separated by runs of C `isspace` bytes (space, `\t`, `\n`,
//!   `\v`, `\f`, `\r`). Inside an unquoted argument only space, `\t`, `\n`
//!   and `\r` end it, so `\v` and `\f` there are kept as ordinary bytes.
//! - `"..."` takes the escapes `\xHH` (exactly two hex digits, either case),
//!   `\n`, `\r`, `\t`, `\b`, `\a`; a backslash before any other byte yields
//!   that byte (`\"`, `\\`, and `\x4g` gives `x4g`).
//! - `'...'` takes only the escape `\'`; every other byte is literal.
//! - A quote may open in the middle of an argument (`a"b c"` is `ab c`), but
//!   a closing quote must be followed by whitespace or the end of the line.
//!   A missing closing quote or a glued closing quote is an error.
//! - `""` is a real, empty argument (Redis 7.0 keeps it).
//!
//! The caller hands over one line without its `\n` (and without the `\r`
//! before it). Redis finds that line with `strchr`, so it never contains a
//! NUL byte; the end of the slice plays the role of the C terminator.
//! Unquoted arguments are returned as ranges of the line, so the common case
//! copies nothing; only quoted arguments are rebuilt.

use std::ops::Range;

/// One argument of an inline request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InlineArg {
    /// Bytes `range` of the line, unchanged.
    Span(Range<usize>),
    /// An argument rebuilt from quotes and escapes.
    Owned(Vec<u8>),
}

/// Returned when quotes do not balance (`sdssplitargs` returns NULL).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnbalancedQuotes;

/// Splits one inline request line into arguments.
pub(crate) fn split_args(line: &[u8]) -> Result<Vec<InlineArg>, UnbalancedQuotes> {
    // `at(i)` reads the line as a NUL-terminated C string would.
    let at = |index: usize| line.get(index).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Ok(args);
        }
        let start = p;
        // Stays None while the argument is a plain run of bytes of the line.
        let mut owned: Option<Vec<u8>> = None;
        let mut plain_end = start;
        let mut in_double = false;
        let mut in_single = false;
        let mut done = false;
        while !done {
            let byte = at(p);
            if in_double {
                if byte == b'\\'
                    && at(p + 1) == b'x'
                    && at(p + 2).is_ascii_hexdigit()
                    && at(p + 3).is_ascii_hexdigit()
                {
                    push(&mut owned, hex_value(at(p + 2)) * 16 + hex_value(at(p + 3)));
                    p += 3;
                } else if byte == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    let escaped = match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    push(&mut owned, escaped);
                } else if byte == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    done = true;
                } else if byte == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    push(&mut owned, byte);
                }
            } else if in_single {
                if byte == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    push(&mut owned, b'\'');
                } else if byte == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    done = true;
                } else if byte == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    push(&mut owned, byte);
                }
            } else {
                match byte {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        done = true;
                        plain_end = p;
                    }
                    b'"' | b'\'' => {
                        in_double = byte == b'"';
                        in_single = byte == b'\'';
                        owned.get_or_insert_with(|| line[start..p].to_vec());
                    }
                    _ => {
                        if let Some(owned) = owned.as_mut() {
                            owned.push(byte);
                        }
                    }
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push(match owned {
            Some(owned) => InlineArg::Owned(owned),
            None => InlineArg::Span(start..plain_end),
        });
    }
}

/// Appends to a quoted argument, which is always owned once a quote opened.
fn push(owned: &mut Option<Vec<u8>>, byte: u8) {
    owned
        .as_mut()
        .expect("a quote opened, so the argument is owned")
        .push(byte);
}

/// C `isspace` in the "C" locale, which Redis runs its ctype functions in.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

//! Redis glob-style pattern matching (`stringmatchlen` in util.c).
//!
//! Used by KEYS, SCAN MATCH, PSUBSCRIBE, PUBSUB CHANNELS and CONFIG GET.
//! This is a byte-for-byte port, including Redis's quirks: an unterminated
//! `[` set runs to the end of the pattern, ranges may be given backwards
//! (`[z-a]`), bytes are compared as C `char` (signed) in ranges, and a
//! trailing `\` matches a literal backslash. Like Redis it stops recursing
//! after 1000 nested `*` and gives up early once a `*` has failed to match
//! the rest of the string from every position (which keeps patterns such
//! as `*a*a*a*a*b` linear instead of exponential).

/// Returns true if `s` matches the glob `pattern`: `*` any run, `?` any
/// byte, `[abc]` `[^a]` `[a-z]` sets, `\x` a literal `x`. With `nocase`,
/// ASCII letters match regardless of case (CONFIG GET uses this).
///
/// As in Redis, a non-empty pattern never matches the empty string, not
/// even `*`: KEYS and SCAN special-case the pattern `*` ("match all")
/// before calling the matcher, and callers should do the same.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, s, nocase, &mut skip_longer_matches, 0)
}

/// Returns `bytes[i]`, or 0 past the end, mirroring reads of the NUL
/// terminator in the C code.
fn at(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(0)
}

fn fold(b: u8, nocase: bool) -> u8 {
    if nocase {
        b.to_ascii_lowercase()
    } else {
        b
    }
}

fn match_impl(
    mut pattern: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer_matches: &mut bool,
    nesting: u32,
) -> bool {
    // Protection against abusive patterns.
    if nesting > 1000 {
        return false;
    }
    while !pattern.is_empty() && !s.is_empty() {
        match pattern[0] {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&pattern[1..], s, nocase, skip_longer_matches, nesting + 1) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    s = &s[1..];
                }
                // The rest of the pattern matches nowhere in the rest of the
                // string, so longer matches for earlier stars cannot help.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                // `p` indexes the pattern; the set ends at `]` or at the end.
                let mut p = 1;
                let not = at(pattern, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    let remaining = pattern.len().saturating_sub(p);
                    if at(pattern, p) == b'\\' && remaining >= 2 {
                        p += 1;
                        if pattern[p] == s[0] {
                            matched = true;
                        }
                    } else if at(pattern, p) == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated set: step back so the outer advance
                        // lands exactly on the end of the pattern.
                        p -= 1;
                        break;
                    } else if remaining >= 3 && pattern[p + 1] == b'-' {
                        // Bytes are C chars: compare them signed, like Redis.
                        let mut start = i32::from(pattern[p] as i8);
                        let mut end = i32::from(pattern[p + 2] as i8);
                        let mut c = i32::from(s[0] as i8);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = c_tolower(start);
                            end = c_tolower(end);
                            c = c_tolower(c);
                        }
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(pattern[p], nocase) == fold(s[0], nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                pattern = &pattern[p..];
            }
            first => {
                let mut literal = first;
                if first == b'\\' && pattern.len() >= 2 {
                    pattern = &pattern[1..];
                    literal = pattern[0];
                }
                if fold(literal, nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        pattern = &pattern[1..];
        if s.is_empty() {
            while !pattern.is_empty() && pattern[0] == b'*' {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && s.is_empty()
}

/// C `tolower` on a (possibly negative) char value in the C locale.
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

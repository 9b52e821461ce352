//! Finding the key arguments of a command invocation.
//!
//! This is a port of Redis 7.0's `getKeysFromCommandWithSpecs` (db.c), which
//! is what COMMAND GETKEYS answers with and what cluster clients and the
//! proxy route by: first the key specs are interpreted
//! (`getKeysUsingKeySpecs`); when one of them cannot be used (an unparsable
//! `numkeys`, an out-of-range last key, an `incomplete` spec), Redis falls
//! back to the command's `getkeys_proc`, here [`KeysProc`]. The fallback
//! matters for odd inputs: `ZUNIONSTORE d 2abc a b` gets its keys from the
//! proc (`atoi` accepts "2abc") and reports the destination last.
//!
//! An alternative was to hard-code one function per movable-keys command,
//! as Redis 6 did; interpreting the key specs keeps hand-written Concord
//! commands working without new code. The differential fixture
//! `testdata/getkeys.txt` holds real COMMAND GETKEYS answers.


use crate::spec::{BeginSearch, CommandSpec, FindKeys, KeysProc};

/// Returns the positions in `args` (`args[0]` is the command name) of the
/// keys of the invocation, in the order Redis 7.0's COMMAND GETKEYS reports
/// them.
///
/// For a container command (one with subcommands) the subcommand is looked
/// up from `args[1]`. An unknown subcommand, a wrong number of arguments or
/// arguments Redis would reject as "Invalid arguments specified for command"
/// give an empty vector. Never panics, whatever the arguments.
pub fn key_positions(spec: &CommandSpec, args: &[&[u8]]) -> Vec<usize> {
    keys_with_flags(spec, args).into_iter().map(|(pos, _)| pos).collect()
}

/// Flags a keys proc gives the keys it finds (Redis's procs set them).
const RO_ACCESS: &[&str] = &["RO", "access"];
const OW_UPDATE: &[&str] = &["OW", "update"];
const RW_ACCESS_UPDATE: &[&str] = &["RW", "access", "update"];

/// Like [`key_positions`], with each key's flags as COMMAND GETKEYSANDFLAGS
/// reports them: the flags of the key spec that found it, or, for keys a
/// keys proc found, the flags that proc assigns (SET with GET is
/// `RW access update`, without it `OW update`; SORT's STORE key is
/// `OW update`; the generic numkeys proc assigns none).
pub fn keys_with_flags(spec: &CommandSpec, args: &[&[u8]]) -> Vec<(usize, &'static [&'static str])> {
    let spec = if !spec.subcommands.is_empty() && args.len() >= 2 {
        match crate::lookup_subcommand(spec, &args[1]) {
            Some(sub) => sub,
            None => return Vec::new(),
        }
    } else {
        spec
    };
    if !spec.arity_ok(args.len()) {
        return Vec::new();
    }
    let has_keyspec = spec.key_specs.iter().any(|ks| !ks.has_flag("not_key"));
    let has_variable_flags = spec
        .key_specs
        .iter()
        .any(|ks| ks.has_flag("variable_flags"));
    if has_keyspec && !has_variable_flags {
        if let Some(keys) = keys_from_specs(spec, args) {
            return keys;
        }
    }
    let keys = keys_from_proc(spec.keys_proc, args);
    let flags = |i: usize| -> &'static [&'static str] {
        match spec.keys_proc {
            KeysProc::None | KeysProc::NumKeys { .. } => &[],
            KeysProc::FirstArg => {
                if args[2..].iter().any(|a| a.eq_ignore_ascii_case(b"get")) {
                    RW_ACCESS_UPDATE
                } else {
                    OW_UPDATE
                }
            }
            KeysProc::Xread => RO_ACCESS,
            KeysProc::Sort | KeysProc::Georadius => {
                if i == 0 {
                    RO_ACCESS
                } else {
                    OW_UPDATE
                }
            }
        }
    };
    keys.into_iter().enumerate().map(|(i, pos)| (pos, flags(i))).collect()
}

/// Port of `getKeysUsingKeySpecs` without flags: `None` means "invalid spec",
/// which makes the caller fall back to the keys proc.
fn keys_from_specs(spec: &CommandSpec, args: &[&[u8]]) -> Option<Vec<(usize, &'static [&'static str])>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for key_spec in spec.key_specs {
        if key_spec.has_flag("not_key") {
            continue;
        }
        let mut first: i64 = 0;
        match key_spec.begin_search {
            BeginSearch::Index(index) => first = i64::from(index),
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = i64::from(startfrom);
                let start = if startfrom > 0 {
                    startfrom
                } else {
                    argc + startfrom
                };
                let end = if startfrom > 0 { argc - 1 } else { 0 };
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        first = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if first == 0 {
                    // Keyword not found: this spec contributes no keys.
                    continue;
                }
            }
            BeginSearch::Unknown => return None,
        }
        let (last, step) = match key_spec.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let lastkey = i64::from(lastkey);
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / i64::from(limit) + lastkey)
                };
                (last, i64::from(keystep))
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let index = first + i64::from(keynumidx);
                if index >= argc || index < 0 {
                    return None;
                }
                let numkeys = match string_to_i64(&args[index as usize]) {
                    Some(n) if n >= 0 => n,
                    _ => return None,
                };
                first += i64::from(firstkey);
                (first.saturating_add(numkeys) - 1, i64::from(keystep))
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, key_spec.flags));
            i += step;
        }
        if key_spec.has_flag("incomplete") {
            return None;
        }
    }
    Some(keys)
}

fn keys_from_proc(keys_proc: KeysProc, args: &[&[u8]]) -> Vec<usize> {
    match keys_proc {
        KeysProc::None => Vec::new(),
        KeysProc::NumKeys {
            store,
            numkeys,
            first,
            step,
        } => numkeys_keys(args, store, numkeys, first, step),
        KeysProc::Xread => xread_keys(args),
        KeysProc::Georadius => georadius_keys(args),
        KeysProc::FirstArg => vec![1],
        KeysProc::Sort => sort_keys(args),
    }
}

/// Port of `sortGetKeys`: options are skipped by their known argument
/// counts (LIMIT 2, GET 1, BY 1, anything else 0); the last `STORE key`
/// names the destination. As in Redis, the destination itself is then read
/// as an option name too.
fn sort_keys(args: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let arg = &args[i];
        if arg.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"get") || arg.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// Port of `genericGetKeys`.
fn numkeys_keys(
    args: &[&[u8]],
    store: usize,
    numkeys: usize,
    first: usize,
    step: usize,
) -> Vec<usize> {
    let Some(count_arg) = args.get(numkeys) else {
        return Vec::new();
    };
    let num = i64::from(atoi(count_arg));
    let argc = args.len() as i64;
    if step == 0 || num < 1 || num > (argc - first as i64) / step as i64 {
        return Vec::new();
    }
    let mut keys: Vec<usize> = (0..num as usize).map(|i| first + i * step).collect();
    if store != 0 {
        keys.push(store);
    }
    keys
}

/// Port of `xreadGetKeys`.
fn xread_keys(args: &[&[u8]]) -> Vec<usize> {
    let argc = args.len();
    let mut streams_pos = None;
    let mut i = 1;
    while i < argc {
        let arg = &args[i];
        if arg.eq_ignore_ascii_case(b"block") || arg.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"group") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"noack") {
            // No option argument.
        } else if arg.eq_ignore_ascii_case(b"streams") {
            streams_pos = Some(i);
            break;
        } else {
            break;
        }
        i += 1;
    }
    let Some(streams_pos) = streams_pos else {
        return Vec::new();
    };
    let num = argc - streams_pos - 1;
    if num == 0 || !num.is_multiple_of(2) {
        return Vec::new();
    }
    (streams_pos + 1..streams_pos + 1 + num / 2).collect()
}

/// Port of `georadiusGetKeys`.
fn georadius_keys(args: &[&[u8]]) -> Vec<usize> {
    let mut stored_key = None;
    let mut i = 5;
    while i < args.len() {
        let arg = &args[i];
        if (arg.eq_ignore_ascii_case(b"store") || arg.eq_ignore_ascii_case(b"storedist"))
            && i + 1 < args.len()
        {
            stored_key = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let mut keys = vec![1];
    keys.extend(stored_key);
    keys
}

/// Redis `string2ll`: an optional `-`, then digits without leading zeros
/// (except "0" itself), no spaces, no `+`, no overflow.
pub(crate) fn string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if value > i64::MAX as u64 + 1 {
            return None;
        }
        Some((value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

/// C `atoi` as glibc implements it: `(int) strtol(s, NULL, 10)`. Leading
/// whitespace and a sign are accepted, parsing stops at the first non-digit,
/// `strtol` saturates at the `long` range and the cast keeps the low 32 bits.
pub(crate) fn atoi(s: &[u8]) -> i32 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        negative = s[i] == b'-';
        i += 1;
    }
    let mut value: i64 = 0;
    let mut saturated = false;
    while i < s.len() && s[i].is_ascii_digit() {
        let digit = i64::from(s[i] - b'0');
        match value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        }) {
            Some(v) => value = v,
            None => {
                saturated = true;
                break;
            }
        }
        i += 1;
    }
    if saturated {
        value = if negative { i64::MIN } else { i64::MAX };
    }
    value as i32
}

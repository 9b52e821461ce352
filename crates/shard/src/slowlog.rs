//! SLOWLOG: the commands that ran for at least `slowlog-log-slower-than`
//! microseconds (negative: none, 0: every command), newest first, at most
//! `slowlog-max-len` of them, as Redis keeps them.
//!
//! What a command's time is: the same execution time INFO commandstats
//! counts (from the end of the command before it in the batch, or from
//! taking the keyspace lock, to the end of this one). Consecutive cheap
//! commands of a pipeline share one clock read (`State::fast_run`), so
//! their times are not known one by one; while the threshold is below
//! [`BATCHED_MIN_US`] every command is timed on its own instead, and above
//! it only commands too small to reach it are batched (`conn::is_cheap`
//! bounds them by their argument count and size). A blocking command is
//! logged when it is served, with no execution time (Redis counts the time
//! of the call that served it, a few microseconds).

use std::collections::VecDeque;

use bytes::Bytes;
use resp::Frame;

/// Below this threshold (µs) every command is timed on its own.
pub const BATCHED_MIN_US: i64 = 1000;
/// At most this many arguments are kept per entry (the last one kept says
/// how many more there were), as Redis's SLOWLOG_ENTRY_MAX_ARGC.
const MAX_ARGS: usize = 32;
/// Longer arguments are cut to this many bytes (SLOWLOG_ENTRY_MAX_STRING).
const MAX_ARG_BYTES: usize = 128;

/// CONFIG parameters whose values a log entry does not show (Redis's
/// SENSITIVE_CONFIG ones).
const SENSITIVE_PARAMS: &[&str] = &[
    "masteruser",
    "masterauth",
    "requirepass",
    "tls-key-file-pass",
    "tls-client-key-file-pass",
];

struct Entry {
    id: u64,
    /// Unix time, seconds.
    time: u64,
    micros: u64,
    args: Vec<Bytes>,
    addr: Bytes,
    name: Bytes,
}

pub struct SlowLog {
    /// Newest first.
    entries: VecDeque<Entry>,
    /// Never reset (SLOWLOG RESET keeps counting), as Redis's.
    next_id: u64,
    /// `slowlog-log-slower-than`, µs; negative: nothing is logged.
    threshold_us: i64,
    /// `slowlog-max-len`: applied at the next entry, as Redis does.
    max_len: usize,
}

impl Default for SlowLog {
    fn default() -> SlowLog {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            threshold_us: 10_000,
            max_len: 128,
        }
    }
}

impl SlowLog {
    /// Takes `slowlog-log-slower-than` or `slowlog-max-len` (the values
    /// CONFIG SET validated); other names are not this log's.
    pub fn set_param(&mut self, name: &str, value: &str) {
        match name {
            "slowlog-log-slower-than" => self.threshold_us = value.parse().unwrap_or(10_000),
            "slowlog-max-len" => self.max_len = value.parse::<u64>().map_or(128, |v| v.min(usize::MAX as u64) as usize),
            _ => {}
        }
    }

    /// Whether a command that ran for `nanos` goes to the log.
    #[inline]
    pub fn wants(&self, nanos: u64) -> bool {
        self.threshold_us >= 0 && nanos / 1000 >= self.threshold_us as u64
    }

    /// Whether cheap commands may be timed together (see the module docs).
    #[inline]
    pub fn batching_allowed(&self) -> bool {
        !(0..BATCHED_MIN_US).contains(&self.threshold_us)
    }

    /// Logs a command (`args` as the client sent them; trimmed and
    /// redacted here), then drops the oldest entries beyond `max_len`.
    pub fn push(&mut self, args: &[&[u8]], nanos: u64, time: u64, addr: Bytes, name: Bytes) {
        let redacted = redactions(args);
        let kept = args.len().min(MAX_ARGS);
        let mut out = Vec::with_capacity(kept);
        for (i, arg) in args.iter().take(kept).enumerate() {
            if kept != args.len() && i == kept - 1 {
                out.push(Bytes::from(format!("... ({} more arguments)", args.len() - kept + 1)));
            } else if redacted.contains(&i) {
                out.push(Bytes::from_static(b"(redacted)"));
            } else if arg.len() > MAX_ARG_BYTES {
                let mut s = arg[..MAX_ARG_BYTES].to_vec();
                s.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes());
                out.push(Bytes::from(s));
            } else {
                out.push(Bytes::copy_from_slice(arg));
            }
        }
        self.entries.push_front(Entry {
            id: self.next_id,
            time,
            micros: nanos / 1000,
            args: out,
            addr,
            name,
        });
        self.next_id += 1;
        self.entries.truncate(self.max_len);
    }

    /// SLOWLOG GET | LEN | RESET | HELP (`args[0]` is SLOWLOG; the command
    /// table checked the subcommand's arity).
    pub fn command(&mut self, args: &[&[u8]]) -> Frame {
        let sub = args.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        match (sub.as_slice(), args.len()) {
            (b"get", 2 | 3) => {
                let count = match args.get(2) {
                    None => 10,
                    Some(a) => match std::str::from_utf8(a).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(n) if n >= -1 => n,
                        _ => return Frame::error("ERR count should be greater than or equal to -1"),
                    },
                };
                let count = if count == -1 {
                    self.entries.len()
                } else {
                    count as usize
                };
                Frame::Array(self.entries.iter().take(count).map(Entry::frame).collect())
            }
            (b"len", 2) => Frame::Integer(self.entries.len() as i64),
            (b"reset", 2) => {
                self.entries.clear();
                Frame::ok()
            }
            (b"help", 2) => Frame::Array(HELP.iter().map(|l| Frame::simple(*l)).collect()),
            (b"get" | b"len" | b"reset" | b"help", _) => Frame::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(args[1])
            )),
            _ => Frame::error(format!(
                "ERR unknown subcommand '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
            )),
        }
    }
}

impl Entry {
    fn frame(&self) -> Frame {
        Frame::Array(vec![
            Frame::Integer(self.id as i64),
            Frame::Integer(self.time as i64),
            Frame::Integer(self.micros as i64),
            Frame::Array(self.args.iter().map(|a| Frame::Bulk(a.clone())).collect()),
            Frame::Bulk(self.addr.clone()),
            Frame::Bulk(self.name.clone()),
        ])
    }
}

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// Positions of the arguments a log entry must not show: passwords (AUTH,
/// HELLO's AUTH) and the values of sensitive CONFIG SET parameters, as Redis
/// redacts them.
fn redactions(args: &[&[u8]]) -> Vec<usize> {
    let is = |i: usize, word: &str| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
    if is(0, "auth") {
        return (1..args.len()).collect();
    }
    if is(0, "hello") {
        let mut out = Vec::new();
        let mut i = 2;
        while i < args.len() {
            if is(i, "auth") {
                out.extend([i + 1, i + 2]);
                i += 3;
            } else if is(i, "setname") {
                i += 2;
            } else {
                i += 1;
            }
        }
        return out;
    }
    if is(0, "config") && is(1, "set") {
        return (2..args.len())
            .step_by(2)
            .filter(|&i| {
                let name = String::from_utf8_lossy(args[i]).to_ascii_lowercase();
                SENSITIVE_PARAMS.contains(&name.as_str())
            })
            .map(|i| i + 1)
            .collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_args(log: &mut SlowLog) -> Vec<Vec<u8>> {
        let Frame::Array(entries) = log.command(&[b"slowlog", b"get", b"1"]) else {
            panic!("not an array")
        };
        let Frame::Array(fields) = &entries[0] else {
            panic!("entry not an array")
        };
        let Frame::Array(args) = &fields[3] else {
            panic!("args not an array")
        };
        args.iter()
            .map(|a| {
                if let Frame::Bulk(b) = a {
                    b.to_vec()
                } else {
                    panic!("arg not bulk")
                }
            })
            .collect()
    }

    fn push(log: &mut SlowLog, args: &[&[u8]]) {
        log.push(args, 5_000, 1, Bytes::from_static(b"127.0.0.1:1"), Bytes::new());
    }

    #[test]
    fn long_argument_lists_and_long_arguments_are_trimmed_as_redis_trims_them() {
        let mut log = SlowLog::default();
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let views: Vec<&[u8]> = many.iter().map(|a| &a[..]).collect();
        push(&mut log, &views);
        let got = entry_args(&mut log);
        assert_eq!(got.len(), 32);
        assert_eq!(got[30], b"30");
        assert_eq!(got[31], b"... (9 more arguments)");

        let long = vec![b'A'; 129];
        push(&mut log, &[b"sadd", b"set", &long]);
        let got = entry_args(&mut log);
        assert_eq!(got[2], [&[b'A'; 128][..], b"... (1 more bytes)"].concat());
    }

    #[test]
    fn passwords_and_sensitive_parameters_are_redacted() {
        let mut log = SlowLog::default();
        push(&mut log, &[b"AUTH", b"user", b"pw"]);
        assert_eq!(
            entry_args(&mut log),
            [b"AUTH".to_vec(), b"(redacted)".to_vec(), b"(redacted)".to_vec()]
        );
        push(&mut log, &[b"hello", b"3", b"SETNAME", b"n", b"auth", b"u", b"p"]);
        let got = entry_args(&mut log);
        assert_eq!(
            &got[..4],
            [b"hello".to_vec(), b"3".to_vec(), b"SETNAME".to_vec(), b"n".to_vec()]
        );
        assert_eq!(&got[5..], [b"(redacted)".to_vec(), b"(redacted)".to_vec()]);
        push(
            &mut log,
            &[b"config", b"set", b"maxmemory", b"10", b"requirepass", b"secret"],
        );
        let got = entry_args(&mut log);
        assert_eq!(got[3], b"10");
        assert_eq!(got[5], b"(redacted)");
    }

    #[test]
    fn the_threshold_and_length_limit_apply() {
        let mut log = SlowLog::default();
        assert!(!log.wants(9_999_000) && log.wants(10_000_000) && log.batching_allowed());
        log.set_param("slowlog-log-slower-than", "0");
        assert!(log.wants(0) && !log.batching_allowed());
        log.set_param("slowlog-log-slower-than", "-1");
        assert!(!log.wants(u64::MAX) && log.batching_allowed());
        log.set_param("slowlog-max-len", "3");
        for _ in 0..5 {
            push(&mut log, &[b"ping"]);
        }
        assert_eq!(log.command(&[b"slowlog", b"len"]), Frame::Integer(3));
        // Newest first; ids keep counting across RESET.
        let Frame::Array(e) = log.command(&[b"slowlog", b"get", b"-1"]) else {
            panic!()
        };
        let Frame::Array(first) = &e[0] else { panic!() };
        assert_eq!(first[0], Frame::Integer(4));
        log.command(&[b"slowlog", b"reset"]);
        push(&mut log, &[b"ping"]);
        let Frame::Array(e) = log.command(&[b"slowlog", b"get"]) else {
            panic!()
        };
        let Frame::Array(first) = &e[0] else { panic!() };
        assert_eq!(first[0], Frame::Integer(5));
        assert_eq!(
            log.command(&[b"slowlog", b"get", b"-2"]),
            Frame::error("ERR count should be greater than or equal to -1")
        );
    }
}

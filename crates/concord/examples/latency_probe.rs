//! Client-side pause probe for `scripts/bench-replica.sh` (not a test).
//!
//! `latency_probe <port> <stop file>`: one connection sends `GET key:1`
//! back to back (each waits for the previous reply) until the stop file
//! exists, then prints `samples p50_us p99_us max_us`, and on stderr the
//! five longest waits with when they began (ms after the probe started). A GET needs the
//! keyspace, so the longest wait is the longest time a client waited on
//! the server: for Concord the longest hold of the keyspace lock by a
//! snapshot capture (plus a round trip), for redis-server the fork.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes of one whole reply at the start of `buf`, if it holds one: a
/// simple string, an error, an integer, or a bulk string (nil included).
fn reply_len(buf: &[u8]) -> Option<usize> {
    let line = buf.windows(2).position(|w| w == b"\r\n")? + 2;
    match buf.first()? {
        b'$' => {
            let n: i64 = std::str::from_utf8(&buf[1..line - 2]).ok()?.parse().ok()?;
            if n < 0 {
                return Some(line);
            }
            let end = line + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        _ => Some(line),
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, stop] = &args[..] else {
        eprintln!("usage: latency_probe <port> <stop file>");
        std::process::exit(2);
    };
    let mut s = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("a port number")))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n";
    let stop = Path::new(stop);
    let mut waits: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut checked = Instant::now();
    let start = Instant::now();
    let mut longest: Vec<(u32, u64)> = Vec::new();
    loop {
        // Looking for the stop file costs a system call: every 10 ms.
        if checked.elapsed() > Duration::from_millis(10) {
            if stop.exists() {
                break;
            }
            checked = Instant::now();
        }
        let sent = Instant::now();
        s.write_all(request)?;
        buf.clear();
        loop {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed the connection"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if reply_len(&buf) == Some(buf.len()) {
                break;
            }
        }
        let wait = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
        waits.push(wait);
        if longest.len() < 5 || wait > longest[0].0 {
            longest.push((wait, sent.duration_since(start).as_millis() as u64));
            longest.sort_unstable();
            if longest.len() > 5 {
                longest.remove(0);
            }
        }
    }
    for (wait, at) in longest.iter().rev() {
        eprintln!("wait {wait} us at {at} ms");
    }
    waits.sort_unstable();
    let at = |q: f64| waits.get(((waits.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0);
    println!("{} {} {} {}", waits.len(), at(0.5), at(0.99), waits.last().copied().unwrap_or(0));
    Ok(())
}

//! Helpers for integration tests: real server processes on loopback and a
//! raw RESP client.
//!
//! Servers are real processes (`concord shard` and `redis-server`) started
//! in their own temporary directory on a free 127.0.0.1 port; a test gets a
//! [`Server`] once the process answers, and the process is killed when the
//! `Server` is dropped. [`RespConn`] sends bytes and reads back exactly one
//! reply frame as raw bytes, so tests can compare replies byte for byte.
//! It uses std only (no tokio, no client crate) to keep the test binary
//! small and the bytes on the wire under the test's control.
//!
//! Every wait is bounded: a server that never answers, or a reply that never
//! comes, fails the test with the server's log instead of hanging it.
#![allow(dead_code)] // Not every test module uses every helper.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take from spawn to answering PING.
pub const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one reply may take to arrive, by default.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Spawn attempts; another attempt is made when the chosen port was taken.
const SPAWN_ATTEMPTS: usize = 3;

/// Returns the path of the `concord` binary under test.
///
/// `CONCORD_BIN` overrides the binary Cargo built for this test run (for
/// example to test a binary built elsewhere).
pub fn concord_bin() -> PathBuf {
    match std::env::var_os("CONCORD_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_concord")),
    }
}

/// Returns a loopback TCP port that was free a moment ago.
///
/// The OS picks it; another process may still take it before our server
/// binds, which [`Server`] handles by retrying on a new port.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr of a bound listener").port()
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, empty directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// Returns the directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Which server program a [`Server`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `concord shard`, the binary under test.
    Concord,
    /// `redis-server`, the reference implementation.
    Redis,
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Concord => "concord",
            ServerKind::Redis => "redis",
        })
    }
}

/// Options for starting a server.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// Password clients must send with AUTH (`--requirepass`).
    pub requirepass: Option<String>,
    /// Extra command-line arguments, appended as given.
    pub extra_args: Vec<String>,
}

/// A running server process on 127.0.0.1, killed when dropped.
pub struct Server {
    kind: ServerKind,
    port: u16,
    config: ServerConfig,
    child: Child,
    log_path: PathBuf,
    // Dropped last: the process must be gone before its directory is removed.
    dir: TempDir,
}

impl Server {
    /// Starts `concord shard` with default options.
    pub fn concord() -> Server {
        Server::start(ServerKind::Concord, ServerConfig::default())
    }

    /// Starts `redis-server --save '' --appendonly no` with default options.
    pub fn redis() -> Server {
        Server::start(ServerKind::Redis, ServerConfig::default())
    }

    /// Starts a server of `kind` and waits until it answers.
    ///
    /// Panics, with the server's log, if it does not answer within
    /// [`SERVER_READY_TIMEOUT`].
    pub fn start(kind: ServerKind, config: ServerConfig) -> Server {
        if kind == ServerKind::Redis {
            ensure_redis_installed();
        }
        let mut last_error = String::new();
        for _ in 0..SPAWN_ATTEMPTS {
            let dir = TempDir::new(&format!("concord-it-{kind}"));
            let port = free_port();
            let log_path = dir.path().join("server.log");
            let child = spawn(kind, port, &config, dir.path(), &log_path);
            let mut server = Server { kind, port, config: config.clone(), child, log_path, dir };
            match server.wait_ready(SERVER_READY_TIMEOUT) {
                Ok(()) => return server,
                // Most likely the port was taken between free_port and bind.
                Err(error) => last_error = format!("{error}\n--- server log ---\n{}", server.log()),
            }
        }
        panic!("{kind} did not start after {SPAWN_ATTEMPTS} attempts: {last_error}");
    }

    /// Returns which program this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// Returns the TCP port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Returns its data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Returns what the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }

    /// Returns whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Opens a new connection, authenticated if the server needs a password.
    ///
    /// Panics if the connection cannot be made.
    pub fn connect(&self) -> RespConn {
        self.try_connect().unwrap_or_else(|error| {
            panic!("connect to {} on port {}: {error}\n--- server log ---\n{}", self.kind, self.port, self.log())
        })
    }

    /// Opens a new connection, authenticated if the server needs a password.
    pub fn try_connect(&self) -> io::Result<RespConn> {
        let mut conn = RespConn::connect(self.addr())?;
        if let Some(password) = &self.config.requirepass {
            let reply = conn.command(&["AUTH", password])?;
            if reply != b"+OK\r\n" {
                return Err(io::Error::other(format!("AUTH failed: {}", escape(&reply))));
            }
        }
        Ok(conn)
    }

    /// Kills the process and starts a new one on the same port and
    /// directory (data that the server persisted there is kept).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.kind, self.port, &self.config, self.dir.path(), &self.log_path);
        if let Err(error) = self.wait_ready(SERVER_READY_TIMEOUT) {
            panic!("restart {} on port {}: {error}\n--- server log ---\n{}", self.kind, self.port, self.log());
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the server accepts a connection and answers PING with
    /// any complete reply (with a password set, that reply is NOAUTH).
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited with {status} before answering on port {}", self.kind, self.port));
            }
            if let Ok(mut conn) = RespConn::connect(self.addr()) {
                conn.set_timeout(Duration::from_millis(500));
                if conn.command(&["PING"]).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not answer on port {} within {timeout:?}", self.kind, self.port));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(kind: ServerKind, port: u16, config: &ServerConfig, dir: &Path, log_path: &Path) -> Child {
    let log = fs::OpenOptions::new().create(true).append(true).open(log_path).expect("open server log");
    let log_err = log.try_clone().expect("clone log file handle");
    let port = port.to_string();
    let dir_arg = dir.to_str().expect("temp dir path is UTF-8");
    let mut command = match kind {
        ServerKind::Concord => {
            let mut command = Command::new(concord_bin());
            command.args(["shard", "--port", &port, "--bind", "127.0.0.1", "--dir", dir_arg]);
            if let Some(password) = &config.requirepass {
                command.args(["--requirepass", password]);
            }
            command
        }
        ServerKind::Redis => {
            let mut command = Command::new("redis-server");
            command.args(["--port", &port, "--bind", "127.0.0.1", "--dir", dir_arg]);
            command.args(["--save", "", "--appendonly", "no", "--daemonize", "no"]);
            if let Some(password) = &config.requirepass {
                command.args(["--requirepass", password]);
            }
            command
        }
    };
    command.args(&config.extra_args).current_dir(dir).stdin(Stdio::null()).stdout(log).stderr(log_err);
    command.spawn().unwrap_or_else(|error| panic!("spawn {kind} ({command:?}): {error}"))
}

/// Panics with a clear message when `redis-server` is not installed.
pub fn ensure_redis_installed() {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "redis-server is not installed. Run scripts/test.sh, which installs it \
         (apt-get install redis-server redis-tools tcl), or install it yourself."
    );
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A connection that speaks raw RESP: send bytes, read one whole reply
/// frame back as the exact bytes the server sent.
pub struct RespConn {
    stream: TcpStream,
    /// Bytes received but not yet returned as a reply.
    pending: Vec<u8>,
    timeout: Duration,
}

impl RespConn {
    /// Connects to `addr` with [`REPLY_TIMEOUT`] for each reply.
    pub fn connect(addr: SocketAddr) -> io::Result<RespConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(RespConn { stream, pending: Vec::new(), timeout: REPLY_TIMEOUT })
    }

    /// Sets how long [`RespConn::read_reply`] waits for a whole reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a command as a RESP array of bulk strings.
    pub fn send_command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.send(&encode_command(args))
    }

    /// Sends a command and reads one reply frame.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.send_command(args)?;
        self.read_reply()
    }

    /// Reads exactly one reply frame (an attribute frame and the reply it
    /// annotates count as one) and returns its raw bytes.
    ///
    /// Fails with `TimedOut` when no whole frame arrives within the
    /// connection's timeout, and with `UnexpectedEof` when the server
    /// closes the connection first.
    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match frame_len(&self.pending) {
                Ok(Some(len)) => return Ok(self.pending.drain(..len).collect()),
                Ok(None) => {}
                Err(error) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{error} in reply bytes {}", escape(&self.pending)),
                    ))
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no whole reply within {:?}; got {}", self.timeout, escape(&self.pending)),
                ));
            }
            self.stream.set_read_timeout(Some(deadline - now))?;
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("connection closed; got {}", escape(&self.pending)),
                    ))
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Returns whether the server closed the connection, waiting at most
    /// `wait` for it to do so. Bytes that arrive meanwhile are kept.
    pub fn is_closed_by_peer(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if self.stream.set_read_timeout(Some(deadline - now)).is_err() {
                return true;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return false
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}

/// A RESP2/RESP3 reply, parsed just enough to compare replies loosely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A one-line frame: `+` simple string, `-` error, `:` integer,
    /// `_` null, `,` double, `#` boolean, `(` big number. Holds the type
    /// byte and the line without CRLF.
    Line(u8, Vec<u8>),
    /// A length-prefixed frame: `$` bulk, `!` bulk error, `=` verbatim.
    /// `None` is the RESP2 null bulk string `$-1`.
    Bulk(u8, Option<Vec<u8>>),
    /// An aggregate: `*` array, `~` set, `>` push, `%` map (keys and values
    /// alternate). `None` is the RESP2 null array `*-1`.
    Aggregate(u8, Option<Vec<Frame>>),
    /// A `|` attribute (keys and values alternate) and the reply it annotates.
    Attribute(Vec<Frame>, Box<Frame>),
}

impl Frame {
    /// Parses one whole frame from the start of `buf`; returns it and the
    /// number of bytes it took, `Ok(None)` if `buf` holds only part of one.
    pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
        parse_frame(buf, 0, 0)
    }

    /// Encodes the frame back into RESP bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Line(kind, line) => {
                out.push(*kind);
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Bulk(kind, None) => {
                out.push(*kind);
                out.extend_from_slice(b"-1\r\n");
            }
            Frame::Bulk(kind, Some(data)) => {
                out.push(*kind);
                out.extend_from_slice(format!("{}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Aggregate(kind, None) => {
                out.push(*kind);
                out.extend_from_slice(b"-1\r\n");
            }
            Frame::Aggregate(kind, Some(items)) => {
                let count = if *kind == b'%' { items.len() / 2 } else { items.len() };
                out.push(*kind);
                out.extend_from_slice(format!("{count}\r\n").as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
            Frame::Attribute(items, reply) => {
                out.extend_from_slice(format!("|{}\r\n", items.len() / 2).as_bytes());
                for item in items {
                    item.encode(out);
                }
                reply.encode(out);
            }
        }
    }
}

/// Deepest nesting of aggregates the reader accepts.
const DEPTH_MAX: usize = 64;

/// Returns the byte length of the first whole frame in `buf`, `Ok(None)`
/// if `buf` holds only part of one.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    Ok(Frame::parse(buf)?.map(|(_, len)| len))
}

fn parse_frame(buf: &[u8], start: usize, depth: usize) -> Result<Option<(Frame, usize)>, String> {
    if depth > DEPTH_MAX {
        return Err(format!("frames nested deeper than {DEPTH_MAX}"));
    }
    let Some(line_end) = find_crlf(buf, start + 1) else { return Ok(None) };
    let Some(&kind) = buf.get(start) else { return Ok(None) };
    let line = &buf[start + 1..line_end];
    let after_line = line_end + 2;
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some((Frame::Line(kind, line.to_vec()), after_line))),
        b'$' | b'!' | b'=' => {
            let len = parse_len(line)?;
            if len < 0 {
                return Ok(Some((Frame::Bulk(kind, None), after_line)));
            }
            let end = after_line + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(format!("bulk of length {len} not followed by CRLF"));
            }
            Ok(Some((Frame::Bulk(kind, Some(buf[after_line..end].to_vec())), end + 2)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = parse_len(line)?;
            if count < 0 {
                return Ok(Some((Frame::Aggregate(kind, None), after_line)));
            }
            let items_len = if matches!(kind, b'%' | b'|') { count as usize * 2 } else { count as usize };
            let mut items = Vec::with_capacity(items_len.min(1024));
            let mut pos = after_line;
            for _ in 0..items_len {
                let Some((item, next)) = parse_frame(buf, pos, depth + 1)? else { return Ok(None) };
                items.push(item);
                pos = next;
            }
            if kind == b'|' {
                let Some((reply, next)) = parse_frame(buf, pos, depth + 1)? else { return Ok(None) };
                return Ok(Some((Frame::Attribute(items, Box::new(reply)), next)));
            }
            Ok(Some((Frame::Aggregate(kind, Some(items)), pos)))
        }
        other => Err(format!("unknown RESP type byte {:?}", other as char)),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|i| from + i)
}

fn parse_len(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&n| n >= -1)
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(line)))
}

/// Renders bytes for humans: printable ASCII as is, CR and LF as `\r` and
/// `\n`, anything else as `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[test]
fn frame_len_knows_frame_boundaries() {
    let cases: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR x\r\n",
        b":-12\r\n",
        b"$-1\r\n",
        b"$0\r\n\r\n",
        b"$5\r\na\r\nbc\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
        b"%1\r\n+k\r\n,1.5\r\n",
        b"~2\r\n#t\r\n_\r\n",
        b">2\r\n+message\r\n(123\r\n",
        b"=8\r\ntxt:abcd\r\n",
        b"!3\r\nerr\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$1\r\nx\r\n",
    ];
    for &frame in cases {
        let mut buf = frame.to_vec();
        buf.extend_from_slice(b"+NEXT\r\n");
        assert_eq!(frame_len(&buf), Ok(Some(frame.len())), "frame {}", escape(frame));
        for cut in 0..frame.len() {
            assert_eq!(frame_len(&frame[..cut]), Ok(None), "frame {} cut at {cut}", escape(frame));
        }
        let (parsed, _) = Frame::parse(frame).unwrap().unwrap();
        let mut encoded = Vec::new();
        parsed.encode(&mut encoded);
        assert_eq!(escape(&encoded), escape(frame));
    }
    assert!(frame_len(b"?x\r\n").is_err());
    assert!(frame_len(b"$3\r\nabcde\r\n").is_err());
}

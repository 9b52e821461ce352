//! Active-Active end to end: per instance a real `concord shard`, `concord
//! proxy` and `concord syncer` on loopback, clients through the proxies.
//!
//! [`Cluster`] starts and restarts the processes (kill -9, same ports and
//! directories), reads `INFO crdt`, and [`Cluster::wait_converged`] polls
//! every instance with the same read commands until all replies agree.
//! [`Relay`] is a fault-injecting TCP relay placed between a syncer and a
//! remote proxy. Every wait is bounded and fails with the replies and the
//! process logs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{concord_bin, escape, free_port, Frame, RespConn, TempDir};

/// How long a process may take to answer after a spawn.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the instances may take to agree.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(25);
/// Attempts to start a listening process; another port is tried when the
/// chosen one was taken.
const SPAWN_ATTEMPTS: usize = 3;
/// How much of each process log a failure shows.
const LOG_TAIL: usize = 3000;

// ---------------------------------------------------------------------------
// Processes

/// One child process of the cluster, restartable with the same arguments.
struct Proc {
    name: String,
    args: Vec<String>,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn new(name: String, log_path: PathBuf) -> Proc {
        Proc { name, args: Vec::new(), log_path, child: None }
    }

    /// Starts the process with `args` (remembered for [`Proc::restart`]).
    fn spawn(&mut self, args: Vec<String>) {
        self.kill9();
        self.args = args;
        let mut log = fs::OpenOptions::new().create(true).append(true).open(&self.log_path).expect("open process log");
        let _ = writeln!(log, "=== spawn concord {} ===", self.args.join(" "));
        let log_err = log.try_clone().expect("clone log handle");
        let child = Command::new(concord_bin())
            .args(&self.args)
            .env("CONCORD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.name));
        self.child = Some(child);
    }

    /// Starts it again with the same arguments.
    fn restart(&mut self) {
        let args = self.args.clone();
        self.spawn(args);
    }

    /// SIGKILL and reap.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The exit status if the process has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits at most `timeout` for the process to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        let text = fs::read(&self.log_path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let mut start = text.len().saturating_sub(LOG_TAIL);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

// ---------------------------------------------------------------------------
// Replies

/// Renders a reply compactly: `OK`, `5`, `(nil)`, `-ERR ...`, `[a, b]`.
fn render(frame: &Frame) -> String {
    match frame {
        Frame::Line(b'-', line) => format!("-{}", String::from_utf8_lossy(line)),
        Frame::Line(b'_', _) => "(nil)".into(),
        Frame::Line(_, line) => String::from_utf8_lossy(line).into_owned(),
        Frame::Bulk(_, None) | Frame::Aggregate(_, None) => "(nil)".into(),
        Frame::Bulk(_, Some(data)) => String::from_utf8_lossy(data).into_owned(),
        Frame::Aggregate(_, Some(items)) => {
            format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", "))
        }
        Frame::Attribute(_, reply) => render(reply),
    }
}

/// The items of an array reply, rendered.
fn items(frame: &Frame) -> Vec<String> {
    match frame {
        Frame::Aggregate(_, Some(items)) => items.iter().map(render).collect(),
        other => panic!("expected an array, got {}", render(other)),
    }
}

/// Sends a command and parses its reply.
fn try_call(conn: &mut RespConn, args: &[&str]) -> io::Result<Frame> {
    let raw = conn.command(args)?;
    match Frame::parse(&raw) {
        Ok(Some((frame, _))) => Ok(frame),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {}", escape(&raw)))),
    }
}

/// Long values are shown by length and hash, to keep diffs readable.
fn short(value: String) -> String {
    if value.len() <= 80 {
        return value;
    }
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    format!("<{} bytes, hash {:016x}>", value.len(), h.finish())
}

// ---------------------------------------------------------------------------
// The cluster

/// How a [`Cluster`] is started.
#[derive(Clone, Debug, Default)]
struct Opts {
    /// `--requirepass` of the shards and `--password` of the syncers.
    password: Option<String>,
    /// `--appendonly yes --appendfsync always` on the shards.
    durable: bool,
    /// Extra shard arguments.
    shard_args: Vec<String>,
    /// Do not start the syncers (the test starts them itself).
    no_syncers: bool,
}

struct Instance {
    id: u16,
    shard_port: u16,
    proxy_port: u16,
    shard: Proc,
    proxy: Proc,
    syncer: Proc,
    /// The address the syncer dials for each other instance.
    peers: BTreeMap<u16, u16>,
    /// The password the syncer is given.
    syncer_password: Option<String>,
    /// Extra syncer arguments.
    syncer_args: Vec<String>,
    // Dropped last: the processes must be gone before the directory is.
    dir: TempDir,
}

struct Cluster {
    opts: Opts,
    instances: Vec<Instance>,
}

impl Cluster {
    /// Starts `n` instances: shards, then proxies, then (unless
    /// `opts.no_syncers`) syncers, each pulling from every other proxy.
    fn start(n: u16, opts: Opts) -> Cluster {
        let members = (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let mut instances = Vec::new();
        for id in 1..=n {
            let dir = TempDir::new(&format!("concord-aa-{id}"));
            let p = |name: &str| Proc::new(format!("{name} {id}"), dir.path().join(format!("{name}.log")));
            let mut inst = Instance {
                id,
                shard_port: 0,
                proxy_port: 0,
                shard: p("shard"),
                proxy: p("proxy"),
                syncer: p("syncer"),
                peers: BTreeMap::new(),
                syncer_password: opts.password.clone(),
                syncer_args: Vec::new(),
                dir,
            };
            let data = inst.dir.path().join("data");
            let base = |port: u16| {
                let mut args: Vec<String> = ["shard", "--port", &port.to_string(), "--bind", "127.0.0.1"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                args.extend(["--dir".into(), data.display().to_string()]);
                args.extend(["--instance".into(), id.to_string(), "--members".into(), members.clone()]);
                if let Some(pw) = &opts.password {
                    args.extend(["--requirepass".into(), pw.clone()]);
                }
                if opts.durable {
                    args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
                }
                args.extend(opts.shard_args.iter().cloned());
                args
            };
            inst.shard_port = start_listening(&mut inst.shard, base);
            let shard_port = inst.shard_port;
            inst.proxy_port = start_listening(&mut inst.proxy, |port| {
                ["proxy", "--port", &port.to_string(), "--bind", "127.0.0.1", "--shard", &format!("127.0.0.1:{shard_port}")]
                    .map(String::from)
                    .to_vec()
            });
            instances.push(inst);
        }
        let ports: Vec<(u16, u16)> = instances.iter().map(|i| (i.id, i.proxy_port)).collect();
        for inst in &mut instances {
            inst.peers = ports.iter().filter(|(id, _)| *id != inst.id).copied().collect();
        }
        let mut cluster = Cluster { opts, instances };
        if !cluster.opts.no_syncers {
            for i in 1..=n {
                cluster.start_syncer(i);
            }
        }
        cluster
    }

    fn n(&self) -> u16 {
        self.instances.len() as u16
    }

    fn inst(&mut self, i: u16) -> &mut Instance {
        &mut self.instances[usize::from(i) - 1]
    }

    fn inst_ref(&self, i: u16) -> &Instance {
        &self.instances[usize::from(i) - 1]
    }

    /// (Re)starts the syncer of instance `i` with its current peers and password.
    fn start_syncer(&mut self, i: u16) {
        let inst = self.inst(i);
        let mut args: Vec<String> =
            vec!["syncer".into(), "--instance".into(), i.to_string(), "--shard".into(), format!("127.0.0.1:{}", inst.shard_port)];
        for (peer, port) in &inst.peers {
            args.extend(["--peer".into(), format!("{peer}=127.0.0.1:{port}")]);
        }
        if let Some(pw) = &inst.syncer_password {
            args.extend(["--password".into(), pw.clone()]);
        }
        args.extend(inst.syncer_args.iter().cloned());
        inst.syncer.spawn(args);
    }

    fn kill_syncer(&mut self, i: u16) {
        self.inst(i).syncer.kill9();
    }

    fn kill_all_syncers(&mut self) {
        for i in 1..=self.n() {
            self.kill_syncer(i);
        }
    }

    fn start_all_syncers(&mut self) {
        for i in 1..=self.n() {
            self.start_syncer(i);
        }
    }

    /// kill -9 the shard of `i` and start it again on the same port and directory.
    fn restart_shard(&mut self, i: u16) {
        let inst = self.inst(i);
        inst.shard.kill9();
        inst.shard.restart();
        let port = inst.shard_port;
        self.wait_answers(i, port, "shard");
    }

    /// kill -9 the proxy of `i` and start it again on the same port.
    fn restart_proxy(&mut self, i: u16) {
        let inst = self.inst(i);
        inst.proxy.kill9();
        inst.proxy.restart();
        let port = inst.proxy_port;
        self.wait_answers(i, port, "proxy");
    }

    fn wait_answers(&mut self, i: u16, port: u16, what: &str) {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !answers_ping(port) {
            let proc = if what == "shard" { &mut self.inst(i).shard } else { &mut self.inst(i).proxy };
            if let Some(status) = proc.exited() {
                panic!("{what} {i} exited with {status} after a restart\n{}", self.logs());
            }
            if Instant::now() >= deadline {
                panic!("{what} {i} did not answer on port {port} within {READY_TIMEOUT:?}\n{}", self.logs());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client connection to the endpoint (proxy) of instance `i`.
    fn try_client(&self, i: u16) -> io::Result<RespConn> {
        self.connect_port(self.inst_ref(i).proxy_port)
    }

    fn connect_port(&self, port: u16) -> io::Result<RespConn> {
        let mut conn = RespConn::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        conn.set_timeout(Duration::from_secs(3));
        if let Some(pw) = &self.opts.password {
            let reply = try_call(&mut conn, &["AUTH", pw])?;
            if render(&reply) != "OK" {
                return Err(io::Error::other(format!("AUTH: {}", render(&reply))));
            }
        }
        Ok(conn)
    }

    /// Runs one command at the endpoint of instance `i`; panics on I/O errors.
    fn cmd(&self, i: u16, args: &[&str]) -> String {
        render(&self.cmd_frame(i, args))
    }

    fn cmd_frame(&self, i: u16, args: &[&str]) -> Frame {
        let result = self.try_client(i).and_then(|mut c| try_call(&mut c, args));
        result.unwrap_or_else(|e| panic!("{args:?} at instance {i}: {e}\n{}", self.logs()))
    }

    /// Runs one command directly at the shard of instance `i`.
    fn shard_cmd(&self, i: u16, args: &[&str]) -> String {
        let result = self.connect_port(self.inst_ref(i).shard_port).and_then(|mut c| try_call(&mut c, args));
        render(&result.unwrap_or_else(|e| panic!("{args:?} at shard {i}: {e}\n{}", self.logs())))
    }

    /// `INFO crdt` of the shard of instance `i`, as field → value.
    fn info_crdt(&self, i: u16) -> HashMap<String, String> {
        self.info(i, "crdt")
    }

    fn info(&self, i: u16, section: &str) -> HashMap<String, String> {
        self.shard_cmd(i, &["INFO", section])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }

    /// A numeric `INFO crdt` field.
    fn crdt_stat(&self, i: u16, field: &str) -> u64 {
        let info = self.info_crdt(i);
        let v = info.get(field).unwrap_or_else(|| panic!("no {field} in INFO crdt of {i}: {info:?}"));
        v.parse().unwrap_or_else(|_| panic!("{field}={v} is not a number"))
    }

    /// `applied_offset` of `crdt_replica_<peer>` at instance `i` (-1: never).
    fn applied_offset(&self, i: u16, peer: u16) -> i64 {
        let info = self.info_crdt(i);
        let line = info.get(&format!("crdt_replica_{peer}")).unwrap_or_else(|| panic!("no crdt_replica_{peer}: {info:?}"));
        line.split(',')
            .find_map(|kv| kv.strip_prefix("applied_offset="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no applied_offset in {line}"))
    }

    /// The counters of every instance, for before/after comparisons.
    fn stats(&self, field: &str) -> Vec<u64> {
        (1..=self.n()).map(|i| self.crdt_stat(i, field)).collect()
    }

    /// Everything a client can read at instance `i`, one line per key.
    fn read_state(&self, i: u16) -> io::Result<Vec<String>> {
        let mut c = self.try_client(i)?;
        let mut keys = items(&try_call(&mut c, &["KEYS", "*"])?);
        keys.sort();
        let mut out = Vec::new();
        for key in &keys {
            let kind = render(&try_call(&mut c, &["TYPE", key])?);
            let value = match kind.as_str() {
                "string" => render(&try_call(&mut c, &["GET", key])?),
                "hash" => {
                    let flat = items(&try_call(&mut c, &["HGETALL", key])?);
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    format!("{pairs:?}")
                }
                "set" => {
                    let mut members = items(&try_call(&mut c, &["SMEMBERS", key])?);
                    members.sort();
                    format!("{members:?}")
                }
                "zset" => render(&try_call(&mut c, &["ZRANGE", key, "0", "-1", "WITHSCORES"])?),
                "list" => render(&try_call(&mut c, &["LRANGE", key, "0", "-1"])?),
                "stream" => render(&try_call(&mut c, &["XRANGE", key, "-", "+"])?),
                _ => String::new(),
            };
            let pttl: i64 = render(&try_call(&mut c, &["PTTL", key])?).parse().unwrap_or(-3);
            let ttl = if pttl > 0 { "ttl".to_string() } else { pttl.to_string() };
            out.push(format!("{key} {kind} {} {ttl}", short(value)));
        }
        Ok(out)
    }

    /// Polls until every instance gives the same replies twice in a row;
    /// returns them. Panics after `timeout` with the replies and the logs.
    fn wait_converged(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut previous: Option<Vec<String>> = None;
        loop {
            let states: Vec<io::Result<Vec<String>>> = (1..=self.n()).map(|i| self.read_state(i)).collect();
            let first = states[0].as_ref().ok();
            let agree = first.is_some() && states.iter().all(|s| s.as_ref().ok() == first);
            if agree {
                let state = first.cloned().unwrap_or_default();
                if previous.as_ref() == Some(&state) {
                    return state;
                }
                previous = Some(state);
            } else {
                previous = None;
            }
            if Instant::now() >= deadline {
                let mut report = String::new();
                for (i, s) in states.iter().enumerate() {
                    let _ = writeln!(report, "--- instance {} ---", i + 1);
                    match s {
                        Err(e) => {
                            let _ = writeln!(report, "error: {e}");
                        }
                        Ok(lines) => {
                            for line in lines {
                                let marker = match &states[0] {
                                    Ok(base) if i > 0 && !base.contains(line) => "+ ",
                                    _ => "  ",
                                };
                                let _ = writeln!(report, "{marker}{line}");
                            }
                            if let (Ok(base), true) = (&states[0], i > 0) {
                                for line in base.iter().filter(|l| !lines.contains(l)) {
                                    let _ = writeln!(report, "- {line}");
                                }
                            }
                        }
                    }
                }
                panic!("instances did not converge within {timeout:?}\n{report}\n{}", self.logs());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every instance reports `max_ops_lag:0` (every peer
    /// announced having seen all of its data effects), as at rest.
    fn wait_no_ops_lag(&self) {
        self.wait_until("max_ops_lag 0 at every instance", Duration::from_secs(10), || {
            self.stats("max_ops_lag").iter().all(|&lag| lag == 0).then_some(())
        });
    }

    /// Polls `f` until it returns `Some`; panics after `timeout`.
    fn wait_until<T>(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}\n{}", self.logs());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The tail of every process log.
    fn logs(&self) -> String {
        let mut out = String::new();
        for inst in &self.instances {
            for p in [&inst.shard, &inst.proxy, &inst.syncer] {
                let _ = writeln!(out, "----- {} log (tail) -----\n{}", p.name, p.log());
            }
        }
        out
    }
}

/// Whether something on `port` answers PING with a whole reply.
fn answers_ping(port: u16) -> bool {
    let Ok(mut conn) = RespConn::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) else { return false };
    conn.set_timeout(Duration::from_millis(500));
    conn.command(&["PING"]).is_ok()
}

/// Starts a listening process on a free port, retrying on another port when
/// the process exits before answering (the port was taken meanwhile).
fn start_listening(proc: &mut Proc, args: impl Fn(u16) -> Vec<String>) -> u16 {
    let mut failures = String::new();
    for _ in 0..SPAWN_ATTEMPTS {
        let port = free_port();
        proc.spawn(args(port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if answers_ping(port) {
                return port;
            }
            if let Some(status) = proc.exited() {
                let _ = writeln!(failures, "port {port}: exited with {status}");
                break;
            }
            if Instant::now() >= deadline {
                let _ = writeln!(failures, "port {port}: no answer within {READY_TIMEOUT:?}");
                proc.kill9();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("{} did not start: {failures}\n{}", proc.name, proc.log());
}

// ---------------------------------------------------------------------------
// Write load with acknowledged-write accounting

/// What one writer thread did.
#[derive(Debug, Default)]
struct LoadReport {
    /// INCR replies received.
    incr_acked: u64,
    /// INCRs sent without a reply (may or may not have been applied).
    incr_unknown: u64,
    /// SADD members whose reply was received.
    members_acked: Vec<String>,
    /// SADD members sent without a reply.
    members_unknown: Vec<String>,
    /// Connection failures seen (the faults reached the clients).
    reconnects: u64,
    /// Error replies (the proxy could not reach its shard).
    refusals: u64,
}

/// A thread per instance doing INCR `ctr` and SADD `members` of unique
/// members through the instance's endpoint, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<LoadReport>>,
    ops: Arc<AtomicU64>,
}

impl Load {
    fn start(cluster: &Cluster) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let threads = cluster
            .instances
            .iter()
            .map(|inst| {
                let (id, port, pw) = (inst.id, inst.proxy_port, cluster.opts.password.clone());
                let (stop, ops) = (stop.clone(), ops.clone());
                thread::spawn(move || load_thread(id, port, pw, &stop, &ops))
            })
            .collect();
        Load { stop, threads, ops }
    }

    /// Waits until `more` further writes were acknowledged (all threads
    /// together), so that every phase of a test runs under load.
    fn wait_ops(&self, cluster: &Cluster, more: u64) {
        let target = self.ops.load(Ordering::Relaxed) + more;
        cluster.wait_until(&format!("{more} more acknowledged writes"), Duration::from_secs(20), || {
            (self.ops.load(Ordering::Relaxed) >= target).then_some(())
        });
    }

    fn stop(self) -> Vec<LoadReport> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().expect("load thread panicked")).collect()
    }
}

fn load_thread(id: u16, port: u16, password: Option<String>, stop: &AtomicBool, ops: &AtomicU64) -> LoadReport {
    let mut report = LoadReport::default();
    let mut conn: Option<RespConn> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect_load(port, password.as_deref()) {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        n += 1;
        let incr = n.is_multiple_of(2);
        let member = format!("m{id}-{n}");
        let reply = if incr { try_call(c, &["INCR", "ctr"]) } else { try_call(c, &["SADD", "members", &member]) };
        match reply {
            Ok(Frame::Line(b':', v)) if incr || v == b"1" => {
                if incr {
                    report.incr_acked += 1;
                } else {
                    report.members_acked.push(member);
                }
                ops.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(2));
                continue;
            }
            Ok(other) => {
                // An error reply: the connection works, the shard behind it does not.
                refused(id, &other, &mut report);
                thread::sleep(Duration::from_millis(20));
            }
            Err(_) => {
                report.reconnects += 1;
                conn = None;
            }
        }
        if incr {
            report.incr_unknown += 1;
        } else {
            report.members_unknown.push(member);
        }
    }
    report
}

fn connect_load(port: u16, password: Option<&str>) -> io::Result<RespConn> {
    let mut c = RespConn::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    c.set_timeout(Duration::from_secs(3));
    if let Some(pw) = password {
        let r = try_call(&mut c, &["AUTH", pw])?;
        if render(&r) != "OK" {
            return Err(io::Error::other(render(&r)));
        }
    }
    Ok(c)
}

/// An error reply to a load write: only "the shard is down" is expected
/// (the proxy answers that while its shard restarts).
fn refused(id: u16, reply: &Frame, report: &mut LoadReport) {
    let text = render(reply);
    assert!(
        text.starts_with("-") && (text.contains("unreachable") || text.starts_with("-LOADING")),
        "unexpected reply to a write at {id}: {text}"
    );
    report.refusals += 1;
}

/// Asserts that the converged state holds every acknowledged write of the
/// load, at every instance, and nothing that was never sent.
fn assert_no_acknowledged_write_lost(cluster: &Cluster, reports: &[LoadReport]) {
    let acked: u64 = reports.iter().map(|r| r.incr_acked).sum();
    let unknown: u64 = reports.iter().map(|r| r.incr_unknown).sum();
    let acked_members: BTreeSet<&String> = reports.iter().flat_map(|r| &r.members_acked).collect();
    let sent_members: BTreeSet<&String> =
        reports.iter().flat_map(|r| r.members_acked.iter().chain(&r.members_unknown)).collect();
    assert!(acked > 0 && !acked_members.is_empty(), "the load wrote nothing: {reports:?}");
    for i in 1..=cluster.n() {
        let ctr: u64 = cluster.cmd(i, &["GET", "ctr"]).parse().expect("ctr is a number");
        assert!(
            ctr >= acked && ctr <= acked + unknown,
            "instance {i}: ctr = {ctr}, but {acked} INCRs were acknowledged and {unknown} unanswered"
        );
        let members = items(&cluster.cmd_frame(i, &["SMEMBERS", "members"]));
        let members: BTreeSet<&String> = members.iter().collect();
        let lost: Vec<_> = acked_members.difference(&members).collect();
        assert!(lost.is_empty(), "instance {i} lost acknowledged SADDs: {lost:?}");
        let invented: Vec<_> = members.difference(&sent_members).collect();
        assert!(invented.is_empty(), "instance {i} has members never sent: {invented:?}");
    }
}

// ---------------------------------------------------------------------------
// A fault-injecting TCP relay

/// One relayed connection: the downstream (syncer) and upstream (proxy) sockets.
struct Link {
    down: TcpStream,
    up: TcpStream,
    dead: AtomicBool,
    stalled: AtomicBool,
}

#[derive(Default)]
struct RelayState {
    closing: AtomicBool,
    links: Mutex<Vec<Arc<Link>>>,
    accepted: AtomicU64,
}

/// A TCP relay on 127.0.0.1 that forwards to `upstream` and can cut,
/// stall and reset the connections it carries.
struct Relay {
    port: u16,
    state: Arc<RelayState>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind relay");
        let port = listener.local_addr().expect("relay addr").port();
        let state = Arc::new(RelayState::default());
        let st = state.clone();
        let acceptor = thread::spawn(move || {
            for down in listener.incoming() {
                if st.closing.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(down) = down else { continue };
                let Ok(up) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else { continue };
                let _ = down.set_nodelay(true);
                let _ = up.set_nodelay(true);
                let link = Arc::new(Link { down, up, dead: AtomicBool::new(false), stalled: AtomicBool::new(false) });
                st.accepted.fetch_add(1, Ordering::Relaxed);
                st.links.lock().unwrap().push(link.clone());
                for down_to_up in [true, false] {
                    let link = link.clone();
                    thread::spawn(move || pump(&link, down_to_up));
                }
            }
        });
        Relay { port, state, acceptor: Some(acceptor) }
    }

    /// Connections accepted so far.
    fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }

    /// Stops (true) or resumes (false) forwarding on the connections open
    /// now; they stay open. Later connections are not stalled.
    fn stall(&self, stalled: bool) {
        for link in self.state.links.lock().unwrap().iter() {
            link.stalled.store(stalled, Ordering::Relaxed);
        }
    }

    fn take_links(&self) -> Vec<Arc<Link>> {
        std::mem::take(&mut *self.state.links.lock().unwrap())
    }

    /// Closes both sides of every connection (FIN).
    fn cut(&self) {
        for link in self.take_links() {
            link.dead.store(true, Ordering::Relaxed);
            let _ = link.down.shutdown(Shutdown::Both);
            let _ = link.up.shutdown(Shutdown::Both);
        }
    }

    /// Resets every connection: SO_LINGER 0, then the sockets are closed,
    /// so both ends get a RST instead of a FIN.
    fn reset(&self) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("tokio runtime");
        let _guard = rt.enter();
        for link in self.take_links() {
            link.dead.store(true, Ordering::Relaxed);
            for sock in [&link.down, &link.up] {
                // The option belongs to the socket, shared by the clone's fd.
                if let Ok(clone) = sock.try_clone() {
                    let _ = clone.set_nonblocking(true);
                    if let Ok(t) = tokio::net::TcpStream::from_std(clone) {
                        let _ = t.set_zero_linger();
                    }
                }
            }
            // The pumps notice `dead` within their read timeout and drop
            // the last references: the close sends the RST.
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.state.closing.store(true, Ordering::Relaxed);
        self.cut();
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)); // wake the acceptor
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Forwards one direction of a link until it dies.
fn pump(link: &Link, down_to_up: bool) {
    let (mut from, mut to) = if down_to_up { (&link.down, &link.up) } else { (&link.up, &link.down) };
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 64 * 1024];
    'outer: while !link.dead.load(Ordering::Relaxed) {
        if link.stalled.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {
                continue
            }
            Err(_) => break,
        };
        // A stall that began during the read holds this chunk too.
        while link.stalled.load(Ordering::Relaxed) {
            if link.dead.load(Ordering::Relaxed) {
                break 'outer;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if link.dead.load(Ordering::Relaxed) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    if !link.dead.swap(true, Ordering::Relaxed) {
        // A side closed on its own: pass the close on.
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------
// Tests

/// One conflict scenario of spec section 1: writes made while the
/// instances are in sync, writes made concurrently (no syncer running),
/// and what every instance reads once they converged.
struct Scenario {
    name: &'static str,
    /// (instance, command), applied and synced before the concurrent writes.
    setup: &'static [(u16, &'static [&'static str])],
    /// (instance, command), applied with every syncer stopped, in order.
    concurrent: &'static [(u16, &'static [&'static str])],
    /// (command, expected reply) at every instance after convergence.
    expect: &'static [(&'static [&'static str], &'static str)],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "SET vs SET vs SET: LWW, the latest write wins",
        setup: &[],
        concurrent: &[(3, &["SET", "str", "from-3"]), (1, &["SET", "str", "from-1"]), (2, &["SET", "str", "from-2"])],
        expect: &[(&["GET", "str"], "from-2")],
    },
    Scenario {
        name: "INCRBY at 3 instances: increments sum",
        setup: &[],
        concurrent: &[(1, &["INCRBY", "cnt", "7"]), (2, &["INCRBY", "cnt", "3"]), (3, &["DECRBY", "cnt", "1"])],
        expect: &[(&["GET", "cnt"], "9")],
    },
    Scenario {
        name: "counter 10, then DECRBY 3 / INCRBY 6: 13",
        setup: &[(1, &["INCRBY", "cnt2", "7"]), (2, &["INCRBY", "cnt2", "3"])],
        concurrent: &[(1, &["DECRBY", "cnt2", "3"]), (2, &["INCRBY", "cnt2", "6"])],
        expect: &[(&["GET", "cnt2"], "13")],
    },
    Scenario {
        name: "DEL vs INCR: the unobserved increment stays",
        setup: &[(1, &["INCRBY", "delincr", "5"])],
        concurrent: &[(1, &["DEL", "delincr"]), (2, &["INCRBY", "delincr", "2"])],
        expect: &[(&["GET", "delincr"], "2")],
    },
    Scenario {
        name: "{a,b}: SREM a, SADD c, SREM c (c unseen): observed remove {b,c}",
        setup: &[(1, &["SADD", "set1", "a", "b"])],
        concurrent: &[(1, &["SREM", "set1", "a"]), (2, &["SADD", "set1", "c"]), (1, &["SREM", "set1", "c"])],
        expect: &[(&["SMEMBERS", "set1"], "[b, c]"), (&["SCARD", "set1"], "2")],
    },
    Scenario {
        name: "SREM x vs concurrent SADD x: add wins",
        setup: &[(1, &["SADD", "set2", "x", "y"])],
        concurrent: &[(1, &["SREM", "set2", "x"]), (3, &["SADD", "set2", "x"])],
        expect: &[(&["SISMEMBER", "set2", "x"], "1"), (&["SCARD", "set2"], "2")],
    },
    Scenario {
        name: "DEL set vs concurrent SADD: the new member stays, the key exists",
        setup: &[(1, &["SADD", "set3", "e1"])],
        concurrent: &[(1, &["DEL", "set3"]), (2, &["SADD", "set3", "e2"])],
        expect: &[(&["SMEMBERS", "set3"], "[e2]"), (&["EXISTS", "set3"], "1")],
    },
    Scenario {
        name: "HSET of different fields: union",
        setup: &[],
        concurrent: &[(1, &["HSET", "h1", "f1", "a"]), (2, &["HSET", "h1", "f2", "b"])],
        expect: &[(&["HGET", "h1", "f1"], "a"), (&["HGET", "h1", "f2"], "b"), (&["HLEN", "h1"], "2")],
    },
    Scenario {
        name: "HDEL vs concurrent HSET of the field: the update wins",
        setup: &[(1, &["HSET", "h2", "f", "old", "g", "1"])],
        concurrent: &[(1, &["HDEL", "h2", "f"]), (2, &["HSET", "h2", "f", "new"])],
        expect: &[(&["HGET", "h2", "f"], "new"), (&["HLEN", "h2"], "2")],
    },
    Scenario {
        name: "HINCRBY at 3 instances: increments sum",
        setup: &[],
        concurrent: &[(1, &["HINCRBY", "h3", "n", "1"]), (2, &["HINCRBY", "h3", "n", "10"]), (3, &["HINCRBY", "h3", "n", "100"])],
        expect: &[(&["HGET", "h3", "n"], "111")],
    },
    Scenario {
        name: "ZADD 1.1 then concurrent ZINCRBY 1.0 + 1.0: 3.1",
        setup: &[(1, &["ZADD", "z1", "1.1", "x"])],
        concurrent: &[(2, &["ZINCRBY", "z1", "1", "x"]), (3, &["ZINCRBY", "z1", "1", "x"])],
        expect: &[(&["ZSCORE", "z1", "x"], "3.1")],
    },
    Scenario {
        name: "{x:4.1}: ZREM x vs concurrent ZINCRBY 2: score 2, member stays",
        setup: &[(1, &["ZADD", "z2", "4.1", "x"])],
        concurrent: &[(1, &["ZREM", "z2", "x"]), (2, &["ZINCRBY", "z2", "2", "x"])],
        expect: &[(&["ZSCORE", "z2", "x"], "2"), (&["ZCARD", "z2"], "1")],
    },
    Scenario {
        name: "concurrent ZADD of one member: the later score wins",
        setup: &[],
        concurrent: &[(1, &["ZADD", "z3", "1.1", "x"]), (2, &["ZADD", "z3", "2.1", "x"])],
        expect: &[(&["ZSCORE", "z3", "x"], "2.1")],
    },
    Scenario {
        name: "list pushes at both ends: every element kept, heads before tails",
        setup: &[(1, &["RPUSH", "l1", "mid"])],
        concurrent: &[(1, &["LPUSH", "l1", "h1"]), (2, &["RPUSH", "l1", "t2"]), (3, &["LPUSH", "l1", "h3"])],
        expect: &[(&["LLEN", "l1"], "4"), (&["LINDEX", "l1", "2"], "mid"), (&["LINDEX", "l1", "3"], "t2")],
    },
    Scenario {
        name: "DEL list vs concurrent LPUSH: only observed elements removed",
        setup: &[(1, &["RPUSH", "l2", "x"])],
        concurrent: &[(1, &["DEL", "l2"]), (2, &["LPUSH", "l2", "y"])],
        expect: &[(&["LRANGE", "l2", "0", "-1"], "[y]")],
    },
    Scenario {
        name: "EXPIRE vs PERSIST: PERSIST wins",
        setup: &[(1, &["SET", "e1", "v"]), (1, &["EXPIRE", "e1", "1000"])],
        concurrent: &[(1, &["PERSIST", "e1"]), (2, &["EXPIRE", "e1", "500"])],
        expect: &[(&["TTL", "e1"], "-1"), (&["GET", "e1"], "v")],
    },
    Scenario {
        name: "EXPIRE 1000 vs EXPIRE 5000: the longer TTL wins",
        setup: &[(1, &["SET", "e2", "v"])],
        concurrent: &[(1, &["EXPIRE", "e2", "5000"]), (2, &["EXPIRE", "e2", "1000"])],
        expect: &[(&["EXPIRETIME_GT", "e2", "4000"], "1")],
    },
    Scenario {
        name: "SET vs SADD vs HSET: one type survives everywhere (the latest)",
        setup: &[],
        concurrent: &[(1, &["SET", "tc", "v"]), (2, &["SADD", "tc", "m"]), (3, &["HSET", "tc", "f", "v"])],
        expect: &[(&["TYPE", "tc"], "hash"), (&["HGETALL", "tc"], "[f, v]"), (&["EXISTS", "tc"], "1")],
    },
    Scenario {
        name: "SETBIT vs SETBIT on one string: a bitfield is an LWW register (the latest)",
        setup: &[(1, &["SET", "bits", "\u{0}"])],
        concurrent: &[(1, &["SETBIT", "bits", "1", "1"]), (2, &["SETBIT", "bits", "7", "1"])],
        expect: &[(&["GETBIT", "bits", "7"], "1"), (&["GETBIT", "bits", "1"], "0"), (&["BITCOUNT", "bits"], "1")],
    },
    Scenario {
        name: "PFADD at two instances: the registers merge (union)",
        setup: &[],
        concurrent: &[(1, &["PFADD", "hll1", "a", "b", "c"]), (2, &["PFADD", "hll1", "c", "d"])],
        expect: &[(&["PFCOUNT", "hll1"], "4")],
    },
    Scenario {
        name: "DEL vs PFADD on a HyperLogLog: DEL wins",
        setup: &[(1, &["PFADD", "hll2", "a", "b"])],
        concurrent: &[(1, &["DEL", "hll2"]), (2, &["PFADD", "hll2", "z"])],
        expect: &[(&["EXISTS", "hll2"], "0"), (&["PFCOUNT", "hll2"], "0")],
    },
    Scenario {
        name: "GEOADD of one member at two instances: the later position wins; other members merge",
        setup: &[],
        concurrent: &[
            (1, &["GEOADD", "geo", "13.361389", "38.115556", "palermo"]),
            (2, &["GEOADD", "geo", "15.087269", "37.502669", "catania"]),
            (3, &["GEOADD", "geo", "13.361389", "38.115556", "shared"]),
            (2, &["GEOADD", "geo", "15.087269", "37.502669", "shared"]),
        ],
        expect: &[
            (&["ZCARD", "geo"], "3"),
            (&["GEODIST", "geo", "shared", "catania", "km"], "0.0000"),
            (&["GEODIST", "geo", "palermo", "catania", "km"], "166.2742"),
        ],
    },
    Scenario {
        name: "UNLINK vs HSET of a new field: observed remove, the new field survives",
        setup: &[(1, &["HSET", "uh", "old", "1"])],
        concurrent: &[(1, &["UNLINK", "uh"]), (2, &["HSET", "uh", "new", "2"])],
        expect: &[(&["HGETALL", "uh"], "[new, 2]")],
    },
    Scenario {
        name: "XADD ms-only ids at 3 instances: seq tagged with the instance; strict refuses full ids",
        setup: &[],
        concurrent: &[(1, &["XADD", "xid", "110", "f", "a"]), (2, &["XADD", "xid", "115", "f", "b"]), (3, &["XADD", "xid", "110", "f", "c"])],
        expect: &[
            (&["XRANGE", "xid", "-", "+"], "[[110-1, [f, a]], [110-3, [f, c]], [115-2, [f, b]]]"),
            (
                &["XADD", "xid", "200-5", "f", "v"],
                "-ERR crdt-xadd-id-uniqueness-mode is strict: XADD takes * or a milliseconds-only ID (MS), not MS-SEQ",
            ),
        ],
    },
    Scenario {
        name: "DEL of a stream vs XADD: only the new entry remains",
        setup: &[(1, &["XADD", "xdel", "100", "f", "old"])],
        concurrent: &[(1, &["DEL", "xdel"]), (2, &["XADD", "xdel", "200", "f", "new"])],
        expect: &[(&["XRANGE", "xdel", "-", "+"], "[[200-2, [f, new]]]"), (&["TYPE", "xdel"], "stream")],
    },
    Scenario {
        name: "DEL of a stream vs XGROUP CREATE elsewhere: delete wins for the group, entries observed-remove",
        setup: &[(1, &["XADD", "xg", "100", "f", "a"]), (1, &["XGROUP", "CREATE", "xg", "g1", "0"])],
        concurrent: &[(1, &["DEL", "xg"]), (2, &["XGROUP", "CREATE", "xg", "g2", "0"]), (3, &["XADD", "xg", "300", "f", "c"])],
        expect: &[(&["XINFO", "GROUPS", "xg"], "[]"), (&["XRANGE", "xg", "-", "+"], "[[300-3, [f, c]]]")],
    },
    Scenario {
        name: "XGROUP DESTROY vs a same-named CREATE at a third instance: delete wins",
        setup: &[(1, &["XADD", "xd", "100", "f", "a"]), (1, &["XGROUP", "CREATE", "xd", "g", "0"])],
        concurrent: &[
            (2, &["XGROUP", "DESTROY", "xd", "g"]),
            (3, &["XGROUP", "DESTROY", "xd", "g"]),
            (3, &["XGROUP", "CREATE", "xd", "g", "0"]),
        ],
        expect: &[(&["XINFO", "GROUPS", "xd"], "[]"), (&["XLEN", "xd"], "1")],
    },
    Scenario {
        name: "XACK 110 and 130 while 120 pending: only the acked prefix (110) is replicated",
        setup: &[
            (1, &["XADD", "xa", "110", "f", "a"]),
            (1, &["XADD", "xa", "120", "f", "b"]),
            (1, &["XADD", "xa", "130", "f", "c"]),
            (1, &["XGROUP", "CREATE", "xa", "g", "0"]),
        ],
        concurrent: &[
            (1, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "xa", ">"]),
            (2, &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "xa", ">"]),
            (1, &["XACK", "xa", "g", "110-1", "130-1"]),
        ],
        expect: &[(&["XLEN", "xa"], "3")],
    },
];

/// Runs an expectation; `EXPIRETIME_GT key secs` asserts TTL > secs.
fn check(cluster: &Cluster, i: u16, cmd: &[&str]) -> String {
    if cmd[0] == "EXPIRETIME_GT" {
        let ttl: i64 = cluster.cmd(i, &["TTL", cmd[1]]).parse().unwrap_or(-3);
        return if ttl > cmd[2].parse::<i64>().unwrap() { "1".into() } else { format!("TTL {ttl}") };
    }
    let reply = cluster.cmd(i, cmd);
    if cmd[0] == "ZSCORE" {
        // 17 significant digits, as Redis prints them (3.1000000000000001).
        return reply.parse::<f64>().map_or(reply, |f| f.to_string());
    }
    if matches!(cmd[0], "SMEMBERS" | "HGETALL") {
        // Unordered replies: compare sorted.
        let mut v: Vec<String> = reply.trim_matches(['[', ']']).split(", ").map(String::from).collect();
        if cmd[0] == "SMEMBERS" {
            v.sort();
            return format!("[{}]", v.join(", "));
        }
        let mut pairs: Vec<String> = v.chunks(2).map(|p| p.join(", ")).collect();
        pairs.sort();
        return format!("[{}]", pairs.join(", "));
    }
    reply
}

#[test]
fn conflict_scenarios_converge_to_the_spec_values_across_3_instances() {
    let mut cluster = Cluster::start(3, Opts::default());
    // Setup writes, synced everywhere (they are causally before what follows).
    for s in SCENARIOS {
        for (i, cmd) in s.setup {
            let reply = cluster.cmd_frame(*i, cmd);
            assert!(!matches!(reply, Frame::Line(b'-', _)), "{}: setup {cmd:?} at {i}: {}", s.name, render(&reply));
        }
    }
    cluster.wait_converged(CONVERGE_TIMEOUT);
    // Concurrent writes: no syncer runs, so no instance sees another's write.
    cluster.kill_all_syncers();
    for s in SCENARIOS {
        for (i, cmd) in s.concurrent {
            let reply = cluster.cmd_frame(*i, cmd);
            assert!(!matches!(reply, Frame::Line(b'-', _)), "{}: {cmd:?} at {i}: {}", s.name, render(&reply));
            // Distinct wall-clock times, so that "later" is well defined.
            thread::sleep(Duration::from_millis(3));
        }
    }
    // Still diverged: each instance holds only its own writes.
    assert_eq!(cluster.cmd(3, &["GET", "str"]), "from-3");
    assert_eq!(cluster.cmd(3, &["GET", "cnt"]), "-1");
    cluster.start_all_syncers();
    cluster.wait_converged(CONVERGE_TIMEOUT);
    let mut failures = Vec::new();
    for s in SCENARIOS {
        for (cmd, expected) in s.expect {
            for i in 1..=3 {
                let got = check(&cluster, i, cmd);
                if got != *expected {
                    failures.push(format!("{}: {cmd:?} at instance {i} = {got:?}, expected {expected:?}", s.name));
                }
            }
        }
    }
    // Pushes at both ends: both heads come before `mid`, in one order everywhere.
    let list = cluster.cmd(1, &["LRANGE", "l1", "0", "1"]);
    if list != "[h1, h3]" && list != "[h3, h1]" {
        failures.push(format!("l1 heads at instance 1 = {list}"));
    }
    assert!(failures.is_empty(), "scenarios not as the spec says:\n{}", failures.join("\n"));
    // XACK hold-back (spec 1.10): instance 1 acked 110 and 130 with 120
    // pending, so only an XACK covering 110 reached instance 2, whose own
    // reads of the group (local PEL) keep 120 and 130 pending.
    let pending2 = || cluster.cmd(2, &["XPENDING", "xa", "g"]);
    assert_eq!(pending2(), "[2, 120-1, 130-1, [[c, 2]]]", "instance 2's PEL after instance 1's XACK 110 130");
    assert_eq!(cluster.cmd(1, &["XACK", "xa", "g", "120-1"]), "1");
    // Now every id read up to 130 is acked at 1: an XACK covering 130 is sent.
    cluster.wait_until("instance 2's PEL emptied by the XACK covering 130", CONVERGE_TIMEOUT, || {
        (pending2() == "[0, (nil), (nil), (nil)]").then_some(())
    });
    // Spec 1.16: clients cannot flush an Active-Active database.
    for i in 1..=3 {
        for flush in ["FLUSHALL", "FLUSHDB"] {
            let reply = cluster.cmd(i, &[flush]);
            assert!(reply.starts_with("-ERR"), "{flush} at instance {i} answered {reply}");
        }
        assert_ne!(cluster.cmd(i, &["DBSIZE"]), "0", "a refused flush emptied instance {i}");
    }
    // Each instance served exactly the initial full sync to each other instance.
    assert_eq!(cluster.stats("crdt_sync_full"), vec![2, 2, 2], "restarting syncers took a full sync");
    cluster.wait_no_ops_lag();
}

#[test]
fn kill_9_of_syncer_shard_and_proxy_under_load_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3, Opts { durable: true, ..Opts::default() });
    for i in 1..=3 {
        cluster.cmd(i, &["SET", &format!("ready{i}"), "1"]);
    }
    cluster.wait_converged(CONVERGE_TIMEOUT); // every link did its initial sync
    let full_before = cluster.stats("crdt_sync_full");
    let partial_before = cluster.stats("crdt_sync_partial_ok");
    assert_eq!(full_before, vec![2, 2, 2]);

    let load = Load::start(&cluster);
    load.wait_ops(&cluster, 300);
    cluster.kill_syncer(1);
    load.wait_ops(&cluster, 200);
    cluster.start_syncer(1);
    load.wait_ops(&cluster, 300);
    cluster.restart_shard(2);
    load.wait_ops(&cluster, 300);
    cluster.restart_proxy(3);
    load.wait_ops(&cluster, 300);
    let reports = load.stop();

    cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_no_acknowledged_write_lost(&cluster, &reports);
    cluster.wait_no_ops_lag();
    assert!(
        reports[1].reconnects + reports[1].refusals > 0,
        "the shard kill did not reach the clients of instance 2"
    );
    assert!(reports[2].reconnects > 0, "the proxy kill did not reach the clients of instance 3");

    let full_after = cluster.stats("crdt_sync_full");
    let partial_after = cluster.stats("crdt_sync_partial_ok");
    // Shard 2 restarted, so its counters restarted from 0.
    assert_eq!(full_after, vec![full_before[0], 0, full_before[2]], "a kill caused a full sync");
    assert_eq!(cluster.stats("crdt_sync_partial_err"), vec![0, 0, 0]);
    assert!(partial_after[0] > partial_before[0], "no partial sync at 1: {partial_before:?} -> {partial_after:?}");
    assert!(partial_after[1] >= 2, "the syncers of 1 and 3 did not resume at 2: {partial_after:?}");
    assert!(partial_after[2] >= partial_before[2] + 3, "restarts should resume at 3: {partial_before:?} -> {partial_after:?}");
}

#[test]
fn relay_faults_cut_stall_reset_then_convergence() {
    let mut cluster = Cluster::start(2, Opts { no_syncers: true, ..Opts::default() });
    // Both directions go through a relay: syncer 1 -> proxy 2, syncer 2 -> proxy 1.
    let relay_12 = Relay::start(cluster.inst_ref(2).proxy_port);
    let relay_21 = Relay::start(cluster.inst_ref(1).proxy_port);
    cluster.inst(1).peers.insert(2, relay_12.port);
    cluster.inst(2).peers.insert(1, relay_21.port);
    // One direction compressed (the default, 3), the other not.
    cluster.inst(2).syncer_args = vec!["--compression".into(), "0".into()];
    cluster.start_all_syncers();
    cluster.cmd(1, &["SET", "ready1", "1"]);
    cluster.cmd(2, &["SET", "ready2", "1"]);
    cluster.wait_converged(CONVERGE_TIMEOUT);
    let relays = [&relay_12, &relay_21];
    assert!(relays.iter().all(|r| r.accepted() == 1));

    let load = Load::start(&cluster);
    load.wait_ops(&cluster, 200);

    // Stall: the stream from 2 stops reaching 1 while 2 keeps writing.
    for r in relays {
        r.stall(true);
    }
    load.wait_ops(&cluster, 100);
    let held = cluster.applied_offset(1, 2);
    load.wait_ops(&cluster, 300);
    assert_eq!(cluster.applied_offset(1, 2), held, "a stalled relay still delivered the stream");
    for r in relays {
        r.stall(false);
    }
    cluster.wait_until("the stream to flow again after the stall", Duration::from_secs(10), || {
        (cluster.applied_offset(1, 2) > held).then_some(())
    });
    assert!(relays.iter().all(|r| r.accepted() == 1), "a 1 s stall should not drop the connection");

    // Cut (FIN on both sides), then reset (RST), each twice.
    for round in 0..2 {
        for (fault, name) in [(Relay::cut as fn(&Relay), "cut"), (Relay::reset, "reset")] {
            load.wait_ops(&cluster, 150);
            let before: Vec<u64> = relays.iter().map(|r| r.accepted()).collect();
            for r in relays {
                fault(r);
            }
            cluster.wait_until(&format!("syncers to reconnect after {name} {round}"), Duration::from_secs(15), || {
                relays.iter().zip(&before).all(|(r, b)| r.accepted() > *b).then_some(())
            });
        }
    }
    // A long stall of the 2 -> 1 stream: a connection that stays open but
    // carries nothing (not even the shard's PINGs) is dropped by the syncer
    // after its silence limit (15 s) and replaced.
    let before = relay_12.accepted();
    relay_12.stall(true);
    cluster.wait_until("syncer 1 to replace a silent connection", Duration::from_secs(25), || {
        (relay_12.accepted() > before).then_some(())
    });
    relay_12.stall(false);
    load.wait_ops(&cluster, 200);
    let reports = load.stop();
    cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_no_acknowledged_write_lost(&cluster, &reports);
    assert_eq!(cluster.stats("crdt_sync_full"), vec![1, 1], "a connection fault caused a full sync");
    assert_eq!(cluster.stats("crdt_sync_partial_err"), vec![0, 0]);
    assert!(cluster.stats("crdt_sync_partial_ok").iter().all(|&n| n >= 4), "reconnects resume partially");
}

#[test]
fn backlog_overflow_during_a_long_cut_takes_one_full_sync_then_partial_again() {
    // A small backlog if the shard honours `repl-backlog-size` from --config;
    // the test reads the size in effect and overflows that either way.
    let conf_dir = TempDir::new("concord-aa-conf");
    let conf = conf_dir.path().join("shard.conf");
    fs::write(&conf, "repl-backlog-size 64kb\ncrdt-repl-backlog-size 64kb\n").unwrap();
    let opts = Opts { shard_args: vec!["--config".into(), conf.display().to_string()], ..Opts::default() };
    let mut cluster = Cluster::start(2, opts);
    cluster.cmd(1, &["SET", "ready1", "1"]);
    cluster.cmd(2, &["SET", "ready2", "1"]);
    cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_eq!(cluster.stats("crdt_sync_full"), vec![1, 1]);
    let backlog: u64 = cluster.info(1, "replication")["repl_backlog_size"].parse().unwrap();

    // The syncer of 2 (pulling from 1) is down while 1 writes more than its backlog holds.
    cluster.kill_syncer(2);
    let stale = cluster.applied_offset(2, 1);
    let value = "v".repeat(16 * 1024);
    let keys = (backlog * 2 / value.len() as u64 + 1) as usize;
    {
        let mut c = cluster.try_client(1).unwrap();
        for k in 0..keys {
            c.send_command(&["SET", &format!("big{k}"), &value]).unwrap();
        }
        for _ in 0..keys {
            assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
        }
    }
    cluster.cmd(2, &["SET", "during-cut-at-2", "1"]);
    let first: i64 = cluster.info(1, "replication")["repl_backlog_first_byte_offset"].parse().unwrap();
    assert!(first > stale, "the backlog of 1 (from {first}) still holds offset {stale}: nothing overflowed");

    cluster.start_syncer(2);
    let state = cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_eq!(state.iter().filter(|l| l.starts_with("big")).count(), keys);
    assert_eq!(cluster.stats("crdt_sync_full"), vec![2, 1], "exactly one full sync, served by 1");
    assert_eq!(cluster.crdt_stat(1, "crdt_sync_partial_err"), 1, "the impossible partial sync is counted");

    // Later interruptions are partial syncs again.
    let partial = cluster.crdt_stat(1, "crdt_sync_partial_ok");
    cluster.kill_syncer(2);
    cluster.cmd(1, &["SET", "after", "1"]);
    cluster.cmd(1, &["INCRBY", "after-ctr", "3"]);
    cluster.start_syncer(2);
    cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_eq!(cluster.cmd(2, &["GET", "after-ctr"]), "3");
    assert_eq!(cluster.stats("crdt_sync_full"), vec![2, 1], "a short cut took a full sync");
    assert_eq!(cluster.crdt_stat(1, "crdt_sync_partial_ok"), partial + 1);
}

#[test]
fn wrong_password_exits_4_then_stopped_state_then_partial_resume() {
    let pw = "s3cret";
    let mut cluster = Cluster::start(3, Opts { password: Some(pw.into()), ..Opts::default() });
    for i in 1..=3 {
        cluster.cmd(i, &["SET", &format!("ready{i}"), "1"]);
    }
    cluster.wait_converged(CONVERGE_TIMEOUT);
    let full_before = cluster.stats("crdt_sync_full");
    let partial_before = cluster.stats("crdt_sync_partial_ok");
    assert_eq!(full_before, vec![2, 2, 2]);

    cluster.kill_syncer(1);
    cluster.inst(1).syncer_password = Some("wrong".into());
    cluster.start_syncer(1);
    let status = cluster.inst(1).syncer.wait_exit(Duration::from_secs(15));
    let status = status.unwrap_or_else(|| panic!("the syncer with a wrong password kept running\n{}", cluster.logs()));
    assert_eq!(status.code(), Some(4), "exit status {status}\n{}", cluster.logs());

    // What the supervisor does on exit code 4: mark the sync stopped.
    assert_eq!(cluster.shard_cmd(1, &["CRDT.SYNCSTATE", "stopped", "authentication refused"]), "OK");
    let info = cluster.info_crdt(1);
    assert_eq!(info["crdt_sync"], "stopped");
    assert_eq!(info["crdt_sync_last_error"], "authentication refused");
    // Writes go on at every instance meanwhile.
    cluster.cmd(1, &["SADD", "while-stopped", "at-1"]);
    cluster.cmd(2, &["SADD", "while-stopped", "at-2"]);
    cluster.cmd(3, &["INCRBY", "while-stopped-ctr", "5"]);

    cluster.inst(1).syncer_password = Some(pw.into());
    cluster.start_syncer(1);
    assert_eq!(cluster.shard_cmd(1, &["CRDT.SYNCSTATE", "enabled"]), "OK");
    cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_eq!(cluster.info_crdt(1)["crdt_sync"], "enabled");
    assert_eq!(check(&cluster, 1, &["SMEMBERS", "while-stopped"]), "[at-1, at-2]");
    assert_eq!(cluster.cmd(1, &["GET", "while-stopped-ctr"]), "5");
    assert_eq!(cluster.stats("crdt_sync_full"), full_before, "the resumed syncer took a full sync");
    let partial_after = cluster.stats("crdt_sync_partial_ok");
    assert!(
        partial_after[1] > partial_before[1] && partial_after[2] > partial_before[2],
        "no partial sync resumed: {partial_before:?} -> {partial_after:?}"
    );
    assert!(cluster.inst(1).syncer.exited().is_none(), "the syncer with the right password exited");
}


#[test]
fn compressed_sync_traffic_is_smaller_on_the_wire_and_counted_both_ways() {
    // Instance 2 pulls with the default compression (3), instance 1 with none.
    let mut cluster = Cluster::start(2, Opts { no_syncers: true, ..Opts::default() });
    cluster.inst(1).syncer_args = vec!["--compression".into(), "0".into()];
    cluster.start_all_syncers();
    let value = "abcdefgh".repeat(40); // 320 compressible bytes
    for i in 0..500 {
        cluster.cmd(1, &["SET", &format!("from1:{i}"), &value]);
        cluster.cmd(2, &["SET", &format!("from2:{i}"), &value]);
    }
    cluster.wait_converged(CONVERGE_TIMEOUT);
    let raw_min = 500 * 320;
    // 1 -> 2, compressed: both ends count the wire bytes and the raw bytes.
    let (out_wire, out_raw) = (cluster.crdt_stat(1, "crdt_egress_bytes"), cluster.crdt_stat(1, "crdt_egress_bytes_decompressed"));
    let (in_wire, in_raw) = (cluster.crdt_stat(2, "crdt_ingress_bytes"), cluster.crdt_stat(2, "crdt_ingress_bytes_decompressed"));
    assert!(out_raw >= raw_min && in_raw >= raw_min, "raw bytes: egress {out_raw}, ingress {in_raw}");
    // Each EFFECTS frame is compressed on its own (one small write per
    // frame here), so the ratio is modest; it must still be a real saving.
    assert!(out_wire * 2 < out_raw, "compression 3 sent {out_wire} bytes for {out_raw}");
    assert!(in_wire * 2 < in_raw, "instance 2 received {in_wire} bytes for {in_raw}");
    // 2 -> 1, uncompressed: the wire carries at least the raw bytes.
    let (out_wire, out_raw) = (cluster.crdt_stat(2, "crdt_egress_bytes"), cluster.crdt_stat(2, "crdt_egress_bytes_decompressed"));
    let (in_wire, in_raw) = (cluster.crdt_stat(1, "crdt_ingress_bytes"), cluster.crdt_stat(1, "crdt_ingress_bytes_decompressed"));
    assert!(out_raw >= raw_min && out_wire >= out_raw, "uncompressed egress: wire {out_wire}, raw {out_raw}");
    assert!(in_raw >= raw_min && in_wire == in_raw, "uncompressed ingress: wire {in_wire}, raw {in_raw}");
}

#[test]
fn a_down_instance_does_not_stop_the_others_and_blocks_gc_only_until_removed() {
    let mut cluster = Cluster::start(3, Opts::default());
    cluster.cmd(1, &["SET", "ready", "1"]);
    cluster.wait_converged(CONVERGE_TIMEOUT);

    // Instance 3 goes away entirely; the other syncers are restarted while
    // it is unreachable (a syncer never needs every peer to start).
    cluster.inst(3).syncer.kill9();
    cluster.inst(3).proxy.kill9();
    cluster.inst(3).shard.kill9();
    cluster.kill_syncer(1);
    cluster.kill_syncer(2);
    cluster.start_syncer(1);
    cluster.start_syncer(2);
    // Two increments from one origin: two counter runs that fold into one
    // once every member has announced seeing both.
    cluster.cmd(1, &["INCRBY", "visits", "2"]);
    cluster.cmd(1, &["INCRBY", "visits", "3"]);
    cluster.cmd(2, &["SADD", "seen", "at-2"]);
    cluster.wait_until("writes to flow between 1 and 2 while 3 is down", Duration::from_secs(20), || {
        (cluster.cmd(2, &["GET", "visits"]) == "5" && cluster.cmd(1, &["SISMEMBER", "seen", "at-2"]) == "1").then_some(())
    });

    // The runs cannot fold while a member has not announced seeing them.
    thread::sleep(Duration::from_millis(500));
    assert!(cluster.crdt_stat(1, "crdt_gc_pending") >= 1, "{:?}", cluster.info_crdt(1));

    // Removing instance 3 from the database (the shards restart with the
    // new member list) lets garbage collection proceed.
    for i in [1u16, 2] {
        let shard = &mut cluster.inst(i).shard;
        let mut args = shard.args.clone();
        let at = args.iter().position(|a| a == "--members").expect("--members") + 1;
        args[at] = "1,2".into();
        shard.spawn(args);
        let port = cluster.inst_ref(i).shard_port;
        cluster.wait_answers(i, port, "shard");
    }
    cluster.cmd(2, &["INCRBY", "visits", "1"]);
    cluster.wait_until("gc to fold the counters once 3 is no longer a member", Duration::from_secs(20), || {
        (cluster.crdt_stat(1, "crdt_gc_pending") == 0 && cluster.crdt_stat(2, "crdt_gc_pending") == 0).then_some(())
    });
    cluster.wait_until("the folded counter to read the same everywhere", Duration::from_secs(20), || {
        (cluster.cmd(1, &["GET", "visits"]) == "6" && cluster.cmd(2, &["GET", "visits"]) == "6").then_some(())
    });
}

#[test]
fn a_client_blocked_in_one_instance_is_served_by_a_push_in_another() {
    let cluster = Cluster::start(2, Opts::default());
    // Two clients block on instance 2 (through its proxy), in this order.
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let mut c = cluster.try_client(2).unwrap_or_else(|e| panic!("connect: {e}\n{}", cluster.logs()));
        c.set_timeout(CONVERGE_TIMEOUT);
        c.send_command(&["BLPOP", "jobs", "0"]).unwrap();
        let before = waiters.len();
        let start = Instant::now();
        while !cluster.shard_cmd(2, &["INFO", "clients"]).contains(&format!("blocked_clients:{}", before + 1)) {
            assert!(start.elapsed() < READY_TIMEOUT, "BLPOP never blocked\n{}", cluster.logs());
            thread::sleep(Duration::from_millis(10));
        }
        waiters.push(c);
    }
    // The push happens at instance 1; its effect reaches instance 2, where
    // the first waiter takes the first element and the second the next.
    assert_eq!(cluster.cmd(1, &["RPUSH", "jobs", "j1", "j2"]), "2");
    let got: Vec<String> = waiters.iter_mut().map(|w| render(&Frame::parse(&w.read_reply().unwrap()).unwrap().unwrap().0)).collect();
    assert_eq!(got, ["[jobs, j1]", "[jobs, j2]"]);
    cluster.wait_converged(CONVERGE_TIMEOUT);
    assert_eq!(cluster.cmd(1, &["LLEN", "jobs"]), "0", "the pops at instance 2 reached instance 1");
}

/// The next push (or reply) a subscriber connection reads, rendered.
fn next_push(conn: &mut RespConn, cluster: &Cluster, what: &str) -> String {
    match conn.read_reply() {
        Ok(raw) => render(&Frame::parse(&raw).unwrap().unwrap().0),
        Err(e) => panic!("{what}: {e}\n{}", cluster.logs()),
    }
}

/// A client of instance `i` that ran `cmds` ((P|S)SUBSCRIBE ...), each
/// confirmed.
fn subscriber(cluster: &Cluster, i: u16, cmds: &[&[&str]]) -> RespConn {
    let mut c = cluster.try_client(i).unwrap_or_else(|e| panic!("connect to {i}: {e}\n{}", cluster.logs()));
    c.set_timeout(CONVERGE_TIMEOUT);
    for cmd in cmds {
        c.send_command(cmd).unwrap();
        let confirmed = next_push(&mut c, cluster, &format!("{cmd:?} at {i}"));
        assert!(confirmed.starts_with(&format!("[{}, ", cmd[0].to_lowercase())), "{cmd:?} at {i}: {confirmed}");
    }
    c
}

/// Waits until a write at instance `from` is visible at every instance
/// (so the links from it stream live effects, past their first sync).
fn wait_linked_from(cluster: &Cluster, from: u16, key: &str) {
    assert_eq!(cluster.cmd(from, &["SET", key, "1"]), "OK");
    cluster.wait_until(&format!("{key} written at {from} to reach every instance"), CONVERGE_TIMEOUT, || {
        (1..=cluster.n()).all(|i| cluster.cmd(i, &["GET", key]) == "1").then_some(())
    });
}

#[test]
fn a_message_published_in_one_instance_reaches_every_instance_once_and_never_again_after_restarts() {
    let mut cluster = Cluster::start(3, Opts { durable: true, ..Opts::default() });
    wait_linked_from(&cluster, 1, "link1");

    let mut local = subscriber(&cluster, 1, &[&["SUBSCRIBE", "news"]]);
    let mut sub2 = subscriber(&cluster, 2, &[&["SUBSCRIBE", "news"], &["SSUBSCRIBE", "orders"]]);
    let mut psub3 = subscriber(&cluster, 3, &[&["PSUBSCRIBE", "new*"], &["SSUBSCRIBE", "orders"]]);

    // The reply counts the local receivers only (the subscriber at 1).
    assert_eq!(cluster.cmd(1, &["PUBLISH", "news", "hello"]), "1");
    assert_eq!(cluster.cmd(1, &["SPUBLISH", "orders", "o1"]), "0");
    // A shard channel is not a channel: SUBSCRIBE news gets no SPUBLISH news.
    assert_eq!(cluster.cmd(1, &["SPUBLISH", "news", "sharded"]), "0");
    // Keyspace notifications stay local: enabled at 1 only, and 2's
    // subscriber to them must get nothing from 1's writes.
    assert_eq!(cluster.shard_cmd(1, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]), "OK");
    assert_eq!(cluster.shard_cmd(2, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]), "OK");
    let mut events2 = subscriber(&cluster, 2, &[&["PSUBSCRIBE", "__key*__:*"]]);
    assert_eq!(cluster.cmd(1, &["SET", "evkey", "v"]), "OK");
    // The last message from 1: anything delivered twice would come before it
    // (one origin's effects arrive in order).
    assert_eq!(cluster.cmd(1, &["PUBLISH", "news", "end"]), "1");
    assert_eq!(cluster.cmd(1, &["SPUBLISH", "orders", "end"]), "0");

    assert_eq!(next_push(&mut local, &cluster, "local"), "[message, news, hello]");
    assert_eq!(next_push(&mut local, &cluster, "local"), "[message, news, end]");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2"), "[message, news, hello]");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2"), "[smessage, orders, o1]");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2"), "[message, news, end]");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2"), "[smessage, orders, end]");
    assert_eq!(next_push(&mut psub3, &cluster, "psub3"), "[pmessage, new*, news, hello]");
    assert_eq!(next_push(&mut psub3, &cluster, "psub3"), "[smessage, orders, o1]");
    assert_eq!(next_push(&mut psub3, &cluster, "psub3"), "[pmessage, new*, news, end]");
    assert_eq!(next_push(&mut psub3, &cluster, "psub3"), "[smessage, orders, end]");
    // At 2, the replicated SET is a key event of 2's own (its engine
    // applied a remote write: no notification), and 1's events did not travel.
    assert_eq!(cluster.cmd(2, &["PUBLISH", "__keyspace@0__:marker", "m"]), "1");
    assert_eq!(next_push(&mut events2, &cluster, "events2"), "[pmessage, __key*__:*, __keyspace@0__:marker, m]");

    // A message published at 2 reaches 1 and 3 (every direction works).
    assert_eq!(cluster.cmd(2, &["PUBLISH", "news", "from2"]), "1");
    assert_eq!(next_push(&mut local, &cluster, "local"), "[message, news, from2]");
    assert_eq!(next_push(&mut psub3, &cluster, "psub3"), "[pmessage, new*, news, from2]");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2"), "[message, news, from2]");

    // kill -9 and restart the origin (1) and a receiver (2): the logs hold
    // the messages, the syncers resume with partial syncs, and nothing old
    // is delivered again.
    drop((local, sub2, events2));
    cluster.restart_shard(1);
    cluster.restart_shard(2);
    let mut sub2 = subscriber(&cluster, 2, &[&["SUBSCRIBE", "news"], &["SSUBSCRIBE", "orders"]]);
    wait_linked_from(&cluster, 1, "link2");
    wait_linked_from(&cluster, 2, "link3");
    assert_eq!(cluster.cmd(1, &["PUBLISH", "news", "after"]), "0");
    assert_eq!(cluster.cmd(1, &["SPUBLISH", "orders", "after"]), "0");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2 after the restarts"), "[message, news, after]");
    assert_eq!(next_push(&mut sub2, &cluster, "sub2 after the restarts"), "[smessage, orders, after]");
    // 3 kept its subscriber across the others' restarts: it gets the new
    // messages only.
    assert_eq!(next_push(&mut psub3, &cluster, "psub3 after the restarts"), "[pmessage, new*, news, after]");
    assert_eq!(next_push(&mut psub3, &cluster, "psub3 after the restarts"), "[smessage, orders, after]");
    // Nothing else is pending at either subscriber.
    for (c, i) in [(&mut sub2, 2), (&mut psub3, 3)] {
        c.set_timeout(Duration::from_millis(500));
        let more = c.read_reply();
        assert!(more.is_err(), "instance {i} got another message: {}", escape(&more.unwrap()));
    }
    // The messages changed no key: the instances still agree.
    cluster.wait_converged(CONVERGE_TIMEOUT);

    // Versions: a syncer speaking protocol 1 (which knows no messages) is
    // refused at the handshake, and an effect of a kind this shard does not
    // know is refused as incompatible (the syncer then stops, exit code 4).
    assert_eq!(
        cluster.shard_cmd(1, &["CRDT.HELLO", "1", "2", "1"]),
        "-ERR concord-protocol 1 is not supported (this shard speaks 2)"
    );
    // One effect of instance 2 with tag 61: format 1, origin 2, seq 1, hlc 0.
    let unknown = "\u{5}\0\0\0\u{1}\u{2}\u{1}\0\u{3d}";
    let reply = cluster.shard_cmd(1, &["CRDT.APPLY", "2", &"a".repeat(40), "10", "1", unknown]);
    assert!(reply.starts_with("-ERR incompatible effect: unknown effect tag 61"), "{reply}");
}

//! `concord up`: a two-instance Active-Active database of real processes on
//! loopback. A write at one endpoint appears at the other; SIGINT stops
//! every child; started again on the same directory it serves the data.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{concord_bin, free_port, RespConn, TempDir};

/// How long a write may take to reach the other instance.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// A base port whose endpoints (base, base+1) and shard ports (base+100,
/// base+101) were all free a moment ago.
fn free_base_port() -> u16 {
    loop {
        let base = free_port();
        if base > 65535 - 101 {
            continue;
        }
        let free = [base, base + 1, base + 100, base + 101]
            .iter()
            .all(|&port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
        if free {
            return base;
        }
    }
}

struct Up {
    child: Child,
    log: std::path::PathBuf,
}

impl Up {
    fn start(base: u16, data: &Path, log: &Path) -> Up {
        let out = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(concord_bin())
            .args(["up", "--instances", "2", "--base-port", &base.to_string(), "--dir", data.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn concord up");
        Up { child, log: log.to_path_buf() }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGINT, as Ctrl-C, then waits for the exit.
    fn interrupt(&mut self) -> ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "concord up did not stop on SIGINT\n{}", self.log());
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.interrupt();
        }
    }
}

fn endpoint(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Sends one command on a new connection; None when the endpoint does not answer.
fn ask(port: u16, args: &[&str]) -> Option<Vec<u8>> {
    let mut conn = RespConn::connect(endpoint(port)).ok()?;
    conn.set_timeout(Duration::from_secs(2));
    conn.command(args).ok()
}

fn wait_for(what: &str, timeout: Duration, up: &Up, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}\n--- concord up ---\n{}", up.log());
        thread::sleep(Duration::from_millis(100));
    }
}

/// Every `"pid": N` in DIR/up.json.
fn pids(data: &Path) -> Vec<i32> {
    let text = fs::read_to_string(data.join("up.json")).expect("up.json");
    text.split("\"pid\": ").skip(1).filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()).collect()
}

#[test]
fn up_runs_two_instances_that_converge_and_stop_on_sigint() {
    let dir = TempDir::new("concord-it-up");
    let data = dir.path().join("data");
    let base = free_base_port();
    let mut up = Up::start(base, &data, &dir.path().join("up.log"));

    for port in [base, base + 1] {
        wait_for(&format!("endpoint {port} answers PING"), Duration::from_secs(30), &up, || {
            ask(port, &["PING"]).as_deref() == Some(b"+PONG\r\n")
        });
    }
    assert_eq!(ask(base, &["SET", "greeting", "hello"]).as_deref(), Some(&b"+OK\r\n"[..]));
    wait_for("the write at instance 1 appears at instance 2", CONVERGE_TIMEOUT, &up, || {
        ask(base + 1, &["GET", "greeting"]).as_deref() == Some(b"$5\r\nhello\r\n")
    });
    // And the other way.
    assert_eq!(ask(base + 1, &["SET", "reply", "hi"]).as_deref(), Some(&b"+OK\r\n"[..]));
    wait_for("the write at instance 2 appears at instance 1", CONVERGE_TIMEOUT, &up, || {
        ask(base, &["GET", "reply"]).as_deref() == Some(b"$2\r\nhi\r\n")
    });

    let children = pids(&data);
    assert_eq!(children.len(), 6, "shard, proxy and syncer per instance in up.json");
    let status = up.interrupt();
    assert!(status.success(), "concord up exited with {status}\n{}", up.log());
    for pid in children {
        assert!(kill(Pid::from_raw(pid), None).is_err(), "child {pid} still runs after concord up stopped");
    }
    assert!(ask(base, &["PING"]).is_none(), "endpoint 1 still answers");

    // Same directory: the shards replay their logs.
    let up = Up::start(base, &data, &dir.path().join("up.log"));
    wait_for("instance 2 serves the data again after a restart", Duration::from_secs(30), &up, || {
        ask(base + 1, &["GET", "greeting"]).as_deref() == Some(b"$5\r\nhello\r\n")
    });
    // And the links resume where they were: a new write flows, and neither
    // shard served a full sync since the restart (its counters start at 0).
    wait_for("endpoint 1 answers after the restart", Duration::from_secs(30), &up, || ask(base, &["PING"]).is_some());
    assert_eq!(ask(base, &["SET", "after", "restart"]).as_deref(), Some(&b"+OK\r\n"[..]));
    wait_for("a write after the restart reaches instance 2", CONVERGE_TIMEOUT, &up, || {
        ask(base + 1, &["GET", "after"]).as_deref() == Some(b"$7\r\nrestart\r\n")
    });
    let info = |port: u16| String::from_utf8_lossy(&ask(port, &["INFO", "crdt"]).unwrap_or_default()).into_owned();
    wait_for("both links to resume", CONVERGE_TIMEOUT, &up, || {
        [base, base + 1].iter().all(|&p| info(p).contains("crdt_sync_partial_ok:") && !info(p).contains("crdt_sync_partial_ok:0\r\n"))
    });
    for port in [base, base + 1] {
        let info = info(port);
        assert!(info.contains("crdt_sync_full:0\r\n"), "a full sync after a restart at {port}:\n{info}");
    }
}

//! `concord proxy` in front of a real `concord shard`: clients talk through
//! it with the `redis` crate and raw RESP; the shard is killed and restarted
//! under it.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{concord_bin, free_port, RespConn, Server, TempDir};

const SHARD_UNREACHABLE: &[u8] = b"-ERR the database's shard is unreachable\r\n";

/// A `concord proxy` process on 127.0.0.1, killed when dropped.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Proxy {
    /// Starts a proxy to `shard` and waits until it accepts connections.
    fn start(shard: SocketAddr, extra: &[&str]) -> Proxy {
        for _ in 0..3 {
            let dir = TempDir::new("concord-it-proxy");
            let log = dir.path().join("proxy.log");
            let port = free_port();
            let out = fs::File::create(&log).expect("create proxy log");
            let err = out.try_clone().expect("clone log handle");
            let child = Command::new(concord_bin())
                .args(["proxy", "--port", &port.to_string(), "--shard", &shard.to_string()])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .expect("spawn concord proxy");
            let mut proxy = Proxy { child, port, log, _dir: dir };
            if proxy.wait_listening() {
                return proxy;
            }
        }
        panic!("concord proxy did not start");
    }

    fn wait_listening(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if RespConn::connect(self.addr()).is_ok() {
                // Not someone else's listener on a port taken meanwhile.
                thread::sleep(Duration::from_millis(50));
                return matches!(self.child.try_wait(), Ok(None));
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("client");
        let conn = client.get_connection_with_timeout(Duration::from_secs(5)).expect("connect through the proxy");
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn proxy_forwards_commands_replies_and_pipelines() {
    let shard = Server::concord();
    let proxy = Proxy::start(shard.addr(), &[]);
    let mut conn = proxy.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut conn).unwrap();
    let got: String = redis::cmd("GET").arg("k").query(&mut conn).unwrap();
    assert_eq!(got, "v");

    // A value larger than the proxy's buffers, both ways.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET").arg("big").arg(&big).query(&mut conn).unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut conn).unwrap();
    assert!(back == big, "a 3 MB value came back changed");

    // A deep pipeline: replies come back complete and in order.
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("INCR").arg("counter").ignore();
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.cmd("GET").arg("counter");
    let (counter,): (i64,) = pipe.query(&mut conn).unwrap();
    assert_eq!(counter, 5000);

    // The shard sees the proxy's connection as a client of its own.
    let direct: String = redis::cmd("GET").arg("key:4999").query(&mut proxy.client()).unwrap();
    assert_eq!(direct, "4999");
    let mut shard_conn = shard.connect();
    assert_eq!(shard_conn.command(&["GET", "k"]).unwrap(), b"$1\r\nv\r\n");
}

#[test]
fn proxy_reports_an_unreachable_shard_and_serves_again_when_it_is_back() {
    let mut shard = Server::concord();
    let proxy = Proxy::start(shard.addr(), &[]);
    let mut conn = proxy.client();
    let _: () = redis::cmd("SET").arg("k").arg("before").query(&mut conn).unwrap();

    shard.stop();
    // The open connection ends with its shard connection.
    let result: redis::RedisResult<String> = redis::cmd("GET").arg("k").query(&mut conn);
    assert!(result.is_err(), "a command after the shard died succeeded: {result:?}");
    // A new connection is told why, then closed.
    let mut raw = RespConn::connect(proxy.addr()).unwrap();
    assert_eq!(raw.command(&["PING"]).unwrap(), SHARD_UNREACHABLE);
    assert!(raw.is_closed_by_peer(Duration::from_secs(2)));
    // A client library gets an error too (which one depends on what it sends
    // first: the redis crate's connection setup reads the error reply itself,
    // then its PING finds the connection closed).
    let result: redis::RedisResult<String> =
        redis::Client::open(proxy.url()).unwrap().get_connection().and_then(|mut c| redis::cmd("PING").query(&mut c));
    assert!(result.is_err(), "PING without a shard succeeded");

    // Same port, same directory: the shard is back with its data.
    shard.restart();
    let mut conn = proxy.client();
    let got: String = redis::cmd("GET").arg("k").query(&mut conn).unwrap();
    assert_eq!(got, "before", "proxy log:\n{}", proxy.log());
}

#[test]
fn proxy_refuses_clients_beyond_maxclients() {
    let shard = Server::concord();
    let proxy = Proxy::start(shard.addr(), &["--maxclients", "2"]);
    let mut a = RespConn::connect(proxy.addr()).unwrap();
    let mut b = RespConn::connect(proxy.addr()).unwrap();
    assert_eq!(a.command(&["PING"]).unwrap(), b"+PONG\r\n");
    assert_eq!(b.command(&["PING"]).unwrap(), b"+PONG\r\n");
    let mut c = RespConn::connect(proxy.addr()).unwrap();
    assert_eq!(c.read_reply().unwrap(), b"-ERR max number of clients reached\r\n");
    assert!(c.is_closed_by_peer(Duration::from_secs(2)));

    // A slot frees when a client leaves.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = RespConn::connect(proxy.addr()).unwrap();
        match d.command(&["PING"]) {
            Ok(reply) if reply == b"+PONG\r\n" => break,
            other => assert!(Instant::now() < deadline, "no slot freed: {other:?}"),
        }
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(b.command(&["PING"]).unwrap(), b"+PONG\r\n");
}

#[test]
fn proxy_stops_on_sigterm_and_closes_its_clients() {
    let shard = Server::concord();
    let mut proxy = Proxy::start(shard.addr(), &[]);
    let mut conn = RespConn::connect(proxy.addr()).unwrap();
    assert_eq!(conn.command(&["PING"]).unwrap(), b"+PONG\r\n");
    let pid = nix::unistd::Pid::from_raw(proxy.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = proxy.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the proxy did not stop on SIGTERM");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "proxy exited with {status}\n{}", proxy.log());
    assert!(conn.is_closed_by_peer(Duration::from_secs(2)));
    // The shard is untouched.
    assert_eq!(shard.connect().command(&["PING"]).unwrap(), b"+PONG\r\n");
}

//! The real `concord shard` binary, driven by real clients: the `redis`
//! crate and raw RESP over TCP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{concord_bin, free_port, Server, ServerConfig, ServerKind, TempDir};

fn client(server: &Server) -> redis::Connection {
    let url = format!("redis://127.0.0.1:{}/", server.port());
    let c = redis::Client::open(url).expect("client");
    let conn = c.get_connection_with_timeout(Duration::from_secs(5)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    conn
}

#[test]
fn concurrent_pipelined_clients_see_every_increment() {
    let server = Server::concord();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let port = server.port();
            thread::spawn(move || {
                let url = format!("redis://127.0.0.1:{port}/");
                let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
                for round in 0..10 {
                    let mut pipe = redis::pipe();
                    for i in 0..50 {
                        pipe.cmd("INCR").arg("counter").ignore();
                        pipe.cmd("SET").arg(format!("k:{t}:{round}:{i}")).arg(i).ignore();
                    }
                    pipe.query::<()>(&mut conn).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut conn = client(&server);
    let total: i64 = redis::cmd("GET").arg("counter").query(&mut conn).unwrap();
    assert_eq!(total, 16 * 10 * 50);
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!(dbsize, 16 * 10 * 50 + 1);
    let v: i64 = redis::cmd("GET").arg("k:7:9:49").query(&mut conn).unwrap();
    assert_eq!(v, 49);
}

#[test]
fn a_protocol_error_closes_only_the_offending_connection() {
    let server = Server::concord();
    let mut good = server.connect();
    assert_eq!(good.command(&["SET", "a", "1"]).unwrap(), b"+OK\r\n");
    let mut bad = server.connect();
    bad.send(b"*1\r\n$abc\r\n").unwrap();
    assert_eq!(bad.read_reply().unwrap(), b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(bad.is_closed_by_peer(Duration::from_secs(5)), "the offending connection must be closed");
    assert_eq!(good.command(&["GET", "a"]).unwrap(), b"$1\r\n1\r\n");
}

#[test]
fn a_huge_multibulk_header_is_refused_without_allocating() {
    let server = Server::concord();
    let mut bad = server.connect();
    bad.send(b"*3000000000\r\n").unwrap();
    assert_eq!(bad.read_reply().unwrap(), b"-ERR Protocol error: invalid multibulk length\r\n");
    let mut good = server.connect();
    assert_eq!(good.command(&["PING"]).unwrap(), b"+PONG\r\n");
}

#[test]
fn requirepass_gates_every_command_until_auth() {
    let config = ServerConfig { requirepass: Some("s3cret".into()), ..Default::default() };
    let server = Server::start(ServerKind::Concord, config);
    let mut raw = crate::support::RespConn::connect(server.addr()).unwrap();
    assert_eq!(raw.command(&["GET", "x"]).unwrap(), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(
        raw.command(&["AUTH", "wrong"]).unwrap(),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw.command(&["AUTH", "s3cret"]).unwrap(), b"+OK\r\n");
    assert_eq!(raw.command(&["SET", "x", "1"]).unwrap(), b"+OK\r\n");
}

#[test]
fn commands_pipelined_behind_auth_run_without_waiting_for_more_bytes() {
    // redis-benchmark -a sends AUTH and its first commands in one write and
    // then waits for every reply: nothing more arrives to wake the server.
    let config = ServerConfig { requirepass: Some("s3cret".into()), ..Default::default() };
    let server = Server::start(ServerKind::Concord, config);
    let mut raw = crate::support::RespConn::connect(server.addr()).unwrap();
    raw.send(b"*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(raw.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(raw.read_reply().unwrap(), b"$1\r\nv\r\n");
}

#[test]
fn requests_before_a_protocol_error_in_the_same_read_run_first() {
    let server = Server::concord();
    let mut bad = server.connect();
    bad.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n").unwrap();
    assert_eq!(bad.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(bad.read_reply().unwrap(), b"$1\r\nv\r\n");
    assert_eq!(bad.read_reply().unwrap(), b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(bad.is_closed_by_peer(Duration::from_secs(5)), "the offending connection must be closed");
    let mut good = server.connect();
    assert_eq!(good.command(&["GET", "k"]).unwrap(), b"$1\r\nv\r\n");
}

#[test]
fn requests_behind_auth_in_the_same_read_parse_as_authenticated() {
    // Before AUTH more than 10 arguments is a protocol error; right after it
    // in the same read, it is an ordinary request.
    let config = ServerConfig { requirepass: Some("s3cret".into()), ..Default::default() };
    let server = Server::start(ServerKind::Concord, config);
    let mut raw = crate::support::RespConn::connect(server.addr()).unwrap();
    let mut wire = b"AUTH s3cret\r\n*12\r\n$4\r\nMSET\r\n".to_vec();
    for i in 0..11 {
        wire.extend_from_slice(format!("$1\r\n{}\r\n", i % 10).as_bytes());
    }
    wire.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\n8\r\n");
    raw.send(&wire).unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(raw.read_reply().unwrap(), b"-ERR wrong number of arguments for 'mset' command\r\n");
    assert_eq!(raw.read_reply().unwrap(), b"$-1\r\n");
    // Unauthenticated, the same request is refused and closes the connection.
    let mut stranger = crate::support::RespConn::connect(server.addr()).unwrap();
    stranger.send(&wire[b"AUTH s3cret\r\n".len()..]).unwrap();
    assert_eq!(stranger.read_reply().unwrap(), b"-ERR Protocol error: unauthenticated multibulk length\r\n");
}

#[test]
fn watch_aborts_exec_when_another_client_writes() {
    let server = Server::concord();
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.command(&["WATCH", "k"]).unwrap(), b"+OK\r\n");
    assert_eq!(b.command(&["SET", "k", "other"]).unwrap(), b"+OK\r\n");
    assert_eq!(a.command(&["MULTI"]).unwrap(), b"+OK\r\n");
    assert_eq!(a.command(&["SET", "k", "mine"]).unwrap(), b"+QUEUED\r\n");
    assert_eq!(a.command(&["EXEC"]).unwrap(), b"*-1\r\n");
    assert_eq!(a.command(&["GET", "k"]).unwrap(), b"$5\r\nother\r\n");
    // Without interference the transaction runs.
    assert_eq!(a.command(&["WATCH", "k"]).unwrap(), b"+OK\r\n");
    assert_eq!(a.command(&["MULTI"]).unwrap(), b"+OK\r\n");
    assert_eq!(a.command(&["INCR", "n"]).unwrap(), b"+QUEUED\r\n");
    assert_eq!(a.command(&["SET", "k", "mine"]).unwrap(), b"+QUEUED\r\n");
    assert_eq!(a.command(&["EXEC"]).unwrap(), b"*2\r\n:1\r\n+OK\r\n");
}

#[test]
fn publish_reaches_channel_and_pattern_subscribers() {
    let server = Server::concord();
    let mut sub = server.connect();
    sub.send_command(&["SUBSCRIBE", "news"]).unwrap();
    assert_eq!(sub.read_reply().unwrap(), b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    sub.send_command(&["PSUBSCRIBE", "n*"]).unwrap();
    assert_eq!(sub.read_reply().unwrap(), b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n");
    let mut publisher = server.connect();
    assert_eq!(publisher.command(&["PUBLISH", "news", "hi"]).unwrap(), b":2\r\n");
    assert_eq!(sub.read_reply().unwrap(), b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
    assert_eq!(sub.read_reply().unwrap(), b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
    // Only pub/sub commands are allowed while subscribed (RESP2).
    assert!(sub.command(&["GET", "x"]).unwrap().starts_with(b"-ERR Can't execute 'get'"));
}

#[test]
fn keys_expire_actively_without_being_read() {
    let server = Server::concord();
    let mut c = server.connect();
    for i in 0..50 {
        assert_eq!(c.command(&["SET", &format!("t{i}"), "v", "PX", "100"]).unwrap(), b"+OK\r\n");
    }
    assert_eq!(c.command(&["SET", "keep", "v"]).unwrap(), b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // DBSIZE does not touch keys: only the active expiry cycle removes them.
        if c.command(&["DBSIZE"]).unwrap() == b":1\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "expired keys were not removed by the active cycle");
        thread::sleep(Duration::from_millis(50));
    }
    let info = String::from_utf8(c.command(&["INFO", "stats"]).unwrap()).unwrap();
    assert!(info.contains("expired_keys:50"), "{info}");
}

#[test]
fn info_memory_reports_allocator_usage_that_grows_with_data() {
    let server = Server::concord();
    let mut conn = client(&server);
    let used = |conn: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("memory").query(conn).unwrap();
        info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap()
    };
    let before = used(&mut conn);
    assert!(before > 0);
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg("x".repeat(100)).ignore();
    }
    pipe.query::<()>(&mut conn).unwrap();
    let after = used(&mut conn);
    assert!(after > before + 20_000 * 100, "used_memory {before} -> {after}");
}

#[test]
fn info_crdt_counts_local_effects() {
    let server = Server::concord();
    let mut conn = client(&server);
    redis::cmd("SET").arg("a").arg("1").query::<()>(&mut conn).unwrap();
    redis::cmd("INCR").arg("a").query::<i64>(&mut conn).unwrap();
    let info: String = redis::cmd("INFO").arg("crdt").query(&mut conn).unwrap();
    // Two local effects: the observed version vector of instance 1 is at 2.
    assert!(info.contains("crdt_ovc:{1:2}"), "{info}");
    assert!(info.contains("crdt_instance_id:1"), "{info}");
}

#[test]
fn sigterm_stops_the_shard_cleanly() {
    let dir = TempDir::new("concord-sigterm");
    let port = free_port();
    let mut child = Command::new(concord_bin())
        .args(["shard", "--port", &port.to_string(), "--dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(Instant::now() < deadline, "shard did not start");
        thread::sleep(Duration::from_millis(50));
    };
    stream.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "shard exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "shard did not stop on SIGTERM");
        thread::sleep(Duration::from_millis(50));
    }
}

fn blocked_clients(conn: &mut crate::support::RespConn) -> String {
    let info = String::from_utf8(conn.command(&["INFO", "clients"]).unwrap()).unwrap();
    info.lines().find_map(|l| l.strip_prefix("blocked_clients:")).unwrap().trim().to_string()
}

#[test]
fn a_blocked_pop_is_served_by_a_later_write_from_another_client() {
    let server = Server::concord();
    let mut waiter = server.connect();
    let mut writer = server.connect();
    waiter.send_command(&["BZPOPMIN", "z", "10"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(&mut writer) != "1" {
        assert!(Instant::now() < deadline, "the client never blocked");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(writer.command(&["ZADD", "z", "1", "a"]).unwrap(), b":1\r\n");
    assert_eq!(waiter.read_reply().unwrap(), b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(writer.command(&["EXISTS", "z"]).unwrap(), b":0\r\n");
    assert_eq!(blocked_clients(&mut writer), "0");
    // A timeout answers with a null array.
    assert_eq!(waiter.command(&["BZPOPMIN", "z", "0.1"]).unwrap(), b"*-1\r\n");
}

#[test]
fn a_client_that_disconnects_while_blocked_is_released() {
    let server = Server::concord();
    let mut observer = server.connect();
    {
        let mut waiter = server.connect();
        waiter.send_command(&["BZPOPMAX", "nothing", "0"]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while blocked_clients(&mut observer) != "1" {
            assert!(Instant::now() < deadline, "the client never blocked");
            thread::sleep(Duration::from_millis(20));
        }
    } // dropped: the socket closes
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(&mut observer) != "0" {
        assert!(Instant::now() < deadline, "a disconnected client stayed blocked");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn info_commandstats_and_errorstats_count_calls_failures_and_rejections() {
    let server = Server::start(ServerKind::Concord, ServerConfig { requirepass: Some("pw".into()), ..Default::default() });
    let mut raw = crate::support::RespConn::connect(server.addr()).unwrap();
    assert_eq!(raw.command(&["AUTH", "pw"]).unwrap(), b"+OK\r\n");
    // (The start-up probe's PING was refused too: start from zero.)
    assert_eq!(raw.command(&["CONFIG", "RESETSTAT"]).unwrap(), b"+OK\r\n");
    // Refused before running: a rejected call and an error code.
    let mut stranger = crate::support::RespConn::connect(server.addr()).unwrap();
    assert!(stranger.command(&["GET", "k"]).unwrap().starts_with(b"-NOAUTH"));
    assert_eq!(raw.command(&["SET", "k", "v"]).unwrap(), b"+OK\r\n");
    assert_eq!(raw.command(&["SET", "k", "v"]).unwrap(), b"+OK\r\n");
    // Ran and failed.
    assert!(raw.command(&["LPUSH", "k", "x"]).unwrap().starts_with(b"-WRONGTYPE"));
    // Unknown: no command to count, but an error reply.
    assert!(raw.command(&["NOSUCH"]).unwrap().starts_with(b"-ERR unknown command"));
    let text = |raw: &mut crate::support::RespConn, section: &str| {
        String::from_utf8(raw.command(&["INFO", section]).unwrap()).unwrap()
    };
    let stats = text(&mut raw, "commandstats");
    let line = |name: &str| stats.lines().find(|l| l.starts_with(&format!("cmdstat_{name}:"))).map(str::to_string);
    assert!(line("set").unwrap().contains("calls=2,"), "{stats}");
    assert!(line("set").unwrap().ends_with("rejected_calls=0,failed_calls=0"), "{stats}");
    assert!(line("get").unwrap().starts_with("cmdstat_get:calls=0,"), "{stats}");
    assert!(line("get").unwrap().ends_with("rejected_calls=1,failed_calls=0"), "{stats}");
    assert!(line("lpush").unwrap().ends_with("rejected_calls=0,failed_calls=1"), "{stats}");
    let errors = text(&mut raw, "errorstats");
    for want in ["errorstat_NOAUTH:count=1", "errorstat_WRONGTYPE:count=1", "errorstat_ERR:count=1"] {
        assert!(errors.contains(want), "{errors}");
    }
    assert!(text(&mut raw, "stats").contains("total_error_replies:3\r\n"));
    // INFO (default) has errorstats but not commandstats, as Redis.
    let default = text(&mut raw, "default");
    assert!(default.contains("# Errorstats") && !default.contains("# Commandstats"));
    assert!(text(&mut raw, "all").contains("# Commandstats"));
    assert_eq!(raw.command(&["CONFIG", "RESETSTAT"]).unwrap(), b"+OK\r\n");
    assert!(!text(&mut raw, "commandstats").contains("cmdstat_set"));
    assert!(!text(&mut raw, "errorstats").contains("errorstat_"));
}

#[test]
fn the_backlog_keeps_the_larger_of_repl_and_crdt_backlog_sizes() {
    let server = Server::concord();
    let mut conn = client(&server);
    let backlog = |conn: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("replication").query(conn).unwrap();
        info.lines().find_map(|l| l.strip_prefix("repl_backlog_size:")).unwrap().trim().parse().unwrap()
    };
    let get = |conn: &mut redis::Connection, name: &str| -> String {
        let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(conn).unwrap();
        v[1].clone()
    };
    // Standalone: `auto` needs no Active-Active backlog; Redis's 1 MiB.
    assert_eq!(get(&mut conn, "crdt-repl-backlog-size"), "auto");
    assert_eq!(backlog(&mut conn), 1 << 20);
    let _: () = redis::cmd("CONFIG").arg("SET").arg("crdt-repl-backlog-size").arg("2mb").query(&mut conn).unwrap();
    assert_eq!(get(&mut conn, "crdt-repl-backlog-size"), "2097152");
    assert_eq!(backlog(&mut conn), 2 << 20);
    let _: () = redis::cmd("CONFIG").arg("SET").arg("repl-backlog-size").arg("3mb").query(&mut conn).unwrap();
    assert_eq!(backlog(&mut conn), 3 << 20);
    let _: () = redis::cmd("CONFIG").arg("SET").arg("repl-backlog-size").arg("1mb").query(&mut conn).unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("crdt-repl-backlog-size").arg("auto").query(&mut conn).unwrap();
    assert_eq!(backlog(&mut conn), 1 << 20);
    let bad: redis::RedisResult<()> = redis::cmd("CONFIG").arg("SET").arg("crdt-repl-backlog-size").arg("lots").query(&mut conn);
    assert!(bad.unwrap_err().to_string().contains("crdt-repl-backlog-size"));
}

/// DUMP then RESTORE (to another name and, with REPLACE, over a key of
/// another type) gives back every type's contents and the TTL; a damaged
/// payload is refused and changes nothing.
#[test]
fn dump_and_restore_carry_every_type_between_keys() {
    let server = Server::concord();
    let url = format!("redis://127.0.0.1:{}/", server.port());
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let q = |c: &mut redis::Connection, args: &[&str]| -> redis::Value {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(c).unwrap()
    };
    q(&mut c, &["SET", "s", "hello"]);
    q(&mut c, &["PEXPIRE", "s", "100000"]);
    q(&mut c, &["INCRBY", "n", "41"]);
    q(&mut c, &["RPUSH", "l", "a", "b", "c", "b"]);
    q(&mut c, &["SADD", "set", "x", "y", "z"]);
    q(&mut c, &["ZADD", "z", "1.5", "m1", "-2", "m2"]);
    q(&mut c, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    q(&mut c, &["PFADD", "hll", "a", "b", "c"]);
    q(&mut c, &["XADD", "st", "1-1", "f", "v"]);
    let reads: &[(&str, &[&str])] = &[
        ("s", &["GET"]),
        ("n", &["GET"]),
        ("l", &["LRANGE", "", "0", "-1"]),
        ("set", &["SMEMBERS"]),
        ("z", &["ZRANGE", "", "0", "-1", "WITHSCORES"]),
        ("h", &["HGETALL"]),
        ("hll", &["PFCOUNT"]),
        ("st", &["XRANGE", "", "-", "+"]),
    ];
    let read = |c: &mut redis::Connection, key: &str, how: &[&str]| -> redis::Value {
        let mut args: Vec<&str> = how.to_vec();
        if args.len() > 1 && args[1].is_empty() {
            args[1] = key;
        } else {
            args.insert(1, key);
        }
        let v = q(c, &args);
        match v {
            // Sets come back in any order.
            redis::Value::Array(mut items) if how[0] == "SMEMBERS" => {
                items.sort_by_key(|i| format!("{i:?}"));
                redis::Value::Array(items)
            }
            v => v,
        }
    };
    for (key, how) in reads {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(*key).query(&mut c).unwrap();
        let copy = format!("{key}:copy");
        let ok: String = redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload[..]).query(&mut c).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(read(&mut c, key, how), read(&mut c, &copy, how), "RESTORE of {key}");
        // The copy exists now: without REPLACE it is refused, with REPLACE
        // it is overwritten (here over the string key, another type).
        let busy = redis::cmd("RESTORE").arg(&copy).arg(0).arg(&payload[..]).query::<String>(&mut c).unwrap_err();
        assert_eq!(busy.code(), Some("BUSYKEY"), "{busy}");
        let _: String = redis::cmd("RESTORE").arg("over").arg(5000).arg(&payload[..]).arg("REPLACE").query(&mut c).unwrap();
        assert_eq!(read(&mut c, key, how), read(&mut c, "over", how), "RESTORE REPLACE of {key}");
        let ttl: i64 = redis::cmd("PTTL").arg("over").query(&mut c).unwrap();
        assert!((1..=5000).contains(&ttl), "TTL after RESTORE: {ttl}");
    }
    // A damaged payload (one byte flipped) is refused.
    let mut payload: Vec<u8> = redis::cmd("DUMP").arg("h").query(&mut c).unwrap();
    payload[2] ^= 0x40;
    let bad = redis::cmd("RESTORE").arg("bad").arg(0).arg(&payload[..]).query::<String>(&mut c).unwrap_err();
    assert!(bad.to_string().contains("DUMP payload version or checksum are wrong"), "{bad}");
    let exists: i64 = redis::cmd("EXISTS").arg("bad").query(&mut c).unwrap();
    assert_eq!(exists, 0);
}

/// SHUTDOWN stops the server the way SIGTERM does; the client's connection
/// closes without a reply, and the process exits cleanly.
#[test]
fn shutdown_stops_the_server() {
    let mut server = Server::concord();
    let mut conn = server.connect();
    assert_eq!(conn.command(&["SET", "k", "v"]).unwrap(), b"+OK\r\n");
    conn.send_command(&["SHUTDOWN", "NOSAVE"]).unwrap();
    assert!(conn.is_closed_by_peer(Duration::from_secs(10)), "SHUTDOWN must close the connection");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.is_running() && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!server.is_running(), "the server must exit after SHUTDOWN");
    assert!(server.log().contains("shard stopped"), "clean stop expected:\n{}", server.log());
}

#[test]
fn client_kill_disconnects_idle_and_blocked_clients_at_once() {
    let server = Server::concord();
    let mut admin = client(&server);
    for blocked in [false, true] {
        let mut victim = server.connect();
        let id_reply = victim.command(&["CLIENT", "ID"]).unwrap();
        let id = String::from_utf8_lossy(&id_reply[1..id_reply.len() - 2]).to_string();
        if blocked {
            // Blocks for up to 60 s unless killed.
            victim.send(b"*3\r\n$5\r\nBLPOP\r\n$9\r\nkill:list\r\n$2\r\n60\r\n").unwrap();
            let start = Instant::now();
            while !redis::cmd("CLIENT").arg("LIST").query::<String>(&mut admin).unwrap().contains("cmd=blpop") {
                assert!(start.elapsed() < Duration::from_secs(5), "the BLPOP never blocked");
                thread::sleep(Duration::from_millis(10));
            }
        }
        let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id).query(&mut admin).unwrap();
        assert_eq!(killed, 1, "blocked={blocked}");
        assert!(victim.is_closed_by_peer(Duration::from_secs(2)), "blocked={blocked}: the killed client must be closed at once");
    }
    let left: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert_eq!(left.lines().count(), 1, "only the admin connection is left: {left}");
}

/// Clients blocked on keys, driven the same way against redis-server and
/// concord: FIFO order per key, serving right after the write (before the
/// next command of the writer's pipeline), chained BLMOVEs, a key of the
/// wrong type keeping its waiters blocked, BLMPOP popping from the key
/// that became ready, and CLIENT UNBLOCK. Returns every reply, in order.
fn blocking_scenario(server: &Server) -> Vec<Vec<u8>> {
    let mut admin = server.connect();
    let mut replies = Vec::new();
    let blocked_count = |admin: &mut crate::support::RespConn| -> usize {
        let info = admin.command(&["INFO", "clients"]).unwrap();
        let info = String::from_utf8_lossy(&info).to_string();
        let line = info.lines().find(|l| l.starts_with("blocked_clients:")).expect("blocked_clients");
        line["blocked_clients:".len()..].trim().parse().unwrap()
    };
    // Blocks `args` on a new connection and waits until the server counts it.
    let block = |admin: &mut crate::support::RespConn, args: &[&str]| {
        let before = blocked_count(admin);
        let mut c = server.connect();
        c.send_command(args).unwrap();
        let start = Instant::now();
        while blocked_count(admin) != before + 1 {
            assert!(start.elapsed() < Duration::from_secs(5), "{args:?} never blocked");
            thread::sleep(Duration::from_millis(5));
        }
        c
    };
    // FIFO: three clients on one key, one of them also on another key.
    let mut waiters: Vec<_> = [&["BLPOP", "q", "0"][..], &["BLPOP", "other", "q", "0"], &["BRPOP", "q", "0"]]
        .iter()
        .map(|args| block(&mut admin, args))
        .collect();
    // One pipeline: the waiters are served between RPUSH and LLEN.
    admin.send(&[crate::support::encode_command(&["RPUSH", "q", "a", "b", "c", "d"]), crate::support::encode_command(&["LRANGE", "q", "0", "-1"])].concat()).unwrap();
    replies.push(admin.read_reply().unwrap());
    replies.push(admin.read_reply().unwrap());
    for w in &mut waiters {
        replies.push(w.read_reply().unwrap());
    }
    // A chain: l1 -> l2 -> l3, resolved within the RPUSH.
    let mut first = block(&mut admin, &["BLMOVE", "l1", "l2", "LEFT", "RIGHT", "0"]);
    let mut second = block(&mut admin, &["BRPOPLPUSH", "l2", "l3", "0"]);
    admin.send(&[crate::support::encode_command(&["RPUSH", "l1", "x"]), crate::support::encode_command(&["LRANGE", "l3", "0", "-1"])].concat()).unwrap();
    replies.push(admin.read_reply().unwrap());
    replies.push(admin.read_reply().unwrap());
    replies.push(first.read_reply().unwrap());
    replies.push(second.read_reply().unwrap());
    // A key overwritten with a string keeps its waiter blocked; a list
    // pushed later (after DEL) serves it. BLMPOP names the ready key.
    let mut mpop = block(&mut admin, &["BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2"]);
    replies.push(admin.command(&["SET", "m1", "str"]).unwrap());
    replies.push(admin.command(&["INFO", "clients"]).map(|_| b"ok".to_vec()).unwrap());
    assert_eq!(blocked_count(&mut admin), 1, "a string written to a waited key serves nobody");
    replies.push(admin.command(&["RPUSH", "m2", "p", "q", "r"]).unwrap());
    replies.push(mpop.read_reply().unwrap());
    // A transaction is one write: the waiter sees its final state.
    let mut tx_waiter = block(&mut admin, &["BLPOP", "t", "0"]);
    for args in [&["MULTI"][..], &["LPUSH", "t", "1"], &["LPUSH", "t", "2"], &["RPOP", "t"], &["EXEC"]] {
        replies.push(admin.command(args).unwrap());
    }
    replies.push(tx_waiter.read_reply().unwrap());
    // CLIENT UNBLOCK: TIMEOUT gives the timeout reply, ERROR an error.
    for how in ["TIMEOUT", "ERROR"] {
        let mut w = block(&mut admin, &["BZPOPMIN", "z", "0"]);
        let list = String::from_utf8_lossy(&admin.command(&["CLIENT", "LIST"]).unwrap()).to_string();
        let line = list.lines().find(|l| l.contains("cmd=bzpopmin")).expect("the blocked client is listed");
        assert!(line.contains(" flags=b "), "a blocked client has flag b: {line}");
        let id = line.split(' ').find_map(|f| f.strip_prefix("id=")).unwrap().to_string();
        replies.push(admin.command(&["CLIENT", "UNBLOCK", &id, how]).unwrap());
        replies.push(w.read_reply().unwrap());
        replies.push(admin.command(&["CLIENT", "UNBLOCK", &id, how]).unwrap());
    }
    replies
}

#[test]
fn blocked_clients_are_served_as_redis_serves_them() {
    crate::support::ensure_redis_installed();
    let redis = Server::redis();
    let concord = Server::concord();
    let want = blocking_scenario(&redis);
    let got = blocking_scenario(&concord);
    let show = |v: &[Vec<u8>]| v.iter().map(|r| crate::support::escape(r)).collect::<Vec<_>>();
    assert_eq!(show(&got), show(&want));
    // And what that means, spelled out (so the test fails if both are wrong).
    assert_eq!(got[1], b"*1\r\n$1\r\nc\r\n", "three waiters took a, b, d before LRANGE ran");
    assert_eq!(got[2], b"*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    assert_eq!(got[3], b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    assert_eq!(got[4], b"*2\r\n$1\r\nq\r\n$1\r\nd\r\n", "BRPOP pops from the right");
    assert_eq!(got[6], b"*1\r\n$1\r\nx\r\n", "the BLMOVE chain ended in l3 within the RPUSH");
}

#[test]
fn client_list_idle_counts_seconds_since_the_last_command() {
    let server = Server::concord();
    let mut quiet = server.connect();
    quiet.command(&["CLIENT", "SETNAME", "quiet"]).unwrap();
    thread::sleep(Duration::from_millis(2100));
    let mut admin = client(&server);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    let idle = |name: &str| -> u64 {
        let line = list.lines().find(|l| l.contains(&format!(" name={name} "))).unwrap_or_else(|| panic!("{name} in {list}"));
        line.split(' ').find_map(|f| f.strip_prefix("idle=")).unwrap().parse().unwrap()
    };
    assert!(idle("quiet") >= 2, "{list}");
    assert_eq!(idle(""), 0, "the connection asking is not idle: {list}");
}

#[test]
fn client_kill_closes_a_client_that_never_stops_sending_and_a_self_kill_needs_skipme_no() {
    let server = Server::concord();
    let mut admin = client(&server);
    // The victim pipelines PINGs without pause, reading the replies on
    // another thread, until the server closes the connection.
    let mut victim = TcpStream::connect(server.addr()).unwrap();
    victim.write_all(b"CLIENT ID\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = victim.read(&mut buf).unwrap();
    let id = String::from_utf8_lossy(&buf[1..n - 2]).to_string();
    let mut reader = victim.try_clone().unwrap();
    reader.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let closed = thread::spawn(move || {
        let mut sink = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut sink) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut,
            }
        }
    });
    let writer = thread::spawn(move || {
        let pings = b"*1\r\n$4\r\nPING\r\n".repeat(256);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) && victim.write_all(&pings).is_ok() {}
    });
    thread::sleep(Duration::from_millis(200));
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id).query(&mut admin).unwrap();
    assert_eq!(killed, 1);
    let start = Instant::now();
    assert!(closed.join().unwrap(), "the flooding client was never disconnected");
    assert!(start.elapsed() < Duration::from_secs(5), "closed only after {:?}", start.elapsed());
    writer.join().unwrap();
    // Killing oneself: skipped by default (0), as Redis; SKIPME no gets
    // its reply, then the connection closes.
    let mut me = server.connect();
    let my_id_reply = me.command(&["CLIENT", "ID"]).unwrap();
    let my_id = String::from_utf8_lossy(&my_id_reply[1..my_id_reply.len() - 2]).to_string();
    assert_eq!(me.command(&["CLIENT", "KILL", "ID", &my_id]).unwrap(), b":0\r\n");
    assert_eq!(me.command(&["CLIENT", "KILL", "ID", &my_id, "SKIPME", "no"]).unwrap(), b":1\r\n");
    assert!(me.is_closed_by_peer(Duration::from_secs(2)));
}

#[test]
fn client_kill_closes_a_client_that_stopped_reading_its_replies() {
    let server = Server::concord();
    let mut admin = client(&server);
    let big = "x".repeat(1 << 20);
    let _: () = redis::cmd("SET").arg("big").arg(&big).query(&mut admin).unwrap();
    // 200 MiB of replies asked for, none read: the server's write waits on
    // a full socket.
    let mut victim = TcpStream::connect(server.addr()).unwrap();
    victim.write_all(b"CLIENT ID\r\n").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = victim.read(&mut buf).unwrap();
    let id = String::from_utf8_lossy(&buf[1..n - 2]).to_string();
    victim.write_all(&b"GET big\r\n".repeat(200)).unwrap();
    thread::sleep(Duration::from_millis(300));
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id).query(&mut admin).unwrap();
    assert_eq!(killed, 1);
    // What the kernel buffered still arrives, then the end: far less than
    // the 200 MiB asked for.
    victim.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0usize;
    loop {
        match victim.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("no end of stream after {total} bytes: {e}"),
        }
    }
    assert!(total < 50 << 20, "the killed client was sent {total} bytes");
    let left: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    assert_eq!(left.lines().count(), 1, "{left}");
}

#[test]
fn a_client_that_reads_slowly_gets_every_reply_in_order_while_others_are_served() {
    let server = Server::concord();
    let mut admin = client(&server);
    let big = "y".repeat(1 << 20);
    let _: () = redis::cmd("SET").arg("big").arg(&big).query(&mut admin).unwrap();
    // 40 MiB of replies, then a counter, asked for in one write and not
    // read for a while: the replies cannot all fit in the socket.
    let mut slow = server.connect();
    let mut pipeline = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(40);
    pipeline.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n");
    slow.send(&pipeline).unwrap();
    thread::sleep(Duration::from_millis(300));
    // Meanwhile another client is answered at once.
    let start = Instant::now();
    for i in 0..20 {
        let pong: String = redis::cmd("PING").query(&mut admin).unwrap();
        assert_eq!(pong, "PONG", "ping {i}");
    }
    assert!(start.elapsed() < Duration::from_secs(2), "20 PINGs took {:?}", start.elapsed());
    // Then every reply arrives, whole and in order.
    slow.set_timeout(Duration::from_secs(20));
    let expected = format!("${}\r\n{big}\r\n", big.len()).into_bytes();
    for i in 0..40 {
        assert!(slow.read_reply().unwrap() == expected, "GET {i} did not return the value");
    }
    assert_eq!(slow.read_reply().unwrap(), b":1\r\n");
    // The connection still serves requests afterwards.
    assert_eq!(slow.command(&["INCR", "counter"]).unwrap(), b":2\r\n");
}

#[test]
fn a_pipeline_with_a_blocking_command_runs_in_order_in_one_write() {
    let server = Server::concord();
    let mut conn = server.connect();
    // Ordinary requests around one that may block, sent together.
    let mut pipeline = Vec::new();
    for args in [&["SET", "a", "1"][..], &["RPUSH", "l", "x"], &["BLPOP", "l", "0"], &["GET", "a"], &["BLPOP", "l", "0.1"], &["INCR", "a"]] {
        pipeline.extend_from_slice(&crate::support::encode_command(args));
    }
    conn.send(&pipeline).unwrap();
    conn.set_timeout(Duration::from_secs(5));
    let replies: Vec<Vec<u8>> = (0..6).map(|_| conn.read_reply().unwrap()).collect();
    assert_eq!(
        replies,
        vec![
            b"+OK\r\n".to_vec(),
            b":1\r\n".to_vec(),
            b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n".to_vec(),
            b"$1\r\n1\r\n".to_vec(),
            b"*-1\r\n".to_vec(),
            b":2\r\n".to_vec(),
        ]
    );
}

#[test]
fn a_blocking_request_sent_before_another_clients_write_blocks_before_the_write_runs() {
    let server = Server::concord();
    for round in 0..20 {
        let key = format!("order:{round}");
        let mut waiter = server.connect();
        waiter.set_timeout(Duration::from_secs(5));
        let mut writer = server.connect();
        writer.set_timeout(Duration::from_secs(5));
        // The BLPOP's bytes leave first; the push and the pop right after.
        waiter.send_command(&["BLPOP", &key, "5"]).unwrap();
        let mut pipeline = crate::support::encode_command(&["RPUSH", &key, "x"]);
        pipeline.extend_from_slice(&crate::support::encode_command(&["LPOP", &key]));
        writer.send(&pipeline).unwrap();
        // The waiter was blocked when RPUSH ran: it gets the element, and
        // the LPOP behind the push finds the list empty.
        let expected = format!("*2\r\n${}\r\n{key}\r\n$1\r\nx\r\n", key.len());
        assert_eq!(String::from_utf8_lossy(&waiter.read_reply().unwrap()), expected, "round {round}");
        assert_eq!(writer.read_reply().unwrap(), b":1\r\n", "round {round}");
        assert_eq!(writer.read_reply().unwrap(), b"$-1\r\n", "round {round}");
    }
}

/// One SLOWLOG GET entry: id, unix time, duration (µs), arguments, client
/// address, client name.
type SlowEntry = (i64, i64, i64, Vec<Vec<u8>>, String, String);

#[test]
fn slowlog_sees_every_command_of_a_pipeline_at_threshold_zero_and_a_big_mset_at_the_default() {
    let server = Server::concord();
    let mut conn = client(&server);
    redis::cmd("CLIENT").arg("SETNAME").arg("slowtester").query::<()>(&mut conn).unwrap();
    // Threshold 0: every command is logged with its own arguments, even
    // pipelined cheap ones (which are otherwise timed together).
    redis::cmd("CONFIG").arg("SET").arg("slowlog-log-slower-than").arg(0).query::<()>(&mut conn).unwrap();
    redis::cmd("SLOWLOG").arg("RESET").query::<()>(&mut conn).unwrap();
    let mut pipe = redis::pipe();
    for i in 0..20 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut conn).unwrap();
    let entries: Vec<SlowEntry> = redis::cmd("SLOWLOG").arg("GET").arg(-1).query(&mut conn).unwrap();
    // RESET itself, then the 20 SETs, newest first.
    assert_eq!(entries.len(), 21, "{entries:?}");
    for (n, e) in entries[..20].iter().enumerate() {
        let i = 19 - n;
        assert_eq!(e.3, vec![b"SET".to_vec(), format!("k{i}").into_bytes(), i.to_string().into_bytes()]);
        assert_eq!(e.5, "slowtester");
        assert!(e.4.starts_with("127.0.0.1:"), "{}", e.4);
    }
    assert!(entries.windows(2).all(|w| w[0].0 == w[1].0 + 1), "ids count down by one");

    // The default threshold (10 ms): small commands are not logged, an
    // MSET of 200k keys is, trimmed to 32 arguments.
    redis::cmd("CONFIG").arg("SET").arg("slowlog-log-slower-than").arg(10_000).query::<()>(&mut conn).unwrap();
    redis::cmd("SLOWLOG").arg("RESET").query::<()>(&mut conn).unwrap();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut conn).unwrap();
    let mut mset = redis::cmd("MSET");
    for i in 0..200_000 {
        mset.arg(format!("big:{i}")).arg(i);
    }
    mset.query::<()>(&mut conn).unwrap();
    let entries: Vec<SlowEntry> = redis::cmd("SLOWLOG").arg("GET").query(&mut conn).unwrap();
    assert_eq!(entries.len(), 1, "only the MSET: {:?}", entries.iter().map(|e| &e.3[0]).collect::<Vec<_>>());
    let (_, _, micros, args, _, _) = &entries[0];
    assert!(*micros >= 10_000, "{micros}");
    assert_eq!(args.len(), 32);
    assert_eq!(args[0], b"MSET");
    assert_eq!(args[31], b"... (399970 more arguments)");
}

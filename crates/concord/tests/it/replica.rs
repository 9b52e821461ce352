//! In-cluster replication end to end: real `concord shard` processes, a
//! primary and replicas on loopback (`--replicaof`, `REPLICAOF`), kill -9
//! under write load, failovers, backlog overflow, restarts from snapshots
//! plus the log tail, damaged snapshot files. States are compared with a
//! dump of every key read back from each shard.

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{concord_bin, free_port, Frame, RespConn, Server, ServerConfig, ServerKind};

const WAIT: Duration = Duration::from_secs(30);

fn shard(args: &[String]) -> Server {
    Server::start(ServerKind::Concord, ServerConfig { extra_args: args.to_vec(), ..Default::default() })
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn replica_of(primary: &Server, extra: &[&str]) -> Server {
    let mut a = args(&["--replicaof", "127.0.0.1", &primary.port().to_string()]);
    a.extend(args(extra));
    shard(&a)
}

fn info(server: &Server, section: &str) -> String {
    let mut c = server.connect();
    String::from_utf8_lossy(&c.command(&["INFO", section]).unwrap()).into_owned()
}

fn field(server: &Server, section: &str, name: &str) -> String {
    let text = info(server, section);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}:\n{text}"))
        .trim()
        .to_string()
}

fn num(server: &Server, section: &str, name: &str) -> i64 {
    field(server, section, name).parse().unwrap()
}

fn wait_for(what: &str, servers: &[&Server], mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        if Instant::now() > deadline {
            let logs: Vec<String> = servers.iter().map(|s| tail(&s.log())).collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n-----\n"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn tail(log: &str) -> String {
    let mut start = log.len().saturating_sub(4000);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_string()
}

fn link_up(replica: &Server) -> bool {
    replica.try_connect().is_ok() && field(replica, "replication", "master_link_status") == "up"
}

/// Waits until `replica` holds exactly what `primary` holds (same id, same
/// offset, same keys and values).
fn wait_converged(primary: &Server, replica: &Server) {
    wait_for("the replica to reach the primary's offset", &[primary, replica], || {
        link_up(replica)
            && field(primary, "replication", "master_repl_offset") == field(replica, "replication", "master_repl_offset")
            && field(primary, "replication", "master_replid") == field(replica, "replication", "master_replid")
    });
    assert_eq!(dump(primary), dump(replica), "same keys and values");
}

fn parse(reply: &[u8]) -> Frame {
    Frame::parse(reply).unwrap().unwrap().0
}

fn strings(frame: &Frame) -> Vec<Vec<u8>> {
    match frame {
        Frame::Aggregate(_, Some(items)) => items
            .iter()
            .map(|f| match f {
                Frame::Bulk(_, Some(b)) => b.clone(),
                Frame::Line(_, l) => l.clone(),
                other => format!("{other:?}").into_bytes(),
            })
            .collect(),
        other => vec![format!("{other:?}").into_bytes()],
    }
}

/// Every key with its type and value, in key order.
fn dump(server: &Server) -> Vec<String> {
    let mut c = server.connect();
    let mut keys = strings(&parse(&c.command(&["KEYS", "*"]).unwrap()));
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let ty = c.command(&[b"TYPE".as_slice(), &k]).unwrap();
        let value = match &ty[..] {
            b"+string\r\n" => c.command(&[b"GET".as_slice(), &k]).unwrap(),
            b"+list\r\n" => c.command(&[b"LRANGE".as_slice(), &k, b"0", b"-1"]).unwrap(),
            b"+hash\r\n" => {
                let mut pairs: Vec<Vec<Vec<u8>>> =
                    strings(&parse(&c.command(&[b"HGETALL".as_slice(), &k]).unwrap())).chunks(2).map(|p| p.to_vec()).collect();
                pairs.sort();
                format!("{pairs:?}").into_bytes()
            }
            _ => ty.clone(),
        };
        out.push(format!("{} {} {}", String::from_utf8_lossy(&k), String::from_utf8_lossy(&ty).trim(), String::from_utf8_lossy(&value)));
    }
    out
}

/// Writes to `port` from a thread until stopped; counts acknowledged writes.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Load {
    fn start(server: &Server, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let addr = server.addr();
        let (s, a, prefix) = (stop.clone(), acked.clone(), prefix.to_string());
        let thread = thread::spawn(move || {
            let mut c: Option<RespConn> = None;
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                let conn = match &mut c {
                    Some(conn) => conn,
                    None => match RespConn::connect(addr) {
                        Ok(conn) => c.insert(conn),
                        Err(_) => {
                            thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    },
                };
                let cmd: Vec<String> = match i % 4 {
                    0 => args(&["SET", &format!("{prefix}k{}", i % 500), &format!("v{i}")]),
                    1 => args(&["INCR", &format!("{prefix}c{}", i % 5)]),
                    2 => args(&["RPUSH", &format!("{prefix}l{}", i % 3), &i.to_string()]),
                    _ => args(&["HSET", &format!("{prefix}h"), &format!("f{}", i % 50), &i.to_string()]),
                };
                match conn.command(&cmd) {
                    Ok(r) if !r.starts_with(b"-") => {
                        a.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    _ => {
                        c = None;
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        });
        Load { stop, acked, thread: Some(thread) }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    fn wait_more(&self, n: u64) {
        let target = self.acked() + n;
        let deadline = Instant::now() + WAIT;
        while self.acked() < target {
            assert!(Instant::now() < deadline, "the write load stalled at {}", self.acked());
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.acked()
    }
}

#[test]
fn replica_is_read_only_and_reports_role_and_info() {
    let primary = shard(&[]);
    let replica = replica_of(&primary, &[]);
    let mut p = primary.connect();
    assert_eq!(p.command(&["SET", "a", "1"]).unwrap(), b"+OK\r\n");
    wait_converged(&primary, &replica);
    let mut r = replica.connect();
    assert_eq!(r.command(&["GET", "a"]).unwrap(), b"$1\r\n1\r\n");
    assert_eq!(r.command(&["SET", "a", "2"]).unwrap(), b"-READONLY You can't write against a read only replica.\r\n");
    let role = strings(&parse(&r.command(&["ROLE"]).unwrap()));
    assert_eq!(role[0], b"slave");
    assert_eq!(role[3], b"connected");
    let hello = strings(&parse(&r.command(&["HELLO", "2"]).unwrap()));
    assert!(hello.windows(2).any(|w| w[0] == b"role" && w[1] == b"replica"), "{hello:?}");
    let role = parse(&p.command(&["ROLE"]).unwrap());
    assert_eq!(strings(&role)[0], b"master");
    let text = info(&primary, "replication");
    assert!(text.contains("connected_slaves:1"), "{text}");
    assert!(text.contains(&format!("slave0:ip=127.0.0.1,port={},state=online", replica.port())), "{text}");
    let text = info(&replica, "replication");
    assert!(text.contains("role:slave") && text.contains(&format!("master_port:{}", primary.port())), "{text}");
    assert_eq!(num(&primary, "stats", "sync_full"), 1);
    let replicaof = format!("{} {}", "127.0.0.1", primary.port());
    let want = format!("*2\r\n$9\r\nreplicaof\r\n${}\r\n{}\r\n", replicaof.len(), replicaof);
    assert_eq!(r.command(&["CONFIG", "GET", "replicaof"]).unwrap(), want.as_bytes());
    // A key with a TTL expires on the replica only through the primary.
    assert_eq!(p.command(&["SET", "t", "x", "PX", "100"]).unwrap(), b"+OK\r\n");
    wait_for("the expiry to replicate", &[&primary, &replica], || r.command(&["EXISTS", "t"]).unwrap() == b":0\r\n");
    wait_converged(&primary, &replica);
    // CONFIG GET replicaof follows REPLICAOF at run time.
    assert_eq!(r.command(&["REPLICAOF", "NO", "ONE"]).unwrap(), b"+OK\r\n");
    assert_eq!(r.command(&["CONFIG", "GET", "replicaof"]).unwrap(), b"*2\r\n$9\r\nreplicaof\r\n$0\r\n\r\n");
    assert_eq!(r.command(&["REPLICAOF", "127.0.0.1", &primary.port().to_string()]).unwrap(), b"+OK\r\n");
    assert_eq!(r.command(&["CONFIG", "GET", "replicaof"]).unwrap(), want.as_bytes());
}

#[test]
fn replica_restart_and_kill_9_under_load_resume_with_partial_syncs() {
    let primary = shard(&[]);
    let mut replica = replica_of(&primary, &[]);
    let load = Load::start(&primary, "");
    load.wait_more(2000);
    wait_for("the first sync", &[&primary, &replica], || link_up(&replica));
    assert_eq!(num(&primary, "stats", "sync_full"), 1);
    for round in 0..3 {
        if round == 1 {
            // Down for a while: the primary writes on meanwhile.
            replica.stop();
            load.wait_more(3000);
        }
        replica.restart(); // kill -9 and start again on the same directory
        load.wait_more(1000);
        wait_for("the replica to resync", &[&primary, &replica], || link_up(&replica));
        assert_eq!(num(&primary, "stats", "sync_partial_ok"), round + 1, "{}", tail(&replica.log()));
        assert_eq!(num(&primary, "stats", "sync_full"), 1, "no full sync after a restart");
    }
    let acked = load.stop();
    assert!(acked > 5000);
    wait_converged(&primary, &replica);
    assert_eq!(num(&primary, "stats", "sync_partial_err"), 0);
}

#[test]
fn failover_with_two_replicas_keeps_partial_syncs() {
    let mut primary = shard(&[]);
    let r1 = replica_of(&primary, &[]);
    let r2 = replica_of(&primary, &[]);
    let load = Load::start(&primary, "a");
    load.wait_more(2000);
    load.stop();
    wait_converged(&primary, &r1);
    wait_converged(&primary, &r2);
    let old_offset = num(&primary, "replication", "master_repl_offset");
    primary.stop();

    // r1 takes over; r2 follows it with a partial sync.
    let mut c1 = r1.connect();
    assert_eq!(c1.command(&["REPLICAOF", "NO", "ONE"]).unwrap(), b"+OK\r\n");
    assert_eq!(field(&r1, "replication", "role"), "master");
    assert_eq!(num(&r1, "replication", "second_repl_offset"), old_offset);
    let mut c2 = r2.connect();
    assert_eq!(c2.command(&["REPLICAOF", "127.0.0.1", &r1.port().to_string()]).unwrap(), b"+OK\r\n");
    let load = Load::start(&r1, "b");
    load.wait_more(1000);
    load.stop();
    wait_converged(&r1, &r2);
    assert_eq!(num(&r1, "stats", "sync_partial_ok"), 1);
    assert_eq!(num(&r1, "stats", "sync_full"), 0);

    // And back: r2 takes over, r1 follows it, still partially.
    assert_eq!(c2.command(&["REPLICAOF", "NO", "ONE"]).unwrap(), b"+OK\r\n");
    assert_eq!(c1.command(&["REPLICAOF", "127.0.0.1", &r2.port().to_string()]).unwrap(), b"+OK\r\n");
    let load = Load::start(&r2, "c");
    load.wait_more(1000);
    load.stop();
    wait_converged(&r2, &r1);
    assert_eq!(num(&r2, "stats", "sync_partial_ok"), 1);
    assert_eq!(num(&r2, "stats", "sync_full"), 0);

    // The old primary comes back as a replica: it had nothing the others
    // lack, so it continues partially too.
    primary.restart();
    let mut c0 = primary.connect();
    assert_eq!(c0.command(&["REPLICAOF", "127.0.0.1", &r2.port().to_string()]).unwrap(), b"+OK\r\n");
    wait_converged(&r2, &primary);
    assert_eq!(num(&r2, "stats", "sync_partial_ok"), 2);
    assert_eq!(num(&r2, "stats", "sync_full"), 0);
}

#[test]
fn backlog_overflow_forces_a_full_sync_that_converges_and_carries_the_backlog() {
    let primary = shard(&args(&["--repl-backlog-size", "256kb"]));
    let mut replica = replica_of(&primary, &[]);
    let mut p = primary.connect();
    assert_eq!(p.command(&["SET", "first", "1"]).unwrap(), b"+OK\r\n");
    wait_converged(&primary, &replica);
    replica.stop();
    let big = "x".repeat(1000);
    for i in 0..1000 {
        assert_eq!(p.command(&["SET", &format!("big{}", i % 100), &big]).unwrap(), b"+OK\r\n");
    }
    replica.restart();
    wait_converged(&primary, &replica);
    assert_eq!(num(&primary, "stats", "sync_full"), 2);
    assert_eq!(num(&primary, "stats", "sync_partial_err"), 1, "the replica asked for a partial sync first");
    // The full sync carried the backlog: the replica holds the same range
    // and can serve partial syncs from it at once.
    let first = num(&primary, "replication", "repl_backlog_first_byte_offset");
    assert_eq!(num(&replica, "replication", "repl_backlog_first_byte_offset"), first);
    assert!(num(&replica, "replication", "repl_backlog_histlen") > 100_000);
    // A chained replica of the replica continues from inside that range.
    let chained = replica_of(&replica, &[]);
    wait_converged(&replica, &chained);
    assert_eq!(p.command(&["SET", "last", "1"]).unwrap(), b"+OK\r\n");
    wait_converged(&primary, &replica);
    wait_converged(&replica, &chained);
}

#[test]
fn primary_kill_9_restarts_from_snapshot_and_log_tail_without_losing_acknowledged_writes() {
    let mut primary =
        shard(&args(&["--appendfsync", "always", "--snapshot-every", "64kb", "--log-segment-size", "16kb"]));
    let replica = replica_of(&primary, &[]);
    let load = Load::start(&primary, "");
    load.wait_more(3000);
    wait_for("a snapshot", &[&primary], || num(&primary, "persistence", "rdb_saves") >= 2);
    let acked = load.stop();
    let mut c = primary.connect();
    assert_eq!(c.command(&["SET", "last", "write"]).unwrap(), b"+OK\r\n");
    let before = dump(&primary);
    let replid = field(&primary, "replication", "master_replid");
    let offset = field(&primary, "replication", "master_repl_offset");
    wait_converged(&primary, &replica);
    let snaps: Vec<_> = fs::read_dir(primary.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("snapshot-"))
        .collect();
    assert_eq!(snaps.len(), 1, "older snapshots are removed: {snaps:?}");
    // The segments wholly before the snapshot are gone.
    let snap_offset: u64 = snaps[0]["snapshot-".len()..snaps[0].len() - ".snap".len()].parse().unwrap();
    let mut segments: Vec<u64> = fs::read_dir(primary.dir().join("stream"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().unwrap().strip_prefix("stream-")?.strip_suffix(".log")?.parse().ok())
        .collect();
    segments.sort();
    assert!(segments[0] > 0 && segments[0] <= snap_offset, "first segment {} vs snapshot {snap_offset}", segments[0]);
    drop(c);
    primary.restart(); // SIGKILL
    assert!(primary.log().contains("loaded the snapshot"), "{}", tail(&primary.log()));
    assert_eq!(dump(&primary), before, "every acknowledged write ({acked}) is back");
    assert_eq!(field(&primary, "replication", "master_replid"), replid);
    assert_eq!(field(&primary, "replication", "master_repl_offset"), offset);
    // Its replica continues with a partial sync from the restarted primary.
    wait_for("the replica to reconnect", &[&primary, &replica], || num(&primary, "stats", "sync_partial_ok") == 1);
    let mut c = primary.connect();
    assert_eq!(c.command(&["SET", "after", "restart"]).unwrap(), b"+OK\r\n");
    wait_converged(&primary, &replica);
    assert_eq!(num(&primary, "stats", "sync_full"), 0);
}

#[test]
fn a_damaged_snapshot_stops_the_start_with_a_clear_error_naming_the_file() {
    let mut primary = shard(&args(&["--snapshot-every", "16kb"]));
    let mut c = primary.connect();
    for i in 0..400 {
        assert_eq!(c.command(&["SET", &format!("key{i}"), "value-value-value"]).unwrap(), b"+OK\r\n");
    }
    wait_for("a snapshot", &[&primary], || num(&primary, "persistence", "rdb_saves") >= 1);
    drop(c);
    primary.stop();
    let snap = fs::read_dir(primary.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("snapshot-"))
        .expect("a snapshot file");
    let mut bytes = fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&snap, &bytes).unwrap();
    let output = std::process::Command::new(concord_bin())
        .args(["shard", "--port", &free_port().to_string(), "--dir", primary.dir().to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success(), "the shard must refuse to start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(snap.file_name().unwrap().to_str().unwrap()), "names the file: {stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert_eq!(fs::read(&snap).unwrap(), bytes, "the damaged file is left as it was");
}

#[test]
fn masterauth_authenticates_the_replica_and_a_wrong_one_keeps_the_link_down() {
    let primary = Server::start(
        ServerKind::Concord,
        ServerConfig { requirepass: Some("s3cret".into()), extra_args: Vec::new() },
    );
    let good = replica_of(&primary, &["--masterauth", "s3cret"]);
    let bad = replica_of(&primary, &["--masterauth", "wrong"]);
    let mut p = primary.connect();
    assert_eq!(p.command(&["SET", "a", "1"]).unwrap(), b"+OK\r\n");
    wait_for("the authenticated replica", &[&primary, &good], || {
        link_up(&good) && dump(&good) == vec!["a +string $1\r\n1\r\n".to_string()]
    });
    wait_for("the refusal in the log", &[&bad], || bad.log().contains("refused masterauth"));
    assert_eq!(field(&bad, "replication", "master_link_status"), "down");
    assert_eq!(num(&primary, "replication", "connected_slaves"), 1);
}

/// The pid a shard reports in INFO server.
fn pid(server: &Server) -> String {
    field(server, "server", "process_id")
}

#[test]
fn a_replica_over_the_output_buffer_hard_limit_is_disconnected_and_counted() {
    let primary = shard(&args(&["--repl-backlog-size", "128mb"]));
    let replica = replica_of(&primary, &[]);
    let mut p = primary.connect();
    assert_eq!(
        p.command(&["CONFIG", "SET", "client-output-buffer-limit", "replica 4mb 0 0"]).unwrap(),
        b"+OK\r\n"
    );
    assert_eq!(p.command(&["SET", "a", "1"]).unwrap(), b"+OK\r\n");
    wait_converged(&primary, &replica);
    // A replica that stops reading: the socket buffers fill, then the
    // primary's pending output grows past the hard limit.
    let replica_pid = pid(&replica);
    let stop = |sig: &str| {
        let status = std::process::Command::new("kill").args([sig, &replica_pid]).status().unwrap();
        assert!(status.success());
    };
    stop("-STOP");
    let big = "y".repeat(100_000);
    let deadline = Instant::now() + WAIT;
    let mut i = 0;
    while num(&primary, "stats", "client_output_buffer_limit_disconnections") == 0 {
        assert!(Instant::now() < deadline, "never disconnected:\n{}", tail(&primary.log()));
        for _ in 0..50 {
            assert_eq!(p.command(&["SET", &format!("big{}", i % 400), &big]).unwrap(), b"+OK\r\n");
            i += 1;
        }
    }
    stop("-CONT");
    assert!(primary.log().contains("exceed client-output-buffer-limit replica"), "{}", tail(&primary.log()));
    // It comes back with a partial sync: the backlog still covers it.
    wait_converged(&primary, &replica);
    assert_eq!(num(&primary, "stats", "sync_full"), 1);
    assert_eq!(num(&primary, "stats", "sync_partial_ok"), 1);
}

#[test]
fn failover_command_hands_over_to_a_caught_up_replica_and_keeps_partial_syncs() {
    let primary = shard(&[]);
    let r1 = replica_of(&primary, &[]);
    let r2 = replica_of(&primary, &[]);
    let load = Load::start(&primary, "");
    load.wait_more(2000);
    let mut p = primary.connect();
    assert_eq!(
        r1.connect().command(&["FAILOVER"]).unwrap(),
        b"-ERR FAILOVER is not valid when server is a replica.\r\n"
    );
    wait_for("both replicas online", &[&primary, &r1, &r2], || num(&primary, "replication", "connected_slaves") == 2);
    // Under write load: writes are held back until r1 has everything.
    let reply = p.command(&["FAILOVER", "TO", "127.0.0.1", &r1.port().to_string(), "TIMEOUT", "10000"]).unwrap();
    assert_eq!(reply, b"+OK\r\n");
    wait_for("the hand-over", &[&primary, &r1], || {
        field(&r1, "replication", "role") == "master" && field(&primary, "replication", "role") == "slave"
    });
    let acked = load.stop();
    assert_eq!(p.command(&["SET", "x", "1"]).unwrap(), b"-READONLY You can't write against a read only replica.\r\n");
    let mut c1 = r1.connect();
    assert_eq!(c1.command(&["SET", "after", "failover"]).unwrap(), b"+OK\r\n");
    // The old primary follows r1, and r2 (still its replica) follows the
    // chain: nobody needed a full sync.
    wait_converged(&r1, &primary);
    wait_converged(&primary, &r2);
    assert_eq!(num(&r1, "stats", "sync_partial_ok"), 1);
    assert_eq!(num(&r1, "stats", "sync_full"), 0);
    assert_eq!(num(&primary, "stats", "sync_full"), 2, "only the two first syncs");
    assert!(num(&primary, "stats", "sync_partial_ok") >= 1, "r2 reconnected partially");
    assert!(acked > 2000);
}

#[test]
fn a_clean_shutdown_takes_a_snapshot_that_the_next_start_loads() {
    let mut primary = shard(&args(&["--appendfsync", "everysec"]));
    let mut c = primary.connect();
    for i in 0..300 {
        assert_eq!(c.command(&["SET", &format!("k{i}"), &format!("v{i}")]).unwrap(), b"+OK\r\n");
    }
    let before = dump(&primary);
    let offset: u64 = field(&primary, "replication", "master_repl_offset").parse().unwrap();
    let replid = field(&primary, "replication", "master_replid");
    let pid = pid(&primary);
    drop(c);
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + WAIT;
    while primary.is_running() {
        assert!(Instant::now() < deadline, "the shard did not stop on SIGTERM:\n{}", tail(&primary.log()));
        thread::sleep(Duration::from_millis(20));
    }
    let name = format!("snapshot-{offset:020}.snap");
    assert!(primary.dir().join(&name).exists(), "{name} at shutdown:\n{}", tail(&primary.log()));
    primary.restart();
    assert!(primary.log().contains("loaded the snapshot"), "{}", tail(&primary.log()));
    assert_eq!(dump(&primary), before);
    assert_eq!(field(&primary, "replication", "master_replid"), replid);
    assert_eq!(num(&primary, "replication", "master_repl_offset"), offset as i64);
    let mut c = primary.connect();
    assert_eq!(c.command(&["SET", "after", "1"]).unwrap(), b"+OK\r\n");
}

#[test]
fn merged_snapshots_are_deleted_once_a_snapshot_covers_them() {
    let mut shard = shard(&args(&[
        "--instance", "1", "--members", "1,2", "--snapshot-every", "16kb", "--log-segment-size", "8kb",
        "--repl-backlog-size", "32kb", "--crdt-repl-backlog-size", "32kb", "--appendfsync", "always",
    ]));
    let mut c = shard.connect();
    // A full sync from instance 2, as its syncer would hand it over.
    let snap = crdt::snapshot::encode(&crdt::Db::new(crdt::InstanceId(2)), &[]);
    let replid = "ab".repeat(20);
    let reply = c.command(&[b"CRDT.MERGE".as_slice(), b"2", replid.as_bytes(), b"100", &snap]).unwrap();
    assert_eq!(reply, b"+OK\r\n");
    let file = shard.dir().join("merges").join(format!("merge-2-{replid}-100.snap"));
    assert!(file.exists());
    for i in 0..2000 {
        assert_eq!(c.command(&["SET", &format!("k{}", i % 100), &"v".repeat(100)]).unwrap(), b"+OK\r\n");
    }
    wait_for("the merged snapshot to go", &[&shard], || !file.exists());
    let before = dump(&shard);
    drop(c);
    shard.restart(); // kill -9: the start needs no merge file any more
    assert_eq!(dump(&shard), before);
    let mut c = shard.connect();
    assert_eq!(c.command(&["CRDT.POSITION", "2"]).unwrap(), format!("*2\r\n$40\r\n{replid}\r\n$3\r\n100\r\n").into_bytes());
}

/// Sets `key:0..n` to `value:<i>` with pipelined batches.
fn fill(server: &Server, n: u64) {
    let mut c = server.connect();
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let mut batch = Vec::new();
        for i in start..end {
            batch.extend_from_slice(&crate::support::encode_command(&["SET".to_string(), format!("key:{i}"), format!("value:{i}")]));
        }
        c.send(&batch).unwrap();
        for _ in start..end {
            assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
        }
    }
}

/// The number of keys and a hash of every (key, value) pair, read back with
/// pipelined GETs (every key is a string here).
fn string_digest(server: &Server) -> (usize, u64) {
    use std::hash::{Hash, Hasher};
    let mut c = server.connect();
    c.set_timeout(Duration::from_secs(30));
    let mut keys = strings(&parse(&c.command(&["KEYS", "*"]).unwrap()));
    keys.sort();
    let mut h = std::hash::DefaultHasher::new();
    for batch in keys.chunks(1000) {
        let mut out = Vec::new();
        for k in batch {
            out.extend_from_slice(&crate::support::encode_command(&[b"GET".as_slice(), k]));
        }
        c.send(&out).unwrap();
        for k in batch {
            (k, c.read_reply().unwrap()).hash(&mut h);
        }
    }
    (keys.len(), h.finish())
}

/// The value of `name=<number>` in the first log line containing `line`
/// (colors stripped).
fn log_field(log: &str, line: &str, name: &str) -> Option<u64> {
    let mut plain = String::with_capacity(log.len());
    let mut in_escape = false;
    for ch in log.chars() {
        match (in_escape, ch) {
            (false, '\u{1b}') => in_escape = true,
            (false, c) => plain.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    let l = plain.lines().find(|l| l.contains(line))?;
    let at = l.find(&format!(" {name}="))? + name.len() + 2;
    l[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[test]
fn a_full_sync_while_clients_write_and_delete_ends_identical() {
    let primary = shard(&args(&["--repl-backlog-size", "64mb"]));
    let keys = 200_000u64;
    fill(&primary, keys);
    // Writers overwrite, delete (the last key moves into the hole) and
    // create keys all over the keyspace while the snapshot is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let (stop, acked, addr) = (stop.clone(), acked.clone(), primary.addr());
            thread::spawn(move || {
                let mut c = RespConn::connect(addr).unwrap();
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ w;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut batch = Vec::new();
                    for _ in 0..50 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = format!("key:{}", x % keys);
                        i += 1;
                        let cmd = match x % 3 {
                            0 => args(&["DEL", &k]),
                            1 => args(&["SET", &k, &format!("w{w}:{i}")]),
                            _ => args(&["SET", &format!("new:{w}:{i}"), "n"]),
                        };
                        batch.extend_from_slice(&crate::support::encode_command(&cmd));
                    }
                    c.send(&batch).unwrap();
                    for _ in 0..50 {
                        assert!(!c.read_reply().unwrap().starts_with(b"-"));
                    }
                    acked.fetch_add(50, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let before = acked.load(Ordering::Relaxed);
    let replica = replica_of(&primary, &[]);
    wait_for("the replica's full sync", &[&primary, &replica], || link_up(&replica));
    let target = acked.load(Ordering::Relaxed) + 2000;
    wait_for("more writes after the full sync", &[&primary], || acked.load(Ordering::Relaxed) >= target);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(acked.load(Ordering::Relaxed) > before, "the writers wrote during the sync");
    wait_for("the replica to reach the primary's offset", &[&primary, &replica], || {
        link_up(&replica) && field(&primary, "replication", "master_repl_offset") == field(&replica, "replication", "master_repl_offset")
    });
    let (n, digest) = string_digest(&primary);
    assert!(n > 100_000, "{n} keys");
    assert_eq!(string_digest(&replica), (n, digest), "same keys and values");
    // The snapshot was taken in many short holds of the lock while the
    // writers kept going: it is of a later offset than the PSYNC decision.
    let log = primary.log();
    let decided = log_field(&log, "full sync to a replica", "offset").expect("the decision is logged");
    let taken = log_field(&log, "took a snapshot while serving", "offset").expect("the capture is logged");
    let holds = log_field(&log, "took a snapshot while serving", "holds").unwrap();
    assert!(taken > decided, "writes went on during the capture: decided at {decided}, snapshot at {taken}");
    assert!(holds > 10, "{holds} holds");
    let pause = num(&primary, "stats", "latest_fork_usec");
    assert!(pause > 0 && pause as u64 == log_field(&log, "took a snapshot while serving", "max_hold_us").unwrap());
}

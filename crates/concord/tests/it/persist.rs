//! The stream as the append-only log: restarts replay it and come back at
//! the same (replication id, offset); damaged files get clear errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{concord_bin, free_port, RespConn, Server, ServerConfig, ServerKind};

fn info_field(conn: &mut RespConn, section: &str, field: &str) -> String {
    let reply = conn.command(&["INFO", section]).unwrap();
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .trim()
        .to_string()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("stream")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn shard_with(args: &[&str]) -> Server {
    let config = ServerConfig { extra_args: args.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    Server::start(ServerKind::Concord, config)
}

#[test]
fn kill_9_with_appendfsync_always_loses_no_acknowledged_write() {
    let mut server = shard_with(&["--appendfsync", "always"]);
    let mut c = server.connect();
    for i in 0..500 {
        assert_eq!(c.command(&["INCR", "counter"]).unwrap(), format!(":{}\r\n", i + 1).into_bytes());
        assert_eq!(c.command(&["SET", &format!("k{i}"), &format!("v{i}")]).unwrap(), b"+OK\r\n");
    }
    assert_eq!(c.command(&["HSET", "h", "f", "1", "g", "2"]).unwrap(), b":2\r\n");
    assert_eq!(c.command(&["SADD", "s", "a", "b"]).unwrap(), b":2\r\n");
    assert_eq!(c.command(&["DEL", "k7"]).unwrap(), b":1\r\n");
    let replid = info_field(&mut c, "replication", "master_replid");
    let offset = info_field(&mut c, "replication", "master_repl_offset");
    drop(c);
    server.restart(); // SIGKILL, then start on the same directory
    let mut c = server.connect();
    assert_eq!(c.command(&["GET", "counter"]).unwrap(), b"$3\r\n500\r\n");
    assert_eq!(c.command(&["GET", "k499"]).unwrap(), b"$4\r\nv499\r\n");
    assert_eq!(c.command(&["EXISTS", "k7"]).unwrap(), b":0\r\n");
    assert_eq!(c.command(&["HGET", "h", "g"]).unwrap(), b"$1\r\n2\r\n");
    assert_eq!(c.command(&["SCARD", "s"]).unwrap(), b":2\r\n");
    assert_eq!(c.command(&["DBSIZE"]).unwrap(), b":502\r\n");
    assert_eq!(info_field(&mut c, "replication", "master_replid"), replid);
    assert_eq!(info_field(&mut c, "replication", "master_repl_offset"), offset);
    // The backlog refilled from the log: it covers the whole history again.
    assert_eq!(info_field(&mut c, "replication", "repl_backlog_first_byte_offset"), "0");
    // And the stream continues from there.
    assert_eq!(c.command(&["INCR", "counter"]).unwrap(), b":501\r\n");
}

#[test]
fn a_torn_last_record_is_truncated_and_the_rest_is_kept() {
    let mut server = shard_with(&["--appendfsync", "always"]);
    let mut c = server.connect();
    for i in 0..20 {
        assert_eq!(c.command(&["SET", &format!("k{i}"), "v"]).unwrap(), b"+OK\r\n");
    }
    drop(c);
    server.stop();
    let last = segments(server.dir()).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    // Half a record: a length and checksum promising more than follows.
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    fs::write(&last, &bytes).unwrap();
    server.restart();
    let mut c = server.connect();
    assert_eq!(c.command(&["DBSIZE"]).unwrap(), b":20\r\n");
    assert!(server.log().contains("torn"), "the truncation is logged:\n{}", server.log());
    assert_eq!(c.command(&["SET", "after", "1"]).unwrap(), b"+OK\r\n");
}

#[test]
fn a_checksum_mismatch_in_the_middle_stops_the_start_with_file_and_offset() {
    let mut server = shard_with(&["--appendfsync", "always"]);
    let mut c = server.connect();
    for i in 0..50 {
        assert_eq!(c.command(&["SET", &format!("key{i}"), "value"]).unwrap(), b"+OK\r\n");
    }
    drop(c);
    server.stop();
    let seg = segments(server.dir()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let output = Command::new(concord_bin())
        .args(["shard", "--port", &free_port().to_string(), "--dir", server.dir().to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success(), "the shard must refuse to start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains(seg.file_name().unwrap().to_str().unwrap()), "names the file: {stderr}");
    // Nothing was thrown away: the damaged file is still there as it was.
    assert_eq!(fs::read(&seg).unwrap(), bytes);
    let _ = Duration::from_secs(0);
}

#[test]
fn appendonly_no_keeps_nothing_on_disk() {
    let mut server = shard_with(&["--appendonly", "no"]);
    let mut c = server.connect();
    assert_eq!(c.command(&["SET", "a", "1"]).unwrap(), b"+OK\r\n");
    assert_eq!(info_field(&mut c, "persistence", "aof_enabled"), "0");
    drop(c);
    server.restart();
    let mut c = server.connect();
    assert_eq!(c.command(&["EXISTS", "a"]).unwrap(), b":0\r\n");
}

//! The syncer against a scripted peer proxy and a scripted local shard,
//! both in this process on loopback: the conversation of docs/sync.md, from
//! the syncer's side.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use replication::ReplId;
use resp::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Args = Vec<Bytes>;

async fn read_command(sock: &mut TcpStream, buf: &mut BytesMut) -> Option<Args> {
    loop {
        if let Some(frame) = resp::decode_frame(buf, &resp::Limits::default()).unwrap() {
            let Frame::Array(items) = frame else { panic!("not a command: {frame:?}") };
            return Some(
                items
                    .into_iter()
                    .map(|f| match f {
                        Frame::Bulk(b) => b,
                        other => panic!("{other:?}"),
                    })
                    .collect(),
            );
        }
        if sock.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    resp::encode_request(args, &mut out);
    out.to_vec()
}

fn name(args: &Args) -> String {
    String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
}

/// A local shard: answers AUTH, CRDT.POSITION (from what it applied),
/// CRDT.MERGE and CRDT.APPLY, and reports every command.
struct Shard {
    addr: SocketAddr,
    commands: mpsc::UnboundedReceiver<Args>,
}

async fn shard(password: Option<&'static str>) -> Shard {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let position: Arc<Mutex<Option<(Bytes, Bytes)>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let (tx, position) = (tx.clone(), position.clone());
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                let mut authed = password.is_none();
                while let Some(args) = read_command(&mut sock, &mut buf).await {
                    let reply: Vec<u8> = match name(&args).as_str() {
                        "AUTH" if Some(&args[1][..]) == password.map(str::as_bytes) => {
                            authed = true;
                            b"+OK\r\n".to_vec()
                        }
                        "AUTH" => b"-WRONGPASS invalid username-password pair or user is disabled.\r\n".to_vec(),
                        _ if !authed => b"-NOAUTH Authentication required.\r\n".to_vec(),
                        "CRDT.POSITION" => match position.lock().unwrap().clone() {
                            Some((id, off)) => cmd(&[&id, &off]),
                            None => cmd(&[b"?", b"-1"]),
                        },
                        "CRDT.MERGE" => {
                            *position.lock().unwrap() = Some((args[2].clone(), args[3].clone()));
                            b"+OK\r\n".to_vec()
                        }
                        "CRDT.APPLY" => {
                            *position.lock().unwrap() = Some((args[2].clone(), args[3].clone()));
                            format!(":{}\r\n", std::str::from_utf8(&args[4]).unwrap()).into_bytes()
                        }
                        other => format!("-ERR unknown command '{other}'\r\n").into_bytes(),
                    };
                    let _ = tx.send(args);
                    if sock.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Shard { addr, commands: rx }
}

/// One accepted connection of the peer proxy, handed to the test.
struct PeerConn {
    sock: TcpStream,
    buf: BytesMut,
}

impl PeerConn {
    async fn expect(&mut self, command: &str) -> Args {
        let args = read_command(&mut self.sock, &mut self.buf).await.expect("the syncer hung up");
        assert_eq!(name(&args), command, "{args:?}");
        args
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).await.unwrap();
    }
}

async fn peer() -> (SocketAddr, mpsc::UnboundedReceiver<PeerConn>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let _ = tx.send(PeerConn { sock, buf: BytesMut::new() });
        }
    });
    (addr, rx)
}

fn config(shard: SocketAddr, peer: SocketAddr, password: Option<&str>, compression: u8) -> syncer::Config {
    syncer::Config {
        instance: 1,
        shard,
        password: password.map(String::from),
        peers: vec![(2, peer)],
        compression,
    }
}

fn payload(effects: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in effects {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
    }
    out
}

fn effects_frame(end: u64, effects: &[&[u8]], compression: i32) -> Vec<u8> {
    let raw = payload(effects);
    // As the shard does: an empty payload is sent as is.
    let body = if compression > 0 && !raw.is_empty() { zstd::bulk::compress(&raw, compression).unwrap() } else { raw };
    cmd(&[b"EFFECTS", end.to_string().as_bytes(), effects.len().to_string().as_bytes(), &body])
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Args>) -> Args {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("timed out").expect("closed")
}

async fn accept(rx: &mut mpsc::UnboundedReceiver<PeerConn>) -> PeerConn {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("no connection").unwrap()
}

#[tokio::test]
async fn full_sync_then_batched_effects_then_partial_sync() {
    let mut shard = shard(Some("pw")).await;
    let (peer_addr, mut conns) = peer().await;
    let stop = CancellationToken::new();
    let run = tokio::spawn(syncer::run(config(shard.addr, peer_addr, Some("pw"), 3), stop.clone()));
    let id = ReplId::from_seed(42);

    let mut p = accept(&mut conns).await;
    assert_eq!(&p.expect("AUTH").await[1][..], b"pw");
    p.send(b"+OK\r\n").await;
    let hello = p.expect("CRDT.HELLO").await;
    assert_eq!(hello[1..], [Bytes::from(syncer::wire::PROTOCOL_VERSION.to_string()), Bytes::from("1"), Bytes::from("2")]);
    p.send(b"+OK\r\n").await;
    assert_eq!(name(&next(&mut shard.commands).await), "AUTH");
    assert_eq!(&next(&mut shard.commands).await[1][..], b"2");
    let psync = p.expect("CRDT.PSYNC").await;
    assert_eq!(psync[1..], [Bytes::from("?"), Bytes::from("-1"), Bytes::from("3")]);

    // A snapshot in two compressed chunks, then three EFFECTS frames in one
    // write (plus a PING): one CRDT.MERGE, then one CRDT.APPLY.
    let snap: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut out = format!("+FULLRESYNC {id} 100\r\n").into_bytes();
    for chunk in snap.chunks(120_000) {
        out.extend(cmd(&[b"SNAPSHOT", &zstd::bulk::compress(chunk, 3).unwrap()]));
    }
    out.extend(cmd(&[b"SNAPEND", snap.len().to_string().as_bytes()]));
    out.extend(effects_frame(150, &[b"a", b"bb"], 3));
    out.extend(cmd(&[b"PING"]));
    out.extend(effects_frame(160, &[], 3));
    out.extend(effects_frame(200, &[b"ccc"], 3));
    p.send(&out).await;

    let merge = next(&mut shard.commands).await;
    assert_eq!(name(&merge), "CRDT.MERGE");
    assert_eq!(merge[1..4], [Bytes::from("2"), Bytes::from(id.to_string()), Bytes::from("100")]);
    assert_eq!(&merge[4][..], &snap[..]);
    let apply = next(&mut shard.commands).await;
    assert_eq!(name(&apply), "CRDT.APPLY");
    assert_eq!(apply[1..5], [Bytes::from("2"), Bytes::from(id.to_string()), Bytes::from("200"), Bytes::from("3")]);
    assert_eq!(&apply[5][..], &payload(&[b"a", b"bb", b"ccc"])[..]);

    // Effects that arrive alone are forwarded at once.
    p.send(&effects_frame(230, &[b"dddd"], 3)).await;
    let apply = next(&mut shard.commands).await;
    assert_eq!(apply[3..5], [Bytes::from("230"), Bytes::from("1")]);

    // The peer ends the session: the syncer reconnects and continues from
    // its stored position.
    p.send(b"-ERR backlog overrun\r\n").await;
    drop(p);
    let mut p = accept(&mut conns).await;
    p.expect("AUTH").await;
    p.send(b"+OK\r\n").await;
    p.expect("CRDT.HELLO").await;
    p.send(b"+OK\r\n").await;
    let psync = p.expect("CRDT.PSYNC").await;
    assert_eq!(psync[1..], [Bytes::from(id.to_string()), Bytes::from("230"), Bytes::from("3")]);
    let mut out = format!("+CONTINUE {id} 230\r\n").into_bytes();
    out.extend(effects_frame(260, &[b"e"], 3));
    p.send(&out).await;
    loop {
        let args = next(&mut shard.commands).await;
        if name(&args) == "CRDT.APPLY" {
            assert_eq!(args[3..5], [Bytes::from("260"), Bytes::from("1")]);
            break;
        }
    }

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn uncompressed_stream() {
    let mut shard = shard(None).await;
    let (peer_addr, mut conns) = peer().await;
    let stop = CancellationToken::new();
    let run = tokio::spawn(syncer::run(config(shard.addr, peer_addr, None, 0), stop.clone()));
    let id = ReplId::from_seed(7);
    let mut p = accept(&mut conns).await;
    p.expect("CRDT.HELLO").await;
    p.send(b"+OK\r\n").await;
    let psync = p.expect("CRDT.PSYNC").await;
    assert_eq!(&psync[3][..], b"0");
    let mut out = format!("+FULLRESYNC {id} 0\r\n").into_bytes();
    out.extend(cmd(&[b"SNAPSHOT", b"hello "]));
    out.extend(cmd(&[b"SNAPSHOT", b"world"]));
    out.extend(cmd(&[b"SNAPEND", b"11"]));
    out.extend(effects_frame(10, &[b"x"], 0));
    p.send(&out).await;
    next(&mut shard.commands).await; // CRDT.POSITION
    let merge = next(&mut shard.commands).await;
    assert_eq!(&merge[4][..], b"hello world");
    let apply = next(&mut shard.commands).await;
    assert_eq!(&apply[5][..], &payload(&[b"x"])[..]);
    stop.cancel();
    run.await.unwrap().unwrap();
}

async fn fatal_after_hello(reply: &'static str) -> String {
    let shard = shard(None).await;
    let (peer_addr, mut conns) = peer().await;
    let run = tokio::spawn(syncer::run(config(shard.addr, peer_addr, None, 3), CancellationToken::new()));
    let mut p = accept(&mut conns).await;
    p.expect("CRDT.HELLO").await;
    p.send(reply.as_bytes()).await;
    let err = tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap().unwrap_err();
    err.to_string()
}

#[tokio::test]
async fn refusals_are_fatal() {
    assert!(fatal_after_hello("-ERR this is instance 3, not 2\r\n").await.contains("this is instance 3"));
    assert!(fatal_after_hello("-ERR unknown command 'CRDT.HELLO'\r\n").await.contains("incompatible protocol"));
    assert!(fatal_after_hello("-NOAUTH Authentication required.\r\n").await.contains("authentication"));
}

#[tokio::test]
async fn local_auth_refusal_is_fatal() {
    let shard = shard(Some("right")).await;
    let (peer_addr, mut conns) = peer().await;
    let run = tokio::spawn(syncer::run(config(shard.addr, peer_addr, Some("wrong"), 3), CancellationToken::new()));
    let mut p = accept(&mut conns).await;
    p.expect("AUTH").await;
    p.send(b"+OK\r\n").await;
    p.expect("CRDT.HELLO").await;
    p.send(b"+OK\r\n").await;
    let err = tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap().unwrap_err();
    assert!(err.to_string().contains("local shard refused authentication"), "{err}");
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let shard = shard(None).await;
    let (peer_addr, mut conns) = peer().await;
    let stop = CancellationToken::new();
    let run = tokio::spawn(syncer::run(config(shard.addr, peer_addr, None, 3), stop.clone()));
    // The proxy cannot reach its shard; then a garbage frame; then a bad
    // payload count: each ends the session and the syncer comes back.
    let mut p = accept(&mut conns).await;
    p.expect("CRDT.HELLO").await;
    p.send(b"-ERR the database's shard is unreachable\r\n").await;
    let mut p = accept(&mut conns).await;
    p.expect("CRDT.HELLO").await;
    p.send(b"+OK\r\n").await;
    p.expect("CRDT.PSYNC").await;
    p.send(format!("+CONTINUE {} 0\r\n:5\r\n", ReplId::from_seed(1)).as_bytes()).await;
    let mut p = accept(&mut conns).await;
    p.expect("CRDT.HELLO").await;
    p.send(b"+OK\r\n").await;
    p.expect("CRDT.PSYNC").await;
    let mut out = format!("+CONTINUE {} 0\r\n", ReplId::from_seed(1)).into_bytes();
    out.extend(cmd(&[b"EFFECTS", b"10", b"2", &zstd::bulk::compress(&payload(&[b"a"]), 1).unwrap()]));
    p.send(&out).await;
    let mut p = accept(&mut conns).await;
    p.expect("CRDT.HELLO").await;
    assert!(!run.is_finished());
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn peers_down_do_not_stop_the_syncer() {
    let shard = shard(None).await;
    // Nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let stop = CancellationToken::new();
    let run = tokio::spawn(syncer::run(config(shard.addr, dead, None, 3), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!run.is_finished());
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(2), run).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn no_peers_idles_until_shutdown() {
    let shard = shard(None).await;
    let stop = CancellationToken::new();
    let mut cfg = config(shard.addr, shard.addr, None, 3);
    cfg.peers.clear();
    let run = tokio::spawn(syncer::run(cfg, stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!run.is_finished());
    stop.cancel();
    run.await.unwrap().unwrap();
}

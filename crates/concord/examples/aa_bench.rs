//! Cross-instance replication benchmark (not a test): `bash scripts/bench-aa.sh`.
//!
//! Starts a two-instance Active-Active database on loopback (per instance a
//! shard, a proxy and a syncer, real processes) and measures:
//!
//! 1. Lag: writes at instance 1 at a target rate (10k/s, 50k/s, and as fast
//!    as one pipelined client goes); a checker at instance 2 polls sampled
//!    keys and records, for each, the time from the write's reply at
//!    instance 1 to the key's visibility at instance 2 (p50/p99/max). The
//!    checker's poll round trip and the 20 us pause between its polls are
//!    part of every figure: the true lag is a little lower.
//! 2. The sustained apply rate at instance 2 (effects applied per second,
//!    from its INFO crdt counters) during the fastest run.
//! 3. Catch-up: instance 2's syncer is killed, 1M effects are written at
//!    instance 1, the syncer is restarted; the time until instance 2 has
//!    applied instance 1's whole stream.
//!
//! Environment: CONCORD_BIN (the binary; default target/release/concord),
//! AA_BENCH_SECONDS (per rate, default 5), AA_BENCH_CATCHUP (effects,
//! default 1000000).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("create log");
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("spawn concord");
    Proc { child }
}

/// A minimal RESP client: sends commands, reads replies as raw lines.
struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn connect(port: u16) -> Conn {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
                s.set_nodelay(true).unwrap();
                let mut c = Conn { r: BufReader::new(s.try_clone().unwrap()), w: s };
                c.send(&[b"PING"]);
                if c.reply().starts_with(b"+PONG") {
                    return c;
                }
            }
            assert!(Instant::now() < deadline, "port {port} did not answer PING");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut out = Vec::new();
        Conn::encode(&mut out, args);
        self.w.write_all(&out).unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// Reads one reply (simple, error, integer, bulk; arrays of those).
    fn reply(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).unwrap();
        match line.first() {
            Some(b'$') => {
                let n: i64 = std::str::from_utf8(&line[1..line.len() - 2]).unwrap().parse().unwrap();
                if n >= 0 {
                    let mut body = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut body).unwrap();
                    line.extend_from_slice(&body);
                }
                line
            }
            Some(b'*') => {
                let n: i64 = std::str::from_utf8(&line[1..line.len() - 2]).unwrap().parse().unwrap();
                for _ in 0..n.max(0) {
                    let item = self.reply();
                    line.extend_from_slice(&item);
                }
                line
            }
            _ => line,
        }
    }

    fn info_field(&mut self, section: &str, field: &str) -> String {
        self.send(&[b"INFO", section.as_bytes()]);
        let reply = self.reply();
        let text = String::from_utf8_lossy(&reply).to_string();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }
}

struct Instance {
    shard_port: u16,
    endpoint: u16,
    shard: Option<Proc>,
    proxy: Option<Proc>,
    syncer: Option<Proc>,
    syncer_args: Vec<String>,
    dir: PathBuf,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Writes at `rate` per second (0: as fast as a pipelined client goes) for
/// `secs`; returns (writes, elapsed, lag samples in microseconds).
fn lag_run(w_port: u16, r_port: u16, rate: u64, secs: u64, run: usize) -> (u64, Duration, Vec<u64>) {
    let total_max = if rate == 0 { u64::MAX } else { rate * secs };
    // Acks in ns since `start`, for sampled writes only.
    const SAMPLE_EVERY: u64 = 16;
    let slots = if rate == 0 { 4_000_000 } else { (rate * secs) as usize } / SAMPLE_EVERY as usize + 1;
    let acks: Arc<Vec<AtomicU64>> = Arc::new((0..slots).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let writer = {
        let acks = acks.clone();
        let done = done.clone();
        let written = written.clone();
        thread::spawn(move || {
            let mut c = Conn::connect(w_port);
            let batch: u64 = if rate == 0 { 64 } else { (rate / 1000).clamp(1, 64) };
            let mut i = 0u64;
            let deadline = start + Duration::from_secs(secs);
            let mut buf = Vec::with_capacity(64 * 64);
            while i < total_max && Instant::now() < deadline && (i / SAMPLE_EVERY) < slots as u64 - 1 {
                if rate > 0 {
                    // Pace: write i is due at i / rate seconds.
                    let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
                    let now = Instant::now();
                    if due > now {
                        thread::sleep(due - now);
                    }
                }
                buf.clear();
                let n = batch.min(total_max - i);
                for j in i..i + n {
                    let key = format!("lag:{run}:{j}");
                    Conn::encode(&mut buf, &[b"SET", key.as_bytes(), b"v"]);
                }
                c.send_raw(&buf);
                for _ in 0..n {
                    let r = c.reply();
                    assert!(r.starts_with(b"+OK"), "SET failed: {}", String::from_utf8_lossy(&r));
                }
                let t = start.elapsed().as_nanos() as u64;
                for j in i..i + n {
                    if j % SAMPLE_EVERY == 0 {
                        acks[(j / SAMPLE_EVERY) as usize].store(t.max(1), Ordering::Release);
                    }
                }
                i += n;
                written.store(i, Ordering::Release);
            }
            done.store(true, Ordering::Release);
            i
        })
    };
    let checker = {
        let acks = acks.clone();
        let done = done.clone();
        let written = written.clone();
        thread::spawn(move || {
            let mut c = Conn::connect(r_port);
            let mut lags = Vec::new();
            let mut slot = 0usize;
            // Check at most ~4000 samples per second: skip ahead to the
            // newest acknowledged sample when behind.
            loop {
                // Samples 0..acked are acknowledged: write j is sample j / 16
                // and the writes 0..written are.
                let acked = written.load(Ordering::Acquire).div_ceil(SAMPLE_EVERY);
                if slot as u64 >= acked {
                    if done.load(Ordering::Acquire) {
                        break;
                    }
                    // Sleep rather than spin: on a small machine a spinning
                    // checker takes the CPU the instances need.
                    thread::sleep(Duration::from_micros(100));
                    continue;
                }
                if acked > slot as u64 + 8 {
                    slot = acked as usize - 1;
                }
                let t_ack = acks[slot].load(Ordering::Acquire);
                if t_ack == 0 {
                    continue;
                }
                let key = format!("lag:{run}:{}", slot as u64 * SAMPLE_EVERY);
                let give_up = Instant::now() + Duration::from_secs(10);
                loop {
                    c.send(&[b"EXISTS", key.as_bytes()]);
                    if c.reply().starts_with(b":1") {
                        break;
                    }
                    assert!(Instant::now() < give_up, "{key} never reached instance 2");
                    thread::sleep(Duration::from_micros(20));
                }
                let now = start.elapsed().as_nanos() as u64;
                lags.push(now.saturating_sub(t_ack) / 1000);
                slot += 1;
            }
            lags
        })
    };
    let n = writer.join().unwrap();
    let elapsed = start.elapsed();
    let lags = checker.join().unwrap();
    (n, elapsed, lags)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = std::env::var_os("CONCORD_BIN").map(PathBuf::from).unwrap_or_else(|| root.join("target/release/concord"));
    let secs: u64 = std::env::var("AA_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let catchup: u64 = std::env::var("AA_BENCH_CATCHUP").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let work = root.join("target/bench-aa");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    let mut inst: Vec<Instance> = (1..=2)
        .map(|i| {
            let dir = work.join(format!("instance-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            Instance {
                shard_port: free_port(),
                endpoint: free_port(),
                shard: None,
                proxy: None,
                syncer: None,
                syncer_args: Vec::new(),
                dir,
            }
        })
        .collect();
    for i in 0..2 {
        let (id, other) = (i + 1, 2 - i);
        let s = &inst[i];
        let shard_args: Vec<String> = vec![
            "shard".into(),
            "--port".into(),
            s.shard_port.to_string(),
            "--dir".into(),
            s.dir.display().to_string(),
            "--instance".into(),
            id.to_string(),
            "--members".into(),
            "1,2".into(),
            "--appendfsync".into(),
            "everysec".into(),
        ];
        let proxy_args: Vec<String> =
            vec!["proxy".into(), "--port".into(), s.endpoint.to_string(), "--shard".into(), format!("127.0.0.1:{}", s.shard_port)];
        let syncer_args: Vec<String> = vec![
            "syncer".into(),
            "--instance".into(),
            id.to_string(),
            "--shard".into(),
            format!("127.0.0.1:{}", s.shard_port),
            "--peer".into(),
            format!("{other}=127.0.0.1:{}", inst[other - 1].endpoint),
        ];
        let dir = inst[i].dir.clone();
        inst[i].shard = Some(spawn(&bin, &shard_args, &dir.join("shard.log")));
        inst[i].proxy = Some(spawn(&bin, &proxy_args, &dir.join("proxy.log")));
        inst[i].syncer = Some(spawn(&bin, &syncer_args, &dir.join("syncer.log")));
        inst[i].syncer_args = syncer_args;
    }
    for s in &inst {
        Conn::connect(s.endpoint);
    }
    // Wait for the links: a key written at 1 visible at 2.
    {
        let mut a = Conn::connect(inst[0].endpoint);
        let mut b = Conn::connect(inst[1].endpoint);
        a.send(&[b"SET", b"hello", b"1"]);
        a.reply();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            b.send(&[b"EXISTS", b"hello"]);
            if b.reply().starts_with(b":1") {
                break;
            }
            assert!(Instant::now() < deadline, "instances did not link up");
            thread::sleep(Duration::from_millis(10));
        }
    }

    let cores = thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("Active-Active replication lag, 2 instances on loopback, {cores} cores (everything on one machine)");
    println!("{:>10} {:>12} {:>10} {:>10} {:>10} {:>9}", "target/s", "achieved/s", "p50 us", "p99 us", "max us", "samples");
    let mut info2 = Conn::connect(inst[1].shard_port);
    for (run, rate) in [10_000u64, 50_000, 0].into_iter().enumerate() {
        let before = info2.info_field("crdt", "crdt_effect_reqs").parse::<u64>().unwrap_or(0);
        let (n, elapsed, mut lags) = lag_run(inst[0].endpoint, inst[1].endpoint, rate, secs, run);
        lags.sort_unstable();
        let achieved = n as f64 / elapsed.as_secs_f64();
        println!(
            "{:>10} {:>12.0} {:>10} {:>10} {:>10} {:>9}",
            if rate == 0 { "max".to_string() } else { rate.to_string() },
            achieved,
            percentile(&lags, 0.50),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or(0),
            lags.len()
        );
        if rate == 0 {
            thread::sleep(Duration::from_millis(500));
            let after = info2.info_field("crdt", "crdt_effect_reqs").parse::<u64>().unwrap_or(0);
            println!(
                "apply rate at instance 2 during the max run: {:.0} effects/s ({} effects in {:.2} s)",
                (after - before) as f64 / elapsed.as_secs_f64(),
                after - before,
                elapsed.as_secs_f64()
            );
        }
    }

    // Catch-up after a cut.
    inst[1].syncer = None; // killed
    let mut a = Conn::connect(inst[0].endpoint);
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let mut sent = 0u64;
    while sent < catchup {
        buf.clear();
        let n = 256.min(catchup - sent);
        for j in sent..sent + n {
            let key = format!("cut:{j}");
            Conn::encode(&mut buf, &[b"SET", key.as_bytes(), b"v"]);
        }
        a.send_raw(&buf);
        for _ in 0..n {
            a.reply();
        }
        sent += n;
    }
    let write_time = t0.elapsed();
    let mut info1 = Conn::connect(inst[0].shard_port);
    let target: u64 = info1.info_field("crdt", "crdt_repl_offset").parse().unwrap();
    let field = "crdt_replica_1";
    let applied = |c: &mut Conn| -> u64 {
        let v = c.info_field("crdt", field);
        v.split(',')
            .find_map(|kv| kv.strip_prefix("applied_offset="))
            .and_then(|x| x.parse::<i64>().ok())
            .unwrap_or(-1)
            .max(0) as u64
    };
    let full_before = info1.info_field("crdt", "crdt_sync_full");
    let t1 = Instant::now();
    let dir = inst[1].dir.clone();
    inst[1].syncer = Some(spawn(&bin, &inst[1].syncer_args, &dir.join("syncer-2.log")));
    let deadline = Instant::now() + Duration::from_secs(120);
    while applied(&mut info2) < target {
        assert!(Instant::now() < deadline, "instance 2 did not catch up in 120 s");
        thread::sleep(Duration::from_millis(5));
    }
    let catch = t1.elapsed();
    let full_after = info1.info_field("crdt", "crdt_sync_full");
    println!(
        "catch-up: {catchup} effects written at instance 1 in {:.2} s while instance 2's syncer was down; \
         instance 2 applied them {:.3} s after its syncer restarted ({:.0} effects/s; full syncs {full_before} -> {full_after}, restart of the syncer process included)",
        write_time.as_secs_f64(),
        catch.as_secs_f64(),
        catchup as f64 / catch.as_secs_f64()
    );
}

//! In-cluster replication over sockets (docs/replication.md): the pure
//! sessions of the `replication` crate wired to TCP and to the shard.
//!
//! - The replica side: `--replicaof HOST PORT` or `REPLICAOF host port`
//!   starts a link task that connects to the primary, authenticates with
//!   `masterauth`, and runs a [`ReplicaSession`] from this shard's own
//!   (replication id, offset). Every record is applied with the function the
//!   log replay uses and appended to this shard's stream at the same offset,
//!   so backlog, log and history mirror the primary's; a full sync replaces
//!   the keyspace and stores the snapshot as the base of a new log.
//! - The primary side: a connection that sends `REPLCONF concord-protocol`
//!   is handed over by `conn.rs` and served by a [`PrimarySession`]: the
//!   records from its backlog (every record: effects of any origin, peer
//!   positions, merges), or a snapshot taken under the keyspace lock first.
//! - `REPLICAOF NO ONE` promotes: the current id goes into the history and a
//!   fresh one starts, so the other replicas continue with partial syncs.
//! - Periodic snapshots of the stream (the base a restart loads before the
//!   log tail), and bounded replica output buffers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use replication::{
    Decision, Message, Offset, PrimaryConfig, PrimaryOutput, PrimarySession, ReplId, ReplicaConfig, ReplicaOutput,
    ReplicaSession,
};
use resp::{Frame, Limits, Protocol, RequestDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::state::{now_ms, Shared, State};
use crate::stream::{apply_record, snapshot_meta, RECORD_MERGE};

/// Bytes of snapshot per `SNAPSHOT` message.
const SNAPSHOT_CHUNK: usize = 1 << 20;
/// Records per write to a replica, about.
const SEND_BYTES: u64 = 256 << 10;
/// Not a message of the protocol: the primary sends the merged snapshot a
/// merge record names (`MERGEFILE <name> <bytes>`) right before the record,
/// since the replica keeps its own DIR/merges.
const MERGEFILE: &[u8] = b"MERGEFILE";

/// One replica connected to this shard (INFO `slaveN`, ROLE).
#[derive(Clone, Debug)]
pub struct ReplicaLink {
    pub ip: String,
    pub port: u16,
    pub state: &'static str,
    pub acked: Offset,
    pub last_ack_ms: u64,
}

/// Replication bookkeeping of a shard.
pub struct ReplState {
    /// The primary this shard follows (`None`: it is a primary).
    pub target: watch::Sender<Option<(String, u16)>>,
    /// `master_link_status` and ROLE's state of the link.
    pub link_up: bool,
    pub link_state: &'static str,
    pub link_last_io_ms: u64,
    pub link_down_since_ms: u64,
    pub sync_in_progress: bool,
    /// Replicas served now, by connection.
    pub replicas: BTreeMap<u64, ReplicaLink>,
    /// Bumped whenever the stream is replaced (a full sync from this shard's
    /// own primary): sessions serving the old stream end.
    pub epoch: u64,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Replicas disconnected for exceeding client-output-buffer-limit.
    pub obuf_disconnections: u64,
    /// A `FAILOVER` in progress.
    pub failover: Option<Failover>,
    /// Bytes written to replicas (`total_net_repl_output_bytes`).
    pub output_bytes: u64,
    /// Snapshots written and the last one's outcome.
    pub snapshots: u64,
    pub last_snapshot_ok: bool,
}

impl Default for ReplState {
    fn default() -> ReplState {
        ReplState {
            target: watch::channel(None).0,
            link_up: false,
            link_state: "connect",
            link_last_io_ms: 0,
            link_down_since_ms: now_ms(),
            sync_in_progress: false,
            replicas: BTreeMap::new(),
            epoch: 0,
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            obuf_disconnections: 0,
            snapshots: 0,
            last_snapshot_ok: true,
            failover: None,
            output_bytes: 0,
        }
    }
}

/// A coordinated hand-over to a replica (`FAILOVER`): writes are refused
/// until the chosen replica acknowledged the whole stream, which is then
/// told `REPLICAOF NO ONE`, and this shard follows it.
#[derive(Clone, Debug)]
pub struct Failover {
    pub target: Option<(String, u16)>,
    pub deadline_ms: Option<u64>,
    pub force: bool,
    /// `master_failover_state`: waiting-for-sync, failover-in-progress.
    pub state: &'static str,
}

impl ReplState {
    pub fn is_replica(&self) -> bool {
        self.target.borrow().is_some()
    }
}

fn err(s: impl Into<String>) -> Frame {
    Frame::error(s.into())
}

fn fresh_id() -> ReplId {
    let mut bits = [0u8; 20];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bits);
    ReplId::from_random(bits)
}

/// Starts following `host:port` (the `--replicaof` flag).
pub fn start_replica_of(st: &mut State, host: String, port: u16) {
    st.engine.replica = true;
    // CONFIG GET replicaof follows the role, as in Redis.
    st.params.insert("replicaof".into(), format!("{host} {port}"));
    st.repl.target.send_replace(Some((host, port)));
}

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and SLAVEOF).
pub fn replicaof_command(st: &mut State, args: &[&[u8]]) -> Frame {
    if args.len() != 3 {
        return err(format!("ERR wrong number of arguments for '{}' command", String::from_utf8_lossy(&args[0]).to_lowercase()));
    }
    if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
        if st.repl.is_replica() {
            promote(st);
        }
        return Frame::ok();
    }
    let Some(port) = std::str::from_utf8(&args[2]).ok().and_then(|s| s.parse::<u16>().ok()) else {
        return err("ERR Invalid master port");
    };
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    if st.repl.target.borrow().as_ref() == Some(&(host.clone(), port)) {
        return Frame::simple("OK Already connected to specified master");
    }
    tracing::info!(%host, port, "following a new primary (REPLICAOF)");
    start_replica_of(st, host, port);
    st.repl.link_up = false;
    st.repl.link_state = "connect";
    Frame::ok()
}

/// A replica becomes a primary: its id goes into the history ending at its
/// offset and it takes a fresh one (the old primary may still be writing on
/// the other side of a partition).
fn promote(st: &mut State) {
    let offset = st.stream.offset();
    let old = st.stream.history.current();
    st.stream.history.promote(fresh_id(), offset);
    if let Err(e) = st.stream.history_changed() {
        tracing::error!("could not save the replication id history: {e:#}");
    }
    st.repl.target.send_replace(None);
    st.params.insert("replicaof".into(), String::new());
    // Replicas of this shard reconnect and learn the new id.
    st.repl.epoch += 1;
    st.engine.replica = false;
    st.repl.link_up = false;
    st.repl.sync_in_progress = false;
    tracing::info!(
        old = old.as_str(),
        new = st.stream.history.current().as_str(),
        offset = offset.0,
        "promoted to primary (REPLICAOF NO ONE)"
    );
}

/// `ROLE`.
pub fn role_command(st: &State) -> Frame {
    let num = |n: u64| Frame::Integer(n as i64);
    match st.repl.target.borrow().clone() {
        None => Frame::Array(vec![
            Frame::bulk("master"),
            num(st.stream.offset().0),
            Frame::Array(
                st.repl
                    .replicas
                    .values()
                    .map(|r| {
                        Frame::Array(vec![
                            Frame::bulk(r.ip.clone()),
                            Frame::bulk(r.port.to_string()),
                            Frame::bulk(r.acked.0.to_string()),
                        ])
                    })
                    .collect(),
            ),
        ]),
        Some((host, port)) => Frame::Array(vec![
            Frame::bulk("slave"),
            Frame::bulk(host),
            num(port as u64),
            Frame::bulk(st.repl.link_state),
            num(st.stream.offset().0),
        ]),
    }
}

/// The `# Replication` section of INFO.
pub fn info_replication(st: &State, o: &mut String) {
    use std::fmt::Write as _;
    let s = &st.stream;
    let r = &st.repl;
    let (replid2, second) = match s.history.past().first() {
        Some(p) => (p.replid.as_str().to_string(), p.end.0 as i64),
        None => ("0000000000000000000000000000000000000000".to_string(), -1),
    };
    let failover_state = r.failover.as_ref().map_or("no-failover", |f| f.state);
    let now = now_ms();
    match r.target.borrow().clone() {
        None => o.push_str("# Replication\r\nrole:master\r\n"),
        Some((host, port)) => {
            let _ = write!(
                o,
                "# Replication\r\nrole:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                if r.link_up { "up" } else { "down" },
                if r.link_up { (now.saturating_sub(r.link_last_io_ms) / 1000) as i64 } else { -1 },
                r.sync_in_progress as u8,
                s.offset().0,
                s.offset().0,
            );
            if !r.link_up {
                let _ = write!(o, "master_link_down_since_seconds:{}\r\n", now.saturating_sub(r.link_down_since_ms) / 1000);
            }
            o.push_str("slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n");
        }
    }
    let _ = write!(o, "connected_slaves:{}\r\n", r.replicas.len());
    for (i, link) in r.replicas.values().enumerate() {
        let _ = write!(
            o,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            link.ip,
            link.port,
            link.state,
            link.acked.0,
            now.saturating_sub(link.last_ack_ms) / 1000
        );
    }
    let _ = write!(
        o,
        "master_failover_state:{failover_state}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:1\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        s.history.current().as_str(),
        replid2,
        s.offset().0,
        second,
        s.backlog.size_max(),
        s.backlog.first_offset().0,
        s.backlog.histlen()
    );
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`.
pub fn failover_command(st: &mut State, args: &[&[u8]]) -> Frame {
    let mut target = None;
    let mut timeout_ms = None;
    let (mut force, mut abort) = (false, false);
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"to") && i + 2 < args.len() {
            let Some(port) = std::str::from_utf8(&args[i + 2]).ok().and_then(|s| s.parse::<u16>().ok()) else {
                return err("ERR Invalid port");
            };
            target = Some((String::from_utf8_lossy(&args[i + 1]).into_owned(), port));
            i += 3;
        } else if a.eq_ignore_ascii_case(b"timeout") && i + 1 < args.len() {
            match std::str::from_utf8(&args[i + 1]).ok().and_then(|s| s.parse::<u64>().ok()) {
                Some(t) if t > 0 => timeout_ms = Some(t),
                _ => return err("ERR FAILOVER timeout must be greater than 0"),
            }
            i += 2;
        } else if a.eq_ignore_ascii_case(b"force") {
            force = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"abort") {
            abort = true;
            i += 1;
        } else {
            return err("ERR syntax error");
        }
    }
    if abort {
        if target.is_some() || timeout_ms.is_some() || force {
            return err("ERR syntax error");
        }
        return match st.repl.failover.take() {
            Some(_) => {
                tracing::info!("FAILOVER aborted");
                Frame::ok()
            }
            None => err("ERR No failover in progress."),
        };
    }
    if st.repl.is_replica() {
        return err("ERR FAILOVER is not valid when server is a replica.");
    }
    if st.repl.failover.is_some() {
        return err("ERR FAILOVER already in progress.");
    }
    if force && (target.is_none() || timeout_ms.is_none()) {
        return err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
    }
    let online: Vec<&ReplicaLink> = st.repl.replicas.values().filter(|r| r.state == "online").collect();
    if online.is_empty() {
        return err("ERR FAILOVER requires connected replicas.");
    }
    if let Some((host, port)) = &target {
        if !online.iter().any(|r| &r.ip == host && r.port == *port) {
            return err("ERR FAILOVER target HOST and PORT is not a replica.");
        }
    }
    tracing::info!(?target, ?timeout_ms, force, "FAILOVER requested");
    st.repl.failover = Some(Failover {
        target,
        deadline_ms: timeout_ms.map(|t| now_ms() + t),
        force,
        state: "waiting-for-sync",
    });
    Frame::ok()
}

/// True while a failover holds writes back.
pub fn failover_pending(st: &State) -> bool {
    st.repl.failover.is_some()
}

/// Drives a `FAILOVER`: waits for a replica to acknowledge the whole
/// stream, promotes it, then follows it.
pub async fn failover_loop(shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        let chosen = {
            let mut st = shared.lock();
            let offset = st.stream.offset();
            let now = now_ms();
            let replicas: Vec<ReplicaLink> = st.repl.replicas.values().filter(|r| r.state == "online").cloned().collect();
            let Some(f) = st.repl.failover.as_mut() else { continue };
            if f.state != "waiting-for-sync" {
                continue;
            }
            let expired = f.deadline_ms.is_some_and(|d| now >= d);
            let candidate = match &f.target {
                Some((h, p)) => replicas.iter().find(|r| &r.ip == h && r.port == *p),
                None => replicas.iter().max_by_key(|r| r.acked),
            };
            match candidate {
                Some(r) if r.acked == offset || (expired && f.force) => {
                    f.state = "failover-in-progress";
                    Some((r.ip.clone(), r.port))
                }
                _ if expired => {
                    tracing::warn!("FAILOVER timed out before a replica caught up; aborted");
                    st.repl.failover = None;
                    None
                }
                _ => None,
            }
        };
        let Some((host, port)) = chosen else { continue };
        let result = promote_remote(&shared, &host, port).await;
        let mut st = shared.lock();
        if st.repl.failover.is_none() {
            continue; // aborted meanwhile
        }
        st.repl.failover = None;
        match result {
            Ok(()) => {
                tracing::info!(%host, port, "FAILOVER: the replica took over; following it");
                start_replica_of(&mut st, host, port);
                st.repl.link_up = false;
                st.repl.link_state = "connect";
            }
            Err(e) => tracing::warn!(%host, port, "FAILOVER aborted: {e:#}"),
        }
    }
}

/// Tells the replica at `host:port` to become a primary.
async fn promote_remote(shared: &Shared, host: &str, port: u16) -> anyhow::Result<()> {
    let password = {
        let st = shared.lock();
        st.params.get("masterauth").filter(|v| !v.is_empty()).cloned().or_else(|| st.requirepass.clone())
    };
    let mut socket = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect((host, port))).await??;
    let limits = Limits::default();
    let mut rbuf = BytesMut::new();
    let mut wbuf = BytesMut::new();
    if let Some(pass) = password {
        Message::Auth { user: "default".into(), password: pass.into() }.encode(&mut wbuf);
        socket.write_all(&wbuf).await?;
        wbuf.clear();
        if let Frame::Error(e) = read_frame(&mut socket, &mut rbuf, &limits).await? {
            anyhow::bail!("the replica refused AUTH: {}", String::from_utf8_lossy(&e));
        }
    }
    let cmd = Frame::Array(vec![Frame::bulk("REPLICAOF"), Frame::bulk("NO"), Frame::bulk("ONE")]);
    resp::encode(&cmd, Protocol::Resp2, &mut wbuf);
    socket.write_all(&wbuf).await?;
    match read_frame(&mut socket, &mut rbuf, &limits).await? {
        Frame::Error(e) => anyhow::bail!("the replica refused REPLICAOF NO ONE: {}", String::from_utf8_lossy(&e)),
        _ => Ok(()),
    }
}

// ---- replica side ------------------------------------------------------------

/// Follows whatever primary `REPLICAOF` names, one link at a time, until
/// the shard stops.
pub async fn manage(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut rx = shared.lock().repl.target.subscribe();
    loop {
        let target = rx.borrow_and_update().clone();
        let token = shutdown.child_token();
        let task = target.map(|(host, port)| tokio::spawn(follow(shared.clone(), host, port, token.clone())));
        let changed = tokio::select! {
            _ = shutdown.cancelled() => false,
            r = rx.changed() => r.is_ok(),
        };
        token.cancel();
        if let Some(task) = task {
            let _ = task.await;
        }
        if !changed {
            return;
        }
    }
}

async fn follow(shared: Arc<Shared>, host: String, port: u16, token: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let started = std::time::Instant::now();
        let result = link(&shared, &host, port, &token).await;
        {
            let mut st = shared.lock();
            if st.repl.link_up {
                st.repl.link_down_since_ms = now_ms();
            }
            st.repl.link_up = false;
            st.repl.link_state = "connect";
            st.repl.sync_in_progress = false;
        }
        if token.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::info!(%host, port, "the primary closed the replication link"),
            Err(e) => tracing::warn!(%host, port, "replication link failed: {e:#}"),
        }
        if started.elapsed() > Duration::from_secs(5) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Reads one reply frame during the handshake prelude.
async fn read_frame(socket: &mut TcpStream, rbuf: &mut BytesMut, limits: &Limits) -> anyhow::Result<Frame> {
    loop {
        if let Some(f) = resp::decode_frame(rbuf, limits).map_err(|e| anyhow::anyhow!("protocol error: {e:?}"))? {
            return Ok(f);
        }
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read_buf(rbuf)).await.context("no reply")??;
        anyhow::ensure!(n > 0, "the primary closed the connection");
    }
}

/// One connection to the primary: handshake, sync, stream until it fails.
async fn link(shared: &Shared, host: &str, port: u16, token: &CancellationToken) -> anyhow::Result<()> {
    let (masterauth, masteruser, timeout_ms) = {
        let mut st = shared.lock();
        st.repl.link_state = "connecting";
        let p = &st.params;
        let timeout_s = p.get("repl-timeout").and_then(|v| v.parse::<u64>().ok()).unwrap_or(60);
        (
            p.get("masterauth").filter(|v| !v.is_empty()).cloned(),
            p.get("masteruser").filter(|v| !v.is_empty()).cloned(),
            timeout_s.max(1) * 1000,
        )
    };
    let mut socket = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect((host, port)))
        .await
        .context("connect timed out")?
        .context("connect")?;
    let _ = socket.set_nodelay(true);
    let limits = Limits { bulk_len_max: 1 << 31, ..Limits::default() };
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    // Prelude: AUTH, and the port this shard listens on (INFO slaveN).
    if let Some(pass) = &masterauth {
        let user = masteruser.unwrap_or_else(|| "default".into());
        Message::Auth { user: user.into(), password: pass.clone().into() }.encode(&mut wbuf);
        socket.write_all(&wbuf).await?;
        wbuf.clear();
        if let Frame::Error(e) = read_frame(&mut socket, &mut rbuf, &limits).await? {
            anyhow::bail!("the primary refused masterauth: {}", String::from_utf8_lossy(&e));
        }
    }
    let listening = Frame::Array(vec![
        Frame::bulk("REPLCONF"),
        Frame::bulk("listening-port"),
        Frame::bulk(shared.local.port().to_string()),
    ]);
    resp::encode(&listening, Protocol::Resp2, &mut wbuf);
    socket.write_all(&wbuf).await?;
    wbuf.clear();
    if let Frame::Error(e) = read_frame(&mut socket, &mut rbuf, &limits).await? {
        anyhow::bail!("the primary refused REPLCONF listening-port: {}", String::from_utf8_lossy(&e));
    }

    let position = {
        let mut st = shared.lock();
        st.repl.link_state = "sync";
        let offset = st.stream.offset();
        if offset == Offset(0) && st.engine.dbsize() == 0 {
            None
        } else {
            Some((st.stream.history.current(), offset))
        }
    };
    let config = ReplicaConfig { auth: None, timeout_ms, ack_period_ms: 1000, ..ReplicaConfig::default() };
    let mut session = ReplicaSession::new(config, position);
    let mut outputs = session.start(now_ms());
    let mut snapshot: Vec<u8> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        carry_out(shared, &mut outputs, &mut snapshot, &mut wbuf)?;
        if !wbuf.is_empty() {
            socket.write_all(&wbuf).await?;
            wbuf.clear();
        }
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = tick.tick() => outputs = session.tick(now_ms()),
            read = socket.read_buf(&mut rbuf) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let now = now_ms();
                shared.lock().repl.link_last_io_ms = now;
                loop {
                    let frame = match resp::decode_frame(&mut rbuf, &limits) {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => anyhow::bail!("protocol error from the primary: {e:?}"),
                    };
                    if let Frame::Array(items) = &frame {
                        if let [Frame::Bulk(name), Frame::Bulk(file), Frame::Bulk(body)] = &items[..] {
                            if name.eq_ignore_ascii_case(MERGEFILE) {
                                store_merge_file(shared, file, body)?;
                                continue;
                            }
                        }
                    }
                    let outs = match Message::from_frame(&frame) {
                        Ok(m) => session.step(m, now),
                        Err(e) => session.step_malformed(e),
                    };
                    outputs.extend(outs);
                    // Apply in batches, but keep the snapshot's memory bounded.
                    if outputs.len() >= 4096 {
                        carry_out(shared, &mut outputs, &mut snapshot, &mut wbuf)?;
                    }
                }
            }
        }
    }
}

fn store_merge_file(shared: &Shared, file: &[u8], body: &[u8]) -> anyhow::Result<()> {
    let name = std::str::from_utf8(file).ok().filter(|n| !n.contains('/') && !n.is_empty()).context("bad MERGEFILE name")?;
    let dir = shared.config.dir.join("merges");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, body).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Carries out a replica session's outputs in order.
fn carry_out(
    shared: &Shared,
    outputs: &mut Vec<ReplicaOutput>,
    snapshot: &mut Vec<u8>,
    wbuf: &mut BytesMut,
) -> anyhow::Result<()> {
    if outputs.is_empty() {
        return Ok(());
    }
    let mut guard: Option<std::sync::MutexGuard<'_, State>> = None;
    let mut applied = false;
    let mut result = Ok(());
    for out in outputs.drain(..) {
        match out {
            ReplicaOutput::Send(m) => m.encode(wbuf),
            ReplicaOutput::FullSyncStarted { replid, offset } => {
                tracing::info!(replid = replid.as_str(), offset = offset.0, "full sync from the primary");
                snapshot.clear();
                let st = guard.get_or_insert_with(|| shared.lock());
                st.repl.sync_in_progress = true;
            }
            ReplicaOutput::SnapshotChunk(chunk) => snapshot.extend_from_slice(&chunk),
            ReplicaOutput::SnapshotComplete { history, offset, backlog_first } => {
                // Decode outside the lock: the old keyspace keeps serving.
                guard = None;
                let bytes = std::mem::take(snapshot);
                // Decode, and write the file a restart will load, at once.
                let dir = shared.config.dir.clone();
                let (decoded, staged) = std::thread::scope(|scope| {
                    let writer = scope.spawn(|| crate::stream::stage_snapshot(&dir, &bytes));
                    let decoded = crdt::snapshot::decode(&bytes);
                    (decoded, writer.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the snapshot writer panicked"))))
                });
                let staged = match staged {
                    Ok(p) => p,
                    Err(e) => {
                        result = Err(e.context("store the primary's snapshot"));
                        break;
                    }
                };
                let loaded = match decoded {
                    Ok(l) => l,
                    Err(e) => {
                        result = Err(anyhow::anyhow!("the primary's snapshot does not decode: {e}"));
                        break;
                    }
                };
                let mut meta = match snapshot_meta(&loaded.aux) {
                    Ok(m) => m,
                    Err(e) => {
                        result = Err(e.context("the primary's snapshot"));
                        break;
                    }
                };
                if meta.offset != offset {
                    result = Err(anyhow::anyhow!("the snapshot holds offset {}, +FULLRESYNC said {}", meta.offset.0, offset.0));
                    break;
                }
                meta.history = history;
                let keys = loaded.db.entries.len();
                let st = guard.get_or_insert_with(|| shared.lock());
                st.engine.load(loaded.db);
                st.engine.effects.clear();
                st.repl.epoch += 1;
                st.repl.sync_in_progress = false;
                st.repl.link_up = true;
                st.repl.link_state = "connected";
                st.repl.link_last_io_ms = now_ms();
                // Clients watching any key see the replacement.
                let watchers: Vec<_> = st.watched.values().flatten().copied().collect();
                st.dirty.extend(watchers);
                if let Err(e) = st.stream.replace(&staged, meta, backlog_first) {
                    result = Err(e.context("store the full sync"));
                    break;
                }
                applied = true;
                tracing::info!(offset = offset.0, keys, backlog_first = backlog_first.0, "loaded the primary's snapshot");
            }
            ReplicaOutput::Continued { replid, past, offset } => {
                let st = guard.get_or_insert_with(|| shared.lock());
                if st.stream.history.current() != replid {
                    // This shard's own replicas must learn the new id before
                    // any record of it reaches them: they reconnect.
                    st.repl.epoch += 1;
                }
                st.stream.history.adopt(replid, &past, offset);
                if let Err(e) = st.stream.history_changed() {
                    tracing::error!("could not save the replication id history: {e:#}");
                }
                st.repl.link_up = true;
                st.repl.link_state = "connected";
                tracing::info!(replid = replid.as_str(), offset = offset.0, "partial sync from the primary");
            }
            ReplicaOutput::Retain(record) => {
                let st = guard.get_or_insert_with(|| shared.lock());
                if st.stream.offset() != record.offset {
                    result = Err(anyhow::anyhow!("retained record at {}, the stream is at {}", record.offset.0, st.stream.offset().0));
                    break;
                }
                st.stream.retain_record(record.payload);
            }
            ReplicaOutput::Apply(record) => {
                let st = guard.get_or_insert_with(|| shared.lock());
                if st.stream.offset() != record.offset {
                    result = Err(anyhow::anyhow!("record at {}, the stream is at {}", record.offset.0, st.stream.offset().0));
                    break;
                }
                let st = &mut **st;
                let dir = st.stream.dir().to_path_buf();
                let effect = match apply_record(&dir, &record.payload, record.offset, &mut st.engine, &mut st.stream.peers) {
                    Ok(e) => e,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                };
                // A replica's subscribers get the messages its primary's
                // stream carries, as a Redis replica's get the PUBLISHes
                // propagated to it (once: only a new dot is returned).
                if let Some(crdt::Effect { op: crdt::Op::Publish { channel, message, sharded }, .. }) = &effect {
                    st.deliver_message(&Bytes::copy_from_slice(channel), &Bytes::copy_from_slice(message), *sharded);
                }
                if let Some(key) = effect.as_ref().and_then(|e| e.op.key()) {
                    if let Some(ids) = st.watched.get(key) {
                        let ids: Vec<_> = ids.iter().copied().collect();
                        st.dirty.extend(ids);
                    }
                }
                st.stream.append_record(&record.payload);
                applied = true;
            }
            ReplicaOutput::Failed(e) => {
                result = Err(anyhow::anyhow!("{e}"));
                break;
            }
        }
    }
    outputs.clear();
    if let Some(mut st) = guard {
        if applied {
            let now = now_ms();
            st.stream.end_batch(now);
            st.engine.effects.clear();
        }
    }
    if applied {
        shared.keyspace_changed.notify_waiters();
    }
    result
}

// ---- primary side ------------------------------------------------------------

/// A memory value as Redis writes them: 100, 1k, 1kb, 1m, 1mb, 1g, 1gb.
fn parse_bytes(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let units: [(&str, u64); 7] = [("gb", 1 << 30), ("g", 1_000_000_000), ("mb", 1 << 20), ("m", 1_000_000), ("kb", 1 << 10), ("k", 1000), ("b", 1)];
    let (digits, mult) = units.iter().find_map(|(u, m)| lower.strip_suffix(u).map(|d| (d, *m))).unwrap_or((&lower, 1));
    digits.parse::<u64>().ok().map(|n| n * mult)
}

/// `client-output-buffer-limit` for the replica class: (hard, soft, soft seconds).
fn replica_obuf_limit(st: &State) -> (u64, u64, u64) {
    let text = st.params.get("client-output-buffer-limit").cloned().unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    for w in words.chunks(4) {
        if w.len() == 4 && matches!(w[0], "slave" | "replica") {
            let n = |s: &str| parse_bytes(s).unwrap_or(0);
            return (n(w[1]), n(w[2]), n(w[3]));
        }
    }
    (256 << 20, 64 << 20, 60)
}

/// Serves a replica on a connection that sent `REPLCONF concord-protocol`:
/// `first` is that request, `rbuf` what followed it. Returns when the
/// replica goes away, falls behind, or the shard stops.
pub async fn serve(
    shared: Arc<Shared>,
    socket: TcpStream,
    addr: SocketAddr,
    first: Vec<Bytes>,
    rbuf: BytesMut,
    listening_port: Option<u16>,
    shutdown: CancellationToken,
) {
    let id = shared.next_id();
    {
        let mut st = shared.lock();
        st.repl.replicas.insert(
            id,
            ReplicaLink {
                ip: addr.ip().to_string(),
                port: listening_port.unwrap_or(addr.port()),
                state: "wait_bgsave",
                acked: Offset(0),
                last_ack_ms: now_ms(),
            },
        );
    }
    let result = serve_session(&shared, id, socket, first, rbuf, &shutdown).await;
    match result {
        Ok(()) => tracing::info!(%addr, "replica disconnected"),
        Err(e) => tracing::warn!(%addr, "replica session ended: {e:#}"),
    }
    shared.lock().repl.replicas.remove(&id);
}

struct Sender {
    socket: TcpStream,
    wbuf: BytesMut,
    /// Stream offset of the end of the last record queued to `wbuf`.
    queued: Offset,
}

impl Sender {
    /// Writes `wbuf` out, checking the replica output buffer limits while
    /// the replica is slow to read.
    async fn flush(&mut self, shared: &Shared, id: u64, over_since: &mut Option<std::time::Instant>) -> anyhow::Result<()> {
        while !self.wbuf.is_empty() {
            tokio::select! {
                r = self.socket.write_buf(&mut self.wbuf) => {
                    let n = r?;
                    if n == 0 {
                        anyhow::bail!("the replica closed the connection");
                    }
                    *over_since = None;
                    shared.lock().repl.output_bytes += n as u64;
                }
                // The replica took nothing for a while: what it has not
                // read counts against its output buffer limits. (A replica
                // catching up at full speed reads from the shared backlog
                // and holds no buffer of its own.)
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    check_obuf(shared, id, self.queued, self.wbuf.len() as u64, over_since)?;
                }
            }
        }
        if self.wbuf.capacity() > 4 << 20 {
            self.wbuf = BytesMut::with_capacity(64 * 1024);
        }
        Ok(())
    }
}

/// Disconnects a stalled replica whose pending output (stream bytes not yet
/// written to it) passed the hard limit, or the soft limit for longer than
/// allowed.
fn check_obuf(
    shared: &Shared,
    id: u64,
    queued: Offset,
    unwritten: u64,
    over_since: &mut Option<std::time::Instant>,
) -> anyhow::Result<()> {
    let mut st = shared.lock();
    let (hard, soft, soft_secs) = replica_obuf_limit(&st);
    let pending = st.stream.offset().0.saturating_sub(queued.0) + unwritten;
    let over_hard = hard > 0 && pending > hard;
    let over_soft = soft > 0 && pending > soft;
    if !over_soft {
        *over_since = None;
    }
    let soft_expired = over_soft && over_since.get_or_insert_with(std::time::Instant::now).elapsed().as_secs() >= soft_secs;
    if over_hard || soft_expired {
        st.repl.obuf_disconnections += 1;
        let link = st.repl.replicas.get(&id).map(|r| format!("{}:{}", r.ip, r.port)).unwrap_or_default();
        let msg = format!(
            "disconnecting replica {link}: {pending} bytes of output pending exceed client-output-buffer-limit replica {hard} {soft} {soft_secs}"
        );
        tracing::warn!("{msg}");
        anyhow::bail!(msg);
    }
    Ok(())
}

async fn serve_session(
    shared: &Arc<Shared>,
    id: u64,
    socket: TcpStream,
    first: Vec<Bytes>,
    mut rbuf: BytesMut,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let (config, epoch) = {
        let st = shared.lock();
        let num = |k: &str, d: u64| st.params.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(d);
        let config = PrimaryConfig {
            timeout_ms: num("repl-timeout", 60).max(1) * 1000,
            ping_period_ms: num("repl-ping-replica-period", 10).max(1) * 1000,
            ship_backlog: true,
        };
        (config, st.repl.epoch)
    };
    let mut session = PrimarySession::new(config, now_ms());
    let mut tx = Sender { socket, wbuf: BytesMut::with_capacity(64 * 1024), queued: Offset(0) };
    let mut inbox: Vec<Result<Message, replication::MessageError>> = vec![Message::from_args(&first)];
    let mut decoder = RequestDecoder::default();
    let limits = Limits::default();
    let mut over_since = None;
    let mut streaming = false;
    loop {
        let notified = shared.keyspace_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Under the lock: the replica's messages, then the next records.
        let mut take_snapshot = false;
        let mut failed: Option<String> = None;
        let mut sends: Vec<Message> = Vec::new();
        {
            let mut st = shared.lock();
            anyhow::ensure!(st.repl.epoch == epoch, "this shard's replication id changed (promotion, or a sync from its own primary)");
            let now = now_ms();
            let mut outs = Vec::new();
            for m in inbox.drain(..) {
                let st = &*st;
                outs.extend(match m {
                    Ok(m) => session.step(m, &st.stream.history, &st.stream.backlog, now),
                    Err(e) => session.step_malformed(e),
                });
            }
            outs.extend(session.tick(now));
            for o in outs {
                match o {
                    PrimaryOutput::Send(m) => sends.push(m),
                    PrimaryOutput::Decided(d) => match d {
                        Decision::Continue { from } => {
                            st.repl.sync_partial_ok += 1;
                            tracing::info!(from = from.0, "partial sync to a replica");
                        }
                        Decision::FullResync { offset, reason, .. } => {
                            st.repl.sync_full += 1;
                            if reason.is_partial_err() {
                                st.repl.sync_partial_err += 1;
                            }
                            tracing::info!(offset = offset.0, reason = reason.name(), "full sync to a replica");
                        }
                    },
                    PrimaryOutput::TakeSnapshot { offset } => {
                        anyhow::ensure!(offset == st.stream.offset(), "snapshot asked at {}, the stream is at {}", offset.0, st.stream.offset().0);
                        take_snapshot = true;
                    }
                    PrimaryOutput::Acked(o) => {
                        if let Some(r) = st.repl.replicas.get_mut(&id) {
                            r.acked = o;
                            r.last_ack_ms = now;
                        }
                    }
                    PrimaryOutput::Failed(e) => failed = Some(e.to_string()),
                }
            }
            if !take_snapshot && failed.is_none() && session.is_streaming() {
                if !streaming {
                    streaming = true;
                    if let Some(r) = st.repl.replicas.get_mut(&id) {
                        r.state = "online";
                        r.last_ack_ms = now;
                    }
                }
                let mut bytes = 0u64;
                while bytes < 4 * SEND_BYTES {
                    let outs = session.poll(&st.stream.backlog, SEND_BYTES, now);
                    if outs.is_empty() {
                        break;
                    }
                    for o in outs {
                        match o {
                            PrimaryOutput::Send(Message::Record(r)) => {
                                bytes += replication::record::framed_len(r.payload.len());
                                tx.queued = r.end();
                                sends.push(Message::Record(r));
                            }
                            PrimaryOutput::Send(m) => sends.push(m),
                            PrimaryOutput::Failed(e) => failed = Some(e.to_string()),
                            _ => {}
                        }
                    }
                    if failed.is_some() {
                        break;
                    }
                }
            }
        }
        let idle = sends.is_empty() && !take_snapshot;
        for m in sends {
            if let Message::Record(r) = &m {
                if r.payload.first() == Some(&RECORD_MERGE) && r.payload.len() > 3 {
                    send_merge_file(shared, &r.payload[3..], &mut tx.wbuf);
                }
            }
            m.encode(&mut tx.wbuf);
        }
        tx.flush(shared, id, &mut over_since).await?;
        if let Some(e) = failed {
            anyhow::bail!(e);
        }
        if take_snapshot {
            // Taken in steps while the shard keeps serving; +FULLRESYNC
            // then names the offset where the capture ended.
            let sh = shared.clone();
            let (taken, now_epoch) = tokio::task::spawn_blocking(move || {
                crate::stream::take_snapshot(&sh, "replica full sync", |st| {
                    if let Some(r) = st.repl.replicas.get_mut(&id) {
                        r.state = "send_bulk";
                    }
                    st.repl.epoch
                })
            })
            .await
            .context("the snapshot task failed")??;
            anyhow::ensure!(now_epoch == epoch, "this shard's replication id changed while it took the snapshot");
            for o in session.snapshot_taken(&taken.history, taken.offset, now_ms()) {
                if let PrimaryOutput::Send(m) = o {
                    m.encode(&mut tx.wbuf);
                }
            }
            tx.queued = taken.offset;
            let len = taken.chunks.len();
            for piece in taken.chunks.pieces {
                let piece = Bytes::from(piece);
                let mut at = 0;
                while at < piece.len() {
                    let end = (at + SNAPSHOT_CHUNK).min(piece.len());
                    session.snapshot_chunk(piece.slice(at..end)).encode(&mut tx.wbuf);
                    at = end;
                    tx.flush(shared, id, &mut over_since).await?;
                    // A replica reading as fast as loopback goes never makes
                    // the socket wait: let the other connections of this
                    // (single-threaded) runtime run between chunks.
                    tokio::task::yield_now().await;
                }
            }
            let outs = {
                let st = shared.lock();
                session.snapshot_end(&st.stream.backlog, now_ms())
            };
            for o in outs {
                match o {
                    PrimaryOutput::Send(m) => m.encode(&mut tx.wbuf),
                    PrimaryOutput::Failed(e) => anyhow::bail!("{e}"),
                    _ => {}
                }
            }
            tx.flush(shared, id, &mut over_since).await?;
            tracing::info!(bytes = len, "sent the snapshot to a replica");
            continue;
        }
        if !idle {
            // More may be due right away (a large backlog to catch up on);
            // read what the replica sent meanwhile without waiting.
            read_available(&mut tx.socket, &mut rbuf)?;
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                read = tx.socket.read_buf(&mut rbuf) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
            }
        }
        loop {
            match decoder.decode(&mut rbuf, &limits) {
                Ok(Some(args)) => inbox.push(Message::from_args(&args)),
                Ok(None) => break,
                Err(e) => anyhow::bail!("protocol error from the replica: {e:?}"),
            }
        }
    }
}

/// Moves whatever the socket holds now into `rbuf`, without waiting.
fn read_available(socket: &mut TcpStream, rbuf: &mut BytesMut) -> anyhow::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match socket.try_read(&mut buf) {
            Ok(0) => anyhow::bail!("the replica closed the connection"),
            Ok(n) => rbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn send_merge_file(shared: &Shared, name: &[u8], out: &mut BytesMut) {
    let Some(name) = std::str::from_utf8(name).ok().filter(|n| !n.contains('/')) else { return };
    let path = shared.config.dir.join("merges").join(name);
    match std::fs::read(&path) {
        Ok(body) => {
            let frame = Frame::Array(vec![Frame::bulk(MERGEFILE), Frame::bulk(name.to_string()), Frame::bulk(body)]);
            resp::encode(&frame, Protocol::Resp2, out);
        }
        Err(e) => tracing::warn!("cannot send {} to a replica: {e}", path.display()),
    }
}

// ---- snapshots ---------------------------------------------------------------

/// Takes a snapshot when the stream grew enough since the last one (cron),
/// or unconditionally (`force`, at clean shutdown). The keyspace is
/// captured in steps while the shard keeps serving (`take_snapshot`); the
/// file is written outside the lock, named by the offset where the capture
/// ended.
pub async fn snapshot_tick(shared: &Arc<Shared>, force: bool) {
    let epoch = {
        let mut st = shared.lock();
        let due = st.stream.snapshot_due() || (force && st.stream.appendonly() && !st.stream.snapshot_running && st.stream.offset() != st.stream.snapshot_offset);
        if !due {
            return;
        }
        st.stream.snapshot_running = true;
        (st.repl.epoch, st.changes_since_snapshot)
    };
    let (epoch, changes_before) = epoch;
    let started = std::time::Instant::now();
    let sh = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let (taken, (dir, log, now_epoch)) = crate::stream::take_snapshot(&sh, "snapshot file", |st| {
            // The log must hold everything up to the snapshot's offset
            // before the segments it covers go (fsynced outside the lock).
            (st.stream.dir().to_path_buf(), st.stream.log_handle(), st.repl.epoch)
        })?;
        anyhow::ensure!(now_epoch == epoch, "a full sync replaced the stream while the snapshot was taken");
        let len = taken.chunks.len();
        crate::stream::store_snapshot(&dir, taken.offset, &taken.chunks, log)?;
        Ok((taken.offset, len))
    })
    .await;
    let mut st = shared.lock();
    st.stream.snapshot_running = false;
    let (offset, len) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(_)) if st.repl.epoch != epoch => return, // the stream was replaced: nothing to keep
        Ok(Err(e)) => {
            st.repl.last_snapshot_ok = false;
            tracing::error!("snapshot failed: {e:#}");
            return;
        }
        Err(e) => {
            st.repl.last_snapshot_ok = false;
            tracing::error!("snapshot task failed: {e}");
            return;
        }
    };
    if st.repl.epoch != epoch {
        // A full sync replaced the stream meanwhile: this snapshot is of
        // the old one and must not be loaded at the next start.
        let path = st.stream.dir().join(crate::stream::snapshot_name(offset));
        if offset != st.stream.snapshot_offset {
            let _ = std::fs::remove_file(&path);
        }
        return;
    }
    st.stream.snapshot_offset = offset;
    st.repl.snapshots += 1;
    st.repl.last_snapshot_ok = true;
    st.changes_since_snapshot = st.changes_since_snapshot.saturating_sub(changes_before);
    tracing::info!(offset = offset.0, bytes = len, ms = started.elapsed().as_millis() as u64, "wrote a snapshot");
    // Merged snapshots named only by the segments just dropped (and
    // no longer in the backlog) are in this snapshot now.
    let gone = st.stream.unreferenced_merges();
    drop(st);
    for path in gone {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(file = %path.display(), "removed a merged snapshot the snapshot covers"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
        }
    }
}

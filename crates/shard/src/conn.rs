//! Client connections: running a batch of requests under the keyspace lock
//! (for the event loop, `crate::event_loop`, and for connections in a task
//! of their own, [`serve_task`]), and the connection-level commands.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use resp::{Frame, Limits, Protocol, RequestBatch, RequestDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::futures::Notified;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use crate::state::{now_ms, ClientId, ClientInfo, Push, Shared, State};

/// Reply mode set by CLIENT REPLY.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReplyMode {
    On,
    Off,
    /// CLIENT REPLY SKIP just ran: its own reply is dropped, then `Skip`.
    SkipNext,
    /// The next command's reply is dropped.
    Skip,
}

/// Per-connection state.
pub(crate) struct Client {
    pub id: ClientId,
    pub proto: Protocol,
    pub authed: bool,
    multi: Option<Vec<Vec<Bytes>>>,
    multi_error: bool,
    watching: Vec<Bytes>,
    subs: Vec<Bytes>,
    psubs: Vec<Bytes>,
    /// Shard channels (SSUBSCRIBE).
    ssubs: Vec<Bytes>,
    /// Running the commands of an EXEC (SSUBSCRIBE refuses to, as Redis 7.0's).
    in_exec: bool,
    push_tx: mpsc::Sender<Push>,
    reply_mode: ReplyMode,
    pub close_after_reply: bool,
    /// The instance of a remote syncer that said `CRDT.HELLO`.
    peer: Option<u16>,
    /// The port a replica said it listens on (`REPLCONF listening-port`).
    listening_port: Option<u16>,
    /// The last command's name, copied into the shared `ClientInfo` once
    /// per batch (and before CLIENT runs) instead of once per command.
    last_cmd: &'static str,
    /// The last command name looked up, exactly as the client spelled it,
    /// and its command: a pipeline of one command looks it up once.
    last_name: LastName,
}

impl Client {
    /// Subscribed to a channel, a pattern or a shard channel (Redis's
    /// CLIENT_PUBSUB: a RESP2 connection may then run only (P|S)SUBSCRIBE,
    /// (P|S)UNSUBSCRIBE, PING, QUIT and RESET).
    fn subscribed(&self) -> bool {
        !self.subs.is_empty() || !self.psubs.is_empty() || !self.ssubs.is_empty()
    }
}

/// See [`Client::last_name`].
#[derive(Default)]
struct LastName {
    bytes: [u8; 16],
    len: u8,
    spec: Option<&'static commands::CommandSpec>,
    /// The command runs in the engine (not one of `run`'s own cases).
    engine: bool,
    /// The command may share a clock read with its neighbours.
    cheap: bool,
}

/// How `LastName::resolve` found a command.
#[derive(Debug)]
struct Resolved {
    spec: &'static commands::CommandSpec,
    /// It runs in the engine, not in `run`'s own cases.
    engine: bool,
    /// Its time may be measured together with its neighbours' (see
    /// [`is_cheap`]).
    cheap: bool,
}

/// Commands whose time INFO commandstats may measure together with the
/// neighbouring cheap commands of a pipeline (one clock read for the run,
/// split evenly, `State::fast_run`): those flagged `fast`, and the string
/// writes whose work is bounded by their own arguments.
fn is_cheap(spec: &commands::CommandSpec) -> bool {
    spec.has_flag("fast") || matches!(spec.name, "set" | "setnx" | "setex" | "psetex" | "getset" | "mset" | "msetnx")
}

/// The commands `run` answers itself; every other one goes to the engine.
const SHARD_COMMANDS: &[&str] = &[
    "ping", "echo", "quit", "select", "swapdb", "move", "auth", "hello", "reset", "client", "config", "info", "time",
    "command", "function", "script", "lastsave", "multi", "discard", "exec", "watch", "unwatch", "subscribe",
    "psubscribe", "unsubscribe", "punsubscribe", "publish", "pubsub", "ssubscribe", "sunsubscribe", "spublish", "shutdown", "memory", "replicaof", "slaveof",
    "role", "failover", "replconf", "psync", "sync", "slowlog",
];

impl LastName {
    /// The command `args` names (see [`Resolved`]).
    fn resolve(&mut self, args: &[&[u8]]) -> Result<Resolved, String> {
        let name = &args[0][..];
        let hit = self.spec.filter(|_| name.len() == self.len as usize && name == &self.bytes[..name.len()]);
        let (base, engine, cheap) = match hit {
            Some(base) => (base, self.engine, self.cheap),
            None => match commands::lookup(name) {
                Some(base) => {
                    let engine = !SHARD_COMMANDS.contains(&base.container_name());
                    let cheap = base.subcommands.is_empty() && is_cheap(base);
                    if name.len() <= self.bytes.len() {
                        self.bytes[..name.len()].copy_from_slice(name);
                        self.len = name.len() as u8;
                        self.spec = Some(base);
                        self.engine = engine;
                        self.cheap = cheap;
                    }
                    (base, engine, cheap)
                }
                // Unknown: resolve builds Redis's error.
                None => {
                    return commands::resolve(args).map(|spec| Resolved { spec, engine: false, cheap: false });
                }
            },
        };
        // (A container's subcommands are never cheap: `cheap` is false.)
        commands::resolve_in(base, args).map(|spec| Resolved { spec, engine, cheap })
    }
}

/// What running one request produced.
enum Outcome {
    Reply(Frame),
    /// Several replies (SUBSCRIBE to several channels).
    Replies(Vec<Frame>),
    /// Reply, then close the connection.
    Close(Frame),
}

const PUSH_QUEUE_MAX: usize = 1 << 16;
/// Redis's client-query-buffer-limit default (1 GB).
const QUERY_BUFFER_MAX: usize = 1 << 30;

/// Redis's reply to a connection over `maxclients`, before closing it.
pub(crate) const MAXCLIENTS_ERROR: &[u8] = b"-ERR max number of clients reached\r\n";

/// Registers a new connection (CLIENT LIST, INFO clients) and makes its
/// state; `None` when `maxclients` connections are open already: the
/// caller answers [`MAXCLIENTS_ERROR`] and closes it. `kill` is what
/// CLIENT KILL notifies.
pub(crate) fn register(shared: &Shared, peer: SocketAddr, laddr: SocketAddr, kill: Arc<Notify>) -> Option<(Client, mpsc::Receiver<Push>)> {
    let id = shared.next_id();
    let (push_tx, push_rx) = mpsc::channel::<Push>(PUSH_QUEUE_MAX);
    {
        let mut st = shared.lock();
        st.stats.total_connections_received += 1;
        if st.clients.len() >= shared.config.maxclients {
            st.stats.rejected_connections += 1;
            return None;
        }
        let now = Instant::now();
        st.clients.insert(
            id,
            ClientInfo {
                id,
                addr: peer,
                laddr,
                name: None,
                created: now,
                last_cmd: "NULL",
                resp: 2,
                sub: 0,
                psub: 0,
                ssub: 0,
                multi: -1,
                no_evict: false,
                kill,
                killed: false,
                last_active: now,
            },
        );
    }
    let client = Client {
        id,
        proto: Protocol::Resp2,
        authed: shared.config.requirepass.is_none(),
        multi: None,
        multi_error: false,
        watching: Vec::new(),
        subs: Vec::new(),
        psubs: Vec::new(),
        ssubs: Vec::new(),
        in_exec: false,
        push_tx,
        reply_mode: ReplyMode::On,
        close_after_reply: false,
        peer: None,
        listening_port: None,
        last_cmd: "NULL",
        last_name: LastName::default(),
    };
    Some((client, push_rx))
}

/// What a connection brings from the event loop (`crate::event_loop`)
/// into a task of its own: its state, the input it has not run yet and
/// the replies it has not written yet.
pub(crate) struct Carried {
    pub client: Client,
    pub push_rx: mpsc::Receiver<Push>,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    /// A request that blocked in the loop's last round (its replies before
    /// it are in `wbuf`, the requests after it in `rbuf`).
    pub blocked: Option<Blocked>,
}

/// A blocking request waiting for a write: its arguments, deadline, and
/// where its reply will come from (`crate::blocked`).
pub(crate) struct Blocked {
    args: Vec<Bytes>,
    deadline: Instant,
    reply: oneshot::Receiver<Frame>,
}

/// What a batch does after [`run_request`].
pub(crate) enum Next {
    /// On to the next request.
    Go,
    /// The request blocked: the client waits before its next request.
    Blocked(Blocked),
    /// The request (not run) turns the connection into a sync session, or a
    /// replica's session (`replica`).
    Session { replica: bool },
}

/// Runs one request of a batch under the lock the caller holds, appending
/// its reply to `wbuf`: a blocking command (BLPOP, XREAD BLOCK, ...) is
/// tried once and otherwise joins the blocked clients; CRDT.PSYNC and
/// REPLCONF concord-protocol are left for the caller to hand over.
pub(crate) fn run_request(shared: &Shared, st: &mut State, client: &mut Client, args: &[&[u8]], wbuf: &mut BytesMut) -> Next {
    if client.peer.is_some() && client.authed && client.multi.is_none() && args[0].eq_ignore_ascii_case(b"crdt.psync") {
        return Next::Session { replica: false };
    }
    if client.authed
        && client.multi.is_none()
        && args.len() == 3
        && args[0].eq_ignore_ascii_case(b"replconf")
        && args[1].eq_ignore_ascii_case(b"concord-protocol")
    {
        return Next::Session { replica: true };
    }
    // Only blocking commands need the check (resolving every command twice
    // cost a few percent of throughput).
    let blocking = blocking_deadline(args)
        .filter(|_| client.multi.is_none() && client.authed)
        .and_then(|deadline| Some((deadline, commands::resolve(args).ok()?)));
    if let Some((deadline, spec)) = blocking {
        // CLIENT LIST shows a blocked client's command.
        client.last_cmd = spec.full_name();
        st.count_fast_run(Instant::now());
        let served = try_blocking(st, client, args);
        st.cmd_mark = Instant::now();
        let Some(frame) = served else {
            // XREAD's `$` means the last id as of now, not of each retry.
            let args = st.engine.pin_stream_ids(owned(args));
            let reply = st.blocked.block(client.id, args.clone(), client.proto == Protocol::Resp3);
            return Next::Blocked(Blocked { args, deadline, reply });
        };
        let outcome = Outcome::Reply(frame);
        count_blocking(st, client, args, &outcome);
        emit(client, outcome, wbuf);
        // BLMOVE's push may serve others.
        if !st.blocked.is_empty() {
            st.note_touched();
            st.serve_blocked();
        }
        return Next::Go;
    }
    let outcome = process(shared, st, client, args);
    // Clients blocked on a key this command wrote are served before the
    // next command (Redis's order).
    if !st.blocked.is_empty() {
        st.note_touched();
        st.serve_blocked();
    }
    emit(client, outcome, wbuf);
    Next::Go
}

/// Waits for a blocked request's reply (see [`wait_blocking`]) after
/// writing the replies before it, and appends the reply to `wbuf`. False
/// when the connection is over (the client went away or was killed).
async fn serve_blocked_request(
    shared: &Shared,
    client: &mut Client,
    socket: &mut TcpStream,
    b: Blocked,
    wbuf: &mut BytesMut,
    shutdown: &CancellationToken,
    mut killed: Pin<&mut Notified<'_>>,
) -> bool {
    if !wbuf.is_empty() {
        if !write_replies(socket, wbuf, killed.as_mut(), shutdown).await {
            shared.lock().blocked.remove(client.id);
            return false;
        }
        wbuf.clear();
    }
    let Blocked { args, deadline, reply } = b;
    match wait_blocking(shared, client, socket, reply, deadline, shutdown, killed).await {
        Some(frame) => {
            let outcome = Outcome::Reply(frame);
            count_blocking(&mut shared.lock(), client, &views(&args), &outcome);
            emit(client, outcome, wbuf);
            true
        }
        None => false, // the client went away while blocked
    }
}

/// Serves a connection in its own task: what the event loop cannot do
/// between two reads (a client blocked in BLPOP, a subscriber receiving
/// messages, a replication or sync session, a client that stops reading
/// its replies). `kill` is the notifier its `ClientInfo` holds.
pub(crate) async fn serve_task(
    shared: Arc<Shared>,
    mut socket: TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
    kill: Arc<Notify>,
    carried: Carried,
) {
    let Carried { mut client, mut push_rx, mut rbuf, mut wbuf, blocked: carried_blocked } = carried;
    // Input the event loop read but did not run: run it before reading.
    let mut pending_input = !rbuf.is_empty();
    // A `CRDT.PSYNC` turns the connection into a sync session.
    let mut handoff: Option<Vec<Bytes>> = None;
    // `REPLCONF concord-protocol` turns it into a replica's session.
    let mut replica_handoff = false;
    let mut decoder = RequestDecoder::default();
    let limits = Limits::default();
    // Bytes read but not yet added to INFO's total_net_input_bytes (added
    // under the batch's lock: one lock per read, not two).
    let mut unaccounted_input = 0u64;
    // The requests of one read, kept across reads for its capacity.
    let mut batch = RequestBatch::default();
    // The allocation of the argument views handed to each request, kept
    // across reads (see `resp::recycle_views`).
    let mut kept_views: Vec<&'static [u8]> = Vec::new();
    // Made once, not per read: each one registers with its notifier.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let killed = kill.notified();
    tokio::pin!(killed);
    // A request the event loop left blocked, then the replies it could not
    // write.
    let mut wrote = true;
    if let Some(b) = carried_blocked {
        wrote = serve_blocked_request(&shared, &mut client, &mut socket, b, &mut wbuf, &shutdown, killed.as_mut()).await;
    }
    if wrote && !wbuf.is_empty() {
        wrote = write_replies(&mut socket, &wbuf, killed.as_mut(), &shutdown).await;
        wbuf.clear();
    }
    'conn: loop {
        if !wrote {
            break;
        }
        if !std::mem::take(&mut pending_input) {
            tokio::select! {
                _ = &mut cancelled => break,
                _ = &mut killed => break,
                push = push_rx.recv() => {
                    let Some(push) = push else { break };
                    encode_push(&push, client.proto, &mut wbuf);
                    while let Ok(more) = push_rx.try_recv() {
                        encode_push(&more, client.proto, &mut wbuf);
                    }
                    if !write_replies(&mut socket, &wbuf, killed.as_mut(), &shutdown).await { break }
                    wbuf.clear();
                    continue 'conn;
                }
                read = socket.read_buf(&mut rbuf) => {
                    match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => unaccounted_input += n as u64,
                    }
                }
            }
        }
        // Decoding stops after an AUTH (it changes how the rest
        // parses): what follows in the buffer is handled right after,
        // without waiting for more bytes from the client.
        loop {
        let Decoded { fatal, stopped_at_auth } = decode_input(&mut decoder, &mut rbuf, &limits, client.authed, &mut batch);
        // The arguments borrow the batch: no reference count each.
        let mut arg_views = resp::recycle_views(std::mem::take(&mut kept_views));
        let mut i = 0;
        while i < batch.len() {
            // Run as many requests as possible under one lock.
            let mut blocked: Option<Blocked> = None;
            {
                let mut st = shared.lock();
                st.stats.total_net_input_bytes += std::mem::take(&mut unaccounted_input);
                start_run(&mut st);
                while i < batch.len() {
                    batch.args(i, &mut arg_views);
                    let args = &arg_views[..];
                    i += 1;
                    match run_request(&shared, &mut st, &mut client, args, &mut wbuf) {
                        Next::Go => {}
                        Next::Blocked(b) => {
                            blocked = Some(b);
                            break;
                        }
                        Next::Session { replica } => {
                            replica_handoff = replica;
                            handoff = Some(owned(args));
                            break;
                        }
                    }
                    if client.close_after_reply { break }
                }
                note_batch(&mut st, &client, wbuf.len());
                end_run(&shared, &mut st);
            }
            if let Some(b) = blocked {
                if !serve_blocked_request(&shared, &mut client, &mut socket, b, &mut wbuf, &shutdown, killed.as_mut()).await {
                    break 'conn;
                }
            }
            if client.close_after_reply || handoff.is_some() { break }
        }
        // Before the next read: the arguments share the read buffer's memory.
        kept_views = resp::recycle_views(arg_views);
        batch.clear();
        if handoff.is_some() {
            if !wbuf.is_empty() && socket.write_all(&wbuf).await.is_err() {
                handoff = None;
            }
            break 'conn;
        }
        if let Some(f) = fatal {
            resp::encode(&f, client.proto, &mut wbuf);
            client.close_after_reply = true;
        }
        if !wbuf.is_empty() {
            if !write_replies(&mut socket, &wbuf, killed.as_mut(), &shutdown).await { break 'conn }
            if wbuf.capacity() > 1 << 20 { wbuf = BytesMut::with_capacity(16 * 1024) } else { wbuf.clear() }
        }
        if client.close_after_reply { break 'conn }
        if !stopped_at_auth || rbuf.is_empty() { break }
        }
    }
    if let (true, Some(args)) = (replica_handoff, handoff.as_ref()) {
        let args = args.clone();
        cleanup(&mut shared.lock(), &mut client);
        crate::replica::serve(shared, socket, peer, args, rbuf, client.listening_port, shutdown.clone()).await;
        return;
    }
    if let (Some(args), Some(peer)) = (handoff, client.peer) {
        cleanup(&mut shared.lock(), &mut client);
        crate::sync::serve_psync(shared, socket, peer, args, shutdown.clone()).await;
        return;
    }
    // Forgotten before the close: a client that sees its connection end
    // no longer finds it in CLIENT LIST.
    {
        let mut st = shared.lock();
        st.stats.total_net_input_bytes += unaccounted_input;
        cleanup(&mut st, &mut client);
    }
    let _ = socket.shutdown().await;
}

/// How a batch of the event loop ended (see [`run_batch`]).
pub(crate) enum BatchEnd {
    /// Every request ran (or one closed the connection).
    Done,
    /// The connection needs a task of its own from request `next` on:
    /// `blocked` waits for a write, or it subscribed (messages arrive
    /// between requests), or request `next` starts a sync or replication
    /// session.
    OwnTask { next: usize, blocked: Option<Blocked> },
}

/// Runs the requests of `batch` for a connection of the event loop, under
/// the lock the caller holds (with `st.cmd_mark` and the engine's time
/// set), appending the replies to `wbuf`, until one needs a task of its own
/// (see [`BatchEnd`]). The caller ends the round (`count_fast_run`,
/// `after_writes`).
pub(crate) fn run_batch<'a>(
    shared: &Shared,
    st: &mut State,
    client: &mut Client,
    batch: &'a RequestBatch,
    views: &mut Vec<&'a [u8]>,
    wbuf: &mut BytesMut,
) -> BatchEnd {
    let mut end = BatchEnd::Done;
    for i in 0..batch.len() {
        batch.args(i, views);
        match run_request(shared, st, client, views, wbuf) {
            Next::Go => {}
            Next::Blocked(b) => {
                end = BatchEnd::OwnTask { next: i + 1, blocked: Some(b) };
                break;
            }
            Next::Session { .. } => {
                end = BatchEnd::OwnTask { next: i, blocked: None };
                break;
            }
        }
        if client.close_after_reply {
            break;
        }
        if client.subscribed() {
            end = BatchEnd::OwnTask { next: i + 1, blocked: None };
            break;
        }
    }
    note_batch(st, client, wbuf.len());
    end
}

/// Starts running batches under the lock: one clock read gives the command
/// timing mark and the time of day the commands see.
pub(crate) fn start_run(st: &mut State) {
    let mark = Instant::now();
    let now = st.wall_ms(mark);
    st.engine.now_ms_set(now);
    st.cmd_mark = mark;
}

/// Ends a run of batches under the lock: the cheap commands' time, and the
/// effects into the stream (waking the replication and sync senders).
pub(crate) fn end_run(shared: &Shared, st: &mut State) {
    if !st.fast_run.is_empty() {
        st.count_fast_run(Instant::now());
    }
    if st.after_writes() {
        shared.keyspace_changed.notify_waiters();
    }
}

/// Records a client's batch in CLIENT LIST (`cmd`, `idle`) and INFO
/// (output bytes).
fn note_batch(st: &mut State, client: &Client, replies: usize) {
    let mark = st.cmd_mark;
    if let Some(info) = st.clients.get_mut(&client.id) {
        info.last_cmd = client.last_cmd;
        info.last_active = mark;
    }
    st.stats.total_net_output_bytes += replies as u64;
}

/// How decoding a connection's input went (see [`decode_input`]).
pub(crate) struct Decoded {
    /// A protocol error (or a query buffer over its limit) after the
    /// decoded requests: answered after them, then the connection closes.
    pub fatal: Option<Frame>,
    /// Decoding stopped right after AUTH or HELLO, which change how the
    /// rest parses: decode the rest once they ran, without reading first.
    pub stopped_at_auth: bool,
}

/// Decodes every complete request of `rbuf` into `batch` (cleared first),
/// with the limits of an unauthenticated client until `authed`.
pub(crate) fn decode_input(
    decoder: &mut RequestDecoder,
    rbuf: &mut BytesMut,
    limits: &Limits,
    authed: bool,
    batch: &mut RequestBatch,
) -> Decoded {
    batch.clear();
    let is_auth = |name: &[u8]| name.eq_ignore_ascii_case(b"auth") || name.eq_ignore_ascii_case(b"hello");
    let decoded = if authed {
        decoder.decode_batch(rbuf, limits, batch)
    } else {
        decoder.decode_batch_unauthenticated(rbuf, limits, batch, is_auth)
    };
    let mut fatal = decoded.err().map(|e| e.to_frame());
    let stopped_at_auth = !authed && fatal.is_none() && !batch.is_empty() && is_auth(batch.name(batch.len() - 1));
    if rbuf.len() > QUERY_BUFFER_MAX {
        fatal = Some(Frame::error("ERR Protocol error: query buffer exceeds client-query-buffer-limit"));
    }
    Decoded { fatal, stopped_at_auth }
}

/// Writes a connection's replies, unless CLIENT KILL or a shutdown comes
/// first: a client that stops reading would otherwise keep its connection
/// (and its task) waiting on a full socket through both. False when the
/// write did not complete. (Biased: the write, which nearly always
/// completes on its first poll, goes first, so the notifiers' locks are
/// taken only while a write waits.)
async fn write_replies(socket: &mut TcpStream, out: &[u8], killed: Pin<&mut Notified<'_>>, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        written = socket.write_all(out) => written.is_ok(),
        _ = killed => false,
        _ = shutdown.cancelled() => false,
    }
}

/// Forgets a closed connection: its `ClientInfo`, blocked entry, watched
/// keys and subscriptions.
pub(crate) fn cleanup(st: &mut State, client: &mut Client) {
    st.clients.remove(&client.id);
    st.blocked.remove(client.id);
    unwatch(st, client);
    for ch in client.subs.drain(..) {
        if let Some(m) = st.channels.get_mut(&ch) {
            m.remove(&client.id);
            if m.is_empty() {
                st.channels.remove(&ch);
            }
        }
    }
    for p in client.psubs.drain(..) {
        if let Some(m) = st.patterns.get_mut(&p) {
            m.remove(&client.id);
            if m.is_empty() {
                st.patterns.remove(&p);
            }
        }
    }
    for ch in client.ssubs.drain(..) {
        if let Some(m) = st.shard_channels.get_mut(&ch) {
            m.remove(&client.id);
            if m.is_empty() {
                st.shard_channels.remove(&ch);
            }
        }
    }
}

fn emit(client: &mut Client, outcome: Outcome, out: &mut BytesMut) {
    let frame = match outcome {
        Outcome::Reply(f) => f,
        Outcome::Replies(v) => {
            // (P)(UN)SUBSCRIBE confirmations are pushes in Redis: CLIENT
            // REPLY OFF/SKIP does not silence them (a SKIP is used up).
            for f in &v {
                resp::encode(f, client.proto, out);
            }
            match client.reply_mode {
                ReplyMode::Skip => client.reply_mode = ReplyMode::On,
                ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
                _ => {}
            }
            return;
        }
        Outcome::Close(f) => {
            client.close_after_reply = true;
            f
        }
    };
    match client.reply_mode {
        ReplyMode::On => resp::encode(&frame, client.proto, out),
        ReplyMode::Off => {}
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
        ReplyMode::Skip => client.reply_mode = ReplyMode::On,
    }
}

fn encode_push(push: &Push, proto: Protocol, out: &mut BytesMut) {
    let frame = match push {
        Push::Message { channel, payload } => {
            vec![Frame::bulk(Bytes::from_static(b"message")), Frame::Bulk(channel.clone()), Frame::Bulk(payload.clone())]
        }
        Push::SMessage { channel, payload } => {
            vec![Frame::bulk(Bytes::from_static(b"smessage")), Frame::Bulk(channel.clone()), Frame::Bulk(payload.clone())]
        }
        Push::PMessage { pattern, channel, payload } => vec![
            Frame::bulk(Bytes::from_static(b"pmessage")),
            Frame::Bulk(pattern.clone()),
            Frame::Bulk(channel.clone()),
            Frame::Bulk(payload.clone()),
        ],
    };
    resp::encode(&Frame::Push(frame), proto, out);
}

fn err(s: impl Into<String>) -> Frame {
    Frame::error(s.into())
}

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A copy of a request's arguments that outlives its read buffer.
fn owned(args: &[&[u8]]) -> Vec<Bytes> {
    args.iter().map(|arg| Bytes::copy_from_slice(arg)).collect()
}

/// Owned arguments (a queued or blocked command's) as the engine takes them.
fn views(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|arg| &arg[..]).collect()
}

/// Runs one request.
fn process(shared: &Shared, st: &mut State, client: &mut Client, args: &[&[u8]]) -> Outcome {
    st.stats.total_commands_processed += 1;
    if crate::sync::is_sync_command(&args[0]) {
        if !client.authed {
            return Outcome::Reply(err("NOAUTH Authentication required."));
        }
        if args[0].eq_ignore_ascii_case(b"crdt.hello") {
            return Outcome::Reply(match crate::sync::hello(shared, args) {
                Ok(peer) => {
                    client.peer = Some(peer);
                    Frame::ok()
                }
                Err(f) => f,
            });
        }
        if st.repl.is_replica() && (args[0].eq_ignore_ascii_case(b"crdt.apply") || args[0].eq_ignore_ascii_case(b"crdt.merge")) {
            // Only the primary takes a peer's effects: the replica follows its stream.
            return Outcome::Reply(err("READONLY You can't write against a read only replica."));
        }
        return Outcome::Reply(crate::sync::command(shared, st, args));
    }
    let Resolved { spec, engine, cheap } = match client.last_name.resolve(args) {
        Ok(found) => found,
        Err(e) => {
            if client.multi.is_some() {
                client.multi_error = true;
            }
            return reject(st, None, err(e));
        }
    };
    let name = spec.container_name();
    client.last_cmd = spec.full_name();
    if !client.authed && !matches!(name, "auth" | "hello" | "quit" | "reset") {
        if client.multi.is_some() {
            client.multi_error = true;
        }
        return reject(st, Some(spec), err("NOAUTH Authentication required."));
    }
    if client.subscribed() {
        if client.proto == Protocol::Resp2
            && !matches!(
                name,
                "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe" | "sunsubscribe" | "ping" | "quit" | "reset"
            )
        {
            return reject(
                st,
                Some(spec),
                err(format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    spec.full_name()
                )),
            );
        }
    }
    if (st.repl.is_replica() || crate::replica::failover_pending(st)) && spec.has_flag("write") {
        if client.multi.is_some() {
            client.multi_error = true;
        }
        return reject(st, Some(spec), err("READONLY You can't write against a read only replica."));
    }
    if client.multi.is_some() && spec.has_flag("no_multi") {
        client.multi_error = true;
        return reject(st, Some(spec), err(commands::errors::NOT_ALLOWED_IN_MULTI));
    }
    if client.multi.is_some() && !matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset") {
        // Queued commands own their bytes: the read buffer is reused before EXEC.
        client.multi.as_mut().expect("checked").push(owned(args));
        return Outcome::Reply(Frame::simple("QUEUED"));
    }
    run_counted(shared, st, client, args, spec, name, engine, cheap)
}

/// A command refused before it ran: counted as Redis counts it
/// (`rejected_calls` of the command, if known, and the error's code).
fn reject(st: &mut State, spec: Option<&'static commands::CommandSpec>, reply: Frame) -> Outcome {
    if let Frame::Error(text) = &reply {
        st.stats.error_reply(text);
    }
    if let Some(spec) = spec {
        st.stats.command(spec).rejected_calls += 1;
    }
    Outcome::Reply(reply)
}

/// Runs a command and counts it for INFO commandstats and errorstats.
fn run_counted(
    shared: &Shared,
    st: &mut State,
    client: &mut Client,
    args: &[&[u8]],
    spec: &'static commands::CommandSpec,
    name: &'static str,
    engine: bool,
    cheap: bool,
) -> Outcome {
    // The command's time runs from the end of the one before it in this
    // batch (or from taking the lock): one clock read per command, and one
    // per run of consecutive cheap commands (State::fast_run, is_cheap),
    // unless SLOWLOG needs every command's own time (crate::slowlog).
    if cheap && small_enough_to_batch(args) && st.slowlog.batching_allowed() {
        let outcome = run(shared, st, client, args, spec, name, engine);
        match st.fast_run.last_mut() {
            Some((last, n)) if std::ptr::eq(*last, spec) => *n += 1,
            _ => st.fast_run.push((spec, 1)),
        }
        count_call(st, spec, 0, &outcome);
        return outcome;
    }
    if !st.fast_run.is_empty() {
        st.count_fast_run(Instant::now());
    }
    let started = st.cmd_mark;
    let outcome = run(shared, st, client, args, spec, name, engine);
    let end = Instant::now();
    // (EXEC runs the queued commands inside: count its fast ones now.)
    st.count_fast_run(end);
    let nanos = end.saturating_duration_since(started).as_nanos() as u64;
    count_call(st, spec, nanos, &outcome);
    if st.slowlog.wants(nanos) && !spec.has_flag("skip_slowlog") {
        slowlog_push(st, client, args, nanos);
    }
    outcome
}

/// Whether a cheap command's arguments are few and small enough that it
/// cannot take anywhere near a millisecond (crate::slowlog::BATCHED_MIN_US):
/// only those are timed together with their neighbours, so SLOWLOG still
/// sees an MSET of many keys or a SET of a large value.
#[inline]
fn small_enough_to_batch(args: &[&[u8]]) -> bool {
    args.len() <= 16 && args.iter().map(|a| a.len()).sum::<usize>() <= 64 << 10
}

/// Adds a command to SLOWLOG, with its client's address and name.
fn slowlog_push(st: &mut State, client: &Client, args: &[&[u8]], nanos: u64) {
    let (addr, name) = match st.clients.get(&client.id) {
        Some(info) => (Bytes::from(info.addr.to_string()), info.name.clone().unwrap_or_default()),
        None => (Bytes::new(), Bytes::new()),
    };
    let time = st.wall_ms(Instant::now()) / 1000;
    st.slowlog.push(args, nanos, time, addr, name);
}

/// Counts a blocking command when it is served (at once or after waiting);
/// the time it spent blocked is not execution time.
fn count_blocking(st: &mut State, client: &mut Client, args: &[&[u8]], outcome: &Outcome) {
    if let Ok(spec) = commands::resolve(args) {
        client.last_cmd = spec.full_name();
        count_call(st, spec, 0, outcome);
        if st.slowlog.wants(0) {
            slowlog_push(st, client, args, 0);
        }
    }
}

fn count_call(st: &mut State, spec: &'static commands::CommandSpec, nanos: u64, outcome: &Outcome) {
    let failed = match outcome {
        Outcome::Reply(Frame::Error(text)) | Outcome::Close(Frame::Error(text)) => {
            st.stats.error_reply(text);
            true
        }
        _ => false,
    };
    let s = st.stats.command(spec);
    s.calls += 1;
    s.nanos += nanos;
    s.failed_calls += failed as u64;
}

fn run(
    shared: &Shared,
    st: &mut State,
    client: &mut Client,
    args: &[&[u8]],
    spec: &'static commands::CommandSpec,
    name: &'static str,
    // Known to run in the engine: skip the match over the shard's own commands.
    engine: bool,
) -> Outcome {
    if engine {
        return Outcome::Reply(run_in_engine(st, client, spec, name, args));
    }
    // (A command answered here must be in SHARD_COMMANDS too.)
    let reply = match name {
        "ping" => {
            if client.subscribed() {
                if client.proto == Protocol::Resp2 {
                    let payload = args.get(1).map(|a| Bytes::copy_from_slice(a)).unwrap_or_default();
                    Frame::Array(vec![Frame::bulk(Bytes::from_static(b"pong")), Frame::Bulk(payload)])
                } else {
                    args.get(1).map_or(Frame::simple("PONG"), |a| Frame::Bulk(Bytes::copy_from_slice(a)))
                }
            } else if args.len() > 2 {
                return Outcome::Reply(err("ERR wrong number of arguments for 'ping' command"));
            } else {
                args.get(1).map_or(Frame::simple("PONG"), |a| Frame::Bulk(Bytes::copy_from_slice(a)))
            }
        }
        "echo" => Frame::Bulk(Bytes::copy_from_slice(args[1])),
        "quit" => return Outcome::Close(Frame::ok()),
        "select" => match std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(0) => Frame::ok(),
            Some(_) => err("ERR DB index is out of range"),
            None => err("ERR value is not an integer or out of range"),
        },
        "swapdb" => err("ERR DB index is out of range"),
        "move" => err("ERR DB index is out of range"),
        "auth" => auth(st, client, args),
        "hello" => hello(shared, st, client, args),
        "reset" => {
            reset(st, client);
            Frame::simple("RESET")
        }
        "client" => {
            // CLIENT LIST/INFO show this command for this connection.
            if let Some(info) = st.clients.get_mut(&client.id) {
                info.last_cmd = client.last_cmd;
                info.last_active = Instant::now();
            }
            client_cmd(st, client, args)
        }
        "config" => crate::info::config_cmd(st, args),
        "info" => crate::info::info(shared, st, args),
        "time" => {
            let us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
            Frame::Array(vec![
                Frame::bulk((us / 1_000_000).to_string()),
                Frame::bulk((us % 1_000_000).to_string()),
            ])
        }
        "command" => command_cmd(args),
        "function" | "script" => {
            // No scripting yet: a server with no functions or scripts.
            if args.len() > 3 || (args.len() == 3 && !eq(&args[2], "async") && !eq(&args[2], "sync")) {
                err("ERR syntax error")
            } else {
                Frame::ok()
            }
        }
        "lastsave" => Frame::Integer((shared.started.elapsed().as_secs() as i64).max(0)),
        "multi" => {
            if client.multi.is_some() {
                err("ERR MULTI calls can not be nested")
            } else {
                client.multi = Some(Vec::new());
                client.multi_error = false;
                set_multi(st, client.id, 0);
                Frame::ok()
            }
        }
        "discard" => {
            if client.multi.take().is_none() {
                err("ERR DISCARD without MULTI")
            } else {
                unwatch(st, client);
                set_multi(st, client.id, -1);
                Frame::ok()
            }
        }
        "exec" => return exec(shared, st, client),
        "watch" => {
            if client.multi.is_some() {
                err("ERR WATCH inside MULTI is not allowed")
            } else {
                for k in &args[1..] {
                    if !client.watching.iter().any(|w| w[..] == **k) {
                        let k = Bytes::copy_from_slice(k);
                        client.watching.push(k.clone());
                        st.watched.entry(k).or_default().insert(client.id);
                    }
                }
                Frame::ok()
            }
        }
        "unwatch" => {
            unwatch(st, client);
            Frame::ok()
        }
        "subscribe" => return Outcome::Replies(subscribe(st, client, &args[1..], false)),
        "psubscribe" => return Outcome::Replies(subscribe(st, client, &args[1..], true)),
        "unsubscribe" => return Outcome::Replies(unsubscribe(st, client, &args[1..], false)),
        "punsubscribe" => return Outcome::Replies(unsubscribe(st, client, &args[1..], true)),
        "ssubscribe" => {
            if client.in_exec {
                // Redis 7.0 refuses it inside MULTI (a "deny blocking" client).
                err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
            } else {
                return Outcome::Replies(subscribe_shard(st, client, &args[1..]));
            }
        }
        "sunsubscribe" => return Outcome::Replies(unsubscribe_shard(st, client, &args[1..])),
        "publish" | "spublish" => {
            let sharded = name == "spublish";
            Frame::Integer(st.publish(shared, Bytes::copy_from_slice(args[1]), Bytes::copy_from_slice(args[2]), sharded))
        }
        "pubsub" => pubsub_cmd(st, args),
        "shutdown" => match shutdown_command(shared, client, args) {
            Ok(()) => return Outcome::Replies(Vec::new()),
            Err(f) => f,
        },
        "memory" => crate::info::memory_command(st, args),
        "slowlog" => st.slowlog.command(args),
        "replicaof" | "slaveof" => crate::replica::replicaof_command(st, args),
        "role" => crate::replica::role_command(st),
        "failover" => crate::replica::failover_command(st, args),
        "replconf" => {
            if args.len() == 3 && eq(&args[1], "listening-port") {
                match std::str::from_utf8(&args[2]).ok().and_then(|s| s.parse::<u16>().ok()) {
                    Some(p) => {
                        client.listening_port = Some(p);
                        Frame::ok()
                    }
                    None => err("ERR Invalid listening-port"),
                }
            } else if args.len() >= 2 && eq(&args[1], "concord-protocol") {
                err("ERR REPLCONF concord-protocol is not allowed in MULTI")
            } else {
                // capa, ip-address, ...: accepted; PSYNC follows the handshake.
                Frame::ok()
            }
        }
        "psync" | "sync" => err("ERR send REPLCONF concord-protocol 1 first (Concord's replication protocol, docs/replication.md)"),
        _ => run_in_engine(st, client, spec, name, args),
    };
    Outcome::Reply(reply)
}

fn run_in_engine(st: &mut State, client: &Client, spec: &'static commands::CommandSpec, name: &'static str, args: &[&[u8]]) -> Frame {
    let now = st.engine.now_ms();
    st.engine.resp3 = client.proto == Protocol::Resp3;
    let reply = match st.engine.execute_named(spec, name, args, now) {
        Some(f) => f,
        None => err(format!("ERR command '{}' is not supported by Concord yet", name)),
    };
    // Keyspace notifications go out right after the command, as in
    // Redis (the engine records none unless they are enabled).
    if !st.engine.events.is_empty() {
        st.publish_events();
    }
    reply
}

fn set_multi(st: &mut State, id: ClientId, n: i64) {
    if let Some(c) = st.clients.get_mut(&id) {
        c.multi = n;
    }
}

fn exec(shared: &Shared, st: &mut State, client: &mut Client) -> Outcome {
    let Some(queue) = client.multi.take() else { return Outcome::Reply(err("ERR EXEC without MULTI")) };
    set_multi(st, client.id, -1);
    if client.multi_error {
        unwatch(st, client);
        return Outcome::Reply(err("EXECABORT Transaction discarded because of previous errors."));
    }
    // Effects of earlier batches may still be undrained: settle WATCH first.
    st.after_writes();
    let dirty = st.dirty.contains(&client.id);
    unwatch(st, client);
    if dirty {
        return Outcome::Reply(Frame::NullArray);
    }
    let mut replies = Vec::with_capacity(queue.len());
    client.in_exec = true;
    for owned in queue {
        let args = views(&owned);
        let spec = match commands::resolve(&args) {
            Ok(spec) => spec,
            Err(e) => {
                replies.push(err(e));
                continue;
            }
        };
        match run_counted(shared, st, client, &args, spec, spec.container_name(), false, is_cheap(spec)) {
            Outcome::Reply(f) => replies.push(f),
            Outcome::Replies(v) => replies.extend(v),
            Outcome::Close(f) => replies.push(f),
        }
    }
    client.in_exec = false;
    Outcome::Reply(Frame::Array(replies))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: stops the server as
/// SIGTERM does (connections finish their batch, the log is closed, a
/// snapshot is written unless NOSAVE). As in Redis, the client gets no
/// reply: its connection closes. NOW and FORCE are accepted (there is no
/// replica wait or save failure to skip); ABORT has nothing to abort.
fn shutdown_command(shared: &Shared, client: &mut Client, args: &[&[u8]]) -> Result<(), Frame> {
    let (mut save, mut nosave, mut abort) = (false, false, false);
    for a in &args[1..] {
        if eq(a, "nosave") {
            nosave = true;
        } else if eq(a, "save") {
            save = true;
        } else if eq(a, "abort") {
            abort = true;
        } else if !eq(a, "now") && !eq(a, "force") {
            return Err(err(commands::errors::SYNTAX));
        }
    }
    if (save && nosave) || (abort && args.len() > 2) {
        return Err(err(commands::errors::SYNTAX));
    }
    if abort {
        return Err(err("ERR No shutdown in progress."));
    }
    tracing::warn!(client = client.id, "SHUTDOWN{} requested by a client", if nosave { " NOSAVE" } else { "" });
    if nosave {
        shared.snapshot_on_stop.store(false, std::sync::atomic::Ordering::Relaxed);
    }
    client.close_after_reply = true;
    shared.stop.cancel();
    Ok(())
}

fn unwatch(st: &mut State, client: &mut Client) {
    for k in client.watching.drain(..) {
        if let Some(set) = st.watched.get_mut(&k) {
            set.remove(&client.id);
            if set.is_empty() {
                st.watched.remove(&k);
            }
        }
    }
    st.dirty.remove(&client.id);
}

fn reset(st: &mut State, client: &mut Client) {
    client.multi = None;
    client.multi_error = false;
    unwatch(st, client);
    let _ = unsubscribe(st, client, &[], false);
    let _ = unsubscribe(st, client, &[], true);
    let _ = unsubscribe_shard(st, client, &[]);
    client.proto = Protocol::Resp2;
    client.reply_mode = ReplyMode::On;
    client.authed = st.requirepass.is_none();
    if let Some(c) = st.clients.get_mut(&client.id) {
        c.name = None;
        c.resp = 2;
        c.multi = -1;
        c.no_evict = false;
    }
}

fn auth(st: &mut State, client: &mut Client, args: &[&[u8]]) -> Frame {
    if args.len() > 3 {
        return err("ERR syntax error");
    }
    let (user, pass) = if args.len() == 3 { (Some(&args[1]), &args[2]) } else { (None, &args[1]) };
    match &st.requirepass {
        None if user.is_none() => err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
        None => {
            if user.is_some_and(|u| eq(u, "default")) {
                client.authed = true;
                Frame::ok()
            } else {
                err("WRONGPASS invalid username-password pair or user is disabled.")
            }
        }
        Some(pw) => {
            let user_ok = user.is_none_or(|u| &u[..] == b"default");
            if user_ok && pass[..] == *pw.as_bytes() {
                client.authed = true;
                Frame::ok()
            } else {
                err("WRONGPASS invalid username-password pair or user is disabled.")
            }
        }
    }
}

fn hello(shared: &Shared, st: &mut State, client: &mut Client, args: &[&[u8]]) -> Frame {
    let mut i = 1;
    let mut proto = client.proto;
    if args.len() > 1 {
        match std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(2) => proto = Protocol::Resp2,
            Some(3) => proto = Protocol::Resp3,
            Some(_) => return err("NOPROTO unsupported protocol version"),
            None => return err("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut setname: Option<Bytes> = None;
    while i < args.len() {
        if eq(&args[i], "auth") && i + 2 < args.len() {
            let f = auth(st, client, &[b"auth", args[i + 1], args[i + 2]]);
            if matches!(f, Frame::Error(_)) {
                return f;
            }
            i += 3;
        } else if eq(&args[i], "setname") && i + 1 < args.len() {
            setname = Some(Bytes::copy_from_slice(args[i + 1]));
            i += 2;
        } else {
            return err(format!("ERR Syntax error in HELLO option '{}'", lossy(&args[i])));
        }
    }
    if !client.authed {
        return err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        if let Err(e) = check_name(&name) {
            return e;
        }
        if let Some(c) = st.clients.get_mut(&client.id) {
            c.name = if name.is_empty() { None } else { Some(name) };
        }
    }
    client.proto = proto;
    if let Some(c) = st.clients.get_mut(&client.id) {
        c.resp = if proto == Protocol::Resp3 { 3 } else { 2 };
    }
    let _ = shared;
    Frame::Map(vec![
        (Frame::bulk("server"), Frame::bulk("redis")),
        (Frame::bulk("version"), Frame::bulk(crate::info::REDIS_VERSION)),
        (Frame::bulk("proto"), Frame::Integer(if proto == Protocol::Resp3 { 3 } else { 2 })),
        (Frame::bulk("id"), Frame::Integer(client.id as i64)),
        (Frame::bulk("mode"), Frame::bulk("standalone")),
        (Frame::bulk("role"), Frame::bulk(if st.repl.is_replica() { "replica" } else { "master" })),
        (Frame::bulk("modules"), Frame::Array(vec![])),
    ])
}

fn check_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().any(|&c| c < b'!' || c > b'~') {
        return Err(err("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

/// What CLIENT LIST shows of the query buffer of the client running it:
/// the request being run, as RESP (`qbuf`), and its arguments' bytes
/// (`argv-mem`); Redis's figures when the read held this request alone.
/// Other clients are between requests: 0 and 0.
fn query_sizes(args: &[&[u8]]) -> (usize, usize) {
    let digits = |n: usize| n.to_string().len();
    let argv: usize = args.iter().map(|a| a.len()).sum();
    let framing: usize = args.iter().map(|a| 1 + digits(a.len()) + 2 + 2).sum();
    (1 + digits(args.len()) + 2 + framing + argv, argv)
}

fn client_line(c: &ClientInfo, blocked: bool, query: (usize, usize)) -> String {
    let age = c.created.elapsed().as_secs();
    let flags = if c.multi >= 0 {
        "x"
    } else if c.sub + c.psub + c.ssub > 0 {
        "P"
    } else if blocked {
        "b"
    } else {
        "N"
    };
    format!(
        "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db=0 sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem={} multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.name.as_ref().map(|n| lossy(n)).unwrap_or_default(),
        age,
        c.last_active.elapsed().as_secs(),
        flags,
        c.sub,
        c.psub,
        c.ssub,
        c.multi,
        query.0,
        query.1,
        c.last_cmd.to_lowercase(),
        c.resp
    )
}

fn client_cmd(st: &mut State, client: &mut Client, args: &[&[u8]]) -> Frame {
    let sub = args[1].to_ascii_lowercase();
    match &sub[..] {
        b"id" => Frame::Integer(client.id as i64),
        b"setname" => {
            if let Err(e) = check_name(&args[2]) {
                return e;
            }
            if let Some(c) = st.clients.get_mut(&client.id) {
                c.name = if args[2].is_empty() { None } else { Some(Bytes::copy_from_slice(args[2])) };
            }
            Frame::ok()
        }
        b"getname" => match st.clients.get(&client.id).and_then(|c| c.name.clone()) {
            Some(n) => Frame::Bulk(n),
            None => Frame::Null,
        },
        b"list" => {
            let mut s = String::new();
            let mut ids: Option<Vec<u64>> = None;
            if args.len() > 2 {
                if eq(&args[2], "type") && args.len() == 4 {
                    if !matches!(&args[3].to_ascii_lowercase()[..], b"normal" | b"master" | b"replica" | b"pubsub") {
                        return err(format!("ERR Unknown client type '{}'", lossy(&args[3])));
                    }
                } else if eq(&args[2], "id") && args.len() > 3 {
                    let mut v = Vec::new();
                    for a in &args[3..] {
                        match std::str::from_utf8(a).ok().and_then(|s| s.parse::<u64>().ok()) {
                            Some(x) if x > 0 => v.push(x),
                            _ => return err("ERR Invalid client ID"),
                        }
                    }
                    ids = Some(v);
                } else {
                    return err("ERR syntax error");
                }
            }
            for c in st.clients.values() {
                if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
                    continue;
                }
                if args.len() == 4 && eq(&args[2], "type") {
                    let t = args[3].to_ascii_lowercase();
                    let is_pubsub = c.sub + c.psub + c.ssub > 0;
                    let want_pubsub = &t[..] == b"pubsub";
                    if &t[..] == b"master" || &t[..] == b"replica" || is_pubsub != want_pubsub {
                        continue;
                    }
                }
                let query = if c.id == client.id { query_sizes(args) } else { (0, 0) };
                s.push_str(&client_line(c, st.blocked.is_blocked(c.id), query));
            }
            Frame::Verbatim { format: *b"txt", text: s.into() }
        }
        b"info" => match st.clients.get(&client.id) {
            Some(c) => Frame::Verbatim { format: *b"txt", text: client_line(c, false, query_sizes(args)).into() },
            None => Frame::Null,
        },
        b"kill" => client_kill(st, client, args),
        b"unblock" => {
            let Some(id) = std::str::from_utf8(&args[2]).ok().and_then(|s| s.parse::<i64>().ok()) else {
                return err("ERR value is not an integer or out of range");
            };
            let how = match args.get(3) {
                None => crate::blocked::Unblock::Timeout,
                Some(a) if eq(a, "timeout") => crate::blocked::Unblock::Timeout,
                Some(a) if eq(a, "error") => crate::blocked::Unblock::Error,
                Some(_) => return err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
            };
            if args.len() > 4 {
                return err("ERR syntax error");
            }
            let done = u64::try_from(id).is_ok_and(|id| st.blocked.unblock(id, how));
            Frame::Integer(i64::from(done))
        }
        b"no-evict" => {
            if args.len() != 3 {
                return err("ERR syntax error");
            }
            let on = if eq(&args[2], "on") {
                true
            } else if eq(&args[2], "off") {
                false
            } else {
                return err("ERR syntax error");
            };
            if let Some(c) = st.clients.get_mut(&client.id) {
                c.no_evict = on;
            }
            Frame::ok()
        }
        b"reply" => {
            if eq(&args[2], "on") {
                client.reply_mode = ReplyMode::On;
                Frame::ok()
            } else if eq(&args[2], "off") {
                client.reply_mode = ReplyMode::Off;
                Frame::ok()
            } else if eq(&args[2], "skip") {
                // The SKIP itself gets no reply (`emit` drops it), and the
                // next command's reply is skipped; under OFF it changes nothing.
                if client.reply_mode != ReplyMode::Off {
                    client.reply_mode = ReplyMode::SkipNext;
                }
                return Frame::Null;
            } else {
                err("ERR syntax error")
            }
        }
        b"help" => Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "LIST [options ...]",
                "    Return information about client connections.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Frame::simple(l))
            .collect(),
        ),
        _ => err(format!("ERR unknown subcommand '{}'. Try CLIENT HELP.", lossy(&args[1]))),
    }
}

fn client_kill(st: &mut State, client: &mut Client, args: &[&[u8]]) -> Frame {
    if args.len() == 3 {
        let addr = lossy(&args[2]);
        let target = st.clients.values().find(|c| c.addr.to_string() == addr).map(|c| c.id);
        return match target {
            Some(id) => {
                kill_client(st, client, id);
                Frame::ok()
            }
            None => err("ERR No such client"),
        };
    }
    if args.len() % 2 != 0 {
        return err("ERR syntax error");
    }
    let mut ids: Vec<u64> = st.clients.keys().copied().collect();
    let mut skipme = true;
    for kv in args[2..].chunks(2) {
        let (k, v) = (&kv[0], &kv[1]);
        if eq(k, "id") {
            let Some(id) = std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()).filter(|&id| id > 0) else {
                return err("ERR client-id should be greater than 0");
            };
            ids.retain(|&x| x == id);
        } else if eq(k, "addr") {
            let a = lossy(v);
            ids.retain(|x| st.clients.get(x).is_some_and(|c| c.addr.to_string() == a));
        } else if eq(k, "laddr") {
            let a = lossy(v);
            ids.retain(|x| st.clients.get(x).is_some_and(|c| c.laddr.to_string() == a));
        } else if eq(k, "skipme") {
            skipme = if eq(v, "yes") {
                true
            } else if eq(v, "no") {
                false
            } else {
                return err("ERR syntax error");
            };
        } else if eq(k, "type") {
            let t = v.to_ascii_lowercase();
            match &t[..] {
                b"normal" => ids.retain(|x| st.clients.get(x).is_some_and(|c| c.sub + c.psub + c.ssub == 0)),
                b"pubsub" => ids.retain(|x| st.clients.get(x).is_some_and(|c| c.sub + c.psub + c.ssub > 0)),
                b"master" | b"replica" | b"slave" => ids.clear(),
                _ => return err(format!("ERR Unknown client type '{}'", lossy(v))),
            }
        } else if eq(k, "user") {
            if !eq(v, "default") {
                return err(format!("ERR No such user '{}'", lossy(v)));
            }
        } else {
            return err("ERR syntax error");
        }
    }
    if skipme {
        ids.retain(|&x| x != client.id);
    }
    for &id in &ids {
        kill_client(st, client, id);
    }
    Frame::Integer(ids.len() as i64)
}

fn kill_client(st: &mut State, me: &mut Client, id: ClientId) {
    if id == me.id {
        me.close_after_reply = true;
        return;
    }
    if let Some(c) = st.clients.get_mut(&id) {
        c.killed = true;
        c.kill.notify_one();
        st.kills += 1;
        if let Some(waker) = &st.loop_waker {
            let _ = waker.wake();
        }
    }
}

fn command_cmd(args: &[&[u8]]) -> Frame {
    if args.len() == 1 {
        return Frame::Array(commands::all().map(commands::command_info_reply).collect());
    }
    let sub = args[1].to_ascii_lowercase();
    match &sub[..] {
        b"count" => Frame::Integer(commands::count() as i64),
        b"list" => command_list(&args[2..]),
        b"info" => Frame::Array(
            args[2..]
                .iter()
                .map(|n| lookup_full(n).map(commands::command_info_reply).unwrap_or(Frame::Null))
                .collect(),
        ),
        b"docs" => {
            let specs: Vec<&commands::CommandSpec> =
                if args.len() == 2 { commands::all().collect() } else { args[2..].iter().filter_map(|n| lookup_full(n)).collect() };
            Frame::Map(specs.into_iter().map(commands::command_docs_entry).collect())
        }
        b"getkeys" | b"getkeysandflags" => {
            let rest = &args[2..];
            let Ok(spec) = commands::resolve(rest) else { return err("ERR Invalid command specified") };
            let keys = commands::keys_with_flags(spec, rest);
            if keys.is_empty() {
                return err("ERR The command has no key arguments");
            }
            let with_flags = &sub[..] == b"getkeysandflags";
            Frame::Array(
                keys.into_iter()
                    .map(|(i, flags)| {
                        let key = Frame::Bulk(Bytes::copy_from_slice(rest[i]));
                        if with_flags {
                            Frame::Array(vec![key, Frame::Set(flags.iter().map(|f| Frame::simple(*f)).collect())])
                        } else {
                            key
                        }
                    })
                    .collect(),
            )
        }
        b"help" => Frame::Array(vec![Frame::simple("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")]),
        _ => err(format!("ERR unknown subcommand '{}'. Try COMMAND HELP.", lossy(&args[1]))),
    }
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]`:
/// commands and subcommands. No modules are loaded, so a module filter
/// matches nothing.
fn command_list(opts: &[&[u8]]) -> Frame {
    let names = commands::all_with_subcommands();
    let list: Vec<Frame> = match opts {
        [] => names.map(|s| Frame::bulk(s.full_name())).collect(),
        [by, kind, value] if eq(by, "filterby") => {
            if eq(kind, "module") {
                Vec::new()
            } else if eq(kind, "aclcat") {
                let cat = lossy(value);
                names.filter(|s| s.acl_categories.iter().any(|c| c[1..].eq_ignore_ascii_case(&cat))).map(|s| Frame::bulk(s.full_name())).collect()
            } else if eq(kind, "pattern") {
                names.filter(|s| commands::glob_match(value, s.full_name().as_bytes(), true)).map(|s| Frame::bulk(s.full_name())).collect()
            } else {
                return err("ERR syntax error");
            }
        }
        _ => return err("ERR syntax error"),
    };
    Frame::Array(list)
}

/// `name` or `container|sub`.
fn lookup_full(name: &[u8]) -> Option<&'static commands::CommandSpec> {
    if let Some(pos) = name.iter().position(|&c| c == b'|') {
        let base = commands::lookup(&name[..pos])?;
        commands::lookup_subcommand(base, &name[pos + 1..])
    } else {
        commands::lookup(name)
    }
}

fn subscribe(st: &mut State, client: &mut Client, names: &[&[u8]], pattern: bool) -> Vec<Frame> {
    let mut out = Vec::new();
    for n in names {
        let (list, map) = if pattern { (&mut client.psubs, &mut st.patterns) } else { (&mut client.subs, &mut st.channels) };
        let n = Bytes::copy_from_slice(n);
        if !list.contains(&n) {
            list.push(n.clone());
            map.entry(n.clone()).or_default().insert(client.id, client.push_tx.clone());
        }
        let kind = if pattern { "psubscribe" } else { "subscribe" };
        out.push(Frame::Push(vec![
            Frame::bulk(kind),
            Frame::Bulk(n),
            Frame::Integer((client.subs.len() + client.psubs.len()) as i64),
        ]));
    }
    if let Some(c) = st.clients.get_mut(&client.id) {
        c.sub = client.subs.len();
        c.psub = client.psubs.len();
    }
    out
}

fn unsubscribe(st: &mut State, client: &mut Client, names: &[&[u8]], pattern: bool) -> Vec<Frame> {
    let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
    let targets: Vec<Bytes> = if names.is_empty() {
        if pattern {
            client.psubs.clone()
        } else {
            client.subs.clone()
        }
    } else {
        names.iter().map(|n| Bytes::copy_from_slice(n)).collect()
    };
    let mut out = Vec::new();
    if targets.is_empty() {
        out.push(Frame::Push(vec![
            Frame::bulk(kind),
            Frame::Null,
            Frame::Integer((client.subs.len() + client.psubs.len()) as i64),
        ]));
    }
    for n in targets {
        let (list, map) = if pattern { (&mut client.psubs, &mut st.patterns) } else { (&mut client.subs, &mut st.channels) };
        list.retain(|x| x != &n);
        if let Some(m) = map.get_mut(&n) {
            m.remove(&client.id);
            if m.is_empty() {
                map.remove(&n);
            }
        }
        out.push(Frame::Push(vec![
            Frame::bulk(kind),
            Frame::Bulk(n),
            Frame::Integer((client.subs.len() + client.psubs.len()) as i64),
        ]));
    }
    if let Some(c) = st.clients.get_mut(&client.id) {
        c.sub = client.subs.len();
        c.psub = client.psubs.len();
    }
    out
}

/// SSUBSCRIBE: the count in each reply is the client's shard channels
/// only, as Redis 7.0's.
fn subscribe_shard(st: &mut State, client: &mut Client, names: &[&[u8]]) -> Vec<Frame> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let n = Bytes::copy_from_slice(n);
        if !client.ssubs.contains(&n) {
            client.ssubs.push(n.clone());
            st.shard_channels.entry(n.clone()).or_default().insert(client.id, client.push_tx.clone());
        }
        out.push(Frame::Push(vec![Frame::bulk("ssubscribe"), Frame::Bulk(n), Frame::Integer(client.ssubs.len() as i64)]));
    }
    if let Some(c) = st.clients.get_mut(&client.id) {
        c.ssub = client.ssubs.len();
    }
    out
}

/// SUNSUBSCRIBE [shardchannel ...]: without names, from every shard
/// channel (a nil channel when there was none, as Redis replies).
fn unsubscribe_shard(st: &mut State, client: &mut Client, names: &[&[u8]]) -> Vec<Frame> {
    let targets: Vec<Bytes> =
        if names.is_empty() { client.ssubs.clone() } else { names.iter().map(|n| Bytes::copy_from_slice(n)).collect() };
    let mut out = Vec::with_capacity(targets.len().max(1));
    if targets.is_empty() {
        out.push(Frame::Push(vec![Frame::bulk("sunsubscribe"), Frame::Null, Frame::Integer(client.ssubs.len() as i64)]));
    }
    for n in targets {
        client.ssubs.retain(|x| x != &n);
        if let Some(m) = st.shard_channels.get_mut(&n) {
            m.remove(&client.id);
            if m.is_empty() {
                st.shard_channels.remove(&n);
            }
        }
        out.push(Frame::Push(vec![Frame::bulk("sunsubscribe"), Frame::Bulk(n), Frame::Integer(client.ssubs.len() as i64)]));
    }
    if let Some(c) = st.clients.get_mut(&client.id) {
        c.ssub = client.ssubs.len();
    }
    out
}

/// PUBSUB HELP, as Redis 7.0 prints it.
const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub_cmd(st: &mut State, args: &[&[u8]]) -> Frame {
    let sub = args[1].to_ascii_lowercase();
    match &sub[..] {
        b"channels" => channel_list(&st.channels, args.get(2).copied()),
        b"numsub" => subscriber_counts(&st.channels, &args[2..]),
        b"numpat" => Frame::Integer(st.patterns.len() as i64),
        b"shardchannels" => channel_list(&st.shard_channels, args.get(2).copied()),
        b"shardnumsub" => subscriber_counts(&st.shard_channels, &args[2..]),
        b"help" => Frame::Array(PUBSUB_HELP.iter().map(|l| Frame::simple(*l)).collect()),
        _ => err(format!("ERR unknown subcommand '{}'. Try PUBSUB HELP.", lossy(&args[1]))),
    }
}

/// Channels (or shard channels) and their local subscribers.
type Subscribers = std::collections::HashMap<Bytes, std::collections::HashMap<ClientId, mpsc::Sender<Push>>>;

/// PUBSUB CHANNELS / SHARDCHANNELS: the channels of `map` with a local
/// subscriber, those matching `pattern` if given.
fn channel_list(map: &Subscribers, pattern: Option<&[u8]>) -> Frame {
    Frame::Array(
        map.keys()
            .filter(|c| pattern.is_none_or(|p| commands::glob_match(p, c, false)))
            .map(|c| Frame::Bulk(c.clone()))
            .collect(),
    )
}

/// PUBSUB NUMSUB / SHARDNUMSUB: each channel named and its local
/// subscriber count in `map`.
fn subscriber_counts(map: &Subscribers, names: &[&[u8]]) -> Frame {
    let mut v = Vec::with_capacity(2 * names.len());
    for c in names {
        v.push(Frame::Bulk(Bytes::copy_from_slice(c)));
        v.push(Frame::Integer(map.get(*c).map_or(0, |m| m.len()) as i64));
    }
    Frame::Array(v)
}

// ---- blocking commands -------------------------------------------------------

/// If `args` is a blocking command, its deadline (far future for 0 = forever).
fn blocking_deadline(args: &[&[u8]]) -> Option<Instant> {
    // Every blocking command starts with B or X: most commands leave here
    // without the lowercase copy below (an allocation per command).
    if !matches!(args[0].first(), Some(b'b' | b'B' | b'x' | b'X')) {
        return None;
    }
    let name = args[0].to_ascii_lowercase();
    let timeout_arg = match &name[..] {
        b"blpop" | b"brpop" | b"brpoplpush" | b"blmove" | b"bzpopmin" | b"bzpopmax" => args.last()?,
        b"blmpop" | b"bzmpop" => args.get(1)?,
        b"xread" | b"xreadgroup" => {
            // BLOCK <milliseconds>, before STREAMS.
            let at = args.iter().position(|a| a.eq_ignore_ascii_case(b"streams")).unwrap_or(args.len());
            let i = args[..at].iter().position(|a| a.eq_ignore_ascii_case(b"block"))?;
            let ms: u64 = std::str::from_utf8(args.get(i + 1)?).ok()?.parse().ok()?;
            let dur = if ms == 0 { Duration::from_secs(365 * 24 * 3600) } else { Duration::from_millis(ms) };
            return Some(Instant::now() + dur);
        }
        _ => return None,
    };
    let secs: f64 = std::str::from_utf8(timeout_arg).ok()?.parse().ok()?;
    if secs < 0.0 || !secs.is_finite() {
        return None; // the engine reports the error
    }
    let dur = if secs == 0.0 { Duration::from_secs(365 * 24 * 3600) } else { Duration::from_secs_f64(secs) };
    Some(Instant::now() + dur)
}

/// Tries a blocking command once. `None` = nothing to pop yet: block.
fn try_blocking(st: &mut State, client: &mut Client, args: &[&[u8]]) -> Option<Frame> {
    let now = now_ms();
    st.engine.resp3 = client.proto == Protocol::Resp3;
    match st.engine.execute_blocking(args, now) {
        engine::BlockResult::Reply(f) => Some(f),
        engine::BlockResult::WouldBlock => None,
    }
}

/// Waits until a write serves the blocked client (see `crate::blocked`),
/// or its timeout passes. `None` when the client disconnected or was
/// killed meanwhile.
async fn wait_blocking(
    shared: &Shared,
    client: &Client,
    socket: &mut TcpStream,
    mut served: oneshot::Receiver<Frame>,
    deadline: Instant,
    shutdown: &CancellationToken,
    // The connection's CLIENT KILL notification (CLIENT KILL wakes one waiter).
    mut killed: Pin<&mut Notified<'_>>,
) -> Option<Frame> {
    // Watch the socket only for the peer closing it; bytes it sends
    // meanwhile wait in the socket until the blocking command is answered.
    let mut watch_socket = true;
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    let gone = loop {
        let mut probe = [0u8; 1];
        tokio::select! {
            reply = &mut served => return reply.ok(),
            _ = &mut sleep => break false,
            _ = shutdown.cancelled() => break false,
            _ = killed.as_mut() => break true,
            peeked = socket.peek(&mut probe), if watch_socket => match peeked {
                Ok(0) | Err(_) => break true,
                Ok(_) => watch_socket = false,
            },
        }
    };
    // Leave the queues; if a write served the client meanwhile, its reply
    // is already in the channel and is not lost.
    let still_blocked = shared.lock().blocked.remove(client.id);
    if !still_blocked {
        if let Ok(reply) = served.try_recv() {
            return if gone { None } else { Some(reply) };
        }
    }
    // Redis 7.0 answers a timeout with a null array for every blocking
    // command (BLMOVE and BRPOPLPUSH too).
    if gone { None } else { Some(Frame::NullArray) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_commands_are_top_level_commands_of_the_table() {
        for name in SHARD_COMMANDS {
            let spec = commands::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} is not in the command table"));
            assert_eq!(spec.container_name(), *name);
        }
    }

    #[test]
    fn the_last_name_is_reused_only_for_the_same_spelling() {
        let mut last = LastName::default();
        fn args<'a>(v: &[&'a str]) -> Vec<&'a [u8]> {
            v.iter().map(|a| a.as_bytes()).collect()
        }
        let r = last.resolve(&args(&["SET", "k", "v"])).unwrap();
        assert_eq!((r.spec.name, r.engine, r.cheap), ("set", true, true));
        let r = last.resolve(&args(&["SET", "k", "v"])).unwrap();
        assert_eq!((r.spec.name, r.engine, r.cheap), ("set", true, true));
        let r = last.resolve(&args(&["keys", "*"])).unwrap();
        assert_eq!((r.spec.name, r.engine, r.cheap), ("keys", true, false));
        // Same name, wrong arity: the hit still checks the arguments.
        assert!(last.resolve(&args(&["SET", "k"])).unwrap_err().contains("wrong number of arguments"));
        let r = last.resolve(&args(&["config", "get", "port"])).unwrap();
        assert_eq!((r.spec.name, r.engine, r.cheap), ("config|get", false, false));
        let r = last.resolve(&args(&["ping"])).unwrap();
        assert_eq!((r.spec.name, r.engine, r.cheap), ("ping", false, true));
        assert!(last.resolve(&args(&["nosuchcommand"])).unwrap_err().starts_with("ERR unknown command"));
        // A name longer than the cache still resolves.
        let r = last.resolve(&args(&["GEORADIUSBYMEMBER_RO", "k", "m", "1", "km"])).unwrap();
        assert_eq!(r.spec.name, "georadiusbymember_ro");
    }
}

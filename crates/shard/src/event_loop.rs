//! The event loop: ordinary connections served the way Redis serves them.
//!
//! A thread of its own waits in an epoll set (mio) holding the listening
//! socket and every connection that only sends requests and reads the
//! replies. Each round reads once from every connection that has input,
//! takes the keyspace lock once, runs all their requests, releases the lock
//! and writes every reply; it waits in epoll only when no connection has
//! work left. A tokio task per connection cost a wake-up, a task poll, a
//! `select!` over its notifiers and a lock per read: at one request per
//! read (`redis-benchmark -P 1`) that was a sixth of the shard's CPU. (The
//! loop ran as a tokio task first, its epoll set nested in the runtime's:
//! the nesting cost a second epoll wait per round and a second wake-up
//! callback per packet.)
//!
//! The loop never waits inside a round. Every request runs in the round
//! that read it, in the order the clients' bytes arrived (a BLPOP sent
//! before another client's DEL blocks before the DEL runs). A connection
//! leaves the loop for a task of its own in the tokio runtime
//! (`conn::serve_task`, the same code with the same state) when it must
//! wait between requests (`conn::BatchEnd`: a blocking command found
//! nothing, it subscribed, it starts a replication or sync session), or
//! when its replies do not fit in its socket (a client that reads slowly
//! waits in its own task, not in the loop). The task gets the replies not
//! written yet, the request it blocked in and the input it has not run. It
//! does not come back: such connections are few and long-lived. The
//! runtime's thread runs everything else (timers, active expiry, sync and
//! replication) and takes the same keyspace lock.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use resp::{Frame, Limits, RequestBatch, RequestDecoder};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::conn::{self, BatchEnd, Blocked, Carried, Client};
use crate::state::{Push, Shared, State};

const LISTENER: Token = Token(0);
/// What CLIENT KILL and shutdown wake the loop with.
const WAKER: Token = Token(1);
/// Slot `i` of the connections is token `i + FIRST_CONN`.
const FIRST_CONN: usize = 2;
/// At most this much is read from one connection per round: a client
/// sending a large pipeline or value gets a share of each round, not all
/// of it.
const READ_CHUNK: usize = 64 * 1024;
/// Connections accepted per round.
const ACCEPTS_PER_ROUND: usize = 64;
/// After an accept error (out of file descriptors, ...), accepting
/// resumes this much later.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);
/// A reply buffer that grew past this is given back after its round.
const WBUF_KEEP_MAX: usize = 1 << 20;

/// A connection of the loop.
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    client: Client,
    /// Kept for a hand-off: a connection gets messages only once it
    /// subscribed, and SUBSCRIBE hands it off first.
    push_rx: mpsc::Receiver<Push>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: RequestDecoder,
    /// This round's requests (borrowing `rbuf`'s memory).
    batch: RequestBatch,
    /// The socket may hold bytes the last read did not take (edge-triggered
    /// readiness: no new event comes for them).
    readable: bool,
    /// Decoding stopped right after AUTH or HELLO (they change how the rest
    /// parses): decode the rest next round, without reading first.
    more_input: bool,
    /// In the next round's list already.
    queued: bool,
    /// A protocol error: answered after this round's replies, then closed.
    fatal: Option<Frame>,
    fate: Fate,
    /// For a connection moving to a task of its own: the first request of
    /// `batch` it has not run, and the request it blocked in.
    resume_at: usize,
    blocked: Option<Blocked>,
}

/// What becomes of a connection at the end of a round.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Stay,
    Close,
    /// To a task of its own (`conn::serve_task`).
    OwnTask,
}

struct EventLoop {
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    registry: mio::Registry,
    listener: TcpListener,
    listener_ready: bool,
    accept_paused_until: Option<Instant>,
    /// Slot `i` is the connection of token `i + FIRST_CONN`.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// The connections with work for the next round, and the current one's.
    next: Vec<usize>,
    round: Vec<usize>,
    /// The connections to close or hand off at the end of the round.
    leaving: Vec<usize>,
    /// The `ClientInfo::kill` of every connection of the loop, which is
    /// woken through `State::loop_waker` instead.
    kill: Arc<Notify>,
    /// `State::kills` when the loop last looked for killed connections.
    kills_seen: u64,
    scratch: Box<[u8]>,
    limits: Limits,
    /// Argument views' allocation, reused (see `resp::recycle_views`).
    views: Vec<&'static [u8]>,
}

/// Serves the connections of `listener` on a thread of its own until
/// `shutdown` is cancelled, and returns when that thread ends. Connections
/// handed to tasks of their own are spawned on `tracker`, in this runtime.
pub(crate) async fn run(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let mut listener = TcpListener::from_std(listener);
    registry.register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Arc::new(mio::Waker::new(&registry, WAKER)?);
    // CLIENT KILL of a loop connection and shutdown wake the thread.
    shared.lock().loop_waker = Some(waker.clone());
    {
        let shutdown = shutdown.clone();
        let waker = waker.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = waker.wake();
        });
    }
    let mut lp = EventLoop {
        shared,
        shutdown,
        tracker,
        registry,
        listener,
        listener_ready: true,
        accept_paused_until: None,
        conns: Vec::new(),
        free: Vec::new(),
        next: Vec::new(),
        round: Vec::new(),
        leaving: Vec::new(),
        kill: Arc::new(Notify::new()),
        kills_seen: 0,
        scratch: vec![0u8; READ_CHUNK].into_boxed_slice(),
        limits: Limits::default(),
        views: Vec::new(),
    };
    let runtime = tokio::runtime::Handle::current();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("concord-loop".into()).spawn(move || {
        // Hand-offs create tokio sockets and spawn tasks: in this runtime.
        let _runtime = runtime.enter();
        let result = lp.run(poll);
        lp.close_all();
        let _ = done_tx.send(result);
    })?;
    done_rx.await.unwrap_or_else(|_| Err(io::Error::other("the event loop thread panicked")))
}

impl EventLoop {
    /// Rounds until shutdown: waits in epoll only when no connection has
    /// work left from the last round.
    fn run(&mut self, mut poll: Poll) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.shutdown.is_cancelled() {
            let timeout = if self.has_work() {
                Some(Duration::ZERO)
            } else {
                // (None: until an event or the waker.)
                self.accept_paused_until.map(|at| at.saturating_duration_since(Instant::now()))
            };
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.accept_paused_until.is_some_and(|at| at <= Instant::now()) {
                self.accept_paused_until = None;
            }
            let mut woken = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.listener_ready = true,
                    WAKER => woken = true,
                    Token(t) => {
                        if let Some(Some(c)) = self.conns.get_mut(t - FIRST_CONN) {
                            c.readable = true;
                            if !c.queued {
                                c.queued = true;
                                self.next.push(t - FIRST_CONN);
                            }
                        }
                    }
                }
            }
            if woken {
                // A CLIENT KILL (or the shutdown, checked above).
                let shared = self.shared.clone();
                let st = shared.lock();
                self.kills_seen = st.kills;
                reap_killed(&mut self.conns, &st, &mut self.leaving);
                drop(st);
                if !self.leaving.is_empty() {
                    self.settle();
                }
            }
            if self.has_work() {
                self.run_round();
            }
        }
        Ok(())
    }

    fn has_work(&self) -> bool {
        !self.next.is_empty() || (self.listener_ready && self.accept_paused_until.is_none())
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_ROUND {
            match self.listener.accept() {
                Ok((stream, peer)) => self.add(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.listener_ready = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors, say: pending connections
                    // wait in the listen queue meanwhile.
                    tracing::warn!("accept failed: {e}");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
        // More may be waiting: `listener_ready` stays set.
    }

    fn add(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let laddr = stream.local_addr().unwrap_or(self.shared.local);
        let Some((client, push_rx)) = conn::register(&self.shared, peer, laddr, self.kill.clone()) else {
            let _ = stream.write(conn::MAXCLIENTS_ERROR);
            return;
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) = self.registry.register(&mut stream, Token(slot + FIRST_CONN), Interest::READABLE) {
            tracing::warn!("cannot watch a new connection: {e}");
            let mut client = client;
            conn::cleanup(&mut self.shared.lock(), &mut client);
            self.free.push(slot);
            return;
        }
        // Not read now: bytes already there show as an event of the next
        // poll, where the registration put it in line with the other
        // connections' events. (Read at once, a new client's request could
        // run before an earlier one another client sent meanwhile.)
        self.conns[slot] = Some(Conn {
            stream,
            peer,
            client,
            push_rx,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            decoder: RequestDecoder::default(),
            batch: RequestBatch::default(),
            readable: false,
            more_input: false,
            queued: false,
            fatal: None,
            fate: Fate::Stay,
            resume_at: 0,
            blocked: None,
        });
    }

    /// One round: accept, read and decode, run every batch under one lock,
    /// write every reply, then close or hand off what must go.
    fn run_round(&mut self) {
        if self.listener_ready && self.accept_paused_until.is_none() {
            self.accept();
        }
        std::mem::swap(&mut self.round, &mut self.next);
        self.next.clear();
        let mut input = 0u64;
        let mut batches = false;
        // (A connection closed since it was queued is skipped.)
        self.round.retain(|&slot| self.conns[slot].is_some());
        for &slot in &self.round {
            let c = self.conns[slot].as_mut().expect("kept: open");
            c.queued = false;
            input += read_and_decode(c, &mut self.scratch, &self.limits) as u64;
            batches |= c.fate == Fate::Stay && !c.batch.is_empty();
        }
        {
            let shared = &*self.shared;
            let mut st = shared.lock();
            st.stats.total_net_input_bytes += input;
            if batches {
                // One clock read for the whole round.
                conn::start_run(&mut st);
                for &slot in &self.round {
                    let c = self.conns[slot].as_mut().expect("open");
                    if c.fate != Fate::Stay || c.batch.is_empty() {
                        continue;
                    }
                    let mut views = resp::recycle_views(std::mem::take(&mut self.views));
                    let end = conn::run_batch(shared, &mut st, &mut c.client, &c.batch, &mut views, &mut c.wbuf);
                    self.views = resp::recycle_views(views);
                    if let BatchEnd::OwnTask { next, blocked } = end {
                        // Its task decodes the rest again (a protocol
                        // error too) and answers it after the replies so far.
                        c.fate = Fate::OwnTask;
                        c.fatal = None;
                        c.resume_at = next;
                        c.blocked = blocked;
                    }
                }
                conn::end_run(shared, &mut st);
            }
            if st.kills != self.kills_seen {
                self.kills_seen = st.kills;
                reap_killed(&mut self.conns, &st, &mut self.leaving);
            }
        }
        for i in 0..self.round.len() {
            let slot = self.round[i];
            let c = self.conns[slot].as_mut().expect("open");
            if c.fate == Fate::Stay {
                // Before the next read: the batch shares the read buffer.
                c.batch.clear();
                write_replies(c);
            }
            match c.fate {
                Fate::Stay => {
                    if c.readable || (c.more_input && !c.rbuf.is_empty()) {
                        c.queued = true;
                        self.next.push(slot);
                    }
                }
                // (A killed one is in the list already.)
                Fate::Close | Fate::OwnTask => {
                    if !self.leaving.contains(&slot) {
                        self.leaving.push(slot);
                    }
                }
            }
        }
        if !self.leaving.is_empty() {
            self.settle();
        }
    }

    /// Closes the connections of `leaving` marked `Close` and hands those
    /// marked `OwnTask` to tasks of their own.
    fn settle(&mut self) {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        for slot in std::mem::take(&mut self.leaving) {
            let Some(mut c) = self.conns[slot].take() else { continue };
            self.free.push(slot);
            let _ = self.registry.deregister(&mut c.stream);
            if c.fate == Fate::OwnTask {
                if let Err(c) = self.hand_off(&mut st, c) {
                    let mut c = *c;
                    conn::cleanup(&mut st, &mut c.client);
                }
            } else {
                conn::cleanup(&mut st, &mut c.client);
            }
        }
    }

    /// Moves a connection to a task of its own; gives it back if it was
    /// killed or its socket cannot move.
    fn hand_off(&mut self, st: &mut State, c: Conn) -> Result<(), Box<Conn>> {
        let Some(info) = st.clients.get_mut(&c.client.id).filter(|info| !info.killed) else {
            return Err(Box::new(c));
        };
        let kill = Arc::new(Notify::new());
        info.kill = kill.clone();
        let Conn { stream, peer, client, push_rx, rbuf, wbuf, batch, resume_at, blocked, .. } = c;
        let socket = match tokio::net::TcpStream::from_std(std::net::TcpStream::from(OwnedFd::from(stream))) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!("cannot move a connection to its own task: {e}");
                let mut client = client;
                conn::cleanup(st, &mut client);
                return Ok(());
            }
        };
        // The requests it has not run yet (after the one it blocked in),
        // as the client sent them, then what it has not decoded yet.
        let mut input = BytesMut::with_capacity(rbuf.len() + 64 * batch.len());
        for request in batch.iter().skip(resume_at) {
            encode_request(request, &mut input);
        }
        input.extend_from_slice(&rbuf);
        let carried = Carried { client, push_rx, rbuf: input, wbuf, blocked };
        self.tracker.spawn(conn::serve_task(self.shared.clone(), socket, peer, self.shutdown.clone(), kill, carried));
        Ok(())
    }

    /// Closes every connection (shutdown).
    fn close_all(&mut self) {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        for c in self.conns.iter_mut().filter_map(Option::take) {
            let mut c = c;
            let _ = self.registry.deregister(&mut c.stream);
            conn::cleanup(&mut st, &mut c.client);
        }
        self.free.clear();
        self.conns.clear();
    }
}

/// Marks the connections CLIENT KILL killed for closing (their replies
/// are not written) and adds them to `leaving`.
fn reap_killed(conns: &mut [Option<Conn>], st: &State, leaving: &mut Vec<usize>) {
    for (slot, c) in conns.iter_mut().enumerate() {
        let Some(c) = c else { continue };
        if c.fate != Fate::Close && st.clients.get(&c.client.id).is_none_or(|info| info.killed) {
            c.fate = Fate::Close;
            leaving.push(slot);
        }
    }
}

/// Reads once (if the socket may have bytes) and decodes the complete
/// requests into the connection's batch; returns the bytes read. Sets the
/// connection's fate when it closed, sent bad input, or needs a task of
/// its own.
fn read_and_decode(c: &mut Conn, scratch: &mut [u8], limits: &Limits) -> usize {
    let mut got = 0;
    if c.readable {
        match c.stream.read(scratch) {
            Ok(0) => {
                c.fate = Fate::Close;
                return 0;
            }
            Ok(n) => {
                got = n;
                c.rbuf.extend_from_slice(&scratch[..n]);
                // A short read emptied the socket.
                c.readable = n == scratch.len();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.fate = Fate::Close;
                return 0;
            }
        }
    }
    c.batch.clear();
    c.more_input = false;
    if c.rbuf.is_empty() {
        return got;
    }
    let decoded = conn::decode_input(&mut c.decoder, &mut c.rbuf, limits, c.client.authed, &mut c.batch);
    c.fatal = decoded.fatal;
    c.more_input = decoded.stopped_at_auth;
    got
}

/// Writes what the connection's socket takes of its replies (and its
/// protocol error); what it does not take goes with the connection to a
/// task of its own, which waits for the client to read.
fn write_replies(c: &mut Conn) {
    if let Some(f) = c.fatal.take() {
        resp::encode(&f, c.client.proto, &mut c.wbuf);
        c.client.close_after_reply = true;
    }
    while !c.wbuf.is_empty() {
        match c.stream.write(&c.wbuf) {
            Ok(0) => {
                c.fate = Fate::Close;
                return;
            }
            Ok(n) => c.wbuf.advance(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.fate = if c.client.close_after_reply { Fate::Close } else { Fate::OwnTask };
                return;
            }
            Err(_) => {
                c.fate = Fate::Close;
                return;
            }
        }
    }
    if c.wbuf.capacity() > WBUF_KEEP_MAX {
        c.wbuf = BytesMut::new();
    }
    if c.client.close_after_reply {
        c.fate = Fate::Close;
    }
}

/// Appends one request in RESP's request form (an array of bulk strings).
fn encode_request<'a>(args: impl ExactSizeIterator<Item = &'a [u8]>, out: &mut BytesMut) {
    out.put_u8(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.put_u8(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_encoded_as_a_client_sends_it() {
        let mut out = BytesMut::new();
        let args: [&[u8]; 3] = [b"SET", b"k", b""];
        encode_request(args.iter().copied(), &mut out);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let mut decoder = RequestDecoder::default();
        let decoded = decoder.decode(&mut out, &Limits::default()).unwrap().unwrap();
        assert_eq!(decoded, vec![&b"SET"[..], b"k", b""]);
    }
}

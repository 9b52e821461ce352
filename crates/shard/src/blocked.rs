//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, BLMPOP, XREAD BLOCK
//! ...), served the way Redis serves them.
//!
//! - Clients blocked on a key wait in a queue per key, first come first
//!   served.
//! - A key is *ready* when a command (or a peer's effect) writes it while
//!   clients wait on it. Right after that command, before the next one of
//!   any client, the shard serves the ready keys: for each, the waiting
//!   clients in order, each running its command once more, against that
//!   key only. A client whose command still finds nothing keeps waiting.
//!   A served command that writes another waited-on key (BLMOVE's
//!   destination) makes that key ready in turn, so chains of BLMOVEs
//!   resolve within the one command that started them.
//! - A MULTI/EXEC block counts as one command: waiting clients see its
//!   final state, never its intermediate ones.
//! - A list or sorted-set command is served only from a key holding that
//!   type: a key overwritten with another type keeps its waiters blocked,
//!   as in Redis 7.0 (XREAD and XREADGROUP are retried whatever the
//!   change, so a deleted stream or group reaches them as an error).
//!
//! The served command's reply goes to its connection through a oneshot
//! channel; the connection writes it and counts the command. Everything
//! here runs under the shard's lock, so serving is atomic with the write
//! that made the key ready.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use crdt::Kind;
use resp::Frame;
use tokio::sync::oneshot;

use crate::state::{ClientId, State};

/// The type a blocking command pops from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    List,
    ZSet,
    /// XREAD / XREADGROUP: retried on any write of the key.
    Stream,
}

/// One blocked client.
struct Waiter {
    /// The command, as it will be run again (XREAD's `$` already pinned).
    args: Vec<Bytes>,
    /// The keys it waits on, in the command's order.
    keys: Vec<Bytes>,
    family: Family,
    resp3: bool,
    reply: oneshot::Sender<Frame>,
}

/// The blocked clients of a shard.
#[derive(Default)]
pub struct Blocked {
    by_key: HashMap<Bytes, VecDeque<ClientId>>,
    waiters: HashMap<ClientId, Waiter>,
    /// Keys written while clients wait on them, in the order they became
    /// ready; each at most once.
    ready: VecDeque<Bytes>,
}

/// How a waiter's blocking ended without being served by a write.
pub enum Unblock {
    /// The timeout reply (null array), as when the timeout passes.
    Timeout,
    /// CLIENT UNBLOCK id ERROR.
    Error,
}

impl Blocked {
    /// True when no client is blocked (the common case: one branch per
    /// command).
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// How many clients are blocked (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_blocked(&self, client: ClientId) -> bool {
        self.waiters.contains_key(&client)
    }

    /// Blocks `client` on the keys of `args`, a blocking command that just
    /// found nothing. Its reply arrives on the returned receiver.
    pub fn block(&mut self, client: ClientId, args: Vec<Bytes>, resp3: bool) -> oneshot::Receiver<Frame> {
        let (tx, rx) = oneshot::channel();
        let (family, keys) = waited_keys(&args);
        self.remove(client);
        for k in &keys {
            let q = self.by_key.entry(k.clone()).or_default();
            if !q.contains(&client) {
                q.push_back(client);
            }
        }
        self.waiters.insert(client, Waiter { args, keys, family, resp3, reply: tx });
        rx
    }

    /// Takes `client` out of every queue. False if it was not blocked (a
    /// reply may already be on its way).
    pub fn remove(&mut self, client: ClientId) -> bool {
        self.take(client).is_some()
    }

    fn take(&mut self, client: ClientId) -> Option<Waiter> {
        let w = self.waiters.remove(&client)?;
        for k in &w.keys {
            if let Some(q) = self.by_key.get_mut(k) {
                q.retain(|&c| c != client);
                if q.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        Some(w)
    }

    /// Ends `client`'s blocking with a reply of its own (CLIENT UNBLOCK).
    pub fn unblock(&mut self, client: ClientId, how: Unblock) -> bool {
        let Some(w) = self.take(client) else { return false };
        let frame = match how {
            Unblock::Timeout => Frame::NullArray,
            Unblock::Error => Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        };
        let _ = w.reply.send(frame);
        true
    }

    /// Notes that `key` was written: ready if somebody waits on it.
    pub fn touched(&mut self, key: &[u8]) {
        if self.by_key.contains_key(key) && !self.ready.iter().any(|k| k[..] == *key) {
            self.ready.push_back(Bytes::copy_from_slice(key));
        }
    }

    /// Every waited-on key becomes ready (a full-sync merge changed keys
    /// without saying which).
    pub fn all_touched(&mut self) {
        let keys: Vec<Bytes> = self.by_key.keys().cloned().collect();
        for k in keys {
            self.touched(&k);
        }
    }
}

/// The family of a blocking command and the keys it waits on.
fn waited_keys(args: &[Bytes]) -> (Family, Vec<Bytes>) {
    let name = args[0].to_ascii_lowercase();
    let n = args.len();
    match &name[..] {
        b"blpop" | b"brpop" => (Family::List, args[1..n - 1].to_vec()),
        b"bzpopmin" | b"bzpopmax" => (Family::ZSet, args[1..n - 1].to_vec()),
        b"blmove" | b"brpoplpush" => (Family::List, args[1..2].to_vec()),
        b"blmpop" | b"bzmpop" => {
            let family = if name[1] == b'l' { Family::List } else { Family::ZSet };
            (family, args[3..mpop_keys_end(args)].to_vec())
        }
        _ => {
            // XREAD / XREADGROUP: the first half of what follows STREAMS.
            let keys = match args.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) {
                Some(p) => {
                    let rest = &args[p + 1..];
                    rest[..rest.len() / 2].to_vec()
                }
                None => Vec::new(),
            };
            (Family::Stream, keys)
        }
    }
}

/// BLMPOP/BZMPOP (`name timeout numkeys key... options`): where the keys
/// end (the command already ran once, so `numkeys` parsed then).
fn mpop_keys_end(args: &[Bytes]) -> usize {
    let count = std::str::from_utf8(&args[2]).ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
    (3 + count).min(args.len())
}

/// The command a waiter runs when `key` is ready: list and sorted-set
/// commands pop from that key only (so the reply names it, as Redis's
/// does); the others run as they are.
fn args_for_key<'a>(args: &'a [Bytes], key: &'a [u8]) -> Vec<&'a [u8]> {
    let name = args[0].to_ascii_lowercase();
    let n = args.len();
    match &name[..] {
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => vec![&args[0], key, &args[n - 1]],
        b"blmpop" | b"bzmpop" => {
            let mut out: Vec<&[u8]> = vec![&args[0], &args[1], b"1", key];
            out.extend(args[mpop_keys_end(args)..].iter().map(|arg| &arg[..]));
            out
        }
        _ => args.iter().map(|arg| &arg[..]).collect(),
    }
}

impl State {
    /// Marks the keys written by the effects made since the last call (or
    /// since `after_writes` drained them) as ready.
    pub fn note_touched(&mut self) {
        let from = if self.touch_mark > self.engine.effects.len() { 0 } else { self.touch_mark };
        for e in &self.engine.effects[from..] {
            if let Some(k) = e.op.key() {
                self.blocked.touched(k);
            }
        }
        self.touch_mark = self.engine.effects.len();
    }

    /// Serves the ready keys (see the module docs). Called after every
    /// command while clients are blocked.
    pub fn serve_blocked(&mut self) {
        let resp3 = self.engine.resp3;
        let now = self.engine.now_ms();
        while let Some(key) = self.blocked.ready.pop_front() {
            let Some(queue) = self.blocked.by_key.get(&key) else { continue };
            let ids: Vec<ClientId> = queue.iter().copied().collect();
            for id in ids {
                let Some(w) = self.blocked.waiters.get(&id) else { continue };
                let kind = self.engine.db.get(&key).and_then(|e| e.kind());
                let fits = match w.family {
                    Family::List => kind == Some(Kind::List),
                    Family::ZSet => kind == Some(Kind::ZSet),
                    Family::Stream => true,
                };
                if !fits {
                    // Nothing this command could pop (a key of another
                    // type, or gone): it keeps waiting.
                    continue;
                }
                let args = args_for_key(&w.args, &key);
                self.engine.resp3 = w.resp3;
                self.touch_mark = self.engine.effects.len();
                match self.engine.execute_blocking(&args, now) {
                    engine::BlockResult::WouldBlock => {}
                    engine::BlockResult::Reply(frame) => {
                        if let Some(w) = self.blocked.take(id) {
                            // A receiver gone (its client left) loses nothing
                            // more than Redis would: the client closed.
                            let _ = w.reply.send(frame);
                        }
                        self.note_touched();
                    }
                }
            }
        }
        self.engine.resp3 = resp3;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect()
    }

    #[test]
    fn waited_keys_per_command() {
        assert_eq!(waited_keys(&args("BLPOP a b 0")), (Family::List, args("a b")));
        assert_eq!(waited_keys(&args("bzpopmax z 1.5")), (Family::ZSet, args("z")));
        assert_eq!(waited_keys(&args("BLMOVE src dst LEFT RIGHT 0")), (Family::List, args("src")));
        assert_eq!(waited_keys(&args("BLMPOP 0 2 a b LEFT COUNT 3")), (Family::List, args("a b")));
        assert_eq!(waited_keys(&args("BZMPOP 0 1 z MIN")), (Family::ZSet, args("z")));
        assert_eq!(
            waited_keys(&args("XREADGROUP GROUP g c BLOCK 0 STREAMS s1 s2 > >")),
            (Family::Stream, args("s1 s2"))
        );
    }

    #[test]
    fn a_ready_key_runs_the_command_on_that_key_only() {
        let k = Bytes::from_static(b"b");
        assert_eq!(args_for_key(&args("BLPOP a b 0"), &k), args("BLPOP b 0"));
        assert_eq!(args_for_key(&args("BLMPOP 0 2 a b RIGHT COUNT 3"), &k), args("BLMPOP 0 1 b RIGHT COUNT 3"));
        assert_eq!(args_for_key(&args("BLMOVE b c LEFT LEFT 0"), &k), args("BLMOVE b c LEFT LEFT 0"));
    }

    #[test]
    fn queues_are_first_come_first_served_and_forget_removed_clients() {
        let mut b = Blocked::default();
        let _r1 = b.block(1, args("BLPOP k 0"), false);
        let _r2 = b.block(2, args("BLPOP x k 0"), false);
        let _r3 = b.block(3, args("BLPOP k 0"), false);
        assert_eq!(b.by_key[&Bytes::from_static(b"k")], VecDeque::from(vec![1, 2, 3]));
        assert!(b.remove(2));
        assert!(!b.remove(2));
        assert_eq!(b.by_key[&Bytes::from_static(b"k")], VecDeque::from(vec![1, 3]));
        assert!(!b.by_key.contains_key(&Bytes::from_static(b"x")));
        b.touched(b"k");
        b.touched(b"k");
        b.touched(b"nobody-waits");
        assert_eq!(b.ready, VecDeque::from(vec![Bytes::from_static(b"k")]));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn client_unblock_sends_its_reply() {
        let mut b = Blocked::default();
        let mut rx = b.block(7, args("BLPOP k 0"), false);
        assert!(b.unblock(7, Unblock::Error));
        assert!(!b.unblock(7, Unblock::Timeout));
        assert_eq!(rx.try_recv().unwrap(), Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"));
        assert!(b.is_empty());
    }
}

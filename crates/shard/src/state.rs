//! Shared shard state: the engine, clients, pub/sub, WATCH bookkeeping.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use engine::Engine;
use resp::Frame;
use tokio::sync::{mpsc, Notify};

use crate::Config;

pub type ClientId = u64;

/// What the rest of the server sees of a client (CLIENT LIST, KILL).
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub id: ClientId,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub name: Option<Bytes>,
    pub created: Instant,
    /// The last command's full name (`client|list`); "NULL" before any.
    pub last_cmd: &'static str,
    pub resp: u8,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    pub multi: i64,
    pub no_evict: bool,
    pub kill: Arc<Notify>,
    pub killed: bool,
    /// When its last command ran (CLIENT LIST `idle`).
    pub last_active: Instant,
}

/// A message for a subscribed client.
#[derive(Debug)]
pub enum Push {
    Message { channel: Bytes, payload: Bytes },
    PMessage { pattern: Bytes, channel: Bytes, payload: Bytes },
    /// A shard channel's message (SPUBLISH).
    SMessage { channel: Bytes, payload: Bytes },
}

pub struct State {
    pub engine: Engine,
    /// CLIENT KILLs so far: the event loop, which notices a kill of one of
    /// its connections through this count, compares it with the last it saw.
    pub kills: u64,
    /// Wakes the event loop's thread (a CLIENT KILL of one of its
    /// connections).
    pub loop_waker: Option<Arc<mio::Waker>>,
    /// Where the next command's execution time starts: set when a
    /// connection takes the lock and at the end of every command, so a
    /// batch reads the clock once per command (INFO commandstats usec).
    pub cmd_mark: std::time::Instant,
    /// A wall-clock reading and the monotonic instant it was taken at,
    /// refreshed by `cron`: a batch derives the time of day from the one
    /// monotonic clock read it makes anyway (a clock read costs as much as
    /// a small command; see [`State::wall_ms`]).
    /// (Kept to the nanosecond: whole milliseconds truncated twice put
    /// the derived time up to 1 ms behind the real one, and a client that
    /// set a PXAT from its own clock read a PTTL 1 ms too long.)
    pub wall_base: (std::time::Instant, std::time::Duration),
    /// Commands flagged `fast` that ran since `cmd_mark` and whose time is
    /// not counted yet, as runs of one command: consecutive fast commands
    /// share one clock read, their time split evenly (a clock read costs
    /// as much as a small command). See [`State::count_fast_run`].
    pub fast_run: Vec<(&'static commands::CommandSpec, u32)>,
    /// Effects this shard's clients made since the last snapshot file (INFO
    /// `rdb_changes_since_last_save`): Concord's unit of change is the effect.
    pub changes_since_snapshot: u64,
    pub stream: crate::stream::Stream,
    pub clients: BTreeMap<ClientId, ClientInfo>,
    pub channels: HashMap<Bytes, HashMap<ClientId, mpsc::Sender<Push>>>,
    pub patterns: HashMap<Bytes, HashMap<ClientId, mpsc::Sender<Push>>>,
    /// Shard channels (SSUBSCRIBE): a namespace of their own, which
    /// patterns do not match (one shard holds every slot).
    pub shard_channels: HashMap<Bytes, HashMap<ClientId, mpsc::Sender<Push>>>,
    pub watched: HashMap<Bytes, HashSet<ClientId>>,
    pub dirty: HashSet<ClientId>,
    pub requirepass: Option<String>,
    /// CONFIG parameters as CONFIG GET reports them.
    pub params: BTreeMap<String, String>,
    pub stats: ServerStats,
    /// Clients waiting in a blocking command, per key.
    pub blocked: crate::blocked::Blocked,
    /// How many of `engine.effects` were looked at for blocked clients
    /// (see [`State::note_touched`]); reset when they are drained.
    pub touch_mark: usize,
    /// Active-Active sync bookkeeping.
    pub sync: crate::sync::SyncInfo,
    /// In-cluster replication: role, replicas, sync counters.
    pub repl: crate::replica::ReplState,
    /// SLOWLOG's entries and settings.
    pub slowlog: crate::slowlog::SlowLog,
}

#[derive(Debug, Default)]
pub struct ServerStats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub pubsub_messages: u64,
    /// Per command (keyed by the address of its static spec): INFO commandstats.
    pub commands: crdt::FastMap<usize, CommandStats>,
    /// Error replies per error code (the first word): INFO errorstats.
    pub errors: std::collections::BTreeMap<String, u64>,
    pub total_error_replies: u64,
}

/// One command's counters, as Redis's `cmdstat_<name>` line.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandStats {
    pub spec: Option<&'static commands::CommandSpec>,
    /// Executions (rejected ones not included).
    pub calls: u64,
    /// Execution time, summed in nanoseconds: most commands take less than
    /// a microsecond, and whole microseconds per call would round them to 0.
    pub nanos: u64,
    /// Refused before running (NOAUTH, READONLY, wrong context, ...).
    pub rejected_calls: u64,
    /// Ran and replied with an error.
    pub failed_calls: u64,
}

/// Redis keeps at most this many distinct error codes in INFO errorstats.
pub const ERROR_CODES_MAX: usize = 128;

impl ServerStats {
    pub fn command(&mut self, spec: &'static commands::CommandSpec) -> &mut CommandStats {
        let s = self.commands.entry(spec as *const commands::CommandSpec as usize).or_default();
        s.spec = Some(spec);
        s
    }

    /// Counts an error reply under its code (`ERR`, `WRONGTYPE`, ...).
    pub fn error_reply(&mut self, text: &[u8]) {
        self.total_error_replies += 1;
        let code = text.split(|&b| b == b' ').next().unwrap_or_default();
        let code = String::from_utf8_lossy(code);
        if let Some(n) = self.errors.get_mut(code.as_ref()) {
            *n += 1;
        } else if self.errors.len() < ERROR_CODES_MAX {
            self.errors.insert(code.into_owned(), 1);
        }
    }
}

pub struct Shared {
    pub state: Mutex<State>,
    pub config: Config,
    pub local: SocketAddr,
    pub started: Instant,
    pub next_client_id: AtomicU64,
    /// Woken after every batch that wrote something; blocked clients retry.
    pub keyspace_changed: Notify,
    pub run_id: String,
    /// Stops the server: cancelled by a signal (through `run`'s token) or
    /// by the SHUTDOWN command.
    pub stop: tokio_util::sync::CancellationToken,
    /// False after SHUTDOWN NOSAVE: no snapshot on the way out (the log
    /// alone restores the state; the snapshot only shortens the replay).
    pub snapshot_on_stop: std::sync::atomic::AtomicBool,
}

/// A monotonic instant and the time of day read right after it.
pub fn wall_clock_now() -> (Instant, std::time::Duration) {
    let at = Instant::now();
    (at, SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
}

/// The time of day (ms since the epoch) at `now`, from a base taken by
/// [`wall_clock_now`].
#[inline]
pub fn derived_wall_ms((at, since_epoch): (Instant, std::time::Duration), now: Instant) -> u64 {
    (since_epoch + now.saturating_duration_since(at)).as_millis() as u64
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Shared {
    pub fn new(config: Config, local: SocketAddr) -> anyhow::Result<Shared> {
        let seed = now_ms() ^ (std::process::id() as u64) << 32;
        let mut engine = Engine::new(config.engine.clone(), seed);
        engine.now_ms_set(now_ms());
        if !config.members.is_empty() {
            // Before the replay: the members' announcements in the log count.
            engine.db.set_members(&config.members);
        }
        let stream = crate::stream::Stream::open(&config.dir, config.stream.clone(), &mut engine, seed)?;
        let mut params = BTreeMap::new();
        for p in commands::config_params::all() {
            params.insert(p.name.to_string(), p.default.to_string());
        }
        params.insert("port".into(), config.port.to_string());
        params.insert("bind".into(), config.bind.clone());
        let dir = std::fs::canonicalize(&config.dir).unwrap_or_else(|_| config.dir.clone());
        params.insert("dir".into(), dir.display().to_string());
        params.insert("requirepass".into(), config.requirepass.clone().unwrap_or_default());
        params.insert("maxclients".into(), config.maxclients.to_string());
        params.insert("maxmemory".into(), config.engine.maxmemory.to_string());
        params.insert("maxmemory-policy".into(), config.engine.maxmemory_policy.name().into());
        params.insert("save".into(), String::new());
        params.insert("appendonly".into(), if config.stream.appendonly { "yes" } else { "no" }.into());
        params.insert("appendfsync".into(), config.stream.fsync.name().into());
        for (k, v) in &config.params {
            params.insert(k.clone(), v.clone());
        }
        let mut slowlog = crate::slowlog::SlowLog::default();
        for name in ["slowlog-log-slower-than", "slowlog-max-len"] {
            if let Some(v) = params.get(name) {
                slowlog.set_param(name, v);
            }
        }
        if let Some(v) = params.get("notify-keyspace-events") {
            engine.set_notify_flags(commands::config_params::notify_keyspace_flags(v).unwrap_or(0));
        }
        let run_id: String = {
            use rand::Rng;
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(seed);
            (0..40).map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)])).collect()
        };
        Ok(Shared {
            state: Mutex::new(State {
                engine,
                kills: 0,
                loop_waker: None,
                cmd_mark: std::time::Instant::now(),
                wall_base: wall_clock_now(),
                fast_run: Vec::new(),
                changes_since_snapshot: 0,
                stream,
                clients: BTreeMap::new(),
                channels: HashMap::new(),
                patterns: HashMap::new(),
                shard_channels: HashMap::new(),
                watched: HashMap::new(),
                dirty: HashSet::new(),
                requirepass: config.requirepass.clone(),
                params,
                stats: ServerStats::default(),
                blocked: crate::blocked::Blocked::default(),
                touch_mark: 0,
                sync: crate::sync::SyncInfo::default(),
                repl: crate::replica::ReplState::default(),
                slowlog,
            }),
            config,
            local,
            started: Instant::now(),
            next_client_id: AtomicU64::new(1),
            keyspace_changed: Notify::new(),
            run_id,
            stop: tokio_util::sync::CancellationToken::new(),
            snapshot_on_stop: std::sync::atomic::AtomicBool::new(true),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_id(&self) -> ClientId {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Periodic work (every 100 ms): active expiry, garbage collection,
    /// memory sampling.
    pub fn cron(&self) {
        let mut st = self.lock();
        let now = now_ms();
        st.wall_base = wall_clock_now();
        // A replica only applies its primary's effects (expiry included).
        if !st.repl.is_replica() {
            st.engine.expire_cycle(now, 200);
            crate::sync::announce(self, &mut st, now);
        }
        st.engine.db.gc();
        st.engine.used_memory = crate::info::allocated();
        st.after_writes();
        st.stream.tick(now);
        drop(st);
        self.keyspace_changed.notify_waiters();
    }
}

impl State {
    /// The time of day (ms since the epoch) at `now`, from the wall-clock
    /// reading `cron` took at most about 100 ms earlier: a step of the
    /// system clock shows within one cron period, as Redis's cached time
    /// shows it within one event-loop turn.
    #[inline]
    pub fn wall_ms(&self, now: Instant) -> u64 {
        derived_wall_ms(self.wall_base, now)
    }

    /// Counts the time since `cmd_mark` for the fast commands run since,
    /// split evenly among them, and moves the mark to `now`.
    pub fn count_fast_run(&mut self, now: std::time::Instant) {
        if !self.fast_run.is_empty() {
            let nanos = now.saturating_duration_since(self.cmd_mark).as_nanos() as u64;
            let calls: u64 = self.fast_run.iter().map(|&(_, n)| u64::from(n)).sum();
            for (spec, n) in std::mem::take(&mut self.fast_run) {
                self.stats.command(spec).nanos += nanos * u64::from(n) / calls;
            }
        }
        self.cmd_mark = now;
    }

    /// Marks WATCHers of every key the last commands wrote, and drops the
    /// drained effects (replication consumes them in a later stage).
    pub fn after_writes(&mut self) -> bool {
        if !self.engine.events.is_empty() {
            self.publish_events();
        }
        if self.engine.effects.is_empty() {
            return std::mem::take(&mut self.sync.remote_writes);
        }
        self.sync.remote_writes = false;
        let mut effects = std::mem::take(&mut self.engine.effects);
        self.touch_mark = 0;
        let now = self.engine.now_ms();
        if let Some(e) = effects.iter().rev().find(|e| !matches!(e.op, crdt::Op::Observed { .. })) {
            self.sync.last_data_seq = e.dot.seq;
        }
        // (A pub/sub message is no change of the data, as in Redis.)
        self.changes_since_snapshot += effects.iter().filter(|e| e.op.is_data()).count() as u64;
        self.stream.append(&effects, now);
        if !self.watched.is_empty() {
            for e in &effects {
                if let Some(k) = e.op.key() {
                    if let Some(ids) = self.watched.get(k) {
                        self.dirty.extend(ids.iter().copied());
                    }
                }
            }
        }
        // Hand the vector back for its capacity (it grew again every batch).
        effects.clear();
        if self.engine.effects.is_empty() && effects.capacity() <= 1024 {
            self.engine.effects = effects;
        }
        true
    }

    /// Publishes the keyspace events the engine recorded (it records them
    /// only for the classes notify-keyspace-events enables):
    /// `__keyspace@0__:<key>` gets the event name, `__keyevent@0__:<event>`
    /// the key, as Redis's notifyKeyspaceEvent does.
    pub fn publish_events(&mut self) {
        use engine::notify::{KEYEVENT, KEYSPACE};
        let flags = self.engine.notify_flags();
        for ev in std::mem::take(&mut self.engine.events) {
            let name = Bytes::from_static(ev.name.as_bytes());
            if flags & KEYSPACE != 0 {
                let channel = [&b"__keyspace@0__:"[..], &ev.key].concat();
                self.deliver(&Bytes::from(channel), &name);
            }
            if flags & KEYEVENT != 0 {
                let channel = [&b"__keyevent@0__:"[..], ev.name.as_bytes()].concat();
                self.deliver(&Bytes::from(channel), &ev.key);
            }
        }
    }

    /// PUBLISH / SPUBLISH (`sharded`) from a client of this shard: delivers
    /// the message to this shard's subscribers and returns how many got it
    /// (the reply counts local receivers only, as Redis Enterprise's). On
    /// an Active-Active primary the message is also committed as an effect
    /// (`crdt::Op::Publish`), so it travels with the stream and every other
    /// instance delivers it to its own subscribers (docs/sync.md, "Pub/Sub").
    /// Keyspace notifications never come here: they stay local.
    pub fn publish(&mut self, shared: &Shared, channel: Bytes, payload: Bytes, sharded: bool) -> i64 {
        let n = self.deliver_message(&channel, &payload, sharded);
        if !shared.config.members.is_empty() && !self.repl.is_replica() {
            self.engine.commit_message(&channel, &payload, sharded);
        }
        n
    }

    /// Delivers a message to this shard's subscribers only: channel and
    /// pattern subscribers, or shard channel subscribers when `sharded`.
    pub fn deliver_message(&mut self, channel: &Bytes, payload: &Bytes, sharded: bool) -> i64 {
        if sharded {
            self.deliver_sharded(channel, payload)
        } else {
            self.deliver(channel, payload)
        }
    }

    /// Delivers a shard channel's message (SPUBLISH) to its local subscribers.
    pub fn deliver_sharded(&mut self, channel: &Bytes, payload: &Bytes) -> i64 {
        let n = send_all(self.shard_channels.get(channel), || Push::SMessage { channel: channel.clone(), payload: payload.clone() });
        self.stats.pubsub_messages += 1;
        n
    }

    /// Delivers a message to the local subscribers of the channel and of
    /// the patterns matching it; returns the number of receivers.
    pub fn deliver(&mut self, channel: &Bytes, payload: &Bytes) -> i64 {
        let mut n = send_all(self.channels.get(channel), || Push::Message { channel: channel.clone(), payload: payload.clone() });
        for (pattern, subs) in &self.patterns {
            if commands::glob_match(pattern, channel, false) {
                n += send_all(Some(subs), || Push::PMessage {
                    pattern: pattern.clone(),
                    channel: channel.clone(),
                    payload: payload.clone(),
                });
            }
        }
        self.stats.pubsub_messages += 1;
        n
    }

    pub fn frame_ok() -> Frame {
        Frame::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived time of day never runs behind the system clock read
    /// before it (a PXAT set from a client's clock must not read back a
    /// PTTL longer than asked), even with the base taken 50 ms earlier.
    #[test]
    fn derived_wall_time_does_not_lag_the_system_clock() {
        let base = wall_clock_now();
        std::thread::sleep(std::time::Duration::from_millis(50));
        for _ in 0..10_000 {
            let before = now_ms();
            let derived = derived_wall_ms(base, Instant::now());
            assert!(derived >= before, "derived {derived} < system {before}");
        }
    }
}

/// Sends a push made by `push` to every subscriber in `subs`; returns how
/// many took it (a subscriber whose queue is full misses it).
fn send_all(subs: Option<&HashMap<ClientId, mpsc::Sender<Push>>>, push: impl Fn() -> Push) -> i64 {
    subs.map_or(0, |subs| subs.values().filter(|tx| tx.try_send(push()).is_ok()).count() as i64)
}

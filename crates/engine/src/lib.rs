//! The engine: Redis commands over a keyspace of CRDT values.
//!
//! `Engine::execute` runs one command: it reads the visible state, decides
//! the command's intent, and turns it into effects committed through
//! [`crdt::Db::commit`] — the same `apply` a remote effect goes through.
//! A failed command returns an error reply and changes nothing.
//! No sockets, no threads, no system clock: the caller passes `now_ms`.

mod access;
mod args;
mod bitops;
mod dump;
mod geo;
mod hash;
mod hll;
mod keys;
mod list;
mod memory;
mod set;
mod sort;
mod stream;
mod string;
mod zset;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use crdt::{Blob, Db, Effect, Entry, InstanceId, Kind, Op, Value};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use resp::Frame;

pub use args::Arg;
pub use stream::IdMode;

/// Redis's error texts used by the engine.
pub mod err {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NAN: &str = "ERR increment would produce NaN or Infinity";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
    pub const AA_FLUSH: &str =
        "ERR FLUSHALL and FLUSHDB are not allowed on an Active-Active database; flush through the management API (concord crdb flush)";
    pub fn invalid_expire(cmd: &str) -> String {
        format!("ERR invalid expire time in '{cmd}' command")
    }
}

/// Keyspace-notification classes: Redis's NOTIFY_* bits, as
/// notify-keyspace-events sets them (`commands::config_params` parses it).
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const NEW: u32 = 1 << 14;
}

/// A keyspace event a command caused (Redis's `notifyKeyspaceEvent`
/// arguments): the shard publishes it on `__keyspace@0__:<key>` and
/// `__keyevent@0__:<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub class: u32,
    pub name: &'static str,
    pub key: Bytes,
}

/// Settings the engine applies.
#[derive(Clone, Debug)]
pub struct Config {
    pub instance: InstanceId,
    /// An Active-Active database refuses client FLUSHALL/FLUSHDB.
    pub active_active: bool,
    /// 0 = no limit.
    pub maxmemory: u64,
    pub maxmemory_policy: Policy,
    pub maxmemory_samples: usize,
    /// lfu-log-factor: how slowly an LFU counter grows.
    pub lfu_log_factor: u32,
    /// lfu-decay-time: minutes per point an idle LFU counter loses (0: never).
    pub lfu_decay_time: u32,
    pub proto_max_bulk_len: usize,
    /// crdt-xadd-id-uniqueness-mode (Active-Active only; a standalone shard
    /// gives Redis's stream ids).
    pub xadd_id_mode: IdMode,
    /// stream-node-max-entries: the node size approximate trimming assumes
    /// (0: no limit by count).
    pub stream_node_max_entries: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            instance: InstanceId(1),
            active_active: false,
            maxmemory: 0,
            maxmemory_policy: Policy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            proto_max_bulk_len: 512 * 1024 * 1024,
            xadd_id_mode: IdMode::Strict,
            stream_node_max_entries: 100,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s.to_ascii_lowercase().as_str() {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }
}

/// Counters for INFO stats.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
}

type Dispatch = fn(&mut Engine, &str, &[&[u8]]) -> Option<Frame>;

/// The command families, tried in order for a name not seen before.
const FAMILIES: [Dispatch; 12] = [
    string::dispatch,
    keys::dispatch,
    hash::dispatch,
    set::dispatch,
    zset::dispatch,
    list::dispatch,
    hll::dispatch,
    bitops::dispatch,
    geo::dispatch,
    sort::dispatch,
    stream::dispatch,
    dump::dispatch,
];

pub struct Engine {
    /// Which family serves a command name (learned on first use).
    /// Which family took a name, keyed by the address of the name's text
    /// (static in the command table): a hash of one word per command.
    families: crdt::FastMap<usize, usize>,
    pub db: Db,
    pub config: Config,
    pub stats: Stats,
    /// Effects committed by the commands run since the caller last drained them.
    pub effects: Vec<Effect>,
    /// Keys with a deadline, by deadline (active expiry walks it).
    ttl_index: BTreeSet<(u64, Blob)>,
    ttl_of: HashMap<Blob, u64>,
    pub(crate) rng: SmallRng,
    pub(crate) now_ms: u64,
    /// Used memory as the caller measured it (allocator statistics), for maxmemory.
    pub used_memory: u64,
    /// True while running a command of a RESP3 client: the caller sets it
    /// before `execute`. Replies whose shape differs by protocol beyond what
    /// the encoder downgrades (ZRANGE WITHSCORES pairs, ZRANDMEMBER, ...) read it.
    pub resp3: bool,
    /// A replica of another shard: expired keys are only hidden, never
    /// deleted here (the primary's DEL effects arrive in its stream).
    pub replica: bool,
    /// The notify-keyspace-events classes to record; 0 (the default) when
    /// neither K nor E is set, so that no event is ever built.
    notify_flags: u32,
    /// Keyspace events of the commands run since the caller last drained
    /// them (empty unless notifications are enabled).
    pub events: Vec<Event>,
}

/// What a command needs from the keyspace for a key.
pub(crate) enum Access {
    Read,
    Write,
    /// A read that leaves the key's access clock alone (TYPE, EXISTS, TTL,
    /// OBJECT: see `access.rs`).
    Peek,
}

impl Engine {
    pub fn new(config: Config, seed: u64) -> Engine {
        let mut e = Engine {
            families: crdt::FastMap::default(),
            db: Db::new(config.instance),
            config,
            stats: Stats::default(),
            effects: Vec::new(),
            ttl_index: BTreeSet::new(),
            ttl_of: HashMap::new(),
            rng: SmallRng::seed_from_u64(seed),
            now_ms: 0,
            used_memory: 0,
            resp3: false,
            replica: false,
            notify_flags: 0,
            events: Vec::new(),
        };
        // Keys made before the first command (a log replayed at start)
        // count as accessed now.
        e.reset_access_clocks();
        e
    }

    /// Sets the keyspace-notification classes (notify-keyspace-events as
    /// flags). Nothing is recorded unless K or E is among them, as in Redis.
    pub fn set_notify_flags(&mut self, flags: u32) {
        self.notify_flags = if flags & (notify::KEYSPACE | notify::KEYEVENT) != 0 { flags } else { 0 };
    }

    pub fn notify_flags(&self) -> u32 {
        self.notify_flags
    }

    /// Records a keyspace event when its class is enabled; costs one test
    /// of a flag otherwise.
    #[inline]
    pub(crate) fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        if self.notify_flags & class != 0 {
            self.events.push(Event { class, name, key: Bytes::copy_from_slice(key) });
        }
    }

    /// A key the command deleted and wrote again (the STORE commands
    /// replace their destination that way) was overwritten, for Redis's
    /// setKey: it gets no "new" event if it existed before.
    pub(crate) fn overwritten(&mut self, key: &[u8], existed: bool) {
        if existed && self.notify_flags & notify::NEW != 0 {
            if let Some(i) = self.events.iter().rposition(|e| e.class == notify::NEW && e.key == key) {
                self.events.remove(i);
            }
        }
    }

    /// After a removal: a "del" event (class g) if it left the key empty,
    /// as Redis emits when a list, set, hash or sorted set loses its last
    /// element.
    pub(crate) fn notify_if_gone(&mut self, key: &[u8]) {
        if self.notify_flags & notify::GENERIC != 0 && self.db.get(key).is_none() {
            self.notify(notify::GENERIC, "del", key);
        }
    }

    /// Runs one keyspace command. `args[0]` is the command name; the caller
    /// has resolved it and checked its arity (`commands::resolve`). Returns
    /// `None` for commands the engine does not handle (connection commands).
    /// The arguments are borrowed (from the connection's read buffer): what a
    /// command keeps or replies with is copied.
    pub fn execute(&mut self, args: &[&[u8]], now_ms: u64) -> Option<Frame> {
        let name = args[0].to_ascii_lowercase();
        let spec = commands::lookup(&name)?;
        self.execute_spec(spec, args, now_ms)
    }

    /// Like [`Engine::execute`], for a caller that already resolved the
    /// command (the shard does, to check arity): no lookup, no allocation.
    pub fn execute_spec(&mut self, spec: &'static commands::CommandSpec, args: &[&[u8]], now_ms: u64) -> Option<Frame> {
        self.execute_named(spec, spec.container_name(), args, now_ms)
    }

    /// [`Engine::execute_spec`] for a caller that already has the spec's
    /// container name.
    pub fn execute_named(
        &mut self,
        spec: &'static commands::CommandSpec,
        name: &'static str,
        args: &[&[u8]],
        now_ms: u64,
    ) -> Option<Frame> {
        self.now_ms = now_ms.max(self.now_ms);
        if self.config.maxmemory != 0 && spec.has_flag("denyoom") {
            if let Some(reply) = self.refuse_oom() {
                return Some(reply);
            }
        }
        // Each family answers None for names it does not know; remember
        // which family took a name so later calls go straight there.
        if let Some(&family) = self.families.get(&(name.as_ptr() as usize)) {
            return FAMILIES[family](self, name, args);
        }
        for (i, dispatch) in FAMILIES.iter().enumerate() {
            if let Some(reply) = dispatch(self, name, args) {
                self.families.insert(name.as_ptr() as usize, i);
                return Some(reply);
            }
        }
        None
    }

    /// Applies an effect that came from another instance (or the stream
    /// being replayed). Returns false if it was a duplicate.
    pub fn apply_remote(&mut self, effect: &Effect) -> bool {
        let (applied, slot) = self.db.apply_slot(effect);
        if let Some(key) = effect.op.key() {
            self.reindex(key, slot);
        }
        applied == crdt::Applied::Changed
    }

    /// Merges another instance's state (a full sync from it) into the
    /// keyspace, and rebuilds the TTL index for the keys it touched.
    pub fn merge_remote(&mut self, other: &crdt::Db) {
        self.db.merge(other);
        // The merge may have removed keys too: rebuild the whole index.
        self.ttl_index.clear();
        self.ttl_of.clear();
        for (key, entry) in &self.db.entries {
            if let Some(at) = entry.value.as_ref().and(entry.expire_at()) {
                let key = Blob::from(&key[..]);
                self.ttl_index.insert((at, key.clone()));
                self.ttl_of.insert(key, at);
            }
        }
    }

    /// Replaces the keyspace with `db` (a replica's full sync, a snapshot
    /// loaded at start) and rebuilds the TTL index.
    pub fn load(&mut self, db: crdt::Db) {
        // The encoding limits are this instance's configuration.
        let hash_limits = self.db.hash_limits;
        self.db = db;
        self.db.hash_limits = hash_limits;
        if hash_limits != crdt::fields::Limits::default() {
            self.db.conform_hashes();
        }
        self.ttl_index.clear();
        self.ttl_of.clear();
        for (key, entry) in &self.db.entries {
            if let Some(at) = entry.value.as_ref().and(entry.expire_at()) {
                let key = Blob::from(&key[..]);
                self.ttl_index.insert((at, key.clone()));
                self.ttl_of.insert(key, at);
            }
        }
        // Snapshots do not carry access clocks: every key counts as
        // accessed at load time.
        self.reset_access_clocks();
    }

    /// Commits a local effect and keeps the TTL index current.
    pub(crate) fn commit(&mut self, op: Op) {
        // A "new" event (class n) for a key this write creates, as Redis's dbAdd.
        let was_absent = self.notify_flags & notify::NEW != 0 && op.key().is_some_and(|k| self.db.get(k).is_none());
        let (effect, slot) = self.db.commit_slot(op, self.now_ms);
        self.committed(effect, slot, was_absent);
    }

    /// Commits a pub/sub message (`crdt::Op::Publish`) for the other
    /// instances of an Active-Active database. It changes no key.
    pub fn commit_message(&mut self, channel: &[u8], message: &[u8], sharded: bool) {
        let op = Op::Publish { channel: channel.into(), message: message.into(), sharded };
        let effect = self.db.commit(op, self.now_ms);
        self.effects.push(effect);
    }

    /// SADD of one member ([`crdt::Db::commit_sadd`]: one lookup of the
    /// member for its context and the add). True if the member was new.
    pub(crate) fn commit_sadd(&mut self, key: &[u8], member: &[u8]) -> bool {
        let was_absent = self.notify_flags & notify::NEW != 0 && self.db.get(key).is_none();
        let (effect, slot, new) = self.db.commit_sadd(key, member, self.now_ms);
        self.committed(effect, slot, was_absent);
        new
    }

    /// After a local commit: the TTL index, the "new" event, the effect kept.
    #[inline(always)]
    fn committed(&mut self, effect: Effect, slot: crdt::Slot, was_absent: bool) {
        if let Some(key) = effect.op.key() {
            let visible = self.reindex(key, slot);
            if was_absent && visible {
                self.events.push(Event { class: notify::NEW, name: "new", key: Bytes::copy_from_slice(key) });
            }
        }
        self.effects.push(effect);
    }

    /// Keeps the deadline index in step with a key's TTL (allocates only
    /// when the key's deadline changed), finding the key's entry where the
    /// effect said it left it (`slot`) rather than looking it up again.
    /// Returns true when the key is visible.
    fn reindex(&mut self, key: &[u8], slot: crdt::Slot) -> bool {
        let entry = match slot {
            crdt::Slot::At(i) => {
                let (k, e) = self.db.entries.get_index(i).expect("the slot an effect returned");
                debug_assert_eq!(&k[..], key);
                Some(e)
            }
            crdt::Slot::Gone => None,
            crdt::Slot::Unknown => self.db.entries.get(key),
        };
        let Some(entry) = entry.filter(|e| e.value.is_some()) else {
            self.reindex_at(key, None);
            return false;
        };
        // (Most keys have no TTL: no side allocation to look into.)
        let at = if entry.ttl().is_empty() { None } else { entry.expire_at() };
        self.reindex_at(key, at);
        true
    }

    fn reindex_at(&mut self, key: &[u8], at: Option<u64>) {
        let old = if self.ttl_of.is_empty() { None } else { self.ttl_of.get(key).copied() };
        if old == at {
            return;
        }
        let key: Blob = key.into();
        if let Some(old) = old {
            self.ttl_index.remove(&(old, key.clone()));
            self.ttl_of.remove(&key);
        }
        if let Some(at) = at {
            self.ttl_index.insert((at, key.clone()));
            self.ttl_of.insert(key, at);
        }
    }

    /// Number of keys with a deadline.
    pub fn expires_count(&self) -> usize {
        self.ttl_of.len()
    }

    /// Looks a key up, expiring it first if its deadline passed. The owner of
    /// the winning TTL (and any instance about to write) expires it with a
    /// DEL effect; other instances only hide it.
    pub(crate) fn lookup(&mut self, key: &[u8], access: Access) -> Option<&Entry> {
        let i = self.lookup_index(key, access)?;
        Some(&self.db.entries[i])
    }

    /// [`Engine::lookup`], returning the position of the key's entry in
    /// `db.entries` (a command that then writes the key hands it on to
    /// `crdt::Db`, which need not look the key up again).
    pub(crate) fn lookup_index(&mut self, key: &[u8], access: Access) -> Option<usize> {
        // One lookup of the key (the positions below are found through it).
        let i = self.db.entries.get_index_of(key);
        let visible = i.filter(|&i| self.db.entries[i].value.is_some());
        let Some(i) = visible else {
            if i.is_some() && matches!(access, Access::Write) {
                // A TTL or hidden value left by a DEL that raced it must not be
                // inherited by the value about to be written.
                if let Some(ctx) = self.db.leftover_ctx(key) {
                    self.commit(Op::Del { key: key.into(), ctx });
                }
            }
            return None;
        };
        if !matches!(access, Access::Peek) {
            self.touch(i);
        }
        let entry = &self.db.entries[i];
        if entry.ttl().is_empty() {
            // No deadline (most keys): nothing to expire.
            return Some(i);
        }
        if let Some(at) = entry.expire_at() {
            if at <= self.now_ms {
                let owner = entry.ttl_winner().map(|t| t.dot.origin);
                let mine = owner == Some(self.config.instance) || matches!(access, Access::Write) || !self.config.active_active;
                if mine && !self.replica {
                    let ctx = entry.ctx();
                    self.commit(Op::Del { key: key.into(), ctx });
                    self.stats.expired_keys += 1;
                    self.notify(notify::EXPIRED, "expired", key);
                }
                return None;
            }
        }
        Some(i)
    }

    /// A read lookup that counts hits and misses.
    pub(crate) fn read(&mut self, key: &[u8]) -> Option<&Entry> {
        self.read_with(key, Access::Read)
    }

    /// [`Engine::read`] with the given access (`Peek`: not touching the key).
    pub(crate) fn read_with(&mut self, key: &[u8], access: Access) -> Option<&Entry> {
        let found = self.lookup(key, access).is_some();
        if found {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
            self.notify(notify::KEY_MISS, "keymiss", key);
        }
        self.db.get(key)
    }

    /// The visible value of a key if it has kind `kind`; Err(WRONGTYPE) if it
    /// holds another kind.
    pub(crate) fn typed(&mut self, key: &[u8], kind: Kind, access: Access) -> Result<Option<&Value>, Frame> {
        match self.lookup(key, access) {
            None => Ok(None),
            Some(e) => {
                let v = e.value.as_ref().expect("db.get returns visible entries");
                if v.kind() == kind {
                    Ok(Some(v))
                } else {
                    Err(Frame::error(err::WRONGTYPE))
                }
            }
        }
    }

    /// Active expiry: expires up to `limit` keys whose deadline passed and
    /// this instance owns. Returns how many it expired.
    pub fn expire_cycle(&mut self, now_ms: u64, limit: usize) -> usize {
        self.now_ms = now_ms.max(self.now_ms);
        let due: Vec<Blob> =
            self.ttl_index.iter().take_while(|(at, _)| *at <= self.now_ms).take(limit).map(|(_, k)| k.clone()).collect();
        let mut n = 0;
        for key in due {
            let owner = self.db.entries.get(&key[..]).and_then(|e| e.ttl_winner()).map(|t| t.dot.origin);
            if owner == Some(self.config.instance) || !self.config.active_active {
                if self.lookup(&key, Access::Write).is_none() {
                    n += 1;
                }
            } else {
                // Not ours to expire: hidden on read; drop it from the walk.
                if let Some(at) = self.ttl_of.remove(&key) {
                    self.ttl_index.remove(&(at, key));
                }
            }
        }
        n
    }

    /// Number of visible keys (DBSIZE).
    /// MEMORY USAGE: the estimated bytes of `key` and its value (see
    /// `memory.rs`), `samples` elements of an aggregate measured (0: all);
    /// None when the key does not exist.
    pub fn memory_usage(&mut self, key: &[u8], samples: usize) -> Option<usize> {
        let entry = self.lookup(key, Access::Peek)?;
        Some(memory::usage(key, entry, samples))
    }

    pub fn dbsize(&self) -> usize {
        self.db.entries.values().filter(|e| e.value.is_some()).count()
    }

    fn refuse_oom(&mut self) -> Option<Frame> {
        if self.config.maxmemory == 0 || self.used_memory <= self.config.maxmemory {
            return None;
        }
        if self.evict() {
            return None;
        }
        Some(Frame::error(err::OOM))
    }

    /// Evicts keys by the configured policy until under the limit. Returns
    /// true if memory is now under the limit. Memory is measured by the
    /// caller, so this evicts in batches and estimates.
    fn evict(&mut self) -> bool {
        if self.config.maxmemory_policy == Policy::NoEviction {
            return false;
        }
        use rand::Rng;
        let mut freed_estimate = 0u64;
        let need = self.used_memory - self.config.maxmemory;
        for _ in 0..64 {
            if freed_estimate >= need {
                break;
            }
            let n = self.db.entries.len();
            if n == 0 {
                return false;
            }
            let volatile = matches!(
                self.config.maxmemory_policy,
                Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl
            );
            let victim: Option<Blob> = match self.config.maxmemory_policy {
                Policy::VolatileTtl => self.ttl_index.iter().next().map(|(_, k)| k.clone()),
                Policy::AllKeysLru | Policy::AllKeysLfu | Policy::VolatileLru | Policy::VolatileLfu => {
                    self.sampled_victim(volatile).or_else(|| if volatile { self.random_volatile_key() } else { None })
                }
                _ if volatile => self.random_volatile_key(),
                _ => {
                    let i = self.rng.gen_range(0..n);
                    self.db.entries.get_index(i).map(|(k, _)| Blob::from(&k[..]))
                }
            };
            let Some(key) = victim else { return false };
            freed_estimate += 64 + key.len() as u64;
            if let Some(e) = self.db.entries.get(&key[..]) {
                let ctx = e.ctx();
                self.notify(notify::EVICTED, "evicted", &key);
                self.commit(Op::Del { key, ctx });
                self.stats.evicted_keys += 1;
            }
        }
        self.used_memory = self.used_memory.saturating_sub(freed_estimate);
        self.used_memory <= self.config.maxmemory
    }

    /// Redis's approximated LRU/LFU: of `maxmemory-samples` keys picked at
    /// random (only keys with a TTL if `volatile`), the one least recently
    /// (LRU) or least frequently (LFU) used. Tries a bounded number of
    /// positions; None if none qualified.
    fn sampled_victim(&mut self, volatile: bool) -> Option<Blob> {
        use rand::Rng;
        let n = self.db.entries.len();
        let want = self.config.maxmemory_samples.max(1);
        let mut best: Option<(u64, usize)> = None;
        let mut seen = 0;
        for _ in 0..want * 8 {
            if seen == want || n == 0 {
                break;
            }
            let i = self.rng.gen_range(0..n);
            let en = &self.db.entries[i];
            if en.value.is_none() || (volatile && en.expire_at().is_none()) {
                continue;
            }
            seen += 1;
            let score = self.eviction_score(i);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        best.and_then(|(_, i)| self.db.entries.get_index(i)).map(|(k, _)| Blob::from(&k[..]))
    }

    /// A random key with a TTL.
    fn random_volatile_key(&mut self) -> Option<Blob> {
        use rand::Rng;
        let len = self.ttl_of.len();
        if len == 0 {
            return None;
        }
        let skip = self.rng.gen_range(0..len);
        self.ttl_of.keys().nth(skip).cloned()
    }

    /// Removes every key (FLUSHALL on a standalone database) with DEL effects.
    pub(crate) fn flush(&mut self) {
        let keys: Vec<(Blob, crdt::VersionVector)> = self.db.entries.iter().map(|(k, e)| (Blob::from(&k[..]), e.ctx())).collect();
        for (key, ctx) in keys {
            self.commit(Op::Del { key, ctx });
        }
    }
}

// ---- reply helpers ----------------------------------------------------------

pub(crate) fn int(i: i64) -> Frame {
    Frame::Integer(i)
}

pub(crate) fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

pub(crate) fn error(s: &str) -> Frame {
    Frame::error(s.to_string())
}

/// The result of trying a blocking command once.
pub enum BlockResult {
    Reply(Frame),
    /// Nothing to serve yet: the caller waits for a write and tries again.
    WouldBlock,
}

impl Engine {
    /// The engine's notion of now (set by the caller once per batch).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Sets the engine's notion of now (monotonic: never moves back).
    pub fn now_ms_set(&mut self, now_ms: u64) {
        self.now_ms = now_ms.max(self.now_ms);
        let fresh = self.fresh_clock();
        self.db.entries.set_fresh_clock(fresh);
    }

    /// Before a blocked XREAD waits: replaces each `$` with the stream's
    /// current last id, so that retries read what arrives after the call.
    pub fn pin_stream_ids(&mut self, args: Vec<Bytes>) -> Vec<Bytes> {
        stream::pin_ids(self, args)
    }

    /// Tries a blocking command (BLPOP, BZPOPMIN, ...) without blocking: a
    /// timeout-shaped reply means there was nothing to serve.
    pub fn execute_blocking(&mut self, args: &[&[u8]], now_ms: u64) -> BlockResult {
        match self.execute(args, now_ms) {
            Some(Frame::NullArray) | Some(Frame::Null) => BlockResult::WouldBlock,
            Some(f) => BlockResult::Reply(f),
            None => BlockResult::Reply(Frame::error("ERR unknown command")),
        }
    }
}

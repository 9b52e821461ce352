//! Key access clocks: what OBJECT IDLETIME and OBJECT FREQ report and what
//! the LRU and LFU eviction policies compare, as Redis keeps them in the
//! 24-bit `lru` field of every object.
//!
//! Each key has a `u32` clock (`crdt::KeyMap::clock`, by position). Its
//! meaning follows `maxmemory-policy`, as in Redis:
//! - LRU (every policy but the LFU ones): the second of the last access.
//! - LFU: `minutes << 8 | counter`: the minute (mod 2^16) of the last
//!   decrement and an 8-bit logarithmic access counter. An access first
//!   decays the counter by one per `lfu-decay-time` minutes elapsed, then
//!   increments it with probability `1 / ((counter - 5) * lfu-log-factor + 1)`.
//!   A new key starts at 5, so a fresh key is not evicted at once.
//!
//! A command's lookup of its key touches it, except for the commands that
//! Redis looks up without touching (TYPE, EXISTS, TTL and its kin, OBJECT:
//! [`crate::Access::Peek`]). Switching between an LRU and an LFU policy
//! reinterprets the clocks, as in Redis: they adjust as keys are accessed.
//!
//! The clocks are local: they are not replicated (an instance's eviction
//! follows its own clients' accesses, as each Redis replica's does).

use rand::Rng;

use crate::{Engine, Policy};

/// The counter a new key starts with under LFU (Redis's LFU_INIT_VAL).
pub(crate) const LFU_INIT: u32 = 5;

impl Policy {
    pub(crate) fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }
}

/// The current minute, in the 16 bits an LFU clock keeps.
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// Minutes from `then` to `now`, both mod 2^16 (wrapping as Redis's do).
fn minutes_since(then: u32, now: u32) -> u32 {
    if now >= then {
        now - then
    } else {
        65_535 - then + now
    }
}

impl Engine {
    /// The clock a key created now starts with.
    pub(crate) fn fresh_clock(&self) -> u32 {
        if self.config.maxmemory_policy.is_lfu() {
            (lfu_minutes(self.now_ms) << 8) | LFU_INIT
        } else {
            (self.now_ms / 1000) as u32
        }
    }

    /// Sets every key's clock, and the clock of keys made from now on, to
    /// an access at the current wall-clock time (at start and after a
    /// snapshot is loaded: clocks are not persisted).
    pub(crate) fn reset_access_clocks(&mut self) {
        let wall_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let now = self.now_ms.max(wall_ms);
        let fresh = if self.config.maxmemory_policy.is_lfu() { (lfu_minutes(now) << 8) | LFU_INIT } else { (now / 1000) as u32 };
        self.db.entries.set_all_clocks(fresh);
        self.db.entries.set_fresh_clock(fresh);
    }

    /// Records an access to the key at position `i`.
    #[inline]
    pub(crate) fn touch(&mut self, i: usize) {
        let clock = if self.config.maxmemory_policy.is_lfu() {
            let counter = self.lfu_decayed(self.db.entries.clock(i));
            let counter = self.lfu_incremented(counter);
            (lfu_minutes(self.now_ms) << 8) | counter
        } else {
            (self.now_ms / 1000) as u32
        };
        self.db.entries.set_clock(i, clock);
    }

    /// Seconds since the key at `i` was last accessed (OBJECT IDLETIME; an
    /// LRU clock).
    pub(crate) fn idle_secs(&self, i: usize) -> u64 {
        (self.now_ms / 1000).saturating_sub(u64::from(self.db.entries.clock(i)))
    }

    /// The key's LFU counter after decay (OBJECT FREQ), without storing it.
    pub(crate) fn freq(&self, i: usize) -> u32 {
        self.lfu_decayed(self.db.entries.clock(i))
    }

    /// The counter of an LFU clock, decayed by the minutes elapsed since.
    fn lfu_decayed(&self, clock: u32) -> u32 {
        let counter = clock & 0xff;
        let periods = match self.config.lfu_decay_time {
            0 => 0,
            t => minutes_since(clock >> 8, lfu_minutes(self.now_ms)) / t,
        };
        counter.saturating_sub(periods)
    }

    /// Redis's LFULogIncr: the higher the counter, the less likely a hit
    /// raises it.
    fn lfu_incremented(&mut self, counter: u32) -> u32 {
        if counter >= 255 {
            return 255;
        }
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let p = 1.0 / (base * f64::from(self.config.lfu_log_factor) + 1.0);
        if self.rng.gen::<f64>() < p {
            counter + 1
        } else {
            counter
        }
    }

    /// How good a victim the key at `i` is under the current policy: the
    /// greater, the sooner it goes (idle seconds for LRU, 255 minus the
    /// counter for LFU).
    pub(crate) fn eviction_score(&self, i: usize) -> u64 {
        if self.config.maxmemory_policy.is_lfu() {
            255 - u64::from(self.freq(i).min(255))
        } else {
            self.idle_secs(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use resp::Frame;

    fn run(e: &mut Engine, now_ms: u64, cmd: &str) -> Frame {
        let args: Vec<&[u8]> = cmd.split(' ').map(|a| a.as_bytes()).collect();
        e.now_ms_set(now_ms);
        e.execute(&args, now_ms).expect("an engine command")
    }

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn idletime_counts_from_the_last_touching_access() {
        let mut e = Engine::new(Config::default(), 1);
        run(&mut e, T0, "SET k v");
        assert_eq!(run(&mut e, T0 + 3_500, "OBJECT IDLETIME k"), Frame::Integer(3));
        // TYPE, EXISTS, TTL and OBJECT do not touch the key ...
        for peek in ["TYPE k", "EXISTS k", "TTL k", "PTTL k", "EXPIRETIME k", "OBJECT ENCODING k"] {
            run(&mut e, T0 + 4_000, peek);
        }
        assert_eq!(run(&mut e, T0 + 5_000, "OBJECT IDLETIME k"), Frame::Integer(5));
        // ... GET and TOUCH do, and so does a write.
        run(&mut e, T0 + 6_000, "GET k");
        assert_eq!(run(&mut e, T0 + 8_000, "OBJECT IDLETIME k"), Frame::Integer(2));
        run(&mut e, T0 + 9_000, "TOUCH k");
        assert_eq!(run(&mut e, T0 + 9_000, "OBJECT IDLETIME k"), Frame::Integer(0));
        run(&mut e, T0 + 12_000, "APPEND k w");
        assert_eq!(run(&mut e, T0 + 13_000, "OBJECT IDLETIME k"), Frame::Integer(1));
    }

    #[test]
    fn lfu_counter_starts_at_5_grows_logarithmically_and_decays() {
        let mut e = Engine::new(Config { maxmemory_policy: Policy::AllKeysLfu, ..Config::default() }, 1);
        run(&mut e, T0, "SET k v");
        assert_eq!(run(&mut e, T0, "OBJECT FREQ k"), Frame::Integer(5));
        for _ in 0..1000 {
            run(&mut e, T0, "GET k");
        }
        // With log factor 10, about 1000 hits take the counter to the
        // low teens (Redis's table: 100 hits -> 10, 1000 -> 18 at factor 10
        // counting from 0); it must have grown, and far less than 1000.
        let Frame::Integer(f) = run(&mut e, T0, "OBJECT FREQ k") else { panic!() };
        assert!((10..=25).contains(&f), "freq after 1000 hits: {f}");
        // One point lost per minute (lfu-decay-time 1) without access.
        let Frame::Integer(later) = run(&mut e, T0 + 3 * 60_000, "OBJECT FREQ k") else { panic!() };
        assert_eq!(later, f - 3);
        // IDLETIME is not tracked under LFU, FREQ not under LRU (Redis's errors).
        assert!(matches!(run(&mut e, T0, "OBJECT IDLETIME k"), Frame::Error(_)));
        let mut lru = Engine::new(Config::default(), 1);
        run(&mut lru, T0, "SET k v");
        assert!(matches!(run(&mut lru, T0, "OBJECT FREQ k"), Frame::Error(_)));
    }

    /// 1000 keys written at T0; keys 0..500 read again 100 s later; then
    /// memory goes over the limit. Evicting by the policy must take the
    /// keys nobody read (a random pick would take half of each).
    fn evicted_after_reading_half(policy: Policy) -> (usize, usize) {
        let mut e = Engine::new(Config { maxmemory_policy: policy, maxmemory: 1 << 30, ..Config::default() }, 7);
        for i in 0..1000 {
            run(&mut e, T0, &format!("SET key:{i} v"));
        }
        for _ in 0..3 {
            for i in 0..500 {
                run(&mut e, T0 + 100_000, &format!("GET key:{i}"));
            }
        }
        // About 50 keys' worth over the limit (each is estimated at 64 + its
        // length; one eviction round takes at most 64 keys).
        e.used_memory = e.config.maxmemory + 50 * 70;
        run(&mut e, T0 + 101_000, "SET trigger v");
        let gone = |range: std::ops::Range<usize>, e: &mut Engine| {
            range.filter(|i| run(e, T0 + 101_000, &format!("EXISTS key:{i}")) == Frame::Integer(0)).count()
        };
        (gone(0..500, &mut e), gone(500..1000, &mut e))
    }

    #[test]
    fn lru_and_lfu_eviction_take_the_keys_not_used() {
        for policy in [Policy::AllKeysLru, Policy::AllKeysLfu] {
            let (read, unread) = evicted_after_reading_half(policy);
            assert!(unread >= 40, "{policy:?}: {unread} unread keys evicted ({read} read)");
            // 5 samples all from the read half: 1 in 32.
            assert!(read * 8 < unread, "{policy:?}: {read} read keys evicted, {unread} unread");
        }
        let (read, unread) = evicted_after_reading_half(Policy::AllKeysRandom);
        assert!(read * 3 > unread, "random eviction takes read keys too: {read} vs {unread}");
    }

    #[test]
    fn minutes_wrap_around_like_redis() {
        assert_eq!(minutes_since(10, 15), 5);
        assert_eq!(minutes_since(65_530, 4), 9);
    }
}

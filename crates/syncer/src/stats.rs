//! Counters of one peer link, shared between its task and the periodic log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What one peer link has done since the syncer started.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Bytes read from the peer's proxy, as they came over the wire.
    pub ingress_wire_bytes: AtomicU64,
    /// Bytes of snapshots and effect payloads after decompression.
    pub ingress_raw_bytes: AtomicU64,
    /// Effects received in `EFFECTS` frames.
    pub effects_received: AtomicU64,
    /// Effects the local shard applied (duplicates not counted).
    pub effects_applied: AtomicU64,
    /// `CRDT.APPLY` commands sent.
    pub applies: AtomicU64,
    /// Sessions that began with a full sync (`+FULLRESYNC`).
    pub full_syncs: AtomicU64,
    /// Sessions that began with a partial sync (`+CONTINUE`).
    pub partial_syncs: AtomicU64,
    /// Sessions that ended with an error.
    pub errors: AtomicU64,
    /// The last error, empty if none.
    pub last_error: Mutex<String>,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub ingress_wire_bytes: u64,
    pub ingress_raw_bytes: u64,
    pub effects_received: u64,
    pub effects_applied: u64,
    pub applies: u64,
    pub full_syncs: u64,
    pub partial_syncs: u64,
    pub errors: u64,
    pub last_error: String,
}

impl PeerStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set_error(&self, text: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = text.to_string();
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            ingress_wire_bytes: get(&self.ingress_wire_bytes),
            ingress_raw_bytes: get(&self.ingress_raw_bytes),
            effects_received: get(&self.effects_received),
            effects_applied: get(&self.effects_applied),
            applies: get(&self.applies),
            full_syncs: get(&self.full_syncs),
            partial_syncs: get(&self.partial_syncs),
            errors: get(&self.errors),
            last_error: self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

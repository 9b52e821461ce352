//! The syncer: pulls every other instance's stream through its proxy and
//! writes the effects into the local shard. See docs/sync.md.
//!
//! One task per peer ([`link`]); the peers are independent, so the syncer
//! starts and keeps working whichever peers are down. Each task reconnects
//! with backoff ([`backoff`]) on any error except the unrecoverable ones
//! ([`Fatal`]: authentication refused, incompatible protocol, not a member,
//! a peer with our id or not the instance we expected), which stop the whole
//! syncer. The pure protocol pieces are in [`wire`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub mod backoff;
mod conn;
mod link;
pub mod stats;
pub mod wire;

pub use stats::PeerStats;
pub use wire::{check_peers, parse_peer};

/// How often the per-peer counters are logged (when they changed).
const STATS_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Everything a syncer needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// This instance's id.
    pub instance: u16,
    /// The local primary shard.
    pub shard: SocketAddr,
    /// The database password (for the local shard and the peers' proxies).
    pub password: Option<String>,
    /// The other instances: (instance id, proxy address).
    pub peers: Vec<(u16, SocketAddr)>,
    /// Compression level of sync traffic, 0 (off) ..= 6.
    pub compression: u8,
}

/// Why a syncer stopped for good (the process exits with code 4).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

/// Runs until `shutdown` is cancelled (Ok) or an unrecoverable error (Err).
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Fatal> {
    check_peers(config.instance, &config.peers).map_err(Fatal)?;
    if config.compression > 6 {
        return Err(Fatal(format!("compression level {} is out of range (0 to 6)", config.compression)));
    }
    let config = Arc::new(config);
    let stop = shutdown.child_token();
    let mut tasks = JoinSet::new();
    let mut all_stats = Vec::new();
    for &(peer, addr) in &config.peers {
        let stats = Arc::new(PeerStats::default());
        all_stats.push((peer, stats.clone()));
        let link = link::Link::new(config.clone(), peer, addr, stats);
        tasks.spawn(link.run(stop.clone()));
    }
    info!(instance = config.instance, shard = %config.shard, peers = ?config.peers, "syncer started");
    let logger = tokio::spawn(log_stats(all_stats, stop.clone()));
    if config.peers.is_empty() {
        // Nothing to pull (a one-instance database): idle until stopped, so
        // a supervisor does not take the exit for a failure.
        stop.cancelled().await;
    }

    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = match joined {
            Ok(outcome) => outcome,
            Err(e) => Err(Fatal(format!("a peer task failed: {e}"))),
        };
        if let Err(fatal) = outcome {
            // One unrecoverable error stops the syncer: the others end too.
            if result.is_ok() {
                result = Err(fatal);
            }
            stop.cancel();
        }
    }
    stop.cancel();
    let _ = logger.await;
    result
}

/// Logs each peer's counters every [`STATS_LOG_INTERVAL`] if they changed
/// (beyond the bytes of the peer's idle `PING`s and position advances).
async fn log_stats(peers: Vec<(u16, Arc<PeerStats>)>, stop: CancellationToken) {
    let mut last: Vec<stats::Snapshot> = vec![Default::default(); peers.len()];
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(STATS_LOG_INTERVAL) => {}
        }
        for ((peer, stats), last) in peers.iter().zip(last.iter_mut()) {
            let now = stats.snapshot();
            let moved = now.effects_received != last.effects_received
                || now.full_syncs != last.full_syncs
                || now.partial_syncs != last.partial_syncs
                || now.errors != last.errors;
            if moved {
                info!(
                    peer,
                    ingress_wire_bytes = now.ingress_wire_bytes,
                    ingress_raw_bytes = now.ingress_raw_bytes,
                    effects_received = now.effects_received,
                    effects_applied = now.effects_applied,
                    applies = now.applies,
                    full_syncs = now.full_syncs,
                    partial_syncs = now.partial_syncs,
                    errors = now.errors,
                    last_error = %now.last_error,
                    "sync link"
                );
                *last = now;
            }
        }
    }
}

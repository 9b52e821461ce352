//! The shard: a Redis-compatible server around one [`engine::Engine`].
//!
//! Connection tasks read and parse requests, then run each batch of parsed
//! requests against the keyspace while holding its lock: the keyspace has
//! exactly one owner at a time and commands execute one after another, so
//! execution order is stream order. The lock is a std `Mutex` that is never
//! held across an `.await` (see ARCHITECTURE.md, "One owner per keyspace").

mod blocked;
mod conn;
mod event_loop;
mod info;
mod replica;
mod slowlog;
mod state;
pub mod stream;
mod sync;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use state::{Shared, State};
pub use stream::StreamConfig;

/// Everything a shard needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: String,
    pub port: u16,
    pub dir: PathBuf,
    pub requirepass: Option<String>,
    pub engine: engine::Config,
    pub maxclients: usize,
    /// Extra CONFIG parameters given on the command line or in the config file.
    pub params: Vec<(String, String)>,
    pub stream: StreamConfig,
    /// The instances of the Active-Active database (empty: standalone).
    pub members: Vec<crdt::InstanceId>,
    /// Start as a replica of this primary (`--replicaof HOST PORT`).
    pub replicaof: Option<(String, u16)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: "127.0.0.1".into(),
            port: 6379,
            dir: PathBuf::from("."),
            requirepass: None,
            engine: engine::Config::default(),
            maxclients: 10000,
            params: Vec::new(),
            stream: StreamConfig::default(),
            members: Vec::new(),
            replicaof: None,
        }
    }
}

/// Serves clients on `listener` until `shutdown` is cancelled, then stops
/// accepting, lets connections finish their current batch, and returns.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let local: SocketAddr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config, local)?);
    // One token stops everything: the caller's (signals) or SHUTDOWN's.
    let external = shutdown;
    let shutdown = shared.stop.clone();
    {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = external.cancelled() => stop.cancel(),
                _ = stop.cancelled() => {}
            }
        });
    }
    let tracker = TaskTracker::new();
    if let Some((host, port)) = shared.config.replicaof.clone() {
        crate::replica::start_replica_of(&mut shared.lock(), host, port);
    }
    tracker.spawn(crate::replica::manage(shared.clone(), shutdown.clone()));
    tracker.spawn(crate::replica::failover_loop(shared.clone(), shutdown.clone()));

    // Background work: active expiry, garbage collection, memory sampling.
    {
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        shared.cron();
                        crate::replica::snapshot_tick(&shared, false).await;
                    }
                }
            }
        });
    }

    tracing::info!(addr = %local, "shard ready to accept connections");
    // Connections are served by the event loop (and by tasks of their own
    // once they need one, see `event_loop`).
    let listener = listener.into_std()?;
    if let Err(e) = event_loop::run(shared.clone(), listener, shutdown.clone(), tracker.clone()).await {
        tracing::error!("the event loop failed: {e}");
        shutdown.cancel();
    }
    tracker.close();
    // Connections see the cancellation and close after their current batch.
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    if shared.snapshot_on_stop.load(std::sync::atomic::Ordering::Relaxed) {
        crate::replica::snapshot_tick(&shared, true).await;
    }
    shared.lock().stream.close();
    tracing::info!("shard stopped");
    Ok(())
}

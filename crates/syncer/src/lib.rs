//! The syncer: pulls every other instance's stream through its proxy and
//! writes the effects into the local shard. See docs/sync.md.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

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
    let _ = config;
    shutdown.cancelled().await;
    Ok(())
}

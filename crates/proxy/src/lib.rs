//! The proxy: the database endpoint. See docs/sync.md.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct Config {
    /// The primary shard every connection is forwarded to.
    pub shard: SocketAddr,
    pub maxclients: usize,
}

/// Serves `listener` until `shutdown` is cancelled.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let _ = (config, listener);
    shutdown.cancelled().await;
    Ok(())
}

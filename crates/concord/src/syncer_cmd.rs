//! `concord syncer`.

use std::net::SocketAddr;

#[derive(clap::Args)]
pub struct SyncerArgs {
    /// This instance's id.
    #[arg(long)]
    pub instance: u16,
    /// The local primary shard (HOST:PORT).
    #[arg(long)]
    pub shard: SocketAddr,
    /// The database password.
    #[arg(long)]
    pub password: Option<String>,
    /// Another instance: ID=HOST:PORT of its proxy (repeat for each).
    #[arg(long)]
    pub peer: Vec<String>,
    /// Compression level of sync traffic: 0 (off) to 6.
    #[arg(long, default_value_t = 3)]
    pub compression: u8,
}

pub fn run(args: SyncerArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("concord syncer: not implemented yet")
}

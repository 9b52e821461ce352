//! `concord proxy`.

use std::net::SocketAddr;

#[derive(clap::Args)]
pub struct ProxyArgs {
    #[arg(long)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The instance's primary shard (HOST:PORT).
    #[arg(long)]
    pub shard: SocketAddr,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("concord proxy: not implemented yet")
}

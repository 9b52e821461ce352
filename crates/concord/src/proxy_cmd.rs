//! `concord proxy`.

use std::net::SocketAddr;

use anyhow::Context;

#[derive(clap::Args)]
pub struct ProxyArgs {
    /// The endpoint's port: clients and the other instances' syncers connect here.
    #[arg(long)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// The instance's primary shard (HOST:PORT).
    #[arg(long)]
    pub shard: SocketAddr,
    /// Most client connections served at once; more are refused with
    /// `-ERR max number of clients reached`.
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: usize,
    /// Threads forwarding bytes: 1 serves every connection on one thread
    /// (the least CPU per request); more spread the work over more cores.
    // Measured on two cores shared with the shard and redis-benchmark
    // (-c 50 -P 16): 1.1-1.2M GETs/s through one thread, 0.65-0.9M through two.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let config = proxy::Config { shard: args.shard, maxclients: args.maxclients };
    if args.threads == 0 {
        anyhow::bail!("--threads must be at least 1");
    }
    let rt = crate::runtime(args.threads)?;
    rt.block_on(async move {
        let addr = format!("{}:{}", args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("bind {addr}"))?;
        proxy::run(config, listener, crate::cancel_on_signal()).await
    })
}

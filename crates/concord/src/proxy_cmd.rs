//! `concord proxy`.

use std::net::SocketAddr;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct ProxyArgs {
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
}

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let config = proxy::Config { shard: args.shard, maxclients: args.maxclients };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("start runtime")?;
    rt.block_on(async move {
        let addr = format!("{}:{}", args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("bind {addr}"))?;
        let shutdown = CancellationToken::new();
        let signal_token = shutdown.clone();
        tokio::spawn(async move {
            crate::wait_for_signal().await;
            tracing::info!("received shutdown signal");
            signal_token.cancel();
        });
        proxy::run(config, listener, shutdown).await
    })
}

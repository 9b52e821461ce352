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

/// The exit code of an unrecoverable error (docs/sync.md): the supervisor
/// stops the sync instead of restarting the syncer.
const EXIT_FATAL: i32 = 4;

pub fn run(args: SyncerArgs) -> anyhow::Result<()> {
    let peers = args
        .peer
        .iter()
        .map(|p| syncer::parse_peer(p))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)?;
    syncer::check_peers(args.instance, &peers).map_err(anyhow::Error::msg)?;
    if args.compression > 6 {
        anyhow::bail!("--compression {} is out of range (0 to 6)", args.compression);
    }
    let config = syncer::Config {
        instance: args.instance,
        shard: args.shard,
        password: args.password.filter(|p| !p.is_empty()),
        peers,
        compression: args.compression,
    };
    // One thread: the links mostly wait on sockets, and a single thread
    // avoids a cross-thread wake-up on every batch (replication lag).
    let rt = crate::runtime(1)?;
    let outcome = rt.block_on(async move { syncer::run(config, crate::cancel_on_signal()).await });
    match outcome {
        Ok(()) => Ok(()),
        Err(fatal) => {
            tracing::error!("syncer stopped: {fatal}");
            std::process::exit(EXIT_FATAL);
        }
    }
}

//! `concord`: the one binary. Each subcommand starts one service.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

mod proxy_cmd;
mod syncer_cmd;
mod up;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "concord", version, about = "Active-Active, geo-distributed, Redis-compatible database")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a shard: a Redis-compatible server over CRDT values.
    Shard(ShardArgs),
    /// Run a proxy: the database endpoint, forwarding to the instance's shard.
    Proxy(proxy_cmd::ProxyArgs),
    /// Run a syncer: pull the other instances' streams into the local shard.
    /// Exits with code 4 on an unrecoverable error.
    Syncer(syncer_cmd::SyncerArgs),
    /// Start a complete local Active-Active database on loopback.
    Up(up::UpArgs),
}

#[derive(clap::Args)]
struct ShardArgs {
    #[arg(long, default_value_t = 6379)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[arg(long)]
    requirepass: Option<String>,
    /// A Redis-style config file: one `name value` per line.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The instance id of this shard's instance (1..=N).
    #[arg(long, default_value_t = 1)]
    instance: u16,
    /// The instance ids of the Active-Active database this shard belongs to
    /// (comma separated, including its own). Without it the shard is a
    /// standalone database.
    #[arg(long, value_delimiter = ',')]
    members: Vec<u16>,
    #[arg(long)]
    maxmemory: Option<String>,
    #[arg(long)]
    maxmemory_policy: Option<String>,
    /// Keep the append-only log of the stream in DIR/stream (yes|no).
    #[arg(long)]
    appendonly: Option<String>,
    /// When the log is fsynced: always | everysec | no.
    #[arg(long)]
    appendfsync: Option<String>,
    /// Bytes of the stream kept for replicas' partial syncs: `auto` (1 MiB,
    /// Redis's default) or a memory value (64mb).
    #[arg(long, default_value = "auto")]
    repl_backlog_size: String,
    /// Bytes of the stream kept for remote instances' partial syncs: `auto`
    /// (with --members 1% of maxmemory, or of the machine's memory when
    /// unlimited, clamped to 1 MiB..250 MiB; none standalone) or a memory
    /// value. The one backlog keeps the larger of the two.
    #[arg(long, default_value = "auto")]
    crdt_repl_backlog_size: String,
    /// Threads of the runtime that runs timers, active expiry, sync and
    /// replication sessions and the connections that wait between requests
    /// (blocked clients, subscribers). Ordinary client connections are
    /// served by one event-loop thread besides, as in Redis.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Start as a replica of the shard at HOST PORT.
    #[arg(long, num_args = 2, value_names = ["HOST", "PORT"])]
    replicaof: Option<Vec<String>>,
    /// The password to give the primary (the `masterauth` parameter).
    #[arg(long)]
    masterauth: Option<String>,
    /// Take a snapshot (and drop the log segments it covers) every time the
    /// stream grew by this much: a memory value (64mb), or 0 for never.
    #[arg(long, default_value = "64mb")]
    snapshot_every: String,
    /// Largest log segment file (DIR/stream/stream-<offset>.log) before the
    /// log moves on to a new one; snapshots delete whole segments.
    #[arg(long, default_value = "64mb")]
    log_segment_size: String,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CONCORD_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Shard(args) => run_shard(args),
        Command::Proxy(args) => proxy_cmd::run(args),
        Command::Syncer(args) => syncer_cmd::run(args),
        Command::Up(args) => up::run(args),
    }
}

/// Parses a memory value as Redis does: 100, 1k, 1kb, 1m, 1mb, 1g, 1gb.
fn parse_memory(s: &str) -> anyhow::Result<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mult) = [("gb", 1u64 << 30), ("g", 1_000_000_000), ("mb", 1 << 20), ("m", 1_000_000), ("kb", 1 << 10), ("k", 1000), ("b", 1)]
        .iter()
        .find_map(|(suf, m)| lower.strip_suffix(suf).map(|d| (d.to_string(), *m)))
        .unwrap_or((lower.clone(), 1));
    let n: u64 = digits.parse().with_context(|| format!("invalid memory value '{s}'"))?;
    Ok(n * mult)
}

fn shard_config(args: ShardArgs) -> anyhow::Result<shard::Config> {
    let mut cfg = shard::Config {
        bind: args.bind,
        port: args.port,
        dir: args.dir,
        requirepass: args.requirepass,
        ..shard::Config::default()
    };
    cfg.engine.instance = crdt_instance(args.instance)?;
    if !args.members.is_empty() {
        if !args.members.contains(&args.instance) {
            bail!("--members {:?} does not include this shard's --instance {}", args.members, args.instance);
        }
        cfg.members = args.members.iter().map(|&m| crdt_instance(m)).collect::<anyhow::Result<_>>()?;
        cfg.engine.active_active = true;
    }
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).with_context(|| format!("read config file {}", path.display()))?;
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let name = name.to_ascii_lowercase();
            let value = value.trim().trim_matches('"').to_string();
            let Some(spec) = commands::config_params::find(&name) else {
                bail!("{}:{}: unknown configuration parameter '{name}'", path.display(), lineno + 1);
            };
            let value = commands::config_params::validate(spec, &value)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), lineno + 1))?;
            params.push((spec.name.to_string(), value));
        }
    }
    if let Some(m) = args.maxmemory {
        params.push(("maxmemory".into(), parse_memory(&m)?.to_string()));
    }
    if let Some(p) = args.maxmemory_policy {
        params.push(("maxmemory-policy".into(), p));
    }
    if let Some(v) = args.appendonly {
        params.push(("appendonly".into(), v));
    }
    if let Some(v) = args.appendfsync {
        params.push(("appendfsync".into(), v));
    }
    if let Some(v) = args.masterauth {
        params.push(("masterauth".into(), v));
    }
    cfg.stream.snapshot_every = parse_memory(&args.snapshot_every)?;
    cfg.stream.segment_bytes_max = parse_memory(&args.log_segment_size)?.max(4096);
    if let Some(v) = &args.replicaof {
        let port: u16 = v[1].parse().with_context(|| format!("invalid --replicaof port '{}'", v[1]))?;
        cfg.replicaof = Some((v[0].clone(), port));
        params.push(("replicaof".into(), format!("{} {}", v[0], port)));
    }
    let backlog_auto = args.repl_backlog_size.eq_ignore_ascii_case("auto");
    if !args.crdt_repl_backlog_size.eq_ignore_ascii_case("auto") {
        let bytes = parse_memory(&args.crdt_repl_backlog_size).context("invalid --crdt-repl-backlog-size (auto or a size)")?;
        params.push(("crdt-repl-backlog-size".into(), bytes.max(16 * 1024).to_string()));
    }
    if !backlog_auto {
        params.push(("repl-backlog-size".into(), parse_memory(&args.repl_backlog_size)?.to_string()));
    }
    for (name, value) in &params {
        match name.as_str() {
            "maxmemory" => cfg.engine.maxmemory = parse_memory(value)?,
            "maxmemory-policy" => {
                cfg.engine.maxmemory_policy =
                    engine::Policy::parse(value).with_context(|| format!("invalid maxmemory-policy '{value}'"))?
            }
            "requirepass" if !value.is_empty() => cfg.requirepass = Some(value.clone()),
            "port" => cfg.port = value.parse().context("invalid port")?,
            "bind" => cfg.bind = value.split_whitespace().next().unwrap_or("127.0.0.1").to_string(),
            "dir" => cfg.dir = PathBuf::from(value),
            "maxclients" => cfg.maxclients = value.parse().context("invalid maxclients")?,
            "appendonly" => {
                cfg.stream.appendonly = match value.as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => bail!("invalid appendonly '{value}' (yes or no)"),
                }
            }
            "repl-backlog-size" => cfg.stream.backlog_bytes = value.parse().context("invalid repl-backlog-size")?,
            "appendfsync" => {
                cfg.stream.fsync = replication::log::FsyncPolicy::parse(value)
                    .with_context(|| format!("invalid appendfsync '{value}' (always, everysec or no)"))?
            }
            _ => {}
        }
    }
    // `crdt-repl-backlog-size auto`: a standalone shard needs none (its
    // backlog serves only its replicas); an Active-Active shard sizes it to
    // ride out long cuts between instances without full syncs.
    cfg.stream.crdt_backlog_auto_bytes = if cfg.members.is_empty() {
        0
    } else {
        let limit = if cfg.engine.maxmemory > 0 { cfg.engine.maxmemory } else { physical_memory() };
        replication::backlog::auto_backlog_bytes(limit, 1)
    };
    let crdt_backlog = match params.iter().rev().find(|(n, _)| n == "crdt-repl-backlog-size") {
        Some((_, v)) if !v.eq_ignore_ascii_case("auto") => {
            parse_memory(v).context("invalid crdt-repl-backlog-size (auto or a size)")?.max(16 * 1024)
        }
        _ => cfg.stream.crdt_backlog_auto_bytes,
    };
    if backlog_auto && !params.iter().any(|(n, _)| n == "repl-backlog-size") {
        // Redis's default for the in-cluster part.
        cfg.stream.backlog_bytes = 1 << 20;
        params.push(("repl-backlog-size".into(), cfg.stream.backlog_bytes.to_string()));
    }
    // One backlog serves replicas and remote instances: the larger size.
    cfg.stream.backlog_bytes = cfg.stream.backlog_bytes.max(crdt_backlog);
    cfg.params = params;
    Ok(cfg)
}

/// The machine's memory in bytes (0 if unknown).
fn physical_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn crdt_instance(id: u16) -> anyhow::Result<crdt::InstanceId> {
    if id == 0 {
        bail!("--instance must be at least 1");
    }
    Ok(crdt::InstanceId(id))
}

fn run_shard(args: ShardArgs) -> anyhow::Result<()> {
    let threads = args.threads;
    let cfg = shard_config(args)?;
    std::fs::create_dir_all(&cfg.dir).with_context(|| format!("create data directory {}", cfg.dir.display()))?;
    // One runtime thread by default: the event loop serves the ordinary
    // connections on a thread of its own, and what the runtime runs is light.
    let rt = runtime(threads.max(1))?;
    rt.block_on(async move {
        let addr = format!("{}:{}", cfg.bind, cfg.port);
        let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("bind {addr}"))?;
        shard::run(cfg, listener, cancel_on_signal()).await
    })
}

/// A tokio runtime with `threads` workers (1: everything on the calling
/// thread).
pub(crate) fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
    .context("start runtime")
}

/// A token cancelled on SIGTERM or SIGINT (call inside the runtime).
pub(crate) fn cancel_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("received shutdown signal");
        token.cancel();
    });
    shutdown
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

//! The proxy: the database endpoint. See docs/sync.md.
//!
//! One shard per instance for now: every client connection gets its own TCP
//! connection to the shard, and the proxy copies bytes both ways without
//! looking at them (the clusters issue adds slot routing, which will parse
//! requests). Clients and remote syncers connect here alike.
//!
//! Per connection the proxy holds two fixed buffers of [`BUF_SIZE`] bytes,
//! one per direction, and at most `maxclients` connections are served; a
//! connection beyond that gets Redis's `max number of clients reached`
//! error and is closed. When the shard cannot be reached the client gets
//! `-ERR the database's shard is unreachable` and is closed: clients and
//! syncers retry. When either side closes, both are closed (a client that
//! only shut its write side still gets the replies already on their way).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Bytes buffered per direction of one connection.
pub const BUF_SIZE: usize = 16 * 1024;
/// How long connecting to the shard may take before the client is told the
/// shard is unreachable.
pub const SHARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a refused client (error reply, then close) may hold its task:
/// writing the error, then reading what the client had already sent so that
/// closing does not reset the connection before the error arrives.
const REFUSE_LINGER: Duration = Duration::from_millis(250);
/// How long the shard may take to close after the client shut its write side.
const HALF_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Reply to a connection beyond `maxclients` (Redis's text).
pub const ERR_MAX_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";
/// Reply when the shard does not accept the proxy's connection.
pub const ERR_SHARD_UNREACHABLE: &[u8] = b"-ERR the database's shard is unreachable\r\n";

#[derive(Clone, Debug)]
pub struct Config {
    /// The primary shard every connection is forwarded to.
    pub shard: SocketAddr,
    pub maxclients: usize,
}

impl Config {
    /// A proxy for `shard` with Redis's default `maxclients` (10000).
    pub fn new(shard: SocketAddr) -> Config {
        Config { shard, maxclients: 10_000 }
    }
}

/// Counters of one proxy (for logs and tests).
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub refused_maxclients: AtomicU64,
    pub shard_unreachable: AtomicU64,
}

/// Serves `listener` until `shutdown` is cancelled, then closes every
/// connection and returns once all of them are gone.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_stats(config, listener, shutdown, Arc::new(Stats::default())).await
}

/// [`run`], counting into `stats`.
pub async fn run_with_stats(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(config.maxclients));
    let tasks = TaskTracker::new();
    tracing::info!(shard = %config.shard, maxclients = config.maxclients, "proxy ready");
    loop {
        let (client, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let shard = config.shard;
                let shutdown = shutdown.clone();
                let stats = stats.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        result = serve(client, shard, &stats) => {
                            if let Err(error) = result {
                                tracing::debug!(%peer, %error, "connection ended");
                            }
                        }
                    }
                });
            }
            Err(_) => {
                stats.refused_maxclients.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, "refused a client: max number of clients reached");
                tasks.spawn(refuse(client, ERR_MAX_CLIENTS));
            }
        }
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    tracing::info!("proxy stopped");
    Ok(())
}

/// Forwards one client connection to the shard until either side closes.
async fn serve(mut client: TcpStream, shard: SocketAddr, stats: &Stats) -> io::Result<()> {
    let mut upstream = match tokio::time::timeout(SHARD_CONNECT_TIMEOUT, TcpStream::connect(shard)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            stats.shard_unreachable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%shard, %error, "shard unreachable");
            refuse(client, ERR_SHARD_UNREACHABLE).await;
            return Ok(());
        }
        Err(_) => {
            stats.shard_unreachable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%shard, "shard unreachable: connect timed out");
            refuse(client, ERR_SHARD_UNREACHABLE).await;
            return Ok(());
        }
    };
    upstream.set_nodelay(true)?;
    let (mut client_rd, mut client_wr) = client.split();
    let (mut shard_rd, mut shard_wr) = upstream.split();
    let mut up_buf = vec![0u8; BUF_SIZE];
    let mut down_buf = vec![0u8; BUF_SIZE];
    let up = pump(&mut client_rd, &mut shard_wr, &mut up_buf);
    let down = pump(&mut shard_rd, &mut client_wr, &mut down_buf);
    tokio::pin!(up, down);
    tokio::select! {
        // The shard closed (or failed): the client's connection ends with it.
        result = &mut down => result,
        // The client closed its side, and `pump` passed the EOF on to the
        // shard, which answers what it had and closes.
        result = &mut up => {
            result?;
            match tokio::time::timeout(HALF_CLOSE_GRACE, &mut down).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    }
}

/// Copies `from` to `to` until `from` ends, then shuts `to`'s write side.
async fn pump<R, W>(from: &mut R, to: &mut W, buf: &mut [u8]) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let n = from.read(buf).await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
    }
}

/// Sends `error` and closes, reading (and dropping) what the client sends
/// meanwhile so that the close does not reset the connection and lose the
/// error. Bounded in time.
async fn refuse(mut client: TcpStream, error: &'static [u8]) {
    let linger = async {
        client.write_all(error).await?;
        client.shutdown().await?;
        let mut sink = [0u8; 1024];
        while client.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = tokio::time::timeout(REFUSE_LINGER, linger).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start(config: Config) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run(config, listener, shutdown.clone()));
        (addr, shutdown, handle)
    }

    async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await.unwrap().unwrap();
        out
    }

    #[tokio::test]
    async fn a_client_that_shuts_its_write_side_still_gets_the_replies() {
        // A shard that answers only once its client finished sending.
        let shard = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shard_addr = shard.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = shard.accept().await.unwrap();
            let got = read_all(&mut conn).await;
            conn.write_all(&got).await.unwrap();
            conn.write_all(b"+DONE\r\n").await.unwrap();
        });
        let (addr, shutdown, handle) = start(Config::new(shard_addr)).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        let request: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        client.write_all(&request).await.unwrap();
        client.shutdown().await.unwrap();
        let reply = read_all(&mut client).await;
        assert_eq!(reply.len(), request.len() + 7);
        assert!(reply[..request.len()] == request[..] && reply.ends_with(b"+DONE\r\n"));
        shutdown.cancel();
        handle.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_shard_and_a_full_proxy_are_reported() {
        let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let (addr, shutdown, handle) = start(Config::new(gone_addr)).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
        assert_eq!(read_all(&mut client).await, ERR_SHARD_UNREACHABLE);
        shutdown.cancel();
        handle.await.unwrap().unwrap();

        // maxclients 1: the second client is refused while the first stays.
        let shard = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shard_addr = shard.local_addr().unwrap();
        tokio::spawn(async move {
            let (_conn, _) = shard.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let (addr, shutdown, handle) = start(Config { shard: shard_addr, maxclients: 1 }).await;
        let _first = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_all(&mut second).await, ERR_MAX_CLIENTS);
        // Stopping closes the connection still open, and returns.
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), handle).await.unwrap().unwrap().unwrap();
    }
}

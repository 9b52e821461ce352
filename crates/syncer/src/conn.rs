//! A RESP connection: a TCP stream, a bounded read buffer, frame decoding.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use resp::{Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::PeerStats;

/// How much is read from the socket at a time (at least).
const READ_CHUNK: usize = 64 * 1024;

pub(crate) struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    limits: Limits,
    /// Counts the bytes read, if set.
    ingress: Option<Arc<PeerStats>>,
}

impl Conn {
    pub(crate) async fn connect(addr: SocketAddr, timeout: Duration, limits: Limits) -> io::Result<Conn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out")))??;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: BytesMut::with_capacity(READ_CHUNK), limits, ingress: None })
    }

    pub(crate) fn count_ingress(&mut self, stats: Arc<PeerStats>) {
        self.ingress = Some(stats);
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Decodes the next frame if the buffer holds a whole one.
    pub(crate) fn try_frame(&mut self) -> io::Result<Option<Frame>> {
        // A newline where a frame would start is a keepalive (a peer sends
        // them while it captures a full sync's snapshot); no RESP frame
        // starts with one.
        let newlines = self.buf.iter().take_while(|&&b| b == b'\n').count();
        if newlines > 0 {
            let _ = self.buf.split_to(newlines);
        }
        resp::decode_frame(&mut self.buf, &self.limits)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("protocol error: {e}")))
    }

    /// Reads more bytes into the buffer; the end of the stream is an error.
    /// Cancel safe: if the future is dropped, no bytes were read.
    pub(crate) async fn fill(&mut self) -> io::Result<usize> {
        // The decoder bounds a frame (and so what may sit in the buffer
        // unparsed) by its limits; read in big steps when a big frame comes.
        let want = READ_CHUNK.max(self.buf.len().min(4 << 20));
        self.buf.reserve(want);
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        if let Some(stats) = &self.ingress {
            PeerStats::add(&stats.ingress_wire_bytes, n as u64);
        }
        Ok(n)
    }

    /// Reads one frame, waiting at most `idle` for each read.
    pub(crate) async fn read_frame(&mut self, idle: Duration) -> io::Result<Frame> {
        loop {
            if let Some(frame) = self.try_frame()? {
                return Ok(frame);
            }
            tokio::time::timeout(idle, self.fill())
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("nothing received for {idle:?}")))??;
        }
    }

    /// Sends a command and reads its reply.
    pub(crate) async fn call(&mut self, cmd: &[u8], idle: Duration) -> io::Result<Frame> {
        self.send(cmd).await?;
        self.read_frame(idle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newlines between frames are keepalives: skipped, while each one
    /// still counts as a sign of life for the read timeout.
    #[test]
    fn newlines_before_a_frame_are_keepalives() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                // Four keepalives 150 ms apart: 600 ms in all, longer than
                // the 400 ms read timeout below, then the reply.
                for _ in 0..4 {
                    s.write_all(b"\n").await.unwrap();
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                s.write_all(b"+FULLRESYNC id 0\r\n\n\n:7\r\n").await.unwrap();
                s
            });
            let mut c = Conn::connect(addr, Duration::from_secs(5), Limits::default()).await.unwrap();
            let idle = Duration::from_millis(400);
            assert_eq!(c.read_frame(idle).await.unwrap(), Frame::simple("FULLRESYNC id 0"));
            assert_eq!(c.read_frame(idle).await.unwrap(), Frame::Integer(7));
            drop(peer.await.unwrap());
        });
    }
}

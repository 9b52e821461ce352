//! The pure part of the syncer's side of docs/sync.md: peer arguments, the
//! replies and frames it reads, the commands it writes, payload checks and
//! bounded decompression. No sockets here.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};

use bytes::{BufMut, Bytes, BytesMut};
use replication::ReplId;
use resp::Frame;

/// The sync protocol version this syncer speaks (`CRDT.HELLO 2 ...`):
/// 2 added pub/sub messages (`crdt::Op::Publish`) to the effects.
pub const PROTOCOL_VERSION: u32 = 2;
/// Largest decompressed `EFFECTS` payload accepted (one frame).
pub const PAYLOAD_MAX: usize = 256 << 20;
/// Largest snapshot accepted: the local shard's request bulk limit.
pub const SNAPSHOT_MAX: usize = resp::Limits::BULK_LEN_MAX_DEFAULT;
/// Largest frame read from a peer (a bulk string of a `SNAPSHOT` or
/// `EFFECTS` frame).
pub const PEER_BULK_MAX: usize = 1 << 30;

/// RESP limits for the peer connection: large bulks, small flat arrays.
pub fn peer_limits() -> resp::Limits {
    resp::Limits {
        bulk_len_max: PEER_BULK_MAX,
        multibulk_len_max: 16,
        inline_len_max: resp::Limits::INLINE_LEN_MAX_DEFAULT,
        nesting_max: 4,
    }
}

/// RESP limits for the local shard's replies (short ones: `+OK`, integers,
/// the two-element `CRDT.POSITION` array).
pub fn local_limits() -> resp::Limits {
    resp::Limits {
        bulk_len_max: 1 << 20,
        multibulk_len_max: 16,
        inline_len_max: resp::Limits::INLINE_LEN_MAX_DEFAULT,
        nesting_max: 4,
    }
}

/// Parses `ID=HOST:PORT` (`--peer`). The host may be a name; it is resolved
/// once, here, to its first address.
pub fn parse_peer(arg: &str) -> Result<(u16, SocketAddr), String> {
    let (id, addr) = arg
        .split_once('=')
        .ok_or_else(|| format!("--peer '{arg}': expected ID=HOST:PORT"))?;
    let id: u16 = id
        .trim()
        .parse()
        .map_err(|_| format!("--peer '{arg}': '{id}' is not an instance id (1..=65535)"))?;
    if id == 0 {
        return Err(format!("--peer '{arg}': instance ids start at 1"));
    }
    let addr = addr.trim();
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Ok((id, sa));
    }
    if addr.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
        return Err(format!("--peer '{arg}': '{addr}' is not HOST:PORT"));
    }
    let sa = addr
        .to_socket_addrs()
        .map_err(|e| format!("--peer '{arg}': cannot resolve '{addr}': {e}"))?
        .next()
        .ok_or_else(|| format!("--peer '{arg}': '{addr}' has no address"))?;
    Ok((id, sa))
}

/// Checks a whole peer list against this instance's id: ids from 1, none
/// equal to ours, none twice.
pub fn check_peers(instance: u16, peers: &[(u16, SocketAddr)]) -> Result<(), String> {
    if instance == 0 {
        return Err("--instance must be at least 1".into());
    }
    for (i, (id, _)) in peers.iter().enumerate() {
        if *id == 0 {
            return Err("instance ids start at 1".into());
        }
        if *id == instance {
            return Err(format!("--peer {id} is this instance's own id"));
        }
        if peers[..i].iter().any(|(other, _)| other == id) {
            return Err(format!("--peer {id} is given twice"));
        }
    }
    Ok(())
}

/// A position in a peer's stream: `None` is "never synced" (`? -1`).
pub type Position = Option<(ReplId, u64)>;

/// Reads the reply to `CRDT.POSITION`: `*2 <replid> <offset>` or `*2 ? -1`.
pub fn parse_position(frame: &Frame) -> Result<Position, String> {
    let Frame::Array(items) = frame else {
        return Err(format!("CRDT.POSITION: expected an array, got {}", describe(frame)));
    };
    let [replid, offset] = items.as_slice() else {
        return Err(format!("CRDT.POSITION: expected 2 elements, got {}", items.len()));
    };
    let replid = text_of(replid).ok_or("CRDT.POSITION: replication id is not a string")?;
    let offset = text_of(offset).ok_or("CRDT.POSITION: offset is not a string or integer")?;
    if replid == b"?" {
        return if offset == b"-1" {
            Ok(None)
        } else {
            Err(format!("CRDT.POSITION: '?' with offset {}", String::from_utf8_lossy(&offset)))
        };
    }
    let id = ReplId::parse(&replid)
        .ok_or_else(|| format!("CRDT.POSITION: bad replication id '{}'", String::from_utf8_lossy(&replid)))?;
    let off = parse_u64(&offset).ok_or_else(|| format!("CRDT.POSITION: bad offset '{}'", String::from_utf8_lossy(&offset)))?;
    Ok(Some((id, off)))
}

/// How a peer answered `CRDT.PSYNC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncStart {
    /// Partial sync: the stream follows from `offset`.
    Continue { replid: ReplId, offset: u64 },
    /// Full sync: a snapshot of the state at `offset`, then the stream.
    FullResync { replid: ReplId, offset: u64 },
}

impl SyncStart {
    pub fn replid(&self) -> ReplId {
        match *self {
            SyncStart::Continue { replid, .. } | SyncStart::FullResync { replid, .. } => replid,
        }
    }

    pub fn offset(&self) -> u64 {
        match *self {
            SyncStart::Continue { offset, .. } | SyncStart::FullResync { offset, .. } => offset,
        }
    }
}

/// Reads `+CONTINUE <replid> <offset>` or `+FULLRESYNC <replid> <offset>`.
/// Error replies are the caller's business (see [`classify_error`]).
pub fn parse_psync_reply(frame: &Frame) -> Result<SyncStart, String> {
    let Frame::Simple(line) = frame else {
        return Err(format!("CRDT.PSYNC: unexpected reply {}", describe(frame)));
    };
    let text = std::str::from_utf8(line).map_err(|_| "CRDT.PSYNC: reply is not text".to_string())?;
    let mut words = text.split_ascii_whitespace();
    let (Some(kind), Some(replid), Some(offset), None) = (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(format!("CRDT.PSYNC: unexpected reply '+{text}'"));
    };
    let replid = ReplId::parse(replid.as_bytes()).ok_or_else(|| format!("CRDT.PSYNC: bad replication id in '+{text}'"))?;
    let offset = parse_u64(offset.as_bytes()).ok_or_else(|| format!("CRDT.PSYNC: bad offset in '+{text}'"))?;
    match kind {
        "CONTINUE" => Ok(SyncStart::Continue { replid, offset }),
        "FULLRESYNC" => Ok(SyncStart::FullResync { replid, offset }),
        _ => Err(format!("CRDT.PSYNC: unexpected reply '+{text}'")),
    }
}

/// A frame a peer sends after its answer to `CRDT.PSYNC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerFrame {
    Snapshot(Bytes),
    SnapEnd(u64),
    Effects { end: u64, count: u64, payload: Bytes },
    Ping,
    /// An error reply (`-ERR backlog overrun`); the text includes its code.
    Error(String),
}

/// Reads one frame of the sync stream.
pub fn parse_peer_frame(frame: Frame) -> Result<PeerFrame, String> {
    let items = match frame {
        Frame::Array(items) => items,
        Frame::Error(text) => return Ok(PeerFrame::Error(String::from_utf8_lossy(&text).into_owned())),
        Frame::Simple(text) if text.eq_ignore_ascii_case(b"PING") => return Ok(PeerFrame::Ping),
        other => return Err(format!("unexpected frame {}", describe(&other))),
    };
    let mut bulks = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Frame::Bulk(b) | Frame::Simple(b) => bulks.push(b),
            Frame::Integer(n) => bulks.push(Bytes::from(n.to_string())),
            other => return Err(format!("unexpected element {} in a sync frame", describe(&other))),
        }
    }
    let Some(name) = bulks.first() else {
        return Err("empty array in the sync stream".into());
    };
    let name = name.to_ascii_uppercase();
    let number = |b: &Bytes, what: &str| {
        parse_u64(b).ok_or_else(|| format!("bad {what} '{}'", String::from_utf8_lossy(b)))
    };
    match (name.as_slice(), bulks.len()) {
        (b"EFFECTS", 4) => Ok(PeerFrame::Effects {
            end: number(&bulks[1], "EFFECTS end offset")?,
            count: number(&bulks[2], "EFFECTS count")?,
            payload: bulks.swap_remove(3),
        }),
        (b"PING", 1) => Ok(PeerFrame::Ping),
        (b"SNAPSHOT", 2) => Ok(PeerFrame::Snapshot(bulks.swap_remove(1))),
        (b"SNAPEND", 2) => Ok(PeerFrame::SnapEnd(number(&bulks[1], "SNAPEND length")?)),
        _ => Err(format!(
            "unexpected frame {} with {} elements",
            String::from_utf8_lossy(&name),
            bulks.len()
        )),
    }
}

/// Checks that a payload is exactly `count` effects, each
/// `u32 LE length | encoding`, and returns the effects' byte ranges.
pub fn split_effects(payload: &[u8], count: u64) -> Result<Vec<std::ops::Range<usize>>, String> {
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    let mut pos = 0usize;
    while pos < payload.len() {
        let Some(len) = payload.get(pos..pos + 4) else {
            return Err(format!("payload: truncated length at byte {pos}"));
        };
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let start = pos + 4;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= payload.len())
            .ok_or_else(|| format!("payload: effect of {len} bytes at byte {pos} runs past the end ({})", payload.len()))?;
        out.push(start..end);
        pos = end;
    }
    if out.len() as u64 != count {
        return Err(format!("payload holds {} effects, the frame says {count}", out.len()));
    }
    Ok(out)
}

/// Decompresses one zstd payload (one or more frames) of at most `max`
/// bytes; a larger one is an error, found without inflating past `max`.
/// An empty payload stays empty (the shard does not compress a `count = 0`
/// frame's empty payload).
pub fn decompress_bounded(
    dec: &mut zstd::bulk::Decompressor<'static>,
    data: &[u8],
    max: usize,
) -> Result<Vec<u8>, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    // The usual case: one frame that records its size; decompress it in one
    // call into a buffer of exactly that size.
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data) {
        if size > max as u64 {
            return Err(format!("payload decompresses to {size} bytes, more than {max}"));
        }
        if let Ok(out) = dec.decompress(data, size as usize) {
            return Ok(out);
        }
        // Several frames, or a corrupt one: the streaming path decides.
    }
    let mut out = Vec::new();
    let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| format!("zstd: {e}"))?;
    decoder
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("payload does not decompress: {e}"))?;
    if out.len() > max {
        return Err(format!("payload decompresses to more than {max} bytes"));
    }
    Ok(out)
}

/// What an error reply means for the syncer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Authentication refused or required: exit code 4.
    Auth,
    /// The other side does not speak our protocol (unknown command): exit code 4.
    Incompatible,
    /// Worth retrying: the proxy cannot reach its shard, too many clients, a
    /// shard still loading, ...
    Transient,
    /// Any other error.
    Other,
}

/// Classifies an error reply (text with its code, without the `-`).
pub fn classify_error(text: &str) -> ErrorKind {
    let code = text.split(' ').next().unwrap_or("");
    let lower = text.to_ascii_lowercase();
    if matches!(code, "NOAUTH" | "WRONGPASS" | "NOPERM") {
        return ErrorKind::Auth;
    }
    if matches!(code, "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "OOM")
        || lower.contains("unreachable")
        || lower.contains("max number of clients")
        || lower.contains("backlog overrun")
    {
        return ErrorKind::Transient;
    }
    // A command this side does not know, or an effect it cannot read (a
    // shard of an older version: `unknown effect tag`).
    if lower.starts_with("err unknown command") || lower.contains("incompatible effect") || lower.contains("unknown effect tag") {
        return ErrorKind::Incompatible;
    }
    if lower.contains("password") || lower.starts_with("err auth") {
        return ErrorKind::Auth;
    }
    ErrorKind::Other
}

/// One `CRDT.APPLY` in the making: the payloads of consecutive `EFFECTS`
/// frames, applied with the last frame's end offset.
#[derive(Debug, Default)]
pub struct Batch {
    pub end: u64,
    pub count: u64,
    pub bytes: usize,
    /// What the payloads took on the wire (compressed), for the shard's
    /// ingress counters.
    pub wire_bytes: u64,
    pub frames: usize,
    parts: Vec<Bytes>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Adds one frame's (decompressed) payload, which took `wire` bytes on
    /// the wire.
    pub fn push(&mut self, end: u64, count: u64, payload: Bytes, wire: u64) {
        self.end = end;
        self.wire_bytes += wire;
        self.count += count;
        self.bytes += payload.len();
        self.frames += 1;
        if !payload.is_empty() {
            self.parts.push(payload);
        }
    }

    /// Encodes `CRDT.APPLY <peer> <replid> <end> <count> <payload> <wire
    /// bytes>` and empties the batch.
    pub fn take_command(&mut self, peer: u16, replid: &ReplId) -> BytesMut {
        let batch = std::mem::take(self);
        let mut out = BytesMut::with_capacity(batch.bytes + 160);
        let (peer, end, count) = (peer.to_string(), batch.end.to_string(), batch.count.to_string());
        let head: [&[u8]; 5] = [b"CRDT.APPLY", peer.as_bytes(), replid.as_bytes(), end.as_bytes(), count.as_bytes()];
        out.put_slice(format!("*{}\r\n", head.len() + 2).as_bytes());
        for arg in head {
            put_bulk_header(&mut out, arg.len());
            out.put_slice(arg);
            out.put_slice(b"\r\n");
        }
        put_bulk_header(&mut out, batch.bytes);
        for part in &batch.parts {
            out.put_slice(part);
        }
        out.put_slice(b"\r\n");
        let wire = batch.wire_bytes.to_string();
        put_bulk_header(&mut out, wire.len());
        out.put_slice(wire.as_bytes());
        out.put_slice(b"\r\n");
        out
    }
}

fn put_bulk_header(out: &mut BytesMut, len: usize) {
    out.put_slice(format!("${len}\r\n").as_bytes());
}

/// Encodes a command as an array of bulk strings.
pub fn command(args: &[&[u8]]) -> BytesMut {
    let mut out = BytesMut::with_capacity(args.iter().map(|a| a.len() + 16).sum::<usize>() + 16);
    resp::encode_request(args, &mut out);
    out
}

/// The text of a bulk, status or integer element.
fn text_of(frame: &Frame) -> Option<Vec<u8>> {
    match frame {
        Frame::Bulk(b) | Frame::Simple(b) => Some(b.to_vec()),
        Frame::Integer(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A short description of a frame for error messages.
pub fn describe(frame: &Frame) -> String {
    fn short(b: &[u8]) -> String {
        let s = String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned();
        if b.len() > 80 {
            format!("{s}...")
        } else {
            s
        }
    }
    match frame {
        Frame::Simple(b) => format!("+{}", short(b)),
        Frame::Error(b) => format!("-{}", short(b)),
        Frame::Integer(n) => format!(":{n}"),
        Frame::Bulk(b) => format!("bulk of {} bytes", b.len()),
        Frame::Array(items) => format!("array of {}", items.len()),
        Frame::Null | Frame::NullArray => "null".into(),
        other => format!("{other:?}").chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(seed: u64) -> ReplId {
        ReplId::from_seed(seed)
    }

    #[test]
    fn peer_args() {
        assert_eq!(parse_peer("2=127.0.0.1:7001").unwrap(), (2, "127.0.0.1:7001".parse().unwrap()));
        assert_eq!(parse_peer(" 3 = [::1]:9 ").unwrap(), (3, "[::1]:9".parse().unwrap()));
        let (id, addr) = parse_peer("4=localhost:7004").unwrap();
        assert_eq!(id, 4);
        assert_eq!(addr.port(), 7004);
        assert!(addr.ip().is_loopback());
        for bad in ["", "2", "127.0.0.1:7001", "x=127.0.0.1:1", "0=127.0.0.1:1", "70000=127.0.0.1:1", "2=127.0.0.1", "2=:80", "2=host:port"] {
            assert!(parse_peer(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn peer_lists() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(check_peers(1, &[(2, a), (3, a)]).is_ok());
        assert!(check_peers(1, &[]).is_ok());
        assert!(check_peers(1, &[(1, a)]).unwrap_err().contains("own id"));
        assert!(check_peers(1, &[(2, a), (2, a)]).unwrap_err().contains("twice"));
        assert!(check_peers(0, &[(2, a)]).is_err());
    }

    #[test]
    fn positions() {
        let never = Frame::Array(vec![Frame::bulk("?"), Frame::bulk("-1")]);
        assert_eq!(parse_position(&never).unwrap(), None);
        let id = rid(5);
        let at = Frame::Array(vec![Frame::bulk(id.to_string()), Frame::bulk("1234")]);
        assert_eq!(parse_position(&at).unwrap(), Some((id, 1234)));
        let int = Frame::Array(vec![Frame::bulk(id.to_string()), Frame::Integer(7)]);
        assert_eq!(parse_position(&int).unwrap(), Some((id, 7)));
        for bad in [
            Frame::Array(vec![Frame::bulk("?"), Frame::bulk("5")]),
            Frame::Array(vec![Frame::bulk("abc"), Frame::bulk("5")]),
            Frame::Array(vec![Frame::bulk(id.to_string()), Frame::bulk("-3")]),
            Frame::Array(vec![Frame::bulk(id.to_string())]),
            Frame::ok(),
        ] {
            assert!(parse_position(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn psync_replies() {
        let id = rid(9);
        let cont = Frame::Simple(format!("CONTINUE {id} 42").into());
        assert_eq!(parse_psync_reply(&cont).unwrap(), SyncStart::Continue { replid: id, offset: 42 });
        let full = Frame::Simple(format!("FULLRESYNC {id} 0").into());
        assert_eq!(parse_psync_reply(&full).unwrap(), SyncStart::FullResync { replid: id, offset: 0 });
        for bad in ["CONTINUE", &format!("CONTINUE {id}"), &format!("OK {id} 1"), "FULLRESYNC zz 1", &format!("CONTINUE {id} 1 2")] {
            assert!(parse_psync_reply(&Frame::Simple(bad.to_string().into())).is_err(), "{bad}");
        }
        assert!(parse_psync_reply(&Frame::error("ERR nope")).is_err());
    }

    #[test]
    fn peer_frames() {
        let arr = |items: &[&[u8]]| Frame::Array(items.iter().map(|b| Frame::bulk(Bytes::copy_from_slice(b))).collect());
        assert_eq!(
            parse_peer_frame(arr(&[b"EFFECTS", b"100", b"2", b"xyz"])).unwrap(),
            PeerFrame::Effects { end: 100, count: 2, payload: Bytes::from_static(b"xyz") }
        );
        assert_eq!(parse_peer_frame(arr(&[b"PING"])).unwrap(), PeerFrame::Ping);
        assert_eq!(parse_peer_frame(arr(&[b"ping"])).unwrap(), PeerFrame::Ping);
        assert_eq!(parse_peer_frame(arr(&[b"SNAPSHOT", b"abc"])).unwrap(), PeerFrame::Snapshot(Bytes::from_static(b"abc")));
        assert_eq!(parse_peer_frame(arr(&[b"SNAPEND", b"3"])).unwrap(), PeerFrame::SnapEnd(3));
        assert_eq!(
            parse_peer_frame(Frame::error("ERR backlog overrun")).unwrap(),
            PeerFrame::Error("ERR backlog overrun".into())
        );
        for bad in [
            arr(&[b"EFFECTS", b"100", b"2"]),
            arr(&[b"EFFECTS", b"-1", b"2", b""]),
            arr(&[b"EFFECTS", b"1", b"x", b""]),
            arr(&[b"RECORD", b"1"]),
            arr(&[]),
            Frame::Integer(3),
            Frame::Array(vec![Frame::Array(vec![])]),
        ] {
            assert!(parse_peer_frame(bad.clone()).is_err(), "{bad:?}");
        }
    }

    fn payload(effects: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in effects {
            out.extend_from_slice(&(e.len() as u32).to_le_bytes());
            out.extend_from_slice(e);
        }
        out
    }

    #[test]
    fn payload_splitting() {
        let p = payload(&[b"abc", b"", b"hello"]);
        let ranges = split_effects(&p, 3).unwrap();
        let parts: Vec<&[u8]> = ranges.iter().map(|r| &p[r.clone()]).collect();
        assert_eq!(parts, vec![&b"abc"[..], b"", b"hello"]);
        assert!(split_effects(&[], 0).unwrap().is_empty());
        assert!(split_effects(&p, 2).unwrap_err().contains("3 effects"));
        assert!(split_effects(&p[..p.len() - 1], 3).unwrap_err().contains("past the end"));
        assert!(split_effects(&p[..2], 1).unwrap_err().contains("truncated"));
        let huge = [0xff, 0xff, 0xff, 0xff, 1];
        assert!(split_effects(&huge, 1).is_err());
        // Concatenated payloads of two frames are one valid payload.
        let mut both = payload(&[b"a"]);
        both.extend(payload(&[b"bb", b"ccc"]));
        assert_eq!(split_effects(&both, 3).unwrap().len(), 3);
    }

    #[test]
    fn batches_concatenate_frames() {
        let id = rid(2);
        let mut b = Batch::default();
        assert!(b.is_empty());
        b.push(10, 1, Bytes::from(payload(&[b"x"])), 7);
        b.push(12, 0, Bytes::new(), 0);
        b.push(20, 2, Bytes::from(payload(&[b"yy", b"z"])), 9);
        assert_eq!((b.end, b.count, b.frames), (20, 3, 3));
        let mut cmd = b.take_command(2, &id);
        assert!(b.is_empty() && b.bytes == 0 && b.count == 0);
        let frame = resp::decode_frame(&mut cmd, &resp::Limits::default()).unwrap().unwrap();
        assert!(cmd.is_empty());
        let Frame::Array(items) = frame else { panic!() };
        let args: Vec<Bytes> = items
            .into_iter()
            .map(|f| match f {
                Frame::Bulk(b) => b,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(&args[0][..], b"CRDT.APPLY");
        assert_eq!(&args[1][..], b"2");
        assert_eq!(&args[2][..], id.as_bytes());
        assert_eq!(&args[3][..], b"20");
        assert_eq!(&args[4][..], b"3");
        assert_eq!(split_effects(&args[5], 3).unwrap().len(), 3);
        assert_eq!(&args[6][..], b"16");
    }

    #[test]
    fn empty_batch_command_advances_only() {
        let mut b = Batch::default();
        b.push(99, 0, Bytes::new(), 0);
        let cmd = b.take_command(3, &rid(1));
        assert!(cmd.ends_with(b"$2\r\n99\r\n$1\r\n0\r\n$0\r\n\r\n$1\r\n0\r\n"), "{cmd:?}");
    }

    #[test]
    fn bounded_decompression() {
        let mut dec = zstd::bulk::Decompressor::new().unwrap();
        let raw: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let packed = zstd::bulk::compress(&raw, 3).unwrap();
        assert_eq!(decompress_bounded(&mut dec, &packed, raw.len()).unwrap(), raw);
        assert!(decompress_bounded(&mut dec, &packed, raw.len() - 1).unwrap_err().contains("more than"));
        // Streamed frames (no recorded size) and several frames in a row.
        let streamed = zstd::stream::encode_all(&raw[..], 3).unwrap();
        assert_eq!(decompress_bounded(&mut dec, &streamed, raw.len()).unwrap(), raw);
        assert!(decompress_bounded(&mut dec, &streamed, 1000).is_err());
        let mut two = packed.clone();
        two.extend_from_slice(&packed);
        assert_eq!(decompress_bounded(&mut dec, &two, 2 * raw.len()).unwrap().len(), 2 * raw.len());
        assert!(decompress_bounded(&mut dec, &two, raw.len()).is_err());
        assert!(decompress_bounded(&mut dec, b"not zstd at all", 1000).is_err());
        let empty = zstd::bulk::compress(b"", 1).unwrap();
        assert!(decompress_bounded(&mut dec, &empty, 10).unwrap().is_empty());
        assert!(decompress_bounded(&mut dec, b"", 10).unwrap().is_empty());
    }

    #[test]
    fn error_classes() {
        use ErrorKind::*;
        assert_eq!(classify_error("WRONGPASS invalid username-password pair or user is disabled."), Auth);
        assert_eq!(classify_error("NOAUTH Authentication required."), Auth);
        assert_eq!(
            classify_error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
            Auth
        );
        assert_eq!(classify_error("ERR unknown command 'CRDT.HELLO', with args beginning with: '1' "), Incompatible);
        assert_eq!(classify_error("ERR the database's shard is unreachable"), Transient);
        assert_eq!(classify_error("ERR max number of clients reached"), Transient);
        assert_eq!(classify_error("LOADING Redis is loading the dataset in memory"), Transient);
        assert_eq!(classify_error("ERR backlog overrun"), Transient);
        assert_eq!(classify_error("ERR this is instance 3, not 2"), Other);
        assert_eq!(classify_error("ERR concord-protocol 2 is not supported (this shard speaks 1)"), Other);
        // A local shard that cannot read an effect: older (its own text) or
        // newer than the stream (ours).
        assert_eq!(classify_error("ERR malformed effect: unknown effect tag 60"), Incompatible);
        assert_eq!(
            classify_error("ERR incompatible effect: unknown effect tag 61 (this shard speaks concord-protocol 2)"),
            Incompatible
        );
    }
}

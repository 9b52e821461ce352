//! Framing of one record of the stream, shared by the backlog, the wire
//! (offsets count these bytes) and the log segment files.
//!
//! ```text
//! +-------------+-------------+-----------------+
//! | len: u32 LE | crc: u32 LE | payload (len B) |
//! +-------------+-------------+-----------------+
//! crc = CRC-32 (IEEE) of the 4 length bytes followed by the payload
//! ```
//!
//! The checksum covers the length too, so a flipped length bit is caught
//! instead of sending the reader into the middle of the next record. Every
//! record starts at a boundary a reader can resume from: the backlog, the
//! wire and the log address records by the offset of their first byte.
//! Rejected alternative: Redis's raw command stream with no framing; it
//! cannot tell a torn tail from corruption, which the log must.

use crate::id::Offset;

/// Bytes of framing before each payload.
pub const HEADER_LEN: usize = 8;

/// Largest payload accepted: one effect can carry a key and a value of up
/// to `proto-max-bulk-len` (512 MiB) each, plus a little metadata. A larger
/// length in a header is corruption, not a record.
pub const PAYLOAD_LEN_MAX: usize = 2 * 512 * 1024 * 1024 + 1024 * 1024;

/// A record's payload that cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("record length {len} exceeds the maximum {PAYLOAD_LEN_MAX}")]
    TooLarge { len: u64 },
    #[error("record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
}

/// Returns the framed size of a payload of `payload_len` bytes: what the
/// record adds to the stream offset.
pub fn framed_len(payload_len: usize) -> u64 {
    (HEADER_LEN + payload_len) as u64
}

/// Returns the checksum stored in the header of `payload`.
pub fn checksum(payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Returns the 8 header bytes of `payload`.
pub fn header(payload: &[u8]) -> [u8; HEADER_LEN] {
    assert!(
        payload.len() <= PAYLOAD_LEN_MAX,
        "record payload of {} bytes is over the maximum",
        payload.len()
    );
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..].copy_from_slice(&checksum(payload).to_le_bytes());
    h
}

/// Appends the framed record of `payload` to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&header(payload));
    out.extend_from_slice(payload);
}

/// Splits a header into (payload length, stored checksum).
pub fn parse_header(h: &[u8; HEADER_LEN]) -> Result<(usize, u32), FrameError> {
    let len = u32::from_le_bytes(h[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(h[4..].try_into().expect("4 bytes"));
    if len as usize > PAYLOAD_LEN_MAX {
        return Err(FrameError::TooLarge { len: len as u64 });
    }
    Ok((len as usize, crc))
}

/// Checks a payload against the checksum its header stored.
pub fn verify(payload: &[u8], stored: u32) -> Result<(), FrameError> {
    let computed = checksum(payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok(())
}

/// Decodes the record at the start of `buf`: `Ok(None)` when `buf` holds
/// only part of it, otherwise the payload and the framed length consumed.
pub fn decode(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let (len, crc) = parse_header(h.try_into().expect("HEADER_LEN bytes"))?;
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    verify(payload, crc)?;
    Ok(Some((payload, HEADER_LEN + len)))
}

/// One record of a stream, addressed by the offset of its first framed byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: Offset,
    pub payload: bytes::Bytes,
}

impl Record {
    /// Returns the offset just past this record: where the next one starts.
    pub fn end(&self) -> Offset {
        self.offset.plus(framed_len(self.payload.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_partial_input() {
        let mut buf = Vec::new();
        encode(b"hello", &mut buf);
        encode(b"", &mut buf);
        assert_eq!(buf.len() as u64, framed_len(5) + framed_len(0));
        for cut in 0..framed_len(5) as usize {
            assert_eq!(decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        let (p, n) = decode(&buf).unwrap().unwrap();
        assert_eq!((p, n), (&b"hello"[..], 13));
        assert_eq!(decode(&buf[n..]).unwrap().unwrap(), (&b""[..], 8));
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode(b"payload", &mut buf);
        for i in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            // A flip in the length either overruns (None), is too large, or
            // fails the checksum; it never yields a record.
            assert!(!matches!(decode(&bad), Ok(Some(_))), "bit {i}");
        }
    }
}

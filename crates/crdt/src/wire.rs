//! The byte-level writers shared by the effect, snapshot and stream
//! encodings: LEB128 varints, length-prefixed bytes, dots, version vectors
//! and stream ids. (Each format's readers check their own limits and errors.)

use crate::id::{Dot, VersionVector};
use crate::stream::StreamId;

#[inline]
pub(crate) fn put_var(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        // (Lengths, instance ids, counts: nearly always one byte.)
        out.push(v as u8);
        return;
    }
    // One capacity check for the up to 10 bytes; the pushes then never grow.
    out.reserve(10);
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn put_vv(out: &mut Vec<u8>, vv: &VersionVector) {
    put_var(out, vv.len() as u64);
    for (id, seq) in vv.iter() {
        put_var(out, id.0 as u64);
        put_var(out, seq);
    }
}

pub(crate) fn put_dot(out: &mut Vec<u8>, d: Dot) {
    put_var(out, d.origin.0 as u64);
    put_var(out, d.seq);
}

pub(crate) fn put_sid(out: &mut Vec<u8>, id: StreamId) {
    put_var(out, id.ms);
    put_var(out, id.seq);
}

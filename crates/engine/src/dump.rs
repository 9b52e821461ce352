//! DUMP and RESTORE: a key's value carried between Concord instances.
//!
//! The payload is the value in the snapshot encoding (`crdt::snapshot::
//! dump_value`) with a format byte and a checksum; RESTORE writes it the way
//! COPY writes a value (fresh effects at this instance), so restoring is a
//! local write that replicates like any other. Payloads from Redis (its RDB
//! encoding) are refused with Redis's checksum error.

use bytes::Bytes;
use crdt::snapshot::{dump_value, restore_value, SnapshotError};
use resp::Frame;

use crate::args::{self, eq};
use crate::keys::write_copy;
use crate::{err, error, notify, Access, Engine};

pub(crate) fn dispatch(e: &mut Engine, name: &str, a: &[&[u8]]) -> Option<Frame> {
    Some(match name {
        "dump" => match e.lookup(&a[1], Access::Read) {
            Some(en) => Frame::Bulk(Bytes::from(dump_value(en.value.as_ref().expect("visible")))),
            None => Frame::Null,
        },
        "restore" => restore(e, a),
        _ => return None,
    })
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(e: &mut Engine, a: &[&[u8]]) -> Frame {
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, None, None);
    let mut i = 4;
    while i < a.len() {
        let more = i + 1 < a.len();
        if eq(&a[i], "replace") {
            replace = true;
        } else if eq(&a[i], "absttl") {
            absttl = true;
        } else if eq(&a[i], "idletime") && more && freq.is_none() {
            match args::int(&a[i + 1]) {
                Ok(n) if n < 0 => return error("ERR Invalid IDLETIME value, must be >= 0"),
                Ok(n) => idle = Some(n),
                Err(f) => return f,
            }
            i += 1;
        } else if eq(&a[i], "freq") && more && idle.is_none() {
            match args::int(&a[i + 1]) {
                Ok(n) if !(0..=255).contains(&n) => return error("ERR Invalid FREQ value, must be >= 0 and <= 255"),
                Ok(n) => freq = Some(n),
                Err(f) => return f,
            }
            i += 1;
        } else {
            return error(err::SYNTAX);
        }
        i += 1;
    }
    let key = &a[1];
    if !replace && e.lookup(key, Access::Write).is_some() {
        return error("BUSYKEY Target key name already exists.");
    }
    let ttl = match args::int(&a[2]) {
        Ok(t) if t < 0 => return error("ERR Invalid TTL value, must be >= 0"),
        Ok(t) => t as u64,
        Err(f) => return f,
    };
    let value = match restore_value(&a[3]) {
        Ok(v) => v,
        Err(SnapshotError::Checksum | SnapshotError::Magic | SnapshotError::Version(_) | SnapshotError::Truncated) => {
            return error("ERR DUMP payload version or checksum are wrong")
        }
        Err(_) => return error("ERR Bad data format"),
    };
    let at = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(e.now_ms.saturating_add(t)),
    };
    if at.is_some_and(|at| at <= e.now_ms) {
        // Already expired: Redis replies OK and only the REPLACE's delete stays.
        if replace && e.lookup(key, Access::Write).is_some() {
            let ctx = crate::string::key_ctx(e, key);
            e.commit(crdt::Op::Del { key: key[..].into(), ctx });
            e.notify(notify::GENERIC, "del", key);
        }
        return Frame::ok();
    }
    write_copy(e, &value, at, key);
    e.notify(notify::GENERIC, "restore", key);
    Frame::ok()
}

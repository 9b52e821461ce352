//! Streams: the X* commands over `crdt::stream` (spec section 1.10).

use crdt::stream::Stream;
use crdt::{Blob, Op};

/// The ops that recreate a stream under another key (RENAME, COPY): every
/// entry with its id, then the last id and entries-added; no groups.
pub(crate) fn recreate_ops(s: &Stream, key: &Blob) -> Vec<Op> {
    let mut ops: Vec<Op> = s
        .entries
        .iter()
        .enumerate()
        .map(|(i, ((id, _), f))| Op::StreamAdd { key: key.clone(), id: *id, fields: f.to_vec(), added: i as u64 + 1 })
        .collect();
    ops.push(Op::StreamSetId { key: key.clone(), last: s.last_id(), added: s.entries_added() });
    ops
}

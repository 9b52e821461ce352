//! (being written)

use bytes::Bytes;
use resp::Frame;

use crate::Engine;

pub(crate) fn dispatch(_e: &mut Engine, _name: &str, _a: &[Bytes]) -> Option<Frame> {
    None
}

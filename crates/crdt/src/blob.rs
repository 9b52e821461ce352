//! [`SmallBlob`]: an immutable byte string that keeps up to 22 bytes inline.
//!
//! Most keys, members and values are short; storing them inline saves a heap
//! allocation (16 bytes of jemalloc's smallest class, plus its pointer) per
//! string. Not yet the keyspace's `Blob` type: the switch is tracked in
//! docs/crdt.md ("Memory").

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE_MAX: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; INLINE_MAX] },
    Heap(Box<[u8]>),
}

#[derive(Clone)]
pub struct SmallBlob(Repr);

impl SmallBlob {
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..*len as usize],
            Repr::Heap(b) => b,
        }
    }
}

impl Default for SmallBlob {
    fn default() -> SmallBlob {
        SmallBlob(Repr::Inline { len: 0, data: [0; INLINE_MAX] })
    }
}

impl From<&[u8]> for SmallBlob {
    fn from(s: &[u8]) -> SmallBlob {
        if s.len() <= INLINE_MAX {
            let mut data = [0; INLINE_MAX];
            data[..s.len()].copy_from_slice(s);
            SmallBlob(Repr::Inline { len: s.len() as u8, data })
        } else {
            SmallBlob(Repr::Heap(s.into()))
        }
    }
}

impl From<Vec<u8>> for SmallBlob {
    fn from(v: Vec<u8>) -> SmallBlob {
        if v.len() <= INLINE_MAX {
            SmallBlob::from(&v[..])
        } else {
            SmallBlob(Repr::Heap(v.into_boxed_slice()))
        }
    }
}

impl From<Box<[u8]>> for SmallBlob {
    fn from(b: Box<[u8]>) -> SmallBlob {
        if b.len() <= INLINE_MAX {
            SmallBlob::from(&b[..])
        } else {
            SmallBlob(Repr::Heap(b))
        }
    }
}

impl Deref for SmallBlob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBlob {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBlob {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

// Hash, Eq and Ord agree with `[u8]`'s, as `Borrow<[u8]>` requires.
impl Hash for SmallBlob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl PartialEq for SmallBlob {
    fn eq(&self, other: &SmallBlob) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBlob {}

impl PartialOrd for SmallBlob {
    fn partial_cmp(&self, other: &SmallBlob) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBlob {
    fn cmp(&self, other: &SmallBlob) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl fmt::Debug for SmallBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn inline_and_heap_behave_like_byte_slices() {
        assert_eq!(std::mem::size_of::<SmallBlob>(), 24);
        for len in [0usize, 1, 21, 22, 23, 100] {
            let bytes: Vec<u8> = (0..len as u8).collect();
            let b = SmallBlob::from(&bytes[..]);
            assert_eq!(&b[..], &bytes[..]);
            assert_eq!(SmallBlob::from(bytes.clone()), b);
            let mut m: HashMap<SmallBlob, usize> = HashMap::new();
            m.insert(b.clone(), len);
            assert_eq!(m.get(&bytes[..]), Some(&len), "lookup by &[u8] must find it");
        }
        assert!(SmallBlob::from(&b"a"[..]) < SmallBlob::from(&b"ab"[..]));
    }
}

//! [`SmallBlob`]: an immutable byte string that keeps up to 22 bytes inline
//! (keys); [`TinyBlob`]: one of 16 bytes that keeps up to 14 inline (values).
//!
//! Most keys, members and values are short; storing them inline saves a heap
//! allocation (16 bytes of jemalloc's smallest class, plus its pointer) per
//! string. See docs/crdt.md ("Memory").

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

/// An immutable byte string in 16 bytes that keeps up to 14 bytes inline:
/// a register version's value (`crate::cell::Version`). Nearly every value
/// of a string key or a hash field is this short, so it needs no heap
/// allocation of its own (a `Box<[u8]>` took 16 bytes here plus jemalloc's
/// 8-byte class at least). A longer value is one allocation: a thin vector,
/// whose 16-byte header holds the length, so the pointer stays 8 bytes.
///
/// The tag's unused values are a niche: a `Cell` holding one version is 32
/// bytes, and `Value` around it 40.
#[derive(Clone)]
pub struct TinyBlob(TinyRepr);

/// Bytes kept inline by [`TinyBlob`].
pub const TINY_INLINE_MAX: usize = 14;

#[derive(Clone)]
enum TinyRepr {
    /// Every value of at most `TINY_INLINE_MAX` bytes (never `Heap`).
    Inline { len: u8, data: [u8; TINY_INLINE_MAX] },
    Heap(thin_vec::ThinVec<u8>),
}

const _: () = assert!(std::mem::size_of::<TinyBlob>() == 16);
const _: () = assert!(std::mem::size_of::<Option<TinyBlob>>() == 16);

impl TinyBlob {
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            TinyRepr::Inline { len, data } => &data[..*len as usize],
            TinyRepr::Heap(v) => v,
        }
    }

    /// True when the bytes are inline (no allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, TinyRepr::Inline { .. })
    }
}

impl Default for TinyBlob {
    fn default() -> TinyBlob {
        TinyBlob(TinyRepr::Inline { len: 0, data: [0; TINY_INLINE_MAX] })
    }
}

impl From<&[u8]> for TinyBlob {
    #[inline]
    fn from(s: &[u8]) -> TinyBlob {
        if s.len() <= TINY_INLINE_MAX {
            let mut data = [0; TINY_INLINE_MAX];
            data[..s.len()].copy_from_slice(s);
            TinyBlob(TinyRepr::Inline { len: s.len() as u8, data })
        } else {
            let mut v = thin_vec::ThinVec::with_capacity(s.len());
            v.extend_from_slice(s);
            TinyBlob(TinyRepr::Heap(v))
        }
    }
}

impl From<&Box<[u8]>> for TinyBlob {
    fn from(b: &Box<[u8]>) -> TinyBlob {
        TinyBlob::from(&b[..])
    }
}

impl From<Box<[u8]>> for TinyBlob {
    fn from(b: Box<[u8]>) -> TinyBlob {
        TinyBlob::from(&b[..])
    }
}

impl From<Vec<u8>> for TinyBlob {
    fn from(v: Vec<u8>) -> TinyBlob {
        TinyBlob::from(&v[..])
    }
}

impl From<&TinyBlob> for TinyBlob {
    fn from(b: &TinyBlob) -> TinyBlob {
        b.clone()
    }
}

impl Deref for TinyBlob {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for TinyBlob {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for TinyBlob {
    fn eq(&self, other: &TinyBlob) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for TinyBlob {}

impl fmt::Debug for TinyBlob {
    /// As the `Box<[u8]>` it replaced prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
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

    /// The inline/heap boundary: every length keeps its bytes, values of up
    /// to 14 bytes are inline, longer ones on the heap, and equality and
    /// clones do not depend on the form.
    #[test]
    fn tiny_blob_keeps_bytes_on_both_sides_of_the_boundary() {
        for len in [0usize, 1, 8, 13, 14, 15, 16, 22, 23, 255, 256, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let t = TinyBlob::from(&bytes[..]);
            assert_eq!(&t[..], &bytes[..], "len {len}");
            assert_eq!(t.len(), len);
            assert_eq!(t.is_inline(), len <= TINY_INLINE_MAX, "len {len}");
            let c = t.clone();
            assert_eq!(c, t);
            assert_eq!(&c[..], &bytes[..]);
            assert_eq!(TinyBlob::from(bytes.clone().into_boxed_slice()), t);
            assert_eq!(TinyBlob::from(bytes.clone()), t);
            assert_eq!(format!("{t:?}"), format!("{:?}", bytes.clone().into_boxed_slice()));
        }
        // Inline bytes past the length never take part in equality.
        let a = TinyBlob::from(&b"abc"[..]);
        let b = TinyBlob::from(&b"abcdef"[..3]);
        assert_eq!(a, b);
        assert_ne!(TinyBlob::from(&b""[..]), TinyBlob::from(&b"\0"[..]));
        assert_eq!(TinyBlob::default(), TinyBlob::from(&b""[..]));
    }
}

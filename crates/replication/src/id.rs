//! Identities and positions of a stream: [`ReplId`] names one history of a
//! dataset, [`Offset`] counts the bytes of framed records produced in it.

use std::fmt;

/// A replication id: 40 lowercase hex characters, like Redis's `replid`.
///
/// A primary takes a fresh id whenever its history may fork from the history
/// of its predecessor (it was promoted, or it restarted without its data), so
/// `(ReplId, Offset)` names exactly one version of the dataset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplId([u8; ReplId::LEN]);

impl ReplId {
    /// Length in characters (and bytes: hex is ASCII).
    pub const LEN: usize = 40;

    /// Returns an id derived from 160 random bits. The caller brings the
    /// randomness (this crate never reads an RNG or the clock itself).
    pub fn from_random(bits: [u8; 20]) -> ReplId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; ReplId::LEN];
        for (i, b) in bits.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        ReplId(out)
    }

    /// Returns an id expanded from a 64-bit seed with SplitMix64: handy for
    /// tests and simulations, where the same seed must give the same id.
    pub fn from_seed(seed: u64) -> ReplId {
        let mut state = seed;
        let mut bits = [0u8; 20];
        for chunk in bits.chunks_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        ReplId::from_random(bits)
    }

    /// Parses 40 hex characters (either case; stored lowercase).
    pub fn parse(text: &[u8]) -> Option<ReplId> {
        if text.len() != ReplId::LEN || !text.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut out = [0u8; ReplId::LEN];
        for (o, c) in out.iter_mut().zip(text) {
            *o = c.to_ascii_lowercase();
        }
        Some(ReplId(out))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a ReplId holds only hex digits")
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.as_str())
    }
}

/// A byte position in a stream: the number of bytes of framed records
/// produced before it (Redis's `master_repl_offset`, but 0-based: a replica
/// at offset `n` holds bytes `0..n` and asks for byte `n` next).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Offset(pub u64);

impl Offset {
    /// Returns the offset `bytes` further on. Panics on overflow: 2^64
    /// bytes of stream is an invariant violation, not an input.
    pub fn plus(self, bytes: u64) -> Offset {
        Offset(self.0.checked_add(bytes).expect("stream offset overflow"))
    }

    /// Returns the bytes from `earlier` to `self`; panics if `earlier` is later.
    pub fn since(self, earlier: Offset) -> u64 {
        self.0
            .checked_sub(earlier.0)
            .expect("offsets compared out of order")
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repl_id_from_seed_is_deterministic_hex() {
        let a = ReplId::from_seed(7);
        assert_eq!(a, ReplId::from_seed(7));
        assert_ne!(a, ReplId::from_seed(8));
        assert_eq!(a.as_str().len(), 40);
        assert!(a
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(ReplId::parse(a.as_bytes()), Some(a));
        assert_eq!(ReplId::parse(a.as_str().to_uppercase().as_bytes()), Some(a));
    }

    #[test]
    fn repl_id_parse_rejects_bad_text() {
        assert_eq!(ReplId::parse(b"?"), None);
        assert_eq!(ReplId::parse(&[b'a'; 39]), None);
        assert_eq!(ReplId::parse(&[b'g'; 40]), None);
        assert!(ReplId::parse(&[b'F'; 40]).is_some());
    }

    #[test]
    fn from_random_spells_the_bits() {
        let mut bits = [0u8; 20];
        bits[0] = 0xab;
        bits[19] = 0x01;
        let id = ReplId::from_random(bits);
        assert!(id.as_str().starts_with("ab00"));
        assert!(id.as_str().ends_with("0001"));
    }
}

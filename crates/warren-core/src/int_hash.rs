//! A hash for maps keyed by numbers the broker assigns itself (queue seqs, addresses).
//!
//! The default SipHash resists keys chosen to collide; no client chooses these keys, and on
//! the per-message path SipHash showed in profiles. One multiply by an odd constant spreads
//! sequential numbers and aligned addresses over the bits the table uses.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by broker-assigned integers.
pub(crate) type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// See the module documentation.
#[derive(Default)]
pub(crate) struct IntHasher(u64);

/// 2^64 divided by the golden ratio, odd: Fibonacci hashing.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(SPREAD);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(SPREAD);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keys_hash_apart_and_a_map_finds_them() {
        let mut map: IntMap<u64, u64> = IntMap::default();
        for n in 0..10_000 {
            map.insert(n, n * 2);
        }
        assert!((0..10_000).all(|n| map.get(&n) == Some(&(n * 2))));
        let hash = |n: u64| {
            let mut h = IntHasher::default();
            h.write_u64(n);
            h.finish()
        };
        // hashbrown picks buckets from the low bits and tags from the top seven.
        assert_ne!(hash(1) >> 57, hash(2) >> 57);
        assert_ne!(hash(1) & 0xff, hash(2) & 0xff);
    }
}

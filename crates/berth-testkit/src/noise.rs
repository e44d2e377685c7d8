//! Bytes that are nothing in particular, for tests that corrupt a file.

/// `len` bytes of deterministic noise from `seed` (xorshift64): no file header, no text.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    // xorshift never leaves 0, so a zero seed is moved off it.
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
        assert_eq!(noise(64, 1), noise(64, 1));
        assert_ne!(noise(64, 1), noise(64, 2));
        assert_eq!(noise(100, 0).len(), 100);
        // Not a constant run: at least a few distinct byte values.
        let mut seen = noise(256, 0);
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() > 16, "{seen:?}");
    }
}

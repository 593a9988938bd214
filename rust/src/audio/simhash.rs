//! Chromaprint's 32-bit SimHash of a fingerprint (`chromaprint_hash_fingerprint`, chromaprint.md 1.3).

/// Bit b is set when more than len/2 (integer division) items have bit b set.
pub fn simhash(items: &[u32]) -> u32 {
    let mut counts = [0usize; 32];
    for &x in items {
        for (b, c) in counts.iter_mut().enumerate() {
            *c += ((x >> b) & 1) as usize;
        }
    }
    let half = items.len() / 2;
    counts
        .iter()
        .enumerate()
        .fold(0, |h, (b, &c)| if c > half { h | (1 << b) } else { h })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::compress::decode;

    #[test]
    fn upstream_value() {
        // vectors/chromaprint/README.md: the 11 items of test_stereo_44100.raw read as mono
        // 44100 Hz hash to 3732003127.
        let (_, items) = decode("AQAAC0kkZUqYREkUnFAXHk8uuMZl6EfO4zu-4ABKFGESWIIMEQE").unwrap();
        assert_eq!(items.len(), 11);
        assert_eq!(simhash(&items), 3_732_003_127);
    }

    #[test]
    fn majority() {
        assert_eq!(simhash(&[]), 0);
        assert_eq!(simhash(&[0b101, 0b100, 0b001]), 0b101);
    }
}

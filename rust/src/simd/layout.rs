//! The interleaved code layout the kernels scan.
//!
//! Codes are stored in blocks of [`BLOCK`] codes. A code is cut into 64-bit
//! little-endian words (zero-padded), and block `b` holds word 0 of its eight
//! codes, then word 1 of its eight codes, and so on. One 512-bit load then
//! carries the same word of eight codes, so XOR, POPCNT and ADD give eight
//! distances with no horizontal reduction (the cost that dominates row-major
//! scans of 256-bit codes). Zero padding adds nothing to a distance, and the
//! padding codes of a partial last block are ignored by callers.

/// Codes per block.
pub const BLOCK: usize = 8;

/// 64-bit words per code of `code_len` bytes.
pub fn words_for(code_len: usize) -> usize {
    code_len.div_ceil(8)
}

/// `code` (row-major bytes) as zero-padded little-endian words.
pub fn pack_query(code: &[u8], words: usize) -> Vec<u64> {
    let mut out = vec![0u64; words];
    for (w, chunk) in out.iter_mut().zip(code.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    out
}

/// Index into a blocked array of word `w` of code `pos`.
#[inline]
pub fn slot(pos: usize, w: usize, words: usize) -> usize {
    (pos / BLOCK) * BLOCK * words + w * BLOCK + pos % BLOCK
}

/// Number of u64 a blocked array of `n` codes occupies.
pub fn blocked_len(n: usize, words: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK * words
}

/// Write `code` into position `pos` of a blocked array.
pub fn write_code(blocks: &mut [u64], pos: usize, code: &[u8], words: usize) {
    for (w, word) in pack_query(code, words).into_iter().enumerate() {
        blocks[slot(pos, w, words)] = word;
    }
}

/// Read code `pos` of a blocked array back as `code_len` bytes.
pub fn read_code(blocks: &[u64], pos: usize, code_len: usize) -> Vec<u8> {
    let words = words_for(code_len);
    let mut out = Vec::with_capacity(words * 8);
    for w in 0..words {
        out.extend_from_slice(&blocks[slot(pos, w, words)].to_le_bytes());
    }
    out.truncate(code_len);
    out
}

/// Row-major codes (`code_len` bytes each) to a new blocked array.
pub fn pack(codes: &[u8], code_len: usize) -> Vec<u64> {
    let n = codes.len() / code_len;
    let words = words_for(code_len);
    let mut out = vec![0u64; blocked_len(n, words)];
    for (pos, code) in codes.chunks_exact(code_len).enumerate() {
        write_code(&mut out, pos, code, words);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_read_round_trip() {
        for code_len in [1, 3, 8, 9, 32, 33, 64] {
            let n = 19;
            let codes: Vec<u8> = (0..n * code_len).map(|i| (i * 37 % 251) as u8).collect();
            let blocks = pack(&codes, code_len);
            for pos in 0..n {
                assert_eq!(
                    read_code(&blocks, pos, code_len),
                    &codes[pos * code_len..(pos + 1) * code_len]
                );
            }
        }
    }
}
